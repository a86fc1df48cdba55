"""A model handed to a pruning-stage function comes back as it was: a frozen BatchNorm (``model.train();
bn.eval()``) stays frozen, the other modules stay in train mode, ``requires_grad`` flags and gradients are
unchanged; and a frozen layer's Taylor scores are its true gradients, not zeros."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import prune as tprune
from torch.utils.data import TensorDataset

from mintlab.prune.activations import collect_activations, collect_gradients
from mintlab.prune.compression import compression_figures, compression_table
from mintlab.prune.export import save_compact
from mintlab.prune.scorers import get_scorer
from mintlab.prune.scores import compute_scores
from mintlab.utils.model_state import describe_state

PAIRS = [("fc1", "fc2"), ("fc2", "fc3")]


class _Net(nn.Module):
    """fc1 → BatchNorm → ReLU → fc2 → ReLU → fc3 (3 classes)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.bn, self.fc2, self.fc3 = nn.Linear(16, 8), nn.BatchNorm1d(8), nn.Linear(8, 6), nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.fc1(x.flatten(1))))
        return self.fc3(torch.relu(self.fc2(x)))


def _frozen_bn_net() -> _Net:
    """Train mode with a frozen BatchNorm, a frozen first layer, and a gradient left on fc3's bias."""
    torch.manual_seed(0)
    net = _Net()
    with torch.no_grad():  # running statistics that differ from a fresh BatchNorm's
        net.bn.running_mean.uniform_(-0.5, 0.5)
        net.bn.running_var.uniform_(0.5, 2.0)
    net.train()
    net.bn.eval()
    net.fc1.weight.requires_grad_(False)
    net.fc3.bias.grad = torch.ones(3)
    return net


def _data(n: int = 60, classes: int = 3) -> TensorDataset:
    g = torch.Generator().manual_seed(1)
    return TensorDataset(torch.rand(n, 1, 4, 4, generator=g), torch.arange(n) % classes)


def _assert_as_found(net: _Net, before: dict) -> None:
    assert net.bn.training is False, "the frozen BatchNorm was unfrozen"
    assert net.training and net.fc1.training and net.fc2.training and net.fc3.training
    assert net.fc1.weight.requires_grad is False and net.fc2.weight.requires_grad is True
    assert torch.equal(net.fc3.bias.grad, torch.ones(3)) and net.fc2.weight.grad is None
    assert describe_state(net) == before


