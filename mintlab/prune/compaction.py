"""Compaction: turn the units a masked network left disconnected into a smaller dense network.

MINT (Ganesh, Corso & Sekeh, ICPR 2020) prunes *connections* between groups of units: a masked
block zeroes every weight from a parent group into a child group (conv: whole ``kh×kw``
kernels). At high sparsity some units end with no outgoing or no incoming connection at all
(the paper's Fig. 5 shows later CNN layers >90 % pruned). :func:`compact` removes those units
physically and returns an ordinary dense ``nn.Module``; what is removed is exactly what the
masks disconnected (MINT stays a connection-pruning method, not channel pruning).

Rules, for each channel of a Conv2d / Linear output (with everything coupled to it):

* **no outgoing connection** (every weight reading it is zero, and it does not reach the
  model's output): removed with its incoming weights, bias and BatchNorm entries.
* **no incoming connection** (every weight writing it is zero): in eval mode it carries a
  constant (``act(bias)``, or ``act(BN(bias))``); the constant, measured at each reader's input,
  is folded into the reader's bias (linear: ``W[:, j] · c``; conv: ``c · Σ_{kh,kw} W[:, j]``),
  then the channel is removed. A convolution with zero padding sees the constant only inside
  the image, so the fold would be position-dependent: such a channel is removed only when its
  constant is exactly zero and is kept otherwise (counted as ``kept_padding``).
* channels coupled by a residual add are one Torch-Pruning group: they go only when the rule
  holds in every branch of the add.

The dependency analysis and the surgery are Torch-Pruning's (``tp.DependencyGraph``,
``get_all_groups``, ``group.prune()``; Fang et al., "DepGraph", CVPR 2023). mintlab adds the
decision (which channels the masks disconnected), the bias folding, and a guard: after every
group it compares the outputs with the masked model's and raises :class:`CompactionError` if
they differ by more than ``atol + rtol × max |output|``, so a wrong coupling never yields a silently different
model.

Where Torch-Pruning cannot express a case, the group is left whole (never a wrong model):

* ``F.pad`` along channels (the option-A shortcut of the CIFAR ResNets: the stage's first
  block zero-pads the identity from C to 2C channels). Torch-Pruning treats ``ConstantPadNd``
  as an element-wise op and couples channel ``i`` of the C-channel input with channel ``i`` of
  the 2C-channel sum, which is misaligned by the padding; it merges all three stages into one
  wrong group (measured on ``resnet56``). Groups containing a pad are therefore skipped: the
  residual-stream channels of such a ResNet stay, the channels inside each block (conv1 →
  conv2, where MINT's ResNet pairs act) are compacted.
* operations Torch-Pruning does not know (its "Unknown" element-wise op), grouped or
  depthwise convolutions, LayerNorm / GroupNorm / embeddings / attention in a group, a module
  called twice: skipped too.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch_pruning as tp
from torch import nn
from torch.nn.utils import prune as torch_prune

from mintlab.utils.model_state import checked_forward, copy_model, output_tensors

__all__ = ["CompactionError", "compact", "dense_copy", "has_masks"]

#: Element-wise ops (autograd node names, lower case, version suffix dropped) through which a channel keeps its
#: index and a constant stays constant. Anything else in a group makes compaction leave that group whole.
_CHANNELWISE_OPS = (
    "relu",
    "relu6",
    "hardtanh",
    "leakyrelu",
    "gelu",
    "silu",
    "sigmoid",
    "tanh",
    "elu",
    "softplus",
    "hardswish",
    "hardsigmoid",
    "mish",
    "add",
    "sub",
    "mul",
    "div",
    "neg",
    "clone",
    "t",
    "mean",
    "maxpool2dwithindices",
    "avgpool2d",
    "adaptiveavgpool2d",
    "adaptivemaxpool2d",
    "maxpool1dwithindices",
    "avgpool1d",
    "nativedropout",
    "dropout",
    "alias",
    "detach",
    "unsqueeze",
    "squeeze",
    "squeeze0",
    "squeeze1",
    "to_copy",
)

#: Relative tolerance for "this channel carries one constant value" (measured, float32).
_CONSTANT_RTOL = 1e-6


class CompactionError(ValueError):
    """Raised when compaction would change the model's outputs (a coupling it cannot honour)."""


