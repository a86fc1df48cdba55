"""compute_scores at scale: slices of parent groups, Dask workers, resume after SIGKILL, bad slices and workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import mintlab
from mintlab.prune import scores as scores_mod
from mintlab.prune.scorers import MintScorer, PairContext, get_scorer
from mintlab.prune.scores import compute_scores
from tests.prune import _score_job as job


class CountingMint(MintScorer):
    """Records the slices it computes; optionally fails on the n-th one (an interrupt)."""

    def __init__(self, *args, fail_on: int | None = None, **kw) -> None:
        super().__init__(*args, **kw)
        self.slices: list[tuple[int, int]] = []
        self.fail_on = fail_on

    def score_columns(self, ctx: PairContext, start: int, stop: int) -> np.ndarray:
        self.slices.append((start, stop))
        if self.fail_on is not None and len(self.slices) == self.fail_on:
            raise RuntimeError("interrupted")
        return super().score_columns(ctx, start, stop)


@pytest.fixture(scope="module")
def reference() -> list[np.ndarray]:
    """The whole pairs, in this process, no cache, no slices: today's path."""
    s = compute_scores(job.model(), job.data(), job.PAIRS, job.scorer(), client=False, **job.KW)
    return [p.scores for p in s.pairs]


def _equal(scoreset, reference) -> None:
    for p, want in zip(scoreset.pairs, reference, strict=True):
        np.testing.assert_array_equal(p.scores, want)


def test_slices_give_the_whole_pairs_scores(reference, tmp_path) -> None:
    for size in (1, 4):
        _equal(
            compute_scores(job.model(), job.data(), job.PAIRS, job.scorer(), client=False, slice_groups=size, **job.KW),
            reference,
        )
    counting = job.scorer(CountingMint)
    s = compute_scores(
        job.model(), job.data(), job.PAIRS, counting, client=False, cache_dir=tmp_path, slice_groups=4, **job.KW
    )
    _equal(s, reference)
    assert counting.slices == [(0, 4), (4, 6)] * 2
    (folder,) = tmp_path.iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json", "pair_000.npz", "pair_001.npz"], (
        "slices are removed once their pair is written"
    )


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as lc,
        distributed.Client(lc) as client,
    ):
        yield client


def test_dask_workers_give_identical_scores(dask_client, reference, tmp_path) -> None:
    # the active client is picked up (Dask's idiom), for any slicing; and an explicit client= works too
    _equal(compute_scores(job.model(), job.data(), job.PAIRS, job.scorer(), **job.KW), reference)
    _equal(
        compute_scores(job.model(), job.data(), job.PAIRS, job.scorer(), slice_groups=1, cache_dir=tmp_path, **job.KW),
        reference,
    )
    _equal(
        compute_scores(job.model(), job.data(), job.PAIRS, job.scorer(), client=dask_client, slice_groups=5, **job.KW),
        reference,
    )


def test_dask_workers_with_another_or_no_mintlab_are_refused(dask_client, monkeypatch, tmp_path) -> None:
    kw = dict(job.KW, cache_dir=tmp_path, slice_groups=2)
    monkeypatch.setattr(scores_mod, "_worker_version", lambda: "0.0.0")
    with pytest.raises(ValueError, match=rf"import mintlab {mintlab.__version__}.*mintlab 0\.0\.0"):
        compute_scores(job.model(), job.data(), job.PAIRS, job.scorer(), **kw)

    def missing() -> str:
        raise ModuleNotFoundError("No module named 'mintlab'")

    monkeypatch.setattr(scores_mod, "_worker_version", missing)
    with pytest.raises(ValueError, match="ModuleNotFoundError: No module named 'mintlab'"):
        compute_scores(job.model(), job.data(), job.PAIRS, job.scorer(), **kw)
    (folder,) = tmp_path.iterdir()
    assert [p.name for p in folder.iterdir()] == ["meta.json"], "nothing was computed"


def _interrupted(tmp_path: Path, fail_on: int) -> Path:
    """A run stopped by an exception inside the first pair; returns the cache folder."""
    with pytest.raises(RuntimeError, match="interrupted"):
        compute_scores(
            job.model(),
            job.data(),
            job.PAIRS,
            job.scorer(CountingMint, fail_on=fail_on),
            client=False,
            cache_dir=tmp_path,
            slice_groups=2,
            **job.KW,
        )
    (folder,) = tmp_path.iterdir()
    return folder


