"""The student edition (``scripts/student_edition.py``): exercises kept, solutions removed, nothing else changed.

Every notebook listed in ``_toc.yml`` is checked, so a chapter added to the table of
contents is covered without editing this file. The solution ranges are found here by
a deliberately simple parser of our own, independent of the script's.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "student_edition.py"

_spec = importlib.util.spec_from_file_location("student_edition", SCRIPT)
student_edition = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("student_edition", student_edition)  # dataclasses look their module up
_spec.loader.exec_module(student_edition)


def toc_notebooks() -> list[Path]:
    """Every ``.ipynb`` named anywhere in ``_toc.yml`` (root, parts, chapters, sections), but the pages that
    run only in a clone (``CLONE_ONLY`` of ``_ext/colab_launch.py``: no exercises, no edition)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]] + re.findall(r"file:\s*(\S+)", (ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [ROOT / f"{f}.ipynb" for f in dict.fromkeys(files)
            if (ROOT / f"{f}.ipynb").is_file() and f not in student_edition.CLONE_ONLY]


NOTEBOOKS = toc_notebooks()
START = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})\{solution-start\}\s*(\S+)", re.M)
END = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})\{solution-end\}", re.M)
SINGLE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})\{solution\}", re.M)
EXERCISE_LABEL = re.compile(r"\{exercise(?:-start)?\}[^\n]*\n(?:\s*:[^\n]*\n)*?\s*:label:\s*(\S+)")


def solution_cells(nb) -> tuple[set[int], set[int]]:
    """(cells strictly inside a gated solution, boundary cells holding a solution directive)."""
    inside, boundary, open_ = set(), set(), False
    for i, cell in enumerate(nb.cells):
        text = cell.source if cell.cell_type == "markdown" else ""
        starts, ends = START.search(text), END.search(text)
        if starts or ends or SINGLE.search(text):
            boundary.add(i)
            open_ = bool(starts) and not (ends and ends.start() > starts.start())
        elif open_:
            inside.add(i)
    return inside, boundary


def labels(nb) -> list[str]:
    return [m.group(1) for c in nb.cells if c.cell_type == "markdown" for m in EXERCISE_LABEL.finditer(c.source)]


@pytest.fixture(scope="module")
def student_folder(tmp_path_factory) -> Path:
    """The student edition of every toc notebook, written by the command line."""
    out = tmp_path_factory.mktemp("edition") / "student"
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


def _student(folder: Path, source: Path):
    return nbformat.read(folder / source.name, as_version=4)


def test_the_chapters_have_solutions_to_remove():
    """A check of this file's own parser: the book's chapters do have gated solutions."""
    chapters = [p for p in NOTEBOOKS if re.match(r"0[1-6]_", p.name)]
    assert len(chapters) == 6
    for path in chapters:
        inside, boundary = solution_cells(nbformat.read(path, as_version=4))
        assert len(boundary) >= 6 and inside, path.name


def test_the_toc_notebooks_are_found():
    """The script converts exactly the notebooks in _toc.yml (a new chapter is picked up automatically)."""
    assert [p.resolve() for p in student_edition.toc_notebooks(ROOT)] == [p.resolve() for p in NOTEBOOKS]
    assert len(NOTEBOOKS) >= 6


