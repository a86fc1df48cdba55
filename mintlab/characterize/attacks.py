"""Adversarial robustness: I-FGSM (untargeted) and Iter-LL (least-likely class) accuracy over ε.

Both attacks are torchattacks' ``BIM`` (Kurakin, Goodfellow & Bengio 2016, "Adversarial examples in
the physical world"); Iter-LL is ``BIM`` with ``set_mode_targeted_least_likely(kth_min=1)``. The
attacks see images in [0, 1]; the model's normalisation is a ``Normalize`` layer put in front of the
model (torchattacks' own ``set_normalization_used`` is *not* used, so it is applied exactly once).
ε, α are in [0, 1] pixel units (ε = 8/255 is "8 grey levels").
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchattacks
from torch import nn
from tqdm.auto import tqdm

from mintlab.characterize._common import (
    Normalization,
    batches,
    check_images,
    check_labels,
    check_model,
    finished_figure,
    new_figure,
    prepared,
)
from mintlab.utils.checks import InvalidArgumentError, check_int, check_seed

__all__ = [
    "ATTACKS",
    "ATTACK_LABELS",
    "DEFAULT_EPSILONS",
    "kurakin_schedule",
    "adversarial_examples",
    "attack_accuracy",
    "compare_attacks",
    "plot_attack_curves",
]

#: Attack names understood by :func:`attack_accuracy`.
ATTACKS: tuple[str, ...] = ("ifgsm", "iterll")
#: Names used in tables and plots.
ATTACK_LABELS: dict[str, str] = {"ifgsm": "I-FGSM", "iterll": "Iter-LL"}
#: ε grid (l∞, [0, 1] units) used when none is given: 0 (clean) then 1, 2, 4, 8, 16 grey levels.
DEFAULT_EPSILONS: tuple[float, ...] = (0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255, 16 / 255)


def kurakin_schedule(epsilon: float, *, steps: int | None = None, alpha: float | None = None) -> tuple[int, float]:
    """Steps and step size of BIM at ``epsilon``: Kurakin et al.'s defaults where not given.

    Defaults: ``alpha = 1/255`` and ``steps = min(ε·255 + 4, 1.25·ε·255)`` rounded down (as
    torchattacks does), but at least 1 — torchattacks would give 0 steps for ε < 0.8/255.
    ε = 0 means no attack (the clean images): 0 steps.

    >>> kurakin_schedule(8 / 255)
    (10, 0.00392156862745098)
    >>> kurakin_schedule(32 / 255)[0], kurakin_schedule(0.0)[0]
    (36, 0)
    """
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not 0 <= epsilon <= 1:
        raise ValueError(f"Expected `epsilon` in [0, 1] (l∞ on images in [0, 1]), but got {epsilon!r}")
    if alpha is None:
        alpha = 1 / 255
    elif isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not alpha > 0:
        raise ValueError(f"Expected `alpha` > 0 or None, but got {alpha!r}")
    if epsilon == 0:
        steps = 0
    elif steps is None:
        grey = epsilon * 255
        steps = max(1, int(min(grey + 4, 1.25 * grey) + 1e-9))  # 1e-9: 4/255*255 is 3.999...
    else:
        steps = check_int(steps, "steps", minimum=1)
    return steps, float(alpha)


def _build_attack(wrapped: nn.Module, attack: str, epsilon: float, steps: int, alpha: float) -> torchattacks.BIM:
    atk = torchattacks.BIM(wrapped, eps=epsilon, alpha=alpha, steps=steps)
    if attack == "iterll":
        # torchattacks picks the least-likely class among the classes *other than the given label*
        # (Kurakin et al. take the argmin over all classes; the two differ only when the true class
        # is itself the least likely one).
        atk.set_mode_targeted_least_likely(kth_min=1, quiet=True)
    return atk


def _check_attack(attack: Any) -> str:
    if attack not in ATTACKS:
        raise ValueError(f"Expected `attack` in {ATTACKS}, but got {attack!r}")
    return attack


def _check_epsilons(epsilons: Any) -> list[float]:
    if isinstance(epsilons, numbers.Real):
        epsilons = [epsilons]
    if isinstance(epsilons, (str, bytes)) or not all(
        isinstance(e, numbers.Real) and not isinstance(e, bool) for e in epsilons
    ):
        raise ValueError(f"Expected `epsilons` as a non-empty list of numbers in [0, 1], but got {epsilons!r}")
    values = [float(e) for e in epsilons]
    if not values or any(not 0 <= e <= 1 for e in values):
        raise ValueError(f"Expected `epsilons` as a non-empty list of values in [0, 1], but got {epsilons!r}")
    return values


def adversarial_examples(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    epsilon: float,
    attack: str = "ifgsm",
    steps: int | None = None,
    alpha: float | None = None,
    normalization: Normalization | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Adversarial images (CPU, in [0, 1], ‖x_adv − x‖∞ ≤ ε) and, for Iter-LL, the target classes.

    The model is put in eval mode for the attack and left exactly as found afterwards. Labels must be in
    ``[0, C)``; a model that outputs probabilities is attacked through ``log p`` (same cross-entropy), see
    :mod:`mintlab.characterize._common`.

    Raises:
        InvalidArgumentError: labels outside ``[0, C)``, images outside [0, 1], bad ε or schedule.

    Returns:
        ``(adv_images, targets)``; ``targets`` is None for I-FGSM.
    """
    check_model(model)
    attack = _check_attack(attack)
    images = check_images(images)
    labels = check_labels(labels, len(images))
    steps, alpha = kurakin_schedule(epsilon, steps=steps, alpha=alpha)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    with prepared(model, normalization, device, probe=images, labels=labels) as (wrapped, dev):
        adv, targets, _ = _run_attack(wrapped, dev, images, labels, epsilon, attack, steps, alpha, batch_size)
    return adv, targets


