"""The Colab edition: every notebook of the book with its MyST markup turned into plain Markdown.

Colab and Jupyter render Markdown, not MyST: in the chapters as written, a reference such
as ``{numref}`fig-nw-data``` stays raw, a proposition is a ```` ```{prf:proposition} ````
fence and a figure's caption lives in cell metadata, where nobody sees it. This script
writes ``colab/NAME.ipynb`` for every notebook of ``_toc.yml``, the same cells with

* references resolved to text with a link to the site's page and anchor: "Fig. 1.3",
  "(2.4)", "Proposition 4.1", "Exercise 1.2", a section's or a page's title;
* citations as author–year ("[Nadaraya, 1964]", linked to the site's bibliography) and a
  References cell at the end with each cited entry in full;
* a figure's caption as a Markdown line under the figure ("**Fig. 1.3** ...");
* a value the site glues into the text (``{glue:text}`name```) as its name, linked to the
  page: in Colab the cell that computes it prints ``name = value``
  (``cubit_lite.results.glue_text``);
* statements, proofs, exercises and admonitions as plain Markdown with a bold title;
  a solution folded in ``<details>`` (its code cells hidden, as Colab's "Show code"),
  and the cells the site hides (``hide-input``, ``remove-input``) hidden the same way;
* the install cell still the first code cell, untouched (so is every code cell).

Numbers are computed from the sources the way the site numbers them
(``scripts/book_labels.py``); no build is needed. The site is the GitHub Pages site of
``repository.url`` in ``_config.yml``. The launch buttons open this edition
(``_ext/colab_launch.py``), and ``tests/test_colab_edition.py`` fails when ``colab/`` is
not what this script writes. Regenerate after editing a chapter::

    python scripts/colab_edition.py            # writes colab/
    python scripts/colab_edition.py --check    # exit 1, naming the files, if colab/ is stale
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from bib_entries import Entry, author_year, entry_text, read_bib
from book_labels import (
    CODE_OPEN,
    DIRECTIVE_OPEN,
    LABELLED_MATH,
    NUMFIG_FORMAT,
    ROOT,
    TARGET,
    Book,
    BookSourceError,
    Page,
    Target,
    directive_options,
    fence_end,
    read_book,
)

sys.path.insert(0, str(ROOT / "_ext"))
from colab_launch import CLONE_ONLY  # noqa: E402  (notebook pages without a Colab edition)

FOLDER = "colab"  # the edition's folder in the repository; _ext/colab_launch.py opens NAME.ipynb in it
ROLE = re.compile(r"\{(?P<role>[\w:.-]+)\}`(?P<content>[^`]*)`")
EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)
LINK = re.compile(r"(?P<bang>!?)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?P<title>\s+\"[^\"]*\")?\)")
HTML_IMAGE = re.compile(r"(<img\b[^>]*?\bsrc=\")(?P<target>[^\"]+)(\")")
PROTECTED = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$|(?P<ticks>`+).*?(?P=ticks)", re.S)
SOLUTION_START, SOLUTION_END = "\x00solution-start:", "\x00solution-end\x00"
ADMONITIONS = ("note", "tip", "warning", "important", "caution", "attention", "danger", "error", "hint", "seealso")
HIDDEN_TAGS = ("hide-input", "remove-input", "remove-cell", "hide-cell")
ROLES = ("ref", "numref", "eq", "prf:ref", "doc", "cite", "cite:p", "cite:t", "glue", "glue:", "glue:text", "glue:md")
GLUE_NOTE = (
    "Numbers that the site writes into the text appear here by name, such as `name`: the cell that "
    "computes them prints `name = value`."
)
DIRECTIVES = (
    "prf:<kind>",
    "prf:proof",
    "exercise",
    "solution",
    "solution-start",
    "solution-end",
    "admonition",
    *ADMONITIONS,
    "dropdown",
    "figure",
    "math",
)


class ColabEditionError(BookSourceError):
    """The sources say something the Colab edition cannot write (an unknown role, label or citation)."""


@dataclass(frozen=True)
class Site:
    """Where the edition's links point: the published site and the repository on GitHub."""

    url: str  # https://OWNER.github.io/REPO/
    repository: str  # https://github.com/OWNER/REPO
    branch: str
    title: str  # the book's title

    def page(self, doc: str, anchor: str = "") -> str:
        return f"{self.url}{doc}.html" + (f"#{anchor}" if anchor else "")


