"""Helpers shared by the characterization modules: input checks, normalisation wrapping, eval mode.

Every characterization function takes a model that expects *normalised* inputs (as every mintlab
model does) plus ``normalization=(mean, std)``; it wraps ``nn.Sequential(Normalize(mean, std), model)``
so attacks and attributions work on images in [0, 1]. Normalisation is applied there and only there
(never also through torchattacks' ``set_normalization_used``).

Labels and outputs are checked here, once, for every entry point, *before* any library is called:
labels must lie in ``[0, C)`` for a model with ``C`` outputs (torch's cross-entropy would fail with
"Target 10 is out of bounds", a device-side assert on CUDA, and torchattacks' Iter-LL with
"list.remove(x): x not in list"). A model may output logits or probabilities (a classifier ending in
``nn.Softmax``): :func:`prepared` detects probabilities (every row in [0, 1] summing to 1) or takes
``outputs="probs"``, and then hands the libraries ``log p`` instead. ``log p`` differs from the logits
only by a per-example constant, so softmax(log p) = p exactly (calibration never applies softmax on top of
a softmax), the cross-entropy of the attacks is the same function of the input, and the least-likely
class is the same; GradCAM and saliency then explain ``log p_c`` rather than the logit ``z_c`` (the
logits of such a model are not available).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from mintlab.nets.data import Normalize
from mintlab.utils.checks import InvalidArgumentError, check_choice, check_class_range, check_int
from mintlab.utils.io import save_figure
from mintlab.utils.model_state import checked_forward, preserved_state
from mintlab.utils.runtime import select_device

#: Slack on the [0, 1] range check: float32 images converted from uint8 are exact, but resampled or
#: decoded images can sit a rounding error outside.
RANGE_TOLERANCE = 1e-6

Normalization = tuple[Sequence[float], Sequence[float]]

#: What a model's outputs are: decided from the outputs ("auto"), or declared.
OUTPUTS: tuple[str, ...] = ("auto", "logits", "probs")
#: How far rows may sum from 1 and still be read as probabilities (float32 softmax rounding).
PROB_SUM_TOLERANCE = 1e-4
#: Examples of the batch run through the model to learn its number of classes and its kind of output.
PROBE_EXAMPLES = 64
#: Floor under probabilities before the log (a probability of exactly 0 → log 1e-30 ≈ −69, finite).
PROB_FLOOR = 1e-30


def check_model(model: Any, name: str = "model") -> nn.Module:
    """Raise TypeError unless ``model`` is an ``nn.Module``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected `{name}` to be a torch.nn.Module, but got {type(model).__name__}")
    return model


def check_images(images: Any, name: str = "images") -> torch.Tensor:
    """Validate a float (N, C, H, W) or (N, D) batch of finite values in [0, 1]; return it as float32."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"Expected `{name}` to be a torch.Tensor, but got {type(images).__name__}")
    if not images.is_floating_point():
        raise TypeError(f"Expected `{name}` to be a floating-point tensor in [0, 1], but got dtype {images.dtype}")
    if images.ndim < 2 or images.shape[0] == 0:
        raise ValueError(f"Expected `{name}` of shape (N, C, H, W) with N > 0, but got {tuple(images.shape)}")
    finite = torch.isfinite(images)
    if not bool(finite.all()):
        raise ValueError(f"Expected finite `{name}` in [0, 1], but got {int((~finite).sum())} NaN or infinite values")
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
        raise InvalidArgumentError(f"Expected `{name}` >= 0 (class indices), but got {int(labels.min())}")
    return labels.long().cpu()


def check_label_range(labels: torch.Tensor, n_classes: int, name: str = "labels") -> torch.Tensor:
    """Raise unless every label is in ``[0, n_classes)`` (0-based class indices of a model with that many outputs).

    The message is the same for every entry point (attacks, calibration, attribution targets, reports).

    >>> check_label_range(torch.tensor([1, 10]), 10)
    Traceback (most recent call last):
    ...
    mintlab.utils.checks.InvalidArgumentError: Expected `labels` < 10 (number of classes), but got 10 \
