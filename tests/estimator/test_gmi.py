"""GMI estimators: ground truth, (conditional) independence, exactness against a plain
implementation, the cross-edge count, awkward activations, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial.distance import cdist

from mintlab.estimator import _mst
from mintlab.estimator.gmi import (
    BOOTSTRAPS,
    ESTIMATORS,
    conditional_gmi,
    gmi,
    nn_donors,
    split_rows,
)

#: Samples per estimate in the ground-truth tests, and seeds averaged.
N_TRUTH, SEEDS_TRUTH = 3000, 4
#: |mean of 4 estimates − truth| for gmi: measured sd of one estimate at n = 3000 is
#: 0.014–0.024 (so ≈ 0.012 for a 4-seed mean) and the bias < 0.01; 0.05 ≈ 4 standard errors.
GMI_TOL = 0.05
#: Same for conditional_gmi with a 1-D Z (n = 3000, 6 seeds measured): the paper's bootstrap
#: adds an upward bias of up to +0.047 (donor reuse, see docs/estimator.md); "nn_unique" reads
#: up to 0.043 low at strong dependence. Sd of one estimate 0.016–0.033.
COND_TOL_NN, COND_TOL_UNIQUE = 0.08, 0.07
#: Under (conditional) independence at n = 1500: mean of 4 seeds, sd ≤ 0.04 per estimate.
#: The paper's "nn" bootstrap sits at ≈ +0.05 there (measured), "nn_unique" at ≈ 0.
INDEP_TOL, INDEP_TOL_NN = 0.04, 0.1
#: Measured upward bias of the "nn" bootstrap over "nn_unique" under independence with a
#: 2-3-D Z at n = 900-1500: 0.05-0.08; the sd of a 4-seed mean difference is ≈ 0.02.
HUBNESS_BIAS_MIN = 0.02
#: The faulty reference code reports ≈ 0.33 under independence; we must be far below.
REFERENCE_BUG_LEVEL = 0.33


def true_gmi(rho: float) -> float:
    """Bivariate normal GMI 1 − 2∬ f g/(f+g) on a fine grid in rotated coordinates."""
    if rho == 0:
        return 0.0
    su, sv = np.sqrt(1 + rho), np.sqrt(1 - rho)
    u = np.linspace(-9 * su, 9 * su, 801)
    v = np.linspace(-9, 9, 1601)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    lf = -0.5 * (uu / su) ** 2 - 0.5 * (vv / sv) ** 2 - np.log(2 * np.pi * su * sv)
    lg = -0.5 * uu**2 - 0.5 * vv**2 - np.log(2 * np.pi)
    integrand = np.exp(lf + lg - np.logaddexp(lf, lg))
    return float(1 - 2 * np.trapezoid(np.trapezoid(integrand, v, axis=1), u))


def gaussian_pair(n: int, rho: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=n)
    return x, rho * x + np.sqrt(1 - rho**2) * rng.normal(size=n)


def gaussian_triplet(n: int, rho: float, rng: np.random.Generator):
    """(x, y, z) jointly Gaussian, both driven by z, with partial correlation rho given z.

    Z is 1-D: with a 2-D Z the estimator at n = 3000 reads up to 0.12 low at rho = 0.95
    (measured; the merged space is 4-D and the MST test converges slowly), see docs/estimator.md.
    """
    z = rng.normal(size=n)
    e = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n)
    return 0.8 * z + e[:, 0], -0.6 * z + e[:, 1], z


def test_true_gmi_reference_values() -> None:
    # independent of the estimator: symmetric in rho, increasing, in (0, 1)
    assert true_gmi(0.5) == pytest.approx(true_gmi(-0.5), abs=1e-9)
    values = [true_gmi(r) for r in (0.3, 0.6, 0.9, 0.99)]
    assert all(0 < a < b < 1 for a, b in zip(values, values[1:]))


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.8, 0.95])
def test_gmi_matches_gaussian_truth(rho: float) -> None:
    rng = np.random.default_rng(10)
    est = np.mean([gmi(*gaussian_pair(N_TRUTH, rho, rng), seed=s) for s in range(SEEDS_TRUTH)])
    assert est == pytest.approx(true_gmi(rho), abs=GMI_TOL)


@pytest.mark.parametrize(("bootstrap", "tol"), [("nn", COND_TOL_NN), ("nn_unique", COND_TOL_UNIQUE)])
def test_conditional_gmi_matches_truth_at_partial_correlation_and_rises(bootstrap: str, tol: float) -> None:
    rng = np.random.default_rng(11)
    means = []
    for rho in (0.0, 0.5, 0.8, 0.9):
        est = np.mean(
            [
                conditional_gmi(*gaussian_triplet(N_TRUTH, rho, rng), seed=s, bootstrap=bootstrap)
                for s in range(SEEDS_TRUTH)
            ]
        )
        assert est == pytest.approx(true_gmi(rho), abs=tol)
        means.append(est)
    assert np.all(np.diff(means) > 0)


def test_independence_gives_about_zero() -> None:
    rng = np.random.default_rng(12)
    n = 1500
    unc = [gmi(rng.normal(size=(n, 2)), rng.normal(size=n), seed=s) for s in range(4)]
    assert abs(np.mean(unc)) < INDEP_TOL
    data = [(rng.normal(size=n), rng.normal(size=n), rng.normal(size=(n, 2))) for _ in range(4)]
    means = {}
    for boot, tol in (("nn_unique", INDEP_TOL), ("nn", INDEP_TOL_NN)):
        means[boot] = np.mean([conditional_gmi(x, y, z, seed=s, bootstrap=boot) for s, (x, y, z) in enumerate(data)])
        assert abs(means[boot]) < tol < REFERENCE_BUG_LEVEL
    # donor reuse (hubness) biases the paper's bootstrap upward; "nn_unique" removes it
    assert means["nn"] - means["nn_unique"] > HUBNESS_BIAS_MIN


def test_conditional_independence_gives_about_zero_but_dependence_does_not() -> None:
    rng = np.random.default_rng(13)
    n = 1500
    ci, dep = [], []
    for s in range(4):
        z = rng.normal(size=n)
        x, y = z + 0.5 * rng.normal(size=n), z + 0.5 * rng.normal(size=n)
        ci.append(conditional_gmi(x, y, z, seed=s, bootstrap="nn_unique"))
        dep.append(conditional_gmi(x, x + 0.2 * rng.normal(size=n), z, seed=s, bootstrap="nn_unique"))
        assert gmi(x, y, seed=s) > 0.1  # corr 0.8: true GMI 0.23, sd of one estimate ≈ 0.02
    assert abs(np.mean(ci)) < INDEP_TOL
    assert np.mean(dep) > 0.3


def _plain_conditional_gmi(x, y, z, seed, reuse):
    """Deliberately plain: cdist, explicit loops, SciPy's MST, every edge counted."""
    x, y, z = (np.asarray(a, float).reshape(len(a), -1) for a in (x, y, z))
    s = split_rows(len(x), seed)
    d = cdist(z[s.a], z[s.b], "sqeuclidean")
    donors, used = [], set()
    for a in range(len(s.a)):
        for b in np.argsort(d[a], kind="stable"):
            if reuse or b not in used:
                donors.append(b)
                used.add(b)
                break
    donors = np.array(donors)
    s1 = np.hstack([x[s.s1], y[s.s1], z[s.s1]])
    s2 = np.hstack([x[s.a], y[s.b[donors]], z[s.a]])
    tree = minimum_spanning_tree(cdist(np.vstack([s1, s2]), np.vstack([s1, s2]))).tocoo()
    m = len(s.a)
    r = sum((i < m) != (j < m) for i, j in zip(tree.row, tree.col))
    return 1 - r / m


