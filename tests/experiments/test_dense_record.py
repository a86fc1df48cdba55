"""The dense networks' record accumulates seeds: a later call with other seeds keeps the ones recorded."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from mintlab.experiments.dense import _earlier_seeds
from mintlab.nets.recipes import get_recipe


def test_earlier_seeds_are_kept_only_for_the_same_network_data_and_recipe(tmp_path: Path) -> None:
    recipe = dataclasses.asdict(get_recipe("cnn_fashion"))  # tuples: the record on disk holds lists
    out = tmp_path / "dense.json"
    assert _earlier_seeds(out, "vgg16", 0.25, "fashion_mnist32", recipe, (3, 4)) == {}
    nets = {"0": {"test_accuracy": 93.5}, "1": {"test_accuracy": 93.4}, "3": {"test_accuracy": 93.0}}
    record = {"model": "vgg16", "width": 0.25, "dataset": "fashion_mnist32", "recipe": recipe, "networks": nets}
    out.write_text(json.dumps(record))
    assert list(_earlier_seeds(out, "vgg16", 0.25, "fashion_mnist32", recipe, (3, 4))) == ["0", "1"]
    assert _earlier_seeds(out, "vgg16", 0.5, "fashion_mnist32", recipe, (3,)) == {}  # another width
    other = dataclasses.asdict(get_recipe("cnn_fashion", epochs=3))
    assert _earlier_seeds(out, "vgg16", 0.25, "fashion_mnist32", other, (3,)) == {}  # another recipe
