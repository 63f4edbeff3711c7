"""Notebook 04's two experiments in one call each, built from a profile's settings: the race's objective
and the architecture search (NSGA-II over ``pareto_trials // population_size`` generations)."""

from __future__ import annotations

from typing import Any

from workbench.sweeps.factories import make_sampler
from workbench.sweeps.objectives import MLPObjective
from workbench.sweeps.runner import SweepResult, run_sweep
from workbench.sweeps.spaces import SearchSpace, default_space
from workbench.sweeps.transformer import TransformerObjective


def race_objective(data, model: str, *, profile: str, settings: dict[str, Any], metric: str = "accuracy",
                   epochs: int | None = None, seed: int = 0, artifact_store=None):
    """The race's objective: ``model``'s finite space of ``profile``, ``<model>_examples`` training texts,
    ``<model>_epochs`` epochs per trial (unless ``epochs`` is given), the study winners kept as artifacts.

    >>> objective = race_objective(data, "mlp", profile="default", settings=settings)  # doctest: +SKIP
    """
    from workbench.data import subsample

    space = default_space(model, profile, grid=True)  # checks model too
    objective_class = {"mlp": MLPObjective, "tiny": TransformerObjective}[model]
    return objective_class(subsample(data, split="train", n=settings[f"{model}_examples"], seed=seed), space,
                           objectives=(metric,), epochs=epochs if epochs is not None else settings[f"{model}_epochs"],
                           seed=seed, artifact_store=artifact_store)


def architecture_search(data, space: SearchSpace, *, settings: dict[str, Any], metric: str = "accuracy",
                        seed: int = 0, storage: str | None = None, latency_cap_ms: float | None = None,
                        study_name: str = "architecture") -> SweepResult:
    """NSGA-II over tiny transformer shapes for (``metric``, ``latency_ms``), started over on each call.

    ``settings`` gives ``tiny_examples``, ``tiny_epochs``, ``max_length``, ``latency_repeats``,
    ``pareto_trials`` and ``population_size``; ``latency_cap_ms`` makes slower shapes infeasible
    (Optuna constraints).

    >>> result = architecture_search(data, default_space("tiny", "default"), settings=settings)  # doctest: +SKIP
    """
    from workbench.data import subsample

    objective = TransformerObjective(subsample(data, split="train", n=settings["tiny_examples"], seed=seed), space,
                                     objectives=(metric, "latency_ms"), epochs=settings["tiny_epochs"],
                                     max_length=settings["max_length"], seed=seed,
                                     latency_repeats=settings["latency_repeats"])
    caps = None if latency_cap_ms is None else {"latency_ms": latency_cap_ms}
    sampler = make_sampler("nsga2", seed=seed, population_size=settings["population_size"])
    return run_sweep(objective, n_trials=settings["pareto_trials"], study_name=study_name, storage=storage,
                     sampler=sampler, seed=seed, new_study=True, constraints=caps)