@pytest.mark.parametrize("bootstrap", BOOTSTRAPS)
@pytest.mark.parametrize("dz", [1, 3, 20])  # 20 > 16: Z goes through the precomputed-distance path
def test_conditional_gmi_equals_plain_implementation(bootstrap: str, dz: int) -> None:
    rng = np.random.default_rng(dz)
    n = 301  # not divisible by 3 on purpose
    z = rng.normal(size=(n, dz))
    x = z[:, :1] + rng.normal(size=(n, 2))
    y = x[:, 0] + z[:, 0] + rng.normal(size=n)
    for seed in (0, 1):
        got = conditional_gmi(x, y, z, seed=seed, bootstrap=bootstrap)
        assert got == _plain_conditional_gmi(x, y, z, seed, bootstrap == "nn")


def test_gmi_equals_plain_implementation() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(201, 2)), rng.normal(size=201)
    y = y + x[:, 0]
    got = gmi(x, y, seed=3)
    r = np.random.default_rng(3)  # the documented recipe: permutation, halves, shuffled y
    perm = r.permutation(201)
    m = 100
    joint, prod = perm[:m], perm[m : 2 * m]
    r.permutation(2 * m)  # merged-vertex order: irrelevant without ties
    shuffled = prod[r.permutation(m)]
    pts = np.vstack([np.column_stack([x[joint], y[joint]]), np.column_stack([x[prod], y[shuffled]])])
    tree = minimum_spanning_tree(cdist(pts, pts)).tocoo()
    assert got == 1 - sum((i < m) != (j < m) for i, j in zip(tree.row, tree.col)) / m


