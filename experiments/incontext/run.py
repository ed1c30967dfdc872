"""The in-context regression experiment of PLAN.md: pilot, main runs, baselines, analysis.

    # on the GPU machine: the pilot (learning rate per arm), then the main runs
    python experiments/incontext/run.py train-all --out OUT --git-commit HASH
    # anywhere (CPU): the baselines of chapters 1-4 on the same evaluation prompts
    python experiments/incontext/run.py baselines --out OUT
    # anywhere: the endpoint, intervals and tables -> results/incontext.json
    python experiments/incontext/run.py analyse --runs OUT --summary results/incontext.json

``train-all`` runs ``--parallel`` training processes at a time (``one`` is the command
each runs). Every prompt set is fixed by its generator seed (PLAN.md), so the models and
the baselines see the same prompts wherever they run. A run whose folder in ``--scratch``
already holds its results is not run again, and an existing packed file in ``--out`` is
refused unless ``--scratch`` still holds every run it packed, so the same command can run
again after an interruption (SIGTERM or SIGINT stops the running trainers and keeps what
finished). ``train-all`` exits with status 1 when a run failed, after packing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import NoReturn

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cubit_lite import results  # noqa: E402
from cubit_lite.incontext import (  # noqa: E402
    GPPrior,
    InContextConfig,
    gp_prefix_predictions,
    model_predictions,
    nw_loo_predictions,
    sample_prompts,
    stream_predictions,
    train_incontext,
)
from experiments.run_lm import run_processes  # noqa: E402  (the grid runner's loop: parallel runs, signals)

ARMS = ("transformer", "cubit", "cubit-share", "deltaformer")
PILOT_LRS = (3e-4, 1e-3, 3e-3)
PILOT_SEED = 100
MAIN_SEEDS = (0, 1, 2)
NOISES = (0.05, 0.15, 0.5)
N_POINTS = 40
MODEL = dict(n_points=N_POINTS, n_layer=4, n_head=4, d_model=128, positions="rotary")
TRAIN = dict(steps=3000, batch_size=128, warmup=150)
NW_BANDWIDTHS = np.geomspace(0.02, 1.0, 16)
KRR_BANDWIDTHS = np.geomspace(0.05, 0.8, 8)
KRR_LAMBDAS = np.geomspace(1e-3, 1.0, 7)


def validation_prompts():
    return sample_prompts(512, N_POINTS, GPPrior(), generator=torch.Generator().manual_seed(7))


def evaluation_prompts(noise: float, index: int):
    generator = torch.Generator().manual_seed(1000 + index)
    return sample_prompts(512, N_POINTS, GPPrior(noise=(noise, noise)), generator=generator)


def tuning_prompts(noise: float, index: int):
    generator = torch.Generator().manual_seed(2000 + index)
    return sample_prompts(256, N_POINTS, GPPrior(noise=(noise, noise)), generator=generator)


def deviation(pred: torch.Tensor, prompts) -> float:
    """Mean of (ŷ_t − m_t)² over prompts and positions t = 2..n."""
    mean, _ = gp_prefix_predictions(prompts)
    return float(((pred - mean)[:, 1:] ** 2).mean())


# --------------------------------------------------------------------------- #
# One training run (a child process)
# --------------------------------------------------------------------------- #
def one(args) -> None:
    torch.set_num_threads(1)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = InContextConfig(mixer=args.mixer, **MODEL)
    start = time.perf_counter()
    train = {**TRAIN, "steps": args.steps or TRAIN["steps"]}
    model, log = train_incontext(config, lr=args.lr, seed=args.seed, device=device, **train)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    predictions = {"validation": model_predictions(model, validation_prompts()).numpy()}
    for index, noise in enumerate(NOISES):
        predictions[f"noise={noise}"] = model_predictions(model, evaluation_prompts(noise, index)).numpy()
    np.savez(out / "predictions.npz", **predictions)
    record = {"mixer": args.mixer, "lr": args.lr, "seed": args.seed, "config": asdict(config), "train": train,
              "train_seconds": seconds, "device": device, "log": log,
              "parameters": sum(p.numel() for p in model.parameters())}
    (out / "run.json").write_text(json.dumps(record) + "\n", encoding="utf-8")
    if args.save_weights:
        torch.save({name: t.half() for name, t in model.state_dict().items()}, out / "weights.pt")


def finished(folder: Path, save_weights: bool) -> bool:
    """Whether ``folder`` holds a completed run: its record and predictions (and weights, if asked for)."""
    return ((folder / "run.json").is_file() and (folder / "predictions.npz").is_file()
            and (not save_weights or (folder / "weights.pt").is_file()))


def launch_all(jobs, parallel: int, out: Path, steps: int | None = None) -> tuple[list[str], int | None]:
    """Run the jobs ``(mixer, lr, seed, save_weights)``, ``parallel`` at a time; finished runs are kept, not rerun.

    Returns the names of the runs that failed, and the signal (SIGTERM or SIGINT) that stopped the
    runner, passed on to its running trainers, or None.
    """
    todo = []
    for job in jobs:
        folder = out / run_name(*job[:3])
        if finished(folder, job[3]):
            print(f"{folder.name}: already finished, kept", flush=True)
        else:
            todo.append(job)
    failed: list[str] = []

    def start(job) -> subprocess.Popen:
        mixer, lr, seed, save = job
        folder = out / run_name(mixer, lr, seed)
        command = [sys.executable, __file__, "one", "--mixer", mixer, "--lr", str(lr), "--seed", str(seed),
                   "--out", str(folder)] + (["--save-weights"] if save else []) + (
                   ["--steps", str(steps)] if steps else [])
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "stdout.log").open("w") as log:  # an unfinished run's log: it starts again
            return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, process_group=0)

    def finish(job, process: subprocess.Popen, seconds: float, forwarded: int | None) -> None:
        name = run_name(*job[:3])
        print(f"{name}: exit {process.returncode}", flush=True)
        if process.returncode != 0:
            failed.append(name)

    return failed, run_processes(todo, parallel, start, finish)


def run_name(mixer: str, lr: float, seed: int) -> str:
    return f"{mixer}-lr{lr:g}-s{seed}"


def check_packed(final: Path, out: Path, phase: str) -> None:
    """Refuse to pack over ``final/runs-PHASE.json`` unless ``out`` still holds every run it packed."""
    path = final / f"runs-{phase}.json"
    if not path.exists():
        return
    try:
        packed = json.loads(path.read_text(encoding="utf-8"))["runs"]
        kept = [name for name, record in packed.items() if "failed" not in record]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        refuse(f"{path} already exists and is not a packed result: it is kept; choose another --out")
    missing = [name for name in kept if not (out / name / "run.json").is_file()]
    if missing:
        refuse(f"{path} already holds {len(missing)} finished run(s) that --scratch {out} does not "
               f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}): packing again would lose them; "
               "choose another --out, or the --scratch that made it")


def refuse(message: str) -> NoReturn:
    """Bad input, before any work: one line ``error: ...`` and exit status 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def stop(signum: int, out: Path) -> None:
    """After SIGTERM or SIGINT (passed on to the trainers): say how to continue, and exit with 128 + its number."""
    print(f"interrupted by {signal.Signals(signum).name}: nothing packed; the finished runs are kept in {out}: "
          "run the same command again to continue (finished runs are not run again)", flush=True)
    sys.exit(128 + signum)


