"""How a solve runs: which path (reference, blocked or Triton) and in which precision.

Cubit's ``(P + λI) U = S V`` and DeltaFormer's ``(I + diag(β) L) U = V`` (equations page
§3.1 and §4.1, ``book/equations.md``) each have three paths that solve one system:

* the reference path (:mod:`cubit_lite.mixers.naive`): the whole ``T × T`` matrix and one
  triangular solve;
* the blocked solve (:mod:`cubit_lite.mixers.blocked`): forward substitution block by block
  in PyTorch, never forming the matrix;
* the Triton kernels (:mod:`cubit_lite.mixers.triton_solve`): the blocked scheme fused, on a GPU.

This module is the one place that picks among them (:func:`solve_path`, for a solve and for the
trainer's first printed lines alike), applies the precision rule (:func:`solve_dtype`,
:func:`full_precision`) and turns ``λ`` and ``g`` into per-head tensors (:func:`per_head`),
once, before any path runs. Its functions trust their inputs:
:mod:`cubit_lite.mixers.functional` checks them at the public boundary.

**Precision.** The solves run in float32 even when the inputs are bf16/fp16 or when bf16
autocast is on; float64 inputs stay float64. ``U`` is returned in that dtype; the callers
cast it to ``V``'s before the read-out.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

from . import blocked, naive, triton_solve
from .logits import deltaformer_scales, reference_scales
from .triton_solve import interpreting, triton_available, triton_system_solve

__all__ = [
    "AUTO_PICKS_TRITON",
    "IMPLEMENTATIONS",
    "PerHead",
    "SolvePath",
    "cubit_solve",
    "deltaformer_solve",
    "full_precision",
    "llr_weights",
    "per_head",
    "resolve_implementation",
    "solve_dtype",
    "solve_path",
    "tile_precision",
]

PerHead = float | Tensor
"""A float, or a tensor of shape ``(H,)`` with one value per head."""

IMPLEMENTATIONS = ("auto", "reference", "blocked", "triton")
"""How :func:`~cubit_lite.mixers.functional.cubit_solve` / ``cubit_attention`` solve ``(P + λI) U = S V``:

* ``"reference"``: form ``P`` (``T × T`` per head) and call one
  ``torch.linalg.solve_triangular`` (:mod:`cubit_lite.mixers.naive`) — the teaching code
  and the tests' oracle.
* ``"blocked"``: blocked forward substitution in PyTorch
  (:mod:`cubit_lite.mixers.blocked`); never forms ``P`` (``O(T·D)`` saved for
  backward), causal only, any device and dtype.
* ``"triton"``: the same scheme as fused Triton kernels
  (:mod:`cubit_lite.mixers.triton_solve`); causal only, CUDA, float32 work dtype
  (the tile products in the current ``TritonConfig``'s ``half_precision`` when the inputs
  are bfloat16 or float16, else in its ``float32_precision``).
* ``"auto"``: ``"triton"`` for a causal float32-work solve on a CUDA GPU of the Ampere
  generation or newer (:data:`AUTO_PICKS_TRITON`) when ``triton`` is installed;
  ``"reference"`` otherwise (CPU, float64, non-causal, older GPUs such as the T4).

The same choice applies to DeltaFormer's ``deltaformer_solve`` / ``deltaformer_attention``."""

AUTO_PICKS_TRITON = True
"""Whether ``implementation="auto"`` runs the Triton kernels for a causal float32 solve on
an Ampere-or-newer CUDA GPU (compiled and tested there: ``results/appendix_fast/cuda_tests_h200.txt``)."""

_HALF = (torch.float16, torch.bfloat16)


# --------------------------------------------------------------------------- #
# The precision rule and per-head values
# --------------------------------------------------------------------------- #
def solve_dtype(*inputs: torch.dtype) -> torch.dtype:
    """float64 if any input is float64, else float32: the solve never runs in half precision."""
    return torch.float64 if torch.float64 in inputs else torch.float32


