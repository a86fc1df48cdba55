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

from mintlab.prune.masks import PruneSpec, make_permanent, prune_summary, remaining_weights, weight_masks
from mintlab.prune.scores import PairScores, ScoreSet  # noqa: F401  (PairScores: doctest)
from mintlab.utils.model_state import copy_model

__all__ = [
    "ALL_HEATMAPS_UP_TO",
    "AUTO_DELTA_DROP",
    "DELTA_STEPS",
    "MaskedEvaluator",
    "PruningPanel",
    "delta_options",
    "plot_layer_pruning",
    "plot_score_heatmaps",
    "pruning_state",
    "update_score_heatmaps",
]


class MaskedEvaluator:
    """Accuracy of ``model`` under weight masks, on a fixed in-memory batch (fast enough for sliders).

    The model is copied once (:func:`mintlab.utils.model_state.copy_model`, so a model that already carries
    ``torch.nn.utils.prune`` masks works too: its masks are baked into the copy, and new masks multiply
    them); each call writes ``weight * mask`` into the copy's weights, so the caller's model is never
    touched and no ``torch.nn.utils.prune`` hooks pile up.
    """

    def __init__(
        self,
        model: nn.Module,
        data: Dataset,
        *,
        max_examples: int = 2000,
        seed: int = 0,
        device: str | torch.device | None = None,
    ) -> None:
        if max_examples < 1:
            raise ValueError(f"Expected `max_examples` >= 1, but got {max_examples}")
        from mintlab.utils.runtime import select_device

        self.device = select_device(device)
        self.model = make_permanent(copy_model(model)).to(self.device).eval()  # effective weights, zeros kept
        self.modules = dict(self.model.named_modules())
        self.dense = {
            name: m.weight.detach().clone()
            for name, m in self.modules.items()
            if isinstance(getattr(m, "weight", None), torch.Tensor)
        }
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
            logits = self.model(self.x[start : start + 1000])
            correct += int((logits.argmax(1) == self.y[start : start + 1000]).sum())
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
    return {
        "total": 100.0 * removed / total_params if total_params else float("nan"),
        "per_layer": per_layer,
        "removed_weights": removed,
    }


_PRUNED_CMAP = ListedColormap(["#d9d9d9"])


def plot_score_heatmaps(
    scores: ScoreSet,
    keep: Mapping[str, np.ndarray],
    *,
    delta: float | None = None,
    above: Mapping[str, np.ndarray] | None = None,
    fig: Figure | None = None,
    children: Sequence[str] | None = None,
) -> Figure:
    """One heat map per layer pair: scores (G_child × G_parent) with the pruned cells grey.

    ``children`` draws only the pairs of those child layers (default: every pair), for networks with tens of
    pairs, where a selector picks the one to look at (:class:`PruningPanel`).

    ``above`` (child → bool ``(G_child, G_parent)``, from :func:`mintlab.prune.noise.above_noise`) marks with
    a white dot every cell whose score clears the estimator's noise; unmarked cells are indistinguishable
    from what the scorer reports on independent data.
    """
    shown = [p for p in scores.pairs if children is None or p.child in children]
    n = len(shown)
    handles: dict[str, tuple[Any, Any, str]] = {}
    if fig is None:
        fig = plt.figure(figsize=(4.2 * n, 3.6))
    fig.clear()
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, p in zip(axes, shown, strict=True):
        img = ax.imshow(p.scores, aspect="auto", cmap="viridis", interpolation="nearest")
        pruned = ~np.asarray(keep[p.child], dtype=bool)
        overlay = ax.imshow(
            np.ma.masked_where(~pruned, np.ones_like(p.scores)),
            aspect="auto",
            cmap=_PRUNED_CMAP,
            vmin=0,
            vmax=1,
            alpha=0.9,
            interpolation="nearest",
        )
        legend = "grey: pruned"
        if above is not None and p.child in above:
            rows, cols = np.nonzero(np.asarray(above[p.child], dtype=bool))
            ax.scatter(
                cols,
                rows,
                s=max(4.0, 400.0 / max(p.scores.shape)),
                c="white",
                edgecolors="black",
                linewidths=0.4,
                marker="o",
            )
            legend += f"; dot: above noise ({100 * np.mean(above[p.child]):.0f} % of cells)"
        title = ax.set_title("", fontsize=8)
        handles[p.child] = (overlay, title, legend)
        ax.set_xlabel("parent group j")
        ax.set_ylabel("child group i")
        fig.colorbar(img, ax=ax, fraction=0.046)
    fig._mintlab_heatmaps = handles  # what update_score_heatmaps changes in place
    update_score_heatmaps(fig, scores, keep, delta=delta)
    fig.tight_layout()
    return fig


