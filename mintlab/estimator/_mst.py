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

Map of the kernels: one reference per job, the fast paths that must equal it, and the tests that pin
them together (``tests/estimator/test_mst.py``; every fast path returns the reference's result exactly,
ties included, or hands the task back to the reference):

=====================  ==============================  ==================================================
job                    reference (float64, plain)      fast paths (dispatch: the public wrappers below)
=====================  ==============================  ==================================================
one MST (parents)      :func:`prim_parents_ref`        :func:`prim_exact` (float32 filter, then float64
                       (:func:`w64`, :func:`_scan`)     among the candidates, :func:`_tree_parent`);
                                                       wrapper :func:`prim_parents`; a degenerate task
                                                       (:func:`prim_exact` returns < 0) falls back
R of one MST, no base  ``cross_count(prim_parents_ref)`` :func:`prim_count` (:func:`_cscan8`,
                                                       :func:`_cscan_any`); wrapper :func:`mst_cross_count`
R of many MSTs         :func:`cross_batch_ref`         :func:`_cross_batch_exact`, :data:`LOCKSTEP` tasks
                                                       in lockstep; wrapper :func:`cross_batch`
bootstrap donors       :func:`donors_feats_ref`        :func:`donors_base` (slab scan over a shared base)
=====================  ==============================  ==================================================

The width-unrolled scans are one kernel in several widths, kept behind one dispatch table rather than
generated (numba compiles each from plain source, and the unrolled sums are what makes them fast: a tree
of additions instead of one dependency chain): :func:`_scan_any` is the general form, and :func:`_scan`
dispatches to ``_scan4``, ``_scan8``, ``_scan16``, ``_scan24`` or ``_scan32`` when the filter carries
exactly that many coordinates (:func:`_pad_dims` pads a task's coordinates up to the next width with zero
weights). Each unrolled body differs from the others only in the number of coordinates it sums; a change to
one must be made to all, and ``test_fast_prim_returns_the_reference_tree`` runs every width against the
reference. ``_cscan8`` / ``_cscan_any`` are the same pair for the count kernel.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

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
def prim_parents_ref(base, has_base, bw, feats, fw, parent_out):  # pragma: no cover - numba
    """Reference dense Prim MST of one task (float64 throughout); writes each vertex's MST parent into
    ``parent_out`` (root → -1). :func:`prim_parents` finds the same tree faster."""
    out = np.empty((1, feats.shape[1]), np.int64)
    prim_parents_many(
        base, has_base, np.full(1, bw), feats.reshape((1,) + feats.shape), fw.reshape((1, fw.shape[0])), out
    )
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
def cross_batch_ref(base, has_base, bws, ft, fidx, fptr, fws, labels):  # pragma: no cover - numba
    """Reference cross-edge counts of many MSTs (parallel over groups of ``LOCKSTEP`` tasks); the code
    before the float32 filter, kept to test and time :func:`cross_batch` against.

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
def donors_feats_ref(za, zb, starts, reuse):  # pragma: no cover - numba
    """Reference nearest-neighbour donors (float64 brute force, parallel over tasks); see :func:`donors_feats`.

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


@intrinsic
def _fmin(typingctx, a, b):  # pragma: no cover - numba
    """``a if a < b else b`` as a fast-math compare and select, which LLVM vectorises as a min reduction."""
    if not (isinstance(a, types.Float) and a == b):
        return None

    def codegen(context, builder, signature, args):
        x, y = args
        return builder.select(builder.fcmp_ordered("<", x, y, flags=("fast",)), x, y, flags=("fast",))

    return a(a, b), codegen


@intrinsic
def _fmax(typingctx, a, b):  # pragma: no cover - numba
    """``a if a > b else b`` as a fast-math compare and select (see :func:`_fmin`)."""
    if not (isinstance(a, types.Float) and a == b):
        return None

    def codegen(context, builder, signature, args):
        x, y = args
        return builder.select(builder.fcmp_ordered(">", x, y, flags=("fast",)), x, y, flags=("fast",))

    return a(a, b), codegen


#: fastmath for the float32 filter only: FMA contraction and reassociation change its rounding, which the
#: error bound ``_eps`` covers; no ``ninf`` (+inf marks unset keys and used donors).
_FAST = {"nnan", "contract", "nsz", "arcp", "reassoc"}
#: Keys per block whose minimum the scan records, so the near-minimal keys are found without a second pass.
_BLK = 256
#: Donors are found in a slab along one axis (:func:`_donors_slab`) up to this many coordinates, above it
#: by the float32 filter scan (:func:`_donors_one`). Measured at 2166 receivers, one thread: slab/scan
#: 3.6/5.0 ms at d = 3, 5.2/6.1 ms at d = 5, 6.4/5.9 ms at d = 8.
_SWEEP_MAX_DIMS = 5
#: Unit roundoff of float32.
_U32 = 2.0**-24
#: Work of the near-tie checks allowed per MST, as a fraction of the reference kernel's (n²/2 edges × d
#: coordinates), before the kernel gives up on the filter for that MST and runs the reference kernel
#: instead: a bound on the cost of degenerate inputs (a lattice of massively tied points). Not reached on
#: continuous data, duplicate points or ReLU zeros in the tests.
_FALLBACK_BUDGET = 0.5


@njit(cache=True, nogil=True)
def w64(base, has_base, bw, f, fw, u, v):  # pragma: no cover - numba
    """Squared weight of edge ``(u, v)`` exactly as :func:`prim_parents_many` rounds it (``u`` in the tree)."""
    if has_base:
        w = bw * base[u, v] + 0.0
    else:
        w = 0.0
    for k in range(f.shape[0]):
        tt = f[k, u] - f[k, v]
        w += fw[k] * (tt * tt)
    return w


@njit(cache=True, nogil=True)
def _scan(gp, c, nu, key, key2, par, u, na):  # pragma: no cover - numba
    """:func:`_scan_any`, unrolled when the filter carries 4, 8, 16, 24 or 32 coordinates."""
    d = gp.shape[0] - 2
    if d == 4:
        return _scan4(gp, c, nu, key, key2, par, u, na)
    if d == 8:
        return _scan8(gp, c, nu, key, key2, par, u, na)
    if d == 16:
        return _scan16(gp, c, nu, key, key2, par, u, na)
    if d == 24:
        return _scan24(gp, c, nu, key, key2, par, u, na)
    if d == 32:
        return _scan32(gp, c, nu, key, key2, par, u, na)
    return _scan_any(gp, c, nu, key, key2, par, u, na)


@njit(cache=True, nogil=True)
def _pad_dims(d):  # pragma: no cover - numba
    """Coordinates the filter carries for ``d`` real ones (zero-padded up to an unrolled :func:`_scan`)."""
    for dp in (4, 8, 16, 24, 32):
        if d <= dp:
            return dp
    return d


@njit(cache=True, nogil=True, fastmath=_FAST)
def _block_min(a, lo, hi):  # pragma: no cover - numba
    """Smallest of ``a[lo:hi]`` (vectorised)."""
    s = a[lo:hi]
    m = np.float32(np.inf)
    for i in range(hi - lo):
        m = _fmin(m, s[i])
    return m


@njit(cache=True, nogil=True, fastmath=_FAST)
def _base_row(bt, brow, bw, na):  # pragma: no cover - numba
    """``bt[p] = bw * brow[p]`` for the ``na`` positions (the shared base term of the filter)."""
    for p in range(na):
        bt[p] = bw * brow[p]


@njit(cache=True, nogil=True)
def _earliest_min(base, has_base, bw, f, fw, vis, nvis, v, wt, thr):  # pragma: no cover - numba
    """Float64 key of ``v`` (:func:`w64`) and its parent, the earliest visited of the first ``nvis`` tree
    vertices ``vis`` at the smallest weight, among those whose filter weight ``wt`` is ``<= thr``; and the
    number of float64 weights computed. Parent -1 when none passes the filter."""
    ek = np.inf
    pu = -1
    n_exact = 0
    for i in range(nvis):
        if wt[i] <= thr:
            n_exact += 1
            wi = w64(base, has_base, bw, f, fw, vis[i], v)
            if wi < ek:
                ek = wi
                pu = vis[i]
    return ek, pu, n_exact


