"""Which scores stand above the estimator's noise: a permutation null for any scorer.

With few samples per class most MINT scores are estimator noise: a block with no dependence at all
still gets a score of a few hundredths, positive or negative. :class:`PermutationNullScorer` scores the
same layer pair after shuffling the child's rows (a seeded permutation, the same for every child unit),
which breaks every dependence between child and parents while keeping each side's own distribution: its
scores are draws of what the scorer reports when there is nothing to find. A score clears the noise when
it exceeds the ``quantile`` (default 95 %) of that pair's null scores (:func:`noise_thresholds`).

The null runs through :func:`mintlab.prune.scores.compute_scores` like any scorer, so it is cached on
disk next to the real scores (its ``config()`` differs by the ``null`` entry) and costs one more scoring
pass. Measured on notebook 2's defaults (docs/slider_panel.md): about the time of the scores themselves,
where three repeats for a spread (:func:`mintlab.estimator.layer_pair.score_layer_pair_spread`) cost three.

Not in the MINT paper (its scores are used raw); a permutation test is the standard check of a mutual
information estimate against independence (e.g. Kraskov et al. 2004, Sec. IV).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from mintlab.prune.scorers import PairContext, Scorer
from mintlab.prune.scores import ScoreSet
from mintlab.utils.checks import check_number, check_type

__all__ = ["DEFAULT_NULL_QUANTILE", "PermutationNullScorer", "noise_thresholds", "above_noise"]

#: Quantile of the null scores a score must exceed to count as signal (one-sided 5 % per cell).
DEFAULT_NULL_QUANTILE = 0.95


class PermutationNullScorer(Scorer):
    """``scorer`` on child rows shuffled against the parent rows: scores under independence.

    Args:
        scorer: the scorer whose noise is measured (MINT, or any other; weight-only scorers such as
            magnitude ignore activations, so their null equals their scores and nothing clears it).

    >>> from mintlab.prune.scorers import get_scorer
    >>> PermutationNullScorer(get_scorer("mint")).config()["null"]
    'permuted_child_rows'
    """

    def __init__(self, scorer: Scorer) -> None:
        self.base = check_type(scorer, "scorer", Scorer, "a mintlab.prune.scorers.Scorer")
        self.name = f"{scorer.name}_null"
        self.needs_activations = scorer.needs_activations

    def config(self) -> dict[str, Any]:
        return {**self.base.config(), "null": "permuted_child_rows"}

    def __call__(self, ctx: PairContext) -> np.ndarray:
        rng = np.random.default_rng(np.random.SeedSequence([int(ctx.seed), 0x6E756C6C]))  # "null"
        order = rng.permutation(len(ctx.child))
        return self.base(replace(ctx, child=ctx.child[order]))


def noise_thresholds(null: ScoreSet, quantile: float = DEFAULT_NULL_QUANTILE) -> dict[str, float]:
    """Per child layer, the ``quantile`` of its null scores (all cells of the pair pooled).

    Raises:
        InvalidArgumentError: ``quantile`` outside (0, 1).
    """
    check_type(null, "null", ScoreSet, "a mintlab.prune.scores.ScoreSet")
    q = check_number(quantile, "quantile", low=0.0, high=1.0, low_open=True, high_open=True)
    return {p.child: float(np.quantile(p.scores, q)) for p in null.pairs}


def above_noise(
    scores: ScoreSet, null: ScoreSet | Mapping[str, float], quantile: float = DEFAULT_NULL_QUANTILE
) -> dict[str, np.ndarray]:
    """Per child layer, a boolean ``(G_child, G_parent)`` matrix: True where the score exceeds the noise level.

    Args:
        scores: the scores.
        null: the same pairs scored by :class:`PermutationNullScorer`, or thresholds from
            :func:`noise_thresholds`.
        quantile: used when ``null`` is a ScoreSet.

    Raises:
        InvalidArgumentError: ``null`` lacks a layer of ``scores``.
    """
    check_type(scores, "scores", ScoreSet, "a mintlab.prune.scores.ScoreSet")
    levels = noise_thresholds(null, quantile) if isinstance(null, ScoreSet) else dict(null)
    missing = [p.child for p in scores.pairs if p.child not in levels]
    if missing:
        from mintlab.utils.checks import InvalidArgumentError

        raise InvalidArgumentError(f"Expected `null` for every layer of `scores`, but got none for {missing}")
    return {p.child: np.asarray(p.scores) > levels[p.child] for p in scores.pairs}
