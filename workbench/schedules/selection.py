"""Choosing schedules without the learning-rate confound, and the verdict on test.

1. :func:`sweep_peak_lrs`: every schedule gets its own best peak rate from a short sweep (a few rates,
   one seed), scored on **validation** at the restored checkpoint.
2. :func:`choose_schedule`: the schedule with the best validation metric (mean over seeds, at each run's
   restored checkpoint; the checkpoint itself is picked by validation *loss*, so the number that
   chooses the schedule is not the maximum over evaluations that also picked the checkpoint).
3. :func:`schedule_verdicts`: the chosen schedule and every other one against the baseline (linear
   warmup-decay, the transformers default) on **test**, paired by example and by seed
   (:func:`workbench.verdicts.compare_predictions`), Holm over the family
   (:func:`workbench.verdicts.family_verdicts`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from workbench._validation import check_choice, check_type
from workbench.errors import DataError, ParameterError
from workbench.evaluation import METRICS, mean_ci

SCORE_COLUMNS = ["schedule", "peak_lr", "n_seeds", "usable", "val_metric", "test_accuracy", "test_macro_f1",
                 "ci95", "train_seconds", "steps"]
BASELINE = "linear"


def usable_schedules(runs: pd.DataFrame) -> list[str]:
    """Schedules whose every seed trained without diverging or failing, in order.

    >>> runs = pd.DataFrame({"schedule": ["a", "a", "b"], "status": ["ok", "diverged", "ok"]})
    >>> usable_schedules(runs)
    ['b']
    """
    ok = runs.groupby("schedule", sort=False)["status"].agg(lambda s: bool((s == "ok").all()))
    return [name for name, good in ok.items() if good]


def choose_schedule(runs: pd.DataFrame, *, metric: str = "accuracy", exclude: Sequence[str] = (),
                    cost: str = "steps") -> str | None:
    """The usable schedule with the best mean **validation** ``metric`` (``val_<metric>`` of the runs).

    Test columns are never read. Ties go to the lower mean ``cost`` column (updates by default: a
    deterministic cost, where training time would let the clock break ties), then the name
    (:func:`workbench.verdicts.choose_on_validation`). None when no schedule is usable.

    >>> runs = pd.DataFrame({"schedule": ["a", "b"], "status": "ok", "val_accuracy": [0.7, 0.8],
    ...                      "test_accuracy": [0.99, 0.1], "steps": [10, 10]})
    >>> choose_schedule(runs)
    'b'
    """
    from workbench.verdicts import choose_on_validation

    check_choice("metric", metric, "choose_schedule", METRICS)
    names = [name for name in usable_schedules(runs) if name not in set(exclude)]
    if not names:
        return None
    rows = runs[runs["schedule"].isin(names)]
    scores = rows.groupby("schedule", sort=False)[f"val_{metric}"].mean()
    costs = rows.groupby("schedule", sort=False)[cost].mean().fillna(0.0)
    return choose_on_validation(scores.to_dict(), metric=metric, cost=costs.to_dict())


def schedule_scores(comparison, *, metric: str = "accuracy", n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per schedule: its peak rate, validation metric, test accuracy and macro F1 (means over
    seeds) and the 95% interval of the test ``metric`` (seed-averaged per-example correctness for
    accuracy, bootstrap over examples; the seeds' t interval for macro F1). Columns ``SCORE_COLUMNS``."""
    check_choice("metric", metric, "schedule_scores", METRICS)
    runs, truth = comparison.runs, comparison.labels.get("test")
    usable = set(usable_schedules(runs))
    rows = []
    for name, group in runs.groupby("schedule", sort=False):
        ci = [math.nan, math.nan]
        preds = [comparison.predictions.get((name, s), {}).get("test") for s in group["seed"]]
        if truth is not None and preds and all(p is not None for p in preds):
            if metric == "accuracy":
                correct = np.mean([np.asarray(p) == truth for p in preds], axis=0)
                ci = list(mean_ci(correct, n_resamples=n_resamples, seed=seed))
            else:
                ci = _t_interval(group[f"test_{metric}"].to_numpy(dtype=float))
        rows.append({"schedule": name, "peak_lr": float(group["peak_lr"].iloc[0]), "n_seeds": len(group),
                     "usable": name in usable, "val_metric": float(group[f"val_{metric}"].mean()),
                     "test_accuracy": float(group["test_accuracy"].mean()),
                     "test_macro_f1": float(group["test_macro_f1"].mean()), "ci95": [float(v) for v in ci],
                     "train_seconds": float(group["train_seconds"].mean()), "steps": float(group["steps"].mean())})
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def _t_interval(values: np.ndarray) -> list[float]:
    from scipy import stats

    if len(values) < 2:
        return [math.nan, math.nan]
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return [float(values.mean() - half), float(values.mean() + half)]


