"""The pruning pipeline, one module per step, in the order data flows through them.

1. :mod:`~mintlab.prune.activations`: row-aligned parent/child activations from one forward pass.
2. :mod:`~mintlab.prune.groups`: the (parent, child) group labels of every pair.
3. :mod:`~mintlab.prune.scorers`: MINT and the baselines behind one ``Scorer`` interface.
4. :mod:`~mintlab.prune.scores`: :func:`compute_scores`, cached and resumable.
5. :mod:`~mintlab.prune.masks`: δ / prune-% / γ / skip thresholds → ``torch.nn.utils.prune`` masks.
6. :mod:`~mintlab.prune.step`: :func:`prune` installs masks; :func:`run_step` is the one prune → retrain step
   (mask, BatchNorm re-estimation, evaluate, retrain, evaluate, masks held, each stage timed) that every
   experiment uses, writing a :class:`~mintlab.prune.record.RunRecord`; :mod:`~mintlab.prune.allocation`
   spreads a sparsity level over layers (MINT's δ, the same per-layer shares, a global ranking).
7. :mod:`~mintlab.prune.metrics`: parameters pruned, CSR memory, disconnected units.
8. :mod:`~mintlab.prune.compaction`: a smaller dense model without the units the masks disconnected
   (Torch-Pruning's dependency graph); :mod:`~mintlab.prune.sparse` (CSR linear layers where they win),
   :mod:`~mintlab.prune.export` (plain-PyTorch files), :mod:`~mintlab.prune.compression` (what it buys).

Beside MINT's connection blocks, :mod:`~mintlab.prune.mipp` is the structured information-based method
MIPP (whole units, Westphal et al. 2024) with unit-level L1 and random baselines.
"""

from mintlab.prune.activations import (
    Activations,
    PairGeometry,
    collect_activations,
    normalize_pairs,
    pair_geometry,
)
from mintlab.prune.allocation import (
    ALLOCATIONS,
    keep_following,
    keep_for_allocation,
    keep_for_level,
    keep_global,
)
from mintlab.prune.compaction import CompactionError, compact, dense_copy, has_masks
from mintlab.prune.compression import compression_figures, compression_table, plot_compression
from mintlab.prune.export import load_compact, save_compact
from mintlab.prune.groups import group_specs, resolve_groups
from mintlab.prune.masks import (
    apply_masks,
    effective_weight,
    make_permanent,
    masks_from_scores,
    prune_summary,
    threshold_for_fraction,
    weight_masks,
)
from mintlab.prune.methods import METHOD_KINDS, Method, get_method, method_names, register_method
from mintlab.prune.metrics import (
    BYTES_PER_MB,
    csr_memory_mb,
    disconnected_units,
    params_pruned_percent,
    prunable_layers,
    pruning_report,
)
from mintlab.prune.mipp import (
    STRUCTURED_METHODS,
    FitResult,
    PredictorConfig,
    baseline_unit_keep,
    fit_repeat,
    fit_repeats,
    l1_unit_scores,
    mipp_layer,
    mipp_masks,
    mipp_select,
    one_sided_confidence,
    predictive_cmi,
    predictive_mi,
    structured_keep,
    unit_weight_masks,
)
from mintlab.prune.record import SCHEMA_VERSION, RunRecord, run_id
from mintlab.prune.scorers import (
    SCORER_NAMES,
    MagnitudeScorer,
    MintScorer,
    PairContext,
    RandomScorer,
    Scorer,
    get_scorer,
    group_sums,
)
from mintlab.prune.scores import (
    PairScores,
    ScoreSet,
    compute_scores,
    link_weights,
    pair_seed,
)
from mintlab.prune.sparse import SparseLinear, sparsify_linear_layers
from mintlab.prune.step import (
    check_masks_held,
    dense_accuracy,
    prune,
    prune_and_retrain,
    recalibrate_batchnorm,
    run_step,
)

__all__ = [
    "Activations",
    "PairGeometry",
    "collect_activations",
    "normalize_pairs",
    "pair_geometry",
    "CompactionError",
    "compact",
    "dense_copy",
    "has_masks",
    "compression_figures",
    "compression_table",
    "plot_compression",
    "load_compact",
    "save_compact",
    "group_specs",
    "resolve_groups",
    "apply_masks",
    "effective_weight",
    "make_permanent",
    "masks_from_scores",
    "prune_summary",
    "threshold_for_fraction",
    "weight_masks",
    "STRUCTURED_METHODS",
    "FitResult",
    "PredictorConfig",
    "baseline_unit_keep",
    "fit_repeat",
    "fit_repeats",
    "l1_unit_scores",
    "mipp_layer",
    "mipp_masks",
    "mipp_select",
    "one_sided_confidence",
    "predictive_cmi",
    "predictive_mi",
    "structured_keep",
    "unit_weight_masks",
    "BYTES_PER_MB",
    "csr_memory_mb",
    "disconnected_units",
    "params_pruned_percent",
    "prunable_layers",
    "pruning_report",
    "SCORER_NAMES",
    "MagnitudeScorer",
    "MintScorer",
    "PairContext",
    "RandomScorer",
    "Scorer",
    "get_scorer",
    "group_sums",
    "PairScores",
    "ScoreSet",
    "compute_scores",
    "link_weights",
    "pair_seed",
    "SparseLinear",
    "sparsify_linear_layers",
    "prune",
    "prune_and_retrain",
    "run_step",
    "dense_accuracy",
    "recalibrate_batchnorm",
    "check_masks_held",
    "METHOD_KINDS",
    "Method",
    "get_method",
    "method_names",
    "register_method",
    "SCHEMA_VERSION",
    "RunRecord",
    "run_id",
    "ALLOCATIONS",
    "keep_following",
    "keep_for_allocation",
    "keep_for_level",
    "keep_global",
]
