"""Where tokenizers differ: fertility per class, the frequent words each one splits the most, and the
share of characters a model keeps at a token budget.

All three use the package's one word segmenter (:mod:`workbench.tokenization.words`).

>>> frame = fertility_by_class({"c": "cl100k_base"}, ["hello world", "unaffable"], ["a", "b"])
>>> frame[["label", "fertility"]].values.tolist()
[['a', 1.0], ['b', 3.0]]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench._validation import check_int
from workbench.errors import ParameterError
from workbench.tokenization.adapters import _check_tokenizers
from workbench.tokenization.metrics import pieces_per_word
from workbench.tokenization.train import _check_texts
from workbench.tokenization.words import DEFAULT_SEGMENTER, word_spans

CLASS_COLUMNS: tuple[str, ...] = ("tokenizer", "label", "n_texts", "n_words", "n_tokens", "fertility")
SPLIT_COLUMNS: tuple[str, ...] = ("tokenizer", "rank", "word", "count", "pieces")


def fertility_by_class(tokenizers: Mapping[str, Any], texts: Sequence[str], labels: Sequence[Any] | None = None,
                       *, segmenter: str = DEFAULT_SEGMENTER) -> pd.DataFrame:
    """Fertility (tokens per word) of each tokenizer on the texts of each class.

    ``texts`` may be a split of a loaded data set (``data["test"]``) with ``labels`` left out: its
    ``text`` column and its labels by name are used.

    A tokenizer trained on a skewed corpus can cut one class's vocabulary (product names, a dialect)
    into more pieces than another's: the spread across classes (:func:`class_spread`) shows it.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CLASS_COLUMNS`, one row per tokenizer and label (labels in order of appearance).
    """
    func = "fertility_by_class"
    adapters = _check_tokenizers(tokenizers, func)
    if labels is None and hasattr(texts, "features"):
        texts, labels = list(texts["text"]), texts.features["label"].int2str(list(texts["label"]))
    if labels is None:
        raise ParameterError(f"The 'labels' parameter of {func} is needed unless 'texts' is a split of a loaded "
                             f"data set. Got labels=None with {type(texts).__name__} texts instead.")
    texts, labels = _check_texts(texts, func), list(labels)
    if len(labels) != len(texts):
        raise ParameterError(f"The 'labels' parameter of {func} must have one label per text ({len(texts)}). "
                             f"Got {len(labels)} instead.")
    words = word_spans(texts, segmenter)
    words_per_text = np.bincount(words.text_of_word, minlength=len(texts))
    codes, uniques = pd.factorize(pd.Series(labels, dtype=object))
    rows = []
    for name, adapter in adapters.items():
        lengths = adapter.encode_batch(texts).lengths
        tokens = np.bincount(codes, weights=lengths, minlength=len(uniques))
        n_words = np.bincount(codes, weights=words_per_text, minlength=len(uniques))
        n_texts = np.bincount(codes, minlength=len(uniques))
        rows += [(name, label, int(n_texts[i]), int(n_words[i]), int(tokens[i]),
                  float(tokens[i] / n_words[i]) if n_words[i] else float("nan"))
                 for i, label in enumerate(uniques)]
    return pd.DataFrame(rows, columns=list(CLASS_COLUMNS))


def class_spread(frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per tokenizer: the lowest and highest class fertility and their ratio (1 = every class alike).

    >>> class_spread(pd.DataFrame({"tokenizer": "c", "label": ["a", "b"], "fertility": [1.0, 1.5]}))
    {'c': {'min': 1.0, 'max': 1.5, 'ratio': 1.5}}
    """
    out = {}
    for name, group in frame.groupby("tokenizer", sort=False):
        low, high = float(group["fertility"].min()), float(group["fertility"].max())
        out[str(name)] = {"min": low, "max": high, "ratio": high / low if low else float("nan")}
    return out


def split_words_table(tokenizers: Mapping[str, Any], texts: Sequence[str], *, top: int = 10,
                      frequent: int = 1000, segmenter: str = DEFAULT_SEGMENTER) -> pd.DataFrame:
    """The ``top`` words, among the ``frequent`` most frequent, that each tokenizer cuts into most pieces.

    Ties in pieces go to the more frequent word, then alphabetical order.

    >>> table = split_words_table({"minilm": "minilm"}, ["unaffable dog dog"], top=1)
    >>> table[["word", "count", "pieces"]].values.tolist()
    [['unaffable', 1, 3]]
    """
    func = "split_words_table"
    adapters = _check_tokenizers(tokenizers, func)
    texts = _check_texts(texts, func)
    check_int("top", top, func, low=1)
    check_int("frequent", frequent, func, low=1)
    words = word_spans(texts, segmenter)
    joined = "\n".join(texts)
    strings = [joined[a:b] for a, b in zip(words.starts.tolist(), words.ends.tolist())]
    counts = Counter(strings)
    keep = {w for w, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:frequent]}
    rows = []
    for name, adapter in adapters.items():
        pieces = pieces_per_word(adapter.encode_batch(texts), words)
        # The same word can be cut differently in context (BPE is context-free per pre-token; WordPiece
        # is not across punctuation): keep the most common count.
        seen: dict[str, Counter] = {}
        for word, n in zip(strings, pieces.tolist()):
            if word in keep:
                seen.setdefault(word, Counter())[n] += 1
        ranked = sorted(((c.most_common(1)[0][0], counts[w], w) for w, c in seen.items()),
                        key=lambda item: (-item[0], -item[1], item[2]))[:top]
        rows += [(name, rank + 1, word, count, n) for rank, (n, count, word) in enumerate(ranked)]
    return pd.DataFrame(rows, columns=list(SPLIT_COLUMNS))


def kept_char_share(tokenizer: Any, texts: Sequence[str], *, max_length: int, special_tokens: int = 2) -> float:
    """Share of the texts' characters a model sees when each text is cut to ``max_length`` tokens.

    ``special_tokens`` of the budget go to ``[CLS]``/``[SEP]``; a text keeps the characters up to the end
    of its last token within budget. A tokenizer with more tokens per word loses more of each text at the
    same length, which confounds a downstream comparison at one fixed length.

    >>> kept_char_share("cl100k_base", ["hello world", "hi"], max_length=3)  # 'hello' + 'hi' of 13
    0.5384615384615384
    """
    from workbench.tokenization.adapters import wrap_tokenizer

    func = "kept_char_share"
    texts = _check_texts(texts, func)
    check_int("max_length", max_length, func, low=special_tokens + 1)
    batch = wrap_tokenizer(tokenizer).encode_batch(texts)
    budget = max_length - special_tokens
    total = sum(map(len, texts))
    if not total:
        return float("nan")
    bounds = batch.bounds
    last = bounds[:-1] + np.minimum(batch.lengths, budget) - 1
    cut = batch.lengths > budget
    kept = np.where(cut, batch.ends[np.where(cut, last, 0)] if len(batch.ends) else 0,
                    [len(t) for t in texts])
    return float(np.sum(kept) / total)
