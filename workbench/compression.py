"""Compression ablations: quantization, pruning and distillation, measured on accuracy, latency and size.

From one fine-tuned classifier, :func:`build_variants` makes compressed copies, :func:`evaluate_variants`
scores them on a test split (accuracy, macro-F1, paired-bootstrap delta vs the baseline),
:func:`measure_variants` times them at fixed batch sizes, sequence lengths and thread counts, and
:func:`compression_table` joins both into one row per variant, from which :func:`recommend` picks the
fastest variant within an accuracy tolerance and :func:`plot_pareto` draws the trade-offs.

The libraries do the work: ``torch.onnx.export`` (TorchScript exporter) writes the ONNX graph,
``onnxruntime.transformers.optimizer`` fuses attention/LayerNorm/GELU, ``onnxruntime.quantization``
quantizes (dynamic, and static QDQ with MinMax / Entropy / Percentile calibration), ONNX Runtime runs
the graphs, ``torch.ao.quantization.quantize_dynamic`` gives the (deprecated upstream) torch int8 path,
``torch.nn.utils.prune`` does magnitude pruning, ``transformers.pytorch_utils.prune_linear_layer``
removes attention heads, and HF ``Trainer`` trains the distilled student and the quantization-aware
fine-tune. Latency comes from :func:`workbench.evaluation.measure_latency`.

Variant names say the method (see :data:`VARIANTS`); ``pruned_magnitude_<pct>`` and
``pruned_heads_<pct>`` take any percentage from 1 to 99.

>>> names = ["fp32_eager", "ort_int8_dynamic_per_channel"]
>>> variants = build_variants(model, tokenizer, names, data=data, workdir="work")   # doctest: +SKIP
>>> quality = evaluate_variants(variants, data["test"]["text"], data["test"]["label"])  # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench import hardware
from workbench._progress import progress_bar
from workbench._validation import check_choice, check_float, check_int, check_type
from workbench.errors import DataError, ParameterError, WorkbenchError, first_line
from workbench.hardware import usable_cores  # public here too: wb.usable_cores

__all__ = [
    "REFERENCE_POINTS",
    "VARIANTS",
    "build_variants",
    "calibration_texts",
    "compare_with_references",
    "compression_summary",
    "compression_table",
    "CompressionConfig",
    "default_cache_dir",
    "distill_student",
    "evaluate_variants",
    "export_onnx",
    "ExportError",
    "finetune_baseline",
    "fuse_onnx",
    "head_importance",
    "latency_feeds",
    "measure_variants",
    "pareto_front",
    "plot_pareto",
    "precision_probe",
    "predict_variant",
    "prune_heads",
    "prune_magnitude",
    "quantization_aware_finetune",
    "quantize_onnx_dynamic",
    "quantize_onnx_static",
    "recommend_variant",
    "torch_threads",
    "usable_cores",
    "Variant",
    "weight_sparsity",
]

#: Every fixed variant name and what it does. ``pruned_magnitude_<pct>`` / ``pruned_heads_<pct>``
#: accept any percentage in [1, 99] besides the ones listed.
VARIANTS: dict[str, str] = {
    "fp32_eager": "PyTorch eager, float32: the baseline every ratio is taken against",
    "bf16_eager": "PyTorch eager with weights and activations cast to bfloat16",
    "fp16_eager": "PyTorch eager with weights and activations cast to float16",
    "ort_fp32_basic": "ONNX export, ONNX Runtime float32 with basic graph optimizations",
    "ort_fp32_extended": "ONNX export, ONNX Runtime float32 with extended graph optimizations",
    "ort_fp32_all": "ONNX export, ONNX Runtime float32 with all graph optimizations",
    "ort_fp32_fused": "ONNX export + transformer fusion (attention, LayerNorm, GELU), ONNX Runtime float32",
    "ort_int8_dynamic_per_tensor": "ONNX Runtime dynamic int8: one scale per weight tensor",
    "ort_int8_dynamic_per_channel": "ONNX Runtime dynamic int8: per-channel weight scales, reduce_range",
    "ort_int8_static_minmax": "ONNX Runtime static int8 (QDQ), activations calibrated by MinMax",
    "ort_int8_static_entropy": "ONNX Runtime static int8 (QDQ), activations calibrated by Entropy (KL)",
    "ort_int8_static_percentile": "ONNX Runtime static int8 (QDQ), activations calibrated by Percentile",
    "torch_int8_dynamic": "torch.ao dynamic int8 Linear layers (torch.ao.quantization is deprecated upstream)",
    "pruned_magnitude_30": "30% of encoder Linear weights zeroed by global magnitude (dense storage)",
    "pruned_magnitude_50": "50% of encoder Linear weights zeroed by global magnitude (dense storage)",
    "pruned_magnitude_70": "70% of encoder Linear weights zeroed by global magnitude (dense storage)",
    "pruned_heads_25": "25% of attention heads removed, least important first (gradient importance)",
    "pruned_heads_50": "50% of attention heads removed, least important first (gradient importance)",
    "distilled_student": "small student trained on the teacher's softened logits and the labels",
    "qat_int8": "weight fake-quantization during a short fine-tune, then ONNX Runtime dynamic int8",
}
_PATTERNS = {"pruned_magnitude": re.compile(r"^pruned_magnitude_(\d{1,2})$"),
             "pruned_heads": re.compile(r"^pruned_heads_(\d{1,2})$")}
_STATIC_METHODS = {"ort_int8_static_minmax": "MinMax", "ort_int8_static_entropy": "Entropy",
                   "ort_int8_static_percentile": "Percentile"}
_ORT_LEVELS = {"ort_fp32_basic": "ORT_ENABLE_BASIC", "ort_fp32_extended": "ORT_ENABLE_EXTENDED",
               "ort_fp32_all": "ORT_ENABLE_ALL", "ort_fp32_fused": "ORT_ENABLE_ALL"}
BASELINE = "fp32_eager"

QUALITY_COLUMNS = ["variant", "method", "status", "reason", "note", "n", "accuracy", "accuracy_ci_low",
                   "accuracy_ci_high", "macro_f1", "delta_accuracy", "delta_ci_low", "delta_ci_high",
                   "delta_p_value", "agreement", "size_mb", "parameters", "build_seconds"]
LATENCY_COLUMNS = ["variant", "batch_size", "seq_len", "threads", "p50_ms", "p95_ms", "throughput_per_s",
                   "peak_mem_mb", "repeats", "status", "reason"]
TABLE_COLUMNS = ["variant", "method", "status", "reason", "note", "accuracy", "macro_f1", "delta_accuracy",
                 "delta_ci_low", "delta_ci_high", "agreement", "latency_ms_p50_b1", "latency_ms_p95_b1",
                 "speedup_b1", "throughput_b32", "size_mb", "size_ratio", "peak_mem_mb", "seq_len",
                 "threads_b1", "threads_b32"]
SUMMARY_KEYS = ("accuracy", "macro_f1", "delta_accuracy", "latency_ms_p50_b1", "latency_ms_p95_b1",
                "throughput_b32", "size_mb", "speedup_b1")


class ExportError(WorkbenchError, ValueError):
    """A model cannot be exported to ONNX (an operator without an ONNX equivalent, a bad forward, ...)."""


# --------------------------------------------------------------------------------------------
# Configuration and the variant record


@dataclass(frozen=True)
class CompressionConfig:
    """Knobs of the variants that need more than a name.

    Parameters
    ----------
    max_length : int
        Tokens per text for evaluation, calibration and training.
    calibration_size : int
        Texts fed through the graph to calibrate static int8 activations.
    calibration_batch_size : int
        Texts per calibration batch (padded to ``max_length``, as histogram calibration needs).
    importance_examples : int
        Labelled texts whose loss gradients rank attention heads.
    student : str
        ``"layers:N"`` keeps N evenly spaced teacher layers (DistilBERT-style initialisation), or a
        ``"tiny:..."`` spec (random initialisation, see :func:`workbench.models.parse_tiny_spec`).
    temperature, alpha : float
        Distillation temperature and the weight of the soft (teacher) loss; ``1 - alpha`` weighs the
        hard-label loss (Hinton et al. 2015).
    distill_epochs, distill_learning_rate : float
        Student training length and peak learning rate.
    distill_examples : int
        Training texts the student sees (0: all given).
    recovery_steps : int
        Fine-tuning steps after magnitude pruning, masks kept (0: none).
    qat_steps : int
        Fine-tuning steps with fake-quantized weights for ``qat_int8``.
    learning_rate : float
        Peak learning rate of the recovery and QAT fine-tunes.
    batch_size : int
        Training and evaluation batch size.
    num_threads : int
        Torch threads for the training and gradient steps (0: all usable cores). One thread is much
        faster for tiny models when other processes share the cores.
    seed : int
        Seeds calibration picks, training and student initialisation.

    Examples
    --------
    >>> CompressionConfig(calibration_size=32).calibration_size
    32
    """

    max_length: int = 128
    calibration_size: int = 64
    calibration_batch_size: int = 8
    importance_examples: int = 64
    student: str = "layers:2"
    temperature: float = 2.0
    alpha: float = 0.5
    distill_epochs: float = 1.0
    distill_learning_rate: float = 3e-4
    distill_examples: int = 0
    recovery_steps: int = 0
    qat_steps: int = 20
    learning_rate: float = 2e-5
    batch_size: int = 16
    num_threads: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        f = "CompressionConfig"
        check_int("max_length", self.max_length, f, low=8, high=8192)
        check_int("calibration_size", self.calibration_size, f, low=1)
        check_int("calibration_batch_size", self.calibration_batch_size, f, low=1)
        check_int("importance_examples", self.importance_examples, f, low=1)
        check_type("student", self.student, f, str)
        if not re.fullmatch(r"layers:\d+|tiny(:.*)?", self.student):
            raise ParameterError(f"The 'student' parameter of {f} must be 'layers:N' or 'tiny:key=value,...'. "
                                 f"Got {self.student!r} instead.")
        check_float("temperature", self.temperature, f, low=0.0, low_open=True, high=100.0)
        check_float("alpha", self.alpha, f, low=0.0, high=1.0)
        check_float("distill_epochs", self.distill_epochs, f, low=0.0, low_open=True)
        check_float("distill_learning_rate", self.distill_learning_rate, f, low=0.0, low_open=True, high=1.0)
        check_int("distill_examples", self.distill_examples, f, low=0, fix="Use 0 for all training texts.")
        check_int("recovery_steps", self.recovery_steps, f, low=0)
        check_int("qat_steps", self.qat_steps, f, low=1)
        check_float("learning_rate", self.learning_rate, f, low=0.0, low_open=True, high=1.0)
        check_int("batch_size", self.batch_size, f, low=1)
        check_int("num_threads", self.num_threads, f, low=0, fix="Use 0 for all usable cores.")
        check_int("seed", self.seed, f, low=0)


@dataclass
class Variant:
    """One compressed model: how to run it, what it weighs, and whether building it worked.

    ``runner(threads, fresh=False)`` returns ``predict(feeds) -> logits`` where ``feeds`` maps input
    names to int64 arrays; ONNX Runtime needs one session per thread count (cached, or a new one with
    ``fresh=True``), torch takes its threads from :func:`workbench.evaluation.measure_latency`. A variant that could not be built has
    ``status="failed"`` and a one-line ``reason``, and no runner.
    """

    name: str
    method: str
    status: str = "ok"
    reason: str = ""
    note: str = ""
    size_mb: float = float("nan")
    parameters: int | None = None
    build_seconds: float = float("nan")
    runner: Callable[[int], Callable[[dict[str, np.ndarray]], np.ndarray]] | None = None
    model: Any = None
    path: Path | None = None
    details: dict[str, Any] = field(default_factory=dict)


def check_variant_names(names: Iterable[str], func: str) -> list[str]:
    """Return ``names`` as a list if every one is a known variant, else raise naming the bad one."""
    names = list(names)
    if not names:
        raise ParameterError(f"The 'variants' parameter of {func} must name at least one variant. Got [] instead.")
    for name in names:
        check_type("variants", name, func, str)
        match = next((p.match(name) for p in _PATTERNS.values() if p.match(name)), None)
        if name not in VARIANTS and not (match and 1 <= int(match.group(1)) <= 99):
            raise ParameterError(
                f"The 'variants' parameter of {func} must hold names from workbench.compression.VARIANTS "
                f"({', '.join(VARIANTS)}) or pruned_magnitude_<1-99> / pruned_heads_<1-99>. "
                f"Got {name!r} instead.")
    if len(set(names)) != len(names):
        raise ParameterError(f"The 'variants' parameter of {func} must not repeat a name. Got {names} instead.")
    return names


def method_of(name: str) -> str:
    """The family a variant belongs to: precision, onnxruntime, quantization, pruning or distillation.

    >>> method_of("ort_int8_static_entropy"), method_of("pruned_heads_40")
    ('quantization', 'pruning')
    """
    if name.startswith(("pruned_",)):
        return "pruning"
    if "int8" in name:
        return "quantization"
    if name.startswith("ort_"):
        return "onnxruntime"
    if name == "distilled_student":
        return "distillation"
    return "precision"


# --------------------------------------------------------------------------------------------
# The baseline: a fine-tuned classifier, cached on disk


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/nlp-workbench/compression`` (``~/.cache/...`` by default), outside the repository."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "nlp-workbench" / "compression"


def finetune_baseline(data, *, model: str = "minilm", train_examples: int = 1000, validation_examples: int = 0,
                      epochs: float = 1.0, max_length: int = 128, learning_rate: float = 1e-4, seed: int = 0,
                      cache_dir: str | os.PathLike | None = None, num_threads: int = 0,
                      progress: bool = True) -> dict[str, Any]:
    """Fine-tune ``model`` on ``data`` with :func:`workbench.training.fine_tune`, or reuse a cached copy.

    The cache key hashes every parameter and the data set's content hash, so a changed parameter
    never reuses a stale model. The copy is written with ``save_pretrained`` into a temporary
    folder and renamed into place, so concurrent runs never read half a model.

    Parameters
    ----------
    data : datasets.DatasetDict
        From :func:`workbench.load_dataset`.
    model : str
        Anything :func:`workbench.models.load_model` accepts.
    train_examples, validation_examples : int
        Stratified subsamples of the train and validation splits (0: all).
    epochs, max_length, learning_rate, seed
        Fine-tuning settings (10% linear warm-up, batch size 16).
    cache_dir : path, optional
        Where fine-tuned copies are kept; None disables the cache (always fine-tunes).
    num_threads : int
        Torch threads while fine-tuning (0: all usable cores); the previous setting is restored.

    Returns
    -------
    dict
        ``model``, ``tokenizer``, ``label_names``, ``cached`` (bool), ``seconds``, ``key``, ``path``.

    Examples
    --------
    >>> base = finetune_baseline(data, model="tiny:num_layers=1,hidden_size=32", train_examples=64,
    ...                          max_length=32, cache_dir=None)   # doctest: +SKIP
    >>> base["cached"]   # doctest: +SKIP
    False
    """
    from workbench.data import dataset_info, subsample
    from workbench.models import load_model
    from workbench.training import TrainConfig, fine_tune

    func = "finetune_baseline"
    check_type("model", model, func, str)
    check_int("train_examples", train_examples, func, low=0, fix="Use 0 for the whole split.")
    check_int("validation_examples", validation_examples, func, low=0, fix="Use 0 for the whole split.")
    config = TrainConfig(learning_rate=learning_rate, num_epochs=epochs, max_length=max_length, batch_size=16,
                         warmup_ratio=0.1, logging_steps=5, seed=seed, progress=progress)
    info = dataset_info(data)
    label_names = list(info["label_names"])
    key_source = {"model": model, "train_examples": train_examples, "validation_examples": validation_examples,
                  "epochs": epochs, "max_length": max_length, "learning_rate": learning_rate, "seed": seed,
                  "data": info["hash"]}
    key = hashlib.sha256(json.dumps(key_source, sort_keys=True).encode()).hexdigest()[:16]
    start = time.perf_counter()
    folder = Path(cache_dir) / key if cache_dir is not None else None
    if folder is not None and (folder / "workbench_baseline.json").exists():
        network, tokenizer = load_model(str(folder), num_labels=len(label_names), label_names=label_names)
        return {"model": network.eval(), "tokenizer": tokenizer, "label_names": label_names, "cached": True,
                "seconds": time.perf_counter() - start, "key": key, "path": folder}
    small = subsample(data, split="train", n=train_examples, seed=seed)
    small = subsample(small, split="validation", n=validation_examples, seed=seed)
    network, tokenizer = load_model(model, num_labels=len(label_names), label_names=label_names, seed=seed)
    with torch_threads(num_threads):
        run = fine_tune(network, tokenizer, small, config)
    network = run.model.eval()
    if folder is not None:
        _save_atomic(network, tokenizer, folder, key_source)
    return {"model": network, "tokenizer": tokenizer, "label_names": label_names, "cached": False,
            "seconds": time.perf_counter() - start, "key": key, "path": folder}


def _save_atomic(model, tokenizer, folder: Path, meta: dict) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        with _quiet():
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        (tmp / "workbench_baseline.json").write_text(json.dumps(meta, indent=2))
        os.replace(tmp, folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # another run got there first, or the disk is full
        if not (folder / "workbench_baseline.json").exists():
            raise


# --------------------------------------------------------------------------------------------
# ONNX export and ONNX Runtime quantization


@contextlib.contextmanager
def _quiet():
    """Silence exporter/quantizer chatter (deprecation and tracer warnings, root-logger hints)."""
    from workbench.models import quiet_transformers

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        # The static calibrators print their progress to stdout; transformers shows a bar per save.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), quiet_transformers():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


@contextlib.contextmanager
def _native_output_silenced():
    """Send file descriptors 1 and 2 to /dev/null for a block.

    The TorchScript exporter's C++ logger dumps the whole traced graph (hundreds of lines) when an
    operator cannot be exported; its Python switch never turns that logger off, so only the
    descriptors can be quietened.
    """
    saved = []
    try:
        with open(os.devnull, "w") as sink:
            for fd in (1, 2):
                saved.append((fd, os.dup(fd)))
                os.dup2(sink.fileno(), fd)
            yield
    finally:
        for fd, copy_fd in saved:
            os.dup2(copy_fd, fd)
            os.close(copy_fd)


def _input_names(model, tokenizer) -> list[str]:
    import inspect

    accepted = set(inspect.signature(model.forward).parameters)
    sample = tokenizer(["a"], return_tensors="np")
    return [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in sample and name in accepted]


def export_onnx(model, tokenizer, path: str | os.PathLike, *, max_length: int = 128, opset: int = 17) -> Path:
    """Export a sequence classifier to one ONNX file with dynamic batch and sequence axes.

    ``torch.onnx.export`` with the TorchScript exporter (``dynamo=False``) does the work: it is
    several times faster than the dynamo exporter here and its graphs are the ones
    ``onnxruntime.transformers.optimizer`` knows how to fuse. The model is exported from a copy
    switched to eager attention (its graph fuses into ORT's ``Attention`` op); the caller's model is
    left untouched.

    Raises
    ------
    ExportError
        One line naming the model and the exporter's first complaint (an op without an ONNX
        equivalent, a forward that does not take ``input_ids``, ...).

    Examples
    --------
    >>> export_onnx(model, tokenizer, "model.onnx").suffix   # doctest: +SKIP
    '.onnx'
    """
    import torch

    func = "export_onnx"
    check_int("max_length", max_length, func, low=2)
    if not isinstance(model, torch.nn.Module):
        raise ExportError(f"The 'model' parameter of {func} must be a torch.nn.Module. "
                          f"Got {type(model).__name__} instead.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clone = copy.deepcopy(model).float().eval()
    with contextlib.suppress(Exception):  # models without the switch keep their attention
        clone.set_attn_implementation("eager")
    try:
        names = _input_names(clone, tokenizer)
        sample = tokenizer(["an example text for tracing"] * 2, padding="max_length", truncation=True,
                           max_length=min(16, max_length), return_tensors="pt")
        inputs = {name: sample[name] for name in names}
        axes = {name: {0: "batch", 1: "sequence"} for name in names} | {"logits": {0: "batch"}}
        with _quiet(), _native_output_silenced(), torch.inference_mode():
            torch.onnx.export(clone, (), str(path), kwargs=inputs, input_names=names, output_names=["logits"],
                              dynamic_axes=axes, opset_version=opset, dynamo=False)
    except Exception as error:  # the exporter raises many types; all mean "cannot export this model"
        path.unlink(missing_ok=True)
        raise ExportError(f"{type(model).__name__} cannot be exported to ONNX ({first_line(error)[:200]}). "
                          "Use a variant that runs in torch (fp32_eager, torch_int8_dynamic, pruned_*).") from None
    return path


def fuse_onnx(source: str | os.PathLike, target: str | os.PathLike, *, model_config) -> dict[str, int]:
    """Fuse attention, embedding LayerNorm, skip-LayerNorm and GELU with ``onnxruntime.transformers.optimizer``.

    Returns the fused-operator counts (non-zero ones) so a report can show what was fused.
    """
    from onnxruntime.transformers.optimizer import optimize_model

    with _quiet():
        optimized = optimize_model(str(source), model_type="bert", num_heads=model_config.num_attention_heads,
                                   hidden_size=model_config.hidden_size, opt_level=0)
        optimized.save_model_to_file(str(target))
    return {op: n for op, n in optimized.get_fused_operator_statistics().items() if n}


def quantize_onnx_dynamic(source: str | os.PathLike, target: str | os.PathLike, *, per_channel: bool = False,
                          reduce_range: bool = False) -> Path:
    """Dynamic int8 (weights int8 offline, activations quantized per call) with ``onnxruntime.quantization``.

    ``reduce_range`` keeps weights to 7 bits, which avoids int16 overflow in the u8s8 kernels of CPUs
    without VNNI (ONNX Runtime's own advice for AVX2 machines).

    >>> quantize_onnx_dynamic("model.onnx", "model.int8.onnx", per_channel=True)   # doctest: +SKIP
    PosixPath('model.int8.onnx')
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet():
        # Fused graphs hold com.microsoft ops that shape inference cannot type; float is right for them.
        quantize_dynamic(str(source), str(target), per_channel=per_channel, reduce_range=reduce_range,
                         weight_type=QuantType.QInt8, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    return Path(target)


def quantize_onnx_static(source: str | os.PathLike, target: str | os.PathLike, tokenizer, texts: Sequence[str], *,
                         method: str = "MinMax", calibration_size: int = 64, max_length: int = 128,
                         batch_size: int = 8, seed: int = 0) -> Path:
    """Static int8 in QDQ format, activation ranges calibrated on ``calibration_size`` texts.

    ``onnxruntime.quantization.quantize_static`` does the work with a ``CalibrationDataReader`` that
    feeds batches padded to ``max_length`` (histogram calibrators need one shape throughout).
    MatMul and Gather (the embeddings) are quantized; weights per channel with 7-bit range, activations
    uint8.

    Parameters
    ----------
    texts : sequence of str
        Pool the calibration texts are drawn from (without replacement, seeded).
    method : {"MinMax", "Entropy", "Percentile"}
        ONNX Runtime's ``CalibrationMethod``.

    Raises
    ------
    ParameterError
        ``calibration_size`` larger than ``texts``.
    """
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    func = "quantize_onnx_static"
    check_choice("method", method, func, ("MinMax", "Entropy", "Percentile"))
    chosen = calibration_texts(texts, calibration_size, seed=seed, func=func)

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = [_numpy_feeds(tokenizer(chosen[i:i + batch_size], truncation=True, padding="max_length",
                                                   max_length=max_length, return_tensors="np"))
                            for i in range(0, len(chosen), batch_size)]
            self.rewind()

        def get_next(self):
            return next(self._iter, None)

        def rewind(self) -> None:
            self._iter = iter(self.batches)

    reader = _Reader()
    session_inputs = _onnx_input_names(source)
    reader.batches = [{k: v for k, v in batch.items() if k in session_inputs} for batch in reader.batches]
    reader.rewind()
    with _quiet():
        quantize_static(str(source), str(target), reader, quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=["MatMul", "Gather"], per_channel=True, reduce_range=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=getattr(CalibrationMethod, method))
    return Path(target)


def calibration_texts(texts: Sequence[str], size: int, *, seed: int = 0, func: str = "calibration_texts") -> list[str]:
    """``size`` texts drawn from ``texts`` without replacement, seeded; an error if there are fewer.

    >>> calibration_texts(["a", "b", "c"], 2, seed=0)
    ['b', 'c']
    """
    texts = list(texts)
    check_int("calibration_size", size, func, low=1)
    if size > len(texts):
        raise ParameterError(
            f"The 'calibration_size' parameter of {func} must be at most the number of calibration texts "
            f"({len(texts)}). Got {size} instead. Lower calibration_size or pass more data.")
    picks = np.random.default_rng(seed).choice(len(texts), size=size, replace=False)
    return [texts[i] for i in picks]


def _onnx_input_names(path) -> set[str]:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {init.name for init in graph.initializer}
    return {i.name for i in graph.input if i.name not in initializers}


def _numpy_feeds(encoding) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=np.int64) for k, v in encoding.items()}


