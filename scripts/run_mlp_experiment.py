"""MLP / Fashion-MNIST: the method comparison on the paper's MLP (784-500-300-10), through the one comparison.

A thin entry to ``python -m mintlab.experiments.compare --model mlp``: the paper's MLP preset (its pairs, G and
m from :data:`mintlab.nets.presets.PAPER_SETTINGS`), MINT (both estimators) against magnitude and random at
equal sparsity, seeds, both allocations. Every option of the comparison's command line is accepted and wins over
the defaults here. Writes ``results/cmp_mlp_fashion_mnist.json`` and its plots; a rerun skips finished runs.

    .venv/bin/python scripts/run_mlp_experiment.py                                   # the defaults below
    .venv/bin/python scripts/run_mlp_experiment.py --samples-per-class 100 --groups 10 \\
        --levels 30,50 --seeds 0 --retrain-epochs 1 --out /tmp/mlp_small.json     # a small check
"""

from __future__ import annotations

import sys

from mintlab.experiments.compare import main

#: The defaults of this entry; any of them given on the command line replaces it.
DEFAULTS = {
    "--out": "results/cmp_mlp_fashion_mnist.json",
    "--methods": "mint,mint_paper,magnitude,random",
    "--levels": "30,45,55",
    "--seeds": "0,1,2",
    "--allocation": "mint,global",
}


def run(argv: list[str]) -> int:
    given = {a.split("=", 1)[0] for a in argv if a.startswith("--")}
    extra = [x for k, v in DEFAULTS.items() if k not in given for x in (k, v)]
    return main(["--model", "mlp", *extra, *argv])


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