@pytest.mark.slow  # 2.5 s
@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_solution_survives(student_folder, source):
    original = nbformat.read(source, as_version=4)
    inside, boundary = solution_cells(original)
    # This file's parser and the script's agree on how many solutions there are.
    opened = sum(len(START.findall(c.source)) + len(SINGLE.findall(c.source))
                 for c in original.cells if c.cell_type == "markdown")
    assert opened == len(student_edition.remove_solutions(original, source)[1].solutions)
    student = _student(student_folder, source)
    for cell in student.cells:
        assert not re.search(r"\{solution(-start|-end)?\}", cell.source), cell.source[:200]
    student_ids = {cell.get("id") for cell in student.cells}
    outside_sources = {c.source for i, c in enumerate(original.cells) if i not in inside | boundary}
    student_sources = {c.source for c in student.cells}
    for i in inside:
        cell = original.cells[i]
        assert cell.id not in student_ids, f"cell {i} of {source.name} is inside a solution but was kept"
        if cell.source.strip() and cell.source not in outside_sources:
            assert cell.source not in student_sources, f"cell {i} of {source.name} (solution text) was kept"


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_is_kept_in_order(student_folder, source):
    original = nbformat.read(source, as_version=4)
    expected = labels(original)
    assert labels(_student(student_folder, source)) == expected
    assert student_edition.exercise_labels(original) == expected  # the script reads them as we do


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_other_cell_is_unchanged_and_in_order(student_folder, source):
    original = nbformat.read(source, as_version=4)
    inside, boundary = solution_cells(original)
    boundary_ids = {original.cells[i].id for i in boundary}
    expected = [c for i, c in enumerate(original.cells) if i not in inside | boundary]
    student = _student(student_folder, source)
    kept = [c for c in student.cells[1:] if c.get("id") not in boundary_ids]  # trimmed boundary cells aside
    assert [c.id for c in kept] == [c.id for c in expected]
    for new, old in zip(kept, expected, strict=True):
        # The one sentence the student edition rewrites (see test_no_student_notebook_claims_folded_solutions).
        source = student_edition.FOLDED_CLAIM.sub(student_edition.STUDENT_CLAIM, old.source)
        assert (new.cell_type, new.source, new.metadata) == (old.cell_type, source, old.metadata)


# A sentence that places solutions in the notebook: "Solutions are folded under each exercise",
# "each solution is folded", "the folded solution below", ...
CLAIMS_FOLDED = re.compile(r"[^.!?]*\b(solutions?\b[^.!?]*\bfold|fold\w*\b[^.!?]*\bsolution)[^.!?]*[.!?]?",
                           re.IGNORECASE)


@pytest.mark.slow  # 2.6 s
@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_student_notebook_claims_folded_solutions(student_folder, source):
    """The chapters say their solutions are folded under each exercise; a student copy has none to fold."""
    student = _student(student_folder, source)
    assert student.cells[0].id == student_edition.INTRO_CELL_ID  # it names the full edition, where they are
    claims = [m.group(0).strip() for c in student.cells[1:] if c.cell_type == "markdown"
              for m in CLAIMS_FOLDED.finditer(c.source)]
    assert not claims, f"{source.name}: {claims}"
    original = nbformat.read(source, as_version=4)
    if any(CLAIMS_FOLDED.search(c.source) for c in original.cells if c.cell_type == "markdown"):
        said = "\n".join(c.source for c in student.cells if c.cell_type == "markdown")
        assert "student edition leaves the solutions out" in " ".join(said.split())


def test_the_folded_solutions_sentence_is_rewritten_wherever_its_lines_break(tmp_path):
    nb = _nb(("md", "## Exercises\n\nThe exercises go from a quick check to a small project. Solutions are\n"
                    "folded under each exercise;  try first. The ones that train take seconds."),
             ("md", "```{exercise} One\n:label: ex-one\n\nDo it.\n```"))
    path = tmp_path / "99_made.ipynb"
    nbformat.write(nb, path)
    student, _ = student_edition.student_notebook(path)
    text = student.cells[1].source
    assert not CLAIMS_FOLDED.search(text), text
    assert text.startswith("## Exercises\n\nThe exercises go from a quick check to a small project. ")
    assert text.endswith(student_edition.STUDENT_CLAIM + " The ones that train take seconds.")
    assert nbformat.read(path, as_version=4).cells[0].source == nb.cells[0].source  # the full edition keeps it


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_copy_is_valid_without_outputs_and_says_what_it_is(student_folder, source):
    original = nbformat.read(source, as_version=4)
    student = _student(student_folder, source)
    nbformat.validate(student)
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    first = student.cells[0]
    assert first.cell_type == "markdown" and "Student edition" in first.source
    url = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"]
    assert f"{url}/blob/" in first.source and f"book/{source.name}" in first.source  # where the full edition is
    # The notebook's own metadata (kernel, Colab's GPU setting) travels with it.
    for key, value in original.metadata.items():
        if key != "widgets":
            assert student.metadata[key] == value


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_source_notebook_is_unchanged(source):
    before = source.read_bytes()
    nb = nbformat.read(source, as_version=4)
    snapshot = copy.deepcopy(nb)
    student_edition.remove_solutions(nb, source)
    student_edition.student_notebook(source)
    assert nb == snapshot
    assert source.read_bytes() == before


