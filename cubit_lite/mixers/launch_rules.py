"""Which launch configurations of the Triton solve's gradient kernels are safe at which head widths.

One rule, read by the solve (:mod:`cubit_lite.mixers.triton_solve`, which refuses an
unsafe fixed launch) and by its kernels' autotuner (:mod:`cubit_lite.mixers._triton_kernels`,
which prunes its candidates): with head or value widths below :data:`WIDE`, the gradient
kernels run with 4 warps only; more is refused. The measurements behind it are
``results/appendix_fast/triton_launches_h200.json`` (``benchmarks/triton_launch_check.py``): on a Hopper
GPU a tile of 64 rows with 8 warps ends in an illegal memory access at some narrow shapes,
and 4 warps run every tested shape.
"""

from __future__ import annotations

__all__ = ["WIDE", "all_launches_safe"]

WIDE = 64
"""Head and value widths (after padding to a power of two) from which the gradient kernels
may run with more than 4 warps."""


def all_launches_safe(head_width: int, value_width: int) -> bool:
    """Whether the gradient kernels may run with more than 4 warps at these (padded) widths:
    both at least :data:`WIDE`."""
    return min(head_width, value_width) >= WIDE
