"""The baseline: a fine-tuned classifier, cached on disk; torch thread control."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from workbench._validation import check_int, check_type
from workbench.compression.onnx import _quiet
from workbench.hardware import usable_cores

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


def _save_atomic(model, tokenizer, folder: Path, meta: dict, marker: str = "workbench_baseline.json") -> None:
    """``save_pretrained`` into a temporary sibling, then rename it to ``folder`` (``marker`` holds ``meta``)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        with _quiet():
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        (tmp / marker).write_text(json.dumps(meta, indent=2))
        os.replace(tmp, folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # another run got there first, or the disk is full
        if not (folder / marker).exists():
            raise




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
