"""workbench.compression on a tiny encoder fine-tuned on a slice of the embedded data (seconds, not minutes)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import workbench as wb
from workbench import compression as C
from workbench.compression.distill import _encoder_layer_list
from workbench.compression.pruning import _attention_modules, _encoder_linears
from workbench.compression.runners import _ort_runner
from workbench import hardware
from workbench.errors import ParameterError

# Pre-norm learns the synthetic task below in a few epochs; post-norm sits on a plateau that long.
TINY = "tiny:num_layers=2,hidden_size=64,num_heads=4,norm_placement=pre"
MAX_LENGTH = 32
POSITIVE = "great tasty delicious love perfect fresh excellent yummy".split()
NEGATIVE = "awful stale bland hate broken terrible rotten gross".split()
NEUTRAL = ("the product box arrived coffee snack price bag taste flavor order again with and it was my kids dog "
           "tea").split()


def _reviews(n: int, seed: int) -> list[dict]:
    """Filler words plus 1-3 words of the label's sentiment, sometimes one of the other, 5% labels flipped."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        label = int(rng.random() < 0.5)
        words = list(rng.choice(NEUTRAL, size=rng.integers(6, 17)))
        for word in rng.choice(POSITIVE if label else NEGATIVE, size=rng.integers(1, 4)):
            words.insert(rng.integers(len(words) + 1), word)
        if rng.random() < 0.3:
            words.insert(rng.integers(len(words) + 1), rng.choice(NEGATIVE if label else POSITIVE))
        rows.append({"text": " ".join(words), "label": label if rng.random() > 0.05 else 1 - label})
    return rows


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    import datasets

    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["other", "great"])})
    rows = _reviews(700, seed=0)
    split = lambda part: datasets.Dataset.from_list(part, features=features)  # noqa: E731
    return datasets.DatasetDict(train=split(rows[:400]), validation=split(rows[400:500]), test=split(rows[500:]))


@pytest.fixture(scope="module")
def baseline(data):
    """A tiny classifier that has learned the task (so int8 agreement is a real question)."""
    return C.finetune_baseline(data, model=TINY, train_examples=0, validation_examples=0, epochs=4.0,
                               max_length=MAX_LENGTH, learning_rate=3e-3, cache_dir=None, num_threads=1,
                               progress=False)


@pytest.fixture(scope="module")
def config():
    return C.CompressionConfig(max_length=MAX_LENGTH, calibration_size=32, importance_examples=32,
                               student="tiny:num_layers=1,hidden_size=32,num_heads=2", distill_epochs=1.0, qat_steps=4,
                               num_threads=1)


def _torch_logits(model, tokenizer, texts):
    batch = tokenizer(texts, truncation=True, max_length=MAX_LENGTH, padding=True, return_tensors="pt")
    with torch.inference_mode():
        return model(**batch).logits.numpy(), {k: v.numpy() for k, v in batch.items()}


# --- ONNX export and quantization ----------------------------------------------------------------

def test_onnx_logits_match_torch_plain_and_fused(baseline, data, tmp_path):
    model, tokenizer = baseline["model"], baseline["tokenizer"]
    texts = list(data["test"]["text"][:24])  # mixed lengths: padding and the dynamic axes are exercised
    expected, feeds = _torch_logits(model, tokenizer, texts)
    attention = model.config._attn_implementation
    path = C.export_onnx(model, tokenizer, tmp_path / "m.onnx", max_length=MAX_LENGTH)
    fused_ops = C.fuse_onnx(path, tmp_path / "fused.onnx", model_config=model.config)
    assert fused_ops  # which ops fuse depends on the layout; the logits must not change either way
    for onnx_path in (path, tmp_path / "fused.onnx"):
        logits = _ort_runner(onnx_path)(1)(feeds)
        np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=1e-4)
    assert model.config._attn_implementation == attention  # exported from a copy switched to eager