def site_from_config(root: Path = ROOT) -> Site:
    """The GitHub Pages site of ``repository.url`` (``_config.yml``), the one place the repository is named."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    repository = config["repository"]
    match = re.fullmatch(r"https://github\.com/(?P<owner>[^/]+)/(?P<repo>[^/]+?)/?", repository["url"])
    if match is None:
        raise ColabEditionError(
            f"_config.yml: repository.url must be https://github.com/OWNER/REPO, not {repository['url']!r}"
        )
    return Site(
        f"https://{match['owner'].lower()}.github.io/{match['repo']}/",
        repository["url"].rstrip("/"),
        repository.get("branch", "main"),
        config["title"],
    )


@dataclass
class Context:
    """What converting one page needs: the book, the bibliography, the site, and what the page cites."""

    book: Book
    bib: dict[str, Entry]
    site: Site
    root: Path
    page: Page
    where: str = ""
    cited: dict[str, Entry] = field(default_factory=dict)
    unlabelled: dict[str, list[str]] = field(default_factory=dict)

    def link(self, text: str, target: Target) -> str:
        return f"[{text}]({self.site.page(target.doc, target.anchor)})"


# --------------------------------------------------------------------------- #
# Inline markup: roles, links, images
# --------------------------------------------------------------------------- #
def numbered_name(target: Target, where: str) -> str:
    """How a reference names a numbered target: "Fig. 1.3", "(2.4)", "Exercise 1.2", "Proposition 4.1"."""
    if not target.number:
        raise ColabEditionError(f"{where}: {target.label!r} has no number (an uncaptioned figure or :nonumber:)")
    if target.kind == "displaymath":
        return f"({target.number})"
    if target.kind in NUMFIG_FORMAT:
        return NUMFIG_FORMAT[target.kind] % target.number
    return f"{target.kind.title()} {target.number}"


def resolve_role(role: str, content: str, ctx: Context) -> str:
    """One MyST role as Markdown: a link with the text the site shows."""
    explicit = EXPLICIT.match(content)
    text, label = (explicit["text"], explicit["target"].strip()) if explicit else ("", content.strip())
    if role in ("cite", "cite:p", "cite:t"):
        return cite(role, content, ctx)
    if role == "doc":
        base = ctx.page.doc.rsplit("/", 1)[0] if "/" in ctx.page.doc else ""
        doc = label.lstrip("/") if label.startswith("/") else "/".join(filter(None, [base, label]))
        doc = re.sub(r"\.(md|ipynb)$", "", doc)
        try:
            page = ctx.book.page(doc)
        except BookSourceError as error:
            raise ColabEditionError(f"{ctx.where}: {{doc}}`{content}`: {error}") from None
        return f"[{text or page.title}]({ctx.site.page(page.doc)})"
    if role.startswith("glue"):
        return f"[`{label.split(':', 1)[0]}`]({ctx.site.page(ctx.page.doc)})"  # the site shows the value in place
    if role not in ROLES:
        raise ColabEditionError(
            f"{ctx.where}: the role {{{role}}} has no plain-Markdown form; "
            f"the Colab edition knows {', '.join('{' + r + '}' for r in ROLES)}"
        )
    target = ctx.book.target(label, ctx.where)
    if role == "eq":
        if target.kind != "displaymath":
            raise ColabEditionError(f"{ctx.where}: {{eq}} points at {label!r}, a {target.kind}, not an equation")
        return ctx.link(text or f"({target.number})", target)
    if role == "numref":
        number = numbered_name(target, ctx.where)
        if text:
            bare = number.strip("()") if target.kind == "displaymath" else target.number
            text = text.replace("%s", bare).replace("{number}", bare).replace("{name}", target.title)
        return ctx.link(text or number, target)
    if role == "prf:ref":
        if target.kind in ("section", "target", "figure", "displaymath", "exercise"):
            raise ColabEditionError(f"{ctx.where}: {{prf:ref}} points at {label!r}, which is a {target.kind}")
        return ctx.link(text or numbered_name(target, ctx.where), target)
    # {ref}: a section's title, a numbered exercise or statement by number, or the explicit text
    if target.kind == "displaymath":  # as in Sphinx, where {ref} finds no equation ("undefined label")
        raise ColabEditionError(f"{ctx.where}: {{ref}}`{content}` points at an equation; use {{eq}}`{label}`")
    if text:
        return ctx.link(text, target)
    if target.kind == "section":
        return ctx.link(target.title, target)
    if target.kind == "figure" and target.title:
        return ctx.link(target.title, target)
    if target.kind == "target" or not target.number:
        raise ColabEditionError(f"{ctx.where}: {{ref}}`{label}` needs an explicit text: no heading follows the target")
    return ctx.link(numbered_name(target, ctx.where), target)


def cite(role: str, content: str, ctx: Context) -> str:
    """Author–year citations linked to the site's bibliography; each key is remembered for the References cell."""
    parts = []
    for key in (k.strip() for k in content.split(",")):
        if key not in ctx.bib:
            raise ColabEditionError(f"{ctx.where}: the citation {key!r} is in no bibliography file (bibtex_bibfiles)")
        entry = ctx.bib[key]
        ctx.cited[key] = entry
        url = ctx.site.page(references_doc(ctx.book), f"cite-{re.sub(r'[^a-z0-9]+', '-', key.lower()).strip('-')}")
        label = author_year(entry)
        if role == "cite:t":
            names, year = label.rsplit(", ", 1)
            parts.append(f"{names} [[{year}]({url})]")
        else:
            parts.append(f"[{label}]({url})")
    # In square brackets, as on the site ("[Nadaraya, 1964; Watson, 1964]"); no backslash escapes,
    # which Jupyter's MathJax would read as display maths.
    return ", ".join(parts) if role == "cite:t" else "[" + "; ".join(parts) + "]"


