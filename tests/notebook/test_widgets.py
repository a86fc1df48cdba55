"""The slider panel (issue 12, case 5): a δ slider over the scores that exist, an opening state that still
works, and the cells above the estimator's noise marked."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from mintlab.notebook.widgets import MaskedEvaluator, PruningPanel, delta_options, plot_score_heatmaps
from mintlab.prune.noise import PermutationNullScorer, above_noise, noise_thresholds
from mintlab.prune.scorers import get_scorer
from mintlab.prune.scores import PairScores, ScoreSet, compute_scores

PAIRS = [("1", "3"), ("3", "5")]


def _trained_mlp() -> tuple[nn.Module, TensorDataset]:
    """The README MLP, trained a little on a task where class c lights up pixel block c: it works (≈ 100 %)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 4))
    labels = torch.arange(400) % 4
    images = torch.rand(400, 1, 8, 8) * 0.5
    for c in range(4):
        images[labels == c, 0, 2 * c : 2 * c + 2, :] += 0.5
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(100):
        opt.zero_grad()
        nn.functional.cross_entropy(model(images), labels).backward()
        opt.step()
    return model.eval(), TensorDataset(images, labels)


@pytest.fixture(scope="module")
def setup():
    model, data = _trained_mlp()
    kw = {"groups": (8, 4), "samples_per_class": 50, "seed": 0, "progress": False}
    scores = compute_scores(model, data, PAIRS, get_scorer("mint"), **kw)
    null = compute_scores(model, data, PAIRS, PermutationNullScorer(get_scorer("mint")), **kw)
    return model, data, scores, null


def test_delta_options_span_the_scores_and_every_step_prunes_more(setup) -> None:
    model, data, scores, _ = setup
    options = delta_options(scores)
    top = max(float(p.scores.max()) for p in scores.pairs)
    low = min(float(p.scores.min()) for p in scores.pairs)
    assert options[0] == low and options[-1] == pytest.approx(min(top, 1.0), abs=1e-9)
    panel = PruningPanel(model, lambda _g: scores, ["G"], delta=0.0, gamma=1.0)
    pruned = [panel.state(delta=d)["pruned_percent"] for d in options]
    assert pruned[0] == 0.0  # the left end prunes nothing
    assert pruned == sorted(pruned)
    assert all(b > a for a, b in zip(pruned, pruned[1:])), "every step of the slider must prune more"
    assert not any(k.any() for k in panel.state(delta=options[-1])["keep"].values())  # the right end: all cells
    # the old [0, 1] slider: beyond the largest score every position is the same state
    assert panel.state(delta=min(1.0, top + 1e-3))["pruned_percent"] == panel.state(delta=1.0)["pruned_percent"]


def test_delta_options_of_few_distinct_scores() -> None:
    s = ScoreSet(
        [PairScores("a", "b", np.array([[-0.2, 0.1], [0.1, 0.3]]), np.array([0, 1]), np.array([0, 1]))],
        {"total_params": 8},
    )

    def removed(options):
        return [int((s["b"].scores < d).sum()) for d in options]

    assert removed(delta_options(s)) == [0, 1, 3, 4]  # nothing, then one more score level per step
    assert removed(delta_options(s, steps=1)) == [0, 4]
    assert removed(delta_options(s, include=[0.2])) == [0, 1, 3, 3, 4]


