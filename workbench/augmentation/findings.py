"""What the quality and ablation results mean, as Markdown."""

from __future__ import annotations

import html

import pandas as pd

from workbench.augmentation.ablation import EDA_PAPER_GAINS
from workbench.augmentation.quality import ORIGINAL, QUALITY_COLUMNS, quality_wide  # noqa: F401  (the example uses QUALITY_COLUMNS)
from workbench.verdicts import findings_markdown


def recommend_augmentation(quality: pd.DataFrame, table: pd.DataFrame, *, significance: float = 0.05) -> str:
    """A Markdown recommendation computed from the quality and ablation results (no fixed winner).

    >>> quality = pd.DataFrame([("original", "prediction_agreement", 1.0, "ok", None),
    ...                         ("eda", "prediction_agreement", 0.97, "ok", None)], columns=QUALITY_COLUMNS)
    >>> table = pd.DataFrame([dict(train_size=500, augmenter="eda", alpha=0.1, n_aug=4, gain=0.01,
    ...                            ci_low=-0.01, ci_high=0.03, p_value=0.3, status="ok")])
    >>> "no augmenter gave a significant gain" in recommend_augmentation(quality, table)
    True
    """
    ok = table[table["status"] == "ok"] if len(table) else table
    lines = [_gain_sentence(ok, significance)] if len(ok) else ["- The ablation produced no result (see its status)."]
    losses = ok[(ok["gain"] < 0) & (ok["p_value"] < significance)] if len(ok) else ok
    if len(losses):
        worst = losses.loc[losses["gain"].idxmin()]
        lines.append(f"- It hurt significantly in {len(losses)} case(s), worst **{100 * worst.gain:+.1f} points** "
                     f"({_config_name(worst)}, {worst.train_size} examples).")
    wide = quality_wide(quality).drop(ORIGINAL, errors="ignore")
    metric = next((m for m in ("prediction_agreement", "label_preservation")
                   if m in wide and wide[m].notna().any()), None)
    if metric is not None:
        scores = wide[metric].dropna()
        best = ", ".join(f"**{name}**" for name in scores.index[scores == scores.max()])
        worst = ", ".join(f"**{name}**" for name in scores.index[scores == scores.min()])
        what = ("keep the label the classifier gives their source" if metric == "prediction_agreement"
                else "keep their gold label")
        lines.append(f"- Variants {what} most often under {best} ({scores.max():.1%}) and least often under "
                     f"{worst} ({scores.min():.1%}): prefer the first for training data and check the "
                     f"second's examples before using it.")
    return "\n".join(lines)


def _config_name(row) -> str:
    if row.alpha == 0:
        return f"plain copies (alpha=0, n_aug={row.n_aug})"
    return f"{row.augmenter} (alpha={row.alpha:g}, n_aug={row.n_aug})"


def _gain_sentence(ok: pd.DataFrame, significance: float) -> str:
    augmenting, copies = ok[ok["alpha"] > 0], ok[ok["alpha"] == 0]
    wins = augmenting[(augmenting["gain"] > 0) & (augmenting["p_value"] < significance)]
    if not len(wins):
        return (f"- With this classifier, no augmenter gave a significant gain (p < {significance}) at any "
                f"training size: do not expect augmentation alone to improve it here.")
    best = wins.loc[wins["gain"].idxmax()]
    text = (f"- Augmentation paid off at {len(wins)} of {len(augmenting)} size/configuration pairs (p < "
            f"{significance}); the largest gain is **{100 * best.gain:+.1f} points** with **{_config_name(best)}** at "
            f"{best.train_size} training examples.")
    same = copies[(copies["train_size"] == best.train_size) & (copies["n_aug"] == best.n_aug)]
    if len(same):
        copied = float(same["gain"].iloc[0])
        text += (f" Plain copies of the same texts gained {100 * copied:+.1f} points there (with a fixed "
                 f"regularisation strength, repeating the data alone changes the fit), so the augmentation itself "
                 f"added **{100 * (best.gain - copied):+.1f}**.")
    largest_win, largest = int(wins["train_size"].max()), int(augmenting["train_size"].max())
    if largest_win == largest:
        return text + f" It still helped with all {largest} training examples."
    return text + (f" Augment when you have about {largest_win} labelled examples or fewer; with more it gave no "
                   f"significant gain.")


