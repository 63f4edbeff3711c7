"""Fine-tune sequence classifiers with HF ``Trainer`` from one config object, recording a tidy history.

``transformers.Trainer`` does the training; this module chooses sensible CPU defaults, turns one
:class:`TrainConfig` into ``TrainingArguments``, and adds a callback that records every logged value
(loss, learning rate per parameter group, gradient norm, evaluation metrics) as tidy rows.

>>> from workbench.data import load_dataset
>>> from workbench.models import load_model
>>> data = load_dataset(max_examples=64)
>>> model, tok = load_model("tiny:num_layers=1,hidden_size=32", num_labels=2)
>>> result = fine_tune(model, tok, data, TrainConfig(max_steps=4, batch_size=8, progress=False))
>>> sorted(result.history.columns)
['epoch', 'metric', 'step', 'value']
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from transformers import PrinterCallback, TrainerCallback

from workbench import hardware
from workbench._progress import progress_bar
from workbench._validation import check_choice, check_float, check_int, check_type
from workbench.errors import DataError, ParameterError
from workbench.models import quiet_transformers

HISTORY_COLUMNS = ["step", "epoch", "metric", "value"]
SCHEDULER_TYPES = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
                   "inverse_sqrt", "cosine_with_min_lr", "warmup_stable_decay", "reduce_lr_on_plateau")
BEST_METRICS = ("accuracy", "macro_f1", "loss")
# Values Trainer logs once at the end of training; they summarise rather than trace the run.
_SUMMARY_LOG_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second",
                     "total_flos", "train_loss", "eval_runtime", "eval_samples_per_second",
                     "eval_steps_per_second")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a fine-tuning run. Defaults suit a small model on 2 CPU cores.

    Parameters
    ----------
    learning_rate, lr_scheduler_type, warmup_ratio, weight_decay
        Optimiser (AdamW) and schedule; ``lr_scheduler_type`` is any ``transformers`` scheduler name.
    num_epochs : float
        Passes over the training split (ignored when ``max_steps`` > 0).
    max_steps : int
        Optimiser steps; -1 trains for ``num_epochs``.
    batch_size, eval_batch_size, gradient_accumulation_steps, max_grad_norm, max_length
        Per-device batch sizes, accumulation, clipping norm (0 disables) and truncation length.
    eval_steps : int or None
        Evaluate every this many steps; None evaluates once per epoch (and at the end).
    logging_steps : int
        Record loss, learning rates and gradient norm every this many steps.
    early_stopping_patience : int or None
        Stop after this many evaluations without improvement of ``metric_for_best_model``.
    metric_for_best_model : {"accuracy", "macro_f1", "loss"}
        Validation metric that picks the checkpoint restored at the end.
    seed : int
        Seeds initialisation order, data shuffling and dropout: same seed, same metrics.
    bf16 : {"auto", True, False}
        Mixed precision. ``"auto"`` trains in bf16 only on a CUDA GPU that supports it and in fp32 on
        every CPU, so results on CPUs do not depend on which one ran them. ``True`` also trains in bf16
        on a CPU with native bf16 (AMX or AVX512-BF16), on the CPU; ``True`` on hardware without native
        bf16 is refused (emulated bf16 is several times slower than fp32). ``False``: fp32.
    num_threads : int or None
        Torch intra-op threads during training; None keeps the current setting.
    progress : bool
        Show a progress bar.
    lr_scheduler_kwargs : mapping or None
        Extra arguments of the scheduler (``transformers.get_scheduler``'s ``scheduler_specific_kwargs``),
        e.g. ``{"min_lr_rate": 0.1}`` for ``"cosine_with_min_lr"`` or ``{"num_decay_steps": 20}`` for
        ``"warmup_stable_decay"``.

    Examples
    --------
    >>> TrainConfig(learning_rate=1e-4, max_steps=10).max_steps
    10
    """

    learning_rate: float = 5e-5
    lr_scheduler_type: str = "linear"
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    num_epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 16
    eval_batch_size: int = 64
    gradient_accumulation_steps: int = 1
    max_grad_norm: float = 1.0
    max_length: int = 128
    eval_steps: int | None = None
    logging_steps: int = 10
    early_stopping_patience: int | None = None
    metric_for_best_model: str = "accuracy"
    seed: int = 0
    bf16: Any = "auto"
    num_threads: int | None = None
    progress: bool = True
    lr_scheduler_kwargs: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        f = "TrainConfig"
        check_float("learning_rate", self.learning_rate, f, low=0.0, high=10.0, low_open=True)
        check_choice("lr_scheduler_type", self.lr_scheduler_type, f, SCHEDULER_TYPES)
        check_float("warmup_ratio", self.warmup_ratio, f, low=0.0, high=1.0, high_open=True)
        check_float("weight_decay", self.weight_decay, f, low=0.0, high=1.0)
        check_float("num_epochs", self.num_epochs, f, low=0.0, low_open=True)
        check_int("max_steps", self.max_steps, f, low=-1, fix="Use -1 to train for num_epochs.")
        if self.max_steps == 0:
            raise ParameterError(f"The 'max_steps' parameter of {f} must be -1 or >= 1. Got 0 instead.")
        for name in ("batch_size", "eval_batch_size", "gradient_accumulation_steps", "logging_steps"):
            check_int(name, getattr(self, name), f, low=1)
        check_float("max_grad_norm", self.max_grad_norm, f, low=0.0)
        check_int("max_length", self.max_length, f, low=2, high=8192)
        if self.eval_steps is not None:
            check_int("eval_steps", self.eval_steps, f, low=1, fix="Use None to evaluate once per epoch.")
        if self.early_stopping_patience is not None:
            check_int("early_stopping_patience", self.early_stopping_patience, f, low=1)
        check_choice("metric_for_best_model", self.metric_for_best_model, f, BEST_METRICS)
        if self.lr_scheduler_type == "reduce_lr_on_plateau" and self.metric_for_best_model != "loss":
            raise ParameterError(f"The 'metric_for_best_model' parameter of {f} must be 'loss' with reduce_lr_on_plateau "
                                 f"(a plateau of validation loss). Got {self.metric_for_best_model!r} instead.")
        check_int("seed", self.seed, f, low=0)
        check_choice("bf16", self.bf16, f, ("auto", True, False))
        if self.num_threads is not None:
            check_int("num_threads", self.num_threads, f, low=1)
        check_type("progress", self.progress, f, bool)
        if self.lr_scheduler_kwargs is not None:
            check_type("lr_scheduler_kwargs", self.lr_scheduler_kwargs, f, Mapping,
                       fix="Give a dict such as {'min_lr_rate': 0.1}, or None.")


