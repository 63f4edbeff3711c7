"""From raw frames to the ``DatasetDict`` every technique consumes: clean, split, subsample.

Cleaning keeps two columns (``text``, ``label``), drops rows without text or label (one counting
warning each) and turns labels into class names. Splitting carves the splits a source lacks from
train, and subsampling caps them, both with scikit-learn, stratified by label and seeded.

>>> import pandas as pd
>>> frames = {"train": pd.DataFrame({"text": list("abcdefghij"), "label": ["x", "y"] * 5})}
>>> splits = _complete_splits(frames, validation_size=0.2, test_size=0.2, seed=0)
>>> {split: len(frame) for split, frame in splits.items()}
{'train': 6, 'validation': 2, 'test': 2}
"""

from __future__ import annotations

import json
import math
import re
import warnings
from typing import Any

import datasets
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.utils import resample

from workbench._validation import check_int
from workbench.errors import DataError, ParameterError, first_line

__all__ = ["SPLITS", "check_labels_seen", "subsample"]

SPLITS: tuple[str, ...] = ("train", "validation", "test")
"""Split names of every DatasetDict this package returns, in order."""

_FUNC = "load_dataset"  # the public function whose parameters the messages name


# --------------------------------------------------------------------------- cleaning

def _select_columns(frames: dict[str, pd.DataFrame], text_column: str, label_column: str,
                    source: str) -> dict[str, pd.DataFrame]:
    """Keep the two columns, renamed ``text``/``label``; a missing column names the ones present."""
    selected = {}
    for split, frame in frames.items():
        if frame.empty and len(frame.columns) == 0:
            raise DataError(f"The data set {source!r} has no rows in its {split} split (0 rows). "
                            f"Fix: use a file with at least two classes of examples.")
        for parameter, column in (("text_column", text_column), ("label_column", label_column)):
            if column not in frame.columns:
                present = ", ".join(repr(str(c)) for c in frame.columns)
                why, fix = _header_hint(frame)
                raise DataError(f"The {parameter!r} parameter of {_FUNC} must name a column of "
                                f"{source!r}. Got {column!r} instead; the columns are {present}"
                                f"{why}. Fix: pass {parameter}=<one of them>{fix}.")
        selected[split] = pd.DataFrame({"text": frame[text_column].to_numpy(dtype=object),
                                        "label": frame[label_column].to_numpy(dtype=object)})
    total = sum(len(frame) for frame in selected.values())
    if total == 0:
        raise DataError(f"The data set {source!r} has no rows (only a header). "
                        f"Fix: add examples, at least two classes.")
    return selected


def _header_hint(frame: pd.DataFrame) -> tuple[str, str]:
    """What a CSV/TSV reader decided about the header, for a missing-column message."""
    if not frame.attrs.get("header_detected"):
        return "", ""
    if frame.attrs["header"]:
        return " (its first row was taken for the header)", ", or header=False if that row is data"
    return (" (it has no header, detected from its first row, so columns are numbered from 0)",
            ", or header=True if its first row names the columns")


def _drop_missing(frames: dict[str, pd.DataFrame], text_column: str,
                  label_column: str) -> dict[str, pd.DataFrame]:
    """Drop missing/blank texts, then missing labels, each with one counting warning."""
    total = sum(len(frame) for frame in frames.values())
    frames = _drop_rows(frames, lambda f: f["text"].isna() | (f["text"].astype(str).str.strip() == ""),
                        f"whose {text_column!r} is missing or empty", total, "text_column")
    frames = _drop_rows(frames, lambda f: f["label"].isna(),
                        f"whose {label_column!r} is missing", total, "label_column")
    return {split: _as_strings(frame) for split, frame in frames.items()}


def _drop_rows(frames: dict[str, pd.DataFrame], is_bad, what: str, total: int,
               parameter: str) -> dict[str, pd.DataFrame]:
    masks = {split: is_bad(frame) for split, frame in frames.items()}
    dropped = sum(int(mask.sum()) for mask in masks.values())
    if dropped == sum(len(frame) for frame in frames.values()):
        raise DataError(f"No rows left after dropping {dropped} of {total} rows {what}. "
                        f"Fix: check that {parameter} names the right column.")
    if dropped:
        warnings.warn(f"Dropped {dropped} of {total} rows {what}.", UserWarning, stacklevel=4)
    return {split: frame[~masks[split]].reset_index(drop=True) for split, frame in frames.items()}


