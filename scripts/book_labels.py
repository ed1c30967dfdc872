"""The book's cross-reference targets as the site numbers them, read from the sources alone.

What ``{ref}``, ``{numref}``, ``{eq}``, ``{prf:ref}`` and ``{doc}`` point at, without a
Sphinx build: the pages of ``_toc.yml`` in the order Sphinx walks them, their titles, the
chapter number of each page of a numbered part (numbered straight through the parts, as
Jupyter Book's multi-toc numbering does), and every label a page defines:

* ``(label)=`` targets (a section's title when a heading follows);
* figures: ``mystnb.figure.name`` in a code cell's metadata, or ``:name:`` of a
  ``{figure}`` directive (numbered only when captioned, as Sphinx does);
* equations: ``$$ ... $$ (label)`` and ``{math}`` directives with ``:label:``;
* ``{prf:...}`` statements and ``{exercise}`` directives with ``:label:`` (numbered
  whether labelled or not; ``:nonumber:`` leaves one out).

Numbers follow Sphinx's ``numfig`` with ``numfig_secnum_depth = 1``: in chapter N the k-th
figure is N.k, counted separately for figures, equations, exercises and each kind of
``prf`` statement; on an unnumbered page (preface, appendices) it is k, counted across all
unnumbered pages in reading order. The anchors are those of the built HTML.

Used by ``scripts/colab_edition.py``; ``tests/test_colab_edition.py`` checks the numbers
against a built site.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# Sphinx's (and sphinx-proof's, sphinx-exercise's) numfig formats for what the book numbers.
NUMFIG_FORMAT = {"figure": "Fig. %s", "exercise": "Exercise %s"}
DIRECTIVE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,}|:{3,})\{(?P<name>[^}\s]+)\}[ \t]*(?P<arg>.*)$")
CODE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
OPTION = re.compile(r"^[ \t]*:(?P<key>[\w-]+):[ \t]*(?P<value>.*)$")
TARGET = re.compile(r"^\((?P<label>[^()\s]+)\)=[ \t]*$")
HEADING = re.compile(r"^(?P<hashes>#{1,6})[ \t]+(?P<title>.+?)[ \t]*#*[ \t]*$")
LABELLED_MATH = re.compile(r"\$\$[ \t]*\((?P<label>[^()\s]+)\)[ \t]*$")


class BookSourceError(ValueError):
    """The book's sources say something the Colab edition cannot resolve (an unknown label, a bad fence)."""


@dataclass(frozen=True)
class Target:
    """One thing a reference can point at: where it is on the site and how a reference names it."""

    label: str
    doc: str  # e.g. "book/01_nadaraya_watson"
    kind: str  # "section", "target", "figure", "displaymath", "exercise" or a prf type ("proposition", ...)
    anchor: str  # the HTML id on the page
    number: str = ""  # "1.3", "4", or "" when unnumbered
    title: str = ""  # a section's title, a figure's caption, a statement's own title


@dataclass
class Page:
    """One page of ``_toc.yml``."""

    doc: str
    path: Path
    chapter: int | None  # the chapter number of a page of a numbered part
    title: str = ""
    cells: list[dict] = field(default_factory=list)  # {"cell_type", "source", "metadata"}
    # The numbers of statements and exercises without a label, by kind, in text order.
    unlabelled: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Book:
    """The pages in reading order and every label they define."""

    pages: list[Page]
    targets: dict[str, Target]

    def page(self, doc: str) -> Page:
        for page in self.pages:
            if page.doc == doc:
                return page
        known = ", ".join(p.doc for p in self.pages)
        raise BookSourceError(f"no page {doc!r} in _toc.yml; the pages are: {known}")

    def target(self, label: str, where: str) -> Target:
        if label not in self.targets:
            raise BookSourceError(f"{where}: unknown label {label!r} (no page of _toc.yml defines it)")
        return self.targets[label]


