"""The ablation's decision, through the shared layer (:mod:`workbench.verdicts`).

Every augmenting cell of the grid (learner, size, recipe, alpha, n_aug) and every plain-copies cell
is compared on **test** with the run without augmentation at the same learner and size, paired by
example and by seed (:func:`~workbench.verdicts.compare_predictions`); the family of those
comparisons is Holm-corrected (:func:`~workbench.verdicts.family_verdicts`). A second family
compares each augmenting cell with its plain-copies control (same learner, size, n_aug and seeds), also
paired and Holm-corrected: that is the headline (:func:`headline_verdict`), since on a learner such as
TF-IDF + logistic regression most of what augmentation gains comes from repeating the data. The verdict's cell is
chosen on **validation** only (:func:`~workbench.verdicts.choose_on_validation` over the validation
gains of the augmenting cells), so the test labels never change the choice.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from workbench._validation import check_choice
from workbench.augmentation.ablation import BASELINE, COPIES, FILTERED, AblationResult
from workbench.evaluation import METRICS
from workbench.verdicts import (
    choose_on_validation,
    compare_predictions,
    family_verdicts,
)

ABLATION_COLUMNS: tuple[str, ...] = (
    "name", "learner", "train_size", "requested_size", "augmenter", "alpha", "n_aug", "n_seeds", "n_train", "n_added",
    "baseline_mean", "augmented_mean", "gain", "ci_low", "ci_high", "p_value", "p_adjusted", "decided_by",
    "min_detectable", "answer", "validation_gain", "control_gain", "gain_over_control", "baseline_seconds",
    "augmented_seconds", "ci_low_over_control", "ci_high_over_control", "p_adjusted_over_control",
    "answer_over_control", "status", "reason")
QUESTION = "Does augmenting the training data pay off?"
QUESTION_OVER_CONTROL = "Does augmenting the training data pay off beyond repeating it (plain copies at the same n_aug)?"
OVER_CONTROL = " over plain copies"


def _score(y_true: np.ndarray, y_pred: np.ndarray, metric: str) -> float:
    from sklearn.metrics import accuracy_score, f1_score

    return float(accuracy_score(y_true, y_pred) if metric == "accuracy" else
                 f1_score(y_true, y_pred, average="macro", zero_division=0))


def cell_name(learner: str, train_size: int, augmenter: str, alpha: float, n_aug: int) -> str:
    """A cell's name in tables and verdicts.

    >>> cell_name("tfidf_logreg", 500, "eda", 0.05, 16)
    'eda alpha=0.05 n_aug=16 (tfidf_logreg, 500 examples)'
    """
    what = f"plain copies n_aug={n_aug}" if augmenter == COPIES else f"{augmenter} alpha={alpha:g} n_aug={n_aug}"
    return f"{what} ({learner}, {train_size} examples)"


def ablation_decision(result: AblationResult, *, metric: str = "accuracy", n_resamples: int = 1000,
                      seed: int = 0) -> tuple[pd.DataFrame, dict[str, dict[str, Any]], str | None]:
    """``(table, verdicts, choice)``: one row per compared cell (:data:`ABLATION_COLUMNS`), the Holm-corrected
    verdict of each cell by name, and the augmenting cell chosen on validation (None when none ran).

    ``gain`` is the test metric difference from no augmentation (seeds averaged), ``control_gain`` that of
    plain copies at the same learner, size and n_aug, ``validation_gain`` the same difference on validation.
    """
    check_choice("metric", metric, "ablation_decision", METRICS)
    runs, preds = result.runs, result.predictions
    rows, comparisons, costs = [], {}, {}
    for key, group in runs.groupby(["learner", "train_size", "augmenter", "alpha", "n_aug"], sort=False):
        learner, size, augmenter, alpha, n_aug = key
        if augmenter == BASELINE:
            continue
        base_key = (learner, size, BASELINE, 0.0, 0)
        base, cand = preds.get(base_key, {}), preds.get(key, {})
        seeds = [s for s in cand if s in base]
        name = cell_name(learner, size, augmenter, alpha, n_aug)
        base_runs = runs[(runs["learner"] == learner) & (runs["train_size"] == size) & (runs["augmenter"] == BASELINE)]
        row = {"name": name, "learner": learner, "train_size": size, "requested_size": group["requested_size"].iloc[0],
                   "augmenter": augmenter, "alpha": alpha, "n_aug": n_aug, "n_seeds": len(seeds),
                   "n_train": float(group["n_train"].mean()), "n_added": float(group["n_added"].mean()),
                   "baseline_seconds": float(base_runs["train_seconds"].mean()),
                   "augmented_seconds": float(group["train_seconds"].mean())}
        if not seeds:
            bad = group[group["status"] != "ok"]
            bad = bad if len(bad) else base_runs[base_runs["status"] != "ok"]
            status = "skipped" if len(bad) and (bad["status"] == "skipped").all() else "failed"
            rows.append(row | {"status": status, "reason": bad["reason"].iloc[0] if len(bad) else "no run"})
            continue
        comparisons[name] = compare_predictions(result.y_test, {s: cand[s]["test"] for s in seeds},
                                                {s: base[s]["test"] for s in seeds}, metric=metric,
                                                n_resamples=n_resamples, seed=seed)
        costs[name] = {"training_examples": {"candidate": row["n_train"], "baseline": float(base_runs["n_train"].mean())},
                       "training_seconds": {"candidate": row["augmented_seconds"], "baseline": row["baseline_seconds"]}}
        y_val, y_test = result.y_validation, result.y_test
        row |= {
            "baseline_mean": float(np.mean([_score(y_test, base[s]["test"], metric) for s in seeds])),
            "augmented_mean": float(np.mean([_score(y_test, cand[s]["test"], metric) for s in seeds])),
            "validation_gain": float(np.mean([_score(y_val, cand[s]["validation"], metric)
                                           - _score(y_val, base[s]["validation"], metric) for s in seeds])),
            "status": "ok", "reason": None}
        rows.append(row)
    verdicts = family_verdicts(QUESTION, comparisons, baseline="no augmentation", costs=costs) if comparisons else {}
    over_control = _over_control(result, rows, metric=metric, n_resamples=n_resamples, seed=seed)
    verdicts |= {name + OVER_CONTROL: verdict for name, verdict in over_control.items()}
    for row in rows:
        verdict = verdicts.get(row["name"])
        if verdict is not None:
            row |= {"gain": verdict["effect"]["delta"], "ci_low": verdict["ci95"][0], "ci_high": verdict["ci95"][1],
                    "p_value": verdict["p_value"], "p_adjusted": verdict["p_adjusted"],
                    "decided_by": verdict["effect"]["decided_by"],
                    "min_detectable": verdict["effect"]["min_detectable"], "answer": verdict["answer"]}
    table = pd.DataFrame(rows, columns=list(ABLATION_COLUMNS))
    controls = table[table["augmenter"] == COPIES].set_index(["learner", "train_size", "n_aug"])["gain"]
    table["control_gain"] = [controls.get((r.learner, r.train_size, r.n_aug), np.nan) if r.augmenter != COPIES
                             else np.nan for r in table.itertuples()]
    paired = [over_control.get(name) for name in table["name"]]
    # The paired delta where the control ran with the same seeds, else the difference of the two gains.
    unpaired = pd.to_numeric(table["gain"]) - table["control_gain"]
    table["gain_over_control"] = [v["effect"]["delta"] if v else g for v, g in zip(paired, unpaired)]
    for column, read in (("ci_low_over_control", lambda v: v["ci95"][0]), ("ci_high_over_control", lambda v: v["ci95"][1]),
                         ("p_adjusted_over_control", lambda v: v["p_adjusted"]), ("answer_over_control", lambda v: v["answer"])):
        table[column] = [read(v) if v else None for v in paired]
    augmenting = table[(table["status"] == "ok") & (table["augmenter"] != COPIES)]
    choice = (choose_on_validation(dict(zip(augmenting["name"], augmenting["validation_gain"])), metric=metric)
              if len(augmenting) else None)
    return table, verdicts, choice


def _over_control(result: AblationResult, rows: list[dict], *, metric: str, n_resamples: int,
                  seed: int) -> dict[str, dict[str, Any]]:
    """Each augmenting cell that ran against its plain-copies control, paired by example and seed, Holm over them."""
    preds, comparisons = result.predictions, {}
    for row in rows:
        if row.get("status") != "ok" or row["augmenter"] == COPIES:
            continue
        key = (row["learner"], row["train_size"], row["augmenter"], row["alpha"], row["n_aug"])
        control = preds.get((row["learner"], row["train_size"], COPIES, 0.0, row["n_aug"]), {})
        cand = preds.get(key, {})
        seeds = [s for s in cand if s in control]
        if seeds:
            comparisons[row["name"]] = compare_predictions(
                result.y_test, {s: cand[s]["test"] for s in seeds}, {s: control[s]["test"] for s in seeds},
                metric=metric, n_resamples=n_resamples, seed=seed)
    return (family_verdicts(QUESTION_OVER_CONTROL, comparisons, baseline="plain copies at the same n_aug")
            if comparisons else {})


def headline_verdict(verdicts: dict[str, dict[str, Any]], choice: str | None) -> dict[str, Any] | None:
    """The notebook's one verdict: the chosen cell against its plain-copies control when that ran, else
    against no augmentation (None when nothing ran).

    >>> headline_verdict({"eda": {"baseline": "no augmentation"}}, "eda")["baseline"]
    'no augmentation'
    """
    if choice is None:
        return None
    return verdicts.get(choice + OVER_CONTROL, verdicts.get(choice))


def control_name(table: pd.DataFrame, choice: str) -> str | None:
    """The plain-copies cell matching ``choice`` (same learner, size and n_aug), if it ran."""
    row = table.set_index("name").loc[choice]
    same = table[(table["augmenter"] == COPIES) & (table["learner"] == row["learner"])
                 & (table["train_size"] == row["train_size"]) & (table["n_aug"] == row["n_aug"])]
    return same["name"].iloc[0] if len(same) else None


def ablation_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The ablation table as summary rows (one per compared cell, ``ci95`` as ``[low, high]``).

    >>> row = dict.fromkeys(ABLATION_COLUMNS, 0.5) | {"train_size": 500, "augmenter": "eda", "n_seeds": 3}
    >>> ablation_records(pd.DataFrame([row]))[0]["ci95"]
    [0.5, 0.5]
    """
    keys = ("learner", "train_size", "augmenter", "alpha", "n_aug", "n_seeds", "n_train", "n_added", "baseline_mean",
            "augmented_mean", "gain", "p_value", "p_adjusted", "answer", "validation_gain", "control_gain",
            "gain_over_control", "status")
    return [{key: row.get(key) for key in keys} | {"ci95": [row["ci_low"], row["ci_high"]]}
            for row in table.to_dict("records")]


