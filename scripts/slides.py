"""Slides for each chapter: a reveal.js deck made from the chapter's executed notebook.

For every chapter (each notebook of the table of contents' numbered parts),
``python scripts/slides.py`` takes the
notebook the book build executed (``_build/jupyter_execute/book/NAME.ipynb``, so the
figures and the sliders' frames are the ones on the site), turns it into a deck notebook
and exports that with nbconvert's ``SlidesExporter`` into ``_build/html/slides/NAME.html``,
with an index page beside the decks. Run it after the book build
(``scripts/build_editions.sh`` does both).

What a slide holds (what a lecturer puts on the screen: the figure, the table, the
equation and the key sentence; the rest stays in the speaker notes):

* the chapter's ``#`` title opens the deck; each ``##`` heading starts a new slide and
  each ``###`` heading a sub-slide (reveal.js's vertical slides);
* from the prose, the first sentence of each paragraph (after a bold lead-in, the
  sentence after it), display equations with their numbers, lists, tables, and the
  statements of definitions, propositions and theorems; the whole paragraph goes into
  the slide's speaker notes (press ``S`` in the deck), as do proofs;
* every figure, slider, table and interactive figure (the regression playground) a cell
  draws gets a sub-slide of its own, with its caption; a slider keeps its precomputed
  frames and works with no kernel, as the playground does;
* a code cell that prints a result gets a sub-slide with its output, and its code when
  the code is short (at most ``SHORT_CODE_LINES`` lines) and not hidden on the site;
  longer code, the set-up cells before the first section, the self-check, the code of the
  exercises section and the worked solutions are left out; exercises appear as a list of
  their titles;
* a slide whose text grows past about ``TEXT_LINES_PER_SLIDE`` lines continues on a
  sub-slide with the same heading.

MyST markup, which nbconvert does not know, becomes what the site shows: a reference is
the text of the site's link to it (``Fig. 1.2``, ``(4.3)``, ``Proposition 4.1``, a
section's title), a citation is "(Author, year)" from ``book/references.bib`` (read by
``scripts/bib_entries.py``, as for the Colab edition), ``{math}``
is inline maths, and a labelled equation carries the site's number.

The decks load reveal.js (``reveal.js`` in ``package.json``, copied from ``node_modules/``
into ``slides/reveal.js/``), MathJax, require.js and the ipywidgets manager from the
site's own ``_static/`` folder: like the site, they make no request off the machine.
"""

from __future__ import annotations

import argparse
import base64
import copy
import html
import json
import mimetypes
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bib_entries import author_year, read_bib  # noqa: E402
from book_pages import ROOT, SITE, SiteReferences, TocEntry, require_site, toc_entries  # noqa: E402

TEMPLATE_DIR = Path(__file__).resolve().parent / "slides_template"
SLIDES_DIR = "slides"
# What the decks take from reveal.js's npm package (package.json pins the version).
REVEAL_FILES = ("LICENSE", "dist/reveal.js", "dist/reveal.css", "dist/theme/white.css", "dist/plugin/notes.js")

SHORT_CODE_LINES = 8
LONG_OUTPUT_LINES = 25
LONG_TABLE_ROWS = 10
TEXT_LINES_PER_SLIDE = 14
CHARS_PER_LINE = 78
SKIPPED_SECTIONS = {"self-check"}
SECTIONS_WITHOUT_CODE = {"exercises"}  # their exercises' titles go on the slide, their code does not
# Output types a deck shows, by what they are.
IMAGE_TYPES = ("image/svg+xml", "image/png", "image/jpeg")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PROOF_LIKE = {"prf:proof"}
STATEMENTS = {
    "prf:definition", "prf:proposition", "prf:theorem", "prf:lemma", "prf:corollary", "prf:algorithm",
    "prf:remark", "prf:example", "prf:conjecture", "prf:property", "prf:axiom", "prf:criterion",
    "admonition", "note", "important", "tip", "warning", "caution", "attention", "hint", "seealso",
}
ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "cf.", "vs.", "al.", "Fig.", "Eq.", "Eqs.", "resp.", "approx.", "Sec.")