# --------------------------------------------------------------------------------------------
# Pruning


def _encoder_linears(model) -> list:
    import torch

    base = getattr(model, "base_model", model)
    encoder = getattr(base, "encoder", base)
    return [m for m in encoder.modules() if isinstance(m, torch.nn.Linear)]


def prune_magnitude(model, amount: float):
    """A copy of ``model`` with the smallest-magnitude ``amount`` of encoder Linear weights set to zero.

    ``torch.nn.utils.prune.global_unstructured`` with L1 magnitude ranks all encoder Linear weights
    together (layers that matter less lose more), then ``prune.remove`` makes the zeros permanent.
    Storage stays dense: the model is not smaller or faster unless a sparse kernel or a compressor is used.

    >>> pruned = prune_magnitude(model, 0.5)      # doctest: +SKIP
    >>> round(weight_sparsity(pruned), 3)                 # doctest: +SKIP
    0.5
    """
    from torch.nn.utils import prune

    check_float("amount", amount, "prune_magnitude", low=0.0, high=1.0, high_open=True)
    pruned = copy.deepcopy(model)
    targets = [(module, "weight") for module in _encoder_linears(pruned)]
    if not targets:
        raise ParameterError("The 'model' parameter of prune_magnitude must have Linear layers in an encoder. "
                             f"Got {type(model).__name__} with none.")
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=float(amount))
    for module, name in targets:
        prune.remove(module, name)
    return pruned


