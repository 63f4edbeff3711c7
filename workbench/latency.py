"""Latency and peak memory of a call: warm-up, timed repeats, torch threads fixed, CUDA synchronised.

:func:`measure_latency` times any zero-argument call (a torch forward, an ONNX Runtime session run,
a scikit-learn predict) and reports percentiles, throughput and the peak resident memory while it ran.

>>> measure_latency(lambda: sum(range(100)), repeats=3)["repeats"]
3
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from workbench._validation import check_int
from workbench.errors import ParameterError

__all__ = ["measure_latency", "peak_memory"]

# Seconds between two memory samples: short enough to catch an allocation that lives for a few
# milliseconds, long enough that the sampling thread costs well under 1 % of a core.
_RSS_SAMPLE_INTERVAL_S = 0.001


class _PeakRssSampler:
    """Background thread that records the highest resident set size (RSS) of this process."""

    def __init__(self, interval_s: float = _RSS_SAMPLE_INTERVAL_S) -> None:
        import psutil

        self._process = psutil.Process()
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss-sampler", daemon=True)
        self.baseline = self.peak = self._process.memory_info().rss

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(self._interval_s)

    def __enter__(self) -> _PeakRssSampler:
        self._max_rss_before = _max_rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)
        # If getrusage's lifetime peak rose inside the block, that peak happened in it: it catches
        # spikes shorter than the sampling interval.
        max_rss_after = _max_rss_bytes()
        if max_rss_after > self._max_rss_before:
            self.peak = max(self.peak, max_rss_after)


@contextlib.contextmanager
def _torch_threads(threads: int | None, func: str):
    """Hold ``torch.set_num_threads(threads)`` for a block (None: keep the current setting), then restore."""
    import torch

    if threads is not None:
        check_int("threads", threads, func, low=1, fix="Pass None to keep torch's current setting.")
    previous = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)


def _check_callable(fn: Any, func: str) -> None:
    if not callable(fn):
        raise ParameterError(f"The 'fn' parameter of {func} must be callable with no arguments. "
                             f"Got {fn!r} instead. Wrap the call, e.g. lambda: model(batch).")


def _current_rss_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _max_rss_bytes() -> int:
    """The process's lifetime peak RSS from ``getrusage`` (kilobytes on Linux, bytes on macOS)."""
    try:
        import resource  # POSIX only
    except ImportError:
        return 0
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max_rss if sys.platform == "darwin" else max_rss * 1024


def _timed_call(fn: Callable[[], Any], sync: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    sync()  # a CUDA call returns before its kernels finish: wait for them inside the timed span
    return time.perf_counter() - start


def _cuda_synchronizer() -> Callable[[], None]:
    """``torch.cuda.synchronize`` once this process has used CUDA, else a no-op (CPU timings pay nothing)."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.synchronize
    return lambda: None


def measure_latency(fn: Callable[[], Any], *, warmup: int = 3, repeats: int = 20, threads: int | None = None,
                    items_per_call: int = 1, memory: bool = True) -> dict[str, Any]:
    """Time ``fn()`` after warm-up, with torch's thread count fixed, and record peak memory.

    ``time.perf_counter`` times each of ``repeats`` calls; once the process has used CUDA, each call is
    followed by ``torch.cuda.synchronize()`` inside its timed span (CUDA kernels run asynchronously),
    and the warm-up is synchronised before timing starts. ``torch.set_num_threads(threads)`` holds
    for the whole measurement and is restored afterwards. Peak RSS is sampled every millisecond by a
    psutil thread; if ``getrusage``'s lifetime peak rose during the timed calls, that peak happened
    in them, so it is used too (it catches spikes shorter than the sampling interval).

    Parameters
    ----------
    fn : callable
        Called with no arguments; one call processes ``items_per_call`` items (e.g. a batch).
    warmup, repeats : int
        Untimed calls first, then timed calls.
    threads : int, optional
        Torch intra-op threads; ``None`` keeps (and records) the current setting.
    items_per_call : int
        Items per call, for ``throughput_per_s = items_per_call / median seconds``.
    memory : bool
        Sample memory during the timed calls (the default). ``False`` times the calls with no sampler
        thread beside them (``peak_rss_mb`` is then NaN); measure memory in a separate call with
        :func:`peak_memory`, so that the sampler never competes with what is timed.

    Returns
    -------
    dict
        ``p50_ms``, ``p95_ms``, ``mean_ms``, ``min_ms``, ``throughput_per_s``, ``threads``,
        ``peak_rss_mb``, ``baseline_rss_mb`` (RSS before the timed calls), ``repeats``, ``warmup``,
        ``samples_ms`` (every timed call, in order).

    Examples
    --------
    >>> stats = measure_latency(lambda: sum(range(1000)), repeats=5)
    >>> stats["p95_ms"] >= stats["p50_ms"] > 0
    True
    """
    func = "measure_latency"
    _check_callable(fn, func)
    check_int("warmup", warmup, func, low=0)
    check_int("repeats", repeats, func, low=1, fix="Use 20 or more for a stable p95.")
    check_int("items_per_call", items_per_call, func, low=1)
    with _torch_threads(threads, func) as used_threads:
        for _ in range(warmup):
            fn()
        sync = _cuda_synchronizer()  # after the warm-up: its first call may be what initialises CUDA
        sync()
        if memory:
            with _PeakRssSampler() as sampler:
                seconds = np.array([_timed_call(fn, sync) for _ in range(repeats)])
            baseline, peak = sampler.baseline, sampler.peak
        else:
            baseline, peak = _current_rss_bytes(), float("nan")
            seconds = np.array([_timed_call(fn, sync) for _ in range(repeats)])
    median = float(np.median(seconds))
    return {
        "p50_ms": median * 1e3,
        "p95_ms": float(np.percentile(seconds, 95)) * 1e3,
        "mean_ms": float(seconds.mean()) * 1e3,
        "min_ms": float(seconds.min()) * 1e3,
        "throughput_per_s": items_per_call / median if median > 0 else float("inf"),
        "threads": used_threads,
        "peak_rss_mb": peak / 2**20,
        "baseline_rss_mb": baseline / 2**20,
        "repeats": repeats,
        "warmup": warmup,
        "samples_ms": (seconds * 1e3).tolist(),
    }


def peak_memory(fn: Callable[[], Any], *, threads: int | None = None) -> dict[str, float]:
    """Peak resident memory during one untimed call of ``fn()`` (the psutil sampler of
    :func:`measure_latency`, and ``getrusage``'s lifetime peak if it rose during the call).

    Returns ``peak_rss_mb`` and ``baseline_rss_mb`` (RSS just before the call).

    >>> stats = peak_memory(lambda: bytearray(64 * 2**20))
    >>> stats["peak_rss_mb"] >= stats["baseline_rss_mb"] > 0
    True
    """
    _check_callable(fn, "peak_memory")
    with _torch_threads(threads, "peak_memory"), _PeakRssSampler() as sampler:
        fn()
    return {"peak_rss_mb": sampler.peak / 2**20, "baseline_rss_mb": sampler.baseline / 2**20}
