"""Every notebook runs headless through papermill with CI-sized parameters, and what it recorded is checked.

The notebooks run in reading order through :func:`mintlab.notebook.runner.run_notebooks` (the main job's code path),
into one run folder shared by the tests of this module. Notebooks 2–4 share the cached dense network, the
scores and the pruned network (same settings → same cache keys), as they do for a user.
"""

from __future__ import annotations

import json
import math

import pytest

from tests.notebook._run import run_all_ok
from tests.notebook._run import summary as _summary

pytestmark = pytest.mark.slow

#: CI-sized parameters: small samples, coarse groups, short retraining, few attack examples.
CI_PARAMETERS = {
    "n": 300,
    "repeats": 2,
    "z_dims": [1, 30],
    "sample_sizes": [150, 600],
    "samples_per_class": 30,
    "eval_examples": 500,
    "retrain_epochs": 1,
    "max_batches": 60,
    "n_examples": 200,
    "epsilons": [0.0, 2 / 255, 8 / 255],
}
#: Group counts small enough for CI in notebooks 2-4.
CI_PER_NOTEBOOK = {
    "02_layer_pair_pruning": {
        "group_options": {"10 groups": [[10, 10], [10, 10]], "20 groups": [[20, 20], [20, 10]]},
        "groups": "10 groups",
    },
    "03_retraining": {"groups": [[10, 10], [10, 10]]},
    "04_characterization": {
        "groups": [[10, 10], [10, 10]],
        "seeds": [0, 1, 2],
        "n_bootstrap": 200,
        "n_attribution": 2,
        "n_faithfulness": 4,
        "road_percentiles": [50],
    },
}
#: Notebook 4 with CI parameters attacks 200 examples. Per-ε accuracy is not monotone per example (BIM at a larger ε
#: follows another path), so it may rise between budgets; a binomial 3-sd at the worst case p = 0.5:
#: 3 · 100 · √(0.25 / 200) ≈ 10.6 points bounds that noise (robust accuracy is monotone by construction).
CHAR_RISE_ALLOWANCE = 3 * 100 * math.sqrt(0.25 / CI_PARAMETERS["n_examples"])

#: Estimates at n = 300 have a standard deviation of about 0.03–0.05; a bias-free estimator lands within
#: this of the truth (and of 0 under independence) on the average of two repeats.
GMI_TOL = 0.12


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_all_ok(tmp_path_factory.mktemp("notebook_run"), None, CI_PARAMETERS, CI_PER_NOTEBOOK)


def test_all_notebooks_found_and_ran(run: dict) -> None:
    assert list(run["notebooks"]) == ["01_gmi_toy", "02_layer_pair_pruning", "03_retraining", "04_characterization"]
    for stem in run["notebooks"]:
        assert (run["_dir"] / f"{stem}.ipynb").exists()
        assert list((run["_dir"] / stem).rglob("*.png")), f"{stem} wrote no figure"


def test_notebook1_gmi_matches_truth_and_independence(run: dict) -> None:
    s = _summary(run, "01_gmi_toy")
    curve = s["gmi_vs_rho"]
    for truth, mean in zip(curve["truth"], curve["mean"]):
        assert mean == pytest.approx(truth, abs=GMI_TOL)
    assert curve["mean"][-1] > curve["mean"][0] + 0.2  # rises with ρ
    # the conditional curve, the paper's estimator beside the recommended one (issue 24)
    by = s["conditional_gmi_by_estimator"]
    assert {"paper", s["recommended_estimator"]} <= set(by) and by["paper"] == s["conditional_gmi_vs_rho"]
    assert by["scaled"]["mean"] == by["projected"]["mean"]  # with a 1-D z, projecting z is only a rescaling
    rec = by[s["recommended_estimator"]]
    for rho, truth, mean in zip(rec["rho"], rec["truth"], rec["mean"], strict=True):
        if rho <= 0.5:
            assert mean == pytest.approx(truth, abs=GMI_TOL), rho
    rows = {(r["dz"], r["scenario"], r["estimator"]): r["mean"] for r in s["scenarios"]}
    assert abs(rows[(1, "conditionally_independent", "paper")]) < GMI_TOL
    assert rows[(1, "dependent", "paper")] > 0.3
    rec = s["recommended_estimator"]
    # in 30 dims the recommended estimator still separates dependence from conditional independence
    assert rows[(30, "dependent", rec)] - rows[(30, "conditionally_independent", rec)] > 0.15


