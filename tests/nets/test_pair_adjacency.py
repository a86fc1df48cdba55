"""mintlab.nets.presets.validate_layer_pairs with ``example=``: pairs must be adjacent, not only chain by counts.

The reference is Torch-Pruning's dependency graph (what the check uses), tested here on hand-built nets whose
adjacency is known by construction, and on the paper's presets, which must all pass.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch_pruning as tp
from torch import nn

from mintlab.nets.models import MLP, resnet56, vgg16_bn
from mintlab.nets.presets import layer_pairs, validate_layer_pairs
from mintlab.utils.model_state import describe_state


class DepthwiseNet(nn.Module):
    """conv1(8) → dw (depthwise 8) → pw(16) → g (grouped, 2 groups) → conv4(16) → flatten → fc(16·7·7 → 10)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pw = nn.Conv2d(8, 16, 1)
        self.g = nn.Conv2d(16, 16, 3, padding=1, groups=2)
        self.conv4 = nn.Conv2d(16, 16, 3, stride=4, padding=1)
        self.fc = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pw(self.dw(torch.relu(self.conv1(x))))
        x = torch.relu(self.conv4(self.g(x)))
        return self.fc(x.flatten(1))


class CatTwice(nn.Module):
    """conv(4) → cat([h, h]) → flatten → fc: the counts chain (72 = 4 × 18) but fc's inputs 9..17 carry channel 1."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(2 * 4 * 9, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x))
        return self.fc(torch.cat([h, h], dim=1).flatten(1))


class Reused(nn.Module):
    """``a`` runs twice per forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(self.a(x)))


MNIST = torch.zeros(1, 1, 28, 28)
CIFAR1 = torch.zeros(1, 1, 32, 32)


def test_a_pair_with_layers_in_between_is_rejected_naming_them() -> None:
    net = DepthwiseNet()
    assert validate_layer_pairs(net, [("conv1", "fc")]) == [("conv1", "fc")]  # 784 % 8 == 0: counts alone pass
    with pytest.raises(
        ValueError,
        match=r"Pair \('conv1', 'fc'\) is not adjacent: the child's input does not carry "
        r"the parent's output channels\. conv1's output goes first to pw, and fc's "
        r"input comes from conv4",
    ):
        validate_layer_pairs(net, [("conv1", "fc")], example=MNIST)


def test_a_depthwise_convolution_in_between_keeps_the_pair_adjacent() -> None:
    net = DepthwiseNet()
    pairs = [("conv1", "pw"), ("conv4", "fc")]  # dw keeps channel c as channel c; fc reads conv4 through a flatten
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert validate_layer_pairs(net, pairs, example=MNIST) == pairs


def test_a_reversed_pair_of_equal_widths_is_rejected() -> None:
    net = resnet56(width=0.25, in_channels=1)
    pair = ("layer1.0.conv2", "layer1.0.conv1")
    assert validate_layer_pairs(net, [pair]) == [pair]  # 4 → 4 channels: counts alone pass
    with pytest.raises(
        ValueError,
        match=r"Pair \('layer1\.0\.conv2', 'layer1\.0\.conv1'\) is not adjacent.*"
        r"layer1\.0\.conv1's input comes from conv1 .*looks reversed",
    ):
        validate_layer_pairs(net, [pair], example=CIFAR1)


def test_inputs_that_do_not_map_one_for_one_to_the_parent_channels_are_rejected() -> None:
    # inputs 0..17 of fc would be MINT's "unit 0" of conv (72 // 4 = 18 per unit) but 9..17 carry channel 1.
    # Torch-Pruning's mapping says so; the probe, which decides (the mapping errs elsewhere), confirms it
    with pytest.raises(
        ValueError,
        match=r"Pair \('conv', 'fc'\) is not adjacent channel for channel: raising "
        r"the parent's output channel 1 moves the child's inputs "
        r"\[9, 10, 11, 12, 13, 14\] …, none of its own \[18, 19",
    ):
        validate_layer_pairs(CatTwice(), [("conv", "fc")], example=torch.randn(1, 1, 3, 3))


@pytest.mark.parametrize(
    ("name", "build", "example"),
    [
        ("mlp", MLP, MNIST),
        ("vgg16", lambda: vgg16_bn(width=0.25, in_channels=1), CIFAR1),
        ("resnet56", lambda: resnet56(width=0.25, in_channels=1), CIFAR1),
    ],
)
def test_the_paper_pairs_are_adjacent(name, build, example) -> None:
    pairs = layer_pairs(name, include_skipped=name == "resnet56")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # verified, not skipped with a warning
        assert validate_layer_pairs(build(), pairs, example=example) == pairs


