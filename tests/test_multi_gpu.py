"""Issue 19's measurements: their plan predates them, and the committed files say what they claim.

``experiments/multi_gpu/PLAN.md`` fixes the parts, endpoints and decision rules;
``experiments/multi_gpu/run.py`` writes ``results/multi_gpu/<part>.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from repo_history import commits_adding, require_history, strictly_after

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "multi_gpu"


def _load(part: str) -> dict:
    return json.loads((RESULTS / f"{part}.json").read_text(encoding="utf-8"))


def test_the_plan_was_committed_before_every_result():
    require_history()
    plan = commits_adding("experiments/multi_gpu/PLAN.md")
    assert len(plan) == 1
    for path in sorted(RESULTS.glob("*.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        assert strictly_after(plan[0], result["git_commit"]), path.name
        added = commits_adding(path)
        if added:
            assert strictly_after(plan[0], added[-1]), f"{path.name} was committed with the plan, not after it"


def test_the_cpu_equivalence_result_follows_the_plans_rules():
    result = _load("equivalence")
    assert result["command"].startswith("python experiments/multi_gpu/run.py equivalence")
    assert result["device"].startswith("CPU (") and "gloo" in result["device"]
    runs = {run["name"]: run for run in result["runs"]}
    assert runs["one-s0"]["processes"] == 1 and runs["two-s0"]["processes"] == 2
    assert all("processes: 2" in line for line in runs["two-s0"]["stdout_head"][:1])
    a = result["A"]
    steps = [str(s) for s in a["steps"]]
    gap = sum(abs(runs["two-s0"]["val"][s] - runs["one-s0"]["val"][s]) for s in steps) / len(steps)
    assert gap == pytest.approx(a["D_two_vs_one"])  # recomputed from the stored curves
    assert a["tolerance"] == pytest.approx(max(a["S_seed1_vs_seed0"], 0.02))
    assert a["equivalent"] == (a["D_two_vs_one"] <= a["tolerance"])
    b = result["B"]
    assert b["exact"] == (b["resumed_vs_uninterrupted_max_abs"] <= b["run_to_run_max_abs"])
    resumed = runs["two-s0-resumed"]
    assert set(resumed["val"]) == set(runs["two-s0"]["val"])  # the resumed log covers the whole run


def test_the_one_gpu_result_if_present_is_from_a_gpu():
    path = RESULTS / "one-gpu.json"
    if not path.exists():
        pytest.skip("no one-GPU measurement committed")
    result = _load("one-gpu")
    assert "H200" in result["device"] or "H100" in result["device"]
    assert result["agree"] == (result["torchrun_vs_plain_val_max_abs"] <= 0.01)
    launchers = {run["launcher"] for run in result["runs"]}
    assert launchers == {"python", "torchrun"}


def test_the_determinism_follow_up_recomputes_from_its_runs():
    path = RESULTS / "determinism.json"
    if not path.exists():
        pytest.skip("no determinism follow-up committed")
    follow_up = (ROOT / "experiments" / "multi_gpu" / "FOLLOWUP.md").read_text(encoding="utf-8")
    assert "exploratory" in follow_up and "one-gpu.json" in follow_up
    result = _load("determinism")
    runs = {run["name"]: run for run in result["runs"]}
    assert set(result["arms"]) == {"cubit-auto", "cubit-reference", "transformer"}
    for arm, summary in result["arms"].items():
        first, second = runs[f"det-{arm}-1"], runs[f"det-{arm}-2"]
        # the same command twice, but for the run folder
        assert first["command"].replace(f"det-{arm}-1", "RUN") == second["command"].replace(f"det-{arm}-2", "RUN")
        gap = max(abs(first["val"][s] - second["val"][s]) for s in first["val"])
        assert gap == pytest.approx(summary["val_max_abs"])
        assert summary["bitwise_equal"] == (first["val"] == second["val"] and first["train"] == second["train"])
