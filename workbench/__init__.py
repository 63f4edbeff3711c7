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
    "augmentation": ("EDA_PAPER_GAINS", "EDA_RECOMMENDED", "MODEL_RECIPES", "QUALITY_METRICS", "RECIPES",
                     "TransformerSettings", "ablation_decision", "ablation_records", "augment",
                     "augmentation_findings", "augmentation_results", "augmentation_summary", "changed_word_ratio",
                     "compare_augmenters", "constraint_checks", "control_name", "distinct_n", "example_source", "examples_html", "downstream_ablation", "eda_parameters",
                     "embedding_method", "filter_effect", "label_oracle", "make_augmenter", "plot_ablation", "plot_quality", "quality_recipes", "quality_wide",
                     "recommend_augmentation", "run_ablation", "run_quality", "self_bleu", "sentence_embeddings",
                     "variant_kinds", "variants_html", "word_diff"),
    "baselines": ("BaselineComparison", "BaselineResult", "compare_baselines", "normalization_baselines", "tfidf_logreg"),
    "data.sampling": ("cap_splits", "sampling_note"),
    "data.findings": ("class_imbalance", "data_findings", "data_record", "dataset_card", "imbalance_note"),
    "compression": ("CompressionConfig", "ExportError", "VariantScores", "build_variants", "built_variants_frame",
                    "compare_with_references", "compression_baseline", "compression_config",
                    "compression_findings", "compression_results", "compression_setup_markdown", "compression_splits",
                    "compression_summary", "compression_table", "decide_compression", "decision_rows",
                    "default_cache_dir", "distill_student", "evaluate_variants", "export_onnx", "finetune_baseline",
                    "head_importance", "latency_grid", "measure_variants", "pareto_front", "plot_decision", "plot_pareto", "precision_probe",
                    "prune_heads", "prune_magnitude", "quantization_aware_finetune", "quantize_onnx_dynamic",
                    "quantize_onnx_static", "recommend_variant", "score_variants", "scoring_options", "usable_cores",
                    "weight_sparsity"),
    "data": ("BUILTINS", "FILE_FORMATS", "SPLITS", "class_balance", "dataset_info", "duplicate_summary",
             "check_labels_seen", "find_duplicates", "load_dataset", "plot_class_balance", "plot_text_lengths",
             "sample_rows", "subsample", "text_lengths"),
    "environment": ("environment_info",),
    "errors": ("DataError", "ExperimentFailedError", "NotebookParameterError", "ParameterError", "ResourceUnavailableError",
               "WorkbenchError"),
    "evaluation": ("METRICS", "bootstrap_ci", "classification_metrics", "confusion_frame",
                   "evaluate_predictions", "hub_metric", "mean_ci", "mean_difference_test", "measure_latency", "metrics_table",
                   "paired_bootstrap_test", "plot_confusion", "plot_intervals"),
    "models": ("TinyTransformerConfig", "count_parameters", "flops_per_token", "load_model", "load_tokenizer",
               "parse_tiny_spec"),
    "profiles": ("PROFILE_NAMES", "notebook_settings", "profile_settings"),
    "reports": ("Outcome", "RunResult", "check_outcomes", "list_notebooks", "output_folder", "record", "run_report"),
    "schedules": ("DivergenceCallback", "GradientStatsCallback", "GradualUnfreezing", "RangeTestResult",
                  "SCHEDULES", "ScheduleComparison", "compare_schedules", "curve_difference", "detect_divergence",
                  "detect_plateaus", "gradual_unfreezing_schedule", "llrd_parameter_groups", "lr_range_test",
                  "planned_rates", "plot_comparison_curves", "plot_gradient_heatmap", "plot_range_test",
                  "plot_schedules", "recommend_schedule", "schedule_frame", "schedule_frames", "summarize_runs",
                  "ScheduleStudy", "accumulation_check", "choose_schedule", "clipping_table", "run_schedule_study",
                  "schedule_findings", "schedule_scores", "schedule_verdicts", "schedules_results",
                  "schedules_summary", "select_specs", "study_config", "sweep_peak_lrs", "torch_scheduler", "warmup_ablation",
                  "NoiseScaleCallback", "finder_report", "lr_finders", "measure_noise_scale", "model_noise_scale",
                  "noise_scale_run", "range_test_curve", "short_horizon_sweep", "simple_noise_scale", "valley_rate"),
    "tokenization": ("compare_tokenizers", "load_pretrained_tokenizer", "metrics_wide", "plot_fertility",
                     "plot_lengths", "renyi_efficiency", "sequence_lengths", "train_tokenizer", "train_tokenizers",
                     "wrap_tokenizer", "DownstreamResult", "downstream_sweep", "run_downstream", "downstream_verdict",
                     "downstream_correlation", "recommend_tokenizer", "tokenization_findings",
                     "tokenization_summary", "tokenization_results", "plot_downstream", "split_words",
                     "fertility_by_class", "split_words_table", "kept_char_share", "bpe_ladder", "truncate_bpe",
                     "ladder_check", "bpe_dropout_encode", "calibrate_intrinsic"),
    "sweeps": ("MLPObjective", "RACE_STRATEGIES", "Race", "SearchSpace", "SweepResult", "TransformerObjective",
               "TrialPruningCallback", "architecture_search", "baseline_config", "best_so_far_curves", "best_trial",
               "check_same_study", "compare_strategies", "config_key", "default_space", "default_storage",
               "describe_trial", "directions_of", "hypervolume_history", "load_model_artifact", "load_space",
               "make_pruner", "make_sampler", "open_storage", "param_importances", "pareto_frame",
               "pareto_pick", "pareto_summary", "plot_best_so_far", "plot_study", "race_objective",
               "race_results", "report_epoch", "rescore_winners", "run_race", "run_sweep", "safe_url",
               "save_model_artifact", "strategy_summary", "study_winners", "sweeps_findings", "sweeps_results",
               "sweeps_summary", "trials_frame", "warm_start_configs"),
    "text": ("NORMALIZATIONS", "normalization_effects", "normalize_text", "normalize_texts",
             "vocabulary_size"),
    "training": ("TrainConfig", "TrainResult", "fine_tune", "plot_history", "predict_logits"),
    "metrics": ("LOCAL_METRICS", "local_metric", "metric_path"),
    "verdicts": ("ANSWERS", "COMPARISON_COLUMNS", "RULES", "VERDICT_KEYS", "answer_sentence", "choose_on_validation",
                 "compare_predictions", "compare_seed_scores", "comparison_frame", "family_verdicts",
                 "findings_markdown", "holm", "make_verdict", "minimum_detectable_effect", "rule_p_value"),
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
