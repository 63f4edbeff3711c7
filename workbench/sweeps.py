"""Hyperparameter and architecture search on Optuna: spaces as data, pruning, Pareto fronts, many workers.

Optuna does the searching (samplers, pruners, storages, importances, plots); this module adds what an
NLP sweep needs around it:

- **search spaces as data** (:func:`load_space`: a dict or a YAML file) over training hyperparameters
  and the tiny transformer's architecture, checked eagerly (hidden size divisible by heads), with
  profile-dependent ranges (:func:`default_space`: CPU-sized in ``default``, the 4-24 layers /
  256-1024 hidden / 4-16 heads / 2-4x FFN ranges in ``full``);
- **objectives that really train** (:class:`TransformerObjective` through
  :func:`workbench.training.fine_tune`, :class:`MLPObjective` as a fast proxy) and report every
  epoch so pruners can stop a trial early; multi-objective runs add *measured* CPU latency,
  parameter count or FLOPs and give a Pareto front (:func:`pareto_frame`);
- **studies that many workers fill exactly** (:func:`run_sweep`): a study asked for ``n_trials``
  ends with exactly that many finished (complete or pruned) trials, however many workers share its
  storage, and a killed worker's trial is failed by the heartbeat and re-queued;
- **an honest strategy comparison** (:func:`compare_strategies`, :func:`strategy_summary`): best-so-far
  against trials and against the training epochs they consumed.

Storage is an SQLite file by default; any SQLAlchemy URL (``postgresql://...``) lets workers on many
machines share one study (``workbench sweep --storage URL --study NAME --n-trials N``). Either opens
in Optuna's dashboard: ``optuna-dashboard sqlite:///sweeps.db``.

>>> space = load_space({"learning_rate": [1e-3, 1e-2], "hidden_size": [16, 64]}, model="mlp")
>>> space.grid_size
4
"""

from __future__ import annotations

import contextlib
import functools
import html
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from workbench._progress import progress_bar
from workbench._validation import check_choice, check_float, check_int, check_type
from workbench.errors import DataError, ParameterError, ResourceUnavailableError, first_line

SAMPLERS = ("grid", "random", "tpe", "cmaes", "nsga2")
PRUNERS = ("none", "median", "asha", "hyperband")
MODELS = ("tiny", "mlp")
QUALITY_METRICS = ("accuracy", "macro_f1")
COST_METRICS = ("latency_ms", "n_params", "flops")
OBJECTIVES = (*QUALITY_METRICS, *COST_METRICS)
STRATEGIES: dict[str, tuple[str, str]] = {
    "grid": ("grid", "none"), "random": ("random", "none"), "tpe": ("tpe", "none"), "tpe_pruning": ("tpe", "median")}
"""Strategy name -> (sampler, pruner) compared by :func:`compare_strategies`."""
TRIAL_COLUMNS = ["study", "number", "state", "value", "epochs", "cumulative_epochs", "best_so_far", "seconds",
                 "reason", *OBJECTIVES]
PARETO_COLUMNS = ["study", "number", *OBJECTIVES, "params"]

ARCHITECTURE_PARAMS = ("num_layers", "hidden_size", "num_heads", "ffn_ratio", "activation", "norm_type",
                       "norm_placement", "dropout")
TRAINING_PARAMS = ("learning_rate", "batch_size", "warmup_ratio", "weight_decay", "lr_scheduler_type")
MODEL_PARAMS = {
    "tiny": (*ARCHITECTURE_PARAMS, *TRAINING_PARAMS),
    "mlp": ("num_layers", "hidden_size", "activation", "learning_rate", "batch_size", "weight_decay"),
}
# Allowed values of every parameter, checked when a space is loaded (not after an hour of training).
_BOUNDS = {"num_layers": (1, 48), "hidden_size": (8, 8192), "num_heads": (1, 128), "ffn_ratio": (0.25, 16.0),
           "dropout": (0.0, 0.99), "learning_rate": (1e-7, 10.0), "batch_size": (1, 4096),
           "warmup_ratio": (0.0, 0.99), "weight_decay": (0.0, 1.0)}
_INT_PARAMS = ("num_layers", "hidden_size", "num_heads", "batch_size")
_MLP_ACTIVATIONS = ("relu", "tanh", "logistic", "identity")
_SPEC_KEYS = ("low", "high", "log", "step", "choices", "type")
_FUNC = "load_space"

# Search spaces by model and profile. "grid" spaces are finite, so the grid sampler can cover them and
# every strategy of a comparison searches exactly the same configurations.
_FIXED_TRAINING = {"learning_rate": 3e-3, "batch_size": 32, "warmup_ratio": 0.1}
SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "tiny": {
        "smoke": {"num_layers": [1, 2], "hidden_size": [32, 64], "num_heads": [2, 4], "ffn_ratio": [2.0, 4.0],
                  "activation": ["gelu", "relu", "silu"], "norm_type": ["layernorm", "rmsnorm"],
                  "norm_placement": ["post", "pre"], "dropout": 0.1, **_FIXED_TRAINING},
        "default": {"num_layers": {"low": 1, "high": 2}, "hidden_size": [32, 64, 128], "num_heads": [2, 4],
                    "ffn_ratio": [2.0, 3.0, 4.0], "activation": ["gelu", "relu", "silu"],
                    "norm_type": ["layernorm", "rmsnorm"], "norm_placement": ["post", "pre"],
                    "dropout": [0.0, 0.1], **_FIXED_TRAINING},
        "full": {"num_layers": {"low": 4, "high": 24}, "hidden_size": {"low": 256, "high": 1024, "step": 128},
                 "num_heads": [4, 8, 16], "ffn_ratio": {"low": 2.0, "high": 4.0, "step": 0.5},
                 "activation": ["gelu", "relu", "silu"], "norm_type": ["layernorm", "rmsnorm"],
                 "norm_placement": ["post", "pre"], "dropout": {"low": 0.0, "high": 0.3, "step": 0.05},
                 "learning_rate": {"low": 1e-5, "high": 1e-3, "log": True}, "batch_size": [16, 32, 64],
                 "warmup_ratio": {"low": 0.0, "high": 0.2}, "weight_decay": {"low": 0.0, "high": 0.1},
                 "lr_scheduler_type": ["linear", "cosine"]},
    },
    "tiny_grid": {
        "smoke": {"learning_rate": [1e-3, 3e-3], "num_layers": 1, "hidden_size": [32, 64], "num_heads": 2},
        "default": {"learning_rate": [1e-3, 3e-3, 1e-2], "num_layers": [1, 2], "hidden_size": [32, 64],
                    "num_heads": 2, "warmup_ratio": 0.1},
        "full": {"learning_rate": [3e-5, 1e-4, 3e-4, 1e-3], "num_layers": [4, 8, 12], "hidden_size": [256, 512, 768],
                 "num_heads": [4, 8], "warmup_ratio": 0.1, "batch_size": 32},
    },
    "mlp_grid": {
        "smoke": {"learning_rate": [1e-3, 1e-2], "hidden_size": [16, 64]},
        "default": {"learning_rate": [3e-4, 1e-3, 3e-3, 1e-2], "hidden_size": [16, 32, 64],
                    "activation": ["relu", "tanh"], "batch_size": 32},
        "full": {"learning_rate": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], "hidden_size": [16, 64, 256],
                 "num_layers": [1, 2], "activation": ["relu", "tanh"], "weight_decay": [1e-5, 1e-3, 1e-1],
                 "batch_size": [32, 128]},
    },
}
SPACES["mlp"] = SPACES["mlp_grid"]


