"""Executed notebooks as self-contained HTML pages (nbconvert, no network needed to view them)."""

from __future__ import annotations

import os
from pathlib import Path

from workbench.reports.pages import PAGE_CSS, tidy_notebook
from workbench.reports.sidecars import _write_atomic


# The lab template, minus every script it would fetch from a CDN (require.js, MathJax, the
# widget renderer, mermaid): a report must open on a machine without network. The cost: LaTeX in
# markdown shows as source and widgets show their static fallback.
_OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}<style type="text/css">{{ resources.workbench_css }}</style>{%- endblock extra_css -%}
"""


def convert_to_html(notebook: str | os.PathLike, html_path: str | os.PathLike, *,
                    show_code: bool = False, title: str | None = None,
                    images_dir: str | os.PathLike | None = None) -> Path:
    """Render an (executed) notebook as one self-contained HTML file.

    nbconvert's ``HTMLExporter`` with the ``lab`` template does the work; images already sit in
    the outputs as base64, markdown images (relative to ``images_dir``, by default the
    notebook's folder) are embedded, and no script or style is loaded from the network. Stream
    outputs are coalesced; progress bars are dropped from stderr, pandas tables lose a 0..n index
    column, and wide tables scroll inside their cell (:mod:`workbench.reports.pages`). Code
    cells and prompts are hidden unless ``show_code``; ``title`` (default: the file's stem)
    becomes the page's ``<title>``.

    Examples
    --------
    >>> convert_to_html("run/data/data.ipynb", "run/data/data.html", title="data")  # doctest: +SKIP
    PosixPath('run/data/data.html')
    """
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    exporter = HTMLExporter(
        # Merge a cell's stream outputs and keep what a terminal would show after carriage returns:
        # a progress bar reads as its final line instead of one line per refresh.
        config=Config({"CoalesceStreamsPreprocessor": {"enabled": True}}),
        template_name="lab",
        extra_loaders=[DictLoader({"workbench_offline.html.j2": _OFFLINE_TEMPLATE})],
        template_file="workbench_offline.html.j2",
        exclude_input=not show_code,
        exclude_input_prompt=not show_code,
        exclude_output_prompt=not show_code,
        embed_images=True,
    )
    notebook = Path(notebook)
    # from_filename would overwrite the name (the <title>) with the file's stem.
    resources = {"metadata": {"name": title or notebook.stem,
                              "path": str(images_dir if images_dir is not None else notebook.parent)},
                 "workbench_css": PAGE_CSS}
    node = tidy_notebook(nbformat.read(notebook, as_version=4))
    body, _ = exporter.from_notebook_node(node, resources)
    _write_atomic(Path(html_path), body)
    return Path(html_path)
