"""Learning-rate schedule explorer: peak rate, warmup, schedule type, cycles, floor and LLRD -> rate per group.

The rates come from :func:`workbench.schedules.schedule_frame`, which drives the real ``transformers`` /
``torch`` scheduler on a dummy optimiser (no model, no data), so a re-render costs milliseconds plus the
plot. Layer-wise decay gives the head the peak rate and each level below one more factor of the decay,
as :func:`workbench.schedules.llrd_parameter_groups` does for a real model.

>>> ex = schedule_explorer(schedule="cosine", steps=200, num_layers=2)
>>> "head" in ex.html and "<img" in ex.html
True
"""

from __future__ import annotations

import html
import math

import ipywidgets as widgets
import pandas as pd

from workbench._validation import check_choice, check_float, check_int
from workbench.schedules import (
    METRIC_SCHEDULES,
    SCHEDULES,
    layer_name,
    plot_schedules,
    schedule_frame,
    timm_cosine_frame,
)
from workbench.widgets._common import Explorer, figure_html

# Schedules that run on time alone (ReduceLROnPlateau and "greedy" need a loss curve).
# "timm_cosine" previews timm's CosineLRScheduler (initial warmup rate, cycle limit and decay).
EXPLORER_SCHEDULES = (*(name for name in SCHEDULES if name not in METRIC_SCHEDULES), "timm_cosine")
_STYLE = {"description_width": "150px"}
_LAYOUT = widgets.Layout(width="480px")


def schedule_explorer(*, schedule: str = "linear", peak_lr: float = 1e-3, warmup_fraction: float = 0.1,
                      cycles: int = 2, min_lr_fraction: float = 0.0, llrd_decay: float = 1.0, num_layers: int = 6,
                      steps: int = 500, warmup_lr_init: float = 0.0, cycle_limit: int = 10,
                      cycle_decay: float = 1.0) -> Explorer:
    """Sliders for the schedule and layer-wise decay; shows the learning rate of every parameter group.

    Parameters
    ----------
    schedule : str
        Initial schedule, one of ``EXPLORER_SCHEDULES``.
    peak_lr, warmup_fraction, cycles, min_lr_fraction, llrd_decay, num_layers, steps
        Initial control values; see :func:`render_schedules`.
    warmup_lr_init, cycle_limit, cycle_decay
        timm's options, for ``"timm_cosine"``: the rate warmup starts from (a fraction of the peak), the
        cycles after which the rate stays at its minimum, and each cycle's peak relative to the last.

    Returns
    -------
    Explorer
        Controls ``schedule``, ``peak_lr`` (log slider), ``warmup_fraction``, ``cycles``, ``min_lr_fraction``,
        ``llrd_decay``, ``num_layers``, ``steps``; the pane shows the plot and a table of each group's
        factor, peak and final rate.

    Examples
    --------
    >>> ex = schedule_explorer(steps=100, num_layers=2)
    >>> "embeddings" in ex.set(llrd_decay=0.8)
    True
    """
    func = "schedule_explorer"
    check_choice("schedule", schedule, func, EXPLORER_SCHEDULES)
    controls = {
        "schedule": widgets.Dropdown(options=list(EXPLORER_SCHEDULES), value=schedule, description="schedule"),
        "peak_lr": widgets.FloatLogSlider(value=check_float("peak_lr", peak_lr, func, low=1e-7, high=1.0),
                                          base=10, min=-7, max=0, step=0.1, description="peak learning rate",
                                          readout_format=".1e"),
        "warmup_fraction": widgets.FloatSlider(
            value=check_float("warmup_fraction", warmup_fraction, func, low=0.0, high=0.9), min=0.0, max=0.9,
            step=0.01, description="warmup fraction"),
        "cycles": widgets.IntSlider(value=check_int("cycles", cycles, func, low=1, high=10), min=1, max=10,
                                    description="cycles"),
        "min_lr_fraction": widgets.FloatSlider(
            value=check_float("min_lr_fraction", min_lr_fraction, func, low=0.0, high=0.9), min=0.0, max=0.9,
            step=0.01, description="min LR (x peak)"),
        "llrd_decay": widgets.FloatSlider(value=check_float("llrd_decay", llrd_decay, func, low=0.3, high=1.0),
                                          min=0.3, max=1.0, step=0.01, description="LLRD factor"),
        "num_layers": widgets.IntSlider(value=check_int("num_layers", num_layers, func, low=1, high=24), min=1,
                                        max=24, description="encoder layers"),
        "steps": widgets.IntSlider(value=check_int("steps", steps, func, low=10, high=5000), min=10, max=5000,
                                   step=10, description="training steps"),
        "warmup_lr_init": widgets.FloatSlider(
            value=check_float("warmup_lr_init", warmup_lr_init, func, low=0.0, high=1.0), min=0.0, max=1.0,
            step=0.01, description="warmup start (x peak)"),
        "cycle_limit": widgets.IntSlider(value=check_int("cycle_limit", cycle_limit, func, low=1, high=10), min=1,
                                         max=10, description="cycle limit"),
        "cycle_decay": widgets.FloatSlider(value=check_float("cycle_decay", cycle_decay, func, low=0.1, high=1.0),
                                           min=0.1, max=1.0, step=0.05, description="cycle decay"),
    }
    for control in controls.values():
        control.style = _STYLE
        control.layout = _LAYOUT
    return Explorer(controls, render_schedules, title="Learning-rate schedule explorer",
                    description="Rate of every parameter group per step: head highest, embeddings lowest "
                                "(layer-wise decay). Cycles set the restarts of cosine_with_restarts, the cycles of "
                                "cyclic and the halvings of step; the minimum rate applies to cosine_with_min_lr, "
                                "cosine_warmup_with_min_lr, polynomial, warmup_stable_decay, cyclic, exponential and "
                                "timm_cosine; warmup start, cycle limit and cycle decay shape timm_cosine.")


