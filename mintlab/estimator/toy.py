"""Toy data with known geometric mutual information, for notebook 1 and for sanity checks.

For a bivariate normal with correlation ``rho`` the GMI of the paper (Eq. 2),
``I = 1 - 2 ∬ f_XY f_X f_Y / (f_XY + f_X f_Y)``, has no closed form but is a 2-D integral that
:func:`gaussian_gmi` evaluates numerically. For jointly Gaussian ``(x, y, z)`` the conditional law of
``(x, y)`` given ``z`` is the same bivariate normal for every ``z`` (correlation = the partial
correlation), so the conditional GMI equals :func:`gaussian_gmi` at the partial correlation.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from scipy import integrate

__all__ = [
    "SCENARIOS",
    "conditional_gmi_vs_rho",
    "gaussian_gmi",
    "gaussian_pair",
    "gaussian_triplet",
    "gmi_vs_n",
    "gmi_vs_rho",
    "planted_block_mlp",
    "scenario",
    "scenario_estimates",
]

SCENARIOS = ("independent", "dependent", "conditionally_independent")


def _check_rho(rho: float) -> float:
    rho = float(rho)
    if not -1.0 < rho < 1.0:
        raise ValueError(f"Expected a correlation `rho` in (-1, 1), but got {rho}")
    return rho


@lru_cache(maxsize=256)
def gaussian_gmi(rho: float) -> float:
    """True GMI of a standard bivariate normal with correlation ``rho``, by numerical integration.

    In rotated coordinates ``u = (x+y)/√2``, ``v = (x−y)/√2`` the joint density is
    ``N(u; 0, 1+rho) N(v; 0, 1−rho)`` and the product of marginals is ``N(u; 0, 1) N(v; 0, 1)``;
    the integrand ``f g / (f + g)`` is integrated adaptively over that plane.

    >>> round(gaussian_gmi(0.0), 6)
    0.0
    >>> 0.0 < gaussian_gmi(0.5) < gaussian_gmi(0.9) < 1.0
    True
    """
    rho = _check_rho(rho)
    if rho == 0.0:
        return 0.0
    su, sv = np.sqrt(1.0 + rho), np.sqrt(1.0 - rho)

    def log_normal(t: float, s: float) -> float:
        return -0.5 * (t / s) ** 2 - np.log(s * np.sqrt(2.0 * np.pi))

    def integrand(v: float, u: float) -> float:
        lf = log_normal(u, su) + log_normal(v, sv)
        lg = log_normal(u, 1.0) + log_normal(v, 1.0)
        # f g / (f + g) = exp(lf + lg - logaddexp(lf, lg)), stable for peaked f
        return float(np.exp(lf + lg - np.logaddexp(lf, lg)))

    vmax = 12.0  # both densities are < 1e-30 beyond 12 standard units of the wider one
    with warnings.catch_warnings():  # quadpack warns near rho → ±1 although the value is accurate
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        value, _ = integrate.dblquad(integrand, -vmax * su, vmax * su, -vmax, vmax, epsabs=1e-11, epsrel=1e-9)
    return float(1.0 - 2.0 * value)


def gaussian_pair(n: int, rho: float, *, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` draws of a standard bivariate normal with correlation ``rho`` as two ``(n, 1)`` arrays.

    >>> x, y = gaussian_pair(5, 0.3, seed=0)
    >>> x.shape, y.shape
    ((5, 1), (5, 1))
    """
    if int(n) < 1:
        raise ValueError(f"Expected `n` >= 1, but got {n}")
    rho = _check_rho(rho)
    rng = np.random.default_rng(seed)
    cov = np.array([[1.0, rho], [rho, 1.0]])
    xy = rng.multivariate_normal(np.zeros(2), cov, size=int(n))
    return xy[:, :1], xy[:, 1:]


