"""Show library code in the book: the book prints what runs, never a copy of it."""

from __future__ import annotations

import ast
import inspect
import textwrap

__all__ = ["source_without_docstring"]


def source_without_docstring(fn) -> str:
    """The source of function ``fn`` with its docstring removed (signature and body kept)."""
    source = textwrap.dedent(inspect.getsource(fn))
    node = ast.parse(source).body[0]
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise TypeError(f"expected a function, got {fn!r}")
    lines = source.splitlines()
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        del lines[first.lineno - 1 : first.end_lineno]
    return "\n".join(lines)
