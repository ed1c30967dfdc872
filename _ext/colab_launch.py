"""The Colab launch button opens the chapter's Colab edition, ``colab/NAME.ipynb``.

sphinx-book-theme builds the button's URL from ``repository.url``, ``branch`` and the
page's own path, so it would open ``book/NAME.ipynb``: MyST that Colab shows half
rendered. ``scripts/colab_edition.py`` writes the same notebook as plain Markdown into
``colab/``; this extension runs after the theme's ``add_launch_buttons`` (same event,
later priority) and points the button there:

    https://colab.research.google.com/github/OWNER/REPO/blob/REF/colab/NAME.ipynb

``REF`` is ``repository.branch`` (``_config.yml``), or the environment variable
``BOOK_GIT_REF`` when set: ``scripts/release.py`` sets it to the edition's tag, so the
site of a tagged edition opens that edition's notebooks. A notebook page without a Colab
edition is a build warning (an error in the strict build), naming the command that
writes it, except the pages of :data:`CLONE_ONLY`, whose launch menu is removed.

Registered in ``_config.yml`` under ``sphinx.local_extensions``.
"""

from __future__ import annotations

import os
from pathlib import Path

from sphinx.util import logging

FOLDER = "colab"  # scripts/colab_edition.py writes here
CLONE_ONLY = {
    "book/troubleshooting": "it runs the repository's own scripts (experiments/run_lm.py, _ext/offline_assets.py), "
    "which a Colab runtime, where cubit_lite is installed by pip, does not have",
}
"""Notebook pages that run only in a clone of the repository, and why: read on the site (where they are
executed), never opened elsewhere. They have no launch button, no Colab edition
(``scripts/colab_edition.py``) and no student edition (``scripts/student_edition.py``)."""
REF_VARIABLE = "BOOK_GIT_REF"
LOGGER = logging.getLogger(__name__)


def edition_url(theme_url: str, ref: str, pagename: str) -> str:
    """The theme's Colab URL (``.../github/OWNER/REPO/blob/BRANCH/PATH``), opening ``colab/NAME.ipynb`` at ``ref``."""
    head, separator, _ = theme_url.partition("/blob/")
    if not separator:
        raise ValueError(f"not a Colab URL of a GitHub file (no '/blob/'): {theme_url!r}")
    return f"{head}/blob/{ref}/{FOLDER}/{Path(pagename).name}.ipynb"


def build_ref(branch: str) -> str:
    """The git ref the buttons open: ``BOOK_GIT_REF`` when set (a tagged edition), else the configured branch."""
    return os.environ.get(REF_VARIABLE, "").strip() or branch


def colab_buttons(context: dict) -> list[dict]:
    """The Colab entries of the page's launch menu (none on a page without a notebook)."""
    return [
        button
        for group in context.get("header_buttons", [])
        if group.get("label") == "launch-buttons"
        for button in group.get("buttons", [])
        if button.get("text") == "Colab"
    ]


def point_at_colab_edition(app, pagename: str, templatename: str, context: dict, doctree) -> None:
    """``html-page-context``: rewrite the Colab button of a notebook page to open its Colab edition
    (remove the launch menu of a page of :data:`CLONE_ONLY`)."""
    if pagename in CLONE_ONLY:
        context["header_buttons"] = [group for group in context.get("header_buttons", [])
                                     if group.get("label") != "launch-buttons"]
        return
    buttons = colab_buttons(context)
    if not buttons:
        return
    notebook = Path(app.srcdir) / FOLDER / f"{Path(pagename).name}.ipynb"
    if not notebook.is_file():
        LOGGER.warning(
            f"{pagename} has no Colab edition ({FOLDER}/{notebook.name}); run `python scripts/colab_edition.py`",
            location=pagename,
        )
        return
    branch = app.config.html_theme_options.get("repository_branch") or "main"
    for button in buttons:
        button["url"] = edition_url(button["url"], build_ref(branch), pagename)


def setup(app):
    # sphinx-book-theme adds the launch buttons at priority 501.
    app.connect("html-page-context", point_at_colab_edition, priority=502)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
