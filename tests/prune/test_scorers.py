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


@pytest.fixture
def recording_scoring(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """``mintlab.estimator.layer_pair.score_layer_pair`` replaced by a recorder."""
    import mintlab.estimator.layer_pair as module

    calls: list[dict] = []

    def score_layer_pair(parent, child, parent_groups, child_groups, **kw):
        calls.append({"parent": parent, "child": child, "pg": parent_groups, "cg": child_groups, **kw})
        return np.full((int(np.max(child_groups)) + 1, int(np.max(parent_groups)) + 1), 0.5)

    monkeypatch.setattr(module, "score_layer_pair", score_layer_pair)
    return calls


def test_mint_scorer_passes_everything_to_score_layer_pair(recording_scoring: list[dict]) -> None:
    ctx = _ctx(seed=11)
    out = MintScorer("paper", name="mint_paper", n_neighbors=3)(ctx)
    assert out.shape == (3, 2) and out.dtype == np.float64
    (call,) = recording_scoring
    assert call["parent"] is ctx.parent and call["child"] is ctx.child and call["weight"] is ctx.weight
    assert call["pg"] is ctx.parent_groups and call["cg"] is ctx.child_groups
    assert (call["seed"], call["estimator"], call["n_neighbors"]) == (11, "paper", 3)


def test_get_scorer_maps_names(recording_scoring: list[dict]) -> None:
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
