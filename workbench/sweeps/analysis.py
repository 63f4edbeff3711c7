"""Studies as tidy frames: trials, strategy comparisons, Pareto fronts and parameter importances."""


import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from workbench._validation import check_float, check_int
from workbench.errors import ParameterError, first_line
from workbench.sweeps.factories import OBJECTIVES
from workbench.sweeps.objectives import _Objective

STRATEGIES: dict[str, tuple[str, str]] = {
    "grid": ("grid", "none"), "random": ("random", "none"), "tpe": ("tpe", "none"), "tpe_pruning": ("tpe", "median")}
"""Strategy name -> (sampler, pruner) compared by :func:`compare_strategies`."""
TRIAL_COLUMNS = ["study", "number", "state", "value", "epochs", "cumulative_epochs", "best_so_far", "seconds",
                 "reason", "reused", *OBJECTIVES]
PARETO_COLUMNS = ["study", "number", *OBJECTIVES, "params"]


def trials_frame(study: optuna.Study, *, name: str | None = None) -> pd.DataFrame:
    """One row per trial in number order: state, value, epochs, best so far, measures and ``params_*``.

    ``epochs`` is what the trial really trained (a pruned trial stops early, a constraint violation
    trains none), ``cumulative_epochs`` their running sum, ``best_so_far`` the best first-objective
    value of the complete trials up to this one.

    >>> from workbench.sweeps import run_sweep
    >>> frame = trials_frame(run_sweep(lambda t: t.suggest_int("x", 0, 3), n_trials=3, progress=False).study)
    >>> frame["best_so_far"].is_monotonic_increasing
    True
    """
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    if not trials:
        warnings.warn(f"Study {study.study_name!r} has no trials yet.", stacklevel=2)
    maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    rows, best, cumulative = [], None, 0
    for trial in trials:
        epochs = trial_epochs(trial)
        cumulative += epochs
        value = trial.values[0] if trial.state == TrialState.COMPLETE and trial.values else None
        if value is not None and (best is None or (value > best if maximize else value < best)):
            best = value
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds() \
            if trial.datetime_complete and trial.datetime_start else None
        row = {"study": name or study.study_name, "number": trial.number, "state": trial.state.name.lower(),
               "value": value, "epochs": epochs, "cumulative_epochs": cumulative, "best_so_far": best,
               "seconds": seconds, "reason": trial.user_attrs.get("reason", ""),
               "reused": bool(trial.user_attrs.get("reused", False))}
        row.update({metric: trial.user_attrs.get(metric) for metric in OBJECTIVES})
        row.update({f"params_{key}": value for key, value in trial.params.items()})
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=TRIAL_COLUMNS)
    return pd.DataFrame(rows).astype({"value": float, "best_so_far": float})


def trial_epochs(trial: optuna.trial.FrozenTrial) -> int:
    """Epochs a trial trained: its recorded count, else its last reported epoch (0 if none)."""
    return int(trial.user_attrs.get("epochs", max(trial.intermediate_values, default=0)))