def test_notebook2_panel_numbers(run: dict) -> None:
    s = _summary(run, "02_layer_pair_pruning")
    assert 80.0 < s["dense_accuracy"] <= 100.0
    # the panel opens on a network that still works: the largest δ within auto_drop points (issue 12, case 5)
    assert s["delta_auto"] and s["pruned_percent"] > 0.0
    assert s["accuracy_masked"] >= s["evaluator_accuracy"] - s["auto_drop"]
    # the δ slider spans the scores that exist, not [0, 1]
    assert s["delta_options"]["min"] == pytest.approx(max(s["min_score"], -1.0), abs=1e-9)  # prunes nothing
    assert s["delta_options"]["max"] <= min(s["max_score"], 1.0) + 1e-9  # beyond it γ holds every layer
    assert s["delta_options"]["n"] >= 9
    sweep = s["delta_sweep"]  # 9 steps over the slider's range
    pruned = [p["pruned_percent"] for p in sweep]
    assert pruned == sorted(pruned), "a larger δ can never prune less"
    assert pruned[-1] > pruned[0] + 10.0
    assert all(v >= 90.0 for v in sweep[-1]["per_layer_percent"].values())  # the right end: up to γ = 0.95
    # pruning (much) more before any retraining cannot leave the masked network better off
    assert sweep[-1]["accuracy_masked"] < sweep[0]["accuracy_masked"] <= s["dense_accuracy"] + 1.0
    # per-layer percentages are percentages of that layer and bounded
    assert all(0.0 <= v <= 100.0 for v in s["per_layer_percent"].values())
    assert not math.isnan(s["pruned_percent"])
    # which scores clear the estimator's noise (permutation null), with the time it took
    assert set(s["above_noise_percent"]) == set(s["per_layer_percent"])
    assert all(0.0 <= v <= 100.0 for v in s["above_noise_percent"].values())
    assert s["null_seconds"] >= 0.0 and s["score_seconds"] >= 0.0


def test_notebook3_equal_sparsity_table(run: dict) -> None:
    s = _summary(run, "03_retraining")
    rows = {r["method"]: r for r in s["table"]}
    assert set(rows) == {"baseline (dense)", "mint", "mint_paper", "magnitude", "random"}
    fc2 = [rows[m]["per_layer_pruned_percent"]["fc2"] for m in ("mint", "mint_paper", "magnitude", "random")]
    assert max(fc2) - min(fc2) < 2.0, f"methods were not compared at equal sparsity: {fc2}"
    assert all(abs(v - 90.0) < 2.0 for v in fc2)
    for m in ("mint", "mint_paper", "magnitude", "random"):
        assert rows[m]["per_layer_pruned_percent"]["fc3"] == 0.0  # skipped
        assert rows[m]["csr_memory_mb"] < rows["baseline (dense)"]["csr_memory_mb"]
        assert 10.0 < rows[m]["accuracy"] <= 100.0


def test_notebook4_characterization(run: dict) -> None:
    s = _summary(run, "04_characterization")
    assert s["attribution_method"] == "saliency"  # the MLP has no conv layer: input gradients, not GradCAM
    methods, seeds = s["methods"], s["seeds"]
    expected = {"original"} | {f"{m}_seed{k}" for m in methods for k in range(len(seeds))}
    assert set(s["networks"]) == expected
    for name, net in s["networks"].items():
        assert 50.0 < net["clean_accuracy"] <= 100.0, name
        assert set(net["attacks"]) == {"ifgsm", "iterll"}
        for res in net["attacks"].values():
            acc, robust = res["accuracy"], res["robust_accuracy"]
            assert res["epsilons"][0] == 0.0 and acc[0] == net["clean_accuracy"]  # ε = 0: no attack, same examples
            assert all(b - a <= CHAR_RISE_ALLOWANCE for a, b in zip(acc, acc[1:], strict=False)), (name, acc)
            assert all(b <= a for a, b in zip(robust, robust[1:], strict=False))
            assert all(r <= a for r, a in zip(robust, acc, strict=True))
        for cal in net["ece"].values():
            # the percentile interval of an upward-biased estimator may sit above the point estimate: not asserted
            assert 0.0 <= cal["ci_low"] <= cal["ci_high"] <= 1.0 and 0.0 <= cal["ece"] <= 1.0 and cal["n_bins"] == 15
        assert net["nll"] > 0.0 and 0.0 <= net["brier"] <= 2.0
    # equal sparsity: every pruned network removed the same share of parameters
    pruned = [r["params_pruned_percent"] for r in s["pruning"]]
    assert max(pruned) - min(pruned) < 0.5
    tested = [r for r in s["verdict"] if r["status"] == "tested"]
    assert tested and all(0.0 <= r["p"] <= 1.0 and r["n"] == len(seeds) for r in tested)
    assert {(r["method"], r["versus"]) for r in s["verdict"]} == (
        {(m, "original") for m in methods} | {(m, "random") for m in methods if m != "random"}
    )
    folder = run["_dir"] / "04_characterization"
    for name in ("attacks.png", "reliability.png", "attribution.png"):
        assert (folder / "characterization_mlp_fashion_mnist" / name).exists()
    assert (folder / "characterization_mlp_fashion_mnist.json").exists() and (folder / "summary.json").exists()
    record = json.loads((run["_dir"] / "run.json").read_text())
    assert record["notebooks"]["04_characterization"]["status"] == "ok"


def test_notebook3_compression_section(run: dict) -> None:
    record = json.loads((run["_dir"] / "03_retraining" / "compression.json").read_text())
    rows = {r["model"]: r for r in record["rows"]}
    assert {"masked", "compacted"} <= set(rows)
    assert rows["compacted"]["params_stored"] <= rows["masked"]["params_stored"]
    assert rows["compacted"]["params_nonzero"] <= rows["masked"]["params_nonzero"]
    assert rows["compacted"]["file_mb"] < rows["masked"]["file_mb"]  # no weight_mask next to the weights
    assert record["compaction"]["max_abs_diff"] <= 1e-5
    assert set(rows["compacted"]["latency_ms"]) == {"1", "256"}
    assert (run["_dir"] / "03_retraining" / "compression.png").exists()
