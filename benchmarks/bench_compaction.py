"""What MINT's zeros buy: dense vs masked vs compacted (vs CSR) size and CPU speed. Writes JSON + a plot.

For each network (the MLP; VGG16-BN at width 1/4 and ResNet56 at width 1/2, both on 32×32
one-channel inputs like zero-padded Fashion-MNIST) and each prune percentage:

(``mlp_mint``: the MLP *trained* on Fashion-MNIST and pruned by MINT, notebook 3's CI settings
``MINT_MLP``; the scores are cached in ``$MINTLAB_CACHE``.)

1. build it with a **random initialisation** (size and speed do not depend on training;
   which units get disconnected does, so the compaction ratios are those of magnitude
   pruning of random weights, not of a trained MINT run);
2. score the paper's layer pairs with the magnitude scorer through the ordinary pipeline
   (``compute_scores`` → ``prune(prune_percent=...)``; groups: the paper's, capped at the
   layer's units; ResNet56: one filter per group, as the paper);
3. ``compact`` it (checked: outputs within 1e-5 of the masked model), then
   ``sparsify_linear_layers`` at batch 256 (CSR only where measured faster);
4. measure every variant with :func:`mintlab.prune.compression.compression_table`
   (one thread, ``torch.utils.benchmark`` median, batch 1 and 256).

A separate section times one Linear in the MLP's fc2 shape (300×500, MINT's 3×2 blocks)
dense vs CSR over sparsities, for the crossover.

Results go to ``results/compaction.json`` (written atomically after every configuration;
a rerun skips the configurations already there, ``--fresh`` starts over) and
``results/compaction.png``.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_compaction.py
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_compaction.py --models mlp --min-run-time 0.2
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path

import torch
from torch import nn

from mintlab.nets.models import build_model
from mintlab.nets.presets import PAPER_SETTINGS, layer_pairs
from mintlab.prune.compaction import compact
from mintlab.prune.compression import compression_table
from mintlab.prune.scorers import MagnitudeScorer
from mintlab.prune.scores import compute_scores
from mintlab.prune.sparse import sparsify_linear_layers, time_linear
from mintlab.prune.step import prune
from mintlab.utils.io import write_json_atomic

#: model → (build kwargs, prune percentages of the paired layers' weights, input shape)
CONFIGS = {
    "mlp": ({}, (90.0, 96.0), (1, 28, 28)),
    "vgg16": ({"width": 0.25, "in_channels": 1}, (83.43, 95.0), (1, 32, 32)),
    "resnet56": ({"width": 0.5, "in_channels": 1}, (52.41, 90.0), (1, 32, 32)),
    "mlp_mint": ({}, (90.0,), (1, 28, 28)),
}
#: A trained MLP pruned by MINT, at notebook 3's CI settings (cheap: the scores take a minute or two, then cached).
MINT_MLP = {
    "dataset": "fashion_mnist",
    "recipe": "quick",
    "groups": [[10, 10], [10, 10]],
    "samples_per_class": 30,
    "prune_percent": 90.0,
    "skip": ["fc3"],
}
CROSSOVER_SPARSITIES = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)


def _units(module: nn.Module) -> int:
    return module.out_channels if isinstance(module, nn.Conv2d) else module.out_features


def _groups(model: nn.Module, name: str) -> dict:
    modules = dict(model.named_modules())
    out = {}
    for parent, child in layer_pairs(name):
        n_p, n_c = _units(modules[parent]), _units(modules[child])
        if name == "resnet56":
            out[(parent, child)] = (n_p, n_c)  # one filter per group, as the paper's ResNet56 runs
        else:
            g_p, g_c = PAPER_SETTINGS[name]["groups"][(parent, child)]
            out[(parent, child)] = (min(g_p, n_p), min(g_c, n_c))
    return out


def _mint_mlp() -> tuple[nn.Module, nn.Module, torch.Tensor, dict]:
    from mintlab.nets.data import load_dataset
    from mintlab.nets.pretrained import pretrained
    from mintlab.notebook.workflow import method_scores

    s = MINT_MLP
    dense, _ = pretrained("mlp", s["dataset"], recipe=s["recipe"], seed=0, progress=False)
    dense.eval()
    train_set = load_dataset(s["dataset"], "train")
    scores = method_scores(
        dense,
        train_set,
        layer_pairs("mlp"),
        "mint",
        groups=s["groups"],
        samples_per_class=s["samples_per_class"],
        seed=0,
        dataset_name=s["dataset"],
        progress=False,
    )
    masked = copy.deepcopy(dense)
    summary = prune(masked, scores, prune_percent=s["prune_percent"], skip=s["skip"], check=False)["summary"]
    test_set = load_dataset(s["dataset"], "test")
    x = torch.stack([test_set[i][0] for i in range(8)])
    return dense, masked, x, summary


def run_config(name: str, percent: float, batch_sizes: tuple[int, ...], min_run_time: float, rounds: int) -> dict:
    if name == "mlp_mint":
        dense, masked, x, summary = _mint_mlp()
        kwargs = {"trained": MINT_MLP}
    else:
        kwargs, _, shape = CONFIGS[name]
        torch.manual_seed(0)
        dense = build_model(name, **kwargs).eval()
        masked = copy.deepcopy(dense)
        x = torch.randn(8, *shape, generator=torch.Generator().manual_seed(1))
        scores = compute_scores(
            masked,
            None,
            layer_pairs(name),
            MagnitudeScorer(),
            groups=_groups(masked, name),
            samples_per_class=1,
            seed=0,
            progress=False,
        )
        summary = prune(masked, scores, prune_percent=percent, check=False)["summary"]
    start = time.perf_counter()
    small, info = compact(masked, x, return_info=True)
    compact_s = time.perf_counter() - start
    models = {"dense": dense, "masked": masked, "compacted": small}
    sparse, decisions = sparsify_linear_layers(small, max(batch_sizes), min_run_time=min(min_run_time, 0.2))
    if any(d["sparse"] for d in decisions.values()):
        models["compacted+CSR"] = sparse
    rows = compression_table(models, x, batch_sizes=batch_sizes, min_run_time=min_run_time, rounds=rounds)
    for row in rows:  # JSON keys are strings; make them so now, for the plot of a fresh run as of a reloaded one
        row["latency_ms"] = {str(b): t for b, t in row["latency_ms"].items()}
        row["speedup"] = {str(b): t for b, t in row["speedup"].items()}
    return {
        "model": name,
        "build": kwargs,
        "prune_percent": percent,
        "params_pruned_percent_total": summary["total"],
        "compaction": {**info, "seconds": compact_s},
        "csr_decisions_at_batch": {"batch": max(batch_sizes), "layers": decisions},
        "rows": rows,
        "initialisation": (
            "trained (quick recipe, Fashion-MNIST); MINT scores"
            if name == "mlp_mint"
            else "random (torch.manual_seed(0)); magnitude scores"
        ),
    }


def crossover(batch_sizes: tuple[int, ...], min_run_time: float) -> dict:
    """Dense vs CSR for one 300×500 Linear with 3×2 zero blocks (the MLP's fc2 under MINT's groups)."""
    out = {}
    for sparsity in CROSSOVER_SPARSITIES:
        g = torch.Generator().manual_seed(0)
        keep = (torch.rand(100, 250, generator=g) >= sparsity).float()
        lin = nn.Linear(500, 300)
        with torch.no_grad():
            lin.weight.mul_(keep.repeat_interleave(3, 0).repeat_interleave(2, 1))
        out[str(sparsity)] = {str(b): time_linear(lin, b, min_run_time=min_run_time) for b in batch_sizes}
        print(
            f"crossover sparsity {sparsity:.2f}: "
            + ", ".join(f"batch {b}: dense/CSR = {v['speedup']:.2f}×" for b, v in out[str(sparsity)].items()),
            flush=True,
        )
    first_win = {}
    for b in batch_sizes:
        wins = [float(s) for s, v in out.items() if v[str(b)]["speedup"] > 1.0]
        first_win[str(b)] = min(wins) if wins else None
    return {"layer": "Linear 500→300, 3×2 blocks", "by_sparsity": out, "first_sparsity_where_csr_wins": first_win}


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = [results["configs"][k] for k in results["configs"]]
    fig, axes = plt.subplots(1, 4, figsize=(17, 4))
    labels = [f"{c['model']}\n{c['prune_percent']:g}%" for c in configs]
    variants = ["masked", "compacted"]
    batches = list(configs[0]["rows"][0]["latency_ms"])[:2]
    panels = [("params_stored", "parameters stored / dense")] + [
        (("latency_ms", b), f"latency batch {b} / dense") for b in batches
    ]
    width = 0.38
    for ax, (key, title) in zip(axes, panels, strict=False):
        for j, variant in enumerate(variants):
            values = []
            for c in configs:
                rows = {r["model"]: r for r in c["rows"]}

                def get(row: dict, k=key) -> float:
                    return row[k[0]][k[1]] if isinstance(k, tuple) else row[k]

                values.append(get(rows[variant]) / get(rows["dense"]))
            ax.bar([i + (j - 0.5) * width for i in range(len(configs))], values, width, label=variant)
        ax.axhline(1.0, color="gray", lw=0.8)
        ax.set_xticks(range(len(configs)), labels, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    if results.get("crossover"):
        cx = results["crossover"]["by_sparsity"]
        sparsities = sorted(cx, key=float)
        for b in next(iter(cx.values())):
            axes[3].plot(
                [float(s) * 100 for s in sparsities],
                [cx[s][b]["speedup"] for s in sparsities],
                "o-",
                label=f"batch {b}",
            )
        axes[3].axhline(1.0, color="gray", lw=0.8)
        axes[3].set_xlabel("zero weights (%)")
        axes[3].set_title("CSR speed-up over dense, Linear 500→300", fontsize=10)
        axes[3].legend(fontsize=8)
    fig.suptitle(
        "What the zeros buy (CPU, 1 thread; random init + magnitude pruning, except mlp_mint: trained, MINT)",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 256])
    parser.add_argument("--min-run-time", type=float, default=0.3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="results/compaction.json")
    parser.add_argument("--no-crossover", action="store_true")
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    results = {"configs": {}, "crossover": None}
    if out.exists() and not args.fresh:
        results = json.loads(out.read_text())
    results["machine"] = {"torch": torch.__version__, "threads": 1, "cpu_count": os.cpu_count()}
    batch_sizes = tuple(args.batch_sizes)
    for name in args.models:
        for percent in CONFIGS[name][1]:
            key = f"{name}@{percent:g}"
            if key in results["configs"]:
                print(f"{key}: done already", flush=True)
                continue
            r = run_config(name, percent, batch_sizes, args.min_run_time, args.rounds)
            results["configs"][key] = r
            write_json_atomic(out, results)
            c = r["compaction"]
            print(
                f"{key}: {r['params_pruned_percent_total']:.1f}% of params pruned; compaction removed "
                f"{c['removed_no_outputs']} + {c['removed_constant']} units in {c['seconds']:.1f}s "
                f"(max |diff| {c['max_abs_diff']:.2g})",
                flush=True,
            )
            for row in r["rows"]:
                lat = ", ".join(f"b{b} {t:.3g} ms" for b, t in row["latency_ms"].items())
                print(
                    f"   {row['model']:>9}: stored {row['params_stored']:>9,}  nonzero {row['params_nonzero']:>9,}  "
                    f"MACs {row['macs']:>12,}  CSR {row['csr_mb']:.3f} Mb  file {row['file_mb']:.3f} MiB  {lat}",
                    flush=True,
                )
    if not args.no_crossover and not results.get("crossover"):
        results["crossover"] = crossover(batch_sizes, min(args.min_run_time, 0.2))
        write_json_atomic(out, results)
    plot(results, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
