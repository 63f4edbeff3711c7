"""Property-based tests of workbench.data.load_dataset on generated CSV, TSV, JSON lines and fastText files.

Each example writes one file (sometimes gzipped, sometimes without an extension and named by
``format=``) of rows of random Unicode: right-to-left scripts, emoji, zero-width and control
characters, quotes, delimiters, tabs and line breaks where the format allows them, one huge field,
empty and blank cells; two or three classes; then loads it. The properties:

- it loads, or raises a WorkbenchError whose message is one line;
- no silent row loss: the rows of the three splits plus the rows counted by the "Dropped k of n
  rows" warnings are the rows written, and each warning's n is the number written;
- texts are kept verbatim, and so are the labels of CSV, TSV and fastText files: the (text, label)
  pairs over the splits are exactly the written rows that have a text and a label;
- JSON labels of mixed types (strings, integers, floats, booleans, nulls): each written value is
  one class, named as one way of writing it, and no class holds two different values.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import re
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from workbench.data import load_dataset
from workbench.errors import WorkbenchError

# Hypothesis caches Unicode tables and constants (at collection time) in ./.hypothesis; keep them
# out of the checkout, in one folder reused across runs.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "nlp-workbench-hypothesis")

# Reproducible, nothing written to an example database, no per-example deadline (a load builds
# three datasets.Dataset objects; machines here are noisy). About 5 s per format on 2 cores.
FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=60,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ODD = ["", " ", "  ", "\t", "\u3000", "\u00a0", '"', '""', "'", ",", ";", "\\", "\u200b", "\u200d",
       "\u200f", "\u202e", "\u2066", "\ufeff", "\x00", "\x01", "\x1b", "\x7f", "\x85", "\x1c",
       "\u2028", "\U0001f642", "\U0001f1fa\U0001f1f8", "\U0001f468\u200d\U0001f469\u200d\U0001f467",
       "\u05e9\u05dc\u05d5\u05dd", "\u0645\u0631\u062d\u0628\u0627", "e\u0301", "NA", "null", "nan",
       "None", "N/A", "#", "007", "1.0", "-", "__label__", "\n", "\r\n", "\r"]
BREAKS = "\t\n\r"  # what a TSV cell cannot hold (no quoting)
WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
# UTF-8 files cannot hold lone surrogates; pandas' JSON reader drops escaped ones (\ud800).
CHARS = st.characters(exclude_categories=("Cs",))


def cells(*, exclude: str = "") -> st.SearchStrategy[str]:
    """Short texts glued from random characters and the awkward pieces above."""
    chars = st.characters(exclude_categories=("Cs",), exclude_characters=exclude) if exclude else CHARS
    odd = [piece for piece in ODD if not set(piece) & set(exclude)]
    return st.lists(st.one_of(st.text(chars, max_size=6), st.sampled_from(odd)), max_size=5).map("".join)


def labels(*, exclude: str = "") -> st.SearchStrategy[str]:
    """Non-empty label strings (an empty cell is a missing label)."""
    chars = st.characters(exclude_categories=("Cs",), exclude_characters=exclude) if exclude else CHARS
    odd = [piece for piece in ODD if piece and not set(piece) & set(exclude)]
    return st.one_of(st.text(chars, min_size=1, max_size=6), st.sampled_from(odd))


HUGE = st.sampled_from(["x", "\u00e9", "\U0001f642", '"', ",", " y"]).map(lambda piece: piece * 50_000)


@st.composite
def tables(draw, *, exclude: str = "", label_values: st.SearchStrategy | None = None,
           missing_labels: bool = True) -> list[tuple[str | None, object]]:
    """32-48 rows over 2-3 classes (each big enough to split); up to 3 rows with a blank text or
    no label (``None``); maybe one huge text."""
    pool = draw(st.lists(label_values if label_values is not None else labels(exclude=exclude),
                         min_size=2, max_size=3, unique_by=_label_key))
    n = draw(st.integers(32, 48))
    texts = draw(st.lists(cells(exclude=exclude).map(lambda text: text or "x"), min_size=n, max_size=n))
    rows = [(text, pool[i % len(pool)]) for i, text in enumerate(texts)]
    for i in draw(st.lists(st.integers(0, n - 1), max_size=3, unique=True)):
        if missing_labels and draw(st.booleans()):
            rows[i] = (rows[i][0], None)
        else:
            blank = [text for text in ("", " ", "\u3000", "\x1c", "\t\n") if not set(text) & set(exclude)]
            rows[i] = (draw(st.sampled_from([*blank, None])), rows[i][1])
    if draw(st.booleans()):
        i = draw(st.integers(0, n - 1))
        rows[i] = (draw(HUGE), rows[i][1])
    return rows


def _label_key(value: object) -> tuple[str, object]:
    """What makes two written labels the same value: 1 and 1.0 are, True and 1 are not."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    return ("str", value)