def test_int8_predictions_agree_with_fp32(baseline, data, config, tmp_path):
    names = ["ort_int8_dynamic_per_channel", "ort_int8_static_minmax", "ort_int8_static_entropy",
             "ort_int8_static_percentile", "torch_int8_dynamic"]
    variants = C.build_variants(baseline["model"], baseline["tokenizer"], names, data=data, workdir=tmp_path,
                                config=config, progress=False)
    assert list(variants) == ["fp32_eager", *names]
    quality = C.evaluate_variants(variants, data["test"]["text"], data["test"]["label"],
                                  tokenizer=baseline["tokenizer"], max_length=MAX_LENGTH, n_resamples=200,
                                  threads=1, progress=False).set_index("variant")
    assert (quality.status == "ok").all(), quality.reason.to_dict()
    majority = pd.Series(data["test"]["label"]).value_counts(normalize=True).max()
    assert quality.loc["fp32_eager", "accuracy"] > majority + 0.2  # it learned: agreement is not trivial
    assert (quality.agreement >= 0.97).all(), quality.agreement.to_dict()
    int8 = quality.loc[names[:4]]
    assert (int8.size_mb < 0.35 * quality.loc["fp32_eager", "size_mb"]).all()
    delta = quality.accuracy - quality.loc["fp32_eager", "accuracy"]
    np.testing.assert_allclose(quality.delta_accuracy, delta, atol=1e-12)
    assert (quality.delta_ci_low <= quality.delta_accuracy + 1e-12).all()


# --- pruning -------------------------------------------------------------------------------------

@pytest.mark.parametrize("amount", [0.3, 0.5, 0.9])
def test_pruned_model_has_the_requested_sparsity(baseline, amount):
    model = baseline["model"]
    pruned = C.prune_magnitude(model, amount)
    total = sum(m.weight.numel() for m in _encoder_linears(pruned))
    assert C.weight_sparsity(pruned) == pytest.approx(amount, abs=1 / total)
    assert C.weight_sparsity(model) < 0.01  # the original is untouched
    kept = torch.cat([m.weight.abs().flatten() for m in _encoder_linears(pruned)])
    dropped = torch.cat([(o.weight.abs() * (p.weight == 0)).flatten()
                         for o, p in zip(_encoder_linears(model), _encoder_linears(pruned))])
    assert dropped.max() <= kept[kept > 0].min()  # magnitude order: nothing kept is smaller than what went


def test_head_pruning_removes_the_least_important_heads(baseline, data):
    model, tokenizer = baseline["model"], baseline["tokenizer"]
    rows = data["validation"].select(range(32))
    importance = C.head_importance(model, tokenizer, list(rows["text"]), list(rows["label"]), max_length=MAX_LENGTH)
    assert importance.shape == (8, 3) and (importance.importance >= 0).all()
    norms = importance.groupby("layer").importance.apply(np.linalg.norm)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)  # normalised per layer
    pruned, removed = C.prune_heads(model, importance, 0.5)
    assert sum(map(len, removed.values())) == 4
    weakest = set(importance.nsmallest(1, "importance")[["layer", "head"]].itertuples(index=False, name=None))
    assert weakest <= {(layer, head) for layer, heads in removed.items() for head in heads}
    blocks = _attention_modules(pruned)
    assert sum(b.self.num_attention_heads for b in blocks) == 4
    assert all(b.self.query.out_features == b.self.num_attention_heads * 16 for b in blocks)
    assert wb.count_parameters(pruned)["total"] < wb.count_parameters(model)["total"]
    # Removing a head must equal zeroing its context vectors in the full model.
    texts = list(data["test"]["text"][:8])
    hooks = []
    for layer, block in enumerate(_attention_modules(model)):
        mask = torch.ones(4, 16)
        mask[removed.get(layer, [])] = 0.0
        hooks.append(block.output.register_forward_pre_hook(
            lambda module, args, mask=mask: (args[0] * mask.flatten(), *args[1:])))
    try:
        masked, _ = _torch_logits(model, tokenizer, texts)
    finally:
        for hook in hooks:
            hook.remove()
    np.testing.assert_allclose(_torch_logits(pruned, tokenizer, texts)[0], masked, atol=1e-5)


# --- distillation and QAT ------------------------------------------------------------------------

