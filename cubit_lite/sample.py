"""Print text from a trained model: ``python -m cubit_lite.sample --checkpoint runs/x/best.pt``.

Generation uses the mixers' incremental caches (one cached step per character), with
temperature and top-k sampling, and is reproducible given ``--seed``. Its time and
memory grow linearly with ``--chars``, and the text is written as it is generated; a
progress bar goes to standard error when that is a terminal and standard output is not
(when both are, the text itself shows the progress).

Before anything is generated, the checkpoint's parts are checked against each other
(tokenizer, ``model_config`` and weights: the vocabulary's size, every weight's shape,
finite values), and the prompt against the vocabulary; a mismatch is one line naming
what differs. Ctrl-C ends with one line and exit status 130; a reader that stops
reading (``| head``) ends it quietly.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TextIO

import torch
from tqdm import tqdm

from .checkpoint import load_checkpoint
from .data import CharTokenizer
from .model import MAX_TEMPERATURE, MIN_TEMPERATURE, CharLM, ModelConfig

__all__ = ["load_for_sampling", "main", "sample_text", "show_progress", "stream_text"]

# torch.Generator.manual_seed takes any integer in [-2**63, 2**64 - 1].
SEED_MIN, SEED_MAX = -(2**63), 2**64 - 1
FLUSH_SECONDS = 0.1  # the most that generated text waits in the buffer before it is written out
EXIT_INTERRUPTED = 130  # 128 + SIGINT: what shells report for a program ended by Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what shells report for a writer whose reader went away


# --------------------------------------------------------------------------- #
# Loading, with every part of the checkpoint checked against the others
# --------------------------------------------------------------------------- #
def load_for_sampling(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[CharLM, CharTokenizer]:
    """The model (eval mode, float32, on ``device``) and tokenizer of the checkpoint at ``path``.

    The file is read once, without running code from it (:func:`~cubit_lite.checkpoint.load_checkpoint`),
    and its parts are checked against each other before the model is built.

    Raises:
        FileNotFoundError: no file at ``path`` (a folder says which ``.pt`` files it holds).
        ValueError: the file is not a readable checkpoint, or its parts disagree (the
            message names what differs).
    """
    path = Path(path)
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.pt"))
        if not inside:
            raise FileNotFoundError(f"{path} is a folder with no .pt file in it: give a checkpoint file written by "
                                    f"cubit_lite.train (a run's best.pt or latest.pt)")
        example = path / ("best.pt" if "best.pt" in inside else inside[0])
        raise FileNotFoundError(f"{path} is a folder, not a checkpoint: give one of its .pt files "
                                f"({', '.join(inside)}), e.g. {example}")
    payload = load_checkpoint(path, map_location="cpu")
    tokenizer, config, weights = _checked_parts(payload, path)
    model = CharLM(config, seed=0)  # seed=0: leave the global generator alone; every weight is replaced
    _check_weights_fit(model, weights, path)
    model.load_state_dict({name: t.float() if t.is_floating_point() else t for name, t in weights.items()})
    return model.to(device).eval(), tokenizer


def _checked_parts(payload: dict, path: Path) -> tuple[CharTokenizer, ModelConfig, dict[str, torch.Tensor]]:
    """The tokenizer, model config and weights of a checkpoint, each readable and of one vocabulary."""
    try:
        tokenizer = CharTokenizer.from_dict(payload["tokenizer"])
    except ValueError as err:
        raise ValueError(f"{path}: its tokenizer is unreadable ({err})") from err
    try:
        config = ModelConfig.from_dict(payload["model_config"])
    except (ValueError, TypeError, AttributeError) as err:
        raise ValueError(f"{path}: its model_config is unreadable ({type(err).__name__}: {err})") from err
    weights = payload["model"]
    if not (isinstance(weights, Mapping) and all(isinstance(t, torch.Tensor) for t in weights.values())):
        raise ValueError(f"{path}: its weights ('model') are not a dictionary of tensors")
    if tokenizer.vocab_size != config.vocab_size:
        raise ValueError(f"{path}: its tokenizer has {tokenizer.vocab_size} characters but its model_config says "
                         f"vocab_size = {config.vocab_size}; the tokenizer and the weights must come from one run")
    embedding = weights.get("token_embedding.weight")
    if embedding is not None and embedding.dim() == 2 and embedding.shape[0] != config.vocab_size:
        raise ValueError(f"{path}: its weights embed {embedding.shape[0]} characters (token_embedding.weight is "
                         f"{tuple(embedding.shape)}) but its model_config and tokenizer have vocab_size = "
                         f"{config.vocab_size}")
    return tokenizer, config, dict(weights)


def _check_weights_fit(model: CharLM, weights: dict[str, torch.Tensor], path: Path) -> None:
    """Raise :class:`ValueError` naming the first weight that is missing, extra, misshapen or not finite."""
    expected = model.state_dict()
    missing = [name for name in expected if name not in weights]
    if missing:
        raise ValueError(f"{path}: its weights lack {', '.join(missing[:3])}"
                         f"{f' and {len(missing) - 3} more' if len(missing) > 3 else ''}, which its model_config needs")
    extra = [name for name in weights if name not in expected]
    if extra:
        raise ValueError(f"{path}: its weights hold {', '.join(extra[:3])}"
                         f"{f' and {len(extra) - 3} more' if len(extra) > 3 else ''}, which its model_config "
                         f"does not have")
    for name, tensor in weights.items():
        if tensor.shape != expected[name].shape:
            raise ValueError(f"{path}: its weight {name} has shape {tuple(tensor.shape)} but its model_config "
                             f"needs {tuple(expected[name].shape)}")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise ValueError(f"{path}: its weight {name} holds {bad} NaN or infinite value{'s' if bad != 1 else ''}; "
                             f"nothing can be sampled from it (use a checkpoint from before the run diverged)")


# --------------------------------------------------------------------------- #
# Sampling
# --------------------------------------------------------------------------- #
def stream_text(
    model: CharLM,
    tokenizer: CharTokenizer,
    prompt: str,
    n_chars: int,
    *,
    temperature: float = 0.8,
    top_k: int | None = None,
    seed: int = 0,
) -> Iterator[str]:
    """The ``n_chars`` characters sampled after ``prompt``, one at a time as they are generated.

    Time and memory are linear in ``n_chars`` (:meth:`CharLM.stream`). Everything is
    checked when this is called, before anything runs.

    Raises:
        ValueError: the prompt is empty or has a character the tokenizer does not know
            (the message names it), the tokenizer does not belong to the model (their
            vocabulary sizes differ), or a number is out of range.
    """
    if not isinstance(prompt, str) or not prompt:
        raise ValueError("the prompt is empty: give at least one character, e.g. a newline")
    if not isinstance(n_chars, int) or isinstance(n_chars, bool) or n_chars < 0:
        raise ValueError(f"n_chars must be a non-negative integer; got {n_chars!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or not SEED_MIN <= seed <= SEED_MAX:
        raise ValueError(f"seed must be an integer from -2**63 to 2**64 - 1; got {seed!r}")
    embedded = model.token_embedding.weight.shape[0]
    if not tokenizer.vocab_size == model.config.vocab_size == embedded:
        raise ValueError(f"the tokenizer has {tokenizer.vocab_size} characters but the model's vocabulary has "
                         f"{model.config.vocab_size} (its embedding {embedded}): use the tokenizer saved with "
                         f"the model (load_for_sampling and load_model return both)")
    device = next(model.parameters()).device
    ids = tokenizer.encode(prompt).to(device)[None, :]  # (1, T0)
    generator = torch.Generator(device=device).manual_seed(seed)
    chunks = model.stream(ids, n_chars, temperature=temperature, top_k=top_k, generator=generator)
    return (tokenizer.decode(chunk[0]) for chunk in chunks)


def sample_text(
    model: CharLM,
    tokenizer: CharTokenizer,
    prompt: str,
    n_chars: int,
    *,
    temperature: float = 0.8,
    top_k: int | None = None,
    seed: int = 0,
) -> str:
    """``prompt`` followed by ``n_chars`` sampled characters (all of :func:`stream_text`, joined).

    Raises :class:`ValueError` as :func:`stream_text` does.
    """
    pieces = stream_text(model, tokenizer, prompt, n_chars, temperature=temperature, top_k=top_k, seed=seed)
    return prompt + "".join(pieces)


# --------------------------------------------------------------------------- #
# The command line
# --------------------------------------------------------------------------- #
def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def show_progress(out: object, err: object) -> bool:
    """Whether to draw a progress bar on ``err``: it is a terminal and ``out`` (where the text goes) is not.

    When both are terminals the text appearing is the progress, and a bar would break it up.
    """
    return _isatty(err) and not _isatty(out)


def _check_printable(tokenizer: CharTokenizer, out: TextIO) -> None:
    """Refuse, before generating, a model whose characters ``out``'s encoding cannot write."""
    encoding = getattr(out, "encoding", None) or "utf-8"
    if getattr(out, "errors", "strict") != "strict":
        return
    try:
        tokenizer.chars.encode(encoding)
    except UnicodeEncodeError as err:
        bad = err.object[err.start]
        raise ValueError(f"standard output's encoding ({encoding}) cannot write {bad!r} (U+{ord(bad):04X}), one of "
                         f"the model's characters: set PYTHONIOENCODING=utf-8 (or PYTHONUTF8=1) and run again") from err
    except LookupError:  # an encoding Python does not know: let writing say so
        return


