"""Augmenting texts, seeded per text and on several processes (:func:`augment`)."""

from __future__ import annotations

import contextlib
import copy
import math
import multiprocessing
import os
import random
import sys
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench._progress import progress_bar
from workbench._validation import check_choice, check_float, check_int, check_type
from workbench.augmentation.recipes import (
    MODEL_RECIPES,
    RECIPES,
    _build,
    _model_spec,
    make_augmenter,
)
from workbench.augmentation.resources import _own_file_handles
from workbench.errors import DataError, ParameterError, first_line

AUGMENT_COLUMNS: tuple[str, ...] = ("text_id", "variant", "recipe", "alpha", "source", "augmented", "status",
                                    "reason")
_MIN_VARIANTS_PER_PROCESS = 200  # below this many variants per worker, a process costs more than it saves
_FUNC = "augment"


@dataclass(frozen=True)
class _Job:
    """What a worker needs to rebuild the augmenter (cached per process) and seed each text."""

    recipe: str
    alpha: float
    model: str | None
    nltk_data: str | None
    vectors: str | None
    n_aug: int
    seed: int


_MASK64 = (1 << 64) - 1


def _text_seed(seed: int, text_id: int) -> int:
    """A 32-bit seed for one text, a function of (seed, text_id) only.

    SplitMix64's output function (Steele et al. 2014) scrambles ``seed * 2**32 + text_id``; it is a
    bijection on 64 bits, so nearby pairs get unrelated seeds. 0.5 us, against 9 us for numpy's
    SeedSequence, which mattered next to a 0.5 ms augmentation.

    >>> _text_seed(0, 1) != _text_seed(1, 0)
    True
    """
    z = ((seed << 32) + text_id + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) & 0xFFFFFFFF