# =========================================================================================== spaces

@dataclass(frozen=True)
class SearchSpace:
    """A validated search space: Optuna distributions for what varies, plain values for what is fixed.

    Build one with :func:`load_space` or :func:`default_space`.
    """

    params: dict[str, BaseDistribution]
    fixed: dict[str, Any]
    model: str = "tiny"

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Sample every parameter for ``trial`` and return them with the fixed values.

        A combination that breaks a constraint (hidden size not divisible by heads) prunes the trial
        before any training, with the reason stored in its user attribute ``reason``.
        """
        values = {name: _suggest(trial, name, dist) for name, dist in self.params.items()}
        values = {**self.fixed, **values}
        hidden, heads = values.get("hidden_size"), values.get("num_heads")
        if self.model == "tiny" and hidden is not None and heads is not None and hidden % heads:
            reason = f"hidden_size={hidden} is not divisible by num_heads={heads}"
            trial.set_user_attr("reason", reason)
            raise optuna.TrialPruned(reason)
        return values

    def grid(self) -> dict[str, list]:
        """Every value of every varying parameter, for Optuna's ``GridSampler``."""
        grid = {}
        for name, dist in self.params.items():
            values = _finite_values(dist)
            if values is None:
                raise ParameterError(
                    f"The grid sampler needs a finite search space, but parameter {name!r} is a continuous "
                    f"range ({dist.low}..{dist.high}). Give it 'choices' or a 'step'.")
            grid[name] = values
        return grid

    @property
    def grid_size(self) -> int | None:
        """Number of grid points, or None if some parameter is continuous."""
        sizes = [_finite_values(dist) for dist in self.params.values()]
        return None if any(s is None for s in sizes) else math.prod(len(s) for s in sizes)

    def frame(self) -> pd.DataFrame:
        """One row per parameter: ``param``, ``kind``, ``values`` (readable), ``searched``."""
        rows = [{"param": name, "kind": type(dist).__name__.replace("Distribution", "").lower(),
                 "values": _describe(dist), "searched": True} for name, dist in self.params.items()]
        rows += [{"param": name, "kind": "fixed", "values": repr(value), "searched": False}
                 for name, value in self.fixed.items()]
        return pd.DataFrame(rows, columns=["param", "kind", "values", "searched"])


def load_space(spec: Mapping[str, Any] | str | os.PathLike, *, model: str = "tiny") -> SearchSpace:
    """Read a search space from a dict or a YAML file and check it before any trial runs.

    Each entry is one parameter: a list is a categorical choice, ``{low, high}`` a range (int when
    both ends are ints; ``log: true`` for a log scale, ``step`` for a grid), ``{choices: [...]}``
    also a choice, and a plain value is fixed. Names are the fields of
    :class:`workbench.models.TinyTransformerConfig` and :class:`workbench.training.TrainConfig`
    (for ``model="tiny"``) or the MLP proxy's (``num_layers``, ``hidden_size``, ``activation``,
    ``learning_rate``, ``batch_size``, ``weight_decay``).

    Parameters
    ----------
    spec : mapping, or path of a YAML file holding one
    model : {"tiny", "mlp"}

    Examples
    --------
    >>> space = load_space({"num_layers": {"low": 1, "high": 4}, "hidden_size": [64, 128],
    ...                     "num_heads": [2, 4], "learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}})
    >>> sorted(space.params)
    ['hidden_size', 'learning_rate', 'num_heads', 'num_layers']
    """
    check_choice("model", model, _FUNC, MODELS)
    if isinstance(spec, (str, os.PathLike)):
        spec = _read_yaml(Path(spec))
    check_type("spec", spec, _FUNC, Mapping, fix="Pass a dict or the path of a YAML file.")
    if not spec:
        raise ParameterError(f"The 'spec' parameter of {_FUNC} must declare at least one parameter. Got an "
                             "empty search space instead. Add e.g. learning_rate: {low: 0.0001, high: 0.01, log: true}.")
    allowed = MODEL_PARAMS[model]
    unknown = [name for name in spec if name not in allowed]
    if unknown:
        raise ParameterError(f"The search space of {_FUNC} may only name parameters of the {model!r} model "
                             f"({', '.join(allowed)}). Got {', '.join(map(repr, unknown))} instead.")
    params, fixed = {}, {}
    for name, entry in spec.items():
        parsed = _parse_entry(name, entry)
        for value in _endpoints(parsed):
            _check_value(name, value, model)
        if isinstance(parsed, BaseDistribution):
            params[name] = parsed
        else:
            fixed[name] = parsed
    if not params:
        raise ParameterError(f"The search space of {_FUNC} must let at least one parameter vary. Got only fixed "
                             f"values ({', '.join(fixed)}) instead. Give one of them a list or a range.")
    if model == "tiny":
        _check_heads_divide(params, fixed)
    return SearchSpace(params=params, fixed=fixed, model=model)


def default_space(model: str = "tiny", profile: str = "default", *, grid: bool = False) -> SearchSpace:
    """The built-in search space of ``model`` for ``profile`` (see :data:`SPACES`).

    ``grid=True`` gives the finite space used by strategy comparisons (the grid sampler must be able
    to cover it). ``full`` holds the seed's ranges: 4-24 layers, hidden 256-1024, 4-16 heads, FFN 2-4x.

    >>> default_space("tiny", "full").params["num_layers"]
    IntDistribution(high=24, log=False, low=4, step=1)
    """
    check_choice("model", model, "default_space", MODELS)
    check_choice("profile", profile, "default_space", ("smoke", "default", "full"))
    return load_space(SPACES[f"{model}_grid" if grid else model][profile], model=model)


