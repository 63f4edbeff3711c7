"""What is in a data set: sizes and content hash, class balance, text lengths, duplicates, samples.

Each function takes what :func:`~workbench.data.load_dataset` returns and, except
:func:`dataset_info`, gives a tidy pandas DataFrame with fixed columns (empty, with a warning, for
a data set without rows); :mod:`workbench.data.plots` draws them.

>>> from workbench.data import load_dataset
>>> dataset_info(load_dataset(max_examples=20))["sizes"]
{'train': 20, 'validation': 20, 'test': 20}
"""

from __future__ import annotations

import hashlib
import json
import warnings
from typing import Any

import datasets
import numpy as np
import pandas as pd

from workbench._validation import check_int, check_type
from workbench.data.splits import SPLITS
from workbench.errors import ParameterError

__all__ = ["class_balance", "dataset_info", "duplicate_summary", "find_duplicates", "sample_rows",
           "text_lengths"]


# --------------------------------------------------------------------------- description

def dataset_info(dsd: datasets.DatasetDict) -> dict[str, Any]:
    """Describe a data set for report sidecars: source, sizes, content hash, classes.

    The hash is a SHA-256 over the label names and, split by split in order, every text and its
    label name: it changes when any text, label or split assignment changes, and only then.

    Parameters
    ----------
    dsd : datasets.DatasetDict
        As returned by :func:`load_dataset` (others work; their source reads ``"unknown"``).

    Returns
    -------
    dict
        Keys ``source``, ``sizes`` (rows per split), ``hash``, ``label_names``, ``num_labels``,
        ``text_column``, ``label_column``.

    Examples
    --------
    >>> from workbench.data import load_dataset
    >>> info = dataset_info(load_dataset(max_examples=50))
    >>> info["sizes"], info["label_names"], len(info["hash"])
    ({'train': 50, 'validation': 50, 'test': 50}, ['great', 'other'], 64)
    """
    names = _check_dsd(dsd, "dataset_info")
    first = dsd[_ordered_splits(dsd)[0]] if len(dsd) else None
    meta = json.loads(first.info.description) if first is not None and _is_json(
        first.info.description) else {}
    digest = hashlib.sha256(json.dumps(names).encode())
    for split in _ordered_splits(dsd):
        _hash_split(digest, split, dsd[split])
    info = {"source": meta.get("source", "unknown"),
            "sizes": {split: len(dsd[split]) for split in _ordered_splits(dsd)},
            "hash": digest.hexdigest(), "label_names": names, "num_labels": len(names),
            "text_column": meta.get("text_column", "text"),
            "label_column": meta.get("label_column", "label")}
    if meta.get("sampled_from"):
        info["sampled_from"] = dict(meta["sampled_from"])
    return info


def _hash_split(digest, split: str, rows: datasets.Dataset, chunk: int = 50_000) -> None:
    """Feed ``digest`` the bytes of ``json.dumps([split, texts, label names])``, ``chunk`` rows at a time.

    The same bytes as one ``json.dumps`` call (so the same hash), without holding a second copy of
    every text in memory: a million-row split costs one chunk of Python strings at a time.
    """
    names = rows.features["label"].names
    digest.update(b"[" + json.dumps(split).encode() + b", [")
    for column, encode in (("text", json.dumps), ("label", lambda code: json.dumps(names[code]))):
        for start in range(0, len(rows), chunk):
            values = rows[start:start + chunk][column]
            digest.update((", " if start else "").encode() + ", ".join(map(encode, values)).encode())
        digest.update(b"], [" if column == "text" else b"]]")


def _is_json(text: str | None) -> bool:
    try:
        return isinstance(json.loads(text or ""), dict)
    except ValueError:
        return False


def _check_dsd(dsd: Any, func: str) -> list[str]:
    """Check that ``dsd`` has ``text`` and a ClassLabel ``label``; return the label names."""
    check_type("dsd", dsd, func, datasets.DatasetDict, fix="Pass what load_dataset returns.")
    names: list[str] = []
    for split, ds in dsd.items():
        label = ds.features.get("label")
        if "text" not in ds.features or not isinstance(label, datasets.ClassLabel):
            raise ParameterError(f"The 'dsd' parameter of {func} must have a 'text' column and a "
                                 f"ClassLabel 'label' column in every split. Got split {split!r} "
                                 f"with features {dict(ds.features)} instead. "
                                 f"Fix: pass what load_dataset returns.")
        names = names or list(label.names)
    return names


def _ordered_splits(dsd: datasets.DatasetDict) -> list[str]:
    return [s for s in SPLITS if s in dsd] + [s for s in dsd if s not in SPLITS]


