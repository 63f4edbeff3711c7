"""Tests for workbench.reports and workbench.environment.

The runner tests really execute the tiny fixture notebooks in ``tests/fixtures/notebooks`` (one per
behaviour) with the ``nlp-workbench`` kernel; each takes a few seconds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench import reports
from workbench.environment import cpu_info, environment_info, package_versions
from workbench.errors import NotebookParameterError, ParameterError
from workbench.reports import (
    coerce_parameter,
    convert_to_html,
    list_notebooks,
    record,
    resolve_parameters,
    run_report,
)

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
HEADLESS_BEFORE = os.environ.get(reports.HEADLESS_VARIABLE)
EXTERNAL = re.compile(r'<(?:script[^>]*\ssrc|link[^>]*\shref)\s*=\s*["\']?(?:https?:)?//', re.I)


def copy_notebooks(folder: Path, *names: str) -> Path:
    """Copy fixtures into ``folder`` as ``00_<name>.ipynb``, ``01_<name>.ipynb``, ..."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, name in enumerate(names):
        shutil.copy(FIXTURES / f"{name}.ipynb", folder / f"{number:02d}_{name}.ipynb")
    return folder


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    """One run of three notebooks, two at a time: one succeeds, one raises, one carries markup."""
    notebooks = copy_notebooks(tmp_path_factory.mktemp("notebooks"), "ok", "fails", "xss")
    output = tmp_path_factory.mktemp("reports") / "run"
    return run_report(notebooks_dir=notebooks, output=output, jobs=2, cwd=tmp_path_factory.mktemp("typed_here"),
                      params={"scale": "0.25", "verbose": "yes", "seed": "3"})


def by_name(result, name):
    return next(run for run in result.notebooks if run.name == name)


# --- the runner, on real kernels -------------------------------------------------------------

@pytest.mark.notebook
def test_ok_notebook_writes_html_ipynb_and_sidecars(mixed_run):
    run = by_name(mixed_run, "ok")
    folder = mixed_run.run_dir / "ok"
    assert run.status == "ok" and run.error is None
    assert (run.html, run.ipynb, run.summary, run.results) == (
        folder / "ok.html", folder / "ok.ipynb", folder / "summary.json", folder / "results.csv")
    assert pd.read_csv(run.results)["value"].tolist() == [0.125, 0.0625]
    summary = json.loads(run.summary.read_text())
    assert summary["score"] == 0.125
    assert summary["dataset"]["hash"] == "0123456789abcdef0123"
    assert summary["environment"]["packages"]["papermill"]


@pytest.mark.notebook
def test_set_values_arrive_with_the_declared_types(mixed_run):
    summary = json.loads(by_name(mixed_run, "ok").summary.read_text())
    assert summary["params"] == {"dataset": "toy", "seed": 3, "scale": 0.25, "verbose": True,
                                 "profile": "default"}
    assert summary["types"] == {"dataset": "str", "seed": "int", "scale": "float",
                                "verbose": "bool", "profile": "str"}


@pytest.mark.notebook
def test_a_parameter_goes_only_to_the_notebooks_declaring_it(mixed_run):
    run_json = json.loads((mixed_run.run_dir / "run.json").read_text())
    parameters = {entry["name"]: entry["parameters"] for entry in run_json["notebooks"]}
    assert parameters["fails"] == {"profile": "default", "seed": 3}
    assert parameters["xss"] == {"profile": "default"}


@pytest.mark.notebook
def test_kernel_runs_headless_in_the_folder_where_the_command_was_typed(mixed_run):
    summary = json.loads(by_name(mixed_run, "ok").summary.read_text())
    # Relative paths in parameters resolve there (not in the run folder, not in notebooks/).
    assert Path(summary["cwd"]).name.startswith("typed_here")
    assert summary["headless"] == "1"
    assert os.environ.get(reports.HEADLESS_VARIABLE) == HEADLESS_BEFORE  # restored after the run


