"""On a GPU, inputs follow the model and timings wait for CUDA: checked on any CPU machine.

No test needs a GPU. A model on torch's ``meta`` device (tensors with shapes but no data) stands in
for one on a GPU: forward hooks record the device of every input, which must be the model's, not the
CPU where tokenizers and ``torch.from_numpy`` make them. CUDA itself is simulated by patching
``torch.cuda`` probes and ONNX Runtime's provider list.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from workbench import evaluation, hardware
from workbench.compression import onnx as compression_onnx
from workbench.compression import runners
from workbench.compression.measure import precision_probe
from workbench.compression.pruning import head_importance
from workbench.models import load_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SPEC = "tiny:num_layers=1,hidden_size=32,num_heads=2"


class _Recorder(torch.nn.Module):
    """A classifier whose weights sit on ``device``; it records its inputs' devices and returns CPU logits.

    The record is kept on the class, so the copies the code under test makes (``deepcopy``) add to it too.
    """

    seen: list[dict[str, str]] = []

    def __init__(self, device: str = "meta") -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(2, device=device))
        type(self).seen = []

    def forward(self, **inputs):
        type(self).seen.append({name: value.device.type for name, value in inputs.items()})
        return SimpleNamespace(logits=torch.zeros(len(inputs["input_ids"]), 2))


def _record_inputs(model) -> list[dict[str, str]]:
    seen: list[dict[str, str]] = []
    model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append({k: v.device.type for k, v in kwargs.items() if torch.is_tensor(v)}),
        with_kwargs=True)
    return seen


def test_model_device_is_where_the_weights_are():
    assert hardware.model_device(torch.nn.Linear(2, 2)).type == "cpu"
    assert hardware.model_device(torch.nn.Linear(2, 2, device="meta")).type == "meta"
    assert hardware.model_device(torch.nn.ReLU()).type == "cpu"  # nothing to follow


def test_onnxruntime_providers_put_cuda_first_where_the_build_has_it(monkeypatch):
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert hardware.onnxruntime_providers() == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert hardware.onnxruntime_providers() == ["CPUExecutionProvider"]


def test_ort_sessions_open_with_the_probed_providers(monkeypatch, tmp_path):
    import onnxruntime

    opened = []

    class FakeSession:
        def __init__(self, path, options, providers):
            opened.append(providers)

        def get_inputs(self):
            return [SimpleNamespace(name="input_ids")]

    monkeypatch.setattr(onnxruntime, "InferenceSession", FakeSession)
    monkeypatch.setattr(runners, "onnxruntime_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    runners._ort_runner(tmp_path / "model.onnx")(1)
    assert opened == [["CUDAExecutionProvider", "CPUExecutionProvider"]]


def test_torch_variants_feed_the_model_on_its_device():
    model = _Recorder("meta")
    logits = runners._torch_runner(model)(1)({"input_ids": np.ones((3, 4), dtype=np.int64),
                                               "attention_mask": np.ones((3, 4), dtype=np.int64)})
    assert model.seen == [{"input_ids": "meta", "attention_mask": "meta"}]
    assert logits.shape == (3, 2)  # and the logits come back to the CPU as numpy


def test_precision_probe_feeds_the_model_on_its_device():
    _, tokenizer = load_model(SPEC, num_labels=2)
    model = _Recorder("meta")
    frame = precision_probe(model, tokenizer, ["good food", "stale"], seq_len=8, repeats=1, dtypes=("float32",))
    assert frame["status"].tolist() == ["ok"]
    assert model.seen and all(set(seen.values()) == {"meta"} for seen in model.seen)


def test_head_importance_feeds_the_model_on_its_device():
    model, tokenizer = load_model(SPEC, num_labels=2)
    seen = _record_inputs(model)
    model.to("meta")
    # Meta tensors hold no values, so the scores themselves cannot be read out; the inputs are what matter.
    with pytest.raises((RuntimeError, NotImplementedError), match="meta"):
        head_importance(model, tokenizer, ["good", "bad"], [0, 1])
    assert seen == [{"input_ids": "meta", "token_type_ids": "meta", "attention_mask": "meta", "labels": "meta"}]


def test_onnx_export_traces_with_inputs_on_the_models_device(monkeypatch, tmp_path):
    model, tokenizer = load_model(SPEC, num_labels=2)
    traced = {}

    def fake_export(module, args, path, *, kwargs, **options):
        traced.update(model=hardware.model_device(module).type, inputs={k: v.device.type for k, v in kwargs.items()})

    monkeypatch.setattr(torch.onnx, "export", fake_export)
    model.to("meta")
    compression_onnx.export_onnx(model, tokenizer, tmp_path / "model.onnx", max_length=16)
    assert traced == {"model": "meta", "inputs": {"input_ids": "meta", "attention_mask": "meta",
                                                  "token_type_ids": "meta"}}


def _simulate_cuda(monkeypatch, *, initialized: bool) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: initialized)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append("sync"))
    return calls


def test_latency_waits_for_cuda_after_each_timed_call(monkeypatch):
    calls = _simulate_cuda(monkeypatch, initialized=True)
    stats = evaluation.measure_latency(lambda: calls.append("call"), warmup=2, repeats=3)
    # Warm-up, one wait before timing, then every timed call is followed by its wait.
    assert calls == ["call", "call", "sync"] + ["call", "sync"] * 3
    assert stats["repeats"] == 3


def test_latency_on_the_cpu_never_synchronises(monkeypatch):
    calls = _simulate_cuda(monkeypatch, initialized=False)  # a CUDA build that never ran anything on the GPU
    evaluation.measure_latency(lambda: calls.append("call"), warmup=1, repeats=2)
    assert calls == ["call"] * 3
