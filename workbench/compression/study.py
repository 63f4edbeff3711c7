"""The notebook's steps as one-line calls: the baseline, the splits, the configuration and the summary.

``05_compression.ipynb`` reads top to bottom as ``settings -> compression_baseline -> compression_splits ->
build_variants -> score_variants -> measure_variants -> compression_table -> decide_compression ->
compression_findings -> compression_summary``; the helpers here turn the profile's settings into
each call's arguments, so the notebook holds calls and plots only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from workbench.compression.baseline import default_cache_dir, finetune_baseline
from workbench.compression.config import CompressionConfig, Variant
from workbench.hardware import usable_cores
from workbench.verdicts.findings import _md

__all__ = ["built_variants_frame", "compression_baseline", "compression_config", "compression_setup_markdown",
           "compression_splits", "latency_grid", "scoring_options"]


def compression_baseline(data, settings: Mapping[str, Any], *, seed: int = 0, use_cache: bool = True) -> dict[str, Any]:
    """:func:`~workbench.compression.finetune_baseline` with the profile's settings (cached when both
    ``use_cache`` and the profile's ``cache`` say so)."""
    return finetune_baseline(data, model=settings["model"], train_examples=settings["finetune_examples"],
                             validation_examples=settings["validation_examples"], epochs=settings["finetune_epochs"],
                             max_length=settings["max_length"], learning_rate=settings["learning_rate"], seed=seed,
                             cache_dir=default_cache_dir() if use_cache and settings["cache"] else None,
                             num_threads=settings["num_threads"])


def compression_splits(data, settings: Mapping[str, Any], *, seed: int = 0) -> dict[str, Any]:
    """``build`` (train subsample + validation, what the variants are built from, and ``transfer``: every
    training text, what the student is distilled on), ``validation`` (chooses) and ``test`` (reports), each
    subsampled, stratified and seeded, as the profile says (0: all).

    The transfer set is the whole training split even when the baseline saw a subsample: with ``alpha = 1``
    the student learns the teacher's outputs on those texts, never their labels (the hard-label control
    does use them: it is the same student trained on labels instead of the teacher).

    >>> import datasets
    >>> rows = datasets.Dataset.from_dict({"text": ["a", "b"] * 10, "label": [0, 1] * 10})
    >>> data = datasets.DatasetDict(train=rows, validation=rows, test=rows)
    >>> s = compression_splits(data, {"finetune_examples": 4, "selection_examples": 0, "eval_examples": 6})
    >>> len(s["build"]["train"]), len(s["build"]["transfer"]), len(s["validation"]), len(s["test"])
    (4, 20, 20, 6)
    """
    from workbench.data import subsample

    build = subsample(data, split="train", n=settings["finetune_examples"], seed=seed)
    build["transfer"] = data["train"]
    return {"build": build,
            "validation": subsample(data, split="validation", n=settings["selection_examples"], seed=seed)["validation"],
            "test": subsample(data, split="test", n=settings["eval_examples"], seed=seed)["test"]}


def compression_config(settings: Mapping[str, Any], *, temperature: float = 2.0, alpha: float = 0.5,
                       seed: int = 0) -> CompressionConfig:
    """The :class:`~workbench.compression.CompressionConfig` a profile describes.

    >>> from workbench.profiles import profile_settings
    >>> compression_config(profile_settings("compression", "smoke")).max_length
    32
    """
    return CompressionConfig(max_length=settings["max_length"], calibration_size=settings["calibration_size"],
                             importance_examples=settings["importance_examples"], student=settings["student"],
                             temperature=temperature, alpha=alpha, distill_epochs=settings["distill_epochs"],
                             distill_examples=settings["distill_examples"], qat_steps=settings["qat_steps"],
                             recovery_steps=settings["recovery_steps"], num_threads=settings["num_threads"], seed=seed)


def built_variants_frame(built: Mapping[str, Variant]) -> pd.DataFrame:
    """One row per built variant: ``variant, method, status, size_mb, build_s, note`` (the reason when it failed)."""
    return pd.DataFrame([{"variant": v.name, "method": v.method, "status": v.status, "size_mb": v.size_mb,
                          "build_s": v.build_seconds, "note": v.note or v.reason} for v in built.values()],
                        columns=["variant", "method", "status", "size_mb", "build_s", "note"])


def compression_setup_markdown(data, settings: Mapping[str, Any], base: Mapping[str, Any], splits: Mapping[str, Any],
                               *, threads: int | None = None) -> str:
    """One escaped line: source, classes, baseline, where it came from, split sizes and thread counts.

    ``data`` is the loaded DatasetDict (or its :func:`workbench.dataset_info`); ``threads`` defaults
    to the usable cores.

    >>> compression_setup_markdown({"source": "<x>", "num_labels": 2}, {"model": "tiny", "finetune_examples": 0},
    ...     {"cached": True, "seconds": 1.0}, {"validation": [0] * 3, "test": [0] * 5}, threads=2)[:25]
    '**Source** &lt;x&gt; · **'
    """
    from workbench.data import dataset_info

    info = data if isinstance(data, Mapping) and "source" in data else dataset_info(data)
    threads = threads or usable_cores()
    origin = "reused from the cache" if base["cached"] else "fine-tuned now"
    return (f"**Source** {_md(info['source'])} · **classes** {info['num_labels']} · **baseline** "
            f"{_md(settings['model'])} fine-tuned on {settings['finetune_examples'] or 'all'} examples "
            f"({origin}, {base['seconds']:.0f} s) · **student distilled on** "
            f"{settings.get('distill_examples') or 'all'} training texts · "
            f"**chosen on** {len(splits['validation'])} validation examples · "
            f"**reported on** {len(splits['test'])} test examples · **threads** 1 and {threads}")


def scoring_options(settings: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`~workbench.compression.score_variants` keywords a profile sets.

    >>> from workbench.profiles import profile_settings
    >>> scoring_options(profile_settings("compression", "smoke"))
    {'max_length': 32, 'n_resamples': 200, 'threads': 1}
    """
    return {"max_length": settings["max_length"], "n_resamples": settings["n_resamples"],
            "threads": settings["num_threads"]}


def latency_grid(settings: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`~workbench.compression.measure_variants` keywords a profile sets (batch 1 and 32).

    >>> from workbench.profiles import profile_settings
    >>> latency_grid(profile_settings("compression", "smoke"))["seq_lens"]
    (16, 32)
    """
    return {"batch_sizes": (1, 32), "seq_lens": settings["seq_lens"], "threads": settings["latency_threads"],
            "warmup": 1, "repeats": settings["latency_repeats"], "rounds": settings["latency_rounds"],
            "large_batch_repeats": settings["large_batch_repeats"],
            "large_batch_threads": settings["large_batch_threads"]}
