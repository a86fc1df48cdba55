"""Train, evaluate and retrain with the paper's SGD recipes, resumable from checkpoints.

:func:`train` runs SGD + MultiStepLR + cross-entropy, evaluates after every epoch, keeps
``best.pt`` (highest test accuracy) and ``last.pt`` (everything needed to continue:
model, optimizer, scheduler, epoch, history, RNG states), both written atomically. Called
again with the same ``checkpoint_dir`` it continues where the last run stopped and ends
with the same weights as an uninterrupted run. Models pruned with ``torch.nn.utils.prune``
(``weight_orig`` + ``weight_mask``) train with their masks held and checkpoint with them.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from mintlab.nets.checkpoints import load_checkpoint, save_checkpoint
from mintlab.nets.precision import TrainingMode, resolve_precision
from mintlab.nets.recipes import Recipe, get_recipe, with_precision
from mintlab.utils.checks import InvalidArgumentError, check_batch, check_int, check_type
from mintlab.utils.model_state import preserved_state
from mintlab.utils.runtime import seed_everything, select_device, torch_threads

__all__ = ["train", "retrain", "evaluate"]


def _rng_state(loader: DataLoader) -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "loader": loader.generator.get_state() if loader.generator is not None else None,
    }


def _set_rng_state(state: Mapping[str, Any], loader: DataLoader) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if state["loader"] is not None and loader.generator is not None:
        loader.generator.set_state(state["loader"])


# --------------------------------------------------------------------------- loops


def _as_loader(data: Dataset | DataLoader, batch_size: int) -> Any:
    """Batches of ``data`` in order: in-memory tensors by indexing (:class:`~mintlab.nets.batches.TensorLoader`),
    other data sets through a ``DataLoader``; a ``DataLoader`` as it is."""
    from mintlab.nets.batches import TensorLoader

    if isinstance(data, (DataLoader, TensorLoader)):
        return data
    if not isinstance(data, Dataset):
        raise TypeError(f"Expected a torch Dataset or DataLoader, but got {type(data).__name__}")
    if isinstance(data, TensorDataset) and len(data.tensors) == 2:
        return TensorLoader(data, batch_size)
    return DataLoader(data, batch_size=batch_size, shuffle=False)


def evaluate(
    model: nn.Module,
    data: Dataset | DataLoader,
    *,
    device: str | torch.device | None = None,
    batch_size: int = 1000,
    max_batches: int | None = None,
) -> dict[str, float]:
    """Accuracy (percent) and mean cross-entropy of ``model`` on ``data``, in eval mode.

    The model is left exactly as found (every module's mode, ``requires_grad``, device, hooks:
    :func:`mintlab.utils.model_state.preserved_state`); it runs on ``device`` (default: where its
    parameters are) and goes back afterwards.

    Raises:
        InvalidArgumentError: labels outside ``[0, C)`` for a model with ``C`` outputs, bad arguments.
        ValueError: ``data`` gives no examples.

    >>> from torch.utils.data import TensorDataset
    >>> net = nn.Linear(2, 2)
    >>> evaluate(net, TensorDataset(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long)))["accuracy"] in (0.0, 100.0)
    True
    """
    check_type(model, "model", nn.Module, "a torch.nn.Module")
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    max_batches = check_int(max_batches, "max_batches", minimum=1, allow_none=True)
    loader = _as_loader(data, batch_size)
    dev = (
        select_device(device)
        if device is not None
        else next((p.device for p in model.parameters()), torch.device("cpu"))
    )
    loss_sum, correct, count = 0.0, 0, 0
    with preserved_state(model), torch.no_grad():
        model.to(dev)
        model.eval()
        for k, (x, y) in enumerate(itertools.islice(loader, max_batches)):
            x, y = check_batch(x, y, k, "evaluation")
            x, y = x.to(dev), y.to(dev)
            out = model(x)
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= out.shape[1]):
                bad = int(y.max()) if int(y.max()) >= out.shape[1] else int(y.min())
                raise InvalidArgumentError(
                    f"Expected labels in [0, {out.shape[1]}) (the model's number of classes), but got {bad}"
                )
            loss_sum += float(nn.functional.cross_entropy(out, y, reduction="sum"))
            correct += int((out.argmax(1) == y).sum())
            count += int(y.numel())
    if count == 0:
        raise ValueError("Expected a non-empty `data`, but it gave no examples")
    return {"accuracy": 100.0 * correct / count, "loss": loss_sum / count}


def _train_modes(model: nn.Module) -> list[tuple[nn.Module, bool]]:
    """The per-module modes to train with: all True for a model given in eval mode; as given for a model in
    train mode (so a BatchNorm the caller froze with ``bn.eval()`` stays frozen while the rest trains)."""
    if not model.training:
        return [(m, True) for m in model.modules()]
    return [(m, m.training) for m in model.modules()]


def _epoch(
    model,
    forward,
    loader,
    optimizer,
    dev,
    max_batches,
    bar,
    modes=None,
    *,
    mode=None,
    augment="none",
    batch_scheduler=None,
) -> tuple[float, float]:
    from mintlab.nets.batches import augment_batch

    mode = mode or TrainingMode()
    for module, train_mode in modes if modes is not None else [(m, True) for m in model.modules()]:
        module.training = train_mode
    loss_sum, correct, count = 0.0, 0, 0
    total = len(loader) if max_batches is None else min(len(loader), max_batches)
    batches = bar(total=total, leave=False, desc="batches")
    own_batches = getattr(loader, "augment", None) is not None  # a TensorLoader augments its batches itself
    try:
        for k, (x, y) in enumerate(itertools.islice(loader, total)):
            x, y = check_batch(x, y, k, "training")
            if augment != "none" and not own_batches:
                x = augment_batch(x, augment, loader.generator)
            x, y = x.to(dev), y.to(dev)
            if mode.channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            optimizer.zero_grad(set_to_none=True)
            with mode.autocast(dev):
                out = forward(x)
                loss = nn.functional.cross_entropy(out.float(), y)
            loss.backward()
            optimizer.step()
            if batch_scheduler is not None:
                batch_scheduler.step()
            loss_sum += float(loss.detach()) * y.numel()
            correct += int((out.detach().argmax(1) == y).sum())
            count += int(y.numel())
            batches.update(1)
            batches.set_postfix(loss=f"{loss_sum / count:.4f}", refresh=False)
    finally:
        batches.close()
    if count == 0:
        raise ValueError("Expected a non-empty `train_data`, but it gave no batches")
    return loss_sum / count, 100.0 * correct / count


def _null_bar(**_: Any):
    class _Null:
        def update(self, *_a: Any) -> None: ...
        def set_postfix(self, *_a: Any, **_k: Any) -> None: ...
        def close(self) -> None: ...

    return _Null()


_HISTORY_KEYS = (
    "epoch",
    "lr",
    "train_loss",
    "train_accuracy",
    "test_loss",
    "test_accuracy",
    "seconds",
    "train_seconds",
)


def train(
    model: nn.Module,
    train_data: Dataset,
    test_data: Dataset | DataLoader | None,
    recipe: str | Recipe,
    *,
    checkpoint_dir: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    resume: bool = True,
    progress: bool = True,
    max_batches: int | None = None,
    max_epochs: int | None = None,
    num_workers: int = 0,
    callback: Callable[[int, dict[str, float]], None] | None = None,
    threads: int | None = None,
    precision: str | None = None,
) -> dict[str, Any]:
    """Train ``model`` with SGD and cross-entropy, following ``recipe`` (schedule, augmentation, precision).

    After each epoch the model is evaluated on ``test_data``; with ``checkpoint_dir``,
    ``best.pt`` (highest test accuracy; without test data, the latest) and ``last.pt``
    (model, optimizer, scheduler, epoch, history, RNG states) are written atomically.
    With ``resume`` and an existing ``last.pt`` training continues from it, so an
    interrupted run ends with the same weights as an uninterrupted one (same device and
    thread count). A model carrying ``torch.nn.utils.prune`` masks keeps them: SGD updates
    ``weight_orig`` and the masked entries of the effective weight stay zero.

    Every module's train/eval mode is as the caller left it afterwards. During training, a model given in
    eval mode trains every module; a model given in train mode trains the modules that are in train mode,
    so a BatchNorm frozen with ``bn.eval()`` keeps its running statistics.

    Args:
        model: the network (moved to ``device`` and left there, trained in place).
        train_data: training set; shuffled each epoch by a generator seeded with ``seed``.
        test_data: evaluation set (or ``None``).
        recipe: a :class:`Recipe` or a name in :data:`RECIPES`.
        checkpoint_dir: folder for ``best.pt`` / ``last.pt`` (``None``: no files).
        device: ``None`` picks CUDA when available (see :func:`select_device`).
        seed: seeds torch / NumPy / Python and the shuffling (same seed → same weights).
        resume: continue from ``<checkpoint_dir>/last.pt`` when it exists.
        progress: show progress bars.
        max_batches: at most this many batches per epoch (fast tests, CI).
        max_epochs: stop once this many epochs are done in total (the LR schedule still
            follows ``recipe.epochs``); a later call with ``resume`` continues.
        num_workers: data-loading worker processes (0: in the main process).
        callback: ``callback(epoch, record)`` after each epoch, once checkpoints are
            written; an exception it raises stops training (the checkpoints stay).
        threads: torch intra-op threads while training, restored afterwards; ``None``: ``$OMP_NUM_THREADS``
            when set, else 1 for a small model such as the MLP, which then keeps its speed on a CPU shared
            with another busy process (:func:`mintlab.utils.runtime.torch_threads`).
        precision: ``"auto"``, ``"fp32"`` or ``"bf16"`` (:mod:`mintlab.nets.precision`), replacing the
            recipe's (``None``: the recipe's, ``"auto"`` by default). The mode chosen is recorded in the
            history (``training_mode``) and the checkpoint; a resumed run keeps it.

    Returns:
        History: lists per epoch under ``epoch``, ``lr``, ``train_loss``,
        ``train_accuracy``, ``test_loss``, ``test_accuracy`` (percent), ``seconds`` (the epoch with its
        evaluation), ``train_seconds`` (the SGD steps only); and ``best_epoch``, ``best_accuracy``,
        ``completed`` (all ``recipe.epochs`` done), ``checkpoint_dir``, ``training_mode``.

    Raises:
        ValueError: a training batch with NaN or infinite inputs (naming the batch and the count); a
            ``last.pt`` written by another recipe or seed.
        InvalidArgumentError: labels that are not a 1-D integer tensor (one-hot, float), batches that are
            not ``(tensor, tensor)``, bad arguments.

    >>> from torch.utils.data import TensorDataset
    >>> data = TensorDataset(torch.randn(64, 4), torch.randint(0, 2, (64,)))
    >>> hist = train(nn.Linear(4, 2), data, data, Recipe(2, 16, 0.1), progress=False)
    >>> len(hist["train_loss"]), hist["completed"]
    (2, True)
    """
    from tqdm.auto import tqdm

    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected `model` as an nn.Module, but got {type(model).__name__}")
    rec = with_precision(get_recipe(recipe), precision)
    if not isinstance(train_data, Dataset):
        raise TypeError(f"Expected `train_data` as a torch Dataset, but got {type(train_data).__name__}")
    max_batches = check_int(max_batches, "max_batches", minimum=1, allow_none=True)
    max_epochs = check_int(max_epochs, "max_epochs", minimum=1, allow_none=True)
    if callback is not None and not callable(callback):
        raise TypeError(f"Expected `callback` as a callable or None, but got {type(callback).__name__}")
    dev = select_device(device)
    seed_everything(seed)
    loader = _train_loader(train_data, rec, seed, num_workers)
    test_loader = None if test_data is None else _as_loader(test_data, 1000)
    ckpt_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
    ckpt = _resume_checkpoint(ckpt_dir, model, rec, seed) if resume else None
    steps_per_epoch = len(loader) if max_batches is None else min(len(loader), max_batches)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(torch_threads(model, threads))
    entry_modes = [(m, m.training) for m in model.modules()]
    model.to(dev)
    try:
        if ckpt is not None and "training_mode" in ckpt:  # a resumed run keeps the mode it started with
            mode = TrainingMode.from_json(ckpt["training_mode"])
        else:
            mode = resolve_precision(
                rec.precision, model, _example_batch(loader, rec.batch_size), dev, rec.epochs * steps_per_epoch
            )
        if mode.channels_last:  # before the optimizer collects the parameters (their data changes layout)
            model.to(memory_format=torch.channels_last)
        optimizer = torch.optim.SGD(
            model.parameters(), lr=rec.lr, momentum=rec.momentum, weight_decay=rec.weight_decay, nesterov=rec.nesterov
        )
        scheduler, per_batch = _scheduler(optimizer, rec, steps_per_epoch)
        history: dict[str, Any] = {k: [] for k in _HISTORY_KEYS}
        history.update(
            best_epoch=None,
            best_accuracy=None,
            completed=False,
            checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir),
        )
        start = 0
        if ckpt is not None:
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            history = ckpt["history"]
            start = int(ckpt["epoch"])
            _set_rng_state(ckpt["rng"], loader)
        history["training_mode"] = mode.to_json()
        forward = torch.compile(model) if mode.compile else model
        bar = tqdm if progress else _null_bar
        stop = rec.epochs if max_epochs is None else min(rec.epochs, max_epochs)
        epochs = bar(total=rec.epochs, initial=start, desc="epochs")
        modes = _train_modes(model)
        run = {
            "model": model,
            "forward": forward,
            "loader": loader,
            "optimizer": optimizer,
            "dev": dev,
            "max_batches": max_batches,
            "bar": bar,
            "modes": modes,
            "mode": mode,
            "augment": rec.augment,
            "batch_scheduler": scheduler if per_batch else None,
        }
        try:
            for epoch in range(start, stop):
                record = _train_epoch(run, epoch, scheduler if not per_batch else None, test_loader)
                _keep_record(history, record, rec, test_loader is not None)
                if ckpt_dir is not None:
                    _save_epoch(
                        ckpt_dir,
                        model,
                        rec,
                        seed,
                        epoch,
                        history,
                        optimizer,
                        scheduler,
                        loader,
                        mode,
                        improved=history["best_epoch"] == epoch + 1,
                    )
                epochs.update(1)
                epochs.set_postfix(
                    loss=f"{record['train_loss']:.4f}", acc=f"{record['test_accuracy']:.2f}", refresh=False
                )
                if callback is not None:
                    callback(epoch + 1, record)
        finally:
            epochs.close()
    finally:
        if any(p.dim() == 4 for p in model.parameters()):
            model.to(memory_format=torch.contiguous_format)  # the layout the caller gave
        for module, train_mode in entry_modes:  # the modes the caller gave (weights and device are train's result)
            module.training = train_mode
        torch.set_num_threads(previous_threads)
    return history


def _train_loader(train_data: Dataset, rec: Recipe, seed: int, num_workers: int) -> Any:
    """In-memory tensors batch by indexing (:class:`~mintlab.nets.batches.TensorLoader`); others by a DataLoader."""
    from mintlab.nets.batches import TensorLoader
    from mintlab.nets.data import make_loader

    if isinstance(train_data, TensorDataset) and len(train_data.tensors) == 2 and num_workers == 0:
        return TensorLoader(train_data, rec.batch_size, shuffle=True, seed=seed, augment=rec.augment)
    return make_loader(train_data, rec.batch_size, shuffle=True, seed=seed, num_workers=num_workers)


def _example_batch(loader: Any, batch_size: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """A batch shaped like ``loader``'s, for timing (:func:`resolve_precision`): the first ``batch_size`` inputs
    of an in-memory data set, else one item read once and repeated; labels 0 (timing needs no real ones; the
    batches themselves are checked as they are trained on). ``None`` when no such batch can be made (inputs
    that are not tensors: the first batch's check says what came)."""
    dataset = loader.dataset
    try:
        if isinstance(dataset, TensorDataset):
            x = dataset.tensors[0][:batch_size]
        else:
            item = torch.as_tensor(dataset[0][0])
            x = item.unsqueeze(0).expand(batch_size, *item.shape).clone()
    except (TypeError, ValueError, RuntimeError, IndexError):
        return None
    if not torch.is_floating_point(x):
        return None
    return x, torch.zeros(x.shape[0], dtype=torch.long)


def _resume_checkpoint(ckpt_dir: Path | None, model: nn.Module, rec: Recipe, seed: int) -> dict[str, Any] | None:
    """``<ckpt_dir>/last.pt`` loaded into ``model`` when it exists, checked to continue the same run."""
    last_path = None if ckpt_dir is None else ckpt_dir / "last.pt"
    if last_path is None or not last_path.is_file():
        return None
    # Load the model first: a pruned checkpoint reparametrises `model` before the
    # optimizer collects its parameters, so the saved optimizer state lines up.
    ckpt = load_checkpoint(last_path, model, map_location="cpu")
    if recipe_record(ckpt.get("recipe")) != dataclasses.asdict(rec) or ckpt.get("seed") != seed:
        raise ValueError(
            f"Expected {last_path} to continue the same run, but it was written with recipe "
            f"{ckpt.get('recipe')} and seed {ckpt.get('seed')}; "
            f"got recipe {dataclasses.asdict(rec)} and seed {seed} "
            "(use another checkpoint_dir or resume=False)"
        )
    return ckpt


def recipe_record(recorded: Any) -> Any:
    """A recipe recorded before schedules, augmentation and precision were recipe fields, with today's defaults
    (such a run trained with MultiStepLR, no augmentation and float32, what ``"auto"`` gives a short run or a
    CPU without native bf16)."""
    if not isinstance(recorded, dict):
        return recorded
    return {"schedule": "multistep", "augment": "none", "precision": "auto", **recorded}


def _scheduler(optimizer: torch.optim.Optimizer, rec: Recipe, steps_per_epoch: int) -> tuple[Any, bool]:
    """The recipe's learning-rate schedule and whether it steps per batch (one-cycle) or per epoch."""
    if rec.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=rec.lr, epochs=rec.epochs, steps_per_epoch=steps_per_epoch, cycle_momentum=False
        ), True
    milestones = list(rec.milestones) if rec.schedule == "multistep" else []
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=rec.gamma), False