def schedule_verdicts(comparison, *, metric: str = "accuracy", baseline: str = BASELINE,
                      question: str | None = None, n_resamples: int = 1000, seed: int = 0) -> dict:
    """Choose a schedule on validation, then judge it and the family against ``baseline`` on test.

    Every usable schedule but the baseline is compared with it on the test split, paired by example
    and by seed; Holm's correction runs over that family (its size is each verdict's ``n_comparisons``).
    The choice is the best of them on validation (:func:`choose_schedule`, the baseline excluded: the
    question is whether switching away from it pays off). ``cost`` is the mean training time and number
    of updates of the choice and the baseline.

    Returns
    -------
    dict
        ``choice`` (name), ``verdict`` (the choice's verdict, the ``summary.json`` schema), ``verdicts``
        (every compared schedule's) and ``scores`` (:func:`schedule_scores`).
    """
    from workbench.verdicts import compare_predictions, family_verdicts

    func = "schedule_verdicts"
    check_choice("metric", metric, func, METRICS)
    check_type("baseline", baseline, func, str)
    runs = comparison.runs
    if baseline not in set(runs["schedule"]):
        raise ParameterError(f"The 'baseline' parameter of {func} must name a compared schedule "
                             f"({sorted(set(runs['schedule']))}). Got {baseline!r} instead.")
    if "test" not in comparison.labels:
        raise DataError(f"The comparison given to {func} has no test predictions. Give compare_schedules a "
                        "dataset with a 'test' split (workbench.load_dataset makes one).")
    usable = usable_schedules(runs)
    if baseline not in usable:
        rows = runs[(runs["schedule"] == baseline) & ~runs["status"].isin(["ok"])]
        failed = rows[rows["status"] == "failed"]
        reason = (f"its run with seed {failed['seed'].iloc[0]} failed: {str(failed['reason'].iloc[0])[:160]}. "
                  "Fix that error first." if len(failed) else
                  "it diverged. Lower its peak learning rate or pick another baseline.")
        raise DataError(f"The baseline {baseline!r} of {func} must train without diverging or failing on every "
                        f"seed; {reason}")
    candidates = [name for name in usable if name != baseline]
    if not candidates:
        raise DataError(f"{func} needs at least one usable schedule besides the baseline {baseline!r}. "
                        f"Got usable schedules {usable} instead.")
    truth = comparison.labels["test"]
    seeds = runs.loc[runs["schedule"] == baseline, "seed"].tolist()

    def predictions(name: str) -> dict:
        return {s: comparison.predictions[name, s]["test"] for s in seeds}

    scores = schedule_scores(comparison, metric=metric, n_resamples=n_resamples, seed=seed)
    by_name = scores.set_index("schedule")
    comparisons = {name: compare_predictions(truth, predictions(name), predictions(baseline), metric=metric,
                                             n_resamples=n_resamples, seed=seed) for name in candidates}
    costs = {name: {key: {"candidate": by_name.loc[name, key], "baseline": by_name.loc[baseline, key]}
                    for key in ("train_seconds", "steps")} for name in candidates}
    question = question or f"Does another learning-rate schedule pay off against {baseline}?"
    verdicts = family_verdicts(question, comparisons, baseline=baseline, costs=costs)
    choice = choose_schedule(runs, metric=metric, exclude=[baseline])
    return {"choice": choice, "verdict": verdicts[choice], "verdicts": verdicts, "scores": scores}


def sweep_peak_lrs(model: str, dataset, schedules: Mapping[str, Mapping], *, rates: Sequence[float], base=None,
                   seed: int = 0, metric: str = "accuracy", tokenizer=None, progress: bool = False):
    """Each schedule's best peak learning rate from a short sweep: one seed, a few ``rates``, validation only.

    Every spec trains once per rate through :func:`~workbench.schedules.compare_schedules`; the rate whose
    restored checkpoint scores the best validation ``metric`` wins (ties: the lower rate). Diverged or
    failed runs never win; a schedule with no usable rate keeps the lowest.

    Returns
    -------
    best : dict
        ``{schedule: peak_lr}``.
    sweep : ScheduleComparison
        The sweep's runs, named ``"<schedule>@<rate>"`` (``runs`` has ``peak_lr``).

    Examples
    --------
    >>> best, sweep = sweep_peak_lrs("tiny", data, {"linear": {}}, rates=[1e-4, 1e-3])  # doctest: +SKIP
    """
    from workbench.schedules.compare import compare_schedules

    func = "sweep_peak_lrs"
    check_type("rates", rates, func, (list, tuple), fix="Give a list such as [3e-4, 1e-3, 3e-3].")
    if not rates or any(not isinstance(r, (int, float)) or r <= 0 for r in rates):
        raise ParameterError(f"The 'rates' parameter of {func} must list positive learning rates. "
                             f"Got {list(rates)!r} instead.")
    check_choice("metric", metric, func, METRICS)
    grid = {f"{name}@{rate:g}": {**spec, "learning_rate": float(rate)} for name, spec in schedules.items()
            for rate in rates}
    for name in schedules:  # the spec's scheduler is named by the spec, not by the grid's keys
        for rate in rates:
            if _scheduler_of(name):
                grid[f"{name}@{rate:g}"].setdefault("lr_scheduler_type", name)
    sweep = compare_schedules(model, dataset, grid, base=base, seeds=[seed], tokenizer=tokenizer, progress=progress)
    runs = sweep.runs.assign(spec=sweep.runs["schedule"].str.rsplit("@", n=1).str[0])
    best = {}
    for name in schedules:
        rows = runs[runs["spec"] == name]
        choice = choose_schedule(rows, metric=metric, cost="peak_lr")
        best[name] = float(rows.set_index("schedule").loc[choice, "peak_lr"]) if choice else float(min(rates))
    return best, sweep


def _scheduler_of(name: str) -> str | None:
    from transformers import SchedulerType

    from workbench.schedules.frames import TORCH_SCHEDULES

    return name if name in SchedulerType._value2member_map_ or name in TORCH_SCHEDULES else None
