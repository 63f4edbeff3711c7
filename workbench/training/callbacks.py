"""Trainer callbacks: every logged value as tidy rows, and a progress bar that reads well in reports.

>>> HistoryCallback().frame().columns.tolist()
['step', 'epoch', 'metric', 'value']
"""

from __future__ import annotations

import pandas as pd
from transformers import TrainerCallback

from workbench._progress import progress_bar

HISTORY_COLUMNS = ["step", "epoch", "metric", "value"]
# Values Trainer logs once at the end of training; they summarise rather than trace the run.
_SUMMARY_LOG_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second",
                     "total_flos", "train_loss", "eval_runtime", "eval_samples_per_second",
                     "eval_steps_per_second")


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


class _ProgressCallback(TrainerCallback):
    """A training progress bar from :func:`progress_bar`, which stays readable in HTML reports.

    Only the main process of a multi-process launch draws it (the others train the same steps).
    """

    bar = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.bar = progress_bar(total=state.max_steps, desc="training", unit="step")

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is not None and logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
