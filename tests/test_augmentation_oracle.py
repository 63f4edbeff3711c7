"""The label oracle of the quality table (the compression notebook's fine-tune, or TF-IDF), what the report says
about it, and the per-sample scores every variant carries into results.csv."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import pytest

from workbench import augmentation as aug
from workbench.augmentation import ablation
from workbench.augmentation.oracle import LabelOracle, label_oracle
from workbench.errors import ParameterError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _data(n=48):
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["bad", "good"])})
    words = ["tasty fresh tea", "stale awful crackers", "lovely sweet honey", "broken bitter box"]
    rows = datasets.Dataset.from_dict({"text": [f"{words[k % 4]} {k}" for k in range(n)],
                                       "label": [int(k % 4 in (0, 2)) for k in range(n)]}, features=features)
    return datasets.DatasetDict(train=rows, validation=rows, test=rows)


def test_the_finetuned_oracle_uses_the_compression_notebooks_settings_and_cache(monkeypatch):
    """The same fine-tune as 05_compression's default profile, so the two notebooks share one cached model."""
    from workbench.compression import study
    from workbench.compression.baseline import default_cache_dir

    calls = []

    def fake_finetune(data, **kwargs):
        calls.append(kwargs)
        return {"model": None, "tokenizer": None, "cached": True, "seconds": 0.1, "key": "abc", "path": None}

    monkeypatch.setattr(study, "finetune_baseline", fake_finetune)
    oracle = label_oracle(_data(), profile="default", seed=3)
    assert calls == [dict(model="minilm", train_examples=1000, validation_examples=200, epochs=1.0, max_length=128,
                          learning_rate=1e-4, seed=3, cache_dir=default_cache_dir(), num_threads=0)]
    assert oracle.name == "finetuned" and oracle.details["cached"] and oracle.details["key"] == "abc"
    assert oracle.description.startswith("the minilm fine-tune of the compression notebook (1000 training examples")
    label_oracle(_data(), profile="smoke")  # smoke: a tiny encoder and no cache
    assert calls[1]["model"].startswith("tiny:") and calls[1]["cache_dir"] is None


def test_the_smoke_fine_tune_trains_and_labels_texts():
    oracle = label_oracle(_data(), profile="smoke", seed=0)
    predicted = oracle.predict(["tasty fresh tea 99", "stale awful crackers 98"])
    assert predicted.shape == (2,) and set(predicted.tolist()) <= {0, 1}
    assert oracle.details["model"].startswith("tiny:") and oracle.details["cached"] is False
    assert oracle.predict([]).shape == (0,)


def test_an_unknown_oracle_is_rejected_with_the_choices():
    with pytest.raises(ParameterError, match=r"'oracle' parameter of label_oracle must be one of "
                                             r"'finetuned', 'tfidf_logreg'\. Got 'bert' instead\..*tfidf_logreg the cheap"):
        label_oracle(_data(), oracle="bert")


def _cue_oracle():
    """Label 1 when the text has a positive word: it keeps the label of swaps, loses it when the word goes."""
    def predict(texts):
        return np.array([int(any(w in t.split() for w in ("tasty", "lovely", "fresh", "sweet"))) for t in texts])

    return LabelOracle("cue", "a cue-word oracle", predict, {"model": "rules"})


@pytest.fixture(scope="module")
def compared():
    texts = ["tasty fresh tea today", "stale awful crackers again", "lovely sweet honey jar", "broken bitter box lid"]
    return aug.compare_augmenters(texts, [1, 0, 1, 0], recipes="word_swap,word_delete", alpha=0.5, n_aug=2,
                                  classifier=_cue_oracle(), embedder=lambda t: np.ones((len(t), 2)) / np.sqrt(2),
                                  progress=False)


def test_every_variant_carries_its_own_scores_and_kind(compared):
    variants = compared.augmented
    for column in ("kind", "similarity", "changed_word_ratio", "predicted_label", "label_kept", "prediction_kept"):
        assert column in variants and variants[column].notna().all(), column
    expected = [int(any(w in v.split() for w in ("tasty", "lovely", "fresh", "sweet"))) for v in variants["augmented"]]
    assert variants["predicted_label"].tolist() == expected
    gold = np.array([1, 0, 1, 0])[variants["text_id"].to_numpy(dtype=int)]
    assert variants["label_kept"].tolist() == (np.array(expected) == gold).tolist()
    changed = variants[(variants["recipe"] == "word_delete") & (variants["kind"] == "changed")]
    wide = aug.quality_wide(compared.quality)
    assert wide.loc["word_delete", "label_preservation"] == pytest.approx(changed["label_kept"].mean())


def test_the_report_names_the_oracle_and_its_accuracy_on_the_originals(compared):
    wide = aug.quality_wide(compared.quality)
    assert wide.loc["original", "label_preservation"] == 1.0
    assert wide.loc["original", "reason"] == "label preservation judged by a cue-word oracle"
    summary = aug.augmentation_summary(compared, pd.DataFrame(columns=["status"]), {}, None, settings={})
    assert summary["label_oracle"] == {"name": "cue", "description": "a cue-word oracle", "model": "rules",
                                       "accuracy_on_originals": 1.0}
    assert summary["embeddings"] == "the caller's embedder"
    findings = html.unescape(aug.augmentation_findings(compared.quality, pd.DataFrame(columns=["status"]), {}, None))
    assert "Label preservation judged by a cue-word oracle; it gives 100.0% of the original texts" in findings


def test_results_csv_keeps_the_per_sample_scores(compared):
    runs = pd.DataFrame(columns=list(ablation.RUN_COLUMNS))
    results = aug.augmentation_results(compared, ablation.AblationResult(runs, {}, None, None), pd.DataFrame())
    variants = results[results["table"] == "variants"]
    assert len(variants) == len(compared.augmented)
    assert {"similarity", "changed_word_ratio", "label_kept", "prediction_kept", "kind"} <= set(variants.columns)


def test_the_default_similarity_names_its_pooling():
    result = aug.compare_augmenters(["good tea", "bad box"], recipes="word_swap", progress=False, max_length=16)
    assert result.embedding.endswith("mean pooling (from 1_Pooling/config.json)")
    assert result.oracle == {}
