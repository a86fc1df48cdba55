"""The paper's prunable layer pairs and pruning settings (Appendix B, Table I), and the check of a user's pairs.

The check of a pair's adjacency (with an example input) traces the network with Torch-Pruning's
dependency graph (``tp.DependencyGraph``; Fang et al., "DepGraph", CVPR 2023).

Module names (what :func:`layer_pairs` and the pipeline refer to) are those of
:mod:`mintlab.nets.models`; see its docstring for the paper's numbering of each network.
"""

from __future__ import annotations

import difflib
import traceback
import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from mintlab.nets.models import _model_key

__all__ = ["paper_layer_names", "layer_pairs", "PAPER_SETTINGS", "validate_layer_pairs"]

Pair = tuple[str, str]


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
            "reported": {
                "params_pruned": 96.01,
                "accuracy": 98.47,
                "baseline_accuracy": 98.59,
                "memory_mb": 0.025,
                "note": "params pruned of fc2 only (Table I, *)",
            },
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
#: :data:`mintlab.nets.recipes.RECIPES`; ``reported`` — Table I's figures.
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


def validate_layer_pairs(
    model: nn.Module,
    pairs: Sequence[Sequence[str]],
    *,
    example: torch.Tensor | tuple | None = None,
    example_name: str = "example",
) -> list[Pair]:
    """Check that every (parent, child) names a Conv2d/Linear of ``model`` and that they chain.

    A pair chains when the parent's outputs are the child's inputs: conv→conv and
    linear→linear need equal counts, linear→conv ``out_features == in_channels``, and
    conv→linear (through a flatten) ``in_features`` a multiple of ``out_channels``.
    Grouped or depthwise child convolutions are not supported.

    Counts alone cannot tell a pair whose layers are not adjacent (``("conv1", "fc")`` with
    other convolutions in between, a pair written the wrong way round) from a real one. With
    ``example`` the network is also traced (one forward pass, in eval mode, the model left
    as found) by Torch-Pruning's dependency graph (``tp.DependencyGraph``; Fang et al.,
    "DepGraph", CVPR 2023), and each pair must be *adjacent*: the parent's output reaches
    the child's input through no Conv/Linear in between (BatchNorm, activations, pooling,
    dropout, a flatten, a residual add and depthwise convolutions keep the channels and
    may be), and pruning the parent's output channels couples the child's inputs one for
    one: input ``i`` of a conv/linear child to parent channel ``i``, and input ``i`` of a
    linear child behind a flatten of ``s`` positions per channel to channel ``i // s``
    (channel-major). Torch-Pruning treats operations it does not know as element-wise
    (channel ``c`` stays ``c``), and its index mapping errs on some splits and
    concatenations. Where an operation that can reorder channels (transpose, permute,
    flip, roll, indexing, gather, channel shuffle) lies between parent and child, or the
    mapping is unreadable or says misaligned, a probe decides: one forward pass perturbs 4
    of the parent's output channels (each up and down, in rows of one batch) and looks at
    which child inputs move. A channel that moves inputs but none of its own (a shuffle, a
    flip), or no channel moving any input, refuses the pair; every channel moving only its
    own inputs accepts it (ConvNeXt's channels-last Linear); anything else (a normalization
    over channels spreads the change) accepts it with a warning that the correspondence was
    not verified. Not detected: a split and concatenation that swap channel blocks
    (``cat([b, a])`` after ``chunk``) where Torch-Pruning maps them as identity. Where
    Torch-Pruning cannot trace the model (parameters made under ``inference_mode``, an
    operation it cannot handle), or a module of a pair runs more
    than once per forward pass or its autograd graph is cut (``no_grad``/``detach`` inside
    the forward), a ``UserWarning`` says so and only the counts are checked; one warning
    per reason lists the pairs. The model's output may hold other values than tensors
    (``None`` in a dict); the caller's ``no_grad`` or ``inference_mode`` and an
    inference-mode example are fine. Cost, measured on 2 CPU cores: 0.05 s for
    VGG16-BN's 10 pairs, ≈ 1 s for ResNet56's 50 or ResNet50's 109 at 224 × 224, 6–25 s
    for ViT-B/16's 78 (each residual-stream pair asks Torch-Pruning for a group that spans
    every block), 23 s for ConvNeXt-T's 40 at 224 × 224 (probes: 8 rows of one example per
    pair behind a permute).

    Args:
        model: the network.
        pairs: (parent, child) module names.
        example: one batch the model accepts (a tensor, or a tuple of its positional
            arguments), on the model's device; ``None``: counts only.
        example_name: what the caller calls ``example`` (e.g. ``"dataset"`` when it is the
            dataset's first item), in the error raised when the model does not take it.

    Returns:
        The pairs as a list of ``(str, str)`` tuples.

    Raises:
        TypeError: ``pairs`` is not a sequence of two names.
        RuntimeError: (or the type torch raised) the model's forward pass fails on ``example``; the
            message names ``example_name`` and the batch's shape
            (:func:`mintlab.utils.model_state.checked_forward`).
        ValueError: an unknown name (the message lists close matches and the prunable
            names), a module that is not Conv2d/Linear, a pair that does not chain, or (with
            ``example``) a pair that is not adjacent (the message names the layers next to
            the parent and to the child) or a module of a pair that does not run.

    Warns:
        UserWarning: with ``example``, adjacency could not be verified (see above).

    >>> from mintlab.nets.models import MLP
    >>> validate_layer_pairs(MLP(), [("fc1", "fc2")])
    [('fc1', 'fc2')]
    >>> net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> try:
    ...     validate_layer_pairs(net, [("0", "4")], example=torch.zeros(1, 4))
    ... except ValueError as err:
    ...     print(str(err)[:94])
    Pair ('0', '4') is not adjacent: the child's input does not carry the parent's output channels
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
                raise TypeError(
                    f"Expected the {role} of {pair!r} as a module name (str), but got {type(name).__name__}"
                )
            if name not in modules:
                close = difflib.get_close_matches(name, prunable, n=3)
                hint = f"; close matches: {close}" if close else ""
                shown = prunable if len(prunable) <= 40 else prunable[:40] + ["..."]
                raise ValueError(
                    f"Unknown {role} module {name!r} in pair {tuple(pair)}{hint}; Conv2d/Linear modules: {shown}"
                )
            if not _kind(modules[name]):
                raise ValueError(
                    f"Expected the {role} {name!r} of pair {tuple(pair)} to be Conv2d or Linear, "
                    f"but got {type(modules[name]).__name__}"
                )
        p, c = modules[parent], modules[child]
        if isinstance(c, nn.Conv2d) and c.groups != 1:
            raise ValueError(
                f"Pair {tuple(pair)}: grouped convolutions (groups={c.groups}) are not supported as a child"
            )
        p_out = p.out_channels if isinstance(p, nn.Conv2d) else p.out_features
        c_in = c.in_channels if isinstance(c, nn.Conv2d) else c.in_features
        chains = c_in % p_out == 0 if (_kind(p), _kind(c)) == ("conv", "linear") else c_in == p_out
        if not chains:
            raise ValueError(
                f"Pair {tuple(pair)} does not chain: parent {_describe(parent, p)} gives {p_out} outputs, "
                f"child {_describe(child, c)} takes {c_in} inputs"
            )
        out.append((parent, child))
    if example is not None:
        _check_adjacent(model, out, example, example_name)
    return out


#: Torch-Pruning node types that mix channels: the layers a pair may not have in between (a depthwise
#: convolution, ``OPTYPE.DEPTHWISE_CONV``, keeps channel ``c`` as channel ``c`` and is not among them).
_MIXING_TYPES = ("CONV", "LINEAR", "LSTM", "MHA", "EMBED")


def _nearest_layers(node: Any, direction: str, mixing: tuple) -> list[Any]:
    """The channel-mixing nodes first met from ``node`` along ``direction`` (``"outputs"`` or ``"inputs"``)."""
    seen, stack, found = {node}, list(getattr(node, direction)), []
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if n.type in mixing:
            found.append(n)
        else:
            stack.extend(getattr(n, direction))
    return found


#: Torch-Pruning steps after the graph is built: when only these fail, adjacency is still checked.
_MAPPING_STEPS = ("init_shape_information", "update_index_mapping")


def _trace(
    model: nn.Module, example: torch.Tensor | tuple, example_name: str, names: set[str]
) -> tuple[Any, Counter, bool] | None:
    """Torch-Pruning's dependency graph of ``model``, how often each of ``names`` ran, and whether its channel
    index mapping is complete; ``None`` (warned) when Torch-Pruning cannot trace it. An error of the model's own
    forward pass is raised."""
    import torch_pruning as tp

    from mintlab.utils.model_state import checked_forward, output_tensors, preserved_state

    modules = dict(model.named_modules())
    calls: Counter = Counter()
    failed: list[bool] = []

    def forward(m: nn.Module, args: tuple) -> Any:
        try:
            return output_tensors(checked_forward(m, *args, name=example_name))
        except Exception:
            failed.append(True)
            raise

    args = example if isinstance(example, tuple) else (example,)
    dg = tp.DependencyGraph()
    mapping_ok = True
    # autograd is the tracer: on, even inside the caller's no_grad or inference_mode, and the example copied
    # out of inference mode (an inference tensor cannot be saved for backward)
    with preserved_state(model), torch.inference_mode(False), torch.enable_grad():
        args = tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)
        for n in names:
            modules[n].register_forward_pre_hook(lambda _m, _i, _n=n: calls.update([_n]))
        try:
            for param in model.parameters():
                param.requires_grad_(True)  # fails for a model built under inference_mode: counts only then
            dg.build_dependency(model, example_inputs=args, forward_fn=forward, verbose=False)
        except Exception as err:  # noqa: BLE001 - any failure of the tracer falls back to the counts
            if failed:
                raise
            steps = {frame.name for frame in traceback.extract_tb(err.__traceback__)}
            if not steps & set(_MAPPING_STEPS) or not getattr(dg, "module2node", None):
                warnings.warn(
                    f"Could not verify that the layer pairs are adjacent: Torch-Pruning could not trace "
                    f"the model ({type(err).__name__}: {err}); only the channel counts were checked",
                    stacklevel=4,
                )
                return None
            mapping_ok = False  # the graph is whole; which input carries which channel is not known
    return dg, calls, mapping_ok


def _check_adjacent(model: nn.Module, pairs: list[Pair], example: torch.Tensor | tuple, example_name: str) -> None:
    """Raise ``ValueError`` for a pair that is not adjacent (see :func:`validate_layer_pairs`)."""
    from torch_pruning.ops import OPTYPE

    traced = _trace(model, example, example_name, {n for pair in pairs for n in pair})
    if traced is None:
        return
    dg, calls, mapping_ok = traced
    mixing = tuple(getattr(OPTYPE, t) for t in _MIXING_TYPES)
    identity = tuple(getattr(OPTYPE, t) for t in _CHANNEL_PRESERVING_TYPES)
    unverified: dict[str, list[Pair]] = {}
    modules = dict(model.named_modules())
    module_names = {m: n for n, m in reversed(modules.items())}  # a module's first name
    order = {m: k for k, m in enumerate(modules.values())}

    def names(nodes: list[Any]) -> str:  # in the model's module order
        ordered = sorted({n.module: None for n in nodes}, key=lambda m: order.get(m, len(order)))
        shown = [module_names.get(m, type(m).__name__) for m in ordered]
        return ", ".join(shown[:4] + (["..."] if len(shown) > 4 else [])) or "no layer"

    for parent, child in pairs:
        p, c = modules[parent], modules[child]
        for role, name in (("parent", parent), ("child", child)):
            if calls[name] == 0:
                raise ValueError(
                    f"Expected both modules of pair {(parent, child)} to run in the forward pass, but "
                    f"the {role} {name!r} was not called (a layer whose weights its owner reads without "
                    "calling it, such as nn.MultiheadAttention's out_proj, cannot be in a pair)"
                )
        if calls[parent] > 1 or calls[child] > 1:
            unverified.setdefault(
                "a module of the pair runs more than once per forward pass (shared weights); "
                "only the channel counts were checked",
                [],
            ).append((parent, child))
            continue
        if p not in dg.module2node or c not in dg.module2node:
            unverified.setdefault(
                "the autograd graph from a module of the pair to the model's output is cut "
                "(no_grad, detach or inference_mode inside the forward pass), and Torch-Pruning "
                "traces through it; only the channel counts were checked",
                [],
            ).append((parent, child))
            continue
        p_node, c_node = dg.module2node[p], dg.module2node[c]
        if c_node not in _nearest_layers(p_node, "outputs", mixing):
            reversed_hint = (
                f"; the pair looks reversed: {child}'s output reaches {parent}"
                if p_node in _nearest_layers(c_node, "outputs", mixing)
                else ""
            )
            raise ValueError(
                f"Pair {(parent, child)} is not adjacent: the child's input does not carry the parent's output "
                f"channels. {parent}'s output goes first to {names(_nearest_layers(p_node, 'outputs', mixing))}, and "
                f"{child}'s input comes from {names(_nearest_layers(c_node, 'inputs', mixing))} (traced by "
                f"Torch-Pruning){reversed_hint}; choose as parent the layer whose output the child reads"
            )
        between = _between(p_node, c_node, mixing)
        reorder = sorted({_op_name(n) for n in between if _op_name(n).startswith(_REORDERING_OPS)})
        if reorder:
            reason = (
                f"an operation between parent and child that may reorder channels ({', '.join(reorder)}), which "
                "Torch-Pruning maps channel for channel"
            )
        elif all(n.type in identity for n in between):
            continue  # only channel-preserving operations in between: input i carries channel i
        elif not mapping_ok:
            reason = "Torch-Pruning could not map the channel indices of this network"
        else:
            reason, wrong = _check_coupling(dg, (parent, child), p, c)
            if wrong is not None:  # Torch-Pruning's mapping says misaligned; its mapping errs, so the probe decides
                if _probe_channels(model, (parent, child), example, "Torch-Pruning maps them out of order"):
                    continue
                raise ValueError(wrong)
        if reason and _probe_channels(model, (parent, child), example, reason):
            continue  # the probe saw every probed channel arrive at its own inputs
        if reason:
            unverified.setdefault(
                f"which parent channel each input carries could not be verified: {reason}; "
                "adjacency and channel counts were checked",
                [],
            ).append((parent, child))
    for reason, listed in unverified.items():
        shown = ", ".join(map(str, listed[:6])) + (f" and {len(listed) - 6} more" if len(listed) > 6 else "")
        warnings.warn(f"Could not fully verify layer pair(s) {shown}: {reason}", UserWarning, stacklevel=3)


#: How many parent channels :func:`_probe_channels` perturbs (spread over the layer), each up and down.
_PROBED_CHANNELS = 4


def _probe_channels(model: nn.Module, pair: Pair, example: torch.Tensor | tuple, reason: str) -> bool:
    """Perturb a few of the parent's output channels in one forward pass and see which child inputs move.

    Run only where Torch-Pruning's mapping cannot be trusted (``reason``). One batch holds the example and,
    per probed channel ``j``, two copies whose parent output has ``j`` raised and lowered by more than the
    output's range. Returns True when every probed channel that reaches the child moves only its own inputs
    (``j``, or the ``s`` inputs ``j·s … j·s+s−1`` of a linear child behind a flatten); raises ``ValueError``
    when one moves inputs but none of its own (the channels were reordered on the way: a shuffle, a flip,
    a swapped concatenation) or when none moves any input (the child does not read the parent: a split that
    passes on the other half); returns False when it is unclear (a perturbation that spreads, e.g. through a
    normalization over channels, or that no probe reached).
    """
    modules = dict(model.named_modules())
    p, c = modules[pair[0]], modules[pair[1]]
    n_out = p.out_channels if isinstance(p, nn.Conv2d) else p.out_features
    n_in = c.in_channels if isinstance(c, nn.Conv2d) else c.in_features
    per = n_in // n_out
    spread = (n_out - 1) / max(_PROBED_CHANNELS - 1, 1)
    probed = sorted({round(k * spread) for k in range(min(_PROBED_CHANNELS, n_out))})
    batch = 1 + 2 * len(probed)
    args = example if isinstance(example, tuple) else (example,)
    args = tuple(torch.cat([a[:1]] * batch) if isinstance(a, torch.Tensor) and a.dim() else a for a in args)
    seen: list[torch.Tensor] = []

    def perturb(_m: nn.Module, _i: Any, out: torch.Tensor) -> torch.Tensor:
        out = out.clone()
        dim = 1 if isinstance(p, nn.Conv2d) else out.dim() - 1
        step = 1.0 + float(out.detach().abs().max())
        for k, j in enumerate(probed):
            out.select(0, 1 + 2 * k).select(dim - 1, j).add_(step)
            out.select(0, 2 + 2 * k).select(dim - 1, j).sub_(step)
        return out

    from mintlab.utils.model_state import preserved_state

    with preserved_state(model), torch.no_grad():
        model.eval()
        p.register_forward_hook(perturb)
        c.register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0].detach()))
        try:
            model(*args)
        except Exception:  # noqa: BLE001 - a network that cannot take the batch: the probe says nothing
            return False
    if len(seen) != 1 or seen[0].shape[0] != batch:
        return False
    x = seen[0]
    x = x.movedim(1, -1) if isinstance(c, nn.Conv2d) else x  # inputs along the last axis
    moved = (x[1:] != x[:1]).reshape(batch - 1, -1, x.shape[-1]).any(dim=1)  # (probes, inputs)
    if not moved.any():
        raise ValueError(
            f"Pair {pair} is not adjacent: raising or lowering {len(probed)} of the parent's output channels moves "
            f"none of the child's inputs (found by perturbing them because {reason}); choose as parent the layer "
            "whose output the child reads"
        )
    clear, spill = True, None
    for k, j in enumerate(probed):
        hit = torch.nonzero(moved[2 * k] | moved[2 * k + 1]).flatten().tolist()
        own = set(range(j * per, (j + 1) * per))
        if hit and not own & set(hit):
            raise ValueError(
                f"Pair {pair} is not adjacent channel for channel: raising the parent's output channel {j} moves the "
                f"child's inputs {hit[:6]}{' …' if len(hit) > 6 else ''}, none of its own "
                f"{sorted(own)[:6]}{' …' if len(own) > 6 else ''} (the channels are reordered between them; found "
                f"by perturbing {len(probed)} parent channels because {reason}); choose as parent the layer whose "
                "output the child reads in order"
            )
        if per > 1 and hit and not set(hit) <= own and spill is None:
            spill = (j, hit, own)  # decided after every probe: a channel moved none of its own inputs says more
        clear = clear and bool(hit) and set(hit) <= own
    if spill is not None:  # a flatten that does not keep a channel's inputs together
        j, hit, own = spill
        raise ValueError(
            f"Pair {pair} is not adjacent channel for channel: the child reads {per} inputs per parent channel, "
            f"but raising the parent's output channel {j} moves the child's inputs {hit[:6]}"
            f"{' …' if len(hit) > 6 else ''} instead of {sorted(own)[:3]} … {sorted(own)[-1]} (a channels-last "
            "flatten, e.g. a permute before the reshape; mintlab's masks assume the channel-major order of "
            "torch.flatten); flatten channel-major, or choose another pair"
        )
    return clear


#: Torch-Pruning node types that keep channel ``c`` as channel ``c`` (with no other such nodes between parent and
#: child, Torch-Pruning's index mapping need not be asked: cheaper on deep residual streams)
_CHANNEL_PRESERVING_TYPES = ("ELEMENTWISE", "BN", "LN", "GN", "IN", "PRELU", "DEPTHWISE_CONV")

#: autograd operations (``grad_fn`` names) that can move channel ``c`` to another position; Torch-Pruning treats
#: them as element-wise (channel ``c`` stays ``c``), so a pair with one in between is accepted with a warning
_REORDERING_OPS = (
    "Transpose",
    "Permute",
    "Flip",
    "Roll",
    "Index",
    "Gather",
    "NativeChannelShuffle",
    "ChannelShuffle",
    "Take",
    "Scatter",
)


def _op_name(node: Any) -> str:
    """The autograd operation (``"PermuteBackward0"``) of a Torch-Pruning node it treats as element-wise, or ``""``."""
    from torch_pruning.ops import OPTYPE

    grad_fn = getattr(node, "grad_fn", None)
    return type(grad_fn).__name__ if node.type == OPTYPE.ELEMENTWISE and grad_fn is not None else ""


def _between(parent: Any, child: Any, mixing: tuple) -> set:
    """The nodes on paths from ``parent`` to ``child`` that pass no channel-mixing layer."""

    def reach(start: Any, direction: str) -> set:
        seen, stack = set(), list(getattr(start, direction))
        while stack:
            n = stack.pop()
            if n in seen or n.type in mixing:
                continue
            seen.add(n)
            stack.extend(getattr(n, direction))
        return seen

    return reach(parent, "outputs") & reach(child, "inputs")


def _check_coupling(dg: Any, pair: Pair, p: nn.Module, c: nn.Module) -> tuple[str | None, str | None]:
    """Read from Torch-Pruning's index mapping whether pruning all of ``p``'s output channels couples each input of
    ``c`` to the parent channel it carries (``i``, or ``i // s`` behind a flatten of ``s`` positions per channel).

    Returns ``(why it cannot be read, or None; the misalignment found, or None)``.
    """
    n_out = p.out_channels if isinstance(p, nn.Conv2d) else p.out_features
    n_in = c.in_channels if isinstance(c, nn.Conv2d) else c.in_features
    per_channel = n_in // n_out
    group = dg.get_pruning_group(p, dg.get_pruner_of_module(p).prune_out_channels, list(range(n_out)))
    roots: dict[int, set] = {}
    for item in group:
        if item.dep.target.module is c and dg.is_in_channel_pruning_fn(item.dep.handler):
            if item.root_idxs is None or any(r is None for r in item.root_idxs):
                return "Torch-Pruning keeps no index mapping here", None
            for i, r in zip(item.idxs, item.root_idxs, strict=True):
                roots.setdefault(int(i), set()).add(int(r))
    if not roots:
        return (
            "Torch-Pruning's index mapping couples none of the child's inputs to the parent's channels (it "
            "misreads a concatenation or split here)"
        ), None
    if max(roots) >= n_in or max(max(r) for r in roots.values()) >= n_out:
        return (
            "Torch-Pruning's index mapping gives channel indices beyond the layers' sizes (it misreads a "
            "reshape, concatenation or split here)"
        ), None
    wrong = [i for i in range(n_in) if roots.get(i) != {i // per_channel}]
    if wrong:
        i = wrong[0]
        return None, (
            f"Pair {pair} is not adjacent: the child's input does not carry the parent's output channels one for one. "
            f"Torch-Pruning couples {len(roots)} of the child's {n_in} inputs to the parent's {n_out} outputs; input "
            f"{i} carries parent unit(s) {sorted(roots.get(i, ())) or 'none'}, expected {i // per_channel}; choose "
            "as parent the layer whose output the child reads"
        )
    return None, None
