"""The layer-pair engine behind :func:`mintlab.estimator.layer_pair.score_layer_pair` (private; not a ``Scorer``).

Every estimator is reduced to the same job list for :func:`mintlab.estimator._mst.cross_batch`: a
shared squared-distance matrix ``base`` (or none), a feature table ``ft`` whose rows are
coordinates of the merged points, and per task ``(i, j)`` the rows and weights of its own
coordinates. The per-task coordinates are laid out in the same order, with the same weights,
as :func:`mintlab.estimator.gmi.conditional_gmi` builds them, so both give the same MST.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import mintlab.estimator._mst as _mst
from mintlab.estimator.gmi import (
    Split,
    _block_weight,
    _block_weight_from,
    _column_scale,
    nn_donors,
    pca_project,
)

#: Aim for about this many MSTs per parallel batch (enough to keep every thread busy).
_TASKS_PER_CHUNK = 256
#: The same with ``device=``: the torch kernel advances every MST of a batch by one vertex per step, at
#: a fixed cost of ≈ 40 kernel launches per step, so a GPU wants many MSTs at once (host memory for the
#: prepared coordinates grows with it: ≈ 0.2 MB per MST on the MLP's fc1 → fc2).
_TASKS_PER_CHUNK_DEVICE = 4096


class PairEngine:
    """Prepared activations of one layer pair; :meth:`scores` runs one split."""

    #: Run the reference kernels (:func:`mintlab.estimator._mst.cross_batch_ref`, ``donors_feats_ref``) instead of
    #: the fast exact ones: same scores, slower; kept to test and time the fast path against.
    reference = False

    def __init__(
        self,
        p: np.ndarray,
        c: np.ndarray,
        pl: np.ndarray,
        cl: np.ndarray,
        estimator: str,
        w: np.ndarray | None,
        opts: dict[str, Any],
        device: Any = None,
    ) -> None:
        if device is not None:
            from mintlab.utils.runtime import select_device

            select_device(device)  # fail before any work
        self.estimator = estimator
        self.scale = opts["scale"]
        self.reuse = opts["bootstrap"] == "nn"
        self.k = int(opts["n_components"])
        self.device = device
        self.raw_p = p
        self.w = w
        if self.scale == "columns":
            p, c = _column_scale(p), _column_scale(c)
        self.p, self.c = p, c
        self.p_t = np.ascontiguousarray(p.T) if estimator == "projected" else None  # (N_parent, n)
        self.pidx, self.pptr = _members(pl)
        self.cidx, self.cptr = _members(cl)
        self.gp, self.gc = len(self.pptr) - 1, len(self.cptr) - 1
        blocks = self.scale == "blocks"
        self.wx = np.array([_block_weight(c[:, self._cu(i)]) if blocks else 1.0 for i in range(self.gc)])
        self.wy = np.array([_block_weight(p[:, self._pu(j)]) if blocks else 1.0 for j in range(self.gp)])
        if estimator == "pca":
            pc = self.raw_p - self.raw_p.mean(axis=0)
            self.cov = pc.T @ pc / len(pc)
        if estimator == "projected":
            self.full = self.raw_p @ w.T  # (n, N_child): every parent's input to every child
            self.full_t = np.ascontiguousarray(self.full.T)  # (N_child, n), for the per-group Z in rows
            self.raw_p_t = np.ascontiguousarray(self.raw_p.T)  # (N_parent, n)
        if estimator in ("paper", "scaled"):
            self.wz = np.array([_block_weight(p[:, self._rest(j)]) if blocks else 1.0 for j in range(self.gp)])

    def _pu(self, j: int) -> np.ndarray:
        return np.sort(self.pidx[self.pptr[j] : self.pptr[j + 1]])

    def _cu(self, i: int) -> np.ndarray:
        return np.sort(self.cidx[self.cptr[i] : self.cptr[i + 1]])

    def _rest(self, j: int) -> np.ndarray:
        mask = np.ones(self.p.shape[1], bool)
        mask[self._pu(j)] = False
        return np.flatnonzero(mask)

    def _chunks(self) -> list[np.ndarray]:
        per = max(1, (_TASKS_PER_CHUNK if self.device is None else _TASKS_PER_CHUNK_DEVICE) // self.gc)
        return [np.arange(s, min(s + per, self.gp)) for s in range(0, self.gp, per)]

    def scores(self, split: Split, bar: Any) -> np.ndarray:
        """``(G_child, G_parent)`` scores ``1 − R/m`` for one split; advances ``bar`` per parent group."""
        rows = split.rows
        labels = split.labels
        xt = np.ascontiguousarray(self.c[rows].T)
        out = np.empty((self.gc, self.gp))
        prep = {
            "paper": self._prep_full,
            "scaled": self._prep_full,
            "pca": self._prep_pca,
            "projected": self._prep_projected,
        }[self.estimator]
        shared = self._shared_full(split) if self.estimator in ("paper", "scaled") else None
        b32 = None
        for js in self._chunks():
            base, has_base, bws, ft, fidx, fptr, fws, tasks = prep(split, js, xt, shared)
            if b32 is None:  # the float32 copy of the shared distances, once per split
                b32 = _mst.float32_base(base, has_base)
            r = self._cross(base, has_base, bws, ft, fidx, fptr, fws, labels, b32)
            for (i, j), rt in zip(tasks, r, strict=True):
                out[i, j] = 1.0 - rt / split.m
            bar.update(len(js))
        return out

    def _cross(self, base, has_base, bws, ft, fidx, fptr, fws, labels, b32) -> np.ndarray:
        if self.device is None and self.reference:
            return _mst.cross_batch_ref(base, has_base, bws, ft, fidx, fptr, fws, labels)
        if self.device is None:
            return _mst.cross_batch(base, has_base, bws, ft, fidx, fptr, fws, labels, *b32)
        from mintlab.estimator._torch_mst import cross_batch_torch

        return cross_batch_torch(base, has_base, bws, ft, fidx, fptr, fws, labels, self.device)

    def _merged_y(self, split: Split, units: np.ndarray, donors: np.ndarray) -> np.ndarray:
        """``(len(units), 2m)``: S1 vertices keep their own parents, bootstrapped ones the donor's."""
        y_rows = np.concatenate([split.s1, split.b[donors]])[split.slots]
        return self.p[np.ix_(y_rows, units)].T

    # --- "paper" / "scaled": Z = all parents but group j, through one shared distance matrix ---
    def _shared_full(self, split: Split) -> dict[str, Any]:
        pu = np.ascontiguousarray(self.p[split.rows])
        pa, pb = np.ascontiguousarray(self.p[split.a]), np.ascontiguousarray(self.p[split.b])
        base = _mst.sq_dists(pu, pu) if self.gp > 1 else np.zeros((1, 1))
        if self.gp == 1:  # Z is empty: a random bootstrap, exactly as conditional_gmi does it
            donors = nn_donors(pa[:, :0], pb[:, :0], split.starts, reuse=self.reuse)[None]
        else:
            dab = _mst.sq_dists(pa, pb)
            donors = _mst.donors_base(dab, pa, pb, self.pidx, self.pptr, split.starts, self.reuse)
        ytilde = np.empty((self.p.shape[1], len(split.slots)))
        for j in range(self.gp):
            u = self._pu(j)
            ytilde[u] = self._merged_y(split, u, donors[j])
        return {"base": base, "pt": np.ascontiguousarray(pu.T), "ytilde": ytilde, "donors": donors}

    def _prep_full(self, split, js, xt, shared):
        np_ = self.p.shape[1]
        nc = xt.shape[0]
        ft = np.concatenate([xt, shared["pt"], shared["ytilde"]])
        tasks, fidx, fws, bws = [], [], [], []
        has_base = self.gp > 1  # one group: Z is empty, no distance matrix (as conditional_gmi)
        for j in js:
            pu = self._pu(j)
            zu = pu if has_base else pu[:0]
            for i in range(self.gc):
                cu = self._cu(i)
                tasks.append((i, j))
                fidx.append(np.concatenate([cu, nc + np_ + pu, nc + zu]))
                fws.append(
                    np.concatenate(
                        [np.full(len(cu), self.wx[i]), np.full(len(pu), self.wy[j]), np.full(len(zu), -self.wz[j])]
                    )
                )
                bws.append(self.wz[j])
        return (shared["base"], has_base, np.array(bws), ft) + _csr(fidx, fws) + (tasks,)

    # --- "pca": Z = top principal components of the other parents ---
    def _prep_pca(self, split, js, xt, shared):
        nc = xt.shape[0]
        rows_ft = [xt]
        tasks, fidx, fws = [], [], []
        offset = nc
        for j in js:
            pu = self._pu(j)
            rest = self._rest(j)
            z = pca_project(self.raw_p[:, rest], self.k, cov=self.cov[np.ix_(rest, rest)])
            if self.scale == "columns":
                z = _column_scale(z)
            wz = _block_weight(z) if self.scale == "blocks" else 1.0
            donors = nn_donors(z[split.a], z[split.b], split.starts, reuse=self.reuse)
            rows_ft += [z[split.rows].T, self._merged_y(split, pu, donors)]
            zi = offset + np.arange(z.shape[1])
            yi = offset + z.shape[1] + np.arange(len(pu))
            offset += z.shape[1] + len(pu)
            for i in range(self.gc):
                cu = self._cu(i)
                tasks.append((i, j))
                fidx.append(np.concatenate([zi, cu, yi]))
                fws.append(
                    np.concatenate([np.full(len(zi), wz), np.full(len(cu), self.wx[i]), np.full(len(pu), self.wy[j])])
                )
        ft = np.ascontiguousarray(np.concatenate(rows_ft))
        return (np.zeros((1, 1)), False, np.ones(len(tasks)), ft) + _csr(fidx, fws) + (tasks,)

    # --- "projected": Z = the other parents' input to child group i through the weights ---
    def _prep_projected(self, split, js, xt, shared):
        """Jobs of parent groups ``js``: the Z of every child group at once per parent group (one product),
        then per task only slices (same values as per task; the layout is the per-call estimator's)."""
        nc = xt.shape[0]
        cus = [self._cu(i) for i in range(self.gc)]
        sizes = np.array([len(cu) for cu in cus])
        dmax, gc, n2 = int(sizes.max()), self.gc, len(split.slots)
        equal = bool((sizes == dmax).all())
        cidx = np.concatenate(cus)  # child units group by group
        tasks = [(i, j) for j in js for i in range(gc)]
        # ft rows: xt; then per parent group j the Z rows of every child unit (group by group) and each
        # task's merged Y rows
        n_pu = [len(self._pu(j)) for j in js]
        ft = np.empty((nc + sum(len(cidx) + gc * k for k in n_pu), n2))
        ft[:nc] = xt
        za = np.zeros((len(tasks), dmax, split.m))
        zb = np.zeros((len(tasks), dmax, len(split.b)))
        zrows, zj_stats = [], []
        buf = np.empty_like(self.full_t)
        offset = nc
        for s, j in enumerate(js):
            pu = self._pu(j)
            np.matmul(self.w[:, pu], self.raw_p_t[pu], out=buf)
            zj = np.subtract(self.full_t, buf, out=buf)  # (N_child, n): Z of every child unit, in rows
            if self.scale == "columns":
                zj = np.ascontiguousarray(_column_scale(zj.T).T)
            if self.scale == "blocks":
                zj_stats.append((zj.var(axis=1), zj.max(axis=1) == zj.min(axis=1)))
            zc = zj[cidx]
            ft[offset : offset + len(cidx)] = zc[:, split.rows]
            zrows.append(offset)
            offset += len(cidx) + gc * len(pu)
            t0 = s * gc
            if equal:  # zero padding (unequal groups) adds exactly 0 to every distance
                za[t0 : t0 + gc] = zc[:, split.a].reshape(gc, dmax, -1)
                zb[t0 : t0 + gc] = zc[:, split.b].reshape(gc, dmax, -1)
            else:
                for i, cu in enumerate(cus):
                    za[t0 + i, : len(cu)] = zj[cu][:, split.a]
                    zb[t0 + i, : len(cu)] = zj[cu][:, split.b]
        donors_feats = _mst.donors_feats_ref if self.reference else _mst.donors_feats
        donors = donors_feats(za, zb, np.asarray(split.starts, np.int64), self.reuse)
        fidx, fws = [], []
        starts_c = np.concatenate([[0], np.cumsum(sizes)])
        for s, j in enumerate(js):
            pu = self._pu(j)
            y_rows = np.concatenate(
                [np.broadcast_to(split.s1, (gc, len(split.s1))), split.b[donors[s * gc : (s + 1) * gc]]], axis=1
            )[:, split.slots]
            yoff = zrows[s] + len(cidx)
            ft[yoff : yoff + gc * len(pu)] = self.p_t[pu][:, y_rows].transpose(1, 0, 2).reshape(gc * len(pu), n2)
            for i, cu in enumerate(cus):
                wz = _block_weight_from(zj_stats[s][0][cu], zj_stats[s][1][cu]) if self.scale == "blocks" else 1.0
                zi = zrows[s] + np.arange(starts_c[i], starts_c[i + 1])
                yi = yoff + i * len(pu) + np.arange(len(pu))
                fidx.append(np.concatenate([zi, cu, yi]))
                fws.append(
                    np.concatenate([np.full(len(cu), wz), np.full(len(cu), self.wx[i]), np.full(len(pu), self.wy[j])])
                )
        return (np.zeros((1, 1)), False, np.ones(len(tasks)), ft) + _csr(fidx, fws) + (tasks,)


def _members(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR form of groups: units of group g are ``idx[ptr[g]:ptr[g+1]]``."""
    idx = np.argsort(labels, kind="stable").astype(np.int64)
    ptr = np.zeros(labels.max() + 2, np.int64)
    np.cumsum(np.bincount(labels), out=ptr[1:])
    return idx, ptr


def _csr(fidx: list[np.ndarray], fws: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    fptr = np.zeros(len(fidx) + 1, np.int64)
    np.cumsum([len(f) for f in fidx], out=fptr[1:])
    return (np.concatenate(fidx).astype(np.int64), fptr, np.concatenate(fws).astype(np.float64))
