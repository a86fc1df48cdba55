"""A network registered in one place is taken by name everywhere: presets, comparison, kept networks, notebooks."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from mintlab.nets.networks import NETWORK_PRESETS, NetworkPreset, get_network, network_names, register_network


class TinyCNN(nn.Module):
    def __init__(self, width: float = 1.0, in_channels: int = 3, num_classes: int = 10) -> None:
        super().__init__()
        c1, c2 = max(1, round(16 * width)), max(1, round(32 * width))
        self.conv1, self.bn1 = nn.Conv2d(in_channels, c1, 3, padding=1), nn.BatchNorm2d(c1)
        self.conv2, self.bn2 = nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2)
        self.fc = nn.Linear(c2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean(dim=(2, 3)))


PAIRS = (("conv1", "conv2"), ("conv2", "fc"))


@pytest.fixture
def tiny():
    preset = register_network(NetworkPreset(
        "tinycnn", build=TinyCNN, pairs=PAIRS, groups={PAIRS[0]: (8, 8), PAIRS[1]: (8, 2)}, samples_per_class=4,
        gamma={"conv2": 0.6}, recipe="quick_cnn", gradcam_layer="conv2",
    ))  # fmt: skip
    yield preset
    NETWORK_PRESETS.pop("tinycnn")


def _data(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    x = torch.randn(n, 1, 8, 8, generator=g) * 0.5
    x[torch.arange(n), 0, y % 8, y // 2] += 3.0
    return TensorDataset(x, y)


def test_the_built_ins_are_the_papers_networks() -> None:
    assert network_names()[:3] == ("mlp", "vgg16", "resnet56")
    vgg = get_network("vgg16")
    assert len(vgg.pairs) == 10 and vgg.samples_per_class == 650 and vgg.gamma["features.conv5"] == 0.45
    assert get_network("resnet56").skip == ("layer1.7.conv1", "layer2.0.conv1", "layer3.0.conv1", "layer3.8.conv1")
    assert not get_network("mlp").has_width and get_network("mlp").network().fc2.weight.shape == (300, 500)
    with pytest.raises(ValueError, match="did you mean 'vgg16'"):
        get_network("vgg61")
    with pytest.raises(ValueError, match="width` 1"):
        get_network("mlp").network(width=0.5)


def test_a_bad_entry_is_refused() -> None:
    with pytest.raises(ValueError, match="every pair"):
        NetworkPreset("x", build=TinyCNN, pairs=PAIRS, groups={PAIRS[0]: (2, 2)}, samples_per_class=4)
    with pytest.raises(ValueError, match=r"γ cap in \[0, 1\]"):
        NetworkPreset("x", build=TinyCNN, pairs=PAIRS, groups=dict.fromkeys(PAIRS, (2, 2)), samples_per_class=4,
                      gamma={"conv2": 1.5})  # fmt: skip
    with pytest.raises(ValueError, match="is registered"):
        register_network(get_network("vgg16"))


def test_one_registration_makes_a_name_of_the_comparison_kept_networks_and_notebooks(tiny, tmp_path) -> None:
    from mintlab.experiments.compare import comparison_preset, load_kept_network, recorded_preset, run_comparison
    from mintlab.notebook.networks import notebook_model

    preset = comparison_preset("tinycnn", width=0.5, in_channels=1)
    assert preset.pairs == list(PAIRS) and preset.groups[PAIRS[0]] == (4, 4) and preset.gamma == {"conv2": 0.6}
    assert preset.build().conv2.out_channels == 16
    result = run_comparison(
        tmp_path / "cmp.json", model="tinycnn", width=0.5, methods=("mint", "magnitude"), levels=(30.0,),
        seeds=(0,), train_data=_data(80, 0), test_data=_data(40, 1), train_epochs=1, retrain_epochs=1,
        device="cpu", plot=False, mint_options={"n_jobs": 1}, level_tolerance=5.0, keep_networks=tmp_path / "kept",
    )  # fmt: skip
    assert result["settings"]["model"] == "tinycnn" and len(result["runs"]) == 2
    assert recorded_preset(result["settings"]).groups == preset.groups
    net, info = load_kept_network(result["runs"][0]["network_file"])  # rebuilt from the registry by name
    assert isinstance(net, TinyCNN) and info["run"]["method"] == "mint"
    nb = notebook_model("tinycnn")
    assert nb.pairs == list(PAIRS) and nb.gradcam_layer == "conv2" and nb.caps == {"conv2": 0.6}


def test_the_command_line_offers_a_registered_network(tiny) -> None:
    from mintlab.experiments.compare import _parser

    assert "tinycnn" in _parser()._option_string_actions["--model"].choices
