"""Run folders: find one by name, read what it holds, and list them all in ``<reports root>/index.html``.

A run folder is any folder with a ``run.json`` (written by :func:`workbench.reports.run_report`).
:func:`write_runs_index` lists every run folder directly under the reports root (newest first):
date, profile, data set, machine (CPU model), and each notebook's status and verdict answer. The
runner regenerates it after every run; every string from a run is escaped.

>>> resolve_run("no-such-run", parameter="run_a", func="compare_runs")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
workbench.errors.ParameterError: The 'run_a' parameter of compare_runs must be a run folder holding run.json ...
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from workbench.errors import ParameterError, first_line
from workbench.reports.index import _read_summary, html_page
from workbench.reports.sidecars import _write_atomic, reports_root


@dataclass(frozen=True)
class RunInfo:
    """What a run folder says about itself: ``run.json`` plus each notebook's ``summary.json``."""

    folder: Path
    document: dict[str, Any]
    summaries: dict[str, dict[str, Any]]

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def notebooks(self) -> list[dict[str, Any]]:
        return [entry for entry in self.document.get("notebooks", []) if isinstance(entry, Mapping)]

    @property
    def created(self) -> str:
        return str(self.document.get("created", ""))

    @property
    def profile(self) -> str:
        return str(self.document.get("profile", ""))

    @property
    def values(self) -> dict[str, Any]:
        """The parameters the run gave its notebooks (profile and output folder aside), for ``--rerun-failed``."""
        values: dict[str, Any] = {}
        for entry in self.notebooks:
            for key, value in (entry.get("parameters") or {}).items():
                if key not in ("profile", "output_dir"):
                    values.setdefault(key, value)
        return values

    @property
    def machine(self) -> str:
        """The CPU model: from ``run.json["machine"]``, else from a notebook's recorded environment."""
        machine = self.document.get("machine")
        if isinstance(machine, Mapping) and machine.get("cpu"):
            return str(machine["cpu"])
        for summary in self.summaries.values():
            cpu = (summary.get("environment") or {}).get("cpu") or {}
            if isinstance(cpu, Mapping) and cpu.get("model"):
                return str(cpu["model"])
        return "unknown"

    @property
    def dataset(self) -> str:
        """The data set: a notebook's recorded source, else its ``dataset`` parameter, else "default"."""
        for summary in self.summaries.values():
            source = (summary.get("dataset") or {}).get("source") if isinstance(summary.get("dataset"), Mapping) else None
            if source and source != "unknown":
                return _short(str(source))
        for entry in self.notebooks:
            value = (entry.get("parameters") or {}).get("dataset")
            if value:
                return _short(str(value))
        return "default"


def _short(source: str) -> str:
    """An absolute path as its file name: a shared page names the data, not where it lives."""
    return Path(source).name if os.path.isabs(source) else source


def read_run(folder: str | os.PathLike) -> RunInfo:
    """Read a run folder (its ``run.json`` and the notebooks' ``summary.json``)."""
    folder = Path(folder)
    try:
        document = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ParameterError(f"The run folder {folder.name!r} must hold a readable run.json. Got one that is not "
                             f"JSON ({first_line(exc)}). Fix: pick another run.") from None
    summaries = {}
    for entry in document.get("notebooks", []):
        if isinstance(entry, Mapping) and entry.get("summary"):
            summaries[str(entry["name"])] = _read_summary(folder / str(entry["summary"]))
    return RunInfo(folder=folder, document=document, summaries=summaries)


def resolve_run(run: str | os.PathLike, *, parameter: str, func: str) -> Path:
    """A run given as a path or as a folder name under the reports root; the folder must hold ``run.json``."""
    text = os.fspath(run) if isinstance(run, (str, os.PathLike)) else None
    for folder in ([Path(text), reports_root() / text] if text else []):
        if (folder / "run.json").is_file():
            return folder
    raise ParameterError(f"The {parameter!r} parameter of {func} must be a run folder holding run.json "
                         f"(a path, or a folder name under {reports_root()}). Got {run!r} instead. "
                         f"Fix: pick a run listed in {reports_root() / 'index.html'}.")


def list_runs(root: Path | None = None) -> list[RunInfo]:
    """Every readable run folder directly under ``root`` (default: the reports root), newest first."""
    root = reports_root() if root is None else Path(root)
    runs = []
    for path in sorted(root.glob("*/run.json")) if root.is_dir() else []:
        try:
            runs.append(read_run(path.parent))
        except (OSError, ValueError):
            continue  # a run being written, or a damaged one: leave it out of the list
    return sorted(runs, key=lambda run: (run.created, run.name), reverse=True)


def answer_word(summary: Mapping[str, Any]) -> str:
    """A verdict's answer (``pays off``, ...), or '' when the notebook has none.

    >>> answer_word({"verdict": {"answer": "pays off"}}), answer_word({})
    ('pays off', '')
    """
    verdict = summary.get("verdict")
    return str(verdict.get("answer", "")) if isinstance(verdict, Mapping) else ""


def write_runs_index(root: Path | None = None) -> Path:
    """Write ``<root>/index.html``: one row per run folder under ``root`` (default: the reports root)."""
    esc = html.escape
    root = reports_root() if root is None else Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for run in list_runs(root):
        items = []
        for entry in run.notebooks:
            name, status = str(entry.get("name", "")), str(entry.get("status", ""))
            answer = answer_word(run.summaries.get(name, {}))
            answer_html = (f' <span class="answer {esc(answer.replace(" ", "-"))}">{esc(answer)}</span>'
                           if answer else "")
            items.append(f'<li><b>{esc(name)}</b> <span class="status {esc(status)}">{esc(status)}</span>'
                         f"{answer_html}</li>")
        link = f'<a href="{esc(quote(run.name))}/index.html">{esc(run.name)}</a>'
        rows.append(f"<tr><td>{link}</td><td>{esc(run.created.replace('T', ' '))}</td><td>{esc(run.profile)}</td>"
                    f"<td><code>{esc(run.dataset)}</code></td><td>{esc(run.machine)}</td>"
                    f'<td><ul class="figures">{"".join(items)}</ul></td></tr>')
    body = f"""<h1>nlp-workbench runs</h1>
<p class="meta">{len(rows)} run folders · compare two with <code>workbench compare RUN_A RUN_B</code> ·
{datetime.now().strftime("%Y-%m-%d %H:%M")}</p>
<table>
<thead><tr><th>Run</th><th>Date</th><th>Profile</th><th>Data</th><th>Machine</th><th>Notebooks</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>"""
    page = html_page("nlp-workbench runs", body)
    path = root / "index.html"
    _write_atomic(path, page)
    return path
