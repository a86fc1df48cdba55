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
mintlab.utils.checks.InvalidArgumentError: Expected `samples_per_class` as an int >= 1, but got True
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
    "check_class_labels",
    "check_class_range",
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
        f" in [{minimum}, {maximum}]"
        if minimum is not None and maximum is not None
        else f" >= {minimum}"
        if minimum is not None
        else f" <= {maximum}"
        if maximum is not None
        else ""
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


def _quoted(name: str) -> str:
    """``name`` in backticks, unless it is a phrase that already quotes the argument ("the labels of `dataset`")."""
    return name if "`" in name else f"`{name}`"


def check_class_labels(labels: Any, name: str, *, length: int | None = None) -> np.ndarray:
    """``labels`` as a 1-D int64 array of class indices, one per item.

    Integer and bool labels are taken as they are, floats only when every value is integral (``1.0``): a
    fractional label would be truncated, so that 0.2 and 0.7 fall into one class. A column ``(n, 1)`` is
    read as ``(n,)``; anything else with more than one dimension (one-hot rows) is refused. Tensors are
    read through ``np.asarray`` (pass CPU tensors).

    Raises:
        InvalidArgumentError: labels that are not numbers, not one per item (one-hot or multi-label rows,
            or not ``length`` of them), or not integral.

    >>> check_class_labels([2.0, 0.0, 1.0], "labels").tolist()
    [2, 0, 1]
    >>> check_class_labels([0.2, 0.7], "labels")
    Traceback (most recent call last):
    ...
    mintlab.utils.checks.InvalidArgumentError: Expected `labels` as integer class indices, but got \
non-integral values such as 0.2 (they would be truncated, merging classes)
    """
    try:
        values = np.asarray(labels)
    except Exception as err:  # noqa: BLE001 - e.g. a CUDA tensor or ragged rows: say what came
        raise InvalidArgumentError(
            f"Expected {_quoted(name)} as integer class indices, but got {type(labels).__name__} ({err})"
        ) from err
    kind = values.dtype.kind
    if kind not in "biuf":
        raise InvalidArgumentError(f"Expected {_quoted(name)} as integer class indices, but got dtype {values.dtype}")
    n = values.shape[0] if values.ndim else None
    if values.ndim != 1:
        if values.ndim > 1 and values.size == n:  # a column (n, 1)
            values = values.reshape(n)
        else:
            hint = " (one-hot rows? pass labels.argmax(1))" if values.ndim == 2 else ""
            raise InvalidArgumentError(
                f"Expected {_quoted(name)} as 1-D integer class indices, one per item, but got shape "
                f"{tuple(values.shape)}{hint}"
            )
    if length is not None and len(values) != length:
        raise InvalidArgumentError(f"Expected {_quoted(name)} as one label per item ({length}), but got {len(values)}")
    if kind == "f":
        bad = ~np.isfinite(values) | (np.mod(np.where(np.isfinite(values), values, 0), 1) != 0)
        if bad.any():
            raise InvalidArgumentError(
                f"Expected {_quoted(name)} as integer class indices, but got non-integral values such as "
                f"{values[bad][0].item()!r} (they would be truncated, merging classes)"
            )
    return values.astype(np.int64)


def check_class_range(labels: np.ndarray, n_classes: int, name: str, *, what: str = "number of classes") -> np.ndarray:
    """``labels`` (class indices) if every one is in ``[0, n_classes)``; ``what`` names ``n_classes``.

    A label equal to ``n_classes`` with none below 1 reads as 1-based labels, and the message says so.

    Raises:
        InvalidArgumentError: a label < 0 or >= ``n_classes``.

    >>> check_class_range(np.array([1, 10]), 10, "labels")
    Traceback (most recent call last):
    ...
    mintlab.utils.checks.InvalidArgumentError: Expected `labels` < 10 (number of classes), but got 10 \
(class indices are 0-based: subtract 1 from 1-based labels)
    """
    values = np.asarray(labels)
    if values.size and int(values.min()) < 0:
        raise InvalidArgumentError(f"Expected {_quoted(name)} >= 0 (class indices), but got {int(values.min())}")
    if values.size and int(values.max()) >= n_classes:
        one_based = int(values.min()) >= 1 and int(values.max()) == n_classes
        hint = " (class indices are 0-based: subtract 1 from 1-based labels)" if one_based else ""
        raise InvalidArgumentError(
            f"Expected {_quoted(name)} < {n_classes} ({what}), but got {int(values.max())}{hint}"
        )
    return values


def check_batch(x: Any, y: Any, index: int, where: str) -> tuple[Any, Any]:
    """One ``(inputs, labels)`` batch of training or evaluation, as ``(float tensor, int64 label tensor)``.

    The one check ``train``, ``evaluate`` and the characterization share with ``compute_scores``' data checks:
    inputs must be a tensor with finite values (a NaN pixel turns every weight into NaN in one SGD step),
    labels 1-D integer class indices (:func:`check_class_labels`: one-hot rows, strings and fractional values
    are refused instead of ending in a raw torch error).

    Args:
        x, y: the batch as the loader gave it.
        index: its position in the pass (named in the messages).
        where: what was reading it (``"training"``, ``"evaluation"``).

    Raises:
        InvalidArgumentError: inputs that are not a tensor, labels that are not class indices.
        ValueError: NaN or infinite inputs (the message gives the batch and the count).
    """
    import torch

    if not isinstance(x, torch.Tensor):
        raise InvalidArgumentError(
            f"Expected {where} batches of (input tensor, labels), but batch {index} has "
            f"inputs of type {type(x).__name__}"
        )
    if torch.is_floating_point(x):
        bad = int((~torch.isfinite(x)).sum())
        if bad:
            raise ValueError(
                f"Expected finite {where} inputs, but batch {index} holds {bad} NaN or infinite values "
                f"(of {x.numel()}); clean the data or drop those images"
            )
    if isinstance(y, torch.Tensor) and not y.is_floating_point() and y.dim() == 1 and y.dtype != torch.bool:
        return x, y.long() if y.dtype != torch.long else y
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu()
    labels = check_class_labels(y, f"labels of {where} batch {index}", length=int(x.shape[0]) if x.dim() else None)
    return x, torch.from_numpy(labels)
