"""Notebooks in, a folder of self-contained HTML reports out.

papermill executes each notebook with its parameters, nbconvert turns the executed notebook into
HTML, and every notebook leaves two sidecars written by :func:`record`: ``summary.json``
(headline figures, parameters, environment, data set) and ``results.csv`` (the tidy rows behind
every table and plot). :func:`run_report` ties it together and writes ``index.html`` and
``run.json`` beside the per-notebook folders::

    reports/20250101-120000/
        index.html  run.json
        data/  data.html  data.ipynb  summary.json  results.csv
        sweeps/ ...

>>> result = run_report(profile="smoke", only="data")   # doctest: +SKIP
>>> result.ok, result.index   # doctest: +SKIP
(True, PosixPath('.../reports/20250101-120000/index.html'))
"""

from __future__ import annotations

import ast
import functools
import html
import json
import math
import os
import re
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from workbench._validation import check_int
from workbench.environment import environment_info
from workbench.errors import NotebookParameterError, ParameterError, first_line
from workbench.profiles import PROFILE_NAMES as PROFILES

if TYPE_CHECKING:
    import pandas as pd

# Set by the runner for every notebook; `--set` may not override them.
RUNNER_PARAMETERS = {"profile": "--profile", "output_dir": "--output"}
RESERVED_SUMMARY_KEYS = ("params", "environment", "dataset")
HEADLESS_VARIABLE = "WORKBENCH_HEADLESS"  # "1" in the kernels the runner starts

_REPO_ROOT = Path(__file__).resolve().parents[1]
_NUMBER_PREFIX = re.compile(r"^\d+_")


# --------------------------------------------------------------------------------------------
# Sidecars


def record(output_dir: str | os.PathLike, *, summary: Mapping[str, Any], results: pd.DataFrame,
           params: Mapping[str, Any], dataset: Mapping[str, Any] | None = None) -> Path:
    """Write a notebook's ``summary.json`` and ``results.csv`` into ``output_dir``.

    ``summary.json`` holds ``summary`` plus ``params``, ``environment``
    (:func:`workbench.environment.environment_info`) and ``dataset`` (source, sizes, content
    hash, ...). numpy scalars and arrays, tuples, sets, paths and dates are converted; NaN and
    infinities become ``null`` so the file stays strict JSON. Both files are written atomically:
    a failure leaves no half-written file behind.

    Parameters
    ----------
    output_dir : str or Path
        The notebook's ``output_dir`` parameter; created if missing.
    summary : mapping
        Headline figures under fixed keys. An optional ``headline`` list names the (dotted) keys
        the report index shows first.
    results : pandas.DataFrame
        The tidy rows behind every table and plot.
    params : mapping
        The notebook's parameters, so a report can be regenerated from its sidecar.
    dataset : mapping, optional
        Where the data came from: ``source``, ``sizes``, ``hash``, ...

    Returns
    -------
    Path
        ``output_dir``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> record("out", summary={"accuracy": np.float64(0.81)}, results=pd.DataFrame({"a": [1]}),
    ...        params={"seed": 0})
    PosixPath('out')
    """
    import pandas as pd

    if not isinstance(results, pd.DataFrame):
        raise ParameterError(f"The 'results' parameter of record must be a pandas DataFrame. "
                             f"Got {type(results).__name__} instead.")
    clashes = [key for key in RESERVED_SUMMARY_KEYS if key in summary]
    if clashes:
        raise ParameterError(f"The 'summary' parameter of record must not contain the keys "
                             f"{clashes}; pass them as record(..., params=..., dataset=...).")
    document = {**summary, "params": params, "environment": environment_info(), "dataset": dataset}
    # Serialise both before writing either, so a bad value leaves the folder untouched.
    summary_text = json.dumps(_to_json(document, "summary"), indent=2, allow_nan=False) + "\n"
    results_text = results.to_csv(index=False)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_atomic(out / "summary.json", summary_text)
    _write_atomic(out / "results.csv", results_text)
    return out


