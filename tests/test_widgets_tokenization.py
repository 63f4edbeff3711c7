"""The token viewer, driven headlessly: set the controls, read the rendered HTML."""

from __future__ import annotations

import re

import pytest

from workbench.errors import ParameterError
from workbench.tokenization import train_tokenizer
from workbench.widgets import tokenizer_explorer
from workbench.widgets.tokenization import token_spans_html

PROBE = "<img src=x onerror=alert(1)> tasty <script>alert(2)</script>"


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    from workbench.data import load_dataset

    return list(load_dataset(max_examples=300)["train"]["text"])


@pytest.fixture(scope="module")
def explorer(corpus):
    return tokenizer_explorer(corpus=corpus, algorithms=["bpe", "char"], pretrained=["minilm", "cl100k_base"],
                              vocab_size=250, max_corpus=300)


def _counts(html: str) -> dict[str, int]:
    """Tokenizer label -> token count, read back from the rendered table."""
    return {name: int(count) for name, count in
            re.findall(r"<th[^>]*>([^<]+)</th><td[^>]*class='wb-count'>(\d+) tokens", html)}


def test_spans_show_escaped_text_and_counts_match_the_tokenizer(explorer):
    html = explorer.set(text=PROBE)
    assert "<img" not in html and "<script" not in html and "&lt;" in html
    counts = _counts(html)
    assert set(counts) == {"bpe (250)", "char (250)", "minilm", "cl100k_base"}
    from workbench.tokenization import load_pretrained_tokenizer

    assert counts["cl100k_base"] == len(load_pretrained_tokenizer("cl100k_base").tokenize(PROBE))
    assert counts["minilm"] == len(load_pretrained_tokenizer("minilm").tokenize(PROBE))
    assert counts["char (250)"] == len(PROBE)  # every character is one token, the unseen ones as [UNK]
    # The visible text of cl100k's spans (markers aside) spells the input back.
    spans = re.findall(r'<span class="wb-token"[^>]*>(.*?)</span>', token_spans_html(PROBE, "cl100k_base")[0])
    import html as html_lib

    assert html_lib.unescape("".join(s for s in spans if s != "&#9643;")).replace("\u00b7", " ") == PROBE


def test_vocabulary_slider_retrains_and_changes_the_tokens(explorer, corpus):
    text = "The crunchy peanut butter cookies arrived fresh and delicious."
    small = _counts(explorer.set(text=text, vocab_size=250))["bpe (250)"]
    large = _counts(explorer.set(vocab_size=4000))["bpe (4000)"]
    assert large < small  # a larger vocabulary keeps more whole words
    expected = len(train_tokenizer(corpus, algorithm="bpe", vocab_size=4000, max_texts=300).tokenize(text))
    assert large == expected


def test_choosing_tokenizers_and_errors_render_in_the_pane(explorer):
    html = explorer.set(chosen=("minilm",))
    assert list(_counts(html)) == ["minilm"]
    assert "Choose at least one tokenizer" in explorer.set(chosen=())
    html = explorer.set(chosen=("minilm",), text="x" * 6000)
    assert "wb-error" in html and "at most 5000 characters" in html and explorer.last_error is not None
    with pytest.raises(ParameterError, match="must be controls of this widget"):
        explorer.set(colour="red")


def test_typing_is_debounced_into_one_render(corpus):
    viewer = tokenizer_explorer(corpus=corpus[:50], algorithms=[], pretrained=["cl100k_base"], debounce=0.2)
    before = viewer.render_count
    for text in ("h", "he", "hel", "hello"):
        viewer.controls["text"].value = text  # what typing in the browser does
    viewer.wait()
    assert viewer.render_count == before + 1
    assert _counts(viewer.html) == {"cl100k_base": 1}


def test_headless_display_is_static_html(explorer, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HEADLESS", "1")
    explorer.set(text=PROBE, chosen=("minilm",))
    bundle = explorer._repr_mimebundle_()
    static = bundle["text/html"]
    assert "Token viewer" in static and "&lt;" in static and "script" in static
    assert "<script" not in static and "<img" not in static
    monkeypatch.setenv("WORKBENCH_HEADLESS", "0")
    assert "application/vnd.jupyter.widget-view+json" in explorer._repr_mimebundle_()


@pytest.mark.parametrize("kwargs, match", [
    ({"algorithms": ["bpe"], "corpus": None}, "'corpus' parameter of tokenizer_explorer must hold training texts"),
    ({"algorithms": ["sentencepiece"], "corpus": ["a"]}, "'algorithms' parameter of tokenizer_explorer must hold"),
    ({"algorithms": [], "pretrained": []}, "needs at least one tokenizer"),
    ({"vocab_size": 10, "corpus": ["a b"]}, r"'vocab_size' parameter of tokenizer_explorer must be an int in"),
])
def test_bad_widget_input(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        tokenizer_explorer(**kwargs)
