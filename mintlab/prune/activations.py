"""Activations of (parent, child) layer pairs, recorded by hooks in one forward pass.

For a pair ``(p, c)`` MINT needs, for every sampled input, the activation of each
parent unit and of each child unit. mintlab takes them where the pruned weights act:

* **parent** activations are the *input tensor of the child module* ``c``, captured by
  a forward pre-hook on ``c``. That is exactly the signal the weights of ``c`` multiply,
  i.e. the parent's output *after* its BatchNorm, ReLU, pooling and flattening. Pruning a
  weight of ``c`` removes the contribution of that signal, so it is the one whose
  dependence with the child matters.
* **child** activations are the *output of* ``c`` (forward hook): its linear response,
  *before* BatchNorm and ReLU. Taking it before the ReLU keeps the information that the
  ReLU would clip to exact zeros (ties and dead units hurt the nearest-neighbour
  estimator), and before BN because BN is a per-unit affine map that carries no
  information of its own.

A conv unit's activation is its mean over the spatial dims (as the paper). A conv→linear
transition through a flatten (the child's input has ``C·h·w`` features for a parent
with ``C`` channels) averages the ``h·w`` positions of each channel, giving ``C`` units.

Departure from the reference code: it drew the parent and the child samples in separate
passes over separately drawn batches, so row ``k`` of the parent matrix and row ``k`` of
the child matrix came from different images, which breaks the joint distribution the
estimator needs. Here both come from the *same* forward pass and are row-aligned. The
reference code also sampled *with* replacement; mintlab samples ``m`` per class without
replacement (:func:`mintlab.nets.data.per_class_indices`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from mintlab.utils.checks import InvalidArgumentError, check_class_labels, check_class_range, check_int, check_seed
from mintlab.utils.model_state import checked_forward, preserved_state
from mintlab.utils.runtime import select_device

Pair = tuple[str, str]

#: How error messages name the labels of the dataset (as :func:`mintlab.nets.data.dataset_targets` does).
_LABELS = "the labels of `dataset`"

__all__ = [
    "Activations",
    "PairGeometry",
    "collect_activations",
    "collect_gradients",
    "normalize_pairs",
    "pair_geometry",
]


@dataclass(frozen=True)
class PairGeometry:
    """How the weight of a child module maps onto (child unit, parent unit) links.

    Attributes:
        parent: parent module name.
        child: child module name.
        n_parent: number of parent units (channels or features).
        n_child: number of child units (output channels or features).
        spatial: number of raw weights per (child unit, parent unit) link: ``kh·kw`` for a
            conv, ``h·w`` for a linear layer fed by a flattened conv map, 1 otherwise.
        kind: ``"conv"``, ``"linear"`` or ``"flatten"`` (linear after a flattened conv).
    """

    parent: str
    child: str
    n_parent: int
    n_child: int
    spatial: int
    kind: str


def normalize_pairs(pairs: Sequence[Sequence[str]]) -> list[Pair]:
    """Check that ``pairs`` is a non-empty list of (parent, child) name pairs.

    >>> normalize_pairs([["fc1", "fc2"]])
    [('fc1', 'fc2')]
    """
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence) or len(pairs) == 0:
        raise TypeError(f"Expected `pairs` as a non-empty list of (parent, child) module names, but got {pairs!r}")
    out: list[Pair] = []
    for pair in pairs:
        if isinstance(pair, (str, bytes)) or len(pair) != 2 or not all(isinstance(n, str) for n in pair):
            raise TypeError(f"Expected each pair as (parent name, child name), but got {pair!r}")
        out.append((pair[0], pair[1]))
    children = [c for _, c in out]
    if len(set(children)) != len(children):
        raise ValueError(f"Expected each child module in one pair only, but got children {children}")
    return out


def pair_geometry(model: nn.Module, pair: Sequence[str]) -> PairGeometry:
    """Units and weight layout of one (parent, child) pair; errors name what does not fit.

    Args:
        model: the network.
        pair: (parent module name, child module name), as in ``model.named_modules()``.

    Raises:
        ValueError: from :func:`mintlab.nets.presets.validate_layer_pairs`: a name is not a
            Conv2d / Linear of ``model``, or the parent's outputs do not chain into the
            child's input.

    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    >>> pair_geometry(net, ("0", "2"))
    PairGeometry(parent='0', child='2', n_parent=6, n_child=3, spatial=1, kind='linear')
    """
    from mintlab.nets.presets import validate_layer_pairs

    ((parent_name, child_name),) = validate_layer_pairs(model, [tuple(pair)])
    modules = dict(model.named_modules())
    parent, child = modules[parent_name], modules[child_name]
    n_parent = parent.out_channels if isinstance(parent, nn.Conv2d) else parent.out_features
    if isinstance(child, nn.Conv2d):
        kh, kw = child.kernel_size
        return PairGeometry(parent_name, child_name, n_parent, child.out_channels, kh * kw, "conv")
    spatial = child.in_features // n_parent
    return PairGeometry(
        parent_name, child_name, n_parent, child.out_features, spatial, "flatten" if spatial > 1 else "linear"
    )


@dataclass
class Activations:
    """Row-aligned activations of each pair over one per-class sample.

    Attributes:
        pairs: the (parent, child) pairs, in order.
        parent: per pair, ``(n, N_parent)`` float64: the child's input, per parent unit.
        child: per pair, ``(n, N_child)`` float64: the child's output, per child unit.
        indices: dataset indices of the ``n`` sampled rows (row ``k`` everywhere).
        labels: class label of each row.
    """

    pairs: list[Pair]
    parent: dict[Pair, np.ndarray] = field(repr=False)
    child: dict[Pair, np.ndarray] = field(repr=False)
    indices: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)


def _unit_means(t: torch.Tensor, n_units: int, geom: PairGeometry) -> torch.Tensor:
    """(batch, ...) tensor → (batch, n_units): spatial mean per channel / flattened group."""
    if t.dim() == 4:  # conv map: mean over H, W
        return t.mean(dim=(2, 3))
    if t.dim() != 2:
        raise ValueError(f"Expected a 2-D or 4-D activation at {geom.child!r}, but got shape {tuple(t.shape)}")
    if t.shape[1] == n_units:
        return t
    return t.reshape(t.shape[0], n_units, -1).mean(dim=2)  # channel-major flatten: c*hw + s


def _sample(dataset: Dataset, samples_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The per-class draw: dataset indices and their labels; the items are checked to be ``(image, label)``."""
    from mintlab.nets.data import dataset_targets, item_label, per_class_indices

    targets = dataset_targets(dataset)
    indices = np.asarray(per_class_indices(targets, samples_per_class, seed=seed), dtype=np.int64)
    if len(indices):  # `.targets` gave the labels without reading an item: read one (a dict item fails here)
        item_label(dataset[int(indices[0])])
    return indices, targets[indices]


