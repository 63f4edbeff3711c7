"""The report runner: papermill executes each notebook, nbconvert renders it, an index ties them together.

A notebook whose inputs are unchanged since an ``ok`` run is copied from it instead (``cached``,
:mod:`workbench.reports.cache`); each notebook's output streams go to ``<notebook>/log.txt`` while
it runs, and the terminal shows the running notebook and section (:mod:`workbench.reports.progress`).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from workbench._validation import check_int
from workbench.errors import ParameterError, first_line
from workbench.reports import cache
from workbench.reports.html import convert_to_html
from workbench.reports.index import _write_index, _write_run_json
from workbench.reports.kernels import headless_kernels, ipc_kernel_manager, resolve_kernel
from workbench.reports.pages import write_thumbnail
from workbench.reports.parameters import list_notebooks, resolve_parameters
from workbench.reports.progress import RunProgress, notebook_log
from workbench.reports.redact import default_roots, redact_folder
from workbench.reports.runs import read_run, resolve_run, write_runs_index
from workbench.reports.sidecars import reports_root


@dataclass(frozen=True)
class NotebookRun:
    """How one notebook of a run went. Paths are None when the file was not produced.

    ``status`` is ``ok``, ``degraded`` (some configurations failed; ``detail`` says which share),
    ``failed`` (an error, or the core experiment produced nothing; ``error`` says why), or ``cached``
    (inputs unchanged: the outputs were copied from the run ``cached_from``).
    """

    name: str
    status: str
    seconds: float
    folder: Path
    ipynb: Path | None
    html: Path | None
    summary: Path | None
    results: Path | None
    error: str | None = None
    detail: tuple[str, ...] = ()
    beside_others: bool = False  # a timing notebook that ran while others shared the cores
    cached_from: str | None = None  # the run folder that executed it, when reused
    cache_key: str | None = None


@dataclass(frozen=True)
class RunResult:
    """A finished report run: its folder, its ``index.html`` and one entry per notebook."""

    run_dir: Path
    index: Path
    notebooks: tuple[NotebookRun, ...]
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        """True when every notebook ran (or was reused) without error and lost no configuration."""
        return not self.interrupted and all(run.status in ("ok", "cached") for run in self.notebooks)

    @property
    def failed(self) -> list[str]:
        """Names of the notebooks that failed."""
        return [run.name for run in self.notebooks if run.status == "failed"]

    @property
    def degraded(self) -> list[str]:
        """Names of the notebooks where some configurations failed."""
        return [run.name for run in self.notebooks if run.status == "degraded"]


def run_report(*, notebooks_dir: str | os.PathLike | None = None,
               output: str | os.PathLike | None = None, profile: str | None = None,
               only: str | Iterable[str] | None = None, params: Mapping[str, Any] | None = None,
               jobs: int = 1, show_code: bool = False, kernel_name: str | None = None,
               timeout_per_cell: float | None = None, cwd: str | os.PathLike | None = None,
               parallel_timing: bool = False, force: bool = False,
               rerun_failed: str | os.PathLike | None = None) -> RunResult:
    """Execute notebooks with papermill and write their HTML reports plus an index page.

    Parameters are checked against every selected notebook before anything runs. A notebook that
    fails still gets its HTML (with the error where it happened) and the others still run. Every
    text file of the run folder is then redacted (:mod:`workbench.reports.redact`).

    Parameters
    ----------
    notebooks_dir : str or Path, optional
        Where the notebooks are; see :func:`list_notebooks`.
    output : str or Path, optional
        The run folder; defaults to ``reports/<YYYYmmdd-HHMMSS>`` in the repository.
    profile : {"smoke", "default", "full"}, optional
        Passed to every notebook as its ``profile`` parameter; default ``"default"`` (or the profile
        of ``rerun_failed``).
    only : str or iterable of str, optional
        Notebook names to run (``"data,sweeps"`` or a list); all when None.
    params : mapping, optional
        Parameter values (strings are coerced, see :func:`resolve_parameters`).
    jobs : int
        Notebooks run at once, each in its own kernel. Notebooks that time things (their metadata
        says ``workbench.times_things``) still run alone, after the others, unless ``parallel_timing``.
    show_code : bool
        Keep code cells in the HTML.
    kernel_name : str, optional
        The Jupyter kernel that executes the notebooks; default: the project's ``nlp-workbench`` kernel
        when registered, else ``python3`` (see :func:`workbench.reports.kernels.resolve_kernel`).
    timeout_per_cell : float, optional
        Seconds a cell may run before the notebook fails; no limit when None.
    cwd : str or Path, optional
        The kernels' working folder, against which relative paths in parameters (a data set, a
        search-space file, a model folder, ``sqlite:///study.db``) resolve. Default: the current one,
        i.e. where ``workbench report`` was typed.
    parallel_timing : bool
        Let timing notebooks share the cores with others when ``jobs > 1`` (the index then says so).
    force : bool
        Execute every notebook, even those whose inputs match an earlier ``ok`` run (by default
        those are copied and marked ``cached``).
    rerun_failed : str or Path, optional
        A run folder (path or name under the reports root): run its notebooks with its profile and
        parameters (``only``, ``profile`` and ``params`` given here take precedence), executing
        those that failed or were degraded there and copying the others from it when their inputs
        are unchanged.

    Returns
    -------
    RunResult

    Examples
    --------
    >>> result = run_report(profile="smoke", only="data,sweeps", params={"seed": "1"})  # doctest: +SKIP
    >>> result.ok, [run.status for run in result.notebooks]  # doctest: +SKIP
    (True, ['ok', 'ok'])
    """
    if force and rerun_failed is not None:
        raise ParameterError(f"The 'force' parameter of run_report must be False with rerun_failed (force re-runs "
                             f"every notebook, rerun_failed only the failed ones). Got force=True with "
                             f"rerun_failed={os.fspath(rerun_failed)!r} instead. Fix: drop one of them.")
    previous = None if rerun_failed is None else read_run(resolve_run(rerun_failed, parameter="rerun_failed", func="run_report"))
    if previous is not None:
        only = only if only is not None else [entry["name"] for entry in previous.notebooks]
        profile = profile or previous.profile or None
        params = {**(cache.run_values(previous.folder) or previous.values), **(params or {})}
    profile = profile or "default"
    notebooks = _select(list_notebooks(notebooks_dir), only)
    parameters = resolve_parameters(notebooks, params or {}, profile=profile)
    jobs = check_int("jobs", jobs, "run_report", low=1)
    if timeout_per_cell is not None and not (isinstance(timeout_per_cell, (int, float)) and timeout_per_cell > 0):
        raise ParameterError(f"The 'timeout_per_cell' parameter of run_report must be a number of seconds > 0 "
                             f"or None. Got {timeout_per_cell!r} instead.")
    workdir = Path(cwd if cwd is not None else Path.cwd()).resolve()
    run_dir = Path(output) if output is not None else _new_run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    cache.remember_values(run_dir, params or {})
    kernel_name = resolve_kernel(kernel_name)
    timed = {name for name, path in notebooks.items() if _times_things(path)}
    beside = parallel_timing and jobs > 1
    environment = cache.environment_key()
    must_run = {entry["name"] for entry in previous.notebooks
                if entry.get("status") in ("failed", "degraded")} if previous else set()

    def run_one(name: str) -> NotebookRun:
        alongside = beside and name in timed and len(notebooks) > 1
        parts = cache.key_parts(name, notebooks[name].read_bytes(),
                                cache.effective_parameters(notebooks[name], parameters[name]),
                                environment=environment, cwd=workdir,
                                runner={"kernel": kernel_name, "show_code": show_code, "beside_others": alongside})
        key = cache.notebook_key(parts)
        hit = None if force or name in must_run else cache.lookup(
            key, prefer=previous.folder / name if previous else None)
        if hit is not None:
            return _reuse(name, hit, run_dir, key=key)
        progress.started(name)
        run = _run_notebook(name, notebooks[name], parameters[name], run_dir, kernel_name=kernel_name,
                            show_code=show_code, timeout_per_cell=timeout_per_cell, cwd=workdir, progress=progress)
        if run.status == "ok":  # failed and degraded runs are never reused
            cache.remember(key, run.folder, origin=run_dir.name, parts=parts)
        return replace(run, beside_others=alongside, cache_key=key)

    # Timing notebooks go last and alone, so that no other kernel shares the cores they measure.
    batches = ([list(notebooks)] if beside or jobs == 1
               else [[n for n in notebooks if n not in timed], [n for n in notebooks if n in timed]])
    runs: dict[str, NotebookRun] = {}
    interrupted = False
    progress = RunProgress(notebooks)
    with headless_kernels():
        try:
            for batch, batch_jobs in zip(batches, (jobs, 1 if not beside else jobs)):
                _run_all(batch, run_one, jobs=batch_jobs, into=runs, progress=progress)
        except KeyboardInterrupt:  # Ctrl-C: keep what finished, say what did not, then stop
            interrupted = True
        finally:
            progress.close()
    ordered = [runs.get(name) or _not_run(name, run_dir) for name in notebooks]
    settings = {"profile": profile, "jobs": jobs, "parallel_timing": parallel_timing,
                "timeout_per_cell": timeout_per_cell, "interrupted": interrupted}
    _write_run_json(run_dir, ordered, settings=settings, parameters=parameters)
    in_root = run_dir.resolve().parent == reports_root().resolve()
    index = _write_index(run_dir, ordered, profile=profile, interrupted=interrupted, all_runs=in_root)
    roots = default_roots(run_dir, *_absolute_path_folders(parameters))
    folder_of_notebooks = next(iter(notebooks.values())).parent.resolve()
    roots.setdefault(str(folder_of_notebooks), folder_of_notebooks.name)
    redact_folder(run_dir, roots=roots)
    write_runs_index()
    result = RunResult(run_dir=run_dir, index=index, notebooks=tuple(ordered), interrupted=interrupted)
    if interrupted:
        raise RunInterrupted(result)
    return result


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; ``result`` holds what finished (its index and run.json are written)."""

    def __init__(self, result: RunResult) -> None:
        super().__init__(f"interrupted; finished notebooks are in {result.index}")
        self.result = result


