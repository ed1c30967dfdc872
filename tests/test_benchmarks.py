"""The speed benchmark runs end to end (tiny sizes on the CPU) and writes JSON with its provenance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def test_mixer_speed_smoke_run_writes_json(tmp_path):
    out = tmp_path / "speed.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "mixer_speed.py"), "--device", "cpu",
               "--lengths", "8", "16", "--tokens", "32", "--heads", "2", "--head-dim", "4",
               "--warmup", "1", "--repeat", "2", "--dtypes", "fp32", "--solve-block", "4", "--out", str(out)]
    subprocess.run(command, check=True, timeout=300, capture_output=True)
    result = json.loads(out.read_text())
    for key in ("command", "device", "torch", "git_commit", "seed", "created_utc", "config"):
        assert key in result
    assert "benchmarks/mixer_speed.py" in result["command"]
    mixers = {row["mixer"] for row in result["rows"]}
    assert {"sdpa", "cubit", "cubit-blocked", "cubit-nolrr", "cubit-share", "deltaformer",
            "deltaformer-blocked", "llr"} <= mixers
    assert result["config"]["solve_block"] == 4
    assert all(row["status"] == "ok" and row["fwd_bwd_ms"] > 0 for row in result["rows"])
    assert {row["T"] for row in result["rows"]} == {8, 16}
    assert all(row["batch"] * row["T"] == 32 for row in result["rows"])
    assert all(row["relative_error_vs_float64"] < 1e-4 for row in result["accuracy"])


def test_mixer_speed_rejects_lengths_longer_than_the_batch(tmp_path):
    command = [sys.executable, str(ROOT / "benchmarks" / "mixer_speed.py"), "--device", "cpu",
               "--lengths", "64", "--tokens", "32", "--out", str(tmp_path / "x.json")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "every length must be between 1 and --tokens (32)" in done.stderr


@pytest.mark.parametrize("path", sorted((ROOT / "results").glob("mixer_speed*.json")), ids=lambda p: p.name)
def test_committed_speed_results_carry_their_provenance(path):
    result = json.loads(path.read_text())
    assert result["device"] and result["torch"] and len(result["git_commit"]) == 40
    assert result["command"].startswith("python benchmarks/mixer_speed.py")
    assert any(row["mixer"] == "sdpa" and row["status"] == "ok" for row in result["rows"])


def test_profile_mixer_prints_a_table_with_its_provenance():
    command = [sys.executable, str(ROOT / "benchmarks" / "profile_mixer.py"), "--device", "cpu", "--mixer", "cubit",
               "--length", "16", "--tokens", "32", "--heads", "2", "--head-dim", "4", "--rows", "5",
               "--git-commit", "abc123"]
    done = subprocess.run(command, check=True, timeout=300, capture_output=True, text=True)
    first = done.stdout.splitlines()[0]
    assert first.startswith("CPU, torch ") and "git abc123: cubit, fp32, B=2 H=2 T=16 D=4" in first
    assert "Self CPU time total" in done.stdout


def test_gpu_only_rows_are_left_out_on_the_cpu_by_default(tmp_path):
    out = tmp_path / "speed.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "mixer_speed.py"), "--device", "cpu", "--lengths", "8",
               "--tokens", "8", "--heads", "1", "--head-dim", "4", "--warmup", "0", "--repeat", "1",
               "--dtypes", "fp32", "--out", str(out)]
    subprocess.run(command, check=True, timeout=300, capture_output=True)
    mixers = {row["mixer"] for row in json.loads(out.read_text())["rows"]}
    assert not mixers & {"cubit-triton", "deltaformer-triton", "fla-deltaformer"} and "cubit" in mixers


def test_gpu_suite_script_parses_and_names_real_rows():
    script = ROOT / "benchmarks" / "gpu_suite.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import mixer_speed

    for name in ("mixers=", "precisions=", "peer="):
        line = next(line for line in script.read_text().splitlines() if line.startswith(name))
        rows = line.split("=", 1)[1].strip('"').split()
        assert rows and set(rows) <= set(mixer_speed.MIXERS), line
    done = subprocess.run(["bash", str(script), "/tmp/unused", "c0ffee", "cpu", "nonsense"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "unknown stage 'nonsense'" in done.stderr


def test_superblock_is_recorded_and_checked(tmp_path):
    base = [sys.executable, str(ROOT / "benchmarks" / "mixer_speed.py"), "--device", "cpu", "--lengths", "8",
            "--tokens", "8", "--heads", "1", "--head-dim", "4", "--warmup", "0", "--repeat", "1",
            "--dtypes", "fp32", "--mixers", "sdpa", "cubit", "--out", str(tmp_path / "s.json")]
    done = subprocess.run(base + ["--superblock", "100"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--superblock must be a positive multiple of 64; got 100" in done.stderr
    subprocess.run(base + ["--superblock", "128"], check=True, capture_output=True, timeout=300)
    assert json.loads((tmp_path / "s.json").read_text())["config"]["superblock"] == 128


def test_tune_triton_knobs_are_fields_of_the_config_and_it_needs_a_gpu(tmp_path):
    """Every knob the tuner sets is a field of ``TritonConfig``; on a CPU it stops with a clear message."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import dataclasses

    import tune_triton

    from cubit_lite.mixers import triton_solve

    fields = {f.name for f in dataclasses.fields(triton_solve.TritonConfig)}
    assert set(tune_triton.KNOBS) - {"grad"} <= fields
    trial = {"half_precision": "bf16", "grad": (128, 8), "warps_row_lse": 8, "warps_offdiag": 4, "warps_local": 4,
             "stages": 2, "superblock": 1024}
    config = tune_triton.to_config(trial)
    assert (config.grad_block, config.warps_grad, config.superblock, config.stages) == (128, 8, 1024, 2)
    assert triton_solve.current_config() == triton_solve.DEFAULT_CONFIG  # the tuner changes nothing global
    if not torch.cuda.is_available():
        done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "tune_triton.py"), "--out",
                               str(tmp_path / "t.json")], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "tuned on a CUDA GPU" in done.stderr


