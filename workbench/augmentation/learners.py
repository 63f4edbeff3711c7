"""The two learners of the ablation: TF-IDF + logistic regression, and a transformer fine-tune.

Each learner trains on a list of texts and labels and returns its predicted label ids on the
validation and test texts, plus the training time. scikit-learn does the first
(:func:`workbench.baselines.tfidf_logreg`), torch the second
(a seeded AdamW loop in torch on :func:`workbench.models.load_model`). The transformer gets
the same number of optimiser steps with and without augmentation (``steps``): the same budget, so a
gain is not more training in disguise.

>>> from workbench.augmentation.learners import fit_and_predict
>>> texts, labels = ["great tasty", "awful stale"] * 5, [1, 0] * 5
>>> out = fit_and_predict("tfidf_logreg", texts, labels, {"test": ["tasty great", "stale awful"]},
...                       label_names=["bad", "good"], seed=0)
>>> out["test"].tolist()
[1, 0]
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench._validation import check_choice, check_int, check_type

LEARNERS: tuple[str, ...] = ("tfidf_logreg", "transformer")
"""Learners :func:`downstream_ablation` can train."""


@dataclass(frozen=True)
class TransformerSettings:
    """The transformer learner: which model, how many steps, how long a text.

    ``model`` is anything :func:`workbench.models.load_model` takes (``"tiny:..."``, ``"minilm"``, a folder).

    >>> TransformerSettings(steps=20).model
    'tiny:num_layers=1,hidden_size=64,num_heads=2'
    """

    model: str = "tiny:num_layers=1,hidden_size=64,num_heads=2"
    steps: int = 100
    batch_size: int = 32
    max_length: int = 64
    # Measured on the default data (500 texts, 100 steps): 5e-4 at batch 16 never leaves the majority
    # class (0.658); 3e-3 at batch 32 does (0.677 with two layers).
    learning_rate: float = 3e-3

    def __post_init__(self) -> None:
        func = "TransformerSettings"
        check_type("model", self.model, func, str)
        check_int("steps", self.steps, func, low=1, fix="Give the optimiser steps of every fine-tune (same budget).")
        check_int("batch_size", self.batch_size, func, low=1)
        check_int("max_length", self.max_length, func, low=8)


def fit_and_predict(learner: str, train_texts: Sequence[str], train_labels: Sequence[int],
                    eval_texts: Mapping[str, Sequence[str]], *, label_names: list[str], seed: int,
                    transformer: TransformerSettings | None = None) -> dict[str, Any]:
    """Train ``learner`` on the texts and predict each split of ``eval_texts``.

    Returns ``{split: predicted label ids, ..., "seconds": training wall time}``.
    """
    check_choice("learner", learner, "fit_and_predict", LEARNERS)
    start = time.perf_counter()
    if learner == "tfidf_logreg":
        out = _tfidf_logreg(train_texts, train_labels, eval_texts, label_names, seed)
    else:
        out = _transformer(train_texts, train_labels, eval_texts, label_names, seed,
                           transformer or TransformerSettings())
    return out | {"seconds": time.perf_counter() - start}


def _splits(train_texts, train_labels, eval_texts, label_names):
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=label_names)})
    splits = {"train": (list(train_texts), list(train_labels))}
    splits |= {name: (list(texts), [0] * len(texts)) for name, texts in eval_texts.items()}  # labels unused
    return datasets.DatasetDict({name: datasets.Dataset.from_dict({"text": t, "label": y}, features=features)
                                 for name, (t, y) in splits.items()})


def _tfidf_logreg(train_texts, train_labels, eval_texts, label_names, seed) -> dict[str, np.ndarray]:
    from threadpoolctl import threadpool_limits

    pipeline = tfidf_oracle(train_texts, train_labels, label_names, seed)
    # One BLAS thread: these sparse fits are small, and BLAS threads waiting for busy cores made them
    # 30x slower on a loaded 2-core machine (0.12 s against 3.8 s).
    with threadpool_limits(limits=1, user_api="blas"):
        return {name: np.asarray(pipeline.predict(list(texts))) for name, texts in eval_texts.items()}


def tfidf_oracle(train_texts: Sequence[str], train_labels: Sequence[int], label_names: list[str], seed: int):
    """TF-IDF + logistic regression fitted on the texts, as a label oracle (``.predict(texts)``)."""
    from threadpoolctl import threadpool_limits

    from workbench.baselines import tfidf_logreg

    data = _splits(train_texts, train_labels, {}, label_names)
    data["test"] = data["train"]
    with threadpool_limits(limits=1, user_api="blas"):
        return tfidf_logreg(data, seed=seed).pipeline


def _transformer(train_texts, train_labels, eval_texts, label_names, seed, settings) -> dict[str, np.ndarray]:
    """``settings.steps`` AdamW steps on seeded random batches (torch), then predictions: a plain loop,
    because Trainer's set-up and checkpointing cost more than a tiny encoder's hundred steps."""
    import torch

    from workbench.models import load_model
    from workbench.training import predict_logits

    model, tokenizer = load_model(settings.model, num_labels=len(label_names), label_names=label_names, seed=seed)
    encoded = tokenizer(list(train_texts), truncation=True, max_length=settings.max_length, padding=True,
                        return_tensors="pt")
    targets = torch.as_tensor(list(train_labels))
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate)
    # Dropout draws from torch's global generator: seed it for this loop only, or the same seed gives a
    # different model depending on what ran before in the process.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.train()
        for _ in range(settings.steps):
            batch = torch.randint(len(targets), (settings.batch_size,), generator=generator)
            loss = model(input_ids=encoded["input_ids"][batch], attention_mask=encoded["attention_mask"][batch],
                         labels=targets[batch]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return {name: predict_logits(model, tokenizer, list(texts), max_length=settings.max_length,
                                 progress=False).argmax(axis=1) for name, texts in eval_texts.items()}
