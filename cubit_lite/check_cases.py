"""The book's self-checking exercises: for each, its cases, its reference and its hint.

:func:`cubit_lite.checks.check` runs these. Each entry of :data:`CHECKS` names the stub
the reader fills in (``signature``), the exercise that gives it (``exercise``, a label in
the chapter), a generator of cases (edge cases first, then random ones of small size),
the reference that gives the expected answer, and the tolerance of the comparison.

==================================  =====================================================
``ch1.nw``                          Gaussian Nadaraya–Watson (:func:`~cubit_lite.regression.nadaraya_watson`)
``ch2.krr``                         RBF kernel ridge regression (:func:`~cubit_lite.regression.kernel_ridge`)
``ch3.attention_as_nw``             a causal softmax head (:func:`~cubit_lite.mixers.softmax_attention`)
``ch3.sparsemax_epanechnikov``      causal sparsemax attention (Martins & Astudillo 2016)
``ch4.surrogate``                   Cubit's 1-D surrogate (:func:`~cubit_lite.regression.triangular_kernel_ridge`)
``ch4.linear_attention_gd``         one gradient step on the in-context least squares (von Oswald et al. 2023)
``ch5.cubit_delta_rule``           Cubit's pseudo-targets (:func:`~cubit_lite.mixers.cubit_solve`)
``ch9.gp_prefix_mean``              the GP's prefix means (:func:`~cubit_lite.incontext.gp_prefix_predictions`)
==================================  =====================================================

Arrays are NumPy float64, except the heads of chapters 3 and 5, whose inputs are PyTorch
float64 tensors with one row per token (one head, no batch). Sparsemax and the gradient
step have no function elsewhere in the library, so their references are written here,
from their definitions.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CHECKS", "Case", "Check", "sparsemax"]


@dataclass(frozen=True)
class Case:
    """One call of the function under test: its arguments, a short label, and an optional hint.

    ``label`` names the case in a failure line (``"n=1, h=0.5"``); ``hint``, when given,
    replaces the check's own hint for this case (an edge case that needs its own advice).
    """

    label: str
    args: tuple[Any, ...]
    hint: str | None = None


@dataclass(frozen=True)
class Check:
    """A named check: where its cases come from, the reference, the tolerance and a hint.

    ``cases(rng)`` returns the cases (edge cases first); ``reference(*args)`` the expected
    answer of one case. An answer passes when it has the expected shape and
    ``|got − expected| <= atol + rtol·|expected|`` everywhere. ``signature`` is the stub
    the exercise gives, ``exercise`` the label of that exercise in the book.
    """

    name: str
    signature: str
    exercise: str
    cases: Callable[[np.random.Generator], Sequence[Case]]
    reference: Callable[..., Any]
    hint: str
    rtol: float = 1e-6
    atol: float = 1e-9

    def run_cases(self) -> list[Case]:
        """The cases of this check, the same every time (the generator is seeded by the name)."""
        return list(self.cases(np.random.default_rng(zlib.crc32(self.name.encode("utf-8")))))


RANDOM_CASES = 15  # random cases per check, after its edge cases


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _unit_rows(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def _tensors(*arrays: np.ndarray) -> tuple[Any, ...]:
    import torch

    return tuple(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)) for a in arrays)


def _head(t: Any) -> Any:
    """A ``(T, d)`` tensor as the ``(1, 1, T, d)`` batch of one head that the mixers take."""
    import torch

    return torch.as_tensor(t, dtype=torch.float64)[None, None]


# --------------------------------------------------------------------------- #
# Chapter 1: Nadaraya–Watson
# --------------------------------------------------------------------------- #
def _nw_cases(rng: np.random.Generator) -> list[Case]:
    def case(label: str, x, y, xq, h: float, hint: str | None = None) -> Case:
        return Case(label, (np.asarray(x, float), np.asarray(y, float), np.asarray(xq, float), h), hint)

    cases = [
        case("n=1, m=3, h=0.2", [0.3], [1.7], [0.0, 0.3, 0.9], 0.2,
             "with one sample its weight is 1 at every query, so the estimate is that sample's y."),
        case("tied inputs, n=6, m=4, h=0.15", [0.2, 0.2, 0.5, 0.5, 0.5, 0.8], rng.normal(size=6),
             rng.uniform(0, 1, 4), 0.15),
        case("queries on the samples, n=8, m=3, h=0.1", (x := rng.uniform(0, 1, 8)), rng.normal(size=8), x[:3], 0.1),
        case("wide window, n=10, m=3, h=5", rng.uniform(0, 1, 10), rng.normal(size=10), [0.0, 0.5, 1.0], 5.0,
             "a window much wider than the data gives every sample about the same weight: ŷ is near the mean of y."),
    ]
    for _ in range(RANDOM_CASES):
        n, m, h = int(rng.integers(2, 41)), int(rng.integers(1, 9)), _log_uniform(rng, 0.05, 0.5)
        x = rng.uniform(0, 1, n)
        cases.append(case(f"n={n}, m={m}, h={h:.3g}", x, np.sin(2 * np.pi * x) + 0.3 * rng.normal(size=n),
                          rng.uniform(-0.2, 1.2, m), h))
    return cases


def _nw_reference(x_train, y_train, x_query, h):
    from .regression import nadaraya_watson

    return nadaraya_watson(x_train, y_train, x_query, bandwidth=h)


# --------------------------------------------------------------------------- #
# Chapter 2: kernel ridge regression
# --------------------------------------------------------------------------- #
def _krr_cases(rng: np.random.Generator) -> list[Case]:
    def case(label: str, x, y, xq, lam: float, h: float, hint: str | None = None) -> Case:
        return Case(label, (np.asarray(x, float), np.asarray(y, float), np.asarray(xq, float), lam, h), hint)

    cases = [
        case("n=1, m=3, lam=0.5, h=0.2", [0.4], [2.0], [0.0, 0.4, 0.6], 0.5, 0.2,
             "with one sample, K + λI is the number 1 + λ: ŷ(x) = k(x, x_1) y_1 / (1 + λ)."),
        case("tied inputs, n=6, m=4, lam=0.1, h=0.2", [0.1, 0.1, 0.5, 0.5, 0.9, 0.9], rng.normal(size=6),
             rng.uniform(0, 1, 4), 0.1, 0.2,
             "two equal inputs make K singular; K + λI is still invertible for λ > 0: solve that system."),
        case("large ridge, n=8, m=3, lam=100, h=0.2", rng.uniform(0, 1, 8), rng.normal(size=8), [0.1, 0.5, 0.9],
             100.0, 0.2),
        case("queries on the samples, n=8, m=3, lam=0.01, h=0.1", (x := rng.uniform(0, 1, 8)), rng.normal(size=8),
             x[:3], 0.01, 0.1),
    ]
    for _ in range(RANDOM_CASES):
        n, m = int(rng.integers(2, 31)), int(rng.integers(1, 9))
        lam, h = _log_uniform(rng, 1e-3, 1.0), _log_uniform(rng, 0.05, 0.5)
        x = rng.uniform(0, 1, n)
        cases.append(case(f"n={n}, m={m}, lam={lam:.3g}, h={h:.3g}", x,
                          np.sin(2 * np.pi * x) + 0.3 * rng.normal(size=n), rng.uniform(-0.2, 1.2, m), lam, h))
    return cases


def _krr_reference(x_train, y_train, x_query, lam, h):
    from .regression import kernel_ridge

    return kernel_ridge(x_train, y_train, x_query, lam=lam, bandwidth=h)


# --------------------------------------------------------------------------- #
# Chapter 3: attention is NW, and sparsemax is NW with a compact kernel
# --------------------------------------------------------------------------- #
def _attention_cases(rng: np.random.Generator) -> list[Case]:
    def case(label: str, q, k, v, tau: float, hint: str | None = None) -> Case:
        return Case(label, (*_tensors(q, k, v), tau), hint)

    keys = np.tile(rng.normal(size=(1, 3)), (5, 1))
    cases = [
        case("T=1, d=3, tau=1", rng.normal(size=(1, 3)), rng.normal(size=(1, 3)), rng.normal(size=(1, 2)), 1.0,
             "the first token sees only itself: o_1 = v_1."),
        case("equal keys, T=5, d=3, tau=0.5", rng.normal(size=(5, 3)), keys, rng.normal(size=(5, 2)), 0.5,
             "equal keys get equal weights: row i is the mean of v_1 … v_i."),
        case("zero queries, T=6, d=2, tau=1", np.zeros((6, 2)), rng.normal(size=(6, 2)), rng.normal(size=(6, 3)), 1.0,
             "q = 0 gives every allowed key the logit 0: row i is the mean of v_1 … v_i."),
    ]
    for _ in range(RANDOM_CASES):
        t, d, dv, tau = int(rng.integers(2, 13)), int(rng.integers(1, 7)), int(rng.integers(1, 5)), \
            _log_uniform(rng, 0.3, 3.0)
        cases.append(case(f"T={t}, d={d}, tau={tau:.3g}", rng.normal(size=(t, d)), rng.normal(size=(t, d)),
                          rng.normal(size=(t, dv)), tau))
    cases.append(case("large logits, T=6, d=4, tau=0.5", 10 * rng.normal(size=(6, 4)), 10 * rng.normal(size=(6, 4)),
                      rng.normal(size=(6, 2)), 0.5,
                      "the logits q·k/τ reach the hundreds here and exp overflows: subtract each row's largest "
                      "allowed logit before exp (it cancels in the ratio), or use torch.softmax."))
    return cases


def _attention_reference(q, k, v, tau):
    from .mixers.functional import softmax_attention

    return softmax_attention(_head(q), _head(k), _head(v), scale=1.0 / tau)[0, 0]


def sparsemax(z: np.ndarray) -> np.ndarray:
    """Sparsemax of a vector: the Euclidean projection of ``z`` onto the probability simplex.

    ``p_j = max(z_j − θ, 0)`` with the threshold ``θ`` that makes ``Σ p_j = 1``, found by
    sorting (Martins & Astudillo 2016, Algorithm 1): the support is the ``k`` largest
    entries for the largest ``k`` with ``1 + k z_(k) > Σ_{l<=k} z_(l)``.
    """
    z = np.asarray(z, dtype=np.float64)
    ordered = np.sort(z)[::-1]
    ranks = np.arange(1, z.size + 1)
    cumulative = np.cumsum(ordered)
    k = int(ranks[1 + ranks * ordered > cumulative][-1])
    theta = (cumulative[k - 1] - 1.0) / k
    return np.maximum(z - theta, 0.0)


def _sparsemax_cases(rng: np.random.Generator) -> list[Case]:
    def case(label: str, q, k, v, tau: float, hint: str | None = None) -> Case:
        return Case(label, (*_tensors(_unit_rows(np.asarray(q)), _unit_rows(np.asarray(k)), v), tau), hint)

    cases = [
        case("T=1, d=3, tau=0.5", rng.normal(size=(1, 3)), rng.normal(size=(1, 3)), rng.normal(size=(1, 2)), 0.5,
             "the first token sees only itself: its one weight is 1 and o_1 = v_1."),
        case("equal keys, T=5, d=3, tau=0.5", rng.normal(size=(5, 3)), np.tile(rng.normal(size=(1, 3)), (5, 1)),
             rng.normal(size=(5, 2)), 0.5, "equal keys get equal weights: row i is the mean of v_1 … v_i."),
        case("small temperature, T=8, d=3, tau=0.01", rng.normal(size=(8, 3)), rng.normal(size=(8, 3)),
             rng.normal(size=(8, 2)), 0.01),
        case("large temperature, T=8, d=3, tau=5", rng.normal(size=(8, 3)), rng.normal(size=(8, 3)),
             rng.normal(size=(8, 2)), 5.0),
    ]
    for _ in range(RANDOM_CASES):
        t, d, dv, tau = int(rng.integers(2, 13)), int(rng.integers(2, 6)), int(rng.integers(1, 4)), \
            _log_uniform(rng, 0.05, 2.0)
        cases.append(case(f"T={t}, d={d}, tau={tau:.3g}", rng.normal(size=(t, d)), rng.normal(size=(t, d)),
                          rng.normal(size=(t, dv)), tau))
    return cases


def _sparsemax_reference(q, k, v, tau):
    q, k, v = (np.asarray(a.detach().cpu(), dtype=np.float64) for a in (q, k, v))
    logits = q @ k.T / tau  # (T, T)
    out = np.empty((q.shape[0], v.shape[1]))
    for i in range(q.shape[0]):
        out[i] = sparsemax(logits[i, : i + 1]) @ v[: i + 1]
    return out


# --------------------------------------------------------------------------- #
# Chapter 4: the triangular surrogate, and linear attention as one gradient step
# --------------------------------------------------------------------------- #
def _surrogate_cases(rng: np.random.Generator) -> list[Case]:
    def case(label: str, x, y, z, lam: float, h: float, hint: str | None = None) -> Case:
        return Case(label, (np.asarray(x, float), np.asarray(y, float), np.asarray(z, float), lam, h), hint)

    x = rng.uniform(0, 1, 10)
    cases = [
        case("n=1, lam=0.5, h=0.2", [0.3], [1.5], [0.6], 0.5, 0.2,
             "with one pair P = A = [1], so u_1 = y_1/(1 + λ) and ŷ_1 = u_1."),
        case("tied inputs, n=6, lam=0.1, h=0.2", [0.2, 0.2, 0.6, 0.6, 0.6, 0.9], rng.normal(size=6),
             rng.uniform(0, 1, 6), 0.1, 0.2),
        case("lam=0 and z=x, n=10, h=0.15", x, rng.normal(size=10), x, 0.0, 0.15,
             "with λ = 0 and queries z = x the read-out matrix is P itself, so ŷ = P P⁻¹ y = y."),
        case("large ridge, n=8, lam=100, h=0.2", rng.uniform(0, 1, 8), rng.normal(size=8), rng.uniform(0, 1, 8),
             100.0, 0.2),
    ]
    for _ in range(RANDOM_CASES):
        n, lam, h = int(rng.integers(2, 26)), _log_uniform(rng, 1e-3, 1.0), _log_uniform(rng, 0.1, 0.5)
        x = rng.uniform(0, 1, n)
        cases.append(case(f"n={n}, lam={lam:.3g}, h={h:.3g}", x, np.sin(2 * np.pi * x) + 0.3 * rng.normal(size=n),
                          rng.uniform(0, 1, n), lam, h))
    return cases


def _surrogate_reference(x, y, z, lam, h):
    from .regression import triangular_kernel_ridge

    return triangular_kernel_ridge(x, y, z, lam=lam, bandwidth=h)


def _gd_cases(rng: np.random.Generator) -> list[Case]:
    def case(label: str, x, y, q, eta: float, hint: str | None = None) -> Case:
        return Case(label, (np.asarray(x, float), np.asarray(y, float), np.asarray(q, float), eta), hint)

    x = rng.normal(size=(6, 3))
    cases = [
        case("T=1, d=3, p=2, eta=0.5", rng.normal(size=(1, 3)), rng.normal(size=(1, 2)), rng.normal(size=(1, 3)), 0.5,
             "with one pair the step gives W = η y_1 x_1ᵀ, so ŷ_1 = η (x_1 · q_1) y_1."),
        case("zero queries, T=5, d=2, p=1, eta=0.1", rng.normal(size=(5, 2)), rng.normal(size=(5, 1)),
             np.zeros((5, 2)), 0.1, "a linear model maps q = 0 to 0, whatever W is."),
        case("repeated pairs, T=6, d=3, p=2, eta=0.2", np.repeat(x[:3], 2, axis=0), rng.normal(size=(6, 2)), x, 0.2),
    ]
    for _ in range(RANDOM_CASES):
        t, d, p, eta = int(rng.integers(2, 16)), int(rng.integers(1, 6)), int(rng.integers(1, 4)), \
            _log_uniform(rng, 0.01, 1.0)
        cases.append(case(f"T={t}, d={d}, p={p}, eta={eta:.3g}", rng.normal(size=(t, d)), rng.normal(size=(t, p)),
                          rng.normal(size=(t, d)), eta))
    return cases


def _gd_reference(x, y, q, eta):
    """Step ``t``: one gradient step from ``W = 0`` on ``½ Σ_{j<=t} ‖W x_j − y_j‖²``, then ``W q_t``.

    The gradient comes from autograd, not from a formula, so the reference is the
    definition of the step itself. Autograd is switched on here whatever the caller's
    setting (a chapter that never trains turns it off).
    """
    import torch

    with torch.inference_mode(False), torch.enable_grad():
        x, y, q = (torch.as_tensor(a, dtype=torch.float64) for a in (x, y, q))
        out = torch.empty(q.shape[0], y.shape[1], dtype=torch.float64)
        for t in range(x.shape[0]):
            w = torch.zeros(y.shape[1], x.shape[1], dtype=torch.float64, requires_grad=True)
            loss = 0.5 * ((x[: t + 1] @ w.T - y[: t + 1]) ** 2).sum()
            (grad,) = torch.autograd.grad(loss, w)
            out[t] = (w.detach() - eta * grad) @ q[t]
        return out


# --------------------------------------------------------------------------- #
# Chapter 5: Cubit's pseudo-targets by the delta rule
# --------------------------------------------------------------------------- #
def _delta_cases(rng: np.random.Generator) -> list[Case]:
    def case(label: str, r, v, s, lam: float, hint: str | None = None) -> Case:
        return Case(label, (*_tensors(r, v, s), lam), hint)

    def draw(t: int, d: int, dv: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return rng.normal(size=(t, d)), rng.normal(size=(t, dv)), rng.uniform(0.5, 2.0, t)

    r, v, s = draw(6, 3, 2)
    cases = [
        case("T=1, d=3, lam=0.5", *draw(1, 3, 2), 0.5,
             "the first token has no past: P_11 = 1, β_1 = 0 and u_1 = s_1 v_1/(1 + λ)."),
        case("equal references, T=6, d=3, lam=0.1", np.tile(r[:1], (6, 1)), v, s, 0.1,
             "equal references give every allowed logit the same value: P_ii = 1/i and L_ij = 1/(i − 1) for j < i."),
        case("lam=0, T=6, d=3", r, v, s, 0.0, "λ = 0 is allowed: P_ii >= 1/i keeps every pivot P_ii + λ positive."),
    ]
    for _ in range(RANDOM_CASES):
        t, d, dv, lam = int(rng.integers(2, 13)), int(rng.integers(2, 7)), int(rng.integers(1, 5)), \
            _log_uniform(rng, 1e-3, 1.0)
        cases.append(case(f"T={t}, d={d}, lam={lam:.3g}", *draw(t, d, dv), lam))
    return cases


def _delta_reference(r, v, s, lam):
    from .mixers.functional import cubit_solve

    return cubit_solve(_head(r), _head(v), s=_head(s), lam=lam, implementation="reference")[0, 0]


# --------------------------------------------------------------------------- #
# Chapter 9: the Bayes-optimal prediction of a prompt
# --------------------------------------------------------------------------- #
def _gp_cases(rng: np.random.Generator) -> list[Case]:
    def case(label: str, x, y, lengthscale: float, noise: float, hint: str | None = None) -> Case:
        return Case(label, (np.asarray(x, float), np.asarray(y, float), lengthscale, noise), hint)

    cases = [
        case("n=1, lengthscale=0.3, noise=0.1", [0.2], [0.7], 0.3, 0.1,
             "the first pair has nothing before it: m_1 is the prior mean, 0."),
        case("n=2, lengthscale=0.3, noise=0.1", [0.2, 0.4], [0.7, -0.1], 0.3, 0.1,
             "m_2 = k(x_2, x_1) y_1 / (k(x_1, x_1) + σ²), with k(x_1, x_1) = 1."),
        case("tied inputs, n=6, lengthscale=0.2, noise=0.2", [0.1, 0.1, -0.5, -0.5, 0.1, 0.8], rng.normal(size=6),
             0.2, 0.2),
        case("small noise, n=12, lengthscale=0.3, noise=0.05", (x := rng.uniform(-1, 1, 12)),
             np.sin(3 * x) + 0.05 * rng.normal(size=12), 0.3, 0.05),
    ]
    for _ in range(RANDOM_CASES):
        n, ell, sigma = int(rng.integers(2, 26)), _log_uniform(rng, 0.1, 0.5), _log_uniform(rng, 0.05, 0.5)
        x = rng.uniform(-1, 1, n)
        cases.append(case(f"n={n}, lengthscale={ell:.3g}, noise={sigma:.3g}", x,
                          np.sin(3 * x) + sigma * rng.normal(size=n), ell, sigma))
    return cases


def _gp_reference(x, y, lengthscale, noise):
    import torch

    from .incontext import Prompts, gp_prefix_predictions

    xs, ys = (torch.as_tensor(np.asarray(a, dtype=np.float64))[None] for a in (x, y))
    prompts = Prompts(x=xs, y=ys, f=torch.zeros_like(ys), lengthscale=torch.tensor([float(lengthscale)]),
                      noise=torch.tensor([float(noise)]), signal_std=1.0)
    return gp_prefix_predictions(prompts)[0][0]


# --------------------------------------------------------------------------- #
# The registry
# --------------------------------------------------------------------------- #
_ALL = [
    Check("ch1.nw", "nw_estimator(x_train, y_train, x_query, h)", "ex-nw-check", _nw_cases, _nw_reference,
          "w_j(x) = exp(−(x − x_j)²/(2h²)) divided by the sum of the same over j, and ŷ(x) = Σ_j w_j(x) y_j; "
          "x_query[:, None] − x_train[None, :] gives every difference at once, shape (m, n)."),
    Check("ch2.krr", "krr_predict(x_train, y_train, x_query, lam, h)", "ex-krr-check", _krr_cases, _krr_reference,
          "ŷ(x) = k(x)ᵀ (K + λI)⁻¹ y with k(a, b) = exp(−(a − b)²/(2h²)), K_ij = k(x_i, x_j); solve the system "
          "with np.linalg.solve rather than forming the inverse."),
    Check("ch3.attention_as_nw", "attention_head(q, k, v, tau)", "ex-att-check-head", _attention_cases,
          _attention_reference,
          "row i is NW at q_i over the pairs (k_j, v_j), j <= i, with the kernel exp(q_i · k_j / τ): "
          "logits Q Kᵀ/τ, −inf above the diagonal, a softmax along each row, then times V.",
          rtol=1e-5, atol=1e-7),
    Check("ch3.sparsemax_epanechnikov", "sparsemax_attention(q, k, v, tau)", "ex-att-sparsemax", _sparsemax_cases,
          _sparsemax_reference,
          "for row i, sort the allowed logits z_j = q_i · k_j / τ (j <= i) from largest to smallest; keep the "
          "largest k with 1 + k z_(k) > z_(1) + … + z_(k); then θ = (z_(1) + … + z_(k) − 1)/k and "
          "p_j = max(z_j − θ, 0).",
          rtol=1e-6, atol=1e-8),
    Check("ch4.surrogate", "surrogate_predictions(x, y, z, lam, h)", "ex-cubit-check-surrogate", _surrogate_cases,
          _surrogate_reference,
          "P_tj ∝ exp(−(x_t − x_j)²/(2h²)) over j <= t with rows summing to one, A the same with z_t in place of "
          "x_t; u_t = (y_t − Σ_{j<t} P_tj u_j)/(P_tt + λ) in order t = 1, 2, …; then ŷ_t = Σ_{j<=t} A_tj u_j."),
    Check("ch4.linear_attention_gd", "gd_step_predictions(x, y, q, eta)", "ex-cubit-linear-attention-gd", _gd_cases,
          _gd_reference,
          "at W = 0 the gradient of ½ Σ_{j<=t} ‖W x_j − y_j‖² is −Σ_{j<=t} y_j x_jᵀ, so the step gives "
          "W = η Σ_{j<=t} y_j x_jᵀ and ŷ_t = W q_t = η Σ_{j<=t} (q_t · x_j) y_j: causal linear attention, "
          "with no softmax and no normalisation."),
    Check("ch5.cubit_delta_rule", "cubit_delta_rule(r, v, s, lam)", "ex-cubit-check-delta", _delta_cases,
          _delta_reference,
          "with ℓ_ij = r_i · r_j/‖r_j‖: P_ii is the softmax of ℓ_i1 … ℓ_ii at j = i, L_i is the softmax of "
          "ℓ_i1 … ℓ_i,i−1 (empty for i = 1), β_i = (1 − P_ii)/(P_ii + λ), and "
          "u_i = s_i v_i/(P_ii + λ) − β_i Σ_{j<i} L_ij u_j, in order i = 1, 2, ….",
          rtol=1e-5, atol=1e-7),
    Check("ch9.gp_prefix_mean", "gp_prefix_mean(x, y, lengthscale, noise)", "ex-ti-check-gp", _gp_cases,
          _gp_reference,
          "m_1 = 0; for t >= 2, m_t = k_tᵀ (K + σ²I)⁻¹ y_{<t}, where K is the kernel matrix of x_1 … x_{t−1}, "
          "k_t the kernel between x_t and them, and k(a, b) = exp(−(a − b)²/(2ℓ²)).",
          rtol=1e-5, atol=1e-6),
]

CHECKS: dict[str, Check] = {c.name: c for c in _ALL}
"""Every check by name, in the book's order."""
