"""Learning-rate schedules and training dynamics: the rates the optimiser really uses, step by step.

``transformers`` and ``torch`` do the work. :func:`schedule_frame` drives the real schedulers
(``transformers.get_scheduler`` and torch's OneCycleLR, CyclicLR, StepLR, ExponentialLR) on a dummy
optimiser and records the rates; layer-wise decay builds plain ``torch.optim`` parameter groups; the
callbacks plug into HF ``Trainer`` (and so into :func:`workbench.training.fine_tune`).
:func:`compare_schedules` trains one model per schedule and seed through ``fine_tune`` with those
callbacks, and reports curves, per-layer gradient statistics, plateaus and divergence as tidy frames.

One vocabulary for time: ``step`` is the 0-based index of an optimiser update, the ``current_step``
transformers' schedule functions receive and torch's ``last_epoch``; row ``step = t`` holds the rate
update ``t`` uses. Trainer's logs (and :class:`~workbench.training.HistoryCallback`) count updates
*done* instead, so their step ``t + 1`` reports the rate of our step ``t``; the training comparison's
history uses Trainer's numbering throughout.
One numbering for depth: layer ``-1`` is the embeddings, ``0 .. L-1`` the encoder layers and ``L`` the
head (classifier, pooler and any final norm).

>>> frame = schedule_frame("linear", num_training_steps=10, peak_lr=1e-3, warmup_ratio=0.2)
>>> frame["lr"].round(6).tolist()[:4]
[0.0, 0.0005, 0.001, 0.000875]
"""

from __future__ import annotations

import gc
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd
from transformers import SchedulerType, TrainerCallback

from workbench._validation import check_choice, check_float, check_int, check_type
from workbench.errors import DataError, ParameterError, first_line

TORCH_SCHEDULES = ("one_cycle", "cyclic", "step", "exponential")
SCHEDULES = (*(kind.value for kind in SchedulerType), *TORCH_SCHEDULES)
# Stepped with a loss rather than with time; schedule_frame needs ``losses`` for them.
METRIC_SCHEDULES = ("reduce_lr_on_plateau", "greedy")
# get_scheduler ignores num_warmup_steps for these, and the torch ones have no warmup argument.
NO_WARMUP_SCHEDULES = ("constant", "cyclic", "step", "exponential", *METRIC_SCHEDULES)
SCHEDULE_COLUMNS = ["step", "group", "lr"]
LLRD_COLUMNS = ["group", "layer", "factor", "lr", "n_params", "weight_decay"]
UNFREEZING_COLUMNS = ["step", "trainable_from_layer"]
GRADIENT_COLUMNS = ["step", "layer", "metric", "value"]
RANGE_TEST_COLUMNS = ["step", "lr", "loss", "smoothed_loss"]
RANGE_TEST_CAVEAT = (
    "An LR range test is one noisy run: its curve moves with batch size, number of steps, smoothing and "
    "seed, and the rate that is best for a short sweep from fresh weights is not the best for a full "
    "schedule. Treat the suggestion as an upper bound and confirm it with a short real run.")
_LAYER_PATTERN = re.compile(r"(?:^|\.)layers?\.(\d+)\.")
# Trainer.get_decay_parameter_names' rule: no weight decay for biases and normalisation weights.
_NO_DECAY_PATTERNS = [r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)"]


# --------------------------------------------------------------------------------------- schedules
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


