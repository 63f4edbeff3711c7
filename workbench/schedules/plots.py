"""Plots of schedule frames, range tests and comparisons: frames in, matplotlib Figures out."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from workbench._validation import check_choice
from workbench.schedules.groups import layer_name


def plot_schedules(frame: pd.DataFrame, *, log_y: bool = False):
    """One line per schedule and parameter group of a :func:`schedule_frame(s) <schedule_frames>` frame.

    >>> from workbench.schedules.frames import schedule_frame
    >>> plot_schedules(schedule_frame("cosine", num_training_steps=20, peak_lr=1e-3)).axes[0].get_ylabel()
    'learning rate'
    """
    import matplotlib.pyplot as plt

    frame = frame if "schedule" in frame else frame.assign(schedule="")
    many_groups = frame["group"].nunique() > 1
    # Constrained layout keeps a long legend beside the axes instead of squeezing them.
    fig, ax = plt.subplots(figsize=(8, 3.6), layout="constrained")
    for (name, group), rows in frame.groupby(["schedule", "group"], sort=False):
        label = f"{name} / group {group}" if many_groups else name
        ax.plot(rows["step"], rows["lr"], label=label or None)
    ax.set(xlabel="step", ylabel="learning rate", yscale="log" if log_y else "linear")
    labels = ax.get_legend_handles_labels()[1]
    if labels:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1), ncols=1 + len(labels) // 16)
    ax.grid(alpha=0.3)
    plt.close(fig)
    return fig


def plot_range_test(result):
    """Loss and smoothed loss against the learning rate (log scale), suggestions marked.

    >>> fig = plot_range_test(result)  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    frame = result.frame
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(frame["lr"], frame["loss"], alpha=0.3, label="loss")
    ax.plot(frame["lr"], frame["smoothed_loss"], label="smoothed loss")
    for (name, lr), color in zip(result.suggestions.items(), ("C2", "C3", "C4")):
        if lr is not None:
            ax.axvline(lr, color=color, linestyle="--", label=f"{name}: {lr:.2g}")
    ax.set(xscale="log", xlabel="learning rate", ylabel="loss", title="LR range test")
    smoothed = frame["smoothed_loss"][np.isfinite(frame["smoothed_loss"])]
    if len(smoothed):  # raw spikes near divergence would flatten the part of the curve that matters
        ax.set_ylim(min(frame["loss"].min(), smoothed.min()) * 0.95, smoothed.max() * 1.1)
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_comparison_curves(history: pd.DataFrame, *, metrics: Sequence[str] = ("loss", "eval_loss", "eval_accuracy"),
                           band: str = "minmax"):
    """One panel per metric: the mean over seeds per schedule, with a band over seeds.

    ``band="minmax"`` shades min to max over seeds, ``"std"`` mean +- one standard deviation. Loss panels
    are cut at the 98th percentile so one exploding run does not flatten the others.

    >>> fig = plot_comparison_curves(comparison.history)  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    check_choice("band", band, "plot_comparison_curves", ("minmax", "std"))
    names = list(dict.fromkeys(history["schedule"]))
    colors = {name: f"C{i % 10}" for i, name in enumerate(names)}
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.4 * len(metrics), 3.4), squeeze=False, layout="constrained")
    for ax, metric in zip(axes[0], metrics):
        rows = history[(history["metric"] == metric) & np.isfinite(history["value"].astype(float))]
        for name, group in rows.groupby("schedule", sort=False):
            stats = group.groupby("step")["value"].agg(["mean", "min", "max", "std"])
            low, high = ((stats["min"], stats["max"]) if band == "minmax"
                         else (stats["mean"] - stats["std"].fillna(0), stats["mean"] + stats["std"].fillna(0)))
            ax.plot(stats.index, stats["mean"], color=colors[name], label=name)
            ax.fill_between(stats.index, low, high, color=colors[name], alpha=0.18, linewidth=0)
        if "loss" in metric and len(rows):
            values = rows["value"].astype(float)
            ax.set_ylim(values.min() * 0.95, np.percentile(values, 98) * 1.1)
        ax.set(title=metric, xlabel="step")
        ax.grid(alpha=0.3)
    if names:
        axes[0][-1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
    plt.close(fig)
    return fig


def plot_gradient_heatmap(history: pd.DataFrame, *, metric: str = "layer_grad_norm"):
    """Per-layer gradient norms (or update ratios) over steps, one heatmap per schedule, log colour scale.

    Layers run from the embeddings (bottom) to the head (top); values are means over seeds.

    >>> fig = plot_gradient_heatmap(comparison.history)  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    check_choice("metric", metric, "plot_gradient_heatmap", ("layer_grad_norm", "layer_update_ratio"))
    rows = history[(history["metric"] == metric) & (history["value"].astype(float) > 0)]
    names = list(dict.fromkeys(rows["schedule"]))
    fig, axes = plt.subplots(max(1, len(names)), 1, figsize=(8, 0.6 + 1.5 * max(1, len(names))), squeeze=False,
                             sharex=True, layout="constrained")
    if rows.empty:
        warnings.warn(f"plot_gradient_heatmap found no {metric!r} rows; record them with gradient_stats_every.",
                      stacklevel=2)
        axes[0][0].text(0.5, 0.5, "no gradient statistics recorded", ha="center", va="center")
        axes[0][0].set_axis_off()
        plt.close(fig)
        return fig
    grid = rows.assign(value=rows["value"].astype(float)).groupby(["schedule", "layer", "step"])["value"].mean()
    norm = LogNorm(vmin=grid.min(), vmax=grid.max())
    num_layers = int(rows["layer"].max())
    for ax, name in zip(axes[:, 0], names):
        wide = grid[name].unstack("step").sort_index()
        mesh = ax.pcolormesh(wide.columns, np.arange(len(wide.index)), wide.to_numpy(), norm=norm, shading="nearest",
                             cmap="viridis")
        ax.set_yticks(np.arange(len(wide.index)), [layer_name(int(layer), num_layers) for layer in wide.index],
                      fontsize="small")
        ax.set_title(name, fontsize="medium", loc="left")
    axes[-1][0].set_xlabel("step")
    fig.colorbar(mesh, ax=axes[:, 0].tolist(), label=metric.replace("layer_", "").replace("_", " "))
    plt.close(fig)
    return fig
