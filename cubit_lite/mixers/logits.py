"""The logits behind the mixers' kernel matrices, each defined once (equations page §2–§4, ``book/equations.md``).

Attention's ``A``, Cubit's reference kernel ``P`` and DeltaFormer's ``L`` are row softmaxes
of logits ``ℓ_ij``, dot products of one vector per token. This module writes each logit
once, in the three forms that the three solve paths take:

* dense ``ℓ`` ``(B, H, Tq, Tk)``, for the reference path (:mod:`~cubit_lite.mixers.naive`):
  :func:`attention_logits` (§2), :func:`reference_logits` (Cubit's ``P``, §3.2),
  :func:`deltaformer_logits` (DeltaFormer's ``L``, §4);
* factors ``(a, b)`` with ``ℓ = a bᵀ``, for the blocked solve (:mod:`~cubit_lite.mixers.blocked`):
  :func:`reference_factors`, :func:`deltaformer_factors`;
* per-token scales ``(α, β)`` with ``ℓ_tj = α_t β_j (x_t · z_j)`` of raw vectors ``x``, ``z``,
  for the Triton kernels (:mod:`~cubit_lite.mixers.triton_solve`): :func:`reference_scales`,
  :func:`deltaformer_scales`.

The dense form is the product of the factors, and the factors are the scales times the raw
vectors, so the three paths solve one system. ``ref_scale`` (Cubit's ``g``) is a float or a
tensor with one value per head, ``(H,)``. Imports torch only.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "EPS",
    "REF_NORMS",
    "U_STAGES",
    "attention_logits",
    "deltaformer_factors",
    "deltaformer_logits",
    "deltaformer_scales",
    "reference_columns",
    "reference_factors",
    "reference_logits",
    "reference_rows",
    "reference_scales",
]

REF_NORMS = ("one-side", "both", "none")
"""How the reference logits are normalised (equations page §3.2, ``book/equations.md``):

* ``"one-side"`` (default): ``ℓ_ij = r_i · g r_j / ‖r_j‖``. The diagonal is the
  largest logit of its row (Cauchy–Schwarz), so ``P_ii >= 1/i``.
* ``"both"``: ``ℓ_ij = g r_i · r_j / (‖r_i‖ ‖r_j‖)``, a cosine kernel; the diagonal
  is again the largest, ``ℓ_ii = g``.
