"""ONNX export, transformer fusion and ONNX Runtime quantization (dynamic and static)."""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from workbench._validation import check_choice, check_int
from workbench.compression.config import ExportError
from workbench.errors import ParameterError, first_line
from workbench.hardware import model_device

# --------------------------------------------------------------------------------------------
# ONNX export and ONNX Runtime quantization


@contextlib.contextmanager
def _quiet():
    """Silence exporter/quantizer chatter (deprecation and tracer warnings, root-logger hints)."""
    from workbench.models import quiet_transformers

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        # The static calibrators print their progress to stdout; transformers shows a bar per save.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), quiet_transformers():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


@contextlib.contextmanager
def _native_output_silenced():
    """Send file descriptors 1 and 2 to /dev/null for a block.

    The TorchScript exporter's C++ logger dumps the whole traced graph (hundreds of lines) when an
    operator cannot be exported; its Python switch never turns that logger off, so only the
    descriptors can be quietened.
    """
    saved = []
    try:
        with open(os.devnull, "w") as sink:
            for fd in (1, 2):
                saved.append((fd, os.dup(fd)))
                os.dup2(sink.fileno(), fd)
            yield
    finally:
        for fd, copy_fd in saved:
            os.dup2(copy_fd, fd)
            os.close(copy_fd)


def _input_names(model, tokenizer) -> list[str]:
    import inspect

    accepted = set(inspect.signature(model.forward).parameters)
    sample = tokenizer(["a"], return_tensors="np")
    return [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in sample and name in accepted]


