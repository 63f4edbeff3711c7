"""Search spaces as data: :func:`load_space` (a dict or a YAML file), :func:`default_space` (per model
and profile), checked eagerly before any trial runs. Optuna's distributions hold what varies."""


import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from workbench._validation import check_choice, check_float, check_int, check_type
from workbench.errors import ParameterError, first_line

MODELS = ("tiny", "mlp")

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
        from workbench.training import (
            SCHEDULER_TYPES,  # imports transformers: only when asked for
        )

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