def update_score_heatmaps(
    fig: Figure, scores: ScoreSet, keep: Mapping[str, np.ndarray], *, delta: float | None
) -> None:
    """Redraw what a new δ or γ changes in a figure of :func:`plot_score_heatmaps` (same scores and pairs): the
    grey cells and the titles, in place (a new figure costs several times more)."""
    for child, (overlay, title, legend) in fig._mintlab_heatmaps.items():
        p = scores[child]
        pruned = ~np.asarray(keep[child], dtype=bool)
        overlay.set_data(np.ma.masked_where(~pruned, np.ones_like(p.scores)))
        text = f"{p.parent} → {p.child}\n{100 * pruned.mean():.1f} % of cells pruned"
        if delta is not None:
            kept_scores = p.scores[~pruned]
            layer_t = float(kept_scores.min()) if kept_scores.size else float("nan")
            text += f"; δ={delta:.3f}, lowest kept {layer_t:.3f}"
        title.set_text(f"{text}\n({legend})")


def plot_layer_pruning(per_layer_percent: Mapping[str, float], *, highlight: str | None = None, ax: Any = None) -> Any:
    """Pruned percentage of each child layer, in network order (the shape of the paper's Fig. 5); the layer whose
    heat map is shown is ``highlight``. Returns the axes."""
    if ax is None:
        ax = plt.figure(figsize=(max(4.0, 0.35 * len(per_layer_percent) + 2), 2.6)).subplots()
    names = list(per_layer_percent)
    colors = ["C3" if n == highlight else "C0" for n in names]
    ax.bar(range(len(names)), [per_layer_percent[n] for n in names], color=colors)
    ax.set_xticks(
        range(len(names)), [n.split(".")[-1] if len(names) > 6 else n for n in names], rotation=90, fontsize=7
    )
    ax.set_ylim(0, 100)
    ax.set_ylabel("pruned (%)", fontsize=8)
    ax.set_title("per layer (child of each pair)", fontsize=8)
    return ax


def _update_layer_bars(ax: Any, per_layer_percent: Mapping[str, float], highlight: str | None) -> None:
    """Set the bars of :func:`plot_layer_pruning` to new percentages (same layers), in place."""
    for bar, (name, value) in zip(ax.patches, per_layer_percent.items(), strict=True):
        bar.set_height(value)
        bar.set_color("C3" if name == highlight else "C0")


#: Up to this many layer pairs the panel shows every heat map; beyond, a selector picks one.
ALL_HEATMAPS_UP_TO = 3

#: Positions of the δ slider: this many quantiles of the scores (so every step moves some blocks).
DELTA_STEPS = 100
#: The default δ keeps the masked network within this many accuracy points of the unpruned one.
AUTO_DELTA_DROP = 5.0


