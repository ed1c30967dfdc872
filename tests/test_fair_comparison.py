"""The pre-registered fair comparison: its statistics, its analysis of grids, and its order in git."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest
from repo_history import commits_adding, git, require_history, strictly_after
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "experiments" / "fair_comparison"
spec = importlib.util.spec_from_file_location("fair_analyse", FOLDER / "analyse.py")
analyse = importlib.util.module_from_spec(spec)
spec.loader.exec_module(analyse)


def test_t_interval_agrees_with_scipy():
    values = [0.012, -0.004, 0.02, 0.007, 0.015, -0.001, 0.009, 0.011]
    got = analyse.t_interval(values)
    test = stats.ttest_1samp(values, 0.0)
    assert got["t"] == pytest.approx(test.statistic, rel=1e-12) and got["p"] == pytest.approx(test.pvalue, rel=1e-9)
    low, high = stats.t.interval(0.95, 7, loc=got["mean"], scale=stats.sem(values))
    assert (got["low"], got["high"]) == pytest.approx((low, high), rel=1e-12) and got["df"] == 7
    # 80% power at α = 0.05: a true mean of min_detectable is rejected 80% of the time (noncentral t)
    nc = got["min_detectable"] / got["se"]
    crit = stats.t.ppf(0.975, 7)
    power = stats.nct.sf(crit, 7, nc) + stats.nct.cdf(-crit, 7, nc)
    assert 0.77 < power < 0.83
    with pytest.raises(ValueError, match="at least 2"):
        analyse.t_interval([0.1])


def _run(mixer, seed, loss, block):
    return {"mixer": mixer, "seed": seed, "returncode": 0, "final_val_loss": loss,
            "val_loss_per_position": [loss + (0.5 if t < 16 else 0.0) for t in range(block)],
            "train_config": {"out": f"runs/{mixer}-s{seed}", "seed": seed, "mixer": mixer, "block_size": block,
                             "batch_size": 16384 // block, "lr": 1e-3}}


def _grid(tmp, part, name, runs):
    grid = {"name": f"fair-{part}-{name}", "runs": runs, "git_commit": "a" * 40, "device": "NVIDIA H200",
            "torch": "2.11.0", "command": "python experiments/run_lm.py …", "complete": True, "wall_seconds": 1.0}
    (tmp / f"fair_{part}_{name}.json").write_text(json.dumps(grid))


def test_analysis_pairs_seeds_and_applies_the_decision_rule(tmp_path):
    """Synthetic grids with a known answer: Δ(256) = +0.01, Δ(4096) = −0.03 + noise, so I ≈ −0.04 < 0."""
    noise = [0.004, -0.003, 0.001, -0.002, 0.003, 0.0, -0.001, 0.002]
    for part, seeds in (("A", range(4)), ("B", range(4, 8))):
        _grid(tmp_path, part, "T256", [_run(m, s, 1.50 + (0.01 if m == "cubit" else 0), 256)
                                       for s in seeds for m in ("transformer", "cubit")])
        _grid(tmp_path, part, "T4096", [_run(m, s, 1.45 + (-0.03 + noise[s] if m == "cubit" else 0), 4096)
                                        for s in seeds for m in ("transformer", "cubit")])
    for lr, (tr, cu) in {"5e-4": (1.50, 1.47), "1e-3": (1.45, 1.42), "2e-3": (1.40, 1.43)}.items():
        _grid(tmp_path, "A", f"lr{lr}_T4096", [_run("transformer", 0, tr, 4096), _run("cubit", 0, cu, 4096)])
    out = tmp_path / "fair.json"
    result = analyse.main(["--grids", str(tmp_path), "--out", str(out)])
    assert json.loads(out.read_text())["primary"]["mean"] == pytest.approx(result["primary"]["mean"])
    primary = result["primary"]
    assert result["seeds"] == list(range(8)) and primary["df"] == 7
    assert primary["values"] == pytest.approx([-0.04 + e for e in noise], abs=1e-12)
    assert primary["high"] < 0 and "supports H1" in primary["verdict"]
    assert result["gap"]["T256"]["mean"] == pytest.approx(0.01)
    assert result["recipe"]["T4096"] == {"block_size": 4096, "batch_size": 4, "lr": 1e-3}
    assert result["gap_by_position_bin_T4096"]["1-256"]["mean"] == pytest.approx(-0.03 + sum(noise) / 8)
    assert result["lr_check_rule"]["transformer"] == {"best_other_rate": "2e-3",
                                                      "improvement_over_1e-3": pytest.approx(0.05),
                                                      "handicapped": True}
    assert result["lr_check_rule"]["cubit"]["handicapped"] is False
    assert analyse.verdict({"low": -0.01, "high": 0.02}).startswith("no change detected")
    assert "contradicts H1" in analyse.verdict({"low": 0.001, "high": 0.02})


def test_run_part_refuses_an_unknown_part(tmp_path):
    done = subprocess.run(["bash", str(FOLDER / "run_part.sh"), str(tmp_path), "0" * 40, "Z"],
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "LIMIT": "5"})
    assert done.returncode == 2 and "unknown part Z; choose A, B, C, F or G" in done.stderr


def test_the_plan_was_committed_before_the_results():
    """PLAN.md predates every committed grid and the analysis, and the analysis names the plan's commit."""
    require_history()
    plan = commits_adding("experiments/fair_comparison/PLAN.md")
    assert plan, "PLAN.md must be committed"
    results = sorted((ROOT / "results").glob("fair_comparison*"))
    results += sorted((ROOT / "results" / "fair_comparison").glob("*"))
    for path in results:
        added = commits_adding(path)
        if added:  # else not committed yet
            assert strictly_after(plan[-1], added[-1]), f"{path.name} was not committed after the plan"
    summary = ROOT / "results" / "fair_comparison.json"
    if summary.exists():
        assert json.loads(summary.read_text())["plan_commit"] == plan[-1]


def test_the_follow_ups_were_written_before_their_runs():
    """FOLLOWUP.md's first version predates follow-up F's grids, and its last version predates G's."""
    require_history()
    versions = git("log", "--format=%H", "--", "experiments/fair_comparison/FOLLOWUP.md").stdout.split()
    assert versions, "FOLLOWUP.md must be committed"
    for pattern, plan in (("fair_F_*", versions[-1]), ("fair_G_*", versions[0])):
        for path in sorted((ROOT / "results" / "fair_comparison").glob(pattern)):
            added = commits_adding(path)
            if added:
                assert strictly_after(plan, added[-1]), f"{path.name} was not committed after its plan"
