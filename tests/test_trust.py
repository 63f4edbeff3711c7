"""Whole-run guarantees: the README's own-data command works as written, and no notebook reports ok
over lost results (every training call made to raise, by fault injection in the kernels)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from workbench.reports import list_notebooks, run_report

README = Path(__file__).resolve().parents[1] / "README.md"

# Loaded by every kernel started with IPYTHONDIR pointing here (IPython runs profile startup files).
FAULTS = '''
import sklearn.linear_model, sklearn.neural_network, transformers

def _boom(*args, **kwargs):
    raise RuntimeError("injected training failure")

transformers.Trainer.train = _boom
sklearn.linear_model.LogisticRegression.fit = _boom
sklearn.neural_network.MLPClassifier.fit = _boom
sklearn.neural_network.MLPClassifier.partial_fit = _boom
'''


def readme_own_data_command() -> list[str]:
    block = README.read_text(encoding="utf-8").split("## Your own data", 1)[1]
    line = re.search(r"^\.venv/bin/workbench report .*$", block, re.M).group(0)
    return shlex.split(line)


@pytest.mark.notebook
def test_the_readme_own_data_command_with_a_relative_path_gives_an_ok_report(tmp_path):
    command = readme_own_data_command()
    path = Path(next(arg.split("=", 1)[1] for arg in command if arg.startswith("dataset=")))
    assert not path.is_absolute()
    (tmp_path / path).parent.mkdir(parents=True)
    rows = [{"body": f"crisp tasty snack number {i}, would buy again", "rating": "5"} for i in range(40)]
    rows += [{"body": f"stale bland crackers batch {i}, never again", "rating": "1"} for i in range(40)]
    pd.DataFrame(rows).to_csv(tmp_path / path, index=False)
    executable = str(Path(sys.executable).parent / "workbench")
    done = subprocess.run([executable, *command[1:], "--output", "run"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert [(e["name"], e["status"]) for e in run["notebooks"]] == [("data", "ok")]
    summary = json.loads((tmp_path / "run" / "data" / "summary.json").read_text())
    assert summary["dataset"]["sizes"]["train"] + summary["dataset"]["sizes"]["test"] < 80
    assert summary["params"]["dataset"] == str(path)


@pytest.mark.notebook
def test_no_notebook_ends_ok_when_every_training_call_raises(tmp_path, monkeypatch):
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00_faults.py").write_text(FAULTS)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    result = run_report(profile="smoke", output=tmp_path / "run")
    assert [run.name for run in result.notebooks] == list(list_notebooks())
    for run in result.notebooks:
        assert run.status in ("failed", "degraded"), (run.name, run.status)
        page = run.html.read_text(encoding="utf-8")
        assert "injected training failure" in page, run.name
        if run.status == "failed":
            assert "injected training failure" in run.error or "succeeded" in run.error, (run.name, run.error)
    assert not result.ok


def test_list_parameters_of_the_real_notebooks_are_typed_and_checked_before_anything_runs(tmp_path):
    from workbench.errors import NotebookParameterError
    from workbench.reports import resolve_parameters

    notebooks = {"tokenization": list_notebooks()["tokenization"]}
    resolved = resolve_parameters(notebooks, {"downstream_vocab_sizes": "[500,2000]"}, profile="smoke")
    assert resolved["tokenization"]["downstream_vocab_sizes"] == [500, 2000]
    with pytest.raises(NotebookParameterError,
                       match=r"'downstream_vocab_sizes' must be Optional\[list\[int\]\], got '\[500,\"x\"\]'"):
        run_report(only="tokenization", profile="smoke", output=tmp_path / "run",
                   params={"downstream_vocab_sizes": '[500,"x"]'})
    assert not (tmp_path / "run").exists()
