"""Sentence embeddings for semantic similarity (transformers)."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from workbench._validation import check_int


@functools.lru_cache(maxsize=2)
def _sentence_encoder(model: str):
    from transformers import AutoModel, AutoTokenizer

    from workbench.models import _from_pretrained, minilm_path, quiet_transformers

    path = str(minilm_path()) if model == "minilm" else model
    with quiet_transformers():
        encoder = _from_pretrained(AutoModel, path, "model")
    encoder.eval()
    return encoder, _from_pretrained(AutoTokenizer, path, "tokenizer")


def sentence_embeddings(texts: Sequence[str], *, model: str = "minilm", batch_size: int = 32,
                        max_length: int = 128) -> np.ndarray:
    """Unit-length sentence embeddings: mean of the token states (transformers), as all-MiniLM-L6-v2 intends.

    Texts are batched by length to waste little on padding; rows come back in input order.

    >>> vectors = sentence_embeddings(["good tea", "great tea", "a broken chair"])
    >>> bool(vectors[0] @ vectors[1] > vectors[0] @ vectors[2])
    True
    """
    import torch

    check_int("batch_size", batch_size, "sentence_embeddings", low=1)
    check_int("max_length", max_length, "sentence_embeddings", low=8)
    encoder, tokenizer = _sentence_encoder(model)
    texts = list(texts)
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=max_length,
                              return_tensors="pt")
            states = encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            out[rows] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out