def make_id(label: str) -> str:
    """The HTML id docutils makes of a label (lower case; runs of other characters become one hyphen)."""
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def read_cells(path: Path) -> list[dict]:
    """A notebook's cells, or a Markdown page as one markdown cell (front matter dropped)."""
    if path.suffix == ".ipynb":
        notebook = json.loads(path.read_text(encoding="utf-8"))
        return [
            {"cell_type": c["cell_type"], "source": cell_source(c), "metadata": c.get("metadata", {})}
            for c in notebook["cells"]
        ]
    text = path.read_text(encoding="utf-8")
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        text = text[end + 5 :] if end >= 0 else text
    return [{"cell_type": "markdown", "source": text, "metadata": {}}]


def toc_pages(root: Path = ROOT) -> list[Page]:
    """The pages of ``_toc.yml`` in reading order, chapters of numbered parts numbered 1, 2, ... straight through."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    pages: list[Page] = []
    chapter = 0

    def add(entry: str, numbered: bool) -> None:
        nonlocal chapter
        doc = re.sub(r"\.(md|ipynb)$", "", entry)
        found = [root / f"{doc}{suffix}" for suffix in (".ipynb", ".md") if (root / f"{doc}{suffix}").is_file()]
        if not found:
            raise BookSourceError(f"_toc.yml names {entry!r}, but neither {doc}.ipynb nor {doc}.md exists")
        if numbered:
            chapter += 1
        pages.append(Page(doc=doc, path=found[0], chapter=chapter if numbered else None))

    def walk(items: list, numbered: bool) -> None:
        for item in items or []:
            if "file" in item:
                add(item["file"], numbered)
            walk(item.get("sections", []), numbered)

    add(toc["root"], False)
    for part in toc.get("parts", []):
        walk(part.get("chapters", []), bool(part.get("numbered")))
    walk(toc.get("chapters", []), False)
    return pages


def directive_options(lines: list[str], start: int) -> tuple[dict[str, str], int]:
    """The ``:key: value`` lines of a directive from ``lines[start]``; returns them and the first body line."""
    options: dict[str, str] = {}
    i = start
    if i < len(lines) and lines[i].strip() == "---":
        raise BookSourceError("a directive's options as a YAML block (---) are not supported; use :key: value lines")
    while i < len(lines) and (match := OPTION.match(lines[i])):
        options[match["key"]] = match["value"].strip()
        i += 1
    return options, i


def fence_end(lines: list[str], start: int, fence: str, where: str) -> int:
    """The index of the line closing ``fence`` (opened on ``lines[start - 1]``): same character, as long or longer."""
    closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
    for i in range(start, len(lines)):
        if closing.match(lines[i]):
            return i
    raise BookSourceError(f"{where}: the fence {fence!r} opened on line {start} is never closed")


@dataclass
class _Counter:
    """Sphinx's figure counters: one per (kind, chapter), the unnumbered pages sharing one."""

    counts: dict[tuple[str, int | None], int] = field(default_factory=dict)

    def next(self, kind: str, chapter: int | None) -> str:
        key = (kind, chapter)
        self.counts[key] = self.counts.get(key, 0) + 1
        return f"{chapter}.{self.counts[key]}" if chapter is not None else str(self.counts[key])


