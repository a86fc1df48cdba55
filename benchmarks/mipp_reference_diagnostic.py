"""Why MIPP over-prunes VGG16-BN ¼: the loss change on removal (Δ) against the predictor budget and the reference.

On the CNN comparison's seed-0 VGG16-BN ¼ (m = 50 sample, the last layer conv13 → fc1 output and the
layer before it against conv13's kept channels), one MIPP pass per setting, printing the channels kept
and the share of tested channels whose mean Δ was negative (the refit without the channel ended below
the reference loss, so the one-sided test can never keep it):

* ``run``: the evidence run's predictor (width 16, ≤ 40 / ≤ 5 epochs, patience 2), ``reference="original"``;
* ``current``: the same, Δ against the current kept set's refit loss (the literal TERC condition, A3);
* ``long reference``: initial fits up to 200 epochs with patience 10 (closer to converged), refits ≤ 5;
* ``refit 1``: refits of one epoch (less training after each removal).

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/mipp_reference_diagnostic.py [--cache DIR]

(the comparison's cache, default ``results/cnn_vgg16_fashion_mnist_cache``; the logged run used
``/work/wt/cnn_cache/vgg16``).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch
from _cnn_comparison import seed0_sample

from mintlab.experiments.compare import default_cache_dir
from mintlab.experiments.mipp import EVIDENCE_PREDICTOR
from mintlab.prune.mipp import mipp_layer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--comparison", default="results/cnn_vgg16_fashion_mnist.json")
    ap.add_argument("--cache", default=None, help="the comparison's cache (default: beside --comparison)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    run = seed0_sample(args.comparison, args.cache or default_cache_dir(args.comparison), last_pairs=2)
    pairs, acts = run["pairs"], run["acts"]
    base = EVIDENCE_PREDICTOR
    settings = {
        "run": (base, "original"),
        "current": (base, "current"),
        "long reference": (dataclasses.replace(base, max_epochs=200, patience=10), "original"),
        "refit 1": (dataclasses.replace(base, refit_epochs=1), "original"),
    }
    print(f"{'setting':>15} {'x':>5} {'layer':>16} {'kept':>9} {'Δ<0':>6} {'s':>6}")
    for name, (config, reference) in settings.items():
        for x in (0.5, 0.9):
            last = pairs[1]
            t0 = time.perf_counter()
            r13 = mipp_layer(
                acts.parent[last], acts.child[last], x=x, repeats=5, seed=0, config=config, reference=reference
            )
            r12 = mipp_layer(
                acts.parent[pairs[0]],
                acts.parent[last][:, r13["keep"]],
                x=x,
                repeats=5,
                seed=1,
                config=config,
                reference=reference,
            )
            sec = time.perf_counter() - t0
            for layer, r in ((last[0], r13), (pairs[0][0], r12)):
                dm = r["delta_mean"][np.isfinite(r["delta_mean"])]
                print(
                    f"{name:>15} {x:5.2f} {layer:>16} {int(r['keep'].sum()):4d}/{len(r['keep']):<4d} "
                    f"{np.mean(dm < 0):6.2f} {sec:6.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
