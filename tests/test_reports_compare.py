"""Runs side by side and pages that read well: the list of runs, ``workbench compare``, tidy pages, thumbnails.

No kernel runs here: run folders are written by hand (``run.json`` and ``summary.json`` as the runner
and ``record`` write them), with markup in every string that comes from a run or a data set.
"""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from workbench import cli
from workbench.errors import ParameterError
from workbench.reports import compare_info, compare_runs, convert_to_html, list_runs, write_runs_index
from workbench.reports.pages import drop_range_index, key_plot, split_progress, tidy_notebook, write_thumbnail
from workbench.reports.sidecars import reports_root

PROBE = "<img src=x onerror=alert(1)>"
EXTERNAL = re.compile(r'(?:src|href)\s*=\s*["\']?(?:https?:)?//', re.I)


def _png(width: int = 400, height: int = 300, colour: str = "red") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _verdict(answer: str, delta: float, ci: list[float]) -> dict:
    return {"question": f"Does {PROBE} pay off?", "answer": answer, "choice": f"bpe {PROBE}", "baseline": "wordpiece",
            "metric": "accuracy", "effect": {"delta": delta, "rule": "superiority", "margin": 0.0, "decided_by": "example",
                                             "min_detectable": 0.02},
            "ci95": ci, "p_value": 0.01, "p_adjusted": 0.02, "n_comparisons": 2, "selected_on": "validation",
            "reported_on": "test", "n_seeds": 1, "n_examples": 200, "cost": {}}


def make_run(root: Path, name: str, *, created: str, dataset: str, cpu: str, accuracy: float, answer: str,
             ci: list[float], extra: tuple[str, ...] = ()) -> Path:
    """A run folder as the runner leaves it: run.json, and per notebook summary.json, a page, a thumbnail."""
    folder = root / name
    entries = []
    for notebook in ("tokenization", *extra):
        (folder / notebook).mkdir(parents=True)
        summary = {"headline": ["scores.accuracy", "scores.label"], "scores": {"accuracy": accuracy, "label": PROBE},
                   "verdict": _verdict(answer, accuracy - 0.8, ci),
                   "dataset": {"source": dataset, "sizes": {"train": 10}}, "environment": {"cpu": {"model": cpu}}}
        (folder / notebook / "summary.json").write_text(json.dumps(summary))
        (folder / notebook / f"{notebook}.html").write_text("<html></html>")
        (folder / notebook / "thumbnail.png").write_bytes(_png(120, 90))
        entries.append({"name": notebook, "status": "ok", "html": f"{notebook}/{notebook}.html",
                        "summary": f"{notebook}/summary.json", "parameters": {"profile": "smoke", "dataset": dataset}})
    (folder / "run.json").write_text(json.dumps({"created": created, "profile": "smoke", "notebooks": entries,
                                                 "machine": {"cpu": cpu}}))
    return folder


@pytest.fixture
def two_runs():
    root = reports_root()
    a = make_run(root, "20250101-120000", created="2025-01-01T12:00:00", dataset=f"reviews {PROBE}.csv",
                 cpu=f"EPYC {PROBE}", accuracy=0.81, answer="no detectable effect", ci=[-0.01, 0.03])
    b = make_run(root, "20250102-090000", created="2025-01-02T09:00:00", dataset="builtin:tweets",
                 cpu="Xeon", accuracy=0.86, answer="pays off", ci=[0.02, 0.08], extra=("sweeps",))
    return a, b


# --- the list of runs ------------------------------------------------------------------------

def test_the_runs_index_lists_every_run_newest_first_with_machine_data_and_answers(two_runs):
    page = write_runs_index().read_text()
    assert [run.name for run in list_runs()] == ["20250102-090000", "20250101-120000"]
    assert page.index("20250102-090000") < page.index("20250101-120000")
    assert 'href="20250101-120000/index.html"' in page
    assert "builtin:tweets" in page and "Xeon" in page and "smoke" in page and "2025-01-01 12:00:00" in page
    assert '<span class="answer pays-off">pays off</span>' in page and "no detectable effect" in page
    assert PROBE not in page and "EPYC &lt;img src=x onerror=alert(1)&gt;" in page
    assert not EXTERNAL.search(page)