def test_student_has_the_requested_size(baseline, data):
    spec = "tiny:num_layers=1,hidden_size=32,num_heads=2"
    train = data["train"].select(range(64))
    student = C.distill_student(baseline["model"], baseline["tokenizer"], train, student=spec, epochs=1.0,
                                max_length=MAX_LENGTH, seed=0)
    reference, _ = wb.load_model(spec, num_labels=2)
    assert wb.count_parameters(student) == wb.count_parameters(reference)
    assert (student.config.num_hidden_layers, student.config.hidden_size) == (1, 32)

    layered = C.distill_student(baseline["model"], baseline["tokenizer"], train, student="layers:1", epochs=1.0,
                                max_length=MAX_LENGTH, seed=0)
    teacher = wb.count_parameters(baseline["model"])["total"]
    one_layer = sum(p.numel() for p in _encoder_layer_list(baseline["model"])[0].parameters())
    assert wb.count_parameters(layered)["total"] == teacher - one_layer
    assert layered.config.num_hidden_layers == 1


def _dequantized_weights(path) -> list[np.ndarray]:
    """Every int8 weight initializer of an ONNX Runtime-quantized graph, dequantized (scale x (q - zero))."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    out = []
    for name, q in inits.items():
        if name.endswith("_quantized") and q.dtype == np.int8:
            stem = name[: -len("_quantized")]
            scale, zero = inits[stem + "_scale"], inits[stem + "_zero_point"].astype(np.float32)
            out.append(((q.astype(np.float32) - zero) * scale).astype(np.float32))
    return out


def _matched(weights, dequantized) -> int:
    return sum(any(d.shape == w.T.shape and np.allclose(d, w.T, rtol=0, atol=1e-7) for d in dequantized)
               for w in weights)


def test_qat_weights_survive_the_ort_round_trip_exactly(baseline, data, tmp_path):
    small = wb.subsample(data, split="train", n=64, seed=0)
    qat = C.quantization_aware_finetune(baseline["model"], baseline["tokenizer"], small, steps=2,
                                        max_length=MAX_LENGTH)
    linears = [m.weight.detach().numpy() for m in qat.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 2 * 6 + 2  # 2 layers x (q, k, v, out, up, down) + pooler + classifier: all of them
    for weight in linears:  # on ORT's reduce_range grid: integers in [-64, 64] of absmax / 64
        steps = weight / (np.abs(weight).max(axis=1, keepdims=True) / 64)
        np.testing.assert_allclose(steps, steps.round(), atol=1e-3)
        assert np.abs(steps).max() == pytest.approx(64)
    path = C.quantize_onnx_dynamic(C.export_onnx(qat, baseline["tokenizer"], tmp_path / "qat.onnx"),
                                   tmp_path / "qat.int8.onnx", per_channel=True, reduce_range=True)
    assert _matched(linears, _dequantized_weights(path)) == len(linears)  # deployment re-rounds nothing
    # The same check fails for the model before QAT: ORT does re-round ordinary weights.
    plain = [m.weight.detach().numpy() for m in baseline["model"].modules() if isinstance(m, torch.nn.Linear)]
    plain_path = C.quantize_onnx_dynamic(C.export_onnx(baseline["model"], baseline["tokenizer"], tmp_path / "p.onnx"),
                                         tmp_path / "p.int8.onnx", per_channel=True, reduce_range=True)
    assert _matched(plain, _dequantized_weights(plain_path)) == 0


def test_qat_control_takes_the_same_steps_without_the_grid(baseline, data):
    small = wb.subsample(data, split="train", n=64, seed=0)
    control = C.quantization_aware_finetune(baseline["model"], baseline["tokenizer"], small, steps=2,
                                            max_length=MAX_LENGTH, fake_quant=False)
    last = lambda model: [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1].weight.detach().numpy()  # noqa: E731
    weight = last(control)
    steps = weight / (np.abs(weight).max(axis=1, keepdims=True) / 64)
    assert not np.allclose(steps, steps.round(), atol=1e-3)  # off the grid
    assert not np.allclose(weight, last(baseline["model"]))  # but trained


def test_static_graph_holds_qdq_nodes_with_per_channel_scales(baseline, data, tmp_path):
    import onnx
    from onnx import numpy_helper

    model, tokenizer = baseline["model"], baseline["tokenizer"]
    source = C.export_onnx(model, tokenizer, tmp_path / "m.onnx", max_length=MAX_LENGTH)
    path = C.quantize_onnx_static(source, tmp_path / "m.qdq.onnx", tokenizer, list(data["train"]["text"]),
                                  calibration_size=16, max_length=MAX_LENGTH)
    graph = onnx.load(str(path)).graph
    ops = [node.op_type for node in graph.node]
    assert ops.count("QuantizeLinear") > 0 and ops.count("DequantizeLinear") > ops.count("QuantizeLinear")
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    matmul_inputs = {name for node in graph.node if node.op_type == "MatMul" for name in node.input}
    shapes = []
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in inits and node.output[0] in matmul_inputs:
            scale = inits[node.input[1]]
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            assert scale.shape == (inits[node.input[0]].shape[axis],)  # one scale per output channel
            shapes.append(scale.shape)
    # 2 layers x (q, k, v, out, up, down) MatMuls; hidden 64, feed-forward 256 channels
    assert len(shapes) >= 12 and set(shapes) == {(64,), (256,)}


def test_calibration_groups_never_need_padding(baseline):
    from workbench.compression.onnx import _equal_length_groups

    tokenizer = baseline["tokenizer"]
    texts = ["great", "great tasty", "awful", "the box arrived", "bland", "love it", "tea"]
    groups = _equal_length_groups(tokenizer, texts, MAX_LENGTH, 2)
    assert sorted(t for g in groups for t in g) == sorted(texts) and max(map(len, groups)) <= 2
    for group in groups:
        assert len({len(ids) for ids in tokenizer(group)["input_ids"]}) == 1


@pytest.mark.parametrize("vnni", [True, False], ids=["vnni-cpu", "avx2-cpu"])
def test_full_range_int8_runs_only_where_the_cpu_has_vnni(monkeypatch, baseline, data, config, tmp_path, vnni):
    monkeypatch.setattr(hardware, "cpu_has_vnni", lambda flags=None: vnni)
    names = ["ort_int8_dynamic_per_tensor", "ort_int8_dynamic_fused", "ort_int8_dynamic_fused_full"]
    variants = C.build_variants(baseline["model"], baseline["tokenizer"], names, data=data, workdir=tmp_path,
                                config=config, progress=False)
    status = {name: variants[name].status for name in names}
    assert status == {"ort_int8_dynamic_per_tensor": "ok" if vnni else "skipped", "ort_int8_dynamic_fused": "ok",
                      "ort_int8_dynamic_fused_full": "ok" if vnni else "skipped"}
    if not vnni:
        assert "needs VNNI" in variants["ort_int8_dynamic_per_tensor"].reason
    texts = list(data["test"]["text"][:24])
    expected, feeds = _torch_logits(baseline["model"], baseline["tokenizer"], texts)
    fused = variants["ort_int8_dynamic_fused"].runner(1)(feeds)  # fused then quantised: still the same classifier
    assert (fused.argmax(1) == expected.argmax(1)).mean() >= 0.9


# --- measurement, table, recommendation ----------------------------------------------------------

def test_latency_grid_table_and_summary(baseline, data, config, tmp_path):
    variants = C.build_variants(baseline["model"], baseline["tokenizer"], ["ort_int8_dynamic_per_channel"],
                                data=data, workdir=tmp_path, config=config, progress=False)
    quality = C.evaluate_variants(variants, data["test"]["text"][:64], data["test"]["label"][:64],
                                  tokenizer=baseline["tokenizer"], max_length=MAX_LENGTH, n_resamples=50,
                                  threads=1, progress=False)
    latency = C.measure_variants(variants, baseline["tokenizer"], data["test"]["text"], batch_sizes=(1, 4),
                                 seq_lens=(16, 32), threads=(1, 0), large_batch_threads=(0,), warmup=1, repeats=2,
                                 progress=False)
    # batch 1: 2 lengths x 2 thread counts; batch 4: 2 lengths x all cores only (1 when there is one core)
    per_variant = 2 * len({1, C.usable_cores()}) + 2
    assert len(latency) == 2 * per_variant and (latency.status == "ok").all()
    assert set(latency.threads) == {1, C.usable_cores()}
    assert (latency.p95_ms >= latency.p50_ms).all()
    table = C.compression_table(quality, latency)
    assert table.columns.tolist() == C.TABLE_COLUMNS and table.seq_len.unique().tolist() == [32]
    base = table.set_index("variant").loc["fp32_eager"]
    assert base.speedup_b1 == 1.0 and base.size_ratio == 1.0 and base.threads_b1 == 1
    scores = C.score_variants(variants, {"validation": data["validation"], "test": data["test"].select(range(64))},
                              tokenizer=baseline["tokenizer"], max_length=MAX_LENGTH, n_resamples=50, threads=1,
                              progress=False)
    pd.testing.assert_frame_equal(scores.on("test").drop(columns="build_seconds"),
                                  quality.drop(columns="build_seconds"))
    decision = C.decide_compression(C.compression_table(scores.quality, latency), scores.predictions, scores.labels)
    summary = C.compression_summary(table, decision)
    assert set(summary["variants"]["ort_int8_dynamic_per_channel"]) == {*C.SUMMARY_KEYS, "status", "delta_ci95",
                                                                       "validation_ci95", "validation_examples_needed"}
    assert summary["recommendation"]["tolerance"] == 0.01 and summary["verdict"]["n_comparisons"] == 1


def test_recommend_picks_the_fastest_within_tolerance():
    table = pd.DataFrame({"variant": ["fp32_eager", "int8", "tiny", "broken"], "status": ["ok", "ok", "ok", "failed"],
                          "accuracy": [0.9, 0.89, 0.87, np.nan], "delta_accuracy": [0.0, -0.005, -0.025, np.nan],
                          "delta_ci_low": [0.0, -0.01, -0.03, np.nan],
                          "latency_ms_p50_b1": [10.0, 5.0, 2.0, np.nan], "latency_ms_p95_b1": [12.0, 6.0, 3.0, np.nan],
                          "size_mb": [90.0, 23.0, 5.0, np.nan], "speedup_b1": [1.0, 2.0, 5.0, np.nan],
                          "size_ratio": [1.0, 0.25, 0.05, np.nan]})
    assert C.recommend_variant(table, tolerance=0.0)["variant"] == "fp32_eager"
    best = C.recommend_variant(table, tolerance=0.01)  # a lower bound of exactly -1 point is within one point
    assert (best["variant"], best["speedup_b1"], best["candidates"]) == ("int8", 2.0, ["int8", "fp32_eager"])
    assert C.recommend_variant(table, tolerance=0.05)["variant"] == "tiny"
    assert C.pareto_front(table).tolist() == [True, True, True, False]
    assert C.pareto_front(table.assign(accuracy=[0.9, 0.91, 0.87, np.nan])).tolist() == [False, True, True, False]


def test_variants_in_any_order_give_the_same_variants_and_scores(baseline, data, config, tmp_path):
    names = ["torch_int8_dynamic", "pruned_magnitude_30", "ort_int8_dynamic_per_tensor"]
    one = C.build_variants(baseline["model"], baseline["tokenizer"], names, data=data, workdir=tmp_path / "a",
                           config=config, progress=False)
    other = C.build_variants(baseline["model"], baseline["tokenizer"], [*reversed(names), "fp32_eager"], data=data,
                             workdir=tmp_path / "b", config=config, progress=False)
    assert list(one) == list(other) == ["fp32_eager", "ort_int8_dynamic_per_tensor", "torch_int8_dynamic",
                                        "pruned_magnitude_30"]
    texts, labels = data["test"]["text"][:48], data["test"]["label"][:48]
    kwargs = dict(tokenizer=baseline["tokenizer"], max_length=MAX_LENGTH, n_resamples=50, threads=1, progress=False)
    first = C.evaluate_variants(one, texts, labels, **kwargs)
    # The baseline last: it used to be read before it was predicted (KeyError).
    last = C.evaluate_variants(dict(reversed(list(other.items()))), texts, labels, **kwargs)
    columns = ["variant", "status", "accuracy", "delta_accuracy", "delta_ci_low", "agreement"]
    pd.testing.assert_frame_equal(first[columns], last[columns].iloc[::-1].reset_index(drop=True))


def test_precision_probe_reports_every_dtype(baseline, data):
    probe = C.precision_probe(baseline["model"], baseline["tokenizer"], data["test"]["text"], seq_len=16, repeats=1)
    assert probe.dtype.tolist() == ["float32", "bfloat16", "float16"]
    assert probe.loc[0, "slowdown"] == 1.0 and probe.loc[0, "max_abs_logit_diff"] == 0.0
    assert (probe.status == "ok").all() and (probe.max_abs_logit_diff < 0.5).all()


@pytest.mark.parametrize("native", [True, False], ids=["bf16-cpu", "avx2-cpu"])
def test_bf16_is_called_native_only_where_the_cpu_probe_says_so(monkeypatch, baseline, data, config, tmp_path,
                                                                native):
    # The variants run on the CPU, so the CPU's answer decides, whatever CPU runs this test.
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: native)
    monkeypatch.setattr(hardware, "cuda_available", lambda: False)
    probe = C.precision_probe(baseline["model"], baseline["tokenizer"], data["test"]["text"], seq_len=16, repeats=1)
    assert probe.set_index("dtype")["native"].to_dict() == {"float32": True, "bfloat16": native, "float16": False}
    variants = C.build_variants(baseline["model"], baseline["tokenizer"], ["bf16_eager", "bf16_autocast"], data=data,
                                workdir=tmp_path, config=config, progress=False)
    for name in ("bf16_eager", "bf16_autocast"):  # built where native; elsewhere only the probe shows bf16
        assert variants[name].status == ("ok" if native else "skipped")
        assert ("emulated" in variants[name].reason) is not native
    if native:
        texts = list(data["test"]["text"][:8])
        expected, feeds = _torch_logits(baseline["model"], baseline["tokenizer"], texts)
        np.testing.assert_allclose(variants["bf16_autocast"].runner(1)(feeds), expected, atol=0.1)


def test_baseline_is_cached_on_disk(data, tmp_path):
    kwargs = dict(model="tiny:num_layers=1,hidden_size=32,num_heads=2", train_examples=32, validation_examples=16,
                  max_length=16, cache_dir=tmp_path, num_threads=1, progress=False)
    first = C.finetune_baseline(data, **kwargs)
    second = C.finetune_baseline(data, **kwargs)
    other = C.finetune_baseline(data, **{**kwargs, "seed": 1})
    assert (first["cached"], second["cached"], other["cached"]) == (False, True, False)
    assert first["key"] == second["key"] != other["key"]
    texts = list(data["test"]["text"][:8])
    np.testing.assert_allclose(_torch_logits(first["model"], first["tokenizer"], texts)[0],
                               _torch_logits(second["model"], second["tokenizer"], texts)[0], atol=1e-6)


# --- bad input -----------------------------------------------------------------------------------

def test_unknown_variant_is_rejected(baseline, data, tmp_path):
    with pytest.raises(ParameterError, match=r"'variants' parameter of build_variants .* Got 'ort_int4' instead"):
        C.build_variants(baseline["model"], baseline["tokenizer"], ["ort_int4"], data=data, workdir=tmp_path)
    with pytest.raises(ParameterError, match="pruned_magnitude_<1-99>.*'pruned_magnitude_100'"):
        C.check_variant_names(["pruned_magnitude_100"], "build_variants")


def test_calibration_set_larger_than_the_data_is_rejected(baseline, data, tmp_path):
    config = C.CompressionConfig(max_length=MAX_LENGTH, calibration_size=10_000)
    with pytest.raises(ParameterError, match=r"'calibration_size' parameter of build_variants must be at most .*"
                                             r"Got 10000 instead"):
        C.build_variants(baseline["model"], baseline["tokenizer"], ["ort_int8_static_minmax"], data=data,
                         workdir=tmp_path, config=config)
    assert not list(tmp_path.iterdir())  # checked before any export
    with pytest.raises(ParameterError, match="at most the number of calibration texts \\(3\\)"):
        C.calibration_texts(["a", "b", "c"], 4)


def test_negative_tolerance_is_rejected():
    table = pd.DataFrame({"variant": ["fp32_eager"], "status": ["ok"], "delta_accuracy": [0.0],
                          "latency_ms_p50_b1": [1.0]})
    with pytest.raises(ParameterError, match=r"'tolerance' parameter of recommend_variant .* Got -0.01 instead"):
        C.recommend_variant(table, tolerance=-0.01)


class _NoOnnxOp(torch.nn.Module):
    """Wraps a classifier and ends in an operator the ONNX exporter does not know (aten::cummax)."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.config = inner, inner.config

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        outputs = self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                             labels=labels)
        outputs.logits = torch.cummax(outputs.logits, dim=-1).values
        return outputs

    def save_pretrained(self, folder):
        self.inner.save_pretrained(folder)


