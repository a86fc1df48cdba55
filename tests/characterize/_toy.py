"""Tiny models and data shared by the characterization tests: 8×8 one-channel images, 4 classes marked by a bright
patch in one quadrant; models take *normalised* inputs like every mintlab model and train in well under a second."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import prune

from mintlab.nets.data import Normalize

NORM = ((0.3,), (0.3,))
#: Quadrant (row, col) of each class's bright patch.
QUADRANTS = [(0, 0), (0, 4), (4, 0), (4, 4)]


def make_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    images = torch.rand(n, 1, 8, 8, generator=g) * 0.4
    for c, (r, q) in enumerate(QUADRANTS):
        images[labels == c, :, r + 1 : r + 3, q + 1 : q + 3] += 0.5
    return images.clamp(0, 1), labels


def train(model: nn.Module, seed: int, steps: int = 60) -> nn.Module:
    torch.manual_seed(seed)
    images, labels = make_data(256, seed=0)
    inputs = Normalize(*NORM)(images)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(inputs), labels).backward()
        opt.step()
    return model.eval()


def tiny_cnn(n_classes: int = 4) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 16, n_classes))  # fmt: skip


def pruned_copies(model: nn.Module, amount: float, seeds: list[int], layers: tuple[str, ...]) -> list[nn.Module]:
    """Copies of ``model`` with ``amount`` of each layer's weights removed at random (torch-prune masks), one a seed."""
    out = []
    for seed in seeds:
        torch.manual_seed(seed)
        net = copy.deepcopy(model)
        for name in layers:
            prune.random_unstructured(net.get_submodule(name), "weight", amount=amount)
        out.append(net.eval())
    return out
