"""How much information MIPP's kept units still carry: fresh predictors on all / MIPP-kept / random units.

Reads MIPP's kept sets of seed 0, x = 0.75 from ``results/mipp_mlp_fashion_mnist.json`` (written by
``scripts/run_mipp_mlp.py``) and, for each MLP layer, trains fresh predictors (3 seeds, the evidence
run's predictor settings) from (a) all units, (b) the units MIPP kept, (c) as many random units, to the
same target MIPP used (fc2: the logits; fc1: fc2's kept units), at 1,000 and 5,000 activation rows.
Prints the held-out MSE on standardised targets (lower = more information about the target kept).

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/mipp_information_kept.py
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from mintlab.experiments.mipp import EVIDENCE_PREDICTOR
from mintlab.nets.data import as_tensor_dataset as tensor_dataset
from mintlab.nets.data import load_dataset
from mintlab.nets.pretrained import pretrained
from mintlab.prune._predictor import fit_repeats, standardize
from mintlab.prune.activations import collect_activations

PAIRS = [("fc1", "fc2"), ("fc2", "fc3")]
CONFIG = EVIDENCE_PREDICTOR


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default="results/mipp_mlp_fashion_mnist.json", help="scripts/run_mipp_mlp.py's JSON")
    args = ap.parse_args()
    torch.set_num_threads(1)
    d = json.loads(open(args.results).read())
    keep = {k: np.array(v) for k, v in d["seeds"]["0"]["mipp_keep_s0_x0.75"].items()}
    model, _ = pretrained(
        "mlp",
        "fashion_mnist",
        recipe="quick",
        seed=0,
        cache_dir="results/mipp_mlp_fashion_mnist_cache/checkpoints",
        progress=False,
    )
    data = tensor_dataset(load_dataset("fashion_mnist", "train"))
    rng = np.random.default_rng(0)
    for per_class in (100, 500):
        acts = collect_activations(model, data, PAIRS, samples_per_class=per_class, seed=0, progress=False)
        layers = {
            "fc2": (acts.parent[PAIRS[1]], acts.child[PAIRS[1]]),
            "fc1": (acts.parent[PAIRS[0]], acts.parent[PAIRS[1]][:, keep["fc2"]]),
        }
        for name, (units, target) in layers.items():
            perm = rng.permutation(len(units))
            held, fit = perm[: len(units) // 5], perm[len(units) // 5 :]
            live = units[fit].std(0) > 1e-8
            tf, th = standardize(target[fit], target[held])
            random_cols = np.zeros(len(live), dtype=bool)
            random_cols[rng.choice(np.flatnonzero(live), int(keep[name].sum()), replace=False)] = True
            out = []
            for label, cols in (("all", live), ("mipp kept", keep[name] & live), ("random, same count", random_cols)):
                uf, uh = standardize(units[fit][:, cols], units[held][:, cols])
                res = fit_repeats(uf, tf, uh, th, [1, 2, 3], config=CONFIG)
                out.append(f"{label} ({cols.sum()}): {res.loss.mean():.3f}")
            print(per_class * 10, "rows", name, " | ".join(out), flush=True)


if __name__ == "__main__":
    main()
