"""A fair strategy race: several sampler seeds per strategy, winners re-scored on fresh training seeds,
the target set on that held-out re-score, and the verdict through :mod:`workbench.verdicts`.

The steps, one function each:

1. :func:`run_race` runs every strategy (sampler + pruner) over ``sampler_seeds`` on one objective and
   one budget, each in a study of its own (``<prefix>-<strategy>-s<seed>``): a tidy frame of trials.
2. :func:`rescore_winners` takes each study's best trial (chosen on the study's validation values)
   and the **baseline** (:func:`baseline_config`), trains each again on fresh training seeds (seeds
   the search never saw) and predicts validation and test.
3. :func:`race_results` sets the target on the grid winner's re-scored validation score, counts
   epochs to it, chooses the winner of each strategy and the overall winner on re-scored
   **validation** scores only, and compares each strategy's winner with the baseline on **test**,
   paired by example and by training seed, Holm-corrected over the strategies.

The baseline is the configuration one trains without a sweep: the space's fixed values and the
objective's own default for every searched parameter (for the MLP proxy ``hidden_size=64``,
``num_layers=1``, ``relu``, ``learning_rate=1e-3``, ``weight_decay=1e-4``, ``batch_size=32``;
for tiny transformers :class:`~workbench.models.TinyTransformerConfig` and
:class:`~workbench.training.TrainConfig` defaults). "Does searching pay off?" is then a question
about the search, not about a lucky point of the grid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench._validation import check_float, check_int
from workbench.errors import ParameterError, first_line
from workbench.sweeps.analysis import TRIAL_COLUMNS, trials_frame
from workbench.sweeps.runner import run_sweep

RACE_STRATEGIES: dict[str, tuple[str, str]] = {
    "grid": ("grid", "none"), "random": ("random", "none"), "random_pruning": ("random", "median"),
    "tpe": ("tpe", "none"), "tpe_pruning": ("tpe", "median")}
"""The five strategies of a fair race: random + pruning is the control that credits TPE + pruning's
gain to TPE or to the pruner."""


@dataclass
class Race:
    """A race's trials (one tidy frame) and its studies by name."""

    frame: pd.DataFrame
    studies: dict[str, Any] = field(default_factory=dict)
    prefix: str = "race"

    def study(self, strategy: str, sampler_seed: int | None = None):
        """The study of ``strategy`` on ``sampler_seed`` (default: the first seed raced)."""
        seed = int(self.frame["sampler_seed"].iloc[0]) if sampler_seed is None else sampler_seed
        name = f"{self.prefix}-{strategy}-s{seed}"
        if name not in self.studies:
            raise ParameterError(f"The race has no study {name!r}. Got strategies "
                                 f"{sorted(self.frame['strategy'].unique())} and seeds "
                                 f"{sorted(self.frame['sampler_seed'].unique())}.")
        return self.studies[name]


def run_race(objective, *, strategies: Mapping[str, tuple[str, str]] | None = None, n_trials: int | None = None,
             sampler_seeds: Sequence[int] = (0, 1, 2), storage: str | None = None, study_prefix: str = "race",
             new_study: bool = True, pruner: str | None = None, progress: bool = True) -> Race:
    """Every strategy on every sampler seed, one study each; all trials in one tidy frame.

    Columns: :data:`~workbench.sweeps.TRIAL_COLUMNS` plus ``strategy``, ``sampler_seed``, ``reused``
    (a repeated configuration answered without training) and ``params_*``. A strategy that fails
    entirely gives one row with state ``error`` and the reason.

    >>> race = run_race(objective, n_trials=12, sampler_seeds=[0, 1, 2])  # doctest: +SKIP
    >>> race.frame.groupby("strategy")["sampler_seed"].nunique()  # doctest: +SKIP
    """
    strategies = dict(strategies or RACE_STRATEGIES)
    if pruner is not None:
        strategies = {n: (s, p if p == "none" else pruner) for n, (s, p) in strategies.items()}
    seeds = [check_int("sampler_seeds", s, "run_race", low=0) for s in sampler_seeds]
    if not seeds:
        raise ParameterError("The 'sampler_seeds' parameter of run_race must hold at least one seed. Got [].")
    size = objective.space.grid_size
    n_trials = size if n_trials is None else n_trials
    if n_trials is None:
        raise ParameterError("The 'n_trials' parameter of run_race must be given when the space is continuous "
                             "(no grid size to default to). Got None.")
    check_int("n_trials", n_trials, "run_race", low=1, fix="Use None for the size of the grid.")
    frames, studies = [], {}
    for name, (sampler, pruner) in strategies.items():
        for seed in seeds:
            try:
                result = run_sweep(objective, n_trials=n_trials, study_name=f"{study_prefix}-{name}-s{seed}",
                                   storage=storage, sampler=sampler, pruner=pruner, seed=seed, progress=progress,
                                   new_study=new_study)
                frame = trials_frame(result.study, name=name)
                studies[result.study.study_name] = result.study
            except Exception as error:  # one broken strategy must not sink the race
                frame = pd.DataFrame([{"study": name, "state": "error", "reason": first_line(error)}],
                                     columns=TRIAL_COLUMNS)
            frames.append(frame.assign(sampler_seed=seed))
    return Race(pd.concat(frames, ignore_index=True).rename(columns={"study": "strategy"}), studies, study_prefix)


