"""Train a character language model: ``python -m cubit_lite.train`` or :func:`train`.

One loop for every mixer, so that a comparison changes nothing but the mixer:

* AdamW (weight decay on matrices only), linear warm-up then cosine decay to
  ``min_lr``, gradient clipping;
* bf16 autocast on a GPU with bf16 tensor cores (compute capability 8.0 or more; the
  Cubit and DeltaFormer solves stay in float32), float32 elsewhere: on a CPU, and on a
  T4 or other GPU older than Ampere (see :func:`use_bf16_autocast`);
* validation loss on a fixed list of batches every ``eval_interval`` steps, and the
  per-position loss at the end (how the loss falls with the position in the context);
* a tqdm progress bar with loss, tokens/s and ETA; a JSON-lines metrics log;
* atomic checkpoints (``latest.pt`` at every evaluation, ``best.pt`` when the
  validation loss improves, written first so that ``latest.pt`` never records a best
  model that is not on disk) and ``--resume``, which continues exactly where the run
  stopped (on a CPU, the same numbers as an uninterrupted run bit for bit; on a GPU, whose
  kernels are not bit-reproducible, as close as two uninterrupted runs);
* a run folder that is never silently overwritten, never shared by two trainers and
  never written through a symbolic link (:mod:`cubit_lite.run_folder`: ``--resume``
  continues, ``--overwrite`` replaces);
* everything checked before any work, and before ``--overwrite`` removes the previous
  run: the hyperparameters (finite, in range), the mixer's options (parsed by their
  declared types, one mixer built on the meta device: :meth:`TrainConfig.check_model`),
  the environment of a distributed run, the device, the corpus and its split, the memory
  the run needs (:func:`check_memory`), and on ``--resume`` everything the checkpoint and
  the log hold;
* a run that diverges (a non-finite loss, gradient or weight) stopped with a message, its
  last good checkpoints kept; Ctrl-C (SIGINT) or SIGTERM stops after the current step
  with a checkpoint and one line, ``stopped at step N; continue with --resume`` (exit
  status 128 + the signal's number: 130 for Ctrl-C);
* several GPUs or CPU processes through ``torchrun --nproc_per_node=N`` (PyTorch's
  DistributedDataParallel; NCCL on GPUs, gloo on CPUs), which sets ``WORLD_SIZE``,
  ``RANK`` and ``LOCAL_RANK``; the run is distributed only when ``WORLD_SIZE`` > 1 (a
  stray ``RANK`` without it is refused). ``batch_size`` is per process, so tokens per
  step = ``batch_size · block_size · N``.

Example (a few minutes on a laptop CPU)::

    python -m cubit_lite.train --mixer cubit --corpus shakespeare --block-size 64 \\
        --n-layer 2 --n-head 2 --d-model 64 --batch-size 16 --steps 300 --out runs/cubit-tiny
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import json
import math
import numbers
import os
import re
import signal
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from .checkpoint import load_checkpoint, save_checkpoint
from .data import CORPORA, CharTokenizer, evaluation_batches, load_corpus, sample_batch
from .memory import MemoryBound, available_memory, training_memory_bound
from .mixers import MIXER_NAMES, MIXER_SUMMARIES, MultiHeadMixer, build_mixer, mixer_options
from .model import POSITIONS, CharLM, ModelConfig
from .run_folder import RunFolder, claim_run_folder, open_no_follow, write_atomically

__all__ = ["TrainConfig", "TrainResult", "TrainingDiverged", "TrainingStopped", "check_memory", "evaluate", "main",
           "train", "use_bf16_autocast"]

# Fields that may differ between a run and its resumption: they do not change the numbers.
# (The folder may move; the corpus is compared by the sha256 of its text, and the device
# by the kind of device it resolves to, both stored in the checkpoint.)
RESUMABLE_CHANGES = ("resume", "stop_at", "progress", "overwrite", "out", "corpus", "device")
MAX_LR = 1.0  # AdamW learning rates above this are a typo, not an experiment
MAX_SEED = 2**32 - 1  # the batch generator is seeded with seed · 1000 + rank, which must fit in 64 bits
DEVICE_PATTERN = r"auto|cpu|mps|cuda(:\d+)?"
NOT_MIXER_OPTIONS = {
    "rotary": "use --positions rotary",
    "bias": "the trainer's models have no biases: ModelConfig.bias is False",
}
"""Options of the mixer classes that the trainer sets itself, with what to do instead."""
TRAINING_STATE = ("train_config", "optimizer", "step", "best_val_loss", "rng", "corpus")
"""What ``--resume`` needs in ``latest.pt`` beyond the model (``export_weights`` keeps none of it)."""


class TrainingDiverged(ValueError):
    """The loss, a gradient or a weight became NaN or infinite; the last good checkpoints are kept."""


class TrainingStopped(KeyboardInterrupt):
    """SIGINT (Ctrl-C) or SIGTERM stopped the run; ``exit_status`` is 128 + the signal's number.

    During the loop the run stops after the current step and checkpoints it first, so
    ``--resume`` continues from exactly there.
    """

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_status = 128 + signum


# --------------------------------------------------------------------------- #
# Mixer options: parsed and checked by the types their classes declare
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class OptionKind:
    """A mixer option's declared type: ``bool``, ``int``, ``float``, ``str`` or ``tuple[float, ...]``, or None."""

    base: str
    items: int = 0  # numbers in a tuple
    optional: bool = False

    @classmethod
    def from_annotation(cls, annotation: str) -> OptionKind | None:
        """The kind of an annotation as written (``"int | None"``, ``"tuple[float, float]"``); None if unknown."""
        parts = [part.strip() for part in annotation.split("|")]
        optional = "None" in parts
        rest = [part for part in parts if part != "None"]
        if len(rest) != 1:
            return None
        tuple_of = re.fullmatch(r"tuple\[(float(?:, float)*)\]", rest[0])
        if tuple_of:
            return cls("tuple", items=tuple_of.group(1).count("float"), optional=optional)
        return cls(rest[0], optional=optional) if rest[0] in ("bool", "int", "float", "str") else None

    def describe(self, text: bool) -> str:
        """What the option takes, as command-line ``text`` or as a Python / JSON value."""
        words = {"bool": "true or false (or 1 or 0)" if text else "true or false (a bool)",
                 "int": "an integer", "float": "a finite number", "str": "a word",
                 "tuple": f"{self.items} numbers, as [a,b] or a,b" if text else f"a list of {self.items} numbers"}
        return words[self.base] + (" or none" if self.optional else "")

    def parse(self, name: str, text: str) -> object:
        """The value of ``--mixer-option NAME=TEXT``; ValueError saying what the option takes."""
        word = text.strip()
        if self.optional and word.lower() in ("none", "null"):
            return None
        value: object = None
        if self.base == "bool":
            value = {"true": True, "1": True, "false": False, "0": False}.get(word.lower())
        elif self.base == "int" and re.fullmatch(r"[+-]?\d+", word):
            value = int(word)
        elif self.base == "float":
            value = _finite(word)
        elif self.base == "str":
            value = text
        elif self.base == "tuple":
            numbers_ = [_finite(item) for item in re.sub(r"^[\[(]|[\])]$", "", word).split(",")]
            value = numbers_ if len(numbers_) == self.items and None not in numbers_ else None
        if value is None:
            raise ValueError(f"mixer option {name} takes {self.describe(text=True)}; got {text!r}")
        return value

    def check(self, name: str, value: object) -> None:
        """Refuse a value (from Python or a saved config.json) that is not of this kind: ``"False"`` is no bool."""
        if value is None and self.optional:
            return
        real = (lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v))  # noqa: E731
        fits = {"bool": lambda: isinstance(value, bool),
                "int": lambda: isinstance(value, numbers.Integral) and not isinstance(value, bool),
                "float": lambda: real(value),
                "str": lambda: isinstance(value, str),
                "tuple": lambda: (isinstance(value, (list, tuple)) and len(value) == self.items
                                  and all(real(v) for v in value))}[self.base]()
        if not fits:
            raise ValueError(f"mixer option {name} must be {self.describe(text=False)}; "
                             f"got {value!r} ({type(value).__name__})")


