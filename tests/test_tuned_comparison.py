"""The pre-registered tuned comparison: its statistics, its analysis of grids, its runner and its order in git."""

from __future__ import annotations

import importlib.util
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from repo_history import commits_adding, git, require_history, strictly_after
from scipy import stats

from cubit_lite.comparison import (
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

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "experiments" / "tuned_comparison"
RESULTS = ROOT / "results" / "tuned_comparison"
spec = importlib.util.spec_from_file_location("tuned_analyse", FOLDER / "analyse.py")
analyse = importlib.util.module_from_spec(spec)
spec.loader.exec_module(analyse)

# ---------------------------------------------------------------------------
# The statistics (cubit_lite.comparison)


def test_choose_rate_picks_the_lowest_mean_inside_the_grid():
    got = choose_rate({1e-3: [1.60, 1.62], 2e-3: [1.50, 1.52], 4e-3: [1.55, 1.55], 8e-3: [1.70, 1.71]})
    assert got["chosen"] == "2e-3" and got["chosen_lr"] == 2e-3
    assert got["at_edge"] is None and got["next_rate"] is None and got["next_lr"] is None
    assert list(got["rates"]) == ["1e-3", "2e-3", "4e-3", "8e-3"]
    assert got["rates"]["2e-3"] == {"lr": 2e-3, "mean": pytest.approx(1.51), "losses": [1.50, 1.52]}


def test_choose_rate_sends_a_tie_to_the_smaller_rate():
    within = choose_rate({1e-3: [1.6, 1.6], 2e-3: [1.512, 1.512], 4e-3: [1.510, 1.510], 8e-3: [1.6, 1.6]})
    assert within["chosen"] == "2e-3" and within["lowest_mean"] == pytest.approx(1.510)
    outside = choose_rate({1e-3: [1.6, 1.6], 2e-3: [1.514, 1.514], 4e-3: [1.510, 1.510], 8e-3: [1.6, 1.6]})
    assert outside["chosen"] == "4e-3"
    at_the_band = choose_rate({1e-3: [1.6], 2e-3: [1.503], 4e-3: [1.500], 8e-3: [1.6]})  # 0.003 apart, in floats
    assert at_the_band["chosen"] == "2e-3"


@pytest.mark.parametrize("bad", [None, math.nan, math.inf])
def test_a_failed_or_diverged_run_makes_its_rate_infinite(bad):
    got = choose_rate({1e-3: [1.6, 1.6], 2e-3: [1.55, 1.56], 4e-3: [bad, 1.40], 8e-3: [1.7, 1.7]})
    assert got["rates"]["4e-3"]["mean"] == math.inf and got["rates"]["4e-3"]["losses"] == [None, 1.40]
    assert got["chosen"] == "2e-3"
    with pytest.raises(ValueError, match="every rate failed"):
        choose_rate({1e-3: [None, 1.5], 2e-3: [math.nan, 1.5]})


@pytest.mark.parametrize("losses, edge, next_rate", [
    ({1e-3: [1.4], 2e-3: [1.5], 4e-3: [1.6], 8e-3: [1.7]}, "low", "5e-4"),
    ({1e-3: [1.7], 2e-3: [1.6], 4e-3: [1.5], 8e-3: [1.4]}, "high", "1.6e-2"),
    ({5e-4: [1.3], 1e-3: [1.4], 2e-3: [1.5], 4e-3: [1.6], 8e-3: [1.7]}, "low", "2.5e-4"),
    ({1e-3: [1.7], 2e-3: [1.6], 4e-3: [1.5], 8e-3: [1.4], 1.6e-2: [1.3]}, "high", "3.2e-2"),
])
def test_a_choice_at_an_edge_names_the_next_rate_out(losses, edge, next_rate):
    got = choose_rate(losses)
    assert got["at_edge"] == edge and got["next_rate"] == next_rate and got["next_lr"] == float(next_rate)


def test_choose_rate_refuses_what_is_not_a_doubling_grid():
    with pytest.raises(ValueError, match="doubling grid.*2e-3 is followed by 8e-3"):
        choose_rate({1e-3: [1.5], 2e-3: [1.4], 8e-3: [1.6]})
    with pytest.raises(ValueError, match="at least two rates"):
        choose_rate({1e-3: [1.5]})
    with pytest.raises(ValueError, match="number or None"):
        choose_rate({1e-3: ["1.5"], 2e-3: [1.4]})


@pytest.mark.parametrize("label", ["1e-3", "2e-3", "4e-3", "8e-3", "1.6e-2", "3.2e-2", "5e-4", "2.5e-4", "1.25e-4"])
def test_rate_label_round_trips(label):
    assert rate_label(float(label)) == label
    assert rate_label(float(label) * 2) == rate_label(float(label) + float(label))
    with pytest.raises(ValueError, match="positive finite number"):
        rate_label(-float(label))


def test_holm_on_hand_worked_examples():
    both = holm({"a": 0.01, "b": 0.04})
    assert [both[k]["rejected"] for k in "ab"] == [True, True]
    assert (both["a"]["level"], both["b"]["level"]) == pytest.approx((0.975, 0.95))
    assert (both["a"]["rank"], both["b"]["rank"]) == (1, 2)
    neither = holm({"a": 0.03, "b": 0.04})
    assert [neither[k]["rejected"] for k in "ab"] == [False, False]
    # the step-down stops at the first failure: b (0.04 <= 0.05) is not rejected once c (0.03 > 0.025) is not
    three = holm({"a": 0.001, "b": 0.04, "c": 0.03})
    assert [three[k]["rank"] for k in "abc"] == [1, 3, 2]
    assert [three[k]["rejected"] for k in "abc"] == [True, False, False]
    assert [three[k]["alpha_step"] for k in "abc"] == pytest.approx([0.05 / 3, 0.05, 0.025])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        holm({"a": 1.5})


VALUES = [0.012, -0.004, 0.02, 0.007, 0.015, -0.001, 0.009, 0.011, 0.003, 0.006]


def test_t_test_agrees_with_scipy():
    got = t_test(VALUES, 0.975)
    test = stats.ttest_1samp(VALUES, 0.0)
    assert got["t"] == pytest.approx(test.statistic) and got["p"] == pytest.approx(test.pvalue)
    low, high = stats.t.interval(0.975, 9, loc=statistics.fmean(VALUES), scale=stats.sem(VALUES))
    assert (got["low"], got["high"]) == pytest.approx((low, high)) and got["n"] == 10 and got["level"] == 0.975


def test_tost_agrees_with_two_one_sided_scipy_tests():
    margin = 0.012
    got = tost(VALUES, margin)
    assert got["p_lower"] == pytest.approx(stats.ttest_1samp(VALUES, -margin, alternative="greater").pvalue)
    assert got["p_upper"] == pytest.approx(stats.ttest_1samp(VALUES, margin, alternative="less").pvalue)
    assert got["p"] == max(got["p_lower"], got["p_upper"])
    low, high = stats.t.interval(0.90, 9, loc=statistics.fmean(VALUES), scale=stats.sem(VALUES))
    assert (got["low"], got["high"], got["level"]) == pytest.approx((low, high, 0.90))
    assert got["equivalent"] == (got["p"] < 0.05)
    assert got["smallest_margin"] == pytest.approx(max(abs(low), abs(high)))
    assert tost(VALUES, got["smallest_margin"] * 1.001)["equivalent"]
    assert not tost(VALUES, got["smallest_margin"] * 0.999)["equivalent"]
    with pytest.raises(ValueError, match="margin"):
        tost(VALUES, 0)


def test_welch_agrees_with_scipy():
    a, b = [1.52, 1.50, 1.55, 1.49, 1.53], [1.47, 1.49, 1.44, 1.50, 1.46, 1.43, 1.48]
    got = welch(a, b)
    test = stats.ttest_ind(a, b, equal_var=False)
    assert got["t"] == pytest.approx(test.statistic) and got["p"] == pytest.approx(test.pvalue)
    va, vb = statistics.variance(a) / 5, statistics.variance(b) / 7
    assert got["df"] == pytest.approx((va + vb) ** 2 / (va**2 / 4 + vb**2 / 6))
    assert got["df"] == pytest.approx(test.df)
    ci = test.confidence_interval(0.95)
    assert (got["low"], got["high"]) == pytest.approx((ci.low, ci.high))
    assert got["estimate"] == pytest.approx(statistics.fmean(a) - statistics.fmean(b))


def test_welch_interaction_reduces_to_welch_with_two_groups_without_spread():
    c, t = [1.52, 1.50, 1.55, 1.49, 1.53], [1.47, 1.49, 1.44, 1.50, 1.46, 1.43, 1.48]
    two = welch(c, t)
    four = welch_interaction(c, t, [0.0, 0.0, 0.0], [0.0, 0.0])
    for key in ("estimate", "se", "df", "t", "p", "low", "high"):
        assert four[key] == pytest.approx(two[key]), key
    shifted = welch_interaction(c, t, [1.0, 1.0, 1.0], [0.25, 0.25])  # subtracts 1 − 0.25
    assert shifted["estimate"] == pytest.approx(two["estimate"] - 0.75)
    assert shifted["se"] == pytest.approx(two["se"]) and shifted["df"] == pytest.approx(two["df"])
    with pytest.raises(ValueError, match="zero spread"):
        welch_interaction([1.0, 1.0], [2.0, 2.0], [0.0, 0.0], [0.0, 0.0])


@pytest.mark.parametrize("alpha", [0.025, 0.05])
def test_power_min_detectable_has_80_percent_power(alpha):
    sd, n = 0.02, 16
    effect = power_min_detectable(sd, n, alpha)
    nc, crit = effect / (sd / math.sqrt(n)), stats.t.ppf(1 - alpha / 2, n - 1)
    power = stats.nct.sf(crit, n - 1, nc) + stats.nct.cdf(-crit, n - 1, nc)
    assert 0.78 < power < 0.82
    assert power_min_detectable(sd, n, alpha, power=0.9) > effect
    with pytest.raises(ValueError, match="n must be"):
        power_min_detectable(sd, 1, alpha)


def test_the_plan_words_for_endpoints_and_decision():
    below, across, above = {"low": -0.03, "high": -0.01}, {"low": -0.01, "high": 0.01}, {"low": 0.01, "high": 0.02}
    assert decision({"E1": below, "E2": below}) == "supported"
    assert decision({"E1": below, "E2": above}) == "contradicted"
    assert decision({"E1": below, "E2": across}) == "equivalence tested"
    assert endpoint_status(below, {"equivalent": False}) == "below 0"
    assert endpoint_status(above, {"equivalent": False}) == "above 0"
    assert endpoint_status(across, {"equivalent": True}) == "equivalent to 0 within the margin"
    assert endpoint_status(across, {"equivalent": False}) == "inconclusive"


# ---------------------------------------------------------------------------
# The analysis on synthetic grids in run_lm.py's format

COMMIT = "a" * 40
STEPS = range(250, 2001, 250)


def _run(arm, t, rate, seed, loss, far=0.0):
    """One run as run_lm.py writes it; ``loss`` None is a failed run; ``far`` shifts positions past 2048."""
    if loss is None:
        return {"mixer": arm, "seed": seed, "returncode": 1, "wall_seconds": 3.0, "error": "RuntimeError: boom"}
    slope = 0.5 if arm == "cubit" else 0.4  # the gap at step k is Δ + 0.1 (2000 − k) / 2000
    config = {**analyse.RECIPE, "out": f"/tmp/w/runs/{arm}-s{seed}", "max_chars": None, "val_fraction": 0.1,
              "mixer": arm, "mixer_options": {}, "block_size": t, "batch_size": 16384 // t, "lr": float(rate),
              "min_lr": float(rate) / 10, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.99, "grad_clip": 1.0,
              "log_interval": 10, "seed": seed, "device": "auto", "precision": "auto", "resume": False,
              "overwrite": False, "stop_at": None, "progress": False}
    return {"mixer": arm, "seed": seed, "returncode": 0, "wall_seconds": 120.0, "num_parameters": 3_200_000,
            "final_val_loss": loss, "best_val_loss": loss,
            "val_curve": [[k, loss + slope * (2000 - k) / 2000] for k in STEPS],
            "train_curve": [[10, 3.5], [2000, loss - 0.05]], "tokens_per_second": 120_000.0,
            "val_loss_per_position": [loss + (far if p > 2048 else 0.0) for p in range(1, t + 1)],
            "train_config": config}


def _grid(folder, label, arm, t, rate, losses, commit=COMMIT, far=None):
    """Write ``tuned_<label>_<arm>_T<t>.json`` with one run per ``{seed: loss}``."""
    name = f"{label}_{arm}_T{t}"
    seeds = list(losses)
    runs = [_run(arm, t, rate, s, loss, far(s) if far else 0.0) for s, loss in losses.items()]
    command = (f"python experiments/run_lm.py --name tuned-{name} --mixers {arm} --seeds {' '.join(map(str, seeds))} "
               f"--parallel 2 --runs /tmp/w/runs/{name} --summary /tmp/w/tuned_{name}.json --git-commit {commit} -- "
               "--corpus shakespeare --positions rotary --n-layer 4 --n-head 4 --d-model 256 --dropout 0.1 "
               "--warmup 100 --steps 2000 --eval-interval 250 --eval-batches 50 "
               f"--block-size {t} --batch-size {16384 // t} --lr {rate} --min-lr {float(rate) / 10}")
    grid = {"name": f"tuned-{name}", "complete": all(r["returncode"] == 0 for r in runs), "command": command,
            "device": "NVIDIA H200", "torch": "2.11.0+cu130", "cuda": "13.0", "python": "3.12.3",
            "git_commit": commit, "created_utc": "2026-01-01T00:00:00+00:00", "seeds": seeds, "parallel_runs": 2,
            "wall_seconds": 500.0, "runs": runs}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"tuned_{name}.json").write_text(json.dumps(grid))


