"""The CNN comparison's seed-0 dense network and its activation sample, as the MIPP benchmarks read them.

Not a script: imported by ``bench_mipp.py`` and ``mipp_reference_diagnostic.py`` (run from ``benchmarks/``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def seed0_sample(comparison: str | Path, cache: str | Path, last_pairs: int | None = None) -> dict[str, Any]:
    """The finished comparison ``comparison`` (its JSON file), its seed-0 dense network from ``cache``, and the
    activations of its m-per-class sample (seed 0) at its layer pairs (the last ``last_pairs`` of them, or all).

    Returns ``{"settings", "preset", "train_data", "model", "pairs", "acts"}``.
    """
    from mintlab.experiments.compare import comparison_inputs, load_dense_network
    from mintlab.prune.activations import collect_activations

    settings = json.loads(Path(comparison).read_text())["settings"]
    preset, train_data, _ = comparison_inputs(settings)
    model = load_dense_network(settings, str(cache), 0, preset)
    pairs = list(preset.pairs) if last_pairs is None else list(preset.pairs)[-last_pairs:]
    acts = collect_activations(
        model, train_data, pairs, samples_per_class=settings["samples_per_class"], seed=0, progress=False
    )
    return {
        "settings": settings,
        "preset": preset,
        "train_data": train_data,
        "model": model,
        "pairs": pairs,
        "acts": acts,
    }
