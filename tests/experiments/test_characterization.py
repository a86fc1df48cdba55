"""The evidence's characterization stage, at a tiny size: it reruns the comparison's runs bit for bit (kept), then
characterizes them against each seed's own dense network."""

from __future__ import annotations

import json

import pytest

from mintlab.nets.data import DEBIAN_FASHION_MNIST
from mintlab.nets.recipes import Recipe

pytestmark = pytest.mark.slow


@pytest.mark.skipif(
    not (DEBIAN_FASHION_MNIST / "t10k-images-idx3-ubyte.gz").is_file(), reason="needs Debian's Fashion-MNIST"
)
def test_characterize_evidence_reproduces_the_comparison_then_characterizes(tmp_path, monkeypatch) -> None:
    import mintlab.experiments.evidence as evidence
    from mintlab.experiments.characterization import characterize_evidence
    from mintlab.experiments.compare import run_comparison

    def tiny(model: str, results) -> dict:
        return dict(
            model=model, width=0.125, dataset="fashion_mnist32", methods=("mint", "magnitude", "random"),
            levels=(50.0,), seeds=(0, 1, 2), allocations=("mint",), samples_per_class=6,
            train_recipe=Recipe(epochs=1, batch_size=64, lr=0.05),
            retrain_recipe=Recipe(epochs=1, batch_size=64, lr=0.01),
            train_size=640, test_size=200, max_batches=4, cache_dir=tmp_path / "cache" / f"compare-{model}",
        )  # fmt: skip

    monkeypatch.setattr(evidence, "comparison_arguments", tiny)
    comparison_name = "cnn_vgg16_fashion_mnist32.json"
    comparison = run_comparison(tmp_path / comparison_name, **tiny("vgg16", tmp_path), plot=False)
    assert len(comparison["runs"]) == 9
    with pytest.raises(ValueError, match="Expected `level` among"):
        characterize_evidence("vgg16", level=60.0, results=tmp_path)
    lines: list[str] = []
    result = characterize_evidence(
        "vgg16", level=50.0, results=tmp_path, methods=("mint", "magnitude", "random"), n_examples=40,
        n_attack_examples=20, epsilons_grey=(0, 8), n_faithfulness=2, n_attribution=2, road_percentiles=(50,),
        baselines=("random",), log=lines.append,
    )  # fmt: skip
    check = result["extra"]["pruning"]["reproduction_check"]
    assert check["reproduced"], check["runs"]  # the same network, scores, masks and seeded retrain: the same numbers
    assert set(check["runs"]) == {r["run_id"] for r in comparison["runs"]}
    assert any("reproduced the comparison's runs: True" in line for line in lines)
    assert result["attribution_method"] == "gradcam"
    pruned = {f"{m}_seed{k}" for m in ("mint", "magnitude", "random") for k in range(3)}
    assert set(result["networks"]) == {"original", "original_seed1", "original_seed2"} | pruned
    written = json.loads((tmp_path / "characterization_vgg16_fashion_mnist32.json").read_text())
    assert written["extra"]["pruning"]["level_percent_of_all_params"] == 50.0
    assert list((tmp_path / "cache" / "characterize-vgg16" / "kept").rglob("*.pt"))

    # the README's generated block carries the characterization's table, from that file alone
    from mintlab.experiments.evidence_report import evidence_markdown

    text = evidence_markdown(tmp_path)
    assert "### VGG16-BN ¼: robustness and calibration of the pruned networks" in text
    row = next(line for line in text.splitlines() if line.startswith("| clean accuracy (%) |"))
    assert f"{written['summary']['mint']['scalars']['clean_accuracy']['mean']:.2f}" in row
    assert "magnitude − mint" in text and "Not run yet (stage `characterize-resnet56`" in text

    # MIPP on the same networks and settings: the dense networks measure as in the comparison
    from mintlab.experiments.mipp import mipp_evidence
    from mintlab.prune.mipp import PredictorConfig

    fast = PredictorConfig(hidden=8, lr=1e-2, batch_size=64, max_epochs=5, refit_epochs=2, patience=1)
    mipp = mipp_evidence(
        "vgg16", results=tmp_path, unit_sparsities=(0.3,), seeds=(0,), methods=("mipp", "l1_units", "mint"),
        mipp_options={"repeats": 2, "config": fast, "max_bisect": 1},
    )  # fmt: skip
    assert mipp["dense_accuracy"]["0"] == comparison["dense_accuracy"]["0"]
    assert sorted(r["method"] for r in mipp["runs"]) == ["l1_units", "mint", "mipp"]
    assert mipp["settings"]["samples_per_class"] == 6 and mipp["settings"]["comparison"] == comparison_name
    assert json.loads((tmp_path / "mipp_vgg16_fashion_mnist32.json").read_text())["runs"] == mipp["runs"]
