"""Sentence embeddings follow the model folder's pooling: sentence-transformers when it is installed, else
transformers with the pooling read from the folder's config (mean pooling when there is none)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from workbench.augmentation import embeddings
from workbench.augmentation.embeddings import NO_CONFIG, embedding_method, read_pooling, sentence_embeddings
from workbench.errors import ParameterError, ResourceUnavailableError

TEXTS = ["good tea", "a much longer review about a chair that broke on the second day", "stale"]


@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory):
    """A tiny random BERT saved three ways: plain (no pooling config), with a ``1_Pooling/config.json``
    in the old key style (CLS), and as a sentence-transformers folder (``modules.json``, max pooling)."""
    import torch
    from transformers import BertConfig, BertModel

    from workbench.models import load_tokenizer

    root = tmp_path_factory.mktemp("encoders")
    tokenizer = load_tokenizer("minilm")
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    torch.manual_seed(0)
    model = BertModel(config).eval()
    folders = {name: root / name for name in ("plain", "cls_config", "st_max")}
    for folder in folders.values():
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    (folders["cls_config"] / "1_Pooling").mkdir()
    (folders["cls_config"] / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 16, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}))
    (folders["st_max"] / "pool").mkdir()
    (folders["st_max"] / "pool" / "config.json").write_text(json.dumps({"embedding_dimension": 16,
                                                                       "pooling_mode": "max"}))
    (folders["st_max"] / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "pool", "type": "sentence_transformers.models.Pooling"}]))
    (folders["st_max"] / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64}))
    return {name: str(folder) for name, folder in folders.items()}, model, tokenizer


def _states(model, tokenizer, texts):
    import torch

    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        return model(**batch).last_hidden_state.numpy(), batch["attention_mask"].numpy()


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_read_pooling_finds_each_folders_mode_and_where_it_came_from(tiny_folders):
    folders, _, _ = tiny_folders
    assert read_pooling(folders["plain"]) == embeddings.Pooling(("mean",), NO_CONFIG)
    assert read_pooling(folders["cls_config"]) == embeddings.Pooling(("cls",), "1_Pooling/config.json")
    assert read_pooling(folders["st_max"]) == embeddings.Pooling(("max",), "pool/config.json")


def test_the_bundled_minilm_declares_mean_pooling():
    assert read_pooling("minilm").modes == ("mean",)


def test_without_a_pooling_config_the_embedding_is_the_masked_mean(tiny_folders):
    folders, model, tokenizer = tiny_folders
    states, mask = _states(model, tokenizer, TEXTS)
    expected = _unit((states * mask[..., None]).sum(1) / mask.sum(1, keepdims=True))
    got = sentence_embeddings(TEXTS, model=folders["plain"], max_length=64)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert embedding_method(folders["plain"]) == f"transformers, mean pooling ({NO_CONFIG})"


def test_a_cls_pooling_config_gives_the_first_token_state(tiny_folders):
    folders, model, tokenizer = tiny_folders
    states, _ = _states(model, tokenizer, TEXTS)
    got = sentence_embeddings(TEXTS, model=folders["cls_config"], max_length=64, batch_size=2)
    np.testing.assert_allclose(got, _unit(states[:, 0]), atol=1e-5)
    assert embedding_method(folders["cls_config"]) == "transformers, cls pooling (from 1_Pooling/config.json)"


def test_sentence_transformers_and_the_config_reader_agree_on_a_sentence_transformers_folder(tiny_folders):
    import sentence_transformers

    folders, model, tokenizer = tiny_folders
    states, mask = _states(model, tokenizer, TEXTS)
    masked = np.where(mask[..., None] == 1, states, -np.inf)
    library = sentence_embeddings(TEXTS, model=folders["st_max"], max_length=64)
    reader = sentence_embeddings(TEXTS, model=folders["st_max"], max_length=64, backend="transformers")
    np.testing.assert_allclose(library, _unit(masked.max(1)), atol=1e-5)
    np.testing.assert_allclose(reader, library, atol=1e-5)
    assert embedding_method(folders["st_max"]) == (f"sentence-transformers {sentence_transformers.__version__}, "
                                                   "max pooling (from pool/config.json)")


def test_without_sentence_transformers_auto_falls_back_to_the_config(tiny_folders, monkeypatch):
    folders, _, _ = tiny_folders
    monkeypatch.setattr(embeddings, "_has_sentence_transformers", lambda: False)
    assert embedding_method(folders["st_max"]) == "transformers, max pooling (from pool/config.json)"
    assert sentence_embeddings(["good tea"], model=folders["st_max"], max_length=64).shape == (1, 16)


def test_asking_for_sentence_transformers_when_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import now raises ImportError
    with pytest.raises(ResourceUnavailableError, match=r"needs the optional package 'sentence-transformers'.*"
                                                       r"pip install 'nlp-workbench\[augment-resources\]'"):
        sentence_embeddings(["tea"], backend="sentence-transformers")


def test_an_unknown_backend_is_rejected_with_the_choices():
    with pytest.raises(ParameterError, match=r"'backend' parameter of sentence_embeddings must be one of .*"
                                             r"'sentence-transformers'.*Got 'onnx'"):
        sentence_embeddings(["tea"], backend="onnx")


def test_a_pooling_the_reader_cannot_do_says_to_install_sentence_transformers(tmp_path):
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_weightedmean_tokens": True}))
    with pytest.raises(ParameterError, match=r"pooling of model .* must be one of \['cls', 'max', 'mean', "
                                             r"'mean_sqrt_len'\].*Got \['weightedmean'\] in 1_Pooling/config.json.*"
                                             r"Fix: pip install"):
        read_pooling(tmp_path)


def test_no_texts_give_an_empty_matrix_of_the_right_width(tiny_folders):
    folders, _, _ = tiny_folders
    assert sentence_embeddings([], model=folders["st_max"]).shape == (0, 16)
    assert sentence_embeddings([], model=folders["plain"], backend="transformers").shape == (0, 16)
