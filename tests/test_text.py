"""workbench.text: known answers for each normalization option, presets, and their effects."""

from __future__ import annotations

import subprocess
import sys
import unicodedata

import pytest

from workbench.errors import ParameterError
from workbench.text import (NORMALIZATIONS, normalization_effects, normalize_text, normalize_texts,
                            vocabulary_size)


@pytest.mark.parametrize(("text", "options", "expected"), [
    ("Visit https://x.org NOW", {"strip_urls": True}, "Visit NOW"),
    ("see www.example.com/a?b=1, then http://y.io.", {"strip_urls": True}, "see , then ."),
    ("\ufb01ne", {"nfkc": True}, "fine"),
    ("\uff21\uff22\uff23\uff11\uff12", {"nfkc": True}, "ABC12"),
    ("<b>Hi</b> &amp; bye", {"strip_html": True}, "Hi & bye"),
    ("line<br /><br />next", {"strip_html": True}, "line next"),
    ("<script>alert(1)</script>Hello<!-- x -->", {"strip_html": True}, "Hello"),
    ("a < b and 1<3", {"strip_html": True}, "a < b and 1<3"),
    ("mail bob.smith+x@mail.example.org today", {"strip_emails": True}, "mail today"),
    ("mail a@www.x.org", {"strip_urls": True, "strip_emails": True}, "mail"),
    ("a http://x.io  http://y.io\nb c@d.ef g@h.ij", {"strip_urls": True, "strip_emails": True}, "a b"),
    ("MiXeD Case", {"lowercase": True}, "mixed case"),
    ("<p>\ufb01ND US at https://x.org or ME@x.org!</p>", NORMALIZATIONS["all"], "find us at or !"),
])
def test_known_answers(text, options, expected):
    assert normalize_text(text, **options) == expected


def test_no_option_is_the_identity_even_for_odd_whitespace():
    text = "  two  spaces\tand a tab  "
    assert normalize_text(text) == text
    assert normalize_text(text, strip_urls=True) == text  # nothing to remove, nothing touched


def test_nfkc_agrees_with_unicodedata():
    text = "\u2460 \u00bd \u2163 \u3000x \ufb03"
    assert normalize_text(text, nfkc=True) == unicodedata.normalize("NFKC", text)


def test_normalize_texts_applies_the_same_options():
    assert normalize_texts(["A https://x.y", "B"], strip_urls=True, lowercase=True) == ["a", "b"]
    assert normalize_texts(iter([])) == []


def test_vocabulary_size_counts_distinct_words_and_marks():
    assert vocabulary_size(["the cat", "The cat!", "cat_1 cat"]) == 5  # the, cat, The, !, cat_1
    assert vocabulary_size([]) == 0


def test_presets_are_valid_option_sets():
    assert set(NORMALIZATIONS) >= {"none", "lowercase", "nfkc", "strip_urls_html_emails", "all"}
    assert NORMALIZATIONS["none"] == {}
    for options in NORMALIZATIONS.values():
        normalize_text("x", **options)


def test_normalization_effects_known_answer():
    texts = ["Hi THERE", "hi there", "see https://a.b", "\ufb01"]
    effects = normalization_effects(texts, {"none": {}, "lower": {"lowercase": True},
                                            "urls": {"strip_urls": True}})
    assert effects.columns.tolist() == ["normalization", "vocabulary_size", "mean_chars",
                                        "changed_fraction"]
    assert effects.values.tolist() == [
        ["none", 12, (8 + 8 + 15 + 1) / 4, 0.0],  # Hi THERE hi there see https : / a . b ﬁ
        ["lower", 10, (8 + 8 + 15 + 1) / 4, 0.25],
        ["urls", 6, (8 + 8 + 3 + 1) / 4, 0.25],
    ]


def test_normalization_effects_default_presets_one_row_each():
    effects = normalization_effects(["A <b>b</b>", "c"])
    assert effects["normalization"].tolist() == list(NORMALIZATIONS)
    assert effects.set_index("normalization").loc["none", "changed_fraction"] == 0


def test_normalization_effects_empty_input_warns():
    with pytest.warns(UserWarning, match="no texts"):
        effects = normalization_effects([])
    assert effects.empty and effects.columns.tolist() == [
        "normalization", "vocabulary_size", "mean_chars", "changed_fraction"]


def test_non_bool_option_is_rejected():
    with pytest.raises(ParameterError, match=r"'lowercase' parameter of normalize_text must be of "
                                             r"type bool\. Got 'yes' instead"):
        normalize_text("x", lowercase="yes")


def test_non_str_text_is_rejected():
    with pytest.raises(ParameterError, match=r"'text' parameter of normalize_text must be of type str"):
        normalize_text(None)


def test_unknown_option_in_a_preset_is_rejected():
    with pytest.raises(ParameterError, match=r"options of normalization_effects must be among .*"
                                             r"Got \['stem'\]"):
        normalization_effects(["x"], {"bad": {"stem": True}})
    with pytest.raises(ParameterError, match=r"options of normalize_texts .* Got \['upper'\]"):
        normalize_texts(["x"], upper=True)


def test_import_stays_light():
    code = "import sys, workbench.text; print(any(m in sys.modules for m in ('pandas', 'datasets')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
