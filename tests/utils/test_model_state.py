"""Every public function that takes a model leaves it as it found it (issue 12, case 3).

The model: a small CNN in *train* mode with one BatchNorm frozen (``bn.eval()``), one parameter frozen
(``requires_grad=False``) and one forward hook of the caller's. Each public function is called on it, then
every module's ``training`` flag, every parameter's ``requires_grad`` / gradient / device, the hooks and
all values of the state dict (weights, BatchNorm running statistics) must be as before.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from mintlab.utils.checks import InvalidArgumentError
from mintlab.utils.model_state import (
    capture_state,
    describe_state,
    preserved_state,
    restore_state,
)

N_CLASSES = 3


def _cnn() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential()
    net.add_module("conv1", nn.Conv2d(1, 4, 3, padding=1))
    net.add_module("bn1", nn.BatchNorm2d(4))
    net.add_module("relu1", nn.ReLU())
    net.add_module("conv2", nn.Conv2d(4, 6, 3, padding=1))
    net.add_module("bn2", nn.BatchNorm2d(6))
    net.add_module("relu2", nn.ReLU())
    net.add_module("pool", nn.AdaptiveAvgPool2d(2))
    net.add_module("flat", nn.Flatten())
    net.add_module("fc1", nn.Linear(24, 10))
    net.add_module("relu3", nn.ReLU())
    net.add_module("fc2", nn.Linear(10, N_CLASSES))
    with torch.no_grad():  # non-trivial running statistics, so an update would show
        net.bn1.running_mean.uniform_(-0.2, 0.2)
        net.bn2.running_var.uniform_(0.5, 1.5)
    net.train()
    net.bn1.eval()  # frozen by the caller
    net.conv1.bias.requires_grad_(False)  # frozen by the caller
    net.fc1.register_forward_hook(lambda *_: None)  # the caller's own hook
    return net


def _data(n: int = 30, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.rand(n, 1, 6, 6, generator=g), torch.arange(n) % N_CLASSES)


PAIRS = [("conv1", "conv2"), ("conv2", "fc1"), ("fc1", "fc2")]


def _snapshot(model: nn.Module) -> tuple[dict, dict]:
    return describe_state(model), {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_unchanged(model: nn.Module, before: tuple[dict, dict], what: str) -> None:
    state, values = _snapshot(model)
    assert state == before[0], f"{what} changed the model's state: " + str(
        {k: (before[0].get(k), state.get(k)) for k in set(state) | set(before[0]) if state.get(k) != before[0].get(k)}
    )
    assert values.keys() == before[1].keys(), f"{what} changed the state dict's keys"
    for key in values:
        assert torch.equal(values[key], before[1][key]), f"{what} changed {key}"


def _calls() -> dict[str, Callable[[nn.Module], object]]:
    """Every public function that takes a model and is not meant to change it, called on it."""
    from mintlab import characterize as ch
    from mintlab.characterize._common import predict_logits
    from mintlab.nets.checkpoints import state_dict_hash
    from mintlab.nets.models import count_parameters
    from mintlab.nets.presets import validate_layer_pairs
    from mintlab.nets.train import evaluate
    from mintlab.notebook.widgets import MaskedEvaluator
    from mintlab.notebook.workflow import method_scores
    from mintlab.prune import metrics
    from mintlab.prune.activations import collect_activations, pair_geometry
    from mintlab.prune.masks import masks_from_scores, weight_masks
    from mintlab.prune.scorers import get_scorer
    from mintlab.prune.scores import compute_scores

    data = _data()
    images, labels = data.tensors
    norm = ((0.5,), (0.25,))
    kw = {"normalization": norm}

    def scores(model, name="mint"):
        return compute_scores(
            model, data, PAIRS, get_scorer(name), groups=(2, 2), samples_per_class=4, seed=0, progress=False
        )

    def masked_evaluator(model):
        s = scores(model, "magnitude")
        ev = MaskedEvaluator(model, data, max_examples=10)
        return ev.accuracy(weight_masks(model, masks_from_scores(s, delta=0.5), s))

    return {
        "evaluate": lambda m: evaluate(m, data),
        "collect_activations": lambda m: collect_activations(
            m, data, PAIRS, samples_per_class=4, seed=0, progress=False
        ),
        "compute_scores(mint)": scores,
        "compute_scores(magnitude)": lambda m: scores(m, "magnitude"),
        "method_scores(random)": lambda m: method_scores(
            m, data, PAIRS, "random", groups=(2, 2), samples_per_class=4, progress=False
        ),
        "pair_geometry": lambda m: pair_geometry(m, PAIRS[1]),
        "validate_layer_pairs": lambda m: validate_layer_pairs(m, PAIRS),
        "count_parameters": count_parameters,
        "state_dict_hash": state_dict_hash,
        "params_pruned_percent": metrics.params_pruned_percent,
        "csr_memory_mb": metrics.csr_memory_mb,
        "disconnected_units": lambda m: metrics.disconnected_units(m, PAIRS),
        "pruning_report": lambda m: metrics.pruning_report(m, PAIRS),
        "MaskedEvaluator": masked_evaluator,
        "predict_logits": lambda m: predict_logits(m, images, **kw),
        "attack_accuracy(ifgsm)": lambda m: ch.attack_accuracy(
            m, images, labels, epsilons=(0.0, 0.05), steps=2, alpha=0.03, progress=False, **kw
        ),
        "adversarial_examples(iterll)": lambda m: ch.adversarial_examples(
            m, images, labels, epsilon=0.05, attack="iterll", steps=2, alpha=0.03, **kw
        ),
        "calibration_summary": lambda m: ch.calibration_summary(m, images, labels, **kw),
        "gradcam": lambda m: ch.gradcam(m, images[:4], layer="conv2", **kw),
        "input_gradient_attribution": lambda m: ch.input_gradient_attribution(m, images[:4], **kw),
        "attribution_maps": lambda m: ch.attribution_maps(m, images[:4], **kw),
        "find_last_conv": ch.find_last_conv,
        "characterization_report": lambda m: ch.characterization_report(
            m, m, data, normalization=norm, epsilons=(0.0, 0.05), n_examples=12, n_gradcam=2, progress=False
        ),
    }


CALLS = list(_calls())


@pytest.mark.parametrize("name", CALLS)
def test_public_function_leaves_the_model_as_found(name: str) -> None:
    model = _cnn()
    before = _snapshot(model)
    assert not model.bn1.training and model.bn2.training  # the setting under test
    _calls()[name](model)
    _assert_unchanged(model, before, name)


def test_train_keeps_the_frozen_batchnorm_frozen_and_restores_modes() -> None:
    """Training changes the weights (its job), but a BatchNorm the caller froze keeps its running statistics,
    and every module's mode is as given afterwards."""
    from mintlab.nets.recipes import Recipe
    from mintlab.nets.train import train

    model = _cnn()
    frozen = {k: v.clone() for k, v in model.bn1.named_buffers()}  # bn.eval() freezes the statistics only
    modes = {n: m.training for n, m in model.named_modules()}
    live_mean = model.bn2.running_mean.clone()
    train(model, _data(), None, Recipe(1, 10, 0.01), progress=False)
    assert {n: m.training for n, m in model.named_modules()} == modes
    for k, v in model.bn1.named_buffers():
        assert torch.equal(v, frozen[k]), f"frozen bn1.{k} was updated"
    assert not torch.equal(model.bn2.running_mean, live_mean)  # the live one did train


