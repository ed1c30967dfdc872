"""The checks the benchmarks' command lines share: numbers, the device, memory and the output file.

Each refuses a bad value before any work, as argparse does: one line
``SCRIPT: error: WHAT WAS WRONG AND WHAT IS ALLOWED`` and exit status 2, never a traceback
(or a results file of failed rows) after minutes of work.

* :func:`integer` and :func:`number` are ``type=`` functions for ``add_argument``: a
  value outside its range, NaN, an infinity or text is refused while parsing;
* :func:`device` reads ``--device``; :func:`need_cuda` refuses what runs only on a CUDA GPU;
* :func:`check_memory` refuses sizes whose tensors cannot fit in the device's free memory;
* :func:`check_out` refuses an ``--out`` that already holds a file (unless ``--overwrite``).
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from pathlib import Path

import torch

from cubit_lite.memory import available_memory

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["add_overwrite", "check_memory", "check_out", "device", "integer", "need_cuda", "number"]


def integer(low: int, high: int | None = None, *, allowed: str | None = None) -> Callable[[str], int]:
    """A ``type=`` function: the integer written in the argument, from ``low`` to ``high`` (no limit if None).

    ``allowed`` says in the message what is allowed (default: ``an integer from LOW to HIGH``).
    """
    allowed = allowed or (f"an integer from {low} to {high}" if high is not None else f"an integer of at least {low}")

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {allowed}; got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {allowed}; got {text}")
        return value

    return parse


def number(above: float, at_most: float) -> Callable[[str], float]:
    """A ``type=`` function: a finite number ``x`` with ``above < x <= at_most`` (NaN and infinities refused)."""
    allowed = f"a number above {above:g} and at most {at_most:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {allowed}; got {text!r}") from None
        if not (math.isfinite(value) and above < value <= at_most):  # False for NaN
            raise argparse.ArgumentTypeError(f"must be {allowed}; got {text}")
        return value

    return parse


def default_device() -> str:
    """``cuda`` where PyTorch sees a GPU, else ``cpu``: every benchmark's default ``--device``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def device(parser: argparse.ArgumentParser, text: str) -> torch.device:
    """The device ``--device`` names, or ``parser.error`` if it is not one, or not on this machine."""
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", text):
        parser.error(f"--device must be cpu, cuda, cuda:N or mps; got {text!r}")
    if text.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            parser.error(f"--device {text} was asked for, but no CUDA GPU is available: use --device cpu")
        index = int(text.partition(":")[2] or 0)
        if index >= count:
            have = "1 CUDA GPU (cuda:0)" if count == 1 else f"{count} CUDA GPUs (cuda:0 to cuda:{count - 1})"
            parser.error(f"--device {text} was asked for, but this machine has {have}: use one of those or "
                         "--device cpu")
    if text == "mps" and not torch.backends.mps.is_available():
        parser.error("--device mps was asked for, but MPS (Apple's GPU) is not available: use --device cpu")
    return torch.device(text)


def need_cuda(parser: argparse.ArgumentParser, where: torch.device, asked: list[str], why: str) -> None:
    """``parser.error`` if ``asked`` (things the user asked for that run only on CUDA, for the reason ``why``)
    is not empty and ``where`` is not a CUDA device."""
    if asked and where.type != "cuda":
        one = len(asked) == 1
        parser.error(f"{', '.join(asked)} {'needs' if one else 'need'} a CUDA GPU ({why}), and --device is {where}: "
                     f"leave {'it' if one else 'them'} out, or use --device cuda on a machine with a CUDA GPU")


def _gib(size: int) -> str:
    return f"{size / 2**30:,.2f} GiB"


def check_memory(parser: argparse.ArgumentParser, need: int, where: torch.device, what: str, lower: str) -> None:
    """``parser.error`` if ``need`` bytes (a lower bound of ``what``) exceed the free memory of ``where``."""
    have = available_memory(where)
    if have is not None and need > have:
        parser.error(f"this needs at least {_gib(need)} of memory on {where} for {what}, more than the {_gib(have)} "
                     f"free: lower {lower}")


def add_overwrite(parser: argparse.ArgumentParser) -> None:
    """The ``--overwrite`` flag that :func:`check_out` reads."""
    parser.add_argument("--overwrite", action="store_true", help="replace the file at --out if there is one")


def check_out(parser: argparse.ArgumentParser, out: Path | str | None, overwrite: bool) -> None:
    """``parser.error`` if ``--out`` names a folder, or a file that exists and ``--overwrite`` was not given."""
    if out is None:
        return
    out = Path(out)
    if out.is_dir():
        parser.error(f"--out {out} is a folder: give the name of the results file to write, e.g. {out / 'result.json'}")
    if out.exists() and not overwrite:
        parser.error(f"--out {out} already exists: it is kept; choose another --out, or add --overwrite to "
                     "replace it")
