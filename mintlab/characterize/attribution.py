"""Where the network looks: GradCAM maps (conv nets) or input-gradient maps (the MLP), original vs pruned.

GradCAM (Selvaraju et al. 2017) through captum's ``LayerGradCam`` with ``relu_attributions=True``:
the original method keeps only positive evidence; captum's default (False) does not — mintlab
follows the paper. The layer map is upsampled to the input with
``LayerAttribution.interpolate(..., "bilinear")``, which keeps it non-negative (convex weights).
The MLP has no conv layer, so GradCAM does not apply: there mintlab uses the absolute input gradient
(captum ``Saliency``, max over channels as in Simonyan et al. 2014) — a different method, reported as such.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from captum.attr import InputXGradient, LayerAttribution, LayerGradCam, Saliency
from torch import nn

from mintlab.characterize._common import (
    Normalization,
    batches,
    check_images,
    check_model,
    finished_figure,
    new_figure,
    prepared,
)
from mintlab.utils.checks import check_int

__all__ = [
    "GRADIENT_METHODS",
    "AttributionResult",
    "find_last_conv",
    "gradcam",
    "input_gradient_attribution",
    "attribution_maps",
    "plot_attribution_grid",
]

#: Input-gradient methods for models without a conv layer.
GRADIENT_METHODS: tuple[str, ...] = ("saliency", "input_x_gradient")


class AttributionResult(NamedTuple):
    """Maps (N, H, W) ≥ 0, the method used, the GradCAM layer name (None for gradients), the targets."""

    maps: torch.Tensor
    method: str
    layer: str | None
    targets: torch.Tensor


def find_last_conv(model: nn.Module) -> str | None:
    """Name of the last ``nn.Conv2d`` in ``model.named_modules()`` order (registration order), or None.

    >>> find_last_conv(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3), nn.Flatten()))
    '2'
    >>> find_last_conv(nn.Sequential(nn.Flatten(), nn.Linear(4, 2))) is None
    True
    """
    check_model(model)
    names = [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    return names[-1] if names else None


def _resolve_layer(model: nn.Module, layer: str | nn.Module) -> tuple[str, nn.Module]:
    if isinstance(layer, str):
        try:
            return layer, model.get_submodule(layer)
        except AttributeError:
            convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
            raise ValueError(
                f"Expected `layer` to name a submodule of the model (conv layers: {convs}), but got {layer!r}"
            ) from None
    if isinstance(layer, nn.Module):
        for name, module in model.named_modules():
            if module is layer:
                return name, module
        raise ValueError("Expected `layer` to be a submodule of `model`, but the given module is not one of them")
    raise TypeError(f"Expected `layer` as a module name (str) or an nn.Module, but got {type(layer).__name__}")


def _targets(wrapped: nn.Module, x: torch.Tensor, target: torch.Tensor | None, part: slice) -> torch.Tensor:
    if target is None:
        with torch.no_grad():
            return wrapped(x).argmax(1)
    return target[part].to(x.device)


def _check_target(target: Any, n: int) -> torch.Tensor | None:
    if target is None:
        return None
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        return torch.full((n,), int(target), dtype=torch.long)
    if isinstance(target, np.ndarray):
        target = torch.from_numpy(target)
    if not isinstance(target, torch.Tensor) or target.is_floating_point() or target.shape != (n,):
        raise ValueError(f"Expected `target` None, an int or {n} integer classes, but got {target!r}")
    return target.long().cpu()


def gradcam(
    model: nn.Module,
    images: torch.Tensor,
    *,
    layer: str | nn.Module,
    target: torch.Tensor | int | None = None,
    normalization: Normalization | None = None,
    batch_size: int = 64,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """GradCAM maps (N, H, W) ≥ 0 on CPU for images (N, C, H, W) in [0, 1].

    Args:
        layer: a conv layer of ``model``, by module name (works for an original and its
            ``torch.nn.utils.prune``-pruned copy alike) or as the module itself.
        target: classes to explain, in ``[0, C)``; None → the model's *own* predicted class per image.
            A model that outputs probabilities is explained through ``log p_target`` (its logits are not
            available; see :mod:`mintlab.characterize._common`).

    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 16, 3))
    >>> gradcam(net, torch.rand(2, 1, 4, 4), layer="0").shape
    torch.Size([2, 4, 4])
    """
    return _attribute(model, images, layer, target, normalization, batch_size, device, None)[0]


def input_gradient_attribution(
    model: nn.Module,
    images: torch.Tensor,
    *,
    target: torch.Tensor | int | None = None,
    method: str = "saliency",
    normalization: Normalization | None = None,
    batch_size: int = 64,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Gradient maps (N, H, W) ≥ 0 for models without a conv layer (e.g. the MLP).

    ``"saliency"``: ``max_c |∂ logit_target / ∂ x_c|`` (captum ``Saliency``); ``"input_x_gradient"``:
    ``Σ_c |x_c · ∂ logit / ∂ x_c|`` (captum ``InputXGradient``). Gradients are taken with respect to
    the image in [0, 1] (through the normalisation layer). Not GradCAM: a substitute, named as such.
    """
    if method not in GRADIENT_METHODS:
        raise ValueError(f"Expected `method` in {GRADIENT_METHODS}, but got {method!r}")
    return _attribute(model, images, None, target, normalization, batch_size, device, method)[0]


