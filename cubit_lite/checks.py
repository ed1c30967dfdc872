"""Exercises that check themselves: ``check("ch1.nw", your_function)`` answers in one line.

A coding exercise of the book gives a stub to fill in and a cell that runs::

    from cubit_lite.checks import check

    check("ch1.nw", nw_estimator)

:func:`check` calls the reader's function on a fixed set of random cases (small sizes,
edge cases such as a single sample or tied inputs), compares each answer with the
library's reference within a stated tolerance, and returns a :class:`CheckResult` whose
text is one line:

* ``✓ ch1.nw: 19 cases passed``;
* ``✗ ch1.nw: case 1 of 19 (n=1, m=3, h=0.2): expected [...], got [...]. Hint: ...``:
  the first case that failed, what the reference gives, what the function gave, and a
  hint; an exception raised by the function is named in the same line;
* ``○ ch1.nw: nw_estimator is not implemented yet ...`` while the stub still raises
  ``NotImplementedError``.

A wrong function never makes :func:`check` raise: whatever it does (raises, returns the
wrong shape, NaN, a string) is reported in the line. :func:`check` raises only when it
is called wrongly: an unknown check name (the message lists the names) or a second
argument that is not callable.

The cases of each check come from a generator seeded by the check's name, so a check
runs the same cases every time and a failing case keeps its number. The checks, their
stubs' signatures and their references are listed in :data:`CHECKS`
(:mod:`cubit_lite.check_cases` defines them). Nothing here needs more than NumPy, and
PyTorch for the checks on attention heads.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .check_cases import CHECKS, Case, Check

__all__ = ["CHECKS", "Case", "Check", "CheckResult", "check"]

Status = Literal["passed", "failed", "not implemented"]
MARKS: dict[Status, str] = {"passed": "✓", "failed": "✗", "not implemented": "○"}
SHOWN_ENTRIES = 6  # the longest vector a line shows in full; longer ones are cut with "…"


@dataclass(frozen=True)
class CheckResult:
    """What :func:`check` found; a notebook shows it as its one line (``line``).

    ``case`` is the number (from 1) of the first failing case, ``None`` otherwise.
    ``bool(result)`` is whether every case passed.
    """

    name: str
    status: Status
    cases: int
    line: str
    case: int | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.line

    def __repr__(self) -> str:
        return self.line


# --------------------------------------------------------------------------- #
# Comparing an answer with the reference
# --------------------------------------------------------------------------- #
def _as_array(value: Any) -> np.ndarray:
    """``value`` (a NumPy array, a PyTorch tensor, a list, a number) as a float64 array."""
    if isinstance(value, (str, bytes)):  # NumPy would read "0.5" as a number
        raise TypeError(f"{type(value).__name__} is not an array of numbers")
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor, without importing torch
        value = value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


def _short(values: np.ndarray, centre: int = 0) -> str:
    """A vector compactly: 4 significant digits, at most ``SHOWN_ENTRIES`` entries around ``centre``."""
    first = max(0, min(centre - SHOWN_ENTRIES // 2, values.size - SHOWN_ENTRIES))
    shown = [f"{v:.4g}" for v in values[first : first + SHOWN_ENTRIES]]
    return "[" + ", ".join(["…"] * (first > 0) + shown + ["…"] * (first + SHOWN_ENTRIES < values.size)) + "]"


def _difference(expected: np.ndarray, got: np.ndarray, rtol: float, atol: float) -> str | None:
    """Why ``got`` (of ``expected``'s shape) does not match ``expected`` (one clause), or ``None``.

    NaN or an infinity is reported where it first occurs; otherwise the entry farthest outside
    ``atol + rtol·|expected|`` is named, with the vector (or the row of a matrix) around it.
    """
    finite = np.isfinite(got)
    if not finite.all():
        where = tuple(int(i) for i in np.argwhere(~finite)[0])
        return f"got {got[where]} at index {where if len(where) > 1 else where[0]} (expected {expected[where]:.7g})"
    excess = np.abs(got - expected) - (atol + rtol * np.abs(expected))
    if (excess <= 0).all():
        return None
    worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), excess.shape))
    entry = f"expected {expected[worst]:.7g}, got {got[worst]:.7g} (tolerance {atol:g} + {rtol:g}·|expected|)"
    if expected.ndim == 0:
        return entry
    row = worst[:-1]
    prefix = f"row {row[0] if len(row) == 1 else row}: " if row else ""
    return (f"{prefix}expected {_short(expected[row], worst[-1])}, got {_short(got[row], worst[-1])}; "
            f"at {'column' if row else 'index'} {worst[-1]}, {entry}")


def _fresh(value: Any) -> Any:
    """A copy of an argument, so that a function that changes its inputs cannot change the case."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if hasattr(value, "clone"):
        return value.clone()
    return value


def _call(fn: Callable[..., Any], case: Case) -> Any:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # a NaN or an overflow is reported in the line, not as a warning
        return fn(*(_fresh(a) for a in case.args))


def _function_name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


def _exception(err: Exception) -> str:
    message = " ".join(str(err).split())
    if len(message) > 160:
        message = message[:157] + "..."
    return f"{type(err).__name__}: {message}" if message else type(err).__name__


def _failed(spec: Check, number: int, total: int, what: str, hint: str) -> CheckResult:
    line = f"{MARKS['failed']} {spec.name}: {what}. Hint: {hint}"
    return CheckResult(spec.name, "failed", total, line, case=number)


# --------------------------------------------------------------------------- #
# The public entry point
# --------------------------------------------------------------------------- #
def _lookup(name: object) -> Check:
    if not isinstance(name, str) or name not in CHECKS:
        raise ValueError(f"unknown check {name!r}; the checks are: {', '.join(CHECKS)}")
    return CHECKS[name]


def check(name: str, fn: Callable[..., Any]) -> CheckResult:
    """Run the check ``name`` on ``fn`` and return its one-line answer (see the module docstring).

    Raises:
        ValueError: ``name`` is not one of :data:`CHECKS` (the message lists them).
        TypeError: ``fn`` is not callable.
    """
    spec = _lookup(name)
    if not callable(fn):
        raise TypeError(f"check({name!r}, fn): fn must be your function ({spec.signature}), "
                        f"not a {type(fn).__name__}: {fn!r}")
    cases = spec.run_cases()
    who = _function_name(fn)
    for number, case in enumerate(cases, start=1):
        where = f"case {number} of {len(cases)} ({case.label})"
        hint = case.hint or spec.hint
        expected = _as_array(spec.reference(*case.args))
        try:
            answer = _call(fn, case)
        except NotImplementedError:
            if number == 1:
                line = (f"{MARKS['not implemented']} {spec.name}: {who} is not implemented yet (it raises "
                        "NotImplementedError): write its body and run the cell again.")
                return CheckResult(spec.name, "not implemented", len(cases), line)
            return _failed(spec, number, len(cases), f"{where}: {who} raised NotImplementedError", hint)
        except Exception as err:  # the reader's code: any error is reported, never raised
            return _failed(spec, number, len(cases), f"{where}: {who} raised {_exception(err)}", hint)
        try:
            got = _as_array(answer)
        except Exception:  # whatever the answer is, it is not an array of numbers
            return _failed(spec, number, len(cases),
                           f"{where}: {who} returned a {type(answer).__name__}, not an array of numbers", spec.hint)
        if got.shape != expected.shape:
            return _failed(spec, number, len(cases), f"{where}: expected an array of shape {expected.shape}, "
                           f"got shape {got.shape}", spec.hint)
        problem = _difference(expected, got, spec.rtol, spec.atol)
        if problem is not None:
            return _failed(spec, number, len(cases), f"{where}: {problem}", hint)
    line = f"{MARKS['passed']} {spec.name}: {len(cases)} cases passed"
    return CheckResult(spec.name, "passed", len(cases), line)
