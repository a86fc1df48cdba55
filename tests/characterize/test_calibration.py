"""ECE in both binnings: torchmetrics agreement, hand-computed cases, bootstrap coverage; NLL and Brier."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from torchmetrics.functional.classification import multiclass_calibration_error

from mintlab.characterize.calibration import (
    bin_indices,
    brier_score,
    ece_with_ci,
    expected_calibration_error,
    negative_log_likelihood,
    reliability_bins,
)

#: torchmetrics computes in float32 (it casts the predictions), mintlab in float64: float32 rounding of sums ≤ 1.
TORCHMETRICS_ATOL = 1e-6


def random_probs(seed: int, n: int = 600, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3.0, size=(n, classes))
    labels = rng.integers(0, classes, size=n)
    labels[: n // 2] = logits[: n // 2].argmax(1)  # half right, so accuracy varies across bins
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return probs, labels


def torchmetrics_ece(probs: np.ndarray, labels: np.ndarray, n_bins: int) -> float:
    return float(multiclass_calibration_error(torch.from_numpy(probs), torch.from_numpy(labels),
                                              num_classes=probs.shape[1], n_bins=n_bins, norm="l1"))  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_bins", [1, 7, 15, 40])
def test_equal_width_ece_matches_torchmetrics(seed, n_bins):
    probs, labels = random_probs(seed)
    expected = torchmetrics_ece(probs, labels, n_bins)
    assert expected > 0.01  # a non-trivial case
    assert expected_calibration_error(probs, labels, n_bins=n_bins) == pytest.approx(expected, abs=TORCHMETRICS_ATOL)


def test_equal_width_matches_torchmetrics_on_edges_and_at_confidence_one():
    # 4 bins, edges 0.25, 0.5, 0.75 exact in binary; confidences on edges and at exactly 1. torchmetrics puts an edge
    # in the upper bin and 1.0 in a bin of its own (Guo et al.'s (lo, hi] bins would give 1.625 / 6 here instead)
    probs = np.array([[0.75, 0.25], [0.25, 0.75], [0.625, 0.375], [0.5, 0.5], [1.0, 0.0], [1.0, 0.0]])
    labels = np.array([0, 0, 0, 0, 0, 1])
    assert expected_calibration_error(probs, labels, n_bins=4) == pytest.approx(
        torchmetrics_ece(probs, labels, 4), abs=TORCHMETRICS_ATOL
    )
    # hand: [0.5, 0.75) {0.625 ✓, 0.5 ✓} → 2·|1 − 0.5625|; [0.75, 1) {0.75 ✓, 0.75 ✗} → 2·0.25; {1 ✓, 1 ✗} → 2·0.5
    assert expected_calibration_error(probs, labels, n_bins=4) == pytest.approx((0.875 + 0.5 + 1.0) / 6)


def test_equal_width_bins_are_exact_next_to_every_edge():
    # for 1..200 bins, k/n_bins and its float64 neighbours: bin ⌊c · n_bins⌋ of the stored value, in exact
    # rationals. The float64 products and linspace edges round across an edge for many of these (17 % of them
    # before the fix), and random confidences near 1 exercise the rounding of the product
    rng = np.random.default_rng(0)
    for n_bins in range(1, 201):
        edge = np.arange(n_bins + 1) / n_bins
        near = np.concatenate([edge, np.nextafter(edge, 0.0), np.nextafter(edge, 1.0), 1.0 - rng.random(20) * 1e-15])
        conf = np.clip(near, 0.0, 1.0)
        exact = [min(math.floor(Fraction(float(c)) * n_bins), n_bins) for c in conf]
        assert bin_indices(conf, n_bins=n_bins).tolist() == exact, n_bins
    assert bin_indices(conf[:-1].reshape(-1, 2), n_bins=200).ravel().tolist() == exact[:-1]  # (..., N) layout


def test_confidences_outside_zero_one_are_refused():
    for bad in (np.nan, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"Expected confidences in \[0, 1\], but got"):
            bin_indices(np.array([0.5, bad]), n_bins=10)


def test_float32_confidence_on_a_decimal_edge_differs_from_torchmetrics_as_documented():
    # 0.7 in float32 is 0.699999988… < 7/10: mintlab's bin 6. torchmetrics compares it with its float32 linspace
    # edge, which is that same float32 number, and puts it in bin 7. Elsewhere the two agree.
    probs = torch.tensor([[0.7, 0.3], [0.65, 0.35], [0.75, 0.25]])
    labels = torch.tensor([0, 0, 1])
    assert bin_indices(probs.max(1).values.double().numpy(), n_bins=10).tolist() == [6, 6, 7]
    edges = torch.linspace(0, 1, 11)
    assert (torch.bucketize(probs.max(1).values, edges, right=True) - 1).tolist() == [7, 6, 7]
    # bin 6 {0.7 ✓, 0.65 ✓} → 2·|1 − 0.675|, bin 7 {0.75 ✗} → 0.75, over 3 examples
    assert expected_calibration_error(probs, labels, n_bins=10) == pytest.approx((0.65 + 0.75) / 3, abs=1e-7)
    assert torchmetrics_ece(probs.numpy(), labels.numpy(), 10) == pytest.approx((0.3 + 0.5) / 3, abs=1e-6)


def test_equal_mass_edges_with_empty_bins_keep_every_example_inside_its_bar():
    # N = 2 < 5 bins: sorted positions 0, 1 → bins 0 and 2; bins 1, 3, 4 are empty and get zero width
    probs, labels = np.array([[0.6, 0.4], [0.9, 0.1]]), np.array([0, 1])
    bins = reliability_bins(probs, labels, n_bins=5, binning="equal_mass")
    assert bins["count"].tolist() == [1, 0, 1, 0, 0]
    assert bins["edges"].tolist() == [0.6, 0.75, 0.75, 1.0, 1.0, 1.0]
    for n in (3, 7, 11, 40):  # every occupied bin's confidences lie within its edges, edges non-decreasing
        probs, labels = random_probs(n, n=n)
        bins = reliability_bins(probs, labels, n_bins=15, binning="equal_mass")
        index = np.minimum(bin_indices(probs.max(1), n_bins=15, binning="equal_mass"), 14)
        edges = bins["edges"]
        assert np.all(np.diff(edges) >= 0)
        for c, b in zip(probs.max(1), index):
            assert edges[b] <= c <= edges[b + 1]


def test_equal_mass_hand_computed_cases():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5], [0.7, 0.3]])  # confidences 0.9, 0.8, 0.5, 0.7
    labels = np.array([0, 0, 0, 1])  # correct: 1, 0, 1, 0
    # sorted: 0.5 (1), 0.7 (0) | 0.8 (0), 0.9 (1) → (2/4)|0.5 − 0.6| + (2/4)|0.5 − 0.85|
    assert expected_calibration_error(probs, labels, n_bins=2, binning="equal_mass") == pytest.approx(0.05 + 0.175)
    # n_bins ≥ n: one example per bin → mean |correct − confidence|
    expected = np.mean(np.abs(np.array([1, 0, 1, 0]) - np.array([0.9, 0.8, 0.5, 0.7])))
    assert expected_calibration_error(probs, labels, n_bins=4, binning="equal_mass") == pytest.approx(expected)
    assert expected_calibration_error(probs, labels, n_bins=15, binning="equal_mass") == pytest.approx(expected)
    # one bin: |accuracy − mean confidence| in both conventions
    for binning in ("equal_width", "equal_mass"):
        assert expected_calibration_error(probs, labels, n_bins=1, binning=binning) == pytest.approx(abs(0.5 - 0.725))


def test_equal_mass_bins_are_balanced_and_ordered():
    conf = np.array([0.95, 0.31, 0.5, 0.5, 0.77, 0.62, 0.41])
    index = bin_indices(conf, n_bins=3, binning="equal_mass")
    assert np.bincount(index).tolist() == [3, 2, 2]  # ⌊j·3/7⌋ for j = 0..6
    order = np.argsort(conf, kind="stable")
    assert np.all(np.diff(index[order]) >= 0)  # bins follow the confidence order
    rng = np.random.default_rng(0)
    counts = np.bincount(bin_indices(rng.random(1000), n_bins=15, binning="equal_mass"), minlength=16)
    assert counts[:15].min() >= 1000 // 15 and counts[:15].max() <= 1000 // 15 + 1 and counts[15] == 0
    # batched (resamples × examples) gives the same as one row at a time
    batch = rng.random((4, 50))
    rows = np.stack([bin_indices(r, n_bins=6, binning="equal_mass") for r in batch])
    assert np.array_equal(bin_indices(batch, n_bins=6, binning="equal_mass"), rows)


def test_reliability_bins_agree_with_the_ece():
    probs, labels = random_probs(3)
    for binning in ("equal_width", "equal_mass"):
        bins = reliability_bins(probs, labels, n_bins=15, binning=binning)
        used = bins["count"] > 0
        ece = np.sum(bins["count"][used] * np.abs(bins["accuracy"][used] - bins["confidence"][used])) / len(labels)
        assert ece == pytest.approx(expected_calibration_error(probs, labels, binning=binning), abs=1e-12)
        assert bins["count"].sum() == len(labels) and np.all(np.diff(bins["edges"]) >= 0)


def synthetic_overconfident(n: int, rng: np.random.Generator, gap: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Two classes; top-label confidence c ~ U(0.6, 0.95) and P(correct | c) = c − gap exactly.

    Every bin of any binning then has accuracy − confidence = −gap in the population: the true ECE is ``gap``.
    """
    conf = rng.uniform(0.6, 0.95, size=n)
    correct = rng.random(n) < conf - gap
    probs = np.stack([conf, 1 - conf], 1)
    return probs, np.where(correct, 0, 1)


