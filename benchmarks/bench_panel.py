"""How long one update of notebook 2's pruning panel takes, per part, for the notebooks' networks (issue 24: under
about 200 ms for VGG16-BN ¼ on a 2-core CPU).

One update is what a slider move runs (:meth:`mintlab.notebook.widgets.PruningPanel.refresh`), in its two steps:
the δ threshold over the cached scores and the figure (per-layer bars plus one heat map beyond three pairs,
updated in place and rendered to PNG), which reach the front end first ("figure": the panel has followed the
slider); then the accuracy of the masked network on the held test batch (``eval_examples`` images) into the label
("update": both). "first": building the panel, its figure drawn for the first time. The network is the notebooks' own
(:func:`mintlab.notebook.networks.notebook_network`: the evidence's when present, else a small one trained once);
the scores are magnitude scores (the panel's cost does not depend on the scorer). Each δ of a 9-step grid over the
slider is timed ``--repeats`` times; the figures are medians.

Usage::

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_panel.py
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_panel.py --models vgg16 --eval-examples 500 1000
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def _median_ms(values: list[float]) -> float:
    return 1000.0 * statistics.median(values)


def bench(model_name: str, eval_examples: int, repeats: int) -> dict:
    import matplotlib

    matplotlib.use("Agg")

    from mintlab.notebook.networks import notebook_network, notebook_settings
    from mintlab.notebook.widgets import MaskedEvaluator, PruningPanel
    from mintlab.notebook.workflow import method_scores

    settings = notebook_settings(model_name)
    model, train, test, info = notebook_network(model_name, progress=False)
    scores = method_scores(
        model, train, settings["pairs"], "magnitude", groups=settings["group_spec"],
        samples_per_class=settings["samples_per_class"], dataset_name=settings["dataset"], progress=False,
    )  # fmt: skip
    evaluator = MaskedEvaluator(model, test, max_examples=eval_examples)
    panel = PruningPanel(
        model, lambda label: scores, [settings["groups"]], evaluator=evaluator, delta=0.0, gamma=settings["gamma"],
        skip=settings["skip"],
    )  # fmt: skip
    start = time.perf_counter()
    panel.widget()  # builds the figure once (the first refresh)
    first = time.perf_counter() - start
    options = panel.delta_options()
    grid = [options[round(k * (len(options) - 1) / 8)] for k in range(9)]
    parts: dict[str, list[float]] = {"threshold": [], "draw": [], "accuracy": [], "update": []}
    for _ in range(repeats):
        for d in grid:
            panel.delta = d
            st = panel.refresh()
            parts["threshold"].append(st["threshold_seconds"])
            parts["draw"].append(st["draw_seconds"])
            parts["accuracy"].append(st.get("accuracy_seconds", 0.0))
            parts["update"].append(st["seconds"])
    return {
        "model": model_name,
        "network": info["source"],
        "pairs": len(settings["pairs"]),
        "eval_examples": len(evaluator.y),
        "first_ms": 1000.0 * first,
        **{f"{k}_ms": _median_ms(v) for k, v in parts.items()},
        "draw_max_ms": 1000.0 * max(parts["draw"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mlp", "vgg16", "resnet56"])
    parser.add_argument("--eval-examples", nargs="+", type=int, default=None, help="default: each model's")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from mintlab.notebook.networks import notebook_model

    print(f"torch threads: {torch.get_num_threads()}")
    print(f"{'model':<10} {'network':<13} {'pairs':>5} {'images':>6} {'first':>7} {'threshold':>9} {'figure':>7} "
          f"{'worst':>6} {'accuracy':>8} {'update':>7}  (ms; median over a 9-step δ grid)")  # fmt: skip
    for name in args.models:
        for n in args.eval_examples or [notebook_model(name).eval_examples]:
            r = bench(name, n, args.repeats)
            print(f"{r['model']:<10} {r['network']:<13} {r['pairs']:>5} {r['eval_examples']:>6} {r['first_ms']:>7.0f} "
                  f"{r['threshold_ms']:>9.1f} {r['draw_ms']:>7.1f} {r['draw_max_ms']:>6.0f} {r['accuracy_ms']:>8.1f} "
                  f"{r['update_ms']:>7.1f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
