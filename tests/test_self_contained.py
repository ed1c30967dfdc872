"""The repository carries its own words: no tracked file points outside it.

The mathematics is written out in the book's equations page (book/equations.md), so
nothing may cite the authors' private working notes (``CUBIT_MATH``), a folder beside
the repository (``../shared``) or a path on the machine it was written on (``/work/``).
Binary files and the recorded data under results/ (logs and JSON that keep the paths
of the runs that made them) are not checked; results/ documentation is.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = re.compile(r"CUBIT_MATH|\.\./shared|/work/")

EXCEPTIONS: dict[str, str] = {
    # path: why it may keep such a mention. experiments/fair_comparison/PLAN.md is a
    # pre-registered plan, frozen before its runs, and would be listed here rather than
    # edited; today it mentions none of these paths, so the list is empty.
}


def _tracked_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout (git ls-files failed)")
    return [name for name in out.decode("utf-8").split("\0") if name]


SELF = "tests/test_self_contained.py"  # names the forbidden patterns in order to find them


def _checked(name: str) -> bool:
    if name == SELF:
        return False
    if name.startswith("results/") and not name.endswith(".md"):
        return False  # recorded data: logs and JSON keep the paths of the runs
    return (ROOT / name).is_file()


def test_no_tracked_file_points_outside_the_repository():
    offenders = []
    for name in _tracked_files():
        if not _checked(name):
            continue
        data = (ROOT / name).read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary
        text = data.decode("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if FORBIDDEN.search(line) and name not in EXCEPTIONS:
                offenders.append(f"{name}:{number}: {line.strip()[:120]}")
    assert not offenders, "tracked files point outside the repository:\n" + "\n".join(offenders)


def test_the_check_sees_the_files_that_matter():
    names = set(_tracked_files())
    for name in ("cubit_lite/mixers/functional.py", "book/equations.md", "tests/test_mixers.py"):
        assert name in names and _checked(name), name
    assert FORBIDDEN.search("see shared/CUBIT_MATH.md §3") and FORBIDDEN.search("/work/main/book")
    assert not FORBIDDEN.search("the equations page §3.2 (book/equations.md)")


def test_exceptions_are_still_needed():
    for name, reason in EXCEPTIONS.items():
        assert reason, name
        text = (ROOT / name).read_text(encoding="utf-8")
        assert FORBIDDEN.search(text), f"{name} no longer needs its exception; remove it"