def test_a_model_that_cannot_be_exported(baseline, data, config, tmp_path):
    model = _NoOnnxOp(baseline["model"])
    with pytest.raises(C.ExportError, match=r"_NoOnnxOp cannot be exported to ONNX \(.*aten::cummax"):
        C.export_onnx(model, baseline["tokenizer"], tmp_path / "x.onnx")
    with pytest.raises(C.ExportError, match="must be a torch.nn.Module. Got str instead"):
        C.export_onnx("model.bin", baseline["tokenizer"], tmp_path / "x.onnx")
    # In a run it is a failed row with its reason, and the torch variants still work.
    variants = C.build_variants(model, baseline["tokenizer"], ["ort_fp32_all", "pruned_magnitude_50"], data=data,
                                workdir=tmp_path / "run", config=config, progress=False)
    assert {n: v.status for n, v in variants.items()} == {"fp32_eager": "ok", "ort_fp32_all": "failed",
                                                         "pruned_magnitude_50": "ok"}
    assert variants["ort_fp32_all"].reason.startswith("ExportError: _NoOnnxOp cannot be exported")
    quality = C.evaluate_variants(variants, data["test"]["text"][:32], data["test"]["label"][:32],
                                  tokenizer=baseline["tokenizer"], max_length=MAX_LENGTH, n_resamples=20,
                                  threads=1, progress=False)
    assert quality.set_index("variant").accuracy.isna().tolist() == [False, True, False]


