"""Learning-rate schedules and training dynamics: the rates the optimiser really uses, step by step.

``transformers`` and ``torch`` do the work. :func:`schedule_frame` drives the real schedulers
(``transformers.get_scheduler`` and torch's OneCycleLR, CyclicLR, StepLR, ExponentialLR) on a dummy
optimiser and records the rates; layer-wise decay builds plain ``torch.optim`` parameter groups; the
callbacks plug into HF ``Trainer`` (and so into :func:`workbench.training.fine_tune`).

One vocabulary for time: ``step`` is the 0-based index of an optimiser update, the ``current_step``
transformers' schedule functions receive and torch's ``last_epoch``; row ``step = t`` holds the rate
update ``t`` uses. Trainer's logs (and :class:`~workbench.training.HistoryCallback`) count updates
*done* instead, so their step ``t + 1`` reports the rate of our step ``t``.
One numbering for depth: layer ``-1`` is the embeddings, ``0 .. L-1`` the encoder layers and ``L`` the
head (classifier, pooler and any final norm).

>>> frame = schedule_frame("linear", num_training_steps=10, peak_lr=1e-3, warmup_ratio=0.2)
>>> frame["lr"].round(6).tolist()[:4]
[0.0, 0.0005, 0.001, 0.000875]
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from transformers import SchedulerType, TrainerCallback

from workbench._validation import check_choice, check_float, check_int, check_type
from workbench.errors import DataError, ParameterError

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
    ``||W_after - W_before|| / ||W_before||`` per layer (around 1e-3 is the usual healthy range). Costs
    one copy of the trainable weights at recorded steps only. Rows: ``step``, ``layer`` (-1 embeddings
    .. L head), ``metric``, ``value``.

    >>> stats = GradientStatsCallback(every=10)
    >>> fine_tune(model, tok, data, config, callbacks=[stats]); stats.frame()  # doctest: +SKIP
    """

    def __init__(self, every: int = 10) -> None:
        self.every = check_int("every", every, "GradientStatsCallback", low=1)
        self.rows: list[dict] = []
        self._before: dict[int, list] | None = None

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every:
            return
        layers, _ = parameter_layers(model)
        by_layer: dict[int, list] = {}
        for name, param in model.named_parameters():
            if param.grad is not None:
                by_layer.setdefault(layers[name], []).append(param)
        for layer, params in sorted(by_layer.items()):
            self._add(state.global_step, layer, "grad_norm", _total_norm([p.grad for p in params]))
        self._before = {layer: [(p, p.detach().clone()) for p in params] for layer, params in by_layer.items()}

    def on_optimizer_step(self, args, state, control, **kwargs):
        if self._before is None:
            return
        for layer, pairs in sorted(self._before.items()):
            weight = _total_norm([before for _, before in pairs])
            update = _total_norm([p.detach() - before for p, before in pairs])
            self._add(state.global_step, layer, "update_ratio", update / weight if weight else math.nan)
        self._before = None

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=GRADIENT_COLUMNS)

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
                  diverge_factor: float = 4.0, max_length: int = 128, seed: int = 0) -> RangeTestResult:
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
    order = _batch_order(len(texts), num_steps * batch_size, seed)
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    was_training, device = model.training, next(model.parameters()).device
    optimizer = torch.optim.AdamW(model.parameters(), lr=min_lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=(max_lr / min_lr) ** (1 / (num_steps - 1)))
    rows, average, best = [], 0.0, math.inf
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
    slope = np.gradient(finite["smoothed_loss"].to_numpy(), np.log(finite["lr"].to_numpy()))
    return {"steepest": float(finite["lr"].iloc[int(np.argmin(slope))]),
            "min_loss_div_10": float(finite["lr"].iloc[int(finite["smoothed_loss"].to_numpy().argmin())]) / 10}


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
