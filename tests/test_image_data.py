"""Image data: each on-disk format is written here in miniature, then loaded and checked."""
import builtins
import gzip
import pickle
import struct
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from mixgan.data import images as image_data
from mixgan.errors import UsageError
from mixgan.data.images import (
    IMAGE_DATASETS, ImageData, import_torchvision, is_image_dataset, load_image_data, read_idx,
)


@pytest.fixture
def own_readers(monkeypatch):
    """Use mixgan's readers whatever torchvision does on this machine."""
    monkeypatch.setattr(image_data, "import_torchvision", lambda: (None, "torchvision is not installed (test)"))


def write_idx(path, array, gz=False):
    array = np.asarray(array, dtype=np.uint8)
    data = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def fake_mnist(folder, part="train", n=5, gz=False, seed=0):
    rng = np.random.RandomState(seed)
    images = rng.randint(0, 256, size=(n, 28, 28)).astype(np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    labels = (np.arange(n) * 3 % 10).astype(np.uint8)
    prefix = "train" if part == "train" else "t10k"
    write_idx(folder / f"{prefix}-images-idx3-ubyte", images, gz)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, gz)
    return images, labels


def one_line(err):
    return "\n" not in str(err.value)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_raw_and_gz(tmp_path, own_readers, gz):
    images, labels = fake_mnist(tmp_path / "MNIST" / "raw", gz=gz)
    data = load_image_data("mnist", data_root=tmp_path)
    assert isinstance(data, ImageData) and len(data) == 5
    assert data.event_shape == (1, 28, 28) and data.num_classes == 10 and data.name == "mnist"
    assert data.images.dtype == torch.float32
    expected = torch.from_numpy(images).float().unsqueeze(1) / 127.5 - 1
    torch.testing.assert_close(data.images, expected)
    assert data.images[0, 0, 0, 0] == -1 and data.images[0, 0, 0, 1] == 1
    assert data.labels.tolist() == labels.tolist()


def test_fashion_mnist_splits_and_resize(tmp_path, own_readers):
    raw = tmp_path / "FashionMNIST" / "raw"
    fake_mnist(raw, "train", n=4, gz=True)
    test_images, _ = fake_mnist(raw, "test", n=3, seed=1)
    test = load_image_data("fashion-mnist", data_root=tmp_path, split="test")
    assert len(test) == 3 and test.split == "test"
    torch.testing.assert_close(test.images, torch.from_numpy(test_images).float().unsqueeze(1) / 127.5 - 1)
    assert len(load_image_data("fashion-mnist", data_root=tmp_path, split="all")) == 7
    big = load_image_data("fashion-mnist", data_root=tmp_path, image_size=32)
    assert big.event_shape == (1, 32, 32) and big.images.min() >= -1 and big.images.max() <= 1


def write_cifar(folder, per_batch=2, n_test=3):
    folder.mkdir(parents=True)
    rng = np.random.RandomState(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = n_test if name == "test_batch" else per_batch
        batch = {b"data": rng.randint(0, 256, size=(n, 3072)).astype(np.uint8),
                 b"labels": [int(v) for v in rng.randint(0, 10, size=n)], b"batch_label": name.encode()}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
        batches[name] = batch
    return batches


def test_cifar10_pickles(tmp_path, own_readers):
    batches = write_cifar(tmp_path / "cifar-10-batches-py")
    data = load_image_data("cifar10", data_root=tmp_path)
    assert len(data) == 10 and data.event_shape == (3, 32, 32) and data.num_classes == 10
    first = batches["data_batch_1"][b"data"][0]
    # channel-major: red plane is the first 1024 bytes, row by row
    torch.testing.assert_close(data.images[0, 0], torch.from_numpy(first[:1024].reshape(32, 32)).float() / 127.5 - 1)
    torch.testing.assert_close(data.images[0, 2, 5, 7], torch.tensor(first[2048 + 5 * 32 + 7] / 127.5 - 1, dtype=torch.float32))
    labels = sum((batches[f"data_batch_{i}"][b"labels"] for i in range(1, 6)), [])
    assert data.labels.tolist() == labels
    test = load_image_data("cifar10", data_root=tmp_path, split="test")
    assert len(test) == 3 and test.labels.tolist() == batches["test_batch"][b"labels"]
    assert data.images.min() >= -1 and data.images.max() <= 1


def test_image_folder_with_classes(tmp_path):
    for cls, colour in [("cat", (255, 0, 0)), ("dog", (0, 0, 255))]:
        (tmp_path / cls / "deeper").mkdir(parents=True)
        Image.new("RGB", (20, 10), colour).save(tmp_path / cls / "a.png")
        Image.new("RGB", (12, 12), colour).save(tmp_path / cls / "deeper" / "b.JPG", quality=100)
    (tmp_path / ".hidden").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / ".hidden" / "skip.png")
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    data = load_image_data(f"folder:{tmp_path}", image_size=8, split="all")
    assert len(data) == 4 and data.event_shape == (3, 8, 8)
    assert data.class_names == ("cat", "dog") and data.num_classes == 2
    assert data.labels.tolist() == [0, 0, 1, 1]
    red, blue = data.images[0], data.images[2]
    assert torch.allclose(red[0], torch.ones(8, 8)) and torch.allclose(red[1:], -torch.ones(2, 8, 8))
    assert torch.allclose(blue[2], torch.ones(8, 8)) and torch.allclose(blue[:2], -torch.ones(2, 8, 8))
    assert data.images.min() >= -1 and data.images.max() <= 1
    assert load_image_data(f"folder:{tmp_path}").event_shape == (3, 64, 64)  # default size


