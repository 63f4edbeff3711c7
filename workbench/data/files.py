"""One local file in, one pandas DataFrame out: CSV, TSV, JSON lines, JSON records, Parquet.

pandas does the reading; this module decides the options (UTF-8, only empty cells are missing)
and turns the library's failures into one-line :class:`~workbench.errors.DataError` messages.

>>> import pandas as pd, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.csv"
>>> _ = path.write_text("text,label\\nNA,a\\nhi,b\\n", encoding="utf-8")
>>> _read_file(path).to_dict("list")
{'text': ['NA', 'hi'], 'label': ['a', 'b']}
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from workbench.errors import DataError, first_line

__all__ = ["FILE_FORMATS"]

FILE_FORMATS: tuple[str, ...] = (".csv", ".tsv", ".jsonl", ".json", ".parquet")
"""File extensions a local source may have (or a folder, see :mod:`workbench.data`)."""

_FUNC = "load_dataset"  # the public function whose parameters the messages name


def _read_file(path: Path) -> pd.DataFrame:
    """One table read by pandas; only empty cells count as missing ('NA', 'null' are text).

    Parameters
    ----------
    path : pathlib.Path
        An existing file whose extension is one of :data:`FILE_FORMATS`.

    Returns
    -------
    pandas.DataFrame
        The file's columns as written; an empty frame for an empty file.
    """
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
