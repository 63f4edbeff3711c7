"""Training curves from a :class:`~workbench.training.HistoryCallback` frame."""

from __future__ import annotations

import pandas as pd


def plot_history(history: pd.DataFrame, *, metrics: tuple[str, ...] = ("loss", "eval_accuracy")):
    """One panel per metric of a :class:`HistoryCallback` frame, over optimiser steps.

    >>> fig = plot_history(pd.DataFrame({"step": [1, 2], "epoch": [0.5, 1.0], "metric": ["loss"] * 2,
    ...                                  "value": [0.7, 0.6]}), metrics=("loss",))
    >>> fig.axes[0].get_title()
    'loss'
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        rows = history[history["metric"] == metric]
        ax.plot(rows["step"], rows["value"], marker="o" if len(rows) < 20 else None)
        ax.set(title=metric, xlabel="step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    plt.close(fig)
    return fig
