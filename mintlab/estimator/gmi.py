"""Geometric mutual information (GMI) by the Friedman–Rafsky test on a Euclidean MST.

The quantity (MINT paper, Eq. 2, with p = 1/2) is

    I(X; Y) = 1 - 2 ∬ f_XY f_X f_Y / (f_XY + f_X f_Y),

0 for independent X and Y, → 1 as Y determines X. It is estimated by mixing ``m`` samples of
the joint law with ``m`` samples of the product law, building the Euclidean minimum spanning
tree of the merged set and counting the ``R`` edges that join the two samples:
``I ≈ 1 − R / m`` (with equal sample sizes ``E[R] = m`` when the laws agree).

:func:`conditional_gmi` is the paper's estimator of ``I(X; Y | Z)``: the product-law sample
is made by the nearest-neighbour bootstrap of Sen et al. (2017) on ``Z``.

Departures from the MINT paper and its reference code (all deliberate):

* Rows are shuffled with ``seed`` before the split. The paper takes the rows as drawn; MINT's
  per-class sampler returns them ordered by class, so an unshuffled split would put whole
  classes into one part.
* ``|S1| = |A| = m = n // 3`` exactly and B takes the other ``n − 2m`` rows (one or two more
  when ``n`` is not divisible by 3), so ``1 − R/m`` is centred at 0 under (conditional)
  independence. The reference code uses unequal parts and clips ``R`` at ``m``.
* ``R`` counts every MST edge. The reference code reads one CSR index per row of the tree,
  which miscounts, and drops zero-length edges (SciPy treats 0 as "no edge").
* The bootstrap takes, for each row of A, the Y of the row of B nearest in Z. (The reference
  code queries with B and indexes A's rows with B's positions, mixing the two index spaces.)
* The estimate is not clipped to [0, 1]; under independence it scatters around 0.
* Ties (duplicate rows, dead units): the merged points are visited in a seeded random order
  and Prim's algorithm takes the lowest vertex index among equal keys, so a block of identical
  points becomes a star around a random member; tied donors in the bootstrap are spread the
  same way. Neither crashes nor yields NaN.
* Options the paper lacks (``estimator``, ``scale``, ``bootstrap``); see
  :data:`ESTIMATORS` and ``docs/estimator.md`` for why they exist and what they change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import mintlab.estimator._mst as _mst
from mintlab.utils.checks import check_choice, check_int

__all__ = [
    "BOOTSTRAPS",
    "ESTIMATORS",
    "RECOMMENDED_ESTIMATOR",
    "SCALES",
    "Split",
    "conditional_gmi",
    "gmi",
    "nn_donors",
    "pca_project",
    "split_rows",
]

#: Estimators of ``I(X; Y | Z)`` (see ``docs/estimator.md``):
#: ``"paper"`` the paper's estimator on the raw ``[X, Y, Z]`` (bootstrap ``"nn"``);
#: ``"scaled"`` X, Y and Z blocks scaled to equal total variance (bootstrap ``"nn_unique"``);
#: ``"pca"`` Z replaced by its top ``n_components`` principal components, blocks scaled,
#: ``"nn_unique"``; ``"projected"`` Z replaced by ``Z @ weight.T`` (the other parents' input
#: to the child units through the layer's weights), blocks scaled, ``"nn_unique"``.
ESTIMATORS = ("paper", "scaled", "pca", "projected")

#: The estimator :mod:`mintlab.estimator.layer_pair` recommends for pruning (chosen by measurement,
#: see ``docs/estimator.md``); ``"paper"`` stays the default everywhere.
RECOMMENDED_ESTIMATOR = "projected"

#: ``"nn"``: the paper's nearest-neighbour bootstrap (a donor may serve many receivers);
#: ``"nn_unique"``: each donor serves at most one receiver (the nearest unused one).
BOOTSTRAPS = ("nn", "nn_unique")

#: ``"none"``: raw coordinates; ``"blocks"``: each of X, Y, Z divided by the square root of
#: its total variance; ``"columns"``: every column to unit variance (constant columns stay 0).
SCALES = ("none", "blocks", "columns")

_DEFAULT_SCALE = {"paper": "none", "scaled": "blocks", "pca": "blocks", "projected": "blocks"}
_DEFAULT_BOOTSTRAP = {"paper": "nn", "scaled": "nn_unique", "pca": "nn_unique", "projected": "nn_unique"}

#: Coordinates beyond this many are turned into one precomputed distance matrix.
_BASE_MIN_DIMS = 16

#: Fewest parts of the split: ``m = n // 3`` (conditional) or ``n // 2`` rows per sample.
MIN_PART = 3


#: Largest and smallest nonzero magnitude :func:`_as_samples` accepts: squared distances of d ≤ 10⁶
#: coordinates stay finite and above float64's smallest normal number (≈ 2.2e-308) inside.
_MAX_MAGNITUDE = 1e150
_MIN_MAGNITUDE = 1e-150


def _as_samples(name: str, a: object, *, allow_empty: bool = False) -> np.ndarray:
    """``a`` as a finite float64 ``(n, d)`` array (a 1-D array is one column)."""
    if isinstance(a, (str, bytes)) or a is None:
        raise TypeError(f"Expected `{name}` as an array of shape (n,) or (n, d), but got {type(a).__name__}")
    if np.iscomplexobj(a):
        raise TypeError(f"Expected `{name}` as a real array, but got a complex one")
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"Expected `{name}` as a numeric array, but got {type(a).__name__}") from err
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"Expected `{name}` of shape (n,) or (n, d), but got shape {arr.shape}")
    if arr.shape[1] == 0 and not allow_empty:
        raise ValueError(f"Expected `{name}` with at least one column, but got shape {arr.shape}")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ValueError(f"Expected finite values in `{name}`, but got {bad} NaN/inf entries")
    top = float(np.abs(arr).max()) if arr.size else 0.0
    if not (top == 0.0 or _MIN_MAGNITUDE <= top <= _MAX_MAGNITUDE):
        raise ValueError(
            f"Expected `{name}` with magnitudes in [{_MIN_MAGNITUDE:g}, {_MAX_MAGNITUDE:g}] (squared "
            f"distances over- or underflow float64 outside; rescale the data), but got {top:.3g}"
        )
    return np.ascontiguousarray(arr)


def _check_n(n: int, parts: int, names: str) -> None:
    if n // parts < MIN_PART:
        raise ValueError(
            f"Expected at least {parts * MIN_PART} samples (rows) in {names} to split into "
            f"{parts} parts of >= {MIN_PART}, but got {n}"
        )


def _rng(seed: int | np.random.SeedSequence | None) -> np.random.Generator:
    if seed is not None and not isinstance(seed, (int, np.integer, np.random.SeedSequence)) or isinstance(seed, bool):
        raise TypeError(f"Expected `seed` as an int, a SeedSequence or None, but got {type(seed).__name__}")
    if isinstance(seed, (int, np.integer)) and seed < 0:
        raise ValueError(f"Expected `seed` >= 0, but got {seed}")
    return np.random.default_rng(seed)


def _column_scale(a: np.ndarray) -> np.ndarray:
    """Centre columns and divide by their std; constant columns become exactly 0.

    >>> _column_scale(np.array([[0.1, 1.0], [0.1, 3.0]])).tolist()
    [[0.0, -1.0], [0.0, 1.0]]
    """
    const = a.max(axis=0) == a.min(axis=0) if len(a) else np.ones(a.shape[1], bool)
    a = a - a.mean(axis=0)
    sd = a.std(axis=0)
    sd[const | (sd == 0)] = 1.0
    a /= sd
    a[:, const] = 0.0
    return a


def _block_weight(a: np.ndarray) -> float:
    """Weight ``1 / total variance`` of a block (1 for a constant or empty block)."""
    if a.shape[1] == 0:
        return 1.0
    return _block_weight_from(a.var(axis=0), a.max(axis=0) == a.min(axis=0))


def _block_weight_from(var: np.ndarray, const: np.ndarray) -> float:
    """:func:`_block_weight` from the block's column variances and which columns are constant."""
    if len(var) == 0 or const.all():
        return 1.0
    tv = float(var.sum())
    return 1.0 / tv if tv > 1e-300 else 1.0


