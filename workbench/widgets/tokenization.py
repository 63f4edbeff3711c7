"""Token viewer: type a text, see how each tokenizer cuts it, side by side.

Tokens are shown as coloured spans over the text's own characters (the offsets HF ``tokenizers`` and
``tiktoken`` report), so what you read is the input, cut where the tokenizer cuts it; hovering a span
shows the token string and its id. Unknown tokens are outlined in red. The vocabulary-size slider
retrains the small tokenizers on the corpus (HF ``tokenizers``, a second or so each on 2 cores);
trained tokenizers are cached per (algorithm, size), and the re-render is debounced.

>>> explorer = tokenizer_explorer(corpus=["the cat sat on the mat"] * 30, algorithms=["char"],
...                               pretrained=[], vocab_size=100)
>>> "t</span>" in explorer.set(text="tat")
True
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

from workbench._validation import check_int, check_type
from workbench.errors import ParameterError
from workbench.tokenization import ALGORITHMS, PRETRAINED, VOCAB_SIZE_RANGE, train_tokenizer, wrap_tokenizer
from workbench.widgets._common import Explorer

# Light fills that keep black text readable; neighbours always differ.
PALETTE = ("#fde2e4", "#e2ece9", "#dfe7fd", "#fff1c1", "#e8dff5", "#d7f2f7")
DEFAULT_TEXT = "Unbelievably tasty! The café's crème brûlée wasn't overpriced :-)"
VOCAB_STEPS = (100, 250, 500, 1000, 2000, 4000, 8000, 16000, 32000)
MAX_TEXT_CHARS = 5000
_MARKERS = ("\u2581", "\u0120")  # SentencePiece's '▁' and byte-level BPE's 'Ġ' standing alone


def token_spans_html(text: str, tokenizer: Any) -> tuple[str, int, int]:
    """HTML of ``text`` cut into coloured token spans, the token count and the unknown-token count.

    Every character of ``text`` is escaped; characters no token covers (spaces dropped by a
    pre-tokenizer) stay as plain text between spans.
    """
    adapter = wrap_tokenizer(tokenizer)
    batch = adapter.encode_batch([text])
    tokens = _token_strings(adapter, batch.id_lists[0])
    parts, cursor, n_unk = [], 0, 0
    for index, (token_id, start, end, token) in enumerate(zip(batch.id_lists[0], batch.starts.tolist(),
                                                            batch.ends.tolist(), tokens)):
        start, end = int(start), int(end)
        if token in _MARKERS and not text[start:end].isspace():
            # Metaspace's '▁' for a word's leading space reports the word's first character as its
            # span; show the marker itself and leave the character to the token that holds it.
            start = end = cursor
        start, end = max(start, cursor), max(end, cursor)
        if start > cursor:
            parts.append(html.escape(text[cursor:start]))
        surface = text[start:end]
        unknown = adapter.unk_id is not None and token_id == adapter.unk_id
        n_unk += unknown
        style = f"background:{PALETTE[index % len(PALETTE)]};border-radius:3px;padding:1px 0;"
        if unknown:
            style += "outline:2px solid #d32f2f;"
        # A byte-level token can hold part of a character: it shows as an empty span with its id.
        if surface:
            shown = html.escape(surface).replace(" ", "&#183;")
        else:  # a marker, an [UNK] whose span a neighbour took, or part of a multi-byte character
            shown = html.escape(token if token in _MARKERS or unknown else "") or "&#9643;"
        parts.append(f'<span class="wb-token" style="{style}" title="{html.escape(f"{token} (id {token_id})")}">'
                     f"{shown}</span>")
        cursor = max(cursor, end)
    if cursor < len(text):
        parts.append(html.escape(text[cursor:]))
    return "".join(parts), len(tokens), n_unk


def _token_strings(adapter, ids: list[int]) -> list[str]:
    backend = adapter.tokenizer
    if hasattr(backend, "id_to_token"):  # HF tokenizers
        return [backend.id_to_token(i) or "" for i in ids]
    return [backend.decode_single_token_bytes(i).decode("utf-8", errors="replace") for i in ids]


def tokenizer_explorer(*, corpus: Sequence[str] | None = None, tokenizers: dict[str, Any] | None = None,
                       algorithms: Sequence[str] = ("bpe", "unigram", "wordpiece", "char"),
                       pretrained: Sequence[str] = ("minilm", "cl100k_base"), vocab_size: int = 1000,
                       text: str = DEFAULT_TEXT, lowercase: bool = False, max_corpus: int = 2000,
                       debounce: float = 0.5, seed: int = 0) -> Explorer:
    """A text box and a vocabulary-size slider over several tokenizers' token spans.

    Parameters
    ----------
    corpus : sequence of str, optional
        Training texts for the ``algorithms`` (e.g. ``data["train"]["text"]``); required when
        ``algorithms`` is not empty.
    tokenizers : dict, optional
        Extra ready tokenizers by name (anything :func:`workbench.tokenization.wrap_tokenizer` takes);
        the slider does not change them.
    algorithms : sequence of str
        Tokenizers trained on ``corpus`` at the slider's vocabulary size.
    pretrained : sequence of str
        Names for :func:`workbench.tokenization.load_pretrained_tokenizer`.
    vocab_size : int
        Initial slider value (snapped to the nearest step).
    text : str
        Initial text.
    lowercase : bool
        Lower-case the trained tokenizers' input.
    max_corpus : int
        Train on at most this many corpus texts (a random sample drawn with ``seed``), so the slider
        stays responsive.
    debounce : float
        Seconds of quiet after the last change before re-rendering.
    seed : int
        Seeds the corpus sample.
    """
    func = "tokenizer_explorer"
    check_type("text", text, func, str)
    check_int("vocab_size", vocab_size, func, low=VOCAB_SIZE_RANGE[0], high=VOCAB_SIZE_RANGE[1])
    check_int("max_corpus", max_corpus, func, low=1)
    algorithms, pretrained = list(algorithms), list(pretrained)
    for algorithm in algorithms:
        if algorithm not in ALGORITHMS:
            raise ParameterError(f"The 'algorithms' parameter of {func} must hold names from "
                                 f"{', '.join(ALGORITHMS)}. Got {algorithm!r} instead.")
    if algorithms and not corpus:
        raise ParameterError(f"The 'corpus' parameter of {func} must hold training texts when 'algorithms' is "
                             f"not empty. Got {'no corpus' if corpus is None else 'an empty corpus'} instead. "
                             "Pass corpus=data['train']['text'] or algorithms=[].")
    fixed: dict[str, Any] = {name: wrap_tokenizer(name) for name in pretrained}
    fixed.update({str(name): wrap_tokenizer(tok) for name, tok in (tokenizers or {}).items()})
    if not algorithms and not fixed:
        raise ParameterError(f"{func} needs at least one tokenizer: pass algorithms, pretrained or tokenizers.")
    corpus = list(corpus or [])
    cache: dict[tuple[str, int], Any] = {}

    def trained(algorithm: str, size: int):
        key = (algorithm, size)
        if key not in cache:
            cache[key] = wrap_tokenizer(train_tokenizer(corpus, algorithm=algorithm, vocab_size=size,
                                                        lowercase=lowercase, max_texts=max_corpus, seed=seed))
        return cache[key]

    names = [*algorithms, *fixed]
    controls: dict[str, widgets.Widget] = {
        "text": widgets.Textarea(value=text, description="Text", placeholder="Type or paste text",
                                 layout=widgets.Layout(width="95%", height="70px")),
        "chosen": widgets.SelectMultiple(options=names, value=tuple(names), description="Tokenizers",
                                         rows=min(len(names), 6)),
    }
    if algorithms:
        snapped = min(VOCAB_STEPS, key=lambda step: abs(step - vocab_size))
        controls["vocab_size"] = widgets.SelectionSlider(
            options=list(VOCAB_STEPS), value=snapped, description="Vocab size", continuous_update=False,
            tooltip="Vocabulary size of the tokenizers trained on the corpus")

    def render(text: str, chosen: Sequence[str], vocab_size: int = vocab_size) -> str:
        if len(text) > MAX_TEXT_CHARS:
            raise ParameterError(f"The text box must hold at most {MAX_TEXT_CHARS} characters. "
                                 f"Got {len(text)} instead. Paste a shorter passage.")
        if not chosen:
            return "<div class='wb-note'>Choose at least one tokenizer.</div>"
        n_words = max(len(text.split()), 1)
        rows = []
        for name in chosen:
            adapter = trained(name, vocab_size) if name in algorithms else fixed[name]
            spans, n_tokens, n_unk = token_spans_html(text, adapter)
            label = f"{name} ({vocab_size})" if name in algorithms else name
            stats = f"{n_tokens} tokens &#183; {n_tokens / n_words:.2f} per word"
            if n_unk:
                stats += f" &#183; <span style='color:#d32f2f'>{n_unk} unknown</span>"
            rows.append(f"<tr><th style='text-align:left;vertical-align:top;padding-right:8px'>"
                        f"{html.escape(label)}</th><td style='white-space:nowrap;color:#555;vertical-align:top;"
                        f"padding-right:8px' class='wb-count'>{stats}</td>"
                        f"<td class='wb-tokens' style='line-height:1.9;font-family:monospace'>{spans}</td></tr>")
        return f"<table class='wb-token-table'>{''.join(rows)}</table>"

    return Explorer(controls, render, title="Token viewer", debounce=debounce,
                    description="Each coloured span is one token; hover for its string and id. "
                                "The slider retrains the tokenizers learnt from your corpus.")
