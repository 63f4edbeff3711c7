"""Train one model per schedule and seed through ``fine_tune`` and compare them."""

from __future__ import annotations

import gc
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd
from transformers import SchedulerType

from workbench._validation import check_float, check_int, check_type
from workbench.errors import DataError, ParameterError, first_line
from workbench.schedules.analysis import PLATEAU_COLUMNS, RUN_COLUMNS, summarize_runs
from workbench.schedules.callbacks import (
    DivergenceCallback,
    GradientStatsCallback,
    GradualUnfreezing,
)
from workbench.schedules.diagnostics import detect_divergence, detect_plateaus
from workbench.schedules.frames import (
    METRIC_SCHEDULES,
    TORCH_SCHEDULES,
    schedule_frame,
    schedule_frames,
    torch_scheduler,
)
from workbench.schedules.groups import llrd_parameter_groups

COMPARISON_COLUMNS = ["schedule", "seed", "step", "metric", "layer", "value"]
# Keys a comparison spec may hold besides TrainConfig fields; seed and progress belong to the comparison.
# ``unfreeze_every`` adds :class:`GradualUnfreezing`; an ``lr_scheduler_type`` among TORCH_SCHEDULES trains
# through :func:`torch_scheduler` (Trainer's own scheduler set aside).
SPEC_EXTRAS = ("llrd_decay", "unfreeze_every")
_SET_BY_COMPARISON = ("seed", "progress")


@dataclass
class ScheduleComparison:
    """What :func:`compare_schedules` measured.

    Attributes
    ----------
    history : pandas.DataFrame
        Tidy rows ``schedule``, ``seed``, ``step``, ``metric``, ``layer``, ``value``: everything Trainer logged
        (``loss``, ``grad_norm``, ``lr_group_<i>``, ``eval_loss``, ``eval_accuracy``, ...; ``layer`` empty) and,
        when recorded, ``layer_grad_norm`` / ``layer_update_ratio`` per layer. ``step`` counts updates done
        (Trainer's numbering) throughout.
    runs : pandas.DataFrame
        One row per schedule x seed (``RUN_COLUMNS``): status (``ok``, ``diverged``, ``failed``), reason, metrics.
    summary : pandas.DataFrame
        One row per schedule (``SUMMARY_COLUMNS``), see :func:`summarize_runs`.
    plateaus : pandas.DataFrame
        Validation-loss plateaus per run (``PLATEAU_COLUMNS``), see :func:`detect_plateaus`.
    planned : pandas.DataFrame
        The learning rate each spec's scheduler plans per step (:func:`schedule_frames`; step 0-based).
    target_accuracy : float
        Accuracy behind ``steps_to_target``: given, or derived (see :func:`compare_schedules`).
    configs : dict
        The :class:`~workbench.training.TrainConfig` of each spec (seed aside).
    predictions : dict
        ``{(schedule, seed): {"validation": labels, "test": labels}}``: what each run's restored checkpoint
        (chosen on validation by the config's ``metric_for_best_model``) predicts, per example.
    labels : dict
        ``{"validation": labels, "test": labels}``, the true labels of those splits.
    """

    history: pd.DataFrame
    runs: pd.DataFrame
    summary: pd.DataFrame
    plateaus: pd.DataFrame
    planned: pd.DataFrame
    target_accuracy: float
    configs: dict
    predictions: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)