def test_cross_edge_count_walks_every_mst_edge() -> None:
    rng = np.random.default_rng(6)
    pts = rng.normal(size=(200, 3))
    labels = (rng.random(200) < 0.5).astype(np.int64)
    parent = np.empty(200, np.int64)
    _mst.prim_parents(np.zeros((1, 1)), False, 1.0, np.ascontiguousarray(pts.T), np.ones(3), parent)
    dist = cdist(pts, pts)
    tree = minimum_spanning_tree(dist)
    ours = [(v, parent[v]) for v in range(200) if parent[v] >= 0]
    assert len(ours) == 199 and sum(dist[a, b] for a, b in ours) == pytest.approx(tree.sum(), rel=1e-12)
    coo = tree.tocoo()
    brute = sum(labels[i] != labels[j] for i, j in zip(coo.row, coo.col))
    assert _mst.cross_count(parent, labels) == brute
    # the reference code read one CSR index per row instead: a different (wrong) number
    csr = tree.tocsr()
    ref = sum(1 for i in range(199) if i < len(csr.indices) and labels[i] != labels[csr.indices[i]])
    assert ref != brute


def test_donors_nearest_and_unique() -> None:
    rng = np.random.default_rng(7)
    za, zb = rng.normal(size=(50, 3)), rng.normal(size=(60, 3))
    starts = rng.integers(0, 60, 50)
    np.testing.assert_array_equal(nn_donors(za, zb, starts), cdist(za, zb).argmin(axis=1))
    unique = nn_donors(za, zb, starts, reuse=False)
    assert len(set(unique.tolist())) == 50
    # high-dimensional path (precomputed distances) agrees with the low-dimensional one
    za, zb = rng.normal(size=(40, 30)), rng.normal(size=(45, 30))
    np.testing.assert_array_equal(nn_donors(za, zb, starts[:40] % 45), cdist(za, zb).argmin(axis=1))


def test_tied_donors_are_spread_not_piled_on_one() -> None:
    za, zb = np.zeros((30, 2)), np.zeros((40, 2))  # every distance ties
    starts = np.random.default_rng(0).integers(0, 40, 30)
    np.testing.assert_array_equal(nn_donors(za, zb, starts), starts)


