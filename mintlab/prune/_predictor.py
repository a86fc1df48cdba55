"""Small MLP predictors trained in a batch of independent repeats, and the prediction-loss MI estimate.

This is MIPP's estimator (Westphal, Hailes & Musolesi, arXiv 2411.00147, v1 §4.2.2), which takes
the *predictive* approximation of Covert et al. 2020 (SAGE), as Gadgil et al. 2024 use it for
conditional MI: ``I(X; Y) ≈ E[l(f_∅, Y)] − E[l(f_X(X), Y)]`` with ``f_X`` a predictor trained on
``X`` and ``f_∅`` the best input-free predictor.

* :func:`fit_repeats` trains ``R`` one-hidden-layer ReLU MLPs at once (stacked weights, one
  ``torch.matmul`` per layer). Repeat ``r`` draws its initial weights and its mini-batch order from
  its own seed only and stops on its own held-out loss, so its result is a function of
  ``(data, seeds[r])`` alone: :func:`fit_repeat` is the same computation for one seed (the unit
  that a Dask client can map over; ``fit_repeats`` is the in-process batch of it).
* :func:`predictive_mi` and :func:`predictive_cmi` turn held-out losses into nats. Departure from
  the paper, which compares raw MSE losses (only differences matter for its test): to give a
  number in nats the MSE is read as a Gaussian log-loss, ``I ≈ ½ Σ_d log(Var(Y_d) / MSE_d)``
  (``covariance="diag"``) or ``½ (log det Σ_Y − log det Σ_residual)`` (``"full"``). For a
  linear-Gaussian model with a predictor that reaches the conditional mean both are exact
  (``"full"`` for any output dimension, ``"diag"`` for one); otherwise they are a
  Gaussian-channel approximation, and they can read slightly below zero from held-out noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "CONSTANT_STD",
    "FitResult",
    "PredictorConfig",
    "fit_repeat",
    "fit_repeats",
    "predictive_cmi",
    "predictive_mi",
    "standardize",
]

#: A column whose standard deviation (on the fit split) is below this is treated as constant.
CONSTANT_STD = 1e-8


@dataclass(frozen=True)
class PredictorConfig:
    """Settings of the small MLP predictors (note §3 defaults, scaled down for CPU; see :mod:`mintlab.prune.mipp`).

    Attributes:
        hidden: width of the one hidden ReLU layer.
        lr: Adam learning rate.
        batch_size: mini-batch size.
        max_epochs: epoch cap of a fit from scratch (the reference and ordering fits).
        refit_epochs: epoch cap of a warm-started refit after masking a unit (shorter, v1 §4.3).
        patience: early stopping: epochs without a held-out improvement before a repeat stops.
        holdout: share of the rows held out for early stopping and the loss read-out.
    """

    hidden: int = 32
    lr: float = 3e-3
    batch_size: int = 256
    max_epochs: int = 60
    refit_epochs: int = 10
    patience: int = 3
    holdout: float = 0.2

    def __post_init__(self) -> None:
        for name in ("hidden", "batch_size", "max_epochs", "refit_epochs", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Expected `{name}` as an int >= 1, but got {value!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"Expected `lr` as a number > 0, but got {self.lr!r}")
        if not (isinstance(self.holdout, (int, float)) and 0.0 < self.holdout < 1.0):
            raise ValueError(f"Expected `holdout` in (0, 1), but got {self.holdout!r}")


@dataclass
class FitResult:
    """Trained predictors of ``R`` repeats.

    Attributes:
        params: ``(W1 (R, d, h), b1 (R, 1, h), W2 (R, h, o), b2 (R, 1, o))`` float32 tensors, each
            repeat at its best held-out epoch.
        loss: ``(R,)`` held-out MSE per repeat, averaged over the ``o`` (standardised) target dims.
        loss_per_dim: ``(R, o)`` held-out MSE per repeat and target dim.
        epochs: ``(R,)`` epochs each repeat ran.
    """

    params: tuple[torch.Tensor, ...]
    loss: np.ndarray
    loss_per_dim: np.ndarray
    epochs: np.ndarray


def standardize(fit: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Centre and scale columns by the ``fit`` rows' mean and std (constant columns: scale 1 → zeros).

    >>> standardize(np.array([[1.0, 5.0], [3.0, 5.0]]))[0]
    array([[-1.,  0.],
           [ 1.,  0.]])
    """
    mean = fit.mean(axis=0)
    std = fit.std(axis=0)
    std = np.where(std < CONSTANT_STD, 1.0, std)
    return tuple((a - mean) / std for a in (fit, *others))


