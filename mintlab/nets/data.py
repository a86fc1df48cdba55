"""Datasets, normalisation and the per-class sampler.

One data root holds every dataset in the folder layout ``torchvision.datasets`` uses:

- ``<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``
- ``<root>/FashionMNIST/raw/`` (same file names)
- ``<root>/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}``
- ``<root>/imagenet/{train,val}/<wnid>/*.JPEG`` (or a folder given with ``path=``)

The root is the ``root`` argument, else the environment variable ``MINTLAB_DATA``, else
``~/.cache/mintlab/data``. Offline, Fashion-MNIST comes from the Debian package
``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``): :func:`load_dataset`
prepares it into the root on first use (:func:`prepare_fashion_mnist`).
"""

from __future__ import annotations

import difflib
import gzip
import numbers
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from mintlab.utils.checks import InvalidArgumentError, check_class_labels, check_int
from mintlab.utils.io import resolve_dir, write_atomic

__all__ = [
    "NORMALIZATION",
    "DATASETS",
    "Normalize",
    "DatasetNotFoundError",
    "data_root",
    "prepare_fashion_mnist",
    "load_dataset",
    "dataset_targets",
    "per_class_indices",
    "make_loader",
    "TENSOR_DATASETS",
    "load_tensor_data",
    "as_tensor_dataset",
    "item_label",
]

#: Per-dataset (mean, std) per channel, as commonly used for each benchmark.
NORMALIZATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "fashion_mnist32": ((0.2860,), (0.3530,)),  # Fashion-MNIST's, padded to 32×32 (load_tensor_data)
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}

#: Dataset names :func:`load_dataset` knows.
DATASETS: tuple[str, ...] = ("mnist", "fashion_mnist", "cifar10", "imagenet")

#: Where Debian's ``dataset-fashion-mnist`` puts its IDX files (override: ``MINTLAB_FASHION_MNIST_SOURCE``).
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

_IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_CIFAR_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")
_TV_FOLDER = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
#: How error messages name a dataset's labels.
_LABELS = "the labels of `dataset`"


class Normalize(nn.Module):
    """Channel-wise ``(x - mean) / std`` as a module, so a model can take inputs in [0, 1].

    Attack libraries (torchattacks) and attribution methods want unnormalised inputs;
    wrapping ``nn.Sequential(Normalize(mean, std), model)`` gives them that.

    >>> Normalize((0.5,), (0.25,))(torch.ones(1, 1, 2, 2)).flatten().tolist()
    [2.0, 2.0, 2.0, 2.0]
    """

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"Expected `mean` and `std` of equal length, but got {len(mean)} and {len(std)}")
        if any(s <= 0 for s in std):
            raise ValueError(f"Expected every `std` entry > 0, but got {tuple(std)}")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(x − mean) / std`` over dimension 1 of ``x`` ``(N, C, ...)``; one mean/std entry applies to every channel.

        Raises:
            InvalidArgumentError: ``x`` with fewer than 2 dimensions, or with a channel count other than the
                normalization's (a 3-channel normalization would otherwise broadcast a 1-channel batch to 3).
        """
        c = self.mean.shape[1]
        if x.ndim < 2 or (c != 1 and x.shape[1] != c):
            raise InvalidArgumentError(
                f"Expected inputs (N, {c}, ...) for a normalization of {c} channel(s), but got shape {tuple(x.shape)}"
            )
        shape = (1, c) + (1,) * (x.ndim - 2)
        return (x - self.mean.reshape(shape)) / self.std.reshape(shape)


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is not on disk and could not be downloaded; the message says how to provide it."""


