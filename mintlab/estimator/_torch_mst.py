"""Batched dense Prim MSTs in torch, for :func:`mintlab.estimator.layer_pair.score_layer_pair` with ``device=``.

Same weights, same visiting rule and same tie-breaking as :func:`mintlab.estimator._mst.prim_parents`
(strictly smaller weights replace a key; the lowest vertex index wins among equal keys,
which is what ``torch.argmin`` returns), so on the same inputs it finds the same trees. Many
MSTs advance together, one vertex per step each, which suits a GPU; on a CPU it is only a
portable fallback (the numba kernels are faster there).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mintlab.utils.runtime import select_device

#: Memory budget of one batch of MSTs on a CPU, in bytes; on a CUDA device :func:`batch_bytes` takes a
#: quarter of the free memory instead (many MSTs per step amortise the ≈ 40 kernel launches of a step).
_BATCH_BYTES = 1 << 28
#: Bytes per merged point of one MST besides its coordinates: float64 key, long parent and visiting
#: parent, the visited flag and the float64 temporaries of one step.
_PER_POINT_BYTES = 8 * 12


def batch_bytes(dev: torch.device) -> int:
    """Memory budget of one batch of MSTs on ``dev``: a quarter of the free CUDA memory
    (``torch.cuda.mem_get_info``), at least :data:`_BATCH_BYTES`; :data:`_BATCH_BYTES` elsewhere."""
    if dev.type == "cuda":
        free, _ = torch.cuda.mem_get_info(dev)
        return max(_BATCH_BYTES, int(free) // 4)
    return _BATCH_BYTES


def cross_batch_torch(
    base: np.ndarray,
    has_base: bool,
    bws: np.ndarray,
    ft: np.ndarray,
    fidx: np.ndarray,
    fptr: np.ndarray,
    fws: np.ndarray,
    labels: np.ndarray,
    device: Any,
) -> np.ndarray:
    """Cross-edge counts of every task, as :func:`mintlab.estimator._mst.cross_batch` computes them."""
    dev = select_device(device)
    n = ft.shape[1]
    lab = torch.as_tensor(labels, device=dev)
    base_t = torch.as_tensor(base, dtype=torch.float64, device=dev) if has_base else None
    ft_t = torch.as_tensor(ft, dtype=torch.float64, device=dev)
    sizes = np.diff(fptr)
    out = np.empty(len(bws), np.int64)
    budget = batch_bytes(dev)
    for d in np.unique(sizes):  # tasks with the same number of features run together
        tasks = np.flatnonzero(sizes == d)
        per = max(1, budget // (n * (8 * int(d) + _PER_POINT_BYTES)))
        for s in range(0, len(tasks), per):
            t = tasks[s : s + per]
            idx = np.stack([fidx[fptr[k] : fptr[k + 1]] for k in t]) if d else np.zeros((len(t), 0), np.int64)
            w = np.stack([fws[fptr[k] : fptr[k + 1]] for k in t]) if d else np.zeros((len(t), 0))
            feats = ft_t[torch.as_tensor(idx, device=dev)]  # (T, d, n)
            parent = _prim(base_t, torch.as_tensor(bws[t], device=dev), feats, torch.as_tensor(w, device=dev), n)
            has = parent >= 0
            src = torch.where(has, parent, torch.zeros_like(parent))
            cross = (has & (lab[src] != lab[None, :])).sum(dim=1)
            out[t] = cross.cpu().numpy()
    return out


def _prim(base: torch.Tensor | None, bw: torch.Tensor, feats: torch.Tensor, fw: torch.Tensor, n: int) -> torch.Tensor:
    """Parents ``(T, n)`` of T MSTs (root 0 → -1)."""
    t_count, d, _ = feats.shape
    dev = feats.device
    rows = torch.arange(t_count, device=dev)
    key = torch.full((t_count, n), float("inf"), dtype=torch.float64, device=dev)
    par = torch.zeros((t_count, n), dtype=torch.long, device=dev)
    parent = torch.full((t_count, n), -1, dtype=torch.long, device=dev)
    visited = torch.zeros((t_count, n), dtype=torch.bool, device=dev)
    u = torch.zeros(t_count, dtype=torch.long, device=dev)
    visited[:, 0] = True
    for _ in range(n - 1):
        if base is not None:
            w = bw[:, None] * base[u]
        else:
            w = torch.zeros((t_count, n), dtype=torch.float64, device=dev)
        fu = feats[rows, :, u]  # (T, d)
        for k in range(d):  # accumulate in the numba kernel's order: identical rounding
            diff = fu[:, k, None] - feats[:, k, :]
            w = w + fw[:, k, None] * (diff * diff)
        upd = (w < key) & ~visited
        key = torch.where(upd, w, key)
        par = torch.where(upd, u[:, None], par)
        u = key.masked_fill(visited, float("inf")).argmin(dim=1)
        visited[rows, u] = True
        parent[rows, u] = par[rows, u]
    return parent
