"""The interactive pruning panel of notebook 2: δ, γ sliders and a G selector over cached scores.

Moving δ or γ only re-thresholds scores that are already computed (:func:`mintlab.prune.masks.masks_from_scores`
and :func:`mintlab.prune.masks.prune_summary`: milliseconds) and re-evaluates the masked network on a fixed
evaluation batch held in memory; choosing another G computes scores for that grouping once (cached on
disk by :func:`mintlab.prune.scores.compute_scores`, in memory here).

Without a frontend (papermill, plain Python) the same numbers come from :meth:`PruningPanel.state`
for the parameter values, so a headless run records exactly what the sliders would show.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from torch import nn
from torch.utils.data import Dataset

from mintlab._utils.model_state import copy_model
from mintlab.prune.masks import PruneSpec, make_permanent, prune_summary, remaining_weights, weight_masks
from mintlab.prune.scores import ScoreSet

__all__ = ["MaskedEvaluator", "PruningPanel", "plot_score_heatmaps", "pruning_state"]


class MaskedEvaluator:
    """Accuracy of ``model`` under weight masks, on a fixed in-memory batch (fast enough for sliders).

    The model is copied once (:func:`mintlab._utils.model_state.copy_model`, so a model that already carries
    ``torch.nn.utils.prune`` masks works too: its masks are baked into the copy, and new masks multiply
    them); each call writes ``weight * mask`` into the copy's weights, so the caller's model is never
    touched and no ``torch.nn.utils.prune`` hooks pile up.
    """

    def __init__(self, model: nn.Module, data: Dataset, *, max_examples: int = 2000, seed: int = 0,
                 device: str | torch.device | None = None) -> None:
        if max_examples < 1:
            raise ValueError(f"Expected `max_examples` >= 1, but got {max_examples}")
        from mintlab._utils.runtime import select_device

        self.device = select_device(device)
        self.model = make_permanent(copy_model(model)).to(self.device).eval()  # effective weights, zeros kept
        self.modules = dict(self.model.named_modules())
        self.dense = {name: m.weight.detach().clone() for name, m in self.modules.items()
                      if isinstance(getattr(m, "weight", None), torch.Tensor)}
        rng = np.random.default_rng(seed)
        idx = rng.permutation(len(data))[: min(max_examples, len(data))]
        xs, ys = zip(*(data[int(i)] for i in idx))
        self.x = torch.stack([torch.as_tensor(x) for x in xs]).to(self.device)
        self.y = torch.as_tensor(ys).to(self.device)

    @torch.no_grad()
    def accuracy(self, masks: Mapping[str, torch.Tensor]) -> float:
        """Top-1 accuracy (percent) with ``masks`` (module name → 0/1 tensor) on the held batch."""
        for name, w in self.dense.items():
            mask = masks.get(name)
            self.modules[name].weight.copy_(w if mask is None else w * mask.to(w.device, w.dtype))
        correct = 0
        for start in range(0, len(self.y), 1000):
            logits = self.model(self.x[start:start + 1000])
            correct += int((logits.argmax(1) == self.y[start:start + 1000]).sum())
        return 100.0 * correct / len(self.y)


def pruning_state(
    model: nn.Module,
    scores: ScoreSet,
    spec: PruneSpec,
    *,
    evaluator: MaskedEvaluator | None = None,
) -> dict[str, Any]:
    """What the panel shows for one :class:`~mintlab.prune.masks.PruneSpec`: pruned % overall and per layer,
    accuracy, timing.

    The accuracy is that of the masked network *before* retraining (``None`` without an evaluator).
    """
    start = time.perf_counter()
    remaining = remaining_weights(model, scores)  # None for a dense model
    keep = spec.keep(scores, remaining)
    summary = prune_summary(scores, keep) if remaining is None else _summary_as_is(scores, keep, remaining)
    threshold_seconds = time.perf_counter() - start
    accuracy = None
    if evaluator is not None:
        accuracy = evaluator.accuracy(weight_masks(model, keep, scores))
    return {
        "delta": spec.delta,
        "gamma": spec.gamma,
        "pruned_percent": float(summary["total"]),
        "per_layer_percent": {k: float(v) for k, v in summary["per_layer"].items()},
        "accuracy_masked": accuracy,
        "threshold_seconds": threshold_seconds,
        "seconds": time.perf_counter() - start,
        "keep": keep,
    }


def _summary_as_is(scores: ScoreSet, keep: Mapping[str, np.ndarray], remaining: Mapping[str, np.ndarray]) -> dict:
    """:func:`prune_summary` for an already-pruned model: earlier zeros plus what ``keep`` removes now."""
    per_layer, removed = {}, 0
    for p in scores.pairs:
        cells, left = p.cell_weights, np.asarray(remaining[p.child])
        zeros = int(round(float((cells - left).sum() + left[~np.asarray(keep[p.child], dtype=bool)].sum())))
        per_layer[p.child] = 100.0 * zeros / int(cells.sum())
        removed += zeros
    total_params = scores.meta.get("total_params")
    return {"total": 100.0 * removed / total_params if total_params else float("nan"), "per_layer": per_layer,
            "removed_weights": removed}


_PRUNED_CMAP = ListedColormap(["#d9d9d9"])


def plot_score_heatmaps(scores: ScoreSet, keep: Mapping[str, np.ndarray], *, delta: float | None = None,
                        fig: Figure | None = None) -> Figure:
    """One heat map per layer pair: scores (G_child × G_parent) with the pruned cells hatched grey."""
    n = len(scores.pairs)
    if fig is None:
        fig = plt.figure(figsize=(4.2 * n, 3.4))
    fig.clear()
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, p in zip(axes, scores.pairs):
        img = ax.imshow(p.scores, aspect="auto", cmap="viridis", interpolation="nearest")
        pruned = ~np.asarray(keep[p.child], dtype=bool)
        ax.imshow(np.ma.masked_where(~pruned, np.ones_like(p.scores)), aspect="auto", cmap=_PRUNED_CMAP,
                  vmin=0, vmax=1, alpha=0.9, interpolation="nearest")
        kept_scores = p.scores[~pruned]
        layer_t = float(kept_scores.min()) if kept_scores.size else float("nan")
        title = f"{p.parent} → {p.child}\n{100 * pruned.mean():.1f} % of cells pruned"
        if delta is not None:
            title += f"; δ={delta:.3f}, lowest kept {layer_t:.3f}"
        ax.set_title(title + "\n(grey: pruned)", fontsize=8)
        ax.set_xlabel("parent group j")
        ax.set_ylabel("child group i")
        fig.colorbar(img, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


class PruningPanel:
    """ipywidgets panel: sliders for δ and γ, a G selector; live pruned %, heat maps and accuracy.

    Args:
        model: the trained network.
        scores_for: callable ``G label → ScoreSet`` (computes or loads scores for that grouping).
        group_options: the labels offered by the G selector (first = initial unless ``groups`` is given).
        evaluator: a :class:`MaskedEvaluator` for the accuracy of the masked network (optional).
        delta, gamma, groups: initial values (the notebook's parameters).
        skip: child layers never pruned.
    """

    def __init__(self, model: nn.Module, scores_for: Callable[[str], ScoreSet], group_options: Sequence[str], *,
                 evaluator: MaskedEvaluator | None = None, delta: float = 0.5, gamma: float = 1.0,
                 groups: str | None = None, skip: Iterable[str] = ()) -> None:
        if not group_options:
            raise ValueError("Expected at least one entry in `group_options`, but got none")
        groups = group_options[0] if groups is None else groups
        if groups not in group_options:
            raise ValueError(f"Expected `groups` among {list(group_options)}, but got {groups!r}")
        self.model, self.evaluator, self.skip = model, evaluator, tuple(skip)
        self._scores_for, self._cache = scores_for, {}
        self.group_options = list(group_options)
        self.delta, self.gamma, self.groups = float(delta), float(gamma), groups
        self._widget = None

    def scores(self, groups: str | None = None) -> ScoreSet:
        """Scores for a G label (computed once, then held)."""
        label = self.groups if groups is None else groups
        if label not in self._cache:
            self._cache[label] = self._scores_for(label)
        return self._cache[label]

    def state(self, *, delta: float | None = None, gamma: float | None = None, groups: str | None = None) -> dict:
        """The panel's numbers for given values (defaults: the current ones)."""
        gamma = self.gamma if gamma is None else gamma
        spec = PruneSpec(delta=self.delta if delta is None else delta, gamma=None if gamma >= 1.0 else gamma,
                         skip=self.skip)  # γ = 1 on the slider: no cap
        return pruning_state(self.model, self.scores(groups), spec, evaluator=self.evaluator)

    @staticmethod
    def describe(state: Mapping[str, Any]) -> str:
        """One line of text: what the panel's label shows."""
        layers = ", ".join(f"{k} {v:.1f} %" for k, v in state["per_layer_percent"].items())
        acc = "n/a" if state["accuracy_masked"] is None else f"{state['accuracy_masked']:.2f} %"
        return (f"pruned: {state['pruned_percent']:.2f} % of all parameters ({layers}); "
                f"accuracy before retraining: {acc}")

    def widget(self) -> Any:
        """Build (once) and return the ipywidgets box."""
        if self._widget is not None:
            return self._widget
        import ipywidgets as w

        self.delta_slider = w.FloatSlider(value=self.delta, min=0.0, max=1.0, step=0.005, description="δ",
                                          readout_format=".3f", continuous_update=False,
                                          layout=w.Layout(width="420px"))
        self.gamma_slider = w.FloatSlider(value=self.gamma, min=0.0, max=1.0, step=0.01, description="γ (cap)",
                                          readout_format=".2f", continuous_update=False,
                                          layout=w.Layout(width="420px"))
        self.groups_select = w.Dropdown(options=self.group_options, value=self.groups, description="G")
        self.label = w.HTML()
        self.label.add_class("mintlab-pruned")
        self.plot_out = w.Output()
        self._fig = None
        for control in (self.delta_slider, self.gamma_slider, self.groups_select):
            control.observe(self._on_change, names="value")
        self._widget = w.VBox([w.HBox([self.delta_slider, self.gamma_slider, self.groups_select]),
                               self.label, self.plot_out])
        self.refresh()
        return self._widget

    def _on_change(self, _change: Any) -> None:
        self.delta = float(self.delta_slider.value)
        self.gamma = float(self.gamma_slider.value)
        self.groups = self.groups_select.value
        self.refresh()

    def refresh(self) -> dict:
        """Recompute the state for the current values and redraw label and heat maps."""
        st = self.state()
        if hasattr(self, "label"):
            from IPython.display import display

            fig = plot_score_heatmaps(self.scores(), st["keep"], delta=st["delta"])
            with self.plot_out:
                self.plot_out.clear_output(wait=True)
                display(fig)  # explicit: works whatever the matplotlib backend
            plt.close(fig)
            self.label.value = f"<b>{self.describe(st)}</b> <small>({1000 * st['seconds']:.0f} ms)</small>"
        return st
