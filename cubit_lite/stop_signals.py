"""How SIGINT (Ctrl-C) and SIGTERM stop a training run: after the current step, with a checkpoint.

:class:`StopSignals` turns the signals into a request that the loop reads between steps
(the same in every process of a distributed run); :class:`TrainingStopped` is what the run
then raises, carrying the exit status 128 + the signal's number.
"""

from __future__ import annotations

import signal
import threading

import torch
import torch.distributed as dist

__all__ = ["StopSignals", "TrainingStopped"]


class TrainingStopped(KeyboardInterrupt):
    """SIGINT (Ctrl-C) or SIGTERM stopped the run; ``exit_status`` is 128 + the signal's number.

    During the loop the run stops after the current step and checkpoints it first, so
    ``--resume`` continues from exactly there.
    """

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_status = 128 + signum


class StopSignals:
    """SIGINT and SIGTERM while the loop runs ask for a stop after the current step, checkpointed
    (``graceful``); before the loop, or a second time, they stop at once. Handlers are installed
    only in the main thread (elsewhere Python delivers no signals) and restored on exit."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.graceful = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            if handler is not None:
                signal.signal(signum, handler)  # type: ignore[arg-type]  # a handler signal.signal gave back

    def _handle(self, signum: int, frame) -> None:
        if self.graceful and self.received is None:
            self.received = signum
            return
        if self.graceful:
            raise TrainingStopped("stopped at once by a second signal; continue from the last checkpoint with "
                                  "--resume", signum)
        raise TrainingStopped("stopped before the first step; nothing was written: run the same command again",
                              signum)

    def agreed(self, world: int, device: torch.device) -> int | None:
        """The signal that stops the run, the same in every process (the largest any of them received)."""
        if world == 1:
            return self.received
        flag = torch.tensor([self.received or 0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag.item()) or None
