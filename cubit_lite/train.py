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
* a run folder that is never silently overwritten and never shared by two trainers
  (:mod:`cubit_lite.run_folder`: ``--resume`` continues, ``--overwrite`` replaces);
* hyperparameters checked before any work (finite, in range), and a run that diverges
  (a non-finite loss, gradient or weight) stopped with a message, its last good
  checkpoints kept;
* several GPUs or CPU processes through ``torchrun --nproc_per_node=N`` (PyTorch's
  DistributedDataParallel; NCCL on GPUs, gloo on CPUs). ``batch_size`` is per
  process, so tokens per step = ``batch_size · block_size · N``.

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
import re
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from .checkpoint import load_checkpoint, save_checkpoint
from .data import CORPORA, CharTokenizer, _machine_memory, evaluation_batches, load_corpus, sample_batch
from .mixers import MIXER_NAMES, MIXER_SUMMARIES
from .model import POSITIONS, CharLM, ModelConfig
from .run_folder import claim_run_folder

__all__ = ["TrainConfig", "TrainResult", "TrainingDiverged", "evaluate", "main", "train", "use_bf16_autocast"]

# Fields that may differ between a run and its resumption: they do not change the numbers.
# (The folder may move; the corpus is compared by the sha256 of its text, and the device
# by the kind of device it resolves to, both stored in the checkpoint.)
RESUMABLE_CHANGES = ("resume", "stop_at", "progress", "overwrite", "out", "corpus", "device")
MAX_LR = 1.0  # AdamW learning rates above this are a typo, not an experiment
DEVICE_PATTERN = r"auto|cpu|mps|cuda(:\d+)?"


