"""The grid runner (experiments/run_lm.py) never destroys a finished run or summary, and says what went wrong.

One test per defect it had: a rerun that truncated finished runs' logs and overwrote the
summary with failures; `--parallel 0` looping forever; exit status 0 when every run
failed; SIGTERM and SIGINT leaving the trainers running; a run without a final JSON line
crashing the summary; a relative `--runs` sending the runs into the checkout; and
`collect_runs` counting failed runs as results. The runs are real trainers (one layer of
width 16 on a tiny corpus, on the CPU), the signals real signals, the files real files.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from cubit_lite import results

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "experiments" / "run_lm.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
TINY = ["--steps", "2", "--d-model", "16", "--n-layer", "1", "--n-head", "2", "--block-size", "16", "--batch-size",
        "2", "--device", "cpu", "--eval-interval", "1", "--eval-batches", "1"]


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


run_lm = _load(RUNNER, "run_lm_under_test")


@pytest.fixture
def corpus(tmp_path) -> Path:
    words = "the king and queen of rome said to my lord".split()
    path = tmp_path / "corpus.txt"
    path.write_text(" ".join(words[(i * 7) % len(words)] for i in range(3000)), encoding="utf-8")
    return path


def grid(tmp_path, corpus, *own, train=(), cwd=None, timeout=120) -> subprocess.CompletedProcess:
    """Run the grid runner; ``own`` defaults to one transformer run, seed 0, into tmp_path/runs and grid.json."""
    own = own or ("--mixers", "transformer")
    command = [sys.executable, str(RUNNER), "--name", "test", *own]
    if "--runs" not in own:
        command += ["--runs", str(tmp_path / "runs"), "--summary", str(tmp_path / "grid.json")]
    command += ["--", "--corpus", str(corpus), *TINY, *train]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=ENV, cwd=cwd or tmp_path)


# --------------------------------------------------------------------------- #
# 1. A rerun never destroys a finished run or summary
# --------------------------------------------------------------------------- #
@pytest.mark.slow
def test_a_finished_grid_run_again_is_summarised_from_its_folders_and_loses_nothing(tmp_path, corpus):
    first = grid(tmp_path, corpus)
    assert first.returncode == 0, first.stderr
    log = tmp_path / "runs" / "transformer-s0" / "stdout.log"
    kept = {path: path.read_bytes() for path in (log, tmp_path / "runs" / "transformer-s0" / "best.pt")}
    before = json.loads((tmp_path / "grid.json").read_text())

    again = grid(tmp_path, corpus)
    assert again.returncode == 0, again.stderr
    assert "transformer seed 0: already finished, summarised from its folder" in again.stdout
    assert {path: path.read_bytes() for path in kept} == kept
    after = json.loads((tmp_path / "grid.json").read_text())
    assert after["complete"] and after["runs"][0]["final_val_loss"] == before["runs"][0]["final_val_loss"]
    assert after["runs"][0]["wall_seconds"] == before["runs"][0]["wall_seconds"]

    other = grid(tmp_path, corpus, "--mixers", "transformer", "--runs", str(tmp_path / "runs"), "--summary",
                 str(tmp_path / "other.json"), train=["--steps", "3"])
    assert other.returncode == 2
    assert "holds a finished run of another configuration (differs in steps)" in other.stderr
    assert {path: path.read_bytes() for path in kept} == kept and not (tmp_path / "other.json").exists()

    elsewhere = ["--name", "test", "--mixers", "transformer", "--runs", str(tmp_path / "new-runs"), "--summary",
                 str(tmp_path / "grid.json"), "--", "--corpus", str(corpus), *TINY]
    with pytest.raises(run_lm.GridError, match=r"records 1 finished run\(s\) whose folders in --runs do not hold "
                                               r"them \(transformer seed 0\): rewriting it would lose them"):
        run_lm.main(elsewhere)
    assert json.loads((tmp_path / "grid.json").read_text()) == after


def test_a_summary_of_another_grid_is_refused_before_any_work(tmp_path, corpus):
    summary = tmp_path / "grid.json"
    summary.write_text(json.dumps({"name": "someone-elses", "runs": [{"mixer": "cubit", "seed": 0, "returncode": 0,
                                                                     "final_val_loss": 1.5}]}))
    before = summary.read_bytes()
    argv = ["--name", "mine", "--mixers", "transformer", "--runs", str(tmp_path / "runs"), "--summary", str(summary),
            "--", "--corpus", str(corpus), *TINY]
    with pytest.raises(run_lm.GridError, match=r"already exists and holds another grid's results \(they differ in "
                                               r"name, mixers, seeds, training arguments\): it is never overwritten"):
        run_lm.main(argv)
    assert summary.read_bytes() == before and not (tmp_path / "runs").exists()


# --------------------------------------------------------------------------- #
# 2. The runner's own arguments are checked before any work
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("own, match", [
    (["--mixers", "transformer", "--seeds", "0", "0"], r"--seeds names 0 more than once: name each seed once"),
    (["--mixers", "cubit", "transformer", "cubit"], r"--mixers names cubit more than once: name each mixer once"),
    (["--mixers", "transformer", "--seeds", "-1"], r"--seeds must be integers >= 0; got -1"),
    (["--mixers", "transformer", "--parallel", "-2"], r"--parallel must be at least 1 \(the number of runs at a "
                                                      r"time\); got -2"),
    (["--mixers", "attention"], r"unknown mixer\(s\) attention in --mixers; choose from transformer, cubit"),
    (["--name", " ", "--mixers", "transformer"], r"--name must be a non-empty name without '/'"),
    (["--mixers", "transformer", "--export", "cubit:0"], r"--export 'cubit:0' does not name a run of this grid: "
                                                         r"give MIXER:SEED .* e.g. transformer:0"),
    (["--mixers", "transformer", "--export", "transformer"], r"--export 'transformer' does not name a run"),
], ids=["duplicate-seed", "duplicate-mixer", "negative-seed", "parallel", "unknown-mixer", "empty-name",
        "export-outside-the-grid", "export-without-seed"])
def test_the_runners_own_arguments_are_refused_up_front_with_what_is_allowed(tmp_path, corpus, own, match):
    name = [] if "--name" in own else ["--name", "test"]
    argv = [*name, *own, "--runs", str(tmp_path / "runs"), "--summary", str(tmp_path / "grid.json"),
            "--", "--corpus", str(corpus), *TINY]
    with pytest.raises(run_lm.GridError, match=match):
        run_lm.main(argv)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "grid.json").exists()


def test_per_run_training_arguments_are_refused(tmp_path, corpus):
    argv = ["--name", "test", "--mixers", "transformer", "--runs", str(tmp_path / "runs"), "--summary",
            str(tmp_path / "grid.json"), "--", "--corpus", str(corpus), *TINY, "--seed", "3"]
    with pytest.raises(run_lm.GridError, match=r"'--seed' after -- sets what the runner sets for each run"):
        run_lm.main(argv)


@pytest.mark.slow
def test_parallel_zero_is_refused_at_once_not_a_silent_endless_loop(tmp_path, corpus):
    done = grid(tmp_path, corpus, "--mixers", "transformer", "--parallel", "0", timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --parallel must be at least 1 (the number of runs at a time); got 0"
    assert not (tmp_path / "runs").exists() and not (tmp_path / "grid.json").exists()


# --------------------------------------------------------------------------- #
# 3. A grid with failed runs exits 1, after writing its summary
# --------------------------------------------------------------------------- #
@pytest.mark.slow
def test_a_grid_whose_runs_all_fail_exits_1_with_each_failure_in_the_summary(tmp_path, corpus):
    done = grid(tmp_path, corpus, "--mixers", "transformer", "cubit", "--parallel", "2",
                train=["--block-size", "100000"])
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and done.stdout.count("FAILED (") == 2
    summary = json.loads((tmp_path / "grid.json").read_text())
    assert summary["complete"] is False and [r["mixer"] for r in summary["runs"]] == ["transformer", "cubit"]
    for run in summary["runs"]:
        assert run["returncode"] != 0 and "final_val_loss" not in run
        assert run["reason"].startswith("the trainer exited with status") and "error" in run["error"]


# --------------------------------------------------------------------------- #
# 4. SIGTERM and SIGINT stop the trainers, and the summary says what finished
# --------------------------------------------------------------------------- #
def _trainers(runs: Path) -> list[int]:
    """The process ids of trainers writing into ``runs`` (Linux: /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"cubit_lite.train" in command and any(part.startswith(str(runs).encode()) for part in command):
            found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the trainers through /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_the_runner_stops_its_trainers_and_writes_the_summary(tmp_path, corpus, signum):
    runs = tmp_path / "runs"
    command = [sys.executable, str(RUNNER), "--name", "test", "--mixers", "transformer", "cubit", "--seeds", "0", "1",
               "--parallel", "2", "--runs", str(runs), "--summary", str(tmp_path / "grid.json"), "--",
               "--corpus", str(corpus), *TINY, "--steps", "100000", "--eval-interval", "5"]
    runner = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    trainers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not all((runs / f"{m}-s0" / "latest.pt").exists() for m in ("transformer", "cubit")):
            assert runner.poll() is None and time.monotonic() < deadline, "the trainers never checkpointed"
            time.sleep(0.2)
        trainers = _trainers(runs)
        assert len(trainers) == 2
        runner.send_signal(signum)
        stdout, stderr = runner.communicate(timeout=120)
    finally:
        runner.kill()
        for pid in _trainers(runs):  # only if the runner left them: end them, so the test leaves nothing behind
            os.kill(pid, signal.SIGKILL)
    assert runner.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr
    assert not _trainers(runs) and not any(Path(f"/proc/{pid}").exists() for pid in trainers)
    name = signal.Signals(signum).name
    assert f"interrupted by {name}: 0 of 4 runs finished" in stdout
    assert "to continue, run the same command with --resume after --" in stdout
    summary = json.loads((tmp_path / "grid.json").read_text())
    assert summary["complete"] is False and summary["interrupted"] == name
    assert sorted((r["mixer"], r["seed"]) for r in summary["runs"]) == [("cubit", 0), ("transformer", 0)]
    assert all(r["reason"].startswith(f"interrupted by {name}") for r in summary["runs"])
    assert not (runs / "transformer-s1").exists()  # nothing new starts after the signal


# --------------------------------------------------------------------------- #
# 5. A run without a final result is recorded with its reason, never a crash
# --------------------------------------------------------------------------- #
@pytest.mark.slow
def test_a_stopped_run_is_summarised_as_unfinished_and_continues_with_resume(tmp_path, corpus):
    stopped = grid(tmp_path, corpus, train=["--steps", "4", "--stop-at", "2"])
    assert stopped.returncode == 1 and "Traceback" not in stopped.stderr, stopped.stderr
    (run,) = json.loads((tmp_path / "grid.json").read_text())["runs"]
    assert run["returncode"] == 0 and "final_val_loss" not in run
    assert run["reason"].startswith("stopped at step 2 before the last step (--stop-at)")

    refused = grid(tmp_path, corpus, train=["--steps", "4"])
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: 1 run folder(s) hold an unfinished run: ")
    assert "Pass --resume through to the trainer" in refused.stderr

    log = tmp_path / "runs" / "transformer-s0" / "stdout.log"
    first_part = log.read_text()
    resumed = grid(tmp_path, corpus, train=["--steps", "4", "--resume"])
    assert resumed.returncode == 0, resumed.stderr
    assert log.read_text().startswith(first_part)  # appended to, not truncated
    summary = json.loads((tmp_path / "grid.json").read_text())
    assert summary["complete"] and [step for step, _ in summary["runs"][0]["val_curve"]] == [1, 2, 3, 4]


def test_summarising_a_run_without_a_final_line_never_raises(tmp_path):
    out = tmp_path / "transformer-s0"
    out.mkdir()
    (out / "stdout.log").write_text("device: cpu\nstep 1: validation loss 2.9 nats/char\n")
    run = run_lm.Run("transformer", 0, out, config=None)
    entry = run_lm.summarise(run, 1.0, 0)
    assert entry["reason"] == "the trainer exited without its final JSON line in stdout.log"
    assert entry["error"].endswith("nats/char\n") and "final_val_loss" not in entry


# --------------------------------------------------------------------------- #
# 6. Relative paths are the caller's, not the repository's
# --------------------------------------------------------------------------- #
@pytest.mark.slow
def test_relative_runs_summary_and_corpus_are_taken_from_the_callers_directory(tmp_path, corpus):
    name = f"runs-{uuid.uuid4().hex[:8]}"
    try:
        done = grid(tmp_path, "corpus.txt", "--mixers", "transformer", "--runs", name, "--summary", "out/grid.json",
                    cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert not (ROOT / name).exists()
    finally:
        if (ROOT / name).exists():  # what the old runner left in the checkout
            shutil.rmtree(ROOT / name)
    summary = json.loads((tmp_path / "out" / "grid.json").read_text())
    assert summary["complete"] and (tmp_path / name / "transformer-s0" / "best.pt").is_file()
    assert summary["runs"][0]["train_config"]["corpus"] == str(corpus)


# --------------------------------------------------------------------------- #
# 7. collect_runs leaves failed runs out
# --------------------------------------------------------------------------- #
def test_collect_runs_leaves_out_failed_and_unfinished_runs(monkeypatch):
    finished = {"mixer": "transformer", "seed": 1, "returncode": 0, "final_val_loss": 1.5}
    files = {"grid.json": {"runs": [
        {"mixer": "transformer", "seed": 0, "returncode": 1, "error": "RuntimeError: boom", "reason": "exit 1"},
        finished,
        {"mixer": "cubit", "seed": 0, "returncode": 0, "reason": "stopped at step 2 before the last step"},
        {"mixer": "cubit", "seed": 1, "returncode": -15, "error": ""},
    ]}}
    monkeypatch.setattr(results, "load_json", lambda name: files[name])
    _, runs = results.collect_runs({("transformer",): ["grid.json"]})
    assert runs == {("transformer",): [finished]}
    with pytest.raises(ValueError, match=r"no run of mixer 'cubit' finished in grid.json \(for \('cubit',\)\) "
                                         r"\(2 failed or unfinished run\(s\) left out\)"):
        results.collect_runs({("cubit",): ["grid.json"]})


# --------------------------------------------------------------------------- #
# 8. The same defects in the other runners
# --------------------------------------------------------------------------- #
@pytest.mark.slow
def test_the_incontext_runner_refuses_parallel_zero_at_once(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / "incontext" / "run.py"), "train-all", "--out",
                           str(tmp_path / "out"), "--scratch", str(tmp_path / "scratch"), "--git-commit", "0",
                           "--parallel", "0"], capture_output=True, text=True, timeout=60, env=ENV)
    assert done.returncode == 2
    assert "error: --parallel must be at least 1 (the number of runs at a time); got 0" in done.stderr
    assert not (tmp_path / "scratch").exists()


