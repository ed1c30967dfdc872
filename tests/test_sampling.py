"""Sampling: generation linear in its length and equal to the algorithm it replaced, text streamed by
the command line as it is generated, checkpoints whose parts disagree, and the command line's edges
(numbers at their extremes, text beyond the Basic Multilingual Plane, Ctrl-C, ``| head``, a terminal)."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest
import torch
from torch.overrides import TorchFunctionMode

from cubit_lite import sample
from cubit_lite.checkpoint import save_checkpoint
from cubit_lite.data import CharTokenizer
from cubit_lite.mixers import MIXER_NAMES
from cubit_lite.model import CharLM, ModelConfig
from cubit_lite.sample import load_for_sampling, sample_text, show_progress, stream_text

PYTHON = sys.executable
TEXT = "To be, or not to be: that is the question.\n😀 ☃ 𝄞\n"  # three characters beyond the BMP
TOKENIZER = CharTokenizer.from_text(TEXT)


def tiny(mixer="transformer", **changes) -> ModelConfig:
    values = dict(vocab_size=17, block_size=8, n_layer=2, n_head=2, d_model=16, mixer=mixer)
    values.update(changes)
    return ModelConfig(**values)


@torch.no_grad()
def reference_generate(model, idx, max_new_tokens, *, temperature=1.0, top_k=None, generator=None):
    """``CharLM.generate`` before streaming (commit b0e4e60), minus its argument checks: at every
    slide of the window it joined the whole history so far, ``O(N²)`` in the number of tokens."""
    was_training = model.training
    model.eval()
    window = model.config.block_size
    context = idx[:, -window:]
    caches = model.new_caches()
    logits, _ = model(context, caches=caches)
    out = [idx]
    for _ in range(max_new_tokens):
        next_logits = logits[:, -1, :].float() / temperature
        if top_k is not None and top_k < next_logits.shape[-1]:
            kth = torch.topk(next_logits, top_k, dim=-1).values[:, -1:]
            next_logits = next_logits.masked_fill(next_logits < kth, float("-inf"))
        probs = torch.softmax(next_logits, dim=-1)
        token = torch.multinomial(probs, 1, generator=generator)
        out.append(token)
        if len(caches[0]) >= window:
            recent = torch.cat(out, dim=1)[:, -(window // 2):]
            caches = model.new_caches()
            logits, _ = model(recent, caches=caches)
        else:
            logits, _ = model(token, caches=caches)
    model.train(was_training)
    return torch.cat(out, dim=1)


# --------------------------------------------------------------------------- #
# Generation: the same tokens as before, in work linear in their number
# --------------------------------------------------------------------------- #
CASES = [  # (mixer, positions, block_size, batch, prompt length, top_k): prompts shorter and longer than the block
    *[(mixer, "learned" if i % 2 else "rotary", 8, 2, 3, None) for i, mixer in enumerate(MIXER_NAMES)],
    ("transformer", "learned", 8, 1, 8, 5),
    ("cubit", "rotary", 9, 2, 20, 3),
    ("transformer", "rotary", 2, 1, 1, None),
    ("deltaformer", "learned", 3, 3, 5, 1),
]


@pytest.mark.parametrize("mixer, positions, block, batch, length, top_k", CASES)
def test_generate_and_stream_give_the_tokens_of_the_previous_algorithm(mixer, positions, block, batch, length, top_k):
    torch.manual_seed(0)
    model = CharLM(tiny(mixer, positions=positions, block_size=block), seed=1)
    prompt = torch.randint(0, 17, (batch, length))
    draws = lambda: torch.Generator().manual_seed(7)  # noqa: E731
    expected = reference_generate(model, prompt, 45, temperature=0.9, top_k=top_k, generator=draws())
    got = model.generate(prompt, 45, temperature=0.9, top_k=top_k, generator=draws())
    assert torch.equal(got, expected)
    chunks = list(model.stream(prompt, 45, temperature=0.9, top_k=top_k, generator=draws(), chunk_size=4))
    assert [c.shape for c in chunks] == [(batch, 4)] * 11 + [(batch, 1)]
    assert torch.equal(torch.cat([prompt, *chunks], dim=1), expected)
    assert model.training  # stream and generate put it back in the mode they found it in


class _CountIdJoins(TorchFunctionMode):
    """Counts the elements of every integer (token-id) tensor that ``torch.cat`` builds."""

    def __init__(self) -> None:
        super().__init__()
        self.elements = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func is torch.cat and not out.dtype.is_floating_point:
            self.elements += out.numel()
        return out


def _work(generate, model: CharLM, n: int) -> int:
    """Tokens passed through the model plus token ids joined by ``torch.cat``, to generate ``n`` tokens."""
    fed = []
    hook = model.register_forward_pre_hook(lambda module, args: fed.append(args[0].numel()))
    try:
        with _CountIdJoins() as joins:
            generate(model, torch.zeros(1, 3, dtype=torch.long), n, generator=torch.Generator().manual_seed(0))
    finally:
        hook.remove()
    return sum(fed) + joins.elements


def test_generation_work_grows_linearly_with_the_number_of_tokens():
    model = CharLM(tiny(n_layer=1), seed=0)
    new = [_work(CharLM.generate, model, n) for n in (150, 600)]
    old = [_work(reference_generate, model, n) for n in (150, 600)]
    assert new[1] <= 4.5 * new[0], new  # 4x the tokens, at most 4.5x the work: O(N · block)
    assert new[1] <= 10 * 600 * model.config.block_size
    assert old[1] > 8 * old[0], old  # the measure sees the quadratic history joins of the old algorithm


def test_stream_checks_its_arguments_when_called_and_restores_the_mode_when_closed():
    model = CharLM(tiny(), seed=0)
    with pytest.raises(ValueError, match="max_new_tokens must be an integer >= 0; got -1"):
        model.stream(torch.zeros(1, 2, dtype=torch.long), -1)  # raised before the first next()
    with pytest.raises(ValueError, match="chunk_size must be an integer >= 1; got 0"):
        model.stream(torch.zeros(1, 2, dtype=torch.long), 5, chunk_size=0)
    stream = model.stream(torch.zeros(1, 2, dtype=torch.long), 100, chunk_size=7)
    assert next(stream).shape == (1, 7) and not model.training
    stream.close()
    assert model.training
    assert list(model.stream(torch.zeros(2, 2, dtype=torch.long), 0)) == []


# --------------------------------------------------------------------------- #
# Checkpoints: the tokenizer, the model config and the weights must agree
# --------------------------------------------------------------------------- #
def _payload(tokenizer: CharTokenizer = TOKENIZER, **config_changes) -> dict:
    config = tiny(vocab_size=tokenizer.vocab_size, block_size=16, n_layer=1, **config_changes)
    model = CharLM(config, seed=0)
    return {"model_config": config.to_dict(), "tokenizer": tokenizer.to_dict(), "model": model.state_dict()}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A checkpoint of an untrained tiny model whose vocabulary is TEXT's characters (emoji included)."""
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", _payload())