def _as_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Texts and labels as str; CSV/TSV cells are strings already, kept as written.

    Float labels that are all whole numbers (a typed numeric column with gaps: JSON or Parquet
    ``2``/``null`` read by pandas as ``2.0``/``NaN``) are named ``'2'``, as the file wrote them.
    """
    labels = frame["label"]
    if all(isinstance(v, float) and v.is_integer() for v in labels):
        labels = labels.map(int)  # exact at any size; astype("int64") overflows past 2**63
    return pd.DataFrame({"text": frame["text"].map(str), "label": labels.map(str)})


def _keep_top_classes(frames: dict[str, pd.DataFrame], k: int) -> dict[str, pd.DataFrame]:
    counts = pd.concat([frame["label"] for frame in frames.values()]).value_counts()
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    keep = {label for label, _ in ranked[:k]}
    return {split: frame[frame["label"].isin(keep)].reset_index(drop=True)
            for split, frame in frames.items()}


def _label_names(frames: dict[str, pd.DataFrame], label_column: str) -> list[str]:
    """Sorted class names (numerically when every name is a number); at least two are needed."""
    names = sorted(set().union(*(set(frame["label"]) for frame in frames.values())))
    if all(re.fullmatch(r"-?\d+(\.\d+)?", name) for name in names):
        names.sort(key=float)
    if len(names) < 2:
        raise DataError(f"The {label_column!r} column must hold at least 2 classes to classify. "
                        f"Got a single class {names!r} instead. Fix: choose another label_column "
                        f"or add examples of other classes.")
    return names


# --------------------------------------------------------------------------- splitting

def _complete_splits(frames: dict[str, pd.DataFrame], *, validation_size: float, test_size: float,
                     seed: int) -> dict[str, pd.DataFrame]:
    """Carve the missing (or emptied) validation/test splits from train, stratified and seeded."""
    sizes = {"test": test_size, "validation": validation_size}
    missing = {split: size for split, size in sizes.items() if len(frames.get(split, ())) == 0}
    if missing:
        frames = {**frames, **_carve(frames["train"], missing, seed)}
    return {split: frames[split] for split in SPLITS}


def _carve(train: pd.DataFrame, sizes: dict[str, float], seed: int) -> dict[str, pd.DataFrame]:
    counts = {split: round(size * len(train)) for split, size in sizes.items()}
    _check_stratifiable(train["label"], counts, sizes)
    carved, rest = {}, train
    try:
        for split, n in counts.items():
            rest, carved[split] = train_test_split(rest, test_size=n, stratify=rest["label"],
                                                   random_state=seed)
    except ValueError as exc:  # a corner the checks above do not foresee; sklearn says which
        raise DataError(f"Cannot split {len(train)} rows stratified into {['train', *sizes]}: "
                        f"{first_line(exc)} Fix: add examples or drop rare classes.") from None
    carved["train"] = rest
    return {split: frame.reset_index(drop=True) for split, frame in carved.items()}


def _check_stratifiable(labels: pd.Series, counts: dict[str, int], sizes: dict[str, float]) -> None:
    """Each class needs one row per split; each carved split one row per class."""
    splits = [split for split in SPLITS if split == "train" or split in counts]
    class_counts = labels.value_counts()
    rare = class_counts[class_counts < len(splits)]
    if len(rare):
        listed = ", ".join(f"{label!r} ({n})" for label, n in rare.items())
        raise DataError(f"Too few examples to split stratified into {'/'.join(splits)}: each class "
                        f"needs at least {len(splits)}, but {listed} have fewer. Fix: add examples, "
                        f"drop those classes, or set top_k_classes.")
    n_classes = len(class_counts)
    for split, n in counts.items():
        if n < n_classes or len(labels) - sum(counts.values()) < n_classes:
            needed = math.ceil(n_classes / min(sizes[split], 1 - sum(sizes.values())))
            raise DataError(f"Too few examples for {split}_size={sizes[split]!r}: {len(labels)} rows "
                            f"give {n} {split} examples for {n_classes} classes, and a stratified "
                            f"split needs at least one per class (about {needed} rows). "
                            f"Fix: add examples or raise {split}_size.")


def _stratified_pick(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted positions of ``n`` rows with class fractions kept (scikit-learn's stratified ``resample``)."""
    picked = resample(np.arange(len(labels)), n_samples=n, replace=False, stratify=labels, random_state=seed)
    return np.sort(picked)


