"""Evidence run for issue 14: MINT vs magnitude vs random pruned MLPs on Fashion-MNIST, several seeds.

Phase ``prune``: one dense MLP (``pretrained("mlp", "fashion_mnist", recipe="quick")``); for each seed, scores of
each method (activation sample and random scores seeded) and one prune → retrain step at equal sparsity through
:func:`mintlab.notebook.workflow.compare_methods` (the first method sets the fraction, the others match it).
Everything is cached by :mod:`mintlab.notebook.workflow`, so a rerun resumes. Phase ``characterize`` (default: both)
runs :func:`mintlab.characterize.compare.characterize_methods` and writes
``results/characterization_mlp_fashion_mnist.json`` and its figures.

Run (one thread, resumable, log to a file)::

    OMP_NUM_THREADS=1 MINTLAB_CACHE=/tmp/charcmp_cache python scripts/run_characterization_mlp.py \
        > /tmp/charcmp_evidence.log 2>&1
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from mintlab.nets.data import NORMALIZATION, load_dataset
from mintlab.nets.presets import layer_pairs
from mintlab.nets.pretrained import pretrained
from mintlab.notebook.networks import notebook_model
from mintlab.notebook.workflow import compare_methods, method_scores


def pruned_networks(args: argparse.Namespace) -> tuple[torch.nn.Module, dict, dict]:
    original, info = pretrained("mlp", "fashion_mnist", recipe="quick", seed=0, progress=False)
    train_set = load_dataset("fashion_mnist", "train")
    test_set = load_dataset("fashion_mnist", "test")
    pairs = layer_pairs("mlp")
    nets: dict[str, list] = {m: [] for m in args.methods}
    records: dict[str, list] = {m: [] for m in args.methods}
    for seed in args.seeds:
        t0 = time.time()
        score_sets = {
            m: method_scores(
                original,
                train_set,
                pairs,
                m,
                groups=args.groups,
                samples_per_class=args.samples_per_class,
                seed=seed,
                dataset_name="fashion_mnist",
                progress=False,
            )
            for m in args.methods
        }
        results = compare_methods(
            original,
            score_sets,
            train_data=train_set,
            test_data=test_set,
            prune_percent=args.prune_percent,
            skip=args.skip,
            retrain_epochs=args.retrain_epochs,
            seed=seed,
            progress=False,
        )
        for m, (net, rec) in results.items():
            nets[m].append(net)
            records[m].append({k: v for k, v in rec.items() if k != "history"})
            print(
                f"seed {seed} {m}: pruned {rec['params_pruned_percent']:.2f} % total, "
                f"{rec['per_layer_pruned_percent']} per layer, acc {rec['accuracy_dense']:.2f} → "
                f"{rec['accuracy_pruned']:.2f} → {rec['accuracy_retrained']:.2f}",
                flush=True,
            )
        print(f"seed {seed} done in {time.time() - t0:.0f} s", flush=True)
    return original, nets, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=["prune", "all"], default="all")
    parser.add_argument("--methods", nargs="+", default=["mint", "magnitude", "random"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--samples-per-class", type=int, default=100)
    parser.add_argument("--prune-percent", type=float, default=90.0)
    parser.add_argument("--retrain-epochs", type=int, default=1)
    parser.add_argument("--n-examples", type=int, default=1000)
    parser.add_argument("--n-faithfulness", type=int, default=30)
    parser.add_argument("--road-percentiles", nargs="+", type=int, default=[20, 40, 60, 80])
    parser.add_argument(
        "--epsilons-grey",
        nargs="+",
        type=float,
        default=[0, 1, 2, 4, 8, 16, 32, 64],
        help="l∞ budgets in grey levels (ε × 255)",
    )
    parser.add_argument("--output-dir", default="results")
    args = parser.parse_args()
    mlp = notebook_model("mlp")  # the notebooks' MLP: its first G choice (25 groups) and its skipped output layer
    args.groups, args.skip = mlp.group_options["25 groups"], list(mlp.skip)
    torch.set_num_threads(1)
    original, nets, records = pruned_networks(args)
    if args.phase == "prune":
        return
    from mintlab.characterize.compare import characterize_methods

    t0 = time.time()
    raw_test = load_dataset("fashion_mnist", "test", normalize=False)
    result = characterize_methods(
        original,
        nets,
        raw_test,
        normalization=NORMALIZATION["fashion_mnist"],
        model_name="mlp",
        dataset_name="fashion_mnist",
        epsilons=[e / 255 for e in args.epsilons_grey],
        n_examples=args.n_examples,
        n_faithfulness=args.n_faithfulness,
        road_percentiles=args.road_percentiles,
        output_dir=args.output_dir,
        class_names=getattr(raw_test, "classes", None),
        extra={
            "pruning": {
                "methods": args.methods,
                "seeds": args.seeds,
                "samples_per_class": args.samples_per_class,
                "groups": args.groups,
                "prune_percent_fc2": args.prune_percent,
                "skip": args.skip,
                "retrain_epochs": args.retrain_epochs,
                "records": records,
            }
        },
    )
    print(f"characterized in {time.time() - t0:.0f} s → {result['files']['json']}")
    print(json.dumps(result["verdict"], indent=1)[:6000])


if __name__ == "__main__":
    main()
