"""A small scoring job shared by tests/prune/test_scores.py and the subprocess it kills (run as a script)."""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from mintlab.prune.scorers import MintScorer, PairContext

PAIRS = [("0", "2"), ("2", "4")]
GROUPS = {("0", "2"): (6, 3), ("2", "4"): (6, 2)}
SLICE = 1  # parent groups per slice: 6 slices per pair


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 12), nn.ReLU(), nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 3))


def data(n: int = 60) -> TensorDataset:
    g = torch.Generator().manual_seed(1)
    return TensorDataset(torch.randn(n, 8, generator=g), torch.arange(n) % 3)


def scorer(cls: type = MintScorer, **kw) -> MintScorer:
    return cls("projected", name="mint", **kw)


KW = dict(groups=GROUPS, samples_per_class=20, seed=3, progress=False)


class SlowMint(MintScorer):
    """The same scores (same config, so the same cache key), a slice every 0.3 s: time to kill it mid-pair."""

    def score_columns(self, ctx: PairContext, start: int, stop: int) -> np.ndarray:
        time.sleep(0.3)
        return super().score_columns(ctx, start, stop)


if __name__ == "__main__":
    from mintlab.prune.scores import compute_scores

    torch.set_num_threads(1)
    compute_scores(
        model(), data(), PAIRS, scorer(SlowMint), cache_dir=sys.argv[1], slice_groups=SLICE, client=False, **KW
    )
