"""The HTML reports in a real browser: every page of one ``smoke`` report run renders its headings,
tables and plots with no console error and no network request (everything is embedded).

The run (``probe_report``) uses real reviews in which every third text starts with a script
probe, ``<img src=x onerror=alert(1)>``: it must never run, and show as text wherever data is shown.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from workbench.reports import list_notebooks

pytestmark = pytest.mark.e2e

PROBE = "<img src=x onerror=alert(1)>"
NOTEBOOKS = list_notebooks()


def _pages(run: Path) -> list[str]:
    listed = json.loads((run / "run.json").read_text())["notebooks"]
    return ["index.html", *(entry["html"] for entry in listed)]


class OfflineReader:
    """A browser tab that opens report pages from disk, as someone sent the folder would, and lets
    through nothing but the page being opened: every other request (file:, http:, https:; the
    route sees them all, and data: URLs never leave the page) is aborted and recorded."""

    def __init__(self, watched, run: Path) -> None:
        self.watched, self.run, self.page = watched, run, watched.page
        self.current: str | None = None
        self.blocked: list[str] = []
        self.page.route("**/*", self._route)

    def _route(self, route) -> None:
        if route.request.url == self.current:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def assert_clean(self) -> None:
        """No request left the pages, no console error, no dialog."""
        assert self.blocked == [], f"requests from report pages (assets must be embedded): {self.blocked}"
        self.watched.assert_clean()

    def open(self, page_path: str):
        self.current = (self.run / page_path).as_uri()
        self.page.goto(self.current, wait_until="load")
        self.page.wait_for_load_state("networkidle")
        return self.page


@pytest.fixture
def reader(watched, probe_report) -> OfflineReader:
    return OfflineReader(watched, probe_report)


def _headings(path: Path) -> list[str]:
    """The markdown headings of a notebook, as nbconvert renders them."""
    headings = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            headings += [m.strip() for m in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", cell.source, flags=re.M)]
    return headings


def _visible_headings(page) -> list[str]:
    # nbconvert appends a "¶" anchor link to each heading.
    return [text.replace("\u00b6", "").strip() for text in page.locator("h1, h2, h3, h4, h5, h6").all_inner_texts()]


def test_index_lists_every_notebook_with_links_that_exist(reader, probe_report, screenshot):
    page = reader.open("index.html")
    assert page.locator("h1").inner_text().startswith("nlp-workbench report")
    headers = page.locator("table thead th").all_inner_texts()
    assert headers == ["Plot", "Notebook", "Answer", "Status", "Duration", "Data", "Details", "Files"]
    rows = page.locator("table tbody tr")
    names = [rows.nth(i).locator("td").nth(1).inner_text() for i in range(rows.count())]
    assert names == [entry["name"] for entry in json.loads((probe_report / "run.json").read_text())["notebooks"]]
    assert page.locator("table tbody .status.ok").count() == len(names)
    for href in page.locator("table tbody a").evaluate_all("links => links.map(a => a.getAttribute('href'))"):
        assert (probe_report / href).is_file(), href
    # Every notebook row shows at least one headline figure.
    assert all(rows.nth(i).locator("ul.figures li").count() > 0 for i in range(rows.count()))
    screenshot(page.locator("body"), "report-index", readme=True)
    reader.assert_clean()


def test_every_notebook_page_renders_offline_with_headings_tables_and_plots(reader, probe_report, screenshot):
    entries = json.loads((probe_report / "run.json").read_text())["notebooks"]
    assert entries and all(entry["html"] for entry in entries)
    for entry in entries:
        name, page_path = entry["name"], entry["html"]
        page = reader.open(page_path)
        assert page.title() == name
        shown = _visible_headings(page)
        missing = [h for h in _headings(NOTEBOOKS[name]) if h not in shown]
        assert not missing, f"headings of {NOTEBOOKS[name].name} not on {page_path}: {missing}; shown: {shown}"
        # Every DataFrame and plot of the executed notebook is on the page: tables with their
        # header, plots as embedded PNGs that decode.
        executed = nbformat.read(probe_report / entry["ipynb"], as_version=4)
        outputs = [o for c in executed.cells for o in c.get("outputs", [])]
        n_frames = sum('class="dataframe' in o.get("data", {}).get("text/html", "") for o in outputs)
        n_plots = sum("image/png" in o.get("data", {}) for o in outputs)
        assert n_frames >= 1 and n_plots >= 1, page_path
        tables = page.locator("table.dataframe")
        assert tables.count() == n_frames, page_path
        assert all(tables.nth(i).locator("thead th").count() > 0 for i in range(n_frames)), page_path
        assert sum(tables.nth(i).locator("tbody tr").count() for i in range(n_frames)) >= n_frames, page_path
        sources = page.locator("img").evaluate_all(
            "imgs => imgs.map(i => [i.getAttribute('src').slice(0, 22), i.naturalWidth])")
        assert len(sources) >= n_plots, page_path
        assert all(src.startswith("data:image/png;base64,") and width > 0 for src, width in sources), sources
        # No error output in the executed notebook and no traceback on the page. (stderr streams
        # are allowed: they hold the text progress bars that headless runs draw, workbench._progress.)
        assert [o for o in outputs if o.output_type == "error"] == [], page_path
        assert "Traceback" not in page.inner_text("body"), page_path
        screenshot(page, f"report-{name}", readme=name == "tokenization")
    reader.assert_clean()


def test_probe_text_shows_as_text_and_never_runs_on_any_page(reader, probe_report):
    shown_on = []
    for page_path in _pages(probe_report):
        page = reader.open(page_path)
        assert page.locator('img[src="x"]').count() == 0, f"the probe became an element on {page_path}"
        if PROBE in page.inner_text("body"):
            shown_on.append(page_path)
    # Both notebooks of the run show data set text (sample rows; example texts and the token
    # viewer's static view): the probe must be readable there, literally.
    assert shown_on == _pages(probe_report)[1:], shown_on
    reader.assert_clean()  # no dialog: alert(1) never ran


def test_every_index_row_shows_a_picture_of_the_notebooks_key_plot(reader, probe_report):
    page = reader.open("index.html")
    rows = page.locator("table tbody tr")
    pictures = page.locator("table tbody tr td:first-child img.thumb").evaluate_all(
        "imgs => imgs.map(i => [i.getAttribute('src').slice(0, 22), i.naturalWidth, i.naturalHeight])")
    assert len(pictures) == rows.count() > 0
    assert all(src == "data:image/png;base64," and 0 < width <= 240 and height > 0 for src, width, height in pictures)
    reader.assert_clean()


def test_no_report_page_shows_a_progress_bar_as_a_stderr_block(reader, probe_report):
    from workbench.reports.pages import is_progress_line

    for page_path in _pages(probe_report)[1:]:
        page = reader.open(page_path)
        blocks = page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts()
        bars = [line for block in blocks for line in block.splitlines() if is_progress_line(line)]
        assert bars == [], f"progress bars in stderr blocks on {page_path}: {bars[:3]}"
    reader.assert_clean()


def test_the_list_of_runs_and_the_comparison_of_two_data_sets_open_offline(watched, reports_root_of_runs):
    reader = OfflineReader(watched, reports_root_of_runs)
    page = reader.open("index.html")
    listed = page.locator("table tbody tr td:first-child a").all_inner_texts()
    assert sorted(listed) == ["builtin", "run"]
    assert "probe.csv" in page.inner_text("body")  # the data set, by file name
    page = reader.open("compare.html")
    body = page.inner_text("body")
    assert "run" in body and "builtin" in body and "95% interval" in body
    assert page.locator(".answer").count() == 3 and "unreadable verdict" not in body  # data twice, tokenization
    assert page.locator("h2").all_inner_texts() == ["data", "tokenization"]
    assert "not in this run" in body  # tokenization ran on the probe data only
    assert page.locator("img.thumb").count() == 3
    assert page.locator('img[src="x"]').count() == 0
    reader.assert_clean()