def references_doc(book: Book) -> str:
    """The page with the bibliography (``{bibliography}``), where the citations link."""
    for page in book.pages:
        if any("{bibliography}" in cell["source"] for cell in page.cells if cell["cell_type"] == "markdown"):
            return page.doc
    raise ColabEditionError("no page of _toc.yml holds the {bibliography} directive the citations link to")


def rewrite_target(target: str, image: bool, ctx: Context) -> str:
    """A link or image target that works from Colab: site pages and images, GitHub for repository files."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
        return target  # https:, mailto:, data:
    if target.startswith("#"):
        labelled = ctx.book.target(target[1:], ctx.where)
        return ctx.site.page(labelled.doc, labelled.anchor)
    path = target.split("#", 1)[0]
    base = ctx.page.path.parent
    resolved = (ctx.root / path.lstrip("/")) if path.startswith("/") else (base / path)
    resolved = resolved.resolve()
    if not resolved.exists():
        raise ColabEditionError(f"{ctx.where}: the link target {target!r} does not exist ({resolved})")
    relative = resolved.relative_to(ctx.root.resolve()).as_posix()
    if image:
        return f"{ctx.site.url}_images/{resolved.name}"  # where Sphinx copies every image
    doc = re.sub(r"\.(md|ipynb)$", "", relative)
    if any(page.doc == doc for page in ctx.book.pages):
        anchor = target.split("#", 1)[1] if "#" in target else ""
        return ctx.site.page(doc, anchor)
    return f"{ctx.site.repository}/blob/{ctx.site.branch}/{relative}"


def convert_inline(text: str, ctx: Context) -> str:
    """Roles resolved, then relative links and images pointed at the site (code and maths left alone)."""
    text = ROLE.sub(lambda m: resolve_role(m["role"], m["content"], ctx), text)
    pieces, last = [], 0
    for match in PROTECTED.finditer(text):
        pieces.append(_links(text[last : match.start()], ctx))
        pieces.append(match.group(0))
        last = match.end()
    pieces.append(_links(text[last:], ctx))
    return "".join(pieces)


def _links(text: str, ctx: Context) -> str:
    text = LINK.sub(
        lambda m: f"{m['bang']}[{m['text']}]({rewrite_target(m['target'], bool(m['bang']), ctx)}{m['title'] or ''})",
        text,
    )
    return HTML_IMAGE.sub(lambda m: m.group(1) + rewrite_target(m["target"], True, ctx) + m.group(3), text)


# --------------------------------------------------------------------------- #
# Blocks: directives, labelled maths, targets
# --------------------------------------------------------------------------- #
def convert_markdown(text: str, ctx: Context) -> str:
    """A MyST text as plain Markdown; solutions are left as markers for the cell-level pass to fold."""
    lines = text.split("\n")
    out: list[str] = []
    prose: list[str] = []
    after_block = False  # the last thing written is a converted directive

    def flush() -> None:
        nonlocal after_block
        if prose:
            if after_block and prose[0].strip():
                out.append("")  # a blank line between the block and the text that followed its fence
            out.append(convert_inline("\n".join(prose), ctx))
            prose.clear()
            after_block = False

    i = 0
    while i < len(lines):
        line = lines[i]
        if (opened := DIRECTIVE_OPEN.match(line)) is not None:
            flush()
            if out and out[-1].split("\n")[-1].strip():
                out.append("")  # a blank line between text and the block its fence interrupted
            end = fence_end(lines, i + 1, opened["fence"], ctx.where)
            options, body_start = directive_options(lines, i + 1)
            body = "\n".join(lines[body_start:end])
            out.append(directive(opened["name"], opened["arg"].strip(), options, body, ctx))
            after_block = True
            i = end + 1
            continue
        if (code := CODE_OPEN.match(line)) is not None:
            flush()
            end = fence_end(lines, i + 1, code["fence"], ctx.where)
            out.append("\n".join(lines[i : end + 1]))
            i = end + 1
            continue
        if TARGET.match(line) or line.startswith("% ") or line.strip() == "%":
            i += 1  # a label (links go to the site) or a MyST comment
            continue
        if (math := LABELLED_MATH.search(line)) is not None:
            target = ctx.book.target(math["label"], ctx.where)
            before = line[: math.start()]  # what precedes the closing $$ on its line
            tag = f"\\tag{{{target.number}}}"
            prose.append(f"{before.rstrip()} {tag} $$" if before.strip() else f"{before}{tag}\n$$")
            i += 1
            continue
        prose.append(line)
        i += 1
    flush()
    return "\n".join(out)


def _titled(title: str, body: str) -> str:
    body = body.strip("\n")
    return f"**{title}**\n\n{body}" if body else f"**{title}**"


def directive(name: str, arg: str, options: dict[str, str], body: str, ctx: Context) -> str:
    """One directive as plain Markdown (its body converted in turn)."""
    label = options.get("label") or options.get("name")
    if name == "solution-start":
        return f"{SOLUTION_START}{arg}\x00"
    if name == "solution-end":
        return SOLUTION_END
    if name == "solution":  # the whole solution in one directive
        return _folded(convert_markdown(body, ctx), numbered_name(ctx.book.target(arg, ctx.where), ctx.where), False)
    if name == "prf:proof":
        content = convert_markdown(body, ctx).strip("\n")
        return (
            f"*Proof.* {content}\n\n∎"
            if not content.startswith(("$$", "-", "1.", "`"))
            else f"*Proof.*\n\n{content}\n\n∎"
        )
    if name.startswith("prf:") or name == "exercise":
        kind = name.removeprefix("prf:")
        if "nonumber" in options:
            number = ""
        elif label:
            number = ctx.book.target(label, ctx.where).number
        else:
            number = ctx.unlabelled.setdefault(kind, list(ctx.page.unlabelled.get(kind, []))).pop(0)
        heading = " ".join(filter(None, [kind.title(), number]))
        if arg:
            heading += f" ({convert_inline(arg, ctx)})"
        return _titled(heading + ".", convert_markdown(body, ctx))
    if name == "admonition" and "dropdown" in options.get("class", "").split():  # folded on the site: folded here
        name, options = "dropdown", {}
    if name == "admonition":
        return _titled(convert_inline(arg, ctx) + ".", convert_markdown(body, ctx))
    if name in ADMONITIONS:
        title = "See also" if name == "seealso" else name.title()
        title = f"{title}: {convert_inline(arg, ctx)}" if arg else title
        return _titled(title + ".", convert_markdown(body, ctx))
    if name == "dropdown":
        summary = convert_inline(arg, ctx)
        return f"<details>\n<summary>{summary}</summary>\n\n{convert_markdown(body, ctx)}\n\n</details>"
    if name == "figure":
        source = rewrite_target(arg, True, ctx)
        alt = html.escape(options.get("alt", ""), quote=False).replace('"', "&quot;")
        width = f' width="{options["width"]}"' if "width" in options else ""
        image = f'<img src="{source}" alt="{alt}"{width}>'
        caption = convert_markdown(body, ctx).strip()
        if not caption:
            return image
        number = ctx.book.target(label, ctx.where).number if label else ""
        return f"{image}\n\n" + (f"**{NUMFIG_FORMAT['figure'] % number}** {caption}" if number else caption)
    if name == "math":
        tag = f"\n\\tag{{{ctx.book.target(label, ctx.where).number}}}" if label else ""
        return f"$$\n{body.strip()}{tag}\n$$"
    raise ColabEditionError(
        f"{ctx.where}: the directive {{{name}}} has no plain-Markdown form; "
        f"the Colab edition knows {', '.join('{' + d + '}' for d in DIRECTIVES)}"
    )


# --------------------------------------------------------------------------- #
# Cells and notebooks
# --------------------------------------------------------------------------- #
def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _hidden(metadata: dict) -> dict:
    """Cell metadata that folds the code: Colab's "Show code" (cellView form) and Jupyter's source_hidden."""
    jupyter = {**metadata.get("jupyter", {}), "source_hidden": True}
    return {**metadata, "cellView": "form", "jupyter": jupyter}


def _folded(text: str, exercise: str, continued: bool) -> str:
    summary = f"Solution to {exercise}" + (" (continued)" if continued else "")
    return f"<details>\n<summary>{summary}</summary>\n\n{text.strip()}\n\n</details>"


def _markdown_cell(cell_id: str, text: str, metadata: dict | None = None) -> dict:
    return {"cell_type": "markdown", "id": cell_id, "metadata": metadata or {}, "source": _lines(text)}


def edition_line(ctx: Context) -> str:
    """The line under a notebook's title: which chapter of which book, and the same page on the site."""
    page = ctx.page
    where = f"Chapter {page.chapter}" if page.chapter is not None else "A page"
    return (
        f"*{where} of [{ctx.site.title}]({ctx.site.url}), Colab edition. The same page on the book's site: "
        f"[{page.title}]({ctx.site.page(page.doc)}).*" + (f" *{GLUE_NOTE}*" if uses_glue(page) else "")
    )


