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

import types as _types

from mintlab.characterize.attacks import ATTACK_LABELS as ATTACK_LABELS
from mintlab.characterize.attacks import ATTACKS as ATTACKS
from mintlab.characterize.attacks import DEFAULT_EPSILONS as DEFAULT_EPSILONS
from mintlab.characterize.attacks import adversarial_examples as adversarial_examples
from mintlab.characterize.attacks import attack_accuracy as attack_accuracy
from mintlab.characterize.attacks import compare_attacks as compare_attacks
from mintlab.characterize.attacks import kurakin_schedule as kurakin_schedule
from mintlab.characterize.attacks import plot_attack_curves as plot_attack_curves
from mintlab.characterize.attribution import GRADIENT_METHODS as GRADIENT_METHODS
from mintlab.characterize.attribution import AttributionResult as AttributionResult
from mintlab.characterize.attribution import attribution_maps as attribution_maps
from mintlab.characterize.attribution import find_last_conv as find_last_conv
from mintlab.characterize.attribution import gradcam as gradcam
from mintlab.characterize.attribution import input_gradient_attribution as input_gradient_attribution
from mintlab.characterize.attribution import plot_attribution_grid as plot_attribution_grid
from mintlab.characterize.calibration import BINNINGS as BINNINGS
from mintlab.characterize.calibration import DEFAULT_N_BINS as DEFAULT_N_BINS
from mintlab.characterize.calibration import bin_indices as bin_indices
from mintlab.characterize.calibration import brier_score as brier_score
from mintlab.characterize.calibration import calibration_summary as calibration_summary
from mintlab.characterize.calibration import compare_calibration as compare_calibration
from mintlab.characterize.calibration import draw_reliability as draw_reliability
from mintlab.characterize.calibration import ece_with_ci as ece_with_ci
from mintlab.characterize.calibration import expected_calibration_error as expected_calibration_error
from mintlab.characterize.calibration import negative_log_likelihood as negative_log_likelihood
from mintlab.characterize.calibration import plot_reliability_diagram as plot_reliability_diagram
from mintlab.characterize.calibration import reliability_bins as reliability_bins
from mintlab.characterize.calibration import to_probabilities as to_probabilities
from mintlab.characterize.compare import MIN_SEEDS as MIN_SEEDS
from mintlab.characterize.compare import characterize_methods as characterize_methods
from mintlab.characterize.compare import epsilon_at_accuracy as epsilon_at_accuracy
from mintlab.characterize.compare import paired_test as paired_test
from mintlab.characterize.compare import road_faithfulness as road_faithfulness
from mintlab.characterize.compare import verdict_table as verdict_table
from mintlab.characterize.report import REPORT_FILES as REPORT_FILES
from mintlab.characterize.report import characterization_report as characterization_report
from mintlab.characterize.report import sample_examples as sample_examples

#: Every public name imported above (``import X as X`` marks a re-export); the submodules are not in it.
__all__ = [
    name
    for name, value in list(globals().items())
    if not name.startswith("_") and not isinstance(value, _types.ModuleType)
]