def _finite(word: str) -> float | None:
    try:
        value = float(word)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@functools.cache
def option_kinds() -> dict[str, OptionKind | None]:
    """Every mixer option's kind, read from the signatures of the library's mixer classes."""
    kinds: dict[str, OptionKind | None] = {}
    pending: list[type] = [MultiHeadMixer]
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if not cls.__module__.startswith("cubit_lite."):
            continue
        for name, parameter in inspect.signature(cls).parameters.items():
            if parameter.kind is parameter.KEYWORD_ONLY:
                annotation = parameter.annotation
                text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
                kinds[name] = OptionKind.from_annotation(text)
    return kinds


def check_option_types(options: object) -> dict:
    """Refuse option values of another type than the mixer classes declare for their names (``"False"`` for a
    bool); return ``options``."""
    if not isinstance(options, dict):
        raise ValueError(f"mixer_options must be a dict of option names and values; got {options!r}")
    for name, value in options.items():
        kind = option_kinds().get(name)
        if kind is not None:
            kind.check(name, value)
    return options


def check_mixer_options(mixer: str, options: object) -> None:
    """Refuse options that ``mixer`` does not take, or the trainer sets itself, and values of the wrong type."""
    options = check_option_types(options)
    settable = [name for name in mixer_options(mixer) if name not in NOT_MIXER_OPTIONS]
    unknown = sorted(set(options) - set(settable))
    if unknown:
        named = [f"{name} ({NOT_MIXER_OPTIONS[name]})" if name in NOT_MIXER_OPTIONS else name for name in unknown]
        raise ValueError(f"mixer {mixer!r} does not take option(s) {', '.join(named)}; "
                         f"its options are: {', '.join(settable)}")