def plot_schedules(frame: pd.DataFrame, *, log_y: bool = False):
    """One line per schedule and parameter group of a :func:`schedule_frame(s) <schedule_frames>` frame.

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


# ------------------------------------------------------------------------------ layers and groups
def parameter_layers(model) -> tuple[dict[str, int], int]:
    """Map each parameter name to its depth (-1 embeddings, 0..L-1 encoder layers, L head) and return L.

    Works on any encoder whose blocks are named ``...layer.<i>.`` or ``...layers.<i>.`` (BERT, RoBERTa,
    RoBERTa-PreLayerNorm, ELECTRA, DistilBERT); anything above the last block counts as head.

    >>> from workbench.models import load_model
    >>> layers, n = parameter_layers(load_model("tiny:num_layers=2,hidden_size=32", num_labels=2)[0])
    >>> n, layers["classifier.weight"], layers["bert.embeddings.word_embeddings.weight"]
    (2, 2, -1)
    """
    names = [name for name, _ in model.named_parameters()]
    blocks = {name: int(m.group(1)) for name in names if (m := _LAYER_PATTERN.search(name))}
    if not blocks:
        raise ParameterError(
            f"The 'model' parameter must be a BERT-like encoder with numbered layers ('encoder.layer.<i>.'). "
            f"Got {type(model).__name__} instead.")
    num_layers = max(blocks.values()) + 1
    return {name: blocks.get(name, -1 if "embeddings" in name else num_layers) for name in names}, num_layers


def llrd_parameter_groups(model, *, peak_lr: float, decay: float,
                          weight_decay: float = 0.0) -> tuple[list[dict], pd.DataFrame]:
    """Parameter groups with layer-wise learning-rate decay (LLRD), ready for ``torch.optim.AdamW``.

    The head (classifier, pooler) gets ``peak_lr``, encoder layer ``L-1`` gets ``peak_lr * decay``, ...,
    layer 0 ``peak_lr * decay**L`` and the embeddings ``peak_lr * decay**(L+1)``: one factor of ``decay``
    per level, no gaps. (ELECTRA's reference ``_get_layer_lrs`` numbers the embeddings 0, layer ``i``
    ``i+1`` but the head ``L+2``, so depth ``L+1`` is never used: its top layer gets ``decay**2`` and
    everything below the head one factor of ``decay`` less than here. The embeddings still get the lowest
    rate there too.) Biases and LayerNorm/RMSNorm weights go to separate ``*_no_decay`` groups without
    weight decay, by the rule Trainer uses.

    Returns
    -------
    groups : list of dict
        ``params``, ``lr``, ``weight_decay`` and ``name`` per group; every parameter is in exactly one.
    factors : pandas.DataFrame
        Columns ``group``, ``layer`` (-1 embeddings .. L head), ``factor``, ``lr``, ``n_params``,
        ``weight_decay``.

    Examples
    --------
    >>> from workbench.models import load_model
    >>> model, _ = load_model("tiny:num_layers=2,hidden_size=32", num_labels=2)
    >>> groups, factors = llrd_parameter_groups(model, peak_lr=1e-3, decay=0.5)
    >>> factors.groupby("layer")["factor"].first().tolist()
    [0.125, 0.25, 0.5, 1.0]
    """
    func = "llrd_parameter_groups"
    check_float("peak_lr", peak_lr, func, low=0.0, low_open=True)
    check_float("decay", decay, func, low=0.0, high=1.0, low_open=True,
                fix="1 gives every layer peak_lr; 0.8-0.95 is usual.")
    check_float("weight_decay", weight_decay, func, low=0.0, high=1.0)
    layers, num_layers = parameter_layers(model)
    no_decay = _no_decay_names(model)
    buckets: dict[tuple[int, bool], list] = {}
    for name, param in model.named_parameters():
        buckets.setdefault((layers[name], name in no_decay), []).append(param)
    groups, rows = [], []
    for (layer, skip_decay), params in sorted(buckets.items()):
        factor = decay ** (num_layers - layer)
        name = layer_name(layer, num_layers) + ("_no_decay" if skip_decay else "")
        wd = 0.0 if skip_decay else weight_decay
        groups.append({"params": params, "lr": peak_lr * factor, "weight_decay": wd, "name": name})
        rows.append({"group": name, "layer": layer, "factor": factor, "lr": peak_lr * factor,
                     "n_params": sum(p.numel() for p in params), "weight_decay": wd})
    return groups, pd.DataFrame(rows, columns=LLRD_COLUMNS)


def layer_name(layer: int, num_layers: int) -> str:
    """``"embeddings"``, ``"layer_<i>"`` or ``"head"`` for a depth from :func:`parameter_layers`.

    >>> [layer_name(i, 2) for i in (-1, 0, 2)]
    ['embeddings', 'layer_0', 'head']
    """
    return "embeddings" if layer < 0 else "head" if layer >= num_layers else f"layer_{layer}"


def _no_decay_names(model) -> set[str]:
    import torch
    from transformers.trainer_pt_utils import get_parameter_names

    decayed = set(get_parameter_names(model, [torch.nn.LayerNorm, torch.nn.RMSNorm], _NO_DECAY_PATTERNS))
    return {name for name, _ in model.named_parameters()} - decayed


# ------------------------------------------------------------------------------ gradual unfreezing
def gradual_unfreezing_schedule(num_layers: int, *, num_training_steps: int, unfreeze_every: int) -> pd.DataFrame:
    """Lowest trainable layer at each step (ULMFiT-style gradual unfreezing, top down).

    The head trains from the start; every ``unfreeze_every`` steps one more layer below it joins,
    the embeddings (layer -1) last. Layers ``>= trainable_from_layer`` train.

    >>> gradual_unfreezing_schedule(2, num_training_steps=7, unfreeze_every=2)["trainable_from_layer"].tolist()
    [2, 2, 1, 1, 0, 0, -1]
    """
    func = "gradual_unfreezing_schedule"
    check_int("num_layers", num_layers, func, low=1)
    n = check_int("num_training_steps", num_training_steps, func, low=1)
    check_int("unfreeze_every", unfreeze_every, func, low=1)
    rows = [(step, _trainable_from(step, num_layers, unfreeze_every)) for step in range(n)]
    return pd.DataFrame(rows, columns=UNFREEZING_COLUMNS)


def _trainable_from(step: int, num_layers: int, unfreeze_every: int) -> int:
    return max(-1, num_layers - step // unfreeze_every)


class GradualUnfreezing(TrainerCallback):
    """Apply :func:`gradual_unfreezing_schedule` during training by toggling ``requires_grad``.

    Parameters a user froze beforehand stay frozen; the rest are trainable again when training ends.

    >>> fine_tune(model, tok, data, config, callbacks=[GradualUnfreezing(unfreeze_every=50)])  # doctest: +SKIP
    """

    def __init__(self, *, unfreeze_every: int) -> None:
        self.unfreeze_every = check_int("unfreeze_every", unfreeze_every, "GradualUnfreezing", low=1)
        self._layers: dict[str, int] | None = None
        self._num_layers = 0
        self._was_trainable: dict[str, bool] = {}

    # Not on_train_begin: Trainer builds its optimizer after that event from the parameters requiring
    # grad at the time, so freezing there would leave the lower layers out of the optimizer for good.
    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if self._layers is None:
            self._layers, self._num_layers = parameter_layers(model)
            self._was_trainable = {name: p.requires_grad for name, p in model.named_parameters()}
        threshold = _trainable_from(state.global_step, self._num_layers, self.unfreeze_every)
        for name, param in model.named_parameters():
            param.requires_grad_(self._was_trainable[name] and self._layers[name] >= threshold)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        for name, param in model.named_parameters():
            param.requires_grad_(self._was_trainable.get(name, param.requires_grad))
        self._layers = None


# ------------------------------------------------------------------------------ gradient statistics
class GradientStatsCallback(TrainerCallback):
    """Per-layer gradient norms and update-to-weight ratios, every ``every`` optimiser updates.

    ``grad_norm`` is read just before the optimiser step (after Trainer's clipping); ``update_ratio`` is
    ``||W_after - W_before|| / ||W_before||`` per layer (around 1e-3 is the usual healthy range). Keeps
    one copy of the trainable weights, allocated once and refilled in place at recorded steps only
    (fresh multi-megabyte tensors each time would cost page faults, not just copies). Rows: ``step``,
    ``layer`` (-1 embeddings .. L head), ``metric``, ``value``.

    >>> stats = GradientStatsCallback(every=10)
    >>> fine_tune(model, tok, data, config, callbacks=[stats]); stats.frame()  # doctest: +SKIP
    """

    def __init__(self, every: int = 10) -> None:
        self.every = check_int("every", every, "GradientStatsCallback", low=1)
        self.rows: list[dict] = []
        self._layers: dict[str, int] = {}
        self._copies: dict[str, object] = {}
        self._pending: list[tuple] | None = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._layers = parameter_layers(model)[0] if model is not None else {}

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every:
            return
        if not self._layers:
            self._layers = parameter_layers(model)[0]
        by_layer: dict[int, list] = {}
        for name, param in model.named_parameters():
            if param.grad is not None:
                by_layer.setdefault(self._layers[name], []).append((name, param))
        self._pending = []
        for layer, named in sorted(by_layer.items()):
            params = [param.detach() for _, param in named]
            self._add(state.global_step, layer, "grad_norm", _total_norm([param.grad for _, param in named]))
            copies = [self._copy_of(name, param) for (name, _), param in zip(named, params)]
            self._pending.append((layer, params, copies, _total_norm(params)))

    def on_optimizer_step(self, args, state, control, **kwargs):
        if self._pending is None:
            return
        for layer, params, copies, weight in self._pending:
            for copy, param in zip(copies, params):
                copy.sub_(param)  # in place: the copy now holds W_before - W_after
            self._add(state.global_step, layer, "update_ratio", _total_norm(copies) / weight if weight else math.nan)
        self._pending = None

    def on_train_end(self, args, state, control, **kwargs):
        self._copies, self._pending = {}, None  # give the memory back

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=GRADIENT_COLUMNS)

    def _copy_of(self, name: str, param):
        copy = self._copies.get(name)
        if copy is None or copy.shape != param.shape or copy.dtype != param.dtype:
            copy = self._copies[name] = param.clone()
        else:
            copy.copy_(param)
        return copy

    def _add(self, step: int, layer: int, metric: str, value: float) -> None:
        self.rows.append({"step": step, "layer": layer, "metric": metric, "value": float(value)})


def _total_norm(tensors) -> float:
    import torch

    return float(torch.nn.utils.get_total_norm([t.float() for t in tensors]))


# ------------------------------------------------------------------------------ divergence, plateaus
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


class DivergenceCallback(TrainerCallback):
    """Stop training (not the notebook) at the first logged sign of divergence; see :func:`detect_divergence`.

    Checks each log, so ``logging_steps`` sets how quickly it reacts. Trainer hides non-finite losses in
    its logged average (``logging_nan_inf_filter``), so the gradient norm is checked as well. After the
    run, ``.result`` holds the verdict and a ``RuntimeWarning`` has said why training stopped.

    >>> guard = DivergenceCallback()
    >>> fine_tune(model, tok, data, config, callbacks=[guard]); guard.result["diverged"]  # doctest: +SKIP
    """

    def __init__(self, *, diverge_factor: float = 4.0) -> None:
        self.diverge_factor = check_float("diverge_factor", diverge_factor, "DivergenceCallback", low=1.0,
                                          low_open=True)
        self.result: dict = {"diverged": False, "step": None, "reason": None}
        self._initial: float | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.result, self._initial = {"diverged": False, "step": None, "reason": None}, None

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if self._initial is None and "loss" in logs:
            self._initial = float(logs["loss"])
        for metric in ("loss", "grad_norm"):
            if metric not in logs or self.result["diverged"]:
                continue
            reason = _divergence_reason(metric, float(logs[metric]), self._initial, self.diverge_factor)
            if reason:
                self.result = {"diverged": True, "step": state.global_step, "reason": reason}
                control.should_training_stop = True
                warnings.warn(f"Training stopped at step {state.global_step}: {reason}.", RuntimeWarning,
                              stacklevel=2)


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


# ------------------------------------------------------------------------------ LR range test
@dataclass
class RangeTestResult:
    """What :func:`lr_range_test` measured: the sweep, suggested rates and why to be careful with them."""

    frame: pd.DataFrame
    suggestions: dict
    caveat: str
    stopped_early: bool


def lr_range_test(model, tokenizer, dataset, *, min_lr: float = 1e-7, max_lr: float = 1.0,
                  num_steps: int = 100, batch_size: int = 16, smoothing: float = 0.05,
                  diverge_factor: float = 4.0, max_length: int = 128, seed: int = 0,
                  num_threads: int | None = None) -> RangeTestResult:
    """Learning-rate range test (Smith 2017): raise the rate exponentially over mini-batches, watch the loss.

    AdamW (Trainer's default optimiser) steps once per batch of ``dataset["train"]`` while torch's
    ``ExponentialLR`` moves the rate from ``min_lr`` to ``max_lr`` in ``num_steps`` steps. The loss is
    smoothed exponentially with bias correction (weight ``smoothing`` on the newest value); the sweep
    stops once the smoothed loss exceeds ``diverge_factor`` times its best. The model's weights are
    restored afterwards, exactly.

    Parameters
    ----------
    model, tokenizer
        From :func:`workbench.models.load_model`.
    dataset : datasets.DatasetDict
        With a ``train`` split holding ``text`` and ``label``.
    min_lr, max_lr, num_steps, batch_size, smoothing, diverge_factor, max_length, seed
        The sweep; ``seed`` fixes batch order and dropout.
    num_threads : int, optional
        Torch intra-op threads during the sweep (restored afterwards); None keeps the current setting.

    Returns
    -------
    RangeTestResult
        ``frame`` (``step``, ``lr``, ``loss``, ``smoothed_loss``), ``suggestions`` (``steepest``: rate of the
        steepest fall of the smoothed loss against log-rate; ``min_loss_div_10``: rate of the lowest
        smoothed loss / 10), ``caveat`` and ``stopped_early``.

    Examples
    --------
    >>> result = lr_range_test(model, tok, data, num_steps=30)  # doctest: +SKIP
    >>> sorted(result.suggestions)  # doctest: +SKIP
    ['min_loss_div_10', 'steepest']
    """
    import torch

    texts, labels = _range_test_data(dataset, min_lr, max_lr, num_steps, batch_size, smoothing,
                                     diverge_factor, max_length, seed)
    if num_threads is not None:
        check_int("num_threads", num_threads, "lr_range_test", low=1, fix="Use None to keep the current setting.")
    order = _batch_order(len(texts), num_steps * batch_size, seed)
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    was_training, device = model.training, next(model.parameters()).device
    optimizer = torch.optim.AdamW(model.parameters(), lr=min_lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=(max_lr / min_lr) ** (1 / (num_steps - 1)))
    rows, average, best = [], 0.0, math.inf
    threads = torch.get_num_threads()
    torch.set_num_threads(num_threads or threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # dropout
            model.train()
            for step in range(num_steps):
                idx = order[step * batch_size:(step + 1) * batch_size]
                batch = tokenizer([texts[i] for i in idx], truncation=True, max_length=max_length,
                                  padding=True, return_tensors="pt").to(device)
                loss = model(**batch, labels=torch.tensor([labels[i] for i in idx], device=device)).loss
                optimizer.zero_grad()
                loss.backward()
                lr = optimizer.param_groups[0]["lr"]
                optimizer.step()
                scheduler.step()
                value = loss.item()
                average = (1 - smoothing) * average + smoothing * value
                smoothed = average / (1 - (1 - smoothing) ** (step + 1))  # bias correction: average starts at 0
                rows.append({"step": step, "lr": lr, "loss": value, "smoothed_loss": smoothed})
                best = min(best, smoothed)
                if not math.isfinite(smoothed) or smoothed > diverge_factor * best:
                    break
    finally:
        model.load_state_dict(initial)
        model.zero_grad(set_to_none=True)
        model.train(was_training)
        torch.set_num_threads(threads)
    frame = pd.DataFrame(rows, columns=RANGE_TEST_COLUMNS)
    return RangeTestResult(frame=frame, suggestions=_suggestions(frame), caveat=RANGE_TEST_CAVEAT,
                           stopped_early=len(frame) < num_steps)


def _range_test_data(dataset, min_lr, max_lr, num_steps, batch_size, smoothing, diverge_factor, max_length,
                     seed) -> tuple[list[str], list[int]]:
    func = "lr_range_test"
    check_float("min_lr", min_lr, func, low=0.0, low_open=True)
    check_float("max_lr", max_lr, func, low=min_lr, low_open=True, fix="max_lr must exceed min_lr.")
    check_int("num_steps", num_steps, func, low=2)
    check_int("batch_size", batch_size, func, low=1)
    check_float("smoothing", smoothing, func, low=0.0, high=1.0, low_open=True)
    check_float("diverge_factor", diverge_factor, func, low=1.0, low_open=True)
    check_int("max_length", max_length, func, low=2)
    check_int("seed", seed, func, low=0)
    split = dataset.get("train") if isinstance(dataset, Mapping) else None
    if split is None or not {"text", "label"} <= set(split.column_names) or len(split) == 0:
        raise DataError(f"The 'dataset' parameter of {func} must have a non-empty 'train' split with 'text' "
                        "and 'label' columns. Use workbench.load_dataset.")
    return list(split["text"]), [int(label) for label in split["label"]]


def _batch_order(n: int, needed: int, seed: int) -> np.ndarray:
    # Fresh shuffles of the whole split, one after another, until every step has its batch.
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.permutation(n) for _ in range(math.ceil(needed / n))])


def _suggestions(frame: pd.DataFrame) -> dict:
    finite = frame[np.isfinite(frame["smoothed_loss"])]
    if len(finite) < 2:
        return {"steepest": None, "min_loss_div_10": None}
    smoothed, lrs = finite["smoothed_loss"].to_numpy(), finite["lr"].to_numpy()
    lowest = int(smoothed.argmin())
    # The steepest fall is searched up to the lowest loss only: past it the loss is blowing up, and its
    # noisy dips there would otherwise win (as they do in fastai's and torch-lr-finder's plain argmin).
    steepest = None
    if lowest >= 1:
        slope = np.gradient(smoothed[:lowest + 1], np.log(lrs[:lowest + 1]))
        steepest = float(lrs[int(np.argmin(slope))])
    return {"steepest": steepest, "min_loss_div_10": float(lrs[lowest]) / 10}


def plot_range_test(result: RangeTestResult):
    """Loss and smoothed loss against the learning rate (log scale), suggestions marked.

    >>> fig = plot_range_test(result)  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    frame = result.frame
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(frame["lr"], frame["loss"], alpha=0.3, label="loss")
    ax.plot(frame["lr"], frame["smoothed_loss"], label="smoothed loss")
    for (name, lr), color in zip(result.suggestions.items(), ("C2", "C3")):
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


# ------------------------------------------------------------------------------ training comparison
COMPARISON_COLUMNS = ["schedule", "seed", "step", "metric", "layer", "value"]
RUN_COLUMNS = ["schedule", "seed", "status", "diverged", "reason", "diverged_step", "steps", "best_val_accuracy",
               "final_val_accuracy", "final_val_loss", "final_train_loss", "steps_to_target", "n_plateaus",
               "train_seconds"]
SUMMARY_COLUMNS = ["schedule", "best_val_accuracy", "final_val_loss", "final_train_loss", "steps_to_target",
                   "reached_target", "seed_std", "diverged", "n_runs", "n_diverged", "n_failed"]
PLATEAU_COLUMNS = ["schedule", "seed", "start_step", "end_step", "best", "n_evaluations"]
# Keys a comparison spec may hold besides TrainConfig fields; seed and progress belong to the comparison.
SPEC_EXTRAS = ("llrd_decay",)
_SET_BY_COMPARISON = ("seed", "progress")


@dataclass
class ScheduleComparison:
    """What :func:`compare_schedules` measured.

    Attributes
    ----------
    history : pandas.DataFrame
        Tidy rows ``schedule``, ``seed``, ``step``, ``metric``, ``layer``, ``value``: everything Trainer logged
        (``loss``, ``grad_norm``, ``lr_group_<i>``, ``eval_loss``, ``eval_accuracy``, ...; ``layer`` empty) and,
        when recorded, ``layer_grad_norm`` / ``layer_update_ratio`` per layer. ``step`` counts updates done
        (Trainer's numbering) throughout.
    runs : pandas.DataFrame
        One row per schedule x seed (``RUN_COLUMNS``): status (``ok``, ``diverged``, ``failed``), reason, metrics.
    summary : pandas.DataFrame
        One row per schedule (``SUMMARY_COLUMNS``), see :func:`summarize_runs`.
    plateaus : pandas.DataFrame
        Validation-loss plateaus per run (``PLATEAU_COLUMNS``), see :func:`detect_plateaus`.
    planned : pandas.DataFrame
        The learning rate each spec's scheduler plans per step (:func:`schedule_frames`; step 0-based).
    target_accuracy : float
        Accuracy behind ``steps_to_target``: given, or derived (see :func:`compare_schedules`).
    configs : dict
        The :class:`~workbench.training.TrainConfig` of each spec (seed aside).
    """

    history: pd.DataFrame
    runs: pd.DataFrame
    summary: pd.DataFrame
    plateaus: pd.DataFrame
    planned: pd.DataFrame
    target_accuracy: float
    configs: dict


def compare_schedules(model: str, dataset, schedules: Mapping[str, Mapping], *, base=None,
                      seeds: Sequence[int] = (0, 1), tokenizer=None, gradient_stats_every: int | None = None,
                      target_accuracy: float | None = None, diverge_factor: float = 4.0,
                      plateau_patience: int = 3, progress: bool = True) -> ScheduleComparison:
    """Train the same model on the same data and budget once per schedule and seed, and compare.

    HF ``Trainer`` (through :func:`workbench.training.fine_tune`) trains every run; each starts from the
    same initial weights for a given seed (``load_model(model, seed=seed)``) and sees the same batches.
    A :class:`DivergenceCallback` stops a run at the first NaN or exploding loss; a run that diverges or
    fails is reported in ``runs`` (status, reason) and never stops the comparison.

    Parameters
    ----------
    model : str
        Model spec for :func:`workbench.models.load_model` (``"tiny:num_layers=2,hidden_size=64"``, ``"minilm"``).
    dataset : datasets.DatasetDict
        ``train`` and ``validation`` splits with ``text`` and ``label``.
    schedules : mapping of name to dict
        Per spec, :class:`~workbench.training.TrainConfig` fields overriding ``base`` (``learning_rate``,
        ``lr_scheduler_type``, ``warmup_ratio``, ``max_grad_norm``, ``batch_size``,
        ``gradient_accumulation_steps``, ``lr_scheduler_kwargs``, ...) and optionally ``llrd_decay``
        (layer-wise decay factor in (0, 1], see :func:`llrd_parameter_groups`). ``lr_scheduler_type``
        defaults to the spec's name when that names a scheduler, else to ``base``'s.
    base : TrainConfig, optional
        Shared settings; must fix the budget with ``max_steps`` (default ``TrainConfig(max_steps=100)``).
        ``eval_steps`` defaults to a tenth of it.
    seeds : sequence of int
        One run per seed and spec (initialisation, data order and dropout).
    tokenizer : tokenizer, optional
        For tiny models (see :func:`~workbench.models.load_model`).
    gradient_stats_every : int, optional
        Record per-layer gradient norms and update/weight ratios every this many updates
        (:class:`GradientStatsCallback`); None records none.
    target_accuracy : float, optional
        Validation accuracy behind ``steps_to_target``. Default: halfway between always predicting the
        validation split's majority class and the best accuracy any run reached.
    diverge_factor : float
        A logged loss above this multiple of the first one counts as divergence.
    plateau_patience : int
        Evaluations without validation-loss improvement that make a plateau.
    progress : bool
        Show a progress bar over runs.

    Returns
    -------
    ScheduleComparison

    Examples
    --------
    >>> base = TrainConfig(max_steps=40, batch_size=16, learning_rate=3e-3, max_length=48)  # doctest: +SKIP
    >>> comparison = compare_schedules("tiny:num_layers=2,hidden_size=64", data,
    ...                                {"constant": {}, "linear": {"warmup_ratio": 0.1}}, base=base)  # doctest: +SKIP
    >>> comparison.summary[["schedule", "best_val_accuracy", "diverged"]]  # doctest: +SKIP
    """
    import torch

    from workbench._progress import progress_bar

    func = "compare_schedules"
    labels, label_names = _comparison_data(dataset, func)
    _check_model_spec(model, func)
    seeds = _check_seeds(seeds, func)
    if gradient_stats_every is not None:
        check_int("gradient_stats_every", gradient_stats_every, func, low=1, fix="Use None to record none.")
    if target_accuracy is not None:
        check_float("target_accuracy", target_accuracy, func, low=0.0, high=1.0)
    check_float("diverge_factor", diverge_factor, func, low=1.0, low_open=True)
    check_int("plateau_patience", plateau_patience, func, low=1)
    configs, decays, planned = _comparison_configs(schedules, base, func)

    histories, runs = [], []
    jobs = [(name, seed) for name in configs for seed in seeds]
    # Trainer runs a full gc.collect() at the start of every run; with torch and transformers loaded that
    # scans millions of long-lived objects (about half a second each time). Freezing them skips the scan
    # (unless the caller froze objects already: unfreeze would release theirs too).
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    threads = torch.get_num_threads()  # a config's num_threads applies to its runs only
    try:
        for name, seed in progress_bar(jobs, desc="schedules x seeds", unit="run", disable=not progress):
            history, run = _comparison_run(model, tokenizer, dataset, label_names, configs[name], decays[name],
                                           seed, gradient_stats_every, diverge_factor)
            if len(history):  # a run that failed before logging adds nothing (and would make `value` object-typed)
                histories.append(history.assign(schedule=name, seed=seed))
            runs.append({"schedule": name, "seed": seed, **run})
    finally:
        if freeze:
            gc.unfreeze()
        torch.set_num_threads(threads)
    history = pd.concat(histories, ignore_index=True)[COMPARISON_COLUMNS] if histories else \
        pd.DataFrame(columns=COMPARISON_COLUMNS)
    runs_frame = pd.DataFrame(runs)
    target = target_accuracy if target_accuracy is not None else _derived_target(history, labels)
    runs_frame, plateaus = _run_metrics(history, runs_frame, target, plateau_patience)
    return ScheduleComparison(history=history, runs=runs_frame, summary=summarize_runs(runs_frame),
                              plateaus=plateaus, planned=planned, target_accuracy=target, configs=configs)


def planned_rates(schedules: Mapping[str, Mapping], *, base=None) -> pd.DataFrame:
    """The learning rate each :func:`compare_schedules` spec will use per step, before training anything.

    Validates the specs exactly as :func:`compare_schedules` does and returns their
    :func:`schedule_frames` frame (``schedule``, ``step`` from 0, ``group`` 0, ``lr``), for a shapes plot.

    >>> from workbench.training import TrainConfig
    >>> frame = planned_rates({"linear": {"warmup_ratio": 0.5}}, base=TrainConfig(max_steps=4, learning_rate=1.0))
    >>> frame["lr"].tolist()
    [0.0, 0.5, 1.0, 0.5]
    """
    return _comparison_configs(schedules, base, "planned_rates")[2]


def _comparison_data(dataset, func: str) -> tuple[np.ndarray, list[str]]:
    ok = isinstance(dataset, Mapping) and all(
        split in dataset and {"text", "label"} <= set(dataset[split].column_names) and len(dataset[split])
        for split in ("train", "validation"))
    if not ok:
        raise DataError(f"The 'dataset' parameter of {func} must have non-empty 'train' and 'validation' splits with "
                        "'text' and 'label' columns. Use workbench.load_dataset.")
    return np.asarray(dataset["validation"]["label"]), list(dataset["train"].features["label"].names)


def _check_model_spec(model, func: str) -> None:
    from workbench.models import parse_tiny_spec

    check_type("model", model, func, str)
    if model.startswith("tiny:"):
        parse_tiny_spec(model)  # a typo in a tiny spec is the user's, not a run's, failure


def _check_seeds(seeds, func: str) -> list[int]:
    check_type("seeds", seeds, func, (list, tuple, range), fix="Give a list such as [0, 1].")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ParameterError(f"The 'seeds' parameter of {func} must list at least one seed, each once. "
                             f"Got {list(seeds)!r} instead.")
    return [check_int("seeds", seed, func, low=0) for seed in seeds]


def _comparison_configs(schedules, base, func: str):
    """Validate every spec before any training: TrainConfig per spec, LLRD factors, planned rates."""
    from workbench.training import TrainConfig

    base = base if base is not None else TrainConfig(max_steps=100, progress=False)
    check_type("base", base, func, TrainConfig)
    if base.max_steps < 1:
        raise ParameterError(f"The 'base' parameter of {func} must set max_steps >= 1 so that every schedule gets "
                             f"the same budget. Got max_steps={base.max_steps} instead.")
    if base.eval_steps is None:
        base = replace(base, eval_steps=max(1, base.max_steps // 10))
    check_type("schedules", schedules, func, Mapping, fix="Give {name: {TrainConfig field: value}}.")
    if not schedules:
        raise ParameterError(f"The 'schedules' parameter of {func} must name at least one spec. Got {{}} instead.")
    allowed = sorted({f.name for f in fields(TrainConfig)} - set(_SET_BY_COMPARISON) | set(SPEC_EXTRAS))
    configs, decays, planned = {}, {}, {}
    for name, spec in schedules.items():
        where = f"schedules[{name!r}]"
        check_type(where, spec, func, Mapping, fix="Give a dict of TrainConfig fields.")
        unknown = sorted(set(spec) - set(allowed))
        if unknown:
            raise ParameterError(f"The keys of {where} in {func} must be among {', '.join(allowed)}. "
                                 f"Got {', '.join(map(repr, unknown))} instead.")
        overrides = {k: v for k, v in spec.items() if k not in SPEC_EXTRAS}
        if "lr_scheduler_type" not in overrides and name in SchedulerType._value2member_map_:
            overrides["lr_scheduler_type"] = name
        try:
            config = replace(base, **overrides, progress=False)
            decays[name] = None if spec.get("llrd_decay") is None else check_float(
                "llrd_decay", spec["llrd_decay"], func, low=0.0, high=1.0, low_open=True,
                fix="1 gives every layer the same rate; 0.8-0.95 is usual.")
            planned[name] = {"schedule": config.lr_scheduler_type, "peak_lr": config.learning_rate,
                             "warmup_ratio": config.warmup_ratio, **dict(config.lr_scheduler_kwargs or {})}
            schedule_frame(num_training_steps=config.max_steps, **planned[name])  # the scheduler accepts them
        except ParameterError as exc:
            raise ParameterError(f"In {where} of {func}: {first_line(exc)}") from None
        configs[name] = config
    return configs, decays, schedule_frames(planned, num_training_steps=base.max_steps)


def _comparison_run(model_spec, tokenizer, dataset, label_names, config, decay, seed, stats_every, diverge_factor):
    from workbench.models import load_model
    from workbench.training import HISTORY_COLUMNS, fine_tune

    guard = DivergenceCallback(diverge_factor=diverge_factor)
    stats = GradientStatsCallback(every=stats_every) if stats_every else None
    run = {"status": "ok", "diverged": False, "reason": None, "diverged_step": None, "steps": 0,
           "train_seconds": math.nan}
    history = pd.DataFrame(columns=HISTORY_COLUMNS)
    try:
        network, tok = load_model(model_spec, num_labels=len(label_names), label_names=label_names,
                                  tokenizer=tokenizer, seed=seed)
        groups = None if decay is None else llrd_parameter_groups(
            network, peak_lr=config.learning_rate, decay=decay, weight_decay=config.weight_decay)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the guard's notice: the runs table reports it
            result = fine_tune(network, tok, dataset, replace(config, seed=seed),
                               callbacks=[guard, *([stats] if stats else [])], parameter_groups=groups)
        history = result.history
        run.update(steps=result.global_step, train_seconds=result.train_seconds)
    except Exception as exc:  # noqa: BLE001 - a failing run is a result of the comparison, not its end
        run.update(status="failed", reason=first_line(exc))
    verdict = guard.result if guard.result["diverged"] else detect_divergence(history, diverge_factor=diverge_factor)
    if verdict["diverged"] and run["status"] == "ok":
        run.update(status="diverged", diverged=True, reason=verdict["reason"], diverged_step=verdict["step"])
    rows = history.drop(columns="epoch").assign(layer=pd.NA)
    if stats is not None and stats.rows:
        layer_rows = stats.frame()
        # GradientStatsCallback numbers update t from 0; Trainer's history counts updates done (t + 1).
        layer_rows = layer_rows.assign(step=layer_rows["step"] + 1, metric="layer_" + layer_rows["metric"])
        rows = pd.concat([rows, layer_rows], ignore_index=True)
    return rows.assign(layer=rows["layer"].astype("Int64")), run


def _derived_target(history: pd.DataFrame, labels: np.ndarray) -> float:
    majority = float(np.bincount(labels).max() / len(labels))
    accuracy = history.loc[history["metric"] == "eval_accuracy", "value"]
    best = float(accuracy.max()) if len(accuracy) else majority
    return majority + 0.5 * max(0.0, best - majority)


def _run_metrics(history: pd.DataFrame, runs: pd.DataFrame, target: float, patience: int):
    plateaus, metrics = [], []
    for run in runs.itertuples():
        rows = history[(history["schedule"] == run.schedule) & (history["seed"] == run.seed)]
        accuracy = rows[rows["metric"] == "eval_accuracy"].sort_values("step")
        loss = rows[rows["metric"] == "eval_loss"].sort_values("step")
        train_loss = rows[rows["metric"] == "loss"].sort_values("step")
        reached = accuracy.loc[accuracy["value"] >= target - 1e-12, "step"]
        found = detect_plateaus(rows, metric="eval_loss", patience=patience) if len(loss) else []
        plateaus += [{"schedule": run.schedule, "seed": run.seed, **p} for p in found]
        metrics.append({"best_val_accuracy": accuracy["value"].max() if len(accuracy) else math.nan,
                        "final_val_accuracy": accuracy["value"].iloc[-1] if len(accuracy) else math.nan,
                        "final_val_loss": loss["value"].iloc[-1] if len(loss) else math.nan,
                        "final_train_loss": train_loss["value"].iloc[-1] if len(train_loss) else math.nan,
                        "steps_to_target": float(reached.iloc[0]) if len(reached) else math.nan,
                        "n_plateaus": len(found)})
    runs = pd.concat([runs.reset_index(drop=True), pd.DataFrame(metrics)], axis=1)
    return runs.reindex(columns=RUN_COLUMNS), pd.DataFrame(plateaus, columns=PLATEAU_COLUMNS)


def summarize_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per schedule over its seeds (failed runs left out of the means).

    ``best_val_accuracy``, ``final_val_loss`` and ``final_train_loss`` (last logged training loss) are
    means over seeds; ``steps_to_target`` is the mean
    over the seeds that reached the target and ``reached_target`` their share; ``seed_std`` is the
    sample standard deviation of the best accuracy over seeds (NaN with one seed); ``diverged`` is
    True when any seed diverged.

    >>> runs = pd.DataFrame({"schedule": ["a", "a"], "seed": [0, 1], "status": "ok", "diverged": False,
    ...                      "best_val_accuracy": [0.7, 0.8], "final_val_loss": [0.5, 0.6],
    ...                      "final_train_loss": [0.4, 0.3], "steps_to_target": [10.0, float("nan")]})
    >>> summarize_runs(runs)[["best_val_accuracy", "steps_to_target", "reached_target"]].round(3).iloc[0].tolist()
    [0.75, 10.0, 0.5]
    """
    rows = []
    for name, group in runs.groupby("schedule", sort=False):
        done = group[group["status"] != "failed"]
        best = done["best_val_accuracy"].astype(float)
        steps = done["steps_to_target"].astype(float)
        rows.append({"schedule": name, "best_val_accuracy": best.mean(),
                     "final_val_loss": done["final_val_loss"].astype(float).mean(),
                     "final_train_loss": done["final_train_loss"].astype(float).mean(),
                     "steps_to_target": steps.mean(), "reached_target": steps.notna().mean() if len(done) else math.nan,
                     "seed_std": best.std(ddof=1), "diverged": bool(group["diverged"].any()),
                     "n_runs": len(group), "n_diverged": int(group["diverged"].sum()),
                     "n_failed": int((group["status"] == "failed").sum())})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def recommend_schedule(summary: pd.DataFrame) -> dict:
    """Pick a schedule from a :func:`summarize_runs` frame, by a rule stated in the result.

    Among schedules that never diverged, the highest mean best validation accuracy wins (exact ties go
    to the lower final validation loss). A schedule whose accuracy is within one seed standard deviation
    of the winner's (the larger of the two schedules' deviations, at least 0.005) is reported as tied: the
    win is ``clear`` only when none is (and there is a runner-up at all).

    Returns
    -------
    dict
        ``schedule`` (None when every schedule diverged or failed), ``clear`` (bool), ``tied`` (names
        within their tolerance, winner included), ``best_val_accuracy``, ``final_val_loss``, ``margin``
        (accuracy lead over the runner-up, or None), ``tolerance`` (the winner's own, max(0.005, its seed
        std)), ``excluded`` (diverged or failed names) and ``rule``.

    Examples
    --------
    >>> summary = pd.DataFrame({"schedule": ["a", "b", "c"], "best_val_accuracy": [0.80, 0.799, 0.9],
    ...                         "final_val_loss": [0.50, 0.45, 0.3], "seed_std": [0.01, 0.01, 0.01],
    ...                         "diverged": [False, False, True]})
    >>> verdict = recommend_schedule(summary)
    >>> verdict["schedule"], verdict["clear"], verdict["tied"], verdict["excluded"]
    ('a', False, ['a', 'b'], ['c'])
    """
    rule = ("highest mean best validation accuracy among schedules that never diverged (exact ties: lower final "
            "validation loss); a win is clear when no other schedule is within one seed standard deviation of it "
            "(the larger of the two, at least 0.005)")
    usable = summary[~summary["diverged"].astype(bool) & summary["best_val_accuracy"].notna()]
    excluded = [name for name in summary["schedule"] if name not in set(usable["schedule"])]
    if usable.empty:
        return {"schedule": None, "clear": False, "tied": [], "best_val_accuracy": None, "final_val_loss": None,
                "margin": None, "tolerance": None, "excluded": excluded, "rule": rule}
    ranked = usable.assign(_loss=usable["final_val_loss"].fillna(math.inf)).sort_values(
        ["best_val_accuracy", "_loss"], ascending=[False, True], kind="stable")
    pick = ranked.iloc[0]
    tolerance = max(0.005, float(np.nan_to_num(pick["seed_std"])))
    pairwise = np.maximum(tolerance, np.nan_to_num(ranked["seed_std"].astype(float).to_numpy()))
    tied = ranked[ranked["best_val_accuracy"].to_numpy() >= pick["best_val_accuracy"] - pairwise]["schedule"].tolist()
    margin = float(pick["best_val_accuracy"] - ranked["best_val_accuracy"].iloc[1]) if len(ranked) > 1 else None
    return {"schedule": pick["schedule"], "clear": len(tied) == 1 and margin is not None, "tied": tied,
            "best_val_accuracy": float(pick["best_val_accuracy"]), "final_val_loss": float(pick["final_val_loss"]),
            "margin": margin, "tolerance": tolerance, "excluded": excluded, "rule": rule}


def curve_difference(history: pd.DataFrame, first: str, second: str, *, metric: str = "loss") -> pd.DataFrame:
    """Two schedules' ``metric`` curves (mean over seeds) side by side at the steps both logged.

    Columns ``step``, ``first``, ``second``, ``abs_diff`` and ``rel_diff`` (``abs_diff / |second|``); used to
    check that, e.g., gradient accumulation 4x8 tracks a batch of 32.

    >>> h = pd.DataFrame({"schedule": ["a", "b"] * 2, "seed": 0, "step": [1, 1, 2, 2], "metric": "loss",
    ...                   "layer": None, "value": [1.0, 1.0, 0.5, 0.4]})
    >>> curve_difference(h, "a", "b")["abs_diff"].round(3).tolist()
    [0.0, 0.1]
    """
    func = "curve_difference"
    for name, value in (("first", first), ("second", second)):
        check_choice(name, value, func, list(dict.fromkeys(history["schedule"])))
    rows = history[history["metric"] == metric]
    curves = rows.groupby(["schedule", "step"])["value"].mean().unstack("schedule")
    if first not in curves or second not in curves:
        raise ParameterError(f"The 'metric' parameter of {func} must be logged for both schedules. Got {metric!r}.")
    both = curves[[first, second]].dropna().rename(columns={first: "first", second: "second"})
    both = both.rename_axis(columns=None).reset_index()
    both["abs_diff"] = (both["first"] - both["second"]).abs()
    both["rel_diff"] = both["abs_diff"] / both["second"].abs()
    return both


# ------------------------------------------------------------------------------ comparison plots
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
