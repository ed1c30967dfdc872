#!/usr/bin/env bash
# Run the tests in named stages (CONTRIBUTING.md, "The loop"):
#
#   bash scripts/run_tests.sh                  every stage in order; a failed stage is named, the rest still run
#   bash scripts/run_tests.sh --stage NAME     one stage (lint, quick, slow, book, colab, browser)
#   bash scripts/run_tests.sh --quick [ARGS]   the quick stage; ARGS go to pytest (e.g. tests/test_mixers.py -k causal)
#   bash scripts/run_tests.sh --lint           the lint stage
#   bash scripts/run_tests.sh [--] ARGS        pytest ARGS, no stages (e.g. tests/test_mixers.py -k causal)
#
# Runs scripts/setup.sh first when something is missing, so it also works on a fresh machine.
set -uo pipefail
cd "$(dirname "$0")/.."
needs_setup() {
  [ -x .venv/bin/jupyter-book ] && [ -x .venv/bin/playwright ] || return 0
  [ -f node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ] || return 0
  # chromium for the browser tests: setup.sh --browser installs it when run as root
  [ -x "${CHROMIUM:-/usr/bin/chromium}" ] || [ "$(id -u)" != 0 ] || return 0
  return 1
}
if needs_setup; then
  bash scripts/setup.sh --browser || exit
fi

# The test stages: name, then the pytest -m expression that picks its tests. Every test is in
# exactly one stage (tests/test_dev_loop.py checks it for every combination of markers).
STAGES=(
  "quick|not slow and not gpu and not build and not book and not colab and not browser"
  "slow|(slow or gpu or build) and not book and not colab and not browser"
  "book|book and not colab and not browser"
  "colab|colab"
  "browser|browser and not colab"
)

lint() {  # ruff over everything, mypy over the library, no history words in the library
  .venv/bin/python -m ruff check . && .venv/bin/python -m mypy && .venv/bin/python scripts/check_history_words.py
}

run_stage() {  # run_stage NAME [PYTEST ARGS...]
  local name=$1; shift
  if [ "$name" = lint ]; then lint; return; fi
  local entry
  for entry in "${STAGES[@]}"; do
    if [ "${entry%%|*}" = "$name" ]; then
      .venv/bin/python -m pytest -q -m "${entry#*|}" "$@"
      local status=$?
      [ $status -eq 5 ] && return 0  # no test selected (e.g. a file of one stage given to another)
      return $status
    fi
  done
  echo "run_tests.sh: no stage named '$name'; the stages are: lint ${STAGES[*]%%|*}" >&2
  return 2
}

case "${1:-}" in
  --quick) shift; run_stage quick "$@"; exit ;;
  --lint) shift; run_stage lint; exit ;;
  --stage) [ $# -ge 2 ] || { echo "run_tests.sh: --stage needs a name: lint quick slow book colab browser" >&2; exit 2; }
           name=$2; shift 2; run_stage "$name" "$@"; exit ;;
  --) shift; exec .venv/bin/python -m pytest "$@" ;;
  "") ;;
  *) exec .venv/bin/python -m pytest "$@" ;;
esac

failed=()
for name in lint quick slow book colab browser; do
  echo "== stage: $name =="
  start=$SECONDS
  run_stage "$name"
  status=$?
  echo "== stage $name: $([ $status -eq 0 ] && echo passed || echo "FAILED (exit $status)") in $(( SECONDS - start )) s =="
  [ $status -eq 0 ] || failed+=("$name")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed stages: ${failed[*]} (rerun one with: bash scripts/run_tests.sh --stage NAME)" >&2
  exit 1
fi
echo "every stage passed"
