"""Tokenizers: train one on your texts, load a pretrained one, and compare them on held-out text.

A package, one module per concern, read in this order:

- :mod:`~workbench.tokenization.train`: :func:`train_tokenizer` (HF ``tokenizers``: BPE, byte-level
  BPE, WordPiece, Unigram, word, char), wrapped for ``transformers``.
- :mod:`~workbench.tokenization.adapters`: one adapter over HF fast tokenizers and ``tiktoken``
  encodings (:class:`HFTokenizer`, :class:`TiktokenTokenizer`), offline pretrained loading.
- :mod:`~workbench.tokenization.words`: the one word segmenter (whitespace, Unicode ``\\w+``, spaCy).
- :mod:`~workbench.tokenization.metrics`: :func:`compare_tokenizers` (fertility, Rényi efficiency,
  lengths, round trips, throughput), from one ``encode_batch`` pass each.
- :mod:`~workbench.tokenization.breakdowns`: fertility per class, the words split the most, the
  share of characters kept at a token budget.
- :mod:`~workbench.tokenization.ladder`: the largest BPE trained once, smaller sizes truncated from it.
- :mod:`~workbench.tokenization.dropout`: seeded BPE-dropout for downstream training.
- :mod:`~workbench.tokenization.downstream`: the same small transformer trained with each tokenizer
  (learning rate tuned on validation, truncation measured); :mod:`~workbench.tokenization.decision`:
  chosen on validation, compared on test (:func:`downstream_verdict`).
- :mod:`~workbench.tokenization.calibration`: how well each intrinsic score ranks downstream accuracy.
- :mod:`~workbench.tokenization.findings`: recommendation, Markdown findings, summary and results.
- :mod:`~workbench.tokenization.plots`: DataFrame in, Figure out.

>>> texts = ["the cat sat on the mat", "the dog sat on the log"] * 50
>>> tok = train_tokenizer(texts, algorithm="bpe", vocab_size=100)
>>> frame = compare_tokenizers({"bpe": tok}, texts[:2])
>>> sorted(frame.columns)
['metric', 'tokenizer', 'value']
"""

from __future__ import annotations

from workbench.tokenization.adapters import (PRETRAINED, EncodedBatch, HFTokenizer, TiktokenTokenizer,
                                             load_pretrained_tokenizer, wrap_tokenizer)
from workbench.tokenization.breakdowns import (CLASS_COLUMNS, SPLIT_COLUMNS, class_spread, fertility_by_class,
                                               kept_char_share, split_words_table)
from workbench.tokenization.calibration import CALIBRATED, calibrate_intrinsic
from workbench.tokenization.decision import (DOWNSTREAM_METRICS, DOWNSTREAM_QUESTION, DROPOUT_QUESTION,
                                             downstream_correlation, downstream_verdict)
from workbench.tokenization.downstream import (CALIBRATION_METRICS, DEFAULT_DOWNSTREAM_MODEL, DOWNSTREAM_COLUMNS,
                                               RUN_COLUMNS, TUNING_COLUMNS, DownstreamResult, downstream_sweep,
                                               run_downstream)
from workbench.tokenization.dropout import bpe_dropout_encode, dropout_tokenizer
from workbench.tokenization.findings import (SUMMARY_METRICS, recommend_tokenizer, tokenization_findings,
                                             tokenization_results, tokenization_summary)
from workbench.tokenization.ladder import LADDER_COLUMNS, bpe_ladder, ladder_check, ladder_overlap, truncate_bpe
from workbench.tokenization.metrics import (COLUMNS, LENGTH_COLUMNS, METRICS, RENYI_ALPHA, compare_tokenizers,
                                            metrics_wide, renyi_efficiency, sequence_lengths)
from workbench.tokenization.plots import plot_downstream, plot_fertility, plot_lengths
from workbench.tokenization.train import (ALGORITHMS, SPECIAL_TOKENS, VOCAB_SIZE_RANGE, train_tokenizer,
                                         train_tokenizers)
from workbench.tokenization.words import WORD_SEGMENTERS, split_words, word_spans

__all__ = [
    "ALGORITHMS", "METRICS", "PRETRAINED", "SPECIAL_TOKENS", "EncodedBatch", "HFTokenizer",
    "TiktokenTokenizer", "compare_tokenizers", "load_pretrained_tokenizer", "metrics_wide",
    "plot_fertility", "plot_lengths", "renyi_efficiency", "sequence_lengths", "train_tokenizer", "train_tokenizers",
    "wrap_tokenizer", "DownstreamResult", "downstream_sweep", "run_downstream", "downstream_verdict",
    "downstream_correlation", "recommend_tokenizer", "tokenization_findings", "tokenization_summary",
    "tokenization_results", "plot_downstream", "WORD_SEGMENTERS", "split_words", "word_spans",
    "fertility_by_class", "class_spread", "split_words_table", "kept_char_share", "bpe_ladder", "truncate_bpe",
    "ladder_overlap", "ladder_check", "bpe_dropout_encode", "dropout_tokenizer", "calibrate_intrinsic",
]