def _absolute_path_folders(parameters: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Folders of absolute paths given as parameters: a shared report names the file, not where it lives."""
    folders = set()
    for values in parameters.values():
        for value in values.values():
            if isinstance(value, str) and os.path.isabs(value) and str(Path(value).parent) != Path(value).anchor:
                folders.add(str(Path(value).parent))
    return sorted(folders)


def _reuse(name: str, hit: tuple[Path, str], run_dir: Path, *, key: str) -> NotebookRun:
    """Copy a cached notebook's folder into this run; its status is ``cached``."""
    source, origin = hit
    start = time.perf_counter()
    folder = (run_dir / name).resolve()
    cache.copy_outputs(source, folder)
    cache.remember(key, folder, origin=origin, parts={})
    ipynb, html_path = folder / f"{name}.ipynb", folder / f"{name}.html"
    return NotebookRun(name=name, status="cached", seconds=time.perf_counter() - start, folder=folder,
                       ipynb=_existing(ipynb), html=_existing(html_path), summary=_existing(folder / "summary.json"),
                       results=_existing(folder / "results.csv"), cached_from=origin, cache_key=key)


def _not_run(name: str, run_dir: Path) -> NotebookRun:
    return NotebookRun(name=name, status="failed", seconds=0.0, folder=run_dir / name, ipynb=None, html=None,
                       summary=None, results=None, error="interrupted (Ctrl-C) before it finished")


def _times_things(path: Path) -> bool:
    """Whether a notebook's metadata says it measures time (latency, throughput)."""
    try:
        metadata = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError):
        return False
    return bool(metadata.get("workbench", {}).get("times_things"))


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


