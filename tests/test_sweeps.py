"""Tests for workbench.sweeps: spaces, samplers, pruners, objectives, exact budgets, summaries and plots."""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np
import optuna
import pandas as pd
import pytest
from matplotlib.figure import Figure
from optuna.trial import TrialState

from workbench.errors import ParameterError, ResourceUnavailableError
from workbench.sweeps import (MLPObjective, TransformerObjective, TrialPruningCallback, compare_strategies,
                              default_space, describe_trial, directions_of, load_space, make_pruner, make_sampler,
                              open_storage, param_importances, pareto_frame, pareto_pick, plot_best_so_far,
                              plot_study, run_sweep, strategy_summary, trials_frame)

optuna.logging.set_verbosity(optuna.logging.WARNING)


# ------------------------------------------------------------------------------------ search spaces

def test_load_space_turns_each_entry_kind_into_the_right_distribution():
    space = load_space({"num_layers": {"low": 1, "high": 4}, "hidden_size": [64, 128], "num_heads": 4,
                        "learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
                        "dropout": {"low": 0.0, "high": 0.2, "step": 0.1}, "activation": {"choices": ["gelu"]}})
    assert space.params["num_layers"] == optuna.distributions.IntDistribution(1, 4)
    assert space.params["hidden_size"] == optuna.distributions.CategoricalDistribution([64, 128])
    assert space.params["learning_rate"] == optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)
    assert space.params["dropout"] == optuna.distributions.FloatDistribution(0.0, 0.2, step=0.1)
    assert space.fixed == {"num_heads": 4, "activation": "gelu"}  # one choice is a fixed value
    assert space.grid_size is None  # learning_rate is continuous
    assert list(space.frame()["param"]) == ["num_layers", "hidden_size", "learning_rate", "dropout",
                                            "num_heads", "activation"]


