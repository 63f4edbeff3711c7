"""Train a tokenizer on your texts with HF ``tokenizers`` (BPE, byte-level BPE, WordPiece, Unigram,
word- and character-level), wrapped for ``transformers``.

>>> tok = train_tokenizer(["the cat sat on the mat"] * 20, algorithm="bpe", vocab_size=100)
>>> tok.cls_token_id
2
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from workbench._validation import check_choice, check_int, check_type
from workbench.errors import DataError, ParameterError


_SURROGATE = re.compile("[\ud800-\udfff]")
ALGORITHMS: tuple[str, ...] = ("bpe", "byte_bpe", "wordpiece", "unigram", "word", "char")
"""Values of ``algorithm`` accepted by :func:`train_tokenizer`."""


SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
"""Special tokens of every trained tokenizer, with ids 0-4 in this order (BERT's names)."""


VOCAB_SIZE_RANGE = (100, 1_000_000)


def train_tokenizer(texts: Sequence[str], *, algorithm: str, vocab_size: int, lowercase: bool = False,
                    nfkc: bool = False, strip_accents: bool = False, max_texts: int | None = None,
                    seed: int = 0):
    """Train a tokenizer on ``texts`` with HF ``tokenizers`` and wrap it for ``transformers``.

    Every algorithm gets the special tokens :data:`SPECIAL_TOKENS` (ids 0-4) and a BERT-style
    post-processor (``[CLS] A [SEP]``, pairs ``[CLS] A [SEP] B [SEP]``), so the result works with
    ``workbench.models.load_model("tiny", tokenizer=...)``.

    ================ ===================================================================================
    ``bpe``          BPE over SentencePiece-style words (``Metaspace``: a space becomes ``▁``, kept with
                     the next word), unseen characters become ``[UNK]``; decodes exactly.
    ``byte_bpe``     GPT-2 style byte-level BPE (``ByteLevel``): never ``[UNK]``, decodes exactly.
    ``wordpiece``    BERT style (``BertPreTokenizer``, ``##`` continuations). HF's ``WordPieceTrainer``
                     learns BPE merges with a ``##`` prefix and converts the result to a WordPiece
                     vocabulary; tokenization is then WordPiece's greedy longest match.
    ``unigram``      SentencePiece's unigram LM (``Metaspace`` words), pruned by EM down to ``vocab_size``.
    ``word``         one token per word (``Whitespace``: ``\\w+`` or runs of punctuation); rare words
                     become ``[UNK]``.
    ``char``         one token per character (a ``WordLevel`` vocabulary of single characters, cut by a
                     per-character ``Split``; spaces are tokens too, so it decodes exactly).
    ================ ===================================================================================

    Parameters
    ----------
    texts : sequence of str
        Training corpus, e.g. ``dataset["train"]["text"]``.
    algorithm : {"bpe", "byte_bpe", "wordpiece", "unigram", "word", "char"}
    vocab_size : int
        Target vocabulary size, specials included; an int in [100, 1_000_000] for every algorithm. BPE
        and WordPiece always keep the whole alphabet (so may exceed it); ``word`` and ``char`` keep the
        most frequent entries; a small corpus can yield fewer.
    lowercase, nfkc, strip_accents : bool
        Normalization through HF normalizers, applied in the order NFKC, strip accents, lowercase.
    max_texts : int, optional
        Train on a random sample of this many texts (drawn with ``seed``); default all.
    seed : int
        Seeds the sample. Training itself is deterministic: same texts and options, same vocabulary.

    Returns
    -------
    transformers.PreTrainedTokenizerFast

    Notes
    -----
    In ``tokenizers`` 0.23, ``WordPieceTrainer`` is a ``BpeTrainer`` with ``continuing_subword_prefix="##"``
    whose result goes through ``WordPiece.from_bpe`` (``src/models/wordpiece/trainer.rs``). Two trainers
    depend on hash-map order, so repeated runs differ: WordPiece numbers its ``##x`` symbols in that
    order (ties between equally frequent merges then break differently), and Unigram's EM sums floats
    in it (ids of near-tied pieces swap). This module pins both: the ``##x`` symbols are registered up
    front in sorted order, and unigram pieces are numbered alphabetically after the specials.

    Examples
    --------
    >>> tok = train_tokenizer(["low lower lowest"] * 20, algorithm="wordpiece", vocab_size=100)
    >>> tok("lowest")["input_ids"][0] == tok.cls_token_id
    True
    """
    func = "train_tokenizer"
    check_choice("algorithm", algorithm, func, ALGORITHMS)
    check_int("vocab_size", vocab_size, func, low=VOCAB_SIZE_RANGE[0], high=VOCAB_SIZE_RANGE[1],
              fix="Pick a vocabulary size of at least 100 entries.")
    for name, value in (("lowercase", lowercase), ("nfkc", nfkc), ("strip_accents", strip_accents)):
        check_type(name, value, func, bool)
    check_int("seed", seed, func, low=0)
    texts = _sample(_check_texts(texts, func), max_texts, seed, func)
    if not any(text.strip() for text in texts):
        raise DataError(f"The 'texts' parameter of {func} must hold at least one non-blank text. "
                        f"Got {len(texts)} blank or no texts instead.")

    from tokenizers import Tokenizer, processors

    tokenizer = Tokenizer(_model(algorithm))
    tokenizer.normalizer = _normalizer(lowercase=lowercase, nfkc=nfkc, strip_accents=strip_accents)
    tokenizer.pre_tokenizer, tokenizer.decoder = _pre_tokenizer_and_decoder(algorithm)
    tokenizer.train_from_iterator(texts, _trainer(algorithm, vocab_size, tokenizer, texts), length=len(texts))
    tokenizer = _canonical(tokenizer, algorithm)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    return _to_transformers(tokenizer)


def train_tokenizers(texts: Sequence[str], *, vocab_size: int, algorithms: Sequence[str] = ALGORITHMS,
                     **options) -> dict[str, Any]:
    """One tokenizer per algorithm (default: all of :data:`ALGORITHMS`), each by :func:`train_tokenizer`
    with the same ``vocab_size`` and ``options`` (``lowercase``, ``nfkc``, ``strip_accents``, ...).

    >>> sorted(train_tokenizers(["a b c", "b c d"] * 20, vocab_size=100, algorithms=["word", "char"]))
    ['char', 'word']
    """
    texts = _check_texts(texts, "train_tokenizers")
    return {algorithm: train_tokenizer(texts, algorithm=algorithm, vocab_size=vocab_size, **options)
            for algorithm in algorithms}


def _model(algorithm: str):
    from tokenizers import models

    unk = "[UNK]"
    return {"bpe": lambda: models.BPE(unk_token=unk), "byte_bpe": models.BPE,
            "wordpiece": lambda: models.WordPiece(unk_token=unk), "unigram": models.Unigram,
            "word": lambda: models.WordLevel(unk_token=unk),
            "char": lambda: models.WordLevel(unk_token=unk)}[algorithm]()


def _normalizer(*, lowercase: bool, nfkc: bool, strip_accents: bool):
    from tokenizers import normalizers

    steps = [normalizers.NFKC()] if nfkc else []
    if strip_accents:  # decompose, drop the combining marks, recompose what is left
        steps += [normalizers.NFD(), normalizers.StripAccents(), normalizers.NFC()]
    if lowercase:
        steps.append(normalizers.Lowercase())
    return normalizers.Sequence(steps) if steps else None


def _pre_tokenizer_and_decoder(algorithm: str):
    from tokenizers import Regex, decoders, pre_tokenizers

    if algorithm in ("bpe", "unigram"):
        return pre_tokenizers.Metaspace(), decoders.Metaspace()
    if algorithm == "byte_bpe":
        return pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    if algorithm == "wordpiece":
        return pre_tokenizers.BertPreTokenizer(), decoders.WordPiece()
    if algorithm == "word":
        return pre_tokenizers.Whitespace(), None  # no decoder: tokens are joined with spaces
    return pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated"), decoders.Fuse()


def _trainer(algorithm: str, vocab_size: int, tokenizer, texts: list[str]):
    from tokenizers import pre_tokenizers, trainers

    common = dict(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False)
    if algorithm == "bpe":
        return trainers.BpeTrainer(**common)
    if algorithm == "byte_bpe":
        return trainers.BpeTrainer(initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), **common)
    if algorithm == "wordpiece":
        # tokenizers 0.23 numbers the '##x' symbols in hash-map order, so equally frequent merges
        # break ties differently from run to run. Listing them up front, sorted, fixes their ids;
        # _canonical turns them back into ordinary vocabulary entries.
        common["special_tokens"] += [f"##{c}" for c in _continuation_chars(tokenizer, texts)]
        return trainers.WordPieceTrainer(**common)
    if algorithm == "unigram":
        return trainers.UnigramTrainer(unk_token="[UNK]", **common)
    return trainers.WordLevelTrainer(**common)