LONGPRE_2020 = ("Longpre et al. (2020, \"How effective is task-agnostic data augmentation for pretrained "
                "transformers?\") found no consistent gain from EDA or back-translation for pretrained transformers")


def _md(value) -> str:
    return html.escape(str(value)).replace("*", "\\*").replace("_", "\\_")


def augmentation_findings(quality: pd.DataFrame, table: pd.DataFrame, verdicts: dict[str, dict],
                          choice: str | None) -> str:
    """"What this means", as escaped Markdown: the verdict (chosen on validation, reported on test, Holm over
    the grid), the plain-copies control at the same n_aug, the paper references, and what the quality
    table says about labels (every name and dataset-derived string escaped).

    >>> table = pd.DataFrame([dict(learner="tfidf_logreg", train_size=500, augmenter="eda", gain=0.01,
    ...                            answer="no detectable effect", status="ok")])
    >>> "Wei & Zou" in html.unescape(augmentation_findings(pd.DataFrame(columns=QUALITY_COLUMNS), table, {}, None))
    True
    """
    from workbench.augmentation.decision import control_name, headline_verdict

    verdict = headline_verdict(verdicts, choice)
    plain = None if choice is None else verdicts[choice]
    control = None if choice is None else verdicts.get(control_name(table, choice))
    lines = []
    if verdict is None:
        lines.append("- The ablation produced no comparison (see its status column).")
    else:
        lines += [findings_markdown(verdict), ""]
        if verdict is not plain:
            lines.append(f"- Against no augmentation, the same cell: **{plain['answer']}**, "
                         f"{100 * plain['effect']['delta']:+.1f} points.")
        if control is not None:
            lines.append(f"- Plain copies of the same texts at the same n_aug (the control) against no augmentation: "
                         f"**{control['answer']}**, {100 * control['effect']['delta']:+.1f} points.")
    ok = table[table["status"] == "ok"] if len(table) else table
    for learner, rows in ok.groupby("learner", sort=False) if len(ok) else []:
        pays = rows[rows["answer"] == "pays off"]
        augmenting = rows[rows["augmenter"] != "copies"]
        lines.append(f"- {_md(learner)}: {len(pays[pays['augmenter'] != 'copies'])} of {len(augmenting)} augmenting "
                     f"cells pay off after Holm's correction; mean gain {100 * augmenting['gain'].mean():+.1f} points.")
    lines.append(f"- For reference, Wei & Zou (2019, Table 2) report +{EDA_PAPER_GAINS['500']:.1f} points at 500 "
                 f"training examples and +{EDA_PAPER_GAINS['full']:.1f} on full data sets (RNN and CNN); "
                 f"{LONGPRE_2020}.")
    wide = quality_wide(quality).drop(ORIGINAL, errors="ignore") if len(quality) else pd.DataFrame()
    if "unchanged_rate" in wide and wide["unchanged_rate"].notna().any():
        idle = wide["unchanged_rate"].dropna().sort_values(ascending=False)
        lines.append(f"- The recipe that most often left a text unchanged is **{_md(idle.index[0])}** "
                     f"({idle.iloc[0]:.0%} of its variants); unchanged and failed variants are left out of its "
                     "quality figures and of the training data.")
    return "\n".join(lines + _oracle_line(quality))


def _oracle_line(quality: pd.DataFrame) -> list[str]:
    """Which classifier judged label preservation, and its accuracy on the original texts (the ceiling)."""
    rows = quality[(quality["augmenter"] == ORIGINAL) & (quality["metric"] == "label_preservation")]
    if not len(rows) or not isinstance(rows["reason"].iloc[0], str) or pd.isna(rows["value"].iloc[0]):
        return []
    judge = rows["reason"].iloc[0]
    return [f"- {_md(judge[:1].upper() + judge[1:])}; it gives {rows['value'].iloc[0]:.1%} of the original texts "
            f"their gold label, the ceiling of every recipe's label preservation."]
