"""Train, evaluate and retrain with the paper's SGD recipes; checkpoints that survive a crash.

:func:`train` runs SGD + MultiStepLR + cross-entropy, evaluates after every epoch, keeps
``best.pt`` (highest test accuracy) and ``last.pt`` (everything needed to continue:
model, optimizer, scheduler, epoch, history, RNG states), both written atomically. Called
again with the same ``checkpoint_dir`` it continues where the last run stopped and ends
with the same weights as an uninterrupted run. Models pruned with ``torch.nn.utils.prune``
(``weight_orig`` + ``weight_mask``) train with their masks held and checkpoint with them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
import os
import random
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune
from torch.utils.data import DataLoader, Dataset

__all__ = [
    "Recipe",
    "RECIPES",
    "get_recipe",
    "select_device",
    "seed_everything",
    "train",
    "retrain",
    "evaluate",
    "save_checkpoint",
    "load_checkpoint",
    "state_dict_hash",
    "cache_root",
    "pretrained",
]


@dataclasses.dataclass(frozen=True)
class Recipe:
    """An SGD training schedule: MultiStepLR multiplies ``lr`` by ``gamma`` at each milestone epoch.

    >>> Recipe(epochs=2, batch_size=32, lr=0.1).momentum
    0.9
    """

    epochs: int
    batch_size: int
    lr: float
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0
    nesterov: bool = False

    def __post_init__(self) -> None:
        for field in ("epochs", "batch_size"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Expected `{field}` as an int >= 1, but got {value!r}")
        for field in ("lr", "gamma", "momentum", "weight_decay"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"Expected `{field}` as a finite number >= 0, but got {value!r}")
        if self.lr <= 0:
            raise ValueError(f"Expected `lr` > 0, but got {self.lr!r}")
        milestones = tuple(self.milestones)
        if any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in milestones) or list(milestones) != sorted(set(milestones)):
            raise ValueError(f"Expected `milestones` as increasing ints >= 1, but got {self.milestones!r}")
        object.__setattr__(self, "milestones", milestones)
        if self.nesterov and self.momentum == 0:
            raise ValueError("Expected `momentum` > 0 with nesterov=True, but got 0")


#: The paper's recipes (Tables B-1 train, B-2/B-3 retrain) and quick CPU ones. Momentum 0.9
#: and Nesterov for the MLP come from the MINT reference code (its README runs the MLP with
#: ``--Nesterov``; its ResNet scripts do not); the paper states neither.
#: ``quick``: the MLP on Fashion-MNIST to >= 88 % in a few CPU minutes; ``quick_retrain``:
#: a short fine-tune of a pruned network.
RECIPES: dict[str, Recipe] = {
    "mlp": Recipe(30, 256, 0.1, (10, 20), 0.1, weight_decay=1e-4, nesterov=True),
    "vgg16": Recipe(300, 128, 0.1, (90, 180, 260), 0.2, weight_decay=5e-4),
    "resnet56": Recipe(300, 128, 0.01, (150, 225), 0.1, weight_decay=2e-4),
    "mlp_retrain": Recipe(30, 256, 0.1, (10, 20), 0.1, weight_decay=1e-4, nesterov=True),
    "vgg16_retrain": Recipe(300, 128, 0.1, (90, 180, 260), 0.2, weight_decay=5e-4),
    "resnet56_retrain": Recipe(300, 128, 0.1, (90, 180, 260), 0.1, weight_decay=2e-4),
    "resnet50_retrain": Recipe(130, 64, 0.1, (30, 60, 90, 100), 0.1, weight_decay=1e-4),
    "quick": Recipe(10, 128, 0.05, (6, 8), 0.2, weight_decay=1e-4, nesterov=True),
    "quick_retrain": Recipe(3, 128, 0.01, (2,), 0.1, weight_decay=1e-4, nesterov=True),
}


def get_recipe(recipe: str | Recipe) -> Recipe:
    """A :class:`Recipe` from its name in :data:`RECIPES` (a ``Recipe`` passes through).

    >>> get_recipe("mlp").milestones
    (10, 20)
    """
    if isinstance(recipe, Recipe):
        return recipe
    if not isinstance(recipe, str):
        raise TypeError(f"Expected `recipe` as a name or a Recipe, but got {type(recipe).__name__}")
    if recipe not in RECIPES:
        raise ValueError(f"Expected `recipe` in {tuple(RECIPES)}, but got {recipe!r}")
    return RECIPES[recipe]


def select_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else CUDA when available, else CPU.

    >>> select_device("cpu")
    device(type='cpu')
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"Expected `device` as a str or torch.device, but got {type(device).__name__}")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"Expected a torch device name such as 'cpu' or 'cuda:0', but got {device!r}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Expected an available device, but got {device!r} and CUDA is not available")
    return dev


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) generators.

    With ``deterministic`` also switch cuDNN to deterministic kernels (no autotuning).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"Expected `seed` as an int, but got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


# --------------------------------------------------------------------------- checkpoints


def state_dict_hash(model: nn.Module | Mapping[str, Any]) -> str:
    """SHA-256 over the sorted state-dict keys, dtypes, shapes and tensor bytes.

    Equal for equal weights on any device and across save/load; a pruned model (with
    ``weight_orig`` / ``weight_mask``) hashes differently from its unpruned original.

    >>> state_dict_hash(nn.Linear(2, 2)) == state_dict_hash(nn.Linear(2, 2))
    False
    """
    if isinstance(model, nn.Module):
        state: Mapping[str, Any] = model.state_dict()
    elif isinstance(model, Mapping):
        state = model
    else:
        raise TypeError(f"Expected an nn.Module or a state dict, but got {type(model).__name__}")
    h = hashlib.sha256()
    for key in sorted(state):
        value = state[key]
        h.update(key.encode())
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        else:
            h.update(repr(value).encode())
    return h.hexdigest()


def save_checkpoint(path: str | os.PathLike, model: nn.Module | None = None, **extra: Any) -> Path:
    """Save ``{"model": state_dict, **extra}`` atomically (temporary file + ``os.replace``).

    ``extra`` may hold optimizer / scheduler state dicts, epoch, history and the like
    (tensors, numbers, strings, lists and dicts, so that loading needs no pickled code).
    A pruned model's ``weight_orig`` and ``weight_mask`` are saved as they are.

    Returns:
        The path written.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"Expected `path` as a str or path, but got {type(path).__name__}")
    if model is not None and not isinstance(model, nn.Module):
        raise TypeError(f"Expected `model` as an nn.Module or None, but got {type(model).__name__}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(extra)
    if model is not None:
        payload["model"] = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _adopt_pruning(model: nn.Module, state: Mapping[str, Any]) -> None:
    """Give ``model`` the ``torch.nn.utils.prune`` reparametrisation its saved state has."""
    modules = dict(model.named_modules())
    for key, mask in state.items():
        if not key.endswith("_mask"):
            continue
        owner, _, pname = key[: -len("_mask")].rpartition(".")
        module = modules.get(owner)
        if module is None or f"{key[: -len('_mask')]}_orig" not in state:
            continue
        if hasattr(module, f"{pname}_mask"):
            continue
        prune.custom_from_mask(module, pname, mask=torch.ones_like(getattr(module, pname)))


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`; optionally restore into objects.

    Loading uses ``weights_only=True`` (no code from the file runs). If the saved model was
    pruned with ``torch.nn.utils.prune`` and ``model`` is not, the same reparametrisation is
    applied to ``model`` first, so masks survive a round trip into a fresh model.

    Returns:
        The whole checkpoint dict.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"Expected `path` as a str or path, but got {type(path).__name__}")
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"Expected a checkpoint file, but {source} does not exist")
    ckpt = torch.load(source, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, dict):
        raise ValueError(f"Expected a checkpoint dict in {source}, but got {type(ckpt).__name__}")
    if model is not None:
        if "model" not in ckpt:
            raise ValueError(f"Expected a 'model' entry in {source}, but got keys {sorted(ckpt)}")
        _adopt_pruning(model, ckpt["model"])
        model.load_state_dict(ckpt["model"])
    if optimizer is not None and "optimizer" in ckpt:
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and "scheduler" in ckpt:
        scheduler.load_state_dict(ckpt["scheduler"])
    return ckpt


def _rng_state(loader: DataLoader) -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "loader": loader.generator.get_state() if loader.generator is not None else None,
    }


def _set_rng_state(state: Mapping[str, Any], loader: DataLoader) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if state["loader"] is not None and loader.generator is not None:
        loader.generator.set_state(state["loader"])


# --------------------------------------------------------------------------- loops


def _as_loader(data: Dataset | DataLoader, batch_size: int) -> DataLoader:
    if isinstance(data, DataLoader):
        return data
    if not isinstance(data, Dataset):
        raise TypeError(f"Expected a torch Dataset or DataLoader, but got {type(data).__name__}")
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

    The model's train/eval mode is restored afterwards; it is moved to ``device``
    (default: where its parameters are).

    >>> from torch.utils.data import TensorDataset
    >>> net = nn.Linear(2, 2)
    >>> evaluate(net, TensorDataset(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long)))["accuracy"] in (0.0, 100.0)
    True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected `model` as an nn.Module, but got {type(model).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"Expected `batch_size` as an int >= 1, but got {batch_size!r}")
    if max_batches is not None and (isinstance(max_batches, bool) or not isinstance(max_batches, int) or max_batches < 1):
        raise ValueError(f"Expected `max_batches` as None or an int >= 1, but got {max_batches!r}")
    loader = _as_loader(data, batch_size)
    dev = select_device(device) if device is not None else next((p.device for p in model.parameters()), torch.device("cpu"))
    model.to(dev)
    was_training = model.training
    model.eval()
    loss_sum, correct, count = 0.0, 0, 0
    try:
        with torch.no_grad():
            for x, y in itertools.islice(loader, max_batches):
                x, y = x.to(dev), y.to(dev)
                out = model(x)
                loss_sum += float(nn.functional.cross_entropy(out, y, reduction="sum"))
                correct += int((out.argmax(1) == y).sum())
                count += int(y.numel())
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("Expected a non-empty `data`, but it gave no examples")
    return {"accuracy": 100.0 * correct / count, "loss": loss_sum / count}


def _epoch(model, loader, optimizer, dev, max_batches, bar) -> tuple[float, float]:
    model.train()
    loss_sum, correct, count = 0.0, 0, 0
    total = len(loader) if max_batches is None else min(len(loader), max_batches)
    batches = bar(total=total, leave=False, desc="batches")
    try:
        for x, y in itertools.islice(loader, total):
            x, y = x.to(dev), y.to(dev)
            optimizer.zero_grad(set_to_none=True)
            out = model(x)
            loss = nn.functional.cross_entropy(out, y)
            loss.backward()
            optimizer.step()
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


_HISTORY_KEYS = ("epoch", "lr", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds")


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
) -> dict[str, Any]:
    """Train ``model`` with SGD, MultiStepLR and cross-entropy, following ``recipe``.

    After each epoch the model is evaluated on ``test_data``; with ``checkpoint_dir``,
    ``best.pt`` (highest test accuracy; without test data, the latest) and ``last.pt``
    (model, optimizer, scheduler, epoch, history, RNG states) are written atomically.
    With ``resume`` and an existing ``last.pt`` training continues from it, so an
    interrupted run ends with the same weights as an uninterrupted one (same device and
    thread count). A model carrying ``torch.nn.utils.prune`` masks keeps them: SGD updates
    ``weight_orig`` and the masked entries of the effective weight stay zero.

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

    Returns:
        History: lists per epoch under ``epoch``, ``lr``, ``train_loss``,
        ``train_accuracy``, ``test_loss``, ``test_accuracy`` (percent), ``seconds``; and
        ``best_epoch``, ``best_accuracy``, ``completed`` (all ``recipe.epochs`` done),
        ``checkpoint_dir``.

    >>> from torch.utils.data import TensorDataset
    >>> data = TensorDataset(torch.randn(64, 4), torch.randint(0, 2, (64,)))
    >>> hist = train(nn.Linear(4, 2), data, data, Recipe(2, 16, 0.1), progress=False)
    >>> len(hist["train_loss"]), hist["completed"]
    (2, True)
    """
    from tqdm.auto import tqdm

    from mintlab.data import make_loader

    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected `model` as an nn.Module, but got {type(model).__name__}")
    rec = get_recipe(recipe)
    if not isinstance(train_data, Dataset):
        raise TypeError(f"Expected `train_data` as a torch Dataset, but got {type(train_data).__name__}")
    for name, value in (("max_batches", max_batches), ("max_epochs", max_epochs)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"Expected `{name}` as None or an int >= 1, but got {value!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"Expected `callback` as a callable or None, but got {type(callback).__name__}")
    dev = select_device(device)
    seed_everything(seed)
    loader = make_loader(train_data, rec.batch_size, shuffle=True, seed=seed, num_workers=num_workers)
    test_loader = None if test_data is None else _as_loader(test_data, 1000)

    ckpt_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
    last_path = None if ckpt_dir is None else ckpt_dir / "last.pt"
    ckpt = None
    if resume and last_path is not None and last_path.is_file():
        # Load the model first: a pruned checkpoint reparametrises `model` before the
        # optimizer collects its parameters, so the saved optimizer state lines up.
        ckpt = load_checkpoint(last_path, model, map_location="cpu")
        if ckpt.get("recipe") != dataclasses.asdict(rec) or ckpt.get("seed") != seed:
            raise ValueError(
                f"Expected {last_path} to continue the same run, but it was written with recipe "
                f"{ckpt.get('recipe')} and seed {ckpt.get('seed')}; got recipe {dataclasses.asdict(rec)} and seed {seed} "
                "(use another checkpoint_dir or resume=False)"
            )
    model.to(dev)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=rec.lr, momentum=rec.momentum, weight_decay=rec.weight_decay, nesterov=rec.nesterov
    )
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(rec.milestones), gamma=rec.gamma)
    history: dict[str, Any] = {k: [] for k in _HISTORY_KEYS}
    history.update(best_epoch=None, best_accuracy=None, completed=False,
                   checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir))
    start = 0
    if ckpt is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        history = ckpt["history"]
        start = int(ckpt["epoch"])
        _set_rng_state(ckpt["rng"], loader)

    bar = tqdm if progress else _null_bar
    stop = rec.epochs if max_epochs is None else min(rec.epochs, max_epochs)
    epochs = bar(total=rec.epochs, initial=start, desc="epochs")
    try:
        for epoch in range(start, stop):
            t0 = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            train_loss, train_acc = _epoch(model, loader, optimizer, dev, max_batches, bar)
            scheduler.step()
            scores = evaluate(model, test_loader, device=dev) if test_loader is not None else {"loss": math.nan, "accuracy": math.nan}
            record = {"epoch": epoch + 1, "lr": lr, "train_loss": train_loss, "train_accuracy": train_acc,
                      "test_loss": scores["loss"], "test_accuracy": scores["accuracy"], "seconds": time.perf_counter() - t0}
            for k in _HISTORY_KEYS:
                history[k].append(record[k])
            improved = history["best_accuracy"] is None or test_loader is None or scores["accuracy"] > history["best_accuracy"]
            if improved:
                history["best_epoch"], history["best_accuracy"] = epoch + 1, scores["accuracy"]
            history["completed"] = epoch + 1 == rec.epochs
            if ckpt_dir is not None:
                meta = {"epoch": epoch + 1, "recipe": dataclasses.asdict(rec), "seed": seed}
                if improved:
                    save_checkpoint(ckpt_dir / "best.pt", model, test_accuracy=scores["accuracy"], test_loss=scores["loss"], **meta)
                save_checkpoint(ckpt_dir / "last.pt", model, optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                                history=history, rng=_rng_state(loader), completed=history["completed"], **meta)
            epochs.update(1)
            epochs.set_postfix(loss=f"{train_loss:.4f}", acc=f"{scores['accuracy']:.2f}", refresh=False)
            if callback is not None:
                callback(epoch + 1, record)
    finally:
        epochs.close()
    return history


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


# --------------------------------------------------------------------------- pretrained cache


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Checkpoint cache: ``cache_dir``, else ``$MINTLAB_CACHE``, else ``~/.cache/mintlab/checkpoints``.

    >>> str(cache_root("/tmp/ckpts"))
    '/tmp/ckpts'
    """
    from mintlab.io import resolve_dir

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
    :func:`mintlab.models.resnet50` with torchvision's weights, as the paper does. The
    paper's MLP runs on MNIST; mintlab defaults to Fashion-MNIST because it is available
    offline (Debian's ``dataset-fashion-mnist``), and it is a harder, less saturated task.

    Args:
        name: ``"mlp"``, ``"vgg16"`` or ``"resnet56"``.
        dataset: ``"mnist"`` / ``"fashion_mnist"`` (MLP) or ``"cifar10"``.
        recipe: a name in :data:`RECIPES` (``"quick"``: a few CPU minutes for the MLP).
        root: data root (see :func:`mintlab.data.data_root`).
        cache_dir: see :func:`cache_root`.
        seed: training seed (part of the cache key).
        device: see :func:`select_device`.
        progress: show progress bars while training.

    Returns:
        ``(model in eval mode on CPU, info)``; info has ``checkpoint`` (path of best.pt),
        ``test_accuracy``, ``epoch``, ``trained_now`` and ``history``.
    """
    from mintlab.data import load_dataset
    from mintlab.models import build_model

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
        history = train(model, train_set, test_set, recipe, checkpoint_dir=run_dir, device=device, seed=seed,
                        resume=True, progress=progress)
        trained_now = True
    ckpt = load_checkpoint(best, model)
    if history is None and last.is_file():
        history = load_checkpoint(last).get("history")
    model.to("cpu").eval()
    return model, {"checkpoint": str(best), "test_accuracy": ckpt.get("test_accuracy"), "epoch": ckpt.get("epoch"),
                   "trained_now": trained_now, "history": history}
