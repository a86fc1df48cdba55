"""Inputs at the boundary of characterization (issue 12, case 2): labels outside [0, C) and models whose
last module is ``nn.Softmax`` (they output probabilities).

Every entry point checks labels the same way, before torch or torchattacks is called; probabilities are
detected (or declared with ``outputs="probs"``) and never pass through a second softmax.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mintlab.characterize import (
    adversarial_examples,
    attack_accuracy,
    attribution_maps,
    calibration_summary,
    characterization_report,
    expected_calibration_error,
    gradcam,
    input_gradient_attribution,
)
from mintlab.characterize._common import (
    check_label_range,
    looks_like_probabilities,
    predict_logits,
)
from mintlab.utils.checks import InvalidArgumentError

#: Ten examples, three classes: the probabilities the "softmax model" below outputs for each one-hot input.
#: Seven are right (top class = label), mean confidence 0.847 (the issue's 70 % accurate, 0.847 model).
CONFIDENCES = [0.90, 0.85, 0.79, 0.95, 0.76, 0.88, 0.82, 0.84, 0.86, 0.82]  # none on a bin edge k/15
LABELS = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
TOP = [0, 1, 2, 0, 1, 2, 0, 2, 0, 1]  # the last three are wrong


def _probabilities() -> torch.Tensor:
    probs = torch.zeros(10, 3, dtype=torch.float64)
    for i, (c, top) in enumerate(zip(CONFIDENCES, TOP, strict=True)):
        probs[i] = (1 - c) / 2
        probs[i, top] = c
    return probs


def _ece_by_hand(probs: np.ndarray, labels: np.ndarray, n_bins: int) -> float:
    """Top-label ECE written out with a loop (equal-width bins (k/n, (k+1)/n])."""
    conf, pred = probs.max(1), probs.argmax(1)
    total = 0.0
    for k in range(n_bins):
        lo, hi = k / n_bins, (k + 1) / n_bins
        sel = (conf > lo) & (conf <= hi) if k else (conf <= hi)
        if sel.any():
            total += sel.sum() / len(conf) * abs((pred[sel] == labels[sel]).mean() - conf[sel].mean())
    return float(total)


def _softmax_model() -> nn.Module:
    """One-hot input i → exactly the probabilities of row i, through a final ``nn.Softmax``."""
    linear = nn.Linear(10, 3, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.log(_probabilities()).T.float())
    return nn.Sequential(linear, nn.Softmax(dim=1)).eval()


def _logit_model() -> nn.Module:
    """The same network without its softmax: outputs logits."""
    return nn.Sequential(_softmax_model()[0]).eval()


@pytest.fixture()
def onehot() -> torch.Tensor:
    return torch.eye(10)


def test_softmax_model_calibration_is_not_softmaxed_twice(onehot) -> None:
    probs = _probabilities().numpy()
    expected_ece = _ece_by_hand(probs, LABELS.numpy(), 15)
    for outputs in ("auto", "probs"):
        s = calibration_summary(_softmax_model(), onehot, LABELS, n_bins=15, outputs=outputs)
        assert s["accuracy"] == pytest.approx(70.0)
        assert s["mean_confidence"] == pytest.approx(0.847, abs=1e-6)
        assert s["ece"] == pytest.approx(expected_ece, abs=1e-6)
    # the same network giving logits has the same calibration
    assert calibration_summary(_logit_model(), onehot, LABELS, n_bins=15)["ece"] == pytest.approx(
        expected_ece, abs=1e-6
    )
    assert expected_calibration_error(probs, LABELS.numpy(), n_bins=15) == pytest.approx(expected_ece, abs=1e-9)


def test_declared_outputs_are_checked(onehot) -> None:
    with pytest.raises(InvalidArgumentError, match="`outputs`"):
        calibration_summary(_logit_model(), onehot, LABELS, outputs="probs")
    with pytest.raises(InvalidArgumentError, match="`outputs`"):
        calibration_summary(_softmax_model(), onehot, LABELS, outputs="softmax")
    # declared logits: softmax is applied (the user said so), which is what the old code did silently
    twice = calibration_summary(_softmax_model(), onehot, LABELS, outputs="logits")
    assert twice["mean_confidence"] < 0.576 + 1e-6  # softmax of values in [0, 1] over 3 classes is capped


def test_looks_like_probabilities() -> None:
    assert looks_like_probabilities(_probabilities())
    assert not looks_like_probabilities(torch.log(_probabilities()))
    assert not looks_like_probabilities(torch.full((4, 3), 0.5))


def test_predict_logits_of_a_probability_model_give_back_the_probabilities(onehot) -> None:
    logits = predict_logits(_softmax_model(), onehot)
    assert torch.allclose(logits.softmax(1).double(), _probabilities(), atol=1e-6)


# --- labels outside [0, C) ------------------------------------------------------------------------------------

ONE_BASED = "Expected `labels` < 3 \\(number of classes\\), but got 3 \\(class indices are 0-based"


def _image_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 16, 3)).eval()


@pytest.mark.parametrize("attack", ["ifgsm", "iterll"])
def test_attacks_refuse_one_based_labels_before_torchattacks(attack: str) -> None:
    images, labels = torch.rand(6, 1, 4, 4), torch.tensor([1, 2, 3, 1, 2, 3])
    with pytest.raises(InvalidArgumentError, match=ONE_BASED):
        attack_accuracy(_image_model(), images, labels, epsilons=(0.0, 0.1), attack=attack, progress=False)
    with pytest.raises(InvalidArgumentError, match=ONE_BASED):
        adversarial_examples(_image_model(), images, labels, epsilon=0.1, attack=attack)


def test_calibration_and_report_refuse_one_based_labels(tmp_path) -> None:
    images, labels = torch.rand(6, 1, 4, 4), torch.tensor([1, 2, 3, 1, 2, 3])
    with pytest.raises(InvalidArgumentError, match=ONE_BASED):
        calibration_summary(_image_model(), images, labels)
    with pytest.raises(InvalidArgumentError, match=ONE_BASED):
        characterization_report(
            _image_model(),
            _image_model(),
            (images, labels),
            normalization=None,
            n_examples=None,
            epsilons=(0.0,),
            output_dir=tmp_path,
            progress=False,
        )
    assert not list(tmp_path.iterdir())  # nothing written
    with pytest.raises(InvalidArgumentError, match="`labels` >= 0"):
        calibration_summary(_image_model(), images, labels - 2)


def test_attribution_targets_are_checked_the_same_way() -> None:
    images = torch.rand(3, 1, 4, 4)
    with pytest.raises(InvalidArgumentError, match="Expected `target` < 3 \\(number of classes\\), but got 3"):
        gradcam(_image_model(), images, layer="0", target=torch.tensor([1, 2, 3]))
    with pytest.raises(InvalidArgumentError, match="Expected `target` < 3"):
        input_gradient_attribution(_image_model(), images, target=3)


def test_check_label_range_message() -> None:
    with pytest.raises(InvalidArgumentError, match="but got 10 \\(class indices are 0-based"):
        check_label_range(torch.arange(1, 11), 10)
    assert check_label_range(torch.arange(10), 10).tolist() == list(range(10))


def test_hint_for_one_based_labels_only_when_they_look_one_based() -> None:
    with pytest.raises(InvalidArgumentError, match="but got 9$"):
        check_label_range(torch.tensor([9]), 4)  # out of range, but not shifted by one
    with pytest.raises(InvalidArgumentError, match="subtract 1"):
        check_label_range(torch.tensor([1, 4]), 4)


def test_nan_images_are_refused_as_images() -> None:
    images, labels = torch.rand(6, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    images[2, 0, 1, 1] = float("nan")
    with pytest.raises(ValueError, match="Expected finite `images` in \\[0, 1\\], but got 1 NaN"):
        attack_accuracy(_image_model(), images, labels, epsilons=(0.0, 0.1), progress=False)
    with pytest.raises(ValueError, match="Expected finite `images`"):
        calibration_summary(_image_model(), images, labels)


def test_unavailable_device_is_refused_clearly() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    images, labels = torch.rand(6, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    with pytest.raises(InvalidArgumentError, match="CUDA is not available"):
        attack_accuracy(_image_model(), images, labels, epsilons=(0.0,), device="cuda", progress=False)
    with pytest.raises(InvalidArgumentError, match="CUDA is not available"):
        attribution_maps(_image_model(), images, layer="0", target=labels, device="cuda")


def test_images_the_network_does_not_take_are_named() -> None:
    images, labels = torch.rand(6, 3, 4, 4), torch.tensor([0, 1, 2, 0, 1, 2])  # 3 channels for a 1-channel conv
    with pytest.raises(
        RuntimeError, match="Expected `images` the model accepts, but got a batch of shape \\(6, 3, 4, 4\\)"
    ):
        attack_accuracy(_image_model(), images, labels, epsilons=(0.0,), progress=False)
    with pytest.raises(RuntimeError, match="Expected `images` the model accepts"):
        calibration_summary(_image_model(), images, labels)


@pytest.mark.parametrize("epsilons", [["a"], ["0.05"], [True], "0.1"])
def test_epsilons_must_be_numbers(epsilons) -> None:
    images, labels = torch.rand(4, 1, 4, 4), torch.tensor([0, 1, 2, 0])
    with pytest.raises(ValueError, match="Expected `epsilons` as a non-empty list of numbers"):
        attack_accuracy(_image_model(), images, labels, epsilons=epsilons, progress=False)


def test_ece_confidence_level_takes_any_real_number_and_checks_the_seed() -> None:
    probs = torch.softmax(torch.randn(50, 3, generator=torch.Generator().manual_seed(0)), dim=1)
    labels = torch.arange(50) % 3
    from mintlab.characterize.calibration import ece_with_ci

    got = ece_with_ci(probs, labels, n_bootstrap=20, confidence_level=np.float64(0.9))
    assert got == ece_with_ci(probs, labels, n_bootstrap=20, confidence_level=0.9)
    assert ece_with_ci(probs, labels, n_bootstrap=20, confidence_level=np.float32(0.9))["ci_low"] > 0
    with pytest.raises(InvalidArgumentError, match="Expected `seed`"):
        ece_with_ci(probs, labels, n_bootstrap=20, seed=1.5)
    with pytest.raises(ValueError, match="confidence_level"):
        ece_with_ci(probs, labels, n_bootstrap=20, confidence_level=True)


# --- attacks and attributions on a probability model ---------------------------------------------------------


def _pair() -> tuple[nn.Module, nn.Module]:
    """A small conv classifier and the same network with a final ``nn.Softmax``."""
    logits = _image_model()
    return logits, nn.Sequential(logits, nn.Softmax(dim=1)).eval()


def test_attacks_on_a_softmax_model_equal_those_on_its_logits() -> None:
    """Cross-entropy on log p is cross-entropy on the logits: the same adversarial examples, the same accuracy
    (without the log, the attack would differentiate CE(softmax(p)), a much flatter loss)."""
    torch.manual_seed(1)
    images = torch.rand(16, 1, 4, 4)
    logits_model, probs_model = _pair()
    with torch.no_grad():
        labels = logits_model(images).argmax(1)
    for attack in ("ifgsm", "iterll"):
        kw = {"epsilon": 0.05, "attack": attack, "steps": 5, "alpha": 0.02}
        adv_l, tgt_l = adversarial_examples(logits_model, images, labels, **kw)
        adv_p, tgt_p = adversarial_examples(probs_model, images, labels, **kw)
        assert torch.allclose(adv_l, adv_p, atol=1e-5)
        if tgt_l is not None:
            assert torch.equal(tgt_l, tgt_p)


def test_attributions_on_a_softmax_model_use_log_probabilities() -> None:
    """GradCAM and saliency of the softmax model are those of log p (not of p, whose gradient vanishes as p → 1)."""
    torch.manual_seed(2)
    images = torch.rand(4, 1, 4, 4)
    logits_model, probs_model = _pair()
    target = torch.tensor([0, 1, 2, 0])
    log_model = nn.Sequential(logits_model, nn.LogSoftmax(dim=1)).eval()
    for fn, kw in ((gradcam, {"layer": "0.0"}), (input_gradient_attribution, {})):
        got = fn(probs_model, images, target=target, **kw)
        ref = fn(log_model, images, target=target, **(({"layer": "0.0"}) if kw else {}))
        assert torch.allclose(got, ref, atol=1e-5)
    res = attribution_maps(probs_model, images)
    assert res.method == "gradcam" and res.maps.shape == (4, 4, 4)


def test_a_normalization_of_other_channels_than_the_images_is_named():
    # a 3-channel (mean, std) on 1-channel images broadcast them to 3 channels: a shape error deep in the model,
    # or none at all for a model that takes 3 channels
    from mintlab.characterize import attack_accuracy

    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    images, labels = torch.rand(6, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    with pytest.raises(
        InvalidArgumentError,
        match=r"inputs \(N, 3, \.\.\.\) for a normalization of 3 channel\(s\), "
        r"but got shape \(6, 1, 4, 4\)",
    ):
        attack_accuracy(model, images, labels, epsilons=[0.0], normalization=((0.5,) * 3, (0.2,) * 3))
    one = attack_accuracy(model, images, labels, epsilons=[0.0], normalization=((0.5,), (0.2,)))
    assert one["n_examples"] == 6
