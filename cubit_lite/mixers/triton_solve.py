"""Cubit's and DeltaFormer's causal solves as fused Triton kernels (the GPU fast path).

Both systems have one shape (CUBIT_MATH.md §3, §4):

    ``M U = Y``,   ``M = diag(s) P + diag(d)``,   ``P = rowsoftmax_mask(a bᵀ)``

* Cubit: ``s = 1``, ``d = λ_h``, the mask keeps ``j <= t``;
* DeltaFormer: ``s = β``, ``d = 1``, the mask keeps ``j < t`` (the first row is empty).

The blocked scheme of :mod:`cubit_lite.mixers.blocked` is split into kernels so that
``P`` is never stored and every tile of it is recomputed in registers:

1. ``lse`` — every row's log-sum-exp over its allowed columns (parallel over row
   blocks, online like flash attention). It depends on ``a`` and ``b`` only, so the
   normalisation of ``P`` is known before any ``U`` is.
2. The diagonal blocks ``P_ii`` (``C × C``, ``T·C`` numbers per head), written by the
   same kernel from the same logits as ``lse`` (so each row of ``P`` sums to one in
   float32), and the inverses of ``M_ii``, by batched PyTorch triangular solves.
3. Forward substitution, one program per (batch·head, slice of value columns), looping
   over block rows in order: ``U_i = M_ii⁻¹ (Y_i − s_i ⊙ Σ_{j<i} P_ij U_j)``, each
   ``P_ij`` recomputed as ``exp(a_i b_jᵀ − lse_i)``.
4. Backward substitution in reverse for ``dY = M⁻ᵀ dU``:
   ``dY_i = M_ii⁻ᵀ (dU_i − Σ_{k>i} P_kiᵀ (s ⊙ dY)_k)``.
5. With ``h = P U`` and ``c_t = dY_t · h_t`` the logit gradient is
   ``dℓ_tj = s_t P_tj (c_t − dY_t · u_j)`` (module docstring of ``blocked``), and
   ``da = dℓ b``, ``db = dℓᵀ a`` come from two parallel kernels shaped like flash
   attention's backward; ``ds_t = −c_t``, ``dd_t = −dY_t · u_t``.

Tokens are padded to a multiple of the block (zeros in ``a``, ``b``, ``Y``; the padded
rows come after every real row, so causality keeps them out of the real solution, and
their ``dY`` is zero), feature widths to a power of two of at least 16 (zeros do not
change a dot product).

Precision: the kernels read and write float32 and accumulate in float32. ``precision``
picks how the tile products are formed: ``"ieee"`` (true float32, the default for
float32 inputs) or ``"tf32"`` (tensor cores; what the layers use when their inputs are
bfloat16 or float16). The product with ``M_ii⁻¹`` is always ``"ieee"``.

Triton is imported only when these kernels are used: CPU-only installs never need it,
and with ``TRITON_INTERPRET=1`` the same kernels run on the CPU (slowly) for tests.
"""

from __future__ import annotations

import functools
import os

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["PRECISIONS", "TRITON_BLOCK", "triton_available", "triton_system_solve"]

TRITON_BLOCK = 64
"""Rows per block ``C`` of the sequential kernels (a power of two, at least 16)."""

PRECISIONS = ("ieee", "tf32")
"""How the kernels form tile products: true float32, or TF32 tensor cores."""

_GRAD_BLOCK = 32
"""Row and column tile of the gradient kernels (smaller: they hold more tiles)."""


