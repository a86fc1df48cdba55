"""A finished comparison's masks rebuilt from its cache: they match the runs' records, and a missing score refuses."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from mintlab.experiments.compare import run_comparison
from mintlab.experiments.live_units import comparison_live_units, main


def _data() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 10
    x = torch.randn(60, 1, 28, 28, generator=g) * 0.5
    x[torch.arange(60), 0, y, y] += 3.0
    return TensorDataset(x, y)


@pytest.fixture(scope="module")
def comparison(tmp_path_factory) -> tuple[Path, Path, TensorDataset]:
    folder = tmp_path_factory.mktemp("cmp")
    data = _data()
    run_comparison(
        folder / "mlp.json", model="mlp", width=1.0, groups=10, methods=("mint", "magnitude", "random"),
        levels=(10.0, 25.0), seeds=(0,), allocations=("mint", "global"), samples_per_class=3, skip=["fc3"],
        train_data=data, test_data=data, train_epochs=1, retrain_epochs=1, device="cpu", plot=False,
        mint_options={"n_jobs": 1}, level_tolerance=3.0,
    )  # fmt: skip
    return folder / "mlp.json", folder / "mlp_cache", data


def test_rebuilt_masks_match_every_recorded_run(comparison) -> None:
    results, cache, data = comparison
    rows = comparison_live_units(results, cache_dir=cache, train_data=data)
    recorded = json.loads(results.read_text())["runs"]
    assert [r["run_id"] for r in rows] == [r["run_id"] for r in recorded]
    for row, run in zip(rows, recorded):
        assert row["rebuilt_matches_record"] and row["max_layer_difference_points"] < 1e-6, row["run_id"]
        assert row["accuracy_retrained"] == run["accuracy_retrained"]
        assert set(row["units"]) == {"fc1", "fc2", "fc3"} and row["units"]["fc2"] == 300
        assert all(0 <= row["live"][k] <= row["units"][k] for k in row["units"])
        assert row["structurally_connected"] == (not row["cut"])
        # a plain chain: the forward pass and the unit count agree, and a cut leaves the last layer constant
        assert row["connected"] == row["structurally_connected"]
        assert ("fc3" in row["constant_layers"]) == (not row["connected"])
    only = comparison_live_units(results, cache_dir=cache, train_data=data, levels=[25.0])
    assert {r["run_id"].split("/")[2] for r in only} == {"25"}


def test_a_score_not_in_the_cache_is_refused_not_computed(comparison, tmp_path: Path) -> None:
    results, cache, data = comparison
    partial = tmp_path / "cache"
    shutil.copytree(cache, partial)
    for folder in (partial / "scores").iterdir():
        timing = folder / "seconds.json"
        if timing.is_file() and json.loads(timing.read_text())["method"] == "random":
            shutil.rmtree(folder)
    with pytest.raises(RuntimeError, match="scores of random seed 0"):
        comparison_live_units(results, cache_dir=partial, train_data=data)


def test_other_training_data_do_not_find_the_scores(comparison, tmp_path: Path) -> None:
    results, cache, data = comparison
    shutil.copytree(cache, tmp_path / "cache")  # the scores it computes go there, not into the shared cache
    other = TensorDataset(data.tensors[0] + 1.0, data.tensors[1])
    with pytest.raises(RuntimeError, match="not there"):
        comparison_live_units(results, cache_dir=tmp_path / "cache", train_data=other)


def test_command_line_needs_the_cache(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["results.json"])
    assert "--cache" in capsys.readouterr().err
