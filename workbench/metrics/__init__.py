"""The project's metrics as local ``evaluate`` modules, loadable offline.

Each subfolder holds one ``evaluate.Metric`` script named like its folder (``accuracy/accuracy.py``,
``macro_f1/macro_f1.py``), computed by scikit-learn, so it gives the same numbers as
:func:`workbench.evaluation.classification_metrics`. ``evaluate.load(<folder>)`` reads a local script
without the network (it copies it into evaluate's modules cache, ``HF_MODULES_CACHE``, default
``~/.cache/huggingface/modules``); only hub names need the network. The folders have no
``__init__.py``: they are scripts for ``evaluate.load``, not modules of this package, and ship with it
through setuptools' namespace-package discovery.

>>> sorted(LOCAL_METRICS)
['accuracy', 'macro_f1']
>>> metric_path("macro_f1").name
'macro_f1'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench._validation import check_type
from workbench.errors import ParameterError

__all__ = ["LOCAL_METRICS", "local_metric", "metric_path"]

#: Metric names that load from this folder, offline.
LOCAL_METRICS = ("accuracy", "macro_f1")

_HERE = Path(__file__).resolve().parent


def metric_path(name: str) -> Path:
    """The folder of a local metric module, for ``evaluate.load(str(metric_path(name)))``.

    >>> (metric_path("accuracy") / "accuracy.py").is_file()
    True
    """
    check_type("name", name, "metric_path", str)
    if name not in LOCAL_METRICS:
        listed = ", ".join(repr(n) for n in LOCAL_METRICS)
        raise ParameterError(f"The 'name' parameter of metric_path must be one of {listed}. Got {name!r} instead. "
                             "Use local_metric for hub metrics.")
    return _HERE / name


def local_metric(name: str) -> Any:
    """An ``evaluate`` metric module: ours from this folder (offline) or, for other names, the hub's.

    ``"accuracy"`` and ``"macro_f1"`` load from :func:`metric_path` with ``keep_in_memory=True``, so
    predictions are not written to evaluate's cache folder. Any other name goes to
    ``evaluate.load(name)``, which needs the network (or evaluate's cache) for a hub metric.

    Raises
    ------
    ResourceUnavailableError
        When a hub metric cannot be loaded (offline, unknown name).

    Examples
    --------
    >>> local_metric("macro_f1").compute(predictions=[0, 1, 1, 1], references=[0, 0, 1, 1])  # doctest: +SKIP
    {'macro_f1': 0.7333333333333334}
    """
    from workbench.evaluation import _load_hub_metric

    check_type("name", name, "local_metric", str)
    if name not in LOCAL_METRICS:
        return _load_hub_metric(name, "local_metric")
    import evaluate  # pinned in pyproject.toml; imported here because it pulls in `datasets`

    return evaluate.load(str(metric_path(name)), keep_in_memory=True)