# --------------------------------------------------------------------------- paths


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$MINTLAB_DATA``, else ``~/.cache/mintlab/data``.

    The folder is not created here.

    >>> str(data_root("/tmp/somewhere"))
    '/tmp/somewhere'
    """

    return resolve_dir(root, "root", "MINTLAB_DATA", "~/.cache/mintlab/data")


def _check_name(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"Expected `name` as a str, but got {type(name).__name__}")
    key = name.lower().replace("-", "_")
    key = {"fashionmnist": "fashion_mnist", "cifar_10": "cifar10", "ilsvrc2012": "imagenet"}.get(key, key)
    if key not in DATASETS:
        close = difflib.get_close_matches(key, DATASETS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"Expected `name` in {DATASETS}, but got {name!r}{hint}")
    return key


def _check_split(split: str) -> str:
    if split not in ("train", "test"):
        raise ValueError(f"Expected `split` in ('train', 'test'), but got {split!r}")
    return split


# --------------------------------------------------------------------------- Fashion-MNIST from Debian


def _fashion_source(source: str | os.PathLike | None) -> Path:
    if source is None:
        source = os.environ.get("MINTLAB_FASHION_MNIST_SOURCE") or DEBIAN_FASHION_MNIST
    return Path(source).expanduser()


def _idx_present(folder: Path) -> bool:
    return all((folder / f).is_file() for f in _IDX_FILES)


def _source_file(source: Path, stem: str) -> Path | None:
    for candidate in (source / f"{stem}.gz", source / stem):
        if candidate.is_file():
            return candidate
    return None


def prepare_fashion_mnist(root: str | os.PathLike | None = None, source: str | os.PathLike | None = None) -> Path:
    """Put Fashion-MNIST's IDX files into ``<root>/FashionMNIST/raw`` from a local copy.

    ``source`` (default ``$MINTLAB_FASHION_MNIST_SOURCE``, else Debian's
    ``/usr/share/datasets/fashion-mnist``) holds the four files, gzipped or not. They are
    decompressed (torchvision reads the uncompressed files) atomically
    (:func:`mintlab.utils.io.write_atomic`), so an interrupted copy never leaves a truncated file. Idempotent: files
    already there are kept.

    Args:
        root: data root (see :func:`data_root`).
        source: folder with ``train-images-idx3-ubyte.gz`` & co.

    Returns:
        The ``raw`` folder.

    Raises:
        DatasetNotFoundError: the source folder lacks one of the four files.
    """
    raw = data_root(root) / "FashionMNIST" / "raw"
    if _idx_present(raw):
        return raw
    src = _fashion_source(source)
    missing = [stem for stem in _IDX_FILES if _source_file(src, stem) is None]
    if missing:
        raise DatasetNotFoundError(
            f"Dataset 'fashion_mnist' not found: {src} lacks {', '.join(f + '.gz' for f in missing)}. "
            "Install it with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or point "
            "MINTLAB_FASHION_MNIST_SOURCE at a folder holding the four IDX .gz files."
        )
    raw.mkdir(parents=True, exist_ok=True)
    for stem in _IDX_FILES:
        target = raw / stem
        if target.is_file():
            continue
        src_file = _source_file(src, stem)
        if src_file is None:  # checked above; only a concurrent deletion gets here
            raise DatasetNotFoundError(f"Dataset 'fashion_mnist' file {stem}.gz vanished from {src}")
        opener = gzip.open if src_file.suffix == ".gz" else open
        with opener(src_file, "rb") as fin:
            write_atomic(target, lambda fout, fin=fin: shutil.copyfileobj(fin, fout, length=1 << 20))
    return raw


# --------------------------------------------------------------------------- loading


def _transform(name: str, split: str, normalize: bool, augment: bool):
    from torchvision import transforms as T

    steps: list[Any] = []
    if name == "imagenet":
        if split == "train" and augment:
            steps += [T.RandomResizedCrop(224), T.RandomHorizontalFlip()]
        else:
            steps += [T.Resize(256), T.CenterCrop(224)]
    elif name == "cifar10" and split == "train" and augment:
        steps += [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()]
    steps.append(T.ToTensor())
    if normalize:
        mean, std = NORMALIZATION[name]
        steps.append(T.Normalize(mean, std))
    return T.Compose(steps)


def _missing_message(name: str, looked_in: Sequence[Path], reason: str = "") -> str:
    where = ", ".join(str(p) for p in looked_in)
    how = {
        "mnist": "let torchvision download it (download=True, needs internet), or put the four IDX files "
        "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; "
        "uncompressed) in <root>/MNIST/raw/",
        "fashion_mnist": "install Debian's package with `apt-get install dataset-fashion-mnist` (files in "
        f"{DEBIAN_FASHION_MNIST}), or set MINTLAB_FASHION_MNIST_SOURCE to a folder holding the four IDX .gz "
        "files, or let torchvision download it (download=True, needs internet), or put the uncompressed "
        "IDX files in <root>/FashionMNIST/raw/",
        "cifar10": "let torchvision download it (download=True, needs internet), or extract "
        "cifar-10-python.tar.gz into <root> so that <root>/cifar-10-batches-py/ holds data_batch_1..5, "
        "test_batch and batches.meta",
        "imagenet": "it cannot be downloaded; lay it out as an ImageFolder, <root>/imagenet/train/<wnid>/*.JPEG "
        "and <root>/imagenet/val/<wnid>/*.JPEG (val sorted into class folders), or pass "
        "path=<folder holding train/ and val/>",
    }[name]
    reason = f" ({reason})" if reason else ""
    return (
        f"Dataset {name!r} not found in {where}{reason}. To provide it: {how}. "
        "Data root: argument `root`, else $MINTLAB_DATA, else ~/.cache/mintlab/data."
    )


def _present(name: str, root: Path) -> bool:
    if name in _TV_FOLDER:
        return _idx_present(root / _TV_FOLDER[name] / "raw")
    return all((root / "cifar-10-batches-py" / f).is_file() for f in (*_CIFAR_FILES, "batches.meta"))


def _tensor_getitem(base: type):
    """MNIST-family fast path: ``ToTensor`` + ``Normalize`` on the uint8 tensor, without PIL.

    The same float32 operations as torchvision's transforms (``x / 255``, then
    ``(x - mean) / std``), so the values are identical, and several times faster per item.
    Used only while ``transform`` is still the one :func:`load_dataset` set.
    """

    def __getitem__(self, index: int):
        if self.transform is not self._mintlab_transform or self.target_transform is not None:
            return base.__getitem__(self, index)
        x = self.data[index].unsqueeze(0).float().div(255)
        if self._mintlab_stats is not None:
            mean, std = self._mintlab_stats
            x = x.sub(mean).div(std)
        return x, int(self.targets[index])

    return __getitem__


def _tv_class(name: str):
    """torchvision's dataset class for ``name``, specialised for mintlab (built once, module-level)."""
    from torchvision import datasets

    cls_name = {"mnist": "_MNIST", "fashion_mnist": "_FashionMNIST", "cifar10": "_CIFAR10"}[name]
    if cls_name in globals():
        return globals()[cls_name]
    if name in _TV_FOLDER:
        base = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
        namespace = {
            "__getitem__": _tensor_getitem(base),
            # torchvision derives the folder from the class name; keep the original one.
            "raw_folder": property(lambda self, _f=_TV_FOLDER[name]: os.path.join(self.root, _f, "raw")),
            "processed_folder": property(lambda self, _f=_TV_FOLDER[name]: os.path.join(self.root, _f, "processed")),
            "_mintlab_transform": None,
            "_mintlab_stats": None,
        }
    else:
        base = datasets.CIFAR10
        # Check that the batch files exist but not their MD5: mintlab departs from
        # torchvision here so that a re-packed copy or the tiny test files of the same
        # format load; a download is still verified (torchvision checks the archive's MD5).
        namespace = {
            "train_list": [[f, None] for f in _CIFAR_FILES[:5]],
            "test_list": [[_CIFAR_FILES[5], None]],
            "meta": {"filename": "batches.meta", "key": "label_names", "md5": None},
        }
    namespace.update(__module__=__name__, __qualname__=cls_name)
    cls = type(base.__name__, (base,), namespace)
    globals()[cls_name] = cls  # pickle finds it by its qualified name (module __getattr__ when spawned)
    return cls


