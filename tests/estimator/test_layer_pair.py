"""Layer-pair scores: exactly the per-call estimator, the torch path, repeats, groups, a
trained MLP, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import mannwhitneyu

from mintlab.estimator.gmi import ESTIMATORS, RECOMMENDED_ESTIMATOR, conditional_gmi
from mintlab.estimator.layer_pair import (
    group_labels,
    score_layer_pair,
    score_layer_pair_spread,
)
from mintlab.estimator.toy import planted_block_mlp

#: A small MLP trained with half of its fc2 blocks held at zero: AUC of the scores for
#: "live block" vs "zero block" (0.5 = a random ranking, sd ≈ 0.07 with 32 + 32 blocks).
#: Measured over 6 nets (n = 1500 / 3000): "projected" 0.92–1.00, the paper's 0.46–0.73.
MIN_AUC, MIN_AUC_GAIN_OVER_PAPER = 0.85, 0.15


def _pair(n: int = 150, n_parent: int = 24, n_child: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    p = np.maximum(rng.normal(size=(n, n_parent)) + 0.2, 0)
    p[:, 3] = 0.0  # a dead unit
    w = rng.normal(size=(n_child, n_parent))
    c = p @ w.T + 0.1 * rng.normal(size=(n, n_child))
    return p, c, w


def _per_call(p, c, w, pl, cl, seed, estimator, **options):
    out = np.empty((cl.max() + 1, pl.max() + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            ci, pj = cl == i, pl == j
            out[i, j] = conditional_gmi(
                c[:, ci],
                p[:, pj],
                p[:, ~pj],
                seed=seed,
                estimator=estimator,
                weight=w[ci][:, ~pj] if estimator == "projected" else None,
                **options,
            )
    return out


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_scores_equal_the_per_call_estimator_exactly(estimator: str) -> None:
    p, c, w = _pair()
    pl = np.array([0, 0, 0, 1, 1, 2, 2, 2] * 3)  # explicit, unequal, interleaved groups
    cl = group_labels(6, 3)
    got = score_layer_pair(p, c, pl, cl, seed=7, estimator=estimator, weight=w)
    np.testing.assert_array_equal(got, _per_call(p, c, w, pl, cl, 7, estimator))


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_unequal_interleaved_child_groups_equal_the_per_call_estimator(estimator: str) -> None:
    p, c, w = _pair(n=120, n_child=7, seed=4)
    pl = group_labels(24, 3)
    cl = np.array([1, 0, 2, 1, 1, 0, 1])  # sizes 2, 4, 1, interleaved
    got = score_layer_pair(p, c, pl, cl, seed=5, estimator=estimator, weight=w)
    np.testing.assert_array_equal(got, _per_call(p, c, w, pl, cl, 5, estimator))


@pytest.mark.parametrize(("scale", "bootstrap"), [("columns", "nn"), ("blocks", "nn_unique"), ("none", "nn_unique")])
def test_options_reach_the_scorer_exactly(scale: str, bootstrap: str) -> None:
    p, c, w = _pair(seed=1)
    pl, cl = group_labels(24, 4), group_labels(6, 2)
    for est in ("paper", "projected"):
        got = score_layer_pair(p, c, 4, 2, seed=2, estimator=est, weight=w, scale=scale, bootstrap=bootstrap)
        np.testing.assert_array_equal(got, _per_call(p, c, w, pl, cl, 2, est, scale=scale, bootstrap=bootstrap))


def test_single_parent_group_is_the_unconditional_case() -> None:
    p, c, w = _pair(seed=2, n_parent=5)
    got = score_layer_pair(p, c, 1, 2, seed=3)
    cl = group_labels(6, 2)
    for i in range(2):
        assert got[i, 0] == conditional_gmi(c[:, cl == i], p, np.zeros((len(p), 0)), seed=3)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_torch_path_on_cpu_gives_the_same_scores(estimator: str) -> None:
    p, c, w = _pair(n=90, seed=3)
    a = score_layer_pair(p, c, 6, 3, seed=1, estimator=estimator, weight=w)
    b = score_layer_pair(p, c, 6, 3, seed=1, estimator=estimator, weight=w, device="cpu")
    np.testing.assert_array_equal(a, b)


def test_torch_path_scores_do_not_depend_on_its_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    import mintlab.estimator._engine as engine
    import mintlab.estimator._torch_mst as torch_mst

    p, c, w = _pair(n=90, seed=4)
    whole = score_layer_pair(p, c, 6, 3, seed=2, estimator="projected", weight=w, device="cpu")
    calls = []
    cross = torch_mst._prim
    monkeypatch.setattr(torch_mst, "_prim", lambda *a: calls.append(a[2].shape[0]) or cross(*a))
    monkeypatch.setattr(torch_mst, "_BATCH_BYTES", 1)  # one MST per batch
    monkeypatch.setattr(engine, "_TASKS_PER_CHUNK_DEVICE", 7)  # chunks of 2 parent groups (3 child groups)
    small = score_layer_pair(p, c, 6, 3, seed=2, estimator="projected", weight=w, device="cpu")
    np.testing.assert_array_equal(small, whole)
    assert calls == [1] * 18


def test_device_runs_take_larger_chunks_than_cpu_runs() -> None:
    from mintlab.estimator._engine import _TASKS_PER_CHUNK, _TASKS_PER_CHUNK_DEVICE, PairEngine
    from mintlab.estimator.layer_pair import _check_options

    p, c, w = _pair(n=60, n_parent=300, seed=1)
    opts = _check_options("projected", {})
    cpu = PairEngine(p, c, group_labels(300, 300), group_labels(6, 2), "projected", w, opts)
    dev = PairEngine(p, c, group_labels(300, 300), group_labels(6, 2), "projected", w, opts, device="cpu")
    assert [len(js) for js in cpu._chunks()][0] == _TASKS_PER_CHUNK // 2
    assert [len(js) for js in dev._chunks()] == [min(300, _TASKS_PER_CHUNK_DEVICE // 2)]


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_fast_kernels_give_the_reference_kernels_scores(estimator: str) -> None:
    from mintlab.estimator._engine import PairEngine
    from mintlab.estimator.gmi import split_rows
    from mintlab.estimator.layer_pair import _check_options

    p, c, w = _pair(n=300, n_parent=30, seed=5)
    p[:, 7] = p[:, 6]  # duplicate units on top of the ReLU zeros and the dead unit
    scorer = PairEngine(p, c, group_labels(30, 5), group_labels(6, 3), estimator, w, _check_options(estimator, {}))
    split = split_rows(len(p), 11)

    class _Bar:
        def update(self, k: int) -> None:
            pass

    fast = scorer.scores(split, _Bar())
    scorer.reference = True
    np.testing.assert_array_equal(fast, scorer.scores(split, _Bar()))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "gpu"])
def test_unavailable_device_is_refused_before_any_work(device: str) -> None:
    p, c, w = _pair(n=30)
    with pytest.raises(ValueError, match=device):
        score_layer_pair(p, c, 4, 2, seed=0, device=device)


def test_repeats_average_spawned_splits_and_spread() -> None:
    p, c, w = _pair(n=120, seed=4)
    seeds = np.random.SeedSequence(5).spawn(3)
    singles = [score_layer_pair(p, c, 4, 2, seed=s) for s in seeds]
    np.testing.assert_allclose(score_layer_pair(p, c, 4, 2, seed=5, repeats=3), np.mean(singles, axis=0), rtol=1e-12)
    mean, std = score_layer_pair_spread(p, c, 4, 2, seed=5, repeats=3)
    np.testing.assert_allclose(std, np.std(singles, axis=0, ddof=1), rtol=1e-12)
    assert mean.shape == std.shape == (2, 4) and (std > 0).any()
    # same seed → same scores, with any thread count
    np.testing.assert_array_equal(score_layer_pair(p, c, 4, 2, seed=5), score_layer_pair(p, c, 4, 2, seed=5, n_jobs=1))


def test_group_labels() -> None:
    assert group_labels(500, 250).tolist() == np.repeat(np.arange(250), 2).tolist()
    sizes = np.bincount(group_labels(10, 3))
    assert sizes.max() - sizes.min() <= 1 and sizes.sum() == 10
    for bad, match in (
        (0, r"\[1, 4\]"),
        (5, r"\[1, 4\]"),
        ([0, 0, 2, 2], "every label"),
        ([0, 1], "4 integer"),
        (np.array([0.0, 1.0, 0.0, 1.0]), "integer"),
        (True, "integer"),
    ):
        with pytest.raises(ValueError, match=match):
            group_labels(4, bad)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"child": np.zeros((29, 6))}, ValueError, "same number of rows"),
        ({"parent_groups": 25}, ValueError, "group count"),
        ({"child_groups": 7}, ValueError, "group count"),
        ({"estimator": "projected", "weight": None}, ValueError, "weight"),
        ({"estimator": "projected", "weight": np.zeros((24, 6))}, ValueError, "weight"),
        ({"estimator": "nope"}, ValueError, "estimator"),
        ({"repeats": 0}, ValueError, "repeats"),
        ({"n_jobs": 0}, ValueError, "n_jobs"),
        ({"bootstrap": "knn"}, ValueError, "bootstrap"),
        ({"colour": "red"}, TypeError, "unknown"),
        ({"parent": np.full((30, 24), np.nan)}, ValueError, "finite"),
        ({"seed": -3}, ValueError, "seed"),
    ],
)
def test_bad_input_raises_clear_errors(kwargs: dict, error: type, match: str) -> None:
    p, c, w = _pair(n=30)
    args = {"parent": p, "child": c, "parent_groups": 4, "child_groups": 2, "weight": w}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        score_layer_pair(
            args.pop("parent"), args.pop("child"), args.pop("parent_groups"), args.pop("child_groups"), **args
        )
    with pytest.raises(ValueError, match="repeats"):
        score_layer_pair_spread(p, c, 4, 2, repeats=1)


def _auc(scores: np.ndarray, live: np.ndarray) -> float:
    return float(mannwhitneyu(scores[live], scores[~live]).statistic / (live.sum() * (~live).sum()))


def test_recommended_scores_on_a_trained_mlp_find_its_dead_blocks() -> None:
    w, parent, child, live = planted_block_mlp(16, 4)
    assert 10 < live.sum() < 54
    ours = score_layer_pair(parent, child, 16, 4, seed=0, estimator=RECOMMENDED_ESTIMATOR, weight=w)
    paper = score_layer_pair(parent, child, 16, 4, seed=0, weight=w)
    assert np.isfinite(ours).all()
    assert _auc(ours, live) > MIN_AUC
    assert _auc(ours, live) > _auc(paper, live) + MIN_AUC_GAIN_OVER_PAPER


@pytest.mark.parametrize("estimator", ["paper", "scaled", "pca", "projected"])
def test_a_slice_of_parent_groups_gives_exactly_those_columns(estimator) -> None:
    rng = np.random.default_rng(0)
    p = rng.normal(size=(80, 12))
    c = np.maximum(p[:, :6] @ rng.normal(size=(6, 5)), 0)
    w = rng.normal(size=(5, 12))
    kw = dict(seed=3, estimator=estimator, weight=w, repeats=2)
    whole = score_layer_pair(p, c, 6, 3, **kw)
    parts = [score_layer_pair(p, c, 6, 3, columns=cols, **kw) for cols in [(0, 1), (1, 4), (4, 6)]]
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)
    for bad in [(0, 7), (3, 3), (-1, 2), (0.0, 2), 2]:
        with pytest.raises(ValueError, match="Expected `columns`"):
            score_layer_pair(p, c, 6, 3, columns=bad, **kw)
