"""mintlab.nets.models: shapes, parameter counts against hand-computed figures, layer-pair presets."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mintlab.nets.models import (
    MLP,
    build_model,
    count_parameters,
    resnet50,
    resnet56,
    vgg16_bn,
)
from mintlab.nets.presets import (
    PAPER_SETTINGS,
    layer_pairs,
    paper_layer_names,
    validate_layer_pairs,
)

#: torchvision's ResNet50 with 1000 classes, as published in its model docs.
RESNET50_PARAMS = 25_557_032


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: on a shared 2-core machine more threads only spin against each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def conv_params(c_in: int, c_out: int, k: int = 3, bias: bool = True) -> int:
    return c_in * c_out * k * k + (c_out if bias else 0)


def bn_params(c: int) -> int:
    return 2 * c


@pytest.fixture(scope="module")
def full_models() -> dict[str, nn.Module]:
    return {"mlp": MLP(), "vgg16": vgg16_bn(), "resnet56": resnet56(), "resnet50": resnet50()}


# --------------------------------------------------------------------------- counts


def test_mlp_parameter_count_and_shape():
    model = MLP()
    assert count_parameters(model) == 545_810  # 784·500 + 500 + 500·300 + 300 + 300·10 + 10
    torch.nn.utils.prune.random_unstructured(model.fc2, "weight", amount=0.5)
    assert count_parameters(model) == 545_810  # a pruned weight (weight_orig + mask buffer) counts once
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert model(torch.zeros(3, 784)).shape == (3, 10)
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.2, 0.2]
    model.eval()
    x = torch.randn(2, 784)
    assert torch.equal(model(x), model(x))


def test_vgg16_parameter_count_by_hand(full_models):
    channels = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    c_in, expected = 3, 0
    for c in channels:
        expected += conv_params(c_in, c) + bn_params(c)
        c_in = c
    expected += (512 * 512 + 512) + bn_params(512) + (512 * 10 + 10)
    assert count_parameters(full_models["vgg16"]) == expected == 14_991_946
    convs = [n for n, m in full_models["vgg16"].named_modules() if isinstance(m, nn.Conv2d)]
    assert convs == [f"features.conv{k}" for k in range(1, 14)]


def test_resnet56_parameter_count_by_hand(full_models):
    expected = conv_params(3, 16, bias=False) + bn_params(16)
    c_in = 16
    for c in (16, 32, 64):
        for b in range(9):
            expected += conv_params(c_in if b == 0 else c, c, bias=False) + bn_params(c)
            expected += conv_params(c, c, bias=False) + bn_params(c)
        c_in = c
    expected += 64 * 10 + 10
    assert count_parameters(full_models["resnet56"]) == expected == 853_018
    convs = [m for m in full_models["resnet56"].modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 55  # option-A shortcuts have no convolution


def test_resnet50_parameter_count(full_models):
    assert count_parameters(full_models["resnet50"]) == RESNET50_PARAMS


def test_output_shapes_small_widths():
    x = torch.randn(2, 3, 32, 32)
    assert vgg16_bn(width=0.125)(x).shape == (2, 10)
    assert vgg16_bn(num_classes=7, width=0.125)(x).shape == (2, 7)
    assert resnet56(width=0.25)(x).shape == (2, 10)
    assert resnet56(num_classes=3, width=0.5, in_channels=1)(torch.randn(2, 1, 32, 32)).shape == (2, 3)


def test_full_width_forward(full_models):
    x = torch.randn(2, 3, 32, 32)
    full_models["vgg16"].eval()
    full_models["resnet56"].eval()
    assert full_models["vgg16"](x).shape == (2, 10)
    assert full_models["resnet56"](x).shape == (2, 10)


def test_resnet56_paper_numbering(full_models):
    names = paper_layer_names("resnet56")
    modules = dict(full_models["resnet56"].named_modules())
    assert len(names) == 56 and names[-1] == "fc"
    assert names[0] == "conv1" and names[1] == "layer1.0.conv1" and names[18] == "layer1.8.conv2"
    # Conv 20 and conv 38 open stages 2 and 3: the stride-2 convolutions.
    assert (names[19], names[37]) == ("layer2.0.conv1", "layer3.0.conv1")
    strided = [n for n in names[:-1] if modules[n].stride == (2, 2)]
    assert strided == ["layer2.0.conv1", "layer3.0.conv1"]
    convs = [n for n, m in full_models["resnet56"].named_modules() if isinstance(m, nn.Conv2d)]
    assert convs == names[:-1]  # forward order = paper order


# --------------------------------------------------------------------------- layer pairs


@pytest.mark.parametrize("name", ["mlp", "vgg16", "resnet56", "resnet50"])
def test_presets_validate(full_models, name):
    pairs = layer_pairs(name, include_skipped=True)
    assert validate_layer_pairs(full_models[name], pairs) == pairs
    assert set(layer_pairs(name)) <= set(pairs)


@pytest.mark.parametrize(
    ("builder", "name"), [(lambda: vgg16_bn(width=0.25), "vgg16"), (lambda: resnet56(width=0.25), "resnet56")]
)
def test_presets_validate_at_small_width(builder, name):
    validate_layer_pairs(builder(), layer_pairs(name))


def test_preset_contents():
    assert layer_pairs("mlp") == [("fc1", "fc2"), ("fc2", "fc3")]
    vgg = layer_pairs("vgg16")
    assert vgg[0] == ("features.conv4", "features.conv5") and vgg[-1] == ("features.conv13", "classifier.fc1")
    assert len(vgg) == 10
    r56 = layer_pairs("resnet56")
    names = paper_layer_names("resnet56")
    skipped = {names[n - 1] for n in (16, 20, 38, 54)}
    assert len(r56) == 50 and not skipped & {c for _, c in r56}
    assert {c for _, c in layer_pairs("resnet56", include_skipped=True)} - {c for _, c in r56} == skipped
    r50 = layer_pairs("resnet50")
    convs = [n for n, m in resnet50().named_modules() if isinstance(m, nn.Conv2d)]
    assert sorted(c for _, c in r50) == sorted(convs[1:])  # every conv but the stem is pruned once
    assert ("layer1.2.conv3", "layer2.0.downsample.0") in r50


def test_paper_settings_cover_presets():
    for name, settings in PAPER_SETTINGS.items():
        assert set(settings["groups"]) == set(layer_pairs(name)), name
        assert 0 < settings["delta"] < 1 and settings["samples_per_class"] >= 1
    assert PAPER_SETTINGS["mlp"]["groups"][("fc1", "fc2")] == (250, 100)
    assert PAPER_SETTINGS["mlp"]["groups"][("fc2", "fc3")] == (300, 10)
    assert {c for _, c in PAPER_SETTINGS["vgg16"]["gamma"]} == {f"features.conv{k}" for k in (5, 6, 7, 8)}
    assert set(PAPER_SETTINGS["vgg16"]["gamma"].values()) == {0.45}
    groups56 = PAPER_SETTINGS["resnet56"]["groups"]
    assert ("layer1.8.conv2", "layer2.0.conv1") not in groups56  # child conv 20 is skipped
    assert groups56[("layer2.0.conv1", "layer2.0.conv2")] == (32, 32)
    assert groups56[("layer2.0.conv2", "layer2.1.conv1")] == (32, 32)
    assert groups56[("layer3.8.conv1", "layer3.8.conv2")] == (64, 64)
    assert groups56[("conv1", "layer1.0.conv1")] == (16, 16)


def test_groups_divide_units(full_models):
    """Balanced sequential groups need the unit counts to be multiples of G at width 1."""
    for name in ("mlp", "vgg16", "resnet56"):
        modules = dict(full_models[name].named_modules())
        for (parent, child), (g_parent, g_child) in PAPER_SETTINGS[name]["groups"].items():
            c = modules[child]
            n_in = c.in_channels if isinstance(c, nn.Conv2d) else c.in_features
            n_out = c.out_channels if isinstance(c, nn.Conv2d) else c.out_features
            assert n_in % g_parent == 0 and n_out % g_child == 0, (name, parent, child)


# --------------------------------------------------------------------------- validation errors


def test_validate_layer_pairs_errors():
    model = resnet56(width=0.25)
    with pytest.raises(ValueError, match=r"Unknown child module 'layer1\.0\.con1'.*layer1\.0\.conv1"):
        validate_layer_pairs(model, [("conv1", "layer1.0.con1")])
    with pytest.raises(ValueError, match="Conv2d or Linear.*BatchNorm2d"):
        validate_layer_pairs(model, [("conv1", "bn1")])
    with pytest.raises(ValueError, match=r"does not chain.*gives 4 outputs.*takes 8 inputs"):
        validate_layer_pairs(model, [("conv1", "layer2.0.conv2")])
    with pytest.raises(TypeError, match="pairs"):
        validate_layer_pairs(model, "conv1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pair"):
        validate_layer_pairs(model, [("conv1",)])
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8 * 4, 5), nn.Linear(6, 2))
    assert validate_layer_pairs(net, [["0", "2"]]) == [("0", "2")]  # conv → linear through a flatten
    with pytest.raises(ValueError, match="does not chain"):
        validate_layer_pairs(net, [("2", "3")])
    grouped = nn.Sequential(nn.Conv2d(4, 4, 3), nn.Conv2d(4, 4, 3, groups=2))
    with pytest.raises(ValueError, match="grouped"):
        validate_layer_pairs(grouped, [("0", "1")])


def test_build_model_and_errors(tmp_path):
    assert isinstance(build_model("VGG16_BN", width=0.125), nn.Module)
    with pytest.raises(ValueError, match="resnet56"):
        build_model("resnet65")
    with pytest.raises(ValueError, match="width"):
        vgg16_bn(width=0)
    with pytest.raises(ValueError, match="num_classes"):
        MLP(num_classes=0)
    with pytest.raises(ValueError, match="dropout"):
        MLP(dropout=1.0)


def test_resnet50_local_weights(tmp_path):
    from mintlab.nets.checkpoints import state_dict_hash

    source = resnet50(num_classes=10)
    torch.save({"state_dict": source.state_dict()}, tmp_path / "r50.pt")
    loaded = resnet50(num_classes=10, weights=tmp_path / "r50.pt")
    assert state_dict_hash(loaded) == state_dict_hash(source)
    with pytest.raises(ValueError, match="IMAGENET1K_V1"):
        resnet50(weights="IMAGENET_BEST")
