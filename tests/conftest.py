"""Shared test configuration: headless plotting, one thread, one place for the seed, a private cache."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")
# Notebook kernels and JupyterLab inherit this: one BLAS/torch thread per process on a 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
import torch

#: The one seed the suite derives its randomness from.
SEED = 1234

# Two cores: one torch thread per process avoids oversubscription when numba or a notebook kernel runs too.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    np.random.seed(SEED)
    torch.manual_seed(SEED)


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory):
    """Checkpoints and scores go to a fresh folder per test session (the notebooks and the browser test share
    it, as a user's notebooks share ~/.cache/mintlab), so no stale artifact of an older run can hide a bug.
    Set MINTLAB_TEST_CACHE to a folder to reuse artifacts between sessions while developing."""
    previous = os.environ.get("MINTLAB_CACHE")
    os.environ["MINTLAB_CACHE"] = os.environ.get("MINTLAB_TEST_CACHE") or str(tmp_path_factory.mktemp("mintlab_cache"))
    yield
    if previous is None:
        os.environ.pop("MINTLAB_CACHE", None)
    else:
        os.environ["MINTLAB_CACHE"] = previous
