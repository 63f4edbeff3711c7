"""Building every requested variant from one fine-tuned model."""

from __future__ import annotations

import atexit
import copy
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench import hardware
from workbench._progress import progress_bar
from workbench._validation import check_type
from workbench.compression.baseline import torch_threads
from workbench.compression.config import (
    _ORT_LEVELS,
    _PATTERNS,
    _STATIC_METHODS,
    BASELINE,
    CompressionConfig,
    Variant,
    check_variant_names,
    method_of,
    variant_sort_key,
)
from workbench.compression.distill import cached_student
from workbench.compression.onnx import (
    calibration_texts,
    export_onnx,
    fuse_onnx,
    quantize_onnx_dynamic,
    quantize_onnx_static,
)
from workbench.compression.pruning import (
    _apply_pruning_masks,
    head_importance,
    prune_heads,
    prune_magnitude,
    weight_sparsity,
)
from workbench.compression.qat import quantization_aware_finetune
from workbench.compression.runners import (
    _file_size_mb,
    _length_sorted_batches,
    _ort_runner,
    _saved_size_mb,
    _torch_runner,
    predict_variant,
)
from workbench.errors import DataError, ParameterError, first_line


def build_variants(model, tokenizer, variants: Sequence[str], *, data, workdir: str | os.PathLike | None = None,
                   config: CompressionConfig | None = None, cache_dir: str | os.PathLike | None = None,
                   progress: bool = True) -> dict[str, Variant]:
    """Build every requested variant of ``model``; a failure becomes a ``failed`` variant, never an exception.

    Parameters
    ----------
    model, tokenizer
        The fine-tuned classifier (its weights are never modified).
    variants : sequence of str
        Names from :data:`VARIANTS` (or ``pruned_magnitude_<pct>`` / ``pruned_heads_<pct>``);
        ``fp32_eager`` is added when missing, as every ratio needs it. The variants are built and
        returned in :func:`~workbench.compression.variant_sort_key` order (the baseline first),
        whatever order they were given in.
    data : datasets.DatasetDict
        ``train`` (recovery, QAT, calibration texts and head importance; the validation split is
        left to choose between the variants, the test split to report), ``validation`` (the
        fine-tunes' evaluation) and optionally ``transfer`` (what the student is distilled on;
        default ``train``) splits with ``text`` and ``label``.
    workdir : path, optional
        Where ONNX files and saved weights go (sizes are measured there). Default: a temporary
        folder removed when the interpreter exits (ONNX Runtime sessions for new thread counts
        are opened from these files, so they must outlive the build).
    config : CompressionConfig
    cache_dir : path, optional
        Where distilled students are kept between runs (:func:`~workbench.compression.distill.cached_student`;
        the notebook passes its cached baseline's folder). None: every run distils afresh.

    Returns
    -------
    dict
        Name -> :class:`Variant`.

    Raises
    ------
    ParameterError
        Unknown variant names, or a calibration/importance size larger than the train split,
        checked before any work starts.
    """
    func = "build_variants"
    names = check_variant_names(variants, func)
    names = sorted({BASELINE, *names}, key=variant_sort_key)
    config = config or CompressionConfig()
    check_type("config", config, func, CompressionConfig)
    for split in ("train", "validation"):
        if split not in data:
            raise DataError(f"The 'data' parameter of {func} must have a {split!r} split. Got {list(data)} instead.")
    pool = list(data["train"]["text"])
    if any(n in _STATIC_METHODS for n in names):
        calibration_texts(pool, config.calibration_size, func=func)  # fail early, before any export
    if any(n.startswith("pruned_heads") for n in names) and config.importance_examples > len(pool):
        raise ParameterError(
            f"The 'importance_examples' setting of {func} must be at most the train split's size "
            f"({len(pool)}). Got {config.importance_examples} instead. Lower it or pass more data.")
    if workdir is None:
        workdir = tempfile.mkdtemp(prefix="workbench-compression-")
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    builder = _Builder(model, tokenizer, data, workdir, config, cache_dir)
    built: dict[str, Variant] = {}
    for name in progress_bar(names, desc="variants", disable=not progress):
        start = time.perf_counter()
        try:
            with torch_threads(config.num_threads):
                variant = builder.build(name)
        except Exception as error:  # a variant that cannot be built is a result, not a crash
            variant = Variant(name=name, method=method_of(name), status="failed",
                              reason=f"{type(error).__name__}: {first_line(error)[:240]}")
        variant.build_seconds = time.perf_counter() - start
        built[name] = variant
    return built


