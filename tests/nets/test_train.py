"""mintlab.nets.train: recipes, a short run that learns, checkpoints (also pruned), exact resume."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn
from torch.nn.utils import prune
from torch.utils.data import Dataset, Subset, TensorDataset

from mintlab.nets.checkpoints import load_checkpoint, save_checkpoint, state_dict_hash
from mintlab.nets.data import (
    DEBIAN_FASHION_MNIST,
    load_dataset,
    per_class_indices,
    prepare_fashion_mnist,
)
from mintlab.nets.models import MLP
from mintlab.nets.pretrained import pretrained
from mintlab.nets.recipes import RECIPES, Recipe, get_recipe
from mintlab.nets.train import evaluate, train
from mintlab.utils.runtime import select_device
from tests._fakedata import IDX_NAMES, write_idx_dataset

#: A short run on separable blobs must at least halve the training loss of its first epoch.
LOSS_DROP_FACTOR = 0.5
#: ... and classify most of the held-out blobs (chance is 25 %).
MIN_BLOB_ACCURACY = 90.0
#: Two short epochs on 2,048 Fashion-MNIST images reach well above chance (10 %); measured 78-81 % (seeds 0-2).
MIN_FASHION_ACCURACY = 65.0
#: Cross-entropy computed two ways (sum / n vs torch's mean) agrees to float32 rounding.
LOSS_ATOL = 1e-5


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: on a shared 2-core machine more threads only spin against each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TINY = Recipe(epochs=3, batch_size=16, lr=0.05, milestones=(2,), gamma=0.1, weight_decay=1e-4, nesterov=True)


def blobs(n: int, *, seed: int, classes: int = 4) -> TensorDataset:
    """Image-shaped (1×28×28) Gaussian blobs, one mean per class: learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, 1, 28, 28, generator=torch.Generator().manual_seed(99))
    y = torch.arange(n) % classes
    x = centers[y] + 1.5 * torch.randn(n, 1, 28, 28, generator=g)
    return TensorDataset(x, y)


@pytest.fixture(scope="module")
def data() -> tuple[TensorDataset, TensorDataset]:
    return blobs(256, seed=1), blobs(128, seed=2)


def small_mlp() -> MLP:
    return MLP(num_classes=4, hidden=(32, 16))


# --------------------------------------------------------------------------- recipes and devices


@pytest.mark.parametrize(
    ("name", "epochs", "batch", "lr", "milestones", "wd", "gamma"),
    [  # Tables B-1 .. B-3 of the paper
        ("mlp", 30, 256, 0.1, (10, 20), 1e-4, 0.1),
        ("vgg16", 300, 128, 0.1, (90, 180, 260), 5e-4, 0.2),
        ("resnet56", 300, 128, 0.01, (150, 225), 2e-4, 0.1),
        ("mlp_retrain", 30, 256, 0.1, (10, 20), 1e-4, 0.1),
        ("vgg16_retrain", 300, 128, 0.1, (90, 180, 260), 5e-4, 0.2),
        ("resnet56_retrain", 300, 128, 0.1, (90, 180, 260), 2e-4, 0.1),
        ("resnet50_retrain", 130, 64, 0.1, (30, 60, 90, 100), 1e-4, 0.1),
    ],
)
def test_paper_recipes(name, epochs, batch, lr, milestones, wd, gamma):
    r = get_recipe(name)
    assert (r.epochs, r.batch_size, r.lr, r.milestones, r.weight_decay, r.gamma) == (
        epochs,
        batch,
        lr,
        milestones,
        wd,
        gamma,
    )
    assert r.momentum == 0.9


