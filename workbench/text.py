"""Text normalization as pure functions, and a measure of what each option changes.

Standard library only at import time (``re``, ``unicodedata``, ``html``), so the module is cheap to
import; :func:`normalization_effects` imports pandas when called.

Options are applied in a fixed order: HTML, NFKC, URLs, e-mail addresses, lowercase. A removed span
and the whitespace around it become one space (and the ends are trimmed); text with nothing to
remove is returned unchanged, so the ``"none"`` preset is the identity.

Every option takes time linear in the length of the text, whatever the text (``benchmarks/bench_text.py``
measures it). The patterns match only what they remove, each attempt starting at a fixed character
(``<``, a scheme, the start of a run of address characters), and the whitespace around a removed span
is trimmed with string methods: a pattern that began with ``\\s*`` would be retried at every position
of a run of spaces, quadratic in its length.
"""

from __future__ import annotations

import functools
import html
import re
import sys
import unicodedata
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from workbench._validation import check_type
from workbench.errors import ParameterError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "NORMALIZATIONS",
    "normalization_effects",
    "normalize_text",
    "normalize_texts",
    "vocabulary_size",
]

NORMALIZATIONS: dict[str, dict[str, bool]] = {
    "none": {},
    "lowercase": {"lowercase": True},
    "nfkc": {"nfkc": True},
    "strip_urls_html_emails": {"strip_urls": True, "strip_html": True, "strip_emails": True},
    "all": {"lowercase": True, "nfkc": True, "strip_urls": True, "strip_html": True,
            "strip_emails": True},
}
"""Named option sets for :func:`normalize_text`, compared side by side by
:func:`normalization_effects`. ``none``, ``lowercase`` and ``nfkc`` are idempotent (a second pass
changes nothing); the two that strip HTML are not: entities are unescaped after the tags are
removed, so ``&lt;b&gt;`` becomes a tag ``<b>`` that a second pass removes."""

