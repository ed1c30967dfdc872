"""One-dimensional kernel regression in NumPy: the estimators of chapters 1 and 2.

Every estimator here is a *linear smoother*: its prediction at a query ``x`` is a
weighted sum of the training targets, ``ŷ(x) = Σ_j w_j(x) y_j``. Each function can
return those weights (``return_weights=True``) as an ``(n_query, n_train)`` matrix,
which is what the book plots as heatmaps and what later chapters compare with
attention maps.

Notation (the equations page §1, ``book/equations.md``): training pairs ``(x_j, y_j)``, ``j = 1..n``;
a query ``x``; a bandwidth ``h > 0``; a ridge ``λ >= 0``.

* :func:`nadaraya_watson` — ``ŷ(x) = Σ_j K_h(x − x_j) y_j / Σ_j K_h(x − x_j)``.
* :func:`kernel_ridge` — ``ŷ(x) = k(x)ᵀ (K + λI)⁻¹ y`` with the RBF kernel
  ``exp(−γ (x − x')²)``, ``γ = 1 / (2h²)``; identical to scikit-learn's
  ``KernelRidge(alpha=λ, kernel="rbf", gamma=γ)``.
* :func:`local_linear` — weighted least squares on ``[1, x_j − x]``; ``ŷ(x)`` is the
  intercept.
* :func:`loo_bandwidth` — leave-one-out error of each candidate bandwidth, computed
  from the hat matrix with no refitting loop.

Streaming (causal) versions for chapter 4, where the data arrive one pair at a time
and the prediction at step ``t`` may use the first ``t`` pairs only:

* :func:`prefix_nadaraya_watson` — NW on each prefix (what causal attention does).
* :func:`prefix_kernel_ridge` — the exact causal KRR: a fresh ``t × t`` ridge problem
  for every prefix.
* :func:`triangular_kernel_ridge` — Cubit's surrogate in 1-D: one lower-triangular
  system ``(P + λI) u = y`` shared by all steps, read out with NW weights.

Inputs are validated at this boundary: mismatched lengths, empty or non-finite
data, ``bandwidth <= 0``, ``λ < 0`` and unknown kernels raise :class:`ValueError`
with a message that says what was wrong and what is allowed.

**Queries with no data in reach.** The Epanechnikov and box kernels are zero
outside ``|x − x_j| <= h``. If every training point is farther than ``h`` from a
query, the NW (and local linear) estimate is ``0/0``: undefined. By default this
raises a :class:`ValueError` naming the query; pass ``on_empty="nan"`` to get NaN
for those queries instead (and an all-zero weight row), which is what a plot over a
grid usually wants. The Gaussian kernel never has this problem: its weights are
computed in log space, so they never all underflow to zero, and for a bandwidth so
small that ``(x − x_j)/h`` overflows they take their limit ``h → 0``: all the weight
on the nearest training inputs (NW then returns the nearest neighbour's target, and
local linear regression, which needs two points, is undefined). In the same limit
the RBF Gram matrix of distinct inputs is the identity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.linalg

from .validation import in_range, one_of, positive, positive_int

__all__ = [
    "KERNELS",
    "LooResult",
    "kernel_profile",
    "kernel_ridge",
    "local_linear",
    "loo_bandwidth",
    "nadaraya_watson",
    "prefix_kernel_ridge",
    "prefix_nadaraya_watson",
    "triangular_kernel_ridge",
    "rbf_gamma",
    "rbf_kernel",
    "toy_function",
    "sample_toy_problem",
]

KERNELS = ("gaussian", "epanechnikov", "box")
"""Kernel names accepted by :func:`nadaraya_watson` and :func:`local_linear`."""

_ON_EMPTY = ("raise", "nan")
_LOO_METHODS = ("nw", "krr", "llr")

OnEmpty = Literal["raise", "nan"]


# --------------------------------------------------------------------------- #
# Validation (public boundary)
# --------------------------------------------------------------------------- #
def _as_1d(name: str, values) -> np.ndarray:
    """``values`` as a non-empty, finite, 1-D float64 array, or a clear ValueError."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be an array of real numbers; got {type(values).__name__}") from err
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got an array of shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; at least one value is needed")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"{name} must be finite; {name}[{bad}] = {arr[bad]}")
    return arr


