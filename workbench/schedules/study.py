"""The schedules notebook's experiments, one call each: sweep + seeded comparison, warmup ablation on
post-LN and pre-LN encoders, clipping and accumulation checks. Each returns tidy frames or small dicts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import pandas as pd

from workbench._validation import check_choice
from workbench.errors import ParameterError
from workbench.schedules.analysis import curve_difference
from workbench.schedules.compare import ScheduleComparison, compare_schedules
from workbench.schedules.selection import BASELINE, schedule_verdicts, sweep_peak_lrs


def study_config(settings: dict, *, warmup_ratio: float, seed: int):
    """The shared :class:`~workbench.training.TrainConfig` of a profile's settings (peak: the highest swept rate).

    >>> study_config({"rates": [1e-3, 3e-3], "max_steps": 20, "batch_size": 8, "eval_steps": 5, "max_length": 32,
    ...               "num_threads": 0}, warmup_ratio=0.1, seed=0).learning_rate
    0.003
    """
    from workbench.training import TrainConfig

    return TrainConfig(learning_rate=max(settings["rates"]), max_steps=settings["max_steps"],
                       batch_size=settings["batch_size"], eval_steps=settings["eval_steps"],
                       logging_steps=max(1, settings["eval_steps"] // 3), max_length=settings["max_length"],
                       warmup_ratio=warmup_ratio, num_threads=settings["num_threads"] or None, seed=seed)


def catalogue(max_steps: int) -> dict[str, dict]:
    """Every schedule the study can train, as :func:`compare_schedules` specs for a ``max_steps`` budget.

    The transformers types, torch's one-cycle, cyclic, step and exponential, reduce-on-plateau (driven
    by validation loss), and two arms that change *which* parameters learn how fast: layer-wise decay
    (``llrd``) and gradual unfreezing, both on the linear schedule.

    >>> sorted(catalogue(100))[:4]
    ['constant', 'constant_with_warmup', 'cosine', 'cyclic']
    """
    return {
        "constant": {"warmup_ratio": 0.0},
        "constant_with_warmup": {},
        "linear": {},
        "cosine": {},
        "warmup_stable_decay": {"lr_scheduler_kwargs": {"num_decay_steps": max(1, max_steps // 5)}},
        "one_cycle": {},
        "cyclic": {"warmup_ratio": 0.0},
        "step": {"warmup_ratio": 0.0, "lr_scheduler_kwargs": {"step_size": max(1, max_steps // 3), "gamma": 0.3}},
        "exponential": {"warmup_ratio": 0.0, "lr_scheduler_kwargs": {"gamma": 0.02 ** (1 / max_steps)}},
        "reduce_on_plateau": {"lr_scheduler_type": "reduce_lr_on_plateau", "warmup_ratio": 0.0,
                              "lr_scheduler_kwargs": {"patience": 1, "factor": 0.5}},
        "llrd": {"lr_scheduler_type": "linear", "llrd_decay": 0.8},
        "gradual_unfreezing": {"lr_scheduler_type": "linear", "unfreeze_every": max(1, max_steps // 10)},
    }


def select_specs(names: Sequence[str], max_steps: int) -> dict[str, dict]:
    """The :func:`catalogue` specs of ``names``, in that order; the baseline ``linear`` must be among them."""
    specs = catalogue(max_steps)
    for name in names:
        check_choice("schedules", name, "select_specs", list(specs))
    if BASELINE not in names:
        raise ParameterError(f"The 'schedules' parameter of select_specs must include the baseline {BASELINE!r}. "
                             f"Got {list(names)!r} instead.")
    return {name: specs[name] for name in names}


@dataclass
class ScheduleStudy:
    """What :func:`run_schedule_study` measured: the sweep, each schedule's rate, the comparison, verdicts."""

    sweep: ScheduleComparison
    peak_lrs: dict
    comparison: ScheduleComparison
    verdicts: dict
    metric: str


