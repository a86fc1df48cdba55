"""``scripts/convert_results.py``: schema-1 results files become schema 2 with every number where it belongs.

Pure JSON (no torch): (a) hand-written fixtures of every old shape, each old value checked at its mapped
place exactly; (b) every real results file under ``results/`` converts (the schema-1 file itself, or, once
converted on disk, its schema-1 version at git ``HEAD``) into valid run records, numbers unchanged, nothing
dropped, and a converted file on disk is exactly what the script makes of that version.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "convert_results.py"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _load_script() -> Any:
    name = "_convert_results_under_test"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


cr = _load_script()
RunRecord = cr.RunRecord
FIELDS = [f.name for f in dataclasses.fields(RunRecord)]


# --------------------------------------------------------------------------- helpers


def leaves(obj: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """Every scalar leaf (numbers, bools, strings, None) with its path of keys / list indices."""
    if isinstance(obj, dict):
        return [x for k, v in obj.items() for x in leaves(v, (*path, k))]
    if isinstance(obj, list):
        return [x for i, v in enumerate(obj) for x in leaves(v, (*path, i))]
    return [(path, obj)]


def at(obj: Any, path: tuple) -> Any:
    for k in path:
        obj = obj[k]
    return obj


def has(obj: Any, path: tuple) -> bool:
    try:
        at(obj, path)
    except (KeyError, IndexError, TypeError):
        return False
    return True


def same(a: Any, b: Any) -> bool:
    """Equal and of the same JSON type (an int stays an int, a bool a bool)."""
    return type(a) is type(b) and a == b


def scalar_multiset(obj: Any) -> collections.Counter:
    """The non-null scalar leaves, tagged by type, as a multiset."""
    return collections.Counter((type(v).__name__, v) for _, v in leaves(obj) if v is not None)


def assert_nothing_dropped(old: Any, new: Any) -> None:
    missing = scalar_multiset(old) - scalar_multiset(new)
    assert not missing, f"values of the old file missing from the converted one: {list(missing.items())[:10]}"


def assert_schema2(new: dict, kind: str) -> None:
    assert new["schema_version"] == 2
    assert new["kind"] == kind
    assert list(new)[:3] == ["schema_version", "kind", "provenance"]
    prov = new["provenance"]
    assert prov["commit"] is None and prov["dirty"] is None
    assert prov["note"] == cr.NOTE
    assert "converted_at_commit" in prov
    if "runs" in new:
        for run in new["runs"]:
            assert list(run) == FIELDS, "fixed keys, in the record's order"
            assert RunRecord.from_json(run).to_json() == run
            parts = run["run_id"].split("/")
            assert len(parts) == 4, run["run_id"]
            assert parts[0] == (run["allocation"] or "-")
            assert parts[1] == str(run["seed"])
            assert parts[3].split("@")[0] == run["method"]
            assert set(run["seconds"]) <= set(cr.STAGES)
            assert all(isinstance(v, float) for v in run["seconds"].values())
        ids = [r["run_id"] for r in new["runs"]]
        assert len(ids) == len(set(ids)), "run ids unique"


def check_mapping(old_run: dict, new_run: dict, mapping: dict[str, list[tuple]]) -> None:
    """Every leaf of ``old_run`` at its mapped path(s) in ``new_run``, exactly; an old key not in ``mapping``
    goes to ``extra`` under its own name. A None an old run recorded for a timed stage means no such stage."""
    for path, value in leaves(old_run):
        targets = mapping.get(path[0], [("extra", path[0])])
        for target in targets:
            new_path = (*target, *path[1:])
            if value is None and target[0] == "seconds":
                assert not has(new_run, new_path), f"{path} was not timed: {new_path} must be absent"
                continue
            assert has(new_run, new_path), f"{path} → {new_path}: missing"
            assert same(at(new_run, new_path), value), f"{path} → {new_path}: {at(new_run, new_path)!r} != {value!r}"


# --------------------------------------------------------------------------- (a) fixtures of every old shape

OLD_COMPARISON = {
    "settings": {
        "model": "vgg16",
        "model_options": {"width": 0.25, "in_channels": 1, "num_classes": 10, "name": "x"},
        "width": 0.25,
        "dataset": {"name": "fashion_mnist32"},
        "pairs": [["a", "b"], ["b", "c"]],
        "groups": [[["b", "a"], [4, 4]]],
        "gamma": {"b": 0.5},
        "skip": [],
        "samples_per_class": 20,
        "total_params": 12345,
        "train_recipe": {"name": "cnn", "epochs": 30, "batch_size": 128, "lr": 0.1, "milestones": [10, 20]},
        "retrain_recipe": {"epochs": 2, "batch_size": 128, "lr": 0.01, "milestones": [], "gamma": 0.1},
        "mint_options": {},
        "level_tolerance": 0.5,
        "max_batches": 5,
        "retrain_max_batches": 3,
        "bn_recalibration_images": 1024,
        "methods": ["mint", "magnitude"],
        "levels": [30.0],
        "seeds": [0, 1],
        "allocations": ["mint", "global"],
        "sweep_levels": [45.0],
        "sweep_seed": 0,
        "device": "cpu",
        "torch_threads": 2,
        "versions": {"mintlab": "0.1.0", "python": "3.11.7", "torch": "2.15.0", "numpy": "2.4.6"},
    },
    "dense_accuracy": {"0": 90.5, "1": 91.25},
    "scoring_seconds": {"mint/0": 12.5, "magnitude/1": 0.03125},
    "deltas": {"0/30": 0.0625},
    "runs": [
        {
            "run_id": "mint/0/30/mint",
            "method": "mint",
            "allocation": "mint",
            "seed": 0,
            "target_percent": 30.0,
            "sweep": False,
            "delta": 0.0625,
            "total_pruned_percent": 29.875,
            "per_layer_pruned_percent": {"b": 12.5, "c": 40.25},
            "mask_pruned_percent": {"b": 12.75, "c": 40.0},
            "accuracy_before_retrain": 80.125,
            "accuracy_after_retrain": 88.375,
            "csr_memory_mb": 1.5078125,
            "scoring_seconds": 12.5,
            "retrain_seconds": 3.25,
        },
        {
            "run_id": "global/1/45/magnitude",
            "method": "magnitude",
            "allocation": "global",
            "seed": 1,
            "target_percent": 45.0,
            "sweep": True,
            "delta": None,
            "total_pruned_percent": 44.5,
            "per_layer_pruned_percent": {"b": 50.5, "c": 39.0},
            "mask_pruned_percent": {"b": 50.0, "c": 39.5},
            "accuracy_before_retrain": 70.0,
            "accuracy_after_retrain": 85.0,
            "csr_memory_mb": 1.25,
            "scoring_seconds": None,
            "retrain_seconds": 4.75,
            "network_file": "/kept/global/seed1/45/magnitude.pt",
            "network_sha256": "ab" * 32,
            "something_new": {"k": 7},
        },
    ],
    "kept_networks": {"folder": "/kept", "settings_key": "e426691e0066d0d3"},
}

SAME = [
    "run_id",
    "method",
    "allocation",
    "seed",
    "target_percent",
    "sweep",
    "delta",
    "per_layer_pruned_percent",
    "mask_pruned_percent",
    "csr_memory_mb",
    "network_file",
    "network_sha256",
]
COMPARISON_MAP = {
    **{k: [(k,)] for k in SAME},
    "total_pruned_percent": [("pruned_percent",)],
    "accuracy_before_retrain": [("accuracy_pruned",)],
    "accuracy_after_retrain": [("accuracy_retrained",)],
    "scoring_seconds": [("seconds", "score")],
    "retrain_seconds": [("seconds", "retrain")],
}

OLD_MLP = {
    "dense_accuracy": 89.5,
    "dense_csr_memory_mb": 1.75,
    "dense_fc2_csr_memory_mb": 0.5,
    "settings": {
        "dataset": "fashion_mnist",
        "model": "mlp",
        "model_hash": "abc",
        "pretrain_recipe": "quick",
        "pairs": [["fc1", "fc2"], ["fc2", "fc3"]],
        "groups": [],
        "samples_per_class": 100,
        "levels": [50.0, 90.0],
        "methods": ["mint", "magnitude"],
        "leader": "mint",
        "both_pairs_level": 90.0,
        "mint_options": {},
        "retrain_recipe": {"name": "quick_retrain", "epochs": 3, "batch_size": 128, "lr": 0.01},
        "max_batches": None,
        "seed": 1,
        "train_size": 60000,
        "test_size": 10000,
    },
    "runs": [
        {
            "run_id": "mint_fc2_50",
            "method": "mint",
            "scope": "fc2",
            "level": 50.0,
            "delta": 0.00625,
            "prune_percent": None,
            "fc2_pruned_percent": 49.5,
            "fc3_pruned_percent": 0.0,
            "total_pruned_percent": 13.625,
            "accuracy": 89.25,
            "accuracy_before_retrain": 88.75,
            "best_accuracy_during_retrain": 89.375,
            "csr_memory_mb": 1.6875,
            "fc2_csr_memory_mb": 0.28125,
            "disconnected": {"fc2": {"child_without_inputs": 0, "parent_without_outputs": 3}},
            "seconds": 8.0625,
        },
        {
            "run_id": "magnitude_fc2_50",
            "method": "magnitude",
            "scope": "fc2",
            "level": 50.0,
            "delta": None,
            "prune_percent": 49.5,
            "fc2_pruned_percent": 49.5,
            "fc3_pruned_percent": 0.0,
            "total_pruned_percent": 13.5,
            "accuracy": 88.5,
            "accuracy_before_retrain": 87.25,
            "best_accuracy_during_retrain": 88.625,
            "csr_memory_mb": 1.625,
            "fc2_csr_memory_mb": 0.25,
            "disconnected": {"fc2": {"child_without_inputs": 1, "parent_without_outputs": 0}},
            "seconds": 7.5,
        },
        {
            "run_id": "mint_both_90",
            "method": "mint",
            "scope": "both",
            "level": 90.0,
            "delta": 0.0267,
            "prune_percent": None,
            "fc2_pruned_percent": 89.75,
            "fc3_pruned_percent": 31.5,
            "total_pruned_percent": 24.875,
            "accuracy": 88.875,
            "accuracy_before_retrain": 46.5,
            "best_accuracy_during_retrain": 88.875,
            "csr_memory_mb": 1.46875,
            "fc2_csr_memory_mb": 0.0625,
            "disconnected": {"fc2": {"child_without_inputs": 12, "parent_without_outputs": 2}},
            "seconds": 7.75,
        },
    ],
    "score_seconds": {"mint": 326.0, "magnitude": 0.0110},
}

MLP_MAP = {
    "run_id": [("extra", "old_run_id")],
    "method": [("method",)],
    "delta": [("delta",)],
    "total_pruned_percent": [("pruned_percent",)],
    "accuracy": [("accuracy_retrained",)],
    "accuracy_before_retrain": [("accuracy_pruned",)],
    "csr_memory_mb": [("csr_memory_mb",)],
    "fc2_pruned_percent": [("per_layer_pruned_percent", "fc2"), ("extra", "fc2_pruned_percent")],
    "fc3_pruned_percent": [("per_layer_pruned_percent", "fc3"), ("extra", "fc3_pruned_percent")],
    "seconds": [("extra", "prune_and_retrain_seconds")],
}

OLD_MIPP = {
    "settings": {
        "pairs": [["conv4", "conv5"]],
        "samples_per_class": 10,
        "mipp_options": {"repeats": 5},
        "mint_groups": [],
        "mint_options": {},
        "mint_scorer": {"name": "mint"},
        "gamma": {},
        "skip": [],
        "level_tolerance": 0.5,
        "retrain_recipe": {"epochs": 1, "batch_size": 128, "lr": 0.01},
        "retrain_max_batches": 8,
        "bn_recalibration_images": 1024,
        "chance": 10.0,
        "model": "vgg16",
        "unit_sparsities": [0.17],
        "seeds": [0, 2],
        "methods": ["mipp", "mint"],
    },
    "dense_accuracy": {"0": 79.5, "2": 80.125},
    "selections": {"0/0.17": {"keep": {"conv4": [True, False]}, "seconds": {"conv4": 2.5}, "x": {"conv4": 0.25}}},
    "mint_score_seconds": {"0": 137.0},
    "runs": [
        {
            "run_id": "0/0.17/mipp",
            "method": "mipp",
            "seed": 0,
            "unit_sparsity": 0.17,
            "units_kept": {"conv4": 27, "conv5": 53},
            "total_pruned_percent": 30.5,
            "per_layer_pruned_percent": {"conv1": 0.0, "conv4": 15.625},
            "collapsed_layers": [],
            "at_chance": False,
            "accuracy_before_retrain": 80.5,
            "accuracy_after_retrain": 79.875,
            "retrain_seconds": 8.5,
        },
        {
            "run_id": "2/0.17/mint",
            "method": "mint",
            "seed": 2,
            "unit_sparsity": 0.17,
            "units_kept": {"conv4": 32, "conv5": 0},
            "allocation": "global",
            "target_percent": 30.5,
            "total_pruned_percent": 30.25,
            "per_layer_pruned_percent": {"conv1": 0.0, "conv4": 20.0},
            "collapsed_layers": ["conv5"],
            "at_chance": True,
            "accuracy_before_retrain": 10.0,
            "accuracy_after_retrain": 11.5,
            "retrain_seconds": 10.125,
        },
    ],
}

MIPP_MAP = {
    "run_id": [("extra", "old_run_id")],
    **{k: [(k,)] for k in ("method", "seed", "allocation", "target_percent", "per_layer_pruned_percent")},
    "total_pruned_percent": [("pruned_percent",)],
    "accuracy_before_retrain": [("accuracy_pruned",)],
    "accuracy_after_retrain": [("accuracy_retrained",)],
    "retrain_seconds": [("seconds", "retrain")],
}

OLD_MIPP_MLP = {
    "settings": {
        "predictor": {"name": "p"},
        "samples_per_class": 100,
        "repeats": 5,
        "min_keep": 0,
        "retrain_recipe": {"epochs": 1, "batch_size": 128},
        "pretrain_recipe": "quick",
        "pairs": [["fc1", "fc2"], ["fc2", "fc3"]],
        "mint_groups": [],
        "max_batches": 40,
    },
    "runs": [
        {
            "run_id": "mipp_s0_x0.75",
            "method": "mipp",
            "seed": 0,
            "x": 0.75,
            "mipp_units_kept": {"fc1": 56, "fc2": 76},
            "units_kept": {"fc1": 56, "fc2": 76},
            "layer_collapsed": False,
            "total_pruned_percent": 90.875,
            "per_layer_pruned_percent": {"fc1": 88.75, "fc2": 97.125, "fc3": 74.5},
            "fc2_fc3_pruned_percent": 96.75,
            "accuracy_before_retrain": 40.75,
            "accuracy": 85.75,
            "collapsed_at_chance": False,
            "retrain_seconds": 41.5,
        },
        {
            "run_id": "mint_s1_x0.99",
            "method": "mint",
            "seed": 1,
            "x": 0.99,
            "mipp_units_kept": {"fc1": 3, "fc2": 0},
            "prune_percent": 98.125,
            "units_kept": {"fc1": 466, "fc2": 216},
            "layer_collapsed": True,
            "total_pruned_percent": 27.125,
            "per_layer_pruned_percent": {"fc1": 0.0, "fc2": 98.0, "fc3": 99.0},
            "fc2_fc3_pruned_percent": 98.25,
            "accuracy_before_retrain": 17.375,
            "accuracy": 10.0,
            "collapsed_at_chance": True,
            "retrain_seconds": 32.75,
        },
    ],
    "seeds": {
        "0": {"dense_accuracy": 89.5, "activation_seconds": 0.375, "mipp_keep_s0_x0.75": {"fc1": [True]}},
        "1": {"dense_accuracy": 89.625, "mint_score_seconds": 0.04},
    },
}

MIPP_MLP_MAP = {
    "run_id": [("extra", "old_run_id")],
    **{k: [(k,)] for k in ("method", "seed", "per_layer_pruned_percent")},
    "total_pruned_percent": [("pruned_percent",)],
    "accuracy_before_retrain": [("accuracy_pruned",)],
    "accuracy": [("accuracy_retrained",)],
    "retrain_seconds": [("seconds", "retrain")],
}

OLD_CHARACTERIZATION = {
    "settings": {"model": "mlp", "epsilons": [0.0, 0.5], "seed": 0},
    "methods": {"mint": 3},
    "attribution_method": "saliency",
    "networks": {"original": {"clean_accuracy": 89.5}},
    "summary": {"original": {"ece": 0.025}},
    "verdict": [{"method": "mint", "p": 0.125}],
    "extra": {"pruning": {"levels": [90.0]}},
    "files": {"json": "x.json"},
}
OLD_COMPACTION = {
    "configs": {"mlp@90": {"dense_ms": 1.5, "csr_ms": 0.75}},
    "crossover": {"layer": "fc2", "by_sparsity": {"0.9": 1.25}},
    "machine": {"threads": 2},
}
OLD_MIPP_COMPACTION = {"entries": {"mlp/s0_x0.75": {"speedup": 2.5}}, "settings": {"seed": 0, "rounds": 7}}

FIXTURES = {  # name: (data, kind, run mapping or None)
    "cnn_vgg16_fashion_mnist.json": (OLD_COMPARISON, "comparison", COMPARISON_MAP),
    "mlp_fashion_mnist.json": (OLD_MLP, "mlp_comparison", MLP_MAP),
    "mipp_vgg16_fashion_mnist.json": (OLD_MIPP, "mipp_comparison", MIPP_MAP),
    "mipp_mlp_fashion_mnist.json": (OLD_MIPP_MLP, "mipp_mlp_comparison", MIPP_MLP_MAP),
    "characterization_mlp_fashion_mnist.json": (OLD_CHARACTERIZATION, "characterization", None),
    "compaction.json": (OLD_COMPACTION, "compaction", None),
    "mipp_compaction.json": (OLD_MIPP_COMPACTION, "mipp_compaction", None),
}


def _convert(name: str) -> tuple[dict, dict]:
    old = copy.deepcopy(FIXTURES[name][0])
    before = copy.deepcopy(old)
    new = cr.convert(old, name, commit=COMMIT)
    assert old == before, "convert leaves its input as it is"
    return old, new


@pytest.mark.parametrize("name", list(FIXTURES))
def test_fixture_converts_to_schema2_with_nothing_dropped(name: str) -> None:
    old, new = _convert(name)
    kind = FIXTURES[name][1]
    assert_schema2(new, kind)
    assert new["provenance"]["converted_at_commit"] == COMMIT
    assert_nothing_dropped(old, new)
    assert cr.convert(new, name) is new, "a schema-2 file comes back as it is"
    assert json.loads(json.dumps(new)) == new, "plain JSON"


@pytest.mark.parametrize("name", [n for n, (_, _, m) in FIXTURES.items() if m is not None])
def test_fixture_run_values_land_at_their_mapped_keys(name: str) -> None:
    old, new = _convert(name)
    mapping = FIXTURES[name][2]
    assert len(new["runs"]) == len(old["runs"])
    for old_run, new_run in zip(old["runs"], new["runs"]):
        check_mapping(old_run, new_run, mapping)


@pytest.mark.parametrize("name", [n for n, (_, _, m) in FIXTURES.items() if m is None])
def test_file_without_runs_only_gains_the_three_keys(name: str) -> None:
    old, new = _convert(name)
    assert {k: v for k, v in new.items() if k not in ("schema_version", "kind", "provenance")} == old
    assert list(new)[3:] == list(old), "the old keys in their order"
    assert set(new["provenance"]) == {"commit", "dirty", "note", "converted_at_commit"}


def test_comparison_file_fields() -> None:
    old, new = _convert("cnn_vgg16_fashion_mnist.json")
    assert new["provenance"]["versions_at_run"] == old["settings"]["versions"]
    assert new["settings"] == {k: v for k, v in old["settings"].items() if k != "versions"}
    for key in ("dense_accuracy", "scoring_seconds", "deltas", "kept_networks"):
        assert new[key] == old[key]
    assert list(new) == [
        "schema_version",
        "kind",
        "provenance",
        "settings",
        "dense_accuracy",
        "scoring_seconds",
        "deltas",
        "runs",
        "kept_networks",
    ]
    a, b = new["runs"]
    assert a["run_id"] == "mint/0/30/mint" and b["run_id"] == "global/1/45/magnitude"
    assert "old_run_id" not in a["extra"] and "old_run_id" not in b["extra"], "same format: not kept twice"
    assert same(a["accuracy_dense"], 90.5) and same(b["accuracy_dense"], 91.25), "the run's seed's dense accuracy"
    assert a["retrain_epochs"] == 2 and b["retrain_epochs"] == 2
    assert a["retrain_max_batches"] == 3, "min(max_batches 5, retrain_max_batches 3)"
    assert a["seconds"] == {"score": 12.5, "retrain": 3.25}
    assert b["seconds"] == {"retrain": 4.75}, "scoring not recorded: absent, not 0"
    assert a["extra"] == {} and b["extra"] == {"something_new": {"k": 7}}
    assert a["network_file"] is None and b["network_file"] == "/kept/global/seed1/45/magnitude.pt"
    assert b["network_sha256"] == "ab" * 32 and b["sweep"] is True and a["sweep"] is False
    assert a.get("retrain_mode") is None, "not recorded then"


def test_comparison_caps() -> None:
    data = copy.deepcopy(OLD_COMPARISON)
    data["settings"].update(max_batches=None, retrain_max_batches=None)
    assert all(r["retrain_max_batches"] is None for r in cr.convert(data, "x.json", commit=COMMIT)["runs"])
    data["settings"].update(max_batches=2, retrain_max_batches=None)
    assert all(r["retrain_max_batches"] == 2 for r in cr.convert(data, "x.json", commit=COMMIT)["runs"])


def test_comparison_run_id_of_another_format_is_kept() -> None:
    data = copy.deepcopy(OLD_COMPARISON)
    data["runs"][0]["run_id"] = "mint/0/30.0/mint"
    run = cr.convert(data, "x.json", commit=COMMIT)["runs"][0]
    assert run["run_id"] == "mint/0/30/mint" and run["extra"]["old_run_id"] == "mint/0/30.0/mint"


def test_mlp_file_fields() -> None:
    old, new = _convert("mlp_fashion_mnist.json")
    assert "versions_at_run" not in new["provenance"]
    for key in ("dense_accuracy", "dense_csr_memory_mb", "dense_fc2_csr_memory_mb", "settings", "score_seconds"):
        assert new[key] == old[key]
    fc2, follower, both = new["runs"]
    assert [r["run_id"] for r in new["runs"]] == ["-/1/50/mint", "-/1/50/magnitude", "-/1/90/mint@both"]
    for r, o in zip(new["runs"], old["runs"]):
        assert r["allocation"] is None and r["target_percent"] is None and r["seed"] == 1
        assert same(r["accuracy_dense"], 89.5) and r["retrain_epochs"] == 3 and r["retrain_max_batches"] is None
        assert r["seconds"] == {}, "no stage was timed alone"
        assert r["mask_pruned_percent"] is None
        assert r["per_layer_pruned_percent"] == {"fc2": o["fc2_pruned_percent"], "fc3": o["fc3_pruned_percent"]}
        assert r["extra"]["level_of"] == "fc2 weights (%)"
        assert r["extra"]["old_run_id"] == o["run_id"]
        for key in (
            "scope",
            "level",
            "prune_percent",
            "best_accuracy_during_retrain",
            "fc2_csr_memory_mb",
            "disconnected",
        ):
            assert r["extra"][key] == o[key]
    assert fc2["delta"] == 0.00625 and follower["delta"] is None and follower["extra"]["prune_percent"] == 49.5
    assert both["extra"]["scope"] == "both"


def test_mipp_file_fields() -> None:
    old, new = _convert("mipp_vgg16_fashion_mnist.json")
    for key in ("settings", "dense_accuracy", "selections", "mint_score_seconds"):
        assert new[key] == old[key]
    mipp, mint = new["runs"]
    assert mipp["run_id"] == "-/0/0.17/mipp" and mint["run_id"] == "global/2/0.17/mint"
    assert mipp["allocation"] is None and mipp["target_percent"] is None
    assert mint["allocation"] == "global" and same(mint["target_percent"], 30.5)
    assert same(mipp["accuracy_dense"], 79.5) and same(mint["accuracy_dense"], 80.125)
    for r, o in zip((mipp, mint), old["runs"]):
        assert r["delta"] is None and r["mask_pruned_percent"] is None and r["csr_memory_mb"] is None
        assert r["retrain_epochs"] == 1 and r["retrain_max_batches"] == 8
        assert r["seconds"] == {"retrain": o["retrain_seconds"]}
        assert r["extra"]["level_of"] == "units removed (fraction)"
        assert r["extra"]["old_run_id"] == o["run_id"]
        for key in ("unit_sparsity", "units_kept", "collapsed_layers", "at_chance"):
            assert same(r["extra"][key], o[key])


def test_mipp_mlp_file_fields() -> None:
    old, new = _convert("mipp_mlp_fashion_mnist.json")
    for key in ("settings", "seeds"):
        assert new[key] == old[key]
    mipp, mint = new["runs"]
    assert mipp["run_id"] == "-/0/0.75/mipp" and mint["run_id"] == "-/1/0.99/mint"
    assert same(mipp["accuracy_dense"], 89.5) and same(mint["accuracy_dense"], 89.625)
    for r, o in zip((mipp, mint), old["runs"]):
        assert r["allocation"] is None and r["target_percent"] is None and r["delta"] is None
        assert r["mask_pruned_percent"] is None and r["csr_memory_mb"] is None
        assert r["retrain_epochs"] == 1 and r["retrain_max_batches"] == 40
        assert r["extra"]["level_of"] == "MIPP confidence level x"
        for key in (
            "x",
            "mipp_units_kept",
            "units_kept",
            "layer_collapsed",
            "fc2_fc3_pruned_percent",
            "collapsed_at_chance",
        ):
            assert same(r["extra"][key], o[key])
    assert mint["extra"]["prune_percent"] == 98.125 and "prune_percent" not in mipp["extra"]


def test_schema2_untouched_and_dense_records_refused() -> None:
    new = cr.convert(copy.deepcopy(OLD_COMPARISON), "cnn.json", commit=COMMIT)
    frozen = copy.deepcopy(new)
    assert cr.convert(new, "cnn.json") is new and new == frozen
    with pytest.raises(cr.ConversionError, match="dense-network record"):
        cr.convert({"schema_version": 1, "kind": "dense_networks"}, "results/dense_vgg16.json")
    with pytest.raises(cr.ConversionError, match="schema_version"):
        cr.convert({"schema_version": 3, "runs": []}, "future.json")
    with pytest.raises(cr.ConversionError, match="unknown shape"):
        cr.convert({"something": 1}, "other.json")
    with pytest.raises(cr.ConversionError, match="unknown shape"):
        cr.convert({"runs": [{"run_id": "a", "accuracy": 1.0}]}, "other.json")


@pytest.mark.parametrize(
    "name,key", [(n, k) for n, (_, kind, m) in FIXTURES.items() if m is not None for k in cr.REQUIRED_RUN_KEYS[kind]]
)
def test_run_missing_a_key_is_refused_naming_it(name: str, key: str) -> None:
    data = copy.deepcopy(FIXTURES[name][0])
    del data["runs"][-1][key]
    try:
        kind = cr.classify(data, name)
    except cr.ConversionError:
        return  # without it the shape is no longer recognised: refused as well
    if kind != FIXTURES[name][1]:
        return
    with pytest.raises(cr.ConversionError, match=re.escape(repr(key))):
        cr.convert(data, name, commit=COMMIT)


def test_clashing_run_ids_are_refused() -> None:
    data = copy.deepcopy(OLD_MLP)
    data["runs"].append({**data["runs"][0], "run_id": "mint_fc2_50_again"})
    with pytest.raises(cr.ConversionError, match="clash"):
        cr.convert(data, "mlp.json", commit=COMMIT)


# --------------------------------------------------------------------------- the command line


def test_eligible_files(tmp_path: Path) -> None:
    results = tmp_path / "results"
    wanted = ["a.json", "dense_vgg16.json", "char/pruned_runs.json"]
    unwanted = ["networks/n.json", "logs/l.json", "x_cache/c.json", "char/networks/m.json", "a.png"]
    for rel in wanted + unwanted:
        (results / rel).parent.mkdir(parents=True, exist_ok=True)
        (results / rel).write_text("{}")
    assert cr.eligible_files(results) == sorted(results / w for w in wanted)


def test_command_line_check_convert_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = {}
    for indent, name in ((2, "cnn_vgg16_fashion_mnist.json"), (1, "mlp_fashion_mnist.json"), (None, "compaction.json")):
        path = tmp_path / name
        path.write_text(json.dumps(FIXTURES[name][0], indent=indent) + "\n")
        files[path] = indent
    dense = tmp_path / "dense_vgg16.json"
    dense.write_text(json.dumps({"schema_version": 1, "kind": "dense_networks"}))
    paths = [*map(str, files), str(dense)]
    before = {p: p.read_bytes() for p in [*files, dense]}

    assert cr.main(["--check", *paths]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(paths) and all("would convert" in line for line in lines[:3]) and "skipped" in lines[3]
    assert {p: p.read_bytes() for p in before} == before, "--check writes nothing"

    assert cr.main(paths) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(paths) and all("converted to schema 2" in line for line in lines[:3])
    assert dense.read_bytes() == before[dense], "dense-network records never touched"
    for path, indent in files.items():
        text = path.read_text()
        new = json.loads(text)
        assert new == cr.convert(FIXTURES[path.name][0], path.name, commit=new["provenance"]["converted_at_commit"])
        assert text == json.dumps(new, indent=indent) + "\n", "formatted as it was"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")], "no temporary file left"

    converted = {p: p.read_bytes() for p in files}
    assert cr.main(["--check", *paths]) == 0
    assert all("left untouched" in line for line in capsys.readouterr().out.splitlines()[:3])
    assert cr.main(paths) == 0
    assert {p: p.read_bytes() for p in files} == converted, "a second run changes nothing"


def test_command_line_reports_an_unknown_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd = tmp_path / "odd.json"
    odd.write_text('{"what": 1}\n')
    assert cr.main([str(odd)]) == 1
    assert "error" in capsys.readouterr().out and odd.read_text() == '{"what": 1}\n'


# --------------------------------------------------------------------------- (b) the real results files

REAL = [p for p in cr.eligible_files(ROOT / "results") if not cr.is_dense_record(p.name)]


def _at_head(rel: str) -> dict | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"HEAD:{rel}"], capture_output=True, check=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return json.loads(out.stdout)


@pytest.mark.parametrize("path", REAL, ids=[p.relative_to(ROOT).as_posix() for p in REAL])
def test_real_results_file(path: Path) -> None:
    rel = path.relative_to(ROOT).as_posix()
    on_disk = json.loads(path.read_text())
    if cr.schema_of(on_disk) == 1:
        old = on_disk
    else:
        old = _at_head(rel)
        if old is None or cr.schema_of(old) != 1:
            pytest.skip(
                f"{rel} is at schema 2 on disk and its git HEAD version is "
                f"{'absent' if old is None else 'at schema 2 too'}: no schema-1 original to check against "
                "(the fixtures cover the conversion)"
            )
    new = cr.convert(copy.deepcopy(old), rel, commit=COMMIT)
    kind = cr.classify(old, rel)
    assert_schema2(new, kind)
    assert_nothing_dropped(old, new)
    if "runs" in old:
        assert len(new["runs"]) == len(old["runs"])
    if on_disk is not old:  # converted on disk: exactly what the script makes of the HEAD version
        commit = on_disk["provenance"]["converted_at_commit"]
        assert on_disk == cr.convert(copy.deepcopy(old), rel, commit=commit)
