"""Sliders that show how a figure changes with one parameter, live or on a static page.

Every chapter uses one function, :func:`parameter_slider`, to answer "what happens as
the bandwidth ``h`` (or the ridge ``λ``) changes?". It has two ways to do it:

``"live"``
    A slider and an ``Image`` widget: each move asks the running kernel to redraw the
    figure and replaces the image's PNG bytes. Works with ipywidgets 7 and 8
    (JupyterLab, Notebook 7, VS Code, Google Colab), and dies with the kernel.

``"static"``
    Every frame is drawn once, in advance, as a PNG inside an ``HTML`` widget; the
    frames sit in an ipywidgets 8 ``Stack`` whose ``selected_index`` is tied to the
    slider's ``index`` by :func:`ipywidgets.jslink`. The link runs in the browser,
    so once the notebook has been executed the slider works on the built web page
    with no kernel at all (the widget state saved with the notebook holds the
    frames and the link), and it works in a live notebook too. The default frame is
    selected before anyone touches the slider.

``mode="auto"`` (the default) picks ``"static"`` where it can (ipywidgets >= 8,
outside Colab) — which is what the book build needs — and ``"live"`` elsewhere.
The environment variable ``CUBIT_LITE_SLIDERS=live|static`` overrides the automatic
choice for a whole session; an explicit ``mode=`` argument overrides both.
"""

from __future__ import annotations

import base64
import html
import io
import os
import sys
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from cubit_lite.plotting import FIGURE_DPI, fit_figure_to_content
from cubit_lite.validation import one_of

__all__ = ["SLIDER_MODES", "figure_to_png", "live_slider", "parameter_slider", "resolve_mode", "static_slider"]

SLIDER_MODES = ("auto", "live", "static")
"""Accepted values of ``mode`` and of the ``CUBIT_LITE_SLIDERS`` environment variable."""

ENV_VAR = "CUBIT_LITE_SLIDERS"

MakeFigure = Callable[[float], Figure]


def _has_stack() -> bool:
    """Whether this ipywidgets has ``Stack`` (added in ipywidgets 8)."""
    return hasattr(widgets, "Stack")


def _in_colab() -> bool:
    return "google.colab" in sys.modules


def resolve_mode(mode: str = "auto") -> str:
    """Turn ``"auto"`` into ``"live"`` or ``"static"`` (see the module docstring).

    Raises:
        ValueError: for an unknown mode, or ``"static"`` on ipywidgets 7.
    """
    one_of("slider mode", mode, SLIDER_MODES)
    if mode == "auto":
        mode = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
        if mode not in SLIDER_MODES:
            raise ValueError(
                f"environment variable {ENV_VAR}={os.environ[ENV_VAR]!r} is not a slider mode; "
                f"use one of {', '.join(SLIDER_MODES)}"
            )
    if mode == "auto":
        mode = "static" if _has_stack() and not _in_colab() else "live"
    if mode == "static" and not _has_stack():
        raise ValueError(
            f"static sliders need ipywidgets >= 8 (this is {widgets.__version__}); use mode='live'"
        )
    return mode


def figure_to_png(fig: Figure, dpi: int = FIGURE_DPI) -> bytes:
    """Render a Matplotlib figure to PNG bytes and close it (so it is not shown twice).

    The figure is first narrowed to the site's content column
    (:func:`cubit_lite.plotting.fit_figure_to_content`; pyplot figures made after
    ``use_book_style()`` already are), so that a frame is never shown scaled down,
    with its text below the book's minimum size.
    """
    fit_figure_to_content(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor=fig.get_facecolor())
    plt.close(fig)
    return buffer.getvalue()


