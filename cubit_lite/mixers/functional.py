"""The token mixers as pure functions on ``(B, H, T, D)`` tensors: the public functions.

Every function takes per-head tensors (batch ``B``, heads ``H``, tokens ``T``,
head dimension ``D``) and implements one equation of the book's equations page (``book/equations.md``;
the section numbers below are that page's):

* :func:`softmax_attention` — ``O = rowsoftmax_M(Q Kᵀ τ⁻¹) V`` (§2), fused through
  ``torch.nn.functional.scaled_dot_product_attention``.
* :func:`gaussian_nadaraya_watson` — NW regression on vectors with the Gaussian
  kernel, computed from distances (§2: attention with ℓ2-normalised ``q, k`` is this
  with ``h = √τ``).
* :func:`cubit_solve` / :func:`cubit_attention` — ``U = (P + λI)⁻¹ S V`` and
  ``O = A U`` (§3, the paper's eq. 13).
* :func:`deltaformer_solve` / :func:`deltaformer_attention` —
  ``(I + diag(β) L) U = V``, ``O = A U`` (§4).
* :func:`llr_attention` — local linear regression with attention weights (§4.3,
  the paper's Appendix E).

The matrices behind them, for plotting and for tests, come from the same code:
:func:`attention_weights` (``A``), :func:`reference_kernel` (``P``),
:func:`ridge_inverse` (``(P + λI)⁻¹``), :func:`deltaformer_kernel` (``L``),
:func:`llr_weights`, and :func:`cubit_matrices` for all of Cubit's at once.

Each function checks its arguments (:mod:`cubit_lite.mixers.validation`: shapes,
``λ >= 0``, ``ref_scale > 0``, ``μ > 0``, option names; a :class:`ValueError` says what is
allowed), then hands the work to the reference mathematics (:mod:`cubit_lite.mixers.naive`)
or, for the solves, to the dispatcher (:mod:`cubit_lite.mixers.dispatch`), which picks the
path and applies the precision rule: the solves run in float32 even when the inputs are
bf16/fp16 or bf16 autocast is on, float64 inputs stay float64, and ``U`` is cast back to
``V``'s dtype before the read-out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from . import dispatch, naive
from .dispatch import IMPLEMENTATIONS, PerHead
from .logits import REF_NORMS, U_STAGES
from .validation import (
    check_4d,
    check_cubit_options,
    check_implementation,
    check_per_head,
    check_per_token,
    check_positive,
    check_qk,
    check_qkv,
    check_ref_norm,
    check_same_tokens,
    check_scale,
    check_tokens,
    check_u_stage,
)

__all__ = [
    "IMPLEMENTATIONS",
    "U_STAGES",
    "REF_NORMS",
    "CubitMatrices",
    "attention_weights",
    "cubit_attention",
    "cubit_matrices",
    "cubit_solve",
    "deltaformer_attention",
    "deltaformer_kernel",
    "deltaformer_solve",
    "gaussian_nadaraya_watson",
    "llr_attention",
    "llr_weights",
    "reference_kernel",
    "ridge_inverse",
    "softmax_attention",
]


def _scale(d: int, scale: float | None) -> float:
    """The attention scale ``1/τ``: ``1/√D`` unless given."""
    return 1.0 / math.sqrt(d) if scale is None else float(scale)


# --------------------------------------------------------------------------- #
# Softmax attention = Nadaraya–Watson (§2)
# --------------------------------------------------------------------------- #
def attention_weights(q: Tensor, k: Tensor, *, causal: bool = True, scale: float | None = None) -> Tensor:
    """The attention matrix ``A = rowsoftmax_M(Q Kᵀ · scale)``: NW weights (§2).

    Args:
        q: queries ``(B, H, Tq, D)``.
        k: keys ``(B, H, Tk, D)``.
        causal: mask keys after the query (``j <= i``); needs ``Tq == Tk``.
        scale: ``1/τ``; default ``1/√D``.

    Returns:
        ``A`` of shape ``(B, H, Tq, Tk)``: non-negative, rows sum to one, zero above
        the diagonal when causal.
    """
    check_qk(q, k)
    check_scale(scale)
    check_same_tokens(q, k, causal=causal)
    return naive.attention_weights(q, k, causal=causal, scale=_scale(q.shape[-1], scale))


def softmax_attention(q: Tensor, k: Tensor, v: Tensor, *, causal: bool = True, scale: float | None = None) -> Tensor:
    """Softmax attention ``O = A V`` with ``A = rowsoftmax_M(Q Kᵀ · scale)`` (§2).

    Row ``i`` is the Nadaraya–Watson estimate at the query ``q_i`` from the training
    set ``{(k_j, v_j) : j <= i}`` with the kernel ``exp(q · k · scale)``. Computed by
    PyTorch's fused ``scaled_dot_product_attention`` (no ``T × T`` matrix is kept);
    :func:`attention_weights` gives ``A`` itself.

    Args:
        q: ``(B, H, Tq, D)``; k: ``(B, H, Tk, D)``; v: ``(B, H, Tk, Dv)``.
        causal: query ``i`` sees keys ``j <= i`` (needs ``Tq == Tk``).
        scale: ``1/τ``; default ``1/√D``.

    Returns:
        ``O`` of shape ``(B, H, Tq, Dv)``.
    """
    check_qkv(q, k, v, causal=causal)
    check_scale(scale)
    return naive.softmax_attention(q, k, v, causal=causal, scale=scale)


def gaussian_nadaraya_watson(
    queries: Tensor, keys: Tensor, values: Tensor, *, bandwidth: float, causal: bool = True
) -> Tensor:
    """Nadaraya–Watson regression on vectors with the Gaussian kernel.

    ``o_i = Σ_j K_h(q_i − k_j) v_j / Σ_j K_h(q_i − k_j)``, ``K_h(u) ∝ exp(−‖u‖² / 2h²)``,
    over ``j <= i`` when causal. Computed from squared distances, not dot products, so
    it is an independent route to the identity of §2: for unit-norm ``q, k``,
    ``softmax_attention(q, k, v, scale=1/τ)`` equals this with ``h = √τ``.

    Shapes as in :func:`softmax_attention`; returns ``(B, H, Tq, Dv)``.
    """
    check_qkv(queries, keys, values, causal=causal)
    check_positive("bandwidth", bandwidth)
    return naive.gaussian_nadaraya_watson(queries, keys, values, bandwidth=float(bandwidth), causal=causal)


# --------------------------------------------------------------------------- #
# Cubit (§3)
# --------------------------------------------------------------------------- #
def reference_kernel(
    r: Tensor, *, ref_scale: PerHead = 1.0, ref_norm: str = "one-side", causal: bool = True
) -> Tensor:
    """Cubit's reference kernel matrix ``P = rowsoftmax_M(ℓ)`` (§3.2).

    With the default one-sided normalisation ``ℓ_ij = r_i · r̂_j``,
    ``r̂_j = g r_j / max(‖r_j‖, ε)``: ``P`` is lower triangular (causal), its rows sum
    to one, and ``P_ii >= 1/i`` because ``ℓ_ii = g‖r_i‖`` is the row's largest logit.

    Args:
        r: reference vectors ``(B, H, T, Dr)``.
        ref_scale: ``g > 0``, a float or one per head ``(H,)``.
        ref_norm: one of :data:`REF_NORMS`.
        causal: mask ``j > i``.

    Returns:
        ``P`` of shape ``(B, H, T, T)``, in ``r``'s dtype.
    """
    check_4d("r", r)
    check_per_head("ref_scale", ref_scale, r.shape[1], allow_zero=False)
    check_ref_norm(ref_norm)
    return naive.reference_kernel(r, ref_scale=dispatch.per_head(ref_scale, r), ref_norm=ref_norm, causal=causal)


def cubit_solve(
    r: Tensor,
    v: Tensor,
    *,
    s: Tensor | None = None,
    lam: PerHead = 1e-6,
    ref_scale: PerHead = 1.0,
    ref_norm: str = "one-side",
    causal: bool = True,
    implementation: str = "auto",
    solve_block: int = 64,
) -> Tensor:
    """Cubit's value stage ``U = (P + λI)⁻¹ S V`` (§3.1).

    ``P`` is :func:`reference_kernel` of ``r``; ``S = diag(s)`` (identity when ``s`` is
    None: no LRR). When causal, ``P + λI`` is lower triangular with diagonal
    ``P_ii + λ >= 1/i`` and ``U`` comes from one triangular solve (forward
    substitution), never from an explicit inverse: ``u_t`` depends on tokens ``<= t``
    only. ``causal=False`` (a bidirectional variant, not in the paper) uses a dense LU
    solve and loses the invertibility guarantee.

    Runs in float32 (float64 for float64 inputs), with autocast off.

    Args:
        r: reference vectors ``(B, H, T, Dr)``.
        v: values ``(B, H, T, Dv)``.
        s: LRR scales ``(B, H, T)``, or None.
        lam: ridge ``λ >= 0``, a float or per head ``(H,)``.
        ref_scale, ref_norm: as in :func:`reference_kernel`.
        implementation: one of :data:`IMPLEMENTATIONS`. ``"blocked"`` and ``"triton"``
            never form ``P`` (blocked forward substitution, in PyTorch or as Triton
            kernels) and need ``causal=True``; ``"auto"`` picks ``"triton"`` for a
            causal solve on a CUDA GPU with TF32 (Ampere or newer) when ``triton`` is
            installed, ``"reference"`` otherwise (see :data:`IMPLEMENTATIONS`).
        solve_block: rows per block of the ``"blocked"`` solve (``T`` need not be a
            multiple; the Triton kernels take their block sizes from
            :class:`~cubit_lite.mixers.triton_solve.TritonConfig`).

    Returns:
        ``U`` of shape ``(B, H, T, Dv)`` in float32 (float64 for float64 inputs).
    """
    check_4d("r", r)
    check_4d("v", v)
    check_tokens("r and v", r, v)
    if s is not None:
        check_per_token("s", s, v)
    check_cubit_options(lam, ref_scale, ref_norm, heads=v.shape[1])
    check_implementation(implementation, causal=causal, solve_block=solve_block)
    return dispatch.cubit_solve(r, v, s=s, lam=lam, ref_scale=ref_scale, ref_norm=ref_norm, causal=causal,
                                implementation=implementation, solve_block=solve_block)


def cubit_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    r: Tensor,
    *,
    s: Tensor | None = None,
    lam: PerHead = 1e-6,
    ref_scale: PerHead = 1.0,
    ref_norm: str = "one-side",
    causal: bool = True,
    implementation: str = "auto",
    solve_block: int = 64,
) -> Tensor:
    """Cubit: ``O = A (P + λI)⁻¹ S V`` (the paper's eq. 13; §3).

    ``A = rowsoftmax_M(Q Kᵀ/√D)`` reads out the solved values ``U`` of
    :func:`cubit_solve`. With ``P = I``, ``λ = 0`` and ``S = I`` this is
    :func:`softmax_attention`.

    Args:
        q, k: ``(B, H, T, D)``; v: ``(B, H, T, Dv)``; r: ``(B, H, T, Dr)`` (``r = k``
            is the Cubit-Share ablation).
        s, lam, ref_scale, ref_norm, causal, implementation, solve_block: as in
            :func:`cubit_solve`.

    Returns:
        ``O`` of shape ``(B, H, T, Dv)`` in ``v``'s dtype.
    """
    check_qkv(q, k, v, causal=causal)
    if q.shape[2] != k.shape[2]:
        raise ValueError(f"Cubit needs one query per token; got {q.shape[2]} queries and {k.shape[2]} keys")
    u = cubit_solve(r, v, s=s, lam=lam, ref_scale=ref_scale, ref_norm=ref_norm, causal=causal,
                    implementation=implementation, solve_block=solve_block)
    return naive.softmax_attention(q, k, u.to(v.dtype), causal=causal)


def ridge_inverse(p: Tensor, *, lam: PerHead = 1e-6, causal: bool = True) -> Tensor:
    """``(P + λI)⁻¹`` as a matrix, for plotting only (the mixers never form it).

    Args:
        p: ``(B, H, T, T)``, e.g. from :func:`reference_kernel`.
        lam: ``λ >= 0``, a float or per head.

    Returns:
        ``(B, H, T, T)``, lower triangular when causal.
    """
    check_4d("p", p)
    if p.shape[-1] != p.shape[-2]:
        raise ValueError(f"p must be square in its last two dimensions; got shape {tuple(p.shape)}")
    check_per_head("lam (the ridge λ)", lam, p.shape[1], allow_zero=True)
    return naive.ridge_inverse(p, lam=dispatch.per_head(lam, p), causal=causal)


@dataclass(frozen=True)
class CubitMatrices:
    """Every matrix of one Cubit forward pass, each ``(B, H, T, T)`` (``s`` is ``(B, H, T)``).

    ``output = attention @ ridge_inverse @ (s[..., None] * v)`` reproduces
    :func:`cubit_attention` (up to rounding).
    """

    attention: Tensor  # A
    reference: Tensor  # P
    ridge_inverse: Tensor  # (P + λI)⁻¹
    s: Tensor  # diagonal of S


def cubit_matrices(
    q: Tensor,
    k: Tensor,
    r: Tensor,
    *,
    s: Tensor | None = None,
    lam: PerHead = 1e-6,
    ref_scale: PerHead = 1.0,
    ref_norm: str = "one-side",
    causal: bool = True,
) -> CubitMatrices:
    """``A``, ``P``, ``(P + λI)⁻¹`` and ``S`` of :func:`cubit_attention`, for plotting.

    Uses the reference path's functions, in the solve's precision.
    """
    check_qk(q, k)
    check_4d("r", r)
    check_tokens("q, k and r", q, k, r)
    if s is not None:
        check_per_token("s", s, q)
    check_cubit_options(lam, ref_scale, ref_norm, heads=q.shape[1])
    work = dispatch.solve_dtype(q.dtype, r.dtype)
    with dispatch.full_precision(q.device):
        q, k, r = q.to(work), k.to(work), r.to(work)
        p = naive.reference_kernel(r, ref_scale=dispatch.per_head(ref_scale, r), ref_norm=ref_norm, causal=causal)
        scales = torch.ones(q.shape[:3], dtype=work, device=q.device) if s is None else s.to(work)
        return CubitMatrices(
            attention=naive.attention_weights(q, k, causal=causal, scale=_scale(q.shape[-1], None)),
            reference=p,
            ridge_inverse=naive.ridge_inverse(p, lam=dispatch.per_head(lam, p), causal=causal),
            s=scales,
        )


# --------------------------------------------------------------------------- #
# DeltaFormer (§4)
# --------------------------------------------------------------------------- #
def deltaformer_kernel(k: Tensor, *, q: Tensor | None = None, causal: bool = True) -> Tensor:
    """DeltaFormer's ``L``: the row softmax of ``k_i · k_j / √D`` over ``j < i`` (§4).

    With ``q`` given, the logits are ``q_i · k_j / √D`` instead (the ``"qk"`` u-stage
    of :data:`U_STAGES`). Strictly lower triangular; row 1 (nothing before it) is all
    zero. With ``causal=False`` the softmax runs over every ``j ≠ i``.

    Returns:
        ``L`` of shape ``(B, H, T, T)``.
    """
    check_4d("k", k)
    if q is not None:
        check_qk(q, k)
        check_tokens("q and k", q, k)
    return naive.deltaformer_kernel(k, rows=q, causal=causal)


def deltaformer_solve(
    k: Tensor, v: Tensor, beta: Tensor, *, q: Tensor | None = None, causal: bool = True,
    implementation: str = "auto", solve_block: int = 64,
) -> Tensor:
    """DeltaFormer's value stage: solve ``(I + diag(β) L) U = V`` (§4).

    Row by row, ``u_i = v_i − β_i Σ_{j<i} L_ij u_j``: each token writes its value minus
    what the past already predicts (the delta rule). ``L`` comes from ``k_i · k_j``
    (the ``"kk"`` u-stage), or from ``q_i · k_j`` when ``q`` is given (``"qk"``, the
    published DeltaFormer). Float32 (float64 for float64 inputs), autocast off.

    Args:
        k: keys ``(B, H, T, D)``; v: values ``(B, H, T, Dv)``; beta: ``(B, H, T)``.
        q: queries ``(B, H, T, D)`` for the ``"qk"`` u-stage, or None (``"kk"``).
        implementation: one of :data:`IMPLEMENTATIONS`, as in :func:`cubit_solve`
            (``"blocked"``/``"triton"``: blocked forward substitution that never
            forms ``L``, causal only); solve_block: rows per block of ``"blocked"``.

    Returns:
        ``U`` of shape ``(B, H, T, Dv)``.
    """
    check_4d("k", k)
    check_4d("v", v)
    check_tokens("k and v", k, v)
    if q is not None:
        check_qk(q, k)
        check_tokens("q and k", q, k)
    check_per_token("beta", beta, v)
    check_implementation(implementation, causal=causal, solve_block=solve_block)
    return dispatch.deltaformer_solve(k, v, beta, rows=q, causal=causal, implementation=implementation,
                                      solve_block=solve_block)


def deltaformer_attention(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, *, u_stage: str = "kk", causal: bool = True,
    implementation: str = "auto", solve_block: int = 64,
) -> Tensor:
    """DeltaFormer: ``O = A U`` with ``(I + diag(β) L) U = V`` (§4).

    Args:
        q, k: ``(B, H, T, D)``; v: ``(B, H, T, Dv)``; beta: ``(B, H, T)``.
        u_stage: one of :data:`U_STAGES`: ``L`` from ``k_i · k_j`` (``"kk"``, default)
            or from ``q_i · k_j`` (``"qk"``, the published DeltaFormer).
        implementation, solve_block: as in :func:`deltaformer_solve`.

    Returns:
        ``O`` of shape ``(B, H, T, Dv)`` in ``v``'s dtype.
    """
    check_qkv(q, k, v, causal=causal)
    check_u_stage(u_stage)
    u = deltaformer_solve(k, v, beta, q=q if u_stage == "qk" else None, causal=causal,
                          implementation=implementation, solve_block=solve_block)
    return naive.softmax_attention(q, k, u.to(v.dtype), causal=causal)


# --------------------------------------------------------------------------- #
# Local linear regression (§4.3, the paper's Appendix E)
# --------------------------------------------------------------------------- #
def llr_weights(
    q: Tensor, k: Tensor, *, mu: float = 1e-2, causal: bool = True, scale: float | None = None
) -> Tensor:
    """Equivalent weights ``ℓ_ij`` of the local linear mixer (§4).

    With NW weights ``w_ij = A_ij``, ``k̄_i = Σ_j w_ij k_j``, ``m_i = k̄_i − q_i`` and
    ``C_i = Σ_j w_ij (k_j − k̄_i)(k_j − k̄_i)ᵀ + μI``:
    ``ℓ_ij = w_ij [1 − (k_j − k̄_i)ᵀ C_i⁻¹ m_i]``. Rows sum to one; entries can be
    negative. Row ``i`` gives the intercept of the ridge-weighted least-squares fit
    ``v_j ≈ a + B(k_j − q_i)``.

    Returns:
        ``(B, H, Tq, Tk)`` in float32 (float64 for float64 inputs).
    """
    check_qk(q, k)
    check_scale(scale)
    check_positive("mu (the ridge on the slope)", mu)
    check_same_tokens(q, k, causal=causal)
    return dispatch.llr_weights(q, k, mu=float(mu), causal=causal, scale=_scale(q.shape[-1], scale))


def llr_attention(
    q: Tensor, k: Tensor, v: Tensor, *, mu: float = 1e-2, causal: bool = True, scale: float | None = None
) -> Tensor:
    """The local linear regression mixer: ``o_i = Σ_j ℓ_ij v_j`` (§4.3, the paper's Appendix E).

    A slow, educational variant: ``O(T² D + T D³)`` time and a ``T × D × D`` tensor.
    Where NW (softmax attention) fits a constant to the values near ``q_i``, this
    fits a linear function of the key and evaluates it at ``q_i``.

    Shapes as in :func:`softmax_attention`; returns ``(B, H, Tq, Dv)``.
    """
    check_qkv(q, k, v, causal=causal)
    weights = llr_weights(q, k, mu=mu, causal=causal, scale=scale)  # float32 or float64
    return (weights @ v.to(weights.dtype)).to(v.dtype)
