"""Paired comparisons of a candidate with a baseline on the same test examples: by example and by seed.

:func:`compare_predictions` runs both tests and returns one plain dict (a *comparison*) that
:func:`~workbench.verdicts.make_verdict` reads; :func:`compare_seed_scores` is the seed test alone, for
when only per-seed metric values exist. scipy does the statistics (``scipy.stats.bootstrap`` inside
:mod:`workbench.evaluation`, ``scipy.stats.ttest_rel`` here); scikit-learn computes per-seed metrics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from workbench._validation import check_choice, check_int
from workbench.errors import ParameterError
from workbench.bootstrap import (
    METRICS,
    _check_same_length,
    _encode,
    _macro_f1_stat,
    _shifted_null_p_value,
    mean_difference_test,
    paired_bootstrap_test,
)

__all__ = ["COMPARISON_COLUMNS", "compare_predictions", "compare_seed_scores", "comparison_frame"]

COMPARISON_COLUMNS = ["comparison", "test", "metric", "delta", "ci_low", "ci_high", "p_value", "se",
                      "n_seeds", "n_examples", "decides"]

_Z_975 = 1.959963984540054  # the two-sided 95% normal quantile, to read a standard error off an interval


def _metric_value(y_true: np.ndarray, y_pred: np.ndarray, metric: str) -> float:
    from sklearn.metrics import accuracy_score, f1_score

    if metric == "accuracy":
        return float(accuracy_score(y_true, y_pred))
    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def _runs(name: str, predictions: Any, func: str) -> dict[Any, Any] | None:
    """A {seed: predictions} mapping as a dict, or None for one run given as a plain sequence."""
    if isinstance(predictions, Mapping):
        if not predictions:
            raise ParameterError(f"The {name!r} parameter of {func} must map at least one seed to predictions. "
                                 "Got an empty mapping instead.")
        return dict(predictions)
    return None


def _paired_runs(candidate: Any, baseline: Any, func: str) -> tuple[dict, dict]:
    """Both sides as {seed: predictions} with the same seeds; a plain sequence stands for every seed."""
    cand, base = _runs("candidate", candidate, func), _runs("baseline", baseline, func)
    if cand is None and base is None:
        return {0: candidate}, {0: baseline}
    if cand is None:
        cand = {s: candidate for s in base}
    if base is None:
        base = {s: baseline for s in cand}
    if set(cand) != set(base):
        raise ParameterError(
            f"The 'candidate' and 'baseline' parameters of {func} must hold the same training seeds, to pair "
            f"them. Got candidate seeds {sorted(cand, key=str)} and baseline seeds {sorted(base, key=str)} "
            "instead. Pass the same seeds, or one plain sequence for a deterministic side.")
    return cand, {s: base[s] for s in cand}


def _seed_averaged_f1_test(truth: np.ndarray, cand: list, base: list, n_resamples: int, seed: int) -> dict:
    """Paired bootstrap over examples of mean_s(F1(candidate_s) - F1(baseline_s)): macro F1 does not
    split into per-example scores, so every seed's predictions are resampled together."""
    from scipy.stats import bootstrap

    codes, n_classes = _encode(truth, *cand, *base)
    f1, n_seeds = partial(_macro_f1_stat, n_classes=n_classes), len(cand)

    def statistic(t, *preds, axis=-1):
        return np.mean([f1(t, preds[s], axis=axis) - f1(t, preds[n_seeds + s], axis=axis)
                        for s in range(n_seeds)], axis=0)

    delta = float(statistic(*codes))
    result = bootstrap(tuple(codes), statistic, n_resamples=n_resamples, confidence_level=0.95,
                       method="percentile", paired=True, vectorized=True, rng=np.random.default_rng(seed))
    return {"delta": delta,
            "ci95": (float(result.confidence_interval.low), float(result.confidence_interval.high)),
            "p_value": _shifted_null_p_value(result.bootstrap_distribution, delta, n_resamples)}


