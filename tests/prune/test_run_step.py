"""run_step: the one prune → retrain step (mask, BatchNorm re-estimation, evaluate, retrain, evaluate, masks held,
each stage timed) on a copy of the dense network, and its RunRecord."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from mintlab.nets.checkpoints import state_dict_hash
from mintlab.nets.recipes import Recipe
from mintlab.nets.train import evaluate
from mintlab.prune.allocation import keep_following, keep_for_allocation, keep_for_level, keep_global
from mintlab.prune.masks import PruneSpec, effective_weight
from mintlab.prune.record import STAGES, RunRecord
from mintlab.prune.scorers import MagnitudeScorer, RandomScorer
from mintlab.prune.scores import compute_scores
from mintlab.prune.step import check_masks_held, dense_accuracy, recalibrate_batchnorm, run_step
from mintlab.utils.checks import InvalidArgumentError

RECIPE = Recipe(epochs=1, batch_size=16, lr=0.05)


class ConvBN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean((2, 3)))


def _data(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randn(n, 1, 6, 6, generator=g) + y[:, None, None, None].float()
    return TensorDataset(x, y)


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    net = ConvBN().eval()
    train, test = _data(96, 0), _data(48, 1)
    scores = compute_scores(
        net,
        train,
        [("conv1", "conv2"), ("conv2", "fc")],
        MagnitudeScorer(),
        groups=(2, 2),
        samples_per_class=4,
        seed=0,
        progress=False,
    )
    return net, train, test, scores


def test_the_step_records_every_stage_and_leaves_the_dense_network_alone(setup) -> None:
    net, train, test, scores = setup
    before = state_dict_hash(net)
    keep = PruneSpec(prune_percent=50.0).keep(scores)
    pruned, record = run_step(
        net,
        keep,
        scores,
        train_data=train,
        test_data=test,
        recipe=RECIPE,
        seed=3,
        method="magnitude",
        allocation="global",
        target_percent=40.0,
        bn_images=32,
    )
    assert state_dict_hash(net) == before and not hasattr(net.conv2, "weight_mask")
    assert isinstance(record, RunRecord) and record.run_id == "global/3/40/magnitude"
    assert set(record.seconds) == set(STAGES) and all(v >= 0 for v in record.seconds.values())
    assert record.retrain_epochs == 1 and record.retrain_mode["dtype"] == "fp32"
    # the accuracy recorded is the network's, and its masks still zero what the keep-matrices removed
    assert evaluate(pruned, test)["accuracy"] == pytest.approx(record.accuracy_retrained)
    for layer, pct in record.mask_pruned_percent.items():
        assert record.per_layer_pruned_percent[layer] == pytest.approx(pct, abs=1e-9)
    assert 0 < record.pruned_percent < 100
    assert set(record.to_json()) == {f.name for f in dataclasses.fields(RunRecord)}
    assert RunRecord.from_json(record.to_json()) == record


def test_weight_masks_run_through_the_same_step(setup) -> None:
    """MIPP's unit masks (or a user's own) are weight masks: no scores needed."""
    net, train, test, _ = setup
    mask = torch.ones_like(net.conv2.weight)
    mask[:4] = 0  # four whole filters
    pruned, record = run_step(net, {"conv2": mask}, train_data=train, test_data=test, recipe=RECIPE, bn_images=0)
    assert record.mask_pruned_percent == {"conv2": 50.0} and record.per_layer_pruned_percent["conv2"] == 50.0
    assert bool((effective_weight(pruned.conv2)[:4] == 0).all())
    with pytest.raises(InvalidArgumentError, match="Expected `scores` with keep-matrices"):
        run_step(net, {"conv2": np.ones((2, 2), bool)}, train_data=train, test_data=test, recipe=RECIPE)


def test_in_place_with_a_curve_masks_the_network_itself_once(setup) -> None:
    """``in_place`` (prune_and_retrain's mode) works on the network given; a mask it already carries is not
    installed a second time; ``curve`` keeps the per-epoch test accuracy in the record."""
    from torch.nn.utils import prune as torch_prune

    net, train, test, _ = setup
    own = ConvBN()
    own.load_state_dict(net.state_dict())
    mask = torch.ones_like(own.conv2.weight)
    mask[:3] = 0
    torch_prune.custom_from_mask(own.conv2, "weight", mask)
    hooks = len(own.conv2._forward_pre_hooks)
    out, record = run_step(own, {"conv2": mask}, train_data=train, test_data=test, recipe=RECIPE, bn_images=8,
                           in_place=True, curve=True)  # fmt: skip
    assert out is own and len(own.conv2._forward_pre_hooks) == hooks
    assert torch.equal(own.conv2.weight_mask, mask) and bool((own.conv2.weight[:3] == 0).all())
    assert len(record.extra["history"]["test_accuracy"]) == RECIPE.epochs
    _, plain = run_step(net, {"conv2": mask}, train_data=train, test_data=test, recipe=RECIPE, bn_images=8)
    assert plain.extra == {} and not hasattr(net.conv2, "weight_mask")  # a copy, no curve


def test_a_mask_that_did_not_hold_is_an_error(setup) -> None:
    net, *_ = setup
    with pytest.raises(RuntimeError, match=r"A masked weight of 'conv2' is not zero after retraining \(run x\)"):
        check_masks_held(net, {"conv2": torch.zeros_like(net.conv2.weight)}, "run x")


def test_dense_accuracy_is_measured_as_the_pruned_networks_are(setup) -> None:
    net, train, test, _ = setup
    stats = net.bn1.running_mean.clone()
    copy = ConvBN()
    copy.load_state_dict(net.state_dict())
    recalibrate_batchnorm(copy, train, images=32, seed=5)
    assert dense_accuracy(net, train, test, bn_images=32, seed=5) == pytest.approx(evaluate(copy, test)["accuracy"])
    assert torch.equal(net.bn1.running_mean, stats)  # measured on a copy: the dense network keeps its statistics
    assert not torch.equal(copy.bn1.running_mean, stats)  # the re-estimation did change them


def test_the_allocations_reach_the_level_their_way() -> None:
    torch.manual_seed(0)
    net = ConvBN()
    s = compute_scores(
        net,
        None,
        [("conv1", "conv2"), ("conv2", "fc")],
        RandomScorer(),
        groups=(2, 2),
        samples_per_class=1,
        seed=0,
        progress=False,
    )
    m = compute_scores(
        net,
        None,
        [("conv1", "conv2"), ("conv2", "fc")],
        MagnitudeScorer(),
        groups=(2, 2),
        samples_per_class=1,
        seed=0,
        progress=False,
    )
    total = s.meta["total_params"]
    delta, lead = keep_for_level(s, 30.0, tolerance=10.0)
    follow = keep_following(m, lead)
    for p in s.pairs:  # the follower removes the leader's share of every layer
        w = p.cell_weights
        assert w[~follow[p.child]].sum() == w[~lead[p.child]].sum()
    glob = keep_global(m, 30.0)
    removed = sum(p.cell_weights[~glob[p.child]].sum() for p in m.pairs)
    assert abs(100.0 * removed / total - 30.0) <= 100.0 * max(p.cell_weights.max() for p in m.pairs) / total
    assert keep_for_allocation("global", m, 30.0)[0] is None
    d2, k2 = keep_for_allocation("mint", m, 30.0, leader=s, tolerance=10.0)
    assert d2 == delta and all((k2[c] == follow[c]).all() for c in follow)
    with pytest.raises(ValueError, match="at most the pruned layers' share"):
        keep_global(m, 99.9)