# --------------------------------------------------------------------------- #
# Every form of solution, on small notebooks made here
# --------------------------------------------------------------------------- #
def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    for kind, text in cells:
        nb.cells.append(nbformat.v4.new_code_cell(text) if kind == "code" else nbformat.v4.new_markdown_cell(text))
    return nb


def test_every_form_of_solution_is_removed():
    nb = _nb(
        ("md", "## Exercises\n\n```{exercise} One\n:label: ex-one\n\nDo it.\n```"),
        ("md", "```{solution-start} ex-one\n:class: dropdown\n```"),  # the directive alone
        ("code", "answer = 1"),
        ("md", "Text of the solution.\n\n```{solution-end}\n```"),  # solution text before the end
        ("md", "````{exercise} Two\n:label: ex-two\n\n```python\nx = 1\n```\n````"),
        ("md", "```{solution-start} ex-two\n:class: dropdown\n```\n\nSolution text after the fence."),
        ("code", "print(answer)"),
        ("md", "```{solution-end}\n```\n\nAn afterword that is not part of the solution."),
        ("md", ":::{exercise} Three\n:label: ex-three\nA colon fence.\n:::"),
        ("md", "Before.\n\n````{solution} ex-three\n:class: dropdown\n\n```python\ny = 2\n```\n````\n\nAfter."),
        ("md", "~~~{solution} ex-three\nAll of this cell is solution.\n~~~"),
        ("code", "print('not a solution')"),
    )
    snapshot = copy.deepcopy(nb)
    student, report = student_edition.remove_solutions(nb)
    assert nb == snapshot
    assert [c.source for c in student.cells] == [
        nb.cells[0].source,
        nb.cells[4].source,
        "An afterword that is not part of the solution.",
        nb.cells[8].source,
        "Before.\n\n\nAfter.",
        "print('not a solution')",
    ]
    assert report.solutions == ["ex-one", "ex-two", "ex-three", "ex-three"]
    assert report.exercises == ["ex-one", "ex-two", "ex-three"]


def test_a_solution_directive_it_cannot_place_is_refused_not_kept():
    """A directive the parser does not remove (here one shown inside a code fence) stops the script."""
    shown = "How to write one:\n\n````markdown\n```{solution-start} ex-x\n```\n````"
    with pytest.raises(student_edition.SolutionFormatError, match="still mentions a solution directive"):
        student_edition.remove_solutions(_nb(("md", shown)))


@pytest.mark.parametrize(
    "cells, message",
    [
        ([("md", "```{solution-end}\n```")], "without a matching"),
        ([("md", "```{solution-start} ex-a\n```"), ("code", "x = 1")], "'ex-a' opened in cell 0 has no"),
        (
            [("md", "```{solution-start} ex-a\n```"), ("md", "```{solution-start} ex-b\n```")],
            "inside the solution 'ex-a'",
        ),
        ([("md", "```{solution-start} ex-a\n```"), ("md", "```{solution} ex-b\n```")], "inside the solution 'ex-a'"),
        ([("md", "`````{admonition} Note\n```{solution} ex-a\nnested\n```\n`````")], "nested inside another block"),
    ],
    ids=["end-without-start", "start-without-end", "start-inside-start", "single-inside-start", "nested"],
)
def test_unbalanced_solutions_are_a_clear_error(cells, message):
    with pytest.raises(student_edition.SolutionFormatError, match=re.escape(message)) as err:
        student_edition.remove_solutions(_nb(*cells), "book/99_broken.ipynb")
    assert "book/99_broken.ipynb" in str(err.value) and "cell" in str(err.value)


@pytest.mark.slow  # 1.9 s
def test_the_command_line_fails_loudly_and_writes_nothing(tmp_path):
    broken = tmp_path / "broken.ipynb"
    nbformat.write(_nb(("md", "```{solution-start} ex-a\n```"), ("code", "x = 1")), broken)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), str(NOTEBOOKS[0]), str(broken)],
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert "error:" in done.stderr and "has no ```{solution-end}" in done.stderr
    assert not out.exists() and not (tmp_path / "out.zip").exists()


