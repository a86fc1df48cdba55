"""check_pairs_forward and recalibrate_batchnorm leave every module's mode as found; check_pairs_forward rejects
pairs that chain by counts but are not adjacent (Torch-Pruning's dependency graph, see
tests/nets/test_pair_adjacency.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from mintlab.experiments.compare import check_pairs_forward
from mintlab.nets.models import resnet56
from mintlab.nets.presets import layer_pairs
from mintlab.prune.step import recalibrate_batchnorm
from mintlab.utils.model_state import describe_state


class BNNet(nn.Module):
    """conv → bn → relu → conv → pool → fc."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.conv1(x)))
        return self.fc(self.conv2(h).mean(dim=(2, 3)))


PAIRS = [("conv1", "conv2"), ("conv2", "fc")]


def _frozen_bn_net() -> BNNet:
    net = BNNet().train()
    net.bn.eval()  # frozen running statistics, on purpose
    return net


def test_check_pairs_forward_keeps_a_frozen_batchnorm_frozen() -> None:
    net = _frozen_bn_net()
    before = describe_state(net)
    check_pairs_forward(net, PAIRS, torch.zeros(1, 1, 8, 8))
    assert net.training is True and net.bn.training is False
    assert describe_state(net) == before  # hooks removed, requires_grad as found


def test_check_pairs_forward_keeps_a_frozen_batchnorm_frozen_when_it_rejects() -> None:
    net = _frozen_bn_net()
    with pytest.raises(ValueError, match=r"Pair \('conv1', 'fc'\) is not adjacent"):
        check_pairs_forward(net, [("conv1", "fc")], torch.zeros(1, 1, 8, 8))
    assert net.training is True and net.bn.training is False


def test_recalibrate_batchnorm_keeps_every_module_mode() -> None:
    net = _frozen_bn_net()
    data = TensorDataset(torch.randn(16, 1, 8, 8), torch.arange(16) % 2)
    recalibrate_batchnorm(net, data, images=16)
    assert net.training is True and net.bn.training is False
    net.eval()
    recalibrate_batchnorm(net, data, images=16)
    assert not any(m.training for m in net.modules())


def test_check_pairs_forward_rejects_pairs_that_are_not_adjacent() -> None:
    net = resnet56(width=0.25, in_channels=1)
    example = torch.zeros(1, 1, 32, 32)
    with pytest.raises(
        ValueError,
        match=r"Pair \('layer1\.0\.conv2', 'layer1\.0\.conv1'\) is not adjacent: the "
        r"child's input does not carry the parent's output channels",
    ):
        check_pairs_forward(net, [("layer1.0.conv2", "layer1.0.conv1")], example)
    with pytest.raises(
        ValueError,
        match=r"Pair \('conv1', 'layer1\.0\.conv2'\) is not adjacent.*goes first to "
        r"layer1\.0\.conv1",
    ):
        check_pairs_forward(net, [("conv1", "layer1.0.conv2")], example)
    check_pairs_forward(net, layer_pairs("resnet56", include_skipped=True), example)
