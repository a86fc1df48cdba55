"""Argument checks shared by every public function: one message form, one error class.

Every check raises :class:`InvalidArgumentError` with the message ``Expected `name` <what>, but got
<value>``. Like scikit-learn's ``InvalidParameterError`` it subclasses both ``ValueError`` and
``TypeError``, so a caller may catch either. Integers are Python ``int`` or NumPy integers, never
``bool`` (``samples_per_class=True`` is rejected everywhere); numbers are real, finite and not
``bool``.

>>> check_int(np.int64(3), "samples_per_class", minimum=1)
3
>>> check_int(True, "samples_per_class", minimum=1)
Traceback (most recent call last):
...
mintlab._utils.checks.InvalidArgumentError: Expected `samples_per_class` as an int >= 1, but got True
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "InvalidArgumentError",
    "check_int",
    "check_number",
    "check_fraction",
    "check_choice",
    "check_seed",
    "check_type",
]


class InvalidArgumentError(ValueError, TypeError):
    """An argument of the wrong type or value (a ``ValueError`` and a ``TypeError``)."""


def _fail(name: str, what: str, value: Any) -> InvalidArgumentError:
    return InvalidArgumentError(f"Expected `{name}` {what}, but got {value!r}")


def check_int(
    value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None, allow_none: bool = False
) -> int | None:
    """``value`` as a Python int, checked to be an integer (not bool) in ``[minimum, maximum]``.

    Raises:
        InvalidArgumentError: not an integer, a bool, or out of range (``None`` unless ``allow_none``).
    """
    if value is None and allow_none:
        return None
    bounds = (
        f" in [{minimum}, {maximum}]" if minimum is not None and maximum is not None
        else f" >= {minimum}" if minimum is not None else f" <= {maximum}" if maximum is not None else ""
    )
    what = f"as an int{bounds}" + (" or None" if allow_none else "")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise _fail(name, what, value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise _fail(name, what, value)
    return int(value)


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_none: bool = False,
) -> float | None:
    """``value`` as a float, checked to be a finite real number (not bool) within the given bounds.

    ``low`` / ``high`` are inclusive unless ``low_open`` / ``high_open``.

    Raises:
        InvalidArgumentError: not a real number, a bool, not finite, or out of range.
    """
    if value is None and allow_none:
        return None
    lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
    hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
    if low is not None and high is not None:
        what = f"as a number in {lo}, {hi}"
    elif low is not None:
        what = f"as a number {'>' if low_open else '>='} {low:g}"
    elif high is not None:
        what = f"as a number {'<' if high_open else '<='} {high:g}"
    else:
        what = "as a finite number"
    what += " or None" if allow_none else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise _fail(name, what, value)
    v = float(value)
    if low is not None and (v < low or (low_open and v == low)):
        raise _fail(name, what, value)
    if high is not None and (v > high or (high_open and v == high)):
        raise _fail(name, what, value)
    return v


def check_fraction(value: Any, name: str, *, allow_none: bool = False) -> float | None:
    """``value`` as a float in ``[0, 1]``."""
    return check_number(value, name, low=0.0, high=1.0, allow_none=allow_none)


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices`` (strings).

    >>> check_choice("nn", "bootstrap", ("nn", "unique"))
    'nn'
    """
    if not isinstance(value, str) or value not in choices:
        raise _fail(name, f"in {tuple(choices)}", value)
    return value


def check_seed(value: Any, name: str = "seed", *, allow_none: bool = False) -> int | None:
    """A seed: an int >= 0 (NumPy's generators refuse negative seeds)."""
    return check_int(value, name, minimum=0, allow_none=allow_none)


def check_type(value: Any, name: str, types: type | tuple[type, ...], what: str) -> Any:
    """``value`` if it is an instance of ``types``; ``what`` names them in the message ("a torch.nn.Module")."""
    if not isinstance(value, types):
        raise InvalidArgumentError(f"Expected `{name}` as {what}, but got {type(value).__name__}")
    return value