@pytest.mark.slow  # 1.9 s
def test_the_command_line_refuses_to_overwrite_the_full_edition(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(ROOT / "book"), "--no-zip"],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "overwrite" in done.stderr


# --------------------------------------------------------------------------- #
# Checked exercises: the stub and its check stay, the worked function goes
# --------------------------------------------------------------------------- #
CHECK_CALL = re.compile(r"""\bcheck\(\s*["']([\w.]+)["']\s*,\s*(\w+)\s*\)""")


def _run_cell(source: str):
    """Run a code cell in a fresh namespace and return the value of its last line (what Jupyter shows)."""
    tree = ast.parse(source)
    namespace: dict = {}
    exec(compile(ast.Module(body=tree.body[:-1], type_ignores=[]), "<cell>", "exec"), namespace)  # noqa: S102
    return eval(compile(ast.Expression(body=tree.body[-1].value), "<cell>", "eval"), namespace)  # noqa: S307


def _checks(cells) -> list[str]:
    return [name for c in cells if c.cell_type == "code" for name, _ in CHECK_CALL.findall(c.source)]


@pytest.mark.slow  # 4.3 s
@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_checked_exercises_keep_the_stub_and_the_check_and_lose_the_worked_function(student_folder, source):
    original = nbformat.read(source, as_version=4)
    inside, _ = solution_cells(original)
    kept = [c for i, c in enumerate(original.cells) if i not in inside and CHECK_CALL.search(c.source)
            and c.cell_type == "code"]
    worked = [c for i, c in enumerate(original.cells) if i in inside and CHECK_CALL.search(c.source)]
    student = _student(student_folder, source)
    student_code = {c.get("id"): c.source for c in student.cells if c.cell_type == "code"}
    for cell in kept:
        assert student_code.get(cell.id) == cell.source, f"{source.name}: the check cell {cell.id} was changed or lost"
        result = _run_cell(cell.source)  # the stub and its check, as a student runs them first
        assert result.status == "not implemented", result.line
    for cell in worked:
        assert cell.id not in student_code, f"{source.name}: the worked solution {cell.id} was kept"
    assert _checks(student.cells) == _checks(kept)
    assert (student_edition.CHECKED_NOTE in student.cells[0].source) == bool(kept)


def test_six_chapters_of_the_student_edition_have_checked_exercises(student_folder):
    checked = [p.name for p in NOTEBOOKS if _checks(_student(student_folder, p).cells)]
    assert len(checked) >= 6, checked
    assert any(name.startswith(("07_", "09_")) for name in checked), checked


STUB = "from cubit_lite.checks import check\n\n\ndef f(x):\n    raise NotImplementedError  # your code\n\n\n"


@pytest.mark.parametrize(
    "cells, message",
    [
        ([("md", "```{exercise} A\n:label: ex-a\nWrite f.\n```"), ("code", 'check("ch1.nw", f)'),
          ("md", "```{solution-start} ex-a\n```"), ("code", "def f(x):\n    return x"),
          ("md", "```{solution-end}\n```")],
         "only a solution defines f"),
        ([("md", "```{exercise} A\n:label: ex-a\nWrite f.\n```"), ("code", "def f(x):\n    return x"),
          ("code", 'check("ch1.nw", f)'), ("md", "```{solution-start} ex-a\n```"), ("md", "```{solution-end}\n```")],
         "a worked answer that the student copy would show"),
        ([("code", "%%time\n" + STUB + 'check("ch1.nw", f)')], "must be plain Python"),
    ],
    ids=["no-stub", "worked-outside-the-solution", "magic"],
)
def test_a_check_without_a_stub_in_the_student_copy_is_refused(cells, message):
    with pytest.raises(student_edition.SolutionFormatError, match=re.escape(message)) as err:
        student_edition.remove_solutions(_nb(*cells), "book/99_checked.ipynb")
    assert "book/99_checked.ipynb: cell " in str(err.value)


