"""The development loop stays true: the slow list, the markers, the quick command, the docs.

CONTRIBUTING.md ("The loop") describes these; this module keeps it honest.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from conftest import slow_test_ids

ROOT = Path(__file__).resolve().parents[1]
QUICK_LEFT_OUT = ("slow", "gpu", "build", "book", "colab", "browser")


def _test_names(path: Path) -> set[str]:
    """``name`` and ``Class::name`` of every test function a module defines."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names |= {f"{node.name}::{f.name}" for f in node.body
                      if isinstance(f, ast.FunctionDef) and f.name.startswith("test")}
    return names


def test_every_listed_slow_test_exists():
    stale = []
    for node_id in sorted(slow_test_ids()):
        module, _, name = node_id.partition("::")
        path = ROOT / module
        if not path.is_file() or (name and name not in _test_names(path)):
            stale.append(node_id)
    assert not stale, f"tests/slow_tests.txt names tests that no longer exist: {stale}"


def test_the_markers_are_registered_and_documented():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    registered = {line.split(":", 1)[0] for line in config["tool"]["pytest"]["ini_options"]["markers"]}
    assert set(QUICK_LEFT_OUT) <= registered
    contributing = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    for marker in registered:
        assert f"| `{marker}` |" in contributing, f"CONTRIBUTING.md's marker table lacks {marker!r}"


def test_the_quick_command_leaves_out_every_heavy_marker():
    script = (ROOT / "scripts" / "run_tests.sh").read_text(encoding="utf-8")
    expression = re.search(r'--quick\)\s+shift\s+exec .*?-m "([^"]+)"', script, flags=re.S)
    assert expression, "scripts/run_tests.sh lost its --quick branch"
    assert set(re.findall(r"not (\w+)", expression.group(1))) == set(QUICK_LEFT_OUT)


def test_the_readme_and_contributing_give_the_quick_loop():
    for page in ("README.md", "CONTRIBUTING.md"):
        assert "bash scripts/run_tests.sh --quick" in (ROOT / page).read_text(encoding="utf-8"), page
