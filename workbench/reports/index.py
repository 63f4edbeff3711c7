"""``run.json`` and ``index.html``: one row per notebook of a run; every notebook-provided string escaped."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from workbench.reports.pages import THUMBNAIL_NAME, thumbnail_uri
from workbench.reports.sidecars import RESERVED_SUMMARY_KEYS, _to_json, _write_atomic

if TYPE_CHECKING:
    from workbench.reports.runner import NotebookRun



def _relative(path: Path | None, run_dir: Path) -> str | None:
    return None if path is None else path.resolve().relative_to(run_dir.resolve()).as_posix()


def _write_run_json(run_dir: Path, runs: list[NotebookRun], *, settings: Mapping[str, Any],
                    parameters: Mapping[str, Mapping[str, Any]]) -> Path:
    """``run.json``: the run's settings (profile, jobs, ...), the machine and one entry per notebook."""
    from workbench.environment import cpu_info

    cpu = cpu_info()
    document = {
        "created": datetime.now().isoformat(timespec="seconds"),
        **settings,
        "machine": {"cpu": cpu["model"], "usable_cores": cpu["usable_cores"]},
        "ok": all(run.status in ("ok", "cached") for run in runs) and not settings.get("interrupted"),
        "notebooks": [
            {"name": run.name, "status": run.status, "seconds": round(run.seconds, 3),
             "error": run.error, "detail": list(run.detail), "beside_others": run.beside_others,
             "cached_from": run.cached_from, "cache_key": run.cache_key,
             "parameters": parameters[run.name],
             **{kind: _relative(getattr(run, kind), run_dir)
                for kind in ("html", "ipynb", "summary", "results")}}
            for run in runs
        ],
    }
    path = run_dir / "run.json"
    _write_atomic(path, json.dumps(_to_json(document, "run"), indent=2) + "\n")
    return path