@pytest.mark.notebook
def test_failing_notebook_gets_html_with_the_error_and_others_still_run(mixed_run):
    failed = by_name(mixed_run, "fails")
    assert failed.status == "failed"
    assert failed.error == "ValueError: boom from the failing fixture"
    assert "boom from the failing fixture" in failed.html.read_text()
    assert failed.summary is None
    assert [run.status for run in mixed_run.notebooks] == ["ok", "failed", "ok"]  # file order
    assert not mixed_run.ok and mixed_run.failed == ["fails"]


@pytest.mark.notebook
def test_run_json_describes_every_notebook(mixed_run):
    run_json = json.loads((mixed_run.run_dir / "run.json").read_text())
    assert run_json["ok"] is False and run_json["profile"] == "default"
    failed = run_json["notebooks"][1]
    assert failed["name"] == "fails" and failed["status"] == "failed"
    assert failed["html"] == "fails/fails.html" and failed["summary"] is None
    assert failed["error"].startswith("ValueError")


@pytest.mark.notebook
def test_index_has_a_row_per_notebook_with_relative_links(mixed_run):
    index = mixed_run.index.read_text()
    assert mixed_run.index == mixed_run.run_dir / "index.html"
    assert index.count("<tr><td>") == 3
    assert 'class="status failed"' in index and "boom from the failing fixture" in index
    for link in ("ok/ok.html", "ok/ok.ipynb", "ok/summary.json", "ok/results.csv",
                 "fails/fails.html"):
        assert f'href="{link}"' in index
    assert 'href="fails/summary.json"' not in index
    assert "score: <b>0.125</b>" in index and "0123456789ab · train 3 / test 1" in index


@pytest.mark.notebook
def test_index_escapes_text_from_summaries(mixed_run):
    index = mixed_run.index.read_text()
    assert "<script>alert(1)</script>" not in index
    assert "label: <b>&lt;script&gt;alert(1)&lt;/script&gt;</b>" in index


@pytest.mark.notebook
def test_html_is_self_contained_titled_and_hides_code(mixed_run):
    pages = sorted(mixed_run.run_dir.rglob("*.html"))
    assert len(pages) == 4
    for page in pages:
        assert not EXTERNAL.search(page.read_text()), page
    html = by_name(mixed_run, "ok").html.read_text()
    assert "<title>ok</title>" in html
    assert "visible output from the ok fixture" in html
    assert "import pandas" not in html


@pytest.mark.notebook
def test_show_code_keeps_the_input(mixed_run, tmp_path):
    page = convert_to_html(by_name(mixed_run, "ok").ipynb, tmp_path / "ok.html", show_code=True,
                           title="Shown <code>")
    html = page.read_text()
    assert "<title>Shown &lt;code&gt;</title>" in html
    assert "import" in html and "pandas" in html and "visible output from the ok fixture" in html
    assert not EXTERNAL.search(html)


@pytest.mark.notebook
def test_a_missing_kernel_fails_each_notebook_but_the_run_completes(tmp_path):
    notebooks = copy_notebooks(tmp_path / "notebooks", "ok", "xss")
    result = run_report(notebooks_dir=notebooks, output=tmp_path / "run", only="ok",
                        kernel_name="no-such-kernel")
    [run] = result.notebooks
    assert run.status == "failed" and "no-such-kernel" in run.error
    assert result.index.exists() and not result.ok


def test_a_notebook_that_fails_without_output_still_gets_a_row(tmp_path, monkeypatch):
    import papermill

    def explode(*args, **kwargs):
        raise RuntimeError("disk full\nsecond line")

    monkeypatch.setattr(papermill, "execute_notebook", explode)
    notebooks = copy_notebooks(tmp_path / "notebooks", "ok")
    result = run_report(notebooks_dir=notebooks, output=tmp_path / "run")
    [run] = result.notebooks
    assert (run.status, run.error, run.ipynb, run.html) == (
        "failed", "RuntimeError: disk full", None, None)
    assert "RuntimeError: disk full" in result.index.read_text()


