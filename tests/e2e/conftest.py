"""Browser fixtures: Debian's Chromium through Playwright, one JupyterLab server, one smoke report.

Everything expensive is started once and shared: the browser, the JupyterLab server (``lab``) and
its tab (``lab_page``) live while the tests of this folder run; the report run (``probe_report``)
starts in the background with the first of them. Every page records its console errors, uncaught
errors and dialogs (:class:`Watched`), so a test ends with ``assert_clean()``.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (installed by
``scripts/setup_chromium.sh``), and a missing binary fails the tests with that fix.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from workbench.cli import lab_command, lab_environment

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
SCREENSHOTS = REPO / "docs" / "img"
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking switches Chromium phones home (component updates, sync,
# QUIC probes); this machine refuses those connections and they would surface as console errors.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--disable-extensions", "--mute-audio"]
KERNEL = "nlp-workbench"
PROBE = "<img src=x onerror=alert(1)>"
UPDATE_SCREENSHOTS = os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS") == "1"
# The notebooks of the shared report run: the quick ones (smoke profile, tens of seconds each).
REPORT_NOTEBOOKS = ("data", "tokenization")


# --------------------------------------------------------------------------------------------
# The browser


@pytest.fixture(scope="package")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"The browser tests need Debian's Chromium at {CHROMIUM}. "
                    "Fix: run scripts/setup_chromium.sh (or deselect them with -m 'not e2e').")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Watched:
    """A page plus everything it complained about: console errors, uncaught errors, dialogs."""

    page: object
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.errors == [], "browser console errors:\n" + "\n".join(self.errors)
        assert self.dialogs == [], f"dialogs opened (script ran): {self.dialogs}"


@pytest.fixture
def watched(browser):
    """A fresh context and page that records console errors, uncaught errors and dialogs."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    yield _watch(context.new_page())
    context.close()


def _watch(page) -> Watched:
    seen = Watched(page)
    page.on("console", lambda msg: seen.errors.append(f"console: {msg.text} @ {msg.location}")
            if msg.type == "error" else None)
    page.on("pageerror", lambda exc: seen.errors.append(f"pageerror: {exc}"))

    def on_dialog(dialog):  # an alert() from data text means markup was executed: record, dismiss
        seen.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return seen


@pytest.fixture
def screenshot(tmp_path):
    """``screenshot(target, name, readme=False)``: a PNG of a page or locator kept in the test's
    tmp dir. With ``WORKBENCH_UPDATE_SCREENSHOTS=1``, ``readme=True`` shots also go, downscaled,
    to ``docs/img/`` for the README tour.
    """
    return lambda target, name, **kwargs: _keep_screenshot(target, tmp_path, name, **kwargs)


def _keep_screenshot(target, tmp_path: Path, name: str, *, readme: bool = False, width: int = 720) -> Path:
    path = tmp_path / f"{name}.png"
    page = getattr(target, "page", None)
    box = target.bounding_box() if page is not None else None
    size = page.viewport_size if page is not None else None
    if box and size and box["height"] + 150 > size["height"]:
        # A tall widget: grow the window so that Lab lays it out whole, then put the size back.
        page.set_viewport_size({"width": size["width"], "height": int(box["height"]) + 300})
        target.scroll_into_view_if_needed()
    try:
        target.screenshot(path=str(path))
    finally:
        if box and size and page.viewport_size != size:
            page.set_viewport_size(size)
    assert path.stat().st_size > 1000, f"screenshot {path} is empty"
    if readme and UPDATE_SCREENSHOTS:
        from PIL import Image

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:
            image = image.convert("RGB")
            if image.width > width:
                image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
            # A 64-colour palette keeps README images small (tens of kB) with text still sharp.
            image.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(
                SCREENSHOTS / f"{name}.png", optimize=True)
    return path


