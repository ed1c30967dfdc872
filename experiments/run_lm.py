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

Nothing finished is ever destroyed, so the same command can run again:

* every argument is checked before any work (the training arguments by the trainer's
  own parser), and paths are taken relative to the directory the command runs in;
* a run whose folder already holds a finished run (the trainer's final JSON line in
  ``stdout.log``, with ``config.json`` and ``metrics.jsonl``) is not run again: it is
  summarised from its folder. A folder with an unfinished run is refused, unless
  ``--resume`` (continue it; its ``stdout.log`` is appended to) or ``--overwrite``
  follows ``--``;
* an existing ``--summary`` is only ever rewritten by the same grid (same name, mixers,
  seeds and training arguments) whose ``--runs`` still holds every run it records as
  finished; the summary is rewritten after every run;
* SIGTERM or SIGINT is passed on to every running trainer; the runner waits for them,
  writes the summary of what finished, says how to continue, and exits with 128 + the
  signal's number;
* the exit status is 0 only when every run finished (``"complete": true``), 1 when any
  run failed or stopped early (each such run keeps its ``reason`` and the tail of its
  log), 2 when the arguments were refused.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cubit_lite.data import CORPORA  # noqa: E402
from cubit_lite.mixers import MIXER_NAMES  # noqa: E402
from cubit_lite.results import provenance, recipe_differences, save_json  # noqa: E402
from cubit_lite.run_folder import RUN_FILES  # noqa: E402
from cubit_lite.train import RESUMABLE_CHANGES, TrainConfig  # noqa: E402
from cubit_lite.train import parse_args as parse_train_args  # noqa: E402

PER_RUN = ("--mixer", "--seed", "--out")  # the runner sets these for each run
NOT_THE_RECIPE = ("--resume", "--overwrite", "--no-progress")  # flags that do not change a run's numbers
# what may differ between a finished run and this grid's configuration for it (the corpus must not)
SAME_RUN_ANYWAY = tuple(name for name in RESUMABLE_CHANGES if name != "corpus")
POLL_SECONDS = 0.2
GRACE_SECONDS = 60  # after a forwarded signal, how long a trainer may take to exit before it is killed


class GridError(ValueError):
    """The grid cannot run as asked; the message says what was wrong and what is allowed."""


@dataclass
class Run:
    """One run of the grid: its mixer and seed, its folder, and what that folder holds."""

    mixer: str
    seed: int
    out: Path
    config: TrainConfig  # what the trainer will run (its --out is `out`)
    state: str = "new"  # "new", "finished" or "unfinished"


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    argv = sys.argv[1:] if argv is None else list(argv)
    train_args = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True, help="a name for this grid, stored in the JSON")
    parser.add_argument("--mixers", nargs="+", required=True, help=f"any of {', '.join(MIXER_NAMES)}")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="integers >= 0")
    parser.add_argument("--parallel", type=int, default=1, help="runs at a time (at least 1)")
    parser.add_argument("--runs", type=Path, required=True, help="folder for the runs' outputs")
    parser.add_argument("--summary", type=Path, required=True, help="the results JSON to write")
    parser.add_argument("--export", nargs="*", default=[], metavar="MIXER:SEED",
                        help="also write a small fp16 copy of these runs' best checkpoints next to the summary")
    parser.add_argument("--git-commit", default=None)
    return parser.parse_args(own), train_args


# --------------------------------------------------------------------------- #
# Checks, before any work
# --------------------------------------------------------------------------- #
def _duplicates(values: list) -> list:
    return sorted({v for v in values if values.count(v) > 1}, key=str)


