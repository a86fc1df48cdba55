"""The README's evidence block is exactly what the results files say (scripts/evidence_readme.py writes it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mintlab.experiments.evidence_report import BEGIN, END, evidence_markdown, replace_block

ROOT = Path(__file__).resolve().parents[1]


def test_readme_block_matches_the_results_files() -> None:
    text = (ROOT / "README.md").read_text()
    assert replace_block(text, evidence_markdown(ROOT / "results")) == text, (
        "README.md's evidence block differs from results/*.json: run .venv/bin/python scripts/evidence_readme.py"
    )


def test_a_changed_number_makes_the_block_stale(tmp_path: Path) -> None:
    """A dense accuracy changed in its JSON changes the block (the check above can fail)."""
    record = {
        "schema_version": 2,
        "networks": {
            "0": {"test_accuracy": 93.21, "epochs": 15, "wall_seconds": 600.0, "training_mode": {"dtype": "fp32"}}
        },
        "test_accuracy": {"mean": 93.21, "low": None, "high": None},
        "provenance": {"commit": "a" * 40},
    }
    (tmp_path / "dense_vgg16_fashion_mnist32.json").write_text(json.dumps(record))
    before = evidence_markdown(tmp_path)
    assert "| VGG16-BN ¼ | 1 | 93.21 | 93.21 | 15 | 10.0 | fp32 | aaaaaaa |" in before
    record["networks"]["0"]["test_accuracy"] = record["test_accuracy"]["mean"] = 93.22
    (tmp_path / "dense_vgg16_fashion_mnist32.json").write_text(json.dumps(record))
    assert evidence_markdown(tmp_path) != before
    assert "not trained yet" in before  # ResNet56's file is missing: said so, not filled in


def test_replace_block_needs_its_markers() -> None:
    with pytest.raises(ValueError, match="Expected the README to hold"):
        replace_block("no markers", "x")
    assert replace_block(f"a\n{BEGIN}\nold\n{END}\nb", "new\n") == f"a\n{BEGIN}\nnew\n{END}\nb"


def test_every_results_file_has_the_one_schema_and_says_what_produced_it() -> None:
    """One schema version across results/ (the run-record schema), and a provenance block in every file."""
    from mintlab.prune.record import SCHEMA_VERSION

    files = [p for p in (ROOT / "results").rglob("*.json")
             if not {"networks", "cache", "logs"} & set(p.relative_to(ROOT / "results").parts[:-1])
             and p.name != "evidence_log.json"]  # fmt: skip  # the log of the evidence job's pieces, not results
    assert files
    for path in files:
        data = json.loads(path.read_text())
        assert data.get("schema_version") == SCHEMA_VERSION, path
        assert isinstance(data.get("provenance"), dict), path


def _dense_record(accuracies: list[float], minutes: float, native: bool) -> dict:
    return {
        "schema_version": 2,
        "recipe": {"epochs": 30, "batch_size": 256, "lr": 0.1},
        "networks": {
            str(s): {"test_accuracy": a, "wall_seconds": 60.0 * minutes, "training_mode": {"dtype": "fp32"}}
            for s, a in enumerate(accuracies)
        },
        "provenance": {"commit": "b" * 40, "native_bf16_cpu": native, "cuda_device": None},
    }


def test_precision_section_pairs_the_seeds_and_judges_the_spread(tmp_path: Path) -> None:
    """bf16 against fp32 (stage precision-mlp): per-seed rows, the paired difference, the spread verdict."""
    from mintlab.experiments.evidence_report import _precision_section

    assert "Not run yet" in "\n".join(_precision_section(tmp_path))
    (tmp_path / "dense_mlp_fp32_fashion_mnist.json").write_text(json.dumps(_dense_record([89.0, 89.4, 89.2], 1, False)))
    (tmp_path / "dense_mlp_bf16_fashion_mnist.json").write_text(json.dumps(_dense_record([89.1, 89.3, 89.3], 7, False)))
    text = "\n".join(_precision_section(tmp_path))
    assert "| 0 | 89.00 | 89.10 | +0.10 | 1.0 | 7.0 |" in text
    assert "| mean [95 % CI] | 89.20 [" in text
    assert "lies within float32's seed spread (89.00–89.40 %, 0.40 points, n = 3)" in text
    assert "7.00× float32's wall time (this machine has no native bf16" in text
    # bf16 far below every fp32 seed: outside the spread, and the paired difference excludes zero
    (tmp_path / "dense_mlp_bf16_fashion_mnist.json").write_text(json.dumps(_dense_record([80.0, 80.5, 80.2], 1, True)))
    text = "\n".join(_precision_section(tmp_path))
    assert "lies outside float32's seed spread" in text and "excludes zero" in text and "(native bf16)" in text


def test_stage_rows_sum_the_pieces_of_the_evidence_log(tmp_path: Path) -> None:
    from mintlab.experiments.evidence_report import _stage_rows

    assert _stage_rows(tmp_path) == []
    pieces = [
        {"stage": "dense-vgg16", "seconds": 1800.0, "status": "stopped: KeyboardInterrupt",
         "load_average_start": [0.4, 0, 0], "load_average_end": [2.1, 0, 0]},
        {"stage": "dense-vgg16", "seconds": 5400.0, "status": "done",
         "load_average_start": [1.9, 0, 0], "load_average_end": [2.0, 0, 0]},
        {"stage": "compare-vgg16", "status": "running", "load_average_start": [1.2, 0, 0]},
        {"stage": "mipp-vgg16", "status": "stopped: ended without logging", "load_average_start": [1.0, 0, 0]},
        {"stage": "mipp-vgg16", "status": "stopped: ended without logging", "seconds": 720.0,
         "timed_to": "last heartbeat", "load_average_start": [1.1, 0, 0]},
        {"stage": "mipp-vgg16", "status": "running", "seconds_so_far": 1080.0, "load_average_start": [1.9, 0, 0]},
    ]  # fmt: skip
    (tmp_path / "evidence_log.json").write_text(json.dumps({"pieces": pieces}))
    rows = _stage_rows(tmp_path)
    assert "| dense-vgg16 | 2 | 2.00 | 0.4–2.1 | done |" in rows
    assert "| compare-vgg16 | 1 | 0.00 (+ 1 untimed) | 1.2–1.2 | running |" in rows
    # a killed piece without a heartbeat is untimed; one with a heartbeat and a running one count to their last
    assert "| mipp-vgg16 | 3 | 0.50 (+ 1 untimed) | 1.0–1.9 | running |" in rows


def test_cut_networks_section_tells_a_cut_from_a_bypassed_branch(tmp_path: Path) -> None:
    """A run whose output is constant is cut; a connected run with a constant layer has a branch its shortcut
    bypasses, and the unit count's plain-chain "cut" of it is named a disagreement, not a cut."""
    from mintlab.experiments.evidence_comparison import cut_networks_section

    def run(method: str, seed: int, acc: float) -> dict:
        return {"run_id": f"mint/{seed}/50/{method}", "method": method, "allocation": "mint", "seed": seed,
                "target_percent": 50.0, "pruned_percent": 50.0, "accuracy_pruned": 10.0, "accuracy_retrained": acc,
                "per_layer_pruned_percent": {}}  # fmt: skip

    result = {"settings": {"methods": ["mint", "random"]}, "runs": [run("mint", 0, 91.0), run("random", 0, 10.0),
              run("mint", 1, 90.0), run("random", 1, 88.0)]}  # fmt: skip

    def live(run_id: str, acc: float, connected: bool, constant: list[str], structural: bool) -> dict:
        return {"run_id": run_id, "accuracy_retrained": acc, "connected": connected, "constant_layers": constant,
                "structurally_connected": structural, "break_at": [] if structural else ["b.conv2"],
                "rebuilt_matches_record": True}  # fmt: skip

    rows = [
        live("mint/0/50/mint", 91.0, True, [], True),
        live("mint/0/50/random", 10.0, False, ["fc"], False),
        live("mint/1/50/mint", 90.0, True, ["b.conv2"], False),
        live("mint/1/50/random", 88.0, True, [], True),
    ]
    (tmp_path / "cnn_resnet56_fashion_mnist32_live_units.json").write_text(json.dumps({"images": 32, "runs": rows}))
    text = cut_networks_section("resnet56", tmp_path, result)
    assert "4 of 4 runs checked): **1 of 4 masked networks are cut**: the output is the same for every image" in text
    assert "(checked on 32 training images by `mintlab.prune.metrics.input_dependence`)" in text
    assert "no cut network is above 10.00 %, and no connected one below 88.00 %." in text
    assert "or else the first constant one): b.conv2 (1)." in text
    assert "In 1 connected network(s), some pruned layer's output is constant inside a branch that a shortcut" in text
    assert "accuracy after retraining: mint/1/50/mint (1 layer, 90.00 %)." in text
    assert "disagrees on 1: 1 it calls cut whose output still depends on the image" in text
    assert "| mint | 50 | 0 / 2 | 1 / 2 |" in text  # the cut table counts the forward pass's cuts
    # the cut network is left out of random's cell and of the paired test: one connected pair cannot be tested
    assert (
        "50 %: nothing tested; untested (under 2 seeds pair with MINT, cut left out): random; networks cut: "
        "random 1 of 2, against MINT's 0 of 2." in text
    )
    assert "No paired test yet" in text and "(two-sided Fisher exact p = 0.33)" in text
    assert "random higher" not in text and "no difference detected" not in text
    rows[1] = live("mint/0/50/random", 10.0, True, [], True)
    (tmp_path / "cnn_resnet56_fashion_mnist32_live_units.json").write_text(json.dumps({"runs": rows}))
    text = cut_networks_section("resnet56", tmp_path, result)
    assert (
        "**none of the 4 masked networks is cut**: every one's output depends on the image (checked on a batch" in text
    )
    assert "Networks cut" not in text and "disagrees on 1: 1 it calls cut" in text
    # the summary at the top of the block: the paired tests left, and the cut networks per method over all cells
    from mintlab.experiments.evidence_comparison import short_answer

    rows[1] = live("mint/0/50/random", 10.0, False, ["fc"], False)
    (tmp_path / "cnn_resnet56_fashion_mnist32_live_units.json").write_text(json.dumps({"runs": rows}))
    (tmp_path / "cnn_resnet56_fashion_mnist32.json").write_text(json.dumps(result))
    assert short_answer(tmp_path)[2] == (
        "- **ResNet56 ½** (4 runs): after retraining, no paired test against MINT yet; networks cut, over all "
        "levels and both allocations: mint 0 of 2, random 1 of 2."
    )


