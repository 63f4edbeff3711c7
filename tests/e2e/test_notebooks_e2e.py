"""Every technique notebook opens in JupyterLab with the project's kernel and shows its recipe:
the prose, the ``parameters`` cell, no stale outputs, and no error in the console or the kernel.

Opening is what a user does first; running a whole notebook in the browser is left to the report
runner (tests/test_notebooks.py runs each one with papermill).
"""

from __future__ import annotations

import nbformat
import papermill
import pytest

from workbench.reports import list_notebooks

pytestmark = pytest.mark.e2e

NOTEBOOKS = list_notebooks()


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_notebook_opens_with_its_kernel_and_parameters_cell(name, lab, open_notebook, screenshot):
    source = nbformat.read(NOTEBOOKS[name], as_version=4)
    notebook = open_notebook(lab.root / "notebooks" / NOTEBOOKS[name].name)
    state = notebook.state()
    assert state["kernel_name"] == "nlp-workbench"
    assert [c["type"] for c in state["cells"]] == [c.cell_type for c in source.cells]
    index = next(i for i, c in enumerate(state["cells"]) if "parameters" in c["tags"])
    # The title renders as a heading; the committed notebook carries no outputs.
    first = notebook.panel.locator(".jp-Notebook .jp-MarkdownOutput").first
    assert first.locator("h1, h2").count() >= 1
    assert notebook.panel.locator(".jp-OutputArea-output").count() == 0
    screenshot(notebook.page, f"lab-{name}", readme=name == "tokenization")
    # The parameters cell shows every parameter papermill finds in it, as typed declarations.
    cell = notebook.panel.locator(f".jp-Notebook .jp-Cell[data-windowed-list-index=\"{index}\"]")
    cell.scroll_into_view_if_needed()
    text = cell.locator(".cm-content").inner_text()
    declared = papermill.inspect_notebook(str(NOTEBOOKS[name]))
    missing = [f"{key}: {spec['inferred_type_name']} =" for key, spec in declared.items()
               if f"{key}: {spec['inferred_type_name']} =" not in text]
    assert declared and not missing, f"parameters not shown in Lab: {missing}"
    assert notebook.kernel_problems() == []
    notebook.watched.assert_clean()
