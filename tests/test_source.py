"""cubit_lite.source: the book prints library code without its docstring."""

import pytest

from cubit_lite.regression import LooResult, kernel_ridge, rbf_gamma
from cubit_lite.source import source_without_docstring


def test_docstring_is_removed_and_code_kept():
    text = source_without_docstring(kernel_ridge)
    assert text.startswith("def kernel_ridge(")
    assert "equivalent kernel" not in text  # docstring wording
    assert "return weights @ y, weights" in text
    compile(text, "<shown>", "exec")  # still valid Python


def test_function_without_docstring_is_unchanged():
    def bare(x):
        return x + 1

    assert source_without_docstring(bare) == "def bare(x):\n    return x + 1"


def test_not_a_function():
    with pytest.raises(TypeError, match="expected a function"):
        source_without_docstring(LooResult)


def test_one_line_docstring():
    assert "γ = 1 / (2h²)" not in source_without_docstring(rbf_gamma)
