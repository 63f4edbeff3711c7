"""How a notebook's core experiment went: ok, degraded (some configurations failed) or failed.

A notebook never reports ``ok`` over lost results. Each technique returns a tidy table with a
``status`` column (``ok``, ``failed``, ``skipped``, ...); :func:`check_outcomes` reads it and

- raises :class:`~workbench.errors.ExperimentFailedError` with the first failure's reason when no
  configuration succeeded (the notebook, and so the run, fails);
- returns a ``degraded`` :class:`Outcome` listing what failed and why when some did;
- counts ``skipped`` rows (an optional resource is missing) apart: they do not make a run degraded.

:func:`workbench.reports.record` writes the outcomes into ``summary.json["run_status"]``, and the
runner turns ``degraded`` into the index row ``degraded: k of n failed`` and a non-zero exit.

>>> import pandas as pd
>>> frame = pd.DataFrame({"config": ["a", "b", "c"], "status": ["ok", "failed", "skipped"],
...                       "reason": [None, "RuntimeError: out of memory", "WordNet missing"]})
>>> outcome = check_outcomes(frame, what="trainings", label_columns=["config"])
>>> outcome.status, outcome.n_failed, outcome.n_skipped
('degraded', 1, 1)
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.errors import ExperimentFailedError, ParameterError, first_line

if TYPE_CHECKING:
    import pandas as pd

RUN_STATES = ("ok", "degraded", "failed")


@dataclass(frozen=True)
class Outcome:
    """The configurations of one experiment: how many ran, which failed (and why), which were skipped."""

    what: str
    total: int
    failed: tuple[tuple[str, str], ...] = field(default=())
    skipped: tuple[tuple[str, str], ...] = field(default=())

    @property
    def n_failed(self) -> int:
        return len(self.failed)

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    @property
    def n_ok(self) -> int:
        return self.total - self.n_failed - self.n_skipped

    @property
    def status(self) -> str:
        """``"ok"`` or ``"degraded"`` (a failed experiment raises instead of returning an Outcome)."""
        return "degraded" if self.failed else "ok"

    def line(self) -> str:
        """One line for an index row: ``"trainings: 2 of 6 failed (1 skipped)"``."""
        text = f"{self.what}: {self.n_failed} of {self.total} failed" if self.failed else f"{self.what}: all ok"
        return text + (f" ({self.n_skipped} skipped)" if self.skipped else "")

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "status": self.status, "total": self.total, "n_ok": self.n_ok,
                "failed": [{"configuration": c, "reason": r} for c, r in self.failed],
                "skipped": [{"configuration": c, "reason": r} for c, r in self.skipped]}

    def _repr_markdown_(self) -> str:
        """What a notebook page shows: nothing alarming when all ran, else every failure and skip."""
        esc = html.escape
        if not self.failed and not self.skipped:
            return f"All {self.total} {esc(self.what)} ran."
        lines = []
        if self.failed:
            lines.append(f"**Degraded: {self.n_failed} of {self.total} {esc(self.what)} failed.** "
                         "The figures below use the others only.")
            lines += [f"- `{esc(c)}`: {esc(r)}" for c, r in self.failed]
        if self.skipped:
            lines.append(f"**Skipped: {self.n_skipped} of {self.total} {esc(self.what)}** "
                         "(an optional resource is missing):")
            lines += [f"- `{esc(c)}`: {esc(r)}" for c, r in self.skipped]
        return "\n".join(lines)


def check_outcomes(frame: pd.DataFrame, *, what: str, label_columns: Sequence[str] | None = None,
                   status_column: str = "status", reason_column: str = "reason",
                   ok_values: Iterable[str] = ("ok",), skipped_values: Iterable[str] = ("skipped",)) -> Outcome:
    """Check a technique's core table: fail when nothing succeeded, else say what failed.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per configuration (or per configuration x seed), with ``status_column``.
    what : str
        What a row is, for messages (``"downstream trainings"``).
    label_columns : sequence of str, optional
        Columns naming a configuration (default: the first column).
    status_column, reason_column : str
        Where the status and the one-line reason are.
    ok_values, skipped_values : iterable of str
        Statuses that count as success and as skipped; every other status is a failure.

    Returns
    -------
    Outcome

    Raises
    ------
    ExperimentFailedError
        When the frame is empty or no row succeeded, with the first failure's reason.

    Examples
    --------
    >>> import pandas as pd
    >>> check_outcomes(pd.DataFrame({"run": [1], "status": ["failed"], "reason": ["boom"]}), what="runs")
    Traceback (most recent call last):
    ...
    workbench.errors.ExperimentFailedError: No runs succeeded (1 of 1 failed): 1: boom
    """
    if status_column not in frame.columns:
        raise ParameterError(f"The 'frame' parameter of check_outcomes must have a {status_column!r} column. "
                             f"Got columns {list(frame.columns)} instead.")
    if len(frame) == 0:
        raise ExperimentFailedError(f"No {what} ran: the experiment produced no rows.")
    ok_values, skipped_values = set(ok_values), set(skipped_values)
    columns = list(label_columns) if label_columns else [frame.columns[0]]
    failed, skipped = [], []
    for _, row in frame.iterrows():
        status = row[status_column]
        if status in ok_values:
            continue
        label = " / ".join(str(row[c]) for c in columns)
        reason = row.get(reason_column)
        reason = first_line(reason) if isinstance(reason, str) and reason.strip() else f"status {status}"
        (skipped if status in skipped_values else failed).append((label, reason))
    outcome = Outcome(what=what, total=len(frame), failed=tuple(failed), skipped=tuple(skipped))
    if outcome.n_ok == 0:
        first = (failed or skipped)[0]
        kind = f"{outcome.n_failed} of {outcome.total} failed" if failed else f"all {outcome.total} skipped"
        raise ExperimentFailedError(f"No {what} succeeded ({kind}): {first[0]}: {first[1]}")
    return outcome


def run_state(outcomes: Iterable[Outcome]) -> str:
    """The worst state of several outcomes: ``"degraded"`` if any is, else ``"ok"``.

    >>> run_state([Outcome("a", 2), Outcome("b", 2, failed=(("x", "boom"),))])
    'degraded'
    """
    return "degraded" if any(o.status == "degraded" for o in outcomes) else "ok"
