"""Calibration: top-label expected calibration error (ECE) in two binnings, NLL, Brier, reliability diagrams.

ECE (Naeini et al. 2015; Guo et al. 2017, "On calibration of modern neural networks", eq. 3): split the
top-label confidences into bins and sum ``(n_b / n) · |acc_b − conf_b|`` (L1). Two binnings share one
implementation (:func:`bin_indices` assigns the bins, :func:`expected_calibration_error` sums):

- ``"equal_width"``: 15 bins ``[k/15, (k+1)/15)`` on [0, 1], decided in exact arithmetic on the stored float64
  confidence ``c`` (bin ``⌊15 c⌋``): a confidence exactly on an edge goes to the *upper* bin, and a confidence of
  exactly 1 sits in a bin of its own above the last one — *torchmetrics' convention* (``torch.bucketize(...,
  right=True)``). The value equals ``torchmetrics.functional.classification.multiclass_calibration_error(...,
  n_bins, norm="l1")`` except for confidences within float32 rounding (≈ 6e-8) of an edge: torchmetrics rounds the
  confidences to float32 and compares them with float32 ``torch.linspace`` edges, which are not always the
  nearest float32 to ``k/n_bins`` (``0.7`` in float32 lies below 7/10, yet torchmetrics puts it in the bin above
  0.7 for 10 bins; mintlab in the bin below). Both are checked in ``tests/characterize/test_calibration.py``.
  Guo et al.'s own code uses ``(lo, hi]`` bins; they too differ only for confidences on an edge. mintlab
  computes the value itself rather than calling torchmetrics because the equal-mass variant (below) has to be
  written anyway and the bootstrap needs a vectorised form: one implementation for both.
- ``"equal_mass"`` (adaptive): sort the confidences (stable, so ties keep their order) and put the example at
  sorted position ``j`` in bin ``⌊j · n_bins / n⌋``: every bin holds ⌊n/n_bins⌋ or ⌈n/n_bins⌉ examples
  (Nixon et al. 2019, "Measuring calibration in deep learning", adaptive calibration error with the top label
  only). torchmetrics has no adaptive binning.

Values are fractions in [0, 1]. :func:`ece_with_ci` adds a percentile bootstrap confidence interval over
examples (the bins are re-derived on each resample for equal-mass bins).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mintlab.characterize._common import (
    Normalization,
    check_images,
    check_labels,
    finished_figure,
    new_figure,
    predict_logits,
)
from mintlab.utils.checks import InvalidArgumentError, check_int, check_seed

__all__ = [
    "DEFAULT_N_BINS",
    "BINNINGS",
    "to_probabilities",
    "bin_indices",
    "reliability_bins",
    "expected_calibration_error",
    "ece_with_ci",
    "negative_log_likelihood",
    "brier_score",
    "calibration_summary",
    "compare_calibration",
    "draw_reliability",
    "plot_reliability_diagram",
]

#: Bins used when none are given (Guo et al. 2017 use 15).
DEFAULT_N_BINS = 15
#: The two binning conventions of :func:`bin_indices`.
BINNINGS: tuple[str, ...] = ("equal_width", "equal_mass")
#: How far rows may sum from 1 and still be read as probabilities (float32 softmax rounding).
PROB_SUM_TOLERANCE = 1e-4
#: Bootstrap resamples processed at once (bounds memory at ≈ chunk × n × 8 bytes × a few arrays).
_BOOTSTRAP_CHUNK = 100


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


def _check_binning(binning: Any) -> str:
    if binning not in BINNINGS:
        raise ValueError(f"Expected `binning` in {BINNINGS}, but got {binning!r}")
    return binning


def _top_label(probs_or_logits: Any, labels: Any, from_logits: bool | None) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, correct as 0/1 float64), each (N,)."""
    probs = to_probabilities(probs_or_logits, from_logits=from_logits)
    labels = check_labels(labels, len(probs)).numpy()
    if labels.max() >= probs.shape[1]:
        raise ValueError(f"Expected `labels` < {probs.shape[1]} (number of classes), but got {labels.max()}")
    return probs.max(1), (probs.argmax(1) == labels).astype(np.float64)