def test_cut_networks_leave_the_means_and_the_paired_tests() -> None:
    """With ``connected``, a cell's cut networks are counted and marked, and its statistics and paired tests run
    over the connected seeds only; without it, the table is the plain one."""
    from mintlab.experiments.comparison_report import comparison_statistics, paired_differences, summarize

    def run(method: str, seed: int, acc: float) -> dict:
        return {"run_id": f"mint/{seed}/75/{method}", "method": method, "allocation": "mint", "seed": seed,
                "target_percent": 75.0, "pruned_percent": 75.0, "accuracy_pruned": acc - 5,
                "accuracy_retrained": acc}  # fmt: skip

    accs = {"mint": [91.0, 10.0, 90.0, 90.5], "taylor": [92.0, 92.5, 91.2, 91.4]}
    result = {"runs": [run(m, s, a) for m, v in accs.items() for s, a in enumerate(v)], "dense_accuracy": {}}
    flags = {"mint/1/75/mint": False}
    cells = {c["method"]: c for c in comparison_statistics(result, connected=flags)["cells"]}
    mint, taylor = cells["mint"], cells["taylor"]
    assert mint["cut"] == 1 and mint["accuracy_retrained"]["values"] == [91.0, 90.0, 90.5] and taylor["cut"] == 0
    paired = taylor["vs_reference"]["accuracy_retrained"]
    assert paired["seeds"] == [0, 2, 3] and paired["n"] == 3
    assert abs(paired["difference"] - (1.0 + 1.2 + 0.9) / 3) < 1e-9
    text = summarize(result, connected=flags)
    assert "| 75 | mint | 4 | 1 | 75.00 |" in text and "91.00, 10.00†, 90.00, 90.50" in text
    all_cut = summarize(result, connected=dict.fromkeys((r["run_id"] for r in result["runs"]), False))
    assert "| 75 | taylor | 4 | 4 | 75.00 | — | — |" in all_cut
    assert "| — | not tested: under 2 seeds pair with mint, cut left out |" in all_cut
    assert "† a cut network" in text and "retrained − mint (connected pairs)" in text
    plain = summarize(result)
    assert "†" not in plain and "| 75 | mint | 4 | 75.00 |" in plain
    assert paired_differences(result, connected=flags)["seed"].tolist() == [0, 2, 3]  # the figure's pairs
    assert len(paired_differences(result)) == 4
    every = comparison_statistics(result)["cells"][0]["accuracy_retrained"]
    assert every["n"] == 4 and every["ci_high"] - every["ci_low"] > 100  # a bimodal cell: wider than the scale


