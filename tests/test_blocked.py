"""The blocked solves (``implementation="blocked"``) of Cubit and DeltaFormer against the reference path.

The reference path (dense ``P``, one ``solve_triangular``) is the oracle. Tolerances:
float64 forward and gradients to 1e-11 relative to the largest entry (most land near
1e-15); float32 at T = 1024: relative error (Frobenius) below 1e-5 against the float64
reference, forward and gradients (measured about 1e-6). GPU-only tests skip on CPU.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import cubit_lite.mixers.functional as Fm
from cubit_lite.mixers import (
    IMPLEMENTATIONS,
    MixerCache,
    build_mixer,
    cubit_attention,
    cubit_solve,
    deltaformer_attention,
    deltaformer_solve,
)
from cubit_lite.mixers.blocked import blocked_delta_solve, blocked_ridge_solve
from cubit_lite.mixers.logits import reference_factors, reference_logits

F64 = torch.float64
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def randn(*shape, seed=0, dtype=F64, device="cpu"):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator, dtype=dtype).to(device)


def make_inputs(b, h, t, d, dv, seed=0, dtype=F64, device="cpu"):
    """r, v, s, q, k and an upstream gradient w; s in the LRR range [0.5, 2]."""
    r = randn(b, h, t, d, seed=seed, dtype=dtype, device=device)
    v = randn(b, h, t, dv, seed=seed + 1, dtype=dtype, device=device)
    s = (0.5 + 1.5 * torch.rand(b, h, t, generator=torch.Generator().manual_seed(seed + 2), dtype=dtype)).to(device)
    q = randn(b, h, t, d, seed=seed + 3, dtype=dtype, device=device)
    k = randn(b, h, t, d, seed=seed + 4, dtype=dtype, device=device)
    w = randn(b, h, t, dv, seed=seed + 5, dtype=dtype, device=device)
    return r, v, s, q, k, w


def solve_and_grads(implementation, r, v, s, lam, g, w, *, ref_norm="one-side", solve_block=16):
    """U and the gradients of ⟨U, w⟩ with respect to r, v, s, λ and g (None where not a leaf with grad)."""
    leaves = [x.detach().clone().requires_grad_() if isinstance(x, torch.Tensor) else x for x in (r, v, s, lam, g)]
    r_, v_, s_, lam_, g_ = leaves
    u = cubit_solve(r_, v_, s=s_, lam=lam_, ref_scale=g_, ref_norm=ref_norm,
                    implementation=implementation, solve_block=solve_block)
    wrt = [x for x in leaves if isinstance(x, torch.Tensor)]
    grads = torch.autograd.grad((u * w).sum(), wrt)
    return u, grads


def assert_matches(actual, expected, tol=1e-11):
    """max |actual − expected| <= tol · max(1, max |expected|)."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    scale = max(1.0, expected.abs().max().item())
    err = (actual - expected).abs().max().item()
    assert err <= tol * scale, f"max abs error {err:.3e} > {tol:.0e} · {scale:.3e}"


SHAPES = [  # (B, H, T, D, Dv, block): T = 1, T < block, T a multiple, T not a multiple, block = 1
    (1, 1, 1, 3, 2, 16),
    (2, 3, 2, 4, 4, 1),
    (1, 2, 7, 5, 3, 1),
    (2, 3, 7, 4, 6, 16),
    (1, 2, 64, 8, 8, 16),
    (2, 1, 64, 3, 5, 64),
    (1, 3, 65, 6, 4, 16),
    (2, 2, 65, 4, 4, 64),
    (1, 2, 130, 8, 4, 64),
    (1, 2, 257, 4, 8, 16),
    (1, 1, 257, 5, 3, 64),
]


