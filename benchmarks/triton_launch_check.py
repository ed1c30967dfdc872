"""Which launch configurations of the Triton solve run, and stay accurate, at which shapes.

For every pair of a configuration and a shape ``BxHxTxDxDv``, a fresh Python process
runs ``cubit_attention(..., implementation="triton")`` forward and backward in float32
under that :class:`TritonConfig` and compares the output and every gradient with the
float64 reference path (accurate: within :data:`TOLERANCE`, or within 3× the error of
PyTorch's float32 blocked solve of the same system, as in the tests). Each pair has its
own process because a kernel that touches memory it should not leaves the whole CUDA
context broken: the pairs after it would fail for no fault of their own.

Configurations are named ``auto`` (the library's :data:`DEFAULT_CONFIG`: the gradient
tile chosen per shape) or ``g<GB>w<W>`` (gradient tile ``GB`` rows, ``W`` warps,
``row_lse`` 4 warps), e.g. ``g64w8``. The solve's own refusal of known-bad launches
is switched off here (``triton_solve.launch_check_disabled``): this script measures which
launches are safe, the rule the refusal applies.

    python benchmarks/triton_launch_check.py --configs auto g64w4 g64w8 g32w4 \\
        --shapes 1x2x130x20x5 1x2x130x64x64 --out results/appendix_fast/triton_launches_h200.json
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cli_checks
import torch

from cubit_lite.results import provenance, save_json

ROOT = Path(__file__).resolve().parents[1]

TOLERANCE = 1e-4
"""Relative error (output or any gradient, against float64) that is always accurate enough;
where the system's conditioning makes PyTorch's own float32 blocked solve worse, up to 3×
that solve's error is (the rule of ``tests/test_triton_solve.py``)."""


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """‖actual − expected‖ / max(‖expected‖, 1e-2): a gradient that is (nearly) zero is compared absolutely."""
    return ((actual - expected).norm() / expected.norm().clamp_min(1e-2)).item()


MAX_TIMEOUT = 86400.0
"""The most seconds ``--timeout`` allows a pair (a day; a pair takes seconds)."""

NAMES = ("output", "dq", "dk", "dv", "dr", "ds", "dlam")
"""The compared tensors: the output and the gradient of each input, in order."""


def to_config(name: str):
    """The :class:`TritonConfig` named ``auto`` or ``g<GB>w<W>``."""
    from cubit_lite.mixers import triton_solve

    if name == "auto":
        return triton_solve.DEFAULT_CONFIG
    match = re.fullmatch(r"g(\d+)w(\d+)", name)
    if not match:
        raise ValueError(f"unknown configuration {name!r}; use auto or g<GB>w<W>, e.g. g64w4")
    return triton_solve.TritonConfig(grad_block=int(match[1]), warps_grad=int(match[2]), warps_row_lse=4)


def to_shape(text: str) -> tuple[int, ...]:
    """``"1x2x130x20x5"`` → ``(1, 2, 130, 20, 5)`` (B, H, T, D, Dv)."""
    parts = text.split("x")
    if len(parts) != 5 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"a shape is BxHxTxDxDv with five positive integers, e.g. 1x2x130x20x5; got {text!r}")
    return tuple(int(p) for p in parts)


def reference_bytes(b: int, h: int, t: int, d: int, dv: int) -> int:
    """A lower bound of the host memory :func:`check_one` needs: its float64 inputs and one ``T × T`` matrix
    per sequence and head, which the reference path forms."""
    return 8 * b * h * t * (t + 3 * d + 2 * dv + 2)


