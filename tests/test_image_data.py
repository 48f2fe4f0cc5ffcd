"""Image data through torchvision: each standard on-disk format is written here in miniature (real
IDX files, real CIFAR-10 pickles with their checksums registered), then loaded by torchvision's
own dataset classes and checked. Nothing is downloaded: ``--download`` is served from a local
``file://`` mirror."""
import gzip
import hashlib
import pickle
import struct
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import datasets

from mixgan.data.images import IMAGE_DATASETS, ImageData, is_image_dataset, load_image_data
from mixgan.errors import UsageError


def write_idx(path, array):
    array = np.asarray(array, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
                     + array.tobytes())
    return path


def fake_mnist(folder, n_train=5, n_test=3, seed=0):
    """The four IDX files of MNIST's layout; returns {part: (images, labels)}."""
    rng = np.random.RandomState(seed)
    parts = {}
    for part, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.randint(0, 256, size=(n, 28, 28)).astype(np.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255
        labels = (np.arange(n) * 3 % 10).astype(np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)
        parts[part] = images, labels
    return parts


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_cifar(folder, monkeypatch, per_batch=2, n_test=3):
    """CIFAR-10's python batches and batches.meta, with their checksums registered where
    torchvision keeps the official ones (so its integrity check runs, on these files)."""
    folder.mkdir(parents=True)
    rng = np.random.RandomState(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = n_test if name == "test_batch" else per_batch
        batch = {"data": rng.randint(0, 256, size=(n, 3072)).astype(np.uint8),
                 "labels": [int(v) for v in rng.randint(0, 10, size=n)], "batch_label": name}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)  # the official files are Python 2 pickles
        batches[name] = batch
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["airplane"] * 10}, f, protocol=2)
    monkeypatch.setattr(datasets.CIFAR10, "train_list", [[f"data_batch_{i}", md5(folder / f"data_batch_{i}")]
                                                         for i in range(1, 6)])
    monkeypatch.setattr(datasets.CIFAR10, "test_list", [["test_batch", md5(folder / "test_batch")]])
    monkeypatch.setattr(datasets.CIFAR10, "meta", {"filename": "batches.meta", "key": "label_names",
                                                   "md5": md5(folder / "batches.meta")})
    return batches


def one_line(err):
    return "\n" not in str(err.value)


def test_mnist_through_torchvision(tmp_path):
    parts = fake_mnist(tmp_path / "MNIST" / "raw")
    data = load_image_data("mnist", data_root=tmp_path)
    assert isinstance(data, ImageData) and isinstance(data.dataset, datasets.MNIST) and len(data) == 5
    assert data.event_shape == (1, 28, 28) and data.num_classes == 10 and data.name == "mnist"
    images, labels = parts["train"]
    expected = torch.from_numpy(images).float().unsqueeze(1) / 127.5 - 1
    torch.testing.assert_close(data.images, expected)
    assert data.images.dtype == torch.float32
    assert data.images[0, 0, 0, 0] == -1 and data.images[0, 0, 0, 1] == 1
    assert data.labels.tolist() == labels.tolist()
    x, y = data.dataset[3]
    torch.testing.assert_close(x, expected[3]) and y == labels[3]


def test_fashion_mnist_splits_and_resize(tmp_path):
    parts = fake_mnist(tmp_path / "FashionMNIST" / "raw", n_train=4, n_test=3, seed=1)
    test = load_image_data("fashion-mnist", data_root=tmp_path, split="test")
    assert isinstance(test.dataset, datasets.FashionMNIST) and len(test) == 3 and test.split == "test"
    torch.testing.assert_close(test.images, torch.from_numpy(parts["test"][0]).float().unsqueeze(1) / 127.5 - 1)
    both = load_image_data("fashion-mnist", data_root=tmp_path, split="all")
    assert len(both) == 7 and both.labels.tolist() == [*parts["train"][1], *parts["test"][1]]
    big = load_image_data("fashion-mnist", data_root=tmp_path, image_size=32)
    assert big.event_shape == (1, 32, 32) and big.images.shape == (4, 1, 32, 32)
    assert big.images.min() >= -1 and big.images.max() <= 1
    small = load_image_data("fashion-mnist", data_root=tmp_path, image_size=8).images
    # an antialiased shrink averages: each 8x8 pixel is close to the mean of its 3.5x3.5 patch
    assert small.shape == (4, 1, 8, 8) and abs(float(small.mean() - big.images.mean())) < 0.05