def _read_yaml(path: Path) -> Any:
    import yaml

    if not path.is_file():
        raise ParameterError(f"The 'spec' parameter of {_FUNC} must be an existing YAML file. Got {str(path)!r} "
                             "instead. Check the path.")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ParameterError(f"The search space file {str(path)!r} is not valid YAML ({first_line(error)}). "
                             "Fix its syntax.") from None


def _parse_entry(name: str, entry: Any) -> BaseDistribution | Any:
    if isinstance(entry, (list, tuple)):
        entry = {"choices": list(entry)}
    if not isinstance(entry, Mapping):
        if isinstance(entry, (str, int, float, bool)):
            return entry
        raise ParameterError(f"The search space entry {name!r} must be a value, a list or a mapping with "
                             f"low/high. Got {entry!r} instead.")
    extra = [key for key in entry if key not in _SPEC_KEYS]
    if extra:
        raise ParameterError(f"The search space entry {name!r} may only have the keys {', '.join(_SPEC_KEYS)}. "
                             f"Got {', '.join(map(repr, extra))} instead.")
    if "choices" in entry:
        choices = list(entry["choices"])
        if not choices:
            raise ParameterError(f"The search space entry {name!r} must list at least one choice. Got an empty "
                                 "list instead.")
        if len(set(map(repr, choices))) != len(choices):
            raise ParameterError(f"The choices of search space entry {name!r} must be distinct. Got {choices!r}.")
        return CategoricalDistribution(choices) if len(choices) > 1 else choices[0]
    if "low" not in entry or "high" not in entry:
        raise ParameterError(f"The search space entry {name!r} must give both 'low' and 'high' (or 'choices'). "
                             f"Got {dict(entry)!r} instead.")
    low, high, log, step = entry["low"], entry["high"], bool(entry.get("log", False)), entry.get("step")
    for key, value in (("low", low), ("high", high), ("step", step)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ParameterError(f"The {key!r} of search space entry {name!r} must be a number. Got {value!r}.")
    if low > high:
        raise ParameterError(f"The search space entry {name!r} must have low <= high. Got low={low}, high={high}.")
    if log and (low <= 0 or step is not None):
        raise ParameterError(f"The search space entry {name!r} has log: true, which needs low > 0 and no step. "
                             f"Got low={low}, step={step}.")
    if step is not None and step <= 0:
        raise ParameterError(f"The 'step' of search space entry {name!r} must be > 0. Got {step}.")
    kind = entry.get("type") or ("int" if name in _INT_PARAMS else "float")
    check_choice(f"{name}.type", kind, _FUNC, ("int", "float"))
    if kind == "int" and not all(isinstance(v, int) for v in (low, high, step or 1)):
        raise ParameterError(f"The search space entry {name!r} must be an int range (int low, high and step). "
                             f"Got low={low}, high={high}, step={step} instead.")
    if low == high:
        return int(low) if kind == "int" else float(low)
    if kind == "int":
        return IntDistribution(int(low), int(high), log=log, step=int(step or 1))
    return FloatDistribution(float(low), float(high), log=log, step=None if step is None else float(step))


def _endpoints(parsed: Any) -> list:
    if isinstance(parsed, CategoricalDistribution):
        return list(parsed.choices)
    if isinstance(parsed, (IntDistribution, FloatDistribution)):
        return [parsed.low, parsed.high]
    return [parsed]


def _check_value(name: str, value: Any, model: str) -> None:
    from workbench import models

    where = f"search space entry {name!r}"
    choices = {"activation": models.ACTIVATIONS if model == "tiny" else _MLP_ACTIVATIONS,
               "norm_type": models.NORM_TYPES, "norm_placement": models.NORM_PLACEMENTS}.get(name)
    if name == "lr_scheduler_type":
        from workbench.training import SCHEDULER_TYPES  # imports transformers: only when asked for

        choices = SCHEDULER_TYPES
    if choices is not None:
        check_choice(name, value, where, choices)
    elif name in _INT_PARAMS:
        check_int(name, value, where, low=_BOUNDS[name][0], high=_BOUNDS[name][1])
    else:
        check_float(name, value, where, low=_BOUNDS[name][0], high=_BOUNDS[name][1])


def _values_of(name: str, params: Mapping[str, BaseDistribution], fixed: Mapping[str, Any]) -> list | None:
    if name in fixed:
        return [fixed[name]]
    if name in params:
        return _finite_values(params[name])
    return None


def _check_heads_divide(params: Mapping[str, BaseDistribution], fixed: Mapping[str, Any]) -> None:
    """Every allowed hidden size needs at least one allowed head count that divides it."""
    hidden = _values_of("hidden_size", params, fixed) or [128]  # TinyTransformerConfig's defaults
    heads = _values_of("num_heads", params, fixed) or [2]
    orphans = [h for h in hidden if not any(h % n == 0 for n in heads)]
    if orphans:
        raise ParameterError(
            f"The search space is inconsistent: no allowed num_heads ({', '.join(map(str, heads))}) divides "
            f"hidden_size {', '.join(map(str, orphans[:5]))}. Allow a head count that divides every hidden "
            "size (e.g. 2, 4 or 8), or drop those hidden sizes.")


def _finite_values(dist: BaseDistribution) -> list | None:
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, IntDistribution) and not dist.log:
        return list(range(dist.low, dist.high + 1, dist.step))
    if isinstance(dist, FloatDistribution) and dist.step is not None:
        n = int(round((dist.high - dist.low) / dist.step))
        return [round(dist.low + i * dist.step, 12) for i in range(n + 1)]
    return None


def _describe(dist: BaseDistribution) -> str:
    values = _finite_values(dist)
    if values is not None and len(values) <= 8:
        return ", ".join(map(str, values))
    scale = " (log)" if getattr(dist, "log", False) else ""
    return f"{dist.low} .. {dist.high}{scale}"


def _suggest(trial: optuna.Trial, name: str, dist: BaseDistribution) -> Any:
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)


# =============================================================================== samplers, pruners