def test_a_model_torch_pruning_cannot_trace_falls_back_to_counts_with_a_warning(monkeypatch) -> None:
    def fail(*_args, **_kwargs):
        raise RuntimeError("cannot trace this")

    monkeypatch.setattr(tp.DependencyGraph, "build_dependency", fail)
    with pytest.warns(
        UserWarning,
        match=r"Could not verify that the layer pairs are adjacent: Torch-Pruning could "
        r"not trace the model \(RuntimeError: cannot trace this\); only the channel "
        r"counts were checked",
    ):
        assert validate_layer_pairs(DepthwiseNet(), [("conv1", "fc")], example=MNIST) == [("conv1", "fc")]
    with pytest.raises(ValueError, match="does not chain"):  # the counts still apply
        validate_layer_pairs(DepthwiseNet(), [("conv1", "conv4")], example=MNIST)


def test_a_module_run_twice_is_warned_about_and_a_bad_example_is_an_error() -> None:
    with pytest.warns(
        UserWarning,
        match=r"Could not fully verify layer pair\(s\) \('a', 'b'\): a module of the pair "
        r"runs more than once per forward pass",
    ):
        validate_layer_pairs(Reused(), [("a", "b")], example=torch.zeros(1, 4))
    with pytest.raises(RuntimeError, match=r"Expected `example` the model accepts, but got a batch of shape \(1, 5\)"):
        validate_layer_pairs(Reused(), [("a", "b")], example=torch.zeros(1, 5))
    with pytest.raises(RuntimeError, match=r"Expected `dataset` the model accepts"):  # as the caller names it
        validate_layer_pairs(Reused(), [("a", "b")], example=torch.zeros(1, 5), example_name="dataset")


def test_a_module_that_does_not_run_is_rejected() -> None:
    net = Reused()
    net.spare = nn.Linear(4, 4)  # registered, never called
    with pytest.raises(
        ValueError,
        match=r"Expected both modules of pair \('b', 'spare'\) to run in the forward pass, "
        r"but the child 'spare' was not called",
    ):
        validate_layer_pairs(net, [("b", "spare")], example=torch.zeros(1, 4))


def test_the_model_is_left_as_found() -> None:
    net = resnet56(width=0.25, in_channels=1).train()
    net.bn1.eval()  # a frozen BatchNorm
    net.conv1.weight.requires_grad_(False)  # a frozen layer
    before = describe_state(net)
    validate_layer_pairs(net, layer_pairs("resnet56"), example=CIFAR1)
    assert describe_state(net) == before
    assert net.training and not net.bn1.training and not net.conv1.weight.requires_grad


class _ThreeConvs(nn.Module):
    """a(3→8) → relu → b(8→8) → (``between``) → c(8→8) → mean → head(8→2); what comes back is ``output``."""

    def __init__(self, between=lambda h: h, output=lambda logits: logits) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Conv2d(3, 8, 1), nn.Conv2d(8, 8, 1), nn.Conv2d(8, 8, 1)
        self.head = nn.Linear(8, 2)
        self.between, self.output = between, output

    def forward(self, x: torch.Tensor):
        h = self.between(self.b(torch.relu(self.a(x))))
        return self.output(self.head(self.c(h).mean((2, 3))))


