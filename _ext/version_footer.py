"""The site names its version: ``cubit_lite.__version__`` in every page's footer and in the preface.

The version is written once, in ``cubit_lite/__init__.py``; this extension reads it from
there (without importing the library) and

* appends "Version X · Cite this book" to every page's footer, the link going to the
  preface's "Cite this book" section (relative, so the offline site keeps it);
* gives MyST the substitution ``{{ version }}``, which the preface's citation uses.

Registered in ``_config.yml`` under ``sphinx.local_extensions``.
"""

from __future__ import annotations

import ast
from pathlib import Path

INIT = Path("cubit_lite") / "__init__.py"
CITE_PAGE, CITE_ANCHOR = "book/preface", "cite-this-book"


def read_version(root: Path) -> str:
    """``__version__`` as assigned in ``cubit_lite/__init__.py`` under ``root``."""
    tree = ast.parse((root / INIT).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return node.value.value
    raise ValueError(f"{root / INIT} assigns no string to __version__")


def footer_html(version: str, cite_href: str) -> str:
    return f'<p class="book-version">Version {version} · <a href="{cite_href}">Cite this book</a></p>'


def add_substitution(app, config) -> None:
    """``config-inited``: ``{{ version }}`` for MyST pages."""
    config.myst_substitutions = {**getattr(config, "myst_substitutions", {}), "version": read_version(Path(app.srcdir))}


def add_version_to_footer(app, pagename: str, templatename: str, context: dict, doctree) -> None:
    """``html-page-context``: the theme's extra footer, followed by the version and the citation link."""
    page = "" if pagename == CITE_PAGE else context["pathto"](CITE_PAGE)  # pathto gives "#" for the page itself
    href = f"{page}#{CITE_ANCHOR}"
    version = app.config.myst_substitutions["version"]
    context["theme_extra_footer"] = (context.get("theme_extra_footer") or "") + footer_html(version, href)


def setup(app):
    app.connect("config-inited", add_substitution)
    app.connect("html-page-context", add_version_to_footer)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
