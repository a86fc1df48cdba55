"""Calibration: top-label expected calibration error (ECE) and reliability diagrams.

ECE (Naeini et al. 2015; Guo et al. 2017): split the top-label confidences into ``n_bins``
equal-width bins on (0, 1]; ``ECE = Σ_b (n_b / n) · |acc_b − conf_b|``. Bin ``b`` is the half-open
interval ``(edges[b], edges[b+1]]`` with ``edges = np.linspace(0, 1, n_bins + 1)``: a confidence
exactly on an edge goes to the *lower* bin (as in Guo et al.'s code); a confidence of exactly 0
(impossible for a softmax top label) goes to the first bin. Values are fractions in [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mintlab._utils.checks import check_int
from mintlab.characterize._common import (
    Normalization,
    check_images,
    check_labels,
    new_figure,
    predict_logits,
    save_figure,
)

__all__ = [
    "DEFAULT_N_BINS",
    "to_probabilities",
    "reliability_bins",
    "ece_from_bins",
    "expected_calibration_error",
    "calibration_summary",
    "compare_calibration",
    "plot_reliability_diagram",
]

#: Bins used when none are given (Guo et al. 2017 use 15).
DEFAULT_N_BINS = 15
#: How far rows may sum from 1 and still be read as probabilities (float32 softmax rounding).
PROB_SUM_TOLERANCE = 1e-4


def to_probabilities(probs_or_logits: Any, *, from_logits: bool | None = None) -> np.ndarray:
    """(N, classes) float64 probabilities from probabilities or logits.

    ``from_logits=None`` decides by the values: rows in [0, 1] summing to 1 (± 1e-4) are taken as
    probabilities, anything else as logits (softmax applied).
    """
    if isinstance(probs_or_logits, torch.Tensor):
        probs_or_logits = probs_or_logits.detach().cpu().numpy()
    if not isinstance(probs_or_logits, np.ndarray):
        kind = type(probs_or_logits).__name__
        raise TypeError(f"Expected `probs_or_logits` as a torch.Tensor or np.ndarray, but got {kind}")
    x = probs_or_logits.astype(np.float64)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] < 2:
        raise ValueError(
            f"Expected `probs_or_logits` of shape (N, classes) with N ≥ 1 and classes ≥ 2, but got {x.shape}"
        )
    if not np.isfinite(x).all():
        raise ValueError("Expected finite `probs_or_logits`, but got NaN or inf")
    looks_like_probs = bool(x.min() >= 0 and x.max() <= 1 and np.allclose(x.sum(1), 1, atol=PROB_SUM_TOLERANCE))
    if from_logits is None:
        from_logits = not looks_like_probs
    if not from_logits:
        if not looks_like_probs:
            raise ValueError(
                "Expected probabilities (rows in [0, 1] summing to 1) with from_logits=False, but they are not"
            )
        return x
    x = x - x.max(1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(1, keepdims=True)


def reliability_bins(
    probs_or_logits: Any, labels: Any, *, n_bins: int = DEFAULT_N_BINS, from_logits: bool | None = None
) -> dict[str, np.ndarray]:
    """Per-bin mean confidence, accuracy and count of the top-label predictions.

    Returns:
        ``{"edges": (n_bins+1,), "confidence": (n_bins,), "accuracy": (n_bins,), "count": (n_bins,)}``;
        confidence and accuracy are NaN in empty bins.

    >>> bins = reliability_bins(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 1]), n_bins=2)
    >>> bins["count"].tolist(), bins["accuracy"].tolist()
    ([0, 2], [nan, 0.5])
    """
    n_bins = check_int(n_bins, "n_bins", minimum=1)
    probs = to_probabilities(probs_or_logits, from_logits=from_logits)
    labels = check_labels(labels, len(probs)).numpy()
    if labels.max() >= probs.shape[1]:
        raise ValueError(f"Expected `labels` < {probs.shape[1]} (number of classes), but got {labels.max()}")
    confidence = probs.max(1)
    correct = (probs.argmax(1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # side="left": c == edges[k] gives k, so the bin index k-1 is the bin (edges[k-1], edges[k]].
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=confidence, minlength=n_bins) / count
        accuracy = np.bincount(index, weights=correct, minlength=n_bins) / count
    return {"edges": edges, "confidence": mean_conf, "accuracy": accuracy, "count": count}


def ece_from_bins(bins: Mapping[str, Any]) -> float:
    """``Σ_b (n_b / n) |acc_b − conf_b|`` from :func:`reliability_bins` output (lists with None allowed)."""
    count = np.asarray(bins["count"], dtype=np.float64)
    acc = np.asarray([np.nan if v is None else v for v in bins["accuracy"]], dtype=np.float64)
    conf = np.asarray([np.nan if v is None else v for v in bins["confidence"]], dtype=np.float64)
    used = count > 0
    return float(np.sum(count[used] * np.abs(acc[used] - conf[used])) / count.sum())


def expected_calibration_error(
    probs_or_logits: Any, labels: Any, *, n_bins: int = DEFAULT_N_BINS, from_logits: bool | None = None
) -> float:
    """Top-label ECE (a fraction in [0, 1]) with ``n_bins`` equal-width bins on (0, 1].

    Args:
        probs_or_logits: (N, classes) tensor or array; see :func:`to_probabilities`.
        labels: (N,) integer classes.
        n_bins: number of equal-width bins.
        from_logits: force the reading of the first argument; None decides by its values.

    >>> round(expected_calibration_error(np.array([[0.8, 0.2]] * 5), np.array([0, 0, 0, 1, 1]), n_bins=10), 6)
    0.2
    """
    return ece_from_bins(reliability_bins(probs_or_logits, labels, n_bins=n_bins, from_logits=from_logits))


def calibration_summary(
    model: nn.Module,
    images: torch.Tensor,
    labels: Any,
    *,
    normalization: Normalization | None = None,
    n_bins: int = DEFAULT_N_BINS,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    outputs: str = "auto",
) -> dict[str, Any]:
    """ECE, accuracy (%), mean confidence and reliability bins of ``model`` on images in [0, 1].

    ``outputs``: ``"logits"``, ``"probs"`` (a model ending in ``nn.Softmax``) or ``"auto"`` (decided from the
    outputs: rows in [0, 1] summing to 1 are probabilities). Softmax is applied to logits only, never on top
    of probabilities.

    Raises:
        InvalidArgumentError: labels outside ``[0, C)`` (checked before anything else runs), bad ``outputs``.
    """
    images = check_images(images)
    labels = check_labels(labels, len(images))
    logits = predict_logits(model, images, normalization=normalization, batch_size=batch_size, device=device,
                            labels=labels, outputs=outputs)  # for a probability model: log p, softmax → p
    probs = to_probabilities(logits, from_logits=True)
    bins = reliability_bins(probs, labels, n_bins=n_bins, from_logits=False)
    return {
        "ece": ece_from_bins(bins),
        "accuracy": 100.0 * float((probs.argmax(1) == labels.numpy()).mean()),
        "mean_confidence": float(probs.max(1).mean()),
        "n_bins": n_bins,
        "bins": bins,
    }


def compare_calibration(
    original: nn.Module,
    pruned: nn.Module,
    images: torch.Tensor,
    labels: Any,
    *,
    normalization: Normalization | None = None,
    n_bins: int = DEFAULT_N_BINS,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> dict[str, dict[str, Any]]:
    """``{"original": calibration_summary(...), "pruned": calibration_summary(...)}`` on the same examples."""
    kw = dict(normalization=normalization, n_bins=n_bins, batch_size=batch_size, device=device)
    return {"original": calibration_summary(original, images, labels, **kw),
            "pruned": calibration_summary(pruned, images, labels, **kw)}  # fmt: skip


def plot_reliability_diagram(
    summaries: Mapping[str, Mapping[str, Any]], *, path: str | Path | None = None
) -> Any:
    """Reliability diagrams side by side (e.g. ``{"original": ..., "pruned": ...}``) — like the paper's Fig. 8.

    Each panel: accuracy per bin (bars), the gap to the bin's mean confidence (hatched), the ideal
    diagonal, the number of examples per bin (above the bars) and the ECE in the title.

    Args:
        summaries: name → :func:`calibration_summary` output, or just its ``bins`` (lists from JSON ok).
        path: save the figure there as PNG (atomically) when given.

    Returns:
        The matplotlib Figure.
    """
    if not isinstance(summaries, Mapping) or not summaries:
        raise ValueError(f"Expected a non-empty mapping name → calibration summary, but got {summaries!r}")
    fig = new_figure(4.0 * len(summaries), 4.0)
    axes = np.atleast_1d(fig.subplots(1, len(summaries), sharey=True))
    for ax, (name, summary) in zip(axes, summaries.items()):
        bins = summary.get("bins", summary)
        edges = np.asarray(bins["edges"], dtype=float)
        acc = np.asarray([np.nan if v is None else v for v in bins["accuracy"]], dtype=float)
        conf = np.asarray([np.nan if v is None else v for v in bins["confidence"]], dtype=float)
        count = np.asarray(bins["count"], dtype=int)
        width, left = np.diff(edges), edges[:-1]
        used = count > 0
        ax.bar(left[used], acc[used], width=width[used], align="edge", color="tab:blue",
               edgecolor="black", label="accuracy")  # fmt: skip
        gap_low = np.minimum(acc, conf)[used]
        ax.bar(left[used], np.abs(conf - acc)[used], bottom=gap_low, width=width[used], align="edge",
               facecolor="none", hatch="///", edgecolor="tab:red", linewidth=0.8,
               label="gap to mean confidence")  # fmt: skip
        ax.plot([0, 1], [0, 1], color="red", linewidth=1.5, label="ideal")
        top = np.maximum(acc, conf)[used]
        for x, w, t, c in zip(left[used], width[used], top, count[used]):
            ax.text(x + w / 2, min(t, 0.9) + 0.015, f"n={c}" if len(edges) <= 11 else str(c), ha="center",
                    va="bottom", fontsize=6, rotation=0 if len(edges) <= 11 else 90)  # fmt: skip
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("confidence")
        ax.set_title(f"{name}: ECE = {100 * ece_from_bins(bins):.2f}%")
    axes[0].set_ylabel("accuracy")
    axes[0].legend(loc="upper left", fontsize=7)
    if path is not None:
        save_figure(fig, path)
    return fig
