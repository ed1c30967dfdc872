"""Find the committed results of GPU runs (``results/`` in the repository) from anywhere.

The book's notebooks plot measured data, never invented numbers. That data lives in
the repository's ``results/`` folder, each file with the command, device, versions
and git commit that produced it. A notebook finds it:

1. in the folder named by the environment variable ``CUBIT_LITE_RESULTS``, if set;
2. in ``results/`` of the repository checkout the library was installed from
   (``pip install -e .``, or running inside a clone), or of the working directory
   or one of its parents;
3. otherwise (Colab, where ``cubit_lite`` was installed from the repository URL and
   no checkout exists) it is downloaded once from the repository into
   ``~/.cache/cubit_lite/results``. This is the only download, offered for Colab
   readers; the book's build and the tests always find a local copy.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["RESULTS_URL", "load_json", "provenance", "results_path", "save_json"]

REPOSITORY_URL = "https://github.com/attention-as-regression/attention-as-regression"
"""Kept in step with ``repository.url`` in ``_config.yml`` by a test."""

RESULTS_URL = f"{REPOSITORY_URL}/raw/main/results/"
CACHE = Path.home() / ".cache" / "cubit_lite" / "results"


def _candidates() -> list[Path]:
    folders = []
    if os.environ.get("CUBIT_LITE_RESULTS"):
        folders.append(Path(os.environ["CUBIT_LITE_RESULTS"]))
    folders.append(Path(__file__).resolve().parents[1] / "results")  # an editable install or a clone
    cwd = Path.cwd().resolve()
    folders += [folder / "results" for folder in (cwd, *cwd.parents)]
    folders.append(CACHE)
    return folders


def results_path(name: str, *, download: bool = True) -> Path:
    """The local path of the results file ``name`` (e.g. ``"mixer_speed_h100.json"``).

    Raises:
        ValueError: ``name`` is not a plain file name.
        FileNotFoundError: no local copy and (with ``download=True``) the download failed.
    """
    if not name or Path(name).name != name or name.startswith("."):
        raise ValueError(f"name must be a plain file name inside results/, e.g. 'mixer_speed_h100.json'; got {name!r}")
    for folder in _candidates():
        if (folder / name).is_file():
            return folder / name
    if not download:
        raise FileNotFoundError(f"results/{name} not found locally (looked in {', '.join(map(str, _candidates()))})")
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / name
    try:
        with urllib.request.urlopen(RESULTS_URL + name, timeout=60) as response:  # noqa: S310 (fixed https URL)
            data = response.read()
    except (urllib.error.URLError, TimeoutError) as err:
        raise FileNotFoundError(
            f"results/{name} is not in a local checkout and could not be downloaded from {RESULTS_URL + name} "
            f"({err}). Clone the repository, or set CUBIT_LITE_RESULTS to a folder that holds it."
        ) from err
    partial = target.with_suffix(target.suffix + ".part")
    partial.write_bytes(data)
    partial.replace(target)
    return target


def load_json(name: str) -> dict:
    """Read the JSON results file ``name`` (see :func:`results_path` for where it comes from)."""
    return json.loads(results_path(name).read_text(encoding="utf-8"))


def _git_commit() -> str | None:
    """The checked-out commit of the repository this library sits in, if there is one."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parents[1],
                              capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip() or None


def provenance(script: str | os.PathLike, argv: list[str], *, git_commit: str | None = None,
               device=None) -> dict:
    """What every results file records about how it was made.

    Args:
        script: the script that ran (recorded relative to the repository root).
        argv: its command-line arguments.
        git_commit: the commit of the code that ran; default ``git rev-parse HEAD``
            (pass it explicitly where the code runs from a copy without ``.git``).
        device: the torch device measured on; default the first GPU if there is one.
    """
    import torch

    root = Path(__file__).resolve().parents[1]
    if device is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    return {
        "command": "python " + " ".join([os.path.relpath(Path(script).resolve(), root), *argv]),
        "device": name,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "git_commit": git_commit or _git_commit(),
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def save_json(path: str | os.PathLike, data: dict) -> Path:
    """Write ``data`` as indented JSON, atomically (a temporary file, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
