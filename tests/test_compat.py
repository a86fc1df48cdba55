"""Artifacts written by mintlab 0.1.0 (the flat layout, before the stage packages) still load.

``tests/fixtures/v0_1_layout`` was written by commit 52b844d: a tiny MLP's dense state, its data, a score
cache of the ``mint`` scorer and a pruned checkpoint.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from mintlab.nets.checkpoints import load_checkpoint, state_dict_hash
from mintlab.prune.scorers import get_scorer
from mintlab.prune.scores import compute_scores

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "v0_1_layout"


def _model() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 2))


def test_score_cache_of_0_1_reloads_without_recomputing(tmp_path: Path) -> None:
    expected = json.loads((FIXTURES / "expected.json").read_text())
    cache = tmp_path / "scores"
    shutil.copytree(FIXTURES / "scores", cache)
    model = _model()
    model.load_state_dict(torch.load(FIXTURES / "dense_state.pt", weights_only=True))
    data = TensorDataset(*torch.load(FIXTURES / "data.pt", weights_only=True))
    with pytest.warns(UserWarning, match="keyed by mintlab 0.1's data fingerprint"):
        scores = compute_scores(
            model,
            data,
            [("1", "3"), ("3", "5")],
            get_scorer("mint"),
            groups={("1", "3"): (4, 3), ("3", "5"): (3, 2)},
            samples_per_class=10,
            seed=0,
            cache_dir=cache,
            progress=False,
        )
    assert scores.meta["cache_key"] == expected["cache_key"]
    assert sorted(p.name for p in cache.iterdir()) == [expected["cache_key"]]  # found, not written anew
    for got, want in zip(scores.pairs, expected["scores"]):
        np.testing.assert_array_equal(got.scores, np.array(want))


def test_pruned_checkpoint_of_0_1_loads_with_its_masks() -> None:
    expected = json.loads((FIXTURES / "expected.json").read_text())
    model = _model()
    ckpt = load_checkpoint(FIXTURES / "pruned.pt", model)
    assert ckpt["epoch"] == 1
    assert state_dict_hash(model) == expected["pruned_hash"]
    assert hasattr(model[3], "weight_mask") and float((model[3].weight == 0).float().mean()) > 0.2
