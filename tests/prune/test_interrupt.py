"""Ctrl-C during scoring: a KeyboardInterrupt that says what is kept (never numba's SystemError), and a rerun
that says it resumed and what it reused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mintlab.prune.scorers import MagnitudeScorer
from mintlab.prune.scores import compute_scores


class InterruptedOnSecondPair(MagnitudeScorer):
    """Magnitude, but the second pair raises the way numba surfaces a Ctrl-C inside a kernel."""

    calls = 0

    def __call__(self, ctx):
        type(self).calls += 1
        if type(self).calls == 2:
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt:  # the implicit context (no `from`) is what numba leaves
                msg = "CPUDispatcher(<function _cross_batch_exact>) returned a result with an exception set"
                raise SystemError(msg)  # noqa: B904
        return super().__call__(ctx)


def test_ctrl_c_in_a_kernel_is_a_keyboard_interrupt_that_says_what_is_kept(tmp_path, capsys) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    pairs = [("1", "3"), ("3", "5")]
    kw = dict(groups=(2, 2), samples_per_class=1, seed=0, cache_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt, match=r"interrupted; the 1 finished pairs .* kept in .* resumes there"):
        compute_scores(net, None, pairs, InterruptedOnSecondPair(), progress=False, **kw)
    files = sorted(p.name for p in next(tmp_path.iterdir()).iterdir())
    assert files == ["meta.json", "pair_000.npz"]
    again = compute_scores(net, None, pairs, InterruptedOnSecondPair(), progress=True, **kw)  # call 3: scores
    said = capsys.readouterr()
    assert "resumed from the cache" in said.out + said.err and "1 of 2 pairs" in said.out + said.err
    fresh = compute_scores(
        net, None, pairs, MagnitudeScorer(), progress=False, groups=(2, 2), samples_per_class=1, seed=0
    )
    for a, b in zip(again.pairs, fresh.pairs):
        np.testing.assert_array_equal(a.scores, b.scores)


def test_another_system_error_is_not_taken_for_an_interrupt() -> None:
    class Broken(MagnitudeScorer):
        def __call__(self, ctx):
            raise SystemError("a real one")

    net = nn.Sequential(nn.Flatten(), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    with pytest.raises(SystemError, match="a real one"):
        compute_scores(net, None, [("1", "3")], Broken(), groups=(2, 2), samples_per_class=1, seed=0, progress=False)


def test_nan_activations_name_the_pair_and_the_data_item() -> None:
    from torch.utils.data import TensorDataset

    from mintlab.prune.scorers import get_scorer

    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randn(20, 1, 6)
    x[13, 0, 2] = float("nan")
    data = TensorDataset(x, torch.arange(20) % 2)
    with pytest.raises(
        ValueError,
        match=r"input \(the parent's units\) of '3' \(pair \('1', '3'\)\) holds NaN .* "
        r"for 1 of the 20 sampled items .* the first at dataset index 13",
    ):
        compute_scores(
            net, data, [("1", "3")], get_scorer("mint"), groups=(2, 2), samples_per_class=10, seed=0, progress=False
        )


def test_the_first_compilation_of_the_kernels_is_announced(monkeypatch, capsys) -> None:
    """A fresh clone compiles numba's kernels for about 45 s at the first scoring call: it says so first."""
    import mintlab.estimator

    class Compiling(MagnitudeScorer):
        compiles_kernels = True

    net = nn.Sequential(nn.Flatten(), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    kw = dict(groups=(2, 2), samples_per_class=1, seed=0, progress=True)
    monkeypatch.setattr(mintlab.estimator, "kernels_cached", lambda: False)
    compute_scores(net, None, [("1", "3")], Compiling(), **kw)
    assert "compiling the GMI estimator's numba kernels first" in capsys.readouterr().out
    monkeypatch.setattr(mintlab.estimator, "kernels_cached", lambda: True)
    compute_scores(net, None, [("1", "3")], Compiling(), **kw)
    assert "numba" not in capsys.readouterr().out


def test_kernels_cached_reads_numba_s_index_files(monkeypatch) -> None:
    import os

    from mintlab.estimator import kernels_cached

    monkeypatch.setattr(os.path, "exists", lambda _path: True)
    assert kernels_cached() is True
    monkeypatch.setattr(os.path, "exists", lambda _path: False)
    assert kernels_cached() is False
