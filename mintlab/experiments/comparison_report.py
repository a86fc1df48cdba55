"""What a method comparison found: plots, per-cell statistics over seeds, paired tests, a Markdown summary.

:func:`comparison_statistics` is the one source of every number a reader sees (the README's Evidence
section is generated from it, ``scripts/evidence_readme.py``): per allocation, level and method, the mean
and 95 % Student-t interval over seeds of the accuracy before and after retraining, the seed spread, and
against the reference method (MINT) the paired difference of the same seeds (same dense network, same sample,
same retraining), its interval and two-sided paired t-test p-value (``scipy.stats.ttest_rel``, through
:func:`mintlab.characterize.compare.paired_test`). An interval that straddles zero reads "no difference
detected at n = k", never "equal".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mintlab.utils.io import save_figure

__all__ = ["comparison_statistics", "plot_comparison", "plot_paired_differences", "summarize", "ALPHA"]

#: Two-sided level of the intervals and tests (95 %).
ALPHA = 0.05


# --------------------------------------------------------------------------- plots


def plot_comparison(
    result: Mapping[str, Any], path: str | Path | None = None, layers_path: str | Path | None = None
) -> tuple[Any, Any]:
    """Accuracy vs pruned share per method (seed mean, min–max bars), and per-layer pruned %.

    Figure 1: one panel per allocation; x = total pruned % (mean over seeds), y = accuracy
    after the retrain; bars span the seeds' min and max; the sweep seed's extra levels join
    the line as single points; the dense accuracy (mean over seeds) as a line. Figure 2 (the
    paper's Fig. 5): per-layer pruned % at the highest level, seed ``settings.seeds[0]``, one
    line per method and allocation. Writes each to its path (PNG, atomically) when given.

    Returns:
        ``(accuracy figure, per-layer figure)``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    runs = list(result.get("runs", []))
    s = result.get("settings", {})
    allocs = list(dict.fromkeys(r["allocation"] for r in runs)) or ["mint"]
    methods = list(dict.fromkeys(r["method"] for r in runs))
    colors = dict(zip(methods, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    dense = [float(v) for v in result.get("dense_accuracy", {}).values()]
    fig, axes = plt.subplots(1, len(allocs), figsize=(6 * len(allocs), 4.4), squeeze=False)
    for ax, alloc in zip(axes[0], allocs):
        for method in methods:
            by_level: dict[float, list[dict]] = {}
            for r in runs:
                if r["allocation"] == alloc and r["method"] == method:
                    by_level.setdefault(r["target_percent"], []).append(r)
            if not by_level:
                continue
            xs, ys, lo, hi = [], [], [], []
            for level in sorted(by_level):
                acc = np.array([r["accuracy_retrained"] for r in by_level[level]])
                xs.append(np.mean([r["pruned_percent"] for r in by_level[level]]))
                ys.append(acc.mean())
                lo.append(acc.mean() - acc.min())
                hi.append(acc.max() - acc.mean())
            ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o-", capsize=3, color=colors[method], label=method)
        if dense:
            ax.axhline(np.mean(dense), color="k", lw=1, label=f"dense {np.mean(dense):.2f} % (mean of {len(dense)})")
        ax.set_xlabel("parameters pruned (% of all)")
        ax.set_ylabel("test accuracy after one retrain (%)")
        ax.set_title(f"allocation {alloc!r}: mean over seeds, bars = min–max", fontsize=9)
        ax.legend(fontsize=7, framealpha=0.6)
    ds = s.get("dataset", {}).get("name") if isinstance(s.get("dataset"), Mapping) else s.get("dataset")
    fig.suptitle(
        f"{s.get('model')} (width {s.get('width')}) / {ds}: m={s.get('samples_per_class')}, seeds {s.get('seeds')}",
        fontsize=10,
    )
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path, dpi=110)

    fig2, ax2 = plt.subplots(figsize=(max(6.0, 0.25 * len(s.get("pairs", [])) + 4), 4.4))
    seed0 = (s.get("seeds") or [0])[0]
    main_runs = [r for r in runs if r["seed"] == seed0 and not r.get("sweep")]
    if main_runs:
        top = max(r["target_percent"] for r in main_runs)
        layers = [p[1] for p in s.get("pairs", [])] or list(main_runs[0]["per_layer_pruned_percent"])
        styles = {"mint": "-", "global": "--"}
        for r in main_runs:
            if r["target_percent"] != top or (r["allocation"] == "mint" and r["method"] != methods[0]):
                continue  # under "mint" allocation every method has the leader's per-layer shares
            label = "δ (every method)" if r["allocation"] == "mint" else r["method"]
            ax2.plot(
                range(len(layers)),
                [r["per_layer_pruned_percent"].get(c, 0.0) for c in layers],
                "o",
                ls=styles.get(r["allocation"], "-"),
                color="k" if r["allocation"] == "mint" else colors[r["method"]],
                label=f"{r['allocation']}: {label} ({r['pruned_percent']:.1f} %)",
            )
        ax2.set_xticks(range(len(layers)))
        ax2.set_xticklabels(
            [c.replace("features.", "").replace("classifier.", "") for c in layers], rotation=90, fontsize=6
        )
        ax2.set_title(f"per-layer pruned % at level {top:g} % (seed {seed0})", fontsize=9)
    ax2.set_ylabel("weights pruned in the layer (%)")
    ax2.legend(fontsize=7, framealpha=0.6)
    fig2.tight_layout()
    if layers_path is not None:
        save_figure(fig2, layers_path, dpi=110)
    return fig, fig2


def _runs_by_cell(result: Mapping[str, Any]) -> dict[tuple[str, float], dict[str, dict[int, Mapping[str, Any]]]]:
    """The non-sweep runs of ``result`` as ``(allocation, level) → method → seed → run``: allocations in the
    order they first appear, levels ascending, methods in run order (sweep-only runs, one seed, left out)."""
    runs = [r for r in result.get("runs", []) if not r.get("sweep")]
    grouped: dict[tuple[str, float], dict[str, dict[int, Mapping[str, Any]]]] = {}
    for alloc in dict.fromkeys(r["allocation"] for r in runs):
        for level in sorted({r["target_percent"] for r in runs if r["allocation"] == alloc}):
            grouped[(alloc, level)] = {}
    for r in runs:
        grouped[(r["allocation"], r["target_percent"])].setdefault(r["method"], {})[int(r["seed"])] = r
    return grouped


def paired_differences(result: Mapping[str, Any], *, reference: str = "mint", key: str = "accuracy_retrained"):
    """Long-form table (a ``pandas.DataFrame``) of the per-seed paired differences ``method − reference`` of
    ``key`` (points): columns ``allocation``, ``level``, ``method``, ``seed``, ``difference``; one row per seed
    both ran at that allocation and level (sweep-only runs left out, as in :func:`comparison_statistics`)."""
    import pandas as pd

    rows = []
    for (alloc, level), at in _runs_by_cell(result).items():
        ref = at.get(reference, {})
        for method, by_seed in at.items():
            if method == reference:
                continue
            for seed in sorted(set(by_seed) & set(ref)):
                rows.append({"allocation": alloc, "level": level, "method": method, "seed": seed,
                             "difference": float(by_seed[seed][key]) - float(ref[seed][key])})  # fmt: skip
    return pd.DataFrame(rows, columns=["allocation", "level", "method", "seed", "difference"])


def _t95(values: Any) -> tuple[float, float]:
    """seaborn ``errorbar`` callable: the 95 % Student-t interval of the mean (the paired test's, on
    differences); a single value is its own interval."""
    from mintlab.characterize.compare import t_interval

    ci = t_interval(list(values), ALPHA)
    return (ci["mean"], ci["mean"]) if ci["ci_low"] is None else (ci["ci_low"], ci["ci_high"])


def plot_paired_differences(
    result: Mapping[str, Any],
    path: str | Path | None = None,
    *,
    reference: str = "mint",
    key: str = "accuracy_retrained",
) -> Any:
    """Each method against ``reference`` seed by seed: one panel per allocation (rows) and level (columns), one
    dot per seed's paired difference ``method − reference`` of ``key`` (points), a diamond at the mean with its
    95 % Student-t interval (the interval :func:`comparison_statistics` reports), and a line at zero: a
    method whose bar crosses zero is not told apart from the reference at this n. Drawn with seaborn
    (``stripplot`` and ``pointplot`` on a ``FacetGrid``); written as PNG to ``path`` when given.

    Returns:
        the seaborn ``FacetGrid`` (its ``figure`` the matplotlib Figure), or ``None`` when no method shares a
        seed with ``reference``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import seaborn as sns

    table = paired_differences(result, reference=reference, key=key)
    if table.empty:
        return None
    methods = list(dict.fromkeys(table["method"]))
    grid = sns.FacetGrid(table, row="allocation", col="level", height=2.8, aspect=1.1, sharey=False, margin_titles=True)
    grid.map_dataframe(sns.stripplot, x="method", y="difference", order=methods, hue="method", hue_order=methods,
                       palette="deep", size=4, alpha=0.7, jitter=0.15)  # fmt: skip
    grid.map_dataframe(sns.pointplot, x="method", y="difference", order=methods, errorbar=_t95, color="k",
                       markers="D", linestyle="none", capsize=0.2, err_kws={"linewidth": 1})  # fmt: skip
    grid.refline(y=0, color="grey", lw=0.8)
    grid.set_axis_labels("", f"{key.replace('_', ' ')} − {reference} (points)")
    grid.set_titles(row_template="allocation {row_name}", col_template="level {col_name:g} %")
    for ax in grid.axes.flat:
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    grid.figure.suptitle(f"paired differences to {reference}: dots = seeds, diamond = mean ± 95 % t-interval "
                         "(each panel its own scale)", fontsize=9)  # fmt: skip
    grid.figure.subplots_adjust(top=0.9)
    if path is not None:
        save_figure(grid.figure, path, dpi=110)
    return grid


def _cell(values: Sequence[float]) -> dict[str, Any]:
    from mintlab.characterize.compare import t_interval

    ci = t_interval(values, ALPHA)
    return {
        "mean": ci["mean"],
        "ci_low": ci["ci_low"],
        "ci_high": ci["ci_high"],
        "n": ci["n"],
        "spread": float(max(values) - min(values)) if values else None,
        "values": list(values),
    }


def _paired(values: Mapping[int, float], reference: Mapping[int, float]) -> dict[str, Any] | None:
    """MINT against a method on the seeds both ran: the paired difference ``method − reference``."""
    from mintlab.characterize.compare import paired_test

    seeds = sorted(set(values) & set(reference))
    if len(seeds) < 2:
        return None
    t = paired_test([values[s] for s in seeds], [reference[s] for s in seeds], alpha=ALPHA, min_seeds=2)
    if t["ci_low"] is not None and t["ci_low"] > 0:
        verdict = "higher"
    elif t["ci_high"] is not None and t["ci_high"] < 0:
        verdict = "lower"
    else:
        verdict = f"no difference detected at n = {len(seeds)}"
    return {
        "difference": t["difference"],
        "ci_low": t["ci_low"],
        "ci_high": t["ci_high"],
        "p": t["p"],
        "n": len(seeds),
        "seeds": seeds,
        "verdict": verdict,
    }


def comparison_statistics(result: Mapping[str, Any], *, reference: str = "mint") -> dict[str, Any]:
    """Per allocation, level and method: cells over seeds and the paired difference against ``reference``.

    Args:
        result: a comparison's results (schema 2: runs are :class:`mintlab.prune.record.RunRecord`).
        reference: the method every other is compared with (same seed, same level, same allocation).

    Returns:
        ``{"dense": cell, "cells": [{"allocation", "level", "method", "pruned_percent": cell,
        "accuracy_pruned": cell, "accuracy_retrained": cell, "vs_reference": {"accuracy_pruned": paired,
        "accuracy_retrained": paired} | None}], "median_spread_retrained": points, "reference": name}``; a cell
        is ``{"mean", "ci_low", "ci_high", "n", "spread", "values"}`` (percent; the interval ``None`` below 2
        seeds), a paired entry ``{"difference", "ci_low", "ci_high", "p", "n", "seeds", "verdict"}`` with
        verdict ``"higher"`` / ``"lower"`` (the method against the reference, interval excluding 0) or
        ``"no difference detected at n = k"``. Sweep-only runs (one seed) are left out.
    """
    cells = []
    for (alloc, level), at in _runs_by_cell(result).items():
        ref = at.get(reference, {})
        for method, by_seed in at.items():
            cell: dict[str, Any] = {"allocation": alloc, "level": level, "method": method}
            for key in ("pruned_percent", "accuracy_pruned", "accuracy_retrained"):
                cell[key] = _cell([by_seed[s][key] for s in sorted(by_seed)])
            cell["vs_reference"] = (
                None
                if method == reference
                else {
                    key: _paired({s: r[key] for s, r in by_seed.items()}, {s: r[key] for s, r in ref.items()})
                    for key in ("accuracy_pruned", "accuracy_retrained")
                }
            )
            cells.append(cell)
    spreads = [c["accuracy_retrained"]["spread"] for c in cells if c["accuracy_retrained"]["n"] >= 2]
    dense = [float(v) for v in result.get("dense_accuracy", {}).values()]
    return {
        "reference": reference,
        "dense": _cell(dense) if dense else None,
        "cells": cells,
        "median_spread_retrained": float(np.median(spreads)) if spreads else None,
    }


def _fmt_cell(c: Mapping[str, Any]) -> str:
    if c["ci_low"] is None:
        return f"{c['mean']:.2f}"
    return f"{c['mean']:.2f} [{c['ci_low']:.2f}, {c['ci_high']:.2f}]"


def _fmt_paired(p: Mapping[str, Any] | None) -> str:
    if p is None:
        return "—"
    return f"{p['difference']:+.2f} [{p['ci_low']:+.2f}, {p['ci_high']:+.2f}], p = {p['p']:.3f}"


def summarize(result: Mapping[str, Any], *, reference: str = "mint") -> str:
    """A Markdown table per allocation from :func:`comparison_statistics`.

    Each accuracy cell: the mean and its 95 % interval over seeds (their count in a column). The ``vs``
    column gives, for every method but ``reference``, the paired difference *method − reference* of the same
    seeds after retraining, its 95 % interval and p-value, and the verdict. The retrained accuracies are also
    given seed by seed (in seed order): where some networks of a cell collapse to chance and others do not, the
    t-interval of a bimodal cell reaches past 0 or 100 % and says little, the values themselves say what happened.
    """
    st = comparison_statistics(result, reference=reference)
    lines: list[str] = []
    for alloc in dict.fromkeys(c["allocation"] for c in st["cells"]):
        lines += [
            f"Allocation `{alloc}`:",
            "",
            f"| level (% of params) | method | seeds | pruned % | masked + BN [95 % CI] | retrained [95 % CI] "
            f"| retrained, per seed | retrained − {reference} [95 % CI], p | verdict |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for c in (c for c in st["cells"] if c["allocation"] == alloc):
            paired = (c["vs_reference"] or {}).get("accuracy_retrained")
            verdict = "—" if paired is None else paired["verdict"]
            per_seed = ", ".join(f"{v:.2f}" for v in c["accuracy_retrained"]["values"])
            lines.append(
                f"| {c['level']:g} | {c['method']} | {c['accuracy_retrained']['n']} | "
                f"{c['pruned_percent']['mean']:.2f} | {_fmt_cell(c['accuracy_pruned'])} | "
                f"{_fmt_cell(c['accuracy_retrained'])} | {per_seed} | {_fmt_paired(paired)} | {verdict} |"
            )
        lines.append("")
    if st["dense"] is not None:
        lines.append(
            f"Dense accuracy (BatchNorm re-estimated as for the pruned networks): {_fmt_cell(st['dense'])} "
            f"over {st['dense']['n']} seeds."
        )
    if st["median_spread_retrained"] is not None:
        lines.append(f"Median seed spread (max − min) after retraining: {st['median_spread_retrained']:.2f} points.")
    return "\n".join(lines)
