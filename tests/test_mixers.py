"""The token mixers: the identities of the equations page §2–§4 (``book/equations.md``) are the specification.

Each test names the property it pins down. Tolerances: float64 identities to
1e-12 (most land near 1e-15), float32 checks as stated.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

from cubit_lite.mixers import (
    MIXER_NAMES,
    MixerCache,
    apply_rotary,
    attention_weights,
    blocked,
    build_mixer,
    cubit_attention,
    cubit_matrices,
    cubit_solve,
    deltaformer_attention,
    deltaformer_kernel,
    deltaformer_solve,
    dispatch,
    gaussian_nadaraya_watson,
    llr_attention,
    llr_weights,
    mixer_options,
    naive,
    reference_kernel,
    ridge_inverse,
    softmax_attention,
)
from cubit_lite.mixers.logits import reference_logits

F64 = torch.float64


def randn(*shape, seed=0, dtype=F64):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator, dtype=dtype)


@pytest.fixture
def qkvr():
    """Random (B, H, T, D) = (2, 3, 9, 4) queries, keys, values, references; LRR scales and β."""
    b, h, t, d = 2, 3, 9, 4
    q, k, v, r = (randn(b, h, t, d, seed=s) for s in range(4))
    s = 0.5 + 1.5 * torch.rand(b, h, t, generator=torch.Generator().manual_seed(4), dtype=F64)
    beta = randn(b, h, t, seed=5)
    return q, k, v, r, s, beta


def unit(x):
    return x / x.norm(dim=-1, keepdim=True)


# --------------------------------------------------------------------------- #
# §2 Softmax attention is Nadaraya–Watson
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("causal", [True, False])
def test_fused_attention_equals_weights_times_values(qkvr, causal):
    q, k, v, *_ = qkvr
    a = attention_weights(q, k, causal=causal)
    torch.testing.assert_close(softmax_attention(q, k, v, causal=causal), a @ v, atol=1e-12, rtol=0)
    torch.testing.assert_close(a.sum(-1), torch.ones_like(a[..., 0]), atol=1e-14, rtol=0)
    assert bool((a >= 0).all())
    if causal:
        assert bool((a.triu(1) == 0).all())


@pytest.mark.parametrize("tau", [0.05, 0.5, 2.0])
@pytest.mark.parametrize("causal", [True, False])
def test_attention_with_unit_vectors_is_gaussian_nw_with_bandwidth_sqrt_tau(qkvr, tau, causal):
    """exp(q·k/τ) = exp(1/τ) exp(−‖q − k‖²/2τ) for unit q, k: temperature is bandwidth (h = √τ)."""
    q, k, v, *_ = qkvr
    attention = softmax_attention(unit(q), unit(k), v, causal=causal, scale=1.0 / tau)
    nw = gaussian_nadaraya_watson(unit(q), unit(k), v, bandwidth=math.sqrt(tau), causal=causal)
    assert (attention - nw).abs().max().item() < 1e-12


def test_one_dimensional_gaussian_nw_matches_the_numpy_estimator():
    from cubit_lite.regression import prefix_nadaraya_watson

    rng = np.random.default_rng(0)
    x, y, z = rng.uniform(size=30), rng.standard_normal(30), rng.uniform(size=30)
    as_heads = lambda a: torch.tensor(a, dtype=F64).reshape(1, 1, -1, 1)  # noqa: E731
    torch_nw = gaussian_nadaraya_watson(as_heads(z), as_heads(x), as_heads(y), bandwidth=0.1).flatten()
    np.testing.assert_allclose(torch_nw.numpy(), prefix_nadaraya_watson(x, y, z, bandwidth=0.1), atol=1e-12)


# --------------------------------------------------------------------------- #
# §3 Cubit
# --------------------------------------------------------------------------- #
def test_cubit_reduces_to_softmax_attention_when_p_is_the_identity(qkvr):
    """P = I (orthonormal references, huge g), λ = 0, S = I: Cubit is softmax attention."""
    q, k, v, *_ = qkvr
    b, h, t, d = q.shape
    basis = torch.linalg.qr(randn(b, h, 16, 16, seed=9))[0][..., :t, :]  # (B, H, T, 16): orthonormal rows
    p = reference_kernel(basis, ref_scale=200.0)
    torch.testing.assert_close(p, torch.eye(t, dtype=F64).expand_as(p), atol=1e-30, rtol=0)
    out = cubit_attention(q, k, v, basis, s=None, lam=0.0, ref_scale=200.0)
    torch.testing.assert_close(out, softmax_attention(q, k, v), atol=1e-14, rtol=0)


def test_reference_kernel_is_row_stochastic_with_a_dominant_diagonal(qkvr):
    """One-sided normalisation: ℓ_ii = g‖r_i‖ is the row maximum, so P_ii >= 1/i."""
    *_, r, _, _ = qkvr
    for g in (0.3, 1.0, torch.tensor([0.5, 1.0, 4.0], dtype=F64)):
        p = reference_kernel(r * 5.0, ref_scale=g)
        torch.testing.assert_close(p.sum(-1), torch.ones_like(p[..., 0]), atol=1e-14, rtol=0)
        assert bool((p.triu(1) == 0).all())
        diag = p.diagonal(dim1=-2, dim2=-1)
        i = torch.arange(1, p.shape[-1] + 1, dtype=F64)
        assert bool((diag * i >= 1 - 1e-12).all())
        assert bool((diag[..., None] >= p - 1e-15).all())  # the largest entry of its row


def test_without_normalisation_the_diagonal_can_be_tiny():
    """The ablation ref_norm="none" loses the guarantee: a long reference dominates later rows."""
    r = torch.tensor([[[[10.0, 0.0], [1.0, 0.1]]]], dtype=F64)  # (1, 1, 2, 2)
    assert reference_kernel(r, ref_norm="none")[0, 0, 1, 1] < 1e-2
    assert reference_kernel(r, ref_norm="one-side")[0, 0, 1, 1] >= 0.5


@pytest.mark.parametrize("ref_norm", ["one-side", "both", "none"])
@pytest.mark.parametrize("lam", [0.0, 1e-3, torch.tensor([0.0, 0.1, 1.0], dtype=F64)])
def test_cubit_solve_equals_a_dense_inverse(qkvr, ref_norm, lam):
    *_, v, r, s, _ = qkvr
    p = reference_kernel(r, ref_norm=ref_norm)
    lam_b = lam.reshape(1, -1, 1, 1) if isinstance(lam, torch.Tensor) else lam
    system = p + lam_b * torch.eye(p.shape[-1], dtype=F64)
    dense = torch.linalg.inv(system) @ (s[..., None] * v)
    torch.testing.assert_close(cubit_solve(r, v, s=s, lam=lam, ref_norm=ref_norm), dense, atol=1e-12, rtol=0)
    torch.testing.assert_close(ridge_inverse(p, lam=lam), torch.linalg.inv(system), atol=1e-12, rtol=0)


def test_non_causal_cubit_uses_a_dense_solve(qkvr):
    *_, v, r, _, _ = qkvr
    p = reference_kernel(r, causal=False)
    dense = torch.linalg.inv(p + 0.1 * torch.eye(p.shape[-1], dtype=F64)) @ v
    torch.testing.assert_close(cubit_solve(r, v, lam=0.1, causal=False), dense, atol=1e-12, rtol=0)


def test_cubit_matrices_reproduce_the_mixer(qkvr):
    q, k, v, r, s, _ = qkvr
    lam = torch.tensor([1e-3, 1e-2, 0.3], dtype=F64)
    m = cubit_matrices(q, k, r, s=s, lam=lam, ref_scale=2.0)
    expected = cubit_attention(q, k, v, r, s=s, lam=lam, ref_scale=2.0)
    torch.testing.assert_close(m.attention @ m.ridge_inverse @ (m.s[..., None] * v), expected, atol=1e-12, rtol=0)


def test_deltaformer_identity(qkvr):
    """Row i of (P + λI)U = SV divided by P_ii + λ: u_i + β_i Σ_{j<i} L_ij u_j = s_i v_i / (P_ii + λ)."""
    *_, v, r, s, _ = qkvr
    lam, g = 1e-3, 1.7
    u = cubit_solve(r, v, s=s, lam=lam, ref_scale=g)
    p = reference_kernel(r, ref_scale=g)
    t = r.shape[-2]
    strict = naive.causal_mask(t, t, r.device, strict=True)
    l_matrix = naive.masked_softmax(reference_logits(r, r, g, "one-side"), strict, empty_rows=True)
    p_diag = p.diagonal(dim1=-2, dim2=-1)  # (B, H, T)
    beta = (1 - p_diag) / (p_diag + lam)
    assert bool((beta >= 0).all())
    lhs = u + beta[..., None] * (l_matrix @ u)
    rhs = s[..., None] * v / (p_diag[..., None] + lam)
    assert (lhs - rhs).abs().max().item() < 1e-13


def test_cubit_is_a_deltaformer_through_the_public_functions(qkvr):
    """With equal-norm references, deltaformer_solve with β_i = (1 − P_ii)/(P_ii + λ) gives Cubit's U."""
    *_, v, r, s, _ = qkvr
    lam, g, rho = 0.05, 1.3, 2.0
    r = rho * unit(r)
    d = r.shape[-1]
    keys = r * math.sqrt(g * math.sqrt(d) / rho)  # k_i·k_j/√d = g r_i·r_j/ρ = ℓ_ij
    p_diag = reference_kernel(r, ref_scale=g).diagonal(dim1=-2, dim2=-1)
    beta = (1 - p_diag) / (p_diag + lam)
    u_delta = deltaformer_solve(keys, s[..., None] * v / (p_diag[..., None] + lam), beta)
    torch.testing.assert_close(u_delta, cubit_solve(r, v, s=s, lam=lam, ref_scale=g), atol=1e-12, rtol=0)


