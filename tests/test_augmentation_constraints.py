"""The constraint filter (TextAttack-style): a variant is kept only when it stays similar to its source and the
label oracle still gives it the source's label; what it drops, and why, is counted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench import augmentation as aug
from workbench.augmentation import run
from workbench.augmentation.constraints import (
    CHECK_COLUMNS,
    constraint_checks,
    constraint_filter,
    filter_counts,
    pair_similarity,
)
from workbench.errors import ParameterError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _CueOracle:
    """Label 0 when the text says 'bad', else 1: a stand-in for a classifier that reads the sentiment word."""

    def predict(self, texts):
        return np.array([0 if "bad" in t.split() else 1 for t in texts])


SOURCES = ["the tea is good", "the tea is good", "the tea is good", "stale bad crackers"]
VARIANTS = ["the tea is good indeed", "the tea is bad", "a broken chair", "stale bad crackers sadly"]
LABELS = [1, 1, 1, 0]


def test_tfidf_similarity_is_the_cosine_of_tfidf_vectors_fitted_on_the_sources():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity

    vectorizer = TfidfVectorizer(sublinear_tf=True).fit(SOURCES)
    expected = np.diag(cosine_similarity(vectorizer.transform(SOURCES), vectorizer.transform(VARIANTS)))
    np.testing.assert_allclose(pair_similarity(SOURCES, VARIANTS, similarity="tfidf"), expected, atol=1e-12)


def test_a_variant_is_kept_only_when_similar_and_the_oracle_agrees():
    checks = constraint_checks(SOURCES, VARIANTS, LABELS, oracle=_CueOracle(), similarity="tfidf", threshold=0.5)
    assert list(checks.columns) == list(CHECK_COLUMNS)
    assert checks["similar"].tolist() == [True, True, False, True]
    assert checks["oracle_label"].tolist() == [1, 0, 1, 0]
    assert checks["label_agrees"].tolist() == [True, False, True, True]
    assert checks["keep"].tolist() == [True, False, False, True]
    assert checks["dropped_by"].tolist() == ["", "label", "similarity", ""]
    assert constraint_filter(SOURCES, VARIANTS, LABELS, oracle=_CueOracle(), similarity="tfidf",
                             threshold=0.5).tolist() == [True, False, False, True]


def test_the_planted_label_flip_is_dropped_even_though_it_is_the_closest_variant():
    sources, variants = ["the tea is good"] * 2, ["the tea is bad", "the tea is good indeed"]
    similarity = pair_similarity(sources, variants, similarity="tfidf")
    keep = constraint_filter(sources, variants, [1, 1], oracle=_CueOracle(), similarity="tfidf", threshold=0.0)
    assert similarity[0] > 0.5 and keep.tolist() == [False, True]
    # Without an oracle only similarity decides, and the flip passes: the oracle is what catches it.
    assert constraint_filter(sources, variants, [1, 1], oracle=None, similarity="tfidf", threshold=0.0).all()


def test_the_threshold_is_inclusive():
    value = float(pair_similarity(["the tea is good"], ["the tea is bad"], similarity="tfidf")[0])
    at = constraint_filter(["the tea is good"], ["the tea is bad"], [1], oracle=None, similarity="tfidf",
                           threshold=value)
    above = constraint_filter(["the tea is good"], ["the tea is bad"], [1], oracle=None, similarity="tfidf",
                              threshold=float(np.nextafter(value, 2.0)))
    assert at.tolist() == [True] and above.tolist() == [False]


def test_filter_counts_add_up_and_name_the_constraint_that_dropped():
    checks = constraint_checks(SOURCES, VARIANTS, LABELS, oracle=_CueOracle(), similarity="tfidf", threshold=0.5)
    assert filter_counts(checks) == {"variants": 4, "kept": 2, "dropped": 2, "dropped_by_similarity": 1,
                                     "dropped_by_label": 1}
    both = constraint_checks(["good tea"], ["bad chair"], [1], oracle=_CueOracle(), similarity="tfidf", threshold=0.9)
    assert both["dropped_by"].tolist() == ["similarity+label"]


def test_no_variants_give_an_empty_table():
    checks = constraint_checks([], [], [], oracle=_CueOracle(), similarity="tfidf")
    assert checks.empty and list(checks.columns) == list(CHECK_COLUMNS)
    assert filter_counts(checks)["variants"] == 0


@pytest.mark.parametrize("kwargs, match", [
    (dict(threshold=1.5), r"'threshold' parameter of constraint_checks must be .*1\.0.*Got 1\.5.*0\.8"),
    (dict(similarity="bert"), r"'similarity' parameter of pair_similarity must be one of .*'tfidf'.*Got 'bert'"),
    (dict(labels=[1]), r"'sources', 'variants' and 'labels' parameters of constraint_checks must have one entry per "
                       r"variant\. Got 4, 4 and 1 instead"),
])
def test_bad_filter_settings_are_rejected_in_one_line(kwargs, match):
    labels = kwargs.pop("labels", LABELS)
    with pytest.raises(ParameterError, match=match):
        constraint_checks(SOURCES, VARIANTS, labels, oracle=None, **{"similarity": "tfidf"} | kwargs)


class _FlipSome:
    """An augmenter that flips the sentiment word of some sources (a label-flipping variant) and appends a neutral
    word to the others."""

    def __init__(self, flipped):
        self.flipped = flipped

    def augment(self, data, n=1):
        if data in self.flipped:
            words = data.split()
            return [" ".join(words[:-1] + ["bad" if words[-1] == "good" else "good"])] * n
        return [f"{data} indeed"] * n


def _cued_dataset(n=40, seed=0):
    """Shared filler words, then the label's cue ('very good' / 'very bad'), so the TF-IDF oracle learns the cue."""
    import datasets

    rng = np.random.default_rng(seed)
    fillers = ["tea", "box", "taste", "price", "order", "flavor", "bag", "cup"]
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["bad", "good"])})

    def split(size):
        labels = rng.integers(0, 2, size).tolist()
        texts = [f"{' '.join(rng.choice(fillers, 3))} {'very good' if y else 'very bad'}" for y in labels]
        return datasets.Dataset.from_dict({"text": texts, "label": labels}, features=features)

    return datasets.DatasetDict(train=split(n), validation=split(30), test=split(30))


def test_in_the_ablation_the_filter_drops_exactly_the_label_flipping_variants(monkeypatch):
    from workbench.augmentation import recipes

    data = _cued_dataset()
    texts = data["train"]["text"]
    flipped = set(texts[::4])  # these training texts get a label-flipping variant
    n_flipped = sum(t in flipped for t in texts)
    augmenter = _FlipSome(flipped)
    monkeypatch.setattr(recipes, "_build", lambda *args: augmenter)
    monkeypatch.setattr(run, "_build", lambda *args: augmenter)
    result = aug.downstream_ablation(data, recipes="word_swap", train_sizes=[0], seeds=[0], filter_threshold=0.0,
                                     filter_similarity="tfidf", progress=False)
    added = result.runs.set_index("augmenter")["n_added"]
    assert added["word_swap"] == 40  # one changed variant per text (its repeats are not added)
    assert added["word_swap+filter"] == 40 - n_flipped
    table, _, _ = aug.ablation_decision(result, n_resamples=100)
    effect = aug.filter_effect(table)
    assert effect[["n_added", "n_added_filtered"]].values.tolist() == [[40, 40 - n_flipped]]
    assert effect["kept_share"].tolist() == pytest.approx([1 - n_flipped / 40])
    assert isinstance(effect, pd.DataFrame)