# mean final loss at 1e-3, 2e-3, 4e-3, 8e-3; seed 100 is 0.004 above, seed 101 0.004 below
TUNING = {
    ("transformer", 256): [1.60, 1.55, 1.57, 1.65],  # 2e-3
    ("cubit", 256): [1.62, 1.58, 1.56, 1.50],  # 8e-3 would win, but one of its runs diverges: 4e-3
    ("transformer", 4096): [1.58, 1.54, 1.52, 1.56],  # 4e-3
    ("cubit", 4096): [1.60, 1.522, 1.520, 1.55],  # 4e-3 lowest, 2e-3 within 0.003: 2e-3
}
CHOSEN = {"transformer_T256": "2e-3", "cubit_T256": "4e-3", "transformer_T4096": "4e-3", "cubit_T4096": "2e-3"}


def _tuning(folder, table=TUNING, commit=COMMIT):
    for (arm, t), means in table.items():
        for rate, mean in zip(("1e-3", "2e-3", "4e-3", "8e-3"), means, strict=True):
            losses = {100: mean + 0.004, 101: mean - 0.004}
            if (arm, t, rate) == ("cubit", 256, "8e-3"):
                losses[101] = math.nan  # a run that ended with a non-finite loss
            if (arm, t, rate) == ("transformer", 256, "8e-3"):
                losses[100] = None  # a run that failed
            _grid(folder, f"tune_lr{rate}", arm, t, rate, losses, commit)


