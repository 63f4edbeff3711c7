"""One local file in, one pandas DataFrame out: CSV, TSV, JSON lines, JSON records, Parquet, fastText.

pandas does the reading; this module decides the options and turns the library's failures into
one-line :class:`~workbench.errors.DataError` messages. The rules, in the order a file meets them:

- **Format**: the ``format`` parameter, else the extension (see :data:`FILE_FORMATS`). Gzipped
  files (``.csv.gz``, ``.tsv.gz``, ``.jsonl.gz``, ...) are recognised by their first bytes and
  decompressed on the fly, whatever their name.
- **Cells**: UTF-8; CSV/TSV cells are read as strings exactly as written (``007`` stays ``007``,
  ``1.0`` stays ``1.0``), and only empty cells count as missing (``NA``, ``null`` are text).
- **TSV** is taken literally (``csv.QUOTE_NONE``): a ``"`` is a character like any other, so a
  text with quotes stays verbatim and a stray quote cannot swallow the lines after it.
- **Header** (CSV/TSV, ``header=None``): see :func:`_first_row_is_header`. Without a header the
  columns are named by position, ``"0"``, ``"1"``, ...
- **.txt** is fastText's format, one example per line: ``__label__<class> <text>``.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.tsv"
>>> _ = path.write_text('say "hi\\ta\\nNA\\tb\\nsay "hi\\ta\\n', encoding="utf-8")
>>> _read_file(path).to_dict("list")  # no header: the label 'a' recurs in the first column
{'0': ['say "hi', 'NA', 'say "hi'], '1': ['a', 'b', 'a']}
"""

from __future__ import annotations

import csv
import gzip
import re
from pathlib import Path

import pandas as pd

from workbench.errors import DataError, ParameterError, first_line

__all__ = ["FILE_FORMATS"]

FILE_FORMATS: tuple[str, ...] = (".csv", ".tsv", ".jsonl", ".json", ".parquet", ".txt")
"""File extensions a local source may have, each optionally followed by ``.gz``; the ``format``
parameter of :func:`~workbench.data.load_dataset` takes the same names without the dot."""

_FORMATS: tuple[str, ...] = tuple(ext[1:] for ext in FILE_FORMATS)
_FUNC = "load_dataset"  # the public function whose parameters the messages name
_HEADER_SAMPLE_ROWS = 1000
_GZIP_MAGIC = b"\x1f\x8b"
_FASTTEXT_LINE = re.compile(r"__label__(\S+)(?:[ \t](.*))?", re.DOTALL)


def _read_file(path: Path, *, format: str | None = None, header: bool | None = None,
               columns: tuple[str, str] = ("text", "label")) -> pd.DataFrame:
    """One table read by pandas (fastText ``.txt`` by a line parser); an empty frame for an empty file.

    ``columns`` are the text and label column names :func:`~workbench.data.load_dataset` will
    look up: a first row holding both is a header. CSV/TSV frames carry ``attrs["header"]``
    (whether the first row was a header) and ``attrs["header_detected"]`` (whether that was
    detected rather than given), so that error messages can say which it was.
    """
    fmt = _file_format(path, format)
    if header is not None and fmt not in ("csv", "tsv"):
        raise ParameterError(f"The 'header' parameter of {_FUNC} applies to CSV and TSV files only. "
                             f"Got header={header!r} for {str(path)!r} (format {fmt!r}) instead. "
                             f"Fix: leave header=None.")
    try:
        compression = "gzip" if _is_gzip(path) else None
        if fmt in ("csv", "tsv"):
            return _read_delimited(path, fmt, header, columns, compression)
        if fmt == "parquet":
            return pd.read_parquet(path)
        if fmt == "txt":
            return _read_fasttext(path, compression)
        return _read_json(path, fmt, compression)
    except UnicodeDecodeError as exc:
        raise DataError(f"The file {str(path)!r} is not valid UTF-8 ({exc.reason} at byte "
                        f"{exc.start}). Fix: re-encode it to UTF-8, e.g. "
                        f"`iconv -f latin1 -t utf-8 in.csv > out.csv`.") from None
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except DataError:  # already says what is wrong (a ValueError, so it would be caught below)
        raise
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise DataError(f"Cannot parse {str(path)!r} as {fmt}: {first_line(exc)} "
                        f"Fix: check the file's format (format={fmt!r}).") from None


def _extension(path: Path) -> str:
    """The extension that names the format, ``.gz`` skipped: ``reviews.CSV.gz`` gives ``.csv``."""
    name = path.name.lower()
    return Path(name.removesuffix(".gz")).suffix


def _stem(path: Path) -> str:
    """The name without ``.gz`` and the format extension: ``train.csv.gz`` gives ``train``."""
    name = path.name.lower().removesuffix(".gz")
    return name.removesuffix(Path(name).suffix)


