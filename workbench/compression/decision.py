"""The compression decision: chosen on validation by interval, reported on test with Holm's correction.

The rule (through :mod:`workbench.verdicts`, the project's one decision layer):

1. **Validation** chooses. Each working compressed variant is compared with ``fp32_eager`` on the
   validation split, paired by example (:func:`~workbench.verdicts.compare_predictions`). A variant
   is *non-inferior* when the lower 95% bound of its Δmetric is ≥ ``-tolerance``. Among the variants
   faster than the baseline (by ``by``, batch-1 latency by default; all of them when none is), the
   choice is the fastest non-inferior one; when none is, the one whose lower bound comes closest to
   ``-tolerance`` (so the verdict says what it costs).
   :func:`~workbench.verdicts.choose_on_validation` does the picking: the score is
   ``min(lower bound + tolerance, 0)`` (every non-inferior variant ties at 0) and the cost breaks the tie.
2. **Test** reports. Every variant compared on validation is compared again on test and the family is
   judged together by :func:`~workbench.verdicts.family_verdicts` (non-inferiority at
   ``margin=tolerance``, Holm over the family). The chosen variant's verdict is ``summary["verdict"]``.
3. The **recommendation** is the choice when it is non-inferior on validation and faster than the
   baseline; otherwise ``fp32_eager`` itself.

Nothing depends on the order of ``variants``: names are visited sorted, ties go to the lower cost,
then the name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from workbench._validation import check_choice, check_float
from workbench.compression.config import BASELINE
from workbench.errors import DataError

__all__ = ["COST_COLUMNS", "decide_compression", "decision_rows"]

#: Table columns that may rank the non-inferior variants (lower is better).
COST_COLUMNS = ("latency_ms_p50_b1", "latency_ms_p95_b1", "size_mb")

QUESTION = "Which compressed variant keeps {metric} within {points:g} point(s) of fp32 eager, and how much faster is it?"


def _costs(table: pd.DataFrame, name: str) -> dict[str, Any]:
    rows = table.set_index("variant")
    cost = {}
    for column in ("latency_ms_p50_b1", "size_mb"):
        if column in rows and pd.notna(rows.at[name, column]) and pd.notna(rows.at[BASELINE, column]):
            cost[column] = {"candidate": float(rows.at[name, column]), "baseline": float(rows.at[BASELINE, column])}
    return cost


def decide_compression(table: pd.DataFrame, predictions: Mapping[str, Mapping[str, Any]],
                       labels: Mapping[str, Any], *, tolerance: float = 0.01, metric: str = "accuracy",
                       by: str = "latency_ms_p50_b1", n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Choose a compressed variant on validation, then judge it (and its family) on test.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`~workbench.compression.compression_table` (``variant``, ``status`` and the ``by`` column).
    predictions, labels
        ``predictions[split][variant]`` and ``labels[split]`` for ``"validation"`` and ``"test"``, as
        :class:`~workbench.compression.VariantScores` holds them.
    tolerance : float
        The non-inferiority margin, a fraction (0.01 = 1 point).
    metric : {"accuracy", "macro_f1"}
    by : str
        The cost that ranks non-inferior variants, one of :data:`COST_COLUMNS`.
    n_resamples, seed
        Of the paired bootstrap.

    Returns
    -------
    dict
        ``choice``, ``recommended``, ``non_inferior`` (names, on validation), ``validation``
        (name -> ``delta``, ``ci95``, ``non_inferior``, ``n_examples`` and ``examples_needed``: how many
        validation examples would show it non-inferior if its delta and spread held, ``None`` when its
        delta is below ``-tolerance``; :func:`~workbench.verdicts.examples_for_non_inferiority`),
        ``verdict`` (the choice's, on test), ``verdicts`` (the family's), ``tolerance``, ``metric``, ``by``.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0, 1] * 200)
    >>> wrong = y.copy(); wrong[:40] = 1 - wrong[:40]          # 10 points worse than the labels
    >>> preds = {"fp32_eager": y, "int8": y, "tiny": wrong}
    >>> table = pd.DataFrame({"variant": ["fp32_eager", "int8", "tiny"], "status": ["ok"] * 3,
    ...                       "latency_ms_p50_b1": [10.0, 4.0, 1.0], "size_mb": [90.0, 23.0, 5.0]})
    >>> d = decide_compression(table, {"validation": preds, "test": preds}, {"validation": y, "test": y})
    >>> d["choice"], d["recommended"], d["verdict"]["answer"], d["non_inferior"]
    ('int8', 'int8', 'pays off', ['int8'])
    """
    from workbench.evaluation import METRICS
    from workbench.verdicts import (
        choose_on_validation,
        compare_predictions,
        family_verdicts,
    )

    func = "decide_compression"
    check_float("tolerance", tolerance, func, low=0.0, high=1.0, high_open=True,
                fix="Give the accuracy loss you accept as a fraction, e.g. 0.01 for 1 point.")
    check_choice("metric", metric, func, METRICS)
    check_choice("by", by, func, COST_COLUMNS)
    for split in ("validation", "test"):
        if split not in predictions or split not in labels:
            raise DataError(f"The 'predictions' and 'labels' parameters of {func} must hold a {split!r} split. "
                            f"Got {sorted(predictions)} instead. Score the variants with score_variants.")
    working = table[(table.status == "ok") & table[by].notna()]
    names = sorted(n for n in working.variant if n != BASELINE
                   and all(n in predictions[s] for s in ("validation", "test")))
    if BASELINE not in set(working.variant) or not names:
        raise DataError(f"{func} needs a working {BASELINE!r} and at least one working compressed variant with "
                        f"{by} and predictions on both splits. Got {sorted(working.variant)} instead. "
                        "Check the status and reason columns.")
    compare = dict(metric=metric, n_resamples=n_resamples, seed=seed)
    val = {n: compare_predictions(labels["validation"], predictions["validation"][n],
                                  predictions["validation"][BASELINE], **compare) for n in names}
    cost = working.set_index("variant")[by]
    scores = {n: min(val[n]["ci95"][0] + tolerance, 0.0) for n in names}
    faster = [n for n in names if cost[n] < cost[BASELINE]] or names
    choice = choose_on_validation({n: scores[n] for n in faster}, cost={n: float(cost[n]) for n in faster})
    test = {n: compare_predictions(labels["test"], predictions["test"][n], predictions["test"][BASELINE], **compare)
            for n in names}
    verdicts = family_verdicts(QUESTION.format(metric=metric.replace("_", "-"), points=100 * tolerance), test,
                               baseline=BASELINE, rule="non-inferiority", margin=tolerance,
                               costs={n: _costs(table, n) for n in names})
    non_inferior = [n for n in names if scores[n] == 0.0]
    recommended = choice if choice in non_inferior and cost[choice] < cost[BASELINE] else BASELINE
    return {"choice": choice, "recommended": recommended, "non_inferior": non_inferior, "tolerance": float(tolerance),
            "metric": metric, "by": by, "verdict": verdicts[choice], "verdicts": verdicts,
            "validation": {n: _validation_entry(val[n], n in non_inferior, tolerance) for n in names}}


