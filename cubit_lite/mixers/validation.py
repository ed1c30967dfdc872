"""The checks at the mixers' public boundary: each bad argument is a ValueError saying what is allowed.

The rules for tensors live here (shapes ``(B, H, T, D)``: batch, heads, tokens, head
dimension; per-head values that may be tensors with gradients); options and numbers follow
the library's rules of :mod:`cubit_lite.validation`. :mod:`cubit_lite.mixers.functional` calls
these before any work, and the layers call them once, when they are built; the reference
path, the dispatcher and the solves trust their inputs.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..validation import one_of, positive
from .dispatch import IMPLEMENTATIONS, PerHead
from .logits import REF_NORMS, U_STAGES

__all__ = [
    "check_4d",
    "check_cubit_options",
    "check_implementation",
    "check_per_head",
    "check_per_token",
    "check_positive",
    "check_qk",
    "check_qkv",
    "check_ref_norm",
    "check_same_tokens",
    "check_scale",
    "check_tokens",
    "check_u_stage",
]


def check_4d(name: str, x: Tensor) -> None:
    """``x`` is a floating-point tensor of shape ``(B, H, T, D)``."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (B, H, T, D); got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape (B, H, T, D) (4 dimensions); got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor; got dtype {x.dtype}")


def check_tokens(names: str, *tensors: Tensor) -> None:
    """Same ``(B, H, T)`` for every tensor."""
    shapes = [tuple(t.shape[:3]) for t in tensors]
    if len(set(shapes)) != 1:
        raise ValueError(f"{names} must share (B, H, T); got {', '.join(str(s) for s in shapes)}")


def check_qk(q: Tensor, k: Tensor) -> None:
    """Queries and keys: ``(B, H, ·, D)`` each, sharing ``B``, ``H`` and ``D``."""
    check_4d("q", q)
    check_4d("k", k)
    if q.shape[:2] != k.shape[:2] or q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q and k must share (B, H) and the head dimension D; got q {tuple(q.shape)} and k {tuple(k.shape)}"
        )


def check_same_tokens(q: Tensor, k: Tensor, *, causal: bool) -> None:
    """With ``causal=True``, as many queries as keys (token ``i`` sees keys ``1..i``)."""
    if causal and q.shape[2] != k.shape[2]:
        raise ValueError(
            "causal=True needs as many queries as keys (token i sees keys 1..i); "
            f"got {q.shape[2]} queries and {k.shape[2]} keys. Use causal=False to attend to all keys."
        )


def check_qkv(q: Tensor, k: Tensor, v: Tensor, *, causal: bool) -> None:
    """Queries, keys and values of one attention call."""
    check_qk(q, k)
    check_4d("v", v)
    check_tokens("k and v", k, v)
    check_same_tokens(q, k, causal=causal)


def check_per_token(name: str, x: Tensor, like: Tensor) -> None:
    """``x`` is ``(B, H, T)``, one value per token of ``like``."""
    if not isinstance(x, Tensor) or tuple(x.shape) != tuple(like.shape[:3]):
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a tensor of shape (B, H, T) = {tuple(like.shape[:3])}; got {shape}")


def check_per_head(name: str, value: PerHead, heads: int, *, allow_zero: bool) -> None:
    """A finite float, or a tensor of one or ``heads`` values, each ``> 0`` (``>= 0`` with ``allow_zero``)."""
    bound = ">= 0" if allow_zero else "> 0"
    if isinstance(value, Tensor):
        if value.dim() > 1 or value.numel() not in (1, heads):
            raise ValueError(f"{name} must be a float or a tensor of shape ({heads},) (one per head); "
                             f"got shape {tuple(value.shape)}")
        bad = (value < 0) if allow_zero else (value <= 0)
        if bool(bad.any()) or not bool(torch.isfinite(value).all()):
            raise ValueError(f"{name} must be finite and {bound} for every head; got {value.detach().cpu().tolist()}")
        return
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a float {bound} or a per-head tensor; got {value!r}") from err
    if not math.isfinite(value) or (value < 0 if allow_zero else value <= 0):
        raise ValueError(f"{name} must be a finite number {bound}; got {value}")


def check_ref_norm(ref_norm: str) -> None:
    """One of :data:`~cubit_lite.mixers.logits.REF_NORMS`."""
    one_of("ref_norm", ref_norm, REF_NORMS)


def check_cubit_options(lam: PerHead, ref_scale: PerHead, ref_norm: str, *, heads: int) -> None:
    """Cubit's ``λ >= 0`` and ``g > 0`` (per head) and its reference normalisation."""
    check_per_head("lam (the ridge λ)", lam, heads, allow_zero=True)
    check_per_head("ref_scale", ref_scale, heads, allow_zero=False)
    check_ref_norm(ref_norm)


def check_implementation(implementation: str, *, causal: bool, solve_block: int) -> None:
    """One of :data:`~cubit_lite.mixers.dispatch.IMPLEMENTATIONS` (the fast ones causal only) and a positive
    block."""
    one_of("implementation", implementation, IMPLEMENTATIONS)
    if implementation in ("blocked", "triton") and not causal:
        raise ValueError(
            f"implementation={implementation!r} solves the causal (lower-triangular) system only; "
            "use implementation='reference' (or 'auto') with causal=False"
        )
    if isinstance(solve_block, bool) or not isinstance(solve_block, int) or solve_block < 1:
        raise ValueError("solve_block (rows per block of the blocked solve) must be a positive integer; "
                         f"got {solve_block!r}")


def check_u_stage(u_stage: str) -> None:
    """One of :data:`~cubit_lite.mixers.logits.U_STAGES`."""
    try:
        one_of("u_stage", u_stage, U_STAGES)
    except ValueError as err:
        raise ValueError(f"{err} (kk: L from k_i · k_j, qk: L from q_i · k_j)") from None


def check_positive(what: str, value: object) -> float:
    """A positive finite number (``what`` names it, e.g. ``"bandwidth"``), as a float."""
    return positive(what, value)


def check_scale(scale: object) -> None:
    """The attention scale: None (meaning ``1/√D``) or a positive number."""
    if scale is not None:
        positive("scale", scale, hint=" (1/τ; None means 1/√D)")