def delta_options(
    scores: ScoreSet, *, skip: Iterable[str] = (), steps: int = DELTA_STEPS, include: Iterable[float] = ()
) -> list[float]:
    """The δ values the slider offers: the lowest score (δ there prunes nothing), then just above each score
    that exists below 1 (non-skipped layers; every k-th of them in sorted order when there are more than
    ``steps``), plus ``include``; sorted, distinct, within a :class:`~mintlab.prune.masks.PruneSpec`'s [-1, 1].

    Every step removes at least one more block (δ just above a score prunes that score's cells; the rule
    keeps ``rho >= δ``), the right end prunes every cell (up to γ): no part of the slider is flat, whatever
    the scale of the scores (MINT scores of few samples all lie below ≈ 0.15, so a δ slider over [0, 1]
    would be flat from there on).

    >>> s = ScoreSet([PairScores("a", "b", np.array([[-0.2, 0.1], [0.1, 0.3]]), np.array([0, 1]),
    ...                          np.array([0, 1]))], {})
    >>> [f"{d:.3f}" for d in delta_options(s)]
    ['-0.200', '-0.200', '0.100', '0.300']
    """
    skip = set(skip)
    values = np.concatenate([p.scores.ravel() for p in scores.pairs if p.child not in skip] or [np.zeros(1)])
    values = np.clip(values, -1.0, 1.0)
    distinct = np.nextafter(np.unique(values[values < 1.0]), np.inf)
    if len(distinct) > int(steps):
        picks = np.unique(np.round(np.linspace(-1, len(distinct) - 1, int(steps) + 1)).astype(int))
        distinct = distinct[picks[picks >= 0]]  # evenly spaced in rank, the top one always included
    extra = np.clip(np.asarray(list(include), dtype=float), -1.0, 1.0)
    return sorted({float(v) for v in np.concatenate([[values.min()], distinct, extra])})


def _png_output(fig: Any) -> dict[str, Any]:
    """A Jupyter ``display_data`` output holding ``fig`` as a PNG (what ``display(fig)`` would send)."""
    import base64
    import io

    buffer = io.BytesIO()  # a panel's figure carries its box, measured once: "tight" would draw it twice
    fig.savefig(buffer, format="png", dpi=fig.dpi, bbox_inches=getattr(fig, "_mintlab_bbox", "tight"))
    return {
        "output_type": "display_data",
        "metadata": {},
        "data": {"image/png": base64.b64encode(buffer.getvalue()).decode("ascii"), "text/plain": repr(fig)},
    }


