"""The slides and the PDF edition, as a lecturer and a reader get them.

The ``editions`` fixture runs ``bash scripts/build_editions.sh`` once on the session's strict
book build (``book_build``, tests/conftest.py): a reveal.js deck per chapter in
``_build/html/slides/``, the whole book in ``_build/html/attention-as-regression.pdf`` and
both in ``_build/html/lecturer-edition.zip``. Every deck is opened in headless chromium (the
``browser`` fixture) with every request off the machine aborted and counted, and walked slide
by slide; its slides, its maths, its speaker notes and its sliders are checked there. The PDF
is read with pypdf: its page order and bookmarks against ``_toc.yml``, every chapter's title,
its typeset maths, each slider's default frame, and no text a failed widget or formula leaves
behind.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from book_pages import SiteReferences, toc_entries  # noqa: E402
from book_pdf import PDF_NAME  # noqa: E402
from conftest import SiteServer  # noqa: E402
from lecturer_edition import FOLDER, ZIP_NAME  # noqa: E402
from slides import SLIDES_DIR, chapters  # noqa: E402

pytestmark = [pytest.mark.book, pytest.mark.browser]

ENTRIES = toc_entries()
DECKS = [e.page for e in chapters()]
MIN_SLIDES = 15
# What a widget leaves when it is not drawn: its Python repr, "VBox(children=(SelectionSlider(...".
WIDGET_REPR = re.compile(r"\b(VBox|HBox|GridBox|IntSlider|FloatSlider|SelectionSlider|Stack|Tab|Accordion)\("
                         r"|\b[A-Z]\w*\((children|value|options|index|description|layout|_dom_classes)=")
RAW_TEX = re.compile(r"\$\$|\\frac|\\begin\{|\\end\{|\\\(|\\\)")


@pytest.fixture(scope="session")
def editions(book_build) -> Path:
    """The slides, the PDF and the lecturer's zip, built by the documented command on the session's build."""
    done = subprocess.run(["bash", "scripts/build_editions.sh"], cwd=ROOT, capture_output=True, text=True,
                          timeout=3600)
    log = done.stdout + done.stderr
    (book_build / "test-editions.log").write_text(log, encoding="utf-8")
    if done.returncode != 0:
        pytest.fail("scripts/build_editions.sh failed (exit {}); last lines:\n{}".format(
            done.returncode, "\n".join(log.splitlines()[-40:])))
    return book_build / "html"


@pytest.fixture(scope="session")
def references(editions) -> SiteReferences:
    return SiteReferences.from_site(editions)


# --------------------------------------------------------------------------- #
# The decks in a browser
# --------------------------------------------------------------------------- #
DECK_STATE = r"""() => {
  const skip = 'script, style, pre, code, mjx-container, .jp-InputArea, aside.notes';
  const hits = pattern => {
    const found = [];
    const walker = document.createTreeWalker(document.querySelector('.reveal .slides'), NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest(skip)) continue;
      const m = node.textContent.match(pattern);
      if (m) found.push(node.textContent.slice(Math.max(0, m.index - 30), m.index + 50).replace(/\s+/g, ' '));
    }
    return found;
  };
  return {
    slides: Reveal.getTotalSlides(),
    notes: document.querySelectorAll('aside.notes').length,
    maths: document.querySelectorAll('mjx-container').length,
    tex_errors: document.querySelectorAll('mjx-merror').length,
    raw_tex: hits(/\$\$|\\frac|\\begin\{|\\mathbf|\$[^$\s][^$]*\$/),
    raw_myst: hits(/\{[\w:-]+\}`|```|:::|\([\w-]+\)=/),
    widget_views: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
    widgets: document.querySelectorAll('.jupyter-widgets.widget-vbox').length,
    images: [...document.querySelectorAll('.reveal .slides img')].filter(i => !(i.complete && i.naturalWidth > 0))
      .map(i => i.src.slice(0, 60)),
  };
}"""

# Shows every slide in turn (what a lecturer does with the arrow keys); returns the slides
# that show nothing.
WALK = """async () => {
  const empty = [];
  for (const slide of Reveal.getSlides()) {
    const at = Reveal.getIndices(slide);
    Reveal.slide(at.h, at.v);
    await new Promise(resolve => requestAnimationFrame(resolve));
    if (!slide.textContent.trim() && !slide.querySelector('img, svg, .jupyter-widgets')) empty.push(at);
  }
  Reveal.slide(0, 0);
  return {walked: Reveal.getSlides().length, empty};
}"""

# Every slider of the deck: where its slide is, its state, and the frame its box shows.
DECK_SLIDERS = """() => [...document.querySelectorAll('.widget-slider')].map(slider => {
  const box = slider.closest('.widget-vbox') || slider.parentElement;
  const img = [...box.querySelectorAll('img')].find(i => i.checkVisibility({checkVisibilityCSS: true}));
  const handle = slider.querySelector('[role=slider]');
  return {
    at: Reveal.getIndices(slider.closest('section')),
    now: handle ? Number(handle.getAttribute('aria-valuenow')) : null,
    max: handle ? Number(handle.getAttribute('aria-valuemax')) : null,
    readout: (slider.querySelector('.widget-readout') || {}).textContent || '',
    frame: img ? img.currentSrc.length + ':' + img.currentSrc.slice(-40) : null,
    loaded: img ? img.complete && img.naturalWidth > 0 : false,
  };
})"""


def _visit_deck(browser, server: SiteServer, path: str) -> dict:
    """Open one deck from ``server`` with every request off the machine aborted; report what it shows and does."""
    report: dict = {"external": [], "errors": [], "failed": [], "sliders": []}
    base_url, served_before = server.url, len(server.responses)
    context = browser.new_context(viewport={"width": 1280, "height": 860}, service_workers="block")

    def route(request_route):
        if request_route.request.url.startswith(base_url):
            request_route.continue_()
        else:
            report["external"].append(request_route.request.url)
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("pageerror", lambda e: report["errors"].append(str(e)))
    page.on("console", lambda m: report["errors"].append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: report["failed"].append(f"{r.url}: {r.status}") if r.status >= 400 else None)
    page.on("requestfailed", lambda r: report["failed"].append(r.url) if r.url.startswith(base_url) else None)
    try:
        page.goto(base_url + path, wait_until="load", timeout=90_000)
        page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=60_000)
        page.evaluate("async () => { if (window.MathJax && MathJax.startup) await MathJax.startup.promise; }")
        page.wait_for_function(
            """() => [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')]
                 .every(s => s.parentElement.querySelector('.jupyter-widgets.widget-vbox, .widget-vbox'))""",
            timeout=30_000)
        report.update(page.evaluate(DECK_STATE))
        report.update(page.evaluate(WALK))
        for i, where in enumerate(page.evaluate(DECK_SLIDERS)):
            page.evaluate("([h, v]) => Reveal.slide(h, v)", [where["at"]["h"], where["at"]["v"]])
            page.wait_for_function("i => (" + DECK_SLIDERS + ")()[i].loaded", arg=i, timeout=10_000)
            before = page.evaluate(DECK_SLIDERS)[i]
            handle = page.locator(".widget-slider [role=slider]").nth(i)
            handle.focus()
            page.keyboard.press("ArrowLeft" if before["now"] >= before["max"] else "ArrowRight")
            try:
                page.wait_for_function(
                    "([i, frame]) => { const s = (" + DECK_SLIDERS + ")()[i]; return s.frame !== frame && s.loaded; }",
                    arg=[i, before["frame"]], timeout=5_000)
            except Exception:  # noqa: BLE001 - the test reports the unchanged frame
                pass
            after = page.evaluate(DECK_SLIDERS)[i]
            after["deck_at"] = page.evaluate("Reveal.getIndices()")
            report["sliders"].append((before, after))
    finally:
        page.close()
        context.close()
    # What the page's events miss (the icon a browser asks for by itself), from the server's log.
    report["failed"] += [f"{served}: HTTP {status} (seen by the server)"
                         for served, status in server.responses[served_before:] if status >= 400]
    return report


@pytest.fixture(scope="session")
def deck(editions, browser, site):
    """``deck(page)``: the report of one visit to that chapter's deck, made once."""
    reports: dict[str, dict] = {}

    def get(page: str) -> dict:
        if page not in reports:
            reports[page] = _visit_deck(browser, site, f"{SLIDES_DIR}/{Path(page).name}.html")
        return reports[page]

    return get


def test_every_notebook_has_a_deck_and_the_index_lists_them(editions, references):
    index = (editions / SLIDES_DIR / "index.html").read_text(encoding="utf-8")
    for page in DECKS:
        name = Path(page).name
        assert (editions / SLIDES_DIR / f"{name}.html").is_file(), f"no deck for {page}"
        assert f'href="{name}.html"' in index
        assert references.titles[page] in index.replace("&#x27;", "'").replace("&amp;", "&")


def test_no_deck_names_an_external_resource(editions):
    from test_browser import EXTERNAL_LOAD

    for path in sorted((editions / SLIDES_DIR).rglob("*")):
        if path.suffix in {".html", ".css"}:
            found = EXTERNAL_LOAD.findall(path.read_text(encoding="utf-8", errors="replace"))
            assert not found, f"{path.name} loads from the network: {found[:3]}"


@pytest.mark.parametrize("page", DECKS)
def test_deck_opens_offline_with_no_error(deck, page):
    report = deck(page)
    assert not report["external"], "requests off this machine (aborted):\n" + "\n".join(report["external"])
    assert not report["failed"], "failed loads:\n" + "\n".join(report["failed"])
    assert not report["errors"], "errors in the deck:\n" + "\n".join(report["errors"][:10])
    assert not report["images"], f"images that did not load: {report['images']}"


@pytest.mark.parametrize("page", DECKS)
def test_deck_has_slides_typeset_maths_and_speaker_notes(deck, page):
    report = deck(page)
    assert report["slides"] > MIN_SLIDES, f"only {report['slides']} slides"
    assert report["walked"] == report["slides"] and not report["empty"], f"empty slides at {report['empty']}"
    assert report["notes"] > 0, "no speaker notes"
    assert report["maths"] > 0 and not report["tex_errors"], (
        f"{report['maths']} formulas, {report['tex_errors']} errors")
    assert not report["raw_tex"], "raw TeX on a slide:\n" + "\n".join(report["raw_tex"][:5])
    assert not report["raw_myst"], "MyST markup left on a slide:\n" + "\n".join(report["raw_myst"][:5])


@pytest.mark.parametrize("page", DECKS)
def test_deck_sliders_work_without_a_kernel(deck, editions, page):
    """Every slider the chapter has is in its deck; the arrow keys move it (not the deck) to another frame."""
    report = deck(page)
    on_site = (editions / f"{page}.html").read_text(encoding="utf-8").count("application/vnd.jupyter.widget-view+json")
    assert report["widget_views"] == report["widgets"], "a widget view did not render"
    assert len(report["sliders"]) >= min(on_site, 1), f"{page} has sliders on the site but none in its deck"
    for before, after in report["sliders"]:
        where = f"slider at {before['readout']} on slide {before['at']}"
        assert before["frame"] and before["loaded"], f"{where}: no frame shown"
        assert after["readout"] != before["readout"], f"{where}: did not move"
        assert after["frame"] != before["frame"] and after["loaded"], f"{where}: the frame did not change"
        assert (after["deck_at"]["h"], after["deck_at"]["v"]) == (before["at"]["h"], before["at"]["v"]), (
            f"{where}: the arrow key moved the deck as well")


def test_the_lecturers_zip_holds_every_deck_what_it_loads_and_the_pdf(editions, browser, tmp_path):
    with zipfile.ZipFile(editions / ZIP_NAME) as archive:
        assert archive.testzip() is None
        archive.extractall(tmp_path)
    folder = tmp_path / FOLDER
    for page in DECKS:
        assert (folder / SLIDES_DIR / f"{Path(page).name}.html").is_file()
    assert (folder / PDF_NAME).stat().st_size == (editions / PDF_NAME).stat().st_size
    assert "slides/index.html" in (folder / "README.txt").read_text(encoding="utf-8")
    unzipped = SiteServer(folder)  # the unzipped folder alone, as a lecturer's laptop serves it
    try:
        report = _visit_deck(browser, unzipped, f"{SLIDES_DIR}/{Path(DECKS[0]).name}.html")
    finally:
        unzipped.close()
    assert not report["failed"] and not report["external"] and not report["errors"], report
    assert report["slides"] > MIN_SLIDES and report["maths"] > 0 and report["sliders"]


def test_the_teaching_page_links_the_slides_the_pdf_and_the_lecturers_download(editions):
    page = (editions / "book" / "teaching.html").read_text(encoding="utf-8")
    for target in (f"{SLIDES_DIR}/index.html", PDF_NAME, ZIP_NAME):
        assert f'href="../{target}"' in page, f"the teaching page does not link {target}"
        assert (editions / target).is_file()


# --------------------------------------------------------------------------- #
# The PDF
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="session")
def pdf(editions):
    from pypdf import PdfReader

    return PdfReader(editions / PDF_NAME)