# --------------------------------------------------------------------------------------------
# JupyterLab


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: its base URL, token, root folder and log (kernels write there too)."""

    url: str
    token: str
    root: Path
    log: Path


def _lab_settings(folder: Path) -> None:
    """User settings that keep the first-start notification (news, update check) off the screen."""
    notification = folder / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True, exist_ok=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_answering(url: str, token: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited with code {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            request = urllib.request.Request(f"{url}/api/status", headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer on {url} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="package")
def lab(tmp_path_factory):
    """JupyterLab from this virtualenv on a free 127.0.0.1 port, token in ``JUPYTER_TOKEN``.

    Its root is a session folder holding a copy of ``notebooks/`` (Lab may write checkpoints or
    metadata into what it opens; the committed notebooks stay untouched) and the tests' scratch
    notebooks. Settings, workspaces, runtime files and IPython's profile live there too.
    """
    if not (Path(sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL).is_dir():
        pytest.fail(f"The Jupyter kernel {KERNEL!r} is not installed in {sys.prefix}. Fix: make setup "
                    f"(or {sys.executable} -m ipykernel install --sys-prefix --name {KERNEL}).")
    home = tmp_path_factory.mktemp("lab")
    root = home / "root"
    shutil.copytree(NOTEBOOKS, root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    _lab_settings(home / "settings")
    port = _free_port()
    env = lab_environment()
    env.pop("WORKBENCH_HEADLESS", None)  # live widgets, not their static report view
    env.update(JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               IPYTHONDIR=str(home / "ipython"), PYTHONUNBUFFERED="1")
    argv = [*lab_command(port=port, notebooks_dir=root),
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run cells by command name
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",  # no PyPI queries
            f"--LabApp.user_settings_dir={home / 'settings'}",
            f"--LabApp.workspaces_dir={home / 'workspaces'}"]
    log = home / "jupyterlab.log"
    with open(log, "wb") as stream:
        process = subprocess.Popen(argv, env=env, cwd=root, stdout=stream, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answering(url, env["JUPYTER_TOKEN"], process, log, timeout=120)
        yield Lab(url=url, token=env["JUPYTER_TOKEN"], root=root, log=log)
    finally:
        process.terminate()  # jupyter_server shuts its kernels down on SIGTERM
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # stuck: end it and the kernels it started (its own group)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture
def scratch_notebook(lab, request):
    """``scratch_notebook(cells)``: a notebook of code cells for the project's kernel under Lab's
    root, in a folder of its own per test; returns its path."""
    folder = lab.root / "scratch" / request.node.name.replace("[", "-").replace("]", "")
    return lambda cells, name="explore.ipynb": _write_notebook(folder / name, cells)


def _write_notebook(path: Path, cells: list[str]) -> Path:
    import nbformat

    metadata = nbformat.read(NOTEBOOKS / "00_data.ipynb", as_version=4).metadata
    notebook = nbformat.v4.new_notebook(metadata=metadata, cells=[nbformat.v4.new_code_cell(c) for c in cells])
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


# --------------------------------------------------------------------------------------------
# Data with a hostile probe, and one smoke report run on it


@pytest.fixture(scope="session")
def probe_csv(tmp_path_factory) -> Path:
    """Real reviews (the embedded data set, 240 of them) where every third text carries ``PROBE``.

    Markup in data must show as text everywhere; the probe calls alert() if it is ever parsed.
    """
    from workbench.data import load_dataset

    data = load_dataset(max_examples=80, seed=0)
    names = data["train"].features["label"].names
    rows = [{"review": text, "score": names[label]} for split in data.values()
            for text, label in zip(split["text"], split["label"])]
    for index in range(0, len(rows), 3):
        rows[index]["review"] = f"{PROBE} {rows[index]['review']}"
    import pandas as pd

    path = tmp_path_factory.mktemp("data") / "probe.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _uses_report(item) -> bool:
    return bool({"probe_report", "reports_root_of_runs"} & set(getattr(item, "fixturenames", ())))


def pytest_collection_modifyitems(session, config, items):
    """Run the report tests last: their report run starts in the background with the first
    browser test (see ``_report_run``) and has the Lab tests' time to finish."""
    items.sort(key=_uses_report)  # stable: the order is otherwise kept


class _ReportRun:
    """``workbench report --profile smoke`` over ``REPORT_NOTEBOOKS`` on ``probe_csv``, as a user types it;
    then a second run (``data`` on the embedded data set) and ``workbench compare`` of the two, all in a
    reports root of their own (``WORKBENCH_REPORTS``): ``root/index.html`` lists both runs."""

    def __init__(self, folder: Path, dataset: Path) -> None:
        self.root = folder / "reports"
        self.run = self.root / "run"
        self.compare = self.root / "compare.html"
        self.log = folder / "report.log"
        script = Path(sys.executable).with_name("workbench")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "workbench.cli"]
        probe = [*command, "report", "--profile", "smoke",
                 "--only", ",".join(REPORT_NOTEBOOKS), "--output", str(self.run),
                 "--set", f"dataset={dataset}", "--set", "text_column=review", "--set", "label_column=score"]
        builtin = [*command, "report", "--profile", "smoke", "--only", "data", "--output", str(self.root / "builtin")]
        compare = [*command, "compare", "run", "builtin", "--output", str(self.compare)]
        script_text = " && ".join(shlex.join(argv) for argv in (probe, builtin, compare))
        env = {**os.environ, "WORKBENCH_REPORTS": str(self.root)}
        with open(self.log, "wb") as stream:
            self.process = subprocess.Popen(["bash", "-c", script_text], stdout=stream, stderr=subprocess.STDOUT,
                                            cwd=REPO, env=env, start_new_session=True)

    def result(self, timeout: float = 900) -> Path:
        code = self.process.wait(timeout=timeout)
        assert code == 0, f"the report run failed (exit {code}):\n{self.log.read_text()[-4000:]}"
        return self.run

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # bash and the workbench command it runs
            self.process.wait(timeout=30)


