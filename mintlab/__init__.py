"""mintlab: Mutual Information-based Neuron Trimming (MINT), interactively.

The data flow, one module per step (each lists its public names in ``__all__``)::

    data, models, training  →  activations  →  gmi / scoring  →  scorers, score_store
        →  masks, pruning  →  report  →  characterize        (workflow: the notebooks' cached path)

Submodules are imported on first use (``mintlab.gmi``, ``mintlab.pruning`` …), so ``import mintlab``
stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = [
    "activations",
    "characterize",
    "data",
    "experiment",
    "gmi",
    "io",
    "masks",
    "models",
    "pruning",
    "report",
    "runner",
    "score_store",
    "scorers",
    "scoring",
    "toy",
    "training",
    "widgets",
    "workflow",
]


def __getattr__(name: str) -> Any:
    if name == "compact":  # the function, mintlab.compact(model, example_inputs) -> nn.Module
        from mintlab.prune.compact import compact

        return compact
    if name in __all__:
        return importlib.import_module(f"mintlab.{name}")
    raise AttributeError(f"module 'mintlab' has no attribute {name!r}")