# --------------------------------------------------------------------------- #
# MyST inline markup -> what the site shows
# --------------------------------------------------------------------------- #
@dataclass
class Markup:
    """Turns a chapter's MyST inline markup into plain Markdown with the site's texts."""

    references: SiteReferences
    citations: dict[str, str]
    page: str  # the chapter's document, e.g. "book/01_nadaraya_watson"
    unresolved: list[str] = field(default_factory=list)  # references the site has no text for

    ROLE = re.compile(r"\{([\w:.-]+)\}`([^`]*)`")

    def inline(self, text: str) -> str:
        return self.ROLE.sub(lambda m: self._role(m.group(1), m.group(2)), text)

    def _role(self, name: str, content: str) -> str:
        explicit = re.fullmatch(r"(.*?)\s*<([^<>]+)>", content, re.S)
        label = (explicit.group(2) if explicit else content).strip()
        given = explicit.group(1).strip() if explicit else ""
        if name == "math":
            return f"${content}$"
        if name.startswith("cite"):
            found = [self.citations.get(key.strip(), key.strip()) for key in content.split(",")]
            if name == "cite:t":
                return "; ".join(re.sub(r", (\S+)$", r" (\1)", c) for c in found)
            return "(" + "; ".join(found) + ")"
        if name == "doc":
            target = (Path(self.page).parent / label).as_posix() if not label.startswith("/") else label[1:]
            target = re.sub(r"\.(md|ipynb)$", "", str(Path(target)))
            return given or self.references.titles.get(target, label)
        if name == "eq":
            if not given and f"equation-{label}" not in self.references.anchors:
                self.unresolved.append(f"{{eq}}`{content}`")
            return given or self.references.anchors.get(f"equation-{label}", f"({label})")
        if name in ("ref", "numref", "prf:ref"):
            shown = self.references.anchors.get(label, "")
            if given and "%s" in given:  # {numref}`Figure %s <label>`
                number = re.search(r"[\d.]*\d", shown)
                return given.replace("%s", number.group(0) if number else "")
            if not (given or shown):
                self.unresolved.append(f"{{{name}}}`{content}`")
            return given or shown or label.replace("-", " ")
        return given or content  # {term}, {abbr}, {sub}, ...: the text

    def equation(self, block: str) -> str:
        """A ``$$ ... $$ (label)`` block with the site's equation number as its ``\\tag``."""
        match = re.fullmatch(r"\$\$(.*)\$\$\s*\(([\w:.-]+)\)\s*", block.strip(), re.S)
        if not match:
            return block.strip()
        body, label = match.groups()
        number = self.references.anchors.get(f"equation-{label}", "").strip("()")
        if number and not re.search(r"\\begin\{(align|equation|gather|multline)\*?\}", body):
            body = f"{body.rstrip()} \\tag{{{number}}}\n"
        return f"$${body}$$"


# --------------------------------------------------------------------------- #
# Markdown cells -> blocks
# --------------------------------------------------------------------------- #
@dataclass
class Block:
    """One piece of a Markdown cell: a heading, a paragraph, an equation, a list, a directive..."""

    kind: str  # heading, paragraph, math, list, table, code, directive, html
    text: str
    level: int = 0  # heading level
    name: str = ""  # directive name
    argument: str = ""  # directive argument (its title)
    options: dict[str, str] = field(default_factory=dict)


FENCE = re.compile(r"^(\s*)(`{3,}|:{3,})\s*(\{([\w:.-]+)\})?\s*(.*)$")