def test_a_damaged_run_folder_is_left_out_of_the_list(two_runs):
    (reports_root() / "20250103-000000").mkdir()
    (reports_root() / "20250103-000000" / "run.json").write_text("{half")
    assert len(list_runs()) == 2


def test_an_absolute_dataset_path_shows_as_its_file_name(tmp_path):
    make_run(reports_root(), "r1", created="2025-01-01T00:00:00", dataset=str(tmp_path / "private" / "my.csv"),
             cpu="c", accuracy=0.8, answer="pays off", ci=[0.0, 0.1])
    page = write_runs_index().read_text()
    assert "<code>my.csv</code>" in page and str(tmp_path) not in page


# --- compare ---------------------------------------------------------------------------------

def test_compare_info_pairs_the_notebooks_figures_differences_and_intervals(two_runs):
    info = compare_info(*(run.name for run in two_runs))
    assert [pair.name for pair in info.notebooks] == ["tokenization", "sweeps"]
    tokenization, sweeps = info.notebooks
    assert tokenization.status == ("ok", "ok") and sweeps.status == (None, "ok")
    assert tokenization.figures["scores.accuracy"] == (0.81, 0.86, pytest.approx(0.05))
    assert tokenization.figures["scores.label"] == (PROBE, PROBE, None)
    assert tokenization.ci95 == ((-0.01, 0.03), (0.02, 0.08))


def test_compare_page_shows_both_runs_side_by_side_escaped_and_self_contained(two_runs, tmp_path):
    page_path = compare_runs(*two_runs, output=tmp_path / "out" / "cmp.html")
    page = page_path.read_text()
    assert "+0.05" in page and "[-0.01, 0.03]" in page and "[0.02, 0.08]" in page
    assert "pays off" in page and "no detectable effect" in page and "not in this run" in page
    assert PROBE not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert page.count('src="data:image/png;base64,') == 3  # two tokenization thumbnails, one sweeps
    assert not EXTERNAL.search(page) and str(tmp_path) not in page and str(Path.home()) + "/" not in page
    links = re.findall(r'href="([^"]+)"', page)
    assert links and all((page_path.parent / link).exists() for link in links)


def test_workbench_compare_writes_under_the_reports_root_by_default(two_runs, capsys):
    assert cli.main(["compare", two_runs[0].name, two_runs[1].name]) == 0
    written = reports_root() / "compare" / "20250101-120000-vs-20250102-090000.html"
    assert written.is_file() and str(written) in capsys.readouterr().out


def test_compare_refuses_missing_or_identical_runs_and_non_html_output_in_one_line(two_runs, capsys, tmp_path):
    with pytest.raises(ParameterError, match=r"The 'run_b' parameter of compare_runs must be a run folder holding "
                                             r"run.json .* Got 'nope' instead\. Fix: pick a run listed in"):
        compare_runs(two_runs[0], "nope")
    with pytest.raises(ParameterError, match=r"The 'run_b' parameter of compare_runs must be another run than run_a"):
        compare_runs(two_runs[0], two_runs[0].name)
    with pytest.raises(ParameterError, match=r"The 'output' parameter of compare_runs must be an .html file\. "
                                             r"Got '.*cmp.txt' instead\. Fix: pass a path ending in .html"):
        compare_runs(*two_runs, output=tmp_path / "cmp.txt")
    assert cli.main(["compare", "nope", two_runs[1].name]) == 2
    err = capsys.readouterr().err
    assert err.startswith("workbench compare: error: The 'run_a' parameter") and err.count("\n") == 1


# --- tidy pages ------------------------------------------------------------------------------

@pytest.mark.parametrize("line", [
    "steps: 100%|##########| 5/5 [00:00<00:00, 95.2it/s]", " 40%|####      | 4/10 [00:01<00:02,  3.1it/s]",
    "123it [00:01, 95.2it/s]", "fits: 100%|##########| 100/100", "trials:  50%|█████     | 1/2 [00:03<00:03]"])
def test_tqdm_lines_are_progress(line):
    assert split_progress(line + "\n") == (line + "\n", "")


