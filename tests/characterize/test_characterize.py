"""Tests of mintlab.characterize: attacks, calibration, attribution maps and the report.

Models are tiny (8×8 one-channel images, 4 classes marked by a bright patch in one quadrant) and
trained for well under a second; they take *normalised* inputs like every mintlab model, so the
normalisation path is exercised everywhere.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from captum.attr import LayerAttribution, LayerGradCam
from matplotlib.figure import Figure
from torch import nn
from torch.nn.utils import prune
from torch.utils.data import TensorDataset

from mintlab.characterize import (
    REPORT_FILES,
    adversarial_examples,
    attack_accuracy,
    attribution_maps,
    calibration_summary,
    characterization_report,
    compare_attacks,
    compare_calibration,
    expected_calibration_error,
    find_last_conv,
    gradcam,
    input_gradient_attribution,
    kurakin_schedule,
    plot_attack_curves,
    plot_attribution_grid,
    plot_reliability_diagram,
    reliability_bins,
    sample_examples,
)
from mintlab.characterize._common import predict_logits
from mintlab.nets.data import Normalize
from tests.characterize._toy import NORM, make_data

#: Budgets used by the attack tests; 0.3 breaks both tiny models almost always.
EPSILONS = (0.0, 0.05, 0.1, 0.2, 0.3)
#: A fixed BIM schedule for the tests (10 steps of 0.04 reach every ε above): cheaper than Kurakin's.
STEPS, ALPHA = 10, 0.04
#: BIM at a larger ε is a different attack path, not a superset of the smaller one, so the per-ε
#: accuracy may rise by a few examples; 3 % of 128 examples ≈ 4 examples.
MONOTONE_SLACK = 3.0
#: The strongest attack must remove at least this many accuracy points, or the attack is not working.
MIN_ATTACK_DROP = 50.0
#: float32 rounding of x ± ε: the perturbation may exceed ε by a few ulps.
EPS_ATOL = 1e-6
#: Independent ECE implementation vs ours: both float64, only summation order differs.
ECE_ATOL = 1e-6


def train(model: nn.Module, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    images, labels = make_data(256, seed=0)
    inputs = Normalize(*NORM)(images)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(model(inputs), labels).backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def test_data() -> tuple[torch.Tensor, torch.Tensor]:
    return make_data(128, seed=1)


@pytest.fixture(scope="module")
def cnn() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 16, 4),
    )  # fmt: skip
    return train(net, seed=0)


@pytest.fixture(scope="module")
def mlp() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 4))
    return train(net, seed=0)


@pytest.fixture(scope="module")
def pruned_cnn(cnn: nn.Module) -> nn.Module:
    torch.manual_seed(3)
    net = copy.deepcopy(cnn)
    for name in ("0", "2", "6"):
        prune.random_unstructured(net.get_submodule(name), "weight", amount=0.4)
    return net.eval()


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return 100.0 * float((model(Normalize(*NORM)(images)).argmax(1) == labels).float().mean())


def test_tiny_models_learned_the_task(cnn, mlp, pruned_cnn, test_data):
    for model in (cnn, mlp, pruned_cnn):
        assert accuracy(model, *test_data) >= 90.0


# ----------------------------------------------------------------------------------------- attacks


def test_kurakin_schedule():
    assert kurakin_schedule(4 / 255) == (5, 1 / 255)  # min(4 + 4, 1.25·4) = 5, despite 4/255·255 = 3.99…
    assert kurakin_schedule(8 / 255)[0] == 10
    assert kurakin_schedule(16 / 255)[0] == 20
    assert kurakin_schedule(32 / 255)[0] == 36  # ε·255 + 4 wins above 16
    assert kurakin_schedule(0.1 / 255)[0] == 1  # never 0 steps
    assert kurakin_schedule(0.1, steps=3, alpha=0.5) == (3, 0.5)
    assert kurakin_schedule(np.float32(0.0), steps=3)[0] == 0  # ε = 0: no attack
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="epsilon"):
            kurakin_schedule(bad)


@pytest.mark.parametrize("attack", ["ifgsm", "iterll"])
@pytest.mark.parametrize("model_name", ["cnn", "mlp"])
def test_attack_accuracy_does_not_rise_with_epsilon(request, attack, model_name, test_data):
    model = request.getfixturevalue(model_name)
    images, labels = test_data
    res = attack_accuracy(model, images, labels, epsilons=EPSILONS, attack=attack, steps=STEPS, alpha=ALPHA,
                          normalization=NORM, progress=False)  # fmt: skip
    acc, robust = np.array(res["accuracy"]), np.array(res["robust_accuracy"])
    assert acc[0] == pytest.approx(accuracy(model, images, labels))  # ε = 0 is the clean accuracy
    assert np.all(np.diff(acc) <= MONOTONE_SLACK), acc
    assert np.all(np.diff(robust) <= 0), robust  # monotone by construction
    assert np.all(robust <= acc)
    assert acc[-1] <= acc[0] - MIN_ATTACK_DROP, acc


def test_perturbation_stays_in_the_ball_and_in_unit_range(cnn, test_data):
    images, labels = test_data
    images = images.clone()
    images[:4] = 0.0  # on the lower bound
    images[4:8] = 1.0  # on the upper bound
    for attack in ("ifgsm", "iterll"):
        for eps in (0.03, 0.2):
            adv, _ = adversarial_examples(cnn, images, labels, epsilon=eps, attack=attack, steps=STEPS,
                                          alpha=ALPHA, normalization=NORM)  # fmt: skip
            assert adv.shape == images.shape
            assert float((adv - images).abs().max()) <= eps + EPS_ATOL
            assert float((adv - images).abs().max()) >= eps - EPS_ATOL  # the budget is used
            assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0


def test_iterll_moves_predictions_toward_the_least_likely_class(cnn, test_data):
    images, labels = test_data
    clean_logits = predict_logits(cnn, images, normalization=NORM)
    masked = clean_logits.clone()
    masked[torch.arange(len(labels)), labels] = float("inf")
    expected_targets = masked.argmin(1)  # least likely among the classes other than the true one
    adv, targets = adversarial_examples(cnn, images, labels, epsilon=0.2, attack="iterll", steps=STEPS,
                                        alpha=ALPHA, normalization=NORM)  # fmt: skip
    assert torch.equal(targets, expected_targets)
    p_clean = clean_logits.softmax(1)[torch.arange(len(labels)), targets]
    p_adv = predict_logits(cnn, adv, normalization=NORM).softmax(1)[torch.arange(len(labels)), targets]
    assert float((p_adv > p_clean).float().mean()) >= 0.9
    res = attack_accuracy(cnn, images, labels, epsilons=(0.0, 0.2), attack="iterll", steps=STEPS, alpha=ALPHA,
                          normalization=NORM, progress=False)  # fmt: skip
    assert res["target_hit"][0] == 0.0 and res["target_hit"][1] >= 50.0


def test_normalisation_is_applied_exactly_once(cnn, test_data):
    images, labels = test_data
    inside = nn.Sequential(Normalize(*NORM), cnn)  # takes [0, 1] itself
    kw = dict(epsilon=0.1, attack="ifgsm", steps=STEPS, alpha=ALPHA)
    adv_wrapped, _ = adversarial_examples(cnn, images, labels, normalization=NORM, **kw)
    adv_inside, _ = adversarial_examples(inside, images, labels, normalization=None, **kw)
    torch.testing.assert_close(adv_wrapped, adv_inside, rtol=0, atol=1e-6)
    adv_twice, _ = adversarial_examples(inside, images, labels, normalization=NORM, **kw)
    assert not torch.allclose(adv_twice, adv_inside)  # the check above can tell the difference


def test_attack_restores_training_mode_and_ignores_dropout(mlp, test_data):
    images, labels = test_data
    mlp.train()
    try:
        kw = dict(epsilons=(0.0, 0.1), steps=STEPS, alpha=ALPHA, normalization=NORM, progress=False)
        first = attack_accuracy(mlp, images, labels, seed=5, **kw)
        second = attack_accuracy(mlp, images, labels, seed=6, **kw)
        assert all(m.training for m in mlp.modules())
        assert first == second  # different seeds, same result: dropout was off in attack and prediction
    finally:
        mlp.eval()


def test_attack_input_validation(cnn, test_data):
    images, labels = test_data
    with pytest.raises(ValueError, match="normalize=False"):
        attack_accuracy(cnn, Normalize(*NORM)(images), labels, epsilons=(0.1,), normalization=NORM, progress=False)
    with pytest.raises(ValueError, match="attack"):
        attack_accuracy(cnn, images, labels, attack="pgd", progress=False)
    with pytest.raises(ValueError, match="epsilons"):
        attack_accuracy(cnn, images, labels, epsilons=(0.1, 2.0), progress=False)
    with pytest.raises(ValueError, match="labels"):
        attack_accuracy(cnn, images, labels[:-1], progress=False)
    with pytest.raises(TypeError, match="model"):
        attack_accuracy("cnn", images, labels, progress=False)
    with pytest.raises(ValueError, match="normalization"):
        attack_accuracy(cnn, images, labels, normalization=(0.3,), progress=False)


def test_compare_attacks_table_and_plot(cnn, pruned_cnn, test_data, tmp_path):
    images, labels = test_data[0][:32], test_data[1][:32]
    eps = (0.0, 0.1)
    rows = compare_attacks(cnn, pruned_cnn, images, labels, epsilons=eps, steps=STEPS, alpha=ALPHA,
                           normalization=NORM, progress=False)  # fmt: skip
    expected = [("ifgsm", 0.0), ("ifgsm", 0.1), ("iterll", 0.0), ("iterll", 0.1)]
    assert [(r["attack"], r["epsilon"]) for r in rows] == expected
    assert rows[0]["acc_original"] == pytest.approx(accuracy(cnn, images, labels))
    assert rows[0]["acc_pruned"] == pytest.approx(accuracy(pruned_cnn, images, labels))
    assert {"target_hit_original", "target_hit_pruned"} <= rows[2].keys()
    fig = plot_attack_curves(rows, path=tmp_path / "a.png")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert (tmp_path / "a.png").stat().st_size > 1000
    assert [line.get_label() for line in fig.axes[0].lines] == ["original", "pruned"]


# ------------------------------------------------------------------------------------- calibration


def ece_reference(probs: np.ndarray, labels: np.ndarray, n_bins: int) -> float:
    """Straightforward loop version: bins [lo, hi) (random inputs never sit on an edge or at exactly 1)."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    conf, pred = probs.max(1), probs.argmax(1)
    total = 0.0
    for b in range(n_bins):
        lo, hi = edges[b], edges[b + 1]
        members = [i for i in range(len(conf)) if (lo <= conf[i] < hi) or (b == n_bins - 1 and conf[i] == 1)]
        if members:
            acc = sum(pred[i] == labels[i] for i in members) / len(members)
            mean_conf = sum(conf[i] for i in members) / len(members)
            total += len(members) / len(conf) * abs(acc - mean_conf)
    return total


