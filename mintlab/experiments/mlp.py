"""The MLP comparison: MINT (two estimators) against weight magnitude and random, at equal sparsity.

One prune → retrain step per point, on the MLP (784-500-300-10) trained on Fashion-MNIST
(the offline stand-in for the paper's MNIST). For ``mint`` a δ sweep (each δ chosen from the
scores so that it prunes a target share of fc2's weights; the δ is recorded) prunes fc2 only,
as the paper's "layer 2" comparison of Table I; every other method then prunes fc2 to the
*same* sparsity the δ gave (``prune_percent``). One extra ``mint`` run prunes both pairs.

Everything goes to one JSON file, rewritten atomically after every run: a crash keeps the
finished runs and a rerun with the same settings skips them. The plot (pruned % of fc2 vs
accuracy after retraining, one line per method, the dense accuracy as a line) sits beside it.

Command line: ``python scripts/run_mlp_experiment.py --help``.

The general comparison (:func:`mintlab.experiments.compare.run_comparison`, ``python -m
mintlab.experiments.compare --model mlp``) runs the same networks and methods with seeds, both
allocations and the new scorers; the MLP's fc2-only comparison there is ``skip=["fc3"]`` with
levels in % of *all* parameters. This module stays for its fc2-share δ sweep and so that
``results/mlp_fashion_mnist*.json`` (its schema: ``run_id``, ``scope``, ``fc2_pruned_percent``,
...) keep reading; the general schema is in :mod:`mintlab.experiments.compare`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from mintlab._utils.checks import InvalidArgumentError
from mintlab._utils.fingerprint import dataset_fingerprint
from mintlab._utils.io import json_key, save_figure, to_jsonable, write_json_atomic
from mintlab.nets.checkpoints import load_masked_state_dict
from mintlab.prune.masks import threshold_for_fraction
from mintlab.prune.metrics import csr_memory_mb, pruning_report
from mintlab.prune.scorers import RUNTIME_OPTIONS, SCORER_NAMES, get_scorer
from mintlab.prune.scores import compute_scores
from mintlab.prune.step import prune_and_retrain

__all__ = ["PAPER_GROUPS", "DEFAULT_LEVELS", "run_mlp_experiment", "plot_mlp_results", "tensor_dataset"]

PAIRS = [("fc1", "fc2"), ("fc2", "fc3")]
#: The paper's groups (Appendix B): fc1→fc2 250 parent / 100 child, fc2→fc3 300 / 10.
PAPER_GROUPS: dict[tuple[str, str], tuple[int, int]] = {("fc1", "fc2"): (250, 100), ("fc2", "fc3"): (300, 10)}
#: Target shares (%) of fc2's weights for the δ sweep.
DEFAULT_LEVELS: tuple[float, ...] = (50.0, 70.0, 80.0, 90.0, 95.0, 97.0)


def tensor_dataset(dataset: Dataset) -> TensorDataset:
    """The whole dataset as in-memory tensors (same values; retraining then skips PIL decoding)."""
    if isinstance(dataset, TensorDataset):
        return dataset
    xs, ys = zip(*(dataset[i] for i in range(len(dataset))))
    return TensorDataset(torch.stack([torch.as_tensor(x) for x in xs]), torch.as_tensor(ys, dtype=torch.long))


def _groups_json(groups: Mapping) -> list:
    return [[list(k) if not isinstance(k, str) else k, list(v)] for k, v in groups.items()]


def _load_results(path: Path, settings: dict, overwrite: bool) -> list[dict]:
    if not path.exists() or overwrite:
        return []
    old = json.loads(path.read_text())
    if old.get("settings") != settings:
        changed = sorted(
            k for k in set(settings) | set(old.get("settings", {})) if settings.get(k) != old.get("settings", {}).get(k)
        )
        raise ValueError(
            f"{path} holds results for other settings (differing: {changed}); pass overwrite=True "
            "(--overwrite) or another output path"
        )
    return list(old.get("runs", []))


#: What ``run_mlp_experiment`` needs of a given ``model`` (it prunes fc2 and fc3 by these names).
_MLP_SHAPED = ("an MLP-shaped network: Linear layers named fc1 → fc2 → fc3 (the experiment prunes fc2 and fc3 by "
               "these names, e.g. mintlab.nets.models.MLP of any widths; for other networks use "
               "mintlab.experiments.compare.run_comparison)")


def _check_model(model: Any) -> None:
    """Refuse, before anything runs, a network that is not fc1 → fc2 → fc3 Linear layers chained."""
    from mintlab.nets.presets import validate_layer_pairs

    if not isinstance(model, nn.Module):
        raise InvalidArgumentError(f"Expected `model` as {_MLP_SHAPED} or None, but got {type(model).__name__}")
    modules = dict(model.named_modules())
    missing = [n for n in ("fc1", "fc2", "fc3") if not isinstance(modules.get(n), nn.Linear)]
    if missing:
        raise InvalidArgumentError(f"Expected `model` as {_MLP_SHAPED}, but got a {type(model).__name__} without "
                                   f"Linear {missing}")
    try:
        validate_layer_pairs(model, PAIRS)
    except ValueError as err:
        raise InvalidArgumentError(f"Expected `model` as {_MLP_SHAPED}, but got: {err}") from err


def _level_delta(scores, level: float) -> float | None:
    fc2 = scores["fc2"]
    delta = threshold_for_fraction(fc2.scores, fc2.cell_weights, level / 100.0, at_most=False)
    return float(delta) if 0.0 <= delta <= 1.0 else None


def run_mlp_experiment(
    output: str | Path = "results/mlp_fashion_mnist.json",
    *,
    samples_per_class: int = 650,
    groups: Mapping[tuple[str, str], tuple[int, int]] | None = None,
    levels: Sequence[float] = DEFAULT_LEVELS,
    methods: Sequence[str] = ("mint", "mint_paper", "magnitude", "random"),
    both_pairs_level: float | None = 90.0,
    retrain_recipe: str = "quick_retrain",
    retrain_epochs: int | None = None,
    max_batches: int | None = None,
    pretrain_recipe: str = "quick",
    seed: int = 0,
    mint_options: Mapping[str, Any] | None = None,
    cache_dir: str | Path | None = None,
    root: str | Path | None = None,
    model: nn.Module | None = None,
    train_data: Dataset | None = None,
    test_data: Dataset | None = None,
    overwrite: bool = False,
    plot: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Run (or finish) the MLP comparison and write ``output`` (JSON) and its ``.png``.

    Args:
        output: the JSON file; the plot goes beside it with suffix ``.png``.
        samples_per_class: ``m`` for the MINT activations (paper: 650).
        groups: ``{(parent, child): (G_parent, G_child)}`` (default :data:`PAPER_GROUPS`).
        levels: target pruned shares of fc2's weights (%) for the δ sweep.
        methods: any of ``"mint"``, ``"mint_paper"``, ``"magnitude"``, ``"random"``; the first
            MINT method listed sets the sparsity levels the others follow.
        both_pairs_level: one extra run of that leading method pruning fc2 *and* fc3 at this
            level (``None``: none).
        retrain_recipe: a :data:`mintlab.nets.recipes.RECIPES` name for the one retrain.
        retrain_epochs: override the recipe's epoch count.
        max_batches: cap batches per retrain epoch (tests).
        pretrain_recipe: recipe of the dense MLP (:func:`mintlab.nets.pretrained.pretrained`).
        seed: one seed for sampling, scores and retraining.
        mint_options: options for the MINT estimators (:func:`mintlab.estimator.layer_pair.score_layer_pair`:
            ``repeats``, ``scale``, ...; ``n_jobs`` / ``device`` change speed only).
        cache_dir: scores and retrain checkpoints (default ``<output stem>_cache/`` beside it).
        root: data root.
        model: a trained network to prune instead of :func:`mintlab.nets.pretrained.pretrained`'s
            MLP. It must be MLP-shaped: ``nn.Linear`` layers named ``fc1`` → ``fc2`` → ``fc3``
            (:class:`mintlab.nets.models.MLP` of any widths, or a network of your own with these
            names), since the experiment prunes fc2 and fc3 by name; every run starts from a copy
            of it. Other networks: :func:`mintlab.experiments.compare.run_comparison`.
        train_data, test_data: give both (or neither) to skip the Fashion-MNIST loading (tests,
            other data); they are then keyed by a hash of every sample in ``settings["dataset"]``.
        overwrite: start afresh even if ``output`` holds runs for other settings.
        plot: write the plot.
        progress: progress bars.

    Returns:
        The JSON content: ``{"dense_accuracy", "settings", "runs": [...]}``.

    Raises:
        ValueError: (:class:`mintlab._utils.checks.InvalidArgumentError`, also a ``TypeError``) a
            ``model`` that is not MLP-shaped, only one of ``train_data``/``test_data``, unknown
            methods, levels outside (0, 100); a file holding other settings (without ``overwrite``).
    """
    from mintlab.nets.checkpoints import state_dict_hash
    from mintlab.nets.data import load_dataset
    from mintlab.nets.pretrained import pretrained
    from mintlab.nets.recipes import get_recipe
    from mintlab.nets.train import evaluate

    unknown = [m for m in methods if m not in SCORER_NAMES]
    if unknown or not methods:
        raise ValueError(f"Expected `methods` among {SCORER_NAMES}, but got {list(methods)}")
    levels = [float(v) for v in levels]
    if not levels or any(not 0.0 < v < 100.0 for v in levels):
        raise ValueError(f"Expected `levels` as percentages in (0, 100), but got {levels}")
    if model is not None:
        _check_model(model)
    if (train_data is None) != (test_data is None):
        given, missing = ("train_data", "test_data") if test_data is None else ("test_data", "train_data")
        raise InvalidArgumentError(f"Expected `train_data` and `test_data` both or neither, but got `{given}` "
                                   f"without `{missing}`")
    groups = dict(PAPER_GROUPS if groups is None else groups)
    recipe = get_recipe(retrain_recipe, epochs=retrain_epochs)
    output = Path(output)
    cache = Path(cache_dir) if cache_dir is not None else output.with_name(output.stem + "_cache")

    if model is None:
        model, _ = pretrained("mlp", "fashion_mnist", recipe=pretrain_recipe, root=root, seed=seed, progress=progress)
    fashion_train = train_data is None
    if train_data is None:
        train_data = tensor_dataset(load_dataset("fashion_mnist", "train", root=root))
    if test_data is None:
        test_data = tensor_dataset(load_dataset("fashion_mnist", "test", root=root))
    model = model.cpu().eval()
    dense_state = copy.deepcopy(model.state_dict())
    leader = next((m for m in methods if m.startswith("mint")), methods[0])
    from mintlab.estimator.gmi import RECOMMENDED_ESTIMATOR

    # other data of the same sizes must not reuse these runs: user data are keyed by their content
    data_key: Any = "fashion_mnist" if fashion_train else {
        "name": "user", "train_fingerprint": dataset_fingerprint(train_data),
        "test_fingerprint": dataset_fingerprint(test_data)}
    settings = {
        "dataset": data_key,
        "model": "mlp",
        "model_hash": state_dict_hash(model),
        "pretrain_recipe": pretrain_recipe,
        "pairs": [list(p) for p in PAIRS],
        "groups": _groups_json(groups),
        "samples_per_class": int(samples_per_class),
        "levels": levels,
        "methods": list(methods),
        "leader": leader,
        "both_pairs_level": both_pairs_level,
        "mint_estimator": RECOMMENDED_ESTIMATOR,
        "mint_paper_estimator": "paper",
        "mint_options": {k: v for k, v in dict(mint_options or {}).items() if k not in RUNTIME_OPTIONS},
        "retrain_recipe": {"name": retrain_recipe, **dataclasses.asdict(recipe)},
        "max_batches": max_batches,
        "seed": int(seed),
        "train_size": len(train_data),
        "test_size": len(test_data),
    }
    settings = json.loads(json.dumps(to_jsonable(settings)))  # as it reads back from the file
    runs = _load_results(output, settings, overwrite)
    # retrain checkpoints are keyed by the settings: a stale one (other masks) is never resumed
    retrain_dir = cache / "retrain" / json_key(settings)
    dense_accuracy = evaluate(model, test_data)["accuracy"]
    result = {
        "dense_accuracy": dense_accuracy,
        "dense_csr_memory_mb": csr_memory_mb(model),
        "dense_fc2_csr_memory_mb": csr_memory_mb(model, layers=["fc2"]),
        "settings": settings,
        "runs": runs,
    }
    write_json_atomic(output, result)

    score_sets = {}
    for method in methods:
        scorer = get_scorer(method, **(dict(mint_options or {}) if method.startswith("mint") else {}))
        t0 = time.perf_counter()
        score_sets[method] = compute_scores(
            model,
            train_data,
            PAIRS,
            scorer,
            groups=groups,
            samples_per_class=samples_per_class,
            seed=seed,
            cache_dir=cache / "scores",
            dataset_name="fashion_mnist/train" if fashion_train else None,
            progress=progress,
        )
        result.setdefault("score_seconds", {})[method] = time.perf_counter() - t0

    plan: list[dict[str, Any]] = []
    for level in levels:
        plan.append({"method": leader, "scope": "fc2", "level": level})
        plan += [{"method": m, "scope": "fc2", "level": level} for m in methods if m != leader]
    if both_pairs_level is not None:
        plan.append({"method": leader, "scope": "both", "level": float(both_pairs_level)})

    done = {r["run_id"]: r for r in runs}
    matched: dict[float, float] = {
        r["level"]: r["fc2_pruned_percent"] for r in runs if r["method"] == leader and r["scope"] == "fc2"
    }
    for item in plan:
        method, scope, level = item["method"], item["scope"], item["level"]
        run_id = f"{method}_{scope}_{level:g}"
        if run_id in done:
            continue
        scores = score_sets[method]
        delta = prune_percent = None
        if method == leader:
            delta = _level_delta(scores, level)
            if delta is None:
                prune_percent = level
        else:
            prune_percent = matched[level]
        net = copy.deepcopy(model)  # the network as given (its widths), back to the dense weights
        load_masked_state_dict(net, dense_state)
        out = prune_and_retrain(
            net,
            scores,
            delta=delta,
            prune_percent=prune_percent,
            skip=["fc3"] if scope == "fc2" else [],
            train_data=train_data,
            test_data=test_data,
            recipe=recipe,
            checkpoint_dir=retrain_dir / run_id,
            seed=seed,
            progress=progress,
            max_batches=max_batches,
            dense_accuracy=dense_accuracy,
        )
        report = pruning_report(net, PAIRS)
        record = {
            "run_id": run_id,
            "method": method,
            "scope": scope,
            "level": level,
            "delta": delta,
            "prune_percent": prune_percent,
            "fc2_pruned_percent": report["per_layer_pruned_percent"]["fc2"],
            "fc3_pruned_percent": report["per_layer_pruned_percent"]["fc3"],
            "total_pruned_percent": report["params_pruned_percent"],
            "accuracy": out["accuracy_retrained"],
            "accuracy_before_retrain": out["accuracy_pruned"],
            "best_accuracy_during_retrain": out["history"].get("best_accuracy"),
            "csr_memory_mb": report["csr_memory_mb"],
            "fc2_csr_memory_mb": csr_memory_mb(net, layers=["fc2"]),
            "disconnected": report["disconnected"],
            "seconds": out["seconds"],
        }
        if method == leader and scope == "fc2":
            matched[level] = record["fc2_pruned_percent"]
        runs.append(record)
        done[run_id] = record
        write_json_atomic(output, result)
    if plot:
        plot_mlp_results(result, output.with_suffix(".png"))
    return result


