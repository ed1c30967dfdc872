"""Cubit's and DeltaFormer's causal solves as fused Triton kernels (the GPU fast path).

Both systems have one shape (equations page §3.1 and §4.1, ``book/equations.md``):

    ``M U = Y``,   ``M = diag(s) P + diag(d)``,   ``P = rowsoftmax_mask(ℓ)``,
    ``ℓ_tj = α_t β_j (x_t · z_j)``

* Cubit: ``x = z = r``, ``α``, ``β`` the normalisations and the scale ``g``
  (:func:`~cubit_lite.mixers.logits.reference_scales`; ``a = α x`` and ``b = β z`` are the
  factors ``ℓ = a bᵀ`` of :func:`~cubit_lite.mixers.logits.reference_factors`), ``s = 1``,
  ``d = λ_h``; the mask keeps ``j <= t``.
* DeltaFormer: ``x = k`` (``q`` for the ``"qk"`` u-stage), ``z = k``, ``α = 1/√D``,
  ``β = 1`` (:func:`~cubit_lite.mixers.logits.deltaformer_scales`), ``s = β_t`` (the write
  strength), ``d = 1``; the mask keeps ``j < t`` (the first row is empty).

Keeping the raw vectors ``x, z`` apart from the scales matters for half-precision
inputs: their values are exact in TF32, so the tensor-core products ``x_t · z_j`` lose
nothing and only the float32 scaling rounds.

The blocked scheme of :mod:`cubit_lite.mixers.blocked` runs as kernels that never
store ``P`` and recompute every tile of it in registers. With blocks of ``C`` tokens
grouped into superblocks (both set by :class:`TritonConfig`; 64 and 512 by default):

1. ``lse`` — each row's log-sum-exp over its allowed columns (parallel over row
   blocks, online like flash attention). It depends on the logits only, so the
   normalisation of ``P`` is known before any ``U`` is. The same kernel writes the
   diagonal blocks ``P_ii`` from the same logits (each row of ``P`` sums to one in
   float32); PyTorch inverts the ``C × C`` blocks ``M_ii`` in one batched call.
2. Forward substitution, superblock by superblock. First, in parallel over the
   superblock's block rows, the contribution of everything already solved:
   ``OFF_i = Σ_{j < R0} P_ij U_j`` (``forward_offdiag``, shaped like attention with a
   known ``lse``). Then, inside the superblock, block row by block row (one program
   per batch·head and slice of value columns): ``U_i = M_ii⁻¹ (Y_i − s_i ⊙ (OFF_i +
   Σ_{R0 <= j < i} P_ij U_j))`` (``forward_local``). Only the short in-superblock
   chains are sequential; most of the work is parallel.
3. Backward substitution ``dY = M⁻ᵀ dU`` the same way in reverse:
   ``dY_i = M_ii⁻ᵀ (dU_i − Σ_{kb > i} P_{kb,i}ᵀ (s ⊙ dY)_kb)``.
4. With ``h = P U`` and ``c_t = dY_t · h_t`` the logit gradient is
   ``dℓ_tj = s_t P_tj (c_t − dY_t · u_j)`` (module docstring of ``blocked``). On the
   diagonal the kernels use ``c_t − dY_t · u_t = Σ_{j≠t} P_tj dY_t · (u_j − u_t)``
   instead: when ``P_tt ≈ 1`` (a peaked softmax) the two terms of the difference are
   nearly equal and their rounding error would swamp the true, tiny gradient. Two
   parallel kernels shaped like flash attention's backward give
   ``G = dℓ (β ⊙ z)`` and ``H = dℓᵀ (α ⊙ x)``, so ``dx = α G``, ``dα = Σ x G``,
   ``dz = β H``, ``dβ = Σ z H``; and ``ds_t = −c_t``, ``dd_t = −dY_t · u_t``.

Tokens are padded to a multiple of the block (zeros in ``x``, ``z``, ``Y``; ones in the
scales and the diagonal: the padded rows come after every real row, so causality keeps
them out of the real solution, and their ``dY`` is zero), feature widths to a power of
two of at least 16 (zeros do not change a dot product).

Precision: the kernels accumulate in float32 and keep ``U``, ``dY``, the scales and
every sum in float32. ``precision`` picks how the tile products are formed (:data:`PRECISIONS`):
``"tf32x3"`` (three TF32 tensor-core products that together carry float32's precision:
the default for float32 inputs), ``"ieee"`` (true float32 on the FMA units), ``"tf32"``
(one tensor-core product), ``"bf16-logits"`` (the logit products ``x_t · z_j`` with
bfloat16 operands, which is exact when ``x`` and ``z`` hold bfloat16 values, as under
autocast; TF32 for the rest) or ``"bf16"`` (bfloat16 operands for every tile product:
``P``, ``U``, ``dY`` and ``dℓ`` are rounded to bfloat16 before each product). Which one
a mixer gets comes from :class:`TritonConfig` (``float32_precision`` for float32
inputs, ``half_precision`` for bfloat16 or float16 inputs). GPUs older than Ampere have
no TF32 and always get ``"ieee"``. The diagonal blocks ``M_ii`` are inverted in float32
and the product with ``M_ii⁻¹`` is always ``"ieee"``.

Triton is imported only when these kernels are used: CPU-only installs never need it,
and with ``TRITON_INTERPRET=1`` the same kernels run on the CPU (slowly) for tests.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..validation import positive_int
from .launch_rules import WIDE, all_launches_safe

__all__ = ["DEFAULT_CONFIG", "PRECISIONS", "TritonConfig", "current_config", "float32_tiles", "launch_check_disabled",
           "triton_available", "triton_config", "triton_system_solve"]

PRECISIONS = ("ieee", "tf32x3", "tf32", "bf16-logits", "bf16")
"""How the kernels form tile products: true float32 (FMA units); three TF32 tensor-core
products that together carry float32's precision; one TF32 product; bfloat16 operands
for the logit products ``x_t · z_j`` only (exact when ``x``, ``z`` hold bfloat16 values)
and TF32 for the rest; or bfloat16 operands for every tile product. Every product
accumulates in float32, and the product with ``M_ii⁻¹`` is always ``"ieee"``."""

def _kernel_precisions(precision: str) -> tuple[str, str]:
    """``precision`` as the kernels' (``LPREC``, ``PREC``); bfloat16 products emulated in the interpreter."""
    logit, value = _LOGIT_AND_VALUE[precision]

    def run_as(p: str) -> str:
        return "bf16-emulated" if p == "bf16" and interpreting() else p

    return run_as(logit), run_as(value)


