"""Shared fixtures: the repository root and one strict build of the book per test session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"


def pytest_collection_modifyitems(config, items):
    """Set the markers that follow from what a test is (CONTRIBUTING.md, "The loop").

    ``book``: uses the ``book_build`` fixture; ``gpu``: skipped without CUDA. (``slow`` sits on
    the tests themselves, ``@pytest.mark.slow``.)
    """
    for item in items:
        if "book_build" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.book)
        if any("CUDA" in str(mark.kwargs.get("reason", "")) for mark in item.iter_markers("skipif")):
            item.add_marker(pytest.mark.gpu)


@pytest.fixture
def cli_in_process(capsys):
    """Run ``cubit_lite.train``'s or ``cubit_lite.sample``'s command line in this process.

    ``cli_in_process("train", "--lr", "inf", ...)`` returns ``(exit status, stderr)``: the
    same as ``python -m cubit_lite.train ...`` without starting Python and importing torch
    again (tests/test_train.py keeps one end-to-end run through a real subprocess).
    """
    import importlib

    def run(module: str, *args: str) -> tuple[int, str]:
        cli = importlib.import_module(f"cubit_lite.{module}").cli
        capsys.readouterr()
        try:
            cli(list(args), prog=f"python -m cubit_lite.{module}")
            status = 0
        except SystemExit as exit:
            status = exit.code if isinstance(exit.code, int) else 1
        return status, capsys.readouterr().err

    return run


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def book_build() -> Path:
    """Build the book strictly (``-W -n --keep-going``), executing every notebook.

    The same command as the README's build (cached execution, so a rebuild after
    ``scripts/build_book.sh`` is quick). Like every build, it first copies the site's
    JavaScript from ``node_modules/`` into ``site_assets/`` (``_ext/offline_assets.py``).
    Returns the ``_build`` folder; the build's output is attached to the failure message
    when it fails.
    """
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book) if jupyter_book.exists() else "jupyter-book", "build", ".", "-W", "-n", "--keep-going"]
    env = {**os.environ, "CUBIT_LITE_SLIDERS": "static"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    log = done.stdout + done.stderr
    (BUILD).mkdir(exist_ok=True)
    (BUILD / "test-build.log").write_text(log, encoding="utf-8")
    if done.returncode != 0:
        last = "\n".join(log.splitlines()[-60:])
        pytest.fail(f"strict book build failed (exit {done.returncode}); last lines:\n{last}")
    return BUILD


# --------------------------------------------------------------------------- #
# The built site in a real browser (tests/test_browser.py)
# --------------------------------------------------------------------------- #
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
]
HOW_TO_GET_A_BROWSER = (
    "The browser tests need Debian's chromium at {path} and the `playwright` Python package "
    "(the [test] extra; never `playwright install`). `bash scripts/setup.sh --browser` installs both "
    "when run as root; otherwise: `sudo apt-get install chromium` and `pip install -e '.[test]'` "
    "(or set CHROMIUM=/path/to/chromium). To run the other tests without them: pytest -m 'not browser'."
)


class SiteServer:
    """``_build/html`` served by ``http.server`` on 127.0.0.1 from a background thread.

    ``responses`` logs ``(path, status)`` for every request the server answered, so a
    test can also see requests the page's scripts never report (a missing favicon).
    """

    def __init__(self, directory: Path):
        import functools
        import http.server
        import threading

        responses: list[tuple[str, int]] = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_request(self, code="-", size="-"):
                responses.append((self.path, int(getattr(code, "value", code))))

            def log_message(self, format, *args):  # noqa: A002 - http.server's signature
                pass

        self.directory = directory
        self.responses = responses
        self._httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(directory))
        )
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="site-server", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)


@pytest.fixture(scope="session")
def site(book_build) -> SiteServer:
    """The strictly built site, served on 127.0.0.1 for the session."""
    server = SiteServer(book_build / "html")
    yield server
    server.close()


@pytest.fixture(scope="session")
def browser():
    """One headless Debian chromium for the whole session, driven by Playwright.

    Fails (never skips) when chromium or Playwright is missing, with how to install them.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"playwright is not installed. {HOW_TO_GET_A_BROWSER.format(path=CHROMIUM)}", pytrace=False)
    if not CHROMIUM.exists():
        pytest.fail(f"no chromium at {CHROMIUM}. " + HOW_TO_GET_A_BROWSER.format(path=CHROMIUM), pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()
