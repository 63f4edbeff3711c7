"""What the schedules study means, as escaped Markdown, and its ``summary.json`` / ``results.csv`` content."""

from __future__ import annotations

import html
import math

import pandas as pd


def _name(value) -> str:
    return f"`{html.escape(str(value))}`"


def _pct(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"


def schedule_findings(study, *, warmup: dict, accumulation: dict, finders: dict | None = None,
                      noise: dict | None = None) -> str:
    """The verdict (:func:`workbench.verdicts.findings_markdown`) and one line per side experiment.

    Every schedule and model name is escaped (``html.escape``) before it enters the Markdown.

    >>> v = {"question": "Q?", "answer": "no detectable effect", "choice": "<b>", "baseline": "linear",
    ...      "metric": "accuracy", "effect": {"delta": 0.0, "rule": "superiority", "margin": 0.01,
    ...      "decided_by": "seed", "min_detectable": 0.01}, "ci95": [-0.005, 0.005], "p_value": 0.9,
    ...      "p_adjusted": 1.0, "n_comparisons": 3, "selected_on": "validation", "reported_on": "test",
    ...      "n_seeds": 2, "n_examples": 100, "cost": {}}
    >>> class S: verdicts = {"verdict": v}; peak_lrs = {"<b>": 1e-3, "linear": 3e-3}
    >>> text = schedule_findings(S, warmup={"post_ln": None, "pre_ln": None}, accumulation={"tracks": True,
    ...                          "max_rel_diff": 1e-5, "tolerance": 1e-3})
    >>> "&lt;b&gt;" in text and "<b>" not in text
    True
    """
    from workbench.verdicts import findings_markdown

    verdict = study.verdicts["verdict"]
    rates = ", ".join(f"{_name(name)} {lr:g}" for name, lr in study.peak_lrs.items())
    lines = [findings_markdown(verdict), "",
             f"- Each schedule ran at its own best peak rate from the validation sweep: {rates}."]
    for key, label in (("post_ln", "post-LN"), ("pre_ln", "pre-LN")):
        arm = warmup.get(key)
        if arm:
            direction = "helps" if arm["gain"] > 0 else "hurts" if arm["gain"] < 0 else "changes nothing"
            lines.append(f"- Warmup at peak {arm['peak_lr']:g} on the {label} encoder {direction}: test accuracy "
                         f"{_pct(arm['with_warmup'])} with, {_pct(arm['without_warmup'])} without "
                         f"({arm['gain']:+.3f}; one run per seed, not Holm-corrected)"
                         + (f"; diverged: {', '.join(map(_name, arm['diverged']))}" if arm["diverged"] else "") + ".")
    if finders:
        report = finders["report"]
        far = ", ".join(f"{_name(rule)} {entry['suggested_lr']:.2g} ({entry['factor_from_best']:.1f} orders of magnitude off)"
                        for rule, entry in report.items() if isinstance(entry, dict) and entry["suggested_lr"])
        lines.append(f"- Learning-rate finders against the best swept rate {report['best_lr']:g}: {far}; "
                     f"nearest: {_name(report['nearest'])}.")
    if noise and noise.get("critical_batch_size"):
        lines.append(f"- Gradient noise scale B_simple ≈ {noise['b_simple']:.0f} during training (McCandlish et "
                     f"al. 2018): batches up to about {noise['critical_batch_size']} examples should still cut the "
                     f"updates needed almost proportionally; this run used {noise['train_batch_size']}.")
    lines.append(f"- Accumulation 4×8 {'tracks' if accumulation['tracks'] else 'does NOT track'} 1×32: largest "
                 f"relative loss difference {accumulation['max_rel_diff']:.1e} (tolerance "
                 f"{accumulation['tolerance']:g}).")
    return "\n".join(lines)


def schedules_summary(study, *, warmup: dict, accumulation: dict, finders: dict, noise: dict, settings: dict) -> dict:
    """The notebook's ``summary.json`` body (``record`` adds params, environment, dataset)."""
    scores = study.verdicts["scores"].set_index("schedule")
    verdict = study.verdicts["verdict"]
    return {
        "headline": ["verdict.choice", "verdict.answer", "verdict.effect.delta"],
        "verdict": verdict,
        "verdicts": study.verdicts["verdicts"],
        "schedules": {name: {"peak_lr": row["peak_lr"], "test_accuracy": row["test_accuracy"],
                             "test_macro_f1": row["test_macro_f1"], "ci95": row["ci95"],
                             f"val_{study.metric}": row["val_metric"], "usable": bool(row["usable"]),
                             "train_seconds": row["train_seconds"]}
                      for name, row in scores.iterrows()},
        "lr_finders": _finders_summary(finders),
        "noise_scale": {k: v for k, v in noise.items() if k != "frame"},
        "warmup_ablation": {k: v for k, v in warmup.items() if k != "frame"},
        "accumulation": {k: accumulation[k] for k in ("max_rel_diff", "tracks", "tolerance")},
        "target_accuracy": study.comparison.target_accuracy,
        "settings": settings,
    }


def _finders_summary(finders: dict) -> dict:
    """fastai's valley stands for the range test (its default rule); every rule is kept under ``rules``."""
    report = finders["report"]
    rules = {k.removeprefix("range_test_"): v for k, v in report.items() if k.startswith("range_test_")}
    return {"range_test": {**rules["valley"], "rule": "valley", "rules": rules,
                           "stopped_early": finders["range_test"].stopped_early},
            "short_horizon": report["short_horizon"], "best_lr": report["best_lr"], "nearest": report["nearest"]}


def schedules_results(study, *, warmup: dict, accumulation: dict, finders: dict, noise: dict,
                      planned: pd.DataFrame) -> pd.DataFrame:
    """Every tidy table behind the report, stacked with a ``table`` column, for ``results.csv``."""
    scores = study.verdicts["scores"].assign(ci95=lambda f: f["ci95"].map(str))
    tables = {"scores": scores, "runs": study.comparison.runs, "sweep": study.sweep.runs,
              "history": study.comparison.history, "plateaus": study.comparison.plateaus,
              "warmup_ablation": warmup["frame"], "planned_lr": planned, "range_test": finders["range_test"].frame,
              "short_horizon": finders["short_horizon"]["frame"], "noise_scale": noise["frame"],
              "accumulation": accumulation["gap"]}
    return pd.concat(tables, names=["table"]).reset_index(level=0)