# --------------------------------------------------------------------------- #
# §4 DeltaFormer and LLR
# --------------------------------------------------------------------------- #
def test_deltaformer_solve_is_the_delta_rule(qkvr):
    """(I + diag(β)L)U = V, row by row: u_i = v_i − β_i Σ_{j<i} L_ij u_j."""
    _, k, v, _, _, beta = qkvr
    u = deltaformer_solve(k, v, beta)
    l_matrix = deltaformer_kernel(k)
    assert bool((l_matrix[..., 0, :] == 0).all()) and bool((l_matrix.diagonal(dim1=-2, dim2=-1) == 0).all())
    torch.testing.assert_close(l_matrix[..., 1:, :].sum(-1), torch.ones_like(l_matrix[..., 1:, 0]), atol=1e-14, rtol=0)
    u_loop = torch.zeros_like(v)
    for i in range(v.shape[-2]):
        earlier = (l_matrix[..., i, :i, None] * u_loop[..., :i, :]).sum(-2)
        u_loop[..., i, :] = v[..., i, :] - beta[..., i, None] * earlier
    torch.testing.assert_close(u, u_loop, atol=1e-12, rtol=0)
    dense = torch.linalg.inv(torch.eye(v.shape[-2], dtype=F64) + beta[..., None] * l_matrix) @ v
    torch.testing.assert_close(u, dense, atol=1e-12, rtol=0)