def test_profile_lm_step_times_and_profiles_a_small_model_on_the_cpu():
    command = [sys.executable, str(ROOT / "benchmarks" / "profile_lm_step.py"), "--device", "cpu", "--mixer", "cubit",
               "--mixer-option", "implementation=blocked", "--block-size", "32", "--batch-size", "2", "--n-layer", "1",
               "--n-head", "2", "--d-model", "16", "--warmup", "1", "--repeat", "2", "--rows", "1000"]
    done = subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
    assert "cubit {'implementation': 'blocked'}" in done.stdout and "tokens/s" in done.stdout
    # every row of the profile (row limit far above the number of distinct ops), so the check does not
    # depend on where the solve lands in a ranking by time on a busy machine
    assert "_BlockedRidgeSolve" in done.stdout  # the profile table names the solve that ran


def test_triton_launch_check_names_configs_and_shapes_and_needs_a_gpu(tmp_path):
    """The launch check parses its configurations and shapes, refuses bad ones before any
    work, and on a CPU stops with a clear message; one pair runs end to end in Triton's
    interpreter and is accurate."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import triton_launch_check as check

    config = check.to_config("g32w8")
    assert (config.grad_block, config.warps_grad, config.warps_row_lse) == (32, 8, 4)
    assert check.to_config("auto").grad_block is None and check.to_shape("1x2x130x20x5") == (1, 2, 130, 20, 5)
    script = [sys.executable, str(ROOT / "benchmarks" / "triton_launch_check.py")]
    for extra, message in ((["--configs", "fast"], "unknown configuration 'fast'; use auto or g<GB>w<W>"),
                           (["--shapes", "1x2x3"], "a shape is BxHxTxDxDv with five positive integers")):
        done = subprocess.run(script + extra + ["--out", str(tmp_path / "x.json")], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 2 and message in done.stderr, done.stderr
    if torch.cuda.is_available():
        return
    done = subprocess.run(script + ["--out", str(tmp_path / "x.json")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "checked on a CUDA GPU" in done.stderr
    pytest.importorskip("triton")
    env = dict(os.environ, TRITON_INTERPRET="1")
    done = subprocess.run(script + ["--one", "g64w4", "1x1x70x16x8"], capture_output=True, text=True, timeout=600,
                          env=env)
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert row["status"] == "ok" and row["max_relative_error"] < 1e-4, (row, done.stderr[-500:])
