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

``--end-to-end`` times what ``PairEngine.scores`` does per chunk of parent groups (prepare the activations,
bootstrap donors, every MST) instead of the kernels alone. With ``--baseline-tree DIR`` (another checkout
of mintlab, e.g. a ``git worktree`` of an older commit) that checkout's engine and kernels are loaded into
this process as well, and the two score the same chunks alternately (``--rounds`` chunks each), so that
both see the same competing load; the script checks that their counts are identical and prints the
median per-chunk ratio "baseline / now".

Usage::

    NUMBA_NUM_THREADS=2 .venv/bin/python benchmarks/bench_scoring_speed.py --workloads mlp vgg
    NUMBA_NUM_THREADS=2 .venv/bin/python benchmarks/bench_scoring_speed.py --workloads mlp --full
    .venv/bin/python benchmarks/bench_scoring_speed.py --workloads mlp --full --device cuda   # on a GPU
    git worktree add /tmp/mintlab-before <commit>
    NUMBA_NUM_THREADS=2 .venv/bin/python benchmarks/bench_scoring_speed.py --end-to-end \
        --baseline-tree /tmp/mintlab-before --workloads mlp vgg
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
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
    prep = {
        "paper": scorer._prep_full,
        "scaled": scorer._prep_full,
        "pca": scorer._prep_pca,
        "projected": scorer._prep_projected,
    }[scorer.estimator]
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