def _with_nan(payload: dict) -> dict:
    payload["model"]["blocks.0.mlp.up.weight"][3, 1] = float("nan")
    return payload


def _other(part: str, payload: dict, value) -> dict:
    payload[part] = value
    return payload


BIGGER = CharTokenizer.from_text(TEXT + "Z")
MISMATCHES = {
    "tokenizer smaller than the model": (
        lambda: _other("tokenizer", _payload(), CharTokenizer(TOKENIZER.chars[:-1]).to_dict()),
        f"its tokenizer has {TOKENIZER.vocab_size - 1} characters but its model_config says vocab_size = "
        f"{TOKENIZER.vocab_size}; the tokenizer and the weights must come from one run"),
    "embedding smaller than config and tokenizer": (
        lambda: _other("model", _payload(BIGGER), _payload()["model"]),
        f"its weights embed {TOKENIZER.vocab_size} characters (token_embedding.weight is ({TOKENIZER.vocab_size}, "
        f"16)) but its model_config and tokenizer have vocab_size = {BIGGER.vocab_size}"),
    "another width": (
        lambda: _other("model", _payload(d_model=32), _payload()["model"]),
        f"its weight token_embedding.weight has shape ({TOKENIZER.vocab_size}, 16) but its model_config needs "
        f"({TOKENIZER.vocab_size}, 32)"),
    "a missing weight": (
        lambda: _other("model", _payload(), {k: v for k, v in _payload()["model"].items() if k != "norm.weight"}),
        "its weights lack norm.weight, which its model_config needs"),
    "a NaN weight": (
        lambda: _with_nan(_payload()),
        "its weight blocks.0.mlp.up.weight holds 1 NaN or infinite value; nothing can be sampled from it"),
    "an unreadable tokenizer": (
        lambda: _other("tokenizer", _payload(), {"type": "bpe", "merges": []}),
        "its tokenizer is unreadable (expected a dict {'type': 'char', 'chars': <str>}"),
}


