"""MINT scores of one layer pair: ``I(child group i ; parent group j | all other parents)``.

:func:`score_layer_pair` computes, for activations ``parent (n, N_parent)`` and
``child (n, N_child)``, the ``(G_child, G_parent)`` matrix of conditional GMI estimates, each
exactly the statistic :func:`mintlab.estimator.gmi.conditional_gmi` returns for that pair of groups on
the same seed (same split, same bootstrap, same MST), but computed at a fraction of the cost.
One caveat, for ``"paper"`` and ``"scaled"``: "all parents but group j" is formed as the full
distance minus group j's part, which leaves rounding residue (~1e-15 relative) where two rows
have *exactly* equal Z; with ReLU activations such ties occur, and then a tied donor or MST edge
may be chosen differently from :func:`~mintlab.estimator.gmi.conditional_gmi` (measured by review on ReLU
data: a few donors of 30 per group, score differences up to 0.1 at n = 90). On continuous data
the two are identical (tested); ``"pca"`` and ``"projected"`` are identical in all cases.

* One split per repeat serves every ``(i, j)``: squared distances over *all* parents are
  computed once (merged rows × merged rows, and A × B for the bootstrap); "all parents but
  group j" is that minus group j's own part, formed on the fly.
* The nearest-neighbour bootstrap depends on ``j`` only (for ``"paper"``/``"scaled"``/
  ``"pca"``), so it runs once per parent group, not once per ``(i, j)``.
* The MSTs run in a compiled dense Prim kernel, in parallel over ``(i, j)``
  (``n_jobs`` threads), or batched in torch on ``device`` (a GPU when there is one).

The paper's reference code recomputes everything per ``(i, j)`` in Python; see
``docs/estimator.md`` for measured speed and for the estimator options.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from mintlab.estimator._engine import PairEngine  # the heavy lifting lives in a private module
from mintlab.estimator.gmi import (
    _DEFAULT_BOOTSTRAP,
    _DEFAULT_SCALE,
    BOOTSTRAPS,
    ESTIMATORS,
    SCALES,
    _as_samples,
    _check_n,
    _rng,
    split_rows,
)
from mintlab.utils.checks import InvalidArgumentError, check_choice, check_int

__all__ = [
    "check_estimator_options",
    "group_labels",
    "score_layer_pair",
    "score_layer_pair_spread",
]

_OPTIONS = ("scale", "bootstrap", "n_components")


def group_labels(n_units: int, groups: int | Sequence[int] | np.ndarray) -> np.ndarray:
    """Group label of every unit: ``groups`` balanced sequential groups, or explicit labels.

    An int ``G`` gives consecutive groups whose sizes differ by at most one (the paper's
    sequential grouping; the reference code needs ``G`` to divide the layer). Explicit labels
    must be ``n_units`` integers using every label ``0..G-1``.

    >>> group_labels(5, 2).tolist()
    [0, 0, 0, 1, 1]
    >>> group_labels(3, [1, 0, 1]).tolist()
    [1, 0, 1]
    """
    check_int(n_units, "n_units", minimum=1)
    if isinstance(groups, (int, np.integer)) and not isinstance(groups, bool):
        if not 1 <= groups <= n_units:
            raise ValueError(f"Expected a group count in [1, {n_units}] (the layer's units), but got {groups}")
        return (np.arange(n_units) * int(groups)) // int(n_units)
    labels = np.asarray(groups)
    if labels.shape != (n_units,) or not (labels.size and np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(f"Expected an int or {n_units} integer group labels, but got {groups!r}")
    used = np.unique(labels)
    if used[0] != 0 or len(used) != used[-1] + 1:
        raise ValueError(f"Expected group labels using every label 0..G-1, but got labels {used.tolist()}")
    return labels.astype(np.int64)


def _repeat_seeds(seed: int | None, repeats: int) -> list[Any]:
    if repeats == 1:
        return [seed]
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return ss.spawn(repeats)


def _check_options(estimator: str, options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise TypeError(f"Expected options among {_OPTIONS}, but got unknown {unknown}")
    scale, boot = options.get("scale"), options.get("bootstrap")
    out = {
        "scale": check_choice(_DEFAULT_SCALE[estimator] if scale is None else scale, "scale", SCALES),
        "bootstrap": check_choice(_DEFAULT_BOOTSTRAP[estimator] if boot is None else boot, "bootstrap", BOOTSTRAPS),
        "n_components": options.get("n_components", 8),
    }
    out["n_components"] = check_int(out["n_components"], "n_components", minimum=1)
    return out


def check_estimator_options(estimator: str, **options: Any) -> dict[str, Any]:
    """Check an estimator name and the options of :func:`score_layer_pair` without computing anything.

    What :class:`mintlab.prune.scorers.MintScorer` calls when it is built, so that a typo fails before a
    cache is written or a forward pass runs.

    Returns:
        ``options`` unchanged.

    Raises:
        InvalidArgumentError: an unknown estimator or option, or an option value out of range.

    >>> check_estimator_options("projected", repeats=2)
    {'repeats': 2}
    >>> check_estimator_options("projected", bootstrp="nn")
    Traceback (most recent call last):
    ...
    mintlab.utils.checks.InvalidArgumentError: Expected options among ['bootstrap', 'device', 'n_components', \
'n_jobs', 'progress', 'repeats', 'scale'], but got unknown ['bootstrp']
    """
    check_choice(estimator, "estimator", ESTIMATORS)
    known = sorted({*_OPTIONS, "repeats", "n_jobs", "device", "progress"})
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise InvalidArgumentError(f"Expected options among {known}, but got unknown {unknown}")
    _check_options(estimator, {k: v for k, v in options.items() if k in _OPTIONS})
    check_int(options.get("repeats", 1), "repeats", minimum=1)
    check_int(options.get("n_jobs"), "n_jobs", minimum=1, allow_none=True)
    if options.get("device") is not None:
        from mintlab.utils.runtime import select_device

        select_device(options["device"])  # "cuda" without CUDA fails here, not deep inside the first pair
    return options


def score_layer_pair(
    parent: np.ndarray,
    child: np.ndarray,
    parent_groups: int | Sequence[int] | np.ndarray,
    child_groups: int | Sequence[int] | np.ndarray,
    *,
    seed: int | None = None,
    estimator: str = "paper",
    weight: np.ndarray | None = None,
    repeats: int = 1,
    device: Any = None,
    n_jobs: int | None = None,
    progress: bool = False,
    columns: tuple[int, int] | None = None,
    reduction: str = "mean",
    **options: Any,
) -> np.ndarray:
    """``(G_child, G_parent)`` matrix of ``I(child group i ; parent group j | other parents)``.

    Args:
        parent: ``(n, N_parent)`` activations of layer l (one column per unit / filter).
        child: ``(n, N_child)`` activations of layer l+1, same rows.
        parent_groups, child_groups: group counts (balanced sequential groups) or explicit
            labels (see :func:`group_labels`).
        seed: seed of the split(s); ``repeats=1`` uses it as is, so entry ``(i, j)`` equals
            ``conditional_gmi(child[:, I], parent[:, J], parent[:, ~J], seed=seed)`` (up to exact
            ties in Z, see the module docstring).
        estimator: one of :data:`ESTIMATORS` (``"paper"`` = the paper's estimator).
        weight: ``(N_child, N_parent)`` effective weights (conv: kernel summed over space);
            needed by ``"projected"``, ignored by the others.
        repeats: independent splits averaged (``SeedSequence(seed).spawn(repeats)`` when > 1).
        device: None runs the compiled CPU kernels; a torch device (``"cpu"``, ``"cuda"``)
            runs the MSTs batched in torch on it (bootstrap and distances stay on the CPU).
        n_jobs: CPU threads (None: all numba threads).
        progress: show a progress bar.
        columns: ``(start, stop)``: score parent groups ``start..stop-1`` only and return
            ``(G_child, stop - start)``, exactly the same numbers as those columns of the whole
            matrix (same splits, same bootstrap donors, same MSTs: each column is computed apart);
            the unit of work of :func:`mintlab.prune.scores.compute_scores` slices and Dask tasks.
        reduction: ``"mean"`` averages the repeats into ``(G_child, G_parent)``; ``"none"`` returns every
            repeat, ``(repeats, G_child, G_parent)`` (as torch losses name it).
        **options: ``scale``, ``bootstrap``, ``n_components`` as in
            :func:`mintlab.estimator.gmi.conditional_gmi`.

    Raises:
        ValueError: for ``columns`` that are not ``0 <= start < stop <= G_parent``.
        InvalidArgumentError: ``reduction`` not ``"mean"`` or ``"none"``.

    >>> rng = np.random.default_rng(0)
    >>> p = rng.normal(size=(90, 4))
    >>> c = np.maximum(p[:, :2] @ [[1.0, 0.5], [0.2, 1.0]], 0)
    >>> score_layer_pair(p, c, 2, 1, seed=0).shape
    (1, 2)
    """
    check_choice(reduction, "reduction", ("mean", "none"))
    p = _as_samples("parent", parent)
    c = _as_samples("child", child)
    if len(p) != len(c):
        raise ValueError(f"Expected `parent` and `child` with the same number of rows, but got {len(p)} and {len(c)}")
    _check_n(len(p), 3, "`parent` and `child`")
    check_choice(estimator, "estimator", ESTIMATORS)
    _rng(seed)  # validates the seed
    opts = _check_options(estimator, options)
    pl = group_labels(p.shape[1], parent_groups)
    cl = group_labels(c.shape[1], child_groups)
    repeats = check_int(repeats, "repeats", minimum=1)
    n_jobs = check_int(n_jobs, "n_jobs", minimum=1, allow_none=True)
    w = None
    if estimator == "projected":
        if weight is None:
            raise ValueError("Expected `weight` of shape (N_child, N_parent) for estimator 'projected', but got None")
        w = np.asarray(weight, dtype=np.float64)
        if w.shape != (c.shape[1], p.shape[1]) or not np.isfinite(w).all():
            raise ValueError(f"Expected a finite `weight` of shape {(c.shape[1], p.shape[1])}, but got shape {w.shape}")
    start, stop = _check_columns(columns, int(pl.max()) + 1)
    scorer = PairEngine(p, c, pl, cl, estimator, w, opts, device=device)
    if columns is not None:
        _restrict_columns(scorer, start, stop)
    seeds = _repeat_seeds(seed, int(repeats))
    scores = np.empty((len(seeds), cl.max() + 1, stop - start))
    with (
        _threads(n_jobs),
        tqdm(total=len(seeds) * (stop - start), disable=not progress, desc="MINT scores", unit="group") as bar,
    ):
        for r, s in enumerate(seeds):
            scores[r] = scorer.scores(split_rows(len(p), s), bar)[:, start:stop]
    return scores.mean(axis=0) if reduction == "mean" else scores


def score_layer_pair_spread(
    parent: np.ndarray,
    child: np.ndarray,
    parent_groups: int | Sequence[int] | np.ndarray,
    child_groups: int | Sequence[int] | np.ndarray,
    *,
    repeats: int = 3,
    **kwargs: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (ddof=1) over ``repeats >= 2`` splits, each ``(G_child, G_parent)``; the other
    keywords (``seed``, ``estimator``, ``weight``, ``device``, ``n_jobs``, ``progress``, ``columns``, the
    estimator's options) as in :func:`score_layer_pair`.

    Raises:
        InvalidArgumentError: ``repeats`` < 2, or a keyword :func:`score_layer_pair` refuses.

    >>> rng = np.random.default_rng(0)
    >>> p = rng.normal(size=(60, 4))
    >>> mean, std = score_layer_pair_spread(p, p[:, :2] ** 2, 2, 2, seed=0, repeats=2)
    >>> mean.shape == std.shape == (2, 2)
    True
    """
    check_int(repeats, "repeats", minimum=2)
    if "reduction" in kwargs:
        raise InvalidArgumentError("Expected no `reduction` (the spread reduces to mean and std), but got one")
    scores = score_layer_pair(parent, child, parent_groups, child_groups, repeats=repeats, reduction="none", **kwargs)
    return scores.mean(axis=0), scores.std(axis=0, ddof=1)


def _check_columns(columns: Any, g_parent: int) -> tuple[int, int]:
    """``(start, stop)`` of a parent-group slice; ``None`` is every group."""
    if columns is None:
        return 0, g_parent
    ok = (
        isinstance(columns, (tuple, list))
        and len(columns) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in columns)
    )
    if not ok or not 0 <= columns[0] < columns[1] <= g_parent:
        raise ValueError(f"Expected `columns` as (start, stop), 0 <= start < stop <= {g_parent}, but got {columns!r}")
    return int(columns[0]), int(columns[1])


def _restrict_columns(engine: Any, start: int, stop: int) -> None:
    """Make ``engine`` score parent groups ``start..stop-1`` only.

    The engine scores the parent groups listed by its ``_chunks()`` batches, each (i, j) on its own
    (its own coordinates and MST; the split and donors are shared and identical); keeping the whole
    run's batches, less the groups outside the slice, gives the very same numbers.
    """
    whole = engine._chunks()
    kept = [js[(js >= start) & (js < stop)] for js in whole]
    engine._chunks = lambda: [js for js in kept if len(js)]


class _threads:
    """Context manager: numba uses ``n`` threads inside, then the previous count again."""

    def __init__(self, n: int | None) -> None:
        self.n = n

    def __enter__(self) -> None:
        import numba

        self.prev = numba.get_num_threads()
        if self.n is not None:
            numba.set_num_threads(min(int(self.n), numba.config.NUMBA_NUM_THREADS))

    def __exit__(self, *exc: object) -> None:
        import numba

        numba.set_num_threads(self.prev)
