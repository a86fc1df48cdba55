"""Save a compacted model so that plain PyTorch loads and runs it, without mintlab.

``torch.save(module)`` pickles the module's *class* by import path (``mintlab.nets.models.VGG16BN``),
so loading it needs mintlab. Two formats carry the graph instead, and both load with torch alone
(tested in a subprocess where ``import mintlab`` fails, ``tests/prune/test_export.py``):

* ``"export"`` (default): ``torch.export.export`` → ``torch.export.save`` (a ``.pt2`` file);
  load with ``torch.export.load(path).module()``. PyTorch's current format. Tracing is slow on
  a small CPU (about 30 s for ResNet56 at width 1/4 on one core, measured), and the loaded
  program is specialised to the example's shape except where the batch is marked dynamic,
  which :func:`save_compact` does (``Dim("batch")``).
* ``"torchscript"``: ``torch.jit.trace`` → ``torch.jit.save``; load with ``torch.jit.load``
  (about 4 s for the same model). TorchScript is deprecated in recent PyTorch (a
  ``FutureWarning`` on load) but still works.

ONNX needs the ``onnx`` package, which this environment does not have; not offered.
:class:`mintlab.prune.sparse.SparseLinear` models are for in-process execution; export the
compacted dense model.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from mintlab.prune.compaction import has_masks
from mintlab.utils.io import write_atomic
from mintlab.utils.model_state import preserved_state

__all__ = ["FORMATS", "load_compact", "save_compact"]

#: Formats :func:`save_compact` writes.
FORMATS = ("export", "torchscript")


def _check(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"Expected `format` in {FORMATS}, but got {fmt!r}")
    return fmt


def save_compact(
    model: nn.Module, example_inputs: torch.Tensor, path: str | os.PathLike, *, format: str = "export"
) -> Path:
    """Write ``model`` (eval mode) to ``path`` as a program plain PyTorch can load (see the module notes).

    ``model`` itself is left as found (every module's mode, so a frozen BatchNorm stays frozen:
    :func:`mintlab.utils.model_state.preserved_state`).

    Args:
        model: a dense module, e.g. from :func:`mintlab.prune.compaction.compact` (no masks).
        example_inputs: one input batch ``(N, ...)``; with ``"export"`` the batch size is dynamic.
        path: the file to write (parents are created), atomically: an interrupted save leaves the previous file.
        format: ``"export"`` (``torch.export``, ``.pt2``) or ``"torchscript"`` (``torch.jit.trace``).

    Returns:
        The path written.

    Raises:
        TypeError: ``model`` not a module or ``example_inputs`` not a tensor.
        ValueError: an unknown ``format``, or a model that still has pruning masks (compact it first).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected `model` as a torch.nn.Module, but got {type(model).__name__}")
    if not isinstance(example_inputs, torch.Tensor):
        raise TypeError(f"Expected `example_inputs` as a tensor, but got {type(example_inputs).__name__}")
    _check(format)
    if has_masks(model):
        raise ValueError("Expected `model` without pruning masks (compact it first), but got a masked model")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with preserved_state(model):  # every module's mode (a frozen BatchNorm stays frozen), hooks, grads
        model.eval()
        if format == "export":
            batch = torch.export.Dim("batch", min=1) if example_inputs.shape[0] > 1 else None
            shapes = ({0: batch},) if batch is not None else None
            program = torch.export.export(model, (example_inputs,), dynamic_shapes=shapes)
            write_atomic(path, lambda fh: torch.export.save(program, fh))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                traced = torch.jit.trace(model, example_inputs)
                write_atomic(path, lambda fh: torch.jit.save(traced, fh))
    return path


def load_compact(path: str | os.PathLike, *, format: str = "export") -> nn.Module:
    """Load what :func:`save_compact` wrote, with torch alone (mintlab needs no import for it)."""
    _check(format)
    if format == "export":
        return torch.export.load(str(path)).module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.load(str(path))