def _choose(tmp_path, **kwargs):
    grids, choice = tmp_path / "grids", tmp_path / "choice.json"
    _tuning(grids, **kwargs)
    return analyse.main(["choose", "--grids", str(grids), "--out", str(choice)]), grids, choice


def test_choose_applies_the_rule_and_writes_the_choice(tmp_path, capsys):
    result, _, choice = _choose(tmp_path)
    written = json.loads(choice.read_text())
    assert {name: cell["chosen"] for name, cell in written["cells"].items()} == CHOSEN
    assert written["final"] is True and written["missing_edge_runs"] == []
    assert written["cells"]["cubit_T256"]["rates"]["8e-3"]["mean"] is None  # +inf, written as null
    assert written["cells"]["cubit_T256"]["rates"]["8e-3"]["losses"] == [pytest.approx(1.504), None]
    assert written["cells"]["transformer_T256"]["rates"]["8e-3"]["losses"] == [None, pytest.approx(1.646)]
    assert written["cells"]["transformer_T4096"]["rates"]["4e-3"]["mean"] == pytest.approx(1.52)
    assert written["git_commit"] == COMMIT and written["devices"] == ["NVIDIA H200"]
    assert written["plan"] == "experiments/tuned_comparison/PLAN.md"
    assert written["plan_commit"] == analyse.plan_commit() and written["analysis"]["device"]
    assert written["command"].startswith("python experiments/tuned_comparison/analyse.py choose")
    assert written["inputs"]["tuned_tune_lr2e-3_cubit_T4096.json"]["command"].endswith("--min-lr 0.0002")
    assert len(written["failed_runs"]) == 2 and result["final"] is True
    assert "<- chosen" in capsys.readouterr().out