def test_llr_weights_are_weighted_ridge_least_squares(qkvr):
    """Row i: the intercept of Ridge(μ) on (k_j − q_i, v_j) with sample weights A_ij (scikit-learn)."""
    q, k, v, *_ = qkvr
    mu = 0.05
    out = llr_attention(q, k, v, mu=mu)
    w = attention_weights(q, k)
    for b, h, i in [(0, 0, 0), (0, 1, 4), (1, 2, 8), (1, 0, 6)]:
        visible = slice(0, i + 1)
        x = (k[b, h, visible] - q[b, h, i]).numpy()
        fit = Ridge(alpha=mu, fit_intercept=True, solver="cholesky")
        fit.fit(x, v[b, h, visible].numpy(), sample_weight=w[b, h, i, visible].numpy())
        np.testing.assert_allclose(out[b, h, i].numpy(), fit.intercept_, atol=1e-9)
    ell = llr_weights(q, k, mu=mu)
    torch.testing.assert_close(ell.sum(-1), torch.ones_like(ell[..., 0]), atol=1e-12, rtol=0)


def test_llr_with_a_huge_ridge_is_nadaraya_watson(qkvr):
    q, k, v, *_ = qkvr
    torch.testing.assert_close(llr_attention(q, k, v, mu=1e12), softmax_attention(q, k, v), atol=1e-9, rtol=0)


# --------------------------------------------------------------------------- #
# Causality, gradients, precision, stability
# --------------------------------------------------------------------------- #
FUNCTIONALS = {
    "softmax": lambda q, k, v, r, s, beta: softmax_attention(q, k, v),
    "gaussian_nw": lambda q, k, v, r, s, beta: gaussian_nadaraya_watson(q, k, v, bandwidth=1.5),
    "cubit": lambda q, k, v, r, s, beta: cubit_attention(q, k, v, r, s=s, lam=1e-3),
    "cubit_share": lambda q, k, v, r, s, beta: cubit_attention(q, k, v, k, lam=0.0),
    "deltaformer": lambda q, k, v, r, s, beta: deltaformer_attention(q, k, v, beta),
    "llr": lambda q, k, v, r, s, beta: llr_attention(q, k, v, mu=0.1),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONALS))
def test_functionals_are_exactly_causal_in_float64(qkvr, name):
    """Changing tokens t0.. leaves outputs 0..t0−1 bit-identical."""
    inputs = list(qkvr)
    before = FUNCTIONALS[name](*inputs)
    t0 = 5
    perturbed = []
    for x in inputs:
        x = x.clone()
        x[:, :, t0:] = x[:, :, t0:] * 3.0 + 1.0
        perturbed.append(x)
    after = FUNCTIONALS[name](*perturbed)
    assert torch.equal(before[:, :, :t0], after[:, :, :t0])
    assert not torch.equal(before[:, :, t0:], after[:, :, t0:])


@pytest.mark.parametrize("name", MIXER_NAMES)
def test_layers_are_exactly_causal_in_float64(name):
    torch.manual_seed(0)
    mixer = build_mixer(name, 12, 3).double()
    x = randn(2, 10, 12, seed=1)
    y = x.clone()
    y[:, 6:] = randn(2, 4, 12, seed=2)
    assert torch.equal(mixer(x)[:, :6], mixer(y)[:, :6])


def _small(*shape, seed):
    return randn(*shape, seed=seed).requires_grad_()


GRADCHECKS = {
    "softmax_attention": (lambda q, k, v: softmax_attention(q, k, v), 3),
    "attention_weights": (lambda q, k: attention_weights(q, k), 2),
    "gaussian_nadaraya_watson": (lambda q, k, v: gaussian_nadaraya_watson(q, k, v, bandwidth=1.0), 3),
    "cubit_attention": (lambda q, k, v, r: cubit_attention(q, k, v, r, lam=0.1), 4),
    "deltaformer_attention": (
        lambda q, k, v: deltaformer_attention(q, k, v, torch.full(q.shape[:3], 0.7, dtype=F64)), 3
    ),
    "llr_attention": (lambda q, k, v: llr_attention(q, k, v, mu=0.2), 3),
    "llr_weights": (lambda q, k: llr_weights(q, k, mu=0.2), 2),
    "reference_kernel": (lambda r: reference_kernel(r, ref_scale=1.5), 1),
    "deltaformer_kernel": (lambda k: deltaformer_kernel(k), 1),
}


@pytest.mark.slow  # 1.6 s
@pytest.mark.parametrize("name", sorted(GRADCHECKS))
def test_gradcheck_float64(name):
    fn, n_inputs = GRADCHECKS[name]
    inputs = [_small(1, 2, 5, 3, seed=10 + i) for i in range(n_inputs)]
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6)


