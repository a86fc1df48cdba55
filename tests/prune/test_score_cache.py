"""The score cache is keyed by the data themselves and the network's code, and a corrupt pair or meta file is
recomputed, not used."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset

from mintlab.nets.checkpoints import state_dict_hash
from mintlab.prune import scores as scores_mod
from mintlab.prune.scorers import PairContext, Scorer, group_sums
from mintlab.prune.scores import _dataset_fingerprint, compute_scores
from mintlab.utils.io import json_key

PAIRS = [("1", "3"), ("3", "5")]
GROUPS = {("1", "3"): (4, 3), ("3", "5"): (3, 2)}


class ActivationScorer(Scorer):
    """Scores that depend on every sampled activation (a sum of |child x parent| per block); counts calls."""

    name = "activation_sum"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, ctx: PairContext) -> np.ndarray:
        self.calls.append(ctx.pair)
        links = np.abs(ctx.child.T @ ctx.parent)  # (N_child, N_parent)
        return group_sums(links, ctx.child_groups, ctx.parent_groups)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 2))


def _images(n: int = 40) -> torch.Tensor:
    return torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(1))


def _labels(n: int = 40) -> torch.Tensor:
    return torch.arange(n) % 2


class ItemDataset(Dataset):
    """A plain map-style dataset (no tensors to hash at once): items are built one by one."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i], int(self.labels[i])


def _scores(dataset: Dataset, cache: Path, scorer: Scorer | None = None):
    return compute_scores(
        _model(),
        dataset,
        PAIRS,
        scorer or ActivationScorer(),
        groups=GROUPS,
        samples_per_class=10,
        seed=0,
        cache_dir=cache,
        progress=False,
    )


def _same(a, b) -> bool:
    return all(np.array_equal(x.scores, y.scores) for x, y in zip(a.pairs, b.pairs, strict=True))


@pytest.mark.parametrize("kind", ["tensors", "items"])
def test_data_changed_in_the_middle_are_not_served_from_the_cache(kind: str, tmp_path: Path) -> None:
    make = TensorDataset if kind == "tensors" else ItemDataset
    images = _images()
    first = _scores(make(images, _labels()), tmp_path)
    changed = images.clone()
    changed[1:-1] = torch.rand(changed[1:-1].shape, generator=torch.Generator().manual_seed(7))  # first, last kept
    scorer = ActivationScorer()
    second = _scores(make(changed, _labels()), tmp_path, scorer)
    assert scorer.calls == PAIRS, "other data: computed, not reloaded"
    assert not _same(first, second)
    assert _same(
        second,
        compute_scores(
            _model(),
            make(changed, _labels()),
            PAIRS,
            ActivationScorer(),
            groups=GROUPS,
            samples_per_class=10,
            seed=0,
            progress=False,
        ),
    )
    assert len(list(tmp_path.iterdir())) == 2, "the first data's scores stay in their own folder"
    again = ActivationScorer()
    reloaded = _scores(make(changed, _labels()), tmp_path, again)
    assert _same(second, reloaded) and again.calls == [], "same data: reloaded"


def test_fingerprint_covers_every_byte_and_names_what_it_covers() -> None:
    images, labels = _images(), _labels()
    base = _dataset_fingerprint(TensorDataset(images, labels), 10, 0)
    assert base.startswith("content-blake2b:")
    for row in (0, 17, 39):
        other = images.clone()
        other[row, 0, 2, 3] += 1e-6  # one value of one image
        assert _dataset_fingerprint(TensorDataset(other, labels), 10, 0) != base
    assert _dataset_fingerprint(TensorDataset(images.double(), labels), 10, 0) != base, "the dtype counts"
    # a Subset is hashed as the items it holds
    rows = [3, 5, 8]
    assert _dataset_fingerprint(Subset(TensorDataset(images, labels), rows), 10, 0) == _dataset_fingerprint(
        TensorDataset(images[rows], labels[rows]), 10, 0
    )
    generic = _dataset_fingerprint(ItemDataset(images, labels), 10, 0)
    assert generic.startswith("sample-blake2b:")
    assert _dataset_fingerprint(ItemDataset(images, (labels + 1) % 2), 10, 0) != generic, "the labels count"

    class Scaled(TensorDataset):  # items are not the tensors' rows: hashed as items
        def __init__(self, scale: float, *tensors: torch.Tensor) -> None:
            super().__init__(*tensors)
            self.scale = scale

        def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
            return self.tensors[0][i] * self.scale, self.tensors[1][i]

    one, two = (_dataset_fingerprint(Scaled(s, images, labels), 10, 0) for s in (1.0, 2.0))
    assert one.startswith("sample-blake2b:") and one != two


