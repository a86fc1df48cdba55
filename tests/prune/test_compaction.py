"""Compaction: equal outputs (≤ 1e-5, eval, float32), fewer units, input untouched, clear errors."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from mintlab.nets.models import MLP, resnet56, vgg16_bn
from mintlab.prune import compaction as compact_module
from mintlab.prune.compaction import CompactionError, compact, dense_copy, has_masks

#: The issue's guard: outputs of the compacted model within 1e-5 of the masked model's (float32, eval).
ATOL = 1e-5


def _block_masks(model: nn.Module, fraction: float, skip: tuple[str, ...], seed: int = 0) -> None:
    """Random (out, in) block masks on every Conv2d/Linear but ``skip`` (conv: whole kernels, as MINT's)."""
    g = torch.Generator().manual_seed(seed)
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and name not in skip:
            keep = (torch.rand(m.weight.shape[0], m.weight.shape[1], generator=g) > fraction).float()
            if m.weight.dim() == 4:
                keep = keep[:, :, None, None].expand_as(m.weight).contiguous()
            prune.custom_from_mask(m, "weight", keep)


def _randomize_bn(model: nn.Module, seed: int = 0) -> None:
    """Trained-looking BatchNorm statistics, so that BN(bias) constants are not zero."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) * 2 - 1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            with torch.no_grad():
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) * 2 - 1)


def _max_diff(a: nn.Module, b: nn.Module, x: torch.Tensor) -> float:
    a.eval()
    b.eval()
    with torch.no_grad():
        return float((a(x) - b(x)).abs().max())


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_untouched(model: nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = model.state_dict()
    assert set(after) == set(before)
    for k, v in before.items():
        assert after[k].shape == v.shape and torch.equal(after[k], v), k


def test_mlp_units_without_inputs_or_outputs_are_removed_and_outputs_match():
    model = MLP(in_features=20, hidden=(12, 8), num_classes=3).eval()
    w2 = torch.ones(8, 12)
    w2[:, [0, 5]] = 0  # fc1 units 0 and 5 feed nothing: no outgoing connection
    w2[[2, 3], :] = 0  # fc2 units 2 and 3 receive nothing: ReLU(bias) constant, folded into fc3
    with torch.no_grad():
        model.fc2.bias[[2, 3]] = torch.tensor([0.7, -0.4])  # one positive constant, one zeroed by the ReLU
    prune.custom_from_mask(model.fc2, "weight", w2)
    before = _snapshot(model)
    x = torch.randn(16, 20)
    small, info = compact(model, x, return_info=True)
    assert (small.fc1.out_features, small.fc2.in_features, small.fc2.out_features, small.fc3.in_features) == (
        10,
        10,
        6,
        6,
    )
    assert small.fc3.out_features == 3  # the outputs stay
    assert info["removed_no_outputs"] == 2 and info["removed_constant"] == 2
    assert _max_diff(model, small, x) <= ATOL
    assert _max_diff(model, small, torch.randn(16, 20) * 5) <= ATOL  # holds beyond the example batch
    assert has_masks(model) and not has_masks(small)
    _assert_untouched(model, before)


def test_removal_cascades_to_units_left_without_outputs():
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2))
    m4 = torch.ones(2, 4)
    m4[:, 1] = 0  # unit 1 of layer 2 feeds nothing ...
    m2 = torch.ones(4, 5)
    m2[:, 3] = 0
    m2[1, :] = 1  # ... and it is the only reader of layer-0 unit 3 once the column below goes
    m2[[0, 2, 3], 3] = 0
    m2[1, 3] = 1
    prune.custom_from_mask(net[4], "weight", m4)
    prune.custom_from_mask(net[2], "weight", m2)
    x = torch.randn(10, 6)
    small = compact(net, x)
    assert small[2].out_features == 3 and small[0].out_features == 4  # unit 3 of layer 0 went in a second pass
    assert _max_diff(net, small, x) <= ATOL


def test_vgg16_bn_compacts_with_equal_outputs():
    model = vgg16_bn(width=0.125, in_channels=1)
    _randomize_bn(model)
    _block_masks(model, 0.85, skip=("features.conv1", "classifier.fc2"))
    model.eval()
    before = _snapshot(model)
    x = torch.randn(4, 1, 32, 32)
    small, info = compact(model, x, return_info=True)
    assert info["params_after"] < info["params_before"]
    assert info["removed_no_outputs"] + info["removed_constant"] > 0
    assert _max_diff(model, small, x) <= ATOL
    _assert_untouched(model, before)


def test_resnet56_compacts_inside_blocks_and_keeps_padded_shortcut_channels():
    model = resnet56(width=0.25, in_channels=1)
    _randomize_bn(model)
    _block_masks(model, 0.8, skip=("conv1", "fc"))
    model.eval()
    x = torch.randn(4, 1, 32, 32)
    with pytest.warns(UserWarning, match="pad along channels"):  # residual-stream units the masks cut stay
        small, info = compact(model, x, return_info=True)
    assert _max_diff(model, small, x) <= ATOL
    assert info["params_after"] < info["params_before"]
    # The option-A shortcut pads channels: Torch-Pruning cannot map them, so the residual stream stays whole.
    assert any("pad" in reason for reason in info["skipped_groups"].values())
    assert small.fc.in_features == model.fc.in_features
    assert small.layer3[0].conv2.out_channels == model.layer3[0].conv2.out_channels


class _Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


def _user_net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        _Residual(6),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 5),
        nn.ReLU(),
        nn.Linear(5, 3),
    )


def test_user_sequential_with_residual_block():
    net = _user_net()
    _randomize_bn(net)
    k1 = torch.ones(6, 6, 3, 3)
    k1[:, 4] = 0
    k1[[1, 2]] = 0  # block conv1 channels 1, 2: no inputs (BN(0) constant, padded conv2 -> kept unless 0)
    k2 = torch.ones(6, 6, 3, 3)
    k2[:, 3] = 0  # block conv1 channel 3 feeds nothing: removed with its BN entries
    prune.custom_from_mask(net[3].conv1, "weight", k1)
    prune.custom_from_mask(net[3].conv2, "weight", k2)
    fc = torch.ones(5, 6)
    fc[:, 4] = 0  # residual channel 4: the fc does not read it, and neither does the block's conv1 (k1[:, 4] = 0)
    prune.custom_from_mask(net[6], "weight", fc)
    bn1 = net[3].bn1
    with torch.no_grad():  # constants ReLU(BN(0)): channel 1 -> 1.0 (kept: padded conv2), channel 2 -> 0 (removed)
        bn1.running_mean[[1, 2]] = 0.0
        bn1.bias[[1, 2]] = torch.tensor([1.0, -1.0])
    net.eval()
    x = torch.randn(8, 2, 9, 9)
    small, info = compact(net, x, return_info=True)
    assert _max_diff(net, small, x) <= ATOL
    # residual channel 4 is read by no branch of the add: it goes from the stem, the block's conv2/bn2 and the fc
    assert small[0].out_channels == 5 and small[3].conv2.out_channels == 5 and small[6].in_features == 5
    assert small[3].bn2.num_features == 5
    assert small[3].conv1.out_channels == 4 and small[3].bn1.num_features == 4  # channels 2 and 3 went
    assert info["kept_padding"] == 1  # channel 1: a constant 1.0 into a zero-padded conv cannot be folded exactly


def test_residual_channel_read_by_one_branch_stays():
    net = _user_net()
    fc = torch.ones(5, 6)
    fc[:, 2] = 0  # the fc ignores residual channel 2, but the block's conv1 still reads it
    prune.custom_from_mask(net[6], "weight", fc)
    x = torch.randn(4, 2, 9, 9)
    small = compact(net, x)
    assert small[0].out_channels == 6 and small[6].in_features == 6
    assert _max_diff(net, small, x) <= ATOL


def test_conv_constant_folds_exactly_without_padding():
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 3), nn.Flatten(), nn.Linear(2 * 5 * 5, 3)
    )
    _randomize_bn(net)
    k = torch.ones(4, 3, 3, 3)
    k[1] = 0  # channel 1: no inputs, ReLU(BN(bias)) constant, folded into the unpadded conv's bias
    prune.custom_from_mask(net[0], "weight", k)
    net.eval()
    x = torch.randn(6, 3, 9, 9)
    small, info = compact(net, x, return_info=True)
    assert small[0].out_channels == 3 and info["removed_constant"] == 1
    assert _max_diff(net, small, x) <= ATOL


def test_conv_feeding_flatten_linear():
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    m = torch.ones(3, 64)
    m[:, 16:32] = 0  # every column of channel 1 after the flatten
    prune.custom_from_mask(net[3], "weight", m)
    x = torch.randn(5, 1, 4, 4)
    small = compact(net, x)
    assert small[0].out_channels == 3 and small[3].in_features == 48
    assert _max_diff(net, small, x) <= ATOL


def test_model_without_masks_is_an_error_unless_asked():
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with pytest.raises(ValueError, match="without any"):
        compact(net, torch.randn(2, 4))
    with torch.no_grad():
        net[2].weight[:, 1] = 0
    small = compact(net, torch.randn(2, 4), require_masks=False)
    assert small[0].out_features == 2


def test_bad_arguments():
    net = nn.Sequential(nn.Linear(4, 3))
    prune.identity(net[0], "weight")
    with pytest.raises(TypeError, match="model"):
        compact("net", torch.randn(2, 4))
    with pytest.raises(TypeError, match="example_inputs"):
        compact(net, [[1.0, 2.0]])
    with pytest.raises(ValueError, match="atol"):
        compact(net, torch.randn(2, 4), atol=-1.0)


class _Roll(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.roll(x, 1, dims=1)


def test_a_coupling_torch_pruning_gets_wrong_raises_and_names_the_layer(monkeypatch):
    net = nn.Sequential(nn.Linear(4, 5), _Roll(), nn.ReLU(), nn.Linear(5, 2))
    m = torch.ones(2, 5)
    m[:, 0] = 0
    prune.custom_from_mask(net[3], "weight", m)
    x = torch.randn(6, 4)
    before = _snapshot(net)
    small = compact(net, x)  # a roll is not channel-wise: the group is left whole
    assert small[0].out_features == 5
    # Pretend the roll were channel-wise: Torch-Pruning then removes the wrong unit and the guard must fire.
    monkeypatch.setattr(compact_module, "_CHANNELWISE_OPS", compact_module._CHANNELWISE_OPS + ("roll",))
    with pytest.raises(CompactionError, match="'0'"):
        compact(net, x)
    _assert_untouched(net, before)


def test_dense_copy_works_where_deepcopy_fails():
    net = nn.Sequential(nn.Linear(3, 3))
    prune.custom_from_mask(net[0], "weight", torch.eye(3))
    with pytest.raises(RuntimeError):
        copy.deepcopy(net)
    d = dense_copy(net)
    assert not has_masks(d) and has_masks(net)
    assert torch.equal(d[0].weight, net[0].weight)


class _PadShortcut(nn.Module):
    """He et al.'s option-A shortcut: the identity zero-padded from 2 to 4 channels."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x) + nn.functional.pad(x, (0, 0, 0, 0, 1, 1)))


def test_channel_padding_shortcut_is_left_whole_with_a_warning_or_an_error_when_strict():
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), _PadShortcut(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)
    )
    m = torch.ones(3, 4)
    m[:, 0] = 0  # channel 0 of the sum is read by nothing
    prune.custom_from_mask(net[5], "weight", m)
    x = torch.randn(4, 1, 6, 6)
    with pytest.warns(UserWarning, match="disconnected channel"):
        small, info = compact(net, x, return_info=True)
    assert small[5].in_features == 4 and any("pad" in v for v in info["skipped_groups"].values())
    assert _max_diff(net, small, x) <= ATOL
    with pytest.raises(CompactionError, match="pad"):
        compact(net, x, strict=True)