def compare_schedules(model: str, dataset, schedules: Mapping[str, Mapping], *, base=None,
                      seeds: Sequence[int] = (0, 1), tokenizer=None, gradient_stats_every: int | None = None,
                      target_accuracy: float | None = None, diverge_factor: float = 4.0,
                      plateau_patience: int = 3, progress: bool = True) -> ScheduleComparison:
    """Train the same model on the same data and budget once per schedule and seed, and compare.

    HF ``Trainer`` (through :func:`workbench.training.fine_tune`) trains every run; each starts from the
    same initial weights for a given seed (``load_model(model, seed=seed)``) and sees the same batches.
    A :class:`DivergenceCallback` stops a run at the first NaN or exploding loss; a run that diverges or
    fails is reported in ``runs`` (status, reason) and never stops the comparison.

    Parameters
    ----------
    model : str
        Model spec for :func:`workbench.models.load_model` (``"tiny:num_layers=2,hidden_size=64"``, ``"minilm"``).
    dataset : datasets.DatasetDict
        ``train`` and ``validation`` splits with ``text`` and ``label``.
    schedules : mapping of name to dict
        Per spec, :class:`~workbench.training.TrainConfig` fields overriding ``base`` (``learning_rate``,
        ``lr_scheduler_type``, ``warmup_ratio``, ``max_grad_norm``, ``batch_size``,
        ``gradient_accumulation_steps``, ``lr_scheduler_kwargs``, ...) and optionally ``llrd_decay``
        (layer-wise decay factor in (0, 1], see :func:`llrd_parameter_groups`). ``lr_scheduler_type``
        defaults to the spec's name when that names a scheduler, else to ``base``'s.
    base : TrainConfig, optional
        Shared settings; must fix the budget with ``max_steps`` (default ``TrainConfig(max_steps=100)``).
        ``eval_steps`` defaults to a tenth of it.
    seeds : sequence of int
        One run per seed and spec (initialisation, data order and dropout).
    tokenizer : tokenizer, optional
        For tiny models (see :func:`~workbench.models.load_model`).
    gradient_stats_every : int, optional
        Record per-layer gradient norms and update/weight ratios every this many updates
        (:class:`GradientStatsCallback`); None records none.
    target_accuracy : float, optional
        Validation accuracy behind ``steps_to_target``. Default: halfway between always predicting the
        validation split's majority class and the best accuracy any run reached.
    diverge_factor : float
        A logged loss above this multiple of the first one counts as divergence.
    plateau_patience : int
        Evaluations without validation-loss improvement that make a plateau.
    progress : bool
        Show a progress bar over runs.

    Returns
    -------
    ScheduleComparison

    Examples
    --------
    >>> base = TrainConfig(max_steps=40, batch_size=16, learning_rate=3e-3, max_length=48)  # doctest: +SKIP
    >>> comparison = compare_schedules("tiny:num_layers=2,hidden_size=64", data,
    ...                                {"constant": {}, "linear": {"warmup_ratio": 0.1}}, base=base)  # doctest: +SKIP
    >>> comparison.summary[["schedule", "best_val_accuracy", "diverged"]]  # doctest: +SKIP
    """
    import torch

    from workbench._progress import progress_bar

    func = "compare_schedules"
    labels, label_names = _comparison_data(dataset, func)
    _check_model_spec(model, func)
    seeds = _check_seeds(seeds, func)
    if gradient_stats_every is not None:
        check_int("gradient_stats_every", gradient_stats_every, func, low=1, fix="Use None to record none.")
    if target_accuracy is not None:
        check_float("target_accuracy", target_accuracy, func, low=0.0, high=1.0)
    check_float("diverge_factor", diverge_factor, func, low=1.0, low_open=True)
    check_int("plateau_patience", plateau_patience, func, low=1)
    configs, extras, planned = _comparison_configs(schedules, base, func)

    histories, runs, predictions = [], [], {}
    jobs = [(name, seed) for name in configs for seed in seeds]
    # Trainer runs a full gc.collect() at the start of every run; with torch and transformers loaded that
    # scans millions of long-lived objects (about half a second each time). Freezing them skips the scan
    # (unless the caller froze objects already: unfreeze would release theirs too).
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    threads = torch.get_num_threads()  # a config's num_threads applies to its runs only
    try:
        for name, seed in progress_bar(jobs, desc="schedules x seeds", unit="run", disable=not progress):
            history, run, predictions[name, seed] = _comparison_run(
                model, tokenizer, dataset, label_names, configs[name], extras[name], seed, gradient_stats_every,
                diverge_factor)
            if len(history):  # a run that failed before logging adds nothing (and would make `value` object-typed)
                histories.append(history.assign(schedule=name, seed=seed))
            runs.append({"schedule": name, "seed": seed, **run})
    finally:
        if freeze:
            gc.unfreeze()
        torch.set_num_threads(threads)
    history = pd.concat(histories, ignore_index=True)[COMPARISON_COLUMNS] if histories else \
        pd.DataFrame(columns=COMPARISON_COLUMNS)
    runs_frame = pd.DataFrame(runs)
    target = target_accuracy if target_accuracy is not None else _derived_target(history, labels)
    truth = {split: np.asarray(dataset[split]["label"]) for split in ("validation", "test") if split in dataset}
    runs_frame, plateaus = _run_metrics(history, runs_frame, target, plateau_patience, predictions, truth)
    return ScheduleComparison(history=history, runs=runs_frame, summary=summarize_runs(runs_frame),
                              plateaus=plateaus, planned=planned, target_accuracy=target, configs=configs,
                              predictions=predictions, labels=truth)


