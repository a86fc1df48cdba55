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
    expected = score_layer_pair(
        ctx.parent,
        ctx.child,
        ctx.parent_groups,
        ctx.child_groups,
        seed=11,
        estimator="paper",
        weight=ctx.weight,
        n_components=3,
    )
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


# --------------------------------------------------------------------------- Wanda and Taylor


def _toy_two_layer():
    """Linear(3→4) → ReLU → Linear(4→2) with fixed weights, and 6 labelled inputs (3 per class)."""
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5], [-1.0, 2.0, 0.0], [0.0, -0.5, 1.0]]))
        net[0].bias.copy_(torch.tensor([0.1, 0.0, -0.2, 0.3]))
        net[2].weight.copy_(torch.tensor([[1.0, -2.0, 0.5, 0.0], [-0.5, 1.0, 1.5, -1.0]]))
        net[2].bias.copy_(torch.tensor([0.2, -0.1]))
    x = torch.tensor(
        [[1.0, 2.0, 0.5], [0.0, 1.0, -1.0], [2.0, -1.0, 1.0], [-1.0, 0.5, 2.0], [0.3, 0.3, 0.3], [1.5, 0.0, -0.5]]
    )
    y = torch.tensor([0, 1, 0, 1, 0, 1])
    return net, TensorDataset(x, y)


def _hand_hidden_and_grad():
    """By hand (NumPy): the child's input h = relu(W1 x + b1) and dL/dW2 of the mean cross-entropy."""
    net, data = _toy_two_layer()
    x, y = data.tensors[0].double().numpy(), data.tensors[1].numpy()
    w1, b1 = net[0].weight.detach().double().numpy(), net[0].bias.detach().double().numpy()
    w2, b2 = net[2].weight.detach().double().numpy(), net[2].bias.detach().double().numpy()
    h = np.maximum(x @ w1.T + b1, 0.0)
    logits = h @ w2.T + b2
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0  # dL/dlogits of the summed loss
    return h, w2, (p.T @ h) / len(y)


def test_wanda_on_two_layer_toy_matches_hand_computed_values() -> None:
    from mintlab.prune.scores import compute_scores

    net, data = _toy_two_layer()
    # m = 3 per class: the whole toy set, so the sample's norms are those of all rows
    s = compute_scores(
        net, data, [("0", "2")], get_scorer("wanda"), groups=(2, 2), samples_per_class=3, seed=0, progress=False
    )["2"].scores
    h, w2, _ = _hand_hidden_and_grad()
    norms = np.sqrt((h**2).sum(axis=0))  # per parent unit
    links = np.abs(w2) * norms
    expected = np.array([[links[:1, :2].mean(), links[:1, 2:].mean()], [links[1:, :2].mean(), links[1:, 2:].mean()]])
    np.testing.assert_allclose(s, expected, rtol=1e-6)


def test_taylor_on_two_layer_toy_matches_hand_computed_gradients() -> None:
    from mintlab.prune.scores import compute_scores

    net, data = _toy_two_layer()
    scorer = get_scorer("taylor")
    assert scorer.needs_gradients and not scorer.needs_activations
    s = compute_scores(net, data, [("0", "2")], scorer, groups=(2, 2), samples_per_class=3, seed=0, progress=False)[
        "2"
    ].scores
    _, w2, g = _hand_hidden_and_grad()
    links = np.abs(w2 * g)
    expected = np.array([[links[:1, :2].sum(), links[:1, 2:].sum()], [links[1:, :2].sum(), links[1:, 2:].sum()]])
    np.testing.assert_allclose(s, expected, rtol=1e-5)
    assert all(p.grad is None for p in net.parameters())  # the pipeline leaves no gradients behind


def test_taylor_gradient_of_a_pruned_layer_is_that_of_the_effective_weight() -> None:
    import torch
    from torch.nn.utils import prune as tprune

    from mintlab.prune.activations import collect_gradients

    net, data = _toy_two_layer()
    dense = collect_gradients(net, data, ["2"], samples_per_class=3, seed=0)["2"]
    mask = torch.tensor([[1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 1.0]])
    with torch.no_grad():
        net[2].weight.mul_(mask)
    _, data = _toy_two_layer()
    tprune.custom_from_mask(net[2], "weight", mask)
    pruned = collect_gradients(net, data, ["2"], samples_per_class=3, seed=0)["2"]
    assert pruned.shape == dense.shape == (2, 4)
    # same effective weights → same forward → the gradient w.r.t. the effective weight is unchanged by the mask
    _, _, g_hand = _hand_hidden_and_grad()
    assert np.abs(pruned).sum() > 0 and not np.allclose(pruned, g_hand)  # W2 differs (masked) so g differs
    with torch.no_grad():
        net2, _ = _toy_two_layer()
        net2[2].weight.mul_(mask)
    expected = collect_gradients(net2, data, ["2"], samples_per_class=3, seed=0)["2"]
    np.testing.assert_allclose(pruned, expected, rtol=1e-6)


def test_taylor_without_gradient_and_wanda_without_activations_raise() -> None:
    ctx = _ctx()
    with pytest.raises(ValueError, match="Expected `grad` in the PairContext of pair"):
        get_scorer("taylor")(ctx)
    empty = PairContext(
        np.zeros((0, 4)),
        np.zeros((0, 5)),
        ctx.weight,
        ctx.raw_weight,
        ctx.parent_groups,
        ctx.child_groups,
        pair=("p", "c"),
    )
    with pytest.raises(ValueError, match="Expected parent activations of pair"):
        get_scorer("wanda")(empty)
    with pytest.raises(ValueError, match="Expected no options for scorer 'wanda'"):
        get_scorer("wanda", eps=1.0)
