"""Check the chapters' self-check quizzes and put each at the end of its chapter, just before the exercises.

    python scripts/add_self_checks.py            # check every quiz, insert or refresh its cells
    python scripts/add_self_checks.py --check    # write nothing; exit 1 if a chapter is out of date
    python scripts/add_self_checks.py --book DIR # work on the notebooks in DIR instead of book/

The questions are package data, one file per chapter named after the chapter's notebook:
``cubit_lite/quizzes/01_nadaraya_watson.json`` belongs to ``book/01_nadaraya_watson.ipynb``
(the format: :mod:`cubit_lite.self_check`). Package data is what the chapter's cell can
load wherever it runs: on the site's build, in Jupyter, and in Google Colab, which
installs cubit_lite from the repository.

The script first checks every quiz: what :func:`cubit_lite.self_check.quiz_questions`
checks (the file's format, each question valid) and the book's rules (:func:`rule_breaks`:
3 to 5 questions, an explanation for every option, mathematics in Unicode, the correct
option never in the same place in two questions running). Then, for each chapter, it
puts two cells just before the markdown cell that holds the ``## Exercises`` heading:

* a markdown cell (id ``self-check-md``): the heading ``## Self-check`` and one line;
* a code cell (id ``self-check``, tag ``remove-input``, so the site shows only the quiz)
  that holds one call, ``self_check("<chapter>")``: a reader of the notebook (in Colab,
  say) sees no answer before running it.

It is idempotent: cells with those ids are replaced where they are and moved next to the
exercises when they are elsewhere; a second run changes nothing. Outputs stay empty and
no other cell is touched. Exit status: 0 when done (or, with ``--check``, when every
chapter is up to date), 1 when ``--check`` finds a chapter out of date, 2 when a quiz
breaks a rule, or a chapter is missing or has no ``## Exercises`` heading.
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's cubit_lite and its quizzes, whatever else is installed
from cubit_lite.self_check import Question, quiz_names, quiz_questions  # noqa: E402

MARKDOWN_ID = "self-check-md"
CODE_ID = "self-check"
INTRO = (
    "## Self-check\n\n"
    "A few questions on the chapter's main ideas: choose an answer to see whether it is right "
    "and why, or open *Show answer*."
)
MIN_QUESTIONS, MAX_QUESTIONS = 3, 5


def rule_breaks(questions: list[Question]) -> list[str]:
    """What in a chapter's ``questions`` breaks the book's rules (nothing: an empty list)."""
    breaks = []
    if not MIN_QUESTIONS <= len(questions) <= MAX_QUESTIONS:
        breaks.append(f"a chapter has {MIN_QUESTIONS} to {MAX_QUESTIONS} questions, got {len(questions)}")
    for n, question in enumerate(questions, start=1):
        if len(question.explanations) != len(question.options):
            breaks.append(f"question {n}: give one explanation per option ({len(question.options)}), "
                          f"got {len(question.explanations)}")
        if "$" in question.prompt + "".join(question.options) + "".join(question.explanations):
            breaks.append(f"question {n}: write mathematics in Unicode (λ, h², P + λI), not $…$: "
                          "it reads the same on the site, in Colab and in Jupyter")
    places = [question.answer for question in questions]
    for n, (a, b) in enumerate(itertools.pairwise(places), start=2):
        if a == b:
            breaks.append(f"questions {n - 1} and {n} both have the correct option in place {a} "
                          f"(from 0); vary the places (answers: {places})")
    return breaks


def cell_source(name: str) -> str:
    """The code cell's source: one call that loads and shows the quiz ``name``."""
    return f'from cubit_lite.self_check import self_check\n\nself_check("{name}")'


def _cells(name: str) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    markdown = nbformat.v4.new_markdown_cell(INTRO)
    markdown.id = MARKDOWN_ID
    code = nbformat.v4.new_code_cell(cell_source(name))
    code.id = CODE_ID
    code.metadata["tags"] = ["remove-input"]
    return markdown, code


class NotReady(RuntimeError):
    """A chapter is missing or has no ``## Exercises`` heading."""


def updated(nb: nbformat.NotebookNode, name: str, where: str = "<notebook>") -> nbformat.NotebookNode:
    """A copy of ``nb`` with the two self-check cells of quiz ``name`` just before its exercises (others untouched)."""
    nb = nbformat.from_dict(nb)
    old = {c.get("id"): c for c in nb.cells if c.get("id") in (MARKDOWN_ID, CODE_ID)}
    cells = [c for c in nb.cells if c.get("id") not in (MARKDOWN_ID, CODE_ID)]
    found = [i for i, c in enumerate(cells)
             if c.cell_type == "markdown" and re.search(r"^## Exercises\s*$", c.source, re.M)]
    if len(found) != 1:
        raise NotReady(f"{where}: expected one markdown cell with a '## Exercises' heading, found {len(found)}")
    markdown, code = _cells(name)
    if CODE_ID in old:  # keep what the notebook already had beyond what we set (outputs stay empty)
        kept = old[CODE_ID]
        kept.source, kept.outputs, kept.execution_count = code.source, [], None
        kept.metadata["tags"] = sorted(set(kept.metadata.get("tags", [])) | {"remove-input"})
        code = kept
    if MARKDOWN_ID in old:
        old[MARKDOWN_ID].source = markdown.source
        markdown = old[MARKDOWN_ID]
    cells[found[0]:found[0]] = [markdown, code]
    nb.cells = cells
    return nb


def quiz_problems(names: list[str]) -> list[str]:
    """Every way in which the quizzes ``names`` break the library's checks or the book's rules."""
    problems = []
    for name in names:
        try:
            questions = quiz_questions(name)
        except (TypeError, ValueError) as error:
            problems.append(str(error))
            continue
        problems += [f"cubit_lite/quizzes/{name}.json: {why}" for why in rule_breaks(questions)]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a chapter is out of date")
    parser.add_argument("--book", type=Path, default=ROOT / "book", help="folder of the chapter notebooks")
    parser.add_argument("chapters", nargs="*", help="only these chapter files (default: every chapter with a quiz)")
    args = parser.parse_args(argv)
    known = quiz_names()
    names = [Path(c).name.removesuffix(".ipynb") for c in args.chapters] or known
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"no quiz for {unknown} in cubit_lite/quizzes/; chapters with a quiz: {known}")
    problems = quiz_problems(names)
    stale = []
    for name in names if not problems else []:
        path = args.book / f"{name}.ipynb"
        if not path.exists():
            problems.append(f"{path}: missing (cubit_lite/quizzes/{name}.json is its quiz)")
            continue
        text = path.read_text(encoding="utf-8")
        nb = nbformat.reads(text, as_version=4)
        try:
            new = updated(nb, name, str(path))
        except NotReady as error:
            problems.append(str(error))
            continue
        new_text = nbformat.writes(new) + "\n"
        if new_text == text:
            print(f"up to date: {path}")
            continue
        stale.append(path)
        if args.check:
            print(f"out of date: {path}")
        else:
            nbformat.validate(new)
            path.write_text(new_text, encoding="utf-8")
            print(f"updated: {path}")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 2
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