def _apply_pruning_masks(model, amount: float) -> list:
    """Global magnitude masks kept as reparametrizations (for a recovery fine-tune); returns the targets."""
    from torch.nn.utils import prune

    targets = [(module, "weight") for module in _encoder_linears(model)]
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=float(amount))
    return targets


def weight_sparsity(model) -> float:
    """Fraction of exactly-zero weights over the encoder's Linear layers.

    >>> weight_sparsity(prune_magnitude(model, 0.3))   # doctest: +SKIP
    0.3
    """
    linears = _encoder_linears(model)
    zeros = sum(int((m.weight == 0).sum()) for m in linears)
    total = sum(m.weight.numel() for m in linears)
    return zeros / total if total else 0.0


def _attention_modules(model) -> list:
    """Attention blocks shaped like BERT's: ``.self`` (query/key/value) and ``.output.dense``."""
    return [module for module in model.modules()
            if hasattr(getattr(module, "self", None), "query") and hasattr(getattr(module, "output", None), "dense")]


def head_importance(model, tokenizer, texts: Sequence[str], labels: Sequence[int], *, max_length: int = 128,
                    batch_size: int = 16) -> pd.DataFrame:
    """Importance of every attention head: the summed ``|dLoss/dmask_h|`` of Michel et al. (2019).

    A mask of ones multiplies each head's context vectors (a forward pre-hook on the attention
    output projection); the absolute gradient of the classification loss with respect to it,
    summed over the examples and normalised per layer (L2), estimates how much the loss would move
    if the head were removed.

    Returns
    -------
    pandas.DataFrame
        Columns ``layer``, ``head``, ``importance``; one row per head.

    Examples
    --------
    >>> head_importance(model, tok, ["good", "bad"], [0, 1]).columns.tolist()   # doctest: +SKIP
    ['layer', 'head', 'importance']
    """
    import torch

    func = "head_importance"
    texts, labels = list(texts), list(labels)
    if not texts or len(texts) != len(labels):
        raise DataError(f"The 'texts' and 'labels' parameters of {func} must be non-empty and of equal length. "
                        f"Got {len(texts)} texts and {len(labels)} labels instead.")
    blocks = _attention_modules(model)
    if not blocks:
        raise ParameterError(f"The 'model' parameter of {func} must have BERT-style attention blocks. "
                             f"Got {type(model).__name__} instead.")
    masks = [torch.ones(b.self.num_attention_heads, requires_grad=True) for b in blocks]
    hooks = []
    for block, mask in zip(blocks, masks):
        size = block.self.attention_head_size

        def scale(module, args, mask=mask, size=size):
            context = args[0]
            shaped = context.view(*context.shape[:-1], -1, size) * mask[:, None]
            return (shaped.view(context.shape), *args[1:])
        hooks.append(block.output.register_forward_pre_hook(scale))
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start:start + batch_size], truncation=True, max_length=max_length,
                              padding=True, return_tensors="pt")
            target = torch.as_tensor(labels[start:start + batch_size])
            loss = model(**batch, labels=target).loss
            loss.backward()
    finally:
        for hook in hooks:
            hook.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    rows = []
    for layer, mask in enumerate(masks):
        scores = mask.grad.abs() if mask.grad is not None else torch.zeros_like(mask)
        scores = scores / (scores.norm() + 1e-12)
        rows += [{"layer": layer, "head": h, "importance": float(s)} for h, s in enumerate(scores)]
    return pd.DataFrame(rows, columns=["layer", "head", "importance"])


