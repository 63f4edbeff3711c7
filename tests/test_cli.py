"""Tests for the ``workbench`` command line: exit codes, one-line errors, the lab command."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from workbench.cli import format_lines, lab_command, lab_environment, main

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"


@pytest.fixture
def notebooks(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for number, name in enumerate(["ok", "fails"]):
        shutil.copy(FIXTURES / f"{name}.ipynb", folder / f"{number:02d}_{name}.ipynb")
    return folder


def report(notebooks, output, *args):
    return main(["report", "--notebooks", str(notebooks), "--output", str(output), *args])


@pytest.mark.notebook
def test_report_exits_1_when_a_notebook_fails_and_prints_the_index(notebooks, tmp_path, capsys):
    code = report(notebooks, tmp_path / "run", "--jobs", "2", "--set", "seed=5")
    out, err = capsys.readouterr()
    assert code == 1
    assert out.strip() == f"Report: {tmp_path / 'run' / 'index.html'}"
    assert "fails failed: ValueError: boom from the failing fixture" in err
    assert json.loads((tmp_path / "run" / "ok" / "summary.json").read_text())["params"]["seed"] == 5


@pytest.mark.notebook
def test_report_exits_0_when_every_notebook_succeeds(notebooks, tmp_path):
    assert report(notebooks, tmp_path / "run", "--only", "ok", "--profile", "smoke") == 0
    summary = json.loads((tmp_path / "run" / "ok" / "summary.json").read_text())
    assert summary["params"]["profile"] == "smoke"
    assert not (tmp_path / "run" / "fails").exists()


def test_parameter_mistakes_exit_2_with_one_line_naming_all(notebooks, tmp_path, capsys):
    code = report(notebooks, tmp_path / "run", "--set", "nonexistent=1", "--set", "seed=abc")
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "'nonexistent' is not a parameter of ok, fails" in err
    assert "'seed' must be int, got 'abc'" in err
    assert not (tmp_path / "run").exists()


def test_unknown_only_exits_2_listing_the_notebooks(notebooks, tmp_path, capsys):
    assert report(notebooks, tmp_path / "run", "--only", "nope") == 2
    assert "among ok, fails. Got nope instead" in capsys.readouterr().err


@pytest.mark.parametrize("args, named", [
    (["--set", "seed"], "expected KEY=VALUE, got 'seed'"),
    (["--profile", "quick"], "invalid choice: 'quick'"),
    (["--jobs", "two"], "invalid int value: 'two'"),
])
def test_usage_errors_exit_2_and_name_the_argument(notebooks, tmp_path, capsys, args, named):
    assert report(notebooks, tmp_path / "run", *args) == 2
    assert named in capsys.readouterr().err


def test_jobs_below_one_is_a_parameter_error(notebooks, tmp_path, capsys):
    assert report(notebooks, tmp_path / "run", "--jobs", "0") == 2
    assert "'jobs' parameter of run_report must be an int >= 1" in capsys.readouterr().err


def test_help_exits_0(capsys):
    assert main(["report", "--help"]) == 0
    assert "--set KEY=VALUE" in capsys.readouterr().out


def test_lab_binds_localhost_with_a_fresh_token(tmp_path):
    first = lab_command(port=8899, notebooks_dir=tmp_path)
    second = lab_command(port=8899, notebooks_dir=tmp_path)
    assert first[:3] == [sys.executable, "-m", "jupyterlab"]
    assert "--ServerApp.ip=127.0.0.1" in first and "--no-browser" in first
    assert first[first.index("--notebook-dir") + 1] == str(tmp_path)
    assert "--ServerApp.port=8899" in first and first == second
    assert not [a for a in first if "token" in a.lower()]  # never in argv, where `ps` shows it
    tokens = [lab_environment()["JUPYTER_TOKEN"] for _ in range(2)]
    assert len(tokens[0]) >= 32 and tokens[0] != tokens[1]
    assert lab_environment("given")["JUPYTER_TOKEN"] == "given"


def test_info_prints_lines_or_json(capsys):
    assert main(["info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("python") and any(line.strip().startswith("pandas") for line in lines)
    assert main(["info", "--json"]) == 0
    assert "packages" in json.loads(capsys.readouterr().out)


def test_format_lines_indents_nested_dicts():
    assert format_lines({"python": "3.11", "cpu": {"flags": ["avx2", "fma"], "model": "X"}}) == [
        "python  3.11", "cpu", "  flags  avx2, fma", "  model  X"]


# ------------------------------------------------------------------------------------------ sweep

def _sweep(tmp_path, *args):
    return main(["sweep", "--storage", f"sqlite:///{tmp_path / 'sweeps.db'}", "--study", "s", "--model", "mlp",
                 "--profile", "smoke", "--sampler", "random", "--sampler-seed", "0", "--epochs", "1", "--heartbeat",
                 "0", *args])


def test_sweep_runs_one_worker_until_the_study_holds_n_trials(tmp_path, capsys):
    import optuna

    assert _sweep(tmp_path, "--n-trials", "3") == 0
    out = capsys.readouterr().out
    assert out.startswith("study s: this worker ran 3 complete; the study holds 3 finished trials (budget reached)")
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'sweeps.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    assert all(0.0 <= t.value <= 1.0 and t.user_attrs["epochs"] == 1 for t in study.trials)
    assert _sweep(tmp_path, "--n-trials", "3") == 0  # a second worker finds the study full
    assert "this worker ran no trials; the study holds 3 finished trials" in capsys.readouterr().out


def test_sweep_refuses_another_budget_or_fingerprint_until_asked_to_start_over(tmp_path, capsys):
    import optuna

    assert _sweep(tmp_path, "--n-trials", "2") == 0
    assert _sweep(tmp_path, "--n-trials", "4") == 2
    assert "has a budget of n_trials=2; this worker asks for 4" in capsys.readouterr().err
    assert _sweep(tmp_path, "--n-trials", "2", "--epochs", "2") == 2  # another objective setting
    line = capsys.readouterr().err.splitlines()[-1]  # after Optuna's own log line
    assert line.startswith("workbench sweep: error: The study 's' was filled with another objective setting epochs "
                           "(1, this worker: 2)") and "--new-study" in line
    assert len(optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'sweeps.db'}").trials) == 2
    assert _sweep(tmp_path, "--n-trials", "3", "--extend") == 0
    assert _sweep(tmp_path, "--n-trials", "2", "--epochs", "2", "--new-study") == 0
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'sweeps.db'}")
    assert len(study.trials) == 2 and all(t.user_attrs["epochs"] == 2 for t in study.trials)


def test_sweep_on_other_hosts_refuses_an_sqlite_storage(tmp_path, capsys):
    assert _sweep(tmp_path, "--n-trials", "2", "--workers-on-other-hosts") == 2
    err = capsys.readouterr().err
    assert "must be a database server when workers run on other hosts" in err and "postgresql://" in err
    assert not (tmp_path / "sweeps.db").exists()


def test_sweep_with_an_unreachable_storage_exits_2_with_one_line(capsys):
    code = main(["sweep", "--storage", "postgresql://sweeper:hunter2@127.0.0.1:1/db", "--n-trials", "2"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err and "hunter2" not in err
    assert err.startswith("workbench sweep: error: Could not open the Optuna storage postgresql+psycopg2://sweeper:***@")


@pytest.mark.parametrize("args, message", [
    (["--space", "missing.yaml"], "must be an existing YAML file. Got 'missing.yaml'"),
    (["--sampler", "bayes"], "invalid choice: 'bayes'"),
    (["--pruner", "patient"], "invalid choice: 'patient'"),
    (["--objectives", "latency_ms"], "must start with a quality metric"),
])
def test_sweep_mistakes_exit_2_and_name_the_problem(tmp_path, capsys, args, message):
    assert _sweep(tmp_path, "--n-trials", "2", *args) == 2
    assert message in capsys.readouterr().err
