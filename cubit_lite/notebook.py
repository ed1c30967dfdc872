"""Helpers of the book's notebooks: the call that starts every chapter, and the troubleshooting page's.

Each notebook's first code cell installs ``cubit_lite`` when it is missing (Colab) and then
calls :func:`setup_notebook`, so every chapter starts the same way in Jupyter, in Colab
and in the book's build::

    DEVICE = setup_notebook(seed=0)
    # cubit_lite 0.1.0 | Python 3.12.3 | NumPy 2.1.0 | torch 2.13.0 | seed 0 | device: cpu (2 threads)

The troubleshooting page shows each error message by making the code give it when the
page runs: :func:`show_error` for a Python call, :func:`show_command` for a command line
run in this process, :func:`show_process` for one run as a process of its own (to stop it
with Ctrl-C, or give it an environment). Each raises :class:`DidNotFail` when the call or
command does not fail as shown: the page cannot show a message that the code does not give.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import io
import os
import platform
import random
import shlex
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

DEVICES = ("auto", "cpu", "cuda")


def pick_device(requested: str = "auto") -> torch.device:
    """``"auto"`` gives the first CUDA GPU when there is one, else the CPU.

    ``"cuda"`` without a GPU is an error that says so, not a silent fall-back.
    """
    if requested not in DEVICES:
        raise ValueError(f"unknown device {requested!r}; allowed: {', '.join(DEVICES)}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "device 'cuda' was asked for but PyTorch sees no GPU; in Colab choose "
            "Runtime → Change runtime type → GPU, or use device='auto' to run on the CPU"
        )
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(requested)


def describe_device(device: torch.device) -> str:
    """A short human description: ``"cuda (Tesla T4)"`` or ``"cpu (2 threads)"``."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every GPU)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def setup_notebook(seed: int = 0, *, device: str = "auto", quiet: bool = False) -> torch.device:
    """Seed everything, choose the device, print one line that says what was chosen.

    Also turns off the ``tqdm`` monitor thread, which otherwise warns in notebooks. Returns
    the ``torch.device`` to compute on.
    """
    import cubit_lite  # the package version, without a circular import at module load

    seed_everything(seed)
    chosen = pick_device(device)
    try:
        import tqdm

        tqdm.tqdm.monitor_interval = 0
    except ImportError:  # tqdm is a dependency; this only guards odd environments
        pass
    if not quiet:
        print(
            f"cubit_lite {cubit_lite.__version__} | Python {platform.python_version()} | NumPy {np.__version__} | "
            f"torch {torch.__version__} | seed {seed} | device: {describe_device(chosen)}"
        )
    return chosen


# --------------------------------------------------------------------------- #
# The troubleshooting page: every message it shows is the one the code gives when it runs
# --------------------------------------------------------------------------- #
class DidNotFail(AssertionError):
    """A call or command shown failing ran without its error: the message shown for it is gone."""


def _described(call: Callable[[], object]) -> str:
    try:
        return inspect.getsource(call).strip()
    except (OSError, TypeError):  # no source to show (a builtin, or code typed at a prompt)
        return repr(call)


def show_error(call: Callable[[], object]) -> None:
    """Call ``call()``, which must raise, and print the error as Python reports it (``ValueError: ...``).

    Raises :class:`DidNotFail` when ``call()`` returns: a page cannot show a message that
    the code does not give (its build fails instead).
    """
    try:
        call()
    except Exception as error:
        print("".join(traceback.format_exception_only(error)), end="")
        return
    raise DidNotFail(f"{_described(call)} ran without an error: the message shown for it is gone")


def _fold_usage(text: str) -> str:
    """argparse's usage (every option, wrapped over many lines) as its first line, then ``…``."""
    folded: list[str] = []
    for line in text.splitlines():
        if folded and folded[-1].startswith("usage: ") and line[:1].isspace():
            if not folded[-1].endswith(" …"):
                folded[-1] += " …"
            continue
        folded.append(line)
    return "\n".join(folded)


def _show(output: str, status: int) -> None:
    print(_fold_usage(output.rstrip("\n")))
    print(f"[exit status {status}]")


def _checked(command: str, status: int, expected: int) -> None:
    if status != expected:
        raise DidNotFail(f"`{command}` ended with exit status {status}, not {expected}: the message shown for it "
                         "is gone or another")


_SCRIPTS: dict[Path, ModuleType] = {}


