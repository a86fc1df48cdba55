"""Tests of mintlab.characterize.compare: statistics with known answers, ROAD on a toy model whose salient pixels
are known, the end-to-end comparison (files, resume after a failure) and bad inputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from mintlab.characterize import compare
from mintlab.characterize.compare import (
    MIN_SEEDS,
    characterize_methods,
    check_networks,
    epsilon_at_accuracy,
    paired_test,
    road_faithfulness,
    t_interval,
    verdict_table,
)

from ._toy import NORM, make_data, pruned_copies, tiny_cnn, train

#: Small settings for the end-to-end runs: a fixed BIM schedule (5 steps of 0.04 reach ε = 0.2), few examples.
RUN = dict(epsilons=[0.0, 0.05, 0.1, 0.2], steps=5, step_size=0.04, n_examples=48, n_bootstrap=100, n_attribution=2,
           n_faithfulness=3, road_percentiles=[50], progress=False)  # fmt: skip
LAYERS = ("0", "2", "6")


@pytest.fixture(scope="module")
def cnn() -> nn.Module:
    return train(tiny_cnn(), seed=0)


@pytest.fixture(scope="module")
def pruned(cnn) -> dict[str, list[nn.Module]]:
    return {"light": pruned_copies(cnn, 0.2, [1, 2, 3], LAYERS), "random": pruned_copies(cnn, 0.5, [4, 5, 6], LAYERS)}


# ------------------------------------------------------------------------------------------- statistics


def test_epsilon_at_accuracy_interpolates_the_first_crossing():
    assert epsilon_at_accuracy([0.0, 0.1, 0.2], [90.0, 70.0, 30.0]) == pytest.approx(0.15)
    assert epsilon_at_accuracy([0.0, 0.1, 0.2, 0.3], [90.0, 40.0, 60.0, 10.0]) == pytest.approx(0.08)  # first one
    assert epsilon_at_accuracy([0.0, 0.1], [50.0, 10.0]) == 0.0
    assert epsilon_at_accuracy([0.0, 0.1], [90.0, 51.0]) is None  # censored: beyond the grid


def test_t_interval_by_hand():
    r = t_interval([2.0, 4.0, 6.0, 8.0], alpha=0.05)
    sd = math.sqrt(20 / 3)
    half = stats.t.ppf(0.975, 3) * sd / 2
    assert r["mean"] == 5.0 and r["sd"] == pytest.approx(sd)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((5 - half, 5 + half))
    assert t_interval([1.0, None, 3.0])["n"] == 2  # None (censored) is left out


def test_paired_test_on_constructed_inputs():
    base = np.array([0.3, 0.5, 0.4, 0.6, 0.2])
    # a constant shift with small jitter: far beyond the spread
    shifted = paired_test(base + 0.1 + np.array([0.001, -0.001, 0.002, 0.0, -0.002]), base)
    assert shifted["exceeds_seed_spread"] and shifted["p"] < 1e-5 and shifted["difference"] == pytest.approx(0.1)
    # differences that cancel: mean 0 → t = 0, p = 1
    null = paired_test(base + np.array([0.1, -0.1, 0.05, -0.05, 0.0]), base)
    assert not null["exceeds_seed_spread"] and null["t"] == pytest.approx(0.0) and null["p"] == pytest.approx(1.0)
    # d = (1, 2, 3): t = 2 / (1 / √3), p from t with 2 df
    by_hand = paired_test([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    assert by_hand["t"] == pytest.approx(2 * math.sqrt(3))
    assert by_hand["p"] == pytest.approx(2 * stats.t.sf(2 * math.sqrt(3), 2))
    assert not by_hand["exceeds_seed_spread"]  # p ≈ 0.074: 3 seeds with this spread cannot tell
    # a single reference number (the original network) = one-sample t-test of the differences
    one = paired_test([1.2, 1.5, 1.1, 1.4], 1.0)
    assert one["p"] == pytest.approx(stats.ttest_1samp([0.2, 0.5, 0.1, 0.4], 0.0).pvalue)
    # no spread: decided without a t statistic
    assert paired_test([1.0, 1.0, 1.0], [0.5, 0.5, 0.5])["p"] == 0.0
    assert paired_test([1.0, 1.0, 1.0], 1.0)["p"] == 1.0


def test_paired_test_needs_enough_seeds():
    with pytest.raises(ValueError, match=f"at least {MIN_SEEDS} seeds"):
        paired_test([1.0, 2.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="same length"):
        paired_test([1.0, 2.0, 3.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="finite"):
        paired_test([1.0, float("nan"), 3.0], 0.0)


def test_verdict_table_marks_undefined_comparisons():
    rows = verdict_table(
        {"m": 1.0, "e": 0.1},
        {"a": {"m": [2.0, 2.1, 1.9], "e": [0.1, None, 0.1]}, "random": {"m": [1.0, 1.1, 0.9], "e": [0.2, 0.2, 0.3]}},
    )
    by = {(r["measure"], r["method"], r["versus"]): r for r in rows}
    assert set(by) == {
        ("m", "a", "original"),
        ("m", "a", "random"),
        ("m", "random", "original"),
        ("e", "a", "original"),
        ("e", "a", "random"),
        ("e", "random", "original"),
    }
    assert by[("m", "a", "random")]["difference"] == pytest.approx(1.0) and by[("m", "a", "random")]["p"] == 0.0
    assert by[("e", "a", "original")]["status"].startswith("undefined")


# ------------------------------------------------------------------------------------------- faithfulness


class PatchModel(nn.Module):
    """Two classes; the class-0 logit depends only on the mean of the 3×3 centre patch: the true salient pixels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = 20.0 * (x[:, 0, 3:6, 3:6].mean((1, 2)) - 0.5)
        return torch.stack([s, torch.zeros_like(s)], 1)


