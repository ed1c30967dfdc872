"""The Triton solves (``implementation="triton"``) of Cubit and DeltaFormer against the reference path.

On a machine without CUDA the kernels run in Triton's CPU interpreter
(``TRITON_INTERPRET=1``, set below before the kernels are first imported), which
executes the same kernel code with NumPy in float32: these tests check the kernels'
indexing, masking, padding and the autograd formulas on small shapes. On a GPU the
kernels are compiled and the ``cuda`` tests add the benchmark's shapes, bfloat16
inputs (TF32 tile products) and memory.

Oracle: the reference path (dense ``P``, one triangular solve) in float64 on the same
inputs. Tolerance, for the output and every gradient in float32: relative Frobenius
error (norms below 1e-2 count as 1e-2) below 1e-4 (measured 1e-7 to 1e-6), or, where
the system's conditioning amplifies float32 rounding (``dr`` with a small λ), no more
than 3× the error of the same blocked algorithm run in PyTorch float32
(``implementation="blocked"``, itself matched to the reference to 1e-11 in float64 in
``test_blocked.py``). bfloat16 inputs (every tile precision, bfloat16 tile products too): 2e-2 against the
reference on the same inputs.
"""

from __future__ import annotations

import dataclasses
import os

import pytest
import torch

if not torch.cuda.is_available():  # before cubit_lite imports the kernels
    os.environ.setdefault("TRITON_INTERPRET", "1")

import cubit_lite.mixers.functional as Fm  # noqa: E402
from cubit_lite.mixers import (  # noqa: E402
    build_mixer,
    cubit_attention,
    cubit_solve,
    deltaformer_attention,
    dispatch,
    triton_solve,  # noqa: E402
)
from cubit_lite.mixers.logits import reference_factors, reference_scales  # noqa: E402

pytestmark = pytest.mark.slow  # every test runs Triton's CPU interpreter: minutes in all

pytest.importorskip("triton", reason="the Triton path needs the `triton` package")

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
F32_TOL = 1e-4


def randn(*shape, seed, scale=1.0):
    generator = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(*shape, generator=generator, dtype=torch.float64)).to(DEVICE)


def rel(actual, expected):
    """‖actual − expected‖ / ‖expected‖, with ‖expected‖ floored at 1e-2 (a gradient that is
    exactly zero, such as the readout's at T = 1, is compared absolutely)."""
    return ((actual.double() - expected.double()).norm() / expected.double().norm().clamp_min(1e-2)).item()


def cubit_case(b, h, t, d, dv, seed=0):
    """q, k, v, r, s (LRR in [0.5, 2]), λ per head and an upstream gradient, float64."""
    q, k, r = (randn(b, h, t, d, seed=seed + i) for i in range(3))
    v = randn(b, h, t, dv, seed=seed + 3)
    s = 0.5 + 1.5 * torch.rand(b, h, t, generator=torch.Generator().manual_seed(seed + 4), dtype=torch.float64)
    lam = torch.linspace(1e-3, 0.3, h, dtype=torch.float64)
    w = randn(b, h, t, dv, seed=seed + 5)
    return [q, k, v, r, s.to(DEVICE), lam.to(DEVICE)], w


def run(fn, leaves, w, dtype):
    """fn(*leaves) and the gradients of ⟨out, w⟩ for every leaf, with the leaves cast to ``dtype``."""
    leaves = [x.detach().to(dtype).requires_grad_() for x in leaves]
    out = fn(*leaves)
    return [out, *torch.autograd.grad((out.double() * w).sum(), leaves)]


def assert_close_to_reference(make_fn, leaves, w, tol=F32_TOL):
    """``make_fn(implementation)``'s triton output and gradients in float32 against its
    reference in float64: within ``tol``, or within 3× the error of the same blocked
    algorithm in PyTorch float32 where the system's conditioning makes that larger."""
    want = run(make_fn("reference"), leaves, w, torch.float64)
    got = run(make_fn("triton"), leaves, w, torch.float32)
    blocked = run(make_fn("blocked"), leaves, w, torch.float32)
    names = ["output"] + [f"grad {i}" for i in range(len(leaves))]
    report = []
    for name, g, b, e in zip(names, got, blocked, want, strict=True):
        err, floor = rel(g, e), max(tol, 3 * rel(b, e))
        report.append((name, err, floor))
    assert all(err <= floor for _, err, floor in report), ", ".join(
        f"{name} {err:.1e} (allowed {floor:.1e})" for name, err, floor in report)