def test_strict_refuses_a_constant_it_cannot_fold():
    net = nn.Sequential(
        nn.Linear(3, 4), nn.ReLU(), nn.Unflatten(1, (4, 1, 1)), nn.Conv2d(4, 2, 3, padding=1), nn.Flatten()
    )
    m = torch.ones(4, 3)
    m[2] = 0
    with torch.no_grad():
        net[0].bias[2] = 1.0  # ReLU(1.0): a nonzero constant into a zero-padded conv
    prune.custom_from_mask(net[0], "weight", m)
    x = torch.randn(5, 3)
    small, info = compact(net, x, return_info=True)
    assert info["kept_padding"] == 1 and small[0].out_features == 4
    with pytest.raises(CompactionError, match="zero-padded"):
        compact(net, x, strict=True)


def test_a_single_example_is_enough():
    net = nn.Sequential(nn.Linear(1, 3), nn.ReLU(), nn.Linear(3, 1))
    prune.custom_from_mask(net[2], "weight", torch.tensor([[1.0, 0.0, 1.0]]))
    x = torch.randn(1, 1)
    small = compact(net, x)
    assert small[0].out_features == 2 and _max_diff(net, small, torch.randn(9, 1)) <= ATOL


class _ChannelMean(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1, keepdim=True).expand_as(x) + x


