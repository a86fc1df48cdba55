"""The one registry of pruning methods: every name a comparison, a notebook or a script accepts.

Two kinds:

- ``"blocks"``: a :class:`~mintlab.prune.scorers.Scorer` that scores the connection blocks of each layer pair
  (MINT and the baselines of equal sparsity: magnitude, random, Wanda-style, Taylor). Its entry makes the
  scorer: ``make(**options) -> Scorer`` (:func:`mintlab.prune.scorers.get_scorer` calls it).
- ``"units"``: a structured method that keeps or removes whole units of a layer (MIPP and its unit-level L1
  and random baselines, :mod:`mintlab.prune.mipp`); its entry makes nothing, the MIPP comparison runs it.

A new scoring criterion is one file: subclass :class:`~mintlab.prune.scorers.Scorer` and call
:func:`register_method` with its name (``docs/own_model.md``, "A scoring criterion of your own").

>>> method_names("units")
('mipp', 'l1_units', 'random_units')
>>> "mint" in method_names("blocks")
True
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

from mintlab.utils.checks import InvalidArgumentError, check_choice

__all__ = ["Method", "METHOD_KINDS", "register_method", "get_method", "method_names"]

#: The kinds of method (module docstring).
METHOD_KINDS = ("blocks", "units")


@dataclasses.dataclass(frozen=True)
class Method:
    """A registered pruning method.

    Attributes:
        name: what users type (``"mint"``, ``"magnitude"``, ...).
        kind: ``"blocks"`` or ``"units"`` (:data:`METHOD_KINDS`).
        make: ``make(**options)`` returning the method's :class:`~mintlab.prune.scorers.Scorer`, or the
            ``"module:function"`` path of such a factory (resolved on first use); ``None`` for ``"units"``.
        summary: one line for listings and ``--help``.
    """

    name: str
    kind: str
    make: Callable[..., Any] | str | None
    summary: str = ""

    def factory(self) -> Callable[..., Any]:
        """The scorer factory (a ``"module:function"`` path imported now).

        Raises:
            InvalidArgumentError: a ``"units"`` method (it has no scorer).
        """
        if self.make is None:
            raise InvalidArgumentError(
                f"Expected a method that scores connection blocks, but {self.name!r} is a "
                f"{self.kind!r} method (run it through mintlab.experiments.mipp)"
            )
        if isinstance(self.make, str):
            module, _, attr = self.make.partition(":")
            return getattr(importlib.import_module(module), attr)
        return self.make


_REGISTRY: dict[str, Method] = {}


def register_method(
    name: str, make: Callable[..., Any] | str | None, *, kind: str = "blocks", summary: str = "", replace: bool = False
) -> Method:
    """Register a pruning method under ``name`` and return its :class:`Method`.

    Args:
        name: a new name (letters, digits, ``_``).
        make: for ``kind="blocks"``, ``make(**options) -> Scorer`` (a Scorer class works) or its
            ``"module:function"`` path; ``None`` for ``kind="units"``.
        kind: see :data:`METHOD_KINDS`.
        summary: one line describing it.
        replace: allow replacing an existing entry of that name.

    Raises:
        InvalidArgumentError: a bad name or kind, a name taken (without ``replace``), a ``"blocks"`` method
            without ``make``.
    """
    if not isinstance(name, str) or not name or not name.replace("_", "").isalnum():
        raise InvalidArgumentError(f"Expected a method `name` of letters, digits and '_', but got {name!r}")
    check_choice(kind, "kind", METHOD_KINDS)
    if kind == "blocks" and make is None:
        raise InvalidArgumentError(f"Expected `make` (a Scorer factory) for the blocks method {name!r}, but got None")
    if name in _REGISTRY and not replace:
        raise InvalidArgumentError(
            f"Expected a new method name, but {name!r} is registered already (pass replace=True to replace it)"
        )
    _REGISTRY[name] = Method(name, kind, make, summary)
    return _REGISTRY[name]


def get_method(name: str) -> Method:
    """The registered :class:`Method` called ``name``.

    Raises:
        InvalidArgumentError: an unknown name (the message lists the registered ones).
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        raise InvalidArgumentError(f"Expected a method name in {tuple(_REGISTRY)}, but got {name!r}")
    return _REGISTRY[name]


def method_names(kind: str | None = None) -> tuple[str, ...]:
    """Registered names, in registration order; ``kind`` keeps one kind (:data:`METHOD_KINDS`)."""
    if kind is not None:
        check_choice(kind, "kind", METHOD_KINDS)
    return tuple(n for n, m in _REGISTRY.items() if kind is None or m.kind == kind)


for _name, _make, _summary in (
    ("mint", "mintlab.prune.scorers:mint_scorer", "MINT: conditional GMI of each block, the recommended estimator"),
    ("mint_paper", "mintlab.prune.scorers:mint_paper_scorer", "MINT with the paper's estimator"),
    ("magnitude", "mintlab.prune.scorers:MagnitudeScorer", "sum of |w| of each block"),
    ("random", "mintlab.prune.scorers:RandomScorer", "seeded random scores (the floor)"),
    ("wanda", "mintlab.prune.scorers:WandaScorer", "|w| × the input activation's norm (Sun et al. 2023)"),
    ("taylor", "mintlab.prune.scorers:TaylorScorer", "first-order Taylor |w · ∂L/∂w| (Molchanov et al. 2019)"),
):
    register_method(_name, _make, summary=_summary)
for _name, _summary in (
    ("mipp", "MIPP: whole units by predictive information (Westphal et al. 2024)"),
    ("l1_units", "units of lowest outgoing L1 norm"),
    ("random_units", "seeded random units"),
):
    register_method(_name, None, kind="units", summary=_summary)
