"""The README's comparison sections, in words: cut networks, the verdict against MINT, Holm's correction, the
paper's operating point, and the short answer at the top of the block.

A comparison's table is :func:`mintlab.experiments.comparison_report.summarize`; what it means is written here,
from the same statistics (:func:`~mintlab.experiments.comparison_report.comparison_statistics`) and the cut
networks that :mod:`mintlab.experiments.live_units` found (``results/cnn_<model>_fashion_mnist32_live_units.json``).
:mod:`mintlab.experiments.evidence_report` assembles the block from these pieces and the other sections.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mintlab.experiments.comparison_report import p_text

__all__ = [
    "LABELS",
    "PAPER_TABLE_I",
    "connected_runs",
    "cut_networks_section",
    "load_results",
    "paper_point_line",
    "short_answer",
]

#: The evidence's networks (:data:`mintlab.experiments.evidence.NETWORKS`) as the README names them.
LABELS = {"vgg16": "VGG16-BN ¼", "resnet56": "ResNet56 ½"}
#: The paper's Table I operating points (CIFAR-10): parameters pruned (%) and accuracy change (points); the
#: levels the evidence runs at for them are :data:`mintlab.experiments.evidence.PAPER_POINTS`.
PAPER_TABLE_I = {"vgg16": (83.46, -0.55), "resnet56": (52.41, +0.92)}


def load_results(path: Path) -> dict[str, Any] | None:
    """The JSON file at ``path`` as a dict, or ``None`` where there is no file (a stage not run yet).

    Raises:
        json.JSONDecodeError: a file that is not JSON (a results file is written atomically, so not a torn one).
    """
    return json.loads(path.read_text()) if path.is_file() else None


def connected_runs(model: str, results: Path, result: Mapping[str, Any]) -> dict[str, bool] | None:
    """``run_id → connected`` of the comparison's recorded runs that :mod:`mintlab.experiments.live_units`
    checked (``results/cnn_<model>_fashion_mnist32_live_units.json``), or ``None`` before it has run."""
    live = load_results(results / f"cnn_{model}_fashion_mnist32_live_units.json")
    if live is None:
        return None
    recorded = {r["run_id"] for r in result["runs"]}
    flags = {r["run_id"]: bool(r["connected"]) for r in live["runs"] if r["run_id"] in recorded}
    return flags or None


def paper_point_line(model: str, result: Mapping[str, Any], connected: Mapping[str, bool] | None = None) -> str:
    """One sentence: the paper's Table I point for ``model`` (:data:`PAPER_TABLE_I`) against MINT under its own
    allocation at the comparison's level within 1 point of it: the connected seeds' mean accuracy after
    retraining minus that of their own dense networks (points; BatchNorm re-estimated as for the pruned ones),
    and how many of the level's networks are cut (``connected`` as in
    :func:`mintlab.experiments.comparison_report.comparison_statistics`; ``None``: every seed, every dense
    network). Says so where the point was not run, or where no network is connected.
    """
    from mintlab.experiments.comparison_report import comparison_statistics

    target, change = PAPER_TABLE_I[model]
    st = comparison_statistics(result, connected=connected)
    near = [
        c
        for c in st["cells"]
        if c["method"] == "mint" and c["allocation"] == "mint" and abs(c["level"] - target) <= 1.0
    ]
    if not near or st["dense"] is None:
        return f"The paper's point ({target:.2f} % of parameters at {change:+.2f} points) has not been run yet."
    c = near[0]
    seeds = [v["seed"] for v in c["per_seed"] if not v["cut"]]
    own = [float(result["dense_accuracy"][str(s)]) for s in seeds if str(s) in result.get("dense_accuracy", {})]
    dense = sum(own) / len(own) if own and len(own) == len(seeds) else st["dense"]["mean"]  # the seeds' own
    head = (
        f"The paper's point: {target:.2f} % of parameters at {change:+.2f} points (CIFAR-10, Table I). Here MINT "
        f"at {c['pruned_percent']['mean']:.2f} % (Fashion-MNIST 32×32, reduced width, one retraining epoch, "
        f"{len(c['seeds'])} seeds"
    )
    cut = f"; {c['cut']} of {len(c['seeds'])} networks cut, at chance" if c["cut"] else ""
    acc = c["accuracy_retrained"]
    if acc["mean"] is None:
        return f"{head}{cut}): no connected network, so the paper's point is not reproduced."
    if not c["cut"]:
        where = ") ends"
    elif acc["n"] == 1:
        where = "): the connected seed ends"
    else:
        where = f"): the {acc['n']} connected seeds end"
    return (
        f"{head}{cut}{where} at {acc['mean'] - dense:+.2f} points from {'its' if len(seeds) == 1 else 'their'} "
        f"dense network{'' if len(seeds) == 1 else 's'} ({acc['mean']:.2f} % against {dense:.2f} %)."
    )


def cut_networks_section(model: str, results: Path, result: Mapping[str, Any]) -> str:
    """What :mod:`mintlab.experiments.live_units` found in the comparison's masks: the runs that cut the network,
    the constant layers that shortcuts bypass, and where the unit count disagrees; then the verdict."""
    from collections import Counter

    live = load_results(results / f"cnn_{model}_fashion_mnist32_live_units.json")
    if live is None:
        return (
            "Live units of the masks: not counted yet "
            f"(`python -m mintlab.experiments.live_units results/cnn_{model}_fashion_mnist32.json "
            f"--cache results/cache/compare-{model}`).\n\n" + _verdict_line(result, None)
        )
    recorded = {r["run_id"] for r in result["runs"]}
    counted = [r for r in live["runs"] if r["run_id"] in recorded]
    cut = [r for r in counted if not r["connected"]]
    batch = f"{live['images']} training images" if live.get("images") else "a batch of training images"
    check = f"checked on {batch} by `mintlab.prune.metrics.input_dependence`"
    unchecked = len(recorded) - len(counted)
    source = (
        f"Cut networks (`mintlab.experiments.live_units`: every run's masks rebuilt from the cached scores, "
        f"{len(counted)} of {len(recorded)} runs checked"
        + (f"; the other {unchecked} count as connected until checked" if unchecked else "")
        + "): "
    )
    if not counted:
        return source + "none yet.\n\n" + _verdict_line(result, None)
    if not cut:
        text = (
            f"{source}**none of the {len(counted)} masked networks is cut**: every one's output depends on the "
            f"image ({check})."
        )
    else:
        text = (
            f"{source}**{len(cut)} of {len(counted)} masked networks are cut**: the output is the same for every "
            f"image ({check}). After retraining, no cut network is above "
            f"{max(r['accuracy_retrained'] for r in cut):.2f} %"
        )
        kept = [r["accuracy_retrained"] for r in counted if r["connected"]]
        text += f", and no connected one below {min(kept):.2f} %." if kept else "."
        breaks = Counter((r.get("break_at") or r.get("constant_layers") or ["?"])[0] for r in cut)
        where = ", ".join(f"{layer} ({n})" for layer, n in breaks.most_common())
        text += (
            f" Where each cut network breaks (the first layer no kept weight reaches from the input, or else the "
            f"first constant one): {where}."
        )
    bypassed = sorted((r for r in counted if r["connected"] and r.get("constant_layers")),
                      key=lambda r: -len(r["constant_layers"]))  # fmt: skip
    if bypassed:
        shown = ", ".join(
            f"{r['run_id']} ({len(r['constant_layers'])} layer{'s' if len(r['constant_layers']) > 1 else ''}, "
            f"{r['accuracy_retrained']:.2f} %)"
            for r in bypassed[:6]
        )
        more = f" and {len(bypassed) - 6} more" if len(bypassed) > 6 else ""
        text += (
            f" In {len(bypassed)} connected network(s), some pruned layer's output is constant inside a branch that "
            f"a shortcut bypasses (a residual block's); by layers constant, accuracy after retraining: {shown}{more}."
        )
    disagree = [r for r in counted if r.get("structurally_connected", r["connected"]) != r["connected"]]
    if all("structurally_connected" in r for r in counted):
        units = " Counting live units along the pairs (`mintlab.prune.metrics.live_units`)"
        if not disagree:
            text += f"{units} gives the same verdict on all {len(counted)}."
        else:
            false_cut = sum(r["connected"] for r in disagree)
            parts = []
            if false_cut:
                parts.append(f"{false_cut} it calls cut whose output still depends on the image (read as one plain "
                             "chain, the pairs miss the residual stream)")  # fmt: skip
            if len(disagree) > false_cut:
                parts.append(f"{len(disagree) - false_cut} it calls connected whose output is constant")
            text += f"{units} disagrees on {len(disagree)}: {'; '.join(parts)}."
    mismatched = [r["run_id"] for r in counted if not r["rebuilt_matches_record"]]
    if mismatched:
        text += f" The rebuilt masks of {len(mismatched)} run(s) differ from what the run recorded: {mismatched}."
    flags = {r["run_id"]: r["connected"] for r in counted}
    text += "\n\n" + _verdict_line(result, flags)
    if cut:
        text += "\n\n" + "\n".join(_cut_rows(result, flags))
    return text


def _verdict_line(result: Mapping[str, Any], connected: Mapping[str, bool] | None) -> str:
    """The comparison's verdict, generated: per allocation and level, which methods differ from MINT after
    retraining (paired over the seeds, the interval excluding 0), which could not be tested, and, where cut
    networks were checked (``connected``, ``None`` before), which cut the network at another rate than MINT."""
    from mintlab.experiments.comparison_report import comparison_statistics

    st = comparison_statistics(result, connected=connected)
    parts = []
    for alloc in dict.fromkeys(c["allocation"] for c in st["cells"]):
        levels = []
        for level in dict.fromkeys(c["level"] for c in st["cells"] if c["allocation"] == alloc):
            here = [c for c in st["cells"] if c["allocation"] == alloc and c["level"] == level]
            ref = next((c for c in here if c["method"] == "mint"), None)
            found, untested, collapse, tested = [], [], [], 0
            for c in here:
                if c is ref:
                    continue
                paired = (c["vs_reference"] or {}).get("accuracy_retrained")
                if paired is None:
                    untested.append(c["method"])
                else:
                    tested += 1
                    if paired["verdict"] in ("higher", "lower"):
                        ci = f"[{paired['ci_low']:+.2f}, {paired['ci_high']:+.2f}]"
                        found.append(
                            f"{c['method']} {paired['verdict']} ({paired['difference']:+.2f} {ci}, n = {paired['n']})"
                        )
                if ref is not None and c["cut"] * len(ref["seeds"]) != ref["cut"] * len(c["seeds"]):
                    collapse.append(f"{c['method']} {c['cut']} of {len(c['seeds'])}")
            if found:
                text = f"{level:g} %: " + ", ".join(found)
            elif tested:
                text = f"{level:g} %: no difference detected ({tested} tested)"
            else:
                text = f"{level:g} %: nothing tested"
            if untested:
                why = "under 2 seeds pair with MINT" + (", cut left out" if connected is not None else "")
                text += f"; untested ({why}): {', '.join(untested)}"
            if collapse:
                text += f"; networks cut: {', '.join(collapse)}, against MINT's {ref['cut']} of {len(ref['seeds'])}"
            levels.append(text)
        parts.append(f"- allocation `{alloc}`: " + "; ".join(levels) + ".")
    if connected is None:
        head = (
            "**Verdict against MINT** (generated; after retraining, paired by seed, a difference only where its 95 % "
            "interval excludes zero; cut networks not checked yet, so a cell may mix chance with trained accuracy):"
        )
    else:
        head = (
            "**Verdict against MINT** (generated; after retraining, paired by seed over the seeds where neither "
            "network is cut, a difference only where its 95 % interval excludes zero; a cut network sits at chance "
            "whatever its scores ranked, so how often a method cuts the network is counted apart, not averaged in. "
            "Conditioning on both networks being connected selects seeds: a method that cuts often is compared on "
            "its surviving networks only, which can flatter it; read each difference beside the cut counts):"
        )
    lines = [head, "", *parts, "", _holm_line(st["cells"])]
    seeds = max((len(c["seeds"]) for c in st["cells"] if c["cut"]), default=0)
    if seeds:
        from scipy.stats import fisher_exact

        p = float(fisher_exact([[0, seeds], [seeds, 0]]).pvalue)
        lines[-1] += (
            f" Cut counts are not tested per cell: with {seeds} seeds, even 0 of {seeds} against {seeds} of "
            f"{seeds} cannot reach 5 % (two-sided Fisher exact p = {p:.2f}); pooled over levels (which share the "
            "seeds' dense networks) they are not tested here."
        )
    return "\n".join(lines)


def _holm(cells: Sequence[Mapping[str, Any]]) -> tuple[list[tuple[Mapping[str, Any], Mapping[str, Any]]], list[float]]:
    """The table's paired tests against MINT after retraining, as ``(cell, test)``, and their Holm-adjusted
    p-values (:func:`mintlab.characterize.compare.holm_adjusted`: the whole table one family)."""
    from mintlab.characterize.compare import holm_adjusted

    tests = [(c, c["vs_reference"]["accuracy_retrained"]) for c in cells
             if c["vs_reference"] and c["vs_reference"].get("accuracy_retrained")]  # fmt: skip
    return tests, (holm_adjusted([t["p"] for _, t in tests]) if tests else [])


def _survivors(tests: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]], adjusted: Sequence[float]) -> list:
    """``(cell, test, adjusted p)`` of the differences that survive Holm's correction at 5 %."""
    return [(c, t, a) for (c, t), a in zip(tests, adjusted, strict=True)
            if a < 0.05 and t["verdict"] in ("higher", "lower")]  # fmt: skip


