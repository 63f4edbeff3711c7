"""Variant names, the build configuration and the per-variant record."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench._validation import check_float, check_int, check_type
from workbench.errors import ParameterError, WorkbenchError

#: Every fixed variant name and what it does. ``pruned_magnitude_<pct>`` / ``pruned_heads_<pct>``
#: accept any percentage in [1, 99] besides the ones listed.
VARIANTS: dict[str, str] = {
    "fp32_eager": "PyTorch eager, float32: the baseline every ratio is taken against",
    "bf16_eager": "PyTorch eager with weights and activations cast to bfloat16 (built where bf16 is native)",
    "bf16_autocast": "PyTorch eager fp32 weights run under torch.autocast(bfloat16) (built where bf16 is native)",
    "fp16_eager": "PyTorch eager with weights and activations cast to float16",
    "ort_fp32_basic": "ONNX export, ONNX Runtime float32 with basic graph optimizations",
    "ort_fp32_extended": "ONNX export, ONNX Runtime float32 with extended graph optimizations",
    "ort_fp32_all": "ONNX export, ONNX Runtime float32 with all graph optimizations",
    "ort_fp32_fused": "ONNX export + transformer fusion (attention, LayerNorm, GELU), ONNX Runtime float32",
    "ort_int8_dynamic_per_tensor": "ONNX Runtime dynamic int8: one scale per weight tensor, full 8-bit range "
                                   "(built where the CPU has VNNI)",
    "ort_int8_dynamic_per_channel": "ONNX Runtime dynamic int8: per-channel weight scales, reduce_range",
    "ort_int8_dynamic_fused": "optimise then quantise: transformer fusion, then dynamic int8 per channel, reduce_range "
                              "(fused int8 attention, QAttention)",
    "ort_int8_dynamic_fused_full": "as ort_int8_dynamic_fused with the full 8-bit weight range (built where the CPU "
                                   "has VNNI)",
    "ort_int8_dynamic_mixed": "dynamic int8 per channel, reduce_range, with the MatMuls most hurt by quantisation "
                              "kept in fp32 until the lower 95% bound of delta on train texts is within tolerance",
    "ort_int8_static_minmax": "ONNX Runtime static int8 (QDQ), activations calibrated by MinMax",
    "ort_int8_static_entropy": "ONNX Runtime static int8 (QDQ), activations calibrated by Entropy (KL)",
    "ort_int8_static_percentile": "ONNX Runtime static int8 (QDQ), activations calibrated by Percentile",
    "torch_int8_dynamic": "torch.ao dynamic int8 Linear layers (torch.ao.quantization is deprecated upstream)",
    "pruned_magnitude_30": "30% of encoder Linear weights zeroed by global magnitude (dense storage)",
    "pruned_magnitude_50": "50% of encoder Linear weights zeroed by global magnitude (dense storage)",
    "pruned_magnitude_70": "70% of encoder Linear weights zeroed by global magnitude (dense storage)",
    "pruned_heads_25": "25% of attention heads removed, least important first (gradient importance)",
    "pruned_heads_50": "50% of attention heads removed, least important first (gradient importance)",
    "distilled_student": "small student trained on the teacher's softened logits and the labels",
    "distilled_hard_labels": "distilled_student's control: the same student, budget and seed, trained on labels only",
    "distilled_int8": "pipeline: distilled_student, then ONNX Runtime dynamic int8 per channel (reduce_range)",
    "pruned_heads_int8": "pipeline: 25% of attention heads pruned, then ONNX Runtime dynamic int8 per channel",
    "qat_int8": "weight fake-quantization on ORT's int8 grid during a short fine-tune, then ONNX Runtime dynamic int8",
    "qat_control_int8": "qat_int8's control: the same extra fine-tune steps in fp32, then the same dynamic int8",
}
_PATTERNS = {"pruned_magnitude": re.compile(r"^pruned_magnitude_(\d{1,2})$"),
             "pruned_heads": re.compile(r"^pruned_heads_(\d{1,2})$")}
_STATIC_METHODS = {"ort_int8_static_minmax": "MinMax", "ort_int8_static_entropy": "Entropy",
                   "ort_int8_static_percentile": "Percentile"}
_ORT_LEVELS = {"ort_fp32_basic": "ORT_ENABLE_BASIC", "ort_fp32_extended": "ORT_ENABLE_EXTENDED",
               "ort_fp32_all": "ORT_ENABLE_ALL", "ort_fp32_fused": "ORT_ENABLE_ALL"}
BASELINE = "fp32_eager"

QUALITY_COLUMNS = ["variant", "method", "status", "reason", "note", "n", "accuracy", "accuracy_ci_low",
                   "accuracy_ci_high", "macro_f1", "delta_accuracy", "delta_ci_low", "delta_ci_high",
                   "delta_p_value", "agreement", "size_mb", "parameters", "build_seconds", "split"]
LATENCY_COLUMNS = ["variant", "batch_size", "seq_len", "threads", "p50_ms", "p95_ms", "throughput_per_s",
                   "peak_mem_mb", "repeats", "status", "reason"]
TABLE_COLUMNS = ["variant", "method", "status", "reason", "note", "accuracy", "macro_f1", "delta_accuracy",
                 "delta_ci_low", "delta_ci_high", "agreement", "latency_ms_p50_b1", "latency_ms_p95_b1",
                 "speedup_b1", "throughput_b32", "size_mb", "size_ratio", "peak_mem_mb", "seq_len",
                 "threads_b1", "threads_b32"]
SUMMARY_KEYS = ("accuracy", "macro_f1", "delta_accuracy", "latency_ms_p50_b1", "latency_ms_p95_b1", "size_ratio",
                "throughput_b32", "size_mb", "speedup_b1")


class ExportError(WorkbenchError, ValueError):
    """A model cannot be exported to ONNX (an operator without an ONNX equivalent, a bad forward, ...)."""


# --------------------------------------------------------------------------------------------
# Configuration and the variant record


@dataclass(frozen=True)
class CompressionConfig:
    """Knobs of the variants that need more than a name.

    Parameters
    ----------
    max_length : int
        Tokens per text for evaluation, calibration and training.
    calibration_size : int
        Texts fed through the graph to calibrate static int8 activations.
    calibration_batch_size : int
        Texts per calibration batch (padded to ``max_length``, as histogram calibration needs).
    importance_examples : int
        Labelled texts whose loss gradients rank attention heads.
    student : str
        ``"layers:N"`` keeps N evenly spaced teacher layers (DistilBERT-style initialisation), or a
        ``"tiny:..."`` spec (random initialisation, see :func:`workbench.models.parse_tiny_spec`).
    temperature, alpha : float
        Distillation temperature and the weight of the soft (teacher) loss; ``1 - alpha`` weighs the
        hard-label loss (Hinton et al. 2015).
    distill_epochs, distill_learning_rate : float
        Student training length and peak learning rate.
    distill_examples : int
        Training texts the student sees (0: all given).
    recovery_steps : int
        Fine-tuning steps after magnitude pruning, masks kept (0: none).
    qat_steps : int
        Fine-tuning steps with fake-quantized weights for ``qat_int8`` (and fp32 ones for its control).
    mixed_examples, mixed_tolerance, mixed_max_excluded
        ``ort_int8_dynamic_mixed``: train texts its search scores, the lower bound of Δaccuracy it
        accepts, and the most MatMul nodes it may keep in fp32.
    learning_rate : float
        Peak learning rate of the recovery and QAT fine-tunes.
    batch_size : int
        Training and evaluation batch size.
    num_threads : int
        Torch threads for the training and gradient steps (0: all usable cores). One thread is much
        faster for tiny models when other processes share the cores.
    seed : int
        Seeds calibration picks, training and student initialisation.

    Examples
    --------
    >>> CompressionConfig(calibration_size=32).calibration_size
    32
    """

    max_length: int = 128
    calibration_size: int = 64
    calibration_batch_size: int = 8
    importance_examples: int = 64
    student: str = "layers:2"
    temperature: float = 2.0
    alpha: float = 0.5
    distill_epochs: float = 1.0
    distill_learning_rate: float = 3e-4
    distill_examples: int = 0
    recovery_steps: int = 0
    qat_steps: int = 20
    mixed_examples: int = 200
    mixed_tolerance: float = 0.01
    mixed_max_excluded: int = 8
    learning_rate: float = 2e-5
    batch_size: int = 16
    num_threads: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        f = "CompressionConfig"
        check_int("max_length", self.max_length, f, low=8, high=8192)
        check_int("calibration_size", self.calibration_size, f, low=1)
        check_int("calibration_batch_size", self.calibration_batch_size, f, low=1)
        check_int("importance_examples", self.importance_examples, f, low=1)
        check_type("student", self.student, f, str)
        if not re.fullmatch(r"layers:\d+|tiny(:.*)?", self.student):
            raise ParameterError(f"The 'student' parameter of {f} must be 'layers:N' or 'tiny:key=value,...'. "
                                 f"Got {self.student!r} instead.")
        check_float("temperature", self.temperature, f, low=0.0, low_open=True, high=100.0)
        check_float("alpha", self.alpha, f, low=0.0, high=1.0)
        check_float("distill_epochs", self.distill_epochs, f, low=0.0, low_open=True)
        check_float("distill_learning_rate", self.distill_learning_rate, f, low=0.0, low_open=True, high=1.0)
        check_int("distill_examples", self.distill_examples, f, low=0, fix="Use 0 for all training texts.")
        check_int("recovery_steps", self.recovery_steps, f, low=0)
        check_int("qat_steps", self.qat_steps, f, low=1)
        check_int("mixed_examples", self.mixed_examples, f, low=1)
        check_float("mixed_tolerance", self.mixed_tolerance, f, low=0.0, high=1.0, high_open=True)
        check_int("mixed_max_excluded", self.mixed_max_excluded, f, low=0)
        check_float("learning_rate", self.learning_rate, f, low=0.0, low_open=True, high=1.0)
        check_int("batch_size", self.batch_size, f, low=1)
        check_int("num_threads", self.num_threads, f, low=0, fix="Use 0 for all usable cores.")
        check_int("seed", self.seed, f, low=0)


@dataclass
class Variant:
    """One compressed model: how to run it, what it weighs, and whether building it worked.

    ``runner(threads, fresh=False)`` returns ``predict(feeds) -> logits`` where ``feeds`` maps input
    names to int64 arrays; ONNX Runtime needs one session per thread count (cached, or a new one with
    ``fresh=True``), torch takes its threads from :func:`workbench.evaluation.measure_latency`. A variant that could not be built has
    ``status="failed"`` and a one-line ``reason``, and no runner.
    """

    name: str
    method: str
    status: str = "ok"
    reason: str = ""
    note: str = ""
    size_mb: float = float("nan")
    parameters: int | None = None
    build_seconds: float = float("nan")
    runner: Callable[[int], Callable[[dict[str, np.ndarray]], np.ndarray]] | None = None
    model: Any = None
    path: Path | None = None
    details: dict[str, Any] = field(default_factory=dict)


def check_variant_names(names: Iterable[str], func: str) -> list[str]:
    """Return ``names`` as a list if every one is a known variant, else raise naming the bad one."""
    names = list(names)
    if not names:
        raise ParameterError(f"The 'variants' parameter of {func} must name at least one variant. Got [] instead.")
    for name in names:
        check_type("variants", name, func, str)
        match = next((p.match(name) for p in _PATTERNS.values() if p.match(name)), None)
        if name not in VARIANTS and not (match and 1 <= int(match.group(1)) <= 99):
            raise ParameterError(
                f"The 'variants' parameter of {func} must hold names from workbench.compression.VARIANTS "
                f"({', '.join(VARIANTS)}) or pruned_magnitude_<1-99> / pruned_heads_<1-99>. "
                f"Got {name!r} instead.")
    if len(set(names)) != len(names):
        raise ParameterError(f"The 'variants' parameter of {func} must not repeat a name. Got {names} instead.")
    return names


def variant_sort_key(name: str) -> tuple[int, int, str]:
    """Where a variant stands in every table: the baseline first, then :data:`VARIANTS` order
    (``pruned_*_<pct>`` beside their family, by percentage), unknown names last by name.

    >>> sorted(["pruned_heads_50", "ort_fp32_all", "pruned_heads_25", "fp32_eager"], key=variant_sort_key)
    ['fp32_eager', 'ort_fp32_all', 'pruned_heads_25', 'pruned_heads_50']
    """
    order = list(VARIANTS)
    if name in VARIANTS:
        return order.index(name), 0, name
    for family, pattern in _PATTERNS.items():
        match = pattern.match(name)
        if match:
            first = next(i for i, known in enumerate(order) if known.startswith(family))
            return first, int(match.group(1)), name
    return len(order), 0, name


def method_of(name: str) -> str:
    """The family a variant belongs to: precision, onnxruntime, quantization, pruning or distillation.

    >>> method_of("ort_int8_static_entropy"), method_of("pruned_heads_40")
    ('quantization', 'pruning')
    """
    if name in ("distilled_int8", "pruned_heads_int8"):
        return "pipeline"
    if name.startswith(("pruned_",)):
        return "pruning"
    if "int8" in name:
        return "quantization"
    if name.startswith("ort_"):
        return "onnxruntime"
    if name.startswith("distilled_"):
        return "distillation"
    return "precision"