def interpreting() -> bool:
    """True when ``TRITON_INTERPRET=1``: kernels run on the CPU through Triton's interpreter."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


@functools.lru_cache(maxsize=None)
def triton_available() -> bool:
    """Whether ``import triton`` works (it ships with PyTorch's CUDA wheels, and Colab's)."""
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure means: use another path
        return False
    return True


def _kernels():
    """The Triton kernels (:mod:`cubit_lite.mixers._triton_kernels`), imported on first use."""
    from . import _triton_kernels

    if interpreting():
        _interpreter_loop_bounds()
    return _triton_kernels


@functools.lru_cache(maxsize=None)
def _interpreter_loop_bounds() -> None:
    """Let Triton's CPU interpreter take ``range(program_id + 1)`` under NumPy 2.

    The interpreter holds every scalar as a one-element array and turns it into a loop
    bound with ``int(array)``, which NumPy 2 refuses for arrays with a dimension. Only
    ``TRITON_INTERPRET=1`` runs (the tests on a CPU) go through here; compiled kernels
    never do.
    """
    from triton.runtime import interpreter

    original = interpreter._patch_lang_tensor

    def patch(tensor, scope):
        original(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.reshape(-1)[0]))

    interpreter._patch_lang_tensor = patch


# --------------------------------------------------------------------------- #
# Host side
# --------------------------------------------------------------------------- #
def _width(n: int) -> int:
    """A feature width the kernels take: a power of two, at least 16."""
    return max(16, 1 << (n - 1).bit_length())


def _pad(x: Tensor, tokens: int, width: int | None = None, value: float = 0.0) -> Tensor:
    """``(B, H, T, W)`` → ``(B·H, tokens, width)`` contiguous, zero-padded; ``(B, H, T)`` → ``(B·H, tokens)``.

    A per-token ``(B, H, T)`` tensor is padded with ``value`` (the diagonal ``d`` with 1,
    so that the padded rows of ``M`` stay invertible).
    """
    if x.dim() == 3:
        return F.pad(x, (0, tokens - x.shape[-1]), value=value).reshape(-1, tokens).contiguous()
    w = x.shape[-1] if width is None else width
    return F.pad(x, (0, w - x.shape[-1], 0, tokens - x.shape[-2])).reshape(-1, tokens, w).contiguous()


def _value_split(bh: int, dv: int, device: torch.device) -> int:
    """Value columns per program of the substitutions: enough programs to fill the GPU."""
    sms = torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 1
    bv = dv
    while bv > 16 and bh * (dv // bv) < sms:
        bv //= 2
    return bv


def _warps(n: int) -> dict:
    return {} if interpreting() else {"num_warps": n}


def _diagonal_inverses(p_diag: Tensor, s: Tensor, d: Tensor) -> Tensor:
    """``M_ii⁻¹`` for every diagonal block ``(BH, NB, C, C)``, ``M_ii = diag(s_i) P_ii + diag(d_i)``.

    Batched triangular solves against the identity, in float64 and rounded once to
    float32 (the blocks are ``C × C``: cheap in any precision).
    """
    bh, nb, block, _ = p_diag.shape
    m = s.view(bh, nb, block, 1) * p_diag + torch.diag_embed(d.view(bh, nb, block))
    eye = torch.eye(block, dtype=torch.float64, device=p_diag.device).expand_as(m)
    return torch.linalg.solve_triangular(m.double(), eye, upper=False).to(p_diag.dtype).contiguous()


class _TritonSystemSolve(torch.autograd.Function):
    """``U = (diag(s) P + diag(d))⁻¹ Y``; see the module docstring for the kernels."""

    @staticmethod
    def forward(ctx, a, b, y, s, d, strict: bool, precision: str):
        kernels = _kernels()
        bsz, heads, t, dk = a.shape
        dv = y.shape[-1]
        block = TRITON_BLOCK
        tp = -(-t // block) * block
        bd, dvp = _width(dk), _width(dv)
        nb, bh = tp // block, bsz * heads
        with torch.autocast(device_type=a.device.type, enabled=False):
            ap, bp, yp = _pad(a, tp, bd), _pad(b, tp, bd), _pad(y, tp, dvp)
            sp, dp = _pad(s, tp, value=1.0), _pad(d, tp, value=1.0)
            lse = torch.empty(bh, tp, dtype=torch.float32, device=a.device)
            p_diag = torch.empty(bh, nb, block, block, dtype=torch.float32, device=a.device)
            kernels.row_lse[(nb, bh)](ap, bp, lse, p_diag, tp, nb, STRICT=strict, C=block, BD=bd,
                                      PREC=precision, **_warps(8))
            dinv = _diagonal_inverses(p_diag, sp, dp)
            up = torch.empty_like(yp)
            off = torch.empty_like(yp)
            bv = _value_split(bh, dvp, a.device)
            kernels.forward_substitution[(bh, dvp // bv)](
                ap, bp, yp, sp, lse, dinv, up, off, nb, tp, C=block, BD=bd, DV=dvp, BV=bv, PREC=precision,
                **_warps(8))
            # h = P U, for c_t = dY_t · h_t in backward. With a ridge (Cubit) U can be as
            # large as Y/λ and P U = Y − λU is O(Y): take it from the equation, not from
            # the cancelling sum. DeltaFormer's U is O(Y); there β may be ~0, so sum.
            if strict:
                h = off + (p_diag @ up.view(bh, nb, block, dvp)).view(bh, tp, dvp)
            else:
                h = (yp - dp.unsqueeze(-1) * up) / sp.unsqueeze(-1)
        ctx.strict, ctx.precision, ctx.shape = strict, precision, (bsz, heads, t, dk, dv)
        ctx.save_for_backward(ap, bp, up, h, sp, lse, dinv)
        return up[:, :t, :dv].reshape(bsz, heads, t, dv)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_u):
        kernels = _kernels()
        ap, bp, up, h, sp, lse, dinv = ctx.saved_tensors
        bsz, heads, t, dk, dv = ctx.shape
        bh, tp, bd = ap.shape
        dvp = up.shape[-1]
        block = TRITON_BLOCK
        nb = tp // block
        with torch.autocast(device_type=ap.device.type, enabled=False):
            dup = _pad(grad_u.to(torch.float32), tp, dvp)
            dy = torch.empty_like(dup)
            bv = _value_split(bh, dvp, ap.device)
            kernels.backward_substitution[(bh, dvp // bv)](
                ap, bp, sp, lse, dinv, dup, dy, nb, tp, C=block, BD=bd, DV=dvp, BV=bv, PREC=ctx.precision,
                **_warps(8))
            c = (dy * h).sum(-1).contiguous()  # c_t = dY_t · (P U)_t
            da = torch.empty_like(ap)
            db = torch.empty_like(bp)
            ng = tp // _GRAD_BLOCK
            common = dict(STRICT=ctx.strict, G=_GRAD_BLOCK, BD=bd, DV=dvp, PREC=ctx.precision, **_warps(4))
            kernels.grad_rows[(ng, bh)](ap, bp, up, dy, sp, lse, c, da, tp, **common)
            kernels.grad_cols[(ng, bh)](ap, bp, up, dy, sp, lse, c, db, tp, ng, **common)
            grad_s = -c
            grad_d = -(dy * up).sum(-1)

        def unpad(x, width=None):
            if x.dim() == 2:
                return x[:, :t].reshape(bsz, heads, t)
            return x[:, :t, :width].reshape(bsz, heads, t, width)

        return (unpad(da, dk), unpad(db, dk), unpad(dy, dv),
                unpad(grad_s) if ctx.needs_input_grad[3] else None,
                unpad(grad_d) if ctx.needs_input_grad[4] else None, None, None)


def triton_system_solve(a: Tensor, b: Tensor, y: Tensor, s: Tensor, d: Tensor, *, strict: bool,
                        precision: str = "ieee") -> Tensor:
    """``U = (diag(s) P + diag(d))⁻¹ Y``, ``P = rowsoftmax`` of ``a bᵀ`` over ``j <= t`` (``j < t`` if strict).

    Args:
        a, b: ``(B, H, T, D)`` float32, logits ``a_t · b_j``.
        y: ``(B, H, T, Dv)`` float32.
        s, d: ``(B, H, T)`` float32 row scale and diagonal (Cubit: ``1`` and ``λ``;
            DeltaFormer: ``β`` and ``1``). ``M`` must be invertible: ``d_t + s_t P_tt ≠ 0``;
            with ``strict=False`` also ``s_t ≠ 0`` (backward takes ``P U = (Y − dU)/s``).
        strict: exclude the diagonal from the softmax (DeltaFormer).
        precision: ``"ieee"`` or ``"tf32"``, see :data:`PRECISIONS`.

    Returns ``U`` ``(B, H, T, Dv)`` float32; differentiable in ``a, b, y, s, d``. Needs
    CUDA tensors, or CPU tensors with ``TRITON_INTERPRET=1``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if not triton_available():
        raise RuntimeError("the Triton solve needs the `triton` package (it comes with PyTorch's CUDA wheels)")
    if a.device.type != "cuda" and not interpreting():
        raise RuntimeError(f"the Triton solve runs on CUDA tensors (or with TRITON_INTERPRET=1); got {a.device}")
    for name, x in (("a", a), ("b", b), ("y", y), ("s", s), ("d", d)):
        if x.dtype != torch.float32:
            raise TypeError(f"the Triton solve works in float32; {name} is {x.dtype}")
    return _TritonSystemSolve.apply(a, b, y, s, d, bool(strict), precision)