def test_config_rejects_bad_settings():
    with pytest.raises(ParameterError, match="'student' parameter of CompressionConfig must be 'layers:N'"):
        C.CompressionConfig(student="huge")
    with pytest.raises(ParameterError, match="'alpha' parameter of CompressionConfig must be a finite number in"):
        C.CompressionConfig(alpha=1.5)


def test_mixed_precision_excludes_what_the_ranking_says(baseline, data, tmp_path):
    import onnx

    model, tokenizer = baseline["model"], baseline["tokenizer"]
    source = C.export_onnx(model, tokenizer, tmp_path / "m.onnx", max_length=MAX_LENGTH)
    rows = data["train"].select(range(96))
    expected, feeds = _torch_logits(model, tokenizer, list(rows["text"]))

    def predict(path):
        return _ort_runner(path)(1)(feeds).argmax(1)

    kwargs = dict(predict=predict, labels=rows["label"], reference=expected.argmax(1), n_resamples=100)
    forced = C.quantize_mixed_precision(source, tmp_path / "forced.onnx", excluded=3, **kwargs)
    ranking = [row["node"] for row in forced["ranking"]]
    errors = [row["error"] for row in forced["ranking"]]
    assert errors == sorted(errors, reverse=True) and len(ranking) >= 12
    assert forced["excluded_nodes"] == ranking[:3]
    graph = onnx.load(str(forced["path"])).graph
    float_matmuls = {node.name for node in graph.node if node.op_type == "MatMul"}
    assert set(ranking[:3]) <= float_matmuls and not set(ranking[3:]) & float_matmuls  # the rest is int8
    searched = C.quantize_mixed_precision(source, tmp_path / "mixed.onnx", tolerance=0.0, max_excluded=4, **kwargs)
    assert searched["excluded_nodes"] == ranking[:len(searched["excluded_nodes"])]
    assert searched["accuracy"] >= searched["accuracy_all_int8"]
    assert [row["excluded"] for row in searched["tried"]][0] == 0


