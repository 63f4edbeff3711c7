"""Nothing private in a shareable run folder: passwords in URLs and absolute paths are rewritten.

Every text file of a run folder (the HTML pages, the executed ``.ipynb`` with papermill's injected
cell and metadata, ``summary.json``, ``results.csv``, ``run.json``, ``index.html``) passes through
:func:`redact_text`: ``scheme://user:password@host`` loses its password, and absolute paths under
the project or the working folder become relative, those under the home folder start with ``~``.

>>> redact_text("postgresql://u:secret@localhost/db", roots={})
'postgresql://u:***@localhost/db'
>>> redact_text("read /home/ann/proj/data/x.csv", roots={"/home/ann/proj": "", "/home/ann": "~"})
'read data/x.csv'
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

# user:password@ after a URL scheme; the password stops at the first @, /, space or quote.
# The scheme starts where no scheme character precedes (not at every \b), and its possessive run never
# backtracks, so a long run like "a.a.a." is read once: linear time.
_URL_PASSWORD = re.compile(r"(?P<head>(?<![\w+.-])[A-Za-z][\w+.-]*+://[^\s:/@\"'<>]*+:)(?P<password>[^\s@/\"'<>]++)(?=@)")
TEXT_SUFFIXES = (".html", ".ipynb", ".json", ".csv", ".txt", ".md", ".log", ".yaml", ".yml")
_MAX_BYTES = 512 * 1024 * 1024


def default_roots(*extra: str | os.PathLike) -> dict[str, str]:
    """Absolute folders to hide and what replaces them: project and working folder -> relative, home -> ``~``.

    >>> default_roots()[str(Path.home())]
    '~'
    """
    from workbench.reports.parameters import _REPO_ROOT

    roots = {str(Path.home()): "~"}
    for folder in (*extra, Path.cwd(), _REPO_ROOT):
        roots[str(Path(folder).resolve())] = ""
    # "/" as home (some containers) would turn every path into ~/...
    return {folder: value for folder, value in roots.items() if folder not in ("/", "")}


def redact_text(text: str, *, roots: Mapping[str, str]) -> str:
    """Rewrite URL passwords and absolute paths under ``roots`` (longest folder first)."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + "***", text)
    for folder in sorted(roots, key=len, reverse=True):
        replacement = roots[folder]
        pattern = re.escape(folder) + r"(?P<sep>/|(?=[^\w.-])|$)"
        def swap(match: re.Match, replacement: str = replacement) -> str:
            if match.group("sep"):
                return f"{replacement}/" if replacement else ""
            return replacement or "."
        text = re.sub(pattern, swap, text)
    return text


def redact_folder(folder: str | os.PathLike, *, roots: Mapping[str, str] | None = None) -> list[Path]:
    """Redact every text file under ``folder`` in place; return the files changed.

    Binary files (a study's SQLite database, images) and files that are not UTF-8 are left alone.
    """
    roots = default_roots() if roots is None else roots
    changed = []
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file() or path.suffix.lower() not in TEXT_SUFFIXES or path.stat().st_size > _MAX_BYTES:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        clean = redact_text(text, roots=roots)
        if clean != text:
            from workbench.reports.sidecars import _write_atomic

            _write_atomic(path, clean)
            changed.append(path)
    return changed
