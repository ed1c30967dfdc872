"""A run's training state: what its checkpoints save, and what ``--resume`` checks and restores.

:func:`training_state` is what ``latest.pt`` and ``best.pt`` hold (the model, and
:data:`TRAINING_STATE`), :func:`save_training_state` writes them. :func:`resume_training`
continues a run from ``latest.pt``: :func:`load_resumable` refuses, with a ValueError naming
what differs, a checkpoint without training state, one written by another number of
processes, one from another configuration (but the fields in :data:`RESUMABLE_CHANGES`),
corpus, vocabulary or device, and one whose weights, AdamW moments, step or random state do
not fit the model it claims; :func:`restore_random_state` then puts back the random-number
generators, so that the run continues exactly where it stopped.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .checkpoint import load_checkpoint, save_checkpoint
from .data import CharTokenizer, Corpus
from .metrics_log import read_log
from .model import CharLM
from .train_config import TrainConfig

__all__ = ["RESUMABLE_CHANGES", "TRAINING_STATE", "Progress", "load_resumable", "restore_random_state",
           "resume_training", "save_training_state", "training_state"]

# Fields that may differ between a run and its resumption: they do not change the numbers.
# (The folder may move; the corpus is compared by the sha256 of its text, and the device
# by the kind of device it resolves to, both stored in the checkpoint.)
RESUMABLE_CHANGES = ("resume", "stop_at", "progress", "overwrite", "out", "corpus", "device")
TRAINING_STATE = ("train_config", "optimizer", "step", "best_val_loss", "rng", "corpus")
"""What ``--resume`` needs in ``latest.pt`` beyond the model (``export_weights`` keeps none of it)."""


def _plain(value):
    """``value`` as JSON would give it back (tuples become lists): what comparisons with a saved file need."""
    return json.loads(json.dumps(value))


def _config_differences(saved: dict, current: TrainConfig) -> list[str]:
    now, saved = _plain(asdict(current)), _plain(saved)
    return [f"{key}: checkpoint {saved.get(key)!r} vs now {now[key]!r}"
            for key in now if key not in RESUMABLE_CHANGES and saved.get(key, now[key]) != now[key]]


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


def load_resumable(latest: Path, config: TrainConfig, corpus, tokenizer: CharTokenizer, model: CharLM,
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


def restore_random_state(latest: Path, saved: dict, batch_generator: torch.Generator, rank: int) -> None:
    """Put back the random-number state that :func:`load_resumable` read from ``latest``: torch's (dropout) and
    this process's batch generator's; a state that cannot be restored is refused as damage."""
    try:
        torch.set_rng_state(saved["rng"]["torch"].cpu())
        batch_generator.set_state(saved["rng"]["batches"][rank].cpu())
    except (RuntimeError, TypeError, IndexError) as err:
        raise ValueError(f"{latest} is damaged or was edited: its random-number state cannot be restored "
                         f"({str(err).splitlines()[0]}). Resume from a good copy, or start the run again with "
                         "--overwrite") from None


@dataclass
class Progress:
    """Where a run stands: its step, its best validation loss so far, and its log's records up to that step."""

    step: int = 0
    best_val: float | None = None
    history: list[dict] = field(default_factory=list)


def training_state(*, config: TrainConfig, model: CharLM, optimizer: torch.optim.Optimizer,
                   tokenizer: CharTokenizer, corpus: Corpus, progress: Progress, batch_states: list[torch.Tensor],
                   device: torch.device, world: int) -> dict:
    """What a checkpoint holds: the model (what :func:`~cubit_lite.checkpoint.load_model` reads) and the
    :data:`TRAINING_STATE` that :func:`resume_training` checks and restores; ``batch_states`` holds each
    process's batch generator state, in rank order."""
    return {"model_config": model.config.to_dict(), "train_config": asdict(config), "tokenizer": tokenizer.to_dict(),
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": progress.step,
            "best_val_loss": progress.best_val,
            "rng": {"torch": torch.get_rng_state(), "batches": [state.cpu() for state in batch_states]},
            "corpus": corpus.describe(), "run": {"device": device.type, "world_size": world}}


def save_training_state(out: Path, state: dict, *, best: bool) -> None:
    """Write ``state`` to ``out/latest.pt``, and first to ``out/best.pt`` when ``best``: ``latest.pt`` never
    records a best model that is not on disk."""
    if best:
        save_checkpoint(out / "best.pt", state)
    save_checkpoint(out / "latest.pt", state)


def resume_training(latest: Path, config: TrainConfig, corpus: Corpus, tokenizer: CharTokenizer, model: CharLM,
                    optimizer: torch.optim.Optimizer, device: torch.device, *, world: int, rank: int,
                    batch_generator: torch.Generator, log_path: Path | None) -> Progress:
    """Continue a run from ``latest``: check it and load it into ``model`` and ``optimizer``
    (:func:`load_resumable`), put back the random-number state (:func:`restore_random_state`) and, with a
    ``log_path`` (rank 0), read the log's records up to the checkpoint's step."""
    saved = load_resumable(latest, config, corpus, tokenizer, model, optimizer, device, world)
    restore_random_state(latest, saved, batch_generator, rank)
    progress = Progress(step=saved["step"], best_val=saved["best_val_loss"])
    if log_path is not None and os.path.lexists(log_path):
        progress.history = [record for record in read_log(log_path) if record["step"] <= progress.step]
    return progress
