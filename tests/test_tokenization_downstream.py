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
                         "round_trip_exact": [1.0, 1.0, 1.0]}, index=["a", "b", "word"])
    decision = {"choice": "unigram_4000", "baseline": "bpe_1000", "recommended": "bpe_1000",
                "verdict": {"answer": "inconclusive"}}
    choice = recommend_tokenizer(wide, decision, trained=["b", "word"])
    assert choice["intrinsic_choice"] == "a"  # 'word' is shorter but maps text to [UNK]
    assert choice["trained_choice"] == "b" and choice["trained_lossless"]
    assert (choice["downstream_choice"], choice["downstream_answer"], choice["recommended"]) == (
        "unigram_4000", "inconclusive", "bpe_1000")
    assert plot_downstream(frame, correlation).axes[1].get_title().startswith("accuracy vs Rényi")


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
                                     decision, {"n": 2}, wide)
    assert "&lt;script&gt;" in markdown and "<script>" not in markdown
    assert "**pays off**" in markdown and "`bpe_4000`" in markdown and "none here is lossless" in markdown
