"""Execute one notebook top to bottom with a time budget per cell, and say which cell is slow.

Used by the Colab-shaped test (tests/test_colab_env.py) and by
``scripts/measure_cell_times.py``, which records what each cell normally takes::

    python scripts/run_notebook.py SOURCE.ipynb EXECUTED.ipynb [--kernel NAME]
        [--budgets BUDGETS.json] [--times TIMES.json]

``--budgets`` maps cell ids to seconds: a cell that runs longer than its budget stops
the run at once with an error naming the cell (nbclient's per-cell timeout), instead
of letting a stalled cell sit until a generous global timeout and pass unnoticed.
Cells without a budget get ``--default-budget`` seconds. ``--times`` writes the
seconds each code cell took, keyed by cell id.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--kernel", default="python3", help="kernelspec name (default: python3)")
    parser.add_argument("--budgets", type=Path, help="JSON {cell id: seconds}")
    parser.add_argument("--default-budget", type=float, default=900.0, help="seconds for a cell without a budget")
    parser.add_argument("--times", type=Path, help="write {cell id: seconds taken} here")
    args = parser.parse_args(argv)

    nb = nbformat.read(args.source, as_version=4)
    budgets = json.loads(args.budgets.read_text(encoding="utf-8")) if args.budgets else {}

    def budget(cell) -> int:
        return max(1, round(budgets.get(cell.get("id"), args.default_budget)))

    client = NotebookClient(nb, timeout_func=budget, kernel_name=args.kernel, allow_errors=False,
                            resources={"metadata": {"path": str(args.source.parent)}})
    times: dict[str, float] = {}
    began = time.perf_counter()
    try:
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                start = time.perf_counter()
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
                    print(f"cell {index} (id {cell.get('id')}) ran past its budget of {budget(cell)} s: "
                          f"{first[:80]!r}", file=sys.stderr)
                    raise
                times[cell.get("id", str(index))] = round(time.perf_counter() - start, 3)
            client.set_widgets_metadata()
    finally:
        if args.times:
            args.times.write_text(json.dumps(times, indent=1) + "\n", encoding="utf-8")
    nb.metadata["executed_seconds"] = round(time.perf_counter() - began, 1)
    nbformat.write(nb, args.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
