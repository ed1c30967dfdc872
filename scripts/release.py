"""Release an edition of the book: check the version agrees everywhere, build what belongs to it, tag it.

An edition is a git tag ``vX.Y.Z`` with its site, student edition, slides and PDF, whose
Colab buttons open the notebooks of that tag. To release version X.Y.Z:

1. set ``__version__ = "X.Y.Z"`` in ``cubit_lite/__init__.py`` (the one source of the version);
2. in ``CHANGELOG.md``, turn "## Unreleased" into "## X.Y.Z — YYYY-MM-DD";
3. in ``CITATION.cff``, set ``version: "X.Y.Z"`` and ``date-released: "YYYY-MM-DD"``;
4. regenerate the Colab edition (``python scripts/colab_edition.py``) and commit;
5. run this script, then ``git push origin vX.Y.Z``.

::

    python scripts/release.py              # check, build everything, tag
    python scripts/release.py --check      # only check that version, CHANGELOG and CITATION.cff agree
    python scripts/release.py --no-build   # check and tag, build nothing

It refuses (exit status 1, saying what disagrees) when the version, the newest release of
``CHANGELOG.md`` and ``CITATION.cff`` disagree; when ``CHANGELOG.md`` still has entries
under "Unreleased"; when the work tree has uncommitted changes; or when the tag exists.
The build, with ``BOOK_GIT_REF=vX.Y.Z`` so that the site's Colab buttons open the tag
(``_ext/colab_launch.py``), is: the Colab edition checked fresh, ``scripts/build_book.sh``
(the site, strictly, and the student edition), then ``scripts/build_editions.sh`` (slides
and PDF) when that script exists. The tag is made only after the build succeeded.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
VERSION_FILE = Path("cubit_lite") / "__init__.py"
RELEASE_HEADING = re.compile(r"^## (?P<version>\d+\.\d+\.\d+\S*) [—–-] (?P<date>\d{4}-\d{2}-\d{2})\s*$", re.M)
EDITIONS_HOOK = Path("scripts") / "build_editions.sh"  # slides and PDF, when present


class ReleaseRefused(RuntimeError):
    """Something that must agree before a release does not; the message says what."""


def package_version(root: Path = ROOT) -> str:
    """``__version__`` as assigned in ``cubit_lite/__init__.py``."""
    tree = ast.parse((root / VERSION_FILE).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return node.value.value
    raise ReleaseRefused(f"{VERSION_FILE} assigns no string to __version__")


def changelog_release(root: Path = ROOT) -> tuple[str, str]:
    """(version, date) of the newest "## X.Y.Z — YYYY-MM-DD" heading of ``CHANGELOG.md``."""
    match = RELEASE_HEADING.search((root / "CHANGELOG.md").read_text(encoding="utf-8"))
    if match is None:
        raise ReleaseRefused('CHANGELOG.md has no release heading "## X.Y.Z — YYYY-MM-DD"')
    return match["version"], match["date"]


def unreleased_entries(root: Path = ROOT) -> list[str]:
    """The lines under "## Unreleased" (before the next release heading), blank lines left out."""
    text = (root / "CHANGELOG.md").read_text(encoding="utf-8")
    section = re.search(r"^## Unreleased\s*$(?P<body>.*?)(?=^## |\Z)", text, re.M | re.S)
    return [line for line in section["body"].splitlines() if line.strip()] if section else []


def citation(root: Path = ROOT) -> dict:
    return yaml.safe_load((root / "CITATION.cff").read_text(encoding="utf-8"))


def disagreements(root: Path = ROOT) -> list[str]:
    """What keeps the version, CHANGELOG.md and CITATION.cff from naming one release; empty when they agree."""
    version = package_version(root)
    logged, date = changelog_release(root)
    cff = citation(root)
    problems = []
    if logged != version:
        problems.append(f"{VERSION_FILE} says {version}, but the newest release of CHANGELOG.md is {logged}")
    if str(cff.get("version")) != version:
        problems.append(f"{VERSION_FILE} says {version}, but CITATION.cff says version {cff.get('version')}")
    if str(cff.get("date-released")) != date:
        problems.append(
            f"CHANGELOG.md dates {logged} {date}, but CITATION.cff says date-released {cff.get('date-released')}"
        )
    return problems


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        raise ReleaseRefused(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def release_problems(root: Path, tag: str) -> list[str]:
    """Everything that forbids tagging ``tag`` now: disagreements, unreleased entries, a dirty tree, the tag taken."""
    problems = disagreements(root)
    if unreleased_entries(root):
        problems.append('CHANGELOG.md has entries under "## Unreleased": move them under the release heading')
    if git(root, "status", "--porcelain").strip():
        problems.append("the work tree has uncommitted changes (git status): commit them first")
    if git(root, "tag", "--list", tag).strip():
        problems.append(f"the tag {tag} exists already")
    return problems


def build(root: Path, tag: str) -> None:
    """The edition's site (Colab buttons at ``tag``), student edition, slides and PDF."""
    env = {**os.environ, "BOOK_GIT_REF": tag}
    steps = [[sys.executable, "scripts/colab_edition.py", "--check"], ["bash", "scripts/build_book.sh"]]
    if (root / EDITIONS_HOOK).is_file():
        steps.append(["bash", str(EDITIONS_HOOK)])
    else:
        print(f"==> no {EDITIONS_HOOK}: slides and PDF are not built", flush=True)
    for step in steps:
        print(f"==> {' '.join(step)}", flush=True)
        if subprocess.run(step, cwd=root, env=env).returncode != 0:
            raise ReleaseRefused(f"{' '.join(step)} failed; nothing was tagged")


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check", action="store_true", help="only check that the version, CHANGELOG.md and CITATION.cff agree"
    )
    mode.add_argument("--no-build", action="store_true", help="check and tag, build nothing")
    args = parser.parse_args(argv)
    try:
        version = package_version(root)
        tag = f"v{version}"
        problems = disagreements(root) if args.check else release_problems(root, tag)
        if problems:
            raise ReleaseRefused("\n".join(f"- {problem}" for problem in problems))
        if args.check:
            print(f"version {version}: cubit_lite, CHANGELOG.md and CITATION.cff agree")
            return 0
        if not args.no_build:
            build(root, tag)
        git(root, "tag", "-a", tag, "-m", f"Attention as Regression {version}")
    except ReleaseRefused as refusal:
        print(f"release.py: refused:\n{refusal}", file=sys.stderr)
        return 1
    print(
        f"tagged {tag} at {git(root, 'rev-parse', '--short', 'HEAD').strip()}; publish it with `git push origin {tag}`"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
