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

from workbench._validation import check_choice, check_float

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


def constraint_filter(sources: Sequence[str], variants: Sequence[str], labels: Sequence[int], *, oracle: Any,
                      similarity: str = "minilm", threshold: float = 0.8) -> np.ndarray:
    """A boolean mask over the variants: similarity to the source >= ``threshold`` and, with an
    ``oracle``, ``oracle.predict(variant) == label``."""
    check_float("threshold", threshold, "constraint_filter", low=-1.0, high=1.0,
                fix="A cosine similarity: TextAttack's sentence-encoder constraints use about 0.8.")
    keep = pair_similarity(sources, variants, similarity=similarity) >= threshold
    if oracle is not None and len(variants):
        keep &= np.asarray(oracle.predict(list(variants))) == np.asarray(labels)
    return keep