def test_pipelines_and_the_hard_label_control(baseline, data, tmp_path):
    config = C.CompressionConfig(max_length=MAX_LENGTH, importance_examples=32, student="layers:1",
                                 distill_examples=64, num_threads=1)
    names = ["distilled_int8", "pruned_heads_int8", "distilled_student", "distilled_hard_labels", "pruned_heads_25"]
    variants = C.build_variants(baseline["model"], baseline["tokenizer"], names, data=data, workdir=tmp_path,
                                config=config, progress=False)
    assert {n: v.status for n, v in variants.items() if n != "fp32_eager"} == dict.fromkeys(names, "ok")
    assert {variants[n].method for n in ("distilled_int8", "pruned_heads_int8")} == {"pipeline"}
    assert variants["distilled_int8"].size_mb < 0.5 * variants["distilled_student"].size_mb
    assert variants["pruned_heads_int8"].size_mb < 0.5 * variants["pruned_heads_25"].size_mb
    texts = list(data["test"]["text"][:32])
    _, feeds = _torch_logits(baseline["model"], baseline["tokenizer"], texts)
    student, control = (variants[n].runner(1)(feeds) for n in ("distilled_student", "distilled_hard_labels"))
    assert not np.allclose(student, control)  # the soft targets changed the training
    int8 = variants["distilled_int8"].runner(1)(feeds)
    assert (int8.argmax(1) == student.argmax(1)).mean() >= 0.9  # the pipeline quantises that very student