def prune_heads(model, importance: pd.DataFrame, amount: float):
    """A copy of ``model`` without the ``amount`` least important heads (at least one kept per layer).

    ``transformers.pytorch_utils.prune_linear_layer`` slices query/key/value rows and the output
    projection's columns, so the model really gets smaller and faster.

    Returns
    -------
    tuple
        ``(pruned_model, removed)`` where ``removed`` maps layer index -> list of removed heads.
    """
    import torch
    from transformers.pytorch_utils import prune_linear_layer

    check_float("amount", amount, "prune_heads", low=0.0, high=1.0, high_open=True)
    pruned = copy.deepcopy(model)
    blocks = _attention_modules(pruned)
    n_remove = int(round(amount * len(importance)))
    removed: dict[int, list[int]] = {layer: [] for layer in range(len(blocks))}
    for row in importance.sort_values(["importance", "layer", "head"]).itertuples():
        if n_remove == 0:
            break
        heads = blocks[row.layer].self.num_attention_heads
        if len(removed[row.layer]) < heads - 1:
            removed[row.layer].append(int(row.head))
            n_remove -= 1
    for layer, heads in removed.items():
        if not heads:
            continue
        attention = blocks[layer]
        size = attention.self.attention_head_size
        keep = [h for h in range(attention.self.num_attention_heads) if h not in heads]
        index = torch.cat([torch.arange(h * size, (h + 1) * size) for h in keep])
        for name in ("query", "key", "value"):
            setattr(attention.self, name, prune_linear_layer(getattr(attention.self, name), index))
        attention.output.dense = prune_linear_layer(attention.output.dense, index, dim=1)
        attention.self.num_attention_heads = len(keep)
        attention.self.all_head_size = len(keep) * size
    return pruned, {layer: sorted(heads) for layer, heads in removed.items() if heads}


# --------------------------------------------------------------------------------------------
# Distillation and quantization-aware training


def _student_model(teacher, spec: str, *, num_labels: int, tokenizer, seed: int):
    """A student from ``"layers:N"`` (teacher layers, evenly spaced) or a ``"tiny:..."`` spec."""
    from workbench.models import load_model

    if spec.startswith("tiny"):
        student, _ = load_model(spec, num_labels=num_labels, tokenizer=tokenizer, seed=seed)
        student.config.id2label, student.config.label2id = teacher.config.id2label, teacher.config.label2id
        return student
    n_layers = int(spec.split(":")[1])
    layers = _encoder_layer_list(teacher)
    if not 1 <= n_layers <= len(layers):
        raise ParameterError(f"The 'student' parameter must keep 1 to {len(layers)} teacher layers. "
                             f"Got {spec!r} instead.")
    student = copy.deepcopy(teacher)
    kept = sorted({int(round(i)) for i in np.linspace(0, len(layers) - 1, n_layers)})
    student_layers = _encoder_layer_list(student)
    del student_layers[len(kept):]
    for position, index in enumerate(kept):
        student_layers[position] = copy.deepcopy(layers[index])
    student.config.num_hidden_layers = len(kept)
    return student


def _encoder_layer_list(model):
    base = getattr(model, "base_model", model)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if layers is None:
        raise ParameterError(f"The teacher must have an encoder with a 'layer' list (BERT-style). "
                             f"Got {type(model).__name__} instead. Use a 'tiny:...' student.")
    return layers


def distill_student(teacher, tokenizer, train, *, student: str = "layers:2", temperature: float = 2.0,
                    alpha: float = 0.5, epochs: float = 1.0, learning_rate: float = 3e-4, max_length: int = 128,
                    batch_size: int = 16, seed: int = 0, progress: bool = False):
    """Train a small student on the teacher's softened logits and the gold labels (Hinton et al. 2015).

    The loss is ``alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, y)``; the
    teacher's logits are computed once before training (texts batched by length). HF ``Trainer`` runs
    the loop (a subclass overrides ``compute_loss``; length-grouped batches keep padding low).

    Parameters
    ----------
    teacher, tokenizer
        The fine-tuned classifier and its tokenizer (the student shares the tokenizer).
    train : datasets.Dataset
        ``text`` and ``label`` columns.
    student : str
        ``"layers:N"`` copies N evenly spaced teacher layers (DistilBERT's initialisation; embeddings
        and head copied too) or ``"tiny:..."`` builds a random small encoder.

    Examples
    --------
    >>> small = distill_student(teacher, tok, data["train"], student="layers:1")  # doctest: +SKIP
    >>> small.config.num_hidden_layers   # doctest: +SKIP
    1
    """
    import torch
    import torch.nn.functional as F
    from transformers import DataCollatorWithPadding, PrinterCallback, Trainer, TrainingArguments

    from workbench.models import quiet_transformers
    from workbench.training import tokenize_split

    func = "distill_student"
    check_float("temperature", temperature, func, low=0.0, low_open=True, high=100.0)
    check_float("alpha", alpha, func, low=0.0, high=1.0)
    check_float("epochs", epochs, func, low=0.0, low_open=True)
    if len(train) == 0:
        raise DataError(f"The 'train' parameter of {func} must hold at least one example. Got 0 instead.")
    model = _student_model(teacher, student, num_labels=teacher.config.num_labels, tokenizer=tokenizer, seed=seed)
    texts = list(train["text"])
    batches = _length_sorted_batches(tokenizer, texts, max_length=max_length, batch_size=32)
    teacher_variant = Variant(name="teacher", method="precision", runner=_torch_runner(teacher))
    soft = predict_variant(teacher_variant, batches, len(texts), threads=torch.get_num_threads())
    dataset = tokenize_split(train, tokenizer, max_length=max_length).add_column("teacher_logits", soft.tolist())

    class _DistillationTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            target = inputs.pop("teacher_logits")
            outputs = model(**inputs)
            kd = F.kl_div(F.log_softmax(outputs.logits / temperature, dim=-1),
                          F.softmax(target / temperature, dim=-1), reduction="batchmean") * temperature ** 2
            loss = alpha * kd + (1 - alpha) * outputs.loss
            return (loss, outputs) if return_outputs else loss

    with tempfile.TemporaryDirectory(prefix="workbench-distill-") as workdir:
        args = TrainingArguments(output_dir=workdir, learning_rate=learning_rate, num_train_epochs=epochs,
                                 per_device_train_batch_size=batch_size, warmup_steps=0.1, seed=seed,
                                 data_seed=seed, save_strategy="no", eval_strategy="no", report_to="none",
                                 disable_tqdm=not progress, logging_strategy="no", remove_unused_columns=False,
                                 train_sampling_strategy="group_by_length",  # similar lengths: little padding
                                 dataloader_pin_memory=False, use_cpu=not hardware.cuda_available())
        trainer = _DistillationTrainer(model=model, args=args, train_dataset=dataset,
                                       data_collator=DataCollatorWithPadding(tokenizer))
        trainer.remove_callback(PrinterCallback)  # it would print the final metrics dict
        with quiet_transformers():
            trainer.train()
    return trainer.model.eval()


