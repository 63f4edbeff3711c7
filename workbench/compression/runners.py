"""How a variant runs: torch and ONNX Runtime predict functions, sizes on disk, batched prediction."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workbench.compression.baseline import torch_threads
from workbench.compression.config import Variant
from workbench.compression.onnx import _numpy_feeds, _quiet
from workbench.hardware import model_device, onnxruntime_providers, usable_cores

# --------------------------------------------------------------------------------------------
# Building the variants


def _torch_runner(model, autocast=None):
    """``make(threads) -> predict``; ``autocast`` (a dtype) runs the forward under ``torch.autocast``.

    The feeds (numpy) go to the model's device and the logits come back to the CPU, so a model that
    fine-tuning left on a GPU runs there; autocast follows the same device.
    """
    import torch

    model.eval()
    dtype = next(model.parameters()).dtype
    device = model_device(model)

    def make(threads: int, fresh: bool = False):
        def predict(feeds: dict[str, np.ndarray]) -> np.ndarray:
            context = (torch.autocast(device.type, dtype=autocast) if autocast is not None
                       else contextlib.nullcontext())
            with torch.inference_mode(), context:
                return model(**torch_feeds(feeds, device)).logits.float().cpu().numpy()
        return predict
    make.dtype = dtype
    return make


def torch_feeds(feeds: dict[str, np.ndarray], device) -> dict:
    """Numpy feeds as torch tensors on ``device`` (the model's: :func:`workbench.hardware.model_device`).

    >>> torch_feeds({"input_ids": np.array([[1, 2]])}, "cpu")["input_ids"].device.type
    'cpu'
    """
    import torch

    return {k: torch.from_numpy(np.asarray(v)).to(device) for k, v in feeds.items()}


#: ONNX Runtime session settings every variant runs with (recorded in summary.json): one inter-op
#: thread, sequential execution, and no spinning, so idle pool threads do not steal the cores that
#: other processes (and the next timed variant) share.
ORT_SESSION_SETTINGS = {"inter_op_num_threads": 1, "execution_mode": "ORT_SEQUENTIAL",
                        "session.intra_op.allow_spinning": "0", "session.inter_op.allow_spinning": "0"}


def _ort_runner(path: Path, level: str = "ORT_ENABLE_ALL"):
    import onnxruntime as ort

    sessions: dict[int, Any] = {}

    def open_session(threads: int):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = ORT_SESSION_SETTINGS["inter_op_num_threads"]
        options.execution_mode = getattr(ort.ExecutionMode, ORT_SESSION_SETTINGS["execution_mode"])
        for key in ("session.intra_op.allow_spinning", "session.inter_op.allow_spinning"):
            options.add_session_config_entry(key, ORT_SESSION_SETTINGS[key])
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        options.log_severity_level = 3
        # CUDA where this ONNX Runtime build has it, CPU for the rest (and on CPU-only builds).
        return ort.InferenceSession(str(path), options, providers=onnxruntime_providers())

    def make(threads: int, fresh: bool = False):
        # A fresh session has an empty memory arena, so a memory measurement sees what a call needs.
        if fresh:
            session = open_session(threads)
        else:
            session = sessions[threads] = sessions.get(threads) or open_session(threads)
        names = {i.name for i in session.get_inputs()}

        def predict(feeds: dict[str, np.ndarray]) -> np.ndarray:
            return session.run(["logits"], {k: v for k, v in feeds.items() if k in names})[0]
        return predict
    return make


def _saved_size_mb(model, folder: Path) -> float:
    """Bytes of the weight files ``save_pretrained`` writes (tokenizer and config excluded), in MB."""
    with _quiet():
        model.save_pretrained(folder)
    return sum(p.stat().st_size for p in folder.iterdir() if p.suffix in (".safetensors", ".bin")) / 1e6


def _file_size_mb(path: Path) -> float:
    extra = path.with_name(path.name + ".data")
    return (path.stat().st_size + (extra.stat().st_size if extra.exists() else 0)) / 1e6



# --------------------------------------------------------------------------------------------
# Accuracy


def _length_sorted_batches(tokenizer, texts: Sequence[str], *, max_length: int, batch_size: int):
    """Encode once; batches of similar length (little padding), with the original positions."""
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    order = np.argsort([len(ids) for ids in encoded["input_ids"]], kind="stable")
    batches = []
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        rows = [{k: encoded[k][i] for k in encoded} for i in index]
        batches.append((index, _numpy_feeds(tokenizer.pad(rows, return_tensors="np"))))
    return batches


def predict_variant(variant: Variant, batches, n: int, *, threads: int | None = None) -> np.ndarray:
    """Logits of ``variant`` on pre-encoded ``batches`` (from length-sorted encoding), in input order."""
    predict = variant.runner(threads or usable_cores())
    logits = None
    with torch_threads(threads or 0):
        for index, feeds in batches:
            out = np.asarray(predict(feeds), dtype=np.float32)
            if logits is None:
                logits = np.zeros((n, out.shape[1]), dtype=np.float32)
            logits[index] = out
    return logits
