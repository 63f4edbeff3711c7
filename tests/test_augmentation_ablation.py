"""The ablation (EDA's protocol) and its decision: what trains on what, and the verdicts it gives."""

from __future__ import annotations

import numpy as np
import pytest

from workbench import augmentation as aug
from workbench.augmentation import ablation, run
from workbench.augmentation.recipes import _Identity
from workbench.errors import ParameterError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _dataset(n_train=40, n_eval=200, seed=0):
    """Labels no training word reveals; validation and test texts carry the cue words 'good'/'bad'."""
    import datasets

    rng = np.random.default_rng(seed)
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["bad", "good"])})

    def split(n, cue):
        labels = rng.integers(0, 2, n).tolist()
        texts = [f"item{rng.integers(10_000)} thing{rng.integers(10_000)}" + (f" {'good' if y else 'bad'}" if cue else "")
                 for y in labels]
        return datasets.Dataset.from_dict({"text": texts, "label": labels}, features=features)

    return datasets.DatasetDict(train=split(n_train, False), validation=split(n_eval, True), test=split(n_eval, True))


class _RevealLabel:
    """An augmenter that appends the cue word of the source's label (it knows the training labels)."""

    def __init__(self, labels_of):
        self.labels_of = labels_of

    def augment(self, data, n=1):
        return [f"{data} {'good' if self.labels_of[data] else 'bad'}"] * n


def _force(monkeypatch, augmenter):
    """Make every recipe build ``augmenter`` (in the checks and in the worker function alike)."""
    from workbench.augmentation import recipes

    monkeypatch.setattr(recipes, "_build", lambda *args: augmenter)
    monkeypatch.setattr(run, "_build", lambda *args: augmenter)


@pytest.mark.parametrize("n, expected", [(500, (0.05, 16)), (2000, (0.05, 8)), (5000, (0.1, 4)),
                                         (100_000, (0.1, 4)), (1000, (0.05, 16)), (3600, (0.1, 4))])
def test_the_per_size_rule_gives_edas_recommended_parameters(n, expected):
    assert aug.eda_parameters(n) == expected


def test_the_protocol_uses_the_rule_per_size_with_copies_at_the_same_n_aug():
    data = _dataset(n_train=60, n_eval=20)
    result = aug.downstream_ablation(data, recipes="word_swap", train_sizes=[20, 0], seeds=[0, 1, 2], progress=False)
    runs = result.runs
    assert set(runs["learner"]) == {"tfidf_logreg"} and (runs["status"] == "ok").all()
    for size in (20, 60):
        cell = runs[runs["train_size"] == size]
        assert cell.set_index(["augmenter", "seed"])["n_aug"].unstack().iloc[:, 0].to_dict() == \
            {"copies": 16, "none": 0, "word_swap": 16}
        copies = cell[cell["augmenter"] == "copies"]
        assert (copies["n_train"] == size * 17).all() and (copies["n_added"] == size * 16).all()
        augmented = cell[cell["augmenter"] == "word_swap"]
        assert (augmented["alpha"] == 0.05).all() and (augmented["n_added"] <= size * 16).all()
    table, verdicts, choice = aug.ablation_decision(result, n_resamples=200)
    assert set(table["augmenter"]) == {"copies", "word_swap"} and (table["n_seeds"] == 3).all()
    assert (table["p_adjusted"] >= table["p_value"] - 1e-12).all()
    assert {v["n_comparisons"] for v in verdicts.values() if v["baseline"] == "no augmentation"} == {4}
    # The second family: each augmenting cell against its control (two cells, Holm over two).
    assert {v["n_comparisons"] for v in verdicts.values() if v["baseline"] != "no augmentation"} == {2}
    swap = table[table["augmenter"] == "word_swap"].set_index("train_size")
    copies = table[table["augmenter"] == "copies"].set_index("train_size")
    assert swap["control_gain"].to_dict() == pytest.approx(copies["gain"].to_dict())
    assert choice in set(swap["name"])


def test_a_recipe_that_returns_its_input_adds_nothing_and_has_no_detectable_effect(monkeypatch):
    data = _dataset()
    _force(monkeypatch, _Identity())
    result = aug.downstream_ablation(data, recipes="word_swap", train_sizes=[0], seeds=[0, 1, 2], progress=False)
    runs = result.runs.set_index("augmenter")
    assert (runs.loc["word_swap", "n_added"] == 0).all()
    assert (runs.loc["word_swap", "n_train"].to_numpy() == runs.loc["none", "n_train"].to_numpy()).all()
    table, verdicts, choice = aug.ablation_decision(result, n_resamples=200)
    verdict = verdicts[choice]
    assert verdict["answer"] == "no detectable effect" and verdict["effect"]["delta"] == 0.0
    headline = aug.headline_verdict(verdicts, choice)
    assert headline["baseline"] == "plain copies at the same n_aug" and headline["answer"] != "pays off"
    # Kept knowingly, the unchanged variants are added (and are then plain copies).
    kept = aug.downstream_ablation(data, recipes="word_swap", train_sizes=[0], seeds=[0], keep_unchanged=True,
                                   progress=False)
    assert (kept.runs.set_index("augmenter").loc["word_swap", "n_added"] == 40 * 16).all()


