"""Measure launch configurations of the Triton solve and report the fastest.

One knob at a time, starting from the library's :data:`DEFAULT_CONFIG`
(``cubit_lite.mixers.triton_solve``): for bfloat16 inputs first the tile precision
(``half_precision``), then the gradient kernels' tile with their warps, the warps of
``row_lse``, of the parallel off-diagonal kernels and of the sequential in-superblock
kernels, the pipelining depth and the superblock size (``None``: the library's choice
per shape, by Triton's autotuner). Each configuration is a
:class:`TritonConfig` passed in with ``triton_config``; it times forward+backward of
``cubit_attention(..., implementation="triton")`` on the benchmark's shape
(``mixer_speed.py``: 8 heads × 64, 16k tokens per batch) at each ``--lengths`` value,
float32 and bfloat16 inputs. A knob keeps the best value found before the next one is
tried. The JSON lists every configuration measured; it changes nothing in the library —
its defaults are set by hand from it.

    python benchmarks/tune_triton.py --lengths 1024 4096 --out results/appendix_fast/tune_triton_h200.json
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from pathlib import Path

import cli_checks
import torch
from mixer_speed import DTYPES, MIXERS, input_bytes, make_inputs
from timing import time_once

from cubit_lite.mixers import triton_solve
from cubit_lite.results import provenance, save_json

ROOT = Path(__file__).resolve().parents[1]

HEADS, HEAD_DIM = 8, 64
"""The benchmark's shape (``mixer_speed.py``'s defaults); ``--tokens`` tokens per batch."""

KNOBS = {
    "half_precision": ["tf32", "bf16-logits", "bf16"],  # bfloat16 inputs only
    "grad": [(None, None), (64, 4), (32, 4), (64, 8)],  # (grad_block, warps_grad); None: chosen per shape
    "warps_row_lse": [None, 4, 8],  # None: chosen per shape
    "warps_offdiag": [4, 8],
    "warps_local": [4, 8],
    "stages": [3, 2, 4],
    "superblock": [1024, 512, 256],
}
"""Each knob's values, the library default's first; ``grad`` sets two fields at once."""


def to_config(trial: dict) -> triton_solve.TritonConfig:
    """The :class:`TritonConfig` of one trial (``grad`` → ``grad_block``, ``warps_grad``)."""
    fields = {k: v for k, v in trial.items() if k != "grad"}
    fields["grad_block"], fields["warps_grad"] = trial["grad"]
    return dataclasses.replace(triton_solve.DEFAULT_CONFIG, **fields)


def fwd_bwd_ms(inputs: dict, warmup: int, repeat: int) -> float:
    run = MIXERS["cubit-triton"]
    grad_out = torch.randn_like(run(inputs).detach())

    def step():
        for tensor in inputs.values():
            tensor.grad = None
        run(inputs).backward(grad_out)

    for _ in range(warmup):
        step()
    return statistics.median(time_once(step, torch.device("cuda")) for _ in range(repeat))


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    positive = cli_checks.integer(1)
    parser.add_argument("--lengths", nargs="+", type=positive, default=[4096])
    parser.add_argument("--tokens", type=positive, default=16384)
    parser.add_argument("--dtypes", nargs="+", choices=sorted(DTYPES), default=["fp32", "bf16"])
    parser.add_argument("--knobs", nargs="+", choices=list(KNOBS), default=list(KNOBS))
    parser.add_argument("--warmup", type=cli_checks.integer(0), default=2)
    parser.add_argument("--repeat", type=positive, default=5)
    parser.add_argument("--git-commit", default=None)
    parser.add_argument("--out", required=True)
    cli_checks.add_overwrite(parser)
    args = parser.parse_args(argv)
    cli_checks.check_out(parser, args.out, args.overwrite)
    for length in args.lengths:
        if args.tokens < length:
            parser.error(f"every length must be between 1 and --tokens ({args.tokens}); got {length}")
    if not torch.cuda.is_available():
        parser.error("the Triton kernels are tuned on a CUDA GPU")
    cli_checks.check_memory(parser, max(input_bytes(args.tokens // length, HEADS, length, HEAD_DIM, DTYPES[name])
                                        for name in args.dtypes for length in args.lengths),
                            torch.device("cuda"), "the inputs alone", "--tokens")
    base = triton_solve.DEFAULT_CONFIG
    default = {"half_precision": base.half_precision, "grad": (base.grad_block, base.warps_grad),
               **{name: getattr(base, name) for name in ("warps_row_lse", "warps_offdiag", "warps_local", "stages",
                                                         "superblock")}}
    rows, best = [], {}
    for length in args.lengths:
        for dtype_name in args.dtypes:
            inputs = make_inputs(args.tokens // length, HEADS, length, HEAD_DIM, DTYPES[dtype_name], "cuda", 0)
            config = dict(default)
            timed: dict[str, float] = {}  # repr of a configuration → its time

            def time_of(trial: dict, inputs=inputs, timed=timed, dtype_name=dtype_name, length=length) -> float:
                key = repr(sorted(trial.items()))
                if key not in timed:
                    row = {"dtype": dtype_name, "T": length, **trial}
                    try:
                        with triton_solve.triton_config(to_config(trial)):
                            timed[key] = fwd_bwd_ms(inputs, args.warmup, args.repeat)
                        row.update(fwd_bwd_ms=timed[key], status="ok")
                    except Exception as err:  # noqa: BLE001 - e.g. a tile too large for shared memory
                        timed[key] = float("inf")
                        row["status"] = f"error: {type(err).__name__}: {str(err).splitlines()[0][:200]}"
                    rows.append(row)
                    print(f"{dtype_name} T={length} {trial} {timed[key]:.3f} ms", flush=True)
                return timed[key]

            for knob in args.knobs:
                if knob == "half_precision" and dtype_name != "bf16":
                    continue  # float32 inputs use float32_precision
                config[knob] = min(KNOBS[knob], key=lambda value, knob=knob: time_of({**config, knob: value}))
            best[f"{dtype_name}_T{length}"] = {**config, "fwd_bwd_ms": time_of(config),
                                               "default_ms": time_of(default)}
            print(f"best {dtype_name} T={length}: {best[f'{dtype_name}_T{length}']}", flush=True)
            del inputs
    result = {**provenance(__file__, argv, git_commit=args.git_commit, device=torch.device("cuda")),
              "config": {"heads": HEADS, "head_dim": HEAD_DIM, "tokens_per_batch": args.tokens, "warmup": args.warmup,
                         "repeat": args.repeat, "statistic": "median", "defaults": default,
                         "float32_precision": base.float32_precision},
              "rows": rows, "best": best}
    save_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
