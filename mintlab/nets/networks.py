"""The networks mintlab prunes by name: one registry, one entry per network, everything a name stands for.

An entry (:class:`NetworkPreset`) is the network's constructor and its pruning setup as the paper gives it (layer
pairs, G per pair at width 1, m, γ caps, skipped layers; Appendix B, :data:`mintlab.nets.presets.PAPER_SETTINGS`),
the data sets and recipe :func:`mintlab.nets.pretrained.pretrained` trains it with, and the layer GradCAM
explains. Every place that takes a network's name reads it from here: the comparison's presets
(:func:`mintlab.experiments.compare.comparison_preset`, its command line's ``--model``), the pretrained store,
kept networks (:func:`mintlab.experiments.compare.load_kept_network`) and the characterization's GradCAM layer.

A network of one's own becomes a name with one :func:`register_network` call (``docs/own_model.md``)::

    register_network(NetworkPreset(
        "resnet20", build=resnet20, pairs=(("layer1.0.conv1", "layer1.0.conv2"), ...),
        groups={("layer1.0.conv1", "layer1.0.conv2"): (16, 16), ...}, samples_per_class=500,
        datasets=("fashion_mnist32", "cifar10"), recipe="cnn_fashion", gradcam_layer="layer3",
    ))

after which ``run_comparison(model="resnet20", width=0.5, ...)``, ``pretrained("resnet20", "fashion_mnist32")``
and the rest take it as they take ``"vgg16"``.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

__all__ = ["NETWORK_PRESETS", "NetworkPreset", "get_network", "network_names", "register_network"]

Pair = tuple[str, str]


@dataclasses.dataclass(frozen=True)
class NetworkPreset:
    """One network known by name.

    Attributes:
        name: the name every API takes (``"vgg16"``).
        build: ``build(num_classes=...)`` (``has_width=False``) or ``build(width=..., in_channels=...,
            num_classes=...)`` → a fresh, untrained ``nn.Module``.
        pairs: the (parent, child) module names MINT scores (the paper's, skipped pairs left out).
        groups: ``{pair: (G_parent, G_child)}`` for every pair, at width 1 (presets scale them with the width).
        samples_per_class: m, the per-class sample of the activations.
        gamma: ``{child: cap}``, the largest pruned fraction of a child layer (no entry: no cap).
        skip: child layers the paper leaves unpruned (recorded; the pairs above already leave them out).
        datasets: data sets :func:`~mintlab.nets.pretrained.pretrained` trains it on (names of
            :func:`mintlab.nets.data.load_tensor_data` / :func:`~mintlab.nets.data.load_dataset`).
        recipe: the training recipe :func:`~mintlab.nets.pretrained.pretrained` uses unless told
            (:data:`mintlab.nets.recipes.RECIPES`).
        has_width: whether ``build`` takes ``width`` and ``in_channels`` (a CNN) or not (the MLP).
        gradcam_layer: the module GradCAM explains by default (None: the last ``Conv2d``).
    """

    name: str
    build: Callable[..., nn.Module]
    pairs: tuple[Pair, ...]
    groups: Mapping[Pair, tuple[int, int]]
    samples_per_class: int
    gamma: Mapping[str, float] = dataclasses.field(default_factory=dict)
    skip: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ("fashion_mnist32", "cifar10")
    recipe: str = "cnn_fashion"
    has_width: bool = True
    gradcam_layer: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Expected `name` as a non-empty str, but got {self.name!r}")
        if not callable(self.build):
            raise TypeError(f"Expected `build` as a callable returning an nn.Module, but got {self.build!r}")
        pairs = tuple((str(p), str(c)) for p, c in self.pairs)
        if not pairs:
            raise ValueError(f"Expected at least one (parent, child) pair for {self.name!r}, but got none")
        missing = [p for p in pairs if p not in self.groups]
        if missing:
            raise ValueError(f"Expected `groups` to give (G_parent, G_child) for every pair, but {missing} have none")
        bad = {k: v for k, v in self.gamma.items() if not 0.0 <= float(v) <= 1.0}
        if bad:
            raise ValueError(f"Expected every γ cap in [0, 1], but got {bad}")
        object.__setattr__(self, "pairs", pairs)

    def network(self, *, width: float = 1.0, in_channels: int = 3, num_classes: int = 10) -> nn.Module:
        """A fresh, untrained network (``width`` and ``in_channels`` only where :attr:`has_width`).

        Raises:
            ValueError: a width other than 1 for a network without one.
        """
        if not self.has_width:
            if width != 1:
                raise ValueError(f"Expected `width` 1 for {self.name!r} (it has no width option), but got {width!r}")
            return self.build(num_classes=int(num_classes))
        return self.build(width=float(width), in_channels=int(in_channels), num_classes=int(num_classes))


#: The registry: name → :class:`NetworkPreset`. Add to it with :func:`register_network` only.
NETWORK_PRESETS: dict[str, NetworkPreset] = {}


def register_network(preset: NetworkPreset, *, replace: bool = False) -> NetworkPreset:
    """Make ``preset`` known by its name (see the module docstring). Returns it.

    Raises:
        TypeError: not a :class:`NetworkPreset`. ValueError: the name is taken and ``replace`` is False.
    """
    if not isinstance(preset, NetworkPreset):
        raise TypeError(f"Expected a NetworkPreset, but got {type(preset).__name__}")
    if preset.name in NETWORK_PRESETS and not replace:
        raise ValueError(f"Expected a new network name, but {preset.name!r} is registered (pass replace=True)")
    NETWORK_PRESETS[preset.name] = preset
    return preset


def network_names() -> tuple[str, ...]:
    """The registered names, in registration order (the built-ins first: ``mlp``, ``vgg16``, ``resnet56``)."""
    return tuple(NETWORK_PRESETS)


def get_network(name: Any) -> NetworkPreset:
    """The entry of ``name``.

    Raises:
        ValueError: an unknown name (the message lists the known ones and the closest).

    >>> get_network("vgg16").gradcam_layer
    'features.relu13'
    """
    if isinstance(name, str) and name in NETWORK_PRESETS:
        return NETWORK_PRESETS[name]
    close = difflib.get_close_matches(str(name), list(NETWORK_PRESETS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"Expected a network name among {network_names()}, but got {name!r}{hint}")


def _paper(name: str, build: Callable[..., nn.Module], **fields: Any) -> NetworkPreset:
    """A built-in entry: the paper's pairs and settings (:data:`~mintlab.nets.presets.PAPER_SETTINGS`)."""
    from mintlab.nets.presets import PAPER_SETTINGS, layer_pairs

    s = PAPER_SETTINGS[name]
    gamma = {(k if isinstance(k, str) else k[1]): float(v) for k, v in s["gamma"].items()}  # VGG16: keyed by pair
    groups = {tuple(p): tuple(g) for p, g in s["groups"].items()}
    return NetworkPreset(name, build, tuple(layer_pairs(name)), groups, int(s["samples_per_class"]), gamma,
                         tuple(s["skip"]), **fields)  # fmt: skip


def _builtins() -> None:
    from mintlab.nets.models import MLP, resnet56, vgg16_bn

    register_network(_paper("mlp", MLP, datasets=("mnist", "fashion_mnist"), recipe="quick", has_width=False))
    register_network(_paper("vgg16", vgg16_bn, recipe="cnn_fashion", gradcam_layer="features.relu13"))
    register_network(_paper("resnet56", resnet56, recipe="resnet56_fashion", gradcam_layer="layer3"))


_builtins()