_PER_TENSOR = "ort_int8_dynamic_per_tensor"


def _skipped(name: str, reason: str) -> Variant:
    """A variant this machine does not run, with the reason (a result, like a failure, but expected)."""
    return Variant(name=name, method=method_of(name), status="skipped", reason=reason)


class _Builder:
    """Builds variants one by one, sharing the ONNX export and head importance between them."""

    def __init__(self, model, tokenizer, data, workdir: Path, config: CompressionConfig, cache_dir=None) -> None:
        self.model, self.tokenizer, self.data = model.eval(), tokenizer, data
        self.workdir, self.config, self.cache_dir = workdir, config, cache_dir
        self._cache: dict[str, Any] = {}

    def _once(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def _onnx(self) -> Path:
        return self._once("onnx", lambda: export_onnx(self.model, self.tokenizer, self.workdir / "fp32.onnx",
                                                      max_length=self.config.max_length))

    def _torch(self, name: str, model, **extra) -> Variant:
        from workbench.models import count_parameters

        size = _saved_size_mb(model, self.workdir / name)
        return Variant(name=name, method=method_of(name), size_mb=size, runner=_torch_runner(model), model=model,
                       parameters=count_parameters(model)["total"], **extra)

    def _ort(self, name: str, path: Path, level: str = "ORT_ENABLE_ALL", **extra) -> Variant:
        runner = _ort_runner(path, level)
        runner(1)  # load once now: a graph ONNX Runtime cannot run fails here, as a build failure
        return Variant(name=name, method=method_of(name), size_mb=_file_size_mb(path), runner=runner, path=path,
                       **extra)

    def build(self, name: str) -> Variant:
        family = next(prefix for prefix in self._BUILDERS if name == prefix or name.startswith(prefix + "_"))
        return getattr(self, self._BUILDERS[family])(name)

    # Name (or name prefix) -> builder method; check_variant_names has already vetted the name.
    _BUILDERS = {"fp32_eager": "_fp32", "bf16_eager": "_cast", "bf16_autocast": "_cast", "fp16_eager": "_cast",
                 "ort_fp32": "_ort_fp32", "qat_control_int8": "_qat", "ort_int8_dynamic_mixed": "_mixed",
                 "distilled_hard_labels": "_student", "distilled_int8": "_compound", "pruned_heads_int8": "_compound",
                 "ort_int8_dynamic": "_dynamic", "ort_int8_static": "_static", "torch_int8_dynamic": "_torch_int8",
                 "pruned_magnitude": "_magnitude", "pruned_heads": "_heads", "distilled_student": "_student",
                 "qat_int8": "_qat"}

    def _fp32(self, name: str) -> Variant:
        return self._torch(name, self.model)

    def _cast(self, name: str) -> Variant:
        import torch

        dtype = torch.float16 if name == "fp16_eager" else torch.bfloat16
        native = hardware.cpu_has_native_bf16() if dtype is torch.bfloat16 else hardware.cuda_available()
        if not native:  # emulated arithmetic: slower than fp32, so only the precision probe shows it
            return _skipped(name, f"{dtype} is not native on this {'CPU' if dtype is torch.bfloat16 else 'machine'} "
                                  "(no AVX512-BF16/AMX, or no CUDA GPU): emulated, slower than fp32; see the precision "
                                  "probe")
        if name == "bf16_autocast":
            variant = self._torch(name, self.model, note="fp32 weights, bf16 matmuls under torch.autocast")
            variant.runner = _torch_runner(self.model, autocast=dtype)
            return variant
        return self._torch(name, copy.deepcopy(self.model).to(dtype))

    def _ort_fp32(self, name: str) -> Variant:
        if name != "ort_fp32_fused":
            return self._ort(name, self._onnx(), _ORT_LEVELS[name])
        path = self.workdir / "fp32_fused.onnx"
        fused = self._once("fused", lambda: fuse_onnx(self._onnx(), path, model_config=self.model.config))
        return self._ort(name, path, note="fused: " + ", ".join(f"{op} x{n}" for op, n in fused.items()))

    def _dynamic(self, name: str) -> Variant:
        full_range = name in ("ort_int8_dynamic_per_tensor", "ort_int8_dynamic_fused_full")
        if full_range and not hardware.cpu_has_vnni():
            # Without VNNI, ORT's u8 x s8 kernels saturate int16 at full range: results would change with the CPU.
            return _skipped(name, "needs VNNI for the full 8-bit weight range (this CPU has none: ONNX Runtime's "
                                  "u8s8 kernels saturate); the reduce_range variants run here")
        source = self._onnx()
        if name.startswith("ort_int8_dynamic_fused"):  # optimise, then quantise: ORT's fused int8 attention
            source = self.workdir / "fp32_fused.onnx"
            self._once("fused", lambda: fuse_onnx(self._onnx(), source, model_config=self.model.config))
        path = quantize_onnx_dynamic(source, self.workdir / f"{name}.onnx", per_channel=name != _PER_TENSOR,
                                     reduce_range=not full_range, preprocess=source == self._onnx())
        return self._ort(name, path, note="full 8-bit range" if full_range else "reduce_range (7-bit weights)")

    def _mixed(self, name: str) -> Variant:
        from workbench.compression.mixed import quantize_mixed_precision

        cfg, pool = self.config, self.data["train"]
        picks = np.random.default_rng(cfg.seed).choice(len(pool), min(cfg.mixed_examples, len(pool)), replace=False)
        rows = pool.select(sorted(picks.tolist()))
        batches = _length_sorted_batches(self.tokenizer, list(rows["text"]), max_length=cfg.max_length, batch_size=32)

        def labels_of(runner):
            return predict_variant(Variant(name=name, method="quantization", runner=runner), batches,
                                   len(rows)).argmax(axis=1)
        result = quantize_mixed_precision(self._onnx(), self.workdir / f"{name}.onnx",
                                          predict=lambda path: labels_of(_ort_runner(path)), labels=rows["label"],
                                          reference=labels_of(_torch_runner(self.model)),
                                          tolerance=cfg.mixed_tolerance, max_excluded=cfg.mixed_max_excluded,
                                          seed=cfg.seed)
        kept = result["excluded_nodes"]
        details = {key: result[key] for key in ("excluded_nodes", "tried", "accuracy_all_int8", "accuracy")}
        return self._ort(name, result["path"], details=details,
                         note=f"{len(kept)} of {len(result['ranking'])} MatMuls kept in fp32")

    def _static(self, name: str) -> Variant:
        cfg = self.config
        path = quantize_onnx_static(self._onnx(), self.workdir / f"{name}.onnx", self.tokenizer,
                                    list(self.data["train"]["text"]), method=_STATIC_METHODS[name],
                                    calibration_size=cfg.calibration_size, max_length=cfg.max_length,
                                    batch_size=cfg.calibration_batch_size, seed=cfg.seed)
        return self._ort(name, path, note=f"QDQ, {cfg.calibration_size} calibration texts")

    def _torch_int8(self, name: str) -> Variant:
        import torch

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # torch's dynamic int8 kernels are CPU-only: quantize a CPU copy of a model trained on a GPU.
            quantized = torch.ao.quantization.quantize_dynamic(copy.deepcopy(self.model).cpu(), {torch.nn.Linear},
                                                               dtype=torch.qint8)
        deprecated = any("deprecat" in str(w.message).lower() for w in caught)
        folder = self.workdir / name
        folder.mkdir(exist_ok=True)
        torch.save(quantized.state_dict(), folder / "model.bin")  # packed int8 weights; save_pretrained cannot
        return Variant(name=name, method=method_of(name), size_mb=(folder / "model.bin").stat().st_size / 1e6,
                       runner=_torch_runner(quantized), model=quantized,
                       note="torch.ao.quantization warns it is deprecated" if deprecated else "")

    def _magnitude(self, name: str) -> Variant:
        amount = int(_PATTERNS["pruned_magnitude"].match(name).group(1)) / 100
        steps = self.config.recovery_steps
        pruned = self._recover(amount) if steps else prune_magnitude(self.model, amount)
        zeros = weight_sparsity(pruned)
        note = f"sparsity {zeros:.3f}, " + (f"{steps} recovery steps" if steps else "no recovery fine-tune")
        return self._torch(name, pruned, note=note, details={"sparsity": zeros})

    def _heads(self, name: str) -> Variant:
        amount = int(_PATTERNS["pruned_heads"].match(name).group(1)) / 100
        importance = self._once("importance", self._head_importance)
        pruned, removed = prune_heads(self.model, importance, amount)
        note = f"{sum(map(len, removed.values()))} of {len(importance)} heads removed"
        return self._torch(name, pruned, note=note, details={"removed_heads": removed})

    def _distilled(self, alpha: float):
        cfg = self.config
        train = self.data["transfer"] if "transfer" in self.data else self.data["train"]
        if cfg.distill_examples:
            train = train.select(range(min(cfg.distill_examples, len(train))))
        student, cached = cached_student(self.model, self.tokenizer, train, cache_dir=self.cache_dir,
                                         student=cfg.student, temperature=cfg.temperature, alpha=alpha,
                                         epochs=cfg.distill_epochs, learning_rate=cfg.distill_learning_rate,
                                         max_length=cfg.max_length, batch_size=cfg.batch_size, seed=cfg.seed)
        return student, "; reused from the cache" if cached else ""

    def _student(self, name: str) -> Variant:
        cfg = self.config
        if name == "distilled_hard_labels":  # the control: same student, budget and seed, labels only
            control, origin = self._distilled(0.0)
            return self._torch(name, control, note=f"student {cfg.student}, labels only (alpha=0){origin}")
        student, origin = self._once("student", lambda: self._distilled(cfg.alpha))
        return self._torch(name, student,
                           note=f"student {cfg.student}, T={cfg.temperature:g}, alpha={cfg.alpha:g}{origin}")

    def _compound(self, name: str) -> Variant:
        """A pipeline: the distilled student or the 25%-head-pruned model, then dynamic int8 (per channel)."""
        cfg = self.config
        if name == "distilled_int8":
            model, _ = self._once("student", lambda: self._distilled(cfg.alpha))
        else:
            model, _ = prune_heads(self.model, self._once("importance", self._head_importance), 0.25)
        exported = export_onnx(model, self.tokenizer, self.workdir / f"{name}_fp32.onnx", max_length=cfg.max_length)
        path = quantize_onnx_dynamic(exported, self.workdir / f"{name}.onnx", per_channel=True, reduce_range=True)
        source = f"student {cfg.student}" if name == "distilled_int8" else "25% of heads pruned"
        return self._ort(name, path, note=f"{source}, then dynamic int8 per channel, reduce_range")

    def _qat(self, name: str) -> Variant:
        cfg = self.config
        control = name == "qat_control_int8"
        qat = quantization_aware_finetune(self.model, self.tokenizer, self.data, steps=cfg.qat_steps,
                                          learning_rate=cfg.learning_rate, max_length=cfg.max_length,
                                          batch_size=cfg.batch_size, seed=cfg.seed, reduce_range=True,
                                          fake_quant=not control)
        exported = export_onnx(qat, self.tokenizer, self.workdir / f"{name}_fp32.onnx", max_length=cfg.max_length)
        path = quantize_onnx_dynamic(exported, self.workdir / f"{name}.onnx", per_channel=True, reduce_range=True)
        note = f"{cfg.qat_steps} extra fp32 steps (control)" if control else f"{cfg.qat_steps} fake-quant steps"
        return self._ort(name, path, note=note + ", weights on ORT's reduce_range grid at deployment")

    def _head_importance(self) -> pd.DataFrame:
        pool = self.data["train"]
        picks = np.random.default_rng(self.config.seed).choice(len(pool), self.config.importance_examples,
                                                               replace=False)
        rows = pool.select(sorted(picks.tolist()))
        return head_importance(self.model, self.tokenizer, list(rows["text"]), list(rows["label"]),
                               max_length=self.config.max_length, batch_size=self.config.batch_size)

    def _recover(self, amount: float):
        from torch.nn.utils import prune

        from workbench.training import TrainConfig, fine_tune

        pruned = copy.deepcopy(self.model)
        targets = _apply_pruning_masks(pruned, amount)
        cfg = self.config
        fine_tune(pruned, self.tokenizer, self.data,
                  TrainConfig(learning_rate=cfg.learning_rate, max_steps=cfg.recovery_steps, max_length=cfg.max_length,
                              batch_size=cfg.batch_size, seed=cfg.seed, progress=False))
        for module, name in targets:
            prune.remove(module, name)
        return pruned.eval()