def _validation_entry(comparison: Mapping[str, Any], non_inferior: bool, tolerance: float) -> dict[str, Any]:
    """One variant's validation comparison, with the examples that would show it within ``tolerance``."""
    from workbench.verdicts import examples_for_non_inferiority

    n = comparison["n_examples"]
    needed = (examples_for_non_inferiority(comparison["delta"], comparison["se"], n, margin=tolerance)
              if n and tolerance > 0 else None)
    return {"delta": comparison["delta"], "ci95": list(comparison["ci95"]), "non_inferior": non_inferior,
            "n_examples": n, "examples_needed": needed}


def decision_rows(decision: Mapping[str, Any]) -> pd.DataFrame:
    """One row per compared variant: validation and test Δ with intervals, the answer and Holm's p.

    >>> decision_rows({"validation": {"a": {"delta": 0.0, "ci95": [-0.01, 0.01], "non_inferior": True}},
    ...                "verdicts": {"a": {"effect": {"delta": 0.0}, "ci95": [-0.02, 0.02], "answer": "inconclusive",
    ...                                   "p_adjusted": 0.1}}, "choice": "a"}).chosen.tolist()
    [True]
    """
    rows = []
    for name, val in decision["validation"].items():
        verdict = decision["verdicts"][name]
        rows.append({"variant": name, "chosen": name == decision["choice"], "validation_delta": val["delta"],
                     "validation_ci_low": val["ci95"][0], "validation_ci_high": val["ci95"][1],
                     "non_inferior_on_validation": val["non_inferior"], "test_delta": verdict["effect"]["delta"],
                     "test_ci_low": verdict["ci95"][0], "test_ci_high": verdict["ci95"][1],
                     "test_answer": verdict["answer"], "p_adjusted": verdict["p_adjusted"]})
    return pd.DataFrame(rows, columns=["variant", "chosen", "validation_delta", "validation_ci_low",
                                       "validation_ci_high", "non_inferior_on_validation", "test_delta",
                                       "test_ci_low", "test_ci_high", "test_answer", "p_adjusted"])