def compare_strategies(objective: _Objective, *, strategies: Mapping[str, tuple[str, str]] | None = None,
                       n_trials: int | None = None, storage: str | None = None, study_prefix: str = "compare",
                       seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """Run each strategy (sampler + pruner) on the same objective and budget; return all trials, tidy.

    A race on one sampler seed (:func:`~workbench.sweeps.run_race`, studies ``<prefix>-<strategy>-s<seed>``,
    resumed when they exist): use that for several seeds.

    Every strategy gets ``n_trials`` trials (default: the grid size, so the grid is exhaustive) over
    the objective's space; the frame is :func:`trials_frame` of each study with a ``strategy`` column.
    A failed trial has state ``fail`` and its reason; a strategy that fails entirely is reported as
    one row with state ``error`` and the reason.

    >>> frame = compare_strategies(objective, n_trials=12)  # doctest: +SKIP
    >>> strategy_summary(frame)["tpe_pruning"]["epochs_used"]  # doctest: +SKIP
    """
    strategies = dict(strategies or STRATEGIES)
    check_int("seed", seed, "compare_strategies", low=0)
    size = objective.space.grid_size
    if n_trials is None:
        if size is None:
            raise ParameterError("The 'n_trials' parameter of compare_strategies must be given when the space is "
                                 "continuous (no grid size to default to). Got None.")
        n_trials = size
    check_int("n_trials", n_trials, "compare_strategies", low=1, fix="Use None for the size of the grid.")
    from workbench.sweeps.race import run_race  # the race imports this module's frames

    race = run_race(objective, strategies=strategies, n_trials=n_trials, sampler_seeds=[seed], storage=storage,
                    study_prefix=study_prefix, new_study=False, progress=progress)
    return race.frame.drop(columns=["sampler_seed"])


def strategy_summary(frame: pd.DataFrame, *, reference: str = "grid", tolerance: float = 0.005,
                     maximize: bool = True) -> dict[str, dict[str, Any]]:
    """Per strategy: ``best_value``, ``n_trials``, ``n_pruned``, ``epochs_used``, ``epochs_to_target``.

    The target is the ``reference`` strategy's best minus ``tolerance`` (0.005 = half a point of
    accuracy); ``epochs_to_target`` is the cumulative training epochs a strategy had spent when its
    best-so-far first reached it (None if it never did).

    >>> frame = pd.DataFrame({"strategy": ["grid", "grid", "tpe"], "state": ["complete"] * 3,
    ...                       "value": [0.7, 0.8, 0.798], "epochs": [2, 2, 1], "number": [0, 1, 0]})
    >>> strategy_summary(frame)["tpe"]["epochs_to_target"]
    1
    """
    check_float("tolerance", tolerance, "strategy_summary", low=0.0)
    if frame.empty or "strategy" not in frame:
        warnings.warn("strategy_summary got no trials.", stacklevel=2)
        return {}
    best = {}
    for name, rows in frame.groupby("strategy", sort=False):
        values = rows.loc[rows["state"] == "complete", "value"].dropna()
        best[name] = (values.max() if maximize else values.min()) if len(values) else None
    target = best.get(reference)
    target = None if target is None else (target - tolerance if maximize else target + tolerance)
    summary = {}
    for name, rows in frame.groupby("strategy", sort=False):
        rows = rows.sort_values("number") if "number" in rows else rows
        epochs = rows["epochs"].fillna(0).astype(int).cumsum()
        complete = rows["state"] == "complete"
        reached = complete & ((rows["value"] >= target) if maximize else (rows["value"] <= target)) \
            if target is not None else complete & False
        summary[name] = {
            "best_value": None if best[name] is None else float(best[name]),
            "n_trials": int(rows["state"].isin(["complete", "pruned"]).sum()),
            "n_pruned": int((rows["state"] == "pruned").sum()),
            "epochs_used": int(epochs.iloc[-1]) if len(epochs) else 0,
            "epochs_to_target": int(epochs[reached].iloc[0]) if reached.any() else None,
        }
    return summary


def pareto_frame(study: optuna.Study) -> pd.DataFrame:
    """The trials on the Pareto front (Optuna's ``best_trials``): one row each, sorted by first objective.

    Columns: ``study``, ``number``, every measure the objective recorded (``accuracy``, ``macro_f1``,
    ``latency_ms``, ``n_params``, ``flops``; missing ones are NaN) and ``params`` (a dict).
    """
    if len(study.directions) < 2:
        raise ParameterError(f"pareto_frame needs a multi-objective study. Got {study.study_name!r} with one "
                             "objective. Run with objectives=('accuracy', 'latency_ms').")
    rows = [{"study": study.study_name, "number": t.number, **{m: t.user_attrs.get(m) for m in OBJECTIVES},
             "params": dict(t.params)} for t in study.best_trials]
    if not rows:
        warnings.warn(f"Study {study.study_name!r} has no complete trial, so no Pareto front.", stacklevel=2)
        return pd.DataFrame(columns=PARETO_COLUMNS)
    frame = pd.DataFrame(rows, columns=PARETO_COLUMNS)
    first = study.user_attrs.get("objectives", ["accuracy"])[0]
    return frame.sort_values([first, "number"], ascending=[False, True]).reset_index(drop=True)


def pareto_pick(pareto: pd.DataFrame, *, metric: str = "accuracy", cost: str = "latency_ms",
                tolerance: float = 0.01) -> pd.Series | None:
    """The cheapest Pareto trial whose ``metric`` is within ``tolerance`` of the front's best.

    >>> front = pd.DataFrame({"accuracy": [0.80, 0.795, 0.70], "latency_ms": [9.0, 3.0, 1.0]})
    >>> float(pareto_pick(front)["latency_ms"])
    3.0
    """
    check_float("tolerance", tolerance, "pareto_pick", low=0.0)
    if pareto.empty:
        return None
    close = pareto[pareto[metric] >= pareto[metric].max() - tolerance]
    return close.loc[close[cost].idxmin()]


def param_importances(study: optuna.Study, *, seed: int = 0) -> pd.DataFrame:
    """fANOVA importance of each parameter for the first objective (Optuna's ``get_param_importances``).

    Rows ``param``, ``importance`` (summing to 1), most important first; an empty frame with a warning
    when the study has too few complete trials or nothing varied.
    """
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    try:
        importances = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=seed),
                                            target=lambda t: t.values[0])
    except (ValueError, RuntimeError) as error:
        warnings.warn(f"No parameter importances for {study.study_name!r}: {first_line(error)}", stacklevel=2)
        importances = {}
    return pd.DataFrame({"param": list(importances), "importance": list(importances.values())},
                        columns=["param", "importance"])


