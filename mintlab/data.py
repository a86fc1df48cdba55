"""Datasets, normalisation and the per-class sampler.

(Skeleton: the foundation helper completes this module.)
"""

from __future__ import annotations

import torch
from torch import nn

#: Per-dataset (mean, std) per channel, as commonly used for each benchmark.
NORMALIZATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


class Normalize(nn.Module):
    """Channel-wise ``(x - mean) / std`` as a module, so a model can take inputs in [0, 1].

    Attack libraries (torchattacks) and attribution methods want unnormalised inputs;
    wrapping ``nn.Sequential(Normalize(mean, std), model)`` gives them that.

    >>> Normalize((0.5,), (0.25,))(torch.ones(1, 1, 2, 2)).flatten().tolist()
    [2.0, 2.0, 2.0, 2.0]
    """

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"Expected `mean` and `std` of equal length, but got {len(mean)} and {len(std)}")
        if any(s <= 0 for s in std):
            raise ValueError(f"Expected every `std` entry > 0, but got {tuple(std)}")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std
