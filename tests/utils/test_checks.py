"""One message form for every argument check; bools refused and NumPy integers accepted everywhere."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mintlab.utils.checks import (
    InvalidArgumentError,
    check_choice,
    check_fraction,
    check_int,
    check_number,
    check_seed,
)


def test_int_accepts_numpy_and_refuses_bool_and_float() -> None:
    assert check_int(np.int64(3), "m", minimum=1) == 3 and type(check_int(np.int64(3), "m")) is int
    for bad in (True, 2.0, "3", 0):
        with pytest.raises(InvalidArgumentError, match=rf"^Expected `m` as an int >= 1, but got {bad!r}$"):
            check_int(bad, "m", minimum=1)
    assert check_int(None, "m", allow_none=True) is None
    with pytest.raises(InvalidArgumentError, match=r"Expected `k` as an int in \[1, 3\], but got 4"):
        check_int(4, "k", minimum=1, maximum=3)


def test_error_is_both_value_and_type_error() -> None:
    with pytest.raises(ValueError):
        check_int("x", "n")
    with pytest.raises(TypeError):
        check_int("x", "n")


def test_number_bounds_open_and_closed() -> None:
    assert check_number(np.float32(0.5), "lr", low=0.0, low_open=True) == 0.5
    for bad in (0.0, -1, math.nan, math.inf, False):
        with pytest.raises(InvalidArgumentError, match="Expected `lr` as a number > 0, but got"):
            check_number(bad, "lr", low=0.0, low_open=True)
    assert check_fraction(1, "gamma") == 1.0
    with pytest.raises(InvalidArgumentError, match=r"Expected `gamma` as a number in \[0, 1\], but got 1.5"):
        check_fraction(1.5, "gamma")


def test_choice_and_seed() -> None:
    assert check_choice("nn", "bootstrap", ("nn", "nn_unique")) == "nn"
    with pytest.raises(InvalidArgumentError, match=r"Expected `bootstrap` in \('nn', 'nn_unique'\), but got 'NN'"):
        check_choice("NN", "bootstrap", ("nn", "nn_unique"))
    with pytest.raises(InvalidArgumentError, match="Expected `seed` as an int >= 0, but got -1"):
        check_seed(-1)


@pytest.mark.parametrize("value", [True, 0, 2.5])
def test_samples_per_class_is_checked_the_same_everywhere(value: object) -> None:
    """``samples_per_class=True`` was rejected by one module and accepted by two others."""
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset

    from mintlab.nets.data import per_class_indices
    from mintlab.prune.activations import collect_activations
    from mintlab.prune.scorers import get_scorer
    from mintlab.prune.scores import compute_scores

    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    data = TensorDataset(torch.rand(8, 4), torch.arange(8) % 2)
    message = rf"^Expected `samples_per_class` as an int >= 1, but got {value!r}$"
    with pytest.raises(InvalidArgumentError, match=message):
        per_class_indices(np.arange(8) % 2, value, seed=0)
    with pytest.raises(InvalidArgumentError, match=message):
        collect_activations(net, data, [("0", "2")], samples_per_class=value, seed=0, progress=False)
    with pytest.raises(InvalidArgumentError, match=message):
        compute_scores(net, data, [("0", "2")], get_scorer("random"), groups=(1, 1), samples_per_class=value, seed=0)
