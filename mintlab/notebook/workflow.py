"""The notebooks' workflow in a few cached calls: network → scores per method → one prune → retrain step.

Notebooks 2–4 share these so that a score matrix or a retrained network computed by one notebook is
reloaded, not recomputed, by the next (same settings → same cache key):

* :func:`method_scores` — :func:`mintlab.prune.scores.compute_scores` with the method's scorer, cached under
  ``cache_root()/scores``;
* :func:`pruned_network` — one prune → retrain step (:func:`mintlab.prune.step.prune_and_retrain`) whose
  result (masked ``state_dict`` + numbers) is kept under ``cache_root()/pruned/<key>``;
* :func:`compare_methods` — the paper's Table I for several methods at *equal sparsity*: the first method
  sets the fraction of weights removed (by δ or a prune percentage), every other method removes the same
  fraction through a global prune percentage.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from mintlab._utils.io import to_jsonable, write_bytes_atomic, write_json_atomic
from mintlab.prune.masks import load_masked_state_dict
from mintlab.prune.metrics import (
    csr_memory_mb,
    disconnected_units,
    params_pruned_percent,
)
from mintlab.prune.scorers import get_scorer
from mintlab.prune.scores import ScoreSet, compute_scores
from mintlab.prune.step import prune_and_retrain

__all__ = ["method_scores", "pruned_network", "compare_methods", "table_rows"]


def _pairs_groups(pairs: Sequence[Sequence[str]], groups: Sequence[Sequence[int]] | Mapping | tuple) -> Any:
    """Groups as given (one ``(G_parent, G_child)`` for all pairs / a mapping), or a list aligned with ``pairs``."""
    if isinstance(groups, Mapping):
        return groups
    items = list(groups)
    if len(items) == 2 and all(isinstance(g, (int, np.integer)) and not isinstance(g, bool) for g in items):
        return tuple(int(g) for g in items)
    if len(items) != len(pairs):
        raise ValueError(f"Expected one (G_parent, G_child) per layer pair ({len(pairs)}), but got {len(items)}")
    return {tuple(p): tuple(g) for p, g in zip(pairs, items)}


def method_scores(
    model: nn.Module,
    train_data: Dataset,
    pairs: Sequence[Sequence[str]],
    method: str,
    *,
    groups: Any,
    samples_per_class: int,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    dataset_name: str | None = None,
    progress: bool = True,
    **options: Any,
) -> ScoreSet:
    """Scores of ``method`` (``"mint"``, ``"mint_paper"``, ``"magnitude"``, ``"random"``) for every pair, cached.

    ``groups``: one ``(G_parent, G_child)`` for all pairs, or one per pair (aligned with ``pairs``), or a
    mapping pair → ``(G_parent, G_child)``. Cached under ``cache_dir`` (default ``cache_root()/scores``).
    """
    from mintlab.nets.pretrained import cache_root

    folder = Path(cache_dir) if cache_dir is not None else cache_root() / "scores"
    return compute_scores(model, train_data, pairs, get_scorer(method, **options),
                          groups=_pairs_groups(pairs, groups), samples_per_class=samples_per_class, seed=seed,
                          cache_dir=folder, dataset_name=dataset_name, progress=progress)


def _recipe(name: str, epochs: int | None) -> Any:
    from mintlab.nets.recipes import get_recipe

    recipe = get_recipe(name)
    if epochs is not None:
        if int(epochs) < 1:
            raise ValueError(f"Expected `retrain_epochs` >= 1, but got {epochs}")
        recipe = dataclasses.replace(recipe, epochs=int(epochs),
                                     milestones=tuple(m for m in recipe.milestones if m < int(epochs)))
    return recipe


def pruned_network(
    model: nn.Module,
    scores: ScoreSet,
    *,
    train_data: Dataset,
    test_data: Dataset,
    delta: float | None = None,
    prune_percent: float | None = None,
    gamma: Any = None,
    skip: Iterable[str] = (),
    retrain_recipe: str = "quick_retrain",
    retrain_epochs: int | None = None,
    max_batches: int | None = None,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    device: Any = None,
    progress: bool = True,
) -> tuple[nn.Module, dict[str, Any]]:
    """One prune → retrain step on a *copy* of ``model``; cached by everything that determines it.

    Returns ``(pruned model with its torch-prune masks, record)`` where the record holds the numbers of
    the paper's Table I (params pruned overall and per layer, accuracy dense / after pruning / after the
    retrain, CSR memory) plus the retraining history and the units left without inputs or outputs.
    A finished step is reloaded from ``cache_dir`` (default ``cache_root()/pruned``); an interrupted one
    resumes from its last retraining epoch.
    """
    from mintlab.nets.pretrained import cache_root

    skip = [skip] if isinstance(skip, str) else list(skip)
    recipe = _recipe(retrain_recipe, retrain_epochs)
    key_src = {
        "scores": scores.meta.get("cache_key"), "model_hash": scores.meta.get("model_hash"),
        "delta": delta, "prune_percent": prune_percent, "gamma": to_jsonable(gamma), "skip": sorted(skip),
        "recipe": dataclasses.asdict(recipe), "max_batches": max_batches, "seed": seed,
        "train_size": len(train_data), "test_size": len(test_data),
    }
    key = hashlib.sha256(json.dumps(key_src, sort_keys=True, default=str).encode()).hexdigest()[:16]
    folder = (Path(cache_dir) if cache_dir is not None else cache_root() / "pruned") / key
    net = copy.deepcopy(model)
    done = folder / "result.json"
    scores.check_compatible(model)  # also on a cache hit: these scores must belong to this checkpoint
    if done.exists() and (folder / "pruned.pt").exists():
        state = torch.load(folder / "pruned.pt", map_location="cpu", weights_only=True)
        load_masked_state_dict(net, state)
        return net, json.loads(done.read_text())
    out = prune_and_retrain(net, scores, delta=delta, prune_percent=prune_percent, gamma=gamma, skip=skip,
                            train_data=train_data, test_data=test_data, recipe=recipe,
                            checkpoint_dir=folder / "retrain", device=device, seed=seed, progress=progress,
                            max_batches=max_batches)
    pruned = params_pruned_percent(net)
    pairs = [tuple(p) for p in scores.meta.get("pairs", [p.pair for p in scores.pairs])]
    record = {
        "method": scores.meta.get("scorer", {}).get("name"),
        "delta": delta, "prune_percent": prune_percent, "gamma": gamma, "skip": skip,
        "params_pruned_percent": pruned["total"], "per_layer_pruned_percent": pruned["per_layer"],
        "accuracy_dense": out["accuracy_dense"], "accuracy_pruned": out["accuracy_pruned"],
        "accuracy_retrained": out["accuracy_retrained"], "csr_memory_mb": csr_memory_mb(net),
        "disconnected": {c: {k: len(d[k]) for k in ("child_without_inputs", "parent_without_outputs")}
                         for c, d in disconnected_units(net, pairs).items()},
        "history": out["history"], "seconds": out["seconds"], "cache_key": key,
    }
    record = json.loads(json.dumps(to_jsonable(record)))
    buf = io.BytesIO()
    torch.save({k: v.cpu() for k, v in net.state_dict().items()}, buf)
    write_bytes_atomic(folder / "pruned.pt", buf.getvalue())
    write_json_atomic(done, record)
    return net, record


def compare_methods(
    model: nn.Module,
    score_sets: Mapping[str, ScoreSet],
    *,
    train_data: Dataset,
    test_data: Dataset,
    delta: float | None = None,
    prune_percent: float | None = None,
    gamma: Any = None,
    skip: Iterable[str] = (),
    **kwargs: Any,
) -> dict[str, tuple[nn.Module, dict[str, Any]]]:
    """One prune → retrain step per method at equal sparsity (see the module docstring).

    The first entry of ``score_sets`` is pruned with ``delta`` (or ``prune_percent``) and ``gamma``; the
    others with the prune percentage of the non-skipped layers' weights that the first one actually removed,
    *without* a γ cap (a cap would make them remove less than the first method, breaking equal sparsity).
    Other keyword arguments go to :func:`pruned_network`.
    """
    if not score_sets:
        raise ValueError("Expected at least one method in `score_sets`, but got none")
    skip = [skip] if isinstance(skip, str) else list(skip)
    results: dict[str, tuple[nn.Module, dict[str, Any]]] = {}
    matched: float | None = None
    for k, (method, scores) in enumerate(score_sets.items()):
        if k == 0:
            net, rec = pruned_network(model, scores, train_data=train_data, test_data=test_data, delta=delta,
                                      prune_percent=prune_percent, gamma=gamma, skip=skip, **kwargs)
            layers = [c for c in rec["per_layer_pruned_percent"] if c not in skip and c in scores.children]
            weights = scores.meta["layer_weights"]
            removed = sum(rec["per_layer_pruned_percent"][c] / 100.0 * weights[c] for c in layers)
            matched = 100.0 * removed / sum(weights[c] for c in layers)
        else:
            net, rec = pruned_network(model, scores, train_data=train_data, test_data=test_data,
                                      prune_percent=matched, skip=skip, **kwargs)
        rec["method"] = method
        results[method] = (net, rec)
    return results


def table_rows(results: Mapping[str, tuple[nn.Module, Mapping[str, Any]]], *, dense_accuracy: float,
               dense_memory_mb: float) -> list[dict[str, Any]]:
    """Rows of the paper's Table I: method, params pruned (%), accuracy (%), memory (Mb)."""
    rows = [{"method": "baseline (dense)", "params_pruned_percent": None, "accuracy": dense_accuracy,
             "csr_memory_mb": dense_memory_mb}]
    for method, (_, rec) in results.items():
        rows.append({"method": method, "params_pruned_percent": rec["params_pruned_percent"],
                     "accuracy": rec["accuracy_retrained"], "accuracy_before_retrain": rec["accuracy_pruned"],
                     "csr_memory_mb": rec["csr_memory_mb"], "per_layer_pruned_percent": rec["per_layer_pruned_percent"]})
    return rows