def test_road_ranks_the_true_salient_pixels_first():
    g = torch.Generator().manual_seed(0)
    images = 0.1 + 0.05 * torch.rand(6, 1, 10, 10, generator=g)
    images[:, :, 3:6, 3:6] = 0.9
    labels = torch.zeros(6, dtype=torch.long)
    true = torch.zeros(6, 10, 10)
    true[:, 3:6, 3:6] = 1.0
    true += 1e-3 * torch.rand(6, 10, 10, generator=g)  # break ties outside the patch
    scores = {name: road_faithfulness(PatchModel(), images, labels, maps, percentiles=[50, 90])
              for name, maps in (("true", true), ("random", torch.rand(6, 10, 10, generator=g)),
                                 ("reversed", 1.0 - true))}  # fmt: skip
    # removing the patch first kills the class-0 probability (≈ 1 → ≈ 0); removing it last changes nothing
    assert scores["true"]["morf"] < -0.9 and abs(scores["true"]["lerf"]) < 0.05
    assert scores["true"]["road"] > 0.45
    assert scores["reversed"]["road"] < -0.45
    assert abs(scores["random"]["road"]) < 0.25 < scores["true"]["road"] - scores["random"]["road"]
    again = road_faithfulness(PatchModel(), images, labels, true, percentiles=[50, 90])
    assert again == scores["true"]  # the imputation noise is seeded


def test_road_input_validation():
    images, labels = torch.rand(2, 1, 10, 10), torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match="maps"):
        road_faithfulness(PatchModel(), images, labels, torch.rand(2, 9, 9))
    with pytest.raises(ValueError, match="percentiles"):
        road_faithfulness(PatchModel(), images, labels, torch.rand(2, 10, 10), percentiles=[0, 50])


# ------------------------------------------------------------------------------------------- end to end


def test_characterize_methods_records_and_writes_everything(cnn, pruned, tmp_path):
    data = make_data(64, seed=1)
    res = characterize_methods(cnn, pruned, data, normalization=NORM, model_name="toy", dataset_name="quad",
                               output_dir=tmp_path, **RUN)  # fmt: skip
    on_disk = json.loads((tmp_path / "characterization_toy_quad.json").read_text(),
                         parse_constant=lambda c: pytest.fail(c))  # fmt: skip
    assert on_disk == res
    for name in ("attacks", "reliability", "attribution"):
        assert (tmp_path / "characterization_toy_quad" / f"{name}.png").stat().st_size > 1000
    assert len(list((tmp_path / "characterization_toy_quad" / "networks").glob("*.json"))) == 7
    nets = res["networks"]
    for rec in nets.values():
        for attack in ("ifgsm", "iterll"):
            assert rec["attacks"][attack]["accuracy"][0] == pytest.approx(rec["clean_accuracy"])  # ε = 0 is clean
        for binning in ("equal_width", "equal_mass"):
            cal = rec["calibration"][binning]
            assert 0.0 <= cal["ci_low"] <= cal["ci_high"] <= 1.0 and cal["n_bins"] == 15
    assert res["attribution_method"] == "gradcam"
    # the summary's per-seed values are the networks' own
    assert res["summary"]["light"]["scalars"]["nll"]["per_seed"] == [
        nets[f"light_seed{k}"]["scalars"]["nll"] for k in range(3)
    ]
    rows = {(r["measure"], r["method"], r["versus"]) for r in res["verdict"]}
    assert ("road", "light", "random") in rows and ("ece_equal_mass", "random", "original") in rows
    assert ("road", "random", "random") not in rows


