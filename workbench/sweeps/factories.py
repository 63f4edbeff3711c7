"""Optuna samplers and pruners by name (:func:`make_sampler`, :func:`make_pruner`), and the objective
names with their directions (:func:`directions_of`)."""


import warnings
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution

from workbench._validation import check_choice, check_int
from workbench.errors import ParameterError, ResourceUnavailableError
from workbench.sweeps.spaces import SearchSpace

SAMPLERS = ("grid", "random", "tpe", "cmaes", "nsga2")
PRUNERS = ("none", "median", "asha", "hyperband")
QUALITY_METRICS = ("accuracy", "macro_f1")
COST_METRICS = ("latency_ms", "n_params", "flops")
OBJECTIVES = (*QUALITY_METRICS, *COST_METRICS)


def make_sampler(name: str, *, space: SearchSpace | None = None, seed: int | None = 0,
                 n_startup_trials: int = 5, population_size: int = 8) -> optuna.samplers.BaseSampler:
    """An Optuna sampler by name: ``grid``, ``random``, ``tpe``, ``cmaes`` (numeric spaces) or ``nsga2``.

    TPE is multivariate with the constant liar, so parallel workers do not all propose the same point;
    NSGA-II is the multi-objective sampler (``population_size`` per generation). Both read the
    constraints a trial sets (``run_sweep(constraints=...)``).

    >>> type(make_sampler("tpe")).__name__
    'TPESampler'
    """
    func = "make_sampler"
    check_choice("name", name, func, SAMPLERS, fix="Use grid, random, tpe, cmaes or nsga2.")
    if seed is not None:
        check_int("seed", seed, func, low=0)
    check_int("n_startup_trials", n_startup_trials, func, low=0)
    check_int("population_size", population_size, func, low=2)
    samplers = optuna.samplers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "grid":
            if space is None:
                raise ParameterError("The grid sampler of make_sampler needs the 'space' to enumerate. Got None.")
            return samplers.GridSampler(space.grid(), seed=seed)
        if name == "random":
            return samplers.RandomSampler(seed=seed)
        if name == "tpe":
            return samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials, multivariate=True,
                                       constant_liar=True)
        if name == "nsga2":
            return samplers.NSGAIISampler(seed=seed, population_size=population_size)
        categorical = [n for n, d in (space.params if space else {}).items() if isinstance(d, CategoricalDistribution)]
        if categorical:
            raise ParameterError(
                f"The cmaes sampler of {func} handles numeric parameters only. Got categorical "
                f"{', '.join(map(repr, categorical))}. Use tpe, or fix those parameters.")
        try:
            import cmaes  # noqa: F401  (Optuna imports it lazily, failing only at the first trial)
        except ImportError:
            raise ResourceUnavailableError("The cmaes sampler needs the package 'cmaes'; install it with "
                                           "`pip install cmaes`.") from None
        return samplers.CmaEsSampler(seed=seed, n_startup_trials=n_startup_trials, warn_independent_sampling=False)


def make_pruner(name: str, *, epochs: int = 10, n_startup_trials: int = 3, n_warmup_steps: int = 1,
                reduction_factor: int = 3) -> optuna.pruners.BasePruner:
    """An Optuna pruner by name, fed one intermediate value per training epoch.

    ``median`` stops a trial whose epoch score falls below the median of earlier trials at that epoch
    (after ``n_startup_trials`` trials and ``n_warmup_steps`` epochs); ``asha`` is successive halving
    (keep the best 1/``reduction_factor`` at each rung); ``hyperband`` runs several successive-halving
    brackets between 1 and ``epochs`` epochs; ``none`` never prunes.

    >>> type(make_pruner("hyperband", epochs=9)).__name__
    'HyperbandPruner'
    """
    func = "make_pruner"
    check_choice("name", name, func, PRUNERS, fix="Use none, median, asha or hyperband.")
    check_int("epochs", epochs, func, low=1)
    check_int("reduction_factor", reduction_factor, func, low=2)
    pruners = optuna.pruners
    if name == "median":
        return pruners.MedianPruner(n_startup_trials=n_startup_trials, n_warmup_steps=n_warmup_steps)
    if name == "asha":
        return pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=reduction_factor)
    if name == "hyperband":
        return pruners.HyperbandPruner(min_resource=1, max_resource=epochs, reduction_factor=reduction_factor)
    return pruners.NopPruner()


def directions_of(objectives: Sequence[str]) -> list[str]:
    """Optuna directions of objective names: quality metrics are maximized, costs minimized.

    >>> directions_of(["accuracy", "latency_ms"])
    ['maximize', 'minimize']
    """
    objectives = _check_objectives(objectives, "directions_of")
    return ["maximize" if name in QUALITY_METRICS else "minimize" for name in objectives]


def _check_objectives(objectives: Any, func: str) -> tuple[str, ...]:
    if isinstance(objectives, str):
        objectives = tuple(part.strip() for part in objectives.split(",") if part.strip())
    objectives = tuple(objectives)
    if not objectives or objectives[0] not in QUALITY_METRICS:
        raise ParameterError(f"The 'objectives' parameter of {func} must start with a quality metric "
                             f"({', '.join(QUALITY_METRICS)}). Got {objectives!r} instead.")
    for name in objectives[1:]:
        check_choice("objectives", name, func, COST_METRICS, fix="Add costs after the quality metric.")
    if len(set(objectives)) != len(objectives):
        raise ParameterError(f"The 'objectives' parameter of {func} must not repeat a name. Got {objectives!r}.")
    return objectives
