"""The maths of MINT: the conditional geometric mutual information (GMI) and the layer-pair scorer.

NumPy and numba only (no ``torch.nn``); everything else in mintlab reaches it through
:class:`mintlab.prune.scorers.MintScorer`.

- :mod:`~mintlab.estimator.gmi`: ``gmi`` and ``conditional_gmi`` (Friedman–Rafsky MST statistic), the split.
- :mod:`~mintlab.estimator.layer_pair`: :func:`score_layer_pair`, a whole ``(G_child, G_parent)`` score
  matrix at once, sharing the distance work; balanced sequential :func:`group_labels`.
- ``_engine`` (the layer-pair engine), ``_mst`` (numba Prim kernels), ``_torch_mst`` (batched torch Prim).
- :mod:`~mintlab.estimator.toy`: Gaussian ground truth and planted toy networks.

The function ``gmi`` is not re-exported here, so that ``mintlab.estimator.gmi`` stays the module.
"""

from mintlab.estimator._mst import fresh_compilations, kernels_cached
from mintlab.estimator.gmi import (
    BOOTSTRAPS,
    ESTIMATORS,
    RECOMMENDED_ESTIMATOR,
    SCALES,
    conditional_gmi,
    split_rows,
)
from mintlab.estimator.layer_pair import (
    group_labels,
    score_layer_pair,
    score_layer_pair_spread,
)

__all__ = [
    "BOOTSTRAPS",
    "ESTIMATORS",
    "RECOMMENDED_ESTIMATOR",
    "SCALES",
    "conditional_gmi",
    "split_rows",
    "group_labels",
    "score_layer_pair",
    "score_layer_pair_spread",
    "fresh_compilations",
    "kernels_cached",
]