def filter_effect(table: pd.DataFrame) -> pd.DataFrame:
    """One row per filtered cell: what the constraint filter kept and what it did to the gain.

    >>> table = pd.DataFrame({"learner": ["t", "t"], "train_size": [50, 50], "augmenter": ["eda", "eda+filter"],
    ...                       "alpha": [0.05, 0.05], "n_aug": [16, 16], "n_added": [800.0, 200.0],
    ...                       "gain": [0.01, 0.03], "answer": ["inconclusive", "pays off"], "status": ["ok", "ok"]})
    >>> filter_effect(table)[["recipe", "kept_share", "gain_change"]].round(3).values.tolist()
    [['eda', 0.25, 0.02]]
    """
    columns = ["learner", "train_size", "recipe", "alpha", "n_aug", "n_added", "n_added_filtered", "kept_share",
               "gain", "gain_filtered", "gain_change", "answer", "answer_filtered"]
    ok = table[table["status"] == "ok"]
    filtered = ok[ok["augmenter"].str.endswith(FILTERED)]
    rows = []
    for row in filtered.itertuples():
        recipe = row.augmenter[:-len(FILTERED)]
        plain = ok[(ok["learner"] == row.learner) & (ok["train_size"] == row.train_size) & (ok["augmenter"] == recipe)
                   & (ok["alpha"] == row.alpha) & (ok["n_aug"] == row.n_aug)]
        if plain.empty:
            continue
        base = plain.iloc[0]
        rows.append([row.learner, row.train_size, recipe, row.alpha, row.n_aug, base["n_added"], row.n_added,
                     row.n_added / base["n_added"] if base["n_added"] else np.nan, base["gain"], row.gain,
                     row.gain - base["gain"], base["answer"], row.answer])
    return pd.DataFrame(rows, columns=columns)
