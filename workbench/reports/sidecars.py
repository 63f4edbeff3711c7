"""A notebook's sidecars: ``summary.json`` and ``results.csv``, written atomically by :func:`record`."""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.environment import environment_info
from workbench.errors import ParameterError

if TYPE_CHECKING:
    import pandas as pd

RESERVED_SUMMARY_KEYS = ("params", "environment", "dataset")


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
