"""A model that is already pruned works everywhere a dense one does (issue 12, case 1).

The model is the README's own-model MLP (docs/own_model.md), seeded. It carries ``torch.nn.utils.prune``
masks (``weight_orig`` / ``weight_mask``), on which ``copy.deepcopy`` raises.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from mintlab.nets.train import evaluate
from mintlab.notebook.widgets import MaskedEvaluator, PruningPanel, pruning_state
from mintlab.prune.masks import PruneSpec, effective_weight
from mintlab.prune.metrics import csr_memory_mb, params_pruned_percent
from mintlab.prune.scorers import get_scorer
from mintlab.prune.scores import compute_scores, link_weights
from mintlab.prune.step import prune
from mintlab.utils.model_state import copy_model, describe_state

PAIRS = [("1", "3"), ("3", "5")]
SCORED = ("3", "5")
#: Weights of the scored layers (16·32 + 4·16) and the largest block (4 × 4 units of layer "3").
SCORED_WEIGHTS, LARGEST_BLOCK = 576, 16


def _readme_model() -> tuple[nn.Module, TensorDataset]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 4))
    data = TensorDataset(torch.rand(400, 1, 8, 8), torch.arange(400) % 4)
    return model, data


def _scores(model: nn.Module, data, name: str):
    return compute_scores(
        model, data, PAIRS, get_scorer(name), groups=(8, 4), samples_per_class=50, seed=0, progress=False
    )


def _zeros_of_scored(model: nn.Module) -> int:
    modules = dict(model.named_modules())
    return sum(int((effective_weight(modules[c]) == 0).sum()) for c in SCORED)


@pytest.fixture(scope="module")
def pruned_once() -> tuple[nn.Module, TensorDataset]:
    model, data = _readme_model()
    prune(model, _scores(model, data, "magnitude"), prune_percent=50.0)
    return model, data


def test_deepcopy_fails_and_copy_model_works(pruned_once) -> None:
    model, _ = pruned_once
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(model)  # the PyTorch limitation copy_model exists for
    before = describe_state(model)
    twin = copy_model(model)
    assert describe_state(model) == before
    for name in SCORED:
        a, b = dict(model.named_modules())[name], dict(twin.named_modules())[name]
        assert torch.equal(a.weight_mask, b.weight_mask) and a.weight_mask is not b.weight_mask
        assert torch.equal(b.weight, effective_weight(a))
    x = torch.rand(5, 1, 8, 8)
    assert torch.equal(model(x), twin(x))
    with torch.no_grad():
        twin[3].weight_orig.add_(1.0)
    assert not torch.equal(model(x), twin(x))  # independent


def test_masked_evaluator_on_a_pruned_model(pruned_once) -> None:
    model, data = pruned_once
    evaluator = MaskedEvaluator(model, data, max_examples=400)
    assert evaluator.accuracy({}) == pytest.approx(evaluate(model, data)["accuracy"])
    # the panel's numbers describe the model as it would be: old zeros plus the new cut
    scores = _scores(model, data, "magnitude")
    state = pruning_state(model, scores, PruneSpec(delta=0.0), evaluator=evaluator)  # δ = 0 removes nothing new
    for name in SCORED:
        assert state["per_layer_percent"][name] == pytest.approx(params_pruned_percent(model)["per_layer"][name])
    panel = PruningPanel(model, lambda _label: scores, ["G"], evaluator=evaluator, delta=0.0, gamma=1.0)
    assert panel.state()["accuracy_masked"] == pytest.approx(evaluator.accuracy({}))


def test_pruned_network_accepts_a_pruned_model(pruned_once, tmp_path) -> None:
    from mintlab.notebook.workflow import pruned_network

    model, data = pruned_once
    scores = _scores(model, data, "magnitude")
    net, record = pruned_network(
        model,
        scores,
        train_data=data,
        test_data=data,
        prune_percent=50.0,
        retrain_epochs=1,
        max_batches=2,
        cache_dir=tmp_path,
        progress=False,
    )
    assert net is not model
    zeros = _zeros_of_scored(net) / SCORED_WEIGHTS
    assert zeros == pytest.approx(0.75, abs=2 * LARGEST_BLOCK / SCORED_WEIGHTS)  # 50 % of the remaining 50 %
    assert record["per_layer_pruned_percent"] == params_pruned_percent(net)["per_layer"]


def test_pruning_twice_with_mint_reports_the_model_as_it_is() -> None:
    """Second prune_percent = share of the weights that remain: 50 % then 50 % leaves 25 %. The summary is the
    model's zeros (masks multiply), ``cut`` is what the second round removed of what remained."""
    model, data = _readme_model()
    first = prune(model, _scores(model, data, "mint"), prune_percent=50.0)
    left = SCORED_WEIGHTS - _zeros_of_scored(model)
    assert left == pytest.approx(SCORED_WEIGHTS / 2, abs=LARGEST_BLOCK)
    assert first["summary"]["per_layer"] == pytest.approx(
        {k: v for k, v in params_pruned_percent(model)["per_layer"].items() if k in SCORED}
    )

    second = prune(model, _scores(model, data, "mint"), prune_percent=50.0)
    actual = params_pruned_percent(model)
    for name in SCORED:  # the report describes the model as it is
        assert second["summary"]["per_layer"][name] == pytest.approx(actual["per_layer"][name])
    assert second["summary"]["total"] == pytest.approx(actual["total"])
    removed_now = left - (SCORED_WEIGHTS - _zeros_of_scored(model))
    assert second["cut"]["removed_weights"] == removed_now
    assert removed_now / left == pytest.approx(0.5, abs=LARGEST_BLOCK / left)  # of what remained
    assert second["cut"]["total"] == pytest.approx(100.0 * removed_now / left)
    assert _zeros_of_scored(model) / SCORED_WEIGHTS == pytest.approx(0.75, abs=2 * LARGEST_BLOCK / SCORED_WEIGHTS)


def test_weight_readers_use_effective_weights_after_an_optimizer_step(pruned_once) -> None:
    """After an optimizer step and no forward pass, a pruned module's ``weight`` attribute is stale; every
    reader computes ``weight_orig * weight_mask`` afresh."""
    base, data = pruned_once
    model = copy_model(base)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x, y = data.tensors
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()  # weight_orig changed; model[3].weight still holds the product from before the step
    layer = model[3]
    fresh = (layer.weight_orig * layer.weight_mask).detach()
    assert not torch.equal(layer.weight.detach(), fresh)  # the stale attribute, as torch leaves it
    from mintlab.prune.activations import pair_geometry

    geom = pair_geometry(model, ("1", "3"))
    assert np.array_equal(link_weights(layer, geom).reshape(fresh.shape), fresh.double().numpy())
    p = _scores(model, data, "magnitude")["3"]
    sums = np.zeros_like(p.scores)
    np.add.at(sums, (p.child_groups[:, None], p.parent_groups[None, :]), fresh.abs().double().numpy())
    assert np.allclose(p.scores, sums / p.cell_weights, rtol=1e-12)  # mean |w| of the effective weights
    assert csr_memory_mb(model, layers=["3"]) == csr_memory_mb(_with_weight(fresh), layers=["0"])
    assert MaskedEvaluator(model, data, max_examples=400).accuracy({}) == pytest.approx(
        evaluate(model, data)["accuracy"]
    )


def _with_weight(w: torch.Tensor) -> nn.Module:
    layer = nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad():
        layer.weight.copy_(w)
    return nn.Sequential(layer)
