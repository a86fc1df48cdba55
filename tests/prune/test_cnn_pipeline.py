"""A small CNN end to end on CPU: scores → masks → retrain steps → masks still exactly zero."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from mintlab.nets.checkpoints import load_checkpoint, load_masked_state_dict, save_checkpoint
from mintlab.nets.models import resnet56, vgg16_bn
from mintlab.nets.presets import layer_pairs
from mintlab.nets.recipes import Recipe
from mintlab.nets.train import train
from mintlab.prune.masks import effective_weight, make_permanent
from mintlab.prune.metrics import disconnected_units, params_pruned_percent
from mintlab.prune.scorers import get_scorer
from mintlab.prune.scores import compute_scores
from mintlab.prune.step import prune

SAMPLES_PER_CLASS = 4


def _fake_cifar(n: int = 80, seed: int = 0) -> TensorDataset:
    """CIFAR-format tensors: 3×32×32 normalised-looking images, 10 balanced classes."""
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 3, 32, 32, generator=g), torch.arange(n) % 10)


def _check_zero(model, masks: dict[str, torch.Tensor]) -> None:
    modules = dict(model.named_modules())
    for name, mask in masks.items():
        w = effective_weight(modules[name]).detach()
        assert (w[mask == 0] == 0).all(), f"{name}: a masked weight is not exactly zero"


def test_vgg16_small_width_end_to_end(tmp_path) -> None:
    torch.manual_seed(0)
    model = vgg16_bn(width=0.125)
    data = _fake_cifar()
    pairs = layer_pairs("vgg16")  # conv4→conv5 … conv13→classifier.fc1 (conv → linear included)
    scores = compute_scores(
        model,
        data,
        pairs,
        get_scorer("mint"),
        groups=(4, 4),
        samples_per_class=SAMPLES_PER_CLASS,
        seed=0,
        cache_dir=tmp_path / "scores",
        progress=False,
    )
    assert all(p.scores.shape == (4, 4) for p in scores.pairs)
    delta = float(np.quantile(np.concatenate([p.scores.ravel() for p in scores.pairs]), 0.5))
    delta = min(max(delta, 0.0), 1.0)
    out = prune(model, scores, delta=delta, gamma={"features.conv5": 0.45})
    masks = {name: m.weight_mask.clone() for name, m in model.named_modules() if hasattr(m, "weight_mask")}
    assert set(masks) == {c for _, c in pairs}
    assert out["summary"]["per_layer"]["features.conv5"] <= 45.0 + 1e-9
    conv = masks["features.conv6"]  # whole kxk kernels kept or zeroed
    assert torch.all(conv == conv[:, :, :1, :1])
    assert 0 < out["summary"]["total"] < 100

    train(model, data, None, Recipe(1, 16, 0.1), max_batches=2, progress=False, device="cpu")
    _check_zero(model, masks)
    assert params_pruned_percent(model)["total"] == pytest.approx(out["summary"]["total"], abs=1e-9)

    path = save_checkpoint(tmp_path / "pruned.pt", model)
    fresh = vgg16_bn(width=0.125)
    load_checkpoint(path, fresh)
    _check_zero(fresh, masks)
    fresh2 = load_masked_state_dict(vgg16_bn(width=0.125), model.state_dict())
    _check_zero(fresh2, masks)
    make_permanent(fresh2)
    assert not any(hasattr(m, "weight_mask") for m in fresh2.modules())
    _check_zero(fresh2, masks)
    assert set(disconnected_units(fresh2, pairs)) == set(masks)


def test_resnet56_small_width_with_magnitude() -> None:
    """Residual pairs (across blocks and stages) with the weight-only baseline: no forward pass needed."""
    torch.manual_seed(0)
    model = resnet56(width=0.25)
    pairs = layer_pairs("resnet56")[:20]
    scores = compute_scores(
        model, None, pairs, get_scorer("magnitude"), groups=(2, 2), samples_per_class=1, seed=0, progress=False
    )
    out = prune(model, scores, prune_percent=60)
    masks = {name: m.weight_mask.clone() for name, m in model.named_modules() if hasattr(m, "weight_mask")}
    train(model, _fake_cifar(32), None, Recipe(1, 16, 0.1), max_batches=2, progress=False, device="cpu")
    _check_zero(model, masks)
    pruned = sum(int((m == 0).sum()) for m in masks.values())
    total = sum(m.numel() for m in masks.values())
    assert pruned / total == pytest.approx(0.6, abs=0.1)  # one 2×2 block is 25 % of a layer
    assert out["summary"]["removed_weights"] == pruned
