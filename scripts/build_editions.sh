#!/usr/bin/env bash
# The book's two editions made from the built site: slides for each chapter (reveal.js decks,
# _build/html/slides/) and the whole book as one PDF (_build/html/attention-as-regression.pdf),
# and the lecturer's download that holds both (_build/html/lecturer-edition.zip). The teaching
# page links all three. Run it after `bash scripts/build_book.sh`; it needs what the browser
# tests need (chromium: `bash scripts/setup.sh --browser`, which this runs when something is missing).
# Options: --site DIR  another built site (default _build/html).
set -euo pipefail
cd "$(dirname "$0")/.."
SITE=_build/html
case "${1:-}" in
  --site) SITE="${2:?--site needs a folder}" ;;
  "") ;;
  *) echo "usage: bash scripts/build_editions.sh [--site DIR]  (DIR: a built book, default _build/html)" >&2; exit 2 ;;
esac
if [ ! -f "$SITE/index.html" ]; then
  echo "error: no built book in $SITE; build it first: bash scripts/build_book.sh" >&2
  exit 1
fi
needs_setup() {
  .venv/bin/python -c "import nbconvert, playwright, pypdf" 2>/dev/null || return 0
  [ -f node_modules/reveal.js/package.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ] || return 0
  [ -x "${CHROMIUM:-/usr/bin/chromium}" ] || return 0
  return 1
}
if needs_setup; then
  bash scripts/setup.sh --browser
fi
.venv/bin/python scripts/slides.py --site "$SITE"
.venv/bin/python scripts/book_pdf.py --site "$SITE"
.venv/bin/python scripts/lecturer_edition.py --site "$SITE"
echo "==> slides: $SITE/slides/index.html | PDF: $SITE/attention-as-regression.pdf | lecturer's download: $SITE/lecturer-edition.zip"
