"""MIPP on VGG16-BN (width ¼, padded Fashion-MNIST 32×32) vs L1 / random units and MINT, as the CNN comparison.

Settings are read from the CNN comparison's JSON (``results/cnn_vgg16_fashion_mnist.json``, key
``settings``): the model options, the data subset (3,000 train / 1,000 test images, subset seed), the
ten pairs conv4→conv5 … conv13→fc1 (MIPP selects the channels of conv4 … conv13; conv13's target is
fc1's output), MINT's groups and γ caps, ``m`` = 50, the retrain recipe and its batch cap, BN
re-estimation on 1,024 images. The dense networks are the comparison's cached checkpoints (never
retrained here; their accuracy is checked against the comparison's). See
:func:`mintlab.experiments.mipp.run_mipp_comparison` for what each run does.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 nohup python scripts/run_mipp_cnn.py > results/logs/mipp_vgg16.log 2>&1 &
    python scripts/run_mipp_cnn.py --summary        # markdown table
    python scripts/run_mipp_cnn.py --plot-only      # results/mipp_vgg16_fashion_mnist.png
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from mintlab.experiments.compare import comparison_inputs, default_cache_dir, dense_checkpoint_dir, load_dense_network
from mintlab.experiments.mipp import EVIDENCE_PREDICTOR, MIPP_METHODS, run_mipp_comparison, summarize_mipp
from mintlab.utils.io import save_figure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output", default="results/mipp_vgg16_fashion_mnist.json")
    ap.add_argument("--comparison", default="results/cnn_vgg16_fashion_mnist.json")
    ap.add_argument(
        "--dense-cache",
        default=None,
        help="the comparison's cache_dir (default: beside --comparison, <its stem>_cache)",
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument(
        "--unit-sparsities",
        type=float,
        nargs="+",
        default=[0.17, 0.38],
        help="shares of channels removed per layer (0.17 ≈ 30 %%, 0.38 ≈ 60 %% of all parameters)",
    )
    ap.add_argument("--methods", nargs="+", default=list(MIPP_METHODS))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--max-bisect", type=int, default=4)
    ap.add_argument(
        "--reference",
        choices=["original", "current"],
        default="original",
        help="MIPP's Δ baseline (note A3); 'current' is recorded in the settings, use another --output",
    )
    ap.add_argument("--summary", action="store_true")
    ap.add_argument("--plot-only", action="store_true")
    args = ap.parse_args()
    args.dense_cache = args.dense_cache or str(default_cache_dir(args.comparison))
    torch.set_num_threads(1)
    out = Path(args.output)
    if args.summary:
        print(summarize_mipp(json.loads(out.read_text())))
        return
    if args.plot_only:
        plot(json.loads(out.read_text()), json.loads(Path(args.comparison).read_text()), out.with_suffix(".png"))
        return
    comparison = json.loads(Path(args.comparison).read_text())
    s = comparison["settings"]
    opts, d = s["model_options"], s["dataset"]
    preset, train_data, test_data = comparison_inputs(s)
    pairs = [tuple(p) for p in s["pairs"]]
    groups = {tuple(p): tuple(g) for p, g in s["groups"]}
    if pairs != list(preset.pairs) or groups != preset.groups:
        raise SystemExit("The comparison's pairs / groups differ from the preset's")
    folder = dense_checkpoint_dir(s, args.dense_cache, 0).parent

    def dense_model(seed: int) -> torch.nn.Module:
        return load_dense_network(s, args.dense_cache, seed, preset)

    config = EVIDENCE_PREDICTOR
    extra = {
        "model": s["model"],
        "model_options": opts,
        "dataset": d,
        "dense_checkpoints": str(folder),
        "comparison": args.comparison,
        "mipp_target": "uniform unit sparsity per selected layer",
        "torch_threads": torch.get_num_threads(),
    }
    mipp_options = {"repeats": args.repeats, "config": config, "min_keep": 0, "max_bisect": args.max_bisect}
    if args.reference != "original":
        mipp_options["reference"] = args.reference
    t0 = time.perf_counter()
    result = run_mipp_comparison(
        out,
        dense_model=dense_model,
        pairs=pairs,
        train_data=train_data,
        test_data=test_data,
        unit_sparsities=args.unit_sparsities,
        seeds=args.seeds,
        methods=args.methods,
        samples_per_class=s["samples_per_class"],
        mipp_options=mipp_options,
        mint_groups=groups,
        gamma=s["gamma"],
        skip=s["skip"],
        level_tolerance=s["level_tolerance"],
        retrain_recipe="quick_cnn_retrain",
        retrain_max_batches=s["retrain_max_batches"],
        bn_recalibration_images=s["bn_recalibration_images"],
        settings_extra=extra,
        log=lambda line: print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True),
    )
    for seed in args.seeds:
        want = comparison["dense_accuracy"].get(str(seed))
        got = result["dense_accuracy"][str(seed)]
        if want is not None and abs(want - got) > 1e-6:
            raise SystemExit(f"seed {seed}: dense accuracy {got} differs from the comparison's {want}")
    print(f"done in {time.perf_counter() - t0:.0f} s")
    print(summarize_mipp(result))
    plot(result, comparison, out.with_suffix(".png"))


def plot(result: dict, comparison: dict, path: Path) -> None:
    """Accuracy (masked + BN, retrained) vs parameter sparsity per method, one point per seed; the comparison's MINT."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharey=True)
    colors = {"mipp": "C0", "l1_units": "C1", "random_units": "C2", "mint": "C3"}
    for ax, key, title in (
        (axes[0], "accuracy_pruned", "masked, BN re-estimated"),
        (axes[1], "accuracy_retrained", "after one retrain"),
    ):
        for method, color in colors.items():
            rs = [r for r in result["runs"] if r["method"] == method]
            if rs:
                ax.scatter([r["pruned_percent"] for r in rs], [r[key] for r in rs], c=color, s=24, label=method)
        ref = [
            r for r in comparison["runs"] if r["method"] == "mint" and r["allocation"] == "mint" and not r.get("sweep")
        ]
        if ref:
            ax.scatter(
                [r["pruned_percent"] for r in ref],
                [r[key] for r in ref],
                c="C3",
                marker="x",
                s=24,
                label="mint (CNN comparison)",
            )
        dense = list(result["dense_accuracy"].values())
        ax.axhline(float(np.mean(dense)), color="k", lw=1, label=f"dense {np.mean(dense):.1f} %")
        ax.set_xlabel("parameters zeroed (% of all)")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("test accuracy (%)")
    fig.suptitle(
        "VGG16-BN ¼, Fashion-MNIST 32×32: MIPP vs L1 / random channels (equal channel counts) "
        "and MINT (equal parameter sparsity); one point per seed",
        fontsize=9,
    )
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


if __name__ == "__main__":
    main()
