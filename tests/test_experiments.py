"""experiments/run_lm.py runs a small grid on the CPU and writes one JSON with provenance and exports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # 7.6 s
def test_grid_of_two_mixers_runs_in_parallel_and_is_summarised(tmp_path):
    summary = tmp_path / "out" / "grid.json"
    command = [sys.executable, str(ROOT / "experiments" / "run_lm.py"), "--name", "smoke",
               "--mixers", "transformer", "cubit", "--seeds", "0", "--parallel", "2", "--runs", str(tmp_path / "runs"),
               "--summary", str(summary), "--export", "cubit:0", "--git-commit", "0" * 40, "--",
               "--corpus", "shakespeare", "--max-chars", "40000", "--block-size", "16", "--n-layer", "1",
               "--n-head", "2", "--d-model", "16", "--batch-size", "4", "--steps", "6", "--eval-interval", "3",
               "--eval-batches", "1", "--log-interval", "3"]
    subprocess.run(command, check=True, timeout=300, capture_output=True)
    result = json.loads(summary.read_text())
    assert result["complete"] and result["name"] == "smoke" and result["git_commit"] == "0" * 40
    assert [r["mixer"] for r in result["runs"]] == ["transformer", "cubit"]
    for run in result["runs"]:
        assert run["returncode"] == 0 and [step for step, _ in run["val_curve"]] == [3, 6]
        assert len(run["val_loss_per_position"]) == 16 and run["num_parameters"] > 0
    assert (summary.parent / "smoke-cubit-s0.pt").is_file()


def test_the_experiments_readme_lists_every_study_with_its_plan():
    """experiments/README.md has a row for every folder holding a PLAN.md, and each named file exists."""
    experiments = ROOT / "experiments"
    readme = (experiments / "README.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip().strip("`/"): line for line in readme.splitlines()
            if line.startswith("| `") and line.split("|")[1].strip().endswith("/`")}
    studies = {path.parent.name for path in experiments.glob("*/PLAN.md")}
    assert studies and set(rows) == studies, f"studies {sorted(studies)} vs README rows {sorted(rows)}"
    for study, row in rows.items():
        cells = [cell.strip() for cell in row.split("|")[1:-1]]
        for cell in (cells[2], cells[3], cells[4]):  # plan, runs, analysis
            for name in re.findall(r"`([^`]+)`", cell):
                assert (experiments / study / name).is_file(), f"{study}: {name} is not in experiments/{study}/"
        for name in re.findall(r"`(results/[^`]+)`", cells[5]):
            assert (ROOT / name).exists(), f"{study}: {name} does not exist"