@njit(cache=True, nogil=True)
def _tree_parent(base, base32, has_base, bw, bw32, f, fw, vis, nvis, v, tg, gv, s32, thr, wt):  # pragma: no cover
    """Exact key of ``v`` and its parent, the earliest visited vertex at the smallest float64 weight.

    The filter weights from every tree vertex (``tg``: their coordinates and norms in visiting order;
    ``gv``: v's column of the position table) leave out those above ``thr`` (the filter key + 2 eps: they
    cannot reach the exact key); the rest are compared in float64, in visiting order. Returns
    ``(key, parent, float64 evaluations)``.
    """
    dp = tg.shape[0] - 1
    _tree_filter(tg, gv, s32, nvis, wt)
    if has_base:
        brow = base32[v]
        for i in range(nvis):
            wt[i] += bw32 * brow[vis[i]]
    ek, pu, n_exact = _earliest_min(base, has_base, bw, f, fw, vis, nvis, v, wt, thr)
    if pu < 0:  # cannot happen (the filter's parent is within thr); decide over the whole tree
        for i in range(nvis):
            wi = w64(base, has_base, bw, f, fw, vis[i], v)
            if wi < ek:
                ek = wi
                pu = vis[i]
        n_exact += nvis
    return ek, pu, n_exact * f.shape[0] + dp * nvis // 16


@njit(cache=True, nogil=True, fastmath=_FAST)
def _tree_filter(tg, gv, s32, nvis, wt):  # pragma: no cover - numba
    """``wt[i]`` = filter weight between tree vertex ``i`` (visiting order) and the vertex of column ``gv``."""
    dp = tg.shape[0] - 1
    nv = gv[dp]
    t = tg[dp]
    for i in range(nvis):
        wt[i] = t[i] + nv
    for k in range(dp):
        ck = np.float32(-2.0) * s32[k] * gv[k]
        tk = tg[k]
        for i in range(nvis):
            wt[i] += ck * tk[i]


@njit(cache=True, nogil=True)
def _centre(f):  # pragma: no cover - numba
    """Per row of ``f`` ``(d, n)``: the midpoint of its range and its half-range (``(d,)`` each)."""
    d, n = f.shape
    ctr = np.zeros(d)
    amp = np.zeros(d)
    for k in range(d):
        lo = f[k, 0]
        hi = f[k, 0]
        for v in range(n):
            lo = min(lo, f[k, v])
            hi = max(hi, f[k, v])
        ctr[k] = 0.5 * (lo + hi)
        amp[k] = max(hi - ctr[k], ctr[k] - lo)
    return ctr, amp


@njit(cache=True, nogil=True)
def prim_exact(base, base32, has_base, bmax, bw, f, fw, parent_out):  # pragma: no cover - numba
    """Dense Prim MST with a float32 filter and exact float64 decisions; same tree as :func:`prim_parents_many`.

    Every step scans the unvisited vertices in float32 (SIMD), keeping per vertex the smallest and second
    smallest filter weight from the tree. The filter weight differs from the reference kernel's float64
    weight by at most ``eps`` (a rounding bound, :func:`_eps`), so the reference kernel's next vertex is
    among those whose filter key is within ``2 eps`` of the smallest. For those the float64 weight is
    recomputed exactly as the reference kernel rounds it: from the filter's parent when the second
    smallest filter weight is more than ``2 eps`` above the smallest (then that parent is the only
    candidate), else over the whole tree in visiting order. Among them the reference kernel's rule picks:
    the smallest key, then the lowest vertex index; the parent is the earliest visited vertex reaching
    that key. So every step makes the reference kernel's choice and the tree is its tree, ties included.

    Returns the number of whole-tree checks, or -1 when they passed their budget or the weights are
    degenerate (the caller then runs the reference kernel; ``parent_out`` is then not valid).
    """
    d, n = f.shape
    parent_out[0] = -1
    if n == 1:
        return 0
    dp = _pad_dims(d)
    # --- filter coordinates: centred, scaled so that the largest possible weight is about 1 ---
    ctr, amp = _centre(f)
    total = abs(bw) * bmax if has_base else 0.0
    for k in range(d):
        total += abs(fw[k]) * amp[k] * amp[k]
    if not (total > 0.0 and np.isfinite(total)):
        return -1  # every weight is 0 (or overflows): the reference kernel decides
    lam = 1.0 / total
    # the largest point norm bounds the rounding (tighter than Σ|s|A² when extremes lie on different points)
    eps = _eps(d, _max_norm(f, fw, ctr, lam) * (1.0 + 1e-9), abs(bw) * bmax * lam if has_base else 0.0)
    s32 = np.zeros(dp, np.float32)
    for k in range(d):
        s32[k] = fw[k] * lam
    # position p holds vertex ids[p]: rows 0..dp-1 coordinates, dp the weighted norm, dp+1 the base term
    gp = np.zeros((dp + 2, n - 1), np.float32)
    ids = np.empty(n - 1, np.int32)
    for p in range(n - 1):
        v = p + 1
        ids[p] = v
        acc = 0.0
        for k in range(d):
            g = np.float32(f[k, v] - ctr[k])
            gp[k, p] = g
            acc += np.float64(s32[k]) * np.float64(g) * np.float64(g)
        gp[dp, p] = acc
    gu = np.zeros(dp, np.float32)
    acc = 0.0
    for k in range(d):
        gu[k] = np.float32(f[k, 0] - ctr[k])
        acc += np.float64(s32[k]) * np.float64(gu[k]) * np.float64(gu[k])
    nu = np.float32(acc)
    key = np.full(n - 1, np.inf, np.float32)
    key2 = np.full(n - 1, np.inf, np.float32)
    par = np.zeros(n - 1, np.int32)
    c = np.zeros(dp, np.float32)
    bw32 = np.float32(bw * lam)
    vis = np.empty(n, np.int64)
    vis[0] = 0
    tg = np.zeros((dp + 1, n), np.float32)  # the tree's filter coordinates and norms, in visiting order
    tg[:dp, 0] = gu
    tg[dp, 0] = nu
    wt = np.empty(n, np.float32)
    u = 0
    na = n - 1
    budget = _FALLBACK_BUDGET * n * n * max(d, 1) / 2
    spent = 0.0
    checks = 0
    for step in range(1, n):
        for k in range(dp):
            c[k] = np.float32(-2.0) * s32[k] * gu[k]
        if has_base:  # positions are vertices 1..n-1 in order: the base row is read contiguously
            _base_row(gp[dp + 1], base32[u, 1:], bw32, na)
        elif dp > 32:  # the generic scan accumulates in the base row: reset it
            gp[dp + 1, :na] = 0.0
        best = _scan(gp, c, nu, key, key2, par, np.int32(u), na)
        thr = np.float64(best) + 2.0 * eps
        bk = np.inf
        bv = -1
        bq = -1
        bpar = -1
        for lo in range(0, na, _BLK):
            hi = min(lo + _BLK, na)
            if _block_min(key, lo, hi) <= thr:
                for q in range(lo, hi):
                    if key[q] <= thr:
                        v = ids[q]
                        if np.float64(key2[q]) > np.float64(key[q]) + 2.0 * eps:
                            pu = par[q]
                            ek = w64(base, has_base, bw, f, fw, pu, v)
                        else:  # two tree vertices nearly as close: decide over the whole tree
                            checks += 1
                            thr_v = np.float64(key[q]) + 2.0 * eps
                            ek, pu, n_exact = _tree_parent(
                                base, base32, has_base, bw, bw32, f, fw, vis, step, v, tg, gp[:, q], s32, thr_v, wt
                            )
                            spent += n_exact
                            if spent > budget:
                                return -1
                        if ek < bk or (ek == bk and v < bv):
                            bk = ek
                            bv = v
                            bq = q
                            bpar = pu
        if bq < 0:  # cannot happen with finite inputs: the filter's smallest key is a candidate
            return -1
        parent_out[bv] = bpar
        vis[step] = bv
        u = bv
        for k in range(dp):
            gu[k] = gp[k, bq]
        nu = gp[dp, bq]
        for k in range(dp + 1):
            tg[k, step] = gp[k, bq]
        if has_base:  # keep the order (contiguous base rows): an infinite norm takes position bq out
            gp[dp, bq] = np.inf
            key[bq] = np.inf
            key2[bq] = np.inf
        else:  # remove position bq: the last position moves into it
            last = na - 1
            ids[bq] = ids[last]
            key[bq] = key[last]
            key2[bq] = key2[last]
            par[bq] = par[last]
            for k in range(dp + 1):
                gp[k, bq] = gp[k, last]
            na = last
    return checks


