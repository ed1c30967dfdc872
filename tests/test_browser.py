"""The built site in a real browser, with no network: every page of the book as a reader sees it.

The ``site`` fixture (tests/conftest.py) serves the strict build of ``_build/html`` on
127.0.0.1; one headless chromium (the ``browser`` fixture) opens every page of the table of
contents twice, in a light and in a dark colour scheme. Every request that is not for the
local server is aborted and recorded: a page that tries to reach a CDN fails. Each visit
waits for MathJax and the widgets, records what a reader would notice (errors, failed
loads, raw TeX, dead widgets, broken images), moves every static slider and answers the
first question of every self-check quiz (light) or samples the figures' pixels (dark), and
writes a full-page screenshot to ``test-artifacts/screenshots/`` (``<page>-light.png``, ``<page>-dark.png``). The tests
then read these reports, one assertion per concern and page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
MODES = ("light", "dark")

pytestmark = [pytest.mark.book, pytest.mark.browser]


def toc_pages() -> list[str]:
    """Every document in ``_toc.yml`` (root, parts, chapters, nested sections, globs), in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            if "glob" in entry:
                pages.extend(
                    sorted({p.relative_to(ROOT).with_suffix("").as_posix() for p in ROOT.glob(entry["glob"] + ".*")
                            if p.suffix in {".md", ".ipynb"}})
                )
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    walk(toc.get("sections"))
    return [re.sub(r"\.(md|ipynb)$", "", page) for page in pages]


PAGES = toc_pages()

# --------------------------------------------------------------------------- #
# What the browser collects on a page
# --------------------------------------------------------------------------- #
WAIT_FOR_MATHJAX = """async () => {
  const mj = window.MathJax;
  if (!mj || !mj.startup || !mj.startup.promise) return false;
  await mj.startup.promise;
  return true;
}"""

WIDGETS_RENDERED = """() => [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')]
  .every(s => s.previousElementSibling && s.previousElementSibling.classList.contains('widget-subarea')
              && s.previousElementSibling.querySelector('.jupyter-widgets'))"""

# Visible text (not in code cells, scripts or typeset maths) matching the patterns that
# mean "this did not render": raw TeX, a widget's Python repr, a widget error message.
COLLECT = r"""() => {
  const visible = el => el.checkVisibility({checkVisibilityCSS: true, checkOpacity: true});
  const found = (skip, pattern) => {
    const hits = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      if (!parent || parent.closest(skip) || !visible(parent)) continue;
      const match = node.textContent.match(pattern);
      if (match) {
        const at = match.index;
        hits.push(node.textContent.slice(Math.max(0, at - 40), at + 60).replace(/\s+/g, ' '));
      }
    }
    return hits;
  };
  const views = [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')];
  return {
    theme: document.documentElement.dataset.theme,
    maths: document.querySelectorAll('.math.notranslate').length,
    untypeset: [...document.querySelectorAll('.math.notranslate')]
      .filter(el => !el.querySelector('mjx-container')).map(el => el.textContent.slice(0, 80)),
    mjx: document.querySelectorAll('mjx-container').length,
    tex_errors: [...document.querySelectorAll('mjx-merror')]
      .map(el => el.getAttribute('data-mjx-error') || el.textContent),
    raw_tex: found('script, style, noscript, template, pre, code, textarea, mjx-container, .cell_input',
                   /\\\(|\\\)|\\\[|\\\]|\$\$|\\begin\{|\\end\{|\\frac|\\mathbf/),
    widget_views: views.length,
    unrendered_views: views.filter(s => !(s.previousElementSibling
        && s.previousElementSibling.classList.contains('widget-subarea')
        && s.previousElementSibling.querySelector('.jupyter-widgets'))).length,
    raw_widgets: found('script, style, noscript, template, textarea, .cell_input, p code, li code, td code',
                       new RegExp('\\b[A-Z]\\w*\\((children|value|options|index|description|layout|_dom_classes)='
                                  + '|Error displaying widget|Loading widget|application/vnd\\.jupyter\\.widget-view')),
    sliders: document.querySelectorAll('.cell_output .widget-slider').length,
    images: [...document.images].map(img => ({
      src: img.currentSrc.startsWith('data:') ? img.currentSrc.slice(0, 40) + '…' : img.currentSrc,
      complete: img.complete, width: img.naturalWidth,
    })),
  };
}"""

