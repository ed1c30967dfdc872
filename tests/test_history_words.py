"""The library's code says what is: no history, no lab machine names (scripts/check_history_words.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "check_history_words.py"
sys.path.insert(0, str(ROOT / "scripts"))
import check_history_words  # noqa: E402


@pytest.mark.parametrize("line", [
    "# 8 warps stopped the H200 with an illegal access",
    '"""The tile these kernels had before."""',
    "# The first tuning chose 64; the retest agreed.",
    "x = 1  # was changed after issue 29",
    "# This value used to be 4.",
    "    # kept from the last session",
])
def test_history_and_machine_names_are_found(line):
    assert check_history_words.hits(line), f"not flagged: {line!r}"


@pytest.mark.parametrize("line", [
    "# 4 warps below width 64; more is refused.",
    "# A T4 has no bf16 tensor cores, so autocast stays off there.",
    '"""--overwrite removes the previous run\'s files, then prints what was removed."""',
    "# a second run of the same script never attaches a second handler",
    '"""SIGINT (Ctrl-C) or SIGTERM stopped the run."""',
])
def test_statements_of_what_is_pass(line):
    assert check_history_words.hits(line) == []


def test_the_script_names_each_hit_and_fails(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('"""Fine."""\n# the fix for the H100 run\n', encoding="utf-8")
    good = tmp_path / "good.py"
    good.write_text("x = 1  # the solve's tile width\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith(f"{bad}:2:") for line in lines), done.stdout
    assert {'"the fix"', '"H100"'} == {line.split(" ", 1)[1].split(" (")[0] for line in lines}
    assert subprocess.run([sys.executable, str(SCRIPT), str(good)], capture_output=True).returncode == 0


def test_a_missing_path_is_refused(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "nope.py")], capture_output=True, text=True)
    assert done.returncode == 2 and "no such file or folder" in done.stderr


def test_the_library_holds_no_history_words():
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, "history or machine names in cubit_lite/ (say what is):\n" + done.stdout


@pytest.mark.slow  # about 3 s: git and pre-commit in a scratch repository
def test_the_pre_commit_hooks_are_local_and_catch_what_they_should(tmp_path):
    """In a scratch repository: the hooks reject history words in cubit_lite/ and an unused import."""
    import shutil

    import yaml

    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    assert [repo["repo"] for repo in config["repos"]] == ["local"], "hooks must not be fetched from elsewhere"
    assert {hook["id"] for hook in config["repos"][0]["hooks"]} == {"ruff-check", "ruff-format", "history-words"}
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    (repo / "cubit_lite").mkdir()
    shutil.copy(ROOT / ".pre-commit-config.yaml", repo)
    shutil.copy(SCRIPT, repo / "scripts")
    (repo / ".venv").symlink_to(Path(sys.prefix))
    (repo / "cubit_lite" / "solve.py").write_text('"""The tile that stopped the H200."""\n', encoding="utf-8")
    (repo / "cubit_lite" / "other.py").write_text("import os\n", encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PRE_COMMIT_HOME": str(tmp_path / "cache"),
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for command in (["git", "init", "-q"], ["git", "add", "-A"]):
        subprocess.run(command, cwd=repo, env=env, check=True)
    done = subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files"], cwd=repo, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'cubit_lite/solve.py:1: "H200"' in done.stdout
    assert "F401" in done.stdout or (repo / "cubit_lite" / "other.py").read_text(encoding="utf-8") == ""
