"""From scores to masks: δ / prune-percentage thresholds, the γ cap, and torch pruning masks.

Two levels:

* **group masks** — :func:`masks_from_scores` turns a :class:`~mintlab.prune.scores.ScoreSet`
  into one boolean ``(G_child, G_parent)`` *keep* matrix per child layer, and
  :func:`prune_summary` tells the pruned percentages from group sizes alone. Both are pure
  NumPy on small matrices (milliseconds for the MLP), so sliders can call them on every move.
* **weight masks** — :func:`weight_masks` expands the group cells to each weight tensor
  (linear: entries; conv: whole ``kh×kw`` kernels; linear after a flatten: all ``h·w``
  columns of a parent channel) and :func:`apply_masks` installs them with
  ``torch.nn.utils.prune.custom_from_mask``, so they hold during retraining
  (``weight = weight_orig * weight_mask``) and travel in the ``state_dict``;
  :func:`make_permanent` calls ``prune.remove``; a saved masked state loads back with
  :func:`mintlab.nets.checkpoints.load_masked_state_dict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from mintlab.prune.activations import pair_geometry
from mintlab.prune.scores import PairScores, ScoreSet
from mintlab.utils.checks import InvalidArgumentError, check_fraction, check_number, check_seed

__all__ = [
    "PruneSpec",
    "masks_from_scores",
    "prune_summary",
    "weight_masks",
    "apply_masks",
    "make_permanent",
    "effective_weight",
    "model_summary",
    "remaining_weights",
    "threshold_for_fraction",
    "remove_by_rank",
]

Gamma = float | Mapping[str, float] | Mapping[tuple[str, str], float] | None


def threshold_for_fraction(scores: np.ndarray, weights: np.ndarray, fraction: float, *, at_most: bool) -> float:
    """Threshold ``t`` (keep ``score >= t``) removing a weighted ``fraction`` of the cells.

    Cells with equal scores go together, so the removed fraction moves in steps. With
    ``at_most=True`` the largest removal ``<= fraction`` is taken (the γ cap); otherwise
    the removal closest to ``fraction`` (the global prune percentage).

    >>> threshold_for_fraction(np.array([0.1, 0.2, 0.3, 0.4]), np.ones(4), 0.5, at_most=True)
    0.3
    """
    s, w = np.ravel(scores), np.ravel(weights).astype(np.float64)
    values, inverse = np.unique(s, return_inverse=True)
    # removed[k]: weighted fraction removed when the threshold is values[k] (cells < values[k] go);
    # removed[-1]: everything goes (threshold above the maximum).
    per_value = np.bincount(inverse, weights=w, minlength=len(values)) / w.sum()
    removed = np.concatenate([[0.0], np.cumsum(per_value)])
    thresholds = np.concatenate([values, [np.inf]])
    if at_most:
        k = int(np.searchsorted(removed, fraction + 1e-12, side="right")) - 1
    else:
        k = int(np.argmin(np.abs(removed - fraction)))
    return float(thresholds[k])


def remove_by_rank(
    pairs: list[PairScores], fraction: float, seed: int, weights: Mapping[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """Per pair, the boolean ``(G_child, G_parent)`` blocks to remove so that ``fraction`` of all their weights goes
    (±1 block): lowest score first, blocks tied in score in an order drawn from ``seed``; ``weights`` (child →
    counts) replaces each block's number of weights."""
    if not pairs:
        return {}
    s = np.concatenate([p.scores.ravel() for p in pairs])
    w = np.concatenate([_cell_weights(p, weights).ravel() for p in pairs]).astype(np.float64)
    tie = np.random.default_rng(seed).random(s.size)
    order = np.lexsort((tie, s))  # ascending score, ties in seeded random order
    cum = np.concatenate([[0.0], np.cumsum(w[order]) / w.sum()])
    n_removed = int(np.argmin(np.abs(cum - fraction)))
    flat = np.zeros(s.size, dtype=bool)
    flat[order[:n_removed]] = True
    out, start = {}, 0
    for p in pairs:
        out[p.child] = flat[start : start + p.scores.size].reshape(p.scores.shape)
        start += p.scores.size
    return out


