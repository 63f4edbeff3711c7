"""Notebooks and their ``parameters`` cells: listing, checking and coercing values before a run."""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workbench.errors import NotebookParameterError, ParameterError, first_line
from workbench.profiles import PROFILE_NAMES as PROFILES

# Set by the runner for every notebook; `--set` may not override them.
RUNNER_PARAMETERS = {"profile": "--profile", "output_dir": "--output"}

_REPO_ROOT = Path(__file__).resolve().parents[2]
_NUMBER_PREFIX = re.compile(r"^\d+_")



def list_notebooks(notebooks_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Map each notebook's short name to its path, in file order.

    The number prefix that orders the files is dropped: ``00_data.ipynb`` is ``data``.

    Parameters
    ----------
    notebooks_dir : str or Path, optional
        Defaults to the repository's ``notebooks/`` (or ``./notebooks``).

    Examples
    --------
    >>> list(list_notebooks())
    ['data', 'tokenization', 'augmentation', 'schedules', 'sweeps', 'compression']
    """
    folder = Path(notebooks_dir) if notebooks_dir is not None else default_notebooks_dir()
    if not folder.is_dir():
        raise ParameterError(f"The notebooks folder must exist. Got {str(folder)!r} instead.")
    notebooks: dict[str, Path] = {}
    for path in sorted(folder.glob("*.ipynb")):
        name = _NUMBER_PREFIX.sub("", path.stem)
        if name in notebooks:
            raise ParameterError(f"Notebook names must be unique once the number prefix is "
                                 f"dropped. Got {notebooks[name].name!r} and {path.name!r}.")
        notebooks[name] = path
    if not notebooks:
        raise ParameterError(f"The notebooks folder must hold .ipynb files. Got none in "
                             f"{str(folder)!r}.")
    return notebooks


def resolve_parameters(notebooks: Mapping[str, str | os.PathLike], values: Mapping[str, Any], *,
                       profile: str = "default") -> dict[str, dict[str, Any]]:
    """Check ``values`` against each notebook's ``parameters`` cell and coerce them.

    papermill reads the declared names, types and defaults. Strings (as ``--set`` gives them) are
    coerced to the declared type: ``int``, ``float``, ``bool`` (true/false/1/0/yes/no), ``str``,
    and ``list``/``dict``/``tuple`` through :func:`ast.literal_eval`. A name is passed only to
    the notebooks that declare it. Every problem is collected and raised at once, before anything
    runs.

    Returns
    -------
    dict
        Notebook name -> the parameters to inject (``profile`` included).

    Raises
    ------
    NotebookParameterError
        Listing every unknown name, uncoercible value and bad profile in one line.

    Examples
    --------
    >>> resolve_parameters({"data": "notebooks/00_data.ipynb"}, {"seed": "7"}, profile="smoke")
    {'data': {'profile': 'smoke', 'seed': 7}}
    >>> resolve_parameters({"data": "notebooks/00_data.ipynb"}, {"sed": "7", "seed": "x"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    workbench.errors.NotebookParameterError: Invalid notebook parameters: 'sed' is not a parameter of data (known: dataset, ...); 'seed' must be int, got 'x'.
    """
    import papermill

    declared, problems = {}, []
    for name, path in notebooks.items():
        try:
            declared[name] = papermill.inspect_notebook(str(path))
        except Exception as exc:  # nbformat's validation errors carry no common base
            problems.append(f"{name} cannot be read as a notebook ({first_line(exc)})")
    if profile not in PROFILES:
        problems.append(f"'profile' must be one of {', '.join(PROFILES)}, got {profile!r}")
    resolved: dict[str, dict[str, Any]] = {name: {"profile": profile} for name in declared}
    for key, value in values.items():
        problems.extend(_resolve_one(key, value, declared, resolved))
    if problems:
        raise NotebookParameterError("Invalid notebook parameters: " + "; ".join(problems) + ".")
    return resolved


def _resolve_one(key: str, value: Any, declared: Mapping[str, Mapping[str, dict]],
                 resolved: dict[str, dict[str, Any]]) -> list[str]:
    """Coerce one ``--set`` value for every notebook declaring ``key``; return the problems."""
    if key in RUNNER_PARAMETERS:
        return [f"{key!r} is set by the runner, use {RUNNER_PARAMETERS[key]} instead"]
    owners = [name for name, params in declared.items() if key in params]
    if not owners:
        known = sorted({p for params in declared.values() for p in params} - set(RUNNER_PARAMETERS))
        return [f"{key!r} is not a parameter of {', '.join(declared)} (known: {', '.join(known)})"]
    problems = []
    for name in owners:
        type_name = declared[name][key]["inferred_type_name"]
        try:
            resolved[name][key] = coerce_parameter(value, type_name)
        except (ValueError, SyntaxError, TypeError):
            problem = f"{key!r} must be {type_name}, got {value!r}"
            if problem not in problems:  # several notebooks declaring the same type: say it once
                problems.append(problem)
    return problems


def coerce_parameter(value: Any, type_name: str) -> Any:
    """Convert ``value`` to the type a parameters cell declares, or raise ``ValueError``.

    ``type_name`` is the annotation as written (``"int"``, ``"list[int]"``, ``"float | None"``,
    ``"Optional[int]"``); ``"None"`` means no annotation, and a string is then read as a Python
    literal when it is one. Non-string values must already have the type (an int is accepted
    for a float). Lists, tuples and dicts are read with :func:`ast.literal_eval` and their items
    checked against the annotation's item types (``list[int]`` refuses ``[500, "x"]``).

    Examples
    --------
    >>> coerce_parameter("yes", "bool"), coerce_parameter("1e-3", "float")
    (True, 0.001)
    >>> coerce_parameter("none", "int | None") is None
    True
    >>> coerce_parameter("[500,2000]", "list[int] | None")
    [500, 2000]
    """
    type_name = type_name.replace(" ", "")
    optional = re.fullmatch(r"Optional\[(.+)\]|(.+)\|None|None\|(.+)", type_name)
    if optional:
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        type_name = next(group for group in optional.groups() if group)
    base, _, inner = type_name.partition("[")
    base = base.lower()
    if base == "none":
        return _literal_or_text(value)
    if base not in _COERCERS:
        raise ValueError(f"cannot coerce to {type_name}")
    coerced = _COERCERS[base](value)
    if inner and base in ("list", "tuple"):
        item_type = inner[:-1].split(",")[0]
        return type(coerced)(_coerce_item(item, item_type) for item in coerced)
    if inner and base == "dict":
        key_type, _, value_type = inner[:-1].partition(",")
        return {_coerce_item(k, key_type): _coerce_item(v, value_type) for k, v in coerced.items()}
    return coerced


def _coerce_item(item: Any, type_name: str) -> Any:
    """An item of a list or dict literal: already parsed, so it must have the type (int for float)."""
    base = type_name.lower()
    if base in ("", "any", "...") or base not in _COERCERS:
        return item
    if base == "float" and isinstance(item, int) and not isinstance(item, bool):
        return float(item)
    wanted = {"int": int, "float": float, "bool": bool, "str": str, "list": list, "dict": dict, "tuple": tuple}[base]
    if not isinstance(item, wanted) or (wanted is int and isinstance(item, bool)):
        raise TypeError(item)
    return item


def _literal_or_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def _to_int(value: Any) -> int:
    if isinstance(value, str):
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(value)


def _to_float(value: Any) -> float:
    if isinstance(value, str):
        return float(value.strip())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise TypeError(value)


_BOOL_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
        return _BOOL_WORDS[value.strip().lower()]
    raise ValueError(value)


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(value)


def _literal_of(kind: type):
    def coerce(value: Any) -> Any:
        parsed = ast.literal_eval(value) if isinstance(value, str) else value
        if not isinstance(parsed, kind):
            raise TypeError(value)
        return parsed
    return coerce


_COERCERS = {"int": _to_int, "float": _to_float, "bool": _to_bool, "str": _to_str,
             "list": _literal_of(list), "dict": _literal_of(dict), "tuple": _literal_of(tuple)}


def declared_parameters(notebook: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """A notebook's ``parameters`` cell as papermill reads it: name -> type, default and comment.

    ``notebook`` is a path or a short name of the default notebooks (``"data"``).

    Examples
    --------
    >>> declared_parameters("data")["seed"]["inferred_type_name"]
    'int'
    """
    import papermill

    path = Path(notebook)
    if not path.suffix == ".ipynb":
        notebooks = list_notebooks()
        if str(notebook) not in notebooks:
            raise ParameterError(f"The 'notebook' parameter must name one of {', '.join(notebooks)} or be a "
                                 f".ipynb path. Got {str(notebook)!r} instead.")
        path = notebooks[str(notebook)]
    return papermill.inspect_notebook(str(path))


def describe_parameters(notebook: str | os.PathLike) -> list[str]:
    """Lines ``name: type = default  # comment`` for ``workbench params NAME``.

    Examples
    --------
    >>> describe_parameters("data")[0].split(":")[0]
    'dataset'
    """
    declared = declared_parameters(notebook)
    width = max((len(f"{p['name']}: {p['inferred_type_name']} = {p['default']}") for p in declared.values()), default=0)
    lines = []
    for p in declared.values():
        head = f"{p['name']}: {p['inferred_type_name']} = {p['default']}"
        lines.append(f"{head:<{width}}  # {p['help']}" if p["help"] else head)
    return lines


def packaged_notebooks_dir() -> Path:
    """The notebooks that ship inside the package (``workbench/notebooks``, read with importlib.resources).

    >>> packaged_notebooks_dir().name
    'notebooks'
    """
    from importlib.resources import files

    return Path(str(files("workbench") / "notebooks"))


def default_notebooks_dir() -> Path:
    """Return a checkout's own ``notebooks/``, else the notebooks shipped in the package.

    Examples
    --------
    >>> default_notebooks_dir().name
    'notebooks'
    """
    checkout = _REPO_ROOT / "notebooks"
    if (_REPO_ROOT / "pyproject.toml").exists() and checkout.is_dir():
        return checkout
    packaged = packaged_notebooks_dir()
    return packaged if packaged.is_dir() else checkout
