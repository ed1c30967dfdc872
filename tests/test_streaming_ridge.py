"""cubit_lite.streaming_ridge: exact causal ridge regression from a d × d state.

Checked against scikit-learn's Ridge(fit_intercept=False) refitted on every prefix, against
the per-prefix solve, and against the dual (kernel ridge) form with the linear kernel.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from cubit_lite.streaming_ridge import RidgeState, prefix_ridge, streaming_ridge

T, D, P = 60, 5, 3


@pytest.fixture(scope="module")
def stream():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(T, D))
    targets = features @ rng.normal(size=(D, P)) + 0.3 * rng.normal(size=(T, P))
    queries = rng.normal(size=(T, D))
    return features, targets, queries


@pytest.mark.parametrize("lam", [1e-3, 0.5, 10.0])
def test_streaming_ridge_matches_sklearn_at_every_prefix(stream, lam):
    features, targets, queries = stream
    fast = streaming_ridge(features, targets, queries, lam=lam)
    for t in range(1, T + 1):
        model = Ridge(alpha=lam, fit_intercept=False, solver="cholesky").fit(features[:t], targets[:t])
        expected = model.predict(queries[t - 1:t])[0]
        np.testing.assert_allclose(fast[t - 1], expected, rtol=0, atol=1e-8, err_msg=f"prefix t={t}")


@pytest.mark.parametrize("lam", [1e-3, 0.5, 10.0])
def test_streaming_equals_the_per_prefix_solve(stream, lam):
    features, targets, queries = stream
    np.testing.assert_allclose(streaming_ridge(features, targets, queries, lam=lam),
                               prefix_ridge(features, targets, queries, lam=lam), rtol=0, atol=1e-10)


def test_primal_state_equals_the_dual_kernel_ridge_form(stream):
    """k_t(q)ᵀ (K_t + λI_t)⁻¹ Y_t with K_t = Φ_t Φ_tᵀ: the t × t system of causal KRR."""
    features, targets, queries = stream
    lam = 0.1
    fast = streaming_ridge(features, targets, queries, lam=lam)
    for t in (1, 2, 17, T):
        phi = features[:t]
        dual = queries[t - 1] @ phi.T @ np.linalg.solve(phi @ phi.T + lam * np.eye(t), targets[:t])
        np.testing.assert_allclose(fast[t - 1], dual, rtol=0, atol=1e-10)


def test_vector_targets_and_default_queries(stream):
    features, targets, _ = stream
    out = streaming_ridge(features, targets[:, 0], lam=0.2)
    assert out.shape == (T,)
    np.testing.assert_allclose(out, prefix_ridge(features, targets[:, :1], features, lam=0.2)[:, 0], atol=1e-10)


def test_state_has_fixed_size_and_is_the_inverse(stream):
    features, targets, _ = stream
    lam = 0.3
    state = RidgeState.empty(D, P, lam=lam)
    for t in range(T):
        state.update(features[t], targets[t])
        assert state.inverse.shape == (D, D) and state.cross.shape == (D, P)
    np.testing.assert_allclose(state.inverse, np.linalg.inv(features.T @ features + lam * np.eye(D)), atol=1e-12)
    np.testing.assert_allclose(state.cross, features.T @ targets, atol=1e-12)


def test_large_lambda_is_linear_attention(stream):
    """λ · prediction → Σ_j (q_t · φ_j) y_j, unnormalised causal linear attention."""
    features, targets, queries = stream
    lam = 1e9
    linear_attention = np.tril(queries @ features.T) @ targets
    np.testing.assert_allclose(lam * streaming_ridge(features, targets, queries, lam=lam), linear_attention,
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lam": 0.0}, "positive finite"),
        ({"lam": -1.0}, "positive finite"),
        ({"lam": float("nan")}, "positive finite"),
        ({"lam": "big"}, "positive finite number"),
    ],
)
def test_bad_ridge_is_refused(stream, kwargs, message):
    features, targets, _ = stream
    with pytest.raises(ValueError, match=message):
        streaming_ridge(features, targets, **kwargs)


def test_bad_shapes_are_refused(stream):
    features, targets, queries = stream
    with pytest.raises(ValueError, match="2-D"):
        streaming_ridge(features[:, 0], targets, lam=1.0)
    with pytest.raises(ValueError, match="rows"):
        streaming_ridge(features, targets[:-1], lam=1.0)
    with pytest.raises(ValueError, match="columns"):
        streaming_ridge(features, targets, queries[:, :-1], lam=1.0)
    with pytest.raises(ValueError, match="NaN"):
        streaming_ridge(np.full((3, 2), np.nan), np.zeros(3), lam=1.0)
    with pytest.raises(ValueError, match="shape"):
        RidgeState.empty(D, P, lam=1.0).update(np.zeros(D + 1), np.zeros(P))
