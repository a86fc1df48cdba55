"""One MINT step: threshold the scores into masks, install them, retrain once with the masks held.

Scores come from :mod:`mintlab.prune.scores`, thresholds and masks from :mod:`mintlab.prune.masks`;
:func:`prune` installs them and :func:`prune_and_retrain` is the paper's single prune → retrain step.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn
from torch.utils.data import Dataset

from mintlab._utils.checks import check_type
from mintlab.prune.masks import PruneSpec, apply_masks, model_summary, prune_summary, remaining_weights, weight_masks
from mintlab.prune.scores import ScoreSet

__all__ = ["prune", "prune_and_retrain"]


def prune(
    model: nn.Module,
    scores: ScoreSet,
    spec: PruneSpec | None = None,
    *,
    check: bool = True,
    **fields: Any,
) -> dict[str, Any]:
    """Threshold ``scores`` and install the masks on ``model`` (in place), no retraining.

    A model that is already pruned (it carries ``torch.nn.utils.prune`` masks, e.g. from an earlier round)
    is pruned further: the new masks multiply the old ones, and

    * ``prune_percent`` is the share of the weights that *remain* (as ``torch.nn.utils.prune`` counts
      ``amount`` on a pruned module): 50 % twice leaves 25 % of the weights; ``gamma`` likewise caps the
      share of what remains; ``delta`` is a threshold on the scores and means the same in every round;
    * ``summary`` describes the model as it is after this round (every zero of its effective weights,
      all rounds together), ``cut`` what this round removed, as shares of what remained before it.

    Args:
        model: the network the scores were computed for.
        scores: from :func:`mintlab.prune.scores.compute_scores`.
        spec: a :class:`~mintlab.prune.masks.PruneSpec`, or instead its fields as keywords
            (``delta``, ``prune_percent``, ``gamma``, ``skip``, ``seed``).
        check: first verify that the scores belong to this checkpoint and these layers
            (:meth:`ScoreSet.check_compatible`).

    Returns:
        ``{"keep": group keep-matrices, "summary": the model's pruned percentages
        (:func:`~mintlab.prune.masks.model_summary`), "cut": this round's, "spec": the PruneSpec}``;
        percentages as in :func:`~mintlab.prune.masks.prune_summary`.

    Raises:
        InvalidArgumentError: ``model`` is not a ``torch.nn.Module`` or ``scores`` not a :class:`ScoreSet`
            (before anything else), or a bad spec.
        ValueError: scores of another checkpoint or other layers (with ``check``).
    """
    _check_model_and_scores(model, scores)
    spec = PruneSpec.coerce(spec, **fields)
    if check:
        scores.check_compatible(model)
    remaining = remaining_weights(model, scores)
    keep = spec.keep(scores, remaining)
    apply_masks(model, weight_masks(model, keep, scores))
    cut = prune_summary(scores, keep) if remaining is None else _cut_summary(scores, keep, remaining)
    return {"keep": keep, "summary": model_summary(model, scores), "cut": cut, "spec": spec}


def _check_model_and_scores(model: Any, scores: Any) -> None:
    check_type(model, "model", nn.Module, "a torch.nn.Module")
    check_type(scores, "scores", ScoreSet, "a ScoreSet (from mintlab.prune.scores.compute_scores)")


def _cut_summary(scores: ScoreSet, keep: dict[str, np.ndarray], remaining: dict[str, np.ndarray]) -> dict[str, Any]:
    """What one round removed from a pruned model: per layer over the weights that remained before it."""
    per_layer, removed, before = {}, 0, 0
    for p in scores.pairs:
        w = remaining[p.child]
        gone = int(round(float(w[~np.asarray(keep[p.child], dtype=bool)].sum())))
        left = int(round(float(w.sum())))
        per_layer[p.child] = 100.0 * gone / left if left else 0.0
        removed, before = removed + gone, before + left
    return {"total": 100.0 * removed / before if before else 0.0, "per_layer": per_layer, "removed_weights": removed,
            "of": "remaining weights of the scored layers"}


def prune_and_retrain(
    model: nn.Module,
    scores: ScoreSet,
    spec: PruneSpec | None = None,
    *,
    train_data: Dataset,
    test_data: Dataset,
    recipe: Any,
    checkpoint_dir: str | Path | None = None,
    device: Any = None,
    seed: int = 0,
    progress: bool = True,
    max_batches: int | None = None,
    dense_accuracy: float | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """One MINT step: prune ``model`` in place with ``scores``, then retrain it once, masks held.

    The masks go through ``torch.nn.utils.prune`` so the optimizer updates ``weight_orig``
    while ``weight = weight_orig * weight_mask`` stays exactly zero where pruned.

    Departure from the paper: the paper reports the *best* test accuracy seen during
    retraining (model selection on the test set); mintlab reports the accuracy *after* the
    last retraining epoch, plus the training history for whoever wants the other.

    Args:
        model: the trained (dense) network; modified in place.
        scores: from :func:`mintlab.prune.scores.compute_scores` for this very checkpoint (checked).
        spec: a :class:`~mintlab.prune.masks.PruneSpec`, or instead its fields as keywords
            (``delta``, ``prune_percent``, ``gamma``, ``skip``; its tie ``seed`` is then ``seed``).
        train_data, test_data: datasets for :func:`mintlab.nets.train.train` / ``evaluate``.
        recipe: a :mod:`mintlab.nets.recipes` recipe (name or object accepted by ``train``).
        checkpoint_dir: where ``train`` checkpoints (a crash resumes there).
        device, seed, progress, max_batches: passed to ``train``.
        dense_accuracy: the dense accuracy if already known (skips one evaluation).

    Returns:
        ``{"keep", "summary", "spec", "accuracy_dense", "accuracy_pruned", "accuracy_retrained",
        "history", "seconds"}``, accuracies in percent on ``test_data``.
    """
    from mintlab.nets.train import evaluate, train

    _check_model_and_scores(model, scores)
    if spec is None:
        fields.setdefault("seed", seed)
    spec = PruneSpec.coerce(spec, **fields)
    start = time.perf_counter()
    scores.check_compatible(model)
    if dense_accuracy is None:
        dense_accuracy = evaluate(model, test_data, device=device)["accuracy"]
    result = prune(model, scores, spec, check=False)
    pruned_accuracy = evaluate(model, test_data, device=device)["accuracy"]
    history = train(
        model, train_data, test_data, recipe, checkpoint_dir=checkpoint_dir, device=device, seed=seed,
        progress=progress, max_batches=max_batches,
    )
    retrained_accuracy = evaluate(model, test_data, device=device)["accuracy"]
    return {
        **result,
        "accuracy_dense": float(dense_accuracy),
        "accuracy_pruned": float(pruned_accuracy),
        "accuracy_retrained": float(retrained_accuracy),
        "history": history,
        "seconds": time.perf_counter() - start,
    }
