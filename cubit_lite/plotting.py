"""The book's figure style: one colour per method, readable in light and dark themes.

Figures are drawn on an opaque white background so that they stay legible when a
reader switches the site to its dark theme. Colours follow the Okabe–Ito palette,
which stays distinguishable for the common forms of colour blindness.

**Text is never shrunk below** :data:`MIN_FONT_PT`. The site shows a figure's PNG at its
natural size (one PNG pixel per CSS pixel at :data:`FIGURE_DPI`) unless the PNG is wider
than the content column, which then scales it down (``max-width: 100%``) and every
font with it. So the book style keeps both halves of the rule:

* every font size it sets is at least :data:`MIN_FONT_PT` (8 pt, the size of
  :func:`token_heatmap`'s token labels, the smallest text the style draws);
* every figure made with :mod:`matplotlib.pyplot` after :func:`use_book_style` is at
  most :data:`MAX_FIGURE_WIDTH_IN` wide (:func:`fit_figure_to_content`, a
  ``figure.hooks`` entry), so that its PNG, margin included, fits the
  :data:`CONTENT_WIDTH_PX` column and is shown at full size. A wider ``figsize``
  keeps its height and gets the column's width: the text keeps its size in points
  and the data gets less room, instead of the whole picture being shrunk.

``tests/test_plotting.py`` checks both on Matplotlib (and the font sizes the chapters
set themselves); ``tests/test_browser.py`` checks the built site, where every output
image must be shown at its natural size.
"""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import QuadMesh
from matplotlib.container import StemContainer
from matplotlib.figure import Figure

__all__ = [
    "COLORS",
    "CONTENT_WIDTH_PX",
    "FIGURE_DPI",
    "MAX_FIGURE_WIDTH_IN",
    "MIN_FONT_PT",
    "SAVE_PAD_IN",
    "fit_figure_to_content",
    "use_book_style",
    "weight_heatmap",
    "plot_samples",
    "token_heatmap",
    "weight_stems",
]

COLORS = {
    "data": "#8c8c8c",
    "truth": "#000000",
    "nw": "#0072B2",  # blue
    "krr": "#D55E00",  # vermillion
    "llr": "#009E73",  # green
    "gp": "#CC79A7",  # purple
    "accent": "#E69F00",  # orange
    # token mixers (chapters 3-8): attention is NW, Cubit is KRR-like
    "transformer": "#0072B2",  # blue, as NW
    "cubit": "#D55E00",  # vermillion, as KRR
    "cubit-nolrr": "#E69F00",  # orange
    "cubit-share": "#56B4E9",  # sky blue
    "deltaformer": "#CC79A7",  # purple
    "sdpa": "#000000",  # black: PyTorch's fused attention, the speed reference
}
"""Colour of each method in every figure of the book."""

MIN_FONT_PT = 8.0
"""Smallest text size, in points, that a reader sees in any figure on the site (8 pt
at 96 dpi is 10.7 CSS pixels). No font size in the book style is smaller."""

FIGURE_DPI = 96
"""Resolution of every figure PNG: at 96 dpi one PNG pixel is one CSS pixel, so a
figure shown at its natural size shows an ``s``-point font at ``s`` points."""

CONTENT_WIDTH_PX = 672
"""Width, in CSS pixels, that an output image gets in the site's content column with
a 1280-pixel-wide browser window (sphinx-book-theme 1.3 with both sidebars; the
viewport of ``tests/test_browser.py``). Windows 1440 pixels wide or more give about
775 pixels, narrower ones less (below 1200 pixels the sidebars fold away)."""

SAVE_PAD_IN = 0.1
"""White margin around a saved figure (``savefig.pad_inches``, Matplotlib's default):
``bbox_inches="tight"``, which the notebook backend and the sliders use, crops the
figure to its artists and adds this margin on every side."""

MAX_FIGURE_WIDTH_IN = CONTENT_WIDTH_PX / FIGURE_DPI - 2 * SAVE_PAD_IN
"""Widest ``figsize`` (inches) whose PNG, margin included, fits :data:`CONTENT_WIDTH_PX`
at :data:`FIGURE_DPI` (6.8 inches): such a figure is shown at its natural size."""

_HOOK = "cubit_lite.plotting:fit_figure_to_content"


def fit_figure_to_content(fig: Figure) -> Figure:
    """Make ``fig`` at most :data:`MAX_FIGURE_WIDTH_IN` wide, keeping its height.

    :func:`use_book_style` installs this as a Matplotlib ``figure.hooks`` entry, so it
    runs on every figure :mod:`matplotlib.pyplot` creates (``plt.subplots(figsize=...)``
    included), before anything is drawn on it; the static sliders also apply it to
    each frame before saving it. Figures that already fit are left alone. Returns
    ``fig``.
    """
    width, height = fig.get_size_inches()
    if width > MAX_FIGURE_WIDTH_IN + 1e-9:
        fig.set_size_inches(MAX_FIGURE_WIDTH_IN, height, forward=False)
    return fig


