"""What the zeros buy, measured: parameters, MACs, CSR memory, file size and CPU latency per model.

One function, :func:`compression_figures`, measures one model; :func:`compression_table` lines
up several (dense / masked / compacted / sparse) as rows, and :func:`plot_compression` draws
them (notebook 3 and ``benchmarks/bench_compaction.py`` call these two).

Sources of each figure:

* ``params_stored`` — entries held in parameters (a masked weight counts once: ``weight_orig``;
  the mask is a buffer and is not a parameter), plus the stored values of
  :class:`~mintlab.prune.sparse.SparseLinear` weights (CSR indices not counted; the file size
  has them). ``params_nonzero`` — the nonzero entries of the *effective* parameters.
* ``macs`` — Torch-Pruning's counter, ``tp.utils.count_ops_and_params`` (shape-based: a
  masked layer costs its dense MACs, which is what a dense kernel executes), for one sample;
  it counts a Linear as ``in·out`` multiply-adds plus ``out`` bias additions, and one op per
  ReLU / pooling / BatchNorm element (its convention, kept as is).
  SparseLinear layers are counted as the dense Linear they replace; ``sparse_nnz`` gives the
  multiply-adds per sample they really execute.
* ``csr_mb`` — :func:`mintlab.prune.metrics.csr_memory_mb`, the paper's CSR memory (weights of the
  Conv2d / Linear layers as ``scipy.sparse.save_npz`` files, 2**20 bytes per Mb).
* ``file_mb`` — ``torch.save(model.state_dict())`` bytes / 2**20 (masked models store
  ``weight_orig`` *and* ``weight_mask``, so they are larger than dense ones).
* ``latency_ms`` — ``torch.utils.benchmark.Timer(...).blocked_autorange`` median, one thread,
  after three warm-up calls, at each batch size (inputs shaped like ``example_inputs``).
"""

from __future__ import annotations

import contextlib
import io
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch_pruning as tp
from torch import nn
from torch.utils import benchmark

from mintlab.prune.compaction import _copy_with
from mintlab.prune.metrics import BYTES_PER_MB, csr_memory_mb
from mintlab.prune.sparse import SparseLinear
from mintlab.utils.model_state import preserved_state

__all__ = ["compression_figures", "compression_table", "plot_compression"]


def _param_counts(model: nn.Module) -> tuple[int, int, int]:
    stored = nonzero = sparse_nnz = 0
    for m in model.modules():
        if isinstance(m, SparseLinear):
            values = m.weight.values()
            stored += values.numel() + (0 if m.bias is None else m.bias.numel())
            nonzero += int((values != 0).sum()) + (0 if m.bias is None else int((m.bias != 0).sum()))
            sparse_nnz += int((values != 0).sum())
            continue
        for name, p in m.named_parameters(recurse=False):
            stored += p.numel()
            effective = p.detach()
            if name.endswith("_orig") and hasattr(m, name[: -len("_orig")] + "_mask"):
                effective = effective * getattr(m, name[: -len("_orig")] + "_mask")
            nonzero += int((effective != 0).sum())
    return stored, nonzero, sparse_nnz


def _dense_equivalent(model: nn.Module) -> nn.Module:
    """A plain copy for the MAC counter and the CSR figure: masks made permanent, SparseLinear back to Linear.

    (Torch-Pruning's counter deep-copies its model, which fails on masked weights and CSR tensors.)
    """
    memo: dict[int, Any] = {}
    for m in model.modules():
        if isinstance(m, SparseLinear):
            lin = nn.Linear(m.in_features, m.out_features, bias=m.bias is not None)
            with torch.no_grad():
                lin.weight.copy_(m.weight.to_dense())
                if m.bias is not None:
                    lin.bias.copy_(m.bias)
            memo[id(m)] = lin
    if id(model) in memo:
        return memo[id(model)]
    return _copy_with(model, memo)


def _latency_ms(model: nn.Module, x: torch.Tensor, min_run_time: float) -> float:
    with torch.no_grad():
        for _ in range(3):
            model(x)
        timer = benchmark.Timer(stmt="model(x)", globals={"model": model, "x": x}, num_threads=1)
        return 1e3 * float(timer.blocked_autorange(min_run_time=min_run_time).median)