def bin_indices(confidence: np.ndarray, *, n_bins: int = DEFAULT_N_BINS, binning: str = "equal_width") -> np.ndarray:
    """Bin of each confidence, (..., N) int64 in ``[0, n_bins]`` (last axis = examples).

    ``"equal_width"``: ``k`` for ``k/n_bins ≤ c < (k+1)/n_bins`` in exact arithmetic on the float64 value of
    ``c``, and ``n_bins`` for ``c == 1`` (torchmetrics' bucketize convention, see the module docstring).
    ``"equal_mass"``: ``⌊j · n_bins / N⌋`` for the example at stable-sorted position ``j`` along the last axis;
    bin ``n_bins`` stays empty.

    Raises:
        InvalidArgumentError: ``n_bins`` not in ``[1, MAX_BINS]``, an unknown ``binning``, or (equal width) a
            confidence that is NaN or outside [0, 1].

    >>> bin_indices(np.array([0.0, 0.5, 0.99, 1.0]), n_bins=2).tolist()
    [0, 1, 1, 2]
    >>> bin_indices(np.array([0.9, 0.2, 0.5, 0.7]), n_bins=2, binning="equal_mass").tolist()
    [1, 0, 0, 1]
    """
    n_bins = check_int(n_bins, "n_bins", minimum=1, maximum=MAX_BINS)
    binning = _check_binning(binning)
    confidence = np.asarray(confidence, dtype=np.float64)
    if binning == "equal_width":
        return _equal_width_bins(confidence, n_bins)
    n = confidence.shape[-1]
    order = np.argsort(confidence, axis=-1, kind="stable")
    sorted_bin = (np.arange(n) * n_bins) // max(n, 1)
    out = np.empty(confidence.shape, dtype=np.int64)
    np.put_along_axis(out, order, np.broadcast_to(sorted_bin, confidence.shape), axis=-1)
    return out


#: The most bins :func:`bin_indices` takes (its exact equal-width product needs ``n_bins`` < 2**26).
MAX_BINS = 2**26 - 1


