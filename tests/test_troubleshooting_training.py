"""The troubleshooting page's training-safety entries quote what the library really says.

Each message is produced here by the library, on a tiny run where a run is needed, and
must appear on the page word for word (or, where it names a process or a temporary
path, its fixed part).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from cubit_lite import train as train_module
from cubit_lite.checkpoint import load_checkpoint
from cubit_lite.data import load_corpus
from cubit_lite.run_folder import RunFolderError, claim_run_folder
from cubit_lite.train import TrainConfig, TrainingDiverged, train

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
