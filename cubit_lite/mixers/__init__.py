"""Token mixers on ``(B, H, T, D)`` tensors: attention as NW, Cubit, DeltaFormer, LLR.

* :mod:`cubit_lite.mixers.functional` — the reference path: one pure function per
  equation of the equations page §2–§4 (``book/equations.md``), and the matrices behind them for plotting.
* :mod:`cubit_lite.mixers.blocked` — Cubit's causal solve by blocked forward
  substitution, never forming the ``T × T`` kernel (``implementation="blocked"``).
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
