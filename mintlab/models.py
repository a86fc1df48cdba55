"""The paper's four networks, their prunable layer pairs and the paper's pruning settings.

Module names (what :func:`layer_pairs` and the pipeline refer to):

- ``MLP``: ``fc1`` (784→500), ``fc2`` (500→300), ``fc3`` (300→10).
- ``vgg16_bn``: ``features.conv1`` .. ``features.conv13`` (each followed by
  ``features.bn<k>``, ``features.relu<k>``; ``features.pool1`` .. ``pool5`` after conv
  2, 4, 7, 10, 13), then ``classifier.fc1`` (512→512), ``classifier.bn``,
  ``classifier.relu``, ``classifier.fc2`` (512→classes). "Convolution k" and "Linear 1"
  of the paper are ``features.conv<k>`` and ``classifier.fc1``.
- ``resnet56``: ``conv1`` (stem), ``layer{1,2,3}.{0..8}.conv{1,2}``, ``fc``. The paper
  numbers the 55 convolutions in forward order: conv 1 is the stem, conv ``n >= 2`` is
  ``layer{s}.{b}.conv{c}`` with ``s = (n-2)//18 + 1``, ``b = ((n-2) % 18)//2``,
  ``c = (n-2) % 2 + 1`` (:func:`paper_layer_names` lists them).
- ``resnet50``: torchvision's names (``conv1``, ``layer1.0.conv1`` .. ``layer4.2.conv3``,
  ``layerX.0.downsample.0``, ``fc``).

A pair ``(parent, child)`` is scored on the child's *input* (the units the child's weights
multiply, which carry the parent's channels) and the child's output; the child's weights
are the ones pruned. Any model works with a user-given list of pairs, checked by
:func:`validate_layer_pairs`.
"""

from __future__ import annotations

import difflib
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "MLP",
    "VGG16BN",
    "ResNet56",
    "vgg16_bn",
    "resnet56",
    "resnet50",
    "MODELS",
    "build_model",
    "count_parameters",
    "paper_layer_names",
    "layer_pairs",
    "PAPER_SETTINGS",
    "validate_layer_pairs",
]

Pair = tuple[str, str]


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Expected `{name}` as an int >= 1, but got {value!r}")
    return value


def _check_width(width: Any) -> float:
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width <= 16:
        raise ValueError(f"Expected `width` as a number in (0, 16], but got {width!r}")
    return float(width)


def _scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


# --------------------------------------------------------------------------- MLP


