"""compare_tokenizers (every metric) vs the raw encode call, side by side, and a 1M-line stream.

Part 1, throughput: for each tokenizer (four trained with HF ``tokenizers``, MiniLM's WordPiece, and
``cl100k_base`` / ``o200k_base`` through the tiktoken adapter), the same texts go through the raw call
(``tokenizers.Tokenizer.encode_batch``, or ``tiktoken.Encoding.encode_ordinary_batch`` with the same
thread count) and through :func:`workbench.tokenization.compare_tokenizers` (every metric, default word
segmenter), after one untimed warm-up of each, interleaved (who goes first alternates), ``--repeats``
times; the median of the per-round ratios (raw / workbench time) is the share of raw throughput kept
while computing all metrics (the same ratio of process CPU times beside it is steadier when other jobs
share the cores). Thread counts are printed.
``continued_word_ratio`` is estimated from the spans of ``SPAN_TEXTS`` evenly spaced texts (the default); the
same metric over every text's spans is computed once, untimed, and the difference printed.
The word segmentation is per corpus, not per tokenizer (``word_spans`` keeps its last results, so every
tokenizer compared on the same texts shares it): it is timed once, first, and printed. Goal: >= 0.8.

Part 2, memory: ``--lines`` lines (sentences of the embedded reviews, repeated) are written to a file and
streamed through ``compare_tokenizers({"bpe": ..., "cl100k_base": ...}, lines, batch_size=...)`` in a
fresh subprocess (an HF and a tiktoken adapter); its peak RSS (``VmHWM``: ``ru_maxrss`` would carry this
process's own peak into the child) is reported. Goal: < 1 GB
for >= 1M lines.

Run: ``.venv/bin/python benchmarks/bench_tokenization.py [--repeats 5] [--lines 1000000]``
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")


def _texts(n_texts: int) -> list[str]:
    from workbench.data import load_dataset

    data = load_dataset("builtin:fine_foods")
    base = [t for split in ("train", "validation", "test") for t in data[split]["text"]]
    return [base[i % len(base)] for i in range(n_texts)]


def throughput(repeats: int, n_texts: int) -> list[dict]:
    from workbench.tokenization import compare_tokenizers, train_tokenizer, word_spans, wrap_tokenizer
    from workbench.tokenization.metrics import SPAN_TEXTS
    from workbench.tokenization.words import DEFAULT_SEGMENTER

    texts = _texts(n_texts)
    tokenizers = {algorithm: train_tokenizer(texts[:4000], algorithm=algorithm, vocab_size=8000)
                  for algorithm in ("bpe", "byte_bpe", "wordpiece", "unigram")}
    tokenizers |= {name: wrap_tokenizer(name) for name in ("minilm", "cl100k_base", "o200k_base")}
    word_spans(texts[:64])  # once per process: the segmenter's character tables
    start = time.perf_counter()
    word_spans(texts)
    print(f"word segmentation ({DEFAULT_SEGMENTER}), once per corpus: {time.perf_counter() - start:.3f} s", flush=True)
    rows = []
    for name, tok in tokenizers.items():
        adapter = wrap_tokenizer(tok)
        if hasattr(adapter.tokenizer, "encode_ordinary_batch"):  # tiktoken, same thread pool size
            def raw(batch, enc=adapter.tokenizer, threads=adapter.threads):
                return enc.encode_ordinary_batch(batch, num_threads=threads)
        else:
            def raw(batch, backend=adapter.tokenizer):
                return backend.encode_batch(batch, add_special_tokens=False)
        raw(texts[:64])
        compare_tokenizers({name: adapter}, texts[:64])
        calls = {"raw": lambda: raw(texts), "ours": lambda: compare_tokenizers({name: adapter}, texts)}
        times: dict[str, list[float]] = {"raw": [], "ours": [], "raw_cpu": [], "ours_cpu": []}
        for round_ in range(repeats):
            for key in ("raw", "ours") if round_ % 2 == 0 else ("ours", "raw"):  # alternate who goes first
                start, cpu = time.perf_counter(), time.process_time()
                calls[key]()
                times[key].append(time.perf_counter() - start)
                times[f"{key}_cpu"].append(time.process_time() - cpu)
        # Each round's two calls share the load of that moment: the ratio is the median of per-round ratios.
        ratio = statistics.median(r / o for r, o in zip(times["raw"], times["ours"]))
        cpu_ratio = statistics.median(r / o for r, o in zip(times["raw_cpu"], times["ours_cpu"]))
        raw_s, mine = statistics.median(times["raw"]), statistics.median(times["ours"])
        continued = {span: compare_tokenizers({name: adapter}, texts, span_texts=span).set_index("metric")
                     .loc["continued_word_ratio", "value"] for span in (SPAN_TEXTS, None)}
        rows.append({"tokenizer": name, "raw_s": raw_s, "workbench_s": mine, "ratio": ratio,
                     "cpu_ratio": cpu_ratio, "threads": adapter.threads,
                     "continued_sampled": continued[SPAN_TEXTS], "continued_all": continued[None]})
        print(f"{name:12s} threads {adapter.threads:2d}  raw {raw_s:6.3f} s   compare_tokenizers {mine:6.3f} s   "
              f"throughput ratio {ratio:5.2f}   (CPU-time ratio {cpu_ratio:4.2f})   continued_word_ratio "
              f"{continued[SPAN_TEXTS]:.4f} ({SPAN_TEXTS:,} texts) vs {continued[None]:.4f} (all)", flush=True)
    return rows


_STREAM = """
import resource, sys, time
from workbench.tokenization import compare_tokenizers, train_tokenizer
path, batch_size = sys.argv[1], int(sys.argv[2])
with open(path, encoding="utf-8") as lines:
    sample = [next(lines).rstrip("\\n") for _ in range(5000)]