def hypervolume_history(study: optuna.Study, *, reference_point: Sequence[float] | None = None) -> pd.DataFrame:
    """Hypervolume of the Pareto front after each complete trial (Optuna's ``compute_hypervolume``).

    Objectives are turned into minimisation (maximised ones negated). The default reference point is
    0 for a maximised quality metric and 1.1 x the worst value seen for each cost, so the figure is
    comparable across a study's history (not across studies). Rows ``number``, ``hypervolume``.

    >>> study = optuna.create_study(directions=["maximize", "minimize"])
    >>> for acc, ms in [(0.5, 2.0), (0.8, 4.0), (0.6, 1.0)]:
    ...     _ = study.enqueue_trial({"a": acc, "m": ms})
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> study.optimize(lambda t: (t.suggest_float("a", 0, 1), t.suggest_float("m", 0, 9)), n_trials=3)
    >>> [round(v, 2) for v in hypervolume_history(study, reference_point=[0.0, 5.0])["hypervolume"]]
    [1.5, 1.8, 2.6]
    """
    from optuna._hypervolume import (
        compute_hypervolume,  # the function Optuna's own plot uses
    )

    complete = sorted(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)),
                      key=lambda t: t.number)
    if not complete:
        return pd.DataFrame(columns=["number", "hypervolume"])
    signs = np.array([-1.0 if d == optuna.study.StudyDirection.MAXIMIZE else 1.0 for d in study.directions])
    losses = np.array([t.values for t in complete], dtype=float) * signs
    if reference_point is None:
        reference = np.where(signs < 0, 0.0, 1.1 * losses.max(axis=0))
    else:
        reference = np.asarray(reference_point, dtype=float) * signs
    rows = []
    for i, trial in enumerate(complete):
        points = losses[: i + 1]
        inside = points[(points < reference).all(axis=1)]
        volume = float(compute_hypervolume(inside, reference)) if len(inside) else 0.0
        rows.append({"number": trial.number, "hypervolume": volume})
    return pd.DataFrame(rows, columns=["number", "hypervolume"])


CURVE_COLUMNS = ["strategy", "axis", "x", "mean", "std", "n_seeds"]


def best_so_far_curves(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread over sampler seeds of each strategy's best-so-far, against trials and against epochs.

    ``frame`` is a race's (one study per strategy and ``sampler_seed``; a frame without that column is one
    seed). On the ``epochs`` axis each seed's step curve is read at every whole number of epochs; a seed
    with no complete trial yet is left out of that point's mean. Columns :data:`CURVE_COLUMNS`.

    >>> frame = pd.DataFrame({"strategy": ["a"] * 4, "sampler_seed": [0, 0, 1, 1], "number": [0, 1, 0, 1],
    ...                       "state": ["complete"] * 4, "best_so_far": [0.5, 0.7, 0.6, 0.6],
    ...                       "cumulative_epochs": [1, 2, 1, 2]})
    >>> best_so_far_curves(frame).query("axis == 'trials'")[["x", "mean"]].to_dict("list")
    {'x': [1, 2], 'mean': [0.55, 0.65]}
    """
    frame = frame[frame["state"] != "error"]
    if "sampler_seed" not in frame:
        frame = frame.assign(sampler_seed=0)
    rows = []
    for name, trials in frame.groupby("strategy", sort=False):
        seeds = [g.sort_values("number") for _, g in trials.groupby("sampler_seed")]
        longest = max(len(g) for g in seeds)
        by_trial = np.full((len(seeds), longest), np.nan)
        top = int(max(g["cumulative_epochs"].max() for g in seeds))
        by_epoch = np.full((len(seeds), top + 1), np.nan)
        for i, g in enumerate(seeds):
            best = g["best_so_far"].to_numpy(dtype=float)
            by_trial[i, :len(best)] = best
            at = np.searchsorted(g["cumulative_epochs"].to_numpy(), np.arange(top + 1), side="right") - 1
            by_epoch[i] = np.where(at >= 0, best[np.clip(at, 0, None)], np.nan)
        for axis, values, xs in (("trials", by_trial, np.arange(1, longest + 1)), ("epochs", by_epoch, np.arange(top + 1))):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no seed has a value yet
                mean, std = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
            count = (~np.isnan(values)).sum(axis=0)
            rows += [{"strategy": name, "axis": axis, "x": int(x), "mean": round(float(m), 12), "std": float(s),
                      "n_seeds": int(c)} for x, m, s, c in zip(xs, mean, std, count) if c]
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)
