"""Report: parameters pruned, CSR memory (the paper's Mb), disconnected units."""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch import nn

from mintlab.nets.models import MLP
from mintlab.prune.masks import apply_masks, make_permanent
from mintlab.prune.metrics import (
    BYTES_PER_MB,
    csr_memory_mb,
    disconnected_units,
    input_dependence,
    live_units,
    params_pruned_percent,
    pruning_report,
)
from mintlab.utils.checks import InvalidArgumentError

#: The paper's Table I MLP baseline memory ("layer 2", fc2 500→300): 0.539 Mb. Our fc2 is
#: freshly initialised, not trained, so its float32 mantissas compress a little differently;
#: 5 % covers that (dense fc2 of the whole MLP would be ~4× larger, ruled out by this bound).
PAPER_FC2_MB, PAPER_MB_RTOL = 0.539, 0.05


def test_params_pruned_counts_zeros_over_the_dense_total() -> None:
    net = MLP()
    mask = torch.ones_like(net.fc2.weight)
    mask[:, :250] = 0  # half of fc2
    apply_masks(net, {"fc2": mask})
    out = params_pruned_percent(net)
    assert out["total_params"] == 545_810
    assert out["per_layer"]["fc2"] == pytest.approx(50.0)
    assert out["per_layer"]["fc1"] == 0.0
    assert out["total"] == pytest.approx(100.0 * 75_000 / 545_810)
    make_permanent(net)
    assert params_pruned_percent(net)["total"] == pytest.approx(out["total"])


def test_csr_memory_is_compressed_npz_size_in_mib(tmp_path) -> None:
    torch.manual_seed(0)
    net = MLP()
    fc2 = csr_memory_mb(net, layers=["fc2"])
    sp.save_npz(tmp_path / "fc2.npz", sp.csr_matrix(net.fc2.weight.detach().numpy()), compressed=True)
    assert fc2 == pytest.approx(os.path.getsize(tmp_path / "fc2.npz") / 2**20, rel=1e-9)
    assert fc2 == pytest.approx(PAPER_FC2_MB, rel=PAPER_MB_RTOL)
    mask = (torch.rand_like(net.fc2.weight) > 0.96).float()
    apply_masks(net, {"fc2": mask})
    assert csr_memory_mb(net, layers=["fc2"]) < 0.1 * fc2
    assert BYTES_PER_MB == 2**20


def test_conv_weights_go_to_csr_as_out_by_in_k_k() -> None:
    conv = nn.Sequential(nn.Conv2d(4, 6, 3))
    with torch.no_grad():
        conv[0].weight.zero_()
    empty = csr_memory_mb(conv)
    with torch.no_grad():
        conv[0].weight[0, 0] = 1.0
    assert csr_memory_mb(conv) > empty