def _cell_weights(p: PairScores, weights: Mapping[str, np.ndarray] | None) -> np.ndarray:
    return p.cell_weights if weights is None or p.child not in weights else np.asarray(weights[p.child])


@dataclass(frozen=True)
class PruneSpec:
    """How much to prune, validated once: δ or a global prune percentage, the γ cap, skipped layers, a seed.

    Like ``torch.nn.utils.prune``'s method objects (``L1Unstructured(amount)`` checks ``amount`` in its
    ``__init__`` and applies it in ``compute_mask``), a spec checks its parameters when it is built and
    :meth:`keep` applies them to a :class:`~mintlab.prune.scores.ScoreSet`. It is what
    :func:`mintlab.prune.step.prune`, :func:`~mintlab.prune.step.prune_and_retrain` and the notebook
    workflow pass down, instead of five loose arguments.

    Exactly one of:

    * ``delta`` in [-1, 1] — keep a block when ``rho >= delta`` (the paper's rule; the paper's δ is >= 0,
      but mintlab's bias-free estimates of independent blocks scatter around 0, some below it, so a δ
      below the lowest score is how to keep every block — the left end of notebook 2's slider);
    * ``prune_percent`` in [0, 100] — one global cut-off so that this percentage of the (non-skipped)
      layers' *weights* goes: blocks are removed lowest score first, each counted by its number of
      weights, as many as bring the removed share closest to the target (within one block). Blocks
      tied in score are ordered by a random draw from ``seed``, so the target is met even where an
      estimator gives few distinct values. Departure from the reference code, which thresholds at the
      plain quantile of the scores: with unequal groups or layers of different fan-in a block count is
      not a weight count, and ties make a threshold overshoot; a comparison at equal sparsity needs
      neither.

    Then ``gamma`` (a float, or a dict child name or (parent, child) → float; ``None``: no cap) caps the
    fraction of a layer's weights removed: where the threshold removes more, a layer-local threshold
    from that pair's own scores keeps the removal at (or just under, where scores tie) ``gamma``.
    Layers in ``skip`` (child names) keep everything. ``seed`` only orders tied blocks for
    ``prune_percent``.

    Raises:
        InvalidArgumentError: neither or both of ``delta`` / ``prune_percent``, or a value out of range.

    >>> PruneSpec(delta=0.3, gamma=0.5).to_dict()
    {'delta': 0.3, 'prune_percent': None, 'gamma': 0.5, 'skip': [], 'seed': 0}
    >>> PruneSpec.either(delta=None, prune_percent=90.0).prune_percent
    90.0
    """

    delta: float | None = None
    prune_percent: float | None = None
    gamma: Gamma = None
    skip: tuple[str, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if (self.delta is None) == (self.prune_percent is None):
            raise InvalidArgumentError(
                "Expected exactly one of `delta` and `prune_percent`, "
                f"but got delta={self.delta!r}, prune_percent={self.prune_percent!r}"
            )
        set_ = object.__setattr__
        if self.delta is not None:
            set_(self, "delta", check_number(self.delta, "delta", low=-1.0, high=1.0))
        else:
            set_(self, "prune_percent", check_number(self.prune_percent, "prune_percent", low=0.0, high=100.0))
        skip = (self.skip,) if isinstance(self.skip, str) else tuple(self.skip)
        if not all(isinstance(name, str) for name in skip):
            raise InvalidArgumentError(f"Expected `skip` as child layer names, but got {self.skip!r}")
        set_(self, "skip", skip)
        set_(self, "seed", check_seed(self.seed))
        if isinstance(self.gamma, Mapping):
            gamma = {
                key if isinstance(key, str) else tuple(key): check_fraction(v, f"gamma[{key!r}]", allow_none=True)
                for key, v in self.gamma.items()
            }
            set_(self, "gamma", gamma)
        else:
            set_(self, "gamma", check_fraction(self.gamma, "gamma", allow_none=True))

    @classmethod
    def either(cls, delta: float | None = None, prune_percent: float | None = None, **rest: Any) -> PruneSpec:
        """δ when it is given, else the prune percentage (the notebooks' "δ or prune %" parameters)."""
        return cls(delta=delta, prune_percent=None if delta is not None else prune_percent, **rest)

    @classmethod
    def coerce(cls, spec: PruneSpec | None = None, **fields: Any) -> PruneSpec:
        """``spec`` itself, or a spec built from keyword ``fields`` (never both; fields at their defaults are ignored).

        Raises:
            InvalidArgumentError: both or neither given, or ``spec`` is not a :class:`PruneSpec`.
        """
        defaults = {"delta": None, "prune_percent": None, "gamma": None, "skip": (), "seed": 0}
        unknown = sorted(set(fields) - set(defaults))
        if unknown:
            raise InvalidArgumentError(f"Expected PruneSpec fields among {sorted(defaults)}, but got {unknown}")
        given = {k: v for k, v in fields.items() if not (v is None or (k == "skip" and not v) or v == defaults[k])}
        if spec is None:
            return cls(**fields)
        if not isinstance(spec, PruneSpec):
            raise InvalidArgumentError(f"Expected `spec` as a PruneSpec, but got {type(spec).__name__}")
        if given:
            raise InvalidArgumentError(f"Expected either `spec` or {sorted(given)}, but got both")
        return spec

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields (for records and cache keys)."""
        gamma = self.gamma
        if isinstance(gamma, Mapping):
            gamma = {k if isinstance(k, str) else "->".join(k): v for k, v in gamma.items()}
        return {
            "delta": self.delta,
            "prune_percent": self.prune_percent,
            "gamma": gamma,
            "skip": sorted(self.skip),
            "seed": self.seed,
        }

    def _caps(self, scores: ScoreSet) -> dict[str, float | None]:
        if not isinstance(self.gamma, Mapping):
            return {child: self.gamma for child in scores.children}
        pairs = {p.pair: p.child for p in scores.pairs}
        caps: dict[str, float | None] = dict.fromkeys(scores.children)
        for key, value in self.gamma.items():  # keys: child names or (parent, child) pairs, as PAPER_SETTINGS
            child = key if isinstance(key, str) else pairs.get(key)
            if child not in caps:
                raise InvalidArgumentError(
                    f"Expected `gamma` keys among the scored child layers {scores.children} "
                    f"or their (parent, child) pairs, but got {key!r}"
                )
            caps[child] = value
        return caps

    def keep(self, scores: ScoreSet, weights: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Boolean keep-matrices ``(G_child, G_parent)`` per child layer of ``scores``.

        ``weights`` (child → ``(G_child, G_parent)`` counts) replaces the number of weights each block holds;
        :func:`mintlab.prune.step.prune` passes the weights that *remain* in an already-pruned model
        (:func:`remaining_weights`), so that ``prune_percent`` and ``gamma`` are shares of what remains.

        Raises:
            InvalidArgumentError: ``scores`` is not a ScoreSet, or ``skip`` / ``gamma`` name a layer
                that has no scores.
        """
        if not isinstance(scores, ScoreSet):
            raise InvalidArgumentError(f"Expected `scores` as a ScoreSet, but got {type(scores).__name__}")
        unknown = set(self.skip) - set(scores.children)
        if unknown:
            raise InvalidArgumentError(
                f"Expected `skip` names among the scored child layers {scores.children}, but got {sorted(unknown)}"
            )
        caps = self._caps(scores)
        active = [p for p in scores.pairs if p.child not in self.skip]
        if self.delta is not None:
            removed = {p.child: p.scores < self.delta for p in active}
        else:
            removed = remove_by_rank(active, self.prune_percent / 100.0, self.seed, weights)
        keep: dict[str, np.ndarray] = {}
        for p in scores.pairs:
            if p.child in self.skip:
                keep[p.child] = np.ones_like(p.scores, dtype=bool)
                continue
            k = ~removed[p.child]
            cap = caps[p.child]
            w = _cell_weights(p, weights)
            if cap is not None and w.sum() > 0 and w[~k].sum() / w.sum() > cap + 1e-9:
                k = p.scores >= threshold_for_fraction(p.scores, w, cap, at_most=True)
            keep[p.child] = k
        return keep


def masks_from_scores(scores: ScoreSet, spec: PruneSpec | None = None, **fields: Any) -> dict[str, np.ndarray]:
    """Boolean keep-matrices ``(G_child, G_parent)`` per child layer: :meth:`PruneSpec.keep`.

    Pass a :class:`PruneSpec` or its fields (``delta``, ``prune_percent``, ``gamma``, ``skip``, ``seed``).

    >>> from mintlab.prune.scores import PairScores, ScoreSet
    >>> s = ScoreSet([PairScores("a", "b", np.array([[0.1, 0.9], [0.5, 0.2]]),
    ...                          np.array([0, 1]), np.array([0, 1]))], {})
    >>> masks_from_scores(s, delta=0.3)["b"]
    array([[False,  True],
           [ True, False]])
    >>> masks_from_scores(s, PruneSpec(delta=0.95, gamma=0.5))["b"]
    array([[False,  True],
           [ True, False]])
    """
    return PruneSpec.coerce(spec, **fields).keep(scores)


def _check_keep(scores: ScoreSet, keep: Mapping[str, np.ndarray]) -> None:
    if not isinstance(keep, Mapping):
        raise TypeError(f"Expected `keep` as a dict child name → bool array, but got {type(keep).__name__}")
    for child, k in keep.items():
        p = scores[child]
        if np.shape(k) != p.scores.shape:
            raise ValueError(f"Expected keep of {child!r} with shape {p.scores.shape}, but got {np.shape(k)}")


def prune_summary(scores: ScoreSet, keep: Mapping[str, np.ndarray]) -> dict:
    """Pruned percentages from group sizes only (no model needed; milliseconds).

    Returns ``{"total": %, "per_layer": {child: %}, "removed_weights": int}`` where ``total``
    is removed weights over *all* parameters of the dense model (the paper's "Params.
    Pruned") and ``per_layer`` removed over that layer's weights.

    >>> from mintlab.prune.scores import PairScores, ScoreSet
    >>> s = ScoreSet([PairScores("a", "b", np.zeros((2, 2)), np.array([0, 1]), np.array([0, 1]))],
    ...              {"total_params": 8})
    >>> prune_summary(s, {"b": np.array([[True, False], [False, False]])})
    {'total': 37.5, 'per_layer': {'b': 75.0}, 'removed_weights': 3}
    """
    _check_keep(scores, keep)
    per_layer, removed = {}, 0
    for child, k in keep.items():
        p = scores[child]
        per_layer[child] = 100.0 * p.removed_fraction(k)
        removed += p.removed_weights(k)
    total_params = scores.meta.get("total_params")
    total = 100.0 * removed / total_params if total_params else float("nan")
    return {"total": total, "per_layer": per_layer, "removed_weights": removed}


def _expand(p: PairScores, keep: np.ndarray, weight_shape: torch.Size, kind: str) -> torch.Tensor:
    units = np.asarray(keep, dtype=bool)[p.child_groups][:, p.parent_groups]  # (N_child, N_parent)
    m = torch.from_numpy(units.astype(np.float32))
    if kind == "conv":
        return m[:, :, None, None].expand(weight_shape).contiguous()
    if kind == "flatten":  # column c*hw + s belongs to parent channel c
        return m.repeat_interleave(p.spatial, dim=1)
    return m


def weight_masks(model: nn.Module, keep: Mapping[str, np.ndarray], scores: ScoreSet) -> dict[str, torch.Tensor]:
    """Expand group keep-matrices to float 0/1 masks shaped like each child's weight."""
    _check_keep(scores, keep)
    modules = dict(model.named_modules())
    out = {}
    for child, k in keep.items():
        p = scores[child]
        geom = pair_geometry(model, p.pair)
        if (geom.n_child, geom.n_parent) != (len(p.child_groups), len(p.parent_groups)):
            raise ValueError(
                f"Scores of {p.pair} have {len(p.child_groups)}×{len(p.parent_groups)} units, "
                f"the model's layer {geom.n_child}×{geom.n_parent}"
            )
        out[child] = _expand(p, k, effective_weight(modules[child]).shape, geom.kind)
    return out


def remaining_weights(model: nn.Module, scores: ScoreSet) -> dict[str, np.ndarray] | None:
    """Per child layer of ``scores``, the ``(G_child, G_parent)`` number of weights each block still holds
    (mask 1) in ``model``; ``None`` when no scored layer carries a pruning mask (a dense model).
    """
    modules = dict(model.named_modules())
    if not any(hasattr(modules.get(p.child), "weight_mask") for p in scores.pairs):
        return None
    out = {}
    for p in scores.pairs:
        module = modules[p.child]
        if not hasattr(module, "weight_mask"):
            out[p.child] = p.cell_weights
            continue
        geom = pair_geometry(model, p.pair)
        alive = (module.weight_mask.detach().cpu() != 0).double().numpy()
        alive = alive.reshape(geom.n_child, geom.n_parent, -1).sum(axis=2)  # (N_child, N_parent)
        g_child, g_parent = p.scores.shape
        rows = np.zeros((g_child, alive.shape[1]))
        np.add.at(rows, p.child_groups, alive)
        blocks = np.zeros((g_child, g_parent))
        np.add.at(blocks.T, p.parent_groups, rows.T)
        out[p.child] = blocks
    return out


def model_summary(model: nn.Module, scores: ScoreSet) -> dict:
    """Pruned percentages of ``model`` as it is (every mask counted: masks of earlier rounds multiply).

    Same keys as :func:`prune_summary`: ``per_layer`` = zero entries of the layer's effective weight over its
    weights, ``total`` = zero weights of the scored layers over all parameters of the model,
    ``removed_weights`` = those zero weights.
    """
    modules = dict(model.named_modules())
    per_layer, removed = {}, 0
    for p in scores.pairs:
        w = effective_weight(modules[p.child]).detach()
        zeros = int((w == 0).sum())
        per_layer[p.child] = 100.0 * zeros / w.numel()
        removed += zeros
    total_params = int(sum(t.numel() for t in model.parameters()))
    return {"total": 100.0 * removed / total_params, "per_layer": per_layer, "removed_weights": removed}


def effective_weight(module: nn.Module) -> torch.Tensor:
    """The weight a pruned or plain module uses: ``weight_orig * weight_mask`` when pruned.

    Computed on every call, never read from the ``weight`` attribute of a pruned module (torch refreshes
    that only in a forward pass, so it is stale after an optimizer step until the next forward).
    """
    if hasattr(module, "weight_orig") and hasattr(module, "weight_mask"):
        return module.weight_orig * module.weight_mask
    return module.weight


def apply_masks(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> nn.Module:
    """Install weight masks with ``torch.nn.utils.prune.custom_from_mask`` (in place).

    A module already pruned gets the product of its old and new masks (torch combines
    them). Returns ``model``.
    """
    modules = dict(model.named_modules())
    for name, mask in masks.items():
        if name not in modules or not hasattr(modules[name], "weight"):
            raise ValueError(f"Unknown module {name!r} for a weight mask: not a weighted module of the model")
        module = modules[name]
        weight = effective_weight(module)
        if tuple(mask.shape) != tuple(weight.shape):
            raise ValueError(f"Expected mask of {name!r} with shape {tuple(weight.shape)}, but got {tuple(mask.shape)}")
        prune.custom_from_mask(module, "weight", mask=mask.to(device=weight.device, dtype=weight.dtype))
    return model


def make_permanent(model: nn.Module) -> nn.Module:
    """``prune.remove`` on every pruned weight: the zeros stay, the masks go. Returns ``model``."""
    for module in model.modules():
        if prune.is_pruned(module) and hasattr(module, "weight_mask"):
            prune.remove(module, "weight")
    return model
