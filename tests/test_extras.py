"""The ``[test]`` extra is enough: in a fresh virtual environment with only the library and
that extra, every test module is collected (no ImportError at collection time).

Slow (a fresh venv and pip): marked ``build``; ``run_tests.sh --quick`` leaves it out.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.build
@pytest.mark.slow
def test_the_test_extra_is_enough_to_collect_every_test(tmp_path):
    source = tmp_path / "source"  # the repository's files as git sees them (tracked and new, not ignored)
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True, timeout=60).stdout.decode().split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True, timeout=300)
    python = str(tmp_path / "venv" / "bin" / "python")
    pip = [python, "-m", "pip", "--disable-pip-version-check", "install", "-q"]
    # torch as scripts/setup.sh installs it (pinned: a CPU build on these machines)
    torch_version = __import__("torch").__version__.split("+")[0]
    for step in ([f"torch=={torch_version}"], [f"{source}[test]"]):
        done = subprocess.run(pip + step, capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, (
            f"pip install {' '.join(step)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    collected = subprocess.run([python, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests"],
                               cwd=source, capture_output=True, text=True, timeout=900)
    assert collected.returncode == 0 and "error" not in collected.stdout.lower().splitlines()[-1], (
        "with only `pip install .[test]`, pytest could not collect every test module:\n"
        + collected.stdout[-5000:] + collected.stderr[-3000:])