def _png_size(png: bytes) -> tuple[int, int]:
    """``(width, height)`` in pixels, from a PNG's header (its IHDR chunk)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _png_html(png: bytes, alt: str, dpi: int = FIGURE_DPI) -> str:
    """An ``<img>`` of the PNG, as wide in CSS pixels as the figure would be at 96 dpi.

    A frame drawn at a higher ``dpi`` is sharper on a high-density screen but no larger
    (its ``width`` attribute is its pixel width times ``96 / dpi``), so its text has the
    same size on the page whatever the ``dpi``.
    """
    data = base64.b64encode(png).decode("ascii")
    width = round(_png_size(png)[0] * FIGURE_DPI / dpi)
    return (
        f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt, quote=True)}" '
        f'width="{width}" style="max-width:100%;height:auto;display:block">'
    )


def _validated(values: Sequence[float], default: float | None, fmt: str) -> tuple[list[float], int, list[str]]:
    values = [float(v) for v in values]
    if not values:
        raise ValueError("values is empty; give at least one parameter value for the slider")
    if default is None:
        index = len(values) // 2
    else:
        matches = [i for i, v in enumerate(values) if abs(v - float(default)) <= 1e-12 * max(1.0, abs(v))]
        if not matches:
            raise ValueError(f"default={default!r} is not one of the slider values {values}")
        index = matches[0]
    labels = [fmt.format(v) for v in values]
    if len(set(labels)) != len(labels):
        raise ValueError(f"fmt={fmt!r} gives repeated labels {labels}; use a format with more digits")
    return values, index, labels


def _selection_slider(labels: list[str], index: int, description: str) -> widgets.SelectionSlider:
    return widgets.SelectionSlider(
        options=labels,
        index=index,
        description=description,
        continuous_update=True,
        style={"description_width": "initial"},
        layout=widgets.Layout(width="min(100%, 560px)"),
    )


def static_slider(
    make_figure: MakeFigure,
    values: Sequence[float],
    *,
    description: str,
    fmt: str = "{:.3g}",
    default: float | None = None,
    alt: str | None = None,
    dpi: int = FIGURE_DPI,
) -> widgets.VBox:
    """A slider over precomputed frames that works with no kernel (ipywidgets >= 8).

    ``make_figure(value)`` is called once per value; each figure becomes a PNG in an
    ``HTML`` widget, the frames go into a ``Stack``, and
    ``jslink((slider, "index"), (stack, "selected_index"))`` switches them in the
    browser. Returns ``VBox([slider, stack])``.
    """
    resolve_mode("static")  # clear error on ipywidgets 7
    values, index, labels = _validated(values, default, fmt)
    alt = alt or f"Figure for {description} = {{}}"
    frames = [
        widgets.HTML(value=_png_html(figure_to_png(make_figure(v), dpi), alt.format(label), dpi))
        for v, label in zip(values, labels, strict=True)
    ]
    stack = widgets.Stack(children=frames, selected_index=index)
    slider = _selection_slider(labels, index, description)
    widgets.jslink((slider, "index"), (stack, "selected_index"))
    return widgets.VBox([slider, stack])


def live_slider(
    make_figure: MakeFigure,
    values: Sequence[float],
    *,
    description: str,
    fmt: str = "{:.3g}",
    default: float | None = None,
    dpi: int = FIGURE_DPI,
) -> widgets.VBox:
    """A slider that asks the running kernel to redraw (ipywidgets 7 and 8).

    The figure is a PNG in an :class:`ipywidgets.Image`; moving the slider draws the
    chosen value and replaces the image's bytes. Nothing is printed or displayed from
    inside a widget: no ``Output`` capture, no ``clear_output``. (``interactive_output``,
    used before, captures through an ``Output`` widget, whose every captured display
    makes a notebook runner such as nbclient send the widget's state back to the kernel
    while cells are still queued; see the Colab-shaped test's docstring.) Nothing is
    precomputed, so a dense grid of ``values`` costs nothing until a value is chosen.
    Returns ``VBox([slider, image])``.
    """
    values, index, labels = _validated(values, default, fmt)
    slider = _selection_slider(labels, index, description)
    image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%", height="auto"))

    def draw(value: float) -> None:
        image.value = figure_to_png(make_figure(value), dpi)

    slider.observe(lambda change: draw(values[change["new"]]), names="index")
    draw(values[index])
    return widgets.VBox([slider, image])


def parameter_slider(
    make_figure: MakeFigure,
    values: Sequence[float],
    *,
    description: str,
    fmt: str = "{:.3g}",
    default: float | None = None,
    mode: str = "auto",
    alt: str | None = None,
    dpi: int = FIGURE_DPI,
) -> widgets.VBox:
    """The book's one way to show a figure as a function of one parameter.

    Args:
        make_figure: ``value -> matplotlib.figure.Figure``; it is closed after use.
        values: the parameter values the slider offers, in slider order.
        description: the slider's label, e.g. ``"bandwidth h"``.
        fmt: how a value is printed on the slider, e.g. ``"{:.3g}"``.
        default: the value shown first (one of ``values``); the middle one if None.
        mode: ``"auto"``, ``"live"`` or ``"static"`` (see the module docstring).
        alt: alternative text of each static frame; ``{}`` is replaced by the value.
        dpi: resolution of the frames' PNGs; a frame is shown as wide as at 96 dpi
            (a higher ``dpi`` only sharpens it), never wider than the content column.

    Returns:
        A widget; make it the last expression of a cell to display it.
    """
    mode = resolve_mode(mode)
    if mode == "static":
        return static_slider(make_figure, values, description=description, fmt=fmt, default=default, alt=alt, dpi=dpi)
    return live_slider(make_figure, values, description=description, fmt=fmt, default=default, dpi=dpi)