def test_the_student_is_distilled_on_the_transfer_split_when_there_is_one(baseline, data, tmp_path, monkeypatch):
    import copy

    import datasets

    import workbench.compression.distill as distill

    seen = []

    def fake_distill(teacher, tokenizer, train, **kwargs):
        seen.append((len(train), kwargs["alpha"]))
        return copy.deepcopy(teacher)

    monkeypatch.setattr(distill, "distill_student", fake_distill)
    config = C.CompressionConfig(max_length=MAX_LENGTH, student="layers:1", alpha=1.0, num_threads=1)
    small = datasets.DatasetDict(train=data["train"].select(range(20)), validation=data["validation"],
                                 transfer=data["train"])
    C.build_variants(baseline["model"], baseline["tokenizer"], ["distilled_student", "distilled_hard_labels"],
                     data=small, workdir=tmp_path, config=config, progress=False)
    assert sorted(seen) == sorted([(len(data["train"]), 1.0), (len(data["train"]), 0.0)])
    seen.clear()
    plain = datasets.DatasetDict(train=small["train"], validation=small["validation"])
    C.build_variants(baseline["model"], baseline["tokenizer"], ["distilled_student"], data=plain,
                     workdir=tmp_path / "plain", config=config, progress=False)
    assert seen == [(20, 1.0)]  # no transfer split: the train split