def _column(ds: datasets.Dataset, name: str):
    """One column of a split as a pyarrow ChunkedArray, in the split's row order (its indices mapping
    applied with one ``take``: the per-row path of ``with_format("arrow")`` makes a chunk per row)."""
    column = ds.data.column(name)
    return column if ds._indices is None else column.take(ds._indices.column(0))


def _label_names(ds: datasets.Dataset) -> np.ndarray:
    """Every row's label name (numpy take on the class codes, no per-row Python)."""
    names = np.asarray(ds.features["label"].names, dtype=object)
    return names[_column(ds, "label").to_numpy()] if len(ds) else names[:0]


def _frame(ds: datasets.Dataset) -> pd.DataFrame:
    """A split as a frame of ``text`` and ``label`` names."""
    return pd.DataFrame({"text": _column(ds, "text").to_pandas().astype(object).to_numpy(),
                         "label": _label_names(ds)}, dtype=object)


def _empty(dsd: datasets.DatasetDict, func: str, stacklevel: int = 3) -> bool:
    """True (and a warning pointing at the caller of ``func``) when no split has a row."""
    if sum(len(dsd[split]) for split in dsd) == 0:
        warnings.warn(f"{func} got a data set without rows; returning an empty frame.", UserWarning,
                      stacklevel=stacklevel)
        return True
    return False


def _tidy(dsd: datasets.DatasetDict, func: str) -> pd.DataFrame | None:
    """All splits as one frame with a ``split`` column, or ``None`` (and a warning) when empty."""
    _check_dsd(dsd, func)
    if _empty(dsd, func, stacklevel=4):
        return None
    return pd.concat([_frame(dsd[split]).assign(split=split) for split in _ordered_splits(dsd)], ignore_index=True)


# --------------------------------------------------------------------------- overview

_CLASS_BALANCE_COLUMNS = ["split", "label", "count", "fraction"]
_TEXT_LENGTH_COLUMNS = ["split", "label", "n_words", "n_chars"]
_DUPLICATE_COLUMNS = ["split_a", "split_b", "text", "count"]


def class_balance(dsd: datasets.DatasetDict) -> pd.DataFrame:
    """Rows per class and split (pandas), every class listed in every split.

    Returns
    -------
    pandas.DataFrame
        Columns ``split``, ``label``, ``count``, ``fraction`` (of the split's rows).

    Examples
    --------
    >>> from workbench.data import load_dataset
    >>> class_balance(load_dataset(max_examples=100)).head(2)
       split  label  count  fraction
    0  train  great     65      0.65
    1  train  other     35      0.35
    """
    names = _check_dsd(dsd, "class_balance")
    if _empty(dsd, "class_balance"):
        return pd.DataFrame(columns=_CLASS_BALANCE_COLUMNS)
    out = []
    for split in _ordered_splits(dsd):  # a bincount of the class codes: no text is read
        counts = np.bincount(_column(dsd[split], "label").to_numpy(), minlength=len(names))
        total = max(len(dsd[split]), 1)
        out += [{"split": split, "label": name, "count": int(counts[i]), "fraction": counts[i] / total}
                for i, name in enumerate(names)]
    return pd.DataFrame(out, columns=_CLASS_BALANCE_COLUMNS)


def text_lengths(dsd: datasets.DatasetDict) -> pd.DataFrame:
    """Length of every example in whitespace words and characters (pandas).

    Returns
    -------
    pandas.DataFrame
        One row per example: ``split``, ``label`` (name), ``n_words``, ``n_chars``.

    Examples
    --------
    >>> from workbench.data import load_dataset
    >>> text_lengths(load_dataset(max_examples=10)).columns.tolist()
    ['split', 'label', 'n_words', 'n_chars']
    """
    rows = _tidy(dsd, "text_lengths")
    if rows is None:
        return pd.DataFrame(columns=_TEXT_LENGTH_COLUMNS)
    # Runs of non-whitespace counted in place: the same number as str.split() gives, without a list of
    # every word (a million reviews would hold about 70 million word strings at once).
    rows["n_words"] = rows["text"].str.count(r"\S+").astype("int64")
    rows["n_chars"] = rows["text"].str.len().astype("int64")
    return rows[_TEXT_LENGTH_COLUMNS]


