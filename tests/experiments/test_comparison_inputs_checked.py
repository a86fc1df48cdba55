"""run_comparison checks every input before it trains or writes, and keys a user's data and network by content."""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset

import mintlab.experiments.compare as compare
from mintlab.experiments.compare import dense_checkpoint_dir, run_comparison
from mintlab.utils.checks import InvalidArgumentError
from mintlab.utils.fingerprint import architecture_fingerprint, code_fingerprint, dataset_fingerprint

PAIRS = [("1", "3"), ("3", "5")]


def _mlp(hidden: int = 16) -> nn.Sequential:
    return nn.Sequential(
        nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, hidden), nn.ReLU(), nn.Linear(hidden, 4)
    )


def _data(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.rand(n, 1, 8, 8, generator=g), torch.arange(n) % 4)


def _run(out: Path, **kw):
    """Magnitude scores and the global allocation: no MINT estimate, one batch of training, a second or so."""
    args = dict(
        model=_mlp,
        pairs=PAIRS,
        groups=4,
        methods=("magnitude",),
        allocations=("global",),
        levels=(20.0,),
        seeds=(0,),
        samples_per_class=10,
        train_data=_data(80, 0),
        test_data=_data(40, 1),
        max_batches=1,
        train_epochs=1,
        retrain_epochs=1,
        bn_recalibration_images=0,
        device="cpu",
        plot=False,
    )
    return run_comparison(out, **{**args, **kw})


@pytest.fixture
def nothing_runs(monkeypatch: pytest.MonkeyPatch):
    """Training and loading a named dataset fail the test: a bad input must be refused before either."""
    train_module = importlib.import_module("mintlab.nets.train")

    def forbidden(*_a, **_k):
        raise AssertionError("trained or loaded data before the inputs were checked")

    monkeypatch.setattr(train_module, "train", forbidden)
    monkeypatch.setattr(compare, "load_comparison_data", forbidden)


