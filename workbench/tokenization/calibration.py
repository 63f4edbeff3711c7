"""How well does each intrinsic score predict downstream accuracy on *your* data?

Papers disagree: Zouhar et al. (2023) find Rényi efficiency correlating with BLEU at r = 0.78 over
their tokenizers; Schmidt et al. (2024) and Cognetta et al. (2024) build counterexamples. So the report
does not assume it: over every finished downstream configuration, the Spearman rank correlation of each
intrinsic score with test accuracy (``scipy.stats.spearmanr``), with a percentile bootstrap interval
over configurations (resampled with replacement; resamples where either side is constant are dropped).
With a handful of configurations the interval is wide, which is the honest answer.

>>> frame = pd.DataFrame({"fertility": [1.6, 1.4, 1.2, 1.1], "accuracy": [0.70, 0.72, 0.74, 0.75],
...                       "status": "ok"})
>>> calibrate_intrinsic(frame, metrics=["fertility"], n_resamples=200)["fertility"]["spearman"]
-1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench._validation import check_int
from workbench.tokenization.downstream import CALIBRATION_METRICS

CALIBRATED: tuple[str, ...] = (*CALIBRATION_METRICS, "kept_char_share", "vocab_size")
"""Scores :func:`calibrate_intrinsic` relates to accuracy by default (truncation and size included)."""


def calibrate_intrinsic(frame: pd.DataFrame, *, metrics: Sequence[str] = CALIBRATED, y: str = "accuracy",
                        n_resamples: int = 1000, seed: int = 0) -> dict[str, dict[str, Any]]:
    """``{metric: {"spearman", "ci95", "n"}}`` over the finished rows of a downstream frame.

    Fewer than three configurations, or a constant column, give NaN and a NaN interval.
    """
    from scipy.stats import spearmanr

    check_int("n_resamples", n_resamples, "calibrate_intrinsic", low=10)
    done = frame[frame["status"] == "ok"] if "status" in frame else frame
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, Any]] = {}
    for metric in metrics:
        if metric not in done:
            continue
        rows = done[[metric, y]].dropna().to_numpy(dtype=float)
        nan = {"spearman": float("nan"), "ci95": [float("nan"), float("nan")], "n": int(len(rows))}
        if len(rows) < 3 or np.ptp(rows[:, 0]) == 0 or np.ptp(rows[:, 1]) == 0:
            out[metric] = nan
            continue
        rho = float(spearmanr(rows[:, 0], rows[:, 1]).statistic)
        draws = []
        for _ in range(n_resamples):
            sample = rows[rng.integers(0, len(rows), len(rows))]
            if np.ptp(sample[:, 0]) > 0 and np.ptp(sample[:, 1]) > 0:
                draws.append(spearmanr(sample[:, 0], sample[:, 1]).statistic)
        low, high = np.percentile(draws, [2.5, 97.5]) if draws else (np.nan, np.nan)
        out[metric] = {"spearman": round(rho, 12), "ci95": [float(low), float(high)], "n": int(len(rows))}
    return out
