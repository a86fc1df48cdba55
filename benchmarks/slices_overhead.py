"""What slicing a pair into parent-group slices costs: whole pair vs ``--slices`` slices, same numbers.

Each slice repeats the pair's shared preparation (engine set-up, the all-parents distances and the
bootstrap donors); the MSTs are not repeated. Prints the wall time of the whole pair, of the slices one
after the other, their ratio, and checks that the numbers are identical.

    PYTHONPATH=$PWD python benchmarks/slices_overhead.py --estimator paper --n 1000
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from mintlab.estimator.layer_pair import score_layer_pair


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--estimator", default="paper")
    parser.add_argument("--n", type=int, default=1000, help="samples (rows)")
    parser.add_argument("--parents", type=int, default=100)
    parser.add_argument("--children", type=int, default=50)
    parser.add_argument("--groups", type=int, nargs=2, default=(20, 10), metavar=("G_PARENT", "G_CHILD"))
    parser.add_argument("--slices", type=int, default=8)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    p = np.maximum(rng.normal(size=(args.n, args.parents)), 0)
    w = rng.normal(size=(args.children, args.parents)) / np.sqrt(args.parents)
    c = np.maximum(p @ w.T + 0.1 * rng.normal(size=(args.n, args.children)), 0)
    gp, gc = args.groups
    kw = dict(seed=0, estimator=args.estimator, weight=w)
    score_layer_pair(p[:60], c[:60], 2, 2, **kw)  # compile the kernels first
    t = time.perf_counter()
    whole = score_layer_pair(p, c, gp, gc, **kw)
    t_whole = time.perf_counter() - t
    size = math.ceil(gp / args.slices)
    t = time.perf_counter()
    parts = [score_layer_pair(p, c, gp, gc, columns=(a, min(a + size, gp)), **kw) for a in range(0, gp, size)]
    t_sliced = time.perf_counter() - t
    same = np.array_equal(np.concatenate(parts, axis=1), whole)
    print(f"{args.estimator}: n={args.n}, N {args.parents}/{args.children}, G {gp}/{gc}")
    print(
        f"  whole pair {t_whole:.2f} s; {len(parts)} slices {t_sliced:.2f} s; ratio {t_sliced / t_whole:.2f}; "
        f"identical: {same}"
    )


if __name__ == "__main__":
    main()
