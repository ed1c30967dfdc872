"""A citable, versioned edition: CITATION.cff is valid, the version agrees everywhere, releases refuse otherwise.

``CITATION.cff`` is checked against the Citation File Format 1.2.0 schema by a small
validator of our own (:func:`cff_problems`: the keys, required fields and formats the
schema defines for what the file may hold), so no new dependency is needed.
``scripts/release.py`` is run in a throw-away git repository holding the files it reads.
"""

from __future__ import annotations

import datetime
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "release.py"

_spec = importlib.util.spec_from_file_location("release", SCRIPT)
release = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("release", release)
_spec.loader.exec_module(release)
sys.path.insert(0, str(ROOT / "scripts"))
import colab_edition  # noqa: E402

# --------------------------------------------------------------------------- #
# Citation File Format 1.2.0, the part of the schema this repository can use
# --------------------------------------------------------------------------- #
CFF_KEYS = {
    "abstract",
    "authors",
    "cff-version",
    "commit",
    "contact",
    "date-released",
    "doi",
    "identifiers",
    "keywords",
    "license",
    "license-url",
    "message",
    "preferred-citation",
    "references",
    "repository",
    "repository-artifact",
    "repository-code",
    "title",
    "type",
    "url",
    "version",
}
CFF_REQUIRED = {"authors", "cff-version", "message", "title"}
PERSON_KEYS = {
    "address",
    "affiliation",
    "alias",
    "city",
    "country",
    "email",
    "family-names",
    "fax",
    "given-names",
    "name-particle",
    "name-suffix",
    "orcid",
    "post-code",
    "region",
    "tel",
    "website",
}
ENTITY_KEYS = {
    "address",
    "alias",
    "city",
    "country",
    "date-end",
    "date-start",
    "email",
    "fax",
    "location",
    "name",
    "orcid",
    "post-code",
    "region",
    "tel",
    "website",
}
URL = re.compile(r"^(https|http|ftp|sftp)://.+")
DOI = re.compile(r"^10\.\d{4,9}(\.\d+)?/[A-Za-z0-9:/_;\-\.\(\)\[\]\\]+$")
SPDX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]*$")


def _is_date(value) -> bool:
    if isinstance(value, datetime.date):
        return True
    try:
        datetime.date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value))


def cff_problems(cff) -> list[str]:
    """What makes ``cff`` (a loaded CITATION.cff) invalid under CFF 1.2.0; empty when it is valid."""
    if not isinstance(cff, dict):
        return ["the file is not a mapping of keys to values"]
    problems = [f"unknown key {key!r}" for key in sorted(set(cff) - CFF_KEYS)]
    problems += [f"missing required key {key!r}" for key in sorted(CFF_REQUIRED - set(cff))]
    if cff.get("cff-version") != "1.2.0":
        problems.append(f"cff-version must be '1.2.0', not {cff.get('cff-version')!r}")
    for key in ("message", "title", "abstract", "commit"):
        if key in cff and not (isinstance(cff[key], str) and cff[key].strip()):
            problems.append(f"{key} must be a non-empty string")
    authors = cff.get("authors")
    if not isinstance(authors, list) or not authors:
        problems.append("authors must be a non-empty list")
    else:
        for i, author in enumerate(authors):
            if not isinstance(author, dict):
                problems.append(f"authors[{i}] must be a mapping")
            elif "name" in author:
                problems += [f"authors[{i}]: unknown entity key {k!r}" for k in sorted(set(author) - ENTITY_KEYS)]
            else:
                problems += [f"authors[{i}]: unknown person key {k!r}" for k in sorted(set(author) - PERSON_KEYS)]
                if not {"family-names", "given-names"} & set(author):
                    problems.append(f"authors[{i}]: a person needs family-names or given-names")
    if "type" in cff and cff["type"] not in ("software", "dataset"):
        problems.append(f"type must be 'software' or 'dataset', not {cff['type']!r}")
    if "version" in cff and not isinstance(cff["version"], (str, int, float)):
        problems.append("version must be a string or a number")
    if "date-released" in cff and not _is_date(cff["date-released"]):
        problems.append(f"date-released must be a date YYYY-MM-DD, not {cff['date-released']!r}")
    for key in ("url", "repository", "repository-code", "repository-artifact", "license-url"):
        if key in cff and not (isinstance(cff[key], str) and URL.match(cff[key])):
            problems.append(f"{key} must be a URL (https://...), not {cff[key]!r}")
    if "doi" in cff and not (isinstance(cff["doi"], str) and DOI.match(cff["doi"])):
        problems.append(f"doi must be a DOI (10.xxxx/...), not {cff['doi']!r}")
    licenses = cff.get("license", "MIT")
    for license_id in licenses if isinstance(licenses, list) else [licenses]:
        if not (isinstance(license_id, str) and SPDX.match(license_id)):
            problems.append(f"license must be an SPDX identifier, not {license_id!r}")
    if "keywords" in cff and not (
        isinstance(cff["keywords"], list) and all(isinstance(k, str) and k for k in cff["keywords"])
    ):
        problems.append("keywords must be a list of non-empty strings")
    return problems


