"""The report runner: papermill executes each notebook, nbconvert renders it, an index ties them together."""

from __future__ import annotations

import functools
import os
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from workbench._validation import check_int
from workbench.errors import ParameterError, first_line
from workbench.reports.html import convert_to_html
from workbench.reports.index import _write_index, _write_run_json
from workbench.reports.parameters import _REPO_ROOT, list_notebooks, resolve_parameters

HEADLESS_VARIABLE = "WORKBENCH_HEADLESS"  # "1" in the kernels the runner starts



@dataclass(frozen=True)
class NotebookRun:
    """How one notebook of a run went. Paths are None when the file was not produced."""

    name: str
    status: str  # "ok" or "failed"
    seconds: float
    folder: Path
    ipynb: Path | None
    html: Path | None
    summary: Path | None
    results: Path | None
    error: str | None = None


@dataclass(frozen=True)
class RunResult:
    """A finished report run: its folder, its ``index.html`` and one entry per notebook."""

    run_dir: Path
    index: Path
    notebooks: tuple[NotebookRun, ...]

    @property
    def ok(self) -> bool:
        """True when every notebook ran without error."""
        return all(run.status == "ok" for run in self.notebooks)

    @property
    def failed(self) -> list[str]:
        """Names of the notebooks that failed."""
        return [run.name for run in self.notebooks if run.status != "ok"]


def run_report(*, notebooks_dir: str | os.PathLike | None = None,
               output: str | os.PathLike | None = None, profile: str = "default",
               only: str | Iterable[str] | None = None, params: Mapping[str, Any] | None = None,
               jobs: int = 1, show_code: bool = False, kernel_name: str = "nlp-workbench",
               timeout_per_cell: float | None = None) -> RunResult:
    """Execute notebooks with papermill and write their HTML reports plus an index page.

    Parameters are checked against every selected notebook before anything runs. A notebook that
    fails still gets its HTML (with the error where it happened) and the others still run.

    Parameters
    ----------
    notebooks_dir : str or Path, optional
        Where the notebooks are; see :func:`list_notebooks`.
    output : str or Path, optional
        The run folder; defaults to ``reports/<YYYYmmdd-HHMMSS>`` in the repository.
    profile : {"smoke", "default", "full"}
        Passed to every notebook as its ``profile`` parameter.
    only : str or iterable of str, optional
        Notebook names to run (``"data,sweeps"`` or a list); all when None.
    params : mapping, optional
        Parameter values (strings are coerced, see :func:`resolve_parameters`).
    jobs : int
        Notebooks run at once, each in its own kernel.
    show_code : bool
        Keep code cells in the HTML.
    kernel_name : str
        The Jupyter kernel that executes the notebooks.
    timeout_per_cell : float, optional
        Seconds a cell may run before the notebook fails; no limit when None.

    Returns
    -------
    RunResult

    Examples
    --------
    >>> result = run_report(profile="smoke", only="data,sweeps", params={"seed": "1"})  # doctest: +SKIP
    >>> result.ok, [run.status for run in result.notebooks]  # doctest: +SKIP
    (True, ['ok', 'ok'])
    """
    notebooks = _select(list_notebooks(notebooks_dir), only)
    parameters = resolve_parameters(notebooks, params or {}, profile=profile)
    jobs = check_int("jobs", jobs, "run_report", low=1)
    run_dir = Path(output) if output is not None else _new_run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)

    def run_one(name: str) -> NotebookRun:
        return _run_notebook(name, notebooks[name], parameters[name], run_dir,
                             kernel_name=kernel_name, show_code=show_code,
                             timeout_per_cell=timeout_per_cell)

    with _headless_kernels():
        runs = _run_all(list(notebooks), run_one, jobs=jobs)
    _write_run_json(run_dir, runs, profile=profile, parameters=parameters)
    index = _write_index(run_dir, runs, profile=profile)
    return RunResult(run_dir=run_dir, index=index, notebooks=tuple(runs))


@contextmanager
def _headless_kernels() -> Iterator[None]:
    """Tell the kernels (which inherit our environment) that no one is watching.

    ``workbench._progress`` then draws text bars instead of widgets, which would show up as empty
    boxes in the HTML. papermill offers no per-kernel environment, hence the process-wide
    variable, restored afterwards.
    """
    previous = os.environ.get(HEADLESS_VARIABLE)
    os.environ[HEADLESS_VARIABLE] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(HEADLESS_VARIABLE, None)
        else:
            os.environ[HEADLESS_VARIABLE] = previous