@dataclass
class TrainResult:
    """What a fine-tuning run leaves: the best model, its tidy history and a few figures."""

    model: Any
    tokenizer: Any
    config: TrainConfig
    history: pd.DataFrame
    train_seconds: float
    global_step: int
    best_metric: float | None
    bf16: bool
    label_names: list[str] = field(default_factory=list)

    def predict(self, texts, *, batch_size: int | None = None) -> np.ndarray:
        """Class logits for ``texts`` (see :func:`predict_logits`)."""
        return predict_logits(self.model, self.tokenizer, texts, max_length=self.config.max_length,
                              batch_size=batch_size or self.config.eval_batch_size, progress=False)

    def predict_labels(self, texts) -> np.ndarray:
        """Predicted label ids for ``texts``."""
        return self.predict(texts).argmax(axis=1)

    def evaluate(self, split, *, n_resamples: int = 1000, seed: int = 0) -> dict:
        """Accuracy, macro-F1, precision, recall and bootstrap 95% CIs on a split with ``text``/``label``."""
        from workbench.evaluation import evaluate_predictions

        y_pred = self.predict_labels(split["text"])
        return evaluate_predictions(np.asarray(split["label"]), y_pred, label_names=self.label_names,
                                    n_resamples=n_resamples, seed=seed)


