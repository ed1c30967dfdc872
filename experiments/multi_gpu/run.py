"""Run the parts of ``experiments/multi_gpu/PLAN.md``: several processes through torchrun.

    python experiments/multi_gpu/run.py equivalence --runs /tmp/mg --out results/multi_gpu   # parts A and B (CPU)
    python experiments/multi_gpu/run.py scaling --nprocs 1 2 --runs /tmp/mg --out OUT        # part C (GPUs)
    python experiments/multi_gpu/run.py one-gpu --runs /tmp/mg --out OUT                     # part D (one GPU)
    python experiments/multi_gpu/run.py determinism --runs /tmp/mg --out OUT                 # FOLLOWUP.md (one GPU)

Each part writes ``OUT/<part>.json``: every run's command, validation curve, training
losses and tokens/s, the plan's endpoint and decision, and the provenance (command,
device, torch, git commit). SIGTERM or SIGINT is passed on to the running trainers (and
torchrun's workers); the part then writes nothing and exits with 128 + the signal's number.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cubit_lite.results import provenance, save_json  # noqa: E402
from experiments.run_lm import Signals  # noqa: E402  (SIGTERM and SIGINT recorded, passed on to the trainers)

SMALL = ["--mixer", "cubit", "--corpus", "shakespeare", "--max-chars", "300000", "--n-layer", "2", "--n-head", "2",
         "--d-model", "64", "--block-size", "64", "--steps", "300", "--lr", "1e-3", "--warmup", "20",
         "--eval-interval", "25", "--eval-batches", "8", "--log-interval", "5", "--device", "cpu"]
RUNNING: set[subprocess.Popen] = set()  # the trainers running now (several at once in `determinism`)
LOCK = threading.Lock()
STOP = Signals(forward=lambda signum: [process.send_signal(signum) for process in list(RUNNING)])


class Interrupted(Exception):
    """SIGTERM or SIGINT arrived; it was passed on to the running trainers."""


GPU_SIZE = ["--corpus", "shakespeare", "--n-layer", "4", "--n-head", "4", "--d-model", "256", "--dropout", "0.1",
            "--warmup", "20", "--eval-batches", "4"]


def train(name: str, runs: Path, nprocs: int | None, args: list[str]) -> dict:
    """One ``cubit_lite.train`` run; ``nprocs=None`` is the plain ``python -m`` command."""
    out = runs / name
    if nprocs is None:
        command = [sys.executable, "-m", "cubit_lite.train"]
    else:
        # torchrun, through this Python (the same as the `torchrun` script beside it)
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nprocs}",
                   "-m", "cubit_lite.train"]
    command += ["--out", str(out), "--no-progress", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = _run(command, env)
    if STOP.received is not None:
        raise Interrupted(STOP.received)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n"
                         f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {
        "name": name, "processes": nprocs or 1, "launcher": "python" if nprocs is None else "torchrun",
        "command": " ".join(command[command.index("cubit_lite.train") - 1:]),
        "val": {r["step"]: r["val_loss"] for r in log if "val_loss" in r},
        "train": {r["step"]: r["train_loss"] for r in log if "train_loss" in r},
        "tokens_per_second": [r["tokens_per_second"] for r in log if "tokens_per_second" in r],
        "stdout_head": done.stdout.splitlines()[:2],
    }


def _run(command: list[str], env: dict) -> subprocess.CompletedProcess:
    """``subprocess.run`` (in the repository root, output captured, an hour at most) whose process gets the
    signals the runner receives (its own process group: a terminal's Ctrl-C reaches it through the runner)."""
    if STOP.received is not None:
        raise Interrupted(STOP.received)
    with LOCK:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=env, process_group=0)
        RUNNING.add(process)
    try:
        if STOP.received is not None:  # arrived while it started
            process.send_signal(STOP.received)
        try:
            stdout, stderr = process.communicate(timeout=3600)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
    finally:
        RUNNING.discard(process)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def mean_abs_gap(a: dict, b: dict, steps) -> float:
    return statistics.fmean(abs(a[s] - b[s]) for s in steps)


