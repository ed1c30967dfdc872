"""``results/README.md`` is the index of ``results/``: a row for every file, with every page that reads it.

A row is ``| `file` | what it is | read by | made by |``. A pre-registered study's folder
(``results/NAME/`` beside ``experiments/NAME/PLAN.md``) and a ``raw/`` folder have one row
each, ``| `NAME/` | ...``. *Read by* names pages by their notebook's name in ``book/``
(``07_training_a_char_lm``), the labels of their sections and figures, and the tests and
code that read the file, each in backticks.

Which results files a notebook reads is found in its code: every string that names a file
under ``results/`` (``"ch07/lm_main_s0.json"``). A name built with an f-string counts for
every file it can name: a placeholder takes the values its variable is given in the
notebook by a ``for`` over a literal (or over a name bound to one, or ``range(n)``), and
matches any one part of a path where the notebook gives none.
"""

from __future__ import annotations

import ast
import itertools
import json
import re
import shlex
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
INDEX = RESULTS / "README.md"
STUDIES = {path.parent.name for path in (ROOT / "experiments").glob("*/PLAN.md")}
SUFFIXES = (".json", ".txt", ".log", ".pt", ".npz")
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
#: Text that names results files in prose or docstrings, each in backticks.
PROSE = [
    *NOTEBOOKS,
    *sorted((ROOT / "book").glob("*.md")),
    ROOT / "README.md",
    ROOT / "CONTRIBUTING.md",
    ROOT / "experiments" / "README.md",
    *sorted((ROOT / "cubit_lite").rglob("*.py")),
    *sorted((ROOT / "benchmarks").glob("*.py")),
]


# ---------------------------------------------------------------------------
# The index and the files


