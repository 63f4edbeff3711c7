"""Trainer callbacks: gradual unfreezing, per-layer gradient statistics, divergence guard."""

from __future__ import annotations

import math
import warnings

import pandas as pd
from transformers import TrainerCallback

from workbench._validation import check_float, check_int
from workbench.schedules.diagnostics import _divergence_reason
from workbench.schedules.groups import _trainable_from, parameter_layers

GRADIENT_COLUMNS = ["step", "layer", "metric", "value"]


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


