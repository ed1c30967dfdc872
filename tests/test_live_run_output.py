"""Chapter 7's live training run makes one output, not one box per printed line.

On the site every output of a cell is a box of its own; the live run used to make
about fifteen (prints, progress bars, a line per evaluation). This executes the
chapter's own live-run cell in a kernel, with ``train`` shrunk to a few steps on a
small part of the corpus (about half a minute on two cores), and checks that the cell
leaves exactly one output holding everything the runs reported.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "07_training_a_char_lm.ipynb"

# What the chapter's setup cell provides to the live-run cell, and a `train` that runs the
# chapter's configuration for a few steps only (every evaluation still prints its line).
PRELUDE = """
import dataclasses, tempfile, textwrap, time
from pathlib import Path
import torch
from IPython.display import HTML, display
from cubit_lite.train import train as full_train
from cubit_lite.train_config import TrainConfig

DEVICE, SEED = torch.device("cpu"), 0


def train(config):
    return full_train(dataclasses.replace(config, max_chars=100_000, steps=12, warmup=2, eval_interval=4,
                                          eval_batches=2))
"""


def live_run_cell():
    """The code cell that trains the two live models (it calls `train(` in a loop over the mixers)."""
    nb = nbformat.read(CHAPTER, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "train(TrainConfig(out=str(live_dir" in c.source]
    assert len(cells) == 1, "chapter 7 should have one live-run cell"
    return cells[0]


@pytest.mark.slow  # 6.0 s
def test_the_live_run_makes_one_output_with_every_evaluation(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    cell = live_run_cell()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PRELUDE), nbformat.v4.new_code_cell(cell.source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # this checkout's cubit_lite in the kernel
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[1].outputs
    assert len(outputs) == 1, [o.output_type for o in outputs]
    (output,) = outputs
    text = output.get("text") or output.get("data", {}).get("text/plain", "")
    assert not any(o.output_type == "error" for o in outputs)
    assert "live run on cpu" in text and "device: cpu" in text and "corpus: shakespeare" in text
    # Every evaluation of both runs (steps 4, 8, 12), their parameters and times: nothing lost.
    for step in (4, 8, 12):
        row = next(line for line in text.splitlines() if re.search(rf"step {step}\b", line))
        assert len(re.findall(r"\d\.\d{4}", row)) == 2, row
    for label in ("parameters", "training time", "tokens/s"):
        row = next(line for line in text.splitlines() if line.startswith(label))
        assert len(row.split()) >= 3, row
    assert "(training)" not in text  # both runs finished and filled their columns


@pytest.mark.parametrize(
    "chunks", [["step 4: validation loss 2.5", "000 nats/char\n"], ["step 4: validation loss 2.5000 nats/char\n"]]
)
def test_printed_lines_split_across_writes_are_still_read(chunks):
    """print() may hand a line to the table in pieces; the table reads whole lines."""
    cell = live_run_cell()
    source = cell.source.split("\nlive_dir = ")[0]  # imports, LIVE and the RunTable class, no training
    updates = []

    class Handle:
        def update(self, obj):
            updates.append(obj.data)

    namespace = {"DEVICE": type("D", (), {"type": "cpu"})(), "torch": None, "main_config": None}
    exec(compile(source, "live-run cell", "exec"), namespace)
    namespace["display"] = lambda obj, display_id=False: (updates.append(obj.data), Handle())[1]
    table = namespace["RunTable"](["transformer", "cubit"], "header")
    table.start("transformer")
    for chunk in chunks:
        table.write(chunk)
    assert re.search(r"step 4\s+2\.5000\s", updates[-1]), updates[-1]
    assert "nats/char" not in updates[-1]  # the line went into the table, not below it
