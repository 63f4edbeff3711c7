"""Does TPE with pruning find a configuration within 0.5 points of the grid's best for at most 20% of its epochs?

Two measurements, each a ratio:

1. **Search efficiency** (the issue's acceptance bar). The objective is the fast proxy
   :class:`workbench.sweeps.MLPObjective` (scikit-learn MLP on TF-IDF, one pass per epoch) over a finite
   space. For each training seed the grid trains *every* configuration for the full budget and records
   its per-epoch validation accuracy; then TPE + median pruning (for several sampler seeds) searches the
   same space with the same budget of trials, and so does **random + median pruning**, the control that
   says how much of the gain is TPE's and how much the pruner's. Training is deterministic given
   configuration and seed, so a trial replays the recorded curve of its configuration epoch by epoch
   (the pruner sees the same numbers real training would give, checked below by re-training some
   configurations) and the epochs it consumes are counted exactly; a configuration a study already
   ran costs no epochs the second time (as :class:`~workbench.sweeps.MLPObjective` reuses it). Printed:
   epochs each pruned strategy needed to come within 0.5 points of the grid's best, divided by the
   grid's epochs, per sampler seed, and their median (the bar: TPE + pruning's median <= 0.20).
2. **Overhead of exact budgets**: :func:`workbench.sweeps.run_sweep` (trial cap checked inside the
   creating transaction) against plain ``optuna`` ``study.optimize`` on the same SQLite file, with the
   same storage settings on both sides (WAL, ``synchronous=NORMAL``, 60 s lock timeout, no heartbeats)
   and a trivial objective. Printed: seconds per trial, and the ratio.

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
from workbench.sweeps.storage import _fast_sqlite

SPACE = {"learning_rate": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2], "hidden_size": [16, 64, 256],
         "activation": ["relu", "tanh"], "weight_decay": [1e-5, 1e-3, 1e-1], "batch_size": [32, 128]}
EPOCHS, TOLERANCE, BAR = 8, 0.005, 0.20
PRUNED = {"tpe_pruning": "tpe", "random_pruning": "random"}


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

    seen: set[tuple] = set()

    def objective(trial):
        params = space.suggest(trial)
        key = tuple(params[name] for name in SPACE)
        curve, repeated = curves[key], key in seen
        seen.add(key)
        if repeated:  # already trained in this study: reused, no epochs (pruned or not)
            trial.set_user_attr("epochs", 0)
        for epoch, value in enumerate(curve, start=1):
            report_epoch(trial, value, epoch)
        trial.set_user_attr("epochs", 0 if repeated else len(curve))
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
            row = {"train_seed": train_seed, "sampler_seed": sampler_seed, "grid_seconds": round(grid_seconds, 1)}
            for name, sampler in PRUNED.items():
                study = run_sweep(replay_objective(space, curves), n_trials=space.grid_size, sampler=sampler,
                                  pruner="median", seed=sampler_seed, study_name=f"{name}-{sampler_seed}",
                                  progress=False).study
                frame = pd.concat([grid_frame, trials_frame(study, name=name)]).rename(columns={"study": "strategy"})
                summary = strategy_summary(frame, tolerance=TOLERANCE)
                reached = summary[name]["epochs_to_target"]
                row.update({"grid_best": summary["grid"]["best_value"], "grid_epochs": summary["grid"]["epochs_used"],
                            f"{name}_best": summary[name]["best_value"],
                            f"{name}_ratio": None if reached is None else reached / summary["grid"]["epochs_used"]})
            rows.append(row)
    return pd.DataFrame(rows)


def overhead(n_trials: int = 100) -> dict[str, float]:
    def objective(trial):
        return trial.suggest_float("x", -1, 1) ** 2

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/overhead.db"
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        # The same storage settings on both sides: run_sweep's engine options and pragmas, no heartbeats.
        plain_storage = optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True,
                                                                       "connect_args": {"timeout": 60}})
        _fast_sqlite(plain_storage.engine)
        start = time.perf_counter()
        optuna.create_study(study_name="plain", storage=plain_storage,
                            sampler=optuna.samplers.RandomSampler(0)).optimize(objective, n_trials=n_trials)
        plain = (time.perf_counter() - start) / n_trials
        start = time.perf_counter()
        run_sweep(objective, n_trials=n_trials, storage=url, study_name="workbench", sampler="random",
                  directions=["minimize"], heartbeat_interval=None, progress=False)
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
    medians = {}
    for name in PRUNED:
        ratios = frame[f"{name}_ratio"].astype(float)
        # a seed that never reached the target counts as infinitely late in the median
        medians[name] = float(np.median(ratios.fillna(np.inf)))
        print(f"{name}: within {TOLERANCE * 100:.1f} points of the grid's best in {ratios.notna().sum()}/{len(frame)} "
              f"runs; epochs ratio ({name} / grid) median {medians[name]:.3f}, worst {ratios.max():.3f}")
    print(f"\nbar: TPE + pruning's median ratio <= {BAR} (random + pruning beside it: {medians['random_pruning']:.3f})")
    print("PASS" if medians["tpe_pruning"] <= BAR else "FAIL")

    cost = overhead()
    print(f"\nexact-budget overhead on SQLite (same storage settings both sides), trivial objective: optuna {cost['optuna_s_per_trial'] * 1e3:.1f} ms/trial, "
          f"run_sweep {cost['run_sweep_s_per_trial'] * 1e3:.1f} ms/trial, ratio {cost['ratio']:.2f}")


if __name__ == "__main__":
    main()