@contextlib.contextmanager
def _private_random_state(with_torch: bool):
    """Leave the caller's random, numpy (and torch) global states as they were."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        if with_torch:
            import torch

            with torch.random.fork_rng(devices=[]):
                yield
        else:
            yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def _seeded_batch(augmenter, seeds: list[int], texts: Sequence[str], n_aug: int) -> list[list[str]] | None:
    """The variants of ``texts`` from one nlpaug batch call, the random states reseeded per text.

    nlpaug's ``augment(list)`` calls the augmenter's action method (``substitute``, ``swap``, ...) once
    per text; a shallow copy of the augmenter whose action reseeds ``random`` and numpy before each
    text's first variant gives exactly what ``augment(text, n=n_aug)`` per text gives, without nlpaug's
    per-call overhead (about 2.5% of a synonym run). For the character and word augmenters only: the
    model ones (which the caller keeps out) batch the whole list in one call. ``None`` when the
    augmenter is not such an nlpaug augmenter (the EDA composite, alpha 0) or the batch fails, and the
    caller then goes text by text, which reports failures per text.
    """
    from nlpaug.augmenter.char import CharAugmenter
    from nlpaug.augmenter.word import WordAugmenter

    action = getattr(augmenter, "action", None)
    if not isinstance(augmenter, (CharAugmenter, WordAugmenter)) or not callable(getattr(augmenter, str(action), None)):
        return None
    inner = getattr(augmenter, action)
    reseed = iter([seed if k == 0 else None for seed in seeds for k in range(n_aug)])

    def seeded_action(data):
        seed = next(reseed)
        if seed is not None:
            random.seed(seed)
            np.random.seed(seed)
        return inner(data)

    clone = copy.copy(augmenter)  # shares the dictionaries and caches; the cached original stays as it was
    setattr(clone, action, seeded_action)
    expanded = [text for text in texts for _ in range(n_aug)]
    try:
        variants = clone.augment(expanded)
    except Exception:  # noqa: BLE001 - redone text by text, where the failing text is named
        return None
    if not isinstance(variants, list) or len(variants) != len(expanded) or any(v is None for v in variants):
        return None
    return [[str(v) for v in variants[i:i + n_aug]] for i in range(0, len(variants), n_aug)]


def _augment_chunk(job: _Job, text_ids: Sequence[int], texts: Sequence[str]) -> list[tuple[list[str], str | None]]:
    """Variants of each text, each under its own seed; a text that fails keeps its source and says why."""
    augmenter = _build(job.recipe, job.alpha, job.model, job.nltk_data, job.vectors)
    with_torch = job.recipe in MODEL_RECIPES
    out = []
    with _private_random_state(with_torch):
        if not with_torch:
            batch = _seeded_batch(augmenter, [_text_seed(job.seed, int(i)) for i in text_ids], texts, job.n_aug)
            if batch is not None:
                return [(variants, None) for variants in batch]
        for text_id, text in zip(text_ids, texts):
            text_seed = _text_seed(job.seed, int(text_id))
            random.seed(text_seed)
            np.random.seed(text_seed)
            if with_torch:
                import torch

                torch.manual_seed(text_seed)
            try:
                variants = [str(v) for v in augmenter.augment(text, n=job.n_aug)][:job.n_aug]
                out.append((variants + [text] * (job.n_aug - len(variants)), None))
            except Exception as exc:  # one odd text must not sink the batch: it is reported instead
                out.append(([text] * job.n_aug, f"{type(exc).__name__}: {first_line(exc)}"))
    return out


def _start_method() -> str:
    # fork shares the loaded WordNet/GloVe with the workers at no cost; elsewhere spawn rebuilds them.
    return "fork" if sys.platform.startswith("linux") else "spawn"


_SHARED_POOL: dict[int, ProcessPoolExecutor] = {}  # n_jobs -> pool, while a _shared_workers block runs


@contextlib.contextmanager
def _shared_workers(n_jobs: int):
    """Let the augment calls inside this block reuse one pool of workers (yielded; None for one process),
    whose look-up caches stay warm: a new pool starts from the parent's caches, which the workers filled
    only in their own memory."""
    if n_jobs <= 1 or n_jobs in _SHARED_POOL:
        yield _SHARED_POOL.get(n_jobs)
        return
    pool = ProcessPoolExecutor(max_workers=n_jobs, mp_context=multiprocessing.get_context(_start_method()),
                               initializer=_own_file_handles)
    _SHARED_POOL[n_jobs] = pool
    try:
        yield pool
    finally:
        del _SHARED_POOL[n_jobs]
        pool.shutdown()


def _chunk_bounds(n_texts: int, n_jobs: int, chunk_size: int | None) -> list[tuple[int, int]]:
    """``(start, stop)`` of each task. A given ``chunk_size`` (or one process: 64) gives equal chunks;
    otherwise guided self-scheduling (Polychronopoulos & Kuck 1987): each task takes ``1 / (2 * n_jobs)``
    of the texts still unassigned, 16 to 256 of them, so the tasks shrink towards the end and the
    workers finish together instead of one waiting out the other's last large chunk (measured on 2,000
    reviews with EDA: the idle tail fell from 0.13 s to 0.01 s on average, about 6% of the run).

    >>> _chunk_bounds(10, 1, 4)
    [(0, 4), (4, 8), (8, 10)]
    >>> [b - a for a, b in _chunk_bounds(1000, 2, None)]
    [250, 188, 141, 106, 79, 59, 45, 33, 25, 19, 16, 16, 16, 7]
    """
    bounds, start = [], 0
    while start < n_texts:
        size = chunk_size or (64 if n_jobs == 1 else min(256, max(16, math.ceil((n_texts - start) / (2 * n_jobs)))))
        bounds.append((start, min(n_texts, start + size)))
        start += size
    return bounds


def _run_jobs(job: _Job, text_ids: list[int], texts: list[str], *, n_jobs: int, bounds: list[tuple[int, int]],
              progress: bool) -> list[tuple[list[str], str | None]]:
    results: list[list[tuple[list[str], str | None]]] = [[] for _ in bounds]
    bar = progress_bar(total=len(texts), desc=f"augment {job.recipe}", unit="text", disable=not progress)
    try:
        if n_jobs == 1:
            for i, (start, stop) in enumerate(bounds):
                results[i] = _augment_chunk(job, text_ids[start:stop], texts[start:stop])
                bar.update(len(results[i]))
        else:
            with contextlib.ExitStack() as stack:
                pool = _SHARED_POOL.get(n_jobs) or stack.enter_context(ProcessPoolExecutor(
                    max_workers=n_jobs, mp_context=multiprocessing.get_context(_start_method()),
                    initializer=_own_file_handles))
                futures = {pool.submit(_augment_chunk, job, text_ids[start:stop], texts[start:stop]): i
                           for i, (start, stop) in enumerate(bounds)}
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    bar.update(len(results[futures[future]]))
    finally:
        bar.close()
    return [item for chunk in results for item in chunk]


def _check_texts(texts: Any, func: str) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise ParameterError(f"The 'texts' parameter of {func} must be a list of strings. Got "
                             f"{type(texts).__name__} instead. Wrap a single text in a list: [text].")
    texts = list(texts)
    if not texts:
        raise DataError(f"The 'texts' parameter of {func} must hold at least one text. Got an empty list instead.")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"The 'texts' parameter of {func} must hold non-empty strings. Got {text!r} at index "
                            f"{i} instead. Fix: drop empty texts before augmenting.")
    return texts


def _check_n_jobs(n_jobs: int, func: str) -> int:
    check_int("n_jobs", n_jobs, func, low=-1, fix="Use 1 for one process, -1 for one per CPU core.")
    if n_jobs == 0:
        raise ParameterError(f"The 'n_jobs' parameter of {func} must be -1 or an int >= 1. Got 0 instead.")
    return (os.cpu_count() or 1) if n_jobs == -1 else n_jobs


def augment(texts: Sequence[str], recipe: str = "eda", *, alpha: float = 0.1, n_aug: int = 1, seed: int = 0,
            n_jobs: int = 1, text_ids: Sequence[int] | None = None, chunk_size: int | None = None,
            progress: bool = True, model: str | None = None, nltk_data: str | os.PathLike | None = None,
            vectors: str | os.PathLike | None = None) -> pd.DataFrame:
    """Augment ``texts`` with ``recipe``: ``n_aug`` variants each, seeded, on ``n_jobs`` processes.

    nlpaug does the augmenting (see :func:`make_augmenter`). Text ``i`` is augmented under a seed
    derived from ``(seed, text_ids[i])`` alone, so the variants of a text do not depend on the other
    texts, the chunking or the number of processes; the caller's global random states are restored.
    Processes are forked (Linux), so the loaded dictionaries are shared; ``n_jobs`` applies to the
    rule and dictionary recipes, while model recipes run in this process, where torch's threads
    already use the cores. Jobs of fewer than 200 variants per process stay in this process.

    Parameters
    ----------
    texts : sequence of str
        Non-empty texts.
    recipe : str
        One of :data:`RECIPES`.
    alpha : float
        Fraction of words changed, in [0, 1] (see :func:`make_augmenter`).
    n_aug : int
        Variants per text, >= 1.
    seed : int
        Same seed, same variants.
    n_jobs : int
        Processes; -1 for one per core.
    text_ids : sequence of int, optional
        Stable ids that seed each text (default ``0..n-1``); lets a subset reproduce the variants
        its texts get inside a larger set.
    chunk_size : int, optional
        Texts per task; default 64 on one process, and on several, tasks that shrink towards the end
        (16 to 256 texts) so the processes finish together.
    progress : bool
        Show a progress bar.
    model, nltk_data, vectors
        Resources, as in :func:`make_augmenter`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`AUGMENT_COLUMNS`, one row per text and variant. ``status`` is ``"ok"``, or
        ``"failed"`` with the ``reason`` (the variant is then the source text).

    Examples
    --------
    >>> a = augment(["good tea with honey"], "char_swap", alpha=0.5, seed=1, progress=False)
    >>> b = augment(["good tea with honey"], "char_swap", alpha=0.5, seed=1, progress=False)
    >>> a.augmented.tolist() == b.augmented.tolist()
    True
    """
    texts = _check_texts(texts, _FUNC)
    check_type("recipe", recipe, _FUNC, str)
    check_choice("recipe", recipe, _FUNC, RECIPES)
    model = _model_spec(model, _FUNC)
    check_float("alpha", alpha, _FUNC, low=0.0, high=1.0, fix="alpha is the fraction of words changed; "
                                                                "EDA uses 0.05 to 0.3.")
    check_int("n_aug", n_aug, _FUNC, low=1, fix="Ask for at least one variant per text.")
    check_int("seed", seed, _FUNC, low=0)
    n_jobs = _check_n_jobs(n_jobs, _FUNC)
    ids = list(range(len(texts))) if text_ids is None else [int(i) for i in text_ids]
    if len(ids) != len(texts):
        raise ParameterError(f"The 'text_ids' parameter of {_FUNC} must have one id per text ({len(texts)}). "
                             f"Got {len(ids)} instead.")
    if recipe in MODEL_RECIPES and n_jobs > 1:
        warnings.warn(f"augment: the {recipe!r} recipe runs in one process (torch uses the cores); "
                      f"n_jobs={n_jobs} is ignored.", stacklevel=2)
        n_jobs = 1
    # Starting a worker costs more than a few hundred short augmentations: small jobs stay in-process.
    n_jobs = max(1, min(n_jobs, len(texts) * n_aug // _MIN_VARIANTS_PER_PROCESS))
    if chunk_size is not None:
        check_int("chunk_size", chunk_size, _FUNC, low=1)
    bounds = _chunk_bounds(len(texts), n_jobs, chunk_size)
    make_augmenter(recipe, alpha=alpha, model=model, nltk_data=nltk_data, vectors=vectors)  # build and check here
    job = _Job(recipe, float(alpha), model, None if nltk_data is None else str(nltk_data),
               None if vectors is None else str(vectors), n_aug, seed)
    results = _run_jobs(job, ids, texts, n_jobs=min(n_jobs, len(bounds)), bounds=bounds, progress=progress)
    rows = [(text_id, k, recipe, float(alpha), text, variant, "ok" if reason is None else "failed", reason)
            for text_id, text, (variants, reason) in zip(ids, texts, results) for k, variant in enumerate(variants)]
    return pd.DataFrame(rows, columns=list(AUGMENT_COLUMNS))


def variant_kinds(frame: pd.DataFrame) -> list[str]:
    """Each variant of an :func:`augment` frame as ``changed``, ``unchanged`` (equal to its source but
    for spacing), ``repeated`` (equal to an earlier variant of the same source) or ``failed``.

    >>> frame = pd.DataFrame({"text_id": [0, 0, 0, 1], "source": ["a b", "a b", "a b", "c"],
    ...                       "augmented": ["b a", "a  b", "b a", "c"], "status": ["ok", "ok", "ok", "failed"]})
    >>> variant_kinds(frame)
    ['changed', 'unchanged', 'repeated', 'failed']
    """
    kinds, seen = [], set()
    for text_id, source, variant, status in zip(frame["text_id"], frame["source"], frame["augmented"],
                                                frame["status"]):
        norm = " ".join(str(variant).split())
        if status != "ok":
            kinds.append("failed")
        elif norm == " ".join(str(source).split()):
            kinds.append("unchanged")
        elif (text_id, norm) in seen:
            kinds.append("repeated")
        else:
            kinds.append("changed")
        seen.add((text_id, norm))
    return kinds
