"""One call that starts every chapter: seeds, the device, and a printed line saying which.

Each notebook's first code cell installs ``cubit_lite`` when it is missing (Colab) and then
calls :func:`setup_notebook`, so every chapter starts the same way in Jupyter, in Colab
and in the book's build::

    DEVICE = setup_notebook(seed=0)
    # cubit_lite 0.1.0 | Python 3.12.3 | NumPy 2.1.0 | torch 2.13.0 | seed 0 | device: cpu (2 threads)
"""

from __future__ import annotations

import platform
import random

import numpy as np
import torch

DEVICES = ("auto", "cpu", "cuda")


def pick_device(requested: str = "auto") -> torch.device:
    """``"auto"`` gives the first CUDA GPU when there is one, else the CPU.

    ``"cuda"`` without a GPU is an error that says so, not a silent fall-back.
    """
    if requested not in DEVICES:
        raise ValueError(f"unknown device {requested!r}; allowed: {', '.join(DEVICES)}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "device 'cuda' was asked for but PyTorch sees no GPU; in Colab choose "
            "Runtime → Change runtime type → GPU, or use device='auto' to run on the CPU"
        )
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(requested)


def describe_device(device: torch.device) -> str:
    """A short human description: ``"cuda (Tesla T4)"`` or ``"cpu (2 threads)"``."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every GPU)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def setup_notebook(seed: int = 0, *, device: str = "auto", quiet: bool = False) -> torch.device:
    """Seed everything, choose the device, print one line that says what was chosen.

    Also turns off the ``tqdm`` monitor thread, which otherwise warns in notebooks. Returns
    the ``torch.device`` to compute on.
    """
    import cubit_lite  # the package version, without a circular import at module load

    seed_everything(seed)
    chosen = pick_device(device)
    try:
        import tqdm

        tqdm.tqdm.monitor_interval = 0
    except ImportError:  # tqdm is a dependency; this only guards odd environments
        pass
    if not quiet:
        print(
            f"cubit_lite {cubit_lite.__version__} | Python {platform.python_version()} | NumPy {np.__version__} | "
            f"torch {torch.__version__} | seed {seed} | device: {describe_device(chosen)}"
        )
    return chosen
