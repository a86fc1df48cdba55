"""What a notebook needs for each network: sensible settings per model, and the network itself.

:func:`notebook_model` gives, for ``"mlp"``, ``"vgg16"``, ``"resnet56"`` (or a CNN registered with
:func:`mintlab.nets.networks.register_network`), the data set, width, layer pairs,
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

from mintlab.utils.checks import check_choice, check_int

__all__ = [
    "NotebookModel",
    "NOTEBOOK_MODELS",
    "EVIDENCE_NETWORKS",
    "SETTINGS",
    "notebook_model",
    "notebook_settings",
    "notebook_network",
    "raw_test_data",
]

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
        gamma: the panel's opening γ cap (fraction of a layer that may go; 1 = no cap).
        prune_percent: what notebooks 3 and 4 remove: under ``allocation`` ``"global"`` the % of the non-skipped
            layers' weights, under ``"mint"`` the % of all parameters (the evidence's levels).
        allocation: how the other methods follow the first (:func:`mintlab.notebook.workflow.compare_methods`):
            ``"global"`` (the MLP: one layer) or ``"mint"`` (the CNNs: MINT's per-layer shares, as the paper).
        caps: notebooks 3 and 4's γ caps, ``{child: cap}`` (VGG16: the paper's 0.45 on conv5–8).
        retrain_recipe: the recipe of the retraining after pruning.
        retrain_epochs: epochs of that retraining.
        retrain_max_batches: batches per retraining epoch (``None``: all of the training set).
        eval_examples: test images behind the panel's live accuracy.
        n_examples: test images notebook 4 attacks and calibrates on.
        test_size: test images the notebooks measure accuracy on (``None``: all), a seeded subset for the CNNs,
            which a 2-core CPU evaluates at ≈ 700 images/s on one thread.
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
    gamma: float = 0.95
    prune_percent: float = 90.0
    allocation: str = "global"
    caps: dict[str, float] = dataclasses.field(default_factory=dict)
    retrain_recipe: str = "quick_retrain"
    retrain_epochs: int = 2
    retrain_max_batches: int | None = None
    eval_examples: int = 2000
    n_examples: int = 1000
    test_size: int | None = None

    @property
    def groups(self) -> str:
        return next(iter(self.group_options))

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """The network's layer pairs (:func:`mintlab.nets.networks.get_network`; the paper's for the built-ins)."""
        from mintlab.nets.networks import get_network

        return list(get_network(self.name).pairs)


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
        prune_percent=50.0, allocation="mint", caps={f"features.conv{k}": 0.45 for k in (5, 6, 7, 8)},
        retrain_recipe="quick_cnn_retrain", retrain_epochs=1, retrain_max_batches=100,
        eval_examples=1000, n_examples=300, test_size=2000,
    ),
    "resnet56": NotebookModel(
        "resnet56", "fashion_mnist32", 0.5, "resnet56_fashion", "quick_cnn", 4000, 30,
        {"G = 4": 4, "G = 8 (the paper's 16 × ½ in stage 1)": 8}, gradcam_layer="layer3",
        prune_percent=52.4, allocation="mint", retrain_recipe="quick_cnn_retrain", retrain_epochs=1,
        retrain_max_batches=60,
        eval_examples=1000, n_examples=200, test_size=2000,
    ),
}  # fmt: skip


def notebook_model(name: str) -> NotebookModel:
    """The notebooks' defaults for ``name``: its entry in :data:`NOTEBOOK_MODELS`, or, for a CNN registered with
    :func:`mintlab.nets.networks.register_network` and nothing more, VGG16's notebook budget on the network's own
    pairs, first data set, recipe, γ caps and GradCAM layer (width ¼, m = 50, G = 8 or 4, 50 % of all parameters
    under MINT's allocation, 100 retraining batches).

    Raises:
        InvalidArgumentError: an unknown name.

    >>> notebook_model("vgg16").groups, len(notebook_model("vgg16").pairs)
    ('G = 8', 10)
    """
    from mintlab.nets.networks import NETWORK_PRESETS

    if name in NOTEBOOK_MODELS:
        return NOTEBOOK_MODELS[name]
    net = NETWORK_PRESETS.get(name) if isinstance(name, str) else None
    if net is None or not net.has_width:
        cnns = tuple(n for n, p in NETWORK_PRESETS.items() if p.has_width and n not in NOTEBOOK_MODELS)
        check_choice(name, "model_name", (*NOTEBOOK_MODELS, *cnns))
    vgg = NOTEBOOK_MODELS["vgg16"]
    return dataclasses.replace(
        vgg, name=name, dataset=net.datasets[0], recipe=net.recipe, group_options={"G = 8": 8, "G = 4": 4},
        gradcam_layer=net.gradcam_layer, caps=dict(net.gamma), skip=tuple(net.skip),
    )  # fmt: skip


#: The notebook parameters :func:`notebook_settings` fills in (``None`` in a notebook's parameters cell).
SETTINGS = ("samples_per_class", "group_options", "groups", "gamma", "skip", "prune_percent", "allocation", "caps",
            "retrain_recipe", "retrain_epochs", "max_batches", "eval_examples", "n_examples",
            "gradcam_layer")  # fmt: skip


def notebook_settings(name: str, **given: Any) -> dict[str, Any]:
    """The notebook parameters of ``name``: each of :data:`SETTINGS` that is ``None`` (or not given) takes the
    model's default (:data:`NOTEBOOK_MODELS`); a value given wins.

    ``groups`` is a label of ``group_options`` (notebook 2's G selector); ``group_spec`` is what it stands for
    (notebooks 3 and 4 take a specification: a label, or a spec for :func:`mintlab.prune.groups.group_specs`).
    ``max_batches`` is the model's ``retrain_max_batches``. ``pairs`` and ``dataset`` come with them.

    Raises:
        InvalidArgumentError: an unknown model, or a setting not in :data:`SETTINGS`.
        ValueError: ``groups`` is not a label of ``group_options``.

    >>> s = notebook_settings("vgg16", samples_per_class=20)
    >>> s["samples_per_class"], s["groups"], s["group_spec"], s["skip"]
    (20, 'G = 8', 8, [])
    """
    from mintlab.utils.checks import InvalidArgumentError

    m = notebook_model(name)
    unknown = sorted(set(given) - set(SETTINGS))
    if unknown:
        raise InvalidArgumentError(f"Expected notebook settings among {list(SETTINGS)}, but got {unknown}")
    defaults = {
        "samples_per_class": m.samples_per_class, "group_options": dict(m.group_options), "groups": None,
        "gamma": m.gamma, "skip": list(m.skip), "prune_percent": m.prune_percent, "allocation": m.allocation,
        "caps": dict(m.caps),
        "retrain_recipe": m.retrain_recipe, "retrain_epochs": m.retrain_epochs, "max_batches": m.retrain_max_batches,
        "eval_examples": m.eval_examples, "n_examples": m.n_examples, "gradcam_layer": m.gradcam_layer,
    }  # fmt: skip
    out = {k: (defaults[k] if given.get(k) is None else given[k]) for k in SETTINGS}
    options = out["group_options"]
    if out["groups"] is None:
        out["groups"] = next(iter(options))
    if isinstance(out["groups"], str):
        if out["groups"] not in options:
            raise ValueError(f"Expected `groups` among {list(options)}, but got {out['groups']!r}")
        out["group_spec"] = options[out["groups"]]
    else:  # a specification given directly (notebooks 3 and 4)
        out["group_spec"] = out["groups"]
    out["skip"] = list(out["skip"])
    out.update(pairs=m.pairs, dataset=m.dataset)
    return out


def raw_test_data(name: str) -> tuple[Dataset, tuple[tuple[float, ...], tuple[float, ...]]]:
    """The test set of ``name``'s data set with values in [0, 1], and the normalisation its networks apply
    first: what :func:`mintlab.characterize.compare.characterize_methods` takes (attacks work in pixel space).

    Returns:
        ``(dataset of (image (C, H, W) in [0, 1], label), (mean, std))`` (:data:`mintlab.nets.data.NORMALIZATION`).
    """
    from mintlab.nets.data import NORMALIZATION, load_dataset, load_tensor_data

    m = notebook_model(name)
    if m.dataset == "fashion_mnist":
        return load_dataset(m.dataset, "test", normalize=False), NORMALIZATION[m.dataset]
    _, test, _ = load_tensor_data(m.dataset, train_size=10, normalize=False)  # the test set is what is used
    return test, NORMALIZATION[m.dataset]


def notebook_network(
    name: str,
    *,
    width: float | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
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
        test_size: a CNN's test images, a seeded subset of the 10,000 (default: the model's ``test_size``; ``0``:
            all). The accuracies the notebooks print are on these; the evidence's network's recorded accuracy
            (``info["test_accuracy"]``) is on all 10,000.
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
    n_test = m.test_size if test_size is None else check_int(test_size, "test_size", minimum=0) or None
    try:
        net, info = pretrained(name, m.dataset, width=width, recipe=m.recipe, seed=seed, cache_dir=folder,
                               train_if_missing=False)  # fmt: skip
        train, test, _ = load_tensor_data(m.dataset, test_size=n_test)
        message = (
            f"the evidence's {name} (width {width:g}, recipe {m.recipe!r}, all 60,000 images, test accuracy "
            f"{info['test_accuracy']:.2f} % on all 10,000) from {info['checkpoint']}"
        )
        info.update(source="evidence", message=message)
    except FileNotFoundError:
        size = m.small_train_size if train_size is None else int(train_size)
        net, info = pretrained(name, m.dataset, width=width, recipe=m.small_recipe, seed=seed, train_size=size,
                               progress=progress, precision=precision)  # fmt: skip
        train, test, _ = load_tensor_data(m.dataset, train_size=size, test_size=n_test)
        info.update(source="trained here", message=(
            f"no trained {name} at width {width:g} in {folder}: a small one trained here with recipe "
            f"{m.small_recipe!r} on {size} images (test accuracy {info['test_accuracy']:.2f} %); run "
            f"`python -m mintlab.experiments.evidence --stages dense-{name}` for the evidence's"))  # fmt: skip
    if n_test is not None:
        info["message"] += f"; this notebook measures on a seeded subset of {len(test)} test images"
    info.update(dataset=m.dataset, width=width, test_size=len(test))
    return net, train, test, info