_LOGIT_AND_VALUE = {"ieee": ("ieee", "ieee"), "tf32x3": ("tf32x3", "tf32x3"), "tf32": ("tf32", "tf32"),
                    "bf16-logits": ("bf16", "tf32"), "bf16": ("bf16", "bf16")}
"""Each precision as (logit products, value products), the kernels' ``LPREC`` and ``PREC``."""


@dataclass(frozen=True)
class TritonConfig:
    """How the Triton solve runs: block sizes, launch configuration and tile precisions.

    Pass one to :func:`triton_system_solve` (``config=``), or make it the current one for
    a ``with`` block (:func:`triton_config`), which is how the mixers and the benchmarks
    choose it; :data:`DEFAULT_CONFIG` holds the library's choice. A backward pass uses
    its forward's configuration.

    Attributes:
        block: rows per block ``C`` of the substitutions (a power of two, at least 16).
        superblock: tokens per superblock (a multiple of ``block``): the sequential
            chains are this long; everything between superblocks runs in parallel.
        grad_block: row and column tile of the two gradient kernels (a power of two, at
            least 16), or None: chosen per shape with ``warps_grad`` (below).
        warps_row_lse, warps_offdiag, warps_local, warps_grad: warps per program of each
            kernel family (``row_lse``; ``forward_offdiag`` and ``backward_offdiag``;
            ``forward_local`` and ``backward_local``; ``grad_rows`` and ``grad_cols``).
            None for ``row_lse``, or ``grad_block=None`` for the gradient kernels (their
            tile and warps together; ``warps_grad`` is then not used): Triton's
            autotuner times the candidates of ``_triton_kernels`` (``ROW_LSE_WARPS``,
            ``GRAD_TILES``) on the first call for each shape and keeps the fastest (for
            heads or values narrower than 64 only the first candidate, a tile of 64
            and 4 warps, is used). A
            fixed tile with ``warps_grad=None`` gets 4 warps. (Triton's CPU
            interpreter takes no timings: there None means a tile of 64 and 4 warps.)
            A fixed tile of 64 rows needs more shared memory than a Hopper GPU has at
            head width 128 (Triton says ``OutOfResources``): there use 32, or None,
            which falls back to 32 by itself. The autotuner's choice comes from timings, so
            two runs may pick different tiles and round differently: for
            bitwise-repeatable training pass fixed values (e.g. ``grad_block=64,
            warps_grad=4, warps_row_lse=4``; ``grad_block=32`` at head width 128).
        stages: software-pipelining depth (Triton's ``num_stages``) of every kernel.
        float32_precision: tile precision for float32 inputs (one of :data:`PRECISIONS`).
        half_precision: tile precision when the caller's inputs are bfloat16 or float16.
    """

    block: int = 64
    superblock: int = 1024
    grad_block: int | None = None
    warps_row_lse: int | None = None
    warps_offdiag: int = 4
    warps_local: int = 4
    warps_grad: int | None = None
    stages: int = 3
    float32_precision: str = "tf32x3"
    half_precision: str = "bf16"

    def __post_init__(self):
        for name in ("block", "grad_block"):
            value = getattr(self, name)
            if name == "grad_block" and value is None:
                continue
            if not isinstance(value, int) or value < 16 or value & (value - 1):
                raise ValueError(f"{name} must be a power of two >= 16; got {value!r}")
        if not isinstance(self.superblock, int) or self.superblock < self.block or self.superblock % self.block:
            raise ValueError(f"superblock must be a positive multiple of block ({self.block}); got {self.superblock!r}")
        for name in ("warps_row_lse", "warps_offdiag", "warps_local", "warps_grad"):
            value = getattr(self, name)
            if value is None and name != "warps_offdiag" and name != "warps_local":
                continue
            if value not in (1, 2, 4, 8, 16):
                raise ValueError(f"{name} must be 1, 2, 4, 8 or 16; got {value!r}")
        positive_int("stages", self.stages)
        for name in ("float32_precision", "half_precision"):
            _check_precision(getattr(self, name))


