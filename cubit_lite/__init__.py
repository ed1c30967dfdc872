"""cubit_lite: the library behind the book *Attention as Regression*.

Modules (one idea each):

* :mod:`cubit_lite.regression` — 1-D kernel regression in NumPy (NW, KRR, local
  linear, leave-one-out bandwidth choice).
* :mod:`cubit_lite.widgets` — sliders that work in a live kernel and on the static site.
* :mod:`cubit_lite.plotting` — the book's figure style.
* :mod:`cubit_lite.source` — library code shown in the book, without docstrings.
"""

__version__ = "0.1.0"