def planned_rates(schedules: Mapping[str, Mapping], *, base=None) -> pd.DataFrame:
    """The learning rate each :func:`compare_schedules` spec will use per step, before training anything.

    Validates the specs exactly as :func:`compare_schedules` does and returns their
    :func:`schedule_frames` frame (``schedule``, ``step`` from 0, ``group`` 0, ``lr``), for a shapes plot.

    >>> from workbench.training import TrainConfig
    >>> frame = planned_rates({"linear": {"warmup_ratio": 0.5}}, base=TrainConfig(max_steps=4, learning_rate=1.0))
    >>> frame["lr"].tolist()
    [0.0, 0.5, 1.0, 0.5]
    """
    return _comparison_configs(schedules, base, "planned_rates")[2]


def _comparison_data(dataset, func: str) -> tuple[np.ndarray, list[str]]:
    ok = isinstance(dataset, Mapping) and all(
        split in dataset and {"text", "label"} <= set(dataset[split].column_names) and len(dataset[split])
        for split in ("train", "validation"))
    if not ok:
        raise DataError(f"The 'dataset' parameter of {func} must have non-empty 'train' and 'validation' splits with "
                        "'text' and 'label' columns. Use workbench.load_dataset.")
    return np.asarray(dataset["validation"]["label"]), list(dataset["train"].features["label"].names)


def _check_model_spec(model, func: str) -> None:
    from workbench.models import parse_tiny_spec

    check_type("model", model, func, str)
    if model.startswith("tiny:"):
        parse_tiny_spec(model)  # a typo in a tiny spec is the user's, not a run's, failure


def _check_seeds(seeds, func: str) -> list[int]:
    check_type("seeds", seeds, func, (list, tuple, range), fix="Give a list such as [0, 1].")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ParameterError(f"The 'seeds' parameter of {func} must list at least one seed, each once. "
                             f"Got {list(seeds)!r} instead.")
    return [check_int("seeds", seed, func, low=0) for seed in seeds]