class TrainingDiverged(ValueError):
    """The loss, a gradient or a weight became NaN or infinite; the last good checkpoints are kept."""


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
        for name in ("block_size", "batch_size", "steps", "eval_interval", "eval_batches", "log_interval",
                     "n_layer", "n_head", "d_model"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        for name in ("warmup", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0; got {value!r}")
        if self.max_chars is not None and (not isinstance(self.max_chars, int) or self.max_chars < 1):
            raise ValueError(f"max_chars must be a positive integer (or left out for the whole corpus); "
                             f"got {self.max_chars!r}")
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
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision must be auto, bf16 or fp32; got {self.precision!r}")
        if self.stop_at is not None and not 0 < self.stop_at <= self.steps:
            raise ValueError(f"stop_at must be between 1 and steps ({self.steps}); got {self.stop_at}")
        return self

    def model_config(self, vocab_size: int) -> ModelConfig:
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
    if requested != "auto":
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("--device cuda was asked for, but no CUDA GPU is available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


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


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def _config_differences(saved: dict, current: TrainConfig) -> list[str]:
    now = asdict(current)
    return [f"{key}: checkpoint {saved.get(key)!r} vs now {now[key]!r}"
            for key in now if key not in RESUMABLE_CHANGES and saved.get(key, now[key]) != now[key]]


def _available_memory(device: torch.device) -> int | None:
    """Bytes of memory on ``device`` (the GPU's total, or the machine's RAM); ``None`` if unknown."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return _machine_memory()


def check_batch_fits(config: TrainConfig, device: torch.device) -> None:
    """Refuse a batch whose activations alone cannot fit, before anything is allocated.

    A lower bound, not an estimate: backpropagation keeps at least each block's
    residual-stream output, ``4 · batch · T · d_model · (n_layer + 1)`` bytes in float32
    (:func:`cubit_lite.memory.training_step_memory` gives the full peak).
    """
    need = 4 * config.batch_size * config.block_size * config.d_model * (config.n_layer + 1)
    have = _available_memory(device)
    if have is not None and need > have:
        raise ValueError(f"batch_size {config.batch_size} × block_size {config.block_size} needs at least "
                         f"{need / 2**30:,.1f} GiB of activations, more than the {have / 2**30:,.1f} GiB of "
                         f"{device.type} memory: lower --batch-size or --block-size")


def _check_finite(step: int, what: str, value: float, out: Path, last_good: int | None) -> None:
    if not math.isfinite(value):
        kept = (f"the last good checkpoints (step {last_good}) are kept in {out}" if last_good is not None
                else "no checkpoint had been written yet")
        raise TrainingDiverged(f"training diverged at step {step}: the {what} is {value}; {kept}. "
                               "Lower --lr, or keep --grad-clip at about 1")


def _rewrite_log(path: Path, up_to_step: int) -> list[dict]:
    """Keep the metrics records of steps <= ``up_to_step`` (those after the checkpoint are redone)."""
    if not path.exists():
        return []
    kept = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [record for record in kept if record["step"] <= up_to_step]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
    os.replace(tmp, path)
    return kept


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
def train(config: TrainConfig) -> TrainResult:
    """Run (or resume) the training described by ``config``; see the module docstring."""
    config.validate()
    rank, world, local_rank = _distributed()
    device = choose_device(config.device, local_rank)
    use_bf16 = use_bf16_autocast(config.precision, device)
    if config.mixer_options.get("implementation") == "triton" and device.type != "cuda":
        raise ValueError(f"mixer option implementation=triton runs only on a CUDA GPU and this run is on {device.type}:"
                         " use implementation=blocked or auto, or --device cuda")
    check_batch_fits(config, device)
    run_folder = claim_run_folder(config.out, resume=config.resume, overwrite=config.overwrite) if rank == 0 else None
    removed = run_folder.removed_temporaries if run_folder is not None else []
    try:
        return _train(config, rank, world, device, use_bf16, removed)
    finally:
        if run_folder is not None:
            run_folder.release()


def _train(config: TrainConfig, rank: int, world: int, device: torch.device, use_bf16: bool,
           removed: list[Path]) -> TrainResult:
    """The loop, in a claimed run folder (rank 0) or beside it (other ranks)."""
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and config.device in ("auto", "cuda") else "gloo"
        dist.init_process_group(backend=backend)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    main_process = rank == 0
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if use_bf16 else nullcontext
    out = Path(config.out)

    corpus, tokenizer, train_ids, val_ids = load_training_data(config)
    for name, ids in (("training", train_ids), ("validation", val_ids)):
        if ids.numel() < config.block_size + 1:
            raise ValueError(f"the {name} split has {ids.numel()} characters, fewer than block_size + 1 = "
                             f"{config.block_size + 1}: use a smaller --block-size or a longer corpus")
    eval_set = [(x.to(device), y.to(device)) for x, y in
                evaluation_batches(val_ids, config.block_size, config.batch_size, config.eval_batches, seed=1234)]

    torch.manual_seed(config.seed)  # dropout
    model = CharLM(config.model_config(tokenizer.vocab_size), seed=config.seed).to(device)
    optimizer = make_optimizer(model, config, fused=device.type == "cuda")
    batch_generator = torch.Generator().manual_seed(config.seed * 1000 + rank)

    step, best_val, history, last_good = 0, None, [], None
    latest = out / "latest.pt"
    log_path = out / "metrics.jsonl"
    if config.resume and latest.exists():
        saved = load_checkpoint(latest, map_location=device)
        differences = _config_differences(saved["train_config"], config)
        if saved["corpus"]["sha256"] != corpus.sha256:
            differences.append("the corpus text (its sha256 differs)")
        run = saved.get("run", {})
        if run.get("device", device.type) != device.type:
            differences.append(f"the device: checkpoint {run['device']} vs now {device.type}")
        if run.get("world_size", world) != world:
            raise ValueError(f"{latest} was written by {run['world_size']} processes and this run has {world}: "
                             f"resume it with torchrun --nproc_per_node={run['world_size']} (the batches of each "
                             "process are part of the saved state)")
        if differences:
            raise ValueError(f"{latest} comes from another configuration; differences: " + "; ".join(differences))
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        step, best_val = saved["step"], saved["best_val_loss"]
        last_good = step
        torch.set_rng_state(saved["rng"]["torch"].cpu())
        batch_generator.set_state(saved["rng"]["batches"][rank].cpu())
        if main_process:
            history = _rewrite_log(log_path, step)
    if main_process and removed:
        print(f"removed {len(removed)} temporary file(s) left by an interrupted checkpoint write", flush=True)

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
        (out / "config.json").write_text(json.dumps(asdict(config), indent=1) + "\n", encoding="utf-8")

    def record(entry: dict) -> None:
        history.append(entry)
        with log_path.open("a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")

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
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"mixer options look like NAME=VALUE (e.g. lam=1e-3); got {text!r}")
    name, value = text.split("=", 1)
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


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
                                metavar="NAME=VALUE", help="an option of the mixer, e.g. lam=1e-3 (repeatable)")
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

    Bad input found after parsing and a full disk end in one line ``error: ...`` and exit status 2.
    """
    try:
        main(argv, prog)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    cli(prog="python -m cubit_lite.train")
