"""HTML views of variants (all text escaped)."""

from __future__ import annotations

import html
from collections.abc import Sequence

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
