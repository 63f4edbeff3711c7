"""normalize_text grows linearly with the text: time per character at 1k, 10k, 100k and 1M characters.

For each preset of :data:`workbench.text.NORMALIZATIONS` and each kind of text (ordinary prose with a
few URLs, addresses and tags; one long run of mixed whitespace; markup-heavy HTML with unclosed
openings; no spaces at all; a long run of combining marks out of canonical order), the same text cut
to each size is normalized ``--repeats`` times and the fastest run kept (process CPU time, which other
processes on a shared machine disturb far less than wall time). Small sizes repeat the call until a
round lasts ``--min-seconds``.

The figure that matters is the growth ratio between two sizes: (time ratio) / (size ratio), 1.0 for
linear time, 10 for quadratic time over a tenfold size step. The run fails (exit 1) when a ratio from
100k to 1M characters exceeds ``--limit`` (1.5). Before the rewrite, 16,000 spaces took 10.8 s, 16 times
the 0.67 s of 4,000 (ratio 4.0 over a fourfold step).

Run: ``.venv/bin/python benchmarks/bench_text.py [--repeats 3] [--sizes 1000,10000,100000,1000000]``
"""

from __future__ import annotations

import argparse
import sys
import time

from workbench.text import NORMALIZATIONS, normalize_text

_PROSE = ("Great coffee, I order it every month. See https://example.com/coffee?id=7 or write to "
          "shop@example.com. <b>Five stars</b> &amp; fast delivery!\n")
_MARKUP = ("<p class='review'><b>bold</b> &amp; <a href=\"http://x.org/a\">link</a> mail me@x.org "
           "<!-- note --> <script>var a = 1;</script>&#65;&eacute;</p>\n<script <!-- <a ")
TEXTS = {
    "prose": lambda n: _repeat(_PROSE, n),
    "whitespace-heavy": lambda n: "x" + _repeat(" \t\n\u00a0\u3000 ", n - 2) + "y",
    "markup-heavy": lambda n: _repeat(_MARKUP, n),
    "no-space": lambda n: _repeat("abc.def+ghi-jkl_", n),
    "combining marks": lambda n: "a" + _repeat("\u0301\u0316", n - 1),
}


def _repeat(unit: str, n: int) -> str:
    return (unit * (n // len(unit) + 1))[:n]


def seconds_per_call(text: str, options: dict[str, bool], *, repeats: int, min_seconds: float) -> float:
    """Fastest CPU time of one call, over ``repeats`` rounds of enough calls to last ``min_seconds``."""
    normalize_text(text, **options)  # warm-up: builds the lazily compiled tables
    calls, best = 1, float("inf")
    for _ in range(repeats):
        while True:
            start = time.process_time()
            for _ in range(calls):
                normalize_text(text, **options)
            elapsed = time.process_time() - start
            if elapsed >= min_seconds or calls >= 1_000_000:
                break
            calls *= 10
        best = min(best, elapsed / calls)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--min-seconds", type=float, default=0.05)
    parser.add_argument("--limit", type=float, default=1.5, help="largest growth ratio allowed at the last step")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    steps = [f"{_short(a)}->{_short(b)}" for a, b in zip(sizes, sizes[1:])]
    print("| preset | text | " + " | ".join(f"ns/char {_short(n)}" for n in sizes) + " | "
          + " | ".join(f"growth {step}" for step in steps) + " |")
    print("|---|---|" + "---:|" * (len(sizes) + len(steps)))
    worst = (0.0, "")
    for preset, options in NORMALIZATIONS.items():
        for kind, make in TEXTS.items():
            times = [seconds_per_call(make(n), options, repeats=args.repeats, min_seconds=args.min_seconds)
                     for n in sizes]
            growth = [(t2 / t1) / (n2 / n1) if t1 > 0 else float("nan")
                      for (t1, t2), (n1, n2) in zip(zip(times, times[1:]), zip(sizes, sizes[1:]))]
            print(f"| {preset} | {kind} | " + " | ".join(f"{t / n * 1e9:.1f}" for t, n in zip(times, sizes))
                  + " | " + " | ".join(f"{g:.2f}" for g in growth) + " |", flush=True)
            if growth and growth[-1] > worst[0]:
                worst = (growth[-1], f"{preset} / {kind}")
    verdict = "met" if worst[0] <= args.limit else "MISSED"
    print(f"\nlargest growth ratio {steps[-1]}: {worst[0]:.2f} ({worst[1]}); goal <= {args.limit}: {verdict}")
    return 0 if verdict == "met" else 1


def _short(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k" if n >= 1000 else str(n)


if __name__ == "__main__":
    sys.exit(main())
