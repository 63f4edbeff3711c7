"""Optional packages: imported lazily, and when missing, one line naming the extra that brings them.

>>> require("json", extra="test", purpose="reading JSON").__name__
'json'
"""

from __future__ import annotations

import importlib
from types import ModuleType

from workbench.errors import ResourceUnavailableError


def require(module: str, *, extra: str, purpose: str, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise a one-line error: what needs it, and ``pip install 'nlp-workbench[extra]'``.

    >>> require("no_such_module_xyz", extra="sweeps-postgres", purpose="a PostgreSQL storage")
    Traceback (most recent call last):
    ...
    workbench.errors.ResourceUnavailableError: a PostgreSQL storage needs the optional package 'no_such_module_xyz', which is not installed. Fix: pip install 'nlp-workbench[sweeps-postgres]'.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ResourceUnavailableError(
            f"{purpose} needs the optional package {package or module!r}, which is not installed. "
            f"Fix: pip install 'nlp-workbench[{extra}]'.") from None
