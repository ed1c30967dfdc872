"""Training never loses a reader's work, never runs a stranger's code, and refuses bad input up front.

Each case of issue 15 that this module covers is one test: run folders that are never
silently overwritten, a lock against a second trainer, the best model never lost to a
crash, checkpoints read without running code, non-finite hyperparameters and diverging
runs, resumption that compares what changes the numbers. Every model here is tiny (one
layer of width 16), so each test takes a few seconds on a CPU.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from cubit_lite import checkpoint as checkpoint_module
from cubit_lite import resume as resume_module
from cubit_lite import train as train_module
from cubit_lite.checkpoint import load_checkpoint, load_model, save_checkpoint
from cubit_lite.run_folder import RunFolderError, claim_run_folder
from cubit_lite.train import TrainingDiverged, train
from cubit_lite.train_config import TrainConfig

PYTHON = sys.executable
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def tiny(out: Path, **changes) -> TrainConfig:
    base = TrainConfig(out=str(out), max_chars=30000, block_size=16, n_layer=1, n_head=2, d_model=16, batch_size=4,
                       steps=8, warmup=2, eval_interval=4, eval_batches=1, log_interval=2, progress=False)
    return replace(base, **changes)


def cli(*args, module="cubit_lite.train", timeout=300):
    return subprocess.run([PYTHON, "-m", module, *args], capture_output=True, text=True, timeout=timeout, env=ENV)


# --------------------------------------------------------------------------- #
# The run folder
# --------------------------------------------------------------------------- #
def test_a_second_run_into_the_same_folder_is_refused_and_changes_nothing(tmp_path):
    out = tmp_path / "run"
    train(tiny(out))
    before = {name: (out / name).read_bytes() for name in ("metrics.jsonl", "latest.pt", "best.pt", "config.json")}
    with pytest.raises(RunFolderError, match=r"already holds a run .*add --resume to continue it, --overwrite"):
        train(tiny(out, seed=1))
    assert {name: (out / name).read_bytes() for name in before} == before


def test_overwrite_replaces_the_run_and_says_what_it_removed(tmp_path, capsys):
    out = tmp_path / "run"
    train(tiny(out))
    first = load_checkpoint(out / "latest.pt")["model"]
    capsys.readouterr()
    train(tiny(out, seed=1, overwrite=True))
    assert "--overwrite: removed the previous run's config.json, metrics.jsonl, latest.pt, best.pt" in (
        capsys.readouterr().out)
    second = load_checkpoint(out / "latest.pt")["model"]
    assert any(not torch.equal(first[name], second[name]) for name in first)


def test_resume_without_latest_is_refused_where_a_run_was_started(tmp_path):
    out = tmp_path / "run"
    train(tiny(out))
    (out / "latest.pt").unlink()
    with pytest.raises(RunFolderError, match="holds a run .* but no latest.pt to continue from"):
        train(tiny(out, resume=True))
    assert (out / "metrics.jsonl").exists() and (out / "best.pt").exists()


def test_resume_into_a_new_folder_starts_a_fresh_run(tmp_path):
    result = train(tiny(tmp_path / "new", resume=True))
    assert result.step == 8 and (tmp_path / "new" / "best.pt").exists()


def test_resume_and_overwrite_together_are_refused():
    with pytest.raises(ValueError, match="resume and overwrite contradict each other"):
        tiny(Path("x"), resume=True, overwrite=True).validate()


def test_an_unwritable_out_is_refused_before_the_corpus_is_read(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(train_module, "load_corpus", lambda *a, **k: pytest.fail("read the corpus first"))
    with pytest.raises(RunFolderError, match="cannot write to --out"):
        train(tiny(blocker / "run"))
    with pytest.raises(RunFolderError, match="is a file, not a folder"):
        train(tiny(blocker))


def test_a_second_trainer_in_this_process_is_refused_by_the_lock(tmp_path):
    out = tmp_path / "run"
    with claim_run_folder(out, resume=False, overwrite=False):
        with pytest.raises(RunFolderError, match=rf"is in use by process {os.getpid()} on .*two trainers must not"):
            train(tiny(out))
    train(tiny(out))  # released: the folder is free again


def _wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


def _start_long_run(out: Path) -> subprocess.Popen:
    args = ["--corpus", "shakespeare", "--max-chars", "60000", "--block-size", "16", "--n-layer", "1", "--n-head",
            "2", "--d-model", "16", "--batch-size", "4", "--steps", "100000", "--eval-interval", "5",
            "--eval-batches", "1", "--log-interval", "5", "--no-progress", "--out", str(out)]
    return subprocess.Popen([PYTHON, "-m", "cubit_lite.train", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=ENV)


@pytest.mark.slow  # 7.3 s
def test_two_trainers_on_one_folder_the_second_is_refused_with_the_first_named(tmp_path):
    out = tmp_path / "run"
    first = _start_long_run(out)
    try:
        _wait_for(lambda: (out / "latest.pt").exists(), 120, "the first trainer's first checkpoint")
        second = cli("--out", str(out), "--resume", "--no-progress", "--max-chars", "60000", "--block-size", "16")
        assert second.returncode == 2
        assert f"is in use by process {first.pid}" in second.stderr, second.stderr
    finally:
        first.kill()
        first.wait(timeout=60)


@pytest.mark.slow  # 7.2 s
def test_killed_run_resumes_and_its_stale_temporary_files_are_removed(tmp_path):
    out = tmp_path / "run"
    first = _start_long_run(out)
    try:
        _wait_for(lambda: (out / "latest.pt").exists(), 120, "a checkpoint")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    finally:
        first.kill()
    step = load_checkpoint(out / "latest.pt")["step"]
    stale = out / ".latest.pt.tmp-999999"
    stale.write_bytes(b"half a checkpoint")
    # the kill may also have landed inside a write of the killed run's own: those are stale too
    left = sorted(out.glob(".*.tmp-*"))
    done = cli("--corpus", "shakespeare", "--max-chars", "60000", "--block-size", "16", "--n-layer", "1",
               "--n-head", "2", "--d-model", "16", "--batch-size", "4", "--steps", "100000", "--stop-at",
               str(step + 5), "--eval-interval", "5", "--eval-batches", "1", "--log-interval", "5", "--no-progress",
               "--out", str(out), "--resume")
    assert done.returncode == 0, done.stderr
    assert f"removed {len(left)} temporary file(s)" in done.stdout and not stale.exists()
    assert not list(out.glob(".*.tmp-*"))
    assert load_checkpoint(out / "latest.pt")["step"] == step + 5


# --------------------------------------------------------------------------- #
# The best model is never lost
# --------------------------------------------------------------------------- #
def test_a_crash_between_the_two_writes_leaves_best_consistent_with_the_recorded_best(tmp_path, monkeypatch):
    """Kill the run while it writes latest.pt at an improving evaluation: best.pt is already there."""
    out = tmp_path / "run"
    real_save = resume_module.save_checkpoint

    def crash_on_second_latest(path, payload):
        if Path(path).name == "latest.pt" and payload["step"] == 8:
            raise KeyboardInterrupt("simulated kill while writing latest.pt")
        return real_save(path, payload)

    monkeypatch.setattr(resume_module, "save_checkpoint", crash_on_second_latest)
    with pytest.raises(KeyboardInterrupt):
        train(tiny(out, steps=12, lr=3e-3))
    latest, best = load_checkpoint(out / "latest.pt"), load_checkpoint(out / "best.pt")
    assert latest["step"] == 4 and best["step"] in (4, 8)
    assert best["best_val_loss"] <= latest["best_val_loss"]  # the recorded best is on disk, or a better one is
    monkeypatch.setattr(resume_module, "save_checkpoint", real_save)
    resumed = train(tiny(out, steps=12, lr=3e-3, resume=True))
    assert load_checkpoint(out / "best.pt")["best_val_loss"] == resumed.best_val_loss


def test_a_one_step_resumed_run_has_the_best_model_it_reports(tmp_path):
    out = tmp_path / "run"
    train(tiny(out, steps=2, eval_interval=1, stop_at=1))
    result = train(tiny(out, steps=2, eval_interval=1, resume=True))
    assert result.best_val_loss is not None
    assert load_checkpoint(out / "best.pt")["best_val_loss"] == result.best_val_loss


# --------------------------------------------------------------------------- #
# Loading never runs code
# --------------------------------------------------------------------------- #
class _RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


@pytest.mark.slow  # 3.5 s
def test_a_crafted_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    crafted = tmp_path / "crafted.pt"
    torch.save({"format": checkpoint_module.FORMAT, "model_config": {}, "tokenizer": {}, "model": {},
                "payload": _RunsCode(marker)}, crafted)
    with pytest.raises(ValueError, match="was refused: it contains Python objects .* could run code"):
        load_checkpoint(crafted)
    done = cli("--checkpoint", str(crafted), module="cubit_lite.sample")
    assert done.returncode == 2 and "could run code" in done.stderr
    assert not marker.exists()


def test_a_checkpoint_from_a_newer_version_says_so(tmp_path):
    newer = tmp_path / "newer.pt"
    torch.save({"format": "cubit-lite-checkpoint-v7", "model": {}}, newer)
    message = r"written by a newer cubit_lite \(checkpoint format v7; this version reads v1\)"
    with pytest.raises(ValueError, match=message):
        load_checkpoint(newer)


def test_a_checkpoint_with_a_missing_key_or_wrong_weights_is_one_clear_error(tmp_path):
    out = tmp_path / "run"
    train(tiny(out))
    payload = load_checkpoint(out / "best.pt")
    no_tokenizer = {key: value for key, value in payload.items() if key not in ("tokenizer", "format")}
    save_checkpoint(tmp_path / "partial.pt", no_tokenizer)
    with pytest.raises(ValueError, match="incomplete cubit_lite checkpoint: it lacks tokenizer"):
        load_model(tmp_path / "partial.pt")
    wrong = {key: value for key, value in payload.items() if key != "format"}
    wrong["model_config"] = {**payload["model_config"], "d_model": 32}
    save_checkpoint(tmp_path / "wrong.pt", wrong)
    with pytest.raises(ValueError, match="its weights do not fit the model it describes"):
        load_model(tmp_path / "wrong.pt")


def test_a_failed_write_removes_its_temporary_file_and_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    target = save_checkpoint(tmp_path / "latest.pt", {"model": {}, "step": 1})

    def disk_full(obj, file, **kwargs):
        file.write(b"partial")  # save_checkpoint hands torch.save the temporary file it created (O_EXCL)
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 128 vs 64")

    monkeypatch.setattr(checkpoint_module.torch, "save", disk_full)
    with pytest.raises(OSError, match="could not write the checkpoint .* is unchanged. Is the disk full"):
        save_checkpoint(target, {"model": {}, "step": 2})
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]
    monkeypatch.undo()
    assert torch.load(target, weights_only=True)["step"] == 1


# --------------------------------------------------------------------------- #
# Bad hyperparameters are refused up front; divergence stops the run
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("change, message", [
    ({"lr": float("inf")}, "lr must be a finite number"),
    ({"lr": 1e30}, r"lr must be in \(0, 1\]"),
    ({"grad_clip": float("nan")}, "grad_clip must be a finite number"),
    ({"weight_decay": float("nan")}, "weight_decay must be a finite number"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ({"beta2": 1.5}, r"beta2 must be in \[0, 1\)"),
    ({"val_fraction": 0.0}, r"val_fraction must be in \(0, 1\)"),
    ({"device": "banana"}, "device must be auto, cpu, cuda, cuda:N or mps; got 'banana'"),
    ({"max_chars": 0}, "max_chars must be a positive integer"),
    ({"seed": -1}, "seed must be an integer >= 0"),
])
def test_non_finite_and_absurd_hyperparameters_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        tiny(Path("x"), **change).validate()


@pytest.mark.slow  # 3.5 s
def test_cli_refuses_an_infinite_learning_rate_in_one_line(tmp_path):
    """Through a real subprocess: the exit status and the one line a user sees."""
    done = cli("--lr", "inf", "--out", str(tmp_path / "x"), "--no-progress")
    assert done.returncode == 2 and "lr must be a finite number" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "x").exists()


def test_an_absurd_batch_is_refused_before_anything_is_allocated(tmp_path, monkeypatch):
    monkeypatch.setattr(train_module, "load_corpus", lambda *a, **k: pytest.fail("read the corpus first"))
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"needs at least .* GiB of memory on cpu, more than the .* free: "
                                         r"activations .* \(batch_size 1000000000 × block_size 256 tokens"):
        train(TrainConfig(out=str(tmp_path / "x"), batch_size=1_000_000_000, progress=False))
    assert time.perf_counter() - start < 5
    assert not (tmp_path / "x").exists()


class _DivergesAfter(train_module.CharLM):
    """A model whose loss becomes NaN from its ``limit``-th training call on."""

    calls = 0
    limit = 7

    def forward(self, idx, targets=None):
        logits, loss = super().forward(idx, targets)
        if self.training:
            type(self).calls += 1
            if type(self).calls >= type(self).limit and loss is not None:
                loss = loss * float("nan")
        return logits, loss


def test_a_diverging_run_stops_with_a_message_and_keeps_its_last_good_checkpoints(tmp_path, monkeypatch):
    out = tmp_path / "run"
    monkeypatch.setattr(train_module, "CharLM", _DivergesAfter)
    with pytest.raises(TrainingDiverged, match=r"training diverged at step 8: the training loss is nan; the last good "
                                               r"checkpoints \(step 4\) are kept"):
        train(tiny(out, steps=12))
    latest = load_checkpoint(out / "latest.pt")
    assert latest["step"] == 4
    assert all(t.isfinite().all() for t in latest["model"].values() if t.is_floating_point())
    assert load_checkpoint(out / "best.pt")["step"] == 4


# --------------------------------------------------------------------------- #
# Resumption compares what changes the numbers
# --------------------------------------------------------------------------- #
def test_a_moved_folder_resumes_with_another_spelling_of_its_path_and_device(tmp_path, monkeypatch):
    first = tmp_path / "first"
    train(tiny(first, stop_at=4, device="cpu"))
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    shutil.move(first, moved)
    monkeypatch.chdir(tmp_path)
    result = train(tiny(Path("elsewhere/moved/"), resume=True, device="auto"))
    assert result.step == 8
    straight = train(tiny(tmp_path / "straight"))
    assert result.best_val_loss == straight.best_val_loss


def test_resume_refuses_a_changed_number_of_processes(tmp_path):
    out = tmp_path / "run"
    train(tiny(out, stop_at=4))
    payload = load_checkpoint(out / "latest.pt")
    payload["run"]["world_size"] = 2
    save_checkpoint(out / "latest.pt", {key: value for key, value in payload.items() if key != "format"})
    with pytest.raises(ValueError, match=r"written by 2 processes and this run has 1: resume it with torchrun "
                                         r"--nproc_per_node=2"):
        train(tiny(out, resume=True))


# --------------------------------------------------------------------------- #
# Sampling
# --------------------------------------------------------------------------- #
@pytest.mark.slow  # 12.0 s
@pytest.mark.parametrize("args, message", [
    (["--device", "banana"], "--device must be cpu, cuda, cuda:N or mps"),
    (["--temperature", "1e-45"], "--temperature must be a number from 0.001 to 1000"),
    (["--chars", "-3"], "--chars must be 0 or more"),
])
def test_sampling_bad_input_is_one_clear_error(tmp_path, cli_in_process, args, message):
    out = tmp_path / "run"
    train(tiny(out, steps=4))
    status, stderr = cli_in_process("sample", "--checkpoint", str(out / "best.pt"), *args)
    assert status == 2 and message in stderr, stderr
    assert "Traceback" not in stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_sampling_on_cuda_without_a_gpu_says_so(tmp_path, cli_in_process):
    status, stderr = cli_in_process("sample", "--checkpoint", str(tmp_path / "none.pt"), "--device", "cuda")
    assert status == 2 and "no CUDA GPU is available: use --device cpu" in stderr


def test_the_triton_solve_on_a_cpu_run_is_refused_before_the_corpus_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(train_module, "load_corpus", lambda *a, **k: pytest.fail("read the corpus first"))
    with pytest.raises(ValueError, match="implementation=triton runs only on a CUDA GPU and this run is on cpu"):
        train(tiny(tmp_path / "x", mixer="cubit", mixer_options={"implementation": "triton"}, device="cpu"))
