"""Trained networks on demand: train once (resumably), cache the checkpoints, load them later."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mintlab.nets.checkpoints import load_checkpoint
from mintlab.nets.recipes import get_recipe, with_precision
from mintlab.nets.train import recipe_record, train
from mintlab.utils.runtime import seed_everything

__all__ = ["cache_root", "pretrained", "pretrained_dir"]


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Checkpoint cache: ``cache_dir``, else ``$MINTLAB_CACHE``, else ``~/.cache/mintlab/checkpoints``.

    >>> str(cache_root("/tmp/ckpts"))
    '/tmp/ckpts'
    """
    from mintlab.utils.io import resolve_dir

    return resolve_dir(cache_dir, "cache_dir", "MINTLAB_CACHE", "~/.cache/mintlab/checkpoints")


def pretrained_dir(
    name: str,
    dataset: str,
    *,
    width: float = 1.0,
    recipe: str | None = None,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    train_size: int | None = None,
) -> Path:
    """The folder of one :func:`pretrained` run.

    ``<cache>/<name>[_w<width>]_<dataset>[_n<train_size>]_<recipe>_seed<seed>/``.

    >>> pretrained_dir("vgg16", "fashion_mnist32", width=0.25, cache_dir="/tmp/n").name
    'vgg16_w0.25_fashion_mnist32_cnn_fashion_seed0'
    >>> pretrained_dir("vgg16", "fashion_mnist32", width=0.25, recipe="quick_cnn", train_size=6000,
    ...                cache_dir="/tmp/n").name
    'vgg16_w0.25_fashion_mnist32_n6000_quick_cnn_seed0'
    """
    from mintlab.nets.networks import NETWORK_PRESETS

    known = NETWORK_PRESETS.get(name)
    recipe = (known.recipe if known else "quick") if recipe is None else recipe
    tag = name if known is not None and not known.has_width else f"{name}_w{float(width):g}"
    subset = "" if train_size is None else f"_n{int(train_size)}"
    return cache_root(cache_dir) / f"{tag}_{dataset}{subset}_{recipe}_seed{seed}"


