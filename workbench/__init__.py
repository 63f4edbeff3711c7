"""nlp-workbench: does an NLP optimization technique pay off on your data, and at what cost?

Public names are re-exported here and imported lazily, so ``import workbench`` stays fast and a
notebook only pays for torch/transformers when it uses them.

>>> import workbench as wb
>>> wb.profile_settings("data", "smoke")["max_length"]
64
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS: dict[str, tuple[str, ...]] = {
    "baselines": ("BaselineResult", "normalization_baselines", "tfidf_logreg"),
    "data": ("BUILTINS", "FILE_FORMATS", "SPLITS", "class_balance", "dataset_info", "duplicate_summary",
             "check_labels_seen", "find_duplicates", "load_dataset", "plot_class_balance", "plot_text_lengths",
             "sample_rows", "subsample", "text_lengths"),
    "environment": ("environment_info",),
    "errors": ("DataError", "NotebookParameterError", "ParameterError", "ResourceUnavailableError",
               "WorkbenchError"),
    "evaluation": ("METRICS", "bootstrap_ci", "classification_metrics", "confusion_frame",
                   "evaluate_predictions", "hub_metric", "measure_latency", "metrics_table",
                   "paired_bootstrap_test", "plot_confusion", "plot_intervals"),
    "models": ("TinyTransformerConfig", "count_parameters", "flops_per_token", "load_model", "load_tokenizer",
               "parse_tiny_spec"),
    "profiles": ("PROFILE_NAMES", "profile_settings"),
    "reports": ("RunResult", "list_notebooks", "record", "run_report"),
    "schedules": ("DivergenceCallback", "GradientStatsCallback", "GradualUnfreezing", "RangeTestResult",
                  "SCHEDULES", "detect_divergence", "detect_plateaus", "gradual_unfreezing_schedule",
                  "llrd_parameter_groups", "lr_range_test", "plot_range_test", "plot_schedules",
                  "schedule_frame", "schedule_frames"),
    "tokenization": ("compare_tokenizers", "load_pretrained_tokenizer", "metrics_wide", "plot_fertility",
                     "plot_lengths", "renyi_efficiency", "sequence_lengths", "train_tokenizer",
                     "wrap_tokenizer", "DownstreamResult", "downstream_sweep", "downstream_correlation",
                     "recommend_tokenizer", "plot_downstream"),
    "text": ("NORMALIZATIONS", "normalization_effects", "normalize_text", "normalize_texts",
             "vocabulary_size"),
    "training": ("TrainConfig", "TrainResult", "fine_tune", "plot_history", "predict_logits"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"workbench.{module}"), name)
    globals()[name] = value  # cache: later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
