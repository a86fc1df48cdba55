"""The notebooks' path to a characterization (python -m mintlab.experiments.characterization), on self-made
Fashion-MNIST files: it prunes every method at equal sparsity per seed, characterizes them, and resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mintlab.experiments.characterization import characterize_workflow, main
from mintlab.nets.recipes import RECIPES, Recipe
from tests._fakedata import write_idx_dataset


@pytest.fixture
def fake_fashion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_idx_dataset(tmp_path / "src", n_train=60, n_test=30, gz=True)
    monkeypatch.setenv("MINTLAB_FASHION_MNIST_SOURCE", str(tmp_path / "src"))
    monkeypatch.setenv("MINTLAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("MINTLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(RECIPES, "quick", Recipe(epochs=1, batch_size=32, lr=0.01))
    return tmp_path


def test_workflow_characterization_end_to_end(fake_fashion: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines: list[str] = []
    kwargs = dict(methods=("magnitude", "random"), seeds=(0, 1, 2), samples_per_class=2, prune_percent=50.0,
                  n_examples=20, n_faithfulness=2, road_percentiles=(50,), epsilons_grey=(0, 8),
                  output_dir=fake_fashion / "out")  # fmt: skip
    result = characterize_workflow(log=lines.append, **kwargs)
    assert result["methods"] == {"magnitude": 3, "random": 3}
    records = result["extra"]["pruning"]["records"]
    for seed in range(3):  # the second method matches the first's pruned share, seed by seed
        assert records["random"][seed]["params_pruned_percent"] == pytest.approx(
            records["magnitude"][seed]["params_pruned_percent"], abs=0.5
        )
    saved = json.loads((fake_fashion / "out" / "characterization_mlp_fashion_mnist.json").read_text())
    assert saved["verdict"] == json.loads(json.dumps(result["verdict"]))
    assert sum("seed" in line and "done" in line for line in lines) == 3
    # a rerun through the command line reuses every cached step and measured network: same verdict
    argv = ["--methods", "magnitude", "random", "--samples-per-class", "2", "--prune-percent", "50",
            "--n-examples", "20", "--n-faithfulness", "2", "--road-percentiles", "50", "--epsilons-grey", "0", "8",
            "--output-dir", str(fake_fashion / "out")]  # fmt: skip
    assert main(argv) == 0
    again = json.loads((fake_fashion / "out" / "characterization_mlp_fashion_mnist.json").read_text())
    assert again["verdict"] == saved["verdict"] and "characterized in" in capsys.readouterr().out


def test_prune_phase_only_returns_nothing(fake_fashion: Path) -> None:
    out = characterize_workflow(methods=("magnitude", "random"), seeds=(0,), samples_per_class=2, prune_only=True,
                                output_dir=fake_fashion / "out")  # fmt: skip
    assert out is None and not (fake_fashion / "out").exists()
