"""Where one training epoch's time goes: a profile of ``train()`` on part of an epoch, end to end.

Runs :func:`mintlab.nets.train.train` for ``--batches`` SGD steps of VGG16-BN ¼ (or ResNet56 ½) on Fashion-MNIST
32×32 under ``cProfile`` and prints the functions with the most cumulative and own time, the share of the
run spent in the forward/backward pass (``torch.autograd`` and the modules), the optimizer, the batches
(indexing and augmentation) and the per-batch checks, and then the same for ``evaluate`` on the 10,000 test
images and for BatchNorm re-estimation on 1,024 images. ``--loader dataloader`` runs the batches through a
``torch.utils.data.DataLoader`` over the same tensors instead of :class:`mintlab.nets.batches.TensorLoader`,
for the before/after of the data pipeline.

Run by hand:  .venv/bin/python benchmarks/profile_epoch.py [--model vgg16] [--batches 80] [--threads 2]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

import torch
from torch.utils.data import Dataset

from mintlab.nets.data import load_tensor_data
from mintlab.nets.models import resnet56, vgg16_bn
from mintlab.nets.recipes import get_recipe
from mintlab.nets.train import evaluate, train
from mintlab.prune.step import recalibrate_batchnorm


class _PerItem(Dataset):
    """The same tensors behind the generic Dataset interface (what a DataLoader collates item by item)."""

    def __init__(self, data) -> None:
        self.x, self.y = data.tensors

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.x[i], self.y[i]


def _profiled(label: str, fn) -> float:
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    fn()
    prof.disable()
    seconds = time.perf_counter() - t0
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).sort_stats("tottime")
    stats.print_stats(12)
    print(f"=== {label}: {seconds:.1f} s; the functions with the most own time:")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[-1800:])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vgg16", choices=("vgg16", "resnet56"))
    parser.add_argument("--batches", type=int, default=80)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--loader", default="tensor", choices=("tensor", "dataloader"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train_set, test_set, _ = load_tensor_data("fashion_mnist32")
    torch.manual_seed(0)
    net = vgg16_bn(width=0.25, in_channels=1) if args.model == "vgg16" else resnet56(width=0.5, in_channels=1)
    recipe = get_recipe("cnn_fashion" if args.model == "vgg16" else "resnet56_fashion")
    data = train_set if args.loader == "tensor" else _PerItem(train_set)
    seconds = _profiled(
        f"train, {args.batches} batches ({args.loader})",
        lambda: train(
            net,
            data,
            None,
            recipe,
            max_batches=args.batches,
            max_epochs=1,
            progress=False,
            threads=args.threads,
            precision="fp32",
        ),
    )
    print(f"→ {args.batches * recipe.batch_size / seconds:.0f} images/s through train() (fp32, eager)")
    _profiled("evaluate, 10,000 test images", lambda: evaluate(net, test_set))
    _profiled("BatchNorm re-estimation, 1,024 images", lambda: recalibrate_batchnorm(net, train_set, images=1024))


if __name__ == "__main__":
    main()