* ``"none"``: ``ℓ_ij = g r_i · r_j / √D``, like attention logits; no guarantee on
  the diagonal (an ablation)."""

U_STAGES = ("kk", "qk")
"""How DeltaFormer's u-stage logits are formed: ``"kk"`` (``k_i · k_j``, what
flash-linear-attention's DeltaFormer *layer* passes, and this library's default) or
``"qk"`` (``q_i · k_j``, the published DeltaFormer and fla's op ``fla.ops.deltaformer``)."""

EPS = 1e-6
"""ε in ``r̂_j = g r_j / max(‖r_j‖, ε)``."""


def _per_head(g: float | Tensor, like: Tensor) -> float | Tensor:
    """``g`` shaped to multiply ``like`` ``(B, H, T, …)`` head by head: a float stays a float."""
    if not isinstance(g, Tensor):
        return float(g)
    return g.to(like).reshape(1, -1, *([1] * (like.dim() - 2)))


# --------------------------------------------------------------------------- #
# Attention (§2)
# --------------------------------------------------------------------------- #
def attention_logits(q: Tensor, k: Tensor, scale: float) -> Tensor:
    """``ℓ_ij = q_i · k_j · scale`` (``scale = 1/τ``): ``(B, H, Tq, Tk)``."""
    return (q @ k.transpose(-2, -1)) * scale


# --------------------------------------------------------------------------- #
# Cubit's reference kernel (§3.2)
# --------------------------------------------------------------------------- #
def reference_rows(r: Tensor, ref_norm: str) -> Tensor:
    """``a`` of ``ℓ = a bᵀ``: ``r / max(‖r‖, ε)`` for ``"both"``, else ``r``."""
    return r / r.norm(dim=-1, keepdim=True).clamp_min(EPS) if ref_norm == "both" else r


def reference_columns(r: Tensor, ref_scale: float | Tensor, ref_norm: str) -> Tensor:
    """``b`` of ``ℓ = a bᵀ``: ``r̂ = g r / max(‖r‖, ε)``, or ``g r / √D`` for ``"none"``.

    Ordinary differentiable torch ops: autograd carries the gradients of ``g`` and of the
    normalisation back to ``r``.
    """
    g = _per_head(ref_scale, r)
    if ref_norm == "none":
        return r * (g / math.sqrt(r.shape[-1]))
    return g * r / r.norm(dim=-1, keepdim=True).clamp_min(EPS)


def reference_factors(r: Tensor, ref_scale: float | Tensor, ref_norm: str) -> tuple[Tensor, Tensor]:
    """``(a, b)`` with ``a bᵀ = ℓ``, the reference logits, each ``(B, H, T, D)``:

    * ``"one-side"``: ``a = r``, ``b = r̂ = g r / max(‖r‖, ε)``;
    * ``"both"``: ``a = r / max(‖r‖, ε)``, ``b = r̂``;
    * ``"none"``: ``a = r``, ``b = g r / √D``.
    """
    return reference_rows(r, ref_norm), reference_columns(r, ref_scale, ref_norm)


def reference_logits(r_query: Tensor, r_key: Tensor, ref_scale: float | Tensor, ref_norm: str) -> Tensor:
    """``ℓ_ij = a_i · b_j`` for queries ``r_query (B, H, Tq, D)`` and keys ``r_key (B, H, Tk, D)``."""
    a = reference_rows(r_query, ref_norm)  # r_i (r_i / max(‖r_i‖, ε) for "both")
    b = reference_columns(r_key, ref_scale, ref_norm)  # r̂_j = g r_j / max(‖r_j‖, ε)
    return a @ b.transpose(-2, -1)  # (B, H, Tq, Tk)


def reference_scales(r: Tensor, ref_scale: float | Tensor, ref_norm: str) -> tuple[Tensor, Tensor]:
    """``(α, β)``, each ``(B, H, T)``, with ``a = α r`` and ``b = β r`` (:func:`reference_factors`).

    ``α = 1`` (``1 / max(‖r‖, ε)`` for ``"both"``), ``β = g / max(‖r‖, ε)`` (``g / √D``
    for ``"none"``). Differentiable torch ops, like the factors.
    """
    ones = torch.ones(r.shape[:-1], dtype=r.dtype, device=r.device)
    g = _per_head(ref_scale, ones)
    if ref_norm == "none":
        return ones, ones * (g / math.sqrt(r.shape[-1]))
    inverse_norm = 1.0 / r.norm(dim=-1).clamp_min(EPS)
    return (inverse_norm if ref_norm == "both" else ones), g * inverse_norm


# --------------------------------------------------------------------------- #
# DeltaFormer's L (§4)
# --------------------------------------------------------------------------- #
def deltaformer_factors(rows: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
    """``(a, b) = (rows / √D, k)``: ``ℓ_ij = rows_i · k_j / √D``, with ``rows = k`` (the ``"kk"``
    u-stage) or ``rows = q`` (``"qk"``)."""
    return rows / math.sqrt(k.shape[-1]), k


def deltaformer_logits(rows: Tensor, k: Tensor) -> Tensor:
    """``ℓ_ij = rows_i · k_j / √D``: ``(B, H, Tq, Tk)``."""
    a, b = deltaformer_factors(rows, k)
    return a @ b.transpose(-2, -1)


def deltaformer_scales(k: Tensor) -> tuple[Tensor, Tensor]:
    """``(α, β) = (1/√D, 1)``, each ``(B, H, T)``: ``ℓ_tj = α_t β_j (rows_t · k_j)``."""
    ones = torch.ones(k.shape[:-1], dtype=k.dtype, device=k.device)
    return ones / math.sqrt(k.shape[-1]), ones