class HistoryCallback(TrainerCallback):
    """Collect every value Trainer logs as tidy rows ``(step, epoch, metric, value)``.

    Learning rates are read from the optimiser right after its step (before the scheduler moves
    them), one ``lr_group_<i>`` row per parameter group, so layer-wise rates show up as really used.
    """

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self._group_lrs: list[float] = []

    def on_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
        if optimizer is not None:
            self._group_lrs = [float(group["lr"]) for group in optimizer.param_groups]

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        step, epoch = state.global_step, float(logs.get("epoch", state.epoch or 0.0))
        for key, value in logs.items():
            if key == "epoch" or key in _SUMMARY_LOG_KEYS or not isinstance(value, (int, float)):
                continue
            self.rows.append({"step": step, "epoch": epoch, "metric": key, "value": float(value)})
        if "loss" in logs:
            for i, lr in enumerate(self._group_lrs):
                self.rows.append({"step": step, "epoch": epoch, "metric": f"lr_group_{i}", "value": lr})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=HISTORY_COLUMNS)


def fine_tune(model, tokenizer, dataset, config: TrainConfig | None = None, *,
              output_dir: str | Path | None = None, callbacks=(),
              parameter_groups: Sequence[Mapping[str, Any]] | None = None,
              lr_scheduler: Callable[[Any, int], Any] | None = None) -> TrainResult:
    """Fine-tune ``model`` on ``dataset["train"]``, evaluating on ``dataset["validation"]``.

    Parameters
    ----------
    model, tokenizer
        From :func:`workbench.models.load_model`.
    dataset : datasets.DatasetDict
        Splits ``train`` and ``validation`` with columns ``text`` and ``label`` (ClassLabel).
    config : TrainConfig
    output_dir : path, optional
        Where checkpoints go (the best one is kept). Default: a temporary folder removed afterwards.
    callbacks : sequence of transformers.TrainerCallback
        Extra callbacks (e.g. gradient statistics).
    parameter_groups : sequence of dict, optional
        ``torch.optim`` parameter groups (``params`` plus optional ``lr``, ``weight_decay``, ``name``), e.g.
        from :func:`workbench.schedules.llrd_parameter_groups`. Trainer's own optimiser class and
        arguments (AdamW) are built on these groups instead of its two weight-decay groups, and the
        configured scheduler scales every group's rate by the same schedule. Default: Trainer's groups.
    lr_scheduler : callable, optional
        ``(optimizer, max_steps) -> torch scheduler`` replacing ``lr_scheduler_type`` (e.g.
        :func:`workbench.schedules.torch_scheduler`); Trainer steps it after every update.

    Returns
    -------
    TrainResult
        With the best checkpoint's weights loaded into ``model``.

    Examples
    --------
    >>> from workbench.data import load_dataset
    >>> from workbench.models import load_model
    >>> data = load_dataset("builtin:fine_foods", max_examples=16)
    >>> model, tok = load_model("tiny:num_layers=1,hidden_size=32,num_heads=2", num_labels=2)
    >>> result = fine_tune(model, tok, data, TrainConfig(max_steps=2, batch_size=4, progress=False))
    >>> int(result.global_step)
    2
    """
    import torch
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer, TrainingArguments

    config = config or TrainConfig()
    check_type("config", config, "fine_tune", TrainConfig)
    if lr_scheduler is not None and (not callable(lr_scheduler) or config.max_steps < 1):
        raise ParameterError(f"The 'lr_scheduler' parameter of fine_tune must be a callable, with max_steps >= 1. "
                             f"Got {type(lr_scheduler).__name__} with max_steps={config.max_steps} instead.")
    for split in ("train", "validation"):
        if split not in dataset:
            raise DataError(f"The 'dataset' parameter of fine_tune must have a {split!r} split. "
                            f"Got splits {list(dataset)} instead. Use workbench.load_dataset.")
    label_names = list(dataset["train"].features["label"].names)
    precision = _precision_arguments(config.bf16)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)

    train = tokenize_split(dataset["train"], tokenizer, max_length=config.max_length)
    validation = tokenize_split(dataset["validation"], tokenizer, max_length=config.max_length)
    workdir = Path(output_dir) if output_dir else Path(tempfile.mkdtemp(prefix="workbench-train-"))
    strategy = "steps" if config.eval_steps else "epoch"
    args = TrainingArguments(
        output_dir=str(workdir), learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler_type, warmup_steps=config.warmup_ratio,
        lr_scheduler_kwargs=dict(config.lr_scheduler_kwargs or {}),
        weight_decay=config.weight_decay, num_train_epochs=config.num_epochs, max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size, per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps, max_grad_norm=config.max_grad_norm,
        eval_strategy=strategy, save_strategy=strategy, eval_steps=config.eval_steps,
        save_steps=config.eval_steps, logging_steps=config.logging_steps, logging_first_step=True,
        load_best_model_at_end=True, metric_for_best_model=config.metric_for_best_model,
        greater_is_better=config.metric_for_best_model != "loss", save_total_limit=1, save_only_model=True,
        seed=config.seed, data_seed=config.seed, report_to="none", disable_tqdm=True,
        dataloader_num_workers=0, dataloader_pin_memory=hardware.cuda_available(), **precision)

    history = HistoryCallback()
    extra: list[TrainerCallback] = [history]
    if config.progress:
        extra.append(_ProgressCallback())
    if config.early_stopping_patience:
        extra.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    # Trainer builds the scheduler on a given optimiser (optimizers=(optimizer, None)) from args as usual.
    optimizer = None if parameter_groups is None else _grouped_optimizer(parameter_groups, model, args)
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=validation,
                      data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer,
                      compute_metrics=_compute_metrics, callbacks=[*extra, *callbacks],
                      optimizers=(optimizer, None))
    if lr_scheduler is not None:
        trainer.create_optimizer()  # Trainer keeps (never resets) a scheduler it did not create
        trainer.lr_scheduler = lr_scheduler(trainer.optimizer, config.max_steps)
    trainer.remove_callback(PrinterCallback)  # our history and progress bar replace its printed dicts
    # Classifier heads return the batch-mean loss and ignore num_items_in_batch, but Trainer sees their
    # **kwargs and assumes they normalise by it, so with gradient accumulation it skips its division by
    # the accumulation steps (gradients and logged loss k times too large). Declaring the model as not
    # taking loss kwargs restores mean-of-means: k micro-batches of b train like one batch of k * b.
    trainer.model_accepts_loss_kwargs = False
    start = time.perf_counter()
    try:
        with quiet_transformers():
            trainer.train()
    finally:
        if output_dir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return TrainResult(model=trainer.model, tokenizer=tokenizer, config=config, history=history.frame(),
                       train_seconds=time.perf_counter() - start, global_step=trainer.state.global_step,
                       best_metric=trainer.state.best_metric, bf16=precision["bf16"], label_names=label_names)