def _equal_width_bins(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """``⌊c · n_bins⌋`` in exact arithmetic on each float64 ``c``, clipped to ``[0, n_bins]``.

    The float64 product ``p = fl(c · n_bins)`` can round up onto an integer (and ``linspace`` edges such as
    0.7 are stored above their value). Its rounding error ``e = c · n_bins − p`` is computed exactly by
    Dekker's product (``c`` split into two 26-bit halves; ``n_bins`` < 2**26 is exact), and ``⌊c · n_bins⌋``
    is ``⌊p⌋`` except when ``p`` is an integer and ``e < 0`` (``p`` cannot cross an integer otherwise: the
    integers are multiples of its last place). Vectorised; every edge and its float64 neighbours are
    checked against exact rationals in the tests.

    Raises:
        InvalidArgumentError: a confidence that is NaN or outside [0, 1].
    """
    if confidence.size and not (np.all(confidence >= 0.0) and np.all(confidence <= 1.0)):
        bad = confidence[~((confidence >= 0.0) & (confidence <= 1.0))].flat[0]
        raise InvalidArgumentError(f"Expected confidences in [0, 1], but got {bad}")
    n = float(n_bins)
    product = confidence * n
    big = confidence * 134217729.0  # Veltkamp's split by 2**27 + 1
    high = big - (big - confidence)
    error = (high * n - product) + (confidence - high) * n
    index = np.floor(product)
    index -= (index == product) & (error < 0.0)
    return np.clip(index, 0, n_bins).astype(np.int64)


def _binned_ece(index: np.ndarray, confidence: np.ndarray, correct: np.ndarray, n_bins: int) -> np.ndarray:
    """``Σ_b |Σ_{i∈b} (correct_i − conf_i)| / N`` = ``Σ_b (n_b/N)|acc_b − conf_b|`` over the last axis; shape (...)."""
    lead = index.shape[:-1]
    slots = n_bins + 1
    offset = np.arange(int(np.prod(lead, dtype=np.int64))).reshape(lead + (1,)) * slots
    flat = (index + offset).ravel()
    gap = np.bincount(flat, weights=(correct - confidence).ravel(), minlength=slots * max(1, offset.size))
    return np.abs(gap.reshape(lead + (slots,))).sum(-1) / index.shape[-1]


def expected_calibration_error(
    probs_or_logits: Any,
    labels: Any,
    *,
    n_bins: int = DEFAULT_N_BINS,
    binning: str = "equal_width",
    from_logits: bool | None = None,
) -> float:
    """Top-label L1 ECE (a fraction in [0, 1]) with ``n_bins`` bins of the given ``binning``.

    Args:
        probs_or_logits: (N, classes) tensor or array; see :func:`to_probabilities`.
        labels: (N,) integer classes.
        n_bins: number of bins (15 in Guo et al. 2017).
        binning: ``"equal_width"`` (equals torchmetrics' ``multiclass_calibration_error(norm="l1")`` except for
            confidences within float32 rounding of a bin edge; see the module docstring) or
            ``"equal_mass"`` (adaptive); see the module docstring.
        from_logits: force the reading of the first argument; None decides by its values.

    Raises:
        ValueError / TypeError: bad shapes, non-finite values, labels out of range, unknown binning.

    >>> probs, labels = np.array([[0.8, 0.2]] * 5), np.array([0, 0, 0, 1, 1])
    >>> round(expected_calibration_error(probs, labels, n_bins=10), 6)  # |0.6 − 0.8|
    0.2
    """
    confidence, correct = _top_label(probs_or_logits, labels, from_logits)
    n_bins = check_int(n_bins, "n_bins", minimum=1)
    index = bin_indices(confidence, n_bins=n_bins, binning=binning)
    return float(_binned_ece(index, confidence, correct, n_bins))


def ece_with_ci(
    probs_or_logits: Any,
    labels: Any,
    *,
    n_bins: int = DEFAULT_N_BINS,
    binning: str = "equal_width",
    n_bootstrap: int = 1000,
    confidence_level: float = 0.95,
    seed: int = 0,
    from_logits: bool | None = None,
) -> dict[str, Any]:
    """ECE with a percentile bootstrap confidence interval over examples (Efron & Tibshirani 1993, ch. 13).

    Each of ``n_bootstrap`` resamples draws N examples with replacement (seeded) and recomputes the ECE with the
    same definition (equal-mass bins are re-derived from the resample). The interval is the
    ``(1 ± confidence_level)/2`` quantiles of the resampled values. The binned ECE is biased upwards (|·| of a
    noisy per-bin gap) and resampling adds that bias again, so the interval often sits above the point estimate
    and may exclude it. It describes the spread of the estimator; it covers the *true* ECE at about the stated
    rate only when per-bin gaps are large against their noise (measured, n = 1000, 90 %: 0.89 for a true ECE of
    0.1, 0.00 for a perfectly calibrated model: see docs/characterization.md).

    Returns:
        ``{"ece", "ci_low", "ci_high", "binning", "n_bins", "n_bootstrap", "confidence_level", "n"}``.
    """
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", minimum=1)
    if (
        not isinstance(confidence_level, numbers.Real)
        or isinstance(confidence_level, bool)
        or not 0.0 < confidence_level < 1.0
    ):
        raise ValueError(f"Expected `confidence_level` as a number in (0, 1), but got {confidence_level!r}")
    confidence_level = float(confidence_level)
    seed = check_seed(seed)
    confidence, correct = _top_label(probs_or_logits, labels, from_logits)
    n_bins = check_int(n_bins, "n_bins", minimum=1)
    binning = _check_binning(binning)
    value = float(_binned_ece(bin_indices(confidence, n_bins=n_bins, binning=binning), confidence, correct, n_bins))
    rng = np.random.default_rng(seed)
    n = len(confidence)
    fixed = bin_indices(confidence, n_bins=n_bins, binning=binning) if binning == "equal_width" else None
    samples = []
    for start in range(0, n_bootstrap, _BOOTSTRAP_CHUNK):
        idx = rng.integers(0, n, size=(min(_BOOTSTRAP_CHUNK, n_bootstrap - start), n))
        conf, corr = confidence[idx], correct[idx]
        index = fixed[idx] if fixed is not None else bin_indices(conf, n_bins=n_bins, binning=binning)
        samples.append(_binned_ece(index, conf, corr, n_bins))
    boot = np.concatenate(samples)
    tail = (1.0 - confidence_level) / 2.0
    low, high = np.quantile(boot, [tail, 1.0 - tail])
    return {"ece": value, "ci_low": float(low), "ci_high": float(high), "binning": binning, "n_bins": n_bins,
            "n_bootstrap": n_bootstrap, "confidence_level": confidence_level, "n": n}  # fmt: skip


def negative_log_likelihood(probs_or_logits: Any, labels: Any, *, from_logits: bool | None = None) -> float:
    """Mean ``−log p(y | x)`` in nats (the cross-entropy; Guo et al. 2017 report it beside ECE).

    A probability of exactly 0 for the true class is floored at the smallest positive normal float64 (≈ 708 nats).

    >>> round(negative_log_likelihood(np.array([[0.5, 0.5], [0.25, 0.75]]), np.array([0, 1])), 6)
    0.490415
    """
    probs = to_probabilities(probs_or_logits, from_logits=from_logits)
    labels = check_labels(labels, len(probs)).numpy()
    if labels.max() >= probs.shape[1]:
        raise ValueError(f"Expected `labels` < {probs.shape[1]} (number of classes), but got {labels.max()}")
    p = probs[np.arange(len(labels)), labels]
    return float(-np.log(np.maximum(p, np.finfo(np.float64).tiny)).mean())


def brier_score(probs_or_logits: Any, labels: Any, *, from_logits: bool | None = None) -> float:
    """Multiclass Brier score (Brier 1950): mean over examples of ``Σ_c (p_c − 1[y = c])²``, in [0, 2].

    >>> brier_score(np.array([[1.0, 0.0], [0.5, 0.5]]), np.array([0, 0]))
    0.25
    """
    probs = to_probabilities(probs_or_logits, from_logits=from_logits)
    labels = check_labels(labels, len(probs)).numpy()
    if labels.max() >= probs.shape[1]:
        raise ValueError(f"Expected `labels` < {probs.shape[1]} (number of classes), but got {labels.max()}")
    onehot = np.eye(probs.shape[1])[labels]
    return float(((probs - onehot) ** 2).sum(1).mean())


def reliability_bins(
    probs_or_logits: Any,
    labels: Any,
    *,
    n_bins: int = DEFAULT_N_BINS,
    binning: str = "equal_width",
    from_logits: bool | None = None,
) -> dict[str, Any]:
    """Per-bin mean confidence, accuracy and count of the top-label predictions (for reliability diagrams).

    Uses :func:`bin_indices`; for equal-width bins, confidences of exactly 1 are *shown* in the last bin (the
    ECE keeps them apart, as torchmetrics does). ``edges`` are the bin limits: ``linspace(0, 1, n_bins + 1)``
    for equal width; for equal mass, the lowest confidence, the midpoints between neighbouring occupied bins'
    extreme confidences (an empty bin, possible when ``N < n_bins``, gets zero width), and 1.

    Returns:
        ``{"binning", "edges": (n_bins+1,), "confidence": (n_bins,), "accuracy": (n_bins,), "count": (n_bins,)}``;
        confidence and accuracy are NaN in empty bins.

    >>> bins = reliability_bins(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 1]), n_bins=2)
    >>> bins["count"].tolist(), bins["accuracy"].tolist()
    ([0, 2], [nan, 0.5])
    """
    confidence, correct = _top_label(probs_or_logits, labels, from_logits)
    n_bins = check_int(n_bins, "n_bins", minimum=1)
    index = np.minimum(bin_indices(confidence, n_bins=n_bins, binning=binning), n_bins - 1)
    count = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=confidence, minlength=n_bins) / count
        accuracy = np.bincount(index, weights=correct, minlength=n_bins) / count
    if binning == "equal_width":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        lo = np.array([confidence[index == b].min() if count[b] else np.inf for b in range(n_bins)])
        hi = np.array([confidence[index == b].max() if count[b] else -np.inf for b in range(n_bins)])
        first = float(lo.min()) if count.any() else 0.0
        # the limit between bins b−1 and b: midway between the highest confidence at or below bin b−1 and the
        # lowest at or above bin b (an empty bin gets zero width there), 1 past the last occupied bin
        below = np.maximum.accumulate(hi)[:-1]
        above = np.minimum.accumulate(lo[::-1])[::-1][1:]
        inner = np.where(np.isfinite(above), (np.maximum(below, first) + above) / 2.0, 1.0)
        edges = np.concatenate([[first], inner, [1.0]])
    return {"binning": binning, "edges": edges, "confidence": mean_conf, "accuracy": accuracy, "count": count}


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
    """ECE (both binnings), NLL, Brier, accuracy (%), mean confidence and equal-width bins of ``model``.

    ``outputs``: ``"logits"``, ``"probs"`` (a model ending in ``nn.Softmax``) or ``"auto"`` (decided from the
    outputs: rows in [0, 1] summing to 1 are probabilities). Softmax is applied to logits only, never on top
    of probabilities.

    Raises:
        InvalidArgumentError: labels outside ``[0, C)`` (checked before anything else runs), bad ``outputs``.
    """
    images = check_images(images)
    labels = check_labels(labels, len(images))
    logits = predict_logits(
        model, images, normalization=normalization, batch_size=batch_size, device=device, labels=labels, outputs=outputs
    )  # for a probability model: log p, softmax → p
    probs = to_probabilities(logits, from_logits=True)
    kw = dict(n_bins=n_bins, from_logits=False)
    return {
        "ece": expected_calibration_error(probs, labels, binning="equal_width", **kw),
        "ece_equal_mass": expected_calibration_error(probs, labels, binning="equal_mass", **kw),
        "nll": negative_log_likelihood(probs, labels, from_logits=False),
        "brier": brier_score(probs, labels, from_logits=False),
        "accuracy": 100.0 * float((probs.argmax(1) == labels.numpy()).mean()),
        "mean_confidence": float(probs.max(1).mean()),
        "n_bins": n_bins,
        "bins": reliability_bins(probs, labels, binning="equal_width", **kw),
    }


