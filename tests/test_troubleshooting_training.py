"""The troubleshooting page's training-safety entries quote what the library really says.

Each message is produced here by the library, on a tiny run where a run is needed, and
must appear on the page word for word (or, where it names a process or a temporary
path, its fixed part).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
from pathlib import Path

import pytest
import torch

from cubit_lite import metrics_log, runtime
from cubit_lite import train as train_module
from cubit_lite.checkpoint import load_checkpoint, save_checkpoint
from cubit_lite.data import load_corpus
from cubit_lite.run_folder import RunFolderError, claim_run_folder
from cubit_lite.stop_signals import TrainingStopped
from cubit_lite.train import TrainingDiverged, train
from cubit_lite.train_config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "book" / "troubleshooting.md").read_text(encoding="utf-8")
TINY = dict(max_chars=30000, block_size=16, n_layer=1, n_head=2, d_model=16, batch_size=4, steps=12, warmup=2,
            eval_interval=4, eval_batches=1, log_interval=2, progress=False)


def quoted(text: str) -> None:
    assert text in PAGE, f"the troubleshooting page does not quote:\n{text}"


def test_quotes_the_run_folder_and_lock_messages(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train(TrainConfig(out="runs/cubit", **TINY))
    with pytest.raises(RunFolderError) as err:
        train(TrainConfig(out="runs/cubit", **TINY))
    quoted(f"error: {err.value}")
    with claim_run_folder("runs/other", resume=False, overwrite=False):
        with pytest.raises(RunFolderError) as err:
            train(TrainConfig(out="runs/other", **TINY))
    assert "is in use by process" in str(err.value)
    quoted(str(err.value).split(": ", 1)[1])  # after the process, host and start time


class _Diverges(train_module.CharLM):
    calls = 0

    def forward(self, idx, targets=None):
        logits, loss = super().forward(idx, targets)
        if self.training:
            type(self).calls += 1
            if type(self).calls >= 7:
                loss = loss * float("nan")
        return logits, loss


def test_quotes_the_divergence_and_learning_rate_messages(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train_module, "CharLM", _Diverges)
    with pytest.raises(TrainingDiverged) as err:
        train(TrainConfig(out="runs/cubit", **TINY))
    quoted(f"error: {err.value}")
    with pytest.raises(ValueError) as err:
        TrainConfig(out="runs/cubit", lr=1e30).validate()
    quoted(f"error: {err.value}")


def test_quotes_the_refused_checkpoint_and_corpus_messages(tmp_path, monkeypatch):
    class RunsCode:
        def __reduce__(self):
            return (print, ("code ran",))

    torch.save({"format": "cubit-lite-checkpoint-v1", "x": RunsCode()}, tmp_path / "crafted.pt")
    with pytest.raises(ValueError) as err:
        load_checkpoint(tmp_path / "crafted.pt")
    quoted(str(err.value).split(" was refused: ")[1].split(" (")[0].join(["was refused: ", ""]))
    assert "written by a newer cubit_lite" in PAGE
    monkeypatch.chdir(tmp_path)
    os.mkfifo("stream")
    with pytest.raises(ValueError) as err:
        load_corpus("stream")
    quoted(f"error: {err.value}")


# --------------------------------------------------------------------------- #
# The trainer's checks before it writes (tests/test_trainer_hardening.py tests the behaviour)
# --------------------------------------------------------------------------- #
def test_quotes_the_link_and_empty_out_messages(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("runs/cubit").mkdir(parents=True)
    Path("runs/cubit/config.json").symlink_to("/home/you/notes.txt")  # dangling: only the link is read
    with pytest.raises(RunFolderError) as err:
        claim_run_folder("runs/cubit", resume=True, overwrite=False)
    quoted(f"error: {err.value}")
    shutil.rmtree("runs/cubit")
    Path("runs/cubit").symlink_to("/scratch/cubit")
    with pytest.raises(RunFolderError) as err:
        claim_run_folder("runs/cubit", resume=False, overwrite=False)
    quoted(f"error: {err.value}")
    with pytest.raises(ValueError) as err:
        TrainConfig(out="").validate()
    quoted(f"python -m cubit_lite.train: error: {err.value}")


def test_quotes_the_resume_log_and_stray_rank_messages(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    log = Path("runs/cubit/metrics.jsonl")
    log.parent.mkdir(parents=True)
    log.write_text('{"step": 50}\n{"step": 55}\n{"step": 58')
    capsys.readouterr()
    metrics_log.read_log(log)
    quoted(capsys.readouterr().out.strip())
    log.write_text('{"step": 50}\n{"step": 55}\n{"step": 58\n{"step": 60}\n')
    with pytest.raises(ValueError) as err:
        metrics_log.read_log(log)
    quoted(f"error: {err.value}")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(ValueError) as err:
        runtime.distributed_environment()
    quoted(f"error: {err.value}")


def test_quotes_the_damaged_checkpoint_and_stop_messages(tmp_path, monkeypatch):
    out = tmp_path / "runs" / "cubit"
    train(TrainConfig(out=str(out), **{**TINY, "stop_at": 4}))
    payload = load_checkpoint(out / "latest.pt")
    payload["model"]["token_embedding.weight"] = payload["model"]["token_embedding.weight"][:-1]
    save_checkpoint(out / "latest.pt", {k: v for k, v in payload.items() if k != "format"})
    with pytest.raises(ValueError) as err:
        train(TrainConfig(out=str(out), resume=True, **TINY))
    message = re.sub(r"\(\d+, \d+\) in the checkpoint and \(\d+, \d+\)", "(64, 384) in the checkpoint and (65, 384)",
                     f"error: {err.value}").replace(str(out), "runs/cubit")
    quoted(message)

    real = train_module.sample_batch
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "sample_batch", interrupted)
    with pytest.raises(TrainingStopped) as stopped:
        train(TrainConfig(out=str(tmp_path / "runs" / "other"), **TINY))
    quoted(re.sub(r"step \d+", "step 120", str(stopped.value)))


def test_quotes_the_memory_and_mixer_option_messages(monkeypatch, capsys):
    from cubit_lite import memory as memory_module

    command = next(line for line in PAGE.splitlines()
                   if line.startswith("for `python -m cubit_lite.train --mixer cubit"))
    config = train_module.parse_args(shlex.split(command.split("`")[1])[3:])
    monkeypatch.setattr(memory_module.torch.cuda, "get_device_capability", lambda device=None: (7, 5))  # a T4
    monkeypatch.setattr(memory_module, "available_memory", lambda device: int(14.5 * 2**30))
    with pytest.raises(ValueError) as err:
        memory_module.check_memory(config, torch.device("cuda", 0))  # before the corpus is read, as train() does
    quoted(f"error: {err.value}")
    with pytest.raises(SystemExit):
        train_module.parse_args(["--out", "runs/x", "--mixer", "cubit", "--mixer-option", "learn_lam=yes"])
    quoted(capsys.readouterr().err.strip().splitlines()[-1])
