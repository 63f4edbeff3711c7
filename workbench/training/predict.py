"""Tokenize a split for Trainer, and class logits from a model wherever it lives (CPU or GPU).

>>> from workbench.models import load_model
>>> model, tok = load_model("tiny:num_layers=1,hidden_size=32,num_heads=2", num_labels=2)
>>> predict_logits(model, tok, ["tasty"], progress=False).shape
(1, 2)
"""

from __future__ import annotations

import uuid

import numpy as np

from workbench._progress import progress_bar
from workbench._validation import check_int
from workbench.errors import DataError


def tokenize_split(split, tokenizer, *, max_length: int):
    """Tokenize a ``datasets.Dataset`` with ``text``/``label`` columns (padding is left to the collator)."""
    import datasets

    if "text" not in split.column_names:
        raise DataError(f"The dataset split must have a 'text' column. Got columns {split.column_names} "
                        "instead. Use workbench.load_dataset.")
    bars_were_on = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        # A fresh fingerprint and no cache look-up: otherwise datasets hashes the whole tokenizer with dill
        # to name a cache entry (about a second per split), which in-memory splits never use.
        return split.map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=max_length),
                         batched=True, remove_columns=["text"], new_fingerprint=uuid.uuid4().hex,
                         load_from_cache_file=False)
    finally:
        if bars_were_on:
            datasets.enable_progress_bars()


def predict_logits(model, tokenizer, texts, *, max_length: int = 128, batch_size: int = 64,
                   progress: bool = True) -> np.ndarray:
    """Class logits, shape ``(len(texts), num_labels)``, in eval mode without gradients.

    >>> from workbench.models import load_model
    >>> model, tok = load_model("tiny:num_layers=1,hidden_size=32,num_heads=2", num_labels=2)
    >>> predict_logits(model, tok, ["tasty", "stale"], progress=False).shape
    (2, 2)
    """
    import torch

    texts = list(texts)
    check_int("batch_size", batch_size, "predict_logits", low=1)
    model.eval()
    device = next(model.parameters()).device
    outputs = []
    with torch.inference_mode():
        starts = range(0, len(texts), batch_size)
        for start in progress_bar(starts, desc="predict", disable=not progress, leave=False):
            batch = tokenizer(texts[start:start + batch_size], truncation=True, max_length=max_length,
                              padding=True, return_tensors="pt").to(device)
            outputs.append(model(**batch).logits.float().cpu().numpy())
    n_labels = model.config.num_labels
    return np.concatenate(outputs) if outputs else np.zeros((0, n_labels), dtype=np.float32)