def test_a_mean_over_channels_leaves_the_group_whole():
    net = nn.Sequential(nn.Linear(4, 5), _ChannelMean(), nn.ReLU(), nn.Linear(5, 2))
    m = torch.ones(2, 5)
    m[:, 1] = 0  # unit 1 is still read through the channel mean
    prune.custom_from_mask(net[3], "weight", m)
    x = torch.randn(6, 4)
    small = compact(net, x)
    assert small[0].out_features == 5
    assert _max_diff(net, small, x) <= ATOL


def test_reduction_over_channels_is_told_from_spatial_pooling():
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    assert compact_module._reduces_channels(x.mean(dim=1).grad_fn)
    assert compact_module._reduces_channels(x.mean(dim=-3).grad_fn)
    assert not compact_module._reduces_channels(nn.AdaptiveAvgPool2d(1)(x).grad_fn)


class _GroupedNet(nn.Module):
    """conv → BN → ReLU → depthwise → pointwise → grouped conv → conv → linear (1 × 8 × 8 inputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pw = nn.Conv2d(8, 16, 1)
        self.g = nn.Conv2d(16, 16, 3, padding=1, groups=4)
        self.conv4 = nn.Conv2d(16, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.pw(torch.relu(self.dw(x))))
        x = torch.relu(self.conv4(torch.relu(self.g(x))))
        return self.fc(x.flatten(1))


def test_a_group_compaction_cannot_honour_is_warned_about_once_not_once_per_pass():
    torch.manual_seed(0)
    model = _GroupedNet()
    _randomize_bn(model)
    _block_masks(model, 0.9, skip=("conv1", "fc"))
    model.eval()
    x = torch.randn(4, 1, 8, 8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        small, info = compact(model, x, return_info=True)
    messages = [str(w.message) for w in caught if "compaction cannot honour" in str(w.message)]
    assert info["passes"] >= 2 and messages, "the case this test is for: several passes and a skipped group"
    assert len(messages) == len(set(messages))
    assert any("grouped convolution" in reason for reason in info["skipped_groups"].values())
    assert _max_diff(model, small, x) <= ATOL


def test_the_guard_scales_with_the_outputs(monkeypatch):
    """A difference of float32 summation order (here faked at 2e-5 on logits of order 10) passes the relative
    guard and fails a purely absolute one."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        net[2].weight.mul_(30.0)
    m = torch.ones_like(net[2].weight)
    m[:, 1] = 0
    prune.custom_from_mask(net[2], "weight", m)
    monkeypatch.setattr(compact_module, "_max_diff", lambda a, b: 2e-5)
    assert compact(net, torch.randn(6, 4) * 10)[0].out_features == 2
    with pytest.raises(CompactionError, match="rtol 0"):
        compact(net, torch.randn(6, 4) * 10, rtol=0)
