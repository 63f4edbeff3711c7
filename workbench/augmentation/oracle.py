"""The label oracle of the quality table: which classifier says whether a variant kept its label.

``finetuned`` (the default) is the project's own transformer fine-tune, the one the compression notebook
compresses: :func:`workbench.compression.study.compression_baseline` with that notebook's profile
settings (MiniLM, 1,000 training examples, one epoch in ``default``; a tiny encoder in ``smoke``), so both
notebooks share one fine-tune through its cache (keyed by the settings and the data set's hash).
``tfidf_logreg`` is TF-IDF + logistic regression on the whole training split (scikit-learn): cheap, but on
the fine-food reviews it scores about the majority rate, so it barely separates recipes.

>>> import datasets
>>> features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["bad", "good"])})
>>> rows = datasets.Dataset.from_dict({"text": ["tasty good", "stale awful"] * 8, "label": [1, 0] * 8}, features=features)
>>> data = datasets.DatasetDict(train=rows, validation=rows, test=rows)
>>> oracle = label_oracle(data, oracle="tfidf_logreg")
>>> oracle.predict(["good tasty", "awful stale"]).tolist(), oracle.name
([1, 0], 'tfidf_logreg')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench._validation import check_choice

ORACLES: tuple[str, ...] = ("finetuned", "tfidf_logreg")
"""Label oracles :func:`label_oracle` builds."""


@dataclass
class LabelOracle:
    """A classifier that labels texts (``predict``), with what the report says about it.

    Attributes
    ----------
    name : str
        One of :data:`ORACLES` (or the caller's own).
    description : str
        One line for the report: the model and how it was trained.
    details : dict
        ``model``, ``cached``, ``key`` and the like, for ``summary.json``.
    """

    name: str
    description: str
    predict_ids: Callable[[list[str]], np.ndarray] = field(repr=False)
    details: dict[str, Any] = field(default_factory=dict)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Label ids of ``texts``."""
        texts = list(texts)
        return np.asarray(self.predict_ids(texts)) if texts else np.zeros(0, dtype=int)


def label_oracle(data, *, oracle: str = "finetuned", profile: str = "default", seed: int = 0,
                 use_cache: bool = True) -> LabelOracle:
    """The label oracle ``oracle`` trained on ``data``'s training split.

    Parameters
    ----------
    data : datasets.DatasetDict
        From :func:`workbench.load_dataset`; the oracle never sees the texts it judges if those come from
        the test split.
    oracle : str
        ``finetuned`` or ``tfidf_logreg`` (see the module docstring).
    profile : str
        Whose compression-notebook settings the fine-tune takes (``smoke`` trains a tiny encoder).
    seed : int
        Seeds the subsample and the fine-tune (the compression notebook's ``seed``, to share its cache).
    use_cache : bool
        Reuse (and keep) the fine-tune in the user cache when the profile caches it.
    """
    check_choice("oracle", oracle, "label_oracle", ORACLES,
                 fix="finetuned is the project's MiniLM fine-tune; tfidf_logreg the cheap baseline.")
    if oracle == "tfidf_logreg":
        from workbench.baselines import tfidf_logreg

        pipeline = tfidf_logreg(data, seed=seed).pipeline
        return LabelOracle("tfidf_logreg", "TF-IDF + logistic regression trained on the whole training split",
                           pipeline.predict, {"model": "tfidf_logreg"})
    from workbench.compression.study import compression_baseline
    from workbench.profiles import profile_settings
    from workbench.training import predict_logits

    settings = profile_settings("compression", profile)
    base = compression_baseline(data, settings, seed=seed, use_cache=use_cache)
    model, tokenizer, max_length = base["model"], base["tokenizer"], settings["max_length"]

    def predict_ids(texts: list[str]) -> np.ndarray:
        return predict_logits(model, tokenizer, texts, max_length=max_length, progress=False).argmax(axis=1)

    trained = "reused from the cache" if base["cached"] else f"trained in {base['seconds']:.0f} s"
    description = (f"the {settings['model']} fine-tune of the compression notebook ({settings['finetune_examples']} "
                   f"training examples, {settings['finetune_epochs']:g} epoch(s), {max_length} tokens; {trained})")
    details = {"model": settings["model"], "train_examples": settings["finetune_examples"],
               "epochs": settings["finetune_epochs"], "max_length": max_length, "cached": bool(base["cached"]),
               "key": base["key"]}
    return LabelOracle("finetuned", description, predict_ids, details)


def oracle_record(classifier: Any) -> dict[str, Any]:
    """What ``summary.json`` says about the classifier that judged label preservation.

    >>> oracle_record(None)
    {}
    >>> oracle_record(object())["name"]
    'object'
    """
    if classifier is None:
        return {}
    if isinstance(classifier, LabelOracle):
        return {"name": classifier.name, "description": classifier.description, **classifier.details}
    name = type(classifier).__name__
    return {"name": name, "description": f"a {name} given by the caller"}
