"""One call for the whole original-vs-pruned comparison (paper Section IV-E): numbers + figures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from mintlab.characterize._common import (
    Normalization,
    check_images,
    check_labels,
    check_model,
    predict_logits,
)
from mintlab.characterize.attacks import (
    ATTACKS,
    DEFAULT_EPSILONS,
    compare_attacks,
    plot_attack_curves,
)
from mintlab.characterize.attribution import (
    attribution_maps,
    find_last_conv,
    plot_attribution_grid,
)
from mintlab.characterize.calibration import (
    DEFAULT_N_BINS,
    compare_calibration,
    plot_reliability_diagram,
)
from mintlab.utils.checks import check_int
from mintlab.utils.io import (
    npz_bytes,
    to_jsonable,
    write_bytes_atomic,
    write_json_atomic,
)

__all__ = ["REPORT_FILES", "sample_examples", "characterization_report"]

#: Files written to ``output_dir`` by :func:`characterization_report`.
REPORT_FILES: dict[str, str] = {
    "json": "characterization.json",
    "attacks": "attacks.png",
    "reliability": "reliability.png",
    "attribution": "attribution.png",
    "maps": "attribution_maps.npz",
}


def sample_examples(
    data: Any, n_examples: int | None, *, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """``(images, labels, indices)``: ``n_examples`` drawn without replacement (seeded) from ``data``.

    Args:
        data: a torch Dataset of ``(image, label)`` items, or a pair ``(images, labels)`` of tensors.
        n_examples: how many; None or ≥ the data size → all, in their original order.

    >>> images, labels, idx = sample_examples((torch.rand(10, 1, 2, 2), torch.arange(10)), 3, seed=0)
    >>> images.shape, (labels == torch.from_numpy(idx)).all().item()
    (torch.Size([3, 1, 2, 2]), True)
    """
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        images, labels = data
        n_total = len(images)
        get = None
    elif hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        n_total = len(data)
        get = data.__getitem__
    else:
        raise TypeError(f"Expected a Dataset or an (images, labels) pair of tensors, but got {type(data).__name__}")
    if n_total == 0:
        raise ValueError("Expected a non-empty dataset, but got 0 examples")
    if n_examples is None or n_examples >= n_total:
        indices = np.arange(n_total)
    else:
        check_int(n_examples, "n_examples", minimum=1)
        indices = np.sort(np.random.default_rng(seed).choice(n_total, size=n_examples, replace=False))
    if get is None:
        sel = torch.from_numpy(indices)
        return images[sel], torch.as_tensor(labels)[sel], indices
    items = [get(int(i)) for i in indices]
    images = torch.stack([torch.as_tensor(x) for x, _ in items])
    labels = torch.tensor([int(y) for _, y in items], dtype=torch.long)
    return images, labels, indices


def characterization_report(
    original: nn.Module,
    pruned: nn.Module,
    data: Any,
    *,
    normalization: Normalization | None,
    epsilons: Sequence[float] = DEFAULT_EPSILONS,
    attacks: Sequence[str] = ATTACKS,
    n_examples: int | None = 1000,
    n_bins: int = DEFAULT_N_BINS,
    gradcam_layer: str | None = None,
    n_gradcam: int = 6,
    batch_size: int = 256,
    class_names: Sequence[str] | None = None,
    output_dir: str | Path | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Attacks, calibration and attribution maps of ``original`` vs ``pruned`` on the same examples.

    Args:
        original, pruned: models taking *normalised* inputs (``pruned`` may carry
            ``torch.nn.utils.prune`` masks; same module names as ``original``).
        data: a Dataset of images in [0, 1] (``load_dataset(..., normalize=False)``) or ``(images, labels)``.
        normalization: the models' ``(mean, std)``, e.g. ``NORMALIZATION["fashion_mnist"]``; None if
            the models take [0, 1] inputs themselves.
        epsilons, attacks: see :func:`~mintlab.characterize.attacks.compare_attacks`.
        n_examples: examples drawn (seeded, without replacement) for attacks and calibration.
        n_bins: ECE bins. gradcam_layer: module name (default: last Conv2d; MLP → input gradients).
        n_gradcam: the first ``n_gradcam`` sampled examples are shown in the attribution grid.
        output_dir: when given, writes ``characterization.json``, ``attacks.png``,
            ``reliability.png``, ``attribution.png`` and ``attribution_maps.npz`` there (atomically).

    Returns:
        A JSON-serialisable dict: ``settings``, ``examples``, ``accuracy``, ``attacks`` (table rows),
        ``calibration``, ``attribution``, ``figures`` (paths, empty without ``output_dir``).
    """
    check_model(original, "original")
    check_model(pruned, "pruned")
    n_gradcam = check_int(n_gradcam, "n_gradcam", minimum=1)
    images, labels, indices = sample_examples(data, n_examples, seed=seed)
    images = check_images(images)
    labels = check_labels(labels, len(images))
    if gradcam_layer is None:
        gradcam_layer = find_last_conv(original)
    common = dict(normalization=normalization, batch_size=batch_size, device=device)
    stages = tqdm(total=4, desc="characterize", disable=not progress)

    stages.set_postfix_str("clean accuracy")
    accuracy = {  # predict_logits checks labels in [0, C) before attacks or calibration run
        name: 100.0
        * float((predict_logits(model, images, labels=labels, **common).argmax(1) == labels).double().mean())
        for name, model in (("original", original), ("pruned", pruned))
    }
    stages.update(1)
    stages.set_postfix_str("attacks")
    rows = compare_attacks(original, pruned, images, labels, epsilons=epsilons, attacks=attacks, seed=seed,
                           progress=progress, **common)  # fmt: skip
    stages.update(1)
    stages.set_postfix_str("calibration")
    calibration = compare_calibration(original, pruned, images, labels, n_bins=n_bins, **common)
    stages.update(1)
    stages.set_postfix_str("attribution")
    k = min(n_gradcam, len(images))
    attr = {name: attribution_maps(model, images[:k], layer=gradcam_layer, normalization=normalization,
                                   device=device)
            for name, model in (("original", original), ("pruned", pruned))}  # fmt: skip
    stages.update(1)
    stages.close()

    report: dict[str, Any] = {
        "settings": {
            "normalization": normalization, "epsilons": list(epsilons), "attacks": list(attacks),
            "n_examples": len(images), "n_bins": n_bins, "gradcam_layer": attr["original"].layer,
            "n_gradcam": k, "seed": seed,
        },
        "examples": {"indices": indices, "labels": labels},
        "accuracy": accuracy,
        "attacks": rows,
        "calibration": calibration,
        "attribution": {
            "method": attr["original"].method,
            "layer": attr["original"].layer,
            "note": "targets are each model's own predicted class",
            "indices": indices[:k],
            "labels": labels[:k],
            "pred_original": attr["original"].targets,
            "pred_pruned": attr["pruned"].targets,
        },
        "figures": {},
    }  # fmt: skip
    if output_dir is not None:
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        figures = {name: out / REPORT_FILES[name] for name in ("attacks", "reliability", "attribution")}
        plot_attack_curves(rows, path=figures["attacks"])
        plot_reliability_diagram(calibration, path=figures["reliability"])
        plot_attribution_grid(images[:k], attr["original"].maps, attr["pruned"].maps, labels=labels[:k].tolist(),
                              preds_original=attr["original"].targets.tolist(),
                              preds_pruned=attr["pruned"].targets.tolist(), class_names=class_names,
                              method=attr["original"].method, path=figures["attribution"])  # fmt: skip
        write_bytes_atomic(out / REPORT_FILES["maps"], npz_bytes(
            {"images": images[:k].numpy(), "original": attr["original"].maps.numpy(),
             "pruned": attr["pruned"].maps.numpy(), "indices": indices[:k]}, compressed=True))  # fmt: skip
        report["figures"] = {**{k_: str(p) for k_, p in figures.items()}, "maps": str(out / REPORT_FILES["maps"])}
        write_json_atomic(out / REPORT_FILES["json"], report)
    return to_jsonable(report)
