"""MIPP: the prediction-loss estimator against closed forms, and the selection on planted networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from mintlab.prune.activations import collect_activations
from mintlab.prune.masks import apply_masks
from mintlab.prune.mipp import (
    PredictorConfig,
    baseline_unit_keep,
    fit_repeat,
    fit_repeats,
    l1_unit_scores,
    mipp_layer,
    mipp_masks,
    one_sided_confidence,
    predictive_cmi,
    predictive_mi,
    structured_keep,
    unit_weight_masks,
)

#: Closed-form MI vs the prediction-loss estimate: 2,000 rows, one fit; the MLP's held-out
#: error and sampling noise stay well below this many nats (measured ≈ 0.015–0.04).
MI_ATOL = 0.08
#: |estimate| under (conditional) independence: held-out noise of two fits, measured < 0.01.
ZERO_ATOL = 0.04
#: A fast predictor for the selection tests (tiny data).
FAST = PredictorConfig(hidden=16, lr=1e-2, batch_size=128, max_epochs=30, refit_epochs=5, patience=2)
PAIRS = [("fc1", "fc2"), ("fc2", "fc3")]


# --------------------------------------------------------------------------- estimator


def test_mi_matches_linear_gaussian_closed_form_1d():
    rng = np.random.default_rng(0)
    for slope in (0.5, 2.0):
        x = rng.normal(size=2000)
        y = slope * x + rng.normal(size=2000)
        assert predictive_mi(x, y) == pytest.approx(0.5 * np.log(1 + slope**2), abs=MI_ATOL)


def test_mi_matches_multivariate_closed_form_with_full_covariance():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 2))
    x = rng.normal(size=(2000, 3))
    y = x @ a + rng.normal(size=(2000, 2))
    truth = 0.5 * np.linalg.slogdet(np.eye(2) + a.T @ a)[1]  # I = ½ log det(I + AᵀA) for unit noise
    assert predictive_mi(x, y, covariance="full") == pytest.approx(truth, abs=2 * MI_ATOL)


def test_mi_is_zero_for_independent_and_cmi_zero_under_conditional_independence():
    rng = np.random.default_rng(2)
    z = rng.normal(size=2000)
    x = z + 0.5 * rng.normal(size=2000)  # X depends on Z
    y = z + rng.normal(size=2000)  # Y depends on Z only: X ⟂ Y | Z
    assert predictive_mi(x, y) > 0.2  # marginally dependent
    assert abs(predictive_cmi(x, y, z)) < ZERO_ATOL
    assert abs(predictive_mi(rng.normal(size=2000), rng.normal(size=2000))) < ZERO_ATOL
    # and a conditional case that is not zero: Y = X + Z + noise, I(X; Y | Z) = ½ log(1 + Var(X|Z)) = ½ log 1.25
    y2 = x + z + rng.normal(size=2000)
    assert predictive_cmi(x, y2, z) == pytest.approx(0.5 * np.log(1.25), abs=MI_ATOL)


def test_estimator_rejects_bad_input():
    with pytest.raises(ValueError, match="same rows"):
        predictive_mi(np.zeros(20), np.ones(21))
    with pytest.raises(ValueError, match="constant"):
        predictive_mi(np.arange(20.0), np.ones(20))
    with pytest.raises(ValueError, match="covariance"):
        predictive_mi(np.arange(20.0), np.arange(20.0), covariance="x")
    with pytest.raises(ValueError, match="n >= 10"):
        predictive_mi(np.arange(5.0), np.arange(5.0))


def test_batched_repeats_equal_single_repeats():
    """Repeat r of the batch is the pure function of (data, seed r) that a Dask task would compute."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(300, 4)), rng.normal(size=(300, 2))
    both = fit_repeats(x[:240], y[:240], x[240:], y[240:], [5, 9], config=FAST)
    one = fit_repeat(x[:240], y[:240], x[240:], y[240:], 9, config=FAST)
    np.testing.assert_allclose(both.loss[1], one.loss[0], rtol=1e-4)


def test_one_sided_confidence():
    assert one_sided_confidence(np.array([1.0, 1.1, 0.9, 1.05, 0.95])) > 0.999
    assert one_sided_confidence(np.array([-1.0, -1.1, -0.9, -1.05, -0.95])) < 0.001
    assert one_sided_confidence(np.array([0.1, -0.1, 0.05, -0.05, 0.0])) == pytest.approx(0.5)


# --------------------------------------------------------------------------- planted network


