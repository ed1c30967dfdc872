"""The checks of public arguments, written once for the whole library: one rule, one message.

A public function checks each argument once, at its boundary, through these functions, and
its internals trust the result. Each takes the argument's name as the reader knows it (with
what it is in parentheses where the name alone does not say, e.g. ``"lam (the ridge λ)"``),
checks one rule, and returns the value converted (an ``int``, a ``float``, a tuple) or raises
:class:`ValueError` with a message that says what was wrong and what is allowed::

    >>> positive_int("batch_size", 0)
    Traceback (most recent call last):
    ValueError: batch_size must be a positive integer; got 0
    >>> in_range("val_fraction", 1.5, 0, 1, low_open=True, high_open=True)
    Traceback (most recent call last):
    ValueError: val_fraction must be a finite number strictly between 0 and 1; got 1.5
    >>> one_of("kernel", "triangle", ("gaussian", "box"))
    Traceback (most recent call last):
    ValueError: unknown kernel 'triangle'; choose one of gaussian, box

``bool`` is never a number here (``True`` is not a batch size), and NumPy and PyTorch
scalars are accepted wherever Python's are.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import TypeVar

__all__ = ["finite", "in_range", "one_of", "per_head", "positive", "positive_int"]

T = TypeVar("T")


def _is_integer(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Integral):
        return True
    item = getattr(value, "item", None)  # a 0-d NumPy array or PyTorch tensor of an integer type
    return callable(item) and getattr(value, "ndim", None) == 0 and isinstance(item(), numbers.Integral)


def _as_float(value: object) -> float | None:
    """``value`` as a float if it is a real number (not a bool), else None."""
    if isinstance(value, bool) or isinstance(value, str):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None


def positive_int(name: str, value: object, *, hint: str = "", allow_none: bool = False) -> int:
    """``value`` as an ``int`` >= 1 (``None`` passes through when ``allow_none``).

    ``hint`` follows the rule in the message, e.g. ``" (characters per sequence)"``.
    """
    if value is None and allow_none:
        return value  # type: ignore[return-value]
    if not _is_integer(value) or int(value) < 1:  # type: ignore[call-overload]
        allowed = " (or left out)" if allow_none else ""
        raise ValueError(f"{name} must be a positive integer{hint}{allowed}; got {value!r}")
    return int(value)  # type: ignore[call-overload]


def finite(name: str, value: object, *, hint: str = "") -> float:
    """``value`` as a finite ``float``."""
    return in_range(name, value, hint=hint)


def positive(name: str, value: object, *, hint: str = "") -> float:
    """``value`` as a finite ``float`` > 0."""
    number = _as_float(value)
    if number is None or not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a positive finite number{hint}; got {value!r}")
    return number


def _describe(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        if low_open and high_open:
            return f" strictly between {low:g} and {high:g}"
        return f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high:g}"
    return ""


def in_range(name: str, value: object, low: float | None = None, high: float | None = None, *,
             low_open: bool = False, high_open: bool = False, hint: str = "") -> float:
    """``value`` as a finite ``float`` within ``[low, high]`` (either end open or left out)."""
    number = _as_float(value)
    ok = number is not None and math.isfinite(number)
    if ok and low is not None:
        ok = number > low if low_open else number >= low  # type: ignore[operator]
    if ok and high is not None:
        ok = number < high if high_open else number <= high  # type: ignore[operator]
    if not ok:
        rule = _describe(low, high, low_open, high_open)
        raise ValueError(f"{name} must be a finite number{rule}{hint}; got {value!r}")
    return number  # type: ignore[return-value]


def one_of(name: str, value: T, allowed: Iterable[T]) -> T:
    """``value`` if it is one of ``allowed``; the message lists them in their order."""
    choices = tuple(allowed)
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(str, choices))}")
    return value


def per_head(name: str, value: object, heads: int, *, allow_zero: bool = False) -> float | tuple[float, ...]:
    """One number for every head, or a sequence of ``heads`` numbers: each finite and > 0
    (>= 0 with ``allow_zero``). Returns a ``float`` or a tuple of ``heads`` floats.

    A PyTorch tensor or NumPy array of shape ``(heads,)`` counts as a sequence.
    """
    rule = ">= 0" if allow_zero else "> 0"

    def one(item: object, where: str) -> float:
        number = _as_float(item)
        if number is None or not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
            raise ValueError(f"{name}{where} must be a finite number {rule} (one per head, or one for all "
                             f"{heads} heads); got {item!r}")
        return number

    if _as_float(value) is not None and getattr(value, "ndim", 0) == 0:
        return one(value, "")
    items = value.tolist() if hasattr(value, "tolist") else value
    if not isinstance(items, Sequence) or isinstance(items, str) or len(items) != heads:
        size = len(items) if isinstance(items, Sequence) and not isinstance(items, str) else None
        got = f"{size} values" if size is not None else repr(value)
        raise ValueError(f"{name} must be one number or one per head ({heads} values); got {got}")
    return tuple(one(item, f"[{index}]") for index, item in enumerate(items))
