"""Bad arguments to the pruning steps get one clear error (``Expected …, but got …``), before any work."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from mintlab.prune.activations import collect_activations, collect_gradients
from mintlab.prune.metrics import csr_memory_mb, disconnected_units, params_pruned_percent, prunable_layers
from mintlab.prune.mipp import baseline_unit_keep, mipp_layer, mipp_masks, mipp_select, structured_keep
from mintlab.prune.scorers import MagnitudeScorer, MintScorer, get_scorer
from mintlab.prune.scores import compute_scores, pair_seed
from mintlab.prune.step import prune, prune_and_retrain
from mintlab.utils.checks import InvalidArgumentError

PAIRS = [("1", "3"), ("3", "5")]
BAD_SEEDS = [None, -1, 1.7, "0", True, 2.0]
SEED_MESSAGE = "Expected `seed` as an int >= 0, but got"


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 2))


def _data(n: int = 40) -> TensorDataset:
    return TensorDataset(torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(1)), torch.arange(n) % 2)


class _Named(nn.Module):
    """fc1 → fc2 → fc3, the names the MIPP docs use."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(4, 3), nn.Linear(3, 2), nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


# --------------------------------------------------------------------------- seeds


@pytest.mark.parametrize("seed", BAD_SEEDS)
def test_bad_seed_is_refused_by_every_entry_point(seed) -> None:
    model, data = _mlp(), _data()
    calls = {
        "compute_scores": lambda: compute_scores(
            model, data, PAIRS, get_scorer("mint"), groups=(4, 2), samples_per_class=5, seed=seed, progress=False
        ),
        "compute_scores (weights only)": lambda: compute_scores(
            model, None, PAIRS, MagnitudeScorer(), groups=(4, 2), samples_per_class=5, seed=seed, progress=False
        ),
        "collect_activations": lambda: collect_activations(
            model, data, PAIRS, samples_per_class=5, seed=seed, progress=False
        ),
        "collect_gradients": lambda: collect_gradients(model, data, ["3"], samples_per_class=5, seed=seed),
        "mipp_masks": lambda: mipp_masks(model, data, PAIRS, samples_per_class=5, seed=seed),
        "mipp_layer": lambda: mipp_layer(np.random.rand(20, 3), np.random.rand(20, 2), seed=seed),
        "baseline_unit_keep": lambda: baseline_unit_keep(model, PAIRS, {"1": 2}, seed=seed),
        "pair_seed": lambda: pair_seed(seed, ("1", "3")),
    }
    for name, call in calls.items():
        with pytest.raises(InvalidArgumentError, match=re.escape(SEED_MESSAGE)):
            call()
            pytest.fail(f"{name} accepted seed={seed!r}")


def test_numpy_integer_seed_is_accepted_and_recorded_as_an_int() -> None:
    s = compute_scores(
        _mlp(), None, PAIRS, MagnitudeScorer(), groups=(4, 2), samples_per_class=1, seed=np.int64(3), progress=False
    )
    assert s.meta["seed"] == 3 and type(s.meta["seed"]) is int


# --------------------------------------------------------------------------- groups


