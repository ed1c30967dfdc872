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

It also holds the bookkeeping the chapters do on those files: collecting the runs of
each configuration from the files that hold them, checking that runs share a recipe,
and the statistics over seeds (mean ± standard deviation, paired differences and
their t-intervals).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import platform
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

__all__ = [
    "RESULTS_URL",
    "collect_runs",
    "format_interval",
    "load_json",
    "mean_std",
    "paired_differences",
    "provenance",
    "recipe_differences",
    "results_path",
    "same_recipe",
    "save_json",
    "seed_range",
    "t_interval",
]

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
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def save_json(path: str | os.PathLike, data: dict) -> Path:
    """Write ``data`` as indented JSON, atomically (a temporary file, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


# ---------------------------------------------------------------------------
# Bookkeeping on the results files: which runs, which recipe, statistics over seeds


def _succeeded(run: Mapping) -> bool:
    """Whether a run of a grid summary finished: exit status 0 and a final validation loss."""
    return run.get("returncode") == 0 and run.get("final_val_loss") is not None


def collect_runs(sources: Mapping[tuple, Sequence[str]]) -> tuple[dict[str, dict], dict[tuple, list[dict]]]:
    """Gather the finished runs of each configuration from the results files that hold them.

    A run that failed or stopped early (its ``returncode`` is not 0, or it has no
    ``final_val_loss``; the grid runner records such runs with their reason) is left out.

    Args:
        sources: for each configuration, a key whose first item is the mixer name (e.g.
            ``("cubit", "learned", 256)``), the names of the ``lm_*.json`` files holding
            its runs.

    Returns:
        ``(files, runs)``: each file loaded once (name -> its JSON, failed runs included),
        and for each key the finished runs of that mixer in its files, sorted by seed.

    Raises:
        TypeError: a key is not a tuple starting with a mixer name, or its files are
            not a list of names.
        ValueError: a configuration has no finished run in its files (the message says
            how many of its runs failed).
    """
    if not isinstance(sources, Mapping) or not sources:
        raise TypeError("sources must be a non-empty dict {(mixer, ...): [file names]}")
    for key, names in sources.items():
        if not isinstance(key, tuple) or not key or not isinstance(key[0], str):
            raise TypeError(f"each key must be a tuple whose first item is a mixer name; got {key!r}")
        if isinstance(names, str) or not isinstance(names, Sequence) or not names:
            raise TypeError(f"the files of {key!r} must be a non-empty list of file names; got {names!r}")
    files = {name: load_json(name) for name in dict.fromkeys(n for names in sources.values() for n in names)}
    runs = {}
    for key, names in sources.items():
        found = [run for name in names for run in files[name].get("runs", []) if run.get("mixer") == key[0]]
        finished = [run for run in found if _succeeded(run)]
        if not finished:
            failed = f" ({len(found)} failed or unfinished run(s) left out)" if found else ""
            raise ValueError(f"no run of mixer {key[0]!r} finished in {', '.join(names)} (for {key!r}){failed}")
        runs[key] = sorted(finished, key=lambda run: run["seed"])
    return files, runs


def _as_dict(config) -> dict:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    if isinstance(config, Mapping):
        return dict(config)
    raise TypeError(f"a configuration must be a dataclass (a TrainConfig) or a dict; got {type(config).__name__}")


def recipe_differences(config, reference, ignore: Iterable[str] = ()) -> dict[str, tuple]:
    """The fields in which ``config`` differs from ``reference``, apart from those in ``ignore``.

    Args:
        config, reference: two configurations, each a dataclass (a ``TrainConfig``) or a dict.
        ignore: names of fields allowed to differ (each must be a field of ``reference``).

    Returns:
        ``{field: (value in reference, value in config)}`` for every other field that
        differs, including a field that only one of the two has (its missing value is
        ``None``). Empty when the two share a recipe.

    Raises:
        TypeError: a configuration is neither a dataclass nor a dict, or ``ignore`` is a string.
        ValueError: ``ignore`` names a field that ``reference`` does not have.
    """
    if isinstance(ignore, str):
        raise TypeError("ignore must be a collection of field names, not one string")
    a, b = _as_dict(reference), _as_dict(config)
    ignore = set(ignore)
    unknown = sorted(ignore - set(a))
    if unknown:
        raise ValueError(f"ignore names fields the reference does not have: {', '.join(unknown)}")
    keys = [k for k in dict.fromkeys([*a, *b]) if k not in ignore]
    return {k: (a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k) or (k in a) != (k in b)}


def same_recipe(config, reference, ignore: Iterable[str] = ()) -> bool:
    """Whether ``config`` equals ``reference`` in every field except those in ``ignore``.

    See :func:`recipe_differences` (which says *what* differs) for the arguments.
    """
    return not recipe_differences(config, reference, ignore)


def _numbers(values, what: str = "values", minimum: int = 1):
    import numpy as np

    if isinstance(values, (str, bytes, Mapping)):
        raise TypeError(f"{what} must be a sequence of numbers, not {type(values).__name__}")
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional (one number per seed); got shape {array.shape}")
    if len(array) < minimum:
        raise ValueError(f"{what} needs at least {minimum} numbers; got {len(array)}")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} must be finite numbers; got {array.tolist()}")
    return array


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof = 1``) of at least two numbers.

    Raises:
        ValueError: fewer than two numbers, non-finite numbers, or not one-dimensional.
    """
    array = _numbers(values, minimum=2)
    return float(array.mean()), float(array.std(ddof=1))