BAD_INPUTS = [
    (dict(groups={("1", "3"): (4, 4)}), r"Expected `groups` to have an entry for pair \('3', '5'\)"),
    (dict(groups={("1", "3"): (4, 4), ("3", "5"): (4, 4), ("5", "7"): (1, 1)}), r"Expected `groups` keys among"),
    (
        dict(groups={("1", "3"): (4, 4), ("3", "5"): (4,)}),
        r"Expected groups of pair \('3', '5'\) as \(parent_groups, child_groups\)",
    ),
    (
        dict(groups={("1", "3"): (4, 0), ("3", "5"): (4, 4)}),
        r"Expected child groups G of pair \('1', '3'\) as an int >= 1",
    ),
    (dict(groups={("1", "3"): (40, 4), ("3", "5"): (4, 4)}), r"at most the layer's 32 units"),
    (dict(groups=0), r"Expected parent groups G of pair \('1', '3'\) as an int >= 1, but got 0"),
    (
        dict(groups="scaled"),
        r"Expected groups of pair \('1', '3'\) as \(parent_groups, child_groups\), but got 'scaled'",
    ),
    (dict(seeds=(-1,)), r"Expected `seeds` as an int >= 0, but got -1"),
    (dict(seeds=(0, 0)), r"Expected `seeds` as one or more distinct ints >= 0"),
    (dict(seeds=()), r"Expected `seeds` as one or more distinct ints >= 0"),
    (dict(seeds=1.5), r"Expected `seeds` as a list of distinct ints >= 0, but got 1\.5"),
    (dict(seeds=(0.5,)), r"Expected `seeds` as an int >= 0, but got 0\.5"),
    (dict(sweep_seed=-2, sweep_levels=(30.0,)), r"Expected `sweep_seed` as an int >= 0, but got -2"),
    (dict(levels=(0.0,)), r"Expected `levels` as one or more percentages in \(0, 100\)"),
    (dict(levels=()), r"Expected `levels` as one or more percentages"),
    (dict(levels=(float("nan"),)), r"Expected `levels` as one or more percentages"),
    (dict(levels=("20",)), r"Expected `levels` as one or more percentages"),
    (dict(levels=20.0), r"Expected `levels` as a list of percentages"),
    (dict(sweep_levels=(100.0,)), r"Expected `sweep_levels` as percentages in \(0, 100\)"),
    (dict(levels=(99.0,)), r"at most .* % of all parameters"),
    (dict(methods=("magnitude", "l1")), r"Expected `methods` as distinct names among"),
    (dict(methods="magnitude"), r"Expected `methods` as a list of distinct names"),
    (dict(methods=("magnitude", "magnitude")), r"Expected `methods` as distinct names"),
    (dict(allocations=("layerwise",)), r"Expected `allocations` among"),
    (dict(allocations=("mint",)), r"Expected 'mint' or 'mint_paper' in `methods`"),
    (dict(gamma={"3": 1.5}), r"Expected `gamma\['3'\]` as a number in \[0, 1\], but got 1\.5"),
    (dict(gamma={"3": -0.1}), r"Expected `gamma\['3'\]` as a number in \[0, 1\]"),
    (dict(gamma={"9": 0.5}), r"Expected `skip`/`gamma` names among the pairs' children"),
    (dict(gamma=0.5), r"Expected `gamma` as a mapping"),
    (dict(skip="5"), r"Expected `skip` as a list of child layer names"),
    (dict(skip=["1"]), r"Expected `skip`/`gamma` names among the pairs' children"),
    (dict(level_tolerance=0.0), r"Expected `level_tolerance` as a number > 0"),
    (dict(samples_per_class=0), r"Expected `samples_per_class` as an int >= 1"),
    (dict(samples_per_class=21, methods=("wanda",)), r"at most the training examples of every class \(fewest: 20"),
    (dict(max_batches=0), r"Expected `max_batches` as an int >= 1"),
    (dict(retrain_max_batches=-1), r"Expected `retrain_max_batches` as an int >= 1"),
    (dict(bn_recalibration_images=-1), r"Expected `bn_recalibration_images` as an int >= 0"),
    (dict(train_epochs=0), r"Expected `epochs` as an int >= 1"),
    (dict(mint_options={"repeatz": 2}, methods=("mint",)), r"repeatz"),
    (dict(mint_options=3), r"Expected `mint_options` as a mapping"),
    (dict(keep_networks=3), r"Expected `keep_networks` as a folder path or None"),
    (dict(cache_dir=3), r"Expected `cache_dir` as a folder path or None"),
    (dict(test_data=None), r"Expected `train_data` and `test_data` both or neither.*`train_data` without"),
    (dict(train_data=None), r"Expected `train_data` and `test_data` both or neither.*`test_data` without"),
    (dict(train_size=50), r"Expected `train_size` None with `train_data`"),
    (dict(train_data=[]), r"Expected `train_data` with at least one sample"),
    (dict(train_data=[(1, 2)]), r"Expected `train_data` items as \(input tensor, label\)"),
    (dict(train_data=None, test_data=None, dataset="mnist"), r"Expected `dataset` in \("),
    (dict(train_data=None, test_data=None, train_size=5), r"Expected `train_size` as an int >= 10"),
    (dict(pairs=None), r"Expected `pairs` \(parent, child names\) with a user's model"),
    (dict(pairs=[("1", "3"), ("1", "3")]), r"Expected `pairs` without repeats"),
    (dict(pairs=[("1", "5")]), r"does not chain"),
    (dict(model=42), r"Expected `model` as a preset name, an nn.Module or a callable"),
    (dict(model=lambda: 42), r"Expected `model\(\)` to return an nn.Module"),
    (dict(model="mlp"), r"Expected `pairs` only with a user's model"),
    (dict(model="vgg", pairs=None), r"Expected `model` in \('mlp', 'vgg16', 'resnet56'\)"),
    (dict(model="vgg16", pairs=None, width=0.0), r"Expected `width` as a number in \(0, 16\]"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_INPUTS, ids=[str(i) for i, _ in enumerate(BAD_INPUTS)])
def test_each_bad_input_is_refused_before_training_or_writing(tmp_path: Path, nothing_runs, kwargs, message) -> None:
    out = tmp_path / "out" / "cmp.json"
    with pytest.raises(ValueError, match=message):
        _run(out, **{"cache_dir": tmp_path / "cache", **kwargs})
    assert list(tmp_path.rglob("*")) == []  # no results file, no cache folder, no checkpoint


def test_bad_argument_errors_are_invalid_argument_errors(tmp_path: Path, nothing_runs) -> None:
    with pytest.raises(InvalidArgumentError):  # a ValueError and a TypeError
        _run(tmp_path / "cmp.json", seeds=(-1,))
    with pytest.raises(TypeError, match="folder path"):
        _run(tmp_path / "cmp.json", keep_networks=3)


def test_other_data_of_the_same_sizes_never_gets_the_first_data_s_results(tmp_path: Path) -> None:
    out, cache = tmp_path / "cmp.json", tmp_path / "cache"
    first = _run(out, cache_dir=cache)
    other = dict(train_data=_data(80, 7), test_data=_data(40, 8))
    with pytest.raises(ValueError, match=r"holds results for other settings \(differing: \['dataset'\]\)"):
        _run(out, cache_dir=cache, **other)
    assert json.loads(out.read_text())["runs"] == json.loads(json.dumps(first["runs"]))  # the file is untouched
    second = _run(tmp_path / "other.json", cache_dir=cache, **other)  # same cache: its own dense network
    a, b = (dense_checkpoint_dir(r["settings"], cache, 0) for r in (first, second))
    assert a != b and (a / "last.pt").is_file() and (b / "last.pt").is_file()
    assert first["settings"]["dataset"]["train_fingerprint"] != second["settings"]["dataset"]["train_fingerprint"]
    # the same data again, in a new object: the same key, the finished runs are reused
    again = _run(out, cache_dir=cache, train_data=_data(80, 0), test_data=_data(40, 1))
    assert again["runs"] == json.loads(json.dumps(first["runs"]))


def test_two_sequentials_of_other_layers_do_not_share_results_or_dense_networks(tmp_path: Path) -> None:
    out, cache = tmp_path / "cmp.json", tmp_path / "cache"
    first = _run(out, cache_dir=cache, model=_mlp())
    wider = _mlp(hidden=24)  # also an nn.Sequential, same pair names, other widths
    with pytest.raises(ValueError, match=r"holds results for other settings \(differing: \['model_options'"):
        _run(out, cache_dir=cache, model=wider)
    second = _run(tmp_path / "wider.json", cache_dir=cache, model=wider)
    assert first["settings"]["model_options"]["class"] == second["settings"]["model_options"]["class"] == "Sequential"
    assert dense_checkpoint_dir(first["settings"], cache, 0) != dense_checkpoint_dir(second["settings"], cache, 0)
    assert second["settings"]["total_params"] != first["settings"]["total_params"]


def test_a_model_factory_is_called_once_to_check_and_key_it_then_once_per_seed(tmp_path: Path) -> None:
    calls = []

    def factory() -> nn.Module:
        calls.append(1)
        return _mlp()

    result = _run(tmp_path / "cmp.json", model=factory, seeds=(0, 1))
    assert len(calls) == 1 + 2 and result["settings"]["model_options"]["architecture"] == architecture_fingerprint(
        _mlp()
    )


def test_groups_may_name_a_pair_by_its_child(tmp_path: Path) -> None:
    result = _run(tmp_path / "cmp.json", groups={"3": (4, 4), ("3", "5"): (2, 2)})
    assert result["settings"]["groups"] == [[["1", "3"], [4, 4]], [["3", "5"], [2, 2]]]


class _Items(Dataset):
    """A plain Dataset (no tensors to hash at once): hashed item by item."""

    def __init__(self, data: TensorDataset) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int):
        x, y = self.data[i]
        return x, int(y)


