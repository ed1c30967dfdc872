"""`pip install .` (and so `pip install git+<url>`) gives a working cubit_lite."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import cubit_lite

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # 3.3 s
@pytest.mark.build
def test_wheel_contains_the_library(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("cubit_lite-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(archive.read(n).decode() for n in names if n.endswith("METADATA"))
        entry_points = next(archive.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    for module in ("__init__", "regression", "widgets", "plotting", "source",
                   "mixers/__init__", "mixers/functional", "mixers/layers"):
        assert f"cubit_lite/{module}.py" in names
    assert not any(name.startswith(("tests/", "book/")) for name in names)
    quizzes = sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "cubit_lite" / "quizzes").glob("*.json"))
    assert quizzes and set(quizzes) <= names, "the self-check quizzes (package data) are missing from the wheel"
    assert "cubit_lite/playground.js" in names, "the playground's script (package data) is missing from the wheel"
    assert "Requires-Python: >=3.11\n" in metadata  # no upper cap: Colab runs Python 3.13
    for version in ("3.11", "3.12", "3.13"):
        assert f"Classifier: Programming Language :: Python :: {version}" in metadata
    for dependency in ("numpy", "scipy", "matplotlib", "ipywidgets", "torch"):
        assert f"Requires-Dist: {dependency}" in metadata
    # one source for the version: the wheel's is cubit_lite.__version__
    assert f"\nVersion: {cubit_lite.__version__}\n" in metadata
    assert "cubit-train = cubit_lite.train:cli" in entry_points
    assert "cubit-sample = cubit_lite.sample:cli" in entry_points


def test_the_version_is_written_once():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in pyproject["project"] and pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "cubit_lite.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", cubit_lite.__version__)
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## {cubit_lite.__version__} " in changelog, "CHANGELOG.md has no section for the current version"


@pytest.mark.parametrize("script, module", [("cubit-train", "train"), ("cubit-sample", "sample")])
def test_the_console_scripts_are_installed_and_run(script, module, tmp_path):
    """``cubit-train``/``cubit-sample`` (pip's console scripts beside this Python) run the same command line."""
    path = Path(sys.executable).with_name(script)
    if not path.exists():
        pytest.fail(f"{path} is missing: reinstall the package (pip install -e .) to create the console scripts")
    shown = subprocess.run([str(path), "--help"], capture_output=True, text=True, timeout=120, check=True).stdout
    assert shown.startswith(f"usage: {script} ") and "--help" in shown
    if module == "train":
        bad = ["--lr", "inf", "--out", str(tmp_path / "x")]
    else:
        bad = ["--checkpoint", str(tmp_path / "none.pt"), "--chars", "-1"]
    done = subprocess.run([str(path), *bad], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and f"usage: {script}" in done.stderr and "Traceback" not in done.stderr, done.stderr


@pytest.mark.slow  # 99.9 s
@pytest.mark.build
@pytest.mark.parametrize("version", ["3.11", "3.12", "3.13"])
def test_a_clean_copy_installs_on_every_supported_python(version, tmp_path):
    """On Python 3.11, 3.12 and 3.13 (pyenv's, here): pip resolves cubit_lite with all its dependencies,
    and the package installs and imports.

    The resolution is a dry run: on 3.12 and 3.13 the full install downloads PyPI's CUDA build of
    torch (about 5 GB); tests/test_colab_env.py does that full install once, on 3.13 with Colab's
    versions. The package itself is then installed for real, without dependencies, and imported.
    """
    from test_colab_env import clean_copy, find_python

    python = find_python(version)
    if python is None:
        if os.environ.get("CI"):
            pytest.fail(f"no Python {version} on this machine (pyenv provides it here)")
        pytest.skip(f"no Python {version} on this machine")
    source = clean_copy(tmp_path / "source")
    subprocess.run([python, "-m", "venv", str(tmp_path / "venv")], check=True, timeout=300)
    py = str(tmp_path / "venv" / "bin" / "python")
    pip = [py, "-m", "pip", "--disable-pip-version-check", "install", "-q"]
    report = tmp_path / "report.json"
    resolved = subprocess.run(pip + ["--dry-run", "--ignore-installed", "--report", str(report), str(source)],
                              capture_output=True, text=True, timeout=900)
    assert resolved.returncode == 0, resolved.stderr[-3000:]
    names = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert {"cubit-lite", "torch", "numpy", "scipy", "matplotlib", "ipywidgets", "tqdm"} <= names
    subprocess.run(pip + ["--no-deps", str(source)], check=True, capture_output=True, timeout=900)
    done = subprocess.run([py, "-c", "import sys, cubit_lite; print(sys.version_info[:2], cubit_lite.__version__)"],
                          capture_output=True, text=True, cwd=tmp_path, check=True)
    assert done.stdout.split(")")[0] == f"({version.replace('.', ', ')}"
