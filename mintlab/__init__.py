"""mintlab: Mutual Information-based Neuron Trimming (MINT), interactively.

The data flow, one package per stage (each package's ``__init__`` lists its public names)::

    nets/          data, models, the paper's presets, training, checkpoints
      → prune/     activations → groups → scorers → scores → masks → step (prune, retrain) → metrics
          (scores from estimator/: the conditional GMI and the layer-pair scorer, NumPy/numba only)
      → characterize/   attacks, calibration, GradCAM
    notebook/      the notebooks' cached workflow, slider panel and batch runner
    experiments/   method comparisons at equal sparsity, with seeds

``import mintlab`` stays cheap: the subpackages and the names below are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

#: Subpackages, imported on first attribute access.
_SUBPACKAGES = ("estimator", "prune", "nets", "characterize", "notebook", "experiments")
#: The names notebooks and users need most, each defined once in the module named here.
_NAMES = {
    "conditional_gmi": "mintlab.estimator.gmi",
    "score_layer_pair": "mintlab.estimator.layer_pair",
    "load_dataset": "mintlab.nets.data",
    "build_model": "mintlab.nets.models",
    "layer_pairs": "mintlab.nets.presets",
    "PAPER_SETTINGS": "mintlab.nets.presets",
    "train": "mintlab.nets.train",
    "evaluate": "mintlab.nets.train",
    "pretrained": "mintlab.nets.pretrained",
    "get_scorer": "mintlab.prune.scorers",
    "compute_scores": "mintlab.prune.scores",
    "masks_from_scores": "mintlab.prune.masks",
    "prune_and_retrain": "mintlab.prune.step",
    "params_pruned_percent": "mintlab.prune.metrics",
    "compact": "mintlab.prune.compaction",
}

__all__ = [*_SUBPACKAGES, *_NAMES]


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"mintlab.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'mintlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