def test_a_failing_network_loses_nothing_and_the_next_call_resumes(cnn, pruned, tmp_path, monkeypatch):
    data = make_data(64, seed=1)
    real = compare.characterize_network
    calls: list[int] = []
    crash = [True]

    def flaky(model, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3 and crash and crash.pop():
            raise RuntimeError("simulated crash")
        return real(model, *args, **kwargs)

    monkeypatch.setattr(compare, "characterize_network", flaky)
    kw = dict(normalization=NORM, model_name="toy", dataset_name="quad", output_dir=tmp_path, **RUN)
    with pytest.raises(RuntimeError, match="light_seed1.*simulated crash.*2 networks measured before it are kept"):
        characterize_methods(cnn, pruned, make_data(64, seed=1), **kw)
    kept = sorted(p.stem for p in (tmp_path / "characterization_toy_quad" / "networks").glob("*.json"))
    assert kept == ["light_seed0", "original"] and not crash
    calls.clear()
    res = characterize_methods(cnn, pruned, data, **kw)
    assert len(calls) == 5  # the two kept networks were not measured again
    calls.clear()
    assert characterize_methods(cnn, pruned, data, **kw) == res and not calls  # everything reused
    kw["n_bins"] = 10  # other settings → nothing reused
    characterize_methods(cnn, pruned, data, **kw)
    assert len(calls) == 7


# ------------------------------------------------------------------------------------------- bad input


def test_bad_inputs_get_clear_errors(cnn, pruned):
    data = make_data(16, seed=1)
    kw = dict(normalization=NORM, model_name="toy", dataset_name="quad", output_dir=None, **RUN)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(64, 4))
    with pytest.raises(ValueError, match=r"architecture of `original`.*pruned\['light'\]\[1\]"):
        characterize_methods(cnn, {**pruned, "light": [pruned["light"][0], mlp, pruned["light"][2]]}, data, **kw)
    five = train(tiny_cnn(n_classes=5), seed=0, steps=1)  # same modules, 5 outputs
    with pytest.raises(ValueError, match="5"):
        characterize_methods(cnn, {**pruned, "odd": [five] * 3}, data, **kw)
    with pytest.raises(ValueError, match="non-empty list"):
        characterize_methods(cnn, pruned, data, **{**kw, "epsilons": []})
    with pytest.raises(ValueError, match="increasing"):
        characterize_methods(cnn, pruned, data, **{**kw, "epsilons": [0.1, 0.0]})
    with pytest.raises(ValueError, match=f"at least {MIN_SEEDS} seeds.*got 2 for 'light'"):
        characterize_methods(cnn, {**pruned, "light": pruned["light"][:2]}, data, **kw)
    with pytest.raises(ValueError, match="same number of seeds"):
        check_networks(cnn, {"a": pruned["light"], "b": pruned["light"] + pruned["random"][:1]})
    with pytest.raises(TypeError, match="list of networks"):
        check_networks(cnn, {"a": cnn})
    with pytest.raises(ValueError, match="at least one method"):
        check_networks(cnn, {})
    with pytest.raises(ValueError, match="attack"):
        characterize_methods(cnn, pruned, data, **{**kw, "attacks": ["pgd"]})


def test_holm_adjusted_steps_down_and_keeps_the_order():
    """Holm (1979): sorted p times m, m − 1, ...; never below the one before; capped at 1; in the input's order.
    Bonferroni would keep only p <= 0.05 / 4 = 0.0125, Holm also keeps the second when 3 · p(2) < 0.05."""
    from mintlab.characterize.compare import holm_adjusted

    p = [0.30, 0.004, 0.015, 0.012]
    assert holm_adjusted(p) == pytest.approx([0.30, 0.016, 0.036, 0.036])  # 4·.004, 3·.012, max(2·.015, .036)
    assert [a < 0.05 for a in holm_adjusted(p)] == [False, True, True, True]
    assert holm_adjusted([0.9, 0.8]) == [1.0, 1.0] and holm_adjusted([]) == []
    for bad in ([0.5, float("nan")], [1.2], [-0.1]):
        with pytest.raises(ValueError, match="p-values in"):
            holm_adjusted(bad)