def test_recipe_validation():
    assert "quick" in RECIPES and "quick_retrain" in RECIPES
    with pytest.raises(ValueError, match="epochs"):
        Recipe(epochs=0, batch_size=1, lr=0.1)
    with pytest.raises(ValueError, match="milestones"):
        Recipe(epochs=3, batch_size=1, lr=0.1, milestones=(2, 1))
    with pytest.raises(ValueError, match="lr"):
        Recipe(epochs=3, batch_size=1, lr=0.0)
    with pytest.raises(ValueError, match="recipe"):
        get_recipe("fast")
    with pytest.raises(dataclasses.FrozenInstanceError):
        TINY.epochs = 5  # type: ignore[misc]


def test_select_device():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device().type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="device"):
        select_device("not-a-device")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            select_device("cuda")


# --------------------------------------------------------------------------- evaluate


def test_evaluate_matches_direct_computation():
    torch.manual_seed(0)
    net = nn.Linear(5, 3)
    x, y = torch.randn(50, 5), torch.randint(0, 3, (50,))
    net.train()
    got = evaluate(net, TensorDataset(x, y), batch_size=7)
    with torch.no_grad():
        out = net(x)
    assert got["accuracy"] == pytest.approx(100.0 * float((out.argmax(1) == y).float().mean()))
    assert got["loss"] == pytest.approx(float(nn.functional.cross_entropy(out, y)), abs=LOSS_ATOL)
    assert net.training, "train mode not restored"


# --------------------------------------------------------------------------- training


def test_training_lowers_the_loss(data):
    train_set, test_set = data
    model = small_mlp()
    before = evaluate(model, test_set)
    history = train(model, train_set, test_set, TINY, progress=False, seed=0)
    assert len(history["train_loss"]) == TINY.epochs and history["completed"]
    assert history["train_loss"][-1] < LOSS_DROP_FACTOR * history["train_loss"][0]
    assert history["test_loss"][-1] < LOSS_DROP_FACTOR * before["loss"]
    assert history["test_accuracy"][-1] >= MIN_BLOB_ACCURACY
    assert history["lr"] == [0.05, 0.05, pytest.approx(0.005)]  # MultiStepLR at milestone 2


def test_mlp_learns_fashion_mnist_subset(tmp_path):
    if not all((DEBIAN_FASHION_MNIST / f"{n}.gz").is_file() for pair in IDX_NAMES.values() for n in pair):
        pytest.skip(f"Debian's dataset-fashion-mnist is not installed ({DEBIAN_FASHION_MNIST})")
    prepare_fashion_mnist(tmp_path, DEBIAN_FASHION_MNIST)
    train_full = load_dataset("fashion_mnist", "train", root=tmp_path, download=False)
    test_full = load_dataset("fashion_mnist", "test", root=tmp_path, download=False)
    train_set = Subset(train_full, per_class_indices(train_full.targets, 205, seed=0, shuffle=True)[:2048].tolist())
    test_set = Subset(test_full, list(range(1000)))
    torch.manual_seed(0)
    model = MLP()
    before = evaluate(model, test_set)
    history = train(model, train_set, test_set, Recipe(epochs=2, batch_size=64, lr=0.05, nesterov=True), progress=False)
    assert history["test_loss"][-1] < LOSS_DROP_FACTOR * before["loss"]
    assert history["test_accuracy"][-1] >= MIN_FASHION_ACCURACY


def test_same_seed_same_weights(data):
    train_set, test_set = data
    hashes = []
    for seed in (0, 0, 1):
        torch.manual_seed(123)  # the initial weights are the caller's; only training is seeded
        model = small_mlp()
        train(model, train_set, None, TINY, progress=False, seed=seed)
        hashes.append(state_dict_hash(model))
    assert hashes[0] == hashes[1] and hashes[0] != hashes[2]


class CountingDataset(Dataset):
    def __init__(self, base: Dataset) -> None:
        self.base, self.calls = base, 0

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i):
        self.calls += 1
        return self.base[i]


def test_max_batches_limits_each_epoch(data):
    counting = CountingDataset(data[0])
    train(small_mlp(), counting, None, Recipe(epochs=2, batch_size=10, lr=0.01), progress=False, max_batches=3)
    assert counting.calls == 2 * 3 * 10 + 1  # + the one item precision='auto' reads to time a step


