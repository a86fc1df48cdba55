"""What MIPP's removed units buy once compacted: real parameters, MACs and CPU latency vs the dense network.

MIPP removes whole units, so :func:`mintlab.prune.compaction.compact` (Torch-Pruning surgery,
checked against the masked model's outputs) turns a MIPP-pruned network into a smaller dense one.
For each recorded MIPP selection this script builds:

* the dense network (the one MIPP pruned: the seed's trained checkpoint);
* MIPP's masked network (:func:`mintlab.prune.mipp.unit_weight_masks`) and its compacted copy;
* the compacted copies of ``l1_units`` and ``random_units`` at the same per-layer unit counts;

checks that every compacted network gives the masked network's outputs (max |Δ| on test images and
on a random batch) and the same test accuracy, then measures all of them with
:func:`mintlab.prune.compression.compression_table`: parameters stored, MACs per image
(Torch-Pruning's counter), latency at batch 1 and 256 on one CPU thread (``torch.utils.benchmark``
medians, ``--rounds`` interleaved rounds, median kept).

Networks:

* ``mlp``: the MLP 784-500-300-10 of ``results/mipp_mlp_fashion_mnist.json`` (seed 0's ``quick``
  checkpoint from the pretrained cache, every x recorded there);
* ``vgg16``: VGG16-BN ¼ of ``results/mipp_vgg16_fashion_mnist.json`` (seed 0, every unit sparsity,
  the CNN comparison's dense checkpoint), when that file exists; each masked network has its BatchNorm
  statistics re-estimated (as in that run) before it is compacted and measured.

Results: ``results/mipp_compaction.json`` (atomically, one entry per network and selection).

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/mipp_compaction.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mintlab.nets.train import evaluate
from mintlab.prune.compaction import compact
from mintlab.prune.compression import compression_table
from mintlab.prune.masks import apply_masks
from mintlab.prune.mipp import baseline_unit_keep, unit_weight_masks
from mintlab.utils.io import write_json_atomic

MLP_PAIRS = [("fc1", "fc2"), ("fc2", "fc3")]


def _max_diff(a: nn.Module, b: nn.Module, xs: list[torch.Tensor]) -> float:
    with torch.no_grad():
        return max(float((a.eval()(x) - b.eval()(x)).abs().max()) for x in xs)


def measure(
    dense: nn.Module,
    pairs,
    keep: dict[str, np.ndarray],
    test_data,
    seed: int,
    *,
    batch_sizes,
    min_run_time: float,
    rounds: int,
    after_masking=None,
) -> dict:
    """Compact MIPP's, L1's and random's unit masks at MIPP's counts; outputs checked; compression table.

    ``after_masking(masked)``: run on each masked network before it is compacted (the CNN's BatchNorm
    re-estimation, as the comparison does before its first evaluation).
    """
    counts = {k: int(v.sum()) for k, v in keep.items()}
    x_test = test_data.tensors[0][:256]
    x_rand = torch.randn(x_test.shape, generator=torch.Generator().manual_seed(seed)) * 2
    models = {"dense": dense}
    checks = {}
    for method in ("mipp", "l1_units", "random_units"):
        k = keep if method == "mipp" else baseline_unit_keep(dense, pairs, counts, method=method, seed=seed)
        masked = apply_masks(_copy(dense), unit_weight_masks(dense, pairs, k)).eval()
        if after_masking is not None:
            after_masking(masked)
            masked.eval()
        t0 = time.perf_counter()
        small, info = compact(masked, x_test[:64], return_info=True)
        checks[method] = {
            "units_kept": {n: int(v.sum()) for n, v in k.items()},
            "compact_seconds": time.perf_counter() - t0,
            "max_abs_diff_masked_vs_compacted": _max_diff(masked, small, [x_test, x_rand]),
            "accuracy_masked": evaluate(masked, test_data)["accuracy"],
            "accuracy_compacted": evaluate(small, test_data)["accuracy"],
            "removed_no_outputs": info["removed_no_outputs"],
            "removed_constant": info["removed_constant"],
            "skipped_groups": info["skipped_groups"],
        }
        if method == "mipp":
            models["mipp masked"] = masked
        models[f"{method} compacted"] = small
    rows = compression_table(
        models, x_test[:8], batch_sizes=batch_sizes, min_run_time=min_run_time, rounds=rounds, seed=seed
    )
    return {"units_kept": counts, "checks": checks, "rows": rows}


def _copy(model: nn.Module) -> nn.Module:
    from mintlab.utils.model_state import copy_model

    return copy_model(model)


def mlp_entries(args) -> dict:
    from mintlab.nets.data import as_tensor_dataset as tensor_dataset
    from mintlab.nets.data import load_dataset
    from mintlab.nets.pretrained import pretrained

    res = json.loads(Path(args.mlp_results).read_text())
    seed = args.seed
    dense, _ = pretrained("mlp", "fashion_mnist", recipe="quick", seed=seed, progress=False)
    dense.eval()
    test = tensor_dataset(load_dataset("fashion_mnist", "test"))
    acc = evaluate(dense, test)["accuracy"]
    recorded = res["seeds"][str(seed)]["dense_accuracy"]
    if abs(acc - recorded) > 1e-6:
        raise SystemExit(f"the cached MLP (seed {seed}) scores {acc} %, the MIPP results recorded {recorded} %")
    out = {}
    for key, keep in res["seeds"][str(seed)].items():
        if not key.startswith("mipp_keep_"):
            continue
        tag = key[len("mipp_keep_") :]
        print(f"[{time.strftime('%H:%M:%S')}] mlp {tag}", flush=True)
        out[f"mlp/{tag}"] = {
            "model": "mlp",
            "selection": tag,
            "dense_accuracy": acc,
            **measure(
                dense,
                MLP_PAIRS,
                {k: np.asarray(v, bool) for k, v in keep.items()},
                test,
                seed,
                batch_sizes=args.batch_sizes,
                min_run_time=args.min_run_time,
                rounds=args.rounds,
            ),
        }
    return out


def vgg_entries(args) -> dict:
    from mintlab.experiments.compare import comparison_inputs, load_dense_network, recalibrate_batchnorm

    path = Path(args.vgg_results)
    if not path.exists():
        return {}
    res = json.loads(path.read_text())
    s = res["settings"]
    comp = json.loads(Path(s["comparison"]).read_text())["settings"]
    preset, train, test = comparison_inputs(s)
    # the run recorded <cache>/dense/<key>; a key of other settings finds no file (FileNotFoundError)
    dense = load_dense_network(comp, Path(s["dense_checkpoints"]).parent.parent, args.seed, preset)
    pairs = [tuple(p) for p in s["pairs"]]
    out = {}
    for tag, sel in res["selections"].items():
        seed, u = tag.split("/")
        if int(seed) != args.seed:
            continue
        print(f"[{time.strftime('%H:%M:%S')}] vgg16 u={u}", flush=True)
        out[f"vgg16/u{u}"] = {
            "model": "vgg16",
            "selection": f"u{u}",
            "dense_accuracy": res["dense_accuracy"][seed],
            **measure(
                dense,
                pairs,
                {k: np.asarray(v, bool) for k, v in sel["keep"].items()},
                test,
                args.seed,
                batch_sizes=args.batch_sizes,
                min_run_time=args.min_run_time,
                rounds=args.rounds,
                after_masking=lambda net: recalibrate_batchnorm(
                    net, train, images=s["bn_recalibration_images"], seed=args.seed
                ),
            ),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output", default="results/mipp_compaction.json")
    ap.add_argument("--mlp-results", default="results/mipp_mlp_fashion_mnist.json")
    ap.add_argument("--vgg-results", default="results/mipp_vgg16_fashion_mnist.json")
    ap.add_argument("--models", nargs="+", default=["mlp", "vgg16"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 256])
    ap.add_argument("--min-run-time", type=float, default=0.3)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.output)
    result = json.loads(out.read_text()) if out.exists() else {"entries": {}}
    result["settings"] = {
        "seed": args.seed,
        "batch_sizes": args.batch_sizes,
        "min_run_time": args.min_run_time,
        "rounds": args.rounds,
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": list(os.getloadavg()),
        "cpu": platform.processor() or "unknown",
        "torch": torch.__version__,
    }
    for name, fn in (("mlp", mlp_entries), ("vgg16", vgg_entries)):
        if name in args.models:
            entries = fn(args)
            result["settings"]["load_average_at_end"] = list(os.getloadavg())
            for entry in entries.values():  # each entry keeps the settings and load it was measured with
                entry["measured_with"] = dict(result["settings"])
            result["entries"].update(entries)
            write_json_atomic(out, result)
    print(table(result))


def _at(d: dict, b: int) -> float:
    return d[str(b)] if str(b) in d else d[b]  # JSON keys are strings after a reload


def table(result: dict) -> str:
    """Markdown: per entry and model variant, parameters, MACs, latency (ms) and speed-up vs dense."""
    bs = result["settings"]["batch_sizes"]
    lines = [
        "| network | selection | variant | params | MACs | "
        + " | ".join(f"ms @ {b}" for b in bs)
        + " | "
        + " | ".join(f"× @ {b}" for b in bs)
        + " | max abs diff |",
        "|" + "---|" * (6 + 2 * len(bs)),
    ]
    for entry in result["entries"].values():
        for row in entry["rows"]:
            diff = entry["checks"].get(row["model"].split(" ")[0], {}).get("max_abs_diff_masked_vs_compacted")
            diff_text = f"{diff:.1e}" if diff is not None and "compacted" in row["model"] else ""
            lines.append(
                f"| {entry['model']} | {entry['selection']} | {row['model']} | {row['params_stored']:,} | "
                f"{row['macs']:,} | "
                + " | ".join(f"{_at(row['latency_ms'], b):.3f}" for b in bs)
                + " | "
                + " | ".join(f"{_at(row['speedup'], b):.2f}" for b in bs)
                + f" | {diff_text} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