def _comparison_configs(schedules, base, func: str):
    """Validate every spec before any training: TrainConfig per spec, LLRD factors, planned rates."""
    from workbench.training import TrainConfig

    base = base if base is not None else TrainConfig(max_steps=100, progress=False)
    check_type("base", base, func, TrainConfig)
    if base.max_steps < 1:
        raise ParameterError(f"The 'base' parameter of {func} must set max_steps >= 1 so that every schedule gets "
                             f"the same budget. Got max_steps={base.max_steps} instead.")
    if base.eval_steps is None:
        base = replace(base, eval_steps=max(1, base.max_steps // 10))
    check_type("schedules", schedules, func, Mapping, fix="Give {name: {TrainConfig field: value}}.")
    if not schedules:
        raise ParameterError(f"The 'schedules' parameter of {func} must name at least one spec. Got {{}} instead.")
    allowed = sorted({f.name for f in fields(TrainConfig)} - set(_SET_BY_COMPARISON) | set(SPEC_EXTRAS))
    configs, extras, planned = {}, {}, {}
    for name, spec in schedules.items():
        where = f"schedules[{name!r}]"
        check_type(where, spec, func, Mapping, fix="Give a dict of TrainConfig fields.")
        unknown = sorted(set(spec) - set(allowed))
        if unknown:
            raise ParameterError(f"The keys of {where} in {func} must be among {', '.join(allowed)}. "
                                 f"Got {', '.join(map(repr, unknown))} instead.")
        overrides = {k: v for k, v in spec.items() if k not in SPEC_EXTRAS}
        if "lr_scheduler_type" not in overrides and (name in SchedulerType._value2member_map_ or name in TORCH_SCHEDULES):
            overrides["lr_scheduler_type"] = name
        kind = overrides.get("lr_scheduler_type", base.lr_scheduler_type)
        if kind in TORCH_SCHEDULES:
            overrides["lr_scheduler_type"] = "constant"  # a placeholder: torch_scheduler replaces Trainer's
        if kind in METRIC_SCHEDULES:
            overrides.setdefault("metric_for_best_model", "loss")  # the plateau is one of validation loss
        try:
            config = replace(base, **overrides, progress=False)
            extras[name] = {
                "llrd_decay": None if spec.get("llrd_decay") is None else check_float(
                    "llrd_decay", spec["llrd_decay"], func, low=0.0, high=1.0, low_open=True,
                    fix="1 gives every layer the same rate; 0.8-0.95 is usual."),
                "unfreeze_every": None if spec.get("unfreeze_every") is None else check_int(
                    "unfreeze_every", spec["unfreeze_every"], func, low=1, fix="Use None to train every layer."),
                "lr_scheduler": None}
            options = dict(config.lr_scheduler_kwargs or {})
            # A plateau schedule's rates depend on the losses: planned as its peak, held until a plateau.
            planned[name] = {"schedule": "constant" if kind in METRIC_SCHEDULES else kind,
                             "peak_lr": config.learning_rate, "warmup_ratio": config.warmup_ratio,
                             **({} if kind in METRIC_SCHEDULES else options)}
            schedule_frame(num_training_steps=config.max_steps, **planned[name])  # the scheduler accepts them
            if kind in TORCH_SCHEDULES:
                extras[name]["lr_scheduler"] = torch_scheduler(kind, peak_lr=config.learning_rate,
                                                               warmup_ratio=config.warmup_ratio, **options)
        except ParameterError as exc:
            raise ParameterError(f"In {where} of {func}: {first_line(exc)}") from None
        configs[name] = config
    return configs, extras, schedule_frames(planned, num_training_steps=base.max_steps)


def _comparison_run(model_spec, tokenizer, dataset, label_names, config, extra, seed, stats_every, diverge_factor):
    from workbench.models import load_model
    from workbench.training import HISTORY_COLUMNS, fine_tune

    guard = DivergenceCallback(diverge_factor=diverge_factor)
    stats = GradientStatsCallback(every=stats_every) if stats_every else None
    run = {"status": "ok", "diverged": False, "reason": None, "diverged_step": None, "steps": 0,
           "train_seconds": math.nan, "peak_lr": config.learning_rate}
    predictions: dict[str, np.ndarray] = {}
    decay = extra["llrd_decay"]
    callbacks = [guard, *([stats] if stats else []),
                 *([GradualUnfreezing(unfreeze_every=extra["unfreeze_every"])] if extra["unfreeze_every"] else [])]
    history = pd.DataFrame(columns=HISTORY_COLUMNS)
    try:
        network, tok = load_model(model_spec, num_labels=len(label_names), label_names=label_names,
                                  tokenizer=tokenizer, seed=seed)
        groups = None if decay is None else llrd_parameter_groups(
            network, peak_lr=config.learning_rate, decay=decay, weight_decay=config.weight_decay)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the guard's notice: the runs table reports it
            result = fine_tune(network, tok, dataset, replace(config, seed=seed),
                               callbacks=callbacks, parameter_groups=groups, lr_scheduler=extra["lr_scheduler"])
        history = result.history
        # The restored checkpoint (chosen by config.metric_for_best_model on validation) predicts both splits.
        predictions = {split: result.predict_labels(dataset[split]["text"])
                       for split in ("validation", "test") if split in dataset}
        run.update(steps=result.global_step, train_seconds=result.train_seconds)
    except Exception as exc:  # noqa: BLE001 - a failing run is a result of the comparison, not its end
        run.update(status="failed", reason=first_line(exc))
    verdict = guard.result if guard.result["diverged"] else detect_divergence(history, diverge_factor=diverge_factor)
    if verdict["diverged"] and run["status"] == "ok":
        run.update(status="diverged", diverged=True, reason=verdict["reason"], diverged_step=verdict["step"])
    rows = history.drop(columns="epoch").assign(layer=pd.NA)
    if stats is not None and stats.rows:
        layer_rows = stats.frame()
        # GradientStatsCallback numbers update t from 0; Trainer's history counts updates done (t + 1).
        layer_rows = layer_rows.assign(step=layer_rows["step"] + 1, metric="layer_" + layer_rows["metric"])
        rows = pd.concat([rows, layer_rows], ignore_index=True)
    return rows.assign(layer=rows["layer"].astype("Int64")), run, predictions


def _derived_target(history: pd.DataFrame, labels: np.ndarray) -> float:
    majority = float(np.bincount(labels).max() / len(labels))
    accuracy = history.loc[history["metric"] == "eval_accuracy", "value"]
    best = float(accuracy.max()) if len(accuracy) else majority
    return majority + 0.5 * max(0.0, best - majority)


def _split_metrics(predictions: dict, labels: dict) -> dict:
    from workbench.evaluation import classification_metrics

    out = {}
    for split, short in (("validation", "val"), ("test", "test")):
        pred = predictions.get(split)
        metrics = classification_metrics(labels[split], pred) if pred is not None and split in labels else {}
        out.update({f"{short}_{m}": float(metrics.get(m, math.nan)) for m in ("accuracy", "macro_f1")})
    return out


def _run_metrics(history: pd.DataFrame, runs: pd.DataFrame, target: float, patience: int,
                 predictions: dict | None = None, labels: dict | None = None):
    plateaus, metrics = [], []
    for run in runs.itertuples():
        rows = history[(history["schedule"] == run.schedule) & (history["seed"] == run.seed)]
        accuracy = rows[rows["metric"] == "eval_accuracy"].sort_values("step")
        loss = rows[rows["metric"] == "eval_loss"].sort_values("step")
        train_loss = rows[rows["metric"] == "loss"].sort_values("step")
        reached = accuracy.loc[accuracy["value"] >= target - 1e-12, "step"]
        found = detect_plateaus(rows, metric="eval_loss", patience=patience) if len(loss) else []
        plateaus += [{"schedule": run.schedule, "seed": run.seed, **p} for p in found]
        metrics.append({"best_val_accuracy": accuracy["value"].max() if len(accuracy) else math.nan,
                        "final_val_accuracy": accuracy["value"].iloc[-1] if len(accuracy) else math.nan,
                        "final_val_loss": loss["value"].iloc[-1] if len(loss) else math.nan,
                        "final_train_loss": train_loss["value"].iloc[-1] if len(train_loss) else math.nan,
                        "steps_to_target": float(reached.iloc[0]) if len(reached) else math.nan,
                        "n_plateaus": len(found),
                        **_split_metrics((predictions or {}).get((run.schedule, run.seed), {}), labels or {})})
    runs = pd.concat([runs.reset_index(drop=True), pd.DataFrame(metrics)], axis=1)
    return runs.reindex(columns=RUN_COLUMNS), pd.DataFrame(plateaus, columns=PLATEAU_COLUMNS)


