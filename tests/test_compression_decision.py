"""The compression decision on planted predictions: chosen on validation by interval, judged on test (no model)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench import compression as C
from workbench.errors import DataError, ParameterError
from workbench.verdicts import VERDICT_KEYS

N = 400


def _flip(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``y`` with ``n`` seeded positions flipped: a variant ``n / N`` worse than the labels."""
    out = y.copy()
    out[np.random.default_rng(seed).choice(len(y), n, replace=False)] ^= 1
    return out


@pytest.fixture
def planted():
    """fp32 right everywhere; int8 1 error (non-inferior), fast_int8 faster but 6 points worse, slow_ok slower."""
    rng = np.random.default_rng(0)
    labels = {split: rng.integers(0, 2, N) for split in ("validation", "test")}
    errors = {"fp32_eager": 0, "int8": 1, "fast_int8": 24, "slow_ok": 0}
    predictions = {split: {name: _flip(y, n, seed=i) for i, (name, n) in enumerate(errors.items())}
                   for split, y in labels.items()}
    table = pd.DataFrame({"variant": list(errors), "status": ["ok"] * 4, "method": ["precision"] + ["quantization"] * 3,
                          "latency_ms_p50_b1": [20.0, 5.0, 2.0, 30.0], "latency_ms_p95_b1": [22.0, 6.0, 2.5, 33.0],
                          "size_mb": [90.0, 23.0, 23.0, 90.0]})
    return table, predictions, labels


def test_the_fastest_non_inferior_variant_is_chosen_and_judged_on_test(planted):
    table, predictions, labels = planted
    decision = C.decide_compression(table, predictions, labels, tolerance=0.01)
    assert (decision["choice"], decision["recommended"]) == ("int8", "int8")
    assert decision["non_inferior"] == ["int8", "slow_ok"]  # fast_int8's lower bound is near -8.5 points
    verdict = decision["verdict"]
    assert set(verdict) == set(VERDICT_KEYS) and verdict["choice"] == "int8"
    assert (verdict["selected_on"], verdict["reported_on"], verdict["n_comparisons"]) == ("validation", "test", 3)
    assert verdict["effect"]["rule"] == "non-inferiority" and verdict["effect"]["margin"] == 0.01
    assert verdict["effect"]["delta"] == pytest.approx(-1 / N)
    assert verdict["cost"]["latency_ms_p50_b1"] == {"candidate": 5.0, "baseline": 20.0}
    assert decision["verdicts"]["fast_int8"]["answer"] == "costs accuracy"


def test_changing_only_the_test_labels_leaves_the_choice(planted):
    table, predictions, labels = planted
    before = C.decide_compression(table, predictions, labels, tolerance=0.01)
    shuffled = {**labels, "test": np.random.default_rng(1).permutation(labels["test"])}
    after = C.decide_compression(table, predictions, shuffled, tolerance=0.01)
    assert (after["choice"], after["recommended"], after["non_inferior"]) == \
        (before["choice"], before["recommended"], before["non_inferior"])
    assert after["verdicts"]["fast_int8"]["ci95"] != before["verdicts"]["fast_int8"]["ci95"]  # test did change


def test_the_order_of_the_variants_does_not_matter(planted):
    table, predictions, labels = planted
    reordered = {split: dict(reversed(list(p.items()))) for split, p in predictions.items()}
    one = C.decide_compression(table, predictions, labels)
    other = C.decide_compression(table.iloc[::-1].reset_index(drop=True), reordered, labels)
    assert one == other


def test_a_wide_interval_is_not_non_inferior_even_with_a_small_point_estimate(planted):
    table, predictions, labels = planted
    # 4 of 40 validation examples discordant both ways: delta 0, but the interval is far wider than 1 point.
    small = {split: {n: p[:40] for n, p in preds.items()} for split, preds in predictions.items()}
    small["validation"]["int8"] = small["validation"]["fp32_eager"].copy()
    small["validation"]["int8"][:4] ^= 1
    small["validation"]["int8"][4:6] ^= 1
    labels40 = {split: y[:40] for split, y in labels.items()}
    small["validation"]["slow_ok"] = small["validation"]["int8"]
    decision = C.decide_compression(table, small, labels40, tolerance=0.01)
    assert decision["validation"]["int8"]["ci95"][0] < -0.01
    assert decision["recommended"] == "fp32_eager" and "int8" not in decision["non_inferior"]


def test_without_a_non_inferior_variant_the_closest_is_judged_and_fp32_recommended(planted):
    table, predictions, labels = planted
    keep = table[table.variant.isin(["fp32_eager", "fast_int8"])]
    decision = C.decide_compression(keep, predictions, labels, tolerance=0.01)
    assert (decision["choice"], decision["recommended"], decision["non_inferior"]) == ("fast_int8", "fp32_eager", [])
    assert decision["verdict"]["answer"] == "costs accuracy"


def test_decision_rejects_bad_input(planted):
    table, predictions, labels = planted
    with pytest.raises(ParameterError, match=r"'tolerance' parameter of decide_compression .* Got -0.01 instead"):
        C.decide_compression(table, predictions, labels, tolerance=-0.01)
    with pytest.raises(ParameterError, match=r"'by' parameter of decide_compression"):
        C.decide_compression(table, predictions, labels, by="accuracy")
    with pytest.raises(DataError, match=r"must hold a 'validation' split"):
        C.decide_compression(table, {"test": predictions["test"]}, labels)
    with pytest.raises(DataError, match=r"needs a working 'fp32_eager'"):
        C.decide_compression(table[table.variant != "fp32_eager"], predictions, labels)


