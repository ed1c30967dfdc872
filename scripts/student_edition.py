"""Write the student edition of the book's notebooks: every exercise kept, every solution removed.

    python scripts/student_edition.py                    # every notebook in _toc.yml ->
                                                         #   _build/student/ and _build/student.zip
    python scripts/student_edition.py --out handout book/01_nadaraya_watson.ipynb
    python scripts/student_edition.py --check            # only check that every solution is well formed

Solutions are sphinx-exercise directives in markdown cells, in two forms:

* gated: a cell that opens with ```` ```{solution-start} LABEL ```` (its closing fence may be
  followed by solution text), then any cells (code included), then a cell whose
  ```` ```{solution-end} ```` directive closes the range (solution text may come before it);
* single: one ```` ```{solution} LABEL ```` ... ```` ``` ```` block inside a markdown cell.

Everything from a solution-start to its solution-end is removed, both ends included, and
so is every single solution block. Text in a boundary cell *outside* the solution (before
a solution-start, after a solution-end) is kept. A solution-end without a start, a start
without an end, a start inside a range, or a solution directive nested inside another
block is an error that names the notebook and the cell: nothing is written then.

**Checked exercises.** A coding exercise gives a stub to complete in a code cell that
ends with ``check("<name>", fn)`` (:mod:`cubit_lite.checks`), and its worked solution, a
cell that redefines ``fn``, inside the solution. The student edition therefore keeps the
stub and the check and drops the worked function, so the check answers "not implemented
yet" until the student writes the body. The script makes sure of it: every ``check`` call
left in a student notebook must find, in that cell or an earlier one, a definition of its
function whose body only raises ``NotImplementedError``; a check whose function only a
solution defines, or a worked function outside its solution, is an error.

Each student notebook also has its outputs cleared and a first markdown cell saying what
it is and where the full edition is (and, when it has checked exercises, how a check
answers), and the chapters' sentence "Solutions are folded under each exercise; try
first." (true of the full edition) is replaced by one that is true of this one. The zip
holds the notebooks and a short README.

This file is also a Sphinx extension (``_config.yml``: ``sphinx.local_extensions``): every
HTML build of the book writes ``student-edition.zip`` into the root of the built site, so the
teaching page's link to it works wherever ``_build/html`` is published.
"""

from __future__ import annotations

import argparse
import ast
import copy
import io
import re
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))
from colab_launch import CLONE_ONLY  # noqa: E402  (notebook pages that are no chapter to work through)

ZIP_NAME = "student-edition.zip"  # its name in the built site (the teaching page links it)
ZIP_FOLDER = "attention-as-regression-student"  # the folder inside the zip
INTRO_CELL_ID = "student-edition-note"
METADATA_KEY = "student_edition"  # notebook metadata: marks a file this script wrote

# A fence line (CommonMark: up to 3 spaces of indent; MyST's colon fences too) and a
# directive's info string, ``{name} argument``.
FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,}|:{3,})(?P<info>[^\n]*?)\s*$")
DIRECTIVE = re.compile(r"^\{(?P<name>[A-Za-z0-9_:+-]+)\}\s*(?P<argument>.*)$")
SOLUTION_DIRECTIVES = ("solution", "solution-start", "solution-end")
ANY_SOLUTION = re.compile(r"\{solution(?:-start|-end)?\}")
# An exercise's first line and its options (``:label:`` among them), as sphinx-exercise writes them.
EXERCISE = re.compile(
    r"^ {0,3}(`{3,}|~{3,}|:{3,})\{exercise(?:-start)?\}[^\n]*\n"  # the opening fence and its line
    r"(?:[ \t]*:[^\n]*\n)*?"  # options before the label
    r"[ \t]*:label:[ \t]*(\S+)",
    re.M,
)


