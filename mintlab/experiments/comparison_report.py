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

__all__ = [
    "comparison_statistics",
    "p_text",
    "plot_comparison",
    "plot_paired_differences",
    "summarize",
    "ALPHA",
]

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


def paired_differences(
    result: Mapping[str, Any],
    *,
    reference: str = "mint",
    key: str = "accuracy_retrained",
    connected: Mapping[str, bool] | None = None,
):
    """Long-form table (a ``pandas.DataFrame``) of the per-seed paired differences ``method − reference`` of
    ``key`` (points): columns ``allocation``, ``level``, ``method``, ``seed``, ``difference``; one row per seed
    both ran at that allocation and level (sweep-only runs left out, as in :func:`comparison_statistics`), and,
    with ``connected`` (``run_id → bool``, as there), where neither network is cut."""
    import pandas as pd

    flags = connected or {}
    rows = []
    for (alloc, level), at in _runs_by_cell(result).items():
        ref = at.get(reference, {})
        for method, by_seed in at.items():
            if method == reference:
                continue
            for seed in sorted(set(by_seed) & set(ref)):
                if not (flags.get(by_seed[seed].get("run_id"), True) and flags.get(ref[seed].get("run_id"), True)):
                    continue
                rows.append({"allocation": alloc, "level": level, "method": method, "seed": seed,
                             "difference": float(by_seed[seed][key]) - float(ref[seed][key])})  # fmt: skip
    return pd.DataFrame(rows, columns=["allocation", "level", "method", "seed", "difference"])


def _t95(values: Any) -> tuple[float, float]:
    """seaborn ``errorbar`` callable: the 95 % Student-t interval of the mean (the paired test's, on
    differences); a single value is its own interval."""
    from mintlab.characterize.compare import t_interval

    ci = t_interval(list(values), ALPHA)
    return (ci["mean"], ci["mean"]) if ci["ci_low"] is None else (ci["ci_low"], ci["ci_high"])


def _intervals(*, data: Any, **kwargs: Any) -> None:
    """seaborn ``pointplot`` of the methods with 2 or more pairs in the panel: a single pair has no interval,
    and a zero-width bar would read as a difference told apart."""
    import seaborn as sns

    n = data.groupby("method")["difference"].transform("size")
    if bool((n >= 2).any()):
        sns.pointplot(data=data[n >= 2], **kwargs)