def parse_blocks(markdown: str) -> list[Block]:
    """Split MyST Markdown into blocks (label lines and comments dropped)."""
    lines = markdown.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        fence = FENCE.match(line)
        if not stripped or re.fullmatch(r"\([\w:.-]+\)=", stripped) or stripped.startswith("% ") or stripped == "%":
            i += 1
        elif fence:
            marker = fence.group(2)
            close = re.compile(rf"^\s*{re.escape(marker[0])}{{{len(marker)},}}\s*$")
            j = i + 1
            while j < len(lines) and not close.match(lines[j]):
                j += 1
            body = lines[i + 1:j]
            if fence.group(4):
                options = {}
                while body and re.match(r"^\s*:[\w-]+:", body[0]):
                    key, _, value = body.pop(0).strip()[1:].partition(":")
                    options[key] = value.strip()
                blocks.append(Block("directive", "\n".join(body).strip(), name=fence.group(4),
                                    argument=fence.group(5).strip(), options=options))
            else:
                blocks.append(Block("code", "\n".join([line.strip(), *body, marker])))
            i = j + 1
        elif stripped.startswith("#"):
            level = len(stripped) - len(stripped.lstrip("#"))
            blocks.append(Block("heading", stripped[level:].strip(), level=level))
            i += 1
        elif stripped.startswith("$$") or stripped.startswith("\\begin{"):
            j = i
            closing = "$$" if stripped.startswith("$$") else "\\end{"
            while True:
                rest = lines[j].strip()[2:] if j == i and closing == "$$" else lines[j]
                if closing in rest or j == len(lines) - 1:
                    break
                j += 1
            blocks.append(Block("math", "\n".join(lines[i:j + 1])))
            i = j + 1
        else:
            j = i
            while j < len(lines) and lines[j].strip() and not FENCE.match(lines[j]) \
                    and not (j > i and (lines[j].lstrip().startswith(("#", "$$")))):
                j += 1
            text = "\n".join(lines[i:j])
            if re.match(r"\s*([-*+]|\d+[.)])\s", text):
                kind = "list"
            elif text.lstrip().startswith("|"):
                kind = "table"
            elif text.lstrip().startswith("<"):
                kind = "html"
            else:
                kind = "paragraph"
            blocks.append(Block(kind, text))
            i = j
    return blocks


def _masked(text: str) -> str:
    """``text`` with maths, code spans and link targets replaced by ``x`` (same length)."""
    pattern = r"\$\$.*?\$\$|\$[^$]+\$|`[^`]*`|\]\([^)]*\)"
    return re.sub(pattern, lambda m: "x" * len(m.group(0)), text, flags=re.S)


def sentences(paragraph: str) -> list[str]:
    """The paragraph's sentences (maths, code and link targets are never split; a bold lead-in
    such as ``**What theory predicts.**`` stays with the sentence after it)."""
    text = " ".join(paragraph.split())
    masked = _masked(text)
    lead = re.match(r"\*\*[^*]+\*\*\s*", text)
    found, start = [], 0
    for match in re.finditer(r"[.!?](\*{1,2}|\))?(?=\s+[A-Z(*$`\[\"“])", masked):
        end = match.end()
        if lead and end <= lead.end():
            continue
        words = masked[start:end].split()
        if words and (any(words[-1].endswith(a) for a in ABBREVIATIONS) or re.fullmatch(r"\(?[A-Z]\.", words[-1])):
            continue
        found.append(text[start:end].strip())
        start = end
    if text[start:].strip():
        found.append(text[start:].strip())
    return found


def key_sentences(paragraph: str, introduces_equation: bool = False, most: int = 3) -> str:
    """What of a paragraph goes on a slide: its first sentence, the sentences that define a
    term (in bold), and, before a display equation, the sentence that leads into it."""
    every = sentences(paragraph)
    chosen = [0] + [i for i, s in enumerate(every[1:], 1) if "**" in s]
    if introduces_equation:
        chosen.append(len(every) - 1)
    keep = sorted(set(chosen[:most - 1] + chosen[-1:])) if len(set(chosen)) > most else sorted(set(chosen))
    return " ".join(every[i] for i in keep)


def _list_items(text: str) -> list[tuple[str, str]]:
    """``(marker, item text)`` for each top-level item of a Markdown list."""
    items: list[tuple[str, str]] = []
    for line in text.splitlines():
        found = re.match(r"^([-*+]|\d+[.)])\s+(.*)$", line)
        if found:
            items.append((found.group(1), found.group(2)))
        elif items:
            items[-1] = (items[-1][0], items[-1][1] + " " + line.strip())
    return items