# --- validation before anything runs ----------------------------------------------------------

@pytest.fixture
def notebooks(tmp_path):
    return copy_notebooks(tmp_path / "notebooks", "ok", "fails", "xss")


def test_unknown_and_mistyped_parameters_give_one_error_and_run_nothing(notebooks, tmp_path):
    message = (r"^Invalid notebook parameters: 'nonexistent' is not a parameter of ok, fails, xss "
               r"\(known: dataset, label, scale, seed, verbose\); 'seed' must be int, got 'abc'\.$")
    with pytest.raises(NotebookParameterError, match=message):
        run_report(notebooks_dir=notebooks, output=tmp_path / "run",
                   params={"nonexistent": "1", "seed": "abc"})
    assert not (tmp_path / "run").exists()


def test_profile_and_runner_owned_parameters_are_checked(notebooks):
    with pytest.raises(NotebookParameterError, match=r"'profile' must be one of smoke, default, "
                       r"full, got 'quick'; 'output_dir' is set by the runner, use --output"):
        resolve_parameters(list_notebooks(notebooks), {"output_dir": "x"}, profile="quick")


def test_only_with_an_unknown_name_lists_the_valid_ones(notebooks):
    with pytest.raises(ParameterError, match=r"among ok, fails, xss\. Got nope instead"):
        run_report(notebooks_dir=notebooks, only="ok,nope")


def test_an_unreadable_notebook_is_reported_before_running(tmp_path):
    folder = copy_notebooks(tmp_path / "notebooks", "ok")
    (folder / "01_broken.ipynb").write_text("{not json")
    with pytest.raises(NotebookParameterError, match=r"broken cannot be read as a notebook"):
        resolve_parameters(list_notebooks(folder), {})


def test_resolve_parameters_coerces_per_notebook(notebooks):
    resolved = resolve_parameters(list_notebooks(notebooks), {"seed": "7", "label": "hi"},
                                  profile="smoke")
    assert resolved == {"ok": {"profile": "smoke", "seed": 7},
                        "fails": {"profile": "smoke", "seed": 7},
                        "xss": {"profile": "smoke", "label": "hi"}}


def test_list_notebooks_drops_number_prefixes_in_file_order(notebooks):
    assert list(list_notebooks(notebooks)) == ["ok", "fails", "xss"]


def test_list_notebooks_rejects_clashing_names_and_empty_folders(notebooks, tmp_path):
    shutil.copy(FIXTURES / "ok.ipynb", notebooks / "10_ok.ipynb")
    with pytest.raises(ParameterError, match="'00_ok.ipynb' and '10_ok.ipynb'"):
        list_notebooks(notebooks)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParameterError, match="must hold .ipynb files"):
        list_notebooks(tmp_path / "empty")


@pytest.mark.parametrize("value, type_name, expected", [
    ("42", "int", 42), (" 7 ", "int", 7), (5, "int", 5),
    ("0.5", "float", 0.5), ("1e-3", "float", 0.001), (2, "float", 2.0),
    ("true", "bool", True), ("YES", "bool", True), ("1", "bool", True),
    ("false", "bool", False), ("no", "bool", False), ("0", "bool", False), (True, "bool", True),
    ("my.csv", "str", "my.csv"), ("", "str", ""),
    ("[1, 2]", "list", [1, 2]), ("['a']", "list[str]", ["a"]), ("{'a': 1}", "dict", {"a": 1}),
    ("none", "int | None", None), ("3", "Optional[int]", 3), ("3", "None", 3), ("x y", "None", "x y"),
])
def test_coerce_parameter_converts_to_the_declared_type(value, type_name, expected):
    coerced = coerce_parameter(value, type_name)
    assert coerced == expected and type(coerced) is type(expected)