def plot_mlp_results(result: Mapping[str, Any], path: str | Path | None = None):
    """Pruned % of fc2 vs test accuracy, one line per method; dense accuracy as a line.

    Left: after the one retrain (a star: the run pruning both pairs, at its fc2 share);
    right: the masked network before retraining. Writes ``path`` (PNG, atomically) when
    given; returns the figure.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (ax, ax0) = plt.subplots(1, 2, figsize=(11, 4.4), sharex=True)
    runs = list(result.get("runs", []))
    methods = list(dict.fromkeys(r["method"] for r in runs))
    colors = dict(zip(methods, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for method in methods:
        pts = sorted(
            (r["fc2_pruned_percent"], r["accuracy"], r["accuracy_before_retrain"])
            for r in runs
            if r["method"] == method and r["scope"] == "fc2"
        )
        if pts:
            x, y, y0 = map(np.array, zip(*pts))
            ax.plot(x, y, "o-", color=colors[method], label=method)
            ax0.plot(x, y0, "o-", color=colors[method], label=method)
        for r in runs:
            if r["method"] == method and r["scope"] == "both":
                ax.plot(
                    r["fc2_pruned_percent"],
                    r["accuracy"],
                    "*",
                    ms=13,
                    color=colors[method],
                    label=f"{method}, fc2+fc3 pruned ({r['total_pruned_percent']:.1f} % of all params)",
                )
    dense = result.get("dense_accuracy")
    for a in (ax, ax0):
        if dense is not None:
            a.axhline(dense, color="k", lw=1, label=f"dense {dense:.2f} %")
            a.axhline(dense - 1.0, color="k", lw=0.8, ls=":", label="dense − 1 point")
        a.set_xlabel("fc2 weights pruned (%)")
        a.set_ylabel("test accuracy (%)")
        a.legend(fontsize=7, loc="best", framealpha=0.6)
    s = result.get("settings", {})
    groups = ", ".join(f"{p[1]}: G {g[0]}/{g[1]}" for p, g in s.get("groups", []))
    ax.set_title(f"after one retrain (m={s.get('samples_per_class')}; {groups})", fontsize=8)
    ax0.set_title("masked, before retraining", fontsize=9)
    fig.suptitle("MLP / Fashion-MNIST: MINT vs magnitude vs random at equal fc2 sparsity", fontsize=10)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig
