"""Property-based tests of workbench.text: parity with the previous regexes, idempotence, NFKC.

The reference below is ``normalize_text`` as it was before the linear-time rewrite: one
``re.sub`` per option, each pattern wrapped in ``\\s*(?:...\\s*)+``. It is quadratic on long runs
of spaces, so it only ever sees the short texts generated here; on them the two must agree exactly.
"""

from __future__ import annotations

import html
import re
import tempfile
import unicodedata
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from workbench.text import _OPTIONS, NORMALIZATIONS, _nfkc, normalize_text

# Reproducible in CI, nothing written to a .hypothesis folder, no per-example deadline (machines
# here are noisy); the sizes keep this module at a few seconds on 2 cores.
FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=300,
                suppress_health_check=[HealthCheck.too_slow])

# Hypothesis caches Unicode tables and constants (at collection time) in ./.hypothesis; keep them
# out of the checkout, in one folder reused across runs.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "nlp-workbench-hypothesis")

_OLD_BLOCK = re.compile(r"\s*(?:(?:<(script|style)\b.*?</\1\s*>|<!--.*?-->)\s*)+", re.I | re.S)
_OLD_TAG = re.compile(r"\s*(?:</?[A-Za-z][^<>]*>\s*)+")
_OLD_URL = re.compile(r"\s*(?:(?<![\w@.-])(?:https?://|ftp://|www\.)[^\s<>\"']*[^\s<>\"'.,;:!?)]\s*)+",
                      re.I)
_OLD_EMAIL = re.compile(r"\s*(?:[\w.+-]+@[\w-]+(?:\.[\w-]+)+\s*)+")


def _old_remove(pattern: re.Pattern[str], text: str) -> str:
    out, n = pattern.subn(" ", text)
    return out.strip() if n else text


def reference_normalize(text: str, *, lowercase=False, nfkc=False, strip_urls=False,
                        strip_html=False, strip_emails=False) -> str:
    if strip_html:
        text = html.unescape(_old_remove(_OLD_TAG, _old_remove(_OLD_BLOCK, text)))
    if nfkc:
        text = unicodedata.normalize("NFKC", text)
    if strip_urls:
        text = _old_remove(_OLD_URL, text)
    if strip_emails:
        text = _old_remove(_OLD_EMAIL, text)
    if lowercase:
        text = text.lower()
    return text


# Pieces of markup, addresses, entities and awkward characters: random text alone almost never
# forms a tag or an address, so texts are glued from these and from short random strings.
FRAGMENTS = [
    "<b>", "</b>", "<br />", "<p class='x'>", "<a href=\"http://x.org\">", "< b", "<3", "a < b", ">",
    "<script>", "<SCRIPT type=x>", "</script>", "</Script >", "<style>", "</style>", "<scripts>",
    "<\u017fcript>", "</\u017fcript>", "<scr\u0130pt>", "<!--", "-->", "<!-- c -->",
    "http://", "https://x.org/a?b=1", "HTTP://Y.IO", "www.", "www.example.com", "ftp://f.io/a",
    "a@b.org", "bob.smith+x@mail.example.org", "x@www.y.org", "@", ".", ",", ")", "!", "?", "+", "-",
    "_", "'", '"', "&amp;", "&lt;b&gt;", "&#65;", "&#x41;", "&#0000000065;", "&#99999999;", "&nbsp",
    "&", "#", ";", " ", "  ", "\t", "\n", "\r\n", "\x0b", "\x1c", "\u00a0", "\u2028", "\u3000",
    "\u200b", "\u200f", "\ufeff", "x", "Word", "\ufb01", "\uff21", "\uff1cb\uff1e", "\u0130", "\u03a3",
    "e\u0301", "\u0316", "\u05e9\u05dc\u05d5\u05dd", "\u0645\u0631\u062d\u0628\u0627", "\U0001f642",
    "\U0001f468\u200d\U0001f469", "\x00", "\x07",
]
texts = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=3)), max_size=25).map("".join)
options = st.fixed_dictionaries({name: st.booleans() for name in _OPTIONS})


@FUZZ
@given(text=texts, opts=options)
def test_normalize_text_agrees_with_the_previous_regexes(text, opts):
    assert normalize_text(text, **opts) == reference_normalize(text, **opts)


@settings(FUZZ, max_examples=100)
@given(text=st.text(st.characters(exclude_categories=()), max_size=40), opts=options)
def test_normalize_text_takes_any_str_even_lone_surrogates(text, opts):
    out = normalize_text(text, **opts)
    assert isinstance(out, str)
    assert normalize_text(text) == text  # no option: the identity


IDEMPOTENT_PRESETS = ("none", "lowercase", "nfkc")


@FUZZ
@given(text=texts, preset=st.sampled_from(IDEMPOTENT_PRESETS))
def test_presets_documented_as_idempotent_are(text, preset):
    once = normalize_text(text, **NORMALIZATIONS[preset])
    assert normalize_text(once, **NORMALIZATIONS[preset]) == once


def test_presets_that_strip_html_are_not_idempotent():
    """Entities are unescaped after tags are removed, so an escaped tag survives one pass only."""
    for preset in ("strip_urls_html_emails", "all"):
        once = normalize_text("&lt;b&gt;bold", **NORMALIZATIONS[preset])
        assert once == "<b>bold"
        assert normalize_text(once, **NORMALIZATIONS[preset]) == "bold"
    assert set(IDEMPOTENT_PRESETS) | {"strip_urls_html_emails", "all"} == set(NORMALIZATIONS)


# Marks of several combining classes (230, 220, 202, 10, 129, 130, 8), characters whose
# decomposition starts with marks (U+0F73, U+0344, U+FF9E), starters that compose with them.
MARKS = "\u0301\u0316\u0327\u05b0\u0f71\u0f72\u3099\u0f73\u0344\uff9e\u0308"
STARTERS = "ae\u0130\u1100\u1161\u11a8\u304b\uff76 \u0f40x\ufb01"


@settings(FUZZ, max_examples=150)
@given(pieces=st.lists(st.one_of(st.text(st.sampled_from(STARTERS), min_size=1, max_size=3),
                                 st.text(st.sampled_from(MARKS), min_size=1, max_size=80)),
                       max_size=8))
def test_linear_nfkc_agrees_with_unicodedata_on_long_runs_of_marks(pieces):
    text = "".join(pieces)
    assert _nfkc(text) == unicodedata.normalize("NFKC", text)
