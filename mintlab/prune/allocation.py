"""How a sparsity level is spread over the layers: the allocation modes of a comparison at equal sparsity.

A :class:`~mintlab.prune.masks.PruneSpec` says how much one score set prunes (δ or a global percentage, γ,
skips). A comparison of scoring methods needs three more ways to reach a *level* (a percentage of *all*
parameters of the dense network, the paper's "Params. Pruned"):

- :func:`keep_for_level` (allocation ``"mint"``): MINT's own rule with δ chosen for the level: blocks go
  lowest score first, a layer at its γ cap stops losing blocks (its layer-local δ), skipped layers keep
  everything; δ is the score of the last block removed.
- :func:`keep_following` (every other method under allocation ``"mint"``): each layer loses the same share
  of its weights as the leader's keep-matrices took from it, chosen by this score set's own ranking. This
  isolates *which* blocks a score picks from *how much* each layer loses.
- :func:`keep_global` (allocation ``"global"``): every method ranks all its blocks across the network by its
  own scores and removes the lowest until the level is reached (skipped layers kept, no γ). This adds how a
  score spreads sparsity over layers (the paper's Fig. 5 question).

:data:`ALLOCATIONS` names the two allocations; :func:`keep_for_allocation` dispatches. Blocks tied in score
are ordered by a seeded random draw everywhere, so a level is met even where scores take few values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mintlab.prune.masks import PruneSpec, masks_from_scores, remove_by_rank
from mintlab.prune.scores import ScoreSet
from mintlab.utils.checks import InvalidArgumentError, check_choice, check_number

__all__ = ["ALLOCATIONS", "keep_for_level", "keep_following", "keep_global", "keep_for_allocation", "reachable_percent"]

#: The allocations of a sparsity level over layers (module docstring).
ALLOCATIONS = ("mint", "global")


def reachable_percent(scores: ScoreSet, gamma: Mapping[str, float], skip: Sequence[str]) -> float:
    """The largest level (% of all parameters) that :func:`keep_for_level` can reach under ``gamma`` and ``skip``."""
    active = [p for p in scores.pairs if p.child not in skip]
    return 100.0 * sum(gamma.get(p.child, 1.0) * p.cell_weights.sum() for p in active) / _total(scores)


def _total(scores: ScoreSet) -> float:
    total = scores.meta.get("total_params")
    if not total:
        raise InvalidArgumentError(
            "Expected scores whose meta records `total_params` (compute_scores writes it), "
            f"but got meta keys {sorted(scores.meta)}"
        )
    return float(total)


def keep_for_level(
    scores: ScoreSet,
    level: float,
    *,
    gamma: Mapping[str, float] | None = None,
    skip: Sequence[str] = (),
    tolerance: float = 1.0,
    seed: int = 0,
) -> tuple[float, dict[str, np.ndarray]]:
    """MINT's allocation at ``level`` % of all parameters: ``(δ, keep-matrices per child)``.

    This is the paper's rule "remove every block with ρ < δ, then, where a layer loses more than γ of its
    weights, a layer-local δ keeps it at γ", with δ set so that the pruned share of *all* parameters
    (``scores.meta["total_params"]``) is closest to ``level``. Blocks tied in score are ordered by a draw
    from ``seed``, so δ can stop inside a tie. δ is the score of the last block removed (``nan``: none).

    Raises:
        ValueError: ``level`` more than ``tolerance`` points from what can be reached (the message gives the
            reachable range, which γ and the skips bound).
    """
    gamma = dict(gamma or {})
    level = check_number(level, "level", low=0.0, high=100.0)
    active = [p for p in scores.pairs if p.child not in skip]
    total_params = _total(scores)
    most = reachable_percent(scores, gamma, skip)
    if level > most + tolerance:
        raise ValueError(
            f"Expected a sparsity level that a δ can reach with these γ caps and skips: levels in "
            f"[0.00, {most:.2f}] % of all parameters, but got {level:g} %"
        )
    s = np.concatenate([p.scores.ravel() for p in active])
    w = np.concatenate([p.cell_weights.ravel() for p in active]).astype(np.float64)
    layer = np.concatenate([np.full(p.scores.size, k) for k, p in enumerate(active)])
    order = np.lexsort((np.random.default_rng(seed).random(s.size), s))
    cap = np.array([gamma.get(p.child, 1.0) * p.cell_weights.sum() for p in active]) + 1e-9
    removed = np.zeros(s.size, dtype=bool)
    per_layer = np.zeros(len(active))
    target = level / 100.0 * total_params
    done, delta = 0.0, float("nan")
    for k in order:
        if done + w[k] / 2 > target:
            break
        if per_layer[layer[k]] + w[k] > cap[layer[k]]:
            continue  # this layer is at its γ cap: its layer-local δ stops here
        removed[k] = True
        per_layer[layer[k]] += w[k]
        done += w[k]
        delta = float(s[k])
    got = 100.0 * done / total_params
    if abs(got - level) > tolerance:
        raise ValueError(
            f"Expected a sparsity level a δ can reach within ±{tolerance:g} points, but got {level:g} %: "
            f"the closest δ prunes {got:.2f} %; reachable range [0.00, {most:.2f}] % in steps of one "
            "MINT block"
        )
    keep, start = {}, 0
    for p in scores.pairs:
        if p.child in skip:
            keep[p.child] = np.ones(p.scores.shape, dtype=bool)
            continue
        keep[p.child] = ~removed[start : start + p.scores.size].reshape(p.scores.shape)
        start += p.scores.size
    return delta, keep


def keep_following(scores: ScoreSet, leader_keep: Mapping[str, np.ndarray], *, seed: int = 0) -> dict[str, np.ndarray]:
    """Each layer pruned to the share of its weights that ``leader_keep`` removes, by ``scores``' own ranking
    (lowest first, ties in seeded random order; the share met within one block).

    Raises:
        InvalidArgumentError: ``leader_keep`` lacks a child layer of ``scores``.
    """
    missing = [p.child for p in scores.pairs if p.child not in leader_keep]
    if missing:
        raise InvalidArgumentError(f"Expected leader keep-matrices for every scored layer, but {missing} are missing")
    out = {}
    for p in scores.pairs:
        lk = np.asarray(leader_keep[p.child], dtype=bool)
        w = p.cell_weights
        fraction = w[~lk].sum() / w.sum()
        out[p.child] = ~remove_by_rank([p], fraction, seed)[p.child] if fraction > 0 else np.ones_like(lk)
    return out


def keep_global(scores: ScoreSet, level: float, *, skip: Sequence[str] = (), seed: int = 0) -> dict[str, np.ndarray]:
    """Global ranking at ``level`` % of all parameters: the lowest-scoring blocks of all non-skipped layers go
    until that share of *all* parameters is removed (no γ; ties in seeded random order).

    Raises:
        ValueError: ``level`` above the share the non-skipped layers hold.
    """
    level = check_number(level, "level", low=0.0, high=100.0)
    active = sum(p.cell_weights.sum() for p in scores.pairs if p.child not in skip)
    total = _total(scores)
    if active == 0 or level / 100.0 * total > active * (1 + 1e-9):
        raise ValueError(
            f"Expected a level at most the pruned layers' share of all parameters "
            f"({100.0 * active / total:.2f} %), but got {level:g} %"
        )
    return masks_from_scores(
        scores, PruneSpec(prune_percent=min(100.0, level * total / active), skip=tuple(skip), seed=seed)
    )


def keep_for_allocation(
    allocation: str,
    scores: ScoreSet,
    level: float,
    *,
    leader: ScoreSet | None = None,
    gamma: Mapping[str, float] | None = None,
    skip: Sequence[str] = (),
    tolerance: float = 1.0,
    seed: int = 0,
) -> tuple[float | None, dict[str, np.ndarray]]:
    """``(δ or None, keep-matrices)`` of ``scores`` at ``level`` under ``allocation`` (:data:`ALLOCATIONS`).

    Under ``"mint"`` the ``leader`` score set (MINT's; ``None``: ``scores`` itself leads) sets δ and the
    per-layer shares (:func:`keep_for_level`), and ``scores`` follows them (:func:`keep_following`); under
    ``"global"`` ``scores`` ranks its blocks network-wide (:func:`keep_global`) and δ is ``None``.
    """
    check_choice(allocation, "allocation", ALLOCATIONS)
    if allocation == "global":
        return None, keep_global(scores, level, skip=skip, seed=seed)
    delta, lead = keep_for_level(
        leader if leader is not None else scores, level, gamma=gamma, skip=skip, tolerance=tolerance, seed=seed
    )
    if leader is None or leader is scores:
        return delta, lead
    return delta, keep_following(scores, lead, seed=seed)
