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

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from mintlab.nets.checkpoints import load_masked_state_dict
from mintlab.prune.masks import PruneSpec
from mintlab.prune.metrics import pruning_report
from mintlab.prune.scorers import Scorer, get_scorer
from mintlab.prune.scores import ScoreSet, compute_scores
from mintlab.prune.step import prune_and_retrain
from mintlab.utils.checks import check_int
from mintlab.utils.io import json_key, to_jsonable, write_atomic, write_json_atomic
from mintlab.utils.model_state import copy_model

__all__ = ["method_null_scores", "method_scores", "pruned_network", "compare_methods", "table_rows"]


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
    null: bool = False,
    **options: Any,
) -> ScoreSet:
    """Scores of ``method`` (a ``"blocks"`` name of :func:`mintlab.prune.methods.method_names`) for every pair, cached.

    ``groups``: one ``(G_parent, G_child)`` for all pairs, or one per pair (aligned with ``pairs``), or a
    mapping pair → ``(G_parent, G_child)``. Cached under ``cache_dir`` (default ``cache_root()/scores``).
    ``null``: score under independence instead (:func:`method_null_scores`). ``options`` go to the scorer.
    """
    scorer = get_scorer(method, **options)
    if null:
        from mintlab.prune.noise import PermutationNullScorer

        scorer = PermutationNullScorer(scorer)
    return _cached_scores(
        model,
        train_data,
        pairs,
        scorer,
        groups=groups,
        samples_per_class=samples_per_class,
        seed=seed,
        cache_dir=cache_dir,
        dataset_name=dataset_name,
        progress=progress,
    )


def method_null_scores(
    model: nn.Module, train_data: Dataset, pairs: Sequence[Sequence[str]], method: str, **kwargs: Any
) -> ScoreSet:
    """:func:`method_scores` under independence (the same keywords): the same pairs scored by
    :class:`mintlab.prune.noise.PermutationNullScorer` (child rows shuffled), cached alike. Its quantiles
    are the noise level a score must clear (:func:`mintlab.prune.noise.above_noise`).
    """
    return method_scores(model, train_data, pairs, method, null=True, **kwargs)


def _cached_scores(
    model: nn.Module,
    train_data: Dataset,
    pairs: Sequence[Sequence[str]],
    scorer: Scorer,
    *,
    cache_dir: str | Path | None,
    **settings: Any,
) -> ScoreSet:
    """:func:`compute_scores` with ``scorer``, cached under ``cache_dir`` (default ``cache_root()/scores``)."""
    from mintlab.nets.pretrained import cache_root

    folder = Path(cache_dir) if cache_dir is not None else cache_root() / "scores"
    return compute_scores(model, train_data, pairs, scorer, cache_dir=folder, **settings)