def test_cache_of_the_old_fingerprint_is_used_with_a_warning(monkeypatch, tmp_path: Path) -> None:
    data = TensorDataset(_images(), _labels())
    with monkeypatch.context() as m:  # a cache as mintlab 0.1.0 keyed it: size, labels, first and last items
        m.setattr(scores_mod, "_dataset_fingerprint", lambda dataset, *_: scores_mod._legacy_fingerprint(dataset))
        _scores(data, tmp_path)
    (old,) = tmp_path.iterdir()
    old = _without_code_key(old)  # and without the network's code
    np.savez(old / "pair_000.npz", **{**dict(np.load(old / "pair_000.npz")), "scores": np.full((3, 4), 99.0)})
    scorer = ActivationScorer()
    with pytest.warns(UserWarning, match="keyed by mintlab 0.1's data fingerprint .* Remove that folder"):
        reused = _scores(data, tmp_path, scorer)
    assert scorer.calls == [] and (reused.pairs[0].scores == 99.0).all(), "its scores are used, not recomputed"
    assert [p.name for p in tmp_path.iterdir()] == [old.name]
    assert reused.meta["cache_key"] == old.name


def _cache_folder(tmp_path: Path) -> tuple[Path, object]:
    reference = _scores(TensorDataset(_images(), _labels()), tmp_path)
    (folder,) = tmp_path.iterdir()
    return folder, reference


@pytest.mark.parametrize("damage", ["truncated", "empty", "wrong shape", "other groups"])
def test_corrupt_pair_file_is_recomputed_with_a_warning(damage: str, tmp_path: Path) -> None:
    folder, reference = _cache_folder(tmp_path)
    f = folder / "pair_000.npz"
    if damage == "truncated":
        f.write_bytes(f.read_bytes()[:50])
    elif damage == "empty":
        f.write_bytes(b"")
    else:
        with np.load(f) as z:
            arrays = dict(z)
        if damage == "wrong shape":
            arrays["scores"] = arrays["scores"][:, :2]
        else:
            arrays["parent_groups"] = np.sort(arrays["parent_groups"])[::-1].copy()
        np.savez(f, **arrays)
    scorer = ActivationScorer()
    with pytest.warns(UserWarning, match=r"Score file .*pair_000\.npz is corrupt or truncated"):
        s = _scores(TensorDataset(_images(), _labels()), tmp_path, scorer)
    assert scorer.calls == [PAIRS[0]], "only the bad pair is recomputed"
    assert _same(s, reference)
    with np.load(f) as z:  # and written anew
        np.testing.assert_array_equal(z["scores"], reference.pairs[0].scores)


@pytest.mark.parametrize("text", ["{", "", "[1, 2]", "\udcff"])
def test_corrupt_meta_is_written_anew_with_a_warning(text: str, tmp_path: Path) -> None:
    folder, reference = _cache_folder(tmp_path)
    meta = folder / "meta.json"
    meta.write_bytes(text.encode("utf-8", "surrogateescape"))
    scorer = ActivationScorer()
    with pytest.warns(UserWarning, match=r"Score cache meta .*meta\.json is corrupt or truncated"):
        s = _scores(TensorDataset(_images(), _labels()), tmp_path, scorer)
    assert _same(s, reference)
    assert scorer.calls == [], "the pair files, checked against the grouping, are kept"
    assert json.loads(meta.read_text())["cache_key"] == folder.name