def test_ece_zero_when_all_correct_at_confidence_one():
    probs = np.eye(5)[[0, 1, 2, 3, 4, 0]]
    assert expected_calibration_error(probs, np.array([0, 1, 2, 3, 4, 0])) == 0.0


def test_ece_hand_computed_cases():
    # 5 × confidence 0.8 with 4 right: |0.8 − 0.8| → 0; with 3 right: 0.2.
    probs = np.array([[0.8, 0.2]] * 5)
    assert expected_calibration_error(probs, np.array([0, 0, 0, 0, 1]), n_bins=10) == pytest.approx(0.0, abs=1e-12)
    assert expected_calibration_error(probs, np.array([0, 0, 0, 1, 1]), n_bins=10) == pytest.approx(0.2)
    # bin (0.8, 0.9]: two at 0.9, one right → 2/4·|0.5 − 0.9|; bin (0.5, 0.6]: two at 0.6, both right → 2/4·0.4.
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.6, 0.4]])
    assert expected_calibration_error(probs, np.array([0, 1, 1, 0]), n_bins=10) == pytest.approx(0.4)
    # with one bin ECE is |accuracy − mean confidence| = |0.75 − 0.75|
    assert expected_calibration_error(probs, np.array([0, 1, 1, 0]), n_bins=1) == pytest.approx(0.0, abs=1e-12)


