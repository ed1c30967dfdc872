"""Each chapter's size against the budget of one 90-minute class session.

A numbered chapter, and each notebook of the Appendices part of ``_toc.yml``, fits one
session: at most :data:`WORD_BUDGET` words of prose and :data:`CODE_BUDGET` lines of shown
code before its self-check, and at most :data:`SCREEN_BUDGET` screens on the site. A
chapter that needs more is split. What is measured, per notebook:

* **words**: the prose of the markdown cells before the main line ends (the ``## Self-check``
  heading; without one, ``## Exercises``; without either, the end of the notebook). A word is
  a whitespace-separated token with a letter, a digit or a ``$`` in it, so an inline formula
  counts by its parts as written (``$P + \\lambda I$`` is three words) and a list bullet or a
  table rule not at all. Not prose, so not counted: display maths (``$$ ... $$``, ``{math}``),
  code blocks, directive fences and ``:option:`` lines, label lines ``(name)=``, MyST and HTML
  comments. The captions of figures drawn by code cells live in cell metadata and are not
  counted either.
* **advanced words**: the words inside an *advanced box*, counted apart and not in
  **words**. An advanced box is an admonition whose classes include :data:`ADVANCED_CLASS`
  and ``dropdown``, so that the site shows it folded (sphinx-togglebutton)::

      ````{admonition} Advanced: why the pivots are bounded
      :class: dropdown advanced

      ```{prf:proof}
      ...
      ```
      ````

  An admonition marked advanced but not ``dropdown`` is an error: the main line must read
  well with every advanced box closed.
* **code lines**: the lines of the code cells before the main line ends, except cells
  tagged ``hide-input``, ``remove-input``, ``remove-cell`` or ``hide-cell`` (the site shows
  them folded or not at all).
* **screens** (only with ``--site``): how far down the built page, in a 1280 × 720 window,
  the main line ends (the top of the self-check heading, or of the exercises heading, or
  the page's height), divided by 720: the screens a reader scrolls through with every
  folded box closed. Headless chromium through Playwright, as ``scripts/book_pdf.py``
  drives it.

Usage::

    python scripts/chapter_budget.py                      # the table
    python scripts/chapter_budget.py --json budget.json   # and the table as JSON
    python scripts/chapter_budget.py --site _build/html   # with screens, from a built book

``tests/test_chapter_budget.py`` holds every chapter to the word and code budgets.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from book_labels import (  # noqa: E402
    CODE_OPEN,
    DIRECTIVE_OPEN,
    ROOT,
    TARGET,
    BookSourceError,
    directive_options,
    fence_end,
)
from book_pages import toc_entries  # noqa: E402

WORD_BUDGET = 4500  # words of prose before the self-check
CODE_BUDGET = 400  # lines of shown code before the self-check
SCREEN_BUDGET = 35  # screens of the built page at 1280 x 720
SCREEN_WIDTH_PX, SCREEN_HEIGHT_PX = 1280, 720

APPENDIX_PART = "Appendices"  # the part of _toc.yml whose notebooks are held to the budget too
ADVANCED_CLASS = "advanced"
HIDDEN_TAGS = ("hide-input", "remove-input", "remove-cell", "hide-cell")
MAIN_LINE_ENDS = (re.compile(r"^##\s+Self-check\s*$", re.M), re.compile(r"^##\s+Exercises\s*$", re.M))
DISPLAY_MATH = re.compile(r"\$\$.*?\$\$(?:[ \t]*\([^()\s]+\))?", re.S)  # with its label, $$ (eq-name)
HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
WORD = re.compile(r"[^\W_]|\$")  # a letter, a digit or the dollar of an inline formula


class BudgetError(BookSourceError):
    """A chapter's markup that the measure cannot read (an advanced box that is not folded)."""


