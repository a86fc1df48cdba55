"""Group-wise importance scores of one layer pair: MINT and the baselines behind one interface.

A scorer takes a :class:`PairContext` (activations, weights and groups of one
(parent, child) pair) and returns a ``(G_child, G_parent)`` matrix; a higher score means a
more important block of weights. The pipeline (:func:`mintlab.prune.scores.compute_scores`,
:func:`mintlab.prune.masks.masks_from_scores`) is written once against this interface, in the
style of Torch-Pruning's ``Importance``.

* :class:`MintScorer` — conditional GMI of child group *i* and parent group *j* given the
  other parents (:func:`mintlab.estimator.layer_pair.score_layer_pair`).
* :class:`MagnitudeScorer` — mean ``|w|`` over the block's raw weights (whole conv kernels).
* :class:`RandomScorer` — seeded uniform scores.
* :class:`WandaScorer` — ``|w|`` times the parent unit's activation L2 norm over the sample
  (Sun et al. 2023, "A Simple and Effective Pruning Approach for Large Language Models").
* :class:`TaylorScorer` — first-order Taylor ``|w · ∂L/∂w|`` summed over the block (Molchanov et
  al. 2017 / 2019; Torch-Pruning's ``TaylorImportance``); reads gradients the pipeline fills in.

The baselines score the *same* group blocks as MINT, so that at equal sparsity a comparison
isolates the score itself, not the granularity of what is removed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mintlab.prune.methods import get_method, method_names
from mintlab.utils.checks import InvalidArgumentError

__all__ = [
    "SCORER_NAMES",
    "MagnitudeScorer",
    "MintScorer",
    "PairContext",
    "RandomScorer",
    "Scorer",
    "TaylorScorer",
    "WandaScorer",
    "get_scorer",
    "group_sums",
]

#: The built-in names accepted by :func:`get_scorer` (the ``"blocks"`` methods of
#: :mod:`mintlab.prune.methods`; a method registered there later is accepted too).
SCORER_NAMES = method_names("blocks")
#: Estimator options that change how fast scores come, not what they are (kept out of the cache key).
RUNTIME_OPTIONS = ("n_jobs", "device", "progress")


@dataclass
class PairContext:
    """Everything a scorer may use for one (parent, child) pair.

    Attributes:
        parent: ``(n, N_parent)`` parent activations (the child's input per parent unit).
        child: ``(n, N_child)`` child activations (the child's output per unit).
        weight: ``(N_child, N_parent)`` effective weight: a conv kernel (or the columns of a
            flattened map) summed over its spatial positions.
        raw_weight: ``(N_child, N_parent, k)`` the raw weights of each link (``k`` = ``kh·kw``
            for conv, ``h·w`` after a flatten, 1 for linear).
        parent_groups: ``(N_parent,)`` group label of each parent unit, ``0..G_parent-1``.
        child_groups: ``(N_child,)`` group label of each child unit, ``0..G_child-1``.
        seed: seed for this pair (already mixed with the pair's index by the pipeline).
        pair: (parent name, child name), for messages.
        grad: ``(N_child, N_parent, k)`` gradient of the mean cross-entropy over the sample with
            respect to ``raw_weight`` (same layout), filled by the pipeline only for scorers with
            ``needs_gradients``; ``None`` otherwise.
    """

    parent: np.ndarray = field(repr=False)
    child: np.ndarray = field(repr=False)
    weight: np.ndarray = field(repr=False)
    raw_weight: np.ndarray = field(repr=False)
    parent_groups: np.ndarray = field(repr=False)
    child_groups: np.ndarray = field(repr=False)
    seed: int = 0
    pair: tuple[str, str] = ("", "")
    grad: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_groups(self) -> tuple[int, int]:
        """``(G_child, G_parent)``."""
        return int(self.child_groups.max()) + 1, int(self.parent_groups.max()) + 1


def group_sums(values: np.ndarray, child_groups: np.ndarray, parent_groups: np.ndarray) -> np.ndarray:
    """Sum a ``(N_child, N_parent)`` matrix over group blocks → ``(G_child, G_parent)``.

    >>> group_sums(np.ones((4, 6)), np.array([0, 0, 1, 1]), np.array([0, 0, 0, 1, 1, 2]))
    array([[6., 4., 2.],
           [6., 4., 2.]])
    """
    values = np.asarray(values, dtype=np.float64)
    g_child, g_parent = int(child_groups.max()) + 1, int(parent_groups.max()) + 1
    rows = np.zeros((g_child, values.shape[1]))
    np.add.at(rows, child_groups, values)
    out = np.zeros((g_child, g_parent))
    np.add.at(out.T, parent_groups, rows.T)
    return out


class Scorer(ABC):
    """Scores the (child group, parent group) blocks of one layer pair; higher = keep.

    Subclasses set :attr:`name` and implement :meth:`__call__`; :meth:`config` must
    describe every option that changes the scores (it keys the score cache).
    """

    name: str = "scorer"
    #: False for scorers that read weights only (the pipeline then skips the forward pass).
    needs_activations: bool = True
    #: True when :meth:`score_columns` computes a block of parent groups apart, at a fraction of the
    #: cost (the pipeline then splits a pair into slices: resumable, and spread over Dask workers).
    sliceable: bool = False
    #: True for scorers that read ``PairContext.grad`` (the pipeline then runs a backward pass).
    needs_gradients: bool = False
    #: True for scorers that run the estimator's numba kernels (the pipeline says when it compiles them first).
    compiles_kernels: bool = False

    @abstractmethod
    def __call__(self, ctx: PairContext) -> np.ndarray:
        """Return the ``(G_child, G_parent)`` float64 score matrix of ``ctx``."""

    def score_columns(self, ctx: PairContext, start: int, stop: int) -> np.ndarray:
        """Columns ``start..stop-1`` (parent groups) of ``self(ctx)``, ``(G_child, stop - start)``.

        Must equal those columns of the whole matrix exactly; this default computes the whole matrix.
        """
        return np.asarray(self(ctx), dtype=np.float64)[:, start:stop]

    def config(self) -> dict[str, Any]:
        """The scorer's name and options, JSON-safe (part of the score cache key)."""
        return {"name": self.name}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({opts})"


class MintScorer(Scorer):
    """MINT: conditional GMI ``I(child group i; parent group j | other parents)``.

    Args:
        estimator: an estimator of :data:`mintlab.estimator.gmi.ESTIMATORS`; ``"paper"`` is the
            paper-faithful one.
        name: label recorded with the scores (``"mint"`` / ``"mint_paper"`` by
            :func:`get_scorer`); defaults to ``"mint_<estimator>"``.
        **options: passed on to :func:`mintlab.estimator.layer_pair.score_layer_pair`.

    Raises:
        ValueError: for ``device="cuda"`` (or ``"cuda:N"``) on a machine where CUDA is not available,
            here, before any work.
    """

    sliceable = True
    compiles_kernels = True

    def __init__(self, estimator: str = "paper", *, name: str | None = None, **options: Any) -> None:
        from mintlab.estimator.layer_pair import check_estimator_options

        check_estimator_options(estimator, **options)  # a typo fails here, before any cache or forward pass
        self.estimator = estimator
        self.options = dict(options)
        self.name = name if name is not None else f"mint_{estimator}"

    def config(self) -> dict[str, Any]:
        """Name, estimator and the options that change the scores (not ``n_jobs``/``device``/``progress``)."""
        opts = {k: v for k, v in self.options.items() if k not in RUNTIME_OPTIONS}
        return {"name": self.name, "estimator": self.estimator, **opts}

    def __call__(self, ctx: PairContext) -> np.ndarray:
        return self._score(ctx, None)

    def score_columns(self, ctx: PairContext, start: int, stop: int) -> np.ndarray:
        """Parent groups ``start..stop-1`` only (``score_layer_pair(..., columns=(start, stop))``)."""
        return self._score(ctx, (int(start), int(stop)))

    def _score(self, ctx: PairContext, columns: tuple[int, int] | None) -> np.ndarray:
        from mintlab.estimator.layer_pair import score_layer_pair

        return np.asarray(
            score_layer_pair(
                ctx.parent,
                ctx.child,
                ctx.parent_groups,
                ctx.child_groups,
                seed=ctx.seed,
                estimator=self.estimator,
                weight=ctx.weight,
                columns=columns,
                **self.options,
            ),
            dtype=np.float64,
        )


class MagnitudeScorer(Scorer):
    """Weight magnitude: mean ``|w|`` over all raw weights of a (child group, parent group) block.

    For a conv pair the block holds whole ``kh×kw`` kernels, so this is the group-wise form of
    the kernel-level L1 criterion (Han et al. 2015 / Li et al. 2017 at MINT's granularity).

    >>> ctx = PairContext(np.zeros((1, 2)), np.zeros((1, 2)), np.zeros((2, 2)),
    ...                   np.array([[[1.0], [-3.0]], [[0.5], [0.5]]]), np.array([0, 1]), np.array([0, 0]))
    >>> MagnitudeScorer()(ctx)
    array([[0.75, 1.75]])
    """

    name = "magnitude"
    needs_activations = False

    def __call__(self, ctx: PairContext) -> np.ndarray:
        raw = np.abs(np.asarray(ctx.raw_weight, dtype=np.float64))
        counts = group_sums(np.ones(raw.shape[:2]), ctx.child_groups, ctx.parent_groups)
        return group_sums(raw.mean(axis=2), ctx.child_groups, ctx.parent_groups) / counts


class RandomScorer(Scorer):
    """Uniform random scores in [0, 1), seeded by the pair's seed (same seed → same scores).

    >>> ctx = PairContext(np.zeros((1, 2)), np.zeros((1, 3)), np.zeros((3, 2)), np.zeros((3, 2, 1)),
    ...                   np.array([0, 1]), np.array([0, 1, 2]), seed=7)
    >>> RandomScorer()(ctx).shape
    (3, 2)
    """

    name = "random"
    needs_activations = False

    def __call__(self, ctx: PairContext) -> np.ndarray:
        return np.random.default_rng(ctx.seed).random(ctx.n_groups)


class WandaScorer(Scorer):
    """Activation-weighted magnitude (Wanda): mean over the block of ``|w_ij| · ‖x_j‖₂``.

    ``‖x_j‖₂`` is the L2 norm, over the ``n`` sampled images, of parent unit ``j``'s activation
    as the pipeline records it (the child's input; a conv channel's spatial mean per image),
    i.e. the same MINT sample. ``|w_ij|`` is the mean ``|w|`` over the link's ``k`` raw weights
    (the whole ``kh×kw`` kernel of a conv). The block score is the *mean* over its links, like
    :class:`MagnitudeScorer`, so that blocks of different sizes compare on one scale.

    Source: Sun, Liu, Bair & Kolter (2023), "A Simple and Effective Pruning Approach for Large
    Language Models", score ``S_ij = |W_ij| · ‖X_j‖₂``. Departures: Wanda compares weights
    within each output row and prunes single weights; here the score is averaged over MINT's
    group blocks (the granularity every method of the comparison shares), and for a conv the
    norm is that of the per-image channel mean (what the pipeline samples), not of every
    ``im2col`` position.

    >>> ctx = PairContext(np.array([[3.0, 0.0], [4.0, 1.0]]), np.zeros((2, 1)), np.zeros((1, 2)),
    ...                   np.array([[[2.0], [-1.0]]]), np.array([0, 0]), np.array([0]))
    >>> WandaScorer()(ctx)  # ((2·5) + (1·1)) / 2
    array([[5.5]])
    """

    name = "wanda"

    def __call__(self, ctx: PairContext) -> np.ndarray:
        parent = np.asarray(ctx.parent, dtype=np.float64)
        if parent.ndim != 2 or parent.shape[0] == 0:
            raise ValueError(
                f"Expected parent activations of pair {ctx.pair} as a non-empty (n, N_parent) array, "
                f"but got shape {parent.shape}"
            )
        norms = np.sqrt(np.sum(parent**2, axis=0))  # (N_parent,)
        links = np.abs(np.asarray(ctx.raw_weight, dtype=np.float64)).mean(axis=2) * norms[None, :]
        counts = group_sums(np.ones(links.shape), ctx.child_groups, ctx.parent_groups)
        return group_sums(links, ctx.child_groups, ctx.parent_groups) / counts


class TaylorScorer(Scorer):
    """First-order Taylor: ``Σ |w · ∂L/∂w|`` over all raw weights of a block.

    ``L`` is the mean cross-entropy over the sampled images (the same per-class sample MINT
    uses), evaluated in eval mode (BatchNorm running statistics, no dropout); the pipeline
    (:func:`mintlab.prune.scores.compute_scores`) fills :attr:`PairContext.grad`.
    ``|w · g|`` estimates the change of the loss when ``w`` is set to zero; the block's score is
    the *sum* over its weights (for a conv, all ``kh×kw`` weights of each kernel).

    Sources: Molchanov, Tyree, Karras, Aila & Kautz (2017), "Pruning Convolutional Neural
    Networks for Resource Efficient Inference" (first-order Taylor expansion of the loss);
    Molchanov, Mallya, Tyree, Frosio & Kautz (2019), "Importance Estimation for Neural Network
    Pruning" (the criterion on weights, ``(g·w)²`` per parameter, summed over a group); the
    absolute value summed over a group is Torch-Pruning's ``TaylorImportance``. Departure: the
    blocks are MINT's (child group × parent group) blocks, not filters.

    >>> ctx = PairContext(np.zeros((1, 2)), np.zeros((1, 1)), np.zeros((1, 2)),
    ...                   np.array([[[2.0], [-1.0]]]), np.array([0, 1]), np.array([0]),
    ...                   grad=np.array([[[0.5], [3.0]]]))
    >>> TaylorScorer()(ctx)
    array([[1., 3.]])
    """

    name = "taylor"
    needs_activations = False
    needs_gradients = True

    def config(self) -> dict[str, Any]:
        """Name, and that frozen layers get their true gradient (before, zeros: caches written then are not
        reused, see :func:`mintlab.prune.activations.collect_gradients`)."""
        return {"name": self.name, "frozen_layers": "true_gradient"}

    def __call__(self, ctx: PairContext) -> np.ndarray:
        if ctx.grad is None:
            raise ValueError(
                f"Expected `grad` in the PairContext of pair {ctx.pair} for the Taylor scorer "
                "(compute_scores fills it for scorers with needs_gradients), but got None"
            )
        raw = np.asarray(ctx.raw_weight, dtype=np.float64)
        grad = np.asarray(ctx.grad, dtype=np.float64)
        if grad.shape != raw.shape:
            raise ValueError(
                f"Expected `grad` of pair {ctx.pair} with the raw weights' shape {raw.shape}, but got {grad.shape}"
            )
        return group_sums(np.abs(raw * grad).sum(axis=2), ctx.child_groups, ctx.parent_groups)


def get_scorer(name: str, **options: Any) -> Scorer:
    """A scorer by name: ``"mint"``, ``"mint_paper"``, ``"magnitude"``, ``"random"``, ``"wanda"`` or ``"taylor"``.

    ``"mint"`` is MINT with :data:`mintlab.estimator.gmi.RECOMMENDED_ESTIMATOR` unless ``estimator=``
    names another of :data:`mintlab.estimator.gmi.ESTIMATORS` (the recorded config, and so the cache
    key, holds the estimator used); ``"mint_paper"`` is MINT as the paper computes it, so its estimator
    is ``"paper"`` and no other (``estimator="paper"`` is accepted). Other ``options`` go to the MINT
    estimator.

    >>> get_scorer("magnitude")
    MagnitudeScorer()
    >>> get_scorer("mint", estimator="scaled").config()
    {'name': 'mint', 'estimator': 'scaled'}

    Raises:
        InvalidArgumentError: an unknown name, options for a scorer that takes none, or an
            ``estimator`` other than ``"paper"`` for ``"mint_paper"``.
        ValueError: an unknown estimator or estimator option (from :class:`MintScorer`).
    """
    names = method_names("blocks")
    if not isinstance(name, str) or name not in names:
        raise InvalidArgumentError(f"Expected a scorer name in {names}, but got {name!r}")
    make = get_method(name).factory()
    if isinstance(make, type) and not options:
        return make()
    if isinstance(make, type) and make in (MagnitudeScorer, RandomScorer, WandaScorer, TaylorScorer):
        raise InvalidArgumentError(f"Expected no options for scorer {name!r}, but got {sorted(options)}")
    return make(**options)


def mint_scorer(**options: Any) -> MintScorer:
    """``"mint"``: MINT with :data:`mintlab.estimator.gmi.RECOMMENDED_ESTIMATOR` unless ``estimator=`` says."""
    from mintlab.estimator.gmi import RECOMMENDED_ESTIMATOR

    estimator = options.pop("estimator", RECOMMENDED_ESTIMATOR)
    return MintScorer(estimator, name="mint", **options)


def mint_paper_scorer(**options: Any) -> MintScorer:
    """``"mint_paper"``: MINT with the paper's estimator, and no other.

    Raises:
        InvalidArgumentError: an ``estimator`` other than ``"paper"``.
    """
    estimator = options.pop("estimator", "paper")
    if estimator != "paper":
        raise InvalidArgumentError(
            f"Expected no `estimator` for scorer 'mint_paper' (its estimator is 'paper'; use "
            f"get_scorer('mint', estimator=...) for another), but got {estimator!r}"
        )
    return MintScorer("paper", name="mint_paper", **options)