def _training_pair(x_train, y_train) -> tuple[np.ndarray, np.ndarray]:
    x = _as_1d("x_train", x_train)
    y = _as_1d("y_train", y_train)
    if x.shape != y.shape:
        raise ValueError(
            f"x_train and y_train must have the same length; got {x.size} and {y.size}"
        )
    return x, y


def _ridge(lam) -> float:
    return in_range("lam (the ridge λ)", lam, 0)


def _kernel_name(kernel: str) -> str:
    return one_of("kernel", kernel, KERNELS)


def _on_empty(on_empty: str) -> OnEmpty:
    return one_of("on_empty", on_empty, _ON_EMPTY)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- #
# Kernels
# --------------------------------------------------------------------------- #
def kernel_profile(u, kernel: str = "gaussian") -> np.ndarray:
    """The kernel density ``K(u)`` (integrates to one over the real line).

    * ``"gaussian"``: ``exp(−u²/2) / √(2π)``
    * ``"epanechnikov"``: ``¾ (1 − u²)`` for ``|u| <= 1``, else 0
    * ``"box"``: ``½`` for ``|u| <= 1``, else 0

    The scaled kernel is ``K_h(d) = K(d / h) / h``; NW weights do not depend on the
    ``1/h`` factor because it cancels in the ratio.
    """
    kernel = _kernel_name(kernel)
    u = np.asarray(u, dtype=np.float64)
    if kernel == "gaussian":
        return np.exp(-0.5 * u**2) / np.sqrt(2.0 * np.pi)
    inside = np.abs(u) <= 1.0
    if kernel == "epanechnikov":
        return np.where(inside, 0.75 * (1.0 - u**2), 0.0)
    return np.where(inside, 0.5, 0.0)


def _relative_kernel_weights(x_query: np.ndarray, x_train: np.ndarray, bandwidth: float, kernel: str) -> np.ndarray:
    """Unnormalised kernel weights, each row scaled so its largest entry is 1.

    Shape ``(n_query, n_train)``. Row scaling leaves NW and LLR unchanged (both are
    ratios) and keeps the Gaussian from underflowing: ``exp(−(u² − min u²)/2)``.
    Rows of compact kernels with no point in reach are all zero.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # a tiny bandwidth: handled below
        u = (x_query[:, None] - x_train[None, :]) / bandwidth  # (n_query, n_train)
    if kernel == "gaussian":
        with np.errstate(over="ignore"):
            log_w = -0.5 * u**2
        top = log_w.max(axis=1, keepdims=True)
        overflowed = ~np.isfinite(top[:, 0])
        if overflowed.any():  # (x - x_j)/h overflows: the limit h -> 0, all weight on the nearest points
            log_w[overflowed] = _nearest_only(x_query[overflowed], x_train)
            top[overflowed] = 0.0
        return np.exp(log_w - top)
    w = kernel_profile(u, kernel)
    peak = w.max(axis=1, keepdims=True)
    return np.divide(w, peak, out=np.zeros_like(w), where=peak > 0)


def _nearest_only(x_query: np.ndarray, x_train: np.ndarray) -> np.ndarray:
    """Log weights of the limit ``h → 0`` of the Gaussian: 0 at each query's nearest inputs, −inf elsewhere."""
    d2 = (x_query[:, None] - x_train[None, :]) ** 2
    return np.where(d2 == d2.min(axis=1, keepdims=True), 0.0, -np.inf)


def _handle_empty(empty: np.ndarray, x_query: np.ndarray, on_empty: str, what: str, kernel: str,
                  reason: str = "no training point has non-zero kernel weight there") -> None:
    if on_empty == "raise" and empty.any():
        first = int(np.flatnonzero(empty)[0])
        other = "" if kernel == "gaussian" else " the 'gaussian' kernel,"
        raise ValueError(
            f"{what} is undefined at {int(empty.sum())} quer{'y' if empty.sum() == 1 else 'ies'} "
            f"(first: x_query[{first}] = {x_query[first]:g}): {reason}. Use a larger bandwidth,{other} "
            "or on_empty='nan' to return NaN for such queries."
        )


