"""Trained networks on demand: train once (resumably), cache the checkpoints, load them later."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mintlab._utils.runtime import seed_everything
from mintlab.nets.checkpoints import load_checkpoint
from mintlab.nets.recipes import get_recipe
from mintlab.nets.train import train

__all__ = ["cache_root", "pretrained"]


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Checkpoint cache: ``cache_dir``, else ``$MINTLAB_CACHE``, else ``~/.cache/mintlab/checkpoints``.

    >>> str(cache_root("/tmp/ckpts"))
    '/tmp/ckpts'
    """
    from mintlab._utils.io import resolve_dir

    return resolve_dir(cache_dir, "cache_dir", "MINTLAB_CACHE", "~/.cache/mintlab/checkpoints")


_PRETRAINED_DATA = {"mlp": ("mnist", "fashion_mnist"), "vgg16": ("cifar10",), "resnet56": ("cifar10",)}


def pretrained(
    name: str = "mlp",
    dataset: str = "fashion_mnist",
    *,
    recipe: str = "quick",
    root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> tuple[nn.Module, dict[str, Any]]:
    """A trained network from the cache, trained (resumably) and cached on first use.

    The run lives in ``<cache_dir>/<name>_<dataset>_<recipe>_seed<seed>/`` (``best.pt``,
    ``last.pt``); once complete, later calls just load ``best.pt``. An interrupted first
    call resumes on the next one. ResNet50 is not trained here: use
    :func:`mintlab.nets.models.resnet50` with torchvision's weights, as the paper does. The
    paper's MLP runs on MNIST; mintlab defaults to Fashion-MNIST because it is available
    offline (Debian's ``dataset-fashion-mnist``), and it is a harder, less saturated task.

    Args:
        name: ``"mlp"``, ``"vgg16"`` or ``"resnet56"``.
        dataset: ``"mnist"`` / ``"fashion_mnist"`` (MLP) or ``"cifar10"``.
        recipe: a name in :data:`RECIPES` (``"quick"``: a few CPU minutes for the MLP).
        root: data root (see :func:`mintlab.nets.data.data_root`).
        cache_dir: see :func:`cache_root`.
        seed: training seed (part of the cache key).
        device: see :func:`select_device`.
        progress: show progress bars while training.

    Returns:
        ``(model in eval mode on CPU, info)``; info has ``checkpoint`` (path of best.pt),
        ``test_accuracy``, ``epoch``, ``trained_now`` and ``history``.
    """
    from mintlab.nets.data import load_dataset
    from mintlab.nets.models import build_model

    if not isinstance(name, str) or name not in _PRETRAINED_DATA:
        raise ValueError(f"Expected `name` in {tuple(_PRETRAINED_DATA)}, but got {name!r}")
    if dataset not in _PRETRAINED_DATA[name]:
        raise ValueError(f"Expected `dataset` in {_PRETRAINED_DATA[name]} for {name!r}, but got {dataset!r}")
    rec = get_recipe(recipe)
    run_dir = cache_root(cache_dir) / f"{name}_{dataset}_{recipe}_seed{seed}"
    best, last = run_dir / "best.pt", run_dir / "last.pt"
    if best.is_file():
        cached = load_checkpoint(best).get("recipe")
        if cached != dataclasses.asdict(rec):
            raise ValueError(
                f"Expected {best} to be trained with recipe {recipe!r} = {dataclasses.asdict(rec)}, but it was "
                f"trained with {cached}; move that folder away (it is kept, not overwritten) or pass another cache_dir"
            )
    seed_everything(seed)  # the initial weights are part of the cached run
    model = build_model(name)
    trained_now, history = False, None
    complete = last.is_file() and bool(load_checkpoint(last).get("completed"))
    if not (best.is_file() and complete):
        train_set = load_dataset(dataset, "train", root=root)
        test_set = load_dataset(dataset, "test", root=root)
        history = train(
            model,
            train_set,
            test_set,
            recipe,
            checkpoint_dir=run_dir,
            device=device,
            seed=seed,
            resume=True,
            progress=progress,
        )
        trained_now = True
    ckpt = load_checkpoint(best, model)
    if history is None and last.is_file():
        history = load_checkpoint(last).get("history")
    model.to("cpu").eval()
    return model, {
        "checkpoint": str(best),
        "test_accuracy": ckpt.get("test_accuracy"),
        "epoch": ckpt.get("epoch"),
        "trained_now": trained_now,
        "history": history,
    }
