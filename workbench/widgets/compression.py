"""Compression explorer: pick variants and an accuracy tolerance; the table, recommendation and Pareto plot follow.

Works off a :func:`workbench.compression.compression_table` computed beforehand, so a change only
filters rows, re-runs :func:`~workbench.compression.recommend_variant` (non-inferiority by the test
interval's lower bound; the report's decision is chosen on validation) and redraws the plot (milliseconds);
nothing is re-measured.

>>> explorer = compression_explorer(table)            # doctest: +SKIP
>>> html = explorer.set(tolerance=0.02)               # doctest: +SKIP
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import pandas as pd

from workbench._validation import check_float, check_type
from workbench.errors import DataError
from workbench.widgets._common import Explorer, figure_html

#: Columns shown in the table, with their headers.
SHOWN = {"variant": "variant", "status": "status", "accuracy": "accuracy", "delta_accuracy": "Δ accuracy",
         "delta_ci_low": "Δ lower 95%", "latency_ms_p50_b1": "p50 ms (b1)", "latency_ms_p95_b1": "p95 ms (b1)", "speedup_b1": "speed-up",
         "throughput_b32": "items/s (b32)", "size_mb": "size MB", "size_ratio": "size ratio", "reason": "reason"}
RANK_BY = {"latency p50, batch 1": "latency_ms_p50_b1", "latency p95, batch 1": "latency_ms_p95_b1",
           "size on disk": "size_mb"}


def compression_explorer(table: pd.DataFrame, *, tolerance: float = 0.01) -> Explorer:
    """An :class:`~workbench.widgets._common.Explorer` over a compression table.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per variant, as :func:`workbench.compression.compression_table` returns.
    tolerance : float
        Initial accuracy tolerance (fraction; 0.01 = 1 point).

    Examples
    --------
    >>> explorer = compression_explorer(table)            # doctest: +SKIP
    >>> "Recommended" in explorer.set(variants=("fp32_eager",))   # doctest: +SKIP
    True
    """
    check_type("table", table, "compression_explorer", pd.DataFrame)
    check_float("tolerance", tolerance, "compression_explorer", low=0.0, high=0.2)
    missing = sorted({"variant", "status", "accuracy", "delta_accuracy", "delta_ci_low", "latency_ms_p50_b1", "size_mb"}
                     - set(table.columns))
    if missing or table.empty:
        raise DataError(f"The 'table' parameter of compression_explorer must be a non-empty compression_table. "
                        f"Got {len(table)} rows, missing columns {missing} instead.")
    names = [str(name) for name in table.variant]
    controls = {
        "variants": widgets.SelectMultiple(options=names, value=tuple(names), rows=min(10, len(names)),
                                           description="Variants"),
        "tolerance": widgets.FloatSlider(value=tolerance, min=0.0, max=0.2, step=0.0025, readout_format=".4f",
                                         description="Tolerance", continuous_update=False),
        "rank_by": widgets.Dropdown(options=list(RANK_BY), value="latency p50, batch 1", description="Fastest by"),
    }
    frame = table.assign(variant=names)

    def render(variants, tolerance, rank_by):
        return render_compression(frame, variants=variants, tolerance=tolerance, by=RANK_BY[rank_by])

    return Explorer(controls, render, title="Compression: accuracy vs speed and size",
                    description="Pick variants and the accuracy loss you accept; the fastest variant whose lower "
                                "95% bound of Δ accuracy stays within it is recommended.")


def render_compression(table: pd.DataFrame, *, variants, tolerance: float, by: str = "latency_ms_p50_b1") -> str:
    """HTML for the explorer: recommendation line, escaped table, Pareto plot (pure function of its inputs)."""
    from workbench.compression import plot_pareto, recommend_variant

    chosen = table[table.variant.isin(list(variants))]
    if chosen.empty:
        return "<p>Select at least one variant.</p>"
    try:
        best = recommend_variant(chosen, tolerance=tolerance, by=by)
        line = (f"<p><b>Recommended</b> (lower 95% bound within {tolerance * 100:.2f} accuracy points): "
                f"<code>{html.escape(best['variant'])}</code> ({html.escape(by)} = {best['value']:.3g}, "
                f"Δ accuracy {best['delta_accuracy'] * 100:+.2f} points"
                + (f", {best['speedup_b1']:.2f}x vs fp32 eager" if best["speedup_b1"] is not None else "")
                + ")</p>")
        recommended = best["variant"]
    except DataError as error:
        line, recommended = f"<p>{html.escape(str(error))}</p>", None
    shown = chosen[[c for c in SHOWN if c in chosen.columns]].rename(columns=SHOWN)
    table_html = shown.to_html(index=False, escape=True, na_rep="–", float_format=lambda v: f"{v:.4g}",
                               classes="wb-table", border=0)
    plot = figure_html(plot_pareto(chosen, tolerance=tolerance, recommended=recommended), alt="Pareto plots")
    return line + table_html + plot
