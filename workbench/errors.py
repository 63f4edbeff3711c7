"""One exception root for every problem a user can fix.

Each error is one line: the parameter, the rule, the value, and the fix when known. They subclass
``ValueError`` (or ``LookupError`` for missing resources) so callers that already catch the builtin
types keep working.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Root of every error nlp-workbench raises on purpose."""


class ParameterError(WorkbenchError, ValueError):
    """A parameter has the wrong type or value."""


class DataError(WorkbenchError, ValueError):
    """The data set cannot be used as given (missing file or column, empty, single class, ...)."""


class ResourceUnavailableError(WorkbenchError, LookupError):
    """A model, data set or other resource cannot be reached (no network, not installed, ...)."""


class NotebookParameterError(ParameterError):
    """Parameters given to a notebook do not match its ``parameters`` cell."""


def first_line(value: object) -> str:
    """The first non-blank line of an exception or message (its type name when there is none).

    >>> first_line(ValueError("bad value\\n  details"))
    'bad value'
    """
    lines = [line.strip() for line in str(value).splitlines() if line.strip()]
    return lines[0] if lines else type(value).__name__


class ExperimentFailedError(WorkbenchError, RuntimeError):
    """A notebook's core experiment produced nothing: every configuration failed."""
