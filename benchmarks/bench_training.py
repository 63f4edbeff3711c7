"""Training throughput: workbench.fine_tune (gradient statistics off and on) vs a plain HF Trainer.

All three variants train the same freshly initialised model (same seed) on the same tokenized examples
with the same ``TrainingArguments`` (the ones fine_tune builds, captured from its Trainer), side by side
in one process. Repeats are interleaved, rotating the order, so drifting machine load hits every
variant alike; the report gives median ratios.

- ``train`` time: from Trainer's ``on_train_begin`` to ``on_train_end`` (the same clock callback in every
  variant), i.e. the training loop with its evaluations and checkpoints; the goals refer to it. Wall
  time and process CPU time are both reported: with one torch thread, CPU time counts the work done and
  is far less disturbed by other processes on a shared machine than wall time.
- ``total`` time: the whole call from raw texts (tokenizing, building the Trainer, training), wall.

Usage: ``.venv/bin/python benchmarks/bench_training.py [--model SPEC] [--steps 200] [--repeats 5]``
``[--every 10] [--threads 1]``. Goals: <= 10% overhead with gradient statistics, <= 3% without.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import shutil
import statistics
import tempfile
import time
import warnings

import datasets
import numpy as np
import torch
from transformers import DataCollatorWithPadding, Trainer, TrainerCallback

import workbench as wb
from workbench.models import load_model, quiet_transformers
from workbench.schedules import GradientStatsCallback
from workbench.training import TrainConfig, fine_tune

GOALS = {"fine_tune": 0.03, "fine_tune+grad_stats": 0.10}


class _CaptureArguments(TrainerCallback):
    """Keeps the TrainingArguments fine_tune built, so the plain Trainer gets exactly the same ones."""

    args = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.args = args


class _Clock(TrainerCallback):
    """Wall and CPU seconds of the training loop, identical in every variant."""

    def on_train_begin(self, args, state, control, **kwargs):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def on_train_end(self, args, state, control, **kwargs):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


class _TimedStats(GradientStatsCallback):
    """GradientStatsCallback that also clocks itself: its own share of the time, free of machine noise."""

    seconds = 0.0
    records = 0

    def on_pre_optimizer_step(self, *args, **kwargs):
        start = time.perf_counter()
        super().on_pre_optimizer_step(*args, **kwargs)
        self.seconds += time.perf_counter() - start

    def on_optimizer_step(self, *args, **kwargs):
        start = time.perf_counter()
        recorded = self._pending is not None
        super().on_optimizer_step(*args, **kwargs)
        self.seconds += time.perf_counter() - start
        self.records += recorded


def _accuracy(eval_prediction) -> dict:
    return {"accuracy": float((np.argmax(eval_prediction.predictions, axis=-1) == eval_prediction.label_ids).mean())}


def _plain_trainer(spec: str, data, arguments, max_length: int) -> tuple[float, float, float]:
    start, clock = time.perf_counter(), _Clock()
    model, tokenizer = load_model(spec, num_labels=2, seed=0)
    splits = {name: data[name].map(lambda b: tokenizer(b["text"], truncation=True, max_length=max_length),
                                   batched=True, remove_columns=["text"]) for name in ("train", "validation")}
    workdir = tempfile.mkdtemp(prefix="bench-plain-")
    trainer = Trainer(model=model, args=dataclasses.replace(arguments, output_dir=workdir),
                      train_dataset=splits["train"], eval_dataset=splits["validation"],
                      data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer,
                      compute_metrics=_accuracy, callbacks=[clock])
    try:
        with quiet_transformers(), contextlib.redirect_stdout(io.StringIO()):
            trainer.train()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return clock.wall, clock.cpu, time.perf_counter() - start


def _fine_tune(spec: str, data, config: TrainConfig, callbacks) -> tuple[float, float, float]:
    start, clock = time.perf_counter(), _Clock()
    model, tokenizer = load_model(spec, num_labels=2, seed=0)
    fine_tune(model, tokenizer, data, config, callbacks=[clock, *callbacks])
    return clock.wall, clock.cpu, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny:num_layers=2,hidden_size=128,num_heads=2")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--every", type=int, default=10, help="record gradient statistics every N updates")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 keeps shared machines quiet)")
    parser.add_argument("--train-examples", type=int, default=800)
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    warnings.filterwarnings("ignore")
    datasets.disable_progress_bars()

    data = wb.load_dataset("builtin:fine_foods", max_examples=options.train_examples, seed=0)
    data["validation"] = data["validation"].select(range(min(200, len(data["validation"]))))
    config = TrainConfig(max_steps=options.steps, batch_size=16, max_length=64, learning_rate=1e-3,
                         warmup_ratio=0.1, eval_steps=max(1, options.steps // 4), logging_steps=10, progress=False)
    capture = _CaptureArguments()
    _fine_tune(options.model, data, config, [capture])  # warm-up; also captures fine_tune's TrainingArguments
    clocks: list[tuple[_TimedStats, float]] = []

    def with_stats():
        stats = _TimedStats(every=options.every)
        wall, cpu, total = _fine_tune(options.model, data, config, [stats])
        clocks.append((stats, wall))
        return wall, cpu, total

    variants = {
        "plain_trainer": lambda: _plain_trainer(options.model, data, capture.args, config.max_length),
        "fine_tune": lambda: _fine_tune(options.model, data, config, []),
        "fine_tune+grad_stats": with_stats,
    }
    times = {name: {"train": [], "cpu": [], "total": []} for name in variants}
    names = list(variants)
    for repeat in range(options.repeats):
        for name in names[repeat % 3:] + names[:repeat % 3]:  # rotate the order between repeats
            for kind, seconds in zip(("train", "cpu", "total"), variants[name]()):
                times[name][kind].append(seconds)

    print(f"model {options.model}, {options.steps} steps x batch {config.batch_size}, torch threads "
          f"{torch.get_num_threads()}, gradient statistics every {options.every} updates, {options.repeats} "
          f"interleaved repeats")
    base = {kind: statistics.median(times["plain_trainer"][kind]) for kind in ("train", "cpu", "total")}
    print(f"{'variant':<22}{'train wall s':>13}{'steps/s':>9}{'wall ratio':>12}{'CPU ratio':>11}{'total ratio':>13}"
          f"  goal (CPU ratio)")
    for name in names:
        train = statistics.median(times[name]["train"])
        ratios = {kind: statistics.median(times[name][kind]) / base[kind] for kind in ("train", "cpu", "total")}
        goal = GOALS.get(name)
        verdict = "" if goal is None else f"<= {1 + goal:.2f}: {'met' if ratios['cpu'] <= 1 + goal else 'MISSED'}"
        print(f"{name:<22}{train:>13.2f}{options.steps / train:>9.1f}{ratios['train']:>12.3f}{ratios['cpu']:>11.3f}"
              f"{ratios['total']:>13.3f}  {verdict}")
    share = statistics.median(stats.seconds / train for stats, train in clocks)
    per_record = statistics.median(stats.seconds / max(1, stats.records) for stats, _ in clocks)
    print(f"gradient statistics callback, clocked directly: {per_record * 1e3:.1f} ms per recorded update, "
          f"{share:.1%} of training time at every={options.every}")
    for kind in ("train", "cpu"):
        print(f"per-repeat {'wall' if kind == 'train' else 'CPU'} ratios vs plain (same repeat):",
              {name: [round(t / p, 3) for t, p in zip(times[name][kind], times["plain_trainer"][kind])]
               for name in names[1:]})


if __name__ == "__main__":
    main()