def uses_glue(page: Page) -> bool:
    return any(re.search(r"\{glue[\w:]*\}`", cell["source"]) for cell in page.cells if cell["cell_type"] == "markdown")


def convert_notebook(page: Page, book: Book, bib: dict[str, Entry], site: Site, root: Path = ROOT) -> dict:
    """The Colab edition of one notebook page, as a notebook dict (cells without outputs)."""
    source = json.loads(page.path.read_text(encoding="utf-8"))
    ctx = Context(book, bib, site, root, page)
    cells: list[dict] = []
    solution: str | None = None  # "Exercise 1.2" while inside a solution
    continued = False
    title_done = False
    for number, cell in enumerate(source["cells"]):
        ctx.where = f"{page.path.relative_to(root)}, cell {number}"
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        metadata = {k: v for k, v in cell.get("metadata", {}).items() if k != "mystnb"}
        if cell["cell_type"] == "code":
            hidden = solution is not None or any(tag in metadata.get("tags", []) for tag in HIDDEN_TAGS)
            cells.append(
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "id": cell["id"],
                    "metadata": _hidden(metadata) if hidden else metadata,
                    "outputs": [],
                    "source": _lines(text),
                }
            )
            figure = cell.get("metadata", {}).get("mystnb", {}).get("figure", {})
            if figure.get("caption"):
                name = figure.get("name")
                number_text = ctx.book.target(name, ctx.where).number if name else ""
                caption = convert_inline(figure["caption"], ctx)
                line = f"**{NUMFIG_FORMAT['figure'] % number_text}** {caption}" if number_text else caption
                if solution is not None:
                    line, continued = _folded(line, solution, continued), True
                cells.append(_markdown_cell(f"{cell['id']}-caption", line))
            continue
        if cell["cell_type"] != "markdown":
            cells.append({**cell, "metadata": metadata})
            continue
        converted = convert_markdown(text, ctx)
        if not title_done:
            converted = re.sub(
                r"^(# .+)$", lambda m: f"{m.group(1)}\n\n{edition_line(ctx)}", converted, count=1, flags=re.M
            )
            title_done = True
        parts: list[str] = []
        for piece in re.split(r"(\x00solution-start:[^\x00]*\x00|\x00solution-end\x00)", converted):
            if piece.startswith(SOLUTION_START):
                label = piece[len(SOLUTION_START) : -1]
                solution, continued = numbered_name(ctx.book.target(label, ctx.where), ctx.where), False
            elif piece == SOLUTION_END:
                solution = None
            elif piece.strip() and solution is not None:
                parts.append(_folded(piece, solution, continued))
                continued = True
            elif piece.strip():
                parts.append(piece.strip("\n"))
        if solution is not None and not continued:  # the cell opens a solution whose first part is code
            parts.append(f"**Solution to {solution}**, folded below.")
            continued = True
        if parts:
            cells.append(_markdown_cell(cell["id"], "\n\n".join(parts), metadata))
    if solution is not None:
        raise ColabEditionError(
            f"{page.path.relative_to(root)}: a {{solution-start}} for {solution} has no {{solution-end}}"
        )
    if ctx.cited:
        entries = sorted(ctx.cited.items(), key=lambda item: author_year(item[1]).lower())
        lines = ["## References", ""] + [f"- **{author_year(entry)}.** {entry_text(entry)}" for _, entry in entries]
        cells.append(_markdown_cell("colab-edition-references", "\n".join(lines)))
    return {**source, "cells": cells}


