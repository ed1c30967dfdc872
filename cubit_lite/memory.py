"""How much GPU memory a training step or a forward pass needs, computed from the shapes.

A reader on Colab's free T4 (16 GB) wants to know, before starting, whether a chapter's
GPU run fits. This module answers without a GPU and without doing the arithmetic: it
runs the real code — the model, the loss, the backward pass, AdamW — on *fake* tensors
(:class:`torch._subclasses.fake_tensor.FakeTensorMode`), which carry shapes and dtypes
but no data, and adds up the bytes of every tensor while it is alive. The peak of that
sum is what the CUDA caching allocator would be asked for by the same sequence of
operations (``torch.cuda.max_memory_allocated``), on the assumption that the GPU runs
the same operations as the CPU path traced here. Where a GPU runs a fused kernel
instead (PyTorch's flash or memory-efficient attention, which never stores the
``(B, H, T, T)`` weights), it needs less: for those paths the figure is an upper bound.

Not counted: the CUDA context and cuBLAS/cuDNN workspaces (a few hundred MB on any
GPU, whatever the model), and fragmentation in the allocator's cache.

    >>> from cubit_lite.memory import training_step_memory
    >>> estimate = training_step_memory(config, vocab_size=65)   # a TrainConfig
    >>> print(estimate)          # parameters, gradients, AdamW state, peak of one step

Tracing a step costs about as much as building the model, too slow to refuse an absurd
configuration (a billion layers) at once. :func:`training_memory_bound` is the trainer's
up-front check instead: a closed-form *lower bound* of the same peak, in a microsecond,
which :func:`check_memory` compares with :func:`available_memory`, refusing a run that
cannot fit; :func:`cubit_lite.train.train` calls it before it allocates anything
(``tests/test_memory.py`` checks the bound against :func:`training_step_memory` on small
configurations).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from .model import Block, CharLM
from .optim import make_optimizer
from .train_config import TrainConfig
from .validation import positive_int

__all__ = ["T4_USABLE_BYTES", "MemoryBound", "MemoryEstimate", "available_memory", "check_memory", "forward_memory",
           "peak_bytes", "training_memory_bound", "training_step_memory"]

T4_USABLE_BYTES = 15_360 * 2**20
"""A T4's memory as ``nvidia-smi`` reports it (15,360 MiB of the nominal 16 GB). The CUDA context
takes a few hundred MB of it before the first tensor, so a peak close to this does not fit."""


class _LiveBytes(TorchDispatchMode):
    """Adds the bytes of each new tensor storage, subtracts them when the storage is freed; keeps the peak."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._storages: dict[int, weakref.ref] = {}

    def _add(self, tensor: torch.Tensor) -> None:
        storage = tensor.untyped_storage()
        key = storage._cdata  # one entry per storage: views and in-place results add nothing
        if key in self._storages:
            return
        size = storage.nbytes()
        self.live += size
        self.peak = max(self.peak, self.live)

        def freed(_, size=size, key=key) -> None:
            self.live -= size
            self._storages.pop(key, None)

        self._storages[key] = weakref.ref(storage, freed)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for leaf in tree_leaves(out):
            if isinstance(leaf, torch.Tensor):
                self._add(leaf)
        return out


def peak_bytes(fn: Callable[[], object]) -> int:
    """The peak bytes of live tensors while ``fn()`` runs on fake tensors.

    ``fn`` creates everything it uses (inside it, ``torch.zeros`` and modules make fake
    tensors with shapes and no data), so parameters and inputs are counted too.
    Tensors that ``fn`` returns are released afterwards.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable with no arguments; got {type(fn).__name__}")
    with FakeTensorMode():
        tracker = _LiveBytes()
        with tracker:
            fn()
        return tracker.peak


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes of a training step. ``peak`` includes parameters, gradients and AdamW's two moments."""

    parameters: int
    gradients: int
    optimizer: int
    peak: int

    def fits(self, usable_bytes: int = T4_USABLE_BYTES) -> bool:
        """Whether the peak fits in ``usable_bytes`` (a T4's, by default)."""
        return self.peak <= usable_bytes

    def __str__(self) -> str:
        gib = 2**30
        return (f"peak {self.peak / gib:.2f} GiB (parameters {self.parameters / gib:.3f}, gradients "
                f"{self.gradients / gib:.3f}, AdamW state {self.optimizer / gib:.3f} GiB)")