def _seed_test(candidate: Mapping, baseline: Mapping) -> dict[str, Any]:
    """Paired t-test over seeds (scipy's ``ttest_rel``) with its t-based 95% interval."""
    from scipy.stats import ttest_rel

    seeds = list(candidate)
    cand = np.array([float(candidate[s]) for s in seeds])
    base = np.array([float(baseline[s]) for s in seeds])
    diff = cand - base
    delta = float(diff.mean())
    if np.ptp(diff) <= 1e-12:  # the same difference on every seed: no spread to test against
        low = high = delta
        se, p_value = 0.0, 1.0 if abs(delta) <= 1e-12 else 0.0
    else:
        result = ttest_rel(cand, base)
        interval = result.confidence_interval(0.95)
        low, high, p_value = float(interval.low), float(interval.high), float(result.pvalue)
        se = float(diff.std(ddof=1) / np.sqrt(len(diff)))
    return {"delta": delta, "ci95": [low, high], "p_value": p_value, "se": se, "df": len(seeds) - 1,
            "seeds": [s.item() if isinstance(s, np.generic) else s for s in seeds],
            "candidate": cand.tolist(), "baseline": base.tolist()}


def _comparison(metric: str, by_example: dict | None, by_seed: dict | None, n_seeds: int,
                n_examples: int | None) -> dict[str, Any]:
    """The comparison dict: the less certain of the two tests (the wider interval) decides."""
    tests = {"example": by_example, "seed": by_seed}
    widths = {name: t["ci95"][1] - t["ci95"][0] for name, t in tests.items() if t is not None}
    decides = max(widths, key=lambda name: (widths[name], name == "seed"))
    chosen = tests[decides]
    if by_example is None:
        note = f"{n_seeds} seeds, no per-example predictions: the seed-level test alone decides"
    elif by_seed is None:
        note = "one training seed: no seed-level test, the example-level test decides"
    else:
        note = f"{n_seeds} seeds: both tests run, the {decides}-level one has the wider interval and decides"
    return {"metric": metric, "delta": float(chosen["delta"]), "ci95": [float(v) for v in chosen["ci95"]],
            "p_value": float(chosen["p_value"]), "se": float(chosen["se"]), "df": chosen.get("df"),
            "decided_by": decides, "n_seeds": n_seeds, "n_examples": n_examples,
            "by_example": by_example, "by_seed": by_seed, "note": note}