def max_abs_gap(a: dict, b: dict) -> float:
    common = sorted(set(a) & set(b))
    return max(abs(a[s] - b[s]) for s in common)


def equivalence(runs: Path) -> dict:
    """Parts A and B on the CPU (gloo)."""
    one = train("one-s0", runs, None, [*SMALL, "--batch-size", "16", "--seed", "0"])
    seed1 = train("one-s1", runs, None, [*SMALL, "--batch-size", "16", "--seed", "1"])
    two = train("two-s0", runs, 2, [*SMALL, "--batch-size", "8", "--seed", "0"])
    two_again = train("two-s0-again", runs, 2, [*SMALL, "--batch-size", "8", "--seed", "0"])
    train("two-s0-resumed", runs, 2, [*SMALL, "--batch-size", "8", "--seed", "0", "--stop-at", "150"])
    resumed = train("two-s0-resumed", runs, 2, [*SMALL, "--batch-size", "8", "--seed", "0", "--resume"])
    late = [s for s in one["val"] if 150 <= s <= 300]
    d, s = mean_abs_gap(two["val"], one["val"], late), mean_abs_gap(seed1["val"], one["val"], late)
    resume_gap = max(max_abs_gap(resumed["train"], two["train"]), max_abs_gap(resumed["val"], two["val"]))
    noise = max(max_abs_gap(two_again["train"], two["train"]), max_abs_gap(two_again["val"], two["val"]))
    return {
        "runs": [one, seed1, two, two_again, resumed],
        "A": {"D_two_vs_one": d, "S_seed1_vs_seed0": s, "steps": late, "tolerance": max(s, 0.02),
              "equivalent": d <= max(s, 0.02)},
        "B": {"resumed_vs_uninterrupted_max_abs": resume_gap, "run_to_run_max_abs": noise,
              "exact": resume_gap <= noise},
    }


def scaling(runs: Path, nprocs: list[int]) -> dict:
    """Part C: tokens/s with 1..N processes (one GPU each)."""
    rows = []
    for mixer in ("transformer", "cubit"):
        extra = ["--mixer-option", "implementation=triton"] if mixer == "cubit" else []
        for block, batch in ((256, 64), (1024, 16)):
            for n in nprocs:
                run = train(f"scale-{mixer}-T{block}-n{n}", runs, n,
                            [*GPU_SIZE, "--mixer", mixer, *extra, "--block-size", str(block), "--batch-size",
                             str(batch), "--steps", "200", "--eval-interval", "1000", "--log-interval", "10"])
                speeds = run["tokens_per_second"][5:]  # after step 50
                rows.append({"mixer": mixer, "block_size": block, "batch_per_process": batch, "processes": n,
                             "tokens_per_second": statistics.median(speeds), "run": run})
    for row in rows:
        base = next(r for r in rows if r["mixer"] == row["mixer"] and r["block_size"] == row["block_size"]
                    and r["processes"] == min(nprocs))
        row["scaling_vs_fewest"] = row["tokens_per_second"] / base["tokens_per_second"]
    return {"rows": rows}


def one_gpu(runs: Path) -> dict:
    """Part D: the plain command and torchrun with one process on one GPU; a resume of the latter."""
    args = [*GPU_SIZE, "--mixer", "cubit", "--block-size", "256", "--batch-size", "64", "--steps", "200",
            "--eval-interval", "25", "--log-interval", "10", "--seed", "0"]
    plain = train("gpu-plain", runs, None, args)
    launched = train("gpu-torchrun", runs, 1, args)
    train("gpu-torchrun-resumed", runs, 1, [*args, "--stop-at", "100"])
    resumed = train("gpu-torchrun-resumed", runs, 1, [*args, "--resume"])
    gap = max_abs_gap(plain["val"], launched["val"])
    return {
        "runs": [plain, launched, resumed],
        "torchrun_vs_plain_val_max_abs": gap, "agree": gap <= 0.01,
        "resumed_vs_torchrun_val_max_abs": max_abs_gap(resumed["val"], launched["val"]),
        "tokens_per_second_median": {r["name"]: statistics.median(r["tokens_per_second"][5:])
                                     for r in (plain, launched)},
    }


