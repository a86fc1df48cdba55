"""run_comparison(keep_networks=...): the retrained and dense networks kept as checkpoints, loaded back, resumed."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from mintlab.experiments.compare import (
    comparison_preset,
    dense_checkpoint_dir,
    kept_network_path,
    load_dense_network,
    load_kept_network,
)
from mintlab.nets.checkpoints import save_checkpoint, state_dict_hash
from mintlab.nets.train import evaluate
from mintlab.prune.masks import effective_weight
from mintlab.prune.step import dense_accuracy

from .test_compare import TinyResNet, _data, _run

KW = dict(methods=("mint", "random"), levels=(50.0,), seeds=(0, 1), allocations=("mint",))


def test_kept_networks_load_back_to_the_recorded_accuracy(tmp_path: Path) -> None:
    out, kept = tmp_path / "cmp.json", tmp_path / "kept"
    result = _run(out, keep_networks=kept, **KW)
    folder = Path(result["kept_networks"]["folder"])
    assert folder.parent == kept and folder.name == result["kept_networks"]["settings_key"]
    test = _data(40, 1)
    assert len(result["runs"]) == 4
    for r in result["runs"]:
        assert r["network_file"] == str(kept_network_path(folder, r["run_id"]))
        net, info = load_kept_network(r["network_file"], TinyResNet())
        assert not net.training and info["run"]["run_id"] == r["run_id"]
        assert state_dict_hash(net) == r["network_sha256"] == info["state_sha256"]
        # the same network: its accuracy is the recorded one, and its masks still zero the pruned weights
        assert evaluate(net, test)["accuracy"] == pytest.approx(r["accuracy_retrained"])
        zeros = sum(int((effective_weight(m) == 0).sum()) for m in (net.conv2, net.conv3, net.conv4))
        assert zeros > 0 and all(hasattr(m, "weight_mask") for m in (net.conv2, net.conv3, net.conv4))
    for seed in (0, 1):
        dense, info = load_kept_network(kept_network_path(folder, f"dense/{seed}"), TinyResNet())
        assert info["run_id"] == f"dense/{seed}"
        # the dense accuracy is measured as the pruned ones are: on a copy whose BatchNorm is re-estimated
        recorded = result["dense_accuracy"][str(seed)]
        assert dense_accuracy(dense, _data(100, 0), test, bn_images=1024, seed=seed) == pytest.approx(recorded)
        assert not hasattr(dense.conv2, "weight_mask")
    with pytest.raises(ValueError, match="Expected `model`.*user's model.*'custom'"):
        load_kept_network(result["runs"][0]["network_file"])
    # the dense networks are also in the comparison's own cache, where load_dense_network finds them
    cache, preset = out.with_name("cmp_cache"), SimpleNamespace(build=TinyResNet)
    dense = load_dense_network(result["settings"], cache, 1, preset)
    assert dense_checkpoint_dir(result["settings"], cache, 1).is_dir() and not dense.training
    # the dense accuracy is measured as the pruned networks are (BatchNorm re-estimated on a copy)
    measured = dense_accuracy(dense, _data(100, 0), test, bn_images=1024, seed=1)
    assert measured == pytest.approx(result["dense_accuracy"]["1"])
    with pytest.raises(FileNotFoundError, match="dense network for seed 2 at .*seed2"):
        load_dense_network(result["settings"], cache, 2, preset)


def test_a_missing_kept_network_is_redone_and_nothing_else(tmp_path: Path, monkeypatch) -> None:
    train_module = importlib.import_module("mintlab.nets.train")
    out, kept = tmp_path / "cmp.json", tmp_path / "kept"
    first = _run(out, **KW)  # a comparison made without keeping anything ...
    real, calls = train_module.train, []

    def counting(*a, **k):
        calls.append(k.get("checkpoint_dir"))
        return real(*a, **k)

    monkeypatch.setattr(train_module, "train", counting)
    second = _run(out, keep_networks=kept, **KW)  # ... gets its networks kept: every run is redone, same numbers
    assert [r["run_id"] for r in second["runs"]] == [r["run_id"] for r in first["runs"]]
    for a, b in zip(first["runs"], second["runs"], strict=True):
        assert b["accuracy_retrained"] == a["accuracy_retrained"] and Path(b["network_file"]).is_file()
    lost = Path(second["runs"][1]["network_file"])
    lost.unlink()
    calls.clear()
    third = _run(out, keep_networks=kept, **KW)
    retrains = [c for c in calls if c is None]  # dense training has a checkpoint_dir (and is cached)
    assert len(retrains) == 1 and lost.is_file()  # only the run whose file was lost
    assert len(third["runs"]) == 4 and third["runs"][1]["run_id"] == second["runs"][1]["run_id"]
    assert json.loads(out.read_text())["runs"] == json.loads(json.dumps(third["runs"]))
    calls.clear()
    _run(out, keep_networks=kept, **KW)
    assert [c for c in calls if c is None] == []  # all kept: nothing redone


def test_kept_network_paths_and_damaged_files(tmp_path: Path) -> None:
    assert kept_network_path(tmp_path, "global/2/30/taylor") == tmp_path / "global" / "seed2" / "30" / "taylor.pt"
    for bad in ("mint/0/30", "mint/x/30/mint", "dense/a", "mint/0/../mint", 7):
        with pytest.raises(ValueError, match="Expected `run_id`"):
            kept_network_path(tmp_path, bad)
    mlp = comparison_preset("mlp").build()
    path = save_checkpoint(tmp_path / "mlp.pt", mlp, preset="mlp", model_options={"num_classes": 10},
                           state_sha256=state_dict_hash(mlp))  # fmt: skip
    net, _ = load_kept_network(path)  # built from the recorded preset
    assert type(net) is type(mlp) and state_dict_hash(net) == state_dict_hash(mlp)
    with torch.no_grad():
        mlp.fc1.weight.add_(1.0)
    save_checkpoint(tmp_path / "bad.pt", mlp, preset="mlp", model_options={"num_classes": 10},
                    state_sha256=state_dict_hash(net))  # fmt: skip
    with pytest.raises(ValueError, match="hash to"):
        load_kept_network(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError):
        load_kept_network(tmp_path / "none.pt")
    with pytest.raises(TypeError, match="folder path"):
        _run(tmp_path / "x.json", keep_networks=3, **KW)
