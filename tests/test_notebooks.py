"""Every notebook: hygiene of the committed file, and a real papermill run with profile ``smoke``."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat
import papermill
import pytest

from workbench.reports import list_notebooks, run_report

NOTEBOOKS = list_notebooks()
COMMON_PARAMETERS = {"dataset": "str", "text_column": "Optional[str]", "label_column": "Optional[str]", "seed": "int",
                     "profile": "str", "output_dir": "Optional[str]"}


def _parameters_cell(path: Path):
    cells = [c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name}: want exactly one cell tagged 'parameters', found {len(cells)}"
    return cells[0]


def _summary_leaf(summary: dict, dotted: str):
    node = summary
    for key in dotted.split("."):
        node = node[key]
    return node


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_is_a_clean_recipe(name):
    path = NOTEBOOKS[name]
    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "commit notebooks with outputs cleared"
    assert not [c for c in code if any(line.lstrip().startswith(("def ", "class "))
                                       for line in c.source.splitlines())], "logic belongs in workbench/"
    # A recipe: about 60 code lines in all (the parameters cell included), and no prose built in the
    # notebook (f-strings): findings come from the package as escaped Markdown.
    code_lines = [line for c in code for line in c.source.splitlines()
                  if line.strip() and not line.lstrip().startswith("#")]
    assert len(code_lines) <= 65, f"{name}: {len(code_lines)} code lines; move logic into workbench/"
    assert not [line for line in code_lines if re.search(r"\bf[\"']", line)], "no f-string prose in notebooks"
    lines = [line for line in _parameters_cell(path).source.splitlines() if line.strip()]
    declared = papermill.inspect_notebook(str(path))
    # Every line is one typed, commented literal that papermill understands.
    assert len(declared) == len(lines)
    assert all(":" in line.split("=")[0] and "  # " in line for line in lines)
    assert {k: declared[k]["inferred_type_name"] for k in COMMON_PARAMETERS} == COMMON_PARAMETERS


@pytest.mark.notebook
@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_runs_with_the_smoke_profile(name, tmp_path):
    result = run_report(only=name, profile="smoke", output=tmp_path / "run")
    assert result.ok, result.notebooks[0].error
    folder = tmp_path / "run" / name
    summary = json.loads((folder / "summary.json").read_text())
    assert {"params", "environment", "dataset"} <= set(summary)
    assert summary["params"]["profile"] == "smoke"
    # Every core experiment ran in full, and every headline figure exists.
    assert summary["run_status"]["status"] == "ok", summary["run_status"]["outcomes"]
    assert summary["run_status"]["missing_headline"] == []
    # The recorded parameters are the declared ones, read from the run (defaults here, but for the two the
    # runner sets; output_dir is made relative by the runner, so only its presence is checked).
    declared = papermill.inspect_notebook(str(NOTEBOOKS[name]))
    assert set(summary["params"]) == set(declared)
    assert isinstance(summary["params"]["output_dir"], str)
    defaults = {k: ast.literal_eval(p["default"]) for k, p in declared.items() if k not in ("profile", "output_dir")}
    assert {k: summary["params"][k] for k in defaults} == defaults
    assert (folder / "results.csv").stat().st_size > 0
    assert (folder / f"{name}.html").exists() and (tmp_path / "run" / "index.html").exists()
    # A shared report must not show where it was made (user names sit in home folders).
    assert str(tmp_path) not in (folder / f"{name}.html").read_text(encoding="utf-8")


@pytest.mark.notebook
def test_data_notebook_summary_keys_and_baseline(tmp_path):
    run_report(only="data", profile="smoke", output=tmp_path)
    summary = json.loads((tmp_path / "data" / "summary.json").read_text())
    assert set(summary["dataset"]["sizes"]) == {"train", "validation", "test"}
    assert len(summary["dataset"]["hash"]) == 64
    from workbench.verdicts import VERDICT_KEYS

    assert set(summary["verdict"]) == set(VERDICT_KEYS)
    assert summary["verdict"]["choice"] == "minilm" and summary["verdict"]["baseline"] == "tfidf_logreg"
    assert summary["verdict"]["answer"] in ("pays off", "no detectable effect", "costs accuracy", "inconclusive")
    assert summary["verdicts"]["normalization"]["selected_on"] == "validation"
    for model in ("tfidf_logreg", "finetuned"):
        accuracy = _summary_leaf(summary, f"baselines.{model}.accuracy")
        low, high = _summary_leaf(summary, f"baselines.{model}.ci95")
        assert 0.0 <= low <= accuracy <= high <= 1.0
        assert 0.0 <= _summary_leaf(summary, f"baselines.{model}.macro_f1") <= 1.0


@pytest.fixture
def hostile_csv(tmp_path):
    """A small two-class CSV whose texts carry markup that must never execute in a report."""
    import pandas as pd

    probe = "<script>alert(1)</script>"
    rows = [{"review": f"{probe} tasty snack {i}", "stars": "good"} for i in range(30)]
    rows += [{"review": f"stale crackers {i} <b>bad</b>", "stars": "bad"} for i in range(30)]
    path = tmp_path / "hostile.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.notebook
def test_data_report_escapes_dataset_text_and_is_reproducible(hostile_csv, tmp_path):
    params = {"dataset": str(hostile_csv), "text_column": "review", "label_column": "stars"}
    summaries = []
    for run in ("first", "second"):
        # force: the second run must execute again (unchanged inputs would be copied from the first).
        result = run_report(only="data", profile="smoke", params=params, output=tmp_path / run, force=True)
        assert result.ok, result.notebooks[0].error
        html = (tmp_path / run / "data" / "data.html").read_text(encoding="utf-8")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script>alert(1)</script>" not in html
        summary = json.loads((tmp_path / run / "data" / "summary.json").read_text())
        summary.pop("environment")
        summaries.append(summary)
    assert summaries[0] == summaries[1]