def test_same_seed_same_result_and_seed_matters() -> None:
    rng = np.random.default_rng(8)
    x, y, z = rng.normal(size=300), rng.normal(size=300), rng.normal(size=(300, 2))
    assert conditional_gmi(x, y, z, seed=4) == conditional_gmi(x, y, z, seed=4)
    assert gmi(x, y, seed=4) == gmi(x, y, seed=4)
    assert len({conditional_gmi(x, y, z, seed=s) for s in range(6)}) > 1


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_relu_zeros_dead_units_and_duplicate_rows(estimator: str) -> None:
    rng = np.random.default_rng(9)
    n = 240
    z = np.maximum(rng.normal(size=(n, 30)), 0)
    z[:, :5] = 0.0  # dead units
    z[:, 5] = 3.0  # a constant unit
    z[: n // 4] = z[0]  # a quarter of the rows identical
    x = np.maximum(z[:, 6:9] + rng.normal(size=(n, 3)), 0)
    x[: n // 4] = 0.0
    y = z[:, 6:8].copy()
    w = rng.normal(size=(3, 30))
    for scale in ("none", "blocks", "columns"):
        v = conditional_gmi(x, y, z, seed=0, estimator=estimator, weight=w, scale=scale)
        assert np.isfinite(v) and -1 <= v <= 1
    assert np.isfinite(gmi(x, y, seed=0, scale="columns"))


def test_a_constant_column_is_exactly_ignored_when_columns_are_scaled() -> None:
    rng = np.random.default_rng(15)
    x, y, z = rng.normal(size=120), rng.normal(size=120), rng.normal(size=(120, 2))
    with_const = np.column_stack([z, np.full(120, 0.1)])  # 0.1: its mean is not exact in floats
    for est in ("paper", "scaled", "pca"):
        a = conditional_gmi(x, y, with_const, seed=1, estimator=est, scale="columns")
        assert a == conditional_gmi(x, y, z, seed=1, estimator=est, scale="columns")


def test_identical_points_give_zero() -> None:
    # every point coincides: the MST is a star around vertex 0 and R = m exactly
    x, y, z = np.ones(90), np.ones(90), np.ones((90, 2))
    assert conditional_gmi(x, y, z, seed=0) == 0.0
    assert gmi(x, y, seed=0) == 0.0


def test_empty_z_is_an_unconditional_estimate() -> None:
    # same draws for both estimators: they estimate the same quantity (bootstrap with an empty Z vs shuffle);
    # single-seed differences measured up to 0.054 over 10 seeds, so the mean of 4 lands within 0.05
    rng = np.random.default_rng(14)
    x = rng.normal(size=1200)
    y = x + 0.3 * rng.normal(size=1200)
    cond = np.mean([conditional_gmi(x, y, np.zeros((1200, 0)), seed=s) for s in range(4)])
    plain = np.mean([gmi(x, y, seed=s) for s in range(4)])
    assert cond == pytest.approx(plain, abs=0.05)
    assert cond > 0.4


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"x": np.zeros(30), "y": np.zeros(31), "z": np.zeros(30)}, ValueError, "same number of rows"),
        ({"x": np.r_[np.nan, np.zeros(29)]}, ValueError, "finite"),
        ({"y": np.r_[np.inf, np.zeros(29)]}, ValueError, "finite"),
        ({"x": np.zeros(8), "y": np.zeros(8), "z": np.zeros(8)}, ValueError, "at least 9 samples"),
        ({"x": np.zeros((30, 0))}, ValueError, "at least one column"),
        ({"x": np.zeros((30, 2, 2))}, ValueError, "shape"),
        ({"x": "abc"}, TypeError, "array"),
        ({"estimator": "magic"}, ValueError, "estimator"),
        ({"bootstrap": "knn"}, ValueError, "bootstrap"),
        ({"scale": "unit"}, ValueError, "scale"),
        ({"estimator": "projected"}, ValueError, "weight"),
        ({"estimator": "projected", "weight": np.zeros((2, 2))}, ValueError, "weight"),
        ({"estimator": "projected", "weight": np.array([[np.nan]])}, ValueError, "finite `weight`, but got 1 NaN"),
        ({"estimator": "projected", "weight": "abc"}, ValueError, "real array of shape \\(1, 1\\)"),
        ({"x": np.arange(30.0) * 1e160}, ValueError, "magnitudes in .* rescale"),
        ({"y": (np.arange(30.0) + 1) * 1e-170}, ValueError, "magnitudes in .* rescale"),
        ({"x": np.arange(30.0) * 1j}, TypeError, "real array, but got a complex"),
        ({"estimator": "pca", "n_components": 0}, ValueError, "n_components"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 1.5}, TypeError, "seed"),
    ],
)
def test_bad_input_raises_clear_errors(kwargs: dict, error: type, match: str) -> None:
    args = {"x": np.arange(30.0), "y": np.arange(30.0) ** 2, "z": np.ones((30, 1))}
    args.update(kwargs)
    x, y, z = args.pop("x"), args.pop("y"), args.pop("z")
    with pytest.raises(error, match=match):
        conditional_gmi(x, y, z, **args)