def train_all(args) -> None:
    """Pilot, choice of learning rates, main runs; then pack everything into at most 8 files in ``--out``."""
    final, out = Path(os.path.abspath(args.out)), Path(os.path.abspath(args.scratch))  # the runs run in ROOT
    check_packed(final, out, args.phase)
    final.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    failed: list[str] = []
    if args.phase in ("pilot", "all"):
        pilot = [(m, lr, PILOT_SEED, False) for m, lr in itertools.product(ARMS, PILOT_LRS)]
        failures, signum = launch_all(pilot, args.parallel, out, args.steps)
        failed += failures
        if signum is not None:
            stop(signum, out)
    if args.phase == "main":  # the pilot ran in an earlier call; its choice travels as JSON
        chosen = {mixer: float(lr) for mixer, lr in json.loads(args.chosen_lr).items()}
    else:
        chosen = choose_learning_rates(out)
    unchosen = [mixer for mixer in ARMS if mixer not in chosen]
    if args.phase in ("main", "all") and not unchosen:
        failures, signum = launch_all([(m, chosen[m], s, s == 0) for s, m in itertools.product(MAIN_SEEDS, ARMS)],
                                      args.parallel, out, args.steps)
        failed += failures
        if signum is not None:
            stop(signum, out)
    pack(args, out, final, chosen, started)
    if unchosen and args.phase == "all":
        sys.exit(f"no pilot run of {', '.join(unchosen)} finished, so no learning rate was chosen and the main runs "
                 f"did not start; the failed runs' logs are in {final / f'runs-{args.phase}.json'}")
    if failed:
        sys.exit(f"{len(failed)} run(s) failed ({', '.join(failed)}); packed what finished in {final}, with the "
                 "failed runs' logs")