def determinism(runs: Path) -> dict:
    """Follow-up (FOLLOWUP.md): the plain command twice, per solve; how far apart two identical runs end up."""
    args = [*GPU_SIZE, "--block-size", "256", "--batch-size", "64", "--steps", "200", "--eval-interval", "25",
            "--log-interval", "10", "--seed", "0"]
    arms = {"cubit-auto": ["--mixer", "cubit"],
            "cubit-reference": ["--mixer", "cubit", "--mixer-option", "implementation=reference"],
            "transformer": ["--mixer", "transformer"]}
    result: dict = {"runs": [], "arms": {}, "note": "the three arms ran at the same time on the GPU, "
                    "each arm's two runs one after the other"}

    def pair(arm: str) -> tuple[dict, dict]:
        extra = arms[arm]
        return (train(f"det-{arm}-1", runs, None, [*args, *extra]),
                train(f"det-{arm}-2", runs, None, [*args, *extra]))

    with concurrent.futures.ThreadPoolExecutor(len(arms)) as pool:
        pairs = dict(zip(arms, pool.map(pair, arms), strict=True))
    for arm, (first, second) in pairs.items():
        result["runs"] += [first, second]
        result["arms"][arm] = {"val_max_abs": max_abs_gap(first["val"], second["val"]),
                               "train_max_abs": max_abs_gap(first["train"], second["train"]),
                               "bitwise_equal": first["val"] == second["val"] and first["train"] == second["train"]}
    return result


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=("equivalence", "scaling", "one-gpu", "determinism"))
    parser.add_argument("--runs", type=Path, required=True, help="folder for the runs (must not hold them yet)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the part's JSON")
    parser.add_argument("--nprocs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--git-commit", default=None)
    args = parser.parse_args(argv)
    if any(n < 1 for n in args.nprocs):
        parser.error(f"--nprocs must be integers >= 1 (processes per run); got {' '.join(map(str, args.nprocs))}")
    args.runs, args.out = Path(os.path.abspath(args.runs)), Path(os.path.abspath(args.out))  # trainers run in ROOT
    if args.runs.exists() and any(args.runs.iterdir()):
        parser.error(f"--runs {args.runs} is not empty: give a new folder (runs are never overwritten)")
    args.runs.mkdir(parents=True, exist_ok=True)
    try:
        with STOP:
            if args.part == "equivalence":
                result, device = equivalence(args.runs), "cpu"
            elif args.part == "scaling":
                result, device = scaling(args.runs, args.nprocs), None
            elif args.part == "one-gpu":
                result, device = one_gpu(args.runs), None
            else:
                result, device = determinism(args.runs), None
    except Interrupted as stop:
        name = signal.Signals(stop.args[0]).name
        print(f"interrupted by {name}: {args.part}.json was not written (a part needs all its runs); run the part "
              f"again with a new --runs", file=sys.stderr, flush=True)
        sys.exit(128 + stop.args[0])
    result.update(provenance(__file__, argv, git_commit=args.git_commit, device=device))
    if device == "cpu":
        result["device"] = f"CPU ({os.cpu_count()} cores; processes joined by gloo)"
    result["plan"] = "experiments/multi_gpu/PLAN.md"
    args.out.mkdir(parents=True, exist_ok=True)
    save_json(args.out / f"{args.part}.json", result)
    summary = {k: v for k, v in result.items() if k not in ("runs", "rows")}
    print(json.dumps(summary, indent=1, default=str)[:4000])


if __name__ == "__main__":
    main()
