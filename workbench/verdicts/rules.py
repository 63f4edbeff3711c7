"""The answer rule, Holm's correction and the verdict dict of ``summary.json`` (the rule is spelled
out in :mod:`workbench.verdicts`). scipy supplies the normal and t quantiles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from workbench._validation import check_choice, check_float, check_int, check_type
from workbench.errors import ParameterError

__all__ = ["ALPHA", "ANSWERS", "RULES", "VERDICT_KEYS", "family_verdicts", "holm", "make_verdict",
           "minimum_detectable_effect", "rule_p_value"]

#: Two-sided significance level of every verdict (95% intervals throughout).
ALPHA = 0.05
ANSWERS = ("pays off", "no detectable effect", "costs accuracy", "inconclusive")
RULES = ("superiority", "non-inferiority")
#: The keys of ``summary.json["verdict"]``, in order.
VERDICT_KEYS = ("question", "answer", "choice", "baseline", "metric", "effect", "ci95", "p_value", "p_adjusted",
                "n_comparisons", "selected_on", "reported_on", "n_seeds", "n_examples", "cost")

_COMPARISON_KEYS = ("metric", "delta", "ci95", "p_value", "se", "df", "decided_by", "n_seeds", "n_examples")
_POWER = 0.8


def holm(p_values: Sequence[float] | Mapping[Any, float]) -> list[float] | dict[Any, float]:
    """Holm's step-down adjustment of a family of p-values (Holm 1979), in the input's order.

    Sort the m p-values ascending, multiply the i-th smallest (i = 1..m) by ``m - i + 1``, carry the
    running maximum so the adjusted values keep the p-values' order, and cap at 1. Reject a hypothesis
    when its adjusted p is below alpha: the chance of any false claim in the family stays under alpha.
    A mapping in gives a dict out, with the same keys.

    >>> [round(p, 4) for p in holm([0.01, 0.04, 0.03, 0.005])]
    [0.03, 0.06, 0.06, 0.02]
    >>> holm({"int8": 0.2})
    {'int8': 0.2}
    """
    func = "holm"
    keys = list(p_values) if isinstance(p_values, Mapping) else None
    values = list(p_values.values()) if keys is not None else list(p_values)
    if not values:
        raise ParameterError(f"The 'p_values' parameter of {func} must hold at least one p-value. Got none instead.")
    values = np.array([check_float(f"p_values[{i}]", v, func, low=0, high=1) for i, v in enumerate(values)])
    order = np.argsort(values, kind="stable")
    scaled = (len(values) - np.arange(len(values))) * values[order]
    adjusted = np.empty(len(values))
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return dict(zip(keys, adjusted.tolist())) if keys is not None else adjusted.tolist()


def minimum_detectable_effect(se: float, *, df: int | None = None) -> float:
    """Smallest true |delta| found significant 80% of the time at two-sided alpha = 0.05 (Bloom 1995).

    ``(z_0.975 + z_0.80) * se``, about ``2.80 * se``; with ``df`` (a t-test on few seeds), the t
    quantiles with ``df`` degrees of freedom replace the normal ones.

    >>> round(minimum_detectable_effect(0.01), 4)
    0.028
    >>> round(minimum_detectable_effect(0.01, df=2), 4)
    0.0536
    """
    from scipy.stats import norm, t

    func = "minimum_detectable_effect"
    se = check_float("se", se, func, low=0)
    if df is None:
        return float((norm.ppf(1 - ALPHA / 2) + norm.ppf(_POWER)) * se)
    check_int("df", df, func, low=1, fix="Pass None for a normal (bootstrap) standard error.")
    return float((t.ppf(1 - ALPHA / 2, df) + t.ppf(_POWER, df)) * se)


def examples_for_non_inferiority(delta: float, se: float, n_examples: int, *, margin: float) -> int | None:
    """Examples a paired test would need for its lower 95% bound to reach ``-margin``, if ``delta`` held.

    The per-example spread is read from this test (``se * sqrt(n_examples)``) and assumed to stay; the
    answer is ``ceil((z_0.975 * spread / (delta + margin))^2)``. ``None`` when ``delta <= -margin``:
    then no number of examples would show the candidate within the margin.

    >>> examples_for_non_inferiority(0.0, 0.01, 400, margin=0.01)   # a 1-point SE on 400 examples
    1537
    >>> examples_for_non_inferiority(-0.015, 0.01, 400, margin=0.01) is None
    True
    """
    from scipy.stats import norm

    func = "examples_for_non_inferiority"
    delta = check_float("delta", delta, func, low=-1.0, high=1.0)
    se = check_float("se", se, func, low=0)
    n_examples = check_int("n_examples", n_examples, func, low=1)
    margin = check_float("margin", margin, func, low=0.0, low_open=True, high=1.0,
                         fix="Give the accepted loss as a fraction, e.g. 0.01 for 1 point.")
    if delta + margin <= 0:
        return None
    spread = se * np.sqrt(n_examples)
    return int(np.ceil((norm.ppf(1 - ALPHA / 2) * spread / (delta + margin)) ** 2))


def _check_comparison(comparison: Any, func: str) -> Mapping[str, Any]:
    missing = [k for k in _COMPARISON_KEYS if k not in comparison] if isinstance(comparison, Mapping) else None
    if missing is None or missing:
        shown = f"a dict without {missing}" if missing else repr(comparison)[:60]
        raise ParameterError(f"The 'comparison' parameter of {func} must be a dict from compare_predictions or "
                             f"compare_seed_scores. Got {shown} instead.")
    return comparison


def _check_rule(rule: str, margin: float, func: str) -> float:
    check_choice("rule", rule, func, RULES,
                 fix="Use 'non-inferiority' for a cheaper variant that must keep accuracy within the margin.")
    return check_float("margin", margin, func, low=0, high=1, high_open=True,
                       fix="Use 0.01 for one point of accuracy.")


def rule_p_value(comparison: Mapping[str, Any], *, rule: str = "superiority", margin: float = 0.01) -> float:
    """The p-value a rule tests: superiority, two-sided H0 delta = 0 (the comparison's own p-value);
    non-inferiority, one-sided H0 delta <= -margin, read off the 95% interval (Altman & Bland 2011).

    Non-inferiority inverts the interval: with ``mid`` its centre and ``se`` its standard error, the
    p-value is ``P(Z > (mid + margin) / se)`` (a t variable for a seed-level test), so it is at most
    0.025 exactly when the interval's lower bound is at least ``-margin``. Holm adjusts these values.

    >>> c = {"metric": "accuracy", "delta": 0.0, "ci95": [-0.0196, 0.0196], "p_value": 1.0, "se": 0.01,
    ...      "df": None, "decided_by": "example", "n_seeds": 1, "n_examples": 1000}
    >>> round(rule_p_value(c, rule="non-inferiority", margin=0.0196), 3)
    0.025
    """
    from scipy.stats import norm, t

    func = "rule_p_value"
    comparison = _check_comparison(comparison, func)
    margin = _check_rule(rule, margin, func)
    if rule == "superiority":
        return float(comparison["p_value"])
    low, high = comparison["ci95"]
    mid, se, df = (low + high) / 2, float(comparison["se"]), comparison["df"]
    if se <= 0:  # a zero-width interval: non-inferior or not, with certainty
        return 0.0 if mid >= -margin else 1.0
    z = (mid + margin) / se
    return float(norm.sf(z) if df is None else t.sf(z, df))


def _answer(comparison: Mapping[str, Any], rule: str, margin: float, p_adjusted: float, n_comparisons: int) -> str:
    low, high = comparison["ci95"]
    delta = comparison["delta"]
    if rule == "superiority":
        if p_adjusted < ALPHA and delta != 0:
            return "pays off" if delta > 0 else "costs accuracy"
        if -margin <= low and high <= margin:
            return "no detectable effect"
        return "inconclusive"
    if low >= -margin and (n_comparisons == 1 or p_adjusted <= ALPHA / 2):
        return "pays off"
    if high < -margin:
        return "costs accuracy"
    return "inconclusive"


def _check_cost(cost: Any, func: str) -> dict[str, Any]:
    """A small JSON-able dict: name -> number, text, or {"candidate": x, "baseline": y}."""
    if cost is None:
        return {}
    check_type("cost", cost, func, Mapping, fix='Pass e.g. {"parameters": {"candidate": 1.2e6, "baseline": 2.0e6}}.')
    clean: dict[str, Any] = {}
    for key, value in cost.items():
        if isinstance(value, Mapping) and set(value) == {"candidate", "baseline"}:
            clean[str(key)] = {side: _plain_number(f"cost[{key}][{side}]", value[side], func)
                               for side in ("candidate", "baseline")}
        elif isinstance(value, str):
            clean[str(key)] = value
        else:
            clean[str(key)] = _plain_number(f"cost[{key}]", value, func)
    return clean


def _plain_number(name: str, value: Any, func: str) -> float:
    if isinstance(value, np.generic):
        value = value.item()
    return check_float(name, value, func,
                       fix='Give a number, a text, or {"candidate": x, "baseline": y} per cost.')


def make_verdict(*, question: str, choice: Any, baseline: Any, comparison: Mapping[str, Any], n_comparisons: int = 1,
                 p_adjusted: float | None = None, rule: str = "superiority", margin: float = 0.01,
                 selected_on: str | None = "validation", reported_on: str = "test",
                 cost: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``summary.json["verdict"]`` dict: exactly :data:`VERDICT_KEYS`, JSON-serialisable.

    ``comparison`` comes from :func:`~workbench.verdicts.compare_predictions` (or
    :func:`~workbench.verdicts.compare_seed_scores`) on the **test** split. ``p_adjusted`` is this
    comparison's Holm-adjusted p-value when the notebook makes ``n_comparisons > 1`` (use
    :func:`family_verdicts` to get both right in one call); with one comparison it is the p-value.
    ``selected_on=None`` says nothing was selected (a fixed candidate such as an int8 model).
    ``effect`` holds ``delta``, ``rule``, ``margin``, ``decided_by`` (example or seed test) and
    ``min_detectable`` (:func:`minimum_detectable_effect` of the deciding test).

    Examples
    --------
    >>> c = {"metric": "accuracy", "delta": 0.03, "ci95": [0.01, 0.05], "p_value": 0.004, "se": 0.0102,
    ...      "df": None, "decided_by": "example", "n_seeds": 1, "n_examples": 1000}
    >>> v = make_verdict(question="Does bpe pay off?", choice="bpe", baseline="wordpiece", comparison=c,
    ...                  cost={"vocabulary": {"candidate": 4000, "baseline": 30522}})
    >>> v["answer"], v["p_adjusted"], v["effect"]["decided_by"]
    ('pays off', 0.004, 'example')
    """
    func = "make_verdict"
    check_type("question", question, func, str)
    comparison = _check_comparison(comparison, func)
    margin = _check_rule(rule, margin, func)
    check_int("n_comparisons", n_comparisons, func, low=1, fix="Count every test-set comparison the notebook makes.")
    if selected_on is not None:
        check_type("selected_on", selected_on, func, str)
    check_type("reported_on", reported_on, func, str)
    if selected_on is not None and (selected_on == reported_on or selected_on == "test"):
        raise ParameterError(
            f"The 'selected_on' parameter of {func} must name another split than reported_on ({reported_on!r}) "
            f"and never 'test'. Got {selected_on!r} instead. Choose candidates with choose_on_validation.")
    p_value = rule_p_value(comparison, rule=rule, margin=margin)
    if p_adjusted is None:
        if n_comparisons > 1:
            raise ParameterError(
                f"The 'p_adjusted' parameter of {func} must be given when n_comparisons > 1 (here "
                f"{n_comparisons}). Got None instead. Take it from holm([...]) over the family, or call "
                "family_verdicts.")
        p_adjusted = p_value
    p_adjusted = check_float("p_adjusted", p_adjusted, func, low=0, high=1)
    if p_adjusted < p_value - 1e-12:
        raise ParameterError(f"The 'p_adjusted' parameter of {func} must be at least the p-value ({p_value:.4g}): "
                             f"Holm never lowers a p-value. Got {p_adjusted!r} instead.")
    se, df = float(comparison["se"]), comparison["df"]
    effect = {"delta": float(comparison["delta"]), "rule": rule, "margin": margin,
              "decided_by": comparison["decided_by"], "min_detectable": minimum_detectable_effect(se, df=df)}
    verdict = {
        "question": question, "answer": _answer(comparison, rule, margin, p_adjusted, n_comparisons),
        "choice": _plain(choice), "baseline": _plain(baseline), "metric": comparison["metric"], "effect": effect,
        "ci95": [float(v) for v in comparison["ci95"]], "p_value": p_value, "p_adjusted": p_adjusted,
        "n_comparisons": n_comparisons, "selected_on": selected_on, "reported_on": reported_on,
        "n_seeds": int(comparison["n_seeds"]),
        "n_examples": None if comparison["n_examples"] is None else int(comparison["n_examples"]),
        "cost": _check_cost(cost, func),
    }
    return {key: verdict[key] for key in VERDICT_KEYS}


def _plain(value: Any) -> Any:
    """Names stay JSON-able: numpy scalars become Python ones, anything else but str/int/float a str."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value if isinstance(value, (str, int, float)) and not isinstance(value, bool) else str(value)


def family_verdicts(question: str, comparisons: Mapping[Any, Mapping[str, Any]], *, baseline: Any,
                    rule: str = "superiority", margin: float = 0.01, costs: Mapping[Any, Mapping] | None = None,
                    selected_on: str | None = "validation", reported_on: str = "test") -> dict[Any, dict[str, Any]]:
    """One verdict per comparison of a notebook's family, Holm-corrected together: the one call a
    notebook makes for its test-set comparisons. ``comparisons`` maps each candidate's name to its
    comparison against ``baseline``; ``costs`` maps names to :func:`make_verdict`'s ``cost``.

    Examples
    --------
    >>> c = {"metric": "accuracy", "delta": 0.03, "ci95": [0.01, 0.05], "p_value": 0.03, "se": 0.0102,
    ...      "df": None, "decided_by": "example", "n_seeds": 1, "n_examples": 1000}
    >>> verdicts = family_verdicts("Which recipe pays off?", {"eda": c, "swap": c}, baseline="none")
    >>> verdicts["eda"]["answer"], verdicts["eda"]["p_adjusted"], verdicts["eda"]["n_comparisons"]
    ('inconclusive', 0.06, 2)
    """
    func = "family_verdicts"
    check_type("comparisons", comparisons, func, Mapping)
    if not comparisons:
        raise ParameterError(f"The 'comparisons' parameter of {func} must hold at least one comparison. "
                             "Got {} instead.")
    margin = _check_rule(rule, margin, func)
    costs = {} if costs is None else check_type("costs", costs, func, Mapping)
    p_values = {name: rule_p_value(_check_comparison(c, func), rule=rule, margin=margin)
                for name, c in comparisons.items()}
    adjusted = holm(p_values)
    return {name: make_verdict(question=question, choice=name, baseline=baseline, comparison=comparison,
                               n_comparisons=len(comparisons), p_adjusted=adjusted[name], rule=rule, margin=margin,
                               selected_on=selected_on, reported_on=reported_on, cost=costs.get(name))
            for name, comparison in comparisons.items()}
