"""mintlab.nets.data: offline loading in the real formats, clear errors, the per-class sampler."""

from __future__ import annotations

import gzip
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from torch.utils.data import Subset, TensorDataset

from mintlab.nets.data import (
    DEBIAN_FASHION_MNIST,
    NORMALIZATION,
    DatasetNotFoundError,
    data_root,
    dataset_targets,
    load_dataset,
    make_loader,
    per_class_indices,
    prepare_fashion_mnist,
)
from tests._fakedata import (
    IDX_NAMES,
    write_fake_cifar10,
    write_fake_imagenet,
    write_fake_mnist,
    write_idx_dataset,
)

#: ToTensor maps uint8 v to v / 255 in float32; its rounding error is below this.
PIXEL_ATOL = 1e-6
#: The published Fashion-MNIST train mean/std (0.2860, 0.3530) are rounded to 4 digits.
STATS_ATOL = 6e-5

HAVE_DEBIAN = all((DEBIAN_FASHION_MNIST / f"{n}.gz").is_file() for pair in IDX_NAMES.values() for n in pair)


@pytest.fixture(autouse=True)
def _no_user_env(monkeypatch, tmp_path):
    """Keep tests away from the user's data root and from a real Fashion-MNIST source."""
    monkeypatch.delenv("MINTLAB_DATA", raising=False)
    monkeypatch.setenv("MINTLAB_FASHION_MNIST_SOURCE", str(tmp_path / "no-fashion-source"))


@pytest.fixture(scope="session")
def fashion_root(tmp_path_factory) -> Path:
    """The real Debian Fashion-MNIST prepared once into a temporary data root."""
    if not HAVE_DEBIAN:
        pytest.skip(f"Debian's dataset-fashion-mnist is not installed ({DEBIAN_FASHION_MNIST})")
    root = tmp_path_factory.mktemp("fashion-root")
    prepare_fashion_mnist(root, DEBIAN_FASHION_MNIST)
    return root


