"""Method comparison for any network: MINT against magnitude, random, Wanda and Taylor, with seeds.

:func:`run_comparison` takes a model preset (``"mlp"``, ``"vgg16"``, ``"resnet56"``; see
:func:`comparison_preset`) or a user's model and layer pairs, a dataset, the methods (scorer
names of :data:`mintlab.prune.scorers.SCORER_NAMES`), sparsity levels and seeds. Per seed it
trains its own dense network (checkpointed), draws its own per-class sample and computes
every method's scores on the *same* group blocks (cached). Each run then prunes once and
retrains once with the same budget for every method (after masking, BatchNorm statistics are
re-estimated on training images, :func:`recalibrate_batchnorm`). Two allocations of the sparsity:

* ``"mint"``: MINT's δ (with the preset's γ caps and skipped layers) sets each layer's
  sparsity: δ is the threshold on the MINT scores whose pruned share of *all* parameters is
  closest to the level (ties broken at random, see :func:`_delta_for_level`). Every other
  method then prunes *each layer* to exactly that layer's
  share (its own lowest-scoring blocks; ties in seeded random order). This isolates which
  blocks a score picks. The MINT method that sets δ is ``"mint"`` (else ``"mint_paper"``).
* ``"global"``: every method ranks all its blocks across the network by its own scores and
  removes the lowest until the level is reached (weights counted, skipped layers kept, no
  γ): :func:`mintlab.prune.masks.masks_from_scores` with ``prune_percent``. This adds how a
  score spreads sparsity over layers (the paper's Fig. 5 question).

Levels (``target_percent``) are percentages of *all* parameters of the dense network, as
the paper's "Params. Pruned". The JSON file (schema below) is rewritten atomically after
every run; a rerun with the same core settings skips finished runs (levels, methods, seeds
and allocations may be added; a file made with other core settings is refused). A user's data
and network count among the core settings by content: a hash of every sample
(``settings.dataset.train_fingerprint``) and of the network's architecture
(``settings.model_options.architecture``) and its classes' code (``settings.model_options.code``,
:func:`mintlab._utils.fingerprint.code_fingerprint`), never their sizes or class name alone, so other data or
another ``nn.Sequential`` neither reuse a file's runs nor its cached dense networks (those are keyed
the same way, in a folder of their own). Plots: accuracy vs sparsity per method with the seed spread
(``<out>.png``) and per-layer pruned % per method (``<out>_layers.png``, the paper's Fig. 5).

JSON schema: ``{"settings": {...model, dataset, width, groups, m, recipes, seeds, versions},
"dense_accuracy": {seed: %}, "scoring_seconds": {"method/seed": s}, "deltas": {...},
"runs": [{run_id, method, allocation, seed, target_percent, total_pruned_percent,
per_layer_pruned_percent: {layer: %}, accuracy_before_retrain, accuracy_after_retrain,
csr_memory_mb, scoring_seconds, delta, sweep, retrain_seconds}]}``; accuracies and
percentages in percent.

Kept networks (``keep_networks``, CLI ``--keep-networks DIR``): every pruned-and-retrained network and every
seed's dense network is also saved as an atomic checkpoint (:func:`mintlab.nets.checkpoints.save_checkpoint`,
torch-prune masks kept) under ``DIR/<settings key>/`` (:func:`kept_network_path`); each run record then
names its file (``network_file``) and its weights' SHA-256 (``network_sha256``). A rerun treats a run as finished
only when its record *and* its file exist, so kept networks can be added to a finished comparison. Load one
with :func:`load_kept_network`.

Command line: ``python -m mintlab.experiments.compare --help``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import io
import json
import numbers
import platform
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from mintlab._utils.checks import (
    InvalidArgumentError,
    check_choice,
    check_fraction,
    check_int,
    check_number,
    check_seed,
)
from mintlab._utils.fingerprint import architecture_fingerprint, code_fingerprint, dataset_fingerprint
from mintlab._utils.io import to_jsonable, write_bytes_atomic, write_json_atomic
from mintlab._utils.model_state import preserved_state
from mintlab.nets.data import TENSOR_DATASETS
from mintlab.nets.recipes import Recipe, get_recipe
from mintlab.prune.scorers import RUNTIME_OPTIONS, SCORER_NAMES, get_scorer

__all__ = [
    "ALLOCATIONS",
    "COMPARISON_DATASETS",
    "Preset",
    "check_pairs_forward",
    "comparison_inputs",
    "comparison_preset",
    "dense_checkpoint_dir",
    "kept_network_path",
    "load_comparison_data",
    "load_dense_network",
    "load_kept_network",
    "main",
    "plot_comparison",
    "recalibrate_batchnorm",
    "run_comparison",
    "summarize",
]

#: Allocations of the sparsity over layers (see the module docstring).
ALLOCATIONS = ("mint", "global")
#: Datasets :func:`load_comparison_data` knows. ``fashion_mnist32``: Fashion-MNIST padded to
#: 32×32 (1 channel), the offline stand-in for CIFAR-10 with the CIFAR networks.
COMPARISON_DATASETS = TENSOR_DATASETS

# --------------------------------------------------------------------------- presets


@dataclasses.dataclass
class Preset:
    """A network and its pruning settings for the comparison.

    Attributes:
        name: ``"mlp"``, ``"vgg16"``, ``"resnet56"`` or ``"custom"``.
        build: ``build() -> nn.Module``, a fresh untrained network.
        pairs: (parent, child) module names MINT scores.
        groups: ``{(parent, child): (G_parent, G_child)}``.
        gamma: ``{child: cap}``, fraction of a layer's weights MINT may remove at most.
        skip: child layers never pruned.
        samples_per_class: ``m``.
        width: channel multiplier the network was built with.
        options: constructor options recorded in the JSON (width, in_channels, ...).
    """

    name: str
    build: Callable[[], nn.Module]
    pairs: list[tuple[str, str]]
    groups: dict[tuple[str, str], tuple[int, int]]
    gamma: dict[str, float]
    skip: tuple[str, ...]
    samples_per_class: int
    width: float = 1.0
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


def _scale_group(g: int, width: float) -> int:
    return max(1, int(round(g * width)))


def comparison_preset(
    model: str,
    *,
    width: float = 1.0,
    in_channels: int = 3,
    num_classes: int = 10,
    groups: str | int = "scaled",
) -> Preset:
    """The paper's pruning settings for ``model``, at ``width`` (Appendix B; :data:`PAPER_SETTINGS`).

    Layer numbering (checked against the paper's Appendix B, see
    :func:`mintlab.nets.presets.paper_layer_names`): VGG16's "Convolution k" is
    ``features.conv<k>`` (k = 1..13 in forward order) and "Linear 1" is ``classifier.fc1``;
    "all the layers between Convolution 4 and Linear 1" are the 10 pairs conv4→conv5 ..
    conv13→fc1, each G = 64/64, γ = 0.45 on the pairs *into* conv 5, 6, 7, 8, m = 650.
    ResNet56 counts its 55 convolutions in forward order, conv 1 the stem, then per basic
    block conv1, conv2 (the option-A shortcuts have no convolution, so they take no number):
    conv n ≥ 2 is ``layer{(n-2)//18+1}.{((n-2)%18)//2}.conv{(n-2)%2+1}``. The pairs are conv
    n → conv n+1 (50 pairs; the children conv 16, 20, 38, 54 are skipped as the paper says:
    ``layer1.7.conv1``, ``layer2.0.conv1``, ``layer3.0.conv1``, ``layer3.8.conv1``; those four
    are never a child, so ``skip`` is empty and ``options["paper_skip"]`` records them), G = 16
    for conv 1-19, 32 for 20-37, 64 for 38-55 (each layer's own G), m = 500.

    Args:
        model: ``"mlp"``, ``"vgg16"`` or ``"resnet56"``.
        width: channel multiplier of the CNNs (1 = the paper's network); the MLP needs 1.
        in_channels: input channels of the CNNs (1 for Fashion-MNIST, 3 for CIFAR-10).
        num_classes: outputs.
        groups: ``"scaled"`` — the paper's G times ``width`` (rounded, at least 1; at width
            1 the paper's G); ``"paper"`` — the paper's G unchanged; an int — that G for
            every layer.

    Raises:
        ValueError: unknown model, a width other than 1 for the MLP, or a G larger than
            its (reduced-width) layer (the message names the pair and the layer's units).

    >>> p = comparison_preset("vgg16", width=0.25, in_channels=1)
    >>> len(p.pairs), p.groups[("features.conv8", "features.conv9")], p.gamma["features.conv5"]
    (10, (16, 16), 0.45)
    """
    from mintlab.nets.models import MLP, resnet56, vgg16_bn
    from mintlab.nets.presets import PAPER_SETTINGS, layer_pairs

    if model not in ("mlp", "vgg16", "resnet56"):
        raise ValueError(f"Expected `model` in ('mlp', 'vgg16', 'resnet56') for a preset, but got {model!r}")
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width <= 16:
        raise ValueError(f"Expected `width` as a number in (0, 16], but got {width!r}")
    settings = PAPER_SETTINGS[model]
    pairs = layer_pairs(model)
    if model == "mlp":
        if width != 1:
            raise ValueError(f"Expected `width` 1 for the MLP preset (it has no width option), but got {width!r}")

        def build() -> nn.Module:
            return MLP(num_classes=num_classes)

        options: dict[str, Any] = {"num_classes": num_classes}
    else:
        factory = vgg16_bn if model == "vgg16" else resnet56
        options = {"width": float(width), "in_channels": int(in_channels), "num_classes": int(num_classes)}

        def build() -> nn.Module:
            return factory(**{k: options[k] for k in ("width", "in_channels", "num_classes")})

    paper_groups = {tuple(p): tuple(g) for p, g in settings["groups"].items()}
    if groups == "scaled":
        chosen = {p: (_scale_group(g[0], width), _scale_group(g[1], width)) for p, g in paper_groups.items()}
    elif groups == "paper":
        chosen = dict(paper_groups)
    elif isinstance(groups, (int, np.integer)) and not isinstance(groups, bool) and groups >= 1:
        chosen = {p: (int(groups), int(groups)) for p in paper_groups}
    else:
        raise ValueError(f"Expected `groups` as 'scaled', 'paper' or an int >= 1, but got {groups!r}")
    gamma = {}
    for key, cap in settings["gamma"].items():
        gamma[key if isinstance(key, str) else key[1]] = float(cap)
    # the paper's skipped layers are never a child of these pairs (layer_pairs leaves them out): recorded only
    options["paper_skip"] = list(settings["skip"])
    children = {c for _, c in pairs}
    preset = Preset(model, build, pairs, {p: chosen[p] for p in pairs}, gamma,
                    tuple(c for c in settings["skip"] if c in children), int(settings["samples_per_class"]),
                    float(width), options)
    check_groups_fit(build(), preset.groups, width=width)
    return preset


def check_groups_fit(
    model: nn.Module, groups: Mapping[tuple[str, str], tuple[int, int]], *, width: float = 1.0
) -> None:
    """Raise ``ValueError`` naming the pair when a G is larger than its layer's units.

    >>> from mintlab.nets.models import MLP
    >>> try:
    ...     check_groups_fit(MLP(), {("fc2", "fc3"): (300, 20)})
    ... except ValueError as err:
    ...     print(str(err)[:101])
    Expected child groups G of pair ('fc2', 'fc3') at most the layer's 10 units (width 1), but got G = 20
    """
    from mintlab.prune.activations import pair_geometry

    for pair, (g_parent, g_child) in groups.items():
        geom = pair_geometry(model, pair)
        for role, g, n in (("parent", g_parent, geom.n_parent), ("child", g_child, geom.n_child)):
            if isinstance(g, (int, np.integer)) and g > n:
                raise ValueError(
                    f"Expected {role} groups G of pair {tuple(pair)} at most the layer's {n} units (width {width:g}), "
                    f"but got G = {g}; lower G (e.g. groups='scaled' or an int) or raise the width"
                )


def check_pairs_forward(model: nn.Module, pairs: Sequence[Sequence[str]], example: torch.Tensor) -> None:
    """Check, on one example batch, that each child's input carries its parent's channels.

    Static checks (:func:`mintlab.nets.presets.validate_layer_pairs`) compare the modules'
    channel counts; this one first compares the tensors that actually flow in a forward pass,
    so a pair whose parent and child straddle a residual add, a concatenation or a padding that
    changes the channel count (``F.pad`` of an option-A shortcut) is rejected, naming the pair.
    Then each pair must be adjacent: ``validate_layer_pairs(model, pairs, example=example)``
    traces the network with Torch-Pruning's dependency graph (``tp.DependencyGraph``) and
    rejects a pair with a Conv/Linear between parent and child (``("conv1", "fc")`` past other
    convolutions) or written the wrong way round, even where the counts agree (a warning says so
    when Torch-Pruning cannot trace the model). Masking never removes a channel (MINT zeroes
    weights inside the child's kernel), so a pair that passes keeps every shortcut aligned after
    pruning. The model is left as found (every module's mode, a frozen BatchNorm included, and
    its hooks: :func:`mintlab._utils.model_state.preserved_state`).

    Raises:
        ValueError: a child's input has a channel count other than its parent's output, a module
            of a pair does not run, or a pair is not adjacent (the message names the layers next
            to the parent and to the child).

    Warns:
        UserWarning: adjacency could not be verified (Torch-Pruning could not trace the model, or
            a module of a pair runs more than once); the counts are still checked.
    """
    from mintlab.nets.presets import validate_layer_pairs

    pair_list = validate_layer_pairs(model, pairs)
    modules = dict(model.named_modules())
    seen_out: dict[str, int] = {}
    seen_in: dict[str, int] = {}
    with preserved_state(model):  # every module's mode (a frozen BatchNorm stays frozen) and hooks
        for parent, child in pair_list:
            modules[parent].register_forward_hook(
                lambda _m, _i, out, _n=parent: seen_out.__setitem__(_n, int(out.shape[1])))
            modules[child].register_forward_pre_hook(
                lambda _m, inp, _n=child: seen_in.__setitem__(_n, int(inp[0].shape[1])))
        model.eval()
        with torch.no_grad():
            model(example)
    for parent, child in pair_list:
        p_out, c_in = seen_out.get(parent), seen_in.get(child)
        if p_out is None or c_in is None:
            raise ValueError(f"Expected both modules of pair {(parent, child)} to run in the forward pass, "
                             f"but {'parent' if p_out is None else 'child'} did not")
        conv_to_linear = isinstance(modules[parent], nn.Conv2d) and isinstance(modules[child], nn.Linear)
        if (c_in % p_out != 0) if conv_to_linear else (c_in != p_out):
            raise ValueError(
                f"Pair {(parent, child)} misaligns channels: the parent gives {p_out} channels but the child's input "
                f"has {c_in} (the pair straddles a residual add, concatenation or padding that changes the channel "
                "count); choose a parent whose output is the child's input"
            )
    validate_layer_pairs(model, pair_list, example=example)


# --------------------------------------------------------------------------- data


def load_comparison_data(
    dataset: str,
    *,
    train_size: int | None = None,
    test_size: int | None = None,
    root: str | Path | None = None,
    download: bool | None = None,
    subset_seed: int = 12345,
) -> tuple[TensorDataset, TensorDataset, dict[str, Any]]:
    """The comparison's data: :func:`mintlab.nets.data.load_tensor_data` (same arguments, same result)."""
    from mintlab.nets.data import load_tensor_data

    return load_tensor_data(dataset, train_size=train_size, test_size=test_size, root=root, download=download,
                            subset_seed=subset_seed)


# --------------------------------------------------------------------------- allocation


def comparison_inputs(settings: Mapping[str, Any]) -> tuple[Preset, Dataset, Dataset]:
    """The preset and the train / test data of a finished comparison, from its recorded ``settings``.

    ``settings`` is the ``"settings"`` entry of :func:`run_comparison`'s JSON (model, model options and
    dataset subset as run). Returns ``(preset, train_data, test_data)``.

    Raises:
        KeyError: settings without the model, its options or the dataset.
    """
    o, d = settings["model_options"], settings["dataset"]
    preset = comparison_preset(settings["model"], width=o["width"], in_channels=o["in_channels"],
                               num_classes=o["num_classes"])
    train, test, _ = load_comparison_data(d["name"], train_size=d["train_size"], test_size=d["test_size"],
                                          subset_seed=d["subset_seed"])
    return preset, train, test


def dense_checkpoint_dir(settings: Mapping[str, Any], cache_dir: str | Path, seed: int) -> Path:
    """Where :func:`run_comparison` keeps the dense network of ``seed``: ``<cache_dir>/dense/<key>/seed<seed>``,
    the key hashing only the settings the dense network depends on (model, options, data, recipe)."""
    return Path(cache_dir) / "dense" / _key({k: settings[k] for k in _DENSE}) / f"seed{int(seed)}"


def load_dense_network(settings: Mapping[str, Any], cache_dir: str | Path, seed: int,
                       preset: Preset | None = None) -> nn.Module:
    """The dense network of ``seed`` that a finished comparison trained, from its cache, in eval mode.

    Raises:
        FileNotFoundError: naming the checkpoint when the cache does not hold it.
    """
    path = dense_checkpoint_dir(settings, cache_dir, seed) / "last.pt"
    if not path.is_file():
        raise FileNotFoundError(f"Expected the comparison's dense network for seed {seed} at {path}, but there is "
                                "no such file (pass the comparison's cache_dir)")
    from mintlab.nets.checkpoints import load_checkpoint

    net = (preset or comparison_inputs(settings)[0]).build()
    load_checkpoint(path, net)
    return net.eval()


def _rank_remove(scores: np.ndarray, weights: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean removed-blocks mask: lowest scores first (ties seeded), weighted share closest to ``fraction``."""
    s, w = scores.ravel(), weights.ravel().astype(np.float64)
    order = np.lexsort((np.random.default_rng(seed).random(s.size), s))
    cum = np.concatenate([[0.0], np.cumsum(w[order]) / w.sum()])
    n_removed = int(np.argmin(np.abs(cum - fraction)))
    flat = np.zeros(s.size, dtype=bool)
    flat[order[:n_removed]] = True
    return flat.reshape(scores.shape)


def _delta_for_level(score_set, level: float, gamma: Mapping[str, float], skip: Sequence[str], tolerance: float,
                     seed: int = 0) -> tuple[float, dict]:
    """MINT's allocation: blocks removed lowest score first, γ caps and skips respected, up to ``level``.

    This is the paper's rule "remove every block with ρ < δ, then, where a layer loses more than
    γ of its weights, a layer-local δ keeps it at γ", with δ set so that the pruned share of
    *all* parameters (``meta["total_params"]``) is closest to ``level`` (%). Blocks tied in
    score are ordered by a seeded random draw, so δ can stop inside a tie (MINT's estimates take
    discrete values at small ``m``; a plain threshold would jump over the level). Returns
    ``(δ, keep)``, δ the score of the last block removed (``nan`` when none).

    Raises:
        ValueError: the level is more than ``tolerance`` points away from what can be reached
            (the message gives the reachable range, which the γ caps and skips bound).
    """
    active = [p for p in score_set.pairs if p.child not in skip]
    total_params = float(score_set.meta["total_params"])
    caps = {p.child: gamma.get(p.child, 1.0) * p.cell_weights.sum() for p in active}
    most = 100.0 * sum(caps.values()) / total_params
    if level > most + tolerance:
        raise ValueError(
            f"Expected a sparsity level that a δ can reach with these γ caps and skips: levels in [0.00, {most:.2f}] % "
            f"of all parameters, but got {level:g} %"
        )
    s = np.concatenate([p.scores.ravel() for p in active])
    w = np.concatenate([p.cell_weights.ravel() for p in active]).astype(np.float64)
    layer = np.concatenate([np.full(p.scores.size, k) for k, p in enumerate(active)])
    order = np.lexsort((np.random.default_rng(seed).random(s.size), s))
    removed = np.zeros(s.size, dtype=bool)
    per_layer = np.zeros(len(active))
    cap = np.array([caps[p.child] for p in active]) + 1e-9
    target = level / 100.0 * total_params
    done, delta = 0.0, float("nan")
    for k in order:
        if done + w[k] / 2 > target:
            break
        if per_layer[layer[k]] + w[k] > cap[layer[k]]:
            continue  # this layer is at its γ cap: its layer-local δ stops here
        removed[k] = True
        per_layer[layer[k]] += w[k]
        done += w[k]
        delta = float(s[k])
    got = 100.0 * done / total_params
    if abs(got - level) > tolerance:
        raise ValueError(
            f"Expected a sparsity level a δ can reach within ±{tolerance:g} points, but got {level:g} %: the closest "
            f"δ prunes {got:.2f} %; reachable range [0.00, {most:.2f}] % in steps of one MINT block"
        )
    keep, start = {}, 0
    for p in score_set.pairs:
        if p.child in skip:
            keep[p.child] = np.ones(p.scores.shape, dtype=bool)
            continue
        keep[p.child] = ~removed[start:start + p.scores.size].reshape(p.scores.shape)
        start += p.scores.size
    return delta, keep


def _keep_following(score_set, leader_keep: Mapping[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """Each layer pruned to the leader's share of that layer, by this score set's ranking."""
    out = {}
    for p in score_set.pairs:
        lk = np.asarray(leader_keep[p.child], dtype=bool)
        w = p.cell_weights
        fraction = w[~lk].sum() / w.sum()
        out[p.child] = ~_rank_remove(p.scores, w, fraction, seed) if fraction > 0 else np.ones_like(lk)
    return out


# --------------------------------------------------------------------------- the comparison


def recalibrate_batchnorm(model: nn.Module, data: Dataset, *, images: int = 1024, seed: int = 0,
                          batch_size: int = 256, device: Any = None) -> nn.Module:
    """Re-estimate every BatchNorm layer's running mean and variance on ``images`` training images.

    Masking weights shifts each layer's output statistics, so the running statistics the dense
    network learnt no longer fit: evaluated as is, a VGG16-BN with 30 % of its weights masked by
    *magnitude* fell from 84 % to 11 % accuracy here (Fashion-MNIST 32×32, width ¼), and back to
    85 % after this recalibration, without any gradient step. The statistics are reset and
    re-estimated as a cumulative average (``momentum=None``) over a seeded random subset, in
    train mode without gradients; the weights and the momentum setting are restored afterwards.
    Source: "adaptive batch normalization" of Li et al. (2020), "EagleEye: Fast Sub-net
    Evaluation for Efficient Neural Network Pruning". The comparison applies it to every method
    after masking and before the first evaluation. Returns ``model``.
    """
    from torch.utils.data import DataLoader, Subset

    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns or images < 1:
        return model
    idx = np.random.default_rng(seed).permutation(len(data))[: min(images, len(data))]
    dev = device if device is not None else next((p.device for p in model.parameters()), torch.device("cpu"))
    saved = [m.momentum for m in bns]
    with preserved_state(model):  # every module's mode comes back as it was, one by one
        try:
            for m in bns:
                m.reset_running_stats()
                m.momentum = None
            model.train()
            with torch.no_grad():
                for x, _ in DataLoader(Subset(data, idx.tolist()), batch_size=batch_size, shuffle=False):
                    model(x.to(dev))
        finally:
            for m, mom in zip(bns, saved):
                m.momentum = mom
    return model


def _versions() -> dict[str, str]:
    import numba
    import torchvision

    from mintlab import __version__

    return {"mintlab": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": np.__version__, "numba": numba.__version__}


def _reinit(model: nn.Module, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    for m in model.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return model


def _check_list(values: Any, name: str, what: str) -> list:
    """``values`` as a list; a string or a non-sequence is refused (``methods="mint"`` is not 4 names)."""
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise InvalidArgumentError(f"Expected `{name}` as {what}, but got {values!r}")
    return list(values)


def _check_levels(levels: Sequence[float], name: str, *, allow_empty: bool = True) -> list[float]:
    out = _check_list(levels, name, "a list of percentages")
    if (not out and not allow_empty) or any(
        isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0.0 < float(v) < 100.0 for v in out
    ):
        raise InvalidArgumentError(f"Expected `{name}` as {'' if allow_empty else 'one or more '}percentages in "
                                   f"(0, 100), but got {out}")
    return [float(v) for v in out]


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    out = [check_seed(s, "seeds") for s in _check_list(seeds, "seeds", "a list of distinct ints >= 0")]
    if not out or len(set(out)) != len(out):
        raise InvalidArgumentError(f"Expected `seeds` as one or more distinct ints >= 0, but got {list(seeds)}")
    return out


def _check_gamma(gamma: Mapping[str, float] | None) -> dict[str, float] | None:
    """``{child: cap}`` with every cap a fraction of the layer's weights in [0, 1]."""
    if gamma is None:
        return None
    if not isinstance(gamma, Mapping):
        raise InvalidArgumentError(f"Expected `gamma` as a mapping child layer → cap in [0, 1] or None, but got "
                                   f"{gamma!r}")
    out = {}
    for child, cap in gamma.items():
        if not isinstance(child, str):
            raise InvalidArgumentError(f"Expected `gamma` keys as child layer names (str), but got {child!r}")
        out[child] = check_fraction(cap, f"gamma[{child!r}]")
    return out


def _check_skip(skip: Sequence[str] | None) -> tuple[str, ...] | None:
    if skip is None:
        return None
    names = _check_list(skip, "skip", "a list of child layer names or None")
    if any(not isinstance(n, str) for n in names):
        raise InvalidArgumentError(f"Expected `skip` as a list of child layer names (str) or None, but got {skip!r}")
    return tuple(names)


def _check_data(train_data: Dataset | None, test_data: Dataset | None, train_size: int | None,
                test_size: int | None) -> None:
    """User data: both sets or neither, each non-empty with ``(tensor, label)`` items; sizes only without them."""
    if (train_data is None) != (test_data is None):
        given, missing = ("train_data", "test_data") if test_data is None else ("test_data", "train_data")
        raise InvalidArgumentError(f"Expected `train_data` and `test_data` both or neither (one set is not trained "
                                   f"and tested on another dataset), but got `{given}` without `{missing}`")
    if train_data is None:
        return
    for name, value in (("train_size", train_size), ("test_size", test_size)):
        if value is not None:
            raise InvalidArgumentError(f"Expected `{name}` None with `train_data`/`test_data` (it subsets `dataset` "
                                       f"only; subset your data yourself), but got {value!r}")
    for name, data in (("train_data", train_data), ("test_data", test_data)):
        if not hasattr(data, "__getitem__") or not hasattr(data, "__len__"):
            raise InvalidArgumentError(f"Expected `{name}` as a torch Dataset, but got {type(data).__name__}")
        if len(data) == 0:
            raise InvalidArgumentError(f"Expected `{name}` with at least one sample, but got an empty "
                                       f"{type(data).__name__}")
        item = data[0]
        if not isinstance(item, (tuple, list)) or len(item) < 2 or not isinstance(item[0], torch.Tensor):
            raise InvalidArgumentError(f"Expected `{name}` items as (input tensor, label), but got "
                                       f"{type(item).__name__} {item!r:.80}")


def _pair_groups(groups: Any, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[Any, Any]]:
    """``groups`` (an int, or a mapping pair or child name → (G_parent, G_child)) as one entry per pair.

    Every pair needs an entry and every key must name one of ``pairs`` (or its child); each side is an
    int >= 1 or a list of labels (checked against the layers by :func:`mintlab.prune.groups.resolve_groups`).
    """
    if isinstance(groups, (int, np.integer)) and not isinstance(groups, bool):
        g = check_int(groups, "groups", minimum=1)
        return {p: (g, g) for p in pairs}
    if not isinstance(groups, Mapping):
        raise InvalidArgumentError(f"Expected `groups` as an int >= 1 or a mapping pair → (G_parent, G_child), "
                                   f"but got {groups!r}")
    children = {c: (p, c) for p, c in pairs}
    out: dict[tuple[str, str], tuple[Any, Any]] = {}
    for key, spec in groups.items():
        pair = key if isinstance(key, str) else tuple(key) if isinstance(key, Sequence) else key
        pair = children.get(pair, pair)
        if pair not in pairs:
            raise InvalidArgumentError(f"Expected `groups` keys among the pairs {list(pairs)} (or their child names), "
                                       f"but got {key!r}")
        if isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence) or len(spec) != 2:
            raise InvalidArgumentError(f"Expected groups of pair {pair} as (G_parent, G_child), but got {spec!r}")
        sides = []
        for side, role in zip(spec, ("parent", "child")):
            if isinstance(side, (int, np.integer)) and not isinstance(side, bool):
                sides.append(check_int(side, f"groups[{pair}] {role} G", minimum=1))
            else:
                labels = _check_list(side, f"groups[{pair}] {role}", "an int >= 1 or a list of group labels")
                sides.append([check_int(v, f"groups[{pair}] {role} labels", minimum=0) for v in labels])
        out[pair] = tuple(sides)
    missing = [p for p in pairs if p not in out]
    if missing:
        raise InvalidArgumentError(f"Expected `groups` to have an entry for every pair, but it has none for "
                                   f"{missing}")
    return {p: out[p] for p in pairs}


def _key(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def _user_preset(model: nn.Module | Callable[[], nn.Module], pairs: Any, groups: Any) -> tuple[Preset, nn.Module]:
    """The preset of a user's network and one fresh build of it (a factory is called once here).

    The build checks ``pairs`` and ``groups`` and keys every result by the architecture
    (:func:`architecture_fingerprint`) and its classes' code (:func:`code_fingerprint`), never by the
    class name alone (two ``nn.Sequential`` of other layers must not share dense networks or results).
    """
    from mintlab.nets.presets import validate_layer_pairs

    if pairs is None:
        raise InvalidArgumentError("Expected `pairs` (parent, child names) with a user's model, but got None")
    if isinstance(model, nn.Module):
        template = model

        def build() -> nn.Module:
            return copy.deepcopy(template)
    elif callable(model):
        build = model
    else:
        raise InvalidArgumentError("Expected `model` as a preset name, an nn.Module or a callable returning one, "
                                   f"but got {type(model).__name__}")
    probe = build()
    if not isinstance(probe, nn.Module):
        raise InvalidArgumentError(f"Expected `model()` to return an nn.Module, but got {type(probe).__name__}")
    pair_list = validate_layer_pairs(probe, pairs)
    if len(set(pair_list)) != len(pair_list):
        raise InvalidArgumentError(f"Expected `pairs` without repeats, but got {pair_list}")
    g = _pair_groups(groups, pair_list)
    check_groups_fit(probe, g)
    options = {"class": type(probe).__name__, "architecture": architecture_fingerprint(probe),
               "code": code_fingerprint(probe)}
    return Preset("custom", build, pair_list, g, {}, (), 10, 1.0, options), probe


#: Settings that must match for a rerun to reuse a JSON file's runs (the rest may grow).
_CORE = ("model", "model_options", "dataset", "pairs", "groups", "gamma", "skip", "samples_per_class",
         "train_recipe", "retrain_recipe", "mint_options", "level_tolerance", "max_batches", "retrain_max_batches",
         "bn_recalibration_images")
#: Settings the dense networks depend on (their checkpoints are shared by comparisons that differ elsewhere).
_DENSE = ("model", "model_options", "dataset", "train_recipe", "max_batches")


def default_cache_dir(output: str | Path) -> Path:
    """Where :func:`run_comparison` keeps dense checkpoints and scores unless told: ``<output stem>_cache/``
    beside the results file (``results/cnn_vgg16_fashion_mnist.json`` → ``results/cnn_vgg16_fashion_mnist_cache``).

    >>> default_cache_dir("results/cnn_vgg16_fashion_mnist.json").as_posix()
    'results/cnn_vgg16_fashion_mnist_cache'
    """
    output = Path(output)
    return output.with_name(output.stem + "_cache")


def run_comparison(
    output: str | Path,
    *,
    model: str | nn.Module | Callable[[], nn.Module] = "vgg16",
    pairs: Sequence[Sequence[str]] | None = None,
    width: float = 0.25,
    dataset: str = "fashion_mnist32",
    methods: Sequence[str] = ("mint", "magnitude", "random", "wanda", "taylor"),
    levels: Sequence[float] = (50.0, 80.0),
    seeds: Sequence[int] = (0, 1, 2),
    allocations: Sequence[str] = ("mint",),
    sweep_levels: Sequence[float] = (),
    sweep_seed: int | None = None,
    groups: str | int | Mapping[tuple[str, str], tuple[int, int]] = "scaled",
    samples_per_class: int | None = None,
    gamma: Mapping[str, float] | None = None,
    skip: Sequence[str] | None = None,
    train_recipe: str | Recipe = "quick_cnn",
    train_epochs: int | None = None,
    retrain_recipe: str | Recipe = "quick_cnn_retrain",
    retrain_epochs: int | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    train_data: Dataset | None = None,
    test_data: Dataset | None = None,
    mint_options: Mapping[str, Any] | None = None,
    level_tolerance: float = 1.0,
    max_batches: int | None = None,
    retrain_max_batches: int | None = None,
    bn_recalibration_images: int = 1024,
    keep_networks: str | Path | None = None,
    device: str | None = None,
    root: str | Path | None = None,
    download: bool | None = None,
    cache_dir: str | Path | None = None,
    overwrite: bool = False,
    plot: bool = True,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run (or finish) a method comparison and write ``output`` (JSON) and its plots.

    Args:
        output: the JSON file; plots go beside it (``.png``, ``_layers.png``).
        model: a preset name (``"mlp"``, ``"vgg16"``, ``"resnet56"``, :func:`comparison_preset`),
            or a user's ``nn.Module`` (re-initialised per seed with ``reset_parameters``) or a
            callable returning a fresh untrained one; then ``pairs`` is required. A user's network
            is keyed (results file, dense checkpoints) by its architecture: class, ``repr`` and
            parameter shapes (:func:`mintlab._utils.fingerprint.architecture_fingerprint`).
        pairs: (parent, child) names for a user's model (checked statically and in one
            forward pass, :func:`check_pairs_forward`).
        width: channel multiplier of the CNN presets (1 = the paper's network).
        dataset: one of :data:`COMPARISON_DATASETS` (ignored when ``train_data`` is given).
        methods: scorer names from :data:`mintlab.prune.scorers.SCORER_NAMES`.
        levels: target pruned shares of *all* dense parameters (%), every seed.
        seeds: one dense network, sample, score set and retrain per seed.
        allocations: subset of :data:`ALLOCATIONS`.
        sweep_levels: extra levels run at ``sweep_seed`` only (the curve).
        sweep_seed: the seed of the sweep (default: the first seed).
        groups: ``"scaled"``/``"paper"``/an int for a preset (:func:`comparison_preset`), or a
            mapping ``{(parent, child): (G_parent, G_child)}`` (required form for a user's model,
            where an int applies to every pair).
        samples_per_class: ``m`` (default: the preset's, the paper's).
        gamma: ``{child: cap}``, each cap in [0, 1] (default: the preset's; ``{}``: none).
        skip: child layers never pruned (default: the preset's).
        train_recipe, train_epochs: dense training (a name in :data:`mintlab.nets.recipes.RECIPES`
            or a :class:`Recipe`; ``train_epochs`` overrides the epoch count).
        retrain_recipe, retrain_epochs: the one retrain of each run.
        train_size, test_size: seeded random subsets of ``dataset`` (``None``: all); ``None``
            with ``train_data``/``test_data``.
        train_data, test_data: datasets to use instead of ``dataset`` (tests, other data), both
            or neither; items ``(input tensor, label)``. They are keyed (results file, dense
            checkpoints, scores) by a hash of every sample
            (:func:`mintlab._utils.fingerprint.dataset_fingerprint`), so other data of the same
            sizes never reuse their results.
        mint_options: options of the MINT estimators (``n_jobs``/``device`` change speed only).
        level_tolerance: largest allowed gap (points) between a level and what δ reaches.
        max_batches: cap batches per training epoch, dense training and retraining (tests).
        retrain_max_batches: cap batches of each retrain epoch only (a smaller, equal retrain
            budget for every run: ``retrain_max_batches × batch_size`` images per epoch).
        bn_recalibration_images: after masking, every run re-estimates the BatchNorm
            statistics on this many training images (:func:`recalibrate_batchnorm`; 0: off).
        keep_networks: a folder: keep every retrained network and every dense network as a checkpoint under
            ``<keep_networks>/<settings key>/`` (:func:`kept_network_path`, :func:`load_kept_network`); a run
            whose file is missing is run again (its record replaced). None: keep nothing (the default).
        device: ``"cpu"``, ``"cuda"``...; ``None`` picks CUDA when available.
        root, download: data root and download policy (:func:`mintlab.nets.data.load_dataset`).
        cache_dir: dense checkpoints and scores (default ``<output stem>_cache/``).
        overwrite: discard a file made with other core settings instead of raising.
        plot: write the plots.
        progress: progress bars.
        log: called with one line per finished step (e.g. ``print``).

    Returns:
        The JSON content.

    Every argument is checked before any data is loaded, any network trained or any file
    written; only a level that δ misses by more than ``level_tolerance`` (which depends on the
    scores) can fail after training.

    Raises:
        ValueError: (:class:`mintlab._utils.checks.InvalidArgumentError`, also a ``TypeError``,
            for a bad argument) unknown method, allocation or dataset; a negative or repeated
            seed; a level outside (0, 100) or one no δ can reach (the message gives the reachable
            range); a γ cap outside [0, 1]; ``groups`` without an entry for a pair; a pair whose
            channels misalign; a G larger than its layer; ``samples_per_class`` above a class's
            training examples; only one of ``train_data``/``test_data``; a file holding other
            core settings (without ``overwrite``); ``device="cuda"`` without CUDA.
    """
    from mintlab._utils.runtime import select_device
    from mintlab.nets.checkpoints import load_checkpoint, save_checkpoint, state_dict_hash
    from mintlab.nets.train import evaluate, train
    from mintlab.prune.activations import pair_geometry
    from mintlab.prune.groups import resolve_groups
    from mintlab.prune.masks import (
        apply_masks,
        effective_weight,
        masks_from_scores,
        prune_summary,
        weight_masks,
    )
    from mintlab.prune.metrics import csr_memory_mb, params_pruned_percent
    from mintlab.prune.scores import compute_scores

    say = log or (lambda _line: None)
    # ---- every argument is checked here, before any data is loaded, any network trained or any file written
    methods = _check_list(methods, "methods", f"a list of distinct names among {SCORER_NAMES}")
    unknown = [m for m in methods if m not in SCORER_NAMES]
    if unknown or not methods or len(set(methods)) != len(methods):
        raise InvalidArgumentError(f"Expected `methods` as distinct names among {SCORER_NAMES}, but got {methods}")
    allocations = _check_list(allocations, "allocations", f"a list of names among {ALLOCATIONS}")
    if not allocations or any(a not in ALLOCATIONS for a in allocations) or len(set(allocations)) != len(allocations):
        raise InvalidArgumentError(f"Expected `allocations` among {ALLOCATIONS}, each once, but got {allocations}")
    leader = "mint" if "mint" in methods else ("mint_paper" if "mint_paper" in methods else None)
    if "mint" in allocations and leader is None:
        raise InvalidArgumentError(f"Expected 'mint' or 'mint_paper' in `methods` for allocation 'mint' (its δ sets "
                                   f"the per-layer shares), but got {methods}")
    levels = _check_levels(levels, "levels", allow_empty=False)
    sweep_levels = _check_levels(sweep_levels, "sweep_levels")
    seeds = _check_seeds(seeds)
    sweep_seed = seeds[0] if sweep_seed is None else check_seed(sweep_seed, "sweep_seed")
    level_tolerance = check_number(level_tolerance, "level_tolerance", low=0.0, low_open=True)
    samples_per_class = check_int(samples_per_class, "samples_per_class", minimum=1, allow_none=True)
    gamma, skip = _check_gamma(gamma), _check_skip(skip)
    max_batches = check_int(max_batches, "max_batches", minimum=1, allow_none=True)
    retrain_max_batches = check_int(retrain_max_batches, "retrain_max_batches", minimum=1, allow_none=True)
    bn_recalibration_images = check_int(bn_recalibration_images, "bn_recalibration_images", minimum=0)
    for name, value in (("output", output), ("cache_dir", cache_dir), ("keep_networks", keep_networks),
                        ("root", root)):
        if not isinstance(value, (str, Path)) and not (value is None and name != "output"):
            raise InvalidArgumentError(f"Expected `{name}` as a {'file' if name == 'output' else 'folder'} path"
                                       f"{'' if name == 'output' else ' or None'}, but got {type(value).__name__}")
    if mint_options is not None and not isinstance(mint_options, Mapping):
        raise InvalidArgumentError(f"Expected `mint_options` as a mapping or None, but got {mint_options!r}")
    mint_opts = dict(mint_options or {})
    scorers = {m: get_scorer(m, **(mint_opts if m.startswith("mint") else {})) for m in methods}  # checks options
    _check_data(train_data, test_data, train_size, test_size)
    if train_data is None:
        check_choice(dataset, "dataset", COMPARISON_DATASETS)
        for name, value in (("train_size", train_size), ("test_size", test_size)):
            check_int(value, name, minimum=10, allow_none=True)
    dev = select_device(device)
    train_rec = get_recipe(train_recipe, epochs=train_epochs)
    retrain_rec = get_recipe(retrain_recipe, epochs=retrain_epochs)
    if isinstance(model, str):
        if pairs is not None:
            raise InvalidArgumentError(f"Expected `pairs` only with a user's model, but got a preset name "
                                       f"({model!r}) and pairs")
        check_choice(model, "model", ("mlp", "vgg16", "resnet56"))
        # the preset's own checks (width, groups), before the data fix its input channels and classes
        preset_pairs = comparison_preset(model, width=width, groups="scaled" if isinstance(groups, Mapping)
                                         else groups).pairs
        user_groups = _pair_groups(groups, preset_pairs) if isinstance(groups, Mapping) else None
    else:
        user_preset, probe = _user_preset(model, pairs, groups)

    # ---- data
    if train_data is None:
        train_data, test_data, data_info = load_comparison_data(dataset, train_size=train_size, test_size=test_size,
                                                                root=root, download=download)
    else:  # keyed by their content: other data of the same sizes never reuse these results or checkpoints
        data_info = {"name": "user", "train_size": len(train_data), "test_size": len(test_data),
                     "train_fingerprint": dataset_fingerprint(train_data),
                     "test_fingerprint": dataset_fingerprint(test_data)}
        dataset = f"user-{data_info['train_fingerprint'][:16]}"
    example = train_data[0][0].unsqueeze(0)

    # ---- model and pruning settings
    from mintlab.nets.data import dataset_targets

    if isinstance(model, str):
        in_ch = int(example.shape[1]) if example.dim() == 4 else 3
        n_classes = int(np.max(dataset_targets(train_data))) + 1
        preset = comparison_preset(model, width=width, in_channels=in_ch, num_classes=max(n_classes, 2),
                                   groups=groups if not isinstance(groups, Mapping) else "scaled")
        if user_groups is not None:
            preset.groups = user_groups
        probe = preset.build()
    else:
        preset = user_preset
    if gamma is not None:
        preset.gamma = gamma
    if skip is not None:
        preset.skip = skip
    if samples_per_class is not None:
        preset.samples_per_class = samples_per_class
    check_pairs_forward(probe, preset.pairs, example)
    check_groups_fit(probe, preset.groups, width=preset.width)
    resolve_groups([pair_geometry(probe, p) for p in preset.pairs], preset.groups)
    children = [c for _, c in preset.pairs]
    bad = [c for c in list(preset.skip) + list(preset.gamma) if c not in children]
    if bad:
        raise InvalidArgumentError(f"Expected `skip`/`gamma` names among the pairs' children {children}, but got "
                                   f"{bad}")
    if any(sc.needs_activations or getattr(sc, "needs_gradients", False) for sc in scorers.values()):
        classes, counts = np.unique(dataset_targets(train_data), return_counts=True)
        if counts.min() < preset.samples_per_class:
            raise InvalidArgumentError(
                f"Expected `samples_per_class` (m) at most the training examples of every class (fewest: "
                f"{counts.min()}, class {classes[counts.argmin()]}), but got {preset.samples_per_class}")
    total_params = int(sum(p.numel() for p in probe.parameters()))
    active = sum(int(dict(probe.named_modules())[c].weight.numel()) for c in children if c not in preset.skip)
    gamma_max = 100.0 * sum(int(dict(probe.named_modules())[c].weight.numel()) * preset.gamma.get(c, 1.0)
                            for c in children if c not in preset.skip) / total_params
    for alloc, most in (("mint", gamma_max), ("global", 100.0 * active / total_params)):
        if alloc in allocations and max(levels + sweep_levels) > most + level_tolerance:
            raise ValueError(
                f"Expected levels a δ can reach under allocation {alloc!r}: at most {most:.2f} % of all parameters "
                f"(pruned layers' weights{', γ caps' if alloc == 'mint' else ''} and skips counted), but got "
                f"{max(levels + sweep_levels):g} %"
            )

    settings = {
        "model": preset.name,
        "model_options": preset.options,
        "width": preset.width,
        "dataset": data_info,
        "pairs": [list(p) for p in preset.pairs],
        "groups": [[list(p), list(g)] for p, g in preset.groups.items()],
        "gamma": preset.gamma,
        "skip": list(preset.skip),
        "samples_per_class": preset.samples_per_class,
        "total_params": total_params,
        "train_recipe": dataclasses.asdict(train_rec),
        "retrain_recipe": dataclasses.asdict(retrain_rec),
        "mint_options": {k: v for k, v in mint_opts.items() if k not in RUNTIME_OPTIONS},
        "level_tolerance": float(level_tolerance),
        "max_batches": max_batches,
        "retrain_max_batches": retrain_max_batches,
        "bn_recalibration_images": int(bn_recalibration_images),
        "methods": methods,
        "levels": levels,
        "seeds": seeds,
        "allocations": allocations,
        "sweep_levels": sweep_levels,
        "sweep_seed": sweep_seed,
        "device": str(dev),
        "torch_threads": torch.get_num_threads(),
        "versions": _versions(),
    }
    settings = json.loads(json.dumps(to_jsonable(settings)))
    output = Path(output)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir(output)
    core_key = _key({k: settings[k] for k in _CORE})
    result: dict[str, Any] = {"settings": settings, "dense_accuracy": {}, "scoring_seconds": {}, "deltas": {},
                              "runs": []}
    if output.exists() and not overwrite:
        old = json.loads(output.read_text())
        old_core = {k: old.get("settings", {}).get(k) for k in _CORE}
        old_options = old_core.get("model_options")
        if isinstance(old_options, dict) and "code" not in old_options and "code" in settings["model_options"]:
            # written before the network's code keyed a user's network: its runs are kept, and it is said so
            if _key({**old_core, "model_options": {**old_options, "code": settings["model_options"]["code"]}}) \
                    == core_key:
                warnings.warn(f"{output} was written before a user's network was keyed by its code as well as its "
                              "architecture; its runs, dense networks and kept networks are used, though a network "
                              "whose forward changed since cannot be told apart. Pass another output path if it "
                              "changed.", UserWarning, stacklevel=2)
                settings["model_options"] = old_options  # the file's key, so its dense and kept networks are found
                core_key = _key({k: settings[k] for k in _CORE})
        if _key(old_core) != core_key:
            changed = [k for k in _CORE if old_core.get(k) != settings[k]]
            raise ValueError(f"{output} holds results for other settings (differing: {changed}); pass overwrite=True "
                             "(--overwrite) or another output path")
        for k in ("dense_accuracy", "scoring_seconds", "deltas", "runs"):
            result[k] = old.get(k, result[k])
    kept_dir = Path(keep_networks) / core_key if keep_networks is not None else None
    builder = {"preset": preset.name, "model_options": preset.options, "settings_key": core_key}
    if kept_dir is not None:
        result["kept_networks"] = {"folder": str(kept_dir), "settings_key": core_key}
    write_json_atomic(output, result)
    done = {r["run_id"] for r in result["runs"]
            if kept_dir is None or kept_network_path(kept_dir, r["run_id"]).is_file()}

    dense: dict[int, nn.Module] = {}

    def dense_model(seed: int) -> nn.Module:
        if seed not in dense:
            net = _reinit(preset.build(), seed)
            folder = dense_checkpoint_dir(settings, cache, seed)
            t0 = time.perf_counter()
            train(net, train_data, None, train_rec, checkpoint_dir=folder, device=dev, seed=seed, progress=progress,
                  max_batches=max_batches)
            load_checkpoint(folder / "last.pt", net, map_location=dev)
            net.to(dev).eval()
            dense[seed] = net
            if str(seed) not in result["dense_accuracy"]:
                result["dense_accuracy"][str(seed)] = evaluate(net, test_data, device=dev)["accuracy"]
                result.setdefault("dense_seconds", {})[str(seed)] = time.perf_counter() - t0
                result.setdefault("dense_csr_memory_mb", csr_memory_mb(net))
                write_json_atomic(output, result)
            if kept_dir is not None and not kept_network_path(kept_dir, f"dense/{seed}").is_file():
                save_checkpoint(kept_network_path(kept_dir, f"dense/{seed}"), net, run_id=f"dense/{seed}", **builder,
                                accuracy=result["dense_accuracy"][str(seed)], state_sha256=state_dict_hash(net))
            say(f"seed {seed}: dense accuracy {result['dense_accuracy'][str(seed)]:.2f} %")
        return dense[seed]

    score_sets: dict[tuple[str, int], Any] = {}

    def scores_of(method: str, seed: int):
        if (method, seed) not in score_sets:
            net = dense_model(seed)
            scorer = scorers[method]
            t0 = time.perf_counter()
            s = compute_scores(net, train_data, preset.pairs, scorer, groups=preset.groups,
                               samples_per_class=preset.samples_per_class, seed=seed, cache_dir=cache / "scores",
                               dataset_name=f"{dataset}/train", progress=progress)
            seconds = time.perf_counter() - t0
            # a cache reload takes ~0 s: the first computation's time is kept beside the scores
            timing_file = cache / "scores" / s.meta["cache_key"] / "seconds.json"
            if timing_file.is_file():
                seconds = float(json.loads(timing_file.read_text())["seconds"])
            else:
                write_json_atomic(timing_file, {"seconds": seconds, "method": method, "seed": seed})
            key = f"{method}/{seed}"
            if result["scoring_seconds"].get(key) != seconds:
                result["scoring_seconds"][key] = seconds
                write_json_atomic(output, result)
            score_sets[(method, seed)] = s
            say(f"seed {seed}: scores of {method} in {result['scoring_seconds'][key]:.1f} s")
        return score_sets[(method, seed)]

    plan = []  # per allocation: every seed at `levels`, then the sweep's extra levels at `sweep_seed`
    for alloc in allocations:
        for seed in seeds:
            for level in levels:
                plan += [(alloc, seed, level, m, False) for m in methods]
        for level in sweep_levels:
            if level not in levels:
                plan += [(alloc, sweep_seed, level, m, True) for m in methods]

    for alloc, seed, level, method, sweep in plan:
        run_id = f"{alloc}/{seed}/{level:g}/{method}"
        if run_id in done:
            continue
        s = scores_of(method, seed)
        delta = None
        if alloc == "mint":
            dkey = f"{seed}/{level:g}"
            delta, lead_keep = _delta_for_level(scores_of(leader, seed), level, preset.gamma, preset.skip,
                                                level_tolerance, seed)
            result["deltas"][dkey] = delta
            keep = lead_keep if method == leader else _keep_following(s, lead_keep, seed)
        else:
            keep = masks_from_scores(s, prune_percent=min(100.0, level * total_params / active), skip=preset.skip,
                                     seed=seed)
        net = copy.deepcopy(dense_model(seed))
        mask_share = prune_summary(s, keep)["per_layer"]
        masks = weight_masks(net, keep, s)
        apply_masks(net, masks)
        recalibrate_batchnorm(net, train_data, images=int(bn_recalibration_images), seed=seed, device=dev)
        before = evaluate(net, test_data, device=dev)["accuracy"]
        t0 = time.perf_counter()
        cap = min(v for v in (max_batches, retrain_max_batches, 10**9) if v is not None)
        train(net, train_data, None, retrain_rec, device=dev, seed=seed, progress=progress,
              max_batches=None if cap == 10**9 else cap)
        retrain_seconds = time.perf_counter() - t0
        after = evaluate(net, test_data, device=dev)["accuracy"]
        modules = dict(net.named_modules())
        for name, mask in masks.items():  # the masks held through retraining
            if bool((effective_weight(modules[name]).detach()[mask.to(dev) == 0] != 0).any()):
                raise RuntimeError(f"A masked weight of {name!r} is not zero after retraining (run {run_id})")
        pruned = params_pruned_percent(net, layers=children, total_params=total_params)
        record: dict[str, Any] = {
            "run_id": run_id,
            "method": method,
            "allocation": alloc,
            "seed": seed,
            "target_percent": level,
            "sweep": sweep,
            "delta": delta,
            "total_pruned_percent": pruned["total"],
            "per_layer_pruned_percent": pruned["per_layer"],
            "mask_pruned_percent": mask_share,
            "accuracy_before_retrain": before,
            "accuracy_after_retrain": after,
            "csr_memory_mb": csr_memory_mb(net),
            "scoring_seconds": result["scoring_seconds"].get(f"{method}/{seed}"),
            "retrain_seconds": retrain_seconds,
        }
        if kept_dir is not None:  # the file first: a record without its file is redone, never the reverse
            path = kept_network_path(kept_dir, run_id)
            record["network_sha256"] = state_dict_hash(net)
            save_checkpoint(path, net, **builder, state_sha256=record["network_sha256"],
                            run=json.loads(json.dumps(to_jsonable(record))))
            record["network_file"] = str(path)
        old = [k for k, r in enumerate(result["runs"]) if r["run_id"] == run_id]
        if old:
            result["runs"][old[0]] = record
        else:
            result["runs"].append(record)
        done.add(run_id)
        write_json_atomic(output, result)
        say(f"{run_id}: pruned {pruned['total']:.2f} %, accuracy {before:.2f} → {after:.2f} %")
    if kept_dir is not None:  # every seed's dense network kept, also when all its runs were finished before
        for seed in dict.fromkeys([*seeds, *([sweep_seed] if sweep_levels else [])]):
            dense_model(seed)
    if plot:
        plot_comparison(result, output.with_suffix(".png"), output.with_name(output.stem + "_layers.png"))
    return result


# --------------------------------------------------------------------------- kept networks


def kept_network_path(keep_dir: str | Path, run_id: str) -> Path:
    """The checkpoint file of a kept network: ``<keep_dir>/<allocation>/seed<seed>/<level>/<method>.pt``.

    ``run_id`` is a run's ``"allocation/seed/level/method"`` (e.g. ``"mint/0/30/magnitude"``) or
    ``"dense/<seed>"`` for a seed's dense network (``<keep_dir>/dense/seed<seed>.pt``). :func:`run_comparison`
    passes ``<keep_networks>/<settings key>`` as ``keep_dir`` and records each file in its run (``network_file``).

    Raises:
        ValueError: a ``run_id`` of another form.

    >>> kept_network_path("kept", "mint/0/30/magnitude").as_posix()
    'kept/mint/seed0/30/magnitude.pt'
    >>> kept_network_path("kept", "dense/2").as_posix()
    'kept/dense/seed2.pt'
    """
    parts = run_id.split("/") if isinstance(run_id, str) else []
    ok = all(p and p not in (".", "..") and "\\" not in p for p in parts)
    if ok and len(parts) == 2 and parts[0] == "dense" and parts[1].lstrip("-").isdigit():
        return Path(keep_dir) / "dense" / f"seed{int(parts[1])}.pt"
    if ok and len(parts) == 4 and parts[1].lstrip("-").isdigit():
        allocation, seed, level, method = parts
        return Path(keep_dir) / allocation / f"seed{int(seed)}" / level / f"{method}.pt"
    raise ValueError(f"Expected `run_id` as 'allocation/seed/level/method' or 'dense/<seed>', but got {run_id!r}")


def load_kept_network(
    path: str | Path, model: nn.Module | None = None, *, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """A network kept by :func:`run_comparison` (``keep_networks``), masks included, in eval mode.

    Args:
        path: its checkpoint (a run's ``network_file``, or :func:`kept_network_path`).
        model: a fresh network of the same architecture to load into; None builds it from the preset recorded in
            the file (``"mlp"``, ``"vgg16"``, ``"resnet56"`` with their width, input channels and classes), which
            a user's model (preset ``"custom"``) cannot do.

    Returns:
        ``(network, info)``; ``info`` holds ``preset``, ``model_options``, ``settings_key``, ``state_sha256``
        and, for a pruned network, its run record (``run``) or, for a dense one, ``run_id`` and ``accuracy``.

    Raises:
        FileNotFoundError: no such file. ValueError: ``model`` is None for a user's model; the loaded weights'
        hash differs from the one recorded (a damaged or foreign file).
    """
    from mintlab.nets.checkpoints import load_checkpoint, state_dict_hash

    ckpt = load_checkpoint(path, None, map_location=map_location)
    info = {k: v for k, v in ckpt.items() if k != "model"}
    if model is None:
        name, options = info.get("preset"), dict(info.get("model_options") or {})
        if name not in ("mlp", "vgg16", "resnet56"):
            raise ValueError(f"Expected `model` (a fresh network to load into) for a kept network of a user's model "
                             f"(preset {name!r}), but got None")
        kwargs = {"num_classes": int(options.get("num_classes", 10))}
        if name != "mlp":
            kwargs.update(width=float(options["width"]), in_channels=int(options["in_channels"]))
        model = comparison_preset(name, **kwargs).build()
    elif not isinstance(model, nn.Module):
        raise TypeError(f"Expected `model` as an nn.Module or None, but got {type(model).__name__}")
    load_checkpoint(path, model, map_location=map_location)
    got = state_dict_hash(model)
    if "state_sha256" in info and got != info["state_sha256"]:
        raise ValueError(f"Expected the weights in {path} to hash to {info['state_sha256'][:12]}…, as recorded when "
                         f"they were kept, but got {got[:12]}…")
    return model.to(map_location).eval(), info


# --------------------------------------------------------------------------- plots


def _save(fig, path: str | Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    write_bytes_atomic(path, buf.getvalue())


def plot_comparison(result: Mapping[str, Any], path: str | Path | None = None,
                    layers_path: str | Path | None = None) -> tuple[Any, Any]:
    """Accuracy vs pruned share per method (seed mean, min–max bars), and per-layer pruned %.

    Figure 1: one panel per allocation; x = total pruned % (mean over seeds), y = accuracy
    after the retrain; bars span the seeds' min and max; the sweep seed's extra levels join
    the line as single points; the dense accuracy (mean over seeds) as a line. Figure 2 (the
    paper's Fig. 5): per-layer pruned % at the highest level, seed ``settings.seeds[0]``, one
    line per method and allocation. Writes each to its path (PNG, atomically) when given.

    Returns:
        ``(accuracy figure, per-layer figure)``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    runs = list(result.get("runs", []))
    s = result.get("settings", {})
    allocs = list(dict.fromkeys(r["allocation"] for r in runs)) or ["mint"]
    methods = list(dict.fromkeys(r["method"] for r in runs))
    colors = dict(zip(methods, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    dense = [float(v) for v in result.get("dense_accuracy", {}).values()]
    fig, axes = plt.subplots(1, len(allocs), figsize=(6 * len(allocs), 4.4), squeeze=False)
    for ax, alloc in zip(axes[0], allocs):
        for method in methods:
            by_level: dict[float, list[dict]] = {}
            for r in runs:
                if r["allocation"] == alloc and r["method"] == method:
                    by_level.setdefault(r["target_percent"], []).append(r)
            if not by_level:
                continue
            xs, ys, lo, hi = [], [], [], []
            for level in sorted(by_level):
                acc = np.array([r["accuracy_after_retrain"] for r in by_level[level]])
                xs.append(np.mean([r["total_pruned_percent"] for r in by_level[level]]))
                ys.append(acc.mean())
                lo.append(acc.mean() - acc.min())
                hi.append(acc.max() - acc.mean())
            ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o-", capsize=3, color=colors[method], label=method)
        if dense:
            ax.axhline(np.mean(dense), color="k", lw=1, label=f"dense {np.mean(dense):.2f} % (mean of {len(dense)})")
        ax.set_xlabel("parameters pruned (% of all)")
        ax.set_ylabel("test accuracy after one retrain (%)")
        ax.set_title(f"allocation {alloc!r}: mean over seeds, bars = min–max", fontsize=9)
        ax.legend(fontsize=7, framealpha=0.6)
    ds = s.get("dataset", {}).get("name") if isinstance(s.get("dataset"), Mapping) else s.get("dataset")
    fig.suptitle(f"{s.get('model')} (width {s.get('width')}) / {ds}: m={s.get('samples_per_class')}, "
                 f"seeds {s.get('seeds')}", fontsize=10)
    fig.tight_layout()
    if path is not None:
        _save(fig, path)

    fig2, ax2 = plt.subplots(figsize=(max(6.0, 0.25 * len(s.get("pairs", [])) + 4), 4.4))
    seed0 = (s.get("seeds") or [0])[0]
    main_runs = [r for r in runs if r["seed"] == seed0 and not r.get("sweep")]
    if main_runs:
        top = max(r["target_percent"] for r in main_runs)
        layers = [p[1] for p in s.get("pairs", [])] or list(main_runs[0]["per_layer_pruned_percent"])
        styles = {"mint": "-", "global": "--"}
        for r in main_runs:
            if r["target_percent"] != top or (r["allocation"] == "mint" and r["method"] != methods[0]):
                continue  # under "mint" allocation every method has the leader's per-layer shares
            label = "δ (every method)" if r["allocation"] == "mint" else r["method"]
            ax2.plot(range(len(layers)), [r["per_layer_pruned_percent"].get(c, 0.0) for c in layers], "o",
                     ls=styles.get(r["allocation"], "-"),
                     color="k" if r["allocation"] == "mint" else colors[r["method"]],
                     label=f"{r['allocation']}: {label} ({r['total_pruned_percent']:.1f} %)")
        ax2.set_xticks(range(len(layers)))
        ax2.set_xticklabels([c.replace("features.", "").replace("classifier.", "") for c in layers], rotation=90,
                            fontsize=6)
        ax2.set_title(f"per-layer pruned % at level {top:g} % (seed {seed0})", fontsize=9)
    ax2.set_ylabel("weights pruned in the layer (%)")
    ax2.legend(fontsize=7, framealpha=0.6)
    fig2.tight_layout()
    if layers_path is not None:
        _save(fig2, layers_path)
    return fig, fig2


# --------------------------------------------------------------------------- summary


def _verdict(acc: list[float], ref: list[float]) -> str:
    if len(acc) < 2 or len(ref) < 2:
        return "—"
    diff = f"{np.mean(acc) - np.mean(ref):+.2f}"
    if min(acc) > max(ref):
        return f"above ({diff})"
    if max(acc) < min(ref):
        return f"below ({diff})"
    return f"within spread ({diff})"


def summarize(result: Mapping[str, Any], *, reference: str = "mint") -> str:
    """A Markdown table per allocation: accuracy before and after the retrain, per method and level.

    Each accuracy cell: mean and ``[min, max]`` over the seeds that ran (their count in a
    column). The ``vs`` columns compare each method with ``reference`` at the same level:
    ``above`` / ``below`` when the two seed ranges do not overlap (the difference exceeds the
    seed spread), ``within spread`` when they do, ``—`` with fewer than two seeds; the signed
    number is the difference of the means. Sweep-only levels are left out (one seed says
    nothing about spread).
    """
    runs = [r for r in result.get("runs", []) if not r.get("sweep")]
    lines = []
    for alloc in dict.fromkeys(r["allocation"] for r in runs):
        sub = [r for r in runs if r["allocation"] == alloc]
        lines += [f"Allocation `{alloc}`:", "",
                  f"| level (% of params) | method | seeds | pruned % | before retrain [min, max] | vs {reference} "
                  f"| after retrain [min, max] | vs {reference} |",
                  "|---|---|---|---|---|---|---|---|"]
        for level in sorted({r["target_percent"] for r in sub}):
            at: dict[str, list[dict]] = {}
            for r in sub:
                if r["target_percent"] == level:
                    at.setdefault(r["method"], []).append(r)
            cells = {}
            for key in ("accuracy_before_retrain", "accuracy_after_retrain"):
                ref = [r[key] for r in at.get(reference, [])]
                for method, rs in at.items():
                    acc = [r[key] for r in rs]
                    verdict = "—" if method == reference else _verdict(acc, ref)
                    cells.setdefault(method, []).append(
                        f"{np.mean(acc):.2f} [{min(acc):.2f}, {max(acc):.2f}] | {verdict}")
            for method, rs in at.items():
                pruned = float(np.mean([r["total_pruned_percent"] for r in rs]))
                lines.append(f"| {level:g} | {method} | {len(rs)} | {pruned:.2f} | {' | '.join(cells[method])} |")
        lines.append("")
    dense = result.get("dense_accuracy", {})
    if dense:
        vals = list(dense.values())
        lines.append(f"Dense accuracy per seed: {', '.join(f'{k}: {v:.2f} %' for k, v in dense.items())} "
                     f"(mean {np.mean(vals):.2f} %).")
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    """Command line of :func:`run_comparison` (``python -m mintlab.experiments.compare --help``)."""
    parser = argparse.ArgumentParser(
        prog="python -m mintlab.experiments.compare",
        description="Compare pruning methods on one network at equal sparsity; seeds, resumable JSON, plots.",
        epilog="Example (CPU, minutes per run): --model vgg16 --width 0.25 --dataset fashion_mnist32 "
               "--levels 50,80 --seeds 0,1,2 --samples-per-class 50 --train-size 5000 --test-size 2000. "
               "The paper's settings: --paper (full width, paper G, m and 300-epoch recipes, CIFAR-10).",
    )
    parser.add_argument("--model", default="vgg16", choices=("mlp", "vgg16", "resnet56"))
    parser.add_argument("--width", type=float, default=None, help="channel multiplier (default 0.25; --paper: 1)")
    parser.add_argument("--dataset", default=None, choices=COMPARISON_DATASETS,
                        help="default fashion_mnist32 (mlp: fashion_mnist; --paper: cifar10)")
    parser.add_argument("--methods", default="mint,magnitude,random,wanda,taylor",
                        help="comma-separated, from " + ", ".join(SCORER_NAMES))
    parser.add_argument("--levels", default="50,80", help="pruned %% of all parameters, every seed")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--allocation", default="mint", help="comma-separated, from " + ", ".join(ALLOCATIONS))
    parser.add_argument("--sweep-levels", default="", help="extra levels at --sweep-seed only")
    parser.add_argument("--sweep-seed", type=int, default=None)
    parser.add_argument("--groups", default=None, help="'scaled' (paper G × width), 'paper' or an int")
    parser.add_argument("--samples-per-class", type=int, default=None, help="m (default: the paper's)")
    parser.add_argument("--no-gamma", action="store_true", help="drop the paper's γ caps")
    parser.add_argument("--train-recipe", default=None, help="dense training recipe (default quick_cnn)")
    parser.add_argument("--train-epochs", type=int, default=None)
    parser.add_argument("--retrain-recipe", default=None, help="retrain recipe (default quick_cnn_retrain)")
    parser.add_argument("--retrain-epochs", type=int, default=None)
    parser.add_argument("--bn-images", type=int, default=1024,
                        help="training images that re-estimate BatchNorm statistics after masking (0: off)")
    parser.add_argument("--retrain-max-batches", type=int, default=None,
                        help="cap batches per retrain epoch (the same retrain budget for every run)")
    parser.add_argument("--train-size", type=int, default=None, help="random training subset (default: all)")
    parser.add_argument("--test-size", type=int, default=None, help="random test subset (default: all)")
    parser.add_argument("--paper", action="store_true",
                        help="the paper's settings: width 1, paper G and m, CIFAR-10, its train/retrain recipes")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when available)")
    parser.add_argument("--mint-device", default=None, help="run the estimator's MSTs in torch on this device")
    parser.add_argument("--n-jobs", type=int, default=None, help="CPU threads of the MINT estimator")
    parser.add_argument("--root", default=None, help="data root (default $MINTLAB_DATA or ~/.cache/mintlab/data)")
    parser.add_argument("--download", action="store_true", help="let torchvision download missing data")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--keep-networks", default=None, metavar="DIR",
                        help="keep every retrained and dense network as a checkpoint under DIR (resumable)")
    parser.add_argument("--out", required=True, help="JSON output (plots beside it)")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--summary", action="store_true",
                        help="print the Markdown summary of --out (and redraw its plots) without running anything")
    args = parser.parse_args(argv)
    if args.summary:
        out = Path(args.out)
        if not out.is_file():
            print(f"error: Expected --out to name an existing results file, but {out} does not exist", file=sys.stderr)
            return 2
        result = json.loads(out.read_text())
        plot_comparison(result, out.with_suffix(".png"), out.with_name(out.stem + "_layers.png"))
        print(summarize(result))
        return 0

    paper = args.paper
    width = args.width if args.width is not None else (1.0 if paper or args.model == "mlp" else 0.25)
    dataset = args.dataset or ("cifar10" if paper else ("fashion_mnist" if args.model == "mlp" else "fashion_mnist32"))
    groups: str | int = args.groups or ("paper" if paper else "scaled")
    if groups not in ("scaled", "paper"):
        try:
            groups = int(groups)
        except ValueError:
            parser.error(f"--groups expects 'scaled', 'paper' or an int, got {args.groups!r}")
    from mintlab.nets.presets import PAPER_SETTINGS

    paper_set = PAPER_SETTINGS[args.model]
    train_recipe = args.train_recipe or (paper_set["train_recipe"] if paper else "quick_cnn")
    retrain_recipe = args.retrain_recipe or (paper_set["retrain_recipe"] if paper else "quick_cnn_retrain")
    start = time.perf_counter()
    try:
        result = run_comparison(
            args.out, model=args.model, width=width, dataset=dataset, methods=_names(args.methods),
            levels=_floats(args.levels), seeds=[int(v) for v in _names(args.seeds)],
            allocations=_names(args.allocation), sweep_levels=_floats(args.sweep_levels), sweep_seed=args.sweep_seed,
            groups=groups, samples_per_class=args.samples_per_class, gamma={} if args.no_gamma else None,
            train_recipe=train_recipe, train_epochs=args.train_epochs, retrain_recipe=retrain_recipe,
            retrain_epochs=args.retrain_epochs, retrain_max_batches=args.retrain_max_batches,
            bn_recalibration_images=args.bn_images,
            train_size=args.train_size, test_size=args.test_size,
            mint_options={k: v for k, v in (("n_jobs", args.n_jobs), ("device", args.mint_device)) if v is not None},
            device=args.device, root=args.root, download=True if args.download else None, cache_dir=args.cache_dir,
            keep_networks=args.keep_networks,
            overwrite=args.overwrite, progress=args.progress, log=lambda line: print(line, flush=True),
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"done in {time.perf_counter() - start:.0f} s; dense accuracy per seed {result['dense_accuracy']}")
    print(f"{'allocation':<10}{'seed':>5}{'level':>7}  {'method':<11}{'pruned %':>9}{'before':>8}{'after':>8}")
    for r in result["runs"]:
        print(f"{r['allocation']:<10}{r['seed']:>5}{r['target_percent']:>7g}  {r['method']:<11}"
              f"{r['total_pruned_percent']:>9.2f}{r['accuracy_before_retrain']:>8.2f}{r['accuracy_after_retrain']:>8.2f}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