def citation() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))


def test_citation_file_is_valid_cff():
    assert cff_problems(citation()) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"authors": []}, "authors must be a non-empty list"),
        ({"authors": [{"given-names": "A", "orcid-id": "x"}]}, "unknown person key 'orcid-id'"),
        ({"authors": [{"email": "a@b"}]}, "a person needs family-names or given-names"),
        ({"date-released": "2026-13-01"}, "date-released must be a date"),
        ({"repository-code": "github.com/x"}, "repository-code must be a URL"),
        ({"cff-version": "1.1.0"}, "cff-version must be '1.2.0'"),
        ({"type": "book"}, "type must be 'software' or 'dataset'"),
        ({"licence": "MIT"}, "unknown key 'licence'"),
        ({"title": None}, "title must be a non-empty string"),
    ],
)
def test_the_validator_finds_what_is_wrong(change, problem):
    cff = {**citation(), **change}
    assert any(problem in found for found in cff_problems(cff)), cff_problems(cff)
    assert "missing required key 'message'" in cff_problems({k: v for k, v in citation().items() if k != "message"})


def test_the_citation_names_the_book_as_the_configuration_does():
    """Title, authors, repository and site agree with _config.yml; the licence with LICENSE."""
    cff, config = citation(), yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert cff["title"] == config["title"]
    assert cff["authors"] == [{"name": config["author"]}]
    assert cff["repository-code"] == config["repository"]["url"]
    assert cff["url"] == colab_edition.site_from_config(ROOT).url
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith(f"{cff['license']} License")


def test_version_changelog_and_citation_agree():
    """cubit_lite.__version__ is the newest release of CHANGELOG.md and CITATION.cff's version, with its date."""
    import cubit_lite

    assert release.package_version(ROOT) == cubit_lite.__version__
    assert release.disagreements(ROOT) == []


# --------------------------------------------------------------------------- #
# scripts/release.py, in a throw-away repository
# --------------------------------------------------------------------------- #
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.org",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.org",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True, env={**os.environ, **GIT_ENV}
    ).stdout


def _write_release_files(
    repo: Path, version: str, logged: str, cited: str, date: str = "2027-01-05", unreleased: str = ""
) -> None:
    (repo / "cubit_lite").mkdir(parents=True, exist_ok=True)
    (repo / "cubit_lite" / "__init__.py").write_text(
        f'"""The library."""\n\n__version__ = "{version}"\n', encoding="utf-8"
    )
    (repo / "CHANGELOG.md").write_text(
        f"# Changelog\n\n## Unreleased\n{unreleased}\n## {logged} — {date}\n\n"
        f"- Something.\n\n## 0.1.0 — 2026-12-02\n\n- The first.\n",
        encoding="utf-8",
    )
    cff = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    cff = re.sub(r"(?m)^version: .*$", f'version: "{cited}"', cff)
    cff = re.sub(r"(?m)^date-released: .*$", f'date-released: "{date}"', cff)
    (repo / "CITATION.cff").write_text(cff, encoding="utf-8")