def _attribute(model, images, layer, target, normalization, batch_size, device, method):
    check_model(model)
    images = check_images(images)
    if images.ndim != 4:
        raise ValueError(f"Expected `images` of shape (N, C, H, W), but got {tuple(images.shape)}")
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    target = _check_target(target, len(images))
    module = _resolve_layer(model, layer)[1] if layer is not None else None
    maps, chosen = [], []
    with prepared(model, normalization, device, probe=images, labels=target, labels_name="target") as (wrapped, dev):
        for part in batches(len(images), batch_size):
            x = images[part].to(dev)
            t = _targets(wrapped, x, target, part)
            if module is not None:
                attr = LayerGradCam(wrapped, module).attribute(x, target=t, relu_attributions=True)
                if attr.ndim != 4:
                    raise ValueError(
                        "Expected `layer` to output (N, C, h, w) maps (a conv layer), "
                        f"but its GradCAM has shape {tuple(attr.shape)}"
                    )
                m = LayerAttribution.interpolate(attr, tuple(x.shape[-2:]), "bilinear")[:, 0]
            elif method == "saliency":
                m = Saliency(wrapped).attribute(x.clone().requires_grad_(True), target=t, abs=True).amax(1)
            else:
                m = InputXGradient(wrapped).attribute(x.clone().requires_grad_(True), target=t).abs().sum(1)
            maps.append(m.detach().clamp_min(0).cpu())  # clamp: bilinear rounding only, never real mass
            chosen.append(t.cpu())
    return torch.cat(maps), torch.cat(chosen)


def attribution_maps(
    model: nn.Module,
    images: torch.Tensor,
    *,
    layer: str | nn.Module | None = None,
    target: torch.Tensor | int | None = None,
    normalization: Normalization | None = None,
    gradient_method: str = "saliency",
    batch_size: int = 64,
    device: str | torch.device | None = None,
) -> AttributionResult:
    """GradCAM on ``layer`` (default: the last Conv2d), or input gradients when the model has no conv.

    The last Conv2d's output is taken *before* its BatchNorm, ReLU and (ResNets) residual add. The
    usual GradCAM layer is the block output: for mintlab's ResNet56 pass ``layer="layer3"``, for
    VGG16-BN ``layer="features.relu13"``.

    Returns:
        :class:`AttributionResult` ``(maps, method, layer, targets)``; ``method`` is ``"gradcam"`` or
        the gradient method, so callers can say which one they show.
    """
    check_model(model)
    if layer is None:
        layer = find_last_conv(model)
    if layer is None:
        if gradient_method not in GRADIENT_METHODS:
            raise ValueError(f"Expected `gradient_method` in {GRADIENT_METHODS}, but got {gradient_method!r}")
        maps, t = _attribute(model, images, None, target, normalization, batch_size, device, gradient_method)
        return AttributionResult(maps, gradient_method, None, t)
    name, _ = _resolve_layer(model, layer)
    maps, t = _attribute(model, images, name, target, normalization, batch_size, device, None)
    return AttributionResult(maps, "gradcam", name, t)


def _as_image(img: torch.Tensor) -> tuple[np.ndarray, str | None]:
    arr = img.detach().cpu().float().numpy()
    if arr.shape[0] == 1:
        return arr[0], "gray"
    return np.transpose(arr[:3], (1, 2, 0)), None


def _draw_overlay(ax: Any, img: np.ndarray, cmap: str | None, m: np.ndarray, alpha: float) -> None:
    """``img`` on ``ax`` with the map ``m`` over it (jet, scaled by its own maximum)."""
    ax.imshow(img, cmap=cmap, vmin=0, vmax=1)
    ax.imshow(m / m.max() if m.max() > 0 else m, cmap="jet", alpha=alpha, vmin=0, vmax=1)


def _finish_grid(fig: Any, axes: np.ndarray, title: str, path: str | Path | None) -> Any:
    """The last steps of an image grid: axes off, ``title`` on top, saved to ``path`` when given."""
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.suptitle(title, fontsize=9)
    return finished_figure(fig, path)


def plot_attribution_grid(
    images: torch.Tensor,
    maps_original: torch.Tensor,
    maps_pruned: torch.Tensor,
    *,
    labels: Sequence[int] | None = None,
    preds_original: Sequence[int] | None = None,
    preds_pruned: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    method: str = "gradcam",
    alpha: float = 0.5,
    path: str | Path | None = None,
) -> Any:
    """Rows = images; columns = (image, original overlay, pruned overlay) — like the paper's Fig. 7.

    Each map is scaled by its own maximum for display (maps of two different networks have no common
    scale), so compare *where* the mass lies, not its size.

    Returns:
        The matplotlib Figure; saved as PNG (atomically) to ``path`` when given.
    """
    images = check_images(images)
    n = len(images)
    for name, m in (("maps_original", maps_original), ("maps_pruned", maps_pruned)):
        if not isinstance(m, torch.Tensor) or tuple(m.shape) != (n, *images.shape[-2:]):
            shape = tuple(getattr(m, "shape", ()))
            raise ValueError(f"Expected `{name}` of shape {(n, *images.shape[-2:])}, but got {shape}")

    def cls(i: int | None) -> str:
        return "?" if i is None else (class_names[i] if class_names is not None else str(int(i)))

    fig = new_figure(6.0, 2.0 * n)
    axes = np.asarray(fig.subplots(n, 3, squeeze=False))
    for r in range(n):
        img, cmap = _as_image(images[r])
        axes[r, 0].imshow(img, cmap=cmap, vmin=0, vmax=1)
        axes[r, 0].set_title(f"label {cls(None if labels is None else labels[r])}", fontsize=8)
        for c, (maps, preds, who) in enumerate(((maps_original, preds_original, "original"),
                                                (maps_pruned, preds_pruned, "pruned")), start=1):  # fmt: skip
            _draw_overlay(axes[r, c], img, cmap, maps[r].detach().cpu().float().numpy(), alpha)
            pred = "" if preds is None else f" (pred {cls(preds[r])})"
            axes[r, c].set_title(f"{who}{pred}", fontsize=8)
    return _finish_grid(fig, axes, f"{method}: original vs pruned", path)