def choose_learning_rates(out: Path) -> dict:
    """PLAN.md's rule: per arm, the pilot rate of least deviation from the GP mean (4 digits; ties: smaller)."""
    validation = validation_prompts()
    chosen = {}
    for mixer in ARMS:
        scores = {}
        for lr in PILOT_LRS:
            path = out / run_name(mixer, lr, PILOT_SEED) / "predictions.npz"
            if path.exists():  # a diverged pilot run writes no predictions and is not a candidate
                pred = torch.from_numpy(np.load(path)["validation"]).double()
                scores[lr] = float(f"{deviation(pred, validation):.4g}")  # 4 significant digits
        if not scores:  # no candidate: the arm is left out (train_all says so)
            print(f"{mixer}: no pilot run finished; no learning rate chosen", flush=True)
            continue
        chosen[mixer] = min(scores, key=lambda lr: (scores[lr], lr))
        print(f"{mixer}: pilot deviations {scores}; chosen lr {chosen[mixer]}", flush=True)
    return chosen


def pack(args, out: Path, final: Path, chosen: dict, started: float) -> None:
    meta = {"phase": args.phase, "git_commit": args.git_commit, "command": "python " + " ".join(sys.argv),
            "chosen_lr": chosen,
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor(),
            "torch": torch.__version__, "python": platform.python_version(), "wall_seconds": time.time() - started}
    runs, arrays = {}, {}
    for folder in sorted(p for p in out.iterdir() if (p / "run.json").exists()):
        runs[folder.name] = json.loads((folder / "run.json").read_text())
        for key, value in np.load(folder / "predictions.npz").items():
            arrays[f"{folder.name}/{key}"] = value.astype(np.float32)
        if (folder / "weights.pt").exists():
            (final / f"weights-{runs[folder.name]['mixer']}.pt").write_bytes((folder / "weights.pt").read_bytes())
    failed = sorted(p.name for p in out.iterdir() if p.is_dir() and not (p / "run.json").exists())
    for name in failed:
        runs[name] = {"failed": (out / name / "stdout.log").read_text()[-3000:]}
    meta["failed_runs"] = failed
    (final / f"runs-{args.phase}.json").write_text(json.dumps({"meta": meta, "runs": runs}) + "\n",
                                                   encoding="utf-8")
    np.savez_compressed(final / f"predictions-{args.phase}.npz", **arrays)


