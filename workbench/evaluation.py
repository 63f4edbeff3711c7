"""Task metrics, bootstrap confidence intervals, paired significance tests, latency and memory.

Everything works offline: scikit-learn computes the metrics, ``scipy.stats.bootstrap`` does the
resampling, psutil samples memory. Hub metrics from the optional ``evaluate`` package are reachable
through :func:`hub_metric` only, and fail with a clear :class:`~workbench.errors.ResourceUnavailableError`
when the package or the network is missing.

Heavy libraries (scikit-learn, scipy, matplotlib, torch) are imported inside the functions that use
them, so ``import workbench`` stays quick.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench._validation import check_type
from workbench.bootstrap import (  # re-exported: bootstrap.py holds the intervals and paired tests
    METRICS,
    _check_same_length,
    _label_name,
    bootstrap_ci,
    mean_ci,
    mean_difference_test,
    paired_bootstrap_test,
)
from workbench.errors import (
    ParameterError,
    ResourceUnavailableError,
    first_line,
)
from workbench.latency import measure_latency  # re-exported: latency.py holds it now

__all__ = [
    "METRICS",
    "bootstrap_ci",
    "classification_metrics",
    "confusion_frame",
    "evaluate_predictions",
    "hub_metric",
    "mean_ci",
    "mean_difference_test",
    "measure_latency",
    "metrics_table",
    "paired_bootstrap_test",
    "plot_confusion",
    "plot_intervals",
]


CONFUSION_COLUMNS = ["true", "predicted", "count"]
METRICS_TABLE_COLUMNS = ["model", "metric", "value", "ci_low", "ci_high"]




# --------------------------------------------------------------------------- metrics

def classification_metrics(y_true: Sequence[Any], y_pred: Sequence[Any], *,
                           label_names: Sequence[str] | None = None) -> dict[str, Any]:
    """Accuracy, macro F1, macro precision and macro recall, computed by scikit-learn.

    Macro averages run over the labels present in ``y_true`` or ``y_pred`` (scikit-learn's default);
    a class that is never predicted scores 0 precision instead of warning.

    Parameters
    ----------
    y_true, y_pred : sequence
        Gold and predicted labels, one per example (ints or strings).
    label_names : sequence of str, optional
        Names of integer labels (``label_names[i]`` names label ``i``), used for ``per_class_f1``.

    Returns
    -------
    dict
        ``accuracy``, ``macro_f1``, ``precision``, ``recall`` (plain floats), ``n`` (int) and
        ``per_class_f1`` (label name -> F1).

    Examples
    --------
    >>> m = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], label_names=["neg", "pos"])
    >>> m["accuracy"], round(m["macro_f1"], 3), m["per_class_f1"]["neg"]
    (0.75, 0.733, 0.6666666666666666)
    """
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    func = "classification_metrics"
    y_true, y_pred = _check_same_length(y_true, func, y_pred=y_pred)
    labels = np.unique(np.concatenate([y_true, y_pred]))
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1.mean()),
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
        "n": len(y_true),
        "per_class_f1": {_label_name(label, label_names): float(score) for label, score in zip(labels, f1)},
    }


def confusion_frame(y_true: Sequence[Any], y_pred: Sequence[Any], *,
                    label_names: Sequence[str]) -> pd.DataFrame:
    """Tidy confusion matrix: one row per (true, predicted) pair of classes, zeros included.

    Labels may be integer ids into ``label_names`` or the names themselves. Rows follow the order of
    ``label_names``. scikit-learn's ``confusion_matrix`` does the counting.

    Examples
    --------
    >>> confusion_frame([0, 1, 1], [0, 0, 1], label_names=["neg", "pos"]).to_dict("list")
    {'true': ['neg', 'neg', 'pos', 'pos'], 'predicted': ['neg', 'pos', 'neg', 'pos'], 'count': [1, 0, 1, 1]}
    """
    from sklearn.metrics import confusion_matrix

    func = "confusion_frame"
    y_true, y_pred = _check_same_length(y_true, func, y_pred=y_pred)
    names = [str(name) for name in label_names]
    if not names:
        raise ParameterError(f"The 'label_names' parameter of {func} must list at least one class. "
                             "Got [] instead. Pass the ClassLabel's .names.")
    ids = list(range(len(names))) if np.issubdtype(y_true.dtype, np.integer) else names
    unknown = sorted(set(np.concatenate([y_true, y_pred]).tolist()) - set(ids), key=str)
    if unknown:
        raise ParameterError(
            f"The labels given to {func} must be ids or names from 'label_names' ({names}). "
            f"Got unknown labels {unknown[:5]} instead. Pass the matching label_names.")
    matrix = confusion_matrix(y_true, y_pred, labels=ids)
    true, predicted = np.meshgrid(names, names, indexing="ij")
    return pd.DataFrame({"true": true.ravel(), "predicted": predicted.ravel(),
                         "count": matrix.ravel().astype(int)}, columns=CONFUSION_COLUMNS)


def plot_confusion(frame: pd.DataFrame, *, normalize: bool = False):
    """Heat map of a :func:`confusion_frame`, counts written in each cell.

    ``normalize=True`` shows each true class's row as shares (recall on the diagonal).

    Examples
    --------
    >>> fig = plot_confusion(confusion_frame([0, 1, 1], [0, 0, 1], label_names=["neg", "pos"]))
    >>> fig.axes[0].get_xlabel()
    'predicted'
    """
    import matplotlib.pyplot as plt

    # pivot_table with sort=False keeps the label order confusion_frame wrote.
    matrix = frame.pivot_table(index="true", columns="predicted", values="count",
                               aggfunc="sum", sort=False, fill_value=0)
    values = matrix.to_numpy(dtype=float)
    if normalize:
        values = values / np.maximum(values.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.2 * len(matrix.columns) + 2, 1.0 * len(matrix.index) + 1.5))
    image = ax.imshow(values, cmap="Blues")
    ax.set(xticks=range(len(matrix.columns)), xticklabels=matrix.columns,
           yticks=range(len(matrix.index)), yticklabels=matrix.index,
           xlabel="predicted", ylabel="true")
    for (row, col), value in np.ndenumerate(values):
        text = f"{value:.2f}" if normalize else f"{int(value)}"
        dark = value > values.max() / 2
        ax.text(col, row, text, ha="center", va="center", color="white" if dark else "black")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    plt.close(fig)  # the caller displays or saves it; keep pyplot's global list from growing
    return fig


def evaluate_predictions(y_true: Sequence[Any], y_pred: Sequence[Any], *, label_names: Sequence[str] | None,
                         n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """:func:`classification_metrics` plus 95% bootstrap intervals for accuracy and macro F1.

    Returns a JSON-serialisable dict: the metrics, ``ci95`` ([low, high] of accuracy),
    ``macro_f1_ci95`` and ``n_resamples``.

    Examples
    --------
    >>> summary = evaluate_predictions([0, 1] * 50, [0, 1] * 45 + [1, 0] * 5, label_names=["a", "b"])
    >>> summary["accuracy"], summary["ci95"][0] < 0.9 < summary["ci95"][1]
    (0.9, True)
    """
    summary = classification_metrics(y_true, y_pred, label_names=label_names)
    for key, metric in (("ci95", "accuracy"), ("macro_f1_ci95", "macro_f1")):
        summary[key] = list(bootstrap_ci(y_true, y_pred, metric=metric, n_resamples=n_resamples, seed=seed))
    summary["n_resamples"] = n_resamples
    return summary


def metrics_table(named: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Tidy rows ``(model, metric, value, ci_low, ci_high)`` from :func:`evaluate_predictions` outputs.

    Examples
    --------
    >>> row = {"accuracy": 0.8, "ci95": [0.75, 0.85], "macro_f1": 0.7, "macro_f1_ci95": [0.6, 0.8]}
    >>> metrics_table({"tfidf": row})["value"].tolist()
    [0.8, 0.7]
    """
    rows = []
    for model, summary in named.items():
        for metric, interval in (("accuracy", "ci95"), ("macro_f1", "macro_f1_ci95")):
            low, high = summary.get(interval, (np.nan, np.nan))
            rows.append({"model": model, "metric": metric, "value": float(summary[metric]),
                         "ci_low": float(low), "ci_high": float(high)})
    return pd.DataFrame(rows, columns=METRICS_TABLE_COLUMNS)


