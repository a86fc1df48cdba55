"""Group labels of every layer pair: which units of the parent and of the child form each group.

MINT scores blocks of weights between a parent group and a child group (paper, Section III-B:
"sequential grouping"). A pair's grouping is ``(parent_groups, child_groups)``, each either a count
``G`` (balanced consecutive groups, :func:`mintlab.estimator.group_labels`) or explicit labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mintlab.estimator.layer_pair import group_labels
from mintlab.prune.activations import Pair, PairGeometry
from mintlab.utils.checks import InvalidArgumentError

__all__ = ["GroupSpec", "group_specs", "resolve_groups", "group_meta"]

GroupSpec = int | Sequence[int] | np.ndarray


def _labels(spec: GroupSpec, n_units: int, role: str, pair: Pair) -> np.ndarray:
    try:
        return np.asarray(group_labels(n_units, spec), dtype=np.int64)
    except ValueError as err:  # name the pair and the side, keep the estimator's message
        raise InvalidArgumentError(f"{role.capitalize()} groups of pair {pair}: {err}") from err


def _is_count(g: Any) -> bool:
    return isinstance(g, (int, np.integer)) and not isinstance(g, bool)


def _is_side(g: Any) -> bool:
    """One side of a pair's grouping: a group count, or a 1-D array / sequence of integer labels."""
    if _is_count(g):
        return True
    if isinstance(g, (str, bytes, Mapping)) or not (isinstance(g, (Sequence, np.ndarray)) or hasattr(g, "__array__")):
        return False
    try:
        a = np.asarray(g)
    except (TypeError, ValueError):
        return False
    return a.ndim == 1 and a.size > 0 and np.issubdtype(a.dtype, np.integer)


def _per_pair(pairs: Sequence[Pair], groups: Any) -> Any:
    """A list with one ``(G_parent, G_child)`` per pair (aligned with ``pairs``) as a mapping; else as given.

    Two entries that are each a group count or a 1-D label array are one ``(parent, child)`` grouping for
    all pairs. The one ambiguous case, two pairs and two entries of two integers each (``[(8, 4), (4, 2)]``),
    is read as one entry per pair.
    """
    if isinstance(groups, Mapping) or isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence):
        return groups
    items = list(groups)
    if len(items) == 2 and all(_is_count(g) for g in items):
        return tuple(int(g) for g in items)
    if len(items) == 2 and all(_is_side(g) for g in items):
        per_pair_form = len(pairs) == 2 and all(not _is_count(g) and len(np.asarray(g)) == 2 for g in items)
        if not per_pair_form:
            return tuple(items)
    if len(items) != len(pairs):
        raise InvalidArgumentError(
            f"Expected `groups` as one (G_parent, G_child) for all pairs or one per layer pair ({len(pairs)}), "
            f"but got {len(items)} entries"
        )
    return {tuple(p): tuple(g) for p, g in zip(pairs, items)}


def _check_side(side: Any, pair: Pair, role: str) -> int | list[int] | np.ndarray:
    if _is_count(side):
        if int(side) < 1:
            raise InvalidArgumentError(f"Expected {role} groups G of pair {pair} as an int >= 1, but got {side!r}")
        return int(side)
    if not _is_side(side):
        raise InvalidArgumentError(
            f"Expected {role} groups of pair {pair} as an int >= 1 or a 1-D sequence of "
            f"integer labels, but got {side!r:.80}"
        )
    labels = np.asarray(side)
    if int(labels.min()) < 0:
        raise InvalidArgumentError(f"Expected {role} group labels of pair {pair} >= 0, but got {int(labels.min())}")
    return side


def group_specs(pairs: Sequence[Pair], groups: Any, *, strict: bool = True) -> dict[Pair, tuple[Any, Any]]:
    """The one parser of group specifications: ``groups`` as one ``(parent_side, child_side)`` per pair.

    ``groups`` may be:

    * an int ``G``: ``G`` balanced groups on both sides of every pair;
    * one ``(G_parent, G_child)`` for all pairs (each side an int or a 1-D array of labels);
    * a list with one such entry per pair, in the order of ``pairs`` (two pairs and ``[(8, 4), (4, 2)]`` is
      one entry per pair);
    * a mapping from a pair (or its child's name) to ``(parent_side, child_side)``.

    Args:
        pairs: the (parent, child) pairs.
        groups: the specification.
        strict: refuse mapping keys that name no pair of ``pairs`` (``False``: ignore them, so one mapping can
            serve a subset of its pairs).

    Raises:
        InvalidArgumentError: a pair without an entry, an unknown key (with ``strict``), an entry that is not
            two sides, a side that is neither an int >= 1 nor integer labels >= 0.

    >>> group_specs([("a", "b"), ("b", "c")], 4)
    {('a', 'b'): (4, 4), ('b', 'c'): (4, 4)}
    """
    pairs = [tuple(p) for p in pairs]
    if _is_count(groups):
        groups = (groups, groups)
    groups = _per_pair(pairs, groups)
    out: dict[Pair, tuple[Any, Any]] = {}
    if isinstance(groups, Mapping):
        children = {c: (p, c) for p, c in pairs}
        by_pair: dict[Any, Any] = {}
        for key, spec in groups.items():
            pair = children.get(key, key) if isinstance(key, str) else tuple(key) if isinstance(key, Sequence) else key
            if pair not in pairs and strict:
                raise InvalidArgumentError(
                    f"Expected `groups` keys among the pairs {pairs} (or their child names), but got {key!r}"
                )
            if isinstance(key, str):
                by_pair.setdefault(pair, spec)  # an entry by pair wins over one by child name
            else:
                by_pair[pair] = spec
        groups = by_pair
    for pair in pairs:
        if isinstance(groups, Mapping):
            spec = groups.get(pair)
            if spec is None:
                raise InvalidArgumentError(
                    f"Expected `groups` to have an entry for pair {pair} (or {pair[1]!r}), but it has none"
                )
        else:
            spec = groups
        if isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence) or len(spec) != 2:
            raise InvalidArgumentError(
                f"Expected groups of pair {pair} as (parent_groups, child_groups), but got {spec!r:.80}"
            )
        out[pair] = (_check_side(spec[0], pair, "parent"), _check_side(spec[1], pair, "child"))
    return out


def resolve_groups(geoms: Sequence[PairGeometry], groups: Any) -> dict[Pair, tuple[np.ndarray, np.ndarray]]:
    """Per pair ``(parent_labels, child_labels)`` from ``groups`` (parsed by :func:`group_specs`; mapping keys
    naming other pairs are ignored, so one mapping can serve a subset of its pairs).

    Each side is an int (balanced sequential groups, :func:`mintlab.estimator.layer_pair.group_labels`) or
    an explicit label array, also in the form for all pairs (``(np.arange(32) // 4, 4)``; labels given for
    all pairs must fit every pair's layer).

    Raises:
        InvalidArgumentError: a pair without an entry, an entry that is not two sides, a group count
            larger than the layer, or labels that skip a group.
    """
    specs = group_specs([(g.parent, g.child) for g in geoms], groups, strict=False)
    out = {}
    for g in geoms:
        pair = (g.parent, g.child)
        spec = specs[pair]
        out[pair] = (_labels(spec[0], g.n_parent, "parent", pair), _labels(spec[1], g.n_child, "child", pair))
    return out


def group_meta(labels: np.ndarray) -> int | list[int]:
    """Store balanced groups as their count, explicit labels in full."""
    g = int(labels.max()) + 1
    try:
        if np.array_equal(np.asarray(group_labels(len(labels), g)), labels):
            return g
    except ValueError:
        pass
    return labels.tolist()
