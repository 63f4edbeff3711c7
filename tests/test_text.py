"""workbench.text: known answers for each normalization option, presets, and their effects."""

from __future__ import annotations

import re
import re._constants as sre
import re._parser
import subprocess
import sys
import unicodedata

import pytest

import workbench.text
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


@pytest.mark.parametrize(("text", "options", "expected"), [
    # Mixed whitespace around a removed span becomes one space; other whitespace is kept.
    ("a \t\n <b> \u3000 <i>  x  y </i>\n", {"strip_html": True}, "a x  y"),
    ("  lead \u00a0 www.a.com  \t trail  ", {"strip_urls": True}, "lead trail"),
    ("one\n\nhttp://x.io\n\ntwo", {"strip_urls": True}, "one two"),
    # Elements close on their own name, in any case; an unclosed one leaves its body as text.
    ("<SCRIPT>x</script> <Style>y</STYLE >z", {"strip_html": True}, "z"),
    ("<script>a <style>b</style> c", {"strip_html": True}, "a c"),
    ("<!-- a <script> b --> c </script> d", {"strip_html": True}, "c d"),
    ("<script> a <!-- b </script> c -->", {"strip_html": True}, "c -->"),
    # Entities, named and numeric; a decimal one of any length (int() refuses 4,300+ digits).
    ("&lt;b&gt; &quot;q&quot; &#65;&#x42; &eacute;", {"strip_html": True}, '<b> "q" AB \u00e9'),
    ("&#0000000065; &#12345678; &#" + "9" * 5000 + ";", {"strip_html": True}, "A \ufffd \ufffd"),
    # Addresses written back to back are one run.
    ("a@b.org+c@d.org e", {"strip_emails": True}, "e"),
    ("tom@x.org, ann@y.org", {"strip_emails": True}, ","),
])
def test_known_answers_whitespace_elements_entities(text, options, expected):
    assert normalize_text(text, **options) == expected


def test_no_option_is_the_identity_even_for_odd_whitespace():
    text = "  two  spaces\tand a tab  "
    assert normalize_text(text) == text
    assert normalize_text(text, strip_urls=True) == text  # nothing to remove, nothing touched


def test_nfkc_agrees_with_unicodedata():
    text = "\u2460 \u00bd \u2163 \u3000x \ufb03"
    assert normalize_text(text, nfkc=True) == unicodedata.normalize("NFKC", text)


def test_nfkc_agrees_with_unicodedata_on_a_long_run_of_marks_out_of_order():
    """Such a run takes the linear path (runs sorted here); the result is unicodedata's."""
    text = "Z" + "\u0301\u0316\u0f73\u0327" * 300 + "e\u0301 \uff76\uff9e"
    assert normalize_text(text, nfkc=True) == unicodedata.normalize("NFKC", text)


# --------------------------------------------------------------------------- linear time

def _patterns() -> dict[str, re.Pattern[str]]:
    """Every pattern workbench.text applies to user text."""
    found = {name: value for name, value in vars(workbench.text).items()
             if isinstance(value, re.Pattern)}
    long_run, mark_run = workbench.text._mark_patterns()
    return {**found, "long_run": long_run, "mark_run": mark_run}


_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)


def _children(op, av) -> list:
    """The sub-patterns of one parsed node (re._parser's tree)."""
    if op in _REPEATS:
        return [av[2]]
    if op is sre.SUBPATTERN:
        return [av[3]]
    if op is sre.BRANCH:
        return list(av[1])
    if op is sre.ATOMIC_GROUP:
        return [av]
    if op in (sre.ASSERT, sre.ASSERT_NOT):
        return [av[1]]
    return []


def _nested_quantifiers(items, inside: bool = False) -> list[str]:
    """Quantifiers inside a backtracking quantifier (``(a+)*``): the classic exponential shape."""
    found = []
    for op, av in items:
        if op in _REPEATS and inside:
            found.append(str(op))
        backtracks = op in (sre.MAX_REPEAT, sre.MIN_REPEAT)
        for child in _children(op, av):
            found += _nested_quantifiers(child, inside or backtracks)
    return found


def _leading_backtracking_repeat(items) -> bool:
    """Whether a match may begin with a variable, backtracking quantifier (as ``\\s*(?:...)`` did).

    A search retries such a pattern at every position of the run it repeats over, each attempt
    reading to the run's end: quadratic. Fixed counts (``{31}``) and possessive repeats are fine.
    """
    if not items:
        return False
    op, av = items[0]
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
        return av[0] != av[1]
    return any(_leading_backtracking_repeat(child) for child in _children(op, av)
               if op is not sre.ASSERT_NOT and op is not sre.ASSERT)


def test_patterns_have_no_nested_quantifiers_nor_a_leading_backtracking_one():
    patterns = _patterns()
    assert {"_HTML_TAG", "_URL", "_EMAIL", "_ELEMENT", "_COMMENT", "_TOKEN"} <= set(patterns)
    for name, pattern in patterns.items():
        parsed = re._parser.parse(pattern.pattern, pattern.flags)
        assert _nested_quantifiers(parsed) == [], name
        assert not _leading_backtracking_repeat(parsed), name


def test_the_structural_checks_catch_the_previous_patterns():
    old_tag = re._parser.parse(r"\s*(?:</?[A-Za-z][^<>]*>\s*)+")
    assert _leading_backtracking_repeat(old_tag)
    assert _nested_quantifiers(old_tag) != []


HOSTILE = {  # 200,000 characters each; the quadratic patterns took hours on most of these
    "spaces": "x" + " " * 200_000 + "y",
    "mixed whitespace": " \t\n\u00a0\u3000" * 40_000,
    "no spaces": "a" * 200_000,
    "dotted": "a." * 100_000,
    "tag openings": "<a " * 66_667,
    "unclosed scripts": "<script " * 25_000,
    "unclosed comments": "<!--" * 50_000,
    "at signs": "a@" * 100_000,
    "schemes": "http://" * 28_572,
    "entities": "&#" + "1" * 200_000,
    "marks out of order": "a" + "\u0301\u0316" * 100_000,
}


@pytest.mark.timeout(20)  # a hang guard, not a speed assertion: linear time is milliseconds here
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_inputs_finish(kind):
    for options in NORMALIZATIONS.values():
        assert isinstance(normalize_text(HOSTILE[kind], **options), str)


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
