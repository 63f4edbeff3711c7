"""Sentence embeddings for semantic similarity, pooled as the model says.

A sentence-transformers model folder says how its token states become one vector: ``modules.json``
names a Pooling module whose ``config.json`` gives the mode (mean for all-MiniLM-L6-v2, CLS for
others). With sentence-transformers installed (the ``augment-resources`` extra), it loads the folder and does
all of it; without it, transformers runs the encoder and the pooling is read from that same config;
a model with no pooling config is mean-pooled, and :func:`embedding_method` says so.

>>> from workbench.models import minilm_path
>>> read_pooling(minilm_path())
Pooling(modes=('mean',), source='1_Pooling/config.json')
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench._validation import check_choice, check_int
from workbench.errors import ParameterError

BACKENDS: tuple[str, ...] = ("auto", "sentence-transformers", "transformers")
POOLING_MODES: tuple[str, ...] = ("cls", "max", "mean", "mean_sqrt_len")  # sentence-transformers' order
NO_CONFIG = "the default: the model folder has no sentence-transformers pooling config"
_CONFIG_KEYS = {"pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max",  # sentence-transformers < 5
                "pooling_mode_mean_tokens": "mean", "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
                "pooling_mode_weightedmean_tokens": "weightedmean", "pooling_mode_lasttoken": "lasttoken"}


@dataclass(frozen=True)
class Pooling:
    """How token states become a sentence vector: ``modes`` (concatenated in this order) and where that
    was read (``source``, a path inside the model folder, or :data:`NO_CONFIG`)."""

    modes: tuple[str, ...]
    source: str


def read_pooling(model: str | os.PathLike) -> Pooling:
    """The pooling a model folder declares: the Pooling module of ``modules.json`` (else ``1_Pooling/``),
    its ``config.json`` read as sentence-transformers writes it; mean pooling when there is none.

    >>> read_pooling("/no/such/folder")
    Pooling(modes=('mean',), source='the default: the model folder has no sentence-transformers pooling config')
    """
    folder = Path(_model_path(model))
    folder_name = "1_Pooling"
    if (folder / "modules.json").is_file():
        modules = json.loads((folder / "modules.json").read_text())
        folder_name = next((m.get("path", "") for m in modules if str(m.get("type", "")).endswith("Pooling")),
                           folder_name)
    config_path = folder / folder_name / "config.json"
    if not config_path.is_file():
        return Pooling(("mean",), NO_CONFIG)
    config = json.loads(config_path.read_text())
    if isinstance(config.get("pooling_mode"), str):  # sentence-transformers >= 5 writes one name
        named = [config["pooling_mode"].replace("mean_sqrt_len_tokens", "mean_sqrt_len")]
    else:
        named = [mode for key, mode in _CONFIG_KEYS.items() if config.get(key)]
    source = str(config_path.relative_to(folder))
    unknown = [mode for mode in named if mode not in POOLING_MODES]
    if unknown or not named:
        raise ParameterError(f"The pooling of model {str(model)!r} must be one of {list(POOLING_MODES)} to be read "
                             f"without sentence-transformers. Got {unknown or 'none'} in {source} instead. "
                             f"Fix: pip install 'nlp-workbench[augment-resources]'.")
    return Pooling(tuple(named), source)


def embedding_method(model: str = "minilm", *, backend: str = "auto") -> str:
    """One line saying what :func:`sentence_embeddings` does with ``model``: the library and the pooling.

    >>> embedding_method("minilm", backend="transformers")
    'transformers, mean pooling (from 1_Pooling/config.json)'
    """
    pooling = read_pooling(model)
    if _backend(model, backend) == "sentence-transformers":
        import sentence_transformers

        return (f"sentence-transformers {sentence_transformers.__version__}, {'+'.join(pooling.modes)} pooling "
                f"(from {pooling.source})")
    where = pooling.source if pooling.source == NO_CONFIG else f"from {pooling.source}"
    return f"transformers, {'+'.join(pooling.modes)} pooling ({where})"


def sentence_embeddings(texts: Sequence[str], *, model: str = "minilm", batch_size: int = 32,
                        max_length: int = 128, backend: str = "auto") -> np.ndarray:
    """Unit-length sentence embeddings, rows in input order, pooled as the model folder says.

    ``backend="auto"`` uses sentence-transformers for a sentence-transformers folder when it is
    installed, else transformers with :func:`read_pooling`; texts are batched by length to waste little
    on padding and cut at ``max_length`` tokens.

    >>> vectors = sentence_embeddings(["good tea", "great tea", "a broken chair"])
    >>> bool(vectors[0] @ vectors[1] > vectors[0] @ vectors[2])
    True
    """
    func = "sentence_embeddings"
    check_int("batch_size", batch_size, func, low=1)
    check_int("max_length", max_length, func, low=8)
    texts = list(texts)
    if _backend(model, backend) == "sentence-transformers":
        encoder = _st_encoder(model)
        encoder.max_seq_length = max_length
        if not texts:
            return np.zeros((0, encoder.get_embedding_dimension()), dtype=np.float32)
        return np.asarray(encoder.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                         show_progress_bar=False), dtype=np.float32)
    return _pooled(texts, model, batch_size, max_length)


def _backend(model: str, backend: str) -> str:
    check_choice("backend", backend, "sentence_embeddings", BACKENDS)
    if backend != "auto":
        if backend == "sentence-transformers":
            from workbench._optional import require

            require("sentence_transformers", extra="augment-resources", purpose="backend='sentence-transformers'",
                    package="sentence-transformers")
        return backend
    st_folder = (Path(_model_path(model)) / "modules.json").is_file()
    return "sentence-transformers" if st_folder and _has_sentence_transformers() else "transformers"


def _has_sentence_transformers() -> bool:
    import importlib.util

    return importlib.util.find_spec("sentence_transformers") is not None


def _model_path(model: str | os.PathLike) -> str:
    from workbench.models import minilm_path

    return str(minilm_path()) if str(model) == "minilm" else str(Path(model).expanduser())


@functools.lru_cache(maxsize=2)
def _st_encoder(model: str):
    from sentence_transformers import SentenceTransformer

    from workbench.models import quiet_transformers

    with quiet_transformers():
        return SentenceTransformer(_model_path(model), device="cpu", local_files_only=True)


@functools.lru_cache(maxsize=2)
def _sentence_encoder(model: str):
    from transformers import AutoModel, AutoTokenizer

    from workbench.models import _from_pretrained, quiet_transformers

    path = _model_path(model) if Path(_model_path(model)).exists() else model
    with quiet_transformers():
        encoder = _from_pretrained(AutoModel, path, "model")
    encoder.eval()
    return encoder, _from_pretrained(AutoTokenizer, path, "tokenizer")


def _pooled(texts: list[str], model: str, batch_size: int, max_length: int) -> np.ndarray:
    """transformers' encoder, then :func:`read_pooling`'s modes, as sentence-transformers' Pooling does."""
    import torch

    encoder, tokenizer = _sentence_encoder(model)
    modes = read_pooling(model).modes
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), encoder.config.hidden_size * len(modes)), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=max_length,
                              return_tensors="pt")
            states = encoder(**batch).last_hidden_state
            pooled = torch.cat([_pool(states, batch["attention_mask"], mode) for mode in modes], dim=-1)
            out[rows] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out


def _pool(states, attention_mask, mode: str):
    import torch

    mask = attention_mask.unsqueeze(-1).to(states.dtype)
    if mode == "cls":
        return states[:, 0]
    if mode == "max":
        return states.masked_fill(mask == 0, torch.finfo(states.dtype).min).max(dim=1).values
    total, count = (states * mask).sum(1), mask.sum(1).clamp(min=1.0)
    return total / (count.sqrt() if mode == "mean_sqrt_len" else count)
