"""Cubit's causal solve without a ``T × T`` matrix: blocked forward substitution.

The reference path (:func:`cubit_lite.mixers.naive.cubit_solve`) forms the whole
reference kernel ``P`` per head and calls one ``torch.linalg.solve_triangular``: clear,
and the oracle of the tests, but it stores ``O(T²)`` numbers per head. This module solves
the same system

    ``(P + λI) U = Y``,   ``P = rowsoftmax_causal(ℓ)``,   ``ℓ = a bᵀ``   (equations page §3.1, ``book/equations.md``)

(the factors ``a``, ``b`` of :func:`cubit_lite.mixers.logits.reference_factors`) one
block of ``n`` rows at a time (block row ``i`` holds tokens ``i0 .. i1 − 1``):

* **Forward.** Form the logit strip ``ℓ_i = a_i b_{<i1}ᵀ`` (``n × i1``, the causal
  mask inside the diagonal block), its row log-sum-exp ``lse_i`` (kept: ``O(T)``),
  ``P_i = exp(ℓ_i − lse_i)``, and

      ``U_i = (P_ii + λI)⁻¹ (Y_i − P_{i,<i0} U_{<i0})``

  (a triangular ``n × n`` solve; the off-diagonal part is one matrix product).
* **Backward.** With ``M = P + λI`` and the incoming ``dU``:
  ``dY = M⁻ᵀ dU`` by blocked *back* substitution over block columns in reverse,
  recomputing the column strip ``P_{≥i0, i}`` from ``a``, ``b`` and ``lse``:

      ``dY_i = (P_ii + λI)⁻ᵀ (dU_i − P_{≥i1, i}ᵀ dY_{≥i1})``.

  Then ``dP = −dY Uᵀ`` on the lower triangle, and the softmax backward needs
  ``Σ_j P_tj dP_tj = −dY_t · (P U)_t = −dY_t · (y_t − λ u_t)``, so with
  ``c_t = dY_t · (y_t − λ u_t)``:

      ``dℓ_tj = P_tj (c_t − dY_t · u_j)``,  ``da = dℓ b``,  ``db = dℓᵀ a``,
      ``dλ_h = −Σ_t dY_t · u_t``,  ``dY`` itself is the gradient of ``Y``.

  Column strip ``i`` of ``dℓ`` needs ``dY_t`` for ``t >= i0`` only, all known once
  ``dY_i`` is, so the gradients accumulate in the same reverse pass.

Saved for backward: ``a, b, Y, U`` (``O(T·D)``), ``lse`` (``O(T)``) and ``λ``. The
largest temporary is one strip, ``n × T`` per head. Everything runs in float32
(float64 for float64 inputs) with autocast off, like the reference path.

DeltaFormer's ``(I + diag(β) L) U = V`` (equations page §4.1) has the same shape and is
solved by the same scheme (:func:`blocked_delta_solve`): a strict mask (``j < i``),
unit diagonal blocks ``I + diag(β_i) L_ii``, and ``h = L U`` saved as well, since
``dβ_t = −dY_t · h_t`` and ``dℓ_tj = L_tj β_t (dY_t · h_t − dY_t · u_j)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .logits import deltaformer_factors, reference_factors

__all__ = [
    "DEFAULT_BLOCK",
    "blocked_delta_solve",
    "blocked_ridge_solve",
    "cubit_blocked_solve",
    "deltaformer_blocked_solve",
]

DEFAULT_BLOCK = 64
"""Rows per block of the forward substitution."""


def _diagonal_pieces(solve_block: int, t: int, like: Tensor, strict: bool = False) -> tuple[Tensor, Tensor]:
    """The masked-out part of a diagonal block and its identity, made once per call.

    Returns ``(hidden, eye)``, both ``(n, n)`` with ``n = min(block, t)``: ``hidden`` is
    True where ``j > i`` (``j >= i`` if strict). The last, shorter block uses their
    top-left corner, which is the same pattern.
    """
    n = min(solve_block, t)
    hidden = ~torch.ones(n, n, dtype=torch.bool, device=like.device).tril(-1 if strict else 0)
    return hidden, torch.eye(n, dtype=like.dtype, device=like.device)


def _row_strip(a: Tensor, b: Tensor, i0: int, i1: int, hidden: Tensor, lse: Tensor, *, empty_rows: bool = False):
    """Block row ``i`` of the row-softmax: ``P_i = exp(ℓ_i − lse_i)`` ``(B, H, n, i1)``.

    Writes the rows' log-sum-exp into ``lse[..., i0:i1]`` (kept for backward). With
    ``empty_rows`` a row with no allowed entry (the strict mask's first row) gets
    ``lse = 0`` and so an all-zero row.
    """
    n = i1 - i0
    strip = a[..., i0:i1, :] @ b[..., :i1, :].transpose(-2, -1)  # ℓ_i
    strip[..., i0:].masked_fill_(hidden[:n, :n], float("-inf"))
    row_lse = torch.logsumexp(strip, dim=-1)  # (B, H, n)
    if empty_rows:
        row_lse = row_lse.masked_fill(torch.isneginf(row_lse), 0.0)
    lse[..., i0:i1] = row_lse
    return strip.sub_(row_lse.unsqueeze(-1)).exp_()  # in place


def _column_strip(a: Tensor, b_i: Tensor, i0: int, hidden: Tensor, lse: Tensor) -> Tensor:
    """Block column ``i`` recomputed from the saved ``lse``: ``P_{≥i0, i}`` ``(B, H, T − i0, n)``."""
    n = b_i.shape[-2]
    col = a[..., i0:, :] @ b_i.transpose(-2, -1)  # ℓ_{≥i0, i}
    col[..., :n, :].masked_fill_(hidden[:n, :n], float("-inf"))
    return col.sub_(lse[..., i0:].unsqueeze(-1)).exp_()  # in place


class _BlockedRidgeSolve(torch.autograd.Function):
    """``U = (rowsoftmax_causal(a bᵀ) + diag(λ_h) I)⁻¹ Y``; see the module docstring."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, y: Tensor, lam: Tensor, solve_block: int) -> Tensor:
        # a, b: (B, H, T, D); y: (B, H, T, Dv); lam: (H,); all in the work dtype.
        with torch.autocast(device_type=a.device.type, enabled=False):
            t = a.shape[-2]
            lam4 = lam.view(1, -1, 1, 1)
            u = torch.empty_like(y)
            lse = torch.empty(a.shape[:3], dtype=a.dtype, device=a.device)  # (B, H, T)
            hidden, eye = _diagonal_pieces(solve_block, t, a)
            for i0 in range(0, t, solve_block):
                i1 = min(i0 + solve_block, t)
                n = i1 - i0
                p = _row_strip(a, b, i0, i1, hidden, lse)  # P_i: (B, H, n, i1)
                rhs = y[..., i0:i1, :]
                if i0 > 0:
                    rhs = rhs - p[..., :i0] @ u[..., :i0, :]  # Y_i − P_{i,<i0} U_{<i0}
                diag = p[..., i0:] + lam4 * eye[:n, :n]  # P_ii + λI
                u[..., i0:i1, :] = torch.linalg.solve_triangular(diag, rhs, upper=False)
        ctx.solve_block = solve_block
        ctx.save_for_backward(a, b, y, u, lse, lam)
        return u

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_u: Tensor):
        a, b, y, u, lse, lam = ctx.saved_tensors
        solve_block = ctx.solve_block
        with torch.autocast(device_type=a.device.type, enabled=False):
            grad_u = grad_u.to(u.dtype)
            t = a.shape[-2]
            lam4 = lam.view(1, -1, 1, 1)
            dy = torch.zeros_like(y)  # dY = M⁻ᵀ dU
            c = torch.zeros(a.shape[:3], dtype=a.dtype, device=a.device)  # c_t = dY_t · (y_t − λ u_t)
            da = torch.zeros_like(a)
            db = torch.zeros_like(b)
            hidden, eye = _diagonal_pieces(solve_block, t, a)
            for i0 in reversed(range(0, t, solve_block)):
                i1 = min(i0 + solve_block, t)
                n = i1 - i0
                b_i = b[..., i0:i1, :]  # (B, H, n, D)
                p = _column_strip(a, b_i, i0, hidden, lse)  # P_{≥i0, i}: (B, H, T − i0, n)
                rhs = grad_u[..., i0:i1, :]
                if i1 < t:
                    rhs = rhs - p[..., n:, :].transpose(-2, -1) @ dy[..., i1:, :]
                diag = p[..., :n, :] + lam4 * eye[:n, :n]
                dy_i = torch.linalg.solve_triangular(diag.transpose(-2, -1), rhs, upper=True)
                dy[..., i0:i1, :] = dy_i
                c[..., i0:i1] = (dy_i * (y[..., i0:i1, :] - lam4 * u[..., i0:i1, :])).sum(-1)
                # dℓ_tj = P_tj (c_t − dY_t · u_j) for t >= i0, j in block i (in place: one more strip)
                ds = (dy[..., i0:, :] @ u[..., i0:i1, :].transpose(-2, -1)).neg_()
                ds = ds.add_(c[..., i0:].unsqueeze(-1)).mul_(p)
                db[..., i0:i1, :] = ds.transpose(-2, -1) @ a[..., i0:, :]
                da[..., i0:, :] += ds @ b_i
            grad_lam = -(dy * u).sum(dim=(0, 2, 3))  # (H,)
        return da, db, dy, grad_lam if ctx.needs_input_grad[3] else None, None