@dataclass(frozen=True)
class ChapterSize:
    """One notebook measured: its name (file stem), words, advanced words, shown code lines, screens."""

    name: str
    words: int
    advanced_words: int
    code_lines: int
    screens: float | None = None

    def over(self) -> list[str]:
        """What exceeds its budget, in words ("words 5372 > 4500"); empty when the chapter fits."""
        found = []
        if self.words > WORD_BUDGET:
            found.append(f"words {self.words} > {WORD_BUDGET}")
        if self.code_lines > CODE_BUDGET:
            found.append(f"code lines {self.code_lines} > {CODE_BUDGET}")
        if self.screens is not None and self.screens > SCREEN_BUDGET:
            found.append(f"screens {self.screens:.1f} > {SCREEN_BUDGET}")
        return found


# --------------------------------------------------------------------------- #
# Words
# --------------------------------------------------------------------------- #
def count_words(text: str) -> int:
    """Words of a run of prose, display maths and HTML comments left out."""
    text = HTML_COMMENT.sub(" ", text)
    text = DISPLAY_MATH.sub(" ", text)
    return sum(1 for token in text.split() if WORD.search(token))


def is_advanced(name: str, options: dict[str, str], where: str) -> bool:
    """Whether a directive is an advanced box; an advanced admonition that is not folded is an error."""
    classes = options.get("class", "").split()
    if ADVANCED_CLASS not in classes:
        return False
    if name != "admonition" or "dropdown" not in classes:
        raise BudgetError(
            f"{where}: a box marked {ADVANCED_CLASS!r} must be an admonition with the classes "
            f"'dropdown {ADVANCED_CLASS}' (folded on the site); found {{{name}}} with :class: {options.get('class')}"
        )
    return True


def markdown_words(text: str, where: str) -> tuple[int, int]:
    """(words of the main line, words inside advanced boxes) of one markdown text."""
    words = advanced = 0
    prose: list[str] = []  # the lines since the last directive or code block
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        opened, code = DIRECTIVE_OPEN.match(line), CODE_OPEN.match(line)
        if opened is None and code is None:
            if not (TARGET.match(line) or line.startswith("% ") or line.strip() == "%"):
                prose.append(line)
            i += 1
            continue
        words += count_words("\n".join(prose))
        prose.clear()
        if opened is not None:
            end = fence_end(lines, i + 1, opened["fence"], where)
            options, body_start = directive_options(lines, i + 1)
            inner = markdown_words("\n".join([opened["arg"], *lines[body_start:end]]), where)
            if is_advanced(opened["name"], options, where):
                advanced += sum(inner)
            elif opened["name"] != "math":
                words += inner[0]
                advanced += inner[1]
        else:
            assert code is not None
            end = fence_end(lines, i + 1, code["fence"], where)
        i = end + 1
    return words + count_words("\n".join(prose)), advanced


# --------------------------------------------------------------------------- #
# One notebook
# --------------------------------------------------------------------------- #
def main_line(cells: list[dict]) -> list[dict]:
    """The cells before the self-check heading (or the exercises heading), the last one cut at the heading."""
    for heading in MAIN_LINE_ENDS:
        for number, cell in enumerate(cells):
            if cell["cell_type"] == "markdown" and (match := heading.search(cell["source"])) is not None:
                return [*cells[:number], {**cell, "source": cell["source"][: match.start()]}]
    return cells


def measure_notebook(path: Path) -> ChapterSize:
    """Words, advanced words and shown code lines of one notebook, before its self-check."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cells = [
        {**cell, "source": "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]}
        for cell in notebook["cells"]
    ]
    words = advanced = code = 0
    for number, cell in enumerate(main_line(cells)):
        if cell["cell_type"] == "markdown":
            counted, counted_advanced = markdown_words(cell["source"], f"{path.name}, cell {number}")
            words += counted
            advanced += counted_advanced
        elif cell["cell_type"] == "code":
            tags = cell.get("metadata", {}).get("tags", [])
            if not any(tag in tags for tag in HIDDEN_TAGS):
                code += len(cell["source"].rstrip("\n").splitlines())
    return ChapterSize(path.stem, words, advanced, code)


def budget_notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks held to the budget: every numbered chapter and every notebook of the Appendices part."""
    found = []
    for entry in toc_entries(root):
        path = root / f"{entry.page}.ipynb"
        if path.is_file() and (entry.numbered or entry.part == APPENDIX_PART):
            found.append(path)
    return found


