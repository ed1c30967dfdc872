#!/usr/bin/env bash
# Set everything up and build the book into _build/html, executing every notebook.
# Strict: a failing cell, a broken reference or any Sphinx warning fails the build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Sliders on the built site are precomputed frames linked in the browser.
export CUBIT_LITE_SLIDERS=static
.venv/bin/jupyter-book build . -W -n --keep-going
# The student edition (exercises kept, solutions removed). The build above already put
# its zip into the site, _build/html/student-edition.zip (scripts/student_edition.py is
# also a Sphinx extension, see _config.yml); here the same notebooks, unzipped.
.venv/bin/python scripts/student_edition.py --out _build/student --no-zip
echo "==> student edition: _build/html/student-edition.zip (and _build/student/)"
echo "==> open _build/html/index.html"
