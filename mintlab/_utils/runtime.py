"""Where and how computations run: device choice and seeds."""

from __future__ import annotations

import random

import numpy as np
import torch

from mintlab._utils.checks import check_int

__all__ = ["select_device", "seed_everything"]


def select_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else CUDA when available, else CPU.

    >>> select_device("cpu")
    device(type='cpu')
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"Expected `device` as a str or torch.device, but got {type(device).__name__}")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"Expected a torch device name such as 'cpu' or 'cuda:0', but got {device!r}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Expected an available device, but got {device!r} and CUDA is not available")
    return dev


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) generators.

    With ``deterministic`` also switch cuDNN to deterministic kernels (no autotuning).
    """
    check_int(seed, "seed")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
