"""One thin ipywidgets UI per technique, for exploring in JupyterLab.

Every widget is an :class:`~workbench.widgets._common.Explorer`: controls on top, one HTML pane
below that shows the result (escaped text spans, tables, plots embedded as PNG). ``explorer.set(...)``
changes controls and re-renders at once, which is how tests drive them without a browser; in a
browser the same re-render runs debounced after the user stops moving a control. In headless runs
(the report runner sets ``WORKBENCH_HEADLESS=1``) a displayed explorer shows its current output as
static HTML, so the shared report still has something to look at.

Names are imported lazily: ``import workbench.widgets`` does not pull in torch.
"""

from __future__ import annotations

import importlib

_EXPORTS: dict[str, tuple[str, ...]] = {
    "_common": ("Explorer", "figure_html"),
    "tokenization": ("tokenizer_explorer",),
    "augmentation": ("augmentation_explorer",),
    "schedules": ("schedule_explorer",),
    "sweeps": ("sweep_monitor",),
    "compression": ("compression_explorer",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench.widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"workbench.widgets.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