_LAUNCH_CHECK = [True]
"""Whether :func:`_check_narrow_launch` refuses unsafe launches (off only inside :func:`launch_check_disabled`)."""


@contextlib.contextmanager
def launch_check_disabled() -> Iterator[None]:
    """Inside this block the solve does not refuse the fixed launches that
    :func:`~cubit_lite.mixers.launch_rules.all_launches_safe` marks unsafe.

    Only for measuring which launches run (``benchmarks/triton_launch_check.py``, one
    process per launch): such a launch can end the CUDA context with an illegal memory access.
    """
    _LAUNCH_CHECK[0] = False
    try:
        yield
    finally:
        _LAUNCH_CHECK[0] = True


def _check_narrow_launch(config: TritonConfig, head_width: int, value_width: int) -> None:
    """Refuse a fixed gradient launch that is known to fail at narrow heads, before any kernel runs."""
    if not _LAUNCH_CHECK[0]:
        return
    fixed_many_warps = config.grad_block is not None and (config.warps_grad or 4) > 4
    if fixed_many_warps and not all_launches_safe(head_width, value_width):
        raise ValueError(f"warps_grad={config.warps_grad} needs head and value widths of at least {WIDE} "
                         f"(padded here to {head_width} and {value_width}): at narrower heads it ends in an illegal "
                         "memory access on a Hopper GPU; use warps_grad=4 (or grad_block=None, chosen per shape)")


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")


