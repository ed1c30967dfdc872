#!/usr/bin/env bash
# Run the whole test suite (the library, the widgets, the strict book build and the
# built site in a real browser, offline), or with --quick only the fast tests, or with
# --lint only ruff and mypy (CONTRIBUTING.md).
# Runs scripts/setup.sh first when something is missing, so it also works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
needs_setup() {
  [ -x .venv/bin/jupyter-book ] && [ -x .venv/bin/playwright ] || return 0
  [ -f node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ] || return 0
  # chromium for the browser tests: setup.sh --browser installs it when run as root
  [ -x "${CHROMIUM:-/usr/bin/chromium}" ] || [ "$(id -u)" != 0 ] || return 0
  return 1
}
if needs_setup; then
  bash scripts/setup.sh --browser
fi
# --quick: every fast test (about a minute on two cores); --lint: ruff and mypy only.
# Other arguments go to pytest, e.g. `run_tests.sh --quick tests/test_mixers.py -k causal`.
case "${1:-}" in
  --quick)
    shift
    exec .venv/bin/python -m pytest -q -m "not slow and not gpu and not build and not book and not colab and not browser" "$@" ;;
  --lint)
    shift
    exec .venv/bin/python -m pytest -q tests/test_code_quality.py "$@" ;;
esac
exec .venv/bin/python -m pytest "$@"
