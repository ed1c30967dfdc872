"""Train a character language model: ``python -m cubit_lite.train`` or :func:`train`.

One loop for every mixer, so that a comparison changes nothing but the mixer:

* AdamW (weight decay on matrices only), linear warm-up then cosine decay to
  ``min_lr``, gradient clipping;
* bf16 autocast on a GPU with bf16 tensor cores (compute capability 8.0 or more; the
  Cubit and DeltaFormer solves stay in float32), float32 elsewhere: on a CPU, and on a
  T4 or other GPU older than Ampere (see :func:`cubit_lite.runtime.use_bf16_autocast`);
* validation loss on a fixed list of batches every ``eval_interval`` steps, and the
  per-position loss at the end (how the loss falls with the position in the context);
* at the start, one line each for the device and precision, the corpus and model, and how
  the mixers run (each mixer's implementation and precision, :func:`mixer_paths`);
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
  the run needs (:func:`cubit_lite.memory.check_memory`), and on ``--resume`` everything the
  checkpoint and the log hold (:mod:`cubit_lite.resume`);
* a run that diverges (a non-finite loss, gradient or weight) stopped with a message, its
  last good checkpoints kept; Ctrl-C (SIGINT) or SIGTERM stops after the current step
  with a checkpoint and one line, ``stopped at step N; continue with --resume`` (exit
  status 128 + the signal's number: 130 for Ctrl-C);
* several GPUs or CPU processes through ``torchrun --nproc_per_node=N`` (PyTorch's
  DistributedDataParallel; NCCL on GPUs, gloo on CPUs), which sets ``WORLD_SIZE``,
  ``RANK`` and ``LOCAL_RANK``; the run is distributed only when ``WORLD_SIZE`` > 1 (a
  stray ``RANK`` without it is refused). ``batch_size`` is per process, so tokens per
  step = ``batch_size · block_size · N``.

This module holds the loop and the command line. Its pieces live beside it:
:mod:`cubit_lite.train_config` (:class:`TrainConfig` and its checks),
:mod:`cubit_lite.mixer_options` (``--mixer-option`` by the mixers' declared types),
:mod:`cubit_lite.optim` (AdamW and the learning-rate schedule), :mod:`cubit_lite.runtime`
(device, precision, torchrun's processes), :mod:`cubit_lite.stop_signals` (SIGINT and
SIGTERM), :mod:`cubit_lite.memory` (the up-front memory check),
:mod:`cubit_lite.metrics_log` (``metrics.jsonl``) and :mod:`cubit_lite.resume` (what a
checkpoint saves, and what ``--resume`` checks and restores).

Example (a few minutes on a laptop CPU)::

    python -m cubit_lite.train --mixer cubit --corpus shakespeare --block-size 64 \\
        --n-layer 2 --n-head 2 --d-model 64 --batch-size 16 --steps 300 --out runs/cubit-tiny
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from .data import CORPORA, CharTokenizer, Corpus, evaluation_batches, load_corpus, sample_batch
from .memory import check_memory
from .metrics_log import append_record, write_log
from .mixer_options import parse_mixer_option
from .mixers import MIXER_NAMES, MIXER_SUMMARIES, MultiHeadMixer
from .model import POSITIONS, CharLM
from .optim import learning_rate, make_optimizer
from .resume import RESUMABLE_CHANGES, Progress, resume_training, save_training_state, training_state
from .run_folder import RunFolder, claim_run_folder, write_atomically
from .runtime import choose_device, distributed_environment, use_bf16_autocast
from .stop_signals import StopSignals, TrainingStopped
from .train_config import TrainConfig

# The names below that are defined elsewhere (TrainConfig, TrainingStopped, check_memory, use_bf16_autocast,
# RESUMABLE_CHANGES, learning_rate, make_optimizer) stay importable from here, where the chapters, the
# experiments and the benchmarks import them.
__all__ = ["RESUMABLE_CHANGES", "TrainConfig", "TrainResult", "TrainingDiverged", "TrainingStopped", "check_memory",
           "evaluate", "learning_rate", "load_training_data", "main", "make_optimizer", "mixer_paths", "parse_args",
           "train", "use_bf16_autocast"]


class TrainingDiverged(ValueError):
    """The loss, a gradient or a weight became NaN or infinite; the last good checkpoints are kept."""


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


def _check_splits(config: TrainConfig, train_ids: torch.Tensor, val_ids: torch.Tensor) -> None:
    for name, ids in (("training", train_ids), ("validation", val_ids)):
        if ids.numel() < config.block_size + 1:
            raise ValueError(f"the {name} split has {ids.numel()} characters, fewer than block_size + 1 = "
                             f"{config.block_size + 1}: use a smaller --block-size or a longer corpus")


def _check_finite(step: int, what: str, value: float, out: Path, last_good: int | None) -> None:
    if not math.isfinite(value):
        kept = (f"the last good checkpoints (step {last_good}) are kept in {out}" if last_good is not None
                else "no checkpoint had been written yet")
        raise TrainingDiverged(f"training diverged at step {step}: the {what} is {value}; {kept}. "
                               "Lower --lr, or keep --grad-clip at about 1")


def train(config: TrainConfig) -> TrainResult:
    """Run (or resume) the training described by ``config``; see the module docstring.

    Raises :class:`TrainingStopped` (a ``KeyboardInterrupt``) when SIGINT or SIGTERM stops it.
    """
    config.validate()
    config.check_model()
    rank, world, local_rank = distributed_environment()
    device = choose_device(config.device, local_rank)
    use_bf16 = use_bf16_autocast(config.precision, device)
    if config.mixer_options.get("implementation") == "triton" and device.type != "cuda":
        raise ValueError(f"mixer option implementation=triton runs only on a CUDA GPU and this run is on {device.type}:"
                         " use implementation=blocked or auto, or --device cuda")
    check_memory(config, device, bf16=use_bf16)  # before the corpus is read: the parts that do not need it
    with StopSignals() as stop:
        run_folder = (claim_run_folder(config.out, resume=config.resume, overwrite=config.overwrite)
                      if rank == 0 else None)
        try:
            return _train(config, rank, world, device, use_bf16, run_folder, stop)
        finally:
            if run_folder is not None:
                run_folder.release()


# --------------------------------------------------------------------------- #
# The loop: prepare (every check, nothing written), start writing, train
# --------------------------------------------------------------------------- #
@dataclass
class _Run:
    """A run while it trains: what the loop reads, what it changes (``progress``; ``last_good``, the last step
    checkpointed; the clock of the tokens/s) and what a checkpoint saves."""

    config: TrainConfig
    rank: int
    world: int
    device: torch.device
    autocast: Callable[[], AbstractContextManager]
    corpus: Corpus
    tokenizer: CharTokenizer
    train_ids: torch.Tensor
    eval_set: list[tuple[torch.Tensor, torch.Tensor]]
    model: CharLM
    optimizer: torch.optim.AdamW
    batch_generator: torch.Generator
    progress: Progress = field(default_factory=Progress)
    last_good: int | None = None
    tick: float = 0.0  # when the tokens/s clock started, and at which step
    tick_step: int = 0
    speed: float | None = None

    @property
    def step(self) -> int:
        return self.progress.step

    @property
    def main_process(self) -> bool:
        return self.rank == 0

    @property
    def out(self) -> Path:
        return Path(self.config.out)

    @property
    def log_path(self) -> Path:
        return self.out / "metrics.jsonl"

    @property
    def tokens_per_step(self) -> int:
        return self.config.batch_size * self.config.block_size * self.world

    def record(self, entry: dict) -> None:
        """Keep ``entry`` in the history and append it to ``metrics.jsonl`` (rank 0 only)."""
        self.progress.history.append(entry)
        append_record(self.log_path, entry)

    def checkpoint(self, val_loss: float | None) -> None:
        """Save ``latest.pt`` (and ``best.pt`` first when ``val_loss`` improves) on rank 0, after every process
        has sent its batch generator's state; non-finite weights stop the run instead."""
        with torch.no_grad():
            finite = bool(torch.stack([p.isfinite().all() for p in self.model.parameters()]).all())
        if not finite:
            _check_finite(self.step, "model's weights", math.nan, self.out, self.last_good)
        states = [self.batch_generator.get_state()]
        if self.world > 1:
            gathered: list[torch.Tensor | None] = [None] * self.world
            dist.all_gather_object(gathered, self.batch_generator.get_state())
            states = [state for state in gathered if state is not None]
        if self.main_process:
            best = self.progress.best_val
            improved = val_loss is not None and (best is None or val_loss < best)
            if improved:
                self.progress.best_val = val_loss
            state = training_state(config=self.config, model=self.model, optimizer=self.optimizer,
                                   tokenizer=self.tokenizer, corpus=self.corpus, progress=self.progress,
                                   batch_states=states, device=self.device, world=self.world)
            save_training_state(self.out, state, best=improved)
        self.last_good = self.step
        if self.world > 1:
            dist.barrier()

    def stop_if_asked(self, stop: StopSignals) -> None:
        """After SIGINT or SIGTERM (agreed by every process, at the same step): a checkpoint, then
        :class:`TrainingStopped`."""
        if self.world > 1 and self.step % self.config.log_interval:
            return  # the processes agree every log_interval steps, so that all stop at the same step
        signum = stop.agreed(self.world, self.device)
        if signum is not None:
            if self.last_good != self.step:
                self.checkpoint(None)
            raise TrainingStopped(f"stopped at step {self.step}; continue with --resume", signum)

    def train_step(self, ddp_model: torch.nn.Module) -> tuple[float, torch.Tensor, torch.Tensor]:
        """One optimizer step on the next batch at this step's learning rate: ``(lr, loss, gradient norm)``."""
        lr = learning_rate(self.step, self.config)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x, y = sample_batch(self.train_ids, self.config.block_size, self.config.batch_size, self.batch_generator)
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        with self.autocast():
            _, loss = ddp_model(x, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.progress.step += 1
        return lr, loss, grad_norm

    def log_training(self, bar, lr: float, loss: torch.Tensor, grad_norm: torch.Tensor) -> None:
        """The training loss, gradient norm and tokens/s since the last log: checked, shown and logged."""
        loss_value = loss.item()  # synchronises the device: the clock below is honest
        _check_finite(self.step, "training loss", loss_value, self.out, self.last_good)
        _check_finite(self.step, "gradient norm", float(grad_norm), self.out, self.last_good)
        now = time.perf_counter()
        self.speed = self.tokens_per_step * (self.step - self.tick_step) / (now - self.tick)
        self.tick, self.tick_step = now, self.step
        bar.set_postfix(loss=f"{loss_value:.3f}", tok_s=f"{self.speed:,.0f}")
        if self.main_process:
            self.record({"step": self.step, "train_loss": loss_value, "lr": lr, "grad_norm": float(grad_norm),
                         "tokens_per_second": self.speed, "tokens_seen": self.step * self.tokens_per_step})

    def evaluate_and_checkpoint(self, bar) -> None:
        """The validation loss (and, at the last step, per position), logged and shown; then a checkpoint.
        The tokens/s clock restarts after it: evaluation time is not training time."""
        final = self.step == self.config.steps
        evaluated = evaluate(self.model, self.eval_set, self.autocast, per_position=final)
        val_loss, per_position = evaluated if final else (evaluated, None)
        _check_finite(self.step, "validation loss", val_loss, self.out, self.last_good)
        if self.main_process:
            entry = {"step": self.step, "val_loss": val_loss, "tokens_seen": self.step * self.tokens_per_step}
            if per_position is not None:
                entry["val_loss_per_position"] = per_position
            self.record(entry)
            bar.write(f"step {self.step}: validation loss {val_loss:.4f} nats/char")
        self.checkpoint(val_loss)
        self.tick = time.perf_counter()

    def result(self) -> TrainResult:
        vals = [h["val_loss"] for h in self.progress.history if "val_loss" in h]
        return TrainResult(out=self.out, step=self.step,
                           final_val_loss=vals[-1] if vals and self.step == self.config.steps else None,
                           best_val_loss=self.progress.best_val, num_parameters=self.model.num_parameters(),
                           tokens_per_second=self.speed, history=self.progress.history)


def _prepare_run(config: TrainConfig, rank: int, world: int, device: torch.device, use_bf16: bool) -> _Run:
    """Join the other processes, read and check the data, build the model and optimizer, and on ``--resume``
    load and check ``latest.pt`` and read the log up to it. Nothing is written."""
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and config.device in ("auto", "cuda") else "gloo"
        dist.init_process_group(backend=backend)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if use_bf16 else nullcontext

    corpus, tokenizer, train_ids, val_ids = load_training_data(config)
    _check_splits(config, train_ids, val_ids)
    check_memory(config, device, tokenizer.vocab_size, bf16=use_bf16)
    eval_set = [(x.to(device), y.to(device)) for x, y in
                evaluation_batches(val_ids, config.block_size, config.batch_size, config.eval_batches, seed=1234)]

    torch.manual_seed(config.seed)  # dropout
    model = CharLM(config.model_config(tokenizer.vocab_size), seed=config.seed).to(device)
    optimizer = make_optimizer(model, config, fused=device.type == "cuda")
    batch_generator = torch.Generator().manual_seed(config.seed * 1000 + rank)
    run = _Run(config, rank, world, device, autocast, corpus, tokenizer, train_ids, eval_set, model, optimizer,
               batch_generator)

    latest = run.out / "latest.pt"
    if config.resume and os.path.lexists(latest):
        run.progress = resume_training(latest, config, corpus, tokenizer, model, optimizer, device, world=world,
                                       rank=rank, batch_generator=batch_generator,
                                       log_path=run.log_path if run.main_process else None)
        run.last_good = run.step
    return run


def _start_writing(run: _Run, run_folder: RunFolder | None) -> None:
    """Rank 0's first writes: ``--overwrite`` removes the previous run, ``--resume`` drops the log's records after
    the checkpoint (they are redone)."""
    assert run_folder is not None
    run_folder.clear_previous_run()
    if run_folder.removed_temporaries:
        print(f"removed {len(run_folder.removed_temporaries)} temporary file(s) left by an interrupted checkpoint "
              "write", flush=True)
    if run.config.resume and os.path.lexists(run.log_path):
        write_log(run.log_path, run.progress.history)  # the records after the checkpoint are redone


def mixer_paths(model: torch.nn.Module, device: torch.device, *, bf16: bool) -> str:
    """How the model's mixers run on ``device``, in one line: each mixer's implementation and precision
    (:meth:`~cubit_lite.mixers.MultiHeadMixer.path`; under bf16 autocast its projections give bfloat16)."""
    counts: Counter[str] = Counter()
    for module in model.modules():
        if isinstance(module, MultiHeadMixer):
            dtype = torch.bfloat16 if bf16 else module.query.weight.dtype
            counts[f"{module.name}, {module.path(device, dtype)}"] += 1
    return "mixers: " + "; ".join(f"{count} × {path}" for path, count in counts.items())


def _announce(run: _Run, use_bf16: bool) -> None:
    """Print the device, the corpus, the model and how its mixers run, and write ``config.json`` (rank 0)."""
    device, config = run.device, run.config
    print(f"device: {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
          f"processes: {run.world}, precision: {'bf16 autocast' if use_bf16 else 'fp32'}", flush=True)
    print(f"corpus: {run.corpus.name}, {run.corpus.n_chars:,} characters, vocabulary {run.tokenizer.vocab_size}, "
          f"sha256 {run.corpus.sha256[:12]}; model: {config.mixer}, {run.model.num_parameters():,} parameters",
          flush=True)
    print(mixer_paths(run.model, device, bf16=use_bf16), flush=True)
    text = json.dumps(asdict(config), indent=1) + "\n"
    write_atomically(run.out / "config.json", lambda file: file.write(text.encode("utf-8")))


def _across_processes(model: CharLM, world: int, device: torch.device) -> torch.nn.Module:
    """The model as the training step calls it: wrapped in DistributedDataParallel when there are several
    processes (their gradients averaged in backward), else itself."""
    if world == 1:
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def _train(config: TrainConfig, rank: int, world: int, device: torch.device, use_bf16: bool,
           run_folder: RunFolder | None, stop: StopSignals) -> TrainResult:
    """The loop, in a claimed run folder (rank 0) or beside it (other ranks).

    Everything is checked first; the first write (and ``--overwrite``'s removal of the
    previous run) comes only after.
    """
    run = _prepare_run(config, rank, world, device, use_bf16)

    # Everything is checked: from here on the run writes (and --overwrite removes the previous run first).
    stop.graceful = True
    if run.main_process:
        _start_writing(run, run_folder)
    ddp_model = _across_processes(run.model, world, device)
    if run.main_process:
        _announce(run, use_bf16)

    last_end = config.steps if config.stop_at is None else config.stop_at
    ddp_model.train()
    run.tick, run.tick_step = time.perf_counter(), run.step
    with tqdm(total=config.steps, initial=run.step, disable=not (run.main_process and config.progress),
              unit="step", dynamic_ncols=True, desc=config.mixer) as bar:
        while run.step < last_end:
            run.stop_if_asked(stop)
            lr, loss, grad_norm = run.train_step(ddp_model)
            bar.update(1)
            if run.step % config.log_interval == 0 or run.step == last_end:
                run.log_training(bar, lr, loss, grad_norm)
            if run.step % config.eval_interval == 0 or run.step == config.steps:
                run.evaluate_and_checkpoint(bar)
            elif run.step == last_end:
                run.checkpoint(None)
    if world > 1:
        dist.barrier()
    return run.result()


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #
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
            parser.add_argument("--mixer-option", dest="mixer_options", action="append", type=parse_mixer_option,
                                default=[], metavar="NAME=VALUE",
                                help="an option of the mixer, e.g. lam=1e-3, learn_lam=false or "
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
    if distributed_environment()[0] == 0:
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