# The full edition's exercise introductions say where the solutions are ("Solutions are folded
# under each exercise; try first."), which is false once they are removed. Line breaks inside
# the sentence vary from chapter to chapter, so any run of whitespace matches.
FOLDED_CLAIM = re.compile(r"Solutions\s+are\s+folded\s+under\s+each\s+exercise;\s+try\s+first\.")
# A call of the exercises' checker: check("ch1.nw", nw_estimator).
CHECK_CALL = re.compile(r"""\bcheck\(\s*["']([\w.]+)["']\s*,\s*(\w+)\s*\)""")
STUDENT_CLAIM = ("This student edition leaves the solutions out: try each exercise yourself, then "
                 "compare with the full edition named at the top of this notebook, or ask your teacher.")


class SolutionFormatError(ValueError):
    """A notebook whose solutions cannot be removed safely (unbalanced or unexpected form)."""


@dataclass
class Block:
    """A top-level fenced block of a markdown cell: lines ``start`` to ``end - 1``."""

    start: int
    end: int
    directive: str | None  # "solution-start", "exercise", ... or None for a plain code fence
    argument: str


@dataclass
class Report:
    """What removing the solutions of one notebook did."""

    source: Path
    cells_in: int = 0
    cells_out: int = 0
    solutions: list[str] = field(default_factory=list)  # the label of each removed solution
    exercises: list[str] = field(default_factory=list)  # the labels of the exercises kept
    checks: list[str] = field(default_factory=list)  # the checks the student copy runs, each on a stub

    def line(self) -> str:
        checked = f" ({len(self.checks)} checked)" if self.checks else ""
        return (f"{len(self.exercises)} exercises kept{checked}, {len(self.solutions)} solutions removed, "
                f"{self.cells_in} -> {self.cells_out} cells")


def _blocks(lines: list[str]) -> list[Block]:
    """The top-level fenced blocks of a markdown cell, in order.

    A block closes at the first line made only of its fence character, at least as many
    times as it opened with (CommonMark's rule); an unclosed block runs to the cell's end.
    """
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence = opening["fence"]
        directive = DIRECTIVE.match(opening["info"].strip())
        end = len(lines)
        for j in range(i + 1, len(lines)):
            closing = FENCE.match(lines[j])
            if (closing and not closing["info"] and closing["fence"][0] == fence[0]
                    and len(closing["fence"]) >= len(fence)):
                end = j + 1
                break
        blocks.append(Block(i, end, directive["name"] if directive else None,
                            directive["argument"].strip() if directive else ""))
        i = end
    return blocks


def _shown(path: Path | str) -> str:
    """``path`` relative to the working directory when it is below it (shorter messages)."""
    try:
        return Path(path).resolve().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


def _where(path: Path | str, index: int, cell) -> str:
    first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
    return f"{_shown(path)}: cell {index} (counting from 0, starting {first[:60]!r})"


def remove_solutions(
    nb: nbformat.NotebookNode, path: Path | str = "<notebook>"
) -> tuple[nbformat.NotebookNode, Report]:
    """A copy of ``nb`` without solutions (see the module docstring); ``nb`` is not changed.

    Cells outside every solution are kept exactly as they are (outputs aside: see
    :func:`student_notebook`). Raises :class:`SolutionFormatError` on unbalanced solutions.
    """
    report = Report(Path(path), cells_in=len(nb.cells))
    kept = []
    inside: tuple[str, int] | None = None  # (label, cell index) of the open solution-start
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            if inside is None:
                kept.append(copy.deepcopy(cell))
            continue
        lines = cell.source.splitlines(keepends=True)
        blocks = [b for b in _blocks(lines) if b.directive in SOLUTION_DIRECTIVES]
        if not blocks:
            if inside is None:
                kept.append(copy.deepcopy(cell))
            continue
        text, position = [], 0
        for block in blocks:
            if block.directive == "solution-start":
                if inside is not None:
                    raise SolutionFormatError(
                        f"{_where(path, index, cell)}: solution-start {block.argument!r} inside the solution "
                        f"{inside[0]!r} opened in cell {inside[1]}; close that one with ```{{solution-end}} first")
                text += lines[position:block.start]
                inside = (block.argument, index)
                report.solutions.append(block.argument)
            elif block.directive == "solution-end":
                if inside is None:
                    raise SolutionFormatError(
                        f"{_where(path, index, cell)}: ```{{solution-end}} without a matching "
                        "```{solution-start} before it")
                inside = None
            else:  # a single ```{solution} LABEL``` block
                if inside is not None:
                    raise SolutionFormatError(
                        f"{_where(path, index, cell)}: a {{solution}} block inside the solution {inside[0]!r} "
                        f"opened in cell {inside[1]}")
                text += lines[position:block.start]
                report.solutions.append(block.argument)
            position = block.end
        if inside is None:
            text += lines[position:]
        remaining = "".join(text).strip()
        if remaining:  # text outside the solution in a boundary cell
            trimmed = copy.deepcopy(cell)
            trimmed.source = remaining
            kept.append(trimmed)
    if inside is not None:
        raise SolutionFormatError(
            f"{_shown(path)}: the solution {inside[0]!r} opened in cell {inside[1]} has no ```{{solution-end}}")
    for index, cell in enumerate(kept):
        if cell.cell_type == "markdown" and ANY_SOLUTION.search(cell.source):
            raise SolutionFormatError(
                f"{_where(path, index, cell)} of the student copy still mentions a solution directive: a solution "
                "nested inside another block? Put solutions at the top level of a markdown cell")
    student = copy.deepcopy(nb)
    student.cells = kept
    report.cells_out = len(kept)
    report.exercises = exercise_labels(student)
    if report.exercises != exercise_labels(nb):
        raise SolutionFormatError(
            f"{_shown(path)}: an exercise was lost with the solutions; is an exercise inside a solution?")
    report.checks = checked_stubs(student, path)
    return student, report


