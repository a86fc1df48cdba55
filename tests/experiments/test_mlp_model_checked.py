"""run_mlp_experiment(model=...): an MLP of other widths is pruned as given; a network without fc1 → fc2 → fc3 is
refused before anything runs; user data are keyed by their content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import mintlab.experiments.mlp as experiment
from mintlab.experiments.mlp import run_mlp_experiment
from mintlab.nets.models import MLP

GROUPS = {("fc1", "fc2"): (10, 4), ("fc2", "fc3"): (6, 10)}


def _data(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    x = torch.randn(n, 1, 28, 28, generator=g) * 0.5
    x[torch.arange(n), 0, y, y] += 3.0
    return TensorDataset(x, y)


def _run(out: Path, **kw):
    torch.manual_seed(0)
    args = dict(samples_per_class=5, groups=GROUPS, levels=(50.0,), methods=("mint", "magnitude"),
                both_pairs_level=None, retrain_epochs=1, max_batches=1, model=MLP(hidden=(20, 12)),
                train_data=_data(60, 0), test_data=_data(30, 1), progress=False, plot=False,
                mint_options={"n_jobs": 1})
    return run_mlp_experiment(out, **{**args, **kw})


class _OwnMLP(nn.Module):
    """Not the built-in class, but the names the experiment prunes by."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 16), nn.Linear(16, 12), nn.Linear(12, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x.flatten(1))))))


@pytest.mark.parametrize("make", [lambda: MLP(hidden=(20, 12)), _OwnMLP], ids=["narrow MLP", "own class"])
def test_a_given_mlp_shaped_network_is_pruned_as_given(tmp_path: Path, monkeypatch, make) -> None:
    nets = []
    real = experiment.prune_and_retrain

    def spy(net, *a, **k):
        nets.append(net)
        return real(net, *a, **k)

    monkeypatch.setattr(experiment, "prune_and_retrain", spy)
    model = make()
    result = _run(tmp_path / "mlp.json", model=model)
    assert len(result["runs"]) == 2 and len(nets) == 2
    for net in nets:  # its own class and widths, never the default 784-500-300-10 MLP
        assert type(net) is type(model) and net.fc2.weight.shape == model.fc2.weight.shape
    mint, mag = result["runs"]
    assert mint["fc2_pruned_percent"] > 0 and mag["fc3_pruned_percent"] == 0.0


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (nn.Sequential(nn.Flatten(), nn.Linear(784, 20), nn.ReLU(), nn.Linear(20, 10)), r"without Linear \['fc1'"),
        ("mlp", r"Expected `model` as an MLP-shaped network.*or None, but got str"),
    ],
    ids=["sequential", "string"],
)
def test_a_network_without_fc1_fc2_fc3_is_refused_before_anything_runs(tmp_path: Path, model, message) -> None:
    with pytest.raises(ValueError, match=message):
        _run(tmp_path / "mlp.json", model=model)
    assert list(tmp_path.iterdir()) == []


def test_only_one_of_train_and_test_data_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"both or neither.*`train_data` without"):
        _run(tmp_path / "mlp.json", test_data=None)
    assert list(tmp_path.iterdir()) == []


def test_other_data_of_the_same_sizes_is_not_given_the_first_data_s_runs(tmp_path: Path) -> None:
    out = tmp_path / "mlp.json"
    first = _run(out, methods=("magnitude",))
    assert first["settings"]["dataset"]["name"] == "user"
    with pytest.raises(ValueError, match=r"other settings \(differing: \['dataset'"):
        _run(out, methods=("magnitude",), train_data=_data(60, 5), test_data=_data(30, 6))
    assert json.loads(out.read_text())["runs"] == json.loads(json.dumps(first["runs"]))
