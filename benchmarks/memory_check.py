"""Check cubit_lite.memory's estimates against a GPU's own count, for the sizes the chapters use.

For each case below it computes the estimate from the shapes (fake tensors, no GPU) and,
where there is a CUDA GPU, runs the same sequence on it — build the model, let AdamW
make its moments, then one training step (or one evaluation forward pass) — and
records ``torch.cuda.max_memory_allocated()``. Everything runs in float32 with Cubit's
reference solve: what ``precision="auto"`` and ``implementation="auto"`` pick on a T4.

    python benchmarks/memory_check.py --out results/ch07/memory_check_h200.json

The cases: chapter 7's live run on a GPU (the main comparison's shape: 4 layers,
4 heads, width 256, batch 64 of 256 characters, dropout 0.1) for the Transformer and
Cubit; the same at 1024 characters and batch 16; chapter 8's probe (an evaluation
forward pass of the block-256 models on one batch of 64 windows).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
from pathlib import Path

import cli_checks
import torch

from cubit_lite.memory import forward_memory, training_step_memory
from cubit_lite.model import CharLM
from cubit_lite.train import TrainConfig, make_optimizer

ROOT = Path(__file__).resolve().parents[1]

VOCAB = 65  # Shakespeare's characters
MAIN = dict(block_size=256, n_layer=4, n_head=4, d_model=256, batch_size=64, dropout=0.1)
CASES = [
    {"name": "ch6-live-transformer", "kind": "train", "mixer": "transformer", **MAIN},
    {"name": "ch6-live-cubit", "kind": "train", "mixer": "cubit", **MAIN},
    {"name": "T1024-transformer", "kind": "train", "mixer": "transformer",
     **(MAIN | {"block_size": 1024, "batch_size": 16})},
    {"name": "T1024-cubit", "kind": "train", "mixer": "cubit", **(MAIN | {"block_size": 1024, "batch_size": 16})},
    {"name": "ch7-probe-transformer", "kind": "forward", "mixer": "transformer", **MAIN},
    {"name": "ch7-probe-cubit", "kind": "forward", "mixer": "cubit", **MAIN},
]


def config_of(case: dict) -> TrainConfig:
    shape = {k: case[k] for k in ("mixer", "block_size", "n_layer", "n_head", "d_model", "batch_size", "dropout")}
    options = {"implementation": "reference"} if case["mixer"] != "transformer" else {}
    return TrainConfig(out="unused", mixer_options=options, precision="fp32", **shape)


def estimate(case: dict) -> int:
    config = config_of(case)
    if case["kind"] == "train":
        return training_step_memory(config, VOCAB).peak
    return forward_memory(config.model_config(VOCAB), config.batch_size, config.block_size)


def measure(case: dict, device: torch.device) -> int:
    """The same sequence as the estimate, on the GPU: peak bytes allocated above what was there before."""
    config = config_of(case)
    torch.cuda.empty_cache()
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    model = CharLM(config.model_config(VOCAB)).to(device)
    tokens = torch.randint(VOCAB, (config.batch_size, config.block_size), device=device)
    if case["kind"] == "train":
        model.train()
        optimizer = make_optimizer(model, config, fused=False)
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        _, loss = model(tokens, tokens)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        del optimizer, loss
    else:
        model.eval()
        with torch.no_grad():
            model(tokens)
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - before
    del model, tokens
    return peak


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--git-commit", default=None, help="commit of the code (default: git rev-parse HEAD)")
    cli_checks.add_overwrite(parser)
    args = parser.parse_args(argv)
    cli_checks.check_out(parser, args.out, args.overwrite)
    device = torch.device("cuda") if torch.cuda.is_available() else None
    commit = args.git_commit or subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                               text=True).stdout.strip() or None
    rows = []
    for case in CASES:
        row = dict(case, estimate_bytes=estimate(case))
        row["measured_bytes"] = measure(case, device) if device is not None else None
        rows.append(row)
        ratio = "" if row["measured_bytes"] is None else f"  measured {row['measured_bytes'] / 2**30:.3f} GiB"
        print(f"{case['name']:>24}: estimate {row['estimate_bytes'] / 2**30:.3f} GiB{ratio}", flush=True)
    result = {
        "name": "memory_check",
        "command": "python benchmarks/memory_check.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "device": torch.cuda.get_device_name(device) if device is not None else f"cpu ({platform.processor()})",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "git_commit": commit,
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "vocab_size": VOCAB,
        "precision": "fp32",
        "cubit_implementation": "reference",
        "cases": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