def plot_paired_differences(
    result: Mapping[str, Any],
    path: str | Path | None = None,
    *,
    reference: str = "mint",
    key: str = "accuracy_retrained",
    connected: Mapping[str, bool] | None = None,
) -> Any:
    """Each method against ``reference`` seed by seed: one panel per allocation (rows) and level (columns), one
    dot per seed's paired difference ``method − reference`` of ``key`` (points), a diamond at the mean with its
    95 % Student-t interval (the interval :func:`comparison_statistics` reports), and a line at zero: a
    method whose bar crosses zero is not told apart from the reference at this n (a method with one pair in a
    panel gets its dot only). With ``connected``, pairs with a cut network are left out, as in the statistics.
    Drawn with seaborn (``stripplot`` and ``pointplot`` on a ``FacetGrid``); written as PNG to ``path`` when given.

    Returns:
        the seaborn ``FacetGrid`` (its ``figure`` the matplotlib Figure), or ``None`` when no method shares a
        seed with ``reference``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import seaborn as sns

    table = paired_differences(result, reference=reference, key=key, connected=connected)
    if table.empty:
        return None
    methods = list(dict.fromkeys(table["method"]))
    grid = sns.FacetGrid(table, row="allocation", col="level", height=2.8, aspect=1.1, sharey=False, margin_titles=True)
    grid.map_dataframe(sns.stripplot, x="method", y="difference", order=methods, hue="method", hue_order=methods,
                       palette="deep", size=4, alpha=0.7, jitter=0.15)  # fmt: skip
    grid.map_dataframe(_intervals, x="method", y="difference", order=methods, errorbar=_t95, color="k",
                       markers="D", linestyle="none", capsize=0.2, err_kws={"linewidth": 1})  # fmt: skip
    grid.refline(y=0, color="grey", lw=0.8)
    grid.set_axis_labels("", f"{key.replace('_', ' ')} − {reference} (points)")
    grid.set_titles(row_template="allocation {row_name}", col_template="level {col_name:g} %")
    for ax in grid.axes.flat:
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    cut = "; pairs with a cut network left out" if connected is not None else ""
    grid.figure.suptitle(f"paired differences to {reference}: dots = seeds, diamond = mean ± 95 % t-interval "
                         f"(each panel its own scale{cut})", fontsize=9)  # fmt: skip
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


def comparison_statistics(
    result: Mapping[str, Any], *, reference: str = "mint", connected: Mapping[str, bool] | None = None
) -> dict[str, Any]:
    """Per allocation, level and method: cells over seeds and the paired difference against ``reference``.

    Args:
        result: a comparison's results (schema 2: runs are :class:`mintlab.prune.record.RunRecord`).
        reference: the method every other is compared with (same seed, same level, same allocation).
        connected: ``run_id → whether the masked network's output still depends on its input`` (the
            ``connected`` of :func:`mintlab.experiments.live_units.comparison_live_units`), or ``None``. Where
            given, a cut network (``False``) is counted in its cell's ``cut`` and left out of its accuracy cells
            and of every paired test: it sits at chance whatever its scores ranked, and a t-interval over a cell
            that mixes chance with ~90 % runs reaches past 0 or 100 % and says nothing. The paired tests then
            compare how well two methods rank *given that neither cut the network*; how often each cut it is
            the ``cut`` count, to be reported beside them.

    Returns:
        ``{"dense": cell, "cells": [{"allocation", "level", "method", "seeds", "cut", "per_seed",
        "pruned_percent": cell, "accuracy_pruned": cell, "accuracy_retrained": cell, "vs_reference":
        {"accuracy_pruned": paired, "accuracy_retrained": paired} | None}], "median_spread_retrained": points,
        "spread_cells": count, "reference": name}``; ``seeds`` the cell's seeds, ``cut`` how many of their
        networks are cut (0 without ``connected``), ``per_seed`` ``[{"seed", "accuracy_retrained", "cut"}]``;
        a cell is ``{"mean", "ci_low", "ci_high", "n", "spread", "values"}`` (percent over the connected seeds;
        the interval ``None`` below 2 seeds, the mean ``None`` without any), a paired entry ``{"difference",
        "ci_low", "ci_high", "p", "n", "seeds", "verdict"}`` with verdict ``"higher"`` / ``"lower"`` (the method
        against the reference, interval excluding 0) or ``"no difference detected at n = k"``, ``None`` below 2
        common connected seeds. The median seed spread is over the ``spread_cells`` cells of 2 or more seeds
        and no cut network. Sweep-only runs (one seed) are left out.
    """
    flags = connected or {}

    def kept(by_seed: Mapping[int, Mapping[str, Any]]) -> dict[int, Mapping[str, Any]]:
        return {s: r for s, r in by_seed.items() if flags.get(r.get("run_id"), True)}

    cells = []
    for (alloc, level), at in _runs_by_cell(result).items():
        ref = kept(at.get(reference, {}))
        for method, by_seed in at.items():
            live = kept(by_seed)
            cell: dict[str, Any] = {"allocation": alloc, "level": level, "method": method,
                                    "seeds": sorted(by_seed), "cut": len(by_seed) - len(live)}  # fmt: skip
            cell["per_seed"] = [{"seed": s, "accuracy_retrained": by_seed[s]["accuracy_retrained"],
                                 "cut": s not in live} for s in sorted(by_seed)]  # fmt: skip
            cell["pruned_percent"] = _cell([by_seed[s]["pruned_percent"] for s in sorted(by_seed)])
            for key in ("accuracy_pruned", "accuracy_retrained"):
                cell[key] = _cell([live[s][key] for s in sorted(live)])
            cell["vs_reference"] = (
                None
                if method == reference
                else {
                    key: _paired({s: r[key] for s, r in live.items()}, {s: r[key] for s, r in ref.items()})
                    for key in ("accuracy_pruned", "accuracy_retrained")
                }
            )
            cells.append(cell)
    spreads = [c["accuracy_retrained"]["spread"] for c in cells if c["accuracy_retrained"]["n"] >= 2 and not c["cut"]]
    dense = [float(v) for v in result.get("dense_accuracy", {}).values()]
    return {
        "reference": reference,
        "dense": _cell(dense) if dense else None,
        "cells": cells,
        "median_spread_retrained": float(np.median(spreads)) if spreads else None,
        "spread_cells": len(spreads),
    }


def _fmt_cell(c: Mapping[str, Any]) -> str:
    if c["mean"] is None:
        return "—"
    if c["ci_low"] is None:
        return f"{c['mean']:.2f}"
    return f"{c['mean']:.2f} [{c['ci_low']:.2f}, {c['ci_high']:.2f}]"


def p_text(p: float, equals: str = "") -> str:
    """A p-value for tables and prose: ``equals`` and three decimals, ``< 0.001`` below that."""
    return "< 0.001" if p < 0.0005 else f"{equals}{p:.3f}"


def _fmt_paired(p: Mapping[str, Any] | None) -> str:
    if p is None:
        return "—"
    return f"{p['difference']:+.2f} [{p['ci_low']:+.2f}, {p['ci_high']:+.2f}], p {p_text(p['p'], '= ')}"


def summarize(
    result: Mapping[str, Any], *, reference: str = "mint", connected: Mapping[str, bool] | None = None
) -> str:
    """A Markdown table per allocation from :func:`comparison_statistics` (``connected`` as there).

    Each accuracy cell: the mean and its 95 % interval over seeds (their count in a column). The ``vs``
    column gives, for every method but ``reference``, the paired difference *method − reference* of the same
    seeds after retraining, its 95 % interval and p-value, and the verdict. The retrained accuracies are also
    given seed by seed (in seed order). With ``connected``, a ``cut`` column counts each cell's cut networks,
    marked ``†`` among the per-seed values and left out of the means, intervals and paired tests (whose
    columns then say so); without it, where some networks of a cell collapse to chance and others do not, the
    t-interval of a bimodal cell reaches past 0 or 100 % and says little.
    """
    st = comparison_statistics(result, reference=reference, connected=connected)
    flagged = connected is not None
    lines: list[str] = []
    for alloc in dict.fromkeys(c["allocation"] for c in st["cells"]):
        over = ", connected" if flagged else ""
        lines += [
            f"Allocation `{alloc}`:",
            "",
            f"| level (% of params) | method | seeds |{' cut |' if flagged else ''} pruned % | masked + BN"
            f"{over} [95 % CI] | retrained{over} [95 % CI] | retrained, per seed | retrained − {reference}"
            f"{' (connected pairs)' if flagged else ''} [95 % CI], p | verdict |",
            "|---" * (9 + flagged) + "|",
        ]
        for c in (c for c in st["cells"] if c["allocation"] == alloc):
            paired = (c["vs_reference"] or {}).get("accuracy_retrained")
            if paired is not None:
                verdict = paired["verdict"]
            elif c["method"] == reference:
                verdict = "—"
            else:
                verdict = f"not tested: under 2 seeds pair with {reference}" + (", cut left out" if flagged else "")
            per_seed = ", ".join(f"{v['accuracy_retrained']:.2f}{'†' if v['cut'] else ''}" for v in c["per_seed"])
            cut = f" {c['cut']} |" if flagged else ""
            lines.append(
                f"| {c['level']:g} | {c['method']} | {len(c['seeds'])} |{cut} "
                f"{c['pruned_percent']['mean']:.2f} | {_fmt_cell(c['accuracy_pruned'])} | "
                f"{_fmt_cell(c['accuracy_retrained'])} | {per_seed} | {_fmt_paired(paired)} | {verdict} |"
            )
        lines.append("")
    if flagged:
        lines.append("† a cut network: its output is the same for every image (accuracy at chance).")
    if st["dense"] is not None:
        lines.append(
            f"Dense accuracy (BatchNorm re-estimated as for the pruned networks): {_fmt_cell(st['dense'])} "
            f"over {st['dense']['n']} seeds."
        )
    if st["median_spread_retrained"] is not None:
        where = f" over the {st['spread_cells']} cells of 2 or more seeds{' and no network cut' if flagged else ''}"
        lines.append(
            f"Median seed spread (max − min) after retraining{where}: {st['median_spread_retrained']:.2f} points."
        )
    return "\n".join(lines)
