"""What each augmenter does to texts (:func:`compare_augmenters`)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench._progress import progress_bar
from workbench._validation import check_int
from workbench.augmentation.embeddings import embedding_method, sentence_embeddings
from workbench.augmentation.metrics import changed_word_ratio, distinct_n, self_bleu
from workbench.augmentation.oracle import oracle_record
from workbench.augmentation.recipes import (
    MODEL_RECIPES,
    RECIPES,
    _as_names,
    _nlpaug,
    _outcome_of,
    make_augmenter,
)
from workbench.augmentation.run import (
    AUGMENT_COLUMNS,
    _check_texts,
    augment,
    variant_kinds,
)
from workbench.errors import ParameterError

QUALITY_METRICS: tuple[str, ...] = ("unchanged_rate", "failed_rate", "changed_word_ratio", "semantic_similarity",
                                    "distinct_1", "distinct_2", "within_source_distinct_2", "self_bleu",
                                    "label_preservation", "prediction_agreement", "sentences_per_second",
                                    "setup_seconds")
"""Metrics :func:`compare_augmenters` reports per augmenter (definitions there)."""
QUALITY_COLUMNS: tuple[str, ...] = ("augmenter", "metric", "value", "status", "reason")
ORIGINAL = "original"  # the reference row of the quality table: the texts themselves


@dataclass
class AugmentationComparison:
    """What :func:`compare_augmenters` measured.

    Attributes
    ----------
    quality : pandas.DataFrame
        Columns :data:`QUALITY_COLUMNS`: one row per augmenter and metric (``original`` is the
        reference: the source texts themselves).
    augmented : pandas.DataFrame
        Every variant (:data:`AUGMENT_COLUMNS`), all recipes stacked, with its ``kind``
        (``changed``, ``unchanged``, ``repeated`` or ``failed``), ``changed_word_ratio`` and ``similarity``
        to the source and, with a classifier, ``predicted_label``, ``label_kept`` (the source's gold label)
        and ``prediction_kept`` (the classifier's label of the source).
    oracle : dict
        The classifier that judged label preservation (:func:`~workbench.augmentation.oracle.oracle_record`).
    embedding : str
        What the similarities were measured with (:func:`~workbench.augmentation.embeddings.embedding_method`).
    """

    quality: pd.DataFrame
    augmented: pd.DataFrame
    oracle: dict[str, Any] = field(default_factory=dict)
    embedding: str = ""



def compare_augmenters(texts: Sequence[str], labels: Sequence[int] | None = None, *,
                       recipes: str | Sequence[str] = tuple(r for r in RECIPES if r not in MODEL_RECIPES),
                       alpha: float = 0.1, n_aug: int = 1, seed: int = 0, n_jobs: int = 1,
                       classifier: Any = None, embedder: Callable[[list[str]], np.ndarray] | None = None,
                       self_bleu_texts: int = 50, max_length: int = 256, progress: bool = True,
                       model: str | None = None, translation_models: str | Sequence[str] | None = None,
                       nltk_data: str | os.PathLike | None = None, vectors: str | os.PathLike | None = None,
                       keep_unchanged: bool = False) -> AugmentationComparison:
    """Augment ``texts`` with each recipe and measure the result.

    Metrics (rows of ``quality``), over the variants that changed their source (``keep_unchanged=True``
    also counts unchanged and repeated ones, as nlpaug returns them):

    ``unchanged_rate``       share of all variants equal to their source but for spacing
    ``failed_rate``          share of all variants whose augmentation raised
    ``changed_word_ratio``   mean :func:`changed_word_ratio` (word-level edit distance) to the source
    ``semantic_similarity``  mean cosine of source and variant sentence embeddings (``embedder``,
                             default :func:`sentence_embeddings` with the bundled MiniLM)
    ``distinct_1/2``         :func:`distinct_n` of the variants, all sources pooled
    ``within_source_distinct_2`` distinct-2 among the ``n_aug`` variants of one source, averaged over
                             sources (NaN with ``n_aug = 1``): the recipe's own diversity
    ``self_bleu``            :func:`self_bleu` of the variants (``self_bleu_texts`` drawn)
    ``label_preservation``   share of variants that ``classifier`` (trained on the original data,
                             e.g. :func:`~workbench.augmentation.oracle.label_oracle`) assigns the
                             source's label; for ``original`` it is the classifier's accuracy on the
                             sources (its ceiling; the row's reason names the classifier)
    ``prediction_agreement`` share of variants the classifier labels as it labels their source
                             (1 for ``original``): the label change the augmentation alone causes
    ``sentences_per_second`` variants produced per wall-clock second (``n_jobs`` processes)
    ``setup_seconds``        building the augmenter (loading WordNet, GloVe or a model; nlpaug's own
                             import is done before timing)

    A recipe whose optional resource is missing (WordNet, GloVe, a model: none given or none
    reachable) gets ``status = "skipped"`` and a reason saying how to get it; one that breaks
    otherwise, or whose every variant failed, gets ``status = "failed"`` and the reason. The other
    recipes go on. The row's reason says how many variants were left out and why; ``augmented``
    keeps every variant with its ``kind`` (:func:`~workbench.augmentation.run.variant_kinds`) and
    per-sample ``changed_word_ratio`` and ``similarity``.

    Parameters
    ----------
    texts : sequence of str
        Source texts, best held out from the classifier's training data.
    labels : sequence of int, optional
        Gold label ids of ``texts``; needed for ``label_preservation``.
    recipes : str or sequence of str
        Names from :data:`RECIPES` (a comma-separated string works too).
    alpha, n_aug, seed, n_jobs
        As in :func:`augment`.
    classifier : object with ``predict(list_of_texts)``, optional
    embedder : callable, optional
        ``list[str] -> (n, d)`` unit vectors.
    self_bleu_texts : int
        Variants drawn for self-BLEU (its cost grows with the square).
    max_length : int
        Tokens per text for the default embedder (256 sees the whole of most reviews).
    model : str, optional
        Masked language model of the ``contextual`` recipe.
    translation_models : sequence of two str, optional
        ``["to_pivot", "from_pivot"]`` for ``back_translation`` (or ``"to_pivot,from_pivot"``).
    nltk_data, vectors
        As in :func:`make_augmenter`.
    keep_unchanged : bool
        Measure unchanged and repeated variants too.

    Returns
    -------
    AugmentationComparison

    Examples
    --------
    >>> result = compare_augmenters(["good tea with honey", "bad stale crackers"], recipes="word_swap",
    ...                             embedder=lambda t: np.ones((len(t), 2)) / np.sqrt(2), progress=False)
    >>> round(float(quality_wide(result.quality).loc["word_swap", "semantic_similarity"]), 6)
    1.0
    """
    func = "compare_augmenters"
    texts = _check_texts(texts, func)
    recipes = _as_names(recipes, "recipes", func)
    if labels is not None:
        labels = np.asarray(labels)
        if len(labels) != len(texts):
            raise ParameterError(f"The 'labels' parameter of {func} must have one label per text ({len(texts)}). "
                                 f"Got {len(labels)} instead.")
    check_int("self_bleu_texts", self_bleu_texts, func, low=2)
    embed = embedder or (lambda batch: sentence_embeddings(batch, max_length=max_length))
    if any(recipe not in MODEL_RECIPES for recipe in recipes):
        _nlpaug()  # importing nlpaug (and torch) is no augmenter's setup cost
    frames, measured, broken = [], {}, {}
    for recipe in progress_bar(recipes, desc="augmenters", unit="recipe", disable=not progress):
        resource = translation_models if recipe == "back_translation" else model
        try:
            start = time.perf_counter()
            make_augmenter(recipe, alpha=alpha, model=resource, nltk_data=nltk_data, vectors=vectors)
            setup = time.perf_counter() - start
            start = time.perf_counter()
            frame = augment(texts, recipe, alpha=alpha, n_aug=n_aug, seed=seed, n_jobs=n_jobs, progress=False,
                            model=resource, nltk_data=nltk_data, vectors=vectors)
            measured[recipe] = (frame, setup, len(frame) / (time.perf_counter() - start))
            frames.append(frame)
        except Exception as exc:  # reported in the table; the other recipes go on
            broken[recipe] = _outcome_of(exc)
    augmented = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(AUGMENT_COLUMNS))
    augmented["kind"] = [kind for frame in frames for kind in variant_kinds(frame)]  # per recipe: repeats within one
    vectors_of = _embed_unique(texts + augmented["augmented"].tolist(), embed)
    source_vectors = np.stack([vectors_of[t] for t in texts])
    augmented["changed_word_ratio"] = [changed_word_ratio(s, v) for s, v in zip(augmented["source"],
                                                                                augmented["augmented"])]
    augmented["similarity"] = [float(source_vectors[i] @ vectors_of[v]) for i, v in zip(augmented["text_id"],
                                                                                        augmented["augmented"])]
    labels_of = None if classifier is None else _predict_unique(texts + augmented["augmented"].tolist(), classifier)
    predicted = None if labels_of is None else np.array([labels_of[t] for t in texts])
    if labels_of is not None:
        augmented["predicted_label"] = [labels_of[v] for v in augmented["augmented"]]
        ids = augmented["text_id"].to_numpy(dtype=int)
        augmented["prediction_kept"] = augmented["predicted_label"].to_numpy() == predicted[ids]
        if labels is not None:
            augmented["label_kept"] = augmented["predicted_label"].to_numpy() == labels[ids]
    context = dict(source_vectors=source_vectors, vectors_of=vectors_of, labels=labels, labels_of=labels_of,
                   predicted=predicted, self_bleu_texts=self_bleu_texts, seed=seed)
    oracle = oracle_record(classifier)
    judge = f"label preservation judged by {oracle['description']}" if oracle else None
    rows = [row[:4] + (judge,) for row in _quality_rows(ORIGINAL, texts, texts, np.arange(len(texts)),
                                                        speed=float("nan"), setup=float("nan"), **context)]
    for recipe in recipes:
        if recipe in broken:
            status, reason = broken[recipe]
            rows += [(recipe, metric, float("nan"), status, reason) for metric in QUALITY_METRICS]
            continue
        frame, setup, speed = measured[recipe]
        kinds = augmented.loc[augmented["recipe"] == recipe, "kind"].to_numpy()
        kept = ("changed", "unchanged", "repeated") if keep_unchanged else ("changed",)
        made = frame[np.isin(kinds, kept)]
        rates = {"unchanged_rate": float(np.mean(kinds == "unchanged")), "failed_rate": float(np.mean(kinds == "failed"))}
        if (kinds == "failed").all():
            reason = f"every variant failed: {frame['reason'].iloc[0]}"
            rows += [(recipe, metric, float("nan"), "failed", reason) for metric in QUALITY_METRICS]
            continue
        note = None if len(made) == len(frame) else (
            f"{len(frame) - len(made)} of {len(frame)} variants are left out "
            f"({rates['unchanged_rate']:.0%} unchanged, {rates['failed_rate']:.0%} failed"
            f"{', the rest repeat an earlier variant' if (kinds == 'repeated').any() and not keep_unchanged else ''})")
        if made.empty:
            rows += [(recipe, metric, rates.get(metric, float("nan")), "ok", note) for metric in QUALITY_METRICS]
            continue
        rows += [row[:2] + (rates.get(row[1], row[2]),) + row[3:4] + (note,) for row in _quality_rows(
            recipe, made["source"].tolist(), made["augmented"].tolist(), made["text_id"].to_numpy(), speed=speed,
            setup=setup, **context)]
    embedding = "the caller's embedder" if embedder else embedding_method("minilm")
    return AugmentationComparison(pd.DataFrame(rows, columns=list(QUALITY_COLUMNS)), augmented, oracle, embedding)



def _embed_unique(texts: list[str], embed: Callable[[list[str]], np.ndarray]) -> dict[str, np.ndarray]:
    unique = list(dict.fromkeys(texts))
    return dict(zip(unique, np.asarray(embed(unique), dtype=np.float32)))


def _predict_unique(texts: list[str], classifier: Any) -> dict[str, Any]:
    unique = list(dict.fromkeys(texts))
    return dict(zip(unique, np.asarray(classifier.predict(unique)).tolist()))


def _quality_rows(name, sources, variants, text_ids, *, speed, setup, source_vectors, vectors_of, labels,
                  labels_of, predicted, self_bleu_texts, seed) -> list[tuple]:
    similarity = np.einsum("ij,ij->i", source_vectors[text_ids], np.stack([vectors_of[v] for v in variants]))
    preserved = agreement = float("nan")
    if labels_of is not None:
        variant_predictions = np.array([labels_of[v] for v in variants])
        agreement = float(np.mean(variant_predictions == predicted[text_ids]))
        if labels is not None:
            preserved = float(np.mean(variant_predictions == labels[text_ids]))
    by_source = pd.Series(list(variants)).groupby(np.asarray(text_ids)).agg(list)
    within = [distinct_n(group, 2) for group in by_source if len(group) >= 2]
    values = {
        "unchanged_rate": 0.0,
        "failed_rate": 0.0,
        "within_source_distinct_2": float(np.nanmean(within)) if within else float("nan"),
        "changed_word_ratio": float(np.mean([changed_word_ratio(s, v) for s, v in zip(sources, variants)])),
        "semantic_similarity": float(np.mean(similarity)),
        "distinct_1": distinct_n(variants, 1),
        "distinct_2": distinct_n(variants, 2),
        "self_bleu": self_bleu(variants, max_texts=self_bleu_texts, seed=seed),
        "label_preservation": preserved,
        "prediction_agreement": agreement,
        "sentences_per_second": speed,
        "setup_seconds": setup,
    }
    return [(name, metric, values[metric], "ok", None) for metric in QUALITY_METRICS]


def quality_wide(quality: pd.DataFrame) -> pd.DataFrame:
    """One row per augmenter, one column per metric (plus ``status`` and ``reason``).

    >>> rows = pd.DataFrame({"augmenter": ["a", "a"], "metric": ["distinct_1", "self_bleu"], "value": [0.5, 0.2],
    ...                      "status": "ok", "reason": None})
    >>> float(quality_wide(rows).loc["a", "self_bleu"])
    0.2
    """
    wide = quality.pivot(index="augmenter", columns="metric", values="value")
    wide = wide[[m for m in QUALITY_METRICS if m in wide.columns]]
    wide.columns.name = None
    status = quality.groupby("augmenter", sort=False)[["status", "reason"]].first()
    order = list(dict.fromkeys(quality["augmenter"]))
    return wide.join(status).loc[order]