def _run_all(names: list[str], run_one, *, jobs: int, into: dict[str, NotebookRun], progress: RunProgress) -> None:
    """Run ``run_one`` over ``names``, ``jobs`` at a time, into ``into``, reporting to ``progress``.

    A notebook is submitted only when a slot frees up, so after Ctrl-C (or any error here) no queued
    notebook starts; the running ones get the signal from the terminal and finish as failed.
    """
    queue = list(names)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        running = {}
        while queue or running:
            while queue and len(running) < jobs:
                name = queue.pop(0)
                running[pool.submit(run_one, name)] = name
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                run = into[running.pop(future)] = future.result()
                progress.finished(run.name, f"{run.name}: {_status_text(run)} in {run.seconds:.1f} s")


def _status_text(run: NotebookRun) -> str:
    if run.cached_from:
        return f"cached (from {run.cached_from})"
    return f"{run.status}: {'; '.join(run.detail)}" if run.detail else run.status


def _run_notebook(name: str, source: Path, parameters: dict[str, Any], run_dir: Path, *,
                  kernel_name: str, show_code: bool, timeout_per_cell: float | None, cwd: Path,
                  progress: RunProgress) -> NotebookRun:
    """Execute one notebook into ``run_dir/name`` (its streams into ``log.txt``) and render it; never raises."""
    from papermill.exceptions import PapermillExecutionError

    folder = (run_dir / name).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    ipynb, html_path = folder / f"{name}.ipynb", folder / f"{name}.html"
    error = None
    start = time.perf_counter()
    n_cells = len(json.loads(source.read_text(encoding="utf-8")).get("cells", [])) + 1  # + papermill's cell
    with notebook_log(folder) as log:
        try:
            _execute(source, ipynb, {**parameters, "output_dir": str(folder)}, kernel_name=kernel_name,
                     timeout_per_cell=timeout_per_cell, cwd=cwd, log=log,
                     on_cell_start=progress.cell_hook(name, n_cells, log))
        except PapermillExecutionError as exc:
            error = first_line(f"{exc.ename}: {exc.evalue}")
        except Exception as exc:  # a missing kernel, a dead kernel, a cell timeout: report, go on
            error = first_line(f"{type(exc).__name__}: {exc}")
        if error:
            log.write(f"\n[workbench] the notebook failed: {error}\n")
    seconds = time.perf_counter() - start
    if ipynb.exists():
        try:
            # Markdown images are relative to the source notebook, not to its executed copy.
            convert_to_html(ipynb, html_path, show_code=show_code, title=name,
                            images_dir=source.parent)
            write_thumbnail(ipynb, folder)
        except Exception as exc:  # a notebook nbconvert cannot render must not stop the run
            error = error or first_line(f"HTML conversion failed: {type(exc).__name__}: {exc}")
    summary = _existing(folder / "summary.json")
    status, detail = ("failed", ()) if error else _summary_status(summary)
    if status == "failed" and error is None:
        error = "the notebook finished without writing summary.json (it must call workbench.record)"
    return NotebookRun(
        name=name, status=status, seconds=seconds, folder=folder,
        ipynb=_existing(ipynb), html=_existing(html_path),
        summary=summary, results=_existing(folder / "results.csv"),
        error=error, detail=detail,
    )


