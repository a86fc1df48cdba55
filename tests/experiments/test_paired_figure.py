"""The seaborn figure of paired differences: the seeds it shows and the interval it draws are the statistics'."""

from __future__ import annotations

import numpy as np
import pytest

from mintlab.experiments.comparison_report import comparison_statistics, paired_differences, plot_paired_differences


def _result() -> dict:
    rng = np.random.default_rng(0)
    runs = []
    for alloc in ("mint", "global"):
        for level in (50.0, 75.0):
            for seed in range(3):
                base = 90.0 - level / 10 + rng.normal()
                for shift, method in ((0.0, "mint"), (1.0, "magnitude"), (-0.5, "random")):
                    acc = base + shift + rng.normal(scale=0.3)
                    runs.append({"allocation": alloc, "target_percent": level, "method": method, "seed": seed,
                                 "accuracy_retrained": acc, "accuracy_pruned": acc - 5, "pruned_percent": level,
                                 "sweep": False})  # fmt: skip
    runs.append({**runs[1], "seed": 9, "sweep": True})  # a sweep-only run is left out
    return {"runs": runs}


def test_table_holds_one_row_per_shared_seed() -> None:
    table = paired_differences(_result())
    assert len(table) == 2 * 2 * 2 * 3  # allocations × levels × methods other than mint × seeds
    assert set(table["method"]) == {"magnitude", "random"} and 9 not in set(table["seed"])


def _cut(result: dict) -> dict:
    """Two of random's three networks at (mint, 50 %) and one of magnitude's at (global, 75 %) cut."""
    flags = {}
    for r in result["runs"]:
        r["run_id"] = f"{r['allocation']}/{r['seed']}/{r['target_percent']:g}/{r['method']}"
        flags[r["run_id"]] = not (
            (r["allocation"], r["target_percent"], r["method"]) == ("mint", 50.0, "random")
            and r["seed"] < 2
            or (r["allocation"], r["target_percent"], r["method"], r["seed"]) == ("global", 75.0, "magnitude", 0)
        )
    return flags


@pytest.mark.parametrize("cut", [False, True], ids=["all pairs", "cut networks left out"])
def test_drawn_intervals_are_the_paired_tests(tmp_path, cut: bool) -> None:
    """Every bar drawn is a paired test's interval, and every paired test is drawn; with cut networks left out,
    a method left with one pair in a panel (random at mint, 50 %) gets no bar, as it gets no test."""
    result = _result()
    connected = _cut(result) if cut else None
    grid = plot_paired_differences(result, tmp_path / "paired.png", connected=connected)
    assert (tmp_path / "paired.png").stat().st_size > 1000
    assert grid.axes.shape == (2, 2)
    stats = comparison_statistics(result, connected=connected)
    tested = [c for c in stats["cells"] if c["method"] != "mint" and c["vs_reference"]["accuracy_retrained"]]
    assert len(tested) == (7 if cut else 8)
    for (r, c), ax in np.ndenumerate(grid.axes):
        alloc, level = grid.row_names[r], grid.col_names[c]
        vertical = sorted(  # seaborn draws a capped error bar as one line: cap, nan, bar, nan, cap
            (float(np.nanmin(line.get_ydata())), float(np.nanmax(line.get_ydata())))
            for line in ax.lines
            if np.isnan(np.asarray(line.get_xdata(), dtype=float)).any()
        )
        expected = sorted(
            (
                cell["vs_reference"]["accuracy_retrained"]["ci_low"],
                cell["vs_reference"]["accuracy_retrained"]["ci_high"],
            )
            for cell in tested
            if cell["allocation"] == alloc and cell["level"] == level
        )
        assert np.ravel(vertical) == pytest.approx(np.ravel(expected))


def test_no_shared_seed_draws_nothing() -> None:
    result = {"runs": [r for r in _result()["runs"] if r["method"] != "mint"]}
    assert plot_paired_differences(result) is None