# --------------------------------------------------------------------------- #
# Estimators
# --------------------------------------------------------------------------- #
def nadaraya_watson(
    x_train,
    y_train,
    x_query,
    bandwidth: float,
    kernel: str = "gaussian",
    return_weights: bool = False,
    on_empty: OnEmpty = "raise",
):
    """Nadaraya–Watson kernel regression (a local constant fit).

    ``ŷ(x) = Σ_j K_h(x − x_j) y_j / Σ_j K_h(x − x_j)``  (equations page §1.2, ``book/equations.md``).

    Args:
        x_train, y_train: training inputs and targets, shape ``(n,)``.
        x_query: where to predict, shape ``(m,)``.
        bandwidth: ``h > 0``.
        kernel: one of :data:`KERNELS`.
        return_weights: also return the ``(m, n)`` weight matrix; its entries are
            non-negative and each row sums to one.
        on_empty: ``"raise"`` (default) or ``"nan"`` for queries where every weight
            is zero (compact kernels only); see the module docstring.

    Returns:
        ``y_hat`` of shape ``(m,)``, or ``(y_hat, weights)``.
    """
    x, y = _training_pair(x_train, y_train)
    xq = _as_1d("x_query", x_query)
    h = positive("bandwidth", bandwidth)
    kernel = _kernel_name(kernel)
    on_empty = _on_empty(on_empty)

    w = _relative_kernel_weights(xq, x, h, kernel)  # (m, n)
    total = w.sum(axis=1)
    empty = total == 0
    _handle_empty(empty, xq, on_empty, "the Nadaraya–Watson estimate", kernel)
    weights = np.divide(w, total[:, None], out=np.zeros_like(w), where=~empty[:, None])
    y_hat = weights @ y
    y_hat[empty] = np.nan
    return (y_hat, weights) if return_weights else y_hat


def rbf_gamma(bandwidth: float) -> float:
    """The RBF precision ``γ = 1 / (2h²)`` matching a Gaussian of bandwidth ``h``."""
    h = positive("bandwidth", bandwidth)
    return 1.0 / (2.0 * h * h) if h * h > 0 else math.inf  # h² underflows: the limit, K = I


def _rbf(a: np.ndarray, b: np.ndarray, gamma: float) -> np.ndarray:
    """RBF Gram matrix ``exp(−γ (a_i − b_j)²)``, shape ``(len(a), len(b))``."""
    d2 = (a[:, None] - b[None, :]) ** 2
    with np.errstate(invalid="ignore"):  # inf · 0 where γ = inf; replaced by 0 below
        return np.exp(-np.where(d2 == 0, 0.0, gamma * d2))  # exp(0) = 1 on coinciding points, even when γ = inf


def rbf_kernel(a, b, bandwidth: float) -> np.ndarray:
    """The RBF (Gaussian) kernel matrix ``k(a_i, b_j) = exp(−(a_i − b_j)² / (2h²))``.

    Shape ``(len(a), len(b))``. With ``a = b = x_train`` it is the Gram matrix ``K``
    of :func:`kernel_ridge`; with ``a = x_query`` its rows are the vectors ``k(x)``.
    """
    return _rbf(_as_1d("a", a), _as_1d("b", b), rbf_gamma(bandwidth))


