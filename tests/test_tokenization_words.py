"""workbench.tokenization.words and .breakdowns: known answers of each word segmenter (CJK and accents
included), per-class fertility, the split-words table and the share of characters kept at a length."""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd
import pytest

from workbench.errors import ParameterError
from workbench.tokenization import (class_spread, compare_tokenizers, fertility_by_class, kept_char_share,
                                    split_words, split_words_table)

TEXTS = ["Don't stop, naïve café!", "我喜欢猫。", unicodedata.normalize("NFD", "résumé ok")]


def test_whitespace_segmenter_known_answers():
    assert split_words(TEXTS, segmenter="whitespace") == [
        ["Don't", "stop,", "naïve", "café!"], ["我喜欢猫。"], [unicodedata.normalize("NFD", "résumé"), "ok"]]


def test_unicode_segmenter_known_answers():
    # Punctuation belongs to no word, each CJK ideograph is a word, a decomposed accent stays in its word.
    assert split_words(TEXTS, segmenter="unicode") == [
        ["Don", "t", "stop", "naïve", "café"], ["我", "喜", "欢", "猫"],
        [unicodedata.normalize("NFD", "résumé"), "ok"]]


def test_spacy_segmenter_known_answers():
    # spaCy's blank English tokenizer: clitics and punctuation split off, a CJK run without spaces stays one
    # word, a decomposed accent stays in its word.
    pytest.importorskip("spacy", reason="spaCy is in the `test` extra")
    assert split_words(TEXTS, segmenter="spacy") == [
        ["Do", "n't", "stop", ",", "naïve", "café", "!"], ["我喜欢猫", "。"],
        [unicodedata.normalize("NFD", "résumé"), "ok"]]
    assert split_words(["Ça va?  Très bien."], segmenter="spacy") == [["Ça", "va", "?", "Très", "bien", "."]]


def test_spacy_segmenter_says_how_to_install_it(monkeypatch):
    # spaCy is a test dependency, not a runtime one: without it, one line says what to do.
    import sys

    from workbench.errors import ResourceUnavailableError
    from workbench.tokenization import words

    monkeypatch.setitem(sys.modules, "spacy", None)  # import spacy raises ImportError, installed or not
    words._spacy_tokenizer.cache_clear()  # a tokenizer loaded by an earlier test would hide the import
    try:
        with pytest.raises(ResourceUnavailableError, match="pip install spacy"):
            split_words(["a b"], segmenter="spacy")
    finally:
        words._spacy_tokenizer.cache_clear()


def test_fertility_follows_the_segmenter():
    # cl100k cuts '我喜欢猫。' into some tokens; whitespace sees one word, unicode four.
    texts = ["我喜欢猫。"]
    by = {seg: compare_tokenizers({"c": "cl100k_base"}, texts, segmenter=seg).set_index("metric")["value"]
          for seg in ("whitespace", "unicode")}
    tokens = by["whitespace"]["length_mean"]
    assert by["whitespace"]["fertility"] == pytest.approx(tokens / 1)
    assert by["unicode"]["fertility"] == pytest.approx(tokens / 4)
    with pytest.raises(ParameterError, match="'segmenter' parameter of compare_tokenizers must be one of"):
        compare_tokenizers({"c": "cl100k_base"}, texts, segmenter="nltk")


def test_fertility_by_class_known_answers():
    frame = fertility_by_class({"minilm": "minilm"}, ["unaffable", "the dog", "a cat"], ["rare", "pets", "pets"])
    pets = frame.set_index("label").loc["pets"]
    assert (pets["n_texts"], pets["n_words"], pets["n_tokens"], pets["fertility"]) == (2, 4, 4, 1.0)
    assert frame.set_index("label").loc["rare", "fertility"] == 3.0  # un ##aff ##able
    assert class_spread(frame) == {"minilm": {"min": 1.0, "max": 3.0, "ratio": 3.0}}
    with pytest.raises(ParameterError, match="'labels' parameter of fertility_by_class must have one label"):
        fertility_by_class({"minilm": "minilm"}, ["a"], ["x", "y"])


def test_fertility_by_class_reads_a_loaded_split_and_its_label_names():
    import datasets

    split = datasets.Dataset.from_dict(
        {"text": ["unaffable", "the dog", "a cat"], "label": [1, 0, 0]},
        features=datasets.Features({"text": datasets.Value("string"),
                                    "label": datasets.ClassLabel(names=["pets", "rare"])}))
    frame = fertility_by_class({"minilm": "minilm"}, split)
    assert frame.set_index("label")["fertility"].to_dict() == {"rare": 3.0, "pets": 1.0}
    with pytest.raises(ParameterError, match="'labels' parameter of fertility_by_class is needed unless"):
        fertility_by_class({"minilm": "minilm"}, ["a", "b"])


def test_split_words_table_ranks_by_pieces_then_frequency():
    texts = ["unaffable unaffable dog", "unaffable tokenization dog"]
    table = split_words_table({"minilm": "minilm"}, texts, top=2)
    assert table[["rank", "word", "count"]].values.tolist() == [[1, "unaffable", 3], [2, "tokenization", 1]]
    assert table["pieces"].iloc[0] == 3
    # Only the most frequent words compete.
    assert split_words_table({"minilm": "minilm"}, texts, top=5, frequent=1)["word"].tolist() == ["unaffable"]