def _fake_quant_parametrization(bits: int):
    """A module for ``parametrize``: symmetric per-output-channel fake quantization (STE gradient)."""
    import torch

    class FakeQuantWeight(torch.nn.Module):
        def forward(self, weight):
            qmax = 2 ** (bits - 1) - 1
            scale = weight.detach().abs().amax(dim=1).clamp(min=1e-8) / qmax
            zero = torch.zeros(weight.shape[0], dtype=torch.int32, device=weight.device)
            return torch.fake_quantize_per_channel_affine(weight, scale, zero, 0, -qmax - 1, qmax)
    return FakeQuantWeight()


def quantization_aware_finetune(model, tokenizer, data, *, steps: int = 20, learning_rate: float = 2e-5,
                                max_length: int = 128, batch_size: int = 16, seed: int = 0):
    """A copy of ``model`` fine-tuned with fake-quantized Linear weights, the grid left in its weights.

    Weights are fake-quantized per output channel on the 7-bit symmetric grid that
    ``quantize_onnx_dynamic(per_channel=True, reduce_range=True)`` uses at deployment; activations
    are left to dynamic quantization at run time, so this is weight-only QAT. torch's
    ``fake_quantize_per_channel_affine`` passes straight-through gradients; HF ``Trainer`` (through
    :func:`workbench.training.fine_tune`) runs the steps; ``torch.nn.utils.parametrize`` keeps the
    quantized view during training and bakes it in afterwards.
    """
    from torch.nn.utils import parametrize

    from workbench.training import TrainConfig, fine_tune

    check_int("steps", steps, "quantization_aware_finetune", low=1)
    qat = copy.deepcopy(model).train()
    linears = _encoder_linears(qat)
    for module in linears:
        parametrize.register_parametrization(module, "weight", _fake_quant_parametrization(7))
    config = TrainConfig(learning_rate=learning_rate, max_steps=steps, max_length=max_length, batch_size=batch_size,
                         seed=seed, progress=False, logging_steps=max(1, steps // 4))
    result = fine_tune(qat, tokenizer, data, config)
    for module in linears:
        parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return result.model.eval()


# --------------------------------------------------------------------------------------------
# Building the variants


def _torch_runner(model):
    import torch

    model.eval()
    dtype = next(model.parameters()).dtype

    def make(threads: int, fresh: bool = False):
        def predict(feeds: dict[str, np.ndarray]) -> np.ndarray:
            with torch.inference_mode():
                return model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).logits.float().numpy()
        return predict
    make.dtype = dtype
    return make


def _ort_runner(path: Path, level: str = "ORT_ENABLE_ALL"):
    import onnxruntime as ort

    sessions: dict[int, Any] = {}

    def open_session(threads: int):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        options.log_severity_level = 3
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

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


@contextlib.contextmanager
def torch_threads(count: int = 0):
    """Run a block with ``count`` torch threads (0: all usable cores), restoring the previous setting."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count or usable_cores())
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def build_variants(model, tokenizer, variants: Sequence[str], *, data, workdir: str | os.PathLike | None = None,
                   config: CompressionConfig | None = None, progress: bool = True) -> dict[str, Variant]:
    """Build every requested variant of ``model``; a failure becomes a ``failed`` variant, never an exception.

    Parameters
    ----------
    model, tokenizer
        The fine-tuned classifier (its weights are never modified).
    variants : sequence of str
        Names from :data:`VARIANTS` (or ``pruned_magnitude_<pct>`` / ``pruned_heads_<pct>``);
        ``fp32_eager`` is added first when missing, as every ratio needs it.
    data : datasets.DatasetDict
        ``train`` (distillation, recovery and QAT) and ``validation`` (calibration and head
        importance) splits with ``text`` and ``label``.
    workdir : path, optional
        Where ONNX files and saved weights go (sizes are measured there). Default: a temporary
        folder removed when the interpreter exits (ONNX Runtime sessions for new thread counts
        are opened from these files, so they must outlive the build).
    config : CompressionConfig

    Returns
    -------
    dict
        Name -> :class:`Variant`, in the order requested.

    Raises
    ------
    ParameterError
        Unknown variant names, or a calibration/importance size larger than the validation split,
        checked before any work starts.
    """
    func = "build_variants"
    names = check_variant_names(variants, func)
    if BASELINE not in names:
        names = [BASELINE, *names]
    config = config or CompressionConfig()
    check_type("config", config, func, CompressionConfig)
    for split in ("train", "validation"):
        if split not in data:
            raise DataError(f"The 'data' parameter of {func} must have a {split!r} split. Got {list(data)} instead.")
    pool = list(data["validation"]["text"])
    if any(n in _STATIC_METHODS for n in names):
        calibration_texts(pool, config.calibration_size, func=func)  # fail early, before any export
    if any(n.startswith("pruned_heads") for n in names) and config.importance_examples > len(pool):
        raise ParameterError(
            f"The 'importance_examples' setting of {func} must be at most the validation split's size "
            f"({len(pool)}). Got {config.importance_examples} instead. Lower it or pass more data.")
    if workdir is None:
        workdir = tempfile.mkdtemp(prefix="workbench-compression-")
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    builder = _Builder(model, tokenizer, data, workdir, config)
    built: dict[str, Variant] = {}
    for name in progress_bar(names, desc="variants", disable=not progress):
        start = time.perf_counter()
        try:
            with torch_threads(config.num_threads):
                variant = builder.build(name)
        except Exception as error:  # a variant that cannot be built is a result, not a crash
            variant = Variant(name=name, method=method_of(name), status="failed",
                              reason=f"{type(error).__name__}: {first_line(error)[:240]}")
        variant.build_seconds = time.perf_counter() - start
        built[name] = variant
    return built


class _Builder:
    """Builds variants one by one, sharing the ONNX export and head importance between them."""

    def __init__(self, model, tokenizer, data, workdir: Path, config: CompressionConfig) -> None:
        self.model, self.tokenizer, self.data = model.eval(), tokenizer, data
        self.workdir, self.config = workdir, config
        self._cache: dict[str, Any] = {}

    def _once(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def _onnx(self) -> Path:
        return self._once("onnx", lambda: export_onnx(self.model, self.tokenizer, self.workdir / "fp32.onnx",
                                                      max_length=self.config.max_length))

    def _torch(self, name: str, model, **extra) -> Variant:
        from workbench.models import count_parameters

        size = _saved_size_mb(model, self.workdir / name)
        return Variant(name=name, method=method_of(name), size_mb=size, runner=_torch_runner(model), model=model,
                       parameters=count_parameters(model)["total"], **extra)

    def _ort(self, name: str, path: Path, level: str = "ORT_ENABLE_ALL", **extra) -> Variant:
        runner = _ort_runner(path, level)
        runner(1)  # load once now: a graph ONNX Runtime cannot run fails here, as a build failure
        return Variant(name=name, method=method_of(name), size_mb=_file_size_mb(path), runner=runner, path=path,
                       **extra)

    def build(self, name: str) -> Variant:
        family = next(prefix for prefix in self._BUILDERS if name == prefix or name.startswith(prefix + "_"))
        return getattr(self, self._BUILDERS[family])(name)

    # Name (or name prefix) -> builder method; check_variant_names has already vetted the name.
    _BUILDERS = {"fp32_eager": "_fp32", "bf16_eager": "_cast", "fp16_eager": "_cast", "ort_fp32": "_ort_fp32",
                 "ort_int8_dynamic": "_dynamic", "ort_int8_static": "_static", "torch_int8_dynamic": "_torch_int8",
                 "pruned_magnitude": "_magnitude", "pruned_heads": "_heads", "distilled_student": "_student",
                 "qat_int8": "_qat"}

    def _fp32(self, name: str) -> Variant:
        return self._torch(name, self.model)

    def _cast(self, name: str) -> Variant:
        import torch

        dtype = torch.bfloat16 if name == "bf16_eager" else torch.float16
        native = hardware.cpu_has_native_bf16() if dtype is torch.bfloat16 else hardware.cuda_available()
        note = "" if native else "no native support on this CPU: emulated, expect it slower than fp32"
        return self._torch(name, copy.deepcopy(self.model).to(dtype), note=note)

    def _ort_fp32(self, name: str) -> Variant:
        if name != "ort_fp32_fused":
            return self._ort(name, self._onnx(), _ORT_LEVELS[name])
        path = self.workdir / "fp32_fused.onnx"
        fused = self._once("fused", lambda: fuse_onnx(self._onnx(), path, model_config=self.model.config))
        return self._ort(name, path, note="fused: " + ", ".join(f"{op} x{n}" for op, n in fused.items()))

    def _dynamic(self, name: str) -> Variant:
        per_channel = name.endswith("per_channel")
        path = quantize_onnx_dynamic(self._onnx(), self.workdir / f"{name}.onnx", per_channel=per_channel,
                                     reduce_range=per_channel)
        return self._ort(name, path, note="reduce_range" if per_channel else "")

    def _static(self, name: str) -> Variant:
        cfg = self.config
        path = quantize_onnx_static(self._onnx(), self.workdir / f"{name}.onnx", self.tokenizer,
                                    list(self.data["validation"]["text"]), method=_STATIC_METHODS[name],
                                    calibration_size=cfg.calibration_size, max_length=cfg.max_length,
                                    batch_size=cfg.calibration_batch_size, seed=cfg.seed)
        return self._ort(name, path, note=f"QDQ, {cfg.calibration_size} calibration texts")

    def _torch_int8(self, name: str) -> Variant:
        import torch

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            quantized = torch.ao.quantization.quantize_dynamic(copy.deepcopy(self.model), {torch.nn.Linear},
                                                               dtype=torch.qint8)
        deprecated = any("deprecat" in str(w.message).lower() for w in caught)
        folder = self.workdir / name
        folder.mkdir(exist_ok=True)
        torch.save(quantized.state_dict(), folder / "model.bin")  # packed int8 weights; save_pretrained cannot
        return Variant(name=name, method=method_of(name), size_mb=(folder / "model.bin").stat().st_size / 1e6,
                       runner=_torch_runner(quantized), model=quantized,
                       note="torch.ao.quantization warns it is deprecated" if deprecated else "")

    def _magnitude(self, name: str) -> Variant:
        amount = int(_PATTERNS["pruned_magnitude"].match(name).group(1)) / 100
        steps = self.config.recovery_steps
        pruned = self._recover(amount) if steps else prune_magnitude(self.model, amount)
        zeros = weight_sparsity(pruned)
        note = f"sparsity {zeros:.3f}, " + (f"{steps} recovery steps" if steps else "no recovery fine-tune")
        return self._torch(name, pruned, note=note, details={"sparsity": zeros})

    def _heads(self, name: str) -> Variant:
        amount = int(_PATTERNS["pruned_heads"].match(name).group(1)) / 100
        importance = self._once("importance", self._head_importance)
        pruned, removed = prune_heads(self.model, importance, amount)
        note = f"{sum(map(len, removed.values()))} of {len(importance)} heads removed"
        return self._torch(name, pruned, note=note, details={"removed_heads": removed})

    def _student(self, name: str) -> Variant:
        cfg, train = self.config, self.data["train"]
        if cfg.distill_examples:
            train = train.select(range(min(cfg.distill_examples, len(train))))
        student = distill_student(self.model, self.tokenizer, train, student=cfg.student, temperature=cfg.temperature,
                                  alpha=cfg.alpha, epochs=cfg.distill_epochs, learning_rate=cfg.distill_learning_rate,
                                  max_length=cfg.max_length, batch_size=cfg.batch_size, seed=cfg.seed)
        return self._torch(name, student, note=f"student {cfg.student}, T={cfg.temperature:g}, alpha={cfg.alpha:g}")

    def _qat(self, name: str) -> Variant:
        cfg = self.config
        qat = quantization_aware_finetune(self.model, self.tokenizer, self.data, steps=cfg.qat_steps,
                                          learning_rate=cfg.learning_rate, max_length=cfg.max_length,
                                          batch_size=cfg.batch_size, seed=cfg.seed)
        exported = export_onnx(qat, self.tokenizer, self.workdir / "qat_fp32.onnx", max_length=cfg.max_length)
        path = quantize_onnx_dynamic(exported, self.workdir / "qat_int8.onnx", per_channel=True, reduce_range=True)
        return self._ort(name, path, note=f"{cfg.qat_steps} fake-quant steps, weight-only")

    def _head_importance(self) -> pd.DataFrame:
        validation = self.data["validation"]
        picks = np.random.default_rng(self.config.seed).choice(len(validation), self.config.importance_examples,
                                                               replace=False)
        rows = validation.select(sorted(picks.tolist()))
        return head_importance(self.model, self.tokenizer, list(rows["text"]), list(rows["label"]),
                               max_length=self.config.max_length, batch_size=self.config.batch_size)

    def _recover(self, amount: float):
        from torch.nn.utils import prune

        from workbench.training import TrainConfig, fine_tune

        pruned = copy.deepcopy(self.model)
        targets = _apply_pruning_masks(pruned, amount)
        cfg = self.config
        fine_tune(pruned, self.tokenizer, self.data,
                  TrainConfig(learning_rate=cfg.learning_rate, max_steps=cfg.recovery_steps, max_length=cfg.max_length,
                              batch_size=cfg.batch_size, seed=cfg.seed, progress=False))
        for module, name in targets:
            prune.remove(module, name)
        return pruned.eval()


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


def evaluate_variants(variants: dict[str, Variant], texts: Sequence[str], labels: Sequence[int], *, tokenizer,
                      label_names: Sequence[str] | None = None, max_length: int = 128, batch_size: int = 32,
                      n_resamples: int = 1000, seed: int = 0, threads: int = 0,
                      progress: bool = True) -> pd.DataFrame:
    """Accuracy, macro-F1 and the paired-bootstrap delta vs ``fp32_eager`` of every variant.

    All variants see the same texts, encoded once and batched by length (dynamic padding).
    ``delta_accuracy`` is a fraction (0.01 = 1 point) with the 95% interval and two-sided p-value of
    :func:`workbench.evaluation.paired_bootstrap_test`; ``agreement`` is the share of predictions
    equal to the baseline's. ``threads`` fixes torch's and ONNX Runtime's threads (0: all usable cores).

    Returns
    -------
    pandas.DataFrame
        One row per variant with :data:`QUALITY_COLUMNS`.
    """
    from workbench.evaluation import bootstrap_ci, classification_metrics, paired_bootstrap_test

    func = "evaluate_variants"
    texts, labels = list(texts), np.asarray(list(labels))
    if not texts or len(texts) != len(labels):
        raise DataError(f"The 'texts' and 'labels' parameters of {func} must be non-empty and of equal length. "
                        f"Got {len(texts)} texts and {len(labels)} labels instead.")
    if BASELINE not in variants or variants[BASELINE].status != "ok":
        raise ParameterError(f"The 'variants' parameter of {func} must hold a working {BASELINE!r} variant, "
                             "the reference for every delta. Build it with build_variants.")
    check_int("n_resamples", n_resamples, func, low=1)
    batches = _length_sorted_batches(tokenizer, texts, max_length=max_length, batch_size=batch_size)
    predictions: dict[str, np.ndarray] = {}
    rows = []
    for name, variant in progress_bar(list(variants.items()), desc="accuracy", disable=not progress):
        row = {"variant": name, "method": variant.method, "status": variant.status, "reason": variant.reason,
               "note": variant.note, "n": len(texts), "size_mb": variant.size_mb, "parameters": variant.parameters,
               "build_seconds": variant.build_seconds}
        if variant.status == "ok":
            try:
                predictions[name] = predict_variant(variant, batches, len(texts), threads=threads).argmax(axis=1)
            except Exception as error:  # e.g. an op ONNX Runtime has no kernel for at this shape
                row.update(status="failed", reason=f"{type(error).__name__}: {first_line(error)[:240]}")
        if name in predictions:
            pred, base = predictions[name], predictions[BASELINE]
            metrics = classification_metrics(labels, pred, label_names=label_names)
            low, high = bootstrap_ci(labels, pred, n_resamples=n_resamples, seed=seed)
            test = paired_bootstrap_test(labels, pred, base, n_resamples=n_resamples, seed=seed)
            row.update(accuracy=metrics["accuracy"], accuracy_ci_low=low, accuracy_ci_high=high,
                       macro_f1=metrics["macro_f1"], delta_accuracy=test["delta"], delta_ci_low=test["ci95"][0],
                       delta_ci_high=test["ci95"][1], delta_p_value=test["p_value"],
                       agreement=float(np.mean(pred == base)))
        rows.append(row)
    return pd.DataFrame(rows, columns=QUALITY_COLUMNS)


# --------------------------------------------------------------------------------------------
# Latency


def latency_feeds(tokenizer, texts: Sequence[str], *, batch_size: int, seq_len: int) -> dict[str, np.ndarray]:
    """A batch of exactly ``seq_len`` tokens per row, made from the longest of ``texts`` (cycled).

    >>> latency_feeds(tok, ["some text"], batch_size=2, seq_len=8)["input_ids"].shape   # doctest: +SKIP
    (2, 8)
    """
    texts = sorted(texts, key=len, reverse=True)
    if not texts:
        raise DataError("latency_feeds needs at least one text. Got none.")
    rows = [texts[i % len(texts)] for i in range(batch_size)]
    encoded = tokenizer(rows, truncation=True, padding="max_length", max_length=seq_len, return_tensors="np")
    return _numpy_feeds(encoded)


def measure_variants(variants: dict[str, Variant], tokenizer, texts: Sequence[str], *,
                     batch_sizes: Sequence[int] = (1, 32), seq_lens: Sequence[int] = (32, 128),
                     threads: Sequence[int] = (1, 0), warmup: int = 2, repeats: int = 10, rounds: int = 2,
                     large_batch_repeats: int | None = None, large_batch_threads: Sequence[int] | None = None,
                     progress: bool = True) -> pd.DataFrame:
    """Latency p50/p95, throughput and peak memory of every working variant on a grid.

    :func:`workbench.evaluation.measure_latency` times the calls after warm-up for every batch size x
    sequence length x thread count; ``0`` threads means all usable cores. Torch gets the count
    through ``torch.set_num_threads``, ONNX Runtime through a session built for it.

    Batch-1 cells (the headline latency) are measured in ``rounds`` rounds that visit every variant
    in turn, ``repeats / rounds`` calls each, so that a burst of load from another process hits all
    variants rather than one: ``p50_ms`` is the median of the rounds' medians, ``p95_ms`` the largest
    round p95. Larger batches are slow and measured once (``large_batch_repeats`` calls after one
    warm-up call), on a fresh ONNX Runtime session, and ``peak_mem_mb`` there is the peak resident
    memory above what the process held before the warm-up: the activations and runtime buffers such
    a call needs (the weights are already loaded).

    Parameters
    ----------
    large_batch_repeats : int, optional
        Timed calls for batch sizes above 1; default ``repeats``.
    large_batch_threads : sequence of int, optional
        Thread counts for batch sizes above 1; default ``threads``.

    Returns
    -------
    pandas.DataFrame
        One row per variant x batch size x sequence length x threads, :data:`LATENCY_COLUMNS`.
    """
    func = "measure_variants"
    for name, values in (("batch_sizes", batch_sizes), ("seq_lens", seq_lens), ("threads", threads)):
        if not list(values):
            raise ParameterError(f"The {name!r} parameter of {func} must list at least one value. Got [] instead.")
        for value in values:
            check_int(name, value, func, low=0 if name == "threads" else 1)
    check_int("repeats", repeats, func, low=1)
    check_int("rounds", rounds, func, low=1, high=repeats, fix="Each round needs at least one timed call.")
    check_int("warmup", warmup, func, low=0)
    cores = usable_cores()
    grid = []
    for batch in batch_sizes:
        for seq in seq_lens:
            counts = threads if batch == 1 or large_batch_threads is None else large_batch_threads
            grid += [(batch, seq, count) for count in dict.fromkeys(c or cores for c in counts)]
    feeds = {(b, s): latency_feeds(tokenizer, texts, batch_size=b, seq_len=s) for b, s, _ in grid}
    working = {name: v for name, v in variants.items() if v.status == "ok"}
    # Batch 1: every round visits all variants; larger batches: one visit each.
    visits = [(r, name, cell) for cell in grid if cell[0] == 1 for r in range(rounds) for name in working]
    visits += [(0, name, cell) for cell in grid if cell[0] > 1 for name in working]
    stats: dict[tuple, list[dict]] = {}
    failures: dict[tuple, str] = {}
    for round_index, name, cell in progress_bar(visits, desc="latency", disable=not progress):
        key = (name, *cell)
        if key in failures:
            continue
        batch, seq, count = cell
        calls = -(-repeats // rounds) if batch == 1 else (large_batch_repeats or repeats)
        n_warmup = warmup if batch == 1 else min(warmup, 1)
        try:
            stats.setdefault(key, []).append(
                _time_variant(working[name], feeds[(batch, seq)], threads=count, warmup=n_warmup, repeats=calls,
                              fresh=batch > 1))
        except Exception as error:  # an op without a kernel at this shape, out of memory, ...
            failures[key] = f"{type(error).__name__}: {first_line(error)[:240]}"
    rows = []
    for name, variant in variants.items():
        for batch, seq, count in grid:
            key = (name, batch, seq, count)
            row = {"variant": name, "batch_size": batch, "seq_len": seq, "threads": count,
                   "status": "failed" if key in failures else variant.status,
                   "reason": failures.get(key, variant.reason)}
            if key in stats:
                parts = stats[key]
                p50 = float(np.median([part["p50_ms"] for part in parts]))
                row.update(p50_ms=p50, p95_ms=max(part["p95_ms"] for part in parts), throughput_per_s=batch * 1e3 / p50,
                           peak_mem_mb=max(part["peak_mem_mb"] for part in parts),
                           repeats=sum(part["repeats"] for part in parts))
            rows.append(row)
    return pd.DataFrame(rows, columns=LATENCY_COLUMNS)


def _time_variant(variant: Variant, feeds: dict[str, np.ndarray], *, threads: int, warmup: int, repeats: int,
                  fresh: bool) -> dict[str, float]:
    """One :func:`~workbench.evaluation.measure_latency` run, with memory counted from before the warm-up."""
    import psutil

    from workbench.evaluation import measure_latency

    predict = variant.runner(threads, fresh=fresh)
    before_mb = psutil.Process().memory_info().rss / 2**20
    result = measure_latency(lambda: predict(feeds), warmup=warmup, repeats=repeats, threads=threads)
    return {"p50_ms": result["p50_ms"], "p95_ms": result["p95_ms"], "repeats": repeats,
            "peak_mem_mb": max(0.0, result["peak_rss_mb"] - before_mb)}


def precision_probe(model, tokenizer, texts: Sequence[str], *, seq_len: int = 128, threads: int = 1,
                    repeats: int = 3, dtypes: Sequence[str] = ("float32", "bfloat16", "float16")) -> pd.DataFrame:
    """Batch-1 latency of the model cast to each dtype, and the largest logit change vs float32.

    A cheap look at mixed precision on this machine: CPUs without AMX/AVX512-BF16 emulate bf16 and
    run it several times slower than fp32, which this shows rather than assumes.

    Returns
    -------
    pandas.DataFrame
        ``dtype``, ``native`` (hardware support), ``p50_ms``, ``slowdown`` (vs float32),
        ``max_abs_logit_diff``, ``status``, ``reason``.
    """
    import torch

    from workbench.evaluation import measure_latency

    feeds = latency_feeds(tokenizer, texts, batch_size=1, seq_len=seq_len)
    tensors = {k: torch.from_numpy(v) for k, v in feeds.items()}
    rows, reference = [], None
    for name in dtypes:
        dtype = getattr(torch, name)
        native = {"float32": True, "bfloat16": hardware.cpu_has_native_bf16(),
                  "float16": hardware.cuda_available()}.get(name, False)
        row = {"dtype": name, "native": native}
        try:
            cast = copy.deepcopy(model).to(dtype).eval()
            with torch.inference_mode():
                logits = cast(**tensors).logits.float().numpy()
                stats = measure_latency(lambda: cast(**tensors), warmup=1, repeats=repeats, threads=threads)
            reference = logits if reference is None else reference
            row.update(p50_ms=stats["p50_ms"], max_abs_logit_diff=float(np.abs(logits - reference).max()), status="ok",
                       reason="")
        except Exception as error:
            row.update(status="failed", reason=f"{type(error).__name__}: {first_line(error)[:200]}")
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["dtype", "native", "p50_ms", "max_abs_logit_diff", "status", "reason"])
    base = frame.loc[frame.dtype == "float32", "p50_ms"]
    frame.insert(3, "slowdown", frame["p50_ms"] / (base.iloc[0] if len(base) else np.nan))
    return frame


# --------------------------------------------------------------------------------------------
# One row per variant, the recommendation and the Pareto plots


def compression_table(quality: pd.DataFrame, latency: pd.DataFrame, *, seq_len: int | None = None) -> pd.DataFrame:
    """One row per variant: quality, batch-1 latency (fewest threads), batch-32 throughput (most threads).

    ``seq_len`` defaults to the longest sequence measured. ``speedup_b1`` and ``size_ratio`` are
    taken against ``fp32_eager`` (speedup > 1 is faster, size_ratio < 1 is smaller).

    Examples
    --------
    >>> compression_table(quality, latency).columns.tolist() == TABLE_COLUMNS   # doctest: +SKIP
    True
    """
    ok = latency[latency.status == "ok"] if len(latency) else latency
    seq_len = int(seq_len or (latency.seq_len.max() if len(latency) else 0))
    at_seq = ok[ok.seq_len == seq_len] if len(ok) else ok
    b1 = at_seq[at_seq.batch_size == 1]
    b1 = b1[b1.threads == b1.threads.min()] if len(b1) else b1
    large = at_seq[at_seq.batch_size > 1]
    large = large[(large.batch_size == large.batch_size.max()) & (large.threads == large.threads.max())] \
        if len(large) else large
    table = quality.merge(b1.set_index("variant")[["p50_ms", "p95_ms", "peak_mem_mb", "threads"]]
                          .rename(columns={"p50_ms": "latency_ms_p50_b1", "p95_ms": "latency_ms_p95_b1",
                                           "threads": "threads_b1", "peak_mem_mb": "peak_mem_b1"}),
                          left_on="variant", right_index=True, how="left")
    table = table.merge(large.set_index("variant")[["throughput_per_s", "threads", "peak_mem_mb"]]
                        .rename(columns={"throughput_per_s": "throughput_b32", "threads": "threads_b32"}),
                        left_on="variant", right_index=True, how="left")
    if "peak_mem_mb" not in table:
        table["peak_mem_mb"] = np.nan
    table["peak_mem_mb"] = table["peak_mem_mb"].fillna(table["peak_mem_b1"])
    base = table[table.variant == BASELINE]
    base_latency = base.latency_ms_p50_b1.iloc[0] if len(base) else np.nan
    base_size = base.size_mb.iloc[0] if len(base) else np.nan
    table["speedup_b1"] = base_latency / table.latency_ms_p50_b1
    table["size_ratio"] = table.size_mb / base_size
    table["seq_len"] = seq_len
    return table.reindex(columns=TABLE_COLUMNS).reset_index(drop=True)


def recommend_variant(table: pd.DataFrame, *, tolerance: float = 0.01, by: str = "latency_ms_p50_b1") -> dict[str, Any]:
    """The fastest working variant whose accuracy is at most ``tolerance`` below the baseline's.

    ``tolerance`` is a fraction (0.01 = 1 accuracy point, Optimum / Intel Neural Compressor's
    default relative loss); the baseline always qualifies, so there is always an answer when it ran.

    Returns
    -------
    dict
        ``variant``, ``tolerance``, ``by``, the winner's ``value`` (of ``by``), ``speedup_b1``,
        ``delta_accuracy``, ``size_ratio`` and ``candidates`` (names within tolerance, fastest first).

    Examples
    --------
    >>> table = pd.DataFrame({"variant": ["fp32_eager", "int8", "tiny"], "status": ["ok"] * 3,
    ...                       "delta_accuracy": [0.0, -0.004, -0.03], "latency_ms_p50_b1": [10.0, 5.0, 2.0],
    ...                       "speedup_b1": [1.0, 2.0, 5.0], "size_ratio": [1.0, 0.25, 0.1]})
    >>> recommend_variant(table, tolerance=0.01)["variant"], recommend_variant(table, tolerance=0.05)["variant"]
    ('int8', 'tiny')
    """
    func = "recommend_variant"
    check_float("tolerance", tolerance, func, low=0.0, high=1.0,
                fix="Give the accuracy loss you accept as a fraction, e.g. 0.01 for 1 point.")
    check_choice("by", by, func, ("latency_ms_p50_b1", "latency_ms_p95_b1", "size_mb"))
    usable = table[(table.status == "ok") & table.delta_accuracy.notna() & table[by].notna()]
    within = usable[usable.delta_accuracy >= -tolerance - 1e-12].sort_values([by, "variant"])
    if within.empty:
        raise DataError(f"{func} found no working variant with accuracy and {by} (the table has "
                        f"{len(table)} rows). Check the status and reason columns.")
    best = within.iloc[0]
    return {"variant": best.variant, "tolerance": float(tolerance), "by": by, "value": float(best[by]),
            "speedup_b1": _float(best.get("speedup_b1")), "delta_accuracy": float(best.delta_accuracy),
            "size_ratio": _float(best.get("size_ratio")), "candidates": within.variant.tolist()}


def _float(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def pareto_front(table: pd.DataFrame, *, x: str = "latency_ms_p50_b1", y: str = "accuracy") -> pd.Series:
    """True for rows no other row beats (lower or equal ``x`` and higher or equal ``y``, one strictly).

    >>> frame = pd.DataFrame({"latency_ms_p50_b1": [10, 5, 6], "accuracy": [0.9, 0.85, 0.8]})
    >>> pareto_front(frame).tolist()
    [True, True, False]
    """
    values = table[[x, y]].to_numpy(dtype=float)
    valid = ~np.isnan(values).any(axis=1)
    front = []
    for i, (xi, yi) in enumerate(values):
        dominated = valid[i] and bool(np.any(valid & (values[:, 0] <= xi) & (values[:, 1] >= yi)
                                             & ((values[:, 0] < xi) | (values[:, 1] > yi))))
        front.append(bool(valid[i] and not dominated))
    return pd.Series(front, index=table.index, name="pareto")


def plot_pareto(table: pd.DataFrame, *, tolerance: float | None = 0.01, recommended: str | None = None):
    """Accuracy vs batch-1 latency and accuracy vs size, coloured by method, Pareto fronts drawn and named.

    Takes a :func:`compression_table`; rows without accuracy (failed variants) are left out. Only
    the variants on a front (and the recommended one) are labelled, so the labels stay readable.

    Examples
    --------
    >>> fig = plot_pareto(pd.DataFrame({"variant": ["fp32_eager", "int8"], "method": ["precision", "quantization"],
    ...                                 "status": ["ok", "ok"], "accuracy": [0.9, 0.89],
    ...                                 "latency_ms_p50_b1": [10.0, 5.0], "size_mb": [90.0, 23.0]}))
    >>> [ax.get_xlabel() for ax in fig.axes]
    ['latency p50, batch 1 (ms, log scale)', 'size on disk (MB, log scale)']
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    data = table[(table.status == "ok") & table.accuracy.notna()] if len(table) else table
    methods = data["method"] if "method" in data else data.variant.map(method_of)
    colours = dict(zip(("precision", "onnxruntime", "quantization", "pruning", "distillation"),
                       ("#4c72b0", "#8172b3", "#55a868", "#c44e52", "#dd8452")))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    for ax, x, label in ((axes[0], "latency_ms_p50_b1", "latency p50, batch 1 (ms, log scale)"),
                         (axes[1], "size_mb", "size on disk (MB, log scale)")):
        rows = data[data[x].notna()] if len(data) else data
        if len(rows):
            for method, group in rows.groupby(methods.loc[rows.index], sort=False):
                ax.scatter(group[x], group.accuracy, color=colours.get(method, "grey"), label=method, zorder=3)
            on_front = pareto_front(rows, x=x)
            front = rows[on_front].sort_values(x)
            ax.step(front[x], front.accuracy, where="post", color="black", lw=0.8, alpha=0.6, label="Pareto front")
            for row in rows[on_front | (rows.variant == recommended)].itertuples():
                ax.annotate(str(row.variant), (getattr(row, x), row.accuracy), fontsize=7, xytext=(4, 4),
                            textcoords="offset points", weight="bold" if row.variant == recommended else "normal")
            base = rows[rows.variant == BASELINE]
            if len(base) and tolerance is not None:
                top = base.accuracy.iloc[0]
                ax.axhspan(top - tolerance, top, color="#55a868", alpha=0.12, label=f"within {tolerance:g} of fp32")
            ax.set_xscale("log")
            # 1-2-5 ticks: labelled whatever the range, even when it spans less than a decade
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.legend(fontsize=7, loc="best")
        ax.set(xlabel=label, ylabel="accuracy")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    plt.close(fig)
    return fig


def compression_summary(table: pd.DataFrame, recommendation: dict[str, Any]) -> dict[str, Any]:
    """``variants.<name>.{accuracy, ...}`` and ``recommendation`` for ``summary.json``.

    Failed variants keep their ``status`` and ``reason`` (their figures are None).


    >>> table = pd.DataFrame({"variant": ["fp32_eager"], "status": ["ok"], "reason": [""],
    ...                       **{k: [1.0] for k in SUMMARY_KEYS}})
    >>> compression_summary(table, {"variant": "fp32_eager", "tolerance": 0.01})["variants"]["fp32_eager"]["speedup_b1"]
    1.0
    """
    variants = {}
    for row in table.to_dict("records"):
        entry = {key: _float(row.get(key)) for key in SUMMARY_KEYS}
        entry["status"] = row.get("status")
        if row.get("status") != "ok":
            entry["reason"] = row.get("reason")
        variants[row["variant"]] = entry
    return {"variants": variants, "recommendation": dict(recommendation)}


#: Published reference points the report compares with (figures as the sources state them).
REFERENCE_POINTS = (
    {"reference": "PyTorch BERT dynamic quantization tutorial (MRPC)", "metric": "macro-F1 change",
     "value": 0.0, "compare": "torch_int8_dynamic", "column": "delta_macro_f1",
     "detail": "F1 0.902 before and after dynamic int8"},
    {"reference": "PyTorch BERT dynamic quantization tutorial (MRPC)", "metric": "size ratio",
     "value": 181 / 438, "compare": "torch_int8_dynamic", "column": "size_ratio",
     "detail": "438 MB to 181 MB, the embeddings staying float32"},
    {"reference": "ONNX Runtime BERT quantization notebook", "metric": "speed-up vs PyTorch fp32, 1 thread",
     "value": 1.7, "compare": "best_ort_int8", "column": "speedup_b1",
     "detail": "int8 about 1.7x faster than PyTorch fp32 on one thread"},
    {"reference": "ONNX Runtime BERT quantization notebook", "metric": "macro-F1 change",
     "value": -0.003, "compare": "best_ort_int8", "column": "delta_macro_f1",
     "detail": "F1 within 0.003 of fp32"},
    {"reference": "Optimum / Intel Neural Compressor", "metric": "accuracy change of the recommended variant",
     "value": -0.01, "compare": "recommendation", "column": "delta_accuracy",
     "detail": "default tolerance: at most 1% relative accuracy loss (ours: 1 absolute point by default)"},
)


def compare_with_references(table: pd.DataFrame, recommendation: dict[str, Any]) -> pd.DataFrame:
    """Our figure beside each of :data:`REFERENCE_POINTS` (NaN where the compared variant did not run).

    ``best_ort_int8`` is the fastest working ONNX Runtime int8 variant at batch 1; ``delta_macro_f1``
    is the variant's macro-F1 minus fp32 eager's.

    Returns
    -------
    pandas.DataFrame
        ``reference``, ``metric``, ``reference_value``, ``variant``, ``ours``, ``detail``.
    """
    ok = table[table.status == "ok"].set_index("variant")
    base_f1 = ok.macro_f1.get(BASELINE, np.nan)
    ort_int8 = ok[ok.index.str.startswith("ort_int8") & ok.latency_ms_p50_b1.notna()].sort_values("latency_ms_p50_b1")
    pick = {"best_ort_int8": ort_int8.index[0] if len(ort_int8) else None,
            "recommendation": recommendation.get("variant"), "torch_int8_dynamic": "torch_int8_dynamic"}
    rows = []
    for point in REFERENCE_POINTS:
        name = pick[point["compare"]]
        ours = np.nan
        if name in ok.index:
            ours = ok.macro_f1[name] - base_f1 if point["column"] == "delta_macro_f1" else ok[point["column"]][name]
        rows.append({"reference": point["reference"], "metric": point["metric"], "reference_value": point["value"],
                     "variant": name, "ours": ours, "detail": point["detail"]})
    return pd.DataFrame(rows, columns=["reference", "metric", "reference_value", "variant", "ours", "detail"])