def use_book_style() -> None:
    """Set Matplotlib defaults for the book's figures (call once per notebook).

    Besides colours and fonts (none smaller than :data:`MIN_FONT_PT`), this fixes the
    resolution at :data:`FIGURE_DPI` and installs :func:`fit_figure_to_content` for
    every new pyplot figure (see the module docstring for the rule it keeps).
    """
    hooks = [hook for hook in mpl.rcParams["figure.hooks"] if hook != _HOOK]
    mpl.rcParams.update(
        {
            "figure.figsize": (MAX_FIGURE_WIDTH_IN, 3.6),
            "figure.dpi": FIGURE_DPI,
            "savefig.dpi": FIGURE_DPI,
            "savefig.pad_inches": SAVE_PAD_IN,
            "figure.facecolor": "white",
            "savefig.facecolor": "white",
            "savefig.bbox": "tight",
            "figure.hooks": [*hooks, _HOOK],
            "axes.facecolor": "white",
            "axes.edgecolor": "#333333",
            "axes.labelcolor": "#111111",
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.25,
            "legend.frameon": False,
            "legend.fontsize": 9,
            "xtick.color": "#333333",
            "ytick.color": "#333333",
            "font.size": 10,
            "lines.linewidth": 2.0,
            "figure.constrained_layout.use": True,
        }
    )


def plot_samples(ax: Axes, x, y, label: str = "samples") -> None:
    """Training samples as small grey dots."""
    ax.scatter(x, y, s=12, color=COLORS["data"], alpha=0.8, label=label, zorder=1)


def weight_heatmap(
    ax: Axes,
    weights: np.ndarray,
    x_train,
    x_query,
    *,
    signed: bool = False,
    title: str | None = None,
) -> QuadMesh:
    """Show a smoother's ``(n_query, n_train)`` weight matrix as an image.

    Rows are queries (vertical axis, growing downwards like a matrix), columns
    training points, each drawn at its own input ``x`` (the inputs must be sorted).
    ``signed=True`` uses a diverging colour map centred on zero, for weights that can
    be negative (the KRR equivalent kernel); otherwise a sequential map.
    Returns the mesh, for a colour bar.
    """
    weights = np.asarray(weights)
    x_train = np.asarray(x_train)
    x_query = np.asarray(x_query)
    style: dict[str, Any]  # keyword arguments of pcolormesh
    if signed:
        bound = float(np.abs(weights).max()) or 1.0
        style = {"cmap": "RdBu_r", "vmin": -bound, "vmax": bound}
    else:
        style = {"cmap": "viridis", "vmin": 0.0}
    image = ax.pcolormesh(x_train, x_query, weights, shading="nearest", rasterized=True, **style)
    if not ax.yaxis_inverted():
        ax.invert_yaxis()
    ax.set_xlabel("training input $x_j$")
    ax.set_ylabel("query $x$")
    ax.grid(False)
    if title:
        ax.set_title(title)
    return image


def token_heatmap(
    ax: Axes,
    weights,
    row_labels,
    col_labels,
    *,
    causal: bool = True,
    signed: bool = False,
    vmax: float | None = None,
    title: str | None = None,
    xlabel: str = "key token $j$",
    ylabel: str = "query token $i$",
):
    """A ``(T_query, T_key)`` token-mixing matrix with token labels on both axes.

    ``weights`` may be a NumPy array or a tensor with leading size-1 dimensions
    (e.g. ``(1, 1, T, T)``). With ``causal=True`` the future (``j > i``) is left white
    instead of drawn as zeros. ``signed=True`` uses a diverging map centred on zero
    (for ``(P + λI)⁻¹``, whose entries can be negative). Returns the image, for a
    colour bar.
    """
    if hasattr(weights, "detach"):
        weights = weights.detach().cpu().numpy()
    weights = np.asarray(weights, dtype=float)
    while weights.ndim > 2 and weights.shape[0] == 1:
        weights = weights[0]
    if weights.ndim != 2:
        raise ValueError(f"weights must be one (T_query, T_key) matrix; got shape {weights.shape}")
    if causal:
        offset = weights.shape[1] - weights.shape[0]
        weights = np.where(np.triu(np.ones(weights.shape, dtype=bool), k=offset + 1), np.nan, weights)
    style: dict[str, Any]  # keyword arguments of imshow
    if signed:
        bound = vmax if vmax is not None else (float(np.nanmax(np.abs(weights))) or 1.0)
        style = {"cmap": "RdBu_r", "vmin": -bound, "vmax": bound}
    else:
        style = {"cmap": "viridis", "vmin": 0.0, "vmax": vmax}
    image = ax.imshow(weights, interpolation="nearest", **style)
    ax.set_xticks(range(len(col_labels)), list(col_labels), fontsize=MIN_FONT_PT)
    ax.set_yticks(range(len(row_labels)), list(row_labels), fontsize=MIN_FONT_PT)
    ax.tick_params(length=0)
    ax.grid(False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return image


def weight_stems(ax: Axes, positions, weights, *, color: str) -> StemContainer:
    """The weights one prediction gives to past points, as stems at their positions, with a zero line.

    ``positions`` are where the past points sit on the horizontal axis (their inputs ``x_j``
    or token indices), ``weights`` the weight of each, of the same length; negative weights
    hang below the zero line. For one row of a smoother or mixing matrix: NW's or
    attention's weights are all positive, those of KRR and Cubit are not. Returns the stems.
    """
    positions = np.asarray(positions, dtype=float)
    weights = np.asarray(weights.detach().cpu() if hasattr(weights, "detach") else weights, dtype=float)
    if positions.ndim != 1 or positions.shape != weights.shape:
        raise ValueError(
            f"positions and weights must be 1-D of one length; got shapes {positions.shape} and {weights.shape}"
        )
    stems = ax.stem(positions, weights, basefmt=" ")
    stems.markerline.set(color=color, markersize=4)
    stems.stemlines.set(color=color, linewidth=1.3)
    ax.axhline(0.0, color=COLORS["truth"], linewidth=0.6)
    return stems
