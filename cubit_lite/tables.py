"""Small HTML tables for the chapters, readable as plain text too.

A chapter shows measured numbers in tables: :func:`html_table` builds one from a
header and rows. Each cell is text, and it is escaped, so a ``<`` or ``&`` in a file
name or a command shows as itself. A cell that *is* HTML (a ``<code>`` name, a line
break) is marked as such by wrapping it in :class:`Html`; :func:`code` does that for
the most common case. The table displays as HTML in a notebook and prints as an
aligned plain-text table in a console (its ``repr``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

__all__ = ["Html", "Table", "code", "commit_html", "html_table", "split_table"]


class Html(str):
    """A string of HTML that :func:`html_table` puts into a cell as it is, unescaped.

    Only wrap text you wrote yourself (tags around escaped values); anything else is
    escaped by :func:`html_table`, which is what a cell normally wants.
    """

    __slots__ = ()


def code(text: object) -> Html:
    """``text`` (escaped) as inline code: ``code("a<b")`` is ``<code>a&lt;b</code>``."""
    return Html(f"<code>{html.escape(str(text))}</code>")


def commit_html(sha: str, length: int = 7) -> Html:
    """A git commit shortened to ``length`` hex digits, with the full hash shown on hover.

    Raises:
        ValueError: ``sha`` is not a string of 7 to 40 hex digits, or ``length`` is not
            between 4 and 40.
    """
    if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-fA-F]{7,40}", sha):
        raise ValueError(f"sha must be a git commit hash of 7 to 40 hex digits; got {sha!r}")
    if isinstance(length, bool) or not isinstance(length, int) or not 4 <= length <= 40:
        raise ValueError(f"length must be an integer from 4 to 40; got {length!r}")
    return Html(f'<code title="{sha}">{sha[:length]}</code>')


def _cell_html(cell: object) -> str:
    if isinstance(cell, Html):
        return str(cell)
    return html.escape("" if cell is None else str(cell), quote=False)  # quotes matter only in attributes


def _visible_text(fragment: str) -> str:
    """What a reader sees of an HTML fragment, on one line: tags dropped, entities decoded."""
    fragment = re.sub(r"<br\s*/?>", " ", fragment)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


class Table:
    """A table built by :func:`html_table`: HTML for a notebook, aligned text for a console.

    Attributes:
        data: the table as an HTML string (what a notebook displays).
        header, rows, caption: what each cell shows, as plain text.
    """

    def __init__(self, data: str, header: list[str], rows: list[list[str]], caption: str | None):
        self.data, self.header, self.rows, self.caption = data, header, rows, caption

    def _repr_html_(self) -> str:
        return self.data

    def __str__(self) -> str:
        widths = [max(len(line[i]) for line in [self.header, *self.rows]) for i in range(len(self.header))]

        def line(cells):
            return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

        lines = ([self.caption, ""] if self.caption else []) + [line(self.header), line(["-" * w for w in widths])]
        return "\n".join(lines + [line(row) for row in self.rows])

    __repr__ = __str__


def html_table(header: Sequence[object], rows: Iterable[Sequence[object]], caption: object = None,
               widths: Sequence[str] | None = None, *, style: str | None = None) -> Table:
    """A table with a header row, body rows, an optional caption and column widths.

    Args:
        header: the column names, one per column (at least one).
        rows: the body rows, each a sequence with exactly one cell per column. A cell is
            escaped text (``str(cell)``; ``None`` is an empty cell) unless it is
            :class:`Html`, which goes in as it is.
        caption: text above the table (escaped unless :class:`Html`), or ``None``.
        widths: the CSS width of each column (e.g. ``"20%"``), one per column, or ``None``.
        style: CSS for the table element (e.g. ``"font-size: 0.85em"``), or ``None``.

    Returns:
        A :class:`Table`: it displays as HTML in a notebook and prints as plain text.

    Raises:
        TypeError: ``header``, ``rows`` or a row is a string or not a sequence, or a
            width, ``style`` or ``caption`` has the wrong type.
        ValueError: no columns, a row of the wrong length, or the wrong number of widths.
    """
    if isinstance(header, (str, bytes)) or not isinstance(header, Sequence):
        raise TypeError(f"header must be a sequence of column names (a list), not {type(header).__name__}")
    if not header:
        raise ValueError("header must name at least one column")
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Iterable):
        raise TypeError(f"rows must be an iterable of rows (lists of cells), not {type(rows).__name__}")
    rows = list(rows)
    for number, row in enumerate(rows):
        if isinstance(row, (str, bytes)) or not isinstance(row, Sequence):
            raise TypeError(f"row {number} must be a sequence of cells (a list), not {type(row).__name__}: {row!r}")
        if len(row) != len(header):
            raise ValueError(f"row {number} has {len(row)} cells but the header has {len(header)} columns: {row!r}")
    if widths is not None:
        if isinstance(widths, str) or not isinstance(widths, Sequence):
            raise TypeError(f"widths must be a sequence of CSS widths (a list), not {type(widths).__name__}")
        if len(widths) != len(header):
            raise ValueError(f"widths has {len(widths)} entries but the header has {len(header)} columns")
        if not all(isinstance(w, str) and w for w in widths):
            raise TypeError(f"each width must be a non-empty CSS length string such as '20%'; got {list(widths)!r}")
    if caption is not None and not isinstance(caption, str):
        raise TypeError(f"caption must be a string or None, not {type(caption).__name__}")
    if style is not None and not isinstance(style, str):
        raise TypeError(f"style must be a CSS string or None, not {type(style).__name__}")

    head_html = [_cell_html(cell) for cell in header]
    body_html = [[_cell_html(cell) for cell in row] for row in rows]
    cap_html = _cell_html(caption) if caption is not None else None
    attributes = ' class="table"' + (f' style="{html.escape(style, quote=True)}"' if style else "")
    cols = ("<colgroup>" + "".join(f'<col style="width:{html.escape(w, quote=True)}">' for w in widths)
            + "</colgroup>") if widths else ""
    data = (f"<table{attributes}>" + (f"<caption>{cap_html}</caption>" if cap_html else "") + cols
            + "<thead><tr>" + "".join(f"<th>{c}</th>" for c in head_html) + "</tr></thead><tbody>"
            + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in body_html)
            + "</tbody></table>")
    return Table(data, [_visible_text(c) for c in head_html], [[_visible_text(c) for c in row] for row in body_html],
                 _visible_text(cap_html) if cap_html else None)


def split_table(header: Sequence[object], rows: Iterable[Sequence[object]], groups: Sequence[Sequence[int]],
                captions: Sequence[object], *, keys: int = 0, style: str | None = None) -> list[Table]:
    """One table too wide for the page as several narrower ones, each repeating the key columns.

    Table ``n`` shows the first ``keys`` columns (what identifies a row, e.g. model, layer
    and head), then the columns listed in ``groups[n]``, under ``captions[n]``. Every
    column after the keys belongs to exactly one group, so no column is lost.

    Args:
        header, rows: the whole table, as for :func:`html_table`.
        groups: for each table, the indices (into ``header``) of its own columns.
        captions: one caption per table.
        keys: how many leading columns every table repeats.
        style: CSS for every table element, as for :func:`html_table`.

    Returns:
        one :class:`Table` per group.

    Raises:
        ValueError: ``keys`` is out of range, the number of captions differs from the
            number of groups, the groups do not cover every non-key column exactly once,
            or a row does not have one cell per column.
    """
    if isinstance(keys, bool) or not isinstance(keys, int) or not 0 <= keys < len(header):
        raise ValueError(f"keys must be an integer from 0 to {len(header) - 1} (the leading columns to repeat); "
                         f"got {keys!r}")
    if isinstance(captions, str) or len(captions) != len(groups) or not groups:
        raise ValueError(f"give one caption per group: {len(groups)} group(s), "
                         f"{'one string' if isinstance(captions, str) else len(captions)} caption(s)")
    listed = sorted(index for group in groups for index in group)
    if listed != list(range(keys, len(header))):
        raise ValueError(f"the groups must hold every column from {keys} to {len(header) - 1} exactly once; "
                         f"they hold {listed}")
    rows = list(rows)
    for number, row in enumerate(rows):
        if isinstance(row, (str, bytes)) or not isinstance(row, Sequence) or len(row) != len(header):
            raise ValueError(f"row {number} must be a list of {len(header)} cells, one per column: {row!r}")
    columns = [list(range(keys)) + list(group) for group in groups]
    return [html_table([header[i] for i in cols], [[row[i] for i in cols] for row in rows], caption, style=style)
            for cols, caption in zip(columns, captions, strict=True)]