def make_sampler(name: str, *, space: SearchSpace | None = None, seed: int | None = 0,
                 n_startup_trials: int = 5, population_size: int = 8) -> optuna.samplers.BaseSampler:
    """An Optuna sampler by name: ``grid``, ``random``, ``tpe``, ``cmaes`` (numeric spaces) or ``nsga2``.

    TPE is multivariate with the constant liar, so parallel workers do not all propose the same point;
    NSGA-II is the multi-objective sampler (``population_size`` per generation).

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


# ======================================================================================= objectives

def TrialPruningCallback(trial: optuna.Trial, *, metric: str = "accuracy"):  # noqa: N802 (a class to callers)
    """A ``transformers.TrainerCallback`` that reports each epoch's validation metric to ``trial``.

    After every evaluation it calls ``trial.report(value, epoch)`` and, when the study's pruner says so,
    raises :class:`optuna.TrialPruned` out of ``Trainer.train`` (``fine_tune`` still removes its
    temporary checkpoints: that happens in a ``finally``). Multi-objective trials are not pruned
    (Optuna does not support it) but their epochs are still counted. The epochs trained so far are kept
    as the steps of the trial's reports.

    >>> callback = TrialPruningCallback(trial, metric="macro_f1")  # doctest: +SKIP
    >>> fine_tune(model, tok, data, config, callbacks=[callback])  # doctest: +SKIP
    """
    check_choice("metric", metric, "TrialPruningCallback", QUALITY_METRICS)
    return _pruning_callback_class()(trial, metric)


@functools.cache
def _pruning_callback_class():
    from transformers import TrainerCallback  # lazy: an MLP-only worker never imports transformers

    class _TrialPruningCallback(TrainerCallback):
        def __init__(self, trial, metric):
            self.trial, self.metric = trial, metric

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            value = (metrics or {}).get(f"eval_{self.metric}")
            if value is not None:
                report_epoch(self.trial, float(value), int(round(state.epoch or 0)))

    return _TrialPruningCallback


def report_epoch(trial: optuna.Trial, value: float, epoch: int) -> None:
    """Report ``value`` after ``epoch`` epochs and raise ``TrialPruned`` if the pruner says so.

    The reported steps count the epochs a trial trained; multi-objective trials, which Optuna does not
    let report, keep the count in the user attribute ``epochs`` instead.
    """
    study = getattr(trial, "study", None)  # a FixedTrial (replaying parameters) has no study
    if study is not None and len(study.directions) > 1:
        trial.set_user_attr("epochs", epoch)
        return
    trial.report(value, epoch)
    if trial.should_prune():
        reason = f"pruned after epoch {epoch} at {value:.4f}"
        trial.set_user_attr("reason", reason)
        raise optuna.TrialPruned(reason)


class _Objective:
    """Template of a trial: sample, train with per-epoch reports, measure, return the objective values."""

    model_name = ""
    uses_torch = False

    def __init__(self, dataset, space: SearchSpace, *, objectives: Sequence[str] | str = ("accuracy",),
                 epochs: int = 3, seed: int = 0, threads: int = 1, latency_repeats: int = 20) -> None:
        func = type(self).__name__
        check_type("space", space, func, SearchSpace, fix="Build it with load_space or default_space.")
        if space.model != self.model_name:
            raise ParameterError(f"The 'space' parameter of {func} must be a {self.model_name!r} space. Got a "
                                 f"{space.model!r} space instead. Use load_space(..., model={self.model_name!r}).")
        for split in ("train", "validation"):
            if split not in dataset or len(dataset[split]) == 0:
                raise DataError(f"The 'dataset' parameter of {func} needs a non-empty {split!r} split. Got "
                                f"{ {k: len(v) for k, v in dataset.items()} } instead. Use workbench.load_dataset.")
        self.dataset, self.space = dataset, space
        self.objectives = _check_objectives(objectives, func)
        self.metric = self.objectives[0]
        self.epochs = check_int("epochs", epochs, func, low=1)
        self.seed = check_int("seed", seed, func, low=0)
        self.threads = check_int("threads", threads, func, low=1)
        self.latency_repeats = check_int("latency_repeats", latency_repeats, func, low=1)

    @property
    def directions(self) -> list[str]:
        return directions_of(self.objectives)

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        params = self.space.suggest(trial)
        try:
            with _thread_limit(self.threads, torch=self.uses_torch):
                measures = self.train(trial, params)
        except optuna.TrialPruned:
            raise
        except Exception as error:
            # Optuna marks the trial FAIL and keeps only a log line: the reason goes with the trial.
            trial.set_user_attr("reason", f"{type(error).__name__}: {first_line(error)}")
            raise
        for key, value in measures.items():
            trial.set_user_attr(key, value)
        values = tuple(float(measures[name]) for name in self.objectives)
        return values[0] if len(values) == 1 else values

    def train(self, trial: optuna.Trial, params: dict[str, Any]) -> dict[str, float]:
        raise NotImplementedError


class TransformerObjective(_Objective):
    """Train a tiny transformer per trial with :func:`workbench.training.fine_tune` (HF ``Trainer``).

    Each trial builds ``load_model("tiny", ...)`` from the sampled architecture, fine-tunes it for
    ``epochs`` epochs with one evaluation per epoch (reported to the pruner through
    :func:`TrialPruningCallback`), keeps the best epoch, and records ``accuracy``, ``macro_f1``,
    ``n_params``, ``flops`` (forward FLOPs per token) and, when asked for, ``latency_ms``: the median
    of ``latency_repeats`` timed forward passes of one text of ``max_length`` tokens
    (:func:`workbench.evaluation.measure_latency`) on ``threads`` CPU threads.

    Parameters
    ----------
    dataset : datasets.DatasetDict
        ``train`` and ``validation`` splits (``text``, ``label``).
    space : SearchSpace
        A ``tiny`` space (architecture and training parameters).
    objectives : sequence of str
        A quality metric (``accuracy`` or ``macro_f1``) optionally followed by costs
        (``latency_ms``, ``n_params``, ``flops``); more than one gives a multi-objective study.
    epochs : int
        Training epochs per trial: the resource pruners share out.
    tokenizer : tokenizer, optional
        Default: a 4,000-entry WordPiece vocabulary trained on the training texts (a small embedding
        keeps trials fast and the parameter count about the architecture).
    max_length : int
        Tokens per text, in training and in the latency measurement.
    threads : int
        CPU threads per trial. One is the default: on a shared 2-core machine, two torch threads
        fighting other processes made small models about ten times slower.

    Examples
    --------
    >>> objective = TransformerObjective(data, default_space("tiny", "default"),
    ...                                  objectives=("accuracy", "latency_ms"), epochs=2)  # doctest: +SKIP
    >>> run_sweep(objective, n_trials=8, sampler="nsga2").study.best_trials  # doctest: +SKIP
    """

    model_name = "tiny"
    uses_torch = True

    def __init__(self, dataset, space: SearchSpace, *, objectives: Sequence[str] | str = ("accuracy",),
                 epochs: int = 3, tokenizer=None, max_length: int = 64, seed: int = 0, threads: int = 1,
                 latency_repeats: int = 20) -> None:
        super().__init__(dataset, space, objectives=objectives, epochs=epochs, seed=seed, threads=threads,
                         latency_repeats=latency_repeats)
        self.max_length = check_int("max_length", max_length, "TransformerObjective", low=8, high=8192)
        if tokenizer is None:
            from workbench.tokenization import train_tokenizer

            tokenizer = train_tokenizer(dataset["train"]["text"], algorithm="wordpiece", vocab_size=4000,
                                        lowercase=True, seed=seed)
        self.tokenizer = tokenizer
        self.label_names = list(dataset["train"].features["label"].names)

    def train(self, trial, params):
        from workbench.models import TinyTransformerConfig, count_parameters, flops_per_token, load_model
        from workbench.training import TrainConfig, fine_tune

        arch = {k: v for k, v in params.items() if k in ARCHITECTURE_PARAMS}
        config = TinyTransformerConfig(max_position_embeddings=self.max_length, **arch)
        model, _ = load_model("tiny", num_labels=len(self.label_names), tiny=config, tokenizer=self.tokenizer,
                              seed=self.seed)
        training = {k: v for k, v in params.items() if k in TRAINING_PARAMS}
        train_config = TrainConfig(num_epochs=float(self.epochs), max_length=self.max_length, seed=self.seed,
                                   metric_for_best_model=self.metric, logging_steps=50, progress=False,
                                   **training)
        result = fine_tune(model, self.tokenizer, self.dataset, train_config,
                           callbacks=[TrialPruningCallback(trial, metric=self.metric)])
        scores = result.history[result.history["metric"].isin(["eval_accuracy", "eval_macro_f1"])]
        scores = scores.pivot_table(index="step", columns="metric", values="value")
        best = scores.loc[scores[f"eval_{self.metric}"].idxmax()]
        measures = {"accuracy": float(best["eval_accuracy"]), "macro_f1": float(best["eval_macro_f1"]),
                    "n_params": float(count_parameters(result.model)["total"]),
                    "flops": flops_per_token(result.model, seq_len=self.max_length)["forward"],
                    "epochs": int(round(len(scores)))}
        if "latency_ms" in self.objectives:
            measures["latency_ms"] = self._latency(result.model)
        return measures

    def _latency(self, model) -> float:
        import torch

        from workbench.evaluation import measure_latency

        text = self.dataset["validation"]["text"][0]
        batch = self.tokenizer([text], padding="max_length", truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        model.eval()
        with torch.inference_mode():
            stats = measure_latency(lambda: model(**batch), warmup=3, repeats=self.latency_repeats,
                                    threads=self.threads)
        return float(stats["p50_ms"])


class MLPObjective(_Objective):
    """A fast proxy objective: scikit-learn's ``MLPClassifier`` on TF-IDF features, one pass per epoch.

    Real training (Adam, minibatches, ``partial_fit`` once per epoch) in milliseconds rather than
    seconds, so strategy comparisons and benchmarks can afford hundreds of trials on 2 CPU cores.
    Its parameters mirror the transformer's where they can: ``num_layers``, ``hidden_size``,
    ``activation``, ``learning_rate``, ``batch_size`` and ``weight_decay`` (the L2 ``alpha``).

    Parameters
    ----------
    dataset, space, objectives, epochs, seed, threads, latency_repeats
        As for :class:`TransformerObjective` (``space`` of model ``"mlp"``; no ``flops``).
    max_features : int
        Vocabulary of the TF-IDF features, fitted once on the training split.

    Examples
    --------
    >>> objective = MLPObjective(data, default_space("mlp", "default", grid=True), epochs=5)  # doctest: +SKIP
    >>> frame = compare_strategies(objective)  # doctest: +SKIP
    """

    model_name = "mlp"

    def __init__(self, dataset, space: SearchSpace, *, objectives: Sequence[str] | str = ("accuracy",),
                 epochs: int = 8, max_features: int = 1000, seed: int = 0, threads: int = 1,
                 latency_repeats: int = 20) -> None:
        super().__init__(dataset, space, objectives=objectives, epochs=epochs, seed=seed, threads=threads,
                         latency_repeats=latency_repeats)
        if "flops" in self.objectives:
            raise ParameterError("The 'objectives' parameter of MLPObjective may not include 'flops' (defined for "
                                 "tiny transformers only). Use n_params or latency_ms.")
        check_int("max_features", max_features, "MLPObjective", low=10)
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(max_features=max_features, sublinear_tf=True)
        self.x_train = vectorizer.fit_transform(dataset["train"]["text"]).toarray().astype(np.float32)
        self.x_valid = vectorizer.transform(dataset["validation"]["text"]).toarray().astype(np.float32)
        self.y_train = np.asarray(dataset["train"]["label"])
        self.y_valid = np.asarray(dataset["validation"]["label"])
        self.classes = np.arange(len(dataset["train"].features["label"].names))

    def train(self, trial, params):
        from sklearn.neural_network import MLPClassifier

        from workbench.evaluation import classification_metrics

        model = MLPClassifier(hidden_layer_sizes=(params.get("hidden_size", 64),) * params.get("num_layers", 1),
                              activation=params.get("activation", "relu"), alpha=params.get("weight_decay", 1e-4),
                              learning_rate_init=params.get("learning_rate", 1e-3),
                              batch_size=params.get("batch_size", 32), random_state=self.seed)
        best: dict[str, float] = {}
        for epoch in range(1, self.epochs + 1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ConvergenceWarning: one pass is not meant to converge
                model.partial_fit(self.x_train, self.y_train, classes=self.classes)
            metrics = classification_metrics(self.y_valid, model.predict(self.x_valid))
            if not best or metrics[self.metric] > best[self.metric]:
                best = {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}
            report_epoch(trial, float(metrics[self.metric]), epoch)
        best["epochs"] = self.epochs
        best["n_params"] = float(sum(w.size for w in model.coefs_) + sum(b.size for b in model.intercepts_))
        if "latency_ms" in self.objectives:
            from workbench.evaluation import measure_latency

            one = self.x_valid[:1]
            best["latency_ms"] = float(measure_latency(lambda: model.predict(one), warmup=3,
                                                       repeats=self.latency_repeats)["p50_ms"])
        return best


@contextlib.contextmanager
def _thread_limit(threads: int, *, torch: bool):
    """Cap BLAS/OpenMP threads (threadpoolctl) and, for torch models, torch's, then restore them."""
    from threadpoolctl import threadpool_limits

    if not torch:
        with threadpool_limits(threads):
            yield
        return
    import torch as torch_module

    before = torch_module.get_num_threads()
    try:
        with threadpool_limits(threads):
            torch_module.set_num_threads(threads)
            yield
    finally:
        torch_module.set_num_threads(before)