def has_masks(model: nn.Module) -> bool:
    """Whether any module of ``model`` carries a ``torch.nn.utils.prune`` reparametrisation.

    >>> net = nn.Sequential(nn.Linear(2, 2))
    >>> has_masks(net)
    False
    >>> _ = torch_prune.identity(net[0], "weight")
    >>> has_masks(net)
    True
    """
    return any(torch_prune.is_pruned(m) for m in model.modules())


def _pruned_names(module: nn.Module) -> list[str]:
    return [h._tensor_name for h in module._forward_pre_hooks.values() if isinstance(h, torch_prune.BasePruningMethod)]


def dense_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with every prune reparametrisation made permanent; ``model`` is untouched.

    The copy is :func:`mintlab.utils.model_state.copy_model` (``copy.deepcopy`` alone fails on a pruned
    module); then ``torch.nn.utils.prune.remove`` turns each reparametrisation of the copy into a plain
    parameter holding the masked values.

    >>> net = nn.Sequential(nn.Linear(2, 2))
    >>> _ = torch_prune.custom_from_mask(net[0], "weight", torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    >>> d = dense_copy(net)
    >>> has_masks(d), has_masks(net), int((d[0].weight == 0).sum())
    (False, True, 2)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected `model` as a torch.nn.Module, but got {type(model).__name__}")
    return _copy_with(model, {})


def _copy_with(model: nn.Module, memo: dict[int, Any]) -> nn.Module:
    """:func:`dense_copy` with a deepcopy ``memo`` pre-filled (e.g. module id → its replacement)."""
    new = copy_model(model, memo=memo)
    for m in new.modules():
        for name in _pruned_names(m):
            torch_prune.remove(m, name)
    return new


# --------------------------------------------------------------------------- inputs and outputs


def _as_args(example_inputs: Any) -> tuple:
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,)
    if (
        isinstance(example_inputs, (tuple, list))
        and example_inputs
        and all(isinstance(x, torch.Tensor) for x in example_inputs)
    ):
        return tuple(example_inputs)
    raise TypeError(
        f"Expected `example_inputs` as a tensor or a tuple of tensors, but got {type(example_inputs).__name__}"
    )


def _verification_inputs(args: tuple) -> list[tuple]:
    """The user's inputs, plus a seeded random batch of the same shape where the inputs are float."""
    batches = [args]
    if all(torch.is_floating_point(a) for a in args):
        g = torch.Generator().manual_seed(0)
        extra = []
        for a in args:
            scale = float(a.detach().float().std()) if a.numel() > 1 else 1.0
            scale = max(scale, 1.0) if math.isfinite(scale) else 1.0
            extra.append((torch.randn(a.shape, generator=g) * scale).to(device=a.device, dtype=a.dtype))
        batches.append(tuple(extra))
    return batches


@torch.no_grad()
def _outputs(model: nn.Module, batches: list[tuple]) -> list[list[torch.Tensor]]:
    return [[o.detach().clone() for o in output_tensors(model(*b))] for b in batches]


def _max_diff(a: list[list[torch.Tensor]], b: list[list[torch.Tensor]]) -> float:
    worst = 0.0
    for xs, ys in zip(a, b, strict=True):
        if len(xs) != len(ys):
            return float("inf")
        for x, y in zip(xs, ys, strict=True):
            if x.shape != y.shape:
                return float("inf")
            if x.numel():
                worst = max(worst, float((x.double() - y.double()).abs().max()))
    return worst


