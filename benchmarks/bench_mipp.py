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

3. with ``--model vgg16``: MIPP's seconds per layer of VGG16-BN ¼ (the CNN comparison's seed-0 network,
   one pass at ``x``) beside MINT's scoring seconds per pair, compile excluded.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/bench_mipp.py --samples-per-class 100
    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/bench_mipp.py --model vgg16 --x 0.5
    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/bench_mipp.py --dask 2 --x 0.5   # Dask vs in process
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
        print(
            f"{a:5.2f} {truth:7.3f} {np.mean(ours):8.3f} ± {np.std(ours):5.3f} {t_ours / seeds:7.2f} "
            f"{np.mean(knn):8.3f} ± {np.std(knn):5.3f} {t_knn / seeds:7.2f}"
        )


def layer_times(samples_per_class: int, x: float, checkpoint_dir: str | None) -> None:
    from mintlab.nets.data import as_tensor_dataset as tensor_dataset
    from mintlab.nets.data import load_dataset
    from mintlab.nets.models import MLP
    from mintlab.nets.presets import PAPER_SETTINGS
    from mintlab.prune.activations import collect_activations
    from mintlab.prune.mipp import mipp_layer
    from mintlab.prune.scorers import get_scorer
    from mintlab.prune.scores import compute_scores

    pairs = [("fc1", "fc2"), ("fc2", "fc3")]
    PAPER_GROUPS = {tuple(p): tuple(g) for p, g in PAPER_SETTINGS["mlp"]["groups"].items()}  # noqa: N806
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
        compute_scores(
            model,
            data,
            [pair],
            get_scorer("mint"),
            groups={pair: PAPER_GROUPS[pair]},
            samples_per_class=samples_per_class,
            seed=0,
            progress=False,
        )
        mint[pair] = time.process_time() - t0 - t_acts  # compute_scores records its own activations
    print(
        f"\n{what}, {samples_per_class} samples/class ({len(acts.indices)} rows), one torch thread, "
        f"process CPU seconds (robust to other load on the machine); activation pass {t_acts:.1f} s"
    )
    print(f"{'layer':>6} {'units':>6} {'kept':>5} {'MIPP s':>8} {'MINT pair':>12} {'MINT s':>8} {'ratio':>7}")
    for (parent, child), (sec, info) in mipp.items():
        print(
            f"{parent:>6} {len(info['keep']):6d} {int(info['keep'].sum()):5d} {sec:8.1f} "
            f"{parent + '->' + child:>12} {mint[(parent, child)]:8.1f} {sec / mint[(parent, child)]:7.2f}"
        )
    print(
        "(MIPP's row for a layer selects its units against the downstream target; MINT's row scores the "
        "connection blocks of the pair whose parent is that layer)"
    )


def cnn_layer_times(x: float, comparison: str, dense_cache: str, repeats: int) -> None:
    """MIPP per VGG16-BN ¼ layer (one pass at ``x``, the CNN run's predictor) beside MINT's scoring per pair.

    Same seed-0 dense network, same m = 50 per-class sample, process CPU seconds, one thread. MINT's
    numba kernels are compiled first on a throw-away call so that its rows do not include the compile.
    MIPP's layers run from the output backwards, each against the kept units of the layer after it.
    """
    from _cnn_comparison import seed0_sample

    from mintlab.experiments.mipp import EVIDENCE_PREDICTOR as config
    from mintlab.prune.activations import collect_activations
    from mintlab.prune.mipp import mipp_layer
    from mintlab.prune.scorers import get_scorer
    from mintlab.prune.scores import compute_scores

    run = seed0_sample(comparison, dense_cache)
    model, train_data, preset, pairs, acts = run["model"], run["train_data"], run["preset"], run["pairs"], run["acts"]
    m = run["settings"]["samples_per_class"]
    mipp, target = {}, None
    for k in reversed(range(len(pairs))):
        tgt = acts.child[pairs[k]] if target is None else target
        t0 = time.process_time()
        info = mipp_layer(acts.parent[pairs[k]], tgt, x=x, repeats=repeats, seed=0, config=config)
        mipp[pairs[k]] = (time.process_time() - t0, info)
        target = acts.parent[pairs[k]][:, info["keep"]]
    compute_scores(
        model,
        train_data,
        pairs[:1],
        get_scorer("mint"),
        groups={pairs[0]: preset.groups[pairs[0]]},
        samples_per_class=m,
        seed=0,
        progress=False,
    )  # compile
    t0 = time.process_time()
    collect_activations(model, train_data, pairs[:1], samples_per_class=m, seed=0, progress=False)
    t_acts = time.process_time() - t0
    mint = {}
    for pair in pairs:
        t0 = time.process_time()
        compute_scores(
            model,
            train_data,
            [pair],
            get_scorer("mint"),
            groups={pair: preset.groups[pair]},
            samples_per_class=m,
            seed=0,
            progress=False,
        )
        mint[pair] = time.process_time() - t0 - t_acts
    print(
        f"\nVGG16-BN ¼ (seed 0, the CNN comparison's dense network), m = {m} ({len(acts.indices)} rows), "
        f"MIPP one pass at x = {x}, R = {repeats}, predictor width 16, ≤40/≤5 epochs; process CPU seconds, "
        f"one thread; MINT groups {preset.groups[pairs[0]]}, compile excluded; activation pass {t_acts:.2f} s"
    )
    print(f"{'layer':>16} {'units':>6} {'kept':>5} {'MIPP s':>8} {'MINT s':>8} {'ratio':>7} {'Δ<0':>6}")
    total = [0.0, 0.0]
    for pair in pairs:
        sec, info = mipp[pair]
        total[0] += sec
        total[1] += mint[pair]
        tested = info["delta_mean"][np.isfinite(info["delta_mean"])]
        print(
            f"{pair[0]:>16} {len(info['keep']):6d} {int(info['keep'].sum()):5d} {sec:8.2f} {mint[pair]:8.2f} "
            f"{sec / max(mint[pair], 1e-9):7.2f} {np.mean(tested < 0) if tested.size else float('nan'):6.2f}"
        )
    print(f"{'all':>16} {'':>6} {'':>5} {total[0]:8.2f} {total[1]:8.2f} {total[0] / max(total[1], 1e-9):7.2f}")
    print(
        "(Δ<0: share of tested units whose mean loss change on removal was negative: the warm-started refit "
        "ended below the reference loss)"
    )