def _is_stub(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether a function's body (its docstring aside) is one ``raise NotImplementedError``."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    statement = body[0] if len(body) == 1 else None
    if not isinstance(statement, ast.Raise):
        return False
    raised = statement.exc.func if isinstance(statement.exc, ast.Call) else statement.exc
    return isinstance(raised, ast.Name) and raised.id == "NotImplementedError"


def checked_stubs(student: nbformat.NotebookNode, path: Path | str = "<notebook>") -> list[str]:
    """The checks that the student copy ``student`` calls, in order, each on a stub it defines.

    Raises :class:`SolutionFormatError` for a ``check`` call whose function the copy does not
    define (only a solution did), or defines with a worked body (the answer would be shown).
    """
    defined: dict[str, tuple[bool, int]] = {}  # function name -> (its body is a stub, cell index)
    checks = []
    for index, cell in enumerate(student.cells):
        if cell.cell_type != "code":
            continue
        calls = CHECK_CALL.findall(cell.source)
        try:
            tree = ast.parse(cell.source)
        except SyntaxError as err:  # IPython syntax (a magic): fine unless the cell runs a check
            if calls:
                raise SolutionFormatError(f"{_where(path, index, cell)}: a cell that runs check() must be plain "
                                          f"Python: {err}") from err
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                defined[node.name] = (_is_stub(node), index)
        for name, function in calls:
            if function not in defined:
                raise SolutionFormatError(
                    f"{_where(path, index, cell)}: check({name!r}, {function}) in the student copy, but only a "
                    f"solution defines {function}; give the exercise a stub outside the solution, "
                    f"def {function}(...): raise NotImplementedError")
            stub, where = defined[function]
            if not stub:
                raise SolutionFormatError(
                    f"{_where(path, index, cell)}: check({name!r}, {function}) runs on the {function} of cell "
                    f"{where}, a worked answer that the student copy would show; move it into the exercise's "
                    "solution and leave a stub whose body raises NotImplementedError")
            checks.append(name)
    return checks


def exercise_labels(nb: nbformat.NotebookNode) -> list[str]:
    """The ``:label:`` of every ``{exercise}`` / ``{exercise-start}`` directive, in order."""
    return [m.group(2) for cell in nb.cells if cell.cell_type == "markdown"
            for m in EXERCISE.finditer(cell.source + "\n")]


def repository(root: Path = ROOT) -> tuple[str, str]:
    """The repository URL and branch set once in ``_config.yml``."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    repo = config.get("repository", {})
    return repo.get("url", "").rstrip("/"), repo.get("branch", "main")


CHECKED_NOTE = (" Exercises marked *checked* give a function to complete in a cell that ends with "
                "`check(...)`: write the body, run the cell, and the check answers in one line whether "
                "your function agrees with the book's library, or which case it gets wrong.")


def intro_cell(source: Path, root: Path = ROOT, checked: bool = False) -> nbformat.NotebookNode:
    """The first cell of a student notebook: what it is, where the full edition is, and how checks answer."""
    url, branch = repository(root)
    try:
        relative = source.resolve().relative_to(root).as_posix()
    except ValueError:
        relative = source.name
    full = f"[`{relative}`]({url}/blob/{branch}/{relative})" if url else f"`{relative}`"
    cell = nbformat.v4.new_markdown_cell(
        "**Student edition.** This notebook keeps every exercise of the chapter, but its worked "
        "solutions have been removed: write your answers in new cells below each exercise. The full "
        f"edition, with solutions, is {full} in the book's repository and the same chapter on the "
        "book's website, where each solution is folded under its exercise." + (CHECKED_NOTE if checked else "")
    )
    cell.id = INTRO_CELL_ID
    return cell


def student_notebook(source: Path, root: Path = ROOT) -> tuple[nbformat.NotebookNode, Report]:
    """The student edition of the notebook at ``source``: solutions removed, outputs cleared, a note first."""
    nb = nbformat.read(source, as_version=4)
    student, report = remove_solutions(nb, source)
    for cell in student.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            cell.source = FOLDED_CLAIM.sub(STUDENT_CLAIM, cell.source)
    student.metadata.pop("widgets", None)  # saved widget state belongs to executed copies
    student.metadata[METADATA_KEY] = {"source": report.source.name}
    student.cells.insert(0, intro_cell(source, root, checked=bool(report.checks)))
    report.cells_out = len(student.cells)
    nbformat.validate(student)
    return student, report


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """Every notebook listed in ``_toc.yml`` (root, parts, chapters and sections), in toc order, but the pages
    of ``CLONE_ONLY`` (``_ext/colab_launch.py``), which have no exercises and run only in a clone."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files: list[str] = []

    def walk(entry) -> None:
        if isinstance(entry, dict):
            if "file" in entry:
                files.append(entry["file"])
            for key in ("parts", "chapters", "sections"):
                for child in entry.get(key, []) or []:
                    walk(child)

    files.append(toc["root"])
    walk(toc)
    paths = []
    for name in files:
        if name.removesuffix(".ipynb") in CLONE_ONLY:
            continue
        path = root / name
        path = path if path.suffix == ".ipynb" else path.with_name(path.name + ".ipynb")
        if path.is_file() and path not in paths:
            paths.append(path)
    return paths


README = """Attention as Regression: student edition
=========================================

These notebooks are the chapters of the book with every exercise kept and every
worked solution removed. Open them in Jupyter, or in Google Colab with
File -> Upload notebook. The first code cell installs the book's library,
cubit_lite, when it is missing, so "Run all" works on a fresh Colab machine.
Every notebook runs on a CPU; for chapter 7 a GPU is faster (in Colab:
Runtime -> Change runtime type -> GPU).

The full edition, with solutions: {url}
Made with: python scripts/student_edition.py
"""


LOCAL_IMAGE = re.compile(r"(?:```\{figure\}\s+|!\[[^\]]*\]\(|src=\")(figures/[\w./-]+)")
"""A drawn figure a notebook's Markdown shows from the book's folder (``figures/NAME.svg``)."""


def local_images(notebooks: dict[str, nbformat.NotebookNode], folder: Path) -> dict[str, bytes]:
    """The files under ``folder`` that the notebooks' Markdown shows, by relative path, sorted.

    Raises :class:`FileNotFoundError` for an image a notebook names that is not there.
    """
    found: dict[str, bytes] = {}
    for name, nb in notebooks.items():
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            for relative in LOCAL_IMAGE.findall(cell.source):
                path = folder / relative
                if not path.is_file():
                    raise FileNotFoundError(f"{name} shows {relative}, which is not in {folder}")
                found[relative] = path.read_bytes()
    return dict(sorted(found.items()))


def write_zip(zip_path: Path, notebooks: dict[str, nbformat.NotebookNode], root: Path = ROOT,
              images: dict[str, bytes] | None = None) -> Path:
    """A zip of the student notebooks, the figures they show and a README: the same bytes for the same notebooks."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    entries: dict[str, str | bytes] = {"README.txt": README.format(url=repository(root)[0] or "see the book's website")}
    entries.update({name: nbformat.writes(nb) + "\n" for name, nb in sorted(notebooks.items())})
    entries.update(images or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in entries.items():
            info = zipfile.ZipInfo(f"{ZIP_FOLDER}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, text.encode("utf-8") if isinstance(text, str) else text)
    partial = zip_path.with_name(zip_path.name + ".part")
    partial.write_bytes(buffer.getvalue())
    partial.replace(zip_path)
    return zip_path


def build(sources: list[Path], out: Path | None, zip_path: Path | None, root: Path = ROOT,
          log=print) -> list[Report]:
    """Make every student notebook first (so an error writes nothing), then write them and the zip."""
    sources = [Path(s) for s in sources]
    names = [s.name for s in sources]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SolutionFormatError(
            f"two notebooks would have the same name in the student edition: {', '.join(duplicates)}")
    if out is not None:
        clash = [s for s in sources if s.resolve().parent == out.resolve()]
        if clash:
            raise SolutionFormatError(f"--out {out} is the folder of {clash[0]}: the student edition would overwrite "
                                      "the full one; choose another folder")
    made, reports = {}, []
    for source in sources:
        if not source.is_file():
            raise FileNotFoundError(f"no notebook at {source}")
        made[source.name], report = student_notebook(source, root)
        reports.append(report)
    images = local_images(made, sources[0].parent) if sources else {}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("*.ipynb"):  # stale copies from an earlier run (a chapter renamed)
            if old.name not in made and METADATA_KEY in nbformat.read(old, as_version=4).metadata:
                old.unlink()
        for (name, nb), report in zip(made.items(), reports, strict=True):
            nbformat.write(nb, out / name)
            log(f"wrote {_shown(out / name)}: {report.line()}")
        for relative, data in images.items():
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            (out / relative).write_bytes(data)
    if zip_path is not None:
        write_zip(zip_path, made, root, images)
        log(f"wrote {_shown(zip_path)}: {len(made)} notebook{'s' if len(made) != 1 else ''}, "
            f"{len(images)} figure{'s' if len(images) != 1 else ''} and a README")
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python scripts/student_edition.py",
        description="Write the student edition of the book's notebooks (exercises kept, solutions removed, "
                    "outputs cleared) and a zip of it.")
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to convert (default: every notebook listed in _toc.yml)")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "student",
                        help="folder for the student notebooks (default: _build/student)")
    parser.add_argument("--zip", type=Path, default=None, dest="zip_path",
                        help="where to write the zip (default: the --out folder's path with .zip added)")
    parser.add_argument("--no-zip", action="store_true", help="write the folder only")
    parser.add_argument("--check", action="store_true",
                        help="only check that the solutions can be removed; write nothing (exit 1 if not)")
    args = parser.parse_args(argv)
    sources = args.notebooks or toc_notebooks()
    if not sources:
        parser.error("no notebooks given, and _toc.yml lists none")
    try:
        if args.check:
            for report in build(sources, None, None, log=print):
                print(f"ok {_shown(report.source)}: {report.line()}")
            return 0
        zip_path = None if args.no_zip else (args.zip_path or args.out.with_name(args.out.name + ".zip"))
        build(sources, args.out, zip_path)
    except (SolutionFormatError, FileNotFoundError, nbformat.ValidationError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------- #
# Sphinx extension: the zip in every HTML build of the book
# --------------------------------------------------------------------------- #
def _write_zip_into_site(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    from sphinx.util import logging

    root = Path(app.srcdir)
    made = {source.name: student_notebook(source, root)[0] for source in toc_notebooks(root)}
    target = write_zip(Path(app.outdir) / ZIP_NAME, made, root)
    logging.getLogger(__name__).info(f"student edition: {len(made)} notebooks in {target}")


def setup(app):
    app.connect("build-finished", _write_zip_into_site)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    sys.exit(main())