class MLP(nn.Module):
    """The paper's MLP: 784-500-300-10, ReLU, dropout 0.2 after each hidden ReLU.

    Flattens its input, so it takes ``(N, 1, 28, 28)`` images or ``(N, 784)`` rows.
    545,810 parameters with the defaults.

    >>> MLP()(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self, num_classes: int = 10, in_features: int = 784, hidden: tuple[int, int] = (500, 300), dropout: float = 0.2
    ) -> None:
        super().__init__()
        _check_positive_int(num_classes, "num_classes")
        _check_positive_int(in_features, "in_features")
        if not isinstance(hidden, (tuple, list)) or len(hidden) != 2:
            raise ValueError(f"Expected `hidden` as two layer widths, but got {hidden!r}")
        for h in hidden:
            _check_positive_int(h, "hidden")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"Expected `dropout` in [0, 1), but got {dropout!r}")
        self.fc1 = nn.Linear(in_features, hidden[0])
        self.fc2 = nn.Linear(hidden[0], hidden[1])
        self.fc3 = nn.Linear(hidden[1], num_classes)
        self.relu1 = nn.ReLU()
        self.relu2 = nn.ReLU()
        self.drop1 = nn.Dropout(dropout)
        self.drop2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        x = self.drop1(self.relu1(self.fc1(x)))
        x = self.drop2(self.relu2(self.fc2(x)))
        return self.fc3(x)


# --------------------------------------------------------------------------- VGG16-BN

#: Output channels of VGG16's 13 convolutions; ``"M"`` is a 2×2 max-pool.
_VGG16_CFG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG16BN(nn.Module):
    """VGG16 with batch norm for 32×32 inputs (CIFAR-10); see :func:`vgg16_bn`."""

    def __init__(self, num_classes: int = 10, width: float = 1.0, in_channels: int = 3) -> None:
        super().__init__()
        _check_positive_int(num_classes, "num_classes")
        _check_positive_int(in_channels, "in_channels")
        width = _check_width(width)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        c_in, k, p = in_channels, 0, 0
        for item in _VGG16_CFG:
            if item == "M":
                p += 1
                layers[f"pool{p}"] = nn.MaxPool2d(kernel_size=2, stride=2)
                continue
            k += 1
            c_out = _scaled(int(item), width)
            layers[f"conv{k}"] = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1)
            layers[f"bn{k}"] = nn.BatchNorm2d(c_out)
            layers[f"relu{k}"] = nn.ReLU()
            c_in = c_out
        self.features = nn.Sequential(layers)
        hidden = _scaled(512, width)
        self.classifier = nn.Sequential(
            OrderedDict(
                fc1=nn.Linear(c_in, hidden),
                bn=nn.BatchNorm1d(hidden),
                relu=nn.ReLU(),
                fc2=nn.Linear(hidden, num_classes),
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.classifier(x.flatten(1))


def vgg16_bn(num_classes: int = 10, width: float = 1.0, in_channels: int = 3) -> VGG16BN:
    """VGG16-BN for 32×32 images: 13 conv 3×3 (BN, ReLU), 5 max-pools, 512→512→classes.

    The classifier follows the MINT reference code's CIFAR VGG16-BN: ``fc1`` 512→512,
    BatchNorm1d, ReLU, ``fc2`` 512→classes, no dropout (torchvision's ImageNet VGG has a
    25088→4096→4096 head instead). 14,991,946 parameters at ``width=1`` with 10 classes
    (convs 14,714,688; conv BN 8,448; head 268,810), ≈60 MB as float32, the size the
    paper's 53.9 Mb baseline memory points to.

    Args:
        num_classes: outputs.
        width: multiplies every channel count (and the 512 hidden units), rounded, for
            small, fast test models; 1.0 is the paper's network.
        in_channels: input channels.

    >>> vgg16_bn(width=0.125)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """
    return VGG16BN(num_classes=num_classes, width=width, in_channels=in_channels)


# --------------------------------------------------------------------------- ResNet56


class _BasicBlock(nn.Module):
    """He et al.'s CIFAR basic block with the option-A (parameter-free) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu2 = nn.ReLU()
        self.stride = stride
        self.pad = (c_out - c_in) // 2, (c_out - c_in) - (c_out - c_in) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x
        if self.stride != 1:
            shortcut = shortcut[:, :, :: self.stride, :: self.stride]
        if self.pad != (0, 0):
            shortcut = F.pad(shortcut, (0, 0, 0, 0, *self.pad))
        return self.relu2(out + shortcut)


class ResNet56(nn.Module):
    """ResNet56 for CIFAR; see :func:`resnet56`."""

    def __init__(self, num_classes: int = 10, width: float = 1.0, in_channels: int = 3, blocks_per_stage: int = 9) -> None:
        super().__init__()
        _check_positive_int(num_classes, "num_classes")
        _check_positive_int(in_channels, "in_channels")
        _check_positive_int(blocks_per_stage, "blocks_per_stage")
        width = _check_width(width)
        channels = [_scaled(c, width) for c in (16, 32, 64)]
        self.conv1 = nn.Conv2d(in_channels, channels[0], kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels[0])
        self.relu = nn.ReLU()
        c_in = channels[0]
        for s, c_out in enumerate(channels, start=1):
            blocks = [_BasicBlock(c_in if b == 0 else c_out, c_out, 2 if (b == 0 and s > 1) else 1) for b in range(blocks_per_stage)]
            self.add_module(f"layer{s}", nn.Sequential(*blocks))
            c_in = c_out
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # He et al.'s initialisation; the fc keeps torch's default
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.pool(x).flatten(1))


