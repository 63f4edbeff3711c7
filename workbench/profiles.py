"""Run profiles: how much work each notebook does under ``smoke``, ``default`` and ``full``.

``smoke`` keeps every notebook well under a minute (CI), ``default`` keeps the whole suite near 15
minutes on 2 CPU cores (``make report``), ``full`` runs real studies (hours; a GPU is welcome).
The numbers live here and only here; notebooks ask for them with :func:`profile_settings`.

>>> profile_settings("data", "smoke")["max_examples"]
200
>>> profile_settings("data", "smoke", max_examples=50)["max_examples"]
50

``default`` caps the rows that expensive steps use (20,000 per split where a notebook trains or encodes
every row; the data notebook's overview always reads every row), so a million-row file costs about what
a 20,000-row one does; ``full`` lifts the caps.

Sizes follow one convention: ``0`` means "all of it" (every example, the whole split); lists of
values are lists (``"downstream_vocab_sizes": [1000, 4000, 16000]``), never comma-separated text.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping
from typing import Any

from workbench._validation import check_choice
from workbench.errors import ParameterError

PROFILE_NAMES = ("smoke", "default", "full")

PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "tokenization": {
        # vocab_size: the six trained tokenizers; downstream_*: the tiny-transformer sweep over
        # algorithms x vocabulary sizes x seeds, same budget for every row; downstream_train_examples 0 = all.
        # downstream_threads: torch threads per run (tiny models run as fast on one; None: torch decides).
        # downstream_learning_rates: the grid tuned per configuration on validation (one value: no tuning);
        # subword_dropout: BPE-dropout of one extra run of the smallest BPE configuration (0: none).
        "smoke": {"max_examples": 200, "vocab_size": 500, "max_length": 64, "downstream_vocab_sizes": [200],
                  "downstream_seeds": 1, "downstream_epochs": 1.0, "n_resamples": 200, "downstream_max_length": 32,
                  "downstream_train_examples": 0, "downstream_threads": 1, "downstream_learning_rates": [0.001],
                  "subword_dropout": 0.1,
                  "downstream_model": "tiny:num_layers=1,hidden_size=32,num_heads=2"},
        "default": {"max_examples": 20000, "vocab_size": 8000, "max_length": 128,
                    "downstream_vocab_sizes": [1000, 4000, 16000], "downstream_seeds": 3, "downstream_epochs": 2.0,
                    "n_resamples": 1000, "downstream_max_length": 64, "downstream_train_examples": 1500,
                    "downstream_threads": 1, "downstream_learning_rates": [0.001, 0.003], "subword_dropout": 0.1,
                    "downstream_model": "tiny:num_layers=2,hidden_size=64,num_heads=2"},
        "full": {"max_examples": 0, "vocab_size": 16000, "max_length": 256,
                 "downstream_vocab_sizes": [1000, 4000, 16000, 32000], "downstream_seeds": 5,
                 "downstream_learning_rates": [0.0005, 0.001, 0.002], "subword_dropout": 0.1,
                 "downstream_epochs": 4.0, "n_resamples": 2000, "downstream_max_length": 256,
                 "downstream_train_examples": 0, "downstream_threads": None,
                 "downstream_model": "tiny:num_layers=4,hidden_size=256,num_heads=4"},
    },
    "schedules": {
        # Every schedule in `schedules` first sweeps its peak rate over `rates` (one seed, validation), then
        # trains `model` at its own best rate once per seed for max_steps updates of batch_size on
        # train_examples texts; vocab_size > 0 trains a word-level tokenizer for tiny models (0: the model's
        # own). num_threads 1 keeps tiny models fast when other processes share the cores (0: torch's default).
        # The finders: range_test_steps batches of the range test, short_horizon_steps updates per rate of
        # short_horizon_rates; the noise scale: noise_batches batches at each of the two noise_batch_sizes.
        "smoke": {"model": "tiny:num_layers=1,hidden_size=32,num_heads=2", "vocab_size": 500, "train_examples": 128,
                  "validation_examples": 64, "test_examples": 200, "max_length": 32, "batch_size": 16,
                  "max_steps": 12, "eval_steps": 3, "n_seeds": 1, "rates": [3e-3],
                  "schedules": ["linear", "one_cycle", "reduce_on_plateau"], "gradient_stats_every": 2,
                  "range_test_steps": 20, "short_horizon_rates": [1e-3, 1e-2], "short_horizon_steps": 4,
                  "noise_batch_sizes": [4, 16], "noise_batches": 2, "accumulation_steps": 6, "num_threads": 1},
        # default: a tiny model from scratch needs about 100 updates of 32 texts at 3e-3 to leave the
        # majority class (measured: 60 updates of 16 gave 0.65, the majority rate, for every schedule;
        # 100 of 32 on 2,000 texts give 0.75 at 3e-3 and still 0.65 at 1e-3; about 6 s per run on one core).
        "default": {"model": "tiny:num_layers=2,hidden_size=64,num_heads=2", "vocab_size": 2000,
                    "train_examples": 2000, "validation_examples": 200, "test_examples": 0, "max_length": 64,
                    "batch_size": 32, "max_steps": 100, "eval_steps": 20, "n_seeds": 2, "rates": [3e-3, 1e-2],
                    "schedules": ["linear", "constant", "cosine", "warmup_stable_decay", "one_cycle", "step",
                                  "exponential", "reduce_on_plateau"],
                    "gradient_stats_every": 10, "range_test_steps": 60,
                    "short_horizon_rates": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], "short_horizon_steps": 15,
                    "noise_batch_sizes": [8, 64], "noise_batches": 8, "accumulation_steps": 40, "num_threads": 1},
        "full": {"model": "minilm", "vocab_size": 0, "train_examples": 0, "validation_examples": 0, "test_examples": 0,
                 "max_length": 128, "batch_size": 16, "max_steps": 1000, "eval_steps": 50, "n_seeds": 3,
                 "rates": [1e-5, 3e-5, 1e-4, 3e-4],
                 "schedules": ["linear", "constant", "constant_with_warmup", "cosine", "warmup_stable_decay",
                               "one_cycle", "cyclic", "step", "exponential", "reduce_on_plateau", "llrd",
                               "gradual_unfreezing"],
                 "gradient_stats_every": 10, "range_test_steps": 100,
                 "short_horizon_rates": [3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3], "short_horizon_steps": 50,
                 "noise_batch_sizes": [8, 64], "noise_batches": 16, "accumulation_steps": 200, "num_threads": 0},
    },
    "compression": {
        # The baseline fine-tune (finetune_*, validation_examples (0 = all), learning_rate; kept in the user cache
        # when cache is True), the variants built from it, the test texts that score them (eval_examples), the
        # validation examples that choose the recommended variant (selection_examples, 0 = all), the
        # distillation/QAT/recovery budgets, torch threads for training and scoring (num_threads, 0 = all cores),
        # and the latency grid: seq_lens x batch 1 (latency_repeats calls on latency_threads, spread over
        # latency_rounds interleaved rounds) and batch 32 (large_batch_repeats calls on large_batch_threads);
        # 0 threads means all usable cores.
        "smoke": {"model": "tiny:num_layers=2,hidden_size=64,num_heads=4,norm_placement=pre", "finetune_examples": 64,
                  "finetune_epochs": 1.0, "validation_examples": 32, "learning_rate": 3e-3, "max_length": 32,
                  "eval_examples": 100, "selection_examples": 100, "calibration_size": 16, "importance_examples": 16,
                  "student": "tiny:num_layers=1,hidden_size=32,num_heads=2", "distill_examples": 64,
                  "distill_epochs": 1.0, "qat_steps": 2, "recovery_steps": 0,
                  "variants": ["ort_fp32_fused", "ort_int8_dynamic_per_tensor", "ort_int8_dynamic_per_channel",
                               "ort_int8_dynamic_fused", "ort_int8_dynamic_mixed", "ort_int8_static_minmax",
                               "torch_int8_dynamic", "pruned_magnitude_50", "pruned_heads_25", "distilled_student",
                               "distilled_int8"],
                  "seq_lens": (16, 32), "latency_repeats": 4, "latency_rounds": 2, "large_batch_repeats": 1,
                  "latency_threads": (1,), "large_batch_threads": (1,), "num_threads": 1, "n_resamples": 200,
                  "cache": False},
        "default": {"model": "minilm", "finetune_examples": 1000, "finetune_epochs": 1.0, "validation_examples": 200,
                    "learning_rate": 1e-4, "max_length": 128, "eval_examples": 1000, "selection_examples": 0,
                    "calibration_size": 32,
                    # The student is distilled on every training text for 2 epochs (its own budget, not
                    # the baseline's 1,000 examples): on 600 texts for 1 epoch it lost 9 points.
                    "importance_examples": 32, "student": "layers:3", "distill_examples": 0,
                    "distill_epochs": 2.0, "qat_steps": 10, "recovery_steps": 0,
                    # One variant per method and each one's control, at the headline cells only (batch 1 x
                    # sequence 128 x 1 thread, 50 calls in 5 rounds; batch 32 x 128 on all cores, 5 calls).
                    # bf16 variants are skipped, with the reason, where the CPU lacks native bf16. torch
                    # dynamic int8, magnitude pruning and the other ORT levels run in `full` or by name.
                    "variants": ["bf16_eager", "bf16_autocast", "ort_fp32_fused", "ort_int8_dynamic_per_tensor",
                                 "ort_int8_dynamic_per_channel", "ort_int8_dynamic_fused", "ort_int8_dynamic_mixed",
                                 "ort_int8_static_minmax", "ort_int8_static_entropy", "ort_int8_static_percentile",
                                 "qat_int8", "qat_control_int8", "pruned_heads_25", "pruned_heads_int8",
                                 "distilled_student", "distilled_hard_labels", "distilled_int8"],
                    "seq_lens": (128,), "latency_repeats": 50, "latency_rounds": 5, "large_batch_repeats": 5,
                    "latency_threads": (1,), "large_batch_threads": (0,), "num_threads": 0, "n_resamples": 1000,
                    "cache": True},
        "full": {"model": "minilm", "finetune_examples": 0, "finetune_epochs": 3.0, "validation_examples": 0,
                 "learning_rate": 1e-4, "max_length": 128, "eval_examples": 0, "selection_examples": 0,
                 "calibration_size": 128,
                 "importance_examples": 128, "student": "layers:4", "distill_examples": 0, "distill_epochs": 3.0,
                 "qat_steps": 200, "recovery_steps": 100,
                 "variants": ["bf16_eager", "bf16_autocast", "fp16_eager", "ort_fp32_basic", "ort_fp32_extended",
                              "ort_fp32_all", "ort_fp32_fused", "ort_int8_dynamic_per_tensor",
                              "ort_int8_dynamic_per_channel", "ort_int8_dynamic_fused", "ort_int8_dynamic_fused_full",
                              "ort_int8_dynamic_mixed",
                              "ort_int8_static_minmax", "ort_int8_static_entropy", "ort_int8_static_percentile",
                              "torch_int8_dynamic", "pruned_magnitude_30", "pruned_magnitude_50",
                              "pruned_magnitude_70", "pruned_heads_25", "pruned_heads_50", "distilled_student",
                              "distilled_hard_labels", "distilled_int8", "pruned_heads_int8", "qat_int8",
                              "qat_control_int8"],
                 "seq_lens": (32, 128), "latency_repeats": 30, "latency_rounds": 6, "large_batch_repeats": 5,
                 "latency_threads": (1, 0), "large_batch_threads": (1, 0), "num_threads": 0, "n_resamples": 2000,
                 "cache": True},
    },
    "data": {
        # max_examples caps each split; finetune_* size the short MiniLM fine-tune baseline. model_train_examples
        # and model_eval_examples cap the rows the baselines fit and score on (train; validation and test), so
        # a million-row file costs about what a 20,000-row one does beyond the overview (0: every row).
        "smoke": {"max_examples": 200, "finetune_examples": 64, "finetune_epochs": 1.0, "max_length": 64,
                  "n_resamples": 200, "model_train_examples": 0, "model_eval_examples": 0},
        "default": {"max_examples": 0, "finetune_examples": 1000, "finetune_epochs": 1.0, "max_length": 128,
                    "n_resamples": 1000, "model_train_examples": 20000, "model_eval_examples": 2000},
        "full": {"max_examples": 0, "finetune_examples": 0, "finetune_epochs": 3.0, "max_length": 256,
                 "n_resamples": 2000, "model_train_examples": 0, "model_eval_examples": 0},
    },
    "augmentation": {
        # quality_*: texts, recipes and variants per text measured for quality (quality_recipes None: every
        # recipe that needs no model; quality_n_aug >= 2 for within-source diversity). The ablation follows
        # EDA's protocol (protocol "eda": alpha and n_aug per training size from Wei & Zou's table, plain
        # copies at the same n_aug as the control; "grid" crosses alphas and n_augs); train size 0 = the
        # whole train split. The transformer learner trains at transformer_sizes only, transformer_steps
        # AdamW steps for every run (the same budget with and without augmentation). filter_*: the
        # constraint filter (similarity >= threshold and the TF-IDF oracle agrees) and where it runs.
        # default trains at two of EDA's table rows (500: alpha 0.05 x 16 variants, 2,000: 0.05 x 8);
        # the whole train split (0) and EDA's other sizes run in full.
        "smoke": {"max_examples": 160, "quality_examples": 8, "quality_recipes": None, "quality_n_aug": 2,
                  "alpha": 0.1, "ablation_recipes": ["eda"], "train_sizes": [80, 0], "protocol": "eda",
                  "alphas": [0.0, 0.1], "n_augs": [2], "n_seeds": 2, "learners": ["tfidf_logreg"],
                  "transformer_model": "tiny:num_layers=1,hidden_size=32,num_heads=2", "transformer_steps": 5,
                  "transformer_sizes": [80], "filter_threshold": 0.7, "filter_similarity": "tfidf",
                  "filter_sizes": [80], "n_jobs": 1, "n_resamples": 200, "self_bleu_texts": 8,
                  "max_length": 16},
        "default": {"max_examples": 20000, "quality_examples": 40, "quality_recipes": None, "quality_n_aug": 2,
                    "alpha": 0.1, "ablation_recipes": ["eda"], "train_sizes": [500, 2000],
                    "protocol": "eda", "alphas": [0.0, 0.1], "n_augs": [2], "n_seeds": 3,
                    "learners": ["tfidf_logreg", "transformer"],
                    "transformer_model": "tiny:num_layers=2,hidden_size=64,num_heads=2", "transformer_steps": 100,
                    "transformer_sizes": [500], "filter_threshold": 0.7, "filter_similarity": "tfidf",
                    "filter_sizes": [500], "n_jobs": 2, "n_resamples": 1000, "self_bleu_texts": 30,
                    "max_length": 256},
        "full": {"max_examples": 0, "quality_examples": 500, "quality_recipes": None, "quality_n_aug": 4,
                 "alpha": 0.1, "ablation_recipes": ["eda", "eda_sr", "eda_ri", "eda_rs", "eda_rd"],
                 "train_sizes": [500, 2000, 0], "protocol": "eda", "alphas": [0.0, 0.05, 0.1, 0.2],
                 "n_augs": [1, 4, 16], "n_seeds": 5, "learners": ["tfidf_logreg", "transformer"],
                 "transformer_model": "minilm", "transformer_steps": 300, "transformer_sizes": [500, 2000],
                 "filter_threshold": 0.8, "filter_similarity": "minilm", "filter_sizes": [500, 2000, 0],
                 "n_jobs": -1, "n_resamples": 2000, "self_bleu_texts": 100, "max_length": 256},
    },
    "sweeps": {
        # compare_model runs the five-strategy race (n_trials None = the grid size, per sampler seed);
        # the Pareto search (NSGA-II, pareto_trials) always trains tiny transformers. <model>_examples
        # caps the training split and <model>_epochs is the per-trial budget pruners share out.
        "smoke": {"max_examples": 200, "compare_model": "mlp", "n_trials": None, "pareto_trials": 2,
                  "population_size": 2, "sampler_seeds": [0], "training_seeds": [1000, 1001],
                  "mlp_examples": 200, "mlp_epochs": 2, "tiny_examples": 96, "tiny_epochs": 1, "max_length": 32,
                  "latency_repeats": 5},
        # default: 5 strategies x 3 sampler seeds on the 24-point MLP grid (360 trials in memory, about a
        # minute), winners re-scored on 3 fresh training seeds; NSGA-II 12 trials = 3 generations of 4.
        "default": {"max_examples": 20000, "compare_model": "mlp", "n_trials": None, "pareto_trials": 12,
                    "population_size": 4, "sampler_seeds": [0, 1, 2], "training_seeds": [1000, 1001, 1002],
                    "mlp_examples": 600, "mlp_epochs": 4, "tiny_examples": 400, "tiny_epochs": 2,
                    "max_length": 64, "latency_repeats": 20},
        "full": {"max_examples": 0, "compare_model": "tiny", "n_trials": None, "pareto_trials": 100,
                 "population_size": 20, "sampler_seeds": [0, 1, 2, 3, 4], "training_seeds": [1000, 1001, 1002],
                 "mlp_examples": 0, "mlp_epochs": 10, "tiny_examples": 0, "tiny_epochs": 5, "max_length": 128,
                 "latency_repeats": 50},
    },
}


def profile_settings(notebook: str, profile: str, **overrides: Any) -> dict[str, Any]:
    """Settings of ``notebook`` under ``profile``, with the caller's explicit choices on top.

    An override that is ``None`` means "let the profile decide", which is how a notebook's
    ``parameters`` cell says "not set" (``max_examples: Optional[int] = None``). Every other value,
    ``0``, ``0.0``, ``""`` and ``False`` included, is the caller's choice and replaces the profile's.
    In the settings themselves, ``0`` for a size means "all of it". The result is a deep copy: a
    caller may change its lists without touching the profile or its own arguments.

    Parameters
    ----------
    notebook : str
        Notebook name without its number prefix (``"data"``).
    profile : {"smoke", "default", "full"}
    **overrides
        Settings to force; unknown names are an error.

    Examples
    --------
    >>> profile_settings("data", "full", finetune_epochs=None)["finetune_epochs"]
    3.0
    >>> profile_settings("data", "full", finetune_examples=0)["finetune_examples"]  # 0: every example
    0
    >>> profile_settings("tokenization", "default")["downstream_vocab_sizes"]
    [1000, 4000, 16000]
    """
    check_choice("notebook", notebook, "profile_settings", sorted(PROFILES))
    check_choice("profile", profile, "profile_settings", PROFILE_NAMES)
    settings = PROFILES[notebook][profile]
    unknown = sorted(set(overrides) - set(settings))
    if unknown:
        raise ParameterError(
            f"The overrides of profile_settings must be settings of {notebook!r} "
            f"({', '.join(sorted(settings))}). Got {', '.join(map(repr, unknown))} instead.")
    return copy.deepcopy({**settings, **{k: v for k, v in overrides.items() if v is not None}})


def notebook_settings(notebook: str, namespace: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """:func:`profile_settings` for a notebook, read from its own parameters.

    The profile is the notebook's ``profile`` parameter; every parameter of its ``parameters`` cell
    that names a setting of the profile is an override (``None``: the profile's value). The notebook
    writes ``settings = wb.notebook_settings("tokenization")`` instead of re-listing its parameters.
    ``namespace`` defaults to the caller's globals (the notebook's namespace).

    Examples
    --------
    >>> notebook_settings("data", {"profile": "smoke", "max_examples": 50, "seed": 3})["max_examples"]
    50
    >>> notebook_settings("data", {"profile": "smoke", "max_examples": None})["max_examples"]
    200
    """
    from workbench.reports.parameters import declared_parameters

    check_choice("notebook", notebook, "notebook_settings", sorted(PROFILES))
    namespace = sys._getframe(1).f_globals if namespace is None else namespace
    profile = namespace.get("profile", "default")
    check_choice("profile", profile, "notebook_settings", PROFILE_NAMES)
    keys = set(PROFILES[notebook][profile]) & set(declared_parameters(notebook))
    return profile_settings(notebook, profile, **{key: namespace[key] for key in keys if key in namespace})
