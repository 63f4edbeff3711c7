"""Quantization-aware fine-tuning."""

from __future__ import annotations

import copy

from workbench._validation import check_int

#: The symmetric int8 weight grids ONNX Runtime deploys (``onnxruntime.quantization.quant_utils``):
#: ``reduce_range`` gives [-64, 64] with scale ``absmax / 64``; full range [-127, 127] with ``absmax / 127``.
ORT_WEIGHT_GRIDS = {True: 64, False: 127}


def ort_weight_grid(weight, *, reduce_range: bool = True):
    """``(scale, qmax)`` of ONNX Runtime's symmetric per-output-channel int8 grid for a torch Linear weight.

    ``quantize_dynamic(per_channel=True)`` quantizes each output column of the exported MatMul with
    ``compute_scale_zp(symmetric=True)`` on ``get_qmin_qmax_for_qType(QInt8, reduce_range)``: the
    range ``[-qmax, qmax]`` with ``qmax = 64`` (7 bits) or ``127``, scale ``absmax / qmax``, zero point 0.

    >>> import torch
    >>> scale, qmax = ort_weight_grid(torch.tensor([[0.5, -1.28], [0.1, 0.2]]))
    >>> qmax, [round(float(v), 6) for v in scale]
    (64, [0.02, 0.003125])
    """
    qmax = ORT_WEIGHT_GRIDS[bool(reduce_range)]
    return weight.detach().abs().amax(dim=1).clamp(min=1e-12) / qmax, qmax


def _fake_quant_parametrization(reduce_range: bool):
    """A module for ``parametrize``: ORT's symmetric per-output-channel int8 grid (straight-through gradient)."""
    import torch

    class FakeQuantWeight(torch.nn.Module):
        def forward(self, weight):
            scale, qmax = ort_weight_grid(weight, reduce_range=reduce_range)
            zero = torch.zeros(weight.shape[0], dtype=torch.int32, device=weight.device)
            return torch.fake_quantize_per_channel_affine(weight, scale.float(), zero, 0, -qmax, qmax)
    return FakeQuantWeight()


def _linears(model) -> list:
    import torch

    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)]


def quantization_aware_finetune(model, tokenizer, data, *, steps: int = 20, learning_rate: float = 2e-5,
                                max_length: int = 128, batch_size: int = 16, seed: int = 0,
                                reduce_range: bool = True, fake_quant: bool = True):
    """A copy of ``model`` fine-tuned with fake-quantized Linear weights, ORT's grid left in its weights.

    Every Linear layer (encoder, pooler and classifier: all become int8 MatMuls in ONNX Runtime) is
    fake-quantized per output channel on exactly the grid
    ``quantize_onnx_dynamic(per_channel=True, reduce_range=reduce_range)`` deploys
    (:func:`ort_weight_grid`), so deployment re-rounds nothing: ORT's dequantized weights equal the
    QAT weights. Activations are quantized by ONNX Runtime per call (dynamic), so this is weight QAT.
    torch's ``fake_quantize_per_channel_affine`` passes straight-through gradients; HF ``Trainer``
    (through :func:`workbench.training.fine_tune`) runs the steps; ``torch.nn.utils.parametrize``
    keeps the quantized view during training and bakes it in afterwards. ``fake_quant=False`` is
    the control: the same extra fp32 steps without the grid.

    >>> qat = quantization_aware_finetune(model, tok, data, steps=2)   # doctest: +SKIP
    """
    from torch.nn.utils import parametrize

    from workbench.training import TrainConfig, fine_tune

    check_int("steps", steps, "quantization_aware_finetune", low=1)
    qat = copy.deepcopy(model).train()
    linears = _linears(qat) if fake_quant else []
    for module in linears:
        parametrize.register_parametrization(module, "weight", _fake_quant_parametrization(reduce_range))
    config = TrainConfig(learning_rate=learning_rate, max_steps=steps, max_length=max_length, batch_size=batch_size,
                         seed=seed, progress=False, logging_steps=max(1, steps // 4))
    result = fine_tune(qat, tokenizer, data, config)
    for module in linears:
        parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return result.model.eval()
