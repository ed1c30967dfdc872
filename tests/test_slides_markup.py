"""How ``scripts/slides.py`` turns a chapter's MyST Markdown into slides (fast: no build, no browser).

The decks themselves, built from the site and opened in a browser, are checked in
``tests/test_editions.py``; here the pieces: what a slide keeps of a paragraph, how MyST's
roles, labelled equations and directives become what the site shows, and how the cells of a
small notebook become slides, sub-slides and speaker notes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from book_pages import SiteReferences, toc_entries  # noqa: E402
from slides import DeckBuilder, Markup, chapters, key_sentences, parse_blocks, sentences  # noqa: E402

REFERENCES = SiteReferences(
    anchors={"fig-demo": "Fig. 1.2", "equation-eq-demo": "(1.3)", "prop-demo": "Proposition 1.1",
             "sec-demo": "The estimator"},
    titles={"book/02_kernel_ridge": "Kernel ridge regression"},
    numbers={"book/02_kernel_ridge": "2"},
)


def markup() -> Markup:
    return Markup(REFERENCES, {"nadaraya1964": "Nadaraya, 1964", "watson1964": "Watson, 1964"},
                  "book/01_nadaraya_watson")


# --------------------------------------------------------------------------- #
# Sentences
# --------------------------------------------------------------------------- #
def test_sentences_never_split_maths_abbreviations_or_a_bold_lead_in():
    paragraph = ("**What theory predicts.** For a query $x$ away from the ends (e.g. $x = 0.5$), the bias is\n"
                 "small. Wasserman et al. (2006) show it. The sum is $\\sum_j w_j = 1.$ Then it ends.")
    assert sentences(paragraph) == [
        "**What theory predicts.** For a query $x$ away from the ends (e.g. $x = 0.5$), the bias is small.",
        "Wasserman et al. (2006) show it.",
        "The sum is $\\sum_j w_j = 1.$ Then it ends.",
    ]


def test_a_slide_keeps_the_first_sentence_the_defined_terms_and_the_lead_into_an_equation():
    paragraph = ("Here is the problem. There is an unknown $f$. The task is **regression**: estimate $f$. "
                 "Some detail follows. We observe pairs with")
    assert key_sentences(paragraph) == "Here is the problem. The task is **regression**: estimate $f$."
    assert key_sentences(paragraph, introduces_equation=True) == (
        "Here is the problem. The task is **regression**: estimate $f$. We observe pairs with")
    assert key_sentences("One sentence only") == "One sentence only"


# --------------------------------------------------------------------------- #
# MyST markup
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("see {numref}`fig-demo`", "see Fig. 1.2"),
        ("by {eq}`eq-demo`", "by (1.3)"),
        ("{prf:ref}`prop-demo` says", "Proposition 1.1 says"),
        ("{ref}`sec-demo`", "The estimator"),
        ("{ref}`that section <sec-demo>`", "that section"),
        ("{numref}`Figure %s <fig-demo>`", "Figure 1.2"),
        ("{doc}`02_kernel_ridge`", "Kernel ridge regression"),
        ("{doc}`the next chapter <02_kernel_ridge>`", "the next chapter"),
        ("{cite}`nadaraya1964,watson1964`", "(Nadaraya, 1964; Watson, 1964)"),
        ("{cite:t}`nadaraya1964`", "Nadaraya (1964)"),
        ("{math}`\\lambda`", "$\\lambda$"),
    ],
)
def test_roles_become_what_the_site_shows(source, shown):
    converter = markup()
    assert converter.inline(source) == shown
    assert not converter.unresolved


def test_a_reference_the_site_does_not_know_is_reported():
    converter = markup()
    converter.inline("see {numref}`fig-missing` and {eq}`eq-missing`")
    assert converter.unresolved == ["{numref}`fig-missing`", "{eq}`eq-missing`"]


def test_a_labelled_equation_carries_the_sites_number():
    assert markup().equation("$$\ny = f(x)\n$$ (eq-demo)") == "$$\ny = f(x) \\tag{1.3}\n$$"
    aligned = "$$\n\\begin{align} a &= b \\end{align}\n$$ (eq-demo)"
    assert "\\tag" not in markup().equation(aligned)  # align numbers its own lines


def test_blocks_of_a_markdown_cell():
    source = """(sec-demo)=
## The estimator

First paragraph, on
two lines.

$$
y = 1
$$ (eq-demo)

- one
- two