@pytest.mark.slow  # 4.0 s
def test_gradcheck_cubit_through_s_lambda_and_scale():
    """Gradients reach every input of eq. (13): q, k, v, r, the LRR scales s, per-head λ and g."""
    q, k, v, r = (_small(1, 2, 5, 3, seed=20 + i) for i in range(4))
    s = (0.5 + torch.rand(1, 2, 5, generator=torch.Generator().manual_seed(3), dtype=F64)).requires_grad_()
    lam = torch.tensor([0.05, 0.2], dtype=F64, requires_grad=True)
    g = torch.tensor([0.8, 1.5], dtype=F64, requires_grad=True)
    fn = lambda q, k, v, r, s, lam, g: cubit_attention(q, k, v, r, s=s, lam=lam, ref_scale=g)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (q, k, v, r, s, lam, g), eps=1e-6, atol=1e-6)
    p = reference_kernel(r.detach()).requires_grad_()
    assert torch.autograd.gradcheck(lambda p, lam: ridge_inverse(p, lam=lam), (p, lam), eps=1e-6, atol=1e-6)
    beta = randn(1, 2, 5, seed=4).requires_grad_()
    assert torch.autograd.gradcheck(lambda k, v, b: deltaformer_solve(k, v, b), (k, v, beta), eps=1e-6, atol=1e-6)


@pytest.mark.slow  # 2.6 s
def test_float32_solve_is_stable_at_4096_tokens():
    """Random float32 inputs, T = 4096: finite, and ‖(P + λI)U − SV‖ / ‖SV‖ < 1e-4."""
    b, h, t, d = 1, 2, 4096, 16
    r, v = (randn(b, h, t, d, seed=s, dtype=torch.float32) for s in (30, 31))
    s = 0.5 + 1.5 * torch.rand(b, h, t, generator=torch.Generator().manual_seed(32))
    for lam in (1e-6, 0.0):
        u = cubit_solve(r, v, s=s, lam=lam)
        assert u.dtype == torch.float32 and bool(torch.isfinite(u).all())
        p = reference_kernel(r)
        rhs = s[..., None] * v
        residual = (p @ u + lam * u - rhs).norm() / rhs.norm()
        assert residual.item() < 1e-4, residual.item()
    beta = torch.ones(b, h, t)
    u = deltaformer_solve(r, v, beta)
    residual = (u + deltaformer_kernel(r) @ u - v).norm() / v.norm()
    assert bool(torch.isfinite(u).all()) and residual.item() < 1e-4


def test_bf16_autocast_keeps_the_solve_in_float32(monkeypatch):
    seen = []
    real_solve = naive.solve

    def spy(system, rhs, *, causal):
        seen.append((system.dtype, rhs.dtype))
        return real_solve(system, rhs, causal=causal)

    monkeypatch.setattr(naive, "solve", spy)
    torch.manual_seed(0)
    x = torch.randn(2, 16, 32)
    for name in ("cubit", "cubit-nolrr", "cubit-share", "deltaformer"):
        mixer = build_mixer(name, 32, 4)
        reference = mixer(x)
        seen.clear()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = mixer(x)
        assert seen and all(dtypes == (torch.float32, torch.float32) for dtypes in seen), (name, seen)
        assert out.dtype == torch.bfloat16  # the projections did run in bf16
        assert (out.float() - reference).abs().max().item() < 0.1  # bf16 projections, float32 solve
    # The functional API under autocast: identical to running without it.
    r, v = torch.randn(1, 2, 64, 8), torch.randn(1, 2, 64, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = cubit_solve(r, v, lam=1e-3)
    assert inside.dtype == torch.float32 and torch.equal(inside, cubit_solve(r, v, lam=1e-3))
    # bf16 inputs: solved in float32, returned in bf16.
    q, k = torch.randn(1, 2, 64, 8), torch.randn(1, 2, 64, 8)
    seen.clear()
    out = cubit_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), r.bfloat16(), lam=1e-3)
    assert out.dtype == torch.bfloat16 and seen == [(torch.float32, torch.float32)]


# --------------------------------------------------------------------------- #
# Layers: names, options, incremental decoding
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", MIXER_NAMES)
@pytest.mark.parametrize("prompt", [1, 4])
def test_cached_decoding_equals_the_full_forward_pass(name, prompt):
    torch.manual_seed(1)
    options = {"lam": 1e-2, "learn_lam": True} if name.startswith("cubit") else {}
    mixer = build_mixer(name, 16, 2, **options).double()
    x = randn(3, 11, 16, seed=3)
    full = mixer(x)
    cache = MixerCache()
    pieces = [mixer(x[:, :prompt], cache)]
    for t in range(prompt, x.shape[1]):
        pieces.append(mixer(x[:, t : t + 1], cache))
    assert len(cache) == x.shape[1]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-12, rtol=0)


def test_layer_defaults_follow_the_spec():
    cubit = build_mixer("cubit", 32, 4)
    assert torch.allclose(cubit.lam, torch.full((4,), 1e-6)) and "log_lam" not in dict(cubit.named_parameters())
    assert torch.allclose(cubit.ref_scale, torch.ones(4)) and "log_ref_scale" in dict(cubit.named_parameters())
    assert cubit.ref_norm == "one-side" and cubit.reference is not None
    s = cubit.scales(torch.randn(2, 7, 32) * 100)
    assert s.shape == (2, 4, 7) and bool((s >= 0.5).all()) and bool((s <= 2.0).all())
    assert build_mixer("cubit-nolrr", 32, 4).scales(torch.randn(2, 7, 32)) is None
    assert build_mixer("cubit-share", 32, 4).reference is None
    learn = build_mixer("cubit", 32, 4, lam=1e-3, learn_lam=True, learn_lrr_bounds=True)
    assert {"log_lam", "lrr_bounds"} <= set(dict(learn.named_parameters()))
    delta = build_mixer("deltaformer", 32, 4)
    assert torch.equal(delta.betas(torch.randn(2, 7, 32)), torch.ones(2, 4, 7))
    assert build_mixer("llr", 32, 4).mu == 1e-2
    for name in MIXER_NAMES:
        assert build_mixer(name, 32, 4).name == name