# The visible frame of each static slider: the image in the same widget box.
SLIDER_FRAMES = """() => [...document.querySelectorAll('.cell_output .widget-slider')].map(slider => {
  const box = slider.closest('.widget-vbox') || slider.parentElement;
  const img = [...box.querySelectorAll('img')].find(i => i.checkVisibility({checkVisibilityCSS: true}));
  const handle = slider.querySelector('[role=slider]');
  return {
    label: (slider.querySelector('.widget-label') || {}).textContent || '',
    readout: (slider.querySelector('.widget-readout') || {}).textContent || '',
    now: handle ? Number(handle.getAttribute('aria-valuenow')) : null,
    max: handle ? Number(handle.getAttribute('aria-valuemax')) : null,
    frame: img ? img.currentSrc.length + ':' + img.currentSrc.slice(-48) : null,
    loaded: img ? img.complete && img.naturalWidth > 0 : false,
  };
})"""

FONT_URLS = """() => {
  const urls = new Set();
  for (const sheet of document.styleSheets) {
    let rules;
    try { rules = sheet.cssRules; } catch (e) { continue; }
    for (const rule of rules) {
      if (rule instanceof CSSFontFaceRule) {
        const src = rule.style.getPropertyValue('src');
        for (const m of src.matchAll(/url\\(\\s*["']?([^"')]+)["']?\\s*\\)/g)) {
          if (!m[1].startsWith('data:')) urls.add(new URL(m[1], sheet.href || document.baseURI).href);
        }
      }
    }
  }
  return [...urls];
}"""

FETCH_STATUS = """async urls => Promise.all(urls.map(async url => {
  try { return [url, (await fetch(url)).status]; } catch (e) { return [url, String(e)]; }
}))"""

OUTPUT_IMAGE = ".cell_output img"

# Every box of code that could hide text behind a horizontal scrollbar (a code cell's
# source, output area, printed output and output blocks; every other ``pre`` of the
# page), with the folded ("Show code cell source") cells opened first. An HTML table
# output that scrolls sideways in its own box is the one deliberate scroll area
# (book.css), reported apart.
CODE_BOXES = r"""() => {
  for (const d of document.querySelectorAll('div.cell details')) d.open = true;
  const scrolls = el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  const boxes = [...document.querySelectorAll(
    'div.cell_input pre, div.cell_output, div.cell_output pre, div.cell_output div.output, .bd-article pre')];
  const wide = [], tables = [];
  for (const el of boxes) {
    if (!el.checkVisibility() || el.scrollWidth <= el.clientWidth + 1) continue;
    const box = {
      box: el.closest('div.cell_input') ? 'source' : el.closest('div.cell_output') ?
        (el.tagName === 'PRE' ? 'printed output' : el.className) : 'code block in the text',
      scroll: el.scrollWidth, client: el.clientWidth,
      text: el.textContent.replace(/\s+/g, ' ').trim().slice(0, 100),
    };
    if (el.matches('div.output.text_html') && scrolls(el) && el.querySelector('table')) tables.push(box);
    else wide.push(box);
  }
  return {checked: new Set(boxes.filter(el => el.checkVisibility())).size, wide, tables};
}"""

# Every output image (figures and every frame of every static slider, shown or not):
# its PNG's pixel width, the width its <img> asks for, the width it is shown at (the
# frames a slider hides: none), the room it has (its nearest shown ancestor's content
# width) and the first line of its cell's code. Data URIs (slider frames) come back
# whole: their dpi is in the PNG.
OUTPUT_IMAGES = r"""selector => [...document.querySelectorAll(selector)].map(img => {
  let room = null;
  for (let el = img.parentElement; el; el = el.parentElement) {
    if (el.checkVisibility() && el.clientWidth > 0) {
      const s = getComputedStyle(el);
      room = el.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
      break;
    }
  }
  const shown = img.checkVisibility({checkVisibilityCSS: true});
  const source = img.closest('div.cell') && img.closest('div.cell').querySelector('div.cell_input pre');
  return {src: img.currentSrc || img.src, natural: img.naturalWidth,
          cell: source ? source.textContent.trim().split('\n')[0].slice(0, 90) : '',
          declared: img.hasAttribute('width') ? Number(img.getAttribute('width')) : null,
          shown: shown ? img.getBoundingClientRect().width : null, room};
})"""


