"""cubit_lite.results finds the committed GPU results locally, and says clearly when it cannot."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from cubit_lite import results

ROOT = Path(__file__).resolve().parents[1]


def test_committed_results_are_found_in_the_checkout():
    path = results.results_path("mixer_speed_h100.json", download=False)
    assert path.resolve() == (ROOT / "results" / "mixer_speed_h100.json").resolve()
    assert results.load_json("mixer_speed_h100.json")["rows"]


def test_environment_variable_takes_precedence(tmp_path, monkeypatch):
    (tmp_path / "mixer_speed_h100.json").write_text('{"rows": [], "mine": true}')
    monkeypatch.setenv("CUBIT_LITE_RESULTS", str(tmp_path))
    assert results.load_json("mixer_speed_h100.json")["mine"] is True


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


@pytest.mark.parametrize("name", ["", "../secrets.json", "a/b.json", ".hidden"])
def test_only_plain_file_names(name):
    with pytest.raises(ValueError, match="plain file name"):
        results.results_path(name)


def test_repository_url_matches_the_book_config():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert results.REPOSITORY_URL == config["repository"]["url"]


RESULTS = ROOT / "results"


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.json")) + sorted(RESULTS.glob("fair_comparison/*.json")),
                         ids=lambda p: p.name)
def test_every_result_file_records_its_provenance(path):
    import json
    import re

    result = json.loads(path.read_text(encoding="utf-8"))
    assert re.search(r"\bH(100|200)\b", result["device"]) and result["torch"]
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


@pytest.mark.parametrize("name", ["main-transformer-s0.pt", "main-cubit-s0.pt"])
def test_committed_checkpoints_sample_on_a_cpu(name):
    from cubit_lite.checkpoint import load_model
    from cubit_lite.sample import sample_text

    model, tokenizer, payload = load_model(results.results_path(name, download=False))
    assert payload["model_config"]["mixer"] in name and payload["step"] == 2000
    text = sample_text(model, tokenizer, "ROMEO:\n", 80, seed=0)
    assert text.startswith("ROMEO:\n") and len(text) == len("ROMEO:\n") + 80
    assert text == sample_text(model, tokenizer, "ROMEO:\n", 80, seed=0)