@torch.no_grad()
def _record_inputs(model: nn.Module, batches: list[tuple]) -> dict[nn.Module, list[torch.Tensor]]:
    """The input of every Conv2d / Linear call, per verification batch (for the constant channels)."""
    seen: dict[nn.Module, list[torch.Tensor]] = defaultdict(list)
    handles = []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            handles.append(m.register_forward_pre_hook(lambda mod, inp: seen[mod].append(inp[0].detach())))
    try:
        for b in batches:
            model(*b)
    finally:
        for h in handles:
            h.remove()
    return seen


# --------------------------------------------------------------------------- the decision per group


def _op_name(module: nn.Module) -> str:
    """``"ReluBackward0"`` → ``"relu"``: the autograd node name of a Torch-Pruning element-wise op."""
    return re.sub(r"backward\d*$", "", str(getattr(module, "_grad_fn", "unknown")).lower())


def _reduces_channels(grad_fn: Any) -> bool:
    """Whether a reduction (``mean``) runs over dim 1, the channels (spatial means are channel-wise)."""
    dims = getattr(grad_fn, "_saved_dim", None)
    sizes = getattr(grad_fn, "_saved_self_sym_sizes", None)
    if dims is None or sizes is None:
        return False
    dims = [dims] if isinstance(dims, int) else list(dims)
    nd = max(len(sizes), 1)
    return any(((d - 2**64 if d >= 2**63 else d) % nd) == 1 for d in dims)


def _channel_values(inputs: list[torch.Tensor], idxs: list[int], conv: bool) -> torch.Tensor | None:
    """The one value each input channel/column in ``idxs`` carries in every recorded call, or None."""
    values = None
    for x in inputs:
        sel = x[:, idxs] if conv else x[..., idxs]
        sel = sel.transpose(0, 1).reshape(len(idxs), -1) if conv else sel.reshape(-1, len(idxs)).T
        first = sel[:, :1]
        scale = first.abs() + 1.0
        if not bool(((sel - first).abs() <= _CONSTANT_RTOL * scale).all()):
            return None
        if values is None:
            values = first[:, 0].clone()
        elif not bool(((values - first[:, 0]).abs() <= _CONSTANT_RTOL * (values.abs() + 1.0)).all()):
            return None
    return values


