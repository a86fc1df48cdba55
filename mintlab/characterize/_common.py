"""Helpers shared by the characterization modules: input checks, normalisation wrapping, eval mode.

Every characterization function takes a model that expects *normalised* inputs (as every mintlab
model does) plus ``normalization=(mean, std)``; it wraps ``nn.Sequential(Normalize(mean, std), model)``
so attacks and attributions work on images in [0, 1]. Normalisation is applied there and only there
(never also through torchattacks' ``set_normalization_used``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from mintlab._utils.checks import check_int
from mintlab._utils.io import save_figure  # noqa: F401  (one definition, used by the modules here)
from mintlab.nets.data import Normalize

#: Slack on the [0, 1] range check: float32 images converted from uint8 are exact, but resampled or
#: decoded images can sit a rounding error outside.
RANGE_TOLERANCE = 1e-6

Normalization = tuple[Sequence[float], Sequence[float]]


def check_model(model: Any, name: str = "model") -> nn.Module:
    """Raise TypeError unless ``model`` is an ``nn.Module``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected `{name}` to be a torch.nn.Module, but got {type(model).__name__}")
    return model


def check_images(images: Any, name: str = "images") -> torch.Tensor:
    """Validate a float (N, C, H, W) or (N, D) batch with values in [0, 1]; return it as float32."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"Expected `{name}` to be a torch.Tensor, but got {type(images).__name__}")
    if not images.is_floating_point():
        raise TypeError(f"Expected `{name}` to be a floating-point tensor in [0, 1], but got dtype {images.dtype}")
    if images.ndim < 2 or images.shape[0] == 0:
        raise ValueError(f"Expected `{name}` of shape (N, C, H, W) with N > 0, but got {tuple(images.shape)}")
    lo, hi = float(images.min()), float(images.max())
    if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        raise ValueError(
            f"Expected `{name}` in [0, 1] (unnormalised; pass the model's normalisation as `normalization` "
            f"and load the data with load_dataset(..., normalize=False)), but got values in [{lo:.4g}, {hi:.4g}]"
        )
    return images.float().clamp(0.0, 1.0)


def check_labels(labels: Any, n: int, name: str = "labels") -> torch.Tensor:
    """Validate integer class labels of length ``n``; return them as a CPU int64 tensor."""
    if isinstance(labels, np.ndarray):
        labels = torch.from_numpy(labels)
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"Expected `{name}` to be a torch.Tensor or np.ndarray, but got {type(labels).__name__}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"Expected integer `{name}`, but got dtype {labels.dtype}")
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"Expected `{name}` of shape ({n},), but got {tuple(labels.shape)}")
    if n and int(labels.min()) < 0:
        raise ValueError(f"Expected non-negative `{name}`, but got minimum {int(labels.min())}")
    return labels.long().cpu()


def with_normalization(model: nn.Module, normalization: Normalization | None) -> nn.Module:
    """``nn.Sequential(Normalize(mean, std), model)``, or ``model`` itself when ``normalization`` is None."""
    if normalization is None:
        return model
    if not isinstance(normalization, (tuple, list)) or len(normalization) != 2:
        raise ValueError(
            "Expected `normalization` as (mean, std), e.g. mintlab.nets.data.NORMALIZATION['fashion_mnist'], "
            f"but got {normalization!r}"
        )
    mean, std = (tuple(float(v) for v in np.atleast_1d(np.asarray(part, dtype=float))) for part in normalization)
    return nn.Sequential(Normalize(mean, std), model)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU when it has neither)."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")


@contextlib.contextmanager
def prepared(
    model: nn.Module, normalization: Normalization | None, device: str | torch.device | None
) -> Iterator[tuple[nn.Module, torch.device]]:
    """Yield ``(wrapped model in eval mode, device)``; restore every module's mode and the device after.

    ``device=None`` uses the device the model already lives on, so nothing moves unasked.
    """
    check_model(model)
    original_device = model_device(model)
    target = original_device if device is None else torch.device(device)
    modes = [(module, module.training) for module in model.modules()]
    wrapped = with_normalization(model, normalization).to(target)
    try:
        wrapped.eval()
        yield wrapped, target
    finally:
        for module, mode in modes:
            module.train(mode)
        if target != original_device:
            model.to(original_device)


def batches(n: int, batch_size: int) -> list[slice]:
    """Consecutive slices covering ``range(n)``."""
    return [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def predict_logits(
    model: nn.Module,
    images: torch.Tensor,
    *,
    normalization: Normalization | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Logits (N, classes) on CPU for images in [0, 1], in eval mode, batched."""
    images = check_images(images)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    out = []
    with prepared(model, normalization, device) as (wrapped, dev), torch.no_grad():
        for part in batches(len(images), batch_size):
            out.append(wrapped(images[part].to(dev)).float().cpu())
    return torch.cat(out)


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure not managed by pyplot (no global state, no leaked figures in loops)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")
