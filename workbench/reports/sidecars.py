"""A notebook's sidecars: ``summary.json`` and ``results.csv``, written atomically by :func:`record`."""

from __future__ import annotations

import json
import math
import os
import sys
import uuid
import warnings
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.environment import environment_info
from workbench.errors import ParameterError
from workbench.reports.outcomes import Outcome, run_state
from workbench.reports.parameters import _NUMBER_PREFIX, _REPO_ROOT, declared_parameters

if TYPE_CHECKING:
    import pandas as pd

RESERVED_SUMMARY_KEYS = ("params", "environment", "dataset", "run_status")


def record(output_dir: str | os.PathLike | None = None, *, summary: Mapping[str, Any], results: pd.DataFrame,
           notebook: str | None = None, params: Mapping[str, Any] | None = None, dataset: Any = None,
           outcomes: Iterable[Outcome] = ()) -> Path:
    """Write a notebook's ``summary.json`` and ``results.csv`` into ``output_dir``.

    ``summary.json`` holds ``summary`` plus ``params``, ``environment``
    (:func:`workbench.environment.environment_info`), ``dataset`` (source, sizes, content hash, ...)
    and ``run_status`` (``ok`` or ``degraded``, with every failed or skipped configuration of the
    ``outcomes``). numpy scalars and arrays, tuples, sets, paths and dates are converted; NaN and
    infinities become ``null`` so the file stays strict JSON. Both files are written atomically:
    a failure leaves no half-written file behind.

    Parameters
    ----------
    output_dir : str or Path, optional
        The notebook's ``output_dir`` parameter; created if missing. None (a Lab or plain papermill
        run) writes into ``reports/interactive/<notebook>/``, never beside the notebook.
    summary : mapping
        Headline figures under fixed keys. An optional ``headline`` list names the (dotted) keys
        the report index shows first; a key missing from the summary gives a warning and is listed
        under ``run_status["missing_headline"]``.
    results : pandas.DataFrame
        The tidy rows behind every table and plot.
    notebook : str, optional
        The notebook's short name (``"data"``) or path. Its ``parameters`` cell says which variables
        are parameters: their values are read from the caller's globals (the notebook's namespace),
        so no notebook lists its parameters by hand.
    params : mapping, optional
        The parameters, given explicitly (then ``notebook`` is only used for the default folder).
    dataset : mapping or datasets.DatasetDict, optional
        Where the data came from; a DatasetDict is described by :func:`workbench.data.dataset_info`.
    outcomes : iterable of Outcome
        From :func:`workbench.reports.check_outcomes`, one per core experiment.

    Returns
    -------
    Path
        The folder written.

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
    if params is None:
        params = _caller_parameters(notebook, sys._getframe(1).f_globals) if notebook else {}
    if dataset is not None and not isinstance(dataset, Mapping):
        from workbench.data import dataset_info

        dataset = dataset_info(dataset)
    outcomes = list(outcomes)
    missing = [key for key in summary.get("headline", []) if not _has_key(summary, str(key))]
    if missing:
        warnings.warn(f"summary headline keys missing from the summary: {', '.join(map(str, missing))}",
                      UserWarning, stacklevel=2)
    status = {"status": run_state(outcomes), "outcomes": [o.to_dict() for o in outcomes],
              "missing_headline": missing}
    document = {**summary, "params": params, "environment": environment_info(), "dataset": dataset,
                "run_status": status}
    # Serialise both before writing either, so a bad value leaves the folder untouched.
    summary_text = json.dumps(_to_json(document, "summary"), indent=2, allow_nan=False) + "\n"
    results_text = results.to_csv(index=False)
    out = output_folder(output_dir, notebook)
    _write_atomic(out / "summary.json", summary_text)
    _write_atomic(out / "results.csv", results_text)
    return out


REPORTS_VARIABLE = "WORKBENCH_REPORTS"


def reports_root() -> Path:
    """Where run folders go: ``$WORKBENCH_REPORTS`` when set, else the checkout's ``reports/``, else ``./reports``.

    >>> reports_root().name
    'reports'
    """
    if os.environ.get(REPORTS_VARIABLE):
        return Path(os.environ[REPORTS_VARIABLE]).expanduser()
    return (_REPO_ROOT if (_REPO_ROOT / "pyproject.toml").exists() else Path.cwd()) / "reports"


def interactive_dir(notebook: str | None) -> Path:
    """The folder of a notebook run by hand (Lab, plain papermill): ``reports/interactive/<name>``.

    >>> interactive_dir("data").parts[-2:]
    ('interactive', 'data')
    """
    name = _NUMBER_PREFIX.sub("", Path(notebook).stem) if notebook else "notebook"
    return reports_root() / "interactive" / name


def output_folder(output_dir: str | os.PathLike | None, notebook: str | None) -> Path:
    """``output_dir`` as a Path, or :func:`interactive_dir` of ``notebook`` when it is None (created).

    Notebooks that write more than the sidecars (a study's SQLite file, say) put it here.

    >>> output_folder("out", "data")
    PosixPath('out')
    """
    folder = Path(output_dir) if output_dir is not None else interactive_dir(notebook)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _caller_parameters(notebook: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The values of ``notebook``'s declared parameters in ``namespace`` (missing names are left out)."""
    return {name: namespace[name] for name in declared_parameters(notebook) if name in namespace}


def _has_key(tree: Mapping[str, Any], dotted: str) -> bool:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


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
