"""The code fingerprint tells edited classes apart and is the same in every process."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap

import torch
from torch import nn

from mintlab.nets.models import MLP
from mintlab.utils.fingerprint import architecture_fingerprint, code_fingerprint


class _Net(nn.Sequential):
    SCALE = 1.0
    ACTIVATIONS = (torch.relu, torch.nn.functional.gelu, frozenset({"relu", "gelu", "silu", "tanh", "elu"}))
    NEGATIVE = functools.partial(torch.nn.functional.leaky_relu, negative_slope=0.1)

    def forward(self, x: torch.Tensor, mode: str = "a") -> torch.Tensor:
        if mode in {"a", "b", "c", "d", "e"}:  # a frozenset constant: its order follows string hashing
            x = self.SCALE * x
        return super().forward(x)


def _edited(**body: object) -> type:
    """A class of the same module path and name as :class:`_Net` with other members (an edited class)."""
    return type("_Net", (_Net,), {"__module__": _Net.__module__, "__qualname__": _Net.__qualname__, **body})


def _halved(self: nn.Sequential, x: torch.Tensor, mode: str = "a") -> torch.Tensor:
    return nn.Sequential.forward(self, 0.5 * x)


def test_the_code_of_a_class_counts_not_its_weights_or_name_alone() -> None:
    layers = [nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)]
    net = _Net(*layers)
    assert code_fingerprint(net) == code_fingerprint(_Net(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)))

    @torch.no_grad()
    def decorated(self: nn.Sequential, x: torch.Tensor, mode: str = "a") -> torch.Tensor:
        return nn.Sequential.forward(self, 0.5 * x)

    for body in (
        {"forward": _halved},
        {"SCALE": 2.0},
        {"forward": decorated},
        {"NEGATIVE": functools.partial(torch.nn.functional.leaky_relu, negative_slope=0.2)},
    ):
        edited = _edited(**body)(*layers)
        assert architecture_fingerprint(edited) == architecture_fingerprint(net)  # same name, modules, shapes
        assert code_fingerprint(edited) != code_fingerprint(net), body

    @torch.no_grad()
    def decorated_doubled(self: nn.Sequential, x: torch.Tensor, mode: str = "a") -> torch.Tensor:
        return nn.Sequential.forward(self, 2.0 * x)

    # the body under a decorator counts, not only the decorator's wrapper
    assert code_fingerprint(_edited(forward=decorated)(*layers)) != code_fingerprint(
        _edited(forward=decorated_doubled)(*layers)
    )
    # torch's own classes count by name (the installed torch pins their code); a torch.fx module by its code
    assert code_fingerprint(nn.Sequential(*layers)) != code_fingerprint(net)
    traced = torch.fx.symbolic_trace(nn.Sequential(*layers))
    assert code_fingerprint(traced) == code_fingerprint(torch.fx.symbolic_trace(nn.Sequential(*layers)))
    assert code_fingerprint(traced) != code_fingerprint(torch.fx.symbolic_trace(nn.Sequential(*layers[:2])))


def test_the_fingerprint_is_the_same_in_every_process() -> None:
    script = textwrap.dedent("""
        from mintlab.utils.fingerprint import code_fingerprint
        from mintlab.nets.models import MLP
        from tests.utils.test_code_fingerprint import _Net
        import torch.nn as nn
        print(code_fingerprint(MLP()), code_fingerprint(_Net(nn.Linear(2, 2))))
    """)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    outputs = {
        tuple(
            subprocess.run(
                [sys.executable, "-c", script],
                capture_output=True,
                text=True,
                check=True,
                cwd=root,
                env={**os.environ, "PYTHONHASHSEED": seed},
            ).stdout.split()[-2:]
        )
        for seed in ("1", "2", "3")
    }
    assert outputs == {(code_fingerprint(MLP()), code_fingerprint(_Net(nn.Linear(2, 2))))}