def group_rates(*, schedule: str, peak_lr: float, warmup_fraction: float, cycles: int, min_lr_fraction: float,
                llrd_decay: float, num_layers: int, steps: int, warmup_lr_init: float = 0.0, cycle_limit: int = 10,
                cycle_decay: float = 1.0) -> pd.DataFrame:
    """The explorer's numbers: :func:`schedule_frame` with one group per level, named, tidy.

    Columns ``step``, ``group`` (name), ``layer``, ``factor`` and ``lr``.

    >>> rates = group_rates(schedule="constant", peak_lr=1e-3, warmup_fraction=0.0, cycles=1,
    ...                     min_lr_fraction=0.0, llrd_decay=0.5, num_layers=1, steps=10)
    >>> rates.groupby("group", sort=False)["lr"].max().tolist()
    [0.00025, 0.0005, 0.001]
    """
    func = "schedule_explorer"
    check_float("llrd_decay", llrd_decay, func, low=0.0, high=1.0, low_open=True,
                fix="1 gives every layer the peak rate; 0.8-0.95 is usual.")
    check_int("num_layers", num_layers, func, low=1)
    check_int("cycles", cycles, func, low=1)
    check_float("min_lr_fraction", min_lr_fraction, func, low=0.0, high=1.0, high_open=True)
    layers = list(range(-1, num_layers + 1))
    factors = [llrd_decay ** (num_layers - layer) for layer in layers]
    if schedule == "timm_cosine":
        frame = timm_cosine_frame(num_training_steps=steps, peak_lr=peak_lr, cycles=min(cycles, steps),
                                  warmup_steps=math.ceil(warmup_fraction * steps), groups=factors,
                                  warmup_lr_init=warmup_lr_init * peak_lr * min(factors), cycle_limit=cycle_limit,
                                  cycle_decay=cycle_decay, lr_min=min_lr_fraction * peak_lr * min(factors))
    else:
        frame = schedule_frame(schedule, num_training_steps=steps, peak_lr=peak_lr, warmup_ratio=warmup_fraction,
                               groups=factors, **_schedule_options(schedule, peak_lr, cycles, min_lr_fraction, steps))
    names = [layer_name(layer, num_layers) for layer in layers]
    return frame.assign(layer=frame["group"].map(dict(enumerate(layers))),
                        factor=frame["group"].map(dict(enumerate(factors))),
                        group=frame["group"].map(dict(enumerate(names))))[["step", "group", "layer", "factor", "lr"]]


def _schedule_options(schedule: str, peak_lr: float, cycles: int, min_fraction: float, steps: int) -> dict:
    """Map the generic controls onto each scheduler's own argument names."""
    if schedule == "cosine_with_restarts":
        return {"num_cycles": cycles}
    if schedule == "cyclic":
        options = {"step_size_up": max(1, steps // (2 * cycles))}
        return options | ({"base_lr": min_fraction * peak_lr} if min_fraction else {})
    if schedule in ("cosine_with_min_lr", "cosine_warmup_with_min_lr"):
        return {"min_lr_rate": min_fraction}
    if schedule == "polynomial":
        return {"lr_end": min_fraction * peak_lr}
    if schedule == "warmup_stable_decay":
        return {"decay_ratio": 0.2, "min_lr_ratio": min_fraction}
    if schedule == "step":
        return {"step_size": max(1, steps // (cycles + 1)), "gamma": 0.5}
    if schedule == "exponential":
        return {"gamma": max(min_fraction, 1e-3) ** (1 / steps)}  # reaches the floor at the last step
    return {}


def render_schedules(**values) -> str:
    """Plot plus an escaped table of each group's factor, peak and final rate (the explorer's pane)."""
    rates = group_rates(**values)
    table = (rates.groupby("group", sort=False)
             .agg(layer=("layer", "first"), factor=("factor", "first"), peak_lr=("lr", "max"), final_lr=("lr", "last"))
             .reset_index().iloc[::-1])
    figure = plot_schedules(rates.assign(schedule=rates["group"], group=0), log_y=values["llrd_decay"] < 1)
    figure.axes[0].set_title(f"{values['schedule']}: {values['steps']} steps", fontsize="medium")
    caption = (f"{html.escape(values['schedule'])}: peak {values['peak_lr']:.2e} for the head; lowest peak "
               f"{table['peak_lr'].min():.2e} ({html.escape(str(table['group'].iloc[-1]))})")
    numbers = table.to_html(index=False, escape=True, float_format=lambda x: f"{x:.3g}", classes="wb-table")
    return f"{figure_html(figure, alt='learning rate per parameter group')}<div>{caption}</div>{numbers}"