def scan_markdown(text: str, page: Page, counter: _Counter, found: list[Target], where: str) -> None:
    """Collect the labels a markdown text defines, numbering what Sphinx numbers, in text order."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if (opened := DIRECTIVE_OPEN.match(line)) is not None:
            end = fence_end(lines, i + 1, opened["fence"], where)
            options, body_start = directive_options(lines, i + 1)
            name, arg = opened["name"], opened["arg"].strip()
            body = "\n".join(lines[body_start:end])
            scan_directive(name, arg, options, body, page, counter, found, where)
            i = end + 1
            continue
        if (code := CODE_OPEN.match(line)) is not None:
            i = fence_end(lines, i + 1, code["fence"], where) + 1
            continue
        if (target := TARGET.match(line)) is not None:
            label = target["label"]
            following = next((candidate for candidate in lines[i + 1 :] if candidate.strip()), "")
            heading = HEADING.match(following)
            kind, title = ("section", heading["title"]) if heading else ("target", "")
            found.append(Target(label, page.doc, kind, make_id(label), "", title))
        elif (math := LABELLED_MATH.search(line)) is not None:
            label = math["label"]
            found.append(
                Target(
                    label,
                    page.doc,
                    "displaymath",
                    f"equation-{make_id(label)}",
                    counter.next("displaymath", page.chapter),
                )
            )
        i += 1


def scan_directive(
    name: str,
    arg: str,
    options: dict[str, str],
    body: str,
    page: Page,
    counter: _Counter,
    found: list[Target],
    where: str,
) -> None:
    """The label a directive defines (numbered as Sphinx numbers it), then the labels inside its body."""
    label = options.get("label") or options.get("name")
    numbered = "nonumber" not in options
    if name.startswith("prf:") and name != "prf:proof":
        kind = name.removeprefix("prf:")
        number = counter.next(kind, page.chapter) if numbered else ""
        if label:
            found.append(Target(label, page.doc, kind, make_id(label), number, arg))
        else:
            page.unlabelled.setdefault(kind, []).append(number)
    elif name == "exercise":
        number = counter.next("exercise", page.chapter) if numbered else ""
        if label:
            found.append(Target(label, page.doc, "exercise", make_id(label), number, arg))
        else:
            page.unlabelled.setdefault("exercise", []).append(number)
    elif name == "figure":
        caption = body.strip().split("\n\n", 1)[0].strip()
        if label:
            number = counter.next("figure", page.chapter) if caption else ""
            found.append(Target(label, page.doc, "figure", make_id(label), number, caption))
    elif name == "math":
        if label:
            found.append(
                Target(
                    label,
                    page.doc,
                    "displaymath",
                    f"equation-{make_id(label)}",
                    counter.next("displaymath", page.chapter),
                )
            )
    scan_markdown(body, page, counter, found, where)


def page_title(cells: list[dict]) -> str:
    for cell in cells:
        if cell["cell_type"] == "markdown":
            for line in cell["source"].split("\n"):
                if (heading := HEADING.match(line)) is not None and len(heading["hashes"]) == 1:
                    return heading["title"]
    return ""


def read_book(root: Path = ROOT) -> Book:
    """Every page of ``_toc.yml`` and every label it defines, numbered as the built site numbers it."""
    pages = toc_pages(root)
    counter = _Counter()
    found: list[Target] = []
    for page in pages:
        page.cells = read_cells(page.path)
        page.title = page_title(page.cells)
        if not page.title:
            raise BookSourceError(f"{page.path.name}: no '# title' heading")
        for number, cell in enumerate(page.cells):
            where = (
                f"{page.path.relative_to(root)}, cell {number}"
                if page.path.suffix == ".ipynb"
                else str(page.path.relative_to(root))
            )
            if cell["cell_type"] == "markdown":
                scan_markdown(cell["source"], page, counter, found, where)
            elif cell["cell_type"] == "code":
                figure = cell["metadata"].get("mystnb", {}).get("figure", {})
                if figure.get("name"):
                    caption = figure.get("caption", "")
                    found.append(
                        Target(
                            figure["name"],
                            page.doc,
                            "figure",
                            make_id(figure["name"]),
                            counter.next("figure", page.chapter) if caption else "",
                            caption,
                        )
                    )
    targets: dict[str, Target] = {}
    for target in found:
        if target.label in targets:
            other = targets[target.label].doc
            raise BookSourceError(f"the label {target.label!r} is defined twice ({other} and {target.doc})")
        targets[target.label] = target
    return Book(pages, targets)