def _execute(source: Path, ipynb: Path, parameters: dict[str, Any], *, kernel_name: str,
             timeout_per_cell: float | None, cwd: Path, log, on_cell_start) -> None:
    """papermill, with the kernel's streams into ``log`` and nbclient's ``on_cell_start`` hook."""
    import papermill

    papermill.execute_notebook(
        str(source), str(ipynb), parameters=parameters,
        kernel_name=kernel_name, progress_bar=False, log_output=False, stdout_file=log, stderr_file=log,
        on_cell_start=on_cell_start,  # an nbclient hook: papermill passes engine keywords through
        # nbclient's timeout is an int: round up, so 0.5 s still means "a limit".
        execution_timeout=None if timeout_per_cell is None else math.ceil(timeout_per_cell),
        kernel_manager_class=ipc_kernel_manager(),
        # The kernel's working directory: where the user typed the command, so relative paths in
        # parameters mean what they meant there. papermill's own `cwd=` calls os.chdir, which is
        # process-wide and races when notebooks run in threads; nbclient takes it per kernel.
        resources={"metadata": {"path": str(cwd)}},
    )


def _summary_status(summary: Path | None) -> tuple[str, tuple[str, ...]]:
    """The notebook's own verdict on its experiments, from ``summary.json["run_status"]``."""
    if summary is None:
        return "failed", ()
    try:
        status = json.loads(summary.read_text(encoding="utf-8")).get("run_status") or {}
    except (OSError, ValueError):
        return "failed", ("summary.json is not valid JSON",)
    lines = []
    for outcome in status.get("outcomes", []):
        failed = outcome.get("failed") or []
        if failed:
            lines.append(f"{len(failed)} of {outcome.get('total')} {outcome.get('what')} failed")
    return ("degraded" if status.get("status") == "degraded" else "ok"), tuple(lines)


def _existing(path: Path) -> Path | None:
    return path if path.exists() else None


def _new_run_dir() -> Path:
    root = reports_root()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir, n = root / stamp, 1
    while run_dir.exists():  # two runs in the same second must not share a folder
        n += 1
        run_dir = root / f"{stamp}-{n}"
    return run_dir
