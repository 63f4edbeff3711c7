"""The learning-rate range test (Smith 2017) and its suggestions."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench._validation import check_float, check_int
from workbench.errors import DataError

RANGE_TEST_COLUMNS = ["step", "lr", "loss", "smoothed_loss"]
RANGE_TEST_CAVEAT = (
    "An LR range test is one noisy run: its curve moves with batch size, number of steps, smoothing and "
    "seed, and the rate that is best for a short sweep from fresh weights is not the best for a full "
    "schedule. Treat the suggestion as an upper bound and confirm it with a short real run.")


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


