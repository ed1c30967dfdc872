"""The Colab edition (``scripts/colab_edition.py``, ``colab/``) and the launch button that opens it.

The committed ``colab/`` must be exactly what the script writes from the sources, so it
cannot go stale; no MyST role or fence may survive in it; its code is the book's. The
rules themselves (numbering as the site numbers, references, citations, folded
solutions, clear errors) are checked on a small made-up book, whose answers are known by
construction; a ``book``-marked test compares every number and anchor with the built site.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import bib_entries  # noqa: E402
import book_labels  # noqa: E402
import colab_edition  # noqa: E402

EDITION = ROOT / colab_edition.FOLDER
RAW_ROLE = re.compile(r"\{[\w:.-]+\}`")
RAW_FENCE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})\s*\{", re.M)
RAW_TARGET = re.compile(r"^\([^()\s]+\)=\s*$", re.M)
RAW_MATH_LABEL = re.compile(r"\$\$\s*\([^()\s]+\)\s*$", re.M)


def _load_extension(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


colab_launch = _load_extension("colab_launch")
version_footer = _load_extension("version_footer")


def toc_notebooks() -> list[Path]:
    """The notebooks of the toc that have a Colab edition: all but the pages that run only in a clone."""
    return [page.path for page in book_labels.toc_pages(ROOT)
            if page.path.suffix == ".ipynb" and page.doc not in colab_launch.CLONE_ONLY]


def cells(path: Path) -> list[dict]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return [{**cell, "source": "".join(cell["source"])} for cell in notebook["cells"]]


# --------------------------------------------------------------------------- #
# The committed edition
# --------------------------------------------------------------------------- #
def test_the_committed_edition_is_what_the_script_writes():
    """Regenerated into a temporary folder, every file is byte for byte the committed one; none missing or extra."""
    stale = colab_edition.stale_files(EDITION)
    assert not stale, f"colab/ is stale ({', '.join(stale)}): run `python scripts/colab_edition.py`"


def test_every_notebook_of_the_toc_has_its_colab_edition():
    assert sorted(p.name for p in EDITION.glob("*.ipynb")) == sorted(p.name for p in toc_notebooks())


def test_the_edition_is_no_page_of_the_book():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert colab_edition.FOLDER in config["exclude_patterns"]
    assert colab_edition.FOLDER == colab_launch.FOLDER
    assert not [p for p in book_labels.toc_pages(ROOT) if p.doc.startswith(f"{colab_edition.FOLDER}/")]


@pytest.mark.parametrize("path", toc_notebooks(), ids=lambda p: p.name)
def test_no_myst_markup_is_left(path):
    """No raw role, directive fence, (label)= target or $$ (label) in any markdown cell; every <details> closed."""
    for number, cell in enumerate(cells(EDITION / path.name)):
        if cell["cell_type"] != "markdown":
            continue
        text = cell["source"]
        for pattern in (RAW_ROLE, RAW_FENCE, RAW_TARGET, RAW_MATH_LABEL):
            match = pattern.search(text)
            assert match is None, f"{path.name}, cell {number}: {text[match.start() : match.start() + 60]!r}"
        assert text.count("<details>") == text.count("</details>"), f"{path.name}, cell {number}"


@pytest.mark.parametrize("path", toc_notebooks(), ids=lambda p: p.name)
def test_the_code_is_the_books_with_the_install_cell_first(path):
    """Every code cell, in order, is the book's (same id, same source), without outputs; the notebook is valid."""
    nbformat.validate(nbformat.read(EDITION / path.name, as_version=4))
    book_code = [c for c in cells(path) if c["cell_type"] == "code"]
    colab_code = [c for c in cells(EDITION / path.name) if c["cell_type"] == "code"]
    assert [(c["id"], c["source"]) for c in colab_code] == [(c["id"], c["source"]) for c in book_code]
    assert 'find_spec("cubit_lite") is None' in colab_code[0]["source"]  # the install cell comes first
    assert all(not c["outputs"] and c["execution_count"] is None for c in colab_code)
    source = json.loads(path.read_text(encoding="utf-8"))["metadata"]
    assert json.loads((EDITION / path.name).read_text(encoding="utf-8"))["metadata"] == source  # GPU setting kept