class _Printer:
    """Writes text to ``out`` as it comes (flushed at least every :data:`FLUSH_SECONDS`) and counts it."""

    def __init__(self, out: TextIO, err: TextIO, total: int) -> None:
        self.out, self.err, self.total, self.written = out, err, total, 0
        self.bar: tqdm | None = None  # drawn once sampling starts, not while the checkpoint loads

    def print(self, prompt: str, pieces: Iterator[str]) -> None:
        self.bar = bar = tqdm(total=self.total, unit="char", desc="sampling", file=self.err,
                              disable=not show_progress(self.out, self.err))
        self.out.write(prompt)
        self.out.flush()
        flushed = time.monotonic()
        for piece in pieces:
            self.out.write(piece)
            self.written += len(piece)
            bar.update(len(piece))
            if time.monotonic() - flushed >= FLUSH_SECONDS:
                self.out.flush()
                flushed = time.monotonic()
        self.out.write("\n")
        self.out.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _silence(out: TextIO) -> None:
    """Point ``out``'s file descriptor at the null device, so that Python's last flush at exit cannot fail."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, out.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):  # no file descriptor (captured output): nothing to silence
        pass


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="a .pt file written by cubit_lite.train")
    parser.add_argument("--prompt", default="\n", help="text to continue (default: a newline)")
    parser.add_argument("--chars", type=int, default=500, help="how many characters to generate (0 or more)")
    parser.add_argument("--temperature", type=float, default=0.8,
                        help=f"from {MIN_TEMPERATURE:g} to {MAX_TEMPERATURE:g}; lower is more predictable")
    parser.add_argument("--top-k", type=int, default=None,
                        help="sample from the k most likely characters only (default: from all)")
    parser.add_argument("--seed", type=int, default=0, help="any integer from -2**63 to 2**64 - 1")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``parser.error`` (exit status 2) naming the first option out of range."""
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", args.device):
        parser.error(f"--device must be cpu, cuda, cuda:N or mps; got {args.device!r}")
    if args.device.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            parser.error(f"--device {args.device} was asked for, but no CUDA GPU is available: use --device cpu")
        index = int(args.device.partition(":")[2] or 0)
        if index >= count:
            have = "1 CUDA GPU (cuda:0)" if count == 1 else f"{count} CUDA GPUs (cuda:0 to cuda:{count - 1})"
            parser.error(f"--device {args.device} was asked for, but this machine has {have}: "
                         f"use one of those or --device cpu")
    if args.device == "mps" and not torch.backends.mps.is_available():
        parser.error("--device mps was asked for, but MPS (Apple's GPU) is not available: use --device cpu")
    if args.chars < 0:
        parser.error(f"--chars must be 0 or more; got {args.chars}")
    if not MIN_TEMPERATURE <= args.temperature <= MAX_TEMPERATURE:  # False for nan too
        parser.error(f"--temperature must be a number from {MIN_TEMPERATURE:g} to {MAX_TEMPERATURE:g} "
                     f"(for the most likely character every time, use --top-k 1); got {args.temperature}")
    if args.top_k is not None and args.top_k < 1:
        parser.error(f"--top-k must be 1 or more (leave it out to sample from every character); got {args.top_k}")
    if not SEED_MIN <= args.seed <= SEED_MAX:
        parser.error(f"--seed must be an integer from -2**63 to 2**64 - 1; got {args.seed}")


