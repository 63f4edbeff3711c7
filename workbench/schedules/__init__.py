"""Learning-rate schedules and training dynamics: the rates the optimiser really uses, step by step.

``transformers`` and ``torch`` do the work. :func:`schedule_frame` (``frames``) drives the real schedulers
(``transformers.get_scheduler`` and torch's OneCycleLR, CyclicLR, StepLR, ExponentialLR) on a dummy
optimiser and records the rates; layer-wise decay builds plain ``torch.optim`` parameter groups
(``groups``); the callbacks (``callbacks``) plug into HF ``Trainer`` (and so into
:func:`workbench.training.fine_tune`). :func:`compare_schedules` (``compare``) trains one model per schedule
and seed through ``fine_tune`` with those callbacks, and reports curves, per-layer gradient statistics,
plateaus and divergence (``diagnostics``) as tidy frames; ``range_test`` holds the learning-rate range
test, ``analysis`` the summaries, ``plots`` the figures and ``findings`` the "what this means" Markdown.

One vocabulary for time: ``step`` is the 0-based index of an optimiser update, the ``current_step``
transformers' schedule functions receive and torch's ``last_epoch``; row ``step = t`` holds the rate
update ``t`` uses. Trainer's logs (and :class:`~workbench.training.HistoryCallback`) count updates
*done* instead, so their step ``t + 1`` reports the rate of our step ``t``; the training comparison's
history uses Trainer's numbering throughout.
One numbering for depth: layer ``-1`` is the embeddings, ``0 .. L-1`` the encoder layers and ``L`` the
head (classifier, pooler and any final norm).

>>> frame = schedule_frame("linear", num_training_steps=10, peak_lr=1e-3, warmup_ratio=0.2)
>>> frame["lr"].round(6).tolist()[:4]
[0.0, 0.0005, 0.001, 0.000875]
"""

from __future__ import annotations

from workbench.schedules.analysis import (
    PLATEAU_COLUMNS,
    RUN_COLUMNS,
    SUMMARY_COLUMNS,
    curve_difference,
    recommend_schedule,
    summarize_runs,
)
from workbench.schedules.callbacks import (
    GRADIENT_COLUMNS,
    DivergenceCallback,
    GradientStatsCallback,
    GradualUnfreezing,
)
from workbench.schedules.compare import (
    COMPARISON_COLUMNS,
    SPEC_EXTRAS,
    ScheduleComparison,
    compare_schedules,
    planned_rates,
)
from workbench.schedules.diagnostics import detect_divergence, detect_plateaus
from workbench.schedules.finders import (
    finder_report,
    lr_finders,
    noise_scale_run,
    short_horizon_sweep,
)
from workbench.schedules.findings import (
    schedule_findings,
    schedules_results,
    schedules_summary,
)
from workbench.schedules.frames import (
    METRIC_SCHEDULES,
    NO_WARMUP_SCHEDULES,
    SCHEDULE_COLUMNS,
    SCHEDULES,
    TORCH_SCHEDULES,
    schedule_frame,
    schedule_frames,
    timm_cosine_frame,
    torch_scheduler,
)
from workbench.schedules.groups import (
    LLRD_COLUMNS,
    UNFREEZING_COLUMNS,
    gradual_unfreezing_schedule,
    layer_name,
    llrd_parameter_groups,
    parameter_layers,
)
from workbench.schedules.noise_scale import (
    NoiseScaleCallback,
    measure_noise_scale,
    model_noise_scale,
    simple_noise_scale,
)
from workbench.schedules.plots import (
    plot_comparison_curves,
    plot_gradient_heatmap,
    plot_range_test,
    plot_schedules,
)
from workbench.schedules.range_test import (
    RANGE_TEST_CAVEAT,
    RANGE_TEST_COLUMNS,
    RangeTestResult,
    lr_range_test,
    range_test_curve,
    valley_rate,
)
from workbench.schedules.selection import (
    choose_schedule,
    schedule_scores,
    schedule_verdicts,
    sweep_peak_lrs,
)
from workbench.schedules.study import (
    ScheduleStudy,
    accumulation_check,
    clipping_table,
    run_schedule_study,
    select_specs,
    study_config,
    warmup_ablation,
)

__all__ = [
    "COMPARISON_COLUMNS",
    "GRADIENT_COLUMNS",
    "LLRD_COLUMNS",
    "METRIC_SCHEDULES",
    "NO_WARMUP_SCHEDULES",
    "PLATEAU_COLUMNS",
    "RANGE_TEST_CAVEAT",
    "RANGE_TEST_COLUMNS",
    "RUN_COLUMNS",
    "SCHEDULES",
    "SCHEDULE_COLUMNS",
    "SPEC_EXTRAS",
    "SUMMARY_COLUMNS",
    "TORCH_SCHEDULES",
    "UNFREEZING_COLUMNS",
    "DivergenceCallback",
    "GradientStatsCallback",
    "GradualUnfreezing",
    "NoiseScaleCallback",
    "RangeTestResult",
    "ScheduleComparison",
    "ScheduleStudy",
    "accumulation_check",
    "choose_schedule",
    "clipping_table",
    "compare_schedules",
    "curve_difference",
    "detect_divergence",
    "detect_plateaus",
    "finder_report",
    "gradual_unfreezing_schedule",
    "layer_name",
    "llrd_parameter_groups",
    "lr_finders",
    "lr_range_test",
    "measure_noise_scale",
    "model_noise_scale",
    "noise_scale_run",
    "parameter_layers",
    "planned_rates",
    "plot_comparison_curves",
    "plot_gradient_heatmap",
    "plot_range_test",
    "plot_schedules",
    "range_test_curve",
    "recommend_schedule",
    "run_schedule_study",
    "schedule_findings",
    "schedule_frame",
    "schedule_frames",
    "schedule_scores",
    "schedule_verdicts",
    "schedules_results",
    "schedules_summary",
    "select_specs",
    "short_horizon_sweep",
    "simple_noise_scale",
    "study_config",
    "summarize_runs",
    "sweep_peak_lrs",
    "timm_cosine_frame",
    "torch_scheduler",
    "valley_rate",
    "warmup_ablation",
]