class _Chain(nn.Module):
    """conv(1→3) → conv(3→4) → flatten(4·2·2) → fc(2): the shape of VGG16's chain of pairs, small."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.c2, self.fc = nn.Conv2d(1, 3, 3), nn.Conv2d(3, 4, 3), nn.Linear(4 * 2 * 2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.c2(self.c1(x)).flatten(1))


def test_disconnected_units_linear_conv_and_flatten() -> None:
    net = _Chain()
    m2 = torch.ones_like(net.c2.weight)
    m2[1] = 0  # child filter 1 of c2 has no inputs
    m2[:, 2] = 0  # parent channel 2 of c1 feeds nothing in c2
    mf = torch.ones_like(net.fc.weight)
    mf[:, 4:8] = 0  # all 2·2 columns of channel 1 of c2
    mf[0, 12:] = 0  # part of channel 3 only: still connected
    apply_masks(net, {"c2": m2, "fc": mf})
    out = disconnected_units(net, [("c1", "c2"), ("c2", "fc")])
    assert out["c2"] == {"parent": "c1", "child_without_inputs": [1], "parent_without_outputs": [2]}
    assert out["fc"] == {"parent": "c2", "child_without_inputs": [], "parent_without_outputs": [1]}


def test_live_units_follow_paths_across_the_chain_and_find_a_cut() -> None:
    net = _Chain()
    pairs = [("c1", "c2"), ("c2", "fc")]
    dense = live_units(net, pairs)
    assert dense["connected"] and dense["break_at"] == [] and dense["layers"] == {
        "c1": {"units": 3, "reached": 3, "live": 3}, "c2": {"units": 4, "reached": 4, "live": 4},
        "fc": {"units": 2, "reached": 2, "live": 2},
    }  # fmt: skip
    # c2's filters 0 and 1 keep inputs; the fc keeps columns of c2's channels 2 and 3 only: every kept block is
    # someone's, yet no path runs from the image to the logits, as in two adjacent layers pruned ~99 % at random
    m2 = torch.zeros_like(net.c2.weight)
    m2[0:2, 0] = 1
    mf = torch.zeros_like(net.fc.weight)
    mf[:, 8:16] = 1
    apply_masks(net, {"c2": m2, "fc": mf})
    cut = live_units(net, pairs)
    assert not cut["connected"] and cut["cut"] == ["c1", "c2", "fc"] and cut["break_at"] == ["fc"]
    assert cut["layers"]["c2"]["reached"] == 2  # filters 0 and 1 see the image, and lead nowhere
    assert all(v["live"] == 0 for v in cut["layers"].values())
    # the same network with one more kept block that joins the two halves has a path again, one unit wide
    m2[2, 0] = 1
    net = _Chain()
    apply_masks(net, {"c2": m2, "fc": mf})
    joined = live_units(net, pairs)
    assert joined["connected"] and joined["layers"]["c2"]["live"] == 1 and joined["layers"]["c1"]["live"] == 1
    assert joined["layers"]["fc"]["live"] == 2


def test_live_units_start_a_new_chain_where_pairs_do_not_join() -> None:
    net = nn.Sequential(
        nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2)
    )
    apply_masks(net, {"2": torch.zeros_like(net[2].weight)})
    # ("0", "2") and ("4", "6") share no layer: two chains; the first is cut, the second is whole
    out = live_units(net, [("0", "2"), ("4", "6")])
    assert out["cut"] == ["0", "2"] and out["break_at"] == ["2"]
    assert out["layers"]["4"]["live"] == 3 and out["layers"]["6"]["live"] == 2


def test_input_dependence_agrees_with_the_unit_count_on_a_plain_chain() -> None:
    """The masks of the cut test above: the unit count and the forward pass both say cut; one more block joins."""
    torch.manual_seed(0)
    images = torch.randn(16, 1, 6, 6)
    net = _Chain()
    dense = input_dependence(net, images)
    assert dense == {"output_varies": True, "constant": [], "layers": {"c1": True, "c2": True, "fc": True}}
    m2 = torch.zeros_like(net.c2.weight)
    m2[0:2, 0] = 1
    mf = torch.zeros_like(net.fc.weight)
    mf[:, 8:16] = 1
    apply_masks(net, {"c2": m2, "fc": mf})
    net.train()
    cut = input_dependence(net, images)
    assert (
        not cut["output_varies"]
        and cut["constant"] == ["fc"]
        and not live_units(net, [("c1", "c2"), ("c2", "fc")])["connected"]
    )
    assert net.training  # the mode is restored
    m2[2, 0] = 1
    net = _Chain()
    apply_masks(net, {"c2": m2, "fc": mf})
    assert input_dependence(net, images)["output_varies"]


class _Residual(nn.Module):
    """stem → one basic block (c1, c2) with an identity shortcut → fc: ResNet56's pairs, small."""

    def __init__(self) -> None:
        super().__init__()
        self.stem, self.c1, self.c2 = (
            nn.Conv2d(1, 4, 3, padding=1),
            nn.Conv2d(4, 4, 3, padding=1),
            nn.Conv2d(4, 4, 3, padding=1),
        )
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.relu(self.stem(x))
        s = torch.relu(s + self.bn(self.c2(torch.relu(self.c1(s)))))
        return self.fc(s.flatten(1))


def test_a_dead_residual_branch_is_bypassed_not_a_cut() -> None:
    """Every weight into c2 masked: the branch outputs a constant, the shortcut carries the image to the logits.
    The unit count reads stem → c1 → c2 → fc as one chain and calls it cut; the forward pass does not."""
    torch.manual_seed(0)
    net = _Residual()
    apply_masks(net, {"c2": torch.zeros_like(net.c2.weight)})
    pairs = [("stem", "c1"), ("c1", "c2"), ("c2", "fc")]
    assert not live_units(net, pairs)["connected"]
    out = input_dependence(net, torch.randn(8, 1, 6, 6), layers=["c1", "c2", "fc"])
    assert out == {"output_varies": True, "constant": ["c2"], "layers": {"c1": True, "c2": False, "fc": True}}
    apply_masks(net, {"fc": torch.zeros_like(net.fc.weight)})  # the logits are the bias: cut whatever the stream
    assert input_dependence(net, torch.randn(8, 1, 6, 6))["output_varies"] is False


