"""In-context regression: the GP prompts have the stated covariance, the Bayes-optimal
baseline equals scikit-learn's GaussianProcessRegressor, the regressor is causal, and
the head-fitting helper recovers a known bandwidth."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from repo_history import commits_adding, git, require_history, strictly_after
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel

from cubit_lite.incontext import (
    GPPrior,
    InContextConfig,
    InContextRegressor,
    fit_bandwidth,
    gp_prefix_predictions,
    rbf_covariance,
    sample_prompts,
)
from cubit_lite.regression import nadaraya_watson


def test_prompts_have_the_stated_covariance():
    """With x, ℓ and σ fixed, 40,000 draws of y have mean 0 and covariance K + σ²I (5 standard errors)."""
    draws, n = 40_000, 6
    x = torch.tensor([-0.9, -0.5, -0.45, 0.0, 0.3, 0.95], dtype=torch.float64).expand(draws, n)
    ell, sigma, s = 0.3, 0.2, 1.5
    prompts = sample_prompts(draws, n, GPPrior(signal_std=s), generator=torch.Generator().manual_seed(0), x=x,
                             lengthscale=torch.full((draws,), ell), noise=torch.full((draws,), sigma))
    expected = rbf_covariance(x[:1], torch.tensor([ell], dtype=torch.float64), s)[0] + sigma**2 * torch.eye(n)
    y = prompts.y
    empirical = (y.T @ y / draws).numpy()
    scale = np.sqrt((np.outer(np.diag(expected), np.diag(expected)) + expected.numpy() ** 2) / draws)
    assert np.all(np.abs(empirical - expected.numpy()) < 5 * scale)
    assert np.all(np.abs(y.mean(0).numpy()) < 5 * np.sqrt(np.diag(expected) / draws))
    f_cov = (prompts.f.T @ prompts.f / draws).numpy()  # the noiseless f has covariance K alone
    assert np.abs(f_cov - (expected.numpy() - sigma**2 * np.eye(n))).max() < 5 * scale.max()


def test_hyperparameters_are_drawn_in_their_ranges_and_draws_are_reproducible():
    prior = GPPrior(lengthscale=(0.2, 0.4), noise=(0.01, 0.1), x_range=(0.0, 2.0))
    a = sample_prompts(500, 10, prior, generator=torch.Generator().manual_seed(3))
    b = sample_prompts(500, 10, prior, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.y, b.y) and torch.equal(a.x, b.x)
    assert 0.2 <= a.lengthscale.min() and a.lengthscale.max() <= 0.4
    assert 0.01 <= a.noise.min() and a.noise.max() <= 0.1
    assert 0.0 <= a.x.min() and a.x.max() <= 2.0
    log_noise = np.log(a.noise.numpy())  # log-uniform: the log is uniform, its mean mid-range
    assert abs(log_noise.mean() - np.log(0.01 * 0.1) / 2) < 0.1


def test_bayes_optimal_predictions_equal_scikit_learns_gaussian_process():
    prompts = sample_prompts(3, 15, generator=torch.Generator().manual_seed(1))
    mean, variance = gp_prefix_predictions(prompts)
    for b in range(3):
        x, y = prompts.x[b].numpy(), prompts.y[b].numpy()
        ell, sigma = float(prompts.lengthscale[b]), float(prompts.noise[b])
        assert mean[b, 0] == 0 and variance[b, 0] == pytest.approx(1 + sigma**2, abs=1e-12)
        for t in range(1, 15):
            kernel = ConstantKernel(1.0, "fixed") * RBF(ell, "fixed")
            gp = GaussianProcessRegressor(kernel=kernel, alpha=sigma**2, optimizer=None, normalize_y=False)
            gp.fit(x[:t, None], y[:t])
            m, sd = gp.predict(x[t : t + 1, None], return_std=True)
            assert abs(mean[b, t].item() - m[0]) < 1e-8
            assert abs(variance[b, t].item() - (sd[0] ** 2 + sigma**2)) < 1e-8


@pytest.mark.parametrize("mixer", ["transformer", "cubit", "cubit-share", "deltaformer"])
@pytest.mark.parametrize("positions", ["rotary", "learned"])
def test_the_regressor_never_sees_the_target_it_predicts(mixer, positions):
    torch.manual_seed(0)
    model = InContextRegressor(InContextConfig(mixer=mixer, n_points=12, n_layer=2, n_head=2, d_model=16,
                                               positions=positions)).double()
    prompts = sample_prompts(4, 12, generator=torch.Generator().manual_seed(2))
    out = model(prompts.x, prompts.y)
    for t in (0, 5, 11):
        y = prompts.y.clone()
        y[:, t] += 10.0
        changed = model(prompts.x, y)
        assert torch.equal(changed[:, : t + 1], out[:, : t + 1])  # y_t moves nothing up to and at t
        if t < 11:
            assert not torch.equal(changed[:, t + 1 :], out[:, t + 1 :])  # but the later predictions


def test_the_regressor_refuses_prompts_longer_than_it_was_built_for():
    model = InContextRegressor(InContextConfig(n_points=8, n_layer=1, n_head=2, d_model=8))
    with pytest.raises(ValueError, match=r"x and y must both be \(B, n\) with n <= 8"):
        model(torch.zeros(2, 9), torch.zeros(2, 9))


def test_fit_bandwidth_recovers_the_bandwidth_of_causal_nw_weights():
    rng = np.random.default_rng(0)
    keys = np.sort(rng.uniform(-1, 1, 30))
    queries = rng.uniform(-1, 1, 30)
    weights = np.zeros((30, 30))
    for i in range(30):  # row i sees keys 0..i, as a causal head does
        _, w = nadaraya_watson(keys[: i + 1], np.zeros(i + 1), queries[i : i + 1], bandwidth=0.17, return_weights=True)
        weights[i, : i + 1] = w[0]
    h, distance = fit_bandwidth(weights, queries, keys, np.geomspace(0.01, 1.0, 41))
    assert h == pytest.approx(0.17, rel=0.06) and distance < 0.02
    far, far_distance = fit_bandwidth(np.eye(30), queries, keys, [0.5])
    assert far_distance > 0.3


def test_fit_bandwidth_refuses_rows_that_are_not_weights():
    with pytest.raises(ValueError, match="each row must sum to one"):
        fit_bandwidth(np.full((2, 3), 0.5), [0.0, 1.0], [0.0, 1.0, 2.0], [0.1])
    with pytest.raises(ValueError, match="bandwidths must be a non-empty list of positive"):
        fit_bandwidth(np.eye(2), [0.0, 1.0], [0.0, 1.0], [0.0])


# --------------------------------------------------------------------------- #
# The pre-registered study: the plan predates the runs and the results
# --------------------------------------------------------------------------- #
def test_the_incontext_plan_was_committed_before_the_runs_and_results():
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    require_history()
    plan = git("log", "--format=%H", "--", "experiments/incontext/PLAN.md").stdout.split()
    assert len(plan) == 1, "PLAN.md is never changed after the runs"
    summary = json.loads((root / "results" / "incontext.json").read_text(encoding="utf-8"))
    assert summary["plan_commit"] == plan[0]
    for commit in (summary["git_commit"], summary["pilot"]["git_commit"]):  # the code the GPU ran
        assert strictly_after(plan[0], commit)
    results = sorted(str(p.relative_to(root)) for p in (root / "results" / "incontext").iterdir())
    for path in ["results/incontext.json", *results]:
        added = commits_adding(path)
        if added:
            assert strictly_after(plan[0], added[-1]), path
    primary = summary["primary"]
    assert primary["low"] <= primary["mean"] <= primary["high"] and primary["n"] == 3
