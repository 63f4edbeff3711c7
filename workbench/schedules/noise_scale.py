"""The gradient noise scale (McCandlish, Kaplan, Amodei et al. 2018, "An Empirical Model of Large-Batch
Training", appendix A): how large a batch can grow before more examples per update stop helping.

With per-example gradients of mean ``G`` and covariance ``Sigma``, a batch of ``B`` gives a gradient whose
expected squared norm is ``|G|^2 + tr(Sigma) / B``. Two batch sizes ``b < B`` give unbiased estimates

- ``|G|^2  ~ (B |g_B|^2 - b |g_b|^2) / (B - b)``
- ``tr(Sigma) ~ (|g_b|^2 - |g_B|^2) / (1/b - 1/B)``

and the simple noise scale ``B_simple = tr(Sigma) / |G|^2``, which the paper finds close to the critical
batch size (the batch beyond which doubling it no longer halves the steps needed). Both estimates are
averaged over many measurements before the ratio is taken, as the paper advises.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from transformers import TrainerCallback

from workbench._validation import check_int
from workbench.errors import ParameterError

NOISE_COLUMNS = ["step", "batch_size", "grad_sq_norm"]


def simple_noise_scale(small_sq_norms: Sequence[float], big_sq_norms: Sequence[float], *, small: int,
                       big: int) -> dict:
    """``b_simple``, ``grad_sq`` (``|G|^2``) and ``trace_sigma`` from squared gradient norms at two batch sizes.

    >>> # G = (1, 0) and Sigma = I (trace 2): E|g_b|^2 = 1 + 2 / b
    >>> simple_noise_scale([1 + 2 / 4], [1 + 2 / 32], small=4, big=32)["b_simple"]
    2.0
    """
    check_int("small", small, "simple_noise_scale", low=1)
    check_int("big", big, "simple_noise_scale", low=small + 1, fix="big must exceed small.")
    if not len(small_sq_norms) or not len(big_sq_norms):
        raise ParameterError("The squared norms given to simple_noise_scale must hold at least one value at each "
                             f"batch size. Got {len(small_sq_norms)} and {len(big_sq_norms)} instead.")
    g_small, g_big = float(np.mean(small_sq_norms)), float(np.mean(big_sq_norms))
    grad_sq = (big * g_big - small * g_small) / (big - small)
    trace = (g_small - g_big) / (1 / small - 1 / big)
    b_simple = trace / grad_sq if grad_sq > 0 else math.inf
    return {"b_simple": b_simple, "grad_sq": grad_sq, "trace_sigma": trace, "small": small, "big": big}


def measure_noise_scale(gradient: Callable[[np.ndarray], np.ndarray], n_examples: int, *,
                        batch_sizes: tuple[int, int] = (8, 64), n_batches: int = 16, seed: int = 0) -> dict:
    """Draw ``n_batches`` batches of each size (without replacement within a batch), take
    ``gradient(indices)`` (the flat mean gradient of those examples) and return :func:`simple_noise_scale`
    plus ``frame`` (``NOISE_COLUMNS``).

    >>> pool = np.random.default_rng(0).normal(size=(5000, 2)) + [1.0, 0.0]  # G = (1, 0), Sigma = I
    >>> round(measure_noise_scale(lambda i: pool[i].mean(0), 5000, n_batches=400)["b_simple"])
    2
    """
    small, big = batch_sizes
    check_int("n_batches", n_batches, "measure_noise_scale", low=1)
    check_int("n_examples", n_examples, "measure_noise_scale", low=big, fix="Use a big batch no larger than the data.")
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_batches):
        for size in (small, big):
            flat = np.asarray(gradient(rng.choice(n_examples, size, replace=False)), dtype=float)
            rows.append({"step": i, "batch_size": size, "grad_sq_norm": float(flat @ flat)})
    frame = pd.DataFrame(rows, columns=NOISE_COLUMNS)
    sq = frame.groupby("batch_size")["grad_sq_norm"].apply(list)
    return {**simple_noise_scale(sq[small], sq[big], small=small, big=big), "frame": frame}


def model_noise_scale(model, tokenizer, split, *, batch_sizes: tuple[int, int] = (8, 64), n_batches: int = 8,
                      max_length: int = 128, seed: int = 0) -> dict:
    """:func:`measure_noise_scale` of a classifier's loss gradient on a split (``text``, ``label``), at its
    current weights, in train mode with dropout seeded; gradients are cleared afterwards. Adds
    ``critical_batch_size`` (``B_simple`` rounded, at least 1; the paper's estimate of B_crit)."""
    import torch

    texts, labels = list(split["text"]), [int(y) for y in split["label"]]
    device = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]

    def gradient(idx: np.ndarray) -> np.ndarray:
        model.zero_grad(set_to_none=True)
        batch = tokenizer([texts[i] for i in idx], truncation=True, max_length=max_length, padding=True,
                          return_tensors="pt").to(device)
        model(**batch, labels=torch.tensor([labels[i] for i in idx], device=device)).loss.backward()
        return torch.cat([p.grad.flatten() for p in params if p.grad is not None]).double().cpu().numpy()

    was_training = model.training
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.train()
        try:
            result = measure_noise_scale(gradient, len(texts), batch_sizes=batch_sizes, n_batches=n_batches,
                                         seed=seed)
        finally:
            model.zero_grad(set_to_none=True)
            model.train(was_training)
    b = result["b_simple"]
    return {**result, "critical_batch_size": max(1, round(b)) if math.isfinite(b) and b > 0 else None}


class NoiseScaleCallback(TrainerCallback):
    """Measure :func:`model_noise_scale` on the training split at the given optimiser steps of a Trainer
    run (``0`` is before the first update); ``.rows`` holds one dict per measurement (``step``,
    ``b_simple``, ``grad_sq``, ``trace_sigma``). Each measurement happens between updates and clears the
    gradients it made, so the run itself is unchanged.

    >>> fine_tune(model, tok, data, config, callbacks=[NoiseScaleCallback(data["train"], tok, at_steps=[0, 50])])  # doctest: +SKIP
    """

    def __init__(self, split, tokenizer, *, at_steps: Sequence[int], batch_sizes=(8, 64), n_batches: int = 8,
                 max_length: int = 128, seed: int = 0) -> None:
        self.split, self.tokenizer, self.at_steps = split, tokenizer, sorted(set(at_steps))
        self.options = {"batch_sizes": tuple(batch_sizes), "n_batches": n_batches, "max_length": max_length,
                        "seed": seed}
        self.rows: list[dict] = []

    def _measure(self, step: int, model) -> None:
        if step in self.at_steps and model is not None:
            found = model_noise_scale(model, self.tokenizer, self.split, **self.options)
            self.rows.append({"step": step, **{k: found[k] for k in ("b_simple", "grad_sq", "trace_sigma")}})

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._measure(0, model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self._measure(state.global_step, model)
