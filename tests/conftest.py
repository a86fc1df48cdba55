"""Shared test configuration: headless plotting and one place for the seed."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest
import torch

#: The one seed the suite derives its randomness from.
SEED = 1234


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    np.random.seed(SEED)
    torch.manual_seed(SEED)