def cubit_fn(implementation, ref_norm="one-side", ref_scale=4.0):
    def fn(q, k, v, r, s, lam):
        return cubit_attention(q, k, v, r, s=s, lam=lam, ref_scale=ref_scale, ref_norm=ref_norm,
                               implementation=implementation, solve_block=32)
    return fn


def delta_fn(implementation, u_stage="kk"):
    def fn(q, k, v, beta):
        return deltaformer_attention(q, k, v, beta, u_stage=u_stage, implementation=implementation, solve_block=32)
    return fn


# --------------------------------------------------------------------------- #
# Shapes: T = 1, T around the block of 64, T not a multiple, several B/H/D/Dv
# --------------------------------------------------------------------------- #
SHAPES = [(1, 1, 1, 8, 8), (1, 2, 63, 16, 16), (1, 1, 64, 16, 16), (2, 1, 65, 16, 8), (1, 2, 130, 20, 5),
          (2, 3, 97, 64, 32)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_cubit_triton_equals_reference_forward_and_backward(shape):
    leaves, w = cubit_case(*shape)
    assert_close_to_reference(cubit_fn, leaves, w)


@pytest.mark.parametrize("ref_norm", Fm.REF_NORMS)
def test_cubit_triton_every_reference_normalisation(ref_norm):
    leaves, w = cubit_case(1, 2, 70, 16, 16, seed=3)
    assert_close_to_reference(lambda impl: cubit_fn(impl, ref_norm), leaves, w)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_deltaformer_triton_equals_reference_forward_and_backward(shape):
    (q, k, v, _, _, _), w = cubit_case(*shape, seed=7)
    beta = torch.sigmoid(randn(*shape[:3], seed=11)) * 1.5  # includes β near 0 and above 1
    assert_close_to_reference(delta_fn, [q, k, v, beta], w)


def test_deltaformer_qk_u_stage_triton_equals_reference():
    """The published DeltaFormer's u-stage (L from q·k) through the same kernels, forward and backward."""
    (q, k, v, _, _, _), w = cubit_case(1, 2, 70, 16, 16, seed=8)
    beta = torch.sigmoid(randn(1, 2, 70, seed=12)) * 1.5
    assert_close_to_reference(lambda impl: delta_fn(impl, "qk"), [q, k, v, beta], w)


def test_cubit_solve_without_lrr_and_with_a_float_lambda():
    (_, _, v, r, _, _), w = cubit_case(2, 2, 81, 16, 16, seed=5)

    def solve(implementation):
        return lambda r_, v_: cubit_solve(r_, v_, lam=0.05, implementation=implementation, solve_block=32)

    assert_close_to_reference(solve, [r, v], w)


@pytest.mark.parametrize("superblock", [64, 128])
def test_superblocks_split_the_solve_without_changing_it(superblock):
    """T = 300 in superblocks of 1 or 2 blocks: the parallel off-diagonal kernels do most of the work."""
    with triton_solve.triton_config(superblock=superblock) as config:
        assert len(triton_solve._superblocks(5, config)) == -(-5 * config.block // superblock)
        leaves, w = cubit_case(1, 2, 300, 16, 16, seed=12)
        assert_close_to_reference(cubit_fn, leaves, w)
        (q, k, v, _, _, _), w = cubit_case(1, 2, 300, 16, 16, seed=13)
        beta = torch.sigmoid(randn(1, 2, 300, seed=14)) * 1.5
        assert_close_to_reference(delta_fn, [q, k, v, beta], w)


@pytest.mark.parametrize("fields", [dict(block=32, superblock=64, grad_block=16), dict(grad_block=128)],
                         ids=["block32-grad16", "grad128"])
def test_other_block_sizes_give_the_same_solve(fields):
    """Blocks of 32 with gradient tiles of 16, and gradient tiles of 128 (T padded to a multiple of 128)."""
    with triton_solve.triton_config(**fields):
        leaves, w = cubit_case(1, 2, 130, 16, 16, seed=15)
        assert_close_to_reference(cubit_fn, leaves, w)


def test_a_config_passed_in_is_used_and_kept_for_backward():
    """``triton_system_solve(config=...)`` runs with that configuration, the same as making
    it current, and backward gets it from the autograd context."""
    leaves, _ = cubit_case(1, 1, 70, 16, 16, seed=16)
    r = leaves[3].float().requires_grad_()
    ones = torch.ones(r.shape[:3], device=DEVICE)
    config = triton_solve.TritonConfig(block=32, superblock=64, grad_block=32)
    u = triton_solve.triton_system_solve(r, r, ones, ones, r, ones, ones, strict=False, precision="ieee",
                                         config=config)
    assert u.grad_fn.config is config  # the autograd context keeps it for backward
    with triton_solve.triton_config(config):
        want = triton_solve.triton_system_solve(r, r, ones, ones, r, ones, ones, strict=False, precision="ieee")
    assert torch.equal(u, want)
    u.sum().backward()
    with pytest.raises(TypeError, match="must be a TritonConfig"):
        triton_solve.triton_system_solve(r, r, ones, ones, r, ones, ones, strict=False, config={"block": 32})


def test_triton_config_checks_its_fields_and_restores_the_default():
    default = triton_solve.current_config()
    assert default == triton_solve.DEFAULT_CONFIG
    with triton_solve.triton_config(superblock=256, warps_grad=8) as inner:
        assert triton_solve.current_config() is inner and inner.superblock == 256 and inner.warps_grad == 8
        assert inner.block == default.block
    assert triton_solve.current_config() is default
    for bad, message in [(dict(block=48), "block must be a power of two"), (dict(superblock=100), "superblock"),
                         (dict(grad_block=8), "grad_block must be a power of two"),
                         (dict(warps_local=3), "warps_local"), (dict(stages=0), "stages"),
                         (dict(half_precision="fp8"), "unknown precision 'fp8'")]:
        with pytest.raises(ValueError, match=message):
            triton_solve.TritonConfig(**bad)
    with pytest.raises(dataclasses.FrozenInstanceError):
        default.superblock = 64


def test_per_shape_choices_try_every_candidate_only_for_wide_heads():
    """The autotuner tries every gradient tile and row_lse warp count at widths of 64 (where
    each ran on the GPU); narrower heads keep the first, the earlier fixed configuration."""
    kernels = triton_solve._kernels()
    grad = [f"{c.kwargs['GB']}/{c.num_warps}" for c in kernels.grad_rows_tuned.configs]
    assert grad[0] == "64/4" and len(grad) == len(kernels.GRAD_TILES)
    configs = kernels.grad_rows_tuned.configs
    assert kernels._grad_candidates(configs, {}, BD=64, DV=64) == list(configs)
    assert kernels._grad_candidates(configs, {}, BD=16, DV=64) == configs[:1]
    assert kernels._grad_candidates(configs, {}, BD=64, DV=32) == configs[:1]
    lse = kernels.row_lse_tuned.configs
    assert kernels._row_lse_candidates(lse, {}, BD=128) == list(lse)
    assert kernels._row_lse_candidates(lse, {}, BD=32) == lse[:1] and lse[0].num_warps == 4


def test_eight_gradient_warps_are_refused_for_narrow_heads_before_any_kernel():
    """A fixed 64-row gradient tile with 8 warps stopped the H200 at narrow heads
    (results/appendix_fast/triton_launches_h200.json): the solve says so instead of launching it."""
    r = torch.randn(1, 1, 5, 20, device=DEVICE)  # head width 20 → padded to 32
    v = torch.randn(1, 1, 5, 5, device=DEVICE)
    ones = torch.ones(1, 1, 5, device=DEVICE)
    eight = triton_solve.TritonConfig(grad_block=64, warps_grad=8)
    with pytest.raises(ValueError, match=r"warps_grad=8 needs head and value widths of at least 64 \(padded here "
                                         r"to 32 and 16\).*use warps_grad=4"):
        triton_solve.triton_system_solve(r, r, ones, ones, v, ones, ones, strict=False, config=eight)
    triton_solve._check_narrow_launch(eight, 64, 64)  # wide heads: allowed (the autotuner's candidate)
    triton_solve._check_narrow_launch(triton_solve.TritonConfig(grad_block=64, warps_grad=4), 32, 16)
    triton_solve._check_narrow_launch(triton_solve.TritonConfig(), 16, 16)  # chosen per shape: pruned instead


def test_the_refused_launches_are_the_ones_that_failed_on_the_gpu():
    """results/appendix_fast/triton_launches_h200.json (benchmarks/triton_launch_check.py): the library's
    default ran accurately at every shape; each launch that broke the GPU is one the solve
    now refuses, and every fixed launch that ran is one it still allows, but for 8 warps at
    narrow heads, refused at every length."""
    import re

    from cubit_lite.results import load_json

    rows = load_json("appendix_fast/triton_launches_h200.json")["rows"]
    assert {row["config"] for row in rows} >= {"auto", "g64w8"} and len(rows) >= 20
    for row in rows:
        _, _, _, d, dv = (int(n) for n in row["shape"].split("x"))
        widths = (triton_solve._width(d), triton_solve._width(dv))
        if row["config"] == "auto":
            assert row["status"] == "ok", row
            continue
        gb, warps = (int(n) for n in re.fullmatch(r"g(\d+)w(\d+)", row["config"]).groups())
        config = triton_solve.TritonConfig(grad_block=gb, warps_grad=warps, warps_row_lse=4)
        if "illegal memory access" in row.get("error", ""):
            with pytest.raises(ValueError, match="illegal memory access"):
                triton_solve._check_narrow_launch(config, *widths)
        elif "OutOfResources" in row.get("error", ""):  # Triton refuses these itself, before launching
            assert gb == 64 and max(widths) >= 128, row
        else:
            assert row["status"] == "ok", row
            if warps > 4 and min(widths) < triton_solve.WIDE:
                # the refusal is broader than the failures: 8 warps also ran at widths 16
                # for T of 63 and 65, but which narrow shapes fail is not known
                with pytest.raises(ValueError):
                    triton_solve._check_narrow_launch(config, *widths)
            else:
                triton_solve._check_narrow_launch(config, *widths)


@pytest.mark.parametrize("precision", ["bf16-logits", "bf16"])
def test_bfloat16_tiles_stay_close_for_bfloat16_inputs(precision):
    """bfloat16 inputs with bfloat16 tile products (emulated in the interpreter: operands
    rounded to bfloat16, products in float32) against the reference on the same inputs."""
    leaves, w = cubit_case(1, 2, 97, 16, 16, seed=17)
    inputs = [x.to(torch.bfloat16) for x in leaves[:4]] + leaves[4:]
    outs = {}
    with triton_solve.triton_config(half_precision=precision):
        for implementation in ("triton", "reference"):
            ls = [x.detach().clone().requires_grad_() for x in inputs]
            out = cubit_fn(implementation)(*ls)
            outs[implementation] = [out, *torch.autograd.grad((out.double() * w).sum(), ls[:4])]
    for got, want in zip(outs["triton"], outs["reference"], strict=True):
        assert rel(got, want) < 2e-2


@pytest.mark.parametrize("ref_norm", Fm.REF_NORMS)
def test_logit_scales_reproduce_the_reference_factors(ref_norm):
    """ℓ = α β (r · r) of the Triton path is a bᵀ of the reference path."""
    r = randn(2, 3, 9, 8, seed=1)
    g = torch.tensor([0.5, 1.0, 4.0], dtype=torch.float64, device=DEVICE)
    a, b = reference_factors(r, g, ref_norm)
    alpha, beta = reference_scales(r, g, ref_norm)
    torch.testing.assert_close(alpha.unsqueeze(-1) * r, a, rtol=1e-14, atol=0)
    torch.testing.assert_close(beta.unsqueeze(-1) * r, b, rtol=1e-14, atol=0)


def test_a_peaked_softmax_keeps_the_gradient_of_r_accurate():
    """ref_scale 4 at D = 64: P_tt ≈ 1 − 1e-6 and dr is ~1e-6 of the other gradients.

    ``c_t − dY_t · u_t`` cancels there (the blocked path in float32 is off by 1e-3 of
    the floor, i.e. ~7× dr itself); the kernels' diagonal term does not, so dr is
    compared with no floor at all: relative to its own tiny norm.
    """
    leaves, w = cubit_case(1, 2, 97, 64, 32, seed=21)
    fn = cubit_fn("triton", ref_scale=4.0)
    want = run(cubit_fn("reference", ref_scale=4.0), leaves, w, torch.float64)
    got = run(fn, leaves, w, torch.float32)
    dr_got, dr_want = got[4].double(), want[4]
    assert dr_want.norm() < 1e-4 * want[3].norm()  # the regime: dr tiny next to dv
    assert (dr_got - dr_want).norm() / dr_want.norm() < 1e-4


def test_lambda_zero_is_still_solved():
    """λ = 0: the diagonal of P (at least 1/t) keeps the system invertible."""
    (q, k, v, r, s, _), w = cubit_case(1, 1, 40, 8, 8, seed=9)
    lam = torch.zeros(1, dtype=torch.float64, device=DEVICE)
    assert_close_to_reference(lambda impl: cubit_fn(impl, ref_scale=1.0), [q, k, v, r, s, lam], w)


def test_the_layer_runs_the_triton_solve():
    torch.manual_seed(0)
    mixer = build_mixer("cubit", 32, 2, implementation="triton").to(DEVICE)
    reference = build_mixer("cubit", 32, 2, implementation="reference").to(DEVICE)
    reference.load_state_dict(mixer.state_dict())
    x = torch.randn(2, 50, 32, device=DEVICE)
    assert rel(mixer(x), reference(x)) < F32_TOL


# --------------------------------------------------------------------------- #
# Choice of path and bad input
# --------------------------------------------------------------------------- #
def test_auto_picks_triton_on_a_tf32_gpu_only(monkeypatch):
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert dispatch.AUTO_PICKS_TRITON
    monkeypatch.setattr(dispatch, "_has_tf32", lambda device: device.type == "cuda")  # an Ampere+ GPU
    resolve = dispatch.resolve_implementation
    assert resolve("auto", cuda, causal=True, work=torch.float32) == "triton"
    assert resolve("auto", cuda, causal=True, work=torch.float64) == "reference"
    assert resolve("auto", cuda, causal=False, work=torch.float32) == "reference"
    assert resolve("auto", cpu, causal=True, work=torch.float32) == "reference"
    assert str(dispatch.solve_path("auto", cuda, (torch.bfloat16,))) == (
        "triton, solve in float32, tile products " + triton_solve.DEFAULT_CONFIG.half_precision)
    monkeypatch.setattr(dispatch, "_has_tf32", lambda device: False)  # a T4 (Colab's free GPU) or older
    assert resolve("auto", cuda, causal=True, work=torch.float32) == "reference"


def test_tile_precision_follows_the_config():
    cpu = torch.device("cpu")

    def tiles(*dtypes):  # the tile precision of a solve of inputs of these dtypes
        return dispatch.solve_path("reference", cpu, dtypes).tiles

    default = triton_solve.DEFAULT_CONFIG
    assert tiles(torch.bfloat16, torch.float32) == default.half_precision
    assert tiles(torch.float32, torch.float64) == default.float32_precision == "tf32x3"
    with triton_solve.float32_tiles("ieee"):
        assert tiles(torch.float32) == "ieee"
        assert tiles(torch.float16) == default.half_precision
    with triton_solve.triton_config(half_precision="tf32"):
        assert tiles(torch.bfloat16) == "tf32"
    assert tiles(torch.float32) == "tf32x3"
    with pytest.raises(ValueError, match="unknown precision 'tf16'"), triton_solve.float32_tiles("tf16"):
        pass


def test_ieee_tiles_are_accepted_by_the_kernels():
    """The interpreter computes every product in float32, so this checks the plumbing
    only; on a GPU ``test_cuda_long_sequences_match_the_reference`` compares both."""
    leaves, w = cubit_case(1, 1, 40, 16, 16, seed=21)
    with triton_solve.float32_tiles("ieee"):
        assert_close_to_reference(cubit_fn, leaves, w)


def test_triton_on_cpu_without_the_interpreter_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    r = torch.randn(1, 1, 4, 8)
    with pytest.raises(ValueError, match="runs on CUDA tensors.*'blocked' or 'reference'"):
        cubit_solve(r, r, implementation="triton")


def test_triton_rejects_float64_and_non_causal():
    r = torch.randn(1, 1, 4, 8, dtype=torch.float64, device=DEVICE)
    with pytest.raises(ValueError, match="works in float32"):
        cubit_solve(r, r, implementation="triton")
    with pytest.raises(ValueError, match="causal"):
        cubit_solve(r.float(), r.float(), implementation="triton", causal=False)


def test_unknown_precision_is_a_clear_error():
    x = torch.zeros(1, 1, 4, 8, device=DEVICE)
    t = torch.ones(1, 1, 4, device=DEVICE)
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        triton_solve.triton_system_solve(x, x, t, t, x, t, t, strict=False, precision="fp8")


# --------------------------------------------------------------------------- #
# GPU only: the benchmark's shapes, bfloat16 inputs, memory
# --------------------------------------------------------------------------- #
@CUDA
@pytest.mark.parametrize("precision", ["tf32x3", "ieee"])
@pytest.mark.parametrize("t", [1024, 2000])
def test_cuda_long_sequences_match_the_reference(t, precision):
    with triton_solve.float32_tiles(precision):
        leaves, w = cubit_case(2, 8, t, 64, 64, seed=1)
        assert_close_to_reference(cubit_fn, leaves, w)
        (q, k, v, _, _, _), w = cubit_case(2, 8, t, 64, 64, seed=2)
        beta = torch.sigmoid(randn(2, 8, t, seed=3))
        assert_close_to_reference(delta_fn, [q, k, v, beta], w)


@CUDA
@pytest.mark.parametrize("precision", ["tf32", "bf16-logits", "bf16"])
def test_cuda_bf16_inputs_stay_close(precision):
    leaves, w = cubit_case(2, 4, 1024, 64, 64, seed=4)
    inputs = [x.to(torch.bfloat16) for x in leaves[:4]] + leaves[4:]
    outs = {}
    with triton_solve.triton_config(half_precision=precision):
        for implementation in ("triton", "reference"):
            fn = cubit_fn(implementation)
            ls = [x.detach().clone().requires_grad_() for x in inputs]
            out = fn(*ls)
            outs[implementation] = [out, *torch.autograd.grad((out.double() * w).sum(), ls[:4])]
    errors = [rel(got, want) for got, want in zip(outs["triton"], outs["reference"], strict=True)]
    print(precision, [f"{e:.1e}" for e in errors])
    assert max(errors) < 2e-2


@CUDA
def test_cuda_peak_memory_stays_linear_in_t():
    def peak(implementation, t):
        leaves, w = cubit_case(1, 8, t, 64, 64, seed=0)
        ls = [x.float().requires_grad_() for x in leaves]
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        cubit_fn(implementation)(*ls).backward(w.float())
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before

    assert peak("triton", 8192) < 3 * peak("triton", 4096)  # no T × T term
    assert peak("triton", 4096) < 0.1 * peak("reference", 4096)
