"""workbench.training: HF Trainer driven from one config, tidy history, reproducibility."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import TrainerCallback, TrainingArguments

from workbench import hardware
from workbench.errors import DataError, ParameterError
from workbench.models import load_model
from workbench.training import HISTORY_COLUMNS, TrainConfig, _precision_arguments, fine_tune, predict_logits

SPEC = "tiny:num_layers=1,hidden_size=32,num_heads=2"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _config(**overrides) -> TrainConfig:
    return TrainConfig(**{"learning_rate": 1e-3, "batch_size": 8, "logging_steps": 1, "max_length": 32,
                          "progress": False, **overrides})


def _train(dataset, **overrides):
    config = _config(**overrides)
    model, tokenizer = load_model(SPEC, num_labels=2, seed=config.seed)
    return fine_tune(model, tokenizer, dataset, config)


def test_history_is_tidy_and_the_learning_rate_follows_the_linear_schedule(tiny_dataset):
    result = _train(tiny_dataset, max_steps=6, learning_rate=1e-3)
    history = result.history
    assert list(history.columns) == HISTORY_COLUMNS
    assert {"loss", "grad_norm", "lr_group_0", "lr_group_1", "eval_accuracy", "eval_macro_f1"} <= set(history.metric)
    lrs = history[history.metric == "lr_group_0"].set_index("step")["value"]
    # Linear decay without warmup: the k-th step (1-based) of T uses lr * (T - k + 1) / T.
    expected = {k: 1e-3 * (6 - k + 1) / 6 for k in range(1, 7)}
    assert lrs.to_dict() == pytest.approx(expected)
    # Two groups (with and without weight decay) share one schedule here.
    assert history[history.metric == "lr_group_1"]["value"].tolist() == pytest.approx(lrs.tolist())
    assert result.global_step == 6


def test_same_seed_same_metrics_and_different_seed_differs(tiny_dataset):
    a = _train(tiny_dataset, max_steps=6, seed=3)
    b = _train(tiny_dataset, max_steps=6, seed=3)
    c = _train(tiny_dataset, max_steps=6, seed=4)
    pd.testing.assert_frame_equal(a.history, b.history)
    losses = [r.history.query("metric == 'loss'")["value"].to_numpy() for r in (a, c)]
    assert not np.allclose(*losses)


def test_learns_an_obvious_signal_and_restores_the_best_checkpoint(tiny_dataset):
    result = _train(tiny_dataset, num_epochs=8.0, learning_rate=3e-3)
    evals = result.history.query("metric == 'eval_accuracy'")["value"]
    assert result.best_metric == evals.max() == 1.0
    metrics = result.evaluate(tiny_dataset["test"], n_resamples=200)
    assert metrics["accuracy"] == 1.0
    assert len(evals) == 8  # one evaluation per epoch


def test_gradient_accumulation_counts_optimizer_steps(tiny_dataset):
    # 24 examples, batch 4, accumulate 3 -> 2 optimizer steps per epoch.
    result = _train(tiny_dataset, num_epochs=2.0, batch_size=4, gradient_accumulation_steps=3)
    assert result.global_step == 4


def test_accumulated_micro_batches_log_and_train_like_one_batch(tiny_dataset):
    # Dropout off and the same data order: 4 micro-batches of 2 must equal batches of 8 (float noise aside).
    # Trainer alone would skip its division by the accumulation steps for these models (4x the loss).
    runs = []
    for batch_size, accumulate in ((8, 1), (2, 4)):
        config = TrainConfig(max_steps=3, batch_size=batch_size, gradient_accumulation_steps=accumulate,
                             learning_rate=1e-2, logging_steps=1, max_length=32, progress=False)
        model, tokenizer = load_model(f"{SPEC},dropout=0", num_labels=2)
        runs.append(fine_tune(model, tokenizer, tiny_dataset, config).history)
    for metric in ("loss", "grad_norm", "eval_loss"):
        one, accumulated = (run.loc[run.metric == metric, "value"].to_numpy() for run in runs)
        assert len(one) == (1 if metric == "eval_loss" else 3)
        assert accumulated == pytest.approx(one, rel=1e-4), metric


def test_early_stopping_stops_before_max_steps(tiny_dataset):
    # A learning rate this small cannot improve accuracy, so patience 1 ends the run at the 2nd evaluation.
    result = _train(tiny_dataset, max_steps=30, eval_steps=2, learning_rate=1e-12, early_stopping_patience=1)
    assert result.global_step == 4


def test_warmup_ratio_is_a_fraction_of_steps(tiny_dataset):
    result = _train(tiny_dataset, max_steps=10, warmup_ratio=0.3, lr_scheduler_type="constant_with_warmup")
    lrs = result.history.query("metric == 'lr_group_0'").set_index("step")["value"]
    warmup = math.ceil(10 * 0.3)
    assert lrs[1] == pytest.approx(0.0)  # the first step uses the warmup's starting rate
    assert lrs[warmup + 1] == pytest.approx(1e-3) and lrs[10] == pytest.approx(1e-3)


def test_predict_logits_shape_and_empty_input(tiny_dataset):
    model, tokenizer = load_model(SPEC, num_labels=2)
    assert predict_logits(model, tokenizer, tiny_dataset["test"]["text"], progress=False).shape == (8, 2)
    assert predict_logits(model, tokenizer, [], progress=False).shape == (0, 2)


def _simulate(monkeypatch, *, cpu_bf16: bool, cuda: bool = False, cuda_bf16: bool = False) -> None:
    """Make the hardware probes answer as a machine with (or without) native bf16 would."""
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: cpu_bf16)
    monkeypatch.setattr(hardware, "cuda_available", lambda: cuda)
    monkeypatch.setattr(hardware, "cuda_bf16_available", lambda: cuda and cuda_bf16)


def _spy_training_arguments(monkeypatch) -> list:
    """Collect every TrainingArguments built (patched on the class: transformers may swap its lazy module)."""
    built: list = []
    post_init = TrainingArguments.__post_init__

    def spy(self):
        post_init(self)
        built.append(self)

    monkeypatch.setattr(TrainingArguments, "__post_init__", spy)
    return built


def _linear_output_dtypes(model) -> set:
    """Dtypes the model's first Linear layer outputs during training (bfloat16 under CPU autocast)."""
    dtypes: set = set()
    linear = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
    linear.register_forward_hook(lambda module, args, output: dtypes.add(output.dtype) if module.training else None)
    return dtypes