def baseline_config(space) -> dict[str, Any]:
    """The configuration trained without a sweep: the space's fixed values, the objective's defaults for the rest.

    >>> from workbench.sweeps import default_space
    >>> baseline_config(default_space("mlp", "default", grid=True))
    {'batch_size': 32}
    """
    return dict(space.fixed)


def study_winners(frame: pd.DataFrame) -> pd.DataFrame:
    """The best complete trial of each (strategy, sampler seed) study, by its validation value.

    Columns ``strategy``, ``sampler_seed``, ``number``, ``value``, ``params`` (a dict).

    >>> frame = pd.DataFrame({"strategy": ["grid"] * 2, "sampler_seed": [0, 0], "state": ["complete"] * 2,
    ...                       "number": [0, 1], "value": [0.7, 0.8], "params_x": [1, 2]})
    >>> study_winners(frame)[["strategy", "number", "params"]].to_dict("records")
    [{'strategy': 'grid', 'number': 1, 'params': {'x': 2}}]
    """
    columns = ["strategy", "sampler_seed", "number", "value", "params"]
    rows = []
    complete = frame[(frame["state"] == "complete") & frame["value"].notna()]
    for (strategy, seed), trials in complete.groupby(["strategy", "sampler_seed"], sort=False):
        best = trials.sort_values(["value", "number"], ascending=[False, True]).iloc[0]
        params = {k[len("params_"):]: _plain(v) for k, v in best.items() if k.startswith("params_") and pd.notna(v)}
        rows.append({"strategy": strategy, "sampler_seed": int(seed), "number": int(best["number"]),
                     "value": float(best["value"]), "params": params})
    return pd.DataFrame(rows, columns=columns)


def _plain(value: Any) -> Any:
    value = value.item() if isinstance(value, np.generic) else value
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 2**31 else value


def config_key(params: Mapping[str, Any]) -> str:
    """A configuration as one sorted ``key=value`` string (what identifies it across studies).

    >>> config_key({"b": 2, "a": 0.001})
    'a=0.001, b=2'
    """
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items()))


def rescore_winners(objective, winners: pd.DataFrame, *, baseline: Mapping[str, Any],
                    training_seeds: Sequence[int]) -> dict[str, dict[int, dict[str, np.ndarray]]]:
    """Train each distinct winning configuration and the baseline on every training seed; predict.

    Returns ``{config_key: {seed: {"validation": labels, "test": labels}}}``; the baseline's key is
    ``"baseline"``. A configuration several studies found is trained once per seed.
    """
    seeds = [check_int("training_seeds", s, "rescore_winners", low=0) for s in training_seeds]
    if len(seeds) < 2:
        raise ParameterError("The 'training_seeds' parameter of rescore_winners must hold two seeds or more, to "
                             f"pair the comparison by seed. Got {seeds} instead. Use e.g. [1000, 1001, 1002].")
    configs = {"baseline": dict(baseline)}
    for params in winners["params"]:
        configs.setdefault(config_key({**objective.space.fixed, **params}), {**objective.space.fixed, **params})
    return {key: {seed: objective.fit_predict(params, seed=seed) for seed in seeds} for key, params in configs.items()}


