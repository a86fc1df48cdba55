"""The notebooks' networks: per-model defaults, the evidence's network when it is there, a small one otherwise."""

from __future__ import annotations

import pytest
import torch

from mintlab.nets.checkpoints import state_dict_hash
from mintlab.nets.recipes import RECIPES, Recipe
from mintlab.notebook.networks import NOTEBOOK_MODELS, notebook_model, notebook_network
from mintlab.prune.groups import group_specs
from mintlab.utils.checks import InvalidArgumentError


def test_every_model_has_settings_its_layers_accept() -> None:
    from mintlab.nets.models import build_model
    from mintlab.prune.activations import pair_geometry
    from mintlab.prune.groups import resolve_groups

    for name, m in NOTEBOOK_MODELS.items():
        net = build_model(name) if name == "mlp" else build_model(name, width=m.width, in_channels=1)
        modules = dict(net.named_modules())
        geoms = [pair_geometry(net, p) for p in m.pairs]
        for label, spec in m.group_options.items():
            resolve_groups(geoms, spec)  # every G choice fits every pair's layers
            assert set(group_specs(m.pairs, spec)) == set(m.pairs), label
        assert all(c in {c for _, c in m.pairs} for c in m.skip)
        assert m.gradcam_layer is None or m.gradcam_layer in modules
        assert m.recipe in RECIPES and m.small_recipe in RECIPES
    with pytest.raises(InvalidArgumentError, match="model_name"):
        notebook_model("alexnet")


def test_a_missing_evidence_network_trains_a_small_one_and_says_so(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MINTLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(RECIPES, "quick_cnn", Recipe(epochs=1, batch_size=64, lr=0.05))
    net, train, test, info = notebook_network("vgg16", train_size=128, networks=tmp_path / "none", progress=False)
    assert info["source"] == "trained here" and "small one trained here" in info["message"]
    assert (
        len(train) == 128
        and len(test) == NOTEBOOK_MODELS["vgg16"].test_size
        and tuple(train[0][0].shape) == (1, 32, 32)
    )
    assert "_n128_quick_cnn_seed0" in info["checkpoint"]
    again, *_, info2 = notebook_network("vgg16", train_size=128, networks=tmp_path / "none", progress=False)
    assert state_dict_hash(again) == state_dict_hash(net)  # cached: the second call loads it
    # a finished network in the evidence folder is taken instead
    evidence = tmp_path / "evidence"
    monkeypatch.setitem(RECIPES, "cnn_fashion", Recipe(epochs=1, batch_size=64, lr=0.05))
    import importlib

    from mintlab.nets.pretrained import pretrained

    module = importlib.import_module("mintlab.nets.pretrained")  # the module (mintlab.nets.pretrained is the function)
    monkeypatch.setattr(module, "_data", lambda dataset, root, train_size=None: (train, test))
    trained, _ = pretrained("vgg16", "fashion_mnist32", width=0.25, cache_dir=evidence, progress=False)
    got, *_, info3 = notebook_network("vgg16", networks=evidence, progress=False)
    assert info3["source"] == "evidence" and state_dict_hash(got) == state_dict_hash(trained)
    assert torch.equal(got.classifier.fc2.weight, trained.classifier.fc2.weight)


def test_settings_take_the_models_defaults_unless_given() -> None:
    from mintlab.notebook.networks import SETTINGS, notebook_settings

    mlp = notebook_settings("mlp")
    assert mlp["skip"] == ["fc3"] and mlp["groups"] == "25 groups" and mlp["group_spec"] == [[25, 25], [25, 10]]
    assert mlp["prune_percent"] == 90.0 and mlp["dataset"] == "fashion_mnist" and mlp["gradcam_layer"] is None
    vgg = notebook_settings("vgg16", samples_per_class=None, skip=None)
    assert vgg["dataset"] == "fashion_mnist32" and vgg["skip"] == [] and len(vgg["pairs"]) == 10
    assert (
        vgg["gradcam_layer"] == "features.relu13" and vgg["max_batches"] == NOTEBOOK_MODELS["vgg16"].retrain_max_batches
    )
    given = notebook_settings("resnet56", samples_per_class=7, groups=2, gamma=1.0, skip=["layer3.8.conv2"])
    assert (given["samples_per_class"], given["group_spec"], given["gamma"]) == (7, 2, 1.0)
    assert given["skip"] == ["layer3.8.conv2"] and given["gradcam_layer"] == "layer3"
    own = notebook_settings("vgg16", group_options={"two": 2, "four": 4}, groups="four")
    assert own["group_spec"] == 4 and set(own) == set(SETTINGS) | {"group_spec", "pairs", "dataset"}
    with pytest.raises(ValueError, match="Expected `groups` among"):
        notebook_settings("vgg16", groups="G = 99")
    with pytest.raises(InvalidArgumentError, match="notebook settings"):
        notebook_settings("vgg16", sample_per_class=10)


def test_raw_test_data_is_in_pixel_space_with_the_models_normalisation() -> None:
    from mintlab.nets.data import DEBIAN_FASHION_MNIST, NORMALIZATION
    from mintlab.notebook.networks import raw_test_data

    if not (DEBIAN_FASHION_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    data, normalization = raw_test_data("vgg16")
    x, y = data[0]
    assert tuple(x.shape) == (1, 32, 32) and 0.0 <= float(x.min()) and float(x.max()) <= 1.0 and len(data) == 10_000
    assert normalization == NORMALIZATION["fashion_mnist32"]
    mlp, norm = raw_test_data("mlp")
    assert tuple(mlp[0][0].shape) == (1, 28, 28) and norm == NORMALIZATION["fashion_mnist"]