@pytest.mark.parametrize("value, type_name", [
    ("abc", "int"), ("1.5", "int"), (True, "int"), ("x", "float"), ("maybe", "bool"),
    (1, "bool"), (3, "str"), ("[1", "list"), ("{'a': 1}", "list"), ("1", "complex"),
])
def test_coerce_parameter_rejects_what_does_not_fit(value, type_name):
    with pytest.raises((ValueError, TypeError, SyntaxError)):
        coerce_parameter(value, type_name)


# --- sidecars ---------------------------------------------------------------------------------

def test_record_converts_numpy_tuples_paths_and_non_finite(tmp_path):
    out = record(tmp_path / "nb", summary={
        "accuracy": np.float32(0.5), "n": np.int64(3), "curve": np.arange(3), "shape": (2, 3),
        "where": Path("/data/x.csv"), "nan": float("nan"), "by_seed": {np.int64(1): np.bool_(True)},
        "tags": {"b", "a"}}, results=pd.DataFrame({"metric": ["acc"], "value": [0.5]}),
        params={"seed": 0}, dataset={"source": "toy", "sizes": {"train": 3}, "hash": "abc"})
    assert out == tmp_path / "nb"
    summary = json.loads((out / "summary.json").read_text())
    assert {k: summary[k] for k in ("accuracy", "n", "curve", "shape", "where", "nan",
                                    "by_seed", "tags")} == {
        "accuracy": 0.5, "n": 3, "curve": [0, 1, 2], "shape": [2, 3], "where": "/data/x.csv",
        "nan": None, "by_seed": {"1": True}, "tags": ["a", "b"]}
    assert summary["params"] == {"seed": 0}
    assert summary["dataset"] == {"source": "toy", "sizes": {"train": 3}, "hash": "abc"}
    assert set(summary["environment"]) >= {"python", "packages", "cpu", "git_commit"}
    assert (out / "results.csv").read_text() == "metric,value\nacc,0.5\n"


def test_record_leaves_no_half_written_files(tmp_path):
    frame = pd.DataFrame({"value": [1]})
    record(tmp_path, summary={"v": 1}, results=frame, params={})
    with pytest.raises(ParameterError, match=r"summary\['model'\] is a object"):
        record(tmp_path, summary={"v": 2, "model": object()}, results=frame, params={})
    assert json.loads((tmp_path / "summary.json").read_text())["v"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "summary.json"]


def test_record_rejects_reserved_summary_keys_and_non_frames(tmp_path):
    with pytest.raises(ParameterError, match=r"\['params'\]"):
        record(tmp_path, summary={"params": {}}, results=pd.DataFrame(), params={})
    with pytest.raises(ParameterError, match="must be a pandas DataFrame. Got list"):
        record(tmp_path, summary={}, results=[1], params={})


def test_headline_figures_prefer_the_headline_list():
    summary = {"headline": ["best.name", "speedup"], "best": {"name": "int8", "acc": 0.8},
               "speedup": 1.8, "other": 3}
    assert reports._headline_figures(summary) == {"best.name": "int8", "speedup": 1.8}


def test_headline_figures_fall_back_to_numeric_leaves():
    summary = {"a": 1, "flag": True, "text": "x", "deep": {"b": {"c": 2.5, "d": {"e": 9}}},
               "params": {"seed": 0}, "environment": {"cores": 2}, "dataset": {"rows": 5},
               **{f"m{i}": i for i in range(10)}}
    figures = reports._headline_figures(summary)
    assert list(figures)[:2] == ["a", "deep.b.c"] and len(figures) == 8


# --- environment ------------------------------------------------------------------------------

def test_environment_never_includes_environment_variables(monkeypatch, tmp_path):
    secret = "sk-test-5ecret-7f3a9c1d"
    monkeypatch.setenv("WORKBENCH_FAKE_API_KEY", secret)
    assert secret not in json.dumps(environment_info())
    record(tmp_path, summary={}, results=pd.DataFrame(), params={})
    text = (tmp_path / "summary.json").read_text()
    assert secret not in text and "WORKBENCH_FAKE_API_KEY" not in text


