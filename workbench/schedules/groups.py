"""Parameter groups by depth: layer-wise learning-rate decay (LLRD) and gradual unfreezing."""

from __future__ import annotations

import re

import pandas as pd

from workbench._validation import check_float, check_int
from workbench.errors import ParameterError

LLRD_COLUMNS = ["group", "layer", "factor", "lr", "n_params", "weight_decay"]
UNFREEZING_COLUMNS = ["step", "trainable_from_layer"]
_LAYER_PATTERN = re.compile(r"(?:^|\.)layers?\.(\d+)\.")
# Trainer.get_decay_parameter_names' rule: no weight decay for biases and normalisation weights.
_NO_DECAY_PATTERNS = [r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)"]


def parameter_layers(model) -> tuple[dict[str, int], int]:
    """Map each parameter name to its depth (-1 embeddings, 0..L-1 encoder layers, L head) and return L.

    Works on any encoder whose blocks are named ``...layer.<i>.`` or ``...layers.<i>.`` (BERT, RoBERTa,
    RoBERTa-PreLayerNorm, ELECTRA, DistilBERT); anything above the last block counts as head.

    >>> from workbench.models import load_model
    >>> layers, n = parameter_layers(load_model("tiny:num_layers=2,hidden_size=32", num_labels=2)[0])
    >>> n, layers["classifier.weight"], layers["bert.embeddings.word_embeddings.weight"]
    (2, 2, -1)
    """
    names = [name for name, _ in model.named_parameters()]
    blocks = {name: int(m.group(1)) for name in names if (m := _LAYER_PATTERN.search(name))}
    if not blocks:
        raise ParameterError(
            f"The 'model' parameter must be a BERT-like encoder with numbered layers ('encoder.layer.<i>.'). "
            f"Got {type(model).__name__} instead.")
    num_layers = max(blocks.values()) + 1
    return {name: blocks.get(name, -1 if "embeddings" in name else num_layers) for name in names}, num_layers


def llrd_parameter_groups(model, *, peak_lr: float, decay: float,
                          weight_decay: float = 0.0) -> tuple[list[dict], pd.DataFrame]:
    """Parameter groups with layer-wise learning-rate decay (LLRD), ready for ``torch.optim.AdamW``.

    The head (classifier, pooler) gets ``peak_lr``, encoder layer ``L-1`` gets ``peak_lr * decay``, ...,
    layer 0 ``peak_lr * decay**L`` and the embeddings ``peak_lr * decay**(L+1)``: one factor of ``decay``
    per level, no gaps. (ELECTRA's reference ``_get_layer_lrs`` numbers the embeddings 0, layer ``i``
    ``i+1`` but the head ``L+2``, so depth ``L+1`` is never used: its top layer gets ``decay**2`` and
    everything below the head one factor of ``decay`` less than here. The embeddings still get the lowest
    rate there too.) Biases and LayerNorm/RMSNorm weights go to separate ``*_no_decay`` groups without
    weight decay, by the rule Trainer uses.

    Returns
    -------
    groups : list of dict
        ``params``, ``lr``, ``weight_decay`` and ``name`` per group; every parameter is in exactly one.
    factors : pandas.DataFrame
        Columns ``group``, ``layer`` (-1 embeddings .. L head), ``factor``, ``lr``, ``n_params``,
        ``weight_decay``.

    Examples
    --------
    >>> from workbench.models import load_model
    >>> model, _ = load_model("tiny:num_layers=2,hidden_size=32", num_labels=2)
    >>> groups, factors = llrd_parameter_groups(model, peak_lr=1e-3, decay=0.5)
    >>> factors.groupby("layer")["factor"].first().tolist()
    [0.125, 0.25, 0.5, 1.0]
    """
    func = "llrd_parameter_groups"
    check_float("peak_lr", peak_lr, func, low=0.0, low_open=True)
    check_float("decay", decay, func, low=0.0, high=1.0, low_open=True,
                fix="1 gives every layer peak_lr; 0.8-0.95 is usual.")
    check_float("weight_decay", weight_decay, func, low=0.0, high=1.0)
    layers, num_layers = parameter_layers(model)
    no_decay = _no_decay_names(model)
    buckets: dict[tuple[int, bool], list] = {}
    for name, param in model.named_parameters():
        buckets.setdefault((layers[name], name in no_decay), []).append(param)
    groups, rows = [], []
    for (layer, skip_decay), params in sorted(buckets.items()):
        factor = decay ** (num_layers - layer)
        name = layer_name(layer, num_layers) + ("_no_decay" if skip_decay else "")
        wd = 0.0 if skip_decay else weight_decay
        groups.append({"params": params, "lr": peak_lr * factor, "weight_decay": wd, "name": name})
        rows.append({"group": name, "layer": layer, "factor": factor, "lr": peak_lr * factor,
                     "n_params": sum(p.numel() for p in params), "weight_decay": wd})
    return groups, pd.DataFrame(rows, columns=LLRD_COLUMNS)


def layer_name(layer: int, num_layers: int) -> str:
    """``"embeddings"``, ``"layer_<i>"`` or ``"head"`` for a depth from :func:`parameter_layers`.

    >>> [layer_name(i, 2) for i in (-1, 0, 2)]
    ['embeddings', 'layer_0', 'head']
    """
    return "embeddings" if layer < 0 else "head" if layer >= num_layers else f"layer_{layer}"


def _no_decay_names(model) -> set[str]:
    import torch
    from transformers.trainer_pt_utils import get_parameter_names

    decayed = set(get_parameter_names(model, [torch.nn.LayerNorm, torch.nn.RMSNorm], _NO_DECAY_PATTERNS))
    return {name for name, _ in model.named_parameters()} - decayed


def gradual_unfreezing_schedule(num_layers: int, *, num_training_steps: int, unfreeze_every: int) -> pd.DataFrame:
    """Lowest trainable layer at each step (ULMFiT-style gradual unfreezing, top down).

    The head trains from the start; every ``unfreeze_every`` steps one more layer below it joins,
    the embeddings (layer -1) last. Layers ``>= trainable_from_layer`` train.

    >>> gradual_unfreezing_schedule(2, num_training_steps=7, unfreeze_every=2)["trainable_from_layer"].tolist()
    [2, 2, 1, 1, 0, 0, -1]
    """
    func = "gradual_unfreezing_schedule"
    check_int("num_layers", num_layers, func, low=1)
    n = check_int("num_training_steps", num_training_steps, func, low=1)
    check_int("unfreeze_every", unfreeze_every, func, low=1)
    rows = [(step, _trainable_from(step, num_layers, unfreeze_every)) for step in range(n)]
    return pd.DataFrame(rows, columns=UNFREEZING_COLUMNS)


def _trainable_from(step: int, num_layers: int, unfreeze_every: int) -> int:
    return max(-1, num_layers - step // unfreeze_every)


