"""The runner's contract: degraded runs, timing notebooks alone, Ctrl-C, short sockets, typed lists, redaction.

Real kernels execute the tiny fixture notebooks in ``tests/fixtures/notebooks`` (one per behaviour).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from workbench import cli
from workbench.errors import NotebookParameterError
from workbench.reports import RunInterrupted, run_report
from workbench.reports import runner as runner_module
from workbench.reports.kernels import SOCKET_PATH_LIMIT, socket_base
from workbench.reports.redact import default_roots, redact_folder, redact_text

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"


def notebooks(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for number, name in enumerate(names):
        shutil.copy(FIXTURES / f"{name}.ipynb", folder / f"{number:02d}_{name}.ipynb")
    return folder


# --- degraded and failed ---------------------------------------------------------------------

@pytest.mark.notebook
def test_some_failed_configurations_make_a_degraded_row_and_exit_1(tmp_path, capsys):
    folder = notebooks(tmp_path / "nb", "degraded")
    code = cli.main(["report", "--notebooks", str(folder), "--output", str(tmp_path / "run")])
    assert code == 1
    assert "degraded: 1 of 3 trainings failed" in capsys.readouterr().err
    index = (tmp_path / "run" / "index.html").read_text()
    assert "degraded: 1 of 3 trainings failed" in index
    page = (tmp_path / "run" / "degraded" / "degraded.html").read_text()
    assert "RuntimeError: injected" in page  # the page lists the reasons
    run_json = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run_json["ok"] is False and run_json["notebooks"][0]["status"] == "degraded"


@pytest.mark.notebook
def test_allow_degraded_accepts_lost_configurations_but_not_failures(tmp_path):
    folder = notebooks(tmp_path / "nb", "degraded")
    args = ["report", "--notebooks", str(folder), "--allow-degraded"]
    assert cli.main([*args, "--output", str(tmp_path / "a")]) == 0
    # Every configuration failing is no longer degraded: the notebook fails.
    assert cli.main([*args, "--output", str(tmp_path / "b"), "--set", "failures=3"]) == 1
    run_json = json.loads((tmp_path / "b" / "run.json").read_text())
    entry = run_json["notebooks"][0]
    assert entry["status"] == "failed"
    assert entry["error"] == "ExperimentFailedError: No trainings succeeded (3 of 3 failed): a: RuntimeError: injected"


@pytest.mark.notebook
def test_a_notebook_without_failures_is_ok(tmp_path):
    result = run_report(notebooks_dir=notebooks(tmp_path / "nb", "degraded"), output=tmp_path / "run",
                        params={"failures": "0"})
    assert result.ok and result.notebooks[0].status == "ok" and result.notebooks[0].detail == ()


# --- scheduling, interruption, sockets -------------------------------------------------------

@pytest.mark.notebook
def test_timing_notebooks_run_alone_after_the_others(tmp_path):
    folder = notebooks(tmp_path / "nb", "timed")
    for name in ("plain_a", "plain_b"):  # the same notebook without the times_things mark
        notebook = json.loads((FIXTURES / "timed.ipynb").read_text())
        notebook["metadata"].pop("workbench")
        (folder / f"09_{name}.ipynb").write_text(json.dumps(notebook))
    run_report(notebooks_dir=folder, output=tmp_path / "run", jobs=2)
    summaries = {name: json.loads((tmp_path / "run" / name / "summary.json").read_text())
                 for name in ("timed", "plain_a", "plain_b")}
    # No other kernel was alive while the timing notebook measured, and the other two did share.
    assert summaries["timed"]["started"] >= max(s["ended"] for s in summaries.values() if s is not summaries["timed"])
    assert summaries["plain_a"]["started"] < summaries["plain_b"]["ended"]
    assert summaries["plain_b"]["started"] < summaries["plain_a"]["ended"]
    run_json = json.loads((tmp_path / "run" / "run.json").read_text())
    assert (run_json["jobs"], run_json["parallel_timing"]) == (2, False)
    assert not any(entry["beside_others"] for entry in run_json["notebooks"])


@pytest.mark.notebook
def test_parallel_timing_is_recorded_and_shown(tmp_path):
    folder = notebooks(tmp_path / "nb", "timed", "ok")
    run_report(notebooks_dir=folder, output=tmp_path / "run", jobs=2, parallel_timing=True)
    run_json = json.loads((tmp_path / "run" / "run.json").read_text())
    assert [e["beside_others"] for e in run_json["notebooks"]] == [True, False]
    assert "timed while other notebooks shared the cores" in (tmp_path / "run" / "index.html").read_text()


def test_ctrl_c_still_writes_the_index_and_run_json_for_what_finished(tmp_path, monkeypatch):
    real = runner_module._run_notebook
    calls = []

    def run_then_interrupt(name, *args, **kwargs):
        calls.append(name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(name, *args, **kwargs)

    monkeypatch.setattr(runner_module, "_run_notebook", run_then_interrupt)
    folder = notebooks(tmp_path / "nb", "ok", "xss", "fails")
    with pytest.raises(RunInterrupted) as stop:
        run_report(notebooks_dir=folder, output=tmp_path / "run")
    run_json = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run_json["interrupted"] is True and run_json["ok"] is False
    assert [e["status"] for e in run_json["notebooks"]] == ["ok", "failed", "failed"]
    assert "interrupted" in run_json["notebooks"][2]["error"]
    assert stop.value.result.index.read_text().count("Interrupted (Ctrl-C)") == 1
    assert len(calls) == 2  # the third notebook never started


def test_kernel_sockets_stay_under_the_unix_limit_for_long_home_folders(tmp_path):
    long_runtime = tmp_path / ("h" * 60) / ("o" * 60) / "runtime"
    base = socket_base(long_runtime)
    assert len(f"{base}-65535") < SOCKET_PATH_LIMIT
    short = socket_base(tmp_path / "rt")
    assert short.parent == tmp_path / "rt"  # a short runtime folder is used as it is


def test_a_timeout_below_zero_is_refused_before_running(tmp_path, capsys):
    folder = notebooks(tmp_path / "nb", "ok")
    assert cli.main(["report", "--notebooks", str(folder), "--output", str(tmp_path / "r"), "--timeout", "-1"]) == 2
    assert "'timeout_per_cell' parameter of run_report must be a number of seconds > 0" in capsys.readouterr().err
    assert not (tmp_path / "r" / "ok").exists()


@pytest.mark.notebook
def test_timeout_fails_the_notebook_whose_cell_runs_too_long(tmp_path):
    result = run_report(notebooks_dir=notebooks(tmp_path / "nb", "timed"), output=tmp_path / "run",
                        timeout_per_cell=0.5)
    [run] = result.notebooks
    assert run.status == "failed" and "timed out" in run.error.lower()


# --- parameters ------------------------------------------------------------------------------

@pytest.mark.notebook
def test_list_parameters_arrive_typed_and_none_means_unset(tmp_path):
    folder = notebooks(tmp_path / "nb", "echo")
    run_report(notebooks_dir=folder, output=tmp_path / "a", params={"sizes": "[500,2000]"})
    summary = json.loads((tmp_path / "a" / "echo" / "summary.json").read_text())
    assert summary["params"]["sizes"] == [500, 2000] and summary["params"]["cap"] is None
    assert summary["types"] == ["list", "NoneType"]
    run_report(notebooks_dir=folder, output=tmp_path / "b", params={"cap": "0"})
    assert json.loads((tmp_path / "b" / "echo" / "summary.json").read_text())["params"]["cap"] == 0


def test_a_list_with_a_wrong_item_fails_before_anything_runs(tmp_path):
    folder = notebooks(tmp_path / "nb", "echo")
    with pytest.raises(NotebookParameterError, match=r"'sizes' must be list\[int\], got '\[500,\"x\"\]'"):
        run_report(notebooks_dir=folder, output=tmp_path / "run", params={"sizes": '[500,"x"]'})
    assert not (tmp_path / "run").exists()


def test_params_command_prints_type_default_and_comment(tmp_path, capsys):
    folder = notebooks(tmp_path / "nb", "echo")
    assert cli.main(["params", "echo", "--notebooks", str(folder)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("# 00_echo.ipynb")
    assert [line.split("#")[0].split()[0] for line in out[1:]] == [
        "dataset:", "storage:", "sizes:", "cap:", "profile:", "output_dir:"]
    assert out[3].startswith("sizes: list[int] = [1, 2]") and out[3].endswith("# a typed list")
    assert cli.main(["params", "nope", "--notebooks", str(folder)]) == 2
    assert "must be one of echo. Got 'nope' instead." in capsys.readouterr().err


# --- nothing private in a run folder ---------------------------------------------------------

@pytest.mark.notebook
def test_no_file_of_a_run_folder_holds_a_password_or_an_absolute_path(tmp_path, monkeypatch):
    home = tmp_path / "home" / "ann"
    data = home / "corpora" / "mine.csv"
    data.parent.mkdir(parents=True)
    data.write_text("text,label\n")
    monkeypatch.setenv("HOME", str(home))
    folder = notebooks(tmp_path / "nb", "echo")
    run = tmp_path / "run"
    run_report(notebooks_dir=folder, output=run, show_code=True,
               params={"dataset": str(data), "storage": "postgresql://u:secret@localhost/db"})
    files = [p for p in run.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"echo.html", "echo.ipynb", "summary.json", "results.csv", "run.json",
                                       "index.html"}
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "secret" not in text, path
        assert str(home) not in text and str(tmp_path) not in text, path
    summary = json.loads((run / "echo" / "summary.json").read_text())
    assert summary["storage"] == "postgresql://u:***@localhost/db"
    assert summary["dataset_path"] == "mine.csv"


def test_redact_text_keeps_relative_paths_and_lookalike_folders():
    roots = {"/home/ann/proj": "", "/home/ann": "~"}
    assert redact_text("/home/ann/proj/reports/x.html", roots=roots) == "reports/x.html"
    assert redact_text('"/home/ann/proj"', roots=roots) == '"."'
    assert redact_text("/home/ann/projects/y", roots=roots) == "~/projects/y"
    assert redact_text("/home/annex/z", roots=roots) == "/home/annex/z"
    assert redact_text("mysql+pymysql://bob:p%40ss@db:3306/x", roots={}) == "mysql+pymysql://bob:***@db:3306/x"
    assert redact_text("sqlite:///study.db and https://example.org/a:b", roots={}) == (
        "sqlite:///study.db and https://example.org/a:b")


def test_redact_folder_leaves_binary_files_alone(tmp_path):
    (tmp_path / "study.db").write_bytes(b"\x00\xffpostgresql://u:secret@h/db")
    (tmp_path / "page.html").write_text("postgresql://u:secret@h/db")
    changed = redact_folder(tmp_path, roots=default_roots())
    assert changed == [tmp_path / "page.html"]
    assert b"secret" in (tmp_path / "study.db").read_bytes()


# --- runs outside the runner -----------------------------------------------------------------

@pytest.mark.notebook
def test_plain_papermill_runs_write_their_sidecars_under_reports_not_beside_the_notebook(tmp_path, monkeypatch):
    import papermill

    monkeypatch.setenv("WORKBENCH_REPORTS", str(tmp_path / "reports"))
    folder = notebooks(tmp_path / "nb", "echo")
    monkeypatch.chdir(tmp_path)
    papermill.execute_notebook(str(folder / "00_echo.ipynb"), str(tmp_path / "out.ipynb"), kernel_name="nlp-workbench",
                               progress_bar=False, parameters={"sizes": [3]})
    summary = json.loads((tmp_path / "reports" / "interactive" / "echo" / "summary.json").read_text())
    assert summary["params"]["sizes"] == [3]
    assert sorted(p.name for p in folder.iterdir()) == ["00_echo.ipynb"]
    assert not (tmp_path / "summary.json").exists()


def test_index_shows_the_answer_sentence_first_and_readable_details(tmp_path):
    from workbench.reports.index import _write_index
    from workbench.reports.runner import NotebookRun

    verdict = {"question": "Does it pay off?", "answer": "pays off", "choice": "<script>x</script>",
               "baseline": "fp32", "metric": "accuracy",
               "effect": {"delta": 0.021, "rule": "superiority", "margin": 0.01, "decided_by": "example",
                          "min_detectable": 0.02},
               "ci95": [0.004, 0.038], "p_value": 0.01, "p_adjusted": 0.02, "n_comparisons": 2,
               "selected_on": "validation", "reported_on": "test", "n_seeds": 1, "n_examples": 1000, "cost": {}}
    folder = tmp_path / "nb"
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps({"verdict": verdict, "headline": ["strategies.tpe.best"],
                                                     "strategies": {"tpe": {"best": 0.8}}}))
    run = NotebookRun(name="nb", status="ok", seconds=1.0, folder=folder, ipynb=None, html=None,
                      summary=folder / "summary.json", results=None)
    page = _write_index(tmp_path, [run], profile="smoke").read_text()
    row = page.split("<tbody>")[1]
    assert row.index("pays off") < row.index('class="status ok"')  # the answer comes right after the name
    assert "+2.1 points accuracy" in row and "<script>x" not in row and "&lt;script&gt;x" in row
    assert "tpe best: <b>0.8</b>" in row and "strategies.tpe.best" not in row


@pytest.mark.timeout(20)  # a hang guard, not a speed assertion: the quadratic pattern took minutes here
def test_redact_text_reads_long_scheme_like_runs_once():
    assert redact_text("a." * 200_000 + " https://u:pw@h/x", roots={}).endswith("https://u:***@h/x")
