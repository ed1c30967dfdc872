"""Exact causal ridge regression with a finite feature map, as a fixed-size streaming state.

Chapter 4 of the book finds that causal kernel ridge regression with the Gaussian kernel
keeps no per-token state: every new pair moves every old dual coefficient. That is a
property of kernels *without* a finite feature map. When the kernel is
``k(x, x') = φ(x) · φ(x')`` with ``φ(x) ∈ R^d`` (the linear kernel: ``φ(x) = x``), the
ridge solution after ``t`` pairs lives in the primal,

    W_t = (Φ_tᵀ Φ_t + λ I_d)⁻¹ Φ_tᵀ Y_t ,        ŷ_t = W_tᵀ q_t ,

where ``Φ_t`` (``t × d``) stacks the features of the first ``t`` pairs, ``Y_t``
(``t × p``) their targets and ``q_t ∈ R^d`` is the query of step ``t`` (equations page
§6, ``book/equations.md``). The push-through identity
``Φᵀ(ΦΦᵀ + λI_t)⁻¹ = (ΦᵀΦ + λI_d)⁻¹Φᵀ`` makes this equal to the dual (KRR) form
``k_t(q_t)ᵀ (K_t + λI_t)⁻¹ Y_t`` with ``K_t = Φ_t Φ_tᵀ``. So the whole past is summarised
by a ``d × d`` matrix and a ``d × p`` matrix, whatever ``t`` is:

* ``Γ_t⁻¹ = (Φ_tᵀ Φ_t + λ I)⁻¹``, updated by the Sherman–Morrison formula
  ``Γ_t⁻¹ = Γ_{t-1}⁻¹ − (Γ_{t-1}⁻¹ φ_t)(Γ_{t-1}⁻¹ φ_t)ᵀ / (1 + φ_tᵀ Γ_{t-1}⁻¹ φ_t)`` in ``O(d²)``;
* ``B_t = Φ_tᵀ Y_t = B_{t-1} + φ_t y_tᵀ`` in ``O(dp)``.

This is the state of linear attention (``B_t`` alone: the ``λ → ∞`` limit, up to the
factor ``1/λ``), of the mesa layer and of the test-time-regression view of sequence
models (references in the book).

Functions:

* :func:`prefix_ridge` — the reference: one ``d × d`` solve per prefix, ``O(T d³)``.
* :func:`streaming_ridge` — the same predictions from the running state, ``O(T d²)``.
* :class:`RidgeState` — that state, one pair at a time.

Shapes: ``features`` ``(T, d)``, ``targets`` ``(T, p)`` or ``(T,)``, ``queries``
``(T, d)`` (default: ``features``, i.e. predict at each step's own input). The
prediction of step ``t`` uses pairs ``1..t`` (its own pair included, as causal attention
does). The ridge must be ``λ > 0``: the state starts at ``Γ_0⁻¹ = I / λ``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .validation import positive

__all__ = ["RidgeState", "prefix_ridge", "streaming_ridge"]


def _ridge(lam) -> float:
    """``λ > 0`` (the state starts at ``I/λ``), checked as every positive parameter of the library."""
    return positive("lam (the ridge λ)", lam)


def _matrix(name: str, values, rows: int | None = None, cols: int | None = None) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (T, d); got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must not be empty; got shape {arr.shape}")
    if rows is not None and arr.shape[0] != rows:
        raise ValueError(f"{name} must have {rows} rows (one per step), like features; got shape {arr.shape}")
    if cols is not None and arr.shape[1] != cols:
        raise ValueError(f"{name} must have {cols} columns (the feature dimension d); got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _inputs(features, targets, queries):
    phi = _matrix("features", features)
    T, d = phi.shape
    y = np.asarray(targets, dtype=np.float64)
    vector = y.ndim == 1
    y = _matrix("targets", y[:, None] if vector else y, rows=T)
    q = phi if queries is None else _matrix("queries", queries, rows=T, cols=d)
    return phi, y, q, vector


def prefix_ridge(features, targets, queries=None, *, lam: float) -> np.ndarray:
    """Causal ridge regression solved afresh for every prefix (the reference).

    Step ``t`` (0-based row ``t``) returns ``q_tᵀ W_t`` with
    ``W_t = (Φ_{1:t}ᵀ Φ_{1:t} + λI)⁻¹ Φ_{1:t}ᵀ Y_{1:t}`` (equations page §6,
    ``book/equations.md``). Shapes: features ``(T, d)``, targets ``(T, p)`` or ``(T,)``,
    queries ``(T, d)`` (default ``features``); returns ``(T, p)`` or ``(T,)``.
    """
    phi, y, q, vector = _inputs(features, targets, queries)
    lam = _ridge(lam)
    d = phi.shape[1]
    gram, cross = lam * np.eye(d), np.zeros((d, y.shape[1]))
    out = np.empty((phi.shape[0], y.shape[1]))
    for t in range(phi.shape[0]):
        gram += np.outer(phi[t], phi[t])  # Φᵀ Φ + λ I over pairs 1..t
        cross += np.outer(phi[t], y[t])  # Φᵀ Y over pairs 1..t
        out[t] = q[t] @ np.linalg.solve(gram, cross)
    return out[:, 0] if vector else out


@dataclass
class RidgeState:
    """The fixed-size state of exact causal ridge regression: ``Γ⁻¹ = (ΦᵀΦ + λI)⁻¹`` and ``B = ΦᵀY``.

    ``inverse`` is ``(d, d)``, ``cross`` is ``(d, p)``; together ``d² + dp`` numbers,
    independent of how many pairs have been absorbed.
    """

    inverse: np.ndarray
    cross: np.ndarray

    @classmethod
    def empty(cls, d: int, p: int, *, lam: float) -> RidgeState:
        """The state before any pair: ``Γ_0⁻¹ = I/λ``, ``B_0 = 0``."""
        if int(d) < 1 or int(p) < 1:
            raise ValueError(f"d and p must be positive integers; got d={d}, p={p}")
        return cls(np.eye(int(d)) / _ridge(lam), np.zeros((int(d), int(p))))

    def update(self, phi, y) -> None:
        """Absorb one pair ``(φ, y)``, ``φ`` of shape ``(d,)``, ``y`` of shape ``(p,)``: O(d² + dp)."""
        phi = np.asarray(phi, dtype=np.float64).reshape(-1)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if phi.shape != (self.inverse.shape[0],) or y.shape != (self.cross.shape[1],):
            raise ValueError(f"expected φ of shape ({self.inverse.shape[0]},) and y of shape "
                             f"({self.cross.shape[1]},); got {phi.shape} and {y.shape}")
        s_phi = self.inverse @ phi
        self.inverse -= np.outer(s_phi, s_phi) / (1.0 + phi @ s_phi)  # Sherman–Morrison
        self.cross += np.outer(phi, y)

    def predict(self, q) -> np.ndarray:
        """``ŷ = qᵀ Γ⁻¹ B``, shape ``(p,)``: O(d² + dp)."""
        return (np.asarray(q, dtype=np.float64) @ self.inverse) @ self.cross


def streaming_ridge(features, targets, queries=None, *, lam: float) -> np.ndarray:
    """The predictions of :func:`prefix_ridge`, from the running ``d × d`` state.

    One Sherman–Morrison update and one read-out per step, ``O(d² + dp)`` each, with a
    state of ``d² + dp`` numbers whatever the step (equations page §6,
    ``book/equations.md``). Shapes as in :func:`prefix_ridge`.
    """
    phi, y, q, vector = _inputs(features, targets, queries)
    state = RidgeState.empty(phi.shape[1], y.shape[1], lam=lam)
    out = np.empty((phi.shape[0], y.shape[1]))
    for t in range(phi.shape[0]):
        state.update(phi[t], y[t])
        out[t] = state.predict(q[t])
    return out[:, 0] if vector else out
