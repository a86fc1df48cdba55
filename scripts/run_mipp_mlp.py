"""MIPP vs MINT vs unit-level L1 / random on the MLP (784-500-300-10) trained on Fashion-MNIST.

Per seed (one pretrained MLP per seed, ``quick`` recipe) and per MIPP confidence level ``x``:

* ``mipp``: MIPP selects units of fc1 and fc2 (pairs fc1→fc2, fc2→fc3; logits are the last target),
  ``min_keep=0`` so that layer collapse can happen and is counted (note A15);
* ``l1_units`` / ``random_units``: the same number of units per layer as MIPP kept (equal *unit* sparsity);
* ``mint``: MINT's connection blocks (the existing pipeline, paper groups) at equal *parameter*
  sparsity on the weights MINT can prune (fc2 + fc3): its ``prune_percent`` is the share of fc2 + fc3
  weights that MIPP's masks zero. MIPP also zeroes fc1 rows, which MINT never touches; both totals
  are recorded.

Each masked network is evaluated, retrained once with the same short recipe, evaluated again. One JSON
(atomically rewritten after every run; a rerun skips finished runs) and a plot beside it.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python scripts/run_mipp_mlp.py --seeds 0 1 2 --x 0.6 0.9 0.99
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from mintlab.experiments.mipp import EVIDENCE_PREDICTOR
from mintlab.nets.checkpoints import load_masked_state_dict
from mintlab.nets.data import as_tensor_dataset as tensor_dataset
from mintlab.nets.data import load_dataset
from mintlab.nets.models import MLP
from mintlab.nets.presets import PAPER_SETTINGS
from mintlab.nets.pretrained import pretrained
from mintlab.nets.recipes import get_recipe
from mintlab.nets.train import evaluate, train
from mintlab.prune.activations import collect_activations
from mintlab.prune.masks import apply_masks
from mintlab.prune.metrics import disconnected_units, params_pruned_percent
from mintlab.prune.mipp import (
    baseline_unit_keep,
    mipp_select,
    unit_weight_masks,
)
from mintlab.prune.scorers import get_scorer
from mintlab.prune.scores import compute_scores
from mintlab.prune.step import prune
from mintlab.utils.io import save_figure, write_json_atomic

PAIRS = [("fc1", "fc2"), ("fc2", "fc3")]
CHANCE = 15.0  # % test accuracy at or below which a retrained run counts as collapsed (10 classes)

PAPER_GROUPS = {tuple(p): tuple(g) for p, g in PAPER_SETTINGS["mlp"]["groups"].items()}


def _zero_share(net, layers) -> float:
    p = params_pruned_percent(net, layers=layers)
    total = sum(m.weight.numel() for n, m in net.named_modules() if n in layers)
    return 100.0 * p["zero_weights"] / total


def _record(net, dense_state_acc, before, after, extra) -> dict:
    pruned = params_pruned_percent(net)
    return {
        **extra,
        "total_pruned_percent": pruned["total"],
        "per_layer_pruned_percent": pruned["per_layer"],
        "fc2_fc3_pruned_percent": _zero_share(net, ["fc2", "fc3"]),
        "accuracy_before_retrain": before,
        "accuracy": after,
        "collapsed_at_chance": bool(after <= CHANCE),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output", default="results/mipp_mlp_fashion_mnist.json")
    ap.add_argument("--cache-dir", default=None, help="checkpoints and scores (default: <output stem>_cache/)")
    ap.add_argument("--merge", nargs="+", default=None, help="merge these result files (same settings) into --output")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--x", type=float, nargs="+", default=[0.75, 0.99])
    ap.add_argument("--samples-per-class", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--retrain-epochs", type=int, default=1)
    ap.add_argument("--methods", nargs="+", default=["mipp", "l1_units", "random_units", "mint"])
    ap.add_argument("--max-batches", type=int, default=None)
    ap.add_argument("--plot-only", action="store_true")
    ap.add_argument("--summary", action="store_true", help="print a markdown table of the finished runs and exit")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out_path = Path(args.output)
    cache = Path(args.cache_dir) if args.cache_dir else out_path.with_name(out_path.stem + "_cache")
    recipe = get_recipe("quick_retrain")
    recipe = dataclasses.replace(
        recipe, epochs=args.retrain_epochs, milestones=tuple(m for m in recipe.milestones if m < args.retrain_epochs)
    )
    config = EVIDENCE_PREDICTOR
    settings = {
        "predictor": dataclasses.asdict(config),
        "samples_per_class": args.samples_per_class,
        "repeats": args.repeats,
        "min_keep": 0,
        "retrain_recipe": dataclasses.asdict(recipe),
        "pretrain_recipe": "quick",
        "pairs": PAIRS,
        "mint_groups": [[list(k), list(v)] for k, v in PAPER_GROUPS.items()],
        "max_batches": args.max_batches,
    }
    settings = json.loads(json.dumps(settings))
    result = json.loads(out_path.read_text()) if out_path.exists() else {"settings": settings, "runs": [], "seeds": {}}
    if result["settings"] != settings:
        raise SystemExit(f"{out_path} holds other settings; move it away")
    if args.merge:
        for other in map(Path, args.merge):
            extra = json.loads(other.read_text())
            if extra["settings"] != result["settings"]:
                raise SystemExit(f"{other} holds other settings")
            ids = {r["run_id"] for r in result["runs"]}
            result["runs"] += [r for r in extra["runs"] if r["run_id"] not in ids]
            for seed, info in extra["seeds"].items():
                result["seeds"].setdefault(seed, {}).update(info)
        write_json_atomic(out_path, result)
        plot(result, out_path.with_suffix(".png"))
        return
    if args.summary:
        print(summary(result))
        return
    if args.plot_only:
        plot(result, out_path.with_suffix(".png"))
        return
    done = {r["run_id"] for r in result["runs"]}
    train_data = tensor_dataset(load_dataset("fashion_mnist", "train"))
    test_data = tensor_dataset(load_dataset("fashion_mnist", "test"))
    for seed in args.seeds:
        model, _ = pretrained(
            "mlp", "fashion_mnist", recipe="quick", seed=seed, cache_dir=cache / "checkpoints", progress=False
        )
        dense_state = copy.deepcopy(model.state_dict())
        seed_info = result["seeds"].setdefault(str(seed), {})
        if "dense_accuracy" not in seed_info:
            seed_info["dense_accuracy"] = evaluate(model, test_data)["accuracy"]
        acts = None
        scores = None
        for x in args.x:
            tag = f"s{seed}_x{x:g}"
            mipp_key = f"mipp_keep_{tag}"
            if mipp_key not in seed_info:
                if acts is None:
                    t0 = time.perf_counter()
                    acts = collect_activations(
                        model, train_data, PAIRS, samples_per_class=args.samples_per_class, seed=seed, progress=False
                    )
                    seed_info["activation_seconds"] = time.perf_counter() - t0
                sel = mipp_select(acts, x=x, repeats=args.repeats, seed=seed, min_keep=0, config=config)
                seed_info[mipp_key] = {name: r["keep"].tolist() for name, r in sel.items()}
                seed_info[f"mipp_seconds_{tag}"] = {name: r["seconds"] for name, r in sel.items()}
                seed_info[f"mipp_constant_{tag}"] = {name: int(r["constant"].sum()) for name, r in sel.items()}
                write_json_atomic(out_path, result)
                print(
                    f"[{time.strftime('%H:%M:%S')}] {tag} mipp kept",
                    {k: int(np.sum(v)) for k, v in seed_info[mipp_key].items()},
                    flush=True,
                )
            keep = {k: np.asarray(v, dtype=bool) for k, v in seed_info[mipp_key].items()}
            n_keep = {k: int(v.sum()) for k, v in keep.items()}
            for method in args.methods:
                run_id = f"{method}_{tag}"
                if run_id in done:
                    continue
                net = MLP()
                load_masked_state_dict(net, dense_state)
                net.eval()
                extra = {"run_id": run_id, "method": method, "seed": seed, "x": x, "mipp_units_kept": n_keep}
                if method == "mint":
                    mipp_net = MLP()
                    load_masked_state_dict(mipp_net, dense_state)
                    apply_masks(mipp_net, unit_weight_masks(mipp_net, PAIRS, keep))
                    level = _zero_share(mipp_net, ["fc2", "fc3"])
                    if scores is None:
                        t0 = time.perf_counter()
                        scores = compute_scores(
                            model,
                            train_data,
                            PAIRS,
                            get_scorer("mint"),
                            groups=PAPER_GROUPS,
                            samples_per_class=args.samples_per_class,
                            seed=seed,
                            cache_dir=cache / "scores",
                            dataset_name="fashion_mnist/train",
                            progress=False,
                        )
                        seed_info.setdefault("mint_score_seconds", time.perf_counter() - t0)
                    prune(net, scores, prune_percent=level, seed=seed)
                    extra["prune_percent"] = level
                    disc = disconnected_units(net, PAIRS)
                    extra["units_kept"] = {
                        "fc1": 500 - len(disc["fc2"]["parent_without_outputs"]),
                        "fc2": 300 - len(disc["fc3"]["parent_without_outputs"]),
                    }
                else:
                    k = keep if method == "mipp" else baseline_unit_keep(net, PAIRS, n_keep, method=method, seed=seed)
                    apply_masks(net, unit_weight_masks(net, PAIRS, k))
                    extra["units_kept"] = {name: int(v.sum()) for name, v in k.items()}
                extra["layer_collapsed"] = any(v == 0 for v in extra["units_kept"].values())
                before = evaluate(net, test_data)["accuracy"]
                t0 = time.perf_counter()
                train(net, train_data, test_data, recipe, seed=seed, progress=False, max_batches=args.max_batches)
                after = evaluate(net, test_data)["accuracy"]
                rec = _record(net, None, before, after, extra)
                rec["retrain_seconds"] = time.perf_counter() - t0
                result["runs"].append(rec)
                done.add(run_id)
                write_json_atomic(out_path, result)
                print(
                    f"[{time.strftime('%H:%M:%S')}] {run_id}: units {extra['units_kept']} "
                    f"params {rec['total_pruned_percent']:.1f}% fc2+fc3 {rec['fc2_fc3_pruned_percent']:.1f}% "
                    f"acc {before:.2f} -> {after:.2f}",
                    flush=True,
                )
    plot(result, out_path.with_suffix(".png"))


def summary(result: dict) -> str:
    """Markdown table: per x and method, mean ± sd over seeds of sparsities and accuracies, collapse counts."""
    rows = [
        "| x | method | seeds | units kept fc1 / fc2 | params pruned (all, %) | fc2+fc3 pruned (%) | "
        "acc. masked (%) | acc. retrained (%) | layer collapse | at chance |",
        "|" + "---|" * 10,
    ]
    dense = [v["dense_accuracy"] for v in result["seeds"].values()]
    for x in sorted({r["x"] for r in result["runs"]}):
        for method in ("mipp", "l1_units", "random_units", "mint"):
            rs = [r for r in result["runs"] if r["x"] == x and r["method"] == method]
            if not rs:
                continue

            def ms(values, digits=1):
                return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"

            rows.append(
                f"| {x:g} | {method} | {len(rs)} | {ms([r['units_kept']['fc1'] for r in rs], 0)} / "
                f"{ms([r['units_kept']['fc2'] for r in rs], 0)} | {ms([r['total_pruned_percent'] for r in rs])} | "
                f"{ms([r['fc2_fc3_pruned_percent'] for r in rs])} | {ms([r['accuracy_before_retrain'] for r in rs])} | "
                f"{ms([r['accuracy'] for r in rs])} | {sum(r['layer_collapsed'] for r in rs)} | "
                f"{sum(r['collapsed_at_chance'] for r in rs)} |"
            )
    rows.append(f"\ndense accuracy {np.mean(dense):.2f} ± {np.std(dense):.2f} % over {len(dense)} seeds")
    return "\n".join(rows)


def plot(result: dict, path: Path) -> None:
    """Accuracy after retraining vs unit sparsity (left) and vs fc2+fc3 parameter sparsity (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_u, ax_p) = plt.subplots(1, 2, figsize=(11, 4.4))
    runs = result["runs"]
    colors = {"mipp": "C0", "l1_units": "C1", "random_units": "C2", "mint": "C3"}
    for method, color in colors.items():
        rs = [r for r in runs if r["method"] == method]
        if not rs:
            continue
        unit_sp = [100 * (1 - (r["units_kept"]["fc1"] + r["units_kept"]["fc2"]) / 800) for r in rs]
        if method != "mint":
            ax_u.scatter(unit_sp, [r["accuracy"] for r in rs], c=color, label=f"{method} (retrained)", s=22)
            ax_u.scatter(
                unit_sp,
                [r["accuracy_before_retrain"] for r in rs],
                c=color,
                marker="x",
                s=22,
                label=f"{method} (masked only)",
            )
        if method in ("mipp", "mint"):
            ax_p.scatter(
                [r["fc2_fc3_pruned_percent"] for r in rs],
                [r["accuracy"] for r in rs],
                c=color,
                label=f"{method} (retrained)",
                s=22,
            )
            ax_p.scatter(
                [r["fc2_fc3_pruned_percent"] for r in rs],
                [r["accuracy_before_retrain"] for r in rs],
                c=color,
                marker="x",
                s=22,
                label=f"{method} (masked only)",
            )
    dense = [v["dense_accuracy"] for v in result["seeds"].values()]
    for ax in (ax_u, ax_p):
        if dense:
            ax.axhline(float(np.mean(dense)), color="k", lw=1, label=f"dense {np.mean(dense):.2f} %")
        ax.set_ylabel("test accuracy (%)")
        ax.legend(fontsize=7)
    ax_u.set_xlabel("hidden units removed (fc1 + fc2, %)")
    ax_u.set_title("equal unit sparsity: MIPP vs L1-norm / random units", fontsize=9)
    ax_p.set_xlabel("fc2 + fc3 weights zeroed (%)")
    ax_p.set_title("equal parameter sparsity on fc2+fc3: MIPP vs MINT", fontsize=9)
    fig.suptitle("MLP / Fashion-MNIST, one short retrain; one point per seed and x", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


if __name__ == "__main__":
    main()