def blocked_ridge_solve(a: Tensor, b: Tensor, y: Tensor, lam: Tensor, solve_block: int = DEFAULT_BLOCK) -> Tensor:
    """``U = (P + λI)⁻¹ Y`` with ``P = rowsoftmax_causal(a bᵀ)``, never forming ``P``.

    Args:
        a: row factors ``(B, H, T, D)``; b: column factors ``(B, H, T, D)``, so that
            the logits are ``ℓ_ij = a_i · b_j``.
        y: right-hand side ``(B, H, T, Dv)``.
        lam: ``λ >= 0`` per head, shape ``(H,)`` (may require grad).
        solve_block: rows per block (``T`` need not be a multiple).

    All tensors must share one floating dtype (the solve's); returns ``U`` of shape
    ``(B, H, T, Dv)`` in it. Differentiable in ``a``, ``b``, ``y`` and ``lam`` through a
    custom backward that saves ``O(T·D)`` tensors only.
    """
    return _BlockedRidgeSolve.apply(a, b, y, lam, int(solve_block))


def cubit_blocked_solve(r: Tensor, y: Tensor, *, lam: Tensor, ref_scale: Tensor, ref_norm: str,
                        solve_block: int = DEFAULT_BLOCK) -> Tensor:
    """Cubit's causal ``U = (P + λI)⁻¹ Y`` from the references ``r`` ``(B, H, T, Dr)``.

    ``y`` ``(B, H, T, Dv)`` is ``S V``; ``lam`` and ``ref_scale`` are ``(H,)``; all are
    already in the work dtype (the caller handles precision and autocast).
    """
    a, b = reference_factors(r, ref_scale, ref_norm)
    return blocked_ridge_solve(a.contiguous(), b.contiguous(), y.contiguous(), lam, solve_block)