def _continuation_chars(tokenizer, texts: list[str]) -> list[str]:
    """Characters that occur after the first position of a pre-tokenized word, sorted."""
    seen: set[str] = set()
    for text in texts:
        if tokenizer.normalizer is not None:
            text = tokenizer.normalizer.normalize_str(text)
        seen.update("".join(word[1:] for word, _ in tokenizer.pre_tokenizer.pre_tokenize_str(text)))
    return sorted(seen)


def _canonical(tokenizer, algorithm: str):
    """Rebuild the trained model so equal corpora give equal vocabularies (same tokens, same ids)."""
    from tokenizers import Tokenizer

    state = json.loads(tokenizer.to_str())
    if algorithm == "wordpiece":  # the '##x' helpers were registered as special tokens: undo that
        state["added_tokens"] = [t for t in state["added_tokens"] if t["content"] in SPECIAL_TOKENS]
    elif algorithm == "unigram":
        # EM sums floats in hash-map order, so scores differ in the last bits and near-ties swap
        # ids; the pieces themselves agree. Numbering pieces alphabetically makes ids stable.
        vocab = state["model"]["vocab"]
        head, tail = vocab[:len(SPECIAL_TOKENS)], sorted(vocab[len(SPECIAL_TOKENS):], key=lambda p: p[0])
        state["model"]["vocab"] = head + tail
        state["model"]["unk_id"] = SPECIAL_TOKENS.index("[UNK]")
    return Tokenizer.from_str(json.dumps(state))


