#!/usr/bin/env bash
# Run the whole test suite (the library, the widgets and the strict book build).
# Sets up .venv first when it is missing, so it also works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/jupyter-book ]; then
  bash scripts/setup.sh
fi
exec .venv/bin/python -m pytest "$@"
