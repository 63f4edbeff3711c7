"""Text normalization as pure functions, and a measure of what each option changes.

Standard library only at import time (``re``, ``unicodedata``, ``html``), so the module is cheap to
import; :func:`normalization_effects` imports pandas when called.

Options are applied in a fixed order: HTML, NFKC, URLs, e-mail addresses, lowercase. A removed span
and the whitespace around it become one space (and the ends are trimmed); text with nothing to
remove is returned unchanged, so the ``"none"`` preset is the identity.
"""

from __future__ import annotations

import html
import re
import unicodedata
import warnings
from collections.abc import Iterable, Mapping
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
:func:`normalization_effects`."""

_OPTIONS = ("lowercase", "nfkc", "strip_urls", "strip_html", "strip_emails")
# Script and style bodies are code, not text; comments are invisible in a browser too.
_HTML_BLOCK = re.compile(r"\s*(?:(?:<(script|style)\b.*?</\1\s*>|<!--.*?-->)\s*)+", re.I | re.S)
# A tag starts with a letter or "/" so that "a < b" or "<3" survive.
_HTML_TAG = re.compile(r"\s*(?:</?[A-Za-z][^<>]*>\s*)+")
# The look-behind keeps "www." inside an e-mail address ("a@www.x.org") for strip_emails; the
# last character excludes sentence punctuation ("see http://x.org." keeps its full stop).
_URL = re.compile(r"\s*(?:(?<![\w@.-])(?:https?://|ftp://|www\.)[^\s<>\"']*[^\s<>\"'.,;:!?)]\s*)+",
                  re.I)
_EMAIL = re.compile(r"\s*(?:[\w.+-]+@[\w-]+(?:\.[\w-]+)+\s*)+")
# Words (letters, digits, underscore) and single punctuation marks.
_TOKEN = re.compile(r"\w+|[^\w\s]")


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
        text = html.unescape(_remove(_HTML_TAG, _remove(_HTML_BLOCK, text)))
    if nfkc:
        text = unicodedata.normalize("NFKC", text)
    if strip_urls:
        text = _remove(_URL, text)
    if strip_emails:
        text = _remove(_EMAIL, text)
    if lowercase:
        text = text.lower()
    return text


def _remove(pattern: re.Pattern[str], text: str) -> str:
    """Replace each run of matches (and the whitespace around) by one space; trim if any matched."""
    out, n = pattern.subn(" ", text)
    return out.strip() if n else text


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
