"""The one piece every widget shares: controls, a debounced re-render, and an HTML result pane.

ipywidgets does the UI; this module only decides *when* to recompute (after the user has stopped
moving a control for ``debounce`` seconds, never once per slider tick), shows a busy marker while
it works, turns a user mistake into a one-line message instead of a traceback, and makes the result
testable without a browser (``explorer.set(...)`` then ``explorer.html``).

>>> import ipywidgets as w
>>> ex = Explorer({"n": w.IntSlider(value=2, min=1, max=5)}, lambda n: f"<b>{n * n}</b>", title="Squares")
>>> ex.html
'<b>4</b>'
>>> ex.set(n=3)
'<b>9</b>'
"""

from __future__ import annotations

import base64
import html
import io
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets

from workbench.errors import ParameterError

HEADLESS_VARIABLE = "WORKBENCH_HEADLESS"
BUSY_HTML = '<span class="wb-busy" role="status">&#8987; working&#8230;</span>'


def headless() -> bool:
    """True inside kernels started by the report runner (no browser will ever show a widget)."""
    return os.environ.get(HEADLESS_VARIABLE) == "1"


def figure_html(figure, *, dpi: int = 90, alt: str = "plot") -> str:
    """A matplotlib figure as an ``<img>`` with the PNG embedded (no file, no network); closes it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    # max-width: a wide figure shrinks to the output area instead of being cut off at its edge.
    return (f'<img class="wb-plot" alt="{html.escape(alt)}" style="max-width:100%;height:auto" '
            f'src="data:image/png;base64,{data}"/>')


def error_html(error: BaseException) -> str:
    """A failed render as one escaped line (what the user did wrong), never a traceback."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return (f'<div class="wb-error" style="color:#b00020">{html.escape(type(error).__name__)}: '
            f"{html.escape(message)}</div>")


class Explorer:
    """Controls plus a debounced HTML result.

    Parameters
    ----------
    controls : mapping of name to ipywidgets value widget
        Their ``value`` s are passed to ``render`` as keyword arguments, by name.
    render : callable
        ``render(**values) -> str``: HTML for the result pane. It must escape any text it shows.
    title : str
        Shown above the controls (escaped).
    debounce : float
        Seconds of quiet after the last control change before ``render`` runs again.
    description : str
        Optional one-line help under the title (escaped).
    """

    def __init__(self, controls: Mapping[str, widgets.Widget], render: Callable[..., str], *, title: str,
                 debounce: float = 0.4, description: str = "") -> None:
        if not controls:
            raise ParameterError("The 'controls' parameter of Explorer must name at least one widget. "
                                 "Got an empty mapping instead.")
        self.controls = dict(controls)
        self._render = render
        self.debounce = float(debounce)
        self.render_count = 0
        self.last_error: BaseException | None = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._generation = 0
        self._quiet = False
        header = f"<h4 style='margin:4px 0'>{html.escape(title)}</h4>"
        if description:
            header += f"<div style='color:#555'>{html.escape(description)}</div>"
        self.title = widgets.HTML(header)
        self.status = widgets.HTML("")
        self.output = widgets.HTML("")
        self.output.add_class("wb-output")
        self.ui = widgets.VBox([self.title, widgets.VBox(list(self.controls.values())), self.status, self.output])
        self.ui.add_class("wb-explorer")
        for control in self.controls.values():
            control.observe(self._changed, names="value")
        self.refresh()

    # -- values ------------------------------------------------------------------------------
    @property
    def values(self) -> dict[str, Any]:
        return {name: control.value for name, control in self.controls.items()}

    @property
    def html(self) -> str:
        """The result pane's current HTML."""
        return self.output.value

    def set(self, **values: Any) -> str:
        """Set controls by name and re-render now (no debounce); returns the new HTML."""
        unknown = sorted(set(values) - set(self.controls))
        if unknown:
            raise ParameterError(
                f"The names passed to Explorer.set must be controls of this widget ({', '.join(self.controls)}). "
                f"Got {', '.join(map(repr, unknown))} instead.")
        self._quiet = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._quiet = False
        self._cancel()
        return self.refresh()

    # -- rendering ---------------------------------------------------------------------------
    def refresh(self) -> str:
        """Render with the current values, synchronously."""
        with self._lock:
            self._generation += 1
            generation = self._generation
        self.status.value = BUSY_HTML
        try:
            result = self._render(**self.values)
            self.last_error = None
        except Exception as error:  # shown in the pane: a widget must not die on a bad slider value
            result = error_html(error)
            self.last_error = error
        with self._lock:
            if generation == self._generation:  # a newer render has not started meanwhile
                self.output.value = result
                self.status.value = ""
            self.render_count += 1
        return self.output.value

    def wait(self, timeout: float = 30.0) -> None:
        """Block until a pending debounced render has run (tests, scripts)."""
        timer = self._timer
        if timer is not None:
            timer.join(timeout)

    def _changed(self, _change) -> None:
        if self._quiet:
            return
        self._cancel()
        self.status.value = BUSY_HTML
        self._timer = threading.Timer(self.debounce, self.refresh)
        self._timer.daemon = True
        self._timer.start()

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- display -----------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        if headless():
            return {"text/html": f"<div class='wb-explorer-static'>{self.title.value}{self.html}</div>",
                    "text/plain": f"<{type(self).__name__}: static view>"}
        return self.ui._repr_mimebundle_(**kwargs)