def bench(workload: str, estimator: str, sample_groups: int, gflops: float, full: bool, device: str | None) -> None:
    n, npar, nch, gp, gc = WORKLOADS[workload]
    p, c, w = mlp_like(n, npar, nch)  # ReLU parents from a 20-factor model, linear children
    m2 = 2 * (n // 3)
    d = {"projected": 2 * (nch // gc) + npar // gp, "paper": nch // gc + 2 * (npar // gp)}[estimator]
    mst_total = gp * gc
    bound = mst_total * m2 * m2 * d / (numba.get_num_threads() * gflops * 1e9)
    print(
        f"\n== {workload}: n = {n} ({m2} merged points), {npar} → {nch} units, G {gp}/{gc} "
        f"({mst_total} MSTs of {d} coordinates{' + a shared distance matrix' if estimator == 'paper' else ''}), "
        f"estimator {estimator!r}, {numba.get_num_threads()} threads, load {os.getloadavg()[0]:.1f} =="
    )
    print(
        f"  arithmetic bound: {mst_total * m2 * m2 * d:.2e} flops / ({numba.get_num_threads()} cores × "
        f"{gflops:.0f} GFLOP/s) = {bound:.0f} s"
    )
    if full:
        where = "fast kernels" if device is None else f"torch on {device!r}"
        if device is not None:  # the device must give the CPU kernels' scores: checked on a few parent groups
            cols = (0, sample_groups)
            t0 = time.perf_counter()
            cpu = score_layer_pair(p, c, gp, gc, seed=0, estimator=estimator, weight=w, columns=cols)
            t_cpu = time.perf_counter() - t0
            score_layer_pair(
                p[:300], c[:300], gp, gc, seed=0, estimator=estimator, weight=w, device=device, columns=(0, 1)
            )  # warm the device
            t0 = time.perf_counter()
            dev = score_layer_pair(p, c, gp, gc, seed=0, estimator=estimator, weight=w, columns=cols, device=device)
            t_dev = time.perf_counter() - t0
            print(
                f"  parent groups {cols[0]}..{cols[1] - 1} ({cols[1] * gc} MSTs): CPU kernels {t_cpu:.1f} s, "
                f"{where} {t_dev:.1f} s; scores identical: {np.array_equal(cpu, dev)}"
            )
        t0 = time.perf_counter()
        score_layer_pair(p, c, gp, gc, seed=0, estimator=estimator, weight=w, progress=True, device=device)
        t = time.perf_counter() - t0
        print(
            f"  whole pair, {where}: {t:.1f} s ({t / mst_total * 1e3:.2f} ms per MST, wall); {t / bound:.1f}× the bound"
        )
        return
    scorer = PairEngine(
        p, c, group_labels(npar, gp), group_labels(nch, gc), estimator, w, _check_options(estimator, {})
    )
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
        print(
            f"  {name:20s}: {len(js) * gc} MSTs in {t_rest:.1f} s wall ({cpu:.1f} s CPU incl. shared) = "
            f"{per * 1e3:.2f} ms per MST; shared {t_shared:.1f} s"
        )
        print(
            f"  {'':20s}  → whole pair ≈ {whole[ref]:.0f} s = {whole[ref] / 60:.1f} min wall "
            f"({whole[ref] / bound:.1f}× the bound)"
        )
    same = np.array_equal(acc[True][0][:, js], acc[False][0][:, js])
    print(
        f"  ratio before/now: {whole[True] / whole[False]:.1f}× (whole pair, wall), "
        f"{acc[True][3] / acc[False][3]:.1f}× (timed groups, CPU); scores identical: {same}"
    )


def _load_engine(tree: str):
    """The estimator engine and kernels of another mintlab checkout, loaded into this process."""
    mods = {}
    for name in ("_mst", "_engine"):
        mod_name = f"baseline_{name}"
        path = os.path.join(tree, "mintlab", "estimator", f"{name}.py")
        spec = importlib.util.spec_from_file_location(mod_name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = mod  # numba's cache needs the module importable by name
        spec.loader.exec_module(mod)
        mods[name] = mod
    mods["_engine"]._mst = mods["_mst"]  # its engine calls its own kernels
    return mods["_engine"]


def _setup(engine, split, est: str) -> tuple[float, tuple]:
    """Seconds of the once-per-split work of ``PairEngine.scores`` (the shared distances for "paper"), and it."""
    t0 = time.perf_counter()
    xt = np.ascontiguousarray(engine.c[split.rows].T)
    shared = engine._shared_full(split) if est == "paper" else None
    return time.perf_counter() - t0, (xt, shared)


def _chunk(engine, split, est: str, js: np.ndarray, setup: tuple) -> tuple[float, np.ndarray]:
    """Seconds to prepare and score parent groups ``js`` (as ``PairEngine.scores`` does) and the counts."""
    from mintlab.estimator import _mst

    xt, shared = setup
    t0 = time.perf_counter()
    prep = {"paper": engine._prep_full, "projected": engine._prep_projected}[est]
    args = prep(split, js, xt, shared)
    counts = engine._cross(*args[:7], split.labels, _mst.float32_base(args[0], args[1]))
    return time.perf_counter() - t0, counts


def run_end_to_end(args: argparse.Namespace) -> None:
    """This tree's engine and ``--baseline-tree``'s, alternating chunk by chunk in this process."""
    import mintlab.estimator._engine as now_engine

    engines = {"now": now_engine}
    if args.baseline_tree:
        engines = {"baseline": _load_engine(os.path.abspath(args.baseline_tree)), **engines}
    for wl in args.workloads:
        for est in args.estimators:
            n, npar, nch, gp, gc = WORKLOADS[wl]
            p, c, w = mlp_like(n, npar, nch)
            split = split_rows(n, 0)
            opts = _check_options(est, {})
            scorers = {
                k: m.PairEngine(p, c, group_labels(npar, gp), group_labels(nch, gc), est, w, opts)
                for k, m in engines.items()
            }
            per = max(1, 256 // gc)  # parent groups per chunk, as PairEngine.scores
            setups = {k: _setup(sc, split, est) for k, sc in scorers.items()}
            for k, sc in scorers.items():
                _chunk(sc, split, est, np.arange(1), setups[k][1])  # compile / warm
            print(
                f"\n== end to end: {wl}, estimator {est!r}, {args.rounds} chunks of {per * gc} MSTs "
                f"(prepare + score), alternating, {numba.get_num_threads()} numba threads =="
            )
            times: dict[str, list[float]] = {k: [] for k in scorers}
            for r in range(args.rounds):
                js = np.arange(1 + r * per, 1 + (r + 1) * per) % gp
                counts = {}
                for k, sc in scorers.items():
                    t, counts[k] = _chunk(sc, split, est, js, setups[k][1])
                    times[k].append(t)
                if len(counts) == 2:
                    assert np.array_equal(*counts.values()), "the two trees disagree"
            for k, ts in times.items():
                per_mst = float(np.median(ts)) / (per * gc)
                whole = setups[k][0] + per_mst * gp * gc
                print(
                    f"  {k:8s}: {per_mst * 1e3:.2f} ms per MST (median wall), set-up {setups[k][0]:.1f} s → "
                    f"whole pair ≈ {whole:.0f} s = {whole / 60:.1f} min"
                )
            if len(times) == 2:
                ratio = np.array(times["baseline"]) / np.array(times["now"])
                print(
                    f"  baseline / now, chunk by chunk: median {np.median(ratio):.2f}× "
                    f"(min {ratio.min():.2f}, max {ratio.max():.2f}); counts identical"
                )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="+", default=["mlp", "vgg"], choices=sorted(WORKLOADS))
    ap.add_argument("--estimators", nargs="+", default=["projected", "paper"], choices=["projected", "paper"])
    ap.add_argument("--sample-groups", type=int, default=3, help="parent groups timed per workload")
    ap.add_argument("--gflops", type=float, default=50.0, help="realistic float32 GFLOP/s of one core")
    ap.add_argument("--full", action="store_true", help="run the whole pair with the fast kernels")
    ap.add_argument(
        "--device",
        help="with --full: score on this torch device (e.g. cuda), after checking it "
        "gives the CPU kernels' scores on --sample-groups parent groups",
    )
    ap.add_argument("--end-to-end", action="store_true", help="time the public call (see the module docstring)")
    ap.add_argument("--baseline-tree", help="another mintlab checkout to time alternately (with --end-to-end)")
    ap.add_argument("--rounds", type=int, default=3, help="chunks timed per tree (with --end-to-end)")
    args = ap.parse_args()
    print(
        f"machine: {os.cpu_count()} CPUs, numba threads {numba.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.1f} (other jobs share the CPU: compare ratios, not times)"
    )
    if args.end_to_end:
        run_end_to_end(args)
        return
    for wl in args.workloads:
        for est in args.estimators:
            bench(wl, est, args.sample_groups, args.gflops, args.full, args.device)


if __name__ == "__main__":
    main()