def compare_calibration(
    original: nn.Module, pruned: nn.Module, images: torch.Tensor, labels: Any, **kwargs: Any
) -> dict[str, dict[str, Any]]:
    """``{"original": calibration_summary(...), "pruned": calibration_summary(...)}`` on the same examples; the
    keywords (``normalization``, ``n_bins``, ``batch_size``, ``device``, ``outputs``) as in
    :func:`calibration_summary`, the same for both networks."""
    return {"original": calibration_summary(original, images, labels, **kwargs),
            "pruned": calibration_summary(pruned, images, labels, **kwargs)}  # fmt: skip


def _floats(values: Any) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in values], dtype=float)


def draw_reliability(ax: Any, bins: Mapping[str, Any], title: str, *, legend: bool = False) -> None:
    """One reliability diagram on ``ax``: accuracy per bin (bars), the gap to the mean confidence (hatched),
    the diagonal and the count per bin. ``bins``: :func:`reliability_bins` output (lists from JSON ok)."""
    edges = np.asarray(bins["edges"], dtype=float)
    acc, conf = _floats(bins["accuracy"]), _floats(bins["confidence"])
    count = np.asarray(bins["count"], dtype=int)
    width, left = np.diff(edges), edges[:-1]
    used = count > 0
    ax.bar(left[used], acc[used], width=width[used], align="edge", color="tab:blue", edgecolor="black",
           label="accuracy")  # fmt: skip
    ax.bar(left[used], np.abs(conf - acc)[used], bottom=np.minimum(acc, conf)[used], width=width[used],
           align="edge", facecolor="none", hatch="///", edgecolor="tab:red", linewidth=0.8,
           label="gap to mean confidence")  # fmt: skip
    ax.plot([0, 1], [0, 1], color="red", linewidth=1.5, label="ideal")
    top = np.maximum(acc, conf)[used]
    small = len(edges) <= 11
    for x, w, t, c in zip(left[used], width[used], top, count[used], strict=True):
        ax.text(x + w / 2, min(t, 0.9) + 0.015, f"n={c}" if small else str(c), ha="center", va="bottom",
                fontsize=6, rotation=0 if small else 90)  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("confidence")
    ax.set_title(title, fontsize=9)
    if legend:
        ax.legend(loc="upper left", fontsize=7)