# ========================================================================================== storage

class BudgetSpent(Exception):
    """The study already holds its ``n_trials`` live trials: this worker may not start another."""


def _capped_storage_class():
    from optuna.storages import RDBStorage
    from optuna.storages._rdb import models

    class _CappedRDBStorage(RDBStorage):
        """RDBStorage that refuses to create a trial beyond ``max_trials`` live ones, atomically.

        Optuna numbers a new trial inside the transaction that inserts it, with the study row locked
        (``SELECT ... FOR UPDATE``; SQLite serialises writers anyway). Counting the study's trials that
        are not FAIL in that same transaction, after the insert, and rolling back when the count
        passes ``max_trials``, is therefore exact across any number of processes and machines.

        Optuna only fails a stale trial that has sent at least one heartbeat, and its heartbeat thread
        starts after the trial exists: a worker killed in between would leave the trial RUNNING for
        ever. So the first heartbeat is written with the trial itself (or when a queued trial is taken).
        """

        max_trials: int | None = None

        def _get_prepared_new_trial(self, study_id, template_trial, session):
            trial = super()._get_prepared_new_trial(study_id, template_trial, session)
            if self.max_trials is not None:
                live = session.query(models.TrialModel).filter(
                    models.TrialModel.study_id == study_id, models.TrialModel.state != TrialState.FAIL).count()
                if live > self.max_trials:
                    raise BudgetSpent(f"the study already holds {self.max_trials} trials")
            if self.heartbeat_interval is not None and trial.state == TrialState.RUNNING:
                session.add(models.TrialHeartbeatModel(trial_id=trial.trial_id))
            return trial

        def set_trial_state_values(self, trial_id, state, values=None):
            changed = super().set_trial_state_values(trial_id, state, values)
            if changed and state == TrialState.RUNNING and self.heartbeat_interval is not None:
                self.record_heartbeat(trial_id)  # a queued trial just taken by this worker
            return changed

    return _CappedRDBStorage