def test_auto_delta_opens_on_a_network_that_works(setup) -> None:
    model, data, scores, _ = setup
    evaluator = MaskedEvaluator(model, data, max_examples=400)
    dense = evaluator.accuracy({})
    assert dense > 90.0
    panel = PruningPanel(model, lambda _g: scores, ["G"], evaluator=evaluator, gamma=0.95, auto_drop=5.0)
    st = panel.state()
    assert st["accuracy_masked"] >= dense - 5.0  # still works
    assert st["pruned_percent"] > 0.0  # and something is pruned: the trade-off is visible
    options = panel.delta_options()
    higher = [d for d in options if d > panel.delta]
    if higher:  # the next step already costs more than auto_drop
        assert panel.state(delta=higher[0])["accuracy_masked"] < dense - 5.0
    without = PruningPanel(model, lambda _g: scores, ["G"], gamma=0.95)
    options = without.delta_options()  # the steps that change something under γ = 0.95
    assert without.delta == options[len(options) // 2]


def test_noise_marks(setup) -> None:
    model, data, scores, null = setup
    levels = noise_thresholds(null, 0.95)
    marks = above_noise(scores, null, 0.95)
    for p in scores.pairs:
        assert marks[p.child].shape == p.scores.shape
        assert np.array_equal(marks[p.child], p.scores > levels[p.child])
    # the null is centred on no dependence: its median is far below the trained network's best scores
    for p, q in zip(scores.pairs, null.pairs, strict=True):
        assert np.median(q.scores) < np.quantile(p.scores, 0.9)
    assert PermutationNullScorer(get_scorer("mint")).config() != get_scorer("mint").config()  # cached apart
    panel = PruningPanel(model, lambda _g: scores, ["G"], delta=0.0, null_for=lambda _g: null)
    st = panel.state()
    assert set(st["above_noise_percent"]) == {"3", "5"}
    assert "cells above noise" in PruningPanel.describe(st)
    fig = plot_score_heatmaps(scores, st["keep"], delta=st["delta"], above=marks)
    assert "above noise" in fig.axes[0].get_title()


def test_widget_slider_follows_the_grouping(setup) -> None:
    pytest.importorskip("ipywidgets")
    model, data, scores, _ = setup
    other = compute_scores(
        model, data, PAIRS, get_scorer("magnitude"), groups=(4, 2), samples_per_class=50, seed=0, progress=False
    )
    panel = PruningPanel(model, lambda g: scores if g == "8/4" else other, ["8/4", "4/2"], delta=0.0, gamma=1.0)
    panel.widget()
    assert [v for _, v in panel.delta_slider.options] == panel.delta_options()
    before = panel.label.value
    panel.delta_slider.value = panel.delta_slider.options[-1][1]  # drag to the right end
    assert panel.label.value != before
    panel.groups_select.value = "4/2"
    assert [v for _, v in panel.delta_slider.options] == delta_options(other, include=[panel.delta])
    assert "pruned: " in panel.label.value


def test_many_pairs_get_a_selector_one_heat_map_and_the_per_layer_chart() -> None:
    """A network with more than ALL_HEATMAPS_UP_TO pairs (VGG16 has 10, ResNet56 50): the selector picks the heat
    map shown beside the per-layer pruned percentages; the figure reaches the Output widget as a PNG."""
    pytest.importorskip("ipywidgets")
    from mintlab.notebook.widgets import ALL_HEATMAPS_UP_TO

    torch.manual_seed(0)
    layers = [nn.Flatten(), nn.Linear(16, 12)]
    for _ in range(ALL_HEATMAPS_UP_TO + 1):
        layers += [nn.ReLU(), nn.Linear(12, 12)]
    model = nn.Sequential(*layers).eval()
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    pairs = list(zip(names[:-1], names[1:]))
    scores = compute_scores(model, None, pairs, get_scorer("magnitude"), groups=4, samples_per_class=1, seed=0,
                            progress=False)  # fmt: skip
    panel = PruningPanel(model, lambda g: scores, ["4"], delta=0.0, gamma=1.0)
    box = panel.widget()
    assert panel.pair_select in box.children[0].children and panel.pair_select.options == tuple(names[1:])
    st = panel.state()
    fig = panel.figure(st)
    assert len(fig.axes) == 3  # one heat map, its colour bar, the per-layer bars
    assert fig.axes[-1].get_title() == "per layer (child of each pair)"
    assert len(fig.axes[-1].patches) == len(pairs)
    panel.pair_select.value = names[2]
    out = panel.plot_out.outputs
    assert len(out) == 1 and out[0]["data"]["image/png"][:8] == "iVBORw0K"  # base64 of the PNG signature
    assert names[2] in panel.figure(panel.state()).axes[0].get_title()
