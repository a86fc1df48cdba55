"""What a pruned network looks like: parameters pruned, CSR memory, disconnected units, accuracies.

All functions read the *effective* weights (``weight_orig * weight_mask`` while masks are
installed, the plain ``weight`` after :func:`mintlab.prune.masks.make_permanent`), so they give the
same answer before and after making the pruning permanent.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import scipy.sparse as sp
import torch
from torch import nn

from mintlab.prune.activations import normalize_pairs, pair_geometry
from mintlab.prune.masks import effective_weight
from mintlab.utils.checks import InvalidArgumentError, check_int, check_number, check_type
from mintlab.utils.model_state import preserved_state

__all__ = [
    "prunable_layers",
    "params_pruned_percent",
    "csr_memory_mb",
    "disconnected_units",
    "live_units",
    "input_dependence",
    "pruning_report",
    "BYTES_PER_MB",
]

#: The paper's "Mb" is 2**20 bytes (a mebibyte) of ``scipy.sparse.save_npz(compressed=True)``
#: output: that is what reproduces its baselines (ResNet50 91.16, VGG16 53.9, ResNet56 3.11;
#: the MLP's 0.539 is the 300×500 fc2 weight alone, "layer 2" of its Table I).
BYTES_PER_MB = 2**20


def prunable_layers(model: nn.Module) -> list[str]:
    """Names of the model's ``nn.Linear`` and ``nn.Conv2d`` modules (the weights MINT masks).

    >>> prunable_layers(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)))
    ['0', '2']
    """
    check_type(model, "model", nn.Module, "a torch.nn.Module")
    return [n for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def _layers(model: nn.Module, layers: Sequence[str] | None) -> dict[str, nn.Module]:
    check_type(model, "model", nn.Module, "a torch.nn.Module")
    modules = dict(model.named_modules())
    names = prunable_layers(model) if layers is None else list(layers)
    if isinstance(layers, str):
        raise TypeError(f"Expected `layers` as a list of module names, but got the string {layers!r}")
    for n in names:
        if n not in modules or not hasattr(modules[n], "weight"):
            raise ValueError(
                f"Unknown layer {n!r}: not a weighted module of the model (layers: {prunable_layers(model)})"
            )
    return {n: modules[n] for n in names}


def params_pruned_percent(
    model: nn.Module, *, layers: Sequence[str] | None = None, total_params: int | None = None
) -> dict:
    """Zeroed weights as a percentage, overall and per layer (the paper's "Params. Pruned").

    ``total`` = zero weights of the prunable layers / all parameters of the dense model
    (the paper's ratio to the whole baseline network); ``per_layer`` = zero weights of a
    layer / that layer's weights. Exact zeros are counted, masked or not.

    Args:
        model: the (pruned) network.
        layers: layers to count (default: every Linear / Conv2d).
        total_params: the dense model's parameter count (default: this model's, which is the
            same while pruning is a reparametrisation), an int >= 1.

    Raises:
        InvalidArgumentError: ``model`` is not a ``torch.nn.Module``, or has no parameters (and no
            ``total_params`` is given); ``total_params`` < 1.
        ValueError: a name in ``layers`` that is not a weighted module of ``model``.

    >>> net = nn.Sequential(nn.Linear(2, 2, bias=False))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.tensor([[0.0, 1.0], [2.0, 0.0]]))
    >>> params_pruned_percent(net)
    {'total': 50.0, 'per_layer': {'0': 50.0}, 'zero_weights': 2, 'total_params': 4}
    """
    mods = _layers(model, layers)
    if total_params is None:
        total_params = int(sum(p.numel() for p in model.parameters()))
        if total_params == 0:
            raise InvalidArgumentError(
                f"Expected `model` with parameters to count pruned weights of, but got {type(model).__name__} with none"
            )
    total_params = check_int(total_params, "total_params", minimum=1)
    per_layer, zeros = {}, 0
    for name, module in mods.items():
        w = effective_weight(module).detach()
        z = int((w == 0).sum())
        per_layer[name] = 100.0 * z / w.numel() if w.numel() else 0.0
        zeros += z
    return {
        "total": 100.0 * zeros / total_params,
        "per_layer": per_layer,
        "zero_weights": zeros,
        "total_params": total_params,
    }


def _csr_bytes(w: torch.Tensor) -> int:
    matrix = w.detach().cpu().float().reshape(w.shape[0], -1).numpy()  # conv: out × (in·kh·kw)
    buf = io.BytesIO()
    sp.save_npz(buf, sp.csr_matrix(matrix), compressed=True)
    return len(buf.getvalue())


def csr_memory_mb(model: nn.Module, *, layers: Sequence[str] | None = None) -> float:
    """Memory of the weight matrices stored as SciPy CSR ``.npz`` files, in the paper's Mb.

    Each weight tensor (conv: ``out × in·kh·kw``) becomes a float32 ``csr_matrix`` saved with
    ``scipy.sparse.save_npz(compressed=True)``; the sizes are summed and divided by
    :data:`BYTES_PER_MB` (2**20). As the paper ("convert weight matrices to CSR"), biases and
    BatchNorm parameters are not counted.

    Args:
        model: the network.
        layers: which layers (default: every Linear / Conv2d). The paper's MLP figure is
            ``layers=["fc2"]``.

    >>> round(csr_memory_mb(nn.Linear(4, 4)) * BYTES_PER_MB) > 0
    True
    """
    return sum(_csr_bytes(effective_weight(m)) for m in _layers(model, layers).values()) / BYTES_PER_MB


def disconnected_units(model: nn.Module, pairs: Sequence[Sequence[str]]) -> dict[str, dict]:
    """Units left with no inputs or no outputs by the masks: candidates for physical removal.

    For each pair ``(p, c)``: ``child_without_inputs`` — units of ``c`` whose every incoming
    weight is zero (they output only their bias, which could be folded into the next layer);
    ``parent_without_outputs`` — units of ``p`` whose every weight into ``c`` is zero. The
    latter are removable only if ``p``'s output feeds nothing else (not so for a residual
    block's output, which also goes through the skip connection).

    Returns:
        ``{child: {"parent": p, "child_without_inputs": [...], "parent_without_outputs": [...]}}``.

    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> with torch.no_grad():
    ...     _ = net[2].weight.copy_(torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]))
    >>> disconnected_units(net, [("0", "2")])
    {'2': {'parent': '0', 'child_without_inputs': [1], 'parent_without_outputs': [0, 2]}}
    """
    check_type(model, "model", nn.Module, "a torch.nn.Module")
    modules = dict(model.named_modules())
    out = {}
    for pair in normalize_pairs(pairs):
        geom = pair_geometry(model, pair)
        w = effective_weight(modules[geom.child]).detach().reshape(geom.n_child, geom.n_parent, geom.spatial)
        nonzero = (w != 0).any(dim=2)  # (N_child, N_parent) links with any weight left
        out[geom.child] = {
            "parent": geom.parent,
            "child_without_inputs": torch.nonzero(~nonzero.any(dim=1)).flatten().tolist(),
            "parent_without_outputs": torch.nonzero(~nonzero.any(dim=0)).flatten().tolist(),
        }
    return out


def live_units(model: nn.Module, pairs: Sequence[Sequence[str]]) -> dict:
    """Units on a path of nonzero weights from the input to the output of each chain of pairs: what is left of the
    network's information path after pruning.

    Pairs form a chain where one pair's child is the next pair's parent (VGG16's convolutions, the MLP). Along a
    chain a unit is *reached* when a nonzero weight links it to a reached unit of the layer before (every unit of
    the chain's first parent is reached), and it *reaches* the end when a nonzero weight links it to a unit of the
    next layer that does (every unit of the chain's last child does). A unit both reached and reaching is *live*.
    A unit that is not reached outputs a constant (its bias, through BatchNorm and ReLU) whatever the input, so a
    layer without live units cuts the network: its output no longer depends on the image, and no retraining of the
    kept weights can repair that (accuracy at chance). Where a pair's parent is not the previous pair's child (a
    residual stream feeds it, as in ResNet56's blocks), a new chain starts: its parent's units count as reached,
    which can only overstate what is live. The chains read the pairs as a plain sequence: across a residual stream
    (a pair whose child reads the sum of a block's output and its shortcut, as ResNet56's conv n → conv n+1 do
    between blocks) a layer without live units leaves only that block's branch constant, which the shortcut
    bypasses, and this function would call the network cut; :func:`input_dependence` answers for any
    architecture.

    Returns:
        ``{"layers": {layer: {"units": n, "reached": r, "live": k}}, "cut": [layers without a live unit],
        "break_at": [per cut chain, its first layer that no nonzero weight reaches from the input], "connected":
        bool}``; layers in chain order, each chain's first parent included. Once a chain is cut, none of its layers
        has a live unit; ``break_at`` says where the cut is.

    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2))
    >>> with torch.no_grad():
    ...     _ = net[2].weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    ...     _ = net[4].weight.copy_(torch.tensor([[0.0, 1.0], [0.0, 1.0]]))
    >>> out = live_units(net, [("0", "2"), ("2", "4")])  # unit 0 of layer 2 is reached, but leads nowhere
    >>> out["cut"], out["break_at"], out["layers"]["2"]
    (['0', '2', '4'], ['4'], {'units': 2, 'reached': 1, 'live': 0})
    """
    check_type(model, "model", nn.Module, "a torch.nn.Module")
    modules = dict(model.named_modules())
    chains: list[list[tuple[str, str, torch.Tensor]]] = []
    for pair in normalize_pairs(pairs):
        geom = pair_geometry(model, pair)
        w = effective_weight(modules[geom.child]).detach().reshape(geom.n_child, geom.n_parent, geom.spatial)
        link = ((w != 0).any(dim=2)).to(torch.float64)  # (N_child, N_parent)
        if not chains or chains[-1][-1][1] != geom.parent:
            chains.append([])
        chains[-1].append((geom.parent, geom.child, link))
    layers: dict[str, dict[str, int]] = {}
    break_at: list[str] = []
    for chain in chains:
        reached = [torch.ones(chain[0][2].shape[1], dtype=torch.bool)]
        for _, _, link in chain:
            reached.append((link @ reached[-1].to(link.dtype)) > 0)
        reaching = [torch.ones(chain[-1][2].shape[0], dtype=torch.bool)]
        for _, _, link in reversed(chain):
            reaching.insert(0, (link.T @ reaching[0].to(link.dtype)) > 0)
        names = [chain[0][0]] + [child for _, child, _ in chain]
        for name, r, e in zip(names, reached, reaching, strict=True):
            live, hit = int((r & e).sum()), int(r.sum())
            old = layers.get(name)
            layers[name] = {"units": int(r.numel()), "reached": hit if old is None else min(old["reached"], hit),
                            "live": live if old is None else min(old["live"], live)}  # fmt: skip
        unreached = [name for name, r in zip(names, reached, strict=True) if not r.any()]
        if unreached:
            break_at.append(unreached[0])
    cut = [name for name, v in layers.items() if v["live"] == 0]
    return {"layers": layers, "cut": cut, "break_at": break_at, "connected": not cut}


def input_dependence(
    model: nn.Module, images: torch.Tensor, *, layers: Sequence[str] | None = None, rtol: float = 1e-5
) -> dict:
    """Whether the output of ``model``, and of each layer, still depends on the input: a functional check of
    :func:`live_units`' question that holds for any architecture (residual streams, branches, pooling).

    A layer (or the network) that no path of nonzero weights reaches from the input outputs the same tensor for
    every image. ``images`` go through ``model`` once without gradients, every module in eval mode except the
    BatchNorm layers, which normalize with the batch's own statistics (as in the first step of retraining):
    masking leaves the dense network's running statistics stale, and with them a whole layer's ReLUs can be
    dead for every image although its weights still read the input, which retraining revives (VGG16-BN at
    75-83.5 % pruned, here: 12 of 108 masked networks constant in eval mode, 84-91 % after retraining). The
    model's modes and BatchNorm buffers are restored. A layer's output is *constant* when every image's output
    lies within ``rtol`` times the largest magnitude of that output (``0`` for an all-zero output) of the first
    image's. A network whose output is constant is cut: no retraining of its kept weights brings its accuracy
    above chance. A constant layer inside a residual branch (ResNet's basic block) leaves the network
    connected: its shortcut bypasses it.

    Args:
        model: any ``nn.Module`` (masked or not).
        images: ``(B, ...)`` a batch of at least two distinct inputs (on the model's device).
        layers: module names whose outputs to check (default: :func:`prunable_layers`).
        rtol: the relative tolerance of "the same output" (default ``1e-5``: float32 rounding of one
            computation repeated, far below the variation of any layer that reads the input).

    Returns:
        ``{"output_varies": bool, "constant": [layers whose output is the same for every image, in model
        order], "layers": {layer: bool, True where its output varies}}``.

    Raises:
        InvalidArgumentError: ``model`` not a module, ``images`` not a tensor of at least 2 distinct inputs, an
            unknown layer name, or ``rtol`` not positive.

    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> with torch.no_grad():
    ...     _ = net[2].weight.zero_()
    >>> out = input_dependence(net, torch.randn(8, 2))
    >>> out["output_varies"], out["constant"]
    (False, ['2'])
    """
    check_type(model, "model", nn.Module, "a torch.nn.Module")
    if not isinstance(images, torch.Tensor) or images.dim() < 1 or images.shape[0] < 2:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise InvalidArgumentError(f"Expected `images` as a (B, ...) tensor with B >= 2, but got {shape}")
    check_number(rtol, "rtol", low=0.0, low_open=True)
    modules = dict(model.named_modules())
    names = prunable_layers(model) if layers is None else list(layers)
    unknown = [n for n in names if n not in modules]
    if unknown:
        raise InvalidArgumentError(f"Expected `layers` among the model's modules, but got unknown {unknown}")

    batch = images.shape[0]

    def varies(y: object) -> bool:
        """Whether a tensor of the batch's first dimension (or any in a tuple, list or dict output) differs across
        the batch; a tensor of another shape (a scalar loss, say) says nothing about single images."""
        if isinstance(y, torch.Tensor):
            if y.dim() == 0 or y.shape[0] != batch:
                return False
            y = y.detach().reshape(batch, -1).to(torch.float64)
            scale = float(y[0].abs().max()) if y[0].numel() else 0.0
            return bool((y - y[0]).abs().max() > rtol * scale) if scale > 0 else bool(y.abs().max() > 0)
        if isinstance(y, (tuple, list, dict)):
            return any(varies(t) for t in (y.values() if isinstance(y, dict) else y))
        if y is None or isinstance(y, (bool, int, float, str)):
            return False
        raise InvalidArgumentError(
            f"Expected the model and its layers to return tensors (or tuples, lists, dicts of them), but got "
            f"{type(y).__name__}"
        )

    if not varies(images):
        raise InvalidArgumentError(
            f"Expected `images` that differ from one another, but all {images.shape[0]} are the same"
        )
    found: dict[str, bool] = {}

    def seen(name: str, y: object) -> None:  # a module called more than once varies if any call's output does
        found[name] = found.get(name, False) or varies(y)

    hooks = [modules[n].register_forward_hook(lambda _m, _i, y, n=n: seen(n, y)) for n in names]
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    buffers = [(m, {k: b.clone() for k, b in m.named_buffers(recurse=False) if b is not None}) for m in norms]
    with preserved_state(model):
        try:
            model.eval()
            for m in norms:
                m.train()
            with torch.no_grad():
                output = model(images)
        finally:
            for h in hooks:
                h.remove()
            for m, saved in buffers:
                for k, b in saved.items():
                    getattr(m, k).copy_(b)
    per_layer = {n: found[n] for n in names if n in found}
    return {
        "output_varies": varies(output),
        "constant": [n for n, v in per_layer.items() if not v],
        "layers": per_layer,
    }


def pruning_report(
    model: nn.Module,
    pairs: Sequence[Sequence[str]],
    *,
    accuracy_dense: float | None = None,
    accuracy_pruned: float | None = None,
    accuracy_retrained: float | None = None,
    memory_layers: Sequence[str] | None = None,
    total_params: int | None = None,
) -> dict:
    """The record of a pruned network (the paper's Table I and more), JSON-ready; the one every run writes.

    Returns:
        ``{"params_pruned_percent", "per_layer_pruned_percent": {layer: %}, "accuracy_dense",
        "accuracy_pruned", "accuracy_retrained" (percent, or None when not given), "csr_memory_mb",
        "disconnected": {child: {"child_without_inputs": count, "parent_without_outputs": count}}}``.

    Raises:
        InvalidArgumentError: an accuracy outside [0, 100] (a fraction passed for a percentage).
    """
    accuracy = {
        "accuracy_dense": accuracy_dense,
        "accuracy_pruned": accuracy_pruned,
        "accuracy_retrained": accuracy_retrained,
    }
    accuracy = {k: check_number(v, k, low=0.0, high=100.0, allow_none=True) for k, v in accuracy.items()}
    pruned = params_pruned_percent(model, total_params=total_params)
    disconnected = {
        child: {k: len(info[k]) for k in ("child_without_inputs", "parent_without_outputs")}
        for child, info in disconnected_units(model, pairs).items()
    }
    return {
        "params_pruned_percent": pruned["total"],
        "per_layer_pruned_percent": pruned["per_layer"],
        **accuracy,
        "csr_memory_mb": csr_memory_mb(model, layers=memory_layers),
        "disconnected": disconnected,
    }