def test_meta_of_other_settings_is_still_a_clear_error(tmp_path: Path) -> None:
    folder, _ = _cache_folder(tmp_path)
    meta = folder / "meta.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "seed": 12}))
    with pytest.raises(ValueError, match="holds other settings"):
        _scores(TensorDataset(_images(), _labels()), tmp_path)


def _without_code_key(folder: Path) -> Path:
    """Rewrite a cache folder as mintlab wrote it before the network's code keyed it (no ``model_code``)."""
    meta = json.loads((folder / "meta.json").read_text())
    del meta["model_code"]
    keyed = {k: v for k, v in meta.items() if k not in ("cache_key", "total_params", "layer_weights")}
    meta["cache_key"] = json_key(keyed)
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder.rename(folder.with_name(meta["cache_key"]))


class Doubled(nn.Sequential):
    """The same modules and weights as :func:`_model`, another forward: the input is doubled first."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(2.0 * x)


def test_a_network_whose_forward_changed_does_not_reload_the_old_scores(tmp_path: Path) -> None:
    data = TensorDataset(_images(), _labels())
    first = _scores(data, tmp_path)
    doubled = Doubled(*_model())
    assert state_dict_hash(doubled) == state_dict_hash(_model()), "same weights and names"
    scorer = ActivationScorer()
    again = compute_scores(
        doubled, data, PAIRS, scorer, groups=GROUPS, samples_per_class=10, seed=0, cache_dir=tmp_path, progress=False
    )
    assert scorer.calls == PAIRS, "recomputed"
    assert len(list(tmp_path.iterdir())) == 2
    assert not any(np.allclose(a.scores, b.scores) for a, b in zip(first, again))


def test_a_cache_written_before_the_code_key_is_used_with_a_warning(tmp_path: Path) -> None:
    data = TensorDataset(_images(), _labels())
    _scores(data, tmp_path)
    (folder,) = tmp_path.iterdir()
    old = _without_code_key(folder)
    scorer = ActivationScorer()
    with pytest.warns(UserWarning, match=r"older key, which cannot tell apart a network whose code \(forward\)"):
        reused = _scores(data, tmp_path, scorer)
    assert scorer.calls == [] and reused.meta["cache_key"] == old.name
    assert [p.name for p in tmp_path.iterdir()] == [old.name]


def test_a_score_set_iterates_over_its_pairs_and_takes_positions(tmp_path: Path) -> None:
    scores = _scores(TensorDataset(_images(), _labels()), tmp_path)
    assert len(scores) == 2 and [p.pair for p in scores] == PAIRS
    assert scores[0] is scores.pairs[0] and scores[-1] is scores["5"] is scores[("3", "5")]
    with pytest.raises(IndexError, match=r"pair position in \[-2, 2\), but got 2"):
        scores[2]
    with pytest.raises(KeyError, match="children with scores"):
        scores[1.5]


def test_taylor_caches_written_when_frozen_layers_got_zeros_are_not_reused(tmp_path: Path) -> None:
    from mintlab.prune.scorers import TaylorScorer

    class OldTaylor(TaylorScorer):  # the key aa680bb wrote for Taylor scores (frozen layers: zero gradients)
        def config(self) -> dict:
            return {"name": "taylor"}

    data = TensorDataset(_images(), _labels())
    kw = dict(groups=GROUPS, samples_per_class=10, seed=0, cache_dir=tmp_path, progress=False)
    compute_scores(_model(), data, PAIRS, OldTaylor(), **kw)
    (folder,) = tmp_path.iterdir()
    _without_code_key(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not found as an older cache either: recomputed, silently
        compute_scores(_model(), data, PAIRS, TaylorScorer(), **kw)
    assert len(list(tmp_path.iterdir())) == 2
