"""Hyperparameter and architecture search on Optuna: spaces as data, pruning, Pareto fronts, many workers.

Optuna does the searching (samplers, pruners, storages, importances, plots); this package adds what an
NLP sweep needs around it:

- **search spaces as data** (:func:`load_space`: a dict or a YAML file) over training hyperparameters
  and the tiny transformer's architecture, checked eagerly (hidden size divisible by heads), with
  profile-dependent ranges (:func:`default_space`: CPU-sized in ``default``, the 4-24 layers /
  256-1024 hidden / 4-16 heads / 2-4x FFN ranges in ``full``);
- **objectives that really train** (:class:`TransformerObjective` through
  :func:`workbench.training.fine_tune`, :class:`MLPObjective` as a fast proxy) and report every
  epoch so pruners can stop a trial early; multi-objective runs add *measured* CPU latency,
  parameter count or FLOPs and give a Pareto front (:func:`pareto_frame`);
- **studies that many workers fill exactly** (:func:`run_sweep`): a study asked for ``n_trials``
  ends with exactly that many finished (complete or pruned) trials, however many workers share its
  storage, and a killed worker's trial is failed by the heartbeat and re-queued;
- **an honest strategy comparison** (:func:`compare_strategies`, :func:`strategy_summary`): best-so-far
  against trials and against the training epochs they consumed.

Storage is an SQLite file by default; any SQLAlchemy URL (``postgresql://...``) lets workers on many
machines share one study (``workbench sweep --storage URL --study NAME --n-trials N``). Either opens
in Optuna's dashboard: ``optuna-dashboard sqlite:///sweeps.db``.

>>> space = load_space({"learning_rate": [1e-3, 1e-2], "hidden_size": [16, 64]}, model="mlp")
>>> space.grid_size
4

Layout: :mod:`~workbench.sweeps.spaces` (search spaces), :mod:`~workbench.sweeps.factories` (samplers,
pruners, directions), :mod:`~workbench.sweeps.objectives` (trials that train), :mod:`~workbench.sweeps.storage`
(RDB storages), :mod:`~workbench.sweeps.runner` (one worker on a study), :mod:`~workbench.sweeps.analysis`
(tidy frames, hypervolume), :mod:`~workbench.sweeps.race` (the fair strategy race and its verdict),
:mod:`~workbench.sweeps.artifacts` (winners kept), :mod:`~workbench.sweeps.report` and
:mod:`~workbench.sweeps.recipes` (what notebook 04 records and runs), :mod:`~workbench.sweeps.plots` and
:mod:`~workbench.sweeps.findings`.
"""

from __future__ import annotations

from workbench.sweeps.analysis import (
    CURVE_COLUMNS,
    PARETO_COLUMNS,
    STRATEGIES,
    TRIAL_COLUMNS,
    best_so_far_curves,
    compare_strategies,
    hypervolume_history,
    param_importances,
    pareto_frame,
    pareto_pick,
    strategy_summary,
    trial_epochs,
    trials_frame,
)
from workbench.sweeps.artifacts import load_model_artifact, save_model_artifact
from workbench.sweeps.factories import (
    COST_METRICS,
    OBJECTIVES,
    PRUNERS,
    QUALITY_METRICS,
    SAMPLERS,
    directions_of,
    make_pruner,
    make_sampler,
)
from workbench.sweeps.findings import describe_trial, sweeps_findings
from workbench.sweeps.objectives import MLPObjective, TrialPruningCallback, report_epoch
from workbench.sweeps.plots import PLOTS, plot_best_so_far, plot_study
from workbench.sweeps.race import (
    RACE_STRATEGIES,
    Race,
    baseline_config,
    config_key,
    race_results,
    rescore_winners,
    run_race,
    study_winners,
)
from workbench.sweeps.recipes import architecture_search, race_objective
from workbench.sweeps.report import (
    best_trial,
    pareto_summary,
    sweeps_results,
    sweeps_summary,
)
from workbench.sweeps.runner import (
    SweepResult,
    check_same_study,
    run_sweep,
    warm_start_configs,
)
from workbench.sweeps.spaces import (
    ARCHITECTURE_PARAMS,
    MODEL_PARAMS,
    MODELS,
    SPACES,
    TRAINING_PARAMS,
    SearchSpace,
    default_space,
    load_space,
)
from workbench.sweeps.storage import (
    BudgetSpent,
    default_storage,
    open_storage,
    safe_url,
)
from workbench.sweeps.transformer import TransformerObjective

__all__ = ['ARCHITECTURE_PARAMS', 'CURVE_COLUMNS', 'best_so_far_curves', 'BudgetSpent', 'COST_METRICS', 'MLPObjective', 'MODELS', 'MODEL_PARAMS',
           'OBJECTIVES', 'PARETO_COLUMNS', 'PLOTS', 'PRUNERS', 'QUALITY_METRICS', 'RACE_STRATEGIES', 'Race',
           'SAMPLERS', 'SPACES', 'STRATEGIES', 'SearchSpace', 'SweepResult', 'TRAINING_PARAMS',
           'TRIAL_COLUMNS', 'TransformerObjective', 'TrialPruningCallback', 'architecture_search',
           'baseline_config', 'best_trial', 'check_same_study', 'compare_strategies', 'config_key',
           'default_space', 'default_storage', 'describe_trial', 'directions_of', 'hypervolume_history',
           'load_model_artifact', 'load_space', 'make_pruner', 'make_sampler', 'open_storage',
           'param_importances', 'pareto_frame', 'pareto_pick', 'pareto_summary', 'plot_best_so_far',
           'plot_study', 'race_objective', 'race_results', 'report_epoch', 'rescore_winners', 'run_race',
           'run_sweep', 'safe_url', 'save_model_artifact', 'strategy_summary', 'study_winners',
           'sweeps_findings', 'sweeps_results', 'sweeps_summary', 'trial_epochs', 'trials_frame',
           'warm_start_configs']