def _train_epoch(run: Mapping[str, Any], epoch: int, epoch_scheduler: Any, test_loader: Any) -> dict[str, float]:
    t0 = time.perf_counter()
    lr = run["optimizer"].param_groups[0]["lr"]
    train_loss, train_acc = _epoch(
        run["model"],
        run["forward"],
        run["loader"],
        run["optimizer"],
        run["dev"],
        run["max_batches"],
        run["bar"],
        run["modes"],
        mode=run["mode"],
        augment=run["augment"],
        batch_scheduler=run["batch_scheduler"],
    )
    if epoch_scheduler is not None:
        epoch_scheduler.step()
    train_seconds = time.perf_counter() - t0
    scores = (
        evaluate(run["model"], test_loader, device=run["dev"])
        if test_loader is not None
        else {"loss": math.nan, "accuracy": math.nan}
    )
    return {
        "epoch": epoch + 1,
        "lr": lr,
        "train_loss": train_loss,
        "train_accuracy": train_acc,
        "test_loss": scores["loss"],
        "test_accuracy": scores["accuracy"],
        "seconds": time.perf_counter() - t0,
        "train_seconds": train_seconds,
    }


def _keep_record(history: dict[str, Any], record: Mapping[str, float], rec: Recipe, has_test: bool) -> None:
    for k in _HISTORY_KEYS:
        history.setdefault(k, []).append(record[k])
    improved = history["best_accuracy"] is None or not has_test or record["test_accuracy"] > history["best_accuracy"]
    if improved:
        history["best_epoch"], history["best_accuracy"] = record["epoch"], record["test_accuracy"]
    history["completed"] = record["epoch"] == rec.epochs