@dataclass(frozen=True)
class Split:
    """One seeded split of ``n`` rows (positions are row indices of the data).

    Attributes:
        a: rows of A (receivers of the bootstrap), ``m`` of them.
        b: rows of B (donors), ``n − 2m``.
        s1: rows of S1 (the joint sample), ``m``.
        slots: merged vertex ``v`` is S1 row ``s1[slots[v]]`` when ``slots[v] < m``, else the
            bootstrapped copy of A row ``a[slots[v] − m]``.
        starts: per receiver, the position in B where the nearest-neighbour scan starts
            (decides exact ties).
    """

    a: np.ndarray
    b: np.ndarray
    s1: np.ndarray
    slots: np.ndarray
    starts: np.ndarray

    @property
    def m(self) -> int:
        return len(self.a)

    @property
    def labels(self) -> np.ndarray:
        """0 for S1 vertices, 1 for bootstrapped vertices, in merged-vertex order."""
        return (self.slots >= self.m).astype(np.int64)

    @property
    def rows(self) -> np.ndarray:
        """Data row of each merged vertex (the row its X and Z come from)."""
        return np.concatenate([self.s1, self.a])[self.slots]


def split_rows(n: int, seed: int | np.random.SeedSequence | None) -> Split:
    """The seeded split used by :func:`conditional_gmi` and :mod:`mintlab.estimator.layer_pair`.

    ``perm = default_rng(seed).permutation(n)``; A = ``perm[:m]``, B = ``perm[m:n−m]``,
    S1 = ``perm[n−m:]`` with ``m = n // 3``; then the merged-vertex order and tie-breaking
    starts are drawn from the same generator.

    >>> s = split_rows(10, seed=0)
    >>> len(s.a), len(s.b), len(s.s1), sorted(np.concatenate([s.a, s.b, s.s1]).tolist()) == list(range(10))
    (3, 4, 3, True)
    """
    rng = _rng(seed)
    perm = rng.permutation(n)
    m = n // 3
    slots = rng.permutation(2 * m)
    starts = rng.integers(0, n - 2 * m, size=m)
    return Split(perm[:m], perm[m : n - m], perm[n - m :], slots, starts)


