"""cubit_lite: the library behind the book *Attention as Regression*.

Modules (one idea each):

* :mod:`cubit_lite.regression` — 1-D kernel regression in NumPy (NW, KRR, local
  linear, leave-one-out bandwidth choice, streaming prefix KRR).
* :mod:`cubit_lite.mixers` — token mixers on ``(B, H, T, D)`` tensors: softmax
  attention (= NW), Cubit, DeltaFormer, local linear; functional core and layers.
* :mod:`cubit_lite.data` — corpora (Shakespeare, the Python standard library, your
  own file), a character tokenizer, batches.
* :mod:`cubit_lite.model` — a small decoder-only LM whose token mixer is chosen by name.
* :mod:`cubit_lite.train` — the training loop and CLI (``python -m cubit_lite.train``), put
  together from small modules that its docstring lists (its settings are
  :mod:`cubit_lite.train_config`); :mod:`cubit_lite.memory` the memory a step needs;
  :mod:`cubit_lite.sample` prints text from a checkpoint; :mod:`cubit_lite.checkpoint`
  writes and reads checkpoints atomically.
* :mod:`cubit_lite.results` — find the committed results of GPU runs.
* :mod:`cubit_lite.notebook` — the first cell of every chapter: seeds, device, a printed line.
* :mod:`cubit_lite.widgets` — sliders that work in a live kernel and on the static site.
* :mod:`cubit_lite.plotting` — the book's figure style.
* :mod:`cubit_lite.source` — library code shown in the book, without docstrings.
"""

__version__ = "0.1.0"
