"""cubit_lite.regression against references: scikit-learn, direct least squares, brute force."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF
from sklearn.kernel_ridge import KernelRidge

from cubit_lite.regression import (
    KERNELS,
    kernel_profile,
    kernel_ridge,
    local_linear,
    loo_bandwidth,
    nadaraya_watson,
    prefix_kernel_ridge,
    prefix_nadaraya_watson,
    rbf_gamma,
    rbf_kernel,
    sample_toy_problem,
    toy_function,
    triangular_kernel_ridge,
)


@pytest.fixture(scope="module")
def data():
    return sample_toy_problem(n=60, noise=0.3, seed=1)


@pytest.fixture(scope="module")
def grid():
    return np.linspace(-0.1, 1.1, 157)


# --------------------------------------------------------------------------- #
# Kernel ridge regression == scikit-learn
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("lam", [1e-3, 0.1, 1.0])
@pytest.mark.parametrize("bandwidth", [0.05, 0.1, 0.3])
def test_kernel_ridge_matches_sklearn(data, grid, lam, bandwidth):
    x, y = data
    ours = kernel_ridge(x, y, grid, lam, bandwidth)
    ref = KernelRidge(alpha=lam, kernel="rbf", gamma=rbf_gamma(bandwidth)).fit(x[:, None], y).predict(grid[:, None])
    assert np.max(np.abs(ours - ref)) < 1e-8


def test_rbf_kernel_matches_sklearn(data, grid):
    from sklearn.metrics.pairwise import rbf_kernel as sk_rbf

    x, _ = data
    assert np.allclose(rbf_kernel(grid, x, 0.07), sk_rbf(grid[:, None], x[:, None], gamma=rbf_gamma(0.07)), atol=1e-15)
    with pytest.raises(ValueError, match="bandwidth must be a positive"):
        rbf_kernel(x, x, 0.0)


def test_kernel_ridge_weights_are_the_equivalent_kernel(data, grid):
    """Column j of the weights is the prediction for targets e_j (sklearn fit on unit vectors)."""
    x, y = data
    lam, h = 0.05, 0.08
    y_hat, weights = kernel_ridge(x, y, grid, lam, h, return_weights=True)
    assert weights.shape == (grid.size, x.size)
    assert np.allclose(weights @ y, y_hat, atol=1e-10)
    model = KernelRidge(alpha=lam, kernel="rbf", gamma=rbf_gamma(h))
    ref = np.column_stack([model.fit(x[:, None], e).predict(grid[:, None]) for e in np.eye(x.size)])
    assert np.max(np.abs(weights - ref)) < 1e-8


def test_kernel_ridge_equivalent_kernel_has_negative_lobes(data):
    x, y = data
    _, weights = kernel_ridge(x, y, np.array([0.5]), 1e-3, 0.05, return_weights=True)
    assert weights.min() < 0  # unlike NW weights
    _, shrunk = kernel_ridge(x, y, np.array([0.5]), 5.0, 0.05, return_weights=True)
    assert shrunk.sum() < 0.9  # and they need not sum to one: a large λ shrinks towards 0


def test_kernel_ridge_is_the_gp_posterior_mean(data, grid):
    x, y = data
    lam, h = 0.09, 0.07
    gp = GaussianProcessRegressor(kernel=RBF(length_scale=h), alpha=lam, optimizer=None).fit(x[:, None], y)
    assert np.max(np.abs(kernel_ridge(x, y, grid, lam, h) - gp.predict(grid[:, None]))) < 1e-8


def test_kernel_ridge_interpolates_with_zero_ridge():
    x = np.array([0.0, 0.3, 0.5, 0.9])
    y = np.array([1.0, -2.0, 0.5, 3.0])
    assert np.allclose(kernel_ridge(x, y, x, 0.0, 0.2), y, atol=1e-8)


def test_kernel_ridge_singular_gram_falls_back_to_least_squares():
    x = np.array([0.1, 0.1, 0.5])  # repeated input: K is singular at λ = 0
    y = np.array([1.0, 3.0, 0.0])
    y_hat = kernel_ridge(x, y, x, 0.0, 0.2)
    assert np.all(np.isfinite(y_hat))
    assert np.allclose(y_hat[:2], 2.0, atol=1e-6)  # the least-squares compromise: the mean


# --------------------------------------------------------------------------- #
# Nadaraya–Watson
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("kernel", KERNELS)
def test_nw_matches_the_formula(data, kernel):
    x, y = data
    xq = np.linspace(0.05, 0.95, 41)  # every query has points in reach at h = 0.15
    h = 0.15
    k = kernel_profile((xq[:, None] - x[None, :]) / h, kernel) / h
    expected = (k @ y) / k.sum(axis=1)
    y_hat, weights = nadaraya_watson(x, y, xq, h, kernel, return_weights=True)
    assert np.allclose(y_hat, expected, rtol=0, atol=1e-12)
    assert np.all(weights >= 0)
    assert np.allclose(weights.sum(axis=1), 1.0, atol=1e-12)


def test_nw_gaussian_never_underflows(data):
    """A tiny bandwidth is nearest-neighbour regression, not 0/0."""
    x, y = data
    xq = np.array([-5.0, 0.33, 7.0])
    y_hat = nadaraya_watson(x, y, xq, 1e-4)
    nearest = y[np.abs(xq[:, None] - x[None, :]).argmin(axis=1)]
    assert np.allclose(y_hat, nearest)


def test_nw_huge_bandwidth_is_the_mean(data):
    x, y = data
    assert np.allclose(nadaraya_watson(x, y, [0.0, 0.5], 1e6), y.mean())


def test_kernel_profiles_are_densities():
    u, du = np.linspace(-8, 8, 160001, retstep=True)
    for kernel in KERNELS:
        assert abs(kernel_profile(u, kernel).sum() * du - 1.0) < 1e-3


@pytest.mark.parametrize("kernel", ["epanechnikov", "box"])
def test_empty_window_raises_by_default(kernel):
    x = np.array([0.0, 0.1, 0.2])
    with pytest.raises(ValueError, match=r"x_query\[1\] = 0\.9.*on_empty='nan'"):
        nadaraya_watson(x, x, [0.1, 0.9], 0.05, kernel)


@pytest.mark.parametrize("estimator", [nadaraya_watson, local_linear])
def test_empty_window_nan_is_documented_and_explicit(estimator):
    x = np.array([0.0, 0.01, 0.1, 0.11])
    y_hat, weights = estimator(x, x, [0.05, 0.5], 0.06, "box", return_weights=True, on_empty="nan")
    assert np.isfinite(y_hat[0]) and np.isnan(y_hat[1])
    assert np.all(weights[1] == 0)


# --------------------------------------------------------------------------- #
# Local linear regression == weighted least squares
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("kernel", KERNELS)
def test_local_linear_matches_weighted_least_squares(data, kernel):
    x, y = data
    h = 0.2
    xq = np.array([0.0, 0.02, 0.31, 0.7, 0.98, 1.0])
    y_hat, weights = local_linear(x, y, xq, h, kernel, return_weights=True)
    for i, q in enumerate(xq):
        w = kernel_profile((q - x) / h, kernel)
        design = np.column_stack([np.ones_like(x), x - q])
        root = np.sqrt(w)
        coef = np.linalg.lstsq(design * root[:, None], y * root, rcond=None)[0]
        assert abs(y_hat[i] - coef[0]) < 1e-10
    assert np.allclose(weights.sum(axis=1), 1.0, atol=1e-12)
    assert np.allclose(weights @ y, y_hat, atol=1e-12)


def test_local_linear_reproduces_lines_exactly(data):
    x, _ = data
    line = 2.0 - 3.0 * x
    xq = np.linspace(0, 1, 25)
    assert np.allclose(local_linear(x, line, xq, 0.1), 2.0 - 3.0 * xq, atol=1e-10)


def test_local_linear_has_less_boundary_bias_than_nw():
    """On a straight line NW is biased at the edges, local linear is not."""
    x = np.linspace(0, 1, 101)
    y = 3.0 * x
    edge = np.array([0.0, 1.0])
    nw_bias = np.abs(nadaraya_watson(x, y, edge, 0.1) - 3.0 * edge)
    ll_bias = np.abs(local_linear(x, y, edge, 0.1) - 3.0 * edge)
    assert np.all(nw_bias > 0.1) and np.all(ll_bias < 1e-10)


# --------------------------------------------------------------------------- #
# Leave-one-out: shortcut == brute force
# --------------------------------------------------------------------------- #
def _brute_force_loo(x, y, bandwidths, method, kernel, lam):
    errors = []
    for h in bandwidths:
        squared = []
        for i in range(x.size):
            keep = np.arange(x.size) != i
            try:
                if method == "nw":
                    pred = nadaraya_watson(x[keep], y[keep], x[i : i + 1], h, kernel)
                elif method == "krr":
                    pred = kernel_ridge(x[keep], y[keep], x[i : i + 1], lam, h)
                else:
                    pred = local_linear(x[keep], y[keep], x[i : i + 1], h, kernel)
            except ValueError:  # no other point in reach: this h cannot predict point i
                squared.append(np.inf)
                continue
            squared.append((y[i] - pred[0]) ** 2)
        errors.append(np.mean(squared))
    return np.array(errors)


@pytest.mark.parametrize("method", ["nw", "krr", "llr"])
@pytest.mark.parametrize("kernel", KERNELS)
def test_loo_shortcut_equals_refitting(data, method, kernel):
    x, y = data
    bandwidths = np.geomspace(0.008, 0.4, 9)
    lam = 0.02
    result = loo_bandwidth(x, y, bandwidths, method=method, lam=lam, kernel=kernel)
    expected = _brute_force_loo(x, y, bandwidths, method, kernel, lam)
    finite = np.isfinite(expected)
    assert np.array_equal(np.isfinite(result.errors), finite)
    assert np.allclose(result.errors[finite], expected[finite], rtol=1e-9, atol=1e-12)
    assert result.best_index == int(np.argmin(expected))
    assert result.best_bandwidth == bandwidths[result.best_index]


def test_loo_picks_a_sensible_bandwidth():
    x, y = sample_toy_problem(n=200, noise=0.3, seed=3)
    candidates = np.geomspace(0.002, 0.5, 40)
    best = loo_bandwidth(x, y, candidates).best_bandwidth
    assert 0.005 < best < 0.1  # neither interpolation nor the global mean
    fitted = nadaraya_watson(x, y, x, best)
    assert np.mean((fitted - toy_function(x)) ** 2) < np.mean((y - toy_function(x)) ** 2)


# --------------------------------------------------------------------------- #
# Bad input: clear errors
# --------------------------------------------------------------------------- #
X = np.linspace(0, 1, 5)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: nadaraya_watson(X, X[:4], X, 0.1), "same length; got 5 and 4"),
        (lambda: nadaraya_watson([], [], X, 0.1), "x_train is empty"),
        (lambda: nadaraya_watson(X, X, [], 0.1), "x_query is empty"),
        (lambda: nadaraya_watson(X, [0, 1, np.nan, 3, 4], X, 0.1), r"y_train must be finite; y_train\[2\] = nan"),
        (lambda: nadaraya_watson(X, X, [np.inf], 0.1), "x_query must be finite"),
        (lambda: nadaraya_watson(X[:, None], X, X, 0.1), "one-dimensional"),
        (lambda: nadaraya_watson(X, X, X, 0.0), "bandwidth must be a positive"),
        (lambda: nadaraya_watson(X, X, X, -1.0), "bandwidth must be a positive"),
        (lambda: nadaraya_watson(X, X, X, "wide"), "bandwidth must be a positive finite number"),
        (lambda: nadaraya_watson(X, X, X, 0.1, kernel="triangle"), "unknown kernel 'triangle'; choose one of gaussian"),
        (lambda: nadaraya_watson(X, X, X, 0.1, on_empty="zero"), "unknown on_empty 'zero'; choose one of raise, nan"),
        (lambda: nadaraya_watson(["a"], [1.0], X, 0.1), "x_train must be an array of real numbers"),
        (lambda: kernel_ridge(X, X, X, -0.1, 0.1), r"lam \(the ridge λ\) must be a finite number >= 0; got -0.1"),
        (lambda: kernel_ridge(X, X, X, np.nan, 0.1), "lam"),
        (lambda: kernel_ridge(X, X, X, 0.1, 0.0), "bandwidth must be a positive"),
        (lambda: kernel_ridge(X, X[:3], X, 0.1, 0.1), "same length"),
        (lambda: local_linear(X, X, X, -0.2), "bandwidth"),
        (lambda: local_linear(X, X, X, 0.2, kernel="tricube"), "unknown kernel"),
        (lambda: loo_bandwidth(X, X, [0.1, -0.1]), "every bandwidth must be a positive"),
        (lambda: loo_bandwidth(X, X, []), "bandwidths is empty"),
        (lambda: loo_bandwidth(X, X, [0.1], method="gp"), "unknown method 'gp'; choose one of nw, krr, llr"),
        (lambda: loo_bandwidth(X, X, [0.1], method="krr", lam=0.0), "needs lam > 0"),
        (lambda: loo_bandwidth(X, X, [0.1], method="krr", lam=-1.0), "lam"),
        (lambda: loo_bandwidth([0.5], [1.0], [0.1]), "at least two training points"),
        (lambda: loo_bandwidth(X, X, [1e-4], kernel="box"), "no candidate bandwidth"),
        (lambda: sample_toy_problem(n=0), "n must be a positive integer"),
        (lambda: sample_toy_problem(noise=-1.0), "noise must be"),
    ],
)
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_scalar_query_is_accepted():
    assert nadaraya_watson(X, X, 0.5, 0.2).shape == (1,)


def test_toy_problem_is_deterministic():
    a = sample_toy_problem(n=10, seed=7)
    b = sample_toy_problem(n=10, seed=7)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert np.all(np.diff(a[0]) >= 0)


# --------------------------------------------------------------------------- #
# Streams: prefix NW, exact prefix KRR, Cubit's triangular surrogate (chapter 4)
# --------------------------------------------------------------------------- #
@pytest.fixture
def stream():
    rng = np.random.default_rng(7)
    x = rng.uniform(0.0, 1.0, 40)  # arrival order, not sorted
    y = toy_function(x) + 0.3 * rng.standard_normal(40)
    z = rng.uniform(0.0, 1.0, 40)  # one query per step
    return x, y, z


def test_prefix_kernel_ridge_refits_krr_on_every_prefix(stream):
    x, y, z = stream
    y_hat, weights = prefix_kernel_ridge(x, y, z, lam=0.05, bandwidth=0.1, return_weights=True)
    refit = [kernel_ridge(x[:t], y[:t], z[t - 1 : t], 0.05, 0.1)[0] for t in range(1, x.size + 1)]
    np.testing.assert_allclose(y_hat, refit, atol=1e-10)
    assert np.all(np.triu(weights, k=1) == 0)  # step t uses the first t pairs only


def test_prefix_kernel_ridge_handles_a_singular_gram():
    x = np.array([0.1, 0.1, 0.5, 0.5, 0.9])  # repeated inputs, λ = 0: the Gram matrix is singular
    y = np.array([1.0, 1.0, 2.0, 2.0, 0.0])
    y_hat = prefix_kernel_ridge(x, y, lam=0.0, bandwidth=0.2)
    refit = [kernel_ridge(x[:t], y[:t], x[t - 1 : t], 0.0, 0.2)[0] for t in range(1, 6)]
    np.testing.assert_allclose(y_hat, refit, atol=1e-8)


def test_prefix_nadaraya_watson_sees_only_the_past(stream):
    x, y, z = stream
    y_hat = prefix_nadaraya_watson(x, y, z, bandwidth=0.1)
    for t in (1, 10, 40):
        assert y_hat[t - 1] == pytest.approx(nadaraya_watson(x[:t], y[:t], z[t - 1 : t], 0.1)[0], abs=1e-12)


def test_triangular_kernel_ridge_is_a_dense_solve_of_the_causal_system(stream):
    x, y, z = stream
    lam, h = 0.1, 0.1
    _, p_matrix = prefix_nadaraya_watson(x, y, x, bandwidth=h, return_weights=True)
    _, a_matrix = prefix_nadaraya_watson(x, y, z, bandwidth=h, return_weights=True)
    dense = a_matrix @ np.linalg.inv(p_matrix + lam * np.eye(x.size)) @ y
    y_hat, weights = triangular_kernel_ridge(x, y, z, lam=lam, bandwidth=h, return_weights=True)
    np.testing.assert_allclose(y_hat, dense, atol=1e-10)
    np.testing.assert_allclose(weights @ y, y_hat, atol=1e-12)
    assert np.all(np.triu(weights, k=1) == 0)
    assert np.all(np.diag(p_matrix) * np.arange(1, x.size + 1) >= 1 - 1e-12)  # P_tt >= 1/t


@pytest.mark.parametrize("estimator", ["prefix_kernel_ridge", "triangular_kernel_ridge", "prefix_nadaraya_watson"])
def test_streaming_estimators_are_causal(stream, estimator):
    x, y, z = stream
    fn = {"prefix_kernel_ridge": prefix_kernel_ridge, "triangular_kernel_ridge": triangular_kernel_ridge,
          "prefix_nadaraya_watson": prefix_nadaraya_watson}[estimator]
    options = {"bandwidth": 0.1} if estimator == "prefix_nadaraya_watson" else {"bandwidth": 0.1, "lam": 0.1}
    before = fn(x, y, z, **options)
    y2, x2 = y.copy(), x.copy()
    y2[25:] += 10.0
    x2[25:] = 0.5
    after = fn(x2, y2, z, **options)
    np.testing.assert_array_equal(before[:25], after[:25])


def test_streams_need_one_query_per_step(stream):
    x, y, _ = stream
    with pytest.raises(ValueError, match="one query per step"):
        prefix_kernel_ridge(x, y, x[:5], lam=0.1, bandwidth=0.1)
    with pytest.raises(ValueError, match="lam"):
        triangular_kernel_ridge(x, y, lam=-1.0, bandwidth=0.1)


# --------------------------------------------------------------------------- #
# The limit of a vanishing bandwidth: finite answers or a clear error, never NaN
# --------------------------------------------------------------------------- #
TINY_BANDWIDTHS = [1e-160, 1e-300, 5e-324]


@pytest.mark.parametrize("h", TINY_BANDWIDTHS)
def test_nadaraya_watson_with_a_vanishing_bandwidth_is_the_nearest_neighbour(h):
    x = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    y = np.array([3.0, 1.0, 4.0, 1.0, 5.0])
    queries = np.array([0.1, 0.5, 0.7, 0.9999])
    with np.errstate(all="raise"):
        assert np.array_equal(nadaraya_watson(x, y, queries, bandwidth=h), [3.0, 4.0, 1.0, 5.0])
        prefix = prefix_nadaraya_watson(x, y, np.array([0.2, 0.4, 0.45, 0.8, 0.0]), bandwidth=h)
    assert np.array_equal(prefix, [3.0, 1.0, 4.0, 1.0, 3.0])  # nearest among x_1..x_t


@pytest.mark.parametrize("h", TINY_BANDWIDTHS)
def test_kernel_ridge_with_a_vanishing_bandwidth_has_the_identity_gram_matrix(h):
    x = np.linspace(0.0, 1.0, 6)
    y = np.sin(7 * x)
    lam = 0.25
    with np.errstate(all="raise"):
        at_data = kernel_ridge(x, y, x, lam=lam, bandwidth=h)
        between = kernel_ridge(x, y, x[:-1] + 0.1, lam=lam, bandwidth=h)
    assert np.allclose(at_data, y / (1 + lam), rtol=0, atol=1e-15) and np.array_equal(between, np.zeros(5))
    assert rbf_gamma(h) > 1e300


def test_local_linear_with_a_vanishing_bandwidth_says_it_needs_two_points():
    x = np.linspace(0.0, 1.0, 5)
    with pytest.raises(ValueError, match=r"fewer than two distinct training points have non-zero kernel weight there\. "
                                         r"Use a larger bandwidth, or on_empty='nan'"):
        local_linear(x, x, np.array([0.1]), bandwidth=1e-300)
    assert np.isnan(local_linear(x, x, np.array([0.1, 0.6]), bandwidth=1e-300, on_empty="nan")).all()