def _save_epoch(
    ckpt_dir: Path,
    model: nn.Module,
    rec: Recipe,
    seed: int,
    epoch: int,
    history: dict[str, Any],
    optimizer: Any,
    scheduler: Any,
    loader: Any,
    mode: TrainingMode,
    *,
    improved: bool,
) -> None:
    meta = {"epoch": epoch + 1, "recipe": dataclasses.asdict(rec), "seed": seed}
    test = {"test_accuracy": history["test_accuracy"][-1], "test_loss": history["test_loss"][-1]}
    if improved:
        save_checkpoint(ckpt_dir / "best.pt", model, **test, **meta)
    save_checkpoint(
        ckpt_dir / "last.pt",
        model,
        optimizer=optimizer.state_dict(),
        scheduler=scheduler.state_dict(),
        history=history,
        rng=_rng_state(loader),
        completed=history["completed"],
        training_mode=mode.to_json(),
        **test,
        **meta,
    )


def retrain(
    model: nn.Module,
    train_data: Dataset,
    test_data: Dataset | DataLoader | None,
    recipe: str | Recipe = "quick_retrain",
    **kwargs: Any,
) -> dict[str, Any]:
    """Retrain a pruned model once (MINT's single retraining step); :func:`train` with a retrain recipe.

    Masks applied with ``torch.nn.utils.prune`` stay in force throughout. Keyword
    arguments go to :func:`train`.
    """
    return train(model, train_data, test_data, recipe, **kwargs)
