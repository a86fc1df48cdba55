"""Time MINT scoring of one full-width VGG16-BN layer pair and project the whole network (paper settings).

The pair is conv8 → conv9 of VGG16-BN at width 1 (512 parent channels, 512 child channels), with
the paper's G = 64 / 64 and m = 650 per class (n = 6,500 rows; Appendix B). Scoring all 64 × 64
blocks of that pair on a CPU takes long, so the script scores ``k`` child groups against all 64
parent groups for two values of ``k`` (each ``(i, j)`` block is one conditional-GMI estimate,
one MST, see :mod:`mintlab.estimator.layer_pair`), fits ``t(k) = a + b·k`` (``a``: the work done
once per parent group, such as the nearest-neighbour bootstrap; ``b``: one child group's MSTs)
and extrapolates to ``k = 64`` for the pair and to the network: VGG16's 10 pairs at the paper's
settings (conv4→conv5 .. conv13→fc1) all have G = 64 / 64 and n = 6,500, so each costs about
the same per block; the projection scales by the number of blocks (10 × 64 × 64).

Activations are synthetic with the pair's shapes (parent: ReLU of Gaussian, child: a random
linear map of the parent plus noise): the estimator's cost depends on n, the group sizes and the
layer widths, not on what the network learnt. The forward pass that records the activations is
not timed (seconds on a GPU, minutes on a CPU for 6,500 images).

    python benchmarks/bench_cnn_scoring.py                      # projected (recommended) estimator
    python benchmarks/bench_cnn_scoring.py --estimator paper --k 1,2
    python benchmarks/bench_cnn_scoring.py --device cuda        # MSTs batched in torch on a GPU
    python benchmarks/bench_cnn_scoring.py --network --n-jobs 2 # every VGG16 pair, whole, timed

``--network`` scores all of VGG16-BN's prunable pairs at width 1 with the paper's settings (G 64/64,
n = 6,500; channels 128→256→256→256→512→…→512 and fc1 512), each pair whole, on synthetic activations
of those shapes, and prints each pair's time and the total (the activations' forward pass is not timed).

Prints the measured seconds per ``k``, the fit, and the projections. One thread by default
(``--n-jobs``).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

#: VGG16-BN's prunable pairs at the paper's settings (Appendix B): conv4→conv5 .. conv13→fc1.
VGG16_PAIRS = 10
#: Their widths at width 1 (parent, child): conv4 128, conv5–7 256, conv8–13 512, classifier.fc1 512.
VGG16_WIDTHS = [(128, 256), (256, 256), (256, 256), (256, 512)] + [(512, 512)] * 6


def _synthetic_pair(n: int, n_parent: int, n_child: int, rng: np.random.Generator):
    """ReLU parents, children a random linear map of them plus noise, and that map as the weight."""
    parent = np.maximum(rng.normal(size=(n, n_parent)), 0.0)
    mix = rng.normal(size=(n_parent, n_child)) / np.sqrt(n_parent)
    return parent, parent @ mix + 0.5 * rng.normal(size=(n, n_child)), mix.T.copy()


def network(args: argparse.Namespace, estimator: str) -> None:
    """Every VGG16-BN pair at the paper's settings, each scored whole; prints the times and the total."""
    from mintlab.estimator.layer_pair import score_layer_pair

    n, g = 10 * args.m, args.groups
    rng = np.random.default_rng(args.seed)
    parent, child, weight = _synthetic_pair(300, 32, 16, rng)
    score_layer_pair(parent, child, 4, 4, seed=0, estimator=estimator, weight=weight, n_jobs=args.n_jobs)  # compile
    total = 0.0
    print(
        f"VGG16-BN at width 1, paper settings: n = {n}, G = {g}/{g} per pair, estimator {estimator!r}, "
        f"n_jobs {args.n_jobs}, load average {os.getloadavg()[0]:.1f}"
    )
    for k, (cp, cc) in enumerate(VGG16_WIDTHS):
        parent, child, weight = _synthetic_pair(n, cp, cc, rng)
        t0 = time.perf_counter()
        score_layer_pair(parent, child, g, g, seed=args.seed, estimator=estimator, weight=weight, n_jobs=args.n_jobs)
        t = time.perf_counter() - t0
        total += t
        print(f"  pair {k + 1:>2} ({cp}→{cc} channels, {g * g} MSTs): {t:7.1f} s (running total {total / 60:.1f} min)")
    print(f"whole network: {total:.0f} s = {total / 60:.1f} min of scoring on {args.n_jobs} thread(s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--estimator", default=None, help="estimator (default: the recommended one)")
    parser.add_argument("--m", type=int, default=650, help="samples per class (10 classes; paper: 650)")
    parser.add_argument("--channels", type=int, default=512, help="parent and child channels (conv8→conv9: 512)")
    parser.add_argument("--groups", type=int, default=64, help="G of parent and child (paper: 64)")
    parser.add_argument("--k", default="1,2", help="two numbers of child groups to time")
    parser.add_argument("--n-jobs", type=int, default=1, help="CPU threads of the estimator")
    parser.add_argument("--device", default=None, help="torch device for the MSTs (e.g. cuda)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--network", action="store_true", help="time every VGG16 pair whole (see above)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(max(1, args.n_jobs))
    from mintlab.estimator.gmi import RECOMMENDED_ESTIMATOR
    from mintlab.estimator.layer_pair import group_labels, score_layer_pair

    estimator = args.estimator or RECOMMENDED_ESTIMATOR
    if args.network:
        network(args, estimator)
        return 0
    ks = [int(v) for v in args.k.split(",")]
    if len(ks) != 2 or ks[0] == ks[1] or min(ks) < 1 or max(ks) > args.groups:
        parser.error(f"--k needs two different numbers of child groups in [1, {args.groups}], got {args.k!r}")
    n, c, g = 10 * args.m, args.channels, args.groups
    rng = np.random.default_rng(args.seed)
    parent = np.maximum(rng.normal(size=(n, c)), 0.0)
    mix = rng.normal(size=(c, c)) / np.sqrt(c)
    child_all = parent @ mix + 0.5 * rng.normal(size=(n, c))
    weight_all = mix.T.copy()  # (N_child, N_parent), what "projected" reads
    parent_labels = group_labels(c, g)
    child_labels_all = np.asarray(group_labels(c, g))
    print(
        f"pair conv8→conv9 at width 1: n = {n}, {c}→{c} channels, G = {g}/{g}, estimator {estimator!r}, "
        f"n_jobs {args.n_jobs}, device {args.device}"
    )

    # warm-up (numba compilation) on a small problem, not timed
    score_layer_pair(
        parent[:200, :16],
        child_all[:200, :8],
        2,
        2,
        seed=0,
        estimator=estimator,
        weight=weight_all[:8, :16],
        n_jobs=args.n_jobs,
        device=args.device,
    )
    times = []
    for k in ks:
        units = np.flatnonzero(child_labels_all < k)
        t0 = time.perf_counter()
        out = score_layer_pair(
            parent,
            child_all[:, units],
            parent_labels,
            child_labels_all[units],
            seed=args.seed,
            estimator=estimator,
            weight=weight_all[units],
            n_jobs=args.n_jobs,
            device=args.device,
        )
        times.append(time.perf_counter() - t0)
        print(f"  k = {k:>2} child group(s) × {g} parent groups = {out.size:>4} blocks: {times[-1]:8.1f} s")
    b = (times[1] - times[0]) / (ks[1] - ks[0])
    a = times[0] - b * ks[0]
    pair = a + b * g
    print(f"fit t(k) = {a:.1f} s + {b:.2f} s·k  → {b / g * 1e3:.0f} ms per block (one MST)")
    print(
        f"projected: one pair ({g}×{g} blocks) {pair:.0f} s = {pair / 3600:.2f} h; "
        f"VGG16 at the paper's settings ({VGG16_PAIRS} pairs × {g}×{g} blocks) {VGG16_PAIRS * pair / 3600:.1f} h "
        f"on {args.n_jobs} thread(s); ideal scaling over 16 threads: {VGG16_PAIRS * pair / 3600 / 16:.1f} h"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
