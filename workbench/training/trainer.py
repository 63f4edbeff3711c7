"""``fine_tune``: HF ``Trainer`` on one :class:`TrainConfig`, in one process or under a launcher.

``transformers.Trainer`` does the training (and, under ``torchrun`` or ``accelerate launch``, the
distributed data parallelism: one batch of ``batch_size`` per process, gradients averaged); this module
wires the config, the callbacks and the optional parameter groups or scheduler, and returns a
:class:`TrainResult`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from transformers import PrinterCallback, TrainerCallback

from workbench._validation import check_type
from workbench.errors import DataError, ParameterError
from workbench.models import quiet_transformers
from workbench.training.callbacks import HistoryCallback, _ProgressCallback
from workbench.training.config import TrainConfig, _precision_arguments
from workbench.training.distributed import run_arguments
from workbench.training.predict import predict_logits, tokenize_split


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
        Where checkpoints go (the best one is kept). Default: a temporary folder removed afterwards;
        under ``torchrun`` / ``accelerate launch`` one folder shared by every rank (rank 0 writes, every
        rank loads the best checkpoint: :mod:`workbench.training.distributed`).
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
    with run_arguments(config, output_dir, precision=precision) as args:
        history = HistoryCallback()
        trainer = _trainer(model, tokenizer, train, validation, args, config, [history], callbacks,
                           parameter_groups, lr_scheduler)
        start = time.perf_counter()
        with quiet_transformers():
            trainer.train()
        seconds = time.perf_counter() - start
    return TrainResult(model=trainer.model, tokenizer=tokenizer, config=config, history=history.frame(),
                       train_seconds=seconds, global_step=trainer.state.global_step,
                       best_metric=trainer.state.best_metric, bf16=precision["bf16"], label_names=label_names)


def _trainer(model, tokenizer, train, validation, args, config, ours, callbacks, parameter_groups, lr_scheduler):
    """A Trainer with ``ours``, a progress bar and early stopping as configured, then the caller's
    ``callbacks``; optional groups and scheduler; no printed logs."""
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer

    extra: list[TrainerCallback] = list(ours)
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
    return trainer


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


def _compute_metrics(eval_prediction) -> dict:
    from workbench.evaluation import classification_metrics

    logits, labels = eval_prediction.predictions, eval_prediction.label_ids
    metrics = classification_metrics(labels, np.asarray(logits).argmax(axis=-1))
    return {k: metrics[k] for k in ("accuracy", "macro_f1")}
