"""Checkpoints: written atomically, checked on load, and enough to rebuild a model.

A checkpoint is a dictionary saved with :func:`torch.save`:

* ``"format"`` — :data:`FORMAT`, so that a stray ``.pt`` file is refused clearly;
* ``"model_config"`` — :class:`~cubit_lite.model.ModelConfig` as a dict;
* ``"tokenizer"`` — :meth:`~cubit_lite.data.CharTokenizer.to_dict`;
* ``"model"`` — the state dict;
* training state when written by :mod:`cubit_lite.train` (``"train_config"``,
  ``"optimizer"``, ``"step"``, ``"rng"``, ``"best_val_loss"``, ``"corpus"``).

Writes go to a new temporary file in the same folder (created with ``O_EXCL |
O_NOFOLLOW``: never through a link someone left there) followed by :func:`os.replace`,
so an interrupted write never leaves a truncated checkpoint behind; a failed write (a
full disk) removes its temporary file and says what happened
(:func:`cubit_lite.run_folder.write_atomically`).

Reading never runs code from the file: :func:`load_checkpoint` uses
``torch.load(weights_only=True)``, which accepts tensors, numbers, strings and the
containers of them that a checkpoint holds, and refuses any other pickled object.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import torch

from .data import CharTokenizer
from .model import CharLM, ModelConfig
from .run_folder import RunFolderError, open_no_follow, write_atomically

__all__ = ["FORMAT", "export_weights", "load_checkpoint", "load_model", "save_checkpoint"]

FORMAT_VERSION = 1
FORMAT = f"cubit-lite-checkpoint-v{FORMAT_VERSION}"
REQUIRED_KEYS = ("model_config", "tokenizer", "model")


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """Write ``payload`` (with ``"format"`` added) to ``path`` atomically; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_atomically(path, lambda file: torch.save({"format": FORMAT, **payload}, file))
    except RunFolderError:
        raise
    except (OSError, RuntimeError) as err:  # torch reports a full disk as a RuntimeError
        raise OSError(f"could not write the checkpoint {path} ({type(err).__name__}: {err}); "
                      f"the previous {path.name}, if any, is unchanged. Is the disk full?") from err
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu", *,
                    follow_symlinks: bool = True) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`, or raise a clear error.

    ``follow_symlinks=False`` (what the trainer uses for its run folder) refuses a
    symbolic link at ``path`` instead of reading what it points to.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        if follow_symlinks:
            payload = torch.load(path, map_location=map_location, weights_only=True)
        else:
            with os.fdopen(open_no_follow(path, os.O_RDONLY), "rb") as file:
                payload = torch.load(file, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        message = str(err)
        code = re.search(r"Unsupported global: GLOBAL [\w.]+", message)
        if code:  # objects other than tensors and plain data: never import or run them
            raise ValueError(f"{path} was refused: it contains Python objects that a cubit_lite checkpoint never "
                             f"holds, and loading them could run code ({code.group(0)})") from err
        reason = re.search(r"Unsupported operand[^\n]*", message)
        raise ValueError(f"{path} is not a readable checkpoint "
                         f"(UnpicklingError: {reason.group(0) if reason else 'not a torch.save file'})") from err
    except RunFolderError:
        raise
    except Exception as err:  # a truncated or foreign file: say so, whatever torch raised
        raise ValueError(f"{path} is not a readable checkpoint ({type(err).__name__}: {err})") from err
    found = payload.get("format") if isinstance(payload, dict) else None
    if found != FORMAT:
        version = re.fullmatch(r"cubit-lite-checkpoint-v(\d+)", found) if isinstance(found, str) else None
        if version and int(version.group(1)) > FORMAT_VERSION:
            raise ValueError(f"{path} was written by a newer cubit_lite (checkpoint format v{version.group(1)}; "
                             f"this version reads v{FORMAT_VERSION}): upgrade cubit_lite to load it")
        raise ValueError(f"{path} is not a cubit_lite checkpoint (expected format {FORMAT!r})")
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise ValueError(f"{path} is an incomplete cubit_lite checkpoint: it lacks {', '.join(missing)}")
    return payload


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[CharLM, CharTokenizer, dict]:
    """Rebuild the model and tokenizer stored in a checkpoint (weights in float32, eval mode)."""
    payload = load_checkpoint(path, map_location="cpu")
    try:
        model = CharLM(ModelConfig.from_dict(payload["model_config"]))
        state = {name: tensor.float() if tensor.is_floating_point() else tensor
                 for name, tensor in payload["model"].items()}
        model.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError) as err:
        raise ValueError(f"{path}: its weights do not fit the model it describes ({type(err).__name__}: "
                         f"{str(err).splitlines()[0]})") from err
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