# --------------------------------------------------------------------------- root


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_root() == tmp_path / "home" / ".cache" / "mintlab" / "data"
    monkeypatch.setenv("MINTLAB_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    with pytest.raises(TypeError, match="root"):
        data_root(3)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- Fashion-MNIST


def test_prepare_fashion_mnist_from_gz_source_is_idempotent(tmp_path):
    arrays = write_idx_dataset(tmp_path / "src", n_train=30, n_test=10, gz=True)
    raw = prepare_fashion_mnist(tmp_path / "root", tmp_path / "src")
    assert raw == tmp_path / "root" / "FashionMNIST" / "raw"
    for split in arrays:
        img_name, lab_name = IDX_NAMES[split]
        assert (raw / img_name).read_bytes() == gzip.decompress((tmp_path / "src" / f"{img_name}.gz").read_bytes())
    assert not [p for p in raw.iterdir() if p.name.startswith(".")], "temporary files left behind"
    stamp = {p.name: p.stat().st_mtime_ns for p in raw.iterdir()}
    prepare_fashion_mnist(tmp_path / "root", tmp_path / "src")
    assert {p.name: p.stat().st_mtime_ns for p in raw.iterdir()} == stamp


def test_load_fashion_mnist_prepares_from_source_automatically(tmp_path, monkeypatch):
    arrays = write_idx_dataset(tmp_path / "src", n_train=30, n_test=10, gz=True, seed=5)
    monkeypatch.setenv("MINTLAB_FASHION_MNIST_SOURCE", str(tmp_path / "src"))
    ds = load_dataset("fashion_mnist", "test", root=tmp_path / "root", download=False, normalize=False)
    images, labels = arrays["test"]
    assert len(ds) == 10
    x, y = ds[3]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32
    np.testing.assert_allclose(x[0].numpy(), images[3] / 255.0, atol=PIXEL_ATOL)
    assert y == int(labels[3]) and isinstance(y, int)


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("fashion_mnist", root=tmp_path / "root", download=False)
    msg = str(info.value)
    assert "'fashion_mnist'" in msg
    assert str(tmp_path / "root" / "FashionMNIST" / "raw") in msg
    assert str(tmp_path / "no-fashion-source") in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    assert "MINTLAB_FASHION_MNIST_SOURCE" in msg
    with pytest.raises(DatasetNotFoundError, match="lacks"):
        prepare_fashion_mnist(tmp_path / "root", tmp_path / "empty")


def test_real_fashion_mnist_offline(fashion_root):
    train = load_dataset("fashion_mnist", "train", root=fashion_root, download=False, normalize=False)
    test = load_dataset("fashion_mnist", "test", root=fashion_root, download=False)
    assert (len(train), len(test)) == (60_000, 10_000)
    assert np.bincount(dataset_targets(train)).tolist() == [6000] * 10
    assert np.bincount(dataset_targets(test)).tolist() == [1000] * 10
    pixels = train.data.double() / 255.0
    mean, std = NORMALIZATION["fashion_mnist"]
    assert abs(float(pixels.mean()) - mean[0]) < STATS_ATOL
    assert abs(float(pixels.std()) - std[0]) < STATS_ATOL
    x, y = test[0]
    assert x.shape == (1, 28, 28) and 0 <= y < 10


def test_fashion_mnist32_raw_is_the_normalised_set_before_normalising(fashion_root):
    from mintlab.nets.data import load_tensor_data

    train, test, info = load_tensor_data("fashion_mnist32", train_size=50, test_size=40, root=fashion_root)
    raw_train, raw_test, raw_info = load_tensor_data(
        "fashion_mnist32", train_size=50, test_size=40, root=fashion_root, normalize=False
    )
    assert raw_info == info and tuple(raw_test.tensors[0].shape) == (40, 1, 32, 32)
    x = raw_test.tensors[0]
    assert float(x.min()) == 0.0 and float(x.max()) <= 1.0 and torch.all(x[..., :2, :] == 0)  # padded black
    mean, std = NORMALIZATION["fashion_mnist32"]
    for raw, normed in ((raw_train, train), (raw_test, test)):
        assert torch.allclose((raw.tensors[0] - mean[0]) / std[0], normed.tensors[0], atol=1e-6)
        assert torch.equal(raw.tensors[1], normed.tensors[1])


# --------------------------------------------------------------------------- MNIST / CIFAR-10 / ImageNet formats


def test_fake_mnist_through_torchvision_path(tmp_path):
    arrays = write_fake_mnist(tmp_path, n_train=20, n_test=10, seed=3)
    raw = load_dataset("mnist", "train", root=tmp_path, download=False, normalize=False)
    norm = load_dataset("mnist", "train", root=tmp_path, download=False)
    images, labels = arrays["train"]
    assert len(raw) == 20
    np.testing.assert_array_equal(dataset_targets(raw), labels.astype(np.int64))
    (mean,), (std,) = NORMALIZATION["mnist"]
    np.testing.assert_allclose(raw[7][0][0].numpy(), images[7] / 255.0, atol=PIXEL_ATOL)
    np.testing.assert_allclose(norm[7][0][0].numpy(), (images[7] / 255.0 - mean) / std, atol=PIXEL_ATOL / std)


def test_fake_cifar10_pixel_layout(tmp_path):
    arrays = write_fake_cifar10(tmp_path, per_batch=4, n_test=10, seed=1)
    train = load_dataset("cifar10", "train", root=tmp_path, download=False, normalize=False)
    test = load_dataset("cifar10", "test", root=tmp_path, download=False)
    assert (len(train), len(test)) == (20, 10)
    images, labels = arrays["train"]
    x, y = train[13]
    assert x.shape == (3, 32, 32)
    np.testing.assert_allclose(x.numpy(), images[13].transpose(2, 0, 1) / 255.0, atol=PIXEL_ATOL)
    assert y == labels[13]
    mean, std = NORMALIZATION["cifar10"]
    t_images, _ = arrays["test"]
    expected = (t_images[2].transpose(2, 0, 1) / 255.0 - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    np.testing.assert_allclose(test[2][0].numpy(), expected, atol=1e-5)
    aug = load_dataset("cifar10", "train", root=tmp_path, download=False, augment=True)
    assert aug[0][0].shape == (3, 32, 32)


def test_fake_imagenet_folder(tmp_path):
    write_fake_imagenet(tmp_path / "imagenet", per_class=2)
    val = load_dataset("imagenet", "test", root=tmp_path)
    assert len(val) == 4 and val.classes == ["n01440764", "n01443537"]
    x, y = val[3]
    assert x.shape == (3, 224, 224) and y == 1
    write_fake_imagenet(tmp_path / "elsewhere", per_class=1)
    assert len(load_dataset("imagenet", "train", path=tmp_path / "elsewhere")) == 2


# --------------------------------------------------------------------------- missing data errors


@pytest.mark.parametrize(
    ("name", "folder", "how"),
    [
        ("mnist", "MNIST/raw", "train-images-idx3-ubyte"),
        ("cifar10", "cifar-10-batches-py", "cifar-10-python.tar.gz"),
        ("imagenet", "imagenet/val", "<wnid>"),
    ],
)
def test_missing_dataset_message(tmp_path, name, folder, how):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset(name, "test", root=tmp_path, download=False)
    msg = str(info.value)
    assert f"'{name}'" in msg and str(tmp_path / folder) in msg and how in msg
    assert isinstance(info.value, FileNotFoundError)


def test_failed_download_becomes_dataset_not_found(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    calls = []

    def offline(self):
        calls.append(self.root)
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz", URLError("no network"))

    monkeypatch.setattr(tvd.MNIST, "download", offline)
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("mnist", root=tmp_path)  # download=None: tries because the files are missing
    assert calls and "download failed" in str(info.value) and "'mnist'" in str(info.value)
    write_fake_mnist(tmp_path)
    calls.clear()
    assert len(load_dataset("mnist", root=tmp_path)) == 20 and not calls  # present: no download attempt


def test_bad_arguments():
    with pytest.raises(ValueError, match="fashion_mnist"):
        load_dataset("fashion_mnsit")
    with pytest.raises(ValueError, match="split"):
        load_dataset("mnist", "val")
    with pytest.raises(ValueError, match="download"):
        load_dataset("mnist", download="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="path"):
        load_dataset("mnist", path="/tmp")


# --------------------------------------------------------------------------- targets and sampler


def test_dataset_targets_kinds(tmp_path):
    write_fake_mnist(tmp_path)
    ds = load_dataset("mnist", root=tmp_path, download=False)
    expected = np.array([ds[i][1] for i in range(len(ds))])
    np.testing.assert_array_equal(dataset_targets(ds), expected)
    np.testing.assert_array_equal(dataset_targets(Subset(ds, [4, 1, 9])), expected[[4, 1, 9]])
    tensors = TensorDataset(torch.zeros(3, 2), torch.tensor([2, 0, 1]))
    assert dataset_targets(tensors).tolist() == [2, 0, 1]

    class Plain(torch.utils.data.Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return torch.zeros(1), 2 - i

    assert dataset_targets(Plain()).tolist() == [2, 1, 0]


def test_per_class_indices_properties():
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 5, size=400)
    m = 20
    idx = per_class_indices(targets, m, seed=7)
    assert idx.dtype == np.int64 and idx.shape == (5 * m,)
    assert len(set(idx.tolist())) == idx.size, "drawn with replacement"
    np.testing.assert_array_equal(targets[idx], np.repeat(np.arange(5), m))  # grouped class by class
    for c in range(5):
        block = idx[c * m : (c + 1) * m]
        assert np.all(np.diff(block) > 0)  # ascending within a class
    np.testing.assert_array_equal(per_class_indices(targets, m, seed=7), idx)
    assert not np.array_equal(per_class_indices(targets, m, seed=8), idx)
    smaller = per_class_indices(targets, 5, seed=7)
    assert set(smaller.tolist()) <= set(idx.tolist())  # nested draws for one seed
    shuffled = per_class_indices(targets, m, seed=7, shuffle=True)
    assert sorted(shuffled.tolist()) == sorted(idx.tolist()) and not np.array_equal(shuffled, idx)
    np.testing.assert_array_equal(per_class_indices(torch.as_tensor(targets), m, seed=7), idx)


def test_per_class_indices_too_few_examples():
    targets = np.array([0] * 10 + [1] * 3 + [2] * 10)
    with pytest.raises(ValueError, match=r"class 1: 3"):
        per_class_indices(targets, 4, seed=0)
    with pytest.raises(ValueError, match="samples_per_class"):
        per_class_indices(targets, 0, seed=0)
    with pytest.raises(ValueError, match="1-D"):
        per_class_indices(targets.reshape(-1, 1), 2, seed=0)
    with pytest.raises(TypeError, match="seed"):
        per_class_indices(targets, 2, seed=None)  # type: ignore[arg-type]


def test_make_loader_seeded():
    data = TensorDataset(torch.arange(50))

    def order(loader):
        return torch.cat([b[0] for b in loader]).tolist()

    a, b = make_loader(data, 8, shuffle=True, seed=3), make_loader(data, 8, shuffle=True, seed=3)
    first = order(a)
    assert first == order(b)
    assert order(a) != first  # next epoch: a new permutation from the same stream
    assert order(make_loader(data, 8, shuffle=True, seed=4)) != first
    assert order(make_loader(data, 8, shuffle=False)) == list(range(50))
    with pytest.raises(ValueError, match="batch_size"):
        make_loader(data, 0, shuffle=True)