DEFAULT_CONFIG = TritonConfig()
"""The library's configuration: bfloat16 tile products for half-precision inputs,
superblocks of 1024 tokens, and the gradient tile and ``row_lse``'s warps chosen per shape.
The measurements behind it are ``results/appendix_fast/mixer_speed_{fp32,bf16}_h200.json`` and
``results/appendix_fast/tune_triton_T4096_h200.json`` (``benchmarks/tune_triton.py``)."""

_current = DEFAULT_CONFIG


def current_config() -> TritonConfig:
    """The configuration that solves started now use (:data:`DEFAULT_CONFIG` outside any :func:`triton_config`)."""
    return _current


@contextlib.contextmanager
def triton_config(config: TritonConfig | None = None, **changes):
    """Inside ``with triton_config(cfg):`` (or ``triton_config(superblock=256)``, which
    changes those fields of the current configuration) every Triton solve uses it."""
    global _current
    chosen = dataclasses.replace(config or _current, **changes)
    before, _current = _current, chosen
    try:
        yield chosen
    finally:
        _current = before


def float32_tiles(precision: str):
    """``with float32_tiles(precision):`` float32 solves form their tiles with
    ``precision`` (one of :data:`PRECISIONS`): ``triton_config(float32_precision=precision)``."""
    _check_precision(precision)
    return triton_config(float32_precision=precision)


def interpreting() -> bool:
    """True when ``TRITON_INTERPRET=1``: kernels run on the CPU through Triton's interpreter."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


@functools.cache
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


@functools.cache
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

    A per-token ``(B, H, T)`` tensor is padded with ``value`` (the scales and the diagonal
    with 1, so that the padded rows of ``M`` stay invertible). When nothing needs padding
    the result may share memory with ``x``: callers only read it.
    """
    if x.dim() == 3:
        if x.shape[-1] == tokens:
            return x.reshape(-1, tokens).contiguous()  # no copy when nothing is padded (read only)
        return F.pad(x, (0, tokens - x.shape[-1]), value=value).reshape(-1, tokens).contiguous()
    w = x.shape[-1] if width is None else width
    if x.shape[-2:] == (tokens, w):
        return x.reshape(-1, tokens, w).contiguous()
    return F.pad(x, (0, w - x.shape[-1], 0, tokens - x.shape[-2])).reshape(-1, tokens, w).contiguous()


