"""Plausible data mistakes during scoring get one clear error (``Expected …, but got …``), not a traceback from
deep inside: items that are not (image, label) pairs, one-hot or fractional labels, labels a Taylor pass cannot
feed to the cross-entropy."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset

from mintlab.nets.data import dataset_targets
from mintlab.prune.activations import collect_activations, collect_gradients
from mintlab.prune.scorers import get_scorer
from mintlab.prune.scores import compute_scores
from mintlab.utils.checks import InvalidArgumentError, check_class_labels, check_class_range

PAIRS = [("1", "3"), ("3", "5")]
N, CLASSES = 60, 3
PAIR_MESSAGE = "Expected `dataset` items as (image, label) pairs, but got"


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, CLASSES))


def _images() -> torch.Tensor:
    return torch.rand(N, 1, 4, 4, generator=torch.Generator().manual_seed(1))


def _labels() -> torch.Tensor:
    return torch.arange(N) % CLASSES


class _Dicts(Dataset):
    """Items ``{"image": …, "label": …}`` (Hugging Face style)."""

    def __len__(self) -> int:
        return N

    def __getitem__(self, i: int) -> dict:
        return {"image": _images()[i], "label": int(_labels()[i])}


class _Triples(Dataset):
    """Items ``(image, label, index)``."""

    def __len__(self) -> int:
        return N

    def __getitem__(self, i: int) -> tuple:
        return _images()[i], int(_labels()[i]), i


class _DictsWithTargets(_Dicts):
    """Dict items behind a ``.targets`` attribute: the labels come without reading an item."""

    def __init__(self) -> None:
        self.targets = _labels().tolist()


def _score(dataset: Dataset, scorer: str = "mint") -> None:
    compute_scores(
        _mlp(), dataset, PAIRS, get_scorer(scorer), groups=(4, 2), samples_per_class=5, seed=0, progress=False
    )


# --------------------------------------------------------------------------- items that are not (image, label)


@pytest.mark.parametrize("scorer", ["mint", "taylor", "wanda"])
@pytest.mark.parametrize(
    ("dataset", "shown"),
    [
        (_Dicts(), "dict items with keys ['image', 'label']"),
        (_DictsWithTargets(), "dict items with keys ['image', 'label']"),
        (_Triples(), "items of 3 elements (Tensor, int, int)"),
        (TensorDataset(_images(), _labels(), torch.arange(N)), "a TensorDataset of 3 tensors"),
    ],
)
def test_items_that_are_not_image_label_pairs_are_named(dataset, shown, scorer) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(f"{PAIR_MESSAGE} {shown}")):
        _score(dataset, scorer)


def test_collectors_name_items_that_are_not_pairs() -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(PAIR_MESSAGE)):
        collect_activations(_mlp(), _DictsWithTargets(), PAIRS, samples_per_class=5, seed=0, progress=False)
    with pytest.raises(InvalidArgumentError, match=re.escape(PAIR_MESSAGE)):
        collect_gradients(_mlp(), _Triples(), ["3"], samples_per_class=5, seed=0)


# --------------------------------------------------------------------------- labels


def test_one_hot_labels_are_refused_with_a_hint() -> None:
    one_hot = TensorDataset(_images(), nn.functional.one_hot(_labels()))
    message = re.escape(
        f"Expected the labels of `dataset` as 1-D integer class indices, one per item, but got shape "
        f"({N}, {CLASSES}) (one-hot rows? pass labels.argmax(1))"
    )
    for scorer in ("mint", "taylor"):
        with pytest.raises(InvalidArgumentError, match=message):
            _score(one_hot, scorer)
    with pytest.raises(InvalidArgumentError, match="one-hot"):
        dataset_targets(Subset(one_hot, [0, 1]))


def test_one_hot_labels_of_items_are_refused() -> None:
    class OneHotItems(_Triples):
        def __getitem__(self, i: int) -> tuple:
            return _images()[i], nn.functional.one_hot(_labels()[i], CLASSES)

    with pytest.raises(InvalidArgumentError, match=re.escape("but got a label of shape (3,) (one-hot?")):
        _score(OneHotItems())


@pytest.mark.parametrize("scorer", ["mint", "taylor"])
def test_fractional_labels_are_refused_not_truncated(scorer) -> None:
    fractional = TensorDataset(_images(), _labels().float() + 0.5)
    with pytest.raises(
        InvalidArgumentError,
        match=re.escape(
            "Expected the labels of `dataset` as integer class indices, but got non-integral values such as 0.5"
        ),
    ):
        _score(fractional, scorer)
    # 0.2 and 0.7 would both become class 0
    with pytest.raises(ValueError, match="merging classes"):
        dataset_targets(TensorDataset(torch.zeros(2, 1), torch.tensor([0.2, 0.7])))


def test_integral_float_labels_score_as_integers() -> None:
    expected = compute_scores(
        _mlp(),
        TensorDataset(_images(), _labels()),
        PAIRS,
        get_scorer("taylor"),
        groups=(4, 2),
        samples_per_class=5,
        seed=0,
        progress=False,
    )
    got = compute_scores(
        _mlp(),
        TensorDataset(_images(), _labels().double()),
        PAIRS,
        get_scorer("taylor"),
        groups=(4, 2),
        samples_per_class=5,
        seed=0,
        progress=False,
    )
    for child in ("3", "5"):
        np.testing.assert_allclose(got[child].scores, expected[child].scores, rtol=1e-6)
    acts = collect_activations(
        _mlp(), TensorDataset(_images(), _labels().float()), PAIRS, samples_per_class=5, seed=0, progress=False
    )
    assert acts.labels.dtype == np.int64 and sorted(set(acts.labels.tolist())) == [0, 1, 2]


def test_one_based_labels_get_the_zero_based_hint_from_taylor() -> None:
    one_based = TensorDataset(_images(), _labels() + 1)
    message = re.escape(
        f"Expected the labels of `dataset` < {CLASSES} (number of model outputs), but got {CLASSES} "
        "(class indices are 0-based: subtract 1 from 1-based labels)"
    )
    with pytest.raises(InvalidArgumentError, match=message):
        _score(one_based, "taylor")
    _score(one_based, "mint")  # MINT only groups rows by class: any integer labels do


def test_labels_beyond_the_outputs_and_negative_labels_are_refused_by_taylor() -> None:
    too_many = TensorDataset(_images(), torch.arange(N) % (CLASSES + 2))
    with pytest.raises(InvalidArgumentError, match=r"< 3 \(number of model outputs\), but got 4$"):
        _score(too_many, "taylor")
    negative = TensorDataset(_images(), torch.arange(N) % CLASSES - 1)
    with pytest.raises(InvalidArgumentError, match=r"Expected the labels of `dataset` >= 0 \(class indices\)"):
        _score(negative, "taylor")


def test_label_helpers() -> None:
    assert check_class_labels(np.array([[1], [0]]), "labels").tolist() == [1, 0]  # a column is fine
    assert check_class_labels(torch.tensor([True, False]), "labels").tolist() == [1, 0]
    with pytest.raises(InvalidArgumentError, match=r"Expected `labels` as integer class indices, but got dtype <U1"):
        check_class_labels(["a", "b"], "labels")
    with pytest.raises(InvalidArgumentError, match=r"such as nan"):
        check_class_labels([0.0, float("nan")], "labels")
    with pytest.raises(InvalidArgumentError, match=r"as one label per item \(3\), but got 2"):
        check_class_labels([0, 1], "labels", length=3)
    with pytest.raises(InvalidArgumentError, match=r"< 4 \(number of classes\), but got 4 \(class indices"):
        check_class_range(np.array([1, 4]), 4, "labels")
    with pytest.raises(InvalidArgumentError, match=r"< 4 \(number of classes\), but got 4$"):
        check_class_range(np.array([0, 4]), 4, "labels")  # has a 0: not 1-based, no hint


def test_dataset_targets_checks_length_of_targets() -> None:
    class Short(_Triples):
        targets = [0, 1]

    with pytest.raises(InvalidArgumentError, match=rf"one label per item \({N}\), but got 2"):
        dataset_targets(Short())


def test_numpy_bool_and_integer_labels_of_plain_datasets_are_read() -> None:
    from mintlab.nets.data import dataset_targets

    class Items(Dataset):
        def __init__(self, kind) -> None:
            self.kind = kind

        def __len__(self) -> int:
            return 4

        def __getitem__(self, i: int):
            return torch.zeros(2), self.kind(i % 2)

    for kind in (np.bool_, np.int32, np.uint8, bool, int, lambda v: torch.tensor(v)):
        assert dataset_targets(Items(kind)).tolist() == [0, 1, 0, 1]