def test_the_incontext_runner_never_packs_over_runs_it_no_longer_has(tmp_path, capsys):
    incontext = _load(ROOT / "experiments" / "incontext" / "run.py", "incontext_run_under_test")
    (tmp_path / "out").mkdir()
    packed = tmp_path / "out" / "runs-pilot.json"
    packed.write_text(json.dumps({"meta": {}, "runs": {"cubit-lr0.001-s100": {"mixer": "cubit"},
                                                       "cubit-lr0.003-s100": {"failed": "boom"}}}))
    with pytest.raises(SystemExit) as refused:
        incontext.check_packed(tmp_path / "out", tmp_path / "scratch", "pilot")
    assert refused.value.code == 2
    assert f"already holds 1 finished run(s) that --scratch {tmp_path / 'scratch'} does not (cubit-lr0.001-s100): " \
           "packing again would lose them" in capsys.readouterr().err
    (tmp_path / "scratch" / "cubit-lr0.001-s100").mkdir(parents=True)
    (tmp_path / "scratch" / "cubit-lr0.001-s100" / "run.json").write_text("{}")
    incontext.check_packed(tmp_path / "out", tmp_path / "scratch", "pilot")  # the same scratch: allowed


def test_the_multi_gpu_runner_refuses_zero_processes(tmp_path, capsys):
    multi_gpu = _load(ROOT / "experiments" / "multi_gpu" / "run.py", "multi_gpu_run_under_test")
    with pytest.raises(SystemExit) as refused:
        multi_gpu.main(["scaling", "--nprocs", "0", "2", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path)])
    assert refused.value.code == 2
    assert "--nprocs must be integers >= 1 (processes per run); got 0 2" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
