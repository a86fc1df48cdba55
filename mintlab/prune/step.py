"""One MINT step: threshold the scores into masks, install them, retrain once with the masks held.

Scores come from :mod:`mintlab.prune.scores`, thresholds and masks from :mod:`mintlab.prune.masks` (and the
allocations of a comparison from :mod:`mintlab.prune.allocation`). :func:`prune` installs masks on a model;
:func:`run_step` is the one prune → retrain step every experiment, script and notebook uses: on a copy of the
dense network it masks, re-estimates BatchNorm (:func:`recalibrate_batchnorm`), evaluates, retrains, evaluates,
checks that the masks held, and times each stage, returning the network and its
:class:`~mintlab.prune.record.RunRecord`. :func:`prune_and_retrain` is the same step in place, for a user's own
network. :func:`dense_accuracy` measures the dense network the way the pruned ones are.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from mintlab.prune.masks import (
    PruneSpec,
    apply_masks,
    effective_weight,
    model_summary,
    prune_summary,
    remaining_weights,
    weight_masks,
)
from mintlab.prune.record import RunRecord, run_id
from mintlab.prune.scores import ScoreSet
from mintlab.utils.checks import InvalidArgumentError, check_int, check_type
from mintlab.utils.model_state import copy_model, preserved_state

__all__ = ["prune", "prune_and_retrain", "run_step", "dense_accuracy", "recalibrate_batchnorm", "check_masks_held"]


def prune(
    model: nn.Module,
    scores: ScoreSet,
    spec: PruneSpec | None = None,
    *,
    keep: Mapping[str, np.ndarray] | None = None,
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
        keep: instead of a spec, the group keep-matrices themselves (child → bool ``(G_child, G_parent)``, e.g.
            from :mod:`mintlab.prune.allocation`); ``spec`` is then ``None`` in the result.
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
    if keep is not None and (spec is not None or fields):
        raise InvalidArgumentError("Expected either `keep` or a spec (`spec` or its fields), but got both")
    if keep is None:
        spec = PruneSpec.coerce(spec, **fields)
    if check:
        scores.check_compatible(model)
    if spec is not None and scores.children and set(scores.children) <= set(spec.skip):
        raise InvalidArgumentError(
            f"Expected at least one scored layer not in `skip`, but every one is skipped "
            f"({sorted(spec.skip)}): nothing can be pruned"
        )
    remaining = remaining_weights(model, scores)
    if spec is None:
        keep = {c: np.asarray(k, dtype=bool) for c, k in keep.items()}
    else:
        keep = spec.keep(scores, remaining)
    apply_masks(model, weight_masks(model, keep, scores))
    cut = prune_summary(scores, keep) if remaining is None else _cut_summary(scores, keep, remaining)
    if spec is not None:
        _warn_if_short(spec, scores, keep, remaining)
    return {"keep": keep, "summary": model_summary(model, scores), "cut": cut, "spec": spec}


def _warn_if_short(
    spec: PruneSpec, scores: ScoreSet, keep: Mapping[str, np.ndarray], remaining: Mapping[str, np.ndarray] | None
) -> None:
    """Warn when ``prune_percent`` could not be met (γ caps, skips): the request must say that it fell short."""
    import warnings

    if spec.prune_percent is None or spec.prune_percent == 0:
        return
    active = [p for p in scores.pairs if p.child not in spec.skip]
    weights = {p.child: (p.cell_weights if remaining is None else np.asarray(remaining[p.child])) for p in active}
    total = sum(float(w.sum()) for w in weights.values())
    gone = sum(float(w[~np.asarray(keep[c], dtype=bool)].sum()) for c, w in weights.items())
    got = 100.0 * gone / total if total else 0.0
    block = max((float(w.max()) for w in weights.values() if w.size), default=0.0)
    if total == 0 or spec.prune_percent - got > 100.0 * block / total + 1e-9:  # more than one block short
        warnings.warn(
            f"prune_percent={spec.prune_percent:g} could not be met: {got:.2f} % of the unskipped layers' "
            f"weights were pruned (gamma={spec.gamma!r} caps each layer's share"
            f"{', skip=' + repr(list(spec.skip)) if spec.skip else ''})",
            UserWarning,
            stacklevel=3,
        )


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
    return {
        "total": 100.0 * removed / before if before else 0.0,
        "per_layer": per_layer,
        "removed_weights": removed,
        "of": "remaining weights of the scored layers",
    }


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
    bn_images: int = 1024,
    keep: Mapping[str, np.ndarray] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """One MINT step: prune ``model`` in place with ``scores``, then retrain it once, masks held.

    :func:`prune` (which prunes an already pruned model further), then :func:`run_step` on ``model`` itself
    (``in_place``, ``curve``): BatchNorm re-estimated on ``bn_images`` training images, evaluated, retrained with
    ``test_data`` evaluated after every epoch (the learning curve), evaluated, masks checked to hold.

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
        bn_images: BatchNorm re-estimation images after masking (0: none; a network without BatchNorm is
            unaffected).
        keep: instead of a spec, the keep-matrices (:func:`prune`).

    Returns:
        ``{"keep", "summary", "spec", "accuracy_dense", "accuracy_pruned", "accuracy_retrained",
        "history", "seconds", "stage_seconds"}``, accuracies in percent on ``test_data``.

    Raises:
        RuntimeError: a masked weight is not zero after retraining.
    """
    from mintlab.nets.train import evaluate

    _check_model_and_scores(model, scores)
    if keep is None:
        if spec is None:
            fields.setdefault("seed", seed)
        spec = PruneSpec.coerce(spec, **fields)
    start = time.perf_counter()
    scores.check_compatible(model)
    if dense_accuracy is None:
        dense_accuracy = evaluate(model, test_data, device=device)["accuracy"]
    result = prune(model, scores, spec, keep=keep, check=False)
    masks = {name: m.weight_mask.detach().clone() for name, m in model.named_modules() if hasattr(m, "weight_mask")}
    _, record = run_step(model, masks, scores, train_data=train_data, test_data=test_data, recipe=recipe, seed=seed,
                         bn_images=bn_images, max_batches=max_batches, checkpoint_dir=checkpoint_dir, device=device,
                         progress=progress, in_place=True, curve=True)  # fmt: skip
    return {
        **result,
        "accuracy_dense": float(dense_accuracy),
        "accuracy_pruned": record.accuracy_pruned,
        "accuracy_retrained": record.accuracy_retrained,
        "history": record.extra["history"],
        "seconds": time.perf_counter() - start,
        "stage_seconds": {k: v for k, v in record.seconds.items() if k in ("bn", "evaluate", "retrain", "check")},
    }


# --------------------------------------------------------------------------- the one step


def _batches(data: Dataset, indices: np.ndarray, batch_size: int):
    """Batches of ``data[indices]`` (in-memory tensors by indexing, other data sets through a DataLoader)."""
    from torch.utils.data import DataLoader, Subset, TensorDataset

    if isinstance(data, TensorDataset) and len(data.tensors) == 2:
        x = data.tensors[0]
        for lo in range(0, len(indices), batch_size):
            yield x.index_select(0, torch.as_tensor(indices[lo : lo + batch_size], dtype=torch.long))
        return
    for batch in DataLoader(Subset(data, indices.tolist()), batch_size=batch_size, shuffle=False):
        yield batch[0]


def recalibrate_batchnorm(
    model: nn.Module, data: Dataset, *, images: int = 1024, seed: int = 0, batch_size: int = 256, device: Any = None
) -> nn.Module:
    """Re-estimate every BatchNorm layer's running mean and variance on ``images`` training images (in place).

    Masking weights shifts each layer's output statistics, so the running statistics the dense network learnt
    no longer fit: evaluated as is, a VGG16-BN with 30 % of its weights masked by *magnitude* fell from 84 % to
    11 % accuracy here (an under-trained network, Fashion-MNIST 32×32, width ¼), and back to 85 % after this
    recalibration, without any gradient step. The statistics are reset and re-estimated as a cumulative average
    (``momentum=None``) over a seeded random subset, in train mode without gradients; every module's mode and
    the momentum settings are restored afterwards. Source: "adaptive batch normalization" of Li et al. (2020),
    "EagleEye: Fast Sub-net Evaluation for Efficient Neural Network Pruning". ``images=0`` leaves the model as
    it is. Returns ``model``.

    Raises:
        InvalidArgumentError: ``images`` or ``batch_size`` not an int (``images`` >= 0, ``batch_size`` >= 1).
    """
    images = check_int(images, "images", minimum=0)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns or images == 0:
        return model
    idx = np.random.default_rng(seed).permutation(len(data))[: min(images, len(data))]
    dev = device if device is not None else next((p.device for p in model.parameters()), torch.device("cpu"))
    saved = [m.momentum for m in bns]
    with preserved_state(model):  # every module's mode comes back as it was, one by one
        try:
            for m in bns:
                m.reset_running_stats()
                m.momentum = None
            model.train()
            with torch.no_grad():
                for x in _batches(data, idx, batch_size):
                    model(x.to(dev))
        finally:
            for m, mom in zip(bns, saved):
                m.momentum = mom
    return model


def check_masks_held(model: nn.Module, masks: Mapping[str, torch.Tensor], what: str = "") -> None:
    """Raise ``RuntimeError`` naming the layer when a masked weight of ``model`` is not zero (after retraining)."""
    modules = dict(model.named_modules())
    for name, mask in masks.items():
        weight = effective_weight(modules[name]).detach()
        if bool((weight[mask.to(weight.device) == 0] != 0).any()):
            where = f" ({what})" if what else ""
            raise RuntimeError(f"A masked weight of {name!r} is not zero after retraining{where}")


def dense_accuracy(
    dense: nn.Module,
    train_data: Dataset,
    test_data: Dataset,
    *,
    bn_images: int = 1024,
    seed: int = 0,
    device: Any = None,
) -> float:
    """Test accuracy (%) of ``dense`` measured as :func:`run_step` measures a pruned network: on a copy, after
    the same BatchNorm re-estimation (``bn_images`` training images drawn with ``seed``). ``dense`` is untouched."""
    from mintlab.nets.train import evaluate

    net = copy_model(dense)
    recalibrate_batchnorm(net, train_data, images=bn_images, seed=seed, device=device)
    return float(evaluate(net, test_data, device=device)["accuracy"])


def _weight_masks_of(
    net: nn.Module, keep: Any, scores: ScoreSet | None
) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """(weight masks, per-layer % they remove) from keep-matrices or a spec over ``scores``, or given masks."""
    if isinstance(keep, PruneSpec):
        if scores is None:
            raise InvalidArgumentError("Expected `scores` with a PruneSpec (it thresholds them), but got None")
        keep = keep.keep(scores)
    if not isinstance(keep, Mapping) or not keep:
        raise InvalidArgumentError(
            f"Expected `keep` as keep-matrices, weight masks or a PruneSpec, but got "
            f"{type(keep).__name__}{' (empty)' if isinstance(keep, Mapping) else ''}"
        )
    if all(isinstance(v, torch.Tensor) for v in keep.values()):  # weight masks (MIPP's units, a user's own)
        masks = dict(keep)
        return masks, {k: 100.0 * float((m == 0).sum()) / m.numel() for k, m in masks.items()}
    if scores is None:
        raise InvalidArgumentError("Expected `scores` with keep-matrices (their groups give the weights), but got None")
    return weight_masks(net, keep, scores), prune_summary(scores, keep)["per_layer"]


def run_step(
    dense: nn.Module,
    keep: Mapping[str, np.ndarray] | Mapping[str, torch.Tensor] | PruneSpec,
    scores: ScoreSet | None = None,
    *,
    train_data: Dataset,
    test_data: Dataset,
    recipe: Any,
    seed: int = 0,
    method: str = "custom",
    allocation: str | None = None,
    target_percent: float | None = None,
    delta: float | None = None,
    sweep: bool = False,
    accuracy_dense: float | None = None,
    bn_images: int = 1024,
    max_batches: int | None = None,
    score_seconds: float | None = None,
    checkpoint_dir: str | Path | None = None,
    device: Any = None,
    progress: bool = False,
    in_place: bool = False,
    curve: bool = False,
) -> tuple[nn.Module, RunRecord]:
    """The prune → retrain step on a copy of ``dense``: mask, re-estimate BatchNorm, evaluate, retrain, evaluate.

    Stages (each timed, :data:`mintlab.prune.record.STAGES`): the keep-matrices (or ``keep.keep(scores)`` for a
    :class:`~mintlab.prune.masks.PruneSpec`, or weight masks as they are) become ``torch.nn.utils.prune`` masks
    on a copy of ``dense``;
    BatchNorm statistics are re-estimated on ``bn_images`` training images (:func:`recalibrate_batchnorm`);
    the masked network is evaluated on all of ``test_data``; it is retrained once with ``recipe`` (every
    epoch a full pass over ``train_data`` unless ``max_batches`` caps it), masks held; evaluated again; and
    every masked weight is checked to be zero. Departure from the paper: the accuracy reported is that of the
    last retraining epoch, never the best epoch on the test set.

    Args:
        dense: the trained network (left untouched unless ``in_place``).
        keep: child → boolean ``(G_child, G_parent)`` keep-matrix, a PruneSpec applied to ``scores``, or
            module name → float 0/1 weight mask shaped like its weight (structured methods such as MIPP).
        scores: the score set the keep-matrices refer to (their group geometry); not needed for weight masks.
        train_data, test_data: retraining and BatchNorm images; evaluation images.
        recipe: the retraining recipe (a name in :data:`mintlab.nets.recipes.RECIPES` or a Recipe).
        seed: the BatchNorm subset's and the retraining's seed.
        method, allocation, target_percent, delta, sweep: what the record says the run was.
        accuracy_dense: the dense accuracy to record (:func:`dense_accuracy`), if known.
        bn_images: BatchNorm re-estimation images (0: none).
        max_batches: batches per retraining epoch (``None``: all).
        score_seconds: the scoring time to record as the ``"score"`` stage.
        checkpoint_dir: retraining checkpoints (an interrupted retrain resumes there).
        device, progress: see :func:`mintlab.nets.train.train`.
        in_place: mask and retrain ``dense`` itself instead of a copy (weight masks ``dense`` already carries
            are not installed twice: torch would multiply a mask by itself, the same zeros).
        curve: evaluate ``test_data`` after every retraining epoch too; the training history (the learning
            curve) is then ``record.extra["history"]``.

    Returns:
        ``(retrained network in eval mode, its RunRecord)``.

    Raises:
        InvalidArgumentError: ``dense`` not a module, ``scores`` not a ScoreSet, bad keep-matrices.
        RuntimeError: a masked weight is not zero after retraining.
    """
    from mintlab.nets.models import count_parameters
    from mintlab.nets.recipes import get_recipe
    from mintlab.nets.train import evaluate, train
    from mintlab.prune.metrics import csr_memory_mb, params_pruned_percent

    check_type(dense, "dense", nn.Module, "a torch.nn.Module")
    if scores is not None:
        _check_model_and_scores(dense, scores)
    seconds = {"score": float(score_seconds or 0.0)}
    t0 = time.perf_counter()
    net = dense if in_place else copy_model(dense)
    masks, mask_share = _weight_masks_of(net, keep, scores)
    apply_masks(net, {k: m for k, m in masks.items() if not _carries(net, k, m)})
    mask_seconds = time.perf_counter() - t0
    rid = run_id(allocation, seed, target_percent, method)
    t1 = time.perf_counter()
    recalibrate_batchnorm(net, train_data, images=bn_images, seed=seed, device=device)
    t2 = time.perf_counter()
    accuracy_pruned = float(evaluate(net, test_data, device=device)["accuracy"])
    t3 = time.perf_counter()
    history = train(net, train_data, test_data if curve else None, recipe, checkpoint_dir=checkpoint_dir,
                    device=device, seed=seed, progress=progress, max_batches=max_batches)  # fmt: skip
    t4 = time.perf_counter()
    accuracy_retrained = float(evaluate(net, test_data, device=device)["accuracy"])
    t5 = time.perf_counter()
    check_masks_held(net, masks, f"run {rid}")
    seconds.update(mask=mask_seconds, bn=t2 - t1, evaluate=(t3 - t2) + (t5 - t4), retrain=t4 - t3,
                   check=time.perf_counter() - t5)  # fmt: skip
    rec = get_recipe(recipe)
    total = scores.meta.get("total_params") if scores is not None else None
    pruned = params_pruned_percent(net, layers=list(masks), total_params=total or count_parameters(dense))
    record = RunRecord(
        run_id=rid,
        method=method,
        allocation=allocation,
        seed=int(seed),
        target_percent=target_percent,
        delta=delta,
        pruned_percent=pruned["total"],
        per_layer_pruned_percent=pruned["per_layer"],
        mask_pruned_percent=mask_share,
        accuracy_dense=accuracy_dense,
        accuracy_pruned=accuracy_pruned,
        accuracy_retrained=accuracy_retrained,
        csr_memory_mb=csr_memory_mb(net),
        retrain_epochs=rec.epochs,
        retrain_max_batches=max_batches,
        seconds=seconds,
        sweep=bool(sweep),
        retrain_mode=history.get("training_mode"),
        extra={"history": history} if curve else {},
    )
    return net.eval(), record


def _carries(net: nn.Module, name: str, mask: torch.Tensor) -> bool:
    """Whether module ``name`` of ``net`` already carries exactly ``mask`` as its pruning mask."""
    current = getattr(dict(net.named_modules()).get(name), "weight_mask", None)
    return current is not None and current.shape == mask.shape and torch.equal(current, mask.to(current))
