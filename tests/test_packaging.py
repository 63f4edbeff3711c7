"""The two ways to install (pip via pyproject.toml, conda via environment.yml) pin the same packages."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.strip().lower())


def _lock() -> dict[str, str]:
    lines = [line.strip() for line in (ROOT / "constraints.txt").read_text().splitlines()]
    pins = [line.split("==") for line in lines if line and not line.startswith("#")]
    assert all(len(pin) == 2 and pin[1] for pin in pins), "constraints.txt holds NAME==VERSION lines only"
    return {_normalise(name): version.strip() for name, version in pins}


def _project_requirements() -> dict[str, str]:
    """Every requirement of pyproject.toml (extras included, the self-referencing `all` left out)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra, names in project["optional-dependencies"].items():
        requirements += [r for r in names if not r.startswith("nlp-workbench")]
    parsed = {}
    for requirement in requirements:
        name, spec = re.match(r"^([A-Za-z0-9_.-]+)(.*)$", requirement).groups()
        parsed[_normalise(name)] = spec
    return parsed


def test_pyproject_states_ranges_and_the_lock_pins_each_one_inside_its_range():
    from packaging.specifiers import SpecifierSet

    requirements, lock = _project_requirements(), _lock()
    assert set(requirements) == set(lock), "constraints.txt pins exactly the dependencies of pyproject.toml"
    for name, spec in requirements.items():
        assert "==" not in spec and spec.startswith(">="), f"{name}: a range with a floor, not a pin ({spec!r})"
        assert lock[name] in SpecifierSet(spec), f"{name}: the locked {lock[name]} is outside {spec}"


def test_environment_yml_pins_exactly_what_the_lock_pins():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    conda_pins = dict(r.split("==") for r in pip_section if "==" in r)
    assert {_normalise(k): v for k, v in conda_pins.items()} == _lock()
    assert "-e .[all]" in pip_section  # the project itself, editable, with every extra


def test_every_extra_named_in_errors_exists():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert {"augment-resources", "sweeps-postgres", "browser-tests", "test", "all"} <= set(project["optional-dependencies"])


def test_makefile_installs_from_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet -c constraints.txt torch" in makefile  # the CPU wheel first, at its locked version
    assert '-c constraints.txt -e ".[augment-resources]"' in _recipe(makefile, "$(STAMP)")
    assert '-c constraints.txt -e ".[all]"' in _recipe(makefile, "$(TEST_STAMP)")


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
