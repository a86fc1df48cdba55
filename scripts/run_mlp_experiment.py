"""MLP / Fashion-MNIST: MINT vs weight magnitude vs random at equal sparsity, one prune → retrain each.

Writes ``results/mlp_fashion_mnist.json`` and ``.png`` (see :mod:`mintlab.experiments.mlp`). Rerunning with
the same settings skips the finished runs; scores and retrain checkpoints are cached beside the JSON.

    .venv/bin/python scripts/run_mlp_experiment.py                       # paper settings (long on CPU)
    .venv/bin/python scripts/run_mlp_experiment.py --samples-per-class 100 --groups 50,20,60,10 \\
        --levels 80,90,95 --retrain-epochs 1 --out /tmp/mlp_small.json   # a small check
"""

from __future__ import annotations

import argparse
import sys
import time

from mintlab.experiments.mlp import DEFAULT_LEVELS, PAPER_GROUPS, run_mlp_experiment
from mintlab.prune.scorers import SCORER_NAMES


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="results/mlp_fashion_mnist.json", help="JSON output (plot beside it)")
    parser.add_argument("--samples-per-class", type=int, default=650, help="m (paper: 650)")
    parser.add_argument(
        "--groups",
        default=",".join(str(g) for pair in PAPER_GROUPS.values() for g in pair),
        help="G_parent,G_child of fc1→fc2 then of fc2→fc3 (paper: 250,100,300,10)",
    )
    parser.add_argument(
        "--levels",
        default=",".join(f"{v:g}" for v in DEFAULT_LEVELS),
        help="target pruned shares of fc2 (%%) for the δ sweep",
    )
    parser.add_argument(
        "--methods", default="mint,mint_paper,magnitude,random", help="comma-separated, from " + ", ".join(SCORER_NAMES)
    )
    parser.add_argument(
        "--both-pairs-level", type=float, default=90.0, help="level of the extra fc2+fc3 run (<0: none)"
    )
    parser.add_argument("--retrain-recipe", default="quick_retrain", help="name in mintlab.nets.recipes.RECIPES")
    parser.add_argument("--retrain-epochs", type=int, default=None, help="override the recipe's epochs")
    parser.add_argument("--max-batches", type=int, default=None, help="cap batches per retrain epoch")
    parser.add_argument("--pretrain-recipe", default="quick", help="recipe of the dense MLP")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=None, help="CPU threads of the MINT estimator (default: all)")
    parser.add_argument(
        "--mint-device", default=None, help="run the estimator's MSTs in torch on this device (e.g. cuda)"
    )
    parser.add_argument("--cache-dir", default=None, help="scores + retrain checkpoints (default: <out>_cache/)")
    parser.add_argument("--root", default=None, help="data root (default: $MINTLAB_DATA or ~/.cache/mintlab/data)")
    parser.add_argument("--overwrite", action="store_true", help="discard runs made with other settings")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    g = [int(v) for v in args.groups.split(",")]
    if len(g) != 4:
        parser.error(f"--groups needs 4 integers, got {args.groups!r}")
    groups = {("fc1", "fc2"): (g[0], g[1]), ("fc2", "fc3"): (g[2], g[3])}
    start = time.perf_counter()
    result = run_mlp_experiment(
        args.out,
        samples_per_class=args.samples_per_class,
        groups=groups,
        levels=_floats(args.levels),
        methods=[m.strip() for m in args.methods.split(",") if m.strip()],
        both_pairs_level=None if args.both_pairs_level < 0 else args.both_pairs_level,
        retrain_recipe=args.retrain_recipe,
        retrain_epochs=args.retrain_epochs,
        max_batches=args.max_batches,
        pretrain_recipe=args.pretrain_recipe,
        seed=args.seed,
        mint_options={k: v for k, v in (("n_jobs", args.n_jobs), ("device", args.mint_device)) if v is not None},
        cache_dir=args.cache_dir,
        root=args.root,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    print(f"dense accuracy {result['dense_accuracy']:.2f} %  ({time.perf_counter() - start:.0f} s)")
    print(f"{'method':<11}{'scope':<6}{'delta':>7}{'fc2 %':>8}{'total %':>9}{'acc':>8}{'before':>8}{'fc2 Mb':>8}")
    for r in result["runs"]:
        delta = "" if r["delta"] is None else f"{r['delta']:.3f}"
        print(
            f"{r['method']:<11}{r['scope']:<6}{delta:>7}{r['fc2_pruned_percent']:>8.2f}{r['total_pruned_percent']:>9.2f}"
            f"{r['accuracy']:>8.2f}{r['accuracy_before_retrain']:>8.2f}{r['fc2_csr_memory_mb']:>8.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
