"""Train the paper's MLP on Fashion-MNIST and record its test accuracy and wall time: the dense-network entry.

A thin entry to ``python -m mintlab.experiments.dense --model mlp``: the network goes to the checkpoint cache
that :func:`mintlab.nets.pretrained.pretrained` reads (``$MINTLAB_CACHE`` or ``~/.cache/mintlab/checkpoints``),
so notebooks find it afterwards; an interrupted run resumes. Every option of that command line is accepted and
wins over the defaults here.

    .venv/bin/python scripts/train_mlp.py                    # quick recipe, seed 0, 2 threads
    .venv/bin/python scripts/train_mlp.py --recipe mlp       # the paper's 30-epoch recipe
"""

from __future__ import annotations

import sys

from mintlab.experiments.dense import main
from mintlab.nets.pretrained import cache_root


def run(argv: list[str]) -> int:
    defaults = {"--dataset": "fashion_mnist", "--recipe": "quick", "--seeds": "0", "--networks": str(cache_root())}
    given = {a.split("=", 1)[0] for a in argv if a.startswith("--")}
    recipe = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--recipe"), defaults["--recipe"])
    defaults["--out"] = str(cache_root() / f"dense_mlp_fashion_mnist_{recipe}.json")
    extra = [x for k, v in defaults.items() if k not in given for x in (k, v)]
    return main(["--model", "mlp", *extra, *argv])


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
