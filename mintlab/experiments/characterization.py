"""Robustness, calibration and attribution of the evidence's pruned CNNs, method against method, seed by seed.

:func:`characterize_evidence` answers the second half of the project's question (does the pruning method change
robustness and calibration?) on the evidence's trained networks, in two resumable phases:

1. **prune**: :func:`mintlab.experiments.compare.run_comparison` with the evidence comparison's own settings
   (:func:`mintlab.experiments.evidence.comparison_arguments`: the same dense networks, the same cached scores,
   the same retraining), one level, one allocation and the methods asked for, keeping every retrained network
   (``keep_networks``). Its records go to ``<results>/characterization_<model>_fashion_mnist32/pruned_runs.json``,
   and each run's retrained accuracy is set beside the comparison's record of the same run (a reproduction
   check: same network, scores, masks and seeded retraining);
2. **characterize**: :func:`mintlab.characterize.compare.characterize_methods` with one dense network per seed as
   the originals (seed k's pruned networks are paired with dense network k), I-FGSM and Iter-LL over ε, ECE,
   NLL, Brier, GradCAM with ROAD, and the paired verdicts. It writes
   ``<results>/characterization_<model>_fashion_mnist32.json`` and its figures, each network as it finishes.

Kept networks go under ``<results>/cache/characterize-<model>/kept`` (not committed: ≈ 7 MB each, and the prune
phase rebuilds them bit for bit from the committed scores and networks).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["characterize_evidence", "characterize_workflow", "main"]


def _reproduction(pruned: dict[str, Any], comparison: dict[str, Any] | None) -> dict[str, Any]:
    """Each pruned run's retrained accuracy beside the comparison's record of the same run."""
    recorded = {r["run_id"]: r for r in (comparison or {}).get("runs", [])}
    runs = {}
    for r in pruned["runs"]:
        old = recorded.get(r["run_id"])
        runs[r["run_id"]] = {
            "accuracy_retrained": r["accuracy_retrained"],
            "comparison": None if old is None else old["accuracy_retrained"],
            "difference": None if old is None else r["accuracy_retrained"] - old["accuracy_retrained"],
        }
    return {
        "runs": runs,
        "reproduced": all(v["difference"] == 0.0 for v in runs.values() if v["comparison"] is not None),
    }


def characterize_evidence(
    model: str,
    *,
    level: float,
    results: str | Path = "results",
    methods: Sequence[str] = ("mint", "magnitude", "random", "taylor"),
    allocation: str = "mint",
    seeds: Sequence[int] = (0, 1, 2),
    n_examples: int = 1000,
    n_attack_examples: int = 200,
    epsilons_grey: Sequence[float] = (0, 1, 2, 4, 8, 16),
    n_faithfulness: int = 16,
    n_attribution: int = 6,
    road_percentiles: Sequence[int] = (20, 50, 80),
    baselines: Sequence[str] = ("random", "mint"),
    gradcam_layer: str | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Prune (kept) and characterize ``methods`` at ``level`` on the evidence's ``model`` (see the module docstring).

    Args:
        model: ``"vgg16"`` or ``"resnet56"`` (the evidence's networks, :data:`mintlab.experiments.evidence.NETWORKS`).
        level: pruned share of all parameters (%); one of the comparison's levels, so its runs can be checked.
        results: the results folder (dense networks in ``networks/``, scores in ``cache/compare-<model>``).
        methods: the methods compared; the first leads allocation ``"mint"`` (MINT).
        allocation: ``"mint"`` or ``"global"`` (:data:`mintlab.prune.allocation.ALLOCATIONS`).
        seeds: one dense network and one pruned network per method per seed (≥ 3 for the paired tests).
        n_examples: test images of the calibration (and the first ``n_attack_examples`` of them attacked).
        epsilons_grey: l∞ budgets in grey levels (ε × 255).
        n_faithfulness, n_attribution, road_percentiles: GradCAM's ROAD sample, maps shown, ROAD's percentiles.
        baselines: methods every method is also tested against, seed by seed.
        gradcam_layer: default the network's (:func:`mintlab.nets.networks.get_network`: VGG16's last ReLU,
            ResNet56's last stage).
        log: called with one line per finished step.

    Returns:
        The characterization's JSON content (:func:`~mintlab.characterize.compare.characterize_methods`), with the
        prune phase's records and reproduction check under ``extra["pruning"]``.

    Raises:
        ValueError: an unknown model, or a level the comparison does not run.
    """
    from mintlab.characterize.compare import characterize_methods
    from mintlab.experiments.compare import kept_network_path, load_kept_network, run_comparison
    from mintlab.experiments.evidence import NETWORKS, comparison_arguments
    from mintlab.nets.data import NORMALIZATION, load_tensor_data
    from mintlab.nets.networks import get_network

    say = log or (lambda _line: None)
    if model not in NETWORKS:
        raise ValueError(f"Expected `model` among {tuple(NETWORKS)}, but got {model!r}")
    width, levels = NETWORKS[model]
    if float(level) not in levels:
        raise ValueError(f"Expected `level` among the comparison's levels {levels}, but got {level!r}")
    results = Path(results)
    folder = results / f"characterization_{model}_fashion_mnist32"
    kept = results / "cache" / f"characterize-{model}" / "kept"
    t0 = time.perf_counter()
    kwargs = comparison_arguments(model, results)
    kwargs.update(methods=tuple(methods), levels=(float(level),), seeds=tuple(seeds), allocations=(allocation,))
    pruned = run_comparison(folder / "pruned_runs.json", **kwargs, keep_networks=kept, plot=False, log=say)
    comparison_file = results / f"cnn_{model}_fashion_mnist32.json"
    check = _reproduction(pruned, json.loads(comparison_file.read_text()) if comparison_file.is_file() else None)
    check["seconds"] = time.perf_counter() - t0
    say(f"prune phase: {check['seconds']:.0f} s; reproduced the comparison's runs: {check['reproduced']}")
    folder_kept = pruned["kept_networks"]["folder"]
    originals = [load_kept_network(kept_network_path(folder_kept, f"dense/{s}"))[0] for s in seeds]
    by_id = {r["run_id"]: r for r in pruned["runs"]}
    nets: dict[str, list[Any]] = {}
    records: dict[str, list[dict]] = {}
    for method in methods:
        for s in seeds:
            record = by_id[f"{allocation}/{s}/{float(level):g}/{method}"]
            nets.setdefault(method, []).append(load_kept_network(record["network_file"])[0])
            records.setdefault(method, []).append({k: v for k, v in record.items() if k != "network_file"})
    _, test, _ = load_tensor_data("fashion_mnist32", train_size=10, normalize=False)  # [0, 1]: the attacks' space
    return characterize_methods(
        originals, nets, test.tensors, normalization=NORMALIZATION["fashion_mnist32"], model_name=model,
        dataset_name="fashion_mnist32", epsilons=[e / 255 for e in epsilons_grey], n_examples=n_examples,
        n_attack_examples=n_attack_examples, n_faithfulness=n_faithfulness, road_percentiles=road_percentiles,
        n_attribution=n_attribution, gradcam_layer=gradcam_layer or get_network(model).gradcam_layer,
        baseline=list(baselines), output_dir=results, progress=False,
        extra={"pruning": {
            "comparison": str(comparison_file), "level_percent_of_all_params": float(level), "allocation": allocation,
            "width": width, "methods": list(methods), "seeds": list(seeds), "records": records,
            "reproduction_check": check,
            "originals": "one dense network per seed (the one its pruned networks come from); 'original' in "
                         "figures is seed 0's",
            "test_images": "Fashion-MNIST test set, zero-padded to 32×32, in [0, 1]; normalised inside the model",
        }},
    )  # fmt: skip


