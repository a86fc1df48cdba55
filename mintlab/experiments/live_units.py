"""Which runs of a finished comparison cut the network: every run's masks rebuilt from its cache, and their live units.

A comparison's results file (:func:`mintlab.experiments.compare.run_comparison`) records what each run pruned and
how accurate it was, not its masks. :func:`comparison_live_units` rebuilds each run's masks the way the comparison
made them (the same dense network, :func:`~mintlab.experiments.compare.load_dense_network`; the same cached scores,
:meth:`~mintlab.experiments.compare.Preset.scores`; the same allocation,
:func:`mintlab.prune.allocation.keep_for_allocation`), checks them against the per-layer shares the run recorded,
and counts per layer the units left on a path of nonzero weights from input to output
(:func:`mintlab.prune.metrics.live_units`). A layer without a live unit cuts the network: its output is the same
for every image, so the retrained accuracy sits at chance. Whether the masked network's output, and each pruned
layer's, still depends on the image is also checked directly on a batch of training images
(:func:`mintlab.prune.metrics.input_dependence`): that is the verdict ``connected`` reports, and the one that
holds for residual networks, where a layer without live units leaves a block's branch constant and the block's
shortcut carries the signal past it (the unit count reads the pairs as a plain chain and would call that cut).

Nothing is trained or evaluated, and nothing is scored: a run whose scores are not in the cache raises. Seconds
per run.

Command line (writes ``<results stem>_live_units.json`` and prints one line per run)::

    python -m mintlab.experiments.live_units results/cnn_vgg16_fashion_mnist32.json \\
        --cache results/cache/compare-vgg16 --networks results/networks
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

__all__ = ["comparison_live_units", "main"]


def comparison_live_units(
    results: str | Path,
    *,
    cache_dir: str | Path,
    networks: str | Path | None = None,
    train_data: Dataset | None = None,
    levels: Sequence[float] | None = None,
    images: int = 64,
) -> list[dict[str, Any]]:
    """One row per run of the comparison at ``results``: its recorded accuracies and its rebuilt masks' live units.

    Args:
        results: a comparison's JSON file (a preset's: ``"mlp"``, ``"vgg16"``, ``"resnet56"``).
        cache_dir: the comparison's cache folder (``scores/`` in it; its dense networks, unless from a store).
        networks: the store of its dense networks, where it is not the folder recorded in the file.
        train_data: the comparison's training data, where it was handed in (default: reloaded from the
            recorded dataset and subset); the scores' cache key includes its content, so other data raise.
        levels: only the runs at these target levels (default: all).
        images: how many training images (the first ones) the input-dependence check runs on.

    Returns:
        Per run ``{"run_id", "accuracy_pruned", "accuracy_retrained", "connected", "constant_layers",
        "structurally_connected", "cut", "break_at", "reached", "live", "units", "narrowest",
        "rebuilt_matches_record", "max_layer_difference_points"}``: ``connected`` whether the masked network's
        output depends on the image, ``constant_layers`` the pruned layers whose output does not
        (:func:`mintlab.prune.metrics.input_dependence`); ``structurally_connected``, ``cut`` and ``break_at``
        the unit count's verdict, layers without live units and where each cut chain breaks, and
        ``reached``/``live``/``units`` per layer (:func:`mintlab.prune.metrics.live_units`), ``narrowest`` the
        layer with the smallest live share; the last two the largest per-layer gap (points) to the record.

    Raises:
        FileNotFoundError: a dense network that is not there. RuntimeError: a run whose scores are not cached.
    """
    import numpy as np
    import torch

    from mintlab.experiments.compare import comparison_inputs, load_dense_network, recorded_preset, scores_dataset_name
    from mintlab.prune.allocation import keep_for_allocation
    from mintlab.prune.masks import apply_masks, weight_masks
    from mintlab.prune.metrics import input_dependence, live_units, params_pruned_percent
    from mintlab.prune.scorers import get_scorer
    from mintlab.utils.model_state import copy_model

    result = json.loads(Path(results).read_text())
    st = result["settings"]
    if train_data is None:
        preset, train, _ = comparison_inputs(st)
    else:
        preset, train = recorded_preset(st), train_data
    batch = torch.stack([train[i][0] for i in range(min(int(images), len(train)))])
    scores_folder = Path(cache_dir) / "scores"
    dense: dict[int, Any] = {}
    scores: dict[tuple[str, int], Any] = {}

    def scores_of(method: str, seed: int) -> Any:
        if (method, seed) not in scores:
            before = set(scores_folder.iterdir()) if scores_folder.is_dir() else set()
            scorer = get_scorer(method, **(st["mint_options"] if method.startswith("mint") else {}))
            s = preset.scores(dense[seed], train, scorer, seed=seed, cache_dir=scores_folder,
                              dataset_name=f"{scores_dataset_name(st['dataset'])}/train")  # fmt: skip
            if set(scores_folder.iterdir()) != before:
                raise RuntimeError(f"Expected the scores of {method} seed {seed} in {scores_folder}, but they were "
                                   "not there (computed now, so the masks are not the comparison's)")  # fmt: skip
            scores[(method, seed)] = s
        return scores[(method, seed)]

    rows = []
    for run in result["runs"]:
        if levels is not None and run["target_percent"] not in [float(v) for v in levels]:
            continue
        seed = run["seed"]
        if seed not in dense:
            dense[seed] = load_dense_network(st, cache_dir, seed, preset, networks=networks)
        s = scores_of(run["method"], seed)
        leader = scores_of(st["methods"][0], seed) if run["allocation"] == "mint" else None
        _, keep = keep_for_allocation(run["allocation"], s, run["target_percent"], leader=leader,
                                      gamma=preset.gamma, skip=preset.skip, tolerance=st["level_tolerance"],
                                      seed=seed)  # fmt: skip
        net = copy_model(dense[seed])
        apply_masks(net, weight_masks(net, keep, s))
        found = live_units(net, preset.pairs)
        depends = input_dependence(net, batch, layers=[child for _, child in preset.pairs])
        layers = found["layers"]
        per_layer = params_pruned_percent(net)["per_layer"]
        gap = max((abs(per_layer.get(k, 0.0) - v) for k, v in run["per_layer_pruned_percent"].items()), default=0.0)
        rows.append({
            "run_id": run["run_id"],
            "accuracy_pruned": run["accuracy_pruned"],
            "accuracy_retrained": run["accuracy_retrained"],
            "connected": depends["output_varies"],
            "constant_layers": depends["constant"],
            "structurally_connected": found["connected"],
            "cut": found["cut"],
            "break_at": found["break_at"],
            "reached": {k: v["reached"] for k, v in layers.items()},
            "live": {k: v["live"] for k, v in layers.items()},
            "units": {k: v["units"] for k, v in layers.items()},
            "narrowest": min(layers, key=lambda k: layers[k]["live"] / layers[k]["units"]),
            "rebuilt_matches_record": bool(gap < 1e-6),
            "max_layer_difference_points": float(np.round(gap, 9)),
        })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m mintlab.experiments.live_units RESULTS --cache DIR [--networks DIR] [--levels ...]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a comparison's results file")
    parser.add_argument("--cache", type=Path, required=True, help="the comparison's cache folder (holds scores/)")
    parser.add_argument("--networks", type=Path, help="its dense networks' store, if not the recorded folder")
    parser.add_argument("--levels", type=float, nargs="*", help="only these target levels (default: all)")
    parser.add_argument("--images", type=int, default=64, help="training images the input-dependence check runs")
    parser.add_argument("--out", type=Path, help="JSON output (default: <results>_live_units.json)")
    args = parser.parse_args(argv)
    from mintlab.prune.record import SCHEMA_VERSION
    from mintlab.utils.io import write_json_atomic
    from mintlab.utils.provenance import provenance

    rows = comparison_live_units(
        args.results, cache_dir=args.cache, networks=args.networks, levels=args.levels, images=args.images
    )
    out = args.out or args.results.with_name(args.results.stem + "_live_units.json")
    write_json_atomic(out, {"schema_version": SCHEMA_VERSION, "kind": "live_units", "source": str(args.results),
                            "images": args.images, "provenance": provenance(), "runs": rows})  # fmt: skip
    print(f"{'run':<28} {'after retrain':>13} {'connected':>9}  narrowest layer (live / units)")
    for r in rows:
        n = r["narrowest"]
        if not r["connected"]:
            where = f"cut: no input reaches {r['break_at'] or r['constant_layers'][:1] or 'the output'}"
        else:
            where = f"{n} {r['live'][n]} / {r['units'][n]}"
            if r["constant_layers"]:  # inside residual branches: their shortcuts carry the signal past them
                where += f"; {len(r['constant_layers'])} layer(s) constant, bypassed: {r['constant_layers']}"
        flag = "" if r["rebuilt_matches_record"] else f"  (rebuilt masks differ by {r['max_layer_difference_points']})"
        print(f"{r['run_id']:<28} {r['accuracy_retrained']:>12.2f}% {str(r['connected']):>9}  {where}{flag}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
