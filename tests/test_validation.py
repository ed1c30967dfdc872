"""cubit_lite.validation: one rule, one message, for every public argument of the library."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from cubit_lite.validation import finite, in_range, one_of, per_head, positive, positive_int


@pytest.mark.parametrize("value", [1, 7, np.int64(3), torch.tensor(5)])
def test_positive_int_accepts_integers_of_every_library(value):
    assert positive_int("steps", value) == int(value) and type(positive_int("steps", value)) is int


@pytest.mark.parametrize("value", [0, -2, 2.0, 1.5, True, "3", None, torch.tensor(2.0), np.array([1])])
def test_positive_int_refuses_what_is_not_a_positive_integer(value):
    message = f"steps must be a positive integer (training steps); got {value!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        positive_int("steps", value, hint=" (training steps)")


def test_positive_int_can_let_none_through():
    assert positive_int("max_steps", None, allow_none=True) is None
    with pytest.raises(ValueError, match=re.escape("must be a positive integer (or left out); got 0")):
        positive_int("max_steps", 0, allow_none=True)


@pytest.mark.parametrize(("value", "ok"), [(1e-3, True), (np.float32(2), True), (0.0, False), (-1, False),
                                           (math.inf, False), (math.nan, False), ("1", False), (False, False)])
def test_positive(value, ok):
    if ok:
        assert positive("h", value) == float(value)
    else:
        with pytest.raises(ValueError, match=re.escape("h must be a positive finite number; got")):
            positive("h", value)


@pytest.mark.parametrize(
    ("bounds", "value", "message"),
    [
        (dict(low=0), -0.1, "lam must be a finite number >= 0; got -0.1"),
        (dict(low=0, low_open=True), 0.0, "lam must be a finite number > 0; got 0.0"),
        (dict(high=1, high_open=True), 1, "lam must be a finite number < 1; got 1"),
        (dict(low=0, high=1, low_open=True, high_open=True), 1.5,
         "lam must be a finite number strictly between 0 and 1; got 1.5"),
        (dict(low=1e-4, high=10), 0, "lam must be a finite number in [0.0001, 10]; got 0"),
        (dict(low=0, high=1, high_open=True), 1, "lam must be a finite number in [0, 1); got 1"),
        (dict(), math.nan, "lam must be a finite number; got nan"),
        (dict(), "x", "lam must be a finite number; got 'x'"),
    ],
)
def test_in_range_says_the_range(bounds, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        in_range("lam", value, **bounds)


def test_in_range_and_finite_return_floats_inside_the_range():
    assert in_range("p", 0, 0, 1) == 0.0 and in_range("p", 1, 0, 1) == 1.0
    assert finite("x", np.float64(-3)) == -3.0 and type(finite("x", 2)) is float
    with pytest.raises(ValueError, match=re.escape("x must be a finite number (a coordinate); got inf")):
        finite("x", math.inf, hint=" (a coordinate)")


def test_one_of_lists_the_choices_in_order():
    assert one_of("kernel", "box", ("gaussian", "box")) == "box"
    with pytest.raises(ValueError, match=re.escape("unknown kernel 'tri'; choose one of gaussian, box")):
        one_of("kernel", "tri", ("gaussian", "box"))


def test_per_head_takes_one_number_or_one_per_head():
    assert per_head("lam", 1e-6, 4) == 1e-6
    assert per_head("lam", [1, 2, 3], 3) == (1.0, 2.0, 3.0)
    assert per_head("lam", torch.tensor([0.5, 0.25]), 2) == (0.5, 0.25)
    assert per_head("lam", np.array([0.0, 1.0]), 2, allow_zero=True) == (0.0, 1.0)
    with pytest.raises(ValueError, match=re.escape("lam must be one number or one per head (4 values); got 3 values")):
        per_head("lam", [1, 2, 3], 4)
    with pytest.raises(ValueError, match=re.escape("lam[1] must be a finite number > 0 (one per head")):
        per_head("lam", [1, 0], 2)
    with pytest.raises(ValueError, match=re.escape("lam must be a finite number >= 0 (one per head")):
        per_head("lam", -1, 2, allow_zero=True)
    with pytest.raises(ValueError, match=re.escape("lam must be one number or one per head (2 values); got 'big'")):
        per_head("lam", "big", 2)