def pruned_network(
    model: nn.Module,
    scores: ScoreSet,
    spec: PruneSpec | None = None,
    *,
    train_data: Dataset,
    test_data: Dataset,
    retrain_recipe: str = "quick_retrain",
    retrain_epochs: int | None = None,
    max_batches: int | None = None,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    device: Any = None,
    progress: bool = True,
    keep: Mapping[str, Any] | None = None,
    **fields: Any,
) -> tuple[nn.Module, dict[str, Any]]:
    """One prune → retrain step on a *copy* of ``model``; cached by everything that determines it.

    ``spec`` is a :class:`~mintlab.prune.masks.PruneSpec` (or its fields as keywords: ``delta``,
    ``prune_percent``, ``gamma``, ``skip``; the tie seed is then ``seed``), or ``keep`` gives the group
    keep-matrices instead (:mod:`mintlab.prune.allocation`).

    Returns ``(pruned model with its torch-prune masks, record)`` where the record is
    :func:`mintlab.prune.metrics.pruning_report` of the pruned network (the paper's Table I numbers:
    params pruned overall and per layer, accuracy dense / after pruning / after the retrain, CSR
    memory, units left without inputs or outputs) plus the spec, the retraining history and timing.
    A finished step is reloaded from ``cache_dir`` (default ``cache_root()/pruned``); an interrupted one
    resumes from its last retraining epoch.
    """
    from mintlab.nets.pretrained import cache_root
    from mintlab.nets.recipes import get_recipe

    if keep is None:
        if spec is None:
            fields.setdefault("seed", seed)
        spec = PruneSpec.coerce(spec, **fields)
    recipe = get_recipe(retrain_recipe, epochs=check_int(retrain_epochs, "retrain_epochs", minimum=1, allow_none=True))
    chosen = (
        {"delta": spec.delta, "prune_percent": spec.prune_percent, "gamma": to_jsonable(spec.gamma),
         "skip": sorted(spec.skip)}
        if keep is None
        else {"keep": {c: np.packbits(np.asarray(k, dtype=bool)).tobytes().hex() for c, k in sorted(keep.items())}}
    )  # fmt: skip
    key = json_key(
        {
            "scores": scores.meta.get("cache_key"),
            "model_hash": scores.meta.get("model_hash"),
            **chosen,
            "recipe": dataclasses.asdict(recipe),
            "max_batches": max_batches,
            "seed": seed,
            "train_size": len(train_data),
            "test_size": len(test_data),
        }
    )
    folder = (Path(cache_dir) if cache_dir is not None else cache_root() / "pruned") / key
    net = copy_model(model)  # copy.deepcopy fails on torch-prune reparametrised modules
    done = folder / "result.json"
    scores.check_compatible(model)  # also on a cache hit: these scores must belong to this checkpoint
    if done.exists() and (folder / "pruned.pt").exists():
        state = torch.load(folder / "pruned.pt", map_location="cpu", weights_only=True)
        load_masked_state_dict(net, state)
        return net, json.loads(done.read_text())
    out = prune_and_retrain(
        net,
        scores,
        spec,
        train_data=train_data,
        test_data=test_data,
        recipe=recipe,
        checkpoint_dir=folder / "retrain",
        device=device,
        seed=seed,
        progress=progress,
        max_batches=max_batches,
        keep=keep,
    )
    pairs = [tuple(p) for p in scores.meta.get("pairs", [p.pair for p in scores.pairs])]
    record = {
        "method": scores.meta.get("scorer", {}).get("name"),
        **(spec.to_dict() if keep is None else {"keep_given": True}),
        **pruning_report(
            net,
            pairs,
            accuracy_dense=out["accuracy_dense"],
            accuracy_pruned=out["accuracy_pruned"],
            accuracy_retrained=out["accuracy_retrained"],
        ),
        "history": out["history"],
        "seconds": out["seconds"],
        "cache_key": key,
    }
    record = json.loads(json.dumps(to_jsonable(record)))
    state = {k: v.cpu() for k, v in net.state_dict().items()}
    write_atomic(folder / "pruned.pt", lambda fh: torch.save(state, fh))
    write_json_atomic(done, record)
    return net, record


