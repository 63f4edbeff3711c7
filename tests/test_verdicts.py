"""The decision layer on planted effects: every answer, Holm, seed pairing, selection, schema, escaping, errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import f1_score

from workbench.errors import DataError, ParameterError
from workbench.evaluation import mean_difference_test
from workbench.verdicts import (
    VERDICT_KEYS,
    answer_sentence,
    choose_on_validation,
    compare_predictions,
    compare_seed_scores,
    comparison_frame,
    examples_for_non_inferiority,
    family_verdicts,
    findings_markdown,
    holm,
    make_verdict,
    minimum_detectable_effect,
    rule_p_value,
)


def _labels(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, n)


def _with_accuracy(truth: np.ndarray, accuracy: float, seed: int = 1) -> np.ndarray:
    """Predictions right on exactly round(accuracy * n) seeded examples, wrong on the rest."""
    rng = np.random.default_rng(seed)
    predictions = truth.copy()
    wrong = rng.choice(len(truth), len(truth) - round(accuracy * len(truth)), replace=False)
    predictions[wrong] = 1 - predictions[wrong]
    return predictions


def _verdict(comparison, **options):
    options.setdefault("question", "Does it pay off?")
    return make_verdict(choice="candidate", baseline="baseline", comparison=comparison, **options)


# --------------------------------------------------------------------------- planted effects

def test_a_label_revealing_candidate_pays_off():
    truth = _labels(400)
    baseline = _with_accuracy(truth, 0.70)
    comparison = compare_predictions(truth, truth, baseline)
    verdict = _verdict(comparison)
    assert verdict["answer"] == "pays off"
    assert verdict["effect"]["delta"] == pytest.approx(0.30)
    assert verdict["ci95"][0] > 0.25 and verdict["p_value"] < 0.01


@pytest.mark.parametrize("metric", ["accuracy", "macro_f1"])
def test_an_identity_candidate_has_no_detectable_effect(metric):
    truth = _labels(400)
    baseline = _with_accuracy(truth, 0.70)
    verdict = _verdict(compare_predictions(truth, baseline.copy(), baseline, metric=metric))
    assert verdict["answer"] == "no detectable effect"
    assert verdict["p_value"] == 1.0 and verdict["effect"]["delta"] == 0.0 and verdict["ci95"] == [0.0, 0.0]


def _flip_correct(truth: np.ndarray, predictions: np.ndarray, share: float, seed: int = 2) -> np.ndarray:
    """Turn ``share`` of the correct predictions wrong."""
    correct = np.flatnonzero(predictions == truth)
    flipped = np.random.default_rng(seed).choice(correct, round(share * len(correct)), replace=False)
    result = predictions.copy()
    result[flipped] = 1 - result[flipped]
    return result


def test_flipping_three_percent_of_correct_predictions_costs_accuracy_under_non_inferiority():
    truth = _labels(1000)
    baseline = _with_accuracy(truth, 0.80)
    variant = _flip_correct(truth, baseline, 0.03)  # 24 of 800 correct predictions: delta = -0.024
    comparison = compare_predictions(truth, variant, baseline)
    assert comparison["delta"] == pytest.approx(-0.024)
    assert comparison["ci95"][1] < -0.01  # the whole interval lies beyond the 1-point margin
    verdict = _verdict(comparison, rule="non-inferiority", margin=0.01, selected_on=None)
    assert verdict["answer"] == "costs accuracy"
    assert verdict["p_value"] > 0.5  # no evidence of non-inferiority


def test_non_inferiority_reads_the_lower_bound_never_the_point_estimate():
    truth = _labels(1000)
    baseline = _with_accuracy(truth, 0.80)
    close = _flip_correct(truth, baseline, 0.004)  # 3 flips: delta -0.003, interval well inside the margin
    kept = compare_predictions(truth, close, baseline)
    assert kept["ci95"][0] >= -0.01
    assert _verdict(kept, rule="non-inferiority")["answer"] == "pays off"
    small = _labels(150, seed=5)  # the same kind of small loss on few examples: the interval reaches below -m
    few = compare_predictions(small, _flip_correct(small, _with_accuracy(small, 0.8), 0.01),
                              _with_accuracy(small, 0.8))
    assert -0.01 < few["delta"] < 0 and few["ci95"][0] < -0.01
    assert _verdict(few, rule="non-inferiority")["answer"] == "inconclusive"


def test_a_small_noisy_difference_on_few_examples_is_inconclusive_and_says_what_it_could_detect():
    truth = _labels(40)
    baseline = _with_accuracy(truth, 0.60)
    candidate = baseline.copy()
    wrong, right = np.flatnonzero(baseline != truth), np.flatnonzero(baseline == truth)
    candidate[wrong[:3]] = truth[wrong[:3]]         # fixes three
    candidate[right[:2]] = 1 - truth[right[:2]]     # breaks two: delta = +1/40
    verdict = _verdict(compare_predictions(truth, candidate, baseline))
    assert verdict["answer"] == "inconclusive"
    assert verdict["effect"]["delta"] == pytest.approx(0.025)
    assert verdict["effect"]["min_detectable"] > abs(verdict["effect"]["delta"])
    assert "smallest effect this test could detect" in answer_sentence(verdict)
    assert "smallest effect this data and these seeds could detect" in findings_markdown(verdict)


def test_same_seed_same_comparison():
    truth = _labels(300)
    first = compare_predictions(truth, _with_accuracy(truth, 0.75, seed=3), _with_accuracy(truth, 0.7), seed=7)
    again = compare_predictions(truth, _with_accuracy(truth, 0.75, seed=3), _with_accuracy(truth, 0.7), seed=7)
    assert first == again


# --------------------------------------------------------------------------- Holm

def test_holm_matches_a_hand_computed_example():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.6, 0.7]) == [1.0, 1.0]  # 1.2 capped at 1, and monotone
    assert holm({"a": 0.04, "b": 0.01}) == pytest.approx({"a": 0.04, "b": 0.02})
    assert holm([0.2]) == [0.2]


def test_a_family_is_holm_corrected_and_its_size_recorded():
    comparison = {"metric": "accuracy", "delta": 0.03, "ci95": [0.005, 0.055], "p_value": 0.03, "se": 0.0128,
                  "df": None, "decided_by": "example", "n_seeds": 1, "n_examples": 1000}
    assert _verdict(comparison)["answer"] == "pays off"
    family = family_verdicts("Which recipe pays off?", {"eda": comparison, "swap": dict(comparison)},
                             baseline="none", costs={"eda": {"seconds": 12.0}})
    assert [v["n_comparisons"] for v in family.values()] == [2, 2]
    assert family["eda"]["p_adjusted"] == pytest.approx(0.06) and family["eda"]["answer"] == "inconclusive"
    assert family["eda"]["cost"] == {"seconds": 12.0} and family["swap"]["cost"] == {}


# --------------------------------------------------------------------------- seeds

def test_seed_pairing_gives_a_tighter_interval_than_an_unpaired_comparison():
    rng = np.random.default_rng(0)
    baseline = np.array([0.70, 0.78, 0.74, 0.81, 0.72])  # seeds differ a lot
    candidate = baseline + 0.02 + rng.normal(0, 0.002, 5)  # better by about a constant on every seed
    comparison = compare_seed_scores(dict(enumerate(candidate)), dict(enumerate(baseline)))
    paired_width = comparison["ci95"][1] - comparison["ci95"][0]
    unpaired = stats.ttest_ind(candidate, baseline, equal_var=False).confidence_interval(0.95)
    assert paired_width < (unpaired.high - unpaired.low) / 5
    assert comparison["ci95"][0] > 0 and comparison["decided_by"] == "seed" and comparison["by_example"] is None
    assert _verdict(comparison)["answer"] == "pays off"


def test_an_exactly_constant_seed_difference_has_a_zero_width_interval():
    comparison = compare_seed_scores({0: 0.75, 1: 0.85}, {0: 0.70, 1: 0.80})
    assert comparison["ci95"] == [pytest.approx(0.05), pytest.approx(0.05)] and comparison["p_value"] == 0.0


def test_several_seeds_report_both_tests_with_seed_averaged_correctness():
    truth = _labels(500)
    baseline = {s: _with_accuracy(truth, 0.70, seed=10 + s) for s in range(3)}
    candidate = {s: _with_accuracy(truth, 0.72 + 0.02 * s, seed=20 + s) for s in range(3)}  # +2, +4, +6 points
    comparison = compare_predictions(truth, candidate, baseline)
    averaged = (np.mean([candidate[s] == truth for s in range(3)], axis=0)
                - np.mean([baseline[s] == truth for s in range(3)], axis=0))
    expected = mean_difference_test(averaged)
    assert comparison["by_example"]["ci95"] == pytest.approx(list(expected["ci95"]))
    assert comparison["by_example"]["seed_averaged"] is True
    assert comparison["by_seed"]["delta"] == pytest.approx(comparison["by_example"]["delta"]) == pytest.approx(0.04)
    widths = {t: comparison[f"by_{t}"]["ci95"][1] - comparison[f"by_{t}"]["ci95"][0] for t in ("example", "seed")}
    assert comparison["decided_by"] == max(widths, key=widths.get) == "seed"  # 3 seeds spread +2 to +6 points
    assert comparison["by_seed"]["ci95"] == pytest.approx(list(stats.ttest_rel(
        [0.72, 0.74, 0.76], [0.70, 0.70, 0.70]).confidence_interval(0.95)))
    assert comparison["n_seeds"] == 3 and "3 seeds" in comparison["note"]
    frame = comparison_frame({"candidate": comparison})
    assert frame["test"].tolist() == ["example", "seed"] and frame["decides"].sum() == 1


def test_macro_f1_over_seeds_averages_the_per_seed_differences():
    truth = _labels(300)
    baseline = _with_accuracy(truth, 0.70)  # deterministic baseline: one sequence stands for every seed
    candidate = {s: _with_accuracy(truth, 0.75, seed=30 + s) for s in range(2)}
    comparison = compare_predictions(truth, candidate, baseline, metric="macro_f1")
    expected = np.mean([f1_score(truth, candidate[s], average="macro") - f1_score(truth, baseline, average="macro")
                        for s in range(2)])
    assert comparison["by_example"]["delta"] == pytest.approx(expected)
    assert comparison["by_seed"]["delta"] == pytest.approx(expected)


def test_one_seed_says_so_and_the_example_test_decides():
    truth = _labels(200)
    comparison = compare_predictions(truth, {7: truth}, {7: _with_accuracy(truth, 0.8)})
    assert comparison["by_seed"] is None and comparison["decided_by"] == "example"
    assert "one training seed" in comparison["note"]


# --------------------------------------------------------------------------- rules

@pytest.mark.parametrize("margin", [0.005, 0.01, 0.02, 0.03])
def test_the_non_inferiority_p_value_is_the_interval_inverted(margin):
    truth = _labels(1000)
    baseline = _with_accuracy(truth, 0.80)
    comparison = compare_predictions(truth, _flip_correct(truth, baseline, 0.01), baseline)
    p = rule_p_value(comparison, rule="non-inferiority", margin=margin)
    assert (p <= 0.025) == (comparison["ci95"][0] >= -margin)


def test_minimum_detectable_effect_is_about_2_8_standard_errors():
    assert minimum_detectable_effect(0.01) == pytest.approx((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * 0.01)
    assert minimum_detectable_effect(0.01) == pytest.approx(0.028, abs=1e-4)
    assert minimum_detectable_effect(0.01, df=4) > minimum_detectable_effect(0.01)


def test_examples_for_non_inferiority_puts_the_lower_bound_at_the_margin():
    # 200 examples, 10 discordant each way: delta 0 with a wide interval. Tiling them keeps delta and
    # the per-example spread, so at the predicted size the bootstrap's lower bound sits at -margin.
    truth = np.zeros(200, dtype=int)
    baseline, candidate = truth.copy(), truth.copy()
    baseline[:10] = 1
    candidate[10:20] = 1
    small = compare_predictions(truth, candidate, baseline)
    needed = examples_for_non_inferiority(small["delta"], small["se"], small["n_examples"], margin=0.01)
    assert small["ci95"][0] < -0.01 and needed > 200
    copies = round(needed / 200)
    big = compare_predictions(np.tile(truth, copies), np.tile(candidate, copies), np.tile(baseline, copies))
    assert big["ci95"][0] == pytest.approx(-0.01, abs=0.0015)
    assert examples_for_non_inferiority(-0.01, small["se"], 200, margin=0.01) is None  # delta at -margin: never
    assert examples_for_non_inferiority(0.005, 0.01, 400, margin=0.01) < needed


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"delta": 2.0}, r"'delta' parameter of examples_for_non_inferiority .* Got 2.0 instead"),
    ({"se": -0.1}, r"'se' parameter of examples_for_non_inferiority .* Got -0.1 instead"),
    ({"n_examples": 0}, r"'n_examples' parameter of examples_for_non_inferiority .* Got 0 instead"),
    ({"margin": 0.0}, r"'margin' parameter of examples_for_non_inferiority .* Got 0.0 instead"),
])
def test_examples_for_non_inferiority_rejects_bad_input(kwargs, match):
    args = {"delta": 0.0, "se": 0.01, "n_examples": 400, "margin": 0.01, **kwargs}
    with pytest.raises(ParameterError, match=match):
        examples_for_non_inferiority(args.pop("delta"), args.pop("se"), args.pop("n_examples"), **args)


# --------------------------------------------------------------------------- selection

def test_changing_only_the_test_scores_never_changes_the_choice():
    rng = np.random.default_rng(0)
    names = ["wordpiece", "bpe_4000", "bpe_8000", "unigram"]
    validation = pd.DataFrame({"candidate": names, "split": "validation", "accuracy": [0.80, 0.83, 0.82, 0.79]})
    choices = set()
    for _ in range(20):
        test = pd.DataFrame({"candidate": names, "split": "test", "accuracy": rng.uniform(0, 1, 4)})
        choices.add(choose_on_validation(pd.concat([validation, test]).sample(frac=1, random_state=0)))
    assert choices == {"bpe_4000"}


def test_choose_on_validation_breaks_ties_by_cost_then_name_and_reads_long_frames():
    assert choose_on_validation({"b": 0.8, "a": 0.8, "c": 0.7}) == "a"
    assert choose_on_validation({"b": 0.8, "a": 0.8}, cost={"a": 2, "b": 1}) == "b"
    long = pd.DataFrame({"candidate": [1000, 1000, 4000, 4000], "metric": ["accuracy", "macro_f1"] * 2,
                         "value": [0.80, 0.60, 0.78, 0.70], "parameters": [1.0, 1.0, 4.0, 4.0]})
    assert choose_on_validation(long, metric="macro_f1", cost="parameters") == 4000
    assert choose_on_validation(long, cost="parameters") == 1000
    seeds = pd.DataFrame({"candidate": ["a", "a", "b", "b"], "accuracy": [0.9, 0.6, 0.76, 0.76]})
    assert choose_on_validation(seeds) == "b"  # seeds are averaged: a 0.75, b 0.76


# --------------------------------------------------------------------------- the verdict dict and its words

def test_the_verdict_has_exactly_the_schema_keys_and_is_json():
    truth = _labels(200)
    comparison = compare_predictions(truth, _with_accuracy(truth, 0.8, seed=3), _with_accuracy(truth, 0.75))
    verdict = make_verdict(question="Does a 4,000 vocabulary pay off?", choice=np.int64(4000), baseline="wordpiece",
                           comparison=comparison, cost={"parameters": {"candidate": np.int64(1_500_000),
                                                                       "baseline": 2_100_000}})
    assert tuple(verdict) == VERDICT_KEYS
    assert set(verdict) == {"question", "answer", "choice", "baseline", "metric", "effect", "ci95", "p_value",
                            "p_adjusted", "n_comparisons", "selected_on", "reported_on", "n_seeds", "n_examples",
                            "cost"}
    assert json.loads(json.dumps(verdict)) == verdict
    assert verdict["choice"] == 4000 and verdict["selected_on"] == "validation" and verdict["reported_on"] == "test"
    assert verdict["answer"] in {"pays off", "no detectable effect", "costs accuracy", "inconclusive"}
    assert "parameters 1,500,000 vs 2,100,000 (-29%)" in answer_sentence(verdict)


def test_sentence_and_markdown_escape_names():
    truth = _labels(200)
    comparison = compare_predictions(truth, truth, _with_accuracy(truth, 0.7))
    verdict = make_verdict(question="Is <b>it</b> better?", choice="<script>alert(1)</script>",
                           baseline="[x](javascript:alert(1))", comparison=comparison,
                           cost={"<i>time</i>": "3 <s>"})
    sentence, markdown = answer_sentence(verdict), findings_markdown(verdict)
    for text in (sentence, markdown):
        assert "<script>" not in text and "<b>" not in text and "<i>" not in text and "<s>" not in text
        assert "&lt;script&gt;" in text
    assert "](javascript" not in markdown and r"\[x\]\(javascript:alert\(1\)\)" in markdown
    assert sentence.startswith("&lt;script&gt;alert(1)&lt;/script&gt; vs [x](javascript:alert(1)): pays off, +")


# --------------------------------------------------------------------------- bad input: one line each

_C = {"metric": "accuracy", "delta": 0.01, "ci95": [-0.01, 0.03], "p_value": 0.3, "se": 0.0102, "df": None,
      "decided_by": "example", "n_seeds": 1, "n_examples": 500}


@pytest.mark.parametrize("call, error, match", [
    (lambda: compare_predictions([0, 1], [0, 1], [0, 1], metric="f1"), ParameterError,
     r"The 'metric' parameter of compare_predictions must be one of 'accuracy', 'macro_f1'\. Got 'f1'"),
    (lambda: compare_predictions([0, 1, 1], [0, 1], [0, 1, 1]), ParameterError,
     r"'candidate' parameter of compare_predictions must have the same length as 'y_true' \(3\)"),
    (lambda: compare_predictions([0, 1], {0: [0, 1], 1: [0, 1]}, {0: [0, 1], 2: [1, 1]}), ParameterError,
     r"must hold the same training seeds.*candidate seeds \[0, 1\] and baseline seeds \[0, 2\]"),
    (lambda: compare_seed_scores({0: 0.8}, {0: 0.7}), ParameterError,
     r"'candidate' parameter of compare_seed_scores must map two or more training seeds.*compare_predictions"),
    (lambda: compare_seed_scores({0: 0.8, 1: float("nan")}, {0: 0.7, 1: 0.7}), ParameterError,
     r"must hold finite metric values"),
    (lambda: holm([]), ParameterError, r"'p_values' parameter of holm must hold at least one p-value"),
    (lambda: holm([0.2, 1.5]), ParameterError,
     r"'p_values\[1\]' parameter of holm must be a finite number in \[0, 1\]"),
    (lambda: _verdict(_C, rule="equivalence"), ParameterError,
     r"'rule' parameter of make_verdict must be one of 'superiority', 'non-inferiority'\. Got 'equivalence'"),
    (lambda: _verdict(_C, margin=-0.01), ParameterError, r"'margin' parameter of make_verdict must be .*0\.01 for one"),
    (lambda: _verdict(_C, n_comparisons=3), ParameterError,
     r"'p_adjusted' parameter of make_verdict must be given when n_comparisons > 1.*holm"),
    (lambda: _verdict(_C, n_comparisons=3, p_adjusted=0.1), ParameterError, r"Holm never lowers a p-value"),
    (lambda: _verdict(_C, selected_on="test"), ParameterError, r"'selected_on' parameter .* never 'test'"),
    (lambda: _verdict({"delta": 0.1}), ParameterError,
     r"'comparison' parameter of make_verdict must be a dict from compare_predictions"),
    (lambda: _verdict(_C, cost={"latency": [1, 2]}), ParameterError,
     r"'cost\[latency\]' parameter of make_verdict must be a finite number"),
    (lambda: family_verdicts("q", {}, baseline="b"), ParameterError, r"must hold at least one comparison"),
    (lambda: choose_on_validation(pd.DataFrame({"candidate": ["a"], "split": ["test"], "accuracy": [0.9]})),
     DataError, r"'split' column without 'validation' rows.*test scores never choose"),
    (lambda: choose_on_validation(pd.DataFrame({"candidate": ["a"], "f1": [0.9]})), ParameterError,
     r"'metric' parameter of choose_on_validation must be a column of scores"),
    (lambda: choose_on_validation({"a": float("nan"), "b": 0.5}), DataError, r"finite validation accuracy.*\['a'\]"),
    (lambda: choose_on_validation([0.8, 0.7]), ParameterError, r"must be a mapping of names to validation scores"),
    (lambda: choose_on_validation({"a": 0.8}, cost={"b": 1}), ParameterError, r"cost for every candidate"),
    (lambda: answer_sentence({"answer": "pays off"}), ParameterError,
     r"'verdict' parameter of answer_sentence must be a dict from make_verdict"),
    (lambda: minimum_detectable_effect(-1.0), ParameterError, r"'se' parameter of minimum_detectable_effect"),
])
def test_bad_input_is_one_line(call, error, match):
    with pytest.raises(error, match=match) as info:
        call()
    assert "\n" not in str(info.value)