class _BlockedDeltaSolve(torch.autograd.Function):
    """``U = (I + diag(β) L)⁻¹ Y``, ``L = rowsoftmax_strict(a bᵀ)`` (row 1 empty, all zero).

    Forward, block row ``i``: ``U_i = (I + β_i L_ii)⁻¹ (Y_i − β_i L_{i,<i0} U_{<i0})`` and
    ``h_i = (L U)_i``. Backward: ``dY_i = (I + β_i L_ii)⁻ᵀ (dU_i − L_{≥i1,i}ᵀ (β dY)_{≥i1})``,
    ``c_t = dY_t · h_t``, ``dβ_t = −c_t``, ``dℓ_tj = L_tj β_t (c_t − dY_t · u_j)``.
    """

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, y: Tensor, beta: Tensor, solve_block: int) -> Tensor:
        # a, b: (B, H, T, D); y: (B, H, T, Dv); beta: (B, H, T); all in the work dtype.
        with torch.autocast(device_type=a.device.type, enabled=False):
            t = a.shape[-2]
            u = torch.empty_like(y)
            h = torch.empty_like(y)  # L U
            lse = torch.empty(a.shape[:3], dtype=a.dtype, device=a.device)
            hidden, eye = _diagonal_pieces(solve_block, t, a, strict=True)
            for i0 in range(0, t, solve_block):
                i1 = min(i0 + solve_block, t)
                n = i1 - i0
                p = _row_strip(a, b, i0, i1, hidden, lse, empty_rows=i0 == 0)  # L_i; L_1 = 0
                beta_i = beta[..., i0:i1, None]  # (B, H, n, 1)
                past = p[..., :i0] @ u[..., :i0, :] if i0 > 0 else torch.zeros_like(y[..., i0:i1, :])
                diag = eye[:n, :n] + beta_i * p[..., i0:]
                u_i = torch.linalg.solve_triangular(diag, y[..., i0:i1, :] - beta_i * past, upper=False,
                                                    unitriangular=True)
                u[..., i0:i1, :] = u_i
                h[..., i0:i1, :] = past + p[..., i0:] @ u_i
        ctx.solve_block = solve_block
        ctx.save_for_backward(a, b, beta, u, h, lse)
        return u

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_u: Tensor):
        a, b, beta, u, h, lse = ctx.saved_tensors
        solve_block = ctx.solve_block
        with torch.autocast(device_type=a.device.type, enabled=False):
            grad_u = grad_u.to(u.dtype)
            t = a.shape[-2]
            dy = torch.zeros_like(u)
            c = torch.zeros(a.shape[:3], dtype=a.dtype, device=a.device)  # c_t = dY_t · h_t
            da = torch.zeros_like(a)
            db = torch.zeros_like(b)
            hidden, eye = _diagonal_pieces(solve_block, t, a, strict=True)
            for i0 in reversed(range(0, t, solve_block)):
                i1 = min(i0 + solve_block, t)
                n = i1 - i0
                b_i = b[..., i0:i1, :]
                p = _column_strip(a, b_i, i0, hidden, lse)  # L_{≥i0, i}: (B, H, T − i0, n)
                rhs = grad_u[..., i0:i1, :]
                if i1 < t:
                    rhs = rhs - p[..., n:, :].transpose(-2, -1) @ (beta[..., i1:, None] * dy[..., i1:, :])
                diag = eye[:n, :n] + beta[..., i0:i1, None] * p[..., :n, :]
                dy_i = torch.linalg.solve_triangular(diag.transpose(-2, -1), rhs, upper=True, unitriangular=True)
                dy[..., i0:i1, :] = dy_i
                c[..., i0:i1] = (dy_i * h[..., i0:i1, :]).sum(-1)
                # dℓ_tj = L_tj β_t (c_t − dY_t · u_j) (in place: one more strip)
                ds = (dy[..., i0:, :] @ u[..., i0:i1, :].transpose(-2, -1)).neg_()
                ds = ds.add_(c[..., i0:, None]).mul_(beta[..., i0:, None]).mul_(p)
                db[..., i0:i1, :] = ds.transpose(-2, -1) @ a[..., i0:, :]
                da[..., i0:, :] += ds @ b_i
        return da, db, dy, -c, None


