"""Time and profile whole training steps of the character LM: where a step's time goes.

One step is what ``cubit_lite.train`` does per batch — forward under bf16 autocast on a
GPU, backward, gradient clipping, fused AdamW — on random token ids (no data loading,
no evaluation), so that the tokens/s of two mixers compare their models alone. Each
mixer runs in each ``--modes`` value, a fresh model each time (same seed):

* ``eager``: the step as ``cubit_lite.train`` runs it;
* ``graph``: the whole step (forward, backward, clipping, AdamW) captured once in a CUDA
  graph and replayed: no launch or host overhead left;
* ``compile``: the model through ``torch.compile`` (the Triton solve stays as it is);
* ``compile-graph``: both.

The report gives each run's median step time over ``--repeat`` steps (CUDA events) and
its GPU-busy time per step (the sum of the kernels' times in a ``torch.profiler`` trace
of three eager-mode steps, or three replays), and prints the profile table of the first
mode. With ``--out`` the rows go to a JSON file with their provenance.

    python benchmarks/profile_lm_step.py --mixers transformer cubit --modes eager graph \\
        --block-size 1024 --batch-size 16 --out results/appendix_fast/lm_step_4x256_T1024_h200.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import cli_checks
import torch
from timing import synchronize, time_once
from torch.profiler import ProfilerActivity, profile

from cubit_lite.memory import training_memory_bound
from cubit_lite.mixer_options import parse_mixer_option
from cubit_lite.mixers import MIXER_NAMES, triton_solve
from cubit_lite.model import CharLM, ModelConfig
from cubit_lite.results import provenance, save_json
from cubit_lite.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]

MODES = ("eager", "graph", "compile", "compile-graph")


def make_step(args: argparse.Namespace, mixer: str, mode: str, device: torch.device):
    """A fresh model and its training step for ``mode``: a function that runs one step."""
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=args.vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                         n_head=args.n_head, d_model=args.d_model, mixer=mixer,
                         mixer_options=dict(args.mixer_option) if mixer != "transformer" else {}, dropout=0.1)
    model = CharLM(config).to(device)
    graph = mode.endswith("graph")
    if graph and device.type != "cuda":
        raise ValueError("CUDA graphs need a CUDA device")
    cuda = device.type == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=cuda, capturable=graph)
    forward = torch.compile(model) if mode.startswith("compile") else model
    bf16 = cuda and torch.cuda.is_bf16_supported()
    ids = torch.randint(args.vocab_size, (args.batch_size, args.block_size + 1), device=device)
    x, y = ids[:, :-1], ids[:, 1:]

    def body():
        # autocast's weight cache must be off while a graph is captured (each replay casts anew)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16, cache_enabled=not graph):
            _, loss = forward(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    def step():
        optimizer.zero_grad(set_to_none=True)
        body()

    if not graph:
        return step, bf16
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):  # warm-up (and compilation) off the capturing stream
        for _ in range(3):
            step()
    torch.cuda.current_stream(device).wait_stream(side)
    captured = torch.cuda.CUDAGraph()
    optimizer.zero_grad(set_to_none=True)  # backward inside the graph writes fresh gradients each replay
    with torch.cuda.graph(captured):
        body()
    return captured.replay, bf16


def check_models(parser: argparse.ArgumentParser, args: argparse.Namespace, device: torch.device) -> None:
    """``parser.error`` for a model that cannot be built or cannot fit on ``device``, or a mode or solve that
    needs CUDA elsewhere: before any work, not as a failed row."""
    cli_checks.need_cuda(parser, device, [mode for mode in args.modes if mode.endswith("graph")], "CUDA graphs")
    options = dict(args.mixer_option)
    if any(mixer != "transformer" for mixer in args.mixers):
        cli_checks.need_cuda(parser, device, [f"--mixer-option implementation={options.get('implementation')}"]
                             if options.get("implementation") == "triton" else [], "Triton kernels")
    for mixer in args.mixers:
        config = TrainConfig(out="unused", mixer=mixer, block_size=args.block_size, batch_size=args.batch_size,
                             n_layer=args.n_layer, n_head=args.n_head, d_model=args.d_model, dropout=0.1,
                             mixer_options=options if mixer != "transformer" else {}, eval_batches=1)
        try:
            bound = training_memory_bound(config, args.vocab_size, device, bf16=device.type == "cuda")
        except ValueError as err:
            parser.error(f"{mixer}: {err}")
        cli_checks.check_memory(parser, bound.total, device, f"a training step of {mixer}'s model",
                                "--batch-size, --block-size, --d-model or --n-layer")


def gpu_busy_ms(prof, steps: int) -> float:
    """Sum of the GPU kernels' own times in the trace, per step."""
    total = 0.0
    for event in prof.key_averages():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            total += getattr(event, "self_device_time_total", None) or event.self_cuda_time_total
    return total / 1e3 / steps


