"""The regression playground: the 1-D estimators of chapters 1–4, live in the page.

::

    from cubit_lite.playground import playground
    from cubit_lite.regression import sample_toy_problem

    playground(*sample_toy_problem(n=15), estimators=["nw", "llr"], bandwidth=0.08)

:func:`playground` returns a :class:`Playground`, which a notebook shows through its
``_repr_html_``: one self-contained block (a ``<div>`` with its own ``<style>``, an SVG
drawn by a script, and that ``<script>``: the package's ``playground.js`` with the data
inlined as JSON). It needs no kernel, no network and no library, so the same output works
on the book's static site, in Google Colab and in Jupyter.

* **What it computes.** In the browser, with the formulas of :mod:`cubit_lite.regression`
  (equations page §1, ``book/equations.md``): ``"nw"`` (Nadaraya–Watson) and ``"llr"``
  (local linear) with the Gaussian, Epanechnikov or box kernel; ``"krr"`` (kernel ridge,
  RBF kernel, Cholesky); ``"gp"``, the Gaussian-process posterior mean (KRR with
  ``λ = σ²``) with a band of ± 2 posterior standard deviations
  ``sqrt(1 − Σ_j ℓ_j(x) k(x, x_j))``; and on a stream, in the order of the points,
  ``"prefix_nw"``, ``"prefix_krr"`` and ``"cubit"`` (the triangular surrogate), each after
  the first ``t`` pairs. Below the curves, the weight each ``y_j`` gets at the query.
* **What the reader does.** Drag a point or the query line; add and remove points; move
  the bandwidth ``h``, the ridge ``λ``, the GP noise ``σ`` and the step ``t``
  continuously. Everything is keyboard-accessible (Tab to a point or the query, arrow
  keys move it, Delete removes a point) and labelled.
* **Ranges.** ``h`` from 1/500 of the x-range to the whole range; ``λ`` from 10⁻⁴ to 10
  and ``σ`` from 0.01 to 2. Below ``λ = 10⁻⁴`` the condition number of ``K + λI`` lets
  two correct solvers disagree by more than 10⁻⁹, and the browser's numbers are tested
  to equal the library's to that tolerance (``tests/test_playground.py``).
* **Ids** come from a hash of the content, as in :mod:`cubit_lite.self_check`; colours
  come from the site theme's CSS variables, with a palette for dark mode.
* **For tests and the curious**, the page element has ``element.cubitPlayground`` with
  ``state()``, ``evaluate()`` and ``set(changes)``, and ``window.CubitPlayground.evaluate``
  computes any setting.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
from collections.abc import Sequence
from functools import cache
from importlib import resources

import numpy as np

from .regression import KERNELS, _training_pair, sample_toy_problem
from .validation import in_range, one_of

__all__ = ["ESTIMATORS", "MAX_POINTS", "Playground", "playground"]

ESTIMATORS = {
    "nw": "Nadaraya–Watson",
    "llr": "local linear",
    "krr": "kernel ridge",
    "gp": "GP posterior mean",
    "prefix_nw": "prefix NW (causal attention)",
    "prefix_krr": "exact prefix KRR",
    "cubit": "Cubit surrogate",
}
"""Estimator names :func:`playground` accepts, with the label the figure gives them."""

CAUSAL = ("prefix_nw", "prefix_krr", "cubit")
MAX_POINTS = 60
"""The most points a playground holds (every drag re-solves every estimator)."""
LAM_RANGE = (1e-4, 10.0)
NOISE_RANGE = (0.01, 2.0)
BANDWIDTH_SPAN = (1 / 500, 1.0)  # the bandwidth slider, as fractions of the x-range


@cache
def script_source() -> str:
    """The text of ``cubit_lite/playground.js`` (package data)."""
    source = resources.files("cubit_lite").joinpath("playground.js").read_text(encoding="utf-8")
    if "</script" in source.lower():
        raise RuntimeError("playground.js must not contain '</script' (it is inlined in a <script> element)")
    return source


_STYLE = """
html[data-theme="dark"] .bd-content div.cell_output div.output.text_html:has(> .cubit-playground){
background-color:transparent;color:inherit;padding:0}
.cubit-playground{--pg-nw:#0072B2;--pg-llr:#009E73;--pg-krr:#D55E00;--pg-gp:#CC79A7;--pg-prefix_nw:#0072B2;
--pg-prefix_krr:#D55E00;--pg-cubit:#B07800;--pg-point:#4d4d4d;--pg-accent:var(--pst-color-primary,#1a73e8);
border:1px solid var(--pst-color-border,rgba(128,128,128,.5));border-radius:.4em;padding:.5em .8em .6em;
margin:1em 0;max-width:100%;box-sizing:border-box;color:inherit;background:transparent}
html[data-theme="dark"] .cubit-playground,body[data-jp-theme-light="false"] .cubit-playground,
.cubit-playground.pg-dark{--pg-nw:#56B4E9;--pg-llr:#3DD6A5;--pg-krr:#FF8C4D;--pg-gp:#E9A6CF;--pg-prefix_nw:#56B4E9;
--pg-prefix_krr:#FF8C4D;--pg-cubit:#F0C040;--pg-point:#d9d9d9}
.cubit-playground .pg-title{font-weight:700;margin:0 0 .3em}
.cubit-playground .pg-nojs,.cubit-playground .pg-help{margin:.2em 0;font-size:.88em;opacity:.85}
.cubit-playground .pg-controls{display:flex;flex-wrap:wrap;gap:.3em 1.2em;align-items:center}
.cubit-playground .pg-control{display:flex;gap:.4em;align-items:center;font-size:.92em}
.cubit-playground input[type=range]{width:9em;accent-color:var(--pg-accent)}
.cubit-playground .pg-num{font-variant-numeric:tabular-nums;min-width:4.5em}
.cubit-playground select,.cubit-playground button{font:inherit;font-size:.9em;color:inherit;
background:transparent;border:1px solid var(--pst-color-border,rgba(128,128,128,.6));border-radius:.3em;
padding:.1em .5em}
.cubit-playground select option{color:#222;background:#fff}
.cubit-playground button:disabled{opacity:.5}
.cubit-playground .pg-legend{border:0;margin:.3em 0 0;padding:0;display:flex;flex-wrap:wrap;gap:.2em 1em;
font-size:.92em}
.cubit-playground .pg-legend legend{float:left;font-size:1em;font-weight:600;padding:0 .6em 0 0;margin:0;width:auto}
.cubit-playground .pg-key{display:flex;align-items:center;gap:.3em;cursor:pointer}
.cubit-playground .pg-swatch{display:inline-block;width:1.6em;border-top:3px solid}
.cubit-playground .pg-actions{display:flex;flex-wrap:wrap;gap:.4em;align-items:center;margin:.3em 0;font-size:.92em}
.cubit-playground .pg-svg{display:block;width:100%;max-width:760px;height:auto;touch-action:none;
font-size:11px;user-select:none}
.cubit-playground .pg-svg text{fill:currentColor}
.cubit-playground .pg-axes line,.cubit-playground .pg-frame{stroke:currentColor;stroke-opacity:.55;fill:none}
.cubit-playground .pg-zero{stroke-dasharray:2 3}
.cubit-playground .pg-bg{fill:transparent;cursor:crosshair}
.cubit-playground .pg-curve{fill:none;stroke-width:2.2;pointer-events:none}
.cubit-playground .pg-band{stroke:none;fill-opacity:.22;pointer-events:none}
.cubit-playground .pg-stem{stroke-width:2}
.cubit-playground .pg-hit{fill:transparent;stroke:none}
.cubit-playground .pg-pt{cursor:grab;outline:none}
.cubit-playground .pg-dot{fill:var(--pg-point);stroke:var(--pst-color-background,#fff);stroke-width:1}
.cubit-playground .pg-future .pg-dot{fill:transparent;stroke:var(--pg-point);stroke-width:1.5}
.cubit-playground .pg-order{font-size:9px;opacity:.8}
.cubit-playground .pg-pt.pg-sel .pg-dot,.cubit-playground .pg-pt:focus-visible .pg-dot{stroke:var(--pg-accent);
stroke-width:3}
.cubit-playground .pg-query{cursor:ew-resize;outline:none}
.cubit-playground .pg-query line{stroke:currentColor;stroke-dasharray:5 4;stroke-opacity:.8}
.cubit-playground .pg-knob{fill:currentColor}
.cubit-playground .pg-query:focus-visible line{stroke:var(--pg-accent);stroke-width:3;stroke-dasharray:none}
.cubit-playground .pg-readout{margin:.3em 0 0;font-size:.92em}
.cubit-playground .pg-val{font-variant-numeric:tabular-nums;font-weight:600}
""".strip()

_COLOURS = "".join(
    f".cubit-playground .pg-{name}{{stroke:var(--pg-{name});fill:var(--pg-{name});color:var(--pg-{name})}}"
    f".cubit-playground .pg-curve.pg-{name}{{fill:none}}"
    for name in ESTIMATORS
) + (
    ".cubit-playground .pg-curve.pg-prefix_nw{stroke-dasharray:2 3}"
    ".cubit-playground .pg-curve.pg-cubit{stroke-dasharray:7 4}"
    ".cubit-playground .pg-key{stroke:none;fill:none;color:inherit}"
    + "".join(f".cubit-playground .pg-key.pg-{n} .pg-swatch{{border-color:var(--pg-{n})}}" for n in ESTIMATORS)
)


def _interval(name: str, value) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a pair (low, high) of numbers; got {value!r}") from err
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{name} must be a pair (low, high) of finite numbers with low < high; got {value!r}")
    return lo, hi


def _padded(values: np.ndarray, fraction: float) -> tuple[float, float]:
    lo, hi = float(values.min()), float(values.max())
    pad = fraction * (hi - lo) if hi > lo else 1.0
    return lo - pad, hi + pad


class Playground:
    """An interactive regression figure (``_repr_html_``); build it with :func:`playground`.

    ``config`` holds everything the page needs: the data ``x``, ``y``, the estimator names,
    the starting ``kernel``, ``bandwidth``, ``lam``, ``noise``, ``query`` and ``step``, the
    axes' ``x_range`` and ``y_range`` and the sliders' ``ranges``.
    """

    def __init__(self, config: dict, title: str):
        self.config = config
        self.title = title

    @property
    def id(self) -> str:
        """``pg-`` and 12 hex digits of a SHA-256 of the title and the settings: the same figure, the same id."""
        content = json.dumps({"title": self.title, "config": self.config}, sort_keys=True, ensure_ascii=False)
        return "pg-" + hashlib.sha256(content.encode("utf-8")).hexdigest()[:12]

    def _repr_html_(self) -> str:
        pid = self.id
        data = json.dumps(self.config, ensure_ascii=False).replace("<", "\\u003c")
        return (
            f'<div class="cubit-playground" id="{pid}" role="group" aria-labelledby="{pid}-title">\n'
            f"<style>{_STYLE}{_COLOURS}</style>\n"
            f'<p class="pg-title" id="{pid}-title">{html.escape(self.title, quote=False)}</p>\n'
            '<p class="pg-nojs">This interactive figure needs JavaScript (in Jupyter: a trusted notebook).</p>\n'
            '<div class="pg-app"></div>\n'
            f"<script>\n{script_source()}\n"
            f'CubitPlayground.mount(document.currentScript && document.currentScript.closest(".cubit-playground")'
            f' || "{pid}", {data});\n</script>\n'
            "</div>"
        )

    def __repr__(self) -> str:
        c = self.config
        names = ", ".join(c["estimators"])
        return (f"Playground({len(c['x'])} points; {names}; h = {c['bandwidth']:g}, λ = {c['lam']:g}, "
                f"σ = {c['noise']:g}): an interactive figure, shown in a notebook or on the book's pages")


def playground(
    x=None,
    y=None,
    *,
    estimators: Sequence[str] = ("nw", "krr"),
    kernel: str = "gaussian",
    bandwidth: float = 0.08,
    lam: float = 0.1,
    noise: float = 0.3,
    query: float | None = None,
    step: int | None = None,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    title: str = "Playground: drag the points and the query",
) -> Playground:
    """A live regression figure of ``estimators`` on the data ``(x, y)`` (see the module docstring).

    Args:
        x, y: the training pairs, at most :data:`MAX_POINTS`; in this order they are the
            stream of the causal estimators. Default: 15 samples of the book's running
            example (:func:`~cubit_lite.regression.sample_toy_problem`).
        estimators: names from :data:`ESTIMATORS`, in the order of the legend; the first
            one's weights are shown at the start.
        kernel: the starting kernel of ``"nw"`` and ``"llr"``, one of
            :data:`~cubit_lite.regression.KERNELS` (the reader can change it).
        bandwidth, lam, noise: the starting ``h``, ``λ`` and GP noise ``σ``; within the
            sliders' ranges (module docstring).
        query: the starting query ``z``; default the middle of ``x_range``.
        step: how many pairs the causal estimators have seen at the start; default all.
        x_range, y_range: the axes; default the data's range with a margin. Points stay
            inside them when dragged.
        title: shown above the figure.

    Raises ``ValueError``, saying what is allowed, for data or settings out of range.
    """
    if x is None and y is None:
        x, y = sample_toy_problem(n=15, noise=0.3, seed=0)
    elif x is None or y is None:
        raise ValueError("give both x and y, or neither (then the book's running example is used)")
    xs, ys = _training_pair(x, y)
    if xs.size > MAX_POINTS:
        raise ValueError(f"a playground holds at most {MAX_POINTS} points (every drag re-solves every "
                         f"estimator); got {xs.size}")
    if isinstance(estimators, str) or not isinstance(estimators, Sequence) or not estimators:
        raise ValueError(f"estimators must be a non-empty list of names from {', '.join(ESTIMATORS)}; "
                         f"got {estimators!r}")
    for name in estimators:
        one_of("estimator", name, ESTIMATORS)
    if len(set(estimators)) != len(estimators):
        raise ValueError(f"estimators must not repeat a name; got {list(estimators)}")
    kernel = one_of("kernel", kernel, KERNELS)
    xr = _interval("x_range", x_range) if x_range is not None else _padded(xs, 0.05)
    yr = _interval("y_range", y_range) if y_range is not None else _padded(ys, 0.25)
    if xs.min() < xr[0] or xs.max() > xr[1]:
        raise ValueError(f"x_range {xr} must contain every x (from {xs.min():g} to {xs.max():g})")
    if ys.min() < yr[0] or ys.max() > yr[1]:
        raise ValueError(f"y_range {yr} must contain every y (from {ys.min():g} to {ys.max():g})")
    span = xr[1] - xr[0]
    h_range = (BANDWIDTH_SPAN[0] * span, BANDWIDTH_SPAN[1] * span)
    bandwidth = in_range("bandwidth", bandwidth, *h_range,
                         hint=" (the slider's range: 1/500 of the x-range to all of it)")
    lam = in_range("lam (the ridge λ)", lam, *LAM_RANGE, hint=" (the slider's range)")
    noise = in_range("noise", noise, *NOISE_RANGE, hint=" (the slider's range; λ = σ² in the GP)")
    if query is None:
        query = (xr[0] + xr[1]) / 2
    query = in_range("query", query, *xr, hint=" (inside x_range)")
    if step is None:
        step = xs.size
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or not 1 <= step <= xs.size:
        raise ValueError(f"step must be a whole number of pairs from 1 to {xs.size}; got {step!r}")
    if not isinstance(title, str) or not title.strip():
        raise ValueError(f"title must be a non-empty string; got {title!r}")
    config = {
        "x": xs.tolist(), "y": ys.tolist(), "estimators": list(estimators),
        "labels": {name: ESTIMATORS[name] for name in estimators}, "kernel": kernel,
        "bandwidth": bandwidth, "lam": lam, "noise": noise, "query": query, "step": int(step),
        "x_range": list(xr), "y_range": list(yr),
        "ranges": {"bandwidth": list(h_range), "lam": list(LAM_RANGE), "noise": list(NOISE_RANGE)},
    }
    return Playground(config, title.strip())

