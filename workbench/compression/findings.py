"""What the compression report means, in escaped Markdown: compute the facts, then word them.

:func:`compression_facts` gathers what the "What this means" cell says (the decision, the fastest
variant of each method, the precision probe, the CPU's int8 instructions, the reference points and
the failures) into a plain dict that tests compare exactly; :func:`compression_findings` renders
it. Every variant name, reason and reference text goes through ``html.escape`` and Markdown escaping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from workbench import hardware
from workbench.compression.config import BASELINE
from workbench.verdicts import findings_markdown
from workbench.verdicts.findings import _md

__all__ = ["compression_facts", "compression_findings", "int8_hardware_note"]


def int8_hardware_note(flags=None) -> dict[str, Any]:
    """What this CPU's instructions mean for int8 speed, from :mod:`workbench.hardware`.

    ONNX Runtime's int8 kernels use VNNI dot products (AVX512-VNNI or AVX-VNNI) where the CPU has
    them; on AVX2 alone they multiply u8 x s8 with ``vpmaddubsw``, which saturates int16, so weights
    are quantized to 7 bits (``reduce_range``) and the gain over fp32 is smaller (ONNX Runtime's
    quantization documentation).

    >>> int8_hardware_note({"avx2"})["vnni"], int8_hardware_note({"avx512_vnni", "avx512f"})["reduce_range"]
    (False, False)
    """
    vnni = hardware.cpu_has_vnni(flags)
    avx512 = hardware.cpu_has_avx512(flags)
    if vnni:
        text = ("this CPU has VNNI (int8 dot-product instructions), so ONNX Runtime's int8 kernels run at full "
                "8-bit range, without reduce_range")
    else:
        text = ("this CPU lacks VNNI (AVX2 only): ONNX Runtime multiplies u8 x s8 with vpmaddubsw, which "
                "saturates int16, so weights are quantized to 7 bits (reduce_range) and int8 gains less over "
                "fp32 than on a VNNI CPU")
    return {"vnni": vnni, "avx512": avx512, "reduce_range": not vnni, "text": text}


def _fastest_by_method(table: pd.DataFrame) -> list[dict[str, Any]]:
    ok = table[(table.status == "ok") & table.speedup_b1.notna() & (table.variant != BASELINE)]
    rows = []
    for method, group in ok.groupby("method", sort=True):
        best = group.sort_values(["latency_ms_p50_b1", "variant"]).iloc[0]
        rows.append({"method": method, "variant": best.variant, "speedup_b1": float(best.speedup_b1),
                     "delta_accuracy": float(best.delta_accuracy), "size_ratio": float(best.size_ratio)})
    return rows


def _passed_over(table: pd.DataFrame, decision: Mapping[str, Any], limit: int = 3) -> list[dict[str, Any]]:
    """The fastest variants quicker than the recommendation that validation could not show non-inferior."""
    ok = table[(table.status == "ok") & table.speedup_b1.notna()].set_index("variant")
    chosen = decision["recommended"]
    floor = float(ok.at[chosen, "speedup_b1"]) if chosen in ok.index else 1.0
    rows = [{"variant": name, "speedup_b1": float(ok.at[name, "speedup_b1"]), "delta": v["delta"],
             "ci95": list(v["ci95"]), "n_examples": v["n_examples"], "examples_needed": v["examples_needed"]}
            for name, v in decision.get("validation", {}).items()
            if name in ok.index and not v["non_inferior"] and ok.at[name, "speedup_b1"] > floor]
    return sorted(rows, key=lambda r: (-r["speedup_b1"], r["variant"]))[:limit]


def compression_facts(table: pd.DataFrame, decision: Mapping[str, Any], *, probe: pd.DataFrame | None = None,
                      references: pd.DataFrame | None = None, flags=None) -> dict[str, Any]:
    """The facts :func:`compression_findings` words, as plain values (tested exactly).

    >>> table = pd.DataFrame({"variant": ["fp32_eager", "int8"], "method": ["precision", "quantization"],
    ...                       "status": ["ok", "ok"], "reason": ["", ""], "speedup_b1": [1.0, 4.0],
    ...                       "latency_ms_p50_b1": [20.0, 5.0], "delta_accuracy": [0.0, -0.004],
    ...                       "size_ratio": [1.0, 0.25]})
    >>> facts = compression_facts(table, {"recommended": "int8", "choice": "int8", "tolerance": 0.01,
    ...                                   "non_inferior": ["int8"], "verdict": None}, flags={"avx2"})
    >>> facts["recommended"], facts["speedup_b1"], facts["int8"]["reduce_range"]
    ('int8', 4.0, True)
    """
    rows = table.set_index("variant")
    chosen = decision["recommended"]
    facts = {"recommended": chosen, "choice": decision["choice"], "tolerance": decision["tolerance"],
             "non_inferior": list(decision["non_inferior"]),
             "speedup_b1": float(rows.at[chosen, "speedup_b1"]) if chosen in rows.index else None,
             "size_ratio": float(rows.at[chosen, "size_ratio"]) if chosen in rows.index else None,
             "seq_len": int(rows["seq_len"].iloc[0]) if "seq_len" in rows and len(rows) else None,
             "by_method": _fastest_by_method(table), "int8": int8_hardware_note(flags),
             "failed": [(r.variant, r.reason) for r in table[table.status != "ok"].itertuples()],
             "passed_over": _passed_over(table, decision), "bf16": None, "references": []}
    if probe is not None and (probe.dtype == "bfloat16").any():
        bf16 = probe[probe.dtype == "bfloat16"].iloc[0]
        facts["bf16"] = {"native": bool(bf16.native), "slowdown": float(bf16.slowdown)}
    if references is not None:
        facts["references"] = [r._asdict() for r in references.itertuples(index=False) if pd.notna(r.ours)]
    return facts


def compression_findings(table: pd.DataFrame, decision: Mapping[str, Any], *, probe: pd.DataFrame | None = None,
                         references: pd.DataFrame | None = None, flags=None) -> str:
    """The "What this means" Markdown: the verdict, the recommendation, then what each method gave here.

    >>> table = pd.DataFrame({"variant": ["fp32_eager", "x*"], "method": ["precision", "pruning"],
    ...                       "status": ["ok", "failed"], "reason": ["", "<b>no</b>"], "speedup_b1": [1.0, None],
    ...                       "latency_ms_p50_b1": [20.0, None], "delta_accuracy": [0.0, None],
    ...                       "size_ratio": [1.0, None]})
    >>> text = compression_findings(table, {"recommended": "fp32_eager", "choice": "x*", "tolerance": 0.01,
    ...                                     "non_inferior": [], "verdict": None}, flags={"avx2"})
    >>> "x\\\\*" in text and "&lt;b&gt;" in text
    True
    """
    f = compression_facts(table, decision, probe=probe, references=references, flags=flags)
    points = 100 * f["tolerance"]
    lines = [findings_markdown(decision["verdict"]), ""] if decision.get("verdict") else []
    if f["recommended"] == BASELINE:
        lines.append(f"- **Recommendation: stay with fp32 eager.** No compressed variant was non-inferior at "
                     f"{points:g} point(s) on validation and faster.")
    else:
        lines.append(f"- **Recommendation: {_md(f['recommended'])}**, the fastest variant whose lower 95% bound of "
                     f"Δ on validation is at least −{points:g} point(s): {f['speedup_b1']:.2f}x the speed of fp32 "
                     f"eager at batch 1, sequence {f['seq_len']}, 1 thread, {f['size_ratio']:.2f}x the size.")
    if f["non_inferior"]:
        lines.append("- Non-inferior on validation: " + ", ".join(_md(n) for n in f["non_inferior"]) + ".")
    for row in f["passed_over"]:
        low, high = row["ci95"]
        on = f" on {row['n_examples']:,} examples" if row["n_examples"] else ""
        if row["examples_needed"] is None:
            why = f"its Δ is below −{points:g} point(s), so no validation set would show it within the margin"
        else:
            why = (f"about {row['examples_needed']:,} validation examples would show it within {points:g} point(s), "
                   "if this Δ and its spread held")
        lines.append(f"- Faster, not shown within {points:g} point(s): {_md(row['variant'])}, "
                     f"{row['speedup_b1']:.2f}x the speed; Δ on validation {100 * row['delta']:+.2f} points "
                     f"(95% CI {100 * low:+.2f} to {100 * high:+.2f}){on}; {why}.")
    for row in f["by_method"]:
        lines.append(f"- Fastest {_md(row['method'])} variant: {_md(row['variant'])}, {row['speedup_b1']:.2f}x "
                     f"the speed, {100 * row['delta_accuracy']:+.2f} accuracy points on test, "
                     f"{row['size_ratio']:.2f}x the size.")
    if f["bf16"] is not None:
        native = "native" if f["bf16"]["native"] else "emulated"
        lines.append(f"- bf16 is {native} on this CPU: a batch-1 call takes {f['bf16']['slowdown']:.2f}x as long as "
                     "fp32 in the probe.")
    lines.append(f"- int8 here: {f['int8']['text']}.")
    for ref in f["references"]:
        lines.append(f"- {_md(ref['reference'])} ({_md(ref['detail'])}): {_md(ref['metric'])} "
                     f"{ref['reference_value']:.3g} there, {ref['ours']:.3g} here ({_md(ref['variant'])}).")
    if f["failed"]:
        lines.append("- Could not run here: " + "; ".join(f"{_md(n)} ({_md(r)})" for n, r in f["failed"]) + ".")
    return "\n".join(lines)