def check_args(args: argparse.Namespace, train_args: list[str]) -> None:
    """Refuse the runner's own arguments, and training arguments it sets itself, with what is allowed."""
    if not args.name.strip() or "/" in args.name:
        raise GridError(f"--name must be a non-empty name without '/' (it names the exported files); "
                        f"got {args.name!r}")
    unknown = [m for m in args.mixers if m not in MIXER_NAMES]
    if unknown:
        raise GridError(f"unknown mixer(s) {', '.join(unknown)} in --mixers; choose from {', '.join(MIXER_NAMES)}")
    if _duplicates(args.mixers):
        raise GridError(f"--mixers names {', '.join(_duplicates(args.mixers))} more than once: "
                        "name each mixer once (two runs of one mixer and seed would share a run folder)")
    if any(seed < 0 for seed in args.seeds):
        raise GridError(f"--seeds must be integers >= 0; got {' '.join(map(str, args.seeds))}")
    if _duplicates(args.seeds):
        raise GridError(f"--seeds names {', '.join(map(str, _duplicates(args.seeds)))} more than once: "
                        "name each seed once (two runs of one mixer and seed would share a run folder)")
    if args.parallel < 1:
        raise GridError(f"--parallel must be at least 1 (the number of runs at a time); got {args.parallel}")
    for item in args.export:
        mixer, _, seed = item.partition(":")
        if mixer not in args.mixers or not seed.isdigit() or int(seed) not in args.seeds:
            raise GridError(f"--export {item!r} does not name a run of this grid: give MIXER:SEED with a mixer of "
                            f"--mixers ({' '.join(args.mixers)}) and a seed of --seeds "
                            f"({' '.join(map(str, args.seeds))}), e.g. {args.mixers[0]}:{args.seeds[0]}")
    for token in train_args:
        flag = token.split("=", 1)[0]
        if len(flag) > 2 and any(name.startswith(flag) for name in PER_RUN):
            raise GridError(f"{token!r} after -- sets what the runner sets for each run ({', '.join(PER_RUN)}): "
                            "use --mixers, --seeds and --runs instead")


def _absolute(path: Path) -> Path:
    """``path`` against the directory the command runs in (the trainers run in the repository root)."""
    return Path(os.path.abspath(path))


def _recipe_args(train_args: list[str]) -> list[str]:
    """The training arguments that change a run's numbers (what makes two grids the same grid)."""
    kept, skip = [], False
    for token in train_args:
        if skip:
            skip = False
        elif token == "--stop-at":
            skip = True
        elif token not in NOT_THE_RECIPE and not token.startswith("--stop-at="):
            kept.append(token)
    return kept


def plan_runs(args: argparse.Namespace, train_args: list[str]) -> list[Run]:
    """The grid's runs, each with the configuration the trainer will run (its parser checks the arguments)."""
    grid = []
    for seed in args.seeds:
        for mixer in args.mixers:
            out = args.runs / f"{mixer}-s{seed}"
            config = parse_train_args(["--mixer", mixer, "--seed", str(seed), "--out", str(out), "--no-progress",
                                       *train_args], prog="python -m cubit_lite.train (the arguments after --)")
            if config.corpus not in CORPORA and Path(config.corpus).is_file():
                config.corpus = os.path.abspath(config.corpus)  # a file named relative to the caller
            grid.append(Run(mixer, seed, out, config))
    return grid


def final_line(out: Path) -> dict | None:
    """The trainer's final JSON line in ``out/stdout.log`` (its last line), or None."""
    try:
        lines = (out / "stdout.log").read_text(errors="replace").strip().splitlines()
        summary = json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def folder_state(out: Path) -> str:
    """"finished" (a final validation loss, config and metrics), "unfinished" (a run's files) or "new"."""
    summary = final_line(out)
    if (summary is not None and summary.get("final_val_loss") is not None
            and (out / "config.json").is_file() and (out / "metrics.jsonl").is_file()):
        return "finished"
    return "unfinished" if any((out / name).exists() for name in RUN_FILES) else "new"


def check_folders(grid: list[Run], train_args: list[str]) -> None:
    """Set each run's state; refuse unfinished runs (unless resumed or replaced) and finished runs of another recipe."""
    for run in grid:
        run.state = folder_state(run.out)
        if run.state == "finished":
            try:
                saved = json.loads((run.out / "config.json").read_text())
                differences = recipe_differences(saved, asdict(run.config), ignore=SAME_RUN_ANYWAY)
            except (OSError, ValueError, TypeError) as err:
                differences = {"config.json": (None, f"unreadable ({err})")}
            if differences:
                raise GridError(
                    f"{run.out} holds a finished run of another configuration (differs in "
                    f"{', '.join(differences)}): it is kept; choose a new --runs for this grid")
    unfinished = [str(run.out) for run in grid if run.state == "unfinished"]
    if unfinished and not {"--resume", "--overwrite"} & set(train_args):
        raise GridError(
            f"{len(unfinished)} run folder(s) hold an unfinished run: {', '.join(unfinished)}. Pass --resume through "
            "to the trainer to continue them (add it after --, e.g. `... -- <training arguments> --resume`), "
            "or choose a new --runs (finished runs are never run again)")


