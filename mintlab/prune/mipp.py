"""MIPP: structured pruning that preserves the MI between adjacent layers, and unit-level baselines.

Westphal, Hailes & Musolesi, "Mutual Information Preserving Neural Network Pruning", arXiv 2411.00147
(v1 = ICLR 2025 submission). The authors released no code; this follows a design note written for the
project, which is not in the repository: its open points A1–A20 and the sections cited below by bare
§-number (``v1 §…`` is the paper) are summarised in ``docs/mipp.md`` ("The design note's open points").

What is computed, layer pair by layer pair, **from the output backwards** (A1):

1. One forward pass (:func:`mintlab.prune.activations.collect_activations`, the same row-aligned per-class
   sample MINT uses). The *units* of a pair ``(p, c)`` are the units of ``p`` as ``c`` reads them
   (``c``'s input, i.e. after ``p``'s BN / ReLU / pooling, A11); the *target* is the next pair's
   units restricted to the ones already kept there, or, for the last pair (or a pair whose child
   is not the next pair's parent), the output of ``c`` (for the MLP: the logits, A10).
2. MI ordering (§2.3, A2): one small MLP per unit predicts the target from that unit alone; units
   are tested in *descending* held-out loss, least informative first.
3. Reference fit: ``R`` MLPs (different seeds: initial weights and batch order) predict the target
   from all units; their held-out MSE is ``L_ref^r``.
4. One pass in that order (TERC, §2.2/§2.4): mask unit ``i`` on top of the units already removed,
   warm-start refit a copy of each current predictor (short budget, early stopping, A7), read
   ``L_{-i}^r``; ``Δ^r = L_{-i}^r − L_ref^r`` is the estimated information lost. The one-sided
   confidence that ``E[Δ] > 0`` is the Student-t CDF (``R − 1`` d.o.f.) of ``mean/(sd/√R)``
   (A4). The unit is **kept iff that confidence exceeds x**; otherwise it is removed and the
   refitted predictors become the current ones. Higher ``x`` → more pruning.
5. Masks: every weight into a removed unit (its rows in ``p``) and out of it (its columns in
   ``c``) is masked with ``torch.nn.utils.prune`` (:func:`unit_weight_masks`, :func:`apply_masks`),
   so retraining and :mod:`mintlab.prune.metrics` work unchanged.

The estimator is :func:`predictive_mi` / :func:`predictive_cmi` (prediction-loss MI, in nats;
see :mod:`mintlab.prune._predictor`). The per-unit test uses raw held-out MSE differences on
standardised targets, as the paper's Eq. 1; the nats reading is not needed for a sign test.

Open points of the note decided here (reading — why):

* A1 layer order: outputs → inputs — v1 §4.4 and two of three reviewers; one forward pass suffices.
* A2 ordering: least informative (highest single-unit loss) first — the paper's stated goal and
  the author's FSNID code.
* A3 reference loss: the *original* full-layer loss by default (``reference="original"``),
  ``"current"`` (the current kept set, the literal TERC condition) as an option — the note's
  default; it stops many individually insignificant removals from drifting the information down.
  Measured consequence (``docs/mipp.md``): against an early-stopped reference fit the warm-started
  refits usually end *below* ``L_ref`` (they train longer), so most units look removable at any ``x``;
  against a converged one a short refit never gets back, so every unit stays. ``"current"`` is the
  reading under which ``x`` acts as a knob on VGG16-BN.
* A4 confidence: ``R`` repeats (default 5) with different seeds (initial weights of the reference
  fit, batch order of every refit), *paired* Δ (repeat ``r`` refits from repeat ``r``), one-sided
  t-test. ``sd = 0``: confidence 1 if the mean is > 0, 0 if < 0, ½ if = 0.
* A5 null model: none (v1 describes none).
* A6/A7 predictor: one hidden ReLU layer of width 32, Adam lr 3e-3, MSE, batch 256; initial fits up
  to 60 epochs, refits up to 10 (warm start), early stopping patience 3 on the held-out loss — the
  note's §3 defaults scaled down (width 256→32, epochs 200/100→60/10) so that a full MLP pass runs
  in CPU minutes; :class:`PredictorConfig` holds them all. Ordering fits use width 8, ≤ 15 epochs.
* A8 data: the MINT sample (``samples_per_class`` per class, default 300 → 3,000 rows for 10
  classes), a seeded 80/20 fit / held-out split per layer, no augmentation — close to the
  reviewer-inferred ~5k rows and shared with MINT so both see the same activations.
* A9 conv channels: the **spatial mean** of each channel (1×1 pooling) — the activations MINT
  already records (the note's 2×2 pooling is not used; a channel is one scalar like an FC node).
  The whole channel is masked.
* A10 last target: pre-softmax logits (the last child module's output), MSE.
* A11 units: post-BN, post-nonlinearity (the child's input), since the mask zeroes exactly that.
* A12 residual nets: only the pairs given are pruned; a unit that also feeds a skip connection is
  masked only into/out of the given modules (callers pass internal block convs only).
* A13 choosing x: ``x`` directly, or ``target`` (unit sparsity per layer): bisection of ``x`` per
  layer (outputs → inputs, each layer against the already-bisected downstream layer), up to
  ``max_bisect`` passes; if no pass lands within one unit of the target (``x`` moves the count in
  jumps), the closest pass is corrected with its recorded confidences: the kept units with the
  lowest confidence go, or the removed units with the highest come back. Recorded in ``info``.
* A14 sparsity: unit sparsity is what ``target`` sets; parameter sparsity follows from the masks
  (:func:`mintlab.prune.metrics.params_pruned_percent`).
* A15 collapse guard: ``min_keep`` (default 1): once a layer has that many units left, the rest are
  kept. ``min_keep=0`` lets a layer empty (for collapse statistics). A ``target`` that would keep
  fewer than one unit is refused (``ValueError``), whatever ``min_keep``.
* A17: activations are not recomputed after a layer is masked (backwards sweep, one-shot).
* A18: network inputs and outputs are never pruned.
* Dask (the scaling issue): layers are sequential (each one's target is the layer after it, already
  pruned), the ``R`` repeats of every fit within a layer are not. With an active ``dask.distributed``
  client, or one passed as ``client=``, each repeat is one :func:`fit_repeat` task on its workers
  (the layer's arrays scattered once; the single-unit ordering fits go as chunks of units);
  ``client=False`` or no client runs them in process as one batched :func:`fit_repeats`. Each
  repeat depends on its seed only, so the kept sets are the same (tested on worker processes).
* Constant units (std < 1e-8 on the fit split) carry no information and are removed before the
  pass (recorded as ``constant``), not tested. A layer whose units are *all* constant, or whose
  target is constant, raises ``ValueError`` instead of collapsing silently.

Departures from the paper: none intended beyond the readings above; the smaller predictor and
refit budgets are for CPU cost.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import stats
from torch import nn
from torch.utils.data import Dataset

from mintlab.prune._predictor import (
    CONSTANT_STD,
    FitResult,
    PredictorConfig,
    fit_repeat,
    fit_repeats,
    predictive_cmi,
    predictive_mi,
    standardize,
)
from mintlab.prune.activations import Activations, collect_activations, normalize_pairs, pair_geometry
from mintlab.prune.masks import effective_weight
from mintlab.prune.methods import method_names
from mintlab.prune.scores import _check_workers, _dask_client
from mintlab.utils.checks import InvalidArgumentError, check_int, check_seed

__all__ = [
    "STRUCTURED_METHODS",
    "FitResult",
    "PredictorConfig",
    "baseline_unit_keep",
    "fit_repeat",
    "fit_repeats",
    "l1_unit_scores",
    "mipp_layer",
    "mipp_masks",
    "mipp_select",
    "one_sided_confidence",
    "predictive_cmi",
    "predictive_mi",
    "structured_keep",
    "unit_weight_masks",
]

#: Methods :func:`structured_keep` knows.
STRUCTURED_METHODS = method_names("units")
#: Ordering predictor: width and epoch cap of the single-unit fits (a 1-D input needs little width).
ORDER_HIDDEN, ORDER_EPOCHS = 8, 15


def _check_x(x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.floating)):
        raise TypeError(f"Expected `x` as a number in (0, 1), but got {x!r}")
    if not 0.0 < float(x) < 1.0:
        raise ValueError(f"Expected `x` in (0, 1) (the confidence level), but got {x}")
    return float(x)


def _check_layer_keys(value: Any, name: str, layers: Sequence[str]) -> None:
    """Raise unless every key of ``value`` (when a per-layer mapping) names one of ``layers``.

    >>> _check_layer_keys({"fc3": 0.5}, "x", ["fc1", "fc2"])
    Traceback (most recent call last):
    ...
    mintlab.utils.checks.InvalidArgumentError: Expected `x` keys among the selected layers ['fc1', 'fc2'], \
