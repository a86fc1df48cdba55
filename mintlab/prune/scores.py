"""Scores of every layer pair, computed once, saved with what produced them, reloaded or resumed.

Scores are the expensive artifact of MINT. :func:`compute_scores` runs one forward pass for
the activations, then scores pair after pair (progress bar). With ``cache_dir`` it keeps
``<cache_dir>/<key>/meta.json`` (model checkpoint hash, dataset, pairs, groups, ``m``, seed,
scorer and its options, mintlab version) and one ``pair_<k>.npz`` per finished pair, each
written atomically as soon as it is done: an interrupted run resumes from the pairs already
done, and a later call with the same settings reloads instead of recomputing.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn
from torch.utils.data import Dataset

from mintlab._utils.checks import check_int
from mintlab._utils.io import json_key, npz_bytes, write_bytes_atomic, write_json_atomic
from mintlab.prune.activations import (
    Pair,
    PairGeometry,
    collect_activations,
    normalize_pairs,
    pair_geometry,
)
from mintlab.prune.groups import group_meta, resolve_groups
from mintlab.prune.scorers import PairContext, Scorer

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

    def __getitem__(self, key: str | Sequence[str]) -> PairScores:
        """A pair's scores by child name or by (parent, child)."""
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
                    PairScores(parent, child, z[f"p{k}_scores"], z[f"p{k}_parent_groups"], z[f"p{k}_child_groups"], spatial)
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
    mix = zlib.crc32(f"{pair[0]}->{pair[1]}".encode())
    return int(np.random.SeedSequence([int(seed), mix]).generate_state(1)[0])


def _dataset_fingerprint(dataset: Dataset) -> str:
    """A cheap hash of a dataset: its size, all labels and its first and last items."""
    from mintlab.nets.data import dataset_targets

    h = hashlib.sha256(str(len(dataset)).encode())
    h.update(np.ascontiguousarray(dataset_targets(dataset), dtype=np.int64).tobytes())
    for idx in (0, len(dataset) - 1):
        item = dataset[idx][0]
        h.update(np.ascontiguousarray(item.numpy() if hasattr(item, "numpy") else np.asarray(item)).tobytes())
    return h.hexdigest()[:16]


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
) -> ScoreSet:
    """Score every (parent, child) pair of ``model`` with ``scorer``; cached, resumable.

    Args:
        model: the trained network (its checkpoint hash keys the cache).
        dataset: the training set to sample activations from (may be ``None`` for scorers
            that read weights only: magnitude, random).
        pairs: (parent, child) module names.
        scorer: a :class:`mintlab.prune.scorers.Scorer`.
        groups: ``(G_parent, G_child)`` for all pairs, or a mapping pair/child name →
            ``(parent_groups, child_groups)``; see :func:`resolve_groups`.
        samples_per_class: ``m``.
        seed: seed of the sample draw and of the scorer (mixed per pair, :func:`pair_seed`).
        cache_dir: folder for ``<key>/meta.json`` + ``pair_<k>.npz``; ``None``: no cache.
        dataset_name: recorded in the meta (default: the dataset's class name and size).
        progress: show progress bars.

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

    from mintlab import __version__
    from mintlab.nets.checkpoints import state_dict_hash

    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected `model` to be a torch.nn.Module, but got {type(model).__name__}")
    if not isinstance(scorer, Scorer):
        raise TypeError(f"Expected `scorer` to be a mintlab.prune.scorers.Scorer, but got {type(scorer).__name__}")
    samples_per_class = check_int(samples_per_class, "samples_per_class", minimum=1)
    pair_list = normalize_pairs(pairs)
    geoms = [pair_geometry(model, p) for p in pair_list]
    labels = resolve_groups(geoms, groups)
    needs_data = scorer.needs_activations
    if needs_data and dataset is None:
        raise ValueError(f"Expected a `dataset` for scorer {scorer.name!r} (it reads activations), but got None")
    modules = dict(model.named_modules())
    meta: dict[str, Any] = {
        "model_hash": state_dict_hash(model),
        "dataset": dataset_name or (f"{type(dataset).__name__}(n={len(dataset)})" if dataset is not None else None),
        # the data themselves key the cache too: a subset or other data of the same name never reloads these scores
        "dataset_fingerprint": _dataset_fingerprint(dataset) if needs_data else None,
        "pairs": [list(p) for p in pair_list],
        "groups": [[group_meta(labels[p][0]), group_meta(labels[p][1])] for p in pair_list],
        "samples_per_class": int(samples_per_class),
        "seed": int(seed),
        "scorer": scorer.config(),
        "mintlab_version": __version__,
    }
    key = json_key(meta)
    meta["cache_key"] = key
    meta["total_params"] = int(sum(p.numel() for p in model.parameters()))
    meta["layer_weights"] = {g.child: int(modules[g.child].weight.numel()) for g in geoms}

    folder = Path(cache_dir) / key if cache_dir is not None else None
    done: dict[int, PairScores] = {}
    if folder is not None:
        if (folder / "meta.json").exists():
            stored = json.loads((folder / "meta.json").read_text())
            if json_key({k: stored.get(k) for k in meta if k not in ("cache_key", "total_params", "layer_weights")}) != key:
                raise ValueError(f"Score cache {folder} holds other settings than requested; remove it or use another cache_dir")
        else:
            write_json_atomic(folder / "meta.json", meta)
        for k, (pair, geom) in enumerate(zip(pair_list, geoms)):
            f = folder / f"pair_{k:03d}.npz"
            if f.exists():
                with np.load(f) as z:
                    done[k] = PairScores(*pair, z["scores"], z["parent_groups"], z["child_groups"], geom.spatial)

    todo = [k for k in range(len(pair_list)) if k not in done]
    acts = None
    if todo and needs_data:
        acts = collect_activations(
            model, dataset, [pair_list[k] for k in todo], samples_per_class=int(samples_per_class),
            seed=int(seed), progress=progress,
        )
    for k in tqdm(todo, desc=f"scores ({scorer.name})", disable=not progress, leave=False):
        pair, geom = pair_list[k], geoms[k]
        p_lab, c_lab = labels[pair]
        raw = link_weights(modules[geom.child], geom)
        empty_p, empty_c = np.zeros((0, geom.n_parent)), np.zeros((0, geom.n_child))
        ctx = PairContext(
            parent=acts.parent[pair] if acts is not None else empty_p,
            child=acts.child[pair] if acts is not None else empty_c,
            weight=raw.sum(axis=2),
            raw_weight=raw,
            parent_groups=p_lab,
            child_groups=c_lab,
            seed=pair_seed(seed, pair),
            pair=pair,
        )
        scores = np.asarray(scorer(ctx), dtype=np.float64)
        expected = (int(c_lab.max()) + 1, int(p_lab.max()) + 1)
        if scores.shape != expected or not np.all(np.isfinite(scores)):
            raise ValueError(
                f"Scorer {scorer.name!r} returned scores of shape {scores.shape} for pair {pair} "
                f"(expected finite values of shape (G_child, G_parent) = {expected})"
            )
        done[k] = PairScores(*pair, scores, p_lab, c_lab, geom.spatial)
        if folder is not None:
            write_bytes_atomic(folder / f"pair_{k:03d}.npz", npz_bytes(done[k]._arrays()))
    return ScoreSet([done[k] for k in range(len(pair_list))], meta)