def test_distilled_students_are_reused_from_the_cache_only_for_the_same_teacher_data_and_settings(baseline, data,
                                                                                                   tmp_path):
    import copy

    import datasets

    from workbench.compression.distill import cached_student

    train = data["train"].select(range(64))
    settings = {"student": "layers:1", "epochs": 1.0, "max_length": MAX_LENGTH, "seed": 0, "alpha": 1.0}
    teacher, tokenizer = baseline["model"], baseline["tokenizer"]
    first, cached = cached_student(teacher, tokenizer, train, cache_dir=tmp_path, **settings)
    again, cached_again = cached_student(teacher, tokenizer, train, cache_dir=tmp_path, **settings)
    assert (cached, cached_again) == (False, True)
    texts = list(data["test"]["text"][:16])
    np.testing.assert_array_equal(_torch_logits(first, tokenizer, texts)[0], _torch_logits(again, tokenizer, texts)[0])
    assert again.config.num_hidden_layers == 1
    other_teacher = copy.deepcopy(teacher)
    with torch.no_grad():
        next(other_teacher.parameters()).add_(1e-3)
    assert not cached_student(other_teacher, tokenizer, train, cache_dir=tmp_path, **settings)[1]
    assert not cached_student(teacher, tokenizer, train, cache_dir=tmp_path, **{**settings, "alpha": 0.0})[1]
    assert not cached_student(teacher, tokenizer, data["train"].select(range(1, 65)), cache_dir=tmp_path,
                              **settings)[1]
    assert len(list((tmp_path / "students").iterdir())) == 4  # one folder per distinct key, no temporary ones left
    config = C.CompressionConfig(max_length=MAX_LENGTH, student="layers:1", alpha=1.0, distill_epochs=1.0,
                                 num_threads=1)
    small = datasets.DatasetDict(train=train, validation=data["validation"])
    notes = [C.build_variants(teacher, tokenizer, ["distilled_student"], data=small, workdir=tmp_path / f"w{i}",
                              config=config, cache_dir=tmp_path, progress=False)["distilled_student"].note
             for i in range(2)]
    assert not notes[0].endswith("reused from the cache") and notes[1].endswith("; reused from the cache")
