"""Training speed of precision='auto' against 'fp32', measured in one run: images per second and their ratio.

For each network, :func:`mintlab.nets.train.train` runs the same batches of Fashion-MNIST 32×32 (an in-memory
subset, the recipe's augmentation) twice per round, once with ``precision="fp32"`` and once with ``"auto"``, the
rounds alternating so that a change in the machine's load falls on both; the SGD seconds of each are summed
(``history["train_seconds"]``, evaluation excluded). ``auto``'s choice (bf16 autocast where the CPU or GPU has
native bf16, channels_last and torch.compile where timed steps show them faster) is printed with the timings
that made it. Ratios above 1 mean ``auto`` is faster.

Run by hand (minutes):  .venv/bin/python benchmarks/bench_training_precision.py [--models vgg16 resnet56]
[--batches 60] [--rounds 2] [--threads 2]. A long run is needed for ``auto`` to measure at all (runs projected
under ``MEASURE_MIN_SECONDS`` train plain): ``--batches`` × the epochs of the recipe set the projection.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import torch

from mintlab.nets.data import load_tensor_data
from mintlab.nets.models import resnet56, vgg16_bn
from mintlab.nets.precision import native_bf16
from mintlab.nets.recipes import get_recipe
from mintlab.nets.train import train

#: The evidence's networks: VGG16-BN ¼ and ResNet56 ½ with 1 input channel.
NETWORKS = {
    "vgg16": lambda: vgg16_bn(width=0.25, in_channels=1),
    "resnet56": lambda: resnet56(width=0.5, in_channels=1),
}
RECIPES = {"vgg16": "cnn_fashion", "resnet56": "resnet56_fashion"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    parser.add_argument("--batches", type=int, default=60, help="SGD steps per timed run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating fp32 / auto rounds")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    train_set, _, _ = load_tensor_data("fashion_mnist32", train_size=128 * args.batches)
    print(f"CPU native bf16: {native_bf16('cpu')}; torch {torch.__version__}; {args.threads} threads")
    for name in args.models:
        seconds = {"fp32": 0.0, "auto": 0.0}
        modes = {}
        # as many epochs of --batches steps as the full run's steps (60,000 images per epoch), so that auto
        # projects the run's true length and measures what it would measure for it (torch.compile included)
        full = get_recipe(RECIPES[name])
        recipe = dataclasses.replace(
            full, epochs=math.ceil(full.epochs * math.ceil(60000 / full.batch_size) / args.batches)
        )
        for r in range(args.rounds):
            for precision in ("fp32", "auto") if r % 2 == 0 else ("auto", "fp32"):
                torch.manual_seed(0)
                net = NETWORKS[name]()
                t0 = time.perf_counter()
                h = train(
                    net,
                    train_set,
                    None,
                    recipe,
                    precision=precision,
                    max_epochs=1,
                    progress=False,
                    threads=args.threads,
                )
                seconds[precision] += h["train_seconds"][0]
                modes[precision] = h["training_mode"]
                print(
                    f"  {name} round {r} {precision}: {h['train_seconds'][0]:.1f} s SGD, "
                    f"{time.perf_counter() - t0:.1f} s with the mode's measurement"
                )
        images = args.rounds * len(train_set)
        fp32, auto = images / seconds["fp32"], images / seconds["auto"]
        print(
            f"{name}: fp32 {fp32:.0f} img/s, auto {auto:.0f} img/s, auto : fp32 = {auto / fp32:.2f}; "
            f"auto chose {modes['auto']}"
        )


if __name__ == "__main__":
    main()