# --------------------------------------------------------------------------- checkpoints


def test_state_dict_hash():
    a = small_mlp()
    b = small_mlp()
    b.load_state_dict(a.state_dict())
    assert state_dict_hash(a) == state_dict_hash(b) == state_dict_hash(a.state_dict())
    with torch.no_grad():
        b.fc3.bias[0] += 1e-6
    assert state_dict_hash(a) != state_dict_hash(b)
    with pytest.raises(TypeError):
        state_dict_hash([1, 2])  # type: ignore[arg-type]


def test_checkpoint_round_trip(tmp_path):
    model = small_mlp()
    path = save_checkpoint(tmp_path / "sub" / "m.pt", model, epoch=4, note="x")
    assert [p.name for p in path.parent.iterdir()] == ["m.pt"]  # no temporary file left
    fresh = small_mlp()
    ckpt = load_checkpoint(path, fresh)
    assert (ckpt["epoch"], ckpt["note"]) == (4, "x")
    assert state_dict_hash(fresh) == state_dict_hash(model)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def pruned_mlp(seed: int = 0) -> MLP:
    model = small_mlp()
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(model.fc2.weight.shape, generator=g) > 0.6).float()
    prune.custom_from_mask(model.fc2, "weight", mask)
    return model


def test_pruned_checkpoint_round_trip(tmp_path):
    model = pruned_mlp()
    path = save_checkpoint(tmp_path / "pruned.pt", model)
    fresh = small_mlp()  # not pruned: load_checkpoint applies the same reparametrisation
    load_checkpoint(path, fresh)
    assert hasattr(fresh.fc2, "weight_mask") and hasattr(fresh.fc2, "weight_orig")
    assert torch.equal(fresh.fc2.weight_mask, model.fc2.weight_mask)
    assert state_dict_hash(fresh) == state_dict_hash(model)
    x = torch.randn(3, 784)
    model.eval(), fresh.eval()
    assert torch.equal(model(x), fresh(x))


def test_training_keeps_masks(data, tmp_path):
    model = pruned_mlp()
    mask = model.fc2.weight_mask.clone()
    train(model, data[0], data[1], TINY, progress=False, checkpoint_dir=tmp_path)
    assert torch.equal(model.fc2.weight_mask, mask)
    assert torch.all(model.fc2.weight[mask == 0] == 0)
    assert torch.any(model.fc2.weight[mask == 1] != 0)
    fresh = small_mlp()
    load_checkpoint(tmp_path / "last.pt", fresh)
    assert state_dict_hash(fresh) == state_dict_hash(model)


def test_best_checkpoint_is_the_best_epoch(data, tmp_path):
    history = train(small_mlp(), data[0], data[1], TINY, progress=False, checkpoint_dir=tmp_path)
    best = load_checkpoint(tmp_path / "best.pt")
    accs = history["test_accuracy"]
    assert best["test_accuracy"] == max(accs) == history["best_accuracy"]
    assert best["epoch"] == accs.index(max(accs)) + 1 == history["best_epoch"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]


# --------------------------------------------------------------------------- resume


def uninterrupted(data, tmp_path, model_fn=small_mlp) -> tuple[str, dict]:
    torch.manual_seed(5)
    model = model_fn()
    history = train(model, data[0], data[1], TINY, progress=False, checkpoint_dir=tmp_path / "full", seed=3)
    return state_dict_hash(model), history


def test_resume_after_max_epochs_matches_uninterrupted(data, tmp_path):
    want, full_history = uninterrupted(data, tmp_path)
    torch.manual_seed(5)
    model = small_mlp()
    part = train(model, data[0], data[1], TINY, progress=False, checkpoint_dir=tmp_path / "split", seed=3, max_epochs=1)
    assert len(part["epoch"]) == 1 and not part["completed"]
    torch.manual_seed(77)  # a different process state: resume must not depend on it
    resumed_model = small_mlp()
    history = train(resumed_model, data[0], data[1], TINY, progress=False, checkpoint_dir=tmp_path / "split", seed=3)
    assert state_dict_hash(resumed_model) == want
    assert history["train_loss"] == full_history["train_loss"] and history["completed"]


