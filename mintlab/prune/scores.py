"""Scores of every layer pair, computed once, saved with what produced them, reloaded or resumed.

Scores are the expensive artifact of MINT. :func:`compute_scores` runs one forward pass for
the activations, then scores pair after pair (progress bar). With ``cache_dir`` it keeps
``<cache_dir>/<key>/meta.json`` (model checkpoint hash, dataset, pairs, groups, ``m``, seed,
scorer and its options, mintlab version) and one ``pair_<k>.npz`` per finished pair, each
written atomically as soon as it is done: an interrupted run resumes from the pairs already
done, and a later call with the same settings reloads instead of recomputing.

Units of work. A sliceable scorer (MINT) splits each pair into slices of parent groups
(:meth:`~mintlab.prune.scorers.Scorer.score_columns`); each gives exactly the numbers of those
columns of the whole pair, so the result does not depend on how a pair is sliced or where the
slices run. With a cache every finished slice is written atomically as
``pair_<k>.slice_<a>-<b>.npz`` (with the version, cache key, pair and range that identify it), so
a run killed inside a pair loses at most the slices in flight; the slices are removed once the
pair's file is written. With an active Dask client (``distributed``) the slices are submitted to
its workers (see ``docs/scaling.md``); without one they run here, one after the other.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
import time
import uuid
import warnings
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from mintlab.nets.presets import validate_layer_pairs
from mintlab.prune.activations import (
    Pair,
    PairGeometry,
    _sample_indices,
    collect_activations,
    collect_gradients,
    normalize_pairs,
    pair_geometry,
)
from mintlab.prune.groups import group_meta, resolve_groups
from mintlab.prune.scorers import PairContext, Scorer
from mintlab.utils.checks import check_int, check_seed
from mintlab.utils.fingerprint import code_fingerprint, dataset_fingerprint, update_hash, whole_tensors
from mintlab.utils.io import json_key, npz_bytes, write_bytes_atomic, write_json_atomic

__all__ = ["PairScores", "ScoreSet", "compute_scores", "link_weights", "pair_seed"]


@dataclass
class PairScores:
    """Scores of one (parent, child) pair and the grouping they refer to.

    Attributes:
        parent, child: module names.
        scores: ``(G_child, G_parent)`` float64, higher = more important.
        parent_groups: ``(N_parent,)`` group label per parent unit.
        child_groups: ``(N_child,)`` group label per child unit.
        spatial: raw weights per (child unit, parent unit) link (``kh·kw`` for conv).
    """

    parent: str
    child: str
    scores: np.ndarray = field(repr=False)
    parent_groups: np.ndarray = field(repr=False)
    child_groups: np.ndarray = field(repr=False)
    spatial: int = 1

    @property
    def pair(self) -> Pair:
        return (self.parent, self.child)

    @property
    def cell_weights(self) -> np.ndarray:
        """``(G_child, G_parent)`` number of raw weights in each group block."""
        return np.outer(np.bincount(self.child_groups), np.bincount(self.parent_groups)) * self.spatial

    def removed_weights(self, keep: np.ndarray) -> int:
        """Number of raw weights in the blocks ``keep`` (``(G_child, G_parent)`` bool) removes."""
        return int(self.cell_weights[~np.asarray(keep, dtype=bool)].sum())

    def removed_fraction(self, keep: np.ndarray) -> float:
        """Fraction of the layer's weights that ``keep`` removes (each block weighted by its weights)."""
        return self.removed_weights(keep) / int(self.cell_weights.sum())

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"scores": self.scores, "parent_groups": self.parent_groups, "child_groups": self.child_groups}


