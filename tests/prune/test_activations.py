"""Activations: hooks in one forward pass, row-aligned, per-class sample, conv spatial means."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from mintlab.nets.models import MLP
from mintlab.prune.activations import collect_activations, pair_geometry

#: float32 forward vs the same float32 ops done by hand, compared in float64.
ATOL = 1e-6


def _data(n: int = 60, classes: int = 3, shape: tuple[int, ...] = (1, 28, 28), seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, *shape, generator=g), torch.arange(n) % classes)


def test_mlp_parent_is_child_input_and_child_is_pre_relu_output() -> None:
    model, data = MLP(), _data()
    acts = collect_activations(
        model, data, [("fc1", "fc2"), ("fc2", "fc3")], samples_per_class=5, seed=3, progress=False
    )
    x = data.tensors[0][torch.from_numpy(acts.indices)].flatten(1)
    with torch.no_grad():
        h1 = torch.relu(model.fc1(x))
        z2 = model.fc2(h1)
        z3 = model.fc3(torch.relu(z2))
    np.testing.assert_allclose(acts.parent[("fc1", "fc2")], h1.double().numpy(), atol=ATOL)
    np.testing.assert_allclose(acts.child[("fc1", "fc2")], z2.double().numpy(), atol=ATOL)
    np.testing.assert_allclose(acts.parent[("fc2", "fc3")], torch.relu(z2).double().numpy(), atol=ATOL)
    np.testing.assert_allclose(acts.child[("fc2", "fc3")], z3.double().numpy(), atol=ATOL)
    assert acts.child[("fc1", "fc2")].dtype == np.float64
    assert (acts.child[("fc1", "fc2")] < 0).any(), "child activations must be taken before the ReLU"


def test_per_class_sample_is_seeded_and_without_replacement() -> None:
    model, data = MLP(), _data()
    a = collect_activations(model, data, [("fc1", "fc2")], samples_per_class=7, seed=1, progress=False)
    b = collect_activations(model, data, [("fc1", "fc2")], samples_per_class=7, seed=1, progress=False)
    c = collect_activations(model, data, [("fc1", "fc2")], samples_per_class=7, seed=2, progress=False)
    assert np.bincount(a.labels).tolist() == [7, 7, 7]
    assert len(set(a.indices.tolist())) == 21
    np.testing.assert_array_equal(a.labels, data.tensors[1][torch.from_numpy(a.indices)].numpy())
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.parent[("fc1", "fc2")], b.parent[("fc1", "fc2")])
    assert not np.array_equal(a.indices, c.indices)


class _ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 5, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(5 * 2 * 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        h = self.pool(torch.relu(self.conv2(h)))
        return self.fc(h.flatten(1))


def test_conv_units_are_spatial_means_and_flatten_groups_channels() -> None:
    model, data = _ConvNet(), _data(30, 3, (3, 8, 8))
    model.bn1.running_mean.uniform_(-1, 1)  # a non-trivial BN, so pre/post-BN differ
    pairs = [("conv1", "conv2"), ("conv2", "fc")]
    acts = collect_activations(model, data, pairs, samples_per_class=4, seed=0, progress=False)
    x = data.tensors[0][torch.from_numpy(acts.indices)]
    model.eval()
    with torch.no_grad():
        h1 = torch.relu(model.bn1(model.conv1(x)))
        z2 = model.conv2(h1)
        p2 = model.pool(torch.relu(z2))
    np.testing.assert_allclose(acts.parent[pairs[0]], h1.mean((2, 3)).double().numpy(), atol=ATOL)
    np.testing.assert_allclose(acts.child[pairs[0]], z2.mean((2, 3)).double().numpy(), atol=ATOL)
    # conv → linear through a flatten: 5 channels × 2·2 positions → 5 parent units
    np.testing.assert_allclose(acts.parent[pairs[1]], p2.mean((2, 3)).double().numpy(), atol=ATOL)
    assert acts.parent[pairs[1]].shape == (12, 5)
    assert pair_geometry(model, pairs[1]).spatial == 4


def test_hooks_removed_and_mode_restored_even_on_error() -> None:
    class Boom(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.b(self.a(x))
            raise RuntimeError("boom")

    model = Boom().train()
    with pytest.raises(RuntimeError, match="boom"):
        collect_activations(model, _data(8, 2, (4,)), [("a", "b")], samples_per_class=2, seed=0, progress=False)
    assert not model.b._forward_hooks and not model.b._forward_pre_hooks
    assert model.training


def test_bad_pairs_name_the_problem() -> None:
    model, data = MLP(), _data()
    with pytest.raises(ValueError, match="Unknown child module 'fc9'"):
        collect_activations(model, data, [("fc1", "fc9")], samples_per_class=2, seed=0, progress=False)
    with pytest.raises(ValueError, match="does not chain"):
        collect_activations(model, data, [("fc1", "fc3")], samples_per_class=2, seed=0, progress=False)
    with pytest.raises(ValueError, match="samples_per_class"):
        collect_activations(model, data, [("fc1", "fc2")], samples_per_class=0, seed=0, progress=False)
    with pytest.raises(TypeError, match="pairs"):
        collect_activations(model, data, "fc1", samples_per_class=2, seed=0, progress=False)