def compare_predictions(y_true: Sequence[Any], candidate: Sequence[Any] | Mapping[Any, Sequence[Any]],
                        baseline: Sequence[Any] | Mapping[Any, Sequence[Any]], *, metric: str = "accuracy",
                        n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Candidate minus baseline on the same test examples, paired by example and by training seed.

    ``candidate`` and ``baseline`` are one run's predictions, or ``{seed: predictions}`` for several
    training seeds (the same seeds on both sides; a plain sequence stands for a deterministic side,
    the same on every seed).

    - **By example**: one seed, :func:`~workbench.evaluation.paired_bootstrap_test`; several seeds, the
      same resampling of examples applied to the seed-averaged metric (for accuracy, each example's
      correctness averaged over seeds, through :func:`~workbench.evaluation.mean_difference_test`).
    - **By seed** (two seeds or more): each seed's metric on the whole test set, candidate minus
      baseline paired by seed: mean difference, t-based 95% interval, paired t-test p-value.

    Both are reported; the one with the wider interval (the less certain) sets the comparison's
    ``delta``, ``ci95``, ``p_value`` and ``se`` and is named in ``decided_by``. The two deltas are equal:
    the mean over seeds of the metric difference.

    Returns
    -------
    dict
        ``metric, delta, ci95, p_value, se, df, decided_by, n_seeds, n_examples, by_example, by_seed,
        note``; ``by_seed`` is ``None`` with one seed. JSON-serialisable.

    Examples
    --------
    >>> truth = [0, 1] * 50
    >>> c = compare_predictions(truth, truth, [0] * 100)
    >>> c["delta"], c["decided_by"], c["n_seeds"], c["p_value"] < 0.01
    (0.5, 'example', 1, True)
    """
    func = "compare_predictions"
    check_choice("metric", metric, func, METRICS)
    check_int("n_resamples", n_resamples, func, low=1, fix="Use about 1000 for a 95% interval.")
    cand, base = _paired_runs(candidate, baseline, func)
    seeds = list(cand)
    arrays = [_check_same_length(y_true, func, candidate=cand[s], baseline=base[s]) for s in seeds]
    truth = arrays[0][0]
    if len(seeds) == 1:
        test = paired_bootstrap_test(truth, arrays[0][1], arrays[0][2], metric=metric,
                                     n_resamples=n_resamples, seed=seed)
    elif metric == "accuracy":
        correct = np.array([[c == truth, b == truth] for _, c, b in arrays], dtype=float)  # seed, side, example
        test = mean_difference_test(correct[:, 0].mean(axis=0) - correct[:, 1].mean(axis=0),
                                    n_resamples=n_resamples, seed=seed)
    else:
        test = _seed_averaged_f1_test(truth, [c for _, c, _ in arrays], [b for _, _, b in arrays],
                                      n_resamples, seed)
    low, high = test["ci95"]
    by_example = {"delta": float(test["delta"]), "ci95": [float(low), float(high)],
                  "p_value": float(test["p_value"]), "se": float((high - low) / (2 * _Z_975)),
                  "df": None, "n_resamples": n_resamples, "seed_averaged": len(seeds) > 1}
    by_seed = None
    if len(seeds) > 1:
        by_seed = _seed_test({s: _metric_value(t, c, metric) for s, (t, c, _) in zip(seeds, arrays)},
                             {s: _metric_value(t, b, metric) for s, (t, _, b) in zip(seeds, arrays)})
    return _comparison(metric, by_example, by_seed, len(seeds), len(truth))


def compare_seed_scores(candidate: Mapping[Any, float], baseline: Mapping[Any, float], *,
                        metric: str = "accuracy") -> dict[str, Any]:
    """The seed-level test alone, from each seed's metric value: for when predictions were not kept.

    Needs two seeds or more, the same on both sides. Returns a comparison like
    :func:`compare_predictions`'s, with ``by_example`` and ``n_examples`` ``None``.

    Examples
    --------
    >>> c = compare_seed_scores({0: 0.82, 1: 0.80, 2: 0.85}, {0: 0.80, 1: 0.79, 2: 0.82})
    >>> round(c["delta"], 3), c["decided_by"], [round(v, 3) for v in c["ci95"]]
    (0.02, 'seed', [-0.005, 0.045])
    """
    func = "compare_seed_scores"
    check_choice("metric", metric, func, METRICS)
    for name, scores in (("candidate", candidate), ("baseline", baseline)):
        if not isinstance(scores, Mapping) or len(scores) < 2:
            raise ParameterError(
                f"The {name!r} parameter of {func} must map two or more training seeds to metric values. "
                f"Got {scores!r} instead. With one seed, use compare_predictions on the test predictions.")
        bad = {s: v for s, v in scores.items() if not isinstance(v, (int, float, np.number)) or not np.isfinite(v)}
        if bad:
            raise ParameterError(f"The {name!r} parameter of {func} must hold finite metric values. "
                                 f"Got {bad!r} instead.")
    cand, base = _paired_runs(candidate, baseline, func)
    return _comparison(metric, None, _seed_test(cand, base), len(cand), None)


def comparison_frame(comparisons: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Tidy rows, one per comparison and test (``example``, ``seed``), for ``results.csv``.

    Columns are :data:`COMPARISON_COLUMNS`; ``decides`` marks the test the verdict reads.

    >>> truth = [0, 1] * 50
    >>> comparison_frame({"oracle": compare_predictions(truth, truth, [0] * 100)})[["test", "delta", "decides"]]
          test  delta  decides
    0  example    0.5     True
    """
    rows = []
    for name, comparison in comparisons.items():
        for test in ("example", "seed"):
            result = comparison.get(f"by_{test}")
            if result is not None:
                rows.append({"comparison": name, "test": test, "metric": comparison["metric"],
                             "delta": result["delta"], "ci_low": result["ci95"][0], "ci_high": result["ci95"][1],
                             "p_value": result["p_value"], "se": result["se"], "n_seeds": comparison["n_seeds"],
                             "n_examples": comparison["n_examples"], "decides": comparison["decided_by"] == test})
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
