"""What a notebook needs for each network: sensible settings per model, and the network itself.

:func:`notebook_model` gives, for ``"mlp"``, ``"vgg16"`` or ``"resnet56"``, the data set, width, layer pairs,
G choices, γ, skips, m and GradCAM layer a notebook should start from, so that choosing ``model_name`` alone is
enough. :func:`notebook_network` returns the trained network: the evidence's network (``results/networks``,
:mod:`mintlab.experiments.dense`) when it is there, else a small one trained here in CPU minutes on a subset
(and cached), and it says which (``info["source"]``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from torch import nn
from torch.utils.data import Dataset

from mintlab.utils.checks import check_choice

__all__ = ["NotebookModel", "NOTEBOOK_MODELS", "EVIDENCE_NETWORKS", "notebook_model", "notebook_network"]

#: Where the evidence's trained networks live in a checkout (``python -m mintlab.experiments.evidence``).
EVIDENCE_NETWORKS = Path(__file__).resolve().parents[2] / "results" / "networks"


@dataclasses.dataclass(frozen=True)
class NotebookModel:
    """A network's defaults in the notebooks.

    Attributes:
        name: ``"mlp"``, ``"vgg16"``, ``"resnet56"``.
        dataset: the data set it trains on here.
        width: channel multiplier (the evidence's).
        recipe: the evidence's training recipe (its trained networks are looked up under it).
        small_recipe, small_train_size: the network trained here when the evidence's is missing.
        samples_per_class: ``m`` for the notebooks (CPU minutes; the paper's is larger).
        group_options: the G selector's choices, label → a group specification
            (:func:`mintlab.prune.groups.group_specs`); ``groups`` is the first choice's label.
        skip: child layers never pruned.
        gradcam_layer: the convolution GradCAM explains (``None``: input-gradient saliency, for the MLP).
    """

    name: str
    dataset: str
    width: float
    recipe: str
    small_recipe: str
    small_train_size: int | None
    samples_per_class: int
    group_options: dict[str, Any]
    skip: tuple[str, ...] = ()
    gradcam_layer: str | None = None

    @property
    def groups(self) -> str:
        return next(iter(self.group_options))

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """The paper's layer pairs of the network (:func:`mintlab.nets.presets.layer_pairs`)."""
        from mintlab.nets.presets import layer_pairs

        return [tuple(p) for p in layer_pairs(self.name)]


#: The defaults per network (:class:`NotebookModel`).
NOTEBOOK_MODELS: dict[str, NotebookModel] = {
    "mlp": NotebookModel(
        "mlp", "fashion_mnist", 1.0, "quick", "quick", None, 100,
        {"25 groups": [[25, 25], [25, 10]], "50 groups": [[50, 50], [50, 10]],
         "paper (250/100, 300/10)": [[250, 100], [300, 10]]},
        skip=("fc3",),
    ),
    "vgg16": NotebookModel(
        "vgg16", "fashion_mnist32", 0.25, "cnn_fashion", "quick_cnn", 6000, 50,
        {"G = 8": 8, "G = 4": 4, "G = 16 (the paper's 64 × ¼)": 16}, gradcam_layer="features.relu13",
    ),
    "resnet56": NotebookModel(
        "resnet56", "fashion_mnist32", 0.5, "resnet56_fashion", "quick_cnn", 4000, 30,
        {"G = 4": 4, "G = 8 (the paper's 16 × ½ in stage 1)": 8}, gradcam_layer="layer3",
    ),
}  # fmt: skip


def notebook_model(name: str) -> NotebookModel:
    """The notebooks' defaults for ``name`` (:data:`NOTEBOOK_MODELS`).

    Raises:
        InvalidArgumentError: an unknown name.

    >>> notebook_model("vgg16").groups, len(notebook_model("vgg16").pairs)
    ('G = 8', 10)
    """
    return NOTEBOOK_MODELS[check_choice(name, "model_name", tuple(NOTEBOOK_MODELS))]


def notebook_network(
    name: str,
    *,
    width: float | None = None,
    train_size: int | None = None,
    precision: str | None = None,
    seed: int = 0,
    networks: str | Path | None = None,
    progress: bool = True,
) -> tuple[nn.Module, Dataset, Dataset, dict[str, Any]]:
    """The network a notebook works on, with its train and test data.

    A CNN is the evidence's trained network of ``seed`` when ``networks`` (default :data:`EVIDENCE_NETWORKS`)
    holds it finished at this width, else a small one trained here (:func:`mintlab.nets.pretrained.pretrained`
    with the model's ``small_recipe`` on ``train_size`` images, default ``small_train_size``; cached, so only the
    first run trains). The MLP is :func:`~mintlab.nets.pretrained.pretrained`'s (``quick`` recipe).

    Args:
        name: ``"mlp"``, ``"vgg16"`` or ``"resnet56"``.
        width: channel multiplier of a CNN (default: the model's); the MLP takes 1 only.
        train_size: training images of the small network (default: the model's).
        precision: arithmetic of training (:data:`mintlab.nets.recipes.PRECISIONS`).
        seed: the network's seed.
        networks: the folder of trained networks to look in first.
        progress: progress bars while training.

    Returns:
        ``(network in eval mode, train set, test set, info)``; ``info``: ``source`` (``"evidence"`` or
        ``"trained here"``), ``message`` (one line saying which network it is), ``test_accuracy``,
        ``checkpoint``, ``dataset``, ``width``.
    """
    from mintlab.nets.data import load_dataset, load_tensor_data
    from mintlab.nets.pretrained import pretrained

    m = notebook_model(name)
    width = m.width if width is None else float(width)
    if m.name == "mlp":
        net, info = pretrained("mlp", m.dataset, recipe=m.recipe, seed=seed, progress=progress, precision=precision)
        train, test = load_dataset(m.dataset, "train"), load_dataset(m.dataset, "test")
        message = f"the MLP trained with recipe {m.recipe!r} (cached at {info['checkpoint']})"
        return net, train, test, {**info, "source": "trained here", "message": message, "dataset": m.dataset,
                                  "width": 1.0}  # fmt: skip
    folder = EVIDENCE_NETWORKS if networks is None else Path(networks)
    try:
        net, info = pretrained(name, m.dataset, width=width, recipe=m.recipe, seed=seed, cache_dir=folder,
                               train_if_missing=False)  # fmt: skip
        train, test, _ = load_tensor_data(m.dataset)
        message = (
            f"the evidence's {name} (width {width:g}, recipe {m.recipe!r}, all 60,000 images, test accuracy "
            f"{info['test_accuracy']:.2f} %) from {info['checkpoint']}"
        )
        info.update(source="evidence", message=message)
    except FileNotFoundError:
        size = m.small_train_size if train_size is None else int(train_size)
        net, info = pretrained(name, m.dataset, width=width, recipe=m.small_recipe, seed=seed, train_size=size,
                               progress=progress, precision=precision)  # fmt: skip
        train, test, _ = load_tensor_data(m.dataset, train_size=size)
        info.update(source="trained here", message=(
            f"no trained {name} at width {width:g} in {folder}: a small one trained here with recipe "
            f"{m.small_recipe!r} on {size} images (test accuracy {info['test_accuracy']:.2f} %); run "
            f"`python -m mintlab.experiments.evidence --stages dense-{name}` for the evidence's"))  # fmt: skip
    info.update(dataset=m.dataset, width=width)
    return net, train, test, info
