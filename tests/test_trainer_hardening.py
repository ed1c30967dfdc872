"""The trainer checks everything before it writes, never writes through a link, and stops cleanly.

One section per defect of the trainer (``python -m cubit_lite.train``), its run folder and
its checkpoints: ``--overwrite`` after the checks, links in a prepared run folder, a torn
log, a stray ``RANK``, an empty ``--out``, Ctrl-C, what ``--resume`` trusts, mixer options
parsed by their declared types, the up-front memory check, and numbers, devices and text
at the edges. Real files, real symbolic links, real signals; real processes where the
behaviour is the process's (exit status, environment). Every run is tiny (one layer of
width 16) and most share one finished run, copied.
"""

from __future__ import annotations

import argparse
import json
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

from cubit_lite import memory as memory_module
from cubit_lite import runtime
from cubit_lite import train as train_module
from cubit_lite.checkpoint import export_weights, load_checkpoint, load_model, save_checkpoint
from cubit_lite.mixer_options import option_kinds, parse_mixer_option
from cubit_lite.mixers import MIXER_NAMES, mixer_options
from cubit_lite.run_folder import RUN_FILES, RunFolderError
from cubit_lite.runtime import choose_device
from cubit_lite.stop_signals import TrainingStopped
from cubit_lite.train import parse_args, train
from cubit_lite.train_config import TrainConfig

PYTHON = sys.executable
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
for _name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
    ENV.pop(_name, None)
TINY_ARGS = ["--max-chars", "30000", "--block-size", "16", "--n-layer", "1", "--n-head", "2", "--d-model", "16",
             "--batch-size", "4", "--steps", "8", "--warmup", "2", "--eval-interval", "4", "--eval-batches", "1",
             "--log-interval", "2", "--no-progress"]


def tiny(out: Path, **changes) -> TrainConfig:
    base = TrainConfig(out=str(out), max_chars=30000, block_size=16, n_layer=1, n_head=2, d_model=16, batch_size=4,
                       steps=8, warmup=2, eval_interval=4, eval_batches=1, log_interval=2, progress=False)
    return replace(base, **changes)


def cli(*args, env=None, timeout=300):
    return subprocess.run([PYTHON, "-m", "cubit_lite.train", *args], capture_output=True, text=True, timeout=timeout,
                          env=env or ENV)


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory) -> Path:
    """A tiny run stopped at step 4 of 8 (latest.pt, best.pt, config.json, metrics.jsonl): copy before use."""
    out = tmp_path_factory.mktemp("shared") / "run"
    train(tiny(out, stop_at=4))
    return out


