"""Batches from in-memory tensors, and batch-wise augmentation.

A data set that fits in memory as one tensor (Fashion-MNIST: 60,000 × 1 × 32 × 32 float32 is 246 MB) is
batched by indexing that tensor, instead of collating one item at a time through a ``DataLoader``: a profile
of one VGG16-BN ¼ epoch spent ≈ 8 % of it in the ``DataLoader``'s per-item ``__getitem__`` and ``collate``
(docs/training.md). :class:`TensorLoader` does the indexing; :func:`augment_batch` applies the recipe's
augmentation to a whole batch at once, with per-image random draws from the loader's own generator, so a
run is reproducible and resumable (the generator's state is saved with the checkpoint).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import TensorDataset

from mintlab.utils.checks import InvalidArgumentError, check_choice, check_int

__all__ = ["TensorLoader", "augment_batch", "CROP_PADDING"]

#: Pixels of padding before the random crop of ``"crop_flip"`` (He et al. 2016's CIFAR augmentation).
CROP_PADDING = 4


def augment_batch(x: torch.Tensor, augment: str, generator: torch.Generator) -> torch.Tensor:
    """``x`` (B × C × H × W) augmented per image by ``augment`` (:data:`mintlab.nets.recipes.AUGMENTATIONS`).

    ``"crop_flip"``: pad :data:`CROP_PADDING` pixels on every side with the border pixels' values (replicate;
    on the padded Fashion-MNIST 32×32, whose border is black, that is black), take a random H × W crop and
    flip it horizontally with probability ½; the offsets and flips are drawn from ``generator``, per image.
    ``"none"`` returns ``x``. Same shape and dtype as ``x``.

    Raises:
        InvalidArgumentError: an unknown ``augment``, or ``x`` not 4-D with ``"crop_flip"``.

    >>> g = torch.Generator().manual_seed(0)
    >>> augment_batch(torch.arange(32.).reshape(2, 1, 4, 4), "crop_flip", g).shape
    torch.Size([2, 1, 4, 4])
    """
    check_choice(augment, "augment", ("none", "crop_flip"))
    if augment == "none":
        return x
    if x.dim() != 4:
        raise InvalidArgumentError(
            f"Expected images as a B×C×H×W tensor for augment='crop_flip', but got shape {tuple(x.shape)}"
        )
    b, _, h, w = x.shape
    p = CROP_PADDING
    padded = torch.nn.functional.pad(x, (p, p, p, p), mode="replicate")
    dy = torch.randint(0, 2 * p + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * p + 1, (b,), generator=generator)
    flip = torch.rand(b, generator=generator) < 0.5
    cols = torch.arange(w)
    cols = torch.where(flip[:, None], cols.flip(0), cols)[:, :] + dx[:, None]  # B × W, flipped where drawn
    rows = torch.arange(h)[None, :] + dy[:, None]  # B × H
    batch = torch.arange(b)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # B × H × W × C
    return out.permute(0, 3, 1, 2).contiguous()


class TensorLoader:
    """Batches of a :class:`~torch.utils.data.TensorDataset` by indexing its tensors (no per-item collation).

    Iterating gives ``(inputs, labels)`` batches in a random order drawn from :attr:`generator` when
    ``shuffle`` (each pass a new order, reproducibly from the seed), else in order; the training inputs are
    augmented per :func:`augment_batch`. It has the parts of a ``DataLoader`` that mintlab uses: ``dataset``,
    ``batch_size``, ``generator`` and ``len()`` (batches per pass).

    Raises:
        InvalidArgumentError: ``dataset`` not a ``TensorDataset`` of two tensors, a bad ``batch_size``.

    >>> data = TensorDataset(torch.arange(10.).reshape(10, 1), torch.arange(10))
    >>> [y.tolist() for _, y in TensorLoader(data, 4)]
    [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    """

    def __init__(
        self,
        dataset: TensorDataset,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        augment: str = "none",
        drop_last: bool = False,
    ) -> None:
        if not isinstance(dataset, TensorDataset) or len(dataset.tensors) != 2:
            raise InvalidArgumentError(
                f"Expected `dataset` as a TensorDataset of (inputs, labels), but got {type(dataset).__name__}"
            )
        self.dataset = dataset
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.shuffle = bool(shuffle)
        self.augment = check_choice(augment, "augment", ("none", "crop_flip"))
        self.drop_last = bool(drop_last)
        self.generator = torch.Generator()
        self.generator.manual_seed(int(check_int(seed, "seed")))

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        x, y = self.dataset.tensors
        n = len(self.dataset)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        for k in range(len(self)):
            lo, hi = k * self.batch_size, min(n, (k + 1) * self.batch_size)
            if order is None:
                xb, yb = x[lo:hi], y[lo:hi]
            else:
                idx = order[lo:hi]
                xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            yield augment_batch(xb, self.augment, self.generator), yb