def compare_methods(
    model: nn.Module,
    score_sets: Mapping[str, ScoreSet],
    spec: PruneSpec | None = None,
    *,
    train_data: Dataset,
    test_data: Dataset,
    seed: int = 0,
    delta: float | None = None,
    prune_percent: float | None = None,
    gamma: Any = None,
    skip: Iterable[str] = (),
    allocation: str = "global",
    **kwargs: Any,
) -> dict[str, tuple[nn.Module, dict[str, Any]]]:
    """One prune → retrain step per method at equal sparsity (see the module docstring).

    The first entry of ``score_sets`` is pruned with ``spec`` (or its fields ``delta`` / ``prune_percent``,
    ``gamma``, ``skip``). The others follow it by ``allocation``:

    * ``"global"``: each removes the prune percentage of the non-skipped layers' weights that the first one
      actually removed, ranking its blocks across all those layers, *without* a γ cap (a cap would make them
      remove less than the first method, breaking equal sparsity);
    * ``"mint"``: the first one is pruned by MINT's rule at a level: ``prune_percent`` is then the share of *all*
      parameters, reached by the δ that :func:`mintlab.prune.allocation.keep_for_level` finds with the γ caps
      held (``gamma``: ``{child: cap}`` or one cap for every layer; a ``delta`` given is used as it is); each
      other method removes, layer by layer, the share the first one removed there, by its own ranking within
      the layer (:func:`mintlab.prune.allocation.keep_following`). The paper's comparison, and the evidence's:
      MINT's δ and γ set where the network is pruned, the scores only choose which blocks go. On a deep CNN a
      global ranking can empty whole layers (weights of late layers are smaller), which cuts the network
      (:func:`mintlab.prune.metrics.live_units`).

    Other keyword arguments go to :func:`pruned_network`.

    Raises:
        ValueError: no score set, or an unknown ``allocation``.
    """
    from mintlab.prune.allocation import keep_following, keep_for_level

    if not score_sets:
        raise ValueError("Expected at least one method in `score_sets`, but got none")
    if allocation not in ("global", "mint"):
        raise ValueError(f"Expected `allocation` among ('global', 'mint'), but got {allocation!r}")
    spec = PruneSpec.coerce(spec, delta=delta, prune_percent=prune_percent, gamma=gamma, skip=skip, seed=seed)
    results: dict[str, tuple[nn.Module, dict[str, Any]]] = {}
    matched: PruneSpec | None = None
    leader_keep: dict[str, Any] | None = None
    for k, (method, scores) in enumerate(score_sets.items()):
        if k == 0 and allocation == "mint" and spec.delta is None:  # δ found for the level, γ caps held
            caps = spec.gamma if isinstance(spec.gamma, Mapping) or spec.gamma is None else {
                c: float(spec.gamma) for c in scores.children
            }  # fmt: skip
            level_delta, leader_keep = keep_for_level(
                scores, spec.prune_percent, gamma=caps, skip=spec.skip, seed=spec.seed
            )
            net, rec = pruned_network(
                model, scores, None, keep=leader_keep, train_data=train_data, test_data=test_data, seed=seed, **kwargs
            )
            rec.update(delta=level_delta, level_percent_of_all_params=spec.prune_percent)
        elif k == 0:
            net, rec = pruned_network(
                model, scores, spec, train_data=train_data, test_data=test_data, seed=seed, **kwargs
            )
            leader_keep = spec.keep(scores)
        if k == 0:
            active = [p for p in scores.pairs if p.child not in spec.skip]
            removed = sum(p.removed_weights(leader_keep[p.child]) for p in active)
            percent = 100.0 * removed / sum(int(p.cell_weights.sum()) for p in active)
            matched = PruneSpec(prune_percent=percent, skip=spec.skip, seed=spec.seed)
        elif allocation == "mint":
            keep = keep_following(scores, leader_keep, seed=seed)
            net, rec = pruned_network(
                model, scores, None, keep=keep, train_data=train_data, test_data=test_data, seed=seed, **kwargs
            )
        else:
            net, rec = pruned_network(
                model, scores, matched, train_data=train_data, test_data=test_data, seed=seed, **kwargs
            )
        rec["method"] = method
        rec["allocation"] = allocation
        results[method] = (net, rec)
    return results


def table_rows(
    results: Mapping[str, tuple[nn.Module, Mapping[str, Any]]], *, dense_accuracy: float, dense_memory_mb: float
) -> list[dict[str, Any]]:
    """Rows of the paper's Table I: method, params pruned (%), accuracy (%), memory (Mb)."""
    rows = [
        {
            "method": "baseline (dense)",
            "params_pruned_percent": None,
            "accuracy": dense_accuracy,
            "csr_memory_mb": dense_memory_mb,
        }
    ]
    for method, (_, rec) in results.items():
        rows.append(
            {
                "method": method,
                "params_pruned_percent": rec["params_pruned_percent"],
                "accuracy": rec["accuracy_retrained"],
                "accuracy_before_retrain": rec["accuracy_pruned"],
                "csr_memory_mb": rec["csr_memory_mb"],
                "per_layer_pruned_percent": rec["per_layer_pruned_percent"],
            }
        )
    return rows
