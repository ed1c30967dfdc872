#!/usr/bin/env bash
# Set everything up and build the book into _build/html, executing every notebook.
# Strict: a failing cell, a broken reference or any Sphinx warning fails the build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Sliders on the built site are precomputed frames linked in the browser.
export CUBIT_LITE_SLIDERS=static
.venv/bin/jupyter-book build . -W -n --keep-going
echo "==> open _build/html/index.html"
