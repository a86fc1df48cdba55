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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mintlab.utils.checks import check_int, check_number

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
]

Pair = tuple[str, str]


def _check_width(width: Any) -> float:
    return check_number(width, "width", low=0.0, high=16.0, low_open=True)


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
        check_int(num_classes, "num_classes", minimum=1)
        check_int(in_features, "in_features", minimum=1)
        if not isinstance(hidden, (tuple, list)) or len(hidden) != 2:
            raise ValueError(f"Expected `hidden` as two layer widths, but got {hidden!r}")
        for h in hidden:
            check_int(h, "hidden", minimum=1)
        check_number(dropout, "dropout", low=0.0, high=1.0, high_open=True)
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
_VGG16_CFG: tuple[int | str, ...] = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    "M",
)


class VGG16BN(nn.Module):
    """VGG16 with batch norm for 32×32 inputs (CIFAR-10); see :func:`vgg16_bn`."""

    def __init__(self, num_classes: int = 10, width: float = 1.0, in_channels: int = 3) -> None:
        super().__init__()
        check_int(num_classes, "num_classes", minimum=1)
        check_int(in_channels, "in_channels", minimum=1)
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

    def __init__(
        self, num_classes: int = 10, width: float = 1.0, in_channels: int = 3, blocks_per_stage: int = 9
    ) -> None:
        super().__init__()
        check_int(num_classes, "num_classes", minimum=1)
        check_int(in_channels, "in_channels", minimum=1)
        check_int(blocks_per_stage, "blocks_per_stage", minimum=1)
        width = _check_width(width)
        channels = [_scaled(c, width) for c in (16, 32, 64)]
        self.conv1 = nn.Conv2d(in_channels, channels[0], kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels[0])
        self.relu = nn.ReLU()
        c_in = channels[0]
        for s, c_out in enumerate(channels, start=1):
            blocks = [
                _BasicBlock(c_in if b == 0 else c_out, c_out, 2 if (b == 0 and s > 1) else 1)
                for b in range(blocks_per_stage)
            ]
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

    check_int(num_classes, "num_classes", minimum=1)
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
        raise ValueError(
            f"Expected `weights` as a file or one of {names}, but got {str(weights)!r} (no such file either)"
        )
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
