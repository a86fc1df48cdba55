"""run_mipp_comparison on a tiny CNN: equal unit counts, MINT at MIPP's parameter level, resume, bad input.

Method ``mint``'s allocation and masks run with magnitude block scores here (``mint_scorer``): the MINT
estimator's numba compile takes minutes on a loaded CPU, and its scores have their own tests.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from mintlab.experiments.mipp import run_mipp_comparison, summarize_mipp, unit_counts
from mintlab.prune.mipp import PredictorConfig
from mintlab.prune.record import SCHEMA_VERSION, RunRecord
from mintlab.prune.scorers import MagnitudeScorer

RUN_KEYS = {f.name for f in dataclasses.fields(RunRecord)}

PAIRS = [("c1", "c2"), ("c2", "fc")]
FAST = PredictorConfig(hidden=8, lr=1e-2, batch_size=64, max_epochs=10, refit_epochs=3, patience=2)


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6)
        self.c2, self.b2 = nn.Conv2d(6, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 4 * 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.b1(self.c1(x)))
        x = nn.functional.max_pool2d(torch.relu(self.b2(self.c2(x))), 2)
        return self.fc(x.flatten(1))


def _data(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randn(n, 1, 8, 8, generator=g) + y[:, None, None, None].float()
    return TensorDataset(x, y)


def _dense(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return Tiny().eval()


def _run(path, **kw):
    args = dict(
        dense_model=_dense,
        pairs=PAIRS,
        train_data=_data(90, 0),
        test_data=_data(30, 1),
        unit_sparsities=[0.5],
        seeds=[0],
        samples_per_class=30,
        mipp_options={"repeats": 2, "config": FAST, "max_bisect": 2},
        mint_groups={p: (2, 2) for p in PAIRS},
        mint_scorer=MagnitudeScorer(),
        retrain_max_batches=1,
        bn_recalibration_images=32,
        chance=100 / 3,
    )
    return run_mipp_comparison(path, **{**args, **kw})


def test_equal_unit_counts_mint_at_mipps_level_and_resume(tmp_path):
    out = tmp_path / "r.json"
    res = _run(out)
    runs = {r["method"]: r for r in res["runs"]}
    assert sorted(runs) == ["l1_units", "mint", "mipp", "random_units"]
    want = unit_counts(_dense(0), PAIRS, 0.5)
    assert want == {"c1": 3, "c2": 4}
    assert res["schema_version"] == SCHEMA_VERSION and all(set(r) == RUN_KEYS for r in res["runs"])
    for method in ("mipp", "l1_units", "random_units"):
        assert runs[method]["extra"]["units_kept"] == want and runs[method]["extra"]["unit_sparsity"] == 0.5
        assert runs[method]["pruned_percent"] == pytest.approx(runs["mipp"]["pruned_percent"])
        assert runs[method]["extra"]["collapsed_layers"] == []
        assert runs[method]["run_id"] == f"-/0/0.5/{method}"
    assert runs["mint"]["target_percent"] == runs["mipp"]["pruned_percent"]
    if runs["mint"]["allocation"] == "mint":
        assert abs(runs["mint"]["pruned_percent"] - runs["mipp"]["pruned_percent"]) <= 1.0 + 1e-9
    assert set(res["selections"]["0/0.5"]["keep"]) == {"c1", "c2"}
    assert "mipp" in summarize_mipp(res)
    before = out.read_text()
    again = _run(out)  # resumes: nothing to do
    assert len(again["runs"]) == 4 and json.loads(before)["runs"] == again["runs"]
    with pytest.raises(ValueError, match="other settings"):
        _run(out, samples_per_class=20)


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="'mipp' in `methods`"):
        _run(tmp_path / "a.json", methods=["mint", "l1_units"])
    with pytest.raises(ValueError, match="unit_sparsities"):
        _run(tmp_path / "b.json", unit_sparsities=[1.0])
    with pytest.raises(ValueError, match="methods"):
        _run(tmp_path / "c.json", methods=["magnitude"])


def test_summary_pairs_each_method_with_mipp_seed_by_seed():
    """The table's paired column is the difference of the same seeds' retrained accuracies, with its t-interval."""
    import numpy as np
    from scipy import stats

    def run(method, seed, acc):
        extra = {"unit_sparsity": 0.3, "collapsed_layers": [], "at_chance": False}
        return {"method": method, "seed": seed, "pruned_percent": 50.0, "accuracy_pruned": 80.0,
                "accuracy_retrained": acc, "extra": extra}  # fmt: skip

    mipp, l1 = [90.0, 91.0, 92.5], [90.5, 91.2, 93.4]
    runs = [run("mipp", s, a) for s, a in enumerate(mipp)] + [run("l1_units", s, a) for s, a in enumerate(l1)]
    table = summarize_mipp({"runs": runs, "dense_accuracy": {"0": 93.0, "1": 93.2}})
    d = np.subtract(l1, mipp)
    half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3)
    p = stats.ttest_rel(l1, mipp).pvalue
    want = f"{d.mean():+.2f} [{d.mean() - half:+.2f}, {d.mean() + half:+.2f}], p = {p:.3f}"
    (l1_row,) = [row for row in table.splitlines() if "| l1_units |" in row]
    assert want in l1_row and "retrained − mipp" in table
    assert "| mipp | 3 |" in table and "93.10 ± 0.14 % over 2 seeds" in table
    # one test in the family: Holm's adjustment leaves its p as it is
    assert "Corrected for the 1 paired tests together" in table and f"(smallest adjusted p {p:.3f})" in table