(class indices are 0-based: subtract 1 from 1-based labels)
    """
    check_class_range(labels.cpu().numpy(), n_classes, name)
    return labels


def looks_like_probabilities(outputs: torch.Tensor) -> bool:
    """True when every row of the (N, C) ``outputs`` lies in [0, 1] and sums to 1 (± ``PROB_SUM_TOLERANCE``)."""
    x = outputs.detach().double()
    return bool(
        x.ndim == 2
        and x.min() >= 0
        and x.max() <= 1
        and torch.allclose(x.sum(1), torch.ones(len(x), dtype=x.dtype), atol=PROB_SUM_TOLERANCE)
    )


class LogOfProbabilities(nn.Module):
    """``log(max(p, PROB_FLOOR))``: turns a probability output into logits (up to a per-row constant)."""

    def forward(self, probs: torch.Tensor) -> torch.Tensor:
        return torch.log(probs.clamp_min(PROB_FLOOR))


def _ends_in_softmax(model: nn.Module) -> bool:
    leaves = [m for m in model.modules() if not list(m.children())]
    return bool(leaves) and isinstance(leaves[-1], nn.Softmax)


def output_kind(outputs: torch.Tensor, declared: str = "auto", model: nn.Module | None = None) -> str:
    """``"logits"`` or ``"probs"``: ``declared`` unless it is ``"auto"``, else decided from the values.

    Raises:
        InvalidArgumentError: ``declared="probs"`` for outputs that are not probabilities, or not (N, C).
    """
    declared = check_choice(declared, "outputs", OUTPUTS)
    if outputs.ndim != 2 or outputs.shape[1] < 2:
        raise InvalidArgumentError(
            f"Expected the model to output (N, classes) scores with classes >= 2, but got {tuple(outputs.shape)}"
        )
    probs = looks_like_probabilities(outputs)
    if declared == "probs" and not probs:
        raise InvalidArgumentError(
            "Expected probabilities (rows in [0, 1] summing to 1) with `outputs`='probs', but the model's are not"
        )
    if declared != "auto":
        return declared
    if probs or (model is not None and _ends_in_softmax(model)):
        return "probs"
    return "logits"


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
    model: nn.Module,
    normalization: Normalization | None,
    device: str | torch.device | None,
    *,
    probe: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    outputs: str = "auto",
    labels_name: str = "labels",
) -> Iterator[tuple[nn.Module, torch.device]]:
    """Yield ``(wrapped model in eval mode, device)``; leave ``model`` exactly as found after.

    Every module's mode, every parameter's ``requires_grad`` and gradient, devices and hooks are restored
    (:func:`mintlab.utils.model_state.preserved_state`). ``device=None`` uses the device the model already
    lives on, so nothing moves unasked.

    With ``probe`` (the images, in [0, 1]) the first ``PROBE_EXAMPLES`` are run through the model first: its
    number of classes checks ``labels`` (:func:`check_label_range`) and, when it outputs probabilities
    (``outputs="probs"``, or detected with ``"auto"``), the wrapped model returns ``log p`` (see the module
    docstring), so what it yields always behaves as logits.

    Raises:
        InvalidArgumentError: labels outside ``[0, C)``, ``outputs`` not in ``OUTPUTS`` or not matching, a
            ``device`` this machine lacks (e.g. ``"cuda"`` without CUDA; :func:`mintlab.utils.runtime.select_device`).
    """
    check_model(model)
    outputs = check_choice(outputs, "outputs", OUTPUTS)
    original_device = model_device(model)
    target = original_device if device is None else select_device(device)
    with preserved_state(model):
        wrapped = with_normalization(model, normalization).to(target)
        wrapped.eval()
        kind = outputs
        if probe is not None:
            with torch.no_grad():
                head = checked_forward(wrapped, probe[:PROBE_EXAMPLES].to(target), name="images")
            kind = output_kind(head, outputs, model)
            if labels is not None:
                check_label_range(labels, head.shape[1], labels_name)
        if kind == "probs":
            wrapped = nn.Sequential(wrapped, LogOfProbabilities())
        yield wrapped, target


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
    labels: torch.Tensor | None = None,
    outputs: str = "auto",
) -> torch.Tensor:
    """Logits (N, classes) on CPU for images in [0, 1], in eval mode, batched.

    For a model that outputs probabilities these are ``log p`` (softmax of them gives back ``p`` exactly).
    ``labels``, when given, are checked to be in ``[0, classes)`` first.
    """
    images = check_images(images)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    out = []
    with (
        prepared(model, normalization, device, probe=images, labels=labels, outputs=outputs) as (wrapped, dev),
        torch.no_grad(),
    ):
        for part in batches(len(images), batch_size):
            out.append(wrapped(images[part].to(dev)).float().cpu())
    return torch.cat(out)


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure not managed by pyplot (no global state, no leaked figures in loops)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def finished_figure(fig: Any, path: Any = None) -> Any:
    """``fig``, saved first as PNG to ``path`` when one is given (:func:`mintlab.utils.io.save_figure`)."""
    if path is not None:
        save_figure(fig, path)
    return fig