def test_bin_edge_goes_to_the_upper_bin_as_in_torchmetrics():
    probs = np.array([[0.5, 0.5], [0.75, 0.25], [0.25, 0.75], [1.0, 0.0]])
    labels = np.array([0, 0, 1, 0])
    assert reliability_bins(probs, labels, n_bins=2)["count"].tolist() == [0, 4]  # 0.5 in [0.5, 1); 1.0 shown last
    # 0.5 in [0.5, 0.75), 0.75 in [0.75, 1)
    assert reliability_bins(probs, labels, n_bins=4)["count"].tolist() == [0, 0, 1, 3]


@pytest.mark.parametrize("n_bins", [1, 7, 15, 50])
def test_ece_matches_a_loop_implementation_on_random_inputs(n_bins):
    rng = np.random.default_rng(n_bins)
    logits = rng.normal(scale=3.0, size=(500, 10))
    labels = rng.integers(0, 10, size=500)
    labels[:250] = logits[:250].argmax(1)  # half correct, so accuracy varies across bins
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = ece_reference(probs, labels, n_bins)
    assert expected > 0.01  # a non-trivial case
    assert expected_calibration_error(logits, labels, n_bins=n_bins) == pytest.approx(expected, abs=ECE_ATOL)
    assert expected_calibration_error(torch.tensor(probs), torch.tensor(labels), n_bins=n_bins) == pytest.approx(
        expected, abs=ECE_ATOL
    )


