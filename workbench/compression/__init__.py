"""Compression ablations: quantization, pruning and distillation, measured on accuracy, latency and size.

From one fine-tuned classifier, :func:`build_variants` makes compressed copies, :func:`evaluate_variants`
scores them on a test split (accuracy, macro-F1, paired-bootstrap delta vs the baseline),
:func:`measure_variants` times them at fixed batch sizes, sequence lengths and thread counts, and
:func:`compression_table` joins both into one row per variant, from which :func:`recommend_variant` picks the
fastest variant within an accuracy tolerance and :func:`plot_pareto` draws the trade-offs.

The libraries do the work: ``torch.onnx.export`` (TorchScript exporter) writes the ONNX graph,
``onnxruntime.transformers.optimizer`` fuses attention/LayerNorm/GELU, ``onnxruntime.quantization``
quantizes (dynamic, and static QDQ with MinMax / Entropy / Percentile calibration), ONNX Runtime runs
the graphs, ``torch.ao.quantization.quantize_dynamic`` gives the (deprecated upstream) torch int8 path,
``torch.nn.utils.prune`` does magnitude pruning, ``transformers.pytorch_utils.prune_linear_layer``
removes attention heads, and HF ``Trainer`` trains the distilled student and the quantization-aware
fine-tune. Latency comes from :func:`workbench.evaluation.measure_latency`.

Variant names say the method (see :data:`VARIANTS`); ``pruned_magnitude_<pct>`` and
``pruned_heads_<pct>`` take any percentage from 1 to 99.

>>> names = ["fp32_eager", "ort_int8_dynamic_per_channel"]
>>> variants = build_variants(model, tokenizer, names, data=data, workdir="work")   # doctest: +SKIP
>>> quality = evaluate_variants(variants, data["test"]["text"], data["test"]["label"])  # doctest: +SKIP
"""

from __future__ import annotations

from workbench.compression.baseline import (
                                          default_cache_dir,
                                          finetune_baseline,
                                          torch_threads,
)
from workbench.compression.build import build_variants
from workbench.compression.config import (
                                          BASELINE,
                                          LATENCY_COLUMNS,
                                          QUALITY_COLUMNS,
                                          SUMMARY_KEYS,
                                          TABLE_COLUMNS,
                                          VARIANTS,
                                          CompressionConfig,
                                          ExportError,
                                          Variant,
                                          check_variant_names,
                                          method_of,
                                          variant_sort_key,
)
from workbench.compression.decision import (
                                          COST_COLUMNS,
                                          decide_compression,
                                          decision_rows,
)
from workbench.compression.distill import distill_student
from workbench.compression.findings import (
                                          compression_facts,
                                          compression_findings,
                                          int8_hardware_note,
)
from workbench.compression.measure import (
                                          latency_feeds,
                                          measure_variants,
                                          precision_probe,
)
from workbench.compression.mixed import quantize_mixed_precision, rank_matmul_nodes
from workbench.compression.onnx import (
                                          calibration_texts,
                                          export_onnx,
                                          fuse_onnx,
                                          preprocess_onnx,
                                          quantize_onnx_dynamic,
                                          quantize_onnx_static,
)
from workbench.compression.plots import plot_decision, plot_pareto
from workbench.compression.pruning import (
                                          head_importance,
                                          prune_heads,
                                          prune_magnitude,
                                          weight_sparsity,
)
from workbench.compression.qat import ort_weight_grid, quantization_aware_finetune
from workbench.compression.quality import (
                                          VariantScores,
                                          evaluate_variants,
                                          predict_labels,
                                          score_variants,
)
from workbench.compression.report import (
                                          REFERENCE_POINTS,
                                          compare_with_references,
                                          compression_results,
                                          compression_summary,
                                          compression_table,
                                          pareto_front,
                                          recommend_variant,
)
from workbench.compression.runners import predict_variant
from workbench.compression.study import (
                                          built_variants_frame,
                                          compression_baseline,
                                          compression_config,
                                          compression_setup_markdown,
                                          compression_splits,
                                          latency_grid,
                                          scoring_options,
)
from workbench.hardware import usable_cores  # public here too: wb.usable_cores

__all__ = [
    "quantize_mixed_precision",
    "rank_matmul_nodes",
    "preprocess_onnx",
    "ort_weight_grid",
    "plot_decision",
    "compression_results",
    "latency_grid",
    "scoring_options",
    "COST_COLUMNS",
    "VariantScores",
    "built_variants_frame",
    "compression_baseline",
    "compression_config",
    "compression_facts",
    "compression_findings",
    "compression_splits",
    "decide_compression",
    "decision_rows",
    "int8_hardware_note",
    "predict_labels",
    "score_variants",
    "compression_setup_markdown",
    "variant_sort_key",
    "BASELINE",
    "LATENCY_COLUMNS",
    "QUALITY_COLUMNS",
    "SUMMARY_KEYS",
    "TABLE_COLUMNS",
    "check_variant_names",
    "method_of",
    "REFERENCE_POINTS",
    "VARIANTS",
    "build_variants",
    "calibration_texts",
    "compare_with_references",
    "compression_summary",
    "compression_table",
    "CompressionConfig",
    "default_cache_dir",
    "distill_student",
    "evaluate_variants",
    "export_onnx",
    "ExportError",
    "finetune_baseline",
    "fuse_onnx",
    "head_importance",
    "latency_feeds",
    "measure_variants",
    "pareto_front",
    "plot_pareto",
    "precision_probe",
    "predict_variant",
    "prune_heads",
    "prune_magnitude",
    "quantization_aware_finetune",
    "quantize_onnx_dynamic",
    "quantize_onnx_static",
    "recommend_variant",
    "torch_threads",
    "usable_cores",
    "Variant",
    "weight_sparsity",
]

