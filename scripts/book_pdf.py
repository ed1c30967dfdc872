"""The whole book as one PDF, printed by chromium from the built site.

``python scripts/book_pdf.py`` serves ``_build/html`` on 127.0.0.1, opens every page of
``_toc.yml`` in headless chromium (Debian's, driven by Playwright, every request off the
machine refused), waits for MathJax and the widgets, and prints the page to PDF with the
site's print style (the ``@media print`` rules of ``_ext/static/book.css``). The pages are
merged in table-of-contents order behind a title page and a table of contents, numbered,
given bookmarks (part, then page), and written to
``_build/html/attention-as-regression.pdf``, where the site links it.

What the PDF shows of the interactive parts: each slider at its default frame (the widget
is rendered and printed as it first appears); the hidden code cells stay hidden, as on
the site; in each chapter the self-check's answers and the exercises' worked solutions
move to the end of the chapter, under "Answers to the self-check" and "Solutions to the
exercises". Links between pages lead to the page inside the PDF.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import html
import http.server
import io
import os
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from book_pages import ROOT, SITE, SiteReferences, require_site, toc_entries  # noqa: E402

PDF_NAME = "attention-as-regression.pdf"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check"]
PAGE_FORMAT = "A4"
MARGINS = {"top": "16mm", "bottom": "20mm", "left": "14mm", "right": "14mm"}
LOAD_TIMEOUT_MS = 120_000

# Waits for MathJax to typeset the page and for every saved widget view to become a widget.
SETTLE = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const views = () => [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')];
  const rendered = s => s.previousElementSibling && s.previousElementSibling.querySelector('.jupyter-widgets');
  for (let i = 0; i < 600 && !views().every(rendered); i++) await new Promise(r => setTimeout(r, 100));
  if (window.MathJax && MathJax.typesetPromise) await MathJax.typesetPromise();
  return views().length;
}"""

# Moves the self-check's answers and the exercises' solutions to the end of the chapter,
# unfolded. Returns how many of each it moved.
GATHER_ANSWERS = r"""() => {
  const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const section = (title, cls) => {
    const s = document.createElement('section');
    s.className = cls;
    const h = document.createElement('h2');
    h.textContent = title;
    s.append(h);
    return s;
  };
  const answers = [...article.querySelectorAll('details.sc-answer')];
  if (answers.length) {
    const s = section('Answers to the self-check', 'print-answers');
    answers.forEach((details, i) => {
      const legend = details.closest('fieldset') && details.closest('fieldset').querySelector('legend');
      const number = legend && (legend.textContent.match(/^\s*(\d+)\./) || [])[1];
      const item = document.createElement('div');
      item.className = 'print-answer';
      const head = document.createElement('p');
      head.innerHTML = '<strong>' + (number ? 'Question ' + number : 'Question ' + (i + 1)) + '.</strong>';
      item.append(head, ...[...details.childNodes].filter(n => n.nodeName !== 'SUMMARY'));
      s.append(item);
      details.remove();
    });
    article.append(s);
  }
  const solutions = [...article.querySelectorAll('div.solution')];
  if (solutions.length) {
    const s = section('Solutions to the exercises', 'print-solutions');
    for (const solution of solutions) {
      solution.classList.remove('dropdown', 'toggle-hidden');
      solution.querySelectorAll('.toggle-button').forEach(b => b.remove());
      s.append(solution);
    }
    article.append(s);
  }
  return [answers.length, solutions.length];
}"""


class LocalSite:
    """``directory`` served by ``http.server`` on 127.0.0.1 from a background thread."""

    def __init__(self, directory: Path):
        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002 - http.server's signature
                pass

        handler = functools.partial(Quiet, directory=str(directory))
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="pdf-site", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)


