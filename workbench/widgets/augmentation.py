"""Augmentation explorer: type a sentence, pick an augmenter and its strength, see the variants.

Wiring only: :func:`workbench.augmentation.augment` makes the variants (nlpaug underneath),
:func:`workbench.augmentation.variants_html` marks the new words and lists the removed ones (all text
escaped), and the bundled MiniLM scores each variant's similarity to the sentence.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import numpy as np

from workbench.augmentation import RECIPES, augment, sentence_embeddings, variants_html
from workbench.errors import DataError
from workbench.widgets._common import Explorer

DEFAULT_TEXT = "The tea tastes great and the honey makes it even better."


def augmentation_explorer(text: str = DEFAULT_TEXT, *, recipe: str = "eda", alpha: float = 0.1, n_aug: int = 4,
                          model: str | None = None, translation_models: str | Sequence[str] | None = None,
                          nltk_data: str | os.PathLike | None = None, vectors: str | os.PathLike | None = None,
                          embedder: Callable[[list[str]], np.ndarray] | None = None) -> Explorer:
    """An :class:`~workbench.widgets._common.Explorer` over :func:`workbench.augmentation.augment`.

    Parameters
    ----------
    text : str
        The sentence shown first.
    recipe, alpha, n_aug
        Initial augmenter, strength and number of variants.
    model, translation_models : str (a list of two names for translation_models), optional
        Models for the ``contextual`` and ``back_translation`` recipes (none is bundled offline;
        choosing them without a model shows how to get one).
    nltk_data, vectors
        Resource locations, as in :func:`workbench.augmentation.make_augmenter`.
    embedder : callable, optional
        ``list[str] -> unit vectors`` for the similarity column; default the bundled MiniLM.

    Examples
    --------
    >>> explorer = augmentation_explorer("good tea", recipe="word_swap")  # doctest: +SKIP
    >>> explorer.set(n_aug=2)  # doctest: +SKIP
    """
    embed = embedder or sentence_embeddings
    known: dict[str, np.ndarray] = {}  # embeddings survive re-renders: the sentence rarely changes

    def similarities(source: str, variants: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys([source, *variants]) if t not in known]
        if missing:
            known.update(zip(missing, np.asarray(embed(missing), dtype=np.float32)))
        return np.array([float(known[v] @ known[source]) for v in variants])

    def render(text: str, recipe: str, alpha: float, n_aug: int, seed: int) -> str:
        if not text.strip():
            raise DataError("Type a sentence to augment (the text box is empty).")
        resource = translation_models if recipe == "back_translation" else model
        frame = augment([text], recipe, alpha=alpha, n_aug=n_aug, seed=seed, progress=False, model=resource,
                        nltk_data=nltk_data, vectors=vectors)
        variants = frame["augmented"].tolist()
        notes = "".join(f"<div class='wb-note'>variant {k + 1} kept the source: {html.escape(str(reason))}</div>"
                        for k, reason in enumerate(frame["reason"]) if reason)
        return (f"<div style='color:#555'>{html.escape(RECIPES[recipe])}</div>"
                + variants_html(text, variants, similarities(text, variants)) + notes)

    controls = {
        "text": widgets.Textarea(value=text, description="Sentence", layout=widgets.Layout(width="90%")),
        "recipe": widgets.Dropdown(options=list(RECIPES), value=recipe, description="Augmenter"),
        "alpha": widgets.FloatSlider(value=alpha, min=0.0, max=0.5, step=0.05, description="alpha",
                                     tooltip="fraction of words changed"),
        "n_aug": widgets.IntSlider(value=n_aug, min=1, max=8, description="Variants"),
        "seed": widgets.BoundedIntText(value=0, min=0, max=2**31 - 1, description="Seed"),
    }
    return Explorer(controls, render, title="Data augmentation explorer",
                    description="New words are marked, removed words struck through; similarity is the MiniLM "
                                "cosine to the sentence.")
