"""cubit_lite.tables: HTML tables whose text cells are escaped, checked shapes, a plain-text form."""

from __future__ import annotations

import html
import re

import pytest

from cubit_lite.tables import Html, Table, code, commit_html, html_table


def _cells(fragment: str, tag: str) -> list[str]:
    return re.findall(rf"<{tag}>(.*?)</{tag}>", fragment, re.S)


def test_text_cells_are_escaped_and_read_back_unchanged():
    nasty = ['<script>alert("x")</script>', "a & b", "T < 4096 > 256", "it's \"quoted\""]
    table = html_table(["name", "value"], [[text, text] for text in nasty], caption="<i>not italic</i> & more")
    assert "<script>" not in table.data and "<i>not" not in table.data
    cells = _cells(table.data, "td")
    assert [html.unescape(c) for c in cells] == [text for text in nasty for _ in range(2)]
    (caption,) = _cells(table.data, "caption")
    assert html.unescape(caption) == "<i>not italic</i> & more"


def test_html_cells_go_in_as_they_are():
    table = html_table(["mixer", "time"], [[code("cubit<2>"), Html("1.00 ms<br><b>2.0×</b>")]],
                       caption=Html("speeds on <i>one</i> GPU"))
    assert _cells(table.data, "td") == ["<code>cubit&lt;2&gt;</code>", "1.00 ms<br><b>2.0×</b>"]
    assert _cells(table.data, "caption") == ["speeds on <i>one</i> GPU"]
    assert isinstance(code("x"), str) and isinstance(code("x"), Html)


def test_numbers_and_none_become_text_and_the_structure_is_complete():
    table = html_table(["T", "loss", "note"], [[256, 1.5, None], [4096, 1.25, "ok"]])
    assert table.data.startswith('<table class="table"><thead><tr><th>T</th><th>loss</th><th>note</th></tr></thead>')
    assert table.data.endswith("</tbody></table>")
    rows = re.findall(r"<tr>(.*?)</tr>", re.search(r"<tbody>(.*)</tbody>", table.data).group(1))
    assert [_cells(r, "td") for r in rows] == [["256", "1.5", ""], ["4096", "1.25", "ok"]]
    assert "<caption>" not in table.data and "<colgroup>" not in table.data


def test_widths_and_style():
    table = html_table(["a", "b"], [[1, 2]], widths=["30%", "70%"], style='font-size: 0.85em; x: "y"')
    assert '<colgroup><col style="width:30%"><col style="width:70%"></colgroup>' in table.data
    assert table.data.startswith('<table class="table" style="font-size: 0.85em; x: &quot;y&quot;">')


def test_notebooks_display_html_and_consoles_print_aligned_text():
    table = html_table(["mixer", "tokens/s"], [[code("transformer"), "1,000"], [code("cubit"), Html("5<br>x")]],
                       caption=Html("speeds <b>alone</b>"))
    assert isinstance(table, Table) and table._repr_html_() == table.data
    text = repr(table)
    assert text == str(table)
    lines = text.splitlines()
    assert lines[0] == "speeds alone" and lines[1] == ""
    assert lines[2].split() == ["mixer", "tokens/s"] and set(lines[3].replace(" ", "")) == {"-"}
    assert lines[4].split() == ["transformer", "1,000"] and lines[5].split() == ["cubit", "5", "x"]
    assert lines[4].index("1,000") == lines[2].index("tokens/s") == lines[5].index("5")  # columns line up
    assert "<" not in text
    assert table.header == ["mixer", "tokens/s"] and table.rows[1] == ["cubit", "5 x"]
    assert table.caption == "speeds alone"


def test_entities_in_html_cells_are_decoded_in_the_plain_text():
    table = html_table(["x"], [[code("a<b & c")]])
    assert table.rows == [["a<b & c"]]


@pytest.mark.parametrize("header, rows, match", [
    (["a", "b"], [[1, 2], [3]], r"row 1 has 1 cells but the header has 2 columns"),
    (["a"], [[1, 2]], r"row 0 has 2 cells but the header has 1 columns"),
    ([], [], r"at least one column"),
])
def test_rows_must_match_the_header(header, rows, match):
    with pytest.raises(ValueError, match=match):
        html_table(header, rows)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(header="ab", rows=[]), TypeError, "header must be a sequence"),
    (dict(header=["a"], rows="a"), TypeError, "rows must be an iterable"),
    (dict(header=["a"], rows=["x"]), TypeError, "row 0 must be a sequence"),
    (dict(header=["a"], rows=[{"a": 1}]), TypeError, "row 0 must be a sequence"),
    (dict(header=["a", "b"], rows=[], widths=["50%"]), ValueError, "widths has 1 entries"),
    (dict(header=["a"], rows=[], widths="50%"), TypeError, "widths must be a sequence"),
    (dict(header=["a"], rows=[], widths=[50]), TypeError, "each width"),
    (dict(header=["a"], rows=[], caption=3), TypeError, "caption must be a string"),
    (dict(header=["a"], rows=[], style=1), TypeError, "style must be a CSS string"),
])
def test_wrong_arguments_are_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        html_table(**kwargs)


def test_rows_may_be_any_iterable_of_sequences():
    table = html_table(["n", "square"], ((n, n * n) for n in range(3)))
    assert table.rows == [["0", "0"], ["1", "1"], ["2", "4"]]


def test_commit_html_is_short_with_the_full_hash_on_hover():
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert commit_html(sha) == f'<code title="{sha}">0123456</code>'
    assert commit_html(sha, 10).endswith(">0123456789</code>")
    for bad in ("xyz", "012345", sha + "0", 123):
        with pytest.raises(ValueError, match="hex digits"):
            commit_html(bad)
    with pytest.raises(ValueError, match="length"):
        commit_html(sha, 2)
