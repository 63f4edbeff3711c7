"""Escaped text about sweeps for reports: configurations as one line of Markdown."""


import html
from collections.abc import Mapping
from typing import Any


def describe_trial(params: Mapping[str, Any]) -> str:
    """``params`` as one escaped ``key=value`` line for HTML or Markdown.

    >>> describe_trial({"activation": "<b>", "num_layers": 2})
    'activation=&lt;b&gt;, num_layers=2'
    """
    return ", ".join(f"{html.escape(str(k))}={html.escape(_short(v))}" for k, v in params.items())


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