@pytest.mark.parametrize("case", MISMATCHES)
def test_a_checkpoint_whose_parts_disagree_is_refused_before_sampling(tmp_path, cli_in_process, case):
    make, message = MISMATCHES[case]
    path = save_checkpoint(tmp_path / "bad.pt", make())
    status, stderr = cli_in_process("sample", "--checkpoint", str(path), "--chars", "20")
    assert status == 2 and stderr.startswith(f"error: {path}: {message}") and len(stderr.splitlines()) == 1, stderr
    with pytest.raises(ValueError, match="must come from one run|embed|needs|lack|NaN|unreadable"):
        load_for_sampling(path)


def test_a_tokenizer_from_another_model_is_refused(checkpoint):
    model, _ = load_for_sampling(checkpoint)
    with pytest.raises(ValueError, match=f"the tokenizer has 3 characters but the model's vocabulary has "
                                         f"{TOKENIZER.vocab_size}"):
        stream_text(model, CharTokenizer("abc"), "a", 10)


# --------------------------------------------------------------------------- #
# The command line in this process: numbers at their extremes, emoji, paths
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("args, message", [
    (["--chars", "-1"], "--chars must be 0 or more; got -1"),
    (["--temperature", "nan"], "--temperature must be a number from 0.001 to 1000 (for the most likely character "
                               "every time, use --top-k 1); got nan"),
    (["--temperature", "inf"], "--temperature must be a number from 0.001 to 1000"),
    (["--temperature", "0"], "--temperature must be a number from 0.001 to 1000 (for the most likely character "
                             "every time, use --top-k 1); got 0.0"),
    (["--temperature", "-0.5"], "--temperature must be a number from 0.001 to 1000"),
    (["--top-k", "0"], "--top-k must be 1 or more (leave it out to sample from every character); got 0"),
    (["--top-k", "-3"], "--top-k must be 1 or more (leave it out to sample from every character); got -3"),
    (["--seed", str(2**64)], f"--seed must be an integer from -2**63 to 2**64 - 1; got {2**64}"),
    (["--seed", str(-(2**63) - 1)], "--seed must be an integer from -2**63 to 2**64 - 1"),
    (["--device", "cuda:99"], "--device cuda:99 was asked for, but"),
    (["--chars", "1e6"], "invalid int value: '1e6'"),
])
def test_numbers_out_of_range_are_one_clear_error(checkpoint, cli_in_process, args, message):
    status, stderr = cli_in_process("sample", "--checkpoint", str(checkpoint), *args)
    assert status == 2 and message in stderr and "Traceback" not in stderr, stderr


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="MPS is available here")
def test_mps_without_mps_is_one_clear_error(checkpoint, cli_in_process):
    status, stderr = cli_in_process("sample", "--checkpoint", str(checkpoint), "--device", "mps")
    assert status == 2 and "--device mps was asked for, but MPS (Apple's GPU) is not available" in stderr