def _file_format(path: Path, format: str | None) -> str:
    if format is not None:
        return format
    extension = _extension(path)
    if extension in FILE_FORMATS:
        return extension[1:]
    listed = ", ".join(FILE_FORMATS)
    raise DataError(f"The 'source' parameter of {_FUNC} must be a folder or a {listed} file "
                    f"(optionally gzipped, as .csv.gz), or name its format with format=. "
                    f"Got {str(path)!r} (extension {extension or 'none'!r}) instead. "
                    f"Fix: export it as CSV (UTF-8), or pass format='csv' (one of "
                    f"{', '.join(repr(f) for f in _FORMATS)}) if it already is one.")


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(2) == _GZIP_MAGIC


def _open_text(path: Path, compression: str | None):
    if compression == "gzip":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


# --------------------------------------------------------------------------- CSV / TSV

def _read_delimited(path: Path, fmt: str, header: bool | None, columns: tuple[str, str],
                    compression: str | None) -> pd.DataFrame:
    options = dict(sep="\t" if fmt == "tsv" else ",", encoding="utf-8", dtype=str,
                   keep_default_na=False, na_values=[""], compression=compression,
                   quoting=csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL)
    detected = header is None
    if detected:
        sample = pd.read_csv(path, header=None, nrows=_HEADER_SAMPLE_ROWS, **options)
        header = _first_row_is_header(sample, columns)
    frame = pd.read_csv(path, header=0 if header else None, **options)
    if not header:
        frame.columns = [str(i) for i in range(frame.shape[1])]
    frame.attrs.update(header=header, header_detected=detected)
    return frame


def _first_row_is_header(sample: pd.DataFrame, columns: tuple[str, str] = ("text", "label")) -> bool:
    """Whether the first row of ``sample`` (read without a header, as strings) names the columns.

    The rule: a first row that holds both ``columns`` (the text and label column names that will be
    looked up) is a header. Otherwise the first row is data when one of its values occurs again in
    its column further down, or is a number in a column of numbers: a column name does neither,
    a label (``pos``, ``1``) does both. Anything else is a header. (``csv.Sniffer.has_header``
    compares value lengths instead, and takes ``text,label`` over labels ``great``/``other``, also
    five letters long, for data.)

    Examples
    --------
    >>> import pandas as pd
    >>> _first_row_is_header(pd.DataFrame([["body", "stars"], ["good", "5"], ["bad", "1"]]))
    True
    >>> _first_row_is_header(pd.DataFrame([["good", "pos"], ["bad", "neg"], ["fine", "pos"]]))
    False
    """
    first, rest = sample.iloc[0], sample.iloc[1:]
    names = set(columns)
    if not any(name.isdigit() for name in names) and names <= set(first.dropna()):
        return True
    for position in sample.columns:
        value, below = first[position], rest[position].dropna()
        if pd.isna(value) or below.empty:
            continue
        if (below == value).any():
            return False
        if _numbers(pd.Series([value])) and _numbers(below):
            return False
    return True


def _numbers(values: pd.Series) -> bool:
    return bool(pd.to_numeric(values, errors="coerce").notna().all())


# --------------------------------------------------------------------------- JSON

def _read_json(path: Path, fmt: str, compression: str | None) -> pd.DataFrame:
    """JSON lines, or (for ``json`` only) one array of records."""
    with _open_text(path, compression) as file:
        start = file.read(4096).lstrip()
    if not start:
        return pd.DataFrame()
    as_array = fmt == "json" and start.startswith("[")
    # precise_float: the fast float parser rounds 1.0000000000000002e+16 to 1e+16, merging labels.
    return pd.read_json(path, lines=not as_array, encoding="utf-8", dtype=False,
                        compression=compression, precise_float=True)


# --------------------------------------------------------------------------- fastText .txt

def _read_fasttext(path: Path, compression: str | None) -> pd.DataFrame:
    """``__label__<class> <text>`` per line (fastText's format); blank lines are skipped.

    The text is everything after the first space or tab, verbatim. A line without the prefix, or
    with a second ``__label__`` (fastText's multi-label form), is refused with its number.
    """
    with _open_text(path, compression) as file:
        lines = file.read().split("\n")
    rows = []
    for number, line in enumerate(lines, start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        match = _FASTTEXT_LINE.fullmatch(line)
        if match is None or (match.group(2) or "").startswith("__label__"):
            why = "does not start with __label__<class>" if match is None else "has several labels"
            raise DataError(f"Line {number} of {str(path)!r} {why}: {line[:60]!r}. A .txt source is "
                            f"read as fastText's format, one '__label__<class> <text>' per line, one "
                            f"label each. Fix: rewrite that line, or pass format='tsv' (or 'csv') "
                            f"for a table.")
        rows.append({"text": match.group(2) or "", "label": match.group(1)})
    return pd.DataFrame(rows, columns=["text", "label"]) if rows else pd.DataFrame()