@pytest.fixture(scope="session", autouse=True)
def _report_run(request, tmp_path_factory):
    """Start the report run with the session's first browser test when a test will need it, so it
    overlaps the JupyterLab tests instead of adding its minutes to theirs."""
    if not any(_uses_report(item) for item in request.session.items):
        yield None
        return
    run = _ReportRun(tmp_path_factory.mktemp("report"), request.getfixturevalue("probe_csv"))
    yield run
    run.stop()


@pytest.fixture(scope="session")
def probe_report(_report_run) -> Path:
    """The folder of the smoke report run over ``probe_csv``: index.html, run.json, one folder per notebook."""
    return _report_run.result()


@pytest.fixture(scope="session")
def reports_root_of_runs(_report_run, probe_report) -> Path:
    """The reports root holding the probe run (``run``), a run of ``data`` on the embedded data set
    (``builtin``), ``index.html`` listing both and ``compare.html`` comparing them."""
    return _report_run.root


# --------------------------------------------------------------------------------------------
# Driving notebooks in JupyterLab

# The notebook panel showing ``path``, through the app object Lab exposes
# (--LabApp.expose_app_in_browser; JupyterLab's own UI tests, galata, drive Lab the same way).
_FIND_PANEL = """(path) => {
    for (const widget of window.jupyterapp.shell.widgets('main')) {
        if (widget.context && widget.context.path === path && widget.content && widget.content.model) return widget;
    }
    return null;
}"""
_STATE_JS = f"""(path) => {{
    const panel = ({_FIND_PANEL})(path);
    if (!panel) return null;
    const cells = [];
    for (const cell of panel.content.model.cells) {{
        cells.push({{type: cell.type, count: cell.type === 'code' ? cell.executionCount : null,
                     tags: cell.getMetadata('tags') || [],
                     outputs: cell.type === 'code' ? cell.outputs.toJSON() : []}});
    }}
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    return {{path: panel.context.path, kernel: kernel ? kernel.status : null,
             kernel_name: kernel ? kernel.name : null, cells}};
}}"""
# Record every error and stderr message the kernel sends, whichever cell, comm or thread it comes
# from: an exception in a widget callback reaches no cell, only Lab's log console.
_LISTEN_JS = f"""(path) => {{
    const panel = ({_FIND_PANEL})(path);
    const seen = (window.wbKernelMessages = window.wbKernelMessages || {{}})[path] = [];
    panel.sessionContext.iopubMessage.connect((_, msg) => {{
        const type = msg.header.msg_type;
        if (type === 'error') seen.push(`${{msg.content.ename}}: ${{msg.content.evalue}}`);
        else if (type === 'stream' && msg.content.name === 'stderr') seen.push(msg.content.text.slice(0, 500));
    }});
}}"""
_CLOSE_JS = f"""async (path) => {{
    const panel = ({_FIND_PANEL})(path);
    if (!panel) return;
    await panel.sessionContext.shutdown();
    panel.dispose();  // closes the tab without the "save changes?" dialog (scratch files only)
}}"""


