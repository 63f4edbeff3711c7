"""Accuracy of every variant on the validation and test splits, paired against the baseline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workbench._progress import progress_bar
from workbench._validation import check_int
from workbench.compression.config import BASELINE, QUALITY_COLUMNS, Variant
from workbench.compression.runners import _length_sorted_batches, predict_variant
from workbench.errors import DataError, ParameterError, first_line

#: The splits score_variants scores: validation chooses, test reports.
SCORED_SPLITS = ("validation", "test")

__all__ = ["SCORED_SPLITS", "VariantScores", "evaluate_variants", "predict_labels", "score_variants"]


@dataclass
class VariantScores:
    """Every variant scored on each split: the quality rows and the per-example predictions behind them.

    ``quality`` has one row per variant x split (:data:`~workbench.compression.QUALITY_COLUMNS`, the
    ``split`` column says which); ``predictions[split][variant]`` and ``labels[split]`` are the
    arrays the decision layer pairs by example (:mod:`workbench.verdicts`).
    """

    quality: pd.DataFrame
    predictions: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    labels: dict[str, np.ndarray] = field(default_factory=dict)

    def on(self, split: str) -> pd.DataFrame:
        """The quality rows of one split, one per variant."""
        return self.quality[self.quality.split == split].reset_index(drop=True)


def predict_labels(variants: Mapping[str, Variant], texts: Sequence[str], *, tokenizer, max_length: int = 128,
                   batch_size: int = 32, threads: int = 0,
                   progress: bool = False) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Predicted labels of every working variant on ``texts``, and the reason of each that failed to run.

    The texts are encoded once and batched by length (dynamic padding); every variant sees the same batches.

    >>> predict_labels({}, ["a text"], tokenizer=None)   # doctest: +SKIP
    ({}, {})
    """
    batches = _length_sorted_batches(tokenizer, list(texts), max_length=max_length, batch_size=batch_size)
    predictions, failures = {}, {}
    for name, variant in progress_bar(list(variants.items()), desc="accuracy", disable=not progress):
        if variant.status != "ok":
            continue
        try:
            predictions[name] = predict_variant(variant, batches, len(texts), threads=threads).argmax(axis=1)
        except Exception as error:  # e.g. an op ONNX Runtime has no kernel for at this shape
            failures[name] = f"{type(error).__name__}: {first_line(error)[:240]}"
    return predictions, failures


def _quality_rows(variants: Mapping[str, Variant], labels: np.ndarray, predictions: Mapping[str, np.ndarray],
                  failures: Mapping[str, str], *, label_names, n_resamples: int, seed: int, split: str) -> pd.DataFrame:
    from workbench.evaluation import (
        bootstrap_ci,
        classification_metrics,
        paired_bootstrap_test,
    )

    rows = []
    for name, variant in variants.items():
        row = {"variant": name, "method": variant.method, "status": variant.status, "reason": variant.reason,
               "note": variant.note, "n": len(labels), "size_mb": variant.size_mb, "parameters": variant.parameters,
               "build_seconds": variant.build_seconds, "split": split}
        if name in failures:
            row.update(status="failed", reason=failures[name])
        if name in predictions:
            pred, base = predictions[name], predictions[BASELINE]
            metrics = classification_metrics(labels, pred, label_names=label_names)
            low, high = bootstrap_ci(labels, pred, n_resamples=n_resamples, seed=seed)
            test = paired_bootstrap_test(labels, pred, base, n_resamples=n_resamples, seed=seed)
            row.update(accuracy=metrics["accuracy"], accuracy_ci_low=low, accuracy_ci_high=high,
                       macro_f1=metrics["macro_f1"], delta_accuracy=test["delta"], delta_ci_low=test["ci95"][0],
                       delta_ci_high=test["ci95"][1], delta_p_value=test["p_value"],
                       agreement=float(np.mean(pred == base)))
        rows.append(row)
    return pd.DataFrame(rows, columns=QUALITY_COLUMNS)


def _check_inputs(variants, texts, labels, n_resamples: int, func: str) -> tuple[list[str], np.ndarray]:
    texts, labels = list(texts), np.asarray(list(labels))
    if not texts or len(texts) != len(labels):
        raise DataError(f"The 'texts' and 'labels' parameters of {func} must be non-empty and of equal length. "
                        f"Got {len(texts)} texts and {len(labels)} labels instead.")
    if BASELINE not in variants or variants[BASELINE].status != "ok":
        raise ParameterError(f"The 'variants' parameter of {func} must hold a working {BASELINE!r} variant, "
                             "the reference for every delta. Build it with build_variants.")
    check_int("n_resamples", n_resamples, func, low=1)
    return texts, labels


def evaluate_variants(variants: dict[str, Variant], texts: Sequence[str], labels: Sequence[int], *, tokenizer,
                      label_names: Sequence[str] | None = None, max_length: int = 128, batch_size: int = 32,
                      n_resamples: int = 1000, seed: int = 0, threads: int = 0, split: str = "test",
                      progress: bool = True) -> pd.DataFrame:
    """Accuracy, macro-F1 and the paired-bootstrap delta vs ``fp32_eager`` of every variant on one split.

    All variants see the same texts, encoded once and batched by length (dynamic padding); the
    baseline may stand anywhere in ``variants``. ``delta_accuracy`` is a fraction (0.01 = 1 point)
    with the 95% interval and two-sided p-value of :func:`workbench.evaluation.paired_bootstrap_test`;
    ``agreement`` is the share of predictions equal to the baseline's. ``threads`` fixes torch's and
    ONNX Runtime's threads (0: all usable cores).

    Returns
    -------
    pandas.DataFrame
        One row per variant with :data:`QUALITY_COLUMNS` (``split`` as given).
    """
    texts, labels = _check_inputs(variants, texts, labels, n_resamples, "evaluate_variants")
    predictions, failures = predict_labels(variants, texts, tokenizer=tokenizer, max_length=max_length,
                                           batch_size=batch_size, threads=threads, progress=progress)
    return _quality_rows(variants, labels, predictions, failures, label_names=label_names, n_resamples=n_resamples,
                         seed=seed, split=split)


def score_variants(variants: dict[str, Variant], splits: Mapping[str, object], *, tokenizer,
                   label_names: Sequence[str] | None = None, max_length: int = 128, batch_size: int = 32,
                   n_resamples: int = 1000, seed: int = 0, threads: int = 0, progress: bool = True) -> VariantScores:
    """:func:`evaluate_variants` on the ``validation`` and ``test`` datasets of ``splits`` (each with
    ``text`` and ``label``; other keys are ignored), keeping the per-example predictions that the choice (validation) and
    the verdict (test) pair by example.

    Examples
    --------
    >>> scores = score_variants(built, {"validation": val, "test": test}, tokenizer=tok)   # doctest: +SKIP
    >>> scores.on("test").variant.tolist()[0]   # doctest: +SKIP
    'fp32_eager'
    """
    func = "score_variants"
    frames, predictions, labels = [], {}, {}
    for split in [name for name in SCORED_SPLITS if name in splits]:
        rows = splits[split]
        texts, y = _check_inputs(variants, rows["text"], rows["label"], n_resamples, func)
        predicted, failures = predict_labels(variants, texts, tokenizer=tokenizer, max_length=max_length,
                                             batch_size=batch_size, threads=threads, progress=progress)
        frames.append(_quality_rows(variants, y, predicted, failures, label_names=label_names,
                                    n_resamples=n_resamples, seed=seed, split=split))
        predictions[split], labels[split] = predicted, y
    return VariantScores(quality=pd.concat(frames, ignore_index=True), predictions=predictions, labels=labels)