def export_onnx(model, tokenizer, path: str | os.PathLike, *, max_length: int = 128, opset: int = 17) -> Path:
    """Export a sequence classifier to one ONNX file with dynamic batch and sequence axes.

    ``torch.onnx.export`` with the TorchScript exporter (``dynamo=False``) does the work: it is
    several times faster than the dynamo exporter here and its graphs are the ones
    ``onnxruntime.transformers.optimizer`` knows how to fuse. The model is exported from a copy
    switched to eager attention (its graph fuses into ORT's ``Attention`` op), on the model's device
    with the tracing inputs moved there too; the caller's model is left untouched.

    Raises
    ------
    ExportError
        One line naming the model and the exporter's first complaint (an op without an ONNX
        equivalent, a forward that does not take ``input_ids``, ...).

    Examples
    --------
    >>> export_onnx(model, tokenizer, "model.onnx").suffix   # doctest: +SKIP
    '.onnx'
    """
    import torch

    func = "export_onnx"
    check_int("max_length", max_length, func, low=2)
    if not isinstance(model, torch.nn.Module):
        raise ExportError(f"The 'model' parameter of {func} must be a torch.nn.Module. "
                          f"Got {type(model).__name__} instead.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clone = copy.deepcopy(model).float().eval()
    with contextlib.suppress(Exception):  # models without the switch keep their attention
        clone.set_attn_implementation("eager")
    try:
        names = _input_names(clone, tokenizer)
        sample = tokenizer(["an example text for tracing"] * 2, padding="max_length", truncation=True,
                           max_length=min(16, max_length), return_tensors="pt")
        device = model_device(clone)  # the copy stays where the model is (a GPU after fine-tuning there)
        inputs = {name: sample[name].to(device) for name in names}
        axes = {name: {0: "batch", 1: "sequence"} for name in names} | {"logits": {0: "batch"}}
        with _quiet(), _native_output_silenced(), torch.inference_mode():
            torch.onnx.export(clone, (), str(path), kwargs=inputs, input_names=names, output_names=["logits"],
                              dynamic_axes=axes, opset_version=opset, dynamo=False)
    except Exception as error:  # the exporter raises many types; all mean "cannot export this model"
        path.unlink(missing_ok=True)
        raise ExportError(f"{type(model).__name__} cannot be exported to ONNX ({first_line(error)[:200]}). "
                          "Use a variant that runs in torch (fp32_eager, torch_int8_dynamic, pruned_*).") from None
    return path


def fuse_onnx(source: str | os.PathLike, target: str | os.PathLike, *, model_config) -> dict[str, int]:
    """Fuse attention, embedding LayerNorm, skip-LayerNorm and GELU with ``onnxruntime.transformers.optimizer``.

    Returns the fused-operator counts (non-zero ones) so a report can show what was fused.
    """
    from onnxruntime.transformers.optimizer import optimize_model

    with _quiet():
        optimized = optimize_model(str(source), model_type="bert", num_heads=model_config.num_attention_heads,
                                   hidden_size=model_config.hidden_size, opt_level=0)
        optimized.save_model_to_file(str(target))
    return {op: n for op, n in optimized.get_fused_operator_statistics().items() if n}


def preprocess_onnx(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """ONNX Runtime's ``quant_pre_process`` (symbolic shape inference, then its graph optimisation),
    the step its documentation asks for before quantising. Where the symbolic inference stops
    ("Incomplete symbolic shape inference", as on MiniLM's TorchScript export), ONNX's own shape
    inference and the optimisation still run.

    >>> preprocess_onnx("model.onnx", "model.pre.onnx").name   # doctest: +SKIP
    'model.pre.onnx'
    """
    import contextlib
    import tempfile

    from onnxruntime.quantization.shape_inference import quant_pre_process

    source, target = Path(source).resolve(), Path(target).resolve()
    # quant_pre_process writes scratch files (sym_shape_infer_temp.onnx, <uuid>.data) into the working
    # folder, which in a report is where the user typed the command: keep them in a folder of their own.
    with _quiet(), tempfile.TemporaryDirectory(prefix="workbench-ort-") as scratch, contextlib.chdir(scratch):
        try:
            quant_pre_process(str(source), str(target), skip_optimization=False, skip_onnx_shape=False,
                              skip_symbolic_shape=False)
        except Exception:  # "Incomplete symbolic shape inference" on some exports: ONNX's own inference then
            quant_pre_process(str(source), str(target), skip_optimization=False, skip_onnx_shape=False,
                              skip_symbolic_shape=True)
    return Path(target)


def _preprocessed(source, target) -> Path:
    """``source`` pre-processed next to ``target`` (an unfused graph; a fused one keeps its contrib ops)."""
    return preprocess_onnx(source, Path(target).with_suffix(".pre.onnx"))


def quantize_onnx_dynamic(source: str | os.PathLike, target: str | os.PathLike, *, per_channel: bool = False,
                          reduce_range: bool = False, preprocess: bool = True,
                          nodes_to_exclude: Sequence[str] = ()) -> Path:
    """Dynamic int8 (weights int8 offline, activations quantized per call) with ``onnxruntime.quantization``.

    ``reduce_range`` keeps weights to 7 bits, which avoids int16 overflow in the u8s8 kernels of CPUs
    without VNNI (ONNX Runtime's own advice for AVX2 machines). ``preprocess`` runs
    :func:`preprocess_onnx` first (pass False for a graph already fused by :func:`fuse_onnx`);
    ``nodes_to_exclude`` stay float32 (mixed precision, :mod:`workbench.compression.mixed`).

    >>> quantize_onnx_dynamic("model.onnx", "model.int8.onnx", per_channel=True)   # doctest: +SKIP
    PosixPath('model.int8.onnx')
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if preprocess:
        source = _preprocessed(source, target)
    with _quiet():
        # Fused graphs hold com.microsoft ops that shape inference cannot type; float is right for them.
        quantize_dynamic(str(source), str(target), per_channel=per_channel, reduce_range=reduce_range,
                         nodes_to_exclude=list(nodes_to_exclude) or None,
                         weight_type=QuantType.QInt8, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    return Path(target)


def quantize_onnx_static(source: str | os.PathLike, target: str | os.PathLike, tokenizer, texts: Sequence[str], *,
                         method: str = "MinMax", calibration_size: int = 64, max_length: int = 128,
                         batch_size: int = 8, seed: int = 0, preprocess: bool = True) -> Path:
    """Static int8 in QDQ format, activation ranges calibrated on ``calibration_size`` texts.

    ``onnxruntime.quantization.quantize_static`` does the work with a ``CalibrationDataReader`` that
    feeds unpadded texts, so padding positions never enter the activation ranges: MinMax gets texts of
    equal token length together (up to ``batch_size``); Entropy and Percentile, whose histograms need
    one shape throughout, get one batch of the texts at least as long as the median, cut to it. MatMul and Gather (the embeddings) are quantized; weights per
    channel with 7-bit range (the same grid on every CPU), activations uint8. ``preprocess`` runs
    :func:`preprocess_onnx` first.

    Parameters
    ----------
    texts : sequence of str
        Pool the calibration texts are drawn from (without replacement, seeded).
    method : {"MinMax", "Entropy", "Percentile"}
        ONNX Runtime's ``CalibrationMethod``.

    Raises
    ------
    ParameterError
        ``calibration_size`` larger than ``texts``.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    func = "quantize_onnx_static"
    check_choice("method", method, func, ("MinMax", "Entropy", "Percentile"))
    chosen = calibration_texts(texts, calibration_size, seed=seed, func=func)

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            if method == "MinMax":
                groups = _equal_length_groups(tokenizer, chosen, max_length, batch_size)
                self.batches = [_numpy_feeds(tokenizer(group, truncation=True, max_length=max_length,
                                                       return_tensors="np")) for group in groups]
            else:  # histogram calibrators stack every batch: one shape, the median length, no padding
                self.batches = [_common_length_batch(tokenizer, chosen, max_length)]
            self.rewind()

        def get_next(self):
            return next(self._iter, None)

        def rewind(self) -> None:
            self._iter = iter(self.batches)

    if preprocess:
        source = _preprocessed(source, target)
    reader = _Reader()
    session_inputs = _onnx_input_names(source)
    reader.batches = [{k: v for k, v in batch.items() if k in session_inputs} for batch in reader.batches]
    reader.rewind()
    with _quiet():
        quantize_static(str(source), str(target), reader, quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=["MatMul", "Gather"], per_channel=True, reduce_range=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=getattr(CalibrationMethod, method))
    return Path(target)


def _equal_length_groups(tokenizer, texts: Sequence[str], max_length: int, batch_size: int) -> list[list[str]]:
    """Texts grouped by token count (at most ``batch_size`` a group), so no group needs padding."""
    lengths = [len(ids) for ids in tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]]
    groups: dict[int, list[list[str]]] = {}
    for text, length in zip(texts, lengths):
        bucket = groups.setdefault(length, [[]])
        if len(bucket[-1]) == batch_size:
            bucket.append([])
        bucket[-1].append(text)
    return [group for length in sorted(groups) for group in groups[length]]


def _common_length_batch(tokenizer, texts: Sequence[str], max_length: int) -> dict[str, np.ndarray]:
    """One batch of the texts with at least the median token count, truncated to it: no padding at all."""
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    length = int(np.median([len(ids) for ids in encoded["input_ids"]]))
    rows = [i for i, ids in enumerate(encoded["input_ids"]) if len(ids) >= length]
    # Cut to the median, keeping the final [SEP] where the model has one.
    cut = {k: np.asarray([encoded[k][i][:length - 1] + encoded[k][i][-1:] for i in rows], dtype=np.int64)
           for k in encoded}
    return cut


def calibration_texts(texts: Sequence[str], size: int, *, seed: int = 0, func: str = "calibration_texts") -> list[str]:
    """``size`` texts drawn from ``texts`` without replacement, seeded; an error if there are fewer.

    >>> calibration_texts(["a", "b", "c"], 2, seed=0)
    ['b', 'c']
    """
    texts = list(texts)
    check_int("calibration_size", size, func, low=1)
    if size > len(texts):
        raise ParameterError(
            f"The 'calibration_size' parameter of {func} must be at most the number of calibration texts "
            f"({len(texts)}). Got {size} instead. Lower calibration_size or pass more data.")
    picks = np.random.default_rng(seed).choice(len(texts), size=size, replace=False)
    return [texts[i] for i in picks]


def _onnx_input_names(path) -> set[str]:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {init.name for init in graph.initializer}
    return {i.name for i in graph.input if i.name not in initializers}


def _numpy_feeds(encoding) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=np.int64) for k, v in encoding.items()}
