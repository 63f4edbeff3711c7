"""Diagnostics of a training history: divergence and plateaus."""

from __future__ import annotations

import math
import warnings

import pandas as pd

from workbench._validation import check_choice, check_float, check_int


def detect_divergence(history: pd.DataFrame, *, diverge_factor: float = 4.0) -> dict:
    """First sign of divergence in a training history: a non-finite loss or gradient norm, or a loss
    above ``diverge_factor`` times the first logged loss.

    Parameters
    ----------
    history : pandas.DataFrame
        Tidy rows ``step``, ``metric``, ``value`` (``TrainResult.history``); ``loss`` and ``grad_norm`` are read.

    Returns
    -------
    dict
        ``diverged`` (bool), ``step`` (Trainer step, or None) and ``reason`` (text, or None).

    Examples
    --------
    >>> h = pd.DataFrame({"step": [1, 2, 3], "metric": "loss", "value": [0.7, 0.6, float("nan")]})
    >>> detect_divergence(h)
    {'diverged': True, 'step': 3, 'reason': 'loss is nan'}
    """
    check_float("diverge_factor", diverge_factor, "detect_divergence", low=1.0, low_open=True)
    rows = history[history["metric"].isin(["loss", "grad_norm"])].sort_values("step", kind="stable")
    losses = rows.loc[rows["metric"] == "loss", "value"]
    initial = float(losses.iloc[0]) if len(losses) else None
    for row in rows.itertuples():
        reason = _divergence_reason(row.metric, float(row.value), initial, diverge_factor)
        if reason:
            return {"diverged": True, "step": int(row.step), "reason": reason}
    return {"diverged": False, "step": None, "reason": None}


def _divergence_reason(metric: str, value: float, initial: float | None, factor: float) -> str | None:
    if not math.isfinite(value):
        return f"{metric} is {value}"
    if metric == "loss" and initial is not None and math.isfinite(initial) and value > factor * initial:
        return f"loss {value:.4g} > {factor:g} x initial loss {initial:.4g}"
    return None


def detect_plateaus(history: pd.DataFrame, *, metric: str = "eval_loss", patience: int = 3,
                    min_delta: float = 0.0, mode: str = "min") -> list[dict]:
    """Stretches where ``metric`` failed to improve by more than ``min_delta`` for ``patience`` or more
    evaluations in a row (the rule of Trainer's ``EarlyStoppingCallback``).

    Returns
    -------
    list of dict
        ``start_step`` (step of the best value), ``end_step`` (last step without improvement), ``best``
        and ``n_evaluations`` (evaluations without improvement) per plateau.

    Examples
    --------
    >>> h = pd.DataFrame({"step": [1, 2, 3, 4], "metric": "eval_loss", "value": [0.5, 0.5, 0.5, 0.4]})
    >>> detect_plateaus(h, patience=2)
    [{'start_step': 1, 'end_step': 3, 'best': 0.5, 'n_evaluations': 2}]
    """
    func = "detect_plateaus"
    check_int("patience", patience, func, low=1)
    check_float("min_delta", min_delta, func, low=0.0)
    check_choice("mode", mode, func, ("min", "max"))
    rows = history[history["metric"] == metric].sort_values("step", kind="stable")
    if rows.empty:
        warnings.warn(f"detect_plateaus found no {metric!r} rows in the history.", stacklevel=2)
    sign = 1.0 if mode == "min" else -1.0
    plateaus, best, best_step, waited = [], math.inf, None, 0
    for step, value in zip(rows["step"].astype(int), rows["value"].astype(float)):
        if sign * value < best - min_delta:
            best, best_step, waited = sign * value, step, 0
            continue
        waited += 1
        if waited == patience:
            plateaus.append({"start_step": best_step, "end_step": step, "best": sign * best, "n_evaluations": waited})
        elif waited > patience:
            plateaus[-1].update(end_step=step, n_evaluations=waited)
    return plateaus