def grid_identity(summary: dict) -> dict:
    """What makes two summaries the same grid: name, mixers, seeds, and the training arguments that change numbers."""
    train_args = summary.get("train_args")
    return {"name": summary.get("name"), "mixers": sorted(summary.get("mixers") or []),
            "seeds": sorted(summary.get("seeds") or []),
            "training arguments": _recipe_args(train_args) if isinstance(train_args, list) else None}


def check_summary(path: Path, identity: dict) -> dict | None:
    """The summary already at ``path`` (None if none); refused unless it comes from this same grid."""
    if not path.exists():
        return None
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = None
    if not isinstance(old, dict):
        raise GridError(f"--summary {path} already exists and is not a grid summary: it is kept; "
                        "choose another --summary")
    differs = [key for key, value in grid_identity(old).items() if value != identity[key]]
    if differs:
        raise GridError(f"--summary {path} already exists and holds another grid's results (they differ in "
                        f"{', '.join(differs)}): it is never overwritten by another grid; choose another "
                        "--summary, or rerun the exact command that wrote it")
    return old


def check_summary_kept(path: Path, old: dict, grid: list[Run]) -> None:
    """Refuse to rewrite a summary unless every run it records as finished is finished in its folder (and so kept)."""
    finished = {(run.mixer, run.seed) for run in grid if run.state == "finished"}
    lost = [f"{r['mixer']} seed {r['seed']}" for r in old.get("runs", [])
            if isinstance(r, dict) and succeeded(r) and (r.get("mixer"), r.get("seed")) not in finished]
    if lost:
        raise GridError(f"--summary {path} records {len(lost)} finished run(s) whose folders in --runs do not hold "
                        f"them ({', '.join(lost)}): rewriting it would lose them; choose another --summary, or the "
                        "--runs that made it")


# --------------------------------------------------------------------------- #
# Running and summarising
# --------------------------------------------------------------------------- #
def launch(run: Run, train_args: list[str]) -> subprocess.Popen:
    """Start the trainer of ``run`` (in the repository root, its own process group, output to its stdout.log)."""
    run.out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "cubit_lite.train", "--mixer", run.mixer, "--seed", str(run.seed),
               "--out", str(run.out), "--no-progress", *train_args]
    if run.config.corpus not in CORPORA:
        command += ["--corpus", run.config.corpus]  # a file, by its absolute path (see plan_runs)
    mode = "a" if run.state == "unfinished" and "--resume" in train_args else "w"  # a resumed run's output is kept
    with (run.out / "stdout.log").open(mode) as log:  # the child keeps its own handle
        return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                process_group=0 if os.name == "posix" else None)


class NoResult(Exception):
    """A run without a final result; the message says why."""


def _failure_reason(returncode: int, summary: dict | None, forwarded: int | None) -> str:
    if forwarded is not None and returncode != 0:
        return (f"interrupted by {signal.Signals(forwarded).name} (passed on by the runner); "
                "continue it with --resume after --")
    stopped_by = -returncode if returncode < 0 else returncode - 128  # killed by it, or exited 128 + it
    if stopped_by in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL, signal.SIGHUP):
        return f"stopped by {signal.Signals(stopped_by).name}; continue it with --resume after --"
    if returncode != 0:
        return f"the trainer exited with status {returncode}"
    if summary is None:
        return "the trainer exited without its final JSON line in stdout.log"
    return (f"stopped at step {summary.get('step')} before the last step (--stop-at), so there is no final "
            "validation loss; continue it with --resume after --")


