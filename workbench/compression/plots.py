"""Pareto plots of accuracy against latency and size."""

from __future__ import annotations

import pandas as pd

from workbench.compression.config import BASELINE, method_of
from workbench.compression.report import pareto_front


def plot_pareto(table: pd.DataFrame, *, tolerance: float | None = 0.01, recommended: str | None = None):
    """Accuracy vs batch-1 latency and accuracy vs size, coloured by method, Pareto fronts drawn and named.

    Takes a :func:`compression_table`; rows without accuracy (failed variants) are left out. Only
    the variants on a front (and the recommended one) are labelled, so the labels stay readable.

    Examples
    --------
    >>> fig = plot_pareto(pd.DataFrame({"variant": ["fp32_eager", "int8"], "method": ["precision", "quantization"],
    ...                                 "status": ["ok", "ok"], "accuracy": [0.9, 0.89],
    ...                                 "latency_ms_p50_b1": [10.0, 5.0], "size_mb": [90.0, 23.0]}))
    >>> [ax.get_xlabel() for ax in fig.axes]
    ['latency p50, batch 1 (ms, log scale)', 'size on disk (MB, log scale)']
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    data = table[(table.status == "ok") & table.accuracy.notna()] if len(table) else table
    methods = data["method"] if "method" in data else data.variant.map(method_of)
    colours = dict(zip(("precision", "onnxruntime", "quantization", "pruning", "distillation"),
                       ("#4c72b0", "#8172b3", "#55a868", "#c44e52", "#dd8452")))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    for ax, x, label in ((axes[0], "latency_ms_p50_b1", "latency p50, batch 1 (ms, log scale)"),
                         (axes[1], "size_mb", "size on disk (MB, log scale)")):
        rows = data[data[x].notna()] if len(data) else data
        if len(rows):
            for method, group in rows.groupby(methods.loc[rows.index], sort=False):
                ax.scatter(group[x], group.accuracy, color=colours.get(method, "grey"), label=method, zorder=3)
            on_front = pareto_front(rows, x=x)
            front = rows[on_front].sort_values(x)
            ax.step(front[x], front.accuracy, where="post", color="black", lw=0.8, alpha=0.6, label="Pareto front")
            for row in rows[on_front | (rows.variant == recommended)].itertuples():
                ax.annotate(str(row.variant), (getattr(row, x), row.accuracy), fontsize=7, xytext=(4, 4),
                            textcoords="offset points", weight="bold" if row.variant == recommended else "normal")
            base = rows[rows.variant == BASELINE]
            if len(base) and tolerance is not None:
                top = base.accuracy.iloc[0]
                ax.axhspan(top - tolerance, top, color="#55a868", alpha=0.12, label=f"within {tolerance:g} of fp32")
            ax.set_xscale("log")
            # 1-2-5 ticks: labelled whatever the range, even when it spans less than a decade
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.legend(fontsize=7, loc="best")
        ax.set(xlabel=label, ylabel="accuracy")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_decision(decision: dict):
    """Δ against fp32 eager with its 95% interval, on validation (which chooses) and test (which reports),
    one row per compared variant, the tolerance drawn; the chosen variant in bold.

    Takes :func:`~workbench.compression.decide_compression`'s result (through
    :func:`~workbench.compression.decision_rows`); draws, computes nothing.

    >>> d = {"choice": "a", "tolerance": 0.01, "metric": "accuracy",
    ...      "validation": {"a": {"delta": 0.0, "ci95": [-0.005, 0.005], "non_inferior": True}},
    ...      "verdicts": {"a": {"effect": {"delta": 0.001}, "ci95": [-0.004, 0.006], "answer": "pays off",
    ...                         "p_adjusted": 0.001}}}
    >>> plot_decision(d).axes[0].get_xlabel()
    'Δ accuracy vs fp32 eager (points)'
    """
    from matplotlib.figure import Figure

    from workbench.compression.decision import decision_rows

    rows = decision_rows(decision).iloc[::-1].reset_index(drop=True)
    fig = Figure(figsize=(8, 0.4 * len(rows) + 1.6))
    ax = fig.subplots()
    for offset, split, colour in ((0.15, "validation", "#8172b3"), (-0.15, "test", "#55a868")):
        mid = 100 * rows[f"{split}_delta"]
        err = [mid - 100 * rows[f"{split}_ci_low"], 100 * rows[f"{split}_ci_high"] - mid]
        ax.errorbar(mid, rows.index + offset, xerr=err, fmt="o", color=colour, capsize=3, label=split)
    ax.axvline(-100 * decision["tolerance"], color="#c44e52", ls="--", lw=1, label="−tolerance")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(rows.index, rows.variant)
    for tick, chosen in zip(ax.get_yticklabels(), rows.chosen):
        tick.set_fontweight("bold" if chosen else "normal")
    ax.set_xlabel(f"Δ {decision['metric'].replace('_', '-')} vs fp32 eager (points)")
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