def test_stale_batchnorm_statistics_do_not_read_as_a_cut() -> None:
    """Masking moves a layer's outputs away from its running mean: in eval mode every ReLU after the BatchNorm is
    dead for every image, so the output is constant, yet the weights still read the input and retraining (whose
    BatchNorm uses batch statistics) revives them. The check normalizes with the batch; dropout stays off, the
    running statistics and every module's mode come back as they were."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.5), nn.Linear(6, 2))
    with torch.no_grad():
        net[1].running_mean.fill_(1e3)  # as if the masked layer's outputs had shrunk far below what BN learnt
    images = torch.randn(16, 4)
    net.eval()
    assert torch.equal(net(images), net(images[:1]).expand(16, -1))  # eval mode: constant, all ReLUs dead
    net.train()
    before = {k: b.clone() for k, b in net.named_buffers()}
    out = input_dependence(net, images)
    assert out == {"output_varies": True, "constant": [], "layers": {"0": True, "4": True}}
    assert all(torch.equal(b, before[k]) for k, b in net.named_buffers())
    assert all(m.training for m in net.modules())
    # a constant input stays constant through batch statistics (x̂ = 0) and through the dropout left in eval mode
    apply_masks(net, {"0": torch.zeros_like(net[0].weight)})
    out = input_dependence(net, images)
    assert out == {"output_varies": False, "constant": ["0", "4"], "layers": {"0": False, "4": False}}


def test_input_dependence_reads_tuple_outputs_and_layers_called_twice() -> None:
    """A model returning a tuple varies where any part does (a scalar part says nothing); a layer called twice
    varies where any call does (here its first and last calls read a constant)."""

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            # the varying part and call in the middle: reading only the first or last of either would fail
            zero = torch.zeros_like(x)
            return self.fc(zero), x.sum(), self.fc(x), self.fc(zero)

    torch.manual_seed(0)
    assert input_dependence(Twice(), torch.randn(4, 3)) == {
        "output_varies": True,
        "constant": [],
        "layers": {"fc": True},
    }


def test_input_dependence_refuses_what_it_cannot_check() -> None:
    net = _Chain()
    with pytest.raises(InvalidArgumentError, match=r"B >= 2, but got \(1, 1, 6, 6\)"):
        input_dependence(net, torch.randn(1, 1, 6, 6))
    with pytest.raises(InvalidArgumentError, match="B >= 2, but got list"):
        input_dependence(net, [1, 2])
    with pytest.raises(InvalidArgumentError, match="differ from one another, but all 3 are the same"):
        input_dependence(net, torch.ones(3, 1, 6, 6))
    with pytest.raises(InvalidArgumentError, match=r"unknown \['c9'\]"):
        input_dependence(net, torch.randn(2, 1, 6, 6), layers=["c9"])
    with pytest.raises(InvalidArgumentError, match="rtol"):
        input_dependence(net, torch.randn(2, 1, 6, 6), rtol=0.0)


def test_pruning_report_collects_and_checks() -> None:
    net = MLP()
    mask = torch.ones(300, 500)
    mask[:, :50] = 0  # parents 0..49 of fc2 lose every output; 15 000 of fc2's 150 000 weights
    mask[:3] = 0  # children 0..2 lose every input: 3 · 450 more
    apply_masks(net, {"fc2": mask})
    rep = pruning_report(net, [("fc1", "fc2")], accuracy_dense=90.0, accuracy_pruned=50.0, accuracy_retrained=89.5)
    removed = 15_000 + 3 * 450
    assert rep["per_layer_pruned_percent"]["fc2"] == pytest.approx(100.0 * removed / 150_000)
    assert rep["params_pruned_percent"] == pytest.approx(100.0 * removed / 545_810)
    assert (rep["accuracy_dense"], rep["accuracy_pruned"], rep["accuracy_retrained"]) == (90.0, 50.0, 89.5)
    assert rep["disconnected"]["fc2"] == {"child_without_inputs": 3, "parent_without_outputs": 50}
    assert rep["csr_memory_mb"] < pruning_report(MLP(), [("fc1", "fc2")])["csr_memory_mb"]
    with pytest.raises(ValueError, match=r"Expected `accuracy_dense` as a number in \[0, 100\] or None, but got 900.0"):
        pruning_report(net, [("fc1", "fc2")], accuracy_dense=900.0)
    with pytest.raises(ValueError, match="Unknown layer 'fc9'"):
        csr_memory_mb(net, layers=["fc9"])
    assert np.isfinite(rep["csr_memory_mb"])
