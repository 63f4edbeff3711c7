"""Quantization-aware fine-tuning."""

from __future__ import annotations

import copy

from workbench._validation import check_int
from workbench.compression.pruning import _encoder_linears


def _fake_quant_parametrization(bits: int):
    """A module for ``parametrize``: symmetric per-output-channel fake quantization (STE gradient)."""
    import torch

    class FakeQuantWeight(torch.nn.Module):
        def forward(self, weight):
            qmax = 2 ** (bits - 1) - 1
            scale = weight.detach().abs().amax(dim=1).clamp(min=1e-8) / qmax
            zero = torch.zeros(weight.shape[0], dtype=torch.int32, device=weight.device)
            return torch.fake_quantize_per_channel_affine(weight, scale, zero, 0, -qmax - 1, qmax)
    return FakeQuantWeight()


def quantization_aware_finetune(model, tokenizer, data, *, steps: int = 20, learning_rate: float = 2e-5,
                                max_length: int = 128, batch_size: int = 16, seed: int = 0):
    """A copy of ``model`` fine-tuned with fake-quantized Linear weights, the grid left in its weights.

    Weights are fake-quantized per output channel on the 7-bit symmetric grid that
    ``quantize_onnx_dynamic(per_channel=True, reduce_range=True)`` uses at deployment; activations
    are left to dynamic quantization at run time, so this is weight-only QAT. torch's
    ``fake_quantize_per_channel_affine`` passes straight-through gradients; HF ``Trainer`` (through
    :func:`workbench.training.fine_tune`) runs the steps; ``torch.nn.utils.parametrize`` keeps the
    quantized view during training and bakes it in afterwards.
    """
    from torch.nn.utils import parametrize

    from workbench.training import TrainConfig, fine_tune

    check_int("steps", steps, "quantization_aware_finetune", low=1)
    qat = copy.deepcopy(model).train()
    linears = _encoder_linears(qat)
    for module in linears:
        parametrize.register_parametrization(module, "weight", _fake_quant_parametrization(7))
    config = TrainConfig(learning_rate=learning_rate, max_steps=steps, max_length=max_length, batch_size=batch_size,
                         seed=seed, progress=False, logging_steps=max(1, steps // 4))
    result = fine_tune(qat, tokenizer, data, config)
    for module in linears:
        parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return result.model.eval()