def run_schedule_study(model: str, dataset, specs: dict, *, rates: Sequence[float], base, seeds: Sequence[int],
                       metric: str = "accuracy", tokenizer=None, gradient_stats_every: int | None = None,
                       target_accuracy: float | None = None) -> ScheduleStudy:
    """Sweep each schedule's peak rate on validation (seed ``seeds[0]``), train every schedule at its own
    rate on every seed, choose on validation and judge on test (:func:`schedule_verdicts`)."""
    base = replace(base, metric_for_best_model="loss")  # the checkpoint by loss; the choice by the metric
    from workbench.reports import check_outcomes

    peak_lrs, sweep = sweep_peak_lrs(model, dataset, specs, rates=list(rates), base=base, seed=seeds[0],
                                     metric=metric, tokenizer=tokenizer)
    # Nothing trained: fail with the first run's own reason, not later with a verdict's complaint.
    check_outcomes(sweep.runs, what="sweep runs", label_columns=["schedule", "seed"], ok_values=("ok", "diverged"))
    tuned = {name: {**spec, "learning_rate": peak_lrs[name]} for name, spec in specs.items()}
    comparison = compare_schedules(model, dataset, tuned, base=base, seeds=list(seeds), tokenizer=tokenizer,
                                   gradient_stats_every=gradient_stats_every, target_accuracy=target_accuracy)
    check_outcomes(comparison.runs, what="schedule runs", label_columns=["schedule", "seed"],
                   ok_values=("ok", "diverged"))
    return ScheduleStudy(sweep=sweep, peak_lrs=peak_lrs, comparison=comparison, metric=metric,
                         verdicts=schedule_verdicts(comparison, metric=metric, seed=seeds[0]))


def warmup_ablation(model: str, dataset, *, peak_lr: float, base, seeds: Sequence[int], tokenizer=None) -> dict:
    """Linear decay with and without warmup at a high ``peak_lr``, on a post-LN and a pre-LN encoder.

    Xiong et al. (2020) show post-LN transformers need warmup and pre-LN ones much less. Tiny models run
    both placements (``norm_placement``); a pretrained model runs as it is (BERT-likes are post-LN), and
    ``pre_ln`` is then None. Returns ``{"post_ln": {...}, "pre_ln": {...}, "frame": runs}``; each arm has
    ``with_warmup`` and ``without_warmup`` (mean test accuracy), ``gain`` (with minus without),
    ``diverged`` (names) and ``peak_lr``.
    """
    arms = {"warmup": {"lr_scheduler_type": "linear", "learning_rate": peak_lr},
            "no_warmup": {"lr_scheduler_type": "linear", "learning_rate": peak_lr, "warmup_ratio": 0.0}}
    base = replace(base, metric_for_best_model="loss", warmup_ratio=base.warmup_ratio or 0.1)
    placements = {"post_ln": "post", "pre_ln": "pre"} if model.startswith("tiny") else {"post_ln": None}
    out, frames = {"pre_ln": None}, []
    for key, placement in placements.items():
        spec = model if placement is None else _with_option(model, f"norm_placement={placement}")
        runs = compare_schedules(spec, dataset, arms, base=base, seeds=list(seeds), tokenizer=tokenizer).runs
        frames.append(runs.assign(encoder=key))
        mean = runs.groupby("schedule")["test_accuracy"].mean()
        out[key] = {"with_warmup": float(mean["warmup"]), "without_warmup": float(mean["no_warmup"]),
                    "gain": float(mean["warmup"] - mean["no_warmup"]), "peak_lr": peak_lr,
                    "diverged": sorted(set(runs.loc[runs["status"] != "ok", "schedule"]))}
    out["frame"] = pd.concat(frames, ignore_index=True)
    return out


def _with_option(model: str, option: str) -> str:
    name, _, options = model.partition(":")
    kept = [o for o in options.split(",") if o and not o.startswith(option.split("=")[0] + "=")]
    return f"{name}:{','.join([*kept, option])}"


def accumulation_check(model: str, dataset, *, base, steps: int, seed: int, tokenizer=None,
                       tolerance: float = 1e-3) -> dict:
    """4 micro-batches of 8 against batches of 32 (dropout off for tiny models): the largest relative
    difference of the training and validation loss curves, and whether it stays under ``tolerance``."""
    spec = _with_option(model, "dropout=0") if model.startswith("tiny") else model
    config = replace(base, max_steps=steps, eval_steps=max(1, steps // 4), logging_steps=1)
    result = compare_schedules(spec, dataset, {"1x32": {"batch_size": 32},
                                               "4x8": {"batch_size": 8, "gradient_accumulation_steps": 4}},
                               base=config, seeds=[seed], tokenizer=tokenizer)
    gap = pd.concat({m: curve_difference(result.history, "4x8", "1x32", metric=m) for m in ("loss", "eval_loss")},
                    names=["metric"]).reset_index(level=0)
    worst = float(gap["rel_diff"].max()) if len(gap) else math.nan
    return {"max_rel_diff": worst, "tracks": bool(worst < tolerance), "tolerance": tolerance, "gap": gap,
            "runs": result.runs}


def clipping_table(comparison: ScheduleComparison, *, limit: float = 1.0) -> pd.DataFrame:
    """How often each schedule's logged (pre-clip) gradient norm exceeded ``limit``, and its largest value."""
    norms = comparison.history[comparison.history["metric"] == "grad_norm"]
    return (norms.assign(above_limit=norms["value"] > limit)
            .groupby("schedule").agg(above_limit=("above_limit", "mean"), max_grad_norm=("value", "max")))
