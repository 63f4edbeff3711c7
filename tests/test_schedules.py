"""workbench.schedules: real schedulers against closed forms, LLRD, unfreezing, range test, divergence."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.errors import ParameterError
from workbench.models import load_model
from workbench.schedules import (GRADIENT_COLUMNS, LLRD_COLUMNS, RANGE_TEST_COLUMNS, SCHEDULE_COLUMNS, SCHEDULES,
                                 DivergenceCallback, GradientStatsCallback, GradualUnfreezing, detect_divergence,
                                 detect_plateaus, gradual_unfreezing_schedule, llrd_parameter_groups,
                                 lr_range_test, plot_range_test, plot_schedules, schedule_frame, schedule_frames)
from workbench.training import TrainConfig, fine_tune

SPEC = "tiny:num_layers=2,hidden_size=32,num_heads=2"
N, W, PEAK = 100, 10, 1e-3  # steps, warmup steps (warmup_ratio=0.1), peak rate


def _cosine(progress: float) -> float:
    return 0.5 * (1 + math.cos(math.pi * progress))


def _decay(t: int) -> float:
    """Fraction of the post-warmup phase done before update t (transformers' ``progress``)."""
    return (t - W) / (N - W)


# Closed forms of transformers' schedules after warmup (lr of update t, 0-based).
ORACLES = {
    "linear": ({}, lambda t: PEAK * (N - t) / (N - W)),
    "cosine": ({}, lambda t: PEAK * _cosine(_decay(t))),
    "cosine_with_restarts": ({"num_cycles": 2}, lambda t: PEAK * _cosine((2 * _decay(t)) % 1.0)),
    "polynomial": ({"power": 2.0, "lr_end": 1e-5}, lambda t: (PEAK - 1e-5) * (1 - _decay(t)) ** 2 + 1e-5),
    "constant_with_warmup": ({}, lambda t: PEAK),
    "inverse_sqrt": ({}, lambda t: PEAK * math.sqrt(W / t)),  # timescale defaults to the warmup
    "cosine_with_min_lr": ({"min_lr": 1e-4}, lambda t: 1e-4 + (PEAK - 1e-4) * _cosine(_decay(t))),
    "warmup_stable_decay": ({"num_decay_steps": 40},
                            lambda t: PEAK if t < N - 40 else PEAK * _cosine((t - (N - 40)) / 40)),
}


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_transformers_schedules_match_their_closed_forms(name):
    kwargs, oracle = ORACLES[name]
    lr = schedule_frame(name, num_training_steps=N, peak_lr=PEAK, warmup_ratio=0.1, **kwargs).set_index("step")["lr"]
    assert lr[W // 2] == pytest.approx(PEAK * (W // 2) / W)  # linear warmup from 0
    for t in (W, (W + N) // 2, N - 1):  # end of warmup, mid-decay, last update
        assert lr[t] == pytest.approx(oracle(t), rel=1e-9), t


def test_frame_is_tidy_and_groups_scale_every_rate():
    frame = schedule_frame("cosine", num_training_steps=20, peak_lr=PEAK, warmup_ratio=0.25, groups=[1.0, 0.1])
    assert list(frame.columns) == SCHEDULE_COLUMNS and len(frame) == 40
    wide = frame.pivot(index="step", columns="group", values="lr")
    assert wide[1].to_numpy() == pytest.approx(0.1 * wide[0].to_numpy())
    assert math.ceil(0.25 * 20) == wide[0].idxmax() == 5  # warmup rounds up, as Trainer does


def test_one_cycle_peaks_where_torch_says():
    lr = schedule_frame("one_cycle", num_training_steps=N, peak_lr=PEAK, warmup_ratio=0.3).set_index("step")["lr"]
    # OneCycleLR ends its rise at step pct_start * total_steps - 1, starting from max_lr / div_factor (25).
    assert lr.idxmax() == 29 and lr.max() == pytest.approx(PEAK)
    assert lr[0] == pytest.approx(PEAK / 25)
    assert lr[N - 1] < lr[0] / 100  # anneals far below the start (final_div_factor 1e4)


def test_reduce_on_plateau_halves_after_patience_on_a_flat_loss():
    lr = schedule_frame("reduce_lr_on_plateau", num_training_steps=12, peak_lr=PEAK, losses=[1.0] * 12,
                        factor=0.5, patience=2)["lr"].tolist()
    # Loss 0 sets the best; losses 1..3 do not improve; after the 3rd (> patience) the rate halves.
    assert lr[:4] == [PEAK] * 4
    assert lr[4:7] == pytest.approx([PEAK / 2] * 3)
    assert lr[7] == pytest.approx(PEAK / 4)


def test_torch_step_and_exponential_schedules():
    step = schedule_frame("step", num_training_steps=6, peak_lr=0.1, step_size=2, gamma=0.5)["lr"]
    assert step.tolist() == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])
    expo = schedule_frame("exponential", num_training_steps=5, peak_lr=0.1, gamma=0.9)["lr"]
    assert expo.tolist() == pytest.approx([0.1 * 0.9 ** t for t in range(5)])


def test_every_schedule_runs_with_two_groups():
    extra = {"polynomial": {"lr_end": 1e-6}, "cosine_with_min_lr": {"min_lr_rate": 0.1},
             "cosine_warmup_with_min_lr": {"min_lr_rate": 0.1}, "warmup_stable_decay": {"decay_ratio": 0.2},
             "step": {"step_size": 5}, "exponential": {"gamma": 0.9}}
    specs = {name: {**extra.get(name, {}), **({"losses": [1.0] * 30} if name in ("reduce_lr_on_plateau", "greedy")
                                               else {})} for name in SCHEDULES}
    frame = schedule_frames(specs, num_training_steps=30, peak_lr=PEAK, groups=[1.0, 0.5])
    assert set(frame["schedule"]) == set(SCHEDULES)
    assert (frame.groupby("schedule").size() == 60).all()
    assert frame["lr"].between(0, PEAK * (1 + 1e-9)).all()
    fig = plot_schedules(frame)
    assert len(fig.axes[0].lines) == 2 * len(SCHEDULES)


@pytest.mark.parametrize("kwargs, match", [
    ({"warmup_ratio": 1.0}, r"'warmup_ratio' parameter of schedule_frame must be a finite number in \[0.0, 1.0\)"),
    ({"warmup_steps": 150}, r"'warmup_steps' .* must be an int in \[0, 99\]. Got 150 instead. Warmup must end"),
    ({"peak_lr": 0.0}, r"'peak_lr' parameter of schedule_frame must be a finite number in \(0.0, inf\]. Got 0.0"),
    ({"peak_lr": -1e-3}, r"'peak_lr' .* Got -0.001 instead"),
    ({"schedule": "cosin"}, r"'schedule' parameter .* must be one of 'linear', 'cosine', .*'one_cycle'.* Got 'cosin'"),
    ({"num_training_steps": 0}, r"'num_training_steps' parameter of schedule_frame must be an int >= 1. Got 0"),
    ({"schedule": "constant", "warmup_ratio": 0.1}, r"warmup .* must be 0 for schedule 'constant'.*constant_with_warmup"),
    ({"schedule": "step"}, r"scheduler options .* suit schedule 'step' \(.*step_size.*\). Got \{\} instead"),
    ({"schedule": "reduce_lr_on_plateau"}, r"'losses' parameter .* one loss per step \(100\).* Got None"),
    ({"schedule": "warmup_stable_decay", "warmup_ratio": 0.5, "num_decay_steps": 60},
     r"'num_decay_steps' .* in \[0, 50\]. Got 60 instead"),
])
def test_bad_schedule_input_is_refused_in_one_line(kwargs, match):
    options = {"schedule": "linear", "num_training_steps": N, "peak_lr": PEAK, **kwargs}
    with pytest.raises(ParameterError, match=match) as info:
        schedule_frame(options.pop("schedule"), **options)
    assert "\n" not in str(info.value)


def test_llrd_on_minilm_gives_one_factor_of_decay_per_level():
    model, _ = load_model("minilm", num_labels=2)
    groups, factors = llrd_parameter_groups(model, peak_lr=2e-5, decay=0.9, weight_decay=0.01)
    assert list(factors.columns) == LLRD_COLUMNS
    assert sorted(factors["layer"].unique()) == list(range(-1, 7))  # embeddings, 6 layers, head: 8 levels
    for row in factors.itertuples():
        assert row.factor == 0.9 ** (6 - row.layer)  # head 1, layer 5 0.9, ..., embeddings 0.9**7
        assert row.lr == 2e-5 * row.factor
        assert row.weight_decay == (0.0 if row.group.endswith("_no_decay") else 0.01)
    # Every parameter in exactly one group.
    grouped = [id(p) for group in groups for p in group["params"]]
    assert len(grouped) == len(set(grouped)) and set(grouped) == {id(p) for p in model.parameters()}
    assert factors["n_params"].sum() == sum(p.numel() for p in model.parameters())
    by_name = {group["name"]: group for group in groups}
    assert by_name["head"]["lr"] == 2e-5 and "embeddings_no_decay" in by_name
    no_decay = {id(p) for g in groups if g["name"].endswith("_no_decay") for p in g["params"]}
    assert id(model.bert.encoder.layer[0].output.LayerNorm.weight) in no_decay
    assert id(model.bert.encoder.layer[0].output.dense.bias) in no_decay
    assert id(model.bert.encoder.layer[0].output.dense.weight) not in no_decay
    torch.optim.AdamW(groups)  # the groups are usable as they are


def test_llrd_covers_pre_norm_rmsnorm_models():
    model, _ = load_model("tiny:num_layers=2,hidden_size=32,norm_placement=pre,norm_type=rmsnorm", num_labels=2)
    groups, factors = llrd_parameter_groups(model, peak_lr=1e-3, decay=0.5)
    assert sorted(factors["layer"].unique()) == [-1, 0, 1, 2]
    norms = [m.weight for m in model.modules() if isinstance(m, torch.nn.RMSNorm)]
    no_decay = {id(p) for g in groups if g["name"].endswith("_no_decay") for p in g["params"]}
    assert norms and all(id(w) in no_decay for w in norms)


@pytest.mark.parametrize("decay", [0.0, 1.5, -0.5])
def test_llrd_decay_outside_0_1_is_refused(decay):
    model, _ = load_model(SPEC, num_labels=2)
    with pytest.raises(ParameterError, match=r"'decay' parameter of llrd_parameter_groups must be .* in \(0.0, 1.0\]"):
        llrd_parameter_groups(model, peak_lr=1e-3, decay=decay)


def test_gradual_unfreezing_schedule_known_answer():
    frame = gradual_unfreezing_schedule(2, num_training_steps=8, unfreeze_every=2)
    assert frame["trainable_from_layer"].tolist() == [2, 2, 1, 1, 0, 0, -1, -1]
    with pytest.raises(ParameterError, match="'unfreeze_every' .* must be an int >= 1. Got 0"):
        gradual_unfreezing_schedule(2, num_training_steps=8, unfreeze_every=0)


def test_unfreezing_and_gradient_stats_agree_during_training(tiny_dataset):
    model, tokenizer = load_model(SPEC, num_labels=2)
    stats = GradientStatsCallback(every=1)
    config = TrainConfig(max_steps=6, batch_size=8, learning_rate=1e-3, max_length=32, progress=False)
    fine_tune(model, tokenizer, tiny_dataset, config, callbacks=[GradualUnfreezing(unfreeze_every=2), stats])
    frame = stats.frame()
    assert list(frame.columns) == GRADIENT_COLUMNS
    expected = gradual_unfreezing_schedule(2, num_training_steps=6, unfreeze_every=2).set_index("step")
    for step, rows in frame[frame.metric == "grad_norm"].groupby("step"):
        # Gradients exist exactly for the layers the schedule has unfrozen at that step.
        lowest = expected.loc[step, "trainable_from_layer"]
        assert sorted(rows["layer"]) == list(range(lowest, 3)), step
    assert (frame["value"] > 0).all() and np.isfinite(frame["value"]).all()
    assert set(frame.metric) == {"grad_norm", "update_ratio"} and frame["step"].max() == 5
    assert all(p.requires_grad for p in model.parameters())  # everything trainable again afterwards


def test_gradient_stats_are_recorded_only_every_n_steps(tiny_dataset):
    model, tokenizer = load_model(SPEC, num_labels=2)
    stats = GradientStatsCallback(every=3)
    config = TrainConfig(max_steps=7, batch_size=8, max_length=32, progress=False)
    fine_tune(model, tokenizer, tiny_dataset, config, callbacks=[stats])
    assert sorted(stats.frame()["step"].unique()) == [0, 3, 6]
    assert sorted(stats.frame()["layer"].unique()) == [-1, 0, 1, 2]


def test_a_huge_learning_rate_is_reported_diverged_and_stops_training(tiny_dataset):
    model, tokenizer = load_model(SPEC, num_labels=2)
    guard = DivergenceCallback()
    config = TrainConfig(max_steps=40, batch_size=8, learning_rate=10.0, logging_steps=1, max_length=32,
                         progress=False)
    with pytest.warns(RuntimeWarning, match="Training stopped at step"):
        result = fine_tune(model, tokenizer, tiny_dataset, config, callbacks=[guard])
    assert guard.result["diverged"] and result.global_step < 40
    verdict = detect_divergence(result.history)
    assert verdict["diverged"] and verdict["step"] <= guard.result["step"]


def test_detect_divergence_known_answers():
    def history(losses):
        return pd.DataFrame({"step": range(1, len(losses) + 1), "metric": "loss", "value": losses})

    assert detect_divergence(history([0.7, 0.6, 0.5])) == {"diverged": False, "step": None, "reason": None}
    assert detect_divergence(history([0.7, 0.6, math.inf]))["step"] == 3
    exploding = detect_divergence(history([0.5, 1.9, 2.1, 9.0]))
    assert exploding["step"] == 3 and "4 x initial loss 0.5" in exploding["reason"]


def test_detect_plateaus_known_answer():
    values = [1.0, 0.8, 0.79, 0.795, 0.80, 0.5, 0.5, 0.5]
    history = pd.DataFrame({"step": range(1, 9), "metric": "eval_loss", "value": values})
    assert detect_plateaus(history, patience=2, min_delta=0.05) == [
        {"start_step": 2, "end_step": 5, "best": 0.8, "n_evaluations": 3},
        {"start_step": 6, "end_step": 8, "best": 0.5, "n_evaluations": 2}]
    accuracy = history.assign(metric="eval_accuracy", value=[1 - v for v in values])
    assert len(detect_plateaus(accuracy, metric="eval_accuracy", patience=2, min_delta=0.05, mode="max")) == 2
    with pytest.warns(UserWarning, match="no 'eval_f1' rows"):
        assert detect_plateaus(history, metric="eval_f1") == []


def test_range_test_suggests_a_rate_in_range_and_restores_weights(tiny_dataset):
    model, tokenizer = load_model(SPEC, num_labels=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = lr_range_test(model, tokenizer, tiny_dataset, min_lr=1e-5, max_lr=10.0, num_steps=30, batch_size=8,
                           max_length=32)
    frame = result.frame
    assert list(frame.columns) == RANGE_TEST_COLUMNS and 2 <= len(frame) <= 30
    assert frame["lr"].iloc[0] == pytest.approx(1e-5)
    assert np.all(np.diff(np.log(frame["lr"])) == pytest.approx(math.log(1e6) / 29))
    assert 1e-5 <= result.suggestions["steepest"] <= 10.0
    assert "upper bound" in result.caveat
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())
    again = lr_range_test(model, tokenizer, tiny_dataset, min_lr=1e-5, max_lr=10.0, num_steps=30, batch_size=8,
                          max_length=32)
    pd.testing.assert_frame_equal(frame, again.frame)  # same seed, same sweep
    assert plot_range_test(result).axes[0].get_xscale() == "log"


def test_range_test_refuses_an_empty_sweep(tiny_dataset):
    model, tokenizer = load_model(SPEC, num_labels=2)
    with pytest.raises(ParameterError, match="'max_lr' parameter of lr_range_test .* Got 1e-08 instead"):
        lr_range_test(model, tokenizer, tiny_dataset, min_lr=1e-7, max_lr=1e-8)
