"""Report pages that read well: no progress bars as stderr blocks, no 0..n index column, a thumbnail per notebook.

:func:`tidy_notebook` rewrites an executed notebook before nbconvert renders it:

- tqdm lines leave ``stderr``: a cell's stderr is read as a terminal shows it (carriage returns
  applied), its progress bars become plain output (their final state only) and what else it said
  (a real warning) stays on stderr; a progress bar never shows as an error-coloured block;
- a pandas table (``text/html`` from ``DataFrame.to_html``) whose row labels are 0, 1, 2, ... loses
  that column: the index of a tidy frame carries no information.

:data:`PAGE_CSS` lets wide tables scroll inside their cell. :func:`write_thumbnail` saves a small
PNG of the notebook's key plot (the first image output of a cell tagged ``key-plot``, else the first
image) into the notebook's folder; the index embeds it.

>>> is_progress_line(" 40%|####      | 4/10 [00:01<00:02,  3.1it/s]"), is_progress_line("UserWarning: x")
(True, False)
>>> drop_range_index('<table border="1" class="dataframe">\\n<thead>\\n<tr><th></th><th>a</th></tr>\\n</thead>'
...                  '<tbody>\\n<tr><th>0</th><td>1</td></tr>\\n</tbody>\\n</table>')
'<table border="1" class="dataframe">\\n<thead>\\n<tr><th>a</th></tr>\\n</thead><tbody>\\n<tr><td>1</td></tr>\\n</tbody>\\n</table>'
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from typing import Any

# tqdm's default layouts: "desc: 40%|###   | 4/10 [00:01<00:02, 3.1it/s]" and "123it [00:01, 95.2it/s]".
_PROGRESS = re.compile(r"\d+%\|[^|]*\|\s*[\d.]+[kMG]?/[\d.?]+[kMG]?|[\d.]+[kMG]?(it|[A-Za-z]+)?\s*\[[\d:?]+(<[\d:?]+)?[,\]]")
_TABLE = re.compile(r'<table border="1" class="dataframe"[^>]*>.*?</table>', re.DOTALL)
_ROW_HEAD = re.compile(r"(<tr[^>]*>\s*)<th[^>]*>(.*?)</th>", re.DOTALL)
THUMBNAIL_NAME = "thumbnail.png"
KEY_PLOT_TAG = "key-plot"

PAGE_CSS = """
/* nlp-workbench: wide tables scroll inside their cell instead of widening the page */
.jp-OutputArea-output.jp-RenderedHTMLCommon, .jp-RenderedHTMLCommon .dataframe-wrap { overflow-x: auto; max-width: 100%; }
.jp-RenderedHTMLCommon table.dataframe { display: block; overflow-x: auto; max-width: 100%; }
"""


def is_progress_line(line: str) -> bool:
    """Whether one (carriage-return-resolved) line is a tqdm progress bar."""
    return bool(_PROGRESS.search(line))


def split_progress(text: str) -> tuple[str, str]:
    """Split stderr text, as a terminal shows it (carriage returns applied), into progress bars and the rest.

    >>> split_progress("a:  0%|  | 0/2 [00:00<?, ?it/s]\\ra: 100%|##| 2/2 [00:00<00:00]\\nwarning\\n")
    ('a: 100%|##| 2/2 [00:00<00:00]\\n', 'warning\\n')
    """
    bars, rest = [], []
    for line in text.split("\n"):
        shown = line.rstrip("\r").rsplit("\r", 1)[-1]
        if shown.strip():
            (bars if is_progress_line(shown) else rest).append(shown)
    return "".join(f"{line}\n" for line in bars), "".join(f"{line}\n" for line in rest)


def drop_range_index(html: str) -> str:
    """Remove the row-label column of pandas tables whose labels are exactly 0..n-1 (``...`` rows allowed)."""
    return _TABLE.sub(lambda match: _without_index(match.group(0)), html)


def _without_index(table: str) -> str:
    head, sep, body = table.partition("<tbody>")
    if not sep or head.count("<tr") != 1 or not re.search(r"<tr[^>]*>\s*<th[^>]*>\s*</th>", head):
        return table  # a named index or MultiIndex columns: the labels mean something
    labels = [label.strip() for _, label in _ROW_HEAD.findall(body)]
    numbers = [label for label in labels if label != "..."]
    if not numbers or not all(label.isdigit() for label in numbers) or numbers[0] != "0":
        return table
    values = [int(label) for label in numbers]
    if "..." not in labels and values != list(range(len(values))):
        return table
    if any(b <= a for a, b in zip(values, values[1:])):
        return table
    return _ROW_HEAD.sub(r"\1", head, count=1) + sep + _ROW_HEAD.sub(r"\1", body)


def tidy_notebook(notebook: Any) -> Any:
    """Apply the rewrites above to a notebook (``nbformat.NotebookNode``) in place; return it."""
    import nbformat

    for cell in notebook.cells:
        if cell.get("cell_type") != "code":
            continue
        outputs, stderr = [], []
        for output in [*cell.get("outputs", []), None]:
            if output is not None and output.get("output_type") == "stream" and output.get("name") == "stderr":
                stderr.append(_text(output.get("text", "")))  # a run of stderr chunks is read as one
                continue
            if stderr:
                bars, rest = split_progress("".join(stderr))
                outputs += [nbformat.v4.new_output("stream", name=name, text=text)
                            for name, text in (("stdout", bars), ("stderr", rest)) if text]
                stderr = []
            if output is None:
                break
            if "text/html" in output.get("data", {}):
                output["data"]["text/html"] = drop_range_index(_text(output["data"]["text/html"]))
            outputs.append(output)
        cell["outputs"] = outputs
    return notebook


def key_plot(notebook: Any) -> bytes | None:
    """The PNG bytes of the notebook's key plot: a ``key-plot`` tagged cell's first image, else the first image."""
    images = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            png = output.get("data", {}).get("image/png")
            if png:
                tagged = KEY_PLOT_TAG in cell.get("metadata", {}).get("tags", [])
                images.append((not tagged, len(images), _text(png)))
    if not images:
        return None
    return base64.b64decode(min(images)[2])


def write_thumbnail(notebook_path: Path, folder: Path, *, width: int = 240) -> Path | None:
    """Save a ``width``-pixel-wide PNG of the key plot as ``folder/thumbnail.png``; None without a plot."""
    import nbformat
    from PIL import Image

    png = key_plot(nbformat.read(notebook_path, as_version=4))
    if png is None:
        return None
    with Image.open(io.BytesIO(png)) as image:
        image = image.convert("RGB")
        if image.width > width:
            image = image.resize((width, max(1, round(image.height * width / image.width))), Image.LANCZOS)
        path = folder / THUMBNAIL_NAME
        image.save(path, format="PNG", optimize=True)
    return path


def thumbnail_uri(path: Path | None) -> str | None:
    """A thumbnail as a ``data:`` URI (pages stay self-contained), or None when it is missing."""
    if path is None or not path.is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)
