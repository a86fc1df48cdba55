"""MIPP's cost per layer on the MLP beside MINT's scoring time, and its estimator beside scikit-learn's kNN MI.

Prints, in one run (one torch thread):

1. seconds per MLP layer for MIPP at one ``x`` (ordering fits + reference fits + the TERC pass), and
   MINT's scoring seconds per layer pair (the existing pipeline, recommended estimator, paper groups)
   on the same activation sample, with the ratio;
2. the prediction-loss estimate (:func:`mintlab.prune.mipp.predictive_mi`) and scikit-learn's
   ``mutual_info_regression`` (Kraskov kNN, k = 3) against the closed form of a linear-Gaussian pair,
   with their times. sklearn's estimator takes one scalar feature against a scalar target, so it can
   play the role of MIPP's single-unit ordering only, not the conditional test against a
   multi-unit target.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/bench_mipp.py --samples-per-class 100
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def estimator_table(n: int = 2000, seeds: int = 3) -> None:
    from sklearn.feature_selection import mutual_info_regression

    from mintlab.prune.mipp import predictive_mi

    print(f"\nestimator vs closed form, linear-Gaussian Y = a·X + N(0,1), n = {n}, mean ± sd over {seeds} seeds")
    print(f"{'a':>5} {'truth':>7} {'predictive':>16} {'t (s)':>7} {'sklearn kNN':>16} {'t (s)':>7}")
    for a in (0.25, 0.5, 1.0, 2.0, 4.0):
        ours, knn, t_ours, t_knn = [], [], 0.0, 0.0
        for s in range(seeds):
            rng = np.random.default_rng(s)
            x = rng.normal(size=n)
            y = a * x + rng.normal(size=n)
            t0 = time.perf_counter()
            ours.append(predictive_mi(x, y, seed=s))
            t_ours += time.perf_counter() - t0
            t0 = time.perf_counter()
            knn.append(float(mutual_info_regression(x[:, None], y, n_neighbors=3, random_state=s)[0]))
            t_knn += time.perf_counter() - t0
        truth = 0.5 * np.log(1 + a * a)
        print(f"{a:5.2f} {truth:7.3f} {np.mean(ours):8.3f} ± {np.std(ours):5.3f} {t_ours / seeds:7.2f} "
              f"{np.mean(knn):8.3f} ± {np.std(knn):5.3f} {t_knn / seeds:7.2f}")


def layer_times(samples_per_class: int, x: float, checkpoint_dir: str | None) -> None:
    from mintlab.experiments.mlp import PAPER_GROUPS, tensor_dataset
    from mintlab.nets.data import load_dataset
    from mintlab.nets.models import MLP
    from mintlab.prune.activations import collect_activations
    from mintlab.prune.mipp import mipp_layer
    from mintlab.prune.scorers import get_scorer
    from mintlab.prune.scores import compute_scores

    pairs = [("fc1", "fc2"), ("fc2", "fc3")]
    if checkpoint_dir:
        from mintlab.nets.pretrained import pretrained

        model, _ = pretrained("mlp", "fashion_mnist", recipe="quick", seed=0, cache_dir=checkpoint_dir, progress=False)
        what = "trained MLP (quick recipe, seed 0)"
    else:
        torch.manual_seed(0)
        model, what = MLP().eval(), "untrained MLP (no --checkpoint-dir)"
    data = tensor_dataset(load_dataset("fashion_mnist", "train"))
    t0 = time.process_time()
    acts = collect_activations(model, data, pairs, samples_per_class=samples_per_class, seed=0, progress=False)
    t_acts = time.process_time() - t0
    mipp = {}  # the backwards sweep written out, to take process CPU seconds per layer
    t0 = time.process_time()
    fc2 = mipp_layer(acts.parent[pairs[1]], acts.child[pairs[1]], x=x, seed=0)
    mipp[pairs[1]] = (time.process_time() - t0, fc2)
    t0 = time.process_time()
    fc1 = mipp_layer(acts.parent[pairs[0]], acts.parent[pairs[1]][:, fc2["keep"]], x=x, seed=0)
    mipp[pairs[0]] = (time.process_time() - t0, fc1)
    mint = {}
    for pair in pairs:
        t0 = time.process_time()
        compute_scores(model, data, [pair], get_scorer("mint"), groups={pair: PAPER_GROUPS[pair]},
                       samples_per_class=samples_per_class, seed=0, progress=False)
        mint[pair] = time.process_time() - t0 - t_acts  # compute_scores records its own activations
    print(f"\n{what}, {samples_per_class} samples/class ({len(acts.indices)} rows), one torch thread, "
          f"process CPU seconds (robust to other load on the machine); activation pass {t_acts:.1f} s")
    print(f"{'layer':>6} {'units':>6} {'kept':>5} {'MIPP s':>8} {'MINT pair':>12} {'MINT s':>8} {'ratio':>7}")
    for (parent, child), (sec, info) in mipp.items():
        print(f"{parent:>6} {len(info['keep']):6d} {int(info['keep'].sum()):5d} {sec:8.1f} "
              f"{parent + '->' + child:>12} {mint[(parent, child)]:8.1f} {sec / mint[(parent, child)]:7.2f}")
    print("(MIPP's row for a layer selects its units against the downstream target; MINT's row scores the "
          "connection blocks of the pair whose parent is that layer)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples-per-class", type=int, default=100)
    ap.add_argument("--x", type=float, default=0.9)
    ap.add_argument("--checkpoint-dir", default=None, help="cache of pretrained MLPs (trained on first use)")
    ap.add_argument("--skip-layers", action="store_true", help="only the estimator table")
    args = ap.parse_args()
    torch.set_num_threads(1)
    estimator_table()
    if not args.skip_layers:
        layer_times(args.samples_per_class, args.x, args.checkpoint_dir)


if __name__ == "__main__":
    main()
