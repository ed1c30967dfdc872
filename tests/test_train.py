"""Training end to end on the CPU: the CLI, exact resumption, two-process DDP, sampling, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from cubit_lite.checkpoint import export_weights, load_checkpoint, load_model
from cubit_lite.optim import learning_rate
from cubit_lite.sample import sample_text
from cubit_lite.train import train
from cubit_lite.train_config import TrainConfig

PYTHON = sys.executable
TINY = ["--block-size", "32", "--n-layer", "2", "--n-head", "2", "--d-model", "32", "--batch-size", "8",
        "--warmup", "5", "--eval-batches", "4", "--log-interval", "5", "--no-progress"]


def run_cli(*args, module="cubit_lite.train", check=True, torchrun=False):
    command = [PYTHON, "-m", module, *args]
    if torchrun:
        command = [str(Path(PYTHON).with_name("torchrun")), "--standalone", "--nproc_per_node=2", "-m", module, *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow  # 5.7 s
def test_cli_end_to_end_loss_falls_and_everything_is_written(tmp_path):
    out = tmp_path / "run"
    done = run_cli("--mixer", "cubit", "--corpus", "shakespeare", "--max-chars", "100000", *TINY,
                   "--steps", "80", "--eval-interval", "40", "--lr", "3e-3", "--dropout", "0", "--out", str(out))
    assert "device: cpu" in done.stdout and "parameters" in done.stdout
    for name in ("config.json", "metrics.jsonl", "latest.pt", "best.pt"):
        assert (out / name).is_file(), name
    log = records(out)
    train_losses = [r["train_loss"] for r in log if "train_loss" in r]
    vals = [r["val_loss"] for r in log if "val_loss" in r]
    assert train_losses[-1] < train_losses[0] - 0.5  # from ~log(V) ≈ 4.1 down
    assert len(vals) == 2 and vals[1] < vals[0]
    final = log[-1]
    assert len(final["val_loss_per_position"]) == 32  # the per-position curve of the last evaluation
    assert all(r["tokens_per_second"] > 0 for r in log if "tokens_per_second" in r)
    checkpoint = load_checkpoint(out / "latest.pt")
    assert checkpoint["step"] == 80 and checkpoint["corpus"]["name"] == "shakespeare"
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["final_val_loss"] == pytest.approx(vals[-1])


def _state(out: Path) -> dict:
    return load_checkpoint(out / "latest.pt")["model"]


@pytest.mark.slow  # 2.5 s
def test_interrupted_then_resumed_equals_uninterrupted(tmp_path):
    base = TrainConfig(out=str(tmp_path / "straight"), corpus="shakespeare", max_chars=60000, mixer="cubit",
                       block_size=16, n_layer=1, n_head=2, d_model=16, batch_size=4, steps=24, warmup=3,
                       eval_interval=8, eval_batches=2, log_interval=4, dropout=0.1, progress=False)
    straight = train(base)
    split = replace(base, out=str(tmp_path / "split"), stop_at=12)
    first = train(split)
    assert first.step == 12 and load_checkpoint(tmp_path / "split" / "latest.pt")["step"] == 12
    resumed = train(replace(split, stop_at=None, resume=True))
    assert resumed.step == 24
    for name, tensor in _state(tmp_path / "straight").items():
        assert torch.equal(tensor, _state(tmp_path / "split")[name]), name
    strip = lambda log: [{k: v for k, v in r.items() if k != "tokens_per_second"} for r in log]  # noqa: E731
    assert strip(records(tmp_path / "split")) == strip(records(tmp_path / "straight"))
    assert resumed.best_val_loss == straight.best_val_loss


def test_resume_refuses_a_checkpoint_from_another_configuration(tmp_path):
    config = TrainConfig(out=str(tmp_path / "a"), max_chars=30000, block_size=16, n_layer=1, n_head=2, d_model=16,
                         batch_size=4, steps=4, eval_interval=4, eval_batches=1, progress=False)
    train(config)
    with pytest.raises(ValueError, match="another configuration.*d_model: checkpoint 16 vs now 32"):
        train(replace(config, d_model=32, resume=True))


@pytest.mark.slow  # 11.6 s
def test_two_process_ddp_on_gloo(tmp_path):
    out = tmp_path / "ddp"
    done = run_cli("--mixer", "cubit", "--corpus", "shakespeare", "--max-chars", "60000", *TINY, "--steps", "10",
                   "--eval-interval", "10", "--device", "cpu", "--out", str(out), torchrun=True)
    assert "processes: 2" in done.stdout
    log = records(out)
    step10 = next(r for r in log if r["step"] == 10 and "train_loss" in r)
    assert step10["tokens_seen"] == 10 * 8 * 32 * 2  # batch 8 per process × block 32 × 2 processes
    assert load_checkpoint(out / "latest.pt")["step"] == 10
    assert len(load_checkpoint(out / "latest.pt")["rng"]["batches"]) == 2


@pytest.mark.slow  # 13.3 s
def test_sampling_from_a_checkpoint(tmp_path):
    out = tmp_path / "s"
    train(TrainConfig(out=str(out), max_chars=30000, block_size=16, n_layer=1, n_head=2, d_model=16, batch_size=4,
                      steps=4, eval_interval=4, eval_batches=1, progress=False, mixer="deltaformer"))
    done = run_cli("--checkpoint", str(out / "best.pt"), "--prompt", "ROMEO:", "--chars", "40", "--seed", "1",
                   module="cubit_lite.sample")
    assert done.stdout.startswith("ROMEO:") and len(done.stdout.rstrip("\n")) >= 40
    again = run_cli("--checkpoint", str(out / "best.pt"), "--prompt", "ROMEO:", "--chars", "40", "--seed", "1",
                    module="cubit_lite.sample")
    assert again.stdout == done.stdout
    bad = run_cli("--checkpoint", str(out / "best.pt"), "--prompt", "ROMEO☃", module="cubit_lite.sample", check=False)
    assert bad.returncode == 2 and "U+2603" in bad.stderr
    small = export_weights(out / "best.pt", tmp_path / "small.pt")
    assert small.stat().st_size < (out / "best.pt").stat().st_size
    model, tokenizer, _ = load_model(small)
    assert sample_text(model, tokenizer, "A", 10).startswith("A")


@pytest.mark.parametrize("args, message", [
    (["--mixer", "mamba"], "invalid choice: 'mamba'"),
    (["--block-size", "5000", "--max-chars", "3000", "--batch-size", "2"], "fewer than block_size + 1"),
    (["--steps", "4", "--stop-at", "9"], "stop_at must be between 1 and steps"),
    (["--mixer-option", "lam"], "NAME=VALUE"),
    (["--mixer", "transformer", "--mixer-option", "lam=0.1"], "does not take option"),
])
def test_cli_bad_input_is_one_clear_error(tmp_path, cli_in_process, args, message):
    status, stderr = cli_in_process("train", "--out", str(tmp_path / "x"), "--no-progress", *args)
    assert status == 2 and message in stderr, stderr


@pytest.mark.parametrize("content, message", [(b"", "empty"), (b"caf\xe9 au lait", "UTF-8"), (b"ab\x00cd", "binary")])
def test_cli_refuses_bad_corpus_files(tmp_path, cli_in_process, content, message):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(content)
    status, stderr = cli_in_process("train", "--corpus", str(corpus), "--out", str(tmp_path / "x"), "--no-progress")
    assert status == 2 and message in stderr, stderr


def test_sampling_refuses_a_file_that_is_not_a_checkpoint(tmp_path, cli_in_process):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    status, stderr = cli_in_process("sample", "--checkpoint", str(junk))
    assert status == 2 and "not a readable checkpoint" in stderr


def test_learning_rate_warms_up_then_decays_to_min_lr():
    config = TrainConfig(out="x", steps=100, warmup=10, lr=1e-3, min_lr=1e-4)
    rates = [learning_rate(s, config) for s in range(101)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3)
    assert max(rates) == pytest.approx(1e-3) and rates[100] == pytest.approx(1e-4)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:], strict=False))  # consecutive pairs


# --------------------------------------------------------------------------- #
# The precision choice on GPUs with and without bf16 tensor cores (capability mocked)
# --------------------------------------------------------------------------- #
def _pretend_gpu(monkeypatch, capability: tuple[int, int], name: str) -> torch.device:
    """Make torch report one CUDA GPU of ``capability``, which can *emulate* bf16 (as a T4 does)."""
    from cubit_lite import runtime

    monkeypatch.setattr(runtime.torch.cuda, "get_device_capability", lambda index=None: capability)
    monkeypatch.setattr(runtime.torch.cuda, "get_device_name", lambda index=None: name)
    monkeypatch.setattr(runtime.torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(runtime.torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    return torch.device("cuda", 0)


def test_auto_precision_never_picks_bf16_on_a_t4(monkeypatch):
    """A T4 (7.5) emulates bf16 and torch.cuda.is_bf16_supported() says True there; auto must say fp32."""
    from cubit_lite.runtime import use_bf16_autocast

    device = _pretend_gpu(monkeypatch, (7, 5), "Tesla T4")
    assert use_bf16_autocast("auto", device) is False
    assert use_bf16_autocast("fp32", device) is False
    with pytest.raises(ValueError, match=r"Tesla T4, compute capability 7\.5\) has no bf16 tensor cores"):
        use_bf16_autocast("bf16", device)


@pytest.mark.parametrize("capability", [(8, 0), (8, 9), (9, 0)])
def test_auto_precision_picks_bf16_on_ampere_and_newer(monkeypatch, capability):
    from cubit_lite.runtime import use_bf16_autocast

    device = _pretend_gpu(monkeypatch, capability, "some GPU")
    assert use_bf16_autocast("auto", device) is True and use_bf16_autocast("bf16", device) is True
    assert use_bf16_autocast("fp32", device) is False


def test_precision_on_the_cpu_is_float32_unless_bf16_is_asked_for():
    from cubit_lite.runtime import use_bf16_autocast

    cpu = torch.device("cpu")
    assert (use_bf16_autocast("auto", cpu), use_bf16_autocast("bf16", cpu), use_bf16_autocast("fp32", cpu)) == (
        False, True, False)
    with pytest.raises(ValueError, match="precision must be auto, bf16 or fp32"):
        use_bf16_autocast("fp16", cpu)


def test_training_on_a_t4_refuses_bf16_before_loading_anything(monkeypatch, tmp_path):
    """train() checks the precision right after choosing the device, before the corpus or the model."""
    from cubit_lite import train as train_module

    _pretend_gpu(monkeypatch, (7, 5), "Tesla T4")
    monkeypatch.setattr(train_module, "choose_device", lambda requested, local_rank: torch.device("cuda", 0))
    monkeypatch.setattr(train_module.torch.cuda, "set_device", lambda device: None)
    monkeypatch.setattr(train_module, "load_corpus", lambda *a, **k: pytest.fail("loaded the corpus first"))
    with pytest.raises(ValueError, match="no bf16 tensor cores"):
        train_module.train(TrainConfig(out=str(tmp_path / "run"), precision="bf16", steps=1))


# --------------------------------------------------------------------------- #
# The first lines say how each mixer runs
# --------------------------------------------------------------------------- #
@pytest.mark.slow  # 4.1 s
def test_the_first_lines_say_how_each_mixer_runs(tmp_path, capsys):
    config = TrainConfig(out=str(tmp_path / "run"), max_chars=30000, block_size=16, n_layer=2, n_head=2, d_model=16,
                         batch_size=4, steps=2, eval_interval=2, eval_batches=1, progress=False, device="cpu",
                         precision="bf16", mixer="cubit", mixer_options={"implementation": "blocked"})
    train(config)
    printed = capsys.readouterr().out.splitlines()
    assert "mixers: 2 × cubit, implementation=blocked → blocked, solve in float32" in printed[:3]


def _tiny_model(mixer: str, n_layer: int = 3):
    from cubit_lite.model import CharLM, ModelConfig

    return CharLM(ModelConfig(vocab_size=10, block_size=8, n_layer=n_layer, n_head=2, d_model=16, mixer=mixer),
                  seed=0)


def test_mixer_paths_on_the_cpu():
    from cubit_lite.train import mixer_paths

    cpu = torch.device("cpu")
    assert mixer_paths(_tiny_model("cubit-share"), cpu, bf16=False) == (
        "mixers: 3 × cubit-share, implementation=auto → reference, solve in float32")
    assert mixer_paths(_tiny_model("transformer", 2), cpu, bf16=True) == (
        "mixers: 2 × transformer, scaled_dot_product_attention in bfloat16")
    assert mixer_paths(_tiny_model("transformer", 1), cpu, bf16=False) == (
        "mixers: 1 × transformer, scaled_dot_product_attention in float32")
    assert mixer_paths(_tiny_model("llr").double(), cpu, bf16=False) == "mixers: 3 × llr, reference, weights in float64"


def test_mixer_paths_on_an_ampere_gpu_name_the_triton_solve_and_its_tiles(monkeypatch):
    """On a GPU with TF32 (capability pretended) "auto" resolves to the Triton kernels, whose tile products
    follow the inputs' precision; on an older GPU, to the reference path."""
    from cubit_lite.mixers import dispatch, triton_solve
    from cubit_lite.train import mixer_paths

    monkeypatch.setattr(dispatch, "_has_tf32", lambda device: device.type == "cuda")
    monkeypatch.setattr(dispatch, "triton_available", lambda: True)
    model, cuda, config = _tiny_model("deltaformer"), torch.device("cuda"), triton_solve.DEFAULT_CONFIG
    triton = "mixers: 3 × deltaformer, implementation=auto → triton, solve in float32, tile products "
    assert mixer_paths(model, cuda, bf16=True) == triton + config.half_precision
    assert mixer_paths(model, cuda, bf16=False) == triton + config.float32_precision
    with triton_solve.float32_tiles("ieee"):
        assert mixer_paths(model, cuda, bf16=False) == triton + "ieee"
    monkeypatch.setattr(dispatch, "_has_tf32", lambda device: False)  # a T4
    assert mixer_paths(model, cuda, bf16=False) == (
        "mixers: 3 × deltaformer, implementation=auto → reference, solve in float32")