# --------------------------------------------------------------------------- the notebooks' path


def _workflow_networks(
    original: Any,
    pairs: Any,
    dataset: str,
    methods: Sequence[str],
    seeds: Sequence[int],
    options: dict[str, Any],
    say: Callable[[str], None],
) -> tuple[dict[str, list[Any]], dict[str, list[dict]]]:
    """Per seed: each method's scores and one prune → retrain step at equal sparsity (the notebooks' workflow)."""
    from mintlab.nets.data import load_dataset
    from mintlab.notebook.workflow import compare_methods, method_scores

    train_set, test_set = load_dataset(dataset, "train"), load_dataset(dataset, "test")
    nets: dict[str, list[Any]] = {m: [] for m in methods}
    records: dict[str, list[dict]] = {m: [] for m in methods}
    for seed in seeds:
        t0 = time.perf_counter()
        score_sets = {m: method_scores(original, train_set, pairs, m, groups=options["groups"],
                                       samples_per_class=options["samples_per_class"], seed=seed,
                                       dataset_name=dataset, progress=False) for m in methods}  # fmt: skip
        results = compare_methods(original, score_sets, train_data=train_set, test_data=test_set,
                                  prune_percent=options["prune_percent"], skip=options["skip"],
                                  retrain_epochs=options["retrain_epochs"], seed=seed, progress=False)  # fmt: skip
        for m, (net, rec) in results.items():
            nets[m].append(net)
            records[m].append({k: v for k, v in rec.items() if k != "history"})
            accuracies = " → ".join(
                f"{rec[k]:.2f}" for k in ("accuracy_dense", "accuracy_pruned", "accuracy_retrained")
            )
            say(f"seed {seed} {m}: pruned {rec['params_pruned_percent']:.2f} % of all parameters, {accuracies} %")
        say(f"seed {seed} done in {time.perf_counter() - t0:.0f} s")
    return nets, records