_TV_CLASS_NAMES = {"_MNIST": "mnist", "_FashionMNIST": "fashion_mnist", "_CIFAR10": "cifar10"}


def __getattr__(attr: str) -> Any:
    """Build the specialised torchvision classes on first access (e.g. when unpickling in a worker)."""
    if attr in _TV_CLASS_NAMES:
        return _tv_class(_TV_CLASS_NAMES[attr])
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def _load_torchvision(name: str, split: str, root: Path, download: bool | None, transform, normalize: bool) -> Dataset:
    if name == "fashion_mnist" and not _present(name, root) and download is not True:
        src = _fashion_source(None)
        if all(_source_file(src, s) is not None for s in _IDX_FILES):
            prepare_fashion_mnist(root, src)
    looked = [root / _TV_FOLDER[name] / "raw" if name in _TV_FOLDER else root / "cifar-10-batches-py"]
    if name == "fashion_mnist":
        looked.append(_fashion_source(None))
    present = _present(name, root)
    if not present and download is False:
        raise DatasetNotFoundError(_missing_message(name, looked, "download=False"))
    fetch = download is True or not present
    cls = _tv_class(name)
    try:
        dataset = cls(str(root), train=(split == "train"), transform=transform, download=fetch)
    except (OSError, RuntimeError) as err:  # URLError is an OSError; torchvision wraps some in RuntimeError
        if _present(name, root):
            raise
        raise DatasetNotFoundError(_missing_message(name, looked, f"download failed: {err}")) from err
    if name in _TV_FOLDER:
        dataset._mintlab_transform = transform
        if normalize:
            mean, std = NORMALIZATION[name]
            dataset._mintlab_stats = (torch.tensor(mean).view(-1, 1, 1), torch.tensor(std).view(-1, 1, 1))
    return dataset


