"""cubit_lite.results finds the committed GPU results locally, and says clearly when it cannot."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from cubit_lite import results

ROOT = Path(__file__).resolve().parents[1]


def test_committed_results_are_found_in_the_checkout():
    path = results.results_path("appendix_fast/mixer_speed_h100.json", download=False)
    assert path.resolve() == (ROOT / "results" / "appendix_fast" / "mixer_speed_h100.json").resolve()
    assert results.load_json("appendix_fast/mixer_speed_h100.json")["rows"]


def test_environment_variable_takes_precedence(tmp_path, monkeypatch):
    (tmp_path / "appendix_fast").mkdir()
    (tmp_path / "appendix_fast" / "mixer_speed_h100.json").write_text('{"rows": [], "mine": true}')
    monkeypatch.setenv("CUBIT_LITE_RESULTS", str(tmp_path))
    assert results.load_json("appendix_fast/mixer_speed_h100.json")["mine"] is True


def test_missing_file_without_download_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="results/nope.json not found locally"):
        results.results_path("nope.json", download=False)


def test_failed_download_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(results, "RESULTS_URL", (tmp_path / "no-such-dir").as_uri() + "/")
    with pytest.raises(FileNotFoundError, match="CUBIT_LITE_RESULTS"):
        results.results_path("nope.json")


def test_download_is_cached(tmp_path, monkeypatch):
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "new.json").write_text('{"x": 1}')
    monkeypatch.setattr(results, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(results, "RESULTS_URL", remote.as_uri() + "/")
    assert results.load_json("new.json") == {"x": 1}
    assert (tmp_path / "cache" / "new.json").is_file()


def test_a_file_in_a_folder_is_downloaded_into_that_folder_of_the_cache(tmp_path, monkeypatch):
    """Colab: a chapter asks for ``ch07/...``; the download keeps the folder, in the URL and in the cache."""
    (tmp_path / "remote" / "ch07").mkdir(parents=True)
    (tmp_path / "remote" / "ch07" / "new.json").write_text('{"x": 2}')
    monkeypatch.setattr(results, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(results, "RESULTS_URL", (tmp_path / "remote").as_uri() + "/")
    assert results.load_json("ch07/new.json") == {"x": 2}
    assert (tmp_path / "cache" / "ch07" / "new.json").is_file()


@pytest.mark.parametrize("name", ["", "/etc/passwd", "../secrets.json", "ch07/../x.json", "ch07//x.json",
                                  ".hidden", "ch07/.hidden", "ch07\\x.json", None])
def test_names_are_relative_paths_of_plain_parts(name):
    with pytest.raises(ValueError, match="name must be a file inside results/, its folders separated by '/'"):
        results.results_path(name)


def test_repository_url_matches_the_book_config():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert results.REPOSITORY_URL == config["repository"]["url"]


RESULTS = ROOT / "results"


STUDIES = {path.parent.name for path in (ROOT / "experiments").glob("*/PLAN.md")}  # folders with a plan
PAGE_FILES = [path for path in sorted(RESULTS.glob("*/*.json")) if path.parent.name not in STUDIES]


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.json")) + sorted(RESULTS.glob("fair_comparison/*.json"))
                         + PAGE_FILES, ids=lambda p: str(p.relative_to(RESULTS)))
def test_every_result_file_records_its_provenance(path):
    import json
    import re

    result = json.loads(path.read_text(encoding="utf-8"))
    # GPU runs name their GPU; CPU benchmarks (corpus loading) say "CPU (...)"
    assert (re.search(r"\bH(100|200)\b", result["device"]) or result["device"].startswith("CPU (")) and result["torch"]
    for gpu in ("h100", "h200"):  # a file named for its GPU was made on it
        if f"_{gpu}" in path.name:
            assert gpu.upper() in result["device"], (path.name, result["device"])
    assert re.fullmatch(r"[0-9a-f]{40}", result["git_commit"])
    assert result["command"].startswith(("python benchmarks/", "python experiments/"))
    if path.name.startswith(("lm_", "fair_")) and "runs" in result:
        assert result["complete"] and result["runs"]
        for run in result["runs"]:
            assert run["returncode"] == 0 and math.isfinite(run["final_val_loss"])
            assert len(run["val_loss_per_position"]) == run["train_config"]["block_size"]
            assert run["seed"] in result["seeds"]


def test_results_stay_small_enough_to_commit():
    total = sum(p.stat().st_size for p in RESULTS.rglob("*") if p.is_file())
    assert total <= 25 * 2**20, f"results/ holds {total / 2**20:.1f} MiB; the limit is 25 MiB"


@pytest.mark.slow  # 1.4 s
@pytest.mark.parametrize("name", ["ch07/main-transformer-s0.pt", "ch07/main-cubit-s0.pt"])
def test_committed_checkpoints_sample_on_a_cpu(name):
    from cubit_lite.checkpoint import load_model
    from cubit_lite.sample import sample_text

    model, tokenizer, payload = load_model(results.results_path(name, download=False))
    assert payload["model_config"]["mixer"] in name and payload["step"] == 2000
    text = sample_text(model, tokenizer, "ROMEO:\n", 80, seed=0)
    assert text.startswith("ROMEO:\n") and len(text) == len("ROMEO:\n") + 80
    assert text == sample_text(model, tokenizer, "ROMEO:\n", 80, seed=0)


# ---------------------------------------------------------------------------
# The bookkeeping: runs by configuration, recipes, statistics over seeds

import numpy as np  # noqa: E402
import scipy.stats  # noqa: E402

from cubit_lite.train_config import TrainConfig  # noqa: E402


def test_collect_runs_gathers_each_mixers_runs_sorted_by_seed_and_loads_each_file_once(monkeypatch):
    loads = []
    real = results.load_json
    monkeypatch.setattr(results, "load_json", lambda name: loads.append(name) or real(name))
    sources = {("transformer", 256): [f"ch07/lm_main_s{s}.json" for s in (2, 0, 1)],
               ("cubit", 256): [f"ch07/lm_main_s{s}.json" for s in (2, 0, 1)],
               ("cubit", 1024): ["ch08/lm_sweep_T1024.json"]}
    files, runs = results.collect_runs(sources)
    assert sorted(loads) == sorted(set(loads)) == sorted(files)
    assert [r["seed"] for r in runs[("transformer", 256)]] == [0, 1, 2]
    for (mixer, T), rs in runs.items():
        assert all(r["mixer"] == mixer and r["train_config"]["block_size"] == T for r in rs)
    main = {s: real(f"ch07/lm_main_s{s}.json") for s in range(3)}
    assert runs[("cubit", 256)] == [next(r for r in main[s]["runs"] if r["mixer"] == "cubit") for s in range(3)]


@pytest.mark.parametrize("sources, error, match", [
    ({}, TypeError, "non-empty dict"),
    ({"cubit": ["ch07/lm_main_s0.json"]}, TypeError, "tuple whose first item is a mixer name"),
    ({("cubit",): "ch07/lm_main_s0.json"}, TypeError, "non-empty list of file names"),
    ({("no-such-mixer",): ["ch07/lm_main_s0.json"]}, ValueError, "no run of mixer 'no-such-mixer'"),
])
def test_collect_runs_rejects_bad_sources(sources, error, match):
    with pytest.raises(error, match=match):
        results.collect_runs(sources)


def test_recipes_compare_all_fields_but_the_ignored_ones():
    ref = TrainConfig(out="a", mixer="transformer", block_size=256, batch_size=64)
    other = TrainConfig(out="b", mixer="cubit", block_size=1024, batch_size=16)
    assert results.recipe_differences(other, ref) == {
        "out": ("a", "b"), "mixer": ("transformer", "cubit"), "block_size": (256, 1024), "batch_size": (64, 16)}
    assert results.same_recipe(other, ref, ignore=("out", "mixer", "block_size", "batch_size"))
    assert not results.same_recipe(other, ref, ignore=("out", "mixer", "block_size"))
    changed = TrainConfig(out="a", mixer="transformer", block_size=256, batch_size=64, lr=2e-3)
    assert results.recipe_differences(changed, ref) == {"lr": (ref.lr, 2e-3)}
    # dicts work too, and a field only one side has is a difference
    assert results.recipe_differences({"a": 1, "b": 2}, {"a": 1}) == {"b": (None, 2)}
    assert results.same_recipe({"a": 1, "b": 2}, {"a": 1, "b": 3}, ignore=["b"])


def test_recipe_errors_are_clear():
    with pytest.raises(ValueError, match="does not have: nope"):
        results.same_recipe({"a": 1}, {"a": 1}, ignore=["nope"])
    with pytest.raises(TypeError, match="not one string"):
        results.same_recipe({"a": 1}, {"a": 1}, ignore="a")
    with pytest.raises(TypeError, match="dataclass .* or a dict"):
        results.same_recipe([1], {"a": 1})


def test_mean_std_is_the_sample_standard_deviation():
    mean, std = results.mean_std([1.0, 2.0, 4.0])
    assert mean == pytest.approx(7 / 3, abs=1e-15)
    assert std == pytest.approx(np.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2), abs=1e-15)


def test_paired_differences_and_their_standard_error():
    a, b = [1.5, 1.4, 1.6, 1.55], [1.6, 1.45, 1.62, 1.7]
    d, mean, se = results.paired_differences(a, b)
    assert np.array_equal(d, np.subtract(a, b))
    assert mean == pytest.approx(d.mean(), abs=1e-15)
    assert se == pytest.approx(d.std(ddof=1) / 2, abs=1e-15)  # sqrt(n) = 2


def test_t_interval_agrees_with_scipy():
    rng = np.random.default_rng(0)
    for n in (2, 3, 8):
        for level in (0.9, 0.95):
            values = rng.normal(0.01, 0.02, size=n)
            iv = results.t_interval(values, level)
            low, high = scipy.stats.t.interval(level, n - 1, loc=values.mean(), scale=scipy.stats.sem(values))
            assert iv["low"] == pytest.approx(low, abs=1e-12) and iv["high"] == pytest.approx(high, abs=1e-12)
            assert iv["df"] == n - 1 and iv["se"] == pytest.approx(scipy.stats.sem(values), abs=1e-15)
            assert iv["t"] == pytest.approx(scipy.stats.ttest_1samp(values, 0).statistic, rel=1e-12)


def test_t_interval_recomputes_the_stored_intervals_of_the_preregistered_comparison():
    fair = results.load_json("fair_comparison.json")
    for T in ("T256", "T4096"):
        losses = fair["final_val_loss"]
        seeds = [str(s) for s in fair["seeds"]]
        d, _, _ = results.paired_differences([losses[f"cubit-{T}"][s] for s in seeds],
                                             [losses[f"transformer-{T}"][s] for s in seeds])
        iv, stored = results.t_interval(d), fair["gap"][T]
        for key in ("mean", "low", "high", "t"):
            assert iv[key] == pytest.approx(stored[key], abs=1e-12), (T, key)


def test_a_t_interval_of_equal_values_has_zero_width():
    iv = results.t_interval([0.5, 0.5, 0.5])
    assert iv["low"] == iv["high"] == 0.5 and iv["se"] == 0 and iv["t"] == np.inf
    assert np.isnan(results.t_interval([0.0, 0.0])["t"])


@pytest.mark.parametrize("call, error, match", [
    (lambda: results.mean_std([1.0]), ValueError, "at least 2 numbers"),
    (lambda: results.mean_std([1.0, float("nan")]), ValueError, "finite"),
    (lambda: results.mean_std([[1.0, 2.0]]), ValueError, "one-dimensional"),
    (lambda: results.mean_std("12"), TypeError, "sequence of numbers"),
    (lambda: results.paired_differences([1, 2, 3], [1, 2]), ValueError, "same seeds; got 3 and 2"),
    (lambda: results.t_interval([1.0, 2.0], level=95), ValueError, "strictly between 0 and 1"),
    (lambda: results.t_interval([1.0]), ValueError, "at least 2 numbers"),
    (lambda: results.format_interval({"mean": 1, "low": 0}), KeyError, "lacks high"),
    (lambda: results.format_interval({"mean": 1, "low": 0, "high": 2}, digits=-1), ValueError, "digits"),
    (lambda: results.seed_range([]), ValueError, "at least one seed"),
    (lambda: results.seed_range([0, 1.5]), ValueError, "integers"),
])
def test_statistics_reject_bad_input_clearly(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_format_interval_and_seed_range():
    iv = {"mean": -0.0123, "low": -0.02, "high": 0.00456}
    assert results.format_interval(iv) == "-0.0123 [-0.0200, +0.0046]"
    assert results.format_interval(iv, digits=2, sign=False) == "-0.01 [-0.02, 0.00]"
    assert results.seed_range([3, 1, 2, 0]) == "0–3"
    assert results.seed_range([0, 1]) == "0, 1" and results.seed_range([0, 2, 3]) == "0, 2, 3"
