"""Words: the one word segmenter of the tokenization metrics (fertility, continued words, split words).

Three segmenters, chosen by name:

============== ==========================================================================================
``whitespace`` runs of non-space characters (``str.split()``): punctuation stays with its word, a CJK
               sentence without spaces is one word.
``unicode``    Unicode word characters, ``[\\w\\p{M}]+`` by the ``regex`` library (letters, marks, digits,
               connectors, so a decomposed accent stays in its word), with every CJK ideograph, kana and
               CJK compatibility character a word of its own (as BERT's basic tokenizer does for Chinese);
               punctuation belongs to no word.
``spacy``      spaCy's rule-based tokenizer of ``spacy.blank("en")`` (needs ``pip install spacy``): words
               and punctuation marks are separate words.
============== ==========================================================================================

>>> split_words(["Don't stop, café 我喜欢猫"], segmenter="unicode")
[['Don', 't', 'stop', 'café', '我', '喜', '欢', '猫']]
>>> split_words(["Don't stop, café 我喜欢猫"], segmenter="whitespace")
[["Don't", 'stop,', 'café', '我喜欢猫']]
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from workbench._validation import check_choice
from workbench.errors import ResourceUnavailableError

WORD_SEGMENTERS: tuple[str, ...] = ("whitespace", "unicode", "spacy")
"""Values of ``segmenter`` accepted by :func:`split_words` and :func:`workbench.tokenization.compare_tokenizers`."""

DEFAULT_SEGMENTER = "unicode"

# CJK ideographs (unified, extensions A and B+, compatibility), Hiragana, Katakana: one word each.
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_UNICODE_WORD = rf"[{_CJK}]|(?:(?![{_CJK}])[\w\p{{M}}])+"


@dataclass(frozen=True)
class Words:
    """Word spans of a batch of texts joined by newlines, in that joined coordinate.

    ``starts``/``ends`` are character offsets of each word; ``text_of_word`` the text it belongs to;
    ``char_base`` where each text begins in the joined string. ``byte_starts``/``byte_ends``/``byte_base``
    are the same in the joined string's UTF-8 bytes (for tokenizers whose spans are bytes).
    """

    starts: np.ndarray
    ends: np.ndarray
    text_of_word: np.ndarray
    char_base: np.ndarray
    n_chars: int
    n_bytes: int
    byte_starts: np.ndarray
    byte_ends: np.ndarray
    byte_base: np.ndarray


def word_spans(texts: Sequence[str], segmenter: str = DEFAULT_SEGMENTER) -> Words:
    """Word spans of ``texts`` (see the module docstring for the segmenters), computed once per corpus:
    the last two results are kept, so every tokenizer compared on the same texts shares them.

    >>> spans = word_spans(["ab cd", "e"], "whitespace")
    >>> spans.starts.tolist(), spans.ends.tolist(), spans.text_of_word.tolist()
    ([0, 3, 6], [2, 5, 7], [0, 0, 1])
    """
    check_choice("segmenter", segmenter, "word_spans", WORD_SEGMENTERS)
    return _word_spans(tuple(texts), segmenter)  # a tuple of the same str objects hashes in microseconds


@functools.lru_cache(maxsize=2)
def _word_spans(texts: tuple[str, ...], segmenter: str) -> Words:
    codes, char_base, byte_of_char = _layout(texts)
    if segmenter == "whitespace":
        starts, ends = _whitespace_spans(codes)
    elif segmenter == "unicode":
        starts, ends = _regex_spans(codes)
    else:
        starts, ends = _spacy_spans(list(texts), char_base)
    text_of_word = np.searchsorted(char_base, starts, side="right") - 1 if len(texts) else starts
    separators = max(len(texts) - 1, 0)
    return Words(starts, ends, text_of_word, char_base, n_chars=len(codes) - separators,
                 n_bytes=int(byte_of_char[-1]) - separators, byte_starts=byte_of_char[starts],
                 byte_ends=byte_of_char[ends], byte_base=byte_of_char[char_base])


def _layout(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Code points of the texts joined by newlines, where each text starts, and where each character
    (and the end) starts in the joined string's UTF-8 bytes."""
    joined = "\n".join(texts)
    codes = np.frombuffer(joined.encode("utf-32-le"), np.uint32)
    char_base = np.concatenate([[0], np.cumsum([len(t) + 1 for t in texts])[:-1]]).astype(np.int64)
    if joined.isascii():
        return codes, char_base, np.arange(len(codes) + 1, dtype=np.int64)
    sizes = 1 + (codes >= 0x80).astype(np.int64) + (codes >= 0x800) + (codes >= 0x10000)
    return codes, char_base, np.concatenate([[0], np.cumsum(sizes)])