CALLS = {
    "compute_scores taylor": lambda net, tmp: compute_scores(
        net, _data(), PAIRS, get_scorer("taylor"), groups=(4, 3), samples_per_class=5, seed=0, progress=False
    ),
    "compute_scores wanda": lambda net, tmp: compute_scores(
        net, _data(), PAIRS, get_scorer("wanda"), groups=(4, 3), samples_per_class=5, seed=0, progress=False
    ),
    "collect_gradients": lambda net, tmp: collect_gradients(net, _data(), ["fc1", "fc2"], samples_per_class=5, seed=0),
    "collect_activations": lambda net, tmp: collect_activations(
        net, _data(), PAIRS, samples_per_class=5, seed=0, progress=False
    ),
    "compression_figures": lambda net, tmp: compression_figures(
        net, torch.rand(4, 1, 4, 4), batch_sizes=(2,), min_run_time=0.01
    ),
    "compression_table": lambda net, tmp: compression_table(
        {"a": net, "b": net}, torch.rand(4, 1, 4, 4), batch_sizes=(2,), min_run_time=0.01, rounds=1
    ),
    "save_compact torchscript": lambda net, tmp: save_compact(
        net, torch.rand(4, 1, 4, 4), tmp / "m.pt", format="torchscript"
    ),
    "save_compact export": lambda net, tmp: save_compact(net, torch.rand(4, 1, 4, 4), tmp / "m.pt2"),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_a_frozen_batchnorm_stays_frozen(name, tmp_path) -> None:
    net = _frozen_bn_net()
    before = describe_state(net)
    CALLS[name](net, tmp_path)
    _assert_as_found(net, before)


def test_a_failing_gradient_pass_leaves_the_model_as_found() -> None:
    net = _frozen_bn_net()
    before = describe_state(net)
    one_based = TensorDataset(_data().tensors[0], _data().tensors[1] + 1)
    with pytest.raises(ValueError, match="subtract 1 from 1-based labels"):
        collect_gradients(net, one_based, ["fc1", "fc2"], samples_per_class=5, seed=0)
    _assert_as_found(net, before)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_saved_model_is_the_eval_mode_model(tmp_path) -> None:
    net = _frozen_bn_net()
    x = torch.rand(4, 1, 4, 4)
    path = save_compact(net, x, tmp_path / "m.pt", format="torchscript")
    with torch.no_grad():
        expected = net.eval()(x)
        np.testing.assert_allclose(torch.jit.load(str(path))(x).numpy(), expected.numpy(), rtol=1e-6)


# --------------------------------------------------------------------------- Taylor on frozen layers


def _taylor(net: nn.Module) -> dict[str, np.ndarray]:
    scores = compute_scores(
        net, _data(), PAIRS, get_scorer("taylor"), groups=(4, 3), samples_per_class=5, seed=0, progress=False
    )
    return {child: scores[child].scores for child in ("fc2", "fc3")}


def test_taylor_scores_of_a_frozen_layer_are_its_true_gradients() -> None:
    torch.manual_seed(0)
    trainable = _Net().eval()
    frozen = _Net().eval()
    frozen.load_state_dict(trainable.state_dict())
    for p in frozen.parameters():  # the whole network frozen, as for a fine-tuned backbone
        p.requires_grad_(False)
    expected, got = _taylor(trainable), _taylor(frozen)
    for child in expected:
        assert np.abs(expected[child]).sum() > 0
        np.testing.assert_allclose(got[child], expected[child], rtol=1e-6, err_msg=child)
    assert not any(p.requires_grad for p in frozen.parameters()), "requires_grad was not put back"
    assert all(p.grad is None for p in frozen.parameters())


def test_gradient_of_a_frozen_pruned_layer_is_that_of_its_effective_weight() -> None:
    torch.manual_seed(0)
    mask = (torch.rand(6, 8) > 0.3).float()
    nets = []
    for frozen in (False, True):
        torch.manual_seed(0)
        net = _Net().eval()
        tprune.custom_from_mask(net.fc2, "weight", mask)
        net.fc2.weight_orig.requires_grad_(not frozen)
        nets.append(net)
    expected, got = (collect_gradients(n, _data(), ["fc2"], samples_per_class=5, seed=0)["fc2"] for n in nets)
    assert np.abs(expected).sum() > 0
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert nets[1].fc2.weight_orig.requires_grad is False and nets[1].fc2.weight_orig.grad is None


def test_a_weight_no_gradient_reaches_is_an_error_not_zeros() -> None:
    class Detached(_Net):
        def forward(self, x: torch.Tensor) -> torch.Tensor:  # fc2's output does not reach the loss
            h = torch.relu(self.bn(self.fc1(x.flatten(1))))
            self.fc2(h)
            return self.fc3(torch.relu(h[:, :6]))

    torch.manual_seed(0)
    with pytest.raises(RuntimeError, match="No gradient reached module 'fc2'"):
        collect_gradients(Detached().eval(), _data(), ["fc2"], samples_per_class=5, seed=0)

    class Skipped(_Net):
        def forward(self, x: torch.Tensor) -> torch.Tensor:  # fc2 never runs
            return self.fc3(torch.relu(self.bn(self.fc1(x.flatten(1))))[:, :6])

    with pytest.raises(ValueError, match="but module 'fc2' did not"):
        collect_gradients(Skipped().eval(), _data(), ["fc2"], samples_per_class=5, seed=0)