@pytest.mark.parametrize("path", toc_notebooks(), ids=lambda p: p.name)
def test_every_captioned_figure_has_its_caption_line_below_it(path):
    book = book_labels.read_book(ROOT)
    edition = cells(EDITION / path.name)
    position = {cell["id"]: i for i, cell in enumerate(edition)}
    figures = [c for c in cells(path) if c["cell_type"] == "code" and c["metadata"].get("mystnb", {}).get("figure")]
    for cell in figures:
        figure = cell["metadata"]["mystnb"]["figure"]
        if not figure.get("caption"):
            continue
        below = edition[position[cell["id"]] + 1]
        assert below["id"] == f"{cell['id']}-caption" and below["cell_type"] == "markdown"
        number = book.targets[figure["name"]].number if figure.get("name") else ""
        if number:
            assert f"**Fig. {number}**" in below["source"]
        if not colab_edition.ROLE.search(figure["caption"]):
            assert figure["caption"] in below["source"]


def test_known_references_resolve_to_the_site_page_and_anchor():
    """Chapter 1's first figure, first equation, first proposition; a chapter; a section; a citation."""
    site = colab_edition.site_from_config(ROOT)
    assert site.url == "https://attention-as-regression.github.io/attention-as-regression/"
    page = f"{site.url}book/01_nadaraya_watson.html"
    text = "\n".join(c["source"] for c in cells(EDITION / "01_nadaraya_watson.ipynb") if c["cell_type"] == "markdown")
    assert f"Look at [Fig. 1.1]({page}#fig-nw-data)" in text
    assert f"[(1.1)]({page}#equation-eq-nw-model)" in text and "\\tag{1.1}" in text
    assert f"[Proposition 1.1]({page}#prop-nw-local-constant)" in text
    assert f"[chapter 2]({site.url}book/02_kernel_ridge.html)" in text
    assert f"[Compact kernels and empty windows]({page}#nw-empty-windows)" in text
    assert f"[Nadaraya, 1964]({site.url}book/references.html#cite-nadaraya1964)" in text


@pytest.mark.parametrize("path", toc_notebooks(), ids=lambda p: p.name)
def test_citations_map_to_bibliography_entries(path):
    """Every citation link names a key of references.bib, and the References cell gives that entry in full."""
    bib = bib_entries.read_bib(ROOT / "book" / "references.bib")
    edition = cells(EDITION / path.name)
    text = "\n".join(c["source"] for c in edition if c["cell_type"] == "markdown")
    anchors = set(re.findall(r"references\.html#(cite-[a-z0-9-]+)\)", text))
    by_anchor = {f"cite-{book_labels.make_id(key)}": entry for key, entry in bib.items()}
    assert anchors <= set(by_anchor), anchors - set(by_anchor)
    if not anchors:
        return
    references = edition[-1]["source"]
    assert references.startswith("## References")
    for anchor in anchors:
        entry = by_anchor[anchor]
        assert f"**{bib_entries.author_year(entry)}.** {bib_entries.entry_text(entry)}" in references


@pytest.mark.parametrize("path", toc_notebooks(), ids=lambda p: p.name)
def test_solutions_stay_folded(path):
    """A solution's markdown is inside <details>; its code cells are hidden (Colab's cellView form)."""
    source = cells(path)
    edition = {c["id"]: c for c in cells(EDITION / path.name)}
    inside = False
    for cell in source:
        text = cell["source"]
        if cell["cell_type"] == "markdown" and "{solution-start}" in text:
            assert "Solution to Exercise" in edition[cell["id"]]["source"]
        if cell["cell_type"] == "code" and (inside or "hide-input" in cell["metadata"].get("tags", [])):
            assert edition[cell["id"]]["metadata"]["cellView"] == "form"
        if cell["cell_type"] == "markdown":
            starts, ends = text.rfind("{solution-start}"), text.rfind("{solution-end}")
            inside = starts > ends if max(starts, ends) >= 0 else inside