def dask_times(x: float, comparison: str, dense_cache: str, repeats: int, workers: int) -> None:
    """Wall seconds of MIPP on VGG16-BN ¼'s last two layers in process vs on a LocalCluster of worker processes.

    Same seed, so the same kept sets (checked); the cluster's start-up is not counted.
    """
    from _cnn_comparison import seed0_sample
    from distributed import Client, LocalCluster

    from mintlab.experiments.mipp import EVIDENCE_PREDICTOR as config
    from mintlab.prune.mipp import mipp_select

    run = seed0_sample(comparison, dense_cache, last_pairs=2)
    pairs, acts = run["pairs"], run["acts"]
    kw = dict(x=x, repeats=repeats, seed=0, config=config)
    t0 = time.perf_counter()
    here = mipp_select(acts, client=False, **kw)
    t_here = time.perf_counter() - t0
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as lc,
        Client(lc) as client,
    ):
        t0 = time.perf_counter()
        there = mipp_select(acts, client=client, **kw)
        t_there = time.perf_counter() - t0
    same = all(np.array_equal(here[k]["keep"], there[k]["keep"]) for k in here)
    print(
        f"\nMIPP on {[p[0] for p in pairs]} of VGG16-BN ¼ (x = {x}, R = {repeats}): in process {t_here:.1f} s wall, "
        f"LocalCluster({workers} worker processes × 1 thread) {t_there:.1f} s wall; same kept sets: {same}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples-per-class", type=int, default=100)
    ap.add_argument("--x", type=float, default=0.9)
    ap.add_argument("--checkpoint-dir", default=None, help="cache of pretrained MLPs (trained on first use)")
    ap.add_argument("--skip-layers", action="store_true", help="only the estimator table")
    ap.add_argument(
        "--model",
        choices=["mlp", "vgg16"],
        default="mlp",
        help="vgg16: per-layer times on the CNN comparison's VGG16-BN ¼ (no estimator table)",
    )
    ap.add_argument("--comparison", default="results/cnn_vgg16_fashion_mnist.json")
    ap.add_argument(
        "--dense-cache",
        default=None,
        help="the comparison's cache_dir (default: beside --comparison, <its stem>_cache)",
    )
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--dask",
        type=int,
        default=0,
        metavar="WORKERS",
        help="time VGG16's last two MIPP layers in process vs on this many Dask worker processes",
    )
    args = ap.parse_args()
    if args.dense_cache is None:
        from mintlab.experiments.compare import default_cache_dir

        args.dense_cache = str(default_cache_dir(args.comparison))
    torch.set_num_threads(1)
    if args.dask:
        dask_times(args.x, args.comparison, args.dense_cache, args.repeats, args.dask)
        return
    if args.model == "vgg16":
        cnn_layer_times(args.x, args.comparison, args.dense_cache, args.repeats)
        return
    estimator_table()
    if not args.skip_layers:
        layer_times(args.samples_per_class, args.x, args.checkpoint_dir)


if __name__ == "__main__":
    main()
