"""nlpaug's augmenters with the offline resources, and what nlpaug lacks.

- ``WordNetDictionary``: nlpaug's WordNet dictionary on :func:`~workbench.augmentation.resources.wordnet_reader`
  and the TextBlob tagger, with look-ups cached (they are pure and repeat across texts);
- ``SynonymAug`` / ``AntonymAug``: nlpaug's, with that dictionary and case-insensitive stopwords;
- ``SynonymInsertAug``: EDA's random insertion (a synonym of a random word, at a random place),
  which nlpaug lacks; it reuses SynonymAug's tokenizer, sampling and dictionary;
- ``GloVe``: nlpaug's word-embedding model interface over numpy arrays (nlpaug's own needs gensim);
- ``EDA``: applies one of four augmenters per variant, each once per four variants, as EDA does.

Importing this module imports nlpaug (and torch): :mod:`workbench.augmentation.recipes` does it on
first use.
"""

from __future__ import annotations

import random

import nlpaug.augmenter.char as nac  # noqa: F401  (recipes build nlpaug's char augmenters from here)
import nlpaug.augmenter.word as naw
import nlpaug.model.word_dict as nmw
import nlpaug.model.word_embs as nme
import numpy as np
from nlpaug.util import Action, PartOfSpeech

from workbench.augmentation.resources import _pos_tagger


class WordNetDictionary(nmw.WordNet):
    """nlpaug's WordNet dictionary on a given reader, POS tags from TextBlob, look-ups cached."""

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
