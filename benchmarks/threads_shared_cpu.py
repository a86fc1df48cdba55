"""Training the paper's MLP on a shared CPU: torch threads left at the default vs the count mintlab picks.

Trains the MLP (Fashion-MNIST, batch 60, SGD) for a fixed number of batches, four ways, in one run:
default torch threads (all cores) and ``mintlab.utils.runtime.torch_threads(model)`` (1 for this small
model), each on the machine as it is and with one competing CPU-bound process (``while True: pass``)
started by this script. Prints wall times and the ratio "with competitor / without" per setting.

    PYTHONPATH=$PWD python benchmarks/threads_shared_cpu.py --batches 300

On a machine that other jobs already load, "without" is not idle: say so when quoting the ratios.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import torch
from torch import nn


def train_batches(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batches: int, threads: int) -> float:
    torch.set_num_threads(threads)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for b in range(batches):
        i = (b * 60) % (len(x) - 60)
        opt.zero_grad()
        loss_fn(model(x[i : i + 60]), y[i : i + 60]).backward()
        opt.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=300)
    args = parser.parse_args()

    from mintlab.nets.data import load_dataset
    from mintlab.nets.models import MLP
    from mintlab.utils.runtime import available_cores, torch_threads

    data = load_dataset("fashion_mnist", "train")
    n = 6000
    x = torch.stack([data[i][0] for i in range(n)])
    y = torch.tensor([int(data[i][1]) for i in range(n)])
    torch.manual_seed(0)
    model = MLP()
    settings = {"default": available_cores(), "mintlab": torch_threads(model)}
    train_batches(model, x, y, 20, 1)  # warm-up
    times: dict[tuple[str, bool], float] = {}
    for competitor in (False, True):
        proc = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if competitor else None
        try:
            time.sleep(0.5 if competitor else 0.0)
            for name, threads in settings.items():
                times[(name, competitor)] = train_batches(model, x, y, args.batches, threads)
        finally:
            if proc is not None:
                proc.kill()
                proc.wait()
    print(f"{args.batches} MLP batches, {available_cores()} cores available")
    for name, threads in settings.items():
        alone, busy = times[(name, False)], times[(name, True)]
        print(
            f"  {name:8s} ({threads} torch threads): {alone:6.2f} s without, {busy:6.2f} s with a competitor"
            f"  -> ratio {busy / alone:4.2f}"
        )


if __name__ == "__main__":
    main()