@pytest.mark.parametrize("ref_norm", Fm.REF_NORMS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}H{}T{}D{}Dv{}blk{}".format(*s))
def test_blocked_equals_reference_forward_and_backward(shape, ref_norm):
    """U and the gradients of r, v, s, λ (per head, one of them 0) and g (per head) match."""
    b, h, t, d, dv, block = shape
    r, v, s, _, _, w = make_inputs(b, h, t, d, dv, seed=t)
    lam = torch.linspace(0.0, 0.2, h, dtype=F64)  # includes λ = 0
    g = torch.linspace(0.7, 1.8, h, dtype=F64)
    u_ref, grads_ref = solve_and_grads("reference", r, v, s, lam, g, w, ref_norm=ref_norm, solve_block=block)
    u_blk, grads_blk = solve_and_grads("blocked", r, v, s, lam, g, w, ref_norm=ref_norm, solve_block=block)
    assert_matches(u_blk, u_ref)
    for got, want in zip(grads_blk, grads_ref, strict=True):
        assert_matches(got, want)


@pytest.mark.parametrize("with_s", [True, False])
@pytest.mark.parametrize("lam", [0.0, 1e-6, 0.3, "per-head", "one-element"])
@pytest.mark.parametrize("g", [1.0, 2.5])
def test_blocked_equals_reference_for_every_lambda_and_s(lam, with_s, g):
    r, v, s, _, _, w = make_inputs(2, 3, 37, 4, 5, seed=11)
    if lam == "per-head":
        lam = torch.tensor([0.0, 1e-3, 0.5], dtype=F64)
    elif lam == "one-element":
        lam = torch.tensor([0.05], dtype=F64)
    s = s if with_s else None
    u_ref, grads_ref = solve_and_grads("reference", r, v, s, lam, g, w, solve_block=8)
    u_blk, grads_blk = solve_and_grads("blocked", r, v, s, lam, g, w, solve_block=8)
    assert_matches(u_blk, u_ref)
    assert len(grads_blk) == len(grads_ref)
    for got, want in zip(grads_blk, grads_ref, strict=True):
        assert_matches(got, want)


@pytest.mark.parametrize("ref_norm", Fm.REF_NORMS)
def test_blocked_cubit_attention_equals_reference(ref_norm):
    r, v, s, q, k, w = make_inputs(2, 2, 45, 6, 6, seed=3)
    lam = torch.tensor([1e-3, 0.1], dtype=F64)
    outs = {}
    for implementation in ("reference", "blocked"):
        leaves = [x.clone().requires_grad_() for x in (q, k, v, r, s, lam)]
        out = cubit_attention(*leaves[:4], s=leaves[4], lam=leaves[5], ref_norm=ref_norm,
                              implementation=implementation, solve_block=16)
        outs[implementation] = (out, *torch.autograd.grad((out * w).sum(), leaves))
    for got, want in zip(outs["blocked"], outs["reference"], strict=True):
        assert_matches(got, want)


def test_gradcheck_of_the_blocked_function():
    """torch.autograd.gradcheck on the core op: a, b, y and per-head λ, T not a multiple of the block."""
    a = randn(1, 2, 7, 3, seed=1).requires_grad_()
    b = (0.5 * randn(1, 2, 7, 3, seed=2)).requires_grad_()
    y = randn(1, 2, 7, 2, seed=3).requires_grad_()
    lam = torch.tensor([0.05, 0.3], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *x: blocked_ridge_solve(*x, solve_block=3), (a, b, y, lam))


@pytest.mark.parametrize("ref_norm", Fm.REF_NORMS)
def test_gradcheck_through_cubit_solve_blocked(ref_norm):
    r, v, s, *_ = make_inputs(1, 2, 6, 3, 2, seed=5)
    lam = torch.tensor([0.02, 0.2], dtype=F64)
    g = torch.tensor([0.8, 1.4], dtype=F64)
    leaves = tuple(x.requires_grad_() for x in (r, v, s, lam, g))

    def fn(r, v, s, lam, g):
        return cubit_solve(r, v, s=s, lam=lam, ref_scale=g, ref_norm=ref_norm, implementation="blocked", solve_block=4)

    assert torch.autograd.gradcheck(fn, leaves)