@njit(cache=True, nogil=True)
def _eps(d, sa, sb):  # pragma: no cover - numba
    """Bound on |filter weight − reference float64 weight|, in the filter's units (weights × ``lam``).

    ``sa`` bounds every point's weighted squared norm ``N_v = Σ|s_k| x_vk²`` (x: centred coordinates,
    s: scaled weights), ``sb`` the base term ``|bw|·max(base)`` (scaled). Rounding the coordinates to
    float32 (|e| ≤ u|x|) moves every square and product ``s x_u x_v`` by ≈ 2u|s|(x_u² + x_v²)/2 each;
    ``c = −2 s g_u`` and the products add as much again; the norms are rounded once; the sum of d + 3
    terms, of total size ≤ 2(N_u + N_v) + sb ≤ 4 sa + sb, adds (d + 2) u of that; the base term is rounded
    3 times. To first order that is ``u [(4d + 26) sa + (d + 5) sb]``; the reference's own float64
    rounding is < 1e-12 of the same sizes. We take ``2 u [(6d + 28) sa + (d + 6) sb]`` plus those 1e-12
    and a floor for float32 underflow.
    """
    return 2.0 * _U32 * ((6 * d + 28) * sa + (d + 6) * sb) + 1e-12 * (sa + sb) + 1e-30


@njit(cache=True, nogil=True)
def _max_norm(f, fw, ctr, lam):  # pragma: no cover - numba
    """Largest weighted squared norm ``max_v lam Σ_k |fw_k| (f[k, v] − ctr[k])²`` (float64)."""
    d, n = f.shape
    best = 0.0
    for v in range(n):
        acc = 0.0
        for k in range(d):
            x = f[k, v] - ctr[k]
            acc += abs(fw[k]) * x * x
        best = max(best, acc)
    return best * lam


@njit(cache=True, nogil=True, fastmath=_FAST)
def _scan_any(gp, c, nu, key, key2, par, u, na):  # pragma: no cover - numba
    """One Prim step of the float32 filter over the ``na`` unvisited positions; returns the smallest key.

    ``gp`` is ``(d + 2, ·)``: rows ``0..d-1`` the centred, scaled float32 coordinates of each position,
    row ``d`` their weighted squared norms, row ``d + 1`` the base term (0 without a base; overwritten
    here). The filter weight of position ``p`` from the new tree vertex ``u`` is
    ``nu + gp[d, p] + gp[d + 1, p] + sum_k c[k] gp[k, p]`` with ``c = −2 s g_u``: ``|g_u − g_p|²``
    weighted. ``key``/``key2`` keep the smallest and second smallest filter weight from the tree, ``par``
    the tree vertex of the smallest. Loops start at 0 (numba's index wrap-around then folds away) and
    use few arrays (LLVM's alias checks stay few), so they vectorise.
    """
    d = gp.shape[0] - 2
    w = gp[d + 1]
    nr = gp[d]
    for p in range(na):
        w[p] += nu + nr[p]
    for k in range(d):
        ck = c[k]
        gk = gp[k]
        for p in range(na):
            w[p] += ck * gk[p]
    m = np.float32(np.inf)
    for p in range(na):
        wp = w[p]
        k1 = key[p]
        kn = _fmin(wp, k1)
        key2[p] = _fmin(key2[p], _fmax(wp, k1))
        key[p] = kn
        mask = -np.int32(wp < k1)
        par[p] = (u & mask) | (par[p] & ~mask)
        m = _fmin(m, kn)
    return m


@njit(cache=True, nogil=True, fastmath=_FAST)
def _scan4(gp, c, nu, key, key2, par, u, na):  # pragma: no cover - numba
    """:func:`_scan_any` unrolled for 4 coordinates (sums as a tree: short dependency chains)."""
    c0 = c[0]
    g0 = gp[0]
    c1 = c[1]
    g1 = gp[1]
    c2 = c[2]
    g2 = gp[2]
    c3 = c[3]
    g3 = gp[3]
    nr = gp[4]
    bt = gp[5]
    m = np.float32(np.inf)
    for p in range(na):
        s0 = c0 * g0[p] + c1 * g1[p]
        s1 = c2 * g2[p] + c3 * g3[p]
        t0_0 = s0 + s1
        t1_0 = t0_0 + (nu + nr[p] + bt[p])
        wp = t1_0
        k1 = key[p]
        kn = _fmin(wp, k1)
        key2[p] = _fmin(key2[p], _fmax(wp, k1))
        key[p] = kn
        mask = -np.int32(wp < k1)
        par[p] = (u & mask) | (par[p] & ~mask)
        m = _fmin(m, kn)
    return m


@njit(cache=True, nogil=True, fastmath=_FAST)
def _scan8(gp, c, nu, key, key2, par, u, na):  # pragma: no cover - numba
    """:func:`_scan_any` unrolled for 8 coordinates (sums as a tree: short dependency chains)."""
    c0 = c[0]
    g0 = gp[0]
    c1 = c[1]
    g1 = gp[1]
    c2 = c[2]
    g2 = gp[2]
    c3 = c[3]
    g3 = gp[3]
    c4 = c[4]
    g4 = gp[4]
    c5 = c[5]
    g5 = gp[5]
    c6 = c[6]
    g6 = gp[6]
    c7 = c[7]
    g7 = gp[7]
    nr = gp[8]
    bt = gp[9]
    m = np.float32(np.inf)
    for p in range(na):
        s0 = c0 * g0[p] + c1 * g1[p]
        s1 = c2 * g2[p] + c3 * g3[p]
        s2 = c4 * g4[p] + c5 * g5[p]
        s3 = c6 * g6[p] + c7 * g7[p]
        t0_0 = s0 + s1
        t0_1 = s2 + s3
        t1_0 = t0_0 + t0_1
        t2_0 = t1_0 + (nu + nr[p] + bt[p])
        wp = t2_0
        k1 = key[p]
        kn = _fmin(wp, k1)
        key2[p] = _fmin(key2[p], _fmax(wp, k1))
        key[p] = kn
        mask = -np.int32(wp < k1)
        par[p] = (u & mask) | (par[p] & ~mask)
        m = _fmin(m, kn)
    return m