def paired_differences(a, b):
    """Seed-by-seed differences ``a - b`` (the same seeds, in the same order), their mean and its standard error.

    The standard error is ``s_d / sqrt(n)``, with ``s_d`` the sample standard deviation
    of the ``n`` differences.

    Returns:
        ``(d, mean, se)``: the differences (a NumPy array), their mean and its standard error.

    Raises:
        ValueError: ``a`` and ``b`` differ in length, hold fewer than two numbers, or
            are not finite.
    """
    a, b = _numbers(a, "a", minimum=2), _numbers(b, "b", minimum=2)
    if len(a) != len(b):
        raise ValueError(f"a and b must hold one number per seed for the same seeds; got {len(a)} and {len(b)}")
    d = a - b
    return d, float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d)))


def t_interval(values, level: float = 0.95) -> dict:
    """The mean of ``values`` with its two-sided Student-t interval, as for paired differences over seeds.

    For ``n`` numbers with mean ``m`` and sample standard deviation ``s``, the interval
    is ``m ± t_{(1+level)/2, n-1} s / sqrt(n)``.

    Returns:
        a dict with ``mean``, ``low``, ``high``, ``se`` (``s / sqrt(n)``), ``t`` (``mean / se``,
        against zero; infinite or NaN when ``se`` is 0) and ``df`` (``n - 1``).

    Raises:
        ValueError: fewer than two numbers, non-finite numbers, or ``level`` not in (0, 1).
    """
    from scipy import stats

    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"level must be a number strictly between 0 and 1 (e.g. 0.95); got {level!r}")
    array = _numbers(values, minimum=2)
    n = len(array)
    mean, se = float(array.mean()), float(array.std(ddof=1) / math.sqrt(n))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * se
    with_sign = math.copysign(math.inf, mean) if mean else math.nan
    return dict(mean=mean, low=mean - half, high=mean + half, se=se, t=mean / se if se else with_sign, df=n - 1)


def format_interval(interval: Mapping, digits: int = 4, sign: bool = True) -> str:
    """``"+0.0123 [+0.0050, +0.0196]"`` for a dict with ``mean``, ``low`` and ``high`` (as :func:`t_interval` returns).

    Args:
        interval: a mapping with the keys ``mean``, ``low`` and ``high``.
        digits: decimals to show.
        sign: whether to show a ``+`` on positive numbers (for differences).

    Raises:
        KeyError: a key is missing.
        ValueError: ``digits`` is not an integer from 0 to 12.
    """
    if isinstance(digits, bool) or not isinstance(digits, int) or not 0 <= digits <= 12:
        raise ValueError(f"digits must be an integer from 0 to 12; got {digits!r}")
    missing = [k for k in ("mean", "low", "high") if k not in interval]
    if missing:
        raise KeyError(f"interval lacks {', '.join(missing)}; it needs mean, low and high")
    spec = f"{'+' if sign else ''}.{digits}f"
    return f"{interval['mean']:{spec}} [{interval['low']:{spec}}, {interval['high']:{spec}}]"


def seed_range(seeds: Iterable[int]) -> str:
    """Seeds written short: ``"0–7"`` for three or more consecutive seeds, else ``"0, 2"``.

    Raises:
        ValueError: no seeds, or a seed that is not an integer.
    """
    seeds = sorted(seeds)
    if not seeds:
        raise ValueError("seed_range needs at least one seed")
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ValueError(f"seeds must be integers; got {seeds!r}")
    consecutive = len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1))
    return f"{seeds[0]}–{seeds[-1]}" if consecutive else ", ".join(map(str, seeds))