@pytest.fixture(scope="session")
def pdf_text(pdf) -> list[str]:
    return [" ".join((page.extract_text() or "").split()) for page in pdf.pages]


def _bookmarks(pdf) -> list[tuple[str, int, int]]:
    """``(title, first page, depth)`` of every bookmark, in order."""
    found = []

    def walk(items, depth):
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
            else:
                found.append((str(item.title), pdf.get_destination_page_number(item), depth))

    walk(pdf.outline, 0)
    return found


def _chapter_pages(pdf, references) -> dict[str, range]:
    starts = {title: page for title, page, _ in _bookmarks(pdf)}
    firsts = [starts[references.numbered_title(e.page)] for e in ENTRIES]
    ends = firsts[1:] + [len(pdf.pages)]
    return {e.page: range(first, end) for e, first, end in zip(ENTRIES, firsts, ends, strict=True)}


def test_pdf_follows_the_table_of_contents(pdf, pdf_text, references):
    """Bookmarks: every part, then its pages, in _toc.yml's order, on increasing pages; the contents
    page lists the same titles with the same page numbers."""
    marks = _bookmarks(pdf)
    pages = [(title, page) for title, page, depth in marks if depth == 1 or title == references.titles["book/preface"]]
    expected = [references.numbered_title(e.page) for e in ENTRIES]
    assert [title for title, _ in pages] == expected
    numbers = [page for _, page in pages]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), numbers
    parts = [title for title, _, depth in marks if depth == 0 and title in {e.part for e in ENTRIES}]
    assert parts == list(dict.fromkeys(e.part for e in ENTRIES if e.part))
    contents = " ".join(pdf_text[:numbers[0]])
    at = 0
    for title, page in pages:
        loose = r"\s*".join(re.escape(c) for c in _squeezed(title))  # the title, broken anywhere
        found = re.compile(loose + r"\s*\.*\s*(\d+)\b").search(contents, at)
        assert found, f"the contents page does not list {title!r} (after the previous entry)"
        assert int(found.group(1)) == page + 1, f"{title}: listed on page {found.group(1)}, starts on {page + 1}"
        at = found.end()