def _holm_line(cells: Sequence[Mapping[str, Any]]) -> str:
    """How many of the table's paired tests against MINT (after retraining) survive Holm's correction for
    their number."""
    tests, adjusted = _holm(cells)
    if not tests:
        return "No paired test yet (a method and MINT on at least 2 common seeds, with no network cut)."
    kept = [
        f"{c['method']} {t['verdict']} at {c['level']:g} % ({c['allocation']}, adjusted p {p_text(a, '= ')})"
        for c, t, a in _survivors(tests, adjusted)
    ]
    k = min(range(len(tests)), key=lambda i: tests[i][1]["p"])
    c, t = tests[k]
    found = (
        f"{len(kept)} survive{'s' if len(kept) == 1 else ''}: " + "; ".join(kept)
        if kept
        else f"none survives: the smallest p, {p_text(t['p'])} ({c['method']}, {c['level']:g} %, "
        f"{c['allocation']}), adjusts to {p_text(adjusted[k])}"
    )
    return (
        f"Each verdict above is one test at 5 %. Corrected for the {len(tests)} paired tests of this table "
        "together (every test it could run, so the family shrinks as networks are cut; Holm's step-down, "
        f"family-wise error 5 %, `mintlab.characterize.compare.holm_adjusted`), {found}."
    )


