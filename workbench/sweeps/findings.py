"""Escaped text about sweeps for reports: configurations as one line of Markdown."""


import html
from collections.abc import Mapping
from typing import Any


def describe_trial(params: Mapping[str, Any]) -> str:
    """``params`` as one escaped ``key=value`` line for HTML or Markdown.

    >>> describe_trial({"activation": "<b>", "num_layers": 2})
    'activation=&lt;b&gt;, num_layers=2'
    """
    return ", ".join(f"{html.escape(str(k))}={html.escape(_short(v))}" for k, v in params.items())


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _pct(part: float | None, whole: float | None) -> str:
    return "" if not part or not whole else f" ({part / whole:.0%} of the grid's)"


def sweeps_findings(summary: Mapping[str, Any], *, n_validation: int) -> str:
    """"What this means" of notebook 04 as escaped Markdown: the verdict, the race, importances, architecture.

    ``summary`` is :func:`~workbench.sweeps.report.sweeps_summary`'s; every configuration, parameter and
    strategy name is escaped (a user's space may name anything).

    >>> summary = {"verdict": None, "target": 0.8, "choice": "tpe<x>", "strategies": {"tpe<x>": {
    ...     "epochs_to_target_median": 12.0, "epochs_used_mean": 30.0, "n_pruned": 3, "n_trials": 30,
    ...     "n_reused": 2, "n_sampler_seeds": 3, "best_value_mean": 0.81, "best_value_std": 0.01,
    ...     "test_value": 0.79}}, "importances": {}, "pareto": {"recommended": None}}
    >>> print(sweeps_findings(summary, n_validation=400).splitlines()[1])
    - **tpe&lt;x&gt;**: target after a median 12 epochs, 30 epochs in all per sampler seed; best 0.8100 ± 0.0100 over 3 sampler seeds, 0.7900 on test; 3 of 30 trials pruned, 2 repeated configurations reused.
    """
    from workbench.verdicts import findings_markdown

    lines = [findings_markdown(summary["verdict"])] if summary.get("verdict") else []
    strategies = summary["strategies"]
    grid_epochs = strategies.get("grid", {}).get("epochs_used_mean")
    target = summary.get("target")
    if target is not None:
        lines.append(f"- Target **{target:.4f}**: the grid winner's validation score re-scored on fresh training "
                     "seeds, less the tolerance; epochs to target count the training a strategy spent to reach it.")
    else:
        lines = lines or ["- No grid winner to set a target."]
    for name, s in strategies.items():
        reached = s["epochs_to_target_median"]
        when = (f"target after a median {reached:g} epochs{_pct(reached, grid_epochs)}" if reached is not None
                else "median seed never reached the target")
        best = "no complete trial" if s["best_value_mean"] is None else (
            f"best {s['best_value_mean']:.4f} ± {s['best_value_std']:.4f} over {s['n_sampler_seeds']} sampler seeds, "
            f"{s['test_value']:.4f} on test")
        lines.append(f"- **{html.escape(str(name))}**: {when}, {s['epochs_used_mean']:g} epochs in all per sampler "
                     f"seed; {best}; {s['n_pruned']} of {s['n_trials']} trials pruned, {s['n_reused']} repeated "
                     "configurations reused.")
    importances = summary.get("importances") or {}
    if importances:
        top = max(importances, key=importances.get)
        lines.append(f"- **{html.escape(str(top))}** mattered most in the TPE + pruning study "
                     f"({importances[top]:.0%} of the explained variance): search it first and widely.")
    pick = (summary.get("pareto") or {}).get("recommended")
    if pick:
        lines.append(f"- Architecture: the fastest Pareto trial within one point of the most accurate is trial "
                     f"{pick['number']} ({describe_trial(pick['params'])}), {pick['latency_ms']:.2f} ms; "
                     f"hypervolume {summary['pareto']['hypervolume']:.4g} after "
                     f"{summary['pareto']['n_generations']} NSGA-II generations.")
    lines.append(f"- Validation differences below about {100 / max(n_validation, 1) ** 0.5:.0f} points are noise "
                 "at this size: the verdict above reads the test split on fresh seeds.")
    return "\n".join(lines)
