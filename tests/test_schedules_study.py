"""workbench.schedules: what is plotted trains, the sweep and choice are validation-only, the verdict is on test."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.errors import DataError, ParameterError
from workbench.schedules import (
    GradientStatsCallback,
    compare_schedules,
    run_schedule_study,
    schedule_findings,
    schedule_frame,
    schedule_verdicts,
    select_specs,
    torch_scheduler,
)
from workbench.training import TrainConfig, fine_tune
from workbench.verdicts import VERDICT_KEYS

SPEC = "tiny:num_layers=1,hidden_size=32,num_heads=2"


def _reviews(n_train: int = 64, n_validation: int = 32, n_test: int = 40, flip_test: bool = False):
    """Two classes told apart by a pair of cue words among filler words; train, validation and test splits."""
    import datasets

    rng = np.random.default_rng(0)
    cues = (["great", "tasty", "love", "fresh"], ["awful", "stale", "never", "bland"])
    filler = ["the", "a", "product", "box", "item", "this", "was", "it"]
    texts, labels = [], []
    for i in range(n_train + n_validation + n_test):
        words = [*rng.choice(filler, int(rng.integers(3, 10))), *rng.choice(cues[i % 2], 2)]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(i % 2)
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["great", "other"])})

    def split(start, stop, flip=False):
        part = [1 - y if flip else y for y in labels[start:stop]]
        return datasets.Dataset.from_dict({"text": texts[start:stop], "label": part}, features=features)

    a, b = n_train, n_train + n_validation
    return datasets.DatasetDict(train=split(0, a), validation=split(a, b),
                                test=split(b, b + n_test, flip=flip_test))


BASE = TrainConfig(max_steps=8, batch_size=8, eval_steps=2, logging_steps=1, learning_rate=3e-3, max_length=24,
                   warmup_ratio=0.25, progress=False, metric_for_best_model="loss")


# ------------------------------------------------------------------------------ train what is plotted
@pytest.mark.parametrize("name, kwargs", [("one_cycle", {}), ("step", {"step_size": 3, "gamma": 0.5}),
                                          ("exponential", {"gamma": 0.8}), ("cyclic", {})])
def test_torch_schedules_train_at_the_rates_they_plan(name, kwargs):
    warmup = 0.25 if name == "one_cycle" else 0.0
    spec = {name: {"warmup_ratio": warmup, "lr_scheduler_kwargs": kwargs}}
    result = compare_schedules(SPEC, _reviews(), spec, base=BASE, seeds=[0], progress=False)
    assert result.runs["status"].tolist() == ["ok"]
    used = result.history.query("metric == 'lr_group_0'").set_index("step")["value"]
    planned = schedule_frame(name, num_training_steps=8, peak_lr=3e-3, warmup_ratio=warmup, **kwargs)
    # Trainer logs after update t + 1 the rate update t used (our 0-based step t).
    expected = planned.set_index("step")["lr"].reindex(used.index - 1).to_numpy()
    assert used.to_numpy() == pytest.approx(expected, rel=1e-6)


def test_reduce_on_plateau_lowers_the_rate_after_the_given_patience():
    # torch's ReduceLROnPlateau, as Trainer steps it with the validation loss at each evaluation.
    frame = schedule_frame("reduce_lr_on_plateau", num_training_steps=6, peak_lr=1.0, losses=[1.0] * 6,
                           patience=2, factor=0.5)
    assert frame["lr"].tolist() == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5]  # the 1st loss sets the best; 3 more stall


def test_reduce_on_plateau_trains_driven_by_validation_loss():
    spec = {"rop": {"lr_scheduler_type": "reduce_lr_on_plateau", "warmup_ratio": 0.0,
                    "lr_scheduler_kwargs": {"patience": 0, "factor": 0.5}}}
    base = TrainConfig(max_steps=12, batch_size=8, eval_steps=2, logging_steps=1, learning_rate=1e-6, max_length=24,
                       progress=False)
    result = compare_schedules(SPEC, _reviews(), spec, base=base, seeds=[0], progress=False)
    assert result.configs["rop"].metric_for_best_model == "loss"
    rates = result.history.query("metric == 'lr_group_0'").sort_values("step")["value"].to_numpy()
    losses = result.history.query("metric == 'eval_loss'").sort_values("step")["value"].to_numpy()
    assert rates[0] == pytest.approx(1e-6) and np.all(np.diff(rates) <= 0)
    # With patience 0, every evaluation that fails to beat the best validation loss (by torch's relative
    # threshold 1e-4) halves the rate of the updates after it; the last evaluation has none after it.
    stalls = sum(losses[i] >= min(losses[:i]) * (1 - 1e-4) for i in range(1, len(losses) - 1))
    assert rates[-1] == pytest.approx(1e-6 * 0.5 ** stalls)


def test_reduce_on_plateau_needs_validation_loss_to_choose_checkpoints():
    with pytest.raises(ParameterError, match="'metric_for_best_model' parameter of TrainConfig must be 'loss' .* "
                                             "Got 'accuracy' instead"):
        TrainConfig(max_steps=2, lr_scheduler_type="reduce_lr_on_plateau")


def test_fine_tune_refuses_a_scheduler_factory_without_max_steps():
    with pytest.raises(ParameterError, match="'lr_scheduler' parameter of fine_tune must be a callable, with "
                                             "max_steps >= 1. Got function with max_steps=-1"):
        fine_tune(None, None, _reviews(), TrainConfig(progress=False), lr_scheduler=torch_scheduler(
            "step", peak_lr=1e-3, step_size=1))


def test_unfreezing_and_llrd_are_arms_of_the_comparison():
    specs = select_specs(["linear", "llrd", "gradual_unfreezing"], 8)
    result = compare_schedules(SPEC, _reviews(), specs, base=BASE, seeds=[0], progress=False)
    assert result.runs["status"].tolist() == ["ok"] * 3
    groups = result.history.query("schedule == 'llrd' and metric.str.startswith('lr_group_')")["metric"].nunique()
    assert groups > 2  # one group per depth (and no-decay twin), not Trainer's two


def test_select_specs_needs_the_baseline():
    with pytest.raises(ParameterError, match="'schedules' parameter of select_specs must include the baseline"):
        select_specs(["cosine"], 10)


# ------------------------------------------------------------------------------ gradient statistics
def test_update_ratio_with_plain_sgd_is_lr_times_gradient_over_weight_norm():
    torch.manual_seed(0)
    model = torch.nn.Sequential()
    model.add_module("layers", torch.nn.ModuleList([torch.nn.Linear(4, 4), torch.nn.Linear(4, 2)]))
    x = torch.randn(8, 4)
    loss = model.layers[1](model.layers[0](x)).pow(2).mean()
    loss.backward()
    lr = 0.05
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    weight = {i: float(torch.cat([p.detach().flatten() for p in model.layers[i].parameters()]).norm())
              for i in (0, 1)}
    stats, state = GradientStatsCallback(every=1), SimpleNamespace(global_step=0)
    stats.on_train_begin(None, state, None, model=model)
    stats.on_pre_optimizer_step(None, state, None, model=model)
    optimizer.step()
    stats.on_optimizer_step(None, state, None)
    frame = stats.frame().pivot(index="layer", columns="metric", values="value")
    for layer in (0, 1):
        expected = lr * frame.loc[layer, "grad_norm"] / weight[layer]
        assert frame.loc[layer, "update_ratio"] == pytest.approx(expected, rel=1e-5)


# ------------------------------------------------------------------------------ choice and verdict
def _fake_comparison(test_truth, test_preds):
    """Two seeds of three schedules with fixed validation scores and the given test predictions."""
    runs = pd.DataFrame({"schedule": ["linear", "linear", "cosine", "cosine", "step", "step"], "seed": [0, 1] * 3,
                         "status": "ok", "peak_lr": 1e-3, "val_accuracy": [0.70, 0.72, 0.80, 0.78, 0.75, 0.75],
                         "val_macro_f1": 0.5, "test_accuracy": 0.5, "test_macro_f1": 0.5, "train_seconds": 1.0,
                         "steps": 10})
    predictions = {(name, seed): {"validation": None, "test": test_preds[name]} for name, seed in
                   zip(runs["schedule"], runs["seed"])}
    return SimpleNamespace(runs=runs, predictions=predictions, labels={"test": np.asarray(test_truth)},
                           target_accuracy=0.6)


def test_verdict_has_the_full_schema_and_holm_over_the_family():
    truth = np.array([0, 1] * 100)
    preds = {"linear": np.where(np.arange(200) < 140, truth, 1 - truth), "cosine": truth, "step": truth}
    result = schedule_verdicts(_fake_comparison(truth, preds))
    verdict = result["verdict"]
    assert list(verdict) == list(VERDICT_KEYS)
    assert (verdict["choice"], verdict["baseline"], verdict["answer"]) == ("cosine", "linear", "pays off")
    assert verdict["n_comparisons"] == 2 and verdict["selected_on"] == "validation" and verdict["reported_on"] == "test"
    assert verdict["effect"]["delta"] == pytest.approx(0.3)
    assert set(verdict["cost"]) == {"train_seconds", "steps"}


def test_changing_only_the_test_labels_leaves_the_choice_alone_on_fixed_runs():
    truth = np.array([0, 1] * 50)
    preds = {"linear": truth, "cosine": 1 - truth, "step": truth}
    first = schedule_verdicts(_fake_comparison(truth, preds))
    second = schedule_verdicts(_fake_comparison(1 - truth, preds))
    assert first["choice"] == second["choice"] == "cosine"
    assert first["verdict"]["answer"] != second["verdict"]["answer"]  # the test labels do matter for the verdict


def test_changing_only_the_test_labels_leaves_sweep_and_choice_alone():
    specs = select_specs(["linear", "constant", "one_cycle"], 6)
    base = TrainConfig(max_steps=6, batch_size=8, eval_steps=2, logging_steps=2, max_length=24, warmup_ratio=0.2,
                       progress=False)
    runs = [run_schedule_study(SPEC, _reviews(flip_test=flip), specs, rates=[1e-3, 1e-2], base=base, seeds=[0])
            for flip in (False, True)]
    assert runs[0].peak_lrs == runs[1].peak_lrs
    assert runs[0].verdicts["choice"] == runs[1].verdicts["choice"]
    pd.testing.assert_series_equal(runs[0].comparison.runs["val_accuracy"], runs[1].comparison.runs["val_accuracy"])
    flipped = runs[0].comparison.runs["test_accuracy"] + runs[1].comparison.runs["test_accuracy"]
    assert flipped.to_numpy() == pytest.approx(1.0)  # the test labels really changed


def test_verdict_refuses_a_diverged_baseline_and_a_comparison_without_test():
    truth = np.array([0, 1] * 10)
    comparison = _fake_comparison(truth, {"linear": truth, "cosine": truth, "step": truth})
    comparison.runs.loc[0, "status"] = "diverged"
    with pytest.raises(DataError, match="baseline 'linear' of schedule_verdicts must train without diverging.*"
                                        "it diverged. Lower its peak"):
        schedule_verdicts(comparison)
    # A run that raised is not told to lower its rate: the message carries the run's own error.
    comparison.runs.loc[0, ["status", "reason"]] = ["failed", "RuntimeError: out of memory"]
    with pytest.raises(DataError, match="failed: RuntimeError: out of memory. Fix that error first") as error:
        schedule_verdicts(comparison)
    assert "Lower its peak" not in str(error.value)
    comparison.labels = {}
    with pytest.raises(DataError, match="has no test predictions"):
        schedule_verdicts(comparison)
    with pytest.raises(ParameterError, match="'baseline' parameter of schedule_verdicts must name a compared"):
        schedule_verdicts(comparison, baseline="nope")


def test_findings_escape_names_and_state_the_warmup_direction():
    truth = np.array([0, 1] * 100)
    preds = {"linear": np.where(np.arange(200) < 140, truth, 1 - truth), "cosine": truth, "step": truth}
    study = SimpleNamespace(verdicts=schedule_verdicts(_fake_comparison(truth, preds)),
                            peak_lrs={"<i>x</i>": 1e-3, "linear": 3e-3})
    arm = {"with_warmup": 0.8, "without_warmup": 0.6, "gain": 0.2, "peak_lr": 0.01, "diverged": ["<b>"]}
    text = schedule_findings(study, warmup={"post_ln": arm, "pre_ln": {**arm, "gain": -0.1, "diverged": []}},
                             accumulation={"tracks": False, "max_rel_diff": 0.01, "tolerance": 1e-3})
    assert "<i>" not in text and "&lt;i&gt;x&lt;/i&gt;" in text and "&lt;b&gt;" in text
    assert "post-LN encoder helps" in text and "pre-LN encoder hurts" in text and "does NOT track" in text
    assert "**pays off**" in text and not math.isnan(study.verdicts["verdict"]["p_adjusted"])
