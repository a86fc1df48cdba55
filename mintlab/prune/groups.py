"""Group labels of every layer pair: which units of the parent and of the child form each group.

MINT scores blocks of weights between a parent group and a child group (paper, Section III-B:
"sequential grouping"). A pair's grouping is ``(parent_groups, child_groups)``, each either a count
``G`` (balanced consecutive groups, :func:`mintlab.estimator.group_labels`) or explicit labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mintlab._utils.checks import InvalidArgumentError
from mintlab.estimator.layer_pair import group_labels
from mintlab.prune.activations import Pair, PairGeometry

__all__ = ["GroupSpec", "resolve_groups", "group_meta"]

GroupSpec = int | Sequence[int] | np.ndarray


def _labels(spec: GroupSpec, n_units: int, role: str, pair: Pair) -> np.ndarray:
    try:
        return np.asarray(group_labels(n_units, spec), dtype=np.int64)
    except ValueError as err:  # name the pair and the side, keep the estimator's message
        raise InvalidArgumentError(f"{role.capitalize()} groups of pair {pair}: {err}") from err


def _per_pair(pairs: Sequence[Pair], groups: Any) -> Any:
    """A list with one ``(G_parent, G_child)`` per pair (aligned with ``pairs``) as a mapping; else as given."""
    if isinstance(groups, Mapping) or isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence):
        return groups
    items = list(groups)
    if len(items) == 2 and all(isinstance(g, (int, np.integer)) and not isinstance(g, bool) for g in items):
        return tuple(int(g) for g in items)
    if len(items) != len(pairs):
        raise InvalidArgumentError(
            f"Expected `groups` as one (G_parent, G_child) for all pairs or one per layer pair ({len(pairs)}), "
            f"but got {len(items)} entries"
        )
    return {tuple(p): tuple(g) for p, g in zip(pairs, items)}


def resolve_groups(geoms: Sequence[PairGeometry], groups: Any) -> dict[Pair, tuple[np.ndarray, np.ndarray]]:
    """Per pair ``(parent_labels, child_labels)`` from ``groups``.

    ``groups`` is one ``(G_parent, G_child)`` for all pairs; or one such entry per pair, in the order of
    ``geoms``; or a mapping from a pair (or its child name) to ``(parent_groups, child_groups)``. Each side
    is an int (balanced sequential groups, :func:`mintlab.estimator.layer_pair.group_labels`) or an
    explicit label array.

    Raises:
        InvalidArgumentError: a pair without an entry, an entry that is not two sides, a group count
            larger than the layer, or labels that skip a group.
    """
    groups = _per_pair([(g.parent, g.child) for g in geoms], groups)
    out = {}
    for g in geoms:
        pair = (g.parent, g.child)
        if isinstance(groups, Mapping):
            spec = groups.get(pair, groups.get(g.child))
            if spec is None:
                raise InvalidArgumentError(
                    f"Expected `groups` to have an entry for pair {pair} (or {g.child!r}), but it has none"
                )
        else:
            spec = groups
        if isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence) or len(spec) != 2:
            raise InvalidArgumentError(
                f"Expected groups of pair {pair} as (parent_groups, child_groups), but got {spec!r}"
            )
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