def test_reference_factors_give_the_reference_logits():
    r = randn(2, 3, 9, 4, seed=7)
    g = torch.tensor([0.5, 1.0, 3.0], dtype=F64)
    for ref_norm in Fm.REF_NORMS:
        a, b = reference_factors(r, g, ref_norm)
        torch.testing.assert_close(a @ b.transpose(-2, -1), reference_logits(r, r, g, ref_norm), atol=1e-13, rtol=0)


@pytest.mark.parametrize("ref_norm", Fm.REF_NORMS)
def test_float32_at_length_1024_is_close_to_the_float64_reference(ref_norm):
    """Relative (Frobenius) error of the float32 blocked solve below 1e-5, forward and gradients."""
    r, v, s, _, _, w = make_inputs(1, 2, 1024, 16, 16, seed=21)
    u64, grads64 = solve_and_grads("reference", r, v, s, 1e-3, 1.0, w, ref_norm=ref_norm)
    as32 = [x.float() for x in (r, v, s, w)]
    u32, grads32 = solve_and_grads("blocked", *as32[:3], 1e-3, 1.0, as32[3], ref_norm=ref_norm, solve_block=64)
    assert u32.dtype == torch.float32
    for got, want in zip((u32, *grads32), (u64, *grads64), strict=True):
        assert ((got.double() - want).norm() / want.norm()).item() < 1e-5


def test_bf16_inputs_under_cpu_autocast_solve_in_float32():
    """bf16 inputs and bf16 autocast: U is float32 for both paths, outputs and gradients agree to bf16 rounding."""
    q, k, v, r = (randn(1, 2, 100, 16, seed=i, dtype=torch.float32).bfloat16() for i in range(4))
    beta = torch.ones(1, 2, 100, dtype=torch.bfloat16)
    outs = {}
    for implementation in ("reference", "blocked"):
        leaves = [x.clone().requires_grad_() for x in (q, k, v, r)]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            u = cubit_solve(leaves[3], leaves[2], lam=1e-3, implementation=implementation, solve_block=16)
            out = cubit_attention(*leaves, lam=1e-3, implementation=implementation, solve_block=16)
            out_delta = deltaformer_attention(*leaves[:3], beta, implementation=implementation, solve_block=16)
        assert u.dtype == torch.float32 and out.dtype == torch.bfloat16
        grads = torch.autograd.grad(out.float().sum() + out_delta.float().sum(), leaves)
        outs[implementation] = (u, out, out_delta, *grads)
    for got, want in zip(outs["blocked"], outs["reference"], strict=True):
        assert ((got.float() - want.float()).norm() / want.float().norm()).item() < 3e-2


@pytest.mark.parametrize("block", [1, 16])
def test_blocked_is_exactly_causal_in_float64(block):
    """Changing tokens t0.. (inside a block) leaves outputs before t0 bit-identical."""
    r, v, s, q, k, _ = make_inputs(2, 2, 40, 4, 4, seed=8)
    t0 = 23
    out = cubit_attention(q, k, v, r, s=s, lam=1e-3, implementation="blocked", solve_block=block)
    changed = [x.clone() for x in (q, k, v, r)]
    for x in changed:
        x[..., t0:, :] = randn(*x[..., t0:, :].shape, seed=99)
    s2 = s.clone()
    s2[..., t0:] = 1.7
    out2 = cubit_attention(*changed, s=s2, lam=1e-3, implementation="blocked", solve_block=block)
    assert torch.equal(out[..., :t0, :], out2[..., :t0, :])
    assert not torch.equal(out[..., t0:, :], out2[..., t0:, :])


