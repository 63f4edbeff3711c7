"""The compression explorer, driven headlessly on a hand-made table (no model is run)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.errors import DataError, ParameterError
from workbench.widgets import compression_explorer

PROBE = "<script>alert(1)</script>"


@pytest.fixture
def table():
    return pd.DataFrame({
        "variant": ["fp32_eager", "ort_int8_dynamic_per_channel", "distilled_student", "ort_fp32_all"],
        "method": ["precision", "quantization", "distillation", "onnxruntime"],
        "status": ["ok", "ok", "ok", "failed"],
        "reason": ["", "", "", f"ExportError: {PROBE}"],
        "accuracy": [0.80, 0.795, 0.77, np.nan],
        "macro_f1": [0.78, 0.77, 0.74, np.nan],
        "delta_accuracy": [0.0, -0.005, -0.03, np.nan],
        "delta_ci_low": [0.0, -0.008, -0.045, np.nan],
        "latency_ms_p50_b1": [90.0, 45.0, 30.0, np.nan],
        "latency_ms_p95_b1": [95.0, 50.0, 33.0, np.nan],
        "speedup_b1": [1.0, 2.0, 3.0, np.nan],
        "throughput_b32": [10.0, 20.0, 30.0, np.nan],
        "size_mb": [90.0, 23.0, 60.0, np.nan],
        "size_ratio": [1.0, 0.26, 0.67, np.nan],
    })


def test_tolerance_changes_the_recommendation(table):
    explorer = compression_explorer(table)
    assert "<code>ort_int8_dynamic_per_channel</code>" in explorer.html
    widened = explorer.set(tolerance=0.05)
    assert "<code>distilled_student</code>" in widened and "within 5.00 accuracy points" in widened
    assert "<code>ort_int8_dynamic_per_channel</code>" in explorer.set(tolerance=0.04)  # -4.5 at the lower bound
    assert "<code>fp32_eager</code>" in explorer.set(tolerance=0.0)
    assert explorer.last_error is None and "data:image/png;base64," in widened


def test_variant_selection_filters_the_table_and_ranking(table):
    explorer = compression_explorer(table, tolerance=0.05)
    html = explorer.set(variants=("fp32_eager", "ort_int8_dynamic_per_channel"))
    assert "distilled_student" not in html and "<code>ort_int8_dynamic_per_channel</code>" in html
    smallest = explorer.set(rank_by="size on disk", variants=tuple(table.variant))
    assert "<code>ort_int8_dynamic_per_channel</code>" in smallest and "size_mb = 23" in smallest
    assert explorer.set(variants=()) == "<p>Select at least one variant.</p>"


def test_failed_rows_show_their_reason_escaped(table):
    html = compression_explorer(table).set(variants=tuple(table.variant))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and PROBE not in html
    assert "<script" not in html


def test_only_failed_variants_give_a_message_not_a_crash(table):
    explorer = compression_explorer(table)
    html = explorer.set(variants=("ort_fp32_all",))
    assert "recommend_variant found no working variant" in html and explorer.last_error is None


def test_bad_tables_and_tolerances_are_rejected(table):
    with pytest.raises(DataError, match=r"non-empty compression_table. Got 4 rows, missing columns \['accuracy'\]"):
        compression_explorer(table.drop(columns=["accuracy"]))
    with pytest.raises(ParameterError, match="'tolerance' parameter of compression_explorer must be a finite number"):
        compression_explorer(table, tolerance=-0.01)
