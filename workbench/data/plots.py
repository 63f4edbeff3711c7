"""Plots of the overview frames: DataFrame in, matplotlib ``Figure`` out, no computation.

>>> from workbench.data import load_dataset, class_balance
>>> fig = plot_class_balance(class_balance(load_dataset(max_examples=20)))
>>> len(fig.axes[0].patches)  # 3 splits x 2 classes
6
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from workbench.data.overview import _CLASS_BALANCE_COLUMNS, _TEXT_LENGTH_COLUMNS, _check_columns

__all__ = ["plot_class_balance", "plot_text_lengths"]


def plot_class_balance(balance: pd.DataFrame) -> Figure:
    """Bar chart of class fractions per split, from :func:`class_balance` (matplotlib).

    Examples
    --------
    >>> from workbench.data import load_dataset, class_balance
    >>> fig = plot_class_balance(class_balance(load_dataset(max_examples=50)))
    """
    _check_columns(balance, _CLASS_BALANCE_COLUMNS, "plot_class_balance", "balance")
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.subplots()
    if balance.empty:
        return _no_data(fig, ax)
    table = balance.pivot(index="split", columns="label", values="fraction")
    table = table.reindex(index=pd.unique(balance["split"]), columns=pd.unique(balance["label"]))
    width = 0.8 / len(table.columns)
    for i, label in enumerate(table.columns):
        ax.bar(np.arange(len(table)) + i * width, table[label], width, label=str(label))
    ax.set_xticks(np.arange(len(table)) + width * (len(table.columns) - 1) / 2, table.index)
    ax.set(ylabel="fraction of split", title="Class balance by split")
    ax.legend(title="label", fontsize="small")
    return fig


def plot_text_lengths(lengths: pd.DataFrame) -> Figure:
    """Histograms of words and characters per example by label, log x (matplotlib).

    Takes the frame of :func:`text_lengths`.

    Examples
    --------
    >>> from workbench.data import load_dataset, text_lengths
    >>> fig = plot_text_lengths(text_lengths(load_dataset(max_examples=50)))
    """
    _check_columns(lengths, _TEXT_LENGTH_COLUMNS, "plot_text_lengths", "lengths")
    fig = Figure(figsize=(10, 3.5), layout="constrained")
    axes = fig.subplots(1, 2)
    if lengths.empty:
        return _no_data(fig, *axes)
    for ax, column, unit in zip(axes, ("n_words", "n_chars"), ("words", "characters")):
        values = lengths[column].clip(lower=1)  # log bins cannot hold 0
        bins = np.geomspace(values.min(), values.max() + 1, 30)
        for label, group in lengths.groupby("label", sort=False):
            ax.hist(group[column].clip(lower=1), bins=bins, alpha=0.5, label=str(label))
        ax.set(xscale="log", xlabel=f"{unit} per example", ylabel="examples")
    axes[0].legend(title="label", fontsize="small")
    fig.suptitle("Text length by label")
    return fig


def _no_data(fig: Figure, *axes) -> Figure:
    for ax in axes:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    return fig