def _value_split(bh: int, dv: int, device: torch.device) -> int:
    """Value columns per program of the substitutions: enough programs to fill the GPU."""
    sms = torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 1
    bv = dv
    while bv > 16 and bh * (dv // bv) < sms:
        bv //= 2
    return bv


def _superblocks(nb: int, config: TritonConfig) -> list[tuple[int, int]]:
    """``(R0, R1)`` block ranges of the superblocks that cover ``nb`` blocks."""
    per = config.superblock // config.block
    return [(r0, min(r0 + per, nb)) for r0 in range(0, nb, per)]


def _launch(warps: int, config: TritonConfig) -> dict:
    """Triton's launch options (none in the interpreter, which takes no such options)."""
    return {} if interpreting() else {"num_warps": warps, "num_stages": config.stages}


def _diagonal_inverses(p_diag: Tensor, s: Tensor, d: Tensor, overwrite: bool) -> Tensor:
    """``M_ii⁻¹`` for every diagonal block ``(BH, NB, C, C)``, ``M_ii = diag(s_i) P_ii + diag(d_i)``
    (formed in ``p_diag``'s memory if ``overwrite``, when ``P_ii`` is not needed again).

    Batched triangular solves against the identity, in float32 (float64 blocks are no
    more accurate, and their ``T·C`` float64 temporaries raise the peak memory).
    """
    bh, nb, block, _ = p_diag.shape
    m = p_diag.mul_(s.view(bh, nb, block, 1)) if overwrite else p_diag * s.view(bh, nb, block, 1)
    m.diagonal(dim1=-2, dim2=-1).add_(d.view(bh, nb, block))
    eye = torch.eye(block, dtype=m.dtype, device=m.device).expand_as(m)
    return torch.linalg.solve_triangular(m, eye, upper=False).contiguous()


@contextlib.contextmanager
def _exact_float32(device: torch.device):
    """No autocast and no TF32 in PyTorch's own float32 products here (``c_t``, ``h``), even
    if the caller allowed TF32 (``torch.set_float32_matmul_precision("high")``)."""
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.autocast(device_type=device.type, enabled=False):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


_INPUTS = ("x", "z", "al", "be", "y", "s", "d")
"""The differentiable arguments of :class:`_TritonSystemSolve`, in order."""


class _TritonSystemSolve(torch.autograd.Function):
    """``U = (diag(s) P + diag(d))⁻¹ Y``, ``ℓ = diag(α) x zᵀ diag(β)``; see the module docstring."""

    @staticmethod
    def forward(ctx, x, z, al, be, y, s, d, strict: bool, precision: str, config: TritonConfig):
        kernels = _kernels()
        bsz, heads, t, dk = x.shape
        dv = y.shape[-1]
        block = config.block
        unit = max(block, config.grad_block or 64)  # powers of two: tp is a multiple of each (64: every candidate)
        tp = -(-t // unit) * unit
        bd, dvp = _width(dk), _width(dv)
        nb, bh = tp // block, bsz * heads
        lprec, prec = _kernel_precisions(precision)
        # bfloat16 logit products read x and z in bfloat16: half the bytes (exact for bfloat16 values)
        vectors = torch.bfloat16 if lprec.startswith("bf16") else torch.float32
        with _exact_float32(x.device):
            xp, yp = _pad(x.to(vectors), tp, bd), _pad(y, tp, dvp)
            zp = xp if z is x else _pad(z.to(vectors), tp, bd)  # one tensor passed twice: keep one copy
            alp, bep = _pad(al, tp, value=1.0), _pad(be, tp, value=1.0)
            sp, dp = _pad(s, tp, value=1.0), _pad(d, tp, value=1.0)
            logits = (xp, zp, alp, bep)
            precisions = dict(LPREC=lprec, PREC=prec)
            lse = torch.empty(bh, tp, dtype=torch.float32, device=x.device)
            p_diag = torch.empty(bh, nb, block, block, dtype=torch.float32, device=x.device)
            row_lse_args = dict(STRICT=strict, C=block, BD=bd, LPREC=lprec)
            if config.warps_row_lse is None and not interpreting():  # chosen per shape
                kernels.row_lse_tuned[(nb, bh)](*logits, lse, p_diag, tp, nb, **row_lse_args)
            else:
                kernels.row_lse[(nb, bh)](*logits, lse, p_diag, tp, nb, **row_lse_args,
                                          **_launch(config.warps_row_lse or 4, config))
            dinv = _diagonal_inverses(p_diag, sp, dp, overwrite=not strict)  # strict: h needs P_ii below
            up = torch.empty_like(yp)
            off = torch.empty_like(yp)
            bv = _value_split(bh, dvp, x.device)
            for r0, r1 in _superblocks(nb, config):
                if r0 > 0:
                    kernels.forward_offdiag[(r1 - r0, bh)](*logits, lse, up, off, r0, tp, C=block, BD=bd, DV=dvp,
                                                           **precisions, **_launch(config.warps_offdiag, config))
                kernels.forward_local[(bh, dvp // bv)](*logits, yp, sp, lse, dinv, up, off, r0, r1, nb, tp,
                                                       HAS_OFF=r0 > 0, C=block, BD=bd, DV=dvp, BV=bv,
                                                       **precisions, **_launch(config.warps_local, config))
            # h = P U, for c_t = dY_t · h_t in backward, written over OFF. With a ridge
            # (Cubit) U can be as large as Y/λ and P U = Y − λU is O(Y): take it from the
            # equation, not from the cancelling sum. DeltaFormer's U is O(Y); there β may
            # be ~0, so sum: OFF + P_ii U_i.
            h = off
            if strict:
                h.view(bh * nb, block, dvp).baddbmm_(p_diag.view(bh * nb, block, block),
                                                     up.view(bh * nb, block, dvp))
            else:
                h.copy_(yp).addcmul_(dp.unsqueeze(-1), up, value=-1.0).div_(sp.unsqueeze(-1))
        ctx.strict, ctx.precision, ctx.config = strict, precision, config
        ctx.shape, ctx.same_xz = (bsz, heads, t, dk, dv), z is x
        ctx.save_for_backward(xp, zp, alp, bep, up, h, sp, lse, dinv)
        return up[:, :t, :dv].reshape(bsz, heads, t, dv)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_u):
        kernels = _kernels()
        xp, zp, alp, bep, up, h, sp, lse, dinv = ctx.saved_tensors
        bsz, heads, t, dk, dv = ctx.shape
        config = ctx.config
        bh, tp, bd = xp.shape
        dvp = up.shape[-1]
        block = config.block
        nb = tp // block
        logits = (xp, zp, alp, bep)
        lprec, prec = _kernel_precisions(ctx.precision)
        precisions = dict(LPREC=lprec, PREC=prec)
        with _exact_float32(xp.device):
            dup = _pad(grad_u.to(torch.float32), tp, dvp)
            dy = torch.empty_like(dup)
            superblocks = _superblocks(nb, config)
            acc = torch.empty_like(dup) if len(superblocks) > 1 else dup  # dup: a placeholder, never read
            bv = _value_split(bh, dvp, xp.device)
            for r0, r1 in reversed(superblocks):
                if r1 < nb:
                    kernels.backward_offdiag[(r1 - r0, bh)](*logits, sp, lse, dy, acc, r0, r1, nb, tp, C=block,
                                                            BD=bd, DV=dvp, **precisions,
                                                            **_launch(config.warps_offdiag, config))
                kernels.backward_local[(bh, dvp // bv)](*logits, sp, lse, dinv, dup, dy, acc, r0, r1, nb, tp,
                                                        HAS_ACC=r1 < nb, C=block, BD=bd, DV=dvp, BV=bv,
                                                        **precisions, **_launch(config.warps_local, config))
            needs = dict(zip(_INPUTS, ctx.needs_input_grad[:len(_INPUTS)], strict=True))
            if any(needs[name] for name in ("x", "z", "al", "be")):
                # G and H; G may take the memory of the (now finished) off-diagonal sums. The
                # kernels also give the per-token sums c_t = dY_t · h_t, dY_t · u_t, x_t · G_t, z_t · H_t.
                fits = acc is not dup and acc.shape == xp.shape
                g = acc if fits else torch.empty(xp.shape, dtype=torch.float32, device=xp.device)
                hh = torch.empty(zp.shape, dtype=torch.float32, device=zp.device)
                c, cd, dd, dal, dbe = torch.empty(5, bh, tp, dtype=torch.float32, device=xp.device).unbind(0)
                common = dict(STRICT=ctx.strict, BD=bd, DV=dvp, **precisions)
                grid: Any  # a tuple, or a function of the autotuner's choice
                if config.grad_block is None and not interpreting():  # tile and warps chosen per shape
                    rows, cols = kernels.grad_rows_tuned, kernels.grad_cols_tuned
                    grid = lambda meta: (tp // meta["GB"], bh)  # noqa: E731
                else:  # tp is a multiple of the tile (forward padded it so)
                    gb = config.grad_block or 64
                    rows, cols, grid = kernels.grad_rows, kernels.grad_cols, (tp // gb, bh)
                    common.update(GB=gb, **_launch(config.warps_grad or 4, config))
                rows[grid](*logits, up, dy, sp, lse, h, g, c, cd, dd, dal, tp, **common)
                cols[grid](*logits, up, dy, sp, lse, c, cd, hh, dbe, tp, **common)
                grads: dict[str, Tensor | None] = {"al": dal, "be": dbe, "x": g.mul_(alp.unsqueeze(-1)),
                                                   "z": hh.mul_(bep.unsqueeze(-1))}
                if ctx.same_xz:  # one tensor passed as x and z: its gradient is the sum, returned once
                    grads["x"], grads["z"] = g.add_(hh), None
            else:
                grads, c, dd = {}, (dy * h).sum(-1), (dy * up).sum(-1)
            grads.update(y=dy, s=-c, d=-dd)

        def unpad(x, width=None):
            if x.dim() == 2:
                return x[:, :t].reshape(bsz, heads, t)
            return x[:, :t, :width].reshape(bsz, heads, t, width)

        widths = {"x": dk, "z": dk, "y": dv}
        return (*(unpad(grads[n], widths.get(n)) if needs[n] and grads.get(n) is not None else None
                  for n in _INPUTS), None, None, None)


def triton_system_solve(x: Tensor, z: Tensor, al: Tensor, be: Tensor, y: Tensor, s: Tensor, d: Tensor, *,
                        strict: bool, precision: str = "ieee", config: TritonConfig | None = None) -> Tensor:
    """``U = (diag(s) P + diag(d))⁻¹ Y``, ``P`` the row softmax of ``ℓ_tj = α_t β_j (x_t · z_j)``
    over ``j <= t`` (``j < t`` if strict).

    Args:
        x, z: ``(B, H, T, D)`` float32 row and column vectors of the logits.
        al, be: ``(B, H, T)`` float32 row and column scales ``α``, ``β``.
        y: ``(B, H, T, Dv)`` float32.
        s, d: ``(B, H, T)`` float32 row scale and diagonal of ``M`` (Cubit: ``1`` and
            ``λ``; DeltaFormer: ``β`` and ``1``). ``M`` must be invertible:
            ``d_t + s_t P_tt ≠ 0``; with ``strict=False`` also ``s_t ≠ 0`` (backward
            takes ``P U = (Y − dU)/s``).
        strict: exclude the diagonal from the softmax (DeltaFormer).
        precision: one of :data:`PRECISIONS`.
        config: block sizes and launch configuration (default: :func:`current_config`).

    Returns ``U`` ``(B, H, T, Dv)`` float32; differentiable in every tensor argument.
    Needs CUDA tensors, or CPU tensors with ``TRITON_INTERPRET=1``.
    """
    _check_precision(precision)
    if config is None:
        config = current_config()
    elif not isinstance(config, TritonConfig):
        raise TypeError(f"config must be a TritonConfig; got {type(config).__name__}")
    _check_narrow_launch(config, _width(x.shape[-1]), _width(y.shape[-1]))
    if not triton_available():
        raise RuntimeError("the Triton solve needs the `triton` package (it comes with PyTorch's CUDA wheels)")
    if x.device.type != "cuda" and not interpreting():
        raise RuntimeError(f"the Triton solve runs on CUDA tensors (or with TRITON_INTERPRET=1); got {x.device}")
    for name, v in (("x", x), ("z", z), ("al", al), ("be", be), ("y", y), ("s", s), ("d", d)):
        if v.dtype != torch.float32:
            raise TypeError(f"the Triton solve works in float32; {name} is {v.dtype}")
    return _solve_outside_compile()(x, z, al, be, y, s, d, bool(strict), precision, config)


@functools.cache
def _solve_outside_compile():
    """``_TritonSystemSolve.apply`` that ``torch.compile`` leaves as it is (the kernels are compiled already).

    Wrapped on first use, not at import: ``torch.compiler.disable`` imports Triton, and
    Triton must not be imported before ``TRITON_INTERPRET`` is read (a test run on a CPU
    sets it after the library is imported; importing the library stays light too).
    """
    return torch.compiler.disable(_TritonSystemSolve.apply)