def notebook_json(notebook: dict) -> str:
    """As nbformat writes it (sorted keys, one-space indent, Unicode kept), with a final newline."""
    return json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


README = """# The Colab edition

The book's notebooks with their MyST markup written out as plain Markdown, for Google
Colab and Jupyter: references and citations as text linked to the book's site
({site}), figure captions under the figures, solutions folded. The launch buttons on
the site open these files.

Generated from `book/` by `python scripts/colab_edition.py`: edit the chapters there and
run it again (the tests fail while this folder differs from what the script writes).
"""


def write_edition(out: Path, root: Path = ROOT) -> list[Path]:
    """Write the Colab edition of every notebook page (but those of ``CLONE_ONLY``) into ``out``; returns the
    files written.

    Files in ``out`` that the edition does not contain are removed, so a renamed chapter
    leaves no stale copy behind.
    """
    book = read_book(root)
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    bib = {key: entry for path in config.get("bibtex_bibfiles", []) for key, entry in read_bib(root / path).items()}
    site = site_from_config(root)
    out.mkdir(parents=True, exist_ok=True)
    files = {out / "README.md": README.format(site=site.url)}
    for page in book.pages:
        if page.path.suffix == ".ipynb" and page.doc not in CLONE_ONLY:
            files[out / page.path.name] = notebook_json(convert_notebook(page, book, bib, site, root))
    for old in out.iterdir():
        if old.is_file() and old not in files:
            old.unlink()
    for path, text in files.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    return sorted(files)


def stale_files(folder: Path, root: Path = ROOT) -> list[str]:
    """The names of files in ``folder`` that differ from a fresh edition, are missing or are extra."""
    with tempfile.TemporaryDirectory() as scratch:
        fresh = {path.name: path.read_bytes() for path in write_edition(Path(scratch), root)}
    have = {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()} if folder.is_dir() else {}
    return sorted(name for name in fresh.keys() | have.keys() if fresh.get(name) != have.get(name))


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    """The command line; ``root`` is the repository whose book is converted (this one by default)."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=root / FOLDER, help="folder to write (default: colab/)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming the files of --out that differ from a fresh edition",
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            stale = stale_files(args.out, root)
            if stale:
                print(
                    f"{args.out} is stale: {', '.join(stale)}; run `python scripts/colab_edition.py`", file=sys.stderr
                )
                return 1
            print(f"{args.out} is up to date")
            return 0
        written = write_edition(args.out, root)
    except (BookSourceError, ValueError) as error:
        print(f"colab_edition.py: {error}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
