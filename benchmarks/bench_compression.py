"""Speed-up of each compression variant over fp32 eager, measured side by side in one process.

Every round times one call of the fp32 eager baseline and one call of each variant on the same
batch, in turn, so that load from other processes hits them alike; the ratio of medians is the
speed-up. A second table checks that workbench's ONNX Runtime runner adds nothing over calling
``InferenceSession.run`` directly.

    .venv/bin/python benchmarks/bench_compression.py                      # MiniLM, batch 1, seq 128, 1 thread
    .venv/bin/python benchmarks/bench_compression.py --threads 2 --batch-size 32 --rounds 10
    .venv/bin/python benchmarks/bench_compression.py --model tiny:num_layers=2,hidden_size=64  # quick check

The MiniLM baseline is fine-tuned once (1000 examples, 1 epoch) and cached like the notebook's.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

import workbench as wb
from workbench import compression as C

DEFAULT_VARIANTS = ("ort_fp32_all,ort_fp32_fused,ort_int8_dynamic_per_tensor,ort_int8_dynamic_per_channel,"
                    "ort_int8_static_minmax,torch_int8_dynamic,pruned_heads_50")


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def side_by_side(predictors: dict, feeds: dict, *, rounds: int, warmup: int = 3) -> dict[str, float]:
    """Median seconds per call of each predictor, calls interleaved round by round."""
    for predict in predictors.values():
        for _ in range(warmup):
            predict(feeds)
    seconds = {name: [] for name in predictors}
    for _ in range(rounds):
        for name, predict in predictors.items():
            seconds[name].append(_time(lambda: predict(feeds)))
    return {name: float(np.median(values)) for name, values in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--seq-len", type=int, default=128)
    args = parser.parse_args()

    data = wb.load_dataset("builtin:fine_foods", seed=0)
    tiny = args.model.startswith("tiny")
    base = C.finetune_baseline(data, model=args.model, train_examples=200 if tiny else 1000, validation_examples=200,
                               max_length=128, learning_rate=3e-3 if tiny else 1e-4,
                               cache_dir=C.default_cache_dir(), progress=False)
    model, tokenizer = base["model"], base["tokenizer"]
    config = C.CompressionConfig(max_length=128, calibration_size=32, importance_examples=32)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-compression-") as workdir:
        variants = C.build_variants(model, tokenizer, args.variants.split(","), data=data, workdir=workdir,
                                    config=config, progress=False)
        feeds = C.latency_feeds(tokenizer, data["test"]["text"], batch_size=args.batch_size, seq_len=args.seq_len)
        working = {name: v.runner(args.threads) for name, v in variants.items() if v.status == "ok"}
        medians = side_by_side(working, feeds, rounds=args.rounds)

        print(f"{args.model}: batch {args.batch_size}, seq {args.seq_len}, {args.threads} thread(s), "
              f"{args.rounds} interleaved rounds, cached baseline: {base['cached']}")
        print(f"{'variant':32s} {'p50 ms':>9s} {'speed-up vs fp32_eager':>24s} {'size ratio':>11s}")
        reference, size = medians["fp32_eager"], variants["fp32_eager"].size_mb
        for name, variant in variants.items():
            if name not in medians:
                print(f"{name:32s} {'failed':>9s}  {variant.reason[:80]}")
                continue
            print(f"{name:32s} {medians[name] * 1e3:9.2f} {reference / medians[name]:23.2f}x "
                  f"{variant.size_mb / size:11.2f}")

        # workbench's runner vs the raw library on the same session options
        import onnxruntime as ort

        name = "ort_int8_dynamic_per_channel"
        if name in medians:
            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
            session = ort.InferenceSession(str(variants[name].path), options, providers=["CPUExecutionProvider"])
            inputs = {i.name for i in session.get_inputs()}
            raw_feeds = {k: v for k, v in feeds.items() if k in inputs}
            pair = side_by_side({"workbench": working[name], "raw": lambda _: session.run(None, raw_feeds)}, feeds,
                                rounds=args.rounds)
            print(f"\n{name}: workbench runner / raw InferenceSession.run = "
                  f"{pair['workbench'] / pair['raw']:.3f} (1.00 means no overhead)")


if __name__ == "__main__":
    main()
