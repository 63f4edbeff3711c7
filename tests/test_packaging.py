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