def _load_imagenet(split: str, root: Path, path: str | os.PathLike | None, transform) -> Dataset:
    from torchvision.datasets import ImageFolder

    base = Path(path).expanduser() if path is not None else root / "imagenet"
    folder = base / ("train" if split == "train" else "val")
    if not folder.is_dir() or not any(p.is_dir() for p in folder.iterdir()):
        raise DatasetNotFoundError(_missing_message("imagenet", [folder]))
    return ImageFolder(str(folder), transform=transform)


def load_dataset(
    name: str,
    split: str = "train",
    *,
    root: str | os.PathLike | None = None,
    download: bool | None = None,
    normalize: bool = True,
    augment: bool = False,
    path: str | os.PathLike | None = None,
) -> Dataset:
    """Load one of :data:`DATASETS` as a torch ``Dataset`` of ``(C×H×W float tensor, int label)``.

    Args:
        name: ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"`` or ``"imagenet"``.
        split: ``"train"`` or ``"test"`` (ImageNet: its ``val`` folder).
        root: data root (see :func:`data_root`).
        download: ``None`` — download with torchvision only when the files are missing;
            ``True`` — let torchvision download (it skips files already there);
            ``False`` — never. ImageNet is never downloaded. A failed download raises
            :class:`DatasetNotFoundError`.
        normalize: apply :data:`NORMALIZATION` after ``ToTensor`` (else values in [0, 1]).
        augment: train split only: CIFAR-10 random crop 32 (pad 4) + flip; ImageNet
            random resized crop 224 + flip. Otherwise ImageNet is resized to 256 and
            centre-cropped to 224.
        path: ImageNet only: the folder holding ``train/`` and ``val/`` (default
            ``<root>/imagenet``).

    Returns:
        A ``torchvision`` dataset (``.targets`` holds the labels).

    Raises:
        DatasetNotFoundError: the files are missing and could not be obtained; the message
            names the dataset, where it looked and how to provide it.

    >>> import tempfile
    >>> try:
    ...     load_dataset("cifar10", root=tempfile.mkdtemp(), download=False)
    ... except DatasetNotFoundError as err:
    ...     print(str(err).split(" not found")[0])
    Dataset 'cifar10'
    """
    key = _check_name(name)
    split = _check_split(split)
    if download not in (None, True, False):
        raise ValueError(f"Expected `download` in (None, True, False), but got {download!r}")
    if path is not None and key != "imagenet":
        raise ValueError(f"Expected `path` only with name='imagenet', but got name={name!r}")
    base = data_root(root)
    transform = _transform(key, split, bool(normalize), bool(augment))
    if key == "imagenet":
        return _load_imagenet(split, base, path, transform)
    return _load_torchvision(key, split, base, download, transform, bool(normalize))


# --------------------------------------------------------------------------- labels and sampling