```{prf:proposition} A title
:label: prop-demo

Body with $x$.
```
"""
    blocks = parse_blocks(source)
    assert [b.kind for b in blocks] == ["heading", "paragraph", "math", "list", "directive"]
    assert blocks[0].level == 2 and blocks[0].text == "The estimator"
    assert blocks[2].text.endswith("$$ (eq-demo)")
    assert blocks[4].name == "prf:proposition" and blocks[4].argument == "A title"
    assert blocks[4].options == {"label": "prop-demo"} and blocks[4].text == "Body with $x$."


# --------------------------------------------------------------------------- #
# Cells -> slides
# --------------------------------------------------------------------------- #
def _figure_output():
    return nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})


def test_a_notebook_becomes_title_slides_figure_subslides_and_notes():
    notebook = nbformat.v4.new_notebook()
    install = nbformat.v4.new_code_cell("%pip install cubit_lite")
    install.outputs = [nbformat.v4.new_output("stream", name="stdout", text="installed\n")]
    figure = nbformat.v4.new_code_cell("fig, ax = plt.subplots()\nax.plot(x, y)", metadata={
        "tags": ["hide-input"], "mystnb": {"figure": {"caption": "The data, see {eq}`eq-demo`.", "name": "fig-demo"}}})
    figure.outputs = [_figure_output()]
    printed = nbformat.v4.new_code_cell("print(1 + 1)")
    printed.outputs = [nbformat.v4.new_output("stream", name="stdout", text="2\n")]
    stub = nbformat.v4.new_code_cell("def your_estimator(x):\n    ...\ncheck('ch1.nw', your_estimator)")
    stub.outputs = [nbformat.v4.new_output("stream", name="stdout", text="a stub's check\n")]
    solution = nbformat.v4.new_code_cell("print('the answer')")
    solution.outputs = [nbformat.v4.new_output("stream", name="stdout", text="the answer\n")]
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# A chapter\n\nIt opens here. It goes on."),
        install,
        nbformat.v4.new_markdown_cell("## A section\n\nA key sentence. A detail for the notes."),
        figure,
        printed,
        nbformat.v4.new_markdown_cell("## Self-check"),
        nbformat.v4.new_markdown_cell("## Exercises\n\n```{exercise} Try it\n:label: ex-demo\n\nDo it.\n```"),
        stub,
        nbformat.v4.new_markdown_cell("```{solution-start} ex-demo\n```"),
        solution,
        nbformat.v4.new_markdown_cell("```{solution-end}\n```"),
    ]
    cells = DeckBuilder(notebook, markup(), ROOT / "book", "Chapter 1").build()
    kinds = [(c.cell_type, c.metadata["slideshow"]["slide_type"]) for c in cells]
    text = "\n".join(c.source for c in cells)

    assert kinds[0] == ("markdown", "slide") and "# A chapter" in cells[0].source
    assert "Chapter 1" in cells[0].source and "It opens here." in cells[0].source
    assert "It goes on." not in cells[0].source  # on the slide: the key sentence; in the notes: all
    assert ("markdown", "notes") in kinds and "It opens here. It goes on." in text
    section = next(c for c in cells if "## A section" in c.source)
    assert section.metadata["slideshow"]["slide_type"] == "slide"
    code = [c for c in cells if c.cell_type == "code"]
    assert [c.metadata["slideshow"]["slide_type"] for c in code] == ["subslide", "subslide"]
    assert code[0].outputs == figure.outputs and code[0].metadata["tags"] == ["remove-input"]
    assert "Fig. 1.2: The data, see (1.3)." in text  # the caption, with the site's numbers
    assert code[1].source == "print(1 + 1)"  # short code is shown with what it prints
    for left_out in ("installed", "the answer", "a stub's check"):  # set-up, solutions, the exercises' code
        assert left_out not in str(cells)
    assert "Self-check" not in text
    exercises = next(c for c in cells if c.source.startswith("## Exercises"))
    assert "- Try it" in exercises.source and "Do it." not in exercises.source  # the title; its text in the notes
    assert cells[-1].metadata["slideshow"]["slide_type"] == "notes" and "Do it." in cells[-1].source


def test_a_long_section_continues_on_a_subslide_with_its_heading():
    notebook = nbformat.v4.new_notebook()
    paragraphs = "\n\n".join(f"Paragraph {i} says something long enough to fill most of a line on a slide."
                             for i in range(30))
    notebook.cells = [nbformat.v4.new_markdown_cell(f"# T\n\n## Long\n\n{paragraphs}")]
    cells = DeckBuilder(notebook, markup(), ROOT / "book", "Chapter 1").build()
    long = [c for c in cells if c.source.startswith("## Long")]
    assert len(long) >= 2
    assert [c.metadata["slideshow"]["slide_type"] for c in long] == ["slide"] + ["subslide"] * (len(long) - 1)


def test_the_chapters_of_the_numbered_parts_get_decks():
    decks = [e.page for e in chapters()]
    numbered = [e.page for e in toc_entries() if e.numbered]
    assert decks == numbered and decks[0] == "book/01_nadaraya_watson"
    assert "book/making_cubit_fast" not in decks and "book/teaching" not in decks
