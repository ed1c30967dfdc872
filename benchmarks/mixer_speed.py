"""Time forward+backward and peak memory of each token mixer against PyTorch's SDPA.

Every mixer runs through ``cubit_lite.mixers``' functional core (the reference path;
``cubit-blocked`` and ``deltaformer-blocked`` go through the blocked solve,
``implementation="blocked"``, with ``--solve-block`` rows per block) on random
``(B, H, T, D)`` inputs with ``B · T`` tokens per batch held fixed, over a
range of sequence lengths ``T`` and input dtypes. The baseline is
``torch.nn.functional.scaled_dot_product_attention(..., is_causal=True)`` in the same
dtype. The JSON written to ``--out`` carries the command, device, versions, seed and
git commit, so that the book can plot it with its provenance.

Run on a GPU (the book's numbers come from one NVIDIA H100)::

    python benchmarks/mixer_speed.py --out results/appendix_fast/mixer_speed_h100.json

A quick CPU smoke run (what the test suite does)::

    python benchmarks/mixer_speed.py --device cpu --lengths 16 32 --tokens 64 \\
        --heads 2 --head-dim 8 --warmup 1 --repeat 2 --out /tmp/speed.json
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import cli_checks
import torch
import torch.nn.functional as F
from timing import synchronize, time_once

from cubit_lite.mixers import (
    attention_weights,
    cubit_attention,
    deltaformer_attention,
    llr_attention,
    triton_solve,
)
from cubit_lite.results import provenance as run_provenance
from cubit_lite.results import save_json
from cubit_lite.sample import SEED_MAX, SEED_MIN

ROOT = Path(__file__).resolve().parents[1]

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}

Inputs = dict[str, torch.Tensor]
BLOCK = {"rows": 64}
"""Rows per block of ``cubit-blocked`` (set from ``--solve-block``)."""
MIXERS: dict[str, Callable[[Inputs], torch.Tensor]] = {
    "sdpa": lambda x: F.scaled_dot_product_attention(x["q"], x["k"], x["v"], is_causal=True),
    "attention-explicit": lambda x: attention_weights(x["q"], x["k"]) @ x["v"],
    "cubit": lambda x: cubit_attention(x["q"], x["k"], x["v"], x["r"], s=x["s"], lam=1e-6),
    "cubit-blocked": lambda x: cubit_attention(x["q"], x["k"], x["v"], x["r"], s=x["s"], lam=1e-6,
                                               implementation="blocked", solve_block=BLOCK["rows"]),
    "cubit-nolrr": lambda x: cubit_attention(x["q"], x["k"], x["v"], x["r"], lam=1e-6),
    "cubit-share": lambda x: cubit_attention(x["q"], x["k"], x["v"], x["k"], s=x["s"], lam=1e-6),
    "deltaformer": lambda x: deltaformer_attention(x["q"], x["k"], x["v"], x["beta"]),
    "deltaformer-blocked": lambda x: deltaformer_attention(x["q"], x["k"], x["v"], x["beta"],
                                                           implementation="blocked", solve_block=BLOCK["rows"]),
    "cubit-triton": lambda x: cubit_attention(x["q"], x["k"], x["v"], x["r"], s=x["s"], lam=1e-6,
                                              implementation="triton"),
    "deltaformer-triton": lambda x: deltaformer_attention(x["q"], x["k"], x["v"], x["beta"],
                                                          implementation="triton"),
    "cubit-triton-ieee": lambda x: _with_tiles("ieee", MIXERS["cubit-triton"], x),
    "cubit-triton-tf32": lambda x: _with_tiles("tf32", MIXERS["cubit-triton"], x),
    "cubit-triton-before": lambda x: _with_config(BEFORE, MIXERS["cubit-triton"], x),
    "cubit-triton-bf16-logits": lambda x: _with_tiles("bf16-logits", MIXERS["cubit-triton"], x),
    "cubit-triton-bf16": lambda x: _with_tiles("bf16", MIXERS["cubit-triton"], x),
    "fla-deltaformer": lambda x: fla_deltaformer(x),
    "llr": lambda x: llr_attention(x["q"], x["k"], x["v"], mu=1e-2),
}
"""What each benchmark row runs: ``sdpa`` is the baseline; ``attention-explicit`` is
softmax attention written as ``A @ V`` (the NW form, a T×T matrix per head);
``*-triton`` the fused kernels of :mod:`cubit_lite.mixers.triton_solve`;
``fla-deltaformer`` the peer kernel (below)."""

GPU_ONLY = ("cubit-triton", "deltaformer-triton", "cubit-triton-ieee", "cubit-triton-tf32", "cubit-triton-before",
            "cubit-triton-bf16-logits", "cubit-triton-bf16", "fla-deltaformer")
"""Rows that need a CUDA device (Triton kernels). ``cubit-triton`` uses the library's
:data:`~cubit_lite.mixers.triton_solve.DEFAULT_CONFIG`; the ``cubit-triton-<precision>``
rows force that tile precision for float32 and bfloat16 inputs alike."""

ORACLE = {"cubit-blocked": "cubit", "cubit-triton": "cubit", "cubit-triton-ieee": "cubit", "cubit-triton-tf32": "cubit",
          "cubit-triton-before": "cubit",
          "cubit-triton-bf16-logits": "cubit", "cubit-triton-bf16": "cubit",
          "deltaformer-blocked": "deltaformer", "deltaformer-triton": "deltaformer",
          "fla-deltaformer": "deltaformer"}
"""The float64 reference of the accuracy check for rows that cannot run in float64."""


BEFORE = triton_solve.TritonConfig(superblock=512, grad_block=64, warps_row_lse=4, warps_grad=4,
                                   half_precision="tf32")
"""The library's configuration before issue 18 (one fixed launch configuration, TF32 tiles for
half-precision inputs): the ``cubit-triton-before`` row."""


def _with_config(config, run: Callable[[Inputs], torch.Tensor], x: Inputs) -> torch.Tensor:
    with triton_solve.triton_config(config):
        return run(x)


def _with_tiles(precision: str, run: Callable[[Inputs], torch.Tensor], x: Inputs) -> torch.Tensor:
    """``run(x)`` with its tiles formed in ``precision``, whatever the inputs' dtype (backward keeps it)."""
    with triton_solve.triton_config(float32_precision=precision, half_precision=precision):
        return run(x)