def test_calibration_input_validation():
    probs, labels = np.array([[0.7, 0.3]]), np.array([0])
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(probs, labels, n_bins=0)
    with pytest.raises(ValueError, match="labels"):
        expected_calibration_error(probs, np.array([0, 1]))
    with pytest.raises(TypeError, match="labels"):
        expected_calibration_error(probs, np.array([0.0]))
    with pytest.raises(ValueError, match="shape"):
        expected_calibration_error(np.array([0.7, 0.3]), labels)
    with pytest.raises(ValueError, match="probabilities"):
        expected_calibration_error(np.array([[2.0, 1.0]]), labels, from_logits=False)
    with pytest.raises(ValueError, match="classes"):
        expected_calibration_error(probs, np.array([2]))


def test_calibration_summary_and_diagram(cnn, pruned_cnn, test_data, tmp_path):
    images, labels = test_data
    summary = calibration_summary(cnn, images, labels, normalization=NORM, n_bins=10)
    logits = Normalize(*NORM)(images)
    with torch.no_grad():
        logits = cnn(logits)
    assert summary["ece"] == pytest.approx(expected_calibration_error(logits, labels, n_bins=10), abs=ECE_ATOL)
    assert summary["accuracy"] == pytest.approx(accuracy(cnn, images, labels))
    assert int(summary["bins"]["count"].sum()) == len(labels)
    both = compare_calibration(cnn, pruned_cnn, images, labels, normalization=NORM, n_bins=10)
    fig = plot_reliability_diagram(both, path=tmp_path / "r.png")
    assert len(fig.axes) == 2 and "ECE" in fig.axes[0].get_title()
    assert (tmp_path / "r.png").stat().st_size > 1000


# ------------------------------------------------------------------------------------- attribution


def test_gradcam_shape_sign_and_agreement_with_captum(cnn, test_data):
    images = test_data[0][:16]
    maps = gradcam(cnn, images, layer="2", normalization=NORM)
    assert maps.shape == (16, 8, 8)
    assert float(maps.min()) >= 0.0 and bool(torch.isfinite(maps).all())
    assert float(maps.amax((1, 2)).min()) > 0.0  # every image has some positive evidence
    wrapped = nn.Sequential(Normalize(*NORM), cnn)
    target = wrapped(images).argmax(1)
    raw = LayerGradCam(wrapped, cnn[2]).attribute(images, target=target, relu_attributions=True)
    expected = LayerAttribution.interpolate(raw, (8, 8), "bilinear")[:, 0]
    torch.testing.assert_close(maps, expected.detach(), rtol=1e-5, atol=1e-6)


def test_gradcam_by_name_on_a_pruned_model(cnn, pruned_cnn, test_data):
    images = test_data[0][:8]
    res_o = attribution_maps(cnn, images, normalization=NORM)
    res_p = attribution_maps(pruned_cnn, images, layer=res_o.layer, normalization=NORM)
    assert res_o.method == res_p.method == "gradcam" and res_o.layer == "2" == find_last_conv(pruned_cnn)
    assert res_p.maps.shape == (8, 8, 8) and float(res_p.maps.min()) >= 0.0
    assert not torch.allclose(res_o.maps, res_p.maps)
    assert torch.equal(res_p.targets, predict_logits(pruned_cnn, images, normalization=NORM).argmax(1))


