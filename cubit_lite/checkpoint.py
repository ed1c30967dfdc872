"""Checkpoints: written atomically, checked on load, and enough to rebuild a model.

A checkpoint is a dictionary saved with :func:`torch.save`:

* ``"format"`` — :data:`FORMAT`, so that a stray ``.pt`` file is refused clearly;
* ``"model_config"`` — :class:`~cubit_lite.model.ModelConfig` as a dict;
* ``"tokenizer"`` — :meth:`~cubit_lite.data.CharTokenizer.to_dict`;
* ``"model"`` — the state dict;
* training state when written by :mod:`cubit_lite.train` (``"train_config"``,
  ``"optimizer"``, ``"step"``, ``"rng"``, ``"best_val_loss"``, ``"corpus"``).

Writes go to a temporary file in the same folder followed by :func:`os.replace`, so
an interrupted write never leaves a truncated checkpoint behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .data import CharTokenizer
from .model import CharLM, ModelConfig

__all__ = ["FORMAT", "export_weights", "load_checkpoint", "load_model", "save_checkpoint"]

FORMAT = "cubit-lite-checkpoint-v1"


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """Write ``payload`` (with ``"format"`` added) to ``path`` atomically; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save({"format": FORMAT, **payload}, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`, or raise a clear error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # a truncated or foreign file: say so, whatever torch raised
        raise ValueError(f"{path} is not a readable checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a cubit_lite checkpoint (expected format {FORMAT!r})")
    return payload


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[CharLM, CharTokenizer, dict]:
    """Rebuild the model and tokenizer stored in a checkpoint (weights in float32, eval mode)."""
    payload = load_checkpoint(path, map_location="cpu")
    model = CharLM(ModelConfig.from_dict(payload["model_config"]))
    state = {name: tensor.float() if tensor.is_floating_point() else tensor
             for name, tensor in payload["model"].items()}
    model.load_state_dict(state)
    model.to(device).eval()
    return model, CharTokenizer.from_dict(payload["tokenizer"]), payload


def export_weights(path: str | os.PathLike, out: str | os.PathLike, dtype: torch.dtype = torch.float16) -> Path:
    """A small copy of a checkpoint for publishing: weights in ``dtype``, no optimizer state."""
    payload = load_checkpoint(path)
    keep = {key: payload[key] for key in ("model_config", "tokenizer", "train_config", "step", "best_val_loss",
                                          "corpus") if key in payload}
    keep["model"] = {name: tensor.to(dtype) if tensor.is_floating_point() else tensor
                     for name, tensor in payload["model"].items()}
    return save_checkpoint(out, keep)
