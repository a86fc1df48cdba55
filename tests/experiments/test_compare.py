"""The general method comparison in miniature: a tiny residual CNN with BatchNorm, every method, both allocations."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from mintlab.experiments.compare import (
    comparison_preset,
    load_comparison_data,
    main,
    run_comparison,
)
from mintlab.prune.record import SCHEMA_VERSION, STAGES, RunRecord
from mintlab.prune.scorers import SCORER_NAMES
from tests._fakedata import write_fake_cifar10

RUN_KEYS = {f.name for f in dataclasses.fields(RunRecord)}


class TinyResNet(nn.Module):
    """conv1 → [conv2 → conv3, + identity shortcut] → conv4 (stride 2) → pool → fc, BatchNorm everywhere."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.conv3, self.bn3 = nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.conv4, self.bn4 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        r = torch.relu(self.bn2(self.conv2(h)))
        y = torch.relu(self.bn3(self.conv3(r)) + h)  # the residual add: conv4's input = conv3's output + h
        z = torch.relu(self.bn4(self.conv4(y)))
        return self.fc(z.mean(dim=(2, 3)))


PAIRS = [("conv1", "conv2"), ("conv2", "conv3"), ("conv3", "conv4"), ("conv4", "fc")]
GROUPS = {("conv1", "conv2"): (4, 4), ("conv2", "conv3"): (4, 4), ("conv3", "conv4"): (4, 4), ("conv4", "fc"): (4, 2)}