def test_image_folder_grey_flat_centre_crop(tmp_path):
    strip = np.zeros((10, 30), dtype=np.uint8)  # wide image: black | white | black thirds
    strip[:, 10:20] = 255
    Image.fromarray(strip, "L").save(tmp_path / "wide.png")
    Image.new("L", (16, 16), 128).save(tmp_path / "grey.bmp")
    Image.fromarray(np.full((8, 8), 40000, dtype=np.uint16)).save(tmp_path / "x16bit.png")
    data = load_image_data(f"folder:{tmp_path}", image_size=8)
    assert data.event_shape == (1, 8, 8) and data.labels is None and data.num_classes is None
    assert torch.allclose(data.images[2], torch.full((1, 8, 8), (40000 >> 8) / 127.5 - 1))
    wide = data.images[1, 0]  # files sorted: grey.bmp, wide.png
    # the centre crop keeps the white middle third; bicubic edges see a little of the black
    assert torch.allclose(wide[:, 1:7], torch.ones(8, 6)) and wide.min() > 0.8
    assert abs(float(data.images[0].mean()) - (128 / 127.5 - 1)) < 1e-6


def test_folder_split_holds_out_a_tenth(tmp_path):
    for i in range(23):
        Image.new("L", (4, 4), i).save(tmp_path / f"{i:02d}.png")
    train, test = (load_image_data(f"folder:{tmp_path}", image_size=4, split=s) for s in ("train", "test"))
    assert (len(train), len(test)) == (21, 2)
    values = set(train.images[:, 0, 0, 0].tolist()) | set(test.images[:, 0, 0, 0].tolist())
    assert len(values) == 23


def test_folder_errors(tmp_path):
    with pytest.raises(UsageError, match="not a folder"):
        load_image_data(f"folder:{tmp_path / 'nope'}")
    with pytest.raises(UsageError, match="no images"):
        load_image_data(f"folder:{tmp_path}")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(UsageError, match="bad.png"):
        load_image_data(f"folder:{tmp_path}")


def test_missing_files_name_folder_and_files(tmp_path, own_readers):
    with pytest.raises(UsageError) as err:
        load_image_data("mnist", data_root=tmp_path)
    assert str(tmp_path / "MNIST" / "raw") in str(err.value) and one_line(err)
    assert "train-images-idx3-ubyte" in str(err.value) and "train-labels-idx1-ubyte" in str(err.value)
    with pytest.raises(UsageError) as err:
        load_image_data("fashion-mnist", data_root=tmp_path, split="test")
    assert str(tmp_path / "FashionMNIST" / "raw") in str(err.value) and "t10k-images-idx3-ubyte" in str(err.value)
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"")
    with pytest.raises(UsageError) as err:
        load_image_data("cifar10", data_root=tmp_path)
    assert str(tmp_path / "cifar-10-batches-py") in str(err.value) and "data_batch_5" in str(err.value)
    assert one_line(err)