def test_gmi_bad_input() -> None:
    with pytest.raises(ValueError, match="same number of rows"):
        gmi(np.zeros(10), np.zeros(11))
    with pytest.raises(ValueError, match="at least 6 samples"):
        gmi(np.zeros(5), np.zeros(5))
    x = np.random.default_rng(0).normal(size=300)
    with pytest.raises(ValueError, match="magnitudes"):  # squared distances would overflow: 0.0 before
        gmi(x * 1e160, x * 1e160, seed=0)
    assert gmi(x * 1e100, x * 1e100, seed=0) == gmi(x, x, seed=0)  # large but safe: scale-free


#: MLP shapes, n = 2400 (measured, 3 seeds): "projected" reads 0.37 ± 0.03 when Y carries half
#: of X's variance, 0.14 ± 0.03 at 10 %, −0.006 ± 0.005 at 0 %; the paper's estimator reads
#: 0.00–0.02 in every case. Required margins, well inside those gaps:
SEPARATION_STRONG, SEPARATION_10PCT, PAPER_BLIND = 0.25, 0.07, 0.05


def _mlp_shaped(n: int, share: float, seed: int):
    """X: 3 child pre-activations, linear in 500 ReLU-like correlated parents; Y: 2 of them."""
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n, 20))
    p = np.maximum(h @ rng.normal(size=(20, 500)) / np.sqrt(20) + 0.7 * rng.normal(size=(n, 500)) - 0.3, 0)
    w = rng.normal(size=(3, 500)) / np.sqrt(500)
    rest = (p[:, 2:] @ w[:, 2:].T).var(axis=0).sum()
    own = (p[:, :2] @ w[:, :2].T).var(axis=0).sum()
    w[:, :2] *= np.sqrt(share / (1 - share) * rest / own)
    return p @ w.T, p[:, :2], p[:, 2:], w[:, 2:]


def test_projected_estimator_sees_dependence_where_the_paper_estimator_is_blind() -> None:
    n = 2400
    res = {}
    for share in (0.5, 0.1, 0.0):
        runs = [_mlp_shaped(n, share, s) for s in range(2)]
        res["paper", share] = np.mean([conditional_gmi(x, y, z, seed=s) for s, (x, y, z, _) in enumerate(runs)])
        res["projected", share] = np.mean(
            [conditional_gmi(x, y, z, seed=s, estimator="projected", weight=w) for s, (x, y, z, w) in enumerate(runs)]
        )
    assert res["projected", 0.5] - res["projected", 0.0] > SEPARATION_STRONG
    assert res["projected", 0.1] - res["projected", 0.0] > SEPARATION_10PCT
    assert abs(res["projected", 0.0]) < INDEP_TOL
    assert abs(res["paper", 0.5] - res["paper", 0.0]) < PAPER_BLIND
