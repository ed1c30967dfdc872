"""The token mixers as pure functions on ``(B, H, T, D)`` tensors: the reference path.

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

**Precision.** The solves (``P``, ``λ``, ``S`` and the triangular solve) run in
float32 even when the inputs are bf16/fp16 or when bf16 autocast is on; float64
inputs stay float64. ``U`` is cast back to ``V``'s dtype before the read-out.

**Validation.** Public functions check shapes, ``λ >= 0``, ``ref_scale > 0``, ``μ > 0``
and option names, and raise :class:`ValueError` saying what is allowed. The private
``_``-functions trust their inputs (the layers call those).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from . import triton_solve
from .blocked import (
    cubit_blocked_solve,
    deltaformer_blocked_solve,
    reference_columns,
    reference_rows,
    reference_scales,
)
from .triton_solve import interpreting, triton_available, triton_system_solve

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

PerHead = float | Tensor
"""A float, or a tensor of shape ``(H,)`` with one value per head."""

REF_NORMS = ("one-side", "both", "none")
"""How the reference logits are normalised (equations page §3.2, ``book/equations.md``):

* ``"one-side"`` (default): ``ℓ_ij = r_i · g r_j / ‖r_j‖``. The diagonal is the
  largest logit of its row (Cauchy–Schwarz), so ``P_ii >= 1/i``.
* ``"both"``: ``ℓ_ij = g r_i · r_j / (‖r_i‖ ‖r_j‖)``, a cosine kernel; the diagonal
  is again the largest, ``ℓ_ii = g``.
* ``"none"``: ``ℓ_ij = g r_i · r_j / √D``, like attention logits; no guarantee on
  the diagonal (an ablation)."""

EPS = 1e-6
"""ε in ``r̂_j = g r_j / max(‖r_j‖, ε)``."""

IMPLEMENTATIONS = ("auto", "reference", "blocked", "triton")
"""How :func:`cubit_solve` / :func:`cubit_attention` solve ``(P + λI) U = S V``:

* ``"reference"``: form ``P`` (``T × T`` per head) and call one
  ``torch.linalg.solve_triangular`` — the teaching code and the tests' oracle.
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

