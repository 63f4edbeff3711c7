"""Schedule frames: the learning rate of every parameter group at every step, read from the real
schedulers (``transformers.get_scheduler`` and torch's OneCycleLR, CyclicLR, StepLR, ExponentialLR,
ReduceLROnPlateau) stepping a dummy optimiser."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import pandas as pd
from transformers import SchedulerType

from workbench._validation import check_choice, check_float, check_int, check_type
from workbench.errors import ParameterError

TORCH_SCHEDULES = ("one_cycle", "cyclic", "step", "exponential")
SCHEDULES = (*(kind.value for kind in SchedulerType), *TORCH_SCHEDULES)
# Stepped with a loss rather than with time; schedule_frame needs ``losses`` for them.
METRIC_SCHEDULES = ("reduce_lr_on_plateau", "greedy")
# get_scheduler ignores num_warmup_steps for these, and the torch ones have no warmup argument.
NO_WARMUP_SCHEDULES = ("constant", "cyclic", "step", "exponential", *METRIC_SCHEDULES)
SCHEDULE_COLUMNS = ["step", "group", "lr"]


def schedule_frame(schedule: str, *, num_training_steps: int, peak_lr: float, warmup_ratio: float = 0.0,
                   warmup_steps: int | None = None, groups: Sequence[float] | None = None,
                   losses: Sequence[float] | None = None, **scheduler_kwargs) -> pd.DataFrame:
    """Learning rate of every parameter group at every step, read from the real scheduler.

    Parameters
    ----------
    schedule : str
        A ``transformers`` scheduler type (``"linear"``, ``"cosine"``, ``"warmup_stable_decay"``, ...) or
        one of torch's ``"one_cycle"``, ``"cyclic"``, ``"step"``, ``"exponential"`` (see ``SCHEDULES``).
    num_training_steps : int
        Optimiser updates.
    peak_lr : float
        The optimiser's learning rate (OneCycle's and CyclicLR's ``max_lr``).
    warmup_ratio, warmup_steps
        Warmup as a fraction of training (rounded up, as Trainer does) or as steps; it must end before
        training does. For ``"one_cycle"`` it is ``pct_start`` (torch's 0.3 when 0).
    groups : sequence of float, optional
        Learning-rate multipliers, one parameter group each. Default: one group, multiplier 1.
    losses : sequence of float, optional
        One loss per step, for ``"reduce_lr_on_plateau"`` and ``"greedy"``.
    **scheduler_kwargs
        Passed to the scheduler (``num_cycles``, ``power``, ``lr_end``, ``min_lr``, ``min_lr_rate``,
        ``num_decay_steps``, ``step_size``, ``gamma``, ``patience``, ...). Absolute rates refer to a group
        with multiplier 1. Also: ``decay_ratio`` for ``"warmup_stable_decay"`` (decay steps as a fraction,
        rounded up) and ``base_lr`` for ``"cyclic"`` (default ``peak_lr / 10``; ``step_size_up`` defaults to
        a quarter of training, two cycles).

    Returns
    -------
    pandas.DataFrame
        Columns ``step`` (0 .. num_training_steps-1), ``group``, ``lr``.

    Examples
    --------
    >>> schedule_frame("step", num_training_steps=4, peak_lr=0.1, step_size=2, gamma=0.5)["lr"].tolist()
    [0.1, 0.1, 0.05, 0.05]
    """
    func = "schedule_frame"
    check_choice("schedule", schedule, func, SCHEDULES)
    n = check_int("num_training_steps", num_training_steps, func, low=1)
    check_float("peak_lr", peak_lr, func, low=0.0, low_open=True)
    warmup = _warmup_steps(schedule, warmup_ratio, warmup_steps, n)
    multipliers = _multipliers(groups)
    losses = _losses(schedule, losses, n)
    optimizer = _dummy_optimizer(peak_lr, multipliers)
    scheduler = _build_scheduler(schedule, optimizer, n, warmup, peak_lr, multipliers, dict(scheduler_kwargs))
    rows = []
    for step in range(n):
        rows += [{"step": step, "group": g, "lr": float(group["lr"])} for g, group in enumerate(optimizer.param_groups)]
        optimizer.step()  # a no-op without gradients; keeps torch's "scheduler before optimizer" check quiet
        if losses is None:
            scheduler.step()
        else:
            scheduler.step(losses[step])
    return pd.DataFrame(rows, columns=SCHEDULE_COLUMNS)


def schedule_frames(specs: Mapping[str, Mapping], **common) -> pd.DataFrame:
    """Several schedules in one frame with a ``schedule`` column, for side-by-side plots.

    Each spec holds :func:`schedule_frame` arguments that override ``common``; its ``schedule`` defaults
    to the spec's name.

    >>> frame = schedule_frames({"linear": {}, "cosine": {}}, num_training_steps=5, peak_lr=1e-3)
    >>> frame.groupby("schedule").size().to_dict()
    {'cosine': 5, 'linear': 5}
    """
    check_type("specs", specs, "schedule_frames", Mapping)
    if not specs:
        warnings.warn("schedule_frames got no specs; returning an empty frame.", stacklevel=2)
    frames = []
    for name, spec in specs.items():
        options = {**common, **spec}
        frames.append(schedule_frame(options.pop("schedule", name), **options).assign(schedule=name))
    columns = ["schedule", *SCHEDULE_COLUMNS]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def _warmup_steps(schedule: str, ratio: float, steps: int | None, n: int) -> int:
    func, fix = "schedule_frame", "Warmup must end before training does."
    check_float("warmup_ratio", ratio, func, low=0.0, high=1.0, high_open=True, fix=fix)
    if steps is not None:
        if ratio:
            raise ParameterError(f"The 'warmup_steps' parameter of {func} must be None when warmup_ratio is "
                                 f"set. Got {steps!r} with warmup_ratio={ratio!r}. Give one of them.")
        check_int("warmup_steps", steps, func, low=0, high=n - 1, fix=fix)
    # TrainingArguments.get_warmup_steps rounds up; so do we, so frames match training.
    warmup = steps if steps is not None else math.ceil(n * ratio)
    if warmup and schedule in NO_WARMUP_SCHEDULES:
        raise ParameterError(
            f"The warmup of {func} must be 0 for schedule {schedule!r}, which has none. Got {warmup} steps "
            f"instead. Use a schedule with warmup, e.g. 'constant_with_warmup' or 'one_cycle'.")
    return warmup


def _multipliers(groups: Sequence[float] | None) -> list[float]:
    if groups is None:
        return [1.0]
    check_type("groups", groups, "schedule_frame", (list, tuple))
    if not groups:
        raise ParameterError("The 'groups' parameter of schedule_frame must list at least one multiplier. "
                             "Got [] instead. Use None for one group.")
    return [check_float("groups", m, "schedule_frame", low=0.0, low_open=True) for m in groups]


def _losses(schedule: str, losses: Sequence[float] | None, n: int) -> list[float] | None:
    if schedule not in METRIC_SCHEDULES:
        if losses is not None:
            raise ParameterError(f"The 'losses' parameter of schedule_frame must be None for schedule "
                                 f"{schedule!r}. Got {len(losses)} values. Only {METRIC_SCHEDULES} use losses.")
        return None
    if losses is None or len(losses) != n:
        got = None if losses is None else f"{len(losses)} values"
        raise ParameterError(f"The 'losses' parameter of schedule_frame must give one loss per step "
                             f"({n}) for schedule {schedule!r}. Got {got} instead.")
    return [float(loss) for loss in losses]


def _dummy_optimizer(peak_lr: float, multipliers: list[float]):
    import torch

    # Schedulers only read and write param_groups, so one one-element tensor per group is enough.
    # SGD with momentum because OneCycleLR and CyclicLR cycle the momentum as well.
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": peak_lr * m} for m in multipliers]
    return torch.optim.SGD(groups, lr=peak_lr, momentum=0.9)


def _build_scheduler(name: str, optimizer, n: int, warmup: int, peak_lr: float, multipliers: list[float],
                     kwargs: dict):
    from torch.optim import lr_scheduler
    from transformers import get_scheduler

    def per_group(value: float) -> list[float]:
        return [value * m for m in multipliers]

    shown = dict(kwargs)
    if name == "warmup_stable_decay" and "decay_ratio" in kwargs:
        ratio = check_float("decay_ratio", kwargs.pop("decay_ratio"), "schedule_frame", low=0.0, high=1.0)
        kwargs["num_decay_steps"] = math.ceil(ratio * n)
    if name == "warmup_stable_decay" and isinstance(kwargs.get("num_decay_steps"), int):
        check_int("num_decay_steps", kwargs["num_decay_steps"], "schedule_frame", low=0, high=n - warmup,
                  fix=f"Warmup ({warmup}) and decay must fit in num_training_steps ({n}).")
    try:
        if name == "one_cycle":
            if warmup:
                kwargs.setdefault("pct_start", warmup / n)
            return lr_scheduler.OneCycleLR(optimizer, max_lr=per_group(peak_lr), total_steps=n, **kwargs)
        if name == "cyclic":
            base_lr = kwargs.pop("base_lr", peak_lr / 10)
            kwargs.setdefault("step_size_up", max(1, n // 4))
            return lr_scheduler.CyclicLR(optimizer, base_lr=per_group(base_lr), max_lr=per_group(peak_lr), **kwargs)
        if name == "step":
            return lr_scheduler.StepLR(optimizer, **kwargs)
        if name == "exponential":
            return lr_scheduler.ExponentialLR(optimizer, **kwargs)
        return get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=n,
                             scheduler_specific_kwargs=kwargs)
    except (TypeError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ParameterError(
            f"The scheduler options of schedule_frame must suit schedule {name!r} ({reason}). Got {shown!r} "
            f"instead. See transformers.get_scheduler or torch.optim.lr_scheduler for its arguments.") from None




def torch_scheduler(schedule: str, *, peak_lr: float, warmup_ratio: float = 0.0, **scheduler_kwargs):
    """A ``(optimizer, num_training_steps) -> scheduler`` factory for ``fine_tune(..., lr_scheduler=...)``.

    Builds the same torch scheduler :func:`schedule_frame` plots (``"one_cycle"``, ``"cyclic"``, ``"step"``,
    ``"exponential"``) on the real optimiser, each parameter group scaled by its own rate over ``peak_lr``
    (so LLRD groups keep their ratios), so that what is plotted is what trains.

    >>> import torch
    >>> optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    >>> scheduler = torch_scheduler("step", peak_lr=0.1, step_size=2, gamma=0.5)(optimizer, 4)
    >>> [round(scheduler.get_last_lr()[0], 3) for _ in range(3) if not optimizer.step() and not scheduler.step()]
    [0.1, 0.05, 0.05]
    """
    check_choice("schedule", schedule, "torch_scheduler", TORCH_SCHEDULES)
    check_float("peak_lr", peak_lr, "torch_scheduler", low=0.0, low_open=True)

    def build(optimizer, num_training_steps: int):
        warmup = _warmup_steps(schedule, warmup_ratio, None, num_training_steps)
        multipliers = [group["lr"] / peak_lr for group in optimizer.param_groups]
        return _build_scheduler(schedule, optimizer, num_training_steps, warmup, peak_lr, multipliers,
                                dict(scheduler_kwargs))

    return build


def timm_cosine_frame(*, num_training_steps: int, peak_lr: float, cycles: int = 1, warmup_steps: int = 0,
                      warmup_lr_init: float = 0.0, cycle_limit: int = 1, cycle_decay: float = 1.0,
                      lr_min: float = 0.0, groups: Sequence[float] | None = None) -> pd.DataFrame:
    """timm's ``CosineLRScheduler`` shape, for the explorer: warmup from ``warmup_lr_init`` (an absolute
    rate, as in timm), cycles of ``num_training_steps / cycles`` steps (timm's ``t_initial``), each
    cycle's peak ``cycle_decay`` times the last, and ``lr_min`` after ``cycle_limit`` cycles. timm's
    formula (``cycle_mul=1``, ``warmup_prefix=False``), written out because timm is not a dependency;
    training uses the transformers and torch schedulers of :func:`schedule_frame`.

    >>> frame = timm_cosine_frame(num_training_steps=8, peak_lr=1.0, cycles=2, cycle_decay=0.5, cycle_limit=2)
    >>> frame["lr"].round(3).tolist()
    [1.0, 0.854, 0.5, 0.146, 0.5, 0.427, 0.25, 0.073]
    """
    func = "timm_cosine_frame"
    n = check_int("num_training_steps", num_training_steps, func, low=1)
    check_float("peak_lr", peak_lr, func, low=0.0, low_open=True)
    check_int("cycles", cycles, func, low=1, high=n)
    check_int("warmup_steps", warmup_steps, func, low=0, high=n - 1)
    check_float("warmup_lr_init", warmup_lr_init, func, low=0.0, high=peak_lr)
    check_int("cycle_limit", cycle_limit, func, low=1)
    check_float("cycle_decay", cycle_decay, func, low=0.0, high=1.0, low_open=True)
    check_float("lr_min", lr_min, func, low=0.0, high=peak_lr)
    t_initial = n / cycles
    rows = []
    for g, m in enumerate(_multipliers(groups)):
        for t in range(n):
            if t < warmup_steps:
                lr = warmup_lr_init + t * (peak_lr * m - warmup_lr_init) / warmup_steps
            else:
                i = int(t // t_initial)
                top = peak_lr * m * cycle_decay ** i
                lr = lr_min + 0.5 * (top - lr_min) * (1 + math.cos(math.pi * (t - t_initial * i) / t_initial)) \
                    if i < cycle_limit else lr_min
            rows.append({"step": t, "group": g, "lr": lr})
    return pd.DataFrame(rows, columns=SCHEDULE_COLUMNS).sort_values(["step", "group"], ignore_index=True)