def test_explicit_labels_for_one_pair_are_one_grouping() -> None:
    model = _mlp()
    labels = (np.arange(8) // 2, np.arange(6) // 3)
    s = compute_scores(
        model, None, [("1", "3")], MagnitudeScorer(), groups=labels, samples_per_class=1, seed=0, progress=False
    )
    assert s["3"].scores.shape == (2, 4)
    np.testing.assert_array_equal(s["3"].parent_groups, labels[0])
    np.testing.assert_array_equal(s["3"].child_groups, labels[1])
    # mixed: labels on one side, a count on the other; and the same as the per-pair mapping
    mixed = compute_scores(
        model, None, [("1", "3")], MagnitudeScorer(), groups=(labels[0], 2), samples_per_class=1, seed=0, progress=False
    )
    mapped = compute_scores(
        model, None, [("1", "3")], MagnitudeScorer(), groups={"3": labels}, samples_per_class=1, seed=0, progress=False
    )
    np.testing.assert_array_equal(mixed["3"].scores, s["3"].scores)
    np.testing.assert_array_equal(mapped["3"].scores, s["3"].scores)


def test_two_pairs_with_two_counts_each_stay_one_entry_per_pair() -> None:
    s = compute_scores(
        _mlp(), None, PAIRS, MagnitudeScorer(), groups=[(4, 3), (3, 2)], samples_per_class=1, seed=0, progress=False
    )
    assert [p.scores.shape for p in s.pairs] == [(3, 4), (2, 3)]
    with pytest.raises(InvalidArgumentError, match="one per layer pair"):
        compute_scores(
            _mlp(),
            None,
            PAIRS,
            MagnitudeScorer(),
            groups=[(4, 3), (3, 2), (2, 2)],
            samples_per_class=1,
            seed=0,
            progress=False,
        )


# --------------------------------------------------------------------------- per-layer mappings of MIPP


@pytest.mark.parametrize("option", ["x", "target"])
def test_mipp_mapping_with_an_unknown_layer_names_the_known_ones(option: str) -> None:
    pairs = [("fc1", "fc2"), ("fc2", "fc3")]
    known = re.escape("['fc1', 'fc2']")
    with pytest.raises(
        InvalidArgumentError,
        match=rf"Expected `{option}` keys among the selected layers {known}, "
        r"but got \['typo'\]",
    ):
        mipp_masks(_Named(), None, pairs, **{option: {"typo": 0.5}})  # refused before the forward pass
    acts = collect_activations(
        _Named(),
        TensorDataset(torch.randn(40, 4), torch.arange(40) % 2),
        pairs,
        samples_per_class=20,
        seed=0,
        progress=False,
    )
    with pytest.raises(InvalidArgumentError, match=rf"`{option}` keys .*'typo'"):
        mipp_select(acts, **{option: {"fc1": 0.5, "typo": 0.5}})


def test_structured_baselines_refuse_unknown_layers() -> None:
    pairs = [("fc1", "fc2"), ("fc2", "fc3")]
    with pytest.raises(InvalidArgumentError, match=r"`n_keep` keys .*\['fc1', 'fc2'\].*\['fc9'\]"):
        baseline_unit_keep(_Named(), pairs, {"fc9": 1})
    with pytest.raises(InvalidArgumentError, match=r"`unit_sparsity` keys .*\['fc3'\]"):
        structured_keep("l1_units", _Named(), None, pairs, unit_sparsity={"fc3": 0.5})
    keep = structured_keep("l1_units", _Named(), None, pairs, unit_sparsity={"fc1": 0.5})  # a partial one is fine
    assert [int(k.sum()) for k in keep.values()] == [2, 2]


# --------------------------------------------------------------------------- types of prune and the metrics


def test_prune_refuses_what_is_not_a_scoreset_or_a_model() -> None:
    model = _mlp()
    scores = compute_scores(
        model, None, PAIRS, MagnitudeScorer(), groups=(4, 2), samples_per_class=1, seed=0, progress=False
    )
    with pytest.raises(InvalidArgumentError, match="Expected `scores` as a ScoreSet .*but got dict"):
        prune(model, {"3": 1}, delta=0.3)
    with pytest.raises(InvalidArgumentError, match="Expected `model` as a torch.nn.Module, but got str"):
        prune("m", scores, delta=0.3)
    with pytest.raises(InvalidArgumentError, match="Expected `scores` as a ScoreSet .*but got dict"):
        prune_and_retrain(model, {"3": 1}, delta=0.3, train_data=_data(), test_data=_data(), recipe="quick_retrain")


def test_metrics_refuse_non_models_and_models_without_parameters() -> None:
    for call in (
        lambda: params_pruned_percent("m"),
        lambda: csr_memory_mb("m"),
        lambda: prunable_layers("m"),
        lambda: disconnected_units("m", PAIRS),
    ):
        with pytest.raises(InvalidArgumentError, match="Expected `model` as a torch.nn.Module, but got str"):
            call()
    with pytest.raises(InvalidArgumentError, match="Expected `model` with parameters .*but got ReLU with none"):
        params_pruned_percent(nn.ReLU())
    with pytest.raises(InvalidArgumentError, match="Expected `total_params` as an int >= 1, but got 0"):
        params_pruned_percent(_mlp(), total_params=0)
    assert params_pruned_percent(nn.ReLU(), total_params=10)["total"] == 0.0


# --------------------------------------------------------------------------- scorer names and estimators


def test_mint_takes_the_users_estimator_and_mint_paper_keeps_its_own() -> None:
    scorer = get_scorer("mint", estimator="scaled", repeats=2)
    assert isinstance(scorer, MintScorer) and scorer.config() == {"name": "mint", "estimator": "scaled", "repeats": 2}
    assert get_scorer("mint").config()["estimator"] == "projected"  # the recommended one by default
    assert get_scorer("mint_paper", estimator="paper").config() == get_scorer("mint_paper").config()
    with pytest.raises(InvalidArgumentError, match=r"Expected no `estimator` for scorer 'mint_paper'.*got 'scaled'"):
        get_scorer("mint_paper", estimator="scaled")
    with pytest.raises(InvalidArgumentError, match="Expected `estimator` in"):
        get_scorer("mint", estimator="gmi")


# --------------------------------------------------------------------------- docs/mipp.md


def _python_blocks() -> list[str]:
    text = (Path(__file__).resolve().parents[2] / "docs" / "mipp.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_mipp_doc_imports_resolve_and_its_example_runs() -> None:
    blocks = _python_blocks()
    assert blocks
    for block in blocks:  # every import of every example (the Dask one included) resolves
        imports = "\n".join(line for line in block.splitlines() if line.startswith(("from ", "import ")))
        if "distributed" in imports:
            pytest.importorskip("distributed")
        exec(compile(imports, "docs/mipp.md", "exec"), {})  # noqa: S102 - our own docs
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    namespace = {"model": _Named(), "train_set": TensorDataset(torch.randn(600, 4, generator=g), torch.arange(600) % 2)}
    exec(compile(blocks[0], "docs/mipp.md", "exec"), namespace)  # noqa: S102 - the first example, as written
    res, model = namespace["res"], namespace["model"]
    assert set(res["keep"]) == {"fc1", "fc2"} and hasattr(model.fc1, "weight_mask"), "the masks are installed"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_activation_collection_refuses_an_unavailable_device() -> None:
    for collect in (collect_activations, collect_gradients):
        layers = PAIRS[:1] if collect is collect_activations else ["3"]
        with pytest.raises(InvalidArgumentError, match="CUDA is not available"):
            collect(_mlp(), _data(), layers, samples_per_class=5, seed=0, device="cuda")


def test_data_the_network_does_not_take_is_named() -> None:
    wrong = TensorDataset(torch.rand(40, 3, 4, 4), torch.arange(40) % 2)  # 3 channels for a 16-input MLP
    message = r"Expected `dataset` the model accepts, but got a batch of shape \(\d+, 3, 4, 4\) \(torch.float32\)"
    with pytest.raises(RuntimeError, match=message):
        compute_scores(
            _mlp(), wrong, PAIRS, get_scorer("mint"), groups=(4, 2), samples_per_class=5, seed=0, progress=False
        )
    with pytest.raises(RuntimeError, match="Expected `dataset` the model accepts"):
        collect_gradients(_mlp(), wrong, ["3"], samples_per_class=5, seed=0)
    from mintlab.prune.compaction import compact

    net = _mlp()
    torch.nn.utils.prune.custom_from_mask(net[3], "weight", torch.ones(6, 8))
    with pytest.raises(RuntimeError, match="Expected `example_inputs` the model accepts"):
        compact(net, torch.rand(2, 3, 4, 4))


def test_compute_scores_refuses_a_pair_that_is_not_adjacent_before_writing_anything(tmp_path):
    # ("0", "4") chains by counts (4 → 4) but another Linear sits between: its "units" would be the wrong ones
    from mintlab.prune.scorers import get_scorer
    from mintlab.prune.scores import compute_scores

    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    data = TensorDataset(torch.randn(40, 4), torch.arange(40) % 2)
    with pytest.raises(ValueError, match=r"Pair \('0', '4'\) is not adjacent"):
        compute_scores(
            net,
            data,
            [("0", "4")],
            get_scorer("mint"),
            groups=(2, 2),
            samples_per_class=10,
            seed=0,
            cache_dir=tmp_path,
            progress=False,
        )
    assert list(tmp_path.iterdir()) == []
    scores = compute_scores(
        net, data, [("2", "4")], get_scorer("mint"), groups=(2, 2), samples_per_class=10, seed=0, progress=False
    )
    assert scores["4"].scores.shape == (2, 2)
