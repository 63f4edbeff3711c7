"""A constraint filter on variants, as TextAttack's constraints do: keep a variant only if it stays close
to its source and a label oracle still gives it the source's label.

TextAttack (Morris et al. 2020) checks each perturbed text against constraints (a sentence-encoder
similarity above a threshold, among others) and a goal function on a model's prediction. Here the
similarity is the cosine of sentence embeddings (:func:`workbench.augmentation.embeddings.sentence_embeddings`)
or, cheaper, of TF-IDF vectors fitted on the sources (scikit-learn); the oracle is any classifier with
``predict(texts)``, in the ablation the learner trained on the same subsample without augmentation.

>>> keep = constraint_filter(["good tea", "good tea"], ["great tea", "bad stale crackers"], [1, 1],
...                          oracle=None, similarity="tfidf", threshold=0.2)
>>> keep.tolist()
[True, False]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench._validation import check_choice, check_float
from workbench.errors import ParameterError

SIMILARITIES: tuple[str, ...] = ("tfidf", "minilm")


def pair_similarity(sources: Sequence[str], variants: Sequence[str], *, similarity: str = "minilm",
                    max_length: int = 256) -> np.ndarray:
    """Cosine similarity of each source with its variant: MiniLM sentence embeddings (``"minilm"``) or
    TF-IDF word vectors fitted on the sources (``"tfidf"``, scikit-learn).

    >>> pair_similarity(["the tea"], ["the tea"], similarity="tfidf").round(6).tolist()
    [1.0]
    """
    check_choice("similarity", similarity, "pair_similarity", SIMILARITIES)
    if not len(sources):
        return np.zeros(0)
    if similarity == "minilm":
        from workbench.augmentation.embeddings import sentence_embeddings

        vectors = sentence_embeddings(list(sources) + list(variants), max_length=max_length)
        return np.einsum("ij,ij->i", vectors[:len(sources)], vectors[len(sources):])
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(sublinear_tf=True).fit(list(sources))
    a, b = vectorizer.transform(list(sources)), vectorizer.transform(list(variants))  # rows are unit length
    return np.asarray(a.multiply(b).sum(axis=1)).ravel()


CHECK_COLUMNS: tuple[str, ...] = ("similarity", "similar", "oracle_label", "label_agrees", "keep", "dropped_by")
"""Columns of :func:`constraint_checks`: one row per variant."""


def constraint_checks(sources: Sequence[str], variants: Sequence[str], labels: Sequence[int], *, oracle: Any,
                      similarity: str = "minilm", threshold: float = 0.8) -> pd.DataFrame:
    """Each variant against the two constraints: ``similarity`` to its source and ``similar`` (>= ``threshold``),
    the ``oracle_label`` and ``label_agrees`` (equal to the source's label; always true without an oracle),
    ``keep`` (both hold) and ``dropped_by`` (``""``, ``"similarity"``, ``"label"`` or ``"similarity+label"``).

    >>> checks = constraint_checks(["good tea"] * 2, ["good tea", "stale crackers"], [1, 1], oracle=None,
    ...                            similarity="tfidf", threshold=0.5)
    >>> checks[["keep", "dropped_by"]].values.tolist()
    [[True, ''], [False, 'similarity']]
    """
    func = "constraint_checks"
    check_float("threshold", threshold, func, low=-1.0, high=1.0,
                fix="A cosine similarity: TextAttack's sentence-encoder constraints use about 0.8.")
    if not len(sources) == len(variants) == len(labels):
        raise ParameterError(f"The 'sources', 'variants' and 'labels' parameters of {func} must have one entry per "
                             f"variant. Got {len(sources)}, {len(variants)} and {len(labels)} instead.")
    scores = pair_similarity(sources, variants, similarity=similarity)
    similar = scores >= threshold
    if oracle is not None and len(variants):
        predicted = np.asarray(oracle.predict(list(variants)))
        agrees = predicted == np.asarray(labels)
    else:
        predicted, agrees = np.full(len(variants), None), np.ones(len(variants), dtype=bool)
    dropped_by = ["+".join(name for name, ok in (("similarity", s), ("label", a)) if not ok)
                  for s, a in zip(similar, agrees)]
    return pd.DataFrame({"similarity": scores, "similar": similar, "oracle_label": predicted, "label_agrees": agrees,
                         "keep": similar & agrees, "dropped_by": dropped_by}, columns=list(CHECK_COLUMNS))


def constraint_filter(sources: Sequence[str], variants: Sequence[str], labels: Sequence[int], *, oracle: Any,
                      similarity: str = "minilm", threshold: float = 0.8) -> np.ndarray:
    """A boolean mask over the variants: similarity to the source >= ``threshold`` and, with an
    ``oracle``, ``oracle.predict(variant) == label`` (:func:`constraint_checks`' ``keep``)."""
    return constraint_checks(sources, variants, labels, oracle=oracle, similarity=similarity,
                             threshold=threshold)["keep"].to_numpy(dtype=bool)


def filter_counts(checks: pd.DataFrame) -> dict[str, int]:
    """How many variants :func:`constraint_checks` kept and dropped, and which constraint dropped them.

    >>> filter_counts(pd.DataFrame({"keep": [True, False, False], "similar": [True, False, True],
    ...                             "label_agrees": [True, True, False]}))
    {'variants': 3, 'kept': 1, 'dropped': 2, 'dropped_by_similarity': 1, 'dropped_by_label': 1}
    """
    return {"variants": len(checks), "kept": int(checks["keep"].sum()), "dropped": int((~checks["keep"]).sum()),
            "dropped_by_similarity": int((~checks["similar"]).sum()),
            "dropped_by_label": int((~checks["label_agrees"]).sum())}