def fla_deltaformer(x: Inputs) -> torch.Tensor:
    """flash-linear-attention's DeltaFormer: its Triton u-stage, then the same SDPA readout.

    ``fla.ops.deltaformer.parallel.ParallelDeltaformerFunction`` (PyPI ``fla-core``)
    solves ``u_t = v_t − β_t Σ_{j<t} softmax_j(q_t·k_j/√D) u_j`` in ``(B, T, H, D)``
    layout; given ``q = k`` it is our DeltaFormer solve. The readout is
    ``scaled_dot_product_attention`` as in our rows, so the two differ only in the
    solve. Layout changes are part of the timed call.
    """
    import types

    # fla-core's parallel.py imports fla.layers.utils (varlen padding helpers) from the full
    # flash-linear-attention package, which fla-core does not ship; unused without cu_seqlens.
    for name in ("fla.layers", "fla.layers.utils"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["fla.layers.utils"].pad_input = sys.modules["fla.layers.utils"].unpad_input = None
    from fla.ops.deltaformer.parallel import ParallelDeltaformerFunction

    k = x["k"].transpose(1, 2).contiguous()
    v = x["v"].transpose(1, 2).contiguous()
    beta = x["beta"].transpose(1, 2).contiguous().to(k.dtype)
    u = ParallelDeltaformerFunction.apply(k, k, v, beta, 512, None)  # (B, T, H, D)
    return F.scaled_dot_product_attention(x["q"], x["k"], u.transpose(1, 2).to(x["v"].dtype), is_causal=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The arguments, each checked before any work (``parser.error``: one line, exit status 2)."""
    positive = cli_checks.integer(1)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=cli_checks.default_device(), help="cpu, cuda, cuda:N or mps")
    parser.add_argument("--mixers", nargs="+", choices=list(MIXERS),
                        help="rows to run (default: every row that runs on --device; "
                             f"{', '.join(GPU_ONLY)} need CUDA)")
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=list(DTYPES))
    parser.add_argument("--lengths", nargs="+", type=positive, default=[256, 512, 1024, 2048, 4096])
    parser.add_argument("--tokens", type=positive, default=16384, help="B·T, tokens per batch (B = tokens // T)")
    parser.add_argument("--heads", type=positive, default=8)
    parser.add_argument("--head-dim", type=positive, default=64)
    parser.add_argument("--solve-block", "--block", dest="solve_block", type=positive, default=64,
                        help="rows per block of the solve of cubit-blocked and deltaformer-blocked")
    parser.add_argument("--superblock", type=positive, default=None,
                        help="tokens per superblock of the *-triton rows (a multiple of the block; default: the "
                             "library's, cubit_lite.mixers.triton_solve.DEFAULT_CONFIG.superblock)")
    parser.add_argument("--accuracy-batch", type=positive, default=1,
                        help="sequences of the float64 accuracy check at each length (forward and gradients)")
    parser.add_argument("--warmup", type=cli_checks.integer(0), default=3)
    parser.add_argument("--repeat", type=positive, default=10)
    seeds = cli_checks.integer(SEED_MIN, SEED_MAX - 2, allowed="an integer from -2**63 to 2**64 - 3")
    parser.add_argument("--seed", type=seeds, default=0,
                        help="seeds the inputs (seed + 1 and seed + 2 those of the accuracy check)")
    cpus = os.cpu_count() or 1
    threads = cli_checks.integer(1, cpus, allowed=f"an integer from 1 to {cpus}, this machine's CPUs")
    parser.add_argument("--threads", type=threads, default=None, help="CPU threads for torch (steadier CPU timings)")
    parser.add_argument("--git-commit", default=None, help="recorded in the JSON (default: git rev-parse HEAD)")
    parser.add_argument("--out", type=Path, required=True)
    cli_checks.add_overwrite(parser)
    args = parser.parse_args(argv)
    cli_checks.check_out(parser, args.out, args.overwrite)
    for length in args.lengths:
        if args.tokens < length:
            parser.error(f"every length must be between 1 and --tokens ({args.tokens}); got {length}")
    block = triton_solve.DEFAULT_CONFIG.block
    if args.superblock is not None and (args.superblock < block or args.superblock % block):
        parser.error(f"--superblock must be a positive multiple of {block}; got {args.superblock}")
    where = cli_checks.device(parser, args.device)
    cli_checks.need_cuda(parser, where, [m for m in args.mixers or [] if m in GPU_ONLY], "Triton kernels")
    timed = max(input_bytes(args.tokens // length, args.heads, length, args.head_dim, DTYPES[name])
                for name in args.dtypes for length in args.lengths)
    cli_checks.check_memory(parser, timed, where, "the inputs of the timed rows alone",
                            "--tokens, --heads or --head-dim")
    checked = max(input_bytes(args.accuracy_batch, args.heads, length, args.head_dim, torch.float64)
                  for length in args.lengths)
    cli_checks.check_memory(parser, checked, where, "the float64 inputs of the accuracy check alone",
                            "--accuracy-batch, --heads or --head-dim")
    return args


def input_bytes(batch: int, heads: int, length: int, head_dim: int, dtype: torch.dtype) -> int:
    """Bytes of the tensors :func:`make_inputs` returns for these sizes."""
    tokens = batch * heads * length
    return 4 * tokens * head_dim * dtype.itemsize + 2 * tokens * 4  # q, k, v, r in dtype; s, beta in float32


def make_inputs(batch: int, heads: int, length: int, head_dim: int, dtype, device, seed: int) -> Inputs:
    generator = torch.Generator(device=device).manual_seed(seed)

    def normal(*shape):
        return torch.randn(*shape, generator=generator, device=device, dtype=torch.float32)

    shape = (batch, heads, length, head_dim)
    inputs = {name: normal(*shape).to(dtype) for name in ("q", "k", "v", "r")}
    inputs["s"] = 0.5 + 1.5 * torch.rand(shape[:3], generator=generator, device=device)  # LRR range
    inputs["beta"] = 1.0 + 0.1 * normal(*shape[:3])
    for tensor in inputs.values():
        tensor.requires_grad_()
    return inputs


def measure(mixer: str, inputs: Inputs, device: torch.device, warmup: int, repeat: int) -> dict:
    run = MIXERS[mixer]
    grad_out = torch.randn_like(run(inputs).detach())

    def forward_backward():
        for tensor in inputs.values():
            tensor.grad = None
        run(inputs).backward(grad_out)

    def forward_only():
        with torch.no_grad():
            run(inputs)

    for _ in range(warmup):
        forward_backward()
    synchronize(device)
    fwd_bwd = [time_once(forward_backward, device) for _ in range(repeat)]
    fwd = [time_once(forward_only, device) for _ in range(repeat)]
    row = {"fwd_bwd_ms": statistics.median(fwd_bwd), "fwd_ms": statistics.median(fwd),
           "fwd_bwd_ms_spread": [min(fwd_bwd), max(fwd_bwd)]}
    if device.type == "cuda":
        for tensor in inputs.values():
            tensor.grad = None
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        forward_backward()
        torch.cuda.synchronize(device)
        row["peak_mem_mib"] = (torch.cuda.max_memory_allocated(device) - before) / 2**20
    else:
        row["peak_mem_mib"] = None  # not measured on the CPU
    return row


def accuracy(mixers: list[str], dtype_name: str, length: int, args: argparse.Namespace,
             device: torch.device) -> list[dict]:
    """Relative errors ‖out − ref‖/‖ref‖ of each mixer's output and of every input's gradient
    against the same mixer (its float64 oracle) in float64, on the same device, at ``length``."""
    inputs = make_inputs(args.accuracy_batch, args.heads, length, args.head_dim, DTYPES[dtype_name], device,
                         args.seed + 1)
    grad_out = torch.randn(inputs["v"].shape, device=device, dtype=torch.float64,
                           generator=torch.Generator(device=device).manual_seed(args.seed + 2))

    def out_and_grads(mixer: str, dtype) -> tuple[torch.Tensor, dict]:
        leaves = {name: t.detach().to(dtype).requires_grad_() for name, t in inputs.items()}
        out = MIXERS[mixer](leaves)
        out.backward(grad_out.to(out.dtype))
        grads = {name: t.grad.double() for name, t in leaves.items() if t.grad is not None}
        return out.detach().double(), grads

    def rel(a: torch.Tensor, b: torch.Tensor) -> float:
        return ((a - b).norm() / b.norm()).item()

    rows = []
    references: dict[str, tuple] = {}
    for mixer in mixers:
        row = {"mixer": mixer, "dtype": dtype_name, "T": length, "batch": args.accuracy_batch}
        try:
            oracle = ORACLE.get(mixer, mixer)
            if oracle not in references:
                references[oracle] = out_and_grads(oracle, torch.float64)
            want, want_grads = references[oracle]
            got, got_grads = out_and_grads(mixer, DTYPES[dtype_name])
        except torch.cuda.OutOfMemoryError:
            row["status"] = "out of memory"
        except (RuntimeError, ValueError, ImportError, AssertionError) as err:
            row["status"] = f"error: {str(err).splitlines()[0][:200]}"
        else:
            row["relative_error_vs_float64"] = rel(got, want)
            row["grad_relative_error_vs_float64"] = {name: rel(got_grads[name], want_grads[name])
                                                     for name in want_grads if name in got_grads}
            row["status"] = "ok"
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()
        rows.append(row)
    return rows


def provenance(args: argparse.Namespace, device: torch.device, argv: list[str]) -> dict:
    return {
        **run_provenance(__file__, argv, git_commit=args.git_commit, device=device),
        "seed": args.seed,
        "threads": torch.get_num_threads(),
        "config": {"tokens_per_batch": args.tokens, "heads": args.heads, "head_dim": args.head_dim,
                   "solve_block": args.solve_block, "superblock": args.superblock, "warmup": args.warmup,
                   "repeat": args.repeat, "statistic": "median",
                   "what": "forward+backward of the mixing op alone (no projections), causal"},
    }


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    device = torch.device(args.device)
    if args.mixers is None:
        args.mixers = [m for m in MIXERS if device.type == "cuda" or m not in GPU_ONLY]
    BLOCK["rows"] = args.solve_block
    if args.superblock is None:
        args.superblock = triton_solve.DEFAULT_CONFIG.superblock
    with triton_solve.triton_config(superblock=args.superblock):
        return _run(args, device, argv)


def _run(args: argparse.Namespace, device: torch.device, argv: list[str]) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rows = []
    for dtype_name in args.dtypes:
        for length in args.lengths:
            batch = args.tokens // length
            inputs = make_inputs(batch, args.heads, length, args.head_dim, DTYPES[dtype_name], device, args.seed)
            baseline = None
            for mixer in ["sdpa"] + [m for m in args.mixers if m != "sdpa"]:
                row = {"mixer": mixer, "dtype": dtype_name, "T": length, "batch": batch}
                try:
                    row.update(measure(mixer, inputs, device, args.warmup, args.repeat), status="ok")
                except torch.cuda.OutOfMemoryError:
                    row["status"] = "out of memory"
                except (RuntimeError, ValueError, ImportError, AssertionError) as err:  # no kernel, no package
                    row["status"] = f"error: {str(err).splitlines()[0][:200]}"
                finally:
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
                if mixer == "sdpa":
                    baseline = row if row.get("status") == "ok" else None
                if baseline and row.get("status") == "ok":
                    row["time_vs_sdpa"] = row["fwd_bwd_ms"] / baseline["fwd_bwd_ms"]
                    if row["peak_mem_mib"] is not None and baseline["peak_mem_mib"]:
                        row["memory_vs_sdpa"] = row["peak_mem_mib"] / baseline["peak_mem_mib"]
                if mixer in args.mixers or mixer == "sdpa":
                    rows.append(row)
                    print(format_row(row), flush=True)
            del inputs
    checks = [row for dtype_name in args.dtypes for length in args.lengths
              for row in accuracy(args.mixers, dtype_name, length, args, device)]
    errors = {(c["mixer"], c["dtype"], c["T"]): c for c in checks if c["status"] == "ok"}
    for row in rows:  # each timed row carries its accuracy beside it
        check = errors.get((row["mixer"], row["dtype"], row["T"]))
        if check:
            row["relative_error_vs_float64"] = check["relative_error_vs_float64"]
            row["max_grad_relative_error_vs_float64"] = max(check["grad_relative_error_vs_float64"].values(),
                                                            default=None)
    for row in checks:
        error = row.get("relative_error_vs_float64")
        grads = row.get("grad_relative_error_vs_float64") or {}
        print(f"accuracy {row['dtype']:>4} T={row['T']:>5} {row['mixer']:<24} rel. error vs float64 "
              + (f"out {error:.2e}, grads max {max(grads.values(), default=math.nan):.2e}"
                 if error is not None else row["status"]))
    result = {**provenance(args, device, argv), "rows": rows, "accuracy": checks}
    save_json(args.out, result)
    print(f"wrote {args.out} ({len(rows)} rows)")
    return result


def format_row(row: dict) -> str:
    if row.get("status") != "ok":
        return f"{row['dtype']:>4} T={row['T']:>5} {row['mixer']:<19} {row.get('status')}"
    ratio = row.get("time_vs_sdpa", math.nan)
    mem = row["peak_mem_mib"]
    mem_text = "n/a" if mem is None else f"{mem:9.1f} MiB"
    return (f"{row['dtype']:>4} T={row['T']:>5} {row['mixer']:<19} fwd+bwd {row['fwd_bwd_ms']:9.3f} ms "
            f"({ratio:5.1f}x sdpa)  fwd {row['fwd_ms']:8.3f} ms  peak {mem_text}")


if __name__ == "__main__":
    main()