but got ['fc3']
    """
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in layers]
        if unknown:
            raise InvalidArgumentError(
                f"Expected `{name}` keys among the selected layers {list(layers)}, but got {unknown!r}"
            )


def one_sided_confidence(delta: np.ndarray) -> float:
    """Confidence that ``E[Δ] > 0`` from paired repeats: Student-t CDF of ``mean / (sd / √R)``, ``R − 1`` d.o.f.

    >>> round(one_sided_confidence(np.array([1.0, 1.2, 0.8, 1.1, 0.9])), 4)  # t = 14.1, 4 d.o.f.
    0.9999
    >>> one_sided_confidence(np.zeros(5))
    0.5
    """
    d = np.asarray(delta, dtype=np.float64)
    if d.size < 2:
        raise ValueError(f"Expected at least 2 repeats for a confidence, but got {d.size}")
    mean, sd = d.mean(), d.std(ddof=1)
    if sd <= 1e-15 * max(1.0, abs(mean)):
        return 1.0 if mean > 0 else (0.0 if mean < 0 else 0.5)
    return float(stats.t.cdf(mean / (sd / np.sqrt(d.size)), df=d.size - 1))


def _seeds(seed: int, *keys: int, n: int) -> list[int]:
    return [int(np.random.SeedSequence([int(seed), *map(int, keys), r]).generate_state(1)[0]) for r in range(n)]


class _Fitter:
    """Where one layer's predictor fits run: in this process, or as one task per repeat on a Dask client.

    In process, the ``R`` repeats of a fit are one :func:`fit_repeats` call (today's path). On Dask,
    the layer's standardised arrays are scattered once, each repeat is one :func:`fit_repeat` task
    (its seed, its slice of a warm start), and the results are stacked back in seed order; the
    single-unit ordering fits go as chunks of units. Every repeat depends on its own seed only, so
    both give the same numbers (tested against a process-based ``LocalCluster``).
    """

    def __init__(self, client: Any, uf: np.ndarray, tf: np.ndarray, uh: np.ndarray, th: np.ndarray) -> None:
        self.client, self.arrays = client, (uf, tf, uh, th)
        self.futures: list[Any] = []
        self.token = uuid.uuid4().hex[:8]
        self.calls = 0
        if client is not None:
            self.data = [client.scatter(a, hash=False) for a in self.arrays]
            self.futures += self.data

    def _key(self, what: str, r: int) -> str:
        return f"mintlab-mipp-{what}-{self.token}-{self.calls}-{r}"

    def fit(
        self,
        seeds: Sequence[int],
        *,
        config: PredictorConfig,
        init: Sequence[torch.Tensor] | None = None,
        column_mask: np.ndarray | None = None,
    ) -> FitResult:
        """``len(seeds)`` repeats on all units (``column_mask`` 0/1 over units; ``init`` a warm start)."""
        if self.client is None:
            return fit_repeats(*self.arrays, seeds, config=config, init=init, column_mask=column_mask)
        self.calls += 1
        futures = [
            self.client.submit(
                fit_repeat,
                *self.data,
                int(s),
                config=config,
                column_mask=column_mask,
                init=None if init is None else [p[r : r + 1] for p in init],
                key=self._key("fit", r),
                pure=False,
            )
            for r, s in enumerate(seeds)
        ]
        return _stack(self._collect(futures))

    def fit_units(self, idx: np.ndarray, seeds: Sequence[int], *, config: PredictorConfig) -> FitResult:
        """One repeat per unit ``idx[j]`` (seed ``seeds[j]``) predicting the target from that unit alone."""
        uf, tf, uh, th = self.arrays
        if self.client is None:
            return fit_repeats(uf.T[idx][:, :, None], tf, uh.T[idx][:, :, None], th, seeds, config=config)
        self.calls += 1
        threads = max(1, sum(self.client.nthreads().values()))
        size = max(1, math.ceil(len(idx) / (2 * threads)))  # two chunks per worker thread
        futures = []
        for r, a in enumerate(range(0, len(idx), size)):
            part = idx[a : a + size]
            futures.append(
                self.client.submit(
                    fit_repeats,
                    uf.T[part][:, :, None],
                    self.data[1],
                    uh.T[part][:, :, None],
                    self.data[3],
                    list(seeds[a : a + size]),
                    config=config,
                    key=self._key("order", r),
                    pure=False,
                )
            )
        return _stack(self._collect(futures))

    def _collect(self, futures: list[Any]) -> list[FitResult]:
        try:
            return self.client.gather(futures, errors="raise")
        finally:
            for f in futures:
                f.release()

    def close(self) -> None:
        for f in self.futures:
            f.cancel()
        self.futures = []


def _stack(parts: Sequence[FitResult]) -> FitResult:
    """Repeats of several :class:`FitResult` as one, in order."""
    return FitResult(
        tuple(torch.cat([p.params[k] for p in parts]) for k in range(4)),
        np.concatenate([p.loss for p in parts]),
        np.concatenate([p.loss_per_dim for p in parts]),
        np.concatenate([p.epochs for p in parts]),
    )


@dataclass
class _Prepared:
    """Standardised fit / held-out arrays of one layer, its constant units, ordering and reference fit."""

    uf: np.ndarray
    uh: np.ndarray
    tf: np.ndarray
    th: np.ndarray
    constant: np.ndarray
    order: np.ndarray
    order_loss: np.ndarray
    ref: FitResult
    fitter: _Fitter


def _prepare(
    units: np.ndarray,
    target: np.ndarray,
    *,
    repeats: int,
    seed: int,
    config: PredictorConfig,
    name: str,
    client: Any = None,
) -> _Prepared:
    units = np.asarray(units, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if units.ndim != 2 or target.ndim != 2 or units.shape[0] != target.shape[0] or units.shape[0] < 10:
        raise ValueError(
            f"Expected `units` (n, N) and `target` (n, T) with the same n >= 10 rows for layer {name!r}, "
            f"but got {units.shape} and {target.shape}"
        )
    if not (np.isfinite(units).all() and np.isfinite(target).all()):
        raise ValueError(f"Expected finite activations for layer {name!r}, but they hold NaN or inf")
    perm = np.random.default_rng([int(seed), 3]).permutation(len(units))
    n_held = max(2, int(round(config.holdout * len(units))))
    fit, held = perm[n_held:], perm[:n_held]
    constant = units[fit].std(axis=0) < CONSTANT_STD
    if constant.all():
        raise ValueError(
            f"Expected layer {name!r} to have at least one non-constant unit, but all "
            f"{units.shape[1]} are constant on the sample: nothing to select from"
        )
    live_target = target[fit].std(axis=0) >= CONSTANT_STD
    if not live_target.any():
        raise ValueError(
            f"Expected a non-constant target for layer {name!r}, but all {target.shape[1]} target "
            "columns are constant: there is no information downstream to preserve"
        )
    uf, uh = standardize(units[fit], units[held])
    tf, th = standardize(target[fit][:, live_target], target[held][:, live_target])
    idx = np.flatnonzero(~constant)
    order_cfg = PredictorConfig(
        hidden=ORDER_HIDDEN,
        lr=config.lr,
        batch_size=config.batch_size,
        max_epochs=ORDER_EPOCHS,
        refit_epochs=1,
        patience=config.patience,
        holdout=config.holdout,
    )
    fitter = _Fitter(client, uf, tf, uh, th)
    try:
        single = fitter.fit_units(idx, _seeds(seed, 1, n=len(idx)), config=order_cfg)
        order_loss = np.full(units.shape[1], np.nan)
        order_loss[idx] = single.loss
        order = idx[np.lexsort((idx, -single.loss))]  # descending loss: least informative first; ties by index
        ref = fitter.fit(_seeds(seed, 2, n=repeats), config=config, column_mask=(~constant).astype(float))
    except BaseException:
        fitter.close()
        raise
    return _Prepared(uf, uh, tf, th, constant, order, order_loss, ref, fitter)


def _pass(
    prep: _Prepared,
    x: float,
    *,
    seed: int,
    config: PredictorConfig,
    min_keep: int,
    reference: str,
    progress: bool,
    name: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One TERC pass at confidence ``x`` → (keep (N,), confidence (N,), mean Δ (N,))."""
    from tqdm.auto import tqdm

    n_units = prep.uf.shape[1]
    mask = (~prep.constant).astype(np.float64)
    conf = np.full(n_units, np.nan)
    dmean = np.full(n_units, np.nan)
    current, current_loss = prep.ref.params, prep.ref.loss
    repeats = len(prep.ref.loss)
    for i in tqdm(prep.order, desc=f"mipp {name} x={x:.3g}", disable=not progress, leave=False):
        if mask.sum() <= min_keep:
            break  # guard (A15): the rest are kept, their confidence stays NaN
        trial = mask.copy()
        trial[i] = 0.0
        res = prep.fitter.fit(_seeds(seed, 4, int(i), n=repeats), config=config, init=current, column_mask=trial)
        base = prep.ref.loss if reference == "original" else current_loss
        delta = res.loss - base
        dmean[i] = delta.mean()
        conf[i] = one_sided_confidence(delta)
        if not conf[i] > x:
            mask, current, current_loss = trial, res.params, res.loss
    return mask > 0, conf, dmean


def _fix_count(keep: np.ndarray, conf: np.ndarray, n_keep: int, constant: np.ndarray) -> np.ndarray:
    """Move the closest pass to exactly ``n_keep`` units using its confidences (A13 fallback)."""
    keep = keep.copy()
    c = np.where(np.isnan(conf), np.inf, conf)  # untested (guard) units count as most confident
    if keep.sum() > n_keep:
        kept = np.flatnonzero(keep)
        keep[kept[np.argsort(c[kept], kind="stable")[: keep.sum() - n_keep]]] = False
    elif keep.sum() < n_keep:
        gone = np.flatnonzero(~keep & ~constant)
        gone = np.concatenate([gone, np.flatnonzero(constant)])  # constant units only as a last resort
        score = np.where(constant[gone], -np.inf, c[gone])
        keep[gone[np.argsort(-score, kind="stable")[: n_keep - keep.sum()]]] = True
    return keep


def mipp_layer(
    units: np.ndarray,
    target: np.ndarray,
    *,
    x: float = 0.9,
    n_keep: int | None = None,
    repeats: int = 5,
    seed: int = 0,
    config: PredictorConfig | None = None,
    min_keep: int = 1,
    reference: str = "original",
    max_bisect: int = 12,
    progress: bool = False,
    name: str = "layer",
    client: Any = None,
) -> dict[str, Any]:
    """MIPP's selection of the units of one layer against its (already pruned) downstream target.

    Args:
        units: ``(n, N)`` activations of the layer's ``N`` units (row-aligned with ``target``).
        target: ``(n, T)`` activations of the downstream kept units (or the network output).
        x: confidence level in (0, 1); a unit is kept iff the confidence that removing it loses
            information exceeds ``x``. Ignored when ``n_keep`` is given.
        n_keep: keep this many units (1..N): ``x`` is bisected (module docstring, A13).
        repeats: ``R`` >= 2 predictors per test.
        seed: seeds the split, the ordering fits, the repeats and the batch orders (same seed → same result).
        config: predictor settings.
        min_keep: collapse guard (A15), >= 0.
        reference: ``"original"`` (full-layer loss) or ``"current"`` (kept set) as the Δ baseline (A3).
        max_bisect: passes tried by the bisection.
        progress: progress bar over units.
        name: layer name for messages.
        client: where the ``R`` repeats of each fit run (the idiom of
            :func:`mintlab.prune.scores.compute_scores`): ``None``: the active ``dask.distributed``
            client if there is one (``distributed.default_client()``), else in this process;
            a ``distributed.Client``: that one, one task per repeat; ``False``: in this process.
            The result does not depend on it.

    Returns:
        ``{"keep": (N,) bool, "confidence": (N,) (NaN: not tested), "delta_mean": (N,), "order": (N',)
        test order, "order_loss": (N,) single-unit held-out loss, "constant": (N,) bool, "x": the x used,
        "bisection": [(x, kept), ...], "adjusted": units moved by the fallback, "seconds"}``.

    Raises:
        InvalidArgumentError: ``repeats`` < 2, ``min_keep`` < 0 or ``max_bisect`` < 1, or one of them not an
            int (a ``ValueError`` and a ``TypeError``).
        ValueError: ``x`` outside (0, 1); ``n_keep`` outside [1, N]; bad ``reference``;
            all units or all target columns constant; bad shapes; Dask workers that cannot import
            mintlab or import another version of it (checked before anything is submitted).
        TypeError: ``client`` that is not a ``distributed.Client``, ``None`` or ``False``.
    """
    t0 = time.perf_counter()
    seed = check_seed(seed)
    cfg = config or PredictorConfig()
    repeats = check_int(repeats, "repeats", minimum=2)
    min_keep = check_int(min_keep, "min_keep", minimum=0)
    max_bisect = check_int(max_bisect, "max_bisect", minimum=1)
    if reference not in ("original", "current"):
        raise ValueError(f"Expected `reference` in ('original', 'current'), but got {reference!r}")
    n_units = np.shape(units)[1] if np.ndim(units) == 2 else -1
    if n_keep is None:
        x = _check_x(x)
    elif isinstance(n_keep, bool) or not isinstance(n_keep, (int, np.integer)) or not 1 <= n_keep <= n_units:
        raise ValueError(
            f"Expected `n_keep` for layer {name!r} as an int in [1, {n_units}] (a layer keeps at least "
            f"one unit), but got {n_keep!r}"
        )
    dask_client = _resolve_client(client)
    prep = _prepare(units, target, repeats=repeats, seed=seed, config=cfg, name=name, client=dask_client)

    def run(xv: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _pass(
            prep, xv, seed=seed, config=cfg, min_keep=min_keep, reference=reference, progress=progress, name=name
        )

    history: list[tuple[float, int]] = []
    adjusted = 0
    try:
        if n_keep is None:
            keep, conf, dmean = run(x)
            history.append((x, int(keep.sum())))
        else:
            lo, hi, best = 0.0, 1.0, None
            for _ in range(max_bisect):
                xm = 0.5 * (lo + hi)
                out = run(xm)
                kept = int(out[0].sum())
                history.append((xm, kept))
                if best is None or abs(kept - n_keep) < abs(best[1] - n_keep):
                    best = (xm, kept, out)
                if abs(kept - n_keep) <= 1:
                    break
                lo, hi = (xm, hi) if kept > n_keep else (lo, xm)  # too many kept → raise x
            x, _, (keep, conf, dmean) = best
            if abs(int(keep.sum()) - n_keep) > 1:
                fixed = _fix_count(keep, conf, n_keep, prep.constant)
                adjusted = int((fixed != keep).sum())
                keep = fixed
    finally:
        prep.fitter.close()
    return {
        "keep": keep,
        "confidence": conf,
        "delta_mean": dmean,
        "order": prep.order,
        "order_loss": prep.order_loss,
        "constant": prep.constant,
        "x": float(x),
        "bisection": history,
        "adjusted": adjusted,
        "seconds": time.perf_counter() - t0,
        "on_dask": dask_client is not None,
    }


def _resolve_client(client: Any) -> Any:
    """The ``distributed.Client`` to run the repeats on, or ``None`` (in process); its workers checked."""
    dask_client = _dask_client(client)
    if dask_client is not None:
        from mintlab import __version__

        _check_workers(dask_client, __version__)
    return dask_client


def _targets_plan(pairs: Sequence[tuple[str, str]]) -> list[int | None]:
    """Per pair k: the index of the pair whose kept parent units are k's target, or None (k's child output)."""
    return [k + 1 if k + 1 < len(pairs) and pairs[k][1] == pairs[k + 1][0] else None for k in range(len(pairs))]


def _n_keep_for(target: float | Mapping[str, float] | None, name: str, n_units: int) -> int | None:
    if target is None:
        return None
    value = target.get(name) if isinstance(target, Mapping) else target
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"Expected `target` unit sparsity for {name!r} in [0, 1), but got {value!r}")
    n_keep = int(round((1.0 - float(value)) * n_units))
    if n_keep < 1:
        raise ValueError(
            f"Expected a `target` that keeps at least one unit of {name!r} ({n_units} units), but "
            f"{value} would keep {n_keep}: refusing to empty a layer"
        )
    return n_keep


def mipp_select(
    acts: Activations,
    *,
    x: float | Mapping[str, float] = 0.9,
    target: float | Mapping[str, float] | None = None,
    seed: int = 0,
    client: Any = None,
    **layer_options: Any,
) -> dict[str, dict[str, Any]]:
    """The backwards sweep over recorded activations: per parent layer, :func:`mipp_layer`'s result.

    ``acts.pairs`` are (parent, child) pairs in forward order; the parent's units are selected.
    ``x`` and ``target`` may be per parent name (mappings): a layer not named there gets ``x = 0.9``
    / no target; a name that is not a parent of ``acts.pairs`` raises ``InvalidArgumentError``.
    Seeds are mixed per layer. Layers run
    one after the other; with a Dask ``client`` (see :func:`mipp_layer`) the repeats within a layer
    run on its workers.
    """
    seed = check_seed(seed)
    pairs = list(acts.pairs)
    parents = [p for p, _ in pairs]
    _check_layer_keys(x, "x", parents)
    _check_layer_keys(target, "target", parents)
    dask_client = _resolve_client(client)
    plan = _targets_plan(pairs)
    out: dict[str, dict[str, Any]] = {}
    for k in reversed(range(len(pairs))):
        parent, child = pairs[k]
        units = acts.parent[pairs[k]]
        nxt = plan[k]
        tgt = acts.child[pairs[k]] if nxt is None else acts.parent[pairs[nxt]][:, out[pairs[nxt][0]]["keep"]]
        xv = x.get(parent, 0.9) if isinstance(x, Mapping) else x
        n_keep = _n_keep_for(target, parent, units.shape[1])
        out[parent] = mipp_layer(
            units,
            tgt,
            x=xv,
            n_keep=n_keep,
            seed=_seeds(seed, 9, k, n=1)[0],
            name=parent,
            client=dask_client if dask_client is not None else False,
            **layer_options,
        )
        out[parent]["child"] = child
    return dict(reversed(list(out.items())))


def unit_weight_masks(
    model: nn.Module, pairs: Sequence[Sequence[str]], keep: Mapping[str, np.ndarray]
) -> dict[str, torch.Tensor]:
    """0/1 masks, shaped like each weight, removing every weight into and out of each removed unit.

    For a pair ``(p, c)`` and ``keep[p]`` (``(N,)`` bool over ``p``'s output units): rows of ``p``'s
    weight (a conv: whole filters) and the matching inputs of ``c`` (linear columns; conv input
    channels; after a flatten, all ``h·w`` columns of a channel). Masks of one module from several
    pairs are multiplied. Biases and BatchNorm of a removed unit stay (they feed only masked weights).

    Raises:
        ValueError: a keep vector of the wrong length, or a pair that is not a layer pair of ``model``.
    """
    modules = dict(model.named_modules())
    masks: dict[str, torch.Tensor] = {}

    def get(name: str) -> torch.Tensor:
        if name not in masks:
            masks[name] = torch.ones_like(effective_weight(modules[name]).detach(), dtype=torch.float32)
        return masks[name]

    for pair in normalize_pairs(pairs):
        if pair[0] not in keep:
            continue
        geom = pair_geometry(model, pair)
        k = np.asarray(keep[pair[0]], dtype=bool)
        if k.shape != (geom.n_parent,):
            raise ValueError(f"Expected keep of {pair[0]!r} with shape ({geom.n_parent},), but got {k.shape}")
        gone = torch.from_numpy(np.flatnonzero(~k))
        get(pair[0])[gone] = 0.0
        cols = gone if geom.kind != "flatten" else (gone[:, None] * geom.spatial + torch.arange(geom.spatial)).flatten()
        get(pair[1])[:, cols] = 0.0
    return masks


def mipp_masks(
    model: nn.Module,
    dataset: Dataset | None,
    layers: Sequence[Sequence[str]],
    *,
    x: float | Mapping[str, float] = 0.9,
    target: float | Mapping[str, float] | None = None,
    samples_per_class: int = 300,
    seed: int = 0,
    activations: Activations | None = None,
    progress: bool = False,
    client: Any = None,
    **layer_options: Any,
) -> dict[str, Any]:
    """Run MIPP on ``model`` and return the unit keep-vectors and the weight masks (not installed).

    Args:
        model: the trained (or freshly initialised) network.
        dataset: items ``(image, label)`` for the activation sample (unused with ``activations``).
        layers: (parent, child) module pairs in forward order, e.g. ``[("fc1", "fc2"), ("fc2", "fc3")]``
            for the MLP: the units of each parent are selected; the last child's output is the final target.
        x: confidence level in (0, 1), or a mapping parent name → level (layers not named: 0.9);
            higher prunes more.
        target: unit sparsity in [0, 1), or a mapping parent name → sparsity (layers not named: no
            target, ``x`` applies), reached by bisecting ``x`` (within one unit).
        samples_per_class: rows per class of the activation sample (as MINT's ``m``).
        seed: seeds the sample and every fit (same seed → same kept set), an int >= 0.
        activations: pre-recorded :func:`collect_activations` output for ``layers`` (skips the forward pass).
        progress: progress bars.
        client: a ``dask.distributed`` client for the repeats within each layer (``None``: the
            active one if any; ``False``: in this process); see :func:`mipp_layer`. Same kept sets.
        **layer_options: ``repeats``, ``config``, ``min_keep``, ``reference``, ``max_bisect``: see
            :func:`mipp_layer`.

    Returns:
        ``{"keep": {parent: (N,) bool}, "masks": {module: weight mask}, "layers": {parent: per-layer info},
        "unit_sparsity": {parent: removed share}, "collapsed": [parents left with 0 units], "seconds"}``.
        Install the masks with :func:`apply_masks`.

    Raises:
        ValueError: from :func:`mipp_layer` (bad ``x``, constant layers), a ``target`` that would
            empty a layer, or pairs that do not fit the model.
        InvalidArgumentError: a bad ``seed``, or an ``x`` / ``target`` mapping naming a layer that is
            not a parent of ``layers`` (before the forward pass).

    >>> from torch.utils.data import TensorDataset
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> data = TensorDataset(torch.randn(200, 3), torch.arange(200) % 2)
    >>> res = mipp_masks(net, data, [("0", "2")], x=0.9, samples_per_class=100, repeats=3)
    >>> sorted(res["masks"]), res["masks"]["0"].shape
    (['0', '2'], torch.Size([4, 3]))
    """
    t0 = time.perf_counter()
    seed = check_seed(seed)
    pairs = normalize_pairs(layers)
    parents = [p for p, _ in pairs]
    _check_layer_keys(x, "x", parents)
    _check_layer_keys(target, "target", parents)
    if target is None:
        for value in x.values() if isinstance(x, Mapping) else [x]:
            _check_x(value)
    for pair in pairs:
        pair_geometry(model, pair)
    if activations is None:
        activations = collect_activations(
            model, dataset, pairs, samples_per_class=samples_per_class, seed=seed, progress=progress
        )
    elif list(activations.pairs) != pairs:
        raise ValueError(f"Expected `activations` for pairs {pairs}, but got {activations.pairs}")
    info = mipp_select(activations, x=x, target=target, seed=seed, client=client, progress=progress, **layer_options)
    keep = {name: r["keep"] for name, r in info.items()}
    return {
        "keep": keep,
        "masks": unit_weight_masks(model, pairs, keep),
        "layers": info,
        "unit_sparsity": {name: 1.0 - float(k.mean()) for name, k in keep.items()},
        "collapsed": [name for name, k in keep.items() if not k.any()],
        "seconds": time.perf_counter() - t0,
    }


def l1_unit_scores(model: nn.Module, layers: Sequence[Sequence[str]]) -> dict[str, np.ndarray]:
    """Li et al. 2017 ("Pruning Filters for Efficient ConvNets", Eq. 1): ``Σ |w|`` of each unit's incoming weights.

    For a Linear parent that is the L1 norm of its weight row, for a Conv2d the sum of the absolute
    kernel weights of the filter. Returns ``{parent: (N,) float64}``; lower = pruned first.

    >>> net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 0.0]]))
    >>> l1_unit_scores(net, [("0", "2")])["0"]
    array([3. , 0.5])
    """
    modules = dict(model.named_modules())
    out = {}
    for parent, child in normalize_pairs(layers):
        pair_geometry(model, (parent, child))
        w = effective_weight(modules[parent]).detach().double()
        out[parent] = w.abs().reshape(w.shape[0], -1).sum(dim=1).cpu().numpy()
    return out


def baseline_unit_keep(
    model: nn.Module,
    layers: Sequence[Sequence[str]],
    n_keep: Mapping[str, int],
    *,
    method: str = "l1_units",
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Keep ``n_keep[parent]`` units per layer by L1 norm (highest kept) or at random (seeded).

    Ties in L1 go by a seeded random draw. Layers not in ``n_keep`` keep everything.

    Raises:
        ValueError: unknown ``method``, a count outside [0, N], or a name in ``n_keep`` that is not a
            parent of ``layers``.
    """
    if method not in ("l1_units", "random_units"):
        raise ValueError(f"Expected `method` in ('l1_units', 'random_units'), but got {method!r}")
    seed = check_seed(seed)
    scores = l1_unit_scores(model, layers)
    _check_layer_keys(n_keep, "n_keep", list(scores))
    keep = {}
    for k, (parent, score) in enumerate(scores.items()):
        rng = np.random.default_rng(_seeds(seed, 5, k, n=1)[0])
        n = len(score)
        count = n_keep.get(parent, n)
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 0 <= count <= n:
            raise ValueError(f"Expected n_keep[{parent!r}] as an int in [0, {n}], but got {count!r}")
        tie = rng.random(n)
        order = np.lexsort((tie, score)) if method == "l1_units" else rng.permutation(n)
        k_mask = np.zeros(n, dtype=bool)
        k_mask[order[n - count :] if method == "l1_units" else order[:count]] = True
        keep[parent] = k_mask
    return keep


def structured_keep(
    method: str,
    model: nn.Module,
    dataset: Dataset | None,
    layers: Sequence[Sequence[str]],
    *,
    unit_sparsity: float | Mapping[str, float] | None = None,
    n_keep: Mapping[str, int] | None = None,
    seed: int = 0,
    **mipp_options: Any,
) -> dict[str, np.ndarray]:
    """The comparison adapter: unit keep-vectors of ``method`` in :data:`STRUCTURED_METHODS`.

    ``mipp`` takes ``unit_sparsity`` as its ``target`` (or its ``x`` from ``mipp_options``);
    ``l1_units`` / ``random_units`` take ``n_keep`` per layer, or ``unit_sparsity`` (rounded per layer,
    at least one unit). Turn the result into weight masks with :func:`unit_weight_masks`.
    """
    if method == "mipp":
        return mipp_masks(model, dataset, layers, target=unit_sparsity, seed=seed, **mipp_options)["keep"]
    if method not in STRUCTURED_METHODS:
        raise ValueError(f"Expected `method` in {STRUCTURED_METHODS}, but got {method!r}")
    if n_keep is None:
        if unit_sparsity is None:
            raise ValueError("Expected `unit_sparsity` or `n_keep` for a structured baseline, but got neither")
        sizes = {p: len(s) for p, s in l1_unit_scores(model, layers).items()}
        _check_layer_keys(unit_sparsity, "unit_sparsity", list(sizes))
        n_keep = {p: _n_keep_for(unit_sparsity, p, n) or n for p, n in sizes.items()}
    return baseline_unit_keep(model, layers, n_keep, method=method, seed=seed)