@dataclass
class PageReport:
    page: str
    mode: str
    external: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    collected: dict = field(default_factory=dict)
    widgets_rendered: bool = True
    sliders: list[tuple[dict, dict]] = field(default_factory=list)
    fonts: list[tuple[str, object]] = field(default_factory=list)
    dark_images: list[dict] = field(default_factory=list)
    code_boxes: dict = field(default_factory=dict)
    output_images: list[dict] = field(default_factory=list)
    self_checks: list[dict] = field(default_factory=list)
    screenshot: Path | None = None


def _luminance(pixels) -> list[float]:
    return [(0.2126 * r + 0.7152 * g + 0.0722 * b) / 255 for r, g, b in pixels]


def _ring(image, inset: int, width: int = 2) -> list[tuple[int, int, int]]:
    """The pixels of a ``width``-pixel ring ``inset`` pixels inside the image's edge."""
    w, h = image.size
    pixels = []
    for d in range(inset, inset + width):
        if w - 2 * d <= 0 or h - 2 * d <= 0:
            break
        for x in range(d, w - d):
            pixels += [image.getpixel((x, d)), image.getpixel((x, h - 1 - d))]
        for y in range(d, h - d):
            pixels += [image.getpixel((d, y)), image.getpixel((w - 1 - d, y))]
    return pixels