@pytest.fixture
def repo(tmp_path) -> Path:
    """A git repository with release.py and the files it reads, all agreeing on 1.2.3, committed."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, repo / "scripts" / "release.py")
    _write_release_files(repo, "1.2.3", "1.2.3", "1.2.3")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "1.2.3")
    return repo


def _release(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(repo / "scripts" / "release.py"), *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
    )


def _commit_all(repo: Path) -> None:
    _git(repo, "commit", "-q", "-am", "change")


def test_release_tags_the_version_when_everything_agrees(repo):
    done = _release(repo, "--no-build")
    assert done.returncode == 0, done.stderr
    assert _git(repo, "tag", "--list").split() == ["v1.2.3"]
    assert _git(repo, "cat-file", "-t", "v1.2.3").strip() == "tag"  # annotated
    assert "git push origin v1.2.3" in done.stdout
    again = _release(repo, "--no-build")
    assert again.returncode == 1 and "the tag v1.2.3 exists already" in again.stderr


@pytest.mark.parametrize(
    ("files", "said"),
    [
        (("1.2.4", "1.2.3", "1.2.3"), "says 1.2.4, but the newest release of CHANGELOG.md is 1.2.3"),
        (("1.2.3", "1.2.3", "1.2.2"), "says 1.2.3, but CITATION.cff says version 1.2.2"),
    ],
)
def test_release_refuses_when_version_changelog_and_citation_disagree(repo, files, said):
    _write_release_files(repo, *files)
    _commit_all(repo)
    for mode in ("--no-build", "--check"):
        done = _release(repo, mode)
        assert done.returncode == 1 and "refused" in done.stderr and said in done.stderr, done.stderr
    assert _git(repo, "tag", "--list") == ""


def test_release_refuses_a_date_that_disagrees(repo):
    cff = (repo / "CITATION.cff").read_text(encoding="utf-8")
    (repo / "CITATION.cff").write_text(cff.replace('"2027-01-05"', '"2027-01-06"'), encoding="utf-8")
    _commit_all(repo)
    done = _release(repo, "--no-build")
    assert done.returncode == 1
    assert "dates 1.2.3 2027-01-05, but CITATION.cff says date-released 2027-01-06" in done.stderr


def test_release_refuses_unreleased_entries_and_uncommitted_changes(repo):
    _write_release_files(repo, "1.2.3", "1.2.3", "1.2.3", unreleased="\n- Not yet released.\n")
    done = _release(repo, "--no-build")
    assert done.returncode == 1
    assert 'entries under "## Unreleased"' in done.stderr and "uncommitted changes" in done.stderr
    assert _release(repo, "--check").returncode == 0  # --check asks only whether the version agrees
    assert _git(repo, "tag", "--list") == ""


def test_the_build_opens_the_tag_in_colab_and_a_failed_build_tags_nothing(repo, monkeypatch, capsys):
    """The build steps get BOOK_GIT_REF=vX.Y.Z; the editions hook runs when present; the tag comes last."""
    calls = []
    real_run = subprocess.run

    def fake_run(command, *args, **kwargs):
        if command[0] == "git":
            return real_run(command, *args, **{**kwargs, "env": {**os.environ, **GIT_ENV}})
        calls.append((command, kwargs["env"].get("BOOK_GIT_REF")))
        return subprocess.CompletedProcess(command, 1 if fail_at and fail_at in command else 0)

    monkeypatch.setattr(release.subprocess, "run", fake_run)
    fail_at = "scripts/build_book.sh"
    assert release.main([], root=repo) == 1
    assert "scripts/build_book.sh failed; nothing was tagged" in capsys.readouterr().err
    assert _git(repo, "tag", "--list") == ""

    (repo / "scripts" / "build_editions.sh").write_text("exit 0\n", encoding="utf-8")
    _git(repo, "add", "-A")
    _commit_all(repo)
    calls.clear()
    fail_at = ""
    assert release.main([], root=repo) == 0
    assert [command[-1] for command, _ in calls] == ["--check", "scripts/build_book.sh", "scripts/build_editions.sh"]
    assert {ref for _, ref in calls} == {"v1.2.3"}
    assert _git(repo, "tag", "--list").split() == ["v1.2.3"]