def run_one(args, mixer: str, mode: str, device: torch.device, table: bool) -> dict:
    row = {"mixer": mixer, "mode": mode, "n_layer": args.n_layer, "n_head": args.n_head, "d_model": args.d_model,
           "T": args.block_size, "batch": args.batch_size,
           "mixer_options": dict(args.mixer_option) if mixer != "transformer" else {}}
    step, bf16 = make_step(args, mixer, mode, device)
    for _ in range(args.warmup):
        step()
    synchronize(device)
    times = [time_once(step, device) for _ in range(args.repeat)]
    row.update(step_ms=statistics.median(times), step_ms_spread=[min(times), max(times)],
               precision="bf16 autocast" if bf16 else "fp32")
    row["tokens_per_second"] = args.batch_size * args.block_size / (row["step_ms"] / 1e3)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities, acc_events=True) as prof:
        for _ in range(3):
            step()
        synchronize(device)
    if device.type == "cuda":
        row["gpu_busy_ms_per_step"] = gpu_busy_ms(prof, 3)
    row["status"] = "ok"
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{name}, torch {torch.__version__}, git {args.git_commit or 'unknown'}: {mixer} {row['mixer_options']}, "
          f"{mode}, {args.n_layer}×{args.n_head} heads, d_model {args.d_model}, T={args.block_size}, "
          f"batch {args.batch_size}, {row['precision']}")
    busy = row.get("gpu_busy_ms_per_step")
    print(f"median step {row['step_ms']:.3f} ms over {args.repeat} steps → {row['tokens_per_second']:,.0f} tokens/s"
          + (f"; GPU busy {busy:.3f} ms per step" if busy is not None else ""), flush=True)
    if table:
        sort = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
        print(f"profile of 3 steps, sorted by {sort}")
        print(prof.key_averages().table(sort_by=sort, row_limit=args.rows, max_name_column_width=70))
    return row


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mixers", "--mixer", nargs="+", required=True, choices=MIXER_NAMES)
    parser.add_argument("--mixer-option", action="append", default=[], type=parse_mixer_option, metavar="NAME=VALUE",
                        help="options of every mixer but the transformer")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=["eager"])
    parser.add_argument("--half-precision", choices=triton_solve.PRECISIONS, default=None,
                        help="tile precision of the Triton solve under bf16 autocast (default: the library's)")
    positive = cli_checks.integer(1)
    parser.add_argument("--block-size", type=positive, default=1024)
    parser.add_argument("--batch-size", type=positive, default=16)
    parser.add_argument("--n-layer", type=positive, default=4)
    parser.add_argument("--n-head", type=positive, default=4)
    parser.add_argument("--d-model", type=positive, default=256)
    parser.add_argument("--vocab-size", type=positive, default=65)
    parser.add_argument("--warmup", type=cli_checks.integer(0), default=5)
    parser.add_argument("--repeat", type=positive, default=20)
    parser.add_argument("--rows", type=positive, default=25, help="rows of the profile table")
    parser.add_argument("--device", default=cli_checks.default_device(), help="cpu, cuda, cuda:N or mps")
    parser.add_argument("--git-commit", default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the rows here as JSON")
    cli_checks.add_overwrite(parser)
    args = parser.parse_args(argv)
    cli_checks.check_out(parser, args.out, args.overwrite)
    device = cli_checks.device(parser, args.device)
    check_models(parser, args, device)
    changes = {} if args.half_precision is None else {"half_precision": args.half_precision}
    rows = []
    with triton_solve.triton_config(**changes) as config:
        for mixer in args.mixers:
            for i, mode in enumerate(args.modes):
                try:
                    rows.append(run_one(args, mixer, mode, device, table=i == 0))
                except Exception as err:  # noqa: BLE001 - a mode that cannot run (no compiler, no graph) is recorded
                    message = f"error: {type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
                    rows.append({"mixer": mixer, "mode": mode, "status": message})
                    print(f"{mixer} {mode}: {message}", flush=True)
                finally:
                    if device.type == "cuda":
                        torch.cuda.synchronize(device)
                        torch.cuda.empty_cache()
    ok = [r for r in rows if r["status"] == "ok"]
    for mixer in args.mixers:
        mine = [r for r in ok if r["mixer"] == mixer]
        if mine:
            fastest = min(mine, key=lambda r: r["step_ms"])
            print(f"fastest {mixer}: {fastest['mode']} {fastest['step_ms']:.3f} ms")
    result = {**provenance(__file__, argv, git_commit=args.git_commit, device=device),
              "config": {"warmup": args.warmup, "repeat": args.repeat, "statistic": "median",
                         "triton_config": {k: v for k, v in vars(config).items()},
                         "what": "one training step: forward (bf16 autocast on a GPU), backward, clipping, "
                                 "fused AdamW; random token ids"},
              "rows": rows}
    if args.out is not None:
        save_json(args.out, result)
        print(f"wrote {args.out} ({len(rows)} rows)")
    return result


if __name__ == "__main__":
    main()
