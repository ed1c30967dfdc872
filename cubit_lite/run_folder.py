"""A training run's folder: never silently overwritten, never shared by two trainers.

:func:`claim_run_folder` is what :func:`cubit_lite.train.train` calls before any heavy
work. It

* refuses a folder that already holds a run (``config.json``, ``metrics.jsonl``,
  ``latest.pt`` or ``best.pt``) unless the run is resumed (``resume``) or replaced on
  purpose (``overwrite``); the previous run's files are removed only when the new run
  is about to write its first file (:meth:`RunFolder.clear_previous_run`), after every
  setting has been checked, and the message printed says what was removed;
* refuses ``resume`` when the folder holds a run's files but no ``latest.pt`` to
  continue from (starting over there would delete the log and replace ``best.pt``);
* takes an exclusive lock, ``.lock`` in the folder, held until :meth:`RunFolder.release`
  (or the process ends: the operating system drops the lock of a dead process, so a
  killed run never leaves the folder locked); a second trainer is refused with a message
  naming the process that holds it;
* removes the temporary files an interrupted write leaves behind (``.NAME.tmp-PID``).

**Links.** A folder someone else prepared (an unpacked archive, a shared scratch
folder) may hold symbolic links where the run's files belong, pointing anywhere. The
trainer never writes through one: every file in the folder is opened with
``O_NOFOLLOW`` (:func:`open_no_follow`), new files are created with ``O_EXCL``
(:func:`write_atomically`), and a link where a run file or the lock belongs is refused,
naming it. ``--out`` itself must not be a link either (its parent folders may be: a
mounted disk, a home folder elsewhere); the message names the folder it points to, to
give instead.

The lock uses ``fcntl.flock`` (Linux, macOS, Colab). Where ``fcntl`` does not exist the
folder is claimed without a lock.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the overwrite checks still apply
    fcntl = None  # type: ignore[assignment]  # a module or None; every use checks for None first

__all__ = ["RUN_FILES", "RunFolder", "RunFolderError", "claim_run_folder", "open_no_follow", "write_atomically"]

RUN_FILES = ("config.json", "metrics.jsonl", "latest.pt", "best.pt")
LOCK_NAME = ".lock"
LOCK_RECORD_BYTES = 512  # the holder's record is written in place, padded: the lock file is never truncated
NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)  # 0 where the system has no such flag (Windows)


class RunFolderError(ValueError):
    """The run folder cannot be used as asked (it holds a run, another trainer has it, or a link is in the way)."""


def _link_message(path: Path) -> str:
    try:
        target = f" (to {os.readlink(path)})"
    except OSError:
        target = ""
    return (f"{path} is a symbolic link{target}: cubit_lite never writes through a link in a run folder; "
            "remove the link, or choose another --out")


def open_no_follow(path: str | os.PathLike, flags: int, mode: int = 0o644) -> int:
    """``os.open(path, flags | O_NOFOLLOW)``: a symbolic link at ``path`` is refused (:class:`RunFolderError`)."""
    try:
        return os.open(path, flags | NO_FOLLOW, mode)
    except OSError as err:
        if err.errno == errno.ELOOP or (err.errno == errno.EMLINK and os.path.islink(path)):  # EMLINK: FreeBSD
            raise RunFolderError(_link_message(Path(path))) from None
        raise


def write_atomically(path: str | os.PathLike, write: Callable[[IO[bytes]], object]) -> Path:
    """Write a file by ``write(f)`` on a new temporary file beside ``path``, then rename it onto ``path``.

    The temporary file, ``.NAME.tmp-PID``, is created with ``O_CREAT | O_EXCL |
    O_NOFOLLOW`` (a stale one is removed first; a link planted there is removed, never
    followed), and :func:`os.replace` puts it in place of ``path`` (a link at ``path`` is
    replaced, not followed). On any failure the temporary file is removed and ``path`` is
    unchanged. Returns ``path``.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    fd = open_no_follow(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


@dataclass
class RunFolder:
    """A claimed run folder; ``release()`` drops the lock (idempotent).

    ``previous_run`` names the files of the run that ``overwrite`` replaces; they stay
    until :meth:`clear_previous_run`.
    """

    path: Path
    removed_temporaries: list[Path]
    previous_run: list[str] = field(default_factory=list)
    _lock_fd: int | None = None

    def clear_previous_run(self) -> None:
        """Remove the replaced run's files (``overwrite``), saying which; call it just before the first write."""
        if not self.previous_run:
            return
        for name in self.previous_run:
            (self.path / name).unlink(missing_ok=True)  # unlink removes a link itself, never its target
        print(f"--overwrite: removed the previous run's {', '.join(self.previous_run)} from {self.path}", flush=True)
        self.previous_run = []

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


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, LOCK_RECORD_BYTES, 0).decode("utf-8"))
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["started"]))
        return f"process {info['pid']} on {info['host']}, started {started}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def _check_regular(path: Path, what: str) -> None:
    """Refuse a link, or anything but a regular file, where ``what`` belongs (nothing there is fine)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise RunFolderError(_link_message(path))
    if not stat.S_ISREG(mode):
        raise RunFolderError(f"{path} is not a regular file, and {what} belongs there: "
                             "remove it, or choose another --out")


def _lock(folder: Path) -> int | None:
    """An exclusive, non-blocking lock on ``folder/.lock``; the descriptor, or an error naming the holder."""
    if fcntl is None:
        return None
    lock_path = folder / LOCK_NAME
    _check_regular(lock_path, "the run's lock file")
    fd = open_no_follow(lock_path, os.O_RDWR | os.O_CREAT)
    try:
        if os.fstat(fd).st_nlink > 1:  # a hard link: writing the record would change a file elsewhere too
            raise RunFolderError(f"{lock_path} has other names (hard links): the lock file must be the run "
                                 "folder's own; remove it, or choose another --out")
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise RunFolderError(
            f"{folder} is in use by {holder}: two trainers must not share a run folder; "
            "wait for it to finish, stop it, or choose another --out") from None
    except BaseException:
        os.close(fd)
        raise
    record = {"pid": os.getpid(), "host": socket.gethostname()[:200], "started": time.time()}
    os.pwrite(fd, json.dumps(record).encode().ljust(LOCK_RECORD_BYTES), 0)  # in place: never truncated
    return fd


def _remove_temporaries(folder: Path) -> list[Path]:
    """Delete ``.NAME.tmp-PID`` files left by interrupted atomic writes (ours only: the lock is held)."""
    stale = sorted(p for p in folder.glob(".*.tmp-*") if p.is_symlink() or p.is_file())
    for path in stale:
        path.unlink()  # a link is removed itself, its target untouched
    return stale


def _prepare(folder: Path) -> None:
    """Refuse a folder that is a file or a link; create it; check that it can be written to."""
    if folder.is_symlink():
        raise RunFolderError(f"--out {folder} is a symbolic link (to {os.readlink(folder)}): a run folder must be "
                             f"a folder of its own; give the folder it points to, {folder.resolve()}, as --out if "
                             "the run belongs there")
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"--out {folder} is a file, not a folder: give the path of a folder for the run")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.unlink(missing_ok=True)
        os.close(open_no_follow(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
        probe.unlink()
    except RunFolderError:
        raise
    except OSError as err:
        raise RunFolderError(f"cannot write to --out {folder} ({err.strerror or err}): "
                             "choose a folder you can write to") from None


def claim_run_folder(out: str | os.PathLike, *, resume: bool, overwrite: bool) -> RunFolder:
    """Create or reuse ``out`` for a run, lock it, and clean it; see the module docstring.

    With ``overwrite`` the previous run's files (:data:`RUN_FILES`) are listed in
    :attr:`RunFolder.previous_run` and removed by :meth:`RunFolder.clear_previous_run`.
    Raises :class:`RunFolderError` with what was wrong and what is allowed, before
    anything is written.
    """
    if resume and overwrite:
        raise RunFolderError("--resume and --overwrite contradict each other: continue the run or replace it")
    folder = Path(out)
    _prepare(folder)
    fd = _lock(folder)
    try:
        for name in RUN_FILES:
            _check_regular(folder / name, f"the run's {name}")
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
        removed = _remove_temporaries(folder)
    except BaseException:
        if fd is not None:
            os.close(fd)
        raise
    return RunFolder(path=folder, removed_temporaries=removed, previous_run=present if overwrite else [],
                     _lock_fd=fd)
