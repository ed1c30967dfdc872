"""The book's drawn diagrams (book/figures/*.svg) and the figure directives that show them.

Every diagram is well-formed SVG that names itself for a screen reader (a ``<title>`` the
root points at), draws its words as text (not paths), loads nothing from outside, and is
shown at its natural size with no text below the book's smallest font. Every MyST figure
directive of the book (in the pages and the notebooks' markdown cells) shows a file that
exists, with alt text and a caption, and every diagram is shown by one.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from cubit_lite.plotting import CONTENT_WIDTH_PX, MIN_FONT_PT

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
FIGURES = BOOK / "figures"
SVG = "{http://www.w3.org/2000/svg}"
MIN_FONT_PX = MIN_FONT_PT * 96 / 72  # 8 pt at 96 dpi
DIAGRAMS = sorted(FIGURES.glob("*.svg"))

# A directive opens with 3+ backticks or colons and {figure} (MyST), its options follow
# as ":name: value" lines, then its body (the caption) up to the same fence.
OPENING = re.compile(r"^(?P<fence>`{3,}|:{3,})\{figure\}\s*(?P<path>\S*)\s*$")
OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*)$")


def figure_directives(text: str) -> list[dict]:
    """Each figure directive in MyST markdown: its path, options and caption."""
    lines, found, i = text.splitlines(), [], 0
    while i < len(lines):
        match = OPENING.match(lines[i].strip())
        i += 1
        if not match:
            continue
        options, body = {}, []
        while i < len(lines) and OPTION.match(lines[i].strip()):
            option = OPTION.match(lines[i].strip())
            options[option["key"]] = option["value"].strip()
            i += 1
        while i < len(lines) and lines[i].strip() != match["fence"]:
            body.append(lines[i])
            i += 1
        i += 1
        found.append({"path": match["path"], "options": options, "caption": " ".join(body).strip()})
    return found


def book_directives() -> list[tuple[str, dict]]:
    """(where, directive) for every figure directive in the book's pages and notebooks."""
    found = []
    for page in sorted(BOOK.glob("*.md")):
        found += [(page.name, d) for d in figure_directives(page.read_text(encoding="utf-8"))]
    for notebook in sorted(BOOK.glob("*.ipynb")):
        for cell in nbformat.read(notebook, as_version=4).cells:
            if cell.cell_type == "markdown":
                found += [(f"{notebook.name} cell {cell.get('id')}", d) for d in figure_directives(cell.source)]
    return found


DIRECTIVES = book_directives()


def _px(value: str) -> float:
    match = re.fullmatch(r"\s*([\d.]+)\s*(px)?\s*", value)
    assert match, f"a size in plain pixels was expected, got {value!r}"
    return float(match.group(1))


def test_the_book_has_its_diagrams():
    names = {path.name for path in DIAGRAMS}
    assert {"nw_vs_krr.svg", "cubit_head.svg", "lm_block.svg", "blocked_solve.svg"} <= names, names


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.name)
def test_a_diagram_is_svg_that_names_itself(path):
    root = ET.parse(path).getroot()  # raises on malformed XML
    assert root.tag == f"{SVG}svg", f"{path.name}: the root is {root.tag}, not an SVG element"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and (title.text or "").strip(), f"{path.name}: no <title>"
    assert desc is not None and len((desc.text or "").split()) >= 10, f"{path.name}: no <desc> that describes it"
    assert root.get("role") == "img", f"{path.name}: the root needs role='img'"
    labelled = root.get("aria-label") or " ".join(
        (root.find(f".//*[@id='{ref}']").text or "") for ref in (root.get("aria-labelledby") or "").split()
        if root.find(f".//*[@id='{ref}']") is not None)
    assert title.text.strip() in labelled, f"{path.name}: aria-label or aria-labelledby must give its title"


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.name)
def test_a_diagram_draws_words_as_text_and_loads_nothing(path):
    root = ET.parse(path).getroot()
    words = " ".join("".join(text.itertext()) for text in root.iter(f"{SVG}text")).split()
    assert len(words) >= 5, f"{path.name}: its labels should be <text> elements, found {words}"
    for element in root.iter():
        for name, value in element.attrib.items():
            if name.endswith("href"):
                assert value.startswith("#"), f"{path.name}: {element.tag} links to {value!r}"
        assert element.tag not in (f"{SVG}image", f"{SVG}foreignObject", f"{SVG}script"), f"{path.name}: {element.tag}"


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.name)
def test_a_diagram_fits_the_column_and_its_text_is_not_too_small(path):
    """Shown at its natural width (no wider than the content column), every font is at least 8 pt."""
    root = ET.parse(path).getroot()
    width = _px(root.get("width", "0"))
    view = [float(v) for v in root.get("viewBox", "").split()]
    assert 0 < width <= CONTENT_WIDTH_PX, f"{path.name}: {width} px wide; the column is {CONTENT_WIDTH_PX} px"
    assert len(view) == 4 and view[2] == width, f"{path.name}: the viewBox should be drawn at 1 unit = 1 px"
    sizes = [_px(el.get("font-size")) for el in root.iter() if el.get("font-size")]
    assert sizes and min(sizes) >= MIN_FONT_PX - 0.5, (
        f"{path.name}: smallest font {min(sizes, default=0)} px; the book's minimum is {MIN_FONT_PX:.1f} px"
    )


def test_the_directive_parser_reads_options_and_caption():
    text = "before\n```{figure} figures/a.svg\n:name: fig-a\n:alt: An a.\n\nThe caption,\non two lines.\n```\nafter"
    (found,) = figure_directives(text)
    assert found == {"path": "figures/a.svg", "options": {"name": "fig-a", "alt": "An a."},
                     "caption": "The caption, on two lines."}


def test_the_book_shows_figures_with_directives():
    assert len(DIRECTIVES) >= len(DIAGRAMS) >= 4


@pytest.mark.parametrize(("where", "directive"), DIRECTIVES, ids=[f"{w}:{d['path']}" for w, d in DIRECTIVES])
def test_every_figure_has_a_file_alt_text_and_a_caption(where, directive):
    assert (BOOK / directive["path"]).is_file(), f"{where}: {directive['path']} does not exist"
    alt = directive["options"].get("alt", "")
    assert len(alt.split()) >= 5, f"{where}: the figure needs :alt: text that says what it shows, got {alt!r}"
    assert len(directive["caption"].split()) >= 5, f"{where}: the figure needs a caption"
    assert directive["options"].get("name", "").startswith("fig-"), f"{where}: name it (:name: fig-...) to cite it"


def test_every_diagram_is_shown_by_a_figure():
    shown = {(BOOK / d["path"]).resolve() for _, d in DIRECTIVES}
    unused = [path.name for path in DIAGRAMS if path.resolve() not in shown]
    assert not unused, f"diagrams no page shows: {unused}"