def test_cifar10_through_torchvision(tmp_path, monkeypatch):
    batches = write_cifar(tmp_path / "cifar-10-batches-py", monkeypatch)
    data = load_image_data("cifar10", data_root=tmp_path)
    assert isinstance(data.dataset, datasets.CIFAR10)
    assert len(data) == 10 and data.event_shape == (3, 32, 32) and data.num_classes == 10
    first = batches["data_batch_1"]["data"][0]
    # channel-major: red plane is the first 1024 bytes, row by row
    torch.testing.assert_close(data.images[0, 0], torch.from_numpy(first[:1024].reshape(32, 32)).float() / 127.5 - 1)
    torch.testing.assert_close(data.images[0, 2, 5, 7], torch.tensor(first[2048 + 5 * 32 + 7] / 127.5 - 1).float())
    labels = sum((batches[f"data_batch_{i}"]["labels"] for i in range(1, 6)), [])
    assert data.labels.tolist() == labels
    test = load_image_data("cifar10", data_root=tmp_path, split="test")
    assert len(test) == 3 and test.labels.tolist() == batches["test_batch"]["labels"]
    assert data.images.min() >= -1 and data.images.max() <= 1
    assert load_image_data("cifar10", data_root=tmp_path, image_size=16).images.shape == (10, 3, 16, 16)


def test_an_altered_cifar_batch_is_refused_unread(tmp_path, monkeypatch):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar(folder, monkeypatch)

    class Exploit:  # a pickle that would run code when loaded
        def __reduce__(self):
            return (exec, ("raise SystemExit('the pickle ran')",))
    (folder / "data_batch_3").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(UsageError, match="data_batch_3 does not match the official CIFAR-10 checksum") as err:
        load_image_data("cifar10", data_root=tmp_path)
    assert one_line(err)


