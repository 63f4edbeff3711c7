"""A live monitor of an Optuna study: progress, best-so-far curve, the running and latest trials.

Optuna's storage does the bookkeeping; this widget only reads it. Workers may be anywhere (other
processes, other machines writing to the same PostgreSQL or SQLite storage): the monitor polls the
storage from a background thread every ``interval`` seconds while "auto-refresh" is ticked, so the
kernel stays free, and "refresh now" reads it at once. ``monitor.refresh()`` does the same
synchronously, which is how tests and scripts drive it.

>>> monitor = sweep_monitor("sqlite:///sweeps.db", "sweep", auto=False)  # doctest: +SKIP
>>> "finished trials" in monitor.refresh()  # doctest: +SKIP
True
"""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as widgets
import optuna
from optuna.trial import TrialState

from workbench._validation import check_float, check_type
from workbench.errors import ParameterError
from workbench.sweeps import describe_trial, open_storage, safe_url, trial_epochs
from workbench.widgets._common import Explorer, figure_html, headless

_STATES = ("complete", "pruned", "fail", "running", "waiting")


class SweepMonitor(Explorer):
    """An :class:`Explorer` over a study's storage with a background poller (:meth:`start`, :meth:`stop`)."""

    def __init__(self, storage, studies: dict[str, optuna.Study], *, names: list[str], initial: str,
                 interval: float, auto: bool) -> None:
        self._storage, self._studies = storage, studies
        controls = {
            "study": widgets.Dropdown(options=names, value=initial, description="study"),
            "auto": widgets.Checkbox(value=auto, description=f"auto-refresh every {interval:g} s"),
            "rows": widgets.IntSlider(value=8, min=1, max=50, description="trials shown"),
        }
        super().__init__(controls, self._render_study, title="Sweep monitor",
                         description="Progress of an Optuna study, read from its storage while workers fill it.")
        self.refresh_button = widgets.Button(description="refresh now", tooltip="read the storage now")
        self.refresh_button.on_click(lambda _button: self.refresh())
        self.ui.children = (self.ui.children[0], widgets.HBox([self.ui.children[1], self.refresh_button]),
                            *self.ui.children[2:])
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.controls["auto"].observe(lambda change: self.start() if change["new"] else None, names="value")

    # -- polling -----------------------------------------------------------------------------
    def start(self) -> None:
        """Poll the storage in a daemon thread (re-rendering while "auto-refresh" is ticked)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="sweep-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the polling thread (the widget keeps its last view)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None

    @property
    def polling(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            if self.controls["auto"].value:
                self.refresh()

    # -- rendering ---------------------------------------------------------------------------
    def _study(self, name: str) -> optuna.Study:
        if name not in self._studies:
            self._studies[name] = optuna.load_study(study_name=name, storage=self._storage)
        return self._studies[name]

    def _render_study(self, study: str, auto: bool, rows: int) -> str:
        return study_html(self._study(study), rows=rows)


def sweep_monitor(study_or_storage: optuna.Study | str, study_name: str | None = None, *,
                  interval: float = 5.0, auto: bool | None = None) -> SweepMonitor:
    """Watch an Optuna study fill up without blocking the kernel.

    Parameters
    ----------
    study_or_storage : optuna.Study or str
        A study object (in memory or not), or a storage URL such as ``sqlite:///sweeps.db``.
    study_name : str, optional
        Study to show first (default: the given study, or the storage's last study).
    interval : float
        Seconds between reads of the storage while "auto-refresh" is ticked.
    auto : bool, optional
        Start with auto-refresh on; default on in JupyterLab, off in headless report runs.

    Returns
    -------
    SweepMonitor
        ``.html`` is the current view; ``.refresh()`` re-reads the storage; ``.stop()`` ends polling.

    Examples
    --------
    >>> monitor = sweep_monitor(study, auto=False)  # doctest: +SKIP
    >>> monitor.refresh()  # doctest: +SKIP
    """
    func = "sweep_monitor"
    interval = check_float("interval", interval, func, low=0.01)
    auto = (not headless()) if auto is None else check_type("auto", auto, func, bool)
    if isinstance(study_or_storage, optuna.Study):
        storage, studies = study_or_storage._storage, {study_or_storage.study_name: study_or_storage}
    else:
        check_type("study_or_storage", study_or_storage, func, (str, optuna.Study),
                   fix="Pass a study, or a storage URL such as sqlite:///sweeps.db.")
        storage, studies = open_storage(study_or_storage), {}
    names = optuna.get_all_study_names(storage)
    if not names:
        raise ParameterError(f"The storage given to {func} holds no study yet. Got {_shown(study_or_storage)}. "
                             "Start a worker first (workbench sweep ...), or pass the study object.")
    initial = study_name or next(iter(studies), names[-1])
    if initial not in names:
        raise ParameterError(f"The 'study_name' parameter of {func} must be a study in the storage "
                             f"({', '.join(names)}). Got {initial!r} instead.")
    monitor = SweepMonitor(storage, studies, names=names, initial=initial, interval=interval, auto=auto)
    if auto:
        monitor.start()
    return monitor


def study_html(study: optuna.Study, *, rows: int = 8) -> str:
    """The monitor's view of ``study`` as HTML: progress, best so far (with a curve), recent trials."""
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    counts = {state: sum(t.state.name.lower() == state for t in trials) for state in _STATES}
    finished = counts["complete"] + counts["pruned"]
    target = study.user_attrs.get("n_trials")
    total = f"{finished} / {target}" if target else str(finished)
    parts = [f"<div class='wb-sweep-progress'><b>{html.escape(study.study_name)}</b>: <b>{total}</b> finished "
             f"trials (" + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + ")"]
    if target:
        parts.append(f" <progress value='{min(finished, int(target))}' max='{int(target)}'></progress>")
    parts.append("</div>")
    best = _best(study, trials)
    if best is not None:
        parts.append(f"<div class='wb-sweep-best'>best so far: <b>{best.values[0]:.4f}</b> (trial {best.number}: "
                     f"{describe_trial(best.params)})</div>")
        parts.append(figure_html(_best_so_far_figure(study, trials), alt="best value so far"))
    shown = [t for t in trials if t.state == TrialState.RUNNING]
    shown += [t for t in reversed(trials) if t.state != TrialState.RUNNING][:max(rows - len(shown), 0)]
    if shown:
        parts.append("<table class='wb-sweep-trials'><tr><th>trial</th><th>state</th><th>value</th>"
                     "<th>epochs</th><th>parameters</th></tr>")
        for trial in shown:
            value = f"{trial.values[0]:.4f}" if trial.values else ""
            parts.append(f"<tr><td>{trial.number}</td><td>{trial.state.name.lower()}</td><td>{value}</td>"
                         f"<td>{trial_epochs(trial)}</td>"
                         f"<td>{describe_trial(trial.params)}</td></tr>")
        parts.append("</table>")
    return "".join(parts)


def _best(study: optuna.Study, trials: list) -> Any:
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
    if not complete:
        return None
    sign = 1 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else -1
    return max(complete, key=lambda t: (sign * t.values[0], -t.number))


def _best_so_far_figure(study: optuna.Study, trials: list):
    import matplotlib.pyplot as plt

    maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    numbers, values, best = [], [], None
    for trial in trials:
        if trial.state == TrialState.COMPLETE and trial.values:
            value = trial.values[0]
            best = value if best is None else (max(best, value) if maximize else min(best, value))
            numbers.append(trial.number)
            values.append(best)
    fig, ax = plt.subplots(figsize=(4.5, 2.2))
    ax.step(numbers, values, where="post", marker="o", markersize=3)
    ax.set(xlabel="trial", ylabel="best so far")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _shown(value: Any) -> str:
    return safe_url(value) if isinstance(value, str) else repr(value)
