"""The one method registry: built-ins, a criterion registered in one file (docs/own_model.md's example), errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mintlab.prune import methods
from mintlab.prune.methods import get_method, method_names, register_method
from mintlab.prune.scorers import SCORER_NAMES, get_scorer
from mintlab.prune.scores import compute_scores
from mintlab.utils.checks import InvalidArgumentError

DOC = Path(__file__).resolve().parents[2] / "docs" / "own_model.md"


def test_builtins_are_registered_once_by_kind() -> None:
    assert method_names("blocks") == SCORER_NAMES == ("mint", "mint_paper", "magnitude", "random", "wanda", "taylor")
    assert method_names("units") == ("mipp", "l1_units", "random_units")
    assert method_names() == SCORER_NAMES + method_names("units")
    assert get_method("wanda").kind == "blocks" and get_method("mipp").make is None


def test_the_documented_criterion_works_end_to_end(monkeypatch) -> None:
    """Runs the code block of docs/own_model.md, then scores a network with it and compares by hand."""
    monkeypatch.setattr(methods, "_REGISTRY", dict(methods._REGISTRY))  # the registration is undone afterwards
    block = re.search(r"```python\n# my_criterion.py\n(.*?)```", DOC.read_text(), re.S).group(1)
    namespace: dict = {}
    exec(compile(block, str(DOC), "exec"), namespace)
    assert "squared_weight" in method_names("blocks")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    s = compute_scores(
        net,
        None,
        [("1", "3")],
        get_scorer("squared_weight"),
        groups=(2, 2),
        samples_per_class=1,
        seed=0,
        progress=False,
    )
    w2 = net[3].weight.detach().double().numpy() ** 2  # 2 child units × 4 parent units; 2 × 2 groups
    expected = np.array([[w2[:1, :2].sum(), w2[:1, 2:].sum()], [w2[1:, :2].sum(), w2[1:, 2:].sum()]])
    np.testing.assert_allclose(s["3"].scores, expected, rtol=1e-12)


def test_registry_refuses_what_it_cannot_hold(monkeypatch) -> None:
    monkeypatch.setattr(methods, "_REGISTRY", dict(methods._REGISTRY))
    with pytest.raises(InvalidArgumentError, match="registered already"):
        register_method("mint", "mintlab.prune.scorers:mint_scorer")
    with pytest.raises(InvalidArgumentError, match="letters, digits"):
        register_method("my method", "x:y")
    with pytest.raises(InvalidArgumentError, match="Expected `make`"):
        register_method("nothing", None)
    with pytest.raises(InvalidArgumentError, match="Expected a method name in"):
        get_method("nope")
    with pytest.raises(InvalidArgumentError, match="'mipp' is a 'units' method"):
        get_scorer("mipp") if "mipp" in method_names("blocks") else get_method("mipp").factory()


def test_a_request_that_prunes_nothing_says_so() -> None:
    """prune(prune_percent=50, gamma=0) warns that it fell short; every layer skipped is refused."""
    import warnings

    from mintlab.prune.step import prune

    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    s = compute_scores(
        net, None, [("1", "3")], get_scorer("magnitude"), groups=(2, 2), samples_per_class=1, seed=0, progress=False
    )
    with pytest.warns(UserWarning, match=r"prune_percent=50 could not be met: 0\.00 % .*gamma=0\.0"):
        prune(net, s, prune_percent=50.0, gamma=0.0)
    with pytest.raises(InvalidArgumentError, match=r"every one is skipped \(\['3'\]\): nothing can be pruned"):
        prune(net, s, prune_percent=50.0, skip=["3"], check=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a request that is met says nothing
        prune(
            nn.Sequential(nn.Flatten(), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2)), s, prune_percent=50.0, check=False
        )