def _init(d: int, o: int, hidden: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(int(seed))
    b1, b2 = 1.0 / np.sqrt(d), 1.0 / np.sqrt(hidden)  # nn.Linear's default uniform bounds
    return [
        (torch.rand(d, hidden, generator=g) * 2 - 1) * b1,
        (torch.rand(1, hidden, generator=g) * 2 - 1) * b1,
        (torch.rand(hidden, o, generator=g) * 2 - 1) * b2,
        (torch.rand(1, o, generator=g) * 2 - 1) * b2,
    ]


def _forward(params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    w1, b1, w2, b2 = params
    return torch.relu(torch.matmul(x, w1) + b1).matmul(w2) + b2


def _grads(params: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """Gradients of each repeat's mean squared error (over its batch rows and target dims), by hand."""
    w1, b1, w2, _ = params
    a = torch.matmul(x, w1) + b1
    h = torch.relu(a)
    dout = (h.matmul(w2) + params[3] - y) * (2.0 / (y.shape[-2] * y.shape[-1]))
    dh = dout.matmul(w2.transpose(1, 2)) * (a > 0)
    xt = x.transpose(-1, -2) if x.dim() == 3 else x.T
    return [
        torch.matmul(xt, dh),
        dh.sum(dim=-2, keepdim=True),
        h.transpose(1, 2).matmul(dout),
        dout.sum(dim=-2, keepdim=True),
    ]


class _Adam:
    """Adam (Kingma & Ba 2015; torch's defaults β = (0.9, 0.999), ε = 1e-8) on plain tensors, in place.

    Element-wise, so stacked repeats do not interact. Written out to skip autograd and the optimizer
    machinery: per step they cost more than the arithmetic for these tiny predictors.
    """

    def __init__(self, params: list[torch.Tensor], lr: float) -> None:
        self.params, self.lr, self.t = params, lr, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    def step(self, grads: Sequence[torch.Tensor]) -> None:
        self.t += 1
        c1, c2 = 1 - 0.9**self.t, 1 - 0.999**self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m.mul_(0.9).add_(g, alpha=0.1)
            v.mul_(0.999).addcmul_(g, g, value=0.001)
            p.addcdiv_(m, (v / c2).sqrt_().add_(1e-8), value=-self.lr / c1)


def _take(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Rows ``idx (R, B)`` of a shared ``(n, d)`` or per-repeat ``(R, n, d)`` input → ``(R, B, d)``."""
    if x.dim() == 2:
        return x[idx]
    return x[torch.arange(x.shape[0])[:, None], idx]


def fit_repeats(
    x_fit: np.ndarray | torch.Tensor,
    y_fit: np.ndarray | torch.Tensor,
    x_held: np.ndarray | torch.Tensor,
    y_held: np.ndarray | torch.Tensor,
    seeds: Sequence[int],
    *,
    config: PredictorConfig | None = None,
    init: Sequence[torch.Tensor] | None = None,
    column_mask: np.ndarray | torch.Tensor | None = None,
    epochs: int | None = None,
) -> FitResult:
    """Train ``R = len(seeds)`` MLPs ``x → y`` with MSE and Adam, each with its own early stopping.

    Args:
        x_fit: ``(n_fit, d)`` inputs shared by all repeats, or ``(R, n_fit, d)`` one input per repeat.
        y_fit: ``(n_fit, o)`` targets (standardised by the caller).
        x_held, y_held: the held-out rows, same layout.
        seeds: one seed per repeat: its initial weights (when ``init`` is None) and its batch order.
        config: predictor settings (default :class:`PredictorConfig`).
        init: warm start, parameters as in :attr:`FitResult.params` (copied, not modified).
        column_mask: ``(d,)`` 0/1 input mask applied to every repeat (a masked unit reads zero).
        epochs: epoch cap (default ``config.max_epochs``, or ``config.refit_epochs`` with ``init``).

    Returns:
        :class:`FitResult`; repeat ``r`` depends on ``(data, seeds[r], init[r])`` only.
    """
    cfg = config or PredictorConfig()

    def as_t(a: np.ndarray | torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a) if not torch.is_tensor(a) else a, dtype=torch.float32)

    xf, yf, xh, yh = as_t(x_fit), as_t(y_fit), as_t(x_held), as_t(y_held)
    if column_mask is not None:
        m = as_t(column_mask)
        xf, xh = xf * m, xh * m
    n_rep, n_fit, d, o = len(seeds), xf.shape[-2], xf.shape[-1], yf.shape[-1]
    if init is None:
        per = [_init(d, o, cfg.hidden, s) for s in seeds]
        params = [torch.stack([p[k] for p in per]) for k in range(4)]
    else:
        params = [p.detach().clone() for p in init]
    n_epochs = epochs if epochs is not None else (cfg.refit_epochs if init is not None else cfg.max_epochs)
    adam = _Adam(params, cfg.lr)
    rngs = [np.random.default_rng([int(s), 7]) for s in seeds]
    best_loss = torch.full((n_rep,), float("inf"))
    best_dim = torch.zeros(n_rep, o)
    best = [p.clone() for p in params]
    stall = torch.zeros(n_rep, dtype=torch.long)
    done = torch.zeros(n_rep, dtype=torch.bool)
    ran = torch.zeros(n_rep, dtype=torch.long)

    def held_losses() -> torch.Tensor:
        return ((_forward(params, xh) - yh) ** 2).mean(dim=-2)  # (R, o)

    per_dim = held_losses()  # the starting point counts (a warm start may already be best)
    for _epoch in range(n_epochs + 1):
        loss = per_dim.mean(dim=1)
        improved = (loss < best_loss - 1e-7) & ~done
        best_loss = torch.where(improved, loss, best_loss)
        best_dim[improved] = per_dim[improved]
        for b, p in zip(best, params, strict=True):
            b[improved] = p[improved]
        stall = torch.where(improved, torch.zeros_like(stall), stall + 1)
        done |= stall > cfg.patience
        if bool(done.all()) or _epoch == n_epochs:
            break
        ran += (~done).long()
        perms = np.stack([r.permutation(n_fit) for r in rngs])
        for start in range(0, n_fit, cfg.batch_size):
            idx = torch.from_numpy(perms[:, start : start + cfg.batch_size])
            adam.step(_grads(params, _take(xf, idx), yf[idx]))
        per_dim = held_losses()
    return FitResult(
        tuple(best), best_loss.numpy().astype(np.float64), best_dim.numpy().astype(np.float64), ran.numpy()
    )


def fit_repeat(x_fit, y_fit, x_held, y_held, seed: int, **kwargs) -> FitResult:
    """One repeat of :func:`fit_repeats` (same arguments, one ``seed``): the pure per-repeat task for Dask."""
    return fit_repeats(x_fit, y_fit, x_held, y_held, [int(seed)], **kwargs)


def _as_2d(a: np.ndarray | Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] < 10:
        raise ValueError(f"Expected `{name}` as (n,) or (n, d) with n >= 10 rows, but got shape {np.shape(a)}")
    if not np.isfinite(arr).all():
        raise ValueError(f"Expected `{name}` to be finite, but it holds NaN or inf")
    return arr


def _split(n: int, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng([int(seed), 11]).permutation(n)
    n_held = max(1, int(round(holdout * n)))
    return perm[n_held:], perm[:n_held]


def _nats(y_held: np.ndarray, per_dim: np.ndarray, residual_cov: np.ndarray | None, covariance: str) -> float:
    """Gaussian-log-loss reading of a held-out fit: ``½ Σ log(Var/MSE)`` or ``½ (logdet Σ_Y − logdet Σ_res)``."""
    var = (y_held**2).mean(axis=0)  # f_∅ = the fit-split mean (0 after standardising)
    if covariance == "diag":
        return float(0.5 * np.sum(np.log(var / np.maximum(per_dim, 1e-12))))
    cov_y = y_held.T @ y_held / len(y_held)
    return float(0.5 * (np.linalg.slogdet(cov_y)[1] - np.linalg.slogdet(residual_cov)[1]))


def predictive_mi(
    x: np.ndarray,
    y: np.ndarray,
    *,
    seed: int = 0,
    repeats: int = 1,
    covariance: str = "diag",
    config: PredictorConfig | None = None,
) -> float:
    """Prediction-loss estimate of ``I(X; Y)`` in nats (MIPP's estimator, Covert et al. 2020).

    Rows are split (seeded) into fit / held-out parts (``config.holdout``); columns are
    standardised with fit statistics; an MLP ``x → y`` is trained with MSE; the held-out MSE
    of the input-free predictor (the mean) and of the MLP are read as Gaussian log-losses
    (module docstring). The mean over ``repeats`` seeds is returned.

    Args:
        x: ``(n,)`` or ``(n, d_x)`` samples of X.
        y: ``(n,)`` or ``(n, d_y)`` samples of Y (row-aligned with ``x``).
        seed: seed of the split and of the repeats (same seed → same value).
        repeats: number of independently initialised predictors averaged.
        covariance: ``"diag"`` (sum over target dims) or ``"full"`` (log-determinants; exact for
            linear-Gaussian data in any dimension).
        config: predictor settings.

    Returns:
        The estimate in nats (can be slightly negative when the true value is ≈ 0).

    Raises:
        ValueError: shapes disagree, fewer than 10 rows, non-finite values, constant ``y``,
            ``repeats < 1`` or an unknown ``covariance``.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=2000); y = x + rng.normal(size=2000)
    >>> round(predictive_mi(x, y), 1)  # closed form: ½ log 2 = 0.347
    0.3
    """
    xa, ya = _as_2d(x, "x"), _as_2d(y, "y")
    if xa.shape[0] != ya.shape[0]:
        raise ValueError(f"Expected `x` and `y` with the same rows, but got {xa.shape[0]} and {ya.shape[0]}")
    if covariance not in ("diag", "full"):
        raise ValueError(f"Expected `covariance` in ('diag', 'full'), but got {covariance!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise ValueError(f"Expected `repeats` as an int >= 1, but got {repeats!r}")
    cfg = config or PredictorConfig()
    fit, held = _split(len(xa), cfg.holdout, seed)
    if (ya[fit].std(axis=0) < CONSTANT_STD).any():
        raise ValueError("Expected `y` without constant columns (its MI with anything is 0 by definition)")
    xf, xh = standardize(xa[fit], xa[held])
    yf, yh = standardize(ya[fit], ya[held])
    seeds = [int(np.random.SeedSequence([int(seed), r]).generate_state(1)[0]) for r in range(repeats)]
    res = fit_repeats(xf, yf, xh, yh, seeds, config=cfg)
    values = []
    for r in range(repeats):
        resid = None
        if covariance == "full":
            with torch.no_grad():
                pred = _forward([p[r] for p in res.params], torch.as_tensor(xh, dtype=torch.float32)).double().numpy()
            e = yh - pred
            resid = e.T @ e / len(e)
        values.append(_nats(yh, res.loss_per_dim[r], resid, covariance))
    return float(np.mean(values))


def predictive_cmi(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    *,
    seed: int = 0,
    repeats: int = 1,
    covariance: str = "diag",
    config: PredictorConfig | None = None,
) -> float:
    """Prediction-loss estimate of ``I(X; Y | Z) = I(X, Z; Y) − I(Z; Y)`` in nats (chain rule).

    Both terms use the same split and seeds (:func:`predictive_mi`), so their noise is paired.
    This is the quantity MIPP's per-unit test compares (TERC: ``I(X_i; Y | S \\ {i})``).

    Args:
        x: ``(n,)`` or ``(n, d_x)``; y: ``(n,)`` or ``(n, d_y)``; z: ``(n,)`` or ``(n, d_z)``.
        seed, repeats, covariance, config: as :func:`predictive_mi`.

    Returns:
        The estimate in nats; ≈ 0 when X ⟂ Y | Z.
    """
    xa, za = _as_2d(x, "x"), _as_2d(z, "z")
    if xa.shape[0] != za.shape[0]:
        raise ValueError(f"Expected `x` and `z` with the same rows, but got {xa.shape[0]} and {za.shape[0]}")
    kw = {"seed": seed, "repeats": repeats, "covariance": covariance, "config": config}
    return predictive_mi(np.hstack([xa, za]), y, **kw) - predictive_mi(za, y, **kw)
