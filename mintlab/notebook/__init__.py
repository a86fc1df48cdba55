"""What the notebooks and batch runs need, and nothing else: the cached workflow, the slider panel, the runner.

- :mod:`~mintlab.notebook.workflow`: cached scores per method and cached prune → retrain steps.
- :mod:`~mintlab.notebook.widgets`: the δ / γ / G slider panel.
- :mod:`~mintlab.notebook.runner`: papermill batch runs and sweeps (``python -m mintlab.notebook.runner``).
"""

from mintlab.notebook.widgets import (
    MaskedEvaluator,
    PruningPanel,
    plot_score_heatmaps,
    pruning_state,
)
from mintlab.notebook.workflow import (
    compare_methods,
    method_scores,
    pruned_network,
    table_rows,
)

__all__ = [
    "MaskedEvaluator",
    "PruningPanel",
    "plot_score_heatmaps",
    "pruning_state",
    "compare_methods",
    "method_scores",
    "pruned_network",
    "table_rows",
]
