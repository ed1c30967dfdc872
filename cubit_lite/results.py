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
the statistics over seeds (mean ± standard deviation, paired differences and their
t-intervals), reading the speed measurements (mixer benchmarks, training steps, GPU
profiles), and handing numbers to the prose (:func:`glue_text`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import importlib
import json
import math
import os
import platform
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .validation import positive_int

__all__ = [
    "RESULTS_URL",
    "best_steps",
    "collect_runs",
    "files_table",
    "format_interval",
    "glue_text",
    "load_json",
    "mean_std",
    "paired_differences",
    "profile_kernel_times",
    "provenance",
    "recipe_differences",
    "relative_time",
    "results_path",
    "same_recipe",
    "save_json",
    "seed_range",
    "speed_range",
    "speed_rows",
    "step_rows",
    "t_interval",
    "worst_error",
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


def _check_name(name: object) -> None:
    """Refuse a results name that is not a relative path of plain parts, such as ``"ch07/lm_main_s0.json"``."""
    parts = name.split("/") if isinstance(name, str) else []
    if not parts or any(not part or part.startswith(".") or "\\" in part for part in parts):
        raise ValueError("name must be a file inside results/, its folders separated by '/', no part empty or "
                         f"starting with '.', e.g. 'appendix_fast/mixer_speed_h100.json'; got {name!r}")


def results_path(name: str, *, download: bool = True) -> Path:
    """The local path of the results file ``name``, relative to ``results/`` (e.g. ``"ch07/lm_main_s0.json"``).

    Files live in the folder of the page that reads them (``results/README.md`` lists
    them all); ``name`` names the folder too, with ``/`` between the parts.

    Raises:
        ValueError: ``name`` is not a relative path of plain parts (empty, absolute, a
            part that is empty or starts with ``.``, or a backslash).
        FileNotFoundError: no local copy and (with ``download=True``) the download failed.
    """
    _check_name(name)
    for folder in _candidates():
        if (folder / name).is_file():
            return folder / name
    if not download:
        raise FileNotFoundError(f"results/{name} not found locally (looked in {', '.join(map(str, _candidates()))})")
    target = CACHE / name
    target.parent.mkdir(parents=True, exist_ok=True)
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


# ---------------------------------------------------------------------------
# Speed measurements: mixer benchmarks, whole training steps, GPU profiles
# (benchmarks/mixer_speed.py, profile_lm_step.py and profile_triton.py; the appendix
# "Making Cubit fast" reads them)


def speed_rows(data: Mapping, mixer: str, dtype: str) -> dict[int, dict]:
    """The rows of a ``mixer_speed_*.json`` file for one mixer and dtype that ran, by sequence length ``T``.

    Raises:
        ValueError: the file has no row of that mixer and dtype that ran (the message
            lists the mixers and dtypes it has).
    """
    rows = {row["T"]: row for row in data["rows"]
            if row["mixer"] == mixer and row["dtype"] == dtype and row["status"] == "ok"}
    if not rows:
        have = sorted({(row["mixer"], row["dtype"]) for row in data["rows"]})
        raise ValueError(f"no row of mixer {mixer!r} in {dtype} ran in this file; it has {have}")
    return dict(sorted(rows.items()))


def speed_range(data: Mapping, mixer: str, dtype: str, key: str = "time_vs_sdpa",
                lengths: Iterable[int] | None = None) -> tuple[float, float]:
    """Smallest and largest ``key`` (e.g. ``"time_vs_sdpa"``) of one mixer and dtype over ``lengths``.

    Args:
        data: a loaded ``mixer_speed_*.json`` file.
        lengths: the sequence lengths to take; default every length that ran.

    Raises:
        ValueError: no such rows, a length in ``lengths`` did not run, or a row lacks ``key``.
    """
    rows = speed_rows(data, mixer, dtype)
    lengths = list(rows) if lengths is None else list(lengths)
    missing = [t for t in lengths if t not in rows]
    if missing or not lengths:
        raise ValueError(f"{mixer} in {dtype} ran at T = {list(rows)}; asked for T = {lengths}")
    if any(key not in rows[t] for t in lengths):
        raise ValueError(f"the rows of {mixer} have no {key!r}; they have {sorted(rows[lengths[0]])}")
    values = [float(rows[t][key]) for t in lengths]
    return min(values), max(values)


def relative_time(data: Mapping, mixer: str, baseline: str, dtype: str,
                  lengths: Iterable[int] | None = None) -> tuple[float, float]:
    """Smallest and largest ratio of ``mixer``'s forward + backward time to ``baseline``'s, same file, same ``T``.

    Args:
        data: a loaded ``mixer_speed_*.json`` file in which both mixers ran.
        lengths: the sequence lengths to compare; default every length at which both ran.

    Raises:
        ValueError: a mixer did not run, or did not run at one of ``lengths``.
    """
    rows, base = speed_rows(data, mixer, dtype), speed_rows(data, baseline, dtype)
    lengths = [t for t in rows if t in base] if lengths is None else list(lengths)
    missing = [t for t in lengths if t not in rows or t not in base]
    if missing or not lengths:
        raise ValueError(f"{mixer} ran at T = {list(rows)} and {baseline} at T = {list(base)}; asked for T = {lengths}")
    ratios = [rows[t]["fwd_bwd_ms"] / base[t]["fwd_bwd_ms"] for t in lengths]
    return min(ratios), max(ratios)


def worst_error(data: Mapping, mixer: str, dtype: str, of: str = "output") -> float:
    """The largest relative error against float64 that a ``mixer_speed_*.json`` file's accuracy checks found.

    Args:
        of: ``"output"``; ``"gradients"`` (the worst over every input's gradient); or the
            name of one input (e.g. ``"r"``, Cubit's references) for its gradient alone.

    Returns:
        the maximum over the sequence lengths checked.

    Raises:
        ValueError: no accuracy check of that mixer and dtype, or no gradient named ``of``.
    """
    checks = [a for a in data.get("accuracy", []) if a["mixer"] == mixer and a["dtype"] == dtype]
    if not checks:
        raise ValueError(f"no accuracy check of {mixer} in {dtype} in this file")
    if of == "output":
        return max(float(a["relative_error_vs_float64"]) for a in checks)
    grads = [a["grad_relative_error_vs_float64"] for a in checks]
    if of == "gradients":
        return max(float(v) for g in grads for v in g.values())
    if any(of not in g for g in grads):
        raise ValueError(f"{of!r} is not 'output', 'gradients' or an input of {mixer}; "
                         f"its inputs are {sorted(grads[0])}")
    return max(float(g[of]) for g in grads)


def step_rows(data: Mapping) -> dict[tuple[str, str], dict]:
    """The rows of a ``lm_step_*.json`` file (``benchmarks/profile_lm_step.py``) that ran, keyed ``(mixer, mode)``."""
    return {(row["mixer"], row["mode"]): row for row in data["rows"] if row["status"] == "ok"}


def best_steps(data: Mapping) -> dict[str, dict]:
    """From a ``lm_step_*.json`` file (``benchmarks/profile_lm_step.py``): each mixer's fastest mode.

    Returns:
        ``{mixer: row}``, the row whose median ``step_ms`` is smallest among that mixer's
        modes that ran (``eager``, ``graph``, ``compile-graph``), in the file's order of mixers.

    Raises:
        ValueError: no row ran.
    """
    best: dict[str, dict] = {}
    for row in data["rows"]:
        if row["status"] == "ok" and (row["mixer"] not in best or row["step_ms"] < best[row["mixer"]]["step_ms"]):
            best[row["mixer"]] = row
    if not best:
        raise ValueError("no row of this lm_step file ran (every status is not 'ok')")
    return best


def _milliseconds(text: str) -> float:
    """``"1.031ms"``, ``"749.693us"`` or ``"2.1s"`` (a torch profiler time) in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"not a profiler time (a number with us, ms or s): {text!r}")
    return float(match.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[match.group(2)]


def profile_kernel_times(
    name: str, kernels: Mapping[str, str], passes: int = 3, rest: str | None = None
) -> tuple[dict[str, float], float]:
    """GPU time per pass of each group of kernels in a profile (``results/appendix_fast/profile_*.txt``).

    The file is a torch profiler table (``benchmarks/profile_triton.py``) of ``passes``
    forward + backward passes. A row whose name starts with a key of ``kernels`` (or with
    ``"void "`` and that key) adds its *Self CUDA* time to the group ``kernels[key]``; several
    keys may name one group. With ``rest``, the GPU time of every other row goes to a
    group of that name, so that the groups add up to the total.

    Returns:
        ``({group: ms per pass}, total GPU ms per pass)``; a group with no row is left out.

    Raises:
        ValueError: the file has no ``Self CUDA time total`` line, or ``passes`` is not a
            positive integer.
    """
    passes = positive_int("passes", passes, hint=" (the passes the profile covers)")
    text = results_path(name).read_text(encoding="utf-8")
    total = re.search(r"Self CUDA time total: (\S+)", text)
    if total is None:
        raise ValueError(f"results/{name} is not a torch profiler table: no 'Self CUDA time total' line")
    times: dict[str, float] = {}
    for line in text.splitlines():
        fields = re.split(r"\s{2,}", line.strip())
        if len(fields) != 11:  # name and the ten columns of the table
            continue
        for key, group in kernels.items():
            if fields[0].startswith((key, "void " + key)):
                times[group] = times.get(group, 0.0) + _milliseconds(fields[6]) / passes  # "Self CUDA"
                break
    total_ms = _milliseconds(total.group(1)) / passes
    if rest is not None:
        times[rest] = total_ms - sum(times.values())
    return times, total_ms


def files_table(names: Sequence[str], caption: str | None = None):
    """A table of results files, one row each: its name, device, torch, commit and day of creation.

    The command that made each file stays with it (a JSON file's ``command``; for the
    profile tables, ``results/README.md``), not in the page. A profile table (``.txt``)
    names its device, torch and commit in its first line and no day (shown as "—"). A
    name may break after an underscore or a slash, a day never at its hyphens.

    Returns:
        a :class:`cubit_lite.tables.Table`.

    Raises:
        ValueError: a text file whose first line does not start ``"<device>, torch <version>, git <commit>"``.
    """
    from .tables import Html, commit_html, html_table

    rows = []
    for name in names:
        if name.endswith(".json"):
            data = load_json(name)
            device, torch_version, commit, day = (data["device"], data["torch"], data["git_commit"],
                                                  data["created_utc"][:10])
        else:
            first = results_path(name).read_text(encoding="utf-8").partition("\n")[0]
            match = re.match(r"([^,]+), torch (\S+), git ([0-9a-f]{7,40})", first)
            if match is None:
                raise ValueError(f"results/{name} does not start with '<device>, torch <version>, git <commit>': "
                                 f"{first[:80]!r}")
            (device, torch_version, commit), day = match.groups(), "—"
        breaks = html.escape(name).replace("_", "_<wbr>").replace("/", "/<wbr>")  # may break after _ and /
        name_html = Html(f"<code>{breaks}</code>")
        rows.append([name_html, device, torch_version, commit_html(commit), day.replace("-", "\u2011")])
    return html_table(["file", "device", "torch", "commit", "made on"], rows, caption=caption,
                      style="font-size: 0.85em")


def glue_text(**values: object) -> None:
    """Hand values to the page's prose as text: ``{glue:text}`name``` in a markdown cell.

    On the built site each value appears where the prose names it (myst-nb's ``glue``,
    not displayed in the cell). Where myst-nb is not installed (Colab, a plain Jupyter)
    the values are printed instead, one ``name = value`` a line, so the reader sees them.
    Give each value formatted as it should read (a string such as ``"3.2"``).

    Raises:
        TypeError: a value is not a string or a number.
    """
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise TypeError(f"glue_text takes text or numbers formatted as text; {name} is {type(value).__name__}")
    try:
        glue = importlib.import_module("myst_nb").glue  # the build's tool, not the library's dependency
    except ImportError:
        for name, value in values.items():
            print(f"{name} = {value}")
        return
    for name, value in values.items():
        glue(name, str(value), display=False)
