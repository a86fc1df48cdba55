"""Speed of the GMI estimator and of the layer-pair scorer on this machine. Prints figures.

Sections (``--sections``):

* ``call``: one ``conditional_gmi`` call in the MLP's shapes (X 3, Y 2, Z 498) at
  n = 600 … 6500, against a plain formulation (SciPy ``cdist`` + ``minimum_spanning_tree``,
  same split and bootstrap) and the reference code's Python double loop for the distance
  matrix (timed at small n, extrapolated as n²).
* ``dims``: one call at n = 2400 as Z grows (10 … 2000 columns).
* ``groups``: a whole layer pair at n = 2400 as the group counts grow.
* ``pair``: fc1 → fc2 at the paper's settings (500 parents in 250 groups, 300 children in
  100 groups, n = 6500). By default a few parent groups are timed and the rest extrapolated;
  ``--full`` runs the whole pair (minutes).

Usage::

    .venv/bin/python benchmarks/bench_gmi.py --sections call dims groups pair
    .venv/bin/python benchmarks/bench_gmi.py --sections pair --full --estimator paper
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial.distance import cdist

from mintlab.estimator import _mst
from mintlab.estimator.gmi import conditional_gmi, split_rows
from mintlab.estimator.layer_pair import score_layer_pair


def mlp_like(n: int, n_parent: int = 500, n_child: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n, 20))
    noise = 0.7 * rng.normal(size=(n, n_parent))
    p = np.maximum(h @ rng.normal(size=(20, n_parent)) / np.sqrt(20) + noise - 0.3, 0)
    w = rng.normal(size=(n_child, n_parent)) / np.sqrt(n_parent)
    return p, p @ w.T, w


def plain_call(x, y, z, seed):
    """The same estimate with SciPy: cdist bootstrap, cdist merged distances, SciPy MST."""
    s = split_rows(len(x), seed)
    donors = cdist(z[s.a], z[s.b], "sqeuclidean").argmin(axis=1)
    pts = np.vstack([np.hstack([x[s.s1], y[s.s1], z[s.s1]]), np.hstack([x[s.a], y[s.b[donors]], z[s.a]])])
    tree = minimum_spanning_tree(cdist(pts, pts)).tocoo()
    m = len(s.a)
    return 1 - np.count_nonzero((tree.row < m) != (tree.col < m)) / m


def reference_loop_seconds(pts: np.ndarray) -> float:
    """The reference code's distance matrix: a Python double loop of np.linalg.norm."""
    n = len(pts)
    t0 = time.perf_counter()
    d = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            d[i, j] = np.linalg.norm(pts[i] - pts[j])
    return time.perf_counter() - t0


