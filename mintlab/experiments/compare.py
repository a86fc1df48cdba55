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
:func:`mintlab.utils.fingerprint.code_fingerprint`), never their sizes or class name alone, so other data or
another ``nn.Sequential`` neither reuse a file's runs nor its cached dense networks (those are keyed
the same way, in a folder of their own). Plots: accuracy vs sparsity per method with the seed spread
(``<out>.png``) and per-layer pruned % per method (``<out>_layers.png``, the paper's Fig. 5).

JSON schema (:data:`mintlab.prune.record.SCHEMA_VERSION`): ``{"schema_version", "kind": "comparison",
"provenance": {commit, dirty, mintlab, package_fingerprint, versions, machine}, "settings": {...model, dataset,
width, groups, m, recipes, seeds}, "dense_accuracy": {seed: %} (BatchNorm re-estimated as for the pruned
networks), "dense_seconds", "scoring_seconds": {"method/seed": s}, "deltas": {"seed/level": δ}, "runs":
[RunRecord, ...]}`` (:class:`mintlab.prune.record.RunRecord`: ``pruned_percent``, ``accuracy_pruned``,
``accuracy_retrained``, ``seconds`` per stage, ...); accuracies and percentages in percent. Each run is one
:func:`mintlab.prune.step.run_step`.

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
import json
import numbers
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

from mintlab.experiments.comparison_report import plot_comparison, plot_paired_differences, summarize
from mintlab.nets.checkpoints import load_checkpoint, save_checkpoint, state_dict_hash
from mintlab.nets.data import TENSOR_DATASETS
from mintlab.nets.networks import get_network, network_names
from mintlab.nets.pretrained import pretrained
from mintlab.nets.recipes import Recipe, get_recipe, with_precision
from mintlab.prune.allocation import ALLOCATIONS, keep_for_allocation
from mintlab.prune.methods import method_names
from mintlab.prune.metrics import csr_memory_mb
from mintlab.prune.record import SCHEMA_VERSION, run_id
from mintlab.prune.scorers import RUNTIME_OPTIONS, SCORER_NAMES, get_scorer
from mintlab.prune.scores import compute_scores
from mintlab.prune.step import dense_accuracy, recalibrate_batchnorm, run_step
from mintlab.utils.checks import (
    InvalidArgumentError,
    check_choice,
    check_fraction,
    check_int,
    check_number,
    check_seed,
)
from mintlab.utils.fingerprint import architecture_fingerprint, code_fingerprint, dataset_fingerprint
from mintlab.utils.io import json_key, to_jsonable, write_json_atomic
from mintlab.utils.model_state import preserved_state
from mintlab.utils.provenance import provenance
from mintlab.utils.runtime import select_device

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
    "recorded_preset",
    "run_comparison",
    "scores_dataset_name",
    "summarize",
]

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

    def scores(
        self,
        net: nn.Module,
        train_data: Dataset,
        scorer: Any,
        *,
        seed: int,
        cache_dir: Path,
        dataset_name: str,
        progress: bool = False,
    ) -> Any:
        """One seed's score set on this preset's pairs, G and m (:func:`mintlab.prune.scores.compute_scores`,
        cached under ``cache_dir`` keyed by network, data, scorer and settings). Returns a ``ScoreSet``."""
        return compute_scores(
            net, train_data, self.pairs, scorer, groups=self.groups, samples_per_class=self.samples_per_class,
            seed=seed, cache_dir=cache_dir, dataset_name=dataset_name, progress=progress,
        )  # fmt: skip


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
    """The pruning settings of the registered network ``model`` at ``width`` (:mod:`mintlab.nets.networks`; for the
    built-ins the paper's, Appendix B, :data:`mintlab.nets.presets.PAPER_SETTINGS`).

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
        model: a name of :func:`mintlab.nets.networks.network_names` (``"mlp"``, ``"vgg16"``, ``"resnet56"``
            and any registered since).
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
    if model not in network_names():
        raise ValueError(f"Expected `model` in {network_names()} for a preset, but got {model!r}")
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width <= 16:
        raise ValueError(f"Expected `width` as a number in (0, 16], but got {width!r}")
    net = get_network(model)
    if net.has_width:
        options: dict[str, Any] = {"width": float(width), "in_channels": int(in_channels)}
        options["num_classes"] = int(num_classes)
    elif width != 1:
        raise ValueError(f"Expected `width` 1 for the {model} preset (it has no width option), but got {width!r}")
    else:
        options = {"num_classes": num_classes}

    def build() -> nn.Module:
        return net.network(**{k: v for k, v in options.items() if k in ("width", "in_channels", "num_classes")})

    pairs = list(net.pairs)
    paper_groups = dict(net.groups)
    if groups == "scaled":
        chosen = {p: (_scale_group(g[0], width), _scale_group(g[1], width)) for p, g in paper_groups.items()}
    elif groups == "paper":
        chosen = dict(paper_groups)
    elif isinstance(groups, (int, np.integer)) and not isinstance(groups, bool) and groups >= 1:
        chosen = {p: (int(groups), int(groups)) for p in paper_groups}
    else:
        raise ValueError(f"Expected `groups` as 'scaled', 'paper' or an int >= 1, but got {groups!r}")
    gamma = dict(net.gamma)
    # the paper's skipped layers are never a child of these pairs (the pairs leave them out): recorded only
    options["paper_skip"] = list(net.skip)
    children = {c for _, c in pairs}
    preset = Preset(
        model,
        build,
        pairs,
        {p: chosen[p] for p in pairs},
        gamma,
        tuple(c for c in net.skip if c in children),
        int(net.samples_per_class),
        float(width),
        options,
    )
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
    its hooks: :func:`mintlab.utils.model_state.preserved_state`).

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
                lambda _m, _i, out, _n=parent: seen_out.__setitem__(_n, int(out.shape[1]))
            )
            modules[child].register_forward_pre_hook(
                lambda _m, inp, _n=child: seen_in.__setitem__(_n, int(inp[0].shape[1]))
            )
        model.eval()
        with torch.no_grad():
            model(example)
    for parent, child in pair_list:
        p_out, c_in = seen_out.get(parent), seen_in.get(child)
        if p_out is None or c_in is None:
            raise ValueError(
                f"Expected both modules of pair {(parent, child)} to run in the forward pass, "
                f"but {'parent' if p_out is None else 'child'} did not"
            )
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

    return load_tensor_data(
        dataset, train_size=train_size, test_size=test_size, root=root, download=download, subset_seed=subset_seed
    )


# --------------------------------------------------------------------------- allocation


def recorded_preset(settings: Mapping[str, Any]) -> Preset:
    """The preset of a finished comparison as it ran, from its recorded ``settings``.

    The network (model and options) is rebuilt by :func:`comparison_preset`; the pairs, G, γ caps, skipped
    layers and m are the recorded ones, whatever ``groups`` or overrides the comparison was given.

    Raises:
        KeyError: settings without the model, its options, pairs, groups, gamma, skip or m.
        ValueError: a user's model (``"custom"``), which settings cannot rebuild.
    """
    return dataclasses.replace(
        _options_preset(settings["model"], settings["model_options"]),
        pairs=[(str(p), str(c)) for p, c in settings["pairs"]],
        groups={(str(p), str(c)): (int(a), int(b)) for (p, c), (a, b) in settings["groups"]},
        gamma={str(k): float(v) for k, v in settings["gamma"].items()},
        skip=tuple(settings["skip"]),
        samples_per_class=int(settings["samples_per_class"]),
    )


def _options_preset(name: str, options: Mapping[str, Any]) -> Preset:
    """:func:`comparison_preset` for the recorded ``model_options`` of a preset network (default groups)."""
    if name not in network_names():
        raise ValueError(f"Expected a preset network {network_names()}, but got {name!r}")
    kwargs = {"num_classes": int(options.get("num_classes", 10))}
    if get_network(name).has_width:
        kwargs.update(width=float(options["width"]), in_channels=int(options["in_channels"]))
    return comparison_preset(name, **kwargs)


def comparison_inputs(settings: Mapping[str, Any]) -> tuple[Preset, Dataset, Dataset]:
    """The preset (:func:`recorded_preset`) and the train / test data of a finished comparison, from its
    recorded ``settings`` (the ``"settings"`` entry of :func:`run_comparison`'s JSON). Returns
    ``(preset, train_data, test_data)``.

    Raises:
        KeyError: settings without the model, its options or the dataset. ValueError: a user's model.
    """
    d = settings["dataset"]
    train, test, _ = load_comparison_data(
        d["name"], train_size=d["train_size"], test_size=d["test_size"], subset_seed=d["subset_seed"]
    )
    return recorded_preset(settings), train, test


def dense_checkpoint_dir(settings: Mapping[str, Any], cache_dir: str | Path, seed: int) -> Path:
    """Where :func:`run_comparison` keeps the dense network of ``seed``: ``<cache_dir>/dense/<key>/seed<seed>``,
    the key hashing only the settings the dense network depends on (model, options, data, recipe)."""
    return Path(cache_dir) / "dense" / json_key({k: settings[k] for k in _DENSE}) / f"seed{int(seed)}"


def load_dense_network(
    settings: Mapping[str, Any],
    cache_dir: str | Path,
    seed: int,
    preset: Preset | None = None,
    *,
    networks: str | Path | None = None,
) -> nn.Module:
    """The dense network of ``seed`` that a finished comparison pruned, in eval mode, never trained here.

    From the pretrained store when the comparison took its networks from one (``settings["networks"]``,
    :func:`mintlab.nets.pretrained.pretrained`), else from the comparison's ``cache_dir``
    (:func:`dense_checkpoint_dir`). ``networks`` replaces the store's recorded folder (a checkout elsewhere).

    Raises:
        FileNotFoundError: naming the checkpoint when neither holds it.
    """
    preset = preset or recorded_preset(settings)
    store = settings.get("networks")
    if store is not None:
        net, _ = pretrained(
            preset.name, settings["dataset"]["name"], width=preset.width, recipe=store["recipe"], seed=seed,
            cache_dir=networks if networks is not None else store["folder"], train_if_missing=False,
        )  # fmt: skip
        return net.eval()
    path = dense_checkpoint_dir(settings, cache_dir, seed) / "last.pt"
    if not path.is_file():
        raise FileNotFoundError(
            f"Expected the comparison's dense network for seed {seed} at {path}, but there is "
            "no such file (pass the comparison's cache_dir)"
        )
    net = preset.build()
    load_checkpoint(path, net)
    return net.eval()


# --------------------------------------------------------------------------- the comparison


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
        raise InvalidArgumentError(
            f"Expected `{name}` as {'' if allow_empty else 'one or more '}percentages in (0, 100), but got {out}"
        )
    return [float(v) for v in out]


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    out = [check_seed(s, "seeds") for s in _check_list(seeds, "seeds", "a list of distinct ints >= 0")]
    if not out or len(set(out)) != len(out):
        raise InvalidArgumentError(f"Expected `seeds` as one or more distinct ints >= 0, but got {list(seeds)}")
    return out


def _check_points(
    levels: Sequence[float], seeds: Sequence[int], all_levels: Sequence[float], all_seeds: Sequence[int]
) -> dict[str, list]:
    """``point_levels`` (some of ``levels``) and ``point_seeds`` (new seeds): both given or neither."""
    point_levels = _check_levels(levels, "point_levels")
    point_seeds = [check_seed(v, "point_seeds") for v in _check_list(seeds, "point_seeds", "a list of ints >= 0")]
    if bool(point_levels) != bool(point_seeds):
        raise InvalidArgumentError(
            f"Expected `point_levels` and `point_seeds` both given or both empty, but got {point_levels} and "
            f"{point_seeds}"
        )
    if any(v not in [float(x) for x in all_levels] for v in point_levels) or len(set(point_levels)) != len(
        point_levels
    ):
        raise InvalidArgumentError(f"Expected `point_levels` among `levels` {list(all_levels)}, but got {point_levels}")
    if set(point_seeds) & set(all_seeds) or len(set(point_seeds)) != len(point_seeds):
        raise InvalidArgumentError(
            f"Expected `point_seeds` distinct and none of `seeds` {list(all_seeds)}, but got {point_seeds}"
        )
    return {"point_levels": point_levels, "point_seeds": point_seeds}


def _all_seeds(a: Mapping[str, Any]) -> list[int]:
    """Every seed a comparison runs: ``seeds``, ``point_seeds``, and the sweep's seed."""
    return list(dict.fromkeys([*a["seeds"], *a["point_seeds"], *([a["sweep_seed"]] if a["sweep_levels"] else [])]))


def _check_gamma(gamma: Mapping[str, float] | None) -> dict[str, float] | None:
    """``{child: cap}`` with every cap a fraction of the layer's weights in [0, 1]."""
    if gamma is None:
        return None
    if not isinstance(gamma, Mapping):
        raise InvalidArgumentError(
            f"Expected `gamma` as a mapping child layer → cap in [0, 1] or None, but got {gamma!r}"
        )
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


def _check_data(
    train_data: Dataset | None, test_data: Dataset | None, train_size: int | None, test_size: int | None
) -> None:
    """User data: both sets or neither, each non-empty with ``(tensor, label)`` items; sizes only without them."""
    if (train_data is None) != (test_data is None):
        given, missing = ("train_data", "test_data") if test_data is None else ("test_data", "train_data")
        raise InvalidArgumentError(
            f"Expected `train_data` and `test_data` both or neither (one set is not trained "
            f"and tested on another dataset), but got `{given}` without `{missing}`"
        )
    if train_data is None:
        return
    for name, value in (("train_size", train_size), ("test_size", test_size)):
        if value is not None:
            raise InvalidArgumentError(
                f"Expected `{name}` None with `train_data`/`test_data` (it subsets `dataset` "
                f"only; subset your data yourself), but got {value!r}"
            )
    for name, data in (("train_data", train_data), ("test_data", test_data)):
        if not hasattr(data, "__getitem__") or not hasattr(data, "__len__"):
            raise InvalidArgumentError(f"Expected `{name}` as a torch Dataset, but got {type(data).__name__}")
        if len(data) == 0:
            raise InvalidArgumentError(
                f"Expected `{name}` with at least one sample, but got an empty {type(data).__name__}"
            )
        item = data[0]
        if not isinstance(item, (tuple, list)) or len(item) < 2 or not isinstance(item[0], torch.Tensor):
            raise InvalidArgumentError(
                f"Expected `{name}` items as (input tensor, label), but got {type(item).__name__} {item!r:.80}"
            )


def _pair_groups(groups: Any, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[Any, Any]]:
    """``groups`` as one entry per pair: :func:`mintlab.prune.groups.group_specs` (strict: every key names a pair)."""
    from mintlab.prune.groups import group_specs

    return group_specs(pairs, groups, strict=True)


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
        raise InvalidArgumentError(
            "Expected `model` as a preset name, an nn.Module or a callable returning one, "
            f"but got {type(model).__name__}"
        )
    probe = build()
    if not isinstance(probe, nn.Module):
        raise InvalidArgumentError(f"Expected `model()` to return an nn.Module, but got {type(probe).__name__}")
    pair_list = validate_layer_pairs(probe, pairs)
    if len(set(pair_list)) != len(pair_list):
        raise InvalidArgumentError(f"Expected `pairs` without repeats, but got {pair_list}")
    g = _pair_groups(groups, pair_list)
    check_groups_fit(probe, g)
    options = {
        "class": type(probe).__name__,
        "architecture": architecture_fingerprint(probe),
        "code": code_fingerprint(probe),
    }
    return Preset("custom", build, pair_list, g, {}, (), 10, 1.0, options), probe


#: Settings that must match for a rerun to reuse a JSON file's runs (the rest may grow).
_CORE = (
    "model",
    "model_options",
    "dataset",
    "pairs",
    "groups",
    "gamma",
    "skip",
    "samples_per_class",
    "train_recipe",
    "retrain_recipe",
    "mint_options",
    "level_tolerance",
    "max_batches",
    "retrain_max_batches",
    "bn_recalibration_images",
    "dense_source",
)
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
    point_levels: Sequence[float] = (),
    point_seeds: Sequence[int] = (),
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
    networks: str | Path | None = None,
    precision: str | None = None,
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
            parameter shapes (:func:`mintlab.utils.fingerprint.architecture_fingerprint`).
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
        point_levels, point_seeds: more seeds at some of ``levels`` only (the paper's operating points, where
            three seeds may not decide): every seed of ``point_seeds`` (each its own dense network, none of
            ``seeds``) runs at every level of ``point_levels``, and those cells are then over both lists.
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
            (:func:`mintlab.utils.fingerprint.dataset_fingerprint`), so other data of the same
            sizes never reuse their results.
        mint_options: options of the MINT estimators (``n_jobs``/``device`` change speed only).
        level_tolerance: largest allowed gap (points) between a level and what δ reaches.
        max_batches: cap batches per training epoch, dense training and retraining (tests).
        retrain_max_batches: cap batches of each retrain epoch only (a smaller, equal retrain
            budget for every run: ``retrain_max_batches × batch_size`` images per epoch).
        bn_recalibration_images: after masking, every run re-estimates the BatchNorm
            statistics on this many training images (:func:`recalibrate_batchnorm`; 0: off).
        networks: a folder of trained dense networks (:func:`mintlab.nets.pretrained.pretrained`, e.g. the
            evidence's ``results/networks``): seed ``s``'s dense network is the one trained there with
            ``train_recipe`` (a recipe name) and seed ``s`` on the full dataset, trained there if missing.
            None: dense networks are trained into ``cache_dir``.
        precision: the arithmetic of dense training and retraining (:data:`mintlab.nets.recipes.PRECISIONS`;
            ``None``: the recipes', ``"auto"``).
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
        ValueError: (:class:`mintlab.utils.checks.InvalidArgumentError`, also a ``TypeError``,
            for a bad argument) unknown method, allocation or dataset; a negative or repeated
            seed; a level outside (0, 100) or one no δ can reach (the message gives the reachable
            range); a γ cap outside [0, 1]; ``groups`` without an entry for a pair; a pair whose
            channels misalign; a G larger than its layer; ``samples_per_class`` above a class's
            training examples; only one of ``train_data``/``test_data``; a file holding other
            core settings (without ``overwrite``); ``device="cuda"`` without CUDA.
    """
    say = log or (lambda _line: None)
    args = _check_arguments(locals())
    train_data, test_data, data_info, dataset = _comparison_data(args)
    preset, probe = _comparison_preset(args, train_data)
    total_params = int(sum(p.numel() for p in probe.parameters()))
    _check_reachable(args, preset, probe, total_params)
    settings = _comparison_settings(args, preset, data_info, total_params)
    output = Path(output)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir(output)
    result, core_key = _open_results(output, settings, overwrite)
    kept_dir = Path(keep_networks) / core_key if keep_networks is not None else None
    if kept_dir is not None:
        result["kept_networks"] = {"folder": str(kept_dir), "settings_key": core_key}
    write_json_atomic(output, result)
    run = _Comparison(
        args, preset, settings, result, output, cache, kept_dir, core_key, train_data, test_data, dataset, say
    )
    done = {
        r["run_id"] for r in result["runs"] if kept_dir is None or kept_network_path(kept_dir, r["run_id"]).is_file()
    }
    for alloc, seed, level, method, sweep in _plan(args):
        if run_id(alloc, seed, level, method) not in done:
            run.prune_and_retrain(alloc, seed, level, method, sweep)
    if kept_dir is not None:  # every seed's dense network kept, also when all its runs were finished before
        for seed in _all_seeds(args):
            run.dense(seed)
    if plot:
        _plot_all(result, output)
    return result


def _plot_all(result: Mapping[str, Any], output: Path) -> None:
    """The comparison's figures beside its JSON: accuracy per level (``.png``), per-layer shares (``_layers.png``)
    and the paired differences to MINT (``_paired.png``, when MINT ran)."""
    import matplotlib.pyplot as plt

    figures = plot_comparison(result, output.with_suffix(".png"), output.with_name(output.stem + "_layers.png"))
    grid = plot_paired_differences(result, output.with_name(output.stem + "_paired.png"))
    for fig in [*figures, *([grid.figure] if grid is not None else [])]:
        plt.close(fig)  # pyplot keeps every figure it made until closed


def _check_arguments(given: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`run_comparison`'s arguments, each checked before any data is loaded, any network trained or any
    file written; returns them normalised (lists, recipes, scorers, the device)."""
    a = dict(given)
    names = method_names("blocks")  # the registry's, a method a user registered included
    methods = _check_list(a["methods"], "methods", f"a list of distinct names among {names}")
    if not methods or any(m not in names for m in methods) or len(set(methods)) != len(methods):
        raise InvalidArgumentError(f"Expected `methods` as distinct names among {names}, but got {methods}")
    allocations = _check_list(a["allocations"], "allocations", f"a list of names among {ALLOCATIONS}")
    if not allocations or any(x not in ALLOCATIONS for x in allocations) or len(set(allocations)) != len(allocations):
        raise InvalidArgumentError(f"Expected `allocations` among {ALLOCATIONS}, each once, but got {allocations}")
    leader = "mint" if "mint" in methods else ("mint_paper" if "mint_paper" in methods else None)
    if "mint" in allocations and leader is None:
        raise InvalidArgumentError(
            f"Expected 'mint' or 'mint_paper' in `methods` for allocation 'mint' (its δ sets "
            f"the per-layer shares), but got {methods}"
        )
    seeds = _check_seeds(a["seeds"])
    a.update(
        methods=methods,
        allocations=allocations,
        leader=leader,
        seeds=seeds,
        levels=_check_levels(a["levels"], "levels", allow_empty=False),
        sweep_levels=_check_levels(a["sweep_levels"], "sweep_levels"),
        sweep_seed=seeds[0] if a["sweep_seed"] is None else check_seed(a["sweep_seed"], "sweep_seed"),
        **_check_points(a["point_levels"], a["point_seeds"], a["levels"], seeds),
        level_tolerance=check_number(a["level_tolerance"], "level_tolerance", low=0.0, low_open=True),
        samples_per_class=check_int(a["samples_per_class"], "samples_per_class", minimum=1, allow_none=True),
        gamma=_check_gamma(a["gamma"]),
        skip=_check_skip(a["skip"]),
        max_batches=check_int(a["max_batches"], "max_batches", minimum=1, allow_none=True),
        retrain_max_batches=check_int(a["retrain_max_batches"], "retrain_max_batches", minimum=1, allow_none=True),
        bn_recalibration_images=check_int(a["bn_recalibration_images"], "bn_recalibration_images", minimum=0),
    )
    for name in ("output", "cache_dir", "keep_networks", "root", "networks"):
        value = a[name]
        if not isinstance(value, (str, Path)) and not (value is None and name != "output"):
            raise InvalidArgumentError(
                f"Expected `{name}` as a {'file' if name == 'output' else 'folder'} path"
                f"{'' if name == 'output' else ' or None'}, but got {type(value).__name__}"
            )
    if a["mint_options"] is not None and not isinstance(a["mint_options"], Mapping):
        raise InvalidArgumentError(f"Expected `mint_options` as a mapping or None, but got {a['mint_options']!r}")
    a["mint_options"] = dict(a["mint_options"] or {})
    a["scorers"] = {m: get_scorer(m, **(a["mint_options"] if m.startswith("mint") else {})) for m in methods}
    _check_data(a["train_data"], a["test_data"], a["train_size"], a["test_size"])
    if a["train_data"] is None:
        check_choice(a["dataset"], "dataset", COMPARISON_DATASETS)
        for name in ("train_size", "test_size"):
            check_int(a[name], name, minimum=10, allow_none=True)
    a["dev"] = select_device(a["device"])
    a["train_rec"] = with_precision(get_recipe(a["train_recipe"], epochs=a["train_epochs"]), a["precision"])
    a["retrain_rec"] = with_precision(get_recipe(a["retrain_recipe"], epochs=a["retrain_epochs"]), a["precision"])
    if a["networks"] is not None and not (
        isinstance(a["model"], str)
        and isinstance(a["train_recipe"], str)
        and a["train_data"] is None
        and a["train_size"] is None
        and a["train_epochs"] is None
        and a["max_batches"] is None
    ):
        raise InvalidArgumentError(
            "Expected `networks` (a folder of pretrained dense networks) only with a preset "
            "model, a recipe name, the full dataset and no epoch or batch caps, but got "
            "other settings"
        )
    if isinstance(a["model"], str):
        if a["pairs"] is not None:
            raise InvalidArgumentError(
                f"Expected `pairs` only with a user's model, but got a preset name ({a['model']!r}) and pairs"
            )
        check_choice(a["model"], "model", network_names())
        # the preset's own checks (width, groups), before the data fix its input channels and classes
        preset_pairs = comparison_preset(
            a["model"], width=a["width"], groups="scaled" if isinstance(a["groups"], Mapping) else a["groups"]
        ).pairs
        a["user_groups"] = _pair_groups(a["groups"], preset_pairs) if isinstance(a["groups"], Mapping) else None
    else:
        a["user_preset"] = _user_preset(a["model"], a["pairs"], a["groups"])
    return a


def _comparison_data(a: Mapping[str, Any]) -> tuple[Dataset, Dataset, dict[str, Any], str]:
    """``(train, test, info, dataset name)``; user data is keyed by its content, so other data of the same sizes
    never reuse these results or checkpoints."""
    if a["train_data"] is None:
        train, test, info = load_comparison_data(
            a["dataset"], train_size=a["train_size"], test_size=a["test_size"], root=a["root"], download=a["download"]
        )
        return train, test, info, a["dataset"]
    train, test = a["train_data"], a["test_data"]
    info = {
        "name": "user",
        "train_size": len(train),
        "test_size": len(test),
        "train_fingerprint": dataset_fingerprint(train),
        "test_fingerprint": dataset_fingerprint(test),
    }
    return train, test, info, scores_dataset_name(info)


def scores_dataset_name(dataset: Mapping[str, Any]) -> str:
    """The data's name in a comparison's score cache keys, from its recorded ``settings["dataset"]``: the data
    set's name, or ``"user-<fingerprint>"`` for data handed in (so that other data never share their scores)."""
    name = dataset["name"]
    return f"user-{dataset['train_fingerprint'][:16]}" if name == "user" else name


def _comparison_preset(a: Mapping[str, Any], train_data: Dataset) -> tuple[Preset, nn.Module]:
    """The preset (with the caller's γ, skips and m) and one fresh network, both checked against the data."""
    from mintlab.nets.data import dataset_targets
    from mintlab.prune.activations import pair_geometry
    from mintlab.prune.groups import resolve_groups

    example = train_data[0][0].unsqueeze(0)
    if isinstance(a["model"], str):
        in_ch = int(example.shape[1]) if example.dim() == 4 else 3
        n_classes = int(np.max(dataset_targets(train_data))) + 1
        preset = comparison_preset(
            a["model"],
            width=a["width"],
            in_channels=in_ch,
            num_classes=max(n_classes, 2),
            groups=a["groups"] if not isinstance(a["groups"], Mapping) else "scaled",
        )
        if a["user_groups"] is not None:
            preset.groups = a["user_groups"]
        probe = preset.build()
    else:
        preset, probe = a["user_preset"]
    for name in ("gamma", "skip", "samples_per_class"):
        if a[name] is not None:
            setattr(preset, name, a[name])
    check_pairs_forward(probe, preset.pairs, example)
    check_groups_fit(probe, preset.groups, width=preset.width)
    resolve_groups([pair_geometry(probe, p) for p in preset.pairs], preset.groups)
    children = [c for _, c in preset.pairs]
    bad = [c for c in list(preset.skip) + list(preset.gamma) if c not in children]
    if bad:
        raise InvalidArgumentError(f"Expected `skip`/`gamma` names among the pairs' children {children}, but got {bad}")
    if any(sc.needs_activations or getattr(sc, "needs_gradients", False) for sc in a["scorers"].values()):
        classes, counts = np.unique(dataset_targets(train_data), return_counts=True)
        if counts.min() < preset.samples_per_class:
            raise InvalidArgumentError(
                f"Expected `samples_per_class` (m) at most the training examples of every class (fewest: "
                f"{counts.min()}, class {classes[counts.argmin()]}), but got {preset.samples_per_class}"
            )
    return preset, probe


def _check_reachable(a: Mapping[str, Any], preset: Preset, probe: nn.Module, total_params: int) -> None:
    """Refuse levels that no δ can reach under an allocation (the pruned layers' weights, γ caps, skips)."""
    modules = dict(probe.named_modules())
    children = [c for _, c in preset.pairs if c not in preset.skip]
    active = sum(int(modules[c].weight.numel()) for c in children)
    gamma_max = 100.0 * sum(int(modules[c].weight.numel()) * preset.gamma.get(c, 1.0) for c in children) / total_params
    top = max(a["levels"] + a["sweep_levels"])
    for alloc, most in (("mint", gamma_max), ("global", 100.0 * active / total_params)):
        if alloc in a["allocations"] and top > most + a["level_tolerance"]:
            raise ValueError(
                f"Expected levels a δ can reach under allocation {alloc!r}: at most {most:.2f} % of all parameters "
                f"(pruned layers' weights{', γ caps' if alloc == 'mint' else ''} and skips counted), but got {top:g} %"
            )


def _comparison_settings(
    a: Mapping[str, Any], preset: Preset, data_info: Mapping[str, Any], total_params: int
) -> dict[str, Any]:
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
        "train_recipe": dataclasses.asdict(a["train_rec"]),
        "retrain_recipe": dataclasses.asdict(a["retrain_rec"]),
        "mint_options": {k: v for k, v in a["mint_options"].items() if k not in RUNTIME_OPTIONS},
        "level_tolerance": float(a["level_tolerance"]),
        "max_batches": a["max_batches"],
        "retrain_max_batches": a["retrain_max_batches"],
        "bn_recalibration_images": int(a["bn_recalibration_images"]),
        "methods": a["methods"],
        "levels": a["levels"],
        "seeds": a["seeds"],
        "allocations": a["allocations"],
        "sweep_levels": a["sweep_levels"],
        "sweep_seed": a["sweep_seed"],
        "point_levels": a["point_levels"],
        "point_seeds": a["point_seeds"],
        "device": str(a["dev"]),
        "torch_threads": torch.get_num_threads(),
        "networks": None if a["networks"] is None else {"folder": str(a["networks"]), "recipe": a["train_recipe"]},
        # where the dense networks come from, a core setting: runs on networks of the two sources never mix
        "dense_source": "cache" if a["networks"] is None else f"pretrained:{a['train_recipe']}",
    }
    return json.loads(json.dumps(to_jsonable(settings)))


def _open_results(output: Path, settings: dict[str, Any], overwrite: bool) -> tuple[dict[str, Any], str]:
    """The results of ``output`` to continue (or a new record) and the core settings' key.

    Raises:
        ValueError: ``output`` holds results of other core settings (without ``overwrite``).
    """
    core_key = json_key({k: settings[k] for k in _CORE})
    result: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": "comparison",
        "provenance": provenance(),
        "settings": settings,
        "dense_accuracy": {},
        "scoring_seconds": {},
        "deltas": {},
        "runs": [],
    }
    if not output.exists() or overwrite:
        return result, core_key
    old = json.loads(output.read_text())
    # a file written before the dense networks' source was recorded trained them into the cache
    old_core = {k: old.get("settings", {}).get(k, "cache" if k == "dense_source" else None) for k in _CORE}
    old_options = old_core.get("model_options")
    if isinstance(old_options, dict) and "code" not in old_options and "code" in settings["model_options"]:
        # written before the network's code keyed a user's network: its runs are kept, and it is said so
        if (
            json_key({**old_core, "model_options": {**old_options, "code": settings["model_options"]["code"]}})
            == core_key
        ):
            warnings.warn(
                f"{output} was written before a user's network was keyed by its code as well as its "
                "architecture; its runs, dense networks and kept networks are used, though a network "
                "whose forward changed since cannot be told apart. Pass another output path if it "
                "changed.",
                UserWarning,
                stacklevel=3,
            )
            settings["model_options"] = old_options  # the file's key, so its dense and kept networks are found
            core_key = json_key({k: settings[k] for k in _CORE})
    if json_key(old_core) != core_key:
        changed = [k for k in _CORE if old_core.get(k) != settings[k]]
        raise ValueError(
            f"{output} holds results for other settings (differing: {changed}); pass overwrite=True "
            "(--overwrite) or another output path"
        )
    if old.get("schema_version", 1) != SCHEMA_VERSION:
        raise ValueError(
            f"{output} has results-file schema {old.get('schema_version', 1)}, this code writes "
            f"{SCHEMA_VERSION}: convert it first (python scripts/convert_results.py {output})"
        )
    for k in ("dense_accuracy", "dense_seconds", "dense_csr_memory_mb", "scoring_seconds", "deltas", "runs"):
        if k in old:
            result[k] = old[k]
    return result, core_key


def _plan(a: Mapping[str, Any]) -> list[tuple[str, int, float, str, bool]]:
    """Per allocation: every seed at every level, the point seeds at the point levels, then the sweep's extra
    levels at ``sweep_seed``."""
    plan = []
    for alloc in a["allocations"]:
        for seed in a["seeds"]:
            for level in a["levels"]:
                plan += [(alloc, seed, level, m, False) for m in a["methods"]]
        for seed in a["point_seeds"]:
            for level in a["point_levels"]:
                plan += [(alloc, seed, level, m, False) for m in a["methods"]]
        for level in a["sweep_levels"]:
            if level not in a["levels"]:
                plan += [(alloc, a["sweep_seed"], level, m, True) for m in a["methods"]]
    return plan


class _Comparison:
    """The state of one comparison: its dense networks and score sets (each made once), and its runs."""

    def __init__(
        self, a, preset, settings, result, output, cache, kept_dir, core_key, train_data, test_data, dataset, say
    ) -> None:
        self.a, self.preset, self.settings, self.result, self.output = a, preset, settings, result, output
        self.cache, self.kept_dir, self.train_data, self.test_data, self.dataset = (
            cache,
            kept_dir,
            train_data,
            test_data,
            dataset,
        )
        self.say = say
        self.builder = {"preset": preset.name, "model_options": preset.options, "settings_key": core_key}
        self._dense: dict[int, nn.Module] = {}
        self._scores: dict[tuple[str, int], Any] = {}

    def _train_dense(self, seed: int) -> nn.Module:
        """The dense network of ``seed``: from the pretrained store (``networks``) or trained into the cache."""
        a = self.a
        if a["networks"] is not None:
            net, _ = pretrained(
                self.preset.name,
                self.dataset,
                width=self.preset.width,
                recipe=a["train_recipe"],
                seed=seed,
                cache_dir=a["networks"],
                progress=a["progress"],
                precision=a["precision"],
            )
            return net.to(a["dev"]).eval()
        from mintlab.nets.train import train  # looked up at call time (tests interrupt it)

        net = _reinit(self.preset.build(), seed)
        folder = dense_checkpoint_dir(self.settings, self.cache, seed)
        train(
            net,
            self.train_data,
            None,
            a["train_rec"],
            checkpoint_dir=folder,
            device=a["dev"],
            seed=seed,
            progress=a["progress"],
            max_batches=a["max_batches"],
        )
        load_checkpoint(folder / "last.pt", net, map_location=a["dev"])
        return net.to(a["dev"]).eval()

    def dense(self, seed: int) -> nn.Module:
        if seed in self._dense:
            return self._dense[seed]
        t0 = time.perf_counter()
        net = self._dense[seed] = self._train_dense(seed)
        result, key = self.result, str(seed)
        if key not in result["dense_accuracy"]:  # measured as the pruned networks are: BN re-estimated
            result["dense_accuracy"][key] = dense_accuracy(
                net,
                self.train_data,
                self.test_data,
                bn_images=self.a["bn_recalibration_images"],
                seed=seed,
                device=self.a["dev"],
            )
            result.setdefault("dense_seconds", {})[key] = time.perf_counter() - t0
            result.setdefault("dense_csr_memory_mb", csr_memory_mb(net))
            write_json_atomic(self.output, result)
        kept = None if self.kept_dir is None else kept_network_path(self.kept_dir, f"dense/{seed}")
        if kept is not None and not kept.is_file():
            save_checkpoint(
                kept,
                net,
                run_id=f"dense/{seed}",
                **self.builder,
                accuracy=result["dense_accuracy"][key],
                state_sha256=state_dict_hash(net),
            )
        self.say(f"seed {seed}: dense accuracy {result['dense_accuracy'][key]:.2f} %")
        return net

    def scores(self, method: str, seed: int) -> Any:
        if (method, seed) in self._scores:
            return self._scores[(method, seed)]
        net, p = self.dense(seed), self.preset
        t0 = time.perf_counter()
        s = p.scores(
            net,
            self.train_data,
            self.a["scorers"][method],
            seed=seed,
            cache_dir=self.cache / "scores",
            dataset_name=f"{self.dataset}/train",
            progress=self.a["progress"],
        )
        seconds = time.perf_counter() - t0
        # a cache reload takes ~0 s: the first computation's time is kept beside the scores, and said to be
        timing_file = self.cache / "scores" / s.meta["cache_key"] / "seconds.json"
        reloaded = timing_file.is_file()
        if reloaded:
            seconds = float(json.loads(timing_file.read_text())["seconds"])
        else:
            write_json_atomic(timing_file, {"seconds": seconds, "method": method, "seed": seed})
        key = f"{method}/{seed}"
        if self.result["scoring_seconds"].get(key) != seconds:
            self.result["scoring_seconds"][key] = seconds
            write_json_atomic(self.output, self.result)
        self._scores[(method, seed)] = s
        self.say(
            f"seed {seed}: scores of {method} {'reloaded from the cache (computed in' if reloaded else 'in'} "
            f"{seconds:.1f} s{')' if reloaded else ''}"
        )
        return s

    def prune_and_retrain(self, alloc: str, seed: int, level: float, method: str, sweep: bool) -> None:
        a, p, result = self.a, self.preset, self.result
        s = self.scores(method, seed)
        leader = self.scores(a["leader"], seed) if alloc == "mint" else None
        delta, keep = keep_for_allocation(
            alloc, s, level, leader=leader, gamma=p.gamma, skip=p.skip, tolerance=a["level_tolerance"], seed=seed
        )
        if alloc == "mint":
            result["deltas"][f"{seed}/{level:g}"] = delta
        cap = min(v for v in (a["max_batches"], a["retrain_max_batches"], 10**9) if v is not None)
        net, record = run_step(
            self.dense(seed),
            keep,
            s,
            train_data=self.train_data,
            test_data=self.test_data,
            recipe=a["retrain_rec"],
            seed=seed,
            method=method,
            allocation=alloc,
            target_percent=level,
            delta=delta,
            sweep=sweep,
            accuracy_dense=result["dense_accuracy"].get(str(seed)),
            bn_images=a["bn_recalibration_images"],
            max_batches=None if cap == 10**9 else cap,
            score_seconds=result["scoring_seconds"].get(f"{method}/{seed}"),
            device=a["dev"],
            progress=a["progress"],
        )
        if self.kept_dir is not None:  # the file first: a record without its file is redone, never the reverse
            path = kept_network_path(self.kept_dir, record.run_id)
            record.network_sha256 = state_dict_hash(net)
            save_checkpoint(
                path,
                net,
                **self.builder,
                state_sha256=record.network_sha256,
                run=json.loads(json.dumps(to_jsonable(record.to_json()))),
            )
            record.network_file = str(path)
        runs = result["runs"]
        old = [k for k, r in enumerate(runs) if r["run_id"] == record.run_id]
        if old:
            runs[old[0]] = record.to_json()
        else:
            runs.append(record.to_json())
        write_json_atomic(self.output, result)
        self.say(
            f"{record.run_id}: pruned {record.pruned_percent:.2f} %, accuracy {record.accuracy_pruned:.2f} → "
            f"{record.accuracy_retrained:.2f} %"
        )


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
        name = info.get("preset")
        if name not in network_names():
            raise ValueError(
                f"Expected `model` (a fresh network to load into) for a kept network of a user's model "
                f"(preset {name!r}), but got None"
            )
        model = _options_preset(name, info.get("model_options") or {}).build()
    elif not isinstance(model, nn.Module):
        raise TypeError(f"Expected `model` as an nn.Module or None, but got {type(model).__name__}")
    load_checkpoint(path, model, map_location=map_location)
    got = state_dict_hash(model)
    if "state_sha256" in info and got != info["state_sha256"]:
        raise ValueError(
            f"Expected the weights in {path} to hash to {info['state_sha256'][:12]}…, as recorded when "
            f"they were kept, but got {got[:12]}…"
        )
    return model.to(map_location).eval(), info


# --------------------------------------------------------------------------- command line


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _parser() -> argparse.ArgumentParser:
    """The command line's options (:func:`main`)."""
    parser = argparse.ArgumentParser(
        prog="python -m mintlab.experiments.compare",
        description="Compare pruning methods on one network at equal sparsity; seeds, resumable JSON, plots.",
        epilog="Example (CPU, minutes per run): --model vgg16 --width 0.25 --dataset fashion_mnist32 "
        "--levels 50,80 --seeds 0,1,2 --samples-per-class 50 --train-size 5000 --test-size 2000. "
        "The paper's settings: --paper (full width, paper G, m and 300-epoch recipes, CIFAR-10).",
    )
    parser.add_argument("--model", default="vgg16", choices=network_names())
    parser.add_argument("--width", type=float, default=None, help="channel multiplier (default 0.25; --paper: 1)")
    parser.add_argument(
        "--dataset",
        default=None,
        choices=COMPARISON_DATASETS,
        help="default fashion_mnist32 (mlp: fashion_mnist; --paper: cifar10)",
    )
    parser.add_argument(
        "--methods",
        default="mint,magnitude,random,wanda,taylor",
        help="comma-separated, from " + ", ".join(SCORER_NAMES),
    )
    parser.add_argument("--levels", default="50,80", help="pruned %% of all parameters, every seed")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--allocation", default="mint", help="comma-separated, from " + ", ".join(ALLOCATIONS))
    parser.add_argument("--sweep-levels", default="", help="extra levels at --sweep-seed only")
    parser.add_argument("--sweep-seed", type=int, default=None)
    parser.add_argument("--point-levels", default="", help="levels (among --levels) that --point-seeds also run at")
    parser.add_argument("--point-seeds", default="", help="more seeds, at --point-levels only")
    parser.add_argument("--groups", default=None, help="'scaled' (paper G × width), 'paper' or an int")
    parser.add_argument("--samples-per-class", type=int, default=None, help="m (default: the paper's)")
    parser.add_argument("--no-gamma", action="store_true", help="drop the paper's γ caps")
    parser.add_argument(
        "--skip",
        default=None,
        help="comma-separated child layers never pruned (default: the preset's; e.g. the MLP's last "
        "layer for the paper's 'layer 2 only' row)",
    )
    parser.add_argument(
        "--train-recipe",
        default=None,
        help="dense training recipe (default quick_cnn; mlp: quick; e.g. cnn_fashion for the evidence)",
    )
    parser.add_argument("--train-epochs", type=int, default=None)
    parser.add_argument(
        "--retrain-recipe", default=None, help="retrain recipe (default quick_cnn_retrain; mlp: quick_retrain)"
    )
    parser.add_argument("--retrain-epochs", type=int, default=None)
    parser.add_argument(
        "--bn-images",
        type=int,
        default=1024,
        help="training images that re-estimate BatchNorm statistics after masking (0: off)",
    )
    parser.add_argument(
        "--retrain-max-batches",
        type=int,
        default=None,
        help="cap batches per retrain epoch (the same retrain budget for every run)",
    )
    parser.add_argument("--train-size", type=int, default=None, help="random training subset (default: all)")
    parser.add_argument("--test-size", type=int, default=None, help="random test subset (default: all)")
    parser.add_argument(
        "--paper",
        action="store_true",
        help="the paper's settings: width 1, paper G and m, CIFAR-10, its train/retrain recipes",
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when available)")
    parser.add_argument("--mint-device", default=None, help="run the estimator's MSTs in torch on this device")
    parser.add_argument("--n-jobs", type=int, default=None, help="CPU threads of the MINT estimator")
    parser.add_argument("--root", default=None, help="data root (default $MINTLAB_DATA or ~/.cache/mintlab/data)")
    parser.add_argument("--download", action="store_true", help="let torchvision download missing data")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument(
        "--networks",
        default=None,
        metavar="DIR",
        help="take the dense networks from DIR (mintlab.nets.pretrained layout, e.g. results/networks; "
        "trained there if missing) instead of training them into the cache",
    )
    parser.add_argument(
        "--precision",
        default=None,
        choices=("auto", "fp32", "bf16"),
        help="arithmetic of dense training and retraining (default: the recipes', auto)",
    )
    parser.add_argument(
        "--keep-networks",
        default=None,
        metavar="DIR",
        help="keep every retrained and dense network as a checkpoint under DIR (resumable)",
    )
    parser.add_argument("--out", required=True, help="JSON output (plots beside it)")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument(
        "--summary",
        action="store_true",
        help="print the Markdown summary of --out (and redraw its plots) without running anything",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command line of :func:`run_comparison` (``python -m mintlab.experiments.compare --help``)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.summary:
        out = Path(args.out)
        if not out.is_file():
            print(f"error: Expected --out to name an existing results file, but {out} does not exist", file=sys.stderr)
            return 2
        result = json.loads(out.read_text())
        _plot_all(result, out)
        print(summarize(result))
        return 0

    paper = args.paper
    cnn = get_network(args.model).has_width
    from mintlab.nets.presets import PAPER_SETTINGS

    paper_set = PAPER_SETTINGS.get(args.model)
    if paper and paper_set is None:
        parser.error(f"--paper needs the paper's settings, which {args.model!r} (a registered network) does not have")
    width = args.width if args.width is not None else (0.25 if cnn and not paper else 1.0)
    dataset = args.dataset or ("cifar10" if paper else ("fashion_mnist32" if cnn else "fashion_mnist"))
    groups: str | int = args.groups or ("paper" if paper else "scaled")
    if groups not in ("scaled", "paper"):
        try:
            groups = int(groups)
        except ValueError:
            parser.error(f"--groups expects 'scaled', 'paper' or an int, got {args.groups!r}")
    quick = ("quick_cnn", "quick_cnn_retrain") if cnn else ("quick", "quick_retrain")
    train_recipe = args.train_recipe or (paper_set["train_recipe"] if paper else quick[0])
    retrain_recipe = args.retrain_recipe or (paper_set["retrain_recipe"] if paper else quick[1])
    start = time.perf_counter()
    try:
        result = run_comparison(
            args.out,
            model=args.model,
            width=width,
            dataset=dataset,
            methods=_names(args.methods),
            levels=_floats(args.levels),
            seeds=[int(v) for v in _names(args.seeds)],
            allocations=_names(args.allocation),
            sweep_levels=_floats(args.sweep_levels),
            sweep_seed=args.sweep_seed,
            point_levels=_floats(args.point_levels),
            point_seeds=[int(v) for v in _names(args.point_seeds)],
            groups=groups,
            samples_per_class=args.samples_per_class,
            gamma={} if args.no_gamma else None,
            skip=None if args.skip is None else _names(args.skip),
            train_recipe=train_recipe,
            train_epochs=args.train_epochs,
            retrain_recipe=retrain_recipe,
            retrain_epochs=args.retrain_epochs,
            retrain_max_batches=args.retrain_max_batches,
            bn_recalibration_images=args.bn_images,
            train_size=args.train_size,
            test_size=args.test_size,
            mint_options={k: v for k, v in (("n_jobs", args.n_jobs), ("device", args.mint_device)) if v is not None},
            device=args.device,
            root=args.root,
            download=True if args.download else None,
            cache_dir=args.cache_dir,
            keep_networks=args.keep_networks,
            networks=args.networks,
            precision=args.precision,
            overwrite=args.overwrite,
            progress=args.progress,
            log=lambda line: print(line, flush=True),
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"done in {time.perf_counter() - start:.0f} s; dense accuracy per seed {result['dense_accuracy']}")
    print(f"{'allocation':<10}{'seed':>5}{'level':>7}  {'method':<11}{'pruned %':>9}{'before':>8}{'after':>8}")
    for r in result["runs"]:
        print(
            f"{r['allocation']:<10}{r['seed']:>5}{r['target_percent']:>7g}  {r['method']:<11}"
            f"{r['pruned_percent']:>9.2f}{r['accuracy_pruned']:>8.2f}{r['accuracy_retrained']:>8.2f}"
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
