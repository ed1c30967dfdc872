"""The execution-status page needs no emoji font: _ext/exec_status_text.py turns myst-nb's ✅/❌ into words.

Fast: the table is made by myst-nb's own ``make_stat_table`` from made-up execution data,
then the extension's transform is applied to it, as the build does after myst-nb's.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import yaml
from docutils import nodes
from docutils.frontend import get_default_settings
from docutils.parsers.rst import Parser
from docutils.utils import new_document

ROOT = Path(__file__).resolve().parents[1]
EXTENSION = ROOT / "_ext" / "exec_status_text.py"

_spec = importlib.util.spec_from_file_location("exec_status_text", EXTENSION)
exec_status_text = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("exec_status_text", exec_status_text)
_spec.loader.exec_module(exec_status_text)

# Code points that fonts without emoji leave as an empty box: the emoji and pictograph
# blocks, dingbats and miscellaneous symbols (✅ U+2705, ❌ U+274C, ✔ U+2714 ...), arrows
# and shapes used as emoji (⬛, ⭐), and the emoji presentation selector.
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F]")


def _stat_table(statuses: dict[str, bool]):
    """myst-nb's execution table for notebooks that succeeded (True) or failed (False), in a document."""
    execution_tables = pytest.importorskip("myst_nb.ext.execution_tables")
    metadata = {
        docname: {"exec_data": {"mtime": 1_700_000_000.0, "runtime": 12.345, "method": "cache",
                                "succeeded": ok, "error": None if ok else "CellExecutionError: boom"}}
        for docname, ok in statuses.items()
    }
    document = new_document("execution_status", get_default_settings(Parser))
    document += execution_tables.make_stat_table("book/execution_status", metadata)
    return document


def _status_cells(document) -> list[nodes.entry]:
    table = next(iter(document.findall(nodes.table)))
    header, *rows = list(table.findall(nodes.row))
    names = [entry.astext() for entry in header.children]
    return [row.children[names.index("Status")] for row in rows]


@pytest.mark.slow  # 1.0 s
def test_status_marks_become_words_and_the_table_has_no_emoji():
    document = _stat_table({"book/01_nadaraya_watson": True, "book/02_kernel_ridge": False})
    assert exec_status_text.status_marks_to_words(document) == 2
    assert not EMOJI.search(document.astext()), document.astext()
    passed, failed = _status_cells(document)
    assert passed.astext() == "passed" and failed.astext() == "failed"
    # A failed notebook's error is still the word's tooltip (myst-nb's <abbr title=...>).
    (abbreviation,) = failed.findall(nodes.abbreviation)
    assert abbreviation.astext() == "failed" and abbreviation["explanation"] == "CellExecutionError: boom"
    # The other columns are untouched.
    table_text = document.astext()
    assert "book/01_nadaraya_watson" in table_text and "cache" in table_text and "12.35" in table_text


def test_myst_nb_still_writes_the_marks_the_extension_replaces():
    """If myst-nb changes its marks, this fails first, instead of an emoji coming back unnoticed."""
    document = _stat_table({"book/01_nadaraya_watson": True, "book/02_kernel_ridge": False})
    marks = [cell.astext() for cell in _status_cells(document)]
    assert marks == list(exec_status_text.STATUS_WORDS)


def test_code_and_text_outside_tables_are_left_alone():
    document = new_document("page", get_default_settings(Parser))
    document += nodes.paragraph(text="\u2705")
    document += nodes.table("", nodes.tgroup("", nodes.tbody("", nodes.row("", nodes.entry(
        "", nodes.literal_block(text="\u2705"))))))
    assert exec_status_text.status_marks_to_words(document) == 0
    assert document.astext().count("\u2705") == 2


def test_the_extension_runs_after_myst_nb_builds_the_table():
    execution_tables = pytest.importorskip("myst_nb.ext.execution_tables")
    assert (exec_status_text.ExecStatusInWords.default_priority
            > execution_tables.ExecutionStatsPostTransform.default_priority)


def test_the_book_registers_the_extension_and_the_page_source_has_no_emoji():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["sphinx"]["local_extensions"]["exec_status_text"] == "_ext"
    assert (ROOT / config["sphinx"]["local_extensions"]["exec_status_text"] / "exec_status_text.py").is_file()
    page = (ROOT / "book" / "execution_status.md").read_text(encoding="utf-8")
    assert "{nb-exec-table}" in page
    assert not EMOJI.search(page)