def dataset_targets(dataset: Dataset) -> np.ndarray:
    """The integer labels of ``dataset`` as an int64 array, without loading images where possible.

    Uses ``.targets`` (torchvision datasets, ``ImageFolder``), the label tensor of a two-tensor
    ``TensorDataset``, and follows ``Subset`` indices; otherwise iterates the dataset, whose items must
    be ``(image, label)`` pairs. Labels are class indices, one per item: integers, or floats whose
    values are all integral (``1.0``; a fractional label is refused rather than truncated into
    another class).

    Raises:
        TypeError: ``dataset`` is not a dataset.
        InvalidArgumentError (a ``ValueError`` and a ``TypeError``): items that are not ``(image, label)``
            pairs (dicts, triples, a ``TensorDataset`` of other than two tensors), or labels that are not
            one integer class index per item (one-hot rows, fractional values, strings).

    >>> dataset_targets(TensorDataset(torch.zeros(3, 2), torch.tensor([2, 0, 1]))).tolist()
    [2, 0, 1]
    >>> dataset_targets(TensorDataset(torch.zeros(2, 2), torch.tensor([0.5, 1.0])))
    Traceback (most recent call last):
    ...
    mintlab.utils.checks.InvalidArgumentError: Expected the labels of `dataset` as integer class indices, but got \
non-integral values such as 0.5 (they would be truncated, merging classes)
    """
    if not isinstance(dataset, Dataset) and not hasattr(dataset, "__getitem__"):
        raise TypeError(f"Expected a torch Dataset, but got {type(dataset).__name__}")
    if isinstance(dataset, Subset):
        parent = dataset_targets(dataset.dataset)
        return parent[np.asarray(dataset.indices, dtype=np.int64)]
    if isinstance(dataset, TensorDataset):
        if len(dataset.tensors) != 2:
            raise InvalidArgumentError(
                "Expected `dataset` items as (image, label) pairs, but got a TensorDataset of "
                f"{len(dataset.tensors)} tensors"
            )
        return check_class_labels(dataset.tensors[1].detach().cpu(), _LABELS, length=len(dataset))
    targets = getattr(dataset, "targets", None)
    if targets is not None:
        if isinstance(targets, torch.Tensor):
            targets = targets.detach().cpu()
        return check_class_labels(targets, _LABELS, length=len(dataset))
    labels = [item_label(dataset[i]) for i in range(len(dataset))]  # type: ignore[arg-type]
    return check_class_labels(labels, _LABELS, length=len(labels))


def _describe_item(item: Any) -> str:
    """How a dataset item that is not an ``(image, label)`` pair looks, for error messages.

    >>> _describe_item((torch.zeros(2), 1, 7))
    'items of 3 elements (Tensor, int, int)'
    """
    if isinstance(item, Mapping):
        return f"dict items with keys {list(item)}"
    if isinstance(item, (tuple, list)):
        return f"items of {len(item)} elements ({', '.join(type(v).__name__ for v in item)})"
    return f"{type(item).__name__} items"


def item_label(item: Any) -> Any:
    """The label of one ``(image, label)`` item, as a number; errors say what the item is instead."""
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise InvalidArgumentError(f"Expected `dataset` items as (image, label) pairs, but got {_describe_item(item)}")
    label = item[1]
    if isinstance(label, (torch.Tensor, np.ndarray)):
        if label.ndim != 0 and tuple(label.shape) != (1,):
            hint = " (one-hot? pass label.argmax())" if label.ndim == 1 else ""
            raise InvalidArgumentError(
                f"Expected the labels of `dataset` as one integer class index per item, but got a label of shape "
                f"{tuple(label.shape)}{hint}"
            )
        return label.reshape(()).item() if isinstance(label, np.ndarray) else label.detach().cpu().reshape(()).item()
    if isinstance(label, (bool, np.bool_, numbers.Real)):
        return label
    raise InvalidArgumentError(
        f"Expected the labels of `dataset` as integer class indices, but got {type(label).__name__} {label!r}"
    )


