"""The lecturer's download: every chapter's slides and the PDF edition in one zip.

``python scripts/lecturer_edition.py`` (run by ``scripts/build_editions.sh`` after
``scripts/slides.py`` and ``scripts/book_pdf.py``) writes ``_build/html/lecturer-edition.zip``,
which the teaching page links. Unzipped, it works with no network and no web server:
``slides/index.html`` lists the decks, which load reveal.js from ``slides/reveal.js/`` and
MathJax, require.js and the widget manager from ``_static/``, the same files the site serves.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from book_pages import SITE, require_site  # noqa: E402
from book_pdf import PDF_NAME  # noqa: E402
from slides import SLIDES_DIR  # noqa: E402

ZIP_NAME = "lecturer-edition.zip"
FOLDER = "attention-as-regression-lecturer"
# What the decks load from the site's _static/ folder (scripts/slides_template/index.html.j2).
STATIC = ("require.js", "mathjax", "widgets", "favicon.svg")
README = """Attention as Regression: the lecturer's download

slides/index.html          one reveal.js deck per chapter; open it in a browser (no network needed).
                           Arrow keys or space: next slide; S: speaker notes (the chapter's full text);
                           Esc: overview. The sliders work in the decks with no Python running.
{pdf:<26} the whole book, with each chapter's self-check answers and worked solutions at its end.
_static/                   MathJax, require.js, the ipywidgets manager and the icon, which the decks load.

The student edition (the notebooks without their solutions) is a separate download on the teaching page.
"""


def build(site: Path = SITE, out: Path | None = None) -> Path:
    """Zip the decks, what they load and the PDF from the built ``site``; return the zip's path."""
    require_site(site)
    out = out or site / ZIP_NAME
    slides, pdf = site / SLIDES_DIR, site / PDF_NAME
    missing = [str(p) for p in (slides / "index.html", pdf) if not p.is_file()]
    if missing:
        raise SystemExit(f"error: {', '.join(missing)} missing; run scripts/slides.py and scripts/book_pdf.py first "
                         "(bash scripts/build_editions.sh runs all three)")
    files = sorted(p for p in slides.rglob("*") if p.is_file())
    for name in STATIC:
        path = site / "_static" / name
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    files.append(pdf)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{FOLDER}/README.txt", README.format(pdf=PDF_NAME))
        for path in files:
            archive.write(path, f"{FOLDER}/{path.relative_to(site).as_posix()}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=SITE, help="the built book (default: _build/html)")
    args = parser.parse_args(argv)
    path = build(args.site.resolve())
    print(f"==> {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