def _select(notebooks: dict[str, Path], only: str | Iterable[str] | None) -> dict[str, Path]:
    if only is None:
        return notebooks
    names = [n.strip() for n in (only.split(",") if isinstance(only, str) else only) if n.strip()]
    unknown = [n for n in names if n not in notebooks]
    if unknown or not names:
        raise ParameterError(f"The 'only' parameter of run_report must name notebooks among "
                             f"{', '.join(notebooks)}. Got {', '.join(unknown) or repr(only)} "
                             f"instead.")
    return {name: notebooks[name] for name in notebooks if name in names}


def _run_all(names: list[str], run_one, *, jobs: int) -> list[NotebookRun]:
    """Run ``run_one`` over ``names``, ``jobs`` at a time, reporting progress on stderr."""
    from tqdm.auto import tqdm

    runs = {}
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        with tqdm(total=len(names), desc="notebooks", unit="nb", file=sys.stderr,
                  disable=None) as bar:  # a bar on terminals only; CI logs get the lines
            futures = {pool.submit(run_one, name): name for name in names}
            for future in as_completed(futures):
                run = runs[futures[future]] = future.result()
                bar.write(f"{run.name}: {run.status} in {run.seconds:.1f} s", file=sys.stderr)
                bar.update()
    finally:
        # On Ctrl-C, do not start the notebooks still queued (the running ones get the signal).
        pool.shutdown(wait=True, cancel_futures=True)
    return [runs[name] for name in names]


@functools.lru_cache(maxsize=1)
def _ipc_kernel_manager() -> type:
    """jupyter_client's kernel manager with the kernel on Unix sockets instead of localhost TCP ports.

    No port is opened, so nothing else on the machine can reach the kernel and parallel runs never race
    for ports (ipykernel also warns about unencrypted TCP on every start). Each kernel's socket files
    get a fresh name in Jupyter's runtime folder; jupyter_client removes them at shutdown.
    """
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.paths import jupyter_runtime_dir
    from traitlets import CaselessStrEnum, default

    class IpcKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

        @default("ip")
        def _ip_default(self) -> str:
            folder = Path(jupyter_runtime_dir())
            folder.mkdir(parents=True, exist_ok=True)
            return str(folder / f"workbench-kernel-{uuid.uuid4().hex}")

    return IpcKernelManager


def _run_notebook(name: str, source: Path, parameters: dict[str, Any], run_dir: Path, *,
                  kernel_name: str, show_code: bool, timeout_per_cell: float | None) -> NotebookRun:
    """Execute one notebook into ``run_dir/name`` and render it; never raises for the notebook."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    folder = (run_dir / name).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    ipynb, html_path = folder / f"{name}.ipynb", folder / f"{name}.html"
    error = None
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(source), str(ipynb),
            parameters={**parameters, "output_dir": str(folder)},
            kernel_name=kernel_name, progress_bar=False, log_output=False,
            execution_timeout=timeout_per_cell, kernel_manager_class=_ipc_kernel_manager(),
            # The kernel's working directory. papermill's own `cwd=` calls os.chdir, which is
            # process-wide and races when notebooks run in threads; nbclient takes it per kernel.
            resources={"metadata": {"path": str(folder)}},
        )
    except PapermillExecutionError as exc:
        error = first_line(f"{exc.ename}: {exc.evalue}")
    except Exception as exc:  # a missing kernel, a dead kernel, a cell timeout: report, go on
        error = first_line(f"{type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - start
    if ipynb.exists():
        try:
            # Markdown images are relative to the source notebook, not to its executed copy.
            convert_to_html(ipynb, html_path, show_code=show_code, title=name,
                            images_dir=source.parent)
        except Exception as exc:  # a notebook nbconvert cannot render must not stop the run
            error = error or first_line(f"HTML conversion failed: {type(exc).__name__}: {exc}")
    return NotebookRun(
        name=name, status="failed" if error else "ok", seconds=seconds, folder=folder,
        ipynb=_existing(ipynb), html=_existing(html_path),
        summary=_existing(folder / "summary.json"), results=_existing(folder / "results.csv"),
        error=error,
    )


def _existing(path: Path) -> Path | None:
    return path if path.exists() else None


def _new_run_dir() -> Path:
    root = _REPO_ROOT if (_REPO_ROOT / "pyproject.toml").exists() else Path.cwd()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir, n = root / "reports" / stamp, 1
    while run_dir.exists():  # two runs in the same second must not share a folder
        n += 1
        run_dir = root / "reports" / f"{stamp}-{n}"
    return run_dir
