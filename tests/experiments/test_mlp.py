"""The MLP comparison in miniature: schema, equal sparsity, incremental JSON, resume, plot."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

import mintlab.experiments.mlp as experiment
from mintlab.experiments.mlp import run_mlp_experiment
from mintlab.nets.models import MLP

GROUPS = {("fc1", "fc2"): (10, 5), ("fc2", "fc3"): (6, 10)}
LEVELS = (50.0, 90.0)
#: Other methods match the leader's fc2 sparsity up to one score block: 1/(5·10) of fc2.
ONE_BLOCK_PERCENT = 100.0 / 50
RUN_KEYS = {"method", "fc2_pruned_percent", "total_pruned_percent", "accuracy", "csr_memory_mb", "delta",
            "accuracy_before_retrain", "seconds", "scope", "fc2_csr_memory_mb"}


def _data(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    x = torch.randn(n, 1, 28, 28, generator=g) * 0.5
    x[torch.arange(n), 0, y, y] += 3.0  # a learnable class signal
    return TensorDataset(x, y)


def _run(out: Path, **kw):
    torch.manual_seed(0)
    args = dict(samples_per_class=5, groups=GROUPS, levels=LEVELS, retrain_epochs=1, max_batches=2,
                model=MLP(), train_data=_data(100, 0), test_data=_data(50, 1), progress=False)
    return run_mlp_experiment(out, **{**args, **kw})


def test_tiny_experiment_schema_equal_sparsity_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "mlp.json"
    result = _run(out)
    on_disk = json.loads(out.read_text())
    assert on_disk["runs"] == json.loads(json.dumps(result["runs"]))
    assert 0.0 <= on_disk["dense_accuracy"] <= 100.0
    assert on_disk["settings"]["samples_per_class"] == 5 and on_disk["settings"]["levels"] == list(LEVELS)
    runs = on_disk["runs"]
    assert len(runs) == len(LEVELS) * 4 + 1
    for r in runs:
        assert RUN_KEYS <= set(r)
        assert 0.0 <= r["accuracy"] <= 100.0
    for level in LEVELS:
        at = {r["method"]: r for r in runs if r["level"] == level and r["scope"] == "fc2"}
        assert set(at) == {"mint", "mint_paper", "magnitude", "random"}
        assert at["mint"]["delta"] is not None and 0.0 <= at["mint"]["delta"] <= 1.0
        for m in ("mint_paper", "magnitude", "random"):
            assert abs(at[m]["fc2_pruned_percent"] - at["mint"]["fc2_pruned_percent"]) <= ONE_BLOCK_PERCENT
            assert at[m]["fc3_pruned_percent"] == 0.0
    (both,) = [r for r in runs if r["scope"] == "both"]
    assert both["fc3_pruned_percent"] > 0.0 and both["method"] == "mint"
    png = out.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_crash_keeps_finished_runs_and_rerun_skips_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "mlp.json"
    real = experiment.prune_and_retrain
    calls = []

    def flaky(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("power cut")
        return real(*a, **k)

    monkeypatch.setattr(experiment, "prune_and_retrain", flaky)
    with pytest.raises(RuntimeError, match="power cut"):
        _run(out, methods=("mint", "magnitude"), plot=False)
    assert len(json.loads(out.read_text())["runs"]) == 2
    calls.clear()
    monkeypatch.setattr(experiment, "prune_and_retrain", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    result = _run(out, methods=("mint", "magnitude"), plot=False)
    assert len(calls) == 3 and len(result["runs"]) == 5  # 2 levels × 2 methods + the both-pairs run
    with pytest.raises(ValueError, match="other settings.*samples_per_class"):
        _run(out, methods=("mint", "magnitude"), samples_per_class=6, plot=False)


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Expected `methods` among"):
        _run(tmp_path / "x.json", methods=("mint", "l1"))
    with pytest.raises(ValueError, match=r"Expected `levels` as percentages in \(0, 100\)"):
        _run(tmp_path / "x.json", levels=(50, 100))


def test_cli_rejects_bad_groups() -> None:
    spec = importlib.util.spec_from_file_location(
        "run_mlp_experiment", Path(__file__).resolve().parents[2] / "scripts" / "run_mlp_experiment.py")
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    with pytest.raises(SystemExit):
        cli.main(["--groups", "1,2,3"])
