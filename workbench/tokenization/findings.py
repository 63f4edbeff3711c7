"""Recommendation, "What this means" Markdown, and the summary/results the tokenization report records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench._validation import check_float
from workbench.tokenization.downstream import DOWNSTREAM_COLUMNS, RUN_COLUMNS, DownstreamResult
from workbench.tokenization.metrics import METRICS, compare_tokenizers


FERTILITY_TOLERANCE = 0.05
"""Default slack of :func:`recommend_tokenizer`: sequences up to 5% longer than the shortest are as good."""


def recommend_tokenizer(intrinsic: pd.DataFrame, decision: Mapping[str, Any] | None = None, *,
                        trained: Sequence[str] | None = None,
                        fertility_tolerance: float = FERTILITY_TOLERANCE) -> dict[str, Any]:
    """A recommendation computed from the measurements (never a fixed answer).

    Intrinsic (from :func:`metrics_wide`): among tokenizers without unknown tokens and with exact round
    trips, the **smallest vocabulary** whose fertility is within ``fertility_tolerance`` (relative) of the
    best. Fewest tokens per word alone would always pick the largest vocabulary, whatever its embedding
    matrix costs (the compression-only criterion Zouhar et al. 2023 argue against); a few percent longer
    sequences usually cost less than tens of millions of embedding parameters. ``intrinsic_fewest_tokens``
    names the one with the fewest tokens per word. With ``trained`` names, the same choice among the
    tokenizers trained on your data (``trained_choice``). Downstream (``decision`` from
    :func:`downstream_verdict`): the configuration chosen on validation, the baseline, the verdict's answer
    on test, and ``recommended``, the primary answer: the downstream recommendation when there is one
    (``recommended_by`` says ``"downstream"``), else the intrinsic choice (``"intrinsic"``).

    >>> wide = pd.DataFrame({"fertility": [1.10, 1.13, 1.30], "unk_rate": [0.0, 0.0, 0.0],
    ...                      "round_trip_exact": [1.0, 1.0, 1.0], "vocab_size": [200_000, 8_000, 1_000]},
    ...                     index=["big", "small", "tiny"])
    >>> pick = recommend_tokenizer(wide)
    >>> pick["intrinsic_choice"], pick["intrinsic_fewest_tokens"], pick["recommended_by"]
    ('small', 'big', 'intrinsic')
    """
    check_float("fertility_tolerance", fertility_tolerance, "recommend_tokenizer", low=0,
                fix="Use 0 for the fewest tokens per word, 0.05 to allow 5% longer sequences.")
    out: dict[str, Any] = {"fertility_tolerance": float(fertility_tolerance)}
    out["intrinsic_choice"], out["intrinsic_lossless"], out["intrinsic_fewest_tokens"] = _cheapest_near_best(
        intrinsic, fertility_tolerance)
    out["intrinsic_fertility"] = float(intrinsic.loc[out["intrinsic_choice"], "fertility"])
    if trained:
        own = intrinsic.loc[[name for name in intrinsic.index if name in set(trained)]]
        if len(own):
            out["trained_choice"], out["trained_lossless"], _ = _cheapest_near_best(own, fertility_tolerance)
            out["trained_fertility"] = float(own.loc[out["trained_choice"], "fertility"])
    downstream = None if decision is None else decision.get("recommended")
    if decision is not None:
        verdict = decision.get("verdict")
        out.update(downstream_choice=decision.get("choice"), downstream_baseline=decision.get("baseline"),
                   downstream_answer=verdict["answer"] if verdict else None)
    out["recommended"] = downstream if downstream is not None else out["intrinsic_choice"]
    out["recommended_by"] = "downstream" if downstream is not None else "intrinsic"
    return out


def _cheapest_near_best(frame: pd.DataFrame, tolerance: float) -> tuple[str, bool, str]:
    """(smallest vocabulary within ``tolerance`` of the lowest fertility, whether the pool is lossless,
    the lowest-fertility name), among lossless tokenizers when there are any."""
    lossless = frame[(frame["unk_rate"] == 0) & (frame["round_trip_exact"] >= 0.999)]
    pool = lossless if len(lossless) else frame
    best = pool["fertility"].min()
    near = pool[pool["fertility"] <= best * (1 + tolerance)]
    choice = near.sort_values(["vocab_size", "fertility"], kind="stable").index[0]
    return str(choice), bool(len(lossless)), str(pool["fertility"].idxmin())


def tokenization_findings(recommendation: Mapping[str, Any], decision: Mapping[str, Any],
                          calibration: Mapping[str, Mapping[str, Any]], wide: pd.DataFrame, *,
                          segmenter: str = "unicode") -> str:
    """The "What this means" Markdown of the tokenization report: compute -> findings -> render.

    Every name (tokenizers may come from user parameters) is escaped with ``html.escape``; each verdict
    of the family is :func:`workbench.verdicts.findings_markdown`; ``calibration`` is
    :func:`~workbench.tokenization.calibration.calibrate_intrinsic`'s output.

    >>> wide = pd.DataFrame({"fertility": [1.25], "vocab_size": [100]}, index=["<b>"])
    >>> md = tokenization_findings({"intrinsic_choice": "<b>", "intrinsic_lossless": True},
    ...                            {"verdict": None, "note": "1 finished configuration(s)"}, {}, wide)
    >>> "&lt;b&gt;" in md and "<b>" not in md
    True
    """
    import html

    from workbench.verdicts import findings_markdown

    name = recommendation["intrinsic_choice"]
    row = wide.loc[name]
    pool = "that lose nothing (no `[UNK]`, exact round trips)" if recommendation["intrinsic_lossless"] \
        else "measured (none here is lossless)"
    fewest = recommendation.get("intrinsic_fewest_tokens", name)
    tolerance = recommendation.get("fertility_tolerance", 0.0)
    if fewest == name:
        rule = (f"cuts the test text into the fewest tokens per word ({row['fertility']:.2f}, with "
                f"{int(row['vocab_size']):,} vocabulary entries)")
    else:
        best = wide.loc[fewest]
        rule = (f"is the smallest vocabulary ({int(row['vocab_size']):,} entries) within {tolerance:.0%} of the fewest "
                f"tokens per word: {row['fertility']:.2f} against {best['fertility']:.2f} for "
                f"`{html.escape(str(fewest))}` ({int(best['vocab_size']):,} entries),")
    lines = [f"- **Intrinsically**, `{html.escape(str(name))}` {rule} among tokenizers {pool}; words are those of "
             f"the `{html.escape(segmenter)}` segmenter. "
             "Compression alone does not say which vocabulary trains the better model, and the one that compresses "
             "most costs the most embedding parameters (Zouhar et al. 2023), hence the downstream probe."]
    verdict = decision.get("verdict")
    if verdict is None:
        lines.append(f"- **Downstream**: no verdict ({html.escape(str(decision.get('note', '')))}).")
    else:
        for item in decision.get("verdicts", {verdict["choice"]: verdict}).values():
            lines += ["", findings_markdown(item)]
        lines += ["", f"- **Recommended**: `{html.escape(str(decision['recommended']))}` (the choice only when it "
                      "pays off on test, otherwise the cheaper baseline)."]
    scored = {m: c for m, c in calibration.items() if np.isfinite(c["spearman"])}
    if scored:
        n = next(iter(scored.values()))["n"]
        parts = [f"{html.escape(m)} ρ = {c['spearman']:.2f} ({c['ci95'][0]:.2f} to {c['ci95'][1]:.2f})"
                 for m, c in scored.items()]
        lines.append(f"- **Do intrinsic scores predict accuracy here?** Spearman rank correlation with test accuracy "
                     f"over {n} configurations, 95% bootstrap interval: {'; '.join(parts)}. An interval that "
                     "spans 0 means this data cannot tell; the literature disagrees too (Zouhar et al. 2023; "
                     "Schmidt et al. 2024; Cognetta et al. 2024).")
    return "\n".join(lines)


SUMMARY_METRICS: dict[str, str] = {
    "vocab_size": "vocab_size", "fertility": "fertility", "continued_word_ratio": "continued_word_ratio",
    "chars_per_token": "chars_per_token", "unk_rate": "unk_rate", "vocab_utilization": "vocab_utilization",
    "renyi_efficiency": "renyi_efficiency", "renyi_efficiency_observed": "renyi_efficiency_observed",
    "truncation_rate": "truncation_rate", "roundtrip_exact": "round_trip_exact",
    "tokens_per_second": "tokens_per_second", "encode_threads": "encode_threads"}
"""``summary.json["tokenizers"][name]`` keys and the :data:`METRICS` they come from."""


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    return [] if frame is None else json.loads(frame.to_json(orient="records"))


def tokenization_summary(wide: pd.DataFrame, downstream: DownstreamResult, decision: Mapping[str, Any],
                         recommendation: Mapping[str, Any], settings: Mapping[str, Any], *,
                         calibration: Mapping[str, Any] | None = None, correlation: Mapping[str, Any] | None = None,
                         segmenter: str = "unicode", by_class: pd.DataFrame | None = None,
                         split_words: pd.DataFrame | None = None, ladder: pd.DataFrame | None = None
                         ) -> dict[str, Any]:
    """The notebook's ``summary.json`` body (``record`` adds params, environment and dataset).

    ``split_words`` (:func:`~workbench.tokenization.breakdowns.split_words_table`) is recorded as
    ``{tokenizer: [{"word", "count", "pieces"}, ...]}``; ``by_class`` as each tokenizer's spread.

    >>> wide = pd.DataFrame({m: [1.0] for m in METRICS}, index=["bpe"])
    >>> empty = DownstreamResult(pd.DataFrame(columns=list(DOWNSTREAM_COLUMNS)), pd.DataFrame())
    >>> sorted(tokenization_summary(wide, empty, {"verdict": None}, {}, {})["tokenizers"]["bpe"])[:3]
    ['chars_per_token', 'continued_word_ratio', 'encode_threads']
    """
    from workbench.tokenization.breakdowns import class_spread

    split = {} if split_words is None else {
        str(name): _records(group[["word", "count", "pieces"]]) for name, group in split_words.groupby("tokenizer",
                                                                                                       sort=False)}
    return {
        "headline": ["recommendation.intrinsic_choice", "recommendation.recommended"],
        "tokenizers": {name: {key: float(wide.loc[name, column]) for key, column in SUMMARY_METRICS.items()
                              if column in wide.columns} for name in wide.index},
        "word_segmenter": segmenter, "split_words": split,
        "fertility_by_class": {} if by_class is None else {"spread": class_spread(by_class),
                                                           "rows": _records(by_class)},
        "downstream": downstream.rows(), "learning_rate_tuning": _records(downstream.tuning),
        "subword_dropout": None if downstream.regularised is None else downstream.regularised.rows(),
        "ladder": _records(ladder), "calibration": dict(calibration or {}), "correlation": dict(correlation or {}),
        "recommendation": dict(recommendation), "verdict": decision.get("verdict"),
        "verdicts": decision.get("verdicts", {}),
        "selection": {"validation": decision.get("validation", {}), "baseline": decision.get("baseline")},
        "settings": dict(settings)}


def tokenization_results(intrinsic: pd.DataFrame, downstream: DownstreamResult) -> pd.DataFrame:
    """The tidy ``results.csv`` rows: intrinsic metrics, downstream configurations and runs (long format).

    >>> empty = DownstreamResult(pd.DataFrame(columns=list(DOWNSTREAM_COLUMNS)), pd.DataFrame(columns=list(RUN_COLUMNS)))
    >>> tokenization_results(compare_tokenizers({"c": "cl100k_base"}, ["hi"]), empty)["table"].unique().tolist()
    ['intrinsic']
    """
    value_vars = [c for c in DOWNSTREAM_COLUMNS if c not in ("configuration", "algorithm", "target_vocab_size",
                                                               "status", "reason")]
    frames = {"downstream": downstream}
    if downstream.regularised is not None:
        frames["downstream_dropout"] = downstream.regularised
    tables = {"intrinsic": intrinsic}
    for key, result in frames.items():
        tables[key] = result.frame.melt(id_vars=["algorithm", "target_vocab_size", "status"], var_name="metric",
                                        value_vars=value_vars)
        tables[f"{key}_runs"] = result.runs.drop(columns="configuration").melt(
            id_vars=["algorithm", "target_vocab_size", "seed"], var_name="metric")
    return pd.concat(tables, names=["table"]).reset_index(level="table").reset_index(drop=True)
