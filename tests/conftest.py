"""Shared fixtures: the repository root and one strict build of the book per test session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def book_build() -> Path:
    """Build the book strictly (``-W -n --keep-going``), executing every notebook.

    The same command as the README's build (cached execution, so a rebuild after
    ``scripts/build_book.sh`` is quick). Returns the ``_build`` folder; the build's
    output is attached to the failure message when it fails.
    """
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book) if jupyter_book.exists() else "jupyter-book", "build", ".", "-W", "-n", "--keep-going"]
    env = {**os.environ, "CUBIT_LITE_SLIDERS": "static"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    log = done.stdout + done.stderr
    (BUILD).mkdir(exist_ok=True)
    (BUILD / "test-build.log").write_text(log, encoding="utf-8")
    if done.returncode != 0:
        pytest.fail(f"strict book build failed (exit {done.returncode}); last lines:\n" + "\n".join(log.splitlines()[-60:]))
    return BUILD
