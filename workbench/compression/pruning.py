"""Magnitude pruning and attention-head pruning by gradient importance."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import pandas as pd

from workbench._validation import check_float
from workbench.errors import DataError, ParameterError
from workbench.hardware import model_device

# --------------------------------------------------------------------------------------------
# Pruning


def _encoder_linears(model) -> list:
    import torch

    base = getattr(model, "base_model", model)
    encoder = getattr(base, "encoder", base)
    return [m for m in encoder.modules() if isinstance(m, torch.nn.Linear)]


def prune_magnitude(model, amount: float):
    """A copy of ``model`` with the smallest-magnitude ``amount`` of encoder Linear weights set to zero.

    ``torch.nn.utils.prune.global_unstructured`` with L1 magnitude ranks all encoder Linear weights
    together (layers that matter less lose more), then ``prune.remove`` makes the zeros permanent.
    Storage stays dense: the model is not smaller or faster unless a sparse kernel or a compressor is used.

    >>> pruned = prune_magnitude(model, 0.5)      # doctest: +SKIP
    >>> round(weight_sparsity(pruned), 3)                 # doctest: +SKIP
    0.5
    """
    from torch.nn.utils import prune

    check_float("amount", amount, "prune_magnitude", low=0.0, high=1.0, high_open=True)
    pruned = copy.deepcopy(model)
    targets = [(module, "weight") for module in _encoder_linears(pruned)]
    if not targets:
        raise ParameterError("The 'model' parameter of prune_magnitude must have Linear layers in an encoder. "
                             f"Got {type(model).__name__} with none.")
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=float(amount))
    for module, name in targets:
        prune.remove(module, name)
    return pruned


def _apply_pruning_masks(model, amount: float) -> list:
    """Global magnitude masks kept as reparametrizations (for a recovery fine-tune); returns the targets."""
    from torch.nn.utils import prune

    targets = [(module, "weight") for module in _encoder_linears(model)]
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=float(amount))
    return targets


def weight_sparsity(model) -> float:
    """Fraction of exactly-zero weights over the encoder's Linear layers.

    >>> weight_sparsity(prune_magnitude(model, 0.3))   # doctest: +SKIP
    0.3
    """
    linears = _encoder_linears(model)
    zeros = sum(int((m.weight == 0).sum()) for m in linears)
    total = sum(m.weight.numel() for m in linears)
    return zeros / total if total else 0.0


def _attention_modules(model) -> list:
    """Attention blocks shaped like BERT's: ``.self`` (query/key/value) and ``.output.dense``."""
    return [module for module in model.modules()
            if hasattr(getattr(module, "self", None), "query") and hasattr(getattr(module, "output", None), "dense")]


def head_importance(model, tokenizer, texts: Sequence[str], labels: Sequence[int], *, max_length: int = 128,
                    batch_size: int = 16) -> pd.DataFrame:
    """Importance of every attention head: the summed ``|dLoss/dmask_h|`` of Michel et al. (2019).

    A mask of ones multiplies each head's context vectors (a forward pre-hook on the attention
    output projection); the absolute gradient of the classification loss with respect to it,
    summed over the examples and normalised per layer (L2), estimates how much the loss would move
    if the head were removed.

    Returns
    -------
    pandas.DataFrame
        Columns ``layer``, ``head``, ``importance``; one row per head.

    Examples
    --------
    >>> head_importance(model, tok, ["good", "bad"], [0, 1]).columns.tolist()   # doctest: +SKIP
    ['layer', 'head', 'importance']
    """
    import torch

    func = "head_importance"
    texts, labels = list(texts), list(labels)
    if not texts or len(texts) != len(labels):
        raise DataError(f"The 'texts' and 'labels' parameters of {func} must be non-empty and of equal length. "
                        f"Got {len(texts)} texts and {len(labels)} labels instead.")
    blocks = _attention_modules(model)
    if not blocks:
        raise ParameterError(f"The 'model' parameter of {func} must have BERT-style attention blocks. "
                             f"Got {type(model).__name__} instead.")
    device = model_device(model)  # masks, inputs and labels go where the model is (a GPU too)
    masks = [torch.ones(b.self.num_attention_heads, device=device, requires_grad=True) for b in blocks]
    hooks = []
    for block, mask in zip(blocks, masks):
        size = block.self.attention_head_size

        def scale(module, args, mask=mask, size=size):
            context = args[0]
            shaped = context.view(*context.shape[:-1], -1, size) * mask[:, None]
            return (shaped.view(context.shape), *args[1:])
        hooks.append(block.output.register_forward_pre_hook(scale))
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start:start + batch_size], truncation=True, max_length=max_length,
                              padding=True, return_tensors="pt").to(device)
            target = torch.as_tensor(labels[start:start + batch_size], device=device)
            loss = model(**batch, labels=target).loss
            loss.backward()
    finally:
        for hook in hooks:
            hook.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    rows = []
    for layer, mask in enumerate(masks):
        scores = mask.grad.abs() if mask.grad is not None else torch.zeros_like(mask)
        scores = scores / (scores.norm() + 1e-12)
        rows += [{"layer": layer, "head": h, "importance": float(s)} for h, s in enumerate(scores)]
    return pd.DataFrame(rows, columns=["layer", "head", "importance"])


def prune_heads(model, importance: pd.DataFrame, amount: float):
    """A copy of ``model`` without the ``amount`` least important heads (at least one kept per layer).

    ``transformers.pytorch_utils.prune_linear_layer`` slices query/key/value rows and the output
    projection's columns, so the model really gets smaller and faster.

    Returns
    -------
    tuple
        ``(pruned_model, removed)`` where ``removed`` maps layer index -> list of removed heads.
    """
    import torch
    from transformers.pytorch_utils import prune_linear_layer

    check_float("amount", amount, "prune_heads", low=0.0, high=1.0, high_open=True)
    pruned = copy.deepcopy(model)
    blocks = _attention_modules(pruned)
    n_remove = int(round(amount * len(importance)))
    removed: dict[int, list[int]] = {layer: [] for layer in range(len(blocks))}
    for row in importance.sort_values(["importance", "layer", "head"]).itertuples():
        if n_remove == 0:
            break
        heads = blocks[row.layer].self.num_attention_heads
        if len(removed[row.layer]) < heads - 1:
            removed[row.layer].append(int(row.head))
            n_remove -= 1
    for layer, heads in removed.items():
        if not heads:
            continue
        attention = blocks[layer]
        size = attention.self.attention_head_size
        keep = [h for h in range(attention.self.num_attention_heads) if h not in heads]
        index = torch.cat([torch.arange(h * size, (h + 1) * size) for h in keep])
        for name in ("query", "key", "value"):
            setattr(attention.self, name, prune_linear_layer(getattr(attention.self, name), index))
        attention.output.dense = prune_linear_layer(attention.output.dense, index, dim=1)
        attention.self.num_attention_heads = len(keep)
        attention.self.all_head_size = len(keep) * size
    return pruned, {layer: sorted(heads) for layer, heads in removed.items() if heads}
