"""A vocabulary ladder: train the largest BPE once, derive every smaller size by truncating its merges.

BPE learns merges greedily, one at a time, so the first ``k`` merges of a long run are (up to ties
between equally frequent pairs) the merges a run stopped at ``k`` would learn. In HF ``tokenizers`` a
trained BPE vocabulary is the special tokens, the alphabet, then one entry per merge in merge order, so
a rung of size ``V`` keeps the entries with id < ``V`` and the merges that produce them. Users asked
for this in huggingface/tokenizers#1445 (closed without a feature); this is the ~20 lines it takes.

>>> texts = ["low lower lowest newer newest"] * 20
>>> ladder = bpe_ladder(texts, [120, 110])
>>> sorted(ladder), len(ladder[110]) <= 110
([110, 120], True)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from workbench._validation import check_choice, check_int
from workbench.errors import ParameterError
from workbench.tokenization.train import VOCAB_SIZE_RANGE, _to_transformers, train_tokenizer

LADDER_ALGORITHMS: tuple[str, ...] = ("bpe", "byte_bpe")
LADDER_COLUMNS: tuple[str, ...] = ("algorithm", "vocab_size", "rung_vocab_size", "direct_vocab_size", "overlap")


def truncate_bpe(tokenizer: Any, vocab_size: int):
    """The BPE tokenizer of ``vocab_size`` entries made of the first merges of ``tokenizer``'s.

    ``tokenizer`` is a BPE ``PreTrainedTokenizerFast`` from :func:`train_tokenizer` (``bpe`` or
    ``byte_bpe``); its normalizer, pre-tokenizer, decoder and special tokens are kept. A size at or
    above the tokenizer's returns an equal copy; the alphabet is never cut.

    >>> big = train_tokenizer(["low lower lowest"] * 20, algorithm="bpe", vocab_size=120)
    >>> small = truncate_bpe(big, 100)
    >>> len(small) <= 100 and small.tokenize("lowest") != []
    True
    """
    from tokenizers import Tokenizer

    func = "truncate_bpe"
    check_int("vocab_size", vocab_size, func, low=VOCAB_SIZE_RANGE[0], high=VOCAB_SIZE_RANGE[1])
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    state = json.loads(backend.to_str())
    model = state["model"]
    if model.get("type") != "BPE":
        raise ParameterError(f"The 'tokenizer' parameter of {func} must be a BPE tokenizer (algorithm 'bpe' or "
                             f"'byte_bpe'). Got a {model.get('type')} model instead.")
    n_base = len(model["vocab"]) - len(model["merges"])  # specials + alphabet come first
    n_merges = max(vocab_size - n_base, 0)
    model["merges"] = model["merges"][:n_merges]
    model["vocab"] = {token: i for token, i in model["vocab"].items() if i < n_base + n_merges}
    return _to_transformers(Tokenizer.from_str(json.dumps(state)))


def bpe_ladder(texts: Sequence[str], vocab_sizes: Sequence[int], *, algorithm: str = "bpe", **options) -> dict:
    """``{vocab_size: tokenizer}``: one BPE trained at the largest size, the others truncated from it.

    ``options`` go to :func:`train_tokenizer` (``lowercase``, ``nfkc``, ``strip_accents``, ...).
    """
    func = "bpe_ladder"
    check_choice("algorithm", algorithm, func, LADDER_ALGORITHMS)
    sizes = sorted(set(vocab_sizes), reverse=True)
    if not sizes:
        raise ParameterError(f"The 'vocab_sizes' parameter of {func} must list at least one size. Got [] instead.")
    largest = train_tokenizer(texts, algorithm=algorithm, vocab_size=sizes[0], **options)
    return {size: largest if size == sizes[0] else truncate_bpe(largest, size) for size in sizes}


def ladder_overlap(rung: Any, direct: Any) -> float:
    """Share of ``direct``'s vocabulary entries that ``rung`` also has (1: the same vocabulary).

    >>> t = train_tokenizer(["low lower lowest"] * 20, algorithm="bpe", vocab_size=100)
    >>> ladder_overlap(t, t)
    1.0
    """
    a, b = set(rung.get_vocab()), set(direct.get_vocab())
    return len(a & b) / len(b) if b else float("nan")


def ladder_check(texts: Sequence[str], vocab_sizes: Sequence[int], *, algorithm: str = "bpe",
                 ladder: dict | None = None, **options) -> pd.DataFrame:
    """Each rung's overlap with a tokenizer trained directly at that size (columns :data:`LADDER_COLUMNS`)."""
    ladder = ladder if ladder is not None else bpe_ladder(texts, vocab_sizes, algorithm=algorithm, **options)
    rows = []
    for size, rung in sorted(ladder.items()):
        direct = train_tokenizer(texts, algorithm=algorithm, vocab_size=size, **options)
        rows.append((algorithm, size, len(rung), len(direct), ladder_overlap(rung, direct)))
    return pd.DataFrame(rows, columns=list(LADDER_COLUMNS))
