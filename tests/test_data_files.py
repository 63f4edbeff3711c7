"""workbench.data.files and the file parameters of load_dataset: headers, formats, gzip, TSV, labels, paths.

Each case writes the file a user would have (under tmp_path) and checks the data set that comes
back, or the one-line message that says what to change.
"""

from __future__ import annotations

import gzip
import re

import pandas as pd
import pytest

from workbench.data import dataset_info, load_dataset
from workbench.data.files import _first_row_is_header
from workbench.errors import DataError, ParameterError


def lines(path, rows, *, sep=","):
    """Write ``rows`` (tuples of cells) as delimited lines, verbatim (no quoting); return the path."""
    path.write_text("".join(sep.join(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


def reviews(n: int = 20) -> list[tuple[str, str]]:
    """``n`` (text, label) pairs, half ``pos`` and half ``neg``, texts unique."""
    return [(f"review number {i} was {'good' if i % 2 else 'bad'}", "pos" if i % 2 else "neg")
            for i in range(n)]


def all_rows(dsd) -> dict[str, str]:
    """Every text of every split mapped to its label name."""
    return {text: ds.features["label"].names[label]
            for ds in dsd.values() for text, label in zip(ds["text"], ds["label"])}


@pytest.fixture
def reference(tiny_frame, tmp_path):
    """The hash of ``tiny_frame`` read from a plain CSV with a header."""
    tiny_frame.to_csv(tmp_path / "reference.csv", index=False)
    return dataset_info(load_dataset(str(tmp_path / "reference.csv")))["hash"]


# --------------------------------------------------------------------------- header detection

@pytest.mark.parametrize(("rows", "expected"), [
    ([["text", "label"], ["good", "pos"], ["bad", "neg"]], True),        # the default column names
    ([["body", "stars"], ["good", "5"], ["bad", "1"]], True),            # names over numbers
    ([["body", "mood"], ["good", "pos"], ["fine", "pos"]], True),        # names over labels
    ([["good", "pos"], ["bad", "neg"], ["fine", "pos"]], False),         # the first label recurs
    ([["good", "5"], ["bad", "1"], ["fine", "3"]], False),               # a number over numbers
    ([["text", "label"]], True),                                         # one row: header only
    ([[None, "text", "label"], [None, "a", "x"], ["1", "b", "x"]], True),  # an unnamed index column
])
def test_first_row_is_header_known_answers(rows, expected):
    assert _first_row_is_header(pd.DataFrame(rows)) is expected


def test_first_row_holding_the_named_columns_is_a_header():
    sample = pd.DataFrame([["body", "mood"], ["body", "mood"], ["x", "y"]])  # names recur below
    assert _first_row_is_header(sample) is False
    assert _first_row_is_header(sample, ("body", "mood")) is True


def test_headerless_csv_defaults_to_text_then_label(tmp_path):
    rows = reviews(20)
    dsd = load_dataset(lines(tmp_path / "plain.csv", rows))
    assert all_rows(dsd) == dict(rows)  # all 20 rows, none taken for a header
    info = dataset_info(dsd)
    assert (info["text_column"], info["label_column"]) == ("0", "1")
    assert info["label_names"] == ["neg", "pos"]


def test_headerless_columns_by_position_as_digits_or_ints(tmp_path):
    rows = [(str(i), label, text) for i, (text, label) in enumerate(reviews(20))]
    path = lines(tmp_path / "three.tsv", rows, sep="\t")
    by_digits = load_dataset(path, text_column="2", label_column="1")
    by_ints = load_dataset(path, text_column=2, label_column=1)
    assert all_rows(by_digits) == {text: label for _, label, text in rows}
    assert dataset_info(by_ints)["hash"] == dataset_info(by_digits)["hash"]


def test_header_false_and_true_override_detection(tmp_path):
    # The first row is the only 'rare' example, so detection takes it for a header.
    rows = [("odd one out", "rare"), *reviews(20)]
    path = lines(tmp_path / "rare_first.csv", rows)
    with pytest.raises(DataError, match=r"first row was taken for the header.*header=False"):
        load_dataset(path)
    with pytest.raises(DataError, match=r"each class needs at least 3.*'rare' \(1\)"):
        load_dataset(path, header=False)  # now read as data: a class of one example
    dsd = load_dataset(path, header=True, text_column="odd one out", label_column="rare")
    assert all_rows(dsd) == dict(reviews(20))


def test_headerless_file_with_three_columns_needs_positions(tmp_path):
    rows = [(str(i), label, text) for i, (text, label) in enumerate(reviews(20))]
    with pytest.raises(DataError, match=r"'text_column' parameter of load_dataset must name a column.*"
                                        r"Got 'text' instead; the columns are '0', '1', '2' \(it has "
                                        r"no header.*numbered from 0\)\. Fix: pass text_column="):
        load_dataset(lines(tmp_path / "three.csv", rows))


def test_headerless_label_first_says_to_swap_the_columns(tmp_path):
    rows = [(label, text) for text, label in reviews(20)]
    with pytest.raises(DataError, match=r"has no header, so text_column defaults to its first column "
                                        r"\('0'\).*column '1' looks like text \(20 distinct values in "
                                        r"20 rows\).*Fix: pass text_column='1' and label_column='0'\."):
        load_dataset(lines(tmp_path / "label_first.csv", rows))
    dsd = load_dataset(lines(tmp_path / "label_first.csv", rows), text_column="1", label_column="0")
    assert all_rows(dsd) == dict(reviews(20))
    # Naming one column of a headerless two-column file makes the other the other one.
    for named in ({"text_column": "1"}, {"label_column": 0}):
        again = load_dataset(lines(tmp_path / "label_first.csv", rows), **named)
        assert dataset_info(again)["hash"] == dataset_info(dsd)["hash"], named


def test_header_is_refused_for_files_without_rows_of_cells(tiny_frame, tmp_path):
    tiny_frame.to_json(tmp_path / "t.jsonl", orient="records", lines=True)
    with pytest.raises(ParameterError, match=r"'header' parameter of load_dataset applies to CSV and "
                                             r"TSV files only\. Got header=True for .*t\.jsonl' "
                                             r"\(format 'jsonl'\).*Fix: leave header=None\."):
        load_dataset(str(tmp_path / "t.jsonl"), header=True)


@pytest.mark.parametrize(("name", "value"), [("format", "csv"), ("header", False)])
def test_file_parameters_need_a_local_source(name, value):
    with pytest.raises(ParameterError, match=rf"'{name}' parameter of load_dataset applies to local "
                                             rf"files only\. Got {name}={value!r} with "
                                             rf"source='builtin:fine_foods'.*Fix: leave {name}=None"):
        load_dataset("builtin:fine_foods", **{name: value})


@pytest.mark.parametrize("value", ["yes", 1])
def test_header_of_wrong_type(tiny_frame, tmp_path, value):
    tiny_frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(ParameterError, match=r"'header' parameter of load_dataset must be of type bool"):
        load_dataset(str(tmp_path / "t.csv"), header=value)


def test_negative_column_position(tiny_frame, tmp_path):
    tiny_frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(ParameterError, match=r"'text_column' parameter of load_dataset must be an int "
                                             r">= 0\. Got -1 instead"):
        load_dataset(str(tmp_path / "t.csv"), text_column=-1)


# --------------------------------------------------------------------------- formats

@pytest.mark.parametrize("format", ["csv", "CSV", ".csv"])
def test_format_reads_a_file_without_extension(tiny_frame, tmp_path, reference, format):
    tiny_frame.to_csv(tmp_path / "reviews", index=False)
    assert dataset_info(load_dataset(str(tmp_path / "reviews"), format=format))["hash"] == reference


def test_format_overrides_the_extension(tiny_frame, tmp_path, reference):
    tiny_frame.to_csv(tmp_path / "export.dat", sep="\t", index=False)
    assert dataset_info(load_dataset(str(tmp_path / "export.dat"), format="tsv"))["hash"] == reference


def test_format_applies_to_the_split_files_of_a_folder(tiny_frame, tmp_path):
    tiny_frame.to_csv(tmp_path / "train", index=False)
    tiny_frame.iloc[[0, 39]].to_csv(tmp_path / "test", index=False)
    dsd = load_dataset(str(tmp_path), format="csv")
    assert dsd["test"]["text"] == [tiny_frame.loc[0, "text"], tiny_frame.loc[39, "text"]]
    assert dataset_info(dsd)["sizes"] == {"train": 36, "validation": 4, "test": 2}


def test_file_without_extension_needs_format(tiny_frame, tmp_path):
    tiny_frame.to_csv(tmp_path / "reviews", index=False)
    with pytest.raises(DataError, match=r"'source' parameter of load_dataset must be a folder or a "
                                        r"\.csv, .*\.txt file.*Got .*reviews' \(extension 'none'\) "
                                        r"instead\. Fix: .*pass format='csv'"):
        load_dataset(str(tmp_path / "reviews"))


@pytest.mark.parametrize("value", ["xlsx", "", "csv.gz"])
def test_unknown_format_names_the_choices_and_the_fix(tiny_csv_path, value):
    with pytest.raises(ParameterError, match=r"^The 'format' parameter of load_dataset must be one of "
                                             r"'csv', 'tsv', 'jsonl', 'json', 'parquet', 'txt', or None "
                                             rf"to go by the file's extension\. Got {re.escape(repr(value))}"
                                             r" instead\. Fix: export the file as CSV"):
        load_dataset(tiny_csv_path, format=value)


@pytest.fixture
def tiny_csv_path(tiny_frame, tmp_path):
    tiny_frame.to_csv(tmp_path / "tiny.csv", index=False)
    return str(tmp_path / "tiny.csv")


# --------------------------------------------------------------------------- fastText .txt

def test_fasttext_txt_gives_the_same_data_set_as_the_csv(tiny_frame, tmp_path, reference):
    body = "".join(f"__label__{label} {text}\n" for text, label in tiny_frame.itertuples(index=False))
    (tmp_path / "reviews.txt").write_text(body + "\n", encoding="utf-8")  # a blank line is skipped
    assert dataset_info(load_dataset(str(tmp_path / "reviews.txt")))["hash"] == reference


def test_fasttext_text_is_kept_verbatim(tmp_path):
    texts = [f'line {i}\twith a tab, a "quote" and  two spaces' for i in range(20)]
    body = "".join(f"__label__{'ab'[i % 2]} {text}\r\n" for i, text in enumerate(texts))
    (tmp_path / "crlf.txt").write_text(body, encoding="utf-8", newline="")
    dsd = load_dataset(str(tmp_path / "crlf.txt"))
    assert all_rows(dsd) == {text: "ab"[i % 2] for i, text in enumerate(texts)}


@pytest.mark.parametrize(("line", "why"), [("pos great", "does not start with __label__<class>"),
                                           ("__label__a __label__b both", "has several labels")])
def test_fasttext_line_that_is_not_one_label_and_a_text(tmp_path, line, why):
    (tmp_path / "bad.txt").write_text(f"__label__a fine\n\n{line}\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"^Line 3 of .*bad\.txt' {re.escape(why)}: "
                                        rf"{re.escape(repr(line))}\..*Fix: rewrite that line, or pass "
                                        r"format='tsv'"):
        load_dataset(str(tmp_path / "bad.txt"))


# --------------------------------------------------------------------------- gzip

@pytest.mark.parametrize("name", ["r.csv.gz", "r.tsv.gz", "r.jsonl.gz", "r.json.gz", "R.CSV.GZ"])
def test_gzipped_files_are_read_transparently(tiny_frame, tmp_path, reference, name):
    path = tmp_path / name
    if ".json" in name:
        tiny_frame.to_json(path, orient="records", lines=".jsonl" in name, compression="gzip")
    else:
        tiny_frame.to_csv(path, sep="\t" if ".tsv" in name else ",", index=False, compression="gzip")
    assert dataset_info(load_dataset(str(path)))["hash"] == reference


def test_gzip_is_recognised_by_its_bytes_not_its_name(tiny_frame, tmp_path, reference):
    body = "".join(f"__label__{label} {text}\n" for text, label in tiny_frame.itertuples(index=False))
    (tmp_path / "reviews.txt").write_bytes(gzip.compress(body.encode()))  # gzipped, named .txt
    tiny_frame.to_csv(tmp_path / "dump", index=False, compression="gzip")
    assert dataset_info(load_dataset(str(tmp_path / "reviews.txt")))["hash"] == reference
    assert dataset_info(load_dataset(str(tmp_path / "dump"), format="csv"))["hash"] == reference


def test_corrupt_gzip_is_a_parse_error(tmp_path):
    (tmp_path / "broken.csv.gz").write_bytes(b"\x1f\x8b" + b"not really gzip")
    with pytest.raises(DataError, match=r"^Cannot parse .*broken\.csv\.gz' as csv: .*Fix: check the "
                                        r"file's format \(format='csv'\)\.$"):
        load_dataset(str(tmp_path / "broken.csv.gz"))


def test_gzipped_split_files_in_a_folder(tiny_frame, tmp_path):
    tiny_frame.to_csv(tmp_path / "train.csv.gz", index=False, compression="gzip")
    tiny_frame.iloc[[0, 39]].to_csv(tmp_path / "test.csv.gz", index=False, compression="gzip")
    assert dataset_info(load_dataset(str(tmp_path)))["sizes"] == {"train": 36, "validation": 4,
                                                                  "test": 2}


# --------------------------------------------------------------------------- TSV and labels as written

def test_tsv_quotes_are_characters(tmp_path):
    texts = ['he said "hi" twice', '5" screen, no closing quote', '"starts quoted" then not',
             "plain"] * 5
    texts = [f"{text} #{i}" if i else text for i, text in enumerate(texts)]  # unique
    rows = [("text", "label")] + [(text, "ab"[i % 2]) for i, text in enumerate(texts)]
    dsd = load_dataset(lines(tmp_path / "quotes.tsv", rows, sep="\t"))
    assert all_rows(dsd) == {text: "ab"[i % 2] for i, text in enumerate(texts)}  # 20 rows, verbatim


def test_labels_are_kept_as_written(tmp_path):
    rows = [("text", "label")] + [(f"example {i}", ["007", "7", "1.0"][i % 3]) for i in range(30)]
    dsd = load_dataset(lines(tmp_path / "codes.csv", rows))
    assert dsd["train"].features["label"].names == ["1.0", "007", "7"]  # numeric order, ties by name
    assert {all_rows(dsd)[f"example {i}"] for i in (0, 1, 2)} == {"007", "7", "1.0"}
    assert all_rows(dsd)["example 0"] == "007"


def test_texts_that_look_like_numbers_stay_verbatim(tmp_path):
    rows = [("text", "label")] + [(f"{i}.50", "ab"[i % 2]) for i in range(20)]
    dsd = load_dataset(lines(tmp_path / "numbers.csv", rows))
    assert sorted(all_rows(dsd)) == sorted(f"{i}.50" for i in range(20))


# --------------------------------------------------------------------------- missing paths

def test_missing_relative_path_names_the_absolute_path_and_the_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    looked_for = re.escape(str((tmp_path / "data" / "mine.csv").resolve()))
    cwd = re.escape(str(tmp_path.resolve()))
    with pytest.raises(DataError, match=rf"^The 'source' parameter of load_dataset must be an existing "
                                        rf"file or folder\. Got 'data/mine\.csv' instead: nothing at "
                                        rf"{looked_for}; a relative path resolves against the current "
                                        rf"working directory, {cwd}\. Fix: check the spelling, or pass "
                                        rf"an absolute path\.$"):
        load_dataset("data/mine.csv")


def test_missing_absolute_path_names_only_that_path(tmp_path):
    with pytest.raises(DataError, match=r"Got '.*nope\.csv' instead: nothing at .*nope\.csv\. Fix:") as info:
        load_dataset(str(tmp_path / "nope.csv"))
    assert "working directory" not in str(info.value) and "data/" not in str(info.value)