def test_resume_after_crash_in_callback_pruned(data, tmp_path):
    want, _ = uninterrupted(data, tmp_path, model_fn=pruned_mlp)

    def crash(epoch, record):
        if epoch == 2:
            raise KeyboardInterrupt

    torch.manual_seed(5)
    model = pruned_mlp()
    with pytest.raises(KeyboardInterrupt):
        train(model, data[0], data[1], TINY, progress=False, checkpoint_dir=tmp_path / "crash", seed=3, callback=crash)
    assert load_checkpoint(tmp_path / "crash" / "last.pt")["epoch"] == 2
    fresh = small_mlp()  # unpruned: resuming restores the masks too
    train(fresh, data[0], data[1], TINY, progress=False, checkpoint_dir=tmp_path / "crash", seed=3)
    assert state_dict_hash(fresh) == want


def test_resume_refuses_another_recipe(data, tmp_path):
    train(small_mlp(), data[0], None, TINY, progress=False, checkpoint_dir=tmp_path, max_epochs=1)
    other = Recipe(epochs=3, batch_size=16, lr=0.01)
    with pytest.raises(ValueError, match="same run"):
        train(small_mlp(), data[0], None, other, progress=False, checkpoint_dir=tmp_path)
    history = train(small_mlp(), data[0], None, other, progress=False, checkpoint_dir=tmp_path, resume=False)
    assert history["completed"] and all(math.isnan(a) for a in history["test_accuracy"])


# --------------------------------------------------------------------------- pretrained cache


def test_pretrained_trains_once_then_loads(tmp_path, monkeypatch):
    write_idx_dataset(tmp_path / "src", n_train=60, n_test=20, gz=True)
    monkeypatch.setenv("MINTLAB_FASHION_MNIST_SOURCE", str(tmp_path / "src"))
    monkeypatch.setitem(RECIPES, "quick", Recipe(epochs=2, batch_size=32, lr=0.01))
    kwargs = dict(root=tmp_path / "data", cache_dir=tmp_path / "cache", progress=False)
    model, info = pretrained("mlp", "fashion_mnist", **kwargs)
    assert info["trained_now"] and info["epoch"] in (1, 2)
    assert info["checkpoint"].endswith("mlp_fashion_mnist_quick_seed0/last.pt")  # final weights, not test-picked
    again, info2 = pretrained("mlp", "fashion_mnist", **kwargs)
    assert not info2["trained_now"] and state_dict_hash(again) == state_dict_hash(model)
    assert not again.training
    monkeypatch.setitem(RECIPES, "quick", Recipe(epochs=3, batch_size=32, lr=0.01))
    with pytest.raises(ValueError, match="trained with"):  # the cache holds another "quick"
        pretrained("mlp", "fashion_mnist", **kwargs)
    with pytest.raises(ValueError, match="dataset"):
        pretrained("mlp", "cifar10", **kwargs)
    with pytest.raises(ValueError, match="name"):
        pretrained("resnet50", "imagenet", **kwargs)


def test_evaluate_refuses_labels_outside_the_classes() -> None:
    """1-based labels on a 3-class model: a clear mintlab error, not torch's "Target 3 is out of bounds"."""
    from mintlab.utils.checks import InvalidArgumentError

    net = nn.Linear(2, 3)
    data = TensorDataset(torch.zeros(4, 2), torch.tensor([1, 2, 3, 1]))
    with pytest.raises(InvalidArgumentError, match=r"Expected labels in \[0, 3\) .* but got 3"):
        evaluate(net, data)
