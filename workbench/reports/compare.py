"""Two runs side by side: the same notebooks' verdicts, headline figures and their differences, with intervals.

:func:`compare_info` reads two run folders into a small :class:`Comparison` (tested by equality);
:func:`write_comparison` renders it as one self-contained HTML page (thumbnails embedded, no
script, every string from a run escaped, absolute paths redacted). ``workbench compare RUN_A RUN_B``
calls both.

>>> figure_delta(0.81, 0.84), figure_delta("a", 1), figure_delta(None, 2.0)
(0.03, None, None)
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from workbench.errors import ParameterError
from workbench.reports.index import _answer_html, _format_value, _headline_figures, figure_label, html_page
from workbench.reports.pages import THUMBNAIL_NAME, thumbnail_uri
from workbench.reports.redact import default_roots, redact_text
from workbench.reports.runs import RunInfo, read_run, resolve_run
from workbench.reports.sidecars import _write_atomic, reports_root


_COMPARE_CSS = """
table.pair td, table.pair th { width: 30%; } table.pair th:first-child { width: 10%; }
td.missing { color: #888; font-style: italic; } h2 { font-size: 1.15rem; margin-top: 1.6rem; }
"""


@dataclass(frozen=True)
class NotebookPair:
    """One notebook in both runs: status, verdict interval and headline figures (key -> (a, b, b - a))."""

    name: str
    status: tuple[str | None, str | None]
    ci95: tuple[tuple[float, float] | None, tuple[float, float] | None]
    figures: dict[str, tuple[Any, Any, float | None]]


@dataclass(frozen=True)
class Comparison:
    """Two runs and their notebooks, in run A's order, then those only in run B."""

    a: RunInfo
    b: RunInfo
    notebooks: tuple[NotebookPair, ...]


def figure_delta(a: Any, b: Any) -> float | None:
    """``b - a`` when both are finite numbers (rounded to 12 digits), else None."""
    numbers = [v for v in (a, b) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    return round(b - a, 12) if len(numbers) == 2 else None


def _ci95(summary: Mapping[str, Any]) -> tuple[float, float] | None:
    verdict = summary.get("verdict")
    interval = verdict.get("ci95") if isinstance(verdict, Mapping) else None
    if isinstance(interval, (list, tuple)) and len(interval) == 2 and all(
            isinstance(v, (int, float)) for v in interval):
        return float(interval[0]), float(interval[1])
    return None


def compare_info(run_a: str | os.PathLike, run_b: str | os.PathLike) -> Comparison:
    """Read two run folders (paths or names under the reports root) into a :class:`Comparison`."""
    a = read_run(resolve_run(run_a, parameter="run_a", func="compare_runs"))
    b = read_run(resolve_run(run_b, parameter="run_b", func="compare_runs"))
    if a.folder.resolve() == b.folder.resolve():
        raise ParameterError(f"The 'run_b' parameter of compare_runs must be another run than run_a. Got "
                             f"{os.fspath(run_b)!r} for both. Fix: pass two run folders.")
    status = {run.name: {str(e.get("name")): str(e.get("status")) for e in run.notebooks} for run in (a, b)}
    names = list(status[a.name]) + [n for n in status[b.name] if n not in status[a.name]]
    pairs = []
    for name in names:
        sa, sb = a.summaries.get(name, {}), b.summaries.get(name, {})
        fa, fb = _headline_figures(sa), _headline_figures(sb)
        keys = list(fa) + [k for k in fb if k not in fa]
        figures = {k: (fa.get(k), fb.get(k), figure_delta(fa.get(k), fb.get(k))) for k in keys}
        pairs.append(NotebookPair(name=name, status=(status[a.name].get(name), status[b.name].get(name)),
                                  ci95=(_ci95(sa), _ci95(sb)), figures=figures))
    return Comparison(a=a, b=b, notebooks=tuple(pairs))


def _interval(ci: tuple[float, float] | None) -> str:
    return "n/a" if ci is None else f"[{_format_value(ci[0])}, {_format_value(ci[1])}]"


def _signed(delta: float | None) -> str:
    return "" if delta is None else ("+" if delta > 0 else "") + _format_value(delta)


def _run_cell(run: RunInfo, name: str, status: str | None, page: Path) -> str:
    esc = html.escape
    if status is None:
        return '<td class="missing">not in this run</td>'
    uri = thumbnail_uri(run.folder / name / THUMBNAIL_NAME)
    picture = f'<img class="thumb" alt="key plot of {esc(name)} in {esc(run.name)}" src="{uri}">' if uri else ""
    entry = next((e for e in run.notebooks if e.get("name") == name), {})
    link = ""
    if entry.get("html"):
        href = os.path.relpath(run.folder / str(entry["html"]), page.parent)
        link = f' · <a href="{esc(quote(Path(href).as_posix()))}">report</a>'
    return (f'<td>{picture}<span class="status {esc(status)}">{esc(status)}</span>{link}'
            f'<div>{_answer_html(run.summaries.get(name, {}))}</div></td>')


def render_comparison(info: Comparison, page: Path) -> str:
    """The comparison as an HTML page (links relative to ``page``)."""
    esc = html.escape
    head = "".join(
        f"<tr><th>{label}</th><td>{esc(get(info.a))}</td><td>{esc(get(info.b))}</td></tr>"
        for label, get in (("Run", lambda r: r.name), ("Date", lambda r: r.created.replace("T", " ")),
                           ("Profile", lambda r: r.profile), ("Data", lambda r: r.dataset),
                           ("Machine", lambda r: r.machine)))
    sections = []
    for pair in info.notebooks:
        rows = [f"<tr><th>verdict</th>{_run_cell(info.a, pair.name, pair.status[0], page)}"
                f"{_run_cell(info.b, pair.name, pair.status[1], page)}<td></td></tr>",
                f'<tr><th>95% interval</th><td class="num">{_interval(pair.ci95[0])}</td>'
                f'<td class="num">{_interval(pair.ci95[1])}</td><td></td></tr>']
        rows += [f"<tr><th>{esc(figure_label(key))}</th><td class=\"num\">{esc(_format_value(a))}</td>"
                 f'<td class="num">{esc(_format_value(b))}</td><td class="num">{esc(_signed(delta))}</td></tr>'
                 for key, (a, b, delta) in pair.figures.items()]
        sections.append(f"<h2>{esc(pair.name)}</h2>\n<table class=\"pair\"><thead><tr><th></th>"
                        f"<th>{esc(info.a.name)}</th><th>{esc(info.b.name)}</th><th>B − A</th></tr></thead>"
                        f"<tbody>{''.join(rows)}</tbody></table>")
    body = f"""<h1>nlp-workbench: two runs side by side</h1>
<p class="meta">A = <code>{esc(info.a.name)}</code>, B = <code>{esc(info.b.name)}</code> ·
differences are B − A · {datetime.now().strftime("%Y-%m-%d %H:%M")}</p>
<table><tbody>{head}</tbody></table>
{chr(10).join(sections)}"""
    return html_page(f"nlp-workbench: {esc(info.a.name)} vs {esc(info.b.name)}", body, css=_COMPARE_CSS)


def compare_runs(run_a: str | os.PathLike, run_b: str | os.PathLike, *,
                 output: str | os.PathLike | None = None) -> Path:
    """Write the page comparing two runs; return its path.

    Parameters
    ----------
    run_a, run_b : str or Path
        Run folders: paths, or folder names under the reports root.
    output : str or Path, optional
        Where the page goes; default ``<reports root>/compare/<A>-vs-<B>.html``.

    Examples
    --------
    >>> compare_runs("20250101-120000", "20250102-090000")  # doctest: +SKIP
    PosixPath('reports/compare/20250101-120000-vs-20250102-090000.html')
    """
    info = compare_info(run_a, run_b)
    page = Path(output) if output is not None else reports_root() / "compare" / f"{info.a.name}-vs-{info.b.name}.html"
    if page.suffix.lower() not in (".html", ".htm"):
        raise ParameterError(f"The 'output' parameter of compare_runs must be an .html file. Got {str(page)!r} "
                             f"instead. Fix: pass a path ending in .html.")
    page.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(page, redact_text(render_comparison(info, page), roots=default_roots()))
    return page
