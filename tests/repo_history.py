"""The repository's git history, for the tests that check a plan was committed before its results.

Each pre-registered study (``experiments/*/PLAN.md``) promises that its plan was on main
before any run; these helpers let its test check that from ``git log``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def git(*args: str) -> subprocess.CompletedProcess:
    """``git ARGS`` in the repository's root, output captured as text (never raises)."""
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT)


def require_history() -> None:
    """Skip the calling test where there is no full history to read (no git, or a shallow clone)."""
    if git("rev-parse", "--is-shallow-repository").stdout.strip() != "false":
        pytest.skip("a shallow clone (or no git) has no history to check the order of commits in")


def commits_adding(path: str | Path) -> list[str]:
    """The commits that added ``path`` (relative to the root, or absolute), newest first; [] if never committed."""
    path = Path(path)
    relative = path.relative_to(ROOT) if path.is_absolute() else path
    return git("log", "--diff-filter=A", "--format=%H", "--", str(relative)).stdout.split()


def strictly_after(earlier: str, later: str) -> bool:
    """Whether commit ``later`` descends from ``earlier`` and is not the same commit."""
    return earlier != later and git("merge-base", "--is-ancestor", earlier, later).returncode == 0