@contextmanager
def full_precision(device: torch.device) -> Iterator[None]:
    """Switch autocast off so that matmuls inside stay in the dtype we chose."""
    with torch.autocast(device_type=device.type, enabled=False):
        yield


def per_head(value: PerHead, like: Tensor) -> Tensor:
    """``value`` (a float, or a tensor of one or ``H`` values) as ``(H,)`` in ``like``'s dtype and device,
    ``like`` being ``(B, H, T, ·)``; a tensor keeps its gradient."""
    heads = like.shape[1]
    if isinstance(value, Tensor):
        return value.to(device=like.device, dtype=like.dtype).reshape(-1).expand(heads)
    return torch.full((heads,), float(value), dtype=like.dtype, device=like.device)


# --------------------------------------------------------------------------- #
# Which path
# --------------------------------------------------------------------------- #
def _has_tf32(device: torch.device) -> bool:
    """Whether ``device`` is a CUDA GPU with TF32 tensor cores (compute capability 8.0 or more)."""
    if device.type != "cuda":
        return False
    return _gpu_has_tf32(torch.cuda.current_device() if device.index is None else device.index)


@functools.cache
def _gpu_has_tf32(index: int) -> bool:
    """:func:`_has_tf32` for GPU ``index``, asked once: every solve of a training step checks it."""
    return torch.cuda.get_device_capability(index) >= (8, 0)


def resolve_implementation(implementation: str, device: torch.device, *, causal: bool, work: torch.dtype) -> str:
    """``"auto"`` → the path to run (see :data:`IMPLEMENTATIONS`); checks that ``"triton"`` can run."""
    if implementation == "auto":
        fast = (AUTO_PICKS_TRITON and causal and work == torch.float32 and _has_tf32(device)
                and triton_available())
        return "triton" if fast else "reference"
    if implementation == "triton":
        if not triton_available():
            raise RuntimeError("implementation='triton' needs the `triton` package (PyTorch's CUDA wheels bring it); "
                               "use 'blocked' or 'reference'")
        if device.type != "cuda" and not interpreting():
            raise ValueError(f"implementation='triton' runs on CUDA tensors; got tensors on {device.type!r}. "
                             "Use 'blocked' or 'reference' (or 'auto', which picks one)")
        if work != torch.float32:
            raise ValueError(f"implementation='triton' works in float32; got {work} inputs. "
                             "Use 'blocked' or 'reference' for float64")
    return implementation


def tile_precision(device: torch.device, *, half_inputs: bool) -> str:
    """The tile precision of the Triton solve, from the current
    :class:`~cubit_lite.mixers.triton_solve.TritonConfig`: its ``half_precision`` when the
    caller's inputs are half precision, else its ``float32_precision``; ``"ieee"`` on a
    GPU without TF32 (older than Ampere)."""
    if device.type == "cuda" and not _has_tf32(device):
        return "ieee"
    config = triton_solve.current_config()
    return config.half_precision if half_inputs else config.float32_precision


@dataclass(frozen=True)
class SolvePath:
    """How one solve runs: its path (``"reference"``, ``"blocked"`` or ``"triton"``), the dtype it
    works in, and the precision of the Triton path's tile products."""

    implementation: str
    work: torch.dtype
    tiles: str

    def __str__(self) -> str:
        text = f"{self.implementation}, solve in {str(self.work).removeprefix('torch.')}"
        return text + (f", tile products {self.tiles}" if self.implementation == "triton" else "")


def solve_path(implementation: str, device: torch.device, inputs: Iterable[torch.dtype], *,
               causal: bool = True) -> SolvePath:
    """The path and precision of a solve of inputs of the dtypes ``inputs`` on ``device``.

    Every solve asks this with its tensors' dtypes; the trainer asks it once, with the dtype its
    layers' inputs have (bfloat16 under autocast), and prints the answer.
    """
    dtypes = tuple(inputs)
    work = solve_dtype(*dtypes)
    path = resolve_implementation(implementation, device, causal=causal, work=work)
    return SolvePath(path, work, tile_precision(device, half_inputs=any(d in _HALF for d in dtypes)))