class Planted(nn.Module):
    """4 → 6 → 5 → 4 with provably useless units.

    fc1 units 0..3 = ReLU(x_j); unit 4 is an exact copy of unit 0; unit 5 feeds only fc2 unit 4.
    fc2 units 0..3 mix fc1 units (j, j+1) (unit 0 reads the two copies half each); unit 4 has no
    outgoing weights (it reads fc1 unit 5 only). fc3 (4 outputs) reads fc2 units 0..3 through an invertible matrix.
    """

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(4, 6), nn.Linear(6, 5), nn.Linear(5, 4)
        with torch.no_grad():
            w1 = torch.zeros(6, 4)
            w1[:4] = torch.eye(4)
            w1[4, 0] = 1.0  # copy of unit 0
            w1[5] = torch.tensor([0.3, -0.7, 0.5, 0.2])
            self.fc1.weight.copy_(w1)
            self.fc1.bias.zero_()
            w2 = torch.zeros(5, 6)
            for j in range(4):
                w2[j, j] += 1.0
                w2[j, (j + 1) % 4] += 0.6
            w2[0, 0], w2[0, 4] = 0.5, 0.5  # unit 0 reads both copies
            w2[4, 5] = 1.0  # fc2 unit 4 reads fc1 unit 5 (information not in the output) and has no outputs
            self.fc2.weight.copy_(w2)
            self.fc2.bias.zero_()
            w3 = torch.tensor(
                [[1.0, 0.2, 0.0, -0.3], [0.0, 1.0, 0.4, 0.0], [0.3, 0.0, 1.0, 0.2], [0.0, -0.2, 0.0, 1.0]]
            )
            self.fc3.weight.copy_(torch.cat([w3, torch.zeros(4, 1)], dim=1))
            self.fc3.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


@pytest.fixture(scope="module")
def planted():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(600, 4, generator=g)
    data = TensorDataset(x, torch.arange(600) % 2)
    net = Planted().eval()
    acts = collect_activations(net, data, PAIRS, samples_per_class=300, seed=0, progress=False)
    return net, data, acts


@pytest.fixture(scope="module")
def planted_result(planted):
    net, data, acts = planted
    return _run(net, data, acts)


def _run(net, data, acts, **kw):
    kw = {"x": 0.95, "repeats": 5, "seed": 0, "config": FAST, **kw}
    return mipp_masks(net, data, PAIRS, activations=acts, **kw)


def test_planted_network_removes_exactly_the_useless_units(planted, planted_result):
    net, data, _ = planted
    res = planted_result
    fc2, fc1 = res["keep"]["fc2"], res["keep"]["fc1"]
    assert fc2.tolist() == [True, True, True, True, False]  # the unit without outgoing weights goes
    assert fc1[[1, 2, 3]].all() and not fc1[5]  # no outgoing weights → removed
    assert fc1[0] != fc1[4]  # of two exact copies exactly one stays
    # the masks cut every weight into and out of the removed units, and nothing else
    gone1 = np.flatnonzero(~fc1)
    m = res["masks"]
    assert (m["fc1"][gone1] == 0).all() and (m["fc1"][np.flatnonzero(fc1)] == 1).all()
    assert (m["fc2"][:, gone1] == 0).all() and (m["fc2"][4] == 0).all()
    assert (m["fc3"][:, 4] == 0).all() and (m["fc3"][:, :4] == 1).all()
    # installed through torch.nn.utils.prune: fc2 units 1 and 2 read only fc1 units 1..3, so they are unchanged
    pruned = apply_masks(Planted().eval(), m)
    assert torch.nn.utils.prune.is_pruned(pruned.fc1)
    x = data.tensors[0]
    with torch.no_grad():
        h_dense = torch.relu(net.fc2(torch.relu(net.fc1(x))))
        h_pruned = torch.relu(pruned.fc2(torch.relu(pruned.fc1(x))))
    torch.testing.assert_close(h_pruned[:, 1:3], h_dense[:, 1:3])
    assert (h_pruned[:, 4] == 0).all()


def test_same_seed_same_kept_set(planted, planted_result):
    net, data, acts = planted
    a, b = planted_result, _run(net, data, acts)
    for name in a["keep"]:
        np.testing.assert_array_equal(a["keep"][name], b["keep"][name])
        np.testing.assert_array_equal(a["layers"][name]["confidence"], b["layers"][name]["confidence"])


def test_higher_x_prunes_at_least_as_much_on_noise_units():
    rng = np.random.default_rng(4)
    signal = rng.normal(size=(600, 3))
    units = np.hstack([signal, rng.normal(size=(600, 5))])  # 5 units unrelated to the target
    target = signal @ rng.normal(size=(3, 2))
    low = mipp_layer(units, target, x=0.6, config=FAST, seed=1)["keep"]
    high = mipp_layer(units, target, x=0.99, config=FAST, seed=1)["keep"]
    assert low[:3].all() and high[:3].all()
    assert high.sum() <= low.sum()


def test_target_sparsity_within_one_unit_per_layer(planted):
    net, data, acts = planted
    res = _run(net, data, acts, target={"fc1": 0.5, "fc2": 0.4})
    assert abs(int(res["keep"]["fc1"].sum()) - 3) <= 1
    assert abs(int(res["keep"]["fc2"].sum()) - 3) <= 1
    assert all(len(info["bisection"]) >= 1 for info in res["layers"].values())
    # the comparison adapter gives the same kept sets for the same unit sparsity
    keep = structured_keep(
        "mipp", net, data, PAIRS, unit_sparsity={"fc1": 0.5, "fc2": 0.4}, activations=acts, repeats=5, config=FAST
    )
    assert all((keep[k] == res["keep"][k]).all() for k in keep)


