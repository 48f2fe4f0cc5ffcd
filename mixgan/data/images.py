"""Image data sets for mixgan, through torchvision: load them, scale them to [-1, 1] and sample them.

``load_image_data(name, ...)`` returns an :class:`ImageData`: a ``torch.utils.data.Dataset``
whose items are ``(float32 image [C, H, W] in [-1, 1], label)`` (``.dataset``), with the labels,
class names and shape beside it. Training draws its batches through a ``DataLoader``
(:meth:`ImageData.training_batches`, :mod:`mixgan.data.loader`); ``sample(n, generator)`` draws
``n`` images from the given ``torch.Generator`` like the 2-D toy distributions do (the fixed
snapshot batch, the metrics).

Data sets (``IMAGE_DATASETS``):

* ``digits``: scikit-learn's 8x8 handwritten digits (1797 images, 10 classes; ships with
  scikit-learn, so it works offline), wrapped as a data set. Values 0..16 are scaled to [-1, 1]
  and resized bilinearly to 16x16 by default (``image_size`` 8, 16 or 32).
* ``mnist``, ``fashion-mnist``, ``cifar10``: ``torchvision.datasets.MNIST``, ``FashionMNIST`` and
  ``CIFAR10`` reading ``DATA_ROOT`` in their standard layout (``MNIST/raw/``, ``FashionMNIST/raw/``
  with the four uncompressed IDX files; ``cifar-10-batches-py/`` with the five data batches,
  ``test_batch`` and ``batches.meta``), or fetching it there with ``download=True``.
  CIFAR-10's files are checked against torchvision's official checksums before they are read
  (they are pickles: an altered one could run code).
* ``folder:PATH``: every png/jpg/jpeg/bmp/webp below PATH, opened lazily
  (:mod:`mixgan.data.image_folder`, which states the rule for odd and damaged files). When
  every image sits in a sub-folder, the top-level sub-folders are the classes.

Transforms are ``torchvision.transforms.v2``'s kernels
(:class:`~mixgan.data.image_folder.ToTraining`); ``image_size`` resizes mnist, fashion-mnist and
cifar10 too (bilinear, antialiased). ``data_root`` defaults to ``./data``.

Splits (``split=``): "train" (default), "test" or "all". mnist, fashion-mnist and cifar10
use their official splits; digits and folders hold out the first 297 of the 1797 digits
(1500 train) / a tenth of the files (rounded down) in ``numpy.random.RandomState(0).permutation``.
Bad input (missing or corrupt files, unknown names) raises ``UsageError``, one line.
"""
import os
from pathlib import Path

import numpy as np
import torch

from mixgan.data.image_folder import IMAGE_EXTENSIONS, ImageFiles, ToTraining, grey_or_rgb, list_images, one_line
from mixgan.data.loader import training_batches
from mixgan.errors import UsageError

FOLDER_PREFIX = "folder:"
IMAGE_DATASETS = {
    "digits": "scikit-learn 8x8 digits, 1797 images, 10 classes, offline; 16x16 by default",
    "mnist": "MNIST 28x28 grey digits, 10 classes, from DATA_ROOT/MNIST/raw",
    "fashion-mnist": "Fashion-MNIST 28x28 grey clothes, 10 classes, from DATA_ROOT/FashionMNIST/raw",
    "cifar10": "CIFAR-10 32x32 RGB, 10 classes, from DATA_ROOT/cifar-10-batches-py",
    FOLDER_PREFIX + "PATH": "every image below PATH, 64x64 by default; one sub-folder per class gives labels",
}
SPLITS = ("train", "test", "all")
DEFAULT_DATA_ROOT = "data"
DIGITS_RESOLUTION = 16
DIGITS_SIZES = (8, 16, 32)
DIGITS_TEST_SIZE = 297
FOLDER_RESOLUTION = 64
FOLDER_TEST_FRACTION = 0.1
DECODE_BATCH = 500  # images decoded per step when a whole split is read (metrics)

