"""Which runs of a CNN comparison cut the network: the live units of every run's masks, rebuilt from the cache.

A comparison's results file records what each run pruned and how accurate it was, not its masks. This script
rebuilds each run's masks exactly as :func:`mintlab.experiments.compare.run_comparison` made them (the same dense
network from the networks folder, the same cached scores, :func:`mintlab.prune.allocation.keep_for_allocation`),
checks them against the per-layer percentages the run recorded, and counts per layer the units left on a path of
nonzero weights from input to output (:func:`mintlab.prune.metrics.live_units`). A layer without a live unit cuts
the network: its output is the same for every image, so the retrained accuracy sits at chance.

Nothing is scored, trained or evaluated: it reads the scores from the comparison's cache (a run whose scores are
not there is reported as such) and takes seconds per run.

Usage::

    OMP_NUM_THREADS=2 .venv/bin/python scripts/live_units.py results/cnn_vgg16_fashion_mnist32.json \\
        --cache results/cache/compare-vgg16 --networks results/networks
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def rebuild(path: Path, cache: Path, networks: Path, *, levels: list[float] | None = None) -> list[dict]:
    """One row per run of the results file at ``path``: its recorded numbers and its masks' live units."""
    import numpy as np

    from mintlab.nets.data import load_tensor_data
    from mintlab.nets.pretrained import pretrained
    from mintlab.prune.allocation import keep_for_allocation
    from mintlab.prune.masks import apply_masks, weight_masks
    from mintlab.prune.metrics import live_units, params_pruned_percent
    from mintlab.prune.scorers import get_scorer
    from mintlab.prune.scores import compute_scores
    from mintlab.utils.model_state import copy_model

    result = json.loads(path.read_text())
    st = result["settings"]
    pairs = [tuple(p) for p in st["pairs"]]
    groups = {tuple(p): tuple(g) for p, g in st["groups"]}
    skip, gamma = st["skip"], st["gamma"]
    train, _, _ = load_tensor_data(st["dataset"]["name"], train_size=st["dataset"]["train_size"])
    dense, scores, rows = {}, {}, []

    def scores_of(method: str, seed: int):
        if (method, seed) not in scores:
            scorer = get_scorer(method, **(st["mint_options"] if method.startswith("mint") else {}))
            cached = cache / "scores"
            before = set(cached.iterdir()) if cached.is_dir() else set()
            s = compute_scores(dense[seed], train, pairs, scorer, groups=groups,
                               samples_per_class=st["samples_per_class"], seed=seed, cache_dir=cached,
                               dataset_name=f"{st['dataset']['name']}/train", progress=False)  # fmt: skip
            if set(cached.iterdir()) != before:
                raise RuntimeError(f"scores of {method} seed {seed} were not in {cached}: computed, not rebuilt")
            scores[(method, seed)] = s
        return scores[(method, seed)]

    for run in result["runs"]:
        if levels and run["target_percent"] not in levels:
            continue
        seed = run["seed"]
        if seed not in dense:
            net, _ = pretrained(st["model"], st["dataset"]["name"], width=st["width"],
                                recipe=st["networks"]["recipe"], seed=seed, cache_dir=networks,
                                train_if_missing=False)  # fmt: skip
            dense[seed] = net.eval()
        s = scores_of(run["method"], seed)
        leader = scores_of(st["methods"][0], seed) if run["allocation"] == "mint" else None
        _, keep = keep_for_allocation(run["allocation"], s, run["target_percent"], leader=leader, gamma=gamma,
                                      skip=skip, tolerance=st["level_tolerance"], seed=seed)  # fmt: skip
        net = copy_model(dense[seed])
        apply_masks(net, weight_masks(net, keep, s))
        live = live_units(net, pairs)
        per_layer = params_pruned_percent(net)["per_layer"]
        recorded = run["per_layer_pruned_percent"]
        mismatch = max(abs(per_layer.get(k, 0.0) - v) for k, v in recorded.items())
        rows.append({
            "run_id": run["run_id"],
            "accuracy_pruned": run["accuracy_pruned"],
            "accuracy_retrained": run["accuracy_retrained"],
            "connected": live["connected"],
            "cut": live["cut"],
            "break_at": live["break_at"],
            "reached": {k: v["reached"] for k, v in live["layers"].items()},
            "live": {k: v["live"] for k, v in live["layers"].items()},
            "units": {k: v["units"] for k, v in live["layers"].items()},
            "narrowest": min(live["layers"], key=lambda k: live["layers"][k]["live"] / live["layers"][k]["units"]),
            "rebuilt_matches_record": bool(mismatch < 1e-6),
            "max_layer_difference_points": float(np.round(mismatch, 9)),
        })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a comparison's results file")
    parser.add_argument("--cache", type=Path, required=True, help="the comparison's cache folder (holds scores/)")
    parser.add_argument("--networks", type=Path, required=True, help="the folder of its dense networks")
    parser.add_argument("--levels", type=float, nargs="*", help="only these target levels (default: all)")
    parser.add_argument("--out", type=Path, help="JSON output (default: <results>_live_units.json)")
    args = parser.parse_args()
    rows = rebuild(args.results, args.cache, args.networks, levels=args.levels)
    out = args.out or args.results.with_name(args.results.stem + "_live_units.json")
    from mintlab.prune.record import SCHEMA_VERSION
    from mintlab.utils.io import write_json_atomic
    from mintlab.utils.provenance import provenance

    write_json_atomic(out, {"schema_version": SCHEMA_VERSION, "kind": "live_units", "source": str(args.results),
                            "provenance": provenance(), "runs": rows})  # fmt: skip
    print(f"{'run':<28} {'after retrain':>13} {'connected':>9}  narrowest layer (live / units)")
    for r in rows:
        n = r["narrowest"]
        where = f"{n} {r['live'][n]} / {r['units'][n]}" if r["connected"] else f"cut: no input reaches {r['break_at']}"
        flag = "" if r["rebuilt_matches_record"] else f"  (rebuilt masks differ by {r['max_layer_difference_points']})"
        print(f"{r['run_id']:<28} {r['accuracy_retrained']:>12.2f}% {str(r['connected']):>9}  {where}{flag}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