def resnet56(num_classes: int = 10, width: float = 1.0, in_channels: int = 3) -> ResNet56:
    """He et al.'s CIFAR ResNet56: stem conv, 3 stages × 9 basic blocks (16/32/64 channels), fc.

    Option-A shortcuts (stride-2 subsampling and zero-padded channels, no parameters), as
    in the MINT reference code's ``Resnet56_A``: 853,018 parameters with 10 classes.
    Convolutions start from He et al.'s initialisation (Kaiming normal, fan-out), as in
    their paper; the MINT reference code keeps PyTorch's default initialisation.

    Args:
        num_classes: outputs.
        width: multiplies the 16/32/64 channels (rounded), for small test models.
        in_channels: input channels.

    >>> resnet56(width=0.25)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """
    return ResNet56(num_classes=num_classes, width=width, in_channels=in_channels)


# --------------------------------------------------------------------------- ResNet50


def resnet50(num_classes: int = 1000, weights: str | os.PathLike | None = None) -> nn.Module:
    """torchvision's ResNet50, optionally with pretrained weights.

    Args:
        num_classes: outputs. With torchvision weights and ``num_classes != 1000`` the
            ImageNet head is replaced by a freshly initialised ``fc``.
        weights: ``None`` (random init); a torchvision weights name such as
            ``"IMAGENET1K_V1"`` (the paper's PyTorch-zoo model) or ``"DEFAULT"``, which
            torchvision downloads once into its cache (needs internet); or the path of a
            local checkpoint (a state dict, or a dict with ``"state_dict"`` / ``"model"``).

    >>> resnet50(num_classes=10).fc.out_features
    10
    """
    from torchvision import models as tvm

    _check_positive_int(num_classes, "num_classes")
    if weights is None:
        return tvm.resnet50(weights=None, num_classes=num_classes)
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"Expected `weights` as None, a weights name or a path, but got {type(weights).__name__}")
    candidate = Path(weights).expanduser()
    if candidate.is_file():
        model = tvm.resnet50(weights=None, num_classes=num_classes)
        state = torch.load(candidate, map_location="cpu", weights_only=True)
        if isinstance(state, dict):
            for key in ("state_dict", "model"):
                if key in state and isinstance(state[key], dict):
                    state = state[key]
                    break
        model.load_state_dict(state)
        return model
    names = [w.name for w in tvm.ResNet50_Weights] + ["DEFAULT"]
    name = str(weights).split(".")[-1]
    if name not in names:
        raise ValueError(f"Expected `weights` as a file or one of {names}, but got {str(weights)!r} (no such file either)")
    model = tvm.resnet50(weights=tvm.ResNet50_Weights[name])
    if num_classes != model.fc.out_features:
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


# --------------------------------------------------------------------------- registry

MODELS: dict[str, Callable[..., nn.Module]] = {
    "mlp": MLP,
    "vgg16": vgg16_bn,
    "resnet56": resnet56,
    "resnet50": resnet50,
}
_ALIASES = {"vgg16_bn": "vgg16", "vgg": "vgg16", "resnet_56": "resnet56", "resnet_50": "resnet50"}


