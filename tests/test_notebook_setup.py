"""The first cell of every chapter: seeds, device choice, and the printed line."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

import cubit_lite
from cubit_lite.notebook import describe_device, pick_device, seed_everything, setup_notebook


def draws() -> tuple:
    return random.random(), np.random.rand(), torch.rand(()).item()


def test_setup_seeds_every_generator_the_same_way(capsys):
    setup_notebook(7)
    first = draws()
    setup_notebook(7)
    assert draws() == first
    setup_notebook(8)
    assert draws() != first


def test_setup_prints_one_line_with_versions_seed_and_device(capsys):
    device = setup_notebook(3)
    line = capsys.readouterr().out.strip()
    assert "\n" not in line
    assert f"cubit_lite {cubit_lite.__version__}" in line and f"torch {torch.__version__}" in line
    assert "seed 3" in line and f"device: {describe_device(device)}" in line
    assert setup_notebook(3, quiet=True) == device and capsys.readouterr().out == ""


def test_auto_picks_cuda_only_when_there_is_a_gpu():
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert pick_device("cpu") == torch.device("cpu")
    assert describe_device(torch.device("cpu")).startswith("cpu (")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a GPU")
def test_cuda_without_a_gpu_says_how_to_get_one():
    with pytest.raises(RuntimeError, match="Change runtime type"):
        pick_device("cuda")


@pytest.mark.parametrize("bad", ["gpu", "CUDA", ""])
def test_unknown_device_is_refused(bad):
    with pytest.raises(ValueError, match="allowed: auto, cpu, cuda"):
        pick_device(bad)


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True])
def test_bad_seed_is_refused(bad):
    with pytest.raises(ValueError, match="non-negative integer"):
        seed_everything(bad)