def open_storage(url: str, *, heartbeat_interval: int | None = None, grace_period: int | None = None,
                 max_trials: int | None = None, retry_stale: int = 1):
    """Open (and create if needed) an Optuna RDB storage from an SQLAlchemy URL, with a one-line error.

    Parameters
    ----------
    url : str
        ``sqlite:///path/sweeps.db`` (a local file), ``postgresql://user@host:5432/db``, ``mysql://...``.
    heartbeat_interval, grace_period : int, optional
        Seconds between a running trial's heartbeats, and the silence after which another worker marks
        it FAIL (default ``2 * heartbeat_interval``). Without heartbeats a killed worker's trial stays
        RUNNING for ever.
    max_trials : int, optional
        Refuse to create trials beyond this many that are not FAIL (see :func:`run_sweep`).
    retry_stale : int
        A trial failed for a stale heartbeat is re-queued with the same parameters up to this many times.

    >>> storage = open_storage("sqlite:///sweeps.db")  # doctest: +SKIP
    """
    import sqlalchemy
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    func = "open_storage"
    check_type("url", url, func, str)
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise ParameterError(f"The 'url' parameter of {func} must be an SQLAlchemy database URL such as "
                             f"sqlite:///sweeps.db or postgresql://user@host/db. Got {url!r} instead.") from None
    if parsed.drivername == "postgresql" and _importable("psycopg2") and not _importable("psycopg"):
        # SQLAlchemy 2.1 made psycopg (3) the default PostgreSQL driver; this project ships psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg2")
        url = parsed.render_as_string(hide_password=False)
    shown = parsed.render_as_string(hide_password=True)
    if heartbeat_interval is not None:
        check_int("heartbeat_interval", heartbeat_interval, func, low=1)
        grace_period = grace_period or 2 * heartbeat_interval
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        engine_kwargs["connect_args"] = {"timeout": 60}  # wait for the other workers' writes, do not fail
    elif parsed.get_backend_name() in ("postgresql", "mysql"):
        engine_kwargs["connect_args"] = {"connect_timeout": 10}
    storage_class = _capped_storage_class()
    for attempt in range(5):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = storage_class(
                    url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period, heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                        max_retry=retry_stale) if heartbeat_interval else None)
            break
        except ImportError as error:
            raise ResourceUnavailableError(f"The storage {shown} needs a database driver that is not installed "
                                           f"({first_line(error)}). Install it (e.g. psycopg2-binary).") from None
        except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as error:
            cause = first_line(error.__cause__ or getattr(error, "orig", None) or error)
            # Workers starting together on a new database race to create Optuna's tables: the loser retries.
            if attempt < 4 and any(text in cause.lower() for text in _CREATION_RACES):
                time.sleep(0.2 * (attempt + 1))
                continue
            raise ResourceUnavailableError(
                f"Could not open the Optuna storage {shown}: {cause[:200]}. Check the URL, that the database "
                "server runs and accepts connections, and that the folder of an SQLite file exists.") from None
    if parsed.get_backend_name() == "sqlite":
        _fast_sqlite(storage.engine)
    storage.max_trials = max_trials
    return storage


def _fast_sqlite(engine) -> None:
    """Write-ahead logging without an fsync per commit: an Optuna trial makes dozens of small commits.

    WAL lets readers (a monitor, other workers) work while one worker writes; ``synchronous=NORMAL``
    keeps every committed trial across a crash of any process (only a power cut may lose the last few).
    """
    import sqlalchemy

    def configure(connection, _record):
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    sqlalchemy.event.listen(engine, "connect", configure)
    engine.dispose()  # connections opened while creating the tables predate the listener


# What losing the race to create Optuna's tables looks like (SQLite, PostgreSQL, MySQL wordings).
_CREATION_RACES = ("already exists", "duplicate key", "unique constraint", "database is locked", "duplicate entry")


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def safe_url(url: str) -> str:
    """A storage URL fit to print: the password hidden.

    >>> safe_url("postgresql://me:secret@db.example:5432/sweeps")
    'postgresql://me:***@db.example:5432/sweeps'
    """
    import sqlalchemy

    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return "<not a database URL>"


