"""The book's pages as the built site has them: table-of-contents order, titles, reference texts.

Shared by the two editions built from the site (``scripts/build_editions.sh``): the slides
(``scripts/slides.py``) and the PDF (``scripts/book_pdf.py``). Everything here is read from
``_toc.yml`` and from the built HTML in ``_build/html``, so a number or a title is the one
the site shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"


@dataclass(frozen=True)
class TocEntry:
    """One page of ``_toc.yml``: its document path without suffix, the caption of its part, and
    whether that part is numbered (its pages are the book's chapters)."""

    page: str  # e.g. "book/01_nadaraya_watson"
    part: str  # the part's caption; "" for the root page
    numbered: bool = False


def toc_entries(root: Path = ROOT) -> list[TocEntry]:
    """Every document of ``_toc.yml`` in reading order (root, then each part's chapters and sections)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    entries = [TocEntry(_strip_suffix(toc["root"]), "")]

    def walk(items, part: str, numbered: bool) -> None:
        for item in items or []:
            if "file" in item:
                entries.append(TocEntry(_strip_suffix(item["file"]), part, numbered))
            walk(item.get("sections"), part, numbered)
            walk(item.get("chapters"), part, numbered)

    for part in toc.get("parts", []):
        walk(part.get("chapters"), part.get("caption", ""), bool(part.get("numbered")))
    walk(toc.get("chapters"), "", bool(toc.get("numbered")))
    return entries


def _strip_suffix(page: str) -> str:
    return re.sub(r"\.(md|ipynb)$", "", page)


def require_site(site: Path = SITE) -> Path:
    """``site`` if it holds a built book; otherwise stop with what to run."""
    if not (site / "index.html").is_file():
        raise SystemExit(f"error: no built book in {site}; build it first with `bash scripts/build_book.sh`")
    return site


class _PageParser(HTMLParser):
    """Collects a page's ``<title>``, its ``<h1>``s, the text of each internal link by target,
    and the number of each numbered thing by its id.

    A page has two ``<h1>``: the theme's print header, then the article's own, which carries
    the chapter's number (``<span class="section-number">3. </span>``). A numbered figure or
    statement is an element with an id followed by ``<span class="caption-number">Fig. 1.2
    </span>``; an equation's number is ``<span class="eqno">(1.1)<a class="headerlink"
    href="#equation-...">``. Links say what the site writes where it refers to a target;
    ``numbered`` holds the numbers of targets nothing refers to as well.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.h1s: list[str] = []
        self.links: list[tuple[str, str]] = []
        self.numbered: dict[str, str] = {}
        self._last_id = ""
        self._caption: list[str] | None = None
        self._eqno: list[str] | None = None
        self._in_title = False
        self._in_h1 = False
        self._link: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        classes = attributes.get("class") or ""
        if tag in ("figure", "div", "table") and attributes.get("id"):
            self._last_id = attributes["id"] or ""
        if tag == "span" and classes == "caption-number":
            self._caption = []
        elif tag == "span" and classes == "eqno":
            self._eqno = []
        elif tag == "a" and "headerlink" in classes and self._eqno is not None:
            anchor = (attributes.get("href") or "").lstrip("#")
            self.numbered.setdefault(anchor, "".join(self._eqno).strip())
            self._eqno = None
        if tag == "title":
            self._in_title = True
        elif tag == "h1":
            self._in_h1 = True
            self.h1s.append("")
        elif tag == "a" and "reference internal" in (attributes.get("class") or ""):
            self._link, self._text = attributes.get("href") or "", []
        elif tag == "a" and "headerlink" in (attributes.get("class") or ""):
            self._in_h1 = False

    def handle_endtag(self, tag):
        if tag == "span" and self._caption is not None:
            if self._last_id:
                self.numbered.setdefault(self._last_id, " ".join("".join(self._caption).split()))
            self._caption = None
        if tag == "title":
            self._in_title = False
        elif tag == "h1":
            self._in_h1 = False
        elif tag == "a" and self._link is not None:
            self.links.append((self._link, " ".join("".join(self._text).split())))
            self._link = None

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        if self._in_h1:
            self.h1s[-1] += data
        if self._link is not None:
            self._text.append(data)
        for collecting in (self._caption, self._eqno):
            if collecting is not None:
                collecting.append(data)


@dataclass
class SiteReferences:
    """What the built site writes for each cross-reference target.

    ``anchors`` maps an HTML anchor (a label such as ``fig-nw-data``, ``equation-eq-nw`` or
    ``prop-pivots``) to the text the site's links to it show (``Fig. 1.2``, ``(1.1)``,
    ``Proposition 4.1``); ``titles`` maps a page (``book/01_nadaraya_watson``) to its title
    and ``numbers`` a numbered chapter's page to its number (``"1"``).
    """

    anchors: dict[str, str]
    titles: dict[str, str]
    numbers: dict[str, str]

    def numbered_title(self, page: str) -> str:
        """``"1. Nadaraya–Watson regression"`` for a numbered chapter, the plain title otherwise."""
        number = self.numbers.get(page)
        return f"{number}. {self.titles[page]}" if number else self.titles[page]

    @classmethod
    def from_site(cls, site: Path = SITE, root: Path = ROOT) -> SiteReferences:
        anchors: dict[str, str] = {}
        titles: dict[str, str] = {}
        numbers: dict[str, str] = {}
        for entry in toc_entries(root):
            page = site / f"{entry.page}.html"
            if not page.is_file():
                continue
            parser = _PageParser()
            parser.feed(page.read_text(encoding="utf-8"))
            h1 = " ".join(parser.h1s[-1].split()) if parser.h1s else ""
            numbered = re.match(r"(\d+(?:\.\d+)*)\.\s+(.*)", h1)
            if numbered:
                numbers[entry.page], h1 = numbered.groups()
            titles[entry.page] = h1 or parser.title.split(" — ")[0].strip()
            for href, text in parser.links:
                anchor = href.split("#", 1)[1] if "#" in href else ""
                if anchor and text:
                    anchors.setdefault(anchor, text)
            for anchor, number in parser.numbered.items():
                if anchor and number:
                    anchors.setdefault(anchor, number)
        return cls(anchors, titles, numbers)