@dataclass
class ScoreSet:
    """Scores of all pairs plus the ``meta`` that produced them (see :func:`compute_scores`)."""

    pairs: list[PairScores]
    meta: dict[str, Any]

    @property
    def children(self) -> list[str]:
        return [p.child for p in self.pairs]

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self) -> Iterator[PairScores]:
        """The pairs' scores, in the order of the pairs."""
        return iter(self.pairs)

    def __getitem__(self, key: int | str | Sequence[str]) -> PairScores:
        """A pair's scores by position, by child name or by (parent, child).

        Raises:
            IndexError: a position outside the pairs. KeyError: no pair with that child or (parent, child).
        """
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if not -len(self.pairs) <= key < len(self.pairs):
                raise IndexError(f"Expected a pair position in [{-len(self.pairs)}, {len(self.pairs)}), but got {key}")
            return self.pairs[key]
        if not isinstance(key, (str, Sequence)):
            raise KeyError(
                f"Expected a child name or (parent, child), but got {key!r}; children with scores: {self.children}"
            )
        for p in self.pairs:
            if key == p.child or (not isinstance(key, str) and tuple(key) == p.pair):
                return p
        raise KeyError(f"No scores for {key!r}; children with scores: {self.children}")

    def save(self, path: str | Path) -> Path:
        """Write all scores and the meta to one ``.npz`` file, atomically."""
        arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(self.meta))}
        for k, p in enumerate(self.pairs):
            arrays.update({f"p{k}_{name}": a for name, a in p._arrays().items()})
            arrays[f"p{k}_info"] = np.array(json.dumps([p.parent, p.child, p.spatial]))
        return write_bytes_atomic(path, npz_bytes(arrays))

    @classmethod
    def load(cls, path: str | Path) -> ScoreSet:
        """Read a file written by :meth:`save`."""
        with np.load(Path(path), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            pairs = []
            n_pairs = sum(1 for key in z.files if key.endswith("_info"))
            for k in range(n_pairs):
                parent, child, spatial = json.loads(str(z[f"p{k}_info"]))
                pairs.append(
                    PairScores(
                        parent, child, z[f"p{k}_scores"], z[f"p{k}_parent_groups"], z[f"p{k}_child_groups"], spatial
                    )
                )
        return cls(pairs, meta)

    def check_compatible(self, model: nn.Module) -> None:
        """Raise ``ValueError`` unless these scores were computed for ``model``'s checkpoint and layers."""
        for p in self.pairs:
            geom = pair_geometry(model, p.pair)
            got = (geom.n_child, geom.n_parent, geom.spatial)
            want = (len(p.child_groups), len(p.parent_groups), p.spatial)
            if got != want:
                raise ValueError(
                    f"Scores of pair {p.pair} were computed for (N_child, N_parent, k) = {want}, "
                    f"but the model's layers give {got}"
                )
        from mintlab.nets.checkpoints import state_dict_hash

        expected, got_hash = self.meta.get("model_hash"), state_dict_hash(model)
        if expected != got_hash:
            raise ValueError(
                f"Scores were computed for another checkpoint: model hash {got_hash!r}, "
                f"scores made for {expected!r} (a pruned or retrained model also hashes differently)"
            )


def link_weights(module: nn.Module, geom: PairGeometry) -> np.ndarray:
    """Raw weights of a child module as ``(N_child, N_parent, k)`` float64 (k per link).

    For a module pruned with ``torch.nn.utils.prune`` these are the effective weights ``weight_orig *
    weight_mask``, computed here: the ``weight`` attribute is only refreshed by a forward pass, so after an
    optimizer step it would still hold the weights before the step.
    """
    if hasattr(module, "weight_orig") and hasattr(module, "weight_mask"):
        w = (module.weight_orig * module.weight_mask).detach().double().cpu()
    else:
        w = module.weight.detach().double().cpu()
    return w.reshape(geom.n_child, geom.n_parent, geom.spatial).numpy()


def pair_seed(seed: int, pair: Sequence[str]) -> int:
    """Seed of one pair: ``seed`` mixed with the pair's names (not its position in the list).

    >>> pair_seed(0, ("fc1", "fc2")) == pair_seed(0, ("fc1", "fc2")) != pair_seed(1, ("fc1", "fc2"))
    True
    """
    seed = check_seed(seed)
    mix = zlib.crc32(f"{pair[0]}->{pair[1]}".encode())
    return int(np.random.SeedSequence([seed, mix]).generate_state(1)[0])


def _dataset_fingerprint(dataset: Dataset, samples_per_class: int, seed: int) -> str:
    """A hash of the data the scores are computed from (BLAKE2b), prefixed with what it covers.

    * ``content-blake2b:…`` — a ``TensorDataset`` (or a ``Subset`` of one) whose items are its
      tensors' rows: every byte of every tensor (images and labels), with dtypes and shapes
      (:func:`mintlab.utils.fingerprint.dataset_fingerprint`). 60,000 28×28 float32 images: ~0.25 s.
    * ``sample-blake2b:…`` — any other dataset (a subclass with its own ``__getitem__`` too): all
      labels (they decide the sample) and every item of the per-class sample of ``samples_per_class``
      and ``seed`` (the one :func:`~mintlab.prune.activations.collect_activations` draws), i.e. every
      number the scores read. Items outside the sample cannot change the scores, and decoding every
      item of a large image dataset through its transform (ImageNet) would take longer than scoring.

    The fingerprint used to cover the size, the labels and the first and last items only, so a dataset
    changed in between reloaded stale scores. Caches keyed by that fingerprint (16 hex digits, no
    prefix; :func:`_legacy_fingerprint`) never match this one; :func:`compute_scores` still finds such a
    cache when none exists under the new key and uses it with a warning that says what it cannot check.
    """
    if whole_tensors(dataset) is not None:
        return f"content-blake2b:{dataset_fingerprint(dataset)}"
    from mintlab.nets.data import dataset_targets

    h = hashlib.blake2b(digest_size=16)
    h.update(f"n {len(dataset)}; m {samples_per_class}; seed {seed};".encode())
    update_hash(h, np.ascontiguousarray(dataset_targets(dataset), dtype=np.int64))
    for i in _sample_indices(dataset, samples_per_class, seed):
        update_hash(h, dataset[int(i)])
    return f"sample-blake2b:{h.hexdigest()}"


def _legacy_fingerprint(dataset: Dataset) -> str:
    """The data fingerprint of mintlab 0.1.0's score caches: size, all labels, first and last items (SHA-256)."""
    from mintlab.nets.data import dataset_targets

    h = hashlib.sha256(str(len(dataset)).encode())
    h.update(np.ascontiguousarray(dataset_targets(dataset), dtype=np.int64).tobytes())
    for idx in (0, len(dataset) - 1):
        item = dataset[idx][0]
        h.update(np.ascontiguousarray(item.numpy() if hasattr(item, "numpy") else np.asarray(item)).tobytes())
    return h.hexdigest()[:16]


#: Versions whose score caches are still used (with a warning): 0.1.0 is every cache written before versions were
#: numbered by release (the estimator's scores did not change at 0.2.0; the results-file schema and training did).
_OLDER_VERSIONS = ("0.1.0",)


def _older_cache(folder: Path, meta: dict[str, Any], dataset: Dataset | None) -> tuple[dict[str, Any], str] | None:
    """The meta and key of a cache in ``folder`` for these settings written under an older key, if one exists.

    Caches written before the network's code keyed them (``model_code``, :func:`code_fingerprint`) and, for
    scorers that read data, mintlab 0.1's caches (also keyed by :func:`_legacy_fingerprint`) hold scores worth
    hours; they are used, not recomputed, with a warning that says what their key cannot check.
    """
    older = {k: v for k, v in meta.items() if k != "model_code"}
    cannot = "a network whose code (forward) changed since"
    candidates = []
    for version in (meta["mintlab_version"], *_OLDER_VERSIONS):
        was = "" if version == meta["mintlab_version"] else f" (written by mintlab {version})"
        if was:  # the same key but for the version: only the version's changes cannot be told apart
            candidates.append(
                (
                    {**meta, "mintlab_version": version},
                    f"what changed between mintlab {version} and {meta['mintlab_version']}",
                )
            )
        candidates.append(({**older, "mintlab_version": version}, cannot + was))
        if dataset is not None:
            candidates.append(
                (
                    {**older, "mintlab_version": version, "dataset_fingerprint": _legacy_fingerprint(dataset)},
                    f"{cannot}, nor data changed between the first and last samples (it was keyed by mintlab 0.1's "
                    f"data fingerprint of size, labels, first and last samples){was}",
                )
            )
    for candidate, what in candidates:
        key = json_key(candidate)
        if (folder / key / "meta.json").exists():
            warnings.warn(
                f"Score cache {folder / key} was written under an older key, which cannot tell apart {what}; its "
                "scores are used. Remove that folder, or pass another cache_dir, if the network or the data "
                "changed.",
                UserWarning,
                stacklevel=3,
            )
            return candidate, key
    return None


def compute_scores(
    model: nn.Module,
    dataset: Dataset | None,
    pairs: Sequence[Sequence[str]],
    scorer: Scorer,
    *,
    groups: Any,
    samples_per_class: int,
    seed: int,
    cache_dir: str | Path | None = None,
    dataset_name: str | None = None,
    progress: bool = True,
    client: Any = None,
    slice_groups: int | None = None,
) -> ScoreSet:
    """Score every (parent, child) pair of ``model`` with ``scorer``; cached, resumable.

    Args:
        model: the trained network (its checkpoint hash keys the cache).
        dataset: the training set to sample activations from (may be ``None`` for scorers
            that read weights only: magnitude, random).
        pairs: (parent, child) module names.
        scorer: a :class:`mintlab.prune.scorers.Scorer`.
        groups: an int ``G`` (both sides of every pair), ``(G_parent, G_child)`` for all pairs, one entry per
            pair, or a mapping pair/child name → ``(parent_groups, child_groups)``; parsed by
            :func:`mintlab.prune.groups.group_specs`, the one parser every entry point uses.
        samples_per_class: ``m``.
        seed: seed of the sample draw and of the scorer (mixed per pair, :func:`pair_seed`), an int >= 0.
        cache_dir: folder for ``<key>/meta.json`` + ``pair_<k>.npz``; ``None``: no cache. The key covers
            the weights (``state_dict``), the code of the network's classes
            (:func:`mintlab.utils.fingerprint.code_fingerprint`), the data the scores read, the pairs, groups,
            m, seed and the scorer's settings.
        dataset_name: recorded in the meta (default: the dataset's class name and size).
        progress: show progress bars (tqdm, with an ETA; in a notebook as a widget) and, when more
            than one pair is to be scored, the projected total once the first pair is done.
        client: where the units of work run. ``None``: the active ``dask.distributed`` client if
            there is one (``distributed.default_client()``), else in this process as before;
            a ``distributed.Client``: that one; ``False``: in this process even when a client is active.
        slice_groups: parent groups per slice of a sliceable scorer (MINT); ``None``: with a cache
            or a Dask client, slices of about 1,000 (child group, parent group) blocks (at least two
            per Dask worker thread), else whole pairs. The scores do not depend on it.

    Raises:
        ValueError: for bad input (an :class:`~mintlab.utils.checks.InvalidArgumentError` for a bad
            ``seed`` or ``samples_per_class``, dataset items that are not ``(image, label)`` pairs, labels
            that are not class indices); for a pair that is not adjacent (with data: the network is traced
            on the dataset's first item by Torch-Pruning, :func:`mintlab.nets.presets.validate_layer_pairs`,
            and a pair with a Conv/Linear between parent and child, or written the wrong way round, is
            named); for a cache slice written by another mintlab version or with
            other settings (the slices already done stay on disk); for Dask workers that cannot
            import mintlab or import another version of it (checked before anything is submitted).

    Warns:
        UserWarning: for a corrupt or truncated file in the cache: a slice or a pair file is removed and
            recomputed, an unreadable ``meta.json`` is written anew (the pair files beside it are
            each checked against the requested grouping and kept if they pass); for a cache written under an
            older key (before the network's code keyed it, or mintlab 0.1's, whose data fingerprint covers only
            the size, labels, first and last samples): used, not recomputed; when the pairs' adjacency could
            not be verified (Torch-Pruning could not trace the network; the channel counts are checked).

    Returns:
        a :class:`ScoreSet` whose ``meta`` also records ``total_params`` (all parameters of
        the dense model) and ``layer_weights`` (weights per child layer) for
        :func:`mintlab.prune.masks.prune_summary`.

    >>> import torch
    >>> from torch import nn
    >>> from mintlab.prune.scorers import MagnitudeScorer
    >>> net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    >>> s = compute_scores(net, None, [("0", "2")], MagnitudeScorer(), groups=(2, 3),
    ...                    samples_per_class=1, seed=0, progress=False)
    >>> s["2"].scores.shape
    (3, 2)
    """
    from tqdm.auto import tqdm

    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected `model` to be a torch.nn.Module, but got {type(model).__name__}")
    if not isinstance(scorer, Scorer):
        raise TypeError(f"Expected `scorer` to be a mintlab.prune.scorers.Scorer, but got {type(scorer).__name__}")
    samples_per_class = check_int(samples_per_class, "samples_per_class", minimum=1)
    seed = check_seed(seed)
    if slice_groups is not None and (
        not isinstance(slice_groups, (int, np.integer)) or isinstance(slice_groups, bool) or slice_groups < 1
    ):
        raise ValueError(f"Expected `slice_groups` as an int >= 1 or None, but got {slice_groups!r}")
    pair_list = normalize_pairs(pairs)
    geoms = [pair_geometry(model, p) for p in pair_list]
    labels = resolve_groups(geoms, groups)
    needs_data = scorer.needs_activations or bool(getattr(scorer, "needs_gradients", False))
    if needs_data and dataset is None:
        raise ValueError(f"Expected a `dataset` for scorer {scorer.name!r} (it reads activations), but got None")
    meta, key = _score_meta(
        model, dataset, pair_list, geoms, labels, scorer, samples_per_class, seed, dataset_name, cache_dir
    )
    folder = Path(cache_dir) / key if cache_dir is not None else None
    unscored = [p for k, p in enumerate(pair_list) if folder is None or not (folder / f"pair_{k:03d}.npz").exists()]
    if dataset is not None and unscored:  # any scorer given data: adjacent pairs (Torch-Pruning), before writing
        _check_adjacent_on(model, unscored, dataset)
    done = _open_cache(folder, meta, key, pair_list, geoms, labels)
    run = _ScoreRun(
        model, dataset, pair_list, geoms, labels, scorer, samples_per_class, seed, folder, key, done, progress
    )
    run.plan(client, slice_groups)
    if progress and run.resumed:
        tqdm.write(run.resumed)
    return ScoreSet(run.score(), meta)


def _score_meta(
    model: nn.Module,
    dataset: Dataset | None,
    pair_list: list[Pair],
    geoms: list[PairGeometry],
    labels: Mapping[Pair, tuple[np.ndarray, np.ndarray]],
    scorer: Scorer,
    samples_per_class: int,
    seed: int,
    dataset_name: str | None,
    cache_dir: str | Path | None,
) -> tuple[dict[str, Any], str]:
    """The settings that key the score cache, and the key (an older cache's, where one holds these scores)."""
    from mintlab import __version__
    from mintlab.nets.checkpoints import state_dict_hash

    needs_data = scorer.needs_activations or bool(getattr(scorer, "needs_gradients", False))
    meta: dict[str, Any] = {
        "model_hash": state_dict_hash(model),
        # the network's code keys it too: a class whose forward changed never reloads the old scores
        "model_code": code_fingerprint(model),
        "dataset": dataset_name or (f"{type(dataset).__name__}(n={len(dataset)})" if dataset is not None else None),
        # the data themselves key the cache too: a subset or other data of the same name never reloads these scores
        "dataset_fingerprint": _dataset_fingerprint(dataset, samples_per_class, seed) if needs_data else None,
        "pairs": [list(p) for p in pair_list],
        "groups": [[group_meta(labels[p][0]), group_meta(labels[p][1])] for p in pair_list],
        "samples_per_class": int(samples_per_class),
        "seed": seed,
        "scorer": scorer.config(),
        "mintlab_version": __version__,
    }
    key = json_key(meta)
    if cache_dir is not None and not (Path(cache_dir) / key).exists():
        meta, key = _older_cache(Path(cache_dir), meta, dataset if needs_data else None) or (meta, key)
    modules = dict(model.named_modules())
    meta["cache_key"] = key
    meta["total_params"] = int(sum(p.numel() for p in model.parameters()))
    meta["layer_weights"] = {g.child: int(modules[g.child].weight.numel()) for g in geoms}
    return meta, key


def _open_cache(
    folder: Path | None,
    meta: dict[str, Any],
    key: str,
    pair_list: list[Pair],
    geoms: list[PairGeometry],
    labels: Mapping[Pair, tuple[np.ndarray, np.ndarray]],
) -> dict[int, PairScores]:
    """The pairs a cache folder holds already (its ``meta.json`` written when new, checked when not).

    Raises:
        ValueError: the folder's ``meta.json`` holds other settings.
    """
    done: dict[int, PairScores] = {}
    if folder is None:
        return done
    stored = _load_meta(folder / "meta.json")
    if stored is not None:
        keyed = {k: stored.get(k) for k in meta if k not in ("cache_key", "total_params", "layer_weights")}
        if json_key(keyed) != key:
            raise ValueError(
                f"Score cache {folder} holds other settings than requested; remove it or use another cache_dir"
            )
    else:
        write_json_atomic(folder / "meta.json", meta)
    for k, (pair, geom) in enumerate(zip(pair_list, geoms, strict=True)):
        loaded = _load_pair(folder / f"pair_{k:03d}.npz", pair, labels[pair], geom.spatial)
        if loaded is not None:
            done[k] = loaded
    return done


class _ScoreRun:
    """The pairs :func:`compute_scores` still has to score: its units of work (whole pairs, or slices of parent
    groups), their inputs, the progress bar with its projection, and the files written as units finish."""

    def __init__(
        self, model, dataset, pair_list, geoms, labels, scorer, samples_per_class, seed, folder, key, done, progress
    ) -> None:
        self.model, self.dataset, self.pair_list, self.geoms, self.labels = model, dataset, pair_list, geoms, labels
        self.scorer, self.m, self.seed, self.folder, self.key = scorer, samples_per_class, seed, folder, key
        self.done, self.progress = done, progress
        self.todo = [k for k in range(len(pair_list)) if k not in done]
        self.parts: dict[int, dict[tuple[int, int], np.ndarray]] = {}
        self.units: list[tuple[int, int | None, int | None]] = []
        self.dask_client = None
        self.resumed = ""

    def _g(self, k: int) -> tuple[int, int]:
        """(G_child, G_parent) of pair ``k``."""
        p_lab, c_lab = self.labels[self.pair_list[k]]
        return int(c_lab.max()) + 1, int(p_lab.max()) + 1

    def plan(self, client: Any, slice_groups: int | None) -> None:
        """Units of work: ``(pair index, first parent group, end)`` per slice, ``(k, None, None)`` for a whole
        pair; slices already on disk are kept (``resumed`` says what a rerun reused)."""
        from mintlab import __version__

        self.dask_client = _dask_client(client) if self.todo else None
        if self.dask_client is not None:
            _check_workers(self.dask_client, __version__)
        sliced = self.scorer.sliceable and (
            slice_groups is not None or self.folder is not None or self.dask_client is not None
        )
        workers = sum(self.dask_client.nthreads().values()) if self.dask_client is not None else 1
        reused_slices = 0
        for k in self.todo:
            g_child, g_parent = self._g(k)
            if not sliced:
                self.units.append((k, None, None))
                continue
            found = (
                _load_slices(self.folder, k, self.pair_list[k], self.key, __version__, g_child)
                if self.folder is not None
                else {}
            )
            size = int(slice_groups) if slice_groups is not None else _slice_size(g_child, g_parent, workers)
            keep, planned = _plan_slices(g_parent, list(found), size)
            self.parts[k] = {r: found[r] for r in keep}
            reused_slices += len(keep)
            self.units += [(k, a, b) for a, b in planned]
        if self.done or reused_slices:
            self.resumed = (
                f"scores ({self.scorer.name}): resumed from the cache {self.folder}: "
                f"{len(self.done)} of {len(self.pair_list)} pairs and {reused_slices} slices of the "
                f"others were scored before; {len(self.units)} units of work left"
            )

    def _inputs(self) -> tuple[Any, Any]:
        acts = grads = None
        needs_grad = bool(getattr(self.scorer, "needs_gradients", False))
        if self.units and (self.scorer.needs_activations or needs_grad):  # as the scorers have always had them
            acts = collect_activations(
                self.model,
                self.dataset,
                [self.pair_list[k] for k in self.todo],
                samples_per_class=int(self.m),
                seed=self.seed,
                progress=self.progress,
            )
        if self.todo and needs_grad:
            grads = collect_gradients(
                self.model,
                self.dataset,
                [self.pair_list[k][1] for k in self.todo],
                samples_per_class=int(self.m),
                seed=self.seed,
            )
        return acts, grads

    def context(self, k: int) -> PairContext:
        pair, geom = self.pair_list[k], self.geoms[k]
        raw = link_weights(dict(self.model.named_modules())[geom.child], geom)
        acts, grads = self._acts, self._grads
        return PairContext(
            parent=acts.parent[pair] if acts is not None else np.zeros((0, geom.n_parent)),
            child=acts.child[pair] if acts is not None else np.zeros((0, geom.n_child)),
            weight=raw.sum(axis=2),
            raw_weight=raw,
            parent_groups=self.labels[pair][0],
            child_groups=self.labels[pair][1],
            seed=pair_seed(self.seed, pair),
            pair=pair,
            grad=grads[geom.child].reshape(raw.shape) if grads is not None else None,
        )

    def finish_pair(self, k: int, scores: np.ndarray) -> None:
        pair, (p_lab, c_lab) = self.pair_list[k], self.labels[self.pair_list[k]]
        _check_block(self.scorer, pair, scores, self._g(k))
        self.done[k] = PairScores(*pair, scores, p_lab, c_lab, self.geoms[k].spatial)
        if self.folder is not None:
            write_bytes_atomic(self.folder / f"pair_{k:03d}.npz", npz_bytes(self.done[k]._arrays()))
            for f in _slice_files(self.folder, k):
                f.unlink(missing_ok=True)

    def unit_done(self, k: int, a: int | None, b: int | None, result: Any) -> None:
        from mintlab import __version__

        result = np.asarray(result, dtype=np.float64)
        if a is None:
            self.finish_pair(k, result)
        else:
            pair = self.pair_list[k]
            _check_block(self.scorer, pair, result, (self._g(k)[0], b - a), columns=(a, b))
            self.parts[k][(a, b)] = result
            if self.folder is not None:
                _write_slice(self.folder, k, pair, self.key, __version__, a, b, result)
            if sum(v.shape[1] for v in self.parts[k].values()) == self._g(k)[1]:
                self.finish_pair(k, np.concatenate([self.parts[k][r] for r in sorted(self.parts[k])], axis=1))
        self.eta.update(k, result.size)

    def score(self) -> list[PairScores]:
        """Score every unit (here or on Dask) and return every pair's scores, in order."""
        import mintlab.estimator

        kernels_cached = mintlab.estimator.kernels_cached
        self._acts, self._grads = self._inputs()
        if self.units and getattr(self.scorer, "compiles_kernels", False) and not kernels_cached():
            from tqdm.auto import tqdm

            tqdm.write(
                "compiling the GMI estimator's numba kernels first (about 45 s on 2 cores, once: numba keeps "
                "them in mintlab/estimator/__pycache__ for every later run)"
            )
        total = sum(self._g(k)[0] * self._g(k)[1] for k in self.todo)
        before = sum(sum(a.size for a in self.parts.get(k, {}).values()) for k in self.todo)
        self.eta = _Projection(self, total, before)
        try:
            for k in self.todo:  # every slice was on disk already (a run stopped just before writing the pair)
                if k in self.parts and not any(u[0] == k for u in self.units):
                    self.finish_pair(k, np.concatenate([self.parts[k][r] for r in sorted(self.parts[k])], axis=1))
            if self.dask_client is None:
                ctxs: dict[int, PairContext] = {}
                for k, a, b in self.units:
                    if k not in ctxs:
                        ctxs = {k: self.context(k)}  # one pair's activations at a time
                    self.unit_done(k, a, b, _score_unit(self.scorer, ctxs[k], a, b))
            else:
                _run_on_dask(self.dask_client, self.scorer, self.units, self.context, self.unit_done, self.key)
        except (KeyboardInterrupt, SystemError) as err:
            # Ctrl-C inside a numba kernel surfaces as "SystemError: CPUDispatcher(...) returned a result with an
            # exception set", the KeyboardInterrupt as its context: say what it was, and what is kept
            if isinstance(err, SystemError) and not isinstance(err.__context__, KeyboardInterrupt):
                raise
            kept = (
                f"; the {len(self.done)} finished pairs and every finished slice are kept in {self.folder}, "
                "and a rerun with the same arguments resumes there"
                if self.folder is not None
                else "; nothing is kept (no cache_dir)"
            )
            raise KeyboardInterrupt(f"scoring ({self.scorer.name}) interrupted{kept}") from None
        finally:
            self.eta.close()
        return [self.done[k] for k in range(len(self.pair_list))]


class _Projection:
    """The progress bar of a scoring run and, once its first pair is done, the projected total time."""

    def __init__(self, run: _ScoreRun, total: int, before: int) -> None:
        from tqdm.auto import tqdm

        import mintlab.estimator  # looked up now, not at import (so it can be replaced, e.g. in tests)

        fresh_compilations = mintlab.estimator.fresh_compilations
        self.run, self.total = run, total
        self.bar = tqdm(
            total=total,
            initial=before,
            desc=f"scores ({run.scorer.name})" + (" on Dask" if run.dask_client is not None else ""),
            unit="block",
            disable=not run.progress or not run.units,
        )
        self.started, self.first_done = time.perf_counter(), False
        self.compiled_before = fresh_compilations()
        self._fresh = fresh_compilations

    def update(self, k: int, blocks: int) -> None:
        run, bar = self.run, self.bar
        bar.update(blocks)
        left = [j for j in run.todo if j not in run.done]
        if k in run.done and not self.first_done and left and run.progress:
            self.first_done = True
            elapsed = time.perf_counter() - self.started
            frac = (bar.n - bar.initial) / max(1, self.total - bar.initial)
            compiled = self._fresh() > self.compiled_before
            bar.write(
                f"first pair {run.pair_list[k][0]}->{run.pair_list[k][1]} done in {_fmt_s(elapsed)}; "
                f"projected total for {len(run.todo)} pairs: {_fmt_s(elapsed / max(frac, 1e-12))}"
                + (
                    " (an overestimate: this first pair includes compiling the estimator's kernels, once per machine)"
                    if compiled
                    else ""
                )
            )

    def close(self) -> None:
        self.bar.close()


#: A slice holds at least about this many (child group, parent group) blocks by default: each slice repeats
#: the pair's shared preparation, which is a few percent of this many MSTs (benchmarks/slices_overhead.py).
_BLOCKS_PER_SLICE = 1000


def _check_adjacent_on(model: nn.Module, pairs: list[Pair], dataset: Dataset) -> None:
    """:func:`mintlab.nets.presets.validate_layer_pairs` with the dataset's first image as the example."""
    from mintlab.nets.data import dataset_targets, item_label

    if isinstance(dataset, TensorDataset) or getattr(dataset, "targets", None) is not None:
        dataset_targets(dataset)  # cheap here: the whole dataset's labels and structure, named as in scoring
    item = dataset[0]
    item_label(item)  # an (image, label) pair, or an error that says what the item is
    first = item[0] if isinstance(item[0], torch.Tensor) else torch.as_tensor(item[0])
    device = next((p.device for p in model.parameters()), first.device)
    validate_layer_pairs(model, pairs, example=first.unsqueeze(0).to(device), example_name="dataset")


def _slice_size(g_child: int, g_parent: int, workers: int) -> int:
    """Default parent groups per slice: slices of ~:data:`_BLOCKS_PER_SLICE` blocks, and with ``workers``
    threads on Dask at least two slices per thread where the pair has enough parent groups.

    >>> _slice_size(10, 25, 1), _slice_size(100, 250, 1), _slice_size(10, 25, 4)
    (25, 10, 4)
    """
    n_slices = max(1, g_child * g_parent // _BLOCKS_PER_SLICE)
    if workers > 1:
        n_slices = max(n_slices, 2 * workers)
    return max(1, math.ceil(g_parent / min(n_slices, g_parent)))


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _check_block(
    scorer: Scorer, pair: Pair, scores: np.ndarray, expected: tuple[int, int], columns: tuple[int, int] | None = None
) -> None:
    if scores.shape != expected or not np.all(np.isfinite(scores)):
        what = "(G_child, G_parent)" if columns is None else f"(G_child, parent groups {columns[0]}..{columns[1] - 1})"
        raise ValueError(
            f"Scorer {scorer.name!r} returned scores of shape {scores.shape} for pair {pair} "
            f"(expected finite values of shape {what} = {expected})"
        )


def _score_unit(scorer: Scorer, ctx: PairContext, start: int | None, stop: int | None) -> np.ndarray:
    """One unit of work (here or on a Dask worker): a whole pair, or parent groups ``start..stop-1``."""
    if start is None:
        return np.asarray(scorer(ctx), dtype=np.float64)
    return np.asarray(scorer.score_columns(ctx, start, stop), dtype=np.float64)


# --------------------------------------------------------------------------- files of the cache


def _warn_corrupt(what: str, path: Path, err: BaseException, action: str) -> None:
    warnings.warn(
        f"{what} {path} is corrupt or truncated ({type(err).__name__}: {err}); {action}", UserWarning, stacklevel=4
    )


def _load_meta(path: Path) -> dict[str, Any] | None:
    """The cache's ``meta.json`` as a dict; ``None`` when missing, or when unreadable (with a warning)."""
    if not path.exists():
        return None
    try:
        stored = json.loads(path.read_text())
        if not isinstance(stored, dict):
            raise ValueError(f"a JSON {type(stored).__name__}, expected an object")
    except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        _warn_corrupt("Score cache meta", path, err, "it is written anew")
        return None
    return stored


def _load_pair(path: Path, pair: Pair, labels: tuple[np.ndarray, np.ndarray], spatial: int) -> PairScores | None:
    """A finished pair's scores from ``path``; ``None`` when missing, or when unreadable or not of this
    pair's grouping (the file is then removed with a warning, to be recomputed)."""
    if not path.exists():
        return None
    p_lab, c_lab = labels
    want = (int(c_lab.max()) + 1, int(p_lab.max()) + 1)
    try:
        with np.load(path, allow_pickle=False) as z:
            scores = np.asarray(z["scores"], dtype=np.float64)
            parent_groups, child_groups = np.asarray(z["parent_groups"]), np.asarray(z["child_groups"])
        if scores.shape != want or not np.all(np.isfinite(scores)):
            raise ValueError(f"scores of shape {scores.shape}, expected finite values of shape {want}")
        if not (np.array_equal(parent_groups, p_lab) and np.array_equal(child_groups, c_lab)):
            raise ValueError("group labels other than the requested grouping")
    except Exception as err:  # noqa: BLE001 - any unreadable file is recomputed, and said so
        _warn_corrupt("Score file", path, err, "removed, it will be recomputed")
        path.unlink(missing_ok=True)
        return None
    return PairScores(*pair, scores, p_lab, c_lab, spatial)


# --------------------------------------------------------------------------- slices of a pair on disk

_SLICE_NAME = re.compile(r"^pair_(\d+)\.slice_(\d+)-(\d+)\.npz$")


def _slice_files(folder: Path, k: int) -> list[Path]:
    return sorted(folder.glob(f"pair_{k:03d}.slice_*.npz"))


def _write_slice(folder: Path, k: int, pair: Pair, key: str, version: str, a: int, b: int, scores: np.ndarray) -> None:
    info = {"mintlab_version": version, "cache_key": key, "pair": list(pair), "columns": [a, b]}
    arrays = {"scores": scores, "info": np.array(json.dumps(info))}
    write_bytes_atomic(folder / f"pair_{k:03d}.slice_{a:04d}-{b:04d}.npz", npz_bytes(arrays))


def _load_slices(
    folder: Path, k: int, pair: Pair, key: str, version: str, g_child: int
) -> dict[tuple[int, int], np.ndarray]:
    """The finished slices of pair ``k``: ``{(a, b): (G_child, b - a) scores}``.

    A file that does not read back (truncated, corrupt) is removed with a warning, to be recomputed;
    one written by another version or for other settings raises ``ValueError`` (nothing is removed).
    """
    out: dict[tuple[int, int], np.ndarray] = {}
    for f in _slice_files(folder, k):
        match = _SLICE_NAME.match(f.name)
        if match is None:
            continue
        a, b = int(match.group(2)), int(match.group(3))
        try:
            with np.load(f, allow_pickle=False) as z:
                info = json.loads(str(z["info"]))
                scores = np.asarray(z["scores"], dtype=np.float64)
            if scores.shape != (g_child, b - a) or not np.all(np.isfinite(scores)):
                raise ValueError(f"scores of shape {scores.shape}, expected finite values of shape {(g_child, b - a)}")
        except Exception as err:  # noqa: BLE001 - any unreadable file is recomputed, and said so
            warnings.warn(
                f"Score slice {f} is corrupt or truncated ({type(err).__name__}: {err}); "
                "removed, it will be recomputed",
                UserWarning,
                stacklevel=3,
            )
            f.unlink(missing_ok=True)
            continue
        want = {"mintlab_version": version, "cache_key": key, "pair": list(pair), "columns": [a, b]}
        if info != want:
            raise ValueError(
                f"Expected score slice {f} to hold {want}, but it holds {info} (written by another mintlab "
                "version or with other settings); remove that file (the other slices stay) or use another cache_dir"
            )
        out[(a, b)] = scores
    return out


def _plan_slices(
    g_parent: int, have: list[tuple[int, int]], size: int
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """``(kept, planned)``: slices on disk to keep, and new ones of at most ``size`` parent groups for the rest.

    A slice on disk that overlaps one kept before it (from runs with other ``slice_groups``) is not kept.

    >>> _plan_slices(10, [(0, 3), (2, 4)], 4)
    ([(0, 3)], [(3, 7), (7, 10)])
    """
    covered = np.zeros(g_parent, bool)
    kept = []
    for a, b in sorted(have):
        if b <= g_parent and not covered[a:b].any():
            covered[a:b] = True
            kept.append((a, b))
    todo: list[tuple[int, int]] = []
    j = 0
    while j < g_parent:
        if covered[j]:
            j += 1
            continue
        end = j
        while end < g_parent and not covered[end] and end - j < size:
            end += 1
        todo.append((j, end))
        j = end
    return kept, todo


# --------------------------------------------------------------------------- Dask


def _dask_client(client: Any) -> Any:
    """The ``distributed.Client`` to use: ``client``, else the active one (Dask's idiom), else ``None``."""
    if client is False:
        return None
    if client is None:
        if "distributed" not in sys.modules:  # no client can be active without distributed imported
            return None
        from distributed import default_client

        try:
            return default_client()
        except ValueError:  # no client is active
            return None
    try:
        from distributed import Client
    except ImportError as err:
        raise ValueError("Expected `client` as a dask.distributed Client, but distributed is not installed") from err
    if not isinstance(client, Client):
        raise TypeError(f"Expected `client` as a distributed.Client, None or False, but got {type(client).__name__}")
    return client


def _worker_version() -> str:
    """mintlab's version on a Dask worker (runs there)."""
    import mintlab

    return mintlab.__version__


def _check_workers(client: Any, version: str) -> None:
    """Raise ``ValueError`` unless every worker of ``client`` imports mintlab ``version``."""
    found = client.run(_worker_version, on_error="return")
    bad = {w: v for w, v in found.items() if v != version}
    if bad:
        got = {
            w: f"{type(v).__name__}: {v}" if isinstance(v, BaseException) else f"mintlab {v}" for w, v in bad.items()
        }
        raise ValueError(
            f"Expected every Dask worker to import mintlab {version} (as this process does), but got {got}; "
            "install the same mintlab in the workers' environment (nothing was submitted)"
        )


def _run_on_dask(client: Any, scorer: Scorer, units: list, context: Any, unit_done: Any, key: str) -> None:
    """Submit every unit to ``client``'s workers; hand each result to ``unit_done`` as it arrives (here)."""
    from distributed import as_completed

    token = uuid.uuid4().hex[:8]
    ctx_futures: dict[int, Any] = {}
    futures: dict[Any, tuple[int, int | None, int | None]] = {}
    try:
        for k, a, b in units:
            if k not in ctx_futures:  # each pair's activations travel to the cluster once
                ctx_futures[k] = client.scatter(context(k), hash=False)
            name = f"mintlab-scores-{key}-{k}-{a}-{b}-{token}"
            futures[client.submit(_score_unit, scorer, ctx_futures[k], a, b, key=name, pure=False)] = (k, a, b)
        for fut in as_completed(list(futures)):
            unit_done(*futures[fut], fut.result())
            fut.release()
    finally:
        for fut in [*futures, *ctx_futures.values()]:
            fut.cancel()
