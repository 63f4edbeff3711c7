"""The two ways to install (pip via pyproject.toml, conda via environment.yml) pin the same packages."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _normalise(requirement: str) -> tuple[str, str]:
    name, _, version = requirement.partition("==")
    return re.sub(r"[-_.]+", "-", name.strip().lower()), version.strip()


def test_environment_yml_pins_exactly_what_pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_pins = {_normalise(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    assert all(version for _, version in pip_pins), "every dependency is pinned with =="
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    conda_pins = {_normalise(r) for r in pip_section if "==" in r}
    assert conda_pins == pip_pins
    assert "-e ." in pip_section  # the project itself, editable, as `make` installs it


def test_makefile_installs_the_pinned_torch_first():
    makefile = (ROOT / "Makefile").read_text()
    torch_pin = next(r for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
                     if r.startswith("torch=="))
    assert f"pip install --quiet {torch_pin}" in makefile


def _recipe(makefile: str, target: str) -> str:
    """The commands of one Makefile rule (the tab-indented lines after ``target:``)."""
    lines = makefile.split(f"\n{target}:", 1)[1].splitlines()[1:]
    return "\n".join(line for line in (lines[:next((i for i, l in enumerate(lines) if l and not l.startswith("\t")),
                                                    len(lines))]))


def test_make_report_needs_neither_root_nor_apt_and_make_test_installs_everything():
    makefile = (ROOT / "Makefile").read_text()
    report_setup = _recipe(makefile, "$(STAMP)")
    assert "setup_postgres" not in report_setup and "setup_chromium" not in report_setup
    assert "scripts/setup_nltk_data.sh --if-available" in report_setup  # copies WordNet if present, never apt
    test_setup = _recipe(makefile, "$(TEST_STAMP)")
    for script in ("setup_nltk_data.sh $(VENV)", "setup_postgres.sh", "setup_chromium.sh"):
        assert f"scripts/{script}" in test_setup
    assert re.search(r"^test: \$\(TEST_STAMP\)$", makefile, re.M) and re.search(r"^report: \$\(STAMP\)$", makefile, re.M)


def test_readme_states_the_python_version_the_pins_need():
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11"
    assert "Python 3.11+" in (ROOT / "README.md").read_text()
    assert "python=3.11" in (ROOT / "environment.yml").read_text()
