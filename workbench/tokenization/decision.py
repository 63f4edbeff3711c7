"""The downstream decision: choose a configuration on validation, compare it with the cheapest on test
through :mod:`workbench.verdicts` (with subword dropout as a second comparison of the family), and
relate an intrinsic score to accuracy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from workbench._validation import check_choice, check_type
from workbench.errors import ParameterError
from workbench.tokenization.downstream import DownstreamResult

DOWNSTREAM_METRICS: tuple[str, ...] = ("accuracy", "macro_f1")
DOWNSTREAM_QUESTION = "Does the tokenizer configuration chosen on validation pay off against the cheapest one?"


def downstream_verdict(result: DownstreamResult, *, metric: str = "accuracy", baseline: str | None = None,
                       n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Choose a configuration on validation, then score it against the baseline on test.

    The decision goes through :mod:`workbench.verdicts`, the one decision layer:

    - **Baseline**: the configuration with the fewest embedding parameters (ties: the first listed), i.e.
      the cheapest vocabulary; or the configuration named by ``baseline``. The question is whether paying
      for a larger embedding table (or another algorithm) buys accuracy on this data.
    - **Choice**: among the other finished configurations, the best seed-averaged validation ``metric``,
      ties to fewer embedding parameters (:func:`~workbench.verdicts.choose_on_validation`). Test labels
      never enter the choice.
    - **Comparison**: choice minus baseline on the test split, paired by example and by seed
      (:func:`~workbench.verdicts.compare_predictions`), superiority rule, Holm over the family
      over the family: this comparison, plus subword dropout against no dropout when ``result.regularised``
      ran (:func:`run_downstream`). The cost is embedding parameters (training time for dropout).
    - **Recommended**: the choice when it pays off, else the cheaper baseline.

    Returns
    -------
    dict
        ``choice``, ``baseline``, ``validation`` (``{configuration: score}``), ``comparison``, ``verdict``
        (the ``summary.json["verdict"]`` schema), ``verdicts`` (the whole family), ``recommended``. With fewer than two finished
        configurations there is nothing to compare: ``verdict`` is None and ``note`` says why.

    Examples
    --------
    >>> truth = np.array([0, 1] * 50)
    >>> frame = pd.DataFrame({"configuration": ["bpe_1000", "bpe_4000"], "status": "ok",
    ...                       "embedding_params": [64_000, 256_000], "val_accuracy": [0.7, 0.8]})
    >>> preds = {"bpe_1000": {0: np.zeros(100, int)}, "bpe_4000": {0: truth}}
    >>> result = DownstreamResult(frame, pd.DataFrame(), {"validation": preds, "test": preds},
    ...                           {"validation": truth, "test": truth})
    >>> decision = downstream_verdict(result, n_resamples=200)
    >>> decision["choice"], decision["baseline"], decision["verdict"]["answer"], decision["recommended"]
    ('bpe_4000', 'bpe_1000', 'pays off', 'bpe_4000')
    """
    from workbench.verdicts import choose_on_validation, compare_predictions, holm, make_verdict, rule_p_value

    func = "downstream_verdict"
    check_type("result", result, func, DownstreamResult)
    check_choice("metric", metric, func, DOWNSTREAM_METRICS)
    done = result.frame[result.frame["status"] == "ok"]
    names = done["configuration"].tolist()
    params = dict(zip(names, done["embedding_params"].astype(float)))
    if baseline is not None and baseline not in names:
        raise ParameterError(f"The 'baseline' parameter of {func} must name a finished configuration "
                             f"({', '.join(names)}). Got {baseline!r} instead.")
    if len(names) < 2:
        return {"choice": None, "baseline": names[0] if names else None, "validation": {}, "comparison": None,
                "verdict": None, "recommended": names[0] if names else None,
                "note": f"{len(names)} finished configuration(s): nothing to compare."}
    if baseline is None:
        baseline = min(names, key=lambda n: (params[n], names.index(n)))
    validation = dict(zip(names, done[f"val_{metric}"].astype(float)))
    candidates = {n: v for n, v in validation.items() if n != baseline}
    choice = choose_on_validation(candidates, metric=metric, cost={n: params[n] for n in candidates})
    test = result.predictions["test"]
    comparison = compare_predictions(result.labels["test"], test[choice], test[baseline], metric=metric,
                                     n_resamples=n_resamples, seed=seed)
    family = {choice: dict(question=DOWNSTREAM_QUESTION, baseline=baseline, comparison=comparison,
                           selected_on="validation",
                           cost={"embedding_params": {"candidate": params[choice], "baseline": params[baseline]}})}
    family.update(_dropout_comparison(result, metric, n_resamples, seed))
    p_values = {name: rule_p_value(item["comparison"]) for name, item in family.items()}
    adjusted = holm(p_values)
    verdicts = {name: make_verdict(choice=name, n_comparisons=len(family), p_adjusted=adjusted[name], **item)
                for name, item in family.items()}
    verdict = verdicts[choice]
    return {"choice": choice, "baseline": baseline, "validation": validation, "comparison": comparison,
            "verdict": verdict, "verdicts": verdicts,
            "recommended": choice if verdict["answer"] == "pays off" else baseline}


