"""Timing shared by the benchmarks: one call's milliseconds, and waiting for the GPU.

On a GPU a call is timed with CUDA events around it (the GPU's own clock, so the host's
launch overhead is not counted as work); on a CPU with the host's monotonic clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def synchronize(device: torch.device) -> None:
    """Wait until the GPU has finished everything queued on ``device`` (nothing to wait for on a CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_once(fn: Callable[[], None], device: torch.device) -> float:
    """Milliseconds of one call (CUDA events on a GPU, a host clock otherwise)."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize(device)
        return start.elapsed_time(end)
    begin = time.perf_counter()
    fn()
    return 1e3 * (time.perf_counter() - begin)