def timed(fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0


def section_call(ns) -> None:
    print("\n== one conditional_gmi call, X 3 / Y 2 / Z 498 (ReLU-like) ==")
    print(
        f"{'n':>6} {'mintlab s':>10} {'SciPy plain s':>14} {'speed-up':>9} {'same value':>11} {'reference loop s':>17}"
    )
    p, c, _ = mlp_like(600)
    ref_600 = reference_loop_seconds(np.hstack([c[:400, :3], p[:400]]))  # 2m = 400 merged points at n = 600
    conditional_gmi(c[:60, :3], p[:60, :2], p[:60, 2:], seed=0)  # compile
    for n in ns:
        p, c, _ = mlp_like(n)
        x, y, z = c[:, :3], p[:, :2], p[:, 2:]
        ours, t_ours = timed(conditional_gmi, x, y, z, seed=0)
        plain, t_plain = timed(plain_call, x, y, z, 0)
        ref = ref_600 * ((2 * (n // 3)) / 400) ** 2
        print(
            f"{n:6d} {t_ours:10.2f} {t_plain:14.2f} {t_plain / t_ours:8.1f}x {str(ours == plain):>11} "
            f"{ref:16.1f}{'' if n == 600 else '*'}"
        )
    print("* extrapolated as n² from the loop timed at n = 600 (merged set of 400 points)")


def section_dims(n: int = 2400) -> None:
    print(f"\n== one call at n = {n} as Z grows (X 3, Y 2) ==")
    conditional_gmi(np.ones(30), np.ones(30), np.ones((30, 10)), seed=0)  # compile the low-dimensional path
    for dz in (10, 100, 500, 2000):
        p, c, _ = mlp_like(n, n_parent=dz + 2, n_child=3)
        _, t = timed(conditional_gmi, c, p[:, :2], p[:, 2:], seed=0)
        print(f"  dz = {dz:5d}: {t:6.2f} s")


def section_groups(n: int = 2400, estimator: str = "paper") -> None:
    print(f"\n== whole layer pair at n = {n} (500 parents, 300 children), estimator {estimator!r} ==")
    p, c, w = mlp_like(n)
    score_layer_pair(p[:60], c[:60], 10, 5, seed=0, estimator=estimator, weight=w)  # compile
    for gp, gc in ((25, 10), (50, 20), (100, 40)):
        _, t = timed(score_layer_pair, p, c, gp, gc, seed=0, estimator=estimator, weight=w)
        per = t / (gp * gc) * 1e3
        print(f"  G_parent {gp:4d} × G_child {gc:4d} = {gp * gc:6d} MSTs: {t:7.1f} s ({per:.2f} ms/MST)")


def section_pair(full: bool, estimator: str, sample_groups: int) -> None:
    n, gp, gc = 6500, 250, 100
    print(
        f"\n== fc1 → fc2 at the paper's settings: n = {n}, 500 parents / {gp} groups, 300 children / {gc} groups, "
        f"estimator {estimator!r}, {_threads()} threads =="
    )
    p, c, w = mlp_like(n)
    if full:
        _, t = timed(score_layer_pair, p, c, gp, gc, seed=0, estimator=estimator, weight=w, progress=True)
        print(f"  whole pair: {t:.0f} s = {t / 60:.1f} min ({t / (gp * gc) * 1e3:.1f} ms per MST, wall)")
        return
    from mintlab.estimator._engine import PairEngine
    from mintlab.estimator.layer_pair import _check_options, group_labels

    scorer = PairEngine(p, c, group_labels(500, gp), group_labels(300, gc), estimator, w, _check_options(estimator, {}))
    split = split_rows(n, 0)
    xt = np.ascontiguousarray(scorer.c[split.rows].T)
    full = estimator in ("paper", "scaled")
    shared, t_shared = timed(scorer._shared_full, split) if full else (None, 0.0)
    prep = {
        "paper": scorer._prep_full,
        "scaled": scorer._prep_full,
        "projected": scorer._prep_projected,
        "pca": scorer._prep_pca,
    }[estimator]
    args, t_prep = timed(prep, split, np.arange(sample_groups), xt, shared)
    _, t_mst = timed(_mst.cross_batch, *args[:7], split.labels)
    tasks = len(args[-1])
    per = (t_prep + t_mst) / tasks
    print(f"  shared distances + bootstrap: {t_shared:.1f} s; {tasks} MSTs timed: {per * 1e3:.1f} ms each (wall)")
    print(f"  extrapolated whole pair: {t_shared + per * gp * gc:.0f} s = {(t_shared + per * gp * gc) / 60:.1f} min")


def _threads() -> int:
    import numba

    return numba.get_num_threads()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sections", nargs="+", default=["call", "dims", "groups", "pair"], choices=["call", "dims", "groups", "pair"]
    )
    ap.add_argument("--ns", type=int, nargs="+", default=[600, 1200, 2400, 6500])
    ap.add_argument("--estimator", default="paper")
    ap.add_argument("--full", action="store_true", help="run the whole paper-size pair instead of extrapolating")
    ap.add_argument("--sample-groups", type=int, default=4, help="parent groups timed when extrapolating")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} (other jobs share the CPU)")
    if "call" in args.sections:
        section_call(args.ns)
    if "dims" in args.sections:
        section_dims()
    if "groups" in args.sections:
        section_groups(estimator=args.estimator)
    if "pair" in args.sections:
        section_pair(args.full, args.estimator, args.sample_groups)


if __name__ == "__main__":
    main()
