"""cubit_lite.results finds the committed GPU results locally, and says clearly when it cannot."""

from __future__ import annotations

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