def _merged_y(y: np.ndarray, split: Split, donors: np.ndarray) -> np.ndarray:
    """Y of every merged vertex: own Y for S1, the donor's Y for bootstrapped vertices."""
    y_rows = np.concatenate([split.s1, split.b[donors]])[split.slots]
    return y[y_rows]


def _mst_statistic(blocks: list[tuple[np.ndarray, float]], labels: np.ndarray, m: int) -> float:
    """``1 − R/m`` for the MST of the merged points, coordinates given as weighted blocks."""
    base = np.zeros((1, 1))
    has_base, bw = False, 1.0
    feats, fw = [], []
    for coords, w in blocks:
        if coords.shape[1] > _BASE_MIN_DIMS and not has_base:
            base, has_base, bw = _mst.sq_dists(coords, coords), True, w
        else:
            feats.append(coords.T)
            fw.extend([w] * coords.shape[1])
    f = np.ascontiguousarray(np.concatenate(feats, axis=0)) if feats else np.zeros((0, len(labels)))
    return 1.0 - _mst.mst_cross_count(base, has_base, bw, f, np.asarray(fw, dtype=np.float64), labels) / m


def gmi(x: np.ndarray, y: np.ndarray, *, seed: int | None = None, scale: str = "none") -> float:
    """Unconditional GMI of paired samples ``x (n, dx)`` and ``y (n, dy)``.

    Half the rows (``m = n // 2``, after a seeded shuffle) are the joint sample; the other
    half, with ``y`` shuffled among them, samples the product of marginals. Returns
    ``1 − R/m`` (an odd last row is left out).

    Args:
        x, y: samples; 1-D arrays are one column.
        seed: seed of the shuffle (same seed → same result; None draws fresh entropy).
        scale: ``"none"`` (as the paper), ``"blocks"`` or ``"columns"`` (see :data:`SCALES`).

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=600)
    >>> gmi(x, x + 0.1 * rng.normal(size=600), seed=0) > 0.5 > abs(gmi(x, rng.normal(size=600), seed=0))
    True
    """
    x = _as_samples("x", x)
    y = _as_samples("y", y)
    if len(x) != len(y):
        raise ValueError(f"Expected `x` and `y` with the same number of rows, but got {len(x)} and {len(y)}")
    check_choice(scale, "scale", SCALES)
    _check_n(len(x), 2, "`x` and `y`")
    if scale == "columns":
        x, y = _column_scale(x), _column_scale(y)
    wx, wy = (_block_weight(x), _block_weight(y)) if scale == "blocks" else (1.0, 1.0)
    rng = _rng(seed)
    n = len(x)
    m = n // 2
    perm = rng.permutation(n)
    joint, prod = perm[:m], perm[m : 2 * m]
    slots = rng.permutation(2 * m)
    x_rows = np.concatenate([joint, prod])[slots]
    y_rows = np.concatenate([joint, prod[rng.permutation(m)]])[slots]
    labels = (slots >= m).astype(np.int64)
    return _mst_statistic([(x[x_rows], wx), (y[y_rows], wy)], labels, m)


