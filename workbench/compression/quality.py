"""Accuracy of every variant on one split, paired against the baseline."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from workbench._progress import progress_bar
from workbench._validation import check_int
from workbench.compression.config import BASELINE, QUALITY_COLUMNS, Variant
from workbench.compression.runners import _length_sorted_batches, predict_variant
from workbench.errors import DataError, ParameterError, first_line


def evaluate_variants(variants: dict[str, Variant], texts: Sequence[str], labels: Sequence[int], *, tokenizer,
                      label_names: Sequence[str] | None = None, max_length: int = 128, batch_size: int = 32,
                      n_resamples: int = 1000, seed: int = 0, threads: int = 0,
                      progress: bool = True) -> pd.DataFrame:
    """Accuracy, macro-F1 and the paired-bootstrap delta vs ``fp32_eager`` of every variant.

    All variants see the same texts, encoded once and batched by length (dynamic padding).
    ``delta_accuracy`` is a fraction (0.01 = 1 point) with the 95% interval and two-sided p-value of
    :func:`workbench.evaluation.paired_bootstrap_test`; ``agreement`` is the share of predictions
    equal to the baseline's. ``threads`` fixes torch's and ONNX Runtime's threads (0: all usable cores).

    Returns
    -------
    pandas.DataFrame
        One row per variant with :data:`QUALITY_COLUMNS`.
    """
    from workbench.evaluation import (
        bootstrap_ci,
        classification_metrics,
        paired_bootstrap_test,
    )

    func = "evaluate_variants"
    texts, labels = list(texts), np.asarray(list(labels))
    if not texts or len(texts) != len(labels):
        raise DataError(f"The 'texts' and 'labels' parameters of {func} must be non-empty and of equal length. "
                        f"Got {len(texts)} texts and {len(labels)} labels instead.")
    if BASELINE not in variants or variants[BASELINE].status != "ok":
        raise ParameterError(f"The 'variants' parameter of {func} must hold a working {BASELINE!r} variant, "
                             "the reference for every delta. Build it with build_variants.")
    check_int("n_resamples", n_resamples, func, low=1)
    batches = _length_sorted_batches(tokenizer, texts, max_length=max_length, batch_size=batch_size)
    predictions: dict[str, np.ndarray] = {}
    rows = []
    for name, variant in progress_bar(list(variants.items()), desc="accuracy", disable=not progress):
        row = {"variant": name, "method": variant.method, "status": variant.status, "reason": variant.reason,
               "note": variant.note, "n": len(texts), "size_mb": variant.size_mb, "parameters": variant.parameters,
               "build_seconds": variant.build_seconds}
        if variant.status == "ok":
            try:
                predictions[name] = predict_variant(variant, batches, len(texts), threads=threads).argmax(axis=1)
            except Exception as error:  # e.g. an op ONNX Runtime has no kernel for at this shape
                row.update(status="failed", reason=f"{type(error).__name__}: {first_line(error)[:240]}")
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
