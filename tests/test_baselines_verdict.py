"""The data notebook's decisions: the normalization is chosen on validation, never on test."""

from __future__ import annotations

import datasets
import numpy as np
import pandas as pd
import pytest

from workbench.baselines import compare_baselines
from workbench.data.findings import class_imbalance, data_findings, dataset_card, imbalance_note


class _Oracle:
    """A stand-in fine-tune result that predicts from a lookup of the texts (no training)."""

    def __init__(self, answers: dict[str, int], model) -> None:
        self.answers, self.model, self.global_step = answers, model, 1

    def predict_labels(self, texts):
        return np.array([self.answers[text] for text in texts])


def _data(flip_test: bool = False) -> datasets.DatasetDict:
    rng = np.random.default_rng(0)
    words = ["GREAT tasty", "Awful stale", "great Tasty", "awful STALE"]
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["good", "bad"])})

    def split(n, offset):
        labels = rng.integers(0, 2, n)
        texts = [f"{words[label + 2 * (i % 2)]} item {offset + i}" for i, label in enumerate(labels)]
        return pd.DataFrame({"text": texts, "label": labels})

    frames = {"train": split(120, 0), "validation": split(60, 1000), "test": split(60, 2000)}
    if flip_test:
        frames["test"]["label"] = 1 - frames["test"]["label"]
    return datasets.DatasetDict({name: datasets.Dataset.from_pandas(frame, features=features, preserve_index=False)
                                 for name, frame in frames.items()})


def _fake_model():
    import torch

    return torch.nn.Linear(3, 2)


def test_the_normalization_choice_ignores_the_test_labels():
    choices = []
    for flip in (False, True):
        data = _data(flip_test=flip)
        oracle = _Oracle(dict(zip(data["test"]["text"], data["test"]["label"])), _fake_model())
        result = compare_baselines(data, oracle, model_name="oracle", n_resamples=200)
        choices.append(result.normalization_choice)
        assert result.verdict["selected_on"] is None and result.verdicts["normalization"]["selected_on"] == "validation"
        assert result.verdict["n_comparisons"] == 2
    assert choices[0] == choices[1]


def test_a_label_revealing_fine_tune_pays_off_and_costs_parameters():
    data = _data()
    oracle = _Oracle(dict(zip(data["test"]["text"], data["test"]["label"])), _fake_model())
    result = compare_baselines(data, oracle, model_name="oracle", metric="macro_f1", n_resamples=200)
    assert result.finetuned_metrics["accuracy"] == 1.0
    assert result.verdict["metric"] == "macro_f1"
    assert result.verdict["cost"]["parameters"]["candidate"] == 8  # Linear(3, 2): 6 weights + 2 biases
    text = data_findings(result, balance=pd.DataFrame({"split": ["train"], "label": ["good"], "count": [1],
                                                        "fraction": [1.0]}), duplicate_counts={"train/test": 3})
    assert "3 test texts also appear in the training split" in text


def test_class_imbalance_suggests_macro_f1_and_the_note_says_so():
    frame = pd.DataFrame({"split": ["train", "train", "test"], "label": ["a", "b", "a"], "count": [70, 30, 5],
                          "fraction": [0.7, 0.3, 1.0]})
    facts = class_imbalance(frame)
    assert (facts["imbalanced"], facts["suggested_metric"], round(facts["ratio"], 3)) == (True, "macro_f1", 2.333)
    assert "--set metric=macro_f1" in imbalance_note(frame)
    assert "compares models by macro-F1" in imbalance_note(frame, metric="macro_f1")
    with pytest.raises(ValueError, match="'metric' parameter of class_imbalance must be one of"):
        class_imbalance(frame, metric="f2")


def test_dataset_card_escapes_the_source():
    assert "&lt;script&gt;" in dataset_card({"source": "<script>", "num_labels": 2, "hash": "ab"})
