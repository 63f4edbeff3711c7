"""Live progress of a report run: a log file per notebook, and the running notebook and section on the terminal.

papermill does the logging: its ``stdout_file`` and ``stderr_file`` options receive every stream
output of the kernel as it arrives, and both point at ``<notebook>/log.txt`` (line-buffered, so
``tail -f`` shows it). nbclient's ``on_cell_start`` hook (passed through papermill's engine keyword
arguments) tells :class:`RunProgress` which cell starts; the last markdown heading seen names the
section. tqdm draws one bar for the whole run; on a terminal its postfix shows what is running
(``data › Baselines (cell 7/21)``), elsewhere (CI logs) each new section is one line.

>>> section_of("Intro text\\n## Baselines: what to beat\\nmore")
'Baselines: what to beat'
>>> section_of("no heading") is None
True
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator

_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
LOG_NAME = "log.txt"


def section_of(markdown: str) -> str | None:
    """The last markdown heading of a cell's source, or None when it has none."""
    headings = _HEADING.findall(markdown)
    return headings[-1].strip() if headings else None


class RunProgress:
    """One tqdm bar over the notebooks of a run, plus what each running notebook is doing.

    Thread-safe: notebooks run in worker threads and report through :meth:`cell_hook`.
    """

    def __init__(self, names: Iterable[str], *, file: IO[str] | None = None) -> None:
        from tqdm.auto import tqdm

        self.file = file if file is not None else sys.stderr
        names = list(names)
        # disable=None: a bar on terminals only; CI logs get one line per event instead.
        self.bar = tqdm(total=len(names), desc="notebooks", unit="nb", file=self.file, disable=None)
        self._running: dict[str, str] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.bar.close()

    def say(self, line: str) -> None:
        """A line above the bar (or on its own without a terminal)."""
        with self._lock:
            self.bar.write(line, file=self.file)

    def started(self, name: str) -> None:
        self._show(name, "starting")

    def finished(self, name: str, line: str) -> None:
        with self._lock:
            self._running.pop(name, None)
            self.bar.write(line, file=self.file)
            self.bar.update()
            self._refresh()

    def cell_hook(self, name: str, n_cells: int, log: IO[str] | None = None) -> Callable[..., None]:
        """An ``on_cell_start`` hook for nbclient: tracks the section, writes it into ``log``."""
        section = {"title": None}

        def on_cell_start(cell: Any = None, cell_index: int = 0, **_: Any) -> None:
            if cell is None:
                return
            if cell.get("cell_type") == "markdown":
                title = section_of(cell.get("source", ""))
                if title and title != section["title"]:
                    section["title"] = title
                    if log is not None:
                        log.write(f"\n# {title}\n")
                        log.flush()
                    if self.bar.disable:
                        self.say(f"{name}: {title}")
                return
            where = f"{section['title']} " if section["title"] else ""
            self._show(name, f"{where}(cell {cell_index + 1}/{n_cells})")

        return on_cell_start

    def _show(self, name: str, what: str) -> None:
        with self._lock:
            self._running[name] = what
            self._refresh()

    def _refresh(self) -> None:
        text = " | ".join(f"{name} › {what}" for name, what in self._running.items())
        self.bar.set_postfix_str(text[:120], refresh=True)


@contextmanager
def notebook_log(folder: Path) -> Iterator[IO[str]]:
    """``<folder>/log.txt``, opened line-buffered for papermill's ``stdout_file``/``stderr_file``."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOG_NAME, "w", encoding="utf-8", buffering=1) as stream:
        yield stream