class _Group:
    """One Torch-Pruning group, read into producers / readers per root channel."""

    def __init__(self, dg: tp.DependencyGraph, group: Any, output_roots: set, called: Mapping[nn.Module, int]) -> None:
        self.group = group
        self.name = ""
        self.module_names: Mapping[nn.Module, str] = {}
        self.root = group[0].dep.target.module
        self.root_fn = group[0].dep.handler
        self.names = []
        self.problem: str | None = None
        self.reaches_output = False
        self.producers: list[tuple[nn.Module, dict[int, list[int]]]] = []
        self.readers: list[tuple[nn.Module, dict[int, list[int]]]] = []
        for item in group:
            node, fn = item.dep.target, item.dep.handler
            module = node.module
            self.names.append(node._name or repr(module))
            if item.root_idxs is None or any(r is None for r in item.root_idxs):
                self.problem = f"no root index for {node.name}"
                continue
            by_root: dict[int, list[int]] = defaultdict(list)
            for i, r in zip(item.idxs, item.root_idxs, strict=True):
                by_root[int(r)].append(int(i))
            is_in = dg.is_in_channel_pruning_fn(fn)
            if not is_in and (node.grad_fn in output_roots or isinstance(module, tp.ops._OutputOp) or not node.outputs):
                self.reaches_output = True
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                if isinstance(module, nn.Conv2d) and module.groups != 1:
                    self.problem = f"grouped convolution {node.name}"
                elif called.get(module, 0) > 1:
                    self.problem = f"module {node.name} is called {called[module]} times"
                elif is_in:
                    self.readers.append((module, by_root))
                else:
                    self.producers.append((module, by_root))
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                continue
            elif isinstance(
                module, (tp.ops._ReshapeOp, tp.ops._ConcatOp, tp.ops._SplitOp, tp.ops._SliceOp, tp.ops._OutputOp)
            ):
                continue
            elif isinstance(module, tp.ops._ElementWiseOp):
                op = _op_name(module)
                if op.startswith("constantpadnd"):
                    self.problem = f"a pad along channels ({node.name}): Torch-Pruning misaligns its channels"
                elif op not in _CHANNELWISE_OPS or _reduces_channels(node.grad_fn):
                    self.problem = f"an operation Torch-Pruning cannot map channel by channel ({node.name})"
            else:
                self.problem = f"a {type(module).__name__} ({node.name})"

    def n_channels(self) -> int:
        return self.root.out_channels if isinstance(self.root, nn.Conv2d) else self.root.out_features

    def disconnected_layers(self) -> list[str]:
        """Layers of the group with a unit whose weights are all zero on the group's side (mapping-free count)."""
        names = []
        for m, _ in self.readers:
            w = _weight(m).transpose(0, 1).reshape(_weight(m).shape[1], -1)
            if not bool(w.any(dim=1).all()):
                names.append(self.module_names.get(m, repr(m)))
        for m, _ in self.producers:
            if not bool(_weight(m).reshape(_weight(m).shape[0], -1).any(dim=1).all()):
                names.append(self.module_names.get(m, repr(m)))
        return names

    def decide(self, inputs: Mapping[nn.Module, list[torch.Tensor]], stats: dict) -> tuple[list[int], dict]:
        """Root channels to remove, and the bias corrections ``{reader: Δbias}`` for the constant ones."""
        removable, folds = [], {}
        if self.reaches_output:  # the model's own outputs stay, whatever their weights
            return [], {}
        for r in range(self.n_channels()):
            if (
                self.readers
                and not self.reaches_output
                and all(not bool(_weight(m)[:, idx[r]].any()) for m, idx in self.readers if r in idx)
            ):
                removable.append((r, None))
                continue
            if not self.producers or any(bool(_weight(m)[idx[r]].any()) for m, idx in self.producers if r in idx):
                continue
            fold = self._fold(r, inputs, stats)
            if fold is not None:
                removable.append((r, fold))
        if len(removable) == self.n_channels():  # a layer keeps at least one channel; prefer keeping a folded one
            removable.sort(key=lambda rf: rf[1] is None)
            removable = removable[1:]
        for _, fold in removable:
            for m, delta in (fold or {}).items():
                folds[m] = folds.get(m, 0) + delta
        dead = sum(1 for _, f in removable if f is None)
        stats["removed_no_outputs"] += dead
        stats["removed_constant"] += len(removable) - dead
        return sorted(r for r, _ in removable), folds

    def _fold(self, r: int, inputs: Mapping[nn.Module, list[torch.Tensor]], stats: dict) -> dict | None:
        fold = {}
        for m, idx in self.readers:
            if r not in idx:
                continue
            conv = isinstance(m, nn.Conv2d)
            values = _channel_values(inputs.get(m, []), idx[r], conv) if inputs.get(m) else None
            if values is None:
                return None
            w = _weight(m)[:, idx[r]]
            if conv:
                if any(p != 0 for p in _padding(m)) and bool(values.any()):
                    stats["kept_padding"] += 1
                    if stats["strict"]:
                        raise CompactionError(
                            f"Layer {self.name!r}: channel {r} has no inputs and carries the constant "
                            f"{float(values.abs().max()):.3g} into the zero-padded convolution {type(m).__name__}; "
                            "its contribution depends on the position, so it cannot be folded into a bias "
                            "(strict=True; the default keeps such channels)"
                        )
                    return None
                w = w.sum(dim=(2, 3))
            fold[m] = w.to(torch.float64) @ values.to(torch.float64)
        return fold


def _weight(m: nn.Module) -> torch.Tensor:
    return m.weight.detach()


