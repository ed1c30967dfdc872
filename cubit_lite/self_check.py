"""Self-check questions: a small multiple-choice quiz shown as a notebook cell's output.

Every chapter ends with a few questions that a reader answers in the page itself. The
chapter's cell names its quiz, so the notebook shows no answer::

    from cubit_lite.self_check import self_check

    self_check("01_nadaraya_watson")

The questions ship with the package as data, one JSON file per chapter named after the
chapter's notebook (``cubit_lite/quizzes/01_nadaraya_watson.json`` for
``book/01_nadaraya_watson.ipynb``), so the call works wherever cubit_lite is installed
(Google Colab installs it from the repository). A file holds one object,
``{"questions": [...]}``, each question with the fields of :class:`Question`;
:func:`quiz_names` lists the quizzes and :func:`quiz_questions` reads and checks one.
``scripts/add_self_checks.py`` checks every quiz and writes the chapters' cells.

A quiz can also be written out in a cell::

    from cubit_lite.self_check import Question, self_check

    self_check([
        Question(
            "What does the bandwidth h of a kernel smoother set?",
            ["The number of samples", "The width of the window that is averaged"],
            answer=1,
            explanations=["No: n is fixed by the data.", "Yes: K_h(u) = K(u/h)/h."],
        ),
    ])

:func:`self_check` returns a :class:`SelfCheck`, which a notebook displays through its
``_repr_html_``: one self-contained block of HTML with its own ``<style>`` and a small
``<script>`` (no network, no external file), so the same output works on the book's
static site, in Google Colab and in Jupyter.

* **With JavaScript**, each question is a group of radio buttons; choosing one says at
  once whether it is right and shows that option's explanation, in an ``aria-live``
  region that a screen reader announces. Each question is a ``<fieldset>`` with its
  prompt as ``<legend>`` and a ``<label>`` tied to every radio button, so the keyboard
  (Tab, arrow keys) works as for any form.
* **Without JavaScript** (a notebook that is not trusted, a reader who turned it off),
  the radio buttons stay disabled and each question's answer and the explanation of
  every option sit in a ``<details>`` block ("Show answer"), which browsers open
  without any script.
* **Ids** are derived from a hash of the quiz's content, never from randomness, so a
  rebuild of the book writes the same bytes and several quizzes on one page do not
  collide (two quizzes with exactly the same title and questions share their ids).
* **Text** is plain text (HTML is escaped). Prefer Unicode for mathematics
  (``λ``, ``P + λI``, ``h²``): it reads the same everywhere. Inline TeX written as
  ``$…$`` is kept as it is, and typeset where the page has MathJax loaded (the book's
  site); in Colab it stays as written, ``$…$``.
* **Colours** come from the site theme's CSS variables (pydata-sphinx-theme, light and
  dark) with fallbacks elsewhere; text keeps the page's own colour, backgrounds stay
  transparent, and right and wrong are also said in words (✓ / ✗), not by colour alone.
  (In dark mode the theme puts every HTML output on a light card; the quiz's style
  takes its own output off that card, so it reads in the page's dark colours.)

The book's static site runs the inline script like any other script of the page; the
script marks its quiz as bound, so running it twice never attaches a second handler.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

__all__ = ["MAX_OPTIONS", "MIN_OPTIONS", "Question", "SelfCheck", "quiz_names", "quiz_questions", "self_check"]

MIN_OPTIONS = 2
MAX_OPTIONS = 6
LETTERS = "abcdef"


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {type(value).__name__}: {value!r}")
    if not value.strip():
        raise ValueError(f"{what} must not be empty")
    return value.strip()


@dataclass(frozen=True)
class Question:
    """One multiple-choice question.

    ``prompt``: the question. ``options``: 2 to 6 distinct answers. ``answer``: the index
    (from 0) of the correct option. ``explanations``: one sentence per option, in the same
    order (shown when that option is chosen), or one string for the whole question.
    """

    prompt: str
    options: Sequence[str]
    answer: int
    explanations: Sequence[str] | str

    def __post_init__(self) -> None:
        prompt = _text(self.prompt, "Question.prompt")
        if isinstance(self.options, str) or not isinstance(self.options, Sequence):
            raise TypeError(
                f"Question.options must be a list of {MIN_OPTIONS} to {MAX_OPTIONS} strings, "
                f"got {type(self.options).__name__} (question {prompt[:60]!r})"
            )
        options = tuple(_text(o, f"option {i} of question {prompt[:60]!r}") for i, o in enumerate(self.options))
        if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
            raise ValueError(
                f"a question needs {MIN_OPTIONS} to {MAX_OPTIONS} options, got {len(options)} "
                f"(question {prompt[:60]!r})"
            )
        if len(set(options)) != len(options):
            raise ValueError(f"the options of question {prompt[:60]!r} must be distinct, got {list(options)}")
        if isinstance(self.answer, bool) or not isinstance(self.answer, int):
            raise TypeError(
                f"Question.answer must be the index (an int from 0) of the correct option, "
                f"got {type(self.answer).__name__}: {self.answer!r} (question {prompt[:60]!r})"
            )
        if not 0 <= self.answer < len(options):
            raise ValueError(
                f"Question.answer must be an option index from 0 to {len(options) - 1}, got {self.answer} "
                f"(question {prompt[:60]!r})"
            )
        if isinstance(self.explanations, str):
            explanations: tuple[str, ...] = (_text(self.explanations, f"the explanation of question {prompt[:60]!r}"),)
        elif isinstance(self.explanations, Sequence):
            explanations = tuple(
                _text(e, f"explanation {i} of question {prompt[:60]!r}") for i, e in enumerate(self.explanations)
            )
            if len(explanations) != len(options):
                raise ValueError(
                    f"give one explanation per option ({len(options)}) or one string for the question, "
                    f"got {len(explanations)} explanations (question {prompt[:60]!r})"
                )
        else:
            raise TypeError(
                "Question.explanations must be a list of strings (one per option) or one string, "
                f"got {type(self.explanations).__name__} (question {prompt[:60]!r})"
            )
        object.__setattr__(self, "prompt", prompt)
        object.__setattr__(self, "options", options)
        object.__setattr__(self, "explanations", explanations)

    def explanation(self, option: int) -> str:
        """The explanation shown when ``option`` is chosen."""
        return self.explanations[option] if len(self.explanations) > 1 else self.explanations[0]

    def as_dict(self) -> dict:
        return {"prompt": self.prompt, "options": list(self.options), "answer": self.answer,
                "explanations": list(self.explanations)}


# --------------------------------------------------------------------------- #
# HTML
# --------------------------------------------------------------------------- #
_TEX = re.compile(r"\$[^$\n]+\$")

_STYLE = """
html[data-theme="dark"] .bd-content div.cell_output div.output.text_html:has(> .cubit-self-check){
background-color:transparent;color:inherit;padding:0}
.cubit-self-check{border:1px solid var(--pst-color-border,rgba(128,128,128,.5));border-radius:.4em;
padding:.5em 1em .7em;margin:1em 0;background:transparent;color:inherit;max-width:100%;box-sizing:border-box;
overflow-wrap:anywhere}
.cubit-self-check .sc-title{font-weight:700;margin:0 0 .2em}
.cubit-self-check .sc-nojs{margin:0 0 .3em;font-size:.9em;opacity:.85}
.cubit-self-check fieldset{border:0;margin:0;padding:0;min-width:0}
.cubit-self-check .sc-item+.sc-item{border-top:1px solid var(--pst-color-border,rgba(128,128,128,.5));
margin-top:.6em;padding-top:.6em}
.cubit-self-check legend{float:none;width:auto;font-size:1em;line-height:inherit;font-weight:600;padding:0;
margin:0 0 .3em;white-space:normal;max-width:100%}
.cubit-self-check .sc-opt{display:flex;gap:.5em;align-items:baseline;margin:.2em 0}
.cubit-self-check .sc-opt input{flex:none;margin:0;accent-color:var(--pst-color-primary,#1a73e8)}
.cubit-self-check .sc-opt label{cursor:pointer}
.cubit-self-check .sc-opt input:disabled+label{cursor:default}
.cubit-self-check .sc-opt input:focus-visible{outline:2px solid var(--pst-color-primary,#1a73e8);outline-offset:2px}
.cubit-self-check .sc-feedback{margin:.4em 0 .2em;padding-left:.6em;border-left:4px solid transparent}
.cubit-self-check .sc-feedback.sc-right{border-left-color:var(--pst-color-success,#2e8540)}
.cubit-self-check .sc-feedback.sc-wrong{border-left-color:var(--pst-color-danger,#d32f2f)}
.cubit-self-check details{margin:.3em 0 0}
.cubit-self-check summary{cursor:pointer;color:var(--pst-color-link,inherit);width:max-content;max-width:100%}
.cubit-self-check details ul{margin:.3em 0;padding-left:1.4em}
""".strip()

# The behaviour, inline so that it runs wherever the HTML is shown (the book's pages run
# a text/html output's scripts like any other; so do Colab and trusted Jupyter
# notebooks). It binds only its own quiz and marks it bound, so a second run of the same
# script (or of another quiz's) never attaches a second handler.
_SCRIPT = """
(function () {
  var me = document.currentScript;
  var root = (me && me.closest && me.closest(".cubit-self-check")) || document.getElementById("__ID__");
  if (!root || root.getAttribute("data-sc-bound") === "1") return;
  root.setAttribute("data-sc-bound", "1");
  var note = root.querySelector(".sc-nojs");
  if (note) note.parentNode.removeChild(note);
  var inputs = root.querySelectorAll("input.sc-input");
  for (var i = 0; i < inputs.length; i++) inputs[i].disabled = false;
  var mj = window.MathJax;
  if (mj) {
    var spans = root.querySelectorAll("span.sc-tex");
    for (var j = 0; j < spans.length; j++) {
      var s = spans[j];
      if (s.children.length || !/^\\$[^$]+\\$$/.test(s.textContent)) continue;
      s.textContent = "\\\\(" + s.textContent.slice(1, -1) + "\\\\)";
      s.className = "sc-tex math notranslate nohighlight";
    }
    if (typeof mj.typesetPromise === "function" && mj.startup && mj.startup.promise) {
      mj.startup.promise.then(function () { return mj.typesetPromise([root]); })
        .catch(function (e) { console.warn("self-check: MathJax could not typeset", e); });
    }
  }
  root.addEventListener("change", function (event) {
    var input = event.target;
    if (!input || !input.classList || !input.classList.contains("sc-input")) return;
    var question = input.closest("fieldset");
    var feedback = question.querySelector(".sc-feedback");
    var right = input.getAttribute("data-correct") === "1";
    question.setAttribute("data-state", right ? "correct" : "wrong");
    feedback.className = "sc-feedback " + (right ? "sc-right" : "sc-wrong");
    feedback.textContent = "";
    var verdict = document.createElement("strong");
    verdict.textContent = right ? "\\u2713 Correct." : "\\u2717 Not quite.";
    feedback.appendChild(verdict);
    feedback.appendChild(document.createTextNode(" " + input.getAttribute("data-explanation")));
  });
})();
""".strip()


def _inline(text: str) -> str:
    """Escape ``text`` for HTML, keeping each ``$…$`` in a span that the script may typeset."""
    out, last = [], 0
    for match in _TEX.finditer(text):
        out.append(html.escape(text[last:match.start()], quote=False))
        out.append(f'<span class="sc-tex">{html.escape(match.group(0), quote=False)}</span>')
        last = match.end()
    out.append(html.escape(text[last:], quote=False))
    return "".join(out)


class SelfCheck:
    """A list of :class:`Question` shown as an interactive quiz (``_repr_html_``) or as text."""

    def __init__(self, questions: Sequence[Question], title: str = "Self-check"):
        self.questions = tuple(questions)
        self.title = title

    @property
    def id(self) -> str:
        """``sc-`` and 12 hex digits of a SHA-256 of the title and the questions: the same quiz, the same id."""
        content = json.dumps({"title": self.title, "questions": [q.as_dict() for q in self.questions]},
                             sort_keys=True, ensure_ascii=False)
        return "sc-" + hashlib.sha256(content.encode("utf-8")).hexdigest()[:12]

    def _question_html(self, number: int, question: Question) -> str:
        qid = f"{self.id}-q{number}"
        parts = [
            f'<div class="sc-item"><fieldset class="sc-q" id="{qid}">',
            f'<legend>{number}. {_inline(question.prompt)}</legend>',
        ]
        for i, option in enumerate(question.options):
            oid = f"{qid}-o{i + 1}"
            parts.append(
                f'<div class="sc-opt"><input type="radio" class="sc-input" name="{qid}" id="{oid}" value="{i}" '
                f'disabled data-correct="{int(i == question.answer)}" '
                f'data-explanation="{html.escape(question.explanation(i), quote=True)}">'
                f'<label for="{oid}">({LETTERS[i]}) {_inline(option)}</label></div>'
            )
        parts.append(f'<div class="sc-feedback" id="{qid}-feedback" role="status" aria-live="polite"></div>')
        right = question.answer
        parts.append(
            '<details class="sc-answer"><summary>Show answer</summary>'
            f'<p><strong>Answer: ({LETTERS[right]}) {_inline(question.options[right])}</strong> '
            f'{_inline(question.explanation(right))}</p>'
        )
        if len(question.explanations) > 1:
            parts.append("<ul>")
            parts += [
                f"<li>({LETTERS[i]}) {_inline(question.explanations[i])}</li>"
                for i in range(len(question.options)) if i != right
            ]
            parts.append("</ul>")
        parts.append("</details></fieldset></div>")
        return "".join(parts)

    def _repr_html_(self) -> str:
        quiz_id = self.id
        body = "\n".join(self._question_html(n, q) for n, q in enumerate(self.questions, start=1))
        return (
            f'<div class="cubit-self-check" id="{quiz_id}" role="group" aria-labelledby="{quiz_id}-title">\n'
            f"<style>{_STYLE}</style>\n"
            f'<p class="sc-title" id="{quiz_id}-title">{_inline(self.title)}</p>\n'
            '<p class="sc-nojs">Open “Show answer” under each question to check yourself '
            "(the buttons need JavaScript).</p>\n"
            f"{body}\n"
            f"<script>{_SCRIPT.replace('__ID__', quiz_id)}</script>\n"
            "</div>"
        )

    def __repr__(self) -> str:
        count = f"{len(self.questions)} question{'' if len(self.questions) == 1 else 's'}"
        lines = [f"{self.title} ({count}; answers at the end)", ""]
        for n, q in enumerate(self.questions, start=1):
            lines.append(f"{n}. {q.prompt}")
            lines += [f"   ({LETTERS[i]}) {option}" for i, option in enumerate(q.options)]
            lines.append("")
        lines.append("Answers:")
        for n, q in enumerate(self.questions, start=1):
            lines.append(f"{n}. ({LETTERS[q.answer]}) {q.explanation(q.answer)}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- #
# The quizzes shipped with the package
# --------------------------------------------------------------------------- #
QUIZ_FOLDER = "quizzes"  # inside the cubit_lite package: <name>.json, one quiz each


def _quiz_folder() -> Traversable:
    return resources.files("cubit_lite") / QUIZ_FOLDER


def quiz_names() -> list[str]:
    """The names of the quizzes shipped with the package (``cubit_lite/quizzes/<name>.json``), sorted."""
    return sorted(entry.name.removesuffix(".json") for entry in _quiz_folder().iterdir()
                  if entry.name.endswith(".json"))


def quiz_questions(name: str) -> list[Question]:
    """The questions of the quiz ``name``, read from ``cubit_lite/quizzes/<name>.json`` and checked.

    Raises ``ValueError`` naming the quizzes that exist for an unknown ``name``, and
    ``TypeError``/``ValueError`` naming the file and what is allowed for a malformed one.
    """
    if not isinstance(name, str):
        raise TypeError(f"a quiz name must be a string such as '01_nadaraya_watson', got {type(name).__name__}")
    names = quiz_names()
    if name not in names:
        raise ValueError(f"no self-check quiz named {name!r}; the quizzes are: {', '.join(names)}")
    where = f"cubit_lite/{QUIZ_FOLDER}/{name}.json"
    try:
        data = json.loads((_quiz_folder() / f"{name}.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{where} is not valid JSON: {error}") from None
    if not isinstance(data, dict) or set(data) != {"questions"}:
        got = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f'{where} must hold one object with one field, {{"questions": [...]}}, got {got}')
    try:
        return _checked(data["questions"])
    except (TypeError, ValueError) as error:
        raise type(error)(f"{where}: {error}") from None


def _checked(questions: object) -> list[Question]:
    """``questions`` (each a :class:`Question` or a mapping of its fields) as Questions, or a clear error."""
    if isinstance(questions, (str, Mapping, Question)) or not isinstance(questions, Sequence):
        raise TypeError(f"questions must be a list of Question, got {type(questions).__name__}")
    if not questions:
        raise ValueError("questions must hold at least one Question, got an empty list")
    checked = []
    for n, question in enumerate(questions, start=1):
        if isinstance(question, Mapping):
            unknown = set(question) - {"prompt", "options", "answer", "explanations"}
            if unknown:
                raise ValueError(f"question {n} has unknown fields {sorted(unknown)}; "
                                 "allowed: prompt, options, answer, explanations")
            try:
                question = Question(**question)
            except TypeError as error:
                if "missing" in str(error):
                    raise TypeError(f"question {n}: {error}") from None
                raise
        elif not isinstance(question, Question):
            raise TypeError(f"question {n} must be a Question (or a dict of its fields), "
                            f"got {type(question).__name__}")
        checked.append(question)
    return checked


def self_check(questions: str | Sequence[Question | Mapping], *, title: str = "Self-check") -> SelfCheck:
    """A quiz; as a cell's last expression it shows itself (see the module docstring).

    ``questions``: the name of a quiz shipped with the package (see :func:`quiz_names`),
    or a list of questions, each a :class:`Question` or a mapping with its fields
    (``prompt``, ``options``, ``answer``, ``explanations``). Raises
    ``TypeError``/``ValueError``, saying what is allowed, for an unknown quiz name, an
    empty list, a malformed question or an empty title.
    """
    title = _text(title, "title")
    if isinstance(questions, str):
        return SelfCheck(quiz_questions(questions), title=title)
    return SelfCheck(_checked(questions), title=title)