def _data(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    x = torch.randn(n, 1, 8, 8, generator=g) * 0.5
    x[torch.arange(n), 0, y % 8, y // 2] += 3.0  # a learnable class signal
    return TensorDataset(x, y)


def _run(out: Path, **kw):
    args = dict(
        model=TinyResNet(),
        pairs=PAIRS,
        groups=GROUPS,
        methods=SCORER_NAMES,
        levels=(30.0, 60.0),
        seeds=(0, 1),
        allocations=("mint", "global"),
        samples_per_class=6,
        train_data=_data(100, 0),
        test_data=_data(40, 1),
        train_epochs=1,
        retrain_epochs=1,
        device="cpu",
        plot=False,
        skip=["fc"],
        mint_options={"n_jobs": 1},
        level_tolerance=3.0,
    )
    return run_comparison(out, **{**args, **kw})


def test_tiny_residual_cnn_every_method_both_allocations(tmp_path: Path) -> None:
    out = tmp_path / "cmp.json"
    result = _run(out, plot=True)
    on_disk = json.loads(out.read_text())
    assert on_disk["runs"] == json.loads(json.dumps(result["runs"]))
    assert set(on_disk["dense_accuracy"]) == {"0", "1"}
    s = on_disk["settings"]
    assert s["samples_per_class"] == 6 and s["seeds"] == [0, 1]
    assert on_disk["schema_version"] == SCHEMA_VERSION and "torch" in on_disk["provenance"]
    assert on_disk["provenance"]["commit"] is None or len(on_disk["provenance"]["commit"]) == 40
    assert s["retrain_recipe"]["epochs"] == 1 and s["skip"] == ["fc"]
    runs = on_disk["runs"]
    assert len(runs) == 2 * 2 * 2 * len(SCORER_NAMES)
    for r in runs:
        assert set(r) == RUN_KEYS  # the fixed keys of the run record, no more, no fewer
        assert set(r["seconds"]) == set(STAGES) and r["retrain_epochs"] == 1
        assert 0.0 <= r["accuracy_retrained"] <= 100.0
        assert r["per_layer_pruned_percent"]["fc"] == 0.0  # skipped
        # masks held through the retrain: the zeros counted afterwards are exactly the masked weights
        for layer, pct in r["mask_pruned_percent"].items():
            assert r["per_layer_pruned_percent"][layer] == pytest.approx(pct, abs=1e-9)
    for seed in (0, 1):
        for level in (30.0, 60.0):
            at = {
                r["method"]: r
                for r in runs
                if (r["allocation"], r["seed"], r["target_percent"]) == ("mint", seed, level)
            }
            assert set(at) == set(SCORER_NAMES)
            lead = at["mint"]
            assert lead["delta"] is not None and abs(lead["pruned_percent"] - level) <= 3.0
            for m, r in at.items():  # equal per-layer sparsity, exactly
                assert r["per_layer_pruned_percent"] == lead["per_layer_pruned_percent"], m
            glob = [r for r in runs if (r["allocation"], r["seed"], r["target_percent"]) == ("global", seed, level)]
            assert len(glob) == len(SCORER_NAMES)
            for r in glob:  # one block of the largest layer is 16·8·9/4/4 = 72 of ~3.4k parameters (~2 %)
                assert abs(r["pruned_percent"] - level) <= 2.5
    for suffix in (".png", "_layers.png"):
        assert out.with_name(out.stem + suffix).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_interrupted_run_keeps_finished_runs_and_rerun_skips_them(tmp_path: Path, monkeypatch) -> None:
    import importlib

    train_module = importlib.import_module("mintlab.nets.train")

    out = tmp_path / "cmp.json"
    real = train_module.train
    calls = []

    def flaky(*a, **k):
        calls.append(1)
        if len(calls) == 3:  # dense training, retrain 1, then a crash in retrain 2
            raise RuntimeError("power cut")
        return real(*a, **k)

    kw = dict(methods=("mint", "random"), levels=(50.0,), seeds=(0,), allocations=("mint",))
    monkeypatch.setattr(train_module, "train", flaky)
    with pytest.raises(RuntimeError, match="power cut"):
        _run(out, **kw)
    assert len(json.loads(out.read_text())["runs"]) == 1
    monkeypatch.setattr(train_module, "train", real)
    result = _run(out, **kw, sweep_levels=(20.0,))
    assert [r["target_percent"] for r in result["runs"]] == [50.0, 50.0, 20.0, 20.0]
    assert [r["sweep"] for r in result["runs"]] == [False, False, True, True]

    def forbidden(*a, **k):
        raise AssertionError("a finished run was redone")

    monkeypatch.setattr(train_module, "train", forbidden)
    again = _run(out, **kw, sweep_levels=(20.0,))
    assert again["runs"] == json.loads(json.dumps(result["runs"]))
    with pytest.raises(ValueError, match="other settings.*samples_per_class"):
        _run(out, **kw, samples_per_class=5)


def test_point_seeds_join_one_level_of_a_finished_comparison(tmp_path: Path) -> None:
    """More seeds at one level only, added later to the same file: the earlier runs are kept, the new seeds run
    at that level only, and its cells are over every seed (the evidence's five seeds at the paper's point)."""
    from mintlab.experiments.comparison_report import comparison_statistics

    out = tmp_path / "cmp.json"
    kw = dict(methods=("mint", "random"), levels=(30.0, 60.0), seeds=(0,), allocations=("mint",))
    first = _run(out, **kw)
    assert len(first["runs"]) == 4
    result = _run(out, **kw, point_levels=(60.0,), point_seeds=(1, 2))
    assert result["runs"][:4] == json.loads(json.dumps(first["runs"]))
    assert [(r["seed"], r["target_percent"]) for r in result["runs"][4:]] == [(1, 60.0)] * 2 + [(2, 60.0)] * 2
    assert set(result["dense_accuracy"]) == {"0", "1", "2"}
    s = result["settings"]
    assert s["point_levels"] == [60.0] and s["point_seeds"] == [1, 2]
    cells = {(c["level"], c["method"]): c for c in comparison_statistics(result)["cells"]}
    assert (
        cells[(60.0, "random")]["accuracy_retrained"]["n"] == 3
        and cells[(30.0, "mint")]["accuracy_retrained"]["n"] == 1
    )
    assert cells[(60.0, "random")]["vs_reference"]["accuracy_retrained"]["seeds"] == [0, 1, 2]
    for bad, match in (
        (dict(point_levels=(45.0,), point_seeds=(1,)), r"`point_levels` among `levels`"),
        (dict(point_levels=(60.0,), point_seeds=(0,)), r"none of `seeds`"),
        (dict(point_levels=(60.0,)), r"both given or both empty"),
    ):
        with pytest.raises(ValueError, match=match):
            _run(out, **kw, **bad)


def test_bad_inputs_get_clear_errors(tmp_path: Path) -> None:
    out = tmp_path / "x.json"
    with pytest.raises(ValueError, match=r"Expected `methods` as distinct names among .*'l1'"):
        _run(out, methods=("mint", "l1"))
    with pytest.raises(ValueError, match=r"at most 65\.80 % of all parameters"):
        _run(out, levels=(90.0,), gamma={"conv4": 0.5})  # conv4 holds most weights and is capped at 50 %
    with pytest.raises(ValueError, match="Expected 'mint' or 'mint_paper' in `methods`"):
        _run(out, methods=("random",))
    with pytest.raises(ValueError, match="Expected `allocations` among"):
        _run(out, allocations=("layerwise",))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            _run(out, device="cuda")


def test_level_no_delta_can_reach_names_the_reachable_range() -> None:
    from mintlab.prune.allocation import keep_for_level
    from mintlab.prune.scores import PairScores, ScoreSet

    def _delta_for_level(scores, level, gamma, skip, tolerance):
        return keep_for_level(scores, level, gamma=gamma, skip=skip, tolerance=tolerance)

    # one pair, 2×2 blocks of 25 weights each, 100 params in all: δ reaches 0, 25, 50, 75, 100 %
    scores = ScoreSet(
        [PairScores("a", "b", np.array([[0.1, 0.2], [0.3, 0.4]]), np.repeat([0, 1], 5), np.repeat([0, 1], 5))],
        {"total_params": 100},
    )
    delta, keep = _delta_for_level(scores, 50.0, {}, (), 1.0)
    assert delta == pytest.approx(0.2) and keep["b"].tolist() == [[False, False], [True, True]]
    with pytest.raises(ValueError, match=r"closest δ prunes 50\.00 %; reachable range \[0\.00, 100\.00\]"):
        _delta_for_level(scores, 37.5, {}, (), 1.0)
    with pytest.raises(ValueError, match=r"levels in \[0\.00, 50\.00\] %"):
        _delta_for_level(scores, 70.0, {"b": 0.5}, (), 1.0)
    # the γ cap stops a layer; the level then comes from the other layer
    two = ScoreSet(
        [
            PairScores("a", "b", np.array([[0.1, 0.2]]), np.repeat([0, 1], 5), np.zeros(5, dtype=int)),
            PairScores("b", "c", np.array([[0.3, 0.4]]), np.repeat([0, 1], 5), np.zeros(5, dtype=int)),
        ],
        {"total_params": 100},
    )
    _, keep = _delta_for_level(two, 50.0, {"b": 0.5}, (), 1.0)
    assert keep["b"].tolist() == [[False, True]] and keep["c"].tolist() == [[False, True]]
    # tied scores: δ stops inside the tie (seeded), so the level is met
    tied = ScoreSet(
        [PairScores("a", "b", np.full((2, 2), 0.5), np.repeat([0, 1], 5), np.repeat([0, 1], 5))], {"total_params": 100}
    )
    assert (~_delta_for_level(tied, 25.0, {}, (), 1.0)[1]["b"]).sum() == 1


def test_pair_across_a_residual_add_that_misaligns_is_rejected_naming_it(tmp_path: Path) -> None:
    from mintlab.experiments.compare import check_pairs_forward
    from mintlab.nets.models import resnet56

    net = resnet56(width=0.25, in_channels=1)
    # layer1 ends with 4 channels; layer2.0 pads its shortcut to 8 before the add feeding layer2.1.conv1
    with pytest.raises(ValueError, match=r"Pair \('layer1\.8\.conv2', 'layer2\.1\.conv1'\) does not chain"):
        check_pairs_forward(net, [("layer1.8.conv2", "layer2.1.conv1")], torch.zeros(1, 1, 32, 32))
    # the paper's pairs across blocks are aligned: the child's input is the add's output, same channels
    from mintlab.nets.presets import layer_pairs

    check_pairs_forward(net, layer_pairs("resnet56"), torch.zeros(1, 1, 32, 32))

    with pytest.raises(ValueError, match=r"Pair \('conv3', 'conv4'\) misaligns channels|does not chain"):
        _run(
            tmp_path / "y.json",
            pairs=[("conv1", "conv2"), ("conv3", "conv4")],
            groups={("conv1", "conv2"): (4, 4), ("conv3", "conv4"): (4, 4)},
            skip=[],
            model=_Padded(),
        )


class _Padded(TinyResNet):
    """conv3's output is zero-padded to 16 channels before the add; conv4 takes 16: no longer conv3's 8."""

    def __init__(self) -> None:
        super().__init__()
        self.conv3, self.bn3 = nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.conv4 = nn.Conv2d(16, 16, 3, stride=2, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        r = torch.relu(self.bn2(self.conv2(h)))
        y = nn.functional.pad(self.bn3(self.conv3(r)) + h, (0, 0, 0, 0, 0, 8))
        z = torch.relu(self.bn4(self.conv4(y)))
        return self.fc(z.mean(dim=(2, 3)))


def test_group_larger_than_a_reduced_width_layer_is_rejected() -> None:
    with pytest.raises(
        ValueError,
        match=r"Expected parent groups G of pair \('features.conv4', 'features.conv5'\) "
        r"at most the layer's 32 units \(width 0.25\), but got G = 64",
    ):
        comparison_preset("vgg16", width=0.25, in_channels=1, groups="paper")
    p = comparison_preset("vgg16", width=0.25, in_channels=1)
    assert set(p.groups.values()) == {(16, 16)} and len(p.pairs) == 10
    assert p.gamma == {f"features.conv{k}": 0.45 for k in (5, 6, 7, 8)} and p.samples_per_class == 650
    full = comparison_preset("vgg16")
    assert set(full.groups.values()) == {(64, 64)}
    r = comparison_preset("resnet56", width=0.25, in_channels=1)
    assert len(r.pairs) == 50 and ("layer1.8.conv2", "layer2.0.conv1") not in r.pairs  # child conv 20 is skipped
    assert r.groups[("layer1.8.conv1", "layer1.8.conv2")] == (4, 4) and r.groups[("conv1", "layer1.0.conv1")] == (4, 4)
    assert r.groups[("layer2.0.conv1", "layer2.0.conv2")] == (8, 8)
    assert r.options["paper_skip"] == ["layer1.7.conv1", "layer2.0.conv1", "layer3.0.conv1", "layer3.8.conv1"]
    assert r.skip == () and not set(r.options["paper_skip"]) & {c for _, c in r.pairs}  # never a child
    assert r.samples_per_class == 500 and r.groups[("layer3.8.conv1", "layer3.8.conv2")] == (16, 16)


def test_cifar10_format_loading_and_a_cli_run_on_self_made_files(tmp_path: Path, capsys) -> None:
    arrays = write_fake_cifar10(tmp_path, per_batch=20, n_test=20, seed=3)
    train, test, info = load_comparison_data("cifar10", root=tmp_path, download=False)
    assert train.tensors[0].shape == (100, 3, 32, 32) and test.tensors[0].shape == (20, 3, 32, 32)
    from mintlab.nets.data import NORMALIZATION

    mean, std = (torch.tensor(v).view(3, 1, 1) for v in NORMALIZATION["cifar10"])
    pixels = torch.from_numpy(arrays["test"][0][0]).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(test.tensors[0][0], (pixels - mean) / std)
    assert test.tensors[1].tolist() == list(arrays["test"][1])
    assert info["input_shape"] == [3, 32, 32]
    sub_train, _, sub = load_comparison_data("cifar10", root=tmp_path, download=False, train_size=30, test_size=10)
    assert len(sub_train) == 30 and sub["test_size"] == 10

    out = tmp_path / "vgg.json"
    code = main(
        [
            "--model",
            "vgg16",
            "--width",
            "0.0625",
            "--dataset",
            "cifar10",
            "--root",
            str(tmp_path),
            "--methods",
            "mint,magnitude",
            "--levels",
            "40",
            "--seeds",
            "0",
            "--samples-per-class",
            "1",
            "--train-epochs",
            "1",
            "--retrain-epochs",
            "1",
            "--device",
            "cpu",
            "--n-jobs",
            "1",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    result = json.loads(out.read_text())
    options = result["settings"]["model_options"]
    assert (options["width"], options["in_channels"], options["num_classes"]) == (0.0625, 3, 10)
    assert result["settings"]["dataset"]["name"] == "cifar10"
    assert {r["method"] for r in result["runs"]} == {"mint", "magnitude"}
    assert "mint" in capsys.readouterr().out
    assert main(["--model", "vgg16", "--methods", "mint,l1", "--out", str(out)]) == 2
    assert "Expected `methods`" in capsys.readouterr().err


def test_fashion_mnist32_is_padded_to_32(tmp_path: Path) -> None:
    from mintlab.nets.data import DEBIAN_FASHION_MNIST, prepare_fashion_mnist

    if not DEBIAN_FASHION_MNIST.is_dir():
        pytest.skip(f"Debian's dataset-fashion-mnist is not installed ({DEBIAN_FASHION_MNIST})")
    fashion_root = tmp_path / "root"
    prepare_fashion_mnist(fashion_root, DEBIAN_FASHION_MNIST)
    train, _test, info = load_comparison_data("fashion_mnist32", train_size=20, test_size=10, root=fashion_root)
    assert train.tensors[0].shape == (20, 1, 32, 32) and info["input_shape"] == [1, 32, 32]
    border = train.tensors[0][:, :, :2, :]
    assert torch.allclose(border, torch.full_like(border, -0.2860 / 0.3530))


def test_mlp_preset_through_the_general_comparison(tmp_path: Path) -> None:
    """The MLP experiment's comparison (fc2 pruned, fc3 kept) as one use of run_comparison."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 10
    x = torch.randn(60, 1, 28, 28, generator=g) * 0.5
    x[torch.arange(60), 0, y, y] += 3.0
    data = TensorDataset(x, y)
    result = run_comparison(
        tmp_path / "mlp.json",
        model="mlp",
        width=1.0,
        groups=10,
        methods=("mint", "magnitude"),
        levels=(20.0,),
        seeds=(0,),
        samples_per_class=3,
        skip=["fc3"],
        train_data=data,
        test_data=data,
        train_epochs=1,
        retrain_epochs=1,
        device="cpu",
        plot=False,
        mint_options={"n_jobs": 1},
    )
    s = result["settings"]
    assert s["model"] == "mlp" and s["pairs"] == [["fc1", "fc2"], ["fc2", "fc3"]] and s["skip"] == ["fc3"]
    mint, mag = result["runs"]
    assert mint["per_layer_pruned_percent"]["fc3"] == 0.0 and mint["per_layer_pruned_percent"]["fc2"] > 50.0
    assert mag["per_layer_pruned_percent"] == mint["per_layer_pruned_percent"]


def test_summary_says_which_differences_exceed_the_seed_spread(tmp_path: Path, capsys) -> None:
    from mintlab.experiments.compare import summarize

    def run(method, seed, acc, sweep=False):
        return {
            "method": method,
            "allocation": "mint",
            "seed": seed,
            "target_percent": 70.0,
            "sweep": sweep,
            "pruned_percent": 70.1,
            "accuracy_pruned": 10.0,
            "accuracy_retrained": acc,
            "per_layer_pruned_percent": {"b": 70.1},
        }

    result = {
        "settings": {"seeds": [0, 1, 2], "pairs": [["a", "b"]]},
        "dense_accuracy": {"0": 90.0},
        "runs": [
            run("mint", 0, 80.0),
            run("mint", 1, 81.0),
            run("mint", 2, 82.0),
            run("random", 0, 70.0),
            run("random", 1, 71.0),
            run("random", 2, 72.0),
            run("magnitude", 0, 81.5),
            run("magnitude", 1, 83.0),
            run("magnitude", 2, 84.0),
            run("wanda", 0, 90.0, sweep=True),
        ],
    }
    text = summarize(result)
    # random − mint = −10 on every seed: the interval is the point, the paired t-test's p is 0 (zero spread);
    # random's own 95 % interval: 71 ± t(0.975, 2) · 1 / √3 = 71 ± 2.48
    assert (
        "| 70 | random | 3 | 70.10 | 10.00 [10.00, 10.00] | 71.00 [68.52, 73.48] | 70.00, 71.00, 72.00 "
        "| -10.00 [-10.00, -10.00], p < 0.001 | lower |"
    ) in text
    # magnitude − mint = (1.5, 2, 2): mean 1.83, sd 0.289, half-width 4.303 · 0.289 / √3 = 0.72; t = 11.0, p = 0.008
    assert "| 70 | magnitude | 3 |" in text and "+1.83 [+1.12, +2.55], p = 0.008 | higher |" in text
    assert "wanda" not in text  # sweep-only: one seed, no spread
    two = {**result, "runs": [r for r in result["runs"] if r["seed"] != 2]}  # n = 2: magnitude − mint = (1.5, 2)
    assert "no difference detected at n = 2" in summarize(two)
    out = tmp_path / "r.json"
    out.write_text(json.dumps(result))
    assert main(["--summary", "--out", str(out)]) == 0
    assert "| lower |" in capsys.readouterr().out and out.with_suffix(".png").is_file()


def test_batchnorm_recalibration_matches_the_sample_statistics() -> None:
    from mintlab.prune.step import recalibrate_batchnorm

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.BatchNorm2d(2, momentum=0.3))
    net.eval()
    net[1].running_mean.fill_(5.0)
    data = TensorDataset(torch.randn(40, 1, 3, 3) + 1.0, torch.zeros(40, dtype=torch.long))
    recalibrate_batchnorm(net, data, images=40, batch_size=40)
    with torch.no_grad():
        out = net[0](data.tensors[0])
    torch.testing.assert_close(net[1].running_mean, out.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(net[1].running_var, out.var(dim=(0, 2, 3), unbiased=True))
    assert net[1].momentum == 0.3 and not net.training