The same choice applies to :func:`deltaformer_solve` / :func:`deltaformer_attention`."""


# --------------------------------------------------------------------------- #
# Validation (public boundary)
# --------------------------------------------------------------------------- #
def _check_4d(name: str, x: Tensor) -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (B, H, T, D); got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape (B, H, T, D) (4 dimensions); got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor; got dtype {x.dtype}")


def _check_tokens(names: str, *tensors: Tensor) -> None:
    """Same (B, H, T) for every tensor."""
    shapes = [tuple(t.shape[:3]) for t in tensors]
    if len(set(shapes)) != 1:
        raise ValueError(f"{names} must share (B, H, T); got {', '.join(str(s) for s in shapes)}")


def _check_qk(q: Tensor, k: Tensor) -> None:
    _check_4d("q", q)
    _check_4d("k", k)
    if q.shape[:2] != k.shape[:2] or q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q and k must share (B, H) and the head dimension D; got q {tuple(q.shape)} and k {tuple(k.shape)}"
        )


def _check_qkv(q: Tensor, k: Tensor, v: Tensor, *, causal: bool) -> None:
    _check_qk(q, k)
    _check_4d("v", v)
    _check_tokens("k and v", k, v)
    if causal and q.shape[2] != k.shape[2]:
        raise ValueError(
            "causal=True needs as many queries as keys (token i sees keys 1..i); "
            f"got {q.shape[2]} queries and {k.shape[2]} keys. Use causal=False to attend to all keys."
        )


def _check_per_token(name: str, x: Tensor, like: Tensor) -> None:
    if not isinstance(x, Tensor) or tuple(x.shape) != tuple(like.shape[:3]):
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a tensor of shape (B, H, T) = {tuple(like.shape[:3])}; got {shape}")


def _check_per_head(name: str, value: PerHead, heads: int, *, allow_zero: bool) -> None:
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


def _check_ref_norm(ref_norm: str) -> None:
    if ref_norm not in REF_NORMS:
        raise ValueError(f"unknown ref_norm {ref_norm!r}; choose one of {', '.join(REF_NORMS)}")


def _check_cubit_options(lam: PerHead, ref_scale: PerHead, ref_norm: str, *, heads: int) -> None:
    _check_per_head("lam (the ridge λ)", lam, heads, allow_zero=True)
    _check_per_head("ref_scale", ref_scale, heads, allow_zero=False)
    _check_ref_norm(ref_norm)


def _check_implementation(implementation: str, causal: bool, solve_block: int) -> None:
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {implementation!r}; choose one of {', '.join(IMPLEMENTATIONS)}")
    if implementation in ("blocked", "triton") and not causal:
        raise ValueError(
            f"implementation={implementation!r} solves the causal (lower-triangular) system only; "
            "use implementation='reference' (or 'auto') with causal=False"
        )
    if isinstance(solve_block, bool) or not isinstance(solve_block, int) or solve_block < 1:
        raise ValueError("solve_block (rows per block of the blocked solve) must be a positive integer; "
                         f"got {solve_block!r}")


AUTO_PICKS_TRITON = True
"""Whether ``implementation="auto"`` runs the Triton kernels for a causal float32 solve on
an Ampere-or-newer CUDA GPU (compiled and tested there: ``results/cuda_tests_h200.txt``)."""


def _has_tf32(device: torch.device) -> bool:
    """Whether ``device`` is a CUDA GPU with TF32 tensor cores (compute capability 8.0 or more)."""
    if device.type != "cuda":
        return False
    return _gpu_has_tf32(torch.cuda.current_device() if device.index is None else device.index)


@functools.cache
def _gpu_has_tf32(index: int) -> bool:
    """:func:`_has_tf32` for GPU ``index``, asked once: every solve of a training step checks it."""
    return torch.cuda.get_device_capability(index) >= (8, 0)


def _resolve_implementation(implementation: str, device: torch.device, causal: bool, work: torch.dtype) -> str:
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


def _tile_precision(*tensors: Tensor) -> str:
    """The tile precision of the Triton solve for these inputs, from the current
    :class:`~cubit_lite.mixers.triton_solve.TritonConfig`: its ``half_precision`` when the
    caller's inputs are half precision, else its ``float32_precision``; ``"ieee"`` on a
    GPU without TF32 (before Ampere)."""
    if tensors[0].device.type == "cuda" and not _has_tf32(tensors[0].device):
        return "ieee"
    config = triton_solve.current_config()
    if any(t.dtype in (torch.float16, torch.bfloat16) for t in tensors):
        return config.half_precision
    return config.float32_precision


def _check_scale(scale) -> None:
    if scale is not None and not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be None (meaning 1/√D) or a positive number; got {scale!r}")


# --------------------------------------------------------------------------- #
# Small shared pieces
# --------------------------------------------------------------------------- #
def _causal_mask(t_q: int, t_k: int, device, *, strict: bool = False) -> Tensor:
    """Boolean ``(t_q, t_k)`` mask, True where key ``j`` is visible from query ``i``.

    Aligned at the end (the last query sees every key), so a single new query sees
    the whole cache. ``strict`` excludes the diagonal (``j < i``).
    """
    offset = t_k - t_q
    return torch.ones(t_q, t_k, dtype=torch.bool, device=device).tril(offset - 1 if strict else offset)


def _masked_softmax(logits: Tensor, mask: Tensor | None, *, empty_rows: bool = False) -> Tensor:
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


def _solve_dtype(*tensors: Tensor) -> torch.dtype:
    """float64 if any input is float64, else float32: the solve never runs in half precision."""
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


@contextmanager
def _full_precision(device: torch.device) -> Iterator[None]:
    """Switch autocast off so that matmuls inside stay in the dtype we chose."""
    with torch.autocast(device_type=device.type, enabled=False):
        yield


def _per_head(value: PerHead, like: Tensor) -> Tensor | float:
    """A float stays a float; a per-head tensor becomes ``(1, H, 1, 1)`` in ``like``'s dtype."""
    if isinstance(value, Tensor):
        return value.to(device=like.device, dtype=like.dtype).reshape(1, -1, 1, 1)
    return float(value)


