"""Evidence run for issue 14 on the CNNs: MINT vs magnitude vs random vs Taylor pruned VGG16-BN / ResNet56.

The networks are those of the CNN comparison (``results/cnn_<model>_fashion_mnist.json``, issue 10): width ¼,
Fashion-MNIST padded to 32×32, seeds 0, 1, 2, every setting read from that file's ``settings``.

Phase ``prune``: :func:`mintlab.experiments.compare.run_comparison` with those settings, one level (``--level``,
default 30 %), allocation ``"mint"`` and ``--methods``, the comparison's cache (``--cache-dir``: dense checkpoints
and score caches, so nothing dense is retrained and no score is recomputed; checked below) and
``keep_networks``, so every retrained network and every seed's dense network is kept as a checkpoint. Its JSON
goes to ``results/characterization_<model>_fashion_mnist/pruned_runs.json``; each run's accuracy is compared with
the comparison's record of the same run (same dense network, scores, masks and seeded retrain).

Phase ``characterize``: :func:`mintlab.characterize.compare.characterize_methods` with the three dense networks
as the originals (one per seed: the verdict "vs original" pairs each pruned network with the dense network it
was pruned from) and the kept networks; attacks on a subset of the calibration sample (``--n-attack``).
Writes ``results/characterization_<model>_fashion_mnist.json`` and its figures. Both phases resume: finished
runs and measured networks are loaded, not redone.

Run (one thread, resumable, log to a file)::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1 nohup .venv/bin/python \\
        scripts/run_characterization_cnn.py --model vgg16 \\
        > results/logs/characterization_vgg16_fashion_mnist.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from torch import nn

from mintlab.utils.checks import check_int
from mintlab.utils.runtime import configure_threads

DEFAULT_GRADCAM_LAYER = {"vgg16": "features.relu13", "resnet56": "layer3"}


def _score_dirs(cache: Path) -> set[str]:
    folder = cache / "scores"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def prune_phase(args: argparse.Namespace, comparison: dict, folder: Path) -> dict:
    """Retrained networks (kept) at ``args.level`` for every method and seed; returns the run JSON."""
    from mintlab.experiments.compare import run_comparison

    s = comparison["settings"]
    cache = Path(args.cache_dir)
    dense_dirs = sorted(p.parent.name + "/" + p.name for p in cache.glob("dense/*/seed*") if (p / "last.pt").is_file())
    scores_before = _score_dirs(cache)
    t0 = time.perf_counter()
    result = run_comparison(
        folder / "pruned_runs.json", model=s["model"], width=s["width"], dataset=s["dataset"]["name"],
        methods=args.methods, levels=[args.level], seeds=args.seeds, allocations=[args.allocation],
        groups="scaled", samples_per_class=s["samples_per_class"], gamma=s["gamma"], skip=s["skip"],
        train_recipe="quick_cnn", retrain_recipe="quick_cnn_retrain", train_size=s["dataset"]["train_size"],
        test_size=s["dataset"]["test_size"], level_tolerance=s["level_tolerance"], max_batches=s["max_batches"],
        retrain_max_batches=s["retrain_max_batches"], bn_recalibration_images=s["bn_recalibration_images"],
        mint_options={"n_jobs": 1}, device="cpu", cache_dir=cache, keep_networks=cache / "kept", plot=False,
        log=lambda line: print(line, flush=True),
    )  # fmt: skip
    for key in ("train_recipe", "retrain_recipe", "groups", "pairs", "model_options"):
        if result["settings"][key] != s[key]:
            raise RuntimeError(
                f"The rerun's {key} differs from the comparison's: {result['settings'][key]} vs {s[key]}"
            )
    new_scores = sorted(_score_dirs(cache) - scores_before)
    recorded = {r["run_id"]: r for r in comparison["runs"]}
    check = {"dense_checkpoints_found": dense_dirs, "new_score_caches": new_scores,
             "dense_accuracy": {"rerun": result["dense_accuracy"], "comparison": comparison["dense_accuracy"]},
             "runs": {}, "seconds": time.perf_counter() - t0}  # fmt: skip
    for r in result["runs"]:
        old = recorded.get(r["run_id"])
        check["runs"][r["run_id"]] = {
            "accuracy_retrained": r["accuracy_retrained"],
            "comparison": None if old is None else old["accuracy_retrained"],
            "pruned_percent": r["pruned_percent"],
        }
    result["cache_and_reproduction_check"] = check
    print(
        f"prune phase: {check['seconds']:.0f} s; new score caches {new_scores or 'none'}; dense accuracy "
        f"{result['dense_accuracy']} (comparison {comparison['dense_accuracy']})",
        flush=True,
    )
    for run_id, c in check["runs"].items():
        print(f"  {run_id}: after retrain {c['accuracy_retrained']:.2f} % (comparison {c['comparison']})", flush=True)
    return result


def characterize_phase(args: argparse.Namespace, runs: dict, folder: Path) -> dict:
    from mintlab.characterize.compare import characterize_methods
    from mintlab.experiments.compare import kept_network_path, load_kept_network
    from mintlab.nets.data import NORMALIZATION, load_dataset, load_tensor_data

    keep = runs["kept_networks"]["folder"]
    originals = [load_kept_network(kept_network_path(keep, f"dense/{seed}"))[0] for seed in args.seeds]
    pruned: dict[str, list[nn.Module]] = {}
    records: dict[str, list[dict]] = {}
    by_id = {r["run_id"]: r for r in runs["runs"]}
    for method in args.methods:
        for seed in args.seeds:
            record = by_id[f"{args.allocation}/{seed}/{args.level:g}/{method}"]
            net, _ = load_kept_network(record["network_file"])
            pruned.setdefault(method, []).append(net)
            records.setdefault(method, []).append({k: v for k, v in record.items() if k != "network_file"})
    _, test, _ = load_tensor_data("fashion_mnist32", normalize=False)  # in [0, 1]: the attacks' pixel space
    data = test.tensors
    t0 = time.perf_counter()
    result = characterize_methods(
        originals, pruned, data, normalization=NORMALIZATION["fashion_mnist32"], model_name=args.model,
        dataset_name="fashion_mnist", epsilons=[e / 255 for e in args.epsilons_grey], n_examples=args.n_examples,
        n_attack_examples=args.n_attack, n_faithfulness=args.n_faithfulness, road_percentiles=args.road_percentiles,
        n_attribution=args.n_attribution, gradcam_layer=args.gradcam_layer, baseline=args.baselines,
        output_dir=args.output_dir, class_names=getattr(load_dataset("fashion_mnist", "test"), "classes", None),
        extra={"pruning": {
            "comparison": args.comparison, "level_percent_of_all_params": args.level, "allocation": args.allocation,
            "methods": args.methods, "seeds": args.seeds, "records": records,
            "dense_accuracy_comparison_test_subset": runs["dense_accuracy"],
            "cache_and_reproduction_check": runs.get("cache_and_reproduction_check"),
            "originals": "one dense network per seed (the one each seed's pruned networks come from); 'original' "
                         "in figures is seed 0's",
            "test_images": "Fashion-MNIST test set (10,000), zero-padded to 32×32, normalised inside the model "
                           "wrapper; the sample is drawn from all 10,000 (the comparison evaluated a 1,000 / 500 "
                           "subset)",
        }},
    )  # fmt: skip
    print(f"characterized in {time.perf_counter() - t0:.0f} s → {result['files']['json']}", flush=True)
    return result


#: Scalars of the tables: name, label, scale (values × scale are shown), decimals.
MEASURES = [
    ("clean_accuracy", "clean accuracy (%)", 1, 2), ("eps50_ifgsm", "ε50 I-FGSM (×255)", 255, 2),
    ("eps50_iterll", "ε50 Iter-LL (×255)", 255, 2), ("mean_accuracy_ifgsm", "mean acc. over ε, I-FGSM (%)", 1, 2),
    ("mean_accuracy_iterll", "mean acc. over ε, Iter-LL (%)", 1, 2), ("ece_equal_width", "ECE equal-width (%)", 100, 2),
    ("ece_equal_mass", "ECE equal-mass (%)", 100, 2), ("nll", "NLL (nats)", 1, 4), ("brier", "Brier", 1, 4),
    ("road", "ROAD (higher = more faithful)", 1, 4),
]  # fmt: skip


def tables(result: dict) -> str:
    """Markdown: per-measure mean ± sd [95 % t-CI] over seeds (originals included), per-network ECE with its
    bootstrap CI, and the verdict (difference, p, ✔ where it exceeds the seed spread; one column per method and
    reference, mirrored pairs once)."""
    summary, nets = result["summary"], result["networks"]
    methods = list(result["methods"])
    groups = ["original", *methods]

    def cell(entry: dict, scale: float, nd: int) -> str:
        if entry.get("mean") is None:
            return "—"
        censored = f", {entry['censored']} censored" if entry.get("censored") else ""
        if entry.get("sd") is None:
            return f"{entry['mean'] * scale:.{nd}f} (n={entry['n']}{censored})"
        return (
            f"{entry['mean'] * scale:.{nd}f} ± {entry['sd'] * scale:.{nd}f} [{entry['ci_low'] * scale:.{nd}f}, "
            f"{entry['ci_high'] * scale:.{nd}f}]{censored}"
        )

    lines = ["| measure | " + " | ".join(groups) + " |", "|---" * (len(groups) + 1) + "|"]
    for name, label, scale, nd in MEASURES:
        row = []
        for g in groups:
            if g != "original":
                row.append(cell(summary[g]["scalars"][name], scale, nd))
            elif "seeds" in summary["original"]:  # one original per seed
                row.append(cell(summary["original"]["seeds"][name], scale, nd))
            else:
                value = summary["original"]["scalars"][name]
                row.append("—" if value is None else f"{value * scale:.{nd}f}")
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    lines += ["", "| network | clean acc. (%) | ECE equal width (%) | ECE equal mass (%) |", "|---|---|---|---|"]
    for name, rec in nets.items():
        ece = [f"{100 * c['ece']:.2f} [{100 * c['ci_low']:.2f}, {100 * c['ci_high']:.2f}]"
               for c in (rec["calibration"]["equal_width"], rec["calibration"]["equal_mass"])]  # fmt: skip
        lines.append(f"| {name} | {rec['clean_accuracy']:.2f} | {ece[0]} | {ece[1]} |")
    refs = ["original", *dict.fromkeys(r["versus"] for r in result["verdict"] if r["versus"] != "original")]
    pairs: list[tuple[str, str]] = []
    for m in methods:  # "random vs mint" is "mint vs random" negated: one of the two
        pairs += [(m, v) for v in refs if m != v and (v, m) not in pairs]
    lines += ["", "| measure | " + " | ".join(f"{m} vs {v}" for m, v in pairs) + " |", "|---" * (len(pairs) + 1) + "|"]
    rows = {(r["measure"], r["method"], r["versus"]): r for r in result["verdict"]}
    for name, label, scale, nd in MEASURES:
        out = []
        for m, v in pairs:
            r = rows.get((name, m, v))
            if r is None or r.get("status") != "tested":
                out.append("undefined")
            else:
                mark = " ✔" if r["exceeds_seed_spread"] else ""
                out.append(f"{r['difference'] * scale:+.{nd}f} (p={r['p']:.3f}){mark}")
        lines.append(f"| {label} | " + " | ".join(out) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, choices=("vgg16", "resnet56"))
    parser.add_argument("--phase", choices=("prune", "all"), default="all")
    parser.add_argument("--comparison", default=None, help="default results/cnn_<model>_fashion_mnist.json")
    parser.add_argument(
        "--cache-dir", default=None, help="the comparison's cache (default: beside --comparison, <its stem>_cache)"
    )
    parser.add_argument("--methods", nargs="+", default=["mint", "magnitude", "random", "taylor"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--level", type=float, default=30.0, help="pruned %% of all parameters")
    parser.add_argument("--allocation", default="mint", choices=("mint", "global"))
    parser.add_argument("--n-examples", type=int, default=1000, help="test images for calibration (and the rest)")
    parser.add_argument("--n-attack", type=int, default=None, help="of those, attacked (default 150 / 100)")
    parser.add_argument("--n-faithfulness", type=int, default=16)
    parser.add_argument("--n-attribution", type=int, default=6)
    parser.add_argument("--road-percentiles", nargs="+", type=int, default=[20, 50, 80])
    parser.add_argument(
        "--epsilons-grey",
        nargs="+",
        type=float,
        default=[0, 1, 2, 4, 8, 16],
        help="l∞ budgets in grey levels (ε × 255)",
    )
    parser.add_argument("--gradcam-layer", default=None, help="default features.relu13 (VGG16) / layer3 (ResNet56)")
    parser.add_argument(
        "--baselines",
        nargs="+",
        default=["random", "mint"],
        help="methods every method is also tested against, seed by seed",
    )
    parser.add_argument("--output-dir", default="results")
    parser.add_argument("--tables", action="store_true", help="print the Markdown tables of the written JSON only")
    args = parser.parse_args(argv)
    if args.tables:
        path = Path(args.output_dir) / f"characterization_{args.model}_fashion_mnist.json"
        if not path.is_file():
            print(f"error: Expected {path} (run the characterization first), but it does not exist", file=sys.stderr)
            return 2
        print(tables(json.loads(path.read_text())))
        return 0
    args.comparison = args.comparison or f"results/cnn_{args.model}_fashion_mnist.json"
    from mintlab.experiments.compare import default_cache_dir

    args.cache_dir = args.cache_dir or str(default_cache_dir(args.comparison))
    args.n_attack = check_int(
        args.n_attack if args.n_attack is not None else (150 if args.model == "vgg16" else 100), "n_attack", minimum=1
    )
    args.gradcam_layer = args.gradcam_layer or DEFAULT_GRADCAM_LAYER[args.model]
    comparison_file = Path(args.comparison)
    if not comparison_file.is_file():
        print(
            f"error: Expected --comparison to name the CNN comparison's JSON, but {comparison_file} does not exist",
            file=sys.stderr,
        )
        return 2
    if not (Path(args.cache_dir) / "dense").is_dir():
        print(
            f"error: Expected --cache-dir to hold the comparison's dense checkpoints (dense/), but "
            f"{args.cache_dir} has none: they would be retrained",
            file=sys.stderr,
        )
        return 2
    print(f"threads {configure_threads(threads=1, numba_threads=1)}", flush=True)
    comparison = json.loads(comparison_file.read_text())
    folder = Path(args.output_dir) / f"characterization_{args.model}_fashion_mnist"
    t0 = time.perf_counter()
    runs = prune_phase(args, comparison, folder)
    if args.phase == "all":
        result = characterize_phase(args, runs, folder)
        for row in result["verdict"]:
            if row.get("exceeds_seed_spread"):
                print(
                    f"  {row['measure']}: {row['method']} vs {row['versus']} {row['difference']:+.4f} "
                    f"(p={row['p']:.3f})",
                    flush=True,
                )
    print(f"total {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