def _padding(m: nn.Conv2d) -> tuple[int, ...]:
    if isinstance(m.padding, str):
        return (0,) if m.padding == "valid" else (1,)
    return tuple(m.padding)


def _add_to_bias(m: nn.Module, delta: torch.Tensor) -> None:
    delta = delta.to(m.weight.dtype)
    if m.bias is None:
        m.bias = nn.Parameter(torch.zeros(m.weight.shape[0], dtype=m.weight.dtype, device=m.weight.device))
    with torch.no_grad():
        m.bias.add_(delta.to(m.bias.device))


# --------------------------------------------------------------------------- entry point


def compact(
    model: nn.Module,
    example_inputs: torch.Tensor | Sequence[torch.Tensor],
    *,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    require_masks: bool = True,
    strict: bool = False,
    return_info: bool = False,
) -> nn.Module | tuple[nn.Module, dict]:
    """A new dense module without the units the masks disconnected; equal outputs in eval mode.

    Args:
        model: a network pruned with ``torch.nn.utils.prune`` masks (as
            :func:`mintlab.prune.masks.apply_masks` installs them). Not modified (a copy is compacted).
        example_inputs: a batch ``(N, ...)`` (or a tuple of tensors for ``model(*inputs)``) to
            trace the graph, measure the constant channels and verify the result; a seeded
            random batch of the same shape is added for the check where inputs are float.
        atol, rtol: the largest output difference allowed against the masked model (float32, eval mode) is
            ``atol + rtol × max |output|``. Removing a channel whose weights are all zero changes float32 sums only
            in their order, by a few units in the last place per layer: a deep CNN's logits (tens, and hundreds on
            the random check batch) then move by ~1e-4, which ``rtol`` admits; a channel that still mattered moves
            them by far more.
        require_masks: raise if ``model`` has no masks (default). ``False`` compacts the plain
            zeros of a model whose masks were made permanent.
        strict: raise :class:`CompactionError` (naming the layer) where a disconnected unit must
            stay: a coupling compaction cannot honour (e.g. the channel-padding shortcut) or a
            constant read by a zero-padded convolution. By default such units stay in place, a
            ``UserWarning`` names the layers of the first kind, and ``info`` counts both.
        return_info: also return ``{"removed_no_outputs", "removed_constant", "kept_padding",
            "skipped_groups": {root layer: reason}, "passes", "max_abs_diff", "params_before",
            "params_after"}``.

    Returns:
        An ordinary ``nn.Module`` (the model's own classes, fewer channels) in eval mode, or
        ``(module, info)``. Removing a unit can disconnect another, so the groups are visited
        until nothing more goes.

    Raises:
        TypeError: ``model`` is not a module or ``example_inputs`` not tensors.
        ValueError: ``model`` has no pruning masks (with ``require_masks``), or ``atol`` < 0.
        CompactionError: removing the channels of a group changed the outputs by more than
            ``atol`` (the message names the group's layers), or, with ``strict``, a disconnected
            unit could not be removed. The input model is untouched.

    >>> net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> _ = torch_prune.custom_from_mask(net[2], "weight", torch.tensor([[1.0, 0, 1], [1, 0, 1]]))
    >>> small = compact(net, torch.randn(5, 4))
    >>> small[0].out_features, small[2].in_features, has_masks(net)
    (2, 2, True)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected `model` as a torch.nn.Module, but got {type(model).__name__}")
    args = _as_args(example_inputs)
    for name, value in (("atol", atol), ("rtol", rtol)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"Expected `{name}` as a number >= 0, but got {value!r}")
    if require_masks and not has_masks(model):
        raise ValueError(
            "Expected `model` pruned with torch.nn.utils.prune masks (weight_orig / weight_mask), but got a model "
            "without any; pass require_masks=False to compact the plain zeros of a dense model"
        )
    work = dense_copy(model).eval()
    grad_flags = {n: p.requires_grad for n, p in work.named_parameters()}
    for p in work.parameters():
        p.requires_grad_(True)
    batches = _verification_inputs(args)
    first = checked_forward(work, *batches[0], name="example_inputs")  # a shape the network does not take: said
    reference = [[o.detach().clone() for o in output_tensors(first)]] + _outputs(work, batches[1:])
    scale = max((float(o.abs().max()) for outs in reference for o in outs if o.numel()), default=0.0)
    tolerance = (float(atol) + float(rtol) * scale, f"atol {atol} + rtol {rtol} × max |output| {scale:.3g}")
    params_before = sum(p.numel() for p in work.parameters())
    stats = {
        "removed_no_outputs": 0,
        "removed_constant": 0,
        "kept_padding": 0,
        "skipped_groups": {},
        "passes": 0,
        "strict": bool(strict),
        "warned": set(),
    }
    worst = 0.0
    for _ in range(64):
        stats["passes"] += 1
        stats["kept_padding"] = 0
        removed_this_pass = _one_pass(work, args, batches, reference, tolerance, stats)
        worst = max(worst, _max_diff(reference, _outputs(work, batches)))
        if not removed_this_pass:
            break
    for n, p in work.named_parameters():
        p.requires_grad_(grad_flags.get(n, True))
    stats["max_abs_diff"] = worst
    del stats["strict"], stats["warned"]
    stats["params_before"] = params_before
    stats["params_after"] = sum(p.numel() for p in work.parameters())
    return (work, stats) if return_info else work


def _one_pass(
    work: nn.Module, args: tuple, batches: list[tuple], reference: list, tolerance: tuple[float, str], stats: dict
) -> int:
    output_roots: set = set()
    called: dict[nn.Module, int] = defaultdict(int)
    hooks = [
        m.register_forward_pre_hook(lambda mod, inp: called.__setitem__(mod, called[mod] + 1))
        for m in work.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]

    def forward(m: nn.Module, x: tuple) -> Any:
        out = m(*x)
        output_roots.update(o.grad_fn for o in output_tensors(out) if o.grad_fn is not None)
        return out

    try:
        with torch.enable_grad():
            dg = tp.DependencyGraph().build_dependency(work, example_inputs=args, forward_fn=forward, verbose=False)
    finally:
        for h in hooks:
            h.remove()
    inputs = _record_inputs(work, batches)
    removed = 0
    for group in dg.get_all_groups(root_module_types=(nn.Conv2d, nn.Linear)):
        g = _Group(dg, group, output_roots, called)
        g.module_names = dg._module2name
        root_name = dg._module2name.get(g.root, repr(g.root))
        g.name = root_name
        if g.problem is not None:
            stats["skipped_groups"][root_name] = g.problem
            layers = g.disconnected_layers()
            if layers:
                message = (
                    f"Layer {root_name!r} and its coupled layers: units without inputs or outputs in "
                    f"{sorted(set(layers))[:8]} stay (disconnected channels left in place) because "
                    f"compaction cannot honour their coupling: {g.problem}"
                )
                if stats["strict"]:
                    raise CompactionError(message + " (strict=True)")
                if message not in stats["warned"]:  # once, not once per pass
                    stats["warned"].add(message)
                    warnings.warn(message, stacklevel=3)
            continue
        idxs, folds = g.decide(inputs, stats)
        if not idxs:
            continue
        for m, delta in folds.items():
            _add_to_bias(m, delta)
        dg.get_pruning_group(g.root, g.root_fn, idxs).prune()
        removed += len(idxs)
        diff = _max_diff(reference, _outputs(work, batches))
        if not diff <= tolerance[0]:
            raise CompactionError(
                f"Removing {len(idxs)} disconnected channel(s) of layer {root_name!r} changed the outputs by "
                f"{diff:.3g} > {tolerance[0]:.3g} ({tolerance[1]}) (coupled: "
                f"{', '.join(sorted(set(g.names)))[:400]}); Torch-Pruning's dependency graph does not express this "
                "coupling, so the masks cannot be compacted here"
            )
    return removed
