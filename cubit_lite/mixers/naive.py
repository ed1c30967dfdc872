"""The mixers' mathematics in plain PyTorch: the reference path, one function per equation.

Each function writes one equation of the equations page (``book/equations.md``; the
section numbers below are that page's) with whole ``T × T`` matrices, as the equation
reads: the code the chapters print and the tests' oracle. The logits come from
:mod:`cubit_lite.mixers.logits`, the one definition that the blocked and Triton solves
share.

* §2 attention: :func:`attention_weights` (``A``), :func:`softmax_attention` (``O = A V``),
  :func:`gaussian_nadaraya_watson`;
* §3 Cubit: :func:`reference_kernel` (``P``), :func:`ridge_inverse`, :func:`cubit_solve`
  (``U = (P + λI)⁻¹ Y`` by one triangular solve);
* §4 DeltaFormer: :func:`deltaformer_kernel` (``L``), :func:`deltaformer_solve`;
* §4.3 local linear regression: :func:`llr_weights`.

The functions trust their inputs (:mod:`cubit_lite.mixers.functional` checks them) and
compute in the dtype they are given (:mod:`cubit_lite.mixers.dispatch` chooses it).
Tensors are ``(B, H, T, D)``; ``λ`` and ``g`` are floats or per-head tensors ``(H,)``.
Imports torch and the logits only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .logits import attention_logits, deltaformer_logits, reference_logits

__all__ = [
    "add_ridge",
    "attention_weights",
    "causal_mask",
    "cubit_solve",
    "deltaformer_kernel",
    "deltaformer_solve",
    "gaussian_nadaraya_watson",
    "llr_weights",
    "masked_softmax",
    "reference_kernel",
    "ridge_inverse",
    "softmax_attention",
    "solve",
]


# --------------------------------------------------------------------------- #
# Masks and the masked softmax
# --------------------------------------------------------------------------- #
def causal_mask(t_q: int, t_k: int, device: torch.device | str, *, strict: bool = False) -> Tensor:
    """Boolean ``(t_q, t_k)`` mask, True where key ``j`` is visible from query ``i``.

    Aligned at the end (the last query sees every key), so a single new query sees
    the whole cache. ``strict`` excludes the diagonal (``j < i``).
    """
    offset = t_k - t_q
    return torch.ones(t_q, t_k, dtype=torch.bool, device=device).tril(offset - 1 if strict else offset)


def masked_softmax(logits: Tensor, mask: Tensor | None, *, empty_rows: bool = False) -> Tensor:
    """Row softmax over the allowed entries.

    ``empty_rows=True`` (strict masks) makes rows with no allowed entry all zero
    instead of NaN; a causal mask with its diagonal never has such rows.
    """
    if mask is None:
        return torch.softmax(logits, dim=-1)
    if not empty_rows:
        return torch.softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)
    empty = ~mask.any(dim=-1, keepdim=True)  # (t_q, 1)
    weights = torch.softmax(logits.masked_fill(~(mask | empty), float("-inf")), dim=-1)
    return weights.masked_fill(empty, 0.0)


# --------------------------------------------------------------------------- #
# Softmax attention = Nadaraya–Watson (§2)
# --------------------------------------------------------------------------- #
def attention_weights(q: Tensor, k: Tensor, *, causal: bool, scale: float) -> Tensor:
    """``A = rowsoftmax_M(Q Kᵀ · scale)``: ``(B, H, Tq, Tk)``."""
    mask = causal_mask(q.shape[-2], k.shape[-2], q.device) if causal else None
    return masked_softmax(attention_logits(q, k, scale), mask)


def softmax_attention(q: Tensor, k: Tensor, v: Tensor, *, causal: bool, scale: float | None = None) -> Tensor:
    """``O = A V`` through PyTorch's fused ``scaled_dot_product_attention`` (``scale=None``: ``1/√D``)."""
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)


def gaussian_nadaraya_watson(queries: Tensor, keys: Tensor, values: Tensor, *, bandwidth: float,
                             causal: bool) -> Tensor:
    """``o_i = Σ_j K_h(q_i − k_j) v_j / Σ_j K_h(q_i − k_j)``, ``K_h(u) ∝ exp(−‖u‖² / 2h²)``, from distances."""
    sq_dist = torch.cdist(queries, keys).pow(2)  # (B, H, Tq, Tk)
    mask = causal_mask(queries.shape[-2], keys.shape[-2], queries.device) if causal else None
    return masked_softmax(-sq_dist / (2.0 * bandwidth**2), mask) @ values


# --------------------------------------------------------------------------- #
# Cubit (§3)
# --------------------------------------------------------------------------- #
def reference_kernel(r: Tensor, *, ref_scale: float | Tensor, ref_norm: str, causal: bool) -> Tensor:
    """``P = rowsoftmax_M(ℓ)`` with the reference logits ``ℓ`` (§3.2): ``(B, H, T, T)``."""
    t = r.shape[-2]
    mask = causal_mask(t, t, r.device) if causal else None
    return masked_softmax(reference_logits(r, r, ref_scale, ref_norm), mask)