def _to_transformers(tokenizer):
    from transformers import PreTrainedTokenizerFast

    pad, unk, cls, sep, mask = SPECIAL_TOKENS
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token=pad, unk_token=unk, cls_token=cls,
                                   sep_token=sep, mask_token=mask)


def _check_texts(texts: Any, func: str) -> list[str]:
    if isinstance(texts, (str, bytes)) or not hasattr(texts, "__iter__"):
        raise ParameterError(f"The 'texts' parameter of {func} must be a sequence of str. "
                             f"Got {type(texts).__name__} instead. Wrap a single text in a list.")
    texts = list(texts)
    bad = next((t for t in texts if not isinstance(t, str)), None)
    if bad is not None:
        raise ParameterError(f"The 'texts' parameter of {func} must hold only str. "
                             f"Got an item {bad!r} of type {type(bad).__name__} instead.")
    where = next((i for i, t in enumerate(texts) if not t.isascii() and _SURROGATE.search(t)), None)
    if where is not None:
        raise ParameterError(f"The 'texts' parameter of {func} must hold valid Unicode (no lone surrogates, "
                             f"which tokenizers cannot encode). Got one in text {where}: "
                             f"{texts[where][:40]!r}. Fix: read the file with errors='replace', not "
                             f"'surrogateescape'.")
    return texts


def _sample(texts: list[str], max_texts: int | None, seed: int, func: str) -> list[str]:
    if max_texts is None:
        return texts
    check_int("max_texts", max_texts, func, low=1)
    if max_texts >= len(texts):
        return texts
    keep = np.sort(np.random.default_rng(seed).choice(len(texts), size=max_texts, replace=False))
    return [texts[i] for i in keep]