def _grouped_optimizer(parameter_groups, model, args):
    """Trainer's optimiser class and arguments (AdamW and its betas, eps, lr) on the caller's groups."""
    from transformers import Trainer

    func, fix = "fine_tune", "Use workbench.schedules.llrd_parameter_groups or [{'params': [...], 'lr': ...}]."
    check_type("parameter_groups", parameter_groups, func, (list, tuple), fix=fix)
    if not parameter_groups or not all(isinstance(g, Mapping) and g.get("params") for g in parameter_groups):
        raise ParameterError(f"The 'parameter_groups' parameter of {func} must be a non-empty list of dicts, each "
                             f"with a non-empty 'params' list. Got {_describe_groups(parameter_groups)} instead. {fix}")
    seen: set[int] = set()
    for group in parameter_groups:
        for param in group["params"]:
            if id(param) in seen:
                raise ParameterError(f"The 'parameter_groups' parameter of {func} must hold each parameter in "
                                     f"one group only. Got a parameter again in group {group.get('name', '?')!r} "
                                     f"instead. {fix}")
            seen.add(id(param))
    if not seen <= {id(p) for p in model.parameters()}:
        raise ParameterError(f"The 'parameter_groups' parameter of {func} must hold parameters of the model being "
                             f"trained. Got parameters of another model instead. Build the groups from this model.")
    optimizer_cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(args, model)
    # Groups without their own weight decay get Trainer's (torch's AdamW default would be 0.01).
    groups = [{"weight_decay": args.weight_decay, **group, "params": list(group["params"])}
              for group in parameter_groups]
    return optimizer_cls(groups, **kwargs)


