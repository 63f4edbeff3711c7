"""workbench.tokenization.downstream and .findings: the downstream sweep (rows, embeddings, intervals,
reproducibility, failures), the choice on validation and the verdict on test, escaped findings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.errors import ParameterError

TINY = "tiny:num_layers=1,hidden_size=16,num_heads=2,dropout=0.0"


@pytest.fixture(scope="module")
def small_data():
    from workbench.data import load_dataset

    return load_dataset(max_examples=120, seed=0)


def _quick_config(**overrides):
    from workbench.training import TrainConfig

    return TrainConfig(**{"learning_rate": 1e-3, "max_steps": 3, "batch_size": 16, "max_length": 32,
                          "progress": False, "logging_steps": 1} | overrides)


def test_downstream_sweep_rows_embeddings_and_intervals(small_data):
    from workbench.tokenization import downstream_sweep

    result = downstream_sweep(small_data, algorithms=["bpe", "unigram"], vocab_sizes=[150, 300], model=TINY,
                              config=_quick_config(), seeds=[0, 1], n_resamples=200, progress=False)
    frame = result.frame
    assert list(frame[["algorithm", "target_vocab_size"]].itertuples(index=False, name=None)) == [
        ("bpe", 150), ("bpe", 300), ("unigram", 150), ("unigram", 300)]
    assert (frame["status"] == "ok").all() and (frame["n_seeds"] == 2).all()
    # The embedding table is vocabulary x hidden size: the parameters the vocabulary buys.
    assert (frame["embedding_params"] == frame["vocab_size"] * 16).all()
    assert (frame["ci95_low"] <= frame["accuracy"]).all() and (frame["accuracy"] <= frame["ci95_high"]).all()
    assert frame["accuracy"].between(0, 1).all() and (frame["seed_std"] >= 0).all()
    # Seed-averaged accuracy is the mean of the per-seed runs.
    per_seed = result.runs.groupby(["algorithm", "target_vocab_size"], sort=False)["accuracy"].mean()
    np.testing.assert_allclose(per_seed.to_numpy(), frame["accuracy"].to_numpy())
    assert len(result.runs) == 8
    # A larger vocabulary cuts the same test texts into fewer tokens.
    bpe = frame[frame.algorithm == "bpe"].set_index("target_vocab_size")
    assert bpe.loc[300, "fertility"] < bpe.loc[150, "fertility"]
    rows = result.rows()
    assert set(rows[0]) >= {"algorithm", "vocab_size", "accuracy", "ci95", "embedding_params"}


def test_downstream_sweep_is_reproducible(small_data):
    from workbench.tokenization import downstream_sweep

    def once():
        return downstream_sweep(small_data, algorithms=["bpe"], vocab_sizes=[200], model=TINY,
                                config=_quick_config(), seeds=[3], n_resamples=100, progress=False).runs
    pd.testing.assert_frame_equal(once().drop(columns="train_seconds"), once().drop(columns="train_seconds"))


def test_downstream_sweep_reports_a_failing_configuration_and_goes_on(small_data, monkeypatch):
    import workbench.tokenization.downstream as tokenization

    real = tokenization.train_tokenizer

    def flaky(texts, *, algorithm, **kwargs):
        if algorithm == "unigram":
            raise RuntimeError("trainer exploded\nsecond line")
        return real(texts, algorithm=algorithm, **kwargs)

    monkeypatch.setattr(tokenization, "train_tokenizer", flaky)
    frame = tokenization.downstream_sweep(small_data, algorithms=["unigram", "bpe"], vocab_sizes=[150],
                                          model=TINY, config=_quick_config(), progress=False).frame
    assert frame["status"].tolist() == ["failed", "ok"]
    assert frame["reason"].iloc[0] == "trainer exploded"


@pytest.mark.parametrize("kwargs, match", [
    ({"algorithms": ["sentencepiece"]}, "'algorithms' parameter of downstream_sweep must be one of"),
    ({"vocab_sizes": [50]}, r"'vocab_sizes' parameter of downstream_sweep must be an int in \[100, 1000000\]"),
    ({"seeds": []}, "'seeds' parameter of downstream_sweep must list at least one value"),
    ({"model": "minilm"}, "'model' parameter of downstream_sweep must be a 'tiny'"),
])
def test_downstream_sweep_bad_input(small_data, kwargs, match):
    from workbench.tokenization import downstream_sweep

    with pytest.raises(ParameterError, match=match):
        downstream_sweep(small_data, **kwargs)


def test_downstream_correlation_and_recommendation_known_answers():
    from workbench.tokenization import downstream_correlation, plot_downstream, recommend_tokenizer

    frame = pd.DataFrame({
        "algorithm": ["bpe", "bpe", "unigram", "unigram"], "vocab_size": [1000, 4000, 1000, 4000],
        "accuracy": [0.70, 0.74, 0.69, 0.75], "ci95_low": [0.66, 0.71, 0.65, 0.72],
        "ci95_high": [0.74, 0.77, 0.73, 0.78], "embedding_params": [64_000, 256_000, 64_000, 256_000],
        "renyi_efficiency": [0.30, 0.40, 0.32, 0.38], "status": "ok"})
    correlation = downstream_correlation(frame)
    assert correlation["n"] == 4
    assert correlation["spearman_rho"] == pytest.approx(0.6)  # ranks (1,4,2,3) vs (2,3,1,4): 1 - 6*4/60
    expected_r = np.corrcoef(frame["renyi_efficiency"], frame["accuracy"])[0, 1]
    assert correlation["pearson_r"] == pytest.approx(expected_r)
    wide = pd.DataFrame({"fertility": [1.1, 1.3, 1.0], "unk_rate": [0.0, 0.0, 0.02],
                         "round_trip_exact": [1.0, 1.0, 1.0], "vocab_size": [1000, 1000, 500]}, index=["a", "b", "word"])
    decision = {"choice": "unigram_4000", "baseline": "bpe_1000", "recommended": "bpe_1000",
                "verdict": {"answer": "inconclusive"}}
    choice = recommend_tokenizer(wide, decision, trained=["b", "word"])
    assert choice["intrinsic_choice"] == "a"  # 'word' is shorter but maps text to [UNK]
    assert choice["trained_choice"] == "b" and choice["trained_lossless"]
    assert (choice["downstream_choice"], choice["downstream_answer"], choice["recommended"]) == (
        "unigram_4000", "inconclusive", "bpe_1000")
    assert choice["recommended_by"] == "downstream"
    assert plot_downstream(frame, correlation).axes[1].get_title().startswith("accuracy vs Rényi")


def test_intrinsic_recommendation_weighs_the_embedding_cost():
    # Planted: 'o200k' compresses best but costs 25x the embedding rows of 'bpe_8000', 3% longer sequences;
    # 'bpe_1000' is cheaper still but 20% longer; 'word' is shortest and small but maps text to [UNK].
    from workbench.tokenization import recommend_tokenizer

    wide = pd.DataFrame({"fertility": [1.10, 1.13, 1.32, 1.05], "unk_rate": [0.0, 0.0, 0.0, 0.04],
                         "round_trip_exact": [1.0, 1.0, 1.0, 1.0], "vocab_size": [200_019, 8_000, 1_000, 5_000]},
                        index=["o200k", "bpe_8000", "bpe_1000", "word"])
    pick = recommend_tokenizer(wide, trained=["bpe_8000", "bpe_1000", "word"])
    assert (pick["intrinsic_choice"], pick["intrinsic_fewest_tokens"], pick["intrinsic_fertility"]) == (
        "bpe_8000", "o200k", 1.13)
    assert (pick["trained_choice"], pick["recommended"], pick["recommended_by"]) == ("bpe_8000", "bpe_8000", "intrinsic")
    assert recommend_tokenizer(wide, fertility_tolerance=0.0)["intrinsic_choice"] == "o200k"
    assert recommend_tokenizer(wide, fertility_tolerance=0.25)["intrinsic_choice"] == "bpe_1000"
    downstream = recommend_tokenizer(wide, {"choice": "bpe_1000", "baseline": "bpe_8000", "recommended": "bpe_1000",
                                            "verdict": {"answer": "pays off"}})
    assert (downstream["recommended"], downstream["recommended_by"]) == ("bpe_1000", "downstream")
    with pytest.raises(ParameterError, match="'fertility_tolerance' parameter of recommend_tokenizer"):
        recommend_tokenizer(wide, fertility_tolerance=-0.1)


def _decision_result(val_scores, test_correct, *, n=200, params=(64_000, 256_000, 256_000)):
    """A DownstreamResult with planted validation scores and test correctness shares (one seed)."""
    from workbench.tokenization import DownstreamResult

    truth = np.array([0, 1] * (n // 2))
    names = ["bpe_1000", "bpe_4000", "unigram_4000"][:len(val_scores)]
    frame = pd.DataFrame({"configuration": names, "status": "ok", "embedding_params": list(params[:len(names)]),
                          "val_accuracy": val_scores, "val_macro_f1": val_scores})
    test = {}
    for name, share in zip(names, test_correct):
        pred = truth.copy()
        pred[int(share * n):] = 1 - pred[int(share * n):]
        test[name] = {0: pred}
    return DownstreamResult(frame, pd.DataFrame(), {"validation": test, "test": test},
                            {"validation": truth, "test": truth})


def test_downstream_verdict_chooses_on_validation_against_the_cheapest():
    from workbench.tokenization import downstream_verdict
    from workbench.verdicts import VERDICT_KEYS

    # unigram_4000 is best on validation but bpe_4000 would be best on test: validation decides.
    decision = downstream_verdict(_decision_result([0.6, 0.7, 0.8], [0.6, 0.9, 0.85]), n_resamples=300)
    assert (decision["baseline"], decision["choice"]) == ("bpe_1000", "unigram_4000")
    verdict = decision["verdict"]
    assert list(verdict) == list(VERDICT_KEYS)
    assert verdict["answer"] == "pays off" and verdict["effect"]["delta"] == pytest.approx(0.25)
    assert verdict["selected_on"] == "validation" and verdict["reported_on"] == "test"
    assert verdict["cost"] == {"embedding_params": {"candidate": 256_000.0, "baseline": 64_000.0}}
    assert decision["recommended"] == "unigram_4000"
    # No gain on test: the cheaper baseline is recommended.
    same = downstream_verdict(_decision_result([0.6, 0.7, 0.8], [0.8, 0.8, 0.8]), n_resamples=300)
    assert same["verdict"]["answer"] != "pays off" and same["recommended"] == "bpe_1000"
    # Equal validation scores: the cheaper candidate wins the tie.
    tie = _decision_result([0.6, 0.8, 0.8], [0.6, 0.8, 0.8], params=(64_000, 128_000, 256_000))
    assert downstream_verdict(tie, n_resamples=100, metric="macro_f1")["choice"] == "bpe_4000"
    alone = downstream_verdict(_decision_result([0.6], [0.6]))
    assert alone["verdict"] is None and "nothing to compare" in alone["note"]


def test_downstream_verdict_bad_input():
    from workbench.tokenization import downstream_verdict

    result = _decision_result([0.6, 0.7], [0.6, 0.7])
    with pytest.raises(ParameterError, match="'metric' parameter of downstream_verdict must be one of"):
        downstream_verdict(result, metric="bleu")
    with pytest.raises(ParameterError, match="'baseline' parameter of downstream_verdict must name a finished"):
        downstream_verdict(result, baseline="wordpiece_30522")


def test_changing_only_test_labels_leaves_the_choice_unchanged(small_data):
    from datasets import DatasetDict

    from workbench.tokenization import downstream_sweep, downstream_verdict

    flipped = DatasetDict({**small_data, "test": small_data["test"].map(lambda row: {"label": 1 - row["label"]})})
    decisions = []
    for data in (small_data, flipped):
        result = downstream_sweep(data, algorithms=["bpe", "unigram"], vocab_sizes=[150, 300], model=TINY,
                                  config=_quick_config(), seeds=[0], n_resamples=100, progress=False)
        decisions.append(downstream_verdict(result, n_resamples=100))
    assert decisions[0]["validation"] == decisions[1]["validation"]
    assert (decisions[0]["choice"], decisions[0]["baseline"]) == (decisions[1]["choice"], decisions[1]["baseline"])
    assert decisions[0]["verdict"]["effect"]["delta"] == pytest.approx(-decisions[1]["verdict"]["effect"]["delta"])


def test_findings_escape_names_and_carry_the_verdict():
    from workbench.tokenization import downstream_verdict, tokenization_findings

    wide = pd.DataFrame({"fertility": [1.25], "vocab_size": [100]}, index=["<script>x</script>"])
    decision = downstream_verdict(_decision_result([0.6, 0.8], [0.6, 0.9]), n_resamples=200)
    markdown = tokenization_findings({"intrinsic_choice": "<script>x</script>", "intrinsic_lossless": False},
                                     decision, {"fertility": {"spearman": -0.5, "ci95": [-1.0, 0.6], "n": 4}}, wide)
    assert "&lt;script&gt;" in markdown and "<script>" not in markdown
    assert "**pays off**" in markdown and "`bpe_4000`" in markdown and "none here is lossless" in markdown
    assert "fertility ρ = -0.50 (-1.00 to 0.60)" in markdown and "over 4 configurations" in markdown


def test_sweep_rows_carry_seeds_learning_rate_and_truncation(small_data):
    from workbench.tokenization import downstream_sweep, kept_char_share

    result = downstream_sweep(small_data, algorithms=["bpe"], vocab_sizes=[150, 300], model=TINY,
                              config=_quick_config(), seeds=[0, 1, 2], learning_rates=[1e-3, 3e-2],
                              n_resamples=100, progress=False)
    frame = result.frame.set_index("configuration")
    assert (frame["n_seeds"] == 3).all() and (frame["status"] == "ok").all()
    # The grid ran with the first seed only, one row per rate; the chosen rate is the best on validation.
    tuning = result.tuning
    assert len(tuning) == 4 and (tuning["seed"] == 0).all()
    for name, group in tuning.groupby("configuration"):
        chosen = group[group["chosen"]].iloc[0]
        assert chosen["val_accuracy"] == group["val_accuracy"].max()
        assert frame.loc[name, "learning_rate"] == chosen["learning_rate"]
    assert len(result.runs) == 6 and set(result.runs["seed"]) == {0, 1, 2}
    # kept_char_share is the test texts' share of characters within the budget of that tokenizer.
    texts = list(small_data["test"]["text"])
    ladder = __import__("workbench.tokenization.ladder", fromlist=["bpe_ladder"]).bpe_ladder(
        list(small_data["train"]["text"]), [150, 300])
    assert frame.loc["bpe_150", "kept_char_share"] == pytest.approx(kept_char_share(ladder[150], texts, max_length=32))
    assert frame.loc["bpe_150", "kept_char_share"] <= frame.loc["bpe_300", "kept_char_share"]
    assert frame.loc["bpe_150", "max_length"] == 32


def test_subword_dropout_changes_the_run_and_repeats_with_the_same_seed(small_data):
    from workbench.tokenization import downstream_sweep

    def once(dropout, seed=0):
        result = downstream_sweep(small_data, algorithms=["bpe"], vocab_sizes=[300], model=TINY,
                                  config=_quick_config(max_steps=6), seeds=[seed], subword_dropout=dropout,
                                  n_resamples=100, progress=False)
        assert result.frame["subword_dropout"].iloc[0] == dropout
        return result.runs.drop(columns="train_seconds"), result.predictions["test"]["bpe_300"][seed]

    off, on, again = once(0.0), once(0.5), once(0.5)
    pd.testing.assert_frame_equal(on[0], again[0])
    np.testing.assert_array_equal(on[1], again[1])
    # Training on other segmentations changes the model (a tiny one may still predict the same labels).
    assert off[0]["train_loss"].iloc[0] != on[0]["train_loss"].iloc[0]


def test_run_downstream_adds_a_dropout_run_to_the_family(small_data):
    from workbench.profiles import profile_settings
    from workbench.tokenization import DROPOUT_QUESTION, downstream_verdict, run_downstream

    settings = profile_settings("tokenization", "smoke", downstream_vocab_sizes=[150, 300],
                                downstream_model=TINY, downstream_epochs=0.2)
    result = run_downstream(small_data, settings, algorithms=["bpe"], subword_dropout=0.2, progress=False)
    assert result.regularised is not None
    assert result.regularised.frame["configuration"].tolist() == ["bpe_150"]  # the smallest BPE
    decision = downstream_verdict(result, n_resamples=100)
    assert set(decision["verdicts"]) == {"bpe_300", "bpe_150+dropout0.2"}
    dropout = decision["verdicts"]["bpe_150+dropout0.2"]
    assert dropout["question"] == DROPOUT_QUESTION and dropout["baseline"] == "bpe_150"
    assert dropout["selected_on"] is None and dropout["n_comparisons"] == 2 == decision["verdict"]["n_comparisons"]


def test_calibration_known_answers():
    from workbench.tokenization import calibrate_intrinsic

    frame = pd.DataFrame({"fertility": [1.6, 1.4, 1.2, 1.1, 1.0], "renyi_efficiency": [0.3, 0.5, 0.4, 0.6, 0.2],
                          "vocab_size": [1000] * 5, "accuracy": [0.70, 0.72, 0.74, 0.75, 0.76], "status": "ok"})
    out = calibrate_intrinsic(frame, metrics=["fertility", "renyi_efficiency", "vocab_size"], n_resamples=300)
    assert out["fertility"]["spearman"] == -1.0 and out["fertility"]["n"] == 5
    assert out["fertility"]["ci95"] == pytest.approx([-1.0, -1.0])  # every resample keeps the perfect ranking
    # ranks (2,4,3,5,1) vs (1..5): sum d^2 = 22, rho = 1 - 6 * 22 / 120
    assert out["renyi_efficiency"]["spearman"] == pytest.approx(-0.1)
    low, high = out["renyi_efficiency"]["ci95"]
    assert -1 <= low < -0.1 < high <= 1
    assert np.isnan(out["vocab_size"]["spearman"])  # constant: nothing to rank
