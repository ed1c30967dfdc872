"""Peak memory and time of loading a corpus for training, against its size.

For each text and size, a file is written from the Shakespeare corpus repeated (its real
character distribution), and a fresh Python process runs
:func:`cubit_lite.train.load_training_data` on it, exactly what
``python -m cubit_lite.train --corpus FILE`` does before it builds the model. The
process reports its peak resident memory (``ru_maxrss``) minus its resident memory
after the imports, and the wall time of the load::

    python benchmarks/corpus_memory.py --sizes-mb 16 64 256 1024 --out results/troubleshooting/corpus_memory.json

The texts (``--texts``, :data:`TEXTS`) differ only in the corpus's one non-ASCII
character, the em dash, and so in the bytes a character Python holds the text at:
``ascii`` replaces it by ``-`` (one byte), ``em-dash`` keeps it (two bytes),
``beyond-bmp`` replaces it by 𝄞 (U+1D11E, beyond the Basic Multilingual Plane: four
bytes). The default is the first two.

Each size needs free disk space of its size (the file is deleted afterwards).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cli_checks
import torch

from cubit_lite.data import CORPUS_MEMORY_FACTOR, machine_memory  # (the limit the trainer applies)

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
from cubit_lite.train import TrainConfig, load_training_data
def rss_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
base = rss_kib()
start = time.perf_counter()
corpus, tokenizer, train_ids, val_ids = load_training_data(TrainConfig(out="unused", corpus=sys.argv[1]))
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
print(json.dumps({"seconds": seconds, "peak_kib": peak, "base_kib": base, "n_chars": corpus.n_chars,
                  "vocab_size": tokenizer.vocab_size, "ids_dtype": str(train_ids.dtype),
                  "ids_bytes": (train_ids.numel() + val_ids.numel()) * train_ids.element_size()}))
"""


TEXTS = {
    "ascii": ("-", "ascii"),
    "em-dash": ("\u2014", "with an em dash (2 bytes a character in Python)"),
    "beyond-bmp": ("\U0001D11E", "with a character beyond the BMP, U+1D11E (4 bytes a character in Python)"),
}
"""Each ``--texts`` value: what replaces the corpus's em dash, and the row's ``text``."""


def write_corpus(path: Path, size: int, kind: str) -> None:
    """``size`` bytes (whole characters) of the Shakespeare corpus repeated, its em dash as :data:`TEXTS` says."""
    from cubit_lite.data import load_corpus

    text = load_corpus("shakespeare").text.replace("\u2014", TEXTS[kind][0])
    block = text.encode("utf-8")
    with path.open("wb") as out:
        written = 0
        while written < size:
            piece = block[: size - written]
            piece = piece[: len(piece.decode("utf-8", "ignore").encode("utf-8"))]  # whole characters only
            if not piece:
                break
            out.write(piece)
            written += len(piece)


def check_sizes(parser: argparse.ArgumentParser, largest: int) -> None:
    """``parser.error`` if the largest file does not fit on the temporary folder's disk, or is one that
    ``cubit_lite`` refuses to load on this machine (:data:`~cubit_lite.data.CORPUS_MEMORY_FACTOR` times its
    size must fit in the machine's memory)."""
    folder = tempfile.gettempdir()
    free = shutil.disk_usage(folder).free
    if largest > free:
        parser.error(f"--sizes-mb {largest // 2**20} needs {largest / 2**30:,.2f} GiB of disk in {folder}, "
                     f"more than the {free / 2**30:,.2f} GiB free: give smaller sizes (or set TMPDIR to a larger disk)")
    memory = machine_memory()
    if memory is not None and CORPUS_MEMORY_FACTOR * largest > memory:
        most = memory // CORPUS_MEMORY_FACTOR // 2**20
        parser.error(f"--sizes-mb {largest // 2**20}: cubit_lite loads a corpus only if {CORPUS_MEMORY_FACTOR} "
                     f"times its size fits in the machine's memory, here at most {most} MiB: give smaller sizes")


def measure(path: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes-mb", type=cli_checks.integer(1), nargs="+", default=[16, 64, 256, 1024],
                        help="sizes of the corpus files, in MiB")
    parser.add_argument("--texts", nargs="+", choices=list(TEXTS), default=["ascii", "em-dash"],
                        help="the texts measured (see the module's docstring)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--git-commit", default=None)
    cli_checks.add_overwrite(parser)
    args = parser.parse_args(argv)
    cli_checks.check_out(parser, args.out, args.overwrite)
    check_sizes(parser, max(args.sizes_mb) * 2**20)
    rows = []
    for kind in args.texts:
        for size_mb in args.sizes_mb:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "corpus.txt"
                write_corpus(path, size_mb * 2**20, kind)
                size = path.stat().st_size
                result = measure(path)
            extra = (result["peak_kib"] - result["base_kib"]) * 1024
            rows.append({"text": TEXTS[kind][1], "file_bytes": size, **result, "peak_minus_base_bytes": extra,
                         "peak_over_file": extra / size})
            print(f"{kind:>10} {size / 2**20:8.0f} MiB: load {result['seconds']:6.1f} s, "
                  f"peak {extra / 2**30:6.2f} GiB = {extra / size:4.2f} x the file", flush=True)
    commit = args.git_commit or subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                               cwd=ROOT).stdout.strip()
    report = {"benchmark": "corpus_memory", "command": "python benchmarks/corpus_memory.py " + " ".join(
        argv if argv is not None else sys.argv[1:]), "git_commit": commit, "python": platform.python_version(),
        "torch": torch.__version__, "device": f"CPU ({platform.machine()}, {os.cpu_count()} CPUs)",
        "date": time.strftime("%Y-%m-%d"), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