@pytest.mark.parametrize("line", ["UserWarning: the tokenizer is slow", "epoch 3: loss 0.25 [train]",
                                  "100% of the rows kept", "Some weights were not initialized | 3 of 10"])
def test_other_stderr_lines_stay(line):
    assert split_progress(line + "\n") == ("", line + "\n")


def test_a_cells_stderr_progress_becomes_plain_output_and_warnings_stay_on_stderr():
    cell = new_code_cell("run()")
    cell.outputs = [new_output("stream", name="stderr", text="\rsteps:   0%|          | 0/2 [00:00<?, ?it/s]"),
                    new_output("stream", name="stderr", text="\rsteps: 100%|##########| 2/2 [00:00<00:00]\n"),
                    new_output("stream", name="stderr", text="UserWarning: careful\n"),
                    new_output("stream", name="stdout", text="done\n")]
    outputs = tidy_notebook(new_notebook(cells=[cell])).cells[0].outputs
    assert [(o.name, o.text) for o in outputs] == [("stdout", "steps: 100%|##########| 2/2 [00:00<00:00]\n"),
                                                   ("stderr", "UserWarning: careful\n"), ("stdout", "done\n")]


def test_a_range_index_column_is_dropped_and_a_meaningful_index_kept():
    import pandas as pd

    plain = drop_range_index(pd.DataFrame({"method": ["a", "b"], "score": [0.5, 0.7]}).to_html())
    assert "<th>0</th>" not in plain and "<th>1</th>" not in plain and "<td>a</td>" in plain
    assert plain.count("<th>") == 2  # the two column headers, no empty corner cell
    named = pd.DataFrame({"score": [0.5]}, index=pd.Index(["bpe"], name="tokenizer")).to_html()
    assert drop_range_index(named) == named
    labelled = pd.DataFrame({"score": [0.5, 0.7]}, index=["bpe", "wordpiece"]).to_html()
    assert drop_range_index(labelled) == labelled
    shuffled = pd.DataFrame({"score": [0.5, 0.7]}, index=[1, 0]).to_html()
    assert drop_range_index(shuffled) == shuffled
    with pd.option_context("display.max_rows", 4, "display.min_rows", 4):
        long = pd.DataFrame({"x": range(100)})._repr_html_()
    assert ">...</th>" not in drop_range_index(long) and "<td>99</td>" in drop_range_index(long)


def test_wide_tables_scroll_inside_their_cell_in_the_rendered_page(tmp_path):
    import pandas as pd

    cell = new_code_cell("frame")
    frame = pd.DataFrame({f"column_{i}": [i] for i in range(40)})
    cell.outputs = [new_output("execute_result", data={"text/html": frame._repr_html_(), "text/plain": "x"},
                               execution_count=1)]
    nbformat.write(new_notebook(cells=[cell]), tmp_path / "nb.ipynb")
    page = convert_to_html(tmp_path / "nb.ipynb", tmp_path / "nb.html").read_text()
    assert "table.dataframe { display: block; overflow-x: auto;" in page and "<th>0</th>" not in page


def test_the_thumbnail_is_the_tagged_key_plot_else_the_first_image(tmp_path):
    red, blue = _png(colour="red"), _png(800, 200, colour="blue")
    first, tagged = new_code_cell("a"), new_code_cell("b", metadata={"tags": ["key-plot"]})
    first.outputs = [new_output("display_data", data={"image/png": base64.b64encode(red).decode()})]
    tagged.outputs = [new_output("display_data", data={"image/png": base64.b64encode(blue).decode()})]
    assert key_plot(new_notebook(cells=[first, tagged])) == blue
    assert key_plot(new_notebook(cells=[first])) == red
    nbformat.write(new_notebook(cells=[first, tagged]), tmp_path / "nb.ipynb")
    from PIL import Image

    with Image.open(write_thumbnail(tmp_path / "nb.ipynb", tmp_path)) as image:
        assert image.size == (240, 60) and image.getpixel((10, 10)) == (0, 0, 255)
    nbformat.write(new_notebook(cells=[new_code_cell("no plot")]), tmp_path / "empty.ipynb")
    assert write_thumbnail(tmp_path / "empty.ipynb", tmp_path / "x") is None
