"""What the data notebook says, as escaped Markdown, and what it records.

Every dataset-derived string (source, class names, model names) goes through :func:`html.escape`,
so markup in the data shows as text in a report.

>>> print(dataset_card({"source": "data/<b>x</b>.csv", "num_labels": 2, "hash": "0123456789abcdef"}))
**Source** `data/&lt;b&gt;x&lt;/b&gt;.csv` · **classes** 2 · **content hash** `0123456789ab`
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import pandas as pd

from workbench._validation import check_choice

__all__ = ["IMBALANCE_RATIO", "class_imbalance", "data_findings", "data_record", "dataset_card", "imbalance_note"]

IMBALANCE_RATIO = 1.5
"""Largest over smallest class count in train above which accuracy flatters: 60/40 in two classes."""

_METRICS = ("accuracy", "macro_f1")


def dataset_card(info: Mapping[str, Any]) -> str:
    """One line: source, number of classes, rows per split, content hash (its first 12 characters);
    when ``load_dataset`` kept a sample (``max_examples``), the rows it was drawn from.

    >>> dataset_card({"source": "a.csv", "num_labels": 2, "hash": "0" * 64, "sizes": {"train": 10},
    ...               "sampled_from": {"train": 1000}})
    '**Source** `a.csv` · **classes** 2 · **rows** train 10 (a stratified sample of 1,000) · **content hash** `000000000000`'
    """
    source = html.escape(str(info.get("source", "unknown")))
    full = info.get("sampled_from") or {}
    rows = ", ".join(f"{html.escape(str(split))} {int(size):,}"
                     + (f" (a stratified sample of {int(full[split]):,})" if int(full.get(split, 0)) > size else "")
                     for split, size in (info.get("sizes") or {}).items())
    return (f"**Source** `{source}` · **classes** {int(info.get('num_labels', 0))} · "
            + (f"**rows** {rows} · " if rows else "")
            + f"**content hash** `{html.escape(str(info.get('hash', ''))[:12])}`")


def class_imbalance(balance: pd.DataFrame, *, metric: str = "accuracy") -> dict[str, Any]:
    """How skewed the training split is, and which metric to compare models with.

    Returns ``majority_share``, ``ratio`` (largest / smallest class count), ``imbalanced``
    (ratio >= :data:`IMBALANCE_RATIO`), ``metric`` (the one in use) and ``suggested_metric``
    (``macro_f1`` when imbalanced, else the metric in use).

    >>> frame = pd.DataFrame({"split": ["train"] * 2, "label": ["a", "b"], "count": [65, 35],
    ...                       "fraction": [0.65, 0.35]})
    >>> class_imbalance(frame)["suggested_metric"]
    'macro_f1'
    """
    check_choice("metric", metric, "class_imbalance", _METRICS)
    train = balance[balance["split"] == "train"]
    counts = train["count"][train["count"] > 0]
    ratio = float(counts.max() / counts.min()) if len(counts) else float("nan")
    imbalanced = bool(len(counts) and ratio >= IMBALANCE_RATIO)
    return {"majority_share": float(train["fraction"].max()) if len(train) else float("nan"), "ratio": ratio,
            "imbalanced": imbalanced, "metric": metric, "suggested_metric": "macro_f1" if imbalanced else metric}


def imbalance_note(balance: pd.DataFrame, *, metric: str = "accuracy") -> str:
    """Markdown: is the balance skewed, and should this run compare with ``macro_f1``?

    >>> frame = pd.DataFrame({"split": ["train"] * 2, "label": ["a", "b"], "count": [50, 50],
    ...                       "fraction": [0.5, 0.5]})
    >>> imbalance_note(frame)
    'The training classes are balanced (largest / smallest = 1.00): accuracy is a fair summary.'
    """
    facts = class_imbalance(balance, metric=metric)
    if not facts["imbalanced"]:
        return (f"The training classes are balanced (largest / smallest = {facts['ratio']:.2f}): "
                f"{metric.replace('_', '-')} is a fair summary.")
    head = (f"**The classes are imbalanced**: the majority holds {facts['majority_share']:.0%} of the training "
            f"split (largest / smallest = {facts['ratio']:.2f}), so always guessing it already scores "
            f"{facts['majority_share']:.0%} accuracy.")
    if metric == "macro_f1":
        return head + " This run compares models by macro-F1, which weighs every class equally."
    return head + (" Consider re-running every notebook with `--set metric=macro_f1`, which weighs every class "
                   "equally.")


def data_findings(comparison: Any, *, balance: pd.DataFrame, duplicate_counts: Mapping[str, int],
                  metric: str = "accuracy", sampling: str | None = None) -> str:
    """The data notebook's "What this means": baselines, the two verdicts, leakage and balance.

    ``comparison`` is a :class:`workbench.baselines.BaselineComparison`.
    """
    from workbench.verdicts import answer_sentence, findings_markdown

    tfidf = comparison.tfidf.metrics
    low, high = tfidf["ci95"]
    lines = [findings_markdown(comparison.verdict), "",
             f"- TF-IDF + logistic regression reaches **{tfidf['accuracy']:.3f}** accuracy (95% CI {low:.3f}–"
             f"{high:.3f}), macro-F1 {tfidf['macro_f1']:.3f}: every later technique must beat it.",
             f"- Normalization for TF-IDF, chosen on validation: {answer_sentence(comparison.verdicts['normalization'])}",
             f"- {int(duplicate_counts.get('train/test', 0))} test texts also appear in the training split (leakage), "
             f"{int(duplicate_counts.get('train', 0))} training texts are repeated within it.",
             f"- {imbalance_note(balance, metric=metric)}"]
    if sampling:
        lines.append(f"- {sampling}")
    return "\n".join(lines)


def data_record(comparison: Any, *, finetuned: Any, settings: Mapping[str, Any], balance: pd.DataFrame,
                normalization: pd.DataFrame, duplicate_counts: Mapping[str, int], model: str,
                metric: str = "accuracy", sample: Any = None) -> dict[str, Any]:
    """``summary`` and ``results`` for :func:`workbench.reports.record`, from the notebook's objects."""
    keys = ("accuracy", "macro_f1", "ci95", "macro_f1_ci95")
    summary = {
        "headline": ["baselines.tfidf_logreg.accuracy", "baselines.finetuned.accuracy",
                     "normalization_choice"],
        "verdict": comparison.verdict,
        "verdicts": comparison.verdicts,
        "metric": metric,
        "class_imbalance": class_imbalance(balance, metric=metric),
        "baselines": {
            "tfidf_logreg": {k: comparison.tfidf.metrics[k] for k in keys},
            "finetuned": {k: comparison.finetuned_metrics[k] for k in keys}
                         | {"model": model, "steps": finetuned.global_step},
        },
        "normalization_choice": comparison.normalization_choice,
        "normalization": normalization.set_index("normalization")[["vocabulary_size", "accuracy"]].to_dict("index"),
        "duplicates": dict(duplicate_counts),
        "settings": dict(settings),
        "model_rows": None if sample is None else {split: len(sample[split]) for split in sample},
    }
    results = pd.concat({"baselines": comparison.scores, "comparisons": comparison.comparisons,
                         "normalization": normalization, "class_balance": balance},
                        names=["table"]).reset_index(level=0).reset_index(drop=True)
    return {"summary": summary, "results": results}