# --------------------------------------------------------------------------- #
# The solves
# --------------------------------------------------------------------------- #
def cubit_solve(r: Tensor, v: Tensor, *, s: Tensor | None, lam: PerHead, ref_scale: PerHead, ref_norm: str,
                causal: bool, implementation: str, solve_block: int) -> Tensor:
    """Cubit's ``U = (P + λI)⁻¹ S V`` by the path ``implementation`` resolves to, in the solve's precision."""
    path = solve_path(implementation, r.device, (r.dtype, v.dtype), causal=causal)
    with full_precision(r.device):
        r, v = r.to(path.work), v.to(path.work)
        y = v if s is None else s.to(path.work).unsqueeze(-1) * v  # S V: (B, H, T, Dv)
        lam_h, g_h = per_head(lam, r), per_head(ref_scale, r)  # (H,) each
        if path.implementation == "blocked":
            return blocked.cubit_blocked_solve(r, y, lam=lam_h, ref_scale=g_h, ref_norm=ref_norm,
                                               solve_block=solve_block)
        if path.implementation == "triton":
            alpha, beta = reference_scales(r, g_h, ref_norm)  # ℓ_tj = α_t β_j r_t · r_j
            ones = torch.ones_like(alpha)
            ridge = lam_h.reshape(1, -1, 1).expand_as(ones)  # d_t = λ_h
            return triton_system_solve(x=r, z=r, al=alpha, be=beta, y=y, s=ones, d=ridge, strict=False,
                                       precision=path.tiles)
        return naive.cubit_solve(r, y, lam=lam_h, ref_scale=g_h, ref_norm=ref_norm, causal=causal)  # (P + λI)⁻¹ S V


def deltaformer_solve(k: Tensor, v: Tensor, beta: Tensor, *, rows: Tensor | None, causal: bool, implementation: str,
                      solve_block: int) -> Tensor:
    """DeltaFormer's ``U = (I + diag(β) L)⁻¹ V`` by the path ``implementation`` resolves to, in the solve's
    precision; ``L`` from ``rows_i · k_j`` (``rows = q``, the ``"qk"`` u-stage) or ``k_i · k_j`` (None)."""
    inputs = (k, v) if rows is None else (rows, k, v)
    path = solve_path(implementation, k.device, (t.dtype for t in inputs), causal=causal)
    with full_precision(k.device):
        k, v, beta = k.to(path.work), v.to(path.work), beta.to(path.work)
        rows = k if rows is None else rows.to(path.work)  # the u-stage logits are rows_t · k_j / √D
        if path.implementation == "blocked":
            return blocked.deltaformer_blocked_solve(k, v, beta, rows=rows, solve_block=solve_block)  # never forms L
        if path.implementation == "triton":
            alpha, col_scale = deltaformer_scales(k)  # ℓ_tj = rows_t · k_j / √D
            return triton_system_solve(x=rows, z=k, al=alpha, be=col_scale, y=v, s=beta, d=torch.ones_like(beta),
                                       strict=True, precision=path.tiles)
        return naive.deltaformer_solve(k, v, beta, rows=rows, causal=causal)


def llr_weights(q: Tensor, k: Tensor, *, mu: float, causal: bool, scale: float) -> Tensor:
    """The local linear weights (:func:`~cubit_lite.mixers.naive.llr_weights`) with their ``D × D`` solves in
    float32 (float64 for float64 inputs), autocast off."""
    work = solve_dtype(q.dtype, k.dtype)
    with full_precision(q.device):
        return naive.llr_weights(q.to(work), k.to(work), mu=mu, causal=causal, scale=scale)