def test_kept_char_share_known_answers():
    # cl100k: 'hello world' -> hello | ' world'; a budget of 1 text token keeps 'hello' (5 of 11 chars).
    assert kept_char_share("cl100k_base", ["hello world"], max_length=3) == pytest.approx(5 / 11)
    assert kept_char_share("cl100k_base", ["hello world"], max_length=4) == 1.0
    # A high-fertility tokenizer keeps less of the same texts at the same length.
    from workbench.tokenization import train_tokenizer

    texts = ["the quick brown fox jumps over the lazy dog"] * 20
    char = train_tokenizer(texts, algorithm="char", vocab_size=100)
    assert kept_char_share(char, texts, max_length=12) == pytest.approx(10 / len(texts[0]))
    assert kept_char_share(char, texts, max_length=12) < kept_char_share("cl100k_base", texts, max_length=12)
    with pytest.raises(ParameterError, match="'max_length' parameter of kept_char_share must be an int"):
        kept_char_share("cl100k_base", texts, max_length=2)


# --------------------------------------------------------------------------- vocabulary ladder

@pytest.fixture(scope="module")
def reviews() -> list[str]:
    from workbench.data import load_dataset

    return list(load_dataset(max_examples=400)["train"]["text"])


@pytest.mark.parametrize("algorithm", ["bpe", "byte_bpe"])
def test_every_ladder_rung_is_lossless_and_matches_direct_training(reviews, algorithm):
    from workbench.tokenization import bpe_ladder, ladder_check, wrap_tokenizer

    sizes = [300, 600, 1200]
    ladder = bpe_ladder(reviews, sizes, algorithm=algorithm)
    for size, rung in ladder.items():
        assert len(rung) == size
        values = compare_tokenizers({"rung": rung}, reviews, round_trip_texts=None).set_index("metric")["value"]
        assert values["round_trip_exact"] == 1.0 and values["unk_rate"] == 0.0
        assert wrap_tokenizer(rung).decode_batch(wrap_tokenizer(rung).encode_batch(reviews[:5]).id_lists) == reviews[:5]
    # Fewer merges, more tokens: each rung cuts the same texts into at least as many tokens as the next.
    lengths = [compare_tokenizers({"r": ladder[s]}, reviews).set_index("metric").loc["length_mean", "value"]
               for s in sizes]
    assert lengths[0] >= lengths[1] >= lengths[2]
    check = ladder_check(reviews, sizes, algorithm=algorithm, ladder=ladder)
    assert check["vocab_size"].tolist() == sizes
    assert (check["overlap"] >= 0.99).all()  # greedy BPE: the first k merges are what k merges learn


def test_truncate_bpe_refuses_other_models(reviews):
    from workbench.tokenization import train_tokenizer, truncate_bpe

    with pytest.raises(ParameterError, match="'tokenizer' parameter of truncate_bpe must be a BPE tokenizer"):
        truncate_bpe(train_tokenizer(reviews, algorithm="unigram", vocab_size=300), 200)


def test_bpe_dropout_zero_equals_the_tokenizer_and_is_seeded(reviews):
    from workbench.tokenization import bpe_dropout_encode, train_tokenizer

    for algorithm in ("bpe", "byte_bpe"):
        tok = train_tokenizer(reviews, algorithm=algorithm, vocab_size=800)
        plain = [tok(t, add_special_tokens=False)["input_ids"] for t in reviews]
        assert bpe_dropout_encode(tok, reviews, dropout=0.0) == plain
        sampled = bpe_dropout_encode(tok, reviews, dropout=0.3, seed=1)
        assert sampled == bpe_dropout_encode(tok, reviews, dropout=0.3, seed=1)
        assert sampled != bpe_dropout_encode(tok, reviews, dropout=0.3, seed=2)
        assert sum(map(len, sampled)) > sum(map(len, plain))  # skipped merges leave more pieces
        assert tok.decode(sampled[0]).replace(" ", "") == tok.decode(plain[0]).replace(" ", "")


def test_unicode_segmenter_equals_its_regex_on_real_and_tricky_text(reviews):
    import regex

    from workbench.tokenization.words import _UNICODE_WORD, word_spans

    texts = reviews + TEXTS + ["𠀀𠀁ab_c ﾊﾝｶｸ x\u0301y 😀z", "", "。", "a\u200db"]
    joined = "\n".join(texts)
    spans = word_spans(texts, "unicode")
    assert list(zip(spans.starts.tolist(), spans.ends.tolist())) == [m.span() for m in
                                                                      regex.finditer(_UNICODE_WORD, joined)]


def test_word_spans_are_shared_per_corpus_and_carry_utf8_byte_spans():
    from workbench.tokenization.words import word_spans

    texts = ["naïve 日本", "ok"]
    first = word_spans(texts, "unicode")
    assert word_spans(list(texts), "unicode") is first  # the same texts again: computed once
    assert (first.byte_starts.tolist(), first.byte_ends.tolist(), first.byte_base.tolist()) == (
        [0, 7, 10, 14], [6, 10, 13, 16], [0, 14])  # 'ï' is 2 bytes, each ideograph 3, '\n' 1
    assert (first.n_chars, first.n_bytes) == (10, 15)
    texts[1] = "changed text"  # a changed list is another corpus
    assert word_spans(texts, "unicode").ends.tolist()[-1] == len("naïve 日本\nchanged text")
