"""Self-check quizzes (cubit_lite.self_check) and the script that puts them in the chapters.

Unit tests: input validation, deterministic ids, self-contained HTML (no URL, one
``<details>`` per question holding the correct answer), the text fallback; the quizzes
shipped as package data (``cubit_lite/quizzes/``: one per chapter, each valid and within
the book's rules, loaded by name with a clear error for an unknown name or a malformed
file) and ``scripts/add_self_checks.py`` (its rules, the one-line cell that shows no
answer, idempotence and ``--check``). Browser test (headless chromium, every non-local
request aborted): a static page with two quizzes answers right and wrong, the quizzes do
not interfere, the keyboard works, and with JavaScript off the ``<details>`` answers
still open.
"""

from __future__ import annotations

import html as html_lib
import importlib.util
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

import cubit_lite.self_check as self_check_module
from cubit_lite.self_check import Question, SelfCheck, quiz_names, quiz_questions, self_check

ROOT = Path(__file__).resolve().parents[1]


def _load_script():
    spec = importlib.util.spec_from_file_location("add_self_checks", ROOT / "scripts" / "add_self_checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = _load_script()


def q(prompt="Which?", options=("yes", "no"), answer=0, explanations=("Because yes.", "Because not no.")):
    return Question(prompt, options, answer=answer, explanations=explanations)


QUIZ_A = [
    Question("First question of A, with $h$?", ["wrong A1", "right A1", "also wrong A1"], answer=1,
             explanations=["Explains wrong A1.", "Explains right A1.", "Explains also wrong A1."]),
    Question("Second question of A?", ["right A2", "wrong A2"], answer=0, explanations="Explains A2."),
]
QUIZ_B = [
    Question("Only question of B?", ["wrong B1", "other wrong B1", "right B1"], answer=2,
             explanations=["Explains wrong B1.", "Explains other wrong B1.", "Explains right B1."]),
]


# --------------------------------------------------------------------------- #
# Validation
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(options=["only one"], explanations=["x"]), ValueError, "2 to 6 options, got 1"),
        (dict(options=list("abcdefg"), explanations=list("abcdefg")), ValueError, "2 to 6 options, got 7"),
        (dict(answer=2), ValueError, "option index from 0 to 1, got 2"),
        (dict(answer=-1), ValueError, "option index from 0 to 1, got -1"),
        (dict(answer=True), TypeError, "index (an int from 0)"),
        (dict(answer="0"), TypeError, "index (an int from 0)"),
        (dict(explanations=["one"]), ValueError, "one explanation per option (2)"),
        (dict(explanations=["one", ""]), ValueError, "must not be empty"),
        (dict(prompt="  "), ValueError, "Question.prompt must not be empty"),
        (dict(prompt=3), TypeError, "Question.prompt must be a string"),
        (dict(options=["same", "same"]), ValueError, "must be distinct"),
        (dict(options="ab"), TypeError, "must be a list of 2 to 6 strings"),
        (dict(explanations=3), TypeError, "explanations must be a list of strings"),
    ],
)
def test_question_rejects_bad_input_and_says_what_is_allowed(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        q(**kwargs)


def test_self_check_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one Question"):
        self_check([])
    with pytest.raises(TypeError, match="must be a list of Question"):
        self_check(q())
    with pytest.raises(TypeError, match="question 2 must be a Question"):
        self_check([q(), "not a question"])
    with pytest.raises(ValueError, match=re.escape("unknown fields ['hint']")):
        self_check([dict(prompt="p", options=["a", "b"], answer=0, explanations="e", hint="h")])
    with pytest.raises(ValueError, match="title must not be empty"):
        self_check([q()], title="")


def test_dicts_become_questions_and_one_explanation_serves_every_option():
    quiz = self_check([dict(prompt="p", options=["a", "b"], answer=1, explanations="Because b.")])
    (question,) = quiz.questions
    assert isinstance(question, Question) and question.options == ("a", "b")
    assert question.explanation(0) == question.explanation(1) == "Because b."


# --------------------------------------------------------------------------- #
# The HTML
# --------------------------------------------------------------------------- #
class _Outline(HTMLParser):
    """Ids, external URLs, and the text of every <details> and <fieldset> of a quiz."""

    def __init__(self):
        super().__init__()
        self.ids, self.details, self.fieldsets, self.tags = [], [], [], []
        self._details_depth = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "fieldset":
            self.fieldsets.append("")
        if tag == "details":
            self.details.append("")
            self._details_depth += 1

    def handle_endtag(self, tag):
        if tag == "details":
            self._details_depth -= 1

    def handle_data(self, data):
        if self._details_depth:
            self.details[-1] += data


def _outline(markup: str) -> _Outline:
    parser = _Outline()
    parser.feed(markup)
    return parser


def test_ids_are_deterministic_and_differ_between_quizzes():
    a1, a2 = self_check(QUIZ_A)._repr_html_(), self_check(list(QUIZ_A))._repr_html_()
    b = self_check(QUIZ_B)._repr_html_()
    assert a1 == a2, "the same quiz must give byte-identical HTML (rebuilds of the book)"
    ids_a, ids_b = _outline(a1).ids, _outline(b).ids
    assert len(ids_a) == len(set(ids_a)) and len(ids_b) == len(set(ids_b))
    assert not set(ids_a) & set(ids_b), "two quizzes on one page share element ids"
    assert self_check(QUIZ_A, title="Other title").id != self_check(QUIZ_A).id
    assert re.fullmatch(r"sc-[0-9a-f]{12}", self_check(QUIZ_A).id)


def test_html_is_self_contained():
    markup = self_check(QUIZ_A)._repr_html_()
    assert not re.search(r"https?://", markup)
    assert not re.search(r"<(link|iframe|img)\b|\bsrc=|@import|url\(", markup)
    assert markup.count("<style>") == 1 and markup.count("<script>") == 1


def test_one_details_per_question_holds_the_correct_answer_and_its_explanation():
    for questions in (QUIZ_A, QUIZ_B, *[quiz_questions(name) for name in quiz_names()]):
        outline = _outline(self_check(questions)._repr_html_())
        assert len(outline.details) == len(outline.fieldsets) == len(questions)
        for details, question in zip(outline.details, questions, strict=True):
            letter = "abcdef"[question.answer]
            assert details.startswith("Show answer")
            assert f"Answer: ({letter}) {question.options[question.answer]}" in details
            assert question.explanation(question.answer) in details
            for i in range(len(question.options)):
                assert question.explanation(i) in details  # every option's explanation, no JS needed


def test_text_is_escaped_and_tex_is_marked():
    quiz = self_check([Question("Is <b> & $x^2$ safe?", ["<i>a</i>", "b"], answer=0, explanations="e")])
    markup = quiz._repr_html_()
    assert "<b>" not in markup and "&lt;b&gt; &amp; " in markup and "&lt;i&gt;a&lt;/i&gt;" in markup
    assert '<span class="sc-tex">$x^2$</span>' in markup


def test_accessible_structure():
    markup = self_check(QUIZ_A)._repr_html_()
    inputs = re.findall(r'<input type="radio"[^>]*\bid="([^"]+)"', markup)
    labels = re.findall(r'<label for="([^"]+)"', markup)
    assert inputs and inputs == labels, "every radio button has its own label"
    assert markup.count("<legend>") == markup.count("<fieldset") == len(QUIZ_A)
    assert markup.count('aria-live="polite"') == len(QUIZ_A)
    assert len(set(re.findall(r'name="([^"]+)"', markup))) == len(QUIZ_A), "one radio group per question"


def test_text_fallback_lists_questions_then_answers():
    text = repr(self_check(QUIZ_A))
    assert text.startswith("Self-check (2 questions; answers at the end)")
    assert text.index(QUIZ_A[1].prompt) < text.index("Answers:") < text.index("(b) Explains right A1.")
    assert isinstance(self_check(QUIZ_A), SelfCheck)


# --------------------------------------------------------------------------- #
# The chapters' quizzes (package data) and scripts/add_self_checks.py
# --------------------------------------------------------------------------- #
def test_every_chapter_has_a_quiz_named_after_it():
    chapters = sorted(p.stem for p in (ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
    assert chapters and quiz_names() == chapters
    assert sorted(p.stem for p in (ROOT / "cubit_lite" / "quizzes").glob("*.json")) == chapters


@pytest.mark.parametrize("name", quiz_names())
def test_each_quiz_follows_the_books_rules_and_shows_every_question(name):
    questions = quiz_questions(name)
    assert SCRIPT.rule_breaks(questions) == []
    markup = self_check(name)._repr_html_()
    assert markup == self_check(questions)._repr_html_()
    for question in questions:
        for text in (question.prompt, *question.options, *question.explanations):
            assert html_lib.escape(text, quote=False) in markup, f"{name}: {text!r} is not in the quiz"


def test_correct_options_are_spread_over_the_places():
    places = [question.answer for name in quiz_names() for question in quiz_questions(name)]
    counts = [places.count(p) for p in range(4)]
    assert min(counts) >= len(places) // 6, f"answers by place (a), (b), (c), (d): {counts}"


def test_an_unknown_quiz_name_says_which_exist():
    with pytest.raises(ValueError, match="no self-check quiz named 'ch1'; the quizzes are: 01_nadaraya_watson, "):
        self_check("ch1")
    with pytest.raises(ValueError, match="no self-check quiz named '../pyproject'"):
        quiz_questions("../pyproject")
    with pytest.raises(TypeError, match="a quiz name must be a string"):
        quiz_questions(1)


@pytest.fixture
def quiz_folder(tmp_path, monkeypatch):
    """An empty folder that cubit_lite.self_check reads its quizzes from, for this test."""
    folder = tmp_path / "quizzes"
    folder.mkdir()
    monkeypatch.setattr(self_check_module, "_quiz_folder", lambda: folder)
    return folder


def _question(answer: int = 0, **fields) -> dict:
    options = ["one", "two", "three", "four"]
    return dict(prompt="Which?", options=options, answer=answer, explanations=[f"About {o}." for o in options]) | fields


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        ("{not json", ValueError, "cubit_lite/quizzes/bad.json is not valid JSON"),
        ("[]", ValueError, 'must hold one object with one field, {"questions": [...]}, got list'),
        (json.dumps({"questions": [], "title": "t"}), ValueError, "got ['questions', 'title']"),
        (json.dumps({"questions": []}), ValueError, "bad.json: questions must hold at least one Question"),
        (json.dumps({"questions": [_question(answer=4)]}), ValueError,
         "bad.json: Question.answer must be an option index from 0 to 3, got 4"),
        (json.dumps({"questions": [_question(hint="h")]}), ValueError, "bad.json: question 1 has unknown fields"),
        (json.dumps({"questions": [{"prompt": "p"}]}), TypeError, "bad.json: question 1: "),
    ],
)
def test_a_malformed_quiz_file_names_the_file_and_what_is_wrong(quiz_folder, content, error, message):
    (quiz_folder / "bad.json").write_text(content, encoding="utf-8")
    assert quiz_names() == ["bad"]
    with pytest.raises(error, match=re.escape(message)):
        self_check("bad")


def test_the_books_rules():
    good = [Question(**_question(answer=a)) for a in (0, 2, 1)]
    assert SCRIPT.rule_breaks(good) == []
    too_few = SCRIPT.rule_breaks(good[:2])
    assert len(too_few) == 1 and "3 to 5 questions, got 2" in too_few[0]
    same_place = SCRIPT.rule_breaks([good[0], good[0], good[1]])
    assert len(same_place) == 1 and "questions 1 and 2 both have the correct option in place 0" in same_place[0]
    one_string = Question(**_question(answer=1, explanations="One for all."))
    breaks = SCRIPT.rule_breaks([good[0], one_string, good[1]])
    assert breaks == ["question 2: give one explanation per option (4), got 1"]
    tex = Question(**_question(answer=1, prompt="What is $h$?"))
    (breaks,) = SCRIPT.rule_breaks([good[0], tex, good[1]])
    assert breaks.startswith("question 2: write mathematics in Unicode")


@pytest.mark.parametrize("name", quiz_names())
def test_the_chapters_cell_shows_no_answer_and_runs_its_quiz(name):
    """The notebook's self-check cell is one call: no prompt, option or explanation in sight."""
    nb = nbformat.read(ROOT / "book" / f"{name}.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if c.get("id") == SCRIPT.CODE_ID]
    assert cell.source == SCRIPT.cell_source(name) and len(cell.source.splitlines()) <= 3
    assert "answer" not in cell.source
    for question in quiz_questions(name):
        for text in (question.prompt, *question.options, *question.explanations):
            assert text not in cell.source
    namespace: dict = {}
    exec(compile(cell.source.rsplit("\n", 1)[0], "<cell>", "exec"), namespace)
    quiz = eval(cell.source.rsplit("\n", 1)[1], namespace)  # noqa: S307 - the book's own one-line cell
    assert quiz._repr_html_() == self_check(quiz_questions(name))._repr_html_()


def test_script_refuses_a_quiz_that_breaks_a_rule(quiz_folder, tmp_path, capsys):
    name = "01_nadaraya_watson"
    path = _chapter(tmp_path, f"{name}.ipynb")
    before = path.read_text(encoding="utf-8")
    (quiz_folder / f"{name}.json").write_text(json.dumps({"questions": [_question(), _question()]}), encoding="utf-8")
    assert SCRIPT.main(["--book", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"cubit_lite/quizzes/{name}.json: a chapter has 3 to 5 questions, got 2" in err
    assert "questions 1 and 2 both have the correct option in place 0" in err
    assert path.read_text(encoding="utf-8") == before, "a quiz that breaks a rule must not reach the chapter"


def _chapter(tmp_path: Path, name: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter"), nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_markdown_cell("(ex-label)=\n## Exercises\n\nTry these."),
                nbformat.v4.new_markdown_cell("```{exercise}\nOne.\n```")]
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"
    path = tmp_path / name
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    return path


def test_script_inserts_before_the_exercises_idempotently(tmp_path):
    name = "01_nadaraya_watson.ipynb"
    path = _chapter(tmp_path, name)
    args = ["--book", str(tmp_path), name]
    assert SCRIPT.main(["--check", *args]) == 1
    assert SCRIPT.main(args) == 0
    first = path.read_text(encoding="utf-8")
    assert SCRIPT.main(args) == 0 and path.read_text(encoding="utf-8") == first, "a second run changed the file"
    assert SCRIPT.main(["--check", *args]) == 0
    nb = nbformat.read(path, as_version=4)
    assert [c.id for c in nb.cells] == ["cell-0", "cell-1", "self-check-md", "self-check", "cell-2", "cell-3"]
    code = nb.cells[3]
    assert code.metadata["tags"] == ["remove-input"] and code.outputs == []
    assert nb.cells[2].source.startswith("## Self-check\n\n")

    # Moved away or edited by hand: the next run puts it back as it should be.
    nb.cells.insert(0, nb.cells.pop(3))
    nb.cells[0].source = "self_check([])"
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    assert SCRIPT.main(["--check", *args]) == 1
    assert SCRIPT.main(args) == 0 and path.read_text(encoding="utf-8") == first


def test_script_reports_a_chapter_without_exercises_or_missing(tmp_path, capsys):
    path = _chapter(tmp_path, "02_kernel_ridge.ipynb")
    nb = nbformat.read(path, as_version=4)
    nb.cells[2].source = "## Something else"
    nbformat.write(nb, path)
    assert SCRIPT.main(["--book", str(tmp_path), "02_kernel_ridge.ipynb", "03_attention_is_nw.ipynb"]) == 2
    err = capsys.readouterr().err
    assert "'## Exercises' heading, found 0" in err and "03_attention_is_nw.ipynb: missing" in err


# --------------------------------------------------------------------------- #
# In a browser
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def quiz_page(tmp_path_factory):
    from conftest import SiteServer

    folder = tmp_path_factory.mktemp("quiz-site")
    page = ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>quizzes</title></head><body>"
            "<h1>Two quizzes</h1>" + self_check(QUIZ_A)._repr_html_() + "<p>Between.</p>"
            + self_check(QUIZ_B, title="Another")._repr_html_() + "</body></html>")
    (folder / "index.html").write_text(page, encoding="utf-8")
    server = SiteServer(folder)
    yield server
    server.close()


def _context(browser, site, **options):
    context = browser.new_context(viewport={"width": 1000, "height": 800}, **options)
    external: list[str] = []

    def route(request_route):
        if request_route.request.url.startswith(site.url):
            request_route.continue_()
        else:
            external.append(request_route.request.url)
            request_route.abort()

    context.route("**/*", route)
    return context, external


def _choose(quiz, option: str) -> None:
    """Click the label of the option whose text is ``option`` (a reader clicks the words)."""
    quiz.locator("label").filter(has_text=re.compile(rf"^\([a-f]\) {re.escape(option)}$")).click()


def _feedback(page, quiz: int, question: int) -> tuple[str, str]:
    box = page.locator(".cubit-self-check").nth(quiz).locator(".sc-feedback").nth(question)
    return box.get_attribute("class"), box.text_content()


@pytest.mark.browser
def test_quizzes_answer_in_the_browser_without_interfering(browser, quiz_page):
    context, external = _context(browser, quiz_page)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(quiz_page.url + "index.html", wait_until="load")
    a, b = page.locator(".cubit-self-check").nth(0), page.locator(".cubit-self-check").nth(1)
    assert page.locator(".sc-nojs").count() == 0, "the script removes the no-JavaScript note"
    assert all(not d for d in page.eval_on_selector_all("input.sc-input", "els => els.map(e => e.disabled)"))

    _choose(a, "wrong A1")
    cls, text = _feedback(page, 0, 0)
    assert "sc-wrong" in cls and text == "✗ Not quite. Explains wrong A1."
    assert _feedback(page, 1, 0)[1] == "", "quiz B reacted to quiz A"

    _choose(a, "right A1")
    cls, text = _feedback(page, 0, 0)
    assert "sc-right" in cls and text == "✓ Correct. Explains right A1."
    assert a.locator("fieldset").first.get_attribute("data-state") == "correct"

    _choose(b, "other wrong B1")
    assert _feedback(page, 1, 0) == ("sc-feedback sc-wrong", "✗ Not quite. Explains other wrong B1.")
    assert _feedback(page, 0, 0)[1] == "✓ Correct. Explains right A1.", "quiz A reacted to quiz B"
    assert a.locator("input:checked").count() == 1 and b.locator("input:checked").count() == 1

    # Keyboard: the arrow key moves within a question's radio group and answers it.
    a.locator("fieldset").nth(1).locator("input").first.focus()
    page.keyboard.press("Space")
    assert _feedback(page, 0, 1) == ("sc-feedback sc-right", "✓ Correct. Explains A2.")
    page.keyboard.press("ArrowDown")
    assert _feedback(page, 0, 1) == ("sc-feedback sc-wrong", "✗ Not quite. Explains A2.")

    # Running a quiz's script again does not bind it twice (one handler, one feedback).
    page.evaluate("""() => { const old = document.querySelector('.cubit-self-check script');
                             const again = document.createElement('script'); again.textContent = old.textContent;
                             old.parentNode.appendChild(again); }""")
    assert page.evaluate("document.querySelectorAll('.cubit-self-check')[0].dataset.scBound") == "1"
    # No MathJax on this page: inline TeX stays as written, readable.
    assert "$h$" in a.locator("legend").first.text_content()
    assert not errors and not external, (errors, external)
    context.close()


@pytest.mark.browser
def test_without_javascript_the_answers_still_open(browser, quiz_page):
    context, external = _context(browser, quiz_page, java_script_enabled=False)
    page = context.new_page()
    page.goto(quiz_page.url + "index.html", wait_until="load")
    assert page.locator(".sc-nojs").count() == 2 and page.locator(".sc-nojs").first.is_visible()
    assert all(page.eval_on_selector_all("input.sc-input", "els => els.map(e => e.disabled)"))
    answer = page.locator(".cubit-self-check").nth(1).locator("details").first
    assert not answer.get_by_text("Answer: (c) right B1").is_visible()
    answer.locator("summary").click()
    assert answer.get_attribute("open") is not None
    assert answer.get_by_text("Answer: (c) right B1").is_visible()
    assert "Explains right B1." in answer.text_content() and "Explains wrong B1." in answer.text_content()
    assert not external
    context.close()


def test_escaped_explanations_round_trip_through_the_data_attribute():
    question = Question("Quote?", ['say "yes" & <go>', "no"], answer=0, explanations=['He said "yes" & <left>.', "n"])
    markup = self_check([question])._repr_html_()
    value = re.search(r'data-explanation="([^"]*)"', markup).group(1)
    assert html_lib.unescape(value) == 'He said "yes" & <left>.'