# --------------------------------------------------------------------------- #
# Screens, from a built site
# --------------------------------------------------------------------------- #
# Pixels from the top of the page to the end of its main line: the top of the first h2
# titled "Self-check", else "Exercises", else the page's whole height.
MAIN_LINE_HEIGHT = """() => {
  const headings = [...document.querySelectorAll('article h2')];
  for (const title of ['Self-check', 'Exercises']) {
    const text = h => h.textContent.replace(/#\\s*$/, '').replace(/^[\\d.\\s]+/, '').trim();  // no "5.11." or "#"
    const found = headings.find(h => text(h) === title);
    if (found) return found.getBoundingClientRect().top + window.scrollY;
  }
  return document.documentElement.scrollHeight;
}"""


def measure_screens(site: Path, names: list[str]) -> dict[str, float]:
    """How far down each built page ``book/NAME.html`` its main line ends at 1280 x 720, in screens of 720 px."""
    import book_pdf  # Playwright and chromium, only when screens are asked for

    pages = {name: site / "book" / f"{name}.html" for name in names}
    missing = [str(page) for page in pages.values() if not page.is_file()]
    if missing:
        raise SystemExit(f"error: no built page {', '.join(missing)}; build the book with bash scripts/build_book.sh")
    server = book_pdf.LocalSite(site)
    screens = {}
    try:
        with book_pdf.offline_browser() as browser:
            context = browser.new_context(viewport={"width": SCREEN_WIDTH_PX, "height": SCREEN_HEIGHT_PX})
            context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(server.url) else r.abort())
            page = context.new_page()
            for name in names:
                page.goto(f"{server.url}book/{name}.html", wait_until="load", timeout=book_pdf.LOAD_TIMEOUT_MS)
                page.evaluate(book_pdf.SETTLE)
                screens[name] = round(page.evaluate(MAIN_LINE_HEIGHT) / SCREEN_HEIGHT_PX, 1)
            context.close()
    finally:
        server.close()
    return screens


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #
def measure_book(root: Path = ROOT, site: Path | None = None) -> list[ChapterSize]:
    """Every notebook held to the budget, measured (with screens when ``site`` is given)."""
    sizes = [measure_notebook(path) for path in budget_notebooks(root)]
    if site is None:
        return sizes
    screens = measure_screens(site, [size.name for size in sizes])
    return [ChapterSize(s.name, s.words, s.advanced_words, s.code_lines, screens[s.name]) for s in sizes]


def table(sizes: list[ChapterSize]) -> str:
    """The sizes as a plain-text table, with the budget in the header and what exceeds it at the end of a row."""
    with_screens = any(size.screens is not None for size in sizes)
    width = max(len(size.name) for size in sizes)
    header = f"{'notebook':<{width}}  {'words':>6}  {'advanced':>8}  {'code':>5}"
    header += f"  {'screens':>7}" if with_screens else ""
    budget = f"{'budget':<{width}}  {WORD_BUDGET:>6}  {'':>8}  {CODE_BUDGET:>5}"
    budget += f"  {SCREEN_BUDGET:>7}" if with_screens else ""
    rows = [header, budget]
    for size in sizes:
        row = f"{size.name:<{width}}  {size.words:>6}  {size.advanced_words:>8}  {size.code_lines:>5}"
        if with_screens:
            row += f"  {size.screens:>7.1f}" if size.screens is not None else f"  {'':>7}"
        over = size.over()
        rows.append(row + (f"  over: {'; '.join(over)}" if over else ""))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the table as JSON to PATH")
    parser.add_argument("--site", type=Path, metavar="DIR", help="a built book (_build/html): measure screens too")
    args = parser.parse_args(argv)
    if args.site is not None and not (args.site / "index.html").is_file():
        parser.error(f"--site {args.site}: no index.html there; build the book with bash scripts/build_book.sh")
    sizes = measure_book(ROOT, args.site)
    print(table(sizes))
    if args.json is not None:
        budget = {"words": WORD_BUDGET, "code_lines": CODE_BUDGET, "screens": SCREEN_BUDGET}
        document = {"budget": budget, "notebooks": [asdict(size) for size in sizes]}
        args.json.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
