"""Does TPE with pruning find a configuration within 0.5 points of the grid's best for under 30% of its epochs?

Two measurements, each a ratio:

1. **Search efficiency** (the issue's acceptance bar). The objective is the fast proxy
   :class:`workbench.sweeps.MLPObjective` (scikit-learn MLP on TF-IDF, one pass per epoch) over a finite
   space. For each training seed the grid trains *every* configuration for the full budget and records
   its per-epoch validation accuracy; then TPE + median pruning (for several sampler seeds) searches the
   same space with the same budget of trials. Training is deterministic given configuration and seed, so
   a TPE trial replays the recorded curve of its configuration epoch by epoch (the pruner sees the same
   numbers real training would give, checked below by re-training some configurations) and the epochs
   it consumes are counted exactly. Printed: epochs TPE + pruning needed to come within 0.5 points
   of the grid's best, divided by the grid's epochs.
2. **Overhead of exact budgets**: :func:`workbench.sweeps.run_sweep` (trial cap checked inside the
   creating transaction) against plain ``optuna`` ``study.optimize`` on the same SQLite file and
   trivial objective. Printed: seconds per trial, and the ratio.

Run: ``.venv/bin/python benchmarks/bench_sweeps.py [--train-seeds 2] [--sampler-seeds 5]`` (a few minutes
on 2 busy cores; almost all of it is the grid's real training).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings

import numpy as np
import optuna
import pandas as pd

from workbench.data import load_dataset, subsample
from workbench.sweeps import MLPObjective, load_space, report_epoch, run_sweep, strategy_summary, trials_frame

SPACE = {"learning_rate": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2], "hidden_size": [16, 64, 256],
         "activation": ["relu", "tanh"], "weight_decay": [1e-5, 1e-3, 1e-1], "batch_size": [32, 128]}
EPOCHS, TOLERANCE, BAR = 8, 0.005, 0.30


def grid_table(objective: MLPObjective):
    """Train every configuration of the space; return its per-epoch validation accuracy (and the study)."""
    study = run_sweep(objective, n_trials=objective.space.grid_size, sampler="grid", study_name="grid",
                      progress=sys.stderr.isatty()).study  # a bar in a terminal, no refresh lines in a log
    curves = {tuple(trial.params[name] for name in SPACE): [trial.intermediate_values[e] for e in
                                                            sorted(trial.intermediate_values)]
              for trial in study.trials}
    return curves, study


def replay_objective(space, curves):
    """An objective that replays recorded curves, reporting each epoch to the pruner like real training."""

    def objective(trial):
        params = space.suggest(trial)
        curve = curves[tuple(params[name] for name in SPACE)]
        for epoch, value in enumerate(curve, start=1):
            report_epoch(trial, value, epoch)
        trial.set_user_attr("epochs", len(curve))
        return max(curve)

    return objective


def search_efficiency(train_seeds: int, sampler_seeds: int) -> pd.DataFrame:
    data = load_dataset(validation_size=0.4, seed=0)  # 1,600 validation reviews: steadier than 400
    data = subsample(data, split="train", n=1000, seed=0)
    space = load_space(SPACE, model="mlp")
    rows = []
    for train_seed in range(train_seeds):
        objective = MLPObjective(data, space, epochs=EPOCHS, max_features=1000, seed=train_seed)
        start = time.perf_counter()
        curves, grid = grid_table(objective)
        grid_seconds = time.perf_counter() - start
        # Replay must equal re-training: spot-check three configurations.
        for trial in grid.trials[:3]:
            assert objective(optuna.trial.FixedTrial(trial.params)) == trial.value, "training is not deterministic"
        grid_frame = trials_frame(grid, name="grid")
        for sampler_seed in range(sampler_seeds):
            tpe = run_sweep(replay_objective(space, curves), n_trials=space.grid_size, sampler="tpe", pruner="median",
                            seed=sampler_seed, study_name=f"tpe-{sampler_seed}", progress=False).study
            frame = pd.concat([grid_frame, trials_frame(tpe, name="tpe_pruning")]).rename(columns={"study": "strategy"})
            summary = strategy_summary(frame, tolerance=TOLERANCE)
            reached = summary["tpe_pruning"]["epochs_to_target"]
            rows.append({"train_seed": train_seed, "sampler_seed": sampler_seed,
                         "grid_best": summary["grid"]["best_value"], "grid_epochs": summary["grid"]["epochs_used"],
                         "tpe_best": summary["tpe_pruning"]["best_value"], "tpe_epochs_to_target": reached,
                         "ratio": None if reached is None else reached / summary["grid"]["epochs_used"],
                         "grid_seconds": round(grid_seconds, 1)})
    return pd.DataFrame(rows)


def overhead(n_trials: int = 100) -> dict[str, float]:
    def objective(trial):
        return trial.suggest_float("x", -1, 1) ** 2

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/overhead.db"
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        start = time.perf_counter()
        optuna.create_study(study_name="plain", storage=url, sampler=optuna.samplers.RandomSampler(0)).optimize(
            objective, n_trials=n_trials)
        plain = (time.perf_counter() - start) / n_trials
        start = time.perf_counter()
        run_sweep(objective, n_trials=n_trials, storage=url, study_name="workbench", sampler="random",
                  directions=["minimize"], progress=False)
        ours = (time.perf_counter() - start) / n_trials
    return {"optuna_s_per_trial": plain, "run_sweep_s_per_trial": ours, "ratio": ours / plain}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-seeds", type=int, default=2)
    parser.add_argument("--sampler-seeds", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    print(f"space: {' x '.join(str(len(v)) for v in SPACE.values())} = "
          f"{int(np.prod([len(v) for v in SPACE.values()]))} configurations, {EPOCHS} epochs each")
    frame = search_efficiency(args.train_seeds, args.sampler_seeds)
    print(frame.to_string(index=False))
    ratios = frame["ratio"].astype(float)
    print(f"\nTPE + median pruning reached within {TOLERANCE * 100:.1f} points of the grid's best in "
          f"{ratios.notna().sum()}/{len(frame)} runs; epochs ratio (TPE+pruning / grid): median "
          f"{ratios.median():.3f}, worst {ratios.max():.3f} (bar: <= {BAR})")
    print("PASS" if ratios.notna().all() and (ratios <= BAR).all() else "FAIL")

    cost = overhead()
    print(f"\nexact-budget overhead on SQLite, trivial objective: optuna {cost['optuna_s_per_trial'] * 1e3:.1f} ms/trial, "
          f"run_sweep {cost['run_sweep_s_per_trial'] * 1e3:.1f} ms/trial, ratio {cost['ratio']:.2f}")


if __name__ == "__main__":
    main()