@njit(cache=True, nogil=True, fastmath=_FAST)
def _scan16(gp, c, nu, key, key2, par, u, na):  # pragma: no cover - numba
    """:func:`_scan_any` unrolled for 16 coordinates (sums as a tree: short dependency chains)."""
    c0 = c[0]
    g0 = gp[0]
    c1 = c[1]
    g1 = gp[1]
    c2 = c[2]
    g2 = gp[2]
    c3 = c[3]
    g3 = gp[3]
    c4 = c[4]
    g4 = gp[4]
    c5 = c[5]
    g5 = gp[5]
    c6 = c[6]
    g6 = gp[6]
    c7 = c[7]
    g7 = gp[7]
    c8 = c[8]
    g8 = gp[8]
    c9 = c[9]
    g9 = gp[9]
    c10 = c[10]
    g10 = gp[10]
    c11 = c[11]
    g11 = gp[11]
    c12 = c[12]
    g12 = gp[12]
    c13 = c[13]
    g13 = gp[13]
    c14 = c[14]
    g14 = gp[14]
    c15 = c[15]
    g15 = gp[15]
    nr = gp[16]
    bt = gp[17]
    m = np.float32(np.inf)
    for p in range(na):
        s0 = c0 * g0[p] + c1 * g1[p]
        s1 = c2 * g2[p] + c3 * g3[p]
        s2 = c4 * g4[p] + c5 * g5[p]
        s3 = c6 * g6[p] + c7 * g7[p]
        s4 = c8 * g8[p] + c9 * g9[p]
        s5 = c10 * g10[p] + c11 * g11[p]
        s6 = c12 * g12[p] + c13 * g13[p]
        s7 = c14 * g14[p] + c15 * g15[p]
        t0_0 = s0 + s1
        t0_1 = s2 + s3
        t0_2 = s4 + s5
        t0_3 = s6 + s7
        t1_0 = t0_0 + t0_1
        t1_1 = t0_2 + t0_3
        t2_0 = t1_0 + t1_1
        t3_0 = t2_0 + (nu + nr[p] + bt[p])
        wp = t3_0
        k1 = key[p]
        kn = _fmin(wp, k1)
        key2[p] = _fmin(key2[p], _fmax(wp, k1))
        key[p] = kn
        mask = -np.int32(wp < k1)
        par[p] = (u & mask) | (par[p] & ~mask)
        m = _fmin(m, kn)
    return m


@njit(cache=True, nogil=True, fastmath=_FAST)
def _scan24(gp, c, nu, key, key2, par, u, na):  # pragma: no cover - numba
    """:func:`_scan_any` unrolled for 24 coordinates (sums as a tree: short dependency chains)."""
    c0 = c[0]
    g0 = gp[0]
    c1 = c[1]
    g1 = gp[1]
    c2 = c[2]
    g2 = gp[2]
    c3 = c[3]
    g3 = gp[3]
    c4 = c[4]
    g4 = gp[4]
    c5 = c[5]
    g5 = gp[5]
    c6 = c[6]
    g6 = gp[6]
    c7 = c[7]
    g7 = gp[7]
    c8 = c[8]
    g8 = gp[8]
    c9 = c[9]
    g9 = gp[9]
    c10 = c[10]
    g10 = gp[10]
    c11 = c[11]
    g11 = gp[11]
    c12 = c[12]
    g12 = gp[12]
    c13 = c[13]
    g13 = gp[13]
    c14 = c[14]
    g14 = gp[14]
    c15 = c[15]
    g15 = gp[15]
    c16 = c[16]
    g16 = gp[16]
    c17 = c[17]
    g17 = gp[17]
    c18 = c[18]
    g18 = gp[18]
    c19 = c[19]
    g19 = gp[19]
    c20 = c[20]
    g20 = gp[20]
    c21 = c[21]
    g21 = gp[21]
    c22 = c[22]
    g22 = gp[22]
    c23 = c[23]
    g23 = gp[23]
    nr = gp[24]
    bt = gp[25]
    m = np.float32(np.inf)
    for p in range(na):
        s0 = c0 * g0[p] + c1 * g1[p]
        s1 = c2 * g2[p] + c3 * g3[p]
        s2 = c4 * g4[p] + c5 * g5[p]
        s3 = c6 * g6[p] + c7 * g7[p]
        s4 = c8 * g8[p] + c9 * g9[p]
        s5 = c10 * g10[p] + c11 * g11[p]
        s6 = c12 * g12[p] + c13 * g13[p]
        s7 = c14 * g14[p] + c15 * g15[p]
        s8 = c16 * g16[p] + c17 * g17[p]
        s9 = c18 * g18[p] + c19 * g19[p]
        s10 = c20 * g20[p] + c21 * g21[p]
        s11 = c22 * g22[p] + c23 * g23[p]
        t0_0 = s0 + s1
        t0_1 = s2 + s3
        t0_2 = s4 + s5
        t0_3 = s6 + s7
        t0_4 = s8 + s9
        t0_5 = s10 + s11
        t1_0 = t0_0 + t0_1
        t1_1 = t0_2 + t0_3
        t1_2 = t0_4 + t0_5
        t2_0 = t1_0 + t1_1
        t2_1 = t1_2 + (nu + nr[p] + bt[p])
        t3_0 = t2_0 + t2_1
        wp = t3_0
        k1 = key[p]
        kn = _fmin(wp, k1)
        key2[p] = _fmin(key2[p], _fmax(wp, k1))
        key[p] = kn
        mask = -np.int32(wp < k1)
        par[p] = (u & mask) | (par[p] & ~mask)
        m = _fmin(m, kn)
    return m


@njit(cache=True, nogil=True, fastmath=_FAST)
def _scan32(gp, c, nu, key, key2, par, u, na):  # pragma: no cover - numba
    """:func:`_scan_any` unrolled for 32 coordinates (sums as a tree: short dependency chains)."""
    c0 = c[0]
    g0 = gp[0]
    c1 = c[1]
    g1 = gp[1]
    c2 = c[2]
    g2 = gp[2]
    c3 = c[3]
    g3 = gp[3]
    c4 = c[4]
    g4 = gp[4]
    c5 = c[5]
    g5 = gp[5]
    c6 = c[6]
    g6 = gp[6]
    c7 = c[7]
    g7 = gp[7]
    c8 = c[8]
    g8 = gp[8]
    c9 = c[9]
    g9 = gp[9]
    c10 = c[10]
    g10 = gp[10]
    c11 = c[11]
    g11 = gp[11]
    c12 = c[12]
    g12 = gp[12]
    c13 = c[13]
    g13 = gp[13]
    c14 = c[14]
    g14 = gp[14]
    c15 = c[15]
    g15 = gp[15]
    c16 = c[16]
    g16 = gp[16]
    c17 = c[17]
    g17 = gp[17]
    c18 = c[18]
    g18 = gp[18]
    c19 = c[19]
    g19 = gp[19]
    c20 = c[20]
    g20 = gp[20]
    c21 = c[21]
    g21 = gp[21]
    c22 = c[22]
    g22 = gp[22]
    c23 = c[23]
    g23 = gp[23]
    c24 = c[24]
    g24 = gp[24]
    c25 = c[25]
    g25 = gp[25]
    c26 = c[26]
    g26 = gp[26]
    c27 = c[27]
    g27 = gp[27]
    c28 = c[28]
    g28 = gp[28]
    c29 = c[29]
    g29 = gp[29]
    c30 = c[30]
    g30 = gp[30]
    c31 = c[31]
    g31 = gp[31]
    nr = gp[32]
    bt = gp[33]
    m = np.float32(np.inf)
    for p in range(na):
        s0 = c0 * g0[p] + c1 * g1[p]
        s1 = c2 * g2[p] + c3 * g3[p]
        s2 = c4 * g4[p] + c5 * g5[p]
        s3 = c6 * g6[p] + c7 * g7[p]
        s4 = c8 * g8[p] + c9 * g9[p]
        s5 = c10 * g10[p] + c11 * g11[p]
        s6 = c12 * g12[p] + c13 * g13[p]
        s7 = c14 * g14[p] + c15 * g15[p]
        s8 = c16 * g16[p] + c17 * g17[p]
        s9 = c18 * g18[p] + c19 * g19[p]
        s10 = c20 * g20[p] + c21 * g21[p]
        s11 = c22 * g22[p] + c23 * g23[p]
        s12 = c24 * g24[p] + c25 * g25[p]
        s13 = c26 * g26[p] + c27 * g27[p]
        s14 = c28 * g28[p] + c29 * g29[p]
        s15 = c30 * g30[p] + c31 * g31[p]
        t0_0 = s0 + s1
        t0_1 = s2 + s3
        t0_2 = s4 + s5
        t0_3 = s6 + s7
        t0_4 = s8 + s9
        t0_5 = s10 + s11
        t0_6 = s12 + s13
        t0_7 = s14 + s15
        t1_0 = t0_0 + t0_1
        t1_1 = t0_2 + t0_3
        t1_2 = t0_4 + t0_5
        t1_3 = t0_6 + t0_7
        t2_0 = t1_0 + t1_1
        t2_1 = t1_2 + t1_3
        t3_0 = t2_0 + t2_1
        t4_0 = t3_0 + (nu + nr[p] + bt[p])
        wp = t4_0
        k1 = key[p]
        kn = _fmin(wp, k1)
        key2[p] = _fmin(key2[p], _fmax(wp, k1))
        key[p] = kn
        mask = -np.int32(wp < k1)
        par[p] = (u & mask) | (par[p] & ~mask)
        m = _fmin(m, kn)
    return m