def _solve_symmetric(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``matrix @ z = rhs`` for a symmetric PSD ``matrix`` (Cholesky, else least squares).

    The same strategy as scikit-learn's ``KernelRidge``: Cholesky when the matrix is
    numerically positive definite, a least-squares solution when it is singular
    (e.g. ``λ = 0`` with repeated inputs).
    """
    try:
        factor = scipy.linalg.cho_factor(matrix, lower=True, check_finite=False)
        return scipy.linalg.cho_solve(factor, rhs, check_finite=False)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(matrix, rhs, rcond=None)[0]


def kernel_ridge(
    x_train,
    y_train,
    x_query,
    lam: float,
    bandwidth: float,
    return_weights: bool = False,
):
    """Kernel ridge regression with the RBF kernel.

    ``ŷ(x) = k(x)ᵀ (K + λI)⁻¹ y`` with ``K_ij = exp(−γ (x_i − x_j)²)`` and
    ``γ = 1 / (2h²)`` (equations page §1.3, ``book/equations.md``). This is exactly
    ``sklearn.kernel_ridge.KernelRidge(alpha=lam, kernel="rbf", gamma=γ)``.

    Args:
        x_train, y_train: shape ``(n,)``.
        x_query: shape ``(m,)``.
        lam: the ridge ``λ >= 0``. ``λ = 0`` interpolates the data and is badly
            conditioned for small bandwidths.
        bandwidth: ``h > 0``.
        return_weights: also return the *equivalent kernel*: the ``(m, n)`` matrix
            ``k(x)ᵀ (K + λI)⁻¹`` whose rows give the weight of each ``y_j``. Unlike NW
            weights they can be negative and need not sum to one.

    Returns:
        ``y_hat`` of shape ``(m,)``, or ``(y_hat, weights)``.
    """
    x, y = _training_pair(x_train, y_train)
    xq = _as_1d("x_query", x_query)
    lam = _ridge(lam)
    gamma = rbf_gamma(bandwidth)

    gram = _rbf(x, x, gamma) + lam * np.eye(x.size)  # (n, n)
    k_query = _rbf(xq, x, gamma)  # (m, n)
    if not return_weights:
        return k_query @ _solve_symmetric(gram, y)
    weights = _solve_symmetric(gram, k_query.T).T  # (m, n); gram is symmetric
    return weights @ y, weights


def local_linear(
    x_train,
    y_train,
    x_query,
    bandwidth: float,
    kernel: str = "gaussian",
    return_weights: bool = False,
    on_empty: OnEmpty = "raise",
):
    """Local linear regression (paper Appendix E in one dimension).

    At each query ``x`` fit ``y_j ≈ a + b (x_j − x)`` by least squares with weights
    ``K_h(x − x_j)`` and return the intercept ``a``. With ``d_j = x_j − x`` and the
    weighted moments ``ν_k = Σ_j K_h(x − x_j) d_jᵏ``, the equivalent weights are

        ``ℓ_j(x) = K_h(x − x_j) (ν_2 − ν_1 d_j) / (ν_0 ν_2 − ν_1²)``,

    which sum to one (but can be negative near a boundary). ``ŷ(x) = Σ_j ℓ_j(x) y_j``.

    The fit needs two distinct training inputs with non-zero weight; queries where it
    has fewer are handled by ``on_empty`` exactly as in :func:`nadaraya_watson`.

    Returns:
        ``y_hat`` of shape ``(m,)``, or ``(y_hat, weights)`` with weights ``(m, n)``.
    """
    x, y = _training_pair(x_train, y_train)
    xq = _as_1d("x_query", x_query)
    h = positive("bandwidth", bandwidth)
    kernel = _kernel_name(kernel)
    on_empty = _on_empty(on_empty)

    w = _relative_kernel_weights(xq, x, h, kernel)  # (m, n)
    with np.errstate(over="ignore"):
        d = (x[None, :] - xq[:, None]) / h  # (m, n); scaled by h for conditioning
        d = np.where(w > 0, d, 0.0)  # points without weight play no part (and may be inf for a tiny h)
        overflowed = ~np.isfinite(d * d).all(axis=1)
    d[overflowed] = 0.0  # such rows are degenerate: reported below
    s0 = w.sum(axis=1)
    s1 = (w * d).sum(axis=1)
    s2 = (w * d * d).sum(axis=1)
    det = s0 * s2 - s1 * s1  # >= 0 by Cauchy–Schwarz
    degenerate = (det <= 1e-12 * np.maximum(s0 * s2, np.finfo(float).tiny)) | overflowed
    _handle_empty(degenerate, xq, on_empty, "the local linear estimate", kernel,
                  "fewer than two distinct training points have non-zero kernel weight there")
    safe = np.where(degenerate, 1.0, det)
    weights = w * (s2[:, None] - s1[:, None] * d) / safe[:, None]
    weights[degenerate] = 0.0
    y_hat = weights @ y
    y_hat[degenerate] = np.nan
    return (y_hat, weights) if return_weights else y_hat


# --------------------------------------------------------------------------- #
# Leave-one-out bandwidth choice
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class LooResult:
    """Leave-one-out errors of candidate bandwidths.

    Attributes:
        bandwidths: the candidates, shape ``(c,)``.
        errors: mean squared leave-one-out error of each, shape ``(c,)``; ``inf``
            where some point cannot be predicted without itself (a compact kernel
            with no other point in reach).
        best_index: index of the smallest error.
        best_bandwidth: ``bandwidths[best_index]``.
    """

    bandwidths: np.ndarray
    errors: np.ndarray
    best_index: int
    best_bandwidth: float


def _hat_matrix(x: np.ndarray, bandwidth: float, method: str, kernel: str, lam: float) -> np.ndarray:
    """The ``(n, n)`` matrix ``H`` with ``ŷ(x_i) = Σ_j H_ij y_j`` at the training inputs."""
    y_dummy = np.zeros_like(x)
    if method == "krr":
        return kernel_ridge(x, y_dummy, x, lam, bandwidth, return_weights=True)[1]
    if method == "nw":
        return nadaraya_watson(x, y_dummy, x, bandwidth, kernel, return_weights=True)[1]
    return local_linear(x, y_dummy, x, bandwidth, kernel, return_weights=True, on_empty="nan")[1]


def loo_bandwidth(
    x_train,
    y_train,
    bandwidths,
    method: Literal["nw", "krr", "llr"] = "nw",
    lam: float = 1e-3,
    kernel: str = "gaussian",
) -> LooResult:
    """Choose a bandwidth by leave-one-out (LOO) cross-validation, without refitting.

    All three estimators are linear smoothers, ``ŷ = H y``, and for each of them
    deleting point ``i`` and refitting gives exactly

        ``y_i − ŷ_{−i}(x_i) = (y_i − ŷ_i) / (1 − H_ii)``

    (NW: the remaining weights are renormalised; KRR and local linear: the usual
    leverage identity of (weighted) ridge least squares). So one fit per candidate
    gives all ``n`` LOO residuals.

    Args:
        x_train, y_train: shape ``(n,)``, ``n >= 2``.
        bandwidths: candidate ``h`` values, all ``> 0``.
        method: ``"nw"``, ``"krr"`` or ``"llr"`` (local linear).
        lam: the ridge for ``method="krr"``; must be ``> 0`` for LOO (with ``λ = 0``
            KRR interpolates and ``1 − H_ii = 0``). Ignored otherwise.
        kernel: for ``"nw"`` and ``"llr"``; KRR always uses the RBF kernel.

    Returns:
        A :class:`LooResult`.
    """
    x, y = _training_pair(x_train, y_train)
    if x.size < 2:
        raise ValueError("leave-one-out needs at least two training points; got 1")
    candidates = _as_1d("bandwidths", bandwidths)
    for h in candidates:
        positive("every bandwidth", h)
    one_of("method", method, _LOO_METHODS)
    kernel = _kernel_name(kernel)
    if method == "krr":
        lam = _ridge(lam)
        if lam == 0:
            raise ValueError("leave-one-out for kernel ridge needs lam > 0 (with lam = 0 KRR interpolates)")

    errors = np.empty(candidates.size)
    for c, h in enumerate(candidates):
        hat = _hat_matrix(x, float(h), method, kernel, lam)
        leverage = np.diag(hat)
        with np.errstate(divide="ignore", invalid="ignore"):
            loo_residual = (y - hat @ y) / (1.0 - leverage)
        # 1 − H_ii ≈ 0: point i carries (almost) all of its own weight, so it cannot
        # be predicted from the others. An all-zero row is a point where the fit
        # itself is undefined (local linear with a single point in reach).
        unpredictable = (1.0 - leverage < 1e-10) | ~hat.any(axis=1)
        errors[c] = np.inf if unpredictable.any() else float(np.mean(loo_residual**2))
    if not np.isfinite(errors).any():
        raise ValueError(
            "no candidate bandwidth can predict every point from the others; try larger bandwidths"
        )
    best = int(np.argmin(errors))
    return LooResult(candidates, errors, best, float(candidates[best]))


# --------------------------------------------------------------------------- #
# Streaming data: predictions that may only use the past
# --------------------------------------------------------------------------- #
def _stream(x_train, y_train, x_query) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated stream ``(x, y)`` and one query per step (default: ``x`` itself)."""
    x, y = _training_pair(x_train, y_train)
    xq = x.copy() if x_query is None else _as_1d("x_query", x_query)
    if xq.shape != x.shape:
        raise ValueError(
            "a stream needs one query per step: x_query must have the same length as "
            f"x_train ({x.size}); got {xq.size}"
        )
    return x, y, xq


def _causal_gaussian_weights(x_query: np.ndarray, x_train: np.ndarray, bandwidth: float) -> np.ndarray:
    """Causal Gaussian NW weights, shape ``(n, n)``, lower triangular, rows sum to one.

    Row ``t`` is ``K_h(z_t − x_j) / Σ_{i<=t} K_h(z_t − x_i)`` for ``j <= t`` and 0 for
    ``j > t``: a row softmax of ``−(z_t − x_j)² / 2h²`` under the causal mask.
    """
    n = x_train.size
    with np.errstate(over="ignore"):
        log_w = -0.5 * ((x_query[:, None] - x_train[None, :]) / bandwidth) ** 2  # (n, n)
    future = np.triu(np.ones((n, n), dtype=bool), k=1)
    log_w[future] = -np.inf
    overflowed = ~np.isfinite(log_w.max(axis=1))
    for t in np.flatnonzero(overflowed):  # a tiny bandwidth: all weight on the nearest of x_1..x_t
        log_w[t, : t + 1] = _nearest_only(x_query[t : t + 1], x_train[: t + 1])[0]
    w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    return w / w.sum(axis=1, keepdims=True)


def prefix_nadaraya_watson(x_train, y_train, x_query=None, *, bandwidth: float, return_weights: bool = False):
    """Gaussian NW on a stream: step ``t`` sees the first ``t`` pairs only.

    ``ŷ_t = Σ_{j<=t} K_h(z_t − x_j) y_j / Σ_{j<=t} K_h(z_t − x_j)`` with one query
    ``z_t`` per step (default ``z_t = x_t``). This is causal softmax attention in one
    dimension (chapter 3).

    Returns:
        ``y_hat`` of shape ``(n,)``, or ``(y_hat, weights)`` with the ``(n, n)``
        lower-triangular weight matrix.
    """
    x, y, xq = _stream(x_train, y_train, x_query)
    weights = _causal_gaussian_weights(xq, x, positive("bandwidth", bandwidth))
    y_hat = weights @ y
    return (y_hat, weights) if return_weights else y_hat


def prefix_kernel_ridge(x_train, y_train, x_query=None, *, lam: float, bandwidth: float, return_weights: bool = False):
    """The exact causal kernel ridge regression on a stream.

    Step ``t`` solves its own KRR problem on the first ``t`` pairs:
    ``ŷ_t = k_t(z_t)ᵀ (K_{1:t} + λI)⁻¹ y_{1:t}`` with the RBF kernel of
    :func:`kernel_ridge` (equations page §1.6). The symmetric ``t × t``
    matrix changes with every new pair, so the weights that step ``t`` gives to old
    targets are not those step ``t − 1`` gave them.

    Cost: the Cholesky factor of a leading block of ``K + λI`` is the leading block of
    its Cholesky factor, so one ``O(n³)`` factorisation serves every prefix, and each
    step adds two triangular solves of size ``t``.

    Args:
        x_train, y_train: the stream, shape ``(n,)``.
        x_query: one query per step, shape ``(n,)``; default ``x_train``.
        lam: the ridge ``λ >= 0``.
        bandwidth: ``h > 0``.
        return_weights: also return the ``(n, n)`` lower-triangular matrix whose row
            ``t`` is ``k_t(z_t)ᵀ (K_{1:t} + λI)⁻¹`` padded with zeros.

    Returns:
        ``y_hat`` of shape ``(n,)``, or ``(y_hat, weights)``.
    """
    x, y, xq = _stream(x_train, y_train, x_query)
    lam = _ridge(lam)
    gamma = rbf_gamma(bandwidth)
    n = x.size
    gram = _rbf(x, x, gamma) + lam * np.eye(n)  # (n, n)
    k_query = _rbf(xq, x, gamma)  # (n, n); row t used up to column t
    weights = np.zeros((n, n))
    try:
        chol = scipy.linalg.cholesky(gram, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        chol = None  # singular (λ = 0 with repeated inputs): solve each prefix on its own
    for t in range(1, n + 1):
        k_t = k_query[t - 1, :t]
        if chol is None:
            weights[t - 1, :t] = _solve_symmetric(gram[:t, :t], k_t)
            continue
        half = scipy.linalg.solve_triangular(chol[:t, :t], k_t, lower=True, check_finite=False)
        weights[t - 1, :t] = scipy.linalg.solve_triangular(chol[:t, :t].T, half, lower=False, check_finite=False)
    y_hat = weights @ y
    return (y_hat, weights) if return_weights else y_hat


def triangular_kernel_ridge(
    x_train, y_train, x_query=None, *, lam: float, bandwidth: float, return_weights: bool = False
):
    """Cubit's triangular surrogate for causal KRR, in one dimension.

    ``P`` is the causal Gaussian NW weight matrix of the stream against itself
    (``P_tj ∝ K_h(x_t − x_j)`` for ``j <= t``, rows summing to one); ``A`` is the same
    for the queries. Then (the 1-D form of the paper's eq. 13, with ``S = I``)

        ``u = (P + λI)⁻¹ y``  (forward substitution),  ``ŷ = A u``.

    ``u_t`` depends on ``y_1..y_t`` only and never changes once computed: one shared
    triangular system replaces the ``n`` symmetric ones of :func:`prefix_kernel_ridge`.
    ``P`` is not a symmetric Gram matrix, so the two answers differ; chapter 4 plots
    both.

    Returns:
        ``y_hat`` of shape ``(n,)``, or ``(y_hat, weights)`` with the ``(n, n)``
        lower-triangular matrix ``A (P + λI)⁻¹``.
    """
    x, y, xq = _stream(x_train, y_train, x_query)
    lam = _ridge(lam)
    h = positive("bandwidth", bandwidth)
    p_matrix = _causal_gaussian_weights(x, x, h)  # (n, n), diagonal >= 1/t
    a_matrix = _causal_gaussian_weights(xq, x, h)  # (n, n)
    system = p_matrix + lam * np.eye(x.size)
    if not return_weights:
        u = scipy.linalg.solve_triangular(system, y, lower=True, check_finite=False)
        return a_matrix @ u
    # A (P + λI)⁻¹ = ((P + λI)⁻ᵀ Aᵀ)ᵀ: one triangular solve with the transpose.
    weights = scipy.linalg.solve_triangular(system.T, a_matrix.T, lower=False, check_finite=False).T
    return weights @ y, weights


# --------------------------------------------------------------------------- #
# The book's running example
# --------------------------------------------------------------------------- #
def toy_function(x) -> np.ndarray:
    """The regression function of the book's running example on ``[0, 1]``.

    A slow wave plus a narrow bump near ``x = 0.7`` and a slope at the ends, so that
    one bandwidth cannot suit everything (the bump wants a small ``h``, the smooth
    parts a large one) and boundary bias is visible.
    """
    x = np.asarray(x, dtype=np.float64)
    return np.sin(2 * np.pi * x) + 1.5 * x + 0.8 * np.exp(-((x - 0.7) ** 2) / (2 * 0.03**2))


def sample_toy_problem(n: int = 80, noise: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy samples ``y = toy_function(x) + noise · ε`` with ``x ~ U[0, 1]`` (sorted).

    Deterministic given ``seed``.
    """
    n = positive_int("n", n)
    noise = in_range("noise", noise, 0)
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0.0, 1.0, int(n)))
    y = toy_function(x) + noise * rng.standard_normal(int(n))
    return x, y