@pytest.mark.parametrize("cpu_bf16", [True, False], ids=["bf16-cpu", "avx2-cpu"])
def test_bf16_auto_trains_in_fp32_on_every_cpu(monkeypatch, tiny_dataset, cpu_bf16):
    _simulate(monkeypatch, cpu_bf16=cpu_bf16)
    built = _spy_training_arguments(monkeypatch)
    model, tokenizer = load_model(SPEC, num_labels=2)
    dtypes = _linear_output_dtypes(model)
    result = fine_tune(model, tokenizer, tiny_dataset, TrainConfig(max_steps=2, batch_size=8, progress=False))
    assert result.bf16 is False and [(args.bf16, args.use_cpu) for args in built] == [(False, False)]
    assert dtypes == {torch.float32}


@pytest.mark.parametrize("cpu_bf16", [True, False])
def test_bf16_auto_uses_bf16_on_a_cuda_gpu_with_it_and_fp32_on_one_without(monkeypatch, cpu_bf16):
    _simulate(monkeypatch, cpu_bf16=cpu_bf16, cuda=True, cuda_bf16=True)
    assert _precision_arguments("auto") == _precision_arguments(True) == {"bf16": True}  # on the GPU, not the CPU
    _simulate(monkeypatch, cpu_bf16=cpu_bf16, cuda=True, cuda_bf16=False)
    assert _precision_arguments("auto") == {"bf16": False}
    with pytest.raises(ParameterError, match=r"'bf16' parameter of TrainConfig must be False or 'auto' .*"
                                             r"a CUDA GPU without bf16.*Got True instead"):
        _precision_arguments(True)