@cache
def index_rows() -> dict[str, dict[str, str]]:
    """Each row of the index by its file (relative to ``results/``): its cells ``what``, ``read_by``, ``made_by``."""
    rows: dict[str, dict[str, str]] = {}
    for number, line in enumerate(INDEX.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert len(cells) == 4, f"results/README.md:{number}: a row has 4 cells (file, what, read by, made by)"
        name = cells[0].strip("`")
        assert name not in rows, f"results/README.md:{number}: {name} has two rows"
        rows[name] = dict(what=cells[1], read_by=cells[2], made_by=cells[3])
    return rows


def row_of(path: str) -> str:
    """The row that holds a file ``path`` (relative to ``results/``): its own, or its study's or raw folder's."""
    parts = path.split("/")
    if parts[0] in STUDIES:
        return parts[0] + "/"
    if "raw" in parts[:-1]:
        return "/".join(parts[: parts.index("raw") + 1]) + "/"
    return path


@cache
def results_files() -> tuple[str, ...]:
    """Every file under ``results/`` (relative paths, ``/``-separated), but the index and hidden files."""
    files = (path.relative_to(RESULTS).as_posix() for path in RESULTS.rglob("*") if path.is_file())
    return tuple(sorted(f for f in files if f != "README.md" and not any(p.startswith(".") for p in f.split("/"))))


def test_every_file_has_a_row_and_every_row_a_file():
    expected = {row_of(path) for path in results_files()}
    rows = set(index_rows())
    assert not expected - rows, f"files of results/ without a row in results/README.md: {sorted(expected - rows)}"
    assert not rows - expected, f"rows of results/README.md naming nothing in results/: {sorted(rows - expected)}"


def test_every_row_says_what_its_file_is_and_how_it_was_made():
    for name, row in index_rows().items():
        assert len(row["what"]) >= 20, f"{name}: say what the file is"
        commands = [span for span in re.findall(r"`([^`]+)`", row["made_by"]) if span.startswith(("python ", "bash "))]
        made_like = re.search(r"the command of `([^`]+)`", row["made_by"])
        assert commands or (made_like and made_like.group(1) in index_rows()), (
            f"{name}: 'made by' gives no command (`python SCRIPT ...` or `bash SCRIPT ...`) "
            "and names no other row's file ('the command of `FILE`')"
        )
        for command in commands:
            script = command.split()[1]
            assert (ROOT / script).is_file(), f"{name}: its command runs {script}, which is not in the repository"


def _normalised(command: str, path: str) -> list[str]:
    """A recorded command's words without ``--git-commit HASH``, its ``--out``/``--summary`` pointing at ``path``."""
    words, out = command.split(), []
    while words:
        word = words.pop(0)
        if word == "--git-commit":
            words.pop(0)
        elif word in ("--out", "--summary"):
            words.pop(0)
            out += [word, f"results/{path}"]
        else:
            out.append(word)
    return out


def test_a_json_files_command_is_the_one_it_records_writing_here():
    """The index's command for a JSON file of a page's folder is the command the file records (which ran on
    a machine with another output folder and no ``.git``), writing to the file's own path. (A study's
    summary records the command of its study, which its plan describes.)"""
    checked = 0
    for name, row in index_rows().items():
        if "/" not in name or not name.endswith(".json") or row_of(name) != name:
            continue
        recorded = json.loads((RESULTS / name).read_text(encoding="utf-8"))["command"]
        command = re.search(r"`([^`]+)`", row["made_by"])
        assert command, f"{name}: 'made by' has no command in backticks"
        assert command.group(1).split() == _normalised(recorded, name), (
            f"{name}: the index says\n  {command.group(1)}\nthe file records (normalised)\n  "
            f"{' '.join(_normalised(recorded, name))}"
        )
        checked += 1
    assert checked >= 10


def test_a_command_that_writes_a_file_names_its_path():
    """Where the command's ``--out``, ``--summary`` or ``>`` names a file of the row's kind, it is the row's file."""
    for name, row in index_rows().items():
        if name.endswith("/"):
            continue
        for command in re.findall(r"`((?:python|bash) [^`]+)`", row["made_by"]):
            words = shlex.split(command)
            targets = [words[i + 1] for i, word in enumerate(words[:-1]) if word in ("--out", "--summary", ">")]
            same_kind = [t for t in targets if Path(t).suffix == Path(name).suffix]
            assert not same_kind or f"results/{name}" in same_kind, f"{name}: its command writes {same_kind}"


# ---------------------------------------------------------------------------
# Pages and the readers named


@cache
def page_text(stem: str) -> str | None:
    """The text of the page ``book/STEM.ipynb`` or ``book/STEM.md``; None if there is no such page.

    A notebook's text is every cell's, with a target ``(name)=`` for each figure that a code
    cell's metadata names (myst-nb's ``mystnb: figure: name``).
    """
    notebook, markdown = ROOT / "book" / f"{stem}.ipynb", ROOT / "book" / f"{stem}.md"
    if notebook.is_file():
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        figures = [cell["metadata"].get("mystnb", {}).get("figure", {}).get("name") for cell in cells]
        return "\n".join(["".join(cell["source"]) for cell in cells] + [f"({name})=" for name in figures if name])
    return markdown.read_text(encoding="utf-8") if markdown.is_file() else None


def defines(text: str, label: str) -> bool:
    """Whether a page's text defines ``label``: a target ``(label)=``, or a ``:name:`` or ``:label:`` option."""
    escaped = re.escape(label)
    return bool(re.search(rf"^\({escaped}\)=|^:(?:name|label):\s*{escaped}\s*$", text, re.MULTILINE))


def readers(row: dict[str, str]) -> tuple[set[str], set[str], set[str]]:
    """The pages, the files (tests, code) and the labels that a row's *read by* cell names."""
    pages, files, labels = set(), set(), set()
    for span in re.findall(r"`([^`]+)`", row["read_by"]):
        if "/" in span or span.endswith((".py", ".md", ".ipynb", ".sh")):
            files.add(span)
        elif page_text(span) is not None:
            pages.add(span)
        else:
            labels.add(span)
    return pages, files, labels


def test_every_reader_named_exists():
    for name, row in index_rows().items():
        pages, files, labels = readers(row)
        for file in files:
            assert (ROOT / file).is_file(), f"{name}: read by {file}, which is not in the repository"
        for label in labels:
            assert pages, f"{name}: {label!r} is neither a page of book/ nor a file (nor a label of a page named)"
            assert any(defines(page_text(page) or "", label) for page in pages), (
                f"{name}: no page of {sorted(pages)} defines the label {label!r}, and no page of book/ is so named"
            )


# ---------------------------------------------------------------------------
# What the notebooks read


def _code(notebook: Path) -> ast.Module:
    """The code cells of a notebook as one parsed module (IPython's ``%`` and ``!`` lines left out)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    source = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
    return ast.parse("\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()))


def _values(node: ast.expr, bound: dict[str, list]) -> list | None:
    """The values a ``for`` takes over ``node``: a literal tuple, list, set or dict (its keys), a name bound to
    one, or ``range(...)`` of integers; None when they are not known without running the code."""
    if isinstance(node, ast.Name):
        return bound.get(node.id)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
        try:
            return list(range(*(ast.literal_eval(arg) for arg in node.args)))
        except (ValueError, TypeError):
            return None
    if isinstance(node, ast.Dict):
        node = ast.Tuple(elts=[key for key in node.keys if key is not None])
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        return None
    if not isinstance(value, (tuple, list, set)):
        return None
    return list(value)


def _names(values) -> set:
    """The values that can stand in a file name: strings and numbers."""
    return {v for v in values if isinstance(v, (str, int, float)) and not isinstance(v, bool)}


def _loop_values(tree: ast.Module) -> dict[str, set]:
    """For each variable a ``for`` (or a comprehension) binds, the values it takes where they are known."""
    bound: dict[str, list] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            values = _values(node.value, {})
            if values is not None:
                bound[node.targets[0].id] = values
    taken: dict[str, set] = {}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.For, ast.comprehension)):
            continue
        values = _values(node.iter, bound)
        if values is None:
            continue
        if isinstance(node.target, ast.Name):
            taken.setdefault(node.target.id, set()).update(_names(values))
        elif isinstance(node.target, ast.Tuple) and all(isinstance(t, ast.Name) for t in node.target.elts):
            for i, target in enumerate(node.target.elts):
                taken.setdefault(target.id, set()).update(
                    _names(v[i] for v in values if isinstance(v, tuple) and len(v) == len(node.target.elts))
                )
    return taken


def _patterns(tree: ast.Module) -> list[list[str]]:
    """Every string of the code as regular expressions: a plain string as one, an f-string as one for each
    combination of the values its placeholders take (``[^/]+`` where they are not known)."""
    taken = _loop_values(tree)
    inside = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    patterns = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inside:
            patterns.append([re.escape(node.value)])
        elif isinstance(node, ast.JoinedStr):
            options = []
            for part in node.values:
                if isinstance(part, ast.Constant):
                    options.append([re.escape(str(part.value))])
                elif (
                    isinstance(part, ast.FormattedValue)
                    and isinstance(part.value, ast.Name)
                    and taken.get(part.value.id)
                ):
                    options.append(sorted(re.escape(str(v)) for v in taken[part.value.id]))
                else:
                    options.append(["[^/]+"])
            patterns.append(["".join(combination) for combination in itertools.product(*options)])
    return patterns


@cache
def notebook_reads(notebook: Path) -> tuple[set[str], set[str]]:
    """The results files a notebook's code names, and the names it gives under a results folder that match none."""
    files, missing = set(), set()
    folders = {path.name for path in RESULTS.iterdir() if path.is_dir()}
    for alternatives in _patterns(_code(notebook)):
        alternatives = [a for a in alternatives if a.endswith(tuple(re.escape(s) for s in SUFFIXES))]
        matched = {f for f in results_files() for a in alternatives if re.fullmatch(a, f)}
        files |= matched
        if alternatives and not matched and alternatives[0].split("/")[0] in folders:
            missing.add(alternatives[0].replace("\\", ""))
    return files, missing


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_every_results_file_a_notebook_reads_is_listed_with_it(notebook):
    files, missing = notebook_reads(notebook)
    assert not missing, f"{notebook.name} names files under results/ that are not there: {sorted(missing)}"
    for file in sorted(files):
        row = index_rows().get(row_of(file))
        assert row is not None, f"{notebook.name} reads results/{file}, which has no row in results/README.md"
        assert notebook.stem in readers(row)[0], (
            f"{notebook.name} reads results/{file}; its row ({row_of(file)}) does not name `{notebook.stem}`"
        )


def test_the_reading_of_the_notebooks_is_found():
    """The patterns find the reads of the chapters, f-strings included."""
    reads = {notebook.stem: notebook_reads(notebook)[0] for notebook in NOTEBOOKS}
    assert {"ch07/lm_main_s0.json", "ch07/lm_main_s2.json", "ch07/main-cubit-s0.pt"} <= reads["07_training_a_char_lm"]
    assert {"ch08/lm_sweep_T512.json", "ch07/lm_main_s1.json"} <= reads["08_context_length"]
    assert {
        "appendix_fast/profile_triton_bf16_T1024_h200.txt",
        "appendix_fast/mixer_speed_bf16_repeat_h200.json",
        "appendix_fast/mixer_speed_fp32_h200.json",
    } <= reads["making_cubit_fast"]
    assert "appendix_fast/mixer_speed_fla_h200.json" not in reads["making_cubit_fast"]
    assert "incontext.json" in reads["09_trained_regressors"]


def test_a_name_under_a_results_folder_that_names_no_file_is_reported(tmp_path):
    cells = [
        {
            "cell_type": "code",
            "source": [
                'load_json("ch07/lm_main_s7.json")\n',
                'for d in ("fp32", "bf16"):\n',
                '    load_json(f"appendix_fast/mixer_speed_{d}_h200.json")\n',
                'load_json("not_a_folder/x.json")\n',
                "%time x = 1\n",
            ],
        }
    ]
    notebook = tmp_path / "page.ipynb"
    notebook.write_text(json.dumps({"cells": cells}), encoding="utf-8")
    files, missing = notebook_reads(notebook)
    assert files == {"appendix_fast/mixer_speed_fp32_h200.json", "appendix_fast/mixer_speed_bf16_h200.json"}
    assert missing == {"ch07/lm_main_s7.json"}


def test_fstring_placeholders_take_the_values_of_their_loops():
    tree = ast.parse(
        'KINDS = ("a", "b")\nnames = [f"x/{k}_{n}.json" for k in KINDS for n in range(2)]\n'
        'other = [f"y/{z}.json" for z in unknown]\n'
    )
    patterns = [p for alternatives in _patterns(tree) for p in alternatives]
    assert {"x/a_0\\.json", "x/b_1\\.json", "y/[^/]+\\.json"} <= set(patterns)
    assert not any(p.startswith("x/[") for p in patterns)


# ---------------------------------------------------------------------------
# Results paths named in prose and docstrings


def _expand(pattern: str) -> list[str]:
    """``a_{x,y}_b`` -> ``["a_x_b", "a_y_b"]`` (braces as a shell expands them)."""
    match = re.search(r"\{([^{}]*,[^{}]*)\}", pattern)
    if match is None:
        return [pattern]
    return [
        e
        for part in match.group(1).split(",")
        for e in _expand(pattern[: match.start()] + part + pattern[match.end() :])
    ]


def test_every_results_path_named_in_the_text_exists():
    """A page, the READMEs, the library and the benchmarks name results files in backticks; each exists
    (``*`` and ``{a,b}`` as in a shell)."""
    stale = []
    for path in PROSE:
        text = path.read_text(encoding="utf-8")
        for name in set(re.findall(r"`{1,2}(results/[^`\s<]*)`{1,2}", text)):
            if not any(list(ROOT.glob(expanded.rstrip("/"))) for expanded in _expand(name)):
                stale.append(f"{path.relative_to(ROOT)}: {name}")
    assert not stale, "results paths named that are not in results/:\n" + "\n".join(sorted(stale))