def find_duplicates(dsd: datasets.DatasetDict) -> pd.DataFrame:
    """Exact duplicate texts within each split and across splits (pandas).

    Cross-split rows reveal leakage: a test text also in train makes test scores optimistic.

    Returns
    -------
    pandas.DataFrame
        Columns ``split_a``, ``split_b``, ``text``, ``count``. Within a split
        (``split_a == split_b``): ``count`` is how many rows carry the text (>= 2). Across splits
        (``split_a`` before ``split_b`` in :data:`SPLITS` order): ``count`` is how many rows of
        ``split_b`` carry a text that also occurs in ``split_a``.

    Examples
    --------
    >>> from workbench.data import load_dataset
    >>> duplicate_summary(find_duplicates(load_dataset()))
    {'train': 15, 'train/validation': 5, 'train/test': 7}
    """
    import pyarrow.compute as pc

    _check_dsd(dsd, "find_duplicates")
    if _empty(dsd, "find_duplicates"):
        return pd.DataFrame(columns=_DUPLICATE_COLUMNS)
    # Arrow's hash tables count the texts in place (first-seen order); only duplicated texts become
    # Python strings. A pandas groupby over a million unique texts peaked at 1.7 GB more than this.
    splits = _ordered_splits(dsd)
    counts = {split: pc.value_counts(_column(dsd[split], "text")) for split in splits}
    parts = []
    for i, split_a in enumerate(splits):
        texts_a, n_a = counts[split_a].field("values"), counts[split_a].field("counts")
        parts.append(_duplicate_part(split_a, split_a, texts_a, n_a, pc.greater(n_a, 1)))
        for split_b in splits[i + 1:]:
            texts_b, n_b = counts[split_b].field("values"), counts[split_b].field("counts")
            parts.append(_duplicate_part(split_a, split_b, texts_b, n_b, pc.is_in(texts_b, value_set=texts_a)))
    return pd.concat(parts, ignore_index=True).astype({"count": "int64"})


def _duplicate_part(split_a: str, split_b: str, texts, counts, keep) -> pd.DataFrame:
    import pyarrow.compute as pc

    texts, counts = pc.filter(texts, keep), pc.filter(counts, keep)
    return pd.DataFrame({"split_a": split_a, "split_b": split_b,
                         "text": np.asarray(texts.to_pylist(), dtype=object),
                         "count": counts.to_numpy(zero_copy_only=False).astype("int64")}, columns=_DUPLICATE_COLUMNS)


def duplicate_summary(duplicates: pd.DataFrame) -> dict[str, int]:
    """Headline counts of a :func:`find_duplicates` frame.

    Returns
    -------
    dict
        ``"<split>"``: redundant rows inside a split (copies beyond the first);
        ``"<split_a>/<split_b>"``: rows of ``split_b`` whose text also occurs in ``split_a``.
        Pairs without duplicates are absent.

    Examples
    --------
    >>> import pandas as pd
    >>> duplicate_summary(pd.DataFrame({"split_a": ["train", "train"], "split_b": ["train", "test"],
    ...                                 "text": ["hi", "yo"], "count": [3, 1]}))
    {'train': 2, 'train/test': 1}
    """
    _check_columns(duplicates, _DUPLICATE_COLUMNS, "duplicate_summary", "duplicates")
    summary: dict[str, int] = {}
    for (a, b), group in duplicates.groupby(["split_a", "split_b"], sort=False):
        key, extra = (a, group["count"] - 1) if a == b else (f"{a}/{b}", group["count"])
        summary[key] = int(extra.sum())
    return summary


def sample_rows(dsd: datasets.DatasetDict, n: int = 5, *, split: str = "train",
                seed: int = 0) -> pd.DataFrame:
    """``n`` random examples of one split (pandas ``sample``, seeded), labels as names.

    Examples
    --------
    >>> from workbench.data import load_dataset
    >>> sample_rows(load_dataset(max_examples=20), n=2).columns.tolist()
    ['text', 'label']
    """
    _check_dsd(dsd, "sample_rows")
    check_int("n", n, "sample_rows", low=1)
    check_int("seed", seed, "sample_rows", low=0)
    if split not in dsd:
        raise ParameterError(f"The 'split' parameter of sample_rows must be one of {list(dsd)}. "
                             f"Got {split!r} instead.")
    ds = dsd[split]
    if len(ds) == 0:
        warnings.warn(f"sample_rows got an empty {split} split; returning an empty frame.",
                      UserWarning, stacklevel=2)
        return _frame(ds)
    # The rows pandas' DataFrame.sample(n, random_state=seed) picks, without building the whole split's frame.
    picks = np.random.RandomState(seed).choice(len(ds), size=min(n, len(ds)), replace=False)
    return _frame(ds.select(picks)).reset_index(drop=True)


def _check_columns(frame: Any, columns: list[str], func: str, name: str) -> None:
    check_type(name, frame, func, pd.DataFrame)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParameterError(f"The {name!r} parameter of {func} must have columns {columns}. "
                             f"Got {list(frame.columns)} instead (missing {missing}).")
