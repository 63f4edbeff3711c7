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
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from workbench._validation import check_choice, check_float, check_int, check_type
from workbench.errors import (
    DataError,
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

#: Metric names accepted by :func:`bootstrap_ci` and :func:`paired_bootstrap_test`.
METRICS = ("accuracy", "macro_f1")

CONFUSION_COLUMNS = ["true", "predicted", "count"]
METRICS_TABLE_COLUMNS = ["model", "metric", "value", "ci_low", "ci_high"]


# --------------------------------------------------------------------------- input checks

def _as_labels(name: str, values: Any, func: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ParameterError(
            f"The {name!r} parameter of {func} must be a 1-D sequence of labels. "
            f"Got an array of shape {array.shape} instead. Pass one label per example.")
    if array.size == 0:
        raise DataError(
            f"The {name!r} parameter of {func} must be non-empty. Got 0 labels instead. "
            "Evaluate on at least one example.")
    return array


def _check_same_length(y_true: Any, func: str, **predictions: Any) -> tuple[np.ndarray, ...]:
    """Return ``y_true`` and each prediction array, all 1-D, non-empty and of one length."""
    truth = _as_labels("y_true", y_true, func)
    arrays = [truth]
    for name, values in predictions.items():
        array = _as_labels(name, values, func)
        if len(array) != len(truth):
            raise ParameterError(
                f"The {name!r} parameter of {func} must have the same length as 'y_true' "
                f"({len(truth)}). Got length {len(array)} instead. Pass one prediction per example.")
        arrays.append(array)
    return tuple(arrays)


def _encode(*arrays: np.ndarray) -> tuple[list[np.ndarray], int]:
    """Map labels of any type to integer codes shared by all arrays; return codes and class count."""
    classes, codes = np.unique(np.concatenate(arrays), return_inverse=True)
    return list(np.split(codes, len(arrays))), len(classes)


def _label_name(label: Any, label_names: Sequence[str] | None) -> str:
    if label_names is not None and isinstance(label, (int, np.integer)) and 0 <= label < len(label_names):
        return str(label_names[label])
    return str(label.item() if isinstance(label, np.generic) else label)


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
        "n": int(len(y_true)),
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


# --------------------------------------------------------------------------- bootstrap

def _accuracy_stat(correct: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(correct, axis=axis)


def _macro_f1_stat(y_true: np.ndarray, y_pred: np.ndarray, axis: int = -1, *,
                   n_classes: int) -> np.ndarray:
    """Vectorised macro F1 on integer codes, equal to scikit-learn's on every resample.

    Per class, 2*tp + fp + fn = support + predicted count; classes absent from both arrays of a
    resample are left out of the average, as scikit-learn does.
    """
    y_true, y_pred = np.moveaxis(y_true, axis, -1), np.moveaxis(y_pred, axis, -1)
    total = np.zeros(y_true.shape[:-1])
    present = np.zeros(y_true.shape[:-1])
    for c in range(n_classes):
        is_true, is_pred = y_true == c, y_pred == c
        tp = np.sum(is_true & is_pred, axis=-1)
        denominator = np.sum(is_true, axis=-1) + np.sum(is_pred, axis=-1)
        total += np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)
        present += denominator > 0
    return total / np.maximum(present, 1)


def _check_bootstrap_options(func: str, metric: str, n_resamples: int) -> None:
    check_choice("metric", metric, func, METRICS)
    check_int("n_resamples", n_resamples, func, low=1, fix="Use about 1000 for a 95% interval.")


def bootstrap_ci(y_true: Sequence[Any], y_pred: Sequence[Any], *, metric: str = "accuracy",
                 n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of a metric, by ``scipy.stats.bootstrap``.

    Examples are resampled with replacement (``paired=True`` keeps each gold label with its
    prediction); the statistic is vectorised, so 1000 resamples of 1000 examples take milliseconds.

    Parameters
    ----------
    y_true, y_pred : sequence
        Gold and predicted labels.
    metric : {"accuracy", "macro_f1"}
    n_resamples : int
        Bootstrap resamples.
    confidence : float
        Coverage of the interval, in (0, 1).
    seed : int
        Seeds the resampling: same seed, same interval.

    Returns
    -------
    tuple of float
        ``(low, high)``.

    Examples
    --------
    >>> low, high = bootstrap_ci([1] * 80 + [0] * 20, [1] * 100)
    >>> low < 0.8 < high
    True
    """
    from scipy.stats import bootstrap

    func = "bootstrap_ci"
    y_true, y_pred = _check_same_length(y_true, func, y_pred=y_pred)
    _check_bootstrap_options(func, metric, n_resamples)
    check_float("confidence", confidence, func, low=0, high=1, low_open=True, high_open=True,
                fix="Use 0.95 for a 95% interval.")
    (codes_true, codes_pred), n_classes = _encode(y_true, y_pred)
    if metric == "accuracy":
        # Accuracy is the mean of one 0/1 sample: no pairing needed, and the cheapest statistic.
        data, statistic, paired = ((codes_true == codes_pred).astype(float),), _accuracy_stat, False
    else:
        data, statistic, paired = (codes_true, codes_pred), partial(_macro_f1_stat, n_classes=n_classes), True
    result = bootstrap(data, statistic, n_resamples=n_resamples, confidence_level=confidence,
                       method="percentile", paired=paired, vectorized=True, rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def mean_ci(values: Sequence[float], *, n_resamples: int = 1000, confidence: float = 0.95,
            seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of a mean, by ``scipy.stats.bootstrap``.

    For per-example scores that are not plain 0/1 correctness, e.g. each test example's correctness
    averaged over several training seeds. Constant values give a zero-width interval.

    >>> mean_ci([0.5, 0.5, 0.5])
    (0.5, 0.5)
    """
    from scipy.stats import bootstrap

    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ParameterError("The 'values' parameter of mean_ci must hold at least one value. Got none instead.")
    if np.all(values == values[0]):
        return float(values[0]), float(values[0])
    result = bootstrap((values,), np.mean, n_resamples=n_resamples, confidence_level=confidence,
                       method="percentile", vectorized=True, rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _shifted_null_p_value(distribution: np.ndarray, observed: float, n_resamples: int) -> float:
    """Two-sided bootstrap p-value under the shifted null (Berg-Kirkpatrick et al. 2012): the share of
    resamples at least ``|observed|`` away from ``observed``, as ``(s + 1) / (n_resamples + 1)``."""
    extreme = np.abs(np.asarray(distribution) - observed) >= abs(observed) - 1e-12
    return float((extreme.sum() + 1) / (n_resamples + 1))


def mean_difference_test(differences: Sequence[float], *, n_resamples: int = 1000,
                         seed: int = 0) -> dict[str, Any]:
    """Is the mean of paired per-example differences away from zero? The test of
    :func:`paired_bootstrap_test` for scores that are not plain 0/1 correctness, e.g. each test
    example's correctness averaged over training seeds, system A minus system B.

    ``scipy.stats.bootstrap`` resamples the differences; the interval is the percentile 95% one and
    the p-value two-sided under the shifted null. Constant differences give a zero-width interval.

    >>> mean_difference_test([0.0, 0.0, 0.0])
    {'delta': 0.0, 'ci95': (0.0, 0.0), 'p_value': 1.0}
    """
    from scipy.stats import bootstrap

    values = np.asarray(differences, dtype=float)
    if values.size == 0:
        raise ParameterError("The 'differences' parameter of mean_difference_test must hold at least one value. "
                             "Got none instead.")
    delta = float(values.mean())
    if np.all(values == values[0]):
        low = high = delta
        distribution = np.full(n_resamples, delta)
    else:
        result = bootstrap((values,), np.mean, n_resamples=n_resamples, confidence_level=0.95, method="percentile",
                           vectorized=True, rng=np.random.default_rng(seed))
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        distribution = result.bootstrap_distribution
    return {"delta": delta, "ci95": (low, high), "p_value": _shifted_null_p_value(distribution, delta, n_resamples)}


def paired_bootstrap_test(y_true: Sequence[Any], pred_a: Sequence[Any], pred_b: Sequence[Any], *,
                          metric: str = "accuracy", n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Is model A better than model B on these examples? Paired bootstrap test.

    Follows Koehn (2004) and Berg-Kirkpatrick et al. (2012): resample the examples (both models'
    predictions together), recompute ``delta = metric(A) - metric(B)`` on each resample. The p-value
    is **two-sided** under the shifted null of Berg-Kirkpatrick et al.: the share of resamples whose
    delta lies at least ``|delta|`` away from the observed delta, ``(s + 1) / (n_resamples + 1)``
    so it is never exactly 0. That is close to twice Koehn's one-sided share of sign flips.
    ``scipy.stats.bootstrap`` draws the resamples and gives the percentile 95% interval of delta.

    Returns
    -------
    dict
        ``delta`` (float), ``ci95`` (tuple low, high), ``p_value`` (float), ``metric``, ``n_resamples``.

    Examples
    --------
    >>> truth = [0, 1] * 50
    >>> paired_bootstrap_test(truth, truth, truth)["p_value"]
    1.0
    """
    from scipy.stats import bootstrap

    func = "paired_bootstrap_test"
    y_true, pred_a, pred_b = _check_same_length(y_true, func, pred_a=pred_a, pred_b=pred_b)
    _check_bootstrap_options(func, metric, n_resamples)
    (codes_true, codes_a, codes_b), n_classes = _encode(y_true, pred_a, pred_b)
    if metric == "accuracy":
        # The accuracy difference is the mean of per-example differences of correctness.
        data = ((codes_a == codes_true).astype(float) - (codes_b == codes_true),)
        statistic, paired = _accuracy_stat, False
    else:
        f1 = partial(_macro_f1_stat, n_classes=n_classes)
        data, paired = (codes_true, codes_a, codes_b), True

        def statistic(t, a, b, axis=-1):
            return f1(t, a, axis=axis) - f1(t, b, axis=axis)
    delta = float(statistic(*data))
    result = bootstrap(data, statistic, n_resamples=n_resamples, confidence_level=0.95,
                       method="percentile", paired=paired, vectorized=True, rng=np.random.default_rng(seed))
    return {
        "delta": delta,
        "ci95": (float(result.confidence_interval.low), float(result.confidence_interval.high)),
        "p_value": _shifted_null_p_value(result.bootstrap_distribution, delta, n_resamples),
        "metric": metric,
        "n_resamples": n_resamples,
    }


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