def characterize_workflow(
    model: str = "mlp",
    dataset: str | None = None,
    *,
    methods: Sequence[str] = ("mint", "magnitude", "random"),
    seeds: Sequence[int] = (0, 1, 2),
    samples_per_class: int = 100,
    prune_percent: float = 90.0,
    retrain_epochs: int = 1,
    n_examples: int = 1000,
    n_faithfulness: int = 30,
    road_percentiles: Sequence[int] = (20, 40, 60, 80),
    epsilons_grey: Sequence[float] = (0, 1, 2, 4, 8, 16, 32, 64),
    output_dir: str | Path = "results",
    prune_only: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any] | None:
    """Characterize ``methods`` on a notebook model the way the notebooks prune it (the MLP evidence of
    ``results/characterization_mlp_fashion_mnist.json``).

    One dense network (:func:`mintlab.nets.pretrained.pretrained`, recipe ``"quick"``, seed 0, on ``dataset``,
    default the notebook model's); per seed, each method's scores (:func:`mintlab.notebook.workflow.method_scores`:
    the notebook model's layer pairs, its first group choice and its skipped layers) and one prune → retrain step
    at equal sparsity (:func:`mintlab.notebook.workflow.compare_methods`: the first method sets the pruned share,
    ``prune_percent`` of the pruned layers' weights, the others match it), all cached by the workflow so a rerun
    resumes; then
    :func:`mintlab.characterize.compare.characterize_methods` (I-FGSM and Iter-LL over ``epsilons_grey`` / 255,
    ECE, NLL, Brier, ROAD) writes ``<output_dir>/characterization_<model>_<dataset>.json`` and its figures.

    Returns:
        The characterization's JSON content, or ``None`` with ``prune_only``.

    Raises:
        InvalidArgumentError: ``model`` not a notebook model (:func:`mintlab.notebook.networks.notebook_model`).
    """
    from mintlab.characterize.compare import characterize_methods
    from mintlab.nets.data import NORMALIZATION, load_dataset
    from mintlab.nets.pretrained import pretrained
    from mintlab.notebook.networks import notebook_model

    say = log or (lambda _line: None)
    spec = notebook_model(model)
    dataset = dataset or spec.dataset
    groups = spec.group_options[spec.groups]  # the notebooks' first G choice
    options = {"groups": groups, "samples_per_class": samples_per_class, "prune_percent": prune_percent,
               "skip": list(spec.skip), "retrain_epochs": retrain_epochs}  # fmt: skip
    original, _ = pretrained(model, dataset, recipe="quick", seed=0, progress=False)
    nets, records = _workflow_networks(original, spec.pairs, dataset, methods, seeds, options, say)
    if prune_only:
        return None
    t0 = time.perf_counter()
    raw_test = load_dataset(dataset, "test", normalize=False)
    result = characterize_methods(
        original, nets, raw_test, normalization=NORMALIZATION[dataset], model_name=model, dataset_name=dataset,
        epsilons=[e / 255 for e in epsilons_grey], n_examples=n_examples, n_faithfulness=n_faithfulness,
        road_percentiles=list(road_percentiles), output_dir=output_dir, class_names=getattr(raw_test, "classes", None),
        extra={"pruning": {"methods": list(methods), "seeds": list(seeds), **options, "records": records}},
    )  # fmt: skip
    say(f"characterized in {time.perf_counter() - t0:.0f} s → {result['files']['json']}")
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m mintlab.experiments.characterization``: :func:`characterize_workflow` from the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m mintlab.experiments.characterization",
        description="Characterize pruning methods on a notebook model (I-FGSM, Iter-LL, ECE, ROAD), several seeds; "
        "resumable (every score and step is cached). The evidence's CNNs: python -m mintlab.experiments.evidence.",
    )
    parser.add_argument("--model", default="mlp", help="a notebook model (default: mlp)")
    parser.add_argument("--dataset", default=None, help="default: the notebook model's")
    parser.add_argument("--phase", choices=["prune", "all"], default="all")
    parser.add_argument("--methods", nargs="+", default=["mint", "magnitude", "random"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--samples-per-class", type=int, default=100)
    parser.add_argument("--prune-percent", type=float, default=90.0, help="of the pruned layers' weights (%%)")
    parser.add_argument("--retrain-epochs", type=int, default=1)
    parser.add_argument("--n-examples", type=int, default=1000)
    parser.add_argument("--n-faithfulness", type=int, default=30)
    parser.add_argument("--road-percentiles", nargs="+", type=int, default=[20, 40, 60, 80])
    parser.add_argument("--epsilons-grey", nargs="+", type=float, default=[0, 1, 2, 4, 8, 16, 32, 64],
                        help="l∞ budgets in grey levels (ε × 255)")  # fmt: skip
    parser.add_argument("--output-dir", default="results")
    parser.add_argument("--threads", type=int, default=1, help="torch and numba threads (never left to chance)")
    args = parser.parse_args(argv)
    from mintlab.utils.runtime import configure_threads

    configure_threads(threads=args.threads, numba_threads=args.threads)
    result = characterize_workflow(
        args.model, args.dataset, methods=args.methods, seeds=args.seeds, samples_per_class=args.samples_per_class,
        prune_percent=args.prune_percent, retrain_epochs=args.retrain_epochs, n_examples=args.n_examples,
        n_faithfulness=args.n_faithfulness, road_percentiles=args.road_percentiles, epsilons_grey=args.epsilons_grey,
        output_dir=args.output_dir, prune_only=args.phase == "prune", log=lambda line: print(line, flush=True),
    )  # fmt: skip
    if result is not None:
        print(json.dumps(result["verdict"], indent=1)[:6000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
