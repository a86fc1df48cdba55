"""Tiny datasets written in the exact on-disk formats the real ones use.

- MNIST / Fashion-MNIST: IDX files (big-endian header ``0x0000 08 <ndim>``, then the
  dimensions as uint32, then uint8 data), uncompressed in ``<root>/<Folder>/raw`` as
  torchvision keeps them, or gzipped as Debian's ``dataset-fashion-mnist`` ships them.
- CIFAR-10: the python version's pickled batches (``data``: uint8 (n, 3072), row =
  1024 red, 1024 green, 1024 blue values in row-major order; ``labels``: list of int) and
  ``batches.meta`` (``label_names``).
- ImageNet: an ``ImageFolder`` tree ``<split>/<wnid>/*.png``.

Every image's content is derived from ``seed`` so tests can check pixels round-trip.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR_LABELS = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8) in IDX format."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def fake_idx_arrays(n: int, *, seed: int, classes: int = 10, side: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, side, side) uint8 and balanced labels (n,) uint8."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)
    labels = (np.arange(n) % classes).astype(np.uint8)
    rng.shuffle(labels)
    return images, labels


def write_idx_dataset(folder: Path, *, n_train: int = 20, n_test: int = 10, seed: int = 0, gz: bool = False) -> dict:
    """Write the four IDX files into ``folder``; returns the arrays by split."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for offset, (split, n) in enumerate((("train", n_train), ("test", n_test))):
        images, labels = fake_idx_arrays(n, seed=seed + offset)
        for name, array in zip(IDX_NAMES[split], (images, labels)):
            data = idx_bytes(array)
            if gz:
                with gzip.open(folder / f"{name}.gz", "wb") as fh:
                    fh.write(data)
            else:
                (folder / name).write_bytes(data)
        out[split] = (images, labels)
    return out


def write_fake_mnist(root: Path, *, folder: str = "MNIST", **kwargs) -> dict:
    """A tiny MNIST (or ``folder="FashionMNIST"``) in torchvision's ``<root>/<folder>/raw`` layout."""
    return write_idx_dataset(Path(root) / folder / "raw", **kwargs)


def write_fake_cifar10(root: Path, *, per_batch: int = 4, n_test: int = 10, seed: int = 0) -> dict:
    """A tiny CIFAR-10 in ``<root>/cifar-10-batches-py``; returns HWC uint8 images and labels by split."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    train_images, train_labels = [], []
    for b in range(1, 6):
        images = rng.integers(0, 256, size=(per_batch, 32, 32, 3), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=per_batch)]
        _dump_batch(folder / f"data_batch_{b}", images, labels, f"training batch {b} of 5")
        train_images.append(images)
        train_labels += labels
    test_images = rng.integers(0, 256, size=(n_test, 32, 32, 3), dtype=np.uint8)
    test_labels = [i % 10 for i in range(n_test)]
    _dump_batch(folder / "test_batch", test_images, test_labels, "testing batch 1 of 1")
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({"num_cases_per_batch": per_batch, "label_names": CIFAR_LABELS, "num_vis": 3072}, fh, protocol=2)
    return {"train": (np.concatenate(train_images), train_labels), "test": (test_images, test_labels)}


def _dump_batch(path: Path, images_hwc: np.ndarray, labels: list[int], batch_label: str) -> None:
    rows = images_hwc.transpose(0, 3, 1, 2).reshape(len(images_hwc), 3072)  # R plane, G plane, B plane
    entry = {
        "batch_label": batch_label,
        "labels": labels,
        "data": np.ascontiguousarray(rows),
        "filenames": [f"img_{i}.png" for i in range(len(labels))],
    }
    with open(path, "wb") as fh:
        pickle.dump(entry, fh, protocol=2)


def write_fake_imagenet(
    base: Path,
    *,
    wnids: tuple[str, ...] = ("n01440764", "n01443537"),
    per_class: int = 2,
    size: tuple[int, int] = (40, 30),
    seed: int = 0,
) -> None:
    """``<base>/{train,val}/<wnid>/*.png`` with random RGB images of ``size`` (width, height)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        for wnid in wnids:
            folder = Path(base) / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{wnid}_{i}.png")
