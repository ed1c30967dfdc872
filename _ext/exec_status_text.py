"""The execution-status table in words: "passed" and "failed" instead of ✅ and ❌.

myst-nb's ``{nb-exec-table}`` directive (``book/execution_status.md``) writes each
notebook's status as an emoji. A browser with no emoji font installed, as on many
fresh Linux machines and locked-down lab computers, shows it as an empty box. This
Sphinx post-transform runs right after myst-nb has built the table and replaces each
mark with a word, which every font has. A failed notebook keeps its error message as
the word's tooltip (myst-nb puts the mark in an ``<abbr>`` whose title is the error).

Registered in ``_config.yml`` under ``sphinx.local_extensions``.
"""

from __future__ import annotations

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

# myst-nb 1.x: ``"✅" if succeeded else "❌"`` (myst_nb/ext/execution_tables.py).
STATUS_WORDS = {"\u2705": "passed", "\u274c": "failed"}


def status_marks_to_words(document: nodes.Node) -> int:
    """Replace every table cell text that is a status mark by its word; return how many were replaced.

    Only text in tables is touched, and never literal text (code), so a ✅ shown in a
    code example stays as written.
    """
    replaced = 0
    for table in document.findall(nodes.table):
        for text in list(table.findall(nodes.Text)):
            parent = text.parent
            word = STATUS_WORDS.get(str(text).strip())
            if word is None or parent is None or isinstance(parent, nodes.FixedTextElement):
                continue
            parent.replace(text, nodes.Text(word))
            replaced += 1
    return replaced


class ExecStatusInWords(SphinxPostTransform):
    """Runs after myst-nb's ``ExecutionStatsPostTransform`` (priority 8), which builds the table."""

    default_priority = 9

    def run(self, **kwargs) -> None:
        status_marks_to_words(self.document)


def setup(app):
    app.add_post_transform(ExecStatusInWords)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
