"""Progress bars that look right everywhere: a widget in JupyterLab, text in a terminal or a report.

tqdm does the work. Headless runs (the report runner sets ``WORKBENCH_HEADLESS=1`` for its kernels)
get the plain-text bar, because a widget bar saved into an HTML report shows up as an empty box.
"""

from __future__ import annotations

import os


def progress_bar(iterable=None, **kwargs):
    """Return a tqdm bar; ``kwargs`` go to tqdm (``total``, ``desc``, ``disable``, ...).

    >>> sum(progress_bar(range(3), disable=True))
    3
    """
    if os.environ.get("WORKBENCH_HEADLESS") == "1":
        from tqdm.std import tqdm
    else:
        from tqdm.auto import tqdm
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)