# --------------------------------------------------------------------------- #
# The rules, on a made-up book
# --------------------------------------------------------------------------- #
def _notebook(*cells: tuple) -> dict:
    """A notebook of (cell_type, source[, metadata]) cells, ids c0, c1, ..."""
    out = []
    for i, (kind, source, *metadata) in enumerate(cells):
        cell = {"cell_type": kind, "id": f"c{i}", "metadata": metadata[0] if metadata else {}, "source": source}
        if kind == "code":
            cell.update(outputs=[], execution_count=None)
        out.append(cell)
    return {"cells": out, "metadata": {"kernelspec": {"name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}


INSTALL = 'if importlib.util.find_spec("cubit_lite") is None:\n    pip_install("git+https://x")'
BIB = """@article{ann2020, author = {Ann, A. and Bo, B.}, title = {On {Things}}, journal = {J}, year = {2020}}
@book{cy1999, author = {Cy, C. and Di, D. and Ed, E.}, title = {A Book}, publisher = {P}, year = 1999}
"""


@pytest.fixture
def mini_book(tmp_path) -> Path:
    """Two numbered chapters, an unnumbered appendix notebook and two Markdown pages."""
    (tmp_path / "book").mkdir()
    (tmp_path / "_config.yml").write_text(
        yaml.safe_dump(
            {
                "title": "Mini",
                "bibtex_bibfiles": ["book/references.bib"],
                "repository": {"url": "https://github.com/Owner/mini", "branch": "main"},
            }
        ),
        encoding="utf-8",
    )
    (tmp_path / "_toc.yml").write_text(
        yaml.safe_dump(
            {
                "format": "jb-book",
                "root": "book/intro",
                "parts": [
                    {"caption": "A", "numbered": True, "chapters": [{"file": "book/one"}, {"file": "book/two"}]},
                    {"caption": "B", "chapters": [{"file": "book/appendix"}, {"file": "book/refs"}]},
                ],
            }
        ),
        encoding="utf-8",
    )
    (tmp_path / "book" / "references.bib").write_text(BIB, encoding="utf-8")
    (tmp_path / "book" / "intro.md").write_text("# Intro\n\n$$\nx = 1\n$$ (eq-intro)\n", encoding="utf-8")
    (tmp_path / "book" / "refs.md").write_text("# References\n\n```{bibliography}\n```\n", encoding="utf-8")
    figure = {"mystnb": {"figure": {"caption": "A curve {cite}`ann2020`.", "name": "fig-one"}}}
    one = _notebook(
        ("markdown", "# One\n\nIntro {cite}`ann2020,cy1999`."),
        ("code", INSTALL),
        (
            "markdown",
            "(one-start)=\n## Start here\n\n$$\ny = 2\n$$ (eq-one)\n\nSee {eq}`eq-one`, {numref}`fig-two`, "
            "{ref}`one-start`, {ref}`the text <one-start>`, {doc}`two`, {doc}`the appendix <appendix>`.",
        ),
        ("code", "plot()", figure),
        (
            "markdown",
            "```{prf:proposition} Sizes\n:label: prop-one\n\nA claim.\n```\n\n```{prf:proof}\nEasy.\n```\n\n"
            "{prf:ref}`prop-one` and {numref}`Figure %s <fig-one>`.",
        ),
        ("markdown", "```{exercise} Try\n:label: ex-one\n\nDo it.\n```"),
        ("markdown", "```{solution-start} ex-one\n:class: dropdown\n```\nFirst {ref}`ex-one`."),
        ("code", "answer()"),
        ("markdown", "Last words.\n\n```{solution-end}\n```\n\nAfter the solution."),
    )
    two = _notebook(
        ("markdown", "# Two\n\nFaster by {glue:text}`speedup`."),
        ("code", INSTALL),
        ("code", "plot()", {"mystnb": {"figure": {"caption": "Not named, so not numbered."}}}),
        ("code", "plot()", {"mystnb": {"figure": {"caption": "Named.", "name": "fig-two"}}}),
        ("markdown", "$$ z $$ (eq-two)\n```{admonition} Careful\n:class: note\nMind {eq}`eq-intro`.\n```\nAfter."),
        ("markdown", "```{prf:proposition}\nUnlabelled.\n```\n\n```{exercise}\n:label: ex-two\nTwo.\n```"),
        ("markdown", "```{solution-start} ex-two\n:class: dropdown\n```"),
        ("code", "answer()"),
        ("markdown", "```{solution-end}\n```"),
    )
    appendix = _notebook(
        ("markdown", "# Appendix\n\n$$\nw\n$$ (eq-app)"),
        ("code", INSTALL, {"tags": ["hide-input"]}),
        ("markdown", "```{exercise}\n:label: ex-app\nA.\n```\n```{solution} ex-app\nB.\n```"),
    )
    for name, notebook in (("one", one), ("two", two), ("appendix", appendix)):
        (tmp_path / "book" / f"{name}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    return tmp_path


def _markdown(folder: Path, name: str) -> list[str]:
    return [c["source"] for c in cells(folder / name) if c["cell_type"] == "markdown"]


def test_numbers_follow_the_sites_rules(mini_book):
    """Per chapter N.k for each kind; uncaptioned or unnamed figures skipped; unnumbered pages count k together."""
    targets = book_labels.read_book(mini_book).targets
    numbers = {label: (t.kind, t.number) for label, t in targets.items()}
    assert numbers == {
        "eq-intro": ("displaymath", "1"),
        "one-start": ("section", ""),
        "eq-one": ("displaymath", "1.1"),
        "fig-one": ("figure", "1.1"),
        "prop-one": ("proposition", "1.1"),
        "ex-one": ("exercise", "1.1"),
        "fig-two": ("figure", "2.1"),
        "eq-two": ("displaymath", "2.1"),
        "ex-two": ("exercise", "2.1"),
        "eq-app": ("displaymath", "2"),
        "ex-app": ("exercise", "1"),
    }
    assert targets["one-start"].title == "Start here" and targets["eq-one"].anchor == "equation-eq-one"


def test_references_citations_and_statements_become_markdown(mini_book):
    written = colab_edition.write_edition(mini_book / "colab", mini_book)
    assert sorted(p.name for p in written) == ["README.md", "appendix.ipynb", "one.ipynb", "two.ipynb"]
    site = "https://owner.github.io/mini/"
    one = _markdown(mini_book / "colab", "one.ipynb")
    assert one[0].startswith(f"# One\n\n*Chapter 1 of [Mini]({site}), Colab edition.")
    cite_ann, cite_cy = f"{site}book/refs.html#cite-ann2020", f"{site}book/refs.html#cite-cy1999"
    assert one[0].endswith(f"Intro [[Ann and Bo, 2020]({cite_ann}); [Cy et al., 1999]({cite_cy})].")
    assert one[1] == (
        f"## Start here\n\n$$\ny = 2\n\\tag{{1.1}}\n$$\n\n"
        f"See [(1.1)]({site}book/one.html#equation-eq-one), "
        f"[Fig. 2.1]({site}book/two.html#fig-two), [Start here]({site}book/one.html#one-start), "
        f"[the text]({site}book/one.html#one-start), [Two]({site}book/two.html), "
        f"[the appendix]({site}book/appendix.html)."
    )
    assert one[2] == f"**Fig. 1.1** A curve [[Ann and Bo, 2020]({cite_ann})]."
    assert one[3] == (
        f"**Proposition 1.1 (Sizes).**\n\nA claim.\n\n*Proof.* Easy.\n\n∎\n\n"
        f"[Proposition 1.1]({site}book/one.html#prop-one) and [Figure 1.1]({site}book/one.html#fig-one)."
    )
    assert one[4] == "**Exercise 1.1 (Try).**\n\nDo it."
    assert one[-1] == (
        "## References\n\n- **Ann and Bo, 2020.** A. Ann and B. Bo. On Things. *J*, 2020.\n"
        "- **Cy et al., 1999.** C. Cy, D. Di, and E. Ed. *A Book*. P, 1999."
    )
    two = _markdown(mini_book / "colab", "two.ipynb")
    assert two[0].endswith(f"*{colab_edition.GLUE_NOTE}*\n\nFaster by [`speedup`]({site}book/two.html).")
    assert colab_edition.GLUE_NOTE not in one[0]  # only a page that glues says where its values are
    assert two[1] == "Not named, so not numbered." and two[2] == "**Fig. 2.1** Named."
    assert two[3] == (
        f"$$ z \\tag{{2.1}} $$\n\n**Careful.**\n\nMind [(1)]({site}book/intro.html#equation-eq-intro).\n\nAfter."
    )
    appendix = _markdown(mini_book / "colab", "appendix.ipynb")
    assert "\\tag{2}" in appendix[0]
    assert appendix[1] == (
        "**Exercise 1.**\n\nA.\n\n<details>\n<summary>Solution to Exercise 1</summary>\n\nB.\n\n</details>"
    )


def test_a_solution_is_folded_across_its_cells(mini_book):
    colab_edition.write_edition(mini_book / "colab", mini_book)
    edition = {c["id"]: c for c in cells(mini_book / "colab" / "one.ipynb")}
    assert edition["c6"]["source"] == (
        "<details>\n<summary>Solution to Exercise 1.1</summary>\n\n"
        "First [Exercise 1.1](https://owner.github.io/mini/book/one.html#ex-one).\n\n"
        "</details>"
    )
    assert edition["c7"]["metadata"] == {"cellView": "form", "jupyter": {"source_hidden": True}}
    assert edition["c8"]["source"] == (
        "<details>\n<summary>Solution to Exercise 1.1 (continued)</summary>\n\n"
        "Last words.\n\n</details>\n\nAfter the solution."
    )
    assert edition["c1"]["metadata"] == {}  # the install cell of a chapter that shows it stays shown
    two = cells(mini_book / "colab" / "two.ipynb")  # a solution that starts with code; an unlabelled statement
    assert [c["source"] for c in two[-3:]] == [
        "**Proposition 2.1.**\n\nUnlabelled.\n\n**Exercise 2.1.**\n\nTwo.",
        "**Solution to Exercise 2.1**, folded below.",
        "answer()",
    ]
    assert two[-1]["metadata"]["cellView"] == "form"  # the cell holding only {solution-end} is left out
    appendix = cells(mini_book / "colab" / "appendix.ipynb")
    assert appendix[1]["metadata"]["cellView"] == "form"  # hide-input


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("See {numref}`fig-nowhere`.", "unknown label 'fig-nowhere'"),
        ("See {term}`kernel`.", "the role {term} has no plain-Markdown form"),
        ("See {cite}`nobody2001`.", "the citation 'nobody2001' is in no bibliography file"),
        ("```{margin}\nA note.\n```", "the directive {margin} has no plain-Markdown form"),
        ("```{exercise}\n:label: ex-three\nUnclosed.", "is never closed"),
        ("See {eq}`fig-one`.", "a figure, not an equation"),
        ("See {ref}`eq-one`.", "points at an equation; use {eq}`eq-one`"),
        ("```{solution-start} ex-one\n```\nNo end.", "has no {solution-end}"),
    ],
)
def test_bad_input_fails_with_a_clear_message(mini_book, cell, message):
    path = mini_book / "book" / "two.ipynb"
    notebook = json.loads(path.read_text(encoding="utf-8"))
    notebook["cells"].append({"cell_type": "markdown", "id": "bad", "metadata": {}, "source": cell})
    path.write_text(json.dumps(notebook), encoding="utf-8")
    with pytest.raises(book_labels.BookSourceError, match=re.escape(message)) as raised:
        colab_edition.write_edition(mini_book / "colab", mini_book)
    assert "two.ipynb" in str(raised.value) or "solution" in str(raised.value)


def test_a_label_defined_twice_is_an_error(mini_book):
    (mini_book / "book" / "intro.md").write_text("# Intro\n\n$$\nx\n$$ (eq-one)\n", encoding="utf-8")
    with pytest.raises(book_labels.BookSourceError, match="'eq-one' is defined twice"):
        book_labels.read_book(mini_book)


def test_the_command_line_writes_checks_and_names_stale_files(mini_book, capsys):
    assert colab_edition.main([], root=mini_book) == 0
    out = mini_book / "colab"
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "appendix.ipynb", "one.ipynb", "two.ipynb"]
    assert colab_edition.main(["--check"], root=mini_book) == 0
    (out / "two.ipynb").write_text("{}", encoding="utf-8")
    (out / "old.ipynb").write_text("{}", encoding="utf-8")
    assert colab_edition.main(["--check"], root=mini_book) == 1
    assert "stale: old.ipynb, two.ipynb; run `python scripts/colab_edition.py`" in capsys.readouterr().err
    assert colab_edition.main(["--out", str(out)], root=mini_book) == 0
    assert not (out / "old.ipynb").exists()  # a file the edition does not contain is removed
    (mini_book / "book" / "intro.md").write_text("# Intro\n", encoding="utf-8")  # eq-intro is gone
    assert colab_edition.main([], root=mini_book) == 2
    assert "book/two.ipynb, cell 4: unknown label 'eq-intro'" in capsys.readouterr().err


def test_tex_in_the_bibliography_becomes_unicode():
    assert (
        bib_entries.detex(r"Ag{\"u}era y Arcas, Jo{\~a}o, {\L}ukasz, Fran\c{c}ois, 1--2")
        == "Agüera y Arcas, João, Łukasz, François, 1–2"
    )
    with pytest.raises(bib_entries.BibError, match=r"unknown TeX command \\textbf"):
        bib_entries.detex(r"\textbf{x}", "key")


# --------------------------------------------------------------------------- #
# The launch button and the footer (the extensions' functions)
# --------------------------------------------------------------------------- #
THEME_URL = "https://colab.research.google.com/github/o/r/blob/main/book/01_x.ipynb"


def _page_context() -> dict:
    return {
        "header_buttons": [
            {
                "label": "launch-buttons",
                "buttons": [{"text": "Binder", "url": "https://binder/x"}, {"text": "Colab", "url": THEME_URL}],
            }
        ]
    }


def test_the_colab_button_opens_the_edition_at_the_configured_branch_or_the_tag(tmp_path, monkeypatch):
    (tmp_path / "colab").mkdir()
    (tmp_path / "colab" / "01_x.ipynb").write_text("{}", encoding="utf-8")
    config = SimpleNamespace(html_theme_options={"repository_branch": "main"})
    app = SimpleNamespace(srcdir=str(tmp_path), config=config)
    monkeypatch.delenv(colab_launch.REF_VARIABLE, raising=False)
    context = _page_context()
    colab_launch.point_at_colab_edition(app, "book/01_x", "page.html", context, None)
    buttons = context["header_buttons"][0]["buttons"]
    assert buttons[1]["url"] == "https://colab.research.google.com/github/o/r/blob/main/colab/01_x.ipynb"
    assert buttons[0]["url"] == "https://binder/x"
    monkeypatch.setenv(colab_launch.REF_VARIABLE, "v1.2.3")
    context = _page_context()
    colab_launch.point_at_colab_edition(app, "book/01_x", "page.html", context, None)
    assert context["header_buttons"][0]["buttons"][1]["url"].endswith("/blob/v1.2.3/colab/01_x.ipynb")


def test_a_notebook_without_colab_edition_warns(tmp_path, monkeypatch):
    warnings = []
    monkeypatch.setattr(colab_launch.LOGGER, "warning", lambda message, **kwargs: warnings.append(message))
    app = SimpleNamespace(srcdir=str(tmp_path), config=SimpleNamespace(html_theme_options={}))
    context = _page_context()
    colab_launch.point_at_colab_edition(app, "book/01_x", "page.html", context, None)
    assert context["header_buttons"][0]["buttons"][1]["url"] == THEME_URL
    assert warnings and "python scripts/colab_edition.py" in warnings[0]
    with pytest.raises(ValueError, match="no '/blob/'"):
        colab_launch.edition_url("https://colab.research.google.com/", "main", "book/01_x")


def test_the_footer_names_the_version_and_links_the_citation():
    version = version_footer.read_version(ROOT)
    import cubit_lite

    assert version == cubit_lite.__version__
    app = SimpleNamespace(config=SimpleNamespace(myst_substitutions={"version": version}))
    for page, href in (("book/01_x", "preface.html#cite-this-book"), ("book/preface", "#cite-this-book")):
        context = {
            "pathto": lambda name: "preface.html" if name != "book/01_x" else "#",
            "theme_extra_footer": "<p>extra</p>",
        }
        version_footer.add_version_to_footer(app, page, "page.html", context, None)
        assert (
            context["theme_extra_footer"] == f'<p>extra</p><p class="book-version">Version {version} · '
            f'<a href="{href}">Cite this book</a></p>'
        )
    preface = (ROOT / "book" / "preface.md").read_text(encoding="utf-8")
    assert f"({version_footer.CITE_ANCHOR})=\n## Cite this book" in preface and "{{ version }}" in preface


# --------------------------------------------------------------------------- #
# Against the built site
# --------------------------------------------------------------------------- #
NUMBER_SHOWN = re.compile(r'class="(?:caption-number|eqno)">([^<]*)<')


def site_disagreements(html: Path, root: Path = ROOT) -> list[str]:
    """Every label whose anchor is missing from its built page, or whose number the page shows differently."""
    problems = []
    for target in book_labels.read_book(root).targets.values():
        page = (html / f"{target.doc}.html").read_text(encoding="utf-8")
        anchor = re.search(rf'id="{re.escape(target.anchor)}"', page)
        if anchor is None:
            problems.append(f"{target.doc}: no id {target.anchor!r} for {target.label!r}")
            continue
        if target.number:
            shown = NUMBER_SHOWN.search(page, anchor.end(), anchor.end() + 3000)
            expected = colab_edition.numbered_name(target, target.label)
            if shown is None or shown.group(1).strip() != expected:
                problems.append(
                    f"{target.label}: the site shows {shown and shown.group(1)!r}, the edition {expected!r}"
                )
    return problems


def broken_site_links(html: Path, edition: Path = EDITION, root: Path = ROOT) -> list[str]:
    """Every link of the edition into the site whose page, image or anchor the built site does not have."""
    site = colab_edition.site_from_config(root).url
    link = re.compile(re.escape(site) + r"(?P<path>[^)#\s\"\\]*)(?:#(?P<anchor>[^)\s\"\\]+))?")  # in the JSON text
    problems = set()
    for notebook in sorted(edition.glob("*.ipynb")):
        for match in link.finditer(notebook.read_text(encoding="utf-8")):
            page = html / (match["path"] or "index.html")
            if not page.is_file():
                problems.add(f"{notebook.name}: {match.group(0)} (no {match['path']})")
            elif match["anchor"] and f'id="{match["anchor"]}"' not in page.read_text(encoding="utf-8"):
                problems.add(f"{notebook.name}: {match.group(0)} (no id {match['anchor']!r})")
    return sorted(problems)


@pytest.mark.book
def test_numbers_and_anchors_are_the_built_sites(book_build):
    """Every figure, equation, statement and exercise number; every page, anchor and image the edition links to."""
    html = book_build / "html"
    assert not site_disagreements(html)
    assert not broken_site_links(html)  # pages, anchors, citations and images the edition links to


@pytest.mark.book
def test_every_page_names_the_version_in_its_footer(book_build):
    version = version_footer.read_version(ROOT)
    for page in book_labels.toc_pages(ROOT):
        html = (book_build / "html" / f"{page.doc}.html").read_text(encoding="utf-8")
        assert f'<p class="book-version">Version {version} · <a href="' in html, page.doc
    assert f"is version {version}," in (book_build / "html" / "book" / "preface.html").read_text(encoding="utf-8")


def test_an_advanced_box_folded_on_the_site_stays_folded_and_hidden_cells_stay_hidden(mini_book):
    """An admonition with the dropdown class becomes <details>; a hide-cell code cell is hidden like hide-input."""
    path = mini_book / "book" / "two.ipynb"
    notebook = json.loads(path.read_text(encoding="utf-8"))
    notebook["cells"] += _notebook(
        ("markdown", "```{admonition} Advanced: why it holds\n:class: dropdown advanced\nBecause {eq}`eq-two`.\n```"),
        ("code", "study()", {"tags": ["hide-cell"]}),
    )["cells"]
    path.write_text(json.dumps(notebook), encoding="utf-8")
    colab_edition.write_edition(mini_book / "colab", mini_book)
    edition = cells(mini_book / "colab" / "two.ipynb")
    folded = [c["source"] for c in edition if c["cell_type"] == "markdown" and "why it holds" in c["source"]]
    assert folded == ["<details>\n<summary>Advanced: why it holds</summary>\n\n"
                      "Because [(2.1)](https://owner.github.io/mini/book/two.html#equation-eq-two).\n\n</details>"]
    study = next(c for c in edition if c["cell_type"] == "code" and c["source"] == "study()")
    assert study["metadata"] == colab_edition._hidden({"tags": ["hide-cell"]}) != {"tags": ["hide-cell"]}