def test_corrupt_files(tmp_path, own_readers):
    raw = tmp_path / "MNIST" / "raw"
    fake_mnist(raw)
    path = raw / "train-images-idx3-ubyte"
    good = path.read_bytes()
    path.write_bytes(b"\x01\x02" + good[2:])
    with pytest.raises(UsageError, match="magic") as err:
        load_image_data("mnist", data_root=tmp_path)
    assert one_line(err) and str(path) in str(err.value)
    path.write_bytes(good[:-5])
    with pytest.raises(UsageError, match="corrupt"):
        load_image_data("mnist", data_root=tmp_path)
    path.write_bytes(b"")
    with pytest.raises(UsageError, match="magic"):
        read_idx(path)
    gz = tmp_path / "x-idx1-ubyte.gz"
    gz.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(UsageError, match="cannot read"):
        read_idx(gz)
    write_idx(raw / "train-labels-idx1-ubyte", np.zeros(4))  # 4 labels for 5 images
    path.write_bytes(good)
    with pytest.raises(UsageError, match="labels"):
        load_image_data("mnist", data_root=tmp_path)
    batches = tmp_path / "cifar-10-batches-py"
    write_cifar(batches)
    (batches / "data_batch_3").write_bytes(b"garbage")
    with pytest.raises(UsageError, match="data_batch_3") as err:
        load_image_data("cifar10", data_root=tmp_path)
    assert one_line(err)


def test_download_without_torchvision_says_why(tmp_path, own_readers):
    with pytest.raises(UsageError, match="torchvision is not installed") as err:
        load_image_data("mnist", data_root=tmp_path, download=True)
    assert one_line(err) and str(tmp_path / "MNIST" / "raw") in str(err.value)
    with pytest.raises(UsageError, match="cifar-10-batches-py"):
        load_image_data("cifar10", data_root=tmp_path, download=True)


def test_unknown_names_and_options():
    with pytest.raises(UsageError) as err:
        load_image_data("imagenet")
    assert all(name in str(err.value) for name in ("digits", "mnist", "fashion-mnist", "cifar10", "folder:PATH"))
    with pytest.raises(UsageError, match="split"):
        load_image_data("digits", split="valid")
    with pytest.raises(UsageError, match="8, 16, 32"):
        load_image_data("digits", image_size=28)
    with pytest.raises(UsageError, match="positive"):
        load_image_data("digits", image_size=0)
    assert is_image_dataset("digits") and is_image_dataset("cifar10") and is_image_dataset("folder:/x")
    assert not is_image_dataset("ring") and not is_image_dataset("folder") and not is_image_dataset(None)
    assert set(IMAGE_DATASETS) == {"digits", "mnist", "fashion-mnist", "cifar10", "folder:PATH"}


def test_digits_offline():
    full = load_image_data("digits", split="all")
    assert len(full) == 1797 and full.num_classes == 10 and full.event_shape == (1, 16, 16)
    assert full.images.min() == -1 and full.images.max() == 1
    assert sorted(set(full.labels.tolist())) == list(range(10))
    train, test = load_image_data("digits"), load_image_data("digits", split="test")
    assert (len(train), len(test)) == (1500, 297)
    # the split is a partition of the full set
    rows = lambda d: sorted(bytes(im.numpy()) for im in d.images)
    assert rows(train) + rows(test) != [] and sorted(rows(train) + rows(test)) == rows(full)
    assert torch.equal(load_image_data("digits", split="test").images, test.images)
    native = load_image_data("digits", image_size=8, split="all")
    from sklearn.datasets import load_digits
    torch.testing.assert_close(native.images[:, 0], torch.as_tensor(load_digits().images, dtype=torch.float32) / 8 - 1)
    assert load_image_data("digits", image_size=32).event_shape == (1, 32, 32)