def _prepare_z(z: np.ndarray, estimator: str, weight: np.ndarray | None, n_components: int, dx: int) -> np.ndarray:
    if estimator == "pca":
        return pca_project(z, check_int(n_components, "n_components", minimum=1))
    if estimator == "projected":
        if weight is None:
            raise ValueError("Expected `weight` of shape (dx, dz) for estimator 'projected', but got None")
        try:
            w = np.asarray(weight, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"Expected `weight` as a real array of shape {(dx, z.shape[1])} (dx, dz), but got "
                f"{type(weight).__name__} {weight!r:.60}"
            ) from err
        if w.shape != (dx, z.shape[1]):
            raise ValueError(f"Expected `weight` of shape {(dx, z.shape[1])} (dx, dz), but got shape {w.shape}")
        if not np.isfinite(w).all():
            raise ValueError(
                f"Expected a finite `weight`, but got {int((~np.isfinite(w)).sum())} NaN or infinite entries"
            )
        return z @ w.T
    return z


def nn_donors(za: np.ndarray, zb: np.ndarray, starts: np.ndarray, *, reuse: bool = True) -> np.ndarray:
    """Position in B of each receiver's donor: the row of ``zb`` nearest (L2) to each row of ``za``.

    Exact ties go to the first position met scanning ``zb`` from ``starts[a]``; with
    ``reuse=False`` each donor serves one receiver (receivers in row order), which needs
    ``len(zb) >= len(za)``. With no columns every distance ties, so the donor is ``starts[a]``
    (reuse) or the first unused one after it: a random bootstrap.

    >>> nn_donors(np.array([[0.0], [5.0]]), np.array([[4.0], [1.0], [9.0]]), np.array([0, 0]))
    array([1, 0])
    """
    starts = np.asarray(starts, dtype=np.int64)
    if za.shape[1] > _BASE_MIN_DIMS:
        dab = _mst.sq_dists(za, zb)
        empty = np.zeros(0, np.int64)
        return _mst.donors_base(dab, za[:, :0], zb[:, :0], empty, np.zeros(2, np.int64), starts, reuse)[0]
    za_t = np.ascontiguousarray(za.T[None])
    zb_t = np.ascontiguousarray(zb.T[None])
    return _mst.donors_feats(za_t, zb_t, starts, reuse)[0]