def check_one(config_name: str, shape: tuple[int, ...]) -> dict:
    """Run one pair in this process; the worst relative error against float64."""
    from cubit_lite.mixers import cubit_attention, triton_solve

    b, h, t, d, dv = shape
    gen = torch.Generator().manual_seed(0)
    q, k, r = (torch.randn(b, h, t, d, generator=gen, dtype=torch.float64) for _ in range(3))
    v = torch.randn(b, h, t, dv, generator=gen, dtype=torch.float64)
    s = 0.5 + 1.5 * torch.rand(b, h, t, generator=gen, dtype=torch.float64)
    lam = torch.linspace(1e-3, 0.3, h, dtype=torch.float64)
    w = torch.randn(b, h, t, dv, generator=gen, dtype=torch.float64)

    def run(implementation, dtype, device):
        leaves = [x.to(device=device, dtype=dtype).requires_grad_() for x in (q, k, v, r, s, lam)]
        out = cubit_attention(*leaves[:4], s=leaves[4], lam=leaves[5], ref_scale=4.0,
                              implementation=implementation, solve_block=32)
        grads = torch.autograd.grad((out * w.to(device=device, dtype=dtype)).sum(), leaves)
        return [x.detach().double().cpu() for x in (out, *grads)]

    device = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: only with TRITON_INTERPRET=1 (the tests)
    want = run("reference", torch.float64, "cpu")
    blocked = run("blocked", torch.float32, "cpu")
    with triton_solve.triton_config(to_config(config_name)), triton_solve.launch_check_disabled():
        got = run("triton", torch.float32, device)
    if device == "cuda":
        torch.cuda.synchronize()
    errors = [relative_error(g, x) for g, x in zip(got, want, strict=True)]
    allowed = [max(TOLERANCE, 3 * relative_error(b, x)) for b, x in zip(blocked, want, strict=True)]
    accurate = all(e <= a for e, a in zip(errors, allowed, strict=True))
    return {"status": "ok" if accurate else "inaccurate", "max_relative_error": max(errors),
            "relative_errors": dict(zip(NAMES, errors, strict=True)),
            "allowed": dict(zip(NAMES, allowed, strict=True))}


def check_in_subprocess(config_name: str, shape_text: str, timeout: float) -> dict:
    """One pair in a fresh process: its result, or the error that ended it."""
    command = [sys.executable, __file__, "--one", config_name, shape_text]
    row = {"config": config_name, "shape": shape_text}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return row | {"status": "timeout", "error": f"no answer within {timeout:g} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode == 0 and lines:
        return row | json.loads(lines[-1])
    errors = [line for line in done.stderr.splitlines() if re.match(r"^\w+(\.\w+)*(Error|Exception|Resources)\b", line)]
    return row | {"status": "error", "error": (errors[-1] if errors else done.stderr.strip()[-300:])[:300]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=["auto", "g64w4", "g64w8", "g32w4"])
    parser.add_argument("--shapes", nargs="+", default=["1x2x130x20x5", "1x2x200x64x16", "1x2x130x64x64"])
    parser.add_argument("--jobs", type=cli_checks.integer(1), default=8,
                        help="pairs checked at once (each its own process)")
    parser.add_argument("--timeout", type=cli_checks.number(0, MAX_TIMEOUT), default=300.0,
                        help=f"seconds a pair may take (at most {MAX_TIMEOUT:g})")
    parser.add_argument("--git-commit", default=None, help="the commit that ran (where the copy has no .git)")
    parser.add_argument("--out", type=Path, help="JSON file to write")
    cli_checks.add_overwrite(parser)
    parser.add_argument("--one", nargs=2, metavar=("CONFIG", "SHAPE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    configs, shapes = (args.one[:1], args.one[1:]) if args.one else (args.configs, args.shapes)
    try:
        for name in configs:
            to_config(name)
        for text in shapes:
            to_shape(text)
    except ValueError as error:
        parser.error(str(error))
    for text in shapes:
        b, h, t, d, dv = to_shape(text)
        cli_checks.check_memory(parser, reference_bytes(b, h, t, d, dv), torch.device("cpu"),
                                f"the float64 reference of shape {text}", "its B, H or T")
    if args.one:
        print(json.dumps(check_one(args.one[0], to_shape(args.one[1]))))
        return 0
    if args.out is None:
        parser.error("--out is required: the JSON file to write")
    cli_checks.check_out(parser, args.out, args.overwrite)
    if not torch.cuda.is_available():
        parser.error("the launches are checked on a CUDA GPU; none is visible here")
    pairs = [(c, s) for c in args.configs for s in args.shapes]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(lambda pair: check_in_subprocess(*pair, args.timeout), pairs))
    for row in rows:
        detail = f"{row['max_relative_error']:.1e}" if "max_relative_error" in row else row.get("error", "")
        print(f"{row['config']:>6} {row['shape']:>16}  {row['status']:<10} {detail}")
    save_json(args.out, provenance(__file__, sys.argv[1:] if argv is None else argv, git_commit=args.git_commit)
              | {"tolerance": TOLERANCE, "rows": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
