"""Sparse execution of the Linear layers compaction cannot shrink: torch CSR matrices, kept where they win.

Compaction (:mod:`mintlab.prune.compaction`) removes whole units; the zero *blocks* between the
units that remain are still stored and multiplied. :class:`SparseLinear` holds such a weight
as a ``torch.sparse_csr`` tensor and computes ``y = (W_csr @ xᵀ)ᵀ + b`` (MKL sparse on CPU).

Block-sparse (BSR) storage would suit MINT's block masks better, but torch's CPU kernels
(MKL) only take *square* blocks (``"MKL Sparse doesn't support matrices with non-square
blocks"``, measured with torch 2.15), and MINT's blocks are ``units_per_child_group ×
units_per_parent_group`` (e.g. 3×2 for the MLP's fc2); CSR stores the same nonzeros without
that constraint. Whether sparse beats dense depends on the sparsity, the batch size and the
machine, so :func:`sparsify_linear_layers` *measures* each layer (``torch.utils.benchmark``,
one thread, median) and swaps it only where the sparse product is faster;
``benchmarks/bench_compaction.py`` reports the crossover.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import torch
from torch import nn
from torch.utils import benchmark

from mintlab.prune.compaction import dense_copy

__all__ = ["SparseLinear", "sparsify_linear_layers", "time_linear"]


class SparseLinear(nn.Module):
    """``nn.Linear`` with its weight stored as a CSR matrix (a buffer; inference only).

    Args:
        linear: the layer to convert (its effective weight: zeros included in the mask).

    Shapes: ``(..., in_features) -> (..., out_features)``, as ``nn.Linear``.

    >>> lin = nn.Linear(4, 3)
    >>> with torch.no_grad():
    ...     _ = lin.weight.mul_(torch.tensor([[1.0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]))
    >>> s = SparseLinear(lin)
    >>> s.weight._nnz(), bool(torch.allclose(s(torch.ones(2, 4)), lin(torch.ones(2, 4))))
    (2, True)
    """

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"Expected `linear` as a torch.nn.Linear, but got {type(linear).__name__}")
        self.in_features, self.out_features = linear.in_features, linear.out_features
        weight = linear.weight.detach().clone()
        self.register_buffer("weight", weight.to_sparse_csr())
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        y = torch.mm(self.weight, x.reshape(-1, self.in_features).T).T
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, nnz={self.weight._nnz()}"


def _median_seconds(fn, x: torch.Tensor, min_run_time: float) -> float:
    with torch.no_grad():
        for _ in range(3):  # warm-up
            fn(x)
        timer = benchmark.Timer(stmt="fn(x)", globals={"fn": fn, "x": x}, num_threads=1)
        return float(timer.blocked_autorange(min_run_time=min_run_time).median)


def time_linear(
    linear: nn.Linear, batch_size: int, *, min_run_time: float = 0.2, rounds: int = 3, seed: int = 0
) -> dict:
    """Median seconds of one forward at ``batch_size``: dense ``nn.Linear`` vs :class:`SparseLinear` (1 thread).

    Dense and sparse are timed alternately in ``rounds`` rounds and the median round kept, so
    a drifting machine load does not favour either.

    Returns ``{"dense_s", "sparse_s", "sparsity", "speedup"}`` (``speedup`` = dense / sparse).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"Expected `batch_size` as an int >= 1, but got {batch_size!r}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"Expected `rounds` as an int >= 1, but got {rounds!r}")
    x = torch.randn(batch_size, linear.in_features, generator=torch.Generator().manual_seed(seed))
    sparse = SparseLinear(linear)
    dense_t, sparse_t = [], []
    for _ in range(rounds):
        dense_t.append(_median_seconds(linear, x, min_run_time))
        sparse_t.append(_median_seconds(sparse, x, min_run_time))
    dense_s, sparse_s = statistics.median(dense_t), statistics.median(sparse_t)
    sparsity = 1.0 - sparse.weight._nnz() / linear.weight.numel()
    return {"dense_s": dense_s, "sparse_s": sparse_s, "sparsity": sparsity, "speedup": dense_s / sparse_s}


def sparsify_linear_layers(
    model: nn.Module,
    batch_size: int,
    *,
    layers: Sequence[str] | None = None,
    min_speedup: float = 1.0,
    min_run_time: float = 0.2,
) -> tuple[nn.Module, dict[str, dict]]:
    """A copy of ``model`` whose Linear layers run as :class:`SparseLinear` where that was measured faster.

    Each candidate layer is timed alone at ``batch_size`` (:func:`time_linear`) and replaced
    when ``speedup > min_speedup``. ``min_speedup=0`` replaces every candidate (tests).

    Args:
        model: a (compacted or masked) network; not modified.
        batch_size: the batch the decision is measured at (sparse wins at large batches first).
        layers: names of Linear modules to consider (default: all).
        min_speedup: dense time / sparse time a layer must beat.
        min_run_time: seconds of timing per variant and layer.

    Returns:
        ``(model copy in eval mode, {layer: time_linear(...) + {"sparse": bool}})``.

    Raises:
        ValueError: an unknown or non-Linear name in ``layers``; a bad ``batch_size``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected `model` as a torch.nn.Module, but got {type(model).__name__}")
    if isinstance(min_speedup, bool) or not isinstance(min_speedup, (int, float)) or min_speedup < 0:
        raise ValueError(f"Expected `min_speedup` as a number >= 0, but got {min_speedup!r}")
    work = dense_copy(model).eval()
    modules = dict(work.named_modules())
    names = [n for n, m in modules.items() if isinstance(m, nn.Linear)] if layers is None else list(layers)
    for n in names:
        if not isinstance(modules.get(n), nn.Linear):
            raise ValueError(f"Expected `layers` to name Linear modules, but got {n!r}")
    decisions = {}
    for n in names:
        t = time_linear(modules[n], batch_size, min_run_time=min_run_time, rounds=1 if min_run_time < 0.05 else 3)
        t["sparse"] = t["speedup"] > min_speedup
        decisions[n] = t
        if t["sparse"] and n == "":  # the model is itself a Linear
            work = SparseLinear(work)
        elif t["sparse"]:
            parent_name, _, attr = n.rpartition(".")
            setattr(modules[parent_name] if parent_name else work, attr, SparseLinear(modules[n]))
    return work, decisions
