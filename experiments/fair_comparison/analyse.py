"""Combine the fair comparison's grids into one results file and compute PLAN.md's tests.

Reads every ``fair_<PART>_<grid>.json`` written by ``run_part.sh`` (``--grids``, by
default ``results/fair_comparison/``), pairs the runs by seed and writes
``results/fair_comparison.json``: the primary endpoint ``I = Δ(4096) − Δ(256)`` with its
95% t-interval, t statistic, degrees of freedom, p-value and the minimum detectable effect
from the observed spread; the secondary endpoints of PLAN.md; and the provenance (the
plan's commit, the commits and devices of the runs). Nothing here trains or needs a GPU::

    python experiments/fair_comparison/analyse.py --grids results/fair_comparison \\
        --out results/fair_comparison.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

from scipy import stats

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cubit_lite.results import save_json  # noqa: E402

PLAN = Path(__file__).with_name("PLAN.md")
BINS = ((1, 256), (257, 1024), (1025, 2048), (2049, 4096))


def log_bins(t: int) -> list[tuple[int, int]]:
    """Bins of positions 1..t that double in length: (1, 1), (2, 2), (3, 4), (5, 8), ..., (t/2 + 1, t)."""
    edges = [2**k for k in range(t.bit_length())]
    return [(1, 1)] + [(lo + 1, hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def t_interval(values: list[float], level: float = 0.95) -> dict:
    """Mean, ``level`` two-sided t-interval, t against 0, df and p of a list of paired differences.

    Also the minimum detectable mean (80% power, α = 1 − level, two-sided) for a design
    with this many pairs and this spread: ``(t_{1−α/2, df} + t_{0.8, df}) · s / √n``.
    """
    n = len(values)
    if n < 2:
        raise ValueError(f"a t-interval needs at least 2 paired values; got {n}")
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    se, df = sd / math.sqrt(n), n - 1
    crit = stats.t.ppf(0.5 + level / 2, df)
    t_stat = mean / se if se > 0 else math.copysign(math.inf, mean)
    return {
        "n": n, "mean": mean, "sd": sd, "se": se, "df": df, "level": level,
        "low": mean - crit * se, "high": mean + crit * se,
        "t": t_stat, "p": float(2 * stats.t.sf(abs(t_stat), df)),
        "min_detectable": float((crit + stats.t.ppf(0.8, df)) * se),
        "values": values,
    }


def verdict(interval: dict) -> str:
    """PLAN.md's decision rule for the primary endpoint."""
    if interval["high"] < 0:
        return "the gap grows with the training length at this scale (supports H1)"
    if interval["low"] > 0:
        return "the gap shrinks with the training length at this scale (contradicts H1)"
    return "no change detected (the interval contains 0)"


def load_grids(folder: Path) -> list[dict]:
    grids = [json.loads(p.read_text()) for p in sorted(folder.glob("fair_*.json"))]
    if not grids:
        raise FileNotFoundError(f"no fair_*.json grids in {folder}")
    return grids


def final_losses(grids: list[dict], grid_suffix: str, mixer: str) -> dict[int, dict]:
    """``{seed: run}`` of ``mixer`` over the grids whose name ends with ``grid_suffix`` (``-T256``)."""
    runs = {}
    for grid in grids:
        if grid["name"].split("-", 2)[-1] != grid_suffix:
            continue
        for run in grid["runs"]:
            if run["mixer"] == mixer and run["returncode"] == 0:
                runs[run["seed"]] = run
    return runs


def paired(a: dict[int, dict], b: dict[int, dict], key=lambda r: r["final_val_loss"]) -> dict[int, float]:
    """``key(a) − key(b)`` for the seeds both have."""
    return {s: key(a[s]) - key(b[s]) for s in sorted(set(a) & set(b))}


def position_mean(lo: int, hi: int):
    return lambda run: statistics.fmean(run["val_loss_per_position"][lo - 1 : hi])


def plan_commit(plan: Path = PLAN) -> str | None:
    """The commit that added ``plan`` (None outside a git checkout)."""
    out = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "--", str(plan.relative_to(ROOT))],
                         cwd=ROOT, capture_output=True, text=True)
    commits = out.stdout.split()
    return commits[-1] if commits else None