def test_choose_at_an_edge_asks_for_the_next_rate(tmp_path):
    table = {**TUNING, ("transformer", 4096): [1.60, 1.58, 1.56, 1.52]}  # best at 8e-3, the top of the grid
    result, grids, choice = _choose(tmp_path, table=table)
    assert result["final"] is False
    assert result["missing_edge_runs"] == [{"arm": "transformer", "T": 4096, "rate": "1.6e-2"}]
    with pytest.raises(SystemExit, match="not final: Part 1 still needs the edge rates transformer T=4096 lr 1.6e-2"):
        analyse.main(["rate", "transformer", "4096", "--choice", str(choice)])
    _grid(grids, "edge_lr1.6e-2_transformer_T4096", "transformer", 4096, "1.6e-2", {100: 1.534, 101: 1.526})
    again = analyse.main(["choose", "--grids", str(grids), "--out", str(choice)])
    assert again["final"] is True and again["cells"]["transformer_T4096"]["chosen"] == "8e-3"
    assert list(again["cells"]["transformer_T4096"]["rates"]) == ["1e-3", "2e-3", "4e-3", "8e-3", "1.6e-2"]


def test_choose_refuses_incomplete_or_foreign_tuning_runs(tmp_path):
    grids = tmp_path / "grids"
    _tuning(grids)
    _grid(grids, "tune_lr8e-3", "cubit", 4096, "8e-3", {100: 1.55})  # seed 101 missing
    with pytest.raises(SystemExit, match=r"lacks these runs[\s\S]*cubit T=4096 lr 8e-3 seed 101"):
        analyse.main(["choose", "--grids", str(grids), "--out", str(tmp_path / "c.json")])
    _grid(grids, "tune_lr8e-3", "cubit", 4096, "8e-3", {100: 1.55, 0: 1.55})
    with pytest.raises(SystemExit, match="seed 0 is not a tuning seed"):
        analyse.main(["choose", "--grids", str(grids), "--out", str(tmp_path / "c.json")])
    _grid(grids, "tune_lr8e-3", "cubit", 4096, "8e-3", {100: 1.55, 101: 1.55}, commit="b" * 40)
    with pytest.raises(SystemExit, match=f"different commits.*{'b' * 40}: tuned_tune_lr8e-3_cubit_T4096.json"):
        analyse.main(["choose", "--grids", str(grids), "--out", str(tmp_path / "c.json")])
    assert not (tmp_path / "c.json").exists()