def test_target_within_one_unit_after_a_single_bisection_step():
    rng = np.random.default_rng(5)
    signal = rng.normal(size=(400, 6))
    target = signal @ rng.normal(size=(6, 3))
    out = mipp_layer(signal, target, n_keep=2, config=FAST, max_bisect=1, seed=0)
    assert int(out["keep"].sum()) in (1, 2, 3)  # within one unit even with a single bisection step


# --------------------------------------------------------------------------- bad input


def test_bad_x_and_emptying_target_are_refused(planted):
    net, data, acts = planted
    for x in (0.0, 1.0, -0.2, 1.5):
        with pytest.raises(ValueError, match="x"):
            _run(net, data, acts, x=x)
    with pytest.raises(TypeError, match="x"):
        _run(net, data, acts, x="high")
    with pytest.raises(ValueError, match="at least one unit"):
        _run(net, data, acts, target=0.95)  # fc2 has 5 units: 0.95 would keep 0
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        _run(net, data, acts, target=1.0)


def test_constant_activations():
    rng = np.random.default_rng(6)
    signal = rng.normal(size=(300, 2))
    target = signal @ np.array([[1.0], [2.0]])
    with pytest.raises(ValueError, match="non-constant unit"):
        mipp_layer(np.ones((300, 3)), target, config=FAST)
    with pytest.raises(ValueError, match="non-constant target"):
        mipp_layer(signal, np.full((300, 2), 3.0), config=FAST)
    units = np.hstack([signal, np.full((300, 1), 0.7)])  # one dead unit: removed, not tested, recorded
    out = mipp_layer(units, target, config=FAST, seed=0)
    assert out["constant"].tolist() == [False, False, True]
    assert out["keep"].tolist() == [True, True, False]
    assert np.isnan(out["confidence"][2])


def test_min_keep_guard_and_collapse():
    rng = np.random.default_rng(7)
    units = rng.normal(size=(300, 3))
    target = rng.normal(size=(300, 2))  # nothing in the units predicts it
    guarded = mipp_layer(units, target, x=0.9, config=FAST, seed=0)
    assert guarded["keep"].sum() >= 1
    free = mipp_layer(units, target, x=0.9, config=FAST, seed=0, min_keep=0)
    assert free["keep"].sum() <= guarded["keep"].sum()


# --------------------------------------------------------------------------- baselines


def test_l1_and_random_baselines_at_equal_unit_counts(planted):
    net, _, _ = planted
    scores = l1_unit_scores(net, PAIRS)
    assert scores["fc1"].shape == (6,) and scores["fc2"].shape == (5,)
    keep = baseline_unit_keep(net, PAIRS, {"fc1": 3, "fc2": 2}, method="l1_units")
    assert keep["fc1"].sum() == 3 and keep["fc2"].sum() == 2
    assert scores["fc2"][keep["fc2"]].min() >= scores["fc2"][~keep["fc2"]].max()  # highest L1 kept (ties: any)
    r1 = baseline_unit_keep(net, PAIRS, {"fc1": 3, "fc2": 2}, method="random_units", seed=1)
    r2 = structured_keep("random_units", net, None, PAIRS, n_keep={"fc1": 3, "fc2": 2}, seed=1)
    assert all((r1[k] == r2[k]).all() and r1[k].sum() == n for k, n in (("fc1", 3), ("fc2", 2)))
    masks = unit_weight_masks(net, PAIRS, keep)
    assert int((masks["fc1"].sum(dim=1) == 0).sum()) == 3
    with pytest.raises(ValueError, match="method"):
        baseline_unit_keep(net, PAIRS, {}, method="taylor")


def test_conv_and_flatten_masks():
    net = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(3, 2, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(2 * 4 * 4, 3),
    )
    keep = {"0": np.array([True, False, True]), "2": np.array([False, True])}
    masks = unit_weight_masks(net, [("0", "2"), ("2", "5")], keep)
    assert (masks["0"][1] == 0).all() and (masks["2"][:, 1] == 0).all() and (masks["2"][0] == 0).all()
    assert (masks["5"][:, :16] == 0).all() and (masks["5"][:, 16:] == 1).all()


def test_mipp_removed_units_compact_away(planted, planted_result):
    """MIPP's structured masks go through compaction: exactly the removed units disappear, outputs unchanged."""
    from mintlab.prune.compaction import compact

    _, data, _ = planted
    keep, masks = planted_result["keep"], planted_result["masks"]
    pruned = apply_masks(Planted().eval(), masks)
    x = data.tensors[0][:64]
    small = compact(pruned, x)
    assert small.fc1.out_features == int(keep["fc1"].sum()) and small.fc2.in_features == int(keep["fc1"].sum())
    assert small.fc2.out_features == int(keep["fc2"].sum()) and small.fc3.in_features == int(keep["fc2"].sum())
    with torch.no_grad():
        torch.testing.assert_close(small.eval()(x), pruned(x), atol=1e-5, rtol=0)