def test_dataset_fingerprint_reads_every_sample_and_label() -> None:
    data = _data(50, 0)
    x, y = (t.clone() for t in data.tensors)
    x[25, 0, 3, 3] += 1e-3  # one pixel of a middle sample
    y2 = y.clone()
    y2[[10, 11]] = y2[[11, 10]]  # two labels swapped
    fp = dataset_fingerprint(data)
    assert fp == dataset_fingerprint(_data(50, 0))
    assert fp != dataset_fingerprint(TensorDataset(x, y))
    assert fp != dataset_fingerprint(TensorDataset(data.tensors[0], y2))
    # a Subset of a TensorDataset is hashed from its tensors too: the same as those rows as a TensorDataset
    assert dataset_fingerprint(Subset(data, [3, 1])) == dataset_fingerprint(TensorDataset(x[[3, 1]], y[[3, 1]]))
    items = _Items(data)
    assert dataset_fingerprint(items) == dataset_fingerprint(_Items(_data(50, 0)))
    assert dataset_fingerprint(items) != dataset_fingerprint(_Items(TensorDataset(x, y)))


def test_architecture_fingerprint_reads_layers_not_weights() -> None:
    a, b = _mlp(), _mlp()
    with torch.no_grad():
        b[1].weight.add_(1.0)
    assert architecture_fingerprint(a) == architecture_fingerprint(b)
    assert architecture_fingerprint(a) != architecture_fingerprint(_mlp(hidden=24))
    relu_swapped = nn.Sequential(
        nn.Flatten(), nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 4)
    )
    assert architecture_fingerprint(a) != architecture_fingerprint(relu_swapped)


