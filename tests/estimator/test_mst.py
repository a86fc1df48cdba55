"""The fast exact MST and donor kernels against the float64 reference kernels they replace.

The fast kernels scan in float32 and decide near-ties in float64, so they must return exactly the
reference kernels' trees and donors: on continuous data, on exact ties (duplicate points, ReLU zeros,
dead units), and on near-ties closer than float32 can resolve.
"""

from __future__ import annotations

import numpy as np
import pytest

from mintlab.estimator import _mst


def _problem(n: int, d: int, has_base: bool, seed: int, kind: str = "continuous"):
    """Coordinates ``(d, n)``, weights, and (with a base) squared distances over extra columns.

    With a base, the last feature is also part of the base and gets a negative weight, as the layer-pair
    scorer forms "all parents but group j" (so true weights stay >= 0).
    """
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(d, n)) + 3.0  # off-centre, as activations are
    z = rng.normal(size=(n, 12))
    if kind == "relu":  # exact zeros, a dead coordinate, duplicate points
        f = np.maximum(f - 3.0, 0.0)
        f[0] = 0.0 if d > 2 else f[0]
        z = np.maximum(z, 0.0)
        f[:, n // 2 : n // 2 + 20] = f[:, :20]
        z[n // 2 : n // 2 + 20] = z[:20]
    elif kind == "near":  # pairs of points 1e-9 apart: their edges differ below float32's resolution
        f[:, 1::2] = f[:, ::2][:, : n // 2] + 1e-9 * rng.normal(size=(d, n // 2))
        z[1::2] = z[::2][: n // 2]
    fw = rng.uniform(0.3, 2.0, size=d)
    bw = 1.7
    if not has_base:
        return np.zeros((1, 1)), False, 1.0, np.ascontiguousarray(f), fw
    zz = np.hstack([z, f[-1:].T])
    fw[-1] = -bw
    return _mst.sq_dists(zz, zz), True, bw, np.ascontiguousarray(f), fw


@pytest.mark.parametrize("kind", ["continuous", "relu", "near"])
# every width of the unrolled scans (_pad_dims: 1, 3 → 4; 7, 8 → 8; 11 → 16; 24; 30 → 32) and the general one (40)
@pytest.mark.parametrize(
    ("n", "d", "has_base"),
    [
        (40, 1, False),
        (400, 3, False),
        (400, 8, False),
        (300, 11, False),
        (300, 40, False),
        (400, 7, True),
        (300, 24, True),
        (300, 30, False),
    ],
)
def test_fast_prim_returns_the_reference_tree(n: int, d: int, has_base: bool, kind: str) -> None:
    base, hb, bw, f, fw = _problem(n, d, has_base, seed=n + d, kind=kind)
    ref = np.empty(n, np.int64)
    _mst.prim_parents_ref(base, hb, bw, f, fw, ref)
    fast = np.empty(n, np.int64)
    _mst.prim_parents(base, hb, bw, f, fw, fast)
    np.testing.assert_array_equal(fast, ref)
    if kind == "relu" and d <= 3:
        return  # most points tie exactly in 1-3 ReLU coordinates: the kernel may hand over to the reference
    # the filter itself (not the fallback to the reference kernel) decided these
    b32, bmax = _mst.float32_base(base, hb)
    direct = np.full(n, -2, np.int64)
    assert _mst.prim_exact(base, b32, hb, bmax, bw, f, fw, direct) >= 0
    np.testing.assert_array_equal(direct, ref)


@pytest.mark.parametrize("kind", ["continuous", "relu", "near"])
@pytest.mark.parametrize(("n", "d"), [(40, 1), (400, 3), (500, 8), (300, 11), (300, 40)])
def test_count_kernel_gives_the_reference_trees_cross_count(n: int, d: int, kind: str) -> None:
    base, hb, bw, f, fw = _problem(n, d, False, seed=n + d, kind=kind)
    fw[0] = 0.0 if d > 2 else fw[0]  # a zero weight is in scope
    rng = np.random.default_rng(n + d)
    for labels in ((rng.permutation(n) < n // 2).astype(np.int64), np.arange(n) % 2):
        ref = np.empty(n, np.int64)
        _mst.prim_parents_ref(base, hb, bw, f, fw, ref)
        expected = _mst.cross_count(ref, labels)
        assert _mst.mst_cross_count(base, hb, bw, f, fw, labels) == expected
        r, _ = _mst.prim_count(f, fw, labels)
        if kind == "continuous" or (kind == "near" and d > 1) or (kind == "relu" and d > 3):
            assert r == expected  # the count kernel itself decided (it hands over -1 otherwise)
        else:
            assert r in (expected, -1)


def test_count_kernel_decides_label_ties_as_the_reference() -> None:
    """Exact duplicates with different labels: the parent's label is that of the earliest visited copy."""
    rng = np.random.default_rng(4)
    f = rng.normal(size=(5, 200))
    f[:, 100:] = f[:, :100]  # every point twice
    fw = rng.uniform(0.5, 2.0, size=5)
    labels = np.r_[np.zeros(100, np.int64), np.ones(100, np.int64)]  # each copy pair: labels 0 and 1
    ref = np.empty(200, np.int64)
    _mst.prim_parents_ref(np.zeros((1, 1)), False, 1.0, f, fw, ref)
    r, _ = _mst.prim_count(f, fw, labels)
    assert r == _mst.cross_count(ref, labels) >= 100  # each duplicate pair contributes a cross edge


def test_count_kernel_refuses_what_is_outside_its_scope() -> None:
    f = np.random.default_rng(0).normal(size=(3, 30))
    assert _mst.prim_count(f, np.array([1.0, -1.0, 1.0]), np.arange(30) % 2)[0] == -1  # a negative weight
    assert _mst.prim_count(f, np.ones(3), np.arange(30) % 3)[0] == -1  # labels other than 0/1


def test_degenerate_inputs_fall_back_to_the_reference_kernel() -> None:
    f = np.zeros((3, 50))  # every point equal: every weight ties at 0
    ref, fast = np.empty(50, np.int64), np.empty(50, np.int64)
    _mst.prim_parents_ref(np.zeros((1, 1)), False, 1.0, f, np.ones(3), ref)
    _mst.prim_parents(np.zeros((1, 1)), False, 1.0, f, np.ones(3), fast)
    np.testing.assert_array_equal(fast, ref)
    assert (ref[1:] == 0).all()  # a star around the first vertex: lowest index wins every tie
    lattice = np.round(np.random.default_rng(0).uniform(0, 1, size=(2, 600)), 1)  # massive exact ties
    ref, fast = np.empty(600, np.int64), np.empty(600, np.int64)
    _mst.prim_parents_ref(np.zeros((1, 1)), False, 1.0, lattice, np.ones(2), ref)
    _mst.prim_parents(np.zeros((1, 1)), False, 1.0, lattice, np.ones(2), fast)
    np.testing.assert_array_equal(fast, ref)


def test_cross_batch_equals_the_reference_batch() -> None:
    rng = np.random.default_rng(3)
    n, nt = 240, 9
    pz = np.maximum(rng.normal(size=(n, 20)), 0)
    base = _mst.sq_dists(pz, pz)
    ft = np.vstack([rng.normal(size=(10, n)), pz.T[:4]])
    sizes = rng.integers(2, 9, size=nt)  # tasks of different dimension in one batch
    fidx = np.concatenate([rng.choice(14, size=s, replace=False) for s in sizes]).astype(np.int64)
    fptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    fws = rng.uniform(0.5, 1.5, size=fptr[-1])
    labels = (rng.permutation(n) < n // 2).astype(np.int64)
    for has_base in (False, True):
        bws = rng.uniform(0.5, 2, size=nt)
        got = _mst.cross_batch(base, has_base, bws, ft, fidx, fptr, fws, labels)
        np.testing.assert_array_equal(got, _mst.cross_batch_ref(base, has_base, bws, ft, fidx, fptr, fws, labels))


@pytest.mark.parametrize("reuse", [True, False])
@pytest.mark.parametrize(
    ("d", "kind"),
    [
        (1, "continuous"),
        (3, "continuous"),
        (4, "near"),
        (8, "continuous"),
        (11, "continuous"),
        (2, "relu"),
        (3, "relu"),
        (5, "near"),
    ],
)
def test_fast_donors_equal_the_reference_donors(d: int, kind: str, reuse: bool) -> None:
    rng = np.random.default_rng(d)
    na, nb, nt = 300, 302, 3
    za, zb = rng.normal(size=(nt, d, na)) + 5.0, rng.normal(size=(nt, d, nb)) + 5.0
    if kind == "relu":  # exact ties between donors
        za, zb = np.maximum(za - 5.0, 0), np.maximum(zb - 5.0, 0)
    elif kind == "near":  # donors 1e-9 apart
        zb[:, :, 1::2] = zb[:, :, ::2] + 1e-9 * rng.normal(size=(nt, d, nb // 2))
    starts = rng.integers(0, nb, size=na)
    ref = _mst.donors_feats_ref(za, zb, starts, reuse)
    np.testing.assert_array_equal(_mst.donors_feats(za, zb, starts, reuse), ref)


@pytest.mark.parametrize("reuse", [True, False])
def test_slab_donors_equal_the_filter_scan_when_donors_run_out_and_tie(reuse: bool) -> None:
    """Few donors left far away (the window widens), every distance tied, and |B| < |A|."""
    rng = np.random.default_rng(9)
    za = rng.normal(size=(3, 120))
    zb = np.round(rng.normal(size=(3, 121)), 0)  # a coarse lattice: many exact ties between donors
    starts = rng.integers(0, 121, size=120)
    for a, b in ((za, zb), (np.zeros((2, 50)), np.zeros((2, 51))), (za[:, :60], zb[:, :40])):
        ref = _mst.donors_feats_ref(a[None], b[None], starts[: a.shape[1]] % b.shape[1], reuse)[0]
        got = np.empty(a.shape[1], np.int64)
        _mst._donors_slab(
            np.ascontiguousarray(a), np.ascontiguousarray(b), starts[: a.shape[1]] % b.shape[1], reuse, got
        )
        np.testing.assert_array_equal(got, ref)
