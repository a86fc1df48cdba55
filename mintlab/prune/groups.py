"""Group labels of every layer pair: which units of the parent and of the child form each group.

MINT scores blocks of weights between a parent group and a child group (paper, Section III-B:
"sequential grouping"). A pair's grouping is ``(parent_groups, child_groups)``, each either a count
``G`` (balanced consecutive groups, :func:`mintlab.estimator.group_labels`) or explicit labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Union

import numpy as np

from mintlab.estimator.layer_pair import group_labels
from mintlab.prune.activations import Pair, PairGeometry

__all__ = ["GroupSpec", "resolve_groups", "group_meta"]

GroupSpec = Union[int, Sequence[int], np.ndarray]


def _labels(spec: GroupSpec, n_units: int, role: str, pair: Pair) -> np.ndarray:
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        if not 1 <= spec <= n_units:
            raise ValueError(
                f"Expected {role} groups G of pair {pair} in [1, {n_units}] (the layer's units), but got {spec}"
            )
        return np.asarray(group_labels(n_units, int(spec)), dtype=np.int64)
    labels = np.asarray(spec)
    if labels.shape != (n_units,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"Expected {role} groups of pair {pair} as an int or {n_units} integer labels, but got {spec!r}"
        )
    if labels.min() < 0 or set(np.unique(labels)) != set(range(int(labels.max()) + 1)):
        raise ValueError(f"Expected {role} group labels of pair {pair} to use every label 0..G-1, but got {np.unique(labels)}")
    return labels.astype(np.int64)


def resolve_groups(
    geoms: Sequence[PairGeometry], groups: Any
) -> dict[Pair, tuple[np.ndarray, np.ndarray]]:
    """Per pair ``(parent_labels, child_labels)`` from ``groups``.

    ``groups`` is one ``(G_parent, G_child)`` for all pairs, or a mapping from a pair (or its
    child name) to ``(parent_groups, child_groups)``, each an int (balanced sequential groups,
    :func:`mintlab.estimator.layer_pair.group_labels`) or an explicit label array.
    """
    out = {}
    for g in geoms:
        pair = (g.parent, g.child)
        if isinstance(groups, Mapping):
            spec = groups.get(pair, groups.get(g.child))
            if spec is None:
                raise ValueError(f"Expected `groups` to have an entry for pair {pair} (or {g.child!r}), but it has none")
        else:
            spec = groups
        if isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence) or len(spec) != 2:
            raise TypeError(f"Expected groups of pair {pair} as (parent_groups, child_groups), but got {spec!r}")
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