def _scale(d: int, scale: float | None) -> float:
    return 1.0 / math.sqrt(d) if scale is None else float(scale)


# --------------------------------------------------------------------------- #
# Softmax attention = Nadaraya–Watson (§2)
# --------------------------------------------------------------------------- #
def _attention_weights(q: Tensor, k: Tensor, causal: bool, scale: float) -> Tensor:
    logits = (q @ k.transpose(-2, -1)) * scale  # (B, H, Tq, Tk)
    mask = _causal_mask(q.shape[-2], k.shape[-2], q.device) if causal else None
    return _masked_softmax(logits, mask)


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
    _check_qk(q, k)
    _check_scale(scale)
    if causal and q.shape[2] != k.shape[2]:
        raise ValueError(f"causal=True needs as many queries as keys; got {q.shape[2]} and {k.shape[2]}")
    return _attention_weights(q, k, causal, _scale(q.shape[-1], scale))


def _softmax_attention(q: Tensor, k: Tensor, v: Tensor, causal: bool, scale: float | None) -> Tensor:
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)


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
    _check_qkv(q, k, v, causal=causal)
    _check_scale(scale)
    return _softmax_attention(q, k, v, causal, scale)


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
    _check_qkv(queries, keys, values, causal=causal)
    if not (isinstance(bandwidth, (int, float)) and math.isfinite(bandwidth) and bandwidth > 0):
        raise ValueError(f"bandwidth must be a positive number; got {bandwidth!r}")
    sq_dist = torch.cdist(queries, keys).pow(2)  # (B, H, Tq, Tk)
    mask = _causal_mask(queries.shape[-2], keys.shape[-2], queries.device) if causal else None
    return _masked_softmax(-sq_dist / (2.0 * bandwidth**2), mask) @ values


# --------------------------------------------------------------------------- #
# Cubit (§3)
# --------------------------------------------------------------------------- #
def _reference_logits(r_query: Tensor, r_key: Tensor, ref_scale: PerHead, ref_norm: str) -> Tensor:
    """``ℓ_ij`` of §3.2 for queries ``r_query (…, Tq, D)`` and keys ``r_key (…, Tk, D)``.

    ``ℓ = a bᵀ`` with the factors the blocked path uses too (one definition for both).
    """
    a = reference_rows(r_query, ref_norm, EPS)
    b = reference_columns(r_key, ref_scale, ref_norm, EPS)  # r̂_j = g r_j / max(‖r_j‖, ε)
    return a @ b.transpose(-2, -1)  # (B, H, Tq, Tk)


def _reference_kernel(r: Tensor, ref_scale: PerHead, ref_norm: str, causal: bool) -> Tensor:
    t = r.shape[-2]
    mask = _causal_mask(t, t, r.device) if causal else None
    return _masked_softmax(_reference_logits(r, r, ref_scale, ref_norm), mask)


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
    _check_4d("r", r)
    _check_per_head("ref_scale", ref_scale, r.shape[1], allow_zero=False)
    _check_ref_norm(ref_norm)
    return _reference_kernel(r, ref_scale, ref_norm, causal)


def _add_ridge(p: Tensor, lam: PerHead) -> Tensor:
    """``P + λI`` for a float or per-head ``λ``; ``p`` is ``(B, H, T, T)``."""
    eye = torch.eye(p.shape[-1], dtype=p.dtype, device=p.device)
    return p + _per_head(lam, p) * eye


def _solve(system: Tensor, rhs: Tensor, causal: bool) -> Tensor:
    """``system⁻¹ rhs`` without forming the inverse: forward substitution when causal."""
    if causal:
        return torch.linalg.solve_triangular(system, rhs, upper=False)
    return torch.linalg.solve(system, rhs)


