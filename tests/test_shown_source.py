"""The equation chapters show equation-sized code.

Chapters 1-5 derive estimators and mixers from equations, and print library functions
next to them with ``source_without_docstring``. What a cell shows there should read as the
equation it implements; long code (dispatch to faster paths, checks, dtype handling)
belongs to chapter 6, the library tour. Each function printed in chapters 1-5 is found
here in the library, and the source each cell prints is measured; nothing is executed.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import nbformat
import pytest

from cubit_lite.source import source_without_docstring

ROOT = Path(__file__).resolve().parents[1]
EQUATION_CHAPTERS = sorted((ROOT / "book").glob("0[1-5]_*.ipynb"))
MAX_LINES = 30  # per cell; the longest today is chapter 1's nadaraya_watson (24), chapter 4 used to print 45
# Where the chapters' names come from (their setup cells import from these).
MODULES = ["cubit_lite.regression", "cubit_lite.streaming_ridge", "cubit_lite.mixers.functional",
           "cubit_lite.mixers.logits", "cubit_lite.mixers.layers",
           "cubit_lite.mixers", "cubit_lite.model", "cubit_lite.train", "cubit_lite.data", "cubit_lite"]
MODULE_ALIASES = {"cubit_lite", "regression", "functional", "mixers_functional", "Fm", "mixers", "layers"}
# Module names that the chapters write before a function of that module (``naive.masked_softmax``).
NAMED_MODULES = {"naive": "cubit_lite.mixers.naive", "dispatch": "cubit_lite.mixers.dispatch",
                 "logits": "cubit_lite.mixers.logits"}
SHOWN = re.compile(r"source_without_docstring\(([\w.]+)\)")


def shown_cells():
    """(chapter, cell index, the expressions whose source the cell prints) for chapters 1-5."""
    found = []
    for path in EQUATION_CHAPTERS:
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if cell.cell_type == "code" and SHOWN.search(cell.source):
                found.append((path.stem, index, tuple(SHOWN.findall(cell.source))))
    return found


def resolve(expr: str):
    """The library object that a chapter's expression such as ``naive.masked_softmax`` names."""
    parts = expr.split(".")
    if len(parts) > 1 and parts[0] in NAMED_MODULES:
        obj = importlib.import_module(NAMED_MODULES[parts[0]])
        for attribute in parts[1:]:
            obj = getattr(obj, attribute)
        return obj
    while len(parts) > 1 and parts[0] in MODULE_ALIASES:
        parts = parts[1:]
    for name in MODULES:
        obj = getattr(importlib.import_module(name), parts[0], None)
        if obj is not None:
            for attribute in parts[1:]:
                obj = getattr(obj, attribute)
            return obj
    raise LookupError(f"{expr}: not found in {MODULES}")


def test_the_chapters_show_library_code():
    assert sum(len(exprs) for _, _, exprs in shown_cells()) >= 8  # the parser finds what the chapters print


@pytest.mark.parametrize("chapter, index, exprs", shown_cells(), ids=lambda x: str(x))
def test_cells_of_the_equation_chapters_show_short_code(chapter, index, exprs):
    lines = sum(len(source_without_docstring(resolve(expr)).strip().splitlines()) for expr in exprs)
    assert lines <= MAX_LINES, (
        f"{chapter}, cell {index} prints {', '.join(exprs)}: {lines} lines of library code. Show an "
        "equation-level version instead (or move the library's code to chapter 6, the library tour)")


def test_the_limit_catches_printed_dispatch_code():
    """What the old chapter 4 (now chapters 4 and 5) printed before it showed an equation-level head.

    That is, the solve's dispatch and its caller.
    """
    lines = sum(len(source_without_docstring(resolve(expr)).strip().splitlines())
                for expr in ("dispatch.cubit_solve", "cubit_attention"))
    assert lines > MAX_LINES
