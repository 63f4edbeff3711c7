"""Latency, throughput and memory of every variant; the precision probe."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import pandas as pd

from workbench import hardware
from workbench._progress import progress_bar
from workbench._validation import check_int
from workbench.compression.config import LATENCY_COLUMNS, Variant
from workbench.compression.onnx import _numpy_feeds
from workbench.compression.runners import torch_feeds
from workbench.errors import DataError, ParameterError, first_line
from workbench.hardware import model_device, usable_cores

# --------------------------------------------------------------------------------------------
# Latency


def latency_feeds(tokenizer, texts: Sequence[str], *, batch_size: int, seq_len: int) -> dict[str, np.ndarray]:
    """A batch of exactly ``seq_len`` tokens per row, made from the longest of ``texts`` (cycled).

    >>> latency_feeds(tok, ["some text"], batch_size=2, seq_len=8)["input_ids"].shape   # doctest: +SKIP
    (2, 8)
    """
    texts = sorted(texts, key=len, reverse=True)
    if not texts:
        raise DataError("latency_feeds needs at least one text. Got none.")
    rows = [texts[i % len(texts)] for i in range(batch_size)]
    encoded = tokenizer(rows, truncation=True, padding="max_length", max_length=seq_len, return_tensors="np")
    return _numpy_feeds(encoded)


def measure_variants(variants: dict[str, Variant], tokenizer, texts: Sequence[str], *,
                     batch_sizes: Sequence[int] = (1, 32), seq_lens: Sequence[int] = (32, 128),
                     threads: Sequence[int] = (1, 0), warmup: int = 2, repeats: int = 10, rounds: int = 2,
                     large_batch_repeats: int | None = None, large_batch_threads: Sequence[int] | None = None,
                     progress: bool = True) -> pd.DataFrame:
    """Latency p50/p95, throughput and peak memory of every working variant on a grid.

    :func:`workbench.evaluation.measure_latency` times the calls after warm-up for every batch size x
    sequence length x thread count; ``0`` threads means all usable cores. Torch gets the count
    through ``torch.set_num_threads``, ONNX Runtime through a session built for it.

    Batch-1 cells (the headline latency) are measured in ``rounds`` rounds that visit every variant
    in turn, ``repeats / rounds`` calls each, so that a burst of load from another process hits all
    variants rather than one: ``p50_ms`` and ``p95_ms`` are percentiles of every timed call of the
    cell, all rounds pooled (``repeats`` calls). Larger batches are slow and measured once
    (``large_batch_repeats`` calls after one warm-up call), on a fresh ONNX Runtime session. The calls
    are timed with no memory sampler running; ``peak_mem_mb`` comes from one more, untimed call
    (:func:`workbench.latency.peak_memory`): the peak resident memory above what the process held
    before the warm-up, i.e. the activations and runtime buffers such a call needs (the weights are
    already loaded).

    Parameters
    ----------
    large_batch_repeats : int, optional
        Timed calls for batch sizes above 1; default ``repeats``.
    large_batch_threads : sequence of int, optional
        Thread counts for batch sizes above 1; default ``threads``.

    Returns
    -------
    pandas.DataFrame
        One row per variant x batch size x sequence length x threads, :data:`LATENCY_COLUMNS`.
    """
    func = "measure_variants"
    for name, values in (("batch_sizes", batch_sizes), ("seq_lens", seq_lens), ("threads", threads)):
        if not list(values):
            raise ParameterError(f"The {name!r} parameter of {func} must list at least one value. Got [] instead.")
        for value in values:
            check_int(name, value, func, low=0 if name == "threads" else 1)
    check_int("repeats", repeats, func, low=1)
    check_int("rounds", rounds, func, low=1, high=repeats, fix="Each round needs at least one timed call.")
    check_int("warmup", warmup, func, low=0)
    cores = usable_cores()
    grid = []
    for batch in batch_sizes:
        for seq in seq_lens:
            counts = threads if batch == 1 or large_batch_threads is None else large_batch_threads
            grid += [(batch, seq, count) for count in dict.fromkeys(c or cores for c in counts)]
    feeds = {(b, s): latency_feeds(tokenizer, texts, batch_size=b, seq_len=s) for b, s, _ in grid}
    working = {name: v for name, v in variants.items() if v.status == "ok"}
    # Batch 1: every round visits all variants; larger batches: one visit each.
    visits = [(r, name, cell) for cell in grid if cell[0] == 1 for r in range(rounds) for name in working]
    visits += [(0, name, cell) for cell in grid if cell[0] > 1 for name in working]
    stats: dict[tuple, list[dict]] = {}
    failures: dict[tuple, str] = {}
    for round_index, name, cell in progress_bar(visits, desc="latency", disable=not progress):
        key = (name, *cell)
        if key in failures:
            continue
        batch, seq, count = cell
        calls = -(-repeats // rounds) if batch == 1 else (large_batch_repeats or repeats)
        n_warmup = warmup if batch == 1 else min(warmup, 1)
        try:
            stats.setdefault(key, []).append(
                _time_variant(working[name], feeds[(batch, seq)], threads=count, warmup=n_warmup, repeats=calls,
                              fresh=batch > 1))
        except Exception as error:  # an op without a kernel at this shape, out of memory, ...
            failures[key] = f"{type(error).__name__}: {first_line(error)[:240]}"
    rows = []
    for name, variant in variants.items():
        for batch, seq, count in grid:
            key = (name, batch, seq, count)
            row = {"variant": name, "batch_size": batch, "seq_len": seq, "threads": count,
                   "status": "failed" if key in failures else variant.status,
                   "reason": failures.get(key, variant.reason)}
            if key in stats:
                parts = stats[key]
                pooled = np.concatenate([part["samples_ms"] for part in parts])
                p50 = float(np.median(pooled))
                row.update(p50_ms=p50, p95_ms=float(np.percentile(pooled, 95)), throughput_per_s=batch * 1e3 / p50,
                           peak_mem_mb=max(part["peak_mem_mb"] for part in parts),
                           repeats=sum(part["repeats"] for part in parts))
            rows.append(row)
    return pd.DataFrame(rows, columns=LATENCY_COLUMNS)


def _time_variant(variant: Variant, feeds: dict[str, np.ndarray], *, threads: int, warmup: int, repeats: int,
                  fresh: bool) -> dict[str, float]:
    """One :func:`~workbench.evaluation.measure_latency` run, with memory counted from before the warm-up."""
    import psutil

    from workbench.latency import measure_latency, peak_memory

    predict = variant.runner(threads, fresh=fresh)
    before_mb = psutil.Process().memory_info().rss / 2**20
    # Timed with no memory sampler beside the calls; memory comes from one more, untimed call.
    result = measure_latency(lambda: predict(feeds), warmup=warmup, repeats=repeats, threads=threads, memory=False)
    memory = peak_memory(lambda: predict(feeds), threads=threads)
    return {"p50_ms": result["p50_ms"], "p95_ms": result["p95_ms"], "repeats": repeats,
            "samples_ms": result["samples_ms"], "peak_mem_mb": max(0.0, memory["peak_rss_mb"] - before_mb)}


def precision_probe(model, tokenizer, texts: Sequence[str], *, seq_len: int = 128, threads: int = 1,
                    repeats: int = 3, dtypes: Sequence[str] = ("float32", "bfloat16", "float16")) -> pd.DataFrame:
    """Batch-1 latency of the model cast to each dtype, and the largest logit change vs float32.

    A cheap look at mixed precision on this machine: CPUs without AMX/AVX512-BF16 emulate bf16 and
    run it several times slower than fp32, which this shows rather than assumes.

    Returns
    -------
    pandas.DataFrame
        ``dtype``, ``native`` (hardware support), ``p50_ms``, ``slowdown`` (vs float32),
        ``max_abs_logit_diff``, ``status``, ``reason``.
    """
    import torch

    from workbench.evaluation import measure_latency

    feeds = latency_feeds(tokenizer, texts, batch_size=1, seq_len=seq_len)
    tensors = torch_feeds(feeds, model_device(model))  # where the model is (a GPU after fine-tuning there)
    rows, reference = [], None
    for name in dtypes:
        dtype = getattr(torch, name)
        native = {"float32": True, "bfloat16": hardware.cpu_has_native_bf16(),
                  "float16": hardware.cuda_available()}.get(name, False)
        row = {"dtype": name, "native": native}
        try:
            cast = copy.deepcopy(model).to(dtype).eval()
            with torch.inference_mode():
                logits = cast(**tensors).logits.float().cpu().numpy()
                stats = measure_latency(lambda: cast(**tensors), warmup=1, repeats=repeats, threads=threads)
            reference = logits if reference is None else reference
            row.update(p50_ms=stats["p50_ms"], max_abs_logit_diff=float(np.abs(logits - reference).max()), status="ok",
                       reason="")
        except Exception as error:
            row.update(status="failed", reason=f"{type(error).__name__}: {first_line(error)[:200]}")
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["dtype", "native", "p50_ms", "max_abs_logit_diff", "status", "reason"])
    base = frame.loc[frame.dtype == "float32", "p50_ms"]
    frame.insert(3, "slowdown", frame["p50_ms"] / (base.iloc[0] if len(base) else np.nan))
    return frame