DROPOUT_QUESTION = "Does subword dropout during training pay off against the same tokenizer without it?"


def _dropout_comparison(result: DownstreamResult, metric: str, n_resamples: int, seed: int) -> dict[str, dict]:
    """The regularised run against the same configuration without dropout (same seeds), if it ran."""
    from workbench.verdicts import compare_predictions

    reg = result.regularised
    if reg is None or not (reg.frame["status"] == "ok").any():
        return {}
    row = reg.frame[reg.frame["status"] == "ok"].iloc[0]
    name, p = row["configuration"], float(row["subword_dropout"])
    plain = result.frame.set_index("configuration").loc[name]
    comparison = compare_predictions(result.labels["test"], reg.predictions["test"][name],
                                     result.predictions["test"][name], metric=metric, n_resamples=n_resamples,
                                     seed=seed)
    cost = {"train_seconds": {"candidate": float(row["train_seconds"]), "baseline": float(plain["train_seconds"])},
            "subword_dropout": p}
    return {f"{name}+dropout{p:g}": dict(question=DROPOUT_QUESTION, baseline=name, comparison=comparison,
                                         selected_on=None, cost=cost)}


def downstream_correlation(frame: pd.DataFrame, *, x: str = "renyi_efficiency", y: str = "accuracy"
                           ) -> dict[str, float]:
    """Pearson and Spearman correlation of an intrinsic score with accuracy across configurations.

    Zouhar et al. (2023) report Rényi efficiency (alpha 2.5) correlating with downstream BLEU at
    Pearson 0.78 across their tokenizers; this measures the same relation on your task. With fewer than
    three finished configurations the coefficients are NaN.

    >>> downstream_correlation(pd.DataFrame({"renyi_efficiency": [.3, .4, .5], "accuracy": [.6, .7, .8],
    ...                                      "status": "ok"}))["pearson_r"]
    1.0
    """
    from scipy.stats import pearsonr, spearmanr

    done = frame[frame["status"] == "ok"].dropna(subset=[x, y])
    out = {"n": int(len(done)), "x": x, "y": y}
    if len(done) < 3 or done[x].nunique() < 2 or done[y].nunique() < 2:
        return out | {"pearson_r": float("nan"), "pearson_p": float("nan"), "spearman_rho": float("nan"),
                      "spearman_p": float("nan")}
    pearson, spearman = pearsonr(done[x], done[y]), spearmanr(done[x], done[y])
    return out | {"pearson_r": round(float(pearson.statistic), 12), "pearson_p": float(pearson.pvalue),
                  "spearman_rho": float(spearman.statistic), "spearman_p": float(spearman.pvalue)}
