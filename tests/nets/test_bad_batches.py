"""train() and evaluate() refuse batches they would misread, naming the batch: NaN inputs, one-hot, string
and fractional labels (one check shared with the scoring's data checks, mintlab.utils.checks.check_batch)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from mintlab.nets.recipes import Recipe
from mintlab.nets.train import evaluate, train
from mintlab.utils.checks import InvalidArgumentError


class Items(Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 3))


def _x(n: int = 8) -> torch.Tensor:
    return torch.randn(n, 1, 2, 2, generator=torch.Generator().manual_seed(1))


RECIPE = Recipe(epochs=1, batch_size=4, lr=0.1)


@pytest.mark.parametrize("run", ["train", "evaluate"])
def test_nan_inputs_are_refused_with_the_batch_and_the_count(run: str) -> None:
    x = _x()
    x[:, 0, 1, 1] = float("nan")  # two bad pixels per image (training shuffles: every batch of 4 holds 8)
    x[:, 0, 0, 0] = float("inf")
    net = _net()
    before = [p.detach().clone() for p in net.parameters()]
    data = TensorDataset(x, torch.arange(8) % 3)
    with pytest.raises(ValueError, match=r"batch 0 holds 8 NaN or infinite values \(of 16\)"):
        if run == "train":
            train(net, data, None, RECIPE, progress=False)
        else:
            evaluate(net, data, batch_size=4)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))  # no weight became NaN


@pytest.mark.parametrize("run", ["train", "evaluate"])
@pytest.mark.parametrize(
    "labels, message",
    [
        (
            torch.nn.functional.one_hot(torch.arange(8) % 3, 3),
            r"shape \(4, 3\) \(one-hot rows\? pass labels.argmax\(1\)\)",
        ),
        (torch.tensor([0.0, 1.0, 2.5, 0.0, 1.0, 2.0, 0.0, 1.0]), r"non-integral values such as 2\.5"),
    ],
)
def test_labels_that_are_not_class_indices_are_refused(run: str, labels, message: str) -> None:
    data = TensorDataset(_x(), labels)
    with pytest.raises(InvalidArgumentError, match=r"labels of (training|evaluation) batch \d.*" + message):
        if run == "train":
            train(_net(), data, None, RECIPE, progress=False)
        else:
            evaluate(_net(), data, batch_size=4)


def test_string_labels_and_non_tensor_inputs_name_what_came() -> None:
    strings = Items([(torch.zeros(1, 2, 2), str(i % 3)) for i in range(8)])
    with pytest.raises(InvalidArgumentError, match=r"labels of evaluation batch 0.*dtype <U1"):
        evaluate(_net(), strings, batch_size=4)
    lists = Items([([0.0, 0.0, 0.0, 0.0], 0) for _ in range(8)])
    with pytest.raises(InvalidArgumentError, match="batch 0 has inputs of type list"):
        train(_net(), lists, None, RECIPE, progress=False)


def test_integral_float_labels_still_train() -> None:
    """Labels 0.0, 1.0, 2.0 are class indices: accepted (as check_class_labels accepts them for scoring)."""
    data = TensorDataset(_x(), (torch.arange(8) % 3).float())
    assert evaluate(_net(), data)["accuracy"] >= 0.0
    assert train(_net(), data, None, RECIPE, progress=False)["completed"]
