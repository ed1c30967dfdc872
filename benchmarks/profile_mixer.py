"""Profile one row of ``mixer_speed.py`` with ``torch.profiler``: where its forward+backward time goes.

Runs the mixer on the benchmark's inputs (``B · T`` = ``--tokens``), three profiled
forward+backward passes after two warm-ups, and prints the profiler's table sorted by
device time (CUDA) or CPU time, headed by the device, shape and git commit::

    python benchmarks/profile_mixer.py --mixer cubit-triton --length 4096 --dtype fp32 > profile.txt
"""

from __future__ import annotations

import argparse

import cli_checks
import mixer_speed
import torch
from torch.profiler import ProfilerActivity, profile


def main(argv: list[str] | None = None) -> str:
    positive = cli_checks.integer(1)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mixer", required=True, choices=list(mixer_speed.MIXERS))
    parser.add_argument("--length", type=positive, default=4096)
    parser.add_argument("--dtype", default="fp32", choices=list(mixer_speed.DTYPES))
    parser.add_argument("--tokens", type=positive, default=16384)
    parser.add_argument("--heads", type=positive, default=8)
    parser.add_argument("--head-dim", type=positive, default=64)
    parser.add_argument("--device", default=cli_checks.default_device(), help="cpu, cuda, cuda:N or mps")
    parser.add_argument("--rows", type=positive, default=25, help="rows of the table")
    parser.add_argument("--git-commit", default=None)
    args = parser.parse_args(argv)
    if args.length > args.tokens:
        parser.error(f"--length must be between 1 and --tokens ({args.tokens})")
    device = cli_checks.device(parser, args.device)
    cli_checks.need_cuda(parser, device, [args.mixer] if args.mixer in mixer_speed.GPU_ONLY else [], "Triton kernels")
    batch = args.tokens // args.length
    cli_checks.check_memory(parser, mixer_speed.input_bytes(batch, args.heads, args.length, args.head_dim,
                                                            mixer_speed.DTYPES[args.dtype]),
                            device, "the inputs alone", "--tokens, --heads or --head-dim")
    inputs = mixer_speed.make_inputs(batch, args.heads, args.length, args.head_dim,
                                     mixer_speed.DTYPES[args.dtype], device, seed=0)
    run = mixer_speed.MIXERS[args.mixer]
    grad_out = torch.randn_like(run(inputs).detach())

    def step():
        for tensor in inputs.values():
            tensor.grad = None
        run(inputs).backward(grad_out)

    for _ in range(2):
        step()
    mixer_speed.synchronize(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities, acc_events=True) as prof:
        for _ in range(3):
            step()
        mixer_speed.synchronize(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    sort = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    header = (f"{name}, torch {torch.__version__}, git {args.git_commit or 'unknown'}: {args.mixer}, "
              f"{args.dtype}, B={batch} H={args.heads} T={args.length} D={args.head_dim}, 3 fwd+bwd "
              f"(after 2 warm-ups), sorted by {sort}")
    text = header + "\n" + prof.key_averages().table(sort_by=sort, row_limit=args.rows, max_name_column_width=70)
    print(text)
    return text


if __name__ == "__main__":
    main()
