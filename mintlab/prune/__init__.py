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

import types as _types

from mintlab.prune.activations import Activations as Activations
from mintlab.prune.activations import PairGeometry as PairGeometry
from mintlab.prune.activations import collect_activations as collect_activations
from mintlab.prune.activations import normalize_pairs as normalize_pairs
from mintlab.prune.activations import pair_geometry as pair_geometry
from mintlab.prune.allocation import ALLOCATIONS as ALLOCATIONS
from mintlab.prune.allocation import keep_following as keep_following
from mintlab.prune.allocation import keep_for_allocation as keep_for_allocation
from mintlab.prune.allocation import keep_for_level as keep_for_level
from mintlab.prune.allocation import keep_global as keep_global
from mintlab.prune.compaction import CompactionError as CompactionError
from mintlab.prune.compaction import compact as compact
from mintlab.prune.compaction import dense_copy as dense_copy
from mintlab.prune.compaction import has_masks as has_masks
from mintlab.prune.compression import compression_figures as compression_figures
from mintlab.prune.compression import compression_table as compression_table
from mintlab.prune.compression import plot_compression as plot_compression
from mintlab.prune.export import load_compact as load_compact
from mintlab.prune.export import save_compact as save_compact
from mintlab.prune.groups import group_specs as group_specs
from mintlab.prune.groups import resolve_groups as resolve_groups
from mintlab.prune.masks import apply_masks as apply_masks
from mintlab.prune.masks import effective_weight as effective_weight
from mintlab.prune.masks import make_permanent as make_permanent
from mintlab.prune.masks import masks_from_scores as masks_from_scores
from mintlab.prune.masks import prune_summary as prune_summary
from mintlab.prune.masks import threshold_for_fraction as threshold_for_fraction
from mintlab.prune.masks import weight_masks as weight_masks
from mintlab.prune.methods import METHOD_KINDS as METHOD_KINDS
from mintlab.prune.methods import Method as Method
from mintlab.prune.methods import get_method as get_method
from mintlab.prune.methods import method_names as method_names
from mintlab.prune.methods import register_method as register_method
from mintlab.prune.metrics import BYTES_PER_MB as BYTES_PER_MB
from mintlab.prune.metrics import csr_memory_mb as csr_memory_mb
from mintlab.prune.metrics import disconnected_units as disconnected_units
from mintlab.prune.metrics import params_pruned_percent as params_pruned_percent
from mintlab.prune.metrics import prunable_layers as prunable_layers
from mintlab.prune.metrics import pruning_report as pruning_report
from mintlab.prune.mipp import STRUCTURED_METHODS as STRUCTURED_METHODS
from mintlab.prune.mipp import FitResult as FitResult
from mintlab.prune.mipp import PredictorConfig as PredictorConfig
from mintlab.prune.mipp import baseline_unit_keep as baseline_unit_keep
from mintlab.prune.mipp import fit_repeat as fit_repeat
from mintlab.prune.mipp import fit_repeats as fit_repeats
from mintlab.prune.mipp import l1_unit_scores as l1_unit_scores
from mintlab.prune.mipp import mipp_layer as mipp_layer
from mintlab.prune.mipp import mipp_masks as mipp_masks
from mintlab.prune.mipp import mipp_select as mipp_select
from mintlab.prune.mipp import one_sided_confidence as one_sided_confidence
from mintlab.prune.mipp import predictive_cmi as predictive_cmi
from mintlab.prune.mipp import predictive_mi as predictive_mi
from mintlab.prune.mipp import structured_keep as structured_keep
from mintlab.prune.mipp import unit_weight_masks as unit_weight_masks
from mintlab.prune.record import SCHEMA_VERSION as SCHEMA_VERSION
from mintlab.prune.record import RunRecord as RunRecord
from mintlab.prune.record import run_id as run_id
from mintlab.prune.scorers import SCORER_NAMES as SCORER_NAMES
from mintlab.prune.scorers import MagnitudeScorer as MagnitudeScorer
from mintlab.prune.scorers import MintScorer as MintScorer
from mintlab.prune.scorers import PairContext as PairContext
from mintlab.prune.scorers import RandomScorer as RandomScorer
from mintlab.prune.scorers import Scorer as Scorer
from mintlab.prune.scorers import get_scorer as get_scorer
from mintlab.prune.scorers import group_sums as group_sums
from mintlab.prune.scores import PairScores as PairScores
from mintlab.prune.scores import ScoreSet as ScoreSet
from mintlab.prune.scores import compute_scores as compute_scores
from mintlab.prune.scores import link_weights as link_weights
from mintlab.prune.scores import pair_seed as pair_seed
from mintlab.prune.sparse import SparseLinear as SparseLinear
from mintlab.prune.sparse import sparsify_linear_layers as sparsify_linear_layers
from mintlab.prune.step import check_masks_held as check_masks_held
from mintlab.prune.step import dense_accuracy as dense_accuracy
from mintlab.prune.step import prune as prune
from mintlab.prune.step import prune_and_retrain as prune_and_retrain
from mintlab.prune.step import recalibrate_batchnorm as recalibrate_batchnorm
from mintlab.prune.step import run_step as run_step

#: Every public name imported above (``import X as X`` marks a re-export); the submodules are not in it.
__all__ = [
    name
    for name, value in list(globals().items())
    if not name.startswith("_") and not isinstance(value, _types.ModuleType)
]
