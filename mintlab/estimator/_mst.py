"""Numba kernels behind :mod:`mintlab.estimator.gmi` and :mod:`mintlab.estimator.layer_pair` (private).

One dense Prim MST serves every estimator. The squared edge weight between merged points
``u`` and ``v`` is

    W(u, v) = bw * base[u, v] + sum_k fw[k] * (F[k, u] - F[k, v]) ** 2

``base`` is a precomputed squared-distance matrix over the coordinates every task shares
(for a layer pair: all parents, computed once); ``F`` holds a task's own coordinates and
``fw`` their weights (a weight of -1 subtracts a block that ``base`` already contains; that
is how "all parents but group j" is formed without recomputing anything). Squared distances
give the same MST as distances.

Prim's algorithm keeps the not-yet-visited vertices in a list sorted by vertex index and
compacts it lazily, so the scan over them is ~n²/2 edge evaluations in total and the reads of
``base[u]`` are monotone. Ties are broken deterministically: among equal keys the lowest
vertex index is taken next, and a key is only replaced by a strictly smaller weight.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__: list[str] = []


@njit(cache=True, nogil=True, parallel=True)
def sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # pragma: no cover - numba
    """Exact squared Euclidean distances ``(len(a), len(b))``: sums of squared differences.

    No ``|a|² + |b|² − 2ab`` expansion, so identical rows give exactly 0 and the result is
    exactly symmetric when ``a is b``.
    """
    na, d = a.shape
    nb = b.shape[0]
    at = np.ascontiguousarray(a.T)
    bt = np.ascontiguousarray(b.T)
    out = np.zeros((na, nb))
    rb = 16  # rows per block: each column of ``bt`` is read once per block, not once per row
    for blk in prange((na + rb - 1) // rb):
        lo = blk * rb
        hi = min(lo + rb, na)
        for k in range(d):
            bk = bt[k]
            for i in range(lo, hi):
                ak = at[k, i]
                row = out[i]
                for j in range(nb):
                    t = ak - bk[j]
                    row[j] += t * t
    return out


@njit(cache=True, nogil=True)
def prim_parents_many(base, has_base, bws, feats, fws, parent_out):  # pragma: no cover - numba
    """Dense Prim MSTs of ``K`` tasks advanced in lockstep, one vertex per task per step.

    ``feats`` is ``(K, d, n)``, ``fws`` ``(K, d)``, ``bws`` ``(K,)``; writes each vertex's MST
    parent into ``parent_out[k]`` (root 0 → -1). Tasks that share ``base`` and differ only a
    little (the child groups of one parent group) visit similar vertices at the same step, so
    the rows of ``base`` they read are often still in cache: lockstep saves memory traffic.
    """
    n_k, d, n = feats.shape
    order = np.empty((n_k, n), np.int64)
    f = feats.copy()
    key = np.full((n_k, n), np.inf)
    pen = np.zeros((n_k, n))
    par = np.zeros((n_k, n), np.int64)
    w = np.empty(n)
    fu = np.empty(d)
    na = np.full(n_k, n)
    q = np.zeros(n_k, np.int64)
    ndead = np.zeros(n_k, np.int64)
    for t in range(n_k):
        for v in range(n):
            order[t, v] = v
        parent_out[t, 0] = -1
    for _ in range(n - 1):
        for t in range(n_k):
            o, kt, pt, pa, ft = order[t], key[t], pen[t], par[t], f[t]
            qq = q[t]
            nat = na[t]
            u = o[qq]
            for k in range(d):
                fu[k] = ft[k, qq]
            pt[qq] = np.inf
            kt[qq] = np.inf
            ndead[t] += 1
            if ndead[t] * 8 > nat:  # stable compaction keeps the list sorted by vertex index
                j = 0
                for p in range(nat):
                    if pt[p] == 0.0:
                        o[j] = o[p]
                        kt[j] = kt[p]
                        pa[j] = pa[p]
                        for k in range(d):
                            ft[k, j] = ft[k, p]
                        j += 1
                pt[:j] = 0.0
                nat = j
                ndead[t] = 0
            if has_base:
                bw = bws[t]
                row = base[u]
                for p in range(nat):
                    w[p] = bw * row[o[p]] + pt[p]
            else:
                for p in range(nat):
                    w[p] = pt[p]
            for k in range(d):
                f0 = fu[k]
                s = fws[t, k]
                fk = ft[k]
                for p in range(nat):
                    tt = f0 - fk[p]
                    w[p] += s * (tt * tt)
            best = np.inf
            bq = -1
            for p in range(nat):
                wp = w[p]
                kp = kt[p]
                if wp < kp:
                    kt[p] = wp
                    pa[p] = u
                    kp = wp
                if kp < best:
                    best = kp
                    bq = p
            if bq < 0:  # only NaN weights left (inputs are validated, so this cannot happen)
                for p in range(nat):
                    if pt[p] == 0.0:
                        bq = p
                        break
            q[t] = bq
            na[t] = nat
            parent_out[t, o[bq]] = pa[bq]
    return parent_out


@njit(cache=True, nogil=True)
def prim_parents(base, has_base, bw, feats, fw, parent_out):  # pragma: no cover - numba
    """Dense Prim MST of one task; writes each vertex's MST parent into ``parent_out`` (root → -1)."""
    out = np.empty((1, feats.shape[1]), np.int64)
    prim_parents_many(base, has_base, np.full(1, bw), feats.reshape((1,) + feats.shape),
                      fw.reshape((1, fw.shape[0])), out)
    parent_out[:] = out[0]
    return parent_out