def test_sampling_is_deterministic_and_cached_per_device():
    images = torch.linspace(-1, 1, 20 * 3 * 4 * 4).reshape(20, 3, 4, 4)
    data = ImageData("tiny", images, labels=torch.arange(20) % 4)
    a = data.sample(64, torch.Generator().manual_seed(3))
    b = data.sample(64, torch.Generator().manual_seed(3))
    c = data.sample(64, torch.Generator().manual_seed(4))
    assert a.shape == (64, 3, 4, 4) and torch.equal(a, b) and not torch.equal(a, c)
    x, y = data.sample_with_labels(64, torch.Generator().manual_seed(3))
    assert torch.equal(x, a)
    idx = ((x[:, 0, 0, 0] + 1) / 2 * (images.numel() - 1) / 48).round().long()
    assert torch.equal(y, idx % 4)
    assert list(data._on) == [torch.device("cpu")]
    first = data._on[torch.device("cpu")][0]
    data.sample(5, torch.Generator())
    assert data._on[torch.device("cpu")][0] is first
    assert ImageData("u", images).sample_with_labels(2, torch.Generator())[1] is None
    with pytest.raises(ValueError):
        ImageData("bad", images[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_sampling_on_cuda_copies_once():
    data = ImageData("tiny", torch.rand(10, 1, 4, 4) * 2 - 1, labels=torch.arange(10))
    gen = torch.Generator(device="cuda").manual_seed(0)
    x, y = data.sample_with_labels(6, gen)
    assert x.is_cuda and y.is_cuda and data.images.device.type == "cpu"
    cached = data._on[gen.device][0]
    assert data.sample(3, gen).is_cuda and data._on[gen.device][0] is cached
    torch.testing.assert_close(x.cpu(), data.images[y.cpu()])


def test_import_torchvision_never_raises(monkeypatch):
    module, reason = import_torchvision()
    assert (module is not None and reason is None) or (module is None and isinstance(reason, str) and reason)
    monkeypatch.setitem(sys.modules, "torchvision", None)  # makes the import raise ImportError
    assert import_torchvision.__wrapped__()[0] is None
    monkeypatch.delitem(sys.modules, "torchvision")
    real_import = builtins.__import__

    def broken(name, *args, **kwargs):
        if name == "torchvision":
            raise RuntimeError("operator torchvision::nms does not exist")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", broken)
    module, reason = import_torchvision.__wrapped__()
    assert module is None and "torchvision::nms does not exist" in reason and "\n" not in reason


class FakeTorchvision:
    """Stands in for a working torchvision: records calls, serves tiny data or fails like it does."""

    def __init__(self, fail=False):
        self.calls = []
        outer = self

        class Dataset:
            def __init__(self, root, train, download):
                outer.calls.append((type(self).__name__, root, train, download))
                if fail:
                    raise RuntimeError("Dataset not found or corrupted.\nYou can use download=True")
                n = 3 if train else 2
                if type(self).__name__ == "CIFAR10":
                    self.data = np.full((n, 32, 32, 3), (0, 255, 0), dtype=np.uint8)  # HWC, green
                else:
                    self.data = torch.zeros(n, 28, 28, dtype=torch.uint8)
                self.targets = list(range(n))

        self.datasets = type("datasets", (), {
            name: type(name, (Dataset,), {}) for name in ("MNIST", "FashionMNIST", "CIFAR10")})


def test_torchvision_loaders_used_when_they_work(tmp_path, monkeypatch):
    tv = FakeTorchvision()
    monkeypatch.setattr(image_data, "import_torchvision", lambda: (tv, None))
    cifar = load_image_data("cifar10", data_root=tmp_path, download=True, split="all")
    assert tv.calls == [("CIFAR10", str(tmp_path), True, True), ("CIFAR10", str(tmp_path), False, True)]
    assert len(cifar) == 5 and cifar.event_shape == (3, 32, 32) and cifar.labels.tolist() == [0, 1, 2, 0, 1]
    assert cifar.images[:, 1].eq(1).all() and cifar.images[:, [0, 2]].eq(-1).all()
    mnist = load_image_data("fashion-mnist", data_root=tmp_path)
    assert mnist.event_shape == (1, 28, 28) and mnist.images.eq(-1).all() and tv.calls[-1][0] == "FashionMNIST"


def test_torchvision_failures(tmp_path, monkeypatch):
    tv = FakeTorchvision(fail=True)
    monkeypatch.setattr(image_data, "import_torchvision", lambda: (tv, None))
    with pytest.raises(UsageError, match="downloading mnist") as err:
        load_image_data("mnist", data_root=tmp_path, download=True)
    assert one_line(err)
    fake_mnist(tmp_path / "MNIST" / "raw", gz=True)  # torchvision reads no .gz; our reader does
    assert len(load_image_data("mnist", data_root=tmp_path)) == 5
    with pytest.raises(UsageError, match="cifar-10-batches-py"):
        load_image_data("cifar10", data_root=tmp_path)
