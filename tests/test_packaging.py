"""`pip install .` (and so `pip install git+<url>`) gives a working cubit_lite."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
    for module in ("__init__", "regression", "widgets", "plotting", "source",
                   "mixers/__init__", "mixers/functional", "mixers/layers"):
        assert f"cubit_lite/{module}.py" in names
    assert not any(name.startswith(("tests/", "book/")) for name in names)
    assert "Requires-Python: >=3.11\n" in metadata  # no upper cap: Colab runs Python 3.13
    for version in ("3.11", "3.12", "3.13"):
        assert f"Classifier: Programming Language :: Python :: {version}" in metadata
    for dependency in ("numpy", "scipy", "matplotlib", "ipywidgets", "torch"):
        assert f"Requires-Dist: {dependency}" in metadata