def summarise(run: Run, wall: float | None, returncode: int, forwarded: int | None = None) -> dict:
    """The run's entry in the summary; never raises: a run without a final result is a failure with its reason.

    ``forwarded``: the signal the runner passed on to the trainer, if it did.
    """
    result: dict = {"mixer": run.mixer, "seed": run.seed, "returncode": returncode, "wall_seconds": wall}
    summary = final_line(run.out)
    try:
        if returncode != 0 or summary is None or summary.get("final_val_loss") is None:
            raise NoResult(_failure_reason(returncode, summary, forwarded))
        records = [json.loads(line) for line in (run.out / "metrics.jsonl").read_text().splitlines() if line]
        vals = [r for r in records if "val_loss" in r]
        trains = [r for r in records if "train_loss" in r]
        result.update(
            num_parameters=summary["num_parameters"],
            final_val_loss=summary["final_val_loss"],
            best_val_loss=summary["best_val_loss"],
            val_curve=[[r["step"], r["val_loss"]] for r in vals],
            train_curve=[[r["step"], r["train_loss"]] for r in trains],
            tokens_per_second=statistics.median(r["tokens_per_second"] for r in trains[1:] or trains),
            val_loss_per_position=vals[-1].get("val_loss_per_position"),
            train_config=json.loads((run.out / "config.json").read_text()),
        )
    except (NoResult, LookupError, OSError, ValueError, TypeError, statistics.StatisticsError) as err:
        reason = str(err) if isinstance(err, NoResult) else f"its results could not be read ({err!r})"
        try:
            tail = (run.out / "stdout.log").read_text(errors="replace")[-2000:]
        except OSError:
            tail = ""
        return {"mixer": run.mixer, "seed": run.seed, "returncode": returncode, "wall_seconds": wall,
                "reason": reason, "error": tail}
    return result


def succeeded(run: dict) -> bool:
    """Whether a summary's run finished: exit status 0 and a final validation loss."""
    return run.get("returncode") == 0 and run.get("final_val_loss") is not None


def report(run: dict, since: float, note: str = "") -> None:
    what = (f"final val {run['final_val_loss']:.4f}, {run['tokens_per_second']:,.0f} tok/s" if succeeded(run)
            else f"FAILED ({run['returncode'] or 'no final result'}): {run['reason']}")
    wall = f", {run['wall_seconds']:.0f}s" if succeeded(run) and run["wall_seconds"] is not None else ""
    print(f"[{time.time() - since:6.0f}s] {run['mixer']:>12} seed {run['seed']}: {note}{what}{wall}", flush=True)


class Signals:
    """Within ``with Signals() as signals``: SIGTERM and SIGINT are recorded in ``signals.received`` instead of
    ending the process, so that its trainers can be stopped and what finished written down.

    ``forward``, if given, is called with the signal's number when the first one arrives (from the handler).
    """

    def __init__(self, forward: Callable[[int], object] | None = None):
        self.received: int | None = None
        self._forward = forward
        self._previous: dict = {}

    def __enter__(self) -> Signals:
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._record)
        return self

    def _record(self, signum, frame) -> None:
        if self.received is None:
            self.received = signum
            if self._forward is not None:
                self._forward(signum)

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def run_processes(jobs: list, parallel: int, start: Callable[[Any], subprocess.Popen],
                  finish: Callable[[Any, subprocess.Popen, float, int | None], object]) -> int | None:
    """Run ``start(job)`` for each job, ``parallel`` processes at a time; ``finish(job, process, seconds, signal)``
    as each one ends.

    On SIGTERM or SIGINT no job starts any more, the signal is passed on to every running process, and the
    runner waits for them (killing any still running after ``GRACE_SECONDS``); ``finish`` then gets the
    signal's number. Returns that number, or None. If the runner itself fails, its processes are ended too.
    """
    pending, running = list(jobs), []
    with Signals() as signals:
        try:
            deadline = None
            while pending or running:
                if signals.received is None:
                    while pending and len(running) < parallel:
                        job = pending.pop(0)
                        running.append((job, start(job), time.time()))
                elif deadline is None:  # pass the signal on, once; start no more jobs
                    pending.clear()
                    deadline = time.monotonic() + GRACE_SECONDS
                    for _, process, _ in running:
                        process.send_signal(signals.received)
                elif time.monotonic() > deadline:
                    for _, process, _ in running:
                        process.kill()
                time.sleep(POLL_SECONDS)
                for item in list(running):
                    job, process, t0 = item
                    if process.poll() is not None:
                        running.remove(item)
                        finish(job, process, time.time() - t0, signals.received)
        finally:
            for _, process, _ in running:  # only when the runner itself failed: leave no process behind
                process.terminate()
                process.wait()
    return signals.received