def _subsample(frame: pd.DataFrame, max_examples: int, seed: int, *,
               split: str = "train") -> pd.DataFrame:
    """At most ``max_examples`` rows, class fractions kept, every class kept, order kept."""
    if len(frame) <= max_examples:
        return frame
    labels = frame["label"].to_numpy()
    n_classes = len(set(labels))
    if max_examples < n_classes:
        raise DataError(f"The 'max_examples' parameter of {_FUNC} must be at least the number of "
                        f"classes of the {split} split ({n_classes}), so that every class keeps an "
                        f"example. Got {max_examples} instead. Fix: raise max_examples to "
                        f"{n_classes} or more, or keep fewer classes with top_k_classes.")
    return frame.iloc[_pick_every_class(labels, max_examples, seed)].reset_index(drop=True)


def _pick_every_class(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted positions of ``n`` rows, class fractions kept and (when ``n`` allows) every class kept."""
    picked = _stratified_pick(labels, n, seed)
    return _keep_every_class(labels, picked, seed) if n >= len(np.unique(labels)) else picked


def _keep_every_class(labels: np.ndarray, picked: np.ndarray, seed: int) -> np.ndarray:
    """``picked`` with one row of each class it lacks, in place of a row of its largest class.

    Stratified rounding may give a class below ``1 / n`` of the rows no row at all; a model cannot
    learn a class it never sees, so each such class swaps in one random row (seeded). When no
    class is missing, ``picked`` comes back unchanged.
    """
    rng = np.random.default_rng(seed)
    picked = list(picked)
    for label in sorted(set(labels) - set(labels[picked])):
        counts = pd.Series(labels[picked]).value_counts()
        largest = max(counts.index, key=lambda name: (counts[name], name))
        donors = [i for i in picked if labels[i] == largest]
        picked.remove(donors[rng.integers(len(donors))])
        candidates = np.flatnonzero(labels == label)
        picked.append(int(candidates[rng.integers(len(candidates))]))
    return np.sort(np.asarray(picked))


def subsample(dsd: datasets.DatasetDict, *, split: str = "train", n: int, seed: int = 0) -> datasets.DatasetDict:
    """A copy of ``dsd`` whose ``split`` keeps at most ``n`` examples, class fractions preserved.

    Used to give an expensive model a smaller training set while keeping the full test split.
    ``n = 0`` keeps everything. scikit-learn's stratified ``resample`` picks the rows.

    Examples
    --------
    >>> from workbench.data import load_dataset
    >>> small = subsample(load_dataset(), split="train", n=100, seed=0)
    >>> len(small["train"]), len(small["test"])
    (100, 1000)
    """
    check_int("n", n, "subsample", low=0, fix="Use 0 to keep the whole split.")
    check_int("seed", seed, "subsample", low=0)
    if split not in dsd:
        raise ParameterError(f"The 'split' parameter of subsample must be one of {list(dsd)}. "
                             f"Got {split!r} instead.")
    out = datasets.DatasetDict(dsd)
    if 0 < n < len(dsd[split]):
        # A rare class keeps a row: stratified rounding alone may give it none.
        out[split] = dsd[split].select(_pick_every_class(np.asarray(dsd[split]["label"]), n, seed))
    return out


def check_labels_seen(splits: dict[str, pd.DataFrame]) -> None:
    """Raise if validation or test holds a class that train never shows.

    A model cannot learn a class it never saw, and its metrics would silently count those rows
    wrong. Splits carved by :func:`load_dataset` always pass; given splits (a hub data set, a
    folder with ``train.csv`` and ``test.csv``) may not.

    Parameters
    ----------
    splits : dict of str to pandas.DataFrame
        Frames with a ``label`` column, keyed by split name; ``train`` is required.

    Examples
    --------
    >>> import pandas as pd
    >>> check_labels_seen({"train": pd.DataFrame({"label": ["a", "b"]}),  # doctest: +ELLIPSIS
    ...                    "test": pd.DataFrame({"label": ["a", "c"]})})
    Traceback (most recent call last):
    ...
    workbench.errors.DataError: The test split has labels never seen in train: ['c'] ...
    """
    seen = set(splits["train"]["label"])
    for split, frame in splits.items():
        unseen = sorted(set(frame["label"]) - seen)
        if unseen:
            raise DataError(f"The {split} split has labels never seen in train: {unseen} "
                            f"(train has {sorted(seen)}). Fix: add training examples of those "
                            f"classes, or drop them from {split}.")


def _to_dataset_dict(frames: dict[str, pd.DataFrame], names: list[str],
                     meta: dict[str, Any]) -> datasets.DatasetDict:
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=names)})
    info = datasets.DatasetInfo(description=json.dumps(meta), features=features)
    codes = {name: i for i, name in enumerate(names)}
    return datasets.DatasetDict({
        split: datasets.Dataset.from_dict(
            {"text": frame["text"].tolist(), "label": frame["label"].map(codes).tolist()},
            features=features, info=info.copy())
        for split, frame in frames.items()})