def _squeezed(text: str) -> str:
    """``text`` without white space (a title the PDF breaks after a dash reads "Nadaraya– Watson")."""
    return re.sub(r"\s+", "", text)


def test_pdf_opens_each_page_with_its_title(pdf, pdf_text, references):
    for page, pages in _chapter_pages(pdf, references).items():
        first = pdf_text[pages.start]
        assert _squeezed(references.numbered_title(page)) in _squeezed(first), f"{page}: {first[:120]!r}"


def test_pdf_holds_no_widget_text_and_no_raw_tex(pdf_text):
    for number, text in enumerate(pdf_text, 1):
        widget = WIDGET_REPR.search(text)
        assert not widget, f"page {number}: widget text {text[max(0, widget.start() - 40):widget.end() + 40]!r}"
        tex = RAW_TEX.search(text)
        assert not tex, f"page {number}: raw TeX {text[max(0, tex.start() - 40):tex.end() + 40]!r}"


def _font_name(font) -> str:
    """A font's name: its /BaseFont, or for a Type 3 font (how MathJax's glyphs are embedded) its descriptor's."""
    descriptor = font.get("/FontDescriptor")
    return str(font.get("/BaseFont") or (descriptor.get_object().get("/FontName") if descriptor else ""))


def test_pdf_maths_is_typeset_in_mathjax_fonts(pdf, references):
    """The chapters' formulas are drawn by MathJax (its fonts are embedded), not left as TeX."""
    fonts_by_page = []
    for page in pdf.pages:
        fonts = page.get("/Resources", {}).get("/Font", {}) or {}
        fonts_by_page.append({_font_name(f.get_object()) for f in fonts.values()})
    for page, pages in _chapter_pages(pdf, references).items():
        if re.match(r"book/\d\d_", page):
            used = set().union(*(fonts_by_page[i] for i in pages))
            assert any("MathJax" in font for font in used), f"{page}: no MathJax font in {used}"


