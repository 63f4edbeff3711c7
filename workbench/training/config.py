"""What decides a fine-tuning run: :class:`TrainConfig`, and how it becomes HF ``TrainingArguments``.

``transformers.TrainingArguments`` holds the settings Trainer reads; this module picks CPU-friendly
defaults, checks every field eagerly (one-line errors), chooses the precision from the hardware probes
and merges the caller's extra ``training_args`` last.

>>> TrainConfig(training_args={"dataloader_drop_last": True}).training_args
{'dataloader_drop_last': True}
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench import hardware
from workbench._distributed import launch_world
from workbench._validation import check_choice, check_float, check_int, check_type
from workbench.errors import ParameterError

SCHEDULER_TYPES = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
                   "inverse_sqrt", "cosine_with_min_lr", "warmup_stable_decay", "reduce_lr_on_plateau")
BEST_METRICS = ("accuracy", "macro_f1", "loss")
# TrainingArguments that fine_tune itself decides from its own parameters: not overridable by training_args.
_RESERVED_TRAINING_ARGS = {"output_dir": "Pass output_dir to fine_tune instead."}


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
    dataloader_num_workers : int
        Worker processes loading batches (0: in the training process, best for small in-memory data).
    training_args : mapping or None
        Further ``transformers.TrainingArguments`` by name, merged last (they override what the fields
        above set), e.g. ``{"ddp_backend": "gloo", "dataloader_drop_last": True}``. Unknown names are
        refused when the config is made; ``output_dir`` is ``fine_tune``'s own parameter.

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
    dataloader_num_workers: int = 0
    training_args: Mapping[str, Any] | None = None

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
        check_int("dataloader_num_workers", self.dataloader_num_workers, f, low=0, high=64)
        if self.training_args is not None:
            _check_training_args(self.training_args)


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


def _check_training_args(extra: Any) -> None:
    """Refuse a ``training_args`` that is not a mapping of ``TrainingArguments`` field names."""
    from transformers import TrainingArguments

    f, name = "TrainConfig", "training_args"
    check_type(name, extra, f, Mapping, fix="Give a dict such as {'dataloader_drop_last': True}, or None.")
    known = {field.name for field in dataclasses.fields(TrainingArguments) if field.init}
    for key in extra:
        if key in _RESERVED_TRAINING_ARGS:
            raise ParameterError(f"The {name!r} parameter of {f} must not set {key!r}, which fine_tune decides. "
                                 f"Got {key}={extra[key]!r} instead. {_RESERVED_TRAINING_ARGS[key]}")
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"Did you mean {close[0]!r}? " if close else ""
            raise ParameterError(f"The {name!r} parameter of {f} must name transformers.TrainingArguments fields. "
                                 f"Got {key!r} instead. {hint}Use a field listed by "
                                 "help(transformers.TrainingArguments).")


def training_arguments(config: TrainConfig, output_dir: str | Path, *, precision: Mapping[str, bool]):
    """The ``TrainingArguments`` of ``config`` writing into ``output_dir``, ``config.training_args`` last.

    Every rank of a multi-process launch builds the same arguments; Trainer then saves checkpoints on
    rank 0 only (``save_on_each_node=False``) and every rank reads the best one back from ``output_dir``.

    >>> training_arguments(TrainConfig(max_steps=3), "out", precision={"bf16": False}).max_steps
    3
    """
    from transformers import TrainingArguments

    strategy = "steps" if config.eval_steps else "epoch"
    settings = dict(
        output_dir=str(output_dir), learning_rate=config.learning_rate,
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
        dataloader_num_workers=config.dataloader_num_workers, dataloader_pin_memory=hardware.cuda_available())
    return TrainingArguments(**{**settings, **precision, **_launch_arguments(), **(config.training_args or {})})


def _launch_arguments(world_size: int | None = None) -> dict[str, Any]:
    """Processes on CPUs only (``torchrun`` without GPUs): gloo and ``use_cpu``, without which accelerate
    sees no distributed setup and every process would train alone on all the data.

    >>> _launch_arguments(1)
    {}
    """
    world_size = launch_world()[1] if world_size is None else world_size
    if world_size < 2 or hardware.cuda_available():
        return {}  # one process, or GPUs: accelerate picks NCCL and one device per process itself
    return {"use_cpu": True, "ddp_backend": "gloo"}
