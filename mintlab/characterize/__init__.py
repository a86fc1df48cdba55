"""Characterize original vs pruned networks beyond accuracy (MINT paper, Section IV-E).

- :mod:`~mintlab.characterize.attacks`: I-FGSM / Iter-LL accuracy over ε (torchattacks ``BIM``).
- :mod:`~mintlab.characterize.calibration`: expected calibration error and reliability diagrams.
- :mod:`~mintlab.characterize.attribution`: GradCAM (conv nets) or input-gradient maps (MLP).
- :mod:`~mintlab.characterize.report`: :func:`characterization_report`, everything in one call.
- :mod:`~mintlab.characterize.compare`: :func:`characterize_methods`, many pruning methods × seeds at one
  sparsity, with ECE intervals, ROAD faithfulness and a paired verdict across seeds.

All functions take images in [0, 1] and the model's ``normalization=(mean, std)``; the model is wrapped
as ``nn.Sequential(Normalize(mean, std), model)`` and run in eval mode (its mode is restored after).
"""

from mintlab.characterize.attacks import (
    ATTACK_LABELS,
    ATTACKS,
    DEFAULT_EPSILONS,
    adversarial_examples,
    attack_accuracy,
    compare_attacks,
    kurakin_schedule,
    plot_attack_curves,
)
from mintlab.characterize.attribution import (
    GRADIENT_METHODS,
    AttributionResult,
    attribution_maps,
    find_last_conv,
    gradcam,
    input_gradient_attribution,
    plot_attribution_grid,
)
from mintlab.characterize.calibration import (
    BINNINGS,
    DEFAULT_N_BINS,
    bin_indices,
    brier_score,
    calibration_summary,
    compare_calibration,
    draw_reliability,
    ece_with_ci,
    expected_calibration_error,
    negative_log_likelihood,
    plot_reliability_diagram,
    reliability_bins,
    to_probabilities,
)
from mintlab.characterize.compare import (
    MIN_SEEDS,
    characterize_methods,
    epsilon_at_accuracy,
    paired_test,
    road_faithfulness,
    verdict_table,
)
from mintlab.characterize.report import REPORT_FILES, characterization_report, sample_examples

__all__ = [
    "ATTACKS",
    "ATTACK_LABELS",
    "DEFAULT_EPSILONS",
    "kurakin_schedule",
    "adversarial_examples",
    "attack_accuracy",
    "compare_attacks",
    "plot_attack_curves",
    "DEFAULT_N_BINS",
    "to_probabilities",
    "reliability_bins",
    "BINNINGS",
    "bin_indices",
    "ece_with_ci",
    "negative_log_likelihood",
    "brier_score",
    "draw_reliability",
    "expected_calibration_error",
    "calibration_summary",
    "compare_calibration",
    "plot_reliability_diagram",
    "GRADIENT_METHODS",
    "AttributionResult",
    "find_last_conv",
    "gradcam",
    "input_gradient_attribution",
    "attribution_maps",
    "plot_attribution_grid",
    "REPORT_FILES",
    "sample_examples",
    "characterization_report",
    "MIN_SEEDS",
    "characterize_methods",
    "epsilon_at_accuracy",
    "paired_test",
    "road_faithfulness",
    "verdict_table",
]