def main(argv: list[str] | None = None, prog: str = "python -m cubit_lite.sample") -> None:
    """Parse ``argv``, check the checkpoint, and write the prompt and its continuation to standard output."""
    parser = _parser(prog)
    args = parser.parse_args(argv)
    _check_args(parser, args)
    out, err = sys.stdout, sys.stderr
    printer = _Printer(out, err, args.chars)
    try:
        model, tokenizer = load_for_sampling(args.checkpoint, device=args.device)
        pieces = stream_text(model, tokenizer, args.prompt, args.chars, temperature=args.temperature,
                             top_k=args.top_k, seed=args.seed)
        _check_printable(tokenizer, out)
        printer.print(args.prompt, pieces)
    except (ValueError, FileNotFoundError) as error:
        printer.close()
        print(f"error: {error}", file=err)
        raise SystemExit(2) from error
    except KeyboardInterrupt:
        printer.close()
        try:
            if _isatty(out):
                out.write("\n")  # end the half-written line before the message
            out.flush()
        except BrokenPipeError:
            _silence(out)
        print(f"interrupted: stopped after {printer.written} of {args.chars} characters", file=err)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        printer.close()
        _silence(out)
        raise SystemExit(EXIT_BROKEN_PIPE) from None
    printer.close()


def cli(argv: list[str] | None = None, prog: str = "cubit-sample") -> None:
    """The command line: ``cubit-sample`` (console script) and ``python -m cubit_lite.sample``."""
    main(argv, prog)


if __name__ == "__main__":
    cli(prog="python -m cubit_lite.sample")