def test_bf16_true_on_a_bf16_cpu_trains_in_bf16_on_the_cpu(monkeypatch, tiny_dataset):
    # Only the probe is simulated: on a CPU without native bf16 this really trains too, emulated (slower).
    _simulate(monkeypatch, cpu_bf16=True)
    built = _spy_training_arguments(monkeypatch)
    model, tokenizer = load_model(SPEC, num_labels=2)
    before = model.classifier.weight.detach().clone()
    dtypes = _linear_output_dtypes(model)
    result = fine_tune(model, tokenizer, tiny_dataset, _config(max_steps=3, bf16=True))
    assert [(args.bf16, args.use_cpu) for args in built] == [(True, True)]
    assert result.bf16 is True and result.global_step == 3
    assert dtypes == {torch.bfloat16}  # autocast really ran the layers in bf16
    losses = result.history.query("metric == 'loss'")["value"]
    assert len(losses) == 3 and np.isfinite(losses).all()
    assert not torch.equal(model.classifier.weight.detach(), before)  # the optimiser really stepped


def test_bf16_true_refused_on_a_cpu_without_native_bf16(monkeypatch, tiny_dataset):
    _simulate(monkeypatch, cpu_bf16=False)
    with pytest.raises(ParameterError, match=r"^The 'bf16' parameter of TrainConfig must be False or 'auto' on "
                                             r"hardware without native bf16 \(here a CPU without AMX or "
                                             r"AVX512-BF16\). Got True instead. Use bf16='auto'") as error:
        _train(tiny_dataset, max_steps=1, bf16=True)
    assert "\n" not in str(error.value)


def test_bf16_false_trains_in_fp32_whatever_the_hardware(monkeypatch):
    _simulate(monkeypatch, cpu_bf16=True, cuda=True, cuda_bf16=True)
    assert _precision_arguments(False) == {"bf16": False}


