"""Speed of the layer-pair scorer: today's exact kernels against the reference kernels, in one run.

For each workload the same MSTs are scored twice, by the reference float64 kernels
(``PairEngine.reference = True``: ``cross_batch_ref``, ``donors_feats_ref``, the code before the float32
filter) and by the fast exact kernels, and the script prints both times, their ratio, whether the
scores are identical, and the arithmetic bound: ``MSTs × n_merged² × d`` flops (a dense Prim evaluates
n²/2 edges, each d multiply-adds) at ``--gflops`` per core (50 by default: float32 SIMD, realistic).

Workloads (synthetic activations with the layers' shapes, as ``benchmarks/bench_gmi.py``):

* ``mlp``: fc1 → fc2 at the paper's settings: n = 6500 rows, 500 parents in 250 groups, 300 children
  in 100 groups (25 000 MSTs over 4 333 merged points).
* ``vgg``: a VGG16-BN conv8 → conv9 pair: 512 → 512 filters, groups 64 / 64, n = 6500 (4 096 MSTs).

By default only ``--sample-groups`` parent groups (× every child group) are scored and the whole pair
is extrapolated per MST (plus the once-per-split costs, timed whole); ``--full`` runs the whole pair
with the fast kernels only (the reference would take minutes).

``--end-to-end`` times the public call instead (``score_layer_pair(..., columns=(0, k))``: activations
prepared, donors, every MST), for ``k`` and ``2k`` parent groups, and extrapolates the whole pair as
``fixed + G_parent × per-group``. With ``--baseline-tree DIR`` (another checkout of mintlab, e.g. a
``git worktree`` of an older commit) the same measurement runs on that code in a subprocess, alternating
with this tree's ``--rounds`` times, so that both see the same competing load; the ratio is then
"that code's time / this code's time".

Usage::

    NUMBA_NUM_THREADS=2 .venv/bin/python benchmarks/bench_scoring_speed.py --workloads mlp vgg
    NUMBA_NUM_THREADS=2 .venv/bin/python benchmarks/bench_scoring_speed.py --workloads mlp --full
    git worktree add /tmp/mintlab-before <commit>
    NUMBA_NUM_THREADS=2 .venv/bin/python benchmarks/bench_scoring_speed.py --end-to-end \
        --baseline-tree /tmp/mintlab-before --workloads mlp vgg
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numba
import numpy as np
from bench_gmi import mlp_like  # same synthetic activations as the estimator benchmark (run from benchmarks/)

from mintlab.estimator._engine import PairEngine
from mintlab.estimator.gmi import split_rows
from mintlab.estimator.layer_pair import _check_options, group_labels, score_layer_pair

#: name → (n, parents, children, parent groups, child groups)
WORKLOADS = {"mlp": (6500, 500, 300, 250, 100), "vgg": (6500, 512, 512, 64, 64)}


def score_groups(scorer: PairEngine, split, js: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Scores of parent groups ``js`` (as ``PairEngine.scores`` computes them); (scores, shared s, rest s)."""
    t0 = time.perf_counter()
    shared = scorer._shared_full(split) if scorer.estimator in ("paper", "scaled") else None
    t_shared = time.perf_counter() - t0
    xt = np.ascontiguousarray(scorer.c[split.rows].T)
    prep = {"paper": scorer._prep_full, "scaled": scorer._prep_full, "pca": scorer._prep_pca,
            "projected": scorer._prep_projected}[scorer.estimator]
    out = np.full((scorer.gc, scorer.gp), np.nan)
    from mintlab.estimator import _mst

    t0 = time.perf_counter()
    b32 = None
    per = max(1, 256 // scorer.gc)
    for s in range(0, len(js), per):
        base, has_base, bws, ft, fidx, fptr, fws, tasks = prep(split, js[s : s + per], xt, shared)
        if b32 is None:
            b32 = _mst.float32_base(base, has_base)
        r = scorer._cross(base, has_base, bws, ft, fidx, fptr, fws, split.labels, b32)
        for (i, j), rt in zip(tasks, r, strict=True):
            out[i, j] = 1.0 - rt / split.m
    return out, t_shared, time.perf_counter() - t0


def bench(workload: str, estimator: str, sample_groups: int, gflops: float, full: bool) -> None:
    n, npar, nch, gp, gc = WORKLOADS[workload]
    p, c, w = mlp_like(n, npar, nch)  # ReLU parents from a 20-factor model, linear children
    m2 = 2 * (n // 3)
    d = {"projected": 2 * (nch // gc) + npar // gp, "paper": nch // gc + 2 * (npar // gp)}[estimator]
    mst_total = gp * gc
    bound = mst_total * m2 * m2 * d / (numba.get_num_threads() * gflops * 1e9)
    print(f"\n== {workload}: n = {n} ({m2} merged points), {npar} → {nch} units, G {gp}/{gc} "
          f"({mst_total} MSTs of {d} coordinates{' + a shared distance matrix' if estimator == 'paper' else ''}), "
          f"estimator {estimator!r}, {numba.get_num_threads()} threads, load {os.getloadavg()[0]:.1f} ==")
    print(f"  arithmetic bound: {mst_total * m2 * m2 * d:.2e} flops / ({numba.get_num_threads()} cores × "
          f"{gflops:.0f} GFLOP/s) = {bound:.0f} s")
    if full:
        t0 = time.perf_counter()
        score_layer_pair(p, c, gp, gc, seed=0, estimator=estimator, weight=w, progress=True)
        t = time.perf_counter() - t0
        print(f"  whole pair, fast kernels: {t:.1f} s ({t / mst_total * 1e3:.2f} ms per MST, wall); "
              f"{t / bound:.1f}× the bound")
        return
    scorer = PairEngine(p, c, group_labels(npar, gp), group_labels(nch, gc), estimator, w,
                        _check_options(estimator, {}))
    split = split_rows(n, 0)
    js = np.arange(sample_groups)
    score_groups(scorer, split, js[:1])  # compile / warm both paths
    scorer.reference = True
    score_groups(scorer, split, js[:1])
    # the two paths alternate group by group, so that both see the same competing load
    acc = {True: [np.full((gc, gp), np.nan), 0.0, 0.0, 0.0], False: [np.full((gc, gp), np.nan), 0.0, 0.0, 0.0]}
    for j in js:
        for ref in (True, False):
            scorer.reference = ref
            c0 = time.process_time()
            scores, t_shared, t_rest = score_groups(scorer, split, js[j : j + 1])
            acc[ref][0][:, j] = scores[:, j]
            acc[ref][1] = t_shared  # once per split: the last measurement
            acc[ref][2] += t_rest
            acc[ref][3] += time.process_time() - c0
    whole = {}
    for ref, name in ((True, "reference (before)"), (False, "exact fast (now)")):
        _, t_shared, t_rest, cpu = acc[ref]
        per = t_rest / (len(js) * gc)
        whole[ref] = t_shared + per * mst_total
        print(f"  {name:20s}: {len(js) * gc} MSTs in {t_rest:.1f} s wall ({cpu:.1f} s CPU incl. shared) = "
              f"{per * 1e3:.2f} ms per MST; shared {t_shared:.1f} s")
        print(f"  {'':20s}  → whole pair ≈ {whole[ref]:.0f} s = {whole[ref] / 60:.1f} min wall "
              f"({whole[ref] / bound:.1f}× the bound)")
    same = np.array_equal(acc[True][0][:, js], acc[False][0][:, js])
    print(f"  ratio before/now: {whole[True] / whole[False]:.1f}× (whole pair, wall), "
          f"{acc[True][3] / acc[False][3]:.1f}× (timed groups, CPU); scores identical: {same}")


def end_to_end(workload: str, estimator: str, k: int) -> dict[str, float]:
    """Seconds of ``score_layer_pair(..., columns=(0, k))`` and ``(0, 2k)`` (after a warm-up call), and the
    whole pair extrapolated from them; only the public API is used, so any mintlab version runs it."""
    n, npar, nch, gp, gc = WORKLOADS[workload]
    p, c, w = mlp_like(n, npar, nch)
    score_layer_pair(p[:300], c[:300], gp, gc, seed=0, estimator=estimator, weight=w, columns=(0, 1))  # compile
    times = []
    for cols in (k, 2 * k):
        t0 = time.perf_counter()
        score_layer_pair(p, c, gp, gc, seed=0, estimator=estimator, weight=w, columns=(0, cols))
        times.append(time.perf_counter() - t0)
    per = max(times[1] - times[0], 1e-9) / k
    return {"t_k": times[0], "t_2k": times[1], "per_group": per, "whole": max(times[0] - k * per, 0.0) + gp * per}


def run_end_to_end(args: argparse.Namespace) -> None:
    """Alternate this tree and ``--baseline-tree`` (subprocesses) on the same workloads; print the ratios."""
    trees = [("now", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))]
    if args.baseline_tree:
        trees.insert(0, ("baseline", os.path.abspath(args.baseline_tree)))
    for wl in args.workloads:
        for est in args.estimators:
            n, npar, nch, gp, gc = WORKLOADS[wl]
            k = args.sample_groups
            print(f"\n== end to end: {wl}, estimator {est!r}, parent groups 0..{k} and 0..{2 * k} of {gp} "
                  f"(× {gc} child groups), {os.environ.get('NUMBA_NUM_THREADS', 'default')} numba threads ==")
            res: dict[str, list[dict[str, float]]] = {name: [] for name, _ in trees}
            for r in range(args.rounds):
                for name, tree in trees:
                    cmd = [sys.executable, os.path.abspath(__file__), "--worker", wl, est, str(k)]
                    cache = os.path.join(tempfile.gettempdir(), "mintlab-bench-numba", name)  # one per tree
                    env = dict(os.environ, PYTHONPATH=tree, NUMBA_CACHE_DIR=cache)
                    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=tree)
                    rec = json.loads(out.stdout.strip().splitlines()[-1])
                    res[name].append(rec)
                    print(f"  round {r}: {name:8s} {rec['t_k']:.1f} s / {rec['t_2k']:.1f} s → whole pair "
                          f"≈ {rec['whole']:.0f} s (load {os.getloadavg()[0]:.1f})")
            best = {name: min(x["whole"] for x in recs) for name, recs in res.items()}
            for name, t in best.items():
                print(f"  {name:8s}: whole pair ≈ {t:.0f} s = {t / 60:.1f} min (best of {args.rounds} rounds)")
            if "baseline" in best:
                ratios = [b["whole"] / a["whole"] for a, b in zip(res["now"], res["baseline"])]
                print(f"  baseline / now: {min(ratios):.2f}–{max(ratios):.2f}× (per round), "
                      f"{best['baseline'] / best['now']:.2f}× (best of each)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":  # one measurement, run by run_end_to_end
        wl, est, k = sys.argv[2], sys.argv[3], int(sys.argv[4])
        print(json.dumps(end_to_end(wl, est, k)))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="+", default=["mlp", "vgg"], choices=sorted(WORKLOADS))
    ap.add_argument("--estimators", nargs="+", default=["projected", "paper"], choices=["projected", "paper"])
    ap.add_argument("--sample-groups", type=int, default=3, help="parent groups timed per workload")
    ap.add_argument("--gflops", type=float, default=50.0, help="realistic float32 GFLOP/s of one core")
    ap.add_argument("--full", action="store_true", help="run the whole pair with the fast kernels")
    ap.add_argument("--end-to-end", action="store_true", help="time the public call (see the module docstring)")
    ap.add_argument("--baseline-tree", help="another mintlab checkout to time alternately (with --end-to-end)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds (with --end-to-end)")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, numba threads {numba.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f} (other jobs share the CPU: compare ratios, not times)")
    if args.end_to_end:
        run_end_to_end(args)
        return
    for wl in args.workloads:
        for est in args.estimators:
            bench(wl, est, args.sample_groups, args.gflops, args.full)


if __name__ == "__main__":
    main()