@pytest.mark.parametrize("binning", ["equal_width", "equal_mass"])
def test_bootstrap_ci_covers_the_true_ece_at_about_the_stated_rate(binning):
    rng = np.random.default_rng(2024)
    repeats, level, true_ece = 200, 0.9, 0.1
    covered = 0
    for r in range(repeats):
        probs, labels = synthetic_overconfident(1000, rng)
        ci = ece_with_ci(probs, labels, binning=binning, n_bootstrap=200, confidence_level=level, seed=r)
        assert ci["ci_low"] <= ci["ece"] <= ci["ci_high"]
        covered += ci["ci_low"] <= true_ece <= ci["ci_high"]
    # binomial sd of the coverage over 200 repeats at 0.9 is 0.021: accept ± 3 sd around the stated 90 %
    assert 0.9 - 0.064 <= covered / repeats <= 0.9 + 0.064, covered / repeats


def test_bootstrap_is_seeded_and_checks_its_arguments():
    probs, labels = random_probs(0)
    a = ece_with_ci(probs, labels, n_bootstrap=50, seed=1)
    assert a == ece_with_ci(probs, labels, n_bootstrap=50, seed=1)
    assert a["ece"] == expected_calibration_error(probs, labels)
    with pytest.raises(ValueError, match="confidence_level"):
        ece_with_ci(probs, labels, confidence_level=95)
    with pytest.raises(ValueError, match="n_bootstrap"):
        ece_with_ci(probs, labels, n_bootstrap=0)
    with pytest.raises(ValueError, match="binning"):
        expected_calibration_error(probs, labels, binning="quantile")


def test_nll_and_brier_against_torch_and_hand_values():
    probs, labels = random_probs(4, n=200)
    logits = torch.log(torch.from_numpy(probs))
    expected = float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels)))
    assert negative_log_likelihood(probs, labels) == pytest.approx(expected, rel=1e-10)
    assert negative_log_likelihood(logits.numpy() + 3.0, labels, from_logits=True) == pytest.approx(expected, rel=1e-9)
    assert brier_score(np.array([[0.7, 0.2, 0.1]]), np.array([1])) == pytest.approx(0.7**2 + 0.8**2 + 0.1**2)
    assert brier_score(np.eye(3), np.arange(3)) == 0.0
    floored = -np.log(np.finfo(np.float64).tiny)  # ≈ 708 nats
    assert negative_log_likelihood(np.array([[1.0, 0.0]]), np.array([1])) == pytest.approx(floored)