def _median(values: list[float]) -> float:
    values = sorted(values)
    return values[len(values) // 2] if values else float("nan")


def _dark_image_samples(page, screenshot: Path) -> list[dict]:
    """For every visible output image: its computed background and the colours at its edges.

    The pixels come from the full-page screenshot just taken (page coordinates), which is
    much faster than one element screenshot per image.
    """
    from PIL import Image

    boxes = page.evaluate(
        """selector => [...document.querySelectorAll(selector)].map(el => {
          const s = getComputedStyle(el), box = el.getBoundingClientRect();
          return {visible: el.checkVisibility({checkVisibilityCSS: true, checkOpacity: true})
                           && el.naturalWidth > 0 && box.width > 0 && box.height > 0,
                  background: s.backgroundColor,
                  inset: Math.round(parseFloat(s.paddingTop) + parseFloat(s.borderTopWidth)),
                  x: box.left + window.scrollX, y: box.top + window.scrollY, width: box.width, height: box.height,
                  src: el.currentSrc.slice(0, 60)};
        })""",
        OUTPUT_IMAGE,
    )
    full = Image.open(screenshot).convert("RGB")
    samples = []
    for info in boxes:
        if not info["visible"]:
            continue
        left, top = round(info["x"]), round(info["y"])
        shot = full.crop((left, top, left + round(info["width"]), top + round(info["height"])))
        # The card around the figure (padding) and the figure's own margin (facecolor).
        info["card"] = _median(_luminance(_ring(shot, 1)))
        info["figure_edge"] = _median(_luminance(_ring(shot, info["inset"] + 2)))
        samples.append(info)
    return samples


# A page's "load" waits for every image: the chapters with static sliders carry dozens of
# frames, and CI's two cores are shared with the build's other work, so one slow load is
# not a broken page. A navigation gets a generous limit and one second chance; a page
# that cannot load twice in a row still fails.
NAVIGATION_TIMEOUT_MS = 90_000
NAVIGATION_ATTEMPTS = 2


def _open(page, url: str) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(1, NAVIGATION_ATTEMPTS + 1):
        try:
            page.goto(url, wait_until="load", timeout=NAVIGATION_TIMEOUT_MS)
            return
        except PlaywrightTimeout:
            if attempt == NAVIGATION_ATTEMPTS:
                raise


# A self-check quiz (cubit_lite.self_check) as its script left it, and what its first
# question's feedback says once its correct option has been chosen.
SELF_CHECK_STATE = """quiz => ({
  id: quiz.id,
  bound: quiz.dataset.scBound || null,
  enabled: [...quiz.querySelectorAll('input.sc-input')].every(i => !i.disabled),
  feedback: quiz.querySelector('.sc-feedback').textContent,
  feedback_class: quiz.querySelector('.sc-feedback').className,
  state: quiz.querySelector('fieldset').dataset.state || null,
})"""


def _answer_self_checks(page) -> list[dict]:
    """Click the correct option of the first question of every self-check quiz; report each quiz."""
    results = []
    quizzes = page.locator(".cubit-self-check")
    for i in range(quizzes.count()):
        quiz = quizzes.nth(i)
        label = quiz.locator("fieldset").first.locator('input[data-correct="1"] + label')
        quiz.scroll_into_view_if_needed()
        label.click()
        try:
            quiz.locator(".sc-feedback").first.filter(has_text="Correct").wait_for(timeout=5_000)
        except Exception:  # noqa: BLE001 - the test reports the feedback it found
            pass
        results.append(quiz.evaluate(SELF_CHECK_STATE))
    return results


def _visit(browser, site, page_name: str, mode: str) -> PageReport:
    report = PageReport(page_name, mode)
    context = browser.new_context(
        color_scheme=mode, viewport={"width": 1280, "height": 900}, service_workers="block"
    )

    def route(request_route):
        url = request_route.request.url
        if url.startswith(site.url):
            request_route.continue_()
        else:
            report.external.append(url)
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on(
        "console",
        lambda m: report.console_errors.append(f"{m.text} @ {m.location}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: report.page_errors.append(str(e)))
    page.on(
        "requestfailed",
        lambda r: report.failed.append(f"{r.url}: {r.failure}") if r.url.startswith(site.url) else None,
    )
    page.on("response", lambda r: report.failed.append(f"{r.url}: HTTP {r.status}") if r.status >= 400 else None)
    served_before = len(site.responses)
    try:
        _open(page, site.url + page_name + ".html")
        page.evaluate(WAIT_FOR_MATHJAX)
        try:
            page.wait_for_function(WIDGETS_RENDERED, timeout=30_000)
        except Exception:  # noqa: BLE001 - reported by test_widgets_render
            report.widgets_rendered = False
        page.wait_for_load_state("networkidle")
        report.collected = page.evaluate(COLLECT)

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        report.screenshot = SCREENSHOTS / f"{page_name.replace('/', '__')}-{mode}.png"
        page.screenshot(path=str(report.screenshot), full_page=True, animations="disabled")

        if mode == "light":
            if report.collected["widget_views"]:
                fonts = page.evaluate(FONT_URLS)
                report.fonts = [tuple(pair) for pair in page.evaluate(FETCH_STATUS, fonts)]
            handles = page.locator(".cell_output .widget-slider [role=slider]")
            for i in range(handles.count()):
                before = page.evaluate(SLIDER_FRAMES)[i]
                key = "ArrowLeft" if before["now"] is not None and before["now"] >= before["max"] else "ArrowRight"
                handles.nth(i).focus()
                page.keyboard.press(key)
                try:
                    page.wait_for_function(
                        "([i, frame]) => { const s = (" + SLIDER_FRAMES + ")()[i];"
                        " return s.frame !== frame && s.loaded; }",
                        arg=[i, before["frame"]],
                        timeout=5_000,
                    )
                except Exception:  # noqa: BLE001 - the test reports the unchanged frame
                    pass
                report.sliders.append((before, page.evaluate(SLIDER_FRAMES)[i]))
            report.self_checks = _answer_self_checks(page)
            page.wait_for_load_state("networkidle")
            report.output_images = page.evaluate(OUTPUT_IMAGES, OUTPUT_IMAGE)
            report.code_boxes = page.evaluate(CODE_BOXES)  # last: it unfolds the hidden code
        else:
            report.dark_images = _dark_image_samples(page, report.screenshot)
    finally:
        page.close()
        context.close()
    report.failed += [
        f"{path}: HTTP {status} (seen by the server)"
        for path, status in site.responses[served_before:]
        if status >= 400
    ]
    return report


@pytest.fixture(scope="session")
def visit(browser, site):
    """``visit(page, mode)``: the report of one visit, made once per page and mode."""
    reports: dict[tuple[str, str], PageReport] = {}

    def get(page_name: str, mode: str) -> PageReport:
        if (page_name, mode) not in reports:
            reports[page_name, mode] = _visit(browser, site, page_name, mode)
        return reports[page_name, mode]

    return get


def _has_widget_views(book_build: Path, page_name: str) -> bool:
    html = (book_build / "html" / f"{page_name}.html").read_text(encoding="utf-8")
    return "application/vnd.jupyter.widget-view+json" in html


# --------------------------------------------------------------------------- #
# The whole build, without a browser
# --------------------------------------------------------------------------- #
EXTERNAL_LOAD = re.compile(
    r"""<(?:script|img|iframe|audio|video|source|embed)\b[^>]*\bsrc=["']?(?:https?:)?//"""
    r"""|<link\b(?=[^>]*\brel=["']?(?:stylesheet|preload|modulepreload|icon|shortcut icon|manifest))"""
    r"""[^>]*\bhref=["']?(?:https?:)?//"""
    r"""|@import\s+(?:url\()?["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//""",
    re.I,
)


def test_no_built_page_or_stylesheet_loads_from_the_network(book_build):
    """No HTML page (toc or not: search, index, genindex...) or CSS file names an external resource to load."""
    offenders = []
    for path in sorted((book_build / "html").rglob("*")):
        if path.suffix not in {".html", ".css"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        name = path.relative_to(book_build / "html")
        offenders += [f"{name}: {m.group(0)[:120]}" for m in EXTERNAL_LOAD.finditer(text)]
    assert not offenders, "external resources named in the build:\n" + "\n".join(offenders)


def test_the_book_serves_mathjax_requirejs_and_the_widget_manager(book_build):
    static = book_build / "html" / "_static"
    assets = ("mathjax/tex-mml-chtml.js", "require.js", "widgets/setup.js", "widgets/@jupyter-widgets/embed-amd.js")
    for asset in assets:
        assert (static / asset).is_file(), f"_static/{asset} missing from the build"
    assert list((static / "mathjax/output/chtml/fonts/woff-v2").glob("*.woff")), "MathJax fonts missing"
    assert list((static / "widgets/@jupyter-widgets").glob("*.woff2")), "widget fonts missing"


def test_toc_pages_are_found():
    assert "book/preface" in PAGES and len(PAGES) >= 7, PAGES


# --------------------------------------------------------------------------- #
# Every page, in the browser
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("page_name", PAGES)
def test_page_makes_no_request_off_this_machine(visit, page_name, mode):
    report = visit(page_name, mode)
    assert not report.external, "requests to other hosts (aborted):\n" + "\n".join(sorted(set(report.external)))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("page_name", PAGES)
def test_page_has_no_javascript_errors(visit, page_name, mode):
    report = visit(page_name, mode)
    assert not report.page_errors, "uncaught errors:\n" + "\n".join(report.page_errors)
    assert not report.console_errors, "console errors:\n" + "\n".join(report.console_errors)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("page_name", PAGES)
def test_page_loads_every_resource(visit, page_name, mode):
    """No 4xx/5xx and no local load that failed (fonts, scripts, images, the favicon)."""
    report = visit(page_name, mode)
    assert not report.failed, "failed loads:\n" + "\n".join(report.failed)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("page_name", PAGES)
def test_every_image_is_loaded(visit, page_name, mode):
    report = visit(page_name, mode)
    broken = [img["src"] for img in report.collected["images"] if not (img["complete"] and img["width"] > 0)]
    assert not broken, "images that did not load:\n" + "\n".join(broken)


@pytest.mark.parametrize("page_name", PAGES)
def test_maths_is_typeset_by_mathjax(visit, book_build, page_name):
    report = visit(page_name, "light")
    c = report.collected
    html = (book_build / "html" / f"{page_name}.html").read_text(encoding="utf-8")
    if re.search(r'class="math notranslate', html):
        assert c["maths"] > 0 and c["mjx"] >= c["maths"], f"{c['maths']} maths elements, {c['mjx']} typeset"
    assert not c["untypeset"], "maths left as TeX:\n" + "\n".join(c["untypeset"][:10])
    assert not c["tex_errors"], "MathJax errors:\n" + "\n".join(c["tex_errors"][:10])
    assert not c["raw_tex"], "raw TeX visible:\n" + "\n".join(c["raw_tex"][:10])


@pytest.mark.parametrize("page_name", PAGES)
def test_widgets_render_as_widgets(visit, page_name):
    """Every saved widget view becomes a live widget; no Python repr or error text shows instead."""
    report = visit(page_name, "light")
    c = report.collected
    assert report.widgets_rendered and not c["unrendered_views"], (
        f"{c['unrendered_views']} of {c['widget_views']} widget views did not render"
    )
    assert not c["raw_widgets"], "raw widget text visible:\n" + "\n".join(c["raw_widgets"][:10])


@pytest.mark.parametrize("page_name", PAGES)
def test_static_sliders_change_the_frame(visit, book_build, page_name):
    """Moving each slider with the keyboard shows another precomputed frame (no kernel)."""
    report = visit(page_name, "light")
    if not _has_widget_views(book_build, page_name):
        assert not report.sliders
        return
    assert report.sliders, f"{page_name} embeds widget views but shows no slider"
    for before, after in report.sliders:
        where = f"slider {before['label']!r} at {before['readout']}"
        assert before["frame"] and before["loaded"], f"{where}: no frame shown before moving"
        assert after["now"] != before["now"] and after["readout"] != before["readout"], f"{where}: did not move"
        assert after["frame"] != before["frame"], f"{where}: moved to {after['readout']} but the frame did not change"
        assert after["loaded"], f"{where}: the new frame did not load"


def test_some_pages_have_sliders(book_build):
    assert any(_has_widget_views(book_build, page) for page in PAGES)


@pytest.mark.parametrize("page_name", PAGES)
def test_widget_fonts_resolve(visit, book_build, page_name):
    """The widget manager's @font-face files load from this page (they are fetched only when used)."""
    if not _has_widget_views(book_build, page_name):
        return
    report = visit(page_name, "light")
    assert any("@jupyter-widgets" in url for url, _ in report.fonts), f"no widget fonts found: {report.fonts}"
    bad = [f"{url}: {status}" for url, status in report.fonts if status != 200]
    assert not bad, "fonts that do not load:\n" + "\n".join(bad)


@pytest.mark.parametrize("page_name", PAGES)
def test_figures_sit_on_a_light_background_in_dark_mode(visit, page_name):
    """In the dark theme every output image (figures, slider frames) is on a light card with a light margin."""
    report = visit(page_name, "dark")
    assert report.collected["theme"] == "dark"
    assert visit(page_name, "light").collected["theme"] == "light"
    for image in report.dark_images:
        rgb = [int(v) for v in re.findall(r"\d+", image["background"])[:3]]
        assert rgb and min(rgb) >= 200, f"{image['src']}: background {image['background']} is not light"
        assert image["card"] > 0.7 and image["figure_edge"] > 0.7, (
            f"{image['src']}: dark pixels around the figure (card {image['card']:.2f}, "
            f"figure edge {image['figure_edge']:.2f}; 1 is white)"
        )
    assert report.screenshot and report.screenshot.exists()


# --------------------------------------------------------------------------- #
# Nothing a reader needs is cut off or too small to read
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("page_name", PAGES)
def test_code_and_outputs_show_every_line_in_their_box(visit, page_name):
    """No line of code, of a cell's source or of its printed output runs past its box.

    In the light visit (1280 × 900 window), with every folded code cell opened: for every
    code cell's source ``pre``, output area, printed output ``pre`` and output block, and
    every other ``pre`` of the article (code blocks in the text),
    ``scrollWidth <= clientWidth + 1`` (a box that scrolls sideways, or that text spills
    out of, has a larger ``scrollWidth``). Long lines wrap instead (``book.css``). The one
    exception is deliberate: an HTML table output may scroll sideways in its own box,
    because a table's rows cannot wrap without losing its columns; that box itself must
    still fit the cell (the output area around it is checked like every other box).
    """
    report = visit(page_name, "light")
    boxes = report.code_boxes
    assert boxes, "the code boxes were not measured"
    wide = [f"{b['box']}: {b['scroll']} px of content in {b['client']} px: {b['text']!r}" for b in boxes["wide"]]
    assert not wide, "code boxes wider than the page shows:\n" + "\n".join(wide)


@pytest.mark.parametrize("page_name", PAGES)
def test_self_check_answers_in_the_page(visit, book_build, page_name):
    """Each self-check quiz (``cubit_lite.self_check``) works on the static page: its inline
    script ran (buttons enabled), and choosing the first question's correct option says so."""
    html = (book_build / "html" / f"{page_name}.html").read_text(encoding="utf-8")
    if 'class="cubit-self-check"' not in html:
        pytest.skip(f"{page_name} has no self-check")
    report = visit(page_name, "light")
    assert report.self_checks, f"{page_name} holds a self-check in its HTML but the browser found none"
    for quiz in report.self_checks:
        where = f"self-check {quiz['id']}"
        assert quiz["bound"] == "1" and quiz["enabled"], f"{where}: its script did not run (buttons still disabled)"
        assert quiz["state"] == "correct" and "sc-right" in quiz["feedback_class"], f"{where}: {quiz}"
        assert quiz["feedback"].startswith("\u2713 Correct."), f"{where}: feedback {quiz['feedback']!r}"


def _png_dpi(data: bytes) -> float:
    """The resolution a PNG records (its pHYs chunk; Matplotlib writes the figure's dpi), else 96."""
    import io

    from PIL import Image

    dpi = Image.open(io.BytesIO(data)).info.get("dpi")
    return float(dpi[0]) if dpi and dpi[0] > 1 else 96.0


def _image_bytes(src: str, site, book_build: Path) -> bytes:
    import base64
    from urllib.parse import unquote, urlsplit

    if src.startswith("data:"):
        return base64.b64decode(src.split(",", 1)[1])
    assert src.startswith(site.url), src
    return (book_build / "html" / unquote(urlsplit(src).path).lstrip("/")).read_bytes()


@pytest.mark.parametrize("page_name", PAGES)
def test_figure_text_is_not_shrunk_below_the_minimum(visit, site, book_build, page_name):
    """Every figure (and every slider frame) is shown at least at its natural size.

    The rule (``cubit_lite.plotting``): the book's figures are PNGs whose text is at least
    ``MIN_FONT_PT`` (8 pt) at 96 dpi, where one PNG pixel is one CSS pixel. A figure is
    meant to be shown ``W = pixels × 96 / dpi`` CSS pixels wide (a slider frame's
    ``<img width>`` says so), and a browser shrinks it, text included, when its column is
    narrower (``max-width: 100%``). The smallest text a reader sees is then
    ``MIN_FONT_PT × shown / W``, and it must not fall below ``MIN_FONT_PT``: every output
    image that is shown must be shown at ``W`` (to within a pixel), at the site's content
    width (the 1280-pixel window of these visits, ``CONTENT_WIDTH_PX`` = 672); a hidden
    image in the page must fit the room it would have. Figures are made that narrow at
    the source (``use_book_style``'s figure hook, ``figure_to_png``). A slider's ``Stack``
    puts only its selected frame in the page: this sees the frame shown after the slider
    was moved; ``tests/test_widgets.py`` checks the width of every frame.
    """
    from cubit_lite.plotting import CONTENT_WIDTH_PX, MIN_FONT_PT

    report = visit(page_name, "light")
    shrunk = []
    for image in report.output_images:
        if not image["natural"]:
            continue  # reported by test_every_image_is_loaded
        data = _image_bytes(image["src"], site, book_build)
        wanted = image["declared"] or image["natural"] * 96 / _png_dpi(data)
        name = ("slider frame" if image["src"].startswith("data:") else image["src"].rsplit("/", 1)[-1][-16:])
        name += f" (cell {image['cell']!r})"
        if image["shown"] is not None:
            scale = image["shown"] / wanted
            if image["shown"] < wanted - 1:
                shrunk.append(f"{name}: {wanted:.0f} px wide shown at {image['shown']:.0f} px: "
                              f"its {MIN_FONT_PT:g} pt text shows at {MIN_FONT_PT * scale:.1f} pt")
        elif image["room"] is not None and wanted > image["room"] + 1:
            shrunk.append(f"hidden {name}: {wanted:.0f} px wide for {image['room']:.0f} px of room: "
                          f"its {MIN_FONT_PT:g} pt text would show at {MIN_FONT_PT * image['room'] / wanted:.1f} pt")
    assert not shrunk, (
        f"figures scaled down below their natural size (content width {CONTENT_WIDTH_PX} px):\n" + "\n".join(shrunk)
    )


# --------------------------------------------------------------------------- #
# Tables and cell outputs fit the text column
# --------------------------------------------------------------------------- #
# With everything folded opened (code cells, dropdown solutions, <details>): every table of
# the article (cell outputs and the text's own) and every cell output, with what it holds.
# A box "does not fit" when it scrolls sideways or its content spills out of it
# (scrollWidth > clientWidth + 1), or when its right edge lies past the text column's
# (the article's content box). For a table, the box is each ancestor up to the article:
# a table that fits nowhere would scroll in its wrapper (book.css lets a table output scroll).
WIDE_TABLES_AND_OUTPUTS = r"""() => {
  for (const d of document.querySelectorAll('details')) d.open = true;
  for (const t of document.querySelectorAll('.toggle-hidden')) t.classList.remove('toggle-hidden');
  const article = document.querySelector('.bd-article');
  const a = getComputedStyle(article), frame = article.getBoundingClientRect();
  const right = frame.left + article.clientLeft + article.clientWidth - parseFloat(a.paddingRight);
  const describe = (el, what, why) => ({what, why,
    text: el.textContent.replace(/\s+/g, ' ').trim().slice(0, 90)});
  const misfits = [];
  let checked = 0;
  const check = (el, what) => {
    if (!el.checkVisibility()) return;
    checked += 1;
    const box = el.getBoundingClientRect();
    if (el.scrollWidth > el.clientWidth + 1)
      misfits.push(describe(el, what, `${el.scrollWidth} px of content in a box ${el.clientWidth} px wide`));
    else if (box.right > right + 1)
      misfits.push(describe(el, what, `its right edge is ${Math.round(box.right - right)} px past the text column`));
  };
  for (const table of article.querySelectorAll('table')) {
    if (!table.checkVisibility()) continue;
    const box = table.getBoundingClientRect();
    checked += 1;
    if (box.right > right + 1) {
      misfits.push(describe(table, 'table', `${Math.round(box.width)} px wide, its right edge ` +
                            `${Math.round(box.right - right)} px past the text column`));
      continue;
    }
    for (let el = table.parentElement; el && el !== article; el = el.parentElement) {
      if (el.scrollWidth > el.clientWidth + 1) {
        misfits.push(describe(table, 'table', `scrolls in its box: ${el.scrollWidth} px in ${el.clientWidth} px`));
        break;
      }
    }
  }
  for (const output of article.querySelectorAll('div.cell_output')) {
    check(output, 'cell output');
    for (const child of output.querySelectorAll(':scope > div.output, :scope > div.output > *')) {
      check(child, 'output ' + (child.className || child.tagName.toLowerCase()));
    }
  }
  return {checked, misfits, column: Math.round(right - frame.left)};
}"""


def _wide_tables_and_outputs(browser, site, page_name: str) -> dict:
    """Open one page in a 1280 × 900 window (light, no network), wait for MathJax and the widgets, measure."""
    context = browser.new_context(color_scheme="light", viewport={"width": 1280, "height": 900},
                                  service_workers="block")
    context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(site.url) else r.abort())
    page = context.new_page()
    try:
        _open(page, site.url + page_name + ".html")
        page.evaluate(WAIT_FOR_MATHJAX)
        try:
            page.wait_for_function(WIDGETS_RENDERED, timeout=30_000)
        except Exception:  # noqa: BLE001 - reported by test_widgets_render_as_widgets
            pass
        return page.evaluate(WIDE_TABLES_AND_OUTPUTS)
    finally:
        page.close()
        context.close()


@pytest.mark.parametrize("page_name", PAGES)
def test_tables_and_outputs_fit_the_text_column(browser, site, page_name):
    """At 1280 px no table and no cell output is wider than the text column, or scrolls sideways.

    A table a reader must scroll hides the columns the prose cites; a wide table is split
    or narrowed instead (``cubit_lite.tables.split_table``). Folded code, dropdown solutions
    and ``<details>`` are opened first, so that what they hold is measured too.
    """
    found = _wide_tables_and_outputs(browser, site, page_name)
    misfits = [f"{m['what']}: {m['why']}: {m['text']!r}" for m in found["misfits"]]
    assert not misfits, (f"{len(misfits)} of {found['checked']} tables and outputs do not fit the "
                         f"{found['column']} px text column:\n" + "\n".join(misfits))