tokenizers = {"bpe": train_tokenizer(sample, algorithm="bpe", vocab_size=8000), "cl100k_base": "cl100k_base"}
start = time.perf_counter()
with open(path, encoding="utf-8") as lines:
    frame = compare_tokenizers(tokenizers, (line.rstrip("\\n") for line in lines), batch_size=batch_size)
seconds = time.perf_counter() - start
values = frame.set_index(["tokenizer", "metric"])["value"]
try:  # this process's own high-water mark: Linux's ru_maxrss keeps the parent's peak across fork and exec
    with open("/proc/self/status") as status:
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except OSError:
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"fertility_bpe={values['bpe', 'fertility']:.4f} fertility_cl100k={values['cl100k_base', 'fertility']:.4f} "
      f"seconds={seconds:.1f} peak_rss_mb={peak_kb / 1024:.0f}")
"""


def streaming(n_lines: int, batch_size: int) -> dict:
    sentences = [s.strip() for t in _texts(5000) for s in re.split(r"(?<=[.!?])\s+", t) if s.strip()]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lines.txt"
        with path.open("w", encoding="utf-8") as out:
            for i in range(n_lines):
                out.write(sentences[i % len(sentences)].replace("\n", " ") + "\n")
        size_mb = path.stat().st_size / 2**20
        result = subprocess.run([sys.executable, "-c", _STREAM, str(path), str(batch_size)], check=True,
                                capture_output=True, text=True)
    line = result.stdout.strip().splitlines()[-1]
    values = dict(item.split("=") for item in line.split())
    print(f"streamed {n_lines:,} lines ({size_mb:.0f} MB) in batches of {batch_size:,} through bpe and cl100k_base "
          f"(fertility {values['fertility_bpe']}, {values['fertility_cl100k']}): {values['seconds']} s, "
          f"peak RSS {values['peak_rss_mb']} MB (goal < 1024 MB)", flush=True)
    return {"lines": n_lines, "file_mb": size_mb, **values}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--texts", type=int, default=20000, help="texts per throughput measurement")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    rows = throughput(args.repeats, args.texts)
    worst = min(rows, key=lambda r: r["ratio"])
    print(f"lowest ratio: {worst['ratio']:.2f} ({worst['tokenizer']}); goal >= 0.8: "
          f"{'met' if worst['ratio'] >= 0.8 else 'MISSED'}", flush=True)
    stream = streaming(args.lines, args.batch_size)
    print(f"peak RSS goal < 1 GB: {'met' if float(stream['peak_rss_mb']) < 1024 else 'MISSED'}; "
          f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