def pca_project(z: np.ndarray, k: int, cov: np.ndarray | None = None) -> np.ndarray:
    """Centred ``z`` projected on its top ``k`` principal axes (fewer if ``z`` has fewer columns).

    ``cov`` may pass the covariance of ``z`` when it is already known (the layer-pair scorer
    takes it from the covariance of all parents).

    >>> pca_project(np.arange(12.0).reshape(4, 3), 2).shape
    (4, 2)
    """
    zc = z - z.mean(axis=0)
    if z.shape[1] <= k:
        return zc
    if cov is None:
        cov = zc.T @ zc / len(zc)
    _, vecs = np.linalg.eigh(cov)
    return zc @ vecs[:, ::-1][:, :k]


def conditional_gmi(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    *,
    seed: int | None = None,
    estimator: str = "paper",
    weight: np.ndarray | None = None,
    scale: str | None = None,
    bootstrap: str | None = None,
    n_components: int = 8,
) -> float:
    """Conditional GMI ``I(X; Y | Z)`` by the MINT paper's estimator (Section III-A).

    Split (A, B, S1 after a seeded shuffle), nearest-neighbour bootstrap on Z (each row of A
    takes the Y of the row of B nearest in Z), Euclidean MST of S1 ∪ S2~ in ``[X, Y, Z]``,
    ``R`` = MST edges joining S1 to S2~, estimate ``1 − R/m``. See the module docstring for
    where this departs from the paper's reference code.

    Args:
        x, y, z: ``(n, dx)``, ``(n, dy)``, ``(n, dz)`` samples (1-D = one column; ``z`` may have
            0 columns, which gives an unconditional estimate with a random bootstrap).
        seed: seed of the split (same seed → same result; None draws fresh entropy).
        estimator: one of :data:`ESTIMATORS`; ``"paper"`` is faithful to the paper.
        weight: ``(dx, dz)`` weights for ``estimator="projected"`` (Z is replaced by
            ``z @ weight.T``); ignored by the other estimators.
        scale: one of :data:`SCALES`; None takes the estimator's own (``"none"`` for paper,
            ``"blocks"`` otherwise).
        bootstrap: one of :data:`BOOTSTRAPS`; None takes the estimator's own (``"nn"`` as
            in the paper for ``"paper"``, ``"nn_unique"`` otherwise).
        n_components: principal components kept by ``estimator="pca"``.

    Returns:
        The estimate (about 0 under conditional independence, up to 1; not clipped).

    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=900)
    >>> x, y = z + 0.3 * rng.normal(size=900), z + 0.3 * rng.normal(size=900)
    >>> abs(conditional_gmi(x, y, z, seed=0)) < 0.1 < gmi(x, y, seed=0)
    True
    """
    x = _as_samples("x", x)
    y = _as_samples("y", y)
    z = _as_samples("z", z, allow_empty=True)
    if not len(x) == len(y) == len(z):
        raise ValueError(f"Expected `x`, `y`, `z` with the same number of rows, but got {len(x)}, {len(y)}, {len(z)}")
    _check_n(len(x), 3, "`x`, `y`, `z`")
    check_choice(estimator, "estimator", ESTIMATORS)
    scale = check_choice(_DEFAULT_SCALE[estimator] if scale is None else scale, "scale", SCALES)
    bootstrap = check_choice(_DEFAULT_BOOTSTRAP[estimator] if bootstrap is None else bootstrap, "bootstrap", BOOTSTRAPS)
    z = _prepare_z(z, estimator, weight, n_components, x.shape[1])
    if scale == "columns":
        x, y, z = _column_scale(x), _column_scale(y), _column_scale(z)
    if scale == "blocks":
        wx, wy, wz = _block_weight(x), _block_weight(y), _block_weight(z)
    else:
        wx = wy = wz = 1.0
    split = split_rows(len(x), seed)
    donors = nn_donors(z[split.a], z[split.b], split.starts, reuse=bootstrap == "nn")
    rows = split.rows
    blocks = [(z[rows], wz), (x[rows], wx), (_merged_y(y, split, donors), wy)]
    return _mst_statistic(blocks, split.labels, split.m)