@dataclass
class TrainConfig:
    """A training run: data, model, optimisation, bookkeeping. Every field is a CLI flag."""

    out: str
    corpus: str = "shakespeare"
    max_chars: int | None = None
    val_fraction: float = 0.1
    # model
    mixer: str = "transformer"
    mixer_options: dict = field(default_factory=dict)
    block_size: int = 256
    n_layer: int = 6
    n_head: int = 6
    d_model: int = 384
    positions: str = "learned"
    dropout: float = 0.2
    # optimisation
    batch_size: int = 64
    steps: int = 5000
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    # bookkeeping
    eval_interval: int = 250
    eval_batches: int = 20
    log_interval: int = 10
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    resume: bool = False
    overwrite: bool = False
    stop_at: int | None = None
    progress: bool = True

    def validate(self) -> TrainConfig:
        """Check every field (mixer options: their types); raise ValueError naming what is wrong.

        Which options the mixer takes, and their values, are :meth:`check_model`'s: a
        configuration parsed without its mixer (a grid's shared flags) is valid here.
        """
        if not isinstance(self.out, (str, os.PathLike)) or not os.fspath(self.out).strip():
            raise ValueError(f"out must name a folder for the run (e.g. runs/cubit); got {self.out!r}")
        if Path(self.out).resolve() == Path.cwd().resolve():
            raise ValueError(f"out {os.fspath(self.out)!r} is the current folder: give the run a folder of its own "
                             "(e.g. runs/NAME), where it writes config.json, metrics.jsonl and its checkpoints")
        for name in ("block_size", "batch_size", "steps", "eval_interval", "eval_batches", "log_interval",
                     "n_layer", "n_head", "d_model"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        for name in ("warmup", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0; got {value!r}")
        if self.seed > MAX_SEED:
            raise ValueError(f"seed must be at most 2**32 - 1 = {MAX_SEED}; got {self.seed}")
        for name in ("max_chars", "stop_at"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be a positive integer (or left out); got {value!r}")
        for name in ("lr", "min_lr", "weight_decay", "grad_clip", "dropout", "beta1", "beta2", "val_fraction"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number; got {value!r}")
        if not 0 < self.lr <= MAX_LR:
            raise ValueError(f"lr must be in (0, {MAX_LR:g}]; got {self.lr!r}")
        for name in ("dropout", "beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1); got {getattr(self, name)!r}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1); got {self.val_fraction!r}")
        if not isinstance(self.device, str) or not re.fullmatch(DEVICE_PATTERN, self.device):
            raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps; got {self.device!r}")
        if self.resume and self.overwrite:
            raise ValueError("resume and overwrite contradict each other: continue the run or replace it")
        if self.mixer not in MIXER_NAMES:
            raise ValueError(f"unknown mixer {self.mixer!r}; choose one of {', '.join(MIXER_NAMES)}")
        if self.positions not in POSITIONS:
            raise ValueError(f"positions must be one of {', '.join(POSITIONS)}; got {self.positions!r}")
        if not (0 < self.min_lr <= self.lr):
            raise ValueError(f"need 0 < min_lr <= lr; got lr={self.lr}, min_lr={self.min_lr}")
        if self.weight_decay < 0 or self.grad_clip <= 0:
            raise ValueError(f"weight_decay must be >= 0 and grad_clip > 0; got weight_decay={self.weight_decay!r}, "
                             f"grad_clip={self.grad_clip!r}")
        if self.lr * self.weight_decay >= 1:
            raise ValueError(f"lr × weight_decay must be below 1 (AdamW multiplies every matrix by "
                             f"1 − lr · weight_decay at each step); got lr={self.lr!r}, "
                             f"weight_decay={self.weight_decay!r}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision must be auto, bf16 or fp32; got {self.precision!r}")
        if self.stop_at is not None and not 0 < self.stop_at <= self.steps:
            raise ValueError(f"stop_at must be between 1 and steps ({self.steps}); got {self.stop_at}")
        if not isinstance(self.progress, bool):
            raise ValueError(f"progress must be True or False; got {self.progress!r}")
        check_option_types(self.mixer_options)
        return self

    def check_model(self) -> TrainConfig:
        """Check the model this configuration builds, without allocating it: its shape, the options the mixer
        takes, and their values as the mixer itself checks them (one mixer built on the meta device)."""
        self.model_config(1)
        with torch.device("meta"):
            build_mixer(self.mixer, self.d_model, self.n_head, rotary=self.positions == "rotary", **self.mixer_options)
        return self

    def model_config(self, vocab_size: int) -> ModelConfig:
        check_mixer_options(self.mixer, self.mixer_options)
        return ModelConfig(vocab_size=vocab_size, block_size=self.block_size, n_layer=self.n_layer,
                           n_head=self.n_head, d_model=self.d_model, mixer=self.mixer,
                           mixer_options=dict(self.mixer_options), positions=self.positions,
                           dropout=self.dropout).validate()


@dataclass
class TrainResult:
    """What :func:`train` returns: the final numbers and where everything was written."""

    out: Path
    step: int
    final_val_loss: float | None
    best_val_loss: float | None
    num_parameters: int
    tokens_per_second: float | None
    history: list[dict]


# --------------------------------------------------------------------------- #
# Pieces
# --------------------------------------------------------------------------- #
def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up to ``lr`` over ``warmup`` steps, then cosine decay to ``min_lr`` at ``steps``."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(model: torch.nn.Module, config: TrainConfig, fused: bool) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices (≥ 2-D) only, as in nanoGPT."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(config.beta1, config.beta2), fused=fused)


@torch.no_grad()
def evaluate(model: CharLM, batches, autocast, *, per_position: bool = False):
    """Mean cross-entropy (nats/char) over fixed batches; with ``per_position``, also ``(T,)`` means."""
    was_training = model.training
    model.eval()
    total, per_pos = 0.0, torch.zeros(())
    for x, y in batches:
        with autocast():
            logits, loss = model(x, y)
        total += loss.item()
        if per_position:
            token_loss = torch.nn.functional.cross_entropy(
                logits.float().transpose(1, 2), y, reduction="none").mean(0)  # (T,)
            per_pos = per_pos.to(token_loss.device) + token_loss
    model.train(was_training)
    mean = total / len(batches)
    return (mean, (per_pos / len(batches)).tolist()) if per_position else mean


def choose_device(requested: str, local_rank: int) -> torch.device:
    """The device of ``--device`` (``"cuda"`` and ``"auto"`` mean this process's GPU, ``cuda:LOCAL_RANK``);
    one that this machine does not have is refused, saying what it has."""
    if requested == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        requested = "cuda"
    device = torch.device(requested)
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("--device mps was asked for, but this machine has no MPS (Apple GPU) that PyTorch can use: "
                         "use --device cpu or auto")
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but no CUDA GPU is available")
    count = torch.cuda.device_count()
    if device.index is None:
        if local_rank >= count:
            raise ValueError(f"LOCAL_RANK={local_rank}, but this machine has {count} CUDA GPU(s): start at most "
                             f"{count} processes per machine (torchrun --nproc_per_node={count}), or use --device cpu")
        return torch.device("cuda", local_rank)
    if device.index >= count:
        raise ValueError(f"--device {requested} was asked for, but this machine has {count} CUDA GPU(s), "
                         f"cuda:0 to cuda:{count - 1}")
    return device


def use_bf16_autocast(precision: str, device: torch.device) -> bool:
    """Whether training runs under bf16 autocast on ``device``.

    ``"auto"`` says yes only on a CUDA GPU with bf16 tensor cores, compute capability
    8.0 or more (A100, L4, H100, ...). It does not ask ``torch.cuda.is_bf16_supported()``,
    which also says yes on a T4 (7.5) because PyTorch can *emulate* bf16 there, many
    times slower than float32. ``"bf16"`` is honoured on a CPU and on such GPUs and
    refused, with the reason, on an older GPU; ``"fp32"`` never autocasts.
    """
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32; got {precision!r}")
    if precision == "fp32":
        return False
    if device.type == "cuda":
        index = torch.cuda.current_device() if device.index is None else device.index
        capability = torch.cuda.get_device_capability(index)
        if capability < (8, 0):
            if precision == "bf16":
                major, minor = capability
                raise ValueError(
                    f"precision 'bf16' was asked for, but this GPU ({torch.cuda.get_device_name(index)}, compute "
                    f"capability {major}.{minor}) has no bf16 tensor cores (they need 8.0 or more); "
                    "use precision 'auto' or 'fp32'")
            return False
        return True
    return precision == "bf16"


def _environment_integer(name: str) -> int | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"the environment variable {name}={text!r} is not an integer (torchrun sets it for a "
                         f"distributed run; outside torchrun, unset it)") from None


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) outside torchrun.

    The run is distributed only when ``WORLD_SIZE`` > 1. A ``RANK`` or ``LOCAL_RANK`` other
    than 0 without that (left over in a shell, set by another launcher) is an error, not
    ignored: that process would train as a secondary rank, which saves and prints nothing.
    So is a ``RANK`` outside ``[0, WORLD_SIZE)``.
    """
    world, rank, local_rank = (_environment_integer(name) for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"))
    if world is not None and world < 1:
        raise ValueError(f"WORLD_SIZE={world} in the environment: it must be 1 or more (torchrun sets it to the "
                         "number of processes)")
    if world is None or world == 1:
        stray = [f"{name}={value}" for name, value in (("RANK", rank), ("LOCAL_RANK", local_rank)) if value]
        if stray:
            raise ValueError(f"the environment sets {' and '.join(stray)} without a WORLD_SIZE above 1, so this "
                             "process would train as one of several and save nothing: outside torchrun, unset RANK and "
                             "LOCAL_RANK; for a distributed run, start it with torchrun --nproc_per_node=N")
        return 0, 1, 0
    if rank is None or not 0 <= rank < world:
        raise ValueError(f"RANK={rank if rank is not None else 'unset'} with WORLD_SIZE={world}: each process needs a "
                         f"RANK from 0 to {world - 1}; start distributed runs with torchrun, which sets them")
    if local_rank is not None and local_rank < 0:
        raise ValueError(f"LOCAL_RANK={local_rank}: it must be 0 or more (torchrun sets it)")
    return rank, world, local_rank or 0


def _plain(value):
    """``value`` as JSON would give it back (tuples become lists): what comparisons with a saved file need."""
    return json.loads(json.dumps(value))


def _config_differences(saved: dict, current: TrainConfig) -> list[str]:
    now, saved = _plain(asdict(current)), _plain(saved)
    return [f"{key}: checkpoint {saved.get(key)!r} vs now {now[key]!r}"
            for key in now if key not in RESUMABLE_CHANGES and saved.get(key, now[key]) != now[key]]


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


def _check_finite(step: int, what: str, value: float, out: Path, last_good: int | None) -> None:
    if not math.isfinite(value):
        kept = (f"the last good checkpoints (step {last_good}) are kept in {out}" if last_good is not None
                else "no checkpoint had been written yet")
        raise TrainingDiverged(f"training diverged at step {step}: the {what} is {value}; {kept}. "
                               "Lower --lr, or keep --grad-clip at about 1")


def read_log(path: Path) -> list[dict]:
    """The records of a run's ``metrics.jsonl`` (opened without following a link).

    A malformed *last* line is what a crash or a full disk leaves (``{"step": 58``): it is
    dropped, with a one-line note. Any other line that is not a JSON object with an
    integer ``"step"`` is an error naming the file and the line.
    """
    with os.fdopen(open_no_follow(path, os.O_RDONLY), encoding="utf-8", errors="replace") as file:
        lines = [(number, line) for number, line in enumerate(file.read().splitlines(), 1) if line.strip()]
    records = []
    for position, (number, line) in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if position == len(lines) - 1:
                print(f"note: dropped the last line of {path}, cut off by an interrupted write: {line[:60]!r}",
                      flush=True)
                break
            raise ValueError(f"{path}, line {number}: not a JSON record ({err.msg}, column {err.colno}); only the "
                             "last line may be cut off by a crash: fix or delete that line, or start again with "
                             "--overwrite") from None
        step = record.get("step") if isinstance(record, dict) else None
        if not isinstance(step, int) or isinstance(step, bool):
            raise ValueError(f"{path}, line {number}: a metrics record must be a JSON object with an integer "
                             f"\"step\"; got {line[:80]}")
        records.append(record)
    return records


def _write_log(path: Path, records: list[dict]) -> None:
    text = "".join(json.dumps(record) + "\n" for record in records)
    write_atomically(path, lambda file: file.write(text.encode("utf-8")))


def _append_record(path: Path, entry: dict) -> None:
    with os.fdopen(open_no_follow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")


def _vocabulary_difference(saved: object, tokenizer: CharTokenizer) -> str:
    chars = saved.get("chars") if isinstance(saved, dict) else None
    if not isinstance(chars, str):
        return "the tokenizer: the checkpoint's is not a character tokenizer"
    if len(chars) != tokenizer.vocab_size:
        return f"the vocabulary: checkpoint {len(chars)} characters vs now {tokenizer.vocab_size}"
    moved = sum(a != b for a, b in zip(chars, tokenizer.chars, strict=True))
    return f"the vocabulary: {moved} of its {len(chars)} characters have other ids in the checkpoint"


def _state_differences(saved: dict, config: TrainConfig, corpus, tokenizer: CharTokenizer, model: CharLM,
                       device: torch.device) -> list[str]:
    """What differs between ``latest.pt`` and this run: configuration, corpus, vocabulary, model, device."""
    if not isinstance(saved["train_config"], dict):
        return ["train_config (not a dictionary in the checkpoint)"]
    differences = _config_differences(saved["train_config"], config)
    corpus_record = saved["corpus"] if isinstance(saved["corpus"], dict) else {}
    if corpus_record.get("sha256") != corpus.sha256:
        differences.append("the corpus text (its sha256 differs)")
    if saved["tokenizer"] != tokenizer.to_dict():
        differences.append(_vocabulary_difference(saved["tokenizer"], tokenizer))
    now = _plain(model.config.to_dict())
    then = _plain(saved["model_config"]) if isinstance(saved["model_config"], dict) else {}
    differences += [f"model_config {key}: checkpoint {then.get(key)!r} vs now {value!r}"
                    for key, value in now.items() if then.get(key) != value]
    run = saved.get("run", {})
    if run.get("device", device.type) != device.type:
        differences.append(f"the device: checkpoint {run['device']} vs now {device.type}")
    return differences


def _shape(value: object) -> str:
    return str(tuple(value.shape)) if isinstance(value, torch.Tensor) else f"not a tensor ({type(value).__name__})"


def _weight_problems(state: object, model: CharLM) -> list[str]:
    if not isinstance(state, dict):
        return ["its weights are not a dictionary of tensors"]
    expected = model.state_dict()
    problems = [f"{name} is missing" for name in expected if name not in state]
    problems += [f"{name} is not in the model" for name in state if name not in expected]
    problems += [f"{name} is {_shape(state[name])} in the checkpoint and {tuple(tensor.shape)} in the model"
                 for name, tensor in expected.items() if name in state and _shape(state[name]) != _shape(tensor)]
    return [f"its weights do not fit the model: {'; '.join(problems[:3])}"] if problems else []


def _optimizer_problems(state: object, model: CharLM, optimizer: torch.optim.Optimizer) -> list[str]:
    groups = state.get("param_groups") if isinstance(state, dict) else None
    moments = state.get("state") if isinstance(state, dict) else None
    ours = optimizer.param_groups
    if (not isinstance(groups, list) or not isinstance(moments, dict) or len(groups) != len(ours)
            or any(len(saved.get("params", ())) != len(group["params"])
                   for saved, group in zip(groups, ours, strict=True))):
        return ["its optimizer state has other parameter groups than the model's"]
    names = {id(p): name for name, p in model.named_parameters()}
    params = [p for group in ours for p in group["params"]]
    indices = [index for group in groups for index in group["params"]]
    problems = []
    for index, param in zip(indices, params, strict=True):
        for key, value in (moments.get(index) or {}).items():
            if key != "step" and _shape(value) != _shape(param):
                problems.append(f"AdamW's {key} of {names[id(param)]} is {_shape(value)}, the parameter "
                                f"{tuple(param.shape)}")
    return [f"its optimizer state does not fit the model: {'; '.join(problems[:3])}"] if problems else []


def _progress_problems(saved: dict, config: TrainConfig, world: int) -> list[str]:
    problems = []
    step, best = saved["step"], saved["best_val_loss"]
    if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step <= config.steps:
        problems.append(f"its step {step!r} is not between 0 and steps ({config.steps})")
    if best is not None and not (isinstance(best, float) and math.isfinite(best)):
        problems.append(f"its best validation loss {best!r} is not a finite number")
    rng = saved["rng"] if isinstance(saved["rng"], dict) else {}
    batches = rng.get("batches")
    if (not isinstance(rng.get("torch"), torch.Tensor) or not isinstance(batches, list) or len(batches) != world
            or not all(isinstance(state, torch.Tensor) for state in batches)):
        problems.append("its random-number state is incomplete")
    return problems


def _load_resumable(latest: Path, config: TrainConfig, corpus, tokenizer: CharTokenizer, model: CharLM,
                    optimizer: torch.optim.Optimizer, device: torch.device, world: int) -> dict:
    """Read ``latest.pt``, check it against this run and against itself, and load it into the model and optimizer.

    Refuses (ValueError naming what differs) a checkpoint without training state, one from
    another configuration, corpus, vocabulary or device, and one whose weights, AdamW
    moments, step or random state do not fit the model it claims.
    """
    saved = load_checkpoint(latest, map_location=device, follow_symlinks=False)
    missing = [key for key in TRAINING_STATE if key not in saved]
    if missing:
        raise ValueError(f"{latest} holds no training state to continue from (it lacks {', '.join(missing)}; "
                         "export_weights keeps only the weights): start the run again with --overwrite")
    run = saved.get("run", {})
    if run.get("world_size", world) != world:
        raise ValueError(f"{latest} was written by {run['world_size']} processes and this run has {world}: "
                         f"resume it with torchrun --nproc_per_node={run['world_size']} (the batches of each "
                         "process are part of the saved state)")
    differences = _state_differences(saved, config, corpus, tokenizer, model, device)
    if differences:
        raise ValueError(f"{latest} comes from another configuration; differences: " + "; ".join(differences))
    problems = (_weight_problems(saved["model"], model) + _optimizer_problems(saved["optimizer"], model, optimizer)
                + _progress_problems(saved, config, world))
    if problems:
        raise ValueError(f"{latest} is damaged or was edited: {'; '.join(problems)}. Resume from a good copy, or "
                         "start the run again with --overwrite")
    try:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
    except (RuntimeError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{latest} is damaged or was edited: {str(err).splitlines()[0]}. Resume from a good copy, "
                         "or start the run again with --overwrite") from None
    return saved


def load_training_data(config: TrainConfig):
    """``(corpus, tokenizer, train_ids, val_ids)`` for a run: the ids are compact views of one array.

    ``train_ids`` holds the characters ``text[:cut]`` and ``val_ids`` the rest
    (:meth:`~cubit_lite.data.Corpus.split_index`), each a 1-D tensor in the tokenizer's
    :meth:`~cubit_lite.data.CharTokenizer.compact_dtype` (one byte a character for up to
    256 characters). Peak memory is measured by ``benchmarks/corpus_memory.py``.
    """
    corpus = load_corpus(config.corpus, max_chars=config.max_chars)
    cut = corpus.split_index(config.val_fraction)
    tokenizer = CharTokenizer(corpus.vocabulary)  # sorted distinct characters, computed once by the corpus
    ids = tokenizer.encode_compact(corpus.text)
    return corpus, tokenizer, ids[:cut], ids[cut:]


# --------------------------------------------------------------------------- #
# The loop
# --------------------------------------------------------------------------- #
class _StopSignals:
    """SIGINT and SIGTERM while the loop runs ask for a stop after the current step, checkpointed
    (``graceful``); before the loop, or a second time, they stop at once. Handlers are installed
    only in the main thread (elsewhere Python delivers no signals) and restored on exit."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.graceful = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            if handler is not None:
                signal.signal(signum, handler)  # type: ignore[arg-type]  # a handler signal.signal gave back

    def _handle(self, signum: int, frame) -> None:
        if self.graceful and self.received is None:
            self.received = signum
            return
        if self.graceful:
            raise TrainingStopped("stopped at once by a second signal; continue from the last checkpoint with "
                                  "--resume", signum)
        raise TrainingStopped("stopped before the first step; nothing was written: run the same command again",
                              signum)

    def agreed(self, world: int, device: torch.device) -> int | None:
        """The signal that stops the run, the same in every process (the largest any of them received)."""
        if world == 1:
            return self.received
        flag = torch.tensor([self.received or 0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag.item()) or None


def train(config: TrainConfig) -> TrainResult:
    """Run (or resume) the training described by ``config``; see the module docstring.

    Raises :class:`TrainingStopped` (a ``KeyboardInterrupt``) when SIGINT or SIGTERM stops it.
    """
    config.validate()
    config.check_model()
    rank, world, local_rank = _distributed()
    device = choose_device(config.device, local_rank)
    use_bf16 = use_bf16_autocast(config.precision, device)
    if config.mixer_options.get("implementation") == "triton" and device.type != "cuda":
        raise ValueError(f"mixer option implementation=triton runs only on a CUDA GPU and this run is on {device.type}:"
                         " use implementation=blocked or auto, or --device cuda")
    check_memory(config, device, bf16=use_bf16)  # before the corpus is read: the parts that do not need it
    with _StopSignals() as stop:
        run_folder = (claim_run_folder(config.out, resume=config.resume, overwrite=config.overwrite)
                      if rank == 0 else None)
        try:
            return _train(config, rank, world, device, use_bf16, run_folder, stop)
        finally:
            if run_folder is not None:
                run_folder.release()


def _check_splits(config: TrainConfig, train_ids: torch.Tensor, val_ids: torch.Tensor) -> None:
    for name, ids in (("training", train_ids), ("validation", val_ids)):
        if ids.numel() < config.block_size + 1:
            raise ValueError(f"the {name} split has {ids.numel()} characters, fewer than block_size + 1 = "
                             f"{config.block_size + 1}: use a smaller --block-size or a longer corpus")


def _restore_random_state(latest: Path, saved: dict, batch_generator: torch.Generator, rank: int) -> None:
    try:
        torch.set_rng_state(saved["rng"]["torch"].cpu())
        batch_generator.set_state(saved["rng"]["batches"][rank].cpu())
    except (RuntimeError, TypeError, IndexError) as err:
        raise ValueError(f"{latest} is damaged or was edited: its random-number state cannot be restored "
                         f"({str(err).splitlines()[0]}). Resume from a good copy, or start the run again with "
                         "--overwrite") from None


def _train(config: TrainConfig, rank: int, world: int, device: torch.device, use_bf16: bool,
           run_folder: RunFolder | None, stop: _StopSignals) -> TrainResult:
    """The loop, in a claimed run folder (rank 0) or beside it (other ranks).

    Everything is checked first; the first write (and ``--overwrite``'s removal of the
    previous run) comes only after.
    """
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and config.device in ("auto", "cuda") else "gloo"
        dist.init_process_group(backend=backend)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    main_process = rank == 0
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if use_bf16 else nullcontext
    out = Path(config.out)

    corpus, tokenizer, train_ids, val_ids = load_training_data(config)
    _check_splits(config, train_ids, val_ids)
    check_memory(config, device, tokenizer.vocab_size, bf16=use_bf16)
    eval_set = [(x.to(device), y.to(device)) for x, y in
                evaluation_batches(val_ids, config.block_size, config.batch_size, config.eval_batches, seed=1234)]

    torch.manual_seed(config.seed)  # dropout
    model = CharLM(config.model_config(tokenizer.vocab_size), seed=config.seed).to(device)
    optimizer = make_optimizer(model, config, fused=device.type == "cuda")
    batch_generator = torch.Generator().manual_seed(config.seed * 1000 + rank)

    step, best_val, history, last_good = 0, None, [], None
    latest = out / "latest.pt"
    log_path = out / "metrics.jsonl"
    if config.resume and os.path.lexists(latest):
        saved = _load_resumable(latest, config, corpus, tokenizer, model, optimizer, device, world)
        _restore_random_state(latest, saved, batch_generator, rank)
        step, best_val = saved["step"], saved["best_val_loss"]
        last_good = step
        if main_process and os.path.lexists(log_path):
            history = [record for record in read_log(log_path) if record["step"] <= step]

    # Everything is checked: from here on the run writes (and --overwrite removes the previous run first).
    stop.graceful = True
    if main_process:
        assert run_folder is not None
        run_folder.clear_previous_run()
        if run_folder.removed_temporaries:
            print(f"removed {len(run_folder.removed_temporaries)} temporary file(s) left by an interrupted checkpoint "
                  "write", flush=True)
        if config.resume and os.path.lexists(log_path):
            _write_log(log_path, history)  # the records after the checkpoint are redone

    ddp_model: torch.nn.Module = model
    if world > 1:
        ddp_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)

    if main_process:
        print(f"device: {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
              f"processes: {world}, precision: {'bf16 autocast' if use_bf16 else 'fp32'}", flush=True)
        print(f"corpus: {corpus.name}, {corpus.n_chars:,} characters, vocabulary {tokenizer.vocab_size}, "
              f"sha256 {corpus.sha256[:12]}; model: {config.mixer}, {model.num_parameters():,} parameters",
              flush=True)
        text = json.dumps(asdict(config), indent=1) + "\n"
        write_atomically(out / "config.json", lambda file: file.write(text.encode("utf-8")))

    def record(entry: dict) -> None:
        history.append(entry)
        _append_record(log_path, entry)

    def checkpoint(val_loss: float | None) -> None:
        nonlocal best_val, last_good
        with torch.no_grad():
            finite = bool(torch.stack([p.isfinite().all() for p in model.parameters()]).all())
        if not finite:
            _check_finite(step, "model's weights", math.nan, out, last_good)
        states = [batch_generator.get_state()]
        if world > 1:
            gathered: list[torch.Tensor | None] = [None] * world
            dist.all_gather_object(gathered, batch_generator.get_state())
            states = [state for state in gathered if state is not None]
        if main_process:
            improved = val_loss is not None and (best_val is None or val_loss < best_val)
            if improved:
                best_val = val_loss
            payload = {"model_config": model.config.to_dict(), "train_config": asdict(config),
                       "tokenizer": tokenizer.to_dict(), "model": model.state_dict(),
                       "optimizer": optimizer.state_dict(), "step": step, "best_val_loss": best_val,
                       "rng": {"torch": torch.get_rng_state(), "batches": [s.cpu() for s in states]},
                       "corpus": corpus.describe(), "run": {"device": device.type, "world_size": world}}
            if improved:  # best.pt first: latest.pt never records a best model that is not on disk
                save_checkpoint(out / "best.pt", payload)
            save_checkpoint(latest, payload)
        last_good = step
        if world > 1:
            dist.barrier()

    tokens_per_step = config.batch_size * config.block_size * world
    last_end = config.steps if config.stop_at is None else config.stop_at
    bar = tqdm(total=config.steps, initial=step, disable=not (main_process and config.progress),
               unit="step", dynamic_ncols=True, desc=config.mixer)
    ddp_model.train()
    tick, tick_step, speed = time.perf_counter(), step, None
    while step < last_end:
        if world == 1 or step % config.log_interval == 0:  # every process stops at the same step
            signum = stop.agreed(world, device)
            if signum is not None:
                if last_good != step:
                    checkpoint(None)
                bar.close()
                raise TrainingStopped(f"stopped at step {step}; continue with --resume", signum)
        lr = learning_rate(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = sample_batch(train_ids, config.block_size, config.batch_size, batch_generator)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast():
            _, loss = ddp_model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        step += 1
        bar.update(1)
        if step % config.log_interval == 0 or step == last_end:
            loss_value = loss.item()  # synchronises the device: the clock below is honest
            _check_finite(step, "training loss", loss_value, out, last_good)
            _check_finite(step, "gradient norm", float(grad_norm), out, last_good)
            now = time.perf_counter()
            speed = tokens_per_step * (step - tick_step) / (now - tick)
            tick, tick_step = now, step
            bar.set_postfix(loss=f"{loss_value:.3f}", tok_s=f"{speed:,.0f}")
            if main_process:
                record({"step": step, "train_loss": loss_value, "lr": lr, "grad_norm": float(grad_norm),
                        "tokens_per_second": speed, "tokens_seen": step * tokens_per_step})
        if step % config.eval_interval == 0 or step == config.steps:
            final = step == config.steps
            evaluated = evaluate(model, eval_set, autocast, per_position=final)
            val_loss, per_position = evaluated if final else (evaluated, None)
            _check_finite(step, "validation loss", val_loss, out, last_good)
            if main_process:
                entry = {"step": step, "val_loss": val_loss, "tokens_seen": step * tokens_per_step}
                if per_position is not None:
                    entry["val_loss_per_position"] = per_position
                record(entry)
                bar.write(f"step {step}: validation loss {val_loss:.4f} nats/char")
            checkpoint(val_loss)
            tick = time.perf_counter()  # evaluation time is not training time
        elif step == last_end:
            checkpoint(None)
    bar.close()
    if world > 1:
        dist.barrier()
    vals = [h["val_loss"] for h in history if "val_loss" in h]
    return TrainResult(out=out, step=step, final_val_loss=vals[-1] if vals and step == config.steps else None,
                       best_val_loss=best_val, num_parameters=model.num_parameters(), tokens_per_second=speed,
                       history=history)


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #
def _option(text: str) -> tuple[str, object]:
    """``--mixer-option NAME=VALUE`` → ``(NAME, value)``, the value parsed by the type the mixer classes declare
    for NAME (:class:`OptionKind`: ``learn_lam=false`` is False, ``lrr_bounds=[1,3]`` two numbers). A NAME that no
    mixer takes is kept as text; :func:`check_mixer_options` refuses it once the mixer is known, with its options."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"mixer options look like NAME=VALUE (e.g. lam=1e-3); got {text!r}")
    name, value = text.split("=", 1)
    name = name.strip()
    kind = option_kinds().get(name)
    if kind is None:
        return name, value
    try:
        return name, kind.parse(name, value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


HELP = {
    "corpus": f"{', '.join(CORPORA)}, or the path of a UTF-8 text file",
    "mixer": "the token mixer: " + "; ".join(f"{name}: {line}" for name, line in MIXER_SUMMARIES.items()),
    "max_chars": "use only the first N characters of the corpus (quick runs)",
    "val_fraction": "the last fraction of the corpus held out for validation",
    "block_size": "context length T in characters",
    "n_layer": "number of blocks", "n_head": "heads per mixer", "d_model": "residual width",
    "positions": "learned absolute or rotary position embeddings",
    "dropout": "dropout on embeddings, mixer and MLP outputs",
    "batch_size": "sequences per step and process",
    "steps": "optimizer steps in total", "lr": "peak learning rate", "min_lr": "learning rate at the last step",
    "warmup": "linear warm-up steps", "weight_decay": "AdamW weight decay (matrices only)",
    "beta1": "AdamW β1", "beta2": "AdamW β2", "grad_clip": "clip the gradient norm to this",
    "eval_interval": "evaluate and checkpoint every N steps", "eval_batches": "fixed validation batches",
    "log_interval": "log training loss and tokens/s every N steps", "seed": "seed for weights, batches and dropout",
    "device": "auto (a CUDA GPU if there is one), cpu, cuda, cuda:1, ...",
    "precision": "auto (bf16 autocast on a GPU of compute capability 8.0 or more, else fp32), bf16 or fp32",
    "resume": "continue the run in OUT from OUT/latest.pt (an empty or new OUT starts a fresh run)",
    "overwrite": "replace the run already in OUT (its config, log and checkpoints are deleted)",
    "stop_at": "stop after this step as if interrupted (resume later with --resume)",
}


def parse_args(argv: list[str] | None = None, prog: str = "python -m cubit_lite.train") -> TrainConfig:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    defaults = TrainConfig(out="")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "mixer_options":
            parser.add_argument("--mixer-option", dest="mixer_options", action="append", type=_option, default=[],
                                metavar="NAME=VALUE", help="an option of the mixer, e.g. lam=1e-3, learn_lam=false or "
                                "lrr_bounds=[0.5,2], read by its declared type (repeatable)")
        elif f.name == "out":
            parser.add_argument(flag, required=True, help="folder for config.json, metrics.jsonl and checkpoints")
        elif f.type in ("bool", bool):
            if f.name == "progress":
                parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
            else:
                parser.add_argument(flag, action="store_true", help=HELP.get(f.name))
        else:
            kind = {"int": int, "float": float, "str": str, "int | None": int}.get(str(f.type), str)
            choices = {"mixer": MIXER_NAMES, "positions": POSITIONS, "precision": ("auto", "bf16", "fp32")}
            parser.add_argument(flag, type=kind, default=getattr(defaults, f.name), choices=choices.get(f.name),
                                help=HELP.get(f.name, " "))
    args = vars(parser.parse_args(argv))
    args["mixer_options"] = dict(args["mixer_options"])
    try:
        return TrainConfig(**args).validate()
    except ValueError as err:
        parser.error(str(err))


def main(argv: list[str] | None = None, prog: str = "python -m cubit_lite.train") -> TrainResult:
    config = parse_args(argv, prog)
    try:
        result = train(config)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if _distributed()[0] == 0:
        print(json.dumps({"step": result.step, "final_val_loss": result.final_val_loss,
                          "best_val_loss": result.best_val_loss, "num_parameters": result.num_parameters,
                          "tokens_per_second": result.tokens_per_second}))
    return result


def cli(argv: list[str] | None = None, prog: str = "cubit-train") -> None:
    """The command line: ``cubit-train`` (console script) and ``python -m cubit_lite.train``.

    Bad input found after parsing and a full disk end in one line ``error: ...`` and exit status 2;
    Ctrl-C (SIGINT) or SIGTERM in one line ``stopped at step N; continue with --resume`` and exit
    status 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM).
    """
    try:
        main(argv, prog)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as stop:  # TrainingStopped, or an interrupt before its handler was installed
        print(str(stop) or "stopped before the first step; nothing was written: run the same command again",
              file=sys.stderr)
        sys.exit(getattr(stop, "exit_status", 128 + signal.SIGINT))


if __name__ == "__main__":
    cli(prog="python -m cubit_lite.train")