class _LargestTensor(TorchDispatchMode):
    """Records the largest number of elements of any tensor an op returns."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for item in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(item, torch.Tensor):
                self.largest = max(self.largest, item.numel())
        return out


def test_no_t_by_t_tensor_is_formed_or_saved():
    """Forward and backward: the largest intermediate is one n × T strip; saved tensors are O(T·D)."""
    b, h, t, d, dv, block = 1, 2, 257, 4, 3, 16
    r, v, s, *_ = make_inputs(b, h, t, d, dv, seed=4)
    r.requires_grad_()
    for implementation, bound in (("reference", None), ("blocked", b * h * block * t)):
        with _LargestTensor() as spy:
            u = cubit_solve(r, v, s=s, lam=1e-3, implementation=implementation, solve_block=block)
            u.sum().backward()
        if bound is None:
            assert spy.largest >= b * h * t * t  # the spy does see the reference's P
        else:
            assert spy.largest <= bound < b * h * t * t // 8
    u = cubit_solve(r, v, s=s, lam=1e-3, implementation="blocked", solve_block=block)
    saved = u.grad_fn.saved_tensors
    assert len(saved) == 6
    assert max(x.numel() for x in saved) <= b * h * t * max(d, dv)


def test_auto_is_the_reference_on_cpu():
    r, v, s, *_ = make_inputs(1, 2, 20, 4, 4)
    torch.testing.assert_close(cubit_solve(r, v, s=s), cubit_solve(r, v, s=s, implementation="reference"),
                               atol=0, rtol=0)
    assert IMPLEMENTATIONS == ("auto", "reference", "blocked", "triton")


@pytest.mark.parametrize("call, match", [
    (lambda r, v: cubit_solve(r, v, implementation="fast"),
     "unknown implementation 'fast'; choose one of auto, reference, blocked, triton"),
    (lambda r, v: cubit_solve(r, v, implementation="blocked", causal=False), "causal"),
    (lambda r, v: cubit_attention(r, r, v, r, implementation="blocked", causal=False), "causal"),
    (lambda r, v: cubit_solve(r, v, implementation="blocked", solve_block=0), "block"),
    (lambda r, v: cubit_solve(r, v, implementation="blocked", solve_block=2.5), "block"),
    (lambda r, v: build_mixer("cubit", 8, 2, implementation="fast"), "unknown implementation"),
    (lambda r, v: deltaformer_solve(r, v, v[..., 0], implementation="blocked", causal=False), "causal"),
    (lambda r, v: deltaformer_attention(r, r, v, v[..., 0], implementation="fast"), "unknown implementation"),
    (lambda r, v: build_mixer("deltaformer", 8, 2, solve_block=-1), "block"),
])
def test_bad_inputs_are_rejected(call, match):
    r, v, *_ = make_inputs(1, 2, 5, 4, 4)
    with pytest.raises(ValueError, match=match):
        call(r, v)


def test_non_causal_keeps_the_reference_path():
    r, v, *_ = make_inputs(1, 2, 5, 4, 4)
    torch.testing.assert_close(cubit_solve(r, v, causal=False, implementation="auto"),
                               cubit_solve(r, v, causal=False, implementation="reference"), atol=0, rtol=0)


# --------------------------------------------------------------------------- #
# DeltaFormer: (I + diag(β) L) U = V, the same blocked scheme
# --------------------------------------------------------------------------- #
def delta_and_grads(implementation, k, v, beta, w, block):
    leaves = [x.detach().clone().requires_grad_() for x in (k, v, beta)]
    u = deltaformer_solve(*leaves, implementation=implementation, solve_block=block)
    return u, torch.autograd.grad((u * w).sum(), leaves)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}H{}T{}D{}Dv{}blk{}".format(*s))
def test_blocked_deltaformer_equals_reference_forward_and_backward(shape):
    """U and the gradients of k, v and β (β of both signs, and 0) match the dense solve."""
    b, h, t, d, dv, block = shape
    k, v, _, _, _, w = make_inputs(b, h, t, d, dv, seed=t + 1)
    beta = 1.0 + 0.7 * randn(b, h, t, seed=t + 2)
    beta[..., ::5] = 0.0
    u_ref, grads_ref = delta_and_grads("reference", k, v, beta, w, block)
    u_blk, grads_blk = delta_and_grads("blocked", k, v, beta, w, block)
    assert_matches(u_blk, u_ref)
    for got, want in zip(grads_blk, grads_ref, strict=True):
        assert_matches(got, want)


def test_gradcheck_of_the_blocked_delta_function():
    a = randn(1, 2, 7, 3, seed=1).requires_grad_()
    b = randn(1, 2, 7, 3, seed=2).requires_grad_()
    y = randn(1, 2, 7, 2, seed=3).requires_grad_()
    beta = (1.0 + 0.5 * randn(1, 2, 7, seed=4)).requires_grad_()
    assert torch.autograd.gradcheck(lambda *x: blocked_delta_solve(*x, solve_block=3), (a, b, y, beta))


def test_blocked_deltaformer_attention_equals_reference_and_is_causal():
    k, v, _, q, _, w = make_inputs(2, 2, 40, 4, 4, seed=12)
    beta = 1.0 + 0.3 * randn(2, 2, 40, seed=13)
    outs = {}
    for implementation in ("reference", "blocked"):
        leaves = [x.clone().requires_grad_() for x in (q, k, v, beta)]
        out = deltaformer_attention(*leaves, implementation=implementation, solve_block=16)
        outs[implementation] = (out, *torch.autograd.grad((out * w).sum(), leaves))
    for got, want in zip(outs["blocked"], outs["reference"], strict=True):
        assert_matches(got, want)
    t0 = 23
    changed = [x.clone() for x in (q, k, v)]
    for x in changed:
        x[..., t0:, :] = randn(*x[..., t0:, :].shape, seed=98)
    beta2 = beta.clone()
    beta2[..., t0:] = -0.4
    out2 = deltaformer_attention(*changed, beta2, implementation="blocked", solve_block=16)
    assert torch.equal(outs["blocked"][0][..., :t0, :], out2[..., :t0, :].detach())


def test_blocked_deltaformer_forms_no_t_by_t_tensor():
    b, h, t, d, block = 1, 2, 257, 4, 16
    k, v, *_ = make_inputs(b, h, t, d, d, seed=4)
    k.requires_grad_()
    beta = torch.ones(b, h, t, dtype=F64)
    with _LargestTensor() as spy:
        u = deltaformer_solve(k, v, beta, implementation="blocked", solve_block=block)
        saved = u.grad_fn.saved_tensors
        assert len(saved) == 6 and max(x.numel() for x in saved) <= b * h * t * d
        del saved
        u.sum().backward()
    assert spy.largest <= b * h * block * t


# --------------------------------------------------------------------------- #
# Layers
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", ["cubit", "cubit-nolrr", "cubit-share"])
def test_layer_with_blocked_solve_equals_reference(name):
    """Same weights, both implementations: outputs and every parameter's gradient (λ and g learned)."""
    options = dict(lam=1e-3, learn_lam=True, ref_norm="one-side")
    if name != "cubit-nolrr":
        options["learn_lrr_bounds"] = True
    torch.manual_seed(0)
    reference = build_mixer(name, 16, 2, implementation="reference", **options).double()
    blocked = build_mixer(name, 16, 2, implementation="blocked", solve_block=8, **options).double()
    blocked.load_state_dict(reference.state_dict())
    x = randn(2, 21, 16, seed=3)
    w = randn(2, 21, 16, seed=4)
    out_ref, out_blk = reference(x), blocked(x)
    assert_matches(out_blk, out_ref)
    (out_ref * w).sum().backward()
    (out_blk * w).sum().backward()
    for (pname, p_ref), (_, p_blk) in zip(reference.named_parameters(), blocked.named_parameters(), strict=True):
        assert p_ref.grad is not None, pname
        assert_matches(p_blk.grad, p_ref.grad)


