"""Multi-head token-mixer layers around the functional core, chosen by name.

Every layer maps ``x`` of shape ``(B, T, C)`` (``C = d_model``) to ``(B, T, C)``:
it projects ``x`` to per-head queries, keys and values (``(B, H, T, D)``), mixes the
tokens with the reference mathematics (:mod:`cubit_lite.mixers.naive`) or, for Cubit's and
DeltaFormer's solves, through the dispatcher (:mod:`cubit_lite.mixers.dispatch`), and
projects the heads back. :func:`build_mixer` makes one from its name:

==================  ==========================================================
``"transformer"``   softmax attention, ``O = A V``
``"cubit"``         ``O = A (P + λI)⁻¹ S V`` with its own reference projection
``"cubit-nolrr"``   Cubit with ``S = I`` (no Limited-Range Rescale)
``"cubit-share"``   Cubit with ``R = K`` (no reference projection)
``"deltaformer"``   ``O = A U``, ``(I + diag(β) L) U = V``
``"llr"``           local linear regression weights (slow, for small heads)
==================  ==========================================================

**Incremental decoding.** Pass a :class:`MixerCache`: an empty cache is filled by a
full forward pass over the prompt; after that each call takes one new token
(``T = 1``) and costs ``O(t · D)`` for the ``t``-th token. The result equals the
full forward pass (the tests check this in float64), because no mixer lets a token
change anything computed for an earlier one (equations page §3.5, "Forward substitution and
incremental decoding", ``book/equations.md``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..validation import positive_int
from . import dispatch, naive
from .functional import CubitMatrices, cubit_matrices
from .logits import deltaformer_logits, reference_logits
from .validation import check_implementation, check_per_head, check_positive, check_ref_norm, check_u_stage

__all__ = [
    "MIXER_NAMES",
    "CubitMixer",
    "DeltaFormerMixer",
    "LLRMixer",
    "MixerCache",
    "MultiHeadMixer",
    "SoftmaxMixer",
    "apply_rotary",
    "build_mixer",
    "mixer_options",
]


def apply_rotary(x: Tensor, offset: int = 0, base: float = 10000.0) -> Tensor:
    """Rotary position embedding of ``x`` ``(B, H, T, D)`` for positions ``offset .. offset + T − 1``.

    Pairs of coordinates ``(x_c, x_{c + D/2})`` are rotated by the angle ``t · base^(−2c/D)``
    at position ``t``, so that a dot product of two rotated vectors depends on their
    positions only through the offset between them (RoFormer, Su et al.).
    """
    t, d = x.shape[-2], x.shape[-1]
    half = d // 2
    exact = torch.float64 if x.dtype == torch.float64 else torch.float32  # angles never in half precision
    inv_freq = base ** (-torch.arange(half, device=x.device, dtype=exact) * 2.0 / d)  # (D/2,)
    angles = torch.arange(offset, offset + t, device=x.device, dtype=exact)[:, None] * inv_freq  # (T, D/2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class MixerCache:
    """What one mixer layer keeps between decoding steps.

    A dictionary of tensors ``(B, H, t, ·)`` grown along the token axis. Which
    tensors depends on the mixer: keys and values for attention; keys, references
    and the solved values ``u_j`` for Cubit (the ``u_j`` never change once computed).
    """

    def __init__(self) -> None:
        self.tensors: dict[str, Tensor] = {}

    def __len__(self) -> int:
        """Number of tokens seen so far."""
        return next(iter(self.tensors.values())).shape[-2] if self.tensors else 0

    def extend(self, **new: Tensor) -> dict[str, Tensor]:
        """Append ``new[name]`` (``(B, H, t_new, ·)``) to each cached tensor; return the totals."""
        for name, value in new.items():
            old = self.tensors.get(name)
            self.tensors[name] = value if old is None else torch.cat([old, value], dim=-2)
        return {name: self.tensors[name] for name in new}


class MultiHeadMixer(nn.Module):
    """Shared scaffolding: the Q/K/V/output projections and the cache protocol.

    Subclasses implement :meth:`mix` (all tokens at once) and :meth:`mix_step`
    (one new token against the cache).

    Args:
        d_model: width ``C`` of the residual stream.
        n_heads: number of heads ``H``.
        head_dim: per-head width ``D``; default ``d_model // n_heads``.
        bias: whether the projections have biases.
        rotary: rotate queries and keys by their positions (rotary position
            embeddings, :func:`apply_rotary`), so that ``q_i · k_j`` depends on
            ``i − j``. Cubit rotates its references too unless told not to
            (:class:`CubitMixer`'s ``rotate_references``).
    """

    name = "mixer"

    def __init__(
        self, d_model: int, n_heads: int, *, head_dim: int | None = None, bias: bool = False, rotary: bool = False
    ) -> None:
        super().__init__()
        d_model, n_heads = positive_int("d_model", d_model), positive_int("n_heads", n_heads)
        if head_dim is None:
            if d_model % n_heads:
                raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads}), or pass head_dim")
            head_dim = d_model // n_heads
        head_dim = positive_int("head_dim", head_dim)
        if rotary and head_dim % 2:
            raise ValueError(f"rotary positions need an even head_dim; got {head_dim}")
        self.d_model, self.n_heads, self.head_dim, self.rotary = d_model, n_heads, head_dim, rotary
        inner = n_heads * head_dim
        self.query = nn.Linear(d_model, inner, bias=bias)
        self.key = nn.Linear(d_model, inner, bias=bias)
        self.value = nn.Linear(d_model, inner, bias=bias)
        self.out = nn.Linear(inner, d_model, bias=bias)

    # -- shapes ------------------------------------------------------------ #
    def heads(self, projected: Tensor) -> Tensor:
        """``(B, T, H·D) → (B, H, T, D)``."""
        b, t, _ = projected.shape
        return projected.view(b, t, self.n_heads, -1).transpose(1, 2)

    def merge(self, mixed: Tensor) -> Tensor:
        """``(B, H, T, D) → (B, T, C)`` through the output projection."""
        b, h, t, d = mixed.shape
        return self.out(mixed.transpose(1, 2).reshape(b, t, h * d))

    def project(self, x: Tensor, offset: int = 0) -> tuple[Tensor, Tensor, Tensor]:
        """Queries, keys and values ``(B, H, T, D)`` of ``x`` ``(B, T, C)`` for positions ``offset, …``;
        queries and keys rotated with rotary positions."""
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"x must have shape (B, T, {self.d_model}); got {tuple(x.shape)}")
        q, k, v = self.heads(self.query(x)), self.heads(self.key(x)), self.heads(self.value(x))
        if self.rotary:
            q, k = apply_rotary(q, offset), apply_rotary(k, offset)
        return q, k, v

    # -- the two paths ----------------------------------------------------- #
    def mix(self, x: Tensor, q: Tensor, k: Tensor, v: Tensor, cache: MixerCache | None) -> Tensor:
        """All tokens at once; fill ``cache`` if given. Returns ``(B, H, T, D)``."""
        raise NotImplementedError

    def mix_step(self, x: Tensor, q: Tensor, k: Tensor, v: Tensor, cache: MixerCache) -> Tensor:
        """One new token (``T = 1``) against a filled cache. Returns ``(B, H, 1, D)``."""
        raise NotImplementedError

    def path(self, device: torch.device, dtype: torch.dtype) -> str:
        """How this layer mixes on ``device`` when its projections give ``dtype`` (bfloat16 under
        autocast): the implementation and precision its mixing resolves to, in words (the trainer
        prints it). A layer that picks a path or a precision of its own says which."""
        return f"reference, in {_name(dtype)}"

    def forward(self, x: Tensor, cache: MixerCache | None = None) -> Tensor:
        """Mix ``x`` of shape ``(B, T, C)``; returns ``(B, T, C)``.

        With ``cache=None`` or an empty cache, every token is processed at once (and
        an empty cache is filled). With a filled cache, ``x`` must be one new token.
        """
        q, k, v = self.project(x, 0 if cache is None else len(cache))
        if cache is None or len(cache) == 0:
            return self.merge(self.mix(x, q, k, v, cache))
        if x.shape[1] != 1:
            raise ValueError(f"after the prompt, decoding takes one token at a time; got {x.shape[1]} tokens")
        return self.merge(self.mix_step(x, q, k, v, cache))


class SoftmaxMixer(MultiHeadMixer):
    """``"transformer"``: causal softmax attention, ``O = A V`` (fused SDPA)."""

    name = "transformer"

    def mix(self, x, q, k, v, cache):
        if cache is not None:
            cache.extend(k=k, v=v)
        return naive.softmax_attention(q, k, v, causal=True)

    def mix_step(self, x, q, k, v, cache):
        past = cache.extend(k=k, v=v)
        return naive.softmax_attention(q, past["k"], past["v"], causal=False)

    def path(self, device, dtype):
        return f"scaled_dot_product_attention in {_name(dtype)}"


class CubitMixer(MultiHeadMixer):
    """Cubit: ``O = A (P + λI)⁻¹ S V`` (equations page §3, ``book/equations.md``), and its ablations.

    Args (beyond :class:`MultiHeadMixer`'s):
        lrr: use Limited-Range Rescale ``s = a + (b − a) sigmoid(x w + c)`` (False:
            ``"cubit-nolrr"``).
        share_reference: ``R = K`` (``"cubit-share"``) instead of its own projection.
        lam: initial ridge ``λ >= 0``, the same for every head (default 1e-6).
        learn_lam: train ``λ`` (stored as ``log λ`` per head; needs ``lam > 0``).
        lrr_bounds: ``(a, b)``, default ``(0.5, 2.0)``.
        learn_lrr_bounds: train ``a`` and ``b`` per head.
        ref_scale: initial reference scale ``g > 0`` (default 1; stored as ``log g``
            per head and always learned, so ``g`` stays positive and the diagonal of
            ``P`` stays the largest entry of its row).
        ref_norm: one of :data:`~cubit_lite.mixers.logits.REF_NORMS`.
        rotate_references: with ``rotary=True``, rotate each reference by its
            position like the keys (default): ``ℓ_ij = (R_i r_i) · (R_j r̂_j)``, so
            ``P`` depends on ``i − j`` as well as on content, and the pivot bound
            ``P_ii >= 1/i`` still holds because rotations keep norms (chapter 4,
            "Rotary references"). ``False`` leaves them unrotated
            (the ablation: ``P`` is then a function of content alone); for
            Cubit-Share the references are then the keys before rotation. No effect
            without rotary positions.
        implementation: how the causal solve runs, one of
            :data:`~cubit_lite.mixers.dispatch.IMPLEMENTATIONS` (default ``"auto"``);
            ``"blocked"`` never forms ``P`` (:mod:`cubit_lite.mixers.blocked`).
        solve_block: rows per block of the blocked solve (default 64).
    """

    name = "cubit"

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        *,
        head_dim: int | None = None,
        bias: bool = False,
        rotary: bool = False,
        lrr: bool = True,
        share_reference: bool = False,
        lam: float = 1e-6,
        learn_lam: bool = False,
        lrr_bounds: tuple[float, float] = (0.5, 2.0),
        learn_lrr_bounds: bool = False,
        ref_scale: float = 1.0,
        ref_norm: str = "one-side",
        rotate_references: bool = True,
        implementation: str = "auto",
        solve_block: int = 64,
    ) -> None:
        super().__init__(d_model, n_heads, head_dim=head_dim, bias=bias, rotary=rotary)
        if not isinstance(rotate_references, bool):
            raise ValueError(f"rotate_references must be True or False; got {rotate_references!r}")
        self.rotate_references = rotate_references
        check_implementation(implementation, causal=True, solve_block=solve_block)
        self.implementation, self.solve_block = implementation, solve_block
        check_per_head("lam (the ridge λ)", lam, n_heads, allow_zero=not learn_lam)
        check_per_head("ref_scale", ref_scale, n_heads, allow_zero=False)
        check_ref_norm(ref_norm)
        self.ref_norm = ref_norm
        self.share_reference = share_reference
        self.reference = None if share_reference else nn.Linear(d_model, n_heads * self.head_dim, bias=bias)
        log_lam = torch.full((n_heads,), math.log(lam) if lam > 0 else -math.inf)
        if learn_lam:
            self.log_lam = nn.Parameter(log_lam)
        else:
            self.register_buffer("log_lam", log_lam)
        self.log_ref_scale = nn.Parameter(torch.full((n_heads,), math.log(ref_scale)))
        self.rescale = None
        if lrr:
            low, high = (float(b) for b in lrr_bounds)
            if not (math.isfinite(low) and math.isfinite(high) and 0 < low < high):
                raise ValueError(f"lrr_bounds must be (a, b) with 0 < a < b; got {lrr_bounds!r}")
            self.rescale = nn.Linear(d_model, n_heads)
            bounds = torch.tensor([low, high]).repeat(n_heads, 1)  # (H, 2)
            if learn_lrr_bounds:
                self.lrr_bounds = nn.Parameter(bounds)
            else:
                self.register_buffer("lrr_bounds", bounds)

    @property
    def lam(self) -> Tensor:
        """``λ`` per head, shape ``(H,)``."""
        return self.log_lam.exp()

    @property
    def ref_scale(self) -> Tensor:
        """``g`` per head, shape ``(H,)``."""
        return self.log_ref_scale.exp()

    def scales(self, x: Tensor) -> Tensor | None:
        """LRR scales ``s_{t,h} = a_h + (b_h − a_h) sigmoid(x_t · w_h + c_h)``: ``(B, H, T)``, or None."""
        if self.rescale is None:
            return None
        low, high = self.lrr_bounds[:, 0, None], self.lrr_bounds[:, 1, None]  # (H, 1)
        with dispatch.full_precision(x.device):  # s is part of the solve: float32 under autocast too
            gate = torch.sigmoid(self.rescale(x.to(low.dtype))).transpose(1, 2)  # (B, H, T)
            return low + (high - low) * gate

    @property
    def references_are_keys(self) -> bool:
        """Whether the references are exactly the (possibly rotated) keys: Cubit-Share, unless
        rotary positions rotate the keys and ``rotate_references=False`` asks for unrotated ones."""
        return self.reference is None and (self.rotate_references or not self.rotary)

    def references(self, x: Tensor, k: Tensor, offset: int = 0) -> Tensor:
        """The reference vectors of tokens ``offset, offset + 1, …``: ``(B, H, T, D)``.

        ``R = X W_r`` (``K`` for Cubit-Share), rotated by position with rotary
        positions and ``rotate_references`` (``k`` arrives already rotated).
        """
        if self.references_are_keys:
            return k
        if self.reference is None:  # Cubit-Share, rotary, unrotated references: the keys before rotation
            return self.heads(self.key(x))
        r = self.heads(self.reference(x))
        return apply_rotary(r, offset) if self.rotary and self.rotate_references else r

    def matrices(self, x: Tensor) -> CubitMatrices:
        """``A``, ``P``, ``(P + λI)⁻¹`` and ``S`` of this layer on ``x`` ``(B, T, C)``, for plotting.

        The same projections, rotations and options as :meth:`forward` (``(B, H, T, T)``
        matrices, in the solve's precision).
        """
        q, k, _ = self.project(x)
        return cubit_matrices(q, k, self.references(x, k), s=self.scales(x), lam=self.lam,
                              ref_scale=self.ref_scale, ref_norm=self.ref_norm)

    def mix(self, x, q, k, v, cache):
        r, s = self.references(x, k), self.scales(x)
        u = dispatch.cubit_solve(r, v, s=s, lam=self.lam, ref_scale=self.ref_scale, ref_norm=self.ref_norm,
                                 causal=True, implementation=self.implementation,
                                 solve_block=self.solve_block)  # (B, H, T, D), fp32
        if cache is not None:
            cache.extend(k=k, u=u, **self._cached_references(r))
        return naive.softmax_attention(q, k, u.to(v.dtype), causal=True)

    def mix_step(self, x, q, k, v, cache):
        # u_t = (s_t v_t − Σ_{j<t} P_tj u_j) / (P_tt + λ)   (equations page §3.5)
        r_new, s = self.references(x, k, offset=len(cache)), self.scales(x)
        r_all = torch.cat([cache.tensors["k" if self.references_are_keys else "r"], r_new], dim=-2)
        u_past = cache.tensors["u"]
        work = u_past.dtype
        with dispatch.full_precision(x.device):
            logits = reference_logits(r_new.to(work), r_all.to(work), self.ref_scale, self.ref_norm)
            p = torch.softmax(logits, dim=-1)  # (B, H, 1, t): the new row of P
            rhs = v.to(work) if s is None else s.to(work).unsqueeze(-1) * v.to(work)
            lam = self.lam.to(work).view(1, -1, 1, 1)
            u_new = (rhs - p[..., :-1] @ u_past) / (p[..., -1:] + lam)  # (B, H, 1, D)
        past = cache.extend(k=k, u=u_new, **self._cached_references(r_new))
        return naive.softmax_attention(q, past["k"], past["u"].to(v.dtype), causal=False)

    def path(self, device, dtype):
        solve = dispatch.solve_path(self.implementation, device, (dtype,))
        return f"implementation={self.implementation} → {solve}"

    def _cached_references(self, r: Tensor) -> dict[str, Tensor]:
        """References that are the keys are not cached twice."""
        return {} if self.references_are_keys else {"r": r}


class DeltaFormerMixer(MultiHeadMixer):
    """DeltaFormer: ``O = A U`` with ``(I + diag(β) L) U = V`` (equations page §4.1, ``book/equations.md``).

    ``β_t = x_t · w_β + c_β`` per head, unbounded; ``w_β = 0`` and ``c_β = beta_init``
    at initialisation, so every ``β`` starts at ``beta_init`` (default 1).
    ``u_stage`` names how ``L`` is formed (:data:`~cubit_lite.mixers.logits.U_STAGES`):
    ``"kk"`` (default, ``k_i · k_j``, as flash-linear-attention's layer) or ``"qk"``
    (``q_i · k_j``, the published DeltaFormer and fla's op). Results must say which.
    ``implementation`` and ``solve_block`` choose the solve, as for :class:`CubitMixer`.
    """

    name = "deltaformer"

    def __init__(self, d_model: int, n_heads: int, *, head_dim: int | None = None, bias: bool = False,
                 rotary: bool = False, beta_init: float = 1.0, u_stage: str = "kk", implementation: str = "auto",
                 solve_block: int = 64) -> None:
        super().__init__(d_model, n_heads, head_dim=head_dim, bias=bias, rotary=rotary)
        check_u_stage(u_stage)
        check_implementation(implementation, causal=True, solve_block=solve_block)
        self.u_stage, self.implementation, self.solve_block = u_stage, implementation, solve_block
        self.beta = nn.Linear(d_model, n_heads)
        nn.init.zeros_(self.beta.weight)
        nn.init.constant_(self.beta.bias, float(beta_init))
        setattr(self.beta, "_keep_init", True)  # noqa: B010 (a plain flag on a module: mypy would type it as a submodule)

    def betas(self, x: Tensor) -> Tensor:
        """``β``: ``(B, H, T)``."""
        return self.beta(x).transpose(1, 2)

    def mix(self, x, q, k, v, cache):
        u = dispatch.deltaformer_solve(k, v, self.betas(x), rows=q if self.u_stage == "qk" else None, causal=True,
                                       implementation=self.implementation, solve_block=self.solve_block)
        if cache is not None:
            cache.extend(k=k, u=u)
        return naive.softmax_attention(q, k, u.to(v.dtype), causal=True)

    def mix_step(self, x, q, k, v, cache):
        # u_t = v_t − β_t Σ_{j<t} L_tj u_j, L_t = softmax_{j<t}(k_t · k_j / √D)   (q_t · k_j for "qk")
        k_past, u_past = cache.tensors["k"], cache.tensors["u"]
        work = u_past.dtype
        rows = q if self.u_stage == "qk" else k
        with dispatch.full_precision(x.device):
            l_row = torch.softmax(deltaformer_logits(rows.to(work), k_past.to(work)), dim=-1)  # (B, H, 1, t − 1)
            u_new = v.to(work) - self.betas(x).to(work).unsqueeze(-1) * (l_row @ u_past)
        past = cache.extend(k=k, u=u_new)
        return naive.softmax_attention(q, past["k"], past["u"].to(v.dtype), causal=False)

    def path(self, device, dtype):
        solve = dispatch.solve_path(self.implementation, device, (dtype,))
        return f"implementation={self.implementation} → {solve}"


class LLRMixer(MultiHeadMixer):
    """Local linear regression with attention weights (equations page §4.3, ``book/equations.md``): slow, educational.

    Args (beyond :class:`MultiHeadMixer`'s):
        mu: ridge ``μ > 0`` on the slope (default 1e-2).
    """

    name = "llr"

    def __init__(self, d_model: int, n_heads: int, *, head_dim: int | None = None, bias: bool = False,
                 rotary: bool = False, mu: float = 1e-2) -> None:
        super().__init__(d_model, n_heads, head_dim=head_dim, bias=bias, rotary=rotary)
        check_positive("mu (the ridge on the slope)", mu)
        self.mu = float(mu)

    def mix(self, x, q, k, v, cache):
        if cache is not None:
            cache.extend(k=k, v=v)
        return self._read_out(self._weights(q, k, causal=True), v)

    def mix_step(self, x, q, k, v, cache):
        past = cache.extend(k=k, v=v)
        return self._read_out(self._weights(q, past["k"], causal=False), past["v"])

    def path(self, device, dtype):
        return f"reference, weights in {_name(dispatch.solve_dtype(dtype))}"

    def _weights(self, q: Tensor, k: Tensor, *, causal: bool) -> Tensor:
        """The local linear weights ``ℓ`` of queries ``q`` against keys ``k``, at scale ``1/√D``."""
        return dispatch.llr_weights(q, k, mu=self.mu, causal=causal, scale=1.0 / math.sqrt(self.head_dim))

    @staticmethod
    def _read_out(weights: Tensor, v: Tensor) -> Tensor:
        """``ℓ V`` in the weights' (full) precision, returned in ``v``'s dtype."""
        return (weights @ v.to(weights.dtype)).to(v.dtype)


def _name(dtype: torch.dtype) -> str:
    """``torch.bfloat16`` → ``"bfloat16"``."""
    return str(dtype).removeprefix("torch.")


@dataclass(frozen=True)
class _Variant:
    """A mixer name's class, with the options the name fixes (``"cubit-share"``: ``share_reference=True``)
    and the options that mean nothing for it (``"cubit-nolrr"`` has no LRR bounds): neither is an option
    of the name."""

    cls: type[MultiHeadMixer]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    unused: tuple[str, ...] = ()

    def options(self) -> tuple[str, ...]:
        """The keyword options the name takes: its class's, but those fixed or unused."""
        hidden = {"d_model", "n_heads", *self.fixed, *self.unused}
        return tuple(name for name in inspect.signature(self.cls).parameters if name not in hidden)

    def build(self, d_model: int, n_heads: int, **options: Any) -> MultiHeadMixer:
        return self.cls(d_model, n_heads, **self.fixed, **options)


_REGISTRY: dict[str, _Variant] = {
    "transformer": _Variant(SoftmaxMixer),
    "cubit": _Variant(CubitMixer),
    "cubit-nolrr": _Variant(CubitMixer, fixed={"lrr": False}, unused=("lrr_bounds", "learn_lrr_bounds")),
    "cubit-share": _Variant(CubitMixer, fixed={"share_reference": True}),
    "deltaformer": _Variant(DeltaFormerMixer),
    "llr": _Variant(LLRMixer),
}

MIXER_NAMES = tuple(_REGISTRY)
"""The names :func:`build_mixer` accepts."""

MIXER_SUMMARIES: dict[str, str] = {
    "transformer": "softmax attention, O = A V",
    "cubit": "O = A (P + λI)⁻¹ S V with its own reference projection",
    "cubit-nolrr": "Cubit with S = I (no Limited-Range Rescale)",
    "cubit-share": "Cubit with R = K (no reference projection)",
    "deltaformer": "O = A U, (I + diag(β) L) U = V",
    "llr": "local linear regression weights (slow, for small heads)",
}
"""One line per mixer, in the order of :data:`MIXER_NAMES`: the command line's ``--help``
prints them, and ``tests/test_registries.py`` checks that this module's table says the same
and that the README and the troubleshooting page name exactly these mixers."""


def mixer_options(name: str) -> tuple[str, ...]:
    """The keyword options the mixer ``name`` accepts (beyond ``d_model``, ``n_heads``)."""
    _check_name(name)
    return _REGISTRY[name].options()


def _check_name(name: str) -> None:
    if name not in _REGISTRY:
        raise ValueError(f"unknown mixer {name!r}; choose one of {', '.join(MIXER_NAMES)}")


def build_mixer(name: str, d_model: int, n_heads: int, **options) -> MultiHeadMixer:
    """Make the multi-head mixer called ``name`` (one of :data:`MIXER_NAMES`).

    ``options`` are passed to its class (see :func:`mixer_options`); an option that
    the mixer does not take raises :class:`ValueError` listing those it does.
    """
    allowed = mixer_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"mixer {name!r} does not take option(s) {', '.join(unknown)}; its options are: {', '.join(allowed)}"
        )
    mixer = _REGISTRY[name].build(d_model, n_heads, **options)
    mixer.name = name
    return mixer