@pytest.fixture(scope="package")
def lab_page(browser, lab):
    """One browser tab with JupyterLab loaded, shared by the Lab tests (loading Lab costs seconds
    of CPU); each test opens its notebooks in it. Lab must load without a console error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    seen = _watch(context.new_page())
    seen.page.goto(f"{lab.url}/lab?token={lab.token}")
    seen.page.wait_for_function("() => window.jupyterapp !== undefined", timeout=180_000)
    seen.page.evaluate("async () => { await window.jupyterapp.started; await window.jupyterapp.restored; "
                       "window.jupyterapp.shell.collapseLeft(); }")  # the notebooks get the width
    seen.assert_clean()
    yield seen
    context.close()


_CONTROL_TARGET = re.compile(r"No such comm target registered: jupyter\.widget\.control$")
_UNKNOWN_COMM = re.compile(r"No such comm: ([0-9a-f-]+)$")


def _without_widget_control_noise(lines: list[str]) -> list[str]:
    """Drop the one known-harmless pair of kernel complaints, and nothing else.

    When a notebook opens, the widget manager (jupyterlab_widgets) asks the new kernel for its
    live widgets over the comm target ``jupyter.widget.control``, which exists only once ipywidgets
    is imported there; ipykernel reports the missing target and then the unknown comm, and the
    manager falls back to its normal path. A maintainer calls it harmless
    (jupyter-widgets/ipywidgets#3525). Filtered only as that pair, for a single comm id.
    """
    if not any(_CONTROL_TARGET.search(line) for line in lines):
        return lines
    ids = {match.group(1) for line in lines if (match := _UNKNOWN_COMM.search(line))}
    if len(ids) > 1:
        return lines
    return [line for line in lines if not (_CONTROL_TARGET.search(line) or _UNKNOWN_COMM.search(line))]


class LabNotebook:
    """One notebook open in the shared JupyterLab tab."""

    def __init__(self, watched: Watched, lab: Lab, path: Path) -> None:
        self.watched, self.lab, self.path = watched, lab, Path(path)
        self.page = watched.page
        self.relative = self.path.resolve().relative_to(lab.root).as_posix()
        self.log_offset = lab.log.stat().st_size  # kernels write their stderr into the server's log

    def open(self, *, timeout: float = 120) -> LabNotebook:
        """Open it (Lab starts the notebook's kernel) and wait until the kernel is idle."""
        self.page.evaluate("(path) => { window.jupyterapp.commands.execute("
                           "'docmanager:open', {path, factory: 'Notebook'}); }", self.relative)
        self.wait(lambda s: s["kernel"] is not None, "the notebook to open and its kernel to start", timeout)
        self.page.evaluate(_LISTEN_JS, self.relative)
        self.wait(lambda s: s["kernel"] == "idle", "the kernel to be ready", timeout)
        self.panel.locator(".jp-Cell").first.wait_for(timeout=timeout * 1000)
        return self

    @property
    def panel(self):
        """The notebook's tab content (a locator), for scoping queries to this notebook."""
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").filter(
            has=self.page.locator(".jp-Notebook")).first

    def state(self) -> dict | None:
        return self.page.evaluate(_STATE_JS, self.relative)

    def wait(self, condition, what: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            if state is not None and condition(state):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; "
                                     f"notebook state: {json.dumps(state)[:3000]}")
            self.page.wait_for_timeout(250)

    def run_all(self, *, timeout: float = 240) -> dict:
        """Lab's "Run All Cells"; waits until every cell has run and the kernel is idle."""
        self.page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        return self.wait(lambda s: s["kernel"] == "idle"
                         and all(c["count"] is not None for c in s["cells"] if c["type"] == "code"),
                         "all cells to run", timeout)

    def kernel_problems(self) -> list[str]:
        """What the kernel complained about: every error or stderr message it sent (from cells,
        widget callbacks or threads), error outputs in the notebook, and errors in the log."""
        with open(self.lab.log, encoding="utf-8", errors="replace") as stream:
            stream.seek(self.log_offset)
            logged = [line.rstrip() for line in stream if re.search(r"Traceback|\bERROR\b|^\[E ", line)]
        sent = [line for text in self.page.evaluate("(path) => window.wbKernelMessages[path]", self.relative)
                for line in text.splitlines() if line.strip()]
        problems = [f"log: {line}" for line in _without_widget_control_noise(logged)]
        problems += [f"kernel: {line}" for line in _without_widget_control_noise(sent)]
        for index, cell in enumerate(self.state()["cells"]):
            for output in cell["outputs"]:
                if output["output_type"] == "error":
                    problems.append(f"cell {index}: {output['ename']}: {output['evalue']}")
                elif output["output_type"] == "stream" and output.get("name") == "stderr":
                    problems.append(f"cell {index} stderr: {''.join(output['text'])[:500]}")
        return problems

    def close(self) -> None:
        """Shut its kernel down and close the tab."""
        self.page.evaluate(_CLOSE_JS, self.relative)


@pytest.fixture
def open_notebook(lab_page, lab):
    """``open_notebook(path)``: open ``path`` (under Lab's root) in the shared Lab tab; a
    :class:`LabNotebook`. Console errors are counted from the test's start; at the end every
    notebook it opened is closed and its kernel shut down."""
    lab_page.errors.clear()
    lab_page.dialogs.clear()
    opened: list[LabNotebook] = []

    def open_(path, **kwargs) -> LabNotebook:
        notebook = LabNotebook(lab_page, lab, Path(path))
        opened.append(notebook)
        return notebook.open(**kwargs)

    yield open_
    for notebook in opened:
        notebook.close()
