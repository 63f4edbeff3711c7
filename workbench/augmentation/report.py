"""The notebook's ``summary.json`` and ``results.csv``, assembled from the results (no prose here)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from workbench.augmentation.ablation import AblationResult, downstream_ablation
from workbench.augmentation.decision import (
    ablation_records,
    control_name,
    filter_effect,
    headline_verdict,
)
from workbench.augmentation.learners import TransformerSettings
from workbench.augmentation.quality import (
    ORIGINAL,
    QUALITY_METRICS,
    compare_augmenters,
    quality_wide,
)
from workbench.augmentation.recipes import MODEL_RECIPES, RECIPES


def quality_recipes(names: list[str] | None, model: str | None, translation_models) -> list[str]:
    """The recipes of the quality table: ``names``, or every recipe that needs no model, plus the model
    recipes whose models were given.

    >>> quality_recipes(["eda"], "bert-folder", None)
    ['eda', 'contextual']
    """
    recipes = [r for r in RECIPES if r not in MODEL_RECIPES] if names is None else list(names)
    return recipes + ["contextual"] * (model is not None) + ["back_translation"] * (translation_models is not None)


def run_quality(split, settings: dict[str, Any], *, classifier, seed: int, model=None, translation_models=None):
    """:func:`compare_augmenters` on a split's texts with the notebook's settings (the profile's values)."""
    return compare_augmenters(list(split["text"]), list(split["label"]),
                              recipes=quality_recipes(settings["quality_recipes"], model, translation_models),
                              alpha=settings["alpha"], n_aug=settings["quality_n_aug"], seed=seed,
                              n_jobs=settings["n_jobs"], classifier=classifier,
                              self_bleu_texts=settings["self_bleu_texts"], max_length=settings["max_length"],
                              model=model, translation_models=translation_models)


def run_ablation(data, settings: dict[str, Any], *, seed: int, model=None, translation_models=None) -> AblationResult:
    """:func:`downstream_ablation` with the notebook's settings: seeds ``seed .. seed + n_seeds - 1``."""
    transformer = TransformerSettings(model=settings["transformer_model"], steps=settings["transformer_steps"])
    return downstream_ablation(data, recipes=settings["ablation_recipes"], train_sizes=settings["train_sizes"],
                               protocol=settings["protocol"], alphas=settings["alphas"], n_augs=settings["n_augs"],
                               seeds=[seed + k for k in range(settings["n_seeds"])], learners=settings["learners"],
                               transformer=transformer, transformer_sizes=settings["transformer_sizes"],
                               filter_threshold=settings["filter_threshold"],
                               filter_similarity=settings["filter_similarity"], filter_sizes=settings["filter_sizes"],
                               n_jobs=settings["n_jobs"], model=model, translation_models=translation_models)


def augmentation_summary(comparison, table: pd.DataFrame, verdicts: dict, choice: str | None, *,
                         settings: dict[str, Any]) -> dict[str, Any]:
    """``summary.json``'s body: ``verdict`` (the cell chosen on validation against its plain-copies control,
    :func:`~workbench.augmentation.decision.headline_verdict`), ``verdicts`` (the same cell against no
    augmentation, and the control against no augmentation), ``augmenters`` (quality per recipe), ``original``,
    ``failed``, ``label_oracle`` (the classifier that judged label preservation and its accuracy on the
    original texts), ``embeddings`` (library and pooling of the similarities), ``ablation`` rows, ``filter``
    rows and ``settings``.

    >>> from workbench.augmentation.quality import QUALITY_COLUMNS, AugmentationComparison
    >>> quality = pd.DataFrame([("original", m, 1.0, "ok", None) for m in QUALITY_METRICS], columns=QUALITY_COLUMNS)
    >>> empty = AugmentationComparison(quality, pd.DataFrame())
    >>> sorted(augmentation_summary(empty, pd.DataFrame(columns=["status"]), {}, None, settings={}))[:3]
    ['ablation', 'augmenters', 'embeddings']
    """
    wide = quality_wide(comparison.quality)
    augmenters = wide.drop(index=ORIGINAL, errors="ignore")
    metrics = [m for m in QUALITY_METRICS if m in wide.columns]
    control = None if choice is None else control_name(table, choice)
    ok = table[table["status"] == "ok"]
    return {
        "headline": ["verdict.effect.delta", "verdict.choice", "original.label_preservation"],
        "verdict": headline_verdict(verdicts, choice),
        "verdicts": ({} if choice is None else {"against_no_augmentation": verdicts[choice]})
                    | ({} if control is None else {"control": verdicts[control]}),
        "augmenters": augmenters[augmenters["status"] == "ok"][metrics].to_dict("index"),
        "original": wide.loc[ORIGINAL, metrics].to_dict() if ORIGINAL in wide.index else {},
        "failed": augmenters[augmenters["status"] != "ok"]["reason"].to_dict(),
        "label_oracle": comparison.oracle | {"accuracy_on_originals": wide.loc[ORIGINAL, "label_preservation"]
                                             if ORIGINAL in wide.index else None},
        "embeddings": comparison.embedding,
        "ablation": ablation_records(ok),
        "filter": filter_effect(table).to_dict("records") if len(table) else [],
        "settings": settings,
    }


def augmentation_results(comparison, ablation, table: pd.DataFrame) -> pd.DataFrame:
    """``results.csv``: the quality rows, every variant with its per-sample scores, the ablation cells and
    runs, one frame with a ``table`` column naming where each row comes from."""
    parts = {"quality": comparison.quality, "variants": comparison.augmented, "ablation": table,
             "ablation_runs": ablation.runs}
    if len(table):
        parts["filter"] = filter_effect(table)
    return pd.concat(parts, names=["table"]).reset_index(level=0)
