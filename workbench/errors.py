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
