"""Compression figures: counts from the effective weights, MACs from Torch-Pruning, rows and a plot."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from mintlab.prune.compaction import compact
from mintlab.prune.compression import compression_figures, compression_table, plot_compression
from mintlab.prune.sparse import sparsify_linear_layers


def _macs(*layers: tuple[int, int]) -> int:
    """Torch-Pruning's count for Linear → ReLU → ... → Linear: in·out + out per Linear, one op per ReLU input."""
    return sum(i * o + o for i, o in layers) + sum(o for _, o in layers[:-1])


def _nets() -> tuple[nn.Module, nn.Module, torch.Tensor]:
    dense = nn.Sequential(nn.Linear(12, 10), nn.ReLU(), nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 3))
    masked = nn.Sequential(nn.Linear(12, 10), nn.ReLU(), nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 3))
    masked.load_state_dict(dense.state_dict())
    m = torch.ones(8, 10)
    m[:, :4] = 0  # four units of layer 0 feed nothing
    prune.custom_from_mask(masked[2], "weight", m)
    return dense, masked, torch.randn(4, 12)


def test_figures_count_effective_weights_and_dense_macs():
    dense, masked, x = _nets()
    fd = compression_figures(dense, x, batch_sizes=())
    fm = compression_figures(masked, x, batch_sizes=())
    assert fd["params_stored"] == fm["params_stored"] == 12 * 10 + 10 + 10 * 8 + 8 + 8 * 3 + 3
    assert fm["params_nonzero"] == fd["params_nonzero"] - 8 * 4
    assert fd["macs"] == fm["macs"] == _macs((12, 10), (10, 8), (8, 3))  # a dense kernel runs the masked zeros too
    assert fm["file_mb"] > fd["file_mb"]  # the mask is saved next to weight_orig
    assert fm["csr_mb"] < fd["csr_mb"]
    small = compact(masked, x)
    fc = compression_figures(small, x, batch_sizes=())
    assert fc["params_stored"] == fc["params_nonzero"] == fm["params_nonzero"] - 4 * 12 - 4
    assert fc["macs"] == _macs((12, 6), (6, 8), (8, 3))


def test_sparse_rows_count_stored_values_and_nnz():
    _, masked, x = _nets()
    sparse, _ = sparsify_linear_layers(masked, 4, min_speedup=0.0, min_run_time=0.01)
    fs = compression_figures(sparse, x, batch_sizes=())
    fm = compression_figures(masked, x, batch_sizes=())
    assert fs["params_stored"] == fs["params_nonzero"] == fm["params_nonzero"]
    assert fs["sparse_nnz"] == fm["params_nonzero"] - (10 + 8 + 3)
    assert fs["macs"] == fm["macs"] and abs(fs["csr_mb"] - fm["csr_mb"]) < 1e-9


def test_table_rows_latency_and_plot():
    _, masked, x = _nets()
    rows = compression_table(
        {"masked": masked, "compacted": compact(masked, x)}, x, batch_sizes=(1, 3), min_run_time=0.01, rounds=2
    )
    assert [r["model"] for r in rows] == ["masked", "compacted"]
    assert set(rows[1]["latency_ms"]) == {1, 3} and all(t > 0 for t in rows[1]["latency_ms"].values())
    assert rows[0]["speedup"] == {1: 1.0, 3: 1.0}
    assert masked.training  # the mode is restored
    fig = plot_compression(rows, title="t")
    assert len(fig.axes) == 6


def test_bad_arguments():
    _, masked, x = _nets()
    with pytest.raises(TypeError):
        compression_figures(masked, [x])
    with pytest.raises(ValueError, match="batch_sizes"):
        compression_figures(masked, x, batch_sizes=(0,))
    with pytest.raises(TypeError, match="models"):
        compression_table({}, x)
    with pytest.raises(ValueError, match="rounds"):
        compression_table({"m": masked}, x, rounds=0)
    with pytest.raises(ValueError, match="rows"):
        plot_compression([])