def gaussian_triplet(
    n: int, partial_rho: float, *, dz: int = 1, z_strength: float = 1.0, seed: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Jointly Gaussian ``(x, y, z)`` whose partial correlation of x and y given z is ``partial_rho``.

    ``z ~ N(0, I_dz)``; ``x = z_strength · mean(z) + e_x`` and ``y = z_strength · mean(z) + e_y`` with
    ``(e_x, e_y)`` standard bivariate normal of correlation ``partial_rho``. With ``partial_rho = 0`` x and
    y are dependent through z but conditionally independent given it.
    """
    if int(dz) < 1:
        raise ValueError(f"Expected `dz` >= 1, but got {dz}")
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((int(n), int(dz)))
    ex, ey = gaussian_pair(n, partial_rho, seed=int(rng.integers(2**31)))
    drive = z_strength * z.mean(axis=1, keepdims=True) * np.sqrt(dz)
    return drive + ex, drive + ey, z


def scenario(
    name: str, n: int, *, dx: int = 1, dy: int = 1, dz: int = 1, noise: float = 0.1, seed: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Samples ``(x, y, z)`` of one of three textbook cases, with ReLU-free Gaussian inputs.

    - ``"independent"``: x, y, z mutually independent → I(X;Y|Z) = 0.
    - ``"dependent"``: x is a near-deterministic function of y (plus ``noise``), z independent → large.
    - ``"conditionally_independent"``: x and y are both noisy functions of z only → I(X;Y|Z) = 0
      although I(X;Y) > 0 (the case the reference implementation gets wrong).
    """
    if name not in SCENARIOS:
        raise ValueError(f"Expected `name` in {SCENARIOS}, but got {name!r}")
    rng = np.random.default_rng(seed)
    n = int(n)
    z = rng.standard_normal((n, dz))
    y = rng.standard_normal((n, dy))
    if name == "independent":
        x = rng.standard_normal((n, dx))
    elif name == "dependent":
        mix = rng.standard_normal((dy, dx))
        x = np.tanh(y @ mix) + noise * rng.standard_normal((n, dx))
    else:
        zx, zy = rng.standard_normal((dz, dx)), rng.standard_normal((dz, dy))
        s = 1.0 / np.sqrt(dz)
        x = np.tanh(s * z @ zx) + noise * rng.standard_normal((n, dx))
        y = np.tanh(s * z @ zy) + noise * rng.standard_normal((n, dy))
    return x, y, z


def _estimate(x: np.ndarray, y: np.ndarray, z: np.ndarray | None, seed: int, estimator: str) -> float:
    from mintlab.estimator import gmi as gmi_mod

    if z is None:
        return gmi_mod.gmi(x, y, seed=seed)
    weight = None
    if estimator == "projected":
        # In a network Z is projected through the layer's own weights; toy data has none, so the
        # least-squares linear map from z to x stands in for them.
        weight = np.linalg.lstsq(z - z.mean(0), x - x.mean(0), rcond=None)[0].T
    return gmi_mod.conditional_gmi(x, y, z, seed=seed, estimator=estimator, weight=weight)


def _curve(key: str, points: Sequence[float], truth, sample, *, repeats: int, seed: int, estimator: str) -> dict:
    """Mean and std over ``repeats`` estimates at each point; ``sample(point, seed)`` draws the data."""
    out: dict[str, list[float]] = {key: [], "truth": [], "mean": [], "std": []}
    for k, point in enumerate(points):
        est = []
        for r in range(repeats):
            data = sample(point, seed + 1000 * k + r)
            est.append(
                _estimate(*data, None, seed + r, estimator) if len(data) == 2 else _estimate(*data, seed + r, estimator)
            )
        out[key].append(point)
        out["truth"].append(truth(point))
        out["mean"].append(float(np.mean(est)))
        out["std"].append(float(np.std(est)))
    return out


def gmi_vs_rho(rhos: Sequence[float], n: int, *, repeats: int = 3, seed: int = 0) -> dict[str, list[float]]:
    """Unconditional GMI estimates against the truth over correlations (mean and std of ``repeats``).

    Returns ``{"rho", "truth", "mean", "std"}`` lists, one entry per ``rho``.
    """
    return _curve(
        "rho",
        [float(r) for r in rhos],
        gaussian_gmi,
        lambda rho, s: gaussian_pair(n, rho, seed=s),
        repeats=repeats,
        seed=seed,
        estimator="paper",
    )


def conditional_gmi_vs_rho(
    rhos: Sequence[float], n: int, *, dz: int = 1, repeats: int = 3, seed: int = 0, estimator: str = "paper"
) -> dict[str, list[float]]:
    """Conditional GMI estimates on Gaussian triplets against the truth (GMI at the partial correlation)."""
    return _curve(
        "rho",
        [float(r) for r in rhos],
        gaussian_gmi,
        lambda rho, s: gaussian_triplet(n, rho, dz=dz, seed=s),
        repeats=repeats,
        seed=seed,
        estimator=estimator,
    )


def scenario_estimates(
    n: int,
    *,
    dz_values: Sequence[int] = (1,),
    estimators: Sequence[str] = ("paper",),
    dx: int = 3,
    dy: int = 2,
    repeats: int = 3,
    seed: int = 0,
) -> list[dict[str, float | int | str]]:
    """Conditional GMI of the three :data:`SCENARIOS` for each conditioning dimension and estimator.

    The point of the table: with the paper's estimator the "dependent" case collapses towards 0 as the
    dimension of Z grows (Z swamps every distance), which is what happens inside a wide layer.
    """
    rows: list[dict[str, float | int | str]] = []
    for dz in dz_values:
        for name in SCENARIOS:
            for estimator in estimators:
                est = [
                    _estimate(*scenario(name, n, dx=dx, dy=dy, dz=dz, seed=seed + r), seed + r, estimator)
                    for r in range(repeats)
                ]
                rows.append(
                    {
                        "dz": int(dz),
                        "scenario": name,
                        "estimator": estimator,
                        "mean": float(np.mean(est)),
                        "std": float(np.std(est)),
                    }
                )
    return rows


def gmi_vs_n(ns: Sequence[int], rho: float, *, repeats: int = 3, seed: int = 0) -> dict[str, list[float]]:
    """Unconditional GMI estimates over sample sizes at one correlation (the spread shrinks with n)."""
    return _curve(
        "n",
        [int(v) for v in ns],
        lambda _n: gaussian_gmi(rho),
        lambda size, s: gaussian_pair(size, rho, seed=s),
        repeats=repeats,
        seed=seed,
        estimator="paper",
    )


def planted_block_mlp(
    parent_groups: int, child_groups: int, *, n: int = 1500, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A 20-32-16-4 MLP trained on a random teacher with a random half of its fc2 blocks held at 0.

    Known structure for a scorer to find: returns ``(weight, parent, child, live)`` — fc2's weight
    ``(16, 32)``, its input (post-ReLU) and output activations on ``n`` rows, and the boolean
    ``(child_groups, parent_groups)`` matrix of blocks left alive.
    """
    import torch

    from mintlab.estimator.layer_pair import group_labels

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 20, generator=g)
    y = (x @ torch.randn(20, 4, generator=g) + 0.3 * torch.randn(n, 4, generator=g)).argmax(1)
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(20, 32), torch.nn.ReLU(), torch.nn.Linear(32, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4)
    )
    live = (torch.rand(child_groups, parent_groups, generator=g) < 0.5).numpy()
    mask = torch.as_tensor(
        live[group_labels(16, child_groups)][:, group_labels(32, parent_groups)], dtype=torch.float32
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(150):
        with torch.no_grad():
            net[2].weight.mul_(mask)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    with torch.no_grad():
        net[2].weight.mul_(mask)
        parent = net[1](net[0](x))
        child = net[2](parent)
    return net[2].weight.detach().double().numpy(), parent.double().numpy(), child.double().numpy(), live
