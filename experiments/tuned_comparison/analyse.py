"""Apply the tuned comparison's pre-registered rules (PLAN.md) to its per-grid results files.

Reads the ``tuned_<label>_<arm>_T<T>.json`` files that ``run_part.sh`` writes (``--grids``,
by default ``results/tuned_comparison/``); nothing here trains or needs a GPU. The
statistics are :mod:`cubit_lite.comparison`'s; this file finds, checks and pairs the runs.
Three commands, run from the repository root::

    # Part 1: the peak rate of each arm x length from the tuning grids (tune_* and edge_*),
    # the edge rates still to run, and whether the choice is final
    python experiments/tuned_comparison/analyse.py choose --grids results/tuned_comparison \\
        --out results/tuned_comparison/choice.json

    # the chosen rate of one cell, e.g. 4e-3 (run_part.sh confirm calls this)
    python experiments/tuned_comparison/analyse.py rate cubit 4096 --choice results/tuned_comparison/choice.json

    # Parts 2-3: E1, E2, Holm, the decision, equivalence tests, sensitivity checks, secondaries
    python experiments/tuned_comparison/analyse.py confirm --grids results/tuned_comparison \\
        --choice results/tuned_comparison/choice.json --out results/tuned_comparison.json

A refusal (a missing run, a run at another rate or commit, a seed outside the plan's)
exits with status 1 and says what is wrong.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cubit_lite.comparison import (  # noqa: E402
    choose_rate,
    decision,
    endpoint_status,
    holm,
    power_min_detectable,
    rate_label,
    t_test,
    tost,
    welch,
    welch_interaction,
)
from cubit_lite.results import provenance, save_json  # noqa: E402

PLAN = Path(__file__).with_name("PLAN.md")
GRIDS = ROOT / "results" / "tuned_comparison"
CHOICE = GRIDS / "choice.json"
OUT = ROOT / "results" / "tuned_comparison.json"

ARMS = ("transformer", "cubit")
LENGTHS = (256, 4096)
CELLS = tuple((arm, t) for t in LENGTHS for arm in ARMS)
PLAN_RATES = (1e-3, 2e-3, 4e-3, 8e-3)
TUNING_SEEDS = (100, 101)
CONFIRMATION_SEEDS = tuple(range(16))
TIE = 0.003
ALPHA = 0.05
MARGINS = {"E1": 0.01, "E2": 0.015}
DEFINITIONS = {"E1": "Δ(4096) = L_cubit − L_transformer at T = 4096",
               "E2": "I = Δ(4096) − Δ(256)"}
CHARACTERS_PER_STEP = 16384
RECIPE = {"corpus": "shakespeare", "positions": "rotary", "n_layer": 4, "n_head": 4, "d_model": 256,
          "dropout": 0.1, "warmup": 100, "steps": 2000, "eval_interval": 250, "eval_batches": 50}
"""PLAN.md's recipe, checked in every run's train_config (so a smoke run cannot pass for a real one)."""

FILE_NAME = re.compile(r"tuned_(?P<label>.+)_(?P<arm>transformer|cubit)_T(?P<T>\d+)\.json")
RATE = r"(?P<rate>[0-9]+(?:\.[0-9]+)?e-[0-9]+)"
LABELS = {"tune": re.compile(rf"tune_lr{RATE}"),
          "edge": re.compile(rf"edge_lr{RATE}_(?P<arm>transformer|cubit)_T(?P<T>\d+)"),
          "confirm": re.compile(r"confirm_s\d+(?:-\d+)*")}


def cell_name(arm: str, t: int) -> str:
    return f"{arm}_T{t}"


def relative(path: Path) -> str:
    """``path`` relative to the repository root where it lies inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def plan_commit(plan: Path = PLAN) -> str | None:
    """The first commit that added ``plan`` (None outside a git checkout)."""
    try:
        done = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "--", relative(plan)],
                              cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return None
    commits = done.stdout.split() if done.returncode == 0 else []
    return commits[-1] if commits else None


def finite_json(value):
    """``value`` with every non-finite float (a diverged rate's +inf mean) written as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(item) for item in value]
    return value


# ---------------------------------------------------------------------------
# Reading and checking the per-grid files


def command_rate(command: str) -> float | None:
    """The ``--lr`` a grid's recorded command passes to its runs (the last one, as argparse reads it)."""
    try:
        tokens = shlex.split(command)
    except ValueError:
        tokens = command.split()
    values = [b for a, b in zip(tokens[:-1], tokens[1:], strict=True) if a == "--lr"]
    values += [token.split("=", 1)[1] for token in tokens if token.startswith("--lr=")]
    return float(values[-1]) if values else None


