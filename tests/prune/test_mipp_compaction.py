"""MIPP's (and the unit baselines') masks compact away: fewer units, the masked network's outputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from mintlab.prune.compaction import compact
from mintlab.prune.masks import apply_masks
from mintlab.prune.mipp import PredictorConfig, structured_keep, unit_weight_masks

FAST = PredictorConfig(hidden=8, lr=1e-2, batch_size=64, max_epochs=10, refit_epochs=3, patience=2)


class ConvNet(nn.Module):
    """conv → BN → ReLU → conv → BN → ReLU → pool → flatten → linear → BN1d → ReLU → linear (VGG-like)."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6)
        self.c2, self.b2 = nn.Conv2d(6, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.fc1, self.bn = nn.Linear(8 * 4 * 4, 12), nn.BatchNorm1d(12)
        self.fc2 = nn.Linear(12, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.b1(self.c1(x)))
        x = nn.functional.max_pool2d(torch.relu(self.b2(self.c2(x))), 2).flatten(1)
        return self.fc2(torch.relu(self.bn(self.fc1(x))))


PAIRS = [("c1", "c2"), ("c2", "fc1"), ("fc1", "fc2")]


@pytest.fixture(scope="module")
def net_and_data():
    torch.manual_seed(0)
    net = ConvNet()
    with torch.no_grad():  # BN statistics that are not the identity, so a wrong fold would show
        for bn in (net.b1, net.b2, net.bn):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.bias.uniform_(-0.5, 0.5)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(120, 1, 8, 8, generator=g)
    return net.eval(), TensorDataset(x, torch.arange(120) % 3)


@pytest.mark.parametrize("method", ["mipp", "l1_units", "random_units"])
def test_unit_masks_compact_to_the_kept_units_with_the_same_outputs(net_and_data, method):
    net, data = net_and_data
    if method == "mipp":
        keep = structured_keep(
            "mipp",
            net,
            data,
            PAIRS,
            unit_sparsity=0.5,
            samples_per_class=40,
            repeats=2,
            config=FAST,
            max_bisect=2,
            client=False,
        )
    else:
        keep = structured_keep(method, net, data, PAIRS, unit_sparsity=0.5)
    n = {k: int(v.sum()) for k, v in keep.items()}
    want = {"c1": 3, "c2": 4, "fc1": 6}
    if method == "mipp":  # the target is met within one unit per layer
        assert all(abs(n[k] - want[k]) <= 1 for k in want)
    else:
        assert n == want
    masked = apply_masks(ConvNet().eval(), {})
    masked.load_state_dict(net.state_dict())
    apply_masks(masked, unit_weight_masks(masked, PAIRS, keep))
    x = data.tensors[0][:32]
    small = compact(masked, x).eval()
    assert (small.c1.out_channels, small.c2.in_channels, small.b1.num_features) == (n["c1"],) * 3
    assert (small.c2.out_channels, small.b2.num_features, small.fc1.in_features) == (n["c2"], n["c2"], n["c2"] * 16)
    assert (small.fc1.out_features, small.bn.num_features, small.fc2.in_features) == (n["fc1"],) * 3
    n_dense = sum(p.numel() for p in net.parameters())
    assert sum(p.numel() for p in small.parameters()) < 0.6 * n_dense
    with torch.no_grad():
        for batch in (x, 3 * torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(2))):
            torch.testing.assert_close(small(batch), masked(batch), atol=1e-5, rtol=0)
