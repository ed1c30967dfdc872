"""The development loop stays true: the markers, the stages, the quick command, the docs.

CONTRIBUTING.md ("The loop") describes these; this module keeps it honest.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICK_LEFT_OUT = ("slow", "gpu", "build", "book", "colab", "browser")


def test_the_markers_are_registered_and_documented():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    registered = {line.split(":", 1)[0] for line in config["tool"]["pytest"]["ini_options"]["markers"]}
    assert set(QUICK_LEFT_OUT) <= registered
    contributing = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    for marker in registered:
        assert f"| `{marker}` |" in contributing, f"CONTRIBUTING.md's marker table lacks {marker!r}"


def _stages() -> dict[str, str]:
    """The ``STAGES`` table of scripts/run_tests.sh: stage name -> pytest ``-m`` expression."""
    script = (ROOT / "scripts" / "run_tests.sh").read_text(encoding="utf-8")
    table = re.search(r"^STAGES=\((.*?)^\)", script, flags=re.S | re.M)
    assert table, "scripts/run_tests.sh lost its STAGES table"
    return dict(entry.split("|", 1) for entry in re.findall(r'"([^"]+)"', table.group(1)))


def _selects(expression: str, markers: set[str]) -> bool:
    """Whether pytest's ``-m expression`` selects a test carrying exactly ``markers``."""
    names = set(re.findall(r"[a-z_]+", expression)) - {"and", "or", "not"}
    return eval(expression, {"__builtins__": {}}, {name: name in markers for name in names})


def test_every_test_is_in_exactly_one_stage():
    """For every combination of the heavy markers, exactly one stage's expression selects it."""
    stages = _stages()
    assert list(stages) == ["quick", "slow", "book", "colab", "browser"]
    assert set(re.findall(r"not (\w+)", stages["quick"])) == set(QUICK_LEFT_OUT)
    for size in range(len(QUICK_LEFT_OUT) + 1):
        for markers in itertools.combinations(QUICK_LEFT_OUT, size):
            chosen = [name for name, expression in stages.items() if _selects(expression, set(markers))]
            assert len(chosen) == 1, f"a test marked {markers or 'with no marker'} runs in stages {chosen}"


def test_the_whole_run_has_every_stage_and_lint_runs_each_linter():
    script = (ROOT / "scripts" / "run_tests.sh").read_text(encoding="utf-8")
    order = re.search(r"^for name in ([a-z ]+); do", script, flags=re.M)
    assert order and order.group(1).split() == ["lint", *_stages()]
    lint = re.search(r"^lint\(\) \{.*?\n(.*?)^\}", script, flags=re.S | re.M).group(1)
    for command in ("-m ruff check .", "-m mypy", "scripts/check_history_words.py"):
        assert command in lint, f"the lint stage lacks {command}"


def test_the_readme_and_contributing_give_the_quick_loop():
    for page in ("README.md", "CONTRIBUTING.md"):
        assert "bash scripts/run_tests.sh --quick" in (ROOT / page).read_text(encoding="utf-8"), page