def same_rate(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9)


def load_grid(path: Path, kind: str) -> dict:
    """One grid file as ``{"file", "arm", "T", "rate", "grid"}``; its name, command and runs must agree."""
    match = FILE_NAME.fullmatch(path.name)
    label = LABELS[kind].fullmatch(match["label"]) if match else None
    if not match or not label:
        raise ValueError(f"{path.name} is not named like a {kind} grid of run_part.sh "
                         f"(tuned_<label>_<arm>_T<T>.json with label {LABELS[kind].pattern})")
    arm, t = match["arm"], int(match["T"])
    if t not in LENGTHS:
        raise ValueError(f"{path.name}: T = {t} is not a length of the plan ({', '.join(map(str, LENGTHS))})")
    if kind == "edge" and (label["arm"], int(label["T"])) != (arm, t):
        raise ValueError(f"{path.name}: its label names {label['arm']} at T = {label['T']}, its grid {arm} at T = {t}")
    grid = json.loads(path.read_text(encoding="utf-8"))
    rates = {"file name": float(label["rate"])} if kind != "confirm" else {}
    from_command = command_rate(grid.get("command", ""))
    if from_command is not None:
        rates["command"] = from_command
    for run in grid.get("runs", []):
        if run.get("mixer") != arm:
            raise ValueError(f"{path.name} holds a run of mixer {run.get('mixer')!r}; its name says {arm}")
        if run.get("returncode") == 0:
            check_recipe(path.name, run, arm, t)
            rates[f"seed {run['seed']}'s train_config"] = run["train_config"]["lr"]
    if not rates:
        raise ValueError(f"{path.name}: no rate recorded (no --lr in its command and no finished run)")
    rate = next(iter(rates.values()))
    if not all(same_rate(rate, other) for other in rates.values()):
        said = ", ".join(f"{k} {rate_label(v)}" for k, v in rates.items())
        raise ValueError(f"{path.name}: its rates disagree: {said}")
    return {"file": path.name, "arm": arm, "T": t, "rate": float(rate_label(rate)), "grid": grid}


