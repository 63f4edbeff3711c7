"""Eager parameter checks with one message style: parameter, rule, value, fix.

>>> check_int("vocab_size", 12.5, "train_tokenizer", low=100, high=1_000_000)
Traceback (most recent call last):
...
workbench.errors.ParameterError: The 'vocab_size' parameter of train_tokenizer must be an int in [100, 1000000]. Got 12.5 instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from workbench.errors import ParameterError


def _fail(name: str, func: str, rule: str, value: Any, fix: str | None = None) -> ParameterError:
    message = f"The {name!r} parameter of {func} must be {rule}. Got {value!r} instead."
    if fix:
        message += f" {fix}"
    return ParameterError(message)


def _range_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f" in [{low}, {high}]"
    if low is not None:
        return f" >= {low}"
    if high is not None:
        return f" <= {high}"
    return ""


def check_int(name: str, value: Any, func: str, *, low: int | None = None, high: int | None = None,
              fix: str | None = None) -> int:
    """Return ``value`` if it is an int (not a bool) within ``[low, high]``, else raise."""
    if isinstance(value, bool) or not isinstance(value, int) or (
            low is not None and value < low) or (high is not None and value > high):
        raise _fail(name, func, "an int" + _range_text(low, high), value, fix)
    return value


def check_float(name: str, value: Any, func: str, *, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False, fix: str | None = None) -> float:
    """Return ``value`` as float if it is a finite real number within the bounds, else raise."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        rule = "a finite number"
        if low is not None or high is not None:
            rule += f" in {left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        raise _fail(name, func, rule, value, fix)
    return float(value)


def check_choice(name: str, value: Any, func: str, choices: Iterable[Any], *, fix: str | None = None) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise listing them."""
    choices = list(choices)
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise _fail(name, func, f"one of {listed}", value, fix)
    return value


def check_type(name: str, value: Any, func: str, types: type | tuple[type, ...], *,
               fix: str | None = None) -> Any:
    """Return ``value`` if it is an instance of ``types``, else raise naming the expected type(s)."""
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
        names = " or ".join(t.__name__ for t in _as_tuple(types))
        raise _fail(name, func, f"of type {names}", value, fix)
    return value


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)
