"""Subword regularisation as a knob: seeded BPE-dropout (Provilkov et al. 2020) for downstream training.

HF ``tokenizers`` implements BPE-dropout (``models.BPE(dropout=p)``) but draws from an unseeded thread
RNG, so two runs never see the same segmentations. Here the merges of a trained BPE are replayed in
Python with a seeded ``numpy`` generator: at every merge step each candidate pair is skipped with
probability ``p``, and the lowest-ranked pair left is merged (with ``p = 0`` this is plain BPE, and
equals the tokenizer's own encoding, which the tests check).

>>> from workbench.tokenization.train import train_tokenizer
>>> tok = train_tokenizer(["low lower lowest"] * 20, algorithm="bpe", vocab_size=110)
>>> bpe_dropout_encode(tok, ["lowest"], dropout=0.0, seed=0) == [tok("lowest", add_special_tokens=False)["input_ids"]]
True
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from workbench._validation import check_float, check_int
from workbench.errors import ParameterError


def _bpe_state(tokenizer: Any, func: str) -> tuple[dict[str, int], dict[tuple[str, str], int], int | None]:
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    model = json.loads(backend.to_str())["model"]
    if model.get("type") != "BPE" or model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
        raise ParameterError(f"The 'tokenizer' parameter of {func} must be a plain BPE tokenizer (algorithm 'bpe' "
                             f"or 'byte_bpe'). Got a {model.get('type')} model instead.")
    ranks = {tuple(m if isinstance(m, list) else m.split(" ")): r for r, m in enumerate(model["merges"])}
    unk = model.get("unk_token")
    return model["vocab"], ranks, (model["vocab"].get(unk) if unk else None)


def _merge(symbols: list[str], ranks: dict, dropout: float, rng: np.random.Generator) -> list[str]:
    while len(symbols) > 1:
        keep = rng.random(len(symbols) - 1) >= dropout if dropout else None
        best = None
        for i in range(len(symbols) - 1):
            rank = ranks.get((symbols[i], symbols[i + 1]))
            if rank is not None and (keep is None or keep[i]) and (best is None or rank < best[0]):
                best = (rank, i)
        if best is None:
            break
        i = best[1]
        symbols[i:i + 2] = [symbols[i] + symbols[i + 1]]
    return symbols


def bpe_dropout_encode(tokenizer: Any, texts: Sequence[str], *, dropout: float, seed: int = 0) -> list[list[int]]:
    """Token ids of ``texts`` (no special tokens) under BPE-dropout with probability ``dropout``.

    Uses the tokenizer's own normalizer and pre-tokenizer; characters outside the vocabulary become the
    unknown token, as in HF's BPE. Same ``seed``, same segmentations.
    """
    func = "bpe_dropout_encode"
    check_float("dropout", dropout, func, low=0, high=1, high_open=True, fix="Use about 0.1, or 0 for plain BPE.")
    check_int("seed", seed, func, low=0)
    vocab, ranks, unk = _bpe_state(tokenizer, func)
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    rng = np.random.default_rng(seed)
    out = []
    for text in texts:
        if backend.normalizer is not None:
            text = backend.normalizer.normalize_str(text)
        ids: list[int] = []
        for word, _ in backend.pre_tokenizer.pre_tokenize_str(text):
            for piece in _merge(list(word), ranks, dropout, rng):
                if piece in vocab:
                    ids.append(vocab[piece])
                elif unk is not None and (not ids or ids[-1] != unk or not _fuses_unk(tokenizer)):
                    ids.append(unk)
        out.append(ids)
    return out


def _fuses_unk(tokenizer: Any) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    return bool(json.loads(backend.to_str())["model"].get("fuse_unk"))


def dropout_tokenizer(tokenizer: Any, texts: Sequence[str], *, dropout: float, seed: int = 0):
    """A copy of ``tokenizer`` that encodes exactly the batches of ``texts`` with sampled segmentations.

    For :func:`workbench.training.fine_tune`, which tokenizes its training split by calling the
    tokenizer: a batch made only of ``texts`` gets one BPE-dropout sample per text (seeded), with
    ``[CLS]``/``[SEP]`` and truncation as usual; any other batch (validation, test) is encoded plainly.
    Clear ``.sampled`` after training so nothing is ever sampled again.
    """
    from tokenizers import Tokenizer

    from workbench.tokenization.train import SPECIAL_TOKENS

    sampled = dict(zip(texts, bpe_dropout_encode(tokenizer, list(texts), dropout=dropout, seed=seed)))
    pad, unk, cls, sep, mask = SPECIAL_TOKENS
    copy = _sampled_class()(tokenizer_object=Tokenizer.from_str(tokenizer.backend_tokenizer.to_str()),
                            pad_token=pad, unk_token=unk, cls_token=cls, sep_token=sep, mask_token=mask)
    copy.sampled = sampled
    return copy


def _sampled_class():
    from transformers import PreTrainedTokenizerFast

    class SampledTokenizer(PreTrainedTokenizerFast):
        sampled: dict[str, list[int]] = {}

        def __call__(self, text=None, *args, **kwargs):
            out = super().__call__(text, *args, **kwargs)
            if isinstance(text, list) and self.sampled and all(t in self.sampled for t in text):
                budget = kwargs.get("max_length") if kwargs.get("truncation") else None
                cut = None if budget is None else budget - 2
                ids = [[self.cls_token_id, *self.sampled[t][:cut], self.sep_token_id] for t in text]
                out["input_ids"] = ids
                out["attention_mask"] = [[1] * len(x) for x in ids]
                if "token_type_ids" in out:
                    out["token_type_ids"] = [[0] * len(x) for x in ids]
            return out

    return SampledTokenizer
