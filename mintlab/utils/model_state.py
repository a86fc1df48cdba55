"""Leave a model exactly as it was found: modes, ``requires_grad``, gradients, devices and hooks.

Every public mintlab function that takes a model and is not meant to change it (evaluation, scoring,
activation collection, characterization) runs inside :func:`preserved_state`. Setting
``model.train(was_training)`` afterwards is *not* enough: ``train(True)`` also un-freezes a BatchNorm
the caller had put in eval mode on purpose (``bn.eval()`` to freeze its running statistics), so the
mode of every module is recorded and restored one by one.

>>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2)).train()
>>> _ = net[1].eval()  # a frozen BatchNorm
>>> with preserved_state(net):
...     _ = net.eval()
...     _ = net[0].weight.requires_grad_(False)
...     _ = net.train()
>>> net.training, net[1].training, net[0].weight.requires_grad
(True, False, True)
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune

from mintlab.utils.checks import check_type

__all__ = [
    "ModelState",
    "capture_state",
    "checked_forward",
    "copy_model",
    "describe_state",
    "output_tensors",
    "preserved_state",
    "restore_state",
]

#: The per-module hook dictionaries of ``torch.nn.Module`` whose entries are restored (added hooks removed).
_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks_with_kwargs",
    "_state_dict_hooks",
    "_state_dict_pre_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
)


@dataclass
class ModelState:
    """What :func:`restore_state` puts back (references to the model's own objects, no copies of weights)."""

    training: list[tuple[nn.Module, bool]] = field(default_factory=list)
    parameters: list[tuple[nn.Module, str, nn.Parameter, bool, torch.Tensor | None, torch.device]] = field(
        default_factory=list
    )
    buffers: list[tuple[nn.Module, str, torch.device]] = field(default_factory=list)
    hooks: list[tuple[nn.Module, str, list[Any]]] = field(default_factory=list)


def capture_state(model: nn.Module) -> ModelState:
    """Record every module's ``training`` flag and hooks, every parameter's ``requires_grad``, ``.grad`` and
    device, and every buffer's device.

    Raises:
        InvalidArgumentError: ``model`` is not a ``torch.nn.Module``.
    """
    check_type(model, "model", nn.Module, "a torch.nn.Module")
    state = ModelState()
    for module in model.modules():
        state.training.append((module, module.training))
        for name, param in module._parameters.items():
            if param is not None:
                state.parameters.append((module, name, param, param.requires_grad, param.grad, param.device))
        for name, buf in module._buffers.items():
            if buf is not None:
                state.buffers.append((module, name, buf.device))
        for attr in _HOOK_DICTS:
            hooks = getattr(module, attr, None)
            if hooks is not None:
                state.hooks.append((module, attr, list(hooks)))
    return state


def restore_state(state: ModelState) -> None:
    """Put back what :func:`capture_state` recorded: modes module by module, ``requires_grad``, ``.grad``,
    devices (tensor by tensor, so a model split over devices stays split) and hooks (those added since are
    removed; those removed since cannot be brought back and are left as they are)."""
    for module, mode in state.training:
        module.training = mode
    for module, name, param, requires_grad, grad, device in state.parameters:
        current = module._parameters.get(name)
        if current is not param:  # replaced (e.g. by a pruning reparametrisation): the new one is the caller's now
            continue
        if param.device != device:
            param.data = param.data.to(device)
        if param.requires_grad != requires_grad:  # unchanged flags are not set (an inference tensor refuses it)
            param.requires_grad_(requires_grad)
        if param.grad is not grad:
            param.grad = grad
    for module, name, device in state.buffers:
        buf = module._buffers.get(name)
        if buf is not None and buf.device != device:
            module._buffers[name] = buf.to(device)
    for module, attr, keys in state.hooks:
        hooks = getattr(module, attr)
        for key in list(hooks):
            if key not in keys:
                del hooks[key]


@contextlib.contextmanager
def preserved_state(model: nn.Module) -> Iterator[nn.Module]:
    """Run a block that may change ``model``'s modes, ``requires_grad``, devices or hooks, then put them back.

    Weights are not restored (a function that trains or prunes is meant to change them).

    Raises:
        InvalidArgumentError: ``model`` is not a ``torch.nn.Module``.
    """
    state = capture_state(model)
    try:
        yield model
    finally:
        restore_state(state)


def describe_state(model: nn.Module) -> dict[str, Any]:
    """A comparable picture of the state :func:`preserved_state` keeps: per module its mode and hook counts,
    per parameter its ``requires_grad``, whether it has a gradient, and its device, per buffer its device."""
    check_type(model, "model", nn.Module, "a torch.nn.Module")
    picture: dict[str, Any] = {}
    for name, module in model.named_modules():
        hooks = tuple(len(getattr(module, attr, None) or {}) for attr in _HOOK_DICTS)
        picture[f"module:{name}"] = (module.training, hooks)
    for name, param in model.named_parameters():
        picture[f"param:{name}"] = (param.requires_grad, param.grad is not None, str(param.device))
    for name, buf in model.named_buffers():
        picture[f"buffer:{name}"] = str(buf.device)
    return picture


def _pruned_attributes(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """``(module, tensor name)`` of every ``torch.nn.utils.prune`` reparametrisation in ``model``."""
    out = []
    for module in model.modules():
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, prune.BasePruningMethod):
                names = (
                    [h._tensor_name for h in hook] if isinstance(hook, prune.PruningContainer) else [hook._tensor_name]
                )
                out.extend((module, name) for name in dict.fromkeys(names))
    return out


def copy_model(model: nn.Module, *, memo: dict[int, Any] | None = None) -> nn.Module:
    """A deep copy of ``model``, ``torch.nn.utils.prune`` masks included.

    ``copy.deepcopy`` raises on a pruned module ("Only Tensors created explicitly by the user (graph leaves)
    support the deepcopy protocol", a known PyTorch limitation): the pruned ``weight`` is a tensor computed
    from ``weight_orig * weight_mask``, not a leaf. It is set aside during the copy (and put back in
    ``model`` as it was), and computed afresh in the copy, so the copy carries ``weight_orig``,
    ``weight_mask`` and the pruning hook, and its ``weight`` is the effective weight (correct even if an
    optimizer step changed ``weight_orig`` since the last forward pass). Every other attribute is copied
    as ``copy.deepcopy`` copies it.

    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 2))
    >>> _ = prune.l1_unstructured(net[0], "weight", amount=0.5)
    >>> twin = copy_model(net)
    >>> int((twin[0].weight == 0).sum()), twin[0].weight_orig is net[0].weight_orig
    (4, False)

    ``memo`` is passed to ``copy.deepcopy`` (pre-fill it to replace objects in the copy).

    Raises:
        InvalidArgumentError: ``model`` is not a ``torch.nn.Module``.
    """
    check_type(model, "model", nn.Module, "a torch.nn.Module")
    computed = _pruned_attributes(model)
    stash = [(m, name, m.__dict__.pop(name)) for m, name in computed if name in m.__dict__]
    try:
        twin = copy.deepcopy(model, memo)
    finally:
        for m, name, value in stash:
            setattr(m, name, value)
    for m, name in _pruned_attributes(twin):
        setattr(m, name, getattr(m, name + "_orig") * getattr(m, name + "_mask"))
    return twin


def checked_forward(model: nn.Module, *inputs: torch.Tensor, name: str = "inputs") -> Any:
    """``model(*inputs)``; when the forward pass raises, the same kind of error (a ``RuntimeError`` stays a
    ``RuntimeError``, so callers that catch it still do) with a message naming ``name`` and the shapes and
    dtypes that came, before torch's own message, chained to the original.

    For the first batch a mintlab function feeds a user's network, so that "mat1 and mat2 shapes cannot be
    multiplied" says which argument did not fit. An error whose type cannot be rebuilt from a message is
    raised unchanged.

    >>> checked_forward(torch.nn.Linear(3, 2), torch.zeros(4, 5), name="images")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    RuntimeError: Expected `images` the model accepts, but got a batch of shape (4, 5) (torch.float32) on which \
its forward pass failed: ...mat1 and mat2 shapes cannot be multiplied (4x5 and 3x2)
    """
    try:
        return model(*inputs)
    except (RuntimeError, TypeError, ValueError, IndexError) as err:
        shapes = ", ".join(
            f"{tuple(x.shape)} ({x.dtype})" if isinstance(x, torch.Tensor) else type(x).__name__ for x in inputs
        )
        try:
            named = type(err)(
                f"Expected `{name}` the model accepts, but got a batch of shape {shapes} on which its "
                f"forward pass failed: {err}"
            )
        except Exception:  # noqa: BLE001 - an error type that takes other arguments: raised as it came
            raise err from None
        raise named from err


def output_tensors(out: Any) -> list[torch.Tensor]:
    """The tensors of a model's output, in order: a tensor, or nested tuples, lists, dicts (a HuggingFace-style
    output) or dataclasses of them and of other values (``None``, numbers), which are left out.

    >>> [tuple(t.shape) for t in output_tensors({"logits": torch.zeros(2, 3), "hidden": None, "n": (torch.ones(1),)})]
    [(2, 3), (1,)]
    """
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, Mapping):
        return [t for v in out.values() for t in output_tensors(v)]
    if isinstance(out, (tuple, list)):
        return [t for v in out for t in output_tensors(v)]
    if dataclasses.is_dataclass(out) and not isinstance(out, type):
        return [t for f in dataclasses.fields(out) for t in output_tensors(getattr(out, f.name))]
    return []
