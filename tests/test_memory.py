"""cubit_lite.memory: peak memory from the shapes, checked by hand counts and against a GPU's own count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cubit_lite import memory as memory_module
from cubit_lite.memory import (
    T4_USABLE_BYTES,
    MemoryEstimate,
    available_memory,
    forward_memory,
    peak_bytes,
    training_memory_bound,
    training_step_memory,
)
from cubit_lite.mixers import MIXER_NAMES
from cubit_lite.model import CharLM
from cubit_lite.train_config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
GPU_CHECK = ROOT / "results" / "ch07" / "memory_check_h200.json"
TINY = dict(block_size=32, n_layer=2, n_head=2, d_model=32, batch_size=4)


def test_peak_counts_each_live_tensor_once():
    assert peak_bytes(lambda: torch.zeros(1000)) == 4000  # float32

    def chain():
        a = torch.zeros(1000)  # 4000 bytes
        b = a + 1  # 8000 live
        del a  # 4000
        c = b * 2  # 8000 again, never 12000
        return c

    assert peak_bytes(chain) == 8000

    def views_and_in_place():
        a = torch.zeros(100, 10, dtype=torch.float64)  # 8000 bytes
        a.view(10, 100).t().add_(1.0)  # a view and an in-place op allocate nothing
        return a[:5]

    assert peak_bytes(views_and_in_place) == 8000


def test_peak_of_a_matmul_backward_is_the_hand_count():
    """x (64, 32), W (32, 16), y = x @ W kept alive, loss = y.sum(): at the peak x, W, y and dL/dW are live.

    (dL/dy is the scalar 1 expanded to y's shape: a view, no storage of its own.)
    """
    def step():
        x = torch.zeros(64, 32)
        w = torch.zeros(32, 16, requires_grad=True)
        y = x @ w
        y.sum().backward()
        return y

    floats = 64 * 32 + 32 * 16 + 64 * 16 + 32 * 16
    measured = peak_bytes(step)
    assert 4 * floats <= measured <= 4 * floats + 16  # + the scalar loss and its gradient


def test_training_step_counts_parameters_gradients_and_adamw_state():
    config = TrainConfig(out="unused", mixer="cubit", **TINY)
    estimate = training_step_memory(config, vocab_size=40)
    n = CharLM(config.model_config(40)).num_parameters()
    assert estimate.parameters == estimate.gradients == 4 * n
    tensors = len(list(CharLM(config.model_config(40)).parameters()))
    assert estimate.optimizer == 8 * n + 4 * tensors  # 2 moments per parameter + a step count per tensor
    assert estimate.peak > estimate.parameters + estimate.gradients + estimate.optimizer
    assert estimate.fits() and "GiB" in str(estimate)


@pytest.mark.slow  # 1.2 s
def test_activations_grow_with_the_batch_and_quadratically_for_cubit():
    """Doubling the batch about doubles what is above the weights; Cubit's T x T matrices grow with T^2."""
    def above_weights(**shape):
        e = training_step_memory(TrainConfig(out="unused", mixer="cubit", **(TINY | shape)), vocab_size=40)
        return e.peak - e.parameters - e.gradients - e.optimizer

    one, two = above_weights(batch_size=4), above_weights(batch_size=8)
    assert 1.8 < two / one < 2.2
    short, long = above_weights(block_size=64), above_weights(block_size=256)
    assert long / short > 4 * 1.5  # more than linear in T: the (B, H, T, T) matrices dominate


def test_forward_memory_is_far_below_a_training_step():
    config = TrainConfig(out="unused", mixer="transformer", **TINY)
    forward = forward_memory(config.model_config(40), batch_size=4, length=32)
    assert 0 < forward < training_step_memory(config, vocab_size=40).peak


@pytest.mark.parametrize(("call", "message"), [
    (lambda: training_step_memory(TrainConfig(out="x", **TINY), vocab_size=0), "vocab_size must be a positive"),
    (lambda: training_step_memory(TrainConfig(out="x", **TINY), vocab_size=40, precision="fp16"),
     "precision must be fp32 or bf16"),
    (lambda: forward_memory(TrainConfig(out="x", **TINY).model_config(40), batch_size=2, length=64),
     "longer than the model's block_size 32"),
    (lambda: peak_bytes(42), "fn must be callable"),
])
def test_bad_input_is_refused_with_the_reason(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_t4_capacity_is_what_nvidia_smi_reports():
    assert T4_USABLE_BYTES == 15360 * 2**20
    assert not MemoryEstimate(0, 0, 0, T4_USABLE_BYTES + 1).fits()


@pytest.mark.skipif(not GPU_CHECK.exists(), reason="no committed GPU check (benchmarks/memory_check.py)")
def test_estimates_match_what_a_gpu_allocated():
    """The committed GPU run (float32, Cubit's reference solve, as on a T4): each estimate within 10%."""
    check = json.loads(GPU_CHECK.read_text(encoding="utf-8"))
    assert check["git_commit"] and check["torch"] and "H200" in check["device"]
    for case in check["cases"]:
        ratio = case["estimate_bytes"] / case["measured_bytes"]
        assert 0.9 <= ratio <= 1.1, f"{case['name']}: estimate / measured = {ratio:.3f}"


@pytest.mark.skipif(not GPU_CHECK.exists(), reason="no committed GPU check (benchmarks/memory_check.py)")
def test_committed_estimates_are_what_the_code_computes_now():
    """The estimate of chapter 7's live Cubit run, recomputed here, is the committed one (the JSON stays true)."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from memory_check import CASES, estimate

    committed = {case["name"]: case["estimate_bytes"] for case in json.loads(GPU_CHECK.read_text())["cases"]}
    case = next(c for c in CASES if c["name"] == "ch6-live-cubit")
    assert estimate(case) == committed["ch6-live-cubit"]


# --------------------------------------------------------------------------- #
# The trainer's closed-form bound, against the traced peak
# --------------------------------------------------------------------------- #
BOUND_CASES = [dict(batch_size=4, block_size=32, n_layer=2, n_head=2, d_model=32),
               dict(batch_size=2, block_size=64, n_layer=3, n_head=4, d_model=64, dropout=0.0, positions="rotary"),
               dict(batch_size=2, block_size=64, n_layer=2, n_head=2, d_model=64, mixer_options={"head_dim": 8}),
               dict(batch_size=2, block_size=256, n_layer=2, n_head=4, d_model=32)]


@pytest.mark.slow
@pytest.mark.parametrize("mixer", MIXER_NAMES)
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_closed_form_bound_is_below_the_traced_peak_and_within_five_times_it(mixer, precision):
    """training_memory_bound is a lower bound of training_step_memory's peak, and not a loose one."""
    for shape in BOUND_CASES + [dict(batch_size=2, block_size=32, n_layer=1, n_head=2, d_model=16)]:
        vocab = 3000 if shape["d_model"] == 16 else 65  # one case where the logits dominate
        config = TrainConfig(out="unused", mixer=mixer, eval_batches=1, **shape)
        traced = training_step_memory(config, vocab_size=vocab, precision=precision)
        bound = training_memory_bound(config, vocab, "cpu", bf16=precision == "bf16")
        assert 4 * bound.parameters == traced.parameters  # the parameter count is exact
        ratio = traced.peak / (bound.total - bound.evaluation)  # the traced step holds no validation batches
        assert 1 <= ratio <= 5, f"{mixer} {shape}: traced peak / bound = {ratio:.2f}"


def test_the_bound_grows_with_what_the_trainer_keeps_and_is_instant_for_absurd_sizes():
    import time

    config = TrainConfig(out="unused", **TINY)
    base = training_memory_bound(config, 65)
    assert base.evaluation == 16 * config.eval_batches * 4 * 32  # int64 inputs and targets
    assert training_memory_bound(config, 70_000).logits == 8 * 4 * 32 * 70_000
    assert training_memory_bound(config, None).logits == 0  # before the corpus is read
    cubit = TrainConfig(out="unused", mixer="cubit", **TINY)
    assert training_memory_bound(cubit, 65).matrices == 4 * 4 * 2 * 32 * 32 * 2  # (B, H, T, T) per layer, CPU
    blocked = TrainConfig(out="unused", mixer="cubit", mixer_options={"implementation": "blocked"}, **TINY)
    assert training_memory_bound(blocked, 65).matrices == 0
    start = time.perf_counter()
    huge = training_memory_bound(TrainConfig(out="unused", n_layer=10**9, d_model=4096, n_head=32), 65)
    assert huge.total > 10**15 and time.perf_counter() - start < 1


def test_available_memory_is_the_gpus_free_memory_or_the_machines(monkeypatch):
    monkeypatch.setattr(memory_module.torch.cuda, "mem_get_info", lambda device=None: (3 * 2**30, 16 * 2**30))
    assert available_memory("cuda") == 3 * 2**30  # free, not total
    monkeypatch.setattr(memory_module, "_ram_available", lambda: 8 * 2**30)
    monkeypatch.setattr(memory_module, "_cgroup_free", lambda: 2 * 2**30)
    assert available_memory("cpu") == 2 * 2**30  # a container's limit wins over the machine's memory
    monkeypatch.setattr(memory_module, "_cgroup_free", lambda: None)
    assert available_memory("cpu") == 8 * 2**30
