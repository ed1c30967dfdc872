"""Where a run executes: its device, its precision (bf16 autocast or float32), and torchrun's processes.

:func:`choose_device` resolves ``--device``, :func:`use_bf16_autocast` ``--precision`` on that
device, and :func:`distributed_environment` reads the rank and the number of processes that
``torchrun`` sets; each refuses what this machine or environment cannot do, saying why.
"""

from __future__ import annotations

import os

import torch

__all__ = ["choose_device", "distributed_environment", "use_bf16_autocast"]


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
    8.0 or more (the Ampere generation and newer). It does not ask ``torch.cuda.is_bf16_supported()``,
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


def distributed_environment() -> tuple[int, int, int]:
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