def _fake_model(model_config):
    return CharLM(model_config.validate(), seed=0)  # a fixed seed: fake tensors cannot draw one


def training_step_memory(config, vocab_size: int, *, precision: str = "fp32") -> MemoryEstimate:
    """Memory of :func:`cubit_lite.train.train`'s step for ``config`` (a ``TrainConfig``).

    Runs one step (forward with the loss, backward, gradient clipping, AdamW,
    ``zero_grad``) on fake tensors of batch ``(config.batch_size, config.block_size)``,
    with AdamW's moments already made (as from the second step of a real run on, when
    they are alive during the forward and backward passes). ``precision`` is ``"fp32"``
    (what ``precision="auto"`` gives on a T4) or ``"bf16"`` (autocast).
    """
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be fp32 or bf16; got {precision!r}")
    vocab_size = positive_int("vocab_size", vocab_size)
    config.validate()
    model_config = config.model_config(vocab_size)
    sizes: dict[str, int] = {}

    def step() -> None:
        model = _fake_model(model_config)
        model.train()
        optimizer = make_optimizer(model, config, fused=False)
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
        for p in model.parameters():  # a step on zero gradients makes AdamW's moments, as step 1 would
            p.grad = torch.zeros_like(p)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens = torch.zeros(config.batch_size, config.block_size, dtype=torch.long)
        with autocast:
            _, loss = model(tokens, tokens)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        params = list(model.parameters())
        sizes["parameters"] = sum(p.numel() * p.element_size() for p in params)
        sizes["optimizer"] = sum(t.numel() * t.element_size() for state in optimizer.state.values()
                                 for t in state.values() if isinstance(t, torch.Tensor))

    peak = peak_bytes(step)
    return MemoryEstimate(parameters=sizes["parameters"], gradients=sizes["parameters"],
                          optimizer=sizes["optimizer"], peak=peak)


def forward_memory(model_config, batch_size: int, length: int) -> int:
    """Peak bytes of an evaluation forward pass (``torch.no_grad``) of a ``(batch_size, length)`` batch.

    Counts the parameters (float32) and the logits ``(B, T, V)``.
    """
    batch_size, length = positive_int("batch_size", batch_size), positive_int("length", length)
    if length > model_config.block_size:
        raise ValueError(f"length {length} is longer than the model's block_size {model_config.block_size}")

    def forward() -> None:
        model = _fake_model(model_config).eval()
        with torch.no_grad():
            model(torch.zeros(batch_size, length, dtype=torch.long))

    return peak_bytes(forward)


# --------------------------------------------------------------------------- #
# The trainer's up-front check: a closed-form lower bound
# --------------------------------------------------------------------------- #
SOLVES_FORMING_T_BY_T = {"cubit": 1, "cubit-nolrr": 1, "cubit-share": 1, "deltaformer": 1, "llr": 1}
"""Float32 ``(B, H, T, T)`` matrices that backpropagation keeps per layer, at least, for the
mixers whose reference path forms them (Cubit's ``P``, DeltaFormer's ``L``, LLR's weights).
Softmax attention runs fused (no ``T × T`` matrix kept) and is absent."""


@dataclass(frozen=True)
class MemoryBound:
    """A lower bound, in bytes by part, of what one training step holds on its device.

    ``parameters`` is a count; every other field is bytes. ``logits`` is 0 while the
    vocabulary is not known (before the corpus is read).
    """

    parameters: int
    weights: int
    activations: int
    matrices: int
    logits: int
    evaluation: int

    @property
    def total(self) -> int:
        return self.weights + self.activations + self.matrices + self.logits + self.evaluation


