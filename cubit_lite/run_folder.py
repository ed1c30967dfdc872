"""A training run's folder: never silently overwritten, never shared by two trainers.

:func:`claim_run_folder` is what :func:`cubit_lite.train.train` calls before any heavy
work. It

* refuses a folder that already holds a run (``config.json``, ``metrics.jsonl``,
  ``latest.pt`` or ``best.pt``) unless the run is resumed (``resume``) or replaced on
  purpose (``overwrite``, which says what it removes);
* refuses ``resume`` when the folder holds a run's files but no ``latest.pt`` to
  continue from (starting over there would delete the log and replace ``best.pt``);
* takes an exclusive lock, ``.lock`` in the folder, held until :meth:`RunFolder.release`
  (or the process ends: the operating system drops the lock of a dead process, so a
  killed run never leaves the folder locked); a second trainer is refused with a message
  naming the process that holds it;
* removes the temporary files an interrupted checkpoint write leaves behind
  (``.NAME.tmp-PID``).

The lock uses ``fcntl.flock`` (Linux, macOS, Colab). Where ``fcntl`` does not exist the
folder is claimed without a lock.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the overwrite checks still apply
    fcntl = None  # type: ignore[assignment]  # a module or None; every use checks for None first

__all__ = ["RUN_FILES", "RunFolder", "RunFolderError", "claim_run_folder"]

RUN_FILES = ("config.json", "metrics.jsonl", "latest.pt", "best.pt")
LOCK_NAME = ".lock"


class RunFolderError(ValueError):
    """The run folder cannot be used as asked (it holds a run, or another trainer has it)."""


@dataclass
class RunFolder:
    """A claimed run folder; ``release()`` drops the lock (idempotent)."""

    path: Path
    removed_temporaries: list[Path]
    _lock_fd: int | None = None

    def release(self) -> None:
        if self._lock_fd is not None:
            if fcntl is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _holder(lock_path: Path) -> str:
    try:
        info = json.loads(lock_path.read_text(encoding="utf-8"))
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["started"]))
        return f"process {info['pid']} on {info['host']}, started {started}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def _lock(folder: Path) -> int | None:
    """An exclusive, non-blocking lock on ``folder/.lock``; the descriptor, or an error naming the holder."""
    if fcntl is None:
        return None
    lock_path = folder / LOCK_NAME
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunFolderError(
            f"{folder} is in use by {_holder(lock_path)}: two trainers must not share a run folder; "
            "wait for it to finish, stop it, or choose another --out") from None
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}).encode())
    return fd


def _remove_temporaries(folder: Path) -> list[Path]:
    """Delete ``.NAME.tmp-PID`` files left by interrupted atomic writes (ours only: the lock is held)."""
    stale = sorted(p for p in folder.glob(".*.tmp-*") if p.is_file())
    for path in stale:
        path.unlink()
    return stale


def claim_run_folder(out: str | os.PathLike, *, resume: bool, overwrite: bool) -> RunFolder:
    """Create or reuse ``out`` for a run, lock it, and clean it; see the module docstring.

    With ``overwrite`` the previous run's files (:data:`RUN_FILES`) are deleted, and the
    message printed says which. Raises :class:`RunFolderError` with what was wrong and
    what is allowed, before anything is written.
    """
    if resume and overwrite:
        raise RunFolderError("--resume and --overwrite contradict each other: continue the run or replace it")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"--out {folder} is a file, not a folder: give the path of a folder for the run")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise RunFolderError(f"cannot write to --out {folder} ({err.strerror or err}): "
                             "choose a folder you can write to") from None
    fd = _lock(folder)
    try:
        present = [name for name in RUN_FILES if (folder / name).exists()]
        if present and not overwrite:
            if not resume:
                raise RunFolderError(
                    f"{folder} already holds a run ({', '.join(present)}): add --resume to continue it, "
                    "--overwrite to replace it, or choose another --out")
            if not (folder / "latest.pt").exists():
                raise RunFolderError(
                    f"--resume: {folder} holds a run ({', '.join(present)}) but no latest.pt to continue from; "
                    "add --overwrite (instead of --resume) to start it again, or choose another --out")
        if present and overwrite:
            for name in present:
                (folder / name).unlink()
            print(f"--overwrite: removed the previous run's {', '.join(present)} from {folder}", flush=True)
        removed = _remove_temporaries(folder)
    except BaseException:
        if fd is not None:
            os.close(fd)
        raise
    return RunFolder(path=folder, removed_temporaries=removed, _lock_fd=fd)