def prim_parents(base, has_base, bw, feats, fw, parent_out):
    """Dense Prim MST of one task (same tree as :func:`prim_parents_ref`); writes each vertex's MST parent
    into ``parent_out`` (root 0 → -1). ``feats`` is ``(d, n)``, ``fw`` ``(d,)``; ``base`` ``(n, n)`` is used
    when ``has_base``."""
    base32, bmax = float32_base(base, has_base)
    feats = np.ascontiguousarray(feats, dtype=np.float64)
    if prim_exact(base, base32, has_base, bmax, float(bw), feats, np.asarray(fw, np.float64), parent_out) < 0:
        prim_parents_ref(base, has_base, bw, feats, fw, parent_out)
    return parent_out


def mst_cross_count(base, has_base, bw, feats, fw, labels):
    """Cross-edge count R of one task's MST (:func:`prim_parents`' tree): the count kernel without a base,
    else the tree. Equal to ``cross_count(prim_parents_ref(...), labels)``."""
    feats = np.ascontiguousarray(feats, dtype=np.float64)
    fw = np.asarray(fw, np.float64)
    if not has_base:
        r, _ = prim_count(feats, fw, np.asarray(labels, np.int64))
        if r >= 0:
            return int(r)
    parent = np.empty(feats.shape[1], np.int64)
    prim_parents(base, has_base, bw, feats, fw, parent)
    return int(cross_count(parent, labels))


def float32_base(base, has_base):
    """``(base as float32, max(base))`` for the filter, or a dummy pair when there is no base."""
    if not has_base:
        return np.zeros((1, 1), np.float32), 0.0
    return base.astype(np.float32), float(base.max())


def cross_batch(base, has_base, bws, ft, fidx, fptr, fws, labels, base32=None, bmax=None):
    """Cross-edge counts of many MSTs at once, parallel over tasks; equal to :func:`cross_batch_ref`.

    Task ``t`` uses feature rows ``ft[fidx[fptr[t]:fptr[t+1]]]`` with weights ``fws[fptr[t]:fptr[t+1]]``
    and ``bws[t] * base``. ``base32``/``bmax`` (:func:`float32_base`) may be passed when many calls share
    one ``base``.
    """
    if base32 is None or bmax is None:
        base32, bmax = float32_base(base, has_base)
    return _cross_batch_exact(base, base32, has_base, bmax, bws, ft, fidx, fptr, fws, labels)[0]


@njit(cache=True, nogil=True, parallel=True)
def _cross_batch_exact(base, base32, has_base, bmax, bws, ft, fidx, fptr, fws, labels):  # pragma: no cover
    """:func:`cross_batch`; also returns the number of whole-tree checks per task (-1: reference kernel ran)."""
    n_tasks = bws.shape[0]
    n = ft.shape[1]
    out = np.zeros(n_tasks, np.int64)
    checks = np.zeros(n_tasks, np.int64)
    for t in prange(n_tasks):
        lo = fptr[t]
        d = fptr[t + 1] - lo
        f = np.empty((d, n))
        fw = np.empty(d)
        for k in range(d):
            f[k] = ft[fidx[lo + k]]
            fw[k] = fws[lo + k]
        if not has_base:  # the count kernel (it hands back -1 for inputs outside its scope)
            rc, _ = prim_count(f, fw, labels)
            if rc >= 0:
                out[t] = rc
                continue
        parent = np.empty(n, np.int64)
        r = prim_exact(base, base32, has_base, bmax, bws[t], f, fw, parent)
        if r < 0:
            prim_parents_ref(base, has_base, bws[t], f, fw, parent)
        checks[t] = r
        out[t] = cross_count(parent, labels)
    return out, checks


# --- the count kernel: the cross-edge count R of one MST without building the tree ---------------------------
#
# Without a base term and with non-negative weights, ``W(u, v) = Σ_k fw_k (f_ku − f_kv)²`` is a squared
# Euclidean distance of the points ``h = sqrt(fw) f``. The float32 filter evaluates it from differences of
# float32 coordinates (no norm expansion, so no cancellation), and its rounding is bounded per edge relative
# to the edge itself (:func:`_dd_eps`) rather than to the largest point norm: near-ties that need float64
# are then rare. R needs only the *label* of each vertex's parent, and Prim's visiting order does not depend
# on the parents at all: per unvisited vertex the kernel keeps the smallest filter weight from the tree's
# vertices of each label, and decides a parent's label in float64 only when the two are within rounding.


@njit(cache=True, nogil=True)
def _dd_eps(d, nv, k):  # pragma: no cover - numba
    """Bound on |filter − float64 weight| for every tree vertex that can reach a class key ``k`` (float32
    filter units) of a vertex whose coordinates have squared norm ``nv`` about the centre.

    The filter rounds ``h = sqrt(s) x`` to float32 (x: centred coordinates, s: scaled weights; |e| <= u|h|),
    subtracts (relative u) and sums d squares with FMAs (relative d u). For an edge of float64 weight W
    between points of norms ``N_u``, ``N_v`` that is at most ``a W + b sqrt(W) + c`` with
    ``a = (d + 3) u``, ``b = 2.01 u (sqrt N_u + sqrt N_v)``, ``c = 2.1 u² (N_u + N_v)`` (Cauchy–Schwarz on
    the cross terms); the reference's own float64 rounding adds < 1e-14 W. A tree vertex reaching the key
    has ``sqrt N_u <= sqrt N_v + sqrt W`` (triangle inequality, so ``N_u + N_v <= 3 N_v + 2 W``) and
    ``W <= k + bound``; solving for the largest such W gives the bound returned, doubled for safety. It
    grows with ``k`` and ``nv``, and ``k − bound`` grows with ``k``.
    """
    if not k < np.inf:
        return np.inf
    a = 2.0 * ((d + 3) * _U32 + 2.01 * _U32 + 4.2 * _U32 * _U32 + 1e-14)
    b = 2.0 * (4.02 * _U32 * np.sqrt(nv))
    c = 2.0 * (6.3 * _U32 * _U32 * nv) + 1e-30
    kk = max(np.float64(k), 0.0) + c
    sw = (b + np.sqrt(b * b + 4.0 * (1.0 - a) * kk)) / (2.0 * (1.0 - a))  # the largest sqrt(W)
    return a * sw * sw + b * sw + c


@njit(cache=True, nogil=True, fastmath=_FAST)
def _cscan8_block(gp, hu, ks, ko, lo, hi):  # pragma: no cover - numba
    """:func:`_cscan8` on positions ``lo:hi``; returns their smallest key."""
    u0, u1, u2, u3, u4, u5, u6, u7 = hu[0], hu[1], hu[2], hu[3], hu[4], hu[5], hu[6], hu[7]
    g0, g1, g2, g3 = gp[0, lo:hi], gp[1, lo:hi], gp[2, lo:hi], gp[3, lo:hi]
    g4, g5, g6, g7 = gp[4, lo:hi], gp[5, lo:hi], gp[6, lo:hi], gp[7, lo:hi]
    s = ks[lo:hi]
    o = ko[lo:hi]
    m = np.float32(np.inf)
    for p in range(hi - lo):
        e0, e1, e2, e3 = u0 - g0[p], u1 - g1[p], u2 - g2[p], u3 - g3[p]
        e4, e5, e6, e7 = u4 - g4[p], u5 - g5[p], u6 - g6[p], u7 - g7[p]
        x = ((e0 * e0 + e1 * e1) + (e2 * e2 + e3 * e3)) + ((e4 * e4 + e5 * e5) + (e6 * e6 + e7 * e7))
        a = _fmin(x, s[p])
        s[p] = a
        m = _fmin(m, _fmin(a, o[p]))
    return m


