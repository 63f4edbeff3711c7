"""workbench.evaluation: known answers, parity with scikit-learn, bootstrap invariants, latency bounds."""

from __future__ import annotations

import json
import sys
import time
import types

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from workbench.errors import DataError, ParameterError, ResourceUnavailableError
from workbench.bootstrap import _macro_f1_stat
from workbench.evaluation import (
    CONFUSION_COLUMNS,
    bootstrap_ci,
    classification_metrics,
    confusion_frame,
    evaluate_predictions,
    hub_metric,
    measure_latency,
    paired_bootstrap_test,
    plot_confusion,
)


def noisy_predictions(n, *, accuracy, n_classes=2, seed=0):
    """Gold labels and predictions that are right with probability ``accuracy``."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, n_classes, n)
    wrong = (y_true + rng.integers(1, n_classes, n)) % n_classes
    return y_true, np.where(rng.random(n) < accuracy, y_true, wrong)


# --------------------------------------------------------------------------- metrics

def test_classification_metrics_known_answer():
    # Class 0: tp=1, fp=0, fn=1 -> P=1, R=0.5, F1=2/3. Class 1: tp=2, fp=1, fn=0 -> P=2/3, R=1, F1=0.8.
    metrics = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], label_names=["neg", "pos"])
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert metrics["precision"] == pytest.approx((1 + 2 / 3) / 2)
    assert metrics["recall"] == pytest.approx(0.75)
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert metrics["n"] == 4
    assert metrics["per_class_f1"] == pytest.approx({"neg": 2 / 3, "pos": 0.8})


def test_classification_metrics_matches_sklearn_on_string_labels():
    y_true, y_pred = noisy_predictions(300, accuracy=0.7, n_classes=4, seed=3)
    names = np.array(["a", "b", "c", "d"])
    metrics = classification_metrics(names[y_true], names[y_pred])
    assert metrics["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert metrics["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert set(metrics["per_class_f1"]) == {"a", "b", "c", "d"}


def test_confusion_frame_is_tidy_and_complete():
    frame = confusion_frame([0, 1, 1, 2], [0, 0, 1, 1], label_names=["a", "b", "c"])
    assert list(frame.columns) == CONFUSION_COLUMNS
    assert len(frame) == 9 and frame["count"].sum() == 4
    counts = {(t, p): c for t, p, c in frame.itertuples(index=False)}
    assert counts[("b", "a")] == 1 and counts[("c", "b")] == 1 and counts[("c", "c")] == 0


def test_confusion_frame_accepts_label_names_as_labels():
    frame = confusion_frame(["x", "y"], ["y", "y"], label_names=["x", "y"])
    assert frame["count"].tolist() == [0, 1, 0, 1]


def test_plot_confusion_renders_a_figure():
    figure = plot_confusion(confusion_frame([0, 1, 1], [0, 0, 1], label_names=["neg", "pos"]), normalize=True)
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["neg", "pos"]
    assert len(ax.texts) == 4


# --------------------------------------------------------------------------- bootstrap

def test_vectorised_macro_f1_matches_sklearn_on_resamples():
    y_true, y_pred = np.array([0, 1, 2, 2, 1]), np.array([0, 0, 2, 1, 1])
    rows = np.random.default_rng(0).integers(0, 5, (200, 5))  # small n: classes often go missing
    ours = _macro_f1_stat(y_true[rows], y_pred[rows], n_classes=3)
    reference = [f1_score(y_true[r], y_pred[r], average="macro", zero_division=0) for r in rows]
    np.testing.assert_allclose(ours, reference)


@pytest.mark.parametrize("metric", ["accuracy", "macro_f1"])
def test_bootstrap_ci_contains_point_and_is_reproducible(metric):
    y_true, y_pred = noisy_predictions(1000, accuracy=0.8, n_classes=3)
    point = classification_metrics(y_true, y_pred)["accuracy" if metric == "accuracy" else "macro_f1"]
    low, high = bootstrap_ci(y_true, y_pred, metric=metric, seed=7)
    assert low <= point <= high
    assert 0.01 < high - low < 0.1
    assert bootstrap_ci(y_true, y_pred, metric=metric, seed=7) == (low, high)


def test_bootstrap_ci_width_shrinks_with_n_and_confidence():
    widths = [np.subtract(*bootstrap_ci(*noisy_predictions(n, accuracy=0.8))[::-1]) for n in (100, 400, 1600)]
    assert widths[0] > widths[1] > widths[2]
    y_true, y_pred = noisy_predictions(500, accuracy=0.8)
    low90, high90 = bootstrap_ci(y_true, y_pred, confidence=0.90)
    low99, high99 = bootstrap_ci(y_true, y_pred, confidence=0.99)
    assert low99 < low90 and high90 < high99


def test_bootstrap_ci_covers_the_true_accuracy_about_95_percent_of_the_time():
    # 200 independent test sets from a model whose true accuracy is 0.7.
    hits = [low <= 0.7 <= high
            for low, high in (bootstrap_ci(*noisy_predictions(200, accuracy=0.7, seed=s), seed=s) for s in range(200))]
    assert 0.88 <= np.mean(hits) <= 0.99


def test_bootstrap_ci_is_fast():
    y_true, y_pred = noisy_predictions(1000, accuracy=0.8)
    bootstrap_ci(y_true, y_pred)  # import scipy outside the timing
    start = time.perf_counter()
    bootstrap_ci(y_true, y_pred, n_resamples=1000)
    assert time.perf_counter() - start < 0.5


def test_bootstrap_ci_of_perfect_predictions_is_a_point():
    assert bootstrap_ci([0, 1] * 20, [0, 1] * 20, metric="macro_f1") == (1.0, 1.0)


@pytest.mark.parametrize("metric", ["accuracy", "macro_f1"])
def test_paired_test_identical_predictions(metric):
    y_true, y_pred = noisy_predictions(300, accuracy=0.7)
    result = paired_bootstrap_test(y_true, y_pred, y_pred, metric=metric)
    assert result["delta"] == 0.0
    assert result["p_value"] == pytest.approx(1.0)
    assert result["ci95"] == (0.0, 0.0)


@pytest.mark.parametrize("metric", ["accuracy", "macro_f1"])
def test_paired_test_detects_a_clearly_better_model(metric):
    y_true, good = noisy_predictions(500, accuracy=0.9, seed=1)
    _, poor = noisy_predictions(500, accuracy=0.7, seed=1)  # same y_true: same seed
    result = paired_bootstrap_test(y_true, good, poor, metric=metric)
    assert result["delta"] > 0.1
    assert result["p_value"] < 0.05
    assert result["ci95"][0] <= result["delta"] <= result["ci95"][1]
    assert result["ci95"][0] > 0
    flipped = paired_bootstrap_test(y_true, poor, good, metric=metric)
    assert flipped["delta"] == pytest.approx(-result["delta"]) and flipped["p_value"] < 0.05


def test_paired_test_finds_no_difference_between_nearly_equal_models():
    y_true, a = noisy_predictions(300, accuracy=0.8, seed=2)
    right, wrong = np.flatnonzero(a == y_true), np.flatnonzero(a != y_true)
    b = a.copy()
    b[right[:15]] = 1 - y_true[right[:15]]  # B loses 15 examples A gets right ...
    b[wrong[:12]] = y_true[wrong[:12]]  # ... and wins 12 A gets wrong: delta = 3 / 300
    result = paired_bootstrap_test(y_true, a, b)
    assert result["delta"] == pytest.approx(0.01)
    assert result["p_value"] > 0.3
    assert result["ci95"][0] < 0 < result["ci95"][1]


def test_evaluate_predictions_is_json_serialisable():
    y_true, y_pred = noisy_predictions(400, accuracy=0.8)
    summary = evaluate_predictions(y_true, y_pred, label_names=["neg", "pos"], n_resamples=200)
    assert json.loads(json.dumps(summary)) == summary
    assert summary["ci95"][0] <= summary["accuracy"] <= summary["ci95"][1]
    assert summary["macro_f1_ci95"][0] <= summary["macro_f1"] <= summary["macro_f1_ci95"][1]
    assert isinstance(summary["ci95"], list) and summary["n"] == 400


# --------------------------------------------------------------------------- hub metrics

def test_hub_metric_without_evaluate_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "evaluate", None)  # import evaluate -> ImportError
    with pytest.raises(ResourceUnavailableError, match=r"optional 'evaluate' package.*pip install evaluate"):
        hub_metric("accuracy", [0, 1], [0, 1])


def test_hub_metric_offline_is_a_resource_error(monkeypatch):
    def load(name):
        raise ConnectionError("Couldn't reach 'accuracy' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setitem(sys.modules, "evaluate", types.SimpleNamespace(load=load))
    with pytest.raises(ResourceUnavailableError, match=r"could not load the metric 'accuracy'.*ConnectionError"):
        hub_metric("accuracy", [0, 1], [0, 1])


def test_hub_metric_passes_through_to_evaluate(monkeypatch):
    class FakeMetric:
        def compute(self, *, references, predictions):
            return {"accuracy": accuracy_score(references, predictions)}

    monkeypatch.setitem(sys.modules, "evaluate", types.SimpleNamespace(load=lambda name: FakeMetric()))
    assert hub_metric("accuracy", [0, 1, 1], [0, 1, 0]) == {"accuracy": pytest.approx(2 / 3)}


# --------------------------------------------------------------------------- latency

def test_measure_latency_of_a_sleep():
    stats = measure_latency(lambda: time.sleep(0.01), warmup=1, repeats=10, items_per_call=4)
    assert stats["p50_ms"] >= 10
    assert stats["p95_ms"] >= stats["p50_ms"] >= stats["min_ms"] > 0
    assert stats["mean_ms"] >= stats["min_ms"]
    assert stats["throughput_per_s"] == pytest.approx(4 / (stats["p50_ms"] / 1e3))
    assert stats["repeats"] == 10 and stats["warmup"] == 1


def test_measure_latency_runs_warmup_then_repeats():
    calls = []
    measure_latency(lambda: calls.append(1), warmup=2, repeats=5)
    assert len(calls) == 7


def test_measure_latency_sets_and_restores_threads():
    import torch

    before = torch.get_num_threads()
    seen = []
    stats = measure_latency(lambda: seen.append(torch.get_num_threads()), warmup=0, repeats=3, threads=1)
    assert stats["threads"] == 1 and set(seen) == {1}
    assert torch.get_num_threads() == before
    assert measure_latency(lambda: None, repeats=2)["threads"] == before


def test_measure_latency_restores_threads_when_fn_fails():
    import torch

    before = torch.get_num_threads()

    def broken():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        measure_latency(broken, threads=1)
    assert torch.get_num_threads() == before


def test_measure_latency_sees_a_200_mb_allocation():
    def allocate():
        return np.ones(25_000_000).sum()  # 200 MB of float64, touched

    idle = measure_latency(lambda: None, warmup=0, repeats=3)
    busy = measure_latency(allocate, warmup=1, repeats=3)
    assert busy["peak_rss_mb"] - idle["peak_rss_mb"] >= 150
    assert busy["peak_rss_mb"] - busy["baseline_rss_mb"] >= 150


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("call, error, match", [
    (lambda: classification_metrics([0, 1], [0]), ParameterError,
     r"'y_pred' parameter of classification_metrics must have the same length as 'y_true' \(2\)\. Got length 1"),
    (lambda: classification_metrics([], []), DataError, r"'y_true' parameter .* must be non-empty"),
    (lambda: classification_metrics([[0, 1]], [[0, 1]]), ParameterError, r"must be a 1-D sequence .* shape \(1, 2\)"),
    (lambda: bootstrap_ci([0, 1], [0, 1], metric="f1"), ParameterError,
     r"'metric' parameter of bootstrap_ci must be one of 'accuracy', 'macro_f1'\. Got 'f1'"),
    (lambda: bootstrap_ci([0, 1], [0, 1], n_resamples=0), ParameterError,
     r"'n_resamples' parameter of bootstrap_ci must be an int >= 1\. Got 0 instead\. Use about 1000"),
    (lambda: bootstrap_ci([0, 1], [0, 1], confidence=1.0), ParameterError,
     r"'confidence' parameter of bootstrap_ci must be a finite number in \(0, 1\)\. Got 1\.0 instead"),
    (lambda: bootstrap_ci([0, 1], [0, 1], confidence=95), ParameterError, r"'confidence' .* Got 95 instead"),
    (lambda: paired_bootstrap_test([0, 1], [0, 1], [0]), ParameterError, r"'pred_b' parameter .* Got length 1"),
    (lambda: paired_bootstrap_test([0, 1], [0, 1], [0, 1], metric="bleu"), ParameterError,
     r"one of 'accuracy', 'macro_f1'\. Got 'bleu'"),
    (lambda: paired_bootstrap_test([0, 1], [0, 1], [0, 1], n_resamples=-5), ParameterError, r"'n_resamples'"),
    (lambda: evaluate_predictions([], [], label_names=["a"]), DataError, r"must be non-empty"),
    (lambda: confusion_frame([0, 3], [0, 1], label_names=["a", "b"]), ParameterError, r"unknown labels \[3\]"),
    (lambda: measure_latency(lambda: None, repeats=0), ParameterError,
     r"'repeats' parameter of measure_latency must be an int >= 1\. Got 0"),
    (lambda: measure_latency("model", repeats=3), ParameterError,
     r"'fn' parameter of measure_latency must be callable"),
    (lambda: measure_latency(lambda: None, threads=0), ParameterError, r"'threads' .* >= 1\. Got 0"),
    (lambda: hub_metric(3, [0], [0]), ParameterError, r"'name' parameter of hub_metric must be of type str"),
])
def test_bad_input_gives_one_line_error(call, error, match):
    with pytest.raises(error, match=match) as info:
        call()
    assert "\n" not in str(info.value)


def test_mean_ci_matches_the_accuracy_interval_on_correctness_and_refuses_no_values():
    from workbench.evaluation import mean_ci

    y_true = [0, 1] * 50
    y_pred = [0, 1] * 40 + [1, 0] * 10
    correct = (np.asarray(y_true) == np.asarray(y_pred)).astype(float)
    assert mean_ci(correct, seed=4) == bootstrap_ci(y_true, y_pred, seed=4)
    low, high = mean_ci(correct * 0.5 + 0.25, seed=4)  # an affine map moves the interval with it
    assert (low, high) == pytest.approx((0.25 + 0.5 * mean_ci(correct, seed=4)[0],
                                         0.25 + 0.5 * mean_ci(correct, seed=4)[1]))
    with pytest.raises(ParameterError, match="'values' parameter of mean_ci must hold at least one value"):
        mean_ci([])


def test_mean_difference_test_equals_the_paired_test_on_correctness_and_handles_constants():
    from workbench.evaluation import mean_difference_test

    y_true = np.array([0, 1] * 100)
    pred_a = np.where(np.arange(200) % 10 == 0, 1 - y_true, y_true)  # 90% right
    pred_b = np.where(np.arange(200) % 10 < 4, 1 - y_true, y_true)  # 60% right, wrong wherever A is
    paired = paired_bootstrap_test(y_true, pred_a, pred_b, n_resamples=500, seed=3)
    differences = (pred_a == y_true).astype(float) - (pred_b == y_true)
    ours = mean_difference_test(differences, n_resamples=500, seed=3)
    assert ours["delta"] == pytest.approx(paired["delta"])
    assert ours["ci95"] == pytest.approx(paired["ci95"]) and ours["p_value"] == pytest.approx(paired["p_value"])
    assert ours["delta"] == pytest.approx(0.3) and ours["p_value"] < 0.01 and ours["ci95"][0] > 0
    # Constant differences: no spread; a zero gain is no evidence, a constant non-zero one is.
    assert mean_difference_test([0.0] * 5, n_resamples=99) == {"delta": 0.0, "ci95": (0.0, 0.0), "p_value": 1.0}
    assert mean_difference_test([0.5] * 5, n_resamples=99)["p_value"] == pytest.approx(0.01)
    with pytest.raises(ParameterError, match="'differences' parameter of mean_difference_test must hold"):
        mean_difference_test([])


def test_latency_without_memory_runs_no_sampler_beside_the_timed_calls():
    import math
    import threading

    from workbench.latency import peak_memory

    def sampler_alive():
        seen.append(any(t.name == "peak-rss-sampler" for t in threading.enumerate()))

    seen: list[bool] = []
    timed = measure_latency(sampler_alive, warmup=0, repeats=5, memory=False)
    assert seen == [False] * 5 and math.isnan(timed["peak_rss_mb"]) and len(timed["samples_ms"]) == 5
    seen.clear()
    measure_latency(sampler_alive, warmup=0, repeats=3)
    assert seen == [True] * 3   # the default samples memory while timing
    seen.clear()
    memory = peak_memory(lambda: (sampler_alive(), bytearray(32 * 2**20)))
    assert seen == [True] and memory["peak_rss_mb"] >= memory["baseline_rss_mb"]
    with pytest.raises(ParameterError, match="'fn' parameter of peak_memory must be callable"):
        peak_memory(3)