def _main(capsys, *args: str) -> str:
    """The command line in this process; its standard output."""
    capsys.readouterr()
    sample.main(list(args))
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out


@pytest.mark.parametrize("args", [
    ["--chars", "0"], ["--top-k", str(10**6)], ["--seed", str(2**64 - 1)], ["--seed", str(-(2**63))],
    ["--temperature", "0.001"], ["--temperature", "1000"], ["--top-k", "1"],
])
def test_numbers_at_the_edges_of_their_ranges_sample(checkpoint, capsys, args):
    out = _main(capsys, "--checkpoint", str(checkpoint), "--prompt", "To", "--chars", "30", *args)
    n = 0 if args == ["--chars", "0"] else 30
    assert out.startswith("To") and out.endswith("\n") and len(out) == len("To") + n + 1
    assert set(out) <= set(TEXT)


def test_the_command_line_prints_what_sample_text_returns(checkpoint, capsys):
    out = _main(capsys, "--checkpoint", str(checkpoint), "--prompt", "be", "--chars", "200", "--seed", "5",
                "--top-k", "4", "--temperature", "1.5")
    model, tokenizer = load_for_sampling(checkpoint)
    assert out == sample_text(model, tokenizer, "be", 200, seed=5, top_k=4, temperature=1.5) + "\n"


def test_characters_beyond_the_basic_multilingual_plane_work(checkpoint, capsys):
    model, tokenizer = load_for_sampling(checkpoint)
    assert "😀" in tokenizer.chars and "𝄞" in tokenizer.chars  # a tokenizer built from a corpus with emoji
    text = sample_text(model, tokenizer, "😀𝄞", 300, seed=2)
    assert text.startswith("😀𝄞") and len(text) == 302 and set(text) <= set(TEXT)
    assert set(text[2:]) & {"😀", "☃", "𝄞"}  # sampled too, one character each
    assert _main(capsys, "--checkpoint", str(checkpoint), "--prompt", "😀𝄞", "--chars", "300", "--seed", "2") \
        == text + "\n"


def test_a_prompt_character_outside_the_vocabulary_is_named(checkpoint, cli_in_process):
    status, stderr = cli_in_process("sample", "--checkpoint", str(checkpoint), "--prompt", "be🙂")
    assert status == 2 and "character '🙂' (U+1F642) at position 2 is not in the vocabulary" in stderr


def test_an_output_encoding_that_cannot_write_the_characters_is_refused_before_sampling(checkpoint, capsys,
                                                                                        monkeypatch):
    ascii_out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr(sys, "stdout", ascii_out)
    with pytest.raises(SystemExit) as exit:
        sample.main(["--checkpoint", str(checkpoint)])
    assert exit.value.code == 2
    assert capsys.readouterr().err == (
        "error: standard output's encoding (ascii) cannot write '☃' (U+2603), one of the model's "
        "characters: set PYTHONIOENCODING=utf-8 (or PYTHONUTF8=1) and run again\n")
    ascii_out.flush()
    assert ascii_out.buffer.getvalue() == b""  # nothing was written


def test_a_missing_checkpoint_or_a_folder_is_one_line(tmp_path, cli_in_process):
    status, stderr = cli_in_process("sample", "--checkpoint", str(tmp_path / "nope.pt"))
    assert (status, stderr) == (2, f"error: no checkpoint at {tmp_path / 'nope.pt'}\n")
    status, stderr = cli_in_process("sample", "--checkpoint", str(tmp_path))
    assert (status, stderr) == (2, f"error: {tmp_path} is a folder with no .pt file in it: give a checkpoint file "
                                   f"written by cubit_lite.train (a run's best.pt or latest.pt)\n")
    save_checkpoint(tmp_path / "best.pt", _payload())
    status, stderr = cli_in_process("sample", "--checkpoint", str(tmp_path))
    assert (status, stderr) == (2, f"error: {tmp_path} is a folder, not a checkpoint: give one of its .pt files "
                                   f"(best.pt), e.g. {tmp_path / 'best.pt'}\n")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_checkpoint_is_one_line(tmp_path, cli_in_process):
    path = save_checkpoint(tmp_path / "locked.pt", _payload())
    path.chmod(0)
    status, stderr = cli_in_process("sample", "--checkpoint", str(path))
    assert status == 2 and len(stderr.splitlines()) == 1 and "PermissionError" in stderr


