"""One row per variant, the recommendation, the Pareto front, the summary and reference points."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from workbench._validation import check_choice, check_float
from workbench.compression.config import (
    BASELINE,
    SUMMARY_KEYS,
    TABLE_COLUMNS,
    variant_sort_key,
)
from workbench.compression.runners import ORT_SESSION_SETTINGS
from workbench.errors import DataError
from workbench.hardware import onnxruntime_providers

# --------------------------------------------------------------------------------------------
# One row per variant, the recommendation and the Pareto plots


def compression_table(quality: pd.DataFrame, latency: pd.DataFrame, *, seq_len: int | None = None) -> pd.DataFrame:
    """One row per variant: quality, batch-1 latency (fewest threads), batch-32 throughput (most threads).

    ``seq_len`` defaults to the longest sequence measured. ``speedup_b1`` and ``size_ratio`` are
    taken against ``fp32_eager`` (speedup > 1 is faster, size_ratio < 1 is smaller). Quality rows
    with a ``split`` column are read on ``test``. Rows come in :func:`variant_sort_key` order, so
    the order the variants were given in never changes the table.

    Examples
    --------
    >>> compression_table(quality, latency).columns.tolist() == TABLE_COLUMNS   # doctest: +SKIP
    True
    """
    if "split" in quality:
        quality = quality[quality.split == "test"] if (quality.split == "test").any() else quality
    ok = latency[latency.status == "ok"] if len(latency) else latency
    seq_len = int(seq_len or (latency.seq_len.max() if len(latency) else 0))
    at_seq = ok[ok.seq_len == seq_len] if len(ok) else ok
    b1 = at_seq[at_seq.batch_size == 1]
    b1 = b1[b1.threads == b1.threads.min()] if len(b1) else b1
    large = at_seq[at_seq.batch_size > 1]
    large = large[(large.batch_size == large.batch_size.max()) & (large.threads == large.threads.max())] \
        if len(large) else large
    table = quality.merge(b1.set_index("variant")[["p50_ms", "p95_ms", "peak_mem_mb", "threads"]]
                          .rename(columns={"p50_ms": "latency_ms_p50_b1", "p95_ms": "latency_ms_p95_b1",
                                           "threads": "threads_b1", "peak_mem_mb": "peak_mem_b1"}),
                          left_on="variant", right_index=True, how="left")
    table = table.merge(large.set_index("variant")[["throughput_per_s", "threads", "peak_mem_mb"]]
                        .rename(columns={"throughput_per_s": "throughput_b32", "threads": "threads_b32"}),
                        left_on="variant", right_index=True, how="left")
    if "peak_mem_mb" not in table:
        table["peak_mem_mb"] = np.nan
    table["peak_mem_mb"] = table["peak_mem_mb"].fillna(table["peak_mem_b1"])
    base = table[table.variant == BASELINE]
    base_latency = base.latency_ms_p50_b1.iloc[0] if len(base) else np.nan
    base_size = base.size_mb.iloc[0] if len(base) else np.nan
    table["speedup_b1"] = base_latency / table.latency_ms_p50_b1
    table["size_ratio"] = table.size_mb / base_size
    table["seq_len"] = seq_len
    order = sorted(table.index, key=lambda i: variant_sort_key(table.at[i, "variant"]))
    return table.loc[order].reindex(columns=TABLE_COLUMNS).reset_index(drop=True)


def recommend_variant(table: pd.DataFrame, *, tolerance: float = 0.01, by: str = "latency_ms_p50_b1") -> dict[str, Any]:
    """The fastest working variant that is non-inferior at ``tolerance``: the lower 95% bound of its
    Δaccuracy (``delta_ci_low``) is at least ``-tolerance``; never the point estimate.

    ``tolerance`` is a fraction (0.01 = 1 accuracy point, Optimum / Intel Neural Compressor's
    default relative loss); the baseline always qualifies, so there is always an answer when it ran.
    This is the table's quick look (the explorer uses it); the report's decision, chosen on
    validation and judged on test, is :func:`~workbench.compression.decide_compression`.

    Returns
    -------
    dict
        ``variant``, ``tolerance``, ``by``, the winner's ``value`` (of ``by``), ``speedup_b1``,
        ``delta_accuracy``, ``size_ratio`` and ``candidates`` (names within tolerance, fastest first).

    Examples
    --------
    >>> table = pd.DataFrame({"variant": ["fp32_eager", "int8", "tiny"], "status": ["ok"] * 3,
    ...                       "delta_accuracy": [0.0, -0.004, -0.03], "delta_ci_low": [0.0, -0.008, -0.045],
    ...                       "latency_ms_p50_b1": [10.0, 5.0, 2.0],
    ...                       "speedup_b1": [1.0, 2.0, 5.0], "size_ratio": [1.0, 0.25, 0.1]})
    >>> recommend_variant(table, tolerance=0.01)["variant"], recommend_variant(table, tolerance=0.05)["variant"]
    ('int8', 'tiny')
    """
    func = "recommend_variant"
    check_float("tolerance", tolerance, func, low=0.0, high=1.0,
                fix="Give the accuracy loss you accept as a fraction, e.g. 0.01 for 1 point.")
    check_choice("by", by, func, ("latency_ms_p50_b1", "latency_ms_p95_b1", "size_mb"))
    usable = table[(table.status == "ok") & table.delta_ci_low.notna() & table[by].notna()]
    within = usable[(usable.delta_ci_low >= -tolerance - 1e-12) | (usable.variant == BASELINE)]
    within = within.sort_values([by, "variant"])
    if within.empty:
        raise DataError(f"{func} found no working variant with accuracy and {by} (the table has "
                        f"{len(table)} rows). Check the status and reason columns.")
    best = within.iloc[0]
    return {"variant": best.variant, "tolerance": float(tolerance), "by": by, "value": float(best[by]),
            "speedup_b1": _float(best.get("speedup_b1")), "delta_accuracy": float(best.delta_accuracy),
            "size_ratio": _float(best.get("size_ratio")), "candidates": within.variant.tolist()}


def _float(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def pareto_front(table: pd.DataFrame, *, x: str = "latency_ms_p50_b1", y: str = "accuracy") -> pd.Series:
    """True for rows no other row beats (lower or equal ``x`` and higher or equal ``y``, one strictly).

    >>> frame = pd.DataFrame({"latency_ms_p50_b1": [10, 5, 6], "accuracy": [0.9, 0.85, 0.8]})
    >>> pareto_front(frame).tolist()
    [True, True, False]
    """
    values = table[[x, y]].to_numpy(dtype=float)
    valid = ~np.isnan(values).any(axis=1)
    front = []
    for i, (xi, yi) in enumerate(values):
        dominated = valid[i] and bool(np.any(valid & (values[:, 0] <= xi) & (values[:, 1] >= yi)
                                             & ((values[:, 0] < xi) | (values[:, 1] > yi))))
        front.append(bool(valid[i] and not dominated))
    return pd.Series(front, index=table.index, name="pareto")




def compression_summary(table: pd.DataFrame, decision: dict[str, Any], *, probe: pd.DataFrame | None = None,
                        references: pd.DataFrame | None = None, base: dict[str, Any] | None = None,
                        built: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """The ``summary.json`` of the compression notebook.

    ``variants.<name>`` holds :data:`SUMMARY_KEYS`, ``status`` (failed ones their ``reason``) and,
    for every variant the decision compared, ``delta_ci95`` (test), ``validation_ci95`` and
    ``validation_examples_needed`` (validation examples that would show it non-inferior, if its Δ held);
    ``recommendation`` the recommended variant with its speed-up and size ratio; ``verdict`` the
    chosen variant's verdict (:func:`~workbench.compression.decide_compression`) and ``verdicts``
    its family's; ``precision_probe``, ``references`` and ``baseline`` (from
    :func:`~workbench.compression.finetune_baseline`'s ``base``: cached, seconds, cache key) when
    given; with ``built`` (:func:`~workbench.compression.build_variants`), a mixed-precision variant's
    ``excluded_nodes`` and ``mixed_search`` (each count tried); ``extra`` entries as they are.

    >>> table = pd.DataFrame({"variant": ["fp32_eager"], "status": ["ok"], "reason": [""],
    ...                       **{k: [1.0] for k in SUMMARY_KEYS}})
    >>> decision = {"recommended": "fp32_eager", "choice": "fp32_eager", "tolerance": 0.01, "metric": "accuracy",
    ...             "by": "latency_ms_p50_b1", "non_inferior": [], "validation": {}, "verdicts": {}, "verdict": None}
    >>> compression_summary(table, decision)["recommendation"]["speedup_b1"]
    1.0
    """
    variants = {}
    for row in table.to_dict("records"):
        name = row["variant"]
        entry = {key: _float(row.get(key)) for key in SUMMARY_KEYS}
        entry["status"] = row.get("status")
        if row.get("status") != "ok":
            entry["reason"] = row.get("reason")
        if name in decision["verdicts"]:
            entry["delta_ci95"] = list(decision["verdicts"][name]["ci95"])
            entry["validation_ci95"] = list(decision["validation"][name]["ci95"])
            entry["validation_examples_needed"] = decision["validation"][name].get("examples_needed")
        elif name == BASELINE:
            entry["delta_ci95"] = [0.0, 0.0]
        details = getattr((built or {}).get(name), "details", {}) or {}
        if "excluded_nodes" in details:
            entry["excluded_nodes"] = list(details["excluded_nodes"])
            entry["mixed_search"] = details["tried"]
        variants[name] = entry
    chosen = decision["recommended"]
    recommendation = {"variant": chosen, "tolerance": decision["tolerance"], "metric": decision["metric"],
                      "by": decision["by"], "chosen_on_validation": decision["choice"],
                      "non_inferior_on_validation": list(decision["non_inferior"])}
    recommendation |= {key: variants.get(chosen, {}).get(key) for key in ("speedup_b1", "size_ratio", "delta_ci95")}
    summary = {"variants": variants, "recommendation": recommendation, "verdict": decision["verdict"],
               "verdicts": decision["verdicts"],
               "headline": ["recommendation.variant", "recommendation.speedup_b1", "recommendation.size_ratio",
                            "variants.fp32_eager.accuracy"]}
    if probe is not None:
        summary["precision_probe"] = probe.set_index("dtype")[["native", "p50_ms", "slowdown"]].to_dict("index")
    if references is not None:
        summary["references"] = references.to_dict("records")
    summary["ort_session"] = {**ORT_SESSION_SETTINGS, "providers": onnxruntime_providers()}
    if base is not None:
        summary["baseline"] = {"cached": base["cached"], "seconds": base["seconds"], "cache_key": base["key"]}
    return summary | extra


def compression_results(quality: pd.DataFrame, latency: pd.DataFrame, probe: pd.DataFrame) -> pd.DataFrame:
    """The tidy rows of ``results.csv``: accuracy (every split), latency and precision-probe rows, with a
    ``table`` column naming which.

    >>> compression_results(pd.DataFrame({"variant": ["a"]}), pd.DataFrame({"variant": ["a"]}),
    ...                     pd.DataFrame({"dtype": ["float32"]})).table.tolist()
    ['accuracy', 'latency', 'precision']
    """
    frames = {"accuracy": quality, "latency": latency, "precision": probe}
    return pd.concat(frames, names=["table"]).reset_index(level=0).reset_index(drop=True)


#: Published reference points the report compares with (figures as the sources state them).
REFERENCE_POINTS = (
    {"reference": "PyTorch BERT dynamic quantization tutorial (MRPC)", "metric": "macro-F1 change",
     "value": 0.0, "compare": "torch_int8_dynamic", "column": "delta_macro_f1",
     "detail": "F1 0.902 before and after dynamic int8"},
    {"reference": "PyTorch BERT dynamic quantization tutorial (MRPC)", "metric": "size ratio",
     "value": 181 / 438, "compare": "torch_int8_dynamic", "column": "size_ratio",
     "detail": "438 MB to 181 MB, the embeddings staying float32"},
    {"reference": "ONNX Runtime BERT quantization notebook", "metric": "speed-up vs PyTorch fp32, 1 thread",
     "value": 1.7, "compare": "best_ort_int8", "column": "speedup_b1",
     "detail": "int8 about 1.7x faster than PyTorch fp32 on one thread"},
    {"reference": "ONNX Runtime BERT quantization notebook", "metric": "macro-F1 change",
     "value": -0.003, "compare": "best_ort_int8", "column": "delta_macro_f1",
     "detail": "F1 within 0.003 of fp32"},
    {"reference": "Optimum / Intel Neural Compressor", "metric": "accuracy change of the recommended variant",
     "value": -0.01, "compare": "recommendation", "column": "delta_accuracy",
     "detail": "default tolerance: at most 1% relative accuracy loss (ours: 1 absolute point by default)"},
)


def compare_with_references(table: pd.DataFrame, recommendation: dict[str, Any]) -> pd.DataFrame:
    """Our figure beside each of :data:`REFERENCE_POINTS` (NaN where the compared variant did not run).

    ``best_ort_int8`` is the fastest working ONNX Runtime int8 variant at batch 1; ``delta_macro_f1``
    is the variant's macro-F1 minus fp32 eager's.

    Returns
    -------
    pandas.DataFrame
        ``reference``, ``metric``, ``reference_value``, ``variant``, ``ours``, ``detail``.
    """
    ok = table[table.status == "ok"].set_index("variant")
    base_f1 = ok.macro_f1.get(BASELINE, np.nan)
    ort_int8 = ok[ok.index.str.startswith("ort_int8") & ok.latency_ms_p50_b1.notna()].sort_values("latency_ms_p50_b1")
    pick = {"best_ort_int8": ort_int8.index[0] if len(ort_int8) else None,
            "recommendation": recommendation.get("variant"), "torch_int8_dynamic": "torch_int8_dynamic"}
    rows = []
    for point in REFERENCE_POINTS:
        name = pick[point["compare"]]
        ours = np.nan
        if name in ok.index:
            ours = ok.macro_f1[name] - base_f1 if point["column"] == "delta_macro_f1" else ok[point["column"]][name]
        rows.append({"reference": point["reference"], "metric": point["metric"], "reference_value": point["value"],
                     "variant": name, "ours": ours, "detail": point["detail"]})
    return pd.DataFrame(rows, columns=["reference", "metric", "reference_value", "variant", "ours", "detail"])