def _cubit_solve(
    r: Tensor,
    v: Tensor,
    s: Tensor | None,
    lam: PerHead,
    ref_scale: PerHead,
    ref_norm: str,
    causal: bool,
    implementation: str = "reference",
    solve_block: int = 64,
) -> Tensor:
    work = _solve_dtype(r, v)
    path = _resolve_implementation(implementation, r.device, causal, work)
    precision = _tile_precision(r, v)
    with _full_precision(r.device):
        r, v = r.to(work), v.to(work)
        rhs = v if s is None else s.to(work).unsqueeze(-1) * v  # S V: (B, H, T, Dv)
        if path == "blocked":
            return cubit_blocked_solve(r, rhs, lam, ref_scale, ref_norm, EPS, solve_block)
        if path == "triton":
            alpha, beta = reference_scales(r, ref_scale, ref_norm, EPS)  # ℓ_tj = α_t β_j r_t · r_j
            ones = torch.ones(r.shape[:3], dtype=work, device=r.device)
            ridge = (lam.to(device=r.device, dtype=work).reshape(1, -1, 1).expand_as(ones) if isinstance(lam, Tensor)
                     else ones * lam)
            return triton_system_solve(r, r, alpha, beta, rhs, ones, ridge, strict=False, precision=precision)
        p = _reference_kernel(r, ref_scale, ref_norm, causal)  # (B, H, T, T)
        return _solve(_add_ridge(p, lam), rhs, causal)  # (P + λI)⁻¹ S V


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
    _check_4d("r", r)
    _check_4d("v", v)
    _check_tokens("r and v", r, v)
    if s is not None:
        _check_per_token("s", s, v)
    _check_cubit_options(lam, ref_scale, ref_norm, heads=v.shape[1])
    _check_implementation(implementation, causal, solve_block)
    return _cubit_solve(r, v, s, lam, ref_scale, ref_norm, causal, implementation, solve_block)


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
    _check_qkv(q, k, v, causal=causal)
    if q.shape[2] != k.shape[2]:
        raise ValueError(f"Cubit needs one query per token; got {q.shape[2]} queries and {k.shape[2]} keys")
    u = cubit_solve(r, v, s=s, lam=lam, ref_scale=ref_scale, ref_norm=ref_norm, causal=causal,
                    implementation=implementation, solve_block=solve_block)
    return _softmax_attention(q, k, u.to(v.dtype), causal, None)


def _ridge_inverse(p: Tensor, lam: PerHead, causal: bool) -> Tensor:
    eye = torch.eye(p.shape[-1], dtype=p.dtype, device=p.device).expand_as(p)
    return _solve(_add_ridge(p, lam), eye, causal)