def test_deltaformer_layer_with_blocked_solve_equals_reference():
    torch.manual_seed(0)
    reference = build_mixer("deltaformer", 16, 2, implementation="reference").double()
    blocked = build_mixer("deltaformer", 16, 2, implementation="blocked", solve_block=8).double()
    blocked.load_state_dict(reference.state_dict())
    x = randn(2, 21, 16, seed=3)
    w = randn(2, 21, 16, seed=4)
    out_ref, out_blk = reference(x), blocked(x)
    assert_matches(out_blk, out_ref)
    (out_ref * w).sum().backward()
    (out_blk * w).sum().backward()
    for p_ref, p_blk in zip(reference.parameters(), blocked.parameters(), strict=True):
        assert_matches(p_blk.grad, p_ref.grad)


@pytest.mark.parametrize("name", ["cubit", "deltaformer"])
def test_layer_decoding_after_a_blocked_prompt_equals_the_full_pass(name):
    torch.manual_seed(1)
    mixer = build_mixer(name, 16, 2, implementation="blocked", solve_block=4).double()
    x = randn(1, 11, 16, seed=5)
    full = mixer(x)
    cache = MixerCache()
    steps = [mixer(x[:, :6], cache)] + [mixer(x[:, i:i + 1], cache) for i in range(6, 11)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-12, rtol=0)


