"""HTML views of variants (all text escaped)."""

from __future__ import annotations

import html
from collections.abc import Sequence

import pandas as pd

from workbench.augmentation.metrics import word_diff


def variants_html(source: str, variants: Sequence[str], similarities: Sequence[float] | None = None, *,
                  labels: Sequence[str] | None = None) -> str:
    """An HTML table of variants with new words marked and removed words struck, all text escaped.

    ``labels`` name the rows (default 1, 2, ...), e.g. the recipe of each variant.

    >>> "<mark>great</mark>" in variants_html("good tea", ["great tea"])
    True
    """
    labels = [str(k + 1) for k in range(len(variants))] if labels is None else list(labels)
    similarities = None if similarities is None else list(similarities)
    rows = []
    for k, variant in enumerate(variants):
        diff = word_diff(source, variant)
        body = "".join(f"<mark>{html.escape(piece)}</mark>" if new else html.escape(piece)
                       for piece, new in diff.segments)
        removed = html.escape(" ".join(diff.removed)) if diff.removed else ""
        similarity = "" if similarities is None else f"{similarities[k]:.3f}"
        rows.append(f"<tr><td>{html.escape(labels[k])}</td><td style='text-align:left'>{body}</td>"
                    f"<td style='text-align:left'><s>{removed}</s></td>"
                    f"<td>{diff.changed_ratio:.2f}</td><td>{similarity}</td></tr>")
    return ("<table class='wb-variants'><thead><tr><th>#</th><th>variant (new words marked)</th>"
            "<th>removed</th><th>changed</th><th>similarity</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def examples_html(augmented: pd.DataFrame) -> str:
    """The shortest source of a :func:`compare_augmenters` frame and its first variant under every recipe, as
    :func:`variants_html` shows them (the source escaped too).

    >>> frame = pd.DataFrame({"text_id": [0, 1], "variant": [0, 0], "recipe": ["a", "a"],
    ...                       "source": ["a long <b>text</b>", "short"], "augmented": ["long text", "shorter"],
    ...                       "similarity": [0.9, 0.8]})
    >>> html_text = examples_html(frame)
    >>> "shorter" in html_text and "&lt;b&gt;" not in html_text and "<b>Source:</b> short" in html_text
    True
    """
    source = example_source(augmented)
    first = augmented[(augmented["source"] == source) & (augmented["variant"] == 0)]
    first = first[first["text_id"] == first["text_id"].iloc[0]]
    return (f"<p><b>Source:</b> {html.escape(source)}</p>"
            + variants_html(source, first["augmented"].tolist(), first["similarity"].tolist(),
                            labels=first["recipe"].tolist()))


def example_source(augmented: pd.DataFrame) -> str:
    """The shortest source text of a :func:`compare_augmenters` frame: the one :func:`examples_html` shows.

    >>> example_source(pd.DataFrame({"source": ["a long text", "short"]}))
    'short'
    """
    return str(augmented.loc[augmented["source"].str.len().idxmin(), "source"])