def test_macro_f1_is_the_metric_of_every_comparison(planted):
    table, predictions, labels = planted
    decision = C.decide_compression(table, predictions, labels, metric="macro_f1")
    assert decision["verdict"]["metric"] == "macro_f1" and decision["metric"] == "macro_f1"


def test_findings_and_summary_from_the_decision(planted):
    table, predictions, labels = planted
    table = table.assign(reason="", speedup_b1=20.0 / table.latency_ms_p50_b1, size_ratio=table.size_mb / 90.0,
                         delta_accuracy=[0.0, -0.005, -0.06, 0.0], seq_len=128)
    table.loc[len(table)] = {"variant": "<img src=x>", "status": "failed", "method": "pruning",
                             "reason": "Boom: *bad* [x](javascript:1)"}
    decision = C.decide_compression(table, predictions, labels)
    text = C.compression_findings(table, decision, flags={"avx2"})
    assert "Recommendation: int8" in text and "5.00x the speed" not in text and "4.00x the speed" in text
    assert "&lt;img src=x&gt;" in text and "<img" not in text and "\\[x\\]\\(javascript:1\\)" in text
    assert "lacks VNNI" in text and "reduce_range" in text
    assert "has VNNI" in C.compression_findings(table, decision, flags={"avx512f", "avx512_vnni"})
    summary = C.compression_summary(table, decision)
    assert summary["verdict"] == decision["verdict"] and set(summary["verdicts"]) == {"int8", "fast_int8", "slow_ok"}
    assert summary["recommendation"]["variant"] == "int8" and summary["recommendation"]["speedup_b1"] == 4.0
    assert summary["variants"]["int8"]["delta_ci95"] == decision["verdicts"]["int8"]["ci95"]
    assert summary["variants"]["<img src=x>"]["reason"].startswith("Boom")


def test_findings_name_the_faster_variants_validation_could_not_clear(planted):
    table, predictions, labels = planted
    table = table.assign(reason="", speedup_b1=20.0 / table.latency_ms_p50_b1, size_ratio=table.size_mb / 90.0,
                         delta_accuracy=[0.0, -0.005, -0.06, 0.0], seq_len=128)
    decision = C.decide_compression(table, predictions, labels)
    assert decision["validation"]["fast_int8"]["examples_needed"] is None  # 6 points worse: no size would do
    assert decision["validation"]["int8"]["n_examples"] == N
    facts = C.compression_facts(table, decision, flags={"avx2"})
    assert [row["variant"] for row in facts["passed_over"]] == ["fast_int8"]  # slow_ok is slower than int8
    assert "fast\\_int8, 10.00x the speed" in C.compression_findings(table, decision, flags={"avx2"})
    # 2 errors in 400 (delta -0.5 points) with a lower bound below -1: more examples would clear it.
    wide = {split: dict(p) for split, p in predictions.items()}
    wide["validation"]["fast_int8"] = wide["validation"]["fp32_eager"].copy()
    wide["validation"]["fast_int8"][:2] ^= 1
    decision = C.decide_compression(table, wide, labels)
    needed = decision["validation"]["fast_int8"]["examples_needed"]
    assert not decision["validation"]["fast_int8"]["non_inferior"] and needed > N
    assert f"about {needed:,} validation examples" in C.compression_findings(table, decision, flags={"avx2"})


def test_hardware_note_both_ways():
    assert C.int8_hardware_note({"avx2", "fma"}) == {
        "vnni": False, "avx512": False, "reduce_range": True, "text": C.int8_hardware_note({"avx2"})["text"]}
    assert C.int8_hardware_note({"avx512f", "avx512_vnni"})["reduce_range"] is False
    assert C.int8_hardware_note({"avx_vnni"})["vnni"] is True


def test_recommend_variant_reads_the_lower_bound():
    table = pd.DataFrame({"variant": ["fp32_eager", "int8", "wide"], "status": ["ok"] * 3,
                          "delta_accuracy": [0.0, -0.004, 0.0], "delta_ci_low": [0.0, -0.009, -0.02],
                          "latency_ms_p50_b1": [10.0, 5.0, 2.0], "speedup_b1": [1.0, 2.0, 5.0],
                          "size_ratio": [1.0, 0.25, 0.25]})
    assert C.recommend_variant(table, tolerance=0.01)["variant"] == "int8"  # "wide" has delta 0 but a wide interval
    assert C.recommend_variant(table, tolerance=0.02)["variant"] == "wide"


def test_tables_follow_the_registry_order():
    names = ["pruned_heads_50", "qat_int8", "fp32_eager", "ort_fp32_all", "pruned_heads_25", "bf16_eager"]
    assert sorted(names, key=C.variant_sort_key) == ["fp32_eager", "bf16_eager", "ort_fp32_all", "pruned_heads_25",
                                                     "pruned_heads_50", "qat_int8"]
    quality = pd.DataFrame({"variant": names, "status": "ok", "size_mb": 1.0, "split": "test"})
    latency = pd.DataFrame({"variant": names, "batch_size": 1, "seq_len": 8, "threads": 1, "p50_ms": 1.0,
                            "p95_ms": 1.0, "throughput_per_s": 1.0, "peak_mem_mb": 0.0, "status": "ok"})
    one = C.compression_table(quality, latency)
    other = C.compression_table(quality.iloc[::-1], latency.sample(frac=1, random_state=0))
    pd.testing.assert_frame_equal(one, other)
    assert one.variant.tolist() == sorted(names, key=C.variant_sort_key)