class _Net(nn.Sequential):
    """The layers of :func:`_mlp`."""


def _halved_forward(self: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    return nn.Sequential.forward(self, 0.5 * x)


def test_a_network_whose_forward_changed_does_not_share_results(tmp_path: Path) -> None:
    out, cache = tmp_path / "cmp.json", tmp_path / "cache"
    first = _run(out, cache_dir=cache, model=_Net(*_mlp()))
    # the same module path, class name, modules and weights; only the forward differs (an edited class)
    edited = type(
        "_Net",
        (nn.Sequential,),
        {"forward": _halved_forward, "__module__": _Net.__module__, "__qualname__": _Net.__qualname__},
    )(*_mlp())
    assert architecture_fingerprint(edited) == architecture_fingerprint(_Net(*_mlp()))
    with pytest.raises(ValueError, match=r"holds results for other settings \(differing: \['model_options'"):
        _run(out, cache_dir=cache, model=edited)
    assert first["settings"]["model_options"]["code"] == code_fingerprint(_Net(*_mlp())) != code_fingerprint(edited)


def test_a_file_written_before_the_code_key_keeps_its_runs_and_networks_with_a_warning(tmp_path: Path) -> None:
    # as aa680bb wrote it: no "code" in model_options, its dense and kept networks keyed without it
    out, cache, kept = tmp_path / "cmp.json", tmp_path / "cache", tmp_path / "kept"
    with pytest.MonkeyPatch.context() as m:
        m.setattr(compare, "_user_preset", _preset_without_code)
        first = _run(out, model=_mlp(), cache_dir=cache, keep_networks=kept)
    assert "code" not in first["settings"]["model_options"]
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file() and p != out)
    with pytest.warns(UserWarning, match="before a user's network was keyed by its code"):
        again = _run(out, model=_mlp(), cache_dir=cache, keep_networks=kept)
    assert again["runs"] == json.loads(json.dumps(first["runs"]))
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file() and p != out) == files, "nothing trained anew"


_original_user_preset = compare._user_preset


def _preset_without_code(model, pairs, groups):
    preset, probe = _original_user_preset(model, pairs, groups)
    options = {k: v for k, v in preset.options.items() if k != "code"}
    return dataclasses.replace(preset, options=options), probe
