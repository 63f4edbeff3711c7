"""What notebook 04 records: the race's winner with its artifact, the Pareto front with its hypervolume,
and the ``summary.json`` / ``results.csv`` of the report, assembled here so the notebook only calls."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from workbench.sweeps.analysis import (
    hypervolume_history,
    pareto_frame,
    pareto_pick,
    trials_frame,
)

HEADLINE = ["verdict.effect.delta", "strategies.tpe_pruning.epochs_used_mean", "strategies.grid.epochs_used_mean",
            "best.value", "pareto.hypervolume"]


def best_trial(race, results: dict[str, Any]) -> dict[str, Any]:
    """The chosen strategy's winning trial: value, params, its study and the id of its model artifact.

    Among the chosen strategy's studies that found the winning configuration, the one with the best
    value (then the lowest sampler seed); ``artifact_id`` is None when no artifact store was given.
    """
    winners = results["winners"]
    rows = winners[(winners["strategy"] == results["choice"]) & (winners["key"] == results["winner"])]
    row = rows.sort_values(["value", "sampler_seed"], ascending=[False, True]).iloc[0]
    study = race.study(row["strategy"], int(row["sampler_seed"]))
    trial = study.trials[int(row["number"])]
    has_artifact = study.user_attrs.get("artifact_trial") == trial.number
    return {"value": float(row["value"]), "strategy": results["choice"], "study": study.study_name,
            "number": trial.number, "params": dict(trial.params),
            "artifact_id": study.user_attrs.get("artifact_id") if has_artifact else None,
            "validation_value": float(row["validation"]), "test_value": float(row["test"])}


def pareto_summary(study, *, metric: str = "accuracy", population_size: int | None = None,
                   tolerance: float = 0.01) -> dict[str, Any]:
    """The architecture search in numbers: front, final hypervolume and its history, generations, pick."""
    front = pareto_frame(study)
    history = hypervolume_history(study)
    finished = len(trials_frame(study).query("state in ['complete', 'pruned']")) if study.trials else 0
    pick = pareto_pick(front, metric=metric, tolerance=tolerance) if len(front) else None
    return {
        "front": [{"number": int(r["number"]), "params": r["params"], "accuracy": _num(r["accuracy"]),
                   "macro_f1": _num(r["macro_f1"]), "latency_ms": _num(r["latency_ms"]),
                   "n_params": _num(r["n_params"])} for _, r in front.iterrows()],
        "hypervolume": float(history["hypervolume"].iloc[-1]) if len(history) else 0.0,
        "hypervolume_history": history["hypervolume"].round(6).tolist(),
        "n_trials": finished, "population_size": population_size,
        "n_generations": finished // population_size if population_size else None,
        "recommended": None if pick is None else {"number": int(pick["number"]), "params": pick["params"],
                                                  metric: _num(pick[metric]), "latency_ms": _num(pick["latency_ms"])},
    }


def _num(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else float(value)


def sweeps_summary(results: dict[str, Any], best: dict[str, Any], pareto: dict[str, Any],
                   importances: pd.DataFrame, *, settings: dict[str, Any], compare_model: str,
                   training_seeds: list[int], baseline: dict[str, Any]) -> dict[str, Any]:
    """``summary.json`` of notebook 04 (headline keys in :data:`HEADLINE`)."""
    return {"headline": HEADLINE, "verdict": results["verdict"], "verdicts": results["verdicts"],
            "strategies": results["strategies"], "target": results["target"], "choice": results["choice"],
            "winner": results["winner"], "best": best, "pareto": pareto,
            "race": {"training_seeds": list(training_seeds), "baseline": dict(baseline),
                     "n_reused": int(sum(s["n_reused"] for s in results["strategies"].values()))},
            "importances": importances.set_index("param")["importance"].to_dict(),
            "compare_model": compare_model, "settings": settings}


def sweeps_results(race_frame: pd.DataFrame, architecture: pd.DataFrame, importances: pd.DataFrame,
                   results: dict[str, Any]) -> pd.DataFrame:
    """``results.csv``: every trial of every study, the importances and the test comparisons, tidy."""
    from workbench.verdicts import comparison_frame

    return pd.concat({"race": race_frame, "architecture": architecture.rename(columns={"study": "strategy"}),
                      "importances": importances, "winners": results["winners"],
                      "comparisons": comparison_frame(results["comparisons"])},
                     names=["table"]).reset_index(level=0)