def default_storage(folder: str | os.PathLike = ".", name: str = "sweeps.db") -> str:
    """SQLAlchemy URL of an SQLite file ``name`` in ``folder`` (created if missing).

    >>> default_storage("/tmp/run")
    'sqlite:////tmp/run/sweeps.db'
    """
    path = Path(folder).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path / name}"


# =========================================================================================== sweeps

@dataclass
class SweepResult:
    """What one worker did: the study (shared), this worker's own trial counts, and why it stopped."""

    study: optuna.Study
    ran: dict[str, int] = field(default_factory=dict)
    stopped: str = ""

    @property
    def finished(self) -> int:
        """Finished (complete or pruned) trials in the whole study, from every worker."""
        return len(self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))

    def line(self) -> str:
        """One line for a terminal: this worker's share and the study's state."""
        ran = ", ".join(f"{n} {state}" for state, n in self.ran.items() if n) or "no trials"
        text = (f"study {self.study.study_name}: this worker ran {ran}; the study holds {self.finished} finished "
                f"trials ({self.stopped})")
        best = _best_trial(self.study)
        if best is not None:
            text += f"; best {best.values[0]:.4f} with {best.params}"
        return text


def run_sweep(objective: Callable[[optuna.Trial], Any], *, n_trials: int, study_name: str = "sweep",
              storage: str | None = None, sampler: str | optuna.samplers.BaseSampler = "tpe",
              pruner: str | optuna.pruners.BasePruner = "none", directions: Sequence[str] | None = None,
              space: SearchSpace | None = None, seed: int | None = 0, heartbeat_interval: int | None = None,
              max_failures: int = 5, wait: bool = True, progress: bool = True, verbose: bool = False) -> SweepResult:
    """Run one worker on a study until it holds exactly ``n_trials`` finished trials, from all workers.

    The study is created or resumed by name. A trial counts once it exists and is not FAIL (complete,
    pruned, running or queued): with an RDB ``storage`` the count is checked inside the transaction
    that creates each trial (:func:`open_storage`), so any number of workers sharing the storage fill
    the study to exactly ``n_trials`` and no further. (Optuna's ``MaxTrialsCallback`` counts only after
    a trial ends, so workers finishing together each start one more: 31 trials for 30 with two
    workers on PostgreSQL.) A failed trial (the objective raised) is
    replaced; ``max_failures`` failures in a row stop this worker. When the budget is taken but other
    workers' trials still run, a worker with heartbeats waits for them: a trial whose worker died
    (no heartbeat for the grace period) becomes FAIL and is re-queued with its parameters, so the
    study still ends with ``n_trials`` finished trials.

    Parameters
    ----------
    objective : callable
        ``objective(trial) -> value`` (or a tuple for several objectives), e.g. a
        :class:`TransformerObjective`; its ``directions`` are used when it has them.
    n_trials : int
        Finished trials the study should hold in total.
    study_name : str
    storage : str, optional
        SQLAlchemy URL (see :func:`open_storage`); None keeps the study in memory (one process).
    sampler, pruner : str or Optuna object
        Names for :func:`make_sampler` / :func:`make_pruner`, or ready objects.
    directions : sequence of {"maximize", "minimize"}, optional
        Default: ``objective.directions``, else maximize.
    space : SearchSpace, optional
        Needed by the grid sampler (default: ``objective.space``).
    seed : int, optional
        Seeds the sampler (None: a fresh seed per worker, which parallel workers want).
    heartbeat_interval : int, optional
        Seconds; enables heartbeats and stale-trial recovery on RDB storages.
    max_failures : int
        Consecutive failed trials after which this worker gives up.
    wait : bool
        Wait for other workers' running trials when the budget is taken (needs heartbeats).
    progress : bool
        Show a progress bar of this study's finished trials.
    verbose : bool
        Keep Optuna's one log line per trial (the command line does; notebooks stay quiet).

    Examples
    --------
    >>> result = run_sweep(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=5, sampler="random",
    ...                    directions=["minimize"], progress=False)
    >>> len(result.study.trials)
    5
    """
    func = "run_sweep"
    if not callable(objective):
        raise ParameterError(f"The 'objective' parameter of {func} must be callable as objective(trial). "
                             f"Got {objective!r} instead.")
    check_int("n_trials", n_trials, func, low=1)
    check_type("study_name", study_name, func, str)
    check_int("max_failures", max_failures, func, low=1)
    directions = list(directions or getattr(objective, "directions", None) or ["maximize"])
    for direction in directions:
        check_choice("directions", direction, func, ("maximize", "minimize"))
    space = space if space is not None else getattr(objective, "space", None)
    epochs = getattr(objective, "epochs", 10)
    if isinstance(sampler, str):
        sampler = make_sampler(sampler, space=space, seed=seed)
    if isinstance(pruner, str):
        if pruner != "none" and len(directions) > 1:
            raise ParameterError(f"The 'pruner' parameter of {func} must be 'none' for a multi-objective study "
                                 f"(Optuna cannot prune those). Got {pruner!r} instead.")
        pruner = make_pruner(pruner, epochs=epochs)
    if isinstance(sampler, optuna.samplers.GridSampler):
        size = math.prod(len(values) for values in sampler._search_space.values())
        if n_trials > size:
            raise ParameterError(f"The 'n_trials' parameter of {func} must be at most the grid size {size} for "
                                 f"the grid sampler. Got {n_trials} instead.")
    rdb = open_storage(storage, heartbeat_interval=heartbeat_interval, max_trials=n_trials) if storage else None
    with _optuna_logging(verbose):
        study = optuna.create_study(storage=rdb, sampler=sampler, pruner=pruner, study_name=study_name,
                                    directions=directions, load_if_exists=True)
    if list(d.name.lower() for d in study.directions) != directions:
        raise ParameterError(f"The study {study_name!r} already exists with directions "
                             f"{[d.name.lower() for d in study.directions]}, not {directions}. Use another name.")
    study.set_user_attr("n_trials", n_trials)
    if hasattr(objective, "objectives"):
        study.set_user_attr("objectives", list(objective.objectives))
    with _optuna_logging(verbose):
        return _work(study, objective, n_trials, max_failures=max_failures,
                     wait=wait and heartbeat_interval is not None, heartbeat=float(heartbeat_interval or 1),
                     progress=progress)


@contextlib.contextmanager
def _optuna_logging(verbose: bool):
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


