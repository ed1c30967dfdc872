"""Measure launch configurations of the Triton solve and report the fastest.

One knob at a time, starting from the library's defaults: the gradient kernels' tile
(``_GRAD_BLOCK``) with their warps, then the warps of ``row_lse``, of the parallel
off-diagonal kernels and of the sequential in-superblock kernels, then the superblock
size. Each configuration times forward+backward of ``cubit_attention(...,
implementation="triton")`` on the benchmark's shape (``mixer_speed.py``: 8 heads × 64,
16k tokens per batch), float32 inputs (``FLOAT32_PRECISION`` tiles) and bfloat16 inputs
(TF32 tiles). A knob keeps the best value found before the next one is tried. The JSON
lists every configuration measured; it changes nothing in the library — the defaults
there are set by hand from it.

    python benchmarks/tune_triton.py --length 4096 --out results/tune_triton_h200.json
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
sys.path.insert(0, str(ROOT / "benchmarks"))

from mixer_speed import DTYPES, MIXERS, make_inputs, time_once  # noqa: E402

from cubit_lite.mixers import triton_solve  # noqa: E402
from cubit_lite.results import provenance, save_json  # noqa: E402

KNOBS = {
    "grad": [(32, 4), (32, 8), (64, 4), (64, 8)],  # (_GRAD_BLOCK, warps)
    "row_lse": [8, 4],
    "offdiag": [8, 4],
    "local": [8, 4],
    "superblock": [512, 256, 1024],
}


def apply(config: dict) -> None:
    triton_solve._GRAD_BLOCK, triton_solve._WARPS["grad"] = config["grad"]
    for name in ("row_lse", "offdiag", "local"):
        triton_solve._WARPS[name] = config[name]
    triton_solve.SUPERBLOCK = config["superblock"]


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
    parser.add_argument("--length", type=int, default=4096)
    parser.add_argument("--tokens", type=int, default=16384)
    parser.add_argument("--dtypes", nargs="+", choices=sorted(DTYPES), default=["fp32", "bf16"])
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--git-commit", default=None)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        parser.error("the Triton kernels are tuned on a CUDA GPU")
    default = {"grad": (triton_solve._GRAD_BLOCK, triton_solve._WARPS["grad"]),
               **{name: triton_solve._WARPS[name] for name in ("row_lse", "offdiag", "local")},
               "superblock": triton_solve.SUPERBLOCK}
    rows, best = [], {}
    for dtype_name in args.dtypes:
        inputs = make_inputs(args.tokens // args.length, 8, args.length, 64, DTYPES[dtype_name], "cuda", 0)
        config = copy.deepcopy(default)
        timed: dict[str, float] = {}  # repr of a configuration → its time

        def time_of(trial: dict) -> float:
            key = repr(sorted(trial.items()))
            if key not in timed:
                apply(trial)
                timed[key] = fwd_bwd_ms(inputs, args.warmup, args.repeat)
                rows.append({"dtype": dtype_name, "T": args.length, **trial, "fwd_bwd_ms": timed[key]})
                print(f"{dtype_name} {trial} {timed[key]:.3f} ms", flush=True)
            return timed[key]

        for knob, values in KNOBS.items():
            config[knob] = min(values, key=lambda value: time_of({**config, knob: value}))
        best[dtype_name] = {**config, "fwd_bwd_ms": time_of(config)}
        print(f"best {dtype_name}: {best[dtype_name]}", flush=True)
        apply(default)
    result = {**provenance(__file__, argv, git_commit=args.git_commit, device=torch.device("cuda")),
              "config": {"heads": 8, "head_dim": 64, "tokens_per_batch": args.tokens, "warmup": args.warmup,
                         "repeat": args.repeat, "statistic": "median", "defaults": default,
                         "float32_precision": triton_solve.FLOAT32_PRECISION},
              "rows": rows, "best": best}
    save_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