def _cut_rows(result: Mapping[str, Any], connected: Mapping[str, bool]) -> list[str]:
    """Per allocation and level: how many seeds' networks each method cut."""
    methods = list(result["settings"]["methods"])
    cells: dict[tuple[str, float], dict[str, list[dict[str, Any]]]] = {}
    for r in result["runs"]:  # a run not checked yet counts as connected, as in the statistics
        cells.setdefault((r["allocation"], r["target_percent"]), {}).setdefault(r["method"], []).append(r)
    lines = [
        "Networks cut, of the seeds run (a cut network's accuracy is chance whatever its ranking was):",
        "",
        "| allocation | level (% of params) | " + " | ".join(methods) + " |",
        "|---" * (2 + len(methods)) + "|",
    ]
    for (alloc, level), by_method in sorted(cells.items(), key=lambda kv: (kv[0][0] != "mint", kv[0][1])):
        row = []
        for m in methods:
            runs = by_method.get(m, [])
            row.append(f"{sum(not connected.get(r['run_id'], True) for r in runs)} / {len(runs)}" if runs else "—")
        lines.append(f"| {alloc} | {level:g} | " + " | ".join(row) + " |")
    return lines


def short_answer(results: Path) -> list[str]:
    """The answer so far, one bullet per comparison: its runs, the ranking differences against MINT that survive
    Holm's correction, and the networks each method cut over all its cells."""
    from mintlab.experiments.comparison_report import comparison_statistics

    bullets = []
    for model, label in LABELS.items():
        result = load_results(results / f"cnn_{model}_fashion_mnist32.json")
        if result is None or not result.get("runs"):
            continue
        flags = connected_runs(model, results, result)
        st = comparison_statistics(result, connected=flags)
        tests, adjusted = _holm(st["cells"])
        kept = [
            f"{c['method']} {t['verdict']} at {c['level']:g} % ({c['allocation']})"
            for c, t, _ in _survivors(tests, adjusted)
        ]
        if kept:
            ranking = (
                f"{len(kept)} of {len(tests)} paired tests against MINT survive Holm's correction: {'; '.join(kept)}"
            )
        elif tests:
            ranking = f"none of {len(tests)} paired tests against MINT survives Holm's correction"
        else:
            ranking = "no paired test against MINT yet"
        text = f"- **{label}** ({len(result['runs'])} runs): after retraining, {ranking}"
        if flags is not None:
            totals: dict[str, list[int]] = {}
            for c in st["cells"]:
                t = totals.setdefault(c["method"], [0, 0])
                t[0] += c["cut"]
                t[1] += len(c["seeds"])
            cut = ", ".join(f"{m} {n} of {k}" for m, (n, k) in totals.items())
            text += f"; networks cut, over all levels and both allocations: {cut}"
        bullets.append(text + ".")
    if not bullets:
        return []
    return ["### In short (generated)", "", *bullets, "", "Each table below gives the cells behind these counts.", ""]