def test_layers_train():
    """One optimiser step lowers a regression loss for every mixer (gradients flow end to end)."""
    for name in MIXER_NAMES:
        torch.manual_seed(0)
        mixer = build_mixer(name, 16, 2, **({"learn_lam": True, "lam": 1e-2} if name.startswith("cubit") else {}))
        x, target = torch.randn(4, 12, 16), torch.randn(4, 12, 16)
        optimiser = torch.optim.SGD(mixer.parameters(), lr=0.05)
        losses = []
        for _ in range(2):
            loss = (mixer(x) - target).pow(2).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        assert losses[1] < losses[0], name
        assert all(p.grad is not None for p in mixer.parameters() if p.requires_grad), name


# --------------------------------------------------------------------------- #
# Bad input gets a clear error
# --------------------------------------------------------------------------- #
def _qkv(t=5):
    return randn(1, 2, t, 4, seed=0), randn(1, 2, t, 4, seed=1), randn(1, 2, t, 4, seed=2)


BAD_CALLS = [
    (lambda: softmax_attention(randn(2, 5, 4), *_qkv()[1:]), "shape \\(B, H, T, D\\)"),
    (lambda: softmax_attention(_qkv()[0], randn(1, 2, 5, 3), _qkv()[2]), "head dimension"),
    (lambda: softmax_attention(_qkv(6)[0], *_qkv(5)[1:]), "causal=True needs as many queries"),
    (lambda: softmax_attention(*_qkv()[:2], randn(1, 2, 4, 4)), "must share \\(B, H, T\\)"),
    (lambda: softmax_attention(*_qkv(), scale=-1.0), "scale"),
    (lambda: softmax_attention(*_qkv()[:2], torch.ones(1, 2, 5, 4, dtype=torch.long)), "floating-point"),
    (lambda: cubit_attention(*_qkv(), _qkv()[1], lam=-1e-3), "λ.*>= 0"),
    (lambda: cubit_attention(*_qkv(), _qkv()[1], lam=torch.tensor([0.1, -0.1])), "λ.*>= 0 for every head"),
    (lambda: cubit_attention(*_qkv(), _qkv()[1], lam=torch.ones(3)), "one per head"),
    (lambda: cubit_attention(*_qkv(), _qkv()[1], ref_scale=0.0), "ref_scale.*> 0"),
    (lambda: cubit_attention(*_qkv(), _qkv()[1], s=torch.ones(1, 2, 4)), "s must be a tensor of shape \\(B, H, T\\)"),
    (lambda: cubit_attention(*_qkv(), _qkv()[1], ref_norm="two-side"), "unknown ref_norm"),
    (lambda: cubit_solve(randn(1, 2, 5, 4), randn(1, 2, 6, 4)), "r and v must share"),
    (lambda: deltaformer_attention(*_qkv(), torch.ones(1, 2, 4)), "beta must be a tensor of shape"),
    (lambda: llr_attention(*_qkv(), mu=0.0), "mu"),
    (lambda: gaussian_nadaraya_watson(*_qkv(), bandwidth=0), "bandwidth"),
    (lambda: ridge_inverse(randn(1, 2, 5, 4)), "square"),
    (lambda: build_mixer("mamba", 16, 2), "unknown mixer 'mamba'; choose one of transformer, cubit"),
    (lambda: build_mixer("transformer", 16, 2, lam=0.1), "does not take option\\(s\\) lam"),
    (lambda: build_mixer("cubit", 16, 3), "divisible"),
    (lambda: build_mixer("cubit", 16, 2, lam=-1.0), "λ"),
    (lambda: build_mixer("cubit", 16, 2, lam=0.0, learn_lam=True), "λ.*> 0"),
    (lambda: build_mixer("cubit", 16, 2, lrr_bounds=(2.0, 0.5)), "0 < a < b"),
    (lambda: build_mixer("llr", 16, 2, mu=-1), "mu"),
    (lambda: build_mixer("cubit", 16, 2)(torch.randn(2, 5, 8)), "x must have shape \\(B, T, 16\\)"),
]


@pytest.mark.parametrize("call, message", BAD_CALLS, ids=[f"bad{i}" for i in range(len(BAD_CALLS))])
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_decoding_takes_one_token_at_a_time():
    mixer = build_mixer("cubit", 16, 2)
    cache = MixerCache()
    mixer(torch.randn(1, 3, 16), cache)
    with pytest.raises(ValueError, match="one token at a time"):
        mixer(torch.randn(1, 2, 16), cache)


def test_cubit_share_caches_its_keys_once():
    mixer, cache = build_mixer("cubit-share", 16, 2), MixerCache()
    mixer(torch.randn(1, 3, 16), cache)
    mixer(torch.randn(1, 1, 16), cache)
    assert set(cache.tensors) == {"k", "u"}
    assert set(_filled_cache("cubit").tensors) == {"k", "r", "u"}


def _filled_cache(name):
    mixer, cache = build_mixer(name, 16, 2), MixerCache()
    mixer(torch.randn(1, 3, 16), cache)
    return cache


