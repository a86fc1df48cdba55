"""Scorers: MINT and the baselines behind one interface; group-wise, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from mintlab.prune.scorers import (
    MagnitudeScorer,
    MintScorer,
    PairContext,
    RandomScorer,
    get_scorer,
    group_sums,
)


def _ctx(seed: int = 0, k: int = 9) -> PairContext:
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=(5, 4, k))
    return PairContext(
        parent=rng.normal(size=(30, 4)),
        child=rng.normal(size=(30, 5)),
        weight=raw.sum(axis=2),
        raw_weight=raw,
        parent_groups=np.array([0, 0, 0, 1]),  # unequal groups on purpose
        child_groups=np.array([0, 1, 1, 2, 2]),
        seed=seed,
        pair=("p", "c"),
    )


def test_magnitude_is_mean_abs_over_whole_kernels_of_each_block() -> None:
    ctx = _ctx(k=9)
    got = MagnitudeScorer()(ctx)
    expected = np.empty((3, 2))
    for i in range(3):
        for j in range(2):
            block = ctx.raw_weight[np.ix_(ctx.child_groups == i, ctx.parent_groups == j)]
            expected[i, j] = np.abs(block).mean()
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_random_is_seeded_and_shaped() -> None:
    a, b, c = RandomScorer()(_ctx(1)), RandomScorer()(_ctx(1)), RandomScorer()(_ctx(2))
    assert a.shape == (3, 2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_group_sums_matches_loops() -> None:
    ctx = _ctx()
    got = group_sums(ctx.weight, ctx.child_groups, ctx.parent_groups)
    for i in range(3):
        for j in range(2):
            assert got[i, j] == pytest.approx(ctx.weight[np.ix_(ctx.child_groups == i, ctx.parent_groups == j)].sum())


def test_mint_scorer_is_score_layer_pair_on_the_context() -> None:
    from mintlab.estimator.layer_pair import score_layer_pair

    ctx = _ctx(seed=11)
    out = MintScorer("paper", name="mint_paper", n_components=3)(ctx)
    expected = score_layer_pair(ctx.parent, ctx.child, ctx.parent_groups, ctx.child_groups, seed=11,
                                estimator="paper", weight=ctx.weight, n_components=3)
    assert out.shape == (3, 2) and out.dtype == np.float64
    np.testing.assert_array_equal(out, expected)
    projected = MintScorer("projected")(ctx)  # reads ctx.weight: a different weight gives other scores
    other = MintScorer("projected")(PairContext(**{**ctx.__dict__, "weight": -ctx.weight[::-1]}))
    assert not np.array_equal(projected, other)


def test_mint_scorer_checks_its_options_when_built() -> None:
    with pytest.raises(ValueError, match=r"but got unknown \['n_neighbors'\]"):
        MintScorer("paper", n_neighbors=3)
    with pytest.raises(ValueError, match=r"Expected `estimator` in .*but got 'papr'"):
        MintScorer("papr")
    with pytest.raises(ValueError, match=r"Expected `scale` in .*but got 'colums'"):
        get_scorer("mint_paper", scale="colums")
    with pytest.raises(ValueError, match=r"Expected `repeats` as an int >= 1, but got 0"):
        get_scorer("mint", repeats=0)


def test_get_scorer_maps_names() -> None:
    from mintlab.estimator.gmi import RECOMMENDED_ESTIMATOR

    mint, paper = get_scorer("mint"), get_scorer("mint_paper")
    assert (mint.name, mint.estimator) == ("mint", RECOMMENDED_ESTIMATOR)
    assert (paper.name, paper.estimator) == ("mint_paper", "paper")
    assert mint.config() == {"name": "mint", "estimator": RECOMMENDED_ESTIMATOR}
    assert get_scorer("magnitude").needs_activations is False and mint.needs_activations is True
    with pytest.raises(ValueError, match="Expected a scorer name in"):
        get_scorer("l1")
    with pytest.raises(ValueError, match="Expected no options for scorer 'random'"):
        get_scorer("random", seed=3)