def per_class_indices(
    targets: Sequence[int] | np.ndarray | torch.Tensor,
    samples_per_class: int,
    *,
    seed: int,
    shuffle: bool = False,
) -> np.ndarray:
    """Draw ``samples_per_class`` indices of every class, without replacement, seeded.

    Order of the result: class by class in ascending label order, and within a class in
    ascending index order; ``shuffle=True`` returns the same set in one seeded random
    order instead. Anything that splits the rows by position (the GMI estimator's
    A / B / S1 halves) must shuffle first, or its splits fall along class lines.

    mintlab departs from the MINT reference code here: it samples *without* replacement
    (the reference draws with replacement, which duplicates points and puts zero-length
    edges into the spanning tree). Per class the draw is a prefix of one seeded
    permutation, so for the same seed a smaller ``samples_per_class`` picks a subset of a
    larger one.

    Args:
        targets: label of every example (1-D, integers).
        samples_per_class: ``m``, how many examples per class (>= 1).
        seed: seed of the draw (same seed → same indices).
        shuffle: return the indices in a seeded random order instead of grouped by class.

    Returns:
        int64 array of ``n_classes * samples_per_class`` distinct indices into ``targets``.

    Raises:
        ValueError: a class has fewer than ``samples_per_class`` examples.

    >>> per_class_indices([0, 1, 0, 1, 0, 1, 2, 2], 2, seed=0).tolist()
    [0, 4, 3, 5, 6, 7]
    """
    if isinstance(targets, torch.Tensor):
        targets = targets.cpu().numpy()
    labels = np.asarray(targets)
    if labels.ndim != 1:
        raise ValueError(f"Expected `targets` as a 1-D sequence of labels, but got shape {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.equal(np.mod(labels, 1), 0)):
            raise ValueError(f"Expected integer `targets`, but got dtype {labels.dtype}")
        labels = labels.astype(np.int64)
    samples_per_class = check_int(samples_per_class, "samples_per_class", minimum=1)
    check_int(seed, "seed")
    rng = np.random.default_rng(int(seed))
    classes, counts = np.unique(labels, return_counts=True)
    short = [(int(c), int(n)) for c, n in zip(classes, counts) if n < samples_per_class]
    if short:
        listed = ", ".join(f"class {c}: {n}" for c, n in short)
        raise ValueError(
            f"Expected at least `samples_per_class`={samples_per_class} examples in every class, "
            f"but got fewer in {listed}"
        )
    chosen = []
    for c in classes:
        idx = np.flatnonzero(labels == c)
        chosen.append(np.sort(idx[rng.permutation(idx.size)[:samples_per_class]]))
    out = np.concatenate(chosen).astype(np.int64) if chosen else np.zeros(0, dtype=np.int64)
    if shuffle:
        out = out[rng.permutation(out.size)]
    return out


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    num_workers: int = 0,
    drop_last: bool = False,
) -> DataLoader:
    """A ``DataLoader`` whose shuffling comes from its own seeded generator.

    The generator is stored on the loader, so iterating it again continues the same
    seeded stream (epoch 2 gets a different order, reproducibly); training saves and
    restores its state to resume mid-run.

    >>> loader = make_loader(TensorDataset(torch.arange(6)), 3, shuffle=True, seed=0)
    >>> [b[0].tolist() for b in loader] == [b[0].tolist() for b in make_loader(loader.dataset, 3, shuffle=True, seed=0)]
    True
    """
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    num_workers = check_int(num_workers, "num_workers", minimum=0)
    check_int(seed, "seed")
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=bool(shuffle),
        num_workers=num_workers,
        drop_last=drop_last,
        generator=generator,
        pin_memory=False,
    )


# --------------------------------------------------------------------------- in-memory tensors

#: Data sets :func:`load_tensor_data` gives as in-memory tensors. ``fashion_mnist32``: Fashion-MNIST normalised,
#: then padded by 2 pixels on every side to 32×32 with the value a black pixel normalises to (1 channel), the
#: offline stand-in for CIFAR-10 with the CIFAR networks (VGG16-BN, ResNet56).
TENSOR_DATASETS = ("fashion_mnist32", "fashion_mnist", "cifar10")