def test_a_stub_with_a_docstring_and_its_check_are_kept():
    stub = STUB.replace("def f(x):\n", 'def f(x):\n    """What f returns."""\n') + 'check("ch1.nw", f)'
    nb = _nb(("md", "```{exercise} A\n:label: ex-a\nWrite f.\n```"), ("code", stub),
             ("md", "```{solution-start} ex-a\n```"), ("code", 'def f(x):\n    return x\n\n\ncheck("ch1.nw", f)'),
             ("md", "```{solution-end}\n```"))
    student, report = student_edition.remove_solutions(nb)
    assert [c.source for c in student.cells] == [nb.cells[0].source, stub]
    assert report.checks == ["ch1.nw"] and "(1 checked)" in report.line()


# --------------------------------------------------------------------------- #
# The command line end to end, and the zip
# --------------------------------------------------------------------------- #
def test_command_line_writes_the_folder_and_the_zip(student_folder):
    names = sorted(p.name for p in NOTEBOOKS)
    assert sorted(p.name for p in student_folder.glob("*.ipynb")) == names
    archive = student_folder.with_name("student.zip")  # the default: --out's path with .zip
    with zipfile.ZipFile(archive) as z:
        assert z.testzip() is None
        members = {Path(n).name: n for n in z.namelist()}
        assert sorted(n for n in members if n.endswith(".ipynb")) == names and "README.txt" in members
        for name in names:
            assert z.read(members[name]) == (student_folder / name).read_bytes()


@pytest.mark.slow  # 4.8 s
def test_command_line_options(tmp_path):
    one = NOTEBOOKS[0]
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "s"), "--zip",
                           str(tmp_path / "class.zip"), str(one)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (tmp_path / "s").iterdir()] == [one.name]
    assert zipfile.ZipFile(tmp_path / "class.zip").testzip() is None
    check = subprocess.run([sys.executable, str(SCRIPT), "--check"], cwd=tmp_path, capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout.count("ok ") == len(NOTEBOOKS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["class.zip", "s"]  # --check wrote nothing


def test_the_zip_is_the_same_every_time(tmp_path):
    made = {p.name: student_edition.student_notebook(p)[0] for p in NOTEBOOKS}
    first = student_edition.write_zip(tmp_path / "a.zip", made).read_bytes()
    assert student_edition.write_zip(tmp_path / "b.zip", made).read_bytes() == first


@pytest.mark.slow  # 10.0 s
def test_student_edition_of_chapter_1_executes(tmp_path, monkeypatch):
    """Removing the solutions breaks nothing later in the chapter: it runs top to bottom (~15 s)."""
    from nbclient import NotebookClient

    chapter = ROOT / "book" / "01_nadaraya_watson.ipynb"
    student_edition.build([chapter], tmp_path, None, log=lambda _: None)
    nb = nbformat.read(tmp_path / chapter.name, as_version=4)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # this checkout's cubit_lite in the kernel
    monkeypatch.setenv("CUBIT_LITE_SLIDERS", "live")  # as in Colab
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code)
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors


def test_the_zip_and_the_folder_hold_the_drawn_figures_the_notebooks_show(tmp_path):
    """A chapter that shows figures/NAME.svg works from the unpacked zip: the figure is beside it."""
    chapter = ROOT / "book" / "02_kernel_ridge.ipynb"
    shown = set(student_edition.LOCAL_IMAGE.findall(chapter.read_text(encoding="utf-8").replace('\\"', '"')))
    assert shown, "chapter 2 shows a drawn figure"
    zip_path, out = tmp_path / "s.zip", tmp_path / "student"
    student_edition.build([chapter], out, zip_path, log=lambda *_: None)
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        for relative in shown:
            entry = next(name for name in names if name.endswith("/" + relative))
            assert archive.read(entry) == (ROOT / "book" / relative).read_bytes()
            assert (out / relative).read_bytes() == (ROOT / "book" / relative).read_bytes()


def test_a_figure_the_notebook_shows_but_the_book_lacks_is_refused(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("```{figure} figures/missing.svg\n```")])
    with pytest.raises(FileNotFoundError, match="shows figures/missing.svg, which is not in"):
        student_edition.local_images({"x.ipynb": nb}, tmp_path)
