"""Toy data of notebook 1: the Gaussian GMI ground truth and the scenario generators."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mintlab.estimator import toy

#: Monte Carlo with 400k draws has a standard error below 5e-4 for these integrals.
MC_TOL = 2e-3


@pytest.mark.parametrize("rho", [0.3, 0.7, 0.95, -0.5])
def test_gaussian_gmi_matches_monte_carlo(rho: float) -> None:
    # independent route: ∬ f g/(f+g) = E_f[g / (f + g)] with f the joint, g the product of marginals
    rng = np.random.default_rng(0)
    cov = np.array([[1.0, rho], [rho, 1.0]])
    pts = rng.multivariate_normal(np.zeros(2), cov, size=400_000)
    f = stats.multivariate_normal(np.zeros(2), cov).pdf(pts)
    g = stats.norm.pdf(pts[:, 0]) * stats.norm.pdf(pts[:, 1])
    assert toy.gaussian_gmi(rho) == pytest.approx(1 - 2 * np.mean(g / (f + g)), abs=MC_TOL)


def test_gaussian_gmi_symmetric_monotone_and_bounded() -> None:
    values = [toy.gaussian_gmi(r) for r in (0.0, 0.2, 0.5, 0.8, 0.99)]
    assert values == sorted(values) and values[0] == 0.0 and values[-1] < 1.0
    assert toy.gaussian_gmi(-0.6) == pytest.approx(toy.gaussian_gmi(0.6), abs=1e-9)


def test_gaussian_triplet_has_the_requested_partial_correlation() -> None:
    x, y, z = toy.gaussian_triplet(200_000, 0.6, dz=3, seed=1)
    # residuals of x and y after regressing out z
    zc = np.column_stack([z, np.ones(len(z))])
    rx = x[:, 0] - zc @ np.linalg.lstsq(zc, x[:, 0], rcond=None)[0]
    ry = y[:, 0] - zc @ np.linalg.lstsq(zc, y[:, 0], rcond=None)[0]
    assert np.corrcoef(rx, ry)[0, 1] == pytest.approx(0.6, abs=0.01)
    assert np.corrcoef(x[:, 0], y[:, 0])[0, 1] > 0.6  # z adds shared dependence


def test_scenarios_shapes_and_errors() -> None:
    for name in toy.SCENARIOS:
        x, y, z = toy.scenario(name, 50, dx=3, dy=2, dz=7, seed=0)
        assert x.shape == (50, 3) and y.shape == (50, 2) and z.shape == (50, 7)
    with pytest.raises(ValueError, match="Expected `name`"):
        toy.scenario("nonsense", 10)
    with pytest.raises(ValueError, match="correlation `rho` in \\(-1, 1\\)"):
        toy.gaussian_gmi(1.0)


def test_curves_are_seeded() -> None:
    a = toy.gmi_vs_rho([0.0, 0.8], 120, repeats=2, seed=3)
    b = toy.gmi_vs_rho([0.0, 0.8], 120, repeats=2, seed=3)
    assert a == b
    assert a["truth"][0] == 0.0 and a["mean"][1] > a["mean"][0]
