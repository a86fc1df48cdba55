"""SparseLinear computes what nn.Linear computes; sparsify_linear_layers swaps only by measurement."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mintlab.prune.sparse import SparseLinear, sparsify_linear_layers


def _sparse_linear(sparsity: float, seed: int = 0) -> nn.Linear:
    g = torch.Generator().manual_seed(seed)
    lin = nn.Linear(30, 20)
    with torch.no_grad():
        lin.weight.mul_((torch.rand(20, 30, generator=g) > sparsity).float())
    return lin


def test_sparse_linear_matches_dense_on_any_leading_shape():
    lin = _sparse_linear(0.8)
    s = SparseLinear(lin)
    for shape in [(5, 30), (2, 3, 30), (1, 30)]:
        x = torch.randn(*shape)
        with torch.no_grad():
            assert torch.allclose(s(x), lin(x), atol=1e-5)
    assert s.weight._nnz() == int((lin.weight != 0).sum())
    lin.bias = None
    assert torch.allclose(SparseLinear(lin)(torch.ones(2, 30)), lin(torch.ones(2, 30)).detach(), atol=1e-5)


def test_sparsify_replaces_by_decision_and_keeps_outputs():
    net = nn.Sequential(_sparse_linear(0.9), nn.ReLU(), nn.Linear(20, 4))
    x = torch.randn(6, 30)
    every, decisions = sparsify_linear_layers(net, 8, min_speedup=0.0, min_run_time=0.01)
    assert isinstance(every[0], SparseLinear) and isinstance(every[2], SparseLinear)
    assert set(decisions) == {"0", "2"} and all(d["sparse"] for d in decisions.values())
    none, decisions = sparsify_linear_layers(net, 8, min_speedup=1e9, min_run_time=0.01)
    assert isinstance(none[0], nn.Linear) and not any(d["sparse"] for d in decisions.values())
    with torch.no_grad():
        assert torch.allclose(every(x), net(x), atol=1e-5)
    assert isinstance(net[0], nn.Linear)  # input untouched


def test_bad_arguments():
    net = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(TypeError):
        SparseLinear(nn.Conv2d(1, 1, 1))
    with pytest.raises(ValueError, match="layers"):
        sparsify_linear_layers(net, 4, layers=["1"])
    with pytest.raises(ValueError, match="batch_size"):
        sparsify_linear_layers(net, 0)
    with pytest.raises(ValueError, match="min_speedup"):
        sparsify_linear_layers(net, 4, min_speedup=-1)