def _entry_point(words: list[str]) -> tuple[Callable[..., object], list[str], dict[str, str]]:
    """The ``cli`` function a command line runs, its arguments, and its ``prog`` where it takes one."""
    if len(words) >= 3 and words[:2] == ["python", "-m"]:
        module = importlib.import_module(words[2])
        argv, prog = words[3:], " ".join(words[:3])
    elif len(words) >= 2 and words[0] == "python" and words[1].endswith(".py"):
        path = Path(words[1]).resolve()
        if path not in _SCRIPTS:
            spec = importlib.util.spec_from_file_location(path.stem, path)
            if spec is None or spec.loader is None or not path.is_file():
                raise FileNotFoundError(f"no Python script at {words[1]} (from {Path.cwd()})")
            _SCRIPTS[path] = module = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = module  # dataclasses look their module up there
            spec.loader.exec_module(module)
        module, argv, prog = _SCRIPTS[path], words[2:], words[1]
    else:
        raise ValueError(f"a command must be `python -m MODULE ...` or `python SCRIPT.py ...`; got {' '.join(words)!r}")
    cli = getattr(module, "cli", None)
    if not callable(cli):
        raise ValueError(f"{words[1] if words[1] != '-m' else words[2]} has no cli() to run in this process")
    takes_prog = "prog" in inspect.signature(cli).parameters
    return cli, argv, ({"prog": prog} if takes_prog else {})


def show_command(command: str, *, status: int = 2) -> None:
    """Run ``command`` (``python -m cubit_lite.train ...``, ``python experiments/run_lm.py ...``) in this
    process, through the ``cli()`` that the command line calls, and print what it wrote and its exit status.

    The command must end with exit status ``status`` (2, a refusal, by default), else
    :class:`DidNotFail`. Standard output and standard error are shown together, as a terminal shows
    them; argparse's usage, which lists every option, is shortened to its first line.
    """
    words = shlex.split(command)
    cli, argv, prog = _entry_point(words)
    output, code = io.StringIO(), 0
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output), \
                _replaced(sys, "argv", [words[1] if words[1] != "-m" else words[2], *argv]):
            try:
                cli(argv, **prog)
            except SystemExit as exit:
                if isinstance(exit.code, str):
                    print(exit.code, file=sys.stderr)
                code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    except BaseException:  # a crash, not an exit: what the command wrote goes with the traceback
        print(output.getvalue(), end="")
        raise
    _show(output.getvalue(), code)
    _checked(command, code, status)


@contextlib.contextmanager
def _replaced(owner: object, name: str, value: object) -> Iterator[None]:
    before = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, before)


def show_process(command: str, *, status: int, env: Mapping[str, str] | None = None,
                 interrupt: int | None = None, when: str | None = None, timeout: float = 120) -> None:
    """Run ``command`` as a process of its own (``python`` is this Python), and print what it wrote and its
    exit status, which must be ``status`` (else :class:`DidNotFail`).

    ``env`` adds environment variables. ``interrupt`` sends that signal (``signal.SIGINT`` is
    Ctrl-C) once the process has written something, or, with ``when``, once the file ``when``
    exists: the moment a reader would press Ctrl-C.
    """
    words = shlex.split(command)
    if not words or words[0] != "python":
        raise ValueError(f"a command must start with `python`; got {command!r}")
    with subprocess.Popen([sys.executable, *words[1:]], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env={**os.environ, **(env or {})}) as process:
        first = b""
        if interrupt is not None:
            first = _wait_for_start(process, when, timeout)
            process.send_signal(interrupt)
        try:
            rest, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    _show((first + rest).decode("utf-8", errors="replace"), process.returncode)
    _checked(command, process.returncode, status)


def _wait_for_start(process: subprocess.Popen, when: str | None, timeout: float) -> bytes:
    """Wait until ``process`` wrote its first byte (returned) or until the file ``when`` exists."""
    assert process.stdout is not None  # opened as a pipe
    if when is None:
        first = os.read(process.stdout.fileno(), 1)  # one byte, none left in a buffer
        if first:
            return first
    else:
        deadline = time.monotonic() + timeout
        while not Path(when).exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if Path(when).exists():
            return b""
    process.kill()
    output = process.stdout.read().decode("utf-8", errors="replace")
    waited_for = f"{when} to appear" if when else "its first output"
    raise DidNotFail(f"the process ended before {waited_for} (or {timeout:g} s passed), so it could not be "
                     f"interrupted; it wrote:\n{output}")