def _stacked(full: Dataset, indices: np.ndarray) -> TensorDataset:
    """``full[indices]`` as one (inputs, labels) TensorDataset; the MNIST family by whole-tensor arithmetic (the
    same float32 operations as the per-item fast path, so the same values)."""
    fast = getattr(full, "_mintlab_transform", None)
    if fast is not None and full.transform is fast and full.target_transform is None:
        idx = torch.as_tensor(indices, dtype=torch.long)
        x = full.data.index_select(0, idx).unsqueeze(1).float().div(255)
        if full._mintlab_stats is not None:
            mean, std = full._mintlab_stats
            x = x.sub(mean).div(std)
        return TensorDataset(x, torch.as_tensor(full.targets, dtype=torch.long).index_select(0, idx))
    xs, ys = zip(*(full[int(i)] for i in indices))
    return TensorDataset(torch.stack([torch.as_tensor(x) for x in xs]), torch.as_tensor(ys, dtype=torch.long))


def as_tensor_dataset(dataset: Dataset) -> TensorDataset:
    """The whole ``dataset`` as one in-memory ``TensorDataset`` of (inputs, int64 labels), the same values
    (training then batches by indexing, :class:`mintlab.nets.batches.TensorLoader`); a TensorDataset passes
    through."""
    if isinstance(dataset, TensorDataset):
        return dataset
    return _stacked(dataset, np.arange(len(dataset)))


def _subset_indices(n: int, size: int | None, seed: int) -> np.ndarray:
    if size is None or size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).permutation(n)[:size])


def load_tensor_data(
    dataset: str,
    *,
    train_size: int | None = None,
    test_size: int | None = None,
    root: str | os.PathLike | None = None,
    download: bool | None = None,
    subset_seed: int = 12345,
    normalize: bool = True,
) -> tuple[TensorDataset, TensorDataset, dict[str, Any]]:
    """Train and test sets of :data:`TENSOR_DATASETS` as in-memory tensors, optionally a seeded random subset.

    * ``"fashion_mnist32"``: Fashion-MNIST normalised, then padded by 2 pixels on every side to 32×32 with
      the value a black pixel normalises to (1 channel): 60,000 / 10,000 images of 1 × 32 × 32.
    * ``"fashion_mnist"``: 28×28, for the MLP.
    * ``"cifar10"``: torchvision's CIFAR-10 (python-pickle batches under ``<root>/cifar-10-batches-py``,
      downloaded by torchvision when missing and there is internet), normalised, no augmentation (training
      augments batch-wise, :func:`mintlab.nets.batches.augment_batch`).

    Args:
        dataset: a name in :data:`TENSOR_DATASETS`.
        train_size, test_size: a seeded random subset of that many images (``None``: all).
        root, download: see :func:`load_dataset`.
        subset_seed: seed of the subsets (the test subset uses ``subset_seed + 1``).
        normalize: apply :data:`NORMALIZATION` (else values in [0, 1], ``fashion_mnist32`` padded with 0, the
            value of a black pixel: what the attacks and calibration of :mod:`mintlab.characterize` take, with
            ``NORMALIZATION[dataset]`` as the model's normalisation).

    Returns:
        ``(train, test, info)``: two ``TensorDataset`` of (float32 images, int64 labels); ``info`` records the
        name, the sizes, the subset seed and the input shape.

    Raises:
        InvalidArgumentError: an unknown dataset or bad sizes.
        DatasetNotFoundError: the files are missing (the message says how to provide them).
    """
    from mintlab.utils.checks import check_choice

    check_choice(dataset, "dataset", TENSOR_DATASETS)
    for name, value in (("train_size", train_size), ("test_size", test_size)):
        check_int(value, name, minimum=10, allow_none=True)
    base = "cifar10" if dataset == "cifar10" else "fashion_mnist"
    out = []
    for split, size, offset in (("train", train_size, 0), ("test", test_size, 1)):
        full = load_dataset(base, split, root=root, download=download, normalize=normalize)
        data = _stacked(full, _subset_indices(len(full), size, subset_seed + offset))
        if dataset == "fashion_mnist32":
            mean, std = NORMALIZATION["fashion_mnist32"] if normalize else ((0.0,), (1.0,))
            data = TensorDataset(
                nn.functional.pad(data.tensors[0], (2, 2, 2, 2), value=(0.0 - mean[0]) / std[0]), data.tensors[1]
            )
        out.append(data)
    train, test = out
    info = {
        "name": dataset,
        "train_size": len(train),
        "test_size": len(test),
        "subset_seed": subset_seed,
        "input_shape": list(train.tensors[0].shape[1:]),
    }
    return train, test, info