def test_a_label_revealing_augmenter_pays_off(monkeypatch):
    data = _dataset()
    _force(monkeypatch, _RevealLabel(dict(zip(data["train"]["text"], data["train"]["label"]))))
    result = aug.downstream_ablation(data, recipes="word_swap", train_sizes=[0], seeds=[0, 1, 2], progress=False)
    table, verdicts, choice = aug.ablation_decision(result, n_resamples=200)
    verdict = verdicts[choice]
    assert verdict["answer"] == "pays off" and verdict["effect"]["delta"] > 0.3
    assert verdict["selected_on"] == "validation" and verdict["reported_on"] == "test"
    assert verdict["n_seeds"] == 3 and verdict["n_comparisons"] == 2
    # Its 16 variants of a text are one text: the repeats are not added, the first is.
    assert verdict["cost"]["training_examples"] == {"candidate": 40 * 2, "baseline": 40}
    control = verdicts[aug.control_name(table, choice)]
    assert control["answer"] != "pays off"  # repeating the texts teaches no cue
    # The headline compares with the control: the cue pays off beyond repeating the data too.
    headline = aug.headline_verdict(verdicts, choice)
    assert headline["baseline"] == "plain copies at the same n_aug" and headline["answer"] == "pays off"
    row = table.set_index("name").loc[choice]
    assert row["answer_over_control"] == "pays off" and row["gain_over_control"] == headline["effect"]["delta"]


def test_changing_only_the_test_labels_leaves_the_choice(monkeypatch):
    data = _dataset(n_train=60, n_eval=60)
    result = aug.downstream_ablation(data, recipes="word_swap,word_delete", train_sizes=[20, 0], seeds=[0, 1],
                                     progress=False)
    _, _, choice = aug.ablation_decision(result, n_resamples=100)
    flipped = ablation.AblationResult(result.runs, result.predictions, result.y_validation, 1 - result.y_test)
    _, verdicts, choice_flipped = aug.ablation_decision(flipped, n_resamples=100)
    assert choice_flipped == choice
    # And from the data up: new test labels, same fits, same choice.
    relabelled = data.copy()
    relabelled["test"] = data["test"].map(lambda row: {"label": 1 - row["label"]})
    again = aug.downstream_ablation(relabelled, recipes="word_swap,word_delete", train_sizes=[20, 0],
                                    seeds=[0, 1], progress=False)
    assert aug.ablation_decision(again, n_resamples=100)[2] == choice


def test_the_transformer_learner_trains_the_same_steps_on_every_run():
    data = _dataset(n_train=24, n_eval=16)
    settings = aug.TransformerSettings(model="tiny:num_layers=1,hidden_size=16,num_heads=2", steps=2, batch_size=4,
                                       max_length=16)
    result = aug.downstream_ablation(data, recipes="word_swap", train_sizes=[0], seeds=[0, 1, 2],
                                     learners=["tfidf_logreg", "transformer"], transformer=settings, progress=False)
    assert set(result.runs["learner"]) == {"tfidf_logreg", "transformer"} and (result.runs["status"] == "ok").all()
    first = result.predictions[("transformer", 24, "none", 0.0, 0)][0]["test"]
    again = aug.downstream_ablation(data, recipes="word_swap", train_sizes=[0], seeds=[0], learners=["transformer"],
                                    transformer=settings, progress=False)
    assert (again.predictions[("transformer", 24, "none", 0.0, 0)][0]["test"] == first).all()  # seeded
    # Whatever the global torch generator holds before (dropout draws from it).
    import torch

    from workbench.augmentation.learners import fit_and_predict

    torch.manual_seed(12345)
    texts, labels = list(data["train"]["text"]), list(data["train"]["label"])
    logits = []
    for before in (1, 2):
        torch.rand(before)
        out = fit_and_predict("transformer", texts, labels, {"test": texts}, label_names=["bad", "good"], seed=0,
                                  transformer=settings)
        logits.append(out["test"])
    assert (logits[0] == logits[1]).all()


