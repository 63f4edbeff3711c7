"""Text metrics of variants: word-level difference, distinct-n, self-BLEU."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from workbench._validation import check_int

_WORD = re.compile(r"\w+|[^\w\s]")


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
    punctuation is not a change. ``changed_ratio`` is the word-level Levenshtein distance (nltk's
    ``edit_distance`` on word lists: substitutions, insertions, deletions) over the longer text's word
    count. For display, ``difflib.SequenceMatcher`` marks which words are new (``segments`` cut
    ``augmented``, whitespace kept, into ``(piece, is_new)``) and which source words are ``removed``.

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
    for block in matcher.get_matching_blocks():
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
    return WordDiff(segments, removed, _edit_ratio(source_words, new_words))


def _edit_ratio(source_words: list[str], new_words: list[str]) -> float:
    from nltk.metrics.distance import edit_distance

    longest = max(len(source_words), len(new_words))
    return 0.0 if longest == 0 else edit_distance(source_words, new_words) / longest


def changed_word_ratio(source: str, augmented: str) -> float:
    """Word-level edit distance over the longer text's word count (see :func:`word_diff`).

    >>> changed_word_ratio("a b c d", "a b c d e"), changed_word_ratio("a b c d", "b a c d")
    (0.2, 0.5)
    """
    return _edit_ratio(_words(source), _words(augmented))


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