def _model_key(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"Expected `name` as a str, but got {type(name).__name__}")
    key = name.lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in MODELS:
        close = difflib.get_close_matches(key, list(MODELS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"Expected `name` in {tuple(MODELS)}, but got {name!r}{hint}")
    return key


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build one of :data:`MODELS` (``"mlp"``, ``"vgg16"``, ``"resnet56"``, ``"resnet50"``).

    >>> build_model("mlp").fc2.weight.shape
    torch.Size([300, 500])
    """
    return MODELS[_model_key(name)](**kwargs)


def count_parameters(model: nn.Module) -> int:
    """Number of parameter entries; a pruned weight (``weight_orig`` + mask) counts once.

    >>> count_parameters(MLP())
    545810
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected `model` as a torch.nn.Module, but got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- layer pairs


def _resnet56_conv(n: int) -> str:
    if n == 1:
        return "conv1"
    s, b, c = (n - 2) // 18 + 1, ((n - 2) % 18) // 2, (n - 2) % 2 + 1
    return f"layer{s}.{b}.conv{c}"


def _resnet50_children() -> list[Pair]:
    """(parent, child) for every ResNet50 convolution but the stem, in forward order."""
    pairs: list[Pair] = []
    previous = "conv1"
    for s, n_blocks in enumerate((3, 4, 6, 3), start=1):
        for b in range(n_blocks):
            block = f"layer{s}.{b}"
            pairs.append((previous, f"{block}.conv1"))
            pairs.append((f"{block}.conv1", f"{block}.conv2"))
            pairs.append((f"{block}.conv2", f"{block}.conv3"))
            if b == 0:
                pairs.append((previous, f"{block}.downsample.0"))
            previous = f"{block}.conv3"
    return pairs


def paper_layer_names(name: str) -> list[str]:
    """Module names of the prunable layers in the paper's numbering (index 0 = layer 1).

    MLP: FC 1-3; VGG16: Convolution 1-13 then Linear 1, 2; ResNet56: Convolution 1-55
    then the fc; ResNet50: convolutions in forward order (a block's downsample after its
    conv3), then the fc.

    >>> paper_layer_names("resnet56")[19]
    'layer2.0.conv1'
    """
    key = _model_key(name)
    if key == "mlp":
        return ["fc1", "fc2", "fc3"]
    if key == "vgg16":
        return [f"features.conv{k}" for k in range(1, 14)] + ["classifier.fc1", "classifier.fc2"]
    if key == "resnet56":
        return [_resnet56_conv(n) for n in range(1, 56)] + ["fc"]
    return ["conv1"] + [child for _, child in _resnet50_children()] + ["fc"]


_VGG_GAMMA_CHILDREN = tuple(f"features.conv{k}" for k in (5, 6, 7, 8))
_RESNET56_SKIP = tuple(_resnet56_conv(n) for n in (16, 20, 38, 54))


def _all_pairs(key: str) -> list[Pair]:
    if key == "mlp":
        return [("fc1", "fc2"), ("fc2", "fc3")]
    if key == "vgg16":
        names = paper_layer_names("vgg16")
        return [(names[i], names[i + 1]) for i in range(3, 13)]  # conv4 → conv5 .. conv13 → fc1
    if key == "resnet56":
        return [(_resnet56_conv(n), _resnet56_conv(n + 1)) for n in range(1, 55)]
    return _resnet50_children()


def layer_pairs(name: str, *, include_skipped: bool = False) -> list[Pair]:
    """The paper's prunable (parent, child) pairs for one of the four networks (Appendix B).

    - MLP: ``fc1→fc2``, ``fc2→fc3``.
    - VGG16: "all the layers between Convolution 4 and Linear 1": conv4→conv5 ..
      conv12→conv13, conv13→``classifier.fc1`` (10 pairs).
    - ResNet56: conv n → conv n+1 in the paper's numbering (across blocks, as the MINT
      reference code does), skipping the pairs whose child is conv 16, 20, 38 or 54 as
      the paper says; the fc is not pruned (the reference's retraining leaves it): 50 pairs.
    - ResNet50: every convolution but the stem as a child (52 pairs, as many as the
      reference code's); the fc is skipped as the paper says. Within a bottleneck
      conv1→conv2→conv3; a block's conv1 and its downsample take the previous block's
      conv3 (the stem for the first block) as parent. mintlab departs from the reference
      code here: its ResNet50 chains conv k → conv k+1 in a flat numbering that pairs
      layers whose channels do not match (e.g. a conv3 with the next downsample). The
      scores only use the child's input, which is well defined across the residual sum.

    Args:
        name: model name (see :data:`MODELS`).
        include_skipped: also return the pairs the paper skips (ResNet56 only).

    >>> layer_pairs("mlp")
    [('fc1', 'fc2'), ('fc2', 'fc3')]
    >>> len(layer_pairs("resnet56")), len(layer_pairs("resnet56", include_skipped=True))
    (50, 54)
    """
    key = _model_key(name)
    pairs = _all_pairs(key)
    if include_skipped:
        return pairs
    skip = set(PAPER_SETTINGS[key]["skip"])
    return [p for p in pairs if p[1] not in skip]


def _settings() -> dict[str, dict[str, Any]]:
    vgg = _all_pairs("vgg16")
    r56 = [p for p in _all_pairs("resnet56") if p[1] not in _RESNET56_SKIP]

    def r56_groups(module: str) -> int:
        return {"conv1": 16, "layer1": 16, "layer2": 32, "layer3": 64}[module.split(".")[0]]

    return {
        "mlp": {
            "dataset": "mnist",
            "groups": {("fc1", "fc2"): (250, 100), ("fc2", "fc3"): (300, 10)},
            "samples_per_class": 650,
            "delta": 0.645,
            "delta_alternatives": (0.645,),
            "gamma": {},
            "skip": (),
            "train_recipe": "mlp",
            "retrain_recipe": "mlp_retrain",
            "reported": {"params_pruned": 96.01, "accuracy": 98.47, "baseline_accuracy": 98.59, "memory_mb": 0.025,
                         "note": "params pruned of fc2 only (Table I, *)"},
        },
        "vgg16": {
            "dataset": "cifar10",
            "groups": {p: (64, 64) for p in vgg},
            "samples_per_class": 650,
            "delta": 0.850,
            "delta_alternatives": (0.850,),
            "gamma": {p: 0.45 for p in vgg if p[1] in _VGG_GAMMA_CHILDREN},
            "skip": (),
            "train_recipe": "vgg16",
            "retrain_recipe": "vgg16_retrain",
            "reported": {"params_pruned": 83.43, "accuracy": 93.43, "baseline_accuracy": 93.98, "memory_mb": 9.057},
        },
        "resnet56": {
            "dataset": "cifar10",
            "groups": {p: (r56_groups(p[0]), r56_groups(p[1])) for p in r56},
            "samples_per_class": 500,
            "delta": 0.184,
            "delta_alternatives": (0.184, 0.208),
            "gamma": {},
            "skip": _RESNET56_SKIP,
            "train_recipe": "resnet56",
            "retrain_recipe": "resnet56_retrain",
            "reported": {"params_pruned": 52.41, "accuracy": 93.47, "baseline_accuracy": 92.55, "memory_mb": 1.553},
        },
        "resnet50": {
            "dataset": "imagenet",
            "groups": {p: (64, 64) for p in _resnet50_children()},
            "samples_per_class": 5,
            "delta": 0.1,
            "delta_alternatives": (0.1000, 0.1101, 0.1103),
            "gamma": {},
            "skip": ("fc",),
            "train_recipe": None,  # the paper starts from torchvision's pretrained model
            "retrain_recipe": "resnet50_retrain",
            "reported": {"params_pruned": 43.00, "accuracy": 71.50, "baseline_accuracy": 76.13, "memory_mb": 52.371},
        },
    }


#: The paper's pruning settings per network (Appendix B, Table I). Per model: ``dataset``;
#: ``groups`` — ``{(parent, child): (parent_groups, child_groups)}`` for every pair of
#: :func:`layer_pairs`; ``samples_per_class`` (m); ``delta`` (Table I's first value) and
#: ``delta_alternatives``; ``gamma`` — ``{pair: cap}`` where the paper caps the pruned
#: fraction (VGG16: 0.45 on the pairs into conv 5–8), no entry = no cap; ``skip`` — child
#: layers the paper leaves unpruned; ``train_recipe`` / ``retrain_recipe`` — names in
#: :data:`mintlab.training.RECIPES`; ``reported`` — Table I's figures.
#: ResNet56's groups are each layer's own stage (16/32/64, i.e. one filter per group at
#: width 1), as the reference code's scripts set them.
PAPER_SETTINGS: dict[str, dict[str, Any]] = _settings()


# --------------------------------------------------------------------------- validation


def _kind(module: nn.Module) -> str:
    if isinstance(module, nn.Conv2d):
        return "conv"
    if isinstance(module, nn.Linear):
        return "linear"
    return ""


def _describe(name: str, m: nn.Module) -> str:
    if isinstance(m, nn.Conv2d):
        return f"{name} (Conv2d {m.in_channels}→{m.out_channels})"
    if isinstance(m, nn.Linear):
        return f"{name} (Linear {m.in_features}→{m.out_features})"
    return f"{name} ({type(m).__name__})"


def validate_layer_pairs(model: nn.Module, pairs: Sequence[Sequence[str]]) -> list[Pair]:
    """Check that every (parent, child) names a Conv2d/Linear of ``model`` and that they chain.

    A pair chains when the parent's outputs are the child's inputs: conv→conv and
    linear→linear need equal counts, linear→conv ``out_features == in_channels``, and
    conv→linear (through a flatten) ``in_features`` a multiple of ``out_channels``.
    Grouped or depthwise child convolutions are not supported.

    Returns:
        The pairs as a list of ``(str, str)`` tuples.

    Raises:
        TypeError: ``pairs`` is not a sequence of two names.
        ValueError: an unknown name (the message lists close matches and the prunable
            names), a module that is not Conv2d/Linear, or a pair that does not chain.

    >>> validate_layer_pairs(MLP(), [("fc1", "fc2")])
    [('fc1', 'fc2')]
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected `model` as a torch.nn.Module, but got {type(model).__name__}")
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise TypeError(f"Expected `pairs` as a list of (parent, child) module names, but got {type(pairs).__name__}")
    modules = dict(model.named_modules())
    prunable = [n for n, m in modules.items() if _kind(m)]
    out: list[Pair] = []
    for pair in pairs:
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise TypeError(f"Expected each pair as (parent, child) module names, but got {pair!r}")
        parent, child = pair
        for role, name in (("parent", parent), ("child", child)):
            if not isinstance(name, str):
                raise TypeError(f"Expected the {role} of {pair!r} as a module name (str), but got {type(name).__name__}")
            if name not in modules:
                close = difflib.get_close_matches(name, prunable, n=3)
                hint = f"; close matches: {close}" if close else ""
                shown = prunable if len(prunable) <= 40 else prunable[:40] + ["..."]
                raise ValueError(f"Unknown {role} module {name!r} in pair {tuple(pair)}{hint}; Conv2d/Linear modules: {shown}")
            if not _kind(modules[name]):
                raise ValueError(f"Expected the {role} {name!r} of pair {tuple(pair)} to be Conv2d or Linear, but got {type(modules[name]).__name__}")
        p, c = modules[parent], modules[child]
        if isinstance(c, nn.Conv2d) and c.groups != 1:
            raise ValueError(f"Pair {tuple(pair)}: grouped convolutions (groups={c.groups}) are not supported as a child")
        p_out = p.out_channels if isinstance(p, nn.Conv2d) else p.out_features
        c_in = c.in_channels if isinstance(c, nn.Conv2d) else c.in_features
        chains = c_in % p_out == 0 if (_kind(p), _kind(c)) == ("conv", "linear") else c_in == p_out
        if not chains:
            raise ValueError(
                f"Pair {tuple(pair)} does not chain: parent {_describe(parent, p)} gives {p_out} outputs, "
                f"child {_describe(child, c)} takes {c_in} inputs"
            )
        out.append((parent, child))
    return out
