"""Installable like a library: the wheel carries its notebooks, keeps the user's numpy and pandas, and
`workbench report` works from an empty folder. Builds a wheel and a fresh venv (a few minutes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Older than the lock, inside pyproject's ranges: an existing environment the package must not upgrade.
USER_PINS = ["numpy==2.2.6", "pandas==2.2.3"]


def _run(*args: str, cwd: Path, env: dict | None = None, timeout: int = 900) -> str:
    done = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT), cwd=out)
    [path] = out.glob("nlp_workbench-*.whl")
    return path


def test_the_wheel_carries_every_notebook(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(Path(n).name for n in names if n.startswith("workbench/notebooks/") and n.endswith(".ipynb"))
    assert shipped == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert any(n.startswith("workbench/metrics/accuracy/") for n in names)


@pytest.mark.slow
@pytest.mark.notebook
def test_an_installed_wheel_keeps_older_numpy_and_pandas_and_reports_from_an_empty_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", str(venv), cwd=tmp_path)
    python = str(venv / "bin" / "python")
    # The user's environment first: the CPU torch these machines carry, and older numpy/pandas.
    _run(python, "-m", "pip", "install", "--quiet", "torch==2.13.0", *USER_PINS, cwd=tmp_path)
    _run(python, "-m", "pip", "install", "--quiet", str(wheel), cwd=tmp_path)
    versions = _run(python, "-c", "import numpy, pandas; print(numpy.__version__, pandas.__version__)", cwd=tmp_path)
    assert versions.split() == [pin.split("==")[1] for pin in USER_PINS]
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "WORKBENCH_"))}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg")
    workbench = str(venv / "bin" / "workbench")
    out = _run(workbench, "params", "data", cwd=empty, env=env)
    assert out.splitlines()[1].startswith("dataset: str")
    _run(workbench, "report", "--profile", "smoke", "--only", "data", cwd=empty, env=env)
    # reports/<timestamp>, in the folder where the command was typed, beside the list of runs and the cache keys
    [run_dir] = [p for p in (empty / "reports").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert (empty / "reports" / "index.html").exists()
    run = json.loads((run_dir / "run.json").read_text())
    assert [(e["name"], e["status"]) for e in run["notebooks"]] == [("data", "ok")]
    assert sorted(p.name for p in empty.iterdir()) == ["reports"]  # nothing else written in the user's folder
