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
import json
import time
from pathlib import Path

import numpy as np
import torch

from mintlab.experiments.compare import comparison_inputs, default_cache_dir, load_dense_network
from mintlab.prune.activations import collect_activations
from mintlab.prune.mipp import PredictorConfig, mipp_layer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--comparison", default="results/cnn_vgg16_fashion_mnist.json")
    ap.add_argument("--cache", default=None, help="the comparison's cache (default: beside --comparison)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cache = args.cache or str(default_cache_dir(args.comparison))
    s = json.loads(Path(args.comparison).read_text())["settings"]
    preset, train_data, _ = comparison_inputs(s)
    model = load_dense_network(s, cache, 0, preset)
    pairs = list(preset.pairs)[-2:]
    acts = collect_activations(model.eval(), train_data, pairs, samples_per_class=s["samples_per_class"], seed=0,
                               progress=False)
    base = PredictorConfig(hidden=16, max_epochs=40, refit_epochs=5, patience=2)
    settings = {
        "run": (base, "original"),
        "current": (base, "current"),
        "long reference": (PredictorConfig(hidden=16, max_epochs=200, refit_epochs=5, patience=10), "original"),
        "refit 1": (PredictorConfig(hidden=16, max_epochs=40, refit_epochs=1, patience=2), "original"),
    }
    print(f"{'setting':>15} {'x':>5} {'layer':>16} {'kept':>9} {'Δ<0':>6} {'s':>6}")
    for name, (config, reference) in settings.items():
        for x in (0.5, 0.9):
            last = pairs[1]
            t0 = time.perf_counter()
            r13 = mipp_layer(acts.parent[last], acts.child[last], x=x, repeats=5, seed=0, config=config,
                             reference=reference)
            r12 = mipp_layer(acts.parent[pairs[0]], acts.parent[last][:, r13["keep"]], x=x, repeats=5, seed=1,
                             config=config, reference=reference)
            sec = time.perf_counter() - t0
            for layer, r in ((last[0], r13), (pairs[0][0], r12)):
                dm = r["delta_mean"][np.isfinite(r["delta_mean"])]
                print(f"{name:>15} {x:5.2f} {layer:>16} {int(r['keep'].sum()):4d}/{len(r['keep']):<4d} "
                      f"{np.mean(dm < 0):6.2f} {sec:6.1f}", flush=True)


if __name__ == "__main__":
    main()