class PruningPanel:
    """ipywidgets panel: a δ slider over the scores that exist, γ, a G selector; live pruned %, heat maps
    (cells above the estimator's noise marked) and the accuracy of the masked network.

    Args:
        model: the trained network (dense, or already pruned: new masks multiply the old ones).
        scores_for: callable ``G label → ScoreSet`` (computes or loads scores for that grouping).
        group_options: the labels offered by the G selector (first = initial unless ``groups`` is given).
        evaluator: a :class:`MaskedEvaluator` for the accuracy of the masked network (optional).
        delta: initial δ; ``None`` picks it (:meth:`auto_delta`): the largest δ of the slider that keeps the
            masked network within ``auto_drop`` accuracy points of the unpruned one (needs ``evaluator``;
            without one, the median score).
        gamma, groups: initial values (the notebook's parameters).
        skip: child layers never pruned.
        null_for: callable ``G label → ScoreSet`` of the permutation null
            (:class:`mintlab.prune.noise.PermutationNullScorer`); when given, heat maps mark the cells whose
            score clears its ``noise_quantile``.
        noise_quantile: see :func:`mintlab.prune.noise.noise_thresholds`.
        auto_drop: accuracy points the automatic δ may cost.
    """

    def __init__(
        self,
        model: nn.Module,
        scores_for: Callable[[str], ScoreSet],
        group_options: Sequence[str],
        *,
        evaluator: MaskedEvaluator | None = None,
        delta: float | None = None,
        gamma: float = 1.0,
        groups: str | None = None,
        skip: Iterable[str] = (),
        null_for: Callable[[str], ScoreSet] | None = None,
        noise_quantile: float = 0.95,
        auto_drop: float = AUTO_DELTA_DROP,
    ) -> None:
        from mintlab.utils.checks import check_fraction, check_number

        if not group_options:
            raise ValueError("Expected at least one entry in `group_options`, but got none")
        groups = group_options[0] if groups is None else groups
        if groups not in group_options:
            raise ValueError(f"Expected `groups` among {list(group_options)}, but got {groups!r}")
        self.model, self.evaluator, self.skip = model, evaluator, tuple(skip)
        self._scores_for, self._cache = scores_for, {}
        self._null_for, self._null_cache = null_for, {}
        self.noise_quantile = check_number(
            noise_quantile, "noise_quantile", low=0.0, high=1.0, low_open=True, high_open=True
        )
        self.auto_drop = check_number(auto_drop, "auto_drop", low=0.0)
        self.group_options = list(group_options)
        self.gamma, self.groups = float(check_fraction(gamma, "gamma")), groups
        self.delta = self.auto_delta() if delta is None else float(check_number(delta, "delta", low=-1.0, high=1.0))
        self._widget = None

    def scores(self, groups: str | None = None) -> ScoreSet:
        """Scores for a G label (computed once, then held)."""
        label = self.groups if groups is None else groups
        if label not in self._cache:
            self._cache[label] = self._scores_for(label)
        return self._cache[label]

    def null(self, groups: str | None = None) -> ScoreSet | None:
        """Permutation-null scores for a G label (None without ``null_for``)."""
        if self._null_for is None:
            return None
        label = self.groups if groups is None else groups
        if label not in self._null_cache:
            self._null_cache[label] = self._null_for(label)
        return self._null_cache[label]

    def above_noise(self, groups: str | None = None) -> dict[str, np.ndarray] | None:
        """Per child layer, the cells whose score clears the noise (None without ``null_for``)."""
        from mintlab.prune.noise import above_noise

        null = self.null(groups)
        return None if null is None else above_noise(self.scores(groups), null, self.noise_quantile)

    def noise_levels(self, groups: str | None = None) -> dict[str, float] | None:
        """Per child layer, the noise level (the null's ``noise_quantile``; None without ``null_for``)."""
        from mintlab.prune.noise import noise_thresholds

        null = self.null(groups)
        return None if null is None else noise_thresholds(null, self.noise_quantile)

    def delta_options(self, groups: str | None = None, *, gamma: float | None = None) -> list[float]:
        """The δ values the slider offers for a G label (:func:`delta_options`), less those that change nothing
        under the current γ (where the cap holds every layer, a higher δ prunes no more), plus the current δ."""
        label = self.groups if groups is None else groups
        gamma = self.gamma if gamma is None else gamma
        cache = self.__dict__.setdefault("_delta_options", {})  # per (G, γ): a slider move changes neither
        if (label, gamma) not in cache:
            scores = self.scores(label)
            remaining = remaining_weights(self.model, scores)
            options, last = [], None
            for d in delta_options(scores, skip=self.skip):
                spec = PruneSpec(delta=d, gamma=None if gamma >= 1.0 else gamma, skip=self.skip)
                keep = spec.keep(scores, remaining)
                signature = tuple(np.packbits(keep[c]).tobytes() for c in sorted(keep))
                if signature != last:
                    options.append(d)
                    last = signature
            cache[(label, gamma)] = options
        options = cache[(label, gamma)]
        current = getattr(self, "delta", None)
        return sorted(set(options) | ({float(current)} if current is not None else set()))

    def auto_delta(self, groups: str | None = None) -> float:
        """The largest δ of the slider whose masked network stays within ``auto_drop`` points of the unpruned
        one (binary search: accuracy falls with δ up to noise); the median score without an evaluator."""
        options = self.delta_options(groups)
        if self.evaluator is None:
            return options[len(options) // 2]
        floor = self.evaluator.accuracy({}) - self.auto_drop
        lo, hi = 0, len(options) - 1  # invariant: options[lo] passes (δ = the lowest score prunes nothing)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.state(delta=options[mid], groups=groups)["accuracy_masked"] >= floor:
                lo = mid
            else:
                hi = mid - 1
        return options[lo]

    def state(
        self,
        *,
        delta: float | None = None,
        gamma: float | None = None,
        groups: str | None = None,
        accuracy: bool = True,
    ) -> dict:
        """The panel's numbers for given values (defaults: the current ones); ``accuracy=False`` leaves out the
        masked network's accuracy (``None``), the one part that runs the network."""
        gamma = self.gamma if gamma is None else gamma
        spec = PruneSpec(
            delta=self.delta if delta is None else delta, gamma=None if gamma >= 1.0 else gamma, skip=self.skip
        )  # γ = 1 on the slider: no cap
        st = pruning_state(self.model, self.scores(groups), spec, evaluator=self.evaluator if accuracy else None)
        above = self.above_noise(groups)
        if above is not None:
            st["above_noise_percent"] = {c: 100.0 * float(np.mean(a)) for c, a in above.items()}
            st["noise_level"] = self.noise_levels(groups)
        return st

    @staticmethod
    def describe(state: Mapping[str, Any], *, pending: bool = False) -> str:
        """One line of text: what the panel's label shows (``pending``: the accuracy is still being computed)."""
        per_layer = state["per_layer_percent"]
        if len(per_layer) <= 6:
            layers = ", ".join(f"{k} {v:.1f} %" for k, v in per_layer.items())
        else:  # tens of layers: the bars show each
            layers = f"{len(per_layer)} layers, {min(per_layer.values()):.1f}–{max(per_layer.values()):.1f} % each"
        acc = "n/a" if state["accuracy_masked"] is None else f"{state['accuracy_masked']:.2f} %"
        if pending:
            acc = "computing…"
        text = (
            f"pruned: {state['pruned_percent']:.2f} % of all parameters ({layers}); "
            f"accuracy before retraining: {acc}; δ = {state['delta']:.4f}"
        )
        if "above_noise_percent" in state:
            noise = ", ".join(
                f"{k} {v:.0f} % (noise level {state['noise_level'][k]:.3f})"
                for k, v in state["above_noise_percent"].items()
            )
            text += f"; cells above noise: {noise}"
        return text

    def widget(self) -> Any:
        """Build (once) and return the ipywidgets box."""
        if self._widget is not None:
            return self._widget
        import ipywidgets as w

        self.delta_slider = w.SelectionSlider(
            options=self._delta_labels(),
            value=self.delta,
            description="δ",
            continuous_update=False,
            layout=w.Layout(width="520px"),
        )
        self.delta_slider.add_class("mintlab-delta")
        self.gamma_slider = w.FloatSlider(
            value=self.gamma,
            min=0.0,
            max=1.0,
            step=0.01,
            description="γ (cap)",
            readout_format=".2f",
            continuous_update=False,
            layout=w.Layout(width="360px"),
        )
        self.groups_select = w.Dropdown(options=self.group_options, value=self.groups, description="G")
        children = [p.child for p in self.scores().pairs]
        self.pair_select = w.Dropdown(options=children, value=children[0], description="heat map")
        self.range_label = w.HTML()
        self.label = w.HTML()
        self.label.add_class("mintlab-pruned")
        self.plot_out = w.Output()
        for control in (self.delta_slider, self.gamma_slider, self.groups_select, self.pair_select):
            control.observe(self._on_change, names="value")
        controls = [self.delta_slider, self.gamma_slider, self.groups_select]
        if len(children) > ALL_HEATMAPS_UP_TO:
            controls.append(self.pair_select)
        self._widget = w.VBox(
            [
                w.HBox(controls),
                self.range_label,
                self.label,
                self.plot_out,
            ]
        )
        self.refresh()
        return self._widget

    def _delta_labels(self) -> list[tuple[str, float]]:
        return [(f"{d:.4f}", d) for d in self.delta_options()]

    def _on_change(self, change: Any) -> None:
        if getattr(self, "_updating", False):
            return
        self.gamma = float(self.gamma_slider.value)
        if change is not None and change.get("owner") in (self.groups_select, self.gamma_slider):
            self.groups = self.groups_select.value
            self._updating = True
            try:  # the slider spans the new grouping's scores (and γ's effect); δ moves to the nearest step
                options = self._delta_labels()
                values = [v for _, v in options]
                self.delta = min(values, key=lambda v: abs(v - self.delta))
                self.delta_slider.options = options
                self.delta_slider.value = self.delta
            finally:
                self._updating = False
        else:
            self.delta = float(self.delta_slider.value)
        self.refresh()

    def figure(self, st: Mapping[str, Any]) -> Figure:
        """The panel's figure for state ``st``: the per-layer pruned percentages, then the heat map of the pair
        chosen with the selector (every pair's, up to :data:`ALL_HEATMAPS_UP_TO` pairs).

        The figure is built once per G and chosen pair and then updated in place (grey cells, titles, bars), outside
        pyplot (a notebook does not display it by itself); a new δ or γ redraws it, it does not rebuild it.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        scores = self.scores()
        many = len(scores.pairs) > ALL_HEATMAPS_UP_TO
        chosen = [self.pair_select.value] if many and hasattr(self, "pair_select") else None
        highlight = chosen[0] if chosen else None
        key = (self.groups, highlight)
        cached = getattr(self, "_figure", None)
        if cached is not None and cached[0] == key:
            fig = cached[1]
            update_score_heatmaps(fig, scores, st["keep"], delta=st["delta"])
            if many:
                _update_layer_bars(fig._mintlab_bars, st["per_layer_percent"], highlight)
            return fig
        shown = 1 if chosen else len(scores.pairs)
        fig = Figure(figsize=(4.2 * shown + (max(4.0, 0.35 * len(scores.pairs) + 2) if many else 0), 3.6))
        FigureCanvasAgg(fig)
        plot_score_heatmaps(scores, st["keep"], delta=st["delta"], above=self.above_noise(), fig=fig, children=chosen)
        if many:  # the Fig. 5 shape beside the one heat map
            for ax in fig.axes:  # the heat map and its colour bar take the left part
                box = ax.get_position()
                ax.set_position((box.x0 * 0.45, box.y0, box.width * 0.45, box.height))
            fig._mintlab_bars = fig.add_axes((0.56, 0.22, 0.42, 0.62))
            plot_layer_pruning(st["per_layer_percent"], highlight=highlight, ax=fig._mintlab_bars)
        fig._mintlab_bbox = fig.get_tightbbox(fig.canvas.get_renderer()).padded(0.15)
        self._figure = (key, fig)
        return fig

    def refresh(self) -> dict:
        """Recompute the state for the current values and redraw, in two steps: the pruned percentages, bars and
        heat map first (no network runs for them), then the masked network's accuracy into the label. The first
        step reaches the front end before the second starts, so the panel follows a slider at the speed of the
        figure and the accuracy follows when the network has run. The state returned holds both, and
        ``draw_seconds`` / ``accuracy_seconds`` beside ``seconds`` (the whole update)."""
        t0 = time.perf_counter()
        st = self.state(accuracy=False)
        scores = self.scores()
        if hasattr(self, "label"):
            fig = self.figure(st)
            # The figure goes into the Output widget's state, not through display() inside it: displaying into
            # an Output widget makes a headless client (nbclient) answer on the kernel's shell socket while it
            # waits there for the cell's reply, a race that could strand the reply (docs/runner.md).
            self.plot_out.outputs = (_png_output(fig),)
            options = self.delta_options()
            self.range_label.value = (
                f"<small>δ slider: {len(options)} steps over the scores that exist, "
                f"{options[0]:.4f} … {options[-1]:.4f} (each step prunes more)</small>"
            )
            st["draw_seconds"] = time.perf_counter() - t0
            if self.evaluator is not None:
                drawn = f"figure {1000 * st['draw_seconds']:.0f} ms"
                self.label.value = f"<b>{self.describe(st, pending=True)}</b> <small>({drawn})</small>"
        if self.evaluator is not None:
            t1 = time.perf_counter()
            st["accuracy_masked"] = self.evaluator.accuracy(weight_masks(self.model, st["keep"], scores))
            st["accuracy_seconds"] = time.perf_counter() - t1
        st["seconds"] = time.perf_counter() - t0
        if hasattr(self, "label"):
            timing = f"figure {1000 * st['draw_seconds']:.0f} ms"
            if "accuracy_seconds" in st:
                timing += f", accuracy {1000 * st['accuracy_seconds']:.0f} ms"
            self.label.value = f"<b>{self.describe(st)}</b> <small>({timing})</small>"
        return st