def test_missing_files_name_the_file_and_folder(tmp_path, monkeypatch):
    with pytest.raises(UsageError) as err:
        load_image_data("mnist", data_root=tmp_path)
    assert str(tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte") in str(err.value) and one_line(err)
    assert "t10k-labels-idx1-ubyte" in str(err.value) and "--download" in str(err.value)
    fake_mnist(tmp_path / "FashionMNIST" / "raw")
    (tmp_path / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(UsageError, match="t10k-images-idx3-ubyte not found"):
        load_image_data("fashion-mnist", data_root=tmp_path, split="train")  # torchvision wants all four
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar(folder, monkeypatch)
    (folder / "data_batch_5").unlink()
    with pytest.raises(UsageError) as err:
        load_image_data("cifar10", data_root=tmp_path)
    assert str(folder / "data_batch_5") in str(err.value) and "not found" in str(err.value) and one_line(err)


@pytest.mark.parametrize("damage", ["magic", "truncated", "empty", "labels"])
def test_a_corrupt_mnist_file_is_one_line(tmp_path, damage):
    raw = tmp_path / "MNIST" / "raw"
    fake_mnist(raw)
    path = raw / "train-images-idx3-ubyte"
    good = path.read_bytes()
    if damage == "magic":
        path.write_bytes(b"\x01\x02\x03\x04" + good[4:])
    elif damage == "truncated":
        path.write_bytes(good[:-5])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        write_idx(raw / "train-labels-idx1-ubyte", np.zeros(4))  # 4 labels for 5 images
    with pytest.raises(UsageError, match="mnist") as err:
        load_image_data("mnist", data_root=tmp_path)
    assert one_line(err) and str(raw) in str(err.value)


def test_labels_out_of_range_are_refused(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    fake_mnist(raw)
    write_idx(raw / "train-labels-idx1-ubyte", [0, 1, 2, 3, 12])
    with pytest.raises(UsageError, match=r"must be 0\.\.9, found 0\.\.12"):
        load_image_data("mnist", data_root=tmp_path)


def mirror(tmp_path, monkeypatch):
    """MNIST's four .gz files in a local folder, registered as torchvision's only mirror; the one
    network read (urllib's, which has no length for a file: URL) copies the file instead."""
    source = tmp_path / "mirror"
    parts = fake_mnist(source)
    resources = []
    for path in sorted(source.iterdir()):
        gz = path.with_name(path.name + ".gz")
        gz.write_bytes(gzip.compress(path.read_bytes()))
        resources.append((gz.name, md5(gz)))
    monkeypatch.setattr(datasets.MNIST, "mirrors", [source.as_uri() + "/"])
    monkeypatch.setattr(datasets.MNIST, "resources", resources)

    def fetch(url, filename, chunk_size=None):
        with urllib.request.urlopen(url) as response:
            Path(filename).write_bytes(response.read())
    monkeypatch.setattr(datasets.utils, "_urlretrieve", fetch)
    return parts


def test_download_fetches_and_unpacks_through_torchvision(tmp_path, monkeypatch):
    parts = mirror(tmp_path, monkeypatch)
    root = tmp_path / "root"
    data = load_image_data("mnist", data_root=root, download=True)
    assert (root / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    torch.testing.assert_close(data.images, torch.from_numpy(parts["train"][0]).float().unsqueeze(1) / 127.5 - 1)
    assert len(load_image_data("mnist", data_root=root, split="test")) == 3  # offline now


def test_a_failed_download_is_one_line(tmp_path, monkeypatch):
    mirror(tmp_path, monkeypatch)
    monkeypatch.setattr(datasets.MNIST, "mirrors", [(tmp_path / "nowhere").as_uri() + "/"])
    with pytest.raises(UsageError, match="downloading mnist into") as err:
        load_image_data("mnist", data_root=tmp_path / "root", download=True)
    assert one_line(err)


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
    assert data.labels.tolist() == [0, 0, 1, 1] and [data.dataset[i][1] for i in range(4)] == [0, 0, 1, 1]
    red, blue = data.images[0], data.images[2]
    assert torch.allclose(red[0], torch.ones(8, 8)) and torch.allclose(red[1:], -torch.ones(2, 8, 8))
    assert torch.allclose(blue[2], torch.ones(8, 8), atol=0.02) and torch.allclose(blue[:2], -torch.ones(2, 8, 8),
                                                                                   atol=0.02)
    assert data.images.min() >= -1 and data.images.max() <= 1
    assert load_image_data(f"folder:{tmp_path}").event_shape == (3, 64, 64)  # default size


def test_image_folder_grey_flat_centre_crop(tmp_path):
    strip = np.zeros((10, 30), dtype=np.uint8)  # wide image: black | white | black thirds
    strip[:, 10:20] = 255
    Image.fromarray(strip, "L").save(tmp_path / "wide.png")
    Image.new("L", (16, 16), 128).save(tmp_path / "grey.bmp")
    Image.fromarray(np.full((8, 8), 40000, dtype=np.uint16)).save(tmp_path / "x16bit.png")
    data = load_image_data(f"folder:{tmp_path}", image_size=8, split="all")
    assert data.event_shape == (1, 8, 8) and data.labels is None and data.num_classes is None
    assert data.dataset[0][1] == -1
    torch.testing.assert_close(data.images[2], torch.full((1, 8, 8), (40000 >> 8) / 127.5 - 1))
    wide = data.images[1, 0]  # files sorted: grey.bmp, wide.png, x16bit.png
    # the centre crop keeps the white middle third; bicubic edges see a little of the black
    assert torch.allclose(wide[:, 2:6], torch.ones(8, 4)) and wide.min() > 0.8
    assert abs(float(data.images[0].mean()) - (128 / 127.5 - 1)) < 1e-6


def test_folder_split_holds_out_a_tenth(tmp_path):
    for i in range(23):
        Image.new("L", (4, 4), i).save(tmp_path / f"{i:02d}.png")
    train, test = (load_image_data(f"folder:{tmp_path}", image_size=4, split=s) for s in ("train", "test"))
    assert (len(train), len(test)) == (21, 2)
    values = set(train.images[:, 0, 0, 0].tolist()) | set(test.images[:, 0, 0, 0].tolist())
    assert len(values) == 23


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


def test_digits_offline_as_a_dataset():
    full = load_image_data("digits", split="all")
    assert isinstance(full.dataset, torch.utils.data.Dataset) and len(full.dataset) == 1797
    assert len(full) == 1797 and full.num_classes == 10 and full.event_shape == (1, 16, 16)
    assert full.images.min() == -1 and full.images.max() == 1
    assert sorted(set(full.labels.tolist())) == list(range(10))
    image, label = full.dataset[5]
    assert image.shape == (1, 16, 16) and label == int(full.labels[5])
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


def test_sampling_is_deterministic():
    images = torch.linspace(-1, 1, 20 * 3 * 4 * 4).reshape(20, 3, 4, 4)
    data = ImageData.from_tensors("tiny", images, labels=torch.arange(20) % 4)
    a = data.sample(64, torch.Generator().manual_seed(3))
    b = data.sample(64, torch.Generator().manual_seed(3))
    c = data.sample(64, torch.Generator().manual_seed(4))
    assert a.shape == (64, 3, 4, 4) and torch.equal(a, b) and not torch.equal(a, c)
    x, y = data.sample_with_labels(64, torch.Generator().manual_seed(3))
    assert torch.equal(x, a)
    idx = ((x[:, 0, 0, 0] + 1) / 2 * (images.numel() - 1) / 48).round().long()
    assert torch.equal(y, idx % 4)
    assert ImageData.from_tensors("u", images).sample_with_labels(2, torch.Generator())[1] is None
    with pytest.raises(ValueError):
        ImageData.from_tensors("bad", images[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_sampling_and_training_batches_on_cuda():
    data = ImageData.from_tensors("tiny", torch.rand(10, 1, 4, 4) * 2 - 1, labels=torch.arange(10))
    gen = torch.Generator(device="cuda").manual_seed(0)
    x, y = data.sample_with_labels(6, gen)
    assert x.is_cuda and y.is_cuda
    torch.testing.assert_close(x.cpu(), data.images[y.cpu()])
    on_gpu = data.training_batches(8, seed=0, start=1, device="cuda", workers=2)
    on_cpu = data.training_batches(8, seed=0, start=1, device="cpu", workers=0)
    for _ in range(3):
        batch = next(on_gpu)
        assert batch.is_cuda and torch.equal(batch.cpu(), next(on_cpu))