@pytest.mark.parametrize("kwargs,match", [
    (dict(learning_rate=-1.0), r"'learning_rate' parameter of TrainConfig must be a finite number in \(0.0, 10.0\]"),
    (dict(lr_scheduler_type="cosine_annealing"), r"'lr_scheduler_type' .* one of 'linear'.* Got 'cosine_annealing'"),
    (dict(max_steps=0), r"'max_steps' parameter of TrainConfig must be -1 or >= 1. Got 0"),
    (dict(batch_size=0), r"'batch_size' parameter of TrainConfig must be an int >= 1. Got 0"),
    (dict(warmup_ratio=1.5), r"'warmup_ratio' .* \[0.0, 1.0\). Got 1.5"),
    (dict(metric_for_best_model="f1"), r"'metric_for_best_model' .* one of 'accuracy', 'macro_f1', 'loss'"),
    (dict(bf16="yes"), r"'bf16' .* one of 'auto', True, False. Got 'yes'"),
])
def test_bad_train_config(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        TrainConfig(**kwargs)


def test_missing_validation_split(tiny_dataset):
    model, tokenizer = load_model(SPEC, num_labels=2)
    del tiny_dataset["validation"]
    with pytest.raises(DataError, match=r"must have a 'validation' split. Got splits \['train', 'test'\]"):
        fine_tune(model, tokenizer, tiny_dataset, TrainConfig(max_steps=1, progress=False))


def test_llrd_parameter_groups_reach_the_optimizer_and_follow_the_schedule(tiny_dataset):
    from workbench.schedules import llrd_parameter_groups

    model, tokenizer = load_model("tiny:num_layers=2,hidden_size=32,num_heads=2", num_labels=2)
    groups, factors = llrd_parameter_groups(model, peak_lr=1e-3, decay=0.5, weight_decay=0.01)
    config = TrainConfig(max_steps=6, batch_size=8, learning_rate=1e-3, warmup_ratio=0.5, logging_steps=1,
                         max_length=32, progress=False)
    result = fine_tune(model, tokenizer, tiny_dataset, config, parameter_groups=groups)
    lrs = result.history[result.history.metric.str.startswith("lr_group_")]
    wide = lrs.pivot(index="step", columns="metric", values="value")
    assert wide.shape == (6, len(factors))
    # One linear warmup-then-decay schedule scales every group's own peak: ratios stay the LLRD factors.
    schedule = {k: 1e-3 * min(k - 1, 6 - k + 1) / 3 for k in range(1, 7)}  # warmup 3 steps, then linear decay
    for i, factor in enumerate(factors["factor"]):
        assert wide[f"lr_group_{i}"].to_dict() == pytest.approx({k: v * factor for k, v in schedule.items()})
    assert sorted(set(factors["factor"])) == [0.125, 0.25, 0.5, 1.0]


def test_parameter_groups_keep_their_weight_decay_and_default_to_the_config(tiny_dataset):
    model, tokenizer = load_model(SPEC, num_labels=2)
    head = [p for n, p in model.named_parameters() if n.startswith("classifier")]
    rest = [p for n, p in model.named_parameters() if not n.startswith("classifier")]
    seen = {}

    class Probe(TrainerCallback):
        def on_train_begin(self, args, state, control, optimizer=None, **kwargs):
            seen.update(groups=[(g["lr"], g["weight_decay"]) for g in optimizer.param_groups])

    config = TrainConfig(max_steps=1, batch_size=8, learning_rate=1e-3, weight_decay=0.1, max_length=32,
                         lr_scheduler_type="constant", progress=False)
    fine_tune(model, tokenizer, tiny_dataset, config, callbacks=[Probe()],
              parameter_groups=[{"params": head, "lr": 5e-3, "weight_decay": 0.0}, {"params": rest}])
    assert seen["groups"] == [(5e-3, 0.0), (1e-3, 0.1)]


@pytest.mark.parametrize("groups, match", [
    ("all", r"'parameter_groups' parameter of fine_tune must be of type list or tuple. Got 'all'"),
    ([], r"'parameter_groups' .* non-empty list of dicts.* Got \[\] instead"),
    ([{"lr": 1e-3}], r"non-empty 'params' list. Got 1 groups of type dict instead"),
    ("twice", r"must hold each parameter in one group only. Got a parameter again in group '\?' instead"),
    ("foreign", r"must hold parameters of the model being trained"),
])
def test_bad_parameter_groups(tiny_dataset, groups, match):
    model, tokenizer = load_model(SPEC, num_labels=2)
    params = list(model.parameters())
    if groups == "twice":
        groups = [{"params": params}, {"params": params[:1]}]
    elif groups == "foreign":
        groups = [{"params": list(load_model(SPEC, num_labels=2)[0].parameters())}]
    with pytest.raises(ParameterError, match=match):
        fine_tune(model, tokenizer, tiny_dataset, TrainConfig(max_steps=1, progress=False), parameter_groups=groups)


def test_scheduler_kwargs_reach_the_scheduler(tiny_dataset):
    result = _train(tiny_dataset, max_steps=6, lr_scheduler_type="cosine_with_min_lr",
                    lr_scheduler_kwargs={"min_lr_rate": 0.5})
    lrs = result.history.query("metric == 'lr_group_0'").set_index("step")["value"]
    # Cosine from 1e-3 down to min_lr_rate * 1e-3 = 5e-4: the last of 6 steps sits just above the floor.
    assert lrs[1] == pytest.approx(1e-3)
    assert 5e-4 < lrs[6] < 5.5e-4
    with pytest.raises(ParameterError, match=r"'lr_scheduler_kwargs' parameter of TrainConfig must be of type Mapping"):
        TrainConfig(lr_scheduler_kwargs=[("min_lr_rate", 0.5)])
