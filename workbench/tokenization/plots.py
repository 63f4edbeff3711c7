"""Plots of the tokenization measurements: DataFrame in, matplotlib Figure out, no computation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from workbench.tokenization.metrics import compare_tokenizers, metrics_wide, sequence_lengths


def plot_fertility(frame: pd.DataFrame) -> Figure:
    """Bar charts of fertility and continued-word ratio from :func:`compare_tokenizers` output.

    >>> fig = plot_fertility(compare_tokenizers({"c": "cl100k_base"}, ["hi there"]))
    >>> len(fig.axes)
    2
    """
    import matplotlib.pyplot as plt

    wide = metrics_wide(frame) if len(frame) else pd.DataFrame(columns=["fertility", "continued_word_ratio"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, metric, label in zip(axes, ("fertility", "continued_word_ratio"),
                                 ("tokens per word", "share of words split")):
        values = wide[metric] if metric in wide else pd.Series(dtype=float)
        ax.bar([str(name) for name in values.index], values.to_numpy(dtype=float), color="tab:blue")
        ax.set_title(metric.replace("_", " "))
        ax.set_ylabel(label)
        ax.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_lengths(length_frame: pd.DataFrame, *, max_length: int | None = None) -> Figure:
    """Tokens per text per tokenizer, one horizontal box each (whiskers at the 5th and 95th
    percentiles, log scale), from :func:`sequence_lengths` output; ``max_length`` as a dashed line.

    >>> fig = plot_lengths(sequence_lengths({"c": "cl100k_base"}, ["a b", "c"]))
    >>> fig.axes[0].get_xlabel()
    'tokens per text (log scale)'
    """
    import matplotlib.pyplot as plt

    groups = list(length_frame.groupby("tokenizer", sort=False)) if len(length_frame) else []
    fig, ax = plt.subplots(figsize=(8, 0.9 + 0.35 * max(len(groups), 1)))
    if groups:
        # Most tokens per text at the top: the order of sequence cost.
        groups.sort(key=lambda item: float(item[1]["tokens"].median()))
        ax.boxplot([np.maximum(g["tokens"].to_numpy(dtype=float), 1) for _, g in groups], orientation="horizontal",
                   whis=(5, 95), showfliers=False, widths=0.6, tick_labels=[str(name) for name, _ in groups])
        ax.set_xscale("log")
    if max_length is not None:
        ax.axvline(max_length, color="tab:red", linestyle="--", linewidth=1, label=f"max_length {max_length}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("tokens per text (log scale)")
    ax.set_title("sequence length per text (box: quartiles, whiskers: 5th-95th percentile)", fontsize=9)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_downstream(frame: pd.DataFrame, correlation: Mapping[str, Any] | None = None) -> Figure:
    """Test accuracy vs vocabulary size per algorithm (95% intervals), and vs Rényi efficiency.

    ``frame`` is :attr:`DownstreamResult.frame`; ``correlation`` (:func:`downstream_correlation`) goes
    into the second panel's title.

    >>> fig = plot_downstream(pd.DataFrame({"algorithm": ["bpe"], "vocab_size": [1000], "accuracy": [0.7],
    ...     "ci95_low": [0.65], "ci95_high": [0.75], "renyi_efficiency": [0.4], "status": ["ok"]}))
    >>> [ax.get_xlabel() for ax in fig.axes]
    ['vocabulary size (log scale)', 'Rényi efficiency (alpha 2.5)']
    """
    import matplotlib.pyplot as plt

    done = frame[frame["status"] == "ok"] if "status" in frame else frame
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for index, (algorithm, group) in enumerate(done.groupby("algorithm", sort=False)):
        group = group.sort_values("vocab_size")
        color = f"C{index}"
        errors = np.vstack([group["accuracy"] - group["ci95_low"], group["ci95_high"] - group["accuracy"]])
        left.errorbar(group["vocab_size"], group["accuracy"], yerr=errors, marker="o", capsize=3, color=color,
                      label=str(algorithm))
        right.scatter(group["renyi_efficiency"], group["accuracy"], color=color, label=str(algorithm))
        for r in group.itertuples():
            right.annotate(f"{int(r.vocab_size):,}", (r.renyi_efficiency, r.accuracy), fontsize=7,
                           xytext=(3, 3), textcoords="offset points")
    left.set_xscale("log")
    left.set_xlabel("vocabulary size (log scale)")
    left.set_ylabel("test accuracy")
    left.set_title("accuracy vs vocabulary size (95% CI)")
    right.set_xlabel("Rényi efficiency (alpha 2.5)")
    right.set_ylabel("test accuracy")
    title = "accuracy vs Rényi efficiency"
    if correlation and np.isfinite(correlation.get("pearson_r", np.nan)):
        title += f" (Pearson r={correlation['pearson_r']:.2f}, Spearman rho={correlation['spearman_rho']:.2f})"
    right.set_title(title, fontsize=9)
    if len(done):
        left.legend()
        right.legend()
    fig.tight_layout()
    plt.close(fig)
    return fig
