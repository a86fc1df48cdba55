"""The evidence's dense networks: one trained network per seed, full data, recorded with recipe and wall time.

Each seed is :func:`mintlab.nets.pretrained.pretrained` (resumable: a run stopped at any point continues from
its last finished epoch), so this can run in as many pieces as it needs. After every seed the record
``<out>`` (JSON) is rewritten atomically: per seed the final test accuracy (all test images), the epoch count,
the training mode chosen (:mod:`mintlab.nets.precision`), the wall time of the SGD steps and of the whole run
(summed over the pieces it ran in), and the checkpoint's file and SHA-256; plus the recipe, the data, the
mean and a 95 % t-interval over seeds, and the code that produced it (:func:`mintlab.utils.provenance`).

Command line: ``python -m mintlab.experiments.dense --help``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mintlab.nets.networks import network_names

__all__ = ["train_dense_networks", "main"]


def _interval(values: Sequence[float]) -> dict[str, float | None]:
    from scipy import stats

    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return {"mean": mean, "low": None, "high": None, "n": n}
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "sd": sd, "n": n}


def _earlier_seeds(
    output: str | Path, model: str, width: float, dataset: str, recipe: dict[str, Any], seeds: Sequence[int]
) -> dict[str, Any]:
    """The seeds ``output`` already records for the same network, data and recipe, other than ``seeds``: a record
    accumulates seeds (three first, more later), and a later call with fewer seeds drops none."""
    import json

    path = Path(output)
    if not path.is_file():
        return {}
    old = json.loads(path.read_text())
    same = (old.get("model"), old.get("width"), old.get("dataset"), old.get("recipe")) == (
        model, float(width), dataset, json.loads(json.dumps(recipe))  # as JSON holds it: tuples are lists
    )  # fmt: skip
    if not same:
        return {}
    asked = {int(s) for s in seeds}
    return {k: v for k, v in old.get("networks", {}).items() if int(k) not in asked}


def train_dense_networks(
    output: str | Path,
    *,
    model: str = "vgg16",
    width: float = 0.25,
    dataset: str = "fashion_mnist32",
    seeds: Sequence[int] = (0, 1, 2),
    recipe: str | None = None,
    networks: str | Path = "results/networks",
    precision: str | None = None,
    progress: bool = False,
    log: Any = print,
) -> dict[str, Any]:
    """Train (or finish, or just read) one dense network per seed and write their record to ``output``.

    Seeds ``output`` already records for the same model, width, data and recipe are kept beside ``seeds``.

    Args:
        output: the JSON record.
        model, width, dataset, recipe, precision: see :func:`mintlab.nets.pretrained.pretrained`.
        seeds: one network per seed.
        networks: the folder of the trained networks (:func:`mintlab.nets.pretrained.pretrained_dir` inside).
        progress: progress bars.
        log: called with a line per finished seed.

    Returns:
        The record written.
    """
    from mintlab.nets.checkpoints import state_dict_hash
    from mintlab.nets.networks import get_network
    from mintlab.nets.pretrained import pretrained
    from mintlab.nets.recipes import get_recipe, with_precision
    from mintlab.prune.record import SCHEMA_VERSION
    from mintlab.utils.io import write_json_atomic
    from mintlab.utils.provenance import provenance

    recipe = get_network(model).recipe if recipe is None else recipe
    rec = with_precision(get_recipe(recipe), precision)
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": "dense_networks",
        "model": model,
        "width": float(width),
        "dataset": dataset,
        "recipe_name": recipe,
        "recipe": dataclasses.asdict(rec),
        "networks": _earlier_seeds(output, model, width, dataset, dataclasses.asdict(rec), seeds),
        "provenance": provenance(),
    }
    for seed in seeds:
        net, info = pretrained(
            model,
            dataset,
            width=width,
            recipe=recipe,
            seed=seed,
            cache_dir=networks,
            progress=progress,
            precision=precision,
        )
        h = info["history"]
        record["networks"][str(seed)] = {
            "test_accuracy": info["test_accuracy"],
            "epochs": info["epoch"],
            "training_mode": h.get("training_mode"),
            "train_seconds": sum(h.get("train_seconds", [])) or None,
            "wall_seconds": sum(h["seconds"]),
            "seconds_per_epoch": [round(v, 2) for v in h["seconds"]],
            "test_accuracy_per_epoch": h["test_accuracy"],
            "checkpoint": str(Path(info["checkpoint"])),
            "state_sha256": state_dict_hash(net),
        }
        record["networks"] = dict(sorted(record["networks"].items(), key=lambda kv: int(kv[0])))
        accs = [v["test_accuracy"] for v in record["networks"].values()]
        record["test_accuracy"] = _interval(accs)
        write_json_atomic(output, record)
        log(
            f"{model} w{width:g} seed {seed}: {info['test_accuracy']:.2f} % after {info['epoch']} epochs, "
            f"{sum(h['seconds']) / 60:.1f} min ({h.get('training_mode')})"
        )
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--out", required=True, help="the JSON record")
    parser.add_argument("--model", default="vgg16", choices=network_names())
    parser.add_argument("--width", type=float, default=None, help="default: 0.25 for a CNN, 1 for the MLP")
    parser.add_argument("--dataset", default="fashion_mnist32")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--recipe", default=None, help="default: the network's recipe (mintlab.nets.networks)")
    parser.add_argument("--networks", default="results/networks", help="folder of the trained networks")
    parser.add_argument("--precision", default=None, choices=("auto", "fp32", "bf16"))
    parser.add_argument("--threads", type=int, default=2, help="torch and numba threads (never left to chance)")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    from mintlab.nets.networks import get_network
    from mintlab.utils.runtime import configure_threads

    configure_threads(threads=args.threads, numba_threads=args.threads)
    width = args.width if args.width is not None else (0.25 if get_network(args.model).has_width else 1.0)
    train_dense_networks(
        args.out,
        model=args.model,
        width=width,
        dataset=args.dataset,
        seeds=args.seeds,
        recipe=args.recipe,
        networks=args.networks,
        precision=args.precision,
        progress=args.progress,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