def main(argv: list[str] | None = None) -> dict:
    """Run the grid; returns the summary written. Raises :class:`GridError` (before any work) for bad arguments."""
    args, train_args = parse_args(argv)
    check_args(args, train_args)
    args.runs, args.summary = _absolute(args.runs), _absolute(args.summary)
    grid = plan_runs(args, train_args)
    identity = grid_identity({"name": args.name, "mixers": args.mixers, "seeds": args.seeds,
                              "train_args": train_args})
    old = check_summary(args.summary, identity) or {}
    check_folders(grid, train_args)
    check_summary_kept(args.summary, old, grid)
    old_walls = {(r.get("mixer"), r.get("seed")): r.get("wall_seconds") for r in old.get("runs", [])
                 if isinstance(r, dict) and r.get("returncode") == 0}
    started = time.time()
    runs: list[dict] = []

    def write_summary(final: bool, interrupted: int | None = None) -> dict:
        result = {
            "name": args.name,
            "complete": final and interrupted is None and len(runs) == len(grid) and all(map(succeeded, runs)),
            **provenance(__file__, sys.argv[1:] if argv is None else list(argv), git_commit=args.git_commit),
            "mixers": args.mixers,
            "seeds": args.seeds,
            "train_args": train_args,
            "parallel_runs": args.parallel,
            "wall_seconds": time.time() - started,
            "runs": sorted(runs, key=lambda r: (args.mixers.index(r["mixer"]), r["seed"])),
        }
        if interrupted is not None:
            result["interrupted"] = signal.Signals(interrupted).name
        save_json(args.summary, result)
        return result

    def finish(run: Run, process: subprocess.Popen, seconds: float, forwarded: int | None) -> None:
        runs.append(summarise(run, seconds, process.returncode, forwarded))
        report(runs[-1], started)
        write_summary(final=False)  # partial results survive an interrupted grid

    for run in grid:
        if run.state == "finished":
            runs.append(summarise(run, old_walls.get((run.mixer, run.seed)), 0))
            report(runs[-1], started, "already finished, summarised from its folder: ")
    if runs:
        write_summary(final=False)
    pending = [run for run in grid if run.state != "finished"]
    interrupted = run_processes(pending, args.parallel, lambda run: launch(run, train_args), finish)
    result = write_summary(final=True, interrupted=interrupted)
    export(args, runs)
    print(f"wrote {args.summary}", flush=True)
    if interrupted is not None:
        print(f"interrupted by {signal.Signals(interrupted).name}: {sum(map(succeeded, runs))} of {len(grid)} runs "
              f"finished (in {args.summary}); to continue, run the same command with --resume after -- "
              "(finished runs are kept and summarised from their folders)", flush=True)
    return result


def export(args: argparse.Namespace, runs: list[dict]) -> None:
    """The fp16 copies asked for by ``--export``, of the runs that finished."""
    from cubit_lite.checkpoint import export_weights

    finished = {(r["mixer"], r["seed"]) for r in runs if succeeded(r)}
    for item in args.export:
        mixer, seed = item.split(":")[0], int(item.split(":")[1])
        if (mixer, seed) not in finished:
            print(f"--export {item}: not exported, the run did not finish", flush=True)
            continue
        export_weights(args.runs / f"{mixer}-s{seed}" / "best.pt",
                       args.summary.parent / f"{args.name}-{mixer}-s{seed}.pt")


def cli(argv: list[str] | None = None) -> None:
    """Exit status: 0 when every run finished, 1 when any did not, 2 for refused arguments, 128 + N on signal N."""
    try:
        result = main(argv)
    except GridError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    if "interrupted" in result:
        sys.exit(128 + signal.Signals[result["interrupted"]].value)
    sys.exit(0 if result["complete"] else 1)


if __name__ == "__main__":
    cli()
