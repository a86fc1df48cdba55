"""The networks MINT prunes: data, models, the paper's layer pairs and settings, training, checkpoints.

- :mod:`~mintlab.nets.data`: Fashion-MNIST (offline default), MNIST, CIFAR-10, ImageNet; per-class sampling.
- :mod:`~mintlab.nets.models`: the paper's MLP, VGG16-BN, ResNet56, ResNet50.
- :mod:`~mintlab.nets.presets`: their prunable layer pairs and the paper's pruning settings (Appendix B).
- :mod:`~mintlab.nets.recipes`: SGD schedules (Tables B-1..B-3), quick CPU ones, the evidence's CNN recipes.
- :mod:`~mintlab.nets.precision`: bf16 autocast, memory layout and ``torch.compile`` where they pay.
- :mod:`~mintlab.nets.batches`: batches of in-memory tensors and batch-wise augmentation.
- :mod:`~mintlab.nets.train`: train / evaluate / retrain, resumable.
- :mod:`~mintlab.nets.checkpoints`: atomic, ``weights_only`` checkpoints that keep pruning masks.
- :mod:`~mintlab.nets.pretrained`: trained networks, trained once and cached.
"""

from mintlab.nets.batches import TensorLoader, augment_batch
from mintlab.nets.checkpoints import load_checkpoint, load_masked_state_dict, save_checkpoint, state_dict_hash
from mintlab.nets.data import (
    DATASETS,
    NORMALIZATION,
    TENSOR_DATASETS,
    DatasetNotFoundError,
    Normalize,
    data_root,
    dataset_targets,
    load_dataset,
    load_tensor_data,
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
from mintlab.nets.networks import NETWORK_PRESETS, NetworkPreset, get_network, network_names, register_network
from mintlab.nets.precision import TrainingMode, native_bf16, resolve_precision
from mintlab.nets.presets import (
    PAPER_SETTINGS,
    layer_pairs,
    paper_layer_names,
    validate_layer_pairs,
)
from mintlab.nets.pretrained import cache_root, pretrained, pretrained_dir
from mintlab.nets.recipes import PRECISIONS, RECIPES, Recipe, get_recipe, with_precision
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
    "TENSOR_DATASETS",
    "load_tensor_data",
    "TensorLoader",
    "augment_batch",
    "TrainingMode",
    "native_bf16",
    "resolve_precision",
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
    "pretrained_dir",
    "NETWORK_PRESETS",
    "NetworkPreset",
    "get_network",
    "network_names",
    "register_network",
    "PRECISIONS",
    "with_precision",
    "RECIPES",
    "Recipe",
    "get_recipe",
    "evaluate",
    "retrain",
    "train",
]
