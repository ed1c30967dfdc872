"""The five-mixer comparison's runner refuses what its plan (experiments/five_mixers/PLAN.md) does not allow,
and the plan precedes every result in git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "experiments" / "five_mixers"
RESULTS = ROOT / "results" / "five_mixers"


@pytest.mark.parametrize("args, message", [
    (["nonsense"], "unknown part nonsense"),
    (["tune", "abc", "cubit-share:shakespeare:256"], "tune takes a peak rate such as 2e-3, then cells"),
    (["tune", "1e-3"], "tune takes a peak rate such as 2e-3, then cells"),
    (["tune", "1e-3", "llr:shakespeare:256"], "not a cell of the plan: llr:shakespeare:256"),
    (["tune", "1e-3", "cubit:shakespeare:256"], "the Transformer and Cubit coming from the decisive test"),
    (["edge", "1e-3", "cubit-share:python-stdlib:256"], "not a cell of the plan: cubit-share:python-stdlib:256"),
    (["tune", "1e-3", "transformer:python-stdlib:512"], "not a cell of the plan"),
    (["tune", "1e-3", *[f"{arm}:shakespeare:256" for arm in ("cubit-nolrr", "cubit-share", "deltaformer-kk",
                                                              "deltaformer-qk")], "cubit:python-stdlib:256"],
     "10 runs in one call; at most 8"),
    (["confirm", "8", "cubit-share:shakespeare:256"], "confirm takes seeds from 0-7"),
    (["explore", "4"], "explore takes seeds from 0-3"),
])
def test_run_part_refuses_what_the_plan_does_not_allow(tmp_path, args, message):
    out = tmp_path / "out"
    done = subprocess.run(["bash", str(FOLDER / "run_part.sh"), str(out), "0" * 40, *args],
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "LIMIT": "5"})
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not out.exists()


def _commits_adding(path: Path) -> list[str]:
    done = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "--", str(path.relative_to(ROOT))],
                          cwd=ROOT, capture_output=True, text=True)
    return done.stdout.split() if done.returncode == 0 else []


def test_the_plan_was_committed_before_any_result():
    if not (ROOT / ".git").exists():
        pytest.skip("needs the repository's git history")
    plan = _commits_adding(FOLDER / "PLAN.md")
    if not plan:
        pytest.skip("experiments/five_mixers/PLAN.md is not committed yet")
    results = [path for path in sorted(RESULTS.glob("five_*.json")) if _commits_adding(path)]
    if not results:
        pytest.skip("no results/five_mixers/five_*.json is committed yet")
    for path in results:
        added = _commits_adding(path)[-1]
        ordered = subprocess.run(["git", "merge-base", "--is-ancestor", plan[-1], added], cwd=ROOT)
        assert ordered.returncode == 0 and added != plan[-1], f"{path.name} was committed before (or with) the plan"