def _work(study, objective, n_trials, *, max_failures, wait, heartbeat, progress) -> SweepResult:
    result = SweepResult(study=study, ran={"complete": 0, "pruned": 0, "failed": 0})
    streak = [0]

    def after(study, trial):
        state = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned"}.get(trial.state, "failed")
        result.ran[state] += 1
        streak[0] = streak[0] + 1 if state == "failed" else 0
        if streak[0] >= max_failures:
            result.stopped = f"stopped after {max_failures} failed trials in a row"
            study.stop()
        bar.update(max(0, result.finished - bar.n))

    # How long to wait for other workers' trials once the budget is taken: long enough for a dead
    # worker's trial to go stale (grace period) and be failed and re-queued; live workers finish theirs.
    patience = 4 * heartbeat  # the grace period (2 heartbeats) plus two more
    poll = min(heartbeat, 2.0)  # notice soon when the other workers' last trials end
    bar = progress_bar(total=n_trials, desc=study.study_name, unit="trial", disable=not progress)
    deadline = None
    try:
        while not result.stopped:
            live = len(study.get_trials(deepcopy=False, states=_LIVE_STATES))
            waiting = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
            remaining = n_trials - live + waiting  # queued trials (re-queued after a crash) still need running
            if _exhausted(study):
                result.stopped = "grid exhausted"
                break
            if remaining > 0:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                        study.optimize(objective, n_trials=remaining, catch=(Exception,), callbacks=[after],
                                       gc_after_trial=False)
                    deadline = None
                    continue
                except BudgetSpent:  # another worker took the last places meanwhile
                    pass
            if not (wait and _running(study)):
                result.stopped = "budget reached" if remaining <= 0 else "budget taken by other workers"
                break
            deadline = deadline or time.monotonic() + patience
            if time.monotonic() > deadline:
                result.stopped = "budget reached; other workers are finishing their trials"
                break
            time.sleep(poll)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                with contextlib.suppress(BudgetSpent):
                    optuna.storages.fail_stale_trials(study)
    finally:
        bar.close()
    return result


_LIVE_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)


def _running(study) -> bool:
    return bool(study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)))


def _exhausted(study) -> bool:
    sampler = study.sampler
    return isinstance(sampler, optuna.samplers.GridSampler) and sampler.is_exhausted(study)


def _best_trial(study):
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    sign = 1 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else -1
    return max(complete, key=lambda t: (sign * t.values[0], -t.number))


# ======================================================================================= frames

def trials_frame(study: optuna.Study, *, name: str | None = None) -> pd.DataFrame:
    """One row per trial in number order: state, value, epochs, best so far, measures and ``params_*``.

    ``epochs`` is what the trial really trained (a pruned trial stops early, a constraint violation
    trains none), ``cumulative_epochs`` their running sum, ``best_so_far`` the best first-objective
    value of the complete trials up to this one.

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
               "seconds": seconds, "reason": trial.user_attrs.get("reason", "")}
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
    frames = []
    for name, (sampler, pruner) in strategies.items():  # each study shows its own progress bar
        try:
            result = run_sweep(objective, n_trials=n_trials, study_name=f"{study_prefix}-{name}", storage=storage,
                               sampler=sampler, pruner=pruner, seed=seed, progress=progress)
            frames.append(trials_frame(result.study, name=name))
        except Exception as error:  # one broken strategy must not sink the comparison
            frames.append(pd.DataFrame([{"study": name, "state": "error", "reason": first_line(error)}],
                                       columns=TRIAL_COLUMNS))
    frame = pd.concat(frames, ignore_index=True)
    return frame.rename(columns={"study": "strategy"})


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


# ============================================================================================ plots

def plot_best_so_far(frame: pd.DataFrame, *, target: float | None = None):
    """Best-so-far of each strategy against trials (left) and against training epochs consumed (right).

    ``frame`` is :func:`compare_strategies` output; ``target`` draws a dashed line (e.g. the grid's best
    minus half a point).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for name, rows in frame[frame["state"] != "error"].groupby("strategy", sort=False):
        rows = rows.sort_values("number")
        axes[0].step(np.arange(1, len(rows) + 1), rows["best_so_far"], where="post", label=name)
        axes[1].step(rows["cumulative_epochs"], rows["best_so_far"], where="post", label=name)
    for ax, xlabel in zip(axes, ("trials", "training epochs consumed")):
        if target is not None:
            ax.axhline(target, color="grey", linestyle="--", linewidth=1, label="target")
        ax.set(xlabel=xlabel)
        ax.grid(alpha=0.3)
    axes[0].set(ylabel="best value so far")
    axes[1].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


PLOTS = ("history", "parallel_coordinate", "importances", "intermediate_values", "pareto_front")


def plot_study(study: optuna.Study, kind: str, *, seed: int = 0):
    """One of Optuna's matplotlib plots of ``study`` as a Figure: ``history``, ``parallel_coordinate``,
    ``importances``, ``intermediate_values`` or ``pareto_front``.

    Multi-objective studies are shown by their first objective (``pareto_front`` shows the first two).
    """
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    check_choice("kind", kind, "plot_study", PLOTS)
    names = study.user_attrs.get("objectives") or [f"objective {i}" for i in range(len(study.directions))]
    multi = len(study.directions) > 1
    target = {"target": (lambda t: t.values[0]), "target_name": names[0]} if multi else {"target_name": names[0]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib backend experimental
        if kind == "history":
            ax = ovm.plot_optimization_history(study, **target)
        elif kind == "parallel_coordinate":
            ax = ovm.plot_parallel_coordinate(study, **target)
        elif kind == "importances":
            from optuna.importance import FanovaImportanceEvaluator

            ax = ovm.plot_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=seed), **target)
        elif kind == "intermediate_values":
            ax = ovm.plot_intermediate_values(study)
        else:
            if not multi:
                raise ParameterError(f"plot_study kind 'pareto_front' needs a multi-objective study. Got "
                                     f"{study.study_name!r} with one objective.")
            ax = ovm.plot_pareto_front(study, target_names=names[:2],
                                       targets=(lambda t: (t.values[0], t.values[1])) if len(names) > 2 else None)
    fig = ax.figure if hasattr(ax, "figure") else np.ravel(ax)[0].figure
    fig.set_size_inches(8, 4)
    fig.tight_layout()
    plt.close(fig)
    return fig


def describe_trial(params: Mapping[str, Any]) -> str:
    """``params`` as one escaped ``key=value`` line for HTML or Markdown.

    >>> describe_trial({"activation": "<b>", "num_layers": 2})
    'activation=&lt;b&gt;, num_layers=2'
    """
    return ", ".join(f"{html.escape(str(k))}={html.escape(_short(v))}" for k, v in params.items())


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)