def _sample_indices(dataset: Dataset, samples_per_class: int, seed: int) -> np.ndarray:
    return _sample(dataset, samples_per_class, seed)[0]


def _batch_labels(y: object, n: int) -> torch.Tensor:
    """The labels of one collated batch as a CPU int64 tensor (integral floats accepted, as in the draw)."""
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu()
    return torch.from_numpy(check_class_labels(y, _LABELS, length=n))


def collect_activations(
    model: nn.Module,
    dataset: Dataset,
    pairs: Sequence[Sequence[str]],
    *,
    samples_per_class: int,
    seed: int,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> Activations:
    """Record parent and child activations of each pair in one forward pass.

    Draws ``samples_per_class`` images per class without replacement (seeded), runs them
    through ``model`` in eval mode without gradients, and records per pair the child's
    input (parent units) and output (child units); see the module docstring for why these
    two points. The model is left exactly as found (hooks removed, every module's mode restored:
    :func:`mintlab.utils.model_state.preserved_state`), even on error.

    Args:
        model: the trained network.
        dataset: items ``(image, label)``; see :func:`mintlab.nets.data.dataset_targets`.
        pairs: (parent, child) module names.
        samples_per_class: ``m``, images per class.
        seed: seed of the per-class draw (same seed → same rows), an int >= 0.
        batch_size: forward batch size.
        device: where the inputs go (default: the device of the model's parameters; the
            model itself is not moved).
        progress: show a progress bar.

    Returns:
        :class:`Activations`, float64 arrays with row ``k`` from the same image everywhere.

    Raises:
        InvalidArgumentError (a ``ValueError`` and a ``TypeError``): dataset items that are not
            ``(image, label)`` pairs (dicts, triples), or labels that are not one integer class index
            per item (one-hot rows, fractional values); see :func:`mintlab.nets.data.dataset_targets`.
        RuntimeError: a batch the model does not accept, named by
            :func:`mintlab.utils.model_state.checked_forward`.
        ValueError: non-finite activations (the message names the layer, the pair and the first dataset index).

    >>> import torch
    >>> from torch import nn
    >>> from torch.utils.data import TensorDataset
    >>> data = TensorDataset(torch.randn(40, 4), torch.arange(40) % 2)
    >>> net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    >>> acts = collect_activations(net, data, [("0", "2")], samples_per_class=5, seed=0, progress=False)
    >>> acts.parent[("0", "2")].shape, acts.child[("0", "2")].shape
    ((10, 6), (10, 3))
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected `model` to be a torch.nn.Module, but got {type(model).__name__}")
    pair_list = normalize_pairs(pairs)
    samples_per_class = check_int(samples_per_class, "samples_per_class", minimum=1)
    seed = check_seed(seed)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    geoms = [pair_geometry(model, p) for p in pair_list]
    indices = _sample_indices(dataset, samples_per_class, seed)
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    device = select_device(device)

    modules = dict(model.named_modules())
    store_in: dict[Pair, list[torch.Tensor]] = {p: [] for p in pair_list}
    store_out: dict[Pair, list[torch.Tensor]] = {p: [] for p in pair_list}
    handles = []

    def make_hooks(pair: Pair, geom: PairGeometry):
        def pre_hook(_module, inputs):
            store_in[pair].append(_unit_means(inputs[0].detach(), geom.n_parent, geom).double().cpu())

        def post_hook(_module, _inputs, output):
            store_out[pair].append(_unit_means(output.detach(), geom.n_child, geom).double().cpu())

        return pre_hook, post_hook

    loader = DataLoader(Subset(dataset, indices.tolist()), batch_size=batch_size, shuffle=False)
    labels: list[torch.Tensor] = []
    with preserved_state(model):  # every module's mode (a frozen BatchNorm stays frozen), hooks, grads
        try:
            for pair, geom in zip(pair_list, geoms, strict=True):
                pre, post = make_hooks(pair, geom)
                handles.append(modules[pair[1]].register_forward_pre_hook(pre))
                handles.append(modules[pair[1]].register_forward_hook(post))
            model.eval()
            from tqdm.auto import tqdm

            with torch.no_grad():
                for x, y in tqdm(loader, desc="activations", disable=not progress, leave=False):
                    if labels:
                        model(x.to(device))
                    else:  # the first batch: a shape or dtype the network does not take names `dataset`
                        checked_forward(model, x.to(device), name="dataset")
                    labels.append(_batch_labels(y, len(x)))
        finally:
            for h in handles:
                h.remove()
    parent = {p: torch.cat(store_in[p]).numpy() for p in pair_list}
    child = {p: torch.cat(store_out[p]).numpy() for p in pair_list}
    for p in pair_list:
        if parent[p].shape[0] != len(indices) or child[p].shape[0] != len(indices):
            raise RuntimeError(
                f"Module {p[1]!r} ran {child[p].shape[0]} rows for {len(indices)} images: "
                "a child module called more than once per forward pass is not supported"
            )
        for side, values in (("input (the parent's units)", parent[p]), ("output", child[p])):
            bad = ~np.isfinite(values).all(axis=1)
            if bad.any():
                first = int(indices[int(np.argmax(bad))])
                raise ValueError(
                    f"Expected finite activations, but the {side} of {p[1]!r} (pair {p}) holds NaN or infinite values "
                    f"for {int(bad.sum())} of the {len(indices)} sampled items of `dataset` "
                    f"({type(dataset).__name__}), the first at dataset index {first}: the images or the network "
                    "give non-finite values there"
                )
    return Activations(pair_list, parent, child, indices, torch.cat(labels).numpy().astype(np.int64))


def collect_gradients(
    model: nn.Module,
    dataset: Dataset,
    children: Sequence[str],
    *,
    samples_per_class: int,
    seed: int,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> dict[str, np.ndarray]:
    """Gradient of the mean cross-entropy over the per-class sample w.r.t. each child's weight.

    The sample is the one :func:`collect_activations` draws for the same ``samples_per_class``
    and ``seed`` (same images). The model runs in eval mode (BatchNorm running statistics,
    no dropout), as for the activations. A frozen child (``weight.requires_grad=False``) gets its
    true gradient: its weight takes gradients for the duration of the call. The model is left
    exactly as found (every module's mode, so a frozen BatchNorm stays frozen, every parameter's
    ``requires_grad`` and ``.grad``, hooks: :func:`mintlab.utils.model_state.preserved_state`),
    even on error. For a module pruned with ``torch.nn.utils.prune`` the gradient is taken with
    respect to the effective weight ``weight_orig * weight_mask``.

    Args:
        model: the trained network.
        dataset: items ``(image, label)``.
        children: module names whose weight gradients are wanted.
        samples_per_class, seed: the sample (see :func:`collect_activations`).
        batch_size: forward/backward batch size (gradients are summed over batches, then
            divided by the sample size, so the result does not depend on it).
        device: where the inputs go (default: the device of the model's parameters).

    Returns:
        ``{child: float64 array shaped like the child's weight}``.

    Raises:
        InvalidArgumentError (a ``ValueError`` and a ``TypeError``): dataset items that are not
            ``(image, label)`` pairs, labels that are not one integer class index per item, labels
            outside ``[0, number of model outputs)`` (1-based labels are named as such), a model
            whose output is not ``(N, classes)``, or a child the forward pass does not run.
        RuntimeError: a batch the model does not accept (named by
            :func:`mintlab.utils.model_state.checked_forward`), or a child whose weight no gradient
            reaches (never reported as zeros).

    >>> from torch.utils.data import TensorDataset
    >>> data = TensorDataset(torch.randn(40, 4), torch.arange(40) % 2)
    >>> net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    >>> collect_gradients(net, data, ["2"], samples_per_class=5, seed=0)["2"].shape
    (2, 6)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected `model` to be a torch.nn.Module, but got {type(model).__name__}")
    modules = dict(model.named_modules())
    unknown = [c for c in children if c not in modules or not hasattr(modules[c], "weight")]
    if unknown:
        raise ValueError(f"Expected `children` to name weighted modules of the model, but got {unknown}")
    samples_per_class = check_int(samples_per_class, "samples_per_class", minimum=1)
    seed = check_seed(seed)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    indices, sample_labels = _sample(dataset, samples_per_class, seed)
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    device = select_device(device)
    grads: dict[str, torch.Tensor] = {}
    captured: dict[str, torch.Tensor] = {}

    def keep_grad(name: str):
        def hook(module, _inputs, _output):
            w = module.weight  # the effective weight of a pruned module: computed for this forward pass
            if w.requires_grad and not w.is_leaf:
                w.retain_grad()
            captured[name] = w

        return hook

    loader = DataLoader(Subset(dataset, indices.tolist()), batch_size=batch_size, shuffle=False)
    # every module's mode (a frozen BatchNorm stays frozen), requires_grad, .grad and hooks are put back
    with preserved_state(model), torch.enable_grad():
        for c in children:
            _require_weight_grad(modules[c])
            modules[c].register_forward_hook(keep_grad(c))
        model.eval()
        for b, (x, y) in enumerate(loader):
            model.zero_grad(set_to_none=True)
            captured.clear()
            out = model(x.to(device)) if b else checked_forward(model, x.to(device), name="dataset")
            if out.ndim != 2:
                raise InvalidArgumentError(
                    f"Expected the model to output (N, classes) scores, but got shape {tuple(out.shape)}"
                )
            if not b:  # the whole sample at once, so that 1-based labels are recognised as such
                check_class_range(sample_labels, out.shape[1], _LABELS, what="number of model outputs")
            target = _batch_labels(y, len(x))
            check_class_range(target.numpy(), out.shape[1], _LABELS, what="number of model outputs")
            loss = nn.functional.cross_entropy(out, target.to(out.device), reduction="sum")
            loss.backward()
            for c in children:
                grads[c] = grads.get(c, 0) + _weight_grad(captured.get(c), c).detach().double().cpu()
    return {c: (grads[c] / len(indices)).numpy() for c in children}


def _require_weight_grad(module: nn.Module) -> None:
    """Let the parameter behind ``module.weight`` (``weight``, or ``weight_orig`` when pruned) take gradients.

    A frozen layer (``requires_grad=False``) has a gradient all the same; the caller's flag is put back by
    :func:`mintlab.utils.model_state.preserved_state`.
    """
    for name in ("weight", "weight_orig"):
        param = module._parameters.get(name)
        if param is not None:
            param.requires_grad_(True)


def _weight_grad(weight: torch.Tensor | None, name: str) -> torch.Tensor:
    """The gradient of one child's weight after ``backward``; an error, never zeros, when there is none."""
    if weight is None:
        raise InvalidArgumentError(
            f"Expected every child in `children` to run in the model's forward pass, but module {name!r} did not"
        )
    if not weight.requires_grad:
        raise RuntimeError(
            f"Cannot take the gradient of module {name!r}'s weight: it does not require gradients and is not a "
            "parameter mintlab can enable (`weight`, or `weight_orig` of a torch.nn.utils.prune mask)"
        )
    if weight.grad is None:
        raise RuntimeError(
            f"No gradient reached module {name!r}'s weight: its output does not reach the model's output, or the "
            "forward pass reads its weight in a way the gradient does not follow (e.g. a parametrization)"
        )
    return weight.grad