# --------------------------------------------------------------------------- #
# GPU only
# --------------------------------------------------------------------------- #
@CUDA
@pytest.mark.parametrize("ref_norm", Fm.REF_NORMS)
def test_cuda_float64_blocked_equals_reference(ref_norm):
    r, v, s, _, _, w = make_inputs(2, 3, 300, 8, 8, seed=2, device="cuda")
    lam = torch.tensor([0.0, 1e-3, 0.1], dtype=F64, device="cuda")
    u_ref, grads_ref = solve_and_grads("reference", r, v, s, lam, 1.0, w, ref_norm=ref_norm, solve_block=64)
    u_blk, grads_blk = solve_and_grads("blocked", r, v, s, lam, 1.0, w, ref_norm=ref_norm, solve_block=64)
    assert_matches(u_blk, u_ref)
    for got, want in zip(grads_blk, grads_ref, strict=True):
        assert_matches(got, want)


@CUDA
def test_cuda_bf16_autocast_runs_the_solve_in_float32():
    """Under bf16 autocast the blocked solve still runs (and returns) float32, close to the reference."""
    r, v, s, q, k, w = make_inputs(2, 4, 1024, 32, 32, seed=6, dtype=torch.float32, device="cuda")
    outs = {}
    for implementation in ("reference", "blocked"):
        leaves = [x.clone().requires_grad_() for x in (q, k, v, r)]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            u = cubit_solve(leaves[3], leaves[2], s=s, lam=1e-3, implementation=implementation)
            out = cubit_attention(*leaves, s=s, lam=1e-3, implementation=implementation)
        assert u.dtype == torch.float32
        grads = torch.autograd.grad((out.float() * w).sum(), leaves)
        outs[implementation] = (u, out.float(), *grads)
    for got, want in zip(outs["blocked"], outs["reference"], strict=True):
        assert ((got - want).norm() / want.norm()).item() < 2e-2


@CUDA
def test_cuda_float64_blocked_deltaformer_equals_reference():
    k, v, _, _, _, w = make_inputs(2, 3, 300, 8, 8, seed=2, device="cuda")
    beta = 1.0 + 0.5 * randn(2, 3, 300, seed=3, device="cuda")
    u_ref, grads_ref = delta_and_grads("reference", k, v, beta, w, 64)
    u_blk, grads_blk = delta_and_grads("blocked", k, v, beta, w, 64)
    assert_matches(u_blk, u_ref)
    for got, want in zip(grads_blk, grads_ref, strict=True):
        assert_matches(got, want)


@CUDA
def test_cuda_peak_memory_is_below_the_reference():
    def peak(implementation):
        r, v, s, q, k, w = make_inputs(2, 8, 4096, 64, 64, seed=0, dtype=torch.float32, device="cuda")
        leaves = [x.requires_grad_() for x in (q, k, v, r)]
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        out = cubit_attention(*leaves, s=s, lam=1e-3, implementation=implementation)
        out.backward(w)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before

    assert peak("blocked") < 0.5 * peak("reference")