def test_mixer_options_are_listed():
    assert "lam" in mixer_options("cubit") and "lrr" not in mixer_options("cubit-nolrr")
    assert "lrr_bounds" in mixer_options("cubit") and "lrr_bounds" not in mixer_options("cubit-nolrr")
    with pytest.raises(ValueError, match="does not take option\\(s\\) lrr_bounds"):
        build_mixer("cubit-nolrr", 16, 2, lrr_bounds=(0.5, 2.0))
    assert "share_reference" not in mixer_options("cubit-share")
    assert mixer_options("transformer") == ("head_dim", "bias", "rotary")


def test_rotary_logits_depend_on_the_offset_only():
    q, k = randn(1, 1, 1, 8, seed=60), randn(1, 1, 1, 8, seed=61)
    logit = lambda i, j: (apply_rotary(q, i) * apply_rotary(k, j)).sum().item()  # noqa: E731
    assert logit(5, 2) == pytest.approx(logit(13, 10), abs=1e-12)
    assert logit(5, 2) != pytest.approx(logit(5, 3), abs=1e-6)
    torch.testing.assert_close(apply_rotary(q, 7).norm(), q.norm())


@pytest.mark.parametrize("name", MIXER_NAMES)
def test_cached_decoding_with_rotary_positions(name):
    torch.manual_seed(2)
    mixer = build_mixer(name, 16, 2, rotary=True).double()
    x = randn(2, 9, 16, seed=62)
    cache = MixerCache()
    pieces = [mixer(x[:, :3], cache)] + [mixer(x[:, t : t + 1], cache) for t in range(3, 9)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), mixer(x), atol=1e-12, rtol=0)


# --------------------------------------------------------------------------- #
# Rotary references (chapter 4, "Rotary references")
# --------------------------------------------------------------------------- #
ROTARY_CUBITS = [("cubit", True), ("cubit", False), ("cubit-share", True), ("cubit-share", False),
                 ("cubit-nolrr", True)]


def _rotary_cubit(name, rotate, seed=3):
    torch.manual_seed(seed)
    return build_mixer(name, 16, 2, rotary=True, rotate_references=rotate, lam=1e-2).double()


@pytest.mark.parametrize("name, rotate", ROTARY_CUBITS)
def test_rotary_cubit_cached_decoding_equals_the_full_pass(name, rotate):
    """Each new reference is rotated at its own offset: cached decoding = the full pass (1e-12)."""
    mixer = _rotary_cubit(name, rotate)
    x = randn(2, 10, 16, seed=70)
    cache = MixerCache()
    pieces = [mixer(x[:, :4], cache)] + [mixer(x[:, t : t + 1], cache) for t in range(4, 10)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), mixer(x), atol=1e-12, rtol=0)
    assert ("r" in cache.tensors) == (name != "cubit-share" or not rotate)


@pytest.mark.parametrize("name, rotate", ROTARY_CUBITS)
def test_rotary_cubit_is_exactly_causal(name, rotate):
    mixer = _rotary_cubit(name, rotate)
    x = randn(2, 10, 16, seed=71)
    y = x.clone()
    y[:, 6:] = randn(2, 4, 16, seed=72)
    assert torch.equal(mixer(x)[:, :6], mixer(y)[:, :6])
    assert not torch.equal(mixer(x)[:, 6:], mixer(y)[:, 6:])


@pytest.mark.parametrize("name", ["cubit", "cubit-share"])
def test_gradcheck_rotary_cubit_layer(name):
    """float64 gradients through the rotated references, the solve and the learned λ."""
    torch.manual_seed(4)
    mixer = build_mixer(name, 8, 2, rotary=True, lam=0.1, learn_lam=True).double()
    x = randn(1, 5, 8, seed=73).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: mixer(x), (x,), eps=1e-6, atol=1e-6)
    mixer(x).sum().backward()
    assert mixer.log_lam.grad is not None and bool(mixer.log_lam.grad.abs().sum() > 0)


@pytest.mark.parametrize("name, rotate", ROTARY_CUBITS)
def test_rotated_references_keep_the_pivot_bound(name, rotate):
    """Rotations keep norms, so ℓ_ii is still the row's largest logit: P_ij <= P_ii and P_ii >= 1/i."""
    mixer = _rotary_cubit(name, rotate)
    p = mixer.matrices(randn(3, 40, 16, seed=74) * 3.0).reference  # (B, H, T, T)
    diag = p.diagonal(dim1=-2, dim2=-1)  # (B, H, T)
    i = torch.arange(1, 41, dtype=F64)
    assert bool((diag >= 1.0 / i - 1e-15).all())
    assert bool((p <= diag.unsqueeze(-1) + 1e-15).all())
    torch.testing.assert_close(p.sum(-1), torch.ones_like(diag), atol=1e-12, rtol=0)


def test_rotary_cubit_kernel_depends_on_position():
    """The same token at every position: unrotated references give the uniform P_ij = 1/i (content
    alone cannot tell the tokens apart); rotated ones must not. Fails if P stops seeing positions."""
    token = randn(1, 1, 16, seed=75).expand(1, 12, 16)
    uniform = torch.tril(torch.ones(12, 12, dtype=F64)) / torch.arange(1, 13, dtype=F64)[:, None]
    for name in ("cubit", "cubit-share"):
        unrotated = _rotary_cubit(name, False).matrices(token).reference[0]  # (H, T, T)
        torch.testing.assert_close(unrotated, uniform.expand_as(unrotated), atol=1e-12, rtol=0)
        rotated = _rotary_cubit(name, True).matrices(token).reference[0]
        assert (rotated - uniform).abs().amax() > 0.05, name
        # relative positions only: row t's weights on the offsets 0..t are the same for every t
        # (a constant token, so ℓ_ij depends on i − j alone); row 11 extends row 10 by one offset
        logits = torch.log(rotated[:, 11, 1:]) - torch.log(rotated[:, 10, :11])
        torch.testing.assert_close(logits - logits[:, :1], torch.zeros_like(logits), atol=1e-10, rtol=0)