def pretrained(
    name: str = "mlp",
    dataset: str = "fashion_mnist",
    *,
    width: float = 1.0,
    recipe: str | None = None,
    root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    precision: str | None = None,
    train_if_missing: bool = True,
    train_size: int | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """A trained network from the cache, trained (resumably) and cached on first use.

    The run lives in :func:`pretrained_dir` (``best.pt``, the epoch of highest test accuracy, and
    ``last.pt``, the final weights with everything needed to resume); once complete, later calls load the
    **final** weights (``last.pt``): selecting the epoch by its test accuracy would fit the test set. An
    interrupted first call resumes on the next one. ResNet50 is not trained here: use
    :func:`mintlab.nets.models.resnet50` with torchvision's weights, as the paper does. The paper's MLP runs
    on MNIST; mintlab defaults to Fashion-MNIST because it is available offline (Debian's
    ``dataset-fashion-mnist``), and it is a harder, less saturated task. The CNNs train on
    ``"fashion_mnist32"`` (Fashion-MNIST padded to 32×32, 1 channel; :func:`mintlab.nets.data.load_tensor_data`)
    or CIFAR-10, all of the training set, with the recipe's augmentation.

    Args:
        name: a registered network (:func:`mintlab.nets.networks.network_names`: ``"mlp"``, ``"vgg16"``,
            ``"resnet56"``, and any registered since).
        dataset: one of the network's ``datasets``: ``"mnist"`` / ``"fashion_mnist"`` (MLP) or
            ``"fashion_mnist32"`` / ``"cifar10"`` (CNNs).
        width: channel multiplier of the CNNs (1: the paper's networks); the MLP takes 1 only.
        recipe: a name in :data:`RECIPES` (default: the network's ``recipe``: ``"quick"``, a few CPU minutes,
            for the MLP; ``"cnn_fashion"`` / ``"resnet56_fashion"`` for the CNNs).
        root: data root (see :func:`mintlab.nets.data.data_root`).
        cache_dir: see :func:`cache_root`.
        seed: training seed (part of the cache key).
        device: see :func:`select_device`.
        progress: show progress bars while training.
        precision: see :func:`mintlab.nets.train.train` (``None``: the recipe's, ``"auto"``).
        train_if_missing: ``False``: raise ``FileNotFoundError`` instead of training when the cache does not
            hold the finished run.
        train_size: train on a seeded random subset of this many training images (the 32×32 sets only; part
            of the cache key), for a network that trains in CPU minutes (the notebooks' small networks);
            ``None``: all.

    Returns:
        ``(model in eval mode on CPU, info)``; info has ``checkpoint`` (path of ``last.pt``),
        ``test_accuracy`` (of the final weights), ``epoch``, ``trained_now``, ``history`` and ``run_dir``.

    Raises:
        ValueError: unknown name, dataset or width; a cached run written with another recipe.
        FileNotFoundError: ``train_if_missing=False`` and no finished run in the cache.
    """
    from mintlab.nets.networks import get_network

    net = get_network(name)
    if dataset not in net.datasets:
        raise ValueError(f"Expected `dataset` in {net.datasets} for {name!r}, but got {dataset!r}")
    if not net.has_width and width != 1:
        raise ValueError(f"Expected `width` 1 for {name!r} (it has no width option), but got {width!r}")
    recipe = net.recipe if recipe is None else recipe
    rec = with_precision(get_recipe(recipe), precision)
    if train_size is not None and dataset in ("mnist", "fashion_mnist"):
        raise ValueError(f"Expected `train_size` only with the 32×32 data sets, but got dataset {dataset!r}")
    run_dir = pretrained_dir(
        name, dataset, width=width, recipe=recipe, seed=seed, cache_dir=cache_dir, train_size=train_size
    )
    last = run_dir / "last.pt"
    if last.is_file():
        cached = recipe_record(load_checkpoint(last).get("recipe"))
        if cached != dataclasses.asdict(rec):
            raise ValueError(
                f"Expected {last} to be trained with recipe {recipe!r} = {dataclasses.asdict(rec)}, but it was "
                f"trained with {cached}; move that folder away (it is kept, not overwritten) or pass another cache_dir"
            )
    seed_everything(seed)  # the initial weights are part of the cached run
    model = net.network(width=width, in_channels=1 if dataset == "fashion_mnist32" else 3)
    trained_now, history = False, None
    complete = last.is_file() and bool(load_checkpoint(last).get("completed"))
    if not complete:
        if not train_if_missing:
            raise FileNotFoundError(
                f"Expected a finished training run of {name!r} on {dataset!r} at {last}, but "
                f"{'it is unfinished' if last.is_file() else 'there is none'} (call pretrained "
                "with train_if_missing=True to train it)"
            )
        train_set, test_set = _data(dataset, root, train_size)
        history = train(
            model,
            train_set,
            test_set,
            rec,
            checkpoint_dir=run_dir,
            device=device,
            seed=seed,
            resume=True,
            progress=progress,
        )
        trained_now = True
    ckpt = load_checkpoint(last, model)
    if history is None:
        history = ckpt.get("history")
    model.to("cpu").eval()
    accuracy = ckpt.get("test_accuracy")
    if accuracy is None and history:
        accuracy = history["test_accuracy"][-1]
    return model, {
        "checkpoint": str(last),
        "test_accuracy": accuracy,
        "epoch": ckpt.get("epoch"),
        "trained_now": trained_now,
        "history": history,
        "run_dir": str(run_dir),
    }


def _data(dataset: str, root: str | os.PathLike | None, train_size: int | None = None) -> tuple[Any, Any]:
    """Train and test sets for :func:`pretrained`: in-memory tensors (fast batches) for the 32×32 sets."""
    from mintlab.nets.data import TENSOR_DATASETS, load_dataset, load_tensor_data

    if dataset in TENSOR_DATASETS and dataset != "fashion_mnist":
        train_set, test_set, _ = load_tensor_data(dataset, root=root, train_size=train_size)
        return train_set, test_set
    return load_dataset(dataset, "train", root=root), load_dataset(dataset, "test", root=root)