def add_ridge(p: Tensor, lam: float | Tensor) -> Tensor:
    """``P + λI`` for a float or per-head ``λ``; ``p`` is ``(B, H, T, T)``."""
    eye = torch.eye(p.shape[-1], dtype=p.dtype, device=p.device)
    per_head = lam.to(p).reshape(1, -1, 1, 1) if isinstance(lam, Tensor) else float(lam)
    return p + per_head * eye


def solve(system: Tensor, rhs: Tensor, *, causal: bool) -> Tensor:
    """``system⁻¹ rhs`` without forming the inverse: forward substitution when causal."""
    if causal:
        return torch.linalg.solve_triangular(system, rhs, upper=False)
    return torch.linalg.solve(system, rhs)


def ridge_inverse(p: Tensor, *, lam: float | Tensor, causal: bool) -> Tensor:
    """``(P + λI)⁻¹`` as a matrix, for plotting (the mixers never form it)."""
    eye = torch.eye(p.shape[-1], dtype=p.dtype, device=p.device).expand_as(p)
    return solve(add_ridge(p, lam), eye, causal=causal)


def cubit_solve(r: Tensor, y: Tensor, *, lam: float | Tensor, ref_scale: float | Tensor, ref_norm: str,
                causal: bool) -> Tensor:
    """``U = (P + λI)⁻¹ Y`` (§3.1; ``Y = S V``): form ``P``, then one triangular solve."""
    p = reference_kernel(r, ref_scale=ref_scale, ref_norm=ref_norm, causal=causal)  # (B, H, T, T)
    return solve(add_ridge(p, lam), y, causal=causal)


# --------------------------------------------------------------------------- #
# DeltaFormer (§4)
# --------------------------------------------------------------------------- #
def deltaformer_kernel(k: Tensor, *, rows: Tensor | None = None, causal: bool) -> Tensor:
    """``L``: the row softmax of ``rows_i · k_j / √D`` over ``j < i`` (``j ≠ i`` when not causal);
    ``rows`` is ``k`` (the ``"kk"`` u-stage) unless given (``q``: ``"qk"``). Row 1 is all zero."""
    t = k.shape[-2]
    logits = deltaformer_logits(k if rows is None else rows, k)  # (B, H, T, T)
    mask = causal_mask(t, t, k.device, strict=True) if causal else ~torch.eye(t, dtype=torch.bool, device=k.device)
    return masked_softmax(logits, mask, empty_rows=True)


def deltaformer_solve(k: Tensor, v: Tensor, beta: Tensor, *, rows: Tensor | None = None, causal: bool) -> Tensor:
    """``U = (I + diag(β) L)⁻¹ V`` (§4.1); a unit diagonal, so forward substitution divides by 1."""
    l_matrix = deltaformer_kernel(k, rows=rows, causal=causal)
    eye = torch.eye(l_matrix.shape[-1], dtype=l_matrix.dtype, device=l_matrix.device)
    return solve(eye + beta.unsqueeze(-1) * l_matrix, v, causal=causal)


# --------------------------------------------------------------------------- #
# Local linear regression (§4.3, the paper's Appendix E)
# --------------------------------------------------------------------------- #
def llr_weights(q: Tensor, k: Tensor, *, mu: float, causal: bool, scale: float) -> Tensor:
    """``ℓ_ij = w_ij [1 − (k_j − k̄_i)ᵀ C_i⁻¹ m_i]`` with the attention weights ``w = A``: ``(B, H, Tq, Tk)``."""
    w = attention_weights(q, k, causal=causal, scale=scale)  # (B, H, Tq, Tk), NW weights w_ij
    d = k.shape[-1]
    k_bar = w @ k  # k̄_i = Σ_j w_ij k_j: (B, H, Tq, D)
    second = (w @ (k.unsqueeze(-1) * k.unsqueeze(-2)).flatten(-2)).unflatten(-1, (d, d))  # Σ_j w_ij k_j k_jᵀ
    cov = second - k_bar.unsqueeze(-1) * k_bar.unsqueeze(-2)  # Σ_j w_ij (k_j − k̄_i)(k_j − k̄_i)ᵀ
    c = cov + mu * torch.eye(d, dtype=k.dtype, device=k.device)  # C_i: (B, H, Tq, D, D)
    z = torch.linalg.solve(c, (k_bar - q).unsqueeze(-1)).squeeze(-1)  # C_i⁻¹ m_i: (B, H, Tq, D)
    correction = z @ k.transpose(-2, -1) - (z * k_bar).sum(-1, keepdim=True)  # (k_j − k̄_i)ᵀ C_i⁻¹ m_i
    return w * (1.0 - correction)  # ℓ_ij