def analyse(grids: list[dict]) -> dict:
    tr256, cu256 = final_losses(grids, "T256", "transformer"), final_losses(grids, "T256", "cubit")
    tr4k, cu4k = final_losses(grids, "T4096", "transformer"), final_losses(grids, "T4096", "cubit")
    d256, d4k = paired(cu256, tr256), paired(cu4k, tr4k)
    seeds = sorted(set(d256) & set(d4k))
    result: dict = {"seeds": seeds}
    result["recipe"] = {  # the training configuration of the primary arms (seed 0), for the book's tables
        f"T{t}": {k: v for k, v in runs[min(runs)]["train_config"].items() if k not in ("out", "seed", "mixer")}
        for t, runs in (("256", tr256), ("4096", tr4k)) if runs}
    if len(seeds) >= 2:
        primary = t_interval([d4k[s] - d256[s] for s in seeds])
        result["primary"] = {"endpoint": "I = Δ(4096) − Δ(256), Δ = L_cubit − L_transformer", **primary,
                             "verdict": verdict(primary)}
    result["gap"] = {f"T{t}": t_interval(list(d.values())) | {"seeds": list(d)}
                     for t, d in (("256", d256), ("4096", d4k)) if len(d) >= 2}
    result["final_val_loss"] = {
        f"{m}-T{t}": {str(s): r["final_val_loss"] for s, r in runs.items()}
        for (m, t), runs in {("transformer", 256): tr256, ("cubit", 256): cu256,
                             ("transformer", 4096): tr4k, ("cubit", 4096): cu4k}.items()}
    # secondary 2: the same positions, and the gap by position bin at 4096
    same = paired(cu4k, tr4k, position_mean(1, 256))
    if len(same) >= 2:
        result["gap_positions_1_256_at_T4096"] = t_interval(list(same.values()))
    result["gap_by_position_bin_T4096"] = {
        f"{lo}-{hi}": t_interval(list(paired(cu4k, tr4k, position_mean(lo, hi)).values()))
        for lo, hi in BINS if len(paired(cu4k, tr4k)) >= 2}
    result["gap_by_log_bin"] = {  # for the figure: the paired gap in bins that double in length
        f"T{t}": [{"first": lo, "last": hi, **t_interval(list(paired(cu, tr, position_mean(lo, hi)).values()))}
                  for lo, hi in log_bins(int(t))]
        for t, cu, tr in (("256", cu256, tr256), ("4096", cu4k, tr4k)) if len(paired(cu, tr)) >= 2}
    result["loss_by_position_bin"] = {
        f"{m}-T4096": {f"{lo}-{hi}": statistics.fmean(position_mean(lo, hi)(r) for r in runs.values())
                        for lo, hi in BINS}
        for m, runs in (("transformer", tr4k), ("cubit", cu4k)) if runs}
    # secondary 3: the other Cubit arms against the Transformer, same seeds
    result["secondary_arms"] = {}
    for arm, prefix, mixer in (("cubit-share", "share_", "cubit-share"), ("cubit-unrotated", "unrotated_", "cubit")):
        for t, tr in (("256", tr256), ("4096", tr4k)):
            runs = final_losses(grids, f"{prefix}T{t}", mixer)
            diff = paired(runs, tr)
            if len(diff) >= 2:
                result["secondary_arms"][f"{arm}-T{t}"] = t_interval(list(diff.values())) | {
                    "losses": {str(s): r["final_val_loss"] for s, r in runs.items()}}
    # secondary 4: the learning-rate check
    result["lr_check"] = {}
    for lr in ("5e-4", "1e-3", "2e-3"):
        for mixer in ("transformer", "cubit"):
            runs = final_losses(grids, f"lr{lr}_T4096", mixer)
            if 0 in runs:
                result["lr_check"][f"{mixer}-lr{lr}"] = runs[0]["final_val_loss"]
    flags = {}
    for mixer in ("transformer", "cubit"):
        base = result["lr_check"].get(f"{mixer}-lr1e-3")
        others = {lr: result["lr_check"].get(f"{mixer}-lr{lr}") for lr in ("5e-4", "2e-3")}
        if base is not None and all(v is not None for v in others.values()):
            best = min(others, key=others.get)
            flags[mixer] = {"best_other_rate": best, "improvement_over_1e-3": base - others[best],
                            "handicapped": base - others[best] > 0.02}
    result["lr_check_rule"] = flags
    # FOLLOWUP.md (exploratory): the Transformer at 2e-3 against Cubit at 1e-3, seeds 0-3
    tr_f256, tr_f4k = (final_losses(grids, f"followup_T{t}", "transformer") for t in ("256", "4096"))
    df256, df4k = paired(cu256, tr_f256), paired(cu4k, tr_f4k)
    f_seeds = sorted(set(df256) & set(df4k))
    if len(f_seeds) >= 2:
        i_f = t_interval([df4k[s] - df256[s] for s in f_seeds])
        result["followup"] = {
            "endpoint": "I_F = Δ_F(4096) − Δ_F(256), Δ_F = L_cubit(lr 1e-3) − L_transformer(lr 2e-3)",
            "exploratory": True, "seeds": f_seeds, "I_F": i_f | {"verdict": verdict(i_f)},
            "gap": {f"T{t}": t_interval(list(d.values())) for t, d in (("256", df256), ("4096", df4k))},
            "transformer_lr2e-3": {f"T{t}": {str(s): r["final_val_loss"] for s, r in runs.items()}
                                   for t, runs in (("256", tr_f256), ("4096", tr_f4k))},
            "transformer_rate_gain": {  # L(1e-3) − L(2e-3), paired by seed: how much the higher rate helps
                f"T{t}": t_interval(list(paired(tr, trf).values()))
                for t, tr, trf in (("256", tr256, tr_f256), ("4096", tr4k, tr_f4k))},
        }
    # FOLLOWUP.md G (exploratory): Cubit at 2e-3 at T = 256, seeds 0 and 1
    cu_g = final_losses(grids, "followup_cubit_T256", "cubit")
    if cu_g:
        gain = paired(cu256, cu_g)  # L(1e-3) − L(2e-3): positive when the higher rate helps
        best = paired(cu_g, tr_f256)  # both arms at 2e-3, T = 256
        result["followup_g"] = {
            "exploratory": True, "seeds": sorted(cu_g),
            "cubit_lr2e-3_T256": {str(s): r["final_val_loss"] for s, r in cu_g.items()},
            "cubit_rate_gain_T256": gain,
            "gap_both_at_2e-3_T256": best,
        }
    # secondary 5: the second corpus
    diff = paired(final_losses(grids, "stdlib_T4096", "cubit"), final_losses(grids, "stdlib_T4096", "transformer"))
    if len(diff) >= 2:
        result["stdlib_gap_T4096"] = t_interval(list(diff.values()))
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grids", type=Path, default=ROOT / "results" / "fair_comparison")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "fair_comparison.json")
    args = parser.parse_args(argv)
    grids = load_grids(args.grids)
    runs = [r for g in grids for r in g["runs"]]
    result = {
        "command": "python experiments/fair_comparison/analyse.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "plan": "experiments/fair_comparison/PLAN.md",
        "plan_commit": plan_commit(),
        "followup_plan": "experiments/fair_comparison/FOLLOWUP.md",
        "followup_plan_commit": plan_commit(PLAN.with_name("FOLLOWUP.md")),
        "git_commit": grids[0]["git_commit"],  # parts A-C; follow-up F ran at a later commit (same training code)
        "run_commits": sorted({g["git_commit"] for g in grids}),
        "device": grids[0]["device"],
        "devices": sorted({g["device"] for g in grids}),
        "torch": grids[0]["torch"],
        "grids": {g["name"]: {"command": g["command"], "complete": g["complete"], "git_commit": g["git_commit"],
                              "wall_seconds": g["wall_seconds"],
                              **({"git_commit_erratum": g["git_commit_erratum"]} if "git_commit_erratum" in g else {})}
                  for g in grids},
        "failed_runs": [f"{r['mixer']} seed {r['seed']}" for r in runs if r["returncode"] != 0],
        **analyse(grids),
    }
    save_json(args.out, result)
    primary = result.get("primary")
    if primary:
        print(f"I = {primary['mean']:+.4f} nats/char, 95% CI [{primary['low']:+.4f}, {primary['high']:+.4f}], "
              f"t({primary['df']}) = {primary['t']:.2f}, p = {primary['p']:.3g}: {primary['verdict']}")
    follow = result.get("followup")
    if follow:
        i_f = follow["I_F"]
        print(f"follow-up (exploratory): I_F = {i_f['mean']:+.4f}, 95% CI [{i_f['low']:+.4f}, {i_f['high']:+.4f}], "
              f"t({i_f['df']}) = {i_f['t']:.2f}: {i_f['verdict']}")
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