def _read_summary(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def _headline_figures(summary: Mapping[str, Any], *, limit: int = 8) -> dict[str, Any]:
    """Pick the figures an index row shows: the ``headline`` keys, else numeric leaves.

    >>> _headline_figures({"accuracy": 0.8, "latency": {"p50_ms": 3.1}, "params": {"seed": 0}})
    {'accuracy': 0.8, 'latency.p50_ms': 3.1}
    """
    leaves = _flatten({k: v for k, v in summary.items()
                       if k not in (*RESERVED_SUMMARY_KEYS, "headline")}, max_depth=3)
    wanted = summary.get("headline")
    if isinstance(wanted, list) and wanted:
        return {key: leaves[key] for key in map(str, wanted) if key in leaves}
    leaves.pop("verdict", None)
    numeric = {k: v for k, v in leaves.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return dict(list(numeric.items())[:limit])


def figure_label(dotted: str) -> str:
    """A dotted summary key as a reader's label: ``baselines.tfidf_logreg.accuracy`` -> ``tfidf logreg accuracy``.

    The first part is dropped when there are three or more (it names the section, not the figure).

    >>> figure_label("baselines.tfidf_logreg.accuracy"), figure_label("strategies.tpe_pruning.epochs_to_target")
    ('tfidf logreg accuracy', 'tpe pruning epochs to target')
    """
    parts = dotted.split(".")
    if len(parts) >= 3:
        parts = parts[1:]
    return " ".join(part.replace("_", " ") for part in parts)


def _answer_html(summary: Mapping[str, Any]) -> str:
    """The verdict's answer sentence (escaped by :func:`workbench.verdicts.answer_sentence`), or ''."""
    verdict = summary.get("verdict")
    if not isinstance(verdict, Mapping):
        return ""
    try:
        from workbench.verdicts import answer_sentence

        sentence = answer_sentence(verdict)
    except Exception as error:  # a malformed verdict must not break the index of a whole run
        return f'<span class="error">unreadable verdict ({html.escape(type(error).__name__)})</span>'
    answer = html.escape(str(verdict.get("answer", "")))
    return f'<span class="answer {answer.replace(" ", "-")}">{sentence}</span>'


def _flatten(tree: Mapping[str, Any], *, max_depth: int, prefix: str = "") -> dict[str, Any]:
    leaves: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if max_depth > 1:
                leaves.update(_flatten(value, max_depth=max_depth - 1, prefix=f"{dotted}."))
        else:
            leaves[dotted] = value
    return leaves


def _dataset_text(summary: Mapping[str, Any]) -> str:
    dataset = summary.get("dataset")
    if not isinstance(dataset, Mapping):
        return ""
    parts = []
    if dataset.get("hash"):
        parts.append(str(dataset["hash"])[:12])
    sizes = dataset.get("sizes")
    if isinstance(sizes, Mapping):
        parts.append(" / ".join(f"{split} {size}" for split, size in sizes.items()))
    elif sizes is not None:
        parts.append(str(sizes))
    return " · ".join(parts)


def _format_value(value: Any) -> str:
    """An index figure as text; a missing or undefined figure (None, NaN) reads "n/a".

    >>> [_format_value(v) for v in (None, float("nan"), 0.81234, 960000)]
    ['n/a', 'n/a', '0.8123', '960,000']
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


_INDEX_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 72rem; padding: 0 1rem; color: #1d1d1f; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; } p.meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .45rem .6rem; border-bottom: 1px solid #ddd; }
th { font-weight: 600; background: #f5f5f7; } td.num { text-align: right; white-space: nowrap; }
.status { font-weight: 600; padding: .1rem .45rem; border-radius: .3rem; }
.ok { color: #0a6b2d; background: #dff5e6; } .failed { color: #a11; background: #fde4e4; }
.degraded { color: #8a5a00; background: #fff1d6; } .cached { color: #1f4e8c; background: #e3edfb; }
img.thumb { display: block; width: 120px; height: auto; border: 1px solid #ddd; border-radius: .2rem; }
.answer { font-weight: 500; } .answer.pays-off { color: #0a6b2d; } .answer.costs-accuracy { color: #a11; } .note { color: #666; font-size: .9em; margin-top: .3rem; }
.error { color: #a11; font-size: .9em; margin-top: .3rem; }
ul.figures { list-style: none; margin: 0; padding: 0; } ul.figures li { white-space: nowrap; }
.files a { margin-right: .6rem; } code { font-size: .9em; }
"""


def html_page(title: str, body: str, *, css: str = "") -> str:
    """A self-contained page around ``body`` (both ``title`` and ``body`` already escaped HTML).

    >>> html_page("t", "<p>x</p>").splitlines()[0]
    '<!DOCTYPE html>'
    """
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{_INDEX_CSS}{css}</style>
</head>
<body>
{body}
</body>
</html>
"""


def _write_index(run_dir: Path, runs: list[NotebookRun], *, profile: str, interrupted: bool = False,
                 all_runs: bool = False) -> Path:
    """Write ``index.html``: one row per notebook; every notebook-provided string is escaped.

    ``all_runs``: the run folder sits in the reports root, so link its list of runs (``../index.html``).
    """
    esc = html.escape
    rows = []
    for run in runs:
        summary = _read_summary(run.summary)
        figures = "".join(f"<li>{esc(figure_label(key))}: <b>{esc(_format_value(value))}</b></li>"
                          for key, value in _headline_figures(summary).items())
        links = " ".join(
            f'<a href="{esc(quote(_relative(path, run_dir)))}">{label}</a>'
            for label, path in (("report", run.html), ("notebook", run.ipynb),
                                ("summary.json", run.summary), ("results.csv", run.results))
            if path is not None)
        notes = [f'<div class="error">{esc(run.error)}</div>'] if run.error else []
        if run.beside_others:
            notes.append('<div class="note">timed while other notebooks shared the cores (--parallel-timing)</div>')
        if run.cached_from:
            notes.append(f'<div class="note">reused from run {esc(run.cached_from)} (inputs unchanged)</div>')
        label = f"degraded: {'; '.join(run.detail)}" if run.status == "degraded" and run.detail else run.status
        uri = thumbnail_uri(run.folder / THUMBNAIL_NAME)
        picture = f'<img class="thumb" alt="key plot of {esc(run.name)}" src="{uri}">' if uri else ""
        rows.append(
            f"<tr><td>{picture}</td><td><b>{esc(run.name)}</b></td><td>{_answer_html(summary)}</td>"
            f'<td><span class="status {esc(run.status)}">{esc(label)}</span>{"".join(notes)}</td>'
            f'<td class="num">{run.seconds:.1f} s</td>'
            f"<td><code>{esc(_dataset_text(summary))}</code></td>"
            f'<td><ul class="figures">{figures}</ul></td>'
            f'<td class="files">{links}</td></tr>')
    counts = {state: sum(run.status == state for run in runs) for state in ("ok", "cached", "degraded", "failed")}
    banner = ('<p class="error">Interrupted (Ctrl-C): the notebooks marked failed did not finish.</p>'
              if interrupted else "")
    body = f"""<h1>nlp-workbench report <code>{esc(run_dir.name)}</code></h1>
<p class="meta">profile {esc(profile)} · {counts["ok"]} ok, {counts["cached"]} cached, {counts["degraded"]} degraded,
{counts["failed"]} failed ·{' <a href="../index.html">all runs</a> ·' if all_runs else ""}
{datetime.now().strftime("%Y-%m-%d %H:%M")}</p>
{banner}
<table>
<thead><tr><th>Plot</th><th>Notebook</th><th>Answer</th><th>Status</th><th>Duration</th><th>Data</th>
<th>Details</th><th>Files</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>"""
    page = html_page(f"nlp-workbench report {esc(run_dir.name)}", body)
    path = run_dir / "index.html"
    _write_atomic(path, page)
    return path