def test_a_fit_that_raises_is_a_failed_row_not_a_crash(monkeypatch):
    from workbench.errors import ExperimentFailedError
    from workbench.reports import check_outcomes

    real_fit = ablation.fit_and_predict

    def broken_fit(learner, train_texts, *args, **kwargs):
        if len(train_texts) > 40:  # augmented training sets only: the baselines still fit
            raise RuntimeError("injected fit failure\nwith a traceback-like second line")
        return real_fit(learner, train_texts, *args, **kwargs)

    monkeypatch.setattr(ablation, "fit_and_predict", broken_fit)
    data = _dataset(n_train=40, n_eval=20)
    result = aug.downstream_ablation(data, recipes="word_swap", train_sizes=[0], seeds=[0], progress=False)
    runs = result.runs.set_index("augmenter")
    assert runs.loc["none", "status"] == "ok" and runs.loc["word_swap", "status"] == "failed"
    assert runs.loc["word_swap", "reason"] == "RuntimeError: injected fit failure"
    table, _, choice = aug.ablation_decision(result)
    assert (table["status"] == "failed").all() and choice is None
    outcome = check_outcomes(result.runs, what="ablation trainings", label_columns=["augmenter"])
    assert outcome.status == "degraded"

    monkeypatch.setattr(ablation, "fit_and_predict", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no fits")))
    everything = aug.downstream_ablation(data, recipes="word_swap", train_sizes=[0], seeds=[0], progress=False)
    with pytest.raises(ExperimentFailedError, match="No ablation trainings succeeded .*RuntimeError: no fits"):
        check_outcomes(everything.runs, what="ablation trainings")


def test_missing_wordnet_skips_its_recipe_with_the_set_up_command(tmp_path):
    from workbench.reports import check_outcomes

    data = _dataset(n_train=30, n_eval=20)
    result = aug.downstream_ablation(data, recipes=["synonym", "word_swap"], train_sizes=[0], seeds=[0, 1],
                                     nltk_data=tmp_path, progress=False)
    runs = result.runs.set_index("augmenter")
    assert (runs.loc["synonym", "status"] == "skipped").all() and (runs.loc["word_swap", "status"] == "ok").all()
    assert runs.loc["synonym", "reason"].str.contains("scripts/setup_nltk_data.sh .venv", regex=False).all()
    table = aug.ablation_decision(result)[0].set_index("augmenter")
    assert table.loc["synonym", "status"] == "skipped"
    outcome = check_outcomes(result.runs, what="ablation trainings", label_columns=["augmenter", "seed"])
    assert (outcome.status, outcome.n_failed, outcome.n_skipped) == ("ok", 0, 2)


@pytest.mark.parametrize("kwargs, match", [
    ({"train_sizes": "100,abc"}, r"'train_sizes' parameter of downstream_ablation must list ints >= 2 or 'full'"),
    ({"alphas": "0.1,2"}, r"'alphas' parameter of downstream_ablation must be a finite number in \[0.0, 1.0\]"),
    ({"n_augs": "0"}, r"'n_augs' parameter of downstream_ablation must be an int >= 1"),
    ({"recipes": ""}, r"'recipes' parameter of downstream_ablation must name at least one recipe"),
    ({"protocol": "paper"}, r"'protocol' parameter of downstream_ablation must be one of"),
    ({"learners": ["cnn"]}, r"'learners' parameter of downstream_ablation must be one of"),
])
def test_downstream_ablation_rejects_bad_grids(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        aug.downstream_ablation(_dataset(n_train=10, n_eval=4), **kwargs)


def test_the_summary_has_the_verdict_and_the_ablation_rows(monkeypatch):
    data = _dataset(n_train=30, n_eval=30)
    result = aug.downstream_ablation(data, recipes="word_swap", train_sizes=[0], seeds=[0, 1], progress=False)
    table, verdicts, choice = aug.ablation_decision(result, n_resamples=100)
    comparison = aug.compare_augmenters(list(data["test"]["text"][:4]), recipes="word_swap",
                                        embedder=lambda t: np.ones((len(t), 2)) / np.sqrt(2), n_aug=2, progress=False)
    summary = aug.augmentation_summary(comparison, table, verdicts, choice, settings={})
    assert summary["verdict"] == verdicts[choice + aug.OVER_CONTROL]
    assert summary["verdict"]["baseline"] == "plain copies at the same n_aug"
    assert summary["verdicts"] == {"against_no_augmentation": verdicts[choice],
                                   "control": verdicts[aug.control_name(table, choice)]}
    assert {row["augmenter"] for row in summary["ablation"]} == {"word_swap", "copies"}
    assert {"learner", "alpha", "n_aug", "control_gain", "p_adjusted"} <= set(summary["ablation"][0])
    assert {"unchanged_rate", "failed_rate", "within_source_distinct_2"} <= set(summary["augmenters"]["word_swap"])
    text = aug.augmentation_findings(comparison.quality, table, verdicts, choice)
    assert "Plain copies" in text and "Longpre" in text