def test_rate_prints_the_chosen_label_from_the_command_line(tmp_path):
    _, _, choice = _choose(tmp_path)
    script = str(FOLDER / "analyse.py")
    done = subprocess.run([sys.executable, script, "rate", "cubit", "4096", "--choice", str(choice)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "2e-3\n", done.stderr
    done = subprocess.run([sys.executable, script, "rate", "cubit", "4096", "--choice", str(tmp_path / "none.json")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "does not exist: run Part 1" in done.stderr


# Δ noise per seed (sums to 0.001 over the 16 seeds)
NOISE = [0.004, -0.003, 0.001, -0.002, 0.003, 0.0, -0.001, 0.002, -0.004, 0.003, -0.001, 0.002, -0.003, 0.0, 0.001,
         -0.0]
BASE = {256: 1.55, 4096: 1.52}


def _confirmation(grids, d4096, d256, seeds=range(16), rates=None, commits=None):
    """Both parts' grids: the Transformer at BASE + 0.01 (seed % 5), Cubit Δ(T, seed) above it."""
    rates, commits = dict(CHOSEN, **(rates or {})), commits or {}
    for part in (list(seeds)[:8], list(seeds)[8:]):
        if not part:
            continue
        label = "confirm_s" + "-".join(map(str, part))
        for t, delta in ((256, d256), (4096, d4096)):
            for arm in ("transformer", "cubit"):
                losses = {s: BASE[t] + 0.01 * (s % 5) + (delta[s] if arm == "cubit" else 0.0) for s in part}
                far = (lambda s: -0.02 - 0.001 * (s % 3)) if arm == "cubit" else None
                _grid(grids, label, arm, t, rates[f"{arm}_T{t}"], losses, commits.get(f"{arm}_T{t}", COMMIT), far)


def _confirm(tmp_path, grids, choice):
    out = tmp_path / "tuned_comparison.json"
    result = analyse.main(["confirm", "--grids", str(grids), "--choice", str(choice), "--out", str(out)])
    assert json.loads(out.read_text())["seeds"] == result["seeds"]
    return result


def test_confirm_recovers_the_endpoints_and_supports_h1(tmp_path):
    _, grids, choice = _choose(tmp_path)
    d4096, d256 = [-0.05 + e for e in NOISE], [-0.01 + e / 2 for e in reversed(NOISE)]
    _confirmation(grids, d4096, d256, seeds=range(8))  # Part 2 only: no decision yet
    partial = _confirm(tmp_path, grids, choice)
    assert partial["complete"] is False and partial["decision"] is None and "incomplete" in partial["status"]
    assert partial["seeds"] == list(range(8)) and partial["missing_seeds"]["cubit_T4096"] == list(range(8, 16))
    _confirmation(grids, d4096, d256)
    result = _confirm(tmp_path, grids, choice)
    assert result["complete"] is True and result["seeds"] == list(range(16))
    assert result["E1"]["values"] == pytest.approx(d4096, abs=1e-12)
    assert result["E2"]["values"] == pytest.approx([a - b for a, b in zip(d4096, d256, strict=True)], abs=1e-12)
    assert result["E1"]["mean"] == pytest.approx(-0.05 + sum(NOISE) / 16)
    assert result["E1"]["test"]["p"] == pytest.approx(stats.ttest_1samp(result["E1"]["values"], 0).pvalue)
    assert result["decision"] == "supported"
    assert result["E1"]["status"] == result["E2"]["status"] == "below 0"
    levels = sorted(result[e]["adjusted_interval"]["level"] for e in ("E1", "E2"))
    assert levels == pytest.approx([0.95, 0.975])
    assert result["welch_sensitivity"]["E1"]["estimate"] == pytest.approx(result["E1"]["mean"])
    assert result["welch_sensitivity"]["E2"]["estimate"] == pytest.approx(result["E2"]["mean"])
    assert set(result["E1"]["min_detectable"]) >= {"alpha_0.025", "alpha_0.05"}
    secondary = result["secondary"]
    assert secondary["delta_256"]["mean"] == pytest.approx(statistics.fmean(d256))
    contrast = secondary["position_contrast_T4096"]
    assert contrast["values"] == pytest.approx([-0.02 - 0.001 * (s % 3) for s in range(16)], abs=1e-9)
    by_step = {row["step"]: row for row in secondary["gap_by_step"]["T256"]}
    assert list(by_step) == list(STEPS)
    assert by_step[2000]["mean"] == pytest.approx(statistics.fmean(d256))
    assert by_step[250]["mean"] == pytest.approx(statistics.fmean(d256) + 0.1 * 1750 / 2000)
    assert result["part1"]["cubit_T4096"]["chosen"] == "2e-3" and result["chosen_rates"] == CHOSEN
    assert result["git_commit"] == COMMIT and result["command"].startswith("python experiments/")


def test_confirm_contradicts_h1_when_cubit_is_worse_at_long_context(tmp_path):
    _, grids, choice = _choose(tmp_path)
    _confirmation(grids, [0.03 + e for e in NOISE], [e for e in reversed(NOISE)])
    result = _confirm(tmp_path, grids, choice)
    assert result["decision"] == "contradicted" and result["E1"]["status"] == "above 0"


def test_confirm_declares_equivalence_or_gives_the_smallest_margin(tmp_path):
    _, grids, choice = _choose(tmp_path)
    zero = [0.001 * (-1) ** s for s in range(16)]  # mean exactly 0, sd 0.001
    _confirmation(grids, zero, [0.0] * 16)
    result = _confirm(tmp_path, grids, choice)
    assert result["decision"] == "equivalence tested"
    assert result["E1"]["status"] == result["E2"]["status"] == "equivalent to 0 within the margin"
    assert result["E1"]["tost"]["margin"] == 0.01 and result["E2"]["tost"]["margin"] == 0.015
    wide = [0.05 * (-1) ** s for s in range(16)]  # mean 0, sd 0.05: too noisy to call equivalent
    _confirmation(grids, wide, [0.0] * 16)
    result = _confirm(tmp_path, grids, choice)
    assert result["decision"] == "equivalence tested" and result["E1"]["status"] == "inconclusive"
    interval = result["E1"]["tost"]
    assert result["E1"]["smallest_margin"] == pytest.approx(max(-interval["low"], interval["high"]))
    assert result["E1"]["smallest_margin"] > 0.01 and not interval["equivalent"]


def test_confirm_refuses_another_rate_or_another_commit(tmp_path):
    _, grids, choice = _choose(tmp_path)
    _confirmation(grids, NOISE, NOISE, rates={"cubit_T256": "2e-3"})
    with pytest.raises(SystemExit, match="ran at lr 2e-3, but the rate chosen for cubit_T256 in choice.json is 4e-3"):
        _confirm(tmp_path, grids, choice)
    for path in grids.glob("tuned_confirm_*"):
        path.unlink()
    _confirmation(grids, NOISE, NOISE, commits={"cubit_T4096": "b" * 40})
    with pytest.raises(SystemExit, match=f"training code of Part 1 .*{COMMIT}.*{'b' * 40}: tuned_confirm_s0-1"):
        _confirm(tmp_path, grids, choice)


def test_confirm_refuses_a_choice_that_is_not_final(tmp_path):
    table = {**TUNING, ("cubit", 256): [1.50, 1.58, 1.56, 1.60]}  # best at 1e-3: 5e-4 still to run
    result, grids, choice = _choose(tmp_path, table=table)
    assert result["missing_edge_runs"] == [{"arm": "cubit", "T": 256, "rate": "5e-4"}]
    _confirmation(grids, NOISE, NOISE)
    with pytest.raises(SystemExit, match="not final"):
        _confirm(tmp_path, grids, choice)


# ---------------------------------------------------------------------------
# The runner refuses what the plan does not allow


@pytest.mark.parametrize("args, message", [
    (["nonsense"], "unknown part nonsense"),
    (["tune", "abc"], "tune takes one peak rate such as 2e-3"),
    (["confirm", "16"], "confirmation seeds are 0-15; got 16"),
    (["edge", "cubit", "512", "1e-3"], "edge takes ARM (transformer or cubit), T (256 or 4096)"),
])
def test_run_part_refuses_what_the_plan_does_not_allow(tmp_path, args, message):
    out = tmp_path / "out"
    done = subprocess.run(["bash", str(FOLDER / "run_part.sh"), str(out), "0" * 40, *args],
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "LIMIT": "5"})
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not out.exists()


# ---------------------------------------------------------------------------
# The order in git: the plan, then Part 1's results, then the final choice, then the confirmation runs


def _final_choice_commit() -> str | None:
    """The first commit whose results/tuned_comparison/choice.json says ``"final": true``."""
    path = "results/tuned_comparison/choice.json"
    for commit in reversed(git("log", "--format=%H", "--", path).stdout.split()):
        shown = git("show", f"{commit}:{path}")
        if shown.returncode == 0 and json.loads(shown.stdout).get("final") is True:
            return commit
    return None


def test_the_plan_was_committed_before_any_result():
    require_history()
    plan = commits_adding("experiments/tuned_comparison/PLAN.md")
    assert plan, "experiments/tuned_comparison/PLAN.md must be committed"
    committed = {path.name: commits_adding(path) for path in sorted(RESULTS.glob("tuned_*.json"))}
    committed = {name: added for name, added in committed.items() if added}
    if not committed:
        pytest.skip("no results/tuned_comparison/tuned_*.json is committed yet")
    early = [name for name, added in committed.items() if not strictly_after(plan[-1], added[-1])]
    assert not early, f"committed before (or with) the plan: {early}"
    for summary in (RESULTS / "choice.json", ROOT / "results" / "tuned_comparison.json"):
        if commits_adding(summary):
            assert json.loads(summary.read_text())["plan_commit"] == plan[-1], summary.name


def test_the_confirmation_runs_came_after_the_final_choice():
    require_history()
    confirms = {path.name: commits_adding(path) for path in sorted(RESULTS.glob("tuned_confirm_*.json"))}
    confirms = {name: added for name, added in confirms.items() if added}
    final = _final_choice_commit()
    if final is None and not confirms:
        pytest.skip("no final results/tuned_comparison/choice.json and no confirmation run is committed yet")
    assert final is not None, f"confirmation runs are committed but no committed choice.json is final: {list(confirms)}"
    early = [name for name, added in confirms.items() if not strictly_after(final, added[-1])]
    assert not early, f"committed before (or with) the final choice {final}: {early}"