_OPTIONS = ("lowercase", "nfkc", "strip_urls", "strip_html", "strip_emails")
# Script and style bodies are code, not text; comments are invisible in a browser too. An element
# runs to the first closing tag of its own name (matched anchored at its opening, see _block_spans).
_BLOCK_OPEN = re.compile(r"<(?:(script|style)\b|!--)", re.I)
_ELEMENT = re.compile(r"<(script|style)\b.*?</\1\s*+>", re.I | re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
# A tag starts with a letter or "/" so that "a < b" or "<3" survive.
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*+>")
# html.unescape reads "&#<digits>;" with int(), which refuses more than 4,300 digits; 8 digits or
# more name no character (past U+10FFFF), which unescape turns into U+FFFD, as it does "&#1114112;".
_LONG_DECIMAL_CHARREF = re.compile(r"&#[0-9]{8,}+")
# The look-behind keeps "www." inside an e-mail address ("a@www.x.org") for strip_emails; the
# last character excludes sentence punctuation ("see http://x.org." keeps its full stop).
_URL = re.compile(r"(?<![\w@.-])(?:https?://|ftp://|www\.)[^\s<>\"']*[^\s<>\"'.,;:!?)]", re.I)
# An address is tried only where a run of address characters starts (the look-behind), so a long
# run without "@" is read once, not once per character; _EMAIL_NEXT continues a run of addresses
# written back to back ("a@b.org+c@d.org" is removed whole).
_EMAIL_NEXT = re.compile(r"[\w.+-]++@[\w-]++(?:\.[\w-]++)++")
_EMAIL = re.compile(r"(?<![\w.+-])" + _EMAIL_NEXT.pattern)
# Runs of combining marks longer than this (UAX #15's stream-safe limit; real text stays far below)
# are put in canonical order here rather than by unicodedata (see _nfkc).
_MARK_RUN_LIMIT = 30
# Words (letters, digits, underscore) and single punctuation marks.
_TOKEN = re.compile(r"\w++|[^\w\s]")


def normalize_text(text: str, *, lowercase: bool = False, nfkc: bool = False,
                   strip_urls: bool = False, strip_html: bool = False,
                   strip_emails: bool = False) -> str:
    """Normalize one text (``re``, ``unicodedata``, ``html`` from the standard library).

    Parameters
    ----------
    text : str
        The text.
    lowercase : bool
        ``str.lower()``.
    nfkc : bool
        Unicode NFKC: compatibility characters become plain ones (ligature "ﬁ" -> "fi", full-width
        digits -> ASCII digits).
    strip_urls : bool
        Remove ``http(s)://``, ``ftp://`` and ``www.`` addresses.
    strip_html : bool
        Remove tags (and script/style bodies, comments), then unescape entities (``&amp;`` -> ``&``).
    strip_emails : bool
        Remove e-mail addresses.

    Examples
    --------
    >>> normalize_text("Visit https://x.org NOW", strip_urls=True)
    'Visit NOW'
    >>> normalize_text("<b>Hi</b> &amp; bye", strip_html=True)
    'Hi & bye'
    """
    check_type("text", text, "normalize_text", str)
    _check_options("normalize_text", {"lowercase": lowercase, "nfkc": nfkc, "strip_urls": strip_urls,
                                      "strip_html": strip_html, "strip_emails": strip_emails})
    if strip_html:
        text = _remove(text, _block_spans(text))
        text = _remove(text, (tag.span() for tag in _HTML_TAG.finditer(text)))
        text = html.unescape(_LONG_DECIMAL_CHARREF.sub(_shorten_charref, text))
    if nfkc:
        text = _nfkc(text)
    if strip_urls:
        text = _remove(text, (url.span() for url in _URL.finditer(text)))
    if strip_emails:
        text = _remove(text, _email_spans(text))
    if lowercase:
        text = text.lower()
    return text


def _remove(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """Replace each run of spans (and the whitespace around it) by one space; trim if any.

    What ``re.sub(r"\\s*(?:X\\s*)+", " ", text).strip()`` does for spans of ``X``, in linear time.
    Spans come sorted and disjoint; spans with only whitespace between them form one run.
    """
    kept, end = [], None
    for start, stop in spans:
        between = text[0 if end is None else end:start]
        if end is None or not between.isspace() and between:
            kept.append(between.strip())
        end = stop
    if end is None:
        return text
    kept.append(text[end:].strip())
    return " ".join(kept).strip()


def _block_spans(text: str) -> Iterator[tuple[int, int]]:
    """Spans of script and style elements and comments, left to right, as one regex search finds them.

    ``<script ... </script>`` (lazy) would rescan the rest of the text from every unclosed opening,
    quadratic in ``"<script" * n``; here an opening whose kind was once found unclosed is skipped,
    since no later opening of that kind can be closed either. The kind is the lowercased name:
    the closing tag matches the opening's name case-insensitively, as a back-reference does.
    """
    unclosed: set[str] = set()
    pos = 0
    while (opening := _BLOCK_OPEN.search(text, pos)) is not None:
        name = opening.group(1)
        kind = name.lower() if name else "<!--"
        block = None if kind in unclosed else (_ELEMENT if name else _COMMENT).match(text, opening.start())
        if block is None:
            unclosed.add(kind)
            pos = opening.start() + 1
        else:
            yield block.span()
            pos = block.end()


def _shorten_charref(charref: re.Match[str]) -> str:
    """A decimal reference of 8+ digits as one ``html.unescape`` reads as ``int`` reads it."""
    digits = charref.group()[2:].lstrip("0") or "0"
    return "&#" + (digits if len(digits) < 8 else "1114112")


def _email_spans(text: str) -> Iterator[tuple[int, int]]:
    """Spans of e-mail addresses, runs of back-to-back addresses included (see ``_EMAIL_NEXT``)."""
    pos = 0
    while (address := _EMAIL.search(text, pos)) is not None:
        while address is not None:
            yield address.span()
            pos = address.end()
            address = _EMAIL_NEXT.match(text, pos)


def _nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, in linear time even for long runs of combining marks.

    CPython sorts each run of combining marks into canonical order by insertion, quadratic in a
    run out of order (``"a" + "\\u0301\\u0316" * n``, "Zalgo" text). A text with a run longer than
    ``_MARK_RUN_LIMIT`` is decomposed character by character and its runs sorted here (``sorted``
    is stable, as the canonical ordering is); NFKC of that full decomposition is NFKC of the text.
    """
    if text.isascii():
        return text
    long_run, mark_run = _mark_patterns()
    if long_run.search(text) is None:
        return unicodedata.normalize("NFKC", text)
    decomposed = "".join([unicodedata.normalize("NFKD", char) for char in text])
    ordered = mark_run.sub(lambda run: "".join(sorted(run.group(), key=unicodedata.combining)),
                           decomposed)
    return unicodedata.normalize("NFKC", ordered)


@functools.cache
def _mark_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """A run of more than ``_MARK_RUN_LIMIT`` marks in a text, and a run of marks in a decomposed one.

    Marks are the characters of non-zero combining class; in a text, also those whose decomposition
    starts with one (U+0F73, U+FF9E, ...) and, for speed, every character past U+FFFF: ``re`` tests
    a class's ranges past U+FFFF one by one (about 110 ns a character for the 66 ranges of such marks,
    against 8 ns for the BMP ones), so a long run of emoji takes the exact, slower path too.
    Built once from ``unicodedata`` (about 0.1 s).
    """
    marks, leading = [], []
    for char in map(chr, range(sys.maxunicode + 1)):
        if unicodedata.combining(char):
            marks.append(char)
        elif unicodedata.decomposition(char) and unicodedata.combining(
                unicodedata.normalize("NFKD", char)[0]):
            leading.append(char)
    bmp = [char for char in marks + leading if char <= "\uffff"]
    in_text = "[" + "".join(map(re.escape, bmp)) + "\U00010000-\U0010ffff]"
    return (re.compile(f"{in_text}{{{_MARK_RUN_LIMIT + 1}}}"),
            re.compile("[" + "".join(map(re.escape, marks)) + "]++"))


def _check_options(func: str, options: Mapping[str, object]) -> None:
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ParameterError(f"The options of {func} must be among {list(_OPTIONS)}. "
                             f"Got {unknown} instead. Fix: use the keyword arguments of normalize_text.")
    for name, value in options.items():
        check_type(name, value, func, bool)


def normalize_texts(texts: Iterable[str], **options: bool) -> list[str]:
    """Apply :func:`normalize_text` with the same ``options`` to every text.

    Examples
    --------
    >>> normalize_texts(["A ﬁne DAY", "mail me: a@b.org"], lowercase=True, nfkc=True,
    ...                 strip_emails=True)
    ['a fine day', 'mail me:']
    """
    _check_options("normalize_texts", options)
    return [normalize_text(text, **options) for text in texts]


def vocabulary_size(texts: Iterable[str]) -> int:
    """Number of distinct tokens: runs of word characters and single punctuation marks (``re``).

    Examples
    --------
    >>> vocabulary_size(["the cat", "The cat!"])
    4
    """
    vocabulary: set[str] = set()
    for text in texts:
        vocabulary.update(_TOKEN.findall(text))
    return len(vocabulary)


def normalization_effects(texts: Iterable[str],
                          presets: Mapping[str, Mapping[str, bool]] = NORMALIZATIONS,
                          ) -> pd.DataFrame:
    """What each normalization preset does to a corpus, one row per preset (pandas).

    Parameters
    ----------
    texts : iterable of str
        The corpus, e.g. ``dsd["train"]["text"]``.
    presets : mapping of str to dict
        Named option sets for :func:`normalize_text`; defaults to :data:`NORMALIZATIONS`.

    Returns
    -------
    pandas.DataFrame
        Columns ``normalization`` (preset name), ``vocabulary_size`` (:func:`vocabulary_size` after
        normalizing), ``mean_chars`` (mean text length), ``changed_fraction`` (share of texts the
        preset changed). Empty input gives an empty frame with these columns and a warning.

    Examples
    --------
    >>> normalization_effects(["Hi THERE", "hi there"], {"none": {}, "lower": {"lowercase": True}})
      normalization  vocabulary_size  mean_chars  changed_fraction
    0          none                4         8.0               0.0
    1         lower                2         8.0               0.5
    """
    import pandas as pd

    columns = ["normalization", "vocabulary_size", "mean_chars", "changed_fraction"]
    texts = list(texts)
    for options in presets.values():
        _check_options("normalization_effects", options)  # reject a bad preset before any work
    if not texts:
        warnings.warn("normalization_effects got no texts; returning an empty frame.",
                      UserWarning, stacklevel=2)
        return pd.DataFrame(columns=columns)
    rows = []
    for name, options in presets.items():
        normalized = normalize_texts(texts, **options)
        rows.append({"normalization": name,
                     "vocabulary_size": vocabulary_size(normalized),
                     "mean_chars": sum(map(len, normalized)) / len(normalized),
                     "changed_fraction": sum(a != b for a, b in zip(texts, normalized)) / len(texts)})
    return pd.DataFrame(rows, columns=columns)