def _lines(text: str) -> int:
    """About how many lines of a slide ``text`` fills."""
    if text.lstrip().startswith("$$"):
        return 2 + text.count("\\\\")
    return sum(max(1, -(-len(line) // CHARS_PER_LINE)) for line in text.splitlines() if line.strip()) or 1


def _data_uri(path: Path) -> str:
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


# --------------------------------------------------------------------------- #
# The deck
# --------------------------------------------------------------------------- #
@dataclass
class Slide:
    """A slide being filled: a heading, its text blocks and its speaker notes."""

    heading: str
    level: str  # "slide" or "subslide"
    body: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lines: int = 0


class DeckBuilder:
    """Walks a chapter's executed notebook and writes the deck notebook's cells."""

    def __init__(self, notebook: nbformat.NotebookNode, markup: Markup, source_dir: Path, chapter_label: str):
        self.notebook = notebook
        self.markup = markup
        self.source_dir = source_dir
        self.chapter_label = chapter_label
        self.cells: list[nbformat.NotebookNode] = []
        self.slide: Slide | None = None
        self.title = ""
        self.in_section = False
        self.skipping_section = False
        self.without_code = False
        self.in_solution = False
        self.last_visual: nbformat.NotebookNode | None = None

    # -- output ----------------------------------------------------------------
    def _flush(self) -> None:
        slide, self.slide = self.slide, None
        if slide is None:
            return
        if not slide.body and not slide.notes and slide.level == "subslide":
            return
        heading = f"{'#' if not self.cells else '##'} {slide.heading}" if slide.heading else ""
        if not self.cells and self.chapter_label:
            heading = f"<p class='deck-kicker'>{html.escape(self.chapter_label)}</p>\n\n{heading}"
        self._cell("markdown", "\n\n".join([heading, *slide.body]).strip(), slide.level)
        if slide.notes:
            self._cell("markdown", "\n\n".join(slide.notes), "notes")

    def _cell(self, kind: str, source: str, slide_type: str, outputs=None, hide_source: bool = False):
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(source)
        else:
            cell = nbformat.v4.new_code_cell(source)
            cell.outputs = outputs or []
            cell.execution_count = None
        cell.metadata["slideshow"] = {"slide_type": slide_type}
        if hide_source:
            cell.metadata["tags"] = ["remove-input"]
        self.cells.append(cell)
        return cell

    def _new_slide(self, heading: str, level: str) -> None:
        self._flush()
        self.slide = Slide(heading, level)
        self.last_visual = None

    def _add(self, text: str, notes: str | None = None) -> None:
        if self.slide is None:
            self.slide = Slide("", "subslide")
        size = _lines(text)
        if self.slide.body and self.slide.lines + size > TEXT_LINES_PER_SLIDE:
            heading = self.slide.heading
            self._flush()
            self.slide = Slide(heading, "subslide")
        self.slide.body.append(text)
        self.slide.lines += size
        if notes:
            self.slide.notes.append(notes)
        self.last_visual = None

    def _note(self, text: str) -> None:
        if self.slide is None:
            self.slide = Slide("", "subslide")
        self.slide.notes.append(text)

    def _visual(self, outputs: list, caption: str = "", source: str = "") -> None:
        """A sub-slide of its own for a figure, a slider, a table or a printed result."""
        heading = self.slide.heading if self.slide else self.title
        self._flush()
        cell = self._cell("code", source, "subslide", outputs=outputs, hide_source=not source)
        html_text = "".join("".join(o.get("data", {}).get("text/html", "")) for o in outputs)
        if html_text.count("<tr") > LONG_TABLE_ROWS:
            cell.metadata.setdefault("tags", []).append("deck-long-table")  # smaller type (the template's CSS)
        if caption:
            self._cell("markdown", f"<div class='deck-caption'>\n\n{caption}\n\n</div>", "-")
        self.last_visual = cell
        self.slide = Slide(heading, "subslide")

    # -- input -----------------------------------------------------------------
    def build(self) -> list[nbformat.NotebookNode]:
        for cell in self.notebook.cells:
            if cell.cell_type == "markdown":
                self._markdown(cell.source)
            elif cell.cell_type == "code" and not (self.in_solution or self.skipping_section or self.without_code):
                self._code(cell)
        self._flush()
        return self.cells

    def _markdown(self, source: str) -> None:
        blocks = parse_blocks(source)
        for i, block in enumerate(blocks):
            if block.kind == "directive" and block.name == "solution-start":
                self.in_solution = True
                continue
            if block.kind == "directive" and block.name == "solution-end":
                self.in_solution = False
                continue
            if self.in_solution:
                continue
            if block.kind == "heading" and block.level <= 2:
                name = block.text.strip().lower() if block.level == 2 else ""
                self.skipping_section = name in SKIPPED_SECTIONS
                self.without_code = name in SECTIONS_WITHOUT_CODE
            if self.skipping_section:
                continue
            self._block(block, introduces_equation=i + 1 < len(blocks) and blocks[i + 1].kind == "math")

    def _block(self, block: Block, introduces_equation: bool = False) -> None:
        inline = self.markup.inline
        if block.kind == "heading":
            text = inline(block.text)
            if block.level == 1:
                self.title = text
                self._new_slide(text, "slide")
            elif block.level == 2:
                self.in_section = True
                self._new_slide(text, "slide")
            elif block.level == 3:
                self._new_slide(text, "subslide")
            else:
                self._add(f"**{text}**")
        elif block.kind == "paragraph":
            text = inline(block.text)
            caption = re.fullmatch(r"\s*\*([^*].*[^*])\*\s*", text, re.S)
            if caption and self.last_visual is not None:  # an italic line under a figure: its caption
                self._cell("markdown", f"<div class='deck-caption'>\n\n{text.strip()}\n\n</div>", "-")
                self.last_visual = None
                return
            self._add(key_sentences(text, introduces_equation), notes=" ".join(text.split()))
        elif block.kind == "math":
            self._add(self.markup.equation(block.text))
        elif block.kind == "list":
            items = [f"{'-' if not marker[0].isdigit() else marker} {key_sentences(inline(item), most=1)}"
                     for marker, item in _list_items(block.text)]
            chunk: list[str] = []  # a list longer than a slide continues on the next one
            for item in items:
                if chunk and _lines("\n".join([*chunk, item])) > TEXT_LINES_PER_SLIDE // 2:
                    self._add("\n".join(chunk))
                    chunk = []
                chunk.append(item)
            self._add("\n".join(chunk), notes=inline(block.text))
        elif block.kind in ("table", "html"):
            self._add(inline(block.text))
        elif block.kind == "code":
            if block.text.count("\n") <= SHORT_CODE_LINES + 1:
                self._add(block.text)
        elif block.kind == "directive":
            self._directive(block)

    def _directive(self, block: Block) -> None:
        name, inline = block.name, self.markup.inline
        if name == "exercise":
            title = inline(block.argument) or "Exercise"
            self._add(f"- {title}", notes=f"**Exercise: {title}.** " + " ".join(inline(block.text).split()))
        elif name in PROOF_LIKE:
            self._note("**Proof.** " + " ".join(inline(block.text).split()))
        elif name == "figure":
            self._figure(block)
        elif name in ("math",):
            self._add(f"$$\n{block.text}\n$$")
        elif name in STATEMENTS:
            label = block.options.get("label", "")
            number = self.markup.references.anchors.get(label, "") if label else ""
            kind = name.split(":")[-1].capitalize() if name != "admonition" else ""
            heading = number or kind
            title = inline(block.argument)
            if title:
                heading = f"{heading} ({title})" if heading else title
            inner = DeckBuilder(nbformat.v4.new_notebook(), self.markup, self.source_dir, "")
            parts = []
            for sub in parse_blocks(block.text):
                if sub.kind == "math":
                    parts.append(self.markup.equation(sub.text))
                elif sub.kind in ("paragraph", "list", "table"):
                    parts.append(inline(sub.text))
                elif sub.kind == "directive":
                    inner._directive(sub)
            body = "\n\n".join(parts)
            self._add(f"<div class='deck-statement'>\n\n**{heading}.** {body}\n\n</div>")
        else:  # another directive (code-block, dropdown, ...): its text, if short
            if _lines(block.text) <= 6:
                self._add(inline(block.text))

    def _figure(self, block: Block) -> None:
        path = (self.source_dir / block.argument).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"figure {block.argument!r} not found at {path}")
        alt = block.options.get("alt", "")
        number = self.markup.references.anchors.get(block.options.get("name", ""), "")
        caption = self.markup.inline(block.text)
        image = f"<img src='{_data_uri(path)}' alt='{html.escape(alt, quote=True)}'>"
        output = nbformat.v4.new_output("display_data", data={"text/html": image})
        self._visual([output], f"{number}: {caption}" if number else caption)

    def _code(self, cell: nbformat.NotebookNode) -> None:
        if not self.in_section:
            return  # the install and set-up cells before the first section
        tags = set(cell.metadata.get("tags", []))
        figure = cell.metadata.get("mystnb", {}).get("figure", {})
        caption = self.markup.inline(figure.get("caption", ""))
        number = self.markup.references.anchors.get(figure.get("name", ""), "")
        if number and caption:
            caption = f"{number}: {caption}"
        visuals, texts = [], []
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if output.output_type == "error":
                continue
            if any(kind in data for kind in IMAGE_TYPES) or WIDGET_VIEW in data:
                visuals.append(output)
            elif "text/html" in data:  # a table, or an interactive figure such as the playground
                visuals.append(output)
            elif output.output_type == "stream" and output.get("name") != "stderr" or set(data) == {"text/plain"}:
                texts.append(output)
        if visuals:
            self._visual(visuals, caption)
        if texts:
            printed = sum(len("".join(o.get("text", "") or o.get("data", {}).get("text/plain", "")).splitlines())
                          for o in texts)
            if printed > LONG_OUTPUT_LINES:
                return
            lines = cell.source.strip().splitlines()
            hidden = tags & {"hide-input", "remove-input", "remove-cell"}
            source = cell.source if (len(lines) <= SHORT_CODE_LINES and not hidden) else ""
            self._visual(texts, "", source)


def deck_notebook(executed: Path, page: str, markup: Markup, chapter_label: str) -> nbformat.NotebookNode:
    """The deck notebook of one chapter: its cells with reveal.js slide types, its widget state."""
    notebook = nbformat.read(executed, as_version=4)
    builder = DeckBuilder(notebook, markup, (ROOT / page).parent, chapter_label)
    deck = nbformat.v4.new_notebook()
    deck.cells = builder.build()
    deck.metadata = copy.deepcopy({k: v for k, v in notebook.metadata.items() if k in ("kernelspec", "language_info",
                                                                                    "widgets")})
    deck.metadata["title"] = builder.title or page
    return deck


def export_deck(deck: nbformat.NotebookNode, static_prefix: str) -> str:
    """The deck as one HTML page (nbconvert's SlidesExporter, this folder's template)."""
    from nbconvert import SlidesExporter
    from traitlets.config import Config

    config = Config()
    config.SlidesExporter.extra_template_basedirs = [str(TEMPLATE_DIR.parent)]
    config.SlidesExporter.template_name = TEMPLATE_DIR.name
    config.SlidesExporter.reveal_url_prefix = "reveal.js"
    config.SlidesExporter.reveal_theme = "white"
    config.SlidesExporter.reveal_transition = "none"
    config.SlidesExporter.reveal_number = "c/t"
    config.SlidesExporter.reveal_width = "1100"
    config.SlidesExporter.reveal_height = "780"
    config.SlidesExporter.require_js_url = f"{static_prefix}/require.js"
    config.SlidesExporter.exclude_input_prompt = True
    config.SlidesExporter.exclude_output_prompt = True
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_input_tags = {"remove-input"}
    exporter = SlidesExporter(config=config)
    body, _ = exporter.from_notebook_node(deck, resources={"static_prefix": static_prefix})
    return body


def _index_page(decks: list[tuple[str, str, str]]) -> str:
    rows = "\n".join(
        f'    <li><a href="{html.escape(name)}.html">{html.escape(label)}: {html.escape(title)}</a></li>'
        for name, label, title in decks
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Slides — Attention as Regression</title>
<link rel="icon" href="../_static/favicon.svg" type="image/svg+xml">
<style>
  body {{ font-family: system-ui, sans-serif; max-width: 44rem; margin: 3rem auto; padding: 0 1rem; line-height: 1.5; }}
  li {{ margin: 0.4rem 0; }}
</style>
</head>
<body>
<h1>Attention as Regression: slides</h1>
<p>One deck per chapter, made from the chapter's notebook as this site executed it. Arrow keys or the
space bar move through a deck; <kbd>S</kbd> opens the speaker notes (the chapter's full paragraphs),
<kbd>Esc</kbd> an overview. The sliders and the interactive figures work in the deck as on the site, with
no Python running; while one has the focus, the arrow keys are its own (click beside it to go on).</p>
<ul>
{rows}
</ul>
</body>
</html>
"""


def chapter_label(page: str, references: SiteReferences) -> str:
    """``"Chapter 3"``, as the site numbers the chapter; "" for a page the site does not number."""
    number = references.numbers.get(page)
    return f"Chapter {number}" if number else ""


def chapters() -> list[TocEntry]:
    """The pages that get a deck: the notebooks of the table of contents' numbered parts, the
    chapters a class meets over (the appendices and the pages on using the book get none)."""
    return [e for e in toc_entries() if e.numbered and (ROOT / f"{e.page}.ipynb").is_file()]


def build_slides(site: Path = SITE, out: Path | None = None, pages: list[str] | None = None) -> list[Path]:
    """Write one deck per chapter (or per page of ``pages``) and the index; return the decks."""
    require_site(site)
    executed_root = site.parent / "jupyter_execute"
    out = out or site / SLIDES_DIR
    references = SiteReferences.from_site(site)
    citations = {key: author_year(entry) for key, entry in read_bib(ROOT / "book" / "references.bib").items()}
    entries = chapters()
    if pages is not None:
        unknown = sorted(set(pages) - {e.page for e in entries})
        if unknown:
            raise SystemExit(f"error: not a chapter of the table of contents: {', '.join(unknown)}; "
                             f"choose from {', '.join(e.page for e in entries)}")
        entries = [e for e in entries if e.page in pages]
    if pages is None:
        shutil.rmtree(out, ignore_errors=True)  # every deck is written again: none is left from another chapter list
    out.mkdir(parents=True, exist_ok=True)
    _copy_reveal(out)
    written, listed = [], []
    for entry in entries:
        executed = executed_root / f"{entry.page}.ipynb"
        if not executed.is_file():
            raise SystemExit(f"error: {executed} is missing; build the book first (bash scripts/build_book.sh)")
        label = chapter_label(entry.page, references)
        markup = Markup(references, citations, entry.page)
        deck = deck_notebook(executed, entry.page, markup, label)
        if markup.unresolved:
            print(f"warning: {entry.page}: no text on the site for {', '.join(sorted(set(markup.unresolved)))}",
                  file=sys.stderr)
        target = out / f"{Path(entry.page).name}.html"
        target.write_text(export_deck(deck, "../_static"), encoding="utf-8")
        written.append(target)
        listed.append((target.stem, label, references.titles.get(entry.page, deck.metadata["title"])))
        print(f"==> {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
    if pages is None:
        (out / "index.html").write_text(_index_page(listed), encoding="utf-8")
    return written


def _copy_reveal(out: Path) -> None:
    sys.path.insert(0, str(ROOT / "_ext"))
    from offline_assets import AssetsMissing, check_node_modules

    try:
        check_node_modules(ROOT)
    except AssetsMissing as error:
        raise SystemExit(f"error: {error}") from None
    package = ROOT / "node_modules" / "reveal.js"
    target = out / "reveal.js"
    shutil.rmtree(target, ignore_errors=True)
    for name in REVEAL_FILES:
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(package / name, destination)
    version = json.loads((package / "package.json").read_text(encoding="utf-8"))["version"]
    (target / "VERSION").write_text(f"reveal.js {version}, copied from node_modules/ by scripts/slides.py\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="*", help="chapters to make decks of, e.g. book/01_nadaraya_watson "
                        "(default: every chapter, and the index page)")
    parser.add_argument("--site", type=Path, default=SITE, help="the built book (default: _build/html)")
    args = parser.parse_args(argv)
    pages = [re.sub(r"\.ipynb$", "", p) for p in args.pages] or None
    decks = build_slides(args.site.resolve(), pages=pages)
    print(f"==> {len(decks)} decks in {args.site / SLIDES_DIR}")


if __name__ == "__main__":
    main()