def race_results(objective, frame: pd.DataFrame, predictions: Mapping[str, Mapping[int, Mapping[str, Any]]], *,
                 metric: str = "accuracy", tolerance: float = 0.005, question: str | None = None) -> dict[str, Any]:
    """Per-strategy figures, the validation choice and the test verdicts of a race.

    ``predictions`` is :func:`rescore_winners`'s. The target is the grid winner's re-scored validation
    score (mean over training seeds) minus ``tolerance``: a held-out score, not the maximum of the
    grid's own noisy values. Each strategy's winner is its study winner with the best re-scored
    validation score; the overall choice is the strategy whose winner scores best on re-scored
    validation (ties: fewer epochs). Test labels never enter a choice.

    Returns
    -------
    dict
        ``strategies`` (per strategy: ``n_sampler_seeds``, ``best_value_mean``, ``best_value_std``,
        ``n_trials``, ``n_pruned``, ``n_reused``, ``epochs_used_mean``, ``epochs_to_target`` per
        sampler seed and their ``epochs_to_target_median``, ``winner``, ``validation_value``,
        ``test_value``), ``target``, ``choice``, ``verdict``, ``verdicts``, ``comparisons``.
    """
    from workbench.evaluation import classification_metrics
    from workbench.verdicts import (
        choose_on_validation,
        compare_predictions,
        family_verdicts,
    )

    check_float("tolerance", tolerance, "race_results", low=0.0)
    y = {split: np.asarray(objective.dataset[split]["label"]) for split in ("validation", "test")}
    fixed = objective.space.fixed

    def score(key: str, split: str) -> float:
        return float(np.mean([classification_metrics(y[split], p[split])[metric]
                              for p in predictions[key].values()]))

    winners = study_winners(frame).assign(key=lambda w: [config_key({**fixed, **p}) for p in w["params"]])
    winners["validation"] = [score(k, "validation") for k in winners["key"]]
    winners["test"] = [score(k, "test") for k in winners["key"]]
    grid = winners[winners["strategy"] == "grid"]
    target = None if grid.empty else float(grid["validation"].max() - tolerance)
    strategies, chosen = {}, {}
    for name, rows in frame[frame["state"] != "error"].groupby("strategy", sort=False):
        won = winners[winners["strategy"] == name]
        per_seed = {int(s): _epochs_to(target, trials) for s, trials in rows.groupby("sampler_seed")}
        reached = [v for v in per_seed.values() if v is not None]
        chosen[name] = choose_on_validation(dict(zip(won["key"], won["validation"])), metric=metric) \
            if len(won) else None
        strategies[name] = {
            "n_sampler_seeds": int(rows["sampler_seed"].nunique()),
            "best_value_mean": float(won["value"].mean()) if len(won) else None,
            "best_value_std": float(won["value"].std(ddof=1)) if len(won) > 1 else 0.0,
            "n_trials": int(rows["state"].isin(["complete", "pruned"]).sum()),
            "n_pruned": int((rows["state"] == "pruned").sum()),
            "n_reused": int(rows.get("reused", pd.Series(dtype=bool)).fillna(False).astype(bool).sum()),
            "epochs_used_mean": float(rows.groupby("sampler_seed")["epochs"].sum().mean()),
            "epochs_to_target": per_seed,
            # a seed that never reached the target counts as never (infinite): the median says so
            "epochs_to_target_median": _median_or_none(reached, len(per_seed)),
            "winner": chosen[name],
            "validation_value": float(won["validation"].mean()) if len(won) else None,
            "test_value": float(won["test"].mean()) if len(won) else None}
    named = {n: k for n, k in chosen.items() if k is not None}
    validation = {n: score(k, "validation") for n, k in named.items()}
    choice = choose_on_validation(validation, metric=metric, cost={n: strategies[n]["epochs_used_mean"] for n in named})
    base = {s: p["test"] for s, p in predictions["baseline"].items()}
    comparisons = {n: compare_predictions(y["test"], {s: p["test"] for s, p in predictions[k].items()}, base,
                                          metric=metric, seed=objective.seed) for n, k in named.items()}
    grid_epochs = strategies.get("grid", {}).get("epochs_used_mean")
    costs = {n: {"trials": strategies[n]["n_trials"] / strategies[n]["n_sampler_seeds"],
                 "epochs": strategies[n]["epochs_used_mean"],
                 **({"epochs_vs_grid": strategies[n]["epochs_used_mean"] / grid_epochs} if grid_epochs else {})}
             for n in named}
    verdicts = family_verdicts(question or "Does a sweep's winner beat the untuned default configuration?",
                               comparisons, baseline="default configuration", costs=costs)
    return {"strategies": strategies, "target": target, "choice": choice, "winner": named[choice],
            "verdict": verdicts[choice], "verdicts": verdicts, "comparisons": comparisons,
            "winners": winners.drop(columns=["params"])}


def _epochs_to(target: float | None, trials: pd.DataFrame) -> int | None:
    """Cumulative epochs a study had trained when its best-so-far first reached ``target``."""
    if target is None:
        return None
    trials = trials.sort_values("number")
    spent = trials["epochs"].fillna(0).astype(int).cumsum()
    hit = (trials["state"] == "complete") & (trials["value"] >= target)
    return int(spent[hit].iloc[0]) if hit.any() else None


def _median_or_none(reached: list[int], n: int) -> float | None:
    """Median over ``n`` seeds where the missing ones never reached (infinitely late)."""
    values = sorted(reached) + [float("inf")] * (n - len(reached))
    median = float(np.median(values)) if values else float("inf")
    return None if not np.isfinite(median) else median