@njit(cache=True, nogil=True)
def cross_count(parent, labels):  # pragma: no cover - numba
    """Number of MST edges ``(v, parent[v])`` whose endpoints carry different labels."""
    r = 0
    for v in range(parent.shape[0]):
        p = parent[v]
        if p >= 0 and labels[v] != labels[p]:
            r += 1
    return r


#: MSTs one thread advances in lockstep (measured: 4 saves ≈ 25 % on the paper-size pair).
LOCKSTEP = 4


@njit(cache=True, nogil=True, parallel=True)
def cross_batch(base, has_base, bws, ft, fidx, fptr, fws, labels):  # pragma: no cover - numba
    """Cross-edge counts of many MSTs at once (parallel over groups of ``LOCKSTEP`` tasks).

    Task ``t`` uses feature rows ``ft[fidx[fptr[t]:fptr[t+1]]]`` with weights
    ``fws[fptr[t]:fptr[t+1]]`` and ``bws[t] * base``. Tasks with fewer features are padded
    with zero-weight ones, which add exactly 0 to every weight.
    """
    n_tasks = bws.shape[0]
    n = ft.shape[1]
    dmax = 0
    for t in range(n_tasks):
        dmax = max(dmax, fptr[t + 1] - fptr[t])
    out = np.zeros(n_tasks, np.int64)
    for b in prange((n_tasks + LOCKSTEP - 1) // LOCKSTEP):
        t0 = b * LOCKSTEP
        nk = min(t0 + LOCKSTEP, n_tasks) - t0
        feats = np.zeros((nk, dmax, n))
        fw = np.zeros((nk, dmax))
        bw = np.empty(nk)
        for t in range(nk):
            lo = fptr[t0 + t]
            for k in range(fptr[t0 + t + 1] - lo):
                feats[t, k] = ft[fidx[lo + k]]
                fw[t, k] = fws[lo + k]
            bw[t] = bws[t0 + t]
        parent = np.empty((nk, n), np.int64)
        prim_parents_many(base, has_base, bw, feats, fw, parent)
        for t in range(nk):
            out[t0 + t] = cross_count(parent[t], labels)
    return out


@njit(cache=True, nogil=True)
def _argmin_from(dist, start, used, reuse):  # pragma: no cover - numba
    """Position of the smallest ``dist``, scanning from ``start`` round the end (first wins)."""
    nb = dist.shape[0]
    best = np.inf
    bi = -1
    for b in range(start, nb):
        if dist[b] < best and (reuse or not used[b]):
            best = dist[b]
            bi = b
    for b in range(0, start):
        if dist[b] < best and (reuse or not used[b]):
            best = dist[b]
            bi = b
    if bi < 0:  # every candidate used or NaN: cannot happen with validated inputs and |B| >= |A|
        bi = start
    return bi


@njit(cache=True, nogil=True, parallel=True)
def donors_base(dab, pa, pb, gidx, gptr, starts, reuse):  # pragma: no cover - numba
    """Nearest-neighbour donors for every parent group at once.

    For group ``g`` (parent columns ``gidx[gptr[g]:gptr[g+1]]``), row ``a`` of A takes the row of
    B minimising ``dab[a, b] - sum_k (pa[a, k] - pb[b, k])²`` (all parents but group g).
    Exact ties go to the first position met when scanning B from ``starts[a]`` (seeded per
    receiver, so tied donors are spread rather than one donor taking them all).
    ``reuse=False`` lets each donor serve one receiver only (receivers in row order of A).
    Returns ``(G, len(A))`` donor positions in B.
    """
    ng = gptr.shape[0] - 1
    na = dab.shape[0]
    nb = dab.shape[1]
    out = np.empty((ng, na), np.int64)
    pat = np.ascontiguousarray(pa.T)
    pbt = np.ascontiguousarray(pb.T)
    for g in prange(ng):
        lo = gptr[g]
        hi = gptr[g + 1]
        used = np.zeros(nb, np.bool_)
        dist = np.empty(nb)
        for a in range(na):
            row = dab[a]
            for b in range(nb):
                dist[b] = row[b]
            for kk in range(lo, hi):
                k = gidx[kk]
                v = pat[k, a]
                pk = pbt[k]
                for b in range(nb):
                    t = v - pk[b]
                    dist[b] -= t * t
            bi = _argmin_from(dist, starts[a], used, reuse)
            used[bi] = True
            out[g, a] = bi
    return out


@njit(cache=True, nogil=True, parallel=True)
def donors_feats(za, zb, starts, reuse):  # pragma: no cover - numba
    """Nearest-neighbour donors for many tasks in low dimension (brute force, parallel over tasks).

    ``za`` is ``(T, d, len(A))`` and ``zb`` ``(T, d, len(B))``; returns ``(T, len(A))``
    positions in B (ties and ``reuse`` as in :func:`donors_base`).
    """
    nt = za.shape[0]
    d = za.shape[1]
    na = za.shape[2]
    nb = zb.shape[2]
    out = np.empty((nt, na), np.int64)
    for t in prange(nt):
        used = np.zeros(nb, np.bool_)
        dist = np.empty(nb)
        for a in range(na):
            dist[:] = 0.0
            for k in range(d):
                v = za[t, k, a]
                zk = zb[t, k]
                for b in range(nb):
                    s = v - zk[b]
                    dist[b] += s * s
            bi = _argmin_from(dist, starts[a], used, reuse)
            used[bi] = True
            out[t, a] = bi
    return out