def compression_figures(
    model: nn.Module,
    example_inputs: torch.Tensor,
    *,
    batch_sizes: Sequence[int] = (1, 256),
    min_run_time: float = 0.5,
    seed: int = 0,
) -> dict[str, Any]:
    """Size and speed of one model (see the module notes for how each figure is measured).

    The model is measured in eval mode and left as found (every module's mode, so a frozen BatchNorm stays
    frozen: :func:`mintlab.utils.model_state.preserved_state`).

    Args:
        model: dense, masked (``torch.nn.utils.prune``), compacted or with SparseLinear layers.
        example_inputs: a batch ``(N, ...)``; its first sample is used for MACs, its trailing
            shape for the latency inputs (random, seeded).
        batch_sizes: batch sizes to time; empty for no timing.
        min_run_time: seconds of timing per batch size (``blocked_autorange``).
        seed: seed of the random latency inputs.

    Returns:
        ``{"params_stored", "params_nonzero", "sparse_nnz", "macs", "csr_mb", "file_mb",
        "latency_ms": {batch_size: median ms}}``.

    Raises:
        TypeError: ``model`` not a module, ``example_inputs`` not a tensor.
        ValueError: a batch size < 1, or ``min_run_time`` <= 0.

    >>> f = compression_figures(nn.Linear(10, 4), torch.zeros(2, 10), batch_sizes=())
    >>> f["params_stored"], f["macs"], f["latency_ms"]
    (44, 44, {})
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected `model` as a torch.nn.Module, but got {type(model).__name__}")
    if not isinstance(example_inputs, torch.Tensor):
        raise TypeError(f"Expected `example_inputs` as a tensor, but got {type(example_inputs).__name__}")
    for b in batch_sizes:
        if isinstance(b, bool) or not isinstance(b, int) or b < 1:
            raise ValueError(f"Expected `batch_sizes` of ints >= 1, but got {b!r}")
    if not isinstance(min_run_time, (int, float)) or min_run_time <= 0:
        raise ValueError(f"Expected `min_run_time` > 0 seconds, but got {min_run_time!r}")
    with preserved_state(model):  # every module's mode (a frozen BatchNorm stays frozen), hooks, grads
        model.eval()
        stored, nonzero, sparse_nnz = _param_counts(model)
        dense_equivalent = _dense_equivalent(model)
        macs, _ = tp.utils.count_ops_and_params(dense_equivalent, example_inputs[:1])
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        csr = (
            csr_memory_mb(dense_equivalent)
            if any(isinstance(m, (nn.Conv2d, nn.Linear)) for m in dense_equivalent.modules())
            else 0.0
        )
        g = torch.Generator().manual_seed(seed)
        latency = {}
        for b in batch_sizes:
            x = torch.randn((b, *example_inputs.shape[1:]), generator=g, dtype=example_inputs.dtype)
            latency[int(b)] = _latency_ms(model, x, min_run_time)
    return {
        "params_stored": int(stored),
        "params_nonzero": int(nonzero),
        "sparse_nnz": int(sparse_nnz),
        "macs": int(macs),
        "csr_mb": float(csr),
        "file_mb": len(buf.getvalue()) / BYTES_PER_MB,
        "latency_ms": latency,
    }


def compression_table(
    models: Mapping[str, nn.Module],
    example_inputs: torch.Tensor,
    *,
    batch_sizes: Sequence[int] = (1, 256),
    min_run_time: float = 0.5,
    rounds: int = 3,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per model: ``{"model": label, **compression_figures(...), "speedup": {b: ×}}``.

    Latencies are measured in ``rounds`` interleaved rounds (every model once per round, at
    every batch size) and the median of the rounds is kept, so that a machine whose load drifts
    during the run does not favour one model. ``speedup`` is the first row's latency over this
    row's, measured in the same run (so ``{"masked": m, "compacted": compact(m, x)}`` gives what
    compaction buys over the masked model). Each model is timed in eval mode and left as found, as in
    :func:`compression_figures`.
    """
    if not isinstance(models, Mapping) or not models:
        raise TypeError(f"Expected `models` as a non-empty dict label → module, but got {type(models).__name__}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"Expected `rounds` as an int >= 1, but got {rounds!r}")
    rows = [
        {"model": str(label), **compression_figures(model, example_inputs, batch_sizes=(), seed=seed)}
        for label, model in models.items()
    ]
    for b in batch_sizes:
        if isinstance(b, bool) or not isinstance(b, int) or b < 1:
            raise ValueError(f"Expected `batch_sizes` of ints >= 1, but got {b!r}")
    g = torch.Generator().manual_seed(seed)
    inputs = {
        int(b): torch.randn((b, *example_inputs.shape[1:]), generator=g, dtype=example_inputs.dtype)
        for b in batch_sizes
    }
    times: dict[tuple[int, int], list[float]] = {}
    with contextlib.ExitStack() as stack:  # each model left as found (a frozen BatchNorm stays frozen)
        for m in models.values():
            stack.enter_context(preserved_state(m))
        for m in models.values():
            m.eval()
        for _ in range(rounds):
            for i, model in enumerate(models.values()):
                for b, x in inputs.items():
                    times.setdefault((i, b), []).append(_latency_ms(model, x, min_run_time))
    for i, row in enumerate(rows):
        row["latency_ms"] = {b: float(statistics.median(times[(i, b)])) for b in inputs}
    base = rows[0]["latency_ms"]
    for row in rows:
        row["speedup"] = {b: base[b] / t for b, t in row["latency_ms"].items() if t > 0}
    return rows


_CHARTS = (
    ("params_nonzero", "nonzero parameters"),
    ("macs", "MACs / sample"),
    ("file_mb", "saved file (MiB)"),
    ("csr_mb", "CSR memory (Mb)"),
)


def plot_compression(rows: Sequence[Mapping[str, Any]], *, title: str | None = None) -> Any:
    """Bars of :func:`compression_table` rows: size panels, then one latency panel per batch size.

    Returns the matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("Expected `rows` from compression_table, but got none")
    batches = list(rows[0]["latency_ms"])
    panels = list(_CHARTS) + [(("latency_ms", b), f"latency, batch {b} (ms)") for b in batches]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3.0), squeeze=False)
    labels = [r["model"] for r in rows]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (key, name) in zip(axes[0], panels, strict=True):
        values = [r[key[0]][key[1]] if isinstance(key, tuple) else r[key] for r in rows]
        ax.bar(range(len(rows)), values, color=[colors[i % len(colors)] for i in range(len(rows))])
        ax.set_xticks(range(len(rows)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
