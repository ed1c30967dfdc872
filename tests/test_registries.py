"""One list of mixers and one of corpora, and every place that names them agrees with it.

The registries are ``cubit_lite.mixers.layers._REGISTRY`` (-> ``MIXER_NAMES``,
``MIXER_SUMMARIES``) and ``cubit_lite.data._CORPUS_BUILDERS`` (-> ``CORPORA``).
CONTRIBUTING.md's checklists point here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cubit_lite import data, train
from cubit_lite.mixers import MIXER_NAMES, MIXER_SUMMARIES, build_mixer, layers
from cubit_lite.plotting import COLORS

ROOT = Path(__file__).resolve().parents[1]


def test_every_mixer_has_one_summary_in_registry_order():
    assert tuple(MIXER_SUMMARIES) == MIXER_NAMES
    assert all(line.strip() for line in MIXER_SUMMARIES.values())


def test_every_mixer_builds_and_has_a_colour():
    for name in MIXER_NAMES:
        assert build_mixer(name, 16, 2).name == name
        assert name in COLORS, f"cubit_lite.plotting.COLORS has no colour for the mixer {name!r}"


def test_the_layers_module_table_is_mixer_summaries():
    """The docstring's table (for readers of the source) says what MIXER_SUMMARIES says
    (for ``--help``): the same mixers in the same order, the same words without the markup."""
    table = re.findall(r'^``"([a-z-]+)"``\s+(.+)$', layers.__doc__, flags=re.M)
    assert tuple(name for name, _ in table) == MIXER_NAMES
    for name, text in table:
        assert text.replace("``", "").strip() == MIXER_SUMMARIES[name], name


def test_the_readme_points_to_help_for_the_mixers():
    """The mixers are listed once, by the command line's --help (from MIXER_SUMMARIES); README sends readers there."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    train = readme[readme.index("## Train a model"):]
    assert re.search(r"any of its token mixers\s+\(`--help` lists them", train), "README.md no longer points to --help"
    assert "`cubit-nolrr`" not in readme, "README.md repeats the mixer list that --help gives"


def test_the_command_line_help_lists_every_mixer_and_corpus(capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--help"])
    shown = "".join(capsys.readouterr().out.split())  # argparse wraps lines (also at hyphens)
    for name, line in MIXER_SUMMARIES.items():
        assert "".join(f"{name}: {line}".split()) in shown
    for name in data.CORPORA:
        assert name in shown


def test_every_corpus_name_maps_to_a_builder():
    assert data.CORPORA == tuple(data._CORPUS_BUILDERS)
    assert all(callable(builder) for builder in data._CORPUS_BUILDERS.values())


def test_the_readme_names_every_corpus():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in data.CORPORA:
        assert f"`{name}`" in readme


def test_an_unknown_corpus_name_is_an_error_that_lists_the_registry(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="unknown corpus 'tinystories': choose one of shakespeare, python-stdlib"):
        data.load_corpus("tinystories")
