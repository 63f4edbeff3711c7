"""The fair race, winners kept, studies that cannot be mixed: tiny MLP races on the embedded data."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from datasets import ClassLabel

from workbench.errors import ParameterError
from workbench.sweeps import (
    MLPObjective,
    baseline_config,
    best_trial,
    default_space,
    load_model_artifact,
    load_space,
    race_results,
    rescore_winners,
    run_race,
    run_sweep,
    study_winners,
    sweeps_findings,
    sweeps_summary,
    trials_frame,
    warm_start_configs,
)
from workbench.verdicts import VERDICT_KEYS

optuna.logging.set_verbosity(optuna.logging.WARNING)
SEEDS = [1000, 1001]


@pytest.fixture(scope="module")
def data():
    from workbench.data import load_dataset, subsample

    return subsample(load_dataset(max_examples=200, seed=0), split="train", n=160, seed=0)


def _race(data, **options):
    objective = MLPObjective(data, default_space("mlp", "smoke", grid=True), epochs=2, max_features=300, seed=0,
                             **options)
    race = run_race(objective, sampler_seeds=[0, 1], progress=False)
    predictions = rescore_winners(objective, study_winners(race.frame), baseline=baseline_config(objective.space),
                                  training_seeds=SEEDS)
    return objective, race, predictions


@pytest.fixture(scope="module")
def raced(data, tmp_path_factory):
    return _race(data, artifact_store=tmp_path_factory.mktemp("artifacts"))


def test_race_runs_five_strategies_on_every_sampler_seed_with_one_budget(raced):
    _, race, _ = raced
    frame = race.frame
    assert sorted(frame["strategy"].unique()) == ["grid", "random", "random_pruning", "tpe", "tpe_pruning"]
    counts = frame.groupby(["strategy", "sampler_seed"]).size()
    assert set(counts) == {4} and len(counts) == 10  # the smoke grid has 4 points: every study gets 4 trials
    assert race.study("tpe", 1).study_name == "race-tpe-s1"


def test_repeated_configurations_are_reused_not_trained_again(data, monkeypatch):
    space = load_space({"learning_rate": [1e-3, 1e-2]}, model="mlp")  # 2 points, 6 random trials: repeats
    objective = MLPObjective(data, space, epochs=2, max_features=300, seed=0)
    calls = []
    train = objective.train
    monkeypatch.setattr(objective, "train", lambda *a, **k: calls.append(1) or train(*a, **k))
    study = run_sweep(objective, n_trials=6, sampler="random", seed=0, progress=False).study
    frame = trials_frame(study)
    assert len(calls) == 2 == (~frame["reused"]).sum()  # each configuration trained once
    assert frame.loc[frame["reused"], "epochs"].eq(0).all() and objective.n_reused == 4
    for _, row in frame[frame["reused"]].iterrows():  # a replayed trial has its configuration's value
        first = frame[(frame["params_learning_rate"] == row["params_learning_rate"]) & ~frame["reused"]]
        assert row["value"] == first["value"].iloc[0]


def test_the_verdict_compares_the_validation_choice_with_the_default_on_test(raced):
    objective, race, predictions = raced
    results = race_results(objective, race.frame, predictions)
    verdict = results["verdict"]
    assert set(verdict) == set(VERDICT_KEYS)
    assert verdict["n_comparisons"] == 5 and verdict["n_seeds"] == len(SEEDS)
    assert verdict["selected_on"] == "validation" and verdict["reported_on"] == "test"
    assert verdict["baseline"] == "default configuration" and verdict["choice"] == results["choice"]
    assert verdict["n_examples"] == len(objective.dataset["test"])
    # the target is the grid winner's re-scored validation score less the tolerance
    grid = results["winners"].query("strategy == 'grid'")
    assert results["target"] == pytest.approx(grid["validation"].max() - 0.005)
    for stats in results["strategies"].values():
        assert stats["n_sampler_seeds"] == 2 and stats["test_value"] is not None


def test_changing_only_the_test_labels_does_not_change_the_choice(raced):
    objective, race, predictions = raced
    before = race_results(objective, race.frame, predictions)
    labels = np.asarray(objective.dataset["test"]["label"])
    flipped = objective.dataset["test"].cast_column("label", ClassLabel(names=objective.dataset["test"].features["label"].names))
    flipped = flipped.map(lambda row, i: {"label": int(1 - labels[i])}, with_indices=True)
    objective.dataset = {**objective.dataset, "test": flipped}
    try:
        after = race_results(objective, race.frame, predictions)
    finally:
        objective.dataset = {**objective.dataset, "test": objective.dataset["test"].map(
            lambda row, i: {"label": int(labels[i])}, with_indices=True)}
    assert after["choice"] == before["choice"] and after["winner"] == before["winner"]
    assert {n: s["winner"] for n, s in after["strategies"].items()} == \
        {n: s["winner"] for n, s in before["strategies"].items()}
    assert after["verdict"]["effect"]["delta"] == pytest.approx(-before["verdict"]["effect"]["delta"])


def test_rescore_needs_two_training_seeds(raced):
    objective, race, _ = raced
    with pytest.raises(ParameterError, match="must hold two seeds or more"):
        rescore_winners(objective, study_winners(race.frame), baseline={}, training_seeds=[7])


def test_the_best_model_loads_from_its_artifact_and_predicts_like_the_trials_model(raced):
    objective, race, predictions = raced
    results = race_results(objective, race.frame, predictions)
    best = best_trial(race, results)
    assert best["artifact_id"] is not None
    model = load_model_artifact(best["artifact_id"], objective.artifact_store)
    _, trained = objective.train(None, {**objective.space.fixed, **best["params"]}, seed=objective.seed)
    x = objective.features["test"]
    np.testing.assert_array_equal(model.predict(x), trained.predict(x))
    accuracy = float((model.predict(objective.x_valid) == objective.y_valid).mean())
    assert accuracy == pytest.approx(best["value"])  # the trial's value: its best epoch is the last here or equal


def test_summary_has_the_acceptance_keys_and_findings_escape(raced):
    objective, race, predictions = raced
    results = race_results(objective, race.frame, predictions)
    pareto = {"hypervolume": 0.5, "n_generations": 3, "recommended": {"number": 1, "params": {"activation": "<b>"},
                                                                      "latency_ms": 1.0}}
    import pandas as pd

    summary = sweeps_summary(results, best_trial(race, results), pareto, pd.DataFrame(columns=["param", "importance"]),
                             settings={}, compare_model="mlp", training_seeds=SEEDS, baseline={})
    for name in ("grid", "random", "random_pruning", "tpe", "tpe_pruning"):
        assert {"n_sampler_seeds", "best_value_mean", "best_value_std", "epochs_to_target_median",
                "test_value"} <= set(summary["strategies"][name])
    assert "artifact_id" in summary["best"] and "hypervolume" in summary["pareto"]
    text = sweeps_findings(summary, n_validation=100)
    assert "activation=&lt;b&gt;" in text and "<b>" not in text


# ------------------------------------------------------------------------------- studies that cannot be mixed

def test_a_worker_with_another_fingerprint_is_refused_and_the_study_is_unchanged(data, tmp_path):
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    space = default_space("mlp", "smoke", grid=True)
    first = MLPObjective(data, space, epochs=2, max_features=300)
    run_sweep(first, n_trials=2, storage=url, study_name="s", sampler="random", progress=False)
    before = [(t.number, t.state, t.value) for t in optuna.load_study(study_name="s", storage=url).trials]
    other = MLPObjective(data, space, epochs=3, max_features=300)  # another objective setting
    with pytest.raises(ParameterError, match=r"was filled with another objective setting epochs \(2, this worker: 3\)\. Start it over"):
        run_sweep(other, n_trials=2, storage=url, study_name="s", sampler="random", progress=False)
    fewer = data.map(lambda row: {"text": row["text"].upper()})  # other data
    with pytest.raises(ParameterError, match="was filled with another data"):
        run_sweep(MLPObjective(fewer, space, epochs=2, max_features=300), n_trials=2, storage=url, study_name="s",
                  progress=False)
    after = [(t.number, t.state, t.value) for t in optuna.load_study(study_name="s", storage=url).trials]
    assert after == before
    fresh = run_sweep(other, n_trials=2, storage=url, study_name="s", sampler="random", progress=False,
                      new_study=True)
    assert fresh.study.user_attrs["fingerprint"] == other.fingerprint() and len(fresh.study.trials) == 2


def test_repeated_seeds_per_trial_give_the_mean_and_spread(data):
    space = load_space({"learning_rate": [1e-2], "hidden_size": [16, 32]}, model="mlp")
    objective = MLPObjective(data, space, epochs=2, max_features=300, seed=0, seeds_per_trial=3)
    trial = run_sweep(objective, n_trials=1, sampler="random", progress=False).study.trials[0]
    single = MLPObjective(data, space, epochs=2, max_features=300, seed=0)
    values = [single.train(None, {**space.fixed, **trial.params}, seed=s)[0]["accuracy"] for s in (0, 1, 2)]
    assert trial.value == pytest.approx(np.mean(values))
    assert trial.user_attrs["value_std"] == pytest.approx(np.std(values, ddof=1))
    assert trial.user_attrs["epochs"] == 6


def test_warm_start_enqueues_an_earlier_studys_best_first(data, tmp_path):
    space = default_space("mlp", "smoke", grid=True)
    earlier = run_sweep(MLPObjective(data, space, epochs=2, max_features=300), n_trials=3, sampler="random",
                        progress=False).study
    configs = warm_start_configs(earlier, top=1)
    later = run_sweep(MLPObjective(data, space, epochs=2, max_features=300), n_trials=2, sampler="random", seed=5,
                      enqueue=configs, progress=False).study
    assert later.trials[0].params == earlier.best_params
    (tmp_path / "bad.yaml").write_text("learning_rate: 0.1\n")
    with pytest.raises(ParameterError, match="a YAML file holding a list of mappings"):
        warm_start_configs(tmp_path / "bad.yaml")


def test_constraints_cap_a_known_measure_and_are_stored_with_each_trial(data):
    objective = MLPObjective(data, default_space("mlp", "smoke", grid=True), epochs=1, max_features=300)
    with pytest.raises(ParameterError, match="'constraints' parameter of run_sweep must be one of"):
        run_sweep(objective, n_trials=1, sampler="tpe", constraints={"accuracy": 0.5}, progress=False)
    study = run_sweep(objective, n_trials=3, sampler="tpe", constraints={"n_params": 1.0}, progress=False).study
    assert all(t.constraints == {"n_params": t.user_attrs["n_params"] - 1.0} for t in study.trials)


def test_latency_inputs_go_to_the_models_device():
    """A model on another device (here torch's 'meta' device, standing in for CUDA) gets its inputs there."""
    from types import SimpleNamespace

    import torch
    from transformers import BatchEncoding

    from workbench.sweeps import TransformerObjective

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.empty(2, device="meta"))
            self.devices = []

        def forward(self, input_ids):
            self.devices.append(input_ids.device.type)
            return input_ids

    model = Model()
    stub = SimpleNamespace(dataset={"validation": {"text": ["tasty"]}}, max_length=8, latency_repeats=2, threads=1,
                           tokenizer=lambda texts, **_: BatchEncoding({"input_ids": torch.ones(1, 8, dtype=torch.long)}))
    TransformerObjective._latency(stub, model)
    assert model.devices and set(model.devices) == {"meta"}


def test_heartbeats_are_on_by_default_on_a_database_storage(data, tmp_path):
    study = run_sweep(lambda t: t.suggest_int("x", 0, 3), n_trials=1, storage=f"sqlite:///{tmp_path / 's.db'}",
                      sampler="random", progress=False).study
    storage = study._storage._backend  # Optuna wraps an RDB storage in its cache
    assert storage.heartbeat_interval == 30 and storage.grace_period == 60
