"""Intrinsic metrics of tokenizers on held-out text, from one ``encode_batch`` pass each.

>>> frame = compare_tokenizers({"c": "cl100k_base"}, ["hello world"])
>>> sorted(frame.columns)
['metric', 'tokenizer', 'value']
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench._validation import check_choice, check_float, check_int
from workbench.errors import ParameterError
from workbench.tokenization.adapters import _check_tokenizers, wrap_tokenizer
from workbench.tokenization.train import _check_texts
from workbench.tokenization.words import DEFAULT_SEGMENTER, WORD_SEGMENTERS, Words, word_spans


METRICS: tuple[str, ...] = (
    "vocab_size", "fertility", "continued_word_ratio", "chars_per_token", "bytes_per_token", "unk_rate",
    "vocab_utilization", "renyi_efficiency", "renyi_efficiency_observed", "length_mean", "length_p50", "length_p95",
    "truncation_rate", "round_trip_exact", "tokens_per_second", "encode_threads")
"""Rows of :func:`compare_tokenizers` per tokenizer, in this order (definitions there)."""


COLUMNS: tuple[str, ...] = ("tokenizer", "metric", "value")
LENGTH_COLUMNS: tuple[str, ...] = ("tokenizer", "text_id", "tokens")


SPAN_TEXTS = 2048
"""Texts per batch whose token spans :func:`compare_tokenizers` reads for ``continued_word_ratio``."""

RENYI_ALPHA = 2.5  # Zouhar et al. (2023) found alpha = 2.5 correlates best with BLEU


def compare_tokenizers(tokenizers: Mapping[str, Any], texts: Iterable[str], *, max_length: int = 128,
                       round_trip_texts: int | None = 256, span_texts: int | None = SPAN_TEXTS,
                       batch_size: int | None = None, segmenter: str = DEFAULT_SEGMENTER) -> pd.DataFrame:
    """Measure tokenizers on held-out texts: one ``encode_batch`` pass each, one row per metric.

    Words are those of ``segmenter`` (:mod:`workbench.tokenization.words`: ``whitespace``, ``unicode``
    (default) or ``spacy``), the same for every tokenizer. A token belongs to every word its character span overlaps. Lengths count a text's
    own tokens, without ``[CLS]``/``[SEP]``.

    - ``vocab_size``: entries, special and added tokens included.
    - ``fertility``: tokens per word, all tokens over all words (Rust et al. 2021).
    - ``continued_word_ratio``: share of words spread over more than one token, over the words of
      ``span_texts`` evenly spaced texts per batch.
    - ``chars_per_token``, ``bytes_per_token``: characters (UTF-8 bytes) of the texts per token.
    - ``unk_rate``: share of tokens that are the unknown token (0 when the tokenizer has none).
    - ``vocab_utilization``: distinct ids used over ``vocab_size``.
    - ``renyi_efficiency``: H_2.5(p) / log |V| over unigram token frequencies, |V| the whole vocabulary
      (Zouhar et al. 2023); ``renyi_efficiency_observed``: the same over log of the token types seen,
      ``tokenization-scorer``'s default normalisation.
    - ``length_mean``, ``length_p50``, ``length_p95``: tokens per text.
    - ``truncation_rate``: share of texts with more than ``max_length`` tokens.
    - ``round_trip_exact``: share of texts where ``decode(encode(t))`` equals ``t``, or ``t`` as the
      tokenizer's own normalizer leaves it (lowercased, accents stripped, ...). Whitespace is not
      forgiven, so ``word`` and WordPiece decoders lose points. Estimated on ``round_trip_texts``
      evenly spaced texts (of the first batch when streaming).
    - ``tokens_per_second``: tokens over the wall time of the encode calls, after an untimed warm-up on
      the first 64 texts (depends on the machine; streaming times every batch).
    - ``encode_threads``: threads the encode calls ran with (rayon for HF, the tiktoken adapter's threads).

    Parameters
    ----------
    tokenizers : mapping of str to tokenizer
        Names to HF fast tokenizers, ``tiktoken`` encodings, pretrained names or adapters
        (anything :func:`wrap_tokenizer` takes).
    texts : iterable of str
        Held-out texts, e.g. ``dataset["test"]["text"]``, or any iterable (an open file's lines, a
        generator) when streaming with ``batch_size``.
    max_length : int
        Token budget for ``truncation_rate``.
    round_trip_texts : int or None
        Texts decoded for ``round_trip_exact`` (None: all). Decoding and normalizing cost about as much
        as encoding, so a sample (standard error at most 3 points at 256) keeps the pass cheap.
    span_texts : int or None
        Texts per batch whose token spans are read for ``continued_word_ratio`` (None: all). Reading HF's
        offsets into arrays and matching them to words costs about a third of the encode call; on 20,000
        reviews the 2,048-text estimate is within 0.3 points of all texts for every tokenizer of
        ``benchmarks/bench_tokenization.py``, which prints the difference. Fertility and the other
        metrics always count every text.
    segmenter : {"whitespace", "unicode", "spacy"}
        What a word is, for fertility and the continued-word ratio.
    batch_size : int or None
        Stream: read and encode this many texts at a time, keeping only running counts (memory grows
        with the vocabulary and 4 bytes per text, not with the corpus). None encodes everything at once.

    Returns
    -------
    pandas.DataFrame
        Columns ``tokenizer``, ``metric``, ``value``; rows in :data:`METRICS` order per tokenizer.

    Examples
    --------
    >>> frame = compare_tokenizers({"minilm": "minilm"}, ["unaffable"])
    >>> frame.set_index("metric").loc["fertility", "value"]
    np.float64(3.0)
    """
    func = "compare_tokenizers"
    adapters = _check_tokenizers(tokenizers, func)
    check_choice("segmenter", segmenter, func, WORD_SEGMENTERS)
    check_int("max_length", max_length, func, low=1)
    if round_trip_texts is not None:
        check_int("round_trip_texts", round_trip_texts, func, low=1, fix="Pass None to decode every text.")
    if span_texts is not None:
        check_int("span_texts", span_texts, func, low=1, fix="Pass None to read the spans of every text.")
    if batch_size is not None:
        check_int("batch_size", batch_size, func, low=1, fix="Pass None to encode all texts at once.")
        batches: Iterable[list[str]] = _batches(texts, batch_size, func)
    else:
        batches = [_check_texts(texts, func)]
    accumulators = {name: _Accumulator(adapter, max_length, span_texts) for name, adapter in adapters.items()}
    for index, batch in enumerate(batches):
        if not batch:
            continue
        words = word_spans(batch, segmenter)
        # Round trips are sampled from the first batch only: a stream's length is not known ahead.
        picked = _evenly_spaced(len(batch), round_trip_texts) if index == 0 else []
        if index == 0:  # warm-up: thread pools and caches start before the timed pass
            for adapter in adapters.values():
                adapter.encode_batch(batch[:64])
        for accumulator in accumulators.values():
            accumulator.add(batch, words, picked)
    if not any(acc.n_texts for acc in accumulators.values()):
        warnings.warn(f"{func} got no texts; returning an empty frame.", stacklevel=2)
        return pd.DataFrame({"tokenizer": pd.Series(dtype=object), "metric": pd.Series(dtype=object),
                             "value": pd.Series(dtype=float)})
    rows = [(name, metric, value) for name, acc in accumulators.items() for metric, value in acc.result().items()]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _batches(texts: Iterable[str], batch_size: int, func: str) -> Iterator[list[str]]:
    if isinstance(texts, (str, bytes)) or not hasattr(texts, "__iter__"):
        raise ParameterError(f"The 'texts' parameter of {func} must be an iterable of str. "
                             f"Got {type(texts).__name__} instead. Wrap a single text in a list.")
    iterator = iter(texts)
    while batch := list(itertools.islice(iterator, batch_size)):
        yield _check_texts(batch, func)


def metrics_wide(frame: pd.DataFrame) -> pd.DataFrame:
    """Pivot :func:`compare_tokenizers` output to one row per tokenizer, one column per metric.

    >>> metrics_wide(compare_tokenizers({"c": "cl100k_base"}, ["hi"]))["fertility"].item()
    1.0
    """
    wide = frame.pivot(index="tokenizer", columns="metric", values="value")
    return wide.reindex(columns=[m for m in METRICS if m in wide.columns])


def sequence_lengths(tokenizers: Mapping[str, Any], texts: Sequence[str]) -> pd.DataFrame:
    """Tokens per text for each tokenizer: columns ``tokenizer``, ``text_id``, ``tokens``.

    >>> sequence_lengths({"cl100k": "cl100k_base"}, ["hello world"])["tokens"].tolist()
    [2]
    """
    adapters = _check_tokenizers(tokenizers, "sequence_lengths")
    texts = _check_texts(texts, "sequence_lengths")
    if not texts:
        warnings.warn("sequence_lengths got no texts; returning an empty frame.", stacklevel=2)
        return pd.DataFrame(columns=list(LENGTH_COLUMNS))
    frames = [pd.DataFrame({"tokenizer": name, "text_id": np.arange(len(texts)),
                            "tokens": adapter.encode_batch(texts).lengths})
              for name, adapter in adapters.items()]
    return pd.concat(frames, ignore_index=True)


class _Accumulator:
    """Running counts of one tokenizer over batches of texts; :meth:`result` turns them into metrics."""

    def __init__(self, adapter, max_length: int, span_texts: int | None) -> None:
        self.adapter, self.max_length, self.span_texts = adapter, max_length, span_texts
        self.counts = np.zeros(adapter.vocab_size, np.int64)
        self.lengths: list[np.ndarray] = []
        self.n_texts = self.n_tokens = self.n_words = self.n_chars = self.n_bytes = 0
        self.n_span_words = self.n_continued = 0
        self.n_unk = 0
        self.seconds = 0.0
        self.exact: list[bool] = []

    def add(self, texts: list[str], words: Words, picked: list[int]) -> None:
        adapter = self.adapter
        spanned = None if self.span_texts is None or self.span_texts >= len(texts) else \
            np.asarray(_evenly_spaced(len(texts), self.span_texts))
        batch = adapter.encode_batch(texts, spans_for=spanned)
        per_word = pieces_per_word(batch, words)
        bincount = np.bincount(batch.ids, minlength=len(self.counts))
        if len(bincount) > len(self.counts):  # ids past the reported size (added tokens)
            self.counts = np.pad(self.counts, (0, len(bincount) - len(self.counts)))
        self.counts[:len(bincount)] += bincount
        if picked:
            decoded = adapter.decode_batch([batch.ids_of(i) for i in picked])
            self.exact += [d == texts[i] or d == adapter.normalize(texts[i]) for d, i in zip(decoded, picked)]
        self.lengths.append(batch.lengths.astype(np.int32))
        self.n_texts += len(texts)
        self.n_tokens += int(batch.lengths.sum())
        self.n_words += len(words.starts)
        self.n_span_words += len(per_word)
        self.n_continued += int(np.count_nonzero(per_word > 1))
        self.n_chars += words.n_chars
        self.n_bytes += words.n_bytes
        if adapter.unk_id is not None:
            self.n_unk += int(np.count_nonzero(batch.ids == adapter.unk_id))
        self.seconds += batch.seconds

    def result(self) -> dict[str, float]:
        vocab_size = self.adapter.vocab_size
        lengths = np.concatenate(self.lengths) if self.lengths else np.zeros(0, np.int32)
        return {
            "vocab_size": float(vocab_size),
            "fertility": _ratio(self.n_tokens, self.n_words),
            "continued_word_ratio": _ratio(self.n_continued, self.n_span_words),
            "chars_per_token": _ratio(self.n_chars, self.n_tokens),
            "bytes_per_token": _ratio(self.n_bytes, self.n_tokens),
            "unk_rate": 0.0 if self.adapter.unk_id is None else _ratio(self.n_unk, self.n_tokens),
            "vocab_utilization": _ratio(int(np.count_nonzero(self.counts)), vocab_size),
            "renyi_efficiency": renyi_efficiency(self.counts, vocab_size=vocab_size),
            "renyi_efficiency_observed": renyi_efficiency(self.counts),
            "length_mean": float(lengths.mean()),
            "length_p50": float(np.percentile(lengths, 50)),
            "length_p95": float(np.percentile(lengths, 95)),
            "truncation_rate": float(np.mean(lengths > self.max_length)),
            "round_trip_exact": float(np.mean(self.exact)) if self.exact else float("nan"),
            "tokens_per_second": _ratio(self.n_tokens, self.seconds),
            "encode_threads": float(getattr(self.adapter, "threads", 1)),
        }


def pieces_per_word(batch, words: Words) -> np.ndarray:
    """Tokens overlapping each word of ``words``: a token belongs to every word its span overlaps.

    ``batch`` is an :class:`~workbench.tokenization.adapters.EncodedBatch` of the same texts; when it holds
    the spans of some texts only (``batch.span_texts``), the words of those texts, in order.

    >>> from workbench.tokenization.words import word_spans
    >>> texts = ["unaffable dog"]
    >>> pieces_per_word(wrap_tokenizer("minilm").encode_batch(texts), word_spans(texts)).tolist()
    [3, 1]
    """
    if batch.unit == "byte":  # tiktoken: compare in bytes, where its spans are exact
        base, word_starts, word_ends = words.byte_base, words.byte_starts, words.byte_ends
    else:
        base, word_starts, word_ends = words.char_base, words.starts, words.ends
    if batch.span_texts is not None:
        spanned = np.zeros(len(batch.lengths), bool)
        spanned[batch.span_texts] = True
        keep = spanned[words.text_of_word]
        word_starts, word_ends, base = word_starts[keep], word_ends[keep], base[batch.span_texts]
    base = np.repeat(base, batch.span_lengths)
    # searchsorted needs sorted spans; offsets are monotone except after unusual normalizers.
    starts = np.maximum.accumulate(batch.spans[:, 0] + base)
    ends = np.maximum.accumulate(batch.spans[:, 1] + base)
    # Tokens overlapping word [s, e): those starting before e minus those ending at or before s.
    return np.searchsorted(starts, word_ends, "left") - np.searchsorted(ends, word_starts, "right")


def renyi_efficiency(counts: np.ndarray, *, vocab_size: int | None = None, alpha: float = RENYI_ALPHA) -> float:
    """Rényi efficiency H_alpha(p) / log(n) of unigram token counts (Zouhar et al. 2023).

    ``H_alpha(p) = log(sum p_i ** alpha) / (1 - alpha)``, and at ``alpha = 1`` its limit, Shannon's
    ``-sum p_i log p_i``. ``n`` is ``vocab_size`` (every entry of the vocabulary, used or not) or, with
    ``vocab_size=None``, the number of token types observed (``tokenization-scorer``'s default). 1 means
    all ``n`` entries equally used.

    >>> renyi_efficiency(np.array([5, 5, 5, 5]), vocab_size=4)
    1.0
    >>> round(renyi_efficiency(np.array([5, 5, 5, 5]), vocab_size=16), 3), renyi_efficiency(np.array([5, 5, 0, 0]))
    (0.5, 1.0)
    >>> round(renyi_efficiency(np.array([1, 3]), alpha=1.0), 4)  # Shannon: 0.8113 bits of 1
    0.8113
    """
    check_float("alpha", alpha, "renyi_efficiency", low=0, fix="Use alpha = 2.5 (Zouhar et al. 2023).")
    counts = np.asarray(counts, float)
    total = counts.sum()
    p = counts[counts > 0] / total if total > 0 else counts[:0]
    n = len(p) if vocab_size is None else vocab_size
    if total <= 0 or n < 2:
        return float("nan")
    entropy = -np.sum(p * np.log(p)) if alpha == 1 else np.log(np.sum(p ** alpha)) / (1 - alpha)
    return float(entropy / np.log(n))


def _evenly_spaced(n: int, k: int | None) -> list[int]:
    """``k`` indices spread evenly over ``range(n)`` (all of them when ``k`` is None or >= n)."""
    if k is None or k >= n:
        return list(range(n))
    return np.linspace(0, n - 1, num=k).round().astype(int).tolist()


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / denominator if denominator else float("nan")
