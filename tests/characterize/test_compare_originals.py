"""characterize_methods with one original per seed (paired "vs original"), attacks on a subset of the sample, and
a verdict against several baselines."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from torch import nn

from mintlab.characterize.compare import characterize_methods, verdict_table

from ._toy import NORM, make_data, pruned_copies, tiny_cnn, train

RUN = dict(epsilons=[0.0, 0.05, 0.2], steps=3, step_size=0.07, n_examples=40, n_bootstrap=50, n_attribution=2,
           n_faithfulness=2, road_percentiles=[50], progress=False, normalization=NORM, model_name="toy",
           dataset_name="quad")  # fmt: skip
LAYERS = ("0", "2", "6")


@pytest.fixture(scope="module")
def originals() -> list[nn.Module]:
    # three dense networks that differ: trained with different seeds and lengths
    return [train(tiny_cnn(), seed=s, steps=n) for s, n in ((0, 60), (1, 30), (2, 8))]


@pytest.fixture(scope="module")
def pruned(originals) -> dict[str, list[nn.Module]]:
    # seed k's pruned networks come from originals[k]
    return {m: [pruned_copies(o, amount, [10 * k + j], LAYERS)[0] for k, o in enumerate(originals)]
            for j, (m, amount) in enumerate((("light", 0.2), ("random", 0.6)))}  # fmt: skip


def test_one_original_per_seed_pairs_the_verdict_by_seed(originals, pruned, tmp_path):
    res = characterize_methods(originals, pruned, make_data(48, seed=1), output_dir=tmp_path,
                               n_attack_examples=16, **RUN)  # fmt: skip
    nets = res["networks"]
    assert {"original", "original_seed1", "original_seed2"} <= set(nets) and res["originals"] == 3
    assert res["settings"]["originals_per_seed"] == 3 and res["settings"]["n_attack_examples"] == 16
    orig_nll = [nets[n]["scalars"]["nll"] for n in ("original", "original_seed1", "original_seed2")]
    assert len(set(orig_nll)) == 3  # three different originals were measured
    light_nll = [nets[f"light_seed{k}"]["scalars"]["nll"] for k in range(3)]
    row = next(r for r in res["verdict"] if (r["measure"], r["method"], r["versus"]) == ("nll", "light", "original"))
    # paired by seed: the difference and p are those of ttest_rel(light_k, original_k), not against original[0]
    assert row["difference"] == pytest.approx(np.mean(np.subtract(light_nll, orig_nll)))
    assert row["p"] == pytest.approx(stats.ttest_rel(light_nll, orig_nll).pvalue)
    assert row["reference_mean"] == pytest.approx(np.mean(orig_nll))
    seeds = res["summary"]["original"]["seeds"]["nll"]
    assert seeds["per_seed"] == orig_nll and res["summary"]["original"]["scalars"]["nll"] == orig_nll[0]
    band = res["summary"]["original"]["curves"]["ifgsm"]["accuracy"]
    assert len(band["mean"]) == 3 and all(lo <= hi for lo, hi in zip(band["min"], band["max"], strict=True))
    for rec in nets.values():  # attacks on the first 16 examples; calibration on all 40
        assert rec["attacks"]["ifgsm"]["n_examples"] == 16
        assert sum(b for b in rec["calibration"]["equal_width"]["bins"]["count"]) == 40


def test_per_seed_originals_bad_input(originals, pruned):
    data = make_data(16, seed=1)
    with pytest.raises(ValueError, match=r"one per seed \(3, paired by position\), but got 2"):
        characterize_methods(originals[:2], pruned, data, output_dir=None, **RUN)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(64, 4))
    with pytest.raises(ValueError, match=r"architecture of original\[0\], but original\[2\] differs"):
        characterize_methods([*originals[:2], mlp], pruned, data, output_dir=None, **RUN)
    with pytest.raises(TypeError, match="non-empty list"):
        characterize_methods([], pruned, data, output_dir=None, **RUN)
    five = train(tiny_cnn(n_classes=5), seed=0, steps=1)
    with pytest.raises(ValueError, match=r"original\[1\] outputs 5"):
        characterize_methods([originals[0], five, originals[2]], pruned, data, output_dir=None, **RUN)
    with pytest.raises(ValueError, match="n_attack_examples"):
        characterize_methods(originals, pruned, data, output_dir=None, n_attack_examples=0, **RUN)
    with pytest.raises(ValueError, match=r"every `baseline` among the methods \['light', 'random'\].*\['mint'\]"):
        characterize_methods(originals, pruned, data, output_dir=None, baseline=["random", "mint"], **RUN)
    with pytest.raises(TypeError, match="`baseline`"):
        verdict_table({"x": 1.0}, {"a": {"x": [1.0, 2.0, 3.0]}}, baseline=[3])


def test_verdict_against_several_baselines_on_known_inputs():
    per_seed = {"mint": {"x": [1.0, 2.0, 3.0]}, "random": {"x": [1.0, 2.0, 3.0]},
                "magnitude": {"x": [3.0, 4.1, 4.9]}}  # fmt: skip
    rows = verdict_table({"x": 0.0}, per_seed, baseline=("random", "mint"))
    by = {(r["method"], r["versus"]): r for r in rows}
    assert set(by) == {("mint", "original"), ("mint", "random"), ("random", "original"), ("random", "mint"),
                       ("magnitude", "original"), ("magnitude", "random"), ("magnitude", "mint")}  # fmt: skip
    # magnitude − mint = (2.0, 2.1, 1.9): a clear, paired difference; mint − random = 0 exactly: none
    assert by[("magnitude", "mint")]["difference"] == pytest.approx(2.0)
    assert by[("magnitude", "mint")]["exceeds_seed_spread"]
    assert by[("mint", "random")]["p"] == 1.0 and not by[("mint", "random")]["exceeds_seed_spread"]
    assert verdict_table({"x": 0.0}, per_seed, baseline="random") == [
        r for r in rows if r["versus"] != "mint"
    ]  # one name = the old behaviour
