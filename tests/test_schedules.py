"""workbench.schedules: real schedulers against closed forms, LLRD, unfreezing, range test, divergence."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.errors import DataError, ParameterError
from workbench.models import load_model
from workbench.schedules import (COMPARISON_COLUMNS, GRADIENT_COLUMNS, LLRD_COLUMNS, PLATEAU_COLUMNS,
                                 RANGE_TEST_COLUMNS, RUN_COLUMNS, SCHEDULE_COLUMNS, SCHEDULES, SUMMARY_COLUMNS,
                                 DivergenceCallback, GradientStatsCallback, GradualUnfreezing, compare_schedules,
                                 curve_difference, detect_divergence, detect_plateaus, gradual_unfreezing_schedule,
                                 llrd_parameter_groups, lr_range_test, planned_rates, plot_comparison_curves,
                                 plot_gradient_heatmap, plot_range_test, plot_schedules, recommend_schedule,
                                 schedule_frame, schedule_frames)
from workbench.schedules.range_test import _suggestions  # the range test's read-out, checked on a known curve
from workbench.training import TrainConfig, fine_tune

SPEC = "tiny:num_layers=2,hidden_size=32,num_heads=2"


pytestmark = pytest.mark.usefixtures("one_torch_thread")

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
    assert "no upper bound" in result.caveat and "short real run" in result.caveat
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


# ------------------------------------------------------------------------------ training comparison
def _review_dataset(n_train: int = 64, n_validation: int = 32):
    """Two classes told apart by a pair of words among 4-20 filler words, so batches pad differently."""
    import datasets

    rng = np.random.default_rng(0)
    cues = ("great tasty love fresh perfect yummy".split(), "awful stale never broken bland sour".split())
    filler = "the a product box item this was it and of".split()
    texts, labels = [], []
    for i in range(n_train + n_validation):
        words = [*rng.choice(filler, int(rng.integers(4, 20))), *rng.choice(cues[i % 2], 2)]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(i % 2)
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["great", "other"])})

    def split(start, stop):
        return datasets.Dataset.from_dict({"text": texts[start:stop], "label": labels[start:stop]}, features=features)

    return datasets.DatasetDict(train=split(0, n_train), validation=split(n_train, n_train + n_validation))


COMPARED = {"constant": {}, "linear": {"warmup_ratio": 0.25},
            "huge": {"learning_rate": 10.0, "lr_scheduler_type": "constant"}, "llrd": {"llrd_decay": 0.5}}


@pytest.fixture(scope="module")
def comparison():
    base = TrainConfig(max_steps=8, batch_size=8, eval_steps=2, logging_steps=1, learning_rate=3e-3, max_length=32)
    return compare_schedules(SPEC, _review_dataset(), COMPARED, base=base, seeds=[0, 1], gradient_stats_every=2,
                             progress=False)


def test_comparison_frames_are_tidy_and_complete(comparison):
    assert list(comparison.history.columns) == COMPARISON_COLUMNS
    assert list(comparison.runs.columns) == RUN_COLUMNS and len(comparison.runs) == 8
    assert list(comparison.summary.columns) == SUMMARY_COLUMNS
    assert comparison.summary["schedule"].tolist() == list(COMPARED)
    assert list(comparison.plateaus.columns) == PLATEAU_COLUMNS
    assert (comparison.planned.groupby("schedule").size() == 8).all()
    ok = comparison.runs[comparison.runs.schedule != "huge"]
    assert (ok.status == "ok").all() and (ok.steps == 8).all() and not ok.diverged.any()
    assert ok.best_val_accuracy.between(0, 1).all() and np.isfinite(ok.final_val_loss).all()


def test_a_huge_learning_rate_is_stopped_and_reported_not_raised(comparison):
    huge = comparison.runs[comparison.runs.schedule == "huge"]
    assert (huge.status == "diverged").all() and huge.diverged.all() and (huge.steps < 8).all()
    assert huge.reason.str.contains("loss|grad_norm").all()
    summary = comparison.summary.set_index("schedule")
    assert summary.loc["huge", "diverged"] and summary.loc["huge", "n_diverged"] == 2
    assert not summary.drop(index="huge")["diverged"].any()
    verdict = recommend_schedule(comparison.summary)
    assert verdict["schedule"] in {"constant", "linear", "llrd"} and verdict["excluded"] == ["huge"]


def test_every_schedule_starts_from_the_same_weights_and_batches(comparison):
    first = comparison.history.query("metric == 'loss' and step == 1").set_index(["seed", "schedule"])["value"]
    # The first logged loss is measured before any update: one value per seed whatever the schedule.
    for seed in (0, 1):
        assert first[seed].to_numpy() == pytest.approx(np.full(4, first[seed].iloc[0]), rel=1e-6)
    assert first[0].iloc[0] != pytest.approx(first[1].iloc[0], rel=1e-6)


def test_summary_and_steps_to_target_follow_the_runs(comparison):
    runs, history = comparison.runs, comparison.history
    labels = np.asarray(_review_dataset()["validation"]["label"])
    majority = np.bincount(labels).max() / len(labels)
    best = history.query("metric == 'eval_accuracy'")["value"].max()
    assert comparison.target_accuracy == pytest.approx(majority + 0.5 * (best - majority))
    for run in runs.itertuples():
        accuracy = history.query("metric == 'eval_accuracy' and schedule == @run.schedule and seed == @run.seed")
        reached = accuracy[accuracy.value >= comparison.target_accuracy].step
        assert run.steps_to_target == (reached.min() if len(reached) else pytest.approx(math.nan, nan_ok=True))
    summary = comparison.summary.set_index("schedule")
    for name, rows in runs.groupby("schedule"):
        assert summary.loc[name, "best_val_accuracy"] == pytest.approx(rows.best_val_accuracy.mean(), nan_ok=True)
        assert summary.loc[name, "seed_std"] == pytest.approx(rows.best_val_accuracy.std(ddof=1), nan_ok=True)


def test_gradient_statistics_are_recorded_per_layer_on_trainer_steps(comparison):
    stats = comparison.history.query("metric == 'layer_grad_norm' and schedule == 'linear' and seed == 0")
    assert sorted(stats.step.unique()) == [1, 3, 5, 7]  # updates 0, 2, 4, 6, counted as done like Trainer's log
    assert sorted(stats.layer.unique()) == [-1, 0, 1, 2]
    ratios = comparison.history.query("metric == 'layer_update_ratio' and schedule == 'linear'")["value"]
    assert (stats.value > 0).all() and ratios.between(0, 1).all() and (ratios > 0).any()
    fig = plot_gradient_heatmap(comparison.history)
    assert [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left")] == list(COMPARED)
    assert plot_gradient_heatmap(comparison.history, metric="layer_update_ratio").axes


def test_llrd_spec_trains_with_one_factor_per_level(comparison):
    rates = comparison.history.query("schedule == 'llrd' and seed == 0 and metric.str.startswith('lr_group_')")
    wide = rates.pivot(index="step", columns="metric", values="value")
    factors = (wide.T / wide.max(axis=1)).T.iloc[0].round(6)
    assert sorted(set(factors)) == [0.125, 0.25, 0.5, 1.0]  # embeddings, layer 0, layer 1, head
    assert len(wide.columns) == 8  # four levels, each with and without weight decay


def test_comparison_plots_draw_one_line_and_band_per_schedule(comparison):
    fig = plot_comparison_curves(comparison.history, band="std")
    assert [ax.get_title() for ax in fig.axes] == ["loss", "eval_loss", "eval_accuracy"]
    assert len(fig.axes[2].lines) == 4 and len(fig.axes[2].collections) == 4
    assert len(plot_schedules(comparison.planned).axes[0].lines) == 4


def test_accumulating_4x8_tracks_a_batch_of_32():
    """Same data order, dropout off: 4 micro-batches of 8 must train like one batch of 32.

    Tolerance 1e-4 relative on every logged training loss and evaluation loss. Only float summation
    order differs (four 8-row means averaged vs one 32-row mean, padding to 8- vs 32-row maxima, which
    the attention mask zeroes exactly); measured differences are below 1e-6. Trainer's own gradient-
    accumulation loss scaling, when it goes wrong, is off by the factor 4 (300%).
    """
    base = TrainConfig(max_steps=16, learning_rate=1e-2, max_length=32, eval_steps=4, logging_steps=1,
                       warmup_ratio=0.1)
    specs = {"1x32": {"batch_size": 32}, "4x8": {"batch_size": 8, "gradient_accumulation_steps": 4}}
    result = compare_schedules(f"{SPEC},dropout=0", _review_dataset(), specs, base=base, seeds=[0], progress=False)
    for metric in ("loss", "eval_loss"):
        gap = curve_difference(result.history, "4x8", "1x32", metric=metric)
        assert len(gap) == (16 if metric == "loss" else 4)
        assert gap["rel_diff"].max() < 1e-4, gap
    loss = curve_difference(result.history, "4x8", "1x32")["second"]
    assert loss.iloc[-1] < 0.9 * loss.iloc[0]  # it really trained, clipping included


def test_a_failing_run_is_reported_and_the_others_go_on(monkeypatch):
    import workbench.training

    real = workbench.training.fine_tune

    def flaky(model, tokenizer, dataset, config, **kwargs):
        if config.learning_rate == 2e-3:
            raise RuntimeError("out of memory\nlong traceback")
        return real(model, tokenizer, dataset, config, **kwargs)

    monkeypatch.setattr(workbench.training, "fine_tune", flaky)
    base = TrainConfig(max_steps=2, batch_size=8, eval_steps=1, max_length=16)
    result = compare_schedules(SPEC, _review_dataset(16, 8), {"fails": {"learning_rate": 2e-3}, "works": {}},
                               base=base, seeds=[0], progress=False)
    runs = result.runs.set_index("schedule")
    assert runs.loc["fails", "status"] == "failed" and runs.loc["fails", "reason"] == "out of memory"
    assert runs.loc["works", "status"] == "ok" and runs.loc["works", "steps"] == 2
    assert result.summary.set_index("schedule").loc["fails", "n_failed"] == 1
    # The failed run logged nothing, and the curves of the others still plot (numeric values, no empty run).
    assert result.history["value"].dtype == float and "fails" not in set(result.history["schedule"])
    assert plot_comparison_curves(result.history, band="minmax").axes


@pytest.mark.parametrize("schedules, kwargs, match", [
    ({"a": {"warmup_ratio": 1.0}}, {}, r"In schedules\['a'\] of compare_schedules: The 'warmup_ratio' parameter .* "
                                       r"\[0.0, 1.0\). Got 1.0"),
    ({"a": {"learning_rate": 0.0}}, {}, r"schedules\['a'\].*'learning_rate' .* \(0.0, 10.0\]. Got 0.0"),
    ({"a": {"learning_rate": -1e-3}}, {}, r"'learning_rate' .* Got -0.001 instead"),
    ({"a": {"lr_scheduler_type": "cosin"}}, {}, r"'lr_scheduler_type' parameter of TrainConfig must be one of"),
    ({"a": {"llrd_decay": 0.0}}, {}, r"'llrd_decay' parameter of compare_schedules must be .* \(0.0, 1.0\]. Got 0.0"),
    ({"a": {"llrd_decay": 1.5}}, {}, r"'llrd_decay' .* Got 1.5 instead. 1 gives every layer the same rate"),
    ({"a": {"lr_scheduler_type": "constant", "warmup_ratio": 0.1}}, {}, r"must be 0 for schedule 'constant'"),
    ({"a": {"lr_scheduler_type": "warmup_stable_decay", "lr_scheduler_kwargs": {"num_decay_steps": 20}}}, {},
     r"'num_decay_steps' parameter .* in \[0, 10\]. Got 20"),
    ({"a": {"lr_scheduler_type": "cosine_with_min_lr"}}, {},
     r"scheduler options .* suit schedule 'cosine_with_min_lr'"),
    ({"a": {"seed": 3}}, {}, r"keys of schedules\['a'\] in compare_schedules must be among .*llrd_decay.* Got 'seed'"),
    ({"a": []}, {}, r"schedules\['a'\]\" parameter of compare_schedules must be of type Mapping. Got \[\]"),
    ({}, {}, r"'schedules' parameter of compare_schedules must name at least one spec"),
    ({"a": {}}, {"seeds": []}, r"'seeds' parameter .* at least one seed, each once. Got \[\]"),
    ({"a": {}}, {"seeds": [0, 0]}, r"'seeds' .* Got \[0, 0\]"),
    ({"a": {}}, {"base": TrainConfig()}, r"'base' parameter .* must set max_steps >= 1 .* Got max_steps=-1"),
    ({"a": {}}, {"gradient_stats_every": 0}, r"'gradient_stats_every' .* int >= 1. Got 0"),
    ({"a": {}}, {"target_accuracy": 1.5}, r"'target_accuracy' .* \[0.0, 1.0\]. Got 1.5"),
    ({"a": {}}, {"model": "tiny:num_layer=2"}, r"'model' parameter of load_model must look like 'tiny:key=value"),
])
def test_bad_comparison_input_is_refused_before_any_training(schedules, kwargs, match, monkeypatch):
    import workbench.training

    monkeypatch.setattr(workbench.training, "fine_tune", lambda *a, **k: pytest.fail("trained despite bad input"))
    options = {"model": SPEC, "base": TrainConfig(max_steps=10), **kwargs}
    with pytest.raises(ParameterError, match=match) as info:
        compare_schedules(options.pop("model"), _review_dataset(8, 4), schedules, progress=False, **options)
    assert "\n" not in str(info.value)


def test_spec_names_pick_the_scheduler_only_when_they_name_one():
    base = TrainConfig(max_steps=4, learning_rate=1.0, lr_scheduler_type="constant")
    planned = planned_rates({"cosine": {}, "my_cosine": {}, "other": {"lr_scheduler_type": "linear"}}, base=base)
    lr = planned.pivot(index="step", columns="schedule", values="lr")
    assert lr["my_cosine"].tolist() == [1.0] * 4  # not a scheduler name: base's constant schedule
    assert lr["cosine"].tolist() == pytest.approx([1.0, 0.8535534, 0.5, 0.1464466])
    assert lr["other"].tolist() == pytest.approx([1.0, 0.75, 0.5, 0.25])


def test_comparison_needs_train_and_validation_splits():
    data = _review_dataset(8, 4)
    del data["validation"]
    with pytest.raises(DataError, match="'dataset' parameter of compare_schedules must have non-empty 'train' and "
                                        "'validation' splits"):
        compare_schedules(SPEC, data, {"a": {}}, base=TrainConfig(max_steps=2), progress=False)


def test_recommendation_rule_and_curve_difference_known_answers():
    summary = pd.DataFrame({"schedule": ["a", "b", "c", "d"], "best_val_accuracy": [0.80, 0.79, 0.70, 0.95],
                            "final_val_loss": [0.50, 0.45, 0.60, math.nan], "seed_std": [0.02, 0.01, 0.01, 0.0],
                            "diverged": [False, False, False, True]})
    verdict = recommend_schedule(summary)
    assert verdict["schedule"] == "a" and verdict["tied"] == ["a", "b"] and verdict["excluded"] == ["d"]
    assert not verdict["clear"] and verdict["margin"] == pytest.approx(0.01) and verdict["tolerance"] == 0.02
    clear = recommend_schedule(summary.assign(seed_std=0.001))
    assert clear["clear"] and clear["tied"] == ["a"] and clear["tolerance"] == 0.005
    noisy_runner_up = recommend_schedule(summary.assign(seed_std=[0.001, 0.02, 0.001, 0.0]))
    assert noisy_runner_up["tied"] == ["a", "b"]  # b's own seed spread covers the gap
    tie = recommend_schedule(summary.assign(best_val_accuracy=[0.8, 0.8, 0.7, 0.9]))
    assert tie["schedule"] == "b"  # equal accuracy: the lower final validation loss wins
    assert recommend_schedule(summary.assign(diverged=True))["schedule"] is None
    with pytest.raises(ParameterError, match=r"'first' parameter of curve_difference must be one of 'a'. Got 'z'"):
        curve_difference(pd.DataFrame({"schedule": ["a"], "step": [1], "metric": ["loss"], "value": [1.0]}), "z", "a")


def test_empty_gradient_statistics_warn_and_still_plot():
    empty = pd.DataFrame(columns=COMPARISON_COLUMNS)
    with pytest.warns(UserWarning, match="no 'layer_grad_norm' rows; record them with gradient_stats_every"):
        assert plot_gradient_heatmap(empty).axes


def test_steepest_descent_is_searched_before_the_loss_blows_up():
    # Flat, a steep fall around 1e-3, the minimum at 1e-2, then divergence with one steeper noisy dip.
    lrs = np.logspace(-5, 0, 11)
    smoothed = [0.70, 0.70, 0.69, 0.69, 0.60, 0.45, 0.40, 1.50, 2.50, 0.90, 3.00]
    frame = pd.DataFrame({"step": range(11), "lr": lrs, "loss": smoothed, "smoothed_loss": smoothed})
    suggestions = _suggestions(frame)
    assert suggestions["steepest"] == pytest.approx(lrs[4])  # np.gradient's central difference peaks there
    assert suggestions["min_loss_div_10"] == pytest.approx(lrs[6] / 10)
    rising = frame.assign(smoothed_loss=np.linspace(0.7, 3.0, 11))
    assert _suggestions(rising) == {"steepest": None, "min_loss_div_10": pytest.approx(1e-6),
                                    "valley": pytest.approx(lrs[0])}