def test_paper_line_reads_the_connected_seeds_against_their_own_dense_networks() -> None:
    """At the paper's VGG16 point, with 2 of 3 MINT networks cut: the connected seed against its own dense
    network, the cut ones named; with none connected, no reproduction is claimed."""
    from mintlab.experiments.evidence_comparison import paper_point_line

    def run(seed: int, acc: float) -> dict:
        return {"run_id": f"mint/{seed}/83.5/mint", "method": "mint", "allocation": "mint", "seed": seed,
                "target_percent": 83.5, "pruned_percent": 83.51, "accuracy_pruned": 11.0,
                "accuracy_retrained": acc}  # fmt: skip

    result = {"runs": [run(0, 89.46), run(1, 10.0), run(2, 10.0)],
              "dense_accuracy": {"0": 93.55, "1": 93.49, "2": 93.46}}  # fmt: skip
    cut = {"mint/0/83.5/mint": True, "mint/1/83.5/mint": False, "mint/2/83.5/mint": False}
    text = paper_point_line("vgg16", result, cut)
    assert "3 seeds; 2 of 3 networks cut, at chance): the connected seed ends at -4.09 points from its dense" in text
    assert "(89.46 % against 93.55 %)" in text
    every = paper_point_line("vgg16", result)  # unchecked: the plain mean over seeds and dense networks
    assert "3 seeds) ends at -57.01 points from their dense networks (36.49 % against 93.50 %)" in every
    none = paper_point_line("vgg16", result, dict.fromkeys(cut, False))
    assert none.endswith(
        "3 of 3 networks cut, at chance): no connected network, so the paper's point is not reproduced."
    )


