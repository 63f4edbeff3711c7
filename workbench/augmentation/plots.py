"""Plots of the quality table and the ablation (frames in, Figures out)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from workbench.augmentation.ablation import EDA_PAPER_GAINS
from workbench.augmentation.quality import ORIGINAL, quality_wide


def plot_quality(quality: pd.DataFrame) -> Figure:
    """Two panels: meaning kept vs words changed per augmenter, and how often the classifier's label survives."""
    wide = quality_wide(quality)
    wide = wide[wide["status"] == "ok"]
    fig = Figure(figsize=(11, 4.2))
    left, right = fig.subplots(1, 2)
    left.scatter(wide["changed_word_ratio"], wide["semantic_similarity"], color="tab:blue")
    for name, row in wide.iterrows():
        left.annotate(name, (row["changed_word_ratio"], row["semantic_similarity"]), fontsize=8,
                      xytext=(3, 3), textcoords="offset points")
    left.set_xlabel("changed-word ratio")
    left.set_ylabel("semantic similarity to the source (MiniLM cosine)")
    left.set_title("How much changes, how much meaning stays")
    left.grid(alpha=0.3)
    agreement = wide["prediction_agreement"].drop(ORIGINAL, errors="ignore").dropna().sort_values()
    right.barh(agreement.index, agreement.to_numpy(), color="tab:green")
    right.set_xlabel("variants the classifier labels as their source")
    right.set_title("Does the label survive?")
    right.set_xlim(min(0.5, float(agreement.min()) - 0.05) if len(agreement) else 0.5, 1.0)
    right.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def plot_ablation(table: pd.DataFrame, *, paper: bool = True) -> Figure:
    """Accuracy gain (points) from augmentation vs training-set size, with 95% intervals.

    ``paper=True`` adds the EDA paper's average gains (Wei & Zou 2019, Table 2: +3.0 at N=500, +0.8 on
    full data sets, over five tasks and RNN/CNN models) as reference marks; the paper's "full" sets
    were larger than most, so that mark is drawn at this data set's full size only as a guide.
    """
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.subplots()
    ok = table[table["status"] == "ok"]
    for (learner, recipe), group in ok.groupby(["learner", "augmenter"], sort=False):
        group = group.sort_values("train_size")
        gain = 100 * group["gain"].to_numpy(dtype=float)
        err = 100 * np.vstack([group["gain"] - group["ci_low"], group["ci_high"] - group["gain"]]).astype(float)
        ax.errorbar(group["train_size"], gain, yerr=err, marker="o", capsize=3,
                    linestyle="--" if recipe == "copies" else "-", label=f"{recipe} ({learner})")
    ax.axhline(0.0, color="black", linewidth=0.8)
    if paper and len(ok):
        full = int(ok["train_size"].max())
        ax.scatter([500, full], [EDA_PAPER_GAINS["500"], EDA_PAPER_GAINS["full"]], marker="*", s=120,
                   color="grey", zorder=3, label="EDA paper average (Wei & Zou 2019, Table 2)")
    ax.set_xscale("log")
    ax.set_xlabel("training examples (before augmentation)")
    ax.set_ylabel("accuracy gain (points)")
    ax.set_title("Gain over no augmentation by training-set size (EDA's alpha and n_aug per size)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
