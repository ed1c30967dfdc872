"""Token mixers on ``(B, H, T, D)`` tensors: attention as NW, Cubit, DeltaFormer, LLR.

Laid out like the mathematics, from the equations down to the kernels:

* :mod:`cubit_lite.mixers.logits` — the logits of ``A``, ``P`` and ``L``, each defined
  once, in the forms the three solve paths take.
* :mod:`cubit_lite.mixers.naive` — the reference path: one plain-PyTorch function per
  equation of the equations page §2–§4 (``book/equations.md``), with whole ``T × T`` matrices.
* :mod:`cubit_lite.mixers.blocked` and :mod:`cubit_lite.mixers.triton_solve` — Cubit's
  and DeltaFormer's causal solves without a ``T × T`` matrix, in PyTorch and as Triton
  kernels (their launch rule in :mod:`cubit_lite.mixers.launch_rules`).
* :mod:`cubit_lite.mixers.dispatch` — which of the three paths a solve runs, in which
  precision, with ``λ`` and ``g`` as per-head tensors.
* :mod:`cubit_lite.mixers.functional` — the public functions: checked arguments
  (:mod:`cubit_lite.mixers.validation`), then the reference path or the dispatcher; and
  the matrices behind each mixer, for plotting.
* :mod:`cubit_lite.mixers.layers` — ``nn.Module`` layers chosen by name
  (:func:`build_mixer`), with incremental decoding through :class:`MixerCache`.
"""

from .functional import (
    IMPLEMENTATIONS,
    REF_NORMS,
    U_STAGES,
    CubitMatrices,
    attention_weights,
    cubit_attention,
    cubit_matrices,
    cubit_solve,
    deltaformer_attention,
    deltaformer_kernel,
    deltaformer_solve,
    gaussian_nadaraya_watson,
    llr_attention,
    llr_weights,
    reference_kernel,
    ridge_inverse,
    softmax_attention,
)
from .layers import (
    MIXER_NAMES,
    MIXER_SUMMARIES,
    CubitMixer,
    DeltaFormerMixer,
    LLRMixer,
    MixerCache,
    MultiHeadMixer,
    SoftmaxMixer,
    apply_rotary,
    build_mixer,
    mixer_options,
)

__all__ = [
    "IMPLEMENTATIONS",
    "MIXER_NAMES",
    "MIXER_SUMMARIES",
    "REF_NORMS",
    "U_STAGES",
    "CubitMatrices",
    "CubitMixer",
    "DeltaFormerMixer",
    "LLRMixer",
    "MixerCache",
    "MultiHeadMixer",
    "SoftmaxMixer",
    "apply_rotary",
    "attention_weights",
    "build_mixer",
    "cubit_attention",
    "cubit_matrices",
    "cubit_solve",
    "deltaformer_attention",
    "deltaformer_kernel",
    "deltaformer_solve",
    "gaussian_nadaraya_watson",
    "llr_attention",
    "llr_weights",
    "mixer_options",
    "reference_kernel",
    "ridge_inverse",
    "softmax_attention",
]
