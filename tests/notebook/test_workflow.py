"""The notebooks' cached workflow: equal sparsity across methods, and a finished step reloads identically."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from mintlab.notebook.workflow import (
    compare_methods,
    method_scores,
    pruned_network,
    table_rows,
)
from mintlab.prune.metrics import params_pruned_percent

PAIRS = [("1", "3"), ("3", "5")]


def _setup() -> tuple[nn.Module, TensorDataset]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 4))
    x = torch.rand(200, 1, 4, 4)
    data = TensorDataset(x, (x.flatten(1)[:, :4].argmax(1)))
    return model, data


def test_compare_methods_prunes_every_method_to_the_same_sparsity(tmp_path: Path) -> None:
    model, data = _setup()
    scores = {
        m: method_scores(
            model,
            data,
            PAIRS,
            m,
            groups=[[12, 8], [8, 4]],
            samples_per_class=10,
            seed=0,
            cache_dir=tmp_path / "scores",
            progress=False,
        )
        for m in ("magnitude", "random")
    }
    results = compare_methods(
        model,
        scores,
        train_data=data,
        test_data=data,
        prune_percent=60.0,
        skip=["5"],
        retrain_epochs=1,
        max_batches=2,
        cache_dir=tmp_path / "pruned",
        progress=False,
    )
    layer3 = [rec["per_layer_pruned_percent"]["3"] for _, rec in results.values()]
    assert layer3 == pytest.approx([60.0, 60.0], abs=100 / 96)  # within one 1×1 block of 96
    assert all(rec["per_layer_pruned_percent"]["5"] == 0.0 for _, rec in results.values())
    rows = table_rows(results, dense_accuracy=50.0, dense_memory_mb=1.0)
    assert [r["method"] for r in rows] == ["baseline (dense)", "magnitude", "random"]
    # the caller's model is untouched: the step works on a copy
    assert params_pruned_percent(model)["total"] == 0.0


def test_pruned_network_reloads_a_finished_step(tmp_path: Path) -> None:
    model, data = _setup()
    scores = method_scores(
        model,
        data,
        PAIRS,
        "magnitude",
        groups=(4, 4),
        samples_per_class=10,
        seed=0,
        cache_dir=tmp_path / "scores",
        progress=False,
    )
    kwargs = dict(
        train_data=data,
        test_data=data,
        prune_percent=50.0,
        retrain_epochs=1,
        max_batches=2,
        cache_dir=tmp_path / "pruned",
        progress=False,
    )
    net1, rec1 = pruned_network(model, scores, **kwargs)
    net2, rec2 = pruned_network(model, scores, **kwargs)  # from the cache
    assert rec1 == rec2
    for (k1, v1), (k2, v2) in zip(net1.state_dict().items(), net2.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2)
    assert torch.all(net2[3].weight[net2[3].weight_mask == 0] == 0)
    with pytest.raises(ValueError, match="retrain_epochs"):
        pruned_network(model, scores, **{**kwargs, "retrain_epochs": 0})


def test_mint_allocation_gives_every_method_the_leaders_per_layer_shares(tmp_path: Path) -> None:
    model, data = _setup()
    scores = {
        m: method_scores(model, data, PAIRS, m, groups=[[6, 4], [4, 2]], samples_per_class=10, seed=0,
                         cache_dir=tmp_path / "scores", progress=False)
        for m in ("magnitude", "random")
    }  # fmt: skip
    common = dict(train_data=data, test_data=data, retrain_epochs=1, max_batches=2, progress=False)
    results = compare_methods(
        model, scores, prune_percent=15.0, gamma={"3": 0.5}, allocation="mint", cache_dir=tmp_path / "p", **common
    )
    lead, follow = (rec["per_layer_pruned_percent"] for _, rec in results.values())
    assert lead == pytest.approx(follow)  # layer by layer, not only in total
    assert lead["3"] <= 50.0 + 1e-9  # the γ cap held for the leader, so for everyone
    total = sum(p.numel() for p in model.parameters())
    pruned = sum(lead[c] / 100 * getattr(model, c).weight.numel() for c in lead)
    assert 100 * pruned / total == pytest.approx(15.0, abs=1.0)  # the level is of all parameters
    assert {rec["allocation"] for _, rec in results.values()} == {"mint"}
    assert results["magnitude"][1]["delta"] is not None
    # the global allocation lets the follower choose its own per-layer shares (the same total)
    glob = compare_methods(model, scores, prune_percent=15.0, allocation="global", cache_dir=tmp_path / "g", **common)
    assert {rec["allocation"] for _, rec in glob.values()} == {"global"}
    with pytest.raises(ValueError, match="allocation"):
        compare_methods(model, scores, prune_percent=40.0, allocation="layerwise", cache_dir=tmp_path / "x", **common)


def test_prune_takes_keep_matrices_instead_of_a_spec(tmp_path: Path) -> None:
    import numpy as np

    from mintlab.prune.masks import PruneSpec
    from mintlab.prune.step import prune
    from mintlab.utils.checks import InvalidArgumentError
    from mintlab.utils.model_state import copy_model

    model, data = _setup()
    s = method_scores(model, data, PAIRS, "magnitude", groups=[[6, 4], [4, 2]], samples_per_class=10, seed=0,
                      cache_dir=tmp_path, progress=False)  # fmt: skip
    keep = {p.child: p.scores >= np.median(p.scores) for p in s.pairs}
    net = copy_model(model)
    out = prune(net, s, keep=keep)
    assert out["spec"] is None and all(np.array_equal(out["keep"][c], keep[c]) for c in keep)
    assert params_pruned_percent(net)["per_layer"]["3"] == pytest.approx(50.0)
    with pytest.raises(InvalidArgumentError, match="either `keep` or a spec"):
        prune(copy_model(model), s, PruneSpec(prune_percent=10.0), keep=keep)