_names = itertools.count()


def _write(folder: Path, fmt: str, content: str, *, gzipped: bool, extension: bool) -> tuple[Path, str | None]:
    """The file, and the format= to pass (None when its extension says)."""
    name = f"data{next(_names)}" + (f".{fmt}" if extension else "") + (".gz" if gzipped else "")
    path = folder / name
    data = content.encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if gzipped else data)
    return path, None if extension else fmt


def _load(path: Path, **options) -> tuple[list[tuple[str, str]] | None, list[str]]:
    """Rows of all three splits as (text, label name), or None on a WorkbenchError; the warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            dsd = load_dataset(str(path), seed=0, **options)
        except WorkbenchError as exc:
            assert "\n" not in str(exc) and str(exc).strip(), repr(str(exc))
            event(f"refused: {str(exc)[:40]}")  # --hypothesis-show-statistics lists these
            return None, []
    event("loaded")
    rows = []
    for split in ("train", "validation", "test"):
        names = dsd[split].features["label"].names
        rows += [(text, names[code]) for text, code in zip(dsd[split]["text"], dsd[split]["label"])]
    return rows, [str(w.message) for w in caught]


def _check_no_silent_loss(kept: list, messages: list[str], n_written: int) -> None:
    dropped = [tuple(map(int, m.groups())) for message in messages
               if (m := re.match(r"Dropped (\d+) of (\d+) rows", message))]
    assert all(total == n_written for _, total in dropped), (dropped, n_written)
    assert len(kept) + sum(k for k, _ in dropped) == n_written, (len(kept), dropped, n_written)


def _expected(rows: list[tuple[str | None, object]]) -> Counter:
    return Counter((text, label) for text, label in rows
                   if text is not None and text.strip() and label is not None)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz_data")


def _delimited(rows, fmt: str, header: bool) -> str:
    out = io.StringIO()
    if fmt == "csv":  # "\r\n" makes the writer quote any cell holding "\r" or "\n"
        writer = csv.writer(out, lineterminator="\r\n")
    else:
        writer = csv.writer(out, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None,
                            escapechar=None, lineterminator="\n")
    if header:
        writer.writerow(["text", "label"])
    writer.writerows([("" if text is None else text, "" if label is None else label)
                      for text, label in rows])
    return out.getvalue()


@st.composite
def delimited_cases(draw, fmt: str):
    rows = draw(tables(exclude=BREAKS if fmt == "tsv" else ""))
    mode = draw(st.sampled_from(["header", "header=None", "no header", "no header, header=None"]))
    return rows, mode, draw(st.booleans()), draw(st.booleans())


@FUZZ
@pytest.mark.parametrize("fmt", ["csv", "tsv"])
@given(data=st.data())
def test_delimited_files_load_every_row_verbatim_or_fail_in_one_line(folder, fmt, data):
    rows, mode, gzipped, extension = data.draw(delimited_cases(fmt))
    has_header = not mode.startswith("no header")
    # A file's first character U+FEFF is its byte-order mark, not text.
    assume(has_header or not (rows[0][0] or "").startswith("\ufeff"))
    path, format = _write(folder, fmt, _delimited(rows, fmt, has_header), gzipped=gzipped,
                          extension=extension)
    header = None if "header=None" in mode else has_header
    kept, messages = _load(path, format=format, header=header)
    if kept is None:
        return
    _check_no_silent_loss(kept, messages, len(rows))
    assert Counter(kept) == _expected(rows)


@st.composite
def fasttext_cases(draw):
    # A label is a run of non-space characters; a text holds no line break and does not start with
    # another "__label__" (fastText's multi-label form, refused).
    rows = draw(tables(exclude="\n\r", label_values=labels(exclude=WHITESPACE), missing_labels=False))
    rows = [(text.replace("__label__", "__lab__") if text else text, label) for text, label in rows]
    separators = draw(st.lists(st.sampled_from([" ", "\t"]), min_size=len(rows), max_size=len(rows)))
    blank_lines = draw(st.lists(st.sampled_from(["", " ", "\r"]), max_size=3))
    return rows, separators, blank_lines, draw(st.booleans())


@FUZZ
@given(case=fasttext_cases())
def test_fasttext_files_load_every_row_verbatim_or_fail_in_one_line(folder, case):
    rows, separators, blank_lines, gzipped = case
    lines = [f"__label__{label}{sep}{text or ''}" for (text, label), sep in zip(rows, separators)]
    content = "\n".join(lines + blank_lines) + "\n"
    path, format = _write(folder, "txt", content, gzipped=gzipped, extension=True)
    kept, messages = _load(path, format=format)
    if kept is None:
        return
    # A line's final "\r" is its CRLF; blank lines are no rows.
    _check_no_silent_loss(kept, messages, len(rows))
    assert Counter(kept) == _expected([((text or ""), label) for text, label in rows])


JSON_LABELS = st.one_of(labels(), st.integers(-2**53, 2**53), st.booleans(),
                        st.floats(allow_nan=False, allow_infinity=False))


def _spellings(value: object) -> set[str]:
    """Names a written JSON label may get: as written, or as pandas typed its column."""
    if isinstance(value, bool) or isinstance(value, str):
        return {str(value)}
    if isinstance(value, int):
        return {str(value), str(float(value)), str(int(float(value)))}
    return {str(value), repr(value)} | ({str(int(value))} if value.is_integer() else set())


@st.composite
def jsonl_cases(draw):
    rows = draw(tables(label_values=JSON_LABELS))
    absent = draw(st.sampled_from(["null", "absent key"]))
    return rows, absent, draw(st.booleans()), draw(st.booleans())


def _two_classes(first: object, second: object) -> list[tuple[str, object]]:
    return [(f"text {i}", (first, second)[i % 2]) for i in range(40)]


@FUZZ
@given(case=jsonl_cases())
# Found by this test: whole floats past 2**63 raised OverflowError (astype("int64")), and pandas'
# fast float parser read 1.0000000000000002e+16 as 1e+16, merging two classes into one.
@example(case=(_two_classes(1e20, 1e21), "null", True, False))
@example(case=(_two_classes(1.0000000000000002e16, 1e16), "null", True, False))
def test_jsonl_files_load_every_row_or_fail_in_one_line(folder, case):
    rows, absent, ascii_only, gzipped = case
    records = [{key: value for key, value in (("text", text), ("label", label))
                if value is not None or absent == "null"} for text, label in rows]
    content = "".join(json.dumps(record, ensure_ascii=ascii_only) + "\n" for record in records)
    path, format = _write(folder, "jsonl", content, gzipped=gzipped, extension=True)
    kept, messages = _load(path, format=format)
    if kept is None:
        return
    _check_no_silent_loss(kept, messages, len(rows))
    expected = [(text, label) for text, label in rows
                if text is not None and text.strip() and label is not None]
    assert Counter(text for text, _ in kept) == Counter(text for text, _ in expected)
    # Rows keep their order within a split only, so pair written and loaded rows by text.
    classes: dict[str, set] = {}
    by_text: dict[str, list] = {}
    for text, label in expected:
        by_text.setdefault(text, []).append(label)
    for text, name in kept:
        written = by_text[text]
        assert any(name in _spellings(label) for label in written), (name, written)
        if len(set(map(_label_key, written))) == 1:
            classes.setdefault(name, set()).add(_label_key(written[0]))
    assert all(len(keys) == 1 for keys in classes.values()), classes