@contextlib.contextmanager
def offline_browser():
    """A headless Debian chromium (Playwright) whose pages may load nothing but 127.0.0.1."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SystemExit("error: the PDF needs the `playwright` package (pip install -e '.[test]')") from None
    if not CHROMIUM.exists():
        raise SystemExit(f"error: no chromium at {CHROMIUM}; `bash scripts/setup.sh --browser` installs it as root "
                         "(or `sudo apt-get install chromium`, or set CHROMIUM=/path/to/chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def print_page(browser, url: str, refused: list[str]) -> bytes:
    """One page of the site as PDF bytes, printed once its maths and widgets are in place."""
    context = browser.new_context(viewport={"width": 1100, "height": 1400}, service_workers="block")
    local = url.split("/", 3)[:3]

    def route(request_route):
        if request_route.request.url.split("/", 3)[:3] == local:
            request_route.continue_()
        else:
            refused.append(request_route.request.url)
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    try:
        page.goto(url, wait_until="load", timeout=LOAD_TIMEOUT_MS)
        page.evaluate(SETTLE)
        page.evaluate(GATHER_ANSWERS)
        page.evaluate(SETTLE)
        page.emulate_media(media="print")
        return page.pdf(format=PAGE_FORMAT, margin=MARGINS, print_background=True, prefer_css_page_size=False)
    finally:
        page.close()
        context.close()


def print_html(browser, markup: str) -> bytes:
    """A page of our own (title page, contents, page numbers) as PDF bytes."""
    page = browser.new_page()
    try:
        page.set_content(markup, wait_until="load")
        return page.pdf(format=PAGE_FORMAT, margin={"top": "0", "bottom": "0", "left": "0", "right": "0"},
                        print_background=True, prefer_css_page_size=True)
    finally:
        page.close()


# --------------------------------------------------------------------------- #
# Title page, contents, page numbers
# --------------------------------------------------------------------------- #
FRONT_STYLE = """
  @page { size: A4; margin: 0; }
  body { font-family: "DejaVu Sans", sans-serif; margin: 0; color: #1d232c; }
  .sheet { box-sizing: border-box; width: 210mm; min-height: 297mm; padding: 30mm 24mm; page-break-after: always; }
  h1 { font-size: 34pt; margin: 60mm 0 8mm; font-weight: 600; }
  .author { font-size: 15pt; margin-bottom: 4mm; }
  .note { font-size: 10pt; color: #4a5260; margin-top: 70mm; line-height: 1.5; }
  h2 { font-size: 20pt; margin: 0 0 8mm; font-weight: 600; }
  .part { font-weight: 600; margin: 6mm 0 2mm; font-size: 11pt; }
  .line { display: flex; font-size: 11pt; margin: 1.4mm 0 1.4mm 5mm; }
  .line .title { flex: 0 1 auto; }
  .line .dots { flex: 1 1 auto; min-width: 8mm; border-bottom: 1px dotted #8a919c; margin: 0 2mm 1.2mm; }
"""


def front_matter(config: dict, contents: list[tuple[str, str, int]], built: str) -> str:
    """The title page and the table of contents; ``contents`` is ``(part, title, first page)``."""
    lines, part = [], None
    for caption, title, number in contents:
        if caption != part and caption:
            lines.append(f'<div class="part">{html.escape(caption)}</div>')
        part = caption
        lines.append(f'<div class="line"><span class="title">{html.escape(title)}</span>'
                     f'<span class="dots"></span><span>{number}</span></div>')
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><style>{FRONT_STYLE}</style></head><body>
<div class="sheet">
  <h1>{html.escape(config.get("title", ""))}</h1>
  <div class="author">{html.escape(config.get("author", ""))}</div>
  <div class="note">The PDF edition, printed from the book's website on {html.escape(built)}. Every figure
  and number was computed by the code shown when the site was built. Each slider appears at its default
  frame; the website and the notebooks let you move it. The answers to each chapter's self-check and the
  worked solutions to its exercises follow the chapter.<br><br>© {html.escape(str(config.get("copyright", "")))}
  {html.escape(config.get("author", ""))}</div>
</div>
<div class="sheet">
  <h2>Contents</h2>
  {"".join(lines)}
</div>
</body></html>"""


def page_numbers(first: int, count: int) -> str:
    """``count`` empty A4 pages, each with its number (from ``first``) centred at the bottom."""
    sheets = "".join(f'<div class="n"><span>{first + i}</span></div>' for i in range(count))
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><style>
  @page {{ size: A4; margin: 0; }}
  body {{ margin: 0; font-family: "DejaVu Sans", sans-serif; }}
  .n {{ position: relative; width: 210mm; height: 297mm; page-break-after: always; }}
  .n span {{ position: absolute; bottom: 9mm; left: 0; right: 0; text-align: center; font-size: 9pt; color: #555; }}
</style></head><body>{sheets}</body></html>"""


# --------------------------------------------------------------------------- #
# The book
# --------------------------------------------------------------------------- #
def build_pdf(site: Path = SITE, out: Path | None = None, pages: list[str] | None = None) -> Path:
    """Print every page of the table of contents (or only ``pages``) into one PDF; return its path."""
    from pypdf import PdfReader, PdfWriter

    require_site(site)
    out = out or site / PDF_NAME
    entries = toc_entries()
    if pages is not None:
        unknown = sorted(set(pages) - {e.page for e in entries})
        if unknown:
            raise SystemExit(f"error: not a page of the table of contents: {', '.join(unknown)}")
        entries = [e for e in entries if e.page in pages]
    references = SiteReferences.from_site(site)
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    built = datetime.date.today().isoformat()
    server = LocalSite(site)
    refused: list[str] = []
    printed: list[tuple[str, PdfReader]] = []
    try:
        with offline_browser() as browser:
            for entry in entries:
                data = print_page(browser, f"{server.url}{entry.page}.html", refused)
                printed.append((entry.page, PdfReader(io.BytesIO(data))))
                print(f"==> printed {entry.page} ({len(printed[-1][1].pages)} pages)")
            if refused:
                raise SystemExit("error: the site asked for files off this machine (refused):\n  "
                                 + "\n  ".join(sorted(set(refused))))
            # Front matter: its length does not depend on the page numbers it lists.
            def contents(front_pages: int) -> list[tuple[str, str, int]]:
                rows, start = [], front_pages + 1
                for entry, (_, reader) in zip(entries, printed, strict=True):
                    rows.append((entry.part, references.numbered_title(entry.page), start))
                    start += len(reader.pages)
                return rows

            front = PdfReader(io.BytesIO(print_html(browser, front_matter(config, contents(2), built))))
            front = PdfReader(io.BytesIO(print_html(browser, front_matter(config, contents(len(front.pages)),
                                                                            built))))
            total = len(front.pages) + sum(len(reader.pages) for _, reader in printed)
            numbers = PdfReader(io.BytesIO(print_html(browser, page_numbers(1, total))))
    finally:
        server.close()

    writer = PdfWriter()
    writer.append(front)
    starts: dict[str, int] = {}
    anchors: dict[tuple[str, str], tuple[int, float]] = {}  # (page, element id) -> (PDF page, top)
    for page, reader in printed:
        starts[page] = len(writer.pages)
        for name, destination in reader.named_destinations.items():
            top = destination.top if destination.top is not None else 0.0
            anchors[page, name.lstrip("/")] = (starts[page] + reader.get_destination_page_number(destination), top)
        writer.append(reader, import_outline=False)
    for index, page in enumerate(writer.pages):
        if index >= len(front.pages):
            page.merge_page(numbers.pages[index])
    _link_inside(writer, starts, anchors, server.url)
    # Bookmarks: each part, then its pages.
    part_items: dict[str, object] = {}
    for entry in entries:
        parent = None
        if entry.part:
            if entry.part not in part_items:
                part_items[entry.part] = writer.add_outline_item(title=entry.part, page_number=starts[entry.page])
            parent = part_items[entry.part]
        writer.add_outline_item(title=references.numbered_title(entry.page), page_number=starts[entry.page],
                                parent=parent)
    for page in writer.pages:  # Chromium's pages, merged, are about 2.5 times larger uncompressed
        page.compress_content_streams()
    writer.compress_identical_objects(remove_duplicates=True, remove_unreferenced=True)
    writer.add_metadata({"/Title": config.get("title", ""), "/Author": config.get("author", "")})
    writer.page_mode = "/UseOutlines"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as handle:
        writer.write(handle)
    return out


def _link_inside(writer, starts: dict[str, int], anchors: dict[tuple[str, str], tuple[int, float]],
                 site_url: str) -> None:
    """Point every link between the book's pages at its place in this PDF; drop links that lead nowhere.

    Chromium writes a link inside a page as a named destination (the element's id) and a link to
    another page as its URL on the local server; names repeat from page to page (``summary``,
    ``exercises``), so each becomes an explicit destination: a PDF page and a height on it.
    """
    from pypdf.generic import ArrayObject, DictionaryObject, FloatObject, NameObject, NullObject

    owners = sorted((start, page) for page, start in starts.items())
    for index, pdf_page in enumerate(writer.pages):
        owner = next((page for start, page in reversed(owners) if start <= index), None)
        kept = ArrayObject()
        for reference in pdf_page.get("/Annots", []) or []:
            annotation = reference.get_object()
            if annotation.get("/Subtype") != "/Link":
                kept.append(reference)
                continue
            action = annotation.get("/A")
            action = action.get_object() if action is not None else None
            uri = str(action.get("/URI", "")) if action is not None else ""
            if uri and not uri.startswith(site_url):
                kept.append(reference)  # a link off the site stays a web link
                continue
            if uri:
                parts = urlsplit(uri)
                target = (unquote(parts.path).lstrip("/").removesuffix(".html"), unquote(parts.fragment))
            elif "/Dest" in annotation and owner is not None:
                target = (owner, str(annotation["/Dest"]).lstrip("/"))
            else:
                continue
            if target in anchors:
                where, top = anchors[target]
            elif target[0] in starts:
                where, top = starts[target[0]], None
            else:
                continue  # a page this PDF does not hold (the search page, the index)
            destination = ArrayObject([writer.pages[where].indirect_reference, NameObject("/XYZ"), NullObject(),
                                       FloatObject(top) if top is not None else NullObject(), NullObject()])
            annotation[NameObject("/A")] = DictionaryObject({NameObject("/S"): NameObject("/GoTo"),
                                                             NameObject("/D"): destination})
            if "/Dest" in annotation:
                del annotation["/Dest"]
            kept.append(reference)
        if "/Annots" in pdf_page:
            pdf_page[NameObject("/Annots")] = kept


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="*", help="only these pages, e.g. book/01_nadaraya_watson (default: all)")
    parser.add_argument("--site", type=Path, default=SITE, help="the built book (default: _build/html)")
    parser.add_argument("--out", type=Path, help=f"where to write the PDF (default: SITE/{PDF_NAME})")
    args = parser.parse_args(argv)
    pages = [p.removesuffix(".ipynb").removesuffix(".md") for p in args.pages] or None
    path = build_pdf(args.site.resolve(), args.out, pages)
    print(f"==> {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
