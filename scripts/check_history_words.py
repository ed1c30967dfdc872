"""Keep history and lab machine names out of the library's code, docstrings and comments.

The library says what *is* ("4 warps below width 64; more is refused"), never which run
failed, what a setting was before, or which of our machines showed it: that lives in git
and ``CHANGELOG.md``. This script scans Python files (the library, ``cubit_lite/``, unless
paths are given) for the phrases in :data:`PATTERNS` and prints one line per hit,
``path:line: "phrase" (why)``; it exits 1 when there is any hit, 0 otherwise.

Used by the pre-commit hook (``.pre-commit-config.yaml``), the lint stage of
``scripts/run_tests.sh`` and ``tests/test_history_words.py``. Reader hardware (a T4, an
A100) is a fact about where code runs and is allowed; the GPUs the project measured on are
named only beside the results, in ``results/``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "cubit_lite"

#: (regular expression, what it signals). Matched case-insensitively on every line.
PATTERNS: tuple[tuple[str, str], ...] = (
    (r"\bH[12]00\b", "a machine the project measured on: name it beside the results, not in the library"),
    (r"\b(previously|formerly|no longer|used to be|used to|had before|as before)\b", "history: say what is"),
    (r"\b(first|second|earlier|previous) (tuning|attempt)\b", "history of runs: git keeps it"),
    (r"\b(rerun|re-run|retest|re-test)\b", "history of runs: git keeps it"),
    (r"\b(this|last|previous|earlier) session\b", "history: git keeps it"),
    (r"\b(was|were) (changed|replaced|renamed|raised|lowered|fixed)\b", "history: say what is"),
    (r"\b(fixed in|the fix|a fix for|workaround for the)\b", "history: say what the code does"),
    (r"\bissue\s*#?\d+", "an issue number: the commit message says why"),
    (r"\bstopped the (gpu|machine)\b", "history of runs: say the rule"),
)

_COMPILED = tuple((re.compile(pattern, re.IGNORECASE), why) for pattern, why in PATTERNS)


def hits(text: str) -> list[tuple[int, str, str]]:
    """``(line number, matched phrase, why)`` for every pattern found in ``text`` (lines from 1)."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for pattern, why in _COMPILED:
            for match in pattern.finditer(line):
                found.append((number, match.group(0), why))
    return found


def python_files(paths: list[Path]) -> list[Path]:
    """The ``.py`` files named, or found under the folders named, in a stable order."""
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder (give Python files or folders)")
        if path.is_dir():
            files.extend(sorted(path.rglob("*.py")))
        elif path.suffix == ".py":
            files.append(path)
    return files


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    paths = [Path(arg) for arg in args] if args else [LIBRARY]
    try:
        files = python_files(paths)
    except FileNotFoundError as error:
        print(f"check_history_words: {error}", file=sys.stderr)
        return 2
    status = 0
    for path in files:
        for number, phrase, why in hits(path.read_text(encoding="utf-8")):
            shown = path.relative_to(ROOT) if path.is_absolute() and path.is_relative_to(ROOT) else path
            print(f'{shown}:{number}: "{phrase}" ({why})')
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
