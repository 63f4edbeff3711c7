"""Summaries of a comparison's runs: per-schedule means, a recommendation, curve differences."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from workbench._validation import check_choice
from workbench.errors import ParameterError

RUN_COLUMNS = ["schedule", "seed", "status", "diverged", "reason", "diverged_step", "steps", "best_val_accuracy",
               "final_val_accuracy", "final_val_loss", "final_train_loss", "steps_to_target", "n_plateaus",
               "train_seconds", "peak_lr", "val_accuracy", "val_macro_f1", "test_accuracy", "test_macro_f1"]
SUMMARY_COLUMNS = ["schedule", "best_val_accuracy", "final_val_loss", "final_train_loss", "steps_to_target",
                   "reached_target", "seed_std", "diverged", "n_runs", "n_diverged", "n_failed"]
PLATEAU_COLUMNS = ["schedule", "seed", "start_step", "end_step", "best", "n_evaluations"]


def summarize_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per schedule over its seeds (failed runs left out of the means).

    ``best_val_accuracy``, ``final_val_loss`` and ``final_train_loss`` (last logged training loss) are
    means over seeds; ``steps_to_target`` is the mean
    over the seeds that reached the target and ``reached_target`` their share; ``seed_std`` is the
    sample standard deviation of the best accuracy over seeds (NaN with one seed); ``diverged`` is
    True when any seed diverged.

    >>> runs = pd.DataFrame({"schedule": ["a", "a"], "seed": [0, 1], "status": "ok", "diverged": False,
    ...                      "best_val_accuracy": [0.7, 0.8], "final_val_loss": [0.5, 0.6],
    ...                      "final_train_loss": [0.4, 0.3], "steps_to_target": [10.0, float("nan")]})
    >>> summarize_runs(runs)[["best_val_accuracy", "steps_to_target", "reached_target"]].round(3).iloc[0].tolist()
    [0.75, 10.0, 0.5]
    """
    rows = []
    for name, group in runs.groupby("schedule", sort=False):
        done = group[group["status"] != "failed"]
        best = done["best_val_accuracy"].astype(float)
        steps = done["steps_to_target"].astype(float)
        rows.append({"schedule": name, "best_val_accuracy": best.mean(),
                     "final_val_loss": done["final_val_loss"].astype(float).mean(),
                     "final_train_loss": done["final_train_loss"].astype(float).mean(),
                     "steps_to_target": steps.mean(), "reached_target": steps.notna().mean() if len(done) else math.nan,
                     "seed_std": best.std(ddof=1), "diverged": bool(group["diverged"].any()),
                     "n_runs": len(group), "n_diverged": int(group["diverged"].sum()),
                     "n_failed": int((group["status"] == "failed").sum())})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def recommend_schedule(summary: pd.DataFrame) -> dict:
    """Pick a schedule from a :func:`summarize_runs` frame, by a rule stated in the result.

    Among schedules that never diverged, the highest mean best validation accuracy wins (exact ties go
    to the lower final validation loss). A schedule whose accuracy is within one seed standard deviation
    of the winner's (the larger of the two schedules' deviations, at least 0.005) is reported as tied: the
    win is ``clear`` only when none is (and there is a runner-up at all).

    Returns
    -------
    dict
        ``schedule`` (None when every schedule diverged or failed), ``clear`` (bool), ``tied`` (names
        within their tolerance, winner included), ``best_val_accuracy``, ``final_val_loss``, ``margin``
        (accuracy lead over the runner-up, or None), ``tolerance`` (the winner's own, max(0.005, its seed
        std)), ``excluded`` (diverged or failed names) and ``rule``.

    Examples
    --------
    >>> summary = pd.DataFrame({"schedule": ["a", "b", "c"], "best_val_accuracy": [0.80, 0.799, 0.9],
    ...                         "final_val_loss": [0.50, 0.45, 0.3], "seed_std": [0.01, 0.01, 0.01],
    ...                         "diverged": [False, False, True]})
    >>> verdict = recommend_schedule(summary)
    >>> verdict["schedule"], verdict["clear"], verdict["tied"], verdict["excluded"]
    ('a', False, ['a', 'b'], ['c'])
    """
    rule = ("highest mean best validation accuracy among schedules that never diverged (exact ties: lower final "
            "validation loss); a win is clear when no other schedule is within one seed standard deviation of it "
            "(the larger of the two, at least 0.005)")
    usable = summary[~summary["diverged"].astype(bool) & summary["best_val_accuracy"].notna()]
    excluded = [name for name in summary["schedule"] if name not in set(usable["schedule"])]
    if usable.empty:
        return {"schedule": None, "clear": False, "tied": [], "best_val_accuracy": None, "final_val_loss": None,
                "margin": None, "tolerance": None, "excluded": excluded, "rule": rule}
    ranked = usable.assign(_loss=usable["final_val_loss"].fillna(math.inf)).sort_values(
        ["best_val_accuracy", "_loss"], ascending=[False, True], kind="stable")
    pick = ranked.iloc[0]
    tolerance = max(0.005, float(np.nan_to_num(pick["seed_std"])))
    pairwise = np.maximum(tolerance, np.nan_to_num(ranked["seed_std"].astype(float).to_numpy()))
    tied = ranked[ranked["best_val_accuracy"].to_numpy() >= pick["best_val_accuracy"] - pairwise]["schedule"].tolist()
    margin = float(pick["best_val_accuracy"] - ranked["best_val_accuracy"].iloc[1]) if len(ranked) > 1 else None
    return {"schedule": pick["schedule"], "clear": len(tied) == 1 and margin is not None, "tied": tied,
            "best_val_accuracy": float(pick["best_val_accuracy"]), "final_val_loss": float(pick["final_val_loss"]),
            "margin": margin, "tolerance": tolerance, "excluded": excluded, "rule": rule}


def curve_difference(history: pd.DataFrame, first: str, second: str, *, metric: str = "loss") -> pd.DataFrame:
    """Two schedules' ``metric`` curves (mean over seeds) side by side at the steps both logged.

    Columns ``step``, ``first``, ``second``, ``abs_diff`` and ``rel_diff`` (``abs_diff / |second|``); used to
    check that, e.g., gradient accumulation 4x8 tracks a batch of 32.

    >>> h = pd.DataFrame({"schedule": ["a", "b"] * 2, "seed": 0, "step": [1, 1, 2, 2], "metric": "loss",
    ...                   "layer": None, "value": [1.0, 1.0, 0.5, 0.4]})
    >>> curve_difference(h, "a", "b")["abs_diff"].round(3).tolist()
    [0.0, 0.1]
    """
    func = "curve_difference"
    for name, value in (("first", first), ("second", second)):
        check_choice(name, value, func, list(dict.fromkeys(history["schedule"])))
    rows = history[history["metric"] == metric]
    curves = rows.groupby(["schedule", "step"])["value"].mean().unstack("schedule")
    if first not in curves or second not in curves:
        raise ParameterError(f"The 'metric' parameter of {func} must be logged for both schedules. Got {metric!r}.")
    both = curves[[first, second]].dropna().rename(columns={first: "first", second: "second"})
    both = both.rename_axis(columns=None).reset_index()
    both["abs_diff"] = (both["first"] - both["second"]).abs()
    both["rel_diff"] = both["abs_diff"] / both["second"].abs()
    return both


