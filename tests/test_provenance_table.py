"""Chapter 8's table of results files: compact, and every fact of each file still in it.

The chapter's own cells (the cell that loads the results files and the table cell,
with the library's helpers they import) run here in-process on the committed results;
the HTML the table cell displays is then read back. Fast: no kernel, no training.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from cubit_lite.results import collect_runs, same_recipe, seed_range
from cubit_lite.tables import Html, commit_html, html_table
from cubit_lite.train_config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "08_context_length.ipynb"
LONGEST_CELL = 30  # characters of visible text in any cell: short columns, no clipped column


def _cell(nb, needle: str) -> str:
    (source,) = [c.source for c in nb.cells if c.cell_type == "code" and needle in c.source]
    return source


@pytest.fixture(scope="module")
def table():
    nb = nbformat.read(CHAPTER, as_version=4)
    shown = []
    namespace = {"np": np, "TrainConfig": TrainConfig, "re": re, "collect_runs": collect_runs,
                 "same_recipe": same_recipe, "seed_range": seed_range, "Html": Html, "commit_html": commit_html,
                 "html_table": html_table, "LABEL": {"transformer": "Transformer", "cubit": "Cubit"},
                 "print": lambda *a, **k: None, "display": lambda obj, **kwargs: shown.append(obj.data)}
    for needle in ("FILES = {", "The results files this chapter reads"):
        exec(compile(_cell(nb, needle), f"{CHAPTER.name}: {needle}", "exec"), namespace)
    (page,) = shown
    return page, namespace["files"]


def _cells(row: str) -> list[str]:
    return re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)


def _visible(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def test_one_row_per_results_file_with_short_cells(table):
    page, files = table
    body = re.search(r"<tbody>(.*)</tbody>", page, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    assert len(rows) == len(files)
    header = _cells(re.search(r"<thead>(.*)</thead>", page, re.S).group(1))
    assert len(header) <= 8
    for row in rows:
        cells = [_visible(cell) for cell in _cells(row)]
        assert len(cells) == len(header)
        assert max(len(cell) for cell in cells) <= LONGEST_CELL, cells


def test_every_fact_of_every_file_is_kept(table):
    page, files = table
    rows = re.findall(r"<tr>(.*?)</tr>", re.search(r"<tbody>(.*)</tbody>", page, re.S).group(1), re.S)
    caption = _visible(re.search(r"<caption>(.*?)</caption>", page, re.S).group(1))
    for folder in {name.rpartition("/")[0] for name in files}:
        assert f"results/{folder}/" in caption
    for row, (name, f) in zip(rows, files.items(), strict=True):
        text = _visible(row)
        assert name.rpartition("/")[2] in text.replace(" ", "")  # the file, its folder in the caption
        commit = f["git_commit"]
        assert f'title="{commit}"' in row and commit[:7] in text and commit not in text  # short, full on hover
        assert str(f["parallel_runs"]) in text.split()
        assert f["created_utc"][11:16] in text
        seeds = sorted(f["seeds"])
        assert str(seeds[0]) in text and str(seeds[-1]) in text
        # Device, torch, CUDA and Python: in the row, or once in the caption when every file shares them.
        for fact in (f["device"], f"torch {f['torch']}", f"CUDA {f['cuda']}", f"Python {f['python']}"):
            assert fact in text or fact in caption, fact
        if f["created_utc"][:10] not in text:
            assert f["created_utc"][:10] in caption