def test_mlp_falls_back_to_input_gradients(mlp, test_data):
    images = test_data[0][:8]
    res = attribution_maps(mlp, images, normalization=NORM)
    assert res.method == "saliency" and res.layer is None
    assert res.maps.shape == (8, 8, 8) and float(res.maps.min()) >= 0.0
    x = images.clone().requires_grad_(True)
    logits = nn.Sequential(Normalize(*NORM), mlp)(x)
    logits[torch.arange(8), logits.argmax(1)].sum().backward()
    torch.testing.assert_close(res.maps, x.grad.abs()[:, 0], rtol=1e-5, atol=1e-7)
    ixg = input_gradient_attribution(mlp, images, method="input_x_gradient", normalization=NORM)
    torch.testing.assert_close(ixg, (x.grad * images).abs()[:, 0], rtol=1e-5, atol=1e-7)


def test_attribution_input_validation(cnn, test_data):
    images = test_data[0][:4]
    with pytest.raises(ValueError, match="conv layers"):
        gradcam(cnn, images, layer="nope", normalization=NORM)
    with pytest.raises(ValueError, match="conv layer"):
        gradcam(cnn, images, layer="6", normalization=NORM)  # a Linear layer
    with pytest.raises(ValueError, match="target"):
        gradcam(cnn, images, layer="2", target=torch.zeros(3, dtype=torch.long), normalization=NORM)
    with pytest.raises(ValueError, match="method"):
        input_gradient_attribution(cnn, images, method="lrp")


def test_attribution_grid(test_data, tmp_path):
    images = test_data[0][:3]
    maps = torch.rand(3, 8, 8)
    fig = plot_attribution_grid(images, maps, maps, labels=[0, 1, 2], path=tmp_path / "g.png")
    assert len(fig.axes) == 9 and (tmp_path / "g.png").exists()
    with pytest.raises(ValueError, match="maps_pruned"):
        plot_attribution_grid(images, maps, maps[:2])


# ------------------------------------------------------------------------------------------ report


def test_sample_examples_is_seeded(test_data):
    a = sample_examples(test_data, 10, seed=0)[2]
    assert np.array_equal(a, sample_examples(test_data, 10, seed=0)[2])
    assert not np.array_equal(a, sample_examples(test_data, 10, seed=1)[2])
    assert len(np.unique(a)) == 10
    assert np.array_equal(sample_examples(test_data, None)[2], np.arange(128))


def test_characterization_report_writes_everything(cnn, pruned_cnn, test_data, tmp_path):
    report = characterization_report(
        cnn, pruned_cnn, test_data, normalization=NORM, epsilons=(0.0, 0.1), n_examples=48, n_bins=10,
        n_gradcam=3, output_dir=tmp_path, progress=False,
    )  # fmt: skip
    on_disk = json.loads((tmp_path / REPORT_FILES["json"]).read_text(), parse_constant=lambda c: pytest.fail(c))
    assert on_disk == report
    assert {"settings", "examples", "accuracy", "attacks", "calibration", "attribution", "figures"} <= report.keys()
    assert len(report["attacks"]) == 4 and report["settings"]["n_examples"] == 48
    assert report["attacks"][0]["acc_original"] == pytest.approx(report["accuracy"]["original"])
    assert report["calibration"]["pruned"]["accuracy"] == pytest.approx(report["accuracy"]["pruned"])
    assert report["attribution"]["method"] == "gradcam" and len(report["attribution"]["pred_pruned"]) == 3
    for key in ("attacks", "reliability", "attribution"):
        assert (tmp_path / REPORT_FILES[key]).stat().st_size > 1000
    with np.load(tmp_path / REPORT_FILES["maps"]) as npz:
        assert npz["original"].shape == (3, 8, 8)
    # the JSON numbers are enough to redraw the figures
    plot_attack_curves(report["attacks"])
    plot_reliability_diagram(report["calibration"])


def test_characterization_report_on_a_dataset_without_conv(mlp, test_data, tmp_path):
    pruned = copy.deepcopy(mlp)
    prune.l1_unstructured(pruned[1], "weight", amount=0.5)
    report = characterization_report(mlp, pruned, TensorDataset(*test_data), normalization=NORM, epsilons=(0.0,),
                                     attacks=("ifgsm",), n_examples=20, n_gradcam=2, progress=False)  # fmt: skip
    assert report["attribution"]["method"] == "saliency" and report["attribution"]["layer"] is None
    assert report["figures"] == {} and list(tmp_path.iterdir()) == []
    json.dumps(report, allow_nan=False)
    assert report["examples"]["indices"] == sample_examples(test_data, 20, seed=0)[2].tolist()
