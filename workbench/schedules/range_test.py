"""The learning-rate range test (Smith 2017) and its suggestions."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench._validation import check_float, check_int
from workbench.errors import DataError

RANGE_TEST_COLUMNS = ["step", "lr", "loss", "smoothed_loss"]
RANGE_TEST_CAVEAT = (
    "An LR range test is one noisy run: its curve moves with batch size, number of steps, smoothing and "
    "seed, and the rate that is best for a short sweep from fresh weights is not the best for a full "
    "schedule. The steepest fall is no upper bound: on pretrained transformers it often lands an order of "
    "magnitude or more above the rate fine-tuning wants (huggingface/transformers#16013). Confirm any "
    "suggestion with a short real run, as the short-horizon sweep does.")


@dataclass
class RangeTestResult:
    """What :func:`lr_range_test` measured: the sweep, suggested rates and why to be careful with them."""

    frame: pd.DataFrame
    suggestions: dict
    caveat: str
    stopped_early: bool


def range_test_curve(loss_fn: Callable[[int], Any], optimizer, *, min_lr: float, max_lr: float, num_steps: int,
                     smoothing: float = 0.05, diverge_factor: float = 4.0, max_grad_norm: float = 0.0) -> pd.DataFrame:
    """The range test's loop on any loss and optimiser: ``loss_fn(step)`` returns a loss tensor, then
    gradients are clipped to ``max_grad_norm`` (0: no clipping, as Trainer) and ``optimizer`` steps while
    torch's ``ExponentialLR`` moves the rate of the group with the largest rate from ``min_lr`` to
    ``max_lr`` (other groups keep their ratio to it, so LLRD groups stay LLRD groups).

    Returns the frame ``step``, ``lr`` (the largest group's), ``loss``, ``smoothed_loss`` (exponential
    average with bias correction); it stops once the smoothed loss exceeds ``diverge_factor`` times its best.

    >>> import torch
    >>> w = torch.nn.Parameter(torch.tensor([3.0]))
    >>> frame = range_test_curve(lambda step: (w ** 2).sum(), torch.optim.SGD([w], lr=1.0), min_lr=1e-3,
    ...                          max_lr=10.0, num_steps=50)
    >>> bool(frame["loss"].min() < 1e-3), len(frame) < 50
    (True, True)
    """
    import torch

    params = [p for group in optimizer.param_groups for p in group["params"]]
    top = max(group["lr"] for group in optimizer.param_groups)
    for group in optimizer.param_groups:
        group["lr"] = min_lr * group["lr"] / top
        group["initial_lr"] = group["lr"]
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=(max_lr / min_lr) ** (1 / (num_steps - 1)))
    rows, average, best = [], 0.0, math.inf
    for step in range(num_steps):
        optimizer.zero_grad()
        loss = loss_fn(step)
        loss.backward()
        if max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        lr = max(group["lr"] for group in optimizer.param_groups)
        optimizer.step()
        scheduler.step()
        value = float(loss.item())
        average = (1 - smoothing) * average + smoothing * value
        smoothed = average / (1 - (1 - smoothing) ** (step + 1))  # bias correction: average starts at 0
        rows.append({"step": step, "lr": lr, "loss": value, "smoothed_loss": smoothed})
        best = min(best, smoothed)
        if not math.isfinite(smoothed) or smoothed > diverge_factor * best:
            break
    return pd.DataFrame(rows, columns=RANGE_TEST_COLUMNS)


def lr_range_test(model, tokenizer, dataset, *, min_lr: float = 1e-7, max_lr: float = 1.0,
                  num_steps: int = 100, batch_size: int = 16, smoothing: float = 0.05,
                  diverge_factor: float = 4.0, max_length: int = 128, seed: int = 0,
                  num_threads: int | None = None, weight_decay: float = 0.0, max_grad_norm: float = 1.0,
                  parameter_groups: Sequence[Mapping] | None = None) -> RangeTestResult:
    """Learning-rate range test (Smith 2017) with the optimiser training really uses.

    torch's AdamW with Trainer's defaults (betas 0.9/0.999, eps 1e-8), Trainer's weight-decay groups
    (``weight_decay`` on weights, none on biases and norms) or the given ``parameter_groups`` (e.g. LLRD),
    and Trainer's clipping (``max_grad_norm``, 1.0 as in :class:`~workbench.training.TrainConfig`), steps
    once per batch of ``dataset["train"]`` while the rate grows exponentially from ``min_lr`` to
    ``max_lr`` (:func:`range_test_curve`). The model's weights are restored afterwards, exactly.

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
    weight_decay, max_grad_norm, parameter_groups
        The training run's optimiser settings, so that the suggestion transfers to it.

    Returns
    -------
    RangeTestResult
        ``frame`` (``step``, ``lr``, ``loss``, ``smoothed_loss``), ``suggestions`` (``steepest``: rate of the
        steepest fall of the smoothed loss against log-rate; ``min_loss_div_10``: rate of the lowest
        smoothed loss / 10; ``valley``: fastai's rule, a third and a sixth of the way along the longest
        descending stretch, see :func:`valley_rate`), ``caveat`` and ``stopped_early``.

    Examples
    --------
    >>> result = lr_range_test(model, tok, data, num_steps=30)  # doctest: +SKIP
    >>> sorted(result.suggestions)  # doctest: +SKIP
    ['min_loss_div_10', 'steepest', 'valley']
    """
    import torch

    texts, labels = _range_test_data(dataset, min_lr, max_lr, num_steps, batch_size, smoothing,
                                     diverge_factor, max_length, seed)
    if num_threads is not None:
        check_int("num_threads", num_threads, "lr_range_test", low=1, fix="Use None to keep the current setting.")
    check_float("weight_decay", weight_decay, "lr_range_test", low=0.0, high=1.0)
    check_float("max_grad_norm", max_grad_norm, "lr_range_test", low=0.0, fix="0 disables clipping.")
    order = _batch_order(len(texts), num_steps * batch_size, seed)
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    was_training, device = model.training, next(model.parameters()).device
    groups = _optimizer_groups(model, parameter_groups, weight_decay, max_lr)
    optimizer = torch.optim.AdamW(groups, lr=max_lr, betas=(0.9, 0.999), eps=1e-8)

    def loss_fn(step: int):
        idx = order[step * batch_size:(step + 1) * batch_size]
        batch = tokenizer([texts[i] for i in idx], truncation=True, max_length=max_length, padding=True,
                          return_tensors="pt").to(device)
        return model(**batch, labels=torch.tensor([labels[i] for i in idx], device=device)).loss

    threads = torch.get_num_threads()
    torch.set_num_threads(num_threads or threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # dropout
            model.train()
            frame = range_test_curve(loss_fn, optimizer, min_lr=min_lr, max_lr=max_lr, num_steps=num_steps,
                                     smoothing=smoothing, diverge_factor=diverge_factor, max_grad_norm=max_grad_norm)
    finally:
        model.load_state_dict(initial)
        model.zero_grad(set_to_none=True)
        model.train(was_training)
        torch.set_num_threads(threads)
    return RangeTestResult(frame=frame, suggestions=_suggestions(frame), caveat=RANGE_TEST_CAVEAT,
                           stopped_early=len(frame) < num_steps)


def _optimizer_groups(model, parameter_groups, weight_decay: float, top_lr: float) -> list[dict]:
    """Trainer's two groups (decay / no decay) at one rate, or the caller's groups with their rates."""
    from workbench.schedules.groups import _no_decay_names

    if parameter_groups is not None:
        top = max(group.get("lr", top_lr) for group in parameter_groups)
        return [{"weight_decay": weight_decay, **group, "params": list(group["params"]),
                 "lr": top_lr * group.get("lr", top) / top} for group in parameter_groups]
    skip = _no_decay_names(model)
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    return [{"params": [p for name, p in named if name not in skip], "weight_decay": weight_decay},
            {"params": [p for name, p in named if name in skip], "weight_decay": 0.0}]


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
        return {"steepest": None, "min_loss_div_10": None, "valley": None}
    smoothed, lrs = finite["smoothed_loss"].to_numpy(), finite["lr"].to_numpy()
    lowest = int(smoothed.argmin())
    # The steepest fall is searched up to the lowest loss only: past it the loss is blowing up, and its
    # noisy dips there would otherwise win (as they do in fastai's and torch-lr-finder's plain argmin).
    steepest = None
    if lowest >= 1:
        slope = np.gradient(smoothed[:lowest + 1], np.log(lrs[:lowest + 1]))
        steepest = float(lrs[int(np.argmin(slope))])
    return {"steepest": steepest, "min_loss_div_10": float(lrs[lowest]) / 10, "valley": valley_rate(lrs, smoothed)}


def valley_rate(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """fastai's ``valley`` rule: the longest stretch over which the loss keeps falling (a longest
    decreasing subsequence), and the rate half (start + 1/3 + 1/6 of its length).

    >>> valley_rate([1, 2, 3, 4, 5, 6, 7], [5.0, 4.0, 3.0, 2.0, 1.0, 0.0, 9.0])
    3.0
    """
    n = len(losses)
    longest, start, end = [1] * n, 0, 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and longest[i] < longest[j] + 1:
                longest[i] = longest[j] + 1
            if longest[end] < longest[i]:
                end, start = i, i - longest[i]
    sections = (end - start) / 3
    return float(lrs[max(0, start + int(sections) + int(sections / 2))])


