"""workbench.data overview frames (dataset_info aside) and their plots: known counts, fixed columns."""

from __future__ import annotations

import datasets
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from workbench import data
from workbench.data import (class_balance, dataset_info, duplicate_summary, find_duplicates,
                            load_dataset, plot_class_balance, plot_text_lengths, sample_rows,
                            text_lengths)
from workbench.errors import ParameterError


@pytest.fixture(scope="module")
def fine_foods():
    return load_dataset()


@pytest.fixture
def dup_dsd(tmp_path):
    """Given splits: 'same' twice in train, 'leak' in train and test, 'val' in validation and test."""
    splits = {"train": ["same", "same", "leak", "a", "b", "c"], "validation": ["val", "d"],
              "test": ["leak", "val", "fresh"]}
    for split, texts in splits.items():
        labels = ["x", "y"] * (len(texts) // 2) + ["x"] * (len(texts) % 2)
        pd.DataFrame({"text": texts, "label": labels}).to_csv(tmp_path / f"{split}.csv", index=False)
    return load_dataset(str(tmp_path))


def test_class_balance_counts_every_class_in_every_split(fine_foods):
    balance = class_balance(fine_foods)
    assert balance.columns.tolist() == ["split", "label", "count", "fraction"]
    assert balance[["split", "label", "count"]].values.tolist() == [
        ["train", "great", 2340], ["train", "other", 1260], ["validation", "great", 260],
        ["validation", "other", 140], ["test", "great", 658], ["test", "other", 342]]
    assert balance.groupby("split")["fraction"].sum().tolist() == pytest.approx([1, 1, 1])


def test_text_lengths_one_row_per_example(dup_dsd):
    lengths = text_lengths(dup_dsd)
    assert lengths.columns.tolist() == ["split", "label", "n_words", "n_chars"]
    assert len(lengths) == 11
    assert lengths.loc[lengths["split"] == "test"].values.tolist() == [
        ["test", "x", 1, 4], ["test", "y", 1, 3], ["test", "x", 1, 5]]


def test_find_duplicates_within_and_across_splits(dup_dsd):
    dups = find_duplicates(dup_dsd)
    assert dups.values.tolist() == [["train", "train", "same", 2], ["train", "test", "leak", 1],
                                    ["validation", "test", "val", 1]]
    assert duplicate_summary(dups) == {"train": 1, "train/test": 1, "validation/test": 1}


def test_find_duplicates_agrees_with_pandas_on_fine_foods(fine_foods):
    dups = find_duplicates(fine_foods)
    train = pd.Series(fine_foods["train"]["text"])
    test = pd.Series(fine_foods["test"]["text"])
    expected_within = int((train.value_counts() - 1).sum())
    assert duplicate_summary(dups)["train"] == expected_within
    assert duplicate_summary(dups)["train/test"] == int(test.isin(set(train)).sum())


def test_the_overview_follows_a_split_s_row_order_after_select_and_shuffle(fine_foods):
    """Arrow columns are read through the split's indices mapping (what select, shuffle and subsample leave)."""
    picked = datasets.DatasetDict(train=fine_foods["train"].shuffle(seed=1).select(range(500)),
                                  test=fine_foods["train"].select([5, 5, 9, 2]))
    train, test = pd.Series(picked["train"]["text"]), list(picked["test"]["text"])
    balance = class_balance(picked).set_index(["split", "label"])["count"]
    names = picked["train"].features["label"].names
    assert balance["train"].to_dict() == pd.Series([names[y] for y in picked["train"]["label"]]).value_counts().to_dict()
    dups = find_duplicates(picked)
    within = dups[dups["split_a"] == dups["split_b"]]
    assert within[within["split_a"] == "test"].values.tolist() == [["test", "test", test[0], 2]]
    assert duplicate_summary(dups).get("train/test", 0) == sum(t in set(train) for t in test)
    assert text_lengths(picked).loc[lambda f: f["split"] == "test", "n_chars"].tolist() == [len(t) for t in test]


def test_sample_rows_picks_what_pandas_sample_picks(fine_foods):
    frame = pd.DataFrame({"text": fine_foods["test"]["text"],
                          "label": [fine_foods["test"].features["label"].names[y] for y in fine_foods["test"]["label"]]},
                         dtype=object)
    for seed in (0, 7):
        expected = frame.sample(n=5, random_state=seed).reset_index(drop=True)
        assert sample_rows(fine_foods, n=5, split="test", seed=seed).equals(expected)


def test_sample_rows_is_seeded_and_names_labels(fine_foods):
    rows = sample_rows(fine_foods, n=3, split="test", seed=7)
    assert rows.columns.tolist() == ["text", "label"]
    assert rows.equals(sample_rows(fine_foods, n=3, split="test", seed=7))
    assert set(rows["label"]) <= {"great", "other"}
    assert len(sample_rows(fine_foods, n=10_000, split="validation")) == 400


def test_plots_return_figures(fine_foods):
    small = load_dataset(max_examples=30)
    fig = plot_class_balance(class_balance(small))
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert len(fig.axes[0].patches) == 6  # 3 splits x 2 classes
    fig = plot_text_lengths(text_lengths(small))
    assert isinstance(fig, Figure) and [ax.get_xscale() for ax in fig.axes] == ["log", "log"]


def test_empty_data_set_gives_empty_frames_and_a_warning():
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["a", "b"])})
    empty = datasets.DatasetDict({"train": datasets.Dataset.from_dict(
        {"text": [], "label": []}, features=features)})
    for func, columns in ((class_balance, ["split", "label", "count", "fraction"]),
                          (text_lengths, ["split", "label", "n_words", "n_chars"]),
                          (find_duplicates, ["split_a", "split_b", "text", "count"])):
        with pytest.warns(UserWarning, match="without rows"):
            frame = func(empty)
        assert frame.empty and frame.columns.tolist() == columns
    assert isinstance(plot_class_balance(pd.DataFrame(columns=["split", "label", "count",
                                                               "fraction"])), Figure)


def test_overview_functions_reject_other_inputs(fine_foods):
    with pytest.raises(ParameterError, match=r"'dsd' parameter of dataset_info must be of type "
                                             r"DatasetDict"):
        dataset_info(pd.DataFrame())
    with pytest.raises(ParameterError, match=r"'split' parameter of sample_rows must be one of "
                                             r"\['train', 'validation', 'test'\]\. Got 'dev'"):
        sample_rows(fine_foods, split="dev")
    with pytest.raises(ParameterError, match=r"'lengths' parameter of plot_text_lengths must have "
                                             r"columns .*missing \['n_words', 'n_chars'\]"):
        plot_text_lengths(pd.DataFrame(columns=["split", "label"]))


def test_module_exports_are_documented():
    for name in data.__all__:
        obj = getattr(data, name)
        if callable(obj):
            assert obj.__doc__ and "Examples" in obj.__doc__, name


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=40), min_size=1, max_size=5))
def test_word_counts_equal_str_split(texts):
    from workbench.data.overview import text_lengths

    dsd = datasets.DatasetDict({"train": datasets.Dataset.from_dict(
        {"text": texts, "label": [0] * len(texts)},
        features=datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["a"])}))})
    assert text_lengths(dsd)["n_words"].tolist() == [len(text.split()) for text in texts]