def test_an_output_holding_other_values_than_tensors_is_still_traced() -> None:
    # a HuggingFace-style output: Torch-Pruning could not flatten the None and fell back to counts only
    net = _ThreeConvs(output=lambda logits: {"logits": logits, "hidden_states": None, "n": 3})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert validate_layer_pairs(net, [("a", "b"), ("b", "c")], example=torch.randn(1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"Pair \('a', 'c'\) is not adjacent"):
        validate_layer_pairs(net, [("a", "c")], example=torch.randn(1, 3, 4, 4))


def test_inference_mode_tensors_and_contexts_do_not_stop_the_check() -> None:
    net = _ThreeConvs()
    with torch.inference_mode():
        example = torch.randn(1, 3, 4, 4)  # an inference tensor cannot be saved for backward: it is copied
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert validate_layer_pairs(net, [("a", "b")], example=example)
        with torch.inference_mode():
            assert validate_layer_pairs(net, [("a", "b")], example=example)
        with pytest.raises(ValueError, match="is not adjacent"), torch.no_grad():
            validate_layer_pairs(net, [("a", "c")], example=example)
    with torch.inference_mode():  # parameters that cannot take gradients: counts only, said so
        frozen = _ThreeConvs()
    with pytest.warns(UserWarning, match="only the channel counts were checked"):
        assert validate_layer_pairs(frozen, [("a", "c")], example=example)


@pytest.mark.parametrize(
    "between",
    [
        lambda h: h.flip(1),
        lambda h: torch.roll(h, 1, 1),
        lambda h: h[:, [1, 0, 3, 2, 5, 4, 7, 6]],
        lambda h: h.view(h.shape[0], 2, 4, *h.shape[2:]).transpose(1, 2).reshape(h.shape),  # a channel shuffle
    ],
)
def test_channels_reordered_between_parent_and_child_are_refused(between) -> None:
    # Torch-Pruning maps these channel for channel; the perturbation probe sees the channels arrive elsewhere
    net = _ThreeConvs(between=between)
    with pytest.raises(
        ValueError,
        match=r"Pair \('b', 'c'\) is not adjacent channel for channel: raising the parent's "
        r"output channel \d+ moves the child's inputs \[\d+\], none of its own",
    ):
        validate_layer_pairs(net, [("b", "c")], example=torch.randn(1, 3, 4, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validate_layer_pairs(net, [("a", "b")], example=torch.randn(1, 3, 4, 4))


class _ChannelsLast(nn.Module):
    """conv(8) → permute to channels-last → Linear over the channels (ConvNeXt's pattern): adjacent, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 8, 1), nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).permute(0, 2, 3, 1)).mean((1, 2))


class _OtherHalf(nn.Module):
    """b reads the half of cat([a(x), pre(x)]) that comes from ``pre``: (a, b) chains by counts, and is not."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.pre, self.b = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 4, 1), nn.Conv2d(4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, second = torch.chunk(torch.cat([self.a(x), self.pre(x)], 1), 2, 1)
        return self.b(second).mean((2, 3)) + first.mean()


def test_the_probe_accepts_channels_last_and_refuses_a_parent_the_child_does_not_read() -> None:
    x = torch.randn(1, 3, 4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the permute is flagged, and the probe finds every channel in place
        validate_layer_pairs(_ChannelsLast(), [("conv", "fc")], example=x)
        validate_layer_pairs(_OtherHalf(), [("pre", "b")], example=x)
    with pytest.raises(
        ValueError,
        match=r"Pair \('a', 'b'\) is not adjacent: raising or lowering 4 of the parent's "
        r"output channels moves none of the child's inputs",
    ):
        validate_layer_pairs(_OtherHalf(), [("a", "b")], example=x)


def test_a_network_whose_index_mapping_fails_still_gets_adjacency_checked() -> None:
    # torchvision's ShuffleNetV2: Torch-Pruning's index mapping divides by zero on its channel shuffle, but the
    # graph itself is whole: a reversed pair is refused, a pair inside a branch accepted, and one across the
    # channel shuffle refused by the probe
    from torchvision.models import shufflenet_v2_x0_5

    net = shufflenet_v2_x0_5(weights=None).eval()
    x = torch.randn(1, 3, 32, 32)
    with pytest.raises(ValueError, match="looks reversed"):
        validate_layer_pairs(net, [("stage2.0.branch2.5", "stage2.0.branch2.0")], example=x)
    with warnings.catch_warnings():  # through BatchNorm, ReLU and a depthwise conv: no index mapping needed
        warnings.simplefilter("error")
        validate_layer_pairs(net, [("stage2.0.branch2.0", "stage2.0.branch2.5")], example=x)
    with pytest.raises(ValueError, match="not adjacent channel for channel"):  # across the shuffle between units
        validate_layer_pairs(net, [("stage2.0.branch2.5", "stage2.1.branch2.0")], example=x)


class ChannelsLastFlatten(nn.Module):
    """conv(4) → permute to channels-last → reshape → Linear: input i of fc holds channel i % 4, not i // 16."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).permute(0, 2, 3, 1).reshape(x.shape[0], -1))


def test_a_channels_last_flatten_is_refused_not_warned() -> None:
    """The masks assume torch.flatten's channel-major order: a permuted flatten would mask the wrong weights."""
    torch.manual_seed(0)
    with pytest.raises(ValueError, match=r"Pair \('conv', 'fc'\) is not adjacent channel for channel.*channels-last"):
        validate_layer_pairs(ChannelsLastFlatten(), [("conv", "fc")], example=torch.randn(1, 1, 4, 4))


@pytest.mark.parametrize("scorer", ["magnitude", "random", "mint"])
def test_every_scorer_given_data_checks_adjacency(scorer: str, tmp_path) -> None:
    """Weight-only scorers used to skip the check and mask the wrong weights of a non-adjacent pair."""
    from torch.utils.data import TensorDataset

    from mintlab.prune.scorers import get_scorer
    from mintlab.prune.scores import compute_scores

    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4))
    data = TensorDataset(torch.randn(40, 1, 4, 4), torch.arange(40) % 4)
    with pytest.raises(ValueError, match=r"Pair \('1', '5'\) is not adjacent"):
        compute_scores(
            net,
            data,
            [("1", "5")],
            get_scorer(scorer),
            groups=(2, 2),
            samples_per_class=5,
            seed=0,
            cache_dir=tmp_path,
            progress=False,
        )
    assert not any(tmp_path.iterdir())  # refused before anything was written
