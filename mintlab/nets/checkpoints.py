"""Checkpoints that survive a crash: atomic writes, ``weights_only`` loads, pruning masks kept.

A checkpoint is ``{"model": state_dict, **extra}`` with tensors, numbers, strings, lists and dicts
only, so loading runs no pickled code; :func:`state_dict_hash` names a checkpoint's weights.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune

from mintlab.utils.checks import InvalidArgumentError
from mintlab.utils.io import write_atomic

__all__ = ["save_checkpoint", "load_checkpoint", "load_masked_state_dict", "state_dict_hash"]


def state_dict_hash(model: nn.Module | Mapping[str, Any]) -> str:
    """SHA-256 over the sorted state-dict keys, dtypes, shapes and tensor bytes.

    Equal for equal weights on any device and across save/load; a pruned model (with
    ``weight_orig`` / ``weight_mask``) hashes differently from its unpruned original.

    >>> state_dict_hash(nn.Linear(2, 2)) == state_dict_hash(nn.Linear(2, 2))
    False
    """
    if isinstance(model, nn.Module):
        state: Mapping[str, Any] = model.state_dict()
    elif isinstance(model, Mapping):
        state = model
    else:
        raise TypeError(f"Expected an nn.Module or a state dict, but got {type(model).__name__}")
    h = hashlib.sha256()
    for key in sorted(state):
        value = state[key]
        h.update(key.encode())
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        else:
            h.update(repr(value).encode())
    return h.hexdigest()


def save_checkpoint(path: str | os.PathLike, model: nn.Module | None = None, **extra: Any) -> Path:
    """Save ``{"model": state_dict, **extra}`` atomically (:func:`mintlab.utils.io.write_atomic`).

    ``extra`` may hold optimizer / scheduler state dicts, epoch, history and the like
    (tensors, numbers, strings, lists and dicts, so that loading needs no pickled code).
    A pruned model's ``weight_orig`` and ``weight_mask`` are saved as they are.

    Returns:
        The path written.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"Expected `path` as a str or path, but got {type(path).__name__}")
    if model is not None and not isinstance(model, nn.Module):
        raise TypeError(f"Expected `model` as an nn.Module or None, but got {type(model).__name__}")
    payload = dict(extra)
    if model is not None:
        payload["model"] = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return write_atomic(path, lambda fh: torch.save(payload, fh))


def load_masked_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> nn.Module:
    """Load a ``state_dict`` saved from a pruned (or dense) model, ``torch.nn.utils.prune`` masks included.

    Every parameter the state holds as ``<name>_orig`` + ``<name>_mask`` is first reparametrised on
    ``model`` (``prune.identity``) when it is not already, then the state is loaded strictly, and each
    pruned parameter is recomputed as ``orig * mask`` at once: it is right before any forward pass
    (``torch.nn.utils.prune`` refreshes it only in a forward pre-hook). Returns ``model``.

    Raises:
        InvalidArgumentError: a mask for a module ``model`` does not have.
    """
    modules = dict(model.named_modules())
    for key in state_dict:
        if not key.endswith("_mask") or f"{key[: -len('_mask')]}_orig" not in state_dict:
            continue
        owner, _, pname = key[: -len("_mask")].rpartition(".")
        if owner not in modules:
            raise InvalidArgumentError(
                f"Expected a module {owner!r} in the model for the mask {key!r}, but it has none"
            )
        if not hasattr(modules[owner], f"{pname}_mask"):
            prune.identity(modules[owner], pname)
    model.load_state_dict(state_dict)
    for module in model.modules():
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, prune.BasePruningMethod):
                setattr(module, hook._tensor_name, hook.apply_mask(module))
    return model


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`; optionally restore into objects.

    Loading uses ``weights_only=True`` (no code from the file runs). If the saved model was
    pruned with ``torch.nn.utils.prune`` and ``model`` is not, the same reparametrisation is
    applied to ``model`` first, so masks survive a round trip into a fresh model.

    Returns:
        The whole checkpoint dict.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"Expected `path` as a str or path, but got {type(path).__name__}")
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"Expected a checkpoint file, but {source} does not exist")
    ckpt = torch.load(source, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, dict):
        raise ValueError(f"Expected a checkpoint dict in {source}, but got {type(ckpt).__name__}")
    if model is not None:
        if "model" not in ckpt:
            raise ValueError(f"Expected a 'model' entry in {source}, but got keys {sorted(ckpt)}")
        load_masked_state_dict(model, ckpt["model"])
    if optimizer is not None and "optimizer" in ckpt:
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and "scheduler" in ckpt:
        scheduler.load_state_dict(ckpt["scheduler"])
    return ckpt
