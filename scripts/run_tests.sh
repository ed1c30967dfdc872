#!/usr/bin/env bash
# Run the whole test suite (the library, the widgets, the strict book build and the
# built site in a real browser, offline).
# Runs scripts/setup.sh first when something is missing, so it also works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
needs_setup() {
  [ -x .venv/bin/jupyter-book ] && [ -x .venv/bin/playwright ] || return 0
  [ -f node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ] || return 0
  # chromium for the browser tests: setup.sh installs it when run as root
  [ -x "${CHROMIUM:-/usr/bin/chromium}" ] || [ "$(id -u)" != 0 ] || return 0
  return 1
}
if needs_setup; then
  bash scripts/setup.sh
fi
exec .venv/bin/python -m pytest "$@"