def byte_spans_to_chars(texts: Sequence[str], spans: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``(start, end)`` UTF-8 byte spans of tokens (``lengths[i]`` of them in ``texts[i]``) as character
    spans: a token that begins or ends inside a character covers that character.

    >>> byte_spans_to_chars(["é!", "ab"], np.array([[0, 1], [1, 2], [2, 3], [0, 2]]), np.array([3, 1])).tolist()
    [[0, 1], [0, 1], [1, 2], [0, 2]]
    """
    _, char_base, byte_of_char = _layout(texts)
    char_base = np.repeat(char_base, lengths)
    byte_base = byte_of_char[char_base]
    starts = np.searchsorted(byte_of_char, spans[:, 0] + byte_base, "right") - 1 - char_base
    ends = np.searchsorted(byte_of_char, spans[:, 1] + byte_base, "left") - char_base
    return np.stack([starts, ends], axis=1)


def split_words(texts: Sequence[str], *, segmenter: str = DEFAULT_SEGMENTER) -> list[list[str]]:
    """The words of each text under ``segmenter``, as strings.

    >>> split_words(["naïve cafe\\u0301!"], segmenter="unicode") == [["naïve", "cafe\\u0301"]]
    True
    """
    texts = list(texts)
    spans = word_spans(texts, segmenter)
    joined = "\n".join(texts)
    out: list[list[str]] = [[] for _ in texts]
    for start, end, text in zip(spans.starts.tolist(), spans.ends.tolist(), spans.text_of_word.tolist()):
        out[text].append(joined[start:end])
    return out


def _whitespace_spans(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    space = np.zeros(codes.size + 2, bool)
    space[[0, -1]] = True  # sentinels so every word has a start and an end
    space[1:-1] = np.isin(codes, _WHITESPACE)
    edges = np.flatnonzero(np.diff(space.astype(np.int8)))
    return edges[0::2], edges[1::2]


_WHITESPACE = np.array([c for c in range(0x3001) if chr(c).isspace()], np.uint32)


@functools.lru_cache(maxsize=None)
def _classify(chars: str) -> tuple[np.ndarray, np.ndarray]:
    """For each character: a word character (``regex``'s ``[\\w\\p{M}]``)? CJK (a word alone)?"""
    import regex

    word = np.zeros(len(chars), bool)
    word[[m.start() for m in regex.finditer(r"[\w\p{M}]", chars)]] = True
    cjk = np.zeros(len(chars), bool)
    cjk[[m.start() for m in regex.finditer(rf"[{_CJK}]", chars)]] = True
    return word, cjk


def _bmp() -> str:
    return "".join(map(chr, range(0xD800))) + "\ufffd" * 0x800 + "".join(map(chr, range(0xE000, 0x10000)))


def _lookup(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    word_bmp, cjk_bmp = _classify(_bmp())  # one table of the Basic Multilingual Plane, built once
    low = codes < 0x10000
    word, cjk = word_bmp[np.where(low, codes, 0)], cjk_bmp[np.where(low, codes, 0)]
    if not low.all():  # astral characters (CJK extension B+, emoji): classified one by one
        rare, inverse = np.unique(codes[~low], return_inverse=True)
        rare_word, rare_cjk = _classify("".join(map(chr, rare.tolist())))
        word[~low], cjk[~low] = rare_word[inverse], rare_cjk[inverse]
    return word, cjk


def _regex_spans(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The spans of ``_UNICODE_WORD`` (tested equal to ``regex.finditer``), by table look-up: a run of
    non-CJK word characters is a word, each CJK character is one."""
    word, cjk = _lookup(codes)
    pad = np.zeros(1, bool)
    before_word, before_cjk = np.concatenate([pad, word[:-1]]), np.concatenate([pad, cjk[:-1]])
    after_word, after_cjk = np.concatenate([word[1:], pad]), np.concatenate([cjk[1:], pad])
    starts = np.flatnonzero(word & (~before_word | cjk | before_cjk))
    ends = np.flatnonzero(word & (~after_word | cjk | after_cjk)) + 1
    return starts, ends


@functools.lru_cache(maxsize=1)
def _spacy_tokenizer():
    try:
        import spacy
    except ImportError:
        raise ResourceUnavailableError(
            "The 'spacy' word segmenter needs spaCy; install it with `pip install spacy`, or pass "
            "segmenter='unicode'.") from None
    return spacy.blank("en").tokenizer


def _spacy_spans(texts: list[str], char_base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tokenizer = _spacy_tokenizer()
    starts, ends = [], []
    for base, doc in zip(char_base.tolist(), tokenizer.pipe(texts)):
        for token in doc:
            if not token.is_space:
                starts.append(base + token.idx)
                ends.append(base + token.idx + len(token.text))
    return np.asarray(starts, np.int64), np.asarray(ends, np.int64)