def test_corrupt_slice_is_recomputed_with_a_warning(reference, tmp_path) -> None:
    folder = _interrupted(tmp_path, fail_on=3)
    slices = sorted(folder.glob("pair_000.slice_*.npz"))
    assert [p.name for p in slices] == ["pair_000.slice_0000-0002.npz", "pair_000.slice_0002-0004.npz"]
    data = slices[1].read_bytes()
    slices[1].write_bytes(data[: len(data) // 2])  # truncated
    resumed = job.scorer(CountingMint)
    with pytest.warns(UserWarning, match=r"slice_0002-0004\.npz is corrupt or truncated"):
        s = compute_scores(
            job.model(), job.data(), job.PAIRS, resumed, client=False, cache_dir=tmp_path, slice_groups=2, **job.KW
        )
    _equal(s, reference)
    assert resumed.slices == [(2, 4), (4, 6), (0, 2), (2, 4), (4, 6)], "the good slice is kept, the bad one redone"


def test_slice_of_another_version_or_settings_is_a_clear_error(tmp_path) -> None:
    folder = _interrupted(tmp_path, fail_on=3)
    good = folder / "pair_000.slice_0000-0002.npz"
    with np.load(good) as z:
        part = z["scores"]
    key = folder.name
    scores_mod._write_slice(folder, 0, job.PAIRS[0], key, "0.0.0", 2, 4, part)  # as an older mintlab wrote it
    with pytest.raises(ValueError, match=r"slice_0002-0004\.npz to hold .*another mintlab version or with other"):
        compute_scores(
            job.model(), job.data(), job.PAIRS, job.scorer(), client=False, cache_dir=tmp_path, slice_groups=2, **job.KW
        )
    scores_mod._write_slice(folder, 0, job.PAIRS[0], "0123456789abcdef", mintlab.__version__, 2, 4, part)
    with pytest.raises(ValueError, match="0123456789abcdef"):
        compute_scores(
            job.model(), job.data(), job.PAIRS, job.scorer(), client=False, cache_dir=tmp_path, slice_groups=2, **job.KW
        )
    assert good.exists() and (folder / "pair_000.slice_0002-0004.npz").exists(), "slices stay on disk"


def test_run_killed_with_sigkill_resumes_from_its_slices(reference, tmp_path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "NUMBA_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, job.__file__, str(tmp_path)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    try:
        while not list(tmp_path.glob("*/pair_000.slice_*.npz")):
            assert proc.poll() is None, f"the job ended before it could be killed: {proc.stderr.read().decode()}"
            assert time.monotonic() < deadline, "no slice was written in time"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    (folder,) = tmp_path.iterdir()
    done = sorted(folder.glob("pair_*.slice_*.npz"))
    assert done and not (folder / "pair_001.npz").exists()
    resumed = job.scorer(CountingMint)
    s = compute_scores(
        job.model(), job.data(), job.PAIRS, resumed, client=False, cache_dir=tmp_path, slice_groups=job.SLICE, **job.KW
    )
    _equal(s, reference)
    kept = {int(p.name.split("slice_")[1][:4]) for p in done if p.name.startswith("pair_000")}
    first_pair = resumed.slices[: 6 - len(kept)]
    assert not kept & {a for a, _ in first_pair}, "slices done before the kill are not recomputed"
    assert len(resumed.slices) == 12 - len(done)


def test_cuda_without_cuda_fails_when_the_scorer_is_built() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="CUDA is not available"):
        get_scorer("mint", device="cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        MintScorer("paper", device="cuda:0")


def test_resume_with_other_slicing_or_with_every_slice_already_on_disk(reference, tmp_path) -> None:
    folder = _interrupted(tmp_path, fail_on=3)  # pair 0: slices (0, 2) and (2, 4) on disk
    scores_mod._write_slice(folder, 0, job.PAIRS[0], folder.name, mintlab.__version__, 4, 6, reference[0][:, 4:6])
    resumed = job.scorer(CountingMint)
    s = compute_scores(
        job.model(), job.data(), job.PAIRS, resumed, client=False, cache_dir=tmp_path, slice_groups=4, **job.KW
    )
    _equal(s, reference)
    assert resumed.slices == [(0, 4), (4, 6)], "pair 0 came from its slices, pair 1 sliced by 4"

    tmp2 = tmp_path / "other"
    folder = _interrupted(tmp2, fail_on=3)
    resumed = job.scorer(CountingMint)
    s = compute_scores(
        job.model(), job.data(), job.PAIRS, resumed, client=False, cache_dir=tmp2, slice_groups=3, **job.KW
    )
    _equal(s, reference)
    assert resumed.slices == [(4, 6), (0, 3), (3, 6)]


@pytest.mark.parametrize("compiled", [False, True])
def test_projected_total_after_the_first_pair_says_when_it_includes_compilation(compiled, monkeypatch, capsys) -> None:
    import mintlab.estimator

    calls = iter(range(100))
    monkeypatch.setattr(mintlab.estimator, "fresh_compilations", lambda: next(calls) if compiled else 0)
    kw = {**job.KW, "progress": True}
    compute_scores(job.model(), job.data(), job.PAIRS, job.scorer(), client=False, **kw)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "projected total for 2 pairs" in text
    assert ("an overestimate: this first pair includes compiling" in text) == compiled
