"""The linters pass: ruff on the whole repository, mypy on the library.

Both read their configuration from pyproject.toml ([tool.ruff], [tool.mypy]) and run as
``python -m TOOL`` with this interpreter, so they are the versions of the [test] extra. A
failure shows the tool's own report; the same command, run from the repository root,
reproduces it (``python -m ruff check .``, ``python -m mypy``).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m tool *args`` in the repository root; skips if ``tool`` is not installed."""
    if importlib.util.find_spec(tool) is None:
        pytest.skip(f"{tool} is not installed in this environment (pip install -e '.[test]' installs it)")
    return subprocess.run([sys.executable, "-m", tool, *args], cwd=ROOT, capture_output=True, text=True)


def _report(done: subprocess.CompletedProcess[str]) -> str:
    command = " ".join(["python", *done.args[1:]])
    return f"`{command}` exited with {done.returncode}:\n{done.stdout}{done.stderr}"


def test_ruff_finds_nothing():
    done = _run("ruff", "check", ".")
    assert done.returncode == 0, _report(done)


@pytest.mark.slow
def test_mypy_finds_nothing():
    done = _run("mypy")
    assert done.returncode == 0, _report(done)