def plot_reliability_diagram(summaries: Mapping[str, Mapping[str, Any]], *, path: str | Path | None = None) -> Any:
    """Reliability diagrams side by side (e.g. ``{"original": ..., "pruned": ...}``) — like the paper's Fig. 8.

    Args:
        summaries: name → :func:`calibration_summary` output (lists from JSON ok); equal-width bins, with
            the summary's ECE in the title.
        path: save the figure there as PNG (atomically) when given.

    Returns:
        The matplotlib Figure.
    """
    if not isinstance(summaries, Mapping) or not summaries:
        raise ValueError(f"Expected a non-empty mapping name → calibration summary, but got {summaries!r}")
    fig = new_figure(4.0 * len(summaries), 4.0)
    axes = np.atleast_1d(fig.subplots(1, len(summaries), sharey=True))
    for k, (ax, (name, summary)) in enumerate(zip(axes, summaries.items(), strict=True)):
        if "ece" not in summary or "bins" not in summary:
            raise ValueError(f"Expected calibration summaries with 'ece' and 'bins', but {name!r} has "
                             f"{sorted(summary)}")  # fmt: skip
        draw_reliability(ax, summary["bins"], f"{name}: ECE = {100 * summary['ece']:.2f}% (equal width)",
                         legend=k == 0)  # fmt: skip
    axes[0].set_ylabel("accuracy")
    return finished_figure(fig, path)
