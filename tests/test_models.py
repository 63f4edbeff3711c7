"""workbench.models: registry, tiny architectures, parameter counts and analytic FLOPs."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from workbench.errors import ParameterError, ResourceUnavailableError
from workbench.models import (TinyTransformerConfig, count_parameters, flops_per_token, load_model,
                              load_tokenizer, parse_tiny_spec)

SMALL = "tiny:num_layers=2,hidden_size=32,num_heads=2"


def _norm_counts(model):
    kinds = [type(m).__name__ for m in model.modules()]
    return kinds.count("LayerNorm"), kinds.count("RMSNorm")


def test_minilm_is_the_bundled_pretrained_model_with_a_new_head():
    model, tokenizer = load_model("minilm", num_labels=2, label_names=["great", "other"])
    counts = count_parameters(model)
    # all-MiniLM-L6-v2: 22.7M parameters, 6 layers of width 384 (DESIGN.md), plus a 2-way head.
    assert counts["total"] == pytest.approx(22.7e6, rel=0.01)
    assert model.config.num_hidden_layers == 6 and model.config.hidden_size == 384
    assert model.config.id2label == {0: "great", 1: "other"}
    assert tokenizer.tokenize("Tasty snacks") == ["ta", "##sty", "snacks"]  # lower-cased WordPiece


@pytest.mark.parametrize("placement,norm,expected_class", [
    ("post", "layernorm", "BertForSequenceClassification"),
    ("pre", "layernorm", "RobertaPreLayerNormForSequenceClassification"),
    ("post", "rmsnorm", "BertForSequenceClassification"),
    ("pre", "rmsnorm", "RobertaPreLayerNormForSequenceClassification"),
])
def test_tiny_architecture_follows_the_config(placement, norm, expected_class):
    config = TinyTransformerConfig(num_layers=3, hidden_size=48, num_heads=4, ffn_ratio=2.0,
                                   activation="silu", norm_type=norm, norm_placement=placement, dropout=0.2)
    model, tokenizer = load_model("tiny", num_labels=3, tiny=config)
    assert type(model).__name__ == expected_class
    assert model.config.num_hidden_layers == 3 and model.config.num_attention_heads == 4
    assert model.config.intermediate_size == 96 and model.config.hidden_act == "silu"
    assert model.config.hidden_dropout_prob == 0.2
    layer_norms, rms_norms = _norm_counts(model)
    # Post-norm: embeddings + 2 per layer; pre-norm adds a final norm after the last layer.
    n_norms = 2 * 3 + 1 + (placement == "pre")
    assert (layer_norms, rms_norms) == ((n_norms, 0) if norm == "layernorm" else (0, n_norms))
    logits = model(**tokenizer(["a test"], return_tensors="pt")).logits
    assert logits.shape == (1, 3)


def test_spec_string_equals_config_object():
    assert parse_tiny_spec("tiny:num_layers=4,hidden_size=64,ffn_ratio=3,activation=relu") == \
        TinyTransformerConfig(num_layers=4, hidden_size=64, ffn_ratio=3.0, activation="relu")


def test_parameter_counts_known_answer():
    model, tokenizer = load_model(SMALL, num_labels=2)
    d, vocab, positions = 32, len(tokenizer), 512
    counts = count_parameters(model)
    assert counts["embedding"] == (vocab + positions + 2) * d  # token, position and 2 segment embeddings
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert counts["non_embedding"] == counts["total"] - counts["embedding"]
    per_layer = 4 * (d * d + d) + 2 * (d * 4 * d) + 4 * d + d + 2 * 2 * d  # attention, FFN, 2 norms
    head = d * d + d + 2 * d + 2  # pooler + classifier
    assert counts["non_embedding"] == 2 * per_layer + head + 2 * d  # + embedding LayerNorm


@pytest.mark.parametrize("spec", [SMALL, "tiny:num_layers=3,hidden_size=96,num_heads=4,norm_placement=pre,"
                                          "norm_type=rmsnorm,ffn_ratio=2.5"])
def test_flops_estimate_matches_torch_flop_counter(spec):
    model, tokenizer = load_model(spec, num_labels=3)
    model.eval()
    model.set_attn_implementation("eager")  # the flop counter sees eager attention's matmuls
    batch = tokenizer(["word " * 300], truncation=True, max_length=100, return_tensors="pt")
    seq_len = batch["input_ids"].shape[1]
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(**batch)
    estimate = flops_per_token(model, seq_len=seq_len)
    assert estimate["forward"] == pytest.approx(counter.get_total_flops() / seq_len, rel=1e-6)
    assert estimate["training"] == pytest.approx(3 * estimate["forward"])


def test_initialisation_is_seeded_and_leaves_global_state_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, _ = load_model(SMALL, num_labels=2, seed=1)
    after = torch.rand(1)
    b, _ = load_model(SMALL, num_labels=2, seed=1)
    c, _ = load_model(SMALL, num_labels=2, seed=2)
    assert torch.equal(before, after)
    weights = [dict(m.named_parameters())["bert.encoder.layer.0.attention.self.query.weight"] for m in (a, b, c)]
    assert torch.equal(weights[0], weights[1]) and not torch.equal(weights[0], weights[2])


def test_saved_rmsnorm_model_loads_back_identically(tmp_path):
    model, tokenizer = load_model("tiny:num_layers=1,hidden_size=32,norm_type=rmsnorm,norm_placement=pre",
                                  num_labels=2)
    model.eval()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, _ = load_model(str(tmp_path), num_labels=2)
    loaded.eval()
    batch = tokenizer(["round trip"], return_tensors="pt")
    assert _norm_counts(loaded) == (0, 4)
    assert torch.allclose(model(**batch).logits, loaded(**batch).logits, atol=1e-6)


def test_tiny_model_with_a_trained_tokenizer(tiny_frame):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    raw.train_from_iterator(tiny_frame["text"], trainers.WordPieceTrainer(
        vocab_size=200, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="[PAD]", unk_token="[UNK]",
                                        cls_token="[CLS]", sep_token="[SEP]")
    model, same = load_model("tiny:num_layers=1,hidden_size=32", num_labels=2, tokenizer=tokenizer)
    assert same is tokenizer
    assert model.get_input_embeddings().num_embeddings == len(tokenizer) < 200
    assert model(**tokenizer(["great tasty"], return_tensors="pt")).logits.shape == (1, 2)


@pytest.mark.parametrize("kwargs,match", [
    (dict(hidden_size=30, num_heads=4), r"'hidden_size' .* divisible by num_heads=4. Got 30"),
    (dict(activation="tanh"), r"'activation' .* one of 'gelu', 'relu', 'silu', 'gelu_new'. Got 'tanh'"),
    (dict(norm_type="batchnorm"), r"'norm_type' .* one of 'layernorm', 'rmsnorm'. Got 'batchnorm'"),
    (dict(norm_placement="middle"), r"'norm_placement' .* Got 'middle'"),
    (dict(dropout=1.0), r"'dropout' .* \[0.0, 1.0\). Got 1.0"),
    (dict(num_layers=0), r"'num_layers' .* an int in \[1, 48\]. Got 0"),
])
def test_bad_tiny_config(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        TinyTransformerConfig(**kwargs)


def test_bad_model_arguments():
    with pytest.raises(ParameterError, match=r"'model' parameter .* keys from num_layers"):
        parse_tiny_spec("tiny:layers=2")
    with pytest.raises(ParameterError, match=r"'num_layers' field .* must be int. Got 'two'"):
        parse_tiny_spec("tiny:num_layers=two")
    with pytest.raises(ParameterError, match=r"'num_labels' .* at least two classes"):
        load_model(SMALL, num_labels=1)
    with pytest.raises(ParameterError, match=r"'label_names' .* num_labels=2 entries. Got 3"):
        load_model(SMALL, num_labels=2, label_names=["a", "b", "c"])
    with pytest.raises(ResourceUnavailableError, match=r"folder './no/such/model' does not exist"):
        load_model("./no/such/model", num_labels=2)


def test_hub_id_offline_gives_a_clear_error():
    # conftest sets HF_HUB_OFFLINE=1: the real hub path runs and must explain itself.
    with pytest.raises(ResourceUnavailableError, match=r"Could not load tokenizer 'someone/no-such-model' "
                                                      r"\(HF_HUB_OFFLINE=1 is set.*Use 'minilm', 'tiny'"):
        load_model("someone/no-such-model", num_labels=2)
    with pytest.raises(ResourceUnavailableError, match="someone/no-such-tokenizer"):
        load_tokenizer("someone/no-such-tokenizer")
