"""What a result depends on besides its parameters: versions, CPU, threads, git commit.

Every ``summary.json`` carries :func:`environment_info` so that a figure can be read against the
machine that produced it (bf16 is slower than fp32 on a CPU without AMX, int8 pays off with VNNI,
...). Environment variables are never read into it: reports get shared, and variables hold tokens.

>>> info = environment_info()
>>> sorted(info)
['cpu', 'cpu_flags', 'git_commit', 'git_dirty', 'packages', 'platform', 'python', 'torch_threads']
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from workbench import hardware
from workbench.hardware import CPUINFO

# Distribution names (as pip knows them); optional ones are simply absent when not installed.
PACKAGES = (
    "torch", "transformers", "tokenizers", "datasets", "accelerate", "scikit-learn", "numpy",
    "pandas", "papermill", "nbconvert", "onnxruntime", "optuna", "nlpaug",
)

_REPO_ROOT = Path(__file__).resolve().parents[1]


def environment_info() -> dict[str, Any]:
    """Describe the interpreter, packages, CPU and code version behind a result.

    Returns
    -------
    dict
        ``python``, ``platform``, ``packages`` (name -> version, installed ones only), ``cpu``
        (see :func:`cpu_info`), ``cpu_flags`` (the same flags as ``cpu["flags"]``, at top level so
        reports can cite ``environment.cpu_flags``), ``torch_threads`` (None without torch),
        ``git_commit`` and ``git_dirty`` (None outside a git checkout). No environment variables,
        no hostname.

    Examples
    --------
    >>> environment_info()["packages"]["papermill"]
    '2.7.0'
    """
    commit, dirty = _git_state(_REPO_ROOT)
    cpu = cpu_info()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "cpu": cpu,
        "cpu_flags": list(cpu["flags"]),
        "torch_threads": _torch_threads(),
        "git_commit": commit,
        "git_dirty": dirty,
    }


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Return the installed version of each distribution in ``names``, skipping missing ones.

    Examples
    --------
    >>> package_versions(("papermill", "not-a-package"))
    {'papermill': '2.7.0'}
    """
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def cpu_info(cpuinfo: str | Path = CPUINFO) -> dict[str, Any]:
    """Return the CPU model, core counts and the instruction-set flags that change NLP speed.

    The flags kept are the ones a technique's payoff hinges on: ``avx2``, ``fma``, every
    ``avx512*``, ``amx*`` and ``*vnni*`` (int8 dot products). The probes are those of
    :mod:`workbench.hardware`.

    Parameters
    ----------
    cpuinfo : str or Path
        Linux's cpuinfo file; on other systems (or when unreadable) the model comes from
        :func:`platform.processor` and ``flags`` is empty.

    Examples
    --------
    >>> _ = Path("cpuinfo").write_text("model name : Fake CPU\\nflags : fpu sse2 avx2 fma avx512f avx512_vnni\\n")
    >>> info = cpu_info("cpuinfo")
    >>> info["model"], info["flags"]
    ('Fake CPU', ['avx2', 'avx512_vnni', 'avx512f', 'fma'])
    """
    fields = hardware.cpu_fields(cpuinfo)
    flags = fields.get("flags", "").split()
    return {
        "model": fields.get("model name") or platform.processor() or None,
        "flags": sorted(f for f in flags if _is_flag_of_interest(f)),
        "logical_cores": os.cpu_count(),
        "usable_cores": hardware.usable_cores(),
    }


def _is_flag_of_interest(flag: str) -> bool:
    return flag in ("avx2", "fma") or flag.startswith(("avx512", "amx")) or "vnni" in flag


def _torch_threads() -> int | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.get_num_threads()


def _git_state(repo: Path) -> tuple[str | None, bool | None]:
    # Only the package's own checkout counts: an installed copy may sit inside an unrelated repo.
    if not (repo / ".git").exists():
        return None, None
    commit = _git(repo, "rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = _git(repo, "status", "--porcelain", "--untracked-files=no")
    return commit, None if status is None else bool(status)


def _git(repo: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
