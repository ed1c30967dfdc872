"""Run a grid of training runs (mixers × seeds) in parallel and collect one results JSON.

Every run is ``python -m cubit_lite.train`` with the same arguments except ``--mixer``
and ``--seed``; several runs share one GPU at a time (``--parallel``), which keeps a
large GPU busy with small models. The JSON written to ``--summary`` holds, for each
run, its validation-loss curve, its final and best validation loss, the loss per
position of the last evaluation, its parameter count and its measured tokens/s, plus
the provenance of the whole grid (command, device, torch, seeds, git commit).

Example (the book's main comparison)::

    python experiments/run_lm.py --name main --mixers transformer cubit cubit-nolrr \\
        cubit-share deltaformer --seeds 0 1 2 --parallel 5 --runs runs/main \\
        --summary results/lm_main.json -- --corpus shakespeare --block-size 256 --steps 3000

Arguments after ``--`` go to every ``cubit_lite.train`` run unchanged.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cubit_lite.results import provenance, save_json  # noqa: E402


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    argv = sys.argv[1:] if argv is None else list(argv)
    train_args = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True, help="a name for this grid, stored in the JSON")
    parser.add_argument("--mixers", nargs="+", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--parallel", type=int, default=1, help="runs at a time")
    parser.add_argument("--runs", type=Path, required=True, help="folder for the runs' outputs")
    parser.add_argument("--summary", type=Path, required=True, help="the results JSON to write")
    parser.add_argument("--export", nargs="*", default=[], metavar="MIXER:SEED",
                        help="also write a small fp16 copy of these runs' best checkpoints next to the summary")
    parser.add_argument("--git-commit", default=None)
    return parser.parse_args(own), train_args


def launch(mixer: str, seed: int, runs: Path, train_args: list[str]) -> tuple[subprocess.Popen, Path, float]:
    out = runs / f"{mixer}-s{seed}"
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "cubit_lite.train", "--mixer", mixer, "--seed", str(seed), "--out", str(out),
               "--no-progress", *train_args]
    with (out / "stdout.log").open("w") as log:  # the child keeps its own handle
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    return process, out, time.time()


def summarise(mixer: str, seed: int, out: Path, wall: float, returncode: int) -> dict:
    run = {"mixer": mixer, "seed": seed, "returncode": returncode, "wall_seconds": wall}
    log_text = (out / "stdout.log").read_text(errors="replace")
    if returncode != 0:
        run["error"] = log_text[-2000:]
        return run
    summary = json.loads(log_text.strip().splitlines()[-1])
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    vals = [r for r in records if "val_loss" in r]
    trains = [r for r in records if "train_loss" in r]
    run.update(
        num_parameters=summary["num_parameters"],
        final_val_loss=summary["final_val_loss"],
        best_val_loss=summary["best_val_loss"],
        val_curve=[[r["step"], r["val_loss"]] for r in vals],
        train_curve=[[r["step"], r["train_loss"]] for r in trains],
        tokens_per_second=statistics.median(r["tokens_per_second"] for r in trains[1:] or trains),
        val_loss_per_position=vals[-1].get("val_loss_per_position"),
        train_config=json.loads((out / "config.json").read_text()),
    )
    return run


def main(argv: list[str] | None = None) -> dict:
    args, train_args = parse_args(argv)
    grid = [(m, s) for s in args.seeds for m in args.mixers]
    pending, running, runs = list(grid), [], []
    started = time.time()
    def write_summary(final: bool) -> dict:
        result = {
            "name": args.name,
            "complete": final and all(r["returncode"] == 0 for r in runs) and len(runs) == len(grid),
            **provenance(__file__, sys.argv[1:] if argv is None else list(argv), git_commit=args.git_commit),
            "seeds": args.seeds,
            "parallel_runs": args.parallel,
            "wall_seconds": time.time() - started,
            "runs": sorted(runs, key=lambda r: (args.mixers.index(r["mixer"]), r["seed"])),
        }
        save_json(args.summary, result)
        return result

    while pending or running:
        while pending and len(running) < args.parallel:
            mixer, seed = pending.pop(0)
            running.append((mixer, seed, *launch(mixer, seed, args.runs, train_args)))
        time.sleep(2)
        for item in list(running):
            mixer, seed, process, out, t0 = item
            if process.poll() is not None:
                running.remove(item)
                runs.append(summarise(mixer, seed, out, time.time() - t0, process.returncode))
                r = runs[-1]
                print(f"[{time.time() - started:6.0f}s] {mixer:>12} seed {seed}: "
                      + (f"final val {r['final_val_loss']:.4f}, {r['tokens_per_second']:,.0f} tok/s, "
                         f"{r['wall_seconds']:.0f}s" if r["returncode"] == 0 else f"FAILED ({r['returncode']})"),
                      flush=True)
                write_summary(final=False)  # partial results survive an interrupted grid
    result = write_summary(final=True)
    from cubit_lite.checkpoint import export_weights

    for item in args.export:
        mixer, seed = item.split(":")
        export_weights(args.runs / f"{mixer}-s{seed}" / "best.pt",
                       args.summary.parent / f"{args.name}-{mixer}-s{seed}.pt")
    print(f"wrote {args.summary}")
    return result


if __name__ == "__main__":
    main()