def _to_json(value: Any, where: str) -> Any:
    """Return ``value`` made of JSON types only; ``where`` names it in the error."""
    if isinstance(value, Mapping):
        return {_json_key(k): _to_json(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [_to_json(v, f"{where}[{i}]") for i, v in enumerate(items)]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _to_json(value.tolist(), where)  # numpy arrays and scalars, pandas Series
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise ParameterError(f"{where} is a {type(value).__name__}, which summary.json cannot hold. "
                         f"Convert it to a number, string, list or dict.")


def _json_key(key: Any) -> str:
    return key if isinstance(key, str) else str(_to_json(key, "key"))


def _write_atomic(path: Path, text: str) -> None:
    # A temporary file in the same folder, then os.replace: readers see the old file or the new.
    # Not tempfile.mkstemp: its 0600 mode would survive the rename and hide shared reports.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------
# Notebooks and their parameters


def list_notebooks(notebooks_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Map each notebook's short name to its path, in file order.

    The number prefix that orders the files is dropped: ``00_data.ipynb`` is ``data``.

    Parameters
    ----------
    notebooks_dir : str or Path, optional
        Defaults to the repository's ``notebooks/`` (or ``./notebooks``).

    Examples
    --------
    >>> list(list_notebooks())
    ['data', 'tokenization', 'augmentation', 'schedules', 'sweeps', 'compression']
    """
    folder = Path(notebooks_dir) if notebooks_dir is not None else default_notebooks_dir()
    if not folder.is_dir():
        raise ParameterError(f"The notebooks folder must exist. Got {str(folder)!r} instead.")
    notebooks: dict[str, Path] = {}
    for path in sorted(folder.glob("*.ipynb")):
        name = _NUMBER_PREFIX.sub("", path.stem)
        if name in notebooks:
            raise ParameterError(f"Notebook names must be unique once the number prefix is "
                                 f"dropped. Got {notebooks[name].name!r} and {path.name!r}.")
        notebooks[name] = path
    if not notebooks:
        raise ParameterError(f"The notebooks folder must hold .ipynb files. Got none in "
                             f"{str(folder)!r}.")
    return notebooks


def resolve_parameters(notebooks: Mapping[str, str | os.PathLike], values: Mapping[str, Any], *,
                       profile: str = "default") -> dict[str, dict[str, Any]]:
    """Check ``values`` against each notebook's ``parameters`` cell and coerce them.

    papermill reads the declared names, types and defaults. Strings (as ``--set`` gives them) are
    coerced to the declared type: ``int``, ``float``, ``bool`` (true/false/1/0/yes/no), ``str``,
    and ``list``/``dict``/``tuple`` through :func:`ast.literal_eval`. A name is passed only to
    the notebooks that declare it. Every problem is collected and raised at once, before anything
    runs.

    Returns
    -------
    dict
        Notebook name -> the parameters to inject (``profile`` included).

    Raises
    ------
    NotebookParameterError
        Listing every unknown name, uncoercible value and bad profile in one line.

    Examples
    --------
    >>> resolve_parameters({"data": "notebooks/00_data.ipynb"}, {"seed": "7"}, profile="smoke")
    {'data': {'profile': 'smoke', 'seed': 7}}
    >>> resolve_parameters({"data": "notebooks/00_data.ipynb"}, {"sed": "7", "seed": "x"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    workbench.errors.NotebookParameterError: Invalid notebook parameters: 'sed' is not a parameter of data (known: dataset, ...); 'seed' must be int, got 'x'.
    """
    import papermill

    declared, problems = {}, []
    for name, path in notebooks.items():
        try:
            declared[name] = papermill.inspect_notebook(str(path))
        except Exception as exc:  # nbformat's validation errors carry no common base
            problems.append(f"{name} cannot be read as a notebook ({first_line(exc)})")
    if profile not in PROFILES:
        problems.append(f"'profile' must be one of {', '.join(PROFILES)}, got {profile!r}")
    resolved: dict[str, dict[str, Any]] = {name: {"profile": profile} for name in declared}
    for key, value in values.items():
        problems.extend(_resolve_one(key, value, declared, resolved))
    if problems:
        raise NotebookParameterError("Invalid notebook parameters: " + "; ".join(problems) + ".")
    return resolved


def _resolve_one(key: str, value: Any, declared: Mapping[str, Mapping[str, dict]],
                 resolved: dict[str, dict[str, Any]]) -> list[str]:
    """Coerce one ``--set`` value for every notebook declaring ``key``; return the problems."""
    if key in RUNNER_PARAMETERS:
        return [f"{key!r} is set by the runner, use {RUNNER_PARAMETERS[key]} instead"]
    owners = [name for name, params in declared.items() if key in params]
    if not owners:
        known = sorted({p for params in declared.values() for p in params} - set(RUNNER_PARAMETERS))
        return [f"{key!r} is not a parameter of {', '.join(declared)} (known: {', '.join(known)})"]
    problems = []
    for name in owners:
        type_name = declared[name][key]["inferred_type_name"]
        try:
            resolved[name][key] = coerce_parameter(value, type_name)
        except (ValueError, SyntaxError, TypeError):
            problem = f"{key!r} must be {type_name}, got {value!r}"
            if problem not in problems:  # several notebooks declaring the same type: say it once
                problems.append(problem)
    return problems


def coerce_parameter(value: Any, type_name: str) -> Any:
    """Convert ``value`` to the type a parameters cell declares, or raise ``ValueError``.

    ``type_name`` is the annotation as written (``"int"``, ``"list[str]"``, ``"float | None"``,
    ``"Optional[int]"``); ``"None"`` means no annotation, and a string is then read as a Python
    literal when it is one. Non-string values must already have the type (an int is accepted
    for a float).

    Examples
    --------
    >>> coerce_parameter("yes", "bool"), coerce_parameter("1e-3", "float")
    (True, 0.001)
    >>> coerce_parameter("none", "int | None") is None
    True
    """
    type_name = type_name.replace(" ", "")
    optional = re.fullmatch(r"Optional\[(.+)\]|(.+)\|None|None\|(.+)", type_name)
    if optional:
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        type_name = next(group for group in optional.groups() if group)
    base = type_name.split("[", 1)[0].lower()
    if base == "none":
        return _literal_or_text(value)
    if base not in _COERCERS:
        raise ValueError(f"cannot coerce to {type_name}")
    return _COERCERS[base](value)


def _literal_or_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def _to_int(value: Any) -> int:
    if isinstance(value, str):
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(value)


def _to_float(value: Any) -> float:
    if isinstance(value, str):
        return float(value.strip())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise TypeError(value)


_BOOL_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
        return _BOOL_WORDS[value.strip().lower()]
    raise ValueError(value)


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(value)


def _literal_of(kind: type):
    def coerce(value: Any) -> Any:
        parsed = ast.literal_eval(value) if isinstance(value, str) else value
        if not isinstance(parsed, kind):
            raise TypeError(value)
        return parsed
    return coerce


_COERCERS = {"int": _to_int, "float": _to_float, "bool": _to_bool, "str": _to_str,
             "list": _literal_of(list), "dict": _literal_of(dict), "tuple": _literal_of(tuple)}


# --------------------------------------------------------------------------------------------
# HTML

# The lab template, minus every script it would fetch from a CDN (require.js, MathJax, the
# widget renderer, mermaid): a report must open on a machine without network. The cost: LaTeX in
# markdown shows as source and widgets show their static fallback.
_OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


def convert_to_html(notebook: str | os.PathLike, html_path: str | os.PathLike, *,
                    show_code: bool = False, title: str | None = None,
                    images_dir: str | os.PathLike | None = None) -> Path:
    """Render an (executed) notebook as one self-contained HTML file.

    nbconvert's ``HTMLExporter`` with the ``lab`` template does the work; images already sit in
    the outputs as base64, markdown images (relative to ``images_dir``, by default the
    notebook's folder) are embedded, and no script or style is loaded from the network. Stream
    outputs are coalesced, so a text progress bar shows its last state only. Code
    cells and prompts are hidden unless ``show_code``; ``title`` (default: the file's stem)
    becomes the page's ``<title>``.

    Examples
    --------
    >>> convert_to_html("run/data/data.ipynb", "run/data/data.html", title="data")  # doctest: +SKIP
    PosixPath('run/data/data.html')
    """
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    exporter = HTMLExporter(
        # Merge a cell's stream outputs and keep what a terminal would show after carriage returns:
        # a progress bar reads as its final line instead of one line per refresh.
        config=Config({"CoalesceStreamsPreprocessor": {"enabled": True}}),
        template_name="lab",
        extra_loaders=[DictLoader({"workbench_offline.html.j2": _OFFLINE_TEMPLATE})],
        template_file="workbench_offline.html.j2",
        exclude_input=not show_code,
        exclude_input_prompt=not show_code,
        exclude_output_prompt=not show_code,
        embed_images=True,
    )
    notebook = Path(notebook)
    # from_filename would overwrite the name (the <title>) with the file's stem.
    resources = {"metadata": {"name": title or notebook.stem,
                              "path": str(images_dir if images_dir is not None else notebook.parent)}}
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4), resources)
    _write_atomic(Path(html_path), body)
    return Path(html_path)


# --------------------------------------------------------------------------------------------
# The runner


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


def default_notebooks_dir() -> Path:
    """Return the repository's ``notebooks/``, or ``./notebooks`` for an installed package.

    Examples
    --------
    >>> default_notebooks_dir().name
    'notebooks'
    """
    # The editable checkout's notebooks first; ./notebooks when the package is installed elsewhere.
    for folder in (_REPO_ROOT / "notebooks", Path.cwd() / "notebooks"):
        if folder.is_dir():
            return folder
    return _REPO_ROOT / "notebooks"


def _new_run_dir() -> Path:
    root = _REPO_ROOT if (_REPO_ROOT / "pyproject.toml").exists() else Path.cwd()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir, n = root / "reports" / stamp, 1
    while run_dir.exists():  # two runs in the same second must not share a folder
        n += 1
        run_dir = root / "reports" / f"{stamp}-{n}"
    return run_dir


# --------------------------------------------------------------------------------------------
# run.json and index.html


def _relative(path: Path | None, run_dir: Path) -> str | None:
    return None if path is None else path.resolve().relative_to(run_dir.resolve()).as_posix()


def _write_run_json(run_dir: Path, runs: list[NotebookRun], *, profile: str,
                    parameters: Mapping[str, Mapping[str, Any]]) -> Path:
    document = {
        "created": datetime.now().isoformat(timespec="seconds"),
        "profile": profile,
        "ok": all(run.status == "ok" for run in runs),
        "notebooks": [
            {"name": run.name, "status": run.status, "seconds": round(run.seconds, 3),
             "error": run.error, "parameters": parameters[run.name],
             **{kind: _relative(getattr(run, kind), run_dir)
                for kind in ("html", "ipynb", "summary", "results")}}
            for run in runs
        ],
    }
    path = run_dir / "run.json"
    _write_atomic(path, json.dumps(_to_json(document, "run"), indent=2) + "\n")
    return path


def _read_summary(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def _headline_figures(summary: Mapping[str, Any], *, limit: int = 8) -> dict[str, Any]:
    """Pick the figures an index row shows: the ``headline`` keys, else numeric leaves.

    >>> _headline_figures({"accuracy": 0.8, "latency": {"p50_ms": 3.1}, "params": {"seed": 0}})
    {'accuracy': 0.8, 'latency.p50_ms': 3.1}
    """
    leaves = _flatten({k: v for k, v in summary.items()
                       if k not in (*RESERVED_SUMMARY_KEYS, "headline")}, max_depth=3)
    wanted = summary.get("headline")
    if isinstance(wanted, list) and wanted:
        return {key: leaves[key] for key in map(str, wanted) if key in leaves}
    numeric = {k: v for k, v in leaves.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return dict(list(numeric.items())[:limit])


def _flatten(tree: Mapping[str, Any], *, max_depth: int, prefix: str = "") -> dict[str, Any]:
    leaves: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if max_depth > 1:
                leaves.update(_flatten(value, max_depth=max_depth - 1, prefix=f"{dotted}."))
        else:
            leaves[dotted] = value
    return leaves


def _dataset_text(summary: Mapping[str, Any]) -> str:
    dataset = summary.get("dataset")
    if not isinstance(dataset, Mapping):
        return ""
    parts = []
    if dataset.get("hash"):
        parts.append(str(dataset["hash"])[:12])
    sizes = dataset.get("sizes")
    if isinstance(sizes, Mapping):
        parts.append(" / ".join(f"{split} {size}" for split, size in sizes.items()))
    elif sizes is not None:
        parts.append(str(sizes))
    return " · ".join(parts)


def _format_value(value: Any) -> str:
    """An index figure as text; a missing or undefined figure (None, NaN) reads "n/a".

    >>> [_format_value(v) for v in (None, float("nan"), 0.81234, 960000)]
    ['n/a', 'n/a', '0.8123', '960,000']
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


_INDEX_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 72rem; padding: 0 1rem; color: #1d1d1f; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; } p.meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .45rem .6rem; border-bottom: 1px solid #ddd; }
th { font-weight: 600; background: #f5f5f7; } td.num { text-align: right; white-space: nowrap; }
.status { font-weight: 600; padding: .1rem .45rem; border-radius: .3rem; }
.ok { color: #0a6b2d; background: #dff5e6; } .failed { color: #a11; background: #fde4e4; }
.error { color: #a11; font-size: .9em; margin-top: .3rem; }
ul.figures { list-style: none; margin: 0; padding: 0; } ul.figures li { white-space: nowrap; }
.files a { margin-right: .6rem; } code { font-size: .9em; }
"""


def _write_index(run_dir: Path, runs: list[NotebookRun], *, profile: str) -> Path:
    """Write ``index.html``: one row per notebook; every notebook-provided string is escaped."""
    esc = html.escape
    rows = []
    for run in runs:
        summary = _read_summary(run.summary)
        figures = "".join(f"<li>{esc(key)}: <b>{esc(_format_value(value))}</b></li>"
                          for key, value in _headline_figures(summary).items())
        links = " ".join(
            f'<a href="{esc(quote(_relative(path, run_dir)))}">{label}</a>'
            for label, path in (("report", run.html), ("notebook", run.ipynb),
                                ("summary.json", run.summary), ("results.csv", run.results))
            if path is not None)
        error = f'<div class="error">{esc(run.error)}</div>' if run.error else ""
        rows.append(
            f"<tr><td><b>{esc(run.name)}</b></td>"
            f'<td><span class="status {esc(run.status)}">{esc(run.status)}</span>{error}</td>'
            f'<td class="num">{run.seconds:.1f} s</td>'
            f"<td><code>{esc(_dataset_text(summary))}</code></td>"
            f'<td><ul class="figures">{figures}</ul></td>'
            f'<td class="files">{links}</td></tr>')
    n_failed = sum(run.status != "ok" for run in runs)
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nlp-workbench report {esc(run_dir.name)}</title>
<style>{_INDEX_CSS}</style>
</head>
<body>
<h1>nlp-workbench report <code>{esc(run_dir.name)}</code></h1>
<p class="meta">profile {esc(profile)} · {len(runs) - n_failed} ok, {n_failed} failed ·
{datetime.now().strftime("%Y-%m-%d %H:%M")}</p>
<table>
<thead><tr><th>Notebook</th><th>Status</th><th>Duration</th><th>Data</th>
<th>Headline figures</th><th>Files</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
</body>
</html>
"""
    path = run_dir / "index.html"
    _write_atomic(path, page)
    return path