def _default_sliders(page: str, editions: Path) -> list[tuple[str, str]]:
    """``(description, default label)`` of every selection slider saved in the page's executed notebook."""
    executed = editions.parent / "jupyter_execute" / f"{page}.ipynb"
    if not executed.is_file():
        return []
    widgets = json.loads(executed.read_text(encoding="utf-8"))["metadata"].get("widgets", {})
    state = widgets.get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return [(m["state"]["description"], m["state"]["_options_labels"][m["state"]["index"]])
            for m in state.values() if m.get("model_name") == "SelectionSliderModel"]


def _has_image(page) -> bool:
    objects = page.get("/Resources", {}).get("/XObject", {}) or {}
    return any(str(x.get_object().get("/Subtype")) == "/Image" for x in objects.values())


def test_pdf_shows_each_slider_at_its_default_frame(pdf, pdf_text, references, editions):
    checked = 0
    for page, pages in _chapter_pages(pdf, references).items():
        for description, default in _default_sliders(page, editions):
            holding = [i for i in pages if description in pdf_text[i] and default in pdf_text[i]]
            assert holding, f"{page}: slider {description!r} at {default} not found"
            images = [i for i in holding if _has_image(pdf.pages[i])]
            assert images, f"{page}: slider {description!r} printed without its frame"
            checked += 1
    assert checked, "no slider found in any executed notebook"


def test_pdf_puts_the_answers_and_solutions_at_the_end_of_each_chapter(pdf, pdf_text, references, editions):
    for page, pages in _chapter_pages(pdf, references).items():
        html = (editions / f"{page}.html").read_text(encoding="utf-8")
        text = " ".join(pdf_text[i] for i in pages)
        if 'class="solution' in html:
            at = text.find("Solutions to the exercises")
            assert at >= 0, f"{page}: no solutions section"
            assert "Solution to Exercise" in text[at:] and "Solution to Exercise" not in text[:at], page
        if "sc-answer" in html:
            assert "Answers to the self-check" in text, f"{page}: no answers section"


def test_pdf_links_stay_inside_the_pdf(pdf):
    go_to = 0
    for number, page in enumerate(pdf.pages, 1):
        for annotation in page.get("/Annots", []) or []:
            action = annotation.get_object().get("/A")
            action = action.get_object() if action is not None else {}
            assert "127.0.0.1" not in str(action.get("/URI", "")), f"page {number}: a link to the build server"
            go_to += action.get("/S") == "/GoTo"
    assert go_to > 100, f"only {go_to} links inside the PDF"