def test_progress_is_drawn_only_on_a_terminal_that_is_not_also_where_the_text_goes():
    class Stream:
        def __init__(self, tty: bool | None):
            self.tty = tty

        def isatty(self) -> bool:
            if self.tty is None:
                raise ValueError("I/O operation on closed file")
            return self.tty

    assert show_progress(Stream(False), Stream(True))
    assert not show_progress(Stream(True), Stream(True))  # both on the terminal: the text is the progress
    assert not show_progress(Stream(False), Stream(False))
    assert not show_progress(Stream(False), Stream(None)) and not show_progress(Stream(False), object())


# --------------------------------------------------------------------------- #
# The command line in a real process: streaming, Ctrl-C, a closed pipe, a terminal
# --------------------------------------------------------------------------- #
def _start(checkpoint: Path, *args: str, stderr=subprocess.PIPE) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONIOENCODING": "utf-8"}
    return subprocess.Popen([PYTHON, "-m", "cubit_lite.sample", "--checkpoint", str(checkpoint), *args],
                            stdout=subprocess.PIPE, stderr=stderr, env=env)


def _read_at_least(process: subprocess.Popen, n_bytes: int, timeout: float = 60.0) -> bytes:
    """What the process writes to standard output, once ``n_bytes`` have arrived (or the timeout)."""
    assert process.stdout is not None
    received, deadline = b"", time.monotonic() + timeout
    while len(received) < n_bytes and time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                break
            received += chunk
    return received


def test_the_command_line_streams_text_as_it_comes_and_ctrl_c_ends_with_one_line(checkpoint):
    process = _start(checkpoint, "--prompt", "To", "--chars", str(10**12))  # never finishes by itself
    try:
        early = _read_at_least(process, 200)
        assert process.poll() is None, "the process should still be generating"
        assert early.startswith(b"To") and len(early) >= 200
        process.send_signal(signal.SIGINT)
        rest, stderr = process.communicate(timeout=30)
    finally:
        process.kill() if process.poll() is None else None
    assert process.returncode == 130
    lines = stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted: stopped after ") \
        and lines[0].endswith(f" of {10**12} characters"), stderr
    written = int(lines[0].split()[3])
    # Characters, not bytes; the count may lag the text by the one character written as Ctrl-C came.
    assert written >= len(early.decode("utf-8", errors="ignore")) - len("To") - 1
    assert abs(len((early + rest).decode()) - len("To") - written) <= 1


def test_a_reader_that_stops_reading_ends_it_quietly(checkpoint):
    process = _start(checkpoint, "--chars", str(10**12))
    try:
        assert len(_read_at_least(process, 100)) >= 100
        process.stdout.close()  # as `| head -c 100` does once it has its bytes
        stderr = process.stderr.read()
        process.wait(timeout=30)
    finally:
        process.kill() if process.poll() is None else None
    assert (process.returncode, stderr) == (141, b"")


def test_progress_goes_to_a_terminal_on_standard_error(checkpoint):
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a new pty is 0 columns wide
    shown: list[bytes] = []

    def read_terminal():
        while True:
            try:
                data = os.read(controller, 4096)
            except OSError:  # the process closed the terminal
                return
            if not data:
                return
            shown.append(data)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    process = _start(checkpoint, "--chars", "300", stderr=terminal)
    os.close(terminal)
    stdout, _ = process.communicate(timeout=60)
    reader.join(timeout=10)
    os.close(controller)
    assert process.returncode == 0 and len(stdout.decode()) == 1 + 300 + 1
    drawn = b"".join(shown).decode()
    assert "sampling: 100%" in drawn and "300/300" in drawn, drawn