def plot_intervals(frame: pd.DataFrame, *, label: str = "model", value: str = "value",
                   low: str = "ci_low", high: str = "ci_high", title: str | None = None):
    """Horizontal dot-and-whisker plot of point estimates with their confidence intervals.

    Examples
    --------
    >>> frame = pd.DataFrame({"model": ["a", "b"], "value": [0.7, 0.8], "ci_low": [0.6, 0.75],
    ...                       "ci_high": [0.8, 0.85]})
    >>> plot_intervals(frame).axes[0].get_xlabel()
    'value (95% CI)'
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(frame) + 1.4))
    positions = np.arange(len(frame))
    errors = np.vstack([frame[value] - frame[low], frame[high] - frame[value]])
    ax.errorbar(frame[value], positions, xerr=errors, fmt="o", capsize=4)
    ax.set(yticks=positions, yticklabels=frame[label].astype(str), xlabel=f"{value} (95% CI)", title=title)
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    plt.close(fig)
    return fig


def hub_metric(name: str, y_true: Sequence[Any], y_pred: Sequence[Any], **compute_kwargs: Any) -> dict[str, Any]:
    """Compute a metric from the Hugging Face hub with the optional ``evaluate`` package.

    ``evaluate.load`` fetches the metric's script from the hub, so this needs the package *and*
    the network. Prefer :func:`classification_metrics`, which works offline.

    Raises
    ------
    ResourceUnavailableError
        When ``evaluate`` is not installed or the metric cannot be loaded (offline, unknown name).

    Examples
    --------
    >>> hub_metric("accuracy", [0, 1], [0, 1])  # doctest: +SKIP
    {'accuracy': 1.0}
    """
    check_type("name", name, "hub_metric", str)
    loaded = _load_hub_metric(name, "hub_metric")
    return loaded.compute(references=list(y_true), predictions=list(y_pred), **compute_kwargs)


def _load_hub_metric(name: str, func: str) -> Any:
    """``evaluate.load(name)``, its failures turned into one-line ResourceUnavailableErrors naming ``func``
    (the first line of evaluate's message is kept); shared with :func:`workbench.metrics.local_metric`."""
    try:
        import evaluate
    except ImportError:
        raise ResourceUnavailableError(
            f"{func}({name!r}) needs the optional 'evaluate' package, which is not installed. "
            "Install it with `pip install evaluate`, or use classification_metrics, which works offline.") from None
    try:
        return evaluate.load(name)
    except Exception as error:  # evaluate raises many types (ConnectionError, FileNotFoundError, ...)
        raise ResourceUnavailableError(
            f"{func} could not load the metric {name!r} from the Hugging Face hub "
            f"({type(error).__name__}: {first_line(error)}). Check the name and the network, or use "
            "classification_metrics, which works offline.") from error