def _parameters(config, vocab_size: int) -> int:
    """The model's parameter count: embeddings and the final norm in closed form, one block counted on the
    meta device (no memory) times ``n_layer``."""
    model_config = config.model_config(vocab_size)
    with torch.device("meta"):
        block = sum(p.numel() for p in Block(model_config).parameters())
    positions = config.block_size if config.positions == "learned" else 0
    return (vocab_size + positions + 1) * config.d_model + config.n_layer * block


def _forms_t_by_t(config, device: torch.device) -> bool:
    """Whether the mixer's solve forms ``(B, H, T, T)`` matrices: LLR always; Cubit and DeltaFormer on the
    reference path (``implementation=reference``, or ``auto`` anywhere but a CUDA GPU of compute capability
    8.0 or more, where it runs the Triton kernels)."""
    if config.mixer == "llr":
        return True
    implementation = config.mixer_options.get("implementation", "auto")
    if implementation != "auto":
        return implementation == "reference"
    return device.type != "cuda" or torch.cuda.get_device_capability(device) < (8, 0)


def training_memory_bound(config, vocab_size: int | None, device: str | torch.device = "cpu", *,
                          bf16: bool = False) -> MemoryBound:
    """A lower bound of the memory :func:`cubit_lite.train.train` holds on ``device`` for ``config``.

    With ``B = batch_size``, ``T = block_size``, ``L = n_layer``, ``H = n_head``,
    ``C = d_model``, ``I = H · head_dim`` (``C`` by default), ``V = vocab_size``, ``N``
    parameters and ``e`` bytes an activation (2 under bf16 autocast, else 4):

    * weights ``16 N``: float32 weights, gradients and AdamW's two moments;
    * activations ``e · B · T · L · (8 C + 2 I)``: what backpropagation keeps of each
      block at least (its residual input, the two LayerNorm outputs, the MLP's ``4C``
      hidden layer before and after the GELU, and two of queries, keys, values or the
      mixer's output);
    * matrices ``4 · m · B · H · T² · L``: float32 ``T × T`` matrices of the mixers
      that form them (``m`` per layer, :data:`SOLVES_FORMING_T_BY_T`);
    * logits ``8 · B · T · V``: the float32 logits and their log-softmax, kept by the loss;
    * evaluation ``16 · eval_batches · B · T``: the validation batches' int64 inputs and
      targets, kept on the device for the whole run.

    ``N`` is exact: embeddings in closed form, one block counted on the meta device. The
    rest leaves out what a step holds briefly (gradients of activations, AdamW's
    temporaries, attention's workspaces), so the true peak is higher: on small
    configurations, float32 or bf16, every mixer's is 1 to 5 times the bound
    (``tests/test_memory.py`` compares it with :func:`training_step_memory`).
    ``vocab_size=None`` (not known yet) counts a vocabulary of one character and no logits.
    """
    vocab_size = positive_int("vocab_size", vocab_size, allow_none=True)
    config.validate()
    config.check_model()
    device = torch.device(device)
    vocab = vocab_size or 1
    b, t, layers, heads, width = config.batch_size, config.block_size, config.n_layer, config.n_head, config.d_model
    head_dim = config.mixer_options.get("head_dim") or width // heads
    tokens = b * t
    per_matrix = SOLVES_FORMING_T_BY_T.get(config.mixer, 0) if _forms_t_by_t(config, device) else 0
    parameters = _parameters(config, vocab)
    return MemoryBound(
        parameters=parameters,
        weights=16 * parameters,
        activations=(2 if bf16 else 4) * tokens * layers * (8 * width + 2 * heads * head_dim),
        matrices=4 * per_matrix * b * heads * t * t * layers,
        logits=8 * tokens * (vocab_size or 0),
        evaluation=16 * config.eval_batches * tokens,
    )


