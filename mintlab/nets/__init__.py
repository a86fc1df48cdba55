"""The networks MINT prunes: data, models, the paper's layer pairs and settings, training, checkpoints.

- :mod:`~mintlab.nets.data`: Fashion-MNIST (offline default), MNIST, CIFAR-10, ImageNet; per-class sampling.
- :mod:`~mintlab.nets.models`: the paper's MLP, VGG16-BN, ResNet56, ResNet50.
- :mod:`~mintlab.nets.presets`: their prunable layer pairs and the paper's pruning settings (Appendix B).
- :mod:`~mintlab.nets.recipes`: SGD schedules (Tables B-1..B-3) and quick CPU ones.
- :mod:`~mintlab.nets.train`: train / evaluate / retrain, resumable.
- :mod:`~mintlab.nets.checkpoints`: atomic, ``weights_only`` checkpoints that keep pruning masks.
- :mod:`~mintlab.nets.pretrained`: trained networks, trained once and cached.
"""

from mintlab.nets.checkpoints import load_checkpoint, load_masked_state_dict, save_checkpoint, state_dict_hash
from mintlab.nets.data import (
    DATASETS,
    NORMALIZATION,
    DatasetNotFoundError,
    Normalize,
    data_root,
    dataset_targets,
    load_dataset,
    make_loader,
    per_class_indices,
    prepare_fashion_mnist,
)
from mintlab.nets.models import (
    MLP,
    MODELS,
    VGG16BN,
    ResNet56,
    build_model,
    count_parameters,
    resnet50,
    resnet56,
    vgg16_bn,
)
from mintlab.nets.presets import (
    PAPER_SETTINGS,
    layer_pairs,
    paper_layer_names,
    validate_layer_pairs,
)
from mintlab.nets.pretrained import cache_root, pretrained
from mintlab.nets.recipes import RECIPES, Recipe, get_recipe
from mintlab.nets.train import evaluate, retrain, train

__all__ = [
    "load_checkpoint",
    "load_masked_state_dict",
    "save_checkpoint",
    "state_dict_hash",
    "DATASETS",
    "NORMALIZATION",
    "DatasetNotFoundError",
    "Normalize",
    "data_root",
    "dataset_targets",
    "load_dataset",
    "make_loader",
    "per_class_indices",
    "prepare_fashion_mnist",
    "MLP",
    "MODELS",
    "VGG16BN",
    "ResNet56",
    "build_model",
    "count_parameters",
    "resnet50",
    "resnet56",
    "vgg16_bn",
    "PAPER_SETTINGS",
    "layer_pairs",
    "paper_layer_names",
    "validate_layer_pairs",
    "cache_root",
    "pretrained",
    "RECIPES",
    "Recipe",
    "get_recipe",
    "evaluate",
    "retrain",
    "train",
]