@njit(cache=True, nogil=True)
def _cscan8(gp, hu, ks, ko, na, bmin):  # pragma: no cover - numba
    """One Prim step of the count kernel over ``na`` positions, 8 coordinates (unrolled): the filter weight
    ``Σ (hu − gp[:, p])²`` from the new tree vertex lowers ``ks`` (keys from tree vertices of its label);
    ``bmin[b]`` gets the smallest key over both labels (``ko``: the other label's keys) in block ``b`` of
    ``_BLK`` positions; returns the smallest of all."""
    m = np.float32(np.inf)
    for b in range((na + _BLK - 1) // _BLK):
        mb = _cscan8_block(gp, hu, ks, ko, b * _BLK, min(b * _BLK + _BLK, na))
        bmin[b] = mb
        m = min(m, mb)
    return m


@njit(cache=True, nogil=True, fastmath=_FAST)
def _dd_weights(gp, hu, w, na):  # pragma: no cover - numba
    """``w[p] = Σ_k (hu[k] − gp[k, p])²`` for ``p < na``; ``gp`` has a multiple of 8 rows (one pass per 8)."""
    for p in range(na):
        w[p] = 0.0
    for k in range(0, gp.shape[0], 8):
        u0, u1, u2, u3 = hu[k], hu[k + 1], hu[k + 2], hu[k + 3]
        u4, u5, u6, u7 = hu[k + 4], hu[k + 5], hu[k + 6], hu[k + 7]
        g0, g1, g2, g3 = gp[k], gp[k + 1], gp[k + 2], gp[k + 3]
        g4, g5, g6, g7 = gp[k + 4], gp[k + 5], gp[k + 6], gp[k + 7]
        for p in range(na):
            e0, e1, e2, e3 = u0 - g0[p], u1 - g1[p], u2 - g2[p], u3 - g3[p]
            e4, e5, e6, e7 = u4 - g4[p], u5 - g5[p], u6 - g6[p], u7 - g7[p]
            w[p] += ((e0 * e0 + e1 * e1) + (e2 * e2 + e3 * e3)) + ((e4 * e4 + e5 * e5) + (e6 * e6 + e7 * e7))


@njit(cache=True, nogil=True, fastmath=_FAST)
def _keys_block(w, ks, ko, lo, hi):  # pragma: no cover - numba
    """Lower ``ks[lo:hi]`` to the weights ``w[lo:hi]``; returns the smallest key of either label there."""
    ww = w[lo:hi]
    s = ks[lo:hi]
    o = ko[lo:hi]
    m = np.float32(np.inf)
    for p in range(hi - lo):
        a = _fmin(ww[p], s[p])
        s[p] = a
        m = _fmin(m, _fmin(a, o[p]))
    return m


@njit(cache=True, nogil=True)
def _cscan_any(gp, hu, ks, ko, na, bmin, w):  # pragma: no cover - numba
    """:func:`_cscan8` for any number of coordinates (through the buffer ``w``)."""
    _dd_weights(gp, hu, w, na)
    m = np.float32(np.inf)
    for b in range((na + _BLK - 1) // _BLK):
        mb = _keys_block(w, ks, ko, b * _BLK, min(b * _BLK + _BLK, na))
        bmin[b] = mb
        m = min(m, mb)
    return m


@njit(cache=True, nogil=True)
def _exact_key(f, fw, vis, nvis, v, tg, hv, thr, wt):  # pragma: no cover - numba
    """Float64 key of vertex ``v`` (the reference kernel's rounding) and its parent, the earliest visited
    tree vertex at that key, among the tree vertices whose filter weight is ``<= thr``; and the number of
    float64 weights computed."""
    _dd_weights(tg, hv, wt, nvis)
    return _earliest_min(np.zeros((1, 1)), False, 0.0, f, fw, vis, nvis, v, wt, thr)


@njit(cache=True, nogil=True)
def prim_count(f, fw, labels):  # pragma: no cover - numba
    """Cross-edge count R of the dense Prim MST of points ``f`` ``(d, n)`` with weights ``fw >= 0`` and no
    base term: exactly ``cross_count(prim_parents_ref(...), labels)``, ties included.

    The visiting order is the reference kernel's: each step scans the unvisited vertices in float32
    (:func:`_cscan8`), and the next vertex is decided in float64 among those whose key is within the
    rounding bound (:func:`_dd_eps`) of the smallest, by the reference rule (smallest float64 key, then the
    lowest vertex index). Its parent's label is the label whose key is smaller beyond rounding, or else the
    label of the reference kernel's parent (the earliest visited tree vertex at the float64 key).

    ``labels`` must be 0/1. Returns ``(R, float64 work)``; ``R = -1`` when the weights are degenerate, the
    inputs are outside this kernel's scope, or the float64 decisions passed their budget (the caller then
    runs the reference kernel).
    """
    d, n = f.shape
    if n == 1:
        return 0, 0.0
    for v in range(n):
        if labels[v] != 0 and labels[v] != 1:
            return -1, 0.0
    for k in range(d):
        if not fw[k] >= 0.0:
            return -1, 0.0
    dp = 8 * ((d + 7) // 8)  # zero-padded to a multiple of 8 (the scans' unrolling)
    ctr, amp = _centre(f)
    total = 0.0
    for k in range(d):
        total += fw[k] * amp[k] * amp[k]
    if not (total > 0.0 and np.isfinite(total)):
        return -1, 0.0
    lam = 1.0 / total
    sq = np.zeros(d)
    for k in range(d):
        sq[k] = np.sqrt(fw[k] * lam)
    # positions: rows 0..dp-1 the float32 coordinates h = sqrt(s) (f − ctr), zero-padded to dp
    gp = np.zeros((dp, n - 1), np.float32)
    nrm = np.empty(n - 1)  # float64 squared norms (for the rounding bounds)
    ids = np.empty(n - 1, np.int32)
    tg = np.zeros((dp, n), np.float32)  # the tree's coordinates, in visiting order
    for v in range(n):
        acc = 0.0
        for k in range(d):
            x = sq[k] * (f[k, v] - ctr[k])
            acc += x * x
            if v == 0:
                tg[k, 0] = np.float32(x)
            else:
                gp[k, v - 1] = np.float32(x)
        if v > 0:
            nrm[v - 1] = acc * (1.0 + 1e-9)
            ids[v - 1] = v
    keys = np.full((2, n - 1), np.inf, np.float32)
    vis = np.empty(n, np.int64)
    vis[0] = 0
    wt = np.empty(n, np.float32)
    cand = np.empty(n, np.int64)
    bmin = np.empty((n + _BLK - 1) // _BLK, np.float32)
    na = n - 1
    budget = _FALLBACK_BUDGET * n * n * max(d, 1) / 2
    spent = 0.0
    r_count = 0
    nmax = 0.0
    for q in range(na):
        nmax = max(nmax, nrm[q])
    eg = _dd_eps(d, nmax, 4.0 * nmax)  # a bound for any pair (W <= 4 nmax)
    for step in range(1, n):
        lu = labels[vis[step - 1]]
        hu = tg[:, step - 1]
        if dp == 8:
            best = _cscan8(gp, hu, keys[lu], keys[1 - lu], na, bmin)
        else:
            best = _cscan_any(gp, hu, keys[lu], keys[1 - lu], na, bmin, wt)
        k0 = keys[0]
        k1 = keys[1]
        # pre-candidates (the next vertex is among them): its key k satisfies k − E(k) <= best + E(best) for
        # the bound E at the largest norm; this threshold is above every such k (E grows slowly with k)
        thr = np.float64(best) + 2.0 * _dd_eps(d, nmax, np.float64(best) + 2.0 * _dd_eps(d, nmax, best))
        nc = 0
        for lo in range(0, na, _BLK):
            hi = min(lo + _BLK, na)
            if bmin[lo // _BLK] <= thr:
                for q in range(lo, hi):
                    if min(k0[q], k1[q]) <= thr:
                        cand[nc] = q
                        nc += 1
        ub = np.inf  # an upper bound on the smallest float64 key
        for i in range(nc):
            q = cand[i]
            kq = min(k0[q], k1[q])
            ub = min(ub, np.float64(kq) + _dd_eps(d, nrm[q], kq))
        m = 0  # candidates: a lower bound on the float64 key <= ub
        for i in range(nc):
            q = cand[i]
            kq = min(k0[q], k1[q])
            if np.float64(kq) - _dd_eps(d, nrm[q], kq) <= ub:
                cand[m] = q
                m += 1
        if m == 0:
            return -1, spent  # cannot happen with finite inputs
        bq = cand[0]
        blab = -1
        if m == 1:
            e0 = _dd_eps(d, nrm[bq], k0[bq])
            e1 = _dd_eps(d, nrm[bq], k1[bq])
            if np.float64(k0[bq]) + e0 < np.float64(k1[bq]) - e1:
                blab = 0
            elif np.float64(k1[bq]) + e1 < np.float64(k0[bq]) - e0:
                blab = 1
        if blab < 0:  # several candidates, or the parent's label within rounding: decide in float64
            bk = np.inf
            bv = -1
            for i in range(m):
                q = cand[i]
                v = ids[q]
                kq = min(k0[q], k1[q])
                thr_v = np.float64(kq) + _dd_eps(d, nrm[q], kq) + eg
                ek, pu, n_exact = _exact_key(f, fw, vis, step, v, tg, gp[:, q], thr_v, wt)
                spent += n_exact * d + dp * step // 16
                if spent > budget or pu < 0:
                    return -1, spent
                if ek < bk or (ek == bk and v < bv):
                    bk = ek
                    bv = v
                    bq = q
                    blab = labels[pu]
        v = ids[bq]
        if labels[v] != blab:
            r_count += 1
        vis[step] = v
        for k in range(dp):
            tg[k, step] = gp[k, bq]
        last = na - 1  # remove position bq: the last position moves into it
        ids[bq] = ids[last]
        nrm[bq] = nrm[last]
        k0[bq] = k0[last]
        k1[bq] = k1[last]
        for k in range(dp):
            gp[k, bq] = gp[k, last]
        na = last
    return r_count, spent


@njit(cache=True, nogil=True, parallel=True)
def donors_feats(za, zb, starts, reuse):  # pragma: no cover - numba
    """Nearest-neighbour donors for many tasks in low dimension (parallel over tasks).

    ``za`` is ``(T, d, len(A))`` and ``zb`` ``(T, d, len(B))``; returns ``(T, len(A))`` positions in B:
    for each receiver (in order) the donor at the smallest squared distance (float64, as
    :func:`donors_feats_ref`), exact ties to the first position met scanning B from ``starts[a]``
    round the end; with ``reuse=False`` a donor serves one receiver only. Distances are scanned in
    float32 and only the donors within the rounding bound of the smallest are compared in float64.
    """
    nt = za.shape[0]
    na = za.shape[2]
    out = np.empty((nt, na), np.int64)
    for t in prange(nt):
        if za.shape[1] <= _SWEEP_MAX_DIMS:
            _donors_slab(za[t], zb[t], starts, reuse, out[t])
        else:
            _donors_one(za[t], zb[t], starts, reuse, out[t])
    return out


@njit(cache=True, nogil=True, fastmath=_FAST)
def _dscan(gb, c, nu, dist, nb):  # pragma: no cover - numba
    """Filter distances ``dist[b] = nu + gb[d, b] + sum_k c[k] gb[k, b]`` (``gb``: ``d`` coordinate rows and
    the norms); returns their minimum. Unrolled for 4 and 8 coordinates."""
    d = gb.shape[0] - 1
    m = np.float32(np.inf)
    if d == 4:
        c0, c1, c2, c3 = c[0], c[1], c[2], c[3]
        g0, g1, g2, g3, nr = gb[0], gb[1], gb[2], gb[3], gb[4]
        for b in range(nb):
            x = (c0 * g0[b] + c1 * g1[b]) + (c2 * g2[b] + c3 * g3[b]) + (nu + nr[b])
            dist[b] = x
            m = _fmin(m, x)
        return m
    if d == 8:
        c0, c1, c2, c3, c4, c5, c6, c7 = c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
        g0, g1, g2, g3, g4, g5, g6, g7, nr = gb[0], gb[1], gb[2], gb[3], gb[4], gb[5], gb[6], gb[7], gb[8]
        for b in range(nb):
            x0 = (c0 * g0[b] + c1 * g1[b]) + (c2 * g2[b] + c3 * g3[b])
            x1 = (c4 * g4[b] + c5 * g5[b]) + (c6 * g6[b] + c7 * g7[b])
            x = (x0 + x1) + (nu + nr[b])
            dist[b] = x
            m = _fmin(m, x)
        return m
    nr = gb[d]
    for b in range(nb):
        dist[b] = nu + nr[b]
    for k in range(d):
        ck = c[k]
        gk = gb[k]
        for b in range(nb):
            dist[b] += ck * gk[b]
    for b in range(nb):
        m = _fmin(m, dist[b])
    return m


@njit(cache=True, nogil=True)
def _d64(za, zb, a, b):  # pragma: no cover - numba
    """Squared distance exactly as :func:`donors_feats_ref` rounds it."""
    s = 0.0
    for k in range(za.shape[0]):
        t = za[k, a] - zb[k, b]
        s += t * t
    return s


@njit(cache=True, nogil=True)
def _donor_table(za, zb, order, dp):  # pragma: no cover - numba
    """The donor searches' float32 filter: centre ``ctr``, scale ``lam`` and rounding bound ``eps`` over A and
    B, and ``gb``: B's centred float32 coordinates (zero-padded to ``dp`` rows) with their scaled norms in
    row ``dp``, column ``i`` holding donor ``order[i]``. When every coordinate is constant (every distance
    is 0) ``lam`` is 0, ``gb`` is 0 and ``eps`` infinite: every donor is then compared in float64."""
    d, na = za.shape
    nb = zb.shape[1]
    ctr = np.zeros(d)
    amp = np.zeros(d)
    for k in range(d):
        lo = np.inf
        hi = -np.inf
        for a in range(na):
            lo = min(lo, za[k, a])
            hi = max(hi, za[k, a])
        for b in range(nb):
            lo = min(lo, zb[k, b])
            hi = max(hi, zb[k, b])
        ctr[k] = 0.5 * (lo + hi)
        amp[k] = max(hi - ctr[k], ctr[k] - lo)
    total = 0.0
    for k in range(d):
        total += amp[k] * amp[k]
    gb = np.zeros((dp + 1, nb), np.float32)
    if not (total > 0.0 and np.isfinite(total)):
        return ctr, 0.0, np.inf, gb
    lam = 1.0 / total
    ones = np.ones(d)
    sa = max(_max_norm(za, ones, ctr, lam), _max_norm(zb, ones, ctr, lam)) * (1.0 + 1e-9)
    for i in range(nb):
        b = order[i]
        acc = 0.0
        for k in range(d):
            g = np.float32(zb[k, b] - ctr[k])
            gb[k, i] = g
            acc += lam * np.float64(g) * np.float64(g)
        gb[dp, i] = acc
    return ctr, lam, _eps(d, sa, 0.0), gb


@njit(cache=True, nogil=True)
def _receiver(za, a, ctr, lam, c):  # pragma: no cover - numba
    """Receiver ``a`` in the filter of :func:`_donor_table`: writes ``c = −2 lam g_a``, returns ``lam |g_a|²``."""
    acc = 0.0
    for k in range(za.shape[0]):
        g = np.float32(za[k, a] - ctr[k])
        c[k] = np.float32(-2.0 * lam) * g
        acc += lam * np.float64(g) * np.float64(g)
    return np.float32(acc)


@njit(cache=True, nogil=True)
def _closest_free(za, zb, a, start, dist, nbn, order, lo, hi, thr, blk):  # pragma: no cover - numba
    """The reference's donor for receiver ``a`` among positions ``lo:hi`` (donor ``order[i]`` at position
    ``i``) whose filter distance is ``<= thr`` and that are free (finite norm): the smallest float64 distance,
    ties to the first met scanning B from ``start`` round the end. Positions are screened in blocks of
    ``blk`` by their smallest filter distance. Returns ``(donor, position)``; ``(start, -1)`` if none."""
    nb = zb.shape[1]
    bk = np.inf
    br = nb
    bi = start
    bpos = -1
    for blo in range(lo, hi, blk):
        bhi = min(blo + blk, hi)
        if _block_min(dist, blo, bhi) <= thr:
            for i in range(blo, bhi):
                if dist[i] <= thr and nbn[i] < np.inf:
                    b = order[i]
                    e = _d64(za, zb, a, b)
                    rk = b - start if b >= start else b - start + nb
                    if e < bk or (e == bk and rk < br):
                        bk = e
                        br = rk
                        bi = b
                        bpos = i
    return bi, bpos


@njit(cache=True, nogil=True)
def _donors_one(za, zb, starts, reuse, out):  # pragma: no cover - numba
    """Donors of one task (see :func:`donors_feats`): float32 filter, exact float64 decision."""
    na = za.shape[1]
    nb = zb.shape[1]
    dp = za.shape[0] if za.shape[0] > 8 else (4 if za.shape[0] <= 4 else 8)
    order = np.arange(nb)
    ctr, lam, eps, gb = _donor_table(za, zb, order, dp)
    nbn = gb[dp]
    c = np.zeros(dp, np.float32)
    dist = np.empty(nb, np.float32)
    for a in range(na):
        nu = _receiver(za, a, ctr, lam, c)
        best = _dscan(gb, c, nu, dist, nb)
        start = starts[a]
        if not best < np.inf:  # every donor used (cannot happen when len(B) >= len(A)), as the reference
            out[a] = start
            continue
        bi, bpos = _closest_free(za, zb, a, start, dist, nbn, order, 0, nb, np.float64(best) + 2.0 * eps, _BLK)
        if not reuse and bpos >= 0:
            nbn[bpos] = np.inf
        out[a] = bi


@njit(cache=True, nogil=True, fastmath=_FAST)
def _dscan_range(gb, c, nu, dist, lo, hi):  # pragma: no cover - numba
    """:func:`_dscan` for 4 or 8 coordinates on positions ``lo:hi`` (``dist`` indexed like ``gb``); returns
    their minimum."""
    ds = dist[lo:hi]
    nr = gb[gb.shape[0] - 1][lo:hi]
    m = np.float32(np.inf)
    c0, c1, c2, c3 = c[0], c[1], c[2], c[3]
    g0, g1, g2, g3 = gb[0][lo:hi], gb[1][lo:hi], gb[2][lo:hi], gb[3][lo:hi]
    if gb.shape[0] == 5:
        for b in range(hi - lo):
            x = (c0 * g0[b] + c1 * g1[b]) + (c2 * g2[b] + c3 * g3[b]) + (nu + nr[b])
            ds[b] = x
            m = _fmin(m, x)
        return m
    c4, c5, c6, c7 = c[4], c[5], c[6], c[7]
    g4, g5, g6, g7 = gb[4][lo:hi], gb[5][lo:hi], gb[6][lo:hi], gb[7][lo:hi]
    for b in range(hi - lo):
        x0 = (c0 * g0[b] + c1 * g1[b]) + (c2 * g2[b] + c3 * g3[b])
        x1 = (c4 * g4[b] + c5 * g5[b]) + (c6 * g6[b] + c7 * g7[b])
        x = (x0 + x1) + (nu + nr[b])
        ds[b] = x
        m = _fmin(m, x)
    return m


#: Receivers' first look: this many donors either side of their place along the sweep axis.
_SWEEP_WINDOW = 32


@njit(cache=True, nogil=True)
def _donors_slab(za, zb, starts, reuse, out):  # pragma: no cover - numba
    """Donors of one task with at most 8 coordinates; the same donors as :func:`_donors_one`, faster.

    B is sorted along its coordinate of largest range. For each receiver the float32 filter first scans a
    window around its place in that order; the best filter distance there bounds the float64 distance of
    the nearest donor (``bo``), and every donor that could win or tie lies in the slab
    ``(x − z_axis)² <= bo`` (the float64 sum of squares is at least any one of its rounded terms), found by
    binary search. The slab is then scanned as :func:`_donors_one` scans all of B, and the donors within
    the rounding bound of the smallest are compared in float64, ties by position from ``starts[a]``.
    """
    d, na = za.shape
    nb = zb.shape[1]
    ax = 0
    wide = -1.0
    for k in range(d):
        lo = np.inf
        hi = -np.inf
        for b in range(nb):
            lo = min(lo, zb[k, b])
            hi = max(hi, zb[k, b])
        if hi - lo > wide:
            wide = hi - lo
            ax = k
    order = np.argsort(zb[ax], kind="mergesort")
    dp = 4 if d <= 4 else 8
    ctr, lam, eps, gb = _donor_table(za, zb, order, dp)  # sorted along the axis
    if lam == 0.0:
        _donors_one(za, zb, starts, reuse, out)  # every distance is 0: the filter scan decides as the reference
        return
    key = np.empty(nb)
    for i in range(nb):
        key[i] = zb[ax, order[i]]
    nbn = gb[dp]
    c = np.zeros(dp, np.float32)
    dist = np.empty(nb, np.float32)
    for a in range(na):
        nu = _receiver(za, a, ctr, lam, c)
        x = za[ax, a]
        start = starts[a]
        i0 = np.searchsorted(key, x)
        half = _SWEEP_WINDOW
        best = np.float32(np.inf)
        while True:  # a window with a free donor (it widens only when donors run out)
            lo = max(i0 - half, 0)
            hi = min(i0 + half, nb)
            best = _dscan_range(gb, c, nu, dist, lo, hi)
            if best < np.inf or (lo == 0 and hi == nb):
                break
            half *= 4
        if not best < np.inf:  # every donor used (cannot happen when len(B) >= len(A)), as the reference
            out[a] = start
            continue
        bo = (np.float64(best) + 2.0 * eps) / lam * (1.0 + 1e-9)  # >= the float64 distance of the nearest
        r = np.sqrt(bo) * (1.0 + 1e-9)
        slo = min(np.searchsorted(key, x - r), lo)
        shi = max(np.searchsorted(key, x + r, side="right"), hi)
        if slo < lo:
            best = min(best, _dscan_range(gb, c, nu, dist, slo, lo))
        if shi > hi:
            best = min(best, _dscan_range(gb, c, nu, dist, hi, shi))
        bi, bpos = _closest_free(za, zb, a, start, dist, nbn, order, slo, shi, np.float64(best) + 2.0 * eps, 32)
        if not reuse and bpos >= 0:
            nbn[bpos] = np.inf
        out[a] = bi


def kernels_cached() -> bool:
    """Whether numba's on-disk cache holds every kernel of this module (``mintlab/estimator/__pycache__``):
    False on a fresh clone, or after the source moved (numba keys a cache by file and line), when the first
    scoring call compiles them first (about 45 s on 2 cores)."""
    import os

    from numba.core.registry import CPUDispatcher

    for name, value in globals().items():
        if name.endswith("_ref"):  # the reference kernels run in the tests only, never in scoring
            continue
        cache = getattr(value, "_cache", None) if isinstance(value, CPUDispatcher) else None
        index = getattr(getattr(cache, "_cache_file", None), "_index_path", None)
        if index is not None and not os.path.exists(index):
            return False
    return True


def fresh_compilations() -> int:
    """How many kernels of this module numba has compiled in this process rather than loaded from its
    on-disk cache (``Dispatcher.stats.cache_misses``). A first run on a cold cache spends a minute or more
    compiling, so a time measured over it includes that compilation."""
    from numba.core.registry import CPUDispatcher

    return sum(sum(v.stats.cache_misses.values()) for v in globals().values() if isinstance(v, CPUDispatcher))
