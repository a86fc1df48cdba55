"""Thread counts that hold up on a shared CPU: the user's variables win, small models get one torch thread."""

from __future__ import annotations

import numba
import pytest
import torch
from torch import nn

from mintlab.nets.train import train
from mintlab.utils import runtime


def test_thread_env_keeps_what_the_user_set_and_fills_the_rest() -> None:
    env = runtime.thread_env({"OMP_NUM_THREADS": "4"})
    assert env == {"OMP_NUM_THREADS": "4", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": str(runtime.available_cores())}
    assert runtime.thread_env({"NUMBA_NUM_THREADS": "1"})["NUMBA_NUM_THREADS"] == "1"
    for bad in ("0", "two", "-1"):
        with pytest.raises(ValueError, match=r"Expected \$OMP_NUM_THREADS as an int >= 1"):
            runtime.thread_env({"OMP_NUM_THREADS": bad})


def test_torch_threads_small_model_one_thread_unless_told(monkeypatch) -> None:
    small, big = nn.Linear(10, 10), nn.Linear(3000, 2000)  # 110 vs 6 M parameters
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert runtime.torch_threads(small) == 1
    assert runtime.torch_threads(big) == runtime.torch_threads() == runtime.available_cores()
    assert runtime.torch_threads(small, threads=2) == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert runtime.torch_threads(small) == runtime.torch_threads(big) == 2
    with pytest.raises(ValueError, match="Expected `threads` as an int >= 1"):
        runtime.torch_threads(small, threads=0)


def test_limit_and_configure_restore_or_set_counts(monkeypatch) -> None:
    before = torch.get_num_threads()
    with runtime.limit_torch_threads(1 if before != 1 else 2) as n:
        assert torch.get_num_threads() == n
    assert torch.get_num_threads() == before
    prev_numba = numba.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("NUMBA_NUM_THREADS", "1")
    try:
        assert runtime.configure_threads(nn.Linear(2, 2)) == {"torch": 1, "numba": 1}
        assert torch.get_num_threads() == 1 and numba.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
        numba.set_num_threads(prev_numba)


def test_train_uses_the_chosen_count_and_restores_it(monkeypatch) -> None:
    from torch.utils.data import TensorDataset

    from mintlab.nets.recipes import Recipe

    seen: list[int] = []
    data = TensorDataset(torch.randn(16, 4), torch.randint(0, 2, (16,)))
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    train(
        nn.Linear(4, 2),
        data,
        None,
        Recipe(1, 8, 0.1),
        progress=False,
        threads=2,
        callback=lambda epoch, rec: seen.append(torch.get_num_threads()),
    )
    assert seen == [2] and torch.get_num_threads() == before