def test_yaml_file_gives_the_same_space_as_the_dict(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("num_layers: {low: 1, high: 3}\nhidden_size: [32, 64]\nnorm_type: [layernorm, rmsnorm]\n"
                    "learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}\n")
    from_yaml = load_space(path)
    from_dict = load_space({"num_layers": {"low": 1, "high": 3}, "hidden_size": [32, 64],
                            "norm_type": ["layernorm", "rmsnorm"],
                            "learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}})
    assert from_yaml == from_dict


def test_grid_enumerates_every_finite_parameter():
    space = load_space({"num_layers": {"low": 1, "high": 5, "step": 2}, "dropout": {"low": 0.0, "high": 0.2,
                                                                                    "step": 0.1},
                        "activation": ["gelu", "relu"]})
    assert space.grid() == {"num_layers": [1, 3, 5], "dropout": [0.0, 0.1, 0.2], "activation": ["gelu", "relu"]}
    assert space.grid_size == 18


def test_full_profile_has_the_seed_ranges_and_default_is_cpu_sized():
    full = default_space("tiny", "full")
    assert (full.params["num_layers"].low, full.params["num_layers"].high) == (4, 24)
    assert full.params["hidden_size"] == optuna.distributions.IntDistribution(256, 1024, step=128)
    assert full.params["num_heads"].choices == (4, 8, 16)
    assert (full.params["ffn_ratio"].low, full.params["ffn_ratio"].high) == (2.0, 4.0)
    assert set(full.params["activation"].choices) == {"gelu", "relu", "silu"}
    assert set(full.params["norm_type"].choices) == {"layernorm", "rmsnorm"}
    assert set(full.params["norm_placement"].choices) == {"post", "pre"}
    # Every full-profile hidden size is divisible by every allowed head count: no trial is wasted.
    assert all(h % n == 0 for h in range(256, 1025, 128) for n in full.params["num_heads"].choices)
    default = default_space("tiny", "default")
    assert max(default.grid()["num_layers"]) <= 2 and max(default.params["hidden_size"].choices) <= 128
    assert default_space("mlp", "default", grid=True).grid_size == 24


@pytest.mark.parametrize("spec, message", [
    ({}, "must declare at least one parameter. Got an empty search space"),
    ({"hidden_size": []}, "must list at least one choice. Got an empty list"),
    ({"depth": [1, 2]}, r"may only name parameters of the 'tiny' model .* Got 'depth' instead"),
    ({"num_layers": {"low": 4, "high": 2}}, "must have low <= high. Got low=4, high=2"),
    ({"learning_rate": {"low": 0.0, "high": 0.1, "log": True}}, "log: true, which needs low > 0"),
    ({"activation": ["gelu", "swish"]}, r"'activation' parameter of search space entry 'activation' must be one of"),
    ({"num_layers": {"low": 1, "high": 100}}, r"must be an int in \[1, 48\]. Got 100"),
    ({"num_layers": {"low": 1.5, "high": 3}}, "must be an int range"),
    ({"hidden_size": [64, 96], "num_heads": [5, 7]}, r"no allowed num_heads \(5, 7\) divides hidden_size 64, 96"),
    ({"hidden_size": [64, 96], "num_heads": 64}, r"no allowed num_heads \(64\) divides hidden_size 96"),
    ({"num_layers": 2, "hidden_size": 64}, "must let at least one parameter vary"),
    ({"hidden_size": {"low": 32, "high": 64, "stride": 8}}, r"may only have the keys .* Got 'stride'"),
])
def test_bad_search_spaces_are_refused_with_the_rule(spec, message):
    with pytest.raises(ParameterError, match=message):
        load_space(spec)


def test_missing_or_broken_yaml_file_is_a_one_line_error(tmp_path):
    with pytest.raises(ParameterError, match="must be an existing YAML file. Got '.*nope.yaml'"):
        load_space(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("hidden_size: [32, 64\n")
    with pytest.raises(ParameterError, match="is not valid YAML"):
        load_space(broken)


def test_continuous_space_cannot_be_gridded():
    space = load_space({"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}}, model="mlp")
    with pytest.raises(ParameterError, match="'learning_rate' is a continuous range .* Give it 'choices' or a 'step'"):
        make_sampler("grid", space=space)


def test_a_hidden_size_heads_clash_prunes_the_trial_before_training():
    space = load_space({"hidden_size": [32, 36], "num_heads": [2, 8]})
    assert space.suggest(optuna.trial.FixedTrial({"hidden_size": 32, "num_heads": 8}))["num_heads"] == 8
    with pytest.raises(optuna.TrialPruned, match="hidden_size=36 is not divisible by num_heads=8"):
        space.suggest(optuna.trial.FixedTrial({"hidden_size": 36, "num_heads": 8}))


# --------------------------------------------------------------------------------- samplers, pruners

@pytest.mark.parametrize("name, kind", [("random", "RandomSampler"), ("tpe", "TPESampler"),
                                        ("nsga2", "NSGAIISampler"), ("cmaes", "CmaEsSampler")])
def test_make_sampler_builds_the_optuna_sampler(name, kind):
    assert type(make_sampler(name)).__name__ == kind


@pytest.mark.parametrize("name, kind", [("none", "NopPruner"), ("median", "MedianPruner"),
                                        ("asha", "SuccessiveHalvingPruner"), ("hyperband", "HyperbandPruner")])
def test_make_pruner_builds_the_optuna_pruner(name, kind):
    assert type(make_pruner(name, epochs=9)).__name__ == kind


def test_unknown_sampler_or_pruner_names_the_choices():
    with pytest.raises(ParameterError, match=r"'name' parameter of make_sampler must be one of 'grid', 'random', "
                                             r"'tpe', 'cmaes', 'nsga2'. Got 'bayes' instead"):
        make_sampler("bayes")
    with pytest.raises(ParameterError, match=r"'name' parameter of make_pruner must be one of 'none', 'median', "
                                             r"'asha', 'hyperband'. Got 'patient' instead"):
        make_pruner("patient")
    with pytest.raises(ParameterError, match="one of 'grid', 'random'"):
        run_sweep(lambda t: 0.0, n_trials=1, sampler="annealing", progress=False)


def test_cmaes_refuses_categorical_spaces_and_searches_numeric_ones():
    mixed = load_space({"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}, "activation": ["relu", "tanh"]},
                       model="mlp")
    with pytest.raises(ParameterError, match="cmaes sampler of make_sampler handles numeric parameters only. "
                                             "Got categorical 'activation'"):
        make_sampler("cmaes", space=mixed)
    result = run_sweep(lambda t: (t.suggest_float("x", -3, 3) - 1) ** 2 + (t.suggest_float("y", -3, 3) + 2) ** 2,
                       n_trials=40, sampler="cmaes", directions=["minimize"], progress=False)
    assert result.study.best_value < 0.5  # random search over this square averages about 9


def test_objective_names_and_their_directions():
    assert directions_of(["macro_f1", "latency_ms", "n_params"]) == ["maximize", "minimize", "minimize"]
    with pytest.raises(ParameterError, match="must start with a quality metric"):
        directions_of(["latency_ms"])
    with pytest.raises(ParameterError, match="one of 'latency_ms', 'n_params', 'flops'. Got 'memory'"):
        directions_of("accuracy,memory")


# -------------------------------------------------------------------------------------- run_sweep

def _counting(n_fail_first: int = 0):
    calls = {"n": 0}

    def objective(trial):
        calls["n"] += 1
        x = trial.suggest_int("x", 0, 9)
        if calls["n"] <= n_fail_first:
            raise RuntimeError("flaky")
        return float(x)

    return objective


def test_run_sweep_replaces_failed_trials_so_the_study_holds_exactly_n_finished():
    result = run_sweep(_counting(n_fail_first=2), n_trials=6, sampler="random", progress=False)
    states = [t.state for t in result.study.trials]
    assert states.count(TrialState.FAIL) == 2 and states.count(TrialState.COMPLETE) == 6
    assert result.ran == {"complete": 6, "pruned": 0, "failed": 2} and result.finished == 6


def test_run_sweep_gives_up_after_max_failures_in_a_row():
    result = run_sweep(_counting(n_fail_first=100), n_trials=6, sampler="random", max_failures=3, progress=False)
    assert result.ran["failed"] == 3 and result.finished == 0
    assert result.stopped == "stopped after 3 failed trials in a row"


def test_grid_sampler_covers_every_point_once_and_refuses_more_trials_than_points():
    space = load_space({"learning_rate": [1e-3, 1e-2], "hidden_size": [16, 32, 64]}, model="mlp")

    def objective(trial):
        values = space.suggest(trial)
        return values["hidden_size"] * values["learning_rate"]

    study = run_sweep(objective, n_trials=6, sampler="grid", space=space, progress=False).study
    assert sorted((t.params["learning_rate"], t.params["hidden_size"]) for t in study.trials) == sorted(
        (lr, h) for lr in (1e-3, 1e-2) for h in (16, 32, 64))
    with pytest.raises(ParameterError, match="must be at most the grid size 6 for the grid sampler. Got 7"):
        run_sweep(objective, n_trials=7, sampler="grid", space=space, progress=False)


def test_a_study_in_sqlite_resumes_where_it_stopped(tmp_path):
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    first = run_sweep(_counting(), n_trials=3, storage=url, study_name="s", sampler="random", seed=1,
                      progress=False).study
    params = [t.params for t in first.trials]
    with pytest.raises(ParameterError, match="has a budget of n_trials=3; this worker asks for 5"):
        run_sweep(_counting(), n_trials=5, storage=url, study_name="s", progress=False)
    resumed = run_sweep(_counting(), n_trials=5, storage=url, study_name="s", sampler="random", seed=1,
                        progress=False, extend=True)
    assert [t.params for t in resumed.study.trials][:3] == params
    assert resumed.finished == 5 and resumed.ran["complete"] == 2
    again = run_sweep(_counting(), n_trials=5, storage=url, study_name="s", progress=False)
    assert again.ran["complete"] == 0 and again.stopped == "budget reached"
    with pytest.raises(ParameterError, match="already exists with directions \\['maximize'\\], not \\['minimize'\\]"):
        run_sweep(_counting(), n_trials=5, storage=url, study_name="s", directions=["minimize"], progress=False)


@pytest.mark.parametrize("pruner", ["median", "asha", "hyperband"])
def test_pruners_stop_trials_on_per_epoch_reports_and_epochs_are_counted(pruner):
    def objective(trial):
        quality = trial.suggest_float("quality", 0.0, 1.0)
        for epoch in range(1, 6):
            from workbench.sweeps import report_epoch

            report_epoch(trial, quality * epoch / 5, epoch)
        return quality

    study = run_sweep(objective, n_trials=20, sampler="random", pruner=pruner, progress=False).study
    frame = trials_frame(study)
    pruned = frame[frame["state"] == "pruned"]
    assert len(pruned) > 0 and (pruned["epochs"] < 5).all()
    assert (frame.loc[frame["state"] == "complete", "epochs"] == 5).all()
    assert frame["cumulative_epochs"].iloc[-1] == frame["epochs"].sum() < 20 * 5
    # A pruned trial was never better than the best trial completed before it.
    best_before = frame["best_so_far"].shift().ffill()
    assert (pruned["params_quality"] <= best_before[pruned.index]).all()


def test_multi_objective_studies_cannot_use_a_pruner():
    with pytest.raises(ParameterError, match="must be 'none' for a multi-objective study"):
        run_sweep(lambda t: (0.0, 1.0), n_trials=1, directions=["maximize", "minimize"], pruner="median",
                  sampler="nsga2", progress=False)


# ------------------------------------------------------------------------------------- storage

def test_unreachable_or_malformed_storage_urls_give_one_line_errors(tmp_path):
    with pytest.raises(ParameterError, match="must be an SQLAlchemy database URL .* Got 'not a url' instead"):
        open_storage("not a url")
    with pytest.raises(ResourceUnavailableError, match=r"Could not open the Optuna storage "
                       r"postgresql\+psycopg2://sweeper:\*\*\*@127.0.0.1:1/db: .*Connection refused") as caught:
        open_storage("postgresql://sweeper:hunter2@127.0.0.1:1/db")
    assert "hunter2" not in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(ResourceUnavailableError, match="unable to open database file"):
        open_storage(f"sqlite:///{tmp_path / 'missing' / 'folder' / 'x.db'}")


# ------------------------------------------------------------------------------------ objectives

@pytest.fixture(scope="module")
def fine_foods():
    from workbench.data import load_dataset, subsample

    data = load_dataset(max_examples=200, seed=0)
    return subsample(data, split="train", n=160, seed=0)


def test_mlp_objective_matches_plain_scikit_learn_training(fine_foods):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.neural_network import MLPClassifier

    space = load_space({"learning_rate": [3e-3], "hidden_size": [16, 32], "activation": "tanh"}, model="mlp")
    objective = MLPObjective(fine_foods, space, epochs=3, max_features=300, seed=4)
    value = objective(optuna.trial.FixedTrial({"hidden_size": 32}))

    vectorizer = TfidfVectorizer(max_features=300, sublinear_tf=True).fit(fine_foods["train"]["text"])
    x = vectorizer.transform(fine_foods["train"]["text"]).toarray().astype(np.float32)
    xv = vectorizer.transform(fine_foods["validation"]["text"]).toarray().astype(np.float32)
    model = MLPClassifier(hidden_layer_sizes=(32,), activation="tanh", learning_rate_init=3e-3, batch_size=32,
                          alpha=1e-4, random_state=4)
    accuracies = []
    for _ in range(3):
        model.partial_fit(x, fine_foods["train"]["label"], classes=[0, 1])
        accuracies.append(float((model.predict(xv) == np.asarray(fine_foods["validation"]["label"])).mean()))
    assert value == pytest.approx(max(accuracies))


def test_pruning_callback_stops_fine_tune_and_its_checkpoints_are_removed(tiny_dataset, monkeypatch):
    from workbench.models import TinyTransformerConfig, load_model
    from workbench.training import TrainConfig, fine_tune

    made, mkdtemp = [], tempfile.mkdtemp
    monkeypatch.setattr(tempfile, "mkdtemp", lambda **kwargs: made.append(mkdtemp(**kwargs)) or made[-1])
    # ThresholdPruner(lower=2) prunes any accuracy: the trial must stop right after its first epoch.
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=2.0))
    trial = study.ask()
    model, tok = load_model("tiny", num_labels=2, tiny=TinyTransformerConfig(num_layers=1, hidden_size=16))
    with pytest.raises(optuna.TrialPruned, match="pruned after epoch 1"):
        fine_tune(model, tok, tiny_dataset, TrainConfig(num_epochs=3, batch_size=8, progress=False),
                  callbacks=[TrialPruningCallback(trial)])
    assert list(study.trials[0].intermediate_values) == [1]  # one epoch reported, then stopped
    assert len(made) == 1 and not os.path.exists(made[0])  # fine_tune's finally still removed its checkpoints


def test_transformer_objective_measures_latency_and_parameters_of_each_architecture(tiny_dataset):
    from workbench.models import TinyTransformerConfig, count_parameters, flops_per_token, load_model

    space = load_space({"num_layers": [1, 2], "hidden_size": [16, 32], "num_heads": 2, "norm_type": ["rmsnorm"],
                        "norm_placement": ["post", "pre"], "learning_rate": 1e-3, "batch_size": 8})
    objective = TransformerObjective(tiny_dataset, space, objectives=("accuracy", "latency_ms"), epochs=1,
                                     max_length=16, latency_repeats=3)
    result = run_sweep(objective, n_trials=3, sampler="nsga2", study_name="arch", progress=False)
    frame = trials_frame(result.study)
    assert list(frame["state"]) == ["complete"] * 3 and (frame["latency_ms"] > 0).all()
    assert frame["accuracy"].between(0, 1).all() and (frame["epochs"] == 1).all()
    for _, row in frame.iterrows():  # parameter counts and FLOPs are the architectures', rebuilt independently
        config = TinyTransformerConfig(num_layers=row["params_num_layers"], hidden_size=row["params_hidden_size"],
                                       num_heads=2, norm_type="rmsnorm", norm_placement=row["params_norm_placement"],
                                       max_position_embeddings=16)
        model, _ = load_model("tiny", num_labels=2, tiny=config, tokenizer=objective.tokenizer)
        assert row["n_params"] == count_parameters(model)["total"]
        assert row["flops"] == pytest.approx(flops_per_token(model, seq_len=16)["forward"])
    pareto = pareto_frame(result.study)
    assert 1 <= len(pareto) <= 3 and set(pareto["number"]) <= set(frame["number"])
    for _, row in pareto.iterrows():  # no other trial is at least as accurate and strictly faster
        dominated = frame[(frame["accuracy"] >= row["accuracy"]) & (frame["latency_ms"] < row["latency_ms"])]
        assert dominated.empty


def test_objective_refuses_a_space_of_the_other_model(tiny_dataset):
    with pytest.raises(ParameterError, match="must be a 'tiny' space. Got a 'mlp' space"):
        TransformerObjective(tiny_dataset, default_space("mlp", "smoke"))
    with pytest.raises(ParameterError, match="may not include 'flops'"):
        MLPObjective(tiny_dataset, default_space("mlp", "smoke"), objectives=("accuracy", "flops"))


# ------------------------------------------------------------------------------- comparison, summaries

def test_compare_strategies_gives_every_strategy_the_same_budget(fine_foods):
    objective = MLPObjective(fine_foods, default_space("mlp", "smoke", grid=True), epochs=2, max_features=300)
    frame = compare_strategies(objective, progress=False)
    assert frame.groupby("strategy").size().to_dict() == {"grid": 4, "random": 4, "tpe": 4, "tpe_pruning": 4}
    grid = frame[frame["strategy"] == "grid"]
    assert sorted(zip(grid["params_learning_rate"], grid["params_hidden_size"])) == [
        (1e-3, 16), (1e-3, 64), (1e-2, 16), (1e-2, 64)]
    summary = strategy_summary(frame)
    assert summary["grid"]["epochs_used"] == 8 and summary["grid"]["n_pruned"] == 0
    assert summary["grid"]["best_value"] == pytest.approx(grid["value"].max())
    assert summary["grid"]["epochs_to_target"] <= 8  # the grid reaches its own best by definition
    assert all(s["best_value"] <= summary["grid"]["best_value"] + 1e-12 for s in summary.values())


def test_failed_trials_keep_their_reason_and_a_zero_budget_is_refused(fine_foods, monkeypatch):
    from sklearn.neural_network import MLPClassifier

    from workbench.errors import ExperimentFailedError
    from workbench.reports import check_outcomes

    objective = MLPObjective(fine_foods, default_space("mlp", "smoke", grid=True), epochs=1, max_features=300)
    with pytest.raises(ParameterError, match=r"'n_trials' parameter of compare_strategies must be an int >= 1"):
        compare_strategies(objective, n_trials=0, progress=False)

    def broken(self, *args, **kwargs):
        raise RuntimeError("injected training failure\nsecond line")

    monkeypatch.setattr(MLPClassifier, "partial_fit", broken)
    frame = compare_strategies(objective, strategies={"random": ("random", "none")}, n_trials=2, progress=False)
    assert set(frame["state"]) == {"fail"}
    assert set(frame["reason"]) == {"RuntimeError: injected training failure"}
    with pytest.raises(ExperimentFailedError, match="No trials succeeded .*random / 0: RuntimeError: injected"):
        check_outcomes(frame, what="trials", label_columns=["strategy", "number"], status_column="state",
                       ok_values=("complete", "pruned"))


def test_strategy_summary_known_answer():
    frame = pd.DataFrame({
        "strategy": ["grid"] * 3 + ["fast"] * 3,
        "number": [0, 1, 2, 0, 1, 2],
        "state": ["complete", "complete", "complete", "pruned", "complete", "complete"],
        "value": [0.70, 0.80, 0.75, None, 0.796, 0.81],
        "epochs": [4, 4, 4, 1, 4, 4]})
    assert strategy_summary(frame, tolerance=0.005) == {
        "grid": {"best_value": 0.80, "n_trials": 3, "n_pruned": 0, "epochs_used": 12, "epochs_to_target": 8},
        "fast": {"best_value": 0.81, "n_trials": 3, "n_pruned": 1, "epochs_used": 9, "epochs_to_target": 5}}
    assert strategy_summary(frame, tolerance=0.0)["fast"]["epochs_to_target"] == 9


def test_trials_frame_best_so_far_and_empty_study():
    study = optuna.create_study(direction="minimize")
    with pytest.warns(UserWarning, match="has no trials yet"):
        assert list(trials_frame(study).columns)[:4] == ["study", "number", "state", "value"]
    for value in (3.0, 1.0, 2.0):
        study.add_trial(optuna.create_trial(value=value, params={"x": value},
                                            distributions={"x": optuna.distributions.FloatDistribution(0, 5)}))
    frame = trials_frame(study)
    assert frame["best_so_far"].tolist() == [3.0, 1.0, 1.0] and frame["params_x"].tolist() == [3.0, 1.0, 2.0]


def test_param_importances_find_the_parameter_that_matters():
    study = run_sweep(lambda t: 10 * t.suggest_float("x", 0, 1) + 0.01 * t.suggest_float("y", 0, 1), n_trials=30,
                      sampler="random", progress=False).study
    importances = param_importances(study, seed=0)
    assert importances["param"].iloc[0] == "x" and importances["importance"].sum() == pytest.approx(1.0)
    assert importances["importance"].iloc[0] > 0.9


def test_pareto_pick_and_describe_trial():
    front = pd.DataFrame({"accuracy": [0.80, 0.795, 0.70], "latency_ms": [9.0, 3.0, 1.0]})
    assert pareto_pick(front, tolerance=0.01)["latency_ms"] == 3.0
    assert pareto_pick(front, tolerance=0.0)["latency_ms"] == 9.0
    assert pareto_pick(front.iloc[:0]) is None
    assert describe_trial({"activation": "<script>", "lr": 0.00123}) == "activation=&lt;script&gt;, lr=0.00123"
    with pytest.raises(ParameterError, match="needs a multi-objective study"):
        pareto_frame(optuna.create_study())


# ------------------------------------------------------------------------------------------- plots

@pytest.fixture(scope="module")
def pruned_study():
    def objective(trial):
        from workbench.sweeps import report_epoch

        a, b = trial.suggest_float("a", 0, 1), trial.suggest_categorical("b", ["x", "y"])
        for epoch in range(1, 4):
            report_epoch(trial, a * epoch / 3 + (b == "x") * 0.1, epoch)
        return a + (b == "x") * 0.1

    return run_sweep(objective, n_trials=12, sampler="random", pruner="median", progress=False).study


@pytest.mark.parametrize("kind", ["history", "parallel_coordinate", "importances", "intermediate_values"])
def test_study_plots_render(pruned_study, kind):
    assert isinstance(plot_study(pruned_study, kind), Figure)


def test_pareto_plot_and_best_so_far_plot_render():
    study = run_sweep(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), n_trials=6,
                      sampler="nsga2", directions=["maximize", "minimize"], progress=False).study
    assert isinstance(plot_study(study, "pareto_front"), Figure)
    with pytest.raises(ParameterError, match="'kind' parameter of plot_study must be one of"):
        plot_study(study, "contour")
    frame = pd.DataFrame({"strategy": ["a", "a", "b"], "number": [0, 1, 0], "state": ["complete"] * 3,
                          "best_so_far": [0.5, 0.7, 0.6], "cumulative_epochs": [2, 4, 2]})
    figure = plot_best_so_far(frame, target=0.65)
    assert len(figure.axes) == 2 and figure.axes[1].get_xlabel() == "training epochs consumed"
    assert math.isclose(figure.axes[0].lines[-1].get_ydata()[0], 0.65)