def test_environment_describes_versions_cpu_threads_and_commit():
    info = environment_info()
    assert info["packages"]["pandas"] == pd.__version__
    assert info["cpu"]["logical_cores"] >= 1 and info["torch_threads"] >= 1
    assert info["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}", info["git_commit"])


def test_cpu_info_keeps_the_flags_that_matter(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Fake Xeon\n"
                       "flags\t\t: fpu sse2 avx2 fma avx512f avx512_vnni amx_tile avx_vnni\n\n"
                       "processor\t: 1\nmodel name\t: Other\n")
    info = cpu_info(cpuinfo)
    assert info["model"] == "Fake Xeon"
    assert info["flags"] == ["amx_tile", "avx2", "avx512_vnni", "avx512f", "avx_vnni", "fma"]


def test_package_versions_skips_missing_packages():
    assert package_versions(("pandas", "surely-not-installed-pkg")) == {"pandas": pd.__version__}


def test_index_formats_numbers_compactly():
    assert [reports._format_value(v) for v in (0.123456, 12000, True, "x", None, float("nan"))] == [
        "0.1235", "12,000", "True", "x", "n/a", "n/a"]


def test_markdown_images_are_embedded_from_the_source_folder(tmp_path):
    import nbformat
    from nbformat.v4 import new_markdown_cell, new_notebook

    source = tmp_path / "source"
    source.mkdir()
    # The smallest valid PNG: 1x1 transparent pixel.
    (source / "pixel.png").write_bytes(bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"))
    notebook = tmp_path / "run" / "nb.ipynb"
    notebook.parent.mkdir()
    nbformat.write(new_notebook(cells=[new_markdown_cell("![a pixel](pixel.png)")]), notebook)
    html = convert_to_html(notebook, tmp_path / "nb.html", images_dir=source).read_text()
    assert 'src="data:image/png;base64,' in html and 'src="pixel.png"' not in html


def test_a_text_progress_bar_shows_only_its_last_state_in_the_html(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    cell = new_code_cell("run()")
    cell.outputs = [new_output("stream", name="stderr", text=f"\rfits: {p}%|{'#' * (p // 10)}| {p}/100")
                    for p in (0, 40, 100)] + [new_output("stream", name="stdout", text="done\n")]
    notebook = tmp_path / "nb.ipynb"
    nbformat.write(new_notebook(cells=[cell]), notebook)
    page = convert_to_html(notebook, tmp_path / "nb.html").read_text()
    assert "fits: 100%" in page and "done" in page
    assert "fits: 0%" not in page and "fits: 40%" not in page


def test_sidecars_are_readable_like_any_new_file(tmp_path):
    old = os.umask(0o022)
    try:
        record(tmp_path, summary={}, results=pd.DataFrame(), params={})
    finally:
        os.umask(old)
    assert {oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir()} == {"0o644"}


def test_report_kernels_talk_over_unix_sockets_not_tcp_ports():
    import asyncio

    from workbench.reports.kernels import ipc_kernel_manager as _ipc_kernel_manager

    async def start_and_stop():
        manager = _ipc_kernel_manager()(kernel_name="nlp-workbench")
        await manager.start_kernel()
        client = manager.client()
        client.start_channels()
        await client.wait_for_ready(timeout=60)
        info = manager.get_connection_info()
        sockets = [path.is_socket() for path in Path(info["ip"]).parent.glob(Path(info["ip"]).name + "-*")]
        client.stop_channels()
        await manager.shutdown_kernel()
        leftover = sorted(Path(info["ip"]).parent.glob(Path(info["ip"]).name + "-*"))
        return info, sockets, leftover

    info, sockets, leftover = asyncio.run(start_and_stop())
    assert info["transport"] == "ipc" and len(sockets) == 5  # shell, iopub, stdin, control, heartbeat
    assert all(sockets) and leftover == []