def test_preserved_state_restores_everything_even_on_error() -> None:
    model = _cnn()
    before = _snapshot(model)
    with pytest.raises(RuntimeError, match="boom"), preserved_state(model):
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        model.fc2.register_forward_hook(lambda *_: None)
        model.conv2.register_forward_pre_hook(lambda *_: None)
        model(torch.rand(2, 1, 6, 6))
        raise RuntimeError("boom")
    _assert_unchanged(model, before, "the block")


def test_gradients_are_restored() -> None:
    model = _cnn()
    model(torch.rand(2, 1, 6, 6)).sum().backward()
    grad = model.fc2.weight.grad.clone()
    state = capture_state(model)
    model.zero_grad(set_to_none=True)
    restore_state(state)
    assert torch.equal(model.fc2.weight.grad, grad)


def test_state_checks_refuse_non_modules() -> None:
    with pytest.raises(InvalidArgumentError, match="Expected `model` as a torch.nn.Module"):
        capture_state("model")
    with pytest.raises(InvalidArgumentError):
        describe_state(np.zeros(3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a second device")
def test_device_is_restored() -> None:
    from mintlab.nets.train import evaluate

    model = _cnn()
    evaluate(model, _data(), device="cuda")
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert all(b.device.type == "cpu" for b in model.buffers())


def test_checked_forward_names_the_argument_and_keeps_the_error_type() -> None:
    from mintlab.utils.model_state import checked_forward

    with pytest.raises(
        RuntimeError, match=r"Expected `images` the model accepts, but got a batch of shape \(2, 5\)"
    ) as info:
        checked_forward(nn.Linear(3, 2), torch.zeros(2, 5), name="images")
    assert isinstance(info.value.__cause__, RuntimeError)

    class TwoArgs(RuntimeError):
        def __init__(self, code: int, why: str) -> None:
            super().__init__(f"{code}: {why}")

    class Failing(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise TwoArgs(7, "cannot")

    with pytest.raises(TwoArgs, match="^7: cannot$"):  # not rebuildable from a message: raised as it came
        checked_forward(Failing(), torch.zeros(1))
    assert checked_forward(nn.Identity(), torch.ones(2)).tolist() == [1.0, 1.0]
