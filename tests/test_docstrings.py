"""Every example in workbench's docstrings runs and prints what it shows (the standard library's doctest).

Examples that need a fine-tuned model, a browser or minutes of work are marked ``+SKIP`` where they
stand; the rest are checked here, module by module, in a scratch folder (some write files there)
that links to the repository's ``notebooks/`` (some read them).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import workbench

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MODULES = sorted(info.name for info in pkgutil.walk_packages(workbench.__path__, "workbench."))


def test_every_module_is_listed():
    assert {"workbench.training", "workbench.reports", "workbench.widgets.tokenization"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name, monkeypatch, capsys, tmp_path):
    (tmp_path / "notebooks").symlink_to(Path(__file__).resolve().parents[1] / "notebooks")
    monkeypatch.chdir(tmp_path)
    result = doctest.testmod(importlib.import_module(name), report=True)
    report = capsys.readouterr().out
    assert result.failed == 0, report
