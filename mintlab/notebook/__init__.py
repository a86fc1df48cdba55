"""What the notebooks and batch runs need, and nothing else: the cached workflow, the slider panel, the runner.

- :mod:`~mintlab.notebook.workflow`: cached scores per method and cached prune → retrain steps.
- :mod:`~mintlab.notebook.widgets`: the δ / γ / G slider panel.
- :mod:`~mintlab.notebook.runner`: papermill batch runs and sweeps (``python -m mintlab.notebook.runner``).
- ``write_json_atomic``: how a notebook writes its summary file (all or nothing; NumPy values become JSON).

The names below are imported on first use, so that a notebook that needs only ``write_json_atomic``
(``01_gmi_toy``: NumPy and numba) does not import torch through the workflow.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Each public name, and the module that defines it.
_NAMES = {
    "MaskedEvaluator": "mintlab.notebook.widgets",
    "PruningPanel": "mintlab.notebook.widgets",
    "plot_score_heatmaps": "mintlab.notebook.widgets",
    "pruning_state": "mintlab.notebook.widgets",
    "compare_methods": "mintlab.notebook.workflow",
    "method_scores": "mintlab.notebook.workflow",
    "pruned_network": "mintlab.notebook.workflow",
    "table_rows": "mintlab.notebook.workflow",
    "write_json_atomic": "mintlab.utils.io",
    "NotebookModel": "mintlab.notebook.networks",
    "notebook_model": "mintlab.notebook.networks",
    "notebook_network": "mintlab.notebook.networks",
    "notebook_settings": "mintlab.notebook.networks",
    "raw_test_data": "mintlab.notebook.networks",
}

#: Submodules, imported on first attribute access.
_SUBMODULES = ("networks", "runner", "widgets", "workflow")

__all__ = list(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"mintlab.notebook.{name}")
    raise AttributeError(f"module 'mintlab.notebook' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))