def test_layer_matrices_reproduce_the_layer():
    """``CubitMixer.matrices`` gives the A, P, (P + λI)⁻¹, S that the forward pass uses."""
    mixer = _rotary_cubit("cubit", True)
    x = randn(2, 7, 16, seed=76)
    m = mixer.matrices(x)
    v = mixer.heads(mixer.value(x))
    u = m.ridge_inverse @ (m.s.unsqueeze(-1) * v)
    torch.testing.assert_close(mixer.merge(m.attention @ u), mixer(x), atol=1e-12, rtol=0)


def test_rotate_references_defaults_and_errors():
    assert build_mixer("cubit", 16, 2, rotary=True).rotate_references is True
    assert "rotate_references" in mixer_options("cubit-share")
    with pytest.raises(ValueError, match="rotate_references must be True or False"):
        build_mixer("cubit", 16, 2, rotate_references="yes")
    # without rotary positions the option changes nothing
    torch.manual_seed(5)
    a = build_mixer("cubit", 16, 2).double()
    torch.manual_seed(5)
    b = build_mixer("cubit", 16, 2, rotate_references=False).double()
    x = randn(1, 6, 16, seed=77)
    assert torch.equal(a(x), b(x))


# --------------------------------------------------------------------------- #
# DeltaFormer's two u-stages, named
# --------------------------------------------------------------------------- #
def _published_deltaformer(q, k, v, beta, rows=None):
    """The published DeltaFormer, written out token by token (the definition documented with
    flash-linear-attention's naive reference): u_t = v_t − β_t Σ_{j<t} softmax_j(q_t·k_j/√D) u_j,
    then o = causal softmax attention of q, k over u. ``rows=k`` gives the "kk" u-stage."""
    rows = q if rows is None else rows
    d = q.shape[-1]
    us = []
    for t in range(q.shape[2]):
        if t == 0:
            us.append(v[:, :, 0])
            continue
        w = torch.softmax(torch.einsum("bhd,bhjd->bhj", rows[:, :, t], k[:, :, :t]) / math.sqrt(d), dim=-1)
        us.append(v[:, :, t] - beta[:, :, t, None] * torch.einsum("bhj,bhjd->bhd", w, torch.stack(us, dim=2)))
    return softmax_attention(q, k, torch.stack(us, dim=2))


def test_qk_u_stage_is_the_published_deltaformer(qkvr):
    q, k, v, _, _, beta = qkvr
    expected = _published_deltaformer(q, k, v, beta)
    torch.testing.assert_close(deltaformer_attention(q, k, v, beta, u_stage="qk"), expected, atol=1e-12, rtol=0)
    blocked = deltaformer_attention(q, k, v, beta, u_stage="qk", implementation="blocked", solve_block=4)
    torch.testing.assert_close(blocked, expected, atol=1e-12, rtol=0)
    # "kk" (the default) is the same recurrence with keys in place of queries, and differs from "qk"
    kk = _published_deltaformer(q, k, v, beta, rows=k)
    torch.testing.assert_close(deltaformer_attention(q, k, v, beta), kk, atol=1e-12, rtol=0)
    torch.testing.assert_close(deltaformer_attention(q, k, v, beta, implementation="blocked", solve_block=4), kk,
                               atol=1e-12, rtol=0)
    assert (expected - kk).abs().amax() > 1e-3


def test_qk_kernel_and_solve(qkvr):
    q, k, v, _, _, beta = qkvr
    l_qk = deltaformer_kernel(k, q=q)
    eye = torch.eye(k.shape[2], dtype=F64)
    dense = torch.linalg.solve(eye + beta.unsqueeze(-1) * l_qk, v)
    torch.testing.assert_close(deltaformer_solve(k, v, beta, q=q), dense, atol=1e-12, rtol=0)
    assert torch.equal(torch.triu(l_qk), torch.zeros_like(l_qk))
    fn = lambda q, k, v, b: deltaformer_solve(k, v, b, q=q)  # noqa: E731
    inputs = [_small(1, 2, 5, 3, seed=80 + i) for i in range(3)] + [randn(1, 2, 5, seed=84).requires_grad_()]
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("rotary", [False, True])
def test_qk_deltaformer_layer_cached_decoding(rotary):
    torch.manual_seed(6)
    mixer = build_mixer("deltaformer", 16, 2, u_stage="qk", rotary=rotary).double()
    assert mixer.u_stage == "qk" and build_mixer("deltaformer", 16, 2).u_stage == "kk"
    x = randn(2, 9, 16, seed=85)
    cache = MixerCache()
    pieces = [mixer(x[:, :3], cache)] + [mixer(x[:, t : t + 1], cache) for t in range(3, 9)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), mixer(x), atol=1e-12, rtol=0)
    torch.manual_seed(6)
    kk = build_mixer("deltaformer", 16, 2, rotary=rotary).double()
    assert not torch.allclose(kk(x), mixer(x))