def _cgroup_free() -> int | None:
    """Bytes this process's cgroup (v2) may still allocate, where it sets a limit; ``None`` otherwise."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int(Path("/sys/fs/cgroup/memory.current").read_text())
    except (OSError, ValueError):
        return None


def _ram_available() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` (Linux): what can be allocated without swapping; ``None`` elsewhere."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def available_memory(device: str | torch.device) -> int | None:
    """Bytes that can still be allocated on ``device``; ``None`` where the system does not say.

    A CUDA GPU: its free memory (``torch.cuda.mem_get_info``). Otherwise the machine's:
    Linux's ``MemAvailable``, lowered to what a cgroup limit (a container) leaves, else
    the physical memory.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    known = [free for free in (_ram_available(), _cgroup_free()) if free is not None]
    if known:
        return max(0, min(known))
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _gib(size: int) -> str:
    return f"{size / 2**30:,.1f} GiB"


def _memory_parts(config: TrainConfig, bound: MemoryBound, vocab_size: int | None) -> list[tuple[int, str, str]]:
    """``(bytes, what, what to lower)`` for each part of :func:`training_memory_bound`'s bound."""
    b, t = config.batch_size, config.block_size
    blocked = "" if config.mixer == "llr" else ", or --mixer-option implementation=blocked (never forms them)"
    head_dim = config.mixer_options.get("head_dim")
    heads = f" and heads of width {head_dim}" if head_dim else ""
    widths = "--d-model, --n-layer or --mixer-option head_dim" if head_dim else "--d-model or --n-layer"
    return [
        (bound.weights, f"weights, gradients and AdamW state {_gib(bound.weights)} ({bound.parameters:,} parameters)",
         widths + (", or use a corpus with fewer distinct characters" if vocab_size else "")),
        (bound.activations, f"activations {_gib(bound.activations)} (batch_size {b} × block_size {t} tokens through "
                            f"n_layer {config.n_layer} blocks of d_model {config.d_model}{heads})",
         f"--batch-size, --block-size, {widths}"),
        (bound.matrices, f"{config.mixer}'s T × T matrices {_gib(bound.matrices)} (block_size {t} squared × "
                         f"batch_size {b} × n_head {config.n_head} × n_layer {config.n_layer})",
         f"--block-size (the matrices grow with its square) or --batch-size{blocked}"),
        (bound.logits, f"logits {_gib(bound.logits)} (batch_size {b} × block_size {t} × a vocabulary of "
                       f"{vocab_size or 0:,} characters)",
         "--batch-size or --block-size, or use a corpus with fewer distinct characters"),
        (bound.evaluation, f"validation batches {_gib(bound.evaluation)} (eval_batches {config.eval_batches} × "
                           f"batch_size {b} × block_size {t} tokens, kept on the device)", "--eval-batches"),
    ]


def check_memory(config: TrainConfig, device: torch.device, vocab_size: int | None = None, *,
                 bf16: bool = False) -> MemoryBound:
    """Refuse a run that cannot fit in ``device``'s free memory, before anything is allocated.

    Compares :func:`cubit_lite.memory.training_memory_bound` (a lower bound, in closed
    form: weights and AdamW state, activations, the ``T × T`` matrices of mixers that
    form them, logits, the validation batches) with
    :func:`cubit_lite.memory.available_memory`. ``vocab_size=None``, before the corpus
    is read, leaves the logits out. The message names each part's size and the flags
    that lower the largest. Returns the bound.
    """
    bound = training_memory_bound(config, vocab_size, device, bf16=bf16)
    have = available_memory(device)
    if have is None or bound.total <= have:
        return bound
    parts = sorted(_memory_parts(config, bound, vocab_size), key=lambda part: -part[0])
    shown = [what for size, what, _ in parts if size >= bound.total / 100]
    raise ValueError(f"this run needs at least {_gib(bound.total)} of memory on {device}, more than the {_gib(have)} "
                     f"free: {'; '.join(shown)}. Lower {parts[0][2]}")
