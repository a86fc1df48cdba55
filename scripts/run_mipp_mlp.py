"""MIPP vs unit-level L1 / random and MINT on the MLP (784-500-300-10) on Fashion-MNIST: the shared MIPP comparison.

One trained MLP per seed (:func:`mintlab.nets.pretrained.pretrained`, recipe ``quick``), then
:func:`mintlab.experiments.mipp.run_mipp_comparison` at each unit sparsity: MIPP keeps the same share of units in
every selected layer as L1 and random units do, MINT prunes blocks (the paper's G) to the parameter share MIPP's
masks reach, one retraining epoch each; resumable, the JSON rewritten after every run.

    OMP_NUM_THREADS=1 python scripts/run_mipp_mlp.py                       # results/mipp_mlp_fashion_mnist_units.json
    python scripts/run_mipp_mlp.py --summary

``results/mipp_mlp_fashion_mnist.json`` (MIPP at fixed confidences x, not at a unit sparsity) was made by this
script's earlier version, retired (last at commit a7370b5); the README labels it so.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mintlab.experiments.mipp import EVIDENCE_PREDICTOR, MIPP_METHODS, run_mipp_comparison, summarize_mipp
from mintlab.nets.data import as_tensor_dataset, load_dataset
from mintlab.nets.networks import get_network
from mintlab.nets.pretrained import pretrained
from mintlab.nets.recipes import get_recipe
from mintlab.utils.runtime import configure_threads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output", default="results/mipp_mlp_fashion_mnist_units.json")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--unit-sparsities", type=float, nargs="+", default=[0.5, 0.8, 0.9])
    ap.add_argument("--methods", nargs="+", default=list(MIPP_METHODS), choices=list(MIPP_METHODS))
    ap.add_argument("--samples-per-class", type=int, default=100, help="m")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--summary", action="store_true", help="print the table of --output and exit")
    args = ap.parse_args()
    out = Path(args.output)
    if args.summary:
        print(summarize_mipp(json.loads(out.read_text())))
        return
    configure_threads(threads=1, numba_threads=1)
    mlp = get_network("mlp")
    cache = out.with_name(out.stem + "_cache")
    result = run_mipp_comparison(
        out, dense_model=lambda seed: pretrained("mlp", "fashion_mnist", seed=seed, cache_dir=cache / "networks",
                                                 progress=False)[0],
        pairs=mlp.pairs, train_data=as_tensor_dataset(load_dataset("fashion_mnist", "train")),
        test_data=as_tensor_dataset(load_dataset("fashion_mnist", "test")), unit_sparsities=args.unit_sparsities,
        seeds=args.seeds, methods=args.methods, samples_per_class=args.samples_per_class, mint_groups=dict(mlp.groups),
        mipp_options={"repeats": args.repeats, "config": EVIDENCE_PREDICTOR, "min_keep": 0, "max_bisect": 4},
        retrain_recipe=get_recipe("quick_retrain", epochs=1), cache_dir=cache, log=lambda line: print(line, flush=True),
    )  # fmt: skip
    print(summarize_mipp(result))


if __name__ == "__main__":
    main()