def test_unknown_u_stage_is_refused():
    with pytest.raises(ValueError, match="unknown u_stage 'vk'; choose one of kk, qk"):
        deltaformer_attention(*_qkv(), torch.ones(1, 2, 5), u_stage="vk")
    with pytest.raises(ValueError, match="unknown u_stage"):
        build_mixer("deltaformer", 16, 2, u_stage="QK")


# --------------------------------------------------------------------------- #
# The layout: the reference path stands alone; one dispatcher; no import cycle
# --------------------------------------------------------------------------- #
LIBRARY = Path(__file__).resolve().parents[1] / "cubit_lite"


def _imports(path: Path) -> set[str]:
    """The modules a file imports (``from .logits import x`` as ``.logits``, ``from . import x`` as ``.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add("." * node.level + node.module)
        elif isinstance(node, ast.ImportFrom):
            found |= {"." * node.level + alias.name for alias in node.names}
    return found - {"__future__"}


def test_the_reference_path_imports_torch_and_the_logits_only():
    assert _imports(LIBRARY / "mixers" / "naive.py") == {"torch", "torch.nn.functional", ".logits"}
    assert _imports(LIBRARY / "mixers" / "logits.py") == {"math", "torch"}


def test_the_library_has_no_import_cycle():
    def name(path: Path) -> str:
        parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    graph = {}
    for path in LIBRARY.rglob("*.py"):
        here = name(path).split(".")
        package = here if path.name == "__init__.py" else here[:-1]
        targets = set()
        for module in _imports(path):
            if module.startswith("."):
                level = len(module) - len(module.lstrip("."))
                targets.add(".".join(package[: len(package) - level + 1] + [module.lstrip(".")]))
            elif module.startswith("cubit_lite"):
                targets.add(module)
        graph[name(path)] = targets
    assert "cubit_lite.mixers.naive" in graph["cubit_lite.mixers.dispatch"]  # the parser follows relative imports
    done: set[str] = set()

    def cycle_from(node: str, stack: tuple[str, ...]) -> tuple[str, ...] | None:
        if node in stack:
            return (*stack[stack.index(node):], node)
        if node in done:
            return None
        for target in graph.get(node, ()):
            found = cycle_from(target, (*stack, node))
            if found:
                return found
        done.add(node)
        return None

    cycles = [cycle for node in sorted(graph) if (cycle := cycle_from(node, ()))]
    assert not cycles, "import cycle: " + " -> ".join(cycles[0])


@pytest.mark.parametrize("name", ["cubit", "cubit-nolrr", "cubit-share", "deltaformer"])
@pytest.mark.parametrize("implementation", ["auto", "reference", "blocked"])
@pytest.mark.parametrize("bf16", [False, True])
def test_a_layer_says_the_path_its_solves_take(monkeypatch, name, implementation, bf16):
    """``path`` (what the trainer prints at the start) names the path and precision that the layer's solves
    resolve to when they run, with λ and g reaching that path as per-head tensors in the solve's dtype."""
    mixer = build_mixer(name, 16, 2, implementation=implementation)
    said = mixer.path(torch.device("cpu"), torch.bfloat16 if bf16 else torch.float32)
    taken, reached = [], []
    real_path = dispatch.solve_path
    monkeypatch.setattr(dispatch, "solve_path", lambda *a, **k: taken.append(real_path(*a, **k)) or taken[-1])
    for module, solve in ((naive, "cubit_solve"), (blocked, "cubit_blocked_solve")):
        real_solve = getattr(module, solve)

        def spy(*args, real_solve=real_solve, path=module.__name__, **kwargs):
            reached.append((path.rsplit(".", 1)[1], kwargs["lam"], kwargs["ref_scale"], args[0].dtype))
            return real_solve(*args, **kwargs)

        monkeypatch.setattr(module, solve, spy)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        mixer(torch.randn(2, 6, 16))
    assert len(taken) == 1 and said == f"implementation={implementation} → {taken[0]}"
    expected = {"auto": "reference", "reference": "reference", "blocked": "blocked"}[implementation]
    assert said.startswith(f"implementation={implementation} → {expected}, solve in float32"), said
    if name.startswith("cubit"):
        (path, lam, ref_scale, dtype), = reached
        assert {"naive": "reference", "blocked": "blocked"}[path] == expected
        assert dtype == torch.float32 and lam.shape == ref_scale.shape == (2,)
        assert lam.dtype == ref_scale.dtype == torch.float32


@pytest.mark.parametrize("lam", [1e-3, torch.tensor(1e-3), torch.tensor([1e-3, 2e-3])])
def test_the_dispatcher_gives_every_path_per_head_tensors(lam):
    r, v = randn(1, 2, 5, 4, seed=90), randn(1, 2, 5, 4, seed=91)
    lam_h = dispatch.per_head(lam, r)
    assert lam_h.shape == (2,) and lam_h.dtype == F64
    torch.testing.assert_close(lam_h, torch.as_tensor(lam, dtype=F64).expand(2))
    with pytest.raises(ValueError, match=r"one per head"):
        cubit_solve(r, v, lam=torch.ones(3))


def test_layers_report_how_they_run():
    cpu = torch.device("cpu")
    assert build_mixer("transformer", 16, 2).path(cpu, torch.bfloat16) == "scaled_dot_product_attention in bfloat16"
    assert build_mixer("llr", 16, 2).path(cpu, torch.bfloat16) == "reference, weights in float32"
    assert build_mixer("llr", 16, 2).path(cpu, F64) == "reference, weights in float64"
    assert build_mixer("cubit", 16, 2).path(cpu, F64) == "implementation=auto → reference, solve in float64"
