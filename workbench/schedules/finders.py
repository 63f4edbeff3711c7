"""Learning-rate finders side by side, scored against the rate the full comparison found best, and the
gradient noise scale measured during a training run.

- the range test (:func:`~workbench.schedules.lr_range_test`) with the real optimiser, weight decay,
  clipping and parameter groups; its steepest, minimum/10 and fastai valley rules;
- a short-horizon sweep (:func:`short_horizon_sweep`): ``k`` updates per rate on a log grid, each scored
  by the validation loss after those ``k`` updates.

:func:`finder_report` says how far each suggestion lands from the best rate, in factors of 10
(``|log10(suggested / best)|``), and which lands nearest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from workbench.errors import ParameterError

SHORT_HORIZON_COLUMNS = ["lr", "steps", "status", "val_loss"]


def short_horizon_sweep(model: str, dataset, *, rates: Sequence[float], steps: int, base, seed: int = 0,
                        tokenizer=None) -> dict:
    """Train ``steps`` updates at each constant rate of ``rates`` (one seed, same initial weights and
    batches) and suggest the rate with the lowest validation loss after them. Diverged or failed runs
    never win. Returns ``{"suggested_lr", "frame"}`` (``SHORT_HORIZON_COLUMNS``).

    >>> short_horizon_sweep("tiny", data, rates=[1e-4, 1e-3, 1e-2], steps=20, base=base)  # doctest: +SKIP
    """
    from workbench.schedules.compare import compare_schedules

    if not rates or any(not isinstance(r, (int, float)) or r <= 0 for r in rates):
        raise ParameterError(f"The 'rates' parameter of short_horizon_sweep must list positive learning rates. "
                             f"Got {list(rates)!r} instead.")
    config = replace(base, max_steps=steps, eval_steps=steps, logging_steps=max(1, steps // 4), warmup_ratio=0.0,
                     metric_for_best_model="loss")
    specs = {f"lr={rate:g}": {"lr_scheduler_type": "constant", "learning_rate": float(rate)} for rate in rates}
    runs = compare_schedules(model, dataset, specs, base=config, seeds=[seed], tokenizer=tokenizer,
                             progress=False).runs
    frame = pd.DataFrame({"lr": runs["peak_lr"], "steps": steps, "status": runs["status"],
                          "val_loss": runs["final_val_loss"]}, columns=SHORT_HORIZON_COLUMNS)
    ok = frame[(frame["status"] == "ok") & np.isfinite(frame["val_loss"].astype(float))]
    suggested = float(ok.sort_values(["val_loss", "lr"]).iloc[0]["lr"]) if len(ok) else None
    return {"suggested_lr": suggested, "frame": frame}


def factor_from(suggested: float | None, best: float) -> float | None:
    """How many factors of 10 ``suggested`` lies from ``best``: ``|log10(suggested / best)|``.

    >>> factor_from(1e-3, 1e-5), factor_from(None, 1e-5)
    (2.0, None)
    """
    return None if suggested is None else round(abs(math.log10(suggested / best)), 6)


def finder_report(suggestions: Mapping[str, float | None], *, best_lr: float) -> dict:
    """Each finder's ``suggested_lr`` and ``factor_from_best``, plus ``nearest`` (the rule closest to
    ``best_lr``, None when none suggested anything) and ``best_lr``.

    >>> report = finder_report({"valley": 3e-3, "short_horizon": 1e-3}, best_lr=1e-3)
    >>> report["nearest"], report["valley"]["factor_from_best"]
    ('short_horizon', 0.477121)
    """
    report: dict = {name: {"suggested_lr": lr, "factor_from_best": factor_from(lr, best_lr)}
                    for name, lr in suggestions.items()}
    scored = {name: entry["factor_from_best"] for name, entry in report.items() if entry["factor_from_best"] is not None}
    return {**report, "best_lr": best_lr, "nearest": min(scored, key=scored.get) if scored else None}


def lr_finders(model: str, dataset, *, base, rates: Sequence[float], steps: int, range_steps: int, best_lr: float,
               seed: int = 0, tokenizer=None, label_names=None) -> dict:
    """The range test (Trainer's optimiser settings of ``base``) and the short-horizon sweep on ``model``,
    each judged against ``best_lr``.

    Returns ``range_test`` (the :class:`~workbench.schedules.RangeTestResult`), ``short_horizon`` (its
    dict), ``report`` (:func:`finder_report` over the three range-test rules and the sweep) and
    ``num_layers`` of the model.
    """
    from workbench.models import load_model
    from workbench.schedules.range_test import lr_range_test

    names = label_names or list(dataset["train"].features["label"].names)
    network, tok = load_model(model, num_labels=len(names), label_names=names, tokenizer=tokenizer, seed=seed)
    range_test = lr_range_test(network, tok, dataset, min_lr=1e-6, max_lr=1.0, num_steps=range_steps,
                               batch_size=base.batch_size, max_length=base.max_length, seed=seed,
                               num_threads=base.num_threads, weight_decay=base.weight_decay,
                               max_grad_norm=base.max_grad_norm)
    short = short_horizon_sweep(model, dataset, rates=rates, steps=steps, base=base, seed=seed, tokenizer=tokenizer)
    rules = {f"range_test_{name}": lr for name, lr in range_test.suggestions.items()}
    report = finder_report({**rules, "short_horizon": short["suggested_lr"]}, best_lr=best_lr)
    return {"range_test": range_test, "short_horizon": short, "report": report,
            "num_layers": int(network.config.num_hidden_layers)}


def noise_scale_run(model: str, dataset, *, base, at_steps: Sequence[int], batch_sizes=(8, 64), n_batches: int = 8,
                    seed: int = 0, tokenizer=None) -> dict:
    """Fine-tune ``model`` once with ``base`` and measure the simple noise scale at ``at_steps``
    (:class:`~workbench.schedules.noise_scale.NoiseScaleCallback`). ``b_simple`` is the median of the
    measurements after the first update (the noise scale grows as training proceeds; at step 0 it
    describes the random start), ``critical_batch_size`` its rounded value, ``frame`` every measurement."""
    from workbench.models import load_model
    from workbench.schedules.noise_scale import NoiseScaleCallback
    from workbench.training import fine_tune

    names = list(dataset["train"].features["label"].names)
    network, tok = load_model(model, num_labels=len(names), label_names=names, tokenizer=tokenizer, seed=seed)
    callback = NoiseScaleCallback(dataset["train"], tok, at_steps=at_steps, batch_sizes=batch_sizes,
                                  n_batches=n_batches, max_length=base.max_length, seed=seed)
    fine_tune(network, tok, dataset, replace(base, seed=seed, progress=False), callbacks=[callback])
    frame = pd.DataFrame(callback.rows, columns=["step", "b_simple", "grad_sq", "trace_sigma"])
    later = frame.loc[frame["step"] > 0, "b_simple"]
    b = float(later.median()) if len(later) else math.nan
    return {"b_simple": b, "critical_batch_size": max(1, round(b)) if math.isfinite(b) and b > 0 else None,
            "batch_sizes": list(batch_sizes), "train_batch_size": base.batch_size, "frame": frame}
