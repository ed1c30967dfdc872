"""Time and profile whole training steps of the character LM: where a step's time goes.

One step is what ``cubit_lite.train`` does per batch — forward under bf16 autocast on a
GPU, backward, gradient clipping, fused AdamW — on random token ids (no data loading,
no evaluation), so that the tokens/s of two mixers compare their models alone. The
report gives the median step time over ``--repeat`` steps (CUDA events) and a
``torch.profiler`` table of three more steps.

    python benchmarks/profile_lm_step.py --mixer cubit --block-size 1024 --batch-size 16 \\
        --mixer-option implementation=triton
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
sys.path.insert(0, str(ROOT / "benchmarks"))

from mixer_speed import synchronize, time_once  # noqa: E402

from cubit_lite.mixers import MIXER_NAMES  # noqa: E402
from cubit_lite.model import CharLM, ModelConfig  # noqa: E402
from cubit_lite.train import _option  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mixer", required=True, choices=MIXER_NAMES)
    parser.add_argument("--mixer-option", action="append", default=[], type=_option, metavar="NAME=VALUE")
    parser.add_argument("--block-size", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--n-layer", type=int, default=4)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--vocab-size", type=int, default=65)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rows", type=int, default=25, help="rows of the profile table")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--git-commit", default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=args.vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                         n_head=args.n_head, d_model=args.d_model, mixer=args.mixer,
                         mixer_options=dict(args.mixer_option), dropout=0.1)
    model = CharLM(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=device.type == "cuda")
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    ids = torch.randint(args.vocab_size, (args.batch_size, args.block_size + 1), device=device)
    x, y = ids[:, :-1], ids[:, 1:]

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    for _ in range(args.warmup):
        step()
    synchronize(device)
    step_ms = statistics.median(time_once(step, device) for _ in range(args.repeat))
    tokens_per_second = args.batch_size * args.block_size / (step_ms / 1e3)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities, acc_events=True) as prof:
        for _ in range(3):
            step()
        synchronize(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    sort = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    print(f"{name}, torch {torch.__version__}, git {args.git_commit or 'unknown'}: {args.mixer} "
          f"{dict(args.mixer_option)}, {args.n_layer}×{args.n_head} heads, d_model {args.d_model}, "
          f"T={args.block_size}, batch {args.batch_size}, {'bf16 autocast' if bf16 else 'fp32'}")
    print(f"median step {step_ms:.3f} ms over {args.repeat} steps → {tokens_per_second:,.0f} tokens/s")
    print(f"profile of 3 steps, sorted by {sort}")
    print(prof.key_averages().table(sort_by=sort, row_limit=args.rows, max_name_column_width=70))
    return {"step_ms": step_ms, "tokens_per_second": tokens_per_second}


if __name__ == "__main__":
    main()
