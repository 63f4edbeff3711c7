"""A verdict in words: one sentence for the report index, escaped Markdown for "What this means".

Every name and text that comes from the user or the data (question, choice, baseline, cost names
and texts) is passed through ``html.escape``; Markdown also backslash-escapes its emphasis, link and
code characters, so a name like ``[x](javascript:...)`` stays text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from workbench.errors import ParameterError
from workbench.verdicts.rules import ALPHA, VERDICT_KEYS

__all__ = ["answer_sentence", "findings_markdown"]

_METRIC_WORDS = {"accuracy": "accuracy", "macro_f1": "macro-F1"}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]()|~])")


def _check_verdict(verdict: Any, func: str) -> Mapping[str, Any]:
    if not isinstance(verdict, Mapping) or set(verdict) != set(VERDICT_KEYS):
        raise ParameterError(f"The 'verdict' parameter of {func} must be a dict from make_verdict or "
                             f"family_verdicts (keys {list(VERDICT_KEYS)}). Got {repr(verdict)[:60]} instead.")
    return verdict


def _text(value: Any) -> str:
    return html.escape(str(value))


def _md(value: Any) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(str(value)))


def _points(value: float) -> str:
    return f"{100 * value:+.1f}"


def _p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {p:.2g}"


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 and float(value).is_integer() else f"{value:.3g}"


def _cost_text(cost: Mapping[str, Any], escape) -> str:
    """``vocabulary 4,000 vs 30,522 (-87%)``, one clause per cost entry."""
    parts = []
    for key, value in cost.items():
        label = escape(str(key).replace("_", " "))
        if isinstance(value, Mapping):
            change = f" ({value['candidate'] / value['baseline'] - 1:+.0%})" if value["baseline"] else ""
            parts.append(f"{label} {_number(value['candidate'])} vs {_number(value['baseline'])}{change}")
        else:
            parts.append(f"{label} {escape(value) if isinstance(value, str) else _number(value)}")
    return ", ".join(parts)


def _p_clause(verdict: Mapping[str, Any]) -> str:
    one_sided = "one-sided " if verdict["effect"]["rule"] == "non-inferiority" else ""
    if verdict["n_comparisons"] > 1:
        return f"Holm {one_sided}p {_p_text(verdict['p_adjusted'])} over {verdict['n_comparisons']} comparisons"
    return f"{one_sided}p {_p_text(verdict['p_value'])}"


def answer_sentence(verdict: Mapping[str, Any]) -> str:
    """One plain sentence with the answer, the effect, its interval, the p-value and the cost.

    Names are HTML-escaped, so the sentence is safe in an HTML index or a Markdown cell.

    Examples
    --------
    >>> v = {"question": "Does bpe pay off?", "answer": "pays off", "choice": "bpe_4000", "baseline": "wordpiece",
    ...      "metric": "accuracy", "effect": {"delta": 0.021, "rule": "superiority", "margin": 0.01,
    ...      "decided_by": "example", "min_detectable": 0.024}, "ci95": [0.004, 0.038], "p_value": 0.007,
    ...      "p_adjusted": 0.02, "n_comparisons": 3, "selected_on": "validation", "reported_on": "test",
    ...      "n_seeds": 1, "n_examples": 1000, "cost": {"vocabulary": {"candidate": 4000, "baseline": 30522}}}
    >>> print(answer_sentence(v).replace("; ", ";\\n"))
    bpe_4000 vs wordpiece: pays off, +2.1 points accuracy (95% CI +0.4 to +3.8, Holm p = 0.02 over 3 comparisons);
    vocabulary 4,000 vs 30,522 (-87%).
    """
    verdict = _check_verdict(verdict, "answer_sentence")
    effect, (low, high) = verdict["effect"], verdict["ci95"]
    metric = _METRIC_WORDS.get(verdict["metric"], _text(verdict["metric"]))
    head = f"{_text(verdict['choice'])} vs {_text(verdict['baseline'])}: {verdict['answer']}"
    if effect["rule"] == "non-inferiority":
        head += f" (non-inferiority, {100 * effect['margin']:.1f}-point margin)"
    sentence = (f"{head}, {_points(effect['delta'])} points {metric} "
                f"(95% CI {_points(low)} to {_points(high)}, {_p_clause(verdict)})")
    if verdict["answer"] == "inconclusive":
        sentence += (f"; the smallest effect this test could detect is about "
                     f"{100 * effect['min_detectable']:.1f} points")
    if verdict["cost"]:
        sentence += f"; {_cost_text(verdict['cost'], _text)}"
    return sentence + "."


def findings_markdown(verdict: Mapping[str, Any]) -> str:
    """The verdict as escaped Markdown for a notebook's "What this means" cell.

    >>> v = {"question": "Does int8 keep accuracy?", "answer": "pays off", "choice": "int8", "baseline": "fp32",
    ...      "metric": "accuracy", "effect": {"delta": -0.002, "rule": "non-inferiority", "margin": 0.01,
    ...      "decided_by": "example", "min_detectable": 0.01}, "ci95": [-0.008, 0.004], "p_value": 0.0001,
    ...      "p_adjusted": 0.0001, "n_comparisons": 1, "selected_on": None, "reported_on": "test",
    ...      "n_seeds": 1, "n_examples": 1000, "cost": {"latency_ms": {"candidate": 4.1, "baseline": 9.8}}}
    >>> print(findings_markdown(v).splitlines()[0])
    **Does int8 keep accuracy?** int8 against fp32: **pays off**.
    """
    verdict = _check_verdict(verdict, "findings_markdown")
    effect, (low, high) = verdict["effect"], verdict["ci95"]
    metric = _METRIC_WORDS.get(verdict["metric"], _md(verdict["metric"]))
    seeds = f"{verdict['n_seeds']} training seed{'s' if verdict['n_seeds'] != 1 else ''}"
    examples = "" if verdict["n_examples"] is None else f"{verdict['n_examples']:,} test examples, "
    if effect["rule"] == "superiority":
        rule = (f"superiority: pays off (costs accuracy) when the Holm-adjusted p < {ALPHA} and the effect is "
                f"positive (negative); "
                f"no detectable effect when the 95% interval lies within ±{100 * effect['margin']:.1f} points")
    else:
        rule = (f"non-inferiority at a {100 * effect['margin']:.1f}-point margin: pays off only when the lower "
                f"95% bound is at least {-100 * effect['margin']:.1f} points, never on the point estimate")
    selected = (f"Chosen on {_md(verdict['selected_on'])}" if verdict["selected_on"] is not None
                else "A fixed candidate (nothing selected)")
    lines = [
        (f"**{_md(verdict['question'])}** {_md(verdict['choice'])} against {_md(verdict['baseline'])}: "
         f"**{verdict['answer']}**."),
        "",
        (f"- Effect on {metric}: {_points(effect['delta'])} points (95% CI {_points(low)} to {_points(high)}), "
         f"{_p_clause(verdict)}; {examples}{seeds}, decided by the {effect['decided_by']}-level test."),
        f"- Rule: {rule}.",
        f"- {selected}, reported on {_md(verdict['reported_on'])}.",
    ]
    if verdict["answer"] == "inconclusive":
        lines.append(f"- The smallest effect this data and these seeds could detect (80% power, two-sided "
                     f"alpha = {ALPHA}) is about {100 * effect['min_detectable']:.1f} points: "
                     "(z\\_0.975 + z\\_0.8) × SE ≈ 2.80 × SE, t quantiles for a seed-level test. "
                     "More test examples or seeds would lower it.")
    if verdict["cost"]:
        lines.append(f"- Cost: {_cost_text(verdict['cost'], _md)}.")
    return "\n".join(lines)
