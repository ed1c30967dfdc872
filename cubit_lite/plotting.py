"""The book's figure style: one colour per method, readable in light and dark themes.

Figures are drawn on an opaque white background so that they stay legible when a
reader switches the site to its dark theme. Colours follow the Okabe–Ito palette,
which stays distinguishable for the common forms of colour blindness.
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import QuadMesh

__all__ = ["COLORS", "use_book_style", "weight_heatmap", "plot_samples", "token_heatmap"]

COLORS = {
    "data": "#8c8c8c",
    "truth": "#000000",
    "nw": "#0072B2",  # blue
    "krr": "#D55E00",  # vermillion
    "llr": "#009E73",  # green
    "gp": "#CC79A7",  # purple
    "accent": "#E69F00",  # orange
    # token mixers (chapters 3-7): attention is NW, Cubit is KRR-like
    "transformer": "#0072B2",  # blue, as NW
    "cubit": "#D55E00",  # vermillion, as KRR
    "cubit-nolrr": "#E69F00",  # orange
    "cubit-share": "#56B4E9",  # sky blue
    "deltaformer": "#CC79A7",  # purple
    "sdpa": "#000000",  # black: PyTorch's fused attention, the speed reference
}
"""Colour of each method in every figure of the book."""


def use_book_style() -> None:
    """Set Matplotlib defaults for the book's figures (call once per notebook)."""
    mpl.rcParams.update(
        {
            "figure.figsize": (7.0, 3.6),
            "figure.dpi": 96,
            "figure.facecolor": "white",
            "savefig.facecolor": "white",
            "savefig.bbox": "tight",
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
    training points, each drawn at its own input ``x`` (the inputs must be sorted). ``signed=True`` uses a diverging colour map centred on zero, for weights
    that can be negative (the KRR equivalent kernel); otherwise a sequential map.
    Returns the mesh, for a colour bar.
    """
    weights = np.asarray(weights)
    x_train = np.asarray(x_train)
    x_query = np.asarray(x_query)
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
    if signed:
        bound = vmax if vmax is not None else (float(np.nanmax(np.abs(weights))) or 1.0)
        style = {"cmap": "RdBu_r", "vmin": -bound, "vmax": bound}
    else:
        style = {"cmap": "viridis", "vmin": 0.0, "vmax": vmax}
    image = ax.imshow(weights, interpolation="nearest", **style)
    ax.set_xticks(range(len(col_labels)), list(col_labels), fontsize=8)
    ax.set_yticks(range(len(row_labels)), list(row_labels), fontsize=8)
    ax.tick_params(length=0)
    ax.grid(False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return image
