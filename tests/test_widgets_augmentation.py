"""The augmentation explorer, driven headlessly: controls in, escaped HTML out."""

from __future__ import annotations

import re

import pytest

from workbench.widgets import augmentation_explorer

PROBE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def explorer():
    return augmentation_explorer(f"{PROBE} The tea tastes great and the honey makes it even better.",
                                 recipe="word_swap", alpha=0.3, n_aug=3)


def _rows(html: str) -> list[str]:
    return re.findall(r"<tr><td>(.*?)</td></tr>", html)


def test_variants_are_listed_with_marks_and_similarities(explorer):
    html = explorer.set(recipe="synonym", alpha=0.3, n_aug=3, seed=0)
    rows = _rows(html)
    assert len(rows) == 3
    assert "<mark>" in html
    similarities = [float(s) for s in re.findall(r"<td>(0\.\d{3}|1\.000)</td></tr>", html)]
    assert len(similarities) == 3 and all(0.5 < s <= 1.0 for s in similarities)
    assert explorer.last_error is None


def test_user_text_is_escaped_never_raw(explorer):
    for recipe in ("word_swap", "eda", "char_keyboard"):
        html = explorer.set(recipe=recipe, n_aug=4)
        assert "<img" not in html and "onerror=alert(1)>" not in html
        assert "&lt;" in html and "img" in html


def test_same_seed_same_variants_other_seed_different(explorer):
    first = explorer.set(recipe="eda", alpha=0.2, n_aug=4, seed=3)
    again = explorer.set(seed=3)
    other = explorer.set(seed=4)
    assert first == again and first != other


def test_more_variants_more_rows_and_alpha_zero_changes_nothing(explorer):
    assert len(_rows(explorer.set(recipe="word_delete", alpha=0.2, n_aug=6))) == 6
    html = explorer.set(alpha=0.0, n_aug=2)
    assert "<mark>" not in html and html.count("<td>0.00</td>") == 2


def test_mistakes_show_one_line_not_a_traceback(explorer):
    html = explorer.set(recipe="contextual", alpha=0.1)
    assert "wb-error" in html and "masked language model" in html and "Traceback" not in html
    html = explorer.set(recipe="word_swap", text="   ")
    assert "wb-error" in html and "Type a sentence" in html
    explorer.set(text=f"{PROBE} fine again")
    assert explorer.last_error is None


def test_every_control_is_described(explorer):
    assert all(control.description for control in explorer.controls.values())