def ridge_inverse(p: Tensor, *, lam: PerHead = 1e-6, causal: bool = True) -> Tensor:
    """``(P + λI)⁻¹`` as a matrix, for plotting only (the mixers never form it).

    Args:
        p: ``(B, H, T, T)``, e.g. from :func:`reference_kernel`.
        lam: ``λ >= 0``, a float or per head.

    Returns:
        ``(B, H, T, T)``, lower triangular when causal.
    """
    _check_4d("p", p)
    if p.shape[-1] != p.shape[-2]:
        raise ValueError(f"p must be square in its last two dimensions; got shape {tuple(p.shape)}")
    _check_per_head("lam (the ridge λ)", lam, p.shape[1], allow_zero=True)
    return _ridge_inverse(p, lam, causal)


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

    Uses the same private functions as the mixer, in the solve's precision.
    """
    _check_qk(q, k)
    _check_4d("r", r)
    _check_tokens("q, k and r", q, k, r)
    if s is not None:
        _check_per_token("s", s, q)
    _check_cubit_options(lam, ref_scale, ref_norm, heads=q.shape[1])
    work = _solve_dtype(q, r)
    with _full_precision(q.device):
        q, k, r = q.to(work), k.to(work), r.to(work)
        p = _reference_kernel(r, ref_scale, ref_norm, causal)
        scales = torch.ones(q.shape[:3], dtype=work, device=q.device) if s is None else s.to(work)
        return CubitMatrices(
            attention=_attention_weights(q, k, causal, _scale(q.shape[-1], None)),
            reference=p,
            ridge_inverse=_ridge_inverse(p, lam, causal),
            s=scales,
        )


# --------------------------------------------------------------------------- #
# DeltaFormer (§4)
# --------------------------------------------------------------------------- #
U_STAGES = ("kk", "qk")
"""How DeltaFormer's u-stage logits are formed: ``"kk"`` (``k_i · k_j``, what
flash-linear-attention's DeltaFormer *layer* passes, and this library's default) or
``"qk"`` (``q_i · k_j``, the published DeltaFormer and fla's op ``fla.ops.deltaformer``)."""


def _check_u_stage(u_stage: str) -> None:
    if u_stage not in U_STAGES:
        raise ValueError(f"unknown u_stage {u_stage!r}; choose one of {', '.join(U_STAGES)} "
                         "(kk: L from k_i · k_j, qk: L from q_i · k_j)")


def _deltaformer_kernel(k: Tensor, causal: bool, q: Tensor | None = None) -> Tensor:
    t = k.shape[-2]
    rows = k if q is None else q
    logits = (rows @ k.transpose(-2, -1)) / math.sqrt(k.shape[-1])
    if causal:
        mask = _causal_mask(t, t, k.device, strict=True)
    else:
        mask = ~torch.eye(t, dtype=torch.bool, device=k.device)
    return _masked_softmax(logits, mask, empty_rows=True)


def deltaformer_kernel(k: Tensor, *, q: Tensor | None = None, causal: bool = True) -> Tensor:
    """DeltaFormer's ``L``: the row softmax of ``k_i · k_j / √D`` over ``j < i`` (§4).

    With ``q`` given, the logits are ``q_i · k_j / √D`` instead (the ``"qk"`` u-stage
    of :data:`U_STAGES`). Strictly lower triangular; row 1 (nothing before it) is all
    zero. With ``causal=False`` the softmax runs over every ``j ≠ i``.

    Returns:
        ``L`` of shape ``(B, H, T, T)``.
    """
    _check_4d("k", k)
    if q is not None:
        _check_qk(q, k)
        _check_tokens("q and k", q, k)
    return _deltaformer_kernel(k, causal, q)


def _delta_solve(l_matrix: Tensor, beta: Tensor, v: Tensor, causal: bool) -> Tensor:
    """``(I + diag(β) L)⁻¹ V``; unit diagonal, so forward substitution needs no division by ~0."""
    eye = torch.eye(l_matrix.shape[-1], dtype=l_matrix.dtype, device=l_matrix.device)
    return _solve(eye + beta.unsqueeze(-1) * l_matrix, v, causal)


def _deltaformer_solve(
    k: Tensor, v: Tensor, beta: Tensor, causal: bool, implementation: str = "reference", solve_block: int = 64,
    q: Tensor | None = None,
) -> Tensor:
    work = _solve_dtype(k, v)
    path = _resolve_implementation(implementation, k.device, causal, work)
    precision = _tile_precision(k, v) if q is None else _tile_precision(q, k, v)
    with _full_precision(k.device):
        k, v, beta = k.to(work), v.to(work), beta.to(work)
        rows = k if q is None else q.to(work)  # the u-stage logits are rows_t · k_j / √D
        if path == "blocked":
            return deltaformer_blocked_solve(k, v, beta, solve_block, rows=rows)  # never forms L
        if path == "triton":
            ones = torch.ones(k.shape[:3], dtype=work, device=k.device)
            scale = ones / math.sqrt(k.shape[-1])
            return triton_system_solve(rows, k, scale, ones, v, beta, ones, strict=True, precision=precision)
        return _delta_solve(_deltaformer_kernel(k, causal, rows), beta, v, causal)


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
    _check_4d("k", k)
    _check_4d("v", v)
    _check_tokens("k and v", k, v)
    if q is not None:
        _check_qk(q, k)
        _check_tokens("q and k", q, k)
    _check_per_token("beta", beta, v)
    _check_implementation(implementation, causal, solve_block)
    return _deltaformer_solve(k, v, beta, causal, implementation, solve_block, q)


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
    _check_qkv(q, k, v, causal=causal)
    _check_u_stage(u_stage)
    u = deltaformer_solve(k, v, beta, q=q if u_stage == "qk" else None, causal=causal,
                          implementation=implementation, solve_block=solve_block)
    return _softmax_attention(q, k, u.to(v.dtype), causal, None)


# --------------------------------------------------------------------------- #
# Local linear regression (§4.3, the paper's Appendix E)
# --------------------------------------------------------------------------- #
def _llr_weights(q: Tensor, k: Tensor, mu: float, causal: bool, scale: float) -> Tensor:
    work = _solve_dtype(q, k)
    with _full_precision(q.device):  # the D×D solves run in float32 (float64 for float64 inputs)
        return _llr_weights_full_precision(q.to(work), k.to(work), mu, causal, scale)


def _llr_weights_full_precision(q: Tensor, k: Tensor, mu: float, causal: bool, scale: float) -> Tensor:
    w = _attention_weights(q, k, causal, scale)  # (B, H, Tq, Tk), NW weights w_ij
    d = k.shape[-1]
    k_bar = w @ k  # k̄_i = Σ_j w_ij k_j: (B, H, Tq, D)
    second = (w @ (k.unsqueeze(-1) * k.unsqueeze(-2)).flatten(-2)).unflatten(-1, (d, d))  # Σ_j w_ij k_j k_jᵀ
    cov = second - k_bar.unsqueeze(-1) * k_bar.unsqueeze(-2)  # Σ_j w_ij (k_j − k̄_i)(k_j − k̄_i)ᵀ
    c = cov + mu * torch.eye(d, dtype=k.dtype, device=k.device)  # C_i: (B, H, Tq, D, D)
    z = torch.linalg.solve(c, (k_bar - q).unsqueeze(-1)).squeeze(-1)  # C_i⁻¹ m_i: (B, H, Tq, D)
    correction = z @ k.transpose(-2, -1) - (z * k_bar).sum(-1, keepdim=True)  # (k_j − k̄_i)ᵀ C_i⁻¹ m_i
    return w * (1.0 - correction)  # ℓ_ij


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
    _check_qk(q, k)
    _check_scale(scale)
    if not (isinstance(mu, (int, float)) and math.isfinite(mu) and mu > 0):
        raise ValueError(f"mu (the ridge on the slope) must be a positive number; got {mu!r}")
    if causal and q.shape[2] != k.shape[2]:
        raise ValueError(f"causal=True needs as many queries as keys; got {q.shape[2]} and {k.shape[2]}")
    return _llr_weights(q, k, float(mu), causal, _scale(q.shape[-1], scale))


def llr_attention(
    q: Tensor, k: Tensor, v: Tensor, *, mu: float = 1e-2, causal: bool = True, scale: float | None = None
) -> Tensor:
    """The local linear regression mixer: ``o_i = Σ_j ℓ_ij v_j`` (§4.3, the paper's Appendix E).

    A slow, educational variant: ``O(T² D + T D³)`` time and a ``T × D × D`` tensor.
    Where NW (softmax attention) fits a constant to the values near ``q_i``, this
    fits a linear function of the key and evaluates it at ``q_i``.

    Shapes as in :func:`softmax_attention`; returns ``(B, H, Tq, Dv)``.
    """
    _check_qkv(q, k, v, causal=causal)
    weights = llr_weights(q, k, mu=mu, causal=causal, scale=scale)  # float32 or float64
    return (weights @ v.to(weights.dtype)).to(v.dtype)