_STANDARD = {  # name: (torchvision class, channels, native resolution, class names)
    "mnist": ("MNIST", 1, 28, tuple("0123456789")),
    "fashion-mnist": ("FashionMNIST", 1, 28, (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")),
    "cifar10": ("CIFAR10", 3, 32, (
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")),
}


def is_image_dataset(name):
    """True for the names in ``IMAGE_DATASETS`` and for any ``folder:PATH``."""
    return isinstance(name, str) and (name in _STANDARD or name == "digits" or name.startswith(FOLDER_PREFIX))


class TensorImages(torch.utils.data.Dataset):
    """Images already in memory, float32 [N, C, H, W], with int64 labels [N] or None (-1 per item)."""

    def __init__(self, images, labels=None):
        images = torch.as_tensor(images)
        if images.dim() != 4 or images.dtype != torch.float32 or len(images) == 0:
            raise ValueError(f"images must be a non-empty float32 [N, C, H, W] tensor, got "
                             f"{images.dtype} {tuple(images.shape)}")
        if labels is not None:
            labels = torch.as_tensor(labels, dtype=torch.long)
            if labels.shape != (len(images),):
                raise ValueError(f"labels must have shape ({len(images)},), got {tuple(labels.shape)}")
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], -1 if self.labels is None else int(self.labels[i])


class ImageData:
    """An image data set as a data source: ``dataset[i]`` is ``(float32 [C, H, W] in [-1, 1], label)``
    (label -1 when unlabelled); ``labels`` int64 [N] or None; ``event_shape`` [C, H, W].

    Nothing but ``dataset`` holds pixels: for a folder it holds paths, and images are decoded
    when drawn. ``sample`` and ``training_batches`` draw their indices from seeded generators,
    so a seed gives the same images however they are decoded.
    """

    def __init__(self, name, dataset, event_shape, labels=None, class_names=None, split="all"):
        self.dataset, self.split = dataset, split
        self.labels = None if labels is None else torch.as_tensor(labels, dtype=torch.long)
        self.class_names = tuple(class_names) if class_names is not None else None
        self._name, self._event_shape = name, torch.Size(event_shape)

    @classmethod
    def from_tensors(cls, name, images, labels=None, class_names=None, split="all"):
        """An ImageData of images [N, C, H, W] (float32 in [-1, 1]) held in memory."""
        dataset = TensorImages(images, labels)
        return cls(name, dataset, dataset.images.shape[1:], dataset.labels, class_names, split)

    @property
    def name(self):
        return self._name

    @property
    def event_shape(self):
        return self._event_shape

    @property
    def num_classes(self):
        if self.class_names is not None:
            return len(self.class_names)
        return None if self.labels is None else int(self.labels.max()) + 1

    def __len__(self):
        return len(self.dataset)

    def __repr__(self):
        return (f"ImageData({self.name!r}, split={self.split!r}, n={len(self)}, "
                f"event_shape={tuple(self.event_shape)}, num_classes={self.num_classes})")

    def decode(self, idx):
        """Images [len(idx), C, H, W] of the indices ``idx`` (CPU), each image decoded once."""
        unique, where = torch.unique(torch.as_tensor(idx).cpu(), return_inverse=True)
        return torch.stack([self.dataset[i][0] for i in unique.tolist()])[where]

    @property
    def images(self):
        """Every image of the split, decoded now and not kept: for measuring against a held-out
        split, never for training (which decodes per batch)."""
        loader = torch.utils.data.DataLoader(self.dataset, batch_size=DECODE_BATCH)
        return torch.cat([images for images, _ in loader])

    def sample(self, n, generator):
        """``n`` images drawn uniformly with replacement, on ``generator.device``."""
        return self.sample_with_labels(n, generator)[0]

    def sample_with_labels(self, n, generator):
        """Like ``sample`` (same draws for the same generator state) plus their labels or None."""
        idx = torch.randint(len(self), (n,), generator=generator, device=generator.device)
        images = self.decode(idx).to(generator.device)
        return images, None if self.labels is None else self.labels.to(generator.device)[idx]

    def training_batches(self, size, seed, start, device, workers=None, shard=None):
        """Batches of ``size`` images on ``device`` for iterations ``start``, ``start + 1``, ...,
        through a DataLoader (see :func:`mixgan.data.loader.training_batches`; ``shard``: this
        process's ``(rank, world_size)`` when several train one run)."""
        return training_batches(self.dataset, size, seed, start, device, workers, shard)


def load_image_data(name, data_root=None, download=False, image_size=None, split="train"):
    """Load image data set ``name`` (see ``IMAGE_DATASETS``) as an :class:`ImageData`.

    ``image_size`` (int) resizes to image_size x image_size; None keeps the native size
    (digits: 16, folders: 64). ``split`` is "train", "test" or "all".
    """
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1):
        raise UsageError(f"image size must be a positive integer, got {image_size!r}")
    root = Path(os.path.expanduser(str(DEFAULT_DATA_ROOT if data_root is None else data_root)))
    if name == "digits":
        return _load_digits(image_size, split)
    if isinstance(name, str) and name.startswith(FOLDER_PREFIX):
        return _load_folder(name, image_size or FOLDER_RESOLUTION, split)
    if name not in _STANDARD:
        raise UsageError(f"unknown image data set {name!r}; valid: {', '.join(IMAGE_DATASETS)}")
    return _load_standard(name, root, download, image_size, split)


def _held_out(n, n_test, split):
    """Indices of ``split`` under the documented fixed permutation (seed 0)."""
    perm = np.random.RandomState(0).permutation(n)
    chosen = {"test": perm[:n_test], "train": perm[n_test:], "all": perm}[split]
    return np.sort(chosen)


def _load_digits(image_size, split):
    size = DIGITS_RESOLUTION if image_size is None else image_size
    if size not in DIGITS_SIZES:
        raise UsageError(f"digits supports image sizes {', '.join(map(str, DIGITS_SIZES))}, got {size}")
    from sklearn.datasets import load_digits
    from torchvision.transforms.v2 import functional as F

    digits = load_digits()
    idx = _held_out(len(digits.images), DIGITS_TEST_SIZE, split)
    images = torch.as_tensor(digits.images[idx], dtype=torch.float32).unsqueeze(1) / 8.0 - 1.0
    if size != images.shape[-1]:  # the whole set at once: 1797 tiny images
        images = F.resize(images, [size, size], antialias=True).clamp_(-1.0, 1.0)
    return ImageData.from_tensors("digits", images, digits.target[idx], tuple("0123456789"), split)


def _files_folder(name, root):
    """Where torchvision keeps (and mixgan reads) the files of ``name``."""
    return root / "cifar-10-batches-py" if name == "cifar10" else root / _STANDARD[name][0] / "raw"


def _check_files(name, tv_class, root):
    """One line naming the first file of ``name`` under ``root`` that is missing, or (CIFAR-10) that
    does not match its official checksum; None when all are there."""
    from torchvision.datasets.utils import check_integrity
    folder = _files_folder(name, root)
    if name == "cifar10":
        expected = [*tv_class.train_list, *tv_class.test_list, [tv_class.meta["filename"], tv_class.meta["md5"]]]
    else:
        expected = [[Path(url).stem, None] for url, _ in tv_class.resources]  # the unpacked names
    names = ", ".join(f for f, _ in expected)
    for filename, md5 in expected:
        path = folder / filename
        if not path.is_file():
            return (f"{name}: {path} not found; expected {names} in {folder} "
                    f"(use --download where a network allows, or copy the files there)")
        if md5 is not None and not check_integrity(str(path), md5):
            return (f"{name}: {path} does not match the official CIFAR-10 checksum (damaged or altered); "
                    f"refused unread, since a CIFAR-10 batch is a pickle, which can run code")
    return None


def _load_standard(name, root, download, image_size, split):
    import torchvision
    tv_name, channels, native, classes = _STANDARD[name]
    tv_class = getattr(torchvision.datasets, tv_name)
    problem = None if download else _check_files(name, tv_class, root)
    if problem:
        raise UsageError(problem)
    size = None if image_size in (None, native) else image_size
    parts = []
    for part in ("train", "test") if split == "all" else (split,):
        try:
            parts.append(tv_class(str(root), train=part == "train", download=download,
                                  transform=ToTraining(channels, size)))
        except Exception as err:  # noqa: BLE001 - not found, corrupt, or the download failed: all bad input
            doing = (f"downloading {name} into {root}" if download
                     else f"reading {name} from {_files_folder(name, root)}")
            reason = one_line(err) or "a file is not in the format expected"  # torchvision's checks are asserts
            raise UsageError(f"{doing} failed: {type(err).__name__}: {reason}") from err
    labels = torch.cat([torch.as_tensor(np.asarray(ds.targets), dtype=torch.long) for ds in parts])
    for ds in parts:
        if len(ds.data) != len(ds.targets) or tuple(ds.data.shape[1:3]) != (native, native):
            raise UsageError(f"{name} in {_files_folder(name, root)}: {len(ds.data)} images of shape "
                             f"{tuple(ds.data.shape[1:])} and {len(ds.targets)} labels; expected as many labels "
                             f"as {native}x{native} images")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
        raise UsageError(f"{name} labels in {_files_folder(name, root)} must be 0..{len(classes) - 1}, "
                         f"found {int(labels.min())}..{int(labels.max())}")
    dataset = parts[0] if len(parts) == 1 else torch.utils.data.ConcatDataset(parts)
    side = size or native
    return ImageData(name, dataset, (channels, side, side), labels, classes, split)


def _load_folder(name, size, split):
    """The folder's files, listed and header-checked now; pixels are decoded when drawn
    (:mod:`mixgan.data.image_folder`)."""
    path = Path(os.path.expanduser(name[len(FOLDER_PREFIX):]))
    if not path.is_dir():
        raise UsageError(f"{name}: {path} is not a folder")
    files = list_images(path)
    if not files:
        raise UsageError(f"{name}: no images ({', '.join(IMAGE_EXTENSIONS)}) found under {path}")
    first = [f[len(str(path)):].lstrip(os.sep).split(os.sep, 1) for f in files]  # [top folder, rest] or [name]
    classes = sorted({parts[0] for parts in first}) if all(len(parts) > 1 for parts in first) else None
    mode = grey_or_rgb(files)  # every header, no pixels: a file that is not an image is refused before training
    idx = _held_out(len(files), int(len(files) * FOLDER_TEST_FRACTION), split)
    if len(idx) == 0:
        raise UsageError(f"{name}: the {split} split is empty ({len(files)} images; a tenth is held out for test)")
    label_of = {c: k for k, c in enumerate(classes or ())}
    labels = None if classes is None else [label_of[first[i][0]] for i in idx]
    dataset = ImageFiles([files[i] for i in idx], mode, size, labels)
    return ImageData(name, dataset, (1 if mode == "L" else 3, size, size), labels, classes, split)
