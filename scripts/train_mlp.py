"""Train the paper's MLP on Fashion-MNIST and print its test accuracy and the wall time.

    .venv/bin/python scripts/train_mlp.py                    # quick recipe, 2 threads
    .venv/bin/python scripts/train_mlp.py --recipe mlp       # the paper's 30-epoch recipe

By default the run goes to the checkpoint cache that ``mintlab.nets.pretrained.pretrained`` reads
(``$MINTLAB_CACHE`` or ``~/.cache/mintlab/checkpoints``), so notebooks find it afterwards;
an interrupted run resumes. ``--fresh`` starts over.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from mintlab.nets.checkpoints import load_checkpoint
from mintlab.nets.data import load_dataset
from mintlab.nets.models import MLP, count_parameters
from mintlab.nets.pretrained import cache_root
from mintlab.nets.recipes import RECIPES
from mintlab.nets.train import evaluate, train
from mintlab.utils.runtime import seed_everything


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="quick", choices=sorted(RECIPES))
    parser.add_argument("--dataset", default="fashion_mnist", choices=["fashion_mnist", "mnist"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA when available)")
    parser.add_argument("--root", default=None, help="data root (default $MINTLAB_DATA or ~/.cache/mintlab/data)")
    parser.add_argument("--checkpoint-dir", default=None, help="default: the pretrained() cache folder of this run")
    parser.add_argument("--fresh", action="store_true", help="ignore an existing last.pt and train from scratch")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    ckpt_dir = args.checkpoint_dir or cache_root() / f"mlp_{args.dataset}_{args.recipe}_seed{args.seed}"
    train_set = load_dataset(args.dataset, "train", root=args.root)
    test_set = load_dataset(args.dataset, "test", root=args.root)
    seed_everything(args.seed)  # initial weights too: same seed, same run
    model = MLP()
    t0 = time.perf_counter()
    history = train(
        model,
        train_set,
        test_set,
        args.recipe,
        checkpoint_dir=ckpt_dir,
        device=args.device,
        seed=args.seed,
        resume=not args.fresh,
        progress=not args.no_progress,
    )
    wall = time.perf_counter() - t0
    final = evaluate(model, test_set)
    load_checkpoint(f"{ckpt_dir}/best.pt", model)
    summary = {
        "dataset": args.dataset,
        "recipe": args.recipe,
        "seed": args.seed,
        "parameters": count_parameters(model),
        "threads": torch.get_num_threads(),
        "epochs": len(history["epoch"]),
        "final_test_accuracy": round(final["accuracy"], 2),
        "best_test_accuracy": round(history["best_accuracy"], 2),
        "best_epoch": history["best_epoch"],
        "wall_seconds_this_call": round(wall, 1),
        "seconds_per_epoch": [round(s, 1) for s in history["seconds"]],
        "checkpoint_dir": str(ckpt_dir),
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