def _run_attack(wrapped, dev, images, labels, epsilon, attack, steps, alpha, batch_size, bar=None):
    """(adv images, Iter-LL targets or None, predictions on adv), batched; ``wrapped`` already in eval mode."""
    adv_parts, target_parts, pred_parts = [], [], []
    atk = _build_attack(wrapped, attack, epsilon, steps, alpha)
    atk.set_device(dev)
    for part in batches(len(images), batch_size):
        x, y = images[part].to(dev), labels[part].to(dev)
        if attack == "iterll":
            target_parts.append(atk.get_target_label(x, y).cpu())
        adv = x if epsilon == 0 else atk(x, y).detach()
        with torch.no_grad():
            pred_parts.append(wrapped(adv).argmax(1).cpu())
        adv_parts.append(adv.cpu())
        if bar is not None:
            bar.update(1)
    targets = torch.cat(target_parts) if target_parts else None
    return torch.cat(adv_parts), targets, torch.cat(pred_parts)


def attack_accuracy(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    epsilons: Sequence[float] = DEFAULT_EPSILONS,
    attack: str = "ifgsm",
    steps: int | None = None,
    alpha: float | None = None,
    normalization: Normalization | None = None,
    batch_size: int = 256,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Accuracy (%) of ``model`` under ``attack`` at each ε, on the same examples (ε = 0: clean).

    Two curves are returned. ``accuracy`` is the paper's: each ε attacked on its own with the Kurakin
    schedule (more steps at larger ε), which is *not* guaranteed monotone in ε per example.
    ``robust_accuracy`` counts an example as broken at ε if any attack at ε' ≤ ε broke it (an
    ε'-perturbation is also an ε-perturbation), so it never rises with ε — mintlab's addition.
    For Iter-LL, ``target_hit`` is the % of examples predicted as their least-likely target; the
    target is the least likely class on the clean image *among the classes other than the true one*
    (torchattacks' rule; Kurakin et al. take the argmin over all classes — they differ only when the
    true class is itself the least likely). Accuracy is always against the true labels.

    Args:
        model: takes *normalised* inputs; wrapped with ``normalization`` so the attack sees [0, 1]. It may
            output logits or probabilities (detected; attacked through ``log p``, the same cross-entropy).
        images: (N, C, H, W) in [0, 1]; labels: (N,) true classes in ``[0, C)`` (checked before torchattacks
            is called).
        epsilons: l∞ budgets in [0, 1] units.
        attack: ``"ifgsm"`` (untargeted) or ``"iterll"`` (targeted at the least-likely class).
        steps, alpha: BIM schedule; None → Kurakin defaults (:func:`kurakin_schedule`).
        seed: seeds torch's RNG inside a forked RNG state (BIM is deterministic; kept for the contract).

    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    >>> with torch.no_grad():
    ...     _ = model[1].weight.copy_(torch.tensor([[1.0] * 4, [0.0] * 4]))
    ...     _ = model[1].bias.copy_(torch.tensor([-0.5, 0.0]))
    >>> images, labels = torch.full((3, 1, 2, 2), 0.25), torch.zeros(3, dtype=torch.long)
    >>> attack_accuracy(model, images, labels, epsilons=[0, 0.1, 0.2], progress=False)["accuracy"]
    [100.0, 100.0, 0.0]
    """
    check_model(model)
    attack = _check_attack(attack)
    values = _check_epsilons(epsilons)
    images = check_images(images)
    labels = check_labels(labels, len(images))
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    seed = check_seed(seed)
    schedules = [kurakin_schedule(e, steps=steps, alpha=alpha) for e in values]
    order = np.argsort(values, kind="stable")  # robust accuracy accumulates over increasing ε
    still_correct = torch.ones(len(images), dtype=torch.bool)
    accuracy, robust, hits = [0.0] * len(values), [0.0] * len(values), [0.0] * len(values)
    n_batches = len(batches(len(images), batch_size))
    bar = tqdm(total=len(values) * n_batches, desc=f"{ATTACK_LABELS[attack]} (batches × ε)", disable=not progress,
               leave=False)  # fmt: skip
    with (
        torch.random.fork_rng(devices=[]),
        prepared(model, normalization, device, probe=images, labels=labels) as (wrapped, dev),
    ):
        torch.manual_seed(seed)
        for i in order:
            n_steps, step = schedules[i]
            _, targets, pred = _run_attack(wrapped, dev, images, labels, values[i], attack, n_steps, step,
                                           batch_size, bar)  # fmt: skip
            correct = pred == labels
            still_correct &= correct
            accuracy[i] = 100.0 * float(correct.double().mean())
            robust[i] = 100.0 * float(still_correct.double().mean())
            if targets is not None:
                hits[i] = 100.0 * float((pred == targets).double().mean())
    bar.close()
    result = {
        "attack": attack,
        "epsilons": values,
        "accuracy": accuracy,
        "robust_accuracy": robust,
        "steps": [s for s, _ in schedules],
        "alpha": [a for _, a in schedules],
        "n_examples": len(images),
    }
    if attack == "iterll":
        result["target_hit"] = hits
    return result


def compare_attacks(
    original: nn.Module,
    pruned: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    attacks: Iterable[str] = ATTACKS,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """Table rows ``{attack, epsilon, steps, alpha, acc_original, acc_pruned, robust_acc_*}``, one per attack
    in ``attacks`` and ε.

    Both models are attacked on the *same* examples with the same schedule (each model gets its own
    adversarial examples: white-box attacks on each). The other keywords (``epsilons``, ``steps``, ``alpha``,
    ``normalization``, ``batch_size``, ``seed``, ``device``, ``progress``) as in :func:`attack_accuracy`.

    Raises:
        ValueError: an unknown attack name; ``InvalidArgumentError``/``ValueError`` as
            :func:`attack_accuracy` raises them.
    """
    if "attack" in kwargs:
        raise InvalidArgumentError("Expected `attacks` (a sequence of names), but got `attack`")
    attacks = [_check_attack(a) for a in attacks]
    rows: list[dict[str, Any]] = []
    for attack in attacks:
        res = {"original": attack_accuracy(original, images, labels, attack=attack, **kwargs),
               "pruned": attack_accuracy(pruned, images, labels, attack=attack, **kwargs)}  # fmt: skip
        for i, eps in enumerate(res["original"]["epsilons"]):
            row = {"attack": attack, "epsilon": eps, "steps": res["original"]["steps"][i],
                   "alpha": res["original"]["alpha"][i]}  # fmt: skip
            for name in ("original", "pruned"):
                row[f"acc_{name}"] = res[name]["accuracy"][i]
                row[f"robust_acc_{name}"] = res[name]["robust_accuracy"][i]
                if "target_hit" in res[name]:
                    row[f"target_hit_{name}"] = res[name]["target_hit"][i]
            rows.append(row)
    return rows


def plot_attack_curves(
    rows: Sequence[Mapping[str, Any]], *, robust: bool = False, path: str | Path | None = None
) -> Any:
    """Accuracy vs ε (×255), one panel per attack, original vs pruned — like the paper's Fig. 6.

    Args:
        rows: output of :func:`compare_attacks` (or the same rows read back from JSON).
        robust: plot ``robust_acc_*`` (monotone by construction) instead of per-ε ``acc_*``.
        path: save the figure there as PNG (atomically) when given.

    Returns:
        The matplotlib Figure.
    """
    if not rows:
        raise ValueError("Expected at least one row from compare_attacks, but got none")
    prefix = "robust_acc" if robust else "acc"
    attacks = list(dict.fromkeys(r["attack"] for r in rows))
    fig = new_figure(4.2 * len(attacks), 3.4)
    axes = np.atleast_1d(fig.subplots(1, len(attacks), sharey=True))
    for ax, attack in zip(axes, attacks):
        sel = sorted((r for r in rows if r["attack"] == attack), key=lambda r: r["epsilon"])
        eps = [r["epsilon"] * 255 for r in sel]
        for name, style in (("original", "o-"), ("pruned", "s--")):
            ax.plot(eps, [r[f"{prefix}_{name}"] for r in sel], style, label=name)
        ax.set_title(ATTACK_LABELS.get(attack, attack))
        ax.set_xlabel("ε × 255 (l∞)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("robust accuracy (%)" if robust else "accuracy (%)")
    axes[0].set_ylim(-2, 102)
    axes[-1].legend()
    return finished_figure(fig, path)