# --------------------------------------------------------------------------- #
# Baselines (CPU)
# --------------------------------------------------------------------------- #
def baselines(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {}
    for index, noise in enumerate(NOISES):
        tuning = tuning_prompts(noise, index)
        tuned = {}
        for method in ("krr", "surrogate"):
            grid = [(h, lam) for h in KRR_BANDWIDTHS for lam in KRR_LAMBDAS]
            errors = [float(((stream_predictions(tuning, method, bandwidth=h, lam=lam) - tuning.y)[:, 1:] ** 2).mean())
                      for h, lam in grid]
            tuned[method] = grid[int(np.argmin(errors))]
        prompts = evaluation_prompts(noise, index)
        mean, variance = gp_prefix_predictions(prompts)
        result[f"noise={noise}"] = {
            "gp_mean": mean.tolist(), "gp_variance": variance.tolist(), "y": prompts.y.tolist(),
            "x": prompts.x.tolist(), "lengthscale": prompts.lengthscale.tolist(),
            "nw_loo": nw_loo_predictions(prompts, NW_BANDWIDTHS).tolist(),
            "krr": stream_predictions(prompts, "krr", bandwidth=tuned["krr"][0], lam=tuned["krr"][1]).tolist(),
            "surrogate": stream_predictions(prompts, "surrogate", bandwidth=tuned["surrogate"][0],
                                            lam=tuned["surrogate"][1]).tolist(),
            "tuned": {k: {"bandwidth": v[0], "lam": v[1]} for k, v in tuned.items()},
        }
        print(f"noise {noise}: tuned {tuned}", flush=True)
    (out / "baselines.json").write_text(json.dumps(result) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- #
# Analysis
# --------------------------------------------------------------------------- #
def t_interval(values: list[float]) -> dict:
    """cubit_lite.results.t_interval (95%), with the values it was computed from."""
    return {**results.t_interval(values), "values": [float(v) for v in values], "n": len(values)}


def analyse(args) -> None:
    runs, baseline_dir = Path(args.runs), Path(args.baselines or args.runs)
    packed = json.loads((runs / "runs-main.json").read_text())
    meta, records = packed["meta"], packed["runs"]
    if not meta["command"].startswith("python "):  # the runs of 2026-12-02 recorded sys.argv alone
        meta["command"] = "python " + meta["command"]
    arrays = np.load(runs / "predictions-main.npz")  # not committed (7 MB): the per-seed values are in the summary
    pilot = json.loads((runs / "runs-pilot.json").read_text())
    meta["pilot"] = {"chosen_lr": pilot["meta"]["chosen_lr"], "wall_seconds": pilot["meta"]["wall_seconds"],
                     "failed_runs": pilot["meta"]["failed_runs"], "git_commit": pilot["meta"]["git_commit"],
                     "command": pilot["meta"]["command"]}
    if pilot["meta"]["chosen_lr"] != meta["chosen_lr"]:
        raise ValueError("the main runs did not use the pilot's learning rates")
    base = json.loads((baseline_dir / "baselines.json").read_text())
    sets = [f"noise={noise}" for noise in NOISES]
    def as64(values) -> torch.Tensor:
        return torch.as_tensor(np.asarray(values, dtype=np.float64))

    gp = {s: as64(base[s]["gp_mean"]) for s in sets}
    y = {s: as64(base[s]["y"]) for s in sets}

    def per_set(pred: dict) -> dict:
        return {s: float(((as64(pred[s]) - gp[s])[:, 1:] ** 2).mean()) for s in sets}

    def by_position(pred: dict) -> dict:
        return {s: ((as64(pred[s]) - y[s]) ** 2 - (gp[s] - y[s]) ** 2).mean(0).tolist() for s in sets}

    models = {}
    for mixer, seed in itertools.product(ARMS, MAIN_SEEDS):
        name = run_name(mixer, meta["chosen_lr"][mixer], seed)
        record = records[name]
        record["predictions"] = {s: arrays[f"{name}/{s}"].astype(np.float64) for s in sets}
        deviations = per_set(record["predictions"])
        models.setdefault(mixer, []).append({
            "seed": seed, "D": float(np.mean(list(deviations.values()))), "D_by_noise": deviations,
            "excess_mse_by_position": by_position(record["predictions"]), "train_seconds": record["train_seconds"],
            "parameters": record["parameters"], "final_train_loss": record["log"][-1]["loss"]})
    baseline_scores = {}
    for name in ("nw_loo", "krr", "surrogate"):
        deviations = per_set({s: base[s][name] for s in sets})
        baseline_scores[name] = {"D": float(np.mean(list(deviations.values()))), "D_by_noise": deviations,
                                 "excess_mse_by_position": by_position({s: base[s][name] for s in sets})}
    contrasts = {}
    for mixer in ARMS[1:]:
        contrasts[f"{mixer} - transformer"] = {
            "overall": t_interval([a["D"] - b["D"] for a, b in zip(models[mixer], models["transformer"], strict=True)]),
            "by_noise": {s: t_interval([a["D_by_noise"][s] - b["D_by_noise"][s]
                                        for a, b in zip(models[mixer], models["transformer"], strict=True)])
                         for s in sets}}
    primary = contrasts["cubit - transformer"]["overall"]
    verdict = ("Cubit tracks the GP mean more closely" if primary["high"] < 0 else
               "attention tracks the GP mean more closely" if primary["low"] > 0 else
               "the experiment cannot tell Cubit and attention apart")
    plan_commit = subprocess.run(["git", "log", "-n", "1", "--format=%H", "--", "experiments/incontext/PLAN.md"],
                                 capture_output=True, text=True, cwd=ROOT).stdout.strip()
    summary = {"experiment": "incontext", "plan": "experiments/incontext/PLAN.md", "plan_commit": plan_commit,
               **meta, "arms": list(ARMS), "seeds": list(MAIN_SEEDS), "pilot_seed": PILOT_SEED,
               "pilot_lrs": list(PILOT_LRS), "noises": list(NOISES), "n_points": N_POINTS, "model": MODEL,
               "train": TRAIN, "models": models, "baselines": baseline_scores,
               "tuned_baselines": {s: base[s]["tuned"] for s in sets}, "contrasts": contrasts,
               "primary": {**primary, "verdict": verdict}}
    Path(args.summary).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({"primary": summary["primary"], "chosen_lr": meta["chosen_lr"]}, indent=1))


def check_args(parser: argparse.ArgumentParser, args) -> None:
    """Refuse, before any work, what would loop forever or fail later: with what is allowed."""
    if getattr(args, "parallel", 1) < 1:
        parser.error(f"--parallel must be at least 1 (the number of runs at a time); got {args.parallel}")
    if getattr(args, "steps", None) is not None and args.steps < 1:
        parser.error(f"--steps must be a positive integer (or left out for PLAN.md's {TRAIN['steps']}); "
                     f"got {args.steps}")
    if getattr(args, "seed", 0) < 0:
        parser.error(f"--seed must be an integer >= 0; got {args.seed}")
    if getattr(args, "phase", None) == "main":
        try:
            chosen = json.loads(args.chosen_lr or "")
            missing = [mixer for mixer in ARMS if not isinstance(chosen.get(mixer), (int, float))]
        except (ValueError, AttributeError):
            missing = list(ARMS)
        if missing:
            parser.error(f"--phase main needs --chosen-lr, the pilot's choice as JSON with a learning rate for each "
                         f"of {', '.join(ARMS)} (missing: {', '.join(missing)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("one")
    p.add_argument("--mixer", choices=ARMS, required=True)
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--save-weights", action="store_true")
    p.add_argument("--steps", type=int, help="override PLAN.md's 3000 (quick checks only)")
    p = sub.add_parser("train-all")
    p.add_argument("--out", required=True, help="the packed results: runs.json, predictions.npz, weights-*.pt")
    p.add_argument("--scratch", default="/tmp/incontext-runs", help="one folder per run")
    p.add_argument("--phase", choices=("pilot", "main", "all"), default="all")
    p.add_argument("--chosen-lr", help="for --phase main: the pilot's choice, as JSON {mixer: lr}")
    p.add_argument("--parallel", type=int, default=12)
    p.add_argument("--git-commit", required=True)
    p.add_argument("--steps", type=int, help="override PLAN.md's 3000 (quick checks only)")
    p = sub.add_parser("baselines")
    p.add_argument("--out", required=True)
    p = sub.add_parser("analyse")
    p.add_argument("--runs", required=True)
    p.add_argument("--baselines")
    p.add_argument("--summary", required=True)
    args = parser.parse_args()
    check_args(parser, args)
    {"one": one, "train-all": train_all, "baselines": baselines, "analyse": analyse}[args.command](args)


if __name__ == "__main__":
    main()