def _describe_groups(groups) -> str:
    kinds = sorted({type(g).__name__ for g in groups})
    return f"{len(groups)} groups of type {', '.join(kinds)}" if groups else "[]"


def tokenize_split(split, tokenizer, *, max_length: int):
    """Tokenize a ``datasets.Dataset`` with ``text``/``label`` columns (padding is left to the collator)."""
    import datasets

    if "text" not in split.column_names:
        raise DataError(f"The dataset split must have a 'text' column. Got columns {split.column_names} "
                        "instead. Use workbench.load_dataset.")
    bars_were_on = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        # A fresh fingerprint and no cache look-up: otherwise datasets hashes the whole tokenizer with dill
        # to name a cache entry (about a second per split), which in-memory splits never use.
        return split.map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=max_length),
                         batched=True, remove_columns=["text"], new_fingerprint=uuid.uuid4().hex,
                         load_from_cache_file=False)
    finally:
        if bars_were_on:
            datasets.enable_progress_bars()


def predict_logits(model, tokenizer, texts, *, max_length: int = 128, batch_size: int = 64,
                   progress: bool = True) -> np.ndarray:
    """Class logits, shape ``(len(texts), num_labels)``, in eval mode without gradients.

    >>> from workbench.models import load_model
    >>> model, tok = load_model("tiny:num_layers=1,hidden_size=32,num_heads=2", num_labels=2)
    >>> predict_logits(model, tok, ["tasty", "stale"], progress=False).shape
    (2, 2)
    """
    import torch

    texts = list(texts)
    check_int("batch_size", batch_size, "predict_logits", low=1)
    model.eval()
    device = next(model.parameters()).device
    outputs = []
    with torch.inference_mode():
        starts = range(0, len(texts), batch_size)
        for start in progress_bar(starts, desc="predict", disable=not progress, leave=False):
            batch = tokenizer(texts[start:start + batch_size], truncation=True, max_length=max_length,
                              padding=True, return_tensors="pt").to(device)
            outputs.append(model(**batch).logits.float().cpu().numpy())
    n_labels = model.config.num_labels
    return np.concatenate(outputs) if outputs else np.zeros((0, n_labels), dtype=np.float32)


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


def _precision_arguments(bf16="auto") -> dict[str, bool]:
    """The ``TrainingArguments`` precision settings for :class:`TrainConfig`'s ``bf16``, from the hardware probes.

    bf16 on a CPU needs ``use_cpu=True``: without it transformers takes bf16 for a GPU request and refuses it.

    >>> _precision_arguments(False)
    {'bf16': False}
    """
    if bf16 is False:
        return {"bf16": False}
    if hardware.cuda_available():
        if hardware.cuda_bf16_available():
            return {"bf16": True}
        if bf16 == "auto":
            return {"bf16": False}
        where = "a CUDA GPU without bf16 (bf16 needs Ampere or later)"
    else:
        if bf16 == "auto":
            return {"bf16": False}  # fp32 on every CPU: the same numbers whichever CPU runs them
        if hardware.cpu_has_native_bf16():
            return {"bf16": True, "use_cpu": True}
        where = "a CPU without AMX or AVX512-BF16"
    raise ParameterError(
        f"The 'bf16' parameter of TrainConfig must be False or 'auto' on hardware without native bf16 (here "
        f"{where}). Got True instead. Use bf16='auto': emulated bf16 is several times slower than fp32.")


def _compute_metrics(eval_prediction) -> dict:
    from workbench.evaluation import classification_metrics

    logits, labels = eval_prediction.predictions, eval_prediction.label_ids
    metrics = classification_metrics(labels, np.asarray(logits).argmax(axis=-1))
    return {k: metrics[k] for k in ("accuracy", "macro_f1")}


class _ProgressCallback(TrainerCallback):
    """A training progress bar from :func:`progress_bar`, which stays readable in HTML reports."""

    bar = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.bar = progress_bar(total=state.max_steps, desc="training", unit="step")

    def on_step_end(self, args, state, control, **kwargs):
        self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)

    def on_train_end(self, args, state, control, **kwargs):
        self.bar.close()
