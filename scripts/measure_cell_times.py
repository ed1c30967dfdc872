"""Record how long each code cell of each chapter takes, for the Colab-shaped test's budgets.

    .venv/bin/python scripts/measure_cell_times.py            # all chapters -> tests/cell_seconds.json
    .venv/bin/python scripts/measure_cell_times.py 07_training_a_char_lm.ipynb   # one chapter, the rest kept

Runs every notebook in ``book/`` with ``scripts/run_notebook.py`` in this environment,
with live sliders (``CUBIT_LITE_SLIDERS=live``, the path Colab takes) and the committed
GPU results from ``results/``, from a folder outside the checkout, and writes
``{notebook: {cell id: seconds}}``. tests/test_colab_env.py gives each cell a budget of
a small multiple of these seconds. Measure on the machine that runs the tests (2 cores
here), with nothing else running: two notebooks executing at once on two cores can run
many times slower than one (the threads of both fight for the cores). Rerun after a
change that makes a cell much slower or faster.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "tests" / "cell_seconds.json"


def main(argv: list[str] | None = None) -> int:
    names = sys.argv[1:] if argv is None else argv
    paths = [ROOT / "book" / name for name in names] or sorted((ROOT / "book").glob("*.ipynb"))
    missing = [str(p.relative_to(ROOT)) for p in paths if not p.is_file()]
    if missing:
        raise SystemExit(f"no such notebook: {', '.join(missing)} (give names of files in book/)")
    measured = json.loads(TARGET.read_text(encoding="utf-8")) if TARGET.exists() else {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUBIT_LITE_")}
    env.update(CUBIT_LITE_SLIDERS="live", CUBIT_LITE_RESULTS=str(ROOT / "results"),
               MPLBACKEND="module://matplotlib_inline.backend_inline")
    for path in paths:
        with tempfile.TemporaryDirectory() as folder:
            source = Path(folder) / path.name
            shutil.copy(path, source)
            times = Path(folder) / "times.json"
            subprocess.run([sys.executable, str(ROOT / "scripts" / "run_notebook.py"), str(source),
                            str(Path(folder) / "executed.ipynb"), "--times", str(times)],
                           cwd=folder, env=env, check=True)
            measured[path.name] = json.loads(times.read_text(encoding="utf-8"))
            print(f"{path.name}: {sum(measured[path.name].values()):.0f} s in {len(measured[path.name])} cells")
            TARGET.write_text(json.dumps(dict(sorted(measured.items())), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