def blocked_delta_solve(a: Tensor, b: Tensor, y: Tensor, beta: Tensor, solve_block: int = DEFAULT_BLOCK) -> Tensor:
    """``U = (I + diag(β) L)⁻¹ Y`` with ``L = rowsoftmax_{j<i}(a bᵀ)``, never forming ``L``.

    Args:
        a, b: ``(B, H, T, D)``, logits ``a_i · b_j``; y: ``(B, H, T, Dv)``;
        beta: ``(B, H, T)``; solve_block: rows per block.

    One floating dtype for all; returns ``U`` ``(B, H, T, Dv)``. Saves ``a, b, β, U,
    L U`` and the row log-sum-exp for backward (``O(T·D)``).
    """
    return _BlockedDeltaSolve.apply(a, b, y, beta, int(solve_block))


def deltaformer_blocked_solve(k: Tensor, v: Tensor, beta: Tensor, *, rows: Tensor | None = None,
                              solve_block: int = DEFAULT_BLOCK) -> Tensor:
    """DeltaFormer's causal ``(I + diag(β) L) U = V`` with ``L`` from ``k_i · k_j / √D``
    (or ``rows_i · k_j / √D``: ``rows = q`` is the ``"qk"`` u-stage).

    ``k`` and ``rows`` ``(B, H, T, D)``, ``v`` ``(B, H, T, Dv)``, ``beta`` ``(B, H, T)``,
    already in the work dtype.
    """
    a, b = deltaformer_factors(k if rows is None else rows, k)
    return blocked_delta_solve(a.contiguous(), b.contiguous(), v.contiguous(), beta.contiguous(), solve_block)