@pytest.fixture
def run_copy(stopped_run, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(stopped_run, out)
    return out


def contents(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in RUN_FILES}


def edit_latest(out: Path, edit) -> None:
    """Load latest.pt, let ``edit(payload)`` change it, and save it back."""
    payload = load_checkpoint(out / "latest.pt")
    edit(payload)
    save_checkpoint(out / "latest.pt", {key: value for key, value in payload.items() if key != "format"})


# --------------------------------------------------------------------------- #
# 1. --overwrite removes the previous run only once the new settings are checked
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("change, message", [
    ({"corpus": "no-such-corpus.txt"}, "unknown corpus 'no-such-corpus.txt'"),
    ({"n_head": 3, "d_model": 32}, r"d_model \(32\) must be divisible by n_head \(3\)"),
    ({"mixer": "cubit", "mixer_options": {"lrr_bounds": [2, 1]}}, "lrr_bounds must be"),
    ({"block_size": 4000, "max_chars": 3000}, "fewer than block_size"),
])
def test_overwrite_with_a_typo_keeps_the_previous_run(run_copy, change, message):
    before = contents(run_copy)
    with pytest.raises(ValueError, match=message):
        train(tiny(run_copy, overwrite=True, **change))
    assert contents(run_copy) == before


def test_overwrite_removes_the_previous_run_when_the_new_one_starts_writing(run_copy, capsys, monkeypatch):
    """The removal comes after the corpus, the model and the validation batches, right before config.json."""
    order = []
    real_load = train_module.load_training_data

    def load(config):
        order.append(("corpus", (run_copy / "latest.pt").exists()))
        return real_load(config)

    monkeypatch.setattr(train_module, "load_training_data", load)
    train(tiny(run_copy, overwrite=True, seed=1, steps=4))
    assert order == [("corpus", True)]  # the previous run was still there while the new one was checked
    assert "--overwrite: removed the previous run's config.json, metrics.jsonl, latest.pt, best.pt" in (
        capsys.readouterr().out)
    assert load_checkpoint(run_copy / "latest.pt")["train_config"]["seed"] == 1


# --------------------------------------------------------------------------- #
# 2. Links in a run folder someone else prepared
# --------------------------------------------------------------------------- #
@pytest.fixture
def outside(tmp_path) -> Path:
    """A file of the user's outside every run folder, which a link in one points to."""
    target = tmp_path / "precious.txt"
    target.write_text("the user's own file\n")
    return target


def test_a_linked_lock_file_is_refused_and_its_target_not_truncated(tmp_path, outside):
    out = tmp_path / "prepared"
    out.mkdir()
    (out / ".lock").symlink_to(outside)
    with pytest.raises(RunFolderError, match=r"prepared/\.lock is a symbolic link \(to .*precious\.txt\): cubit_lite "
                                             "never writes through a link"):
        train(tiny(out))
    assert outside.read_text() == "the user's own file\n"


def test_a_hard_linked_lock_file_is_refused_and_left_alone(tmp_path, outside):
    out = tmp_path / "prepared"
    out.mkdir()
    os.link(outside, out / ".lock")
    with pytest.raises(RunFolderError, match=r"\.lock has other names \(hard links\)"):
        train(tiny(out))
    assert outside.read_text() == "the user's own file\n"


def test_the_lock_file_is_rewritten_in_place_never_truncated(tmp_path):
    out = tmp_path / "run"
    train(tiny(out, steps=4))
    record = (out / ".lock").read_bytes()
    assert len(record) == 512 and json.loads(record)["pid"] == os.getpid()  # padded, parsable


def test_resume_refuses_a_linked_config_json_and_writes_nothing_through_it(run_copy, outside):
    (run_copy / "config.json").unlink()
    (run_copy / "config.json").symlink_to(outside)
    with pytest.raises(RunFolderError, match=r"config\.json is a symbolic link"):
        train(tiny(run_copy, resume=True))
    assert outside.read_text() == "the user's own file\n"


def test_planted_temporary_links_are_never_followed(run_copy, outside):
    """The old log rewrite wrote metrics.jsonl.tmp through a link and moved the link into place."""
    for name in ("metrics.jsonl.tmp", f".metrics.jsonl.tmp-{os.getpid()}", f".latest.pt.tmp-{os.getpid()}",
                 f".config.json.tmp-{os.getpid()}"):
        (run_copy / name).symlink_to(outside)
    result = train(tiny(run_copy, resume=True))
    assert result.step == 8
    assert outside.read_text() == "the user's own file\n"
    for name in RUN_FILES:
        assert not (run_copy / name).is_symlink(), name


def test_save_checkpoint_creates_its_temporary_file_without_following_a_link(tmp_path, outside):
    (tmp_path / f".weights.pt.tmp-{os.getpid()}").symlink_to(outside)
    save_checkpoint(tmp_path / "weights.pt", {"model": {}, "step": 1})
    assert outside.read_text() == "the user's own file\n"
    assert not (tmp_path / "weights.pt").is_symlink()
    assert torch.load(tmp_path / "weights.pt", weights_only=True)["step"] == 1


def test_an_out_that_is_a_link_is_refused_naming_the_folder_it_points_to(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(RunFolderError, match=r"--out .*link is a symbolic link .* give the folder it points to, "
                                             r".*real, as --out"):
        train(tiny(tmp_path / "link"))
    assert not any(real.iterdir())


# --------------------------------------------------------------------------- #
# 3. A torn last line of metrics.jsonl
# --------------------------------------------------------------------------- #
def test_a_torn_last_log_line_is_dropped_with_a_note_and_the_run_resumes(run_copy, capsys):
    with (run_copy / "metrics.jsonl").open("a") as log:
        log.write('{"step": 58')  # what a full disk leaves
    result = train(tiny(run_copy, resume=True))
    assert result.step == 8
    assert "note: dropped the last line of" in capsys.readouterr().out
    steps = [json.loads(line)["step"] for line in (run_copy / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 8


@pytest.mark.parametrize("line, message", [
    ('{"step": 2, "train_', r"metrics\.jsonl, line 1: not a JSON record"),
    ('{"stp": 2}', r'metrics\.jsonl, line 1: a metrics record must be a JSON object with an integer "step"'),
    ('{"step": "2"}', r"metrics\.jsonl, line 1: a metrics record must be"),
    ("[2]", r"metrics\.jsonl, line 1: a metrics record must be"),
])
def test_any_other_bad_log_line_is_an_error_naming_the_file_and_line(run_copy, line, message):
    log = run_copy / "metrics.jsonl"
    lines = log.read_text().splitlines()
    log.write_text("\n".join([line, *lines[1:]]) + "\n")
    before = contents(run_copy)
    with pytest.raises(ValueError, match=message):
        train(tiny(run_copy, resume=True))
    assert contents(run_copy) == before


# --------------------------------------------------------------------------- #
# 4. A stray RANK without a WORLD_SIZE > 1
# --------------------------------------------------------------------------- #
@pytest.mark.slow
def test_a_stray_rank_is_refused_by_the_command_with_nothing_written(tmp_path):
    done = cli(*TINY_ARGS, "--out", str(tmp_path / "x"), env={**ENV, "RANK": "1"})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "error: the environment sets RANK=1 without a WORLD_SIZE above 1" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "x").exists()


@pytest.mark.parametrize("env, message", [
    ({"RANK": "-1"}, "sets RANK=-1 without a WORLD_SIZE above 1"),
    ({"RANK": "1", "WORLD_SIZE": "1"}, "sets RANK=1 without a WORLD_SIZE above 1"),
    ({"LOCAL_RANK": "3"}, "sets LOCAL_RANK=3 without a WORLD_SIZE above 1"),
    ({"RANK": "5", "WORLD_SIZE": "2"}, r"RANK=5 with WORLD_SIZE=2: each process needs a RANK from 0 to 1"),
    ({"WORLD_SIZE": "2"}, "RANK=unset with WORLD_SIZE=2"),
    ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two' is not an integer"),
    ({"WORLD_SIZE": "0"}, "WORLD_SIZE=0 in the environment: it must be 1 or more"),
])
def test_inconsistent_distributed_environments_are_refused_before_the_folder(tmp_path, monkeypatch, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        train(tiny(tmp_path / "x"))
    assert not (tmp_path / "x").exists()


def test_rank_zero_alone_is_an_ordinary_run(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert train(tiny(tmp_path / "x", steps=2, eval_interval=2)).step == 2
    assert (tmp_path / "x" / "latest.pt").exists()


# --------------------------------------------------------------------------- #
# 5. An empty --out
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("out, message", [
    ("", "out must name a folder for the run"),
    ("   ", "out must name a folder for the run"),
    (".", "out '.' is the current folder: give the run a folder of its own"),
    ("./", "is the current folder"),
])
def test_an_empty_out_or_the_current_folder_is_refused(tmp_path, monkeypatch, cli_in_process, out, message):
    monkeypatch.chdir(tmp_path)
    status, stderr = cli_in_process("train", *TINY_ARGS, "--out", out)
    assert status == 2 and message in stderr, stderr
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- #
# 6. Ctrl-C and SIGTERM: one line, a checkpoint at the step reached, exit 128 + N
# --------------------------------------------------------------------------- #
def _wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


@pytest.mark.slow
def test_ctrl_c_stops_with_one_line_a_checkpoint_and_status_130(tmp_path):
    out = tmp_path / "run"
    args = [*TINY_ARGS, "--steps", "100000", "--eval-interval", "50", "--out", str(out)]
    process = subprocess.Popen([PYTHON, "-m", "cubit_lite.train", *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        _wait_for(lambda: (out / "latest.pt").exists(), 120, "the first checkpoint")
        process.send_signal(signal.SIGINT)
        stderr = process.communicate(timeout=120)[1]
    finally:
        process.kill()
    step = load_checkpoint(out / "latest.pt")["step"]
    assert process.returncode == 130, stderr
    assert stderr == f"stopped at step {step}; continue with --resume\n"
    done = cli(*args, "--resume", "--stop-at", str(step + 2))
    assert done.returncode == 0, done.stderr
    assert load_checkpoint(out / "latest.pt")["step"] == step + 2


class _SignalAt:
    """Wraps ``sample_batch``: sends ``signum`` to this process at its ``call``-th call (a real signal)."""

    def __init__(self, signum: int, call: int) -> None:
        self.signum, self.call, self.calls = signum, call, 0
        self.real = train_module.sample_batch

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.call:
            os.kill(os.getpid(), self.signum)
        return self.real(*args, **kwargs)


class _Unhandled(Exception):
    """What this test's own SIGTERM handler raises: the trainer did not handle the signal itself."""


def _unhandled(signum, frame):
    raise _Unhandled(f"signal {signum} reached the test's handler")


def test_sigterm_stops_after_the_current_step_with_a_checkpoint_of_it(tmp_path, monkeypatch):
    out = tmp_path / "run"
    monkeypatch.setattr(train_module, "sample_batch", _SignalAt(signal.SIGTERM, 6))
    previous = signal.signal(signal.SIGTERM, _unhandled)  # never the default action: that would end pytest
    try:
        with pytest.raises(TrainingStopped, match=r"^stopped at step 6; continue with --resume$") as stopped:
            train(tiny(out, steps=20))
        assert signal.getsignal(signal.SIGTERM) is _unhandled  # the trainer put the handler back
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert stopped.value.exit_status == 128 + signal.SIGTERM
    assert load_checkpoint(out / "latest.pt")["step"] == 6


def test_a_signal_before_the_first_step_stops_at_once_and_writes_nothing(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)  # the handler runs before this ends
        pytest.fail("the signal did not stop the run")

    monkeypatch.setattr(train_module, "load_corpus", interrupted)
    with pytest.raises(TrainingStopped, match="stopped before the first step; nothing was written") as stopped:
        train(tiny(tmp_path / "run"))
    assert stopped.value.exit_status == 130
    assert not any((tmp_path / "run" / name).exists() for name in RUN_FILES)


# --------------------------------------------------------------------------- #
# 7. --resume checks what it loads
# --------------------------------------------------------------------------- #
def _swap_two_characters(payload):
    chars = payload["tokenizer"]["chars"]
    payload["tokenizer"] = {"type": "char", "chars": chars[1] + chars[0] + chars[2:]}


def _shrink_the_embedding(payload):
    payload["model"]["token_embedding.weight"] = payload["model"]["token_embedding.weight"][:-1]


def _shrink_a_moment(payload):
    state = payload["optimizer"]["state"][0]
    state["exp_avg"] = state["exp_avg"][:-1]


@pytest.mark.parametrize("edit, message", [
    (_swap_two_characters, "differences: the vocabulary: 2 of its 60 characters have other ids in the checkpoint"),
    (lambda p: p["model_config"].update(block_size=32), "model_config block_size: checkpoint 32 vs now 16"),
    (_shrink_the_embedding, r"its weights do not fit the model: token_embedding\.weight is \(59, 16\) in the "
                            r"checkpoint and \(60, 16\) in the model"),
    (_shrink_a_moment, r"its optimizer state does not fit the model: AdamW's exp_avg of token_embedding\.weight is "
                       r"\(59, 16\), the parameter \(60, 16\)"),
    (lambda p: p.update(step=99), r"its step 99 is not between 0 and steps \(8\)"),
    (lambda p: p.update(best_val_loss=float("nan")), "its best validation loss nan is not a finite number"),
    (lambda p: p["rng"].update(batches=[]), "its random-number state is incomplete"),
    (lambda p: p.pop("optimizer"), "holds no training state to continue from"),
])
def test_resume_refuses_a_checkpoint_that_does_not_fit_the_run_or_itself(run_copy, edit, message):
    edit_latest(run_copy, edit)
    before = contents(run_copy)
    with pytest.raises(ValueError, match=message):
        train(tiny(run_copy, resume=True))
    assert contents(run_copy) == before


def test_resume_refuses_exported_weights_in_place_of_latest(run_copy):
    export_weights(run_copy / "latest.pt", run_copy / "latest.pt")
    with pytest.raises(ValueError, match=r"holds no training state .* export_weights keeps only the weights"):
        train(tiny(run_copy, resume=True))


# --------------------------------------------------------------------------- #
# 8. Mixer options are parsed by their declared types
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("text, value", [
    ("learn_lam=False", False), ("learn_lam=false", False), ("learn_lam=0", False), ("lrr=FALSE", False),
    ("learn_lam=True", True), ("rotate_references=1", True),
    ("lam=1e-3", 1e-3), ("lam=2", 2.0), ("solve_block=32", 32), ("head_dim=none", None), ("head_dim=8", 8),
    ("lrr_bounds=[1,3]", [1.0, 3.0]), ("lrr_bounds=1,3", [1.0, 3.0]), ("lrr_bounds=(0.5, 2)", [0.5, 2.0]),
    ("implementation=blocked", "blocked"), ("u_stage=qk", "qk"),
])
def test_cli_mixer_options_take_their_declared_types(text, value):
    name, parsed = parse_mixer_option(text)
    assert parsed == value and type(parsed) is type(value), (text, parsed)
    assert name == text.split("=")[0]


@pytest.mark.parametrize("text, message", [
    ("learn_lam=yes", "mixer option learn_lam takes true or false (or 1 or 0); got 'yes'"),
    ("lrr=Flase", "mixer option lrr takes true or false"),
    ("lam=abc", "mixer option lam takes a finite number; got 'abc'"),
    ("lam=nan", "mixer option lam takes a finite number"),
    ("lam=inf", "mixer option lam takes a finite number"),
    ("solve_block=6.5", "mixer option solve_block takes an integer; got '6.5'"),
    ("head_dim=wide", "mixer option head_dim takes an integer or none"),
    ("lrr_bounds=2", "mixer option lrr_bounds takes 2 numbers, as [a,b] or a,b; got '2'"),
    ("lrr_bounds=[1,2,3]", "mixer option lrr_bounds takes 2 numbers"),
])
def test_cli_mixer_options_of_the_wrong_type_are_refused(text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        parse_mixer_option(text)


def test_an_ablation_from_the_command_line_really_ablates():
    config = parse_args(["--out", "runs/x", "--mixer", "cubit", "--mixer-option", "learn_lam=False",
                         "--mixer-option", "lrr=False", "--mixer-option", "lam=1e-3"])
    assert config.mixer_options == {"learn_lam": False, "lrr": False, "lam": 1e-3}
    mixer = train_module.CharLM(config.model_config(10), seed=0).blocks[0].mixer
    assert mixer.rescale is None  # no LRR
    assert "log_lam" not in dict(mixer.named_parameters())  # λ fixed


@pytest.mark.parametrize("options, message", [
    ({"learn_lam": "False"}, r"mixer option learn_lam must be true or false \(a bool\); got 'False' \(str\)"),
    ({"lam": "1e-3"}, r"mixer option lam must be a finite number; got '1e-3' \(str\)"),
    ({"lam": float("nan")}, "mixer option lam must be a finite number"),
    ({"solve_block": 64.0}, r"mixer option solve_block must be an integer; got 64.0 \(float\)"),
    ({"lrr_bounds": [2]}, "mixer option lrr_bounds must be a list of 2 numbers"),
    ({"bias": True}, r"does not take option\(s\) bias \(the trainer's models have no biases"),
    ({"rotary": True}, r"does not take option\(s\) rotary \(use --positions rotary\)"),
    ({"lrr_bounds": [2, 1]}, r"lrr_bounds must be \(a, b\) with 0 < a < b"),  # the mixer's own check, on meta
])
def test_python_and_saved_configs_refuse_mixer_options_of_the_wrong_type(options, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(out="runs/x", mixer="cubit", mixer_options=options).validate().check_model()


def test_a_grids_shared_flags_parse_without_their_mixer():
    """Options for the cubit arms of a grid parse with the default mixer; the mixer is checked when it trains."""
    config = parse_args(["--out", "runs/x", "--mixer-option", "rotate_references=false"])
    assert config.mixer_options == {"rotate_references": False}
    with pytest.raises(ValueError, match="mixer 'transformer' does not take option"):
        config.check_model()


def test_a_config_json_with_a_string_bool_is_refused_when_loaded(run_copy):
    saved = json.loads((run_copy / "config.json").read_text())
    saved.update(mixer="cubit", mixer_options={"learn_lam": "False", "lam": 1e-3})
    with pytest.raises(ValueError, match="mixer option learn_lam must be true or false"):
        TrainConfig(**saved).validate()


def test_the_cli_refuses_bias_instead_of_crashing(tmp_path, cli_in_process):
    status, stderr = cli_in_process("train", *TINY_ARGS, "--mixer-option", "bias=true", "--out", str(tmp_path / "x"))
    assert status == 2 and "does not take option(s) bias" in stderr and "Traceback" not in stderr
    assert "its options are: head_dim\n" in stderr  # bias is no longer offered


def test_every_mixer_option_has_one_known_type():
    kinds = option_kinds()
    for mixer in MIXER_NAMES:
        for name in mixer_options(mixer):
            assert kinds.get(name) is not None, f"{mixer}'s option {name} has a type the trainer cannot parse"


# --------------------------------------------------------------------------- #
# 9. The memory a run needs is checked before anything is allocated
# --------------------------------------------------------------------------- #
def test_huge_eval_batches_are_refused_before_the_validation_set_is_built(tmp_path, monkeypatch):
    monkeypatch.setattr(train_module, "evaluation_batches", lambda *a, **k: pytest.fail("built the batches first"))
    with pytest.raises(ValueError, match=r"validation batches .* \(eval_batches 1000000000 × batch_size 4 × "
                                         r"block_size 16 tokens, kept on the device\)\. Lower --eval-batches"):
        train(tiny(tmp_path / "x", eval_batches=10**9))


@pytest.mark.parametrize("change, part", [
    ({"mixer": "cubit", "block_size": 100_000}, r"cubit's T × T matrices .* Lower --block-size"),
    ({"n_layer": 10**8}, r"weights, gradients and AdamW state .* parameters\)"),
    ({"d_model": 2**20, "n_head": 1}, r"weights, gradients and AdamW state"),
    ({"mixer_options": {"head_dim": 10**8}}, r"Lower --d-model, --n-layer or --mixer-option head_dim"),
    ({"batch_size": 10**7, "block_size": 256}, r"activations .* \(batch_size 10000000 × block_size 256 tokens"),
])
def test_what_cannot_fit_is_refused_at_once_before_the_corpus_is_read(tmp_path, monkeypatch, change, part):
    monkeypatch.setattr(train_module, "load_corpus", lambda *a, **k: pytest.fail("read the corpus first"))
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"this run needs at least .* GiB of memory on cpu, more than the .* GiB "
                                         r"free: .*" + part):
        train(tiny(tmp_path / "x", **change))
    assert time.perf_counter() - start < 2
    assert not (tmp_path / "x").exists()


def test_a_huge_vocabulary_is_refused_before_the_model_is_built(tmp_path, monkeypatch):
    """70,000 distinct characters (many beyond the Basic Multilingual Plane): the logits do not fit."""
    codes = [c for c in range(0x4E00, 0x4E00 + 70_000 + 2048) if not 0xD800 <= c <= 0xDFFF][:70_000]
    corpus = tmp_path / "wide.txt"
    corpus.write_text("".join(map(chr, codes)) * 2, encoding="utf-8")
    monkeypatch.setattr(memory_module, "available_memory", lambda device: 4 * 2**30)
    monkeypatch.setattr(train_module, "CharLM", lambda *a, **k: pytest.fail("built the model first"))
    with pytest.raises(ValueError, match=r"logits .* × a vocabulary of 70,000 characters\)"):
        train(tiny(tmp_path / "x", corpus=str(corpus), max_chars=None, batch_size=64, block_size=256))


def test_the_check_uses_the_gpus_free_memory(monkeypatch):
    monkeypatch.setattr(memory_module.torch.cuda, "mem_get_info", lambda device=None: (2**30, 80 * 2**30))
    monkeypatch.setattr(memory_module.torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    config = TrainConfig(out="runs/x", batch_size=64, block_size=1024, n_layer=12, d_model=768, n_head=12)
    with pytest.raises(ValueError, match=r"memory on cuda:0, more than the 1\.0 GiB free"):
        memory_module.check_memory(config, torch.device("cuda", 0), 65)


# --------------------------------------------------------------------------- #
# 10. Numbers at the edges, devices, text beyond the Basic Multilingual Plane
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("args, message", [
    (["--lr", "nan"], "lr must be a finite number"),
    (["--min-lr=-inf"], "min_lr must be a finite number"),
    (["--dropout", "inf"], "dropout must be a finite number"),
    (["--grad-clip", "0"], "grad_clip > 0"),
    (["--weight-decay=-1"], "weight_decay must be >= 0"),
    (["--weight-decay", "1e30"], "lr × weight_decay must be below 1"),
    (["--beta1", "1"], r"beta1 must be in [0, 1)"),
    (["--val-fraction", "1"], "val_fraction must be in (0, 1)"),
    (["--steps", "0"], "steps must be a positive integer"),
    (["--batch-size=-4"], "batch_size must be a positive integer"),
    (["--eval-batches", "0"], "eval_batches must be a positive integer"),
    (["--warmup=-1"], "warmup must be an integer >= 0"),
    (["--seed", str(2**64)], "seed must be at most 2**32 - 1"),
    (["--max-chars", "0"], "max_chars must be a positive integer"),
    (["--block-size", "99999999999999999999"], "this run needs at least"),
])
def test_numeric_extremes_are_one_clear_error(tmp_path, cli_in_process, args, message):
    status, stderr = cli_in_process("train", *TINY_ARGS, *args, "--out", str(tmp_path / "x"))
    assert status == 2 and message in stderr, stderr
    assert "Traceback" not in stderr and not (tmp_path / "x").exists()


@pytest.mark.parametrize("change, message", [
    ({"max_chars": True}, "max_chars must be a positive integer"),
    ({"stop_at": True}, "stop_at must be a positive integer"),
    ({"seed": 2**64}, "seed must be at most"),
])
def test_bools_and_huge_seeds_from_python_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        tiny(Path("x"), **change).validate()


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="checks the message on a machine without MPS")
def test_mps_without_mps_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"--device mps was asked for, but this machine has no MPS"):
        train(tiny(tmp_path / "x", device="mps"))
    assert not (tmp_path / "x").exists()


def test_a_gpu_index_this_machine_does_not_have_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(runtime.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(runtime.torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match=r"--device cuda:3 was asked for, but this machine has 1 CUDA GPU\(s\), "
                                         "cuda:0 to cuda:0"):
        choose_device("cuda:3", 0)
    with pytest.raises(ValueError, match=r"LOCAL_RANK=2, but this machine has 1 CUDA GPU\(s\)"):
        choose_device("auto", 2)
    assert choose_device("cuda", 0) == torch.device("cuda", 0)


def test_a_corpus_of_emoji_trains_resumes_and_samples(tmp_path):
    """Characters beyond the Basic Multilingual Plane (four UTF-8 bytes, one id each)."""
    corpus = tmp_path / "emoji.txt"
    corpus.write_text("🙂 hello 🎉 world 🚀 𝄞 music 🐍 text\n" * 300, encoding="utf-8")
    out = tmp_path / "run"
    train(tiny(out, corpus=str(corpus), max_chars=None, stop_at=4))
    assert train(tiny(out, corpus=str(corpus), max_chars=None, resume=True)).step == 8
    model, tokenizer, _ = load_model(out / "best.pt")
    assert {"🙂", "🎉", "🚀", "𝄞", "🐍"} <= set(tokenizer.chars)
    assert tokenizer.decode(tokenizer.encode("🐍 🚀")) == "🐍 🚀"
    text = tokenizer.decode(model.generate(tokenizer.encode("🙂")[None], 20, generator=torch.Generator())[0])
    assert text.startswith("🙂") and len(text) == 21