def test_holm_line_counts_the_table_as_one_family() -> None:
    """Three tests: p 0.004 survives (× 3 = 0.012) and is named; p 0.03, significant alone,
    does not (× 2 = 0.06); p 0.5 stays 0.5."""
    from mintlab.experiments.evidence_comparison import _holm_line

    def cell(method: str, p: float, verdict: str) -> dict:
        paired = {"p": p, "verdict": verdict, "difference": 1.0, "ci_low": 0.5, "ci_high": 1.5}
        return {"allocation": "mint", "level": 75.0, "method": method, "vs_reference": {"accuracy_retrained": paired}}

    cells = [cell("mint", 1.0, "—") | {"vs_reference": None}, cell("taylor", 0.004, "higher"),
             cell("random", 0.03, "higher"), cell("wanda", 0.5, "no difference detected at n = 3")]  # fmt: skip
    text = _holm_line(cells)
    assert "Corrected for the 3 paired tests" in text
    assert "1 survives: taylor higher at 75 % (mint, adjusted p = 0.012)." in text
    assert "random" not in text
    text = _holm_line([cell("random", 0.04, "higher"), cell("wanda", 0.5, "no difference detected at n = 3")])
    assert "none survives: the smallest p, 0.040 (random, 75 %, mint), adjusts to 0.080." in text
    assert _holm_line([cell("mint", 1.0, "—") | {"vs_reference": None}]).startswith("No paired test yet")
    assert "adjusted p < 0.001" in _holm_line([cell("taylor", 1e-5, "higher")])
