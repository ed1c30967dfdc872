"""A training run's settings (``TrainConfig``) and their checks; every field is a command-line flag.

:meth:`TrainConfig.validate` checks the fields (finite, in range, consistent with each
other; the mixer options by their declared types, :mod:`cubit_lite.mixer_options`), and
:meth:`TrainConfig.check_model` the model they build (its shape, the options its mixer
takes) on the meta device, without allocating it. :func:`cubit_lite.train.train` runs
both before it reads the corpus.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .mixer_options import check_mixer_options, check_option_types
from .mixers import MIXER_NAMES, build_mixer
from .model import POSITIONS, ModelConfig
from .validation import positive_int

__all__ = ["DEVICE_PATTERN", "MAX_LR", "MAX_SEED", "TrainConfig"]

MAX_LR = 1.0  # AdamW learning rates above this are a typo, not an experiment
MAX_SEED = 2**32 - 1  # the batch generator is seeded with seed · 1000 + rank, which must fit in 64 bits
DEVICE_PATTERN = r"auto|cpu|mps|cuda(:\d+)?"


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
            setattr(self, name, positive_int(name, getattr(self, name)))
        for name in ("warmup", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0; got {value!r}")
        if self.seed > MAX_SEED:
            raise ValueError(f"seed must be at most 2**32 - 1 = {MAX_SEED}; got {self.seed}")
        for name in ("max_chars", "stop_at"):
            setattr(self, name, positive_int(name, getattr(self, name), allow_none=True))
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