def check_recipe(file: str, run: dict, arm: str, t: int) -> None:
    """Refuse a finished run whose train_config is not PLAN.md's recipe for ``arm`` at length ``t``."""
    config = run.get("train_config") or {}
    expected = {**RECIPE, "mixer": arm, "seed": run.get("seed"), "block_size": t,
                "batch_size": CHARACTERS_PER_STEP // t}
    wrong = [f"{key} {config.get(key)!r} (plan: {want!r})" for key, want in expected.items() if config.get(key) != want]
    lr, min_lr = config.get("lr"), config.get("min_lr")
    if not isinstance(lr, (int, float)) or not isinstance(min_lr, (int, float)) or not same_rate(min_lr, lr / 10):
        wrong.append(f"min_lr {min_lr!r} with lr {lr!r} (plan: the peak rate / 10)")
    if wrong:
        raise ValueError(f"{file}: {arm} seed {run.get('seed')} does not follow PLAN.md's recipe: {'; '.join(wrong)}")


def load_grids(folder: Path, kinds: tuple[str, ...]) -> list[dict]:
    paths = [path for kind in kinds for path in sorted(Path(folder).glob(f"tuned_{kind}_*.json"))]
    if not paths:
        raise FileNotFoundError(f"no {' or '.join(f'tuned_{k}_*.json' for k in kinds)} files in {folder}")
    return [load_grid(path, path.name.split("_")[1]) for path in paths]


def training_commit(grids: list[dict], expected: str | None = None, expected_from: str = "") -> str:
    """The one ``git_commit`` every grid records (and ``expected``, if given); refuses several."""
    commits: dict[str, list[str]] = {}
    for grid in grids:
        commits.setdefault(str(grid["grid"].get("git_commit")), []).append(grid["file"])
    if expected is not None and set(commits) != {expected}:
        others = "; ".join(f"{c}: {', '.join(files)}" for c, files in commits.items() if c != expected)
        raise ValueError(f"every run must use the training code of {expected_from} ({expected}); "
                         f"these files were run at other commits: {others}")
    if len(commits) != 1:
        raise ValueError("the results files were run at different commits of the training code (PLAN.md: one "
                         "commit for every run): " + "; ".join(f"{c}: {', '.join(f)}" for c, f in commits.items()))
    return next(iter(commits))


def shared_fields(grids: list[dict], argv: list[str], commit: str) -> dict:
    """The provenance both results files record: the plan, the runs' code, devices and commands, this analysis."""
    analysis = provenance(__file__, argv, device="cpu")
    devices = sorted({str(g["grid"].get("device")) for g in grids})
    versions = sorted({str(g["grid"].get("torch")) for g in grids})
    return {
        "command": analysis["command"],
        "plan": relative(PLAN),
        "plan_commit": plan_commit(),
        "git_commit": commit,
        "device": ", ".join(devices),
        "devices": devices,
        "torch": ", ".join(versions),
        "torch_versions": versions,
        "inputs": {g["file"]: {key: g["grid"].get(key) for key in
                               ("command", "git_commit", "device", "torch", "complete", "wall_seconds")}
                   for g in grids},
        "analysis": analysis,
    }


def outcome(run: dict) -> float | None:
    """A run's final validation loss, or None if it failed or ended non-finite (PLAN.md: it counts as +inf)."""
    loss = run.get("final_val_loss") if run.get("returncode") == 0 else None
    return float(loss) if isinstance(loss, (int, float)) and math.isfinite(loss) else None


# ---------------------------------------------------------------------------
# Part 1: choose


def tuning_losses(grids: list[dict]) -> dict[tuple[str, int], dict[float, dict[int, float | None]]]:
    """``{(arm, T): {rate: {seed: loss or None}}}`` over the tuning grids; refuses a seed outside 100, 101."""
    table: dict[tuple[str, int], dict[float, dict[int, float | None]]] = {}
    for grid in grids:
        for run in grid["grid"].get("runs", []):
            seed = run.get("seed")
            if seed not in TUNING_SEEDS:
                raise ValueError(f"{grid['file']}: seed {seed!r} is not a tuning seed (PLAN.md: 100 and 101 only)")
            seeds = table.setdefault((grid["arm"], grid["T"]), {}).setdefault(grid["rate"], {})
            if seed in seeds:
                raise ValueError(f"{grid['file']}: {grid['arm']} T = {grid['T']} lr {rate_label(grid['rate'])} "
                                 f"seed {seed} is in more than one file")
            seeds[seed] = outcome(run)
    return table


def missing_tuning_runs(table: dict) -> list[str]:
    """The runs Part 1 still lacks: both tuning seeds at every planned rate and every rate present."""
    missing = []
    for arm, t in CELLS:
        rates = table.get((arm, t), {})
        for rate in sorted(set(PLAN_RATES) | set(rates)):
            lacking = [seed for seed in TUNING_SEEDS if seed not in rates.get(rate, {})]
            if lacking:
                missing.append(f"{arm} T={t} lr {rate_label(rate)} seed {', '.join(map(str, lacking))}")
    return missing


def choose(folder: Path, out: Path, argv: list[str]) -> dict:
    """PLAN.md's Part-1 rule on every tuning grid in ``folder``, written to ``out``."""
    grids = load_grids(folder, ("tune", "edge"))
    commit = training_commit(grids)
    table = tuning_losses(grids)
    missing = missing_tuning_runs(table)
    if missing:
        raise ValueError("Part 1 lacks these runs (PLAN.md: both tuning seeds at every rate):\n  "
                         + "\n  ".join(missing))
    cells = {}
    for arm, t in CELLS:
        rates = table[(arm, t)]
        try:
            chosen = choose_rate({r: [rates[r][s] for s in TUNING_SEEDS] for r in rates}, tie=TIE)
        except ValueError as err:
            raise ValueError(f"{cell_name(arm, t)}: {err}") from None
        cells[cell_name(arm, t)] = {"arm": arm, "T": t, "seeds": list(TUNING_SEEDS), **chosen}
    edges = [{"arm": c["arm"], "T": c["T"], "rate": c["next_rate"]} for c in cells.values() if c["at_edge"]]
    result = {
        **shared_fields(grids, argv, commit),
        "rule": "per arm x length: the lowest mean final validation loss over seeds 100 and 101; a failed or "
                "non-finite run makes its rate's mean +inf (written null); means within 0.003 of the lowest go to "
                "the smallest rate; a choice at an edge of the rates tried needs the next rate out",
        "tie": TIE,
        "tuning_seeds": list(TUNING_SEEDS),
        "recipe": {**RECIPE, "characters_per_step": CHARACTERS_PER_STEP, "min_lr": "peak rate / 10"},
        "cells": cells,
        "final": not edges,
        "missing_edge_runs": edges,
        "failed_runs": [{"file": g["file"], "seed": r.get("seed"), "returncode": r.get("returncode")}
                        for g in grids for r in g["grid"].get("runs", []) if outcome(r) is None],
    }
    save_json(out, finite_json(result))
    print_choice(result, out)
    return result


def print_choice(result: dict, out: Path) -> None:
    seeds = result["tuning_seeds"]
    print(f"{'cell':<17}{'rate':>8}{'mean':>10}" + "".join(f"{'seed ' + str(s):>11}" for s in seeds))
    for name, cell in result["cells"].items():
        for label, row in cell["rates"].items():
            losses = "".join(f"{'failed' if x is None else f'{x:.4f}':>11}" for x in row["losses"])
            mark = " <- chosen" + (f" (at the {cell['at_edge']} edge)" if cell["at_edge"] else "") \
                if label == cell["chosen"] else ""
            print(f"{name:<17}{label:>8}{row['mean']:>10.4f}{losses}{mark}")
            name = ""
    if result["final"]:
        print("the choice is final (every chosen rate is interior)")
    else:
        print("not final; run next:")
        for edge in result["missing_edge_runs"]:
            print(f"  bash experiments/tuned_comparison/run_part.sh OUT {result['git_commit']} "
                  f"edge {edge['arm']} {edge['T']} {edge['rate']}")
    print(f"wrote {out}")


# ---------------------------------------------------------------------------
# The chosen rates: rate


def load_final_choice(path: Path) -> dict:
    """The Part-1 choice file, refused if it is missing or not final."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run Part 1 and `analyse.py choose` first")
    choice = json.loads(path.read_text(encoding="utf-8"))
    if choice.get("final") is not True:
        edges = ", ".join(f"{e['arm']} T={e['T']} lr {e['rate']}" for e in choice.get("missing_edge_runs", []))
        raise ValueError(f"{path} is not final: Part 1 still needs the edge rates {edges or '(none listed)'}")
    return choice


def chosen_rate(arm: str, t: int, choice_path: Path) -> str:
    """The label of the rate chosen for ``arm`` at length ``t``, from a final choice file."""
    cell = load_final_choice(choice_path).get("cells", {}).get(cell_name(arm, t))
    if not cell or "chosen" not in cell:
        raise ValueError(f"{choice_path} has no choice for {cell_name(arm, t)}")
    return cell["chosen"]


# ---------------------------------------------------------------------------
# Parts 2-3: confirm


def confirmation_runs(grids: list[dict], choice: dict, choice_path: Path) -> tuple[dict, list[dict]]:
    """``{(arm, T): {seed: run}}`` of the finished runs, and the failed ones; refuses other rates and seeds."""
    runs: dict[tuple[str, int], dict[int, dict]] = {cell: {} for cell in CELLS}
    failed = []
    for grid in grids:
        cell = choice["cells"].get(cell_name(grid["arm"], grid["T"]))
        if cell is None:
            raise ValueError(f"{choice_path} has no choice for {cell_name(grid['arm'], grid['T'])} ({grid['file']})")
        if not same_rate(grid["rate"], cell["chosen_lr"]):
            raise ValueError(f"{grid['file']} ran at lr {rate_label(grid['rate'])}, but the rate chosen for "
                             f"{cell_name(grid['arm'], grid['T'])} in {Path(choice_path).name} is {cell['chosen']}")
        for run in grid["grid"].get("runs", []):
            seed = run.get("seed")
            if seed not in CONFIRMATION_SEEDS:
                raise ValueError(f"{grid['file']}: seed {seed!r} is not a confirmation seed (PLAN.md: 0-15)")
            if seed in runs[(grid["arm"], grid["T"])]:
                raise ValueError(f"{grid['file']}: {grid['arm']} T = {grid['T']} seed {seed} is in more than one file")
            if outcome(run) is None:
                failed.append({"file": grid["file"], "seed": seed, "returncode": run.get("returncode")})
            else:
                runs[(grid["arm"], grid["T"])][seed] = run
    return runs, failed


def gaps(runs: dict, seeds: list[int], t: int, value) -> list[float]:
    """``value(cubit run) − value(transformer run)`` at length ``t`` for each seed."""
    return [value(runs[("cubit", t)][s]) - value(runs[("transformer", t)][s]) for s in seeds]


def final_loss(run: dict) -> float:
    return float(run["final_val_loss"])


def position_mean(first: int, last: int):
    """The mean validation loss over positions ``first``..``last`` (1-indexed) of a run's last evaluation."""
    def value(run: dict) -> float:
        losses = run.get("val_loss_per_position") or []
        if len(losses) < last:
            raise ValueError(f"{run['mixer']} seed {run['seed']} has {len(losses)} per-position losses; "
                             f"positions {first}-{last} need {last}")
        return statistics.fmean(losses[first - 1:last])
    return value


def min_detectable(values: list[float]) -> dict:
    sd, n = statistics.stdev(values), len(values)
    return {"sd": sd, "n": n, "power": 0.8, "alpha_0.025": power_min_detectable(sd, n, 0.025),
            "alpha_0.05": power_min_detectable(sd, n, 0.05)}


def sensitivity(runs: dict, seeds: list[int]) -> dict:
    """Welch's unpaired checks on E1 and E2 (reported, no decision)."""
    losses = {cell: [final_loss(runs[cell][s]) for s in seeds] for cell in CELLS}
    checks = {"E1": lambda: welch(losses[("cubit", 4096)], losses[("transformer", 4096)]),
              "E2": lambda: welch_interaction(losses[("cubit", 4096)], losses[("transformer", 4096)],
                                              losses[("cubit", 256)], losses[("transformer", 256)])}
    result = {}
    for name, check in checks.items():
        try:
            result[name] = check()
        except ValueError as err:  # no spread at all: nothing to report
            result[name] = {"error": str(err)}
    return result


def endpoints(runs: dict, seeds: list[int]) -> dict:
    """E1 and E2 with their t-tests, Holm steps, adjusted intervals, TOST and smallest detectable effects."""
    d256, d4096 = gaps(runs, seeds, 256, final_loss), gaps(runs, seeds, 4096, final_loss)
    values = {"E1": d4096, "E2": [a - b for a, b in zip(d4096, d256, strict=True)]}
    tests = {name: t_test(v) for name, v in values.items()}
    steps = holm({name: test["p"] for name, test in tests.items()}, ALPHA)
    result = {}
    for name, v in values.items():
        adjusted = t_test(v, steps[name]["level"])
        result[name] = {"definition": DEFINITIONS[name], "seeds": seeds, "values": v, "mean": tests[name]["mean"],
                        "test": tests[name], "holm": steps[name],
                        "adjusted_interval": {key: adjusted[key] for key in ("mean", "low", "high", "level")},
                        "tost": tost(v, MARGINS[name], ALPHA), "min_detectable": min_detectable(v)}
    return result


def secondaries(runs: dict, seeds: list[int]) -> dict:
    """PLAN.md's secondary endpoints 1-3, each with 95% t-intervals (no decision)."""
    far, near = position_mean(2049, 4096), position_mean(1, 256)
    gap_far, gap_near = gaps(runs, seeds, 4096, far), gaps(runs, seeds, 4096, near)
    by_step = {}
    for t in LENGTHS:
        curves = {(arm, s): dict((int(step), loss) for step, loss in runs[(arm, t)][s]["val_curve"])
                  for arm in ARMS for s in seeds}
        steps = sorted(set.intersection(*(set(curve) for curve in curves.values())))
        by_step[f"T{t}"] = [{"step": step, **t_test([curves[("cubit", s)][step] - curves[("transformer", s)][step]
                                                      for s in seeds])} for step in steps]
    return {
        "delta_256": t_test(gaps(runs, seeds, 256, final_loss)),
        "position_contrast_T4096": {
            "definition": "gap(positions 2049-4096) − gap(positions 1-256) at T = 4096, gap = cubit − transformer",
            **t_test([a - b for a, b in zip(gap_far, gap_near, strict=True)]),
            "gap_positions_2049_4096": t_test(gap_far), "gap_positions_1_256": t_test(gap_near)},
        "gap_by_step": by_step,
    }


def decide(result: dict) -> None:
    """PLAN.md's decision rule on E1 and E2, written into ``result``."""
    adjusted = {name: result[name]["adjusted_interval"] for name in MARGINS}
    result["decision"] = decision(adjusted)
    for name in MARGINS:
        endpoint = result[name]
        endpoint["status"] = endpoint_status(endpoint["adjusted_interval"], endpoint["tost"])
        endpoint["smallest_margin"] = endpoint["tost"]["smallest_margin"]


def confirm(folder: Path, choice_path: Path, out: Path, argv: list[str]) -> dict:
    """PLAN.md's analysis of Parts 2-3, written to ``out``."""
    choice = load_final_choice(choice_path)
    grids = load_grids(folder, ("confirm",))
    commit = training_commit(grids, choice.get("git_commit"), f"Part 1 ({Path(choice_path).name})")
    runs, failed = confirmation_runs(grids, choice, choice_path)
    seeds = sorted(set.intersection(*(set(runs[cell]) for cell in CELLS)))
    complete = seeds == list(CONFIRMATION_SEEDS)
    result: dict = {
        **shared_fields(grids, argv, commit),
        "choice": relative(Path(choice_path)),
        "chosen_rates": {name: cell["chosen"] for name, cell in choice["cells"].items()},
        "complete": complete,
        "seeds": seeds,
        "missing_seeds": {cell_name(*cell): [s for s in CONFIRMATION_SEEDS if s not in runs[cell]] for cell in CELLS},
        "failed_runs": failed,
        "final_val_loss": {cell_name(*cell): {str(s): final_loss(r) for s, r in sorted(runs[cell].items())}
                           for cell in CELLS},
    }
    if len(seeds) >= 2:
        result.update(endpoints(runs, seeds))
        result["welch_sensitivity"] = sensitivity(runs, seeds)
        result["secondary"] = secondaries(runs, seeds)
    if complete:
        decide(result)
        result["status"] = "complete: all 16 confirmation seeds paired"
    else:
        result["decision"] = None
        result["status"] = (f"analysis incomplete: {len(seeds)} of {len(CONFIRMATION_SEEDS)} seeds paired across the "
                            "four cells; PLAN.md decides only on all 16")
    result["part1"] = choice["cells"]
    save_json(out, finite_json(result))
    print_confirmation(result, out)
    return result


def print_confirmation(result: dict, out: Path) -> None:
    print(f"seeds paired: {len(result['seeds'])} ({result['status']})")
    for name in MARGINS:
        if name in result:
            e, a = result[name], result[name]["adjusted_interval"]
            print(f"{name} = {e['mean']:+.4f} nats/char, p = {e['test']['p']:.3g}, "
                  f"{a['level']:.1%} interval [{a['low']:+.4f}, {a['high']:+.4f}]"
                  + (f": {e['status']}" if "status" in e else ""))
    if result["decision"]:
        print(f"decision: {result['decision']}")
    print(f"wrote {out}")


# ---------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = main_parser.add_subparsers(dest="command", required=True)
    choose_parser = commands.add_parser("choose", help="Part 1: choose each cell's peak rate")
    choose_parser.add_argument("--grids", type=Path, default=GRIDS)
    choose_parser.add_argument("--out", type=Path, default=CHOICE)
    rate_parser = commands.add_parser("rate", help="print the rate chosen for ARM at length T")
    rate_parser.add_argument("arm", choices=ARMS)
    rate_parser.add_argument("T", type=int, choices=LENGTHS)
    rate_parser.add_argument("--choice", type=Path, default=CHOICE)
    confirm_parser = commands.add_parser("confirm", help="Parts 2-3: the endpoints and the decision")
    confirm_parser.add_argument("--grids", type=Path, default=GRIDS)
    confirm_parser.add_argument("--choice", type=Path, default=CHOICE)
    confirm_parser.add_argument("--out", type=Path, default=OUT)
    return main_parser


def main(argv: list[str] | None = None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    try:
        if args.command == "choose":
            return choose(args.grids, args.out, argv)
        if args.command == "rate":
            label = chosen_rate(args.arm, args.T, args.choice)
            print(label)
            return label
        return confirm(args.grids, args.choice, args.out, argv)
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f"analyse.py {args.command}: {err}") from None


if __name__ == "__main__":
    main()
